/* evidence.c -- copy-and-hash custody of the input files. */
#include "compat.h"
#include "evidence.h"

#include "fdio.h"

#include "jsonw.h"
#include "paths.h"
#include "strbuf.h"
#include "tempfiles.h"

#include <dirent.h>
#include <ftw.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

static const char *const ev_roles[GSR_EV_NFILES] = {"database", "wal",
                                                    "journal"};
static const char *const ev_suffix[GSR_EV_NFILES] = {"", "-wal", "-journal"};
/* Files SQLite may create beside the copy; removed with the directory. */
static const char *const work_sidecars[] = {"", "-wal", "-journal", "-shm"};

/*
 * Copy the open evidence file fd to dst (created, must not exist), hashing
 * what is read.  The hash is of exactly the bytes copied, so the copy and
 * the report cannot disagree even if the original changes meanwhile.
 * Reports the bytes copied as the phase "custody" (ctx.h), which
 * gsr_evidence_open() ends.
 */
static int
copy_and_hash(struct gsr_ctx *ctx, const struct gsr_evidence_tee *tee, int role,
              struct gsr_ev_file *f, int fd, const char *dst)
{
	enum { CHUNK = 1 << 20 };
	struct gsr_sha256 h;
	unsigned char *buf = NULL;
	int out = -1, rc = -1;
	uint64_t total = 0, size = 0;
	struct stat st;

	if (fstat(fd, &st) == 0 && st.st_size > 0)
		size = (uint64_t)st.st_size;
	gsr_progress(ctx, "custody", GSR_PROGRESS_BYTES, 0, size);
	if ((buf = malloc(CHUNK)) == NULL) {
		gsr_ctx_fail(ctx, GSR_ERR_NOMEM, "out of memory");
		goto out;
	}
	out = open(dst, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (out < 0) {
		gsr_ctx_fail(ctx, GSR_ERR_IO, "cannot create '%s': %s", dst,
		             strerror(errno));
		goto out;
	}
	gsr_sha256_init(&h);
	if (tee && tee->begin(ctx, tee->arg, role))
		goto out;
	for (;;) {
		ssize_t n;

		if (gsr_ctx_check_cancel(ctx))
			goto out;
		n = read(fd, buf, CHUNK);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			gsr_ctx_fail(ctx, GSR_ERR_INPUT, "cannot read '%s': %s",
			             f->path, strerror(errno));
			goto out;
		}
		if (n == 0)
			break;
		gsr_sha256_update(&h, buf, (size_t)n);
		if (total < sizeof f->head) {
			size_t k = sizeof f->head - (size_t)total;
			if (k > (size_t)n)
				k = (size_t)n;
			memcpy(f->head + total, buf, k);
			f->head_len = (size_t)total + k;
		}
		if (gsr_write_all(out, buf, (size_t)n)) {
			gsr_ctx_fail(ctx, GSR_ERR_IO, "cannot write '%s': %s",
			             dst, strerror(errno));
			goto out;
		}
		if (tee && tee->data(ctx, tee->arg, buf, (size_t)n))
			goto out;
		total += (uint64_t)n;
		gsr_progress(ctx, "custody", GSR_PROGRESS_BYTES, total, size);
	}
	gsr_sha256_hex(&h, f->sha256);
	f->size = total;
	if (tee && tee->end(ctx, tee->arg, role, total, f->sha256))
		goto out;
	rc = 0;
out:
	if (out >= 0 && close(out) != 0 && rc == 0)
		rc = gsr_ctx_fail(ctx, GSR_ERR_IO, "cannot write '%s': %s", dst,
		                  strerror(errno));
	free(buf);
	return rc;
}

static void
add_holder(struct gsr_evidence *ev, int pid, const char *how)
{
	char p[64];
	FILE *fp;

	for (size_t i = 0; i < ev->n_holders; i++)
		if (ev->holders[i].pid == pid)
			return;
	if (gsr_grow((void **)&ev->holders, &ev->cap_holders, ev->n_holders + 1,
	             sizeof *ev->holders))
		return;
	struct gsr_holder *hd = &ev->holders[ev->n_holders++];
	hd->pid = pid;
	snprintf(hd->how, sizeof hd->how, "%s", how);
	snprintf(p, sizeof p, "/proc/%d/comm", pid);
	snprintf(hd->comm, sizeof hd->comm, "?");
	if ((fp = fopen(p, "re")) != NULL) {
		if (fgets(hd->comm, sizeof hd->comm, fp))
			hd->comm[strcspn(hd->comm, "\n")] = '\0';
		fclose(fp);
	}
}

static bool
is_evidence_inode(const struct gsr_evidence *ev, dev_t dev, ino_t ino)
{
	for (int i = 0; i < GSR_EV_NFILES; i++)
		if (ev->files[i].present && ev->files[i].dev == dev &&
		    ev->files[i].ino == ino)
			return true;
	return false;
}

/*
 * Find other processes that hold the database or its WAL open, or hold a
 * POSIX lock on it: a running GPUStack server.  Best effort: /proc entries
 * we may not read are skipped silently.
 */
static void
find_holders(struct gsr_evidence *ev)
{
	DIR *proc = opendir("/proc");
	struct dirent *de;
	FILE *locks;
	char line[512];
	int self = (int)getpid();

	if (proc != NULL) {
		while ((de = readdir(proc)) != NULL) {
			char fdpath[300];
			DIR *fds;
			struct dirent *fe;
			char *end;
			long pid = strtol(de->d_name, &end, 10);

			if (*end != '\0' || pid <= 0 || pid > INT32_MAX ||
			    pid == self)
				continue;
			snprintf(fdpath, sizeof fdpath, "/proc/%ld/fd", pid);
			if ((fds = opendir(fdpath)) == NULL)
				continue;
			while ((fe = readdir(fds)) != NULL) {
				char lp[600];
				struct stat st;

				if (fe->d_name[0] == '.')
					continue;
				snprintf(lp, sizeof lp, "%s/%s", fdpath,
				         fe->d_name);
				if (stat(lp, &st) == 0 &&
				    is_evidence_inode(ev, st.st_dev,
				                      st.st_ino)) {
					add_holder(ev, (int)pid, "open");
					break;
				}
			}
			closedir(fds);
		}
		closedir(proc);
	}
	/* Lines look like "1: POSIX  ADVISORY  WRITE 1234 08:01:5678 0 EOF". */
	if ((locks = fopen("/proc/locks", "re")) != NULL) {
		while (fgets(line, sizeof line, locks)) {
			unsigned maj, min;
			unsigned long long ino;
			int pid;
			char *p = line;

			if (strstr(line, "->") != NULL)
				continue; /* a waiter, listed again */
			for (int field = 0; field < 4 && p; field++) {
				p += strcspn(p, " ");
				p += strspn(p, " ");
			}
			if (p == NULL ||
			    sscanf(p, "%d %x:%x:%llu", &pid, &maj, &min,
			           &ino) != 4 ||
			    pid == self)
				continue;
			if (is_evidence_inode(ev, makedev(maj, min),
			                      (ino_t)ino))
				add_holder(ev, pid, "lock");
		}
		fclose(locks);
	}
}

int
gsr_evidence_open(struct gsr_ctx *ctx, struct gsr_evidence *ev,
                  const char *path)
{
	const char *tmp = gsr_tmp_dir();
	char *tmpl = NULL;
	bool from_env = false;
	int fd = -1, rc = -1;

	if (gsr_ctx_failed(ctx))
		return -1;
	if (path == NULL) {
		if ((ev->path = gsr_default_db_path(&from_env)) == NULL)
			goto oom;
		ev->located = true;
	} else if ((ev->path = strdup(path)) == NULL) {
		goto oom;
	}

	if (asprintf(&tmpl, "%s/gsrecover.XXXXXX", tmp) < 0) {
		tmpl = NULL;
		goto oom;
	}
	/* Made and registered in one step: a signal cannot leave it. */
	if (gsr_temp_mkdtemp(tmpl) == NULL) {
		gsr_ctx_fail(ctx, GSR_ERR_IO,
		             "cannot create a working directory in '%s': %s",
		             tmp, strerror(errno));
		goto out;
	}
	ev->workdir = tmpl;
	tmpl = NULL;
	if (asprintf(&ev->work_db, "%s/db", ev->workdir) < 0) {
		ev->work_db = NULL;
		goto oom;
	}
	for (size_t i = 0; i < GSR_ARRAY_LEN(work_sidecars); i++) {
		char *p = NULL;
		if (asprintf(&p, "%s%s", ev->work_db, work_sidecars[i]) < 0)
			goto oom;
		gsr_temp_register(p);
		free(p);
	}

	/* SQLite folds a -wal in, or rolls a -journal back, when it opens
	 * the working copy: the page reader (recover.h) then needs the
	 * bytes as they were, so they are kept whenever a sidecar is there. */
	for (int i = 1; i < GSR_EV_NFILES && !ev->keep_pristine; i++) {
		char *p = NULL;
		struct stat st;

		if (asprintf(&p, "%s%s", ev->path, ev_suffix[i]) < 0)
			goto oom;
		if (lstat(p, &st) == 0)
			ev->keep_pristine = true;
		free(p);
	}
	for (int i = 0; i < GSR_EV_NFILES; i++) {
		struct gsr_ev_file *f = &ev->files[i];
		struct stat st;
		char *dst = NULL;

		f->role = ev_roles[i];
		if (asprintf(&f->path, "%s%s", ev->path, ev_suffix[i]) < 0) {
			f->path = NULL;
			goto oom;
		}
		/* Never blocks: a FIFO, a device or a directory, as the
		 * database or beside it, is refused without waiting. */
		fd = gsr_open_regular(f->path, true, &st);
		if (fd == -1 && i > 0 && errno == ENOENT)
			continue;
		if (fd < 0 && i == 0 && ev->located) {
			/* Say where the path came from: no DB was given. */
			struct gsr_ctx why = GSR_CTX_INIT;

			gsr_input_error(&why, GSR_ERR_INPUT, f->path, true, fd,
			                &st);
			gsr_ctx_fail(
			    ctx, GSR_ERR_INPUT, "%s (no DB given: %s)", why.msg,
			    from_env
			        ? "the path is $GPUSTACK_DATA_DIR/database.db"
			        : "GPUStack's default location, as "
			          "GPUSTACK_DATA_DIR is not set");
			fd = -1;
			goto out;
		}
		if (fd < 0) {
			gsr_input_error(ctx, GSR_ERR_INPUT, f->path, true, fd,
			                &st);
			fd = -1;
			goto out;
		}
		f->present = true;
		f->dev = st.st_dev;
		f->ino = st.st_ino;
		if (asprintf(&dst, "%s%s", ev->work_db, ev_suffix[i]) < 0)
			goto oom;
		if (ev->keep_pristine) {
			if (asprintf(&f->pristine, "%s/input%s", ev->workdir,
			             ev_suffix[i]) < 0) {
				f->pristine = NULL;
				free(dst);
				goto oom;
			}
			gsr_temp_register(f->pristine);
		}
		int crc = copy_and_hash(ctx, ev->tee, i, f, fd,
		                        f->pristine ? f->pristine : dst);
		if (crc == 0 && f->pristine)
			crc = gsr_copy_file(ctx, f->pristine, dst, true);
		free(dst);
		close(fd);
		fd = -1;
		if (crc)
			goto out;
	}
	find_holders(ev);
	rc = 0;
	goto out;
oom:
	gsr_ctx_fail(ctx, GSR_ERR_NOMEM, "out of memory");
out:
	gsr_progress_end(ctx, "custody");
	if (fd >= 0)
		close(fd);
	free(tmpl);
	return rc;
}

int
gsr_evidence_recheck(struct gsr_ctx *ctx, struct gsr_evidence *ev)
{
	int changed = 0;

	if (gsr_ctx_failed(ctx))
		return -1;
	for (int i = 0; i < GSR_EV_NFILES; i++) {
		struct gsr_ev_file *f = &ev->files[i];
		struct stat st;
		uint64_t size = 0;
		int fd;

		if (f->path == NULL)
			continue;
		fd = gsr_open_regular(f->path, true, &st);
		if (fd < 0) {
			/* Gone, or appeared-and-unreadable, or no longer a
			 * regular file: a change if it was there before. */
			f->rechecked = true;
			f->changed = f->present;
			changed += f->changed;
			continue;
		}
		if (gsr_sha256_fd(fd, f->sha256_after, &size) != 0) {
			close(fd);
			return gsr_ctx_fail(ctx, GSR_ERR_INPUT,
			                    "cannot read '%s': %s", f->path,
			                    strerror(errno));
		}
		close(fd);
		f->rechecked = true;
		f->changed = !f->present || size != f->size ||
		             strcmp(f->sha256, f->sha256_after) != 0;
		changed += f->changed;
	}
	return changed;
}

int64_t
gsr_evidence_fit_page_count(struct gsr_ctx *ctx, struct gsr_evidence *ev,
                            uint32_t page_size, uint32_t header_pages)
{
	uint64_t have;
	unsigned char be[4];
	int fd;

	if (gsr_ctx_failed(ctx))
		return -1;
	if (page_size == 0)
		return 0;
	have = ev->files[GSR_EV_DB].size / page_size;
	if (have >= header_pages || have == 0)
		return 0;
	be[0] = (unsigned char)(have >> 24);
	be[1] = (unsigned char)(have >> 16);
	be[2] = (unsigned char)(have >> 8);
	be[3] = (unsigned char)have;
	fd = open(ev->work_db, O_WRONLY | O_CLOEXEC);
	if (fd < 0 || pwrite(fd, be, 4, 28) != 4) {
		if (fd >= 0)
			close(fd);
		return gsr_ctx_fail(ctx, GSR_ERR_IO,
		                    "cannot write the working copy: %s",
		                    strerror(errno));
	}
	if (close(fd) != 0)
		return gsr_ctx_fail(ctx, GSR_ERR_IO,
		                    "cannot write the working copy: %s",
		                    strerror(errno));
	return (int64_t)have;
}

static int
remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)ftw;
	if (flag == FTW_DP)
		rmdir(path);
	else
		unlink(path);
	return 0;
}

/* Whether name, an entry of the working directory, is one of the copies
 * gsr_evidence_reset() keeps: the working copy of the database, and the
 * pristine copies. */
static bool
is_kept_copy(const struct gsr_evidence *ev, const char *name)
{
	const char *db = strrchr(ev->work_db, '/');

	if (!strcmp(name, db ? db + 1 : ev->work_db))
		return true;
	for (int i = 0; i < GSR_EV_NFILES; i++) {
		const char *p = ev->files[i].pristine;
		const char *base = p ? strrchr(p, '/') : NULL;
		if (p && !strcmp(name, base ? base + 1 : p))
			return true;
	}
	return false;
}

/* Whether name, an entry of the working directory, is the working copy
 * or a file SQLite may make beside it (registered for as long as the
 * evidence is open). */
static bool
is_work_file(const struct gsr_evidence *ev, const char *name)
{
	const char *db = strrchr(ev->work_db, '/');
	size_t n;

	db = db ? db + 1 : ev->work_db;
	n = strlen(db);
	if (strncmp(name, db, n) != 0)
		return false;
	for (size_t i = 0; i < GSR_ARRAY_LEN(work_sidecars); i++)
		if (!strcmp(name + n, work_sidecars[i]))
			return true;
	return false;
}

/* Remove everything in the working directory but the copies it keeps
 * (is_kept_copy()), unregistering each path removed but the working
 * copy's sidecars, which stay registered until the release. */
static int
clear_workdir(struct gsr_ctx *ctx, struct gsr_evidence *ev)
{
	struct strvec names = STRVEC_INIT;
	DIR *d = opendir(ev->workdir);
	struct dirent *de;
	int rc = -1;

	if (d == NULL)
		return gsr_ctx_fail(ctx, GSR_ERR_IO, "cannot read '%s': %s",
		                    ev->workdir, strerror(errno));
	/* Listed first, removed after: not while the directory is read. */
	while ((de = readdir(d)) != NULL)
		if (strcmp(de->d_name, ".") && strcmp(de->d_name, "..") &&
		    !is_kept_copy(ev, de->d_name) &&
		    sv_push(&names, de->d_name))
			goto oom;
	for (size_t i = 0; i < names.n; i++) {
		char *p = NULL;
		struct stat st;

		if (asprintf(&p, "%s/%s", ev->workdir, names.v[i]) < 0)
			goto oom;
		if (lstat(p, &st) == 0 && S_ISDIR(st.st_mode))
			nftw(p, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
		else
			unlink(p);
		if (!is_work_file(ev, names.v[i]))
			gsr_temp_unregister(p);
		free(p);
	}
	rc = 0;
	goto out;
oom:
	gsr_ctx_fail(ctx, GSR_ERR_NOMEM, "out of memory");
out:
	closedir(d);
	sv_release(&names);
	return rc;
}

/* Without pristine copies: whether the working copy holds the database's
 * bytes as taken, once its header is put back (see gsr_evidence_reset());
 * 0 yes, 1 no, -1 with the error on ctx. */
static int
restore_work_db(struct gsr_ctx *ctx, struct gsr_evidence *ev)
{
	const struct gsr_ev_file *f = &ev->files[GSR_EV_DB];
	unsigned char head[sizeof f->head];
	char hex[GSR_SHA256_HEX];
	uint64_t size = 0;
	struct stat st;
	int fd = open(ev->work_db, O_RDWR | O_CLOEXEC), rc = 1;

	if (fd < 0 || fstat(fd, &st) != 0) {
		rc = gsr_ctx_fail(ctx, GSR_ERR_IO, "cannot read '%s': %s",
		                  ev->work_db, strerror(errno));
		goto out;
	}
	if ((uint64_t)st.st_size != f->size)
		goto out;
	if (pread(fd, head, f->head_len, 0) == (ssize_t)f->head_len &&
	    memcmp(head, f->head, f->head_len) == 0) {
		rc = 0; /* as taken: nothing wrote it */
		goto out;
	}
	if (pwrite(fd, f->head, f->head_len, 0) != (ssize_t)f->head_len) {
		rc = gsr_ctx_fail(ctx, GSR_ERR_IO, "cannot write '%s': %s",
		                  ev->work_db, strerror(errno));
		goto out;
	}
	/* Put back: the copy must hash as the input did. */
	if (lseek(fd, 0, SEEK_SET) != 0 || gsr_sha256_fd(fd, hex, &size)) {
		rc = gsr_ctx_fail(ctx, GSR_ERR_IO, "cannot read '%s': %s",
		                  ev->work_db, strerror(errno));
		goto out;
	}
	rc = size == f->size && strcmp(hex, f->sha256) == 0 ? 0 : 1;
out:
	if (fd >= 0)
		close(fd);
	return rc;
}

int
gsr_evidence_reset(struct gsr_ctx *ctx, struct gsr_evidence *ev)
{
	bool pristine = false;

	if (gsr_ctx_failed(ctx))
		return -1;
	if (ev->workdir == NULL || ev->work_db == NULL)
		return 1;
	ev->tee = NULL;
	for (int i = 0; i < GSR_EV_NFILES; i++)
		pristine = pristine || ev->files[i].pristine != NULL;
	if (clear_workdir(ctx, ev))
		return -1;
	if (!pristine)
		return restore_work_db(ctx, ev);
	/* The working copies again, as gsr_evidence_open() made them. */
	for (int i = 0; i < GSR_EV_NFILES; i++) {
		const struct gsr_ev_file *f = &ev->files[i];
		char *dst = NULL;
		int crc;

		if (i == GSR_EV_DB && unlink(ev->work_db) != 0 &&
		    errno != ENOENT)
			return gsr_ctx_fail(ctx, GSR_ERR_IO,
			                    "cannot remove '%s': %s",
			                    ev->work_db, strerror(errno));
		if (!f->present)
			continue;
		if (f->pristine == NULL)
			return 1;
		if (asprintf(&dst, "%s%s", ev->work_db, ev_suffix[i]) < 0)
			return gsr_ctx_fail(ctx, GSR_ERR_NOMEM,
			                    "out of memory");
		crc = gsr_copy_file(ctx, f->pristine, dst, true);
		free(dst);
		if (crc)
			return -1;
	}
	return 0;
}

void
gsr_evidence_release(struct gsr_evidence *ev)
{
	if (ev->workdir != NULL && ev->work_db != NULL) {
		for (size_t i = 0; i < GSR_ARRAY_LEN(work_sidecars); i++) {
			char *p = NULL;
			if (asprintf(&p, "%s%s", ev->work_db,
			             work_sidecars[i]) >= 0) {
				unlink(p);
				gsr_temp_unregister(p);
				free(p);
			}
		}
	}
	for (int i = 0; i < GSR_EV_NFILES; i++) {
		if (ev->files[i].pristine) {
			unlink(ev->files[i].pristine);
			gsr_temp_unregister(ev->files[i].pristine);
		}
		free(ev->files[i].pristine);
	}
	if (ev->workdir != NULL) {
		/* Everything below the working directory is ours: staging,
		 * exports, quarantine files. */
		nftw(ev->workdir, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
		gsr_temp_unregister(ev->workdir);
	}
	for (int i = 0; i < GSR_EV_NFILES; i++)
		free(ev->files[i].path);
	free(ev->path);
	free(ev->workdir);
	free(ev->work_db);
	free(ev->holders);
	memset(ev, 0, sizeof *ev);
}

void
gsr_evidence_write_json(const struct gsr_evidence *ev, struct jsonw *jw,
                        bool after)
{
	jw_arr_begin(jw);
	for (int i = 0; ev && i < GSR_EV_NFILES; i++) {
		const struct gsr_ev_file *f = &ev->files[i];
		if (!f->present)
			continue;
		jw_obj_begin(jw);
		jw_kstr(jw, "role", f->role);
		jw_kstr(jw, "path", f->path);
		jw_kint(jw, "size", (int64_t)f->size);
		jw_kstr(jw, "sha256", f->sha256);
		if (after) {
			jw_kstr(jw, "sha256_after",
			        f->rechecked ? f->sha256_after : NULL);
			jw_key(jw, "unchanged");
			if (f->rechecked)
				jw_bool(jw, !f->changed);
			else
				jw_null(jw);
		}
		jw_obj_end(jw);
	}
	jw_arr_end(jw);
}

const char *
gsr_evidence_image(const struct gsr_evidence *ev, int role)
{
	const struct gsr_ev_file *f = &ev->files[role];

	if (!f->present)
		return NULL;
	if (f->pristine)
		return f->pristine;
	return role == GSR_EV_DB ? ev->work_db : NULL;
}
