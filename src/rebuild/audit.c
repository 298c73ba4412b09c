/* audit.c -- the audit archive of a rebuild.
 *
 * The audit stages (rebuild_internal.h): the input is teed into a spool
 * as custody copies it; beside the build, a thread begins the archive
 * with the input and the page reader's ledger (and, with
 * --archive-export, others export every source row into spools); the
 * import writes the rows the steps changed or deleted, before and after;
 * once the output is sealed, the archive gets the identify report, the
 * export if made, the quarantine, the changes, the rules, the rebuild's
 * report and log, and its manifest (archive.h), which names the command
 * that regenerates the export from the archived input.  Nothing here
 * runs for a dry run or with --no-archive.
 */
#include "compat.h"
#include "clock.h"
#include "rebuild_internal.h"

#include "rebuild.h"
#include "jsonw.h"
#include "names.h"
#include "paths.h"
#include "recover.h"
#include "schema.h"
#include "tempfiles.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

/* Whether this run writes an archive at all. */
static bool
archived(const struct run *r)
{
	return !r->opts->dry_run && !r->opts->no_archive;
}

/*
 * The archive's threads yield to the main thread, whose build of the
 * output is the longer path: with two cores, the main thread keeps one
 * and the archive's threads share the other (and take both once the
 * main thread waits for them).  Threads they start inherit this.
 */
static void
lower_priority(void)
{
	pid_t tid = gettid();
	int prio;

	errno = 0;
	prio = getpriority(PRIO_PROCESS, (id_t)tid);
	if (errno == 0)
		setpriority(PRIO_PROCESS, (id_t)tid,
		            prio + 5 > 19 ? 19 : prio + 5);
}

/* ---- the input, teed --------------------------------------------- */

static int
tee_begin(struct gsr_ctx *ctx, void *arg, int role)
{
	struct input_tee *t = arg;
	return gsr_archive_pipe_begin(ctx, t->pipe, &t->idx[role]);
}

static int
tee_data(struct gsr_ctx *ctx, void *arg, const void *p, size_t n)
{
	struct input_tee *t = arg;
	return gsr_archive_pipe_write(ctx, t->pipe, p, n);
}

static int
tee_end(struct gsr_ctx *ctx, void *arg, int role, uint64_t size,
        const char sha256[GSR_SHA256_HEX])
{
	struct input_tee *t = arg;
	(void)role;
	return gsr_archive_pipe_end(ctx, t->pipe, size, sha256);
}

int
rb_audit_tee(struct run *r)
{
	struct input_tee *t = &r->tee;

	if (gsr_ctx_failed(r->ctx))
		return -1;
	if (!archived(r))
		return 0;
	if (r->carry && r->carry->ev.workdir && r->carry->sp) {
		/* Custody is not taken again: the input is compressed. */
		t->sp = r->carry->sp;
		r->carry->sp = NULL;
		memcpy(t->idx, r->carry->idx, sizeof t->idx);
		return 0;
	}
	if ((t->sp = gsr_archive_spool_new(r->ctx, gsr_tmp_dir())) == NULL ||
	    (t->pipe = gsr_archive_pipe_new(r->ctx, t->sp)) == NULL)
		return -1;
	t->tee = (struct gsr_evidence_tee){tee_begin, tee_data, tee_end, t};
	r->res->id.ev.tee = &t->tee;
	return 0;
}

/* ---- the export, on the second core ------------------------------- */

/* Threads the export of the source rows for the archive shares its tables
 * among (the big ones then compress side by side). */
#define EXPORT_THREADS 2

static void *
export_main(void *arg)
{
	struct export_job *job = arg;
	double t0 = gsr_now_ms();

	lower_priority();
	gsr_export_spool(&job->ctx, job->work_db, job->spool_dir,
	                 EXPORT_THREADS, job->ev, &job->ex);
	job->ms = gsr_now_ms() - t0;
	return NULL;
}

/* Wait for the export; its error, if any, becomes the run's. */
static int
export_join(struct run *r)
{
	struct export_job *job = &r->export;

	if (job->thread.running) {
		if (gsr_thread_join(r->ctx, &job->thread, &job->ctx,
		                    "export: "))
			return -1;
		rb_log(r,
		       "exported %" PRId64
		       " source row(s) for the archive in %.0f ms "
		       "(in parallel)",
		       job->ex.total_rows, job->ms);
	}
	return gsr_ctx_failed(r->ctx) ? -1 : 0;
}

/* ---- the archive's first members ------------------------------------- */

/* The member name of an input file: its own name when it is plain; a
 * name that tar might read differently becomes database, database-wal... */
static char *
input_member(const struct gsr_ev_file *f, int role)
{
	const char *base = strrchr(f->path, '/');
	bool plain;

	base = base ? base + 1 : f->path;
	plain = base[0] != '.' && gsr_name_is_plain(base, 199, "_.-+");
	return plain ? rb_dupf("input/%s", base)
	             : rb_dupf("input/database%s", role == GSR_EV_DB ? ""
	                                           : role == GSR_EV_WAL
	                                               ? "-wal"
	                                               : "-journal");
}

static void *
input_main(void *arg)
{
	struct input_job *job = arg;
	const struct gsr_rebuild *res = job->res;
	double t0 = gsr_now_ms();

	lower_priority();
	if (gsr_archive_pipe_close(&job->ctx, job->tee->pipe))
		goto out;
	for (int i = 0; i < GSR_EV_NFILES; i++) {
		const struct gsr_ev_file *f = &res->id.ev.files[i];
		if (!f->present)
			continue;
		char *name = input_member(f, i);
		int arc = name ? gsr_archive_add_spooled(&job->ctx, job->ar,
		                                         name, job->tee->sp,
		                                         job->tee->idx[i])
		               : -1;
		free(name);
		if (arc)
			goto out;
	}
	/* Where each recovered row came from, and the rows that are not
	 * live: the page reader's ledger, written by archive_begin(). */
	if (job->recovery_dir &&
	    gsr_archive_add_tree(&job->ctx, job->ar, "recovery",
	                         job->recovery_dir))
		goto out;
out:
	gsr_progress_end(&job->ctx, "archive");
	job->ms = gsr_now_ms() - t0;
	return NULL;
}

/* Create the archive and start writing its first members. */
static int
archive_begin(struct run *r)
{
	struct input_job *job = &r->input;

	job->res = r->res;
	job->tee = &r->tee;
	if (r->res->id.recovered || r->res->id.wal_history) {
		/* Written here, on the main thread: the ledger is read with
		 * SQLite and its files registered for removal on a signal. */
		job->recovery_dir =
		    rb_dupf("%s/recovery", r->res->id.ev.workdir);
		if (job->recovery_dir == NULL)
			return gsr_ctx_fail(r->ctx, GSR_ERR_NOMEM,
			                    "out of memory");
		if (gsr_recover_export_ledger(r->ctx, r->res->id.ledger_db,
		                              &r->res->id.rec,
		                              job->recovery_dir))
			return -1;
	}
	job->ar = gsr_archive_create(r->ctx, r->res->archive_path,
	                             r->opts->force, r->opts->now);
	if (job->ar == NULL)
		return -1;
	return gsr_thread_start(r->ctx, &job->thread, input_main, job);
}

/* Wait for the first members; their error, if any, becomes the run's. */
static int
archive_join(struct run *r)
{
	struct input_job *job = &r->input;

	if (job->thread.running) {
		int rc = gsr_thread_join(r->ctx, &job->thread, &job->ctx, NULL);
		if (job->recovery_dir)
			gsr_recover_forget_ledger_files(job->recovery_dir);
		if (rc)
			return -1;
		rb_log(r,
		       "archive: input written in %.0f ms "
		       "(in parallel)",
		       job->ms);
	}
	return gsr_ctx_failed(r->ctx) ? -1 : 0;
}

int
rb_audit_begin(struct run *r)
{
	struct export_job *job = &r->export;

	if (gsr_ctx_failed(r->ctx))
		return -1;
	if (!archived(r))
		return 0;
	if (r->opts->archive_export) {
		job->work_db = gsr_identify_source_db(&r->res->id);
		job->spool_dir = r->res->id.ev.workdir;
		job->ev = &r->res->id.ev;
		if (gsr_thread_start(r->ctx, &job->thread, export_main, job))
			return -1;
	}
	return archive_begin(r);
}

/* ---- the rows the steps changed or deleted ------------------------------ */

/* A statement on the output connection, or NULL (the table is not there:
 * then the side it reads is null). */
static sqlite3_stmt *
prepare_or_null(sqlite3 *db, char *sql)
{
	sqlite3_stmt *st = NULL;

	if (sql == NULL ||
	    sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK)
		st = NULL;
	sqlite3_free(sql);
	return st;
}

/* The values of the row that st finds for rowid, as an object, or null. */
static void
row_or_null(struct jsonw *jw, sqlite3_stmt *st, int64_t rowid)
{
	if (st == NULL) {
		jw_null(jw);
		return;
	}
	sqlite3_reset(st);
	sqlite3_bind_int64(st, 1, rowid);
	if (sqlite3_step(st) == SQLITE_ROW)
		gsr_json_row_values(jw, st, 0);
	else
		jw_null(jw);
	sqlite3_reset(st);
}

/*
 * The changes of table T into the file path, a line a row in rowid
 * order: {"table", "rowid", "change": "changed"|"deleted", "step" (the
 * step that deleted it), "before": the source's values, "after": the
 * output's (null when the row is not in the output)}.  Streams: one
 * statement over the staging database's record of the steps, and a
 * lookup by rowid on each side.
 */
static int
changes_of(struct run *r, const char *T, const char *path)
{
	const struct gsr_table *st_src = gsr_schema_table(r->src, T);
	const char *rid = st_src ? rb_rowid_name(st_src) : NULL;
	sqlite3_stmt *rows = NULL, *before = NULL, *after = NULL;
	FILE *f = NULL;
	int64_t n = 0;
	int rc = -1, src;

	before = rid ? prepare_or_null(
	                   r->out, sqlite3_mprintf("SELECT * FROM src.\"%w\" "
	                                           "WHERE %s = ?1",
	                                           T, rid))
	             : NULL;
	after = prepare_or_null(
	    r->out,
	    sqlite3_mprintf("SELECT * FROM main.\"%w\" WHERE rowid = ?1", T));
	if (sqlite3_prepare_v2(
	        r->out,
	        "SELECT k.rid, d.step FROM (SELECT rid FROM stg._gsr_touched "
	        "WHERE tbl = ?1 UNION SELECT rid FROM stg._gsr_deleted "
	        "WHERE tbl = ?1) AS k LEFT JOIN stg._gsr_deleted AS d "
	        "ON d.tbl = ?1 AND d.rid = k.rid ORDER BY k.rid",
	        -1, &rows, NULL) != SQLITE_OK) {
		gsr_ctx_fail(r->ctx, GSR_ERR_INTERNAL, "rebuild: changes: %s",
		             sqlite3_errmsg(r->out));
		goto out;
	}
	sqlite3_bind_text(rows, 1, T, -1, SQLITE_STATIC);
	gsr_temp_register(path);
	if ((f = fopen(path, "we")) == NULL) {
		gsr_ctx_fail(r->ctx, GSR_ERR_IO, "cannot create '%s': %s", path,
		             strerror(errno));
		goto out;
	}
	while ((src = sqlite3_step(rows)) == SQLITE_ROW) {
		int64_t rowid = sqlite3_column_int64(rows, 0);
		const char *step = (const char *)sqlite3_column_text(rows, 1);
		struct jsonw jw;

		jw_init(&jw, f, false);
		jw_obj_begin(&jw);
		jw_kstr(&jw, "table", T);
		jw_kint(&jw, "rowid", rowid);
		jw_kstr(&jw, "change", step ? "deleted" : "changed");
		if (step)
			jw_kstr(&jw, "step", step);
		jw_key(&jw, "before");
		row_or_null(&jw, before, rowid);
		jw_key(&jw, "after");
		row_or_null(&jw, after, rowid);
		jw_obj_end(&jw);
		jw_end_line(&jw);
		if (++n % 4096 == 0 && gsr_ctx_check_cancel(r->ctx))
			goto out;
	}
	if (src != SQLITE_DONE) {
		gsr_ctx_fail(r->ctx, GSR_ERR_INTERNAL, "rebuild: changes: %s",
		             sqlite3_errmsg(r->out));
		goto out;
	}
	if (fflush(f) != 0 || ferror(f)) {
		gsr_ctx_fail(r->ctx, GSR_ERR_IO, "cannot write '%s': %s", path,
		             strerror(errno));
		goto out;
	}
	rb_log(r, "%s: %" PRId64 " row(s) changed or deleted by the steps", T,
	       n);
	rc = 0;
out:
	if (f)
		fclose(f);
	sqlite3_finalize(rows);
	sqlite3_finalize(before);
	sqlite3_finalize(after);
	return rc;
}

int
rb_audit_changes(struct run *r)
{
	struct strvec tables = STRVEC_INIT;

	if (gsr_ctx_failed(r->ctx))
		return -1;
	if (!archived(r) || r->stg_path == NULL)
		return 0;
	if (rb_query_texts(r,
	                   "SELECT tbl FROM stg._gsr_touched UNION "
	                   "SELECT tbl FROM stg._gsr_deleted ORDER BY 1",
	                   &tables, "rebuild: changes")) {
		sv_release(&tables);
		return -1;
	}
	for (size_t i = 0; i < tables.n && !gsr_ctx_failed(r->ctx); i++) {
		char *path = rb_dupf("%s/changes-%03zu.jsonl",
		                     r->res->id.ev.workdir, i + 1);
		if (path == NULL || sv_push(&r->chg_tables, tables.v[i]) ||
		    sv_push_owned(&r->chg_paths, path)) {
			gsr_ctx_fail(r->ctx, GSR_ERR_NOMEM, "out of memory");
			break;
		}
		changes_of(r, tables.v[i], path);
	}
	sv_release(&tables);
	return gsr_ctx_failed(r->ctx) ? -1 : 0;
}

/* ---- the rest of the archive ------------------------------------------ */

/* A member name for a table: its own name when it is plain, else N. */
static char *
member_name(const char *dir, size_t n, const char *table, const char *ext)
{
	bool plain = table[0] != '.' && gsr_name_is_plain(table, 127, "_.-");

	return plain ? rb_dupf("%s/%03zu-%s%s", dir, n, table, ext)
	             : rb_dupf("%s/%03zu-table%s", dir, n, ext);
}

/* The manifest's account of the run: output, input, rules, rows. */
static void
write_meta(struct jsonw *jw, void *arg)
{
	const struct run *r = arg;
	const struct gsr_rebuild *res = r->res;

	jw_key(jw, "output");
	jw_obj_begin(jw);
	jw_kstr(jw, "path", res->out_path);
	jw_kstr(jw, "sha256", res->out_sha256);
	jw_kint(jw, "size", (int64_t)res->out_size);
	jw_kstr(jw, "label", res->target->name);
	jw_obj_end(jw);
	jw_key(jw, "input");
	gsr_evidence_write_json(&res->id.ev, jw, true);
	jw_kstr(jw, "rules_dir", r->rules->dir);
	jw_key(jw, "export");
	jw_obj_begin(jw);
	jw_kbool(jw, "included", r->opts->archive_export);
	jw_kstr(jw, "command", r->export_command);
	jw_obj_end(jw);
	jw_key(jw, "rows");
	jw_obj_begin(jw);
	jw_kint(jw, "source", res->total_source);
	jw_kint(jw, "imported", res->total_imported);
	jw_kint(jw, "quarantined", res->total_quarantined);
	jw_obj_end(jw);
}

/* Add a JSON document written by fn as the member name. */
static int
add_json(struct run *r, struct gsr_archive *ar, const char *name,
         void (*fn)(const void *, struct jsonw *), const void *arg)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *m = open_memstream(&buf, &len);
	struct jsonw jw;
	int rc;

	if (m == NULL)
		return gsr_ctx_fail(r->ctx, GSR_ERR_NOMEM, "out of memory");
	jw_init(&jw, m, true);
	jw_obj_begin(&jw);
	fn(arg, &jw);
	jw_obj_end(&jw);
	jw_end_line(&jw);
	if (fclose(m) != 0) {
		free(buf);
		return gsr_ctx_fail(r->ctx, GSR_ERR_NOMEM, "out of memory");
	}
	rc = gsr_archive_add_buffer(r->ctx, ar, name, buf, len);
	free(buf);
	return rc;
}

static void
identify_doc(const void *arg, struct jsonw *jw)
{
	gsr_identify_write_json(arg, jw);
}

static void
rebuild_doc(const void *arg, struct jsonw *jw)
{
	gsr_rebuild_write_json(arg, jw);
}

/* The quarantine files, flushed.  -1 with the error on ctx. */
static int
flush_quarantine(struct run *r)
{
	for (size_t i = 0; i < r->n_q; i++)
		if (r->q[i].f && fflush(r->q[i].f) != 0)
			return gsr_ctx_fail(r->ctx, GSR_ERR_IO,
			                    "cannot write '%s': %s",
			                    r->q[i].path, strerror(errno));
	return 0;
}

/* Add the file at path as DIR/NNN-TABLE.jsonl.  -1 with the error on
 * ctx. */
static int
add_member_file(struct run *r, struct gsr_archive *ar, const char *dir,
                size_t n, const char *table, const char *path)
{
	char *name = member_name(dir, n, table, ".jsonl");
	int rc = name ? gsr_archive_add_file(r->ctx, ar, name, path)
	              : gsr_ctx_fail(r->ctx, GSR_ERR_NOMEM, "out of memory");

	free(name);
	return rc;
}

/* The command that regenerates the export of the source rows from the
 * archived input, as the manifest names it (r->export_command). */
static int
export_command(struct run *r)
{
	char *db = input_member(&r->res->id.ev.files[GSR_EV_DB], GSR_EV_DB);

	if (db)
		r->export_command =
		    rb_dupf("gsrecover export %s%s -o export",
		            r->res->id.recovered ? "--recover " : "", db);
	free(db);
	if (r->export_command == NULL)
		return gsr_ctx_fail(r->ctx, GSR_ERR_NOMEM, "out of memory");
	return 0;
}

/* Finish the archive begun by archive_begin (which it takes over): the
 * export (from its spools) when made, the quarantine, the changes, the
 * rules, the report and log, the manifest. */
static int
archive_end(struct run *r, struct gsr_archive *ar)
{
	struct gsr_rebuild *res = r->res;
	struct strbuf log = STRBUF_INIT;
	int rc = -1;

	/* Written now that identify's checks are in. */
	if (add_json(r, ar, "identify.json", identify_doc, &res->id) ||
	    (r->opts->archive_export &&
	     gsr_export_add_to_archive(r->ctx, ar, "export", &r->export.ex)) ||
	    flush_quarantine(r))
		goto out;
	for (size_t i = 0; i < r->n_q; i++)
		if (add_member_file(r, ar, "quarantine", i + 1, r->q[i].table,
		                    r->q[i].path))
			goto out;
	for (size_t i = 0; i < r->chg_paths.n; i++)
		if (add_member_file(r, ar, "changes", i + 1, r->chg_tables.v[i],
		                    r->chg_paths.v[i]))
			goto out;
	if (gsr_archive_add_tree(r->ctx, ar, "rules", r->rules->dir))
		goto out;
	rb_log(r, "archive: %squarantine, changes and rules written",
	       r->opts->archive_export ? "export, " : "");
	if (add_json(r, ar, "rebuild/report.json", rebuild_doc, res))
		goto out;
	for (size_t i = 0; i < res->log.n; i++)
		sb_addf(&log, "%s\n", res->log.v[i]);
	if (log.failed || gsr_archive_add_buffer(r->ctx, ar, "rebuild/log.txt",
	                                         sb_str(&log), log.len))
		goto out;
	res->archive_members = gsr_archive_n_members(ar) + 1;
	if (export_command(r))
		goto out;
	rc = gsr_archive_finish(r->ctx, ar, write_meta, r, res->archive_sha256);
	ar = NULL;
out:
	gsr_progress_end(r->ctx, "archive");
	gsr_archive_abort(ar);
	sb_release(&log);
	return rc;
}

int
rb_audit_end(struct run *r)
{
	struct gsr_archive *ar;

	if (gsr_ctx_failed(r->ctx))
		return -1;
	if (r->opts->dry_run)
		return 0;
	if (flush_quarantine(r))
		return -1;
	if (r->opts->no_archive)
		return 0;
	if (archive_join(r) || export_join(r))
		return -1; /* the archive is aborted by the cleanup */
	ar = r->input.ar;
	r->input.ar = NULL; /* archive_end takes it over */
	return archive_end(r, ar);
}

int
rb_audit_hand_over(struct run *r)
{
	struct input_tee *t = &r->tee;
	struct gsr_ctx ctx = GSR_CTX_INIT;

	if (!archived(r))
		return 0;
	gsr_thread_join(NULL, &r->input.thread, NULL, NULL);
	if (t->sp == NULL || gsr_ctx_failed(&r->input.ctx) ||
	    gsr_archive_pipe_close(&ctx, t->pipe))
		return -1;
	r->carry->sp = t->sp;
	t->sp = NULL;
	memcpy(r->carry->idx, t->idx, sizeof t->idx);
	return 0;
}

void
rb_audit_cleanup(struct run *r)
{
	gsr_thread_join(NULL, &r->input.thread, NULL, NULL);
	gsr_archive_abort(r->input.ar);
	r->input.ar = NULL;
	gsr_archive_pipe_free(r->tee.pipe);
	gsr_archive_spool_free(r->tee.sp);
	r->tee.pipe = NULL;
	r->tee.sp = NULL;
	r->res->id.ev.tee = NULL;
	if (r->input.recovery_dir)
		gsr_recover_forget_ledger_files(r->input.recovery_dir);
	free(r->input.recovery_dir);
	r->input.recovery_dir = NULL;
	/* A failure in the main thread: stop waiting for the export's
	 * result, not for the thread, which reads our working copy. */
	gsr_thread_join(NULL, &r->export.thread, NULL, NULL);
	gsr_export_result_release(&r->export.ex);
	for (size_t i = 0; i < r->chg_paths.n; i++)
		gsr_temp_unregister(r->chg_paths.v[i]);
	sv_release(&r->chg_paths);
	sv_release(&r->chg_tables);
	free(r->export_command);
	r->export_command = NULL;
}
