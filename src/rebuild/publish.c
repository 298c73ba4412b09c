/* publish.c -- the outputs of a rebuild: named, checked, put in place.
 *
 * The output stages (rebuild_internal.h): name the outputs beside the
 * input unless given, refuse existing ones without --force, and create
 * the new database as a temporary file beside its final path; once the
 * import is done, check it (schema, integrity_check, foreign_key_check)
 * in a thread while it is synced and hashed and the input hashed again;
 * then rename it into place and sync the directory.  A run that fails
 * leaves neither output: the temporary file and its -journal, -wal and
 * -shm are removed, and an archive made for it too.
 */
#include "compat.h"
#include "clock.h"
#include "dirsync.h"
#include "rebuild_internal.h"

#include "rebuild.h"
#include "dbopen.h"
#include "sha256.h"
#include "tempfiles.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <libgen.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* ---- paths ------------------------------------------------------------- */

static bool
exists(const char *path)
{
	struct stat st;
	return lstat(path, &st) == 0;
}

/* fsync a file by its path.  Returns 0, or -1 with errno set. */
static int
fsync_file(const char *path)
{
	int fd = open(path, O_RDWR | O_CLOEXEC);
	int rc;

	if (fd < 0)
		return -1;
	rc = fsync(fd);
	close(fd);
	return rc;
}

static char *
dir_of(const char *path)
{
	char *c = strdup(path), *d;

	if (c == NULL)
		return NULL;
	d = strdup(dirname(c));
	free(c);
	return d;
}

/* "DIR/database" for "DIR/database.db": the stem output names start with. */
static char *
stem_of(const char *path)
{
	char *s = strdup(path);
	char *slash, *dot;

	if (s == NULL)
		return NULL;
	slash = strrchr(s, '/');
	dot = strrchr(s, '.');
	if (dot && (slash == NULL || dot > slash + 1))
		*dot = '\0';
	return s;
}

/* The files SQLite may make beside a database. */
static const char *const sidecars[] = {"-journal", "-wal", "-shm"};

/* Register the temporary output's sidecars for removal on a signal, or
 * (remove) remove them and unregister them. */
static void
out_sidecars(const struct run *r, bool remove)
{
	for (size_t i = 0; i < GSR_ARRAY_LEN(sidecars); i++) {
		char *p = rb_dupf("%s%s", r->out_tmp, sidecars[i]);
		if (p == NULL)
			continue;
		if (remove) {
			unlink(p);
			gsr_temp_unregister(p);
		} else {
			gsr_temp_register(p);
		}
		free(p);
	}
}

/* The outputs' paths: as given, else beside the input, named by its
 * stem, the target and the time of the run. */
static int
name_outputs(struct run *r)
{
	const struct gsr_rebuild_opts *opts = r->opts;
	struct gsr_rebuild *res = r->res;
	char *stem = stem_of(res->id.ev.path), stamp[32];

	if (stem == NULL)
		return -1;
	strftime(stamp, sizeof stamp, "%Y%m%dT%H%M%SZ", gmtime(&opts->now));
	res->out_path = opts->out_path ? strdup(opts->out_path)
	                               : rb_dupf("%s.rebuilt-%s.db", stem,
	                                         res->target->name);
	res->archive_path = opts->no_archive ? NULL
	                    : opts->archive_path
	                        ? strdup(opts->archive_path)
	                        : rb_dupf("%s.audit-%s.tar.zst", stem, stamp);
	free(stem);
	return res->out_path == NULL ||
	               (!opts->no_archive && res->archive_path == NULL)
	           ? -1
	           : 0;
}

/* The new database's temporary path, registered for removal on a
 * signal: in the working directory for a dry run, else a new file beside
 * the output, made and registered in one step (a signal cannot leave it
 * beside the output). */
static int
make_temp_output(struct run *r)
{
	int fd;

	if (r->opts->dry_run) {
		r->out_tmp = rb_dupf("%s/rebuilt.db", r->res->id.ev.workdir);
		if (r->out_tmp == NULL)
			return gsr_ctx_fail(r->ctx, GSR_ERR_NOMEM,
			                    "out of memory");
		gsr_temp_register(r->out_tmp);
		return 0;
	}
	if ((r->outdir = dir_of(r->res->out_path)) == NULL ||
	    (r->out_tmp = rb_dupf("%s.tmp-XXXXXX", r->res->out_path)) == NULL)
		return gsr_ctx_fail(r->ctx, GSR_ERR_NOMEM, "out of memory");
	if ((fd = gsr_temp_mkstemp(r->out_tmp)) < 0) {
		gsr_ctx_fail(r->ctx, GSR_ERR_IO,
		             "cannot create a file in '%s': %s", r->outdir,
		             strerror(errno));
		free(r->out_tmp);
		r->out_tmp = NULL;
		return -1;
	}
	close(fd);
	return 0;
}

int
rb_outputs(struct run *r)
{
	const struct gsr_rebuild *res = r->res;

	if (gsr_ctx_failed(r->ctx))
		return -1;
	if (name_outputs(r))
		return gsr_ctx_fail(r->ctx, GSR_ERR_NOMEM, "out of memory");
	if (!r->opts->dry_run && !r->opts->force) {
		const char *p = exists(res->out_path) ? res->out_path
		                : res->archive_path && exists(res->archive_path)
		                    ? res->archive_path
		                    : NULL;
		if (p)
			return gsr_ctx_fail(
			    r->ctx, GSR_ERR_EXISTS,
			    "'%s' exists (--force overwrites it)", p);
	}
	if (make_temp_output(r))
		return -1;
	out_sidecars(r, false);
	return 0;
}

/* ---- the checks of the output ------------------------------------- */

/* The output must be what the target release's migrations create: its
 * schema exactly and integrity_check clean (check_output_fk() does the
 * foreign keys).  Reads db (the output) only; errors go to ctx. */
static int
check_output(struct gsr_ctx *ctx, sqlite3 *db, const struct gsr_label *target)
{
	struct gsr_schema *s = gsr_schema_extract(ctx, db);
	sqlite3_stmt *st = NULL;
	const char *msg;
	int rc = -1;

	if (s == NULL)
		return -1;
	if (!gsr_schema_same(target->schema, s, false)) {
		gsr_ctx_fail(ctx, GSR_ERR_INTERNAL,
		             "the rebuilt schema is not exactly %s's",
		             target->name);
		goto out;
	}
	if (sqlite3_prepare_v2(db, "PRAGMA main.integrity_check(1)", -1, &st,
	                       NULL) != SQLITE_OK ||
	    sqlite3_step(st) != SQLITE_ROW ||
	    (msg = (const char *)sqlite3_column_text(st, 0)) == NULL ||
	    strcmp(msg, "ok") != 0) {
		msg = st ? (const char *)sqlite3_column_text(st, 0) : NULL;
		gsr_ctx_fail(ctx, GSR_ERR_INTERNAL,
		             "the rebuilt database fails "
		             "integrity_check: %s",
		             msg ? msg : sqlite3_errmsg(db));
		goto out;
	}
	rc = 0;
out:
	sqlite3_finalize(st);
	gsr_schema_free(s);
	return rc;
}

/* The output's foreign_key_check must be clean.  Reads db only; errors go
 * to ctx. */
static int
check_output_fk(struct gsr_ctx *ctx, sqlite3 *db)
{
	sqlite3_stmt *st = NULL;
	int rc = 0;

	if (sqlite3_prepare_v2(db,
	                       "SELECT count(*) FROM pragma_foreign_key_check",
	                       -1, &st, NULL) != SQLITE_OK ||
	    sqlite3_step(st) != SQLITE_ROW)
		rc = gsr_ctx_fail(ctx, GSR_ERR_INTERNAL,
		                  "cannot check the rebuilt database's "
		                  "foreign keys: %s",
		                  sqlite3_errmsg(db));
	else if (sqlite3_column_int64(st, 0) != 0)
		rc = gsr_ctx_fail(ctx, GSR_ERR_INTERNAL,
		                  "the rebuilt database fails "
		                  "foreign_key_check");
	sqlite3_finalize(st);
	return rc;
}

/* SQLite's progress callback: stop a check once a signal has come. */
static int
verify_progress(void *arg)
{
	(void)arg;
	return gsr_cancel_requested();
}

/* The checks of the output, in a thread (struct verify_job). */
static void *
verify_main(void *arg)
{
	struct verify_job *job = arg;
	double t0 = gsr_now_ms();
	sqlite3 *db = gsr_db_open(&job->ctx, job->path, false);

	if (db != NULL) {
		sqlite3_progress_handler(db, 10000, verify_progress, NULL);
		if (job->fk)
			check_output_fk(&job->ctx, db);
		else
			check_output(&job->ctx, db, job->target);
	}
	sqlite3_close(db);
	/* A check cut short by a signal did not fail: the run was
	 * interrupted. */
	if (gsr_cancel_requested()) {
		gsr_ctx_clear(&job->ctx);
		gsr_ctx_check_cancel(&job->ctx);
	}
	job->ms = gsr_now_ms() - t0;
	return NULL;
}

/* Put the output, closed by the caller, in WAL mode, on a connection of
 * its own: the mode is written in the file's header, so that GPUStack
 * opens it as its own migrations left it. */
static int
set_wal_mode(struct run *r)
{
	sqlite3 *db = gsr_db_open(r->ctx, r->out_tmp, false);
	sqlite3_stmt *st = NULL;
	const char *mode;
	int rc = -1;

	if (db == NULL)
		return -1;
	if (sqlite3_prepare_v2(db, "PRAGMA main.journal_mode=WAL", -1, &st,
	                       NULL) == SQLITE_OK &&
	    sqlite3_step(st) == SQLITE_ROW &&
	    (mode = (const char *)sqlite3_column_text(st, 0)) != NULL &&
	    !strcmp(mode, "wal"))
		rc = 0;
	else
		gsr_ctx_fail(r->ctx, GSR_ERR_IO,
		             "cannot put the rebuilt database in WAL mode: %s",
		             sqlite3_errmsg(db));
	sqlite3_finalize(st);
	sqlite3_close(db);
	return rc;
}

int
rb_check(struct run *r)
{
	const struct gsr_label *t = r->res->target;

	if (gsr_ctx_failed(r->ctx))
		return -1;
	if (sqlite3_close(r->out) != SQLITE_OK)
		return gsr_ctx_fail(r->ctx, GSR_ERR_IO,
		                    "cannot close the rebuilt "
		                    "database: %s",
		                    sqlite3_errmsg(r->out));
	r->out = NULL;
	/* Before the checks: the change of mode wants the file to
	 * itself. */
	if (!strcmp(t->journal, "wal") && set_wal_mode(r))
		return -1;
	/* The checks only read: they run while the file is synced and
	 * hashed, integrity_check and foreign_key_check each on a thread. */
	for (int i = 0; i < 2; i++) {
		struct verify_job *job = &r->verify[i];

		job->ctx = (struct gsr_ctx)GSR_CTX_INIT;
		job->path = r->out_tmp;
		job->target = t;
		job->fk = i == 1;
		if (gsr_thread_start(r->ctx, &job->thread, verify_main, job))
			return -1;
	}
	if (fsync_file(r->out_tmp) != 0)
		return gsr_ctx_fail(r->ctx, GSR_ERR_IO, "cannot write '%s': %s",
		                    r->out_tmp, strerror(errno));
	return 0;
}

/* Wait for the checks; their failure becomes the run's. */
static int
verify_join(struct run *r)
{
	struct verify_job *v = r->verify;

	if (!v[0].thread.running)
		return gsr_ctx_failed(r->ctx) ? -1 : 0;
	if (gsr_thread_join(r->ctx, &v[0].thread, &v[0].ctx, NULL) ||
	    gsr_thread_join(r->ctx, &v[1].thread, &v[1].ctx, NULL))
		return -1;
	rb_log(r,
	       "integrity_check and foreign_key_check pass; schema is %s's "
	       "(checked in %.0f and %.0f ms, in parallel)",
	       r->res->target->name, v[0].ms, v[1].ms);
	return gsr_ctx_failed(r->ctx) ? -1 : 0;
}

static int
hash_file(struct gsr_ctx *ctx, const char *path, char out[GSR_SHA256_HEX],
          uint64_t *size)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0 || gsr_sha256_fd(fd, out, size) != 0) {
		if (fd >= 0)
			close(fd);
		return gsr_ctx_fail(ctx, GSR_ERR_IO, "cannot read '%s': %s",
		                    path, strerror(errno));
	}
	close(fd);
	return 0;
}

int
rb_seal(struct run *r)
{
	struct gsr_rebuild *res = r->res;

	if (gsr_ctx_failed(r->ctx))
		return -1;
	/* While the output is checked: hash it, and the input again (its
	 * bytes were all read; what follows only writes). */
	if (hash_file(r->ctx, r->out_tmp, res->out_sha256, &res->out_size) ||
	    gsr_evidence_recheck(r->ctx, &res->id.ev) < 0 || verify_join(r))
		return -1;
	rb_log(r, "rebuilt database: %" PRIu64 " bytes, sha256 %s",
	       res->out_size, res->out_sha256);
	return 0;
}

/* ---- into place -------------------------------------------------------- */

int
rb_publish(struct run *r)
{
	const char *out = r->res->out_path;

	if (gsr_ctx_failed(r->ctx))
		return -1;
	if (r->opts->dry_run)
		return 0;
	if (gsr_ctx_check_cancel(r->ctx))
		return -1;
	if (r->opts->force && exists(out) && unlink(out) != 0)
		return gsr_ctx_fail(r->ctx, GSR_ERR_IO,
		                    "cannot replace '%s': %s", out,
		                    strerror(errno));
	if (rename(r->out_tmp, out) != 0)
		return gsr_ctx_fail(r->ctx, GSR_ERR_IO,
		                    "cannot rename to '%s': %s", out,
		                    strerror(errno));
	gsr_temp_unregister(r->out_tmp);
	gsr_sync_dir(r->outdir);
	return 0;
}

void
rb_publish_cleanup(struct run *r, bool failed)
{
	const struct gsr_rebuild *res = r->res;

	gsr_thread_join(NULL, &r->verify[0].thread, NULL, NULL);
	gsr_thread_join(NULL, &r->verify[1].thread, NULL, NULL);
	if (failed && res->archive_path && !r->opts->dry_run &&
	    res->archive_sha256[0] && exists(res->archive_path))
		unlink(res->archive_path); /* made, but its database was not */
	if (r->out_tmp) {
		unlink(r->out_tmp);
		gsr_temp_unregister(r->out_tmp);
		out_sidecars(r, true);
	}
	free(r->out_tmp);
	free(r->outdir);
	r->out_tmp = NULL;
	r->outdir = NULL;
}
