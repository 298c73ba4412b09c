/* export_run.c -- gsrecover export as one engine call: the output
 * directory, custody, the header check, SQLite or the page reader, and
 * the rename that makes the export appear whole (export.h). */
#include "compat.h"
#include "export.h"

#include "dbopen.h"
#include "dirsync.h"
#include "recover.h"
#include "rules.h"
#include "sqlhdr.h"
#include "tempfiles.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* What an earlier export's manifest starts with (jsonw's pretty form). */
#define MANIFEST_SIGNATURE "{\n  \"format\": \"gsrecover-export\","

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
 * --force replaces dir only when losing it loses nothing but an earlier
 * export: an empty directory, or one that holds only regular files (and
 * the directory recovery/), among them a manifest.json of gsrecover's.
 * Returns 0, or -1 with GSR_ERR_EXISTS on ctx naming dir as shown.
 */
static int
check_replaceable(struct gsr_ctx *ctx, const char *dir, const char *shown)
{
	char buf[sizeof MANIFEST_SIGNATURE] = {0};
	struct dirent *de;
	struct stat st;
	bool manifest = false, entries = false, others = false;
	DIR *d = NULL;
	int fd = -1, rc = -1;

	if (lstat(dir, &st) != 0 || !S_ISDIR(st.st_mode) ||
	    (d = opendir(dir)) == NULL) {
		gsr_ctx_fail(ctx, GSR_ERR_EXISTS,
		             "'%s' exists and is not a directory gsrecover can "
		             "replace",
		             shown);
		goto out;
	}
	while ((de = readdir(d)) != NULL) {
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		entries = true;
		if (fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) !=
		        0 ||
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
		gsr_ctx_fail(ctx, GSR_ERR_EXISTS,
		             "'%s' exists and does not hold an export: not "
		             "replacing it",
		             shown);
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

/*
 * Put the finished export tmp in the place of dir, an earlier export:
 * dir is renamed aside, tmp renamed to dir, and the old export removed,
 * so that dir always holds a whole export.  An old export that cannot be
 * removed is rep->old_left; one that cannot be put back after a failure
 * is rep->old_kept.  Returns 0, or -1 with the error on ctx, leaving tmp
 * to the caller and dir as it was.
 */
static int
replace_dir(struct gsr_ctx *ctx, const char *tmp, const char *dir,
            const char *shown, struct gsr_export_report *rep)
{
	struct gsr_temp_hold h;
	bool held = false;
	char *aside = NULL;
	int rc = -1;

	if (check_replaceable(ctx, dir, shown) != 0)
		goto out;
	if (asprintf(&aside, "%s.old-XXXXXX", dir) < 0) {
		aside = NULL;
		gsr_ctx_fail(ctx, GSR_ERR_NOMEM, "out of memory");
		goto out;
	}
	/* From the making of the aside directory until the old export in
	 * it is registered for removal, a signal waits: it would leave an
	 * empty directory, or the old export under another name. */
	held = true;
	if (gsr_temp_hold(&h) != 0) {
		gsr_ctx_fail(ctx, GSR_ERR_CANCELED, "interrupted");
		goto out;
	}
	/* An empty directory of our own, which rename() may replace. */
	if (mkdtemp(aside) == NULL) {
		gsr_ctx_fail(ctx, GSR_ERR_IO,
		             "cannot create a directory beside '%s': %s", shown,
		             strerror(errno));
		goto out;
	}
	if (rename(dir, aside) != 0) {
		gsr_ctx_fail(ctx, GSR_ERR_IO, "cannot rename '%s' aside: %s",
		             shown, strerror(errno));
		rmdir(aside);
		goto out;
	}
	if (rename(tmp, dir) != 0) {
		gsr_ctx_fail(ctx, GSR_ERR_IO, "cannot rename '%s' to '%s': %s",
		             tmp, shown, strerror(errno));
		if (rename(aside, dir) != 0) {
			rep->old_kept = aside;
			aside = NULL;
		}
		goto out;
	}
	gsr_temp_register(aside);
	gsr_temp_resume(&h);
	held = false;
	if (remove_flat(aside) != 0) {
		rep->old_errno = errno;
		rep->old_left = strdup(aside);
	}
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
 * Returns 0, or -1 with the error on ctx, leaving tmp to the caller.
 */
static int
install_dir(struct gsr_ctx *ctx, const char *tmp, const char *dir,
            const char *shown, bool force, struct gsr_export_report *rep)
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
			return gsr_ctx_fail(ctx, GSR_ERR_IO,
			                    "cannot rename '%s' to '%s': %s",
			                    tmp, shown, strerror(errno));
		if (!force)
			return gsr_ctx_fail(
			    ctx, GSR_ERR_EXISTS,
			    "'%s' exists: give --force to replace "
			    "it",
			    shown);
		if (replace_dir(ctx, tmp, dir, shown, rep) != 0)
			return -1;
	}
	if (gsr_sync_parent(dir) != 0)
		return gsr_ctx_fail(ctx, GSR_ERR_IO,
		                    "cannot sync the directory of '%s': %s",
		                    shown, strerror(errno));
	return 0;
}

/*
 * The copy must start with an SQLite header.  Returns 0 when it does; 1
 * when it does not but a file of whole pages may still hold rows, for the
 * page reader (rep->fallback, rep->why); -1 with GSR_ERR_INPUT on ctx
 * otherwise, for a compressed file or an archive with how to unpack it.
 * A file shorter than its header declares gets the page count of its
 * working copy lowered, as identify does, so the pages that are there
 * export (rep->fit_pages).
 */
static int
check_header(struct gsr_ctx *ctx, struct gsr_export_report *rep)
{
	struct gsr_evidence *ev = &rep->ev;
	/* The header, and far enough for a tar header's magic. */
	unsigned char buf[512];
	ssize_t n = -1;
	int fd = open(ev->work_db, O_RDONLY | O_CLOEXEC);
	const char *why = NULL;
	char *packed = NULL;
	struct gsr_sqlhdr h;

	if (fd >= 0) {
		n = pread(fd, buf, sizeof buf, 0);
		close(fd);
	}
	if (n < 0)
		why = "cannot be read";
	else if (n == 0)
		why = "the file is empty";
	else if ((packed = gsr_sqlhdr_packed(buf, (size_t)n, ev->path)) !=
	         NULL) {
		/* Compressed, or an archive: no pages to read. */
		gsr_ctx_fail(ctx, GSR_ERR_INPUT, "'%s': %s", ev->path, packed);
		free(packed);
		return -1;
	} else if (!gsr_sqlhdr_is_sqlite(buf, (size_t)n))
		why = "not an SQLite database (no SQLite header)";
	else if (n < GSR_SQLHDR_SIZE)
		why = "the file is shorter than an SQLite header";
	if (why == NULL) {
		gsr_sqlhdr_decode(buf, &h);
		if (h.version_valid_for == h.change_counter && h.n_pages)
			rep->fit_pages = gsr_evidence_fit_page_count(
			    ctx, ev, h.page_size, h.n_pages);
		rep->header_pages = h.n_pages;
		return rep->fit_pages < 0 ? -1 : 0;
	}
	/* A file of whole pages may still hold rows: the page reader tries. */
	if (ev->files[GSR_EV_DB].size >= 512) {
		rep->fallback = GSR_EXPORT_FALLBACK_HEADER;
		snprintf(rep->why, sizeof rep->why, "%s", why);
		return 1;
	}
	return gsr_ctx_fail(ctx, GSR_ERR_INPUT, "'%s': %s", ev->path, why);
}

/*
 * The page reader's export: recover the input into ev->workdir, export
 * the recovered database into tmp and the ledger into tmp/recovery, with
 * the rules of rules_dir (when given and they load; else rep->rules_error
 * says why not) for a schema sqlite_master no longer gives.  damaged
 * when the header or SQLite already found the file damaged (the page
 * reader then tries no VACUUM INTO of it).  Returns 0, or -1 with the
 * error on ctx.
 */
static int
export_recovered(struct gsr_ctx *ctx, const char *rules_dir, const char *tmp,
                 enum gsr_export_format fmt, struct gsr_export_report *rep,
                 bool damaged)
{
	const struct gsr_evidence *ev = &rep->ev;
	struct gsr_rules *rules = NULL;
	struct gsr_recover_opts ro = {
	    .wal_path = gsr_evidence_image(ev, GSR_EV_WAL),
	    .journal_path = gsr_evidence_image(ev, GSR_EV_JOURNAL),
	    .deleted = true,
	    /* The working copy, when there is no pristine one. */
	    .sqlite_reads_image = ev->files[GSR_EV_DB].pristine == NULL,
	    .damaged = damaged,
	};
	char *out = NULL, *led = NULL, *dir = NULL;
	sqlite3 *db = NULL;
	int rc = -1;

	rep->rules_error = gsr_ctx_child(ctx);
	if (rules_dir &&
	    gsr_rules_load(&rep->rules_error, rules_dir, &rules, NULL) != 0 &&
	    rep->rules_error.err == GSR_ERR_CANCELED) {
		gsr_ctx_fail(ctx, GSR_ERR_CANCELED, "%s", rep->rules_error.msg);
		gsr_ctx_clear(&rep->rules_error);
		goto out;
	}
	ro.rules = rules;
	if (asprintf(&out, "%s/recovered.db", ev->workdir) < 0 ||
	    asprintf(&led, "%s/ledger.db", ev->workdir) < 0 ||
	    asprintf(&dir, "%s/recovery", tmp) < 0) {
		gsr_ctx_fail(ctx, GSR_ERR_NOMEM, "out of memory");
		goto out;
	}
	gsr_temp_register(out);
	gsr_temp_register(led);
	rep->recovered = true;
	if (gsr_recover_run(ctx, gsr_evidence_image(ev, GSR_EV_DB), &ro, out,
	                    led, &rep->rec) != 0 ||
	    (db = gsr_db_open(ctx, out, false)) == NULL ||
	    gsr_export_db(ctx, db, "main", tmp, fmt, ev, &rep->export) != 0 ||
	    gsr_recover_export_ledger(ctx, led, &rep->rec, dir) != 0)
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

/*
 * Check that out (as given) may be written, with dir its name without a
 * trailing '/' in *dir, and make the temporary directory beside it,
 * registered, in *tmp.  Returns 0, or -1 with the error on ctx.
 */
static int
make_tmp(struct gsr_ctx *ctx, const struct gsr_export_opts *opts, char **dir,
         char **tmp)
{
	struct stat st;

	/* "out/" names out: the temporary directory goes beside it. */
	if ((*dir = strdup(opts->out)) == NULL)
		return gsr_ctx_fail(ctx, GSR_ERR_NOMEM, "out of memory");
	for (size_t n = strlen(*dir); n > 1 && (*dir)[n - 1] == '/'; n--)
		(*dir)[n - 1] = '\0';
	if (lstat(*dir, &st) == 0) {
		if (!opts->force)
			return gsr_ctx_fail(
			    ctx, GSR_ERR_EXISTS,
			    "'%s' exists: give --force to replace "
			    "it",
			    opts->out);
		if (check_replaceable(ctx, *dir, opts->out) != 0)
			return -1;
	} else if (errno != ENOENT) {
		return gsr_ctx_fail(ctx, GSR_ERR_IO, "cannot use '%s': %s",
		                    opts->out, strerror(errno));
	}
	if (asprintf(tmp, "%s.tmp-XXXXXX", *dir) < 0) {
		*tmp = NULL;
		return gsr_ctx_fail(ctx, GSR_ERR_NOMEM, "out of memory");
	}
	/* Made and registered in one step: a signal cannot leave it. */
	if (gsr_temp_mkdtemp(*tmp) == NULL) {
		gsr_ctx_fail(ctx, GSR_ERR_IO,
		             "cannot create a directory beside '%s': %s",
		             opts->out, strerror(errno));
		free(*tmp);
		*tmp = NULL;
		return -1;
	}
	return 0;
}

/*
 * Read the input into tmp: by SQLite unless the header or SQLite itself
 * sends the rows to the page reader, or opts->recover does.  Returns 0, or
 * -1 with the error on ctx.
 */
static int
export_into(struct gsr_ctx *ctx, const char *rules_dir,
            const struct gsr_export_opts *opts, const char *tmp,
            struct gsr_export_report *rep)
{
	sqlite3 *db = NULL;
	int hc = 0;

	if (!opts->recover && (hc = check_header(ctx, rep)) < 0)
		return -1;
	if (!opts->recover && hc == 0 &&
	    ((db = gsr_db_open(ctx, rep->ev.work_db, false)) == NULL ||
	     gsr_export_db(ctx, db, "main", tmp, opts->fmt, &rep->ev,
	                   &rep->export) != 0)) {
		sqlite3_close(db);
		if (ctx->err != GSR_ERR_INPUT)
			return -1;
		rep->fallback = GSR_EXPORT_FALLBACK_SQLITE;
		snprintf(rep->why, sizeof rep->why, "%s", ctx->msg);
		gsr_ctx_clear(ctx);
		gsr_export_result_release(&rep->export);
		return export_recovered(ctx, rules_dir, tmp, opts->fmt, rep,
		                        true);
	}
	sqlite3_close(db);
	if (opts->recover || hc > 0)
		return export_recovered(ctx, rules_dir, tmp, opts->fmt, rep,
		                        hc > 0);
	return 0;
}

int
gsr_export_run(struct gsr_ctx *ctx, const char *rules_dir, const char *path,
               const struct gsr_export_opts *opts,
               struct gsr_export_report *rep)
{
	char *dir = NULL, *tmp = NULL;
	int rc = -1;

	if (gsr_ctx_failed(ctx))
		return -1;
	if (make_tmp(ctx, opts, &dir, &tmp) != 0 ||
	    gsr_evidence_open(ctx, &rep->ev, path) != 0)
		goto out;
	rep->custody = true;
	if (export_into(ctx, rules_dir, opts, tmp, rep) != 0 ||
	    gsr_evidence_recheck(ctx, &rep->ev) < 0 ||
	    gsr_ctx_check_cancel(ctx) != 0 ||
	    install_dir(ctx, tmp, dir, opts->out, opts->force, rep) != 0)
		goto out;
	gsr_temp_unregister(tmp);
	free(tmp);
	tmp = NULL;
	rc = 0;
out:
	if (tmp != NULL) {
		if (remove_flat(tmp) != 0) {
			rep->tmp_errno = errno;
			rep->tmp_left = strdup(tmp);
		}
		gsr_temp_unregister(tmp);
	}
	free(tmp);
	free(dir);
	return rc;
}

void
gsr_export_report_release(struct gsr_export_report *rep)
{
	gsr_evidence_release(&rep->ev);
	gsr_export_result_release(&rep->export);
	gsr_recover_result_release(&rep->rec);
	free(rep->old_left);
	free(rep->old_kept);
	free(rep->tmp_left);
	*rep = (struct gsr_export_report)GSR_EXPORT_REPORT_INIT;
}

bool
gsr_export_lossy(const struct gsr_export_report *rep)
{
	return rep->recovered && (rep->fallback != GSR_EXPORT_NO_FALLBACK ||
	                          gsr_recover_lossy(&rep->rec));
}
