/* cmd_identify.c -- "gsrecover identify [DB]": the report. */
#include "compat.h"
#include "cli.h"

#include "identify.h"
#include "jsonw.h"
#include "paths.h"
#include "rules.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

struct identify_opts {
	struct gsr_common_opts *common;
	const char *db;
	bool quick;
	bool schema_only;
	bool recover;
};

enum { OPT_QUICK = 0x200, OPT_SCHEMA_ONLY, OPT_RECOVER };

static const struct argp_option identify_options[] = {
	{ "quick", OPT_QUICK, NULL, 0,
	  "run PRAGMA quick_check instead of the full integrity_check", 0 },
	{ "schema-only", OPT_SCHEMA_ONLY, NULL, 0,
	  "read the schema only: no integrity, foreign key or orphan checks "
	  "and no row counts (fast on any size)", 0 },
	{ "recover", OPT_RECOVER, NULL, 0,
	  "also read the file with gsrecover's own page reader when SQLite "
	  "finds no damage, and report what it recovers, deleted rows "
	  "included", 0 },
	{ 0 }
};

static error_t
identify_parse(int key, char *arg, struct argp_state *state)
{
	struct identify_opts *o = state->input;

	switch (key) {
	case ARGP_KEY_INIT:
		state->child_inputs[0] = o->common;
		break;
	case OPT_QUICK:
		o->quick = true;
		break;
	case OPT_SCHEMA_ONLY:
		o->schema_only = true;
		break;
	case OPT_RECOVER:
		o->recover = true;
		break;
	case ARGP_KEY_ARG:
		if (o->db)
			argp_error(state, "too many arguments");
		o->db = arg;
		break;
	default:
		return ARGP_ERR_UNKNOWN;
	}
	return 0;
}

static const struct argp_child identify_children[] = {
	{ &gsr_common_argp, 0, NULL, 0 },
	{ 0 }
};

static const struct argp identify_argp = {
	identify_options, identify_parse, "[DB]",
	"Say which GPUStack release, main-branch build or mixture produced the "
	"database DB, what differs from the release its alembic_version claims, "
	"what is damaged, and the command that repairs it."
	"\v"
	"Without DB, the database GPUStack uses on this machine is taken: "
	"$GPUSTACK_DATA_DIR/database.db, else /var/lib/gpustack/database.db.  "
	"DB is never opened in place: it and any -wal or -journal beside it are "
	"copied and hashed (SHA-256) first, and hashed again at the end.  When "
	"SQLite cannot read the copy or finds it damaged, gsrecover's own page "
	"reader recovers what the bytes still hold, and the report says what it "
	"found.\n\n"
	"Exit status: 0 the schema is exactly a release's and the file is "
	"healthy; 4 anything else that could be read (a main-branch build, a "
	"mixture, not GPUStack's, damage); 8 the file is unreadable (missing, "
	"empty, not SQLite) or the rules are invalid; 16 usage error; 32 "
	"interrupted (nothing is left behind).",
	identify_children, NULL, NULL
};

static int
exit_status(const struct gsr_identify *res)
{
	if (res->verdict == GSR_VERDICT_UNREADABLE)
		return GSR_EXIT_OPERATIONAL;
	if (res->verdict == GSR_VERDICT_RELEASE && res->health_ok)
		return GSR_EXIT_OK;
	return GSR_EXIT_UNRECOVERED;
}

static void
print_json(const struct gsr_identify *res, const char *rules_dir, int status)
{
	struct jsonw jw;

	jw_init(&jw, stdout, true);
	jw_obj_begin(&jw);
	gsr_json_envelope(&jw, status);
	jw_kstr(&jw, "rules_dir", rules_dir);
	gsr_identify_write_json(res, &jw);
	jw_key(&jw, "messages");
	jw_arr_begin(&jw);
	jw_arr_end(&jw);
	jw_obj_end(&jw);
	jw_end_line(&jw);
}

static void
print_diffs(const char *title, const struct gsr_label *l,
	    const struct gsr_diffs *d, int verbosity)
{
	size_t max = verbosity > 0 ? d->n : 25;

	printf("\nDifferences from %s (%s), %zu:\n", l->name, title, d->n);
	for (size_t i = 0; i < d->n && i < max; i++)
		printf("  - %s\n", d->v[i].detail);
	if (d->n > max)
		printf("  ... %zu more (-v lists all, --json gives every detail)\n",
		       d->n - max);
}

/* " (same schema as A, B)": the labels of set other than name. */
static void
print_same_schema(const struct strvec *set, const struct gsr_label *name)
{
	const char *sep = " (same schema as ";

	for (size_t i = 0; name && i < set->n; i++)
		if (strcmp(set->v[i], name->name)) {
			printf("%s%s", sep, set->v[i]);
			sep = ", ";
		}
	if (sep[0] == ',')
		printf(")");
}

static void
print_text(const struct gsr_identify *res, int verbosity)
{
	const struct gsr_evidence *ev = &res->ev;

	for (int i = 0; i < GSR_EV_NFILES; i++) {
		const struct gsr_ev_file *f = &ev->files[i];
		if (!f->present)
			continue;
		printf("%-9s %s (%" PRIu64 " bytes, sha256 %.16s...)\n",
		       i == 0 ? "database" : f->role, f->path, f->size, f->sha256);
	}
	printf("verdict   %s", gsr_verdict_name(res->verdict));
	switch (res->verdict) {
	case GSR_VERDICT_RELEASE:
	case GSR_VERDICT_DEV_BUILD:
		printf(": exactly %s", res->label ? res->label->name : "?");
		print_same_schema(&res->matches, res->label);
		printf("\n");
		break;
	case GSR_VERDICT_MIXED:
		printf(": no release or main-branch build has exactly this schema\n");
		break;
	case GSR_VERDICT_NOT_GPUSTACK:
		printf(": an SQLite database, but not GPUStack's\n");
		break;
	case GSR_VERDICT_UNREADABLE:
		printf(": %s\n", res->unreadable ? res->unreadable : "?");
		break;
	}
	if (res->verdict == GSR_VERDICT_UNREADABLE ||
	    res->verdict == GSR_VERDICT_NOT_GPUSTACK)
		goto findings;
	printf("alembic   %s", res->alembic ? res->alembic : "(none)");
	if (res->claimed)
		printf(" (claims %s)", res->claimed->name);
	printf("\n");
	if (res->nearest)
		printf("nearest   release %s (%zu difference%s)\n", res->nearest->name,
		       res->nearest_diffs.n, res->nearest_diffs.n == 1 ? "" : "s");
	if (res->nearest_build && res->nearest_build != res->nearest &&
	    res->matches.n == 0)
		printf("closest   build %s (%zu difference%s)\n",
		       res->nearest_build->name, res->nearest_build_ndiffs,
		       res->nearest_build_ndiffs == 1 ? "" : "s");
findings:
	if (res->n_findings) {
		printf("\nFindings:\n");
		for (size_t i = 0; i < res->n_findings; i++)
			printf("  %-7s %s\n", res->findings[i].severity,
			       res->findings[i].message);
	}
	if (res->verdict == GSR_VERDICT_UNREADABLE ||
	    res->verdict == GSR_VERDICT_NOT_GPUSTACK)
		goto health;
	if (res->claimed && res->claimed_diffs.n &&
	    res->verdict != GSR_VERDICT_RELEASE)
		print_diffs("what alembic_version claims", res->claimed,
			    &res->claimed_diffs, verbosity);
	if (res->matches.n == 0) {
		if (res->nearest && res->nearest_diffs.n &&
		    (!res->claimed || res->nearest->schema != res->claimed->schema))
			print_diffs("the nearest release", res->nearest,
				    &res->nearest_diffs, verbosity);
	}
health:
	printf("\nHealth: %s\n", res->health_ok ? "ok" : "PROBLEMS");
	for (size_t i = 0; i < res->problems.n; i++)
		printf("  - %s\n", res->problems.v[i]);
	if (res->integrity_mode)
		printf("  %s: %s; foreign keys: %" PRId64 " violation(s); journal: %s%s%s\n",
		       res->integrity_mode,
		       res->integrity.n == 1 && !strcmp(res->integrity.v[0], "ok")
			       ? "ok" : "FAILED",
		       res->fk_violations, res->journal,
		       ev->files[GSR_EV_WAL].present ? ", -wal present" : "",
		       ev->files[GSR_EV_JOURNAL].present ? ", -journal present" : "");
	if (res->n_tables) {
		printf("\nRows:\n");
		for (size_t i = 0; i < res->n_tables; i++) {
			if (res->tables[i].rows >= 0)
				printf("  %-28s %" PRId64 "\n", res->tables[i].name,
				       res->tables[i].rows);
			else
				printf("  %-28s unreadable\n", res->tables[i].name);
		}
	}
	if (res->recovered) {
		const struct gsr_recover_result *rr = &res->rec;

		printf("\nRecovered by the page reader (%s; page size %" PRIu32 "%s, "
		       "%" PRIu32 " pages: %" PRIu32 " in trees, %" PRIu32
		       " orphan leaves, %" PRIu32 " free, %" PRIu32 " other):\n",
		       rr->schema_label ? "schema by record shape" : "schema from sqlite_master",
		       rr->info.page_size, rr->info.page_size_inferred ? " inferred" : "",
		       rr->info.n_pages, rr->pages_tree, rr->pages_orphan,
		       rr->pages_freelist, rr->pages_other);
		if (rr->schema_label)
			printf("  schema of %s (fits as well: %zu label(s))\n",
			       rr->schema_label, rr->schema_candidates.n);
		for (size_t i = 0; i < rr->n_tables; i++) {
			const struct gsr_recover_table *t = &rr->tables[i];

			printf("  %-28s %" PRId64, t->name, t->rows);
			if (t->orphan)
				printf(" (%" PRId64 " from orphan leaves)", t->orphan);
			if (t->truncated)
				printf(", %" PRId64 " cut short", t->truncated);
			if (t->rejected)
				printf(", %" PRId64 " refused", t->rejected);
			if (t->index_missing > 0)
				printf(", %" PRId64 " known lost (in an index, not found)",
				       t->index_missing);
			printf("\n");
		}
		if (rr->rows_unplaced)
			printf("  %" PRId64 " row(s) on leaves no table fits (kept in the "
			       "ledger)\n", rr->rows_unplaced);
	}
	bool changed = false;
	for (int i = 0; i < GSR_EV_NFILES; i++)
		changed |= ev->files[i].changed;
	if (verbosity > 0)
		printf("\nTiming: custody %.0f ms, fingerprint %.0f ms, checks %.0f ms, "
		       "recheck %.0f ms\n", res->ms_custody, res->ms_fingerprint,
		       res->ms_checks, res->ms_recheck);
	printf("\nEvidence: %s\n", changed
	       ? "THE INPUT CHANGED while it was read (see Health)"
	       : "input unchanged (SHA-256 before and after the run agree)");
	if (gsr_identify_needs_repair(res)) {
		char *cmd = gsr_identify_repair_command(res);
		printf("\nTo repair: %s\n", cmd ? cmd : "?");
		free(cmd);
	} else if (res->verdict == GSR_VERDICT_RELEASE) {
		printf("\nNothing to repair.\n");
	}
}

int
cmd_identify(int argc, char **argv, struct gsr_common_opts *common)
{
	struct identify_opts o = { .common = common };
	struct gsr_identify_opts eo = { 0 };
	struct gsr_identify res = { 0 };
	struct gsr_ctx ctx = GSR_CTX_INIT;
	struct gsr_rules *rules = NULL;
	const char *dir = NULL;
	int status;

	if (argp_parse(&identify_argp, argc, argv, 0, NULL, &o) != 0)
		return GSR_EXIT_USAGE;
	if ((rules = gsr_cli_load_rules(common, &dir, NULL)) == NULL)
		return gsr_cli_rules_status();
	eo.quick = o.quick;
	eo.schema_only = o.schema_only;
	eo.recover = o.recover;
	eo.deleted = o.recover;
	gsr_cli_progress(&ctx, common);
	if (gsr_identify_run(&ctx, rules, o.db, &eo, &res) != 0) {
		status = gsr_fail(&ctx);
		goto out;
	}
	if (res.ev.located)
		gsr_note("no DB given: using GPUStack's database '%s'", res.ev.path);
	for (size_t i = 0; i < res.ev.n_holders; i++)
		gsr_warn("process %d (%s) has '%s' open: is the GPUStack server running?",
			 res.ev.holders[i].pid, res.ev.holders[i].comm, res.ev.path);
	status = exit_status(&res);
	if (res.verdict == GSR_VERDICT_UNREADABLE)
		gsr_error("'%s': %s", res.ev.path, res.unreadable ? res.unreadable : "unreadable");
	if (common->json)
		print_json(&res, dir, status);
	else
		print_text(&res, common->verbosity);
out:
	gsr_identify_release(&res);
	gsr_rules_free(rules);
	return status;
}
