/* audit.c -- the audit archive of a rebuild.
 *
 * The audit stages (rebuild_internal.h): the input is teed into a spool
 * as custody copies it; beside the build, one thread exports every
 * source row into spools and another begins the archive with the input
 * and the page reader's ledger; once the output is sealed, the archive
 * gets the identify report, the export, the quarantine, the rules, the
 * rebuild's report and log, and its manifest (archive.h).  Nothing here
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
	job->work_db = gsr_identify_source_db(&r->res->id);
	job->spool_dir = r->res->id.ev.workdir;
	job->ev = &r->res->id.ev;
	if (gsr_thread_start(r->ctx, &job->thread, export_main, job))
		return -1;
	return archive_begin(r);
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

/* Finish the archive begun by archive_begin (which it takes over): the
 * export (from its spools), the quarantine, the rules, the report and
 * log, the manifest. */
static int
archive_end(struct run *r, struct gsr_archive *ar)
{
	struct gsr_rebuild *res = r->res;
	struct strbuf log = STRBUF_INIT;
	int rc = -1;

	/* Written now that identify's checks are in. */
	if (add_json(r, ar, "identify.json", identify_doc, &res->id) ||
	    gsr_export_add_to_archive(r->ctx, ar, "export", &r->export.ex) ||
	    flush_quarantine(r))
		goto out;
	for (size_t i = 0; i < r->n_q; i++) {
		char *name =
		    member_name("quarantine", i + 1, r->q[i].table, ".jsonl");
		int arc =
		    name ? gsr_archive_add_file(r->ctx, ar, name, r->q[i].path)
		         : gsr_ctx_fail(r->ctx, GSR_ERR_NOMEM, "out of memory");
		free(name);
		if (arc)
			goto out;
	}
	if (gsr_archive_add_tree(r->ctx, ar, "rules", r->rules->dir))
		goto out;
	rb_log(r, "archive: export, quarantine and rules written");
	if (add_json(r, ar, "rebuild/report.json", rebuild_doc, res))
		goto out;
	for (size_t i = 0; i < res->log.n; i++)
		sb_addf(&log, "%s\n", res->log.v[i]);
	if (log.failed || gsr_archive_add_buffer(r->ctx, ar, "rebuild/log.txt",
	                                         sb_str(&log), log.len))
		goto out;
	res->archive_members = gsr_archive_n_members(ar) + 1;
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
}
