/* cmd_export.c -- "gsrecover export [DB] -o DIR": every row, losslessly. */
#include "compat.h"
#include "cli.h"

#include "evidence.h"
#include "export.h"
#include "jsonw.h"
#include "paths.h"
#include "recover.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

struct export_opts {
	struct gsr_common_opts *common;
	const char *db;
	const char *out;
	enum gsr_export_format fmt;
	bool force;
	bool recover;
};

enum { OPT_FORMAT = 0x300, OPT_FORCE, OPT_RECOVER };

static const struct argp_option export_options[] = {
    {"output", 'o', "DIR", 0,
     "write the export to the directory DIR, which must not exist "
     "(required)",
     0},
    {"format", OPT_FORMAT, "FORMAT", 0,
     "jsonl (JSON Lines, the default) or csv (RFC 4180)", 0},
    {"force", OPT_FORCE, NULL, 0,
     "replace DIR when it holds an earlier export (or is empty)", 0},
    {"recover", OPT_RECOVER, NULL, 0,
     "read DB with gsrecover's own page reader even when SQLite can, and "
     "write its ledger (where each row came from, older versions and "
     "deleted rows carved out of free space) into DIR/recovery/",
     0},
    {0}};

static error_t
export_parse(int key, char *arg, struct argp_state *state)
{
	struct export_opts *o = state->input;

	switch (key) {
	case ARGP_KEY_INIT:
		state->child_inputs[0] = o->common;
		break;
	case 'o':
		if (*arg == '\0')
			argp_error(state, "-o: DIR is empty");
		o->out = arg;
		break;
	case OPT_FORMAT:
		if (!strcmp(arg, "jsonl"))
			o->fmt = GSR_EXPORT_JSONL;
		else if (!strcmp(arg, "csv"))
			o->fmt = GSR_EXPORT_CSV;
		else
			argp_error(state, "unknown format '%s' (jsonl or csv)",
			           arg);
		break;
	case OPT_FORCE:
		o->force = true;
		break;
	case OPT_RECOVER:
		o->recover = true;
		break;
	case ARGP_KEY_ARG:
		if (o->db)
			argp_error(state, "too many arguments");
		o->db = arg;
		break;
	case ARGP_KEY_END:
		if (o->out == NULL)
			argp_error(state, "missing -o DIR");
		break;
	default:
		return ARGP_ERR_UNKNOWN;
	}
	return 0;
}

static const struct argp_child export_children[] = {
    {&gsr_common_argp, 0, NULL, 0}, {0}};

static const struct argp export_argp = {
    export_options,
    export_parse,
    "[DB] -o DIR",
    "Write every row of every table of the database DB into the new "
    "directory DIR, losslessly: one TABLE.jsonl (or TABLE.csv) per table, "
    "schema.sql (the schema exactly as stored) and manifest.json (the "
    "SHA-256 of the input and of every file written)."
    "\v"
    "Without DB, the database GPUStack uses on this machine is taken: "
    "$GPUSTACK_DATA_DIR/database.db, else /var/lib/gpustack/database.db.  "
    "DB is never opened in place: it and any -wal or -journal beside it "
    "are copied and hashed (SHA-256) first, and hashed again at the "
    "end.\n\n"
    "DIR appears whole or not at all: the export is written to "
    "DIR.tmp-XXXXXX beside it, synced, then renamed to DIR, and removed on "
    "any failure or interruption.  An existing DIR is refused unless "
    "--force is given and DIR holds an earlier export.\n\n"
    "Values keep their SQLite storage class.  JSON Lines (export format "
    "version 2): a first line {\"table\", \"source\", \"rowid\", "
    "\"rowid_column\" (when the rowid is a column), \"columns\"} that "
    "names the columns, then one JSON array a row: the rowid first when "
    "\"rowid\" is true and no column holds it, then the values in the "
    "order of \"columns\".  INTEGER and REAL are numbers (a REAL always "
    "with '.' or an exponent), TEXT a string, or {\"text_hex\": ...} when "
    "it is not UTF-8, BLOB {\"blob_hex\": ...}, NULL null.  CSV (RFC "
    "4180): a header line, CRLF line ends, a first column rowid when the "
    "rows have one; TEXT always quoted, BLOB X'HEX', NULL an empty field.  "
    "Virtual tables are skipped.\n\n"
    "When SQLite cannot read DB (\"database disk image is malformed\", no "
    "header, a truncated file), the rows are read by gsrecover's own page "
    "reader instead, and DIR/recovery/ holds its ledger: where each row "
    "came from (page, cell offset, source), older versions of rows from a "
    "-wal or -journal, deleted rows carved out of free space, rows it could "
    "not place, with a manifest.json of their own.\n\n"
    "Exit status: 0 exported; 4 exported, but DB is damaged and rows may be "
    "lost; 8 the input cannot be read or is not SQLite, the output cannot "
    "be written, or DIR exists; 16 usage error; 32 interrupted (nothing is "
    "left behind).",
    export_children,
    NULL,
    NULL};

/* A name on the text report: control characters as \xHH. */
static void
print_name(const char *s)
{
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;
		if (c < 0x20 || c == 0x7f || c == '\\')
			printf("\\x%02x", c);
		else
			putchar(c);
	}
}

static void
json_input(struct jsonw *jw, const struct gsr_evidence *ev)
{
	jw_key(jw, "input");
	gsr_evidence_write_json(ev, jw, true);
}

static void
print_json(const struct export_opts *o, const struct gsr_evidence *ev,
           const struct gsr_export_result *res,
           const struct gsr_recover_result *rec, int status)
{
	struct jsonw jw;

	gsr_json_begin(&jw, status);
	jw_kstr(&jw, "output", o->out);
	jw_kstr(&jw, "format", o->fmt == GSR_EXPORT_CSV ? "csv" : "jsonl");
	json_input(&jw, ev);
	jw_key(&jw, "tables");
	jw_arr_begin(&jw);
	for (size_t i = 0; i < res->n_tables; i++) {
		const struct gsr_export_table *t = &res->tables[i];
		jw_obj_begin(&jw);
		jw_kstr(&jw, "name", t->name);
		if (t->file == NULL) {
			jw_kstr(&jw, "skipped", "virtual table");
		} else {
			jw_kstr(&jw, "file", t->file);
			jw_kint(&jw, "rows", t->rows);
			jw_kint(&jw, "bytes", (int64_t)t->bytes);
			jw_kstr(&jw, "sha256", t->sha256);
		}
		jw_obj_end(&jw);
	}
	jw_arr_end(&jw);
	jw_kint(&jw, "total_rows", res->total_rows);
	jw_kstr(&jw, "manifest_sha256", res->manifest_sha256);
	jw_key(&jw, "recovery");
	if (rec) {
		jw_obj_begin(&jw);
		gsr_recover_write_json(rec, &jw);
		jw_obj_end(&jw);
	} else {
		jw_null(&jw);
	}
	gsr_json_end(&jw, GSR_JSON_NO_MESSAGES);
}

static void
print_text(const struct export_opts *o, const struct gsr_export_result *res,
           const struct gsr_recover_result *rec)
{
	size_t n_skipped = 0;

	for (size_t i = 0; i < res->n_tables; i++) {
		const struct gsr_export_table *t = &res->tables[i];
		print_name(t->name);
		if (t->file == NULL) {
			printf(" skipped (virtual table)\n");
			n_skipped++;
			continue;
		}
		printf(" %" PRId64 " rows -> %s\n", t->rows, t->file);
	}
	printf("total %" PRId64 " rows in %zu tables", res->total_rows,
	       res->n_tables - n_skipped);
	if (n_skipped)
		printf(", %zu virtual skipped", n_skipped);
	printf("\ndirectory ");
	print_name(o->out);
	printf("\n");
	if (rec) {
		printf("read by the page reader: %" PRId64 " rows (%" PRIu64
		       " damaged "
		       "pages, %" PRIu32 " orphan leaves placed, %" PRId64
		       " cut short, "
		       "%" PRId64 " history rows, %" PRId64
		       " deleted rows carved); "
		       "its ledger is in ",
		       rec->rows, rec->pages_damaged, rec->pages_orphan,
		       rec->truncated, rec->history, rec->deleted);
		print_name(o->out);
		printf("/recovery/\n");
	}
}

/* What the run met on its way, in the order it met it: the messages
 * before its error, if it failed. */
static void
print_notes(const struct gsr_export_report *rep, const char *rules_dir,
            const char *rules_source)
{
	const struct gsr_evidence *ev = &rep->ev;

	if (!rep->custody)
		return;
	if (ev->located)
		gsr_note("no DB given: using GPUStack's database '%s'",
		         ev->path);
	for (size_t i = 0; i < ev->n_holders; i++)
		gsr_warn("process %d (%s) has '%s' open: is the GPUStack "
		         "server running?",
		         ev->holders[i].pid, ev->holders[i].comm, ev->path);
	if (rep->fit_pages > 0)
		gsr_warn("'%s' holds %" PRId64 " of the %" PRIu32 " pages its "
		         "header declares (truncated): exporting what is there",
		         ev->path, rep->fit_pages, rep->header_pages);
	if (rep->fallback == GSR_EXPORT_FALLBACK_HEADER)
		gsr_warn("'%s': %s: reading its pages directly", ev->path,
		         rep->why);
	else if (rep->fallback == GSR_EXPORT_FALLBACK_SQLITE)
		gsr_warn(
		    "SQLite cannot read '%s' (%s): reading its pages directly",
		    ev->path, rep->why);
	if (gsr_ctx_failed(&rep->rules_error))
		gsr_cli_rules_error(&rep->rules_error, rules_dir, rules_source,
		                    true);
	for (int i = 0; i < GSR_EV_NFILES; i++)
		if (ev->files[i].changed)
			gsr_warn("'%s' changed while it was read (a running "
			         "server?): the export is of the copy taken "
			         "first, whose SHA-256 the manifest gives",
			         ev->files[i].path);
	if (rep->old_left)
		gsr_warn("cannot remove the earlier export, now '%s': %s",
		         rep->old_left, strerror(rep->old_errno));
}

int
cmd_export(int argc, char **argv, struct gsr_common_opts *common)
{
	struct export_opts o = {.common = common, .fmt = GSR_EXPORT_JSONL};
	struct gsr_export_report rep = GSR_EXPORT_REPORT_INIT;
	struct gsr_ctx ctx = GSR_CTX_INIT;
	const char *rules_dir, *rules_source;
	int status;

	if (argp_parse(&export_argp, argc, argv, 0, NULL, &o) != 0)
		return GSR_EXIT_USAGE;
	/* Loaded by the engine only when the page reader needs them. */
	rules_dir = gsr_rules_dir(common->rules_dir, &rules_source);
	gsr_cli_progress(&ctx, common);
	struct gsr_export_opts eo = {
	    .out = o.out, .fmt = o.fmt, .force = o.force, .recover = o.recover};
	int rc = gsr_export_run(&ctx, rules_dir, o.db, &eo, &rep);

	print_notes(&rep, rules_dir, rules_source);
	if (rc != 0) {
		status = gsr_fail(&ctx);
		if (rep.old_kept)
			gsr_error("the earlier export is now '%s'",
			          rep.old_kept);
		if (rep.tmp_left)
			gsr_warn("cannot remove '%s': %s", rep.tmp_left,
			         strerror(rep.tmp_errno));
		goto out;
	}
	/* Damage SQLite met, or that the page reader found. */
	status = gsr_export_lossy(&rep) ? GSR_EXIT_UNRECOVERED : GSR_EXIT_OK;
	if (common->json)
		print_json(&o, &rep.ev, &rep.export,
		           rep.recovered ? &rep.rec : NULL, status);
	else
		print_text(&o, &rep.export, rep.recovered ? &rep.rec : NULL);
out:
	gsr_export_report_release(&rep);
	return status;
}
