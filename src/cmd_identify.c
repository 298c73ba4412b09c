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
};

enum { OPT_QUICK = 0x200, OPT_SCHEMA_ONLY };

static const struct argp_option identify_options[] = {
	{ "quick", OPT_QUICK, NULL, 0,
	  "run PRAGMA quick_check instead of the full integrity_check", 0 },
	{ "schema-only", OPT_SCHEMA_ONLY, NULL, 0,
	  "read the schema only: no integrity, foreign key or orphan checks "
	  "and no row counts (fast on any size)", 0 },
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
	"copied and hashed (SHA-256) first, and hashed again at the end.\n\n"
	"Exit status: 0 the schema is exactly a release's and the file is "
	"healthy; 4 anything else that could be read (a main-branch build, a "
	"mixture, not GPUStack's, damage); 8 the file is unreadable (missing, "
	"empty, not SQLite) or the rules are invalid; 16 usage error.",
	identify_children, NULL, NULL
};

/* Quote a path for a shell command line when it needs it. */
static void
print_shell_word(FILE *f, const char *s)
{
	if (s[strspn(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
		      "0123456789_./-+:=@%")] == '\0' && *s) {
		fputs(s, f);
		return;
	}
	fputc('\'', f);
	for (; *s; s++) {
		if (*s == '\'')
			fputs("'\\''", f);
		else
			fputc(*s, f);
	}
	fputc('\'', f);
}

static int
exit_status(const struct gsr_identify *res)
{
	if (res->verdict == GSR_VERDICT_UNREADABLE)
		return GSR_EXIT_OPERATIONAL;
	if (res->verdict == GSR_VERDICT_RELEASE && res->health_ok)
		return GSR_EXIT_OK;
	return GSR_EXIT_UNRECOVERED;
}

static bool
needs_repair(const struct gsr_identify *res)
{
	return res->target != NULL &&
	       (res->verdict != GSR_VERDICT_RELEASE || !res->health_ok);
}

static void
json_diffs(struct jsonw *jw, const struct gsr_diffs *d)
{
	jw_key(jw, "differences");
	jw_arr_begin(jw);
	for (size_t i = 0; i < d->n; i++) {
		const struct gsr_diff *x = &d->v[i];
		jw_obj_begin(jw);
		jw_kstr(jw, "kind", x->kind);
		jw_kstr(jw, "table", x->table);
		if (x->column)
			jw_kstr(jw, "column", x->column);
		if (x->object)
			jw_kstr(jw, "object", x->object);
		jw_kstr(jw, "expected", x->expected);
		jw_kstr(jw, "found", x->found);
		jw_kstr(jw, "message", x->detail);
		jw_obj_end(jw);
	}
	jw_arr_end(jw);
}

static void
json_label_diffs(struct jsonw *jw, const char *key, const struct gsr_label *l,
		 const struct gsr_diffs *d)
{
	jw_key(jw, key);
	if (l == NULL) {
		jw_null(jw);
		return;
	}
	jw_obj_begin(jw);
	jw_kstr(jw, "label", l->name);
	json_diffs(jw, d);
	jw_obj_end(jw);
}

static void
json_strvec(struct jsonw *jw, const char *key, const struct strvec *sv)
{
	jw_key(jw, key);
	jw_arr_begin(jw);
	for (size_t i = 0; i < sv->n; i++)
		jw_str(jw, sv->v[i]);
	jw_arr_end(jw);
}

static void
print_json(const struct gsr_identify *res, const char *rules_dir, int status)
{
	struct jsonw jw;
	const struct gsr_evidence *ev = &res->ev;

	jw_init(&jw, stdout, true);
	jw_obj_begin(&jw);
	gsr_json_envelope(&jw, status);
	jw_kstr(&jw, "rules_dir", rules_dir);
	jw_key(&jw, "input");
	jw_arr_begin(&jw);
	for (int i = 0; i < GSR_EV_NFILES; i++) {
		const struct gsr_ev_file *f = &ev->files[i];
		if (!f->present)
			continue;
		jw_obj_begin(&jw);
		jw_kstr(&jw, "role", f->role);
		jw_kstr(&jw, "path", f->path);
		jw_kint(&jw, "size", (int64_t)f->size);
		jw_kstr(&jw, "sha256", f->sha256);
		jw_kstr(&jw, "sha256_after", f->rechecked ? f->sha256_after : NULL);
		jw_kbool(&jw, "unchanged", f->rechecked && !f->changed);
		jw_obj_end(&jw);
	}
	jw_arr_end(&jw);
	jw_kbool(&jw, "located", ev->located);
	jw_key(&jw, "holders");
	jw_arr_begin(&jw);
	for (size_t i = 0; i < ev->n_holders; i++) {
		jw_obj_begin(&jw);
		jw_kint(&jw, "pid", ev->holders[i].pid);
		jw_kstr(&jw, "command", ev->holders[i].comm);
		jw_kstr(&jw, "how", ev->holders[i].how);
		jw_obj_end(&jw);
	}
	jw_arr_end(&jw);
	jw_kstr(&jw, "verdict", gsr_verdict_name(res->verdict));
	if (res->unreadable)
		jw_kstr(&jw, "reason", res->unreadable);
	json_strvec(&jw, "matches", &res->matches);
	json_strvec(&jw, "schema_matches", &res->schema_matches);
	jw_kstr(&jw, "alembic_version", res->alembic);
	json_label_diffs(&jw, "claimed", res->claimed, &res->claimed_diffs);
	json_label_diffs(&jw, "nearest", res->nearest, &res->nearest_diffs);
	jw_key(&jw, "nearest_build");
	if (res->nearest_build) {
		jw_obj_begin(&jw);
		jw_kstr(&jw, "label", res->nearest_build->name);
		jw_kint(&jw, "difference_count", (int64_t)res->nearest_build_ndiffs);
		jw_obj_end(&jw);
	} else {
		jw_null(&jw);
	}
	jw_kstr(&jw, "suggested_target", res->target ? res->target->name : NULL);
	jw_key(&jw, "findings");
	jw_arr_begin(&jw);
	for (size_t i = 0; i < res->n_findings; i++) {
		jw_obj_begin(&jw);
		jw_kstr(&jw, "code", res->findings[i].code);
		jw_kstr(&jw, "severity", res->findings[i].severity);
		jw_kstr(&jw, "message", res->findings[i].message);
		jw_obj_end(&jw);
	}
	jw_arr_end(&jw);
	jw_key(&jw, "health");
	jw_obj_begin(&jw);
	jw_kbool(&jw, "ok", res->health_ok);
	json_strvec(&jw, "problems", &res->problems);
	jw_kbool(&jw, "header_ok", res->header_ok);
	jw_kstr(&jw, "journal_mode", res->verdict == GSR_VERDICT_UNREADABLE ? NULL
								       : res->journal);
	if (res->header_ok || res->hdr.page_size)
		jw_kint(&jw, "page_size", res->hdr.page_size);
	jw_kstr(&jw, "integrity_mode", res->integrity_mode);
	json_strvec(&jw, "integrity", &res->integrity);
	jw_kint(&jw, "foreign_key_violations", res->fk_violations);
	jw_kbool(&jw, "wal_present", ev->files[GSR_EV_WAL].present);
	jw_kbool(&jw, "journal_present", ev->files[GSR_EV_JOURNAL].present);
	jw_obj_end(&jw);
	jw_key(&jw, "tables");
	jw_arr_begin(&jw);
	for (size_t i = 0; i < res->n_tables; i++) {
		jw_obj_begin(&jw);
		jw_kstr(&jw, "name", res->tables[i].name);
		if (res->tables[i].rows >= 0)
			jw_kint(&jw, "rows", res->tables[i].rows);
		else
			jw_knull(&jw, "rows");
		jw_obj_end(&jw);
	}
	jw_arr_end(&jw);
	jw_key(&jw, "repair_command");
	if (needs_repair(res)) {
		char *cmd = NULL;
		size_t len = 0;
		FILE *m = open_memstream(&cmd, &len);
		if (m) {
			fputs("gsrecover rebuild ", m);
			print_shell_word(m, ev->path);
			fprintf(m, " --to %s", res->target->name);
			fclose(m);
		}
		jw_str(&jw, cmd);
		free(cmd);
	} else {
		jw_null(&jw);
	}
	jw_key(&jw, "timing_ms");
	jw_obj_begin(&jw);
	jw_key(&jw, "custody");
	jw_real(&jw, res->ms_custody);
	jw_key(&jw, "fingerprint");
	jw_real(&jw, res->ms_fingerprint);
	jw_key(&jw, "checks");
	jw_real(&jw, res->ms_checks);
	jw_key(&jw, "recheck");
	jw_real(&jw, res->ms_recheck);
	jw_obj_end(&jw);
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
		printf(": exactly ");
		for (size_t i = 0; i < res->matches.n; i++)
			printf("%s%s", i ? ", " : "", res->matches.v[i]);
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
		goto health;
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
	if (res->n_findings) {
		printf("\nFindings:\n");
		for (size_t i = 0; i < res->n_findings; i++)
			printf("  %-7s %s\n", res->findings[i].severity,
			       res->findings[i].message);
	}
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
	if (needs_repair(res)) {
		printf("\nTo repair: gsrecover rebuild ");
		print_shell_word(stdout, ev->path);
		printf(" --to %s\n", res->target->name);
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
		return GSR_EXIT_OPERATIONAL;
	eo.quick = o.quick;
	eo.schema_only = o.schema_only;
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
