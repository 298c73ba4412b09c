/* cmd_migrate.c -- "gsrecover migrate [DB] --database-url URL": carry a
 * GPUStack database into PostgreSQL for GPUStack 2.x. */
#include "compat.h"
#include "cli.h"

#include "jsonw.h"
#include "migrate.h"
#include "rules.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct migrate_opts {
	struct gsr_common_opts *common;
	const char *db;
	struct gsr_migrate_opts eo;
};

enum {
	OPT_URL = 0x400,
	OPT_ARCHIVE,
	OPT_NO_ARCHIVE,
	OPT_DRY_RUN,
	OPT_FORCE,
	OPT_ARCHIVE_EXPORT
};

static const struct argp_option migrate_options[] = {
    {"database-url", OPT_URL, "URL", 0,
     "the PostgreSQL database to load, as libpq takes it: "
     "postgresql://USER:PASSWORD@HOST:PORT/DB or 'host=/run/postgresql "
     "dbname=gpustack ...'",
     0},
    {"output", 'o', "OUT.db", 0,
     "keep the rebuilt 0.7.1 database there (default: a temporary file, "
     "removed)",
     0},
    {"archive", OPT_ARCHIVE, "FILE.tar.zst", 0,
     "where to write the rebuild's audit archive (default: "
     "STEM.audit-YYYYMMDDTHHMMSSZ.tar.zst beside DB, as rebuild names "
     "it)",
     0},
    {"no-archive", OPT_NO_ARCHIVE, NULL, 0, "write no audit archive", 0},
    {"archive-export", OPT_ARCHIVE_EXPORT, NULL, 0,
     "also put the full export of the input's rows into the archive "
     "(export/); without it the archive's manifest names the command that "
     "regenerates it from the archived input",
     0},
    {"dry-run", OPT_DRY_RUN, NULL, 0,
     "print the pre-import report only; write nothing anywhere (the "
     "server is only read)",
     0},
    {"force", OPT_FORCE, NULL, 0,
     "overwrite existing outputs; run even while another process holds "
     "DB open",
     0},
    {0}};

static error_t
migrate_parse(int key, char *arg, struct argp_state *state)
{
	struct migrate_opts *o = state->input;

	switch (key) {
	case ARGP_KEY_INIT:
		state->child_inputs[0] = o->common;
		break;
	case OPT_URL:
		o->eo.database_url = arg;
		break;
	case 'o':
		o->eo.rebuild.out_path = arg;
		break;
	case OPT_ARCHIVE:
		o->eo.rebuild.archive_path = arg;
		break;
	case OPT_NO_ARCHIVE:
		o->eo.rebuild.no_archive = true;
		break;
	case OPT_ARCHIVE_EXPORT:
		o->eo.rebuild.archive_export = true;
		break;
	case OPT_DRY_RUN:
		o->eo.rebuild.dry_run = true;
		break;
	case OPT_FORCE:
		o->eo.rebuild.force = true;
		break;
	case ARGP_KEY_ARG:
		if (o->db)
			argp_error(state, "too many arguments");
		o->db = arg;
		break;
	case ARGP_KEY_END:
		if (o->eo.database_url == NULL)
			argp_error(state, "missing --database-url URL");
		if (o->eo.rebuild.no_archive && o->eo.rebuild.archive_path)
			argp_error(
			    state,
			    "--archive and --no-archive contradict each other");
		if (o->eo.rebuild.no_archive && o->eo.rebuild.archive_export)
			argp_error(state, "--archive-export and --no-archive "
			                  "contradict each other");
		break;
	default:
		return ARGP_ERR_UNKNOWN;
	}
	return 0;
}

static const struct argp_child migrate_children[] = {
    {&gsr_common_argp, 0, NULL, 0}, {0}};

static const struct argp migrate_argp = {
    migrate_options,
    migrate_parse,
    "[DB] --database-url URL",
    "Carry the GPUStack database DB into an empty PostgreSQL database for "
    "GPUStack 2.x: rebuild DB as 0.7.1 (as 'gsrecover rebuild --to 0.7.1' "
    "does, with its audit archive), then load it in one transaction with "
    "GPUStack 0.7.1's PostgreSQL schema, alembic_version d19176de3b74; a "
    "2.x server started on that database upgrades it."
    "\v"
    "The target schema (the first of the search_path, public by default) "
    "must hold nothing; anything else is refused before anything is "
    "written.  Rows PostgreSQL would refuse (values outside a type, NULLs "
    "under NOT NULL, their orphans) are quarantined, listed and put in the "
    "archive's quarantine/.  A failed "
    "or interrupted load leaves the target as it was, and removes the "
    "rebuilt file and the archive of the run.  The report first says what "
    "GPUStack 2.x will do to the data on its first start.  The password "
    "of URL is never shown; libpq also reads PGPASSWORD and ~/.pgpass.\n\n"
    "Exit status: 0 loaded, nothing changed on the way; 1 loaded, "
    "repaired; 4 loaded, rows quarantined (or the input was damaged); 8 "
    "operational error (cannot read DB, the server cannot be reached, "
    "refuses the login, has no such database, the target is not empty or "
    "already holds a GPUStack database, the load failed); 16 usage error; "
    "32 interrupted.",
    migrate_children,
    NULL,
    NULL};

static int
exit_status(const struct gsr_migrate *res)
{
	if (res->rb.total_quarantined > 0 || res->total_quarantined > 0 ||
	    (res->rb.id.recovered && gsr_recover_lossy(&res->rb.id.rec)))
		return GSR_EXIT_UNRECOVERED;
	return res->rb.changed ? GSR_EXIT_RECOVERED : GSR_EXIT_OK;
}

static void
print_json(const struct gsr_migrate *res, const struct migrate_opts *o,
           int status)
{
	struct jsonw jw;
	bool own_out = o->eo.rebuild.out_path == NULL || o->eo.rebuild.dry_run;

	gsr_json_begin(&jw, status);
	jw_kbool(&jw, "dry_run", o->eo.rebuild.dry_run);
	gsr_migrate_write_json(res, &jw);
	jw_key(&jw, "rebuild");
	jw_obj_begin(&jw);
	gsr_rebuild_write_json(&res->rb, &jw);
	jw_key(&jw, "output");
	if (own_out) {
		jw_null(&jw);
	} else {
		jw_obj_begin(&jw);
		jw_kstr(&jw, "path", res->rb.out_path);
		jw_kint(&jw, "size", (int64_t)res->rb.out_size);
		jw_kstr(&jw, "sha256", res->rb.out_sha256);
		jw_obj_end(&jw);
	}
	jw_key(&jw, "archive");
	if (o->eo.rebuild.dry_run || res->rb.archive_path == NULL) {
		jw_null(&jw);
	} else {
		jw_obj_begin(&jw);
		jw_kstr(&jw, "path", res->rb.archive_path);
		jw_kstr(&jw, "sha256", res->rb.archive_sha256);
		jw_kint(&jw, "members", (int64_t)res->rb.archive_members);
		jw_obj_end(&jw);
	}
	jw_obj_end(&jw);
	jw_key(&jw, "input");
	gsr_evidence_write_json(&res->rb.id.ev, &jw, true);
	gsr_json_end(&jw, GSR_JSON_MESSAGES);
}

static void
print_text(const struct gsr_migrate *res, const struct migrate_opts *o)
{
	const struct gsr_rebuild *rb = &res->rb;
	bool dry = o->eo.rebuild.dry_run;

	printf("%s %s into PostgreSQL%s\n", dry ? "plan: migrate" : "migrated",
	       rb->id.ev.path, dry ? " (dry run: nothing written)" : "");
	printf("source   %s: %s (%s)\n", gsr_verdict_name(rb->id.verdict),
	       rb->source_label->name, rb->placed_by);
	printf("rebuild  %s %s -> %s, %" PRId64 " row(s) imported, %" PRId64
	       " quarantined\n",
	       rb->direction, rb->source_label->name, rb->target->name,
	       rb->total_imported, rb->total_quarantined);
	printf(
	    "target   %s (PostgreSQL %s, schema \"%s\"), alembic_version %s\n",
	    res->target_display, res->server_version, res->schema,
	    res->alembic);

	printf(
	    "\nWhat GPUStack 2.x will do to this data on its first start:\n");
	bool any = false;
	for (size_t i = 0; i < res->n_effects; i++) {
		const struct gsr_migrate_effect_res *er = &res->effects[i];
		const struct gsr_migrate_effect *e = er->effect;
		if (er->rows == 0)
			continue;
		any = true;
		printf("  %-5s %s (%s, %s)", e->severity, e->name, e->version,
		       e->revision);
		if (e->table)
			printf(": %" PRId64 " %s row(s)", er->rows, e->table);
		printf("\n        %s\n", e->message);
		if (er->examples.n) {
			printf("        e.g. ");
			for (size_t k = 0; k < er->examples.n; k++)
				printf("%s%s", k ? ", " : "",
				       er->examples.v[k] ? er->examples.v[k]
				                         : "NULL");
			printf("\n");
		}
	}
	if (!any)
		printf(
		    "  nothing: no row is deleted, renamed or left unusable\n");

	printf("\n%-28s %9s %9s %11s\n", "Table", "rebuilt", "imported",
	       "quarantined");
	for (size_t i = 0; i < res->n_tables; i++) {
		const struct gsr_migrate_table *t = &res->tables[i];
		printf("  %-26s %9" PRId64 " %9" PRId64 " %11" PRId64 "\n",
		       t->name, t->rebuilt, t->imported, t->quarantined);
	}
	printf("  %-26s %9" PRId64 " %9" PRId64 " %11" PRId64 "\n", "(total)",
	       res->total_rebuilt, res->total_imported, res->total_quarantined);
	for (size_t i = 0; i < res->n_qrows; i++) {
		if (i == 0)
			printf("\nQuarantined before the load (PostgreSQL "
			       "would refuse them):\n");
		printf("  %s rowid %" PRId64 ": %s\n", res->qrows[i].table,
		       res->qrows[i].rowid, res->qrows[i].reason);
		if (o->common->verbosity > 0)
			printf("    %s\n", res->qrows[i].values);
	}
	if (dry) {
		printf("\nDry run: nothing was written, the server was only "
		       "read.\n");
		return;
	}
	if (o->eo.rebuild.out_path)
		printf("\nOutput   %s (sha256 %s)\n", rb->out_path,
		       rb->out_sha256);
	if (rb->archive_path)
		printf("%sArchive  %s (sha256 %s)\n",
		       o->eo.rebuild.out_path ? "" : "\n", rb->archive_path,
		       rb->archive_sha256);
	printf("\nLoaded in one transaction.  Next steps:\n"
	       "  1. Keep the GPUStack 0.x server stopped.\n"
	       "  2. Start GPUStack 2.x with --database-url pointing at this "
	       "database\n"
	       "     (without GPUSTACK_DATA_MIGRATION: the data is already "
	       "there); it\n"
	       "     upgrades the schema from %s on its first start.\n",
	       res->alembic);
}

int
cmd_migrate(int argc, char **argv, struct gsr_common_opts *common)
{
	struct migrate_opts o = {.common = common};
	struct gsr_migrate res = {0};
	struct gsr_migrate_rules mr = {0};
	struct gsr_ctx ctx = GSR_CTX_INIT;
	struct gsr_rules *rules = NULL;
	const char *dir = NULL;
	int status;

	if (argp_parse(&migrate_argp, argc, argv, 0, NULL, &o) != 0)
		return GSR_EXIT_USAGE;
	if ((rules = gsr_cli_load_rules(common, &dir, NULL)) == NULL)
		return GSR_EXIT_OPERATIONAL;
	if (gsr_migrate_rules_load(&ctx, dir, rules, &mr, NULL) != 0) {
		status = gsr_fail(&ctx);
		goto out;
	}
	o.eo.rebuild.now = time(NULL);
	gsr_cli_progress(&ctx, common);
	if (gsr_migrate_run(&ctx, rules, &mr, o.db, &o.eo, &res) != 0) {
		status = gsr_fail(&ctx);
		goto out;
	}
	if (res.rb.id.ev.located)
		gsr_note("no DB given: using GPUStack's database '%s'",
		         res.rb.id.ev.path);
	status = exit_status(&res);
	/* The envelope's argv: the connection string without its password. */
	for (int i = 0; i < gsr_saved_argc; i++) {
		if (gsr_saved_argv[i] == o.eo.database_url)
			gsr_saved_argv[i] = res.target_display;
		else if (!strncmp(gsr_saved_argv[i], "--database-url=", 15))
			gsr_saved_argv[i] =
			    (char *)"--database-url=(password left out)";
	}
	if (common->json)
		print_json(&res, &o, status);
	else
		print_text(&res, &o);
out:
	gsr_migrate_release(&res);
	gsr_migrate_rules_release(&mr);
	gsr_rules_free(rules);
	return status;
}
