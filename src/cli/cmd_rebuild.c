/* cmd_rebuild.c -- "gsrecover rebuild [DB] --to VERSION": the repair. */
#include "compat.h"
#include "cli.h"

#include "jsonw.h"
#include "rebuild.h"
#include "rules.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct rebuild_opts {
	struct gsr_common_opts *common;
	const char *db;
	struct gsr_rebuild_opts eo;
};

enum {
	OPT_TO = 0x300,
	OPT_ARCHIVE,
	OPT_NO_ARCHIVE,
	OPT_DRY_RUN,
	OPT_FORCE,
	OPT_INCLUDE_DELETED,
	OPT_ARCHIVE_EXPORT
};

static const struct argp_option rebuild_options[] = {
    {"to", OPT_TO, "VERSION", 0,
     "the release to rebuild as (0.1.0 ... 0.7.1; v0.6.0 is accepted)", 0},
    {"output", 'o', "OUT.db", 0,
     "where to write the rebuilt database (default: "
     "STEM.rebuilt-VERSION.db beside DB, STEM being DB without its "
     "extension)",
     0},
    {"archive", OPT_ARCHIVE, "FILE.tar.zst", 0,
     "where to write the audit archive (default: "
     "STEM.audit-YYYYMMDDTHHMMSSZ.tar.zst beside DB, the start of the "
     "run in UTC)",
     0},
    {"no-archive", OPT_NO_ARCHIVE, NULL, 0, "write no audit archive", 0},
    {"archive-export", OPT_ARCHIVE_EXPORT, NULL, 0,
     "also put the full export of the input's rows into the archive "
     "(export/); without it the archive's manifest names the command that "
     "regenerates it from the archived input",
     0},
    {"dry-run", OPT_DRY_RUN, NULL, 0,
     "show the plan and its counts; write nothing", 0},
    {"force", OPT_FORCE, NULL, 0,
     "overwrite existing outputs; run even while another process holds "
     "the database open",
     0},
    {"include-deleted", OPT_INCLUDE_DELETED, NULL, 0,
     "carve deleted rows out of the free space of DB and import them too "
     "(flagged in the report and in the archive's recovery/rows.jsonl)",
     0},
    {0}};

static error_t
rebuild_parse(int key, char *arg, struct argp_state *state)
{
	struct rebuild_opts *o = state->input;

	switch (key) {
	case ARGP_KEY_INIT:
		state->child_inputs[0] = o->common;
		break;
	case OPT_TO:
		o->eo.target = arg;
		break;
	case 'o':
		o->eo.out_path = arg;
		break;
	case OPT_ARCHIVE:
		o->eo.archive_path = arg;
		break;
	case OPT_NO_ARCHIVE:
		o->eo.no_archive = true;
		break;
	case OPT_ARCHIVE_EXPORT:
		o->eo.archive_export = true;
		break;
	case OPT_DRY_RUN:
		o->eo.dry_run = true;
		break;
	case OPT_FORCE:
		o->eo.force = true;
		break;
	case OPT_INCLUDE_DELETED:
		o->eo.include_deleted = true;
		break;
	case ARGP_KEY_ARG:
		if (o->db)
			argp_error(state, "too many arguments");
		o->db = arg;
		break;
	case ARGP_KEY_END:
		if (o->eo.target == NULL)
			argp_error(state, "missing --to VERSION");
		if (o->eo.no_archive && o->eo.archive_path)
			argp_error(
			    state,
			    "--archive and --no-archive contradict each other");
		if (o->eo.no_archive && o->eo.archive_export)
			argp_error(state, "--archive-export and --no-archive "
			                  "contradict each other");
		break;
	default:
		return ARGP_ERR_UNKNOWN;
	}
	return 0;
}

static const struct argp_child rebuild_children[] = {
    {&gsr_common_argp, 0, NULL, 0}, {0}};

static const struct argp rebuild_argp = {
    rebuild_options,
    rebuild_parse,
    "[DB] --to VERSION",
    "Rebuild the database DB as a clean database of the release VERSION: "
    "the schema exactly as that release's migrations create it, every row "
    "imported by column name with the release's defaults for the columns "
    "DB lacks and the data transforms of the releases in between, and the "
    "rows that cannot go in quarantined in the audit archive with their "
    "reason."
    "\v"
    "Without DB, GPUStack's own database is taken "
    "($GPUSTACK_DATA_DIR/database.db, else /var/lib/gpustack/database.db); "
    "rebuild refuses while another process (a running server) holds it "
    "open, unless --force.  DB is never modified.  Outputs are written to "
    "temporary files and renamed at the end: a failed or interrupted run "
    "leaves none.\n\n"
    "Exit status: 0 nothing needed changing; 1 repaired, every row "
    "imported; 4 repaired, rows quarantined, or the input was damaged and "
    "rows may be lost; 8 operational error (cannot "
    "read DB, not GPUStack's, cannot write, an output exists, a server "
    "holds DB); 16 usage error; 32 interrupted.",
    rebuild_children,
    NULL,
    NULL};

static int
exit_status(const struct gsr_rebuild *res)
{
	if (res->total_quarantined > 0 ||
	    (res->id.recovered && gsr_recover_lossy(&res->id.rec)))
		return GSR_EXIT_UNRECOVERED;
	return res->changed ? GSR_EXIT_RECOVERED : GSR_EXIT_OK;
}

static void
print_json(const struct gsr_rebuild *res, const struct rebuild_opts *o,
           int status)
{
	struct jsonw jw;

	gsr_json_begin(&jw, status);
	jw_kbool(&jw, "dry_run", o->eo.dry_run);
	gsr_rebuild_write_json(res, &jw);
	jw_key(&jw, "output");
	if (o->eo.dry_run) {
		jw_null(&jw);
	} else {
		jw_obj_begin(&jw);
		jw_kstr(&jw, "path", res->out_path);
		jw_kint(&jw, "size", (int64_t)res->out_size);
		jw_kstr(&jw, "sha256", res->out_sha256);
		jw_obj_end(&jw);
	}
	jw_key(&jw, "archive");
	if (o->eo.dry_run || res->archive_path == NULL) {
		jw_null(&jw);
	} else {
		jw_obj_begin(&jw);
		jw_kstr(&jw, "path", res->archive_path);
		jw_kstr(&jw, "sha256", res->archive_sha256);
		jw_kint(&jw, "members", (int64_t)res->archive_members);
		jw_obj_end(&jw);
	}
	jw_key(&jw, "input");
	gsr_evidence_write_json(&res->id.ev, &jw, true);
	jw_key(&jw, "timing_ms");
	jw_real(&jw, res->ms_total);
	gsr_json_end(&jw, GSR_JSON_MESSAGES);
}

static void
print_list(const struct strvec *sv)
{
	for (size_t i = 0; i < sv->n; i++)
		printf("%s%s", i ? ", " : "", sv->v[i]);
}

static void
print_text(const struct gsr_rebuild *res, const struct rebuild_opts *o)
{
	const struct gsr_evidence *ev = &res->id.ev;
	const char *sep;

	printf("%s %s as %s%s\n", o->eo.dry_run ? "plan for" : "rebuilt",
	       ev->path, res->target->name,
	       o->eo.dry_run ? " (dry run: nothing written)" : "");
	printf("source   %s: %s (%s", gsr_verdict_name(res->id.verdict),
	       res->source_label->name, res->placed_by);
	sep = "; same schema as ";
	for (size_t i = 0; i < res->source_group.n; i++)
		if (strcmp(res->source_group.v[i], res->source_label->name)) {
			printf("%s%s", sep, res->source_group.v[i]);
			sep = ", ";
		}
	printf(")\n");
	printf("path     %s %s -> %s\n", res->direction,
	       res->source_label->name, res->target->name);
	if (res->n_transforms) {
		printf("\nData transforms of the releases crossed:\n");
		for (size_t i = 0; i < res->n_transforms; i++) {
			const struct gsr_rebuild_transform *t =
			    &res->transforms[i];
			printf("  %-7s %-40s %" PRId64
			       " row(s) changed, %" PRId64 " deleted\n",
			       t->label, t->name, t->changed, t->deleted);
		}
	}
	printf("\n%-28s %9s %9s %11s  %s\n", "Table", "source", "imported",
	       "quarantined", "from");
	for (size_t i = 0; i < res->n_tables; i++) {
		const struct gsr_rebuild_table *t = &res->tables[i];
		printf("  %-26s %9" PRId64 " %9" PRId64 " %11" PRId64
		       "  %s%s\n",
		       t->name, t->source_rows, t->imported, t->quarantined,
		       t->from, t->in_target ? "" : " (not in the target)");
		if (t->defaulted.n && o->common->verbosity >= 0) {
			printf("      defaults: ");
			print_list(&t->defaulted);
			printf("\n");
		}
		if (t->dropped.n) {
			printf("      dropped:  ");
			print_list(&t->dropped);
			printf("\n");
		}
	}
	printf("  %-26s %9" PRId64 " %9" PRId64 " %11" PRId64 "\n", "(total)",
	       res->total_source, res->total_imported, res->total_quarantined);
	if (o->common->verbosity > 0) {
		printf("\nLog:\n");
		for (size_t i = 0; i < res->log.n; i++)
			printf("  %s\n", res->log.v[i]);
	}
	if (res->bookkeeping.n) {
		printf("\nBookkeeping: ");
		print_list(&res->bookkeeping);
		printf("\n");
	}
	if (o->eo.dry_run) {
		printf("\nDry run: nothing was written.  Without --dry-run the "
		       "database goes to %s",
		       res->out_path);
		if (res->archive_path)
			printf(" and the audit archive to %s",
			       res->archive_path);
		printf(".\n");
		return;
	}
	printf("\nOutput   %s (%" PRIu64 " bytes, sha256 %s)\n", res->out_path,
	       res->out_size, res->out_sha256);
	if (res->archive_path)
		printf("Archive  %s (sha256 %s)\n", res->archive_path,
		       res->archive_sha256);
	bool changed = false;
	for (int i = 0; i < GSR_EV_NFILES; i++)
		changed |= ev->files[i].changed;
	printf("Evidence %s\n",
	       changed ? "THE INPUT CHANGED while it was read"
	               : "input unchanged (SHA-256 before and after agree)");
	if (res->total_quarantined)
		printf("\n%" PRId64
		       " row(s) could not go into %s; they are in the "
		       "archive's quarantine/ with their reasons and original "
		       "values.\n",
		       res->total_quarantined, res->target->name);
	if (res->id.rec.carved && o->eo.include_deleted)
		printf(
		    "\n--include-deleted: %" PRId64
		    " deleted row(s) carved out of free "
		    "space; %" PRId64
		    " imported (each flagged in the archive's "
		    "recovery/rows.jsonl), %" PRId64 " not (%" PRId64
		    " of them "
		    "flagged rowid-unknown: no rowid could be established).\n",
		    res->id.rec.deleted, res->deleted_imported,
		    res->deleted_refused, res->id.rec.rowid_unknown);
	else if (res->id.rec.carved && res->id.rec.deleted > 0)
		printf("\n%" PRId64
		       " deleted row(s) were carved out of free space; the "
		       "archive keeps them (recovery/rows.jsonl), the rebuilt "
		       "database "
		       "does not (--include-deleted imports them).\n",
		       res->id.rec.deleted);
	if (res->id.recovered &&
	    (res->id.damaged || gsr_recover_lossy(&res->id.rec)))
		printf(
		    "\nThe input is damaged: its rows were read by gsrecover's "
		    "page "
		    "reader (%" PRId64
		    " rows%s).\nWhere each came from, and the "
		    "rows that are not live, are in the archive's recovery/.\n",
		    res->id.rec.rows,
		    gsr_recover_lossy(&res->id.rec)
		        ? "; some could not be read: see 'gsrecover identify'"
		        : "; nothing unreadable was found");
	printf(
	    "\nNext steps:\n"
	    "  1. Stop the GPUStack server (systemctl stop gpustack, or stop "
	    "its "
	    "container).\n"
	    "  2. Keep the damaged database: move database.db and any "
	    "database.db-wal and\n"
	    "     database.db-shm out of /var/lib/gpustack (or "
	    "$GPUSTACK_DATA_DIR).\n"
	    "  3. Copy %s there as database.db, with the owner and mode of the "
	    "original.\n"
	    "  4. Start GPUStack %s.\n",
	    res->out_path, res->target->name);
	if (res->archive_path)
		printf("  Keep %s: 'gsrecover verify' on it proves\n"
		       "  what came in and what went out.\n",
		       res->archive_path);
}

int
cmd_rebuild(int argc, char **argv, struct gsr_common_opts *common)
{
	struct rebuild_opts o = {.common = common};
	struct gsr_rebuild res = {0};
	struct gsr_ctx ctx = GSR_CTX_INIT;
	struct gsr_rules *rules = NULL;
	int status;

	if (argp_parse(&rebuild_argp, argc, argv, 0, NULL, &o) != 0)
		return GSR_EXIT_USAGE;
	if ((rules = gsr_cli_load_rules(common, NULL, NULL)) == NULL)
		return gsr_cli_rules_status();
	o.eo.now = time(NULL);
	gsr_cli_progress(&ctx, common);
	if (gsr_rebuild_run(&ctx, rules, o.db, &o.eo, &res) != 0) {
		/* A database that could not be taken says so itself. */
		if (res.id.ev.located && res.id.ev.files[GSR_EV_DB].present)
			gsr_note("no DB given: using GPUStack's database '%s'",
			         res.id.ev.path);
		status = gsr_fail(&ctx);
		goto out;
	}
	if (res.id.ev.located)
		gsr_note("no DB given: using GPUStack's database '%s'",
		         res.id.ev.path);
	for (size_t i = 0; i < res.id.ev.n_holders; i++)
		gsr_warn("process %d (%s) holds '%s' open; going on because of "
		         "--force",
		         res.id.ev.holders[i].pid, res.id.ev.holders[i].comm,
		         res.id.ev.path);
	status = exit_status(&res);
	if (common->json)
		print_json(&res, &o, status);
	else
		print_text(&res, &o);
out:
	gsr_rebuild_release(&res);
	gsr_rules_free(rules);
	return status;
}
