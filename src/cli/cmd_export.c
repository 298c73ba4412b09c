/* cmd_export.c -- "gsrecover export [DB] -o DIR": every row, losslessly. */
#include "compat.h"
#include "cli.h"

#include "dbopen.h"
#include "evidence.h"
#include "export.h"
#include "jsonw.h"
#include "recover.h"
#include "rules.h"
#include "sqlhdr.h"
#include "tempfiles.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* What an earlier export's manifest starts with (jsonw's pretty form). */
#define MANIFEST_SIGNATURE "{\n  \"format\": \"gsrecover-export\","

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
	{ "output", 'o', "DIR", 0,
	  "write the export to the directory DIR, which must not exist "
	  "(required)", 0 },
	{ "format", OPT_FORMAT, "FORMAT", 0,
	  "jsonl (JSON Lines, the default) or csv (RFC 4180)", 0 },
	{ "force", OPT_FORCE, NULL, 0,
	  "replace DIR when it holds an earlier export (or is empty)", 0 },
	{ "recover", OPT_RECOVER, NULL, 0,
	  "read DB with gsrecover's own page reader even when SQLite can, and "
	  "write its ledger (where each row came from, older versions and "
	  "deleted rows carved out of free space) into DIR/recovery/", 0 },
	{ 0 }
};

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
	{ &gsr_common_argp, 0, NULL, 0 },
	{ 0 }
};

static const struct argp export_argp = {
	export_options, export_parse, "[DB] -o DIR",
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
	export_children, NULL, NULL
};

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

/* Remove dir and the files in it, and its recovery/ subdirectory (the
 * page reader's ledger) with the files in that.  Returns 0, or -1 with
 * errno set. */
static int
remove_flat(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	int rc = 0, err = 0;

	if (d == NULL)
		return errno == ENOENT ? 0 : -1;
	while ((de = readdir(d)) != NULL) {
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		if (!strcmp(de->d_name, "recovery") && de->d_type == DT_DIR) {
			char *sub = NULL;

			if (asprintf(&sub, "%s/recovery", dir) < 0) {
				err = ENOMEM;
				continue;
			}
			if (remove_flat(sub) != 0 && err == 0)
				err = errno;
			free(sub);
			continue;
		}
		if (unlinkat(dirfd(d), de->d_name, 0) != 0 && err == 0)
			err = errno;
	}
	closedir(d);
	if (rmdir(dir) != 0) {
		rc = -1;
		if (err == 0)
			err = errno;
	}
	errno = err;
	return err ? -1 : rc;
}

/*
 * --force replaces DIR only when losing it loses nothing but an earlier
 * export: an empty directory, or one that holds only regular files (and
 * the directory recovery/), among them a manifest.json of gsrecover's.
 * Prints the reason and returns -1 otherwise.
 */
static int
check_replaceable(const char *dir, const char *shown)
{
	char buf[sizeof MANIFEST_SIGNATURE] = { 0 };
	struct dirent *de;
	struct stat st;
	bool manifest = false, entries = false, others = false;
	DIR *d = NULL;
	int fd = -1, rc = -1;

	if (lstat(dir, &st) != 0 || !S_ISDIR(st.st_mode) ||
	    (d = opendir(dir)) == NULL) {
		gsr_error("'%s' exists and is not a directory gsrecover can "
			  "replace", shown);
		goto out;
	}
	while ((de = readdir(d)) != NULL) {
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		entries = true;
		if (fstatat(dirfd(d), de->d_name, &st,
			    AT_SYMLINK_NOFOLLOW) != 0 ||
		    (!S_ISREG(st.st_mode) &&
		     !(S_ISDIR(st.st_mode) && !strcmp(de->d_name, "recovery"))))
			others = true;
		else if (!strcmp(de->d_name, "manifest.json"))
			manifest = true;
	}
	if (entries && manifest && !others) {
		fd = openat(dirfd(d), "manifest.json",
			    O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
		if (fd < 0 ||
		    read(fd, buf, sizeof buf - 1) != (ssize_t)sizeof buf - 1 ||
		    strcmp(buf, MANIFEST_SIGNATURE) != 0)
			manifest = false;
	}
	if (entries && (!manifest || others)) {
		gsr_error("'%s' exists and does not hold an export: not "
			  "replacing it", shown);
		goto out;
	}
	rc = 0;
out:
	if (fd >= 0)
		close(fd);
	if (d)
		closedir(d);
	return rc;
}

/* fsync the directory that holds path. */
static int
sync_parent(const char *path)
{
	char *copy = strdup(path);
	int fd, rc = -1;

	if (copy == NULL)
		return -1;
	fd = open(dirname(copy), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd >= 0) {
		rc = fsync(fd);
		close(fd);
	}
	free(copy);
	return rc;
}

/*
 * Put the finished export tmp in the place of dir, an earlier export:
 * dir is renamed aside, tmp renamed to dir, and the old export removed,
 * so that dir always holds a whole export.  Prints the error and returns
 * -1 on failure, leaving tmp to the caller and dir as it was.
 */
static int
replace_dir(const char *tmp, const char *dir, const char *shown)
{
	struct gsr_temp_hold h;
	bool held = false;
	char *aside = NULL;
	int rc = -1;

	if (check_replaceable(dir, shown) != 0)
		goto out;
	if (asprintf(&aside, "%s.old-XXXXXX", dir) < 0) {
		aside = NULL;
		gsr_error("out of memory");
		goto out;
	}
	/* From the making of the aside directory until the old export in
	 * it is registered for removal, a signal waits: it would leave an
	 * empty directory, or the old export under another name. */
	held = true;
	if (gsr_temp_hold(&h) != 0) {
		gsr_error("interrupted");
		goto out;
	}
	/* An empty directory of our own, which rename() may replace. */
	if (mkdtemp(aside) == NULL) {
		gsr_error("cannot create a directory beside '%s': %s", shown,
			  strerror(errno));
		goto out;
	}
	if (rename(dir, aside) != 0) {
		gsr_error("cannot rename '%s' aside: %s", shown,
			  strerror(errno));
		rmdir(aside);
		goto out;
	}
	if (rename(tmp, dir) != 0) {
		gsr_error("cannot rename '%s' to '%s': %s", tmp, shown,
			  strerror(errno));
		if (rename(aside, dir) != 0)
			gsr_error("the earlier export is now '%s'", aside);
		goto out;
	}
	gsr_temp_register(aside);
	gsr_temp_resume(&h);
	held = false;
	if (remove_flat(aside) != 0)
		gsr_warn("cannot remove the earlier export, now '%s': %s",
			 aside, strerror(errno));
	gsr_temp_unregister(aside);
	rc = 0;
out:
	if (held)
		gsr_temp_resume(&h);
	free(aside);
	return rc;
}

/*
 * Rename the finished export tmp to dir, which must not exist unless
 * force is given (replace_dir()), and sync the directory that holds it.
 * Prints the error and returns -1 on failure, leaving tmp to the caller.
 */
static int
install_dir(const char *tmp, const char *dir, const char *shown, bool force)
{
	struct stat st;
	int rc = renameat2(AT_FDCWD, tmp, AT_FDCWD, dir, RENAME_NOREPLACE);

	if (rc != 0 && (errno == EINVAL || errno == ENOSYS)) {
		/* A file system without RENAME_NOREPLACE. */
		if (lstat(dir, &st) == 0)
			errno = EEXIST;
		else
			rc = rename(tmp, dir);
	}
	if (rc != 0) {
		if (errno != EEXIST && errno != ENOTEMPTY)
			gsr_error("cannot rename '%s' to '%s': %s", tmp, shown,
				  strerror(errno));
		else if (!force)
			gsr_error("'%s' exists: give --force to replace it",
				  shown);
		else
			rc = replace_dir(tmp, dir, shown);
	}
	if (rc == 0 && sync_parent(dir) != 0) {
		gsr_error("cannot sync the directory of '%s': %s", shown,
			  strerror(errno));
		rc = -1;
	}
	return rc;
}

/* The copy must start with an SQLite header.  Prints why not; for a
 * compressed file or an archive, how to unpack it.  A file shorter than
 * its header declares gets the page count of its working copy lowered,
 * as identify does, so the pages that are there export. */
static int
check_header(struct gsr_evidence *ev)
{
	/* The header, and far enough for a tar header's magic. */
	unsigned char buf[512];
	ssize_t n = -1;
	int fd = open(ev->work_db, O_RDONLY | O_CLOEXEC);
	const char *why = NULL;
	char *packed = NULL;

	if (fd >= 0) {
		n = pread(fd, buf, sizeof buf, 0);
		close(fd);
	}
	if (n < 0)
		why = "cannot be read";
	else if (n == 0)
		why = "the file is empty";
	else if ((packed = gsr_sqlhdr_packed(buf, (size_t)n, ev->path)) != NULL) {
		/* Compressed, or an archive: no pages to read. */
		gsr_error("'%s': %s", ev->path, packed);
		free(packed);
		return -1;
	} else if (!gsr_sqlhdr_is_sqlite(buf, (size_t)n))
		why = "not an SQLite database (no SQLite header)";
	else if (n < GSR_SQLHDR_SIZE)
		why = "the file is shorter than an SQLite header";
	if (why == NULL) {
		struct gsr_ctx ctx = GSR_CTX_INIT;
		struct gsr_sqlhdr h;
		int64_t fit = 0;

		gsr_sqlhdr_decode(buf, &h);
		if (h.version_valid_for == h.change_counter && h.n_pages)
			fit = gsr_evidence_fit_page_count(&ctx, ev, h.page_size,
							  h.n_pages);
		if (fit < 0) {
			gsr_fail(&ctx);
			return -1;
		}
		if (fit > 0)
			gsr_warn("'%s' holds %" PRId64 " of the %" PRIu32 " pages its "
				 "header declares (truncated): exporting what is there",
				 ev->path, fit, h.n_pages);
		return 0;
	}
	/* A file of whole pages may still hold rows: the page reader tries. */
	if (ev->files[GSR_EV_DB].size >= 512) {
		gsr_warn("'%s': %s: reading its pages directly", ev->path, why);
		return 1;
	}
	gsr_error("'%s': %s", ev->path, why);
	return -1;
}

/*
 * The page reader's export: recover the input into ev->workdir, export
 * the recovered database into tmp and the ledger into tmp/recovery.
 * Returns 0, or -1 with the error on ctx.
 */
static int
export_recovered(struct gsr_ctx *ctx, const struct export_opts *o,
		 const struct gsr_evidence *ev, const char *tmp,
		 struct gsr_export_result *res, struct gsr_recover_result *rec)
{
	struct gsr_rules *rules = NULL;
	struct gsr_recover_opts ro = {
		.wal_path = gsr_evidence_image(ev, GSR_EV_WAL),
		.journal_path = gsr_evidence_image(ev, GSR_EV_JOURNAL),
		.deleted = true,
	};
	char *out = NULL, *led = NULL, *dir = NULL;
	sqlite3 *db = NULL;
	int rc = -1;

	/* The rules give the schema when sqlite_master is lost; without
	 * them, what sqlite_master still says is used. */
	rules = gsr_cli_load_rules(o->common, NULL, NULL);
	ro.rules = rules;
	if (asprintf(&out, "%s/recovered.db", ev->workdir) < 0 ||
	    asprintf(&led, "%s/ledger.db", ev->workdir) < 0 ||
	    asprintf(&dir, "%s/recovery", tmp) < 0) {
		gsr_ctx_fail(ctx, GSR_ERR_NOMEM, "out of memory");
		goto out;
	}
	gsr_temp_register(out);
	gsr_temp_register(led);
	if (gsr_recover_run(ctx, gsr_evidence_image(ev, GSR_EV_DB), &ro, out, led,
			    rec) != 0 ||
	    (db = gsr_db_open(ctx, out, false)) == NULL ||
	    gsr_export_db(ctx, db, "main", tmp, o->fmt, ev, res) != 0 ||
	    gsr_recover_export_ledger(ctx, led, rec, dir) != 0)
		goto out;
	rc = 0;
out:
	sqlite3_close(db);
	if (dir)
		gsr_recover_forget_ledger_files(dir);
	if (out) {
		unlink(out);
		gsr_temp_unregister(out);
	}
	if (led) {
		unlink(led);
		gsr_temp_unregister(led);
	}
	free(out);
	free(led);
	free(dir);
	gsr_rules_free(rules);
	return rc;
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

	jw_init(&jw, stdout, true);
	jw_obj_begin(&jw);
	gsr_json_envelope(&jw, status);
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
	jw_obj_end(&jw);
	jw_end_line(&jw);
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
		printf("read by the page reader: %" PRId64 " rows (%" PRIu64 " damaged "
		       "pages, %" PRIu32 " orphan leaves placed, %" PRId64 " cut short, "
		       "%" PRId64 " history rows, %" PRId64 " deleted rows carved); "
		       "its ledger is in ",
		       rec->rows, rec->pages_damaged, rec->pages_orphan,
		       rec->truncated, rec->history, rec->deleted);
		print_name(o->out);
		printf("/recovery/\n");
	}
}

int
cmd_export(int argc, char **argv, struct gsr_common_opts *common)
{
	struct export_opts o = { .common = common, .fmt = GSR_EXPORT_JSONL };
	struct gsr_evidence ev = GSR_EVIDENCE_INIT;
	struct gsr_export_result res = GSR_EXPORT_RESULT_INIT;
	struct gsr_recover_result rec = GSR_RECOVER_RESULT_INIT;
	struct gsr_ctx ctx = GSR_CTX_INIT;
	struct stat st;
	sqlite3 *db = NULL;
	char *dir = NULL, *tmp = NULL;
	bool pages = false, recovered = false;
	int status = GSR_EXIT_OPERATIONAL;

	if (argp_parse(&export_argp, argc, argv, 0, NULL, &o) != 0)
		return GSR_EXIT_USAGE;
	/* "out/" names out: the temporary directory goes beside it. */
	if ((dir = strdup(o.out)) == NULL) {
		gsr_error("out of memory");
		goto out;
	}
	for (size_t n = strlen(dir); n > 1 && dir[n - 1] == '/'; n--)
		dir[n - 1] = '\0';
	if (lstat(dir, &st) == 0) {
		if (!o.force) {
			gsr_error("'%s' exists: give --force to replace it",
				  o.out);
			goto out;
		}
		if (check_replaceable(dir, o.out) != 0)
			goto out;
	} else if (errno != ENOENT) {
		gsr_error("cannot use '%s': %s", o.out, strerror(errno));
		goto out;
	}
	if (asprintf(&tmp, "%s.tmp-XXXXXX", dir) < 0) {
		tmp = NULL;
		gsr_error("out of memory");
		goto out;
	}
	/* Made and registered in one step: a signal cannot leave it. */
	if (gsr_temp_mkdtemp(tmp) == NULL) {
		gsr_error("cannot create a directory beside '%s': %s", o.out,
			  strerror(errno));
		free(tmp);
		tmp = NULL;
		goto out;
	}

	gsr_cli_progress(&ctx, common);
	if (gsr_evidence_open(&ctx, &ev, o.db) != 0) {
		status = gsr_fail(&ctx);
		goto out;
	}
	if (ev.located)
		gsr_note("no DB given: using GPUStack's database '%s'",
			 ev.path);
	for (size_t i = 0; i < ev.n_holders; i++)
		gsr_warn("process %d (%s) has '%s' open: is the GPUStack "
			 "server running?", ev.holders[i].pid,
			 ev.holders[i].comm, ev.path);
	if (!o.recover) {
		int hc = check_header(&ev);

		if (hc < 0)
			goto out;
		pages = hc > 0;
	}
	if (!o.recover && !pages &&
	    ((db = gsr_db_open(&ctx, ev.work_db, false)) == NULL ||
	     gsr_export_db(&ctx, db, "main", tmp, o.fmt, &ev, &res) != 0)) {
		if (ctx.err != GSR_ERR_INPUT) {
			status = gsr_fail(&ctx);
			goto out;
		}
		gsr_warn("SQLite cannot read '%s' (%s): reading its pages directly",
			 ev.path, ctx.msg);
		gsr_ctx_clear(&ctx);
		gsr_export_result_release(&res);
		pages = true;
	}
	sqlite3_close(db);
	db = NULL;
	if ((o.recover || pages) &&
	    export_recovered(&ctx, &o, &ev, tmp, &res, &rec) != 0) {
		status = gsr_fail(&ctx);
		goto out;
	}
	recovered = o.recover || pages;
	if (gsr_evidence_recheck(&ctx, &ev) < 0 ||
	    gsr_ctx_check_cancel(&ctx) != 0) {
		status = gsr_fail(&ctx);
		goto out;
	}
	for (int i = 0; i < GSR_EV_NFILES; i++)
		if (ev.files[i].changed)
			gsr_warn("'%s' changed while it was read (a running "
				 "server?): the export is of the copy taken "
				 "first, whose SHA-256 the manifest gives",
				 ev.files[i].path);
	if (install_dir(tmp, dir, o.out, o.force) != 0)
		goto out;
	gsr_temp_unregister(tmp);
	free(tmp);
	tmp = NULL;
	status = GSR_EXIT_OK;
	/* Damage SQLite met, or that the page reader found. */
	if (recovered && (pages || gsr_recover_lossy(&rec)))
		status = GSR_EXIT_UNRECOVERED;
	if (common->json)
		print_json(&o, &ev, &res, recovered ? &rec : NULL, status);
	else
		print_text(&o, &res, recovered ? &rec : NULL);
out:
	sqlite3_close(db);
	if (tmp != NULL) {
		if (remove_flat(tmp) != 0)
			gsr_warn("cannot remove '%s': %s", tmp,
				 strerror(errno));
		gsr_temp_unregister(tmp);
	}
	gsr_export_result_release(&res);
	gsr_recover_result_release(&rec);
	gsr_evidence_release(&ev);
	free(tmp);
	free(dir);
	return status;
}
