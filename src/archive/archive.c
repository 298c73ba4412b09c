/* archive.c -- the audit archive: writer and verifier. */
#include "compat.h"
#include "archive.h"

#include "dirsync.h"
#include "fdio.h"
#include "thread.h"

#include <archive_entry.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <jansson.h>
#include <locale.h>
#include <pthread.h>
#include <nettle/version.h>
#include <sqlite3.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zstd.h>

#include "jsonw.h"
#include "strbuf.h"
#include "tempfiles.h"

enum {
	CHUNK = 1 << 20,      /* read and hash in pieces of this size */
	TREE_DEPTH_MAX = 64,  /* gsr_archive_add_tree's recursion limit */
	SHOWN_NAME_MAX = 256, /* bytes kept of a name that is too long */
	TAR_BLOCK = 512
};

/* Total bytes of member names the reader keeps, a bound on its memory. */
#define NAME_BYTES_MAX ((size_t)64 << 20)

/* The largest size and time an ustar header holds: 11 octal digits. */
#define USTAR_MAX ((uint64_t)077777777777)

/* ---- zstd ------------------------------------------------------------ */

/* A compressor with the archive's parameters; NULL when out of memory. */
static ZSTD_CCtx *
new_cctx(void)
{
	ZSTD_CCtx *cz = ZSTD_createCCtx();

	if (cz == NULL)
		return NULL;
	if (ZSTD_isError(ZSTD_CCtx_setParameter(cz, ZSTD_c_compressionLevel,
	                                        GSR_ARCHIVE_LEVEL)) ||
	    ZSTD_isError(ZSTD_CCtx_setParameter(cz, ZSTD_c_checksumFlag, 1))) {
		ZSTD_freeCCtx(cz);
		return NULL;
	}
	return cz;
}

/*
 * Compress n bytes at p into cz (mode ZSTD_e_continue), or end the frame
 * (p NULL, mode ZSTD_e_end), handing every piece of output to emit, which
 * returns 0 or -1 with errno set.  Returns 0, -1 with errno set, or -2
 * when zstd itself fails.
 */
static int
zpush(ZSTD_CCtx *cz, unsigned char *zbuf, size_t zcap, const void *p, size_t n,
      ZSTD_EndDirective mode, int (*emit)(void *arg, const void *p, size_t n),
      void *arg)
{
	ZSTD_inBuffer in = {p, n, 0};
	size_t left;

	do {
		ZSTD_outBuffer out = {zbuf, zcap, 0};

		left = ZSTD_compressStream2(cz, &out, &in, mode);
		if (ZSTD_isError(left))
			return -2;
		if (out.pos && emit(arg, zbuf, out.pos) != 0)
			return -1;
	} while (mode == ZSTD_e_end ? left != 0 : in.pos < in.size);
	return 0;
}

/* ---- spools ------------------------------------------------------------ */

struct spool_member {
	uint64_t off;  /* of its frames in the spool's file */
	uint64_t clen; /* their length */
	uint64_t size; /* of the data */
	char sha256[GSR_SHA256_HEX];
};

struct gsr_archive_spool {
	int fd;
	ZSTD_CCtx *cz;
	unsigned char *zbuf;
	size_t zcap;
	uint64_t end; /* bytes in the file */
	/* The member being written. */
	bool open;
	bool in_frame; /* data went into the current frame */
	bool hashed; /* h is kept; else the caller gives the hash at the end */
	struct gsr_sha256 h;
	uint64_t size;
	uint64_t off;
	struct spool_member *m;
	size_t n_m, cap_m;
};

static int
spool_emit(void *arg, const void *p, size_t n)
{
	struct gsr_archive_spool *sp = arg;

	if (gsr_write_all(sp->fd, p, n) != 0)
		return -1;
	sp->end += n;
	return 0;
}

/* An anonymous file in dir: it disappears with its descriptor.  Where the
 * file system has no O_TMPFILE, a named file removed at once. */
static int
anon_file(const char *dir)
{
	char *tmpl = NULL;
	int fd = open(dir, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);

	if (fd >= 0 ||
	    (errno != EOPNOTSUPP && errno != EISDIR && errno != EINVAL))
		return fd;
	if (asprintf(&tmpl, "%s/spool-XXXXXX", dir) < 0)
		return -1;
	/* Registered while it has a name, so a signal cannot leave it. */
	fd = gsr_temp_mkstemp(tmpl);
	if (fd >= 0) {
		unlink(tmpl);
		gsr_temp_unregister(tmpl);
	}
	free(tmpl);
	return fd;
}

struct gsr_archive_spool *
gsr_archive_spool_new(struct gsr_ctx *ctx, const char *dir)
{
	struct gsr_archive_spool *sp;

	if (gsr_ctx_failed(ctx))
		return NULL;
	if ((sp = calloc(1, sizeof *sp)) == NULL) {
		gsr_ctx_fail(ctx, GSR_ERR_NOMEM, "out of memory");
		return NULL;
	}
	sp->zcap = ZSTD_CStreamOutSize();
	if ((sp->fd = anon_file(dir)) < 0) {
		gsr_ctx_fail(ctx, GSR_ERR_IO,
		             "cannot create a file in '%s': %s", dir,
		             strerror(errno));
		free(sp);
		return NULL;
	}
	if ((sp->cz = new_cctx()) == NULL ||
	    (sp->zbuf = malloc(sp->zcap)) == NULL) {
		gsr_ctx_fail(ctx, GSR_ERR_NOMEM, "out of memory");
		gsr_archive_spool_free(sp);
		return NULL;
	}
	return sp;
}

void
gsr_archive_spool_free(struct gsr_archive_spool *sp)
{
	if (sp == NULL)
		return;
	if (sp->fd >= 0)
		close(sp->fd);
	ZSTD_freeCCtx(sp->cz);
	free(sp->zbuf);
	free(sp->m);
	free(sp);
}

static int
spool_begin(struct gsr_ctx *ctx, struct gsr_archive_spool *sp, size_t *idx,
            bool hashed)
{
	if (gsr_ctx_failed(ctx))
		return -1;
	if (sp->open)
		return gsr_ctx_fail(ctx, GSR_ERR_INTERNAL,
		                    "a spooled member is already open");
	if (gsr_grow((void **)&sp->m, &sp->cap_m, sp->n_m + 1, sizeof *sp->m))
		return gsr_ctx_fail(ctx, GSR_ERR_NOMEM, "out of memory");
	gsr_sha256_init(&sp->h);
	sp->size = 0;
	sp->off = sp->end;
	sp->open = true;
	sp->in_frame = false;
	sp->hashed = hashed;
	*idx = sp->n_m;
	return 0;
}

int
gsr_archive_spool_begin(struct gsr_ctx *ctx, struct gsr_archive_spool *sp,
                        size_t *idx)
{
	return spool_begin(ctx, sp, idx, true);
}

static int
spool_fail(struct gsr_ctx *ctx, int zrc)
{
	if (zrc == -2)
		return gsr_ctx_fail(ctx, GSR_ERR_INTERNAL,
		                    "zstd cannot compress");
	return gsr_ctx_fail(ctx, GSR_ERR_IO, "cannot write a spool file: %s",
	                    strerror(errno));
}

int
gsr_archive_spool_write(struct gsr_ctx *ctx, struct gsr_archive_spool *sp,
                        const void *p, size_t n)
{
	int zrc;

	if (gsr_ctx_failed(ctx))
		return -1;
	if (!sp->open)
		return gsr_ctx_fail(ctx, GSR_ERR_INTERNAL,
		                    "no spooled member is open");
	if (n == 0)
		return 0;
	if (sp->hashed)
		gsr_sha256_update(&sp->h, p, n);
	sp->size += n;
	sp->in_frame = true;
	zrc = zpush(sp->cz, sp->zbuf, sp->zcap, p, n, ZSTD_e_continue,
	            spool_emit, sp);
	return zrc ? spool_fail(ctx, zrc) : 0;
}

int
gsr_archive_spool_restart(struct gsr_ctx *ctx, struct gsr_archive_spool *sp)
{
	if (gsr_ctx_failed(ctx))
		return -1;
	if (!sp->open)
		return gsr_ctx_fail(ctx, GSR_ERR_INTERNAL,
		                    "no spooled member is open");
	if (ZSTD_isError(ZSTD_CCtx_reset(sp->cz, ZSTD_reset_session_only)))
		return gsr_ctx_fail(ctx, GSR_ERR_INTERNAL,
		                    "zstd cannot start again");
	if (ftruncate(sp->fd, (off_t)sp->off) != 0 ||
	    lseek(sp->fd, (off_t)sp->off, SEEK_SET) < 0)
		return spool_fail(ctx, -1);
	sp->end = sp->off;
	sp->size = 0;
	sp->in_frame = false;
	gsr_sha256_init(&sp->h);
	return 0;
}

/* End the open member; given is its SHA-256 when the spool did not hash
 * it (then given_size must be the size written). */
static int
spool_end(struct gsr_ctx *ctx, struct gsr_archive_spool *sp, uint64_t *size,
          char sha256[GSR_SHA256_HEX], uint64_t given_size, const char *given)
{
	struct spool_member *m;
	int zrc;

	if (gsr_ctx_failed(ctx))
		return -1;
	if (!sp->open)
		return gsr_ctx_fail(ctx, GSR_ERR_INTERNAL,
		                    "no spooled member is open");
	if (!sp->hashed && (given == NULL || given_size != sp->size))
		return gsr_ctx_fail(
		    ctx, GSR_ERR_INTERNAL,
		    "a spooled member's size or hash is not the one given");
	if (sp->in_frame && (zrc = zpush(sp->cz, sp->zbuf, sp->zcap, NULL, 0,
	                                 ZSTD_e_end, spool_emit, sp)) != 0)
		return spool_fail(ctx, zrc);
	m = &sp->m[sp->n_m++];
	m->off = sp->off;
	m->clen = sp->end - sp->off;
	m->size = sp->size;
	if (sp->hashed)
		gsr_sha256_hex(&sp->h, m->sha256);
	else
		memcpy(m->sha256, given, GSR_SHA256_HEX);
	sp->open = false;
	if (size)
		*size = m->size;
	if (sha256)
		memcpy(sha256, m->sha256, GSR_SHA256_HEX);
	return 0;
}

int
gsr_archive_spool_end(struct gsr_ctx *ctx, struct gsr_archive_spool *sp,
                      uint64_t *size, char sha256[GSR_SHA256_HEX])
{
	return spool_end(ctx, sp, size, sha256, 0, NULL);
}

/* ---- pipes ------------------------------------------------------------ */

enum { PIPE_SLOTS = 4 };

enum pipe_op { PIPE_BEGIN, PIPE_DATA, PIPE_END };

struct pipe_slot {
	enum pipe_op op;
	unsigned char *buf; /* CHUNK bytes */
	size_t n;
	uint64_t size;
	char sha256[GSR_SHA256_HEX];
};

struct gsr_archive_pipe {
	struct gsr_archive_spool *sp;
	struct gsr_ctx tctx; /* the thread's error; read once failed is set */
	struct gsr_thread thread;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	struct pipe_slot slot[PIPE_SLOTS];
	uint64_t head, tail; /* slots filled, slots done */
	bool closing;
	bool failed;
	size_t n_begun;
	bool open;
};

static void *
pipe_main(void *arg)
{
	struct gsr_archive_pipe *pp = arg;

	for (;;) {
		struct pipe_slot *s;
		size_t idx;
		int rc = 0;

		pthread_mutex_lock(&pp->mu);
		while (pp->tail == pp->head && !pp->closing)
			pthread_cond_wait(&pp->cv, &pp->mu);
		if (pp->tail == pp->head) {
			pthread_mutex_unlock(&pp->mu);
			break;
		}
		s = &pp->slot[pp->tail % PIPE_SLOTS];
		pthread_mutex_unlock(&pp->mu);
		/* After an error the slots are only drained. */
		if (!gsr_ctx_failed(&pp->tctx)) {
			if (s->op == PIPE_BEGIN)
				rc =
				    spool_begin(&pp->tctx, pp->sp, &idx, false);
			else if (s->op == PIPE_DATA)
				rc = gsr_archive_spool_write(&pp->tctx, pp->sp,
				                             s->buf, s->n);
			else
				rc = spool_end(&pp->tctx, pp->sp, NULL, NULL,
				               s->size, s->sha256);
		}
		pthread_mutex_lock(&pp->mu);
		if (rc != 0)
			pp->failed = true;
		pp->tail++;
		pthread_cond_broadcast(&pp->cv);
		pthread_mutex_unlock(&pp->mu);
	}
	return NULL;
}

struct gsr_archive_pipe *
gsr_archive_pipe_new(struct gsr_ctx *ctx, struct gsr_archive_spool *sp)
{
	struct gsr_archive_pipe *pp;

	if (gsr_ctx_failed(ctx))
		return NULL;
	if (sp->open || sp->n_m != 0) {
		gsr_ctx_fail(ctx, GSR_ERR_INTERNAL,
		             "a pipe needs an empty spool");
		return NULL;
	}
	if ((pp = calloc(1, sizeof *pp)) == NULL)
		goto oom;
	pp->sp = sp;
	pp->tctx = (struct gsr_ctx)GSR_CTX_INIT;
	for (int i = 0; i < PIPE_SLOTS; i++)
		if ((pp->slot[i].buf = malloc(CHUNK)) == NULL)
			goto oom;
	pthread_mutex_init(&pp->mu, NULL);
	pthread_cond_init(&pp->cv, NULL);
	if (gsr_thread_start(ctx, &pp->thread, pipe_main, pp) != 0) {
		pthread_mutex_destroy(&pp->mu);
		pthread_cond_destroy(&pp->cv);
		goto fail;
	}
	return pp;
oom:
	gsr_ctx_fail(ctx, GSR_ERR_NOMEM, "out of memory");
fail:
	if (pp)
		for (int i = 0; i < PIPE_SLOTS; i++)
			free(pp->slot[i].buf);
	free(pp);
	return NULL;
}

/* A free slot, waited for; NULL with the thread's error on ctx once it
 * has failed.  The slot is the caller's until pipe_put(). */
static struct pipe_slot *
pipe_slot(struct gsr_ctx *ctx, struct gsr_archive_pipe *pp)
{
	struct pipe_slot *s = NULL;

	if (gsr_ctx_failed(ctx))
		return NULL;
	if (!pp->thread.running) {
		gsr_ctx_fail(ctx, GSR_ERR_INTERNAL, "the pipe is closed");
		return NULL;
	}
	pthread_mutex_lock(&pp->mu);
	while (pp->head - pp->tail == PIPE_SLOTS && !pp->failed)
		pthread_cond_wait(&pp->cv, &pp->mu);
	if (!pp->failed)
		s = &pp->slot[pp->head % PIPE_SLOTS];
	pthread_mutex_unlock(&pp->mu);
	if (s == NULL)
		gsr_ctx_fail(ctx, pp->tctx.err, "%s", pp->tctx.msg);
	return s;
}

static int
pipe_put(struct gsr_archive_pipe *pp)
{
	pthread_mutex_lock(&pp->mu);
	pp->head++;
	pthread_cond_broadcast(&pp->cv);
	pthread_mutex_unlock(&pp->mu);
	return 0;
}

int
gsr_archive_pipe_begin(struct gsr_ctx *ctx, struct gsr_archive_pipe *pp,
                       size_t *idx)
{
	struct pipe_slot *s;

	if (pp->open)
		return gsr_ctx_fail(ctx, GSR_ERR_INTERNAL,
		                    "a piped member is already open");
	if ((s = pipe_slot(ctx, pp)) == NULL)
		return -1;
	s->op = PIPE_BEGIN;
	pp->open = true;
	*idx = pp->n_begun++;
	return pipe_put(pp);
}

int
gsr_archive_pipe_write(struct gsr_ctx *ctx, struct gsr_archive_pipe *pp,
                       const void *p, size_t n)
{
	const unsigned char *b = p;

	if (!pp->open && !gsr_ctx_failed(ctx))
		return gsr_ctx_fail(ctx, GSR_ERR_INTERNAL,
		                    "no piped member is open");
	while (n > 0) {
		struct pipe_slot *s = pipe_slot(ctx, pp);
		size_t k = n < CHUNK ? n : CHUNK;

		if (s == NULL)
			return -1;
		s->op = PIPE_DATA;
		memcpy(s->buf, b, k);
		s->n = k;
		pipe_put(pp);
		b += k;
		n -= k;
	}
	return gsr_ctx_failed(ctx) ? -1 : 0;
}

int
gsr_archive_pipe_end(struct gsr_ctx *ctx, struct gsr_archive_pipe *pp,
                     uint64_t size, const char sha256[GSR_SHA256_HEX])
{
	struct pipe_slot *s;

	if (!pp->open && !gsr_ctx_failed(ctx))
		return gsr_ctx_fail(ctx, GSR_ERR_INTERNAL,
		                    "no piped member is open");
	if ((s = pipe_slot(ctx, pp)) == NULL)
		return -1;
	s->op = PIPE_END;
	s->size = size;
	memcpy(s->sha256, sha256, GSR_SHA256_HEX);
	pp->open = false;
	return pipe_put(pp);
}

int
gsr_archive_pipe_close(struct gsr_ctx *ctx, struct gsr_archive_pipe *pp)
{
	if (pp == NULL || !pp->thread.running)
		return gsr_ctx_failed(ctx) ? -1 : 0;
	pthread_mutex_lock(&pp->mu);
	pp->closing = true;
	pthread_cond_broadcast(&pp->cv);
	pthread_mutex_unlock(&pp->mu);
	if (gsr_thread_join(ctx, &pp->thread, &pp->tctx, NULL) != 0)
		return -1;
	if (pp->open)
		return gsr_ctx_fail(ctx, GSR_ERR_INTERNAL,
		                    "a piped member was not finished");
	return gsr_ctx_failed(ctx) ? -1 : 0;
}

void
gsr_archive_pipe_free(struct gsr_archive_pipe *pp)
{
	struct gsr_ctx ignored = GSR_CTX_INIT;

	if (pp == NULL)
		return;
	gsr_archive_pipe_close(&ignored, pp);
	pthread_mutex_destroy(&pp->mu);
	pthread_cond_destroy(&pp->cv);
	for (int i = 0; i < PIPE_SLOTS; i++)
		free(pp->slot[i].buf);
	free(pp);
}

/* ---- names and layout ------------------------------------------------ */

#define STRINGIFY_(x) #x
#define STRINGIFY(x) STRINGIFY_(x)
/* Why a name that name_problem() accepts is not a member's. */
#define OUTSIDE_LAYOUT "a name outside the audit archive's layout"
/* Two of name_problem()'s answers: names not to be printed as they are. */
static const char why_control[] = "a control character in its name";
static const char why_not_utf8[] = "a name that is not UTF-8";

/*
 * The layout of an audit archive (gsrecover(1), AUDIT ARCHIVE): the only
 * top-level names a member may have, in the order rebuild writes them.
 * A LAYOUT_DIR holds files directly below it, a LAYOUT_TREE files at any
 * depth below it; a LAYOUT_FILE is a file of that name.  The writer
 * refuses any other name and verify reports it: this table is the one
 * place that says what an audit archive may hold.
 */
enum layout_kind { LAYOUT_FILE, LAYOUT_DIR, LAYOUT_TREE };

static const struct {
	const char *name;
	enum layout_kind kind;
} layout[] = {
    {"input", LAYOUT_DIR},
    {"recovery", LAYOUT_DIR},
    {"identify.json", LAYOUT_FILE},
    {"export", LAYOUT_DIR},
    {"quarantine", LAYOUT_DIR},
    {"changes", LAYOUT_DIR},
    {"rules", LAYOUT_TREE},
    {"rebuild", LAYOUT_DIR},
    {GSR_ARCHIVE_MANIFEST, LAYOUT_FILE},
};

/*
 * Whether name, of syntax name_problem() accepts, is in the layout: as a
 * file, or with is_dir as a directory (a directory entry, as tar writes
 * them, named without its trailing slash).
 */
static bool
in_layout(const char *name, bool is_dir)
{
	size_t top = strcspn(name, "/");
	const char *rest = name[top] ? name + top + 1 : NULL;

	for (size_t i = 0; i < GSR_ARRAY_LEN(layout); i++) {
		if (strlen(layout[i].name) != top ||
		    memcmp(layout[i].name, name, top) != 0)
			continue;
		switch (layout[i].kind) {
		case LAYOUT_FILE:
			return !is_dir && rest == NULL;
		case LAYOUT_DIR:
			return is_dir
			           ? rest == NULL
			           : rest != NULL && strchr(rest, '/') == NULL;
		case LAYOUT_TREE:
			return is_dir || rest != NULL;
		}
	}
	return false;
}

/*
 * Why name cannot be a member's name, as a noun phrase, or
 * NULL when it can (see archive.h).  The layout is not checked here.
 * *unsafe (may be NULL) is set when extracting it would write outside the
 * directory extracted into: an absolute name or a ".." component, which
 * are looked for first.
 */
static const char *
name_problem(const char *name, bool *unsafe)
{
	size_t len = strlen(name);
	const char *p;
	bool odd_component = false;

	if (unsafe)
		*unsafe = true;
	if (name[0] == '/')
		return "an absolute name";
	for (p = name;;) {
		size_t n = strcspn(p, "/");
		if (n == 2 && p[0] == '.' && p[1] == '.')
			return "a '..' component in its name";
		if (n == 0 || (n == 1 && p[0] == '.'))
			odd_component = true;
		if (p[n] == '\0')
			break;
		p += n + 1;
	}
	if (unsafe)
		*unsafe = false;
	if (len == 0)
		return "an empty name";
	if (len > GSR_ARCHIVE_NAME_MAX)
		return "a name longer than " STRINGIFY(
		    GSR_ARCHIVE_NAME_MAX) " bytes";
	for (p = name; p < name + len; p++) {
		unsigned char c = (unsigned char)*p;
		/* C0, DEL and C1 (U+0080 to U+009F) controls. */
		if (c < 0x20 || c == 0x7f ||
		    (c == 0xc2 && p + 1 < name + len &&
		     (unsigned char)p[1] >= 0x80 &&
		     (unsigned char)p[1] <= 0x9f))
			return why_control;
	}
	if (!gsr_utf8_valid(name, len))
		return why_not_utf8;
	if (odd_component)
		return "an empty or '.' component in its name";
	return NULL;
}

/* ---- writer ---------------------------------------------------------- */

struct ar_member {
	char *name;
	uint64_t size;
	char sha256[GSR_SHA256_HEX];
};

struct gsr_archive {
	int fd;
	char *final_path;
	char *tmp_path;
	bool force;
	/* A member's header went out and its data did not all follow: the
	 * stream is inconsistent and can only be abandoned. */
	bool broken;
	time_t mtime;
	/* Of every byte written to fd, in order: the archive's SHA-256. */
	struct gsr_sha256 file_hash;
	/* The tar stream, compressed frame by frame. */
	ZSTD_CCtx *cz;
	unsigned char *zbuf;
	size_t zcap;
	bool in_frame;      /* tar bytes went into the current frame */
	uint64_t tar_pos;   /* tar bytes so far */
	uint64_t out_bytes; /* bytes written to fd, for the progress */
	struct ar_member *members;
	size_t n_members, cap_members;
	unsigned char *buf; /* CHUNK bytes */
};

/*
 * libarchive converts names between the locale's character set and the
 * UTF-8 of pax headers, and fails on anything but ASCII in the C locale
 * that gsrecover runs in.  The verifier therefore runs in C.UTF-8,
 * switched for this thread only, where the conversion is the identity:
 * names are read as the bytes they are.
 */
static locale_t
utf8_locale(void)
{
	return newlocale(LC_CTYPE_MASK, "C.UTF-8", (locale_t)0);
}

static locale_t
enter(locale_t loc)
{
	return loc ? uselocale(loc) : (locale_t)0;
}

static void
leave(locale_t saved)
{
	if (saved)
		uselocale(saved);
}

static const char *
la_error(struct archive *a)
{
	const char *s = archive_error_string(a);

	return s ? s : "unknown libarchive error";
}

/* The archive file: written and hashed. */
static int
ar_emit(void *arg, const void *p, size_t n)
{
	struct gsr_archive *ar = arg;

	if (gsr_write_all(ar->fd, p, n) != 0)
		return -1;
	gsr_sha256_update(&ar->file_hash, p, n);
	ar->out_bytes += n;
	return 0;
}

/* The bytes written so far, as the progress phase "archive" (ctx.h). */
static void
ar_progress(const struct gsr_ctx *ctx, const struct gsr_archive *ar)
{
	gsr_progress(ctx, "archive", GSR_PROGRESS_BYTES, ar->out_bytes, 0);
}

static int
ar_fail(struct gsr_ctx *ctx, const struct gsr_archive *ar, int zrc)
{
	if (zrc == -2)
		return gsr_ctx_fail(ctx, GSR_ERR_INTERNAL,
		                    "zstd cannot compress");
	return gsr_ctx_fail(ctx, GSR_ERR_IO, "cannot write '%s': %s",
	                    ar->tmp_path, strerror(errno));
}

/* Add n bytes to the tar stream. */
static int
tar_put(struct gsr_ctx *ctx, struct gsr_archive *ar, const void *p, size_t n)
{
	int zrc;

	if (n == 0)
		return 0;
	ar->in_frame = true;
	ar->tar_pos += n;
	zrc = zpush(ar->cz, ar->zbuf, ar->zcap, p, n, ZSTD_e_continue, ar_emit,
	            ar);
	return zrc ? ar_fail(ctx, ar, zrc) : 0;
}

/* End the current zstd frame, so that other frames can follow. */
static int
tar_end_frame(struct gsr_ctx *ctx, struct gsr_archive *ar)
{
	int zrc;

	if (!ar->in_frame)
		return 0;
	ar->in_frame = false;
	zrc =
	    zpush(ar->cz, ar->zbuf, ar->zcap, NULL, 0, ZSTD_e_end, ar_emit, ar);
	return zrc ? ar_fail(ctx, ar, zrc) : 0;
}

/* Zeros up to the next block boundary. */
static int
tar_pad(struct gsr_ctx *ctx, struct gsr_archive *ar)
{
	static const unsigned char zeros[TAR_BLOCK];
	size_t r = (size_t)(ar->tar_pos % TAR_BLOCK);

	return r ? tar_put(ctx, ar, zeros, TAR_BLOCK - r) : 0;
}

/* Remove the temporary file (when remove_tmp) and free everything. */
static void
ar_free(struct gsr_archive *ar, bool remove_tmp)
{
	if (ar == NULL)
		return;
	if (ar->fd >= 0)
		close(ar->fd);
	if (ar->tmp_path && remove_tmp) {
		unlink(ar->tmp_path);
		gsr_temp_unregister(ar->tmp_path);
	}
	for (size_t i = 0; i < ar->n_members; i++)
		free(ar->members[i].name);
	free(ar->members);
	free(ar->buf);
	free(ar->zbuf);
	ZSTD_freeCCtx(ar->cz);
	free(ar->final_path);
	free(ar->tmp_path);
	free(ar);
}

void
gsr_archive_abort(struct gsr_archive *ar)
{
	ar_free(ar, true);
}

size_t
gsr_archive_n_members(const struct gsr_archive *ar)
{
	return ar ? ar->n_members : 0;
}

struct gsr_archive *
gsr_archive_create(struct gsr_ctx *ctx, const char *final_path, bool force,
                   time_t mtime)
{
	struct gsr_archive *ar = NULL;
	struct stat st;
	int fd;

	if (gsr_ctx_failed(ctx))
		return NULL;
	if (!force && lstat(final_path, &st) == 0) {
		gsr_ctx_fail(ctx, GSR_ERR_EXISTS, "'%s' already exists",
		             final_path);
		goto fail;
	}
	if ((ar = calloc(1, sizeof *ar)) == NULL) {
		gsr_ctx_fail(ctx, GSR_ERR_NOMEM, "out of memory");
		goto fail;
	}
	ar->fd = -1;
	ar->force = force;
	ar->mtime = mtime;
	ar->zcap = ZSTD_CStreamOutSize();
	gsr_sha256_init(&ar->file_hash);
	if ((ar->final_path = strdup(final_path)) == NULL ||
	    (ar->buf = malloc(CHUNK)) == NULL ||
	    (ar->zbuf = malloc(ar->zcap)) == NULL ||
	    (ar->cz = new_cctx()) == NULL ||
	    asprintf(&ar->tmp_path, "%s.tmp-XXXXXX", final_path) < 0) {
		ar->tmp_path = NULL;
		gsr_ctx_fail(ctx, GSR_ERR_NOMEM, "out of memory");
		goto fail;
	}
	/* mkostemp creates the file with mode 0600 (less under an unusual
	 * umask): it is never readable by others, not even for a moment.
	 * It is registered in the same step, so a signal cannot leave it. */
	if ((fd = gsr_temp_mkstemp(ar->tmp_path)) < 0) {
		gsr_ctx_fail(ctx, GSR_ERR_IO, "cannot create '%s': %s",
		             ar->tmp_path, strerror(errno));
		free(ar->tmp_path);
		ar->tmp_path = NULL;
		goto fail;
	}
	ar->fd = fd;
	if (fchmod(fd, 0600) != 0) {
		gsr_ctx_fail(ctx, GSR_ERR_IO, "cannot set the mode of '%s': %s",
		             ar->tmp_path, strerror(errno));
		goto fail;
	}
	return ar;
fail:
	ar_free(ar, true);
	return NULL;
}

/* Fail with GSR_ERR_USAGE unless name may be a new member's: see
 * archive.h. */
static int
check_name(struct gsr_ctx *ctx, const struct gsr_archive *ar, const char *name)
{
	const char *why = name_problem(name, NULL);
	bool printable = why != why_control && why != why_not_utf8;

	if (why == NULL && !strcmp(name, GSR_ARCHIVE_MANIFEST))
		why = "a name reserved for the manifest";
	if (why == NULL && !in_layout(name, false))
		why = OUTSIDE_LAYOUT;
	for (size_t i = 0; why == NULL && i < ar->n_members; i++)
		if (!strcmp(ar->members[i].name, name))
			why = "a name already added";
	if (why == NULL)
		return 0;
	if (!printable)
		return gsr_ctx_fail(ctx, GSR_ERR_USAGE,
		                    "archive member refused: "
		                    "%s",
		                    why);
	return gsr_ctx_fail(ctx, GSR_ERR_USAGE,
	                    "archive member '%.200s' "
	                    "refused: %s",
	                    name, why);
}

/* v in octal, zero-padded to width - 1 digits and a NUL. */
static void
octal(unsigned char *field, size_t width, uint64_t v)
{
	field[width - 1] = '\0';
	for (size_t i = width - 1; i > 0; i--) {
		field[i - 1] = (unsigned char)('0' + (v & 7));
		v >>= 3;
	}
}

/*
 * One ustar header block: a regular file (type '0') or a pax extended
 * header (type 'x') named name (at most 100 bytes) under prefix (at most
 * 155), of size bytes and time mtime (both at most USTAR_MAX), mode 0600,
 * owned by root.
 */
static void
ustar_block(unsigned char h[TAR_BLOCK], const char *name, size_t nlen,
            const char *prefix, size_t plen, uint64_t size, uint64_t mtime,
            char type)
{
	unsigned sum = 0;

	memset(h, 0, TAR_BLOCK);
	memcpy(h, name, nlen);
	octal(h + 100, 8, 0600);
	octal(h + 108, 8, 0);
	octal(h + 116, 8, 0);
	octal(h + 124, 12, size);
	octal(h + 136, 12, mtime);
	memset(h + 148, ' ', 8);
	h[156] = (unsigned char)type;
	memcpy(h + 257,
	       "ustar\0"
	       "00",
	       8);
	memcpy(h + 265, "root", 4);
	memcpy(h + 297, "root", 4);
	octal(h + 329, 8, 0);
	octal(h + 337, 8, 0);
	memcpy(h + 345, prefix, plen);
	for (size_t i = 0; i < TAR_BLOCK; i++)
		sum += h[i];
	octal(h + 148, 7, sum);
	h[155] = ' ';
}

/* A pax record "LEN key=value\n", LEN counting the whole record. */
static void
pax_record(struct strbuf *sb, const char *key, const char *value, size_t vlen)
{
	size_t body = 1 + strlen(key) + 1 + vlen + 1; /* " key=value\n" */
	size_t len = body + 1;

	/* The length counts its own digits. */
	while (snprintf(NULL, 0, "%zu", len) + body != len)
		len = (size_t)snprintf(NULL, 0, "%zu", len) + body;
	sb_addf(sb, "%zu %s=", len, key);
	sb_add(sb, value, vlen);
	sb_addc(sb, '\n');
}

/*
 * Write the header of a regular member: ustar when it can hold the name,
 * size and time; otherwise a pax extended header first.  Non-ASCII names
 * always go into the pax header, as UTF-8.  After this the stream is
 * broken until end_member(): a failure in between leaves it unusable.
 */
static int
write_header(struct gsr_ctx *ctx, struct gsr_archive *ar, const char *name,
             uint64_t size)
{
	unsigned char h[TAR_BLOCK];
	struct strbuf pax = STRBUF_INIT;
	size_t nlen = strlen(name), split = 0;
	bool ascii = true, fits = nlen <= 100;
	uint64_t mtime = ar->mtime < 0 ? 0 : (uint64_t)ar->mtime;
	bool mtime_ok = ar->mtime >= 0 && (uint64_t)ar->mtime <= USTAR_MAX;
	char shown[101];
	int rc = -1;

	for (size_t i = 0; i < nlen; i++)
		if ((unsigned char)name[i] >= 0x80)
			ascii = false;
	/* ustar's prefix: a '/' with at most 155 bytes before it and 1 to
	 * 100 after. */
	for (size_t i = 0; !fits && i < nlen && i <= 155; i++)
		if (name[i] == '/' && nlen - i - 1 <= 100 && nlen - i - 1 > 0) {
			split = i;
			fits = true;
		}
	if (!ascii || !fits || size > USTAR_MAX || !mtime_ok) {
		const char *base = strrchr(name, '/');
		size_t k = 0;
		char num[24];

		if (!ascii || !fits)
			pax_record(&pax, "path", name, nlen);
		if (size > USTAR_MAX) {
			snprintf(num, sizeof num, "%" PRIu64, size);
			pax_record(&pax, "size", num, strlen(num));
		}
		if (!mtime_ok) {
			snprintf(num, sizeof num, "%lld", (long long)ar->mtime);
			pax_record(&pax, "mtime", num, strlen(num));
		}
		if (pax.failed) {
			gsr_ctx_fail(ctx, GSR_ERR_NOMEM, "out of memory");
			goto out;
		}
		ar->broken = true;
		/* The names in the ustar blocks: ASCII, for readers that do
		 * not know pax. */
		base = base ? base + 1 : name;
		memcpy(shown, "PaxHeader/", 10);
		k = 10;
		for (const char *p = base; *p && k < 100; p++)
			shown[k++] = (unsigned char)*p < 0x80 ? *p : '_';
		ustar_block(h, shown, k, "", 0, pax.len, mtime_ok ? mtime : 0,
		            'x');
		if (tar_put(ctx, ar, h, TAR_BLOCK) ||
		    tar_put(ctx, ar, pax.buf, pax.len) || tar_pad(ctx, ar))
			goto out;
		k = 0;
		for (const char *p = base; *p && k < 100; p++)
			shown[k++] = (unsigned char)*p < 0x80 ? *p : '_';
		ustar_block(h, shown, k, "", 0, size > USTAR_MAX ? 0 : size,
		            mtime_ok ? mtime : 0, '0');
	} else if (nlen <= 100) {
		ustar_block(h, name, nlen, "", 0, size, mtime, '0');
	} else {
		ustar_block(h, name + split + 1, nlen - split - 1, name, split,
		            size, mtime, '0');
	}
	ar->broken = true;
	if (tar_put(ctx, ar, h, TAR_BLOCK))
		goto out;
	rc = 0;
out:
	sb_release(&pax);
	return rc;
}

/*
 * Start a member that the manifest lists (its name checked): make room for
 * its record (so that recording it cannot fail once it is written), store
 * a copy of the name in *copy, and write its header.
 */
static int
begin_member(struct gsr_ctx *ctx, struct gsr_archive *ar, const char *name,
             uint64_t size, char **copy)
{
	if (ar->broken)
		return gsr_ctx_fail(ctx, GSR_ERR_INTERNAL,
		                    "the archive '%s' is incomplete after an "
		                    "earlier error",
		                    ar->tmp_path);
	if (gsr_grow((void **)&ar->members, &ar->cap_members, ar->n_members + 1,
	             sizeof *ar->members) ||
	    (*copy = strdup(name)) == NULL)
		return gsr_ctx_fail(ctx, GSR_ERR_NOMEM, "out of memory");
	return write_header(ctx, ar, name, size);
}

/* Pad the member's data to a block and record it. */
static int
end_member(struct gsr_ctx *ctx, struct gsr_archive *ar, char **copy,
           uint64_t size, const char sha256[GSR_SHA256_HEX])
{
	struct ar_member *m;

	if (tar_pad(ctx, ar))
		return -1;
	m = &ar->members[ar->n_members++];
	m->name = *copy;
	*copy = NULL;
	m->size = size;
	memcpy(m->sha256, sha256, GSR_SHA256_HEX);
	ar->broken = false;
	return 0;
}

int
gsr_archive_add_file(struct gsr_ctx *ctx, struct gsr_archive *ar,
                     const char *name, const char *src_path)
{
	struct gsr_sha256 h;
	char sha[GSR_SHA256_HEX];
	struct stat st;
	uint64_t size, done = 0;
	char *copy = NULL;
	ssize_t n;
	int fd = -1, rc = -1;

	if (gsr_ctx_failed(ctx))
		return -1;
	if (ar == NULL)
		return gsr_ctx_fail(ctx, GSR_ERR_INTERNAL,
		                    "no archive to add to");
	if (check_name(ctx, ar, name))
		return -1;
	if ((fd = gsr_open_input(ctx, GSR_ERR_IO, src_path, true, &st)) < 0)
		goto out;
	size = (uint64_t)st.st_size;
	if (begin_member(ctx, ar, name, size, &copy))
		goto out;
	gsr_sha256_init(&h);
	while (done < size) {
		size_t want =
		    size - done < CHUNK ? (size_t)(size - done) : CHUNK;

		if (gsr_ctx_check_cancel(ctx))
			goto out;
		ar_progress(ctx, ar);
		n = read(fd, ar->buf, want);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			gsr_ctx_fail(ctx, GSR_ERR_IO, "cannot read '%s': %s",
			             src_path, strerror(errno));
			goto out;
		}
		if (n == 0) {
			gsr_ctx_fail(
			    ctx, GSR_ERR_IO,
			    "'%s' shrank while it was archived (%" PRIu64
			    " of %" PRIu64 " bytes read)",
			    src_path, done, size);
			goto out;
		}
		gsr_sha256_update(&h, ar->buf, (size_t)n);
		if (tar_put(ctx, ar, ar->buf, (size_t)n))
			goto out;
		done += (uint64_t)n;
	}
	/* One byte more would mean it grew: what is archived is then not
	 * the whole file. */
	do
		n = read(fd, ar->buf, 1);
	while (n < 0 && errno == EINTR);
	if (n != 0) {
		gsr_ctx_fail(ctx, GSR_ERR_IO,
		             n < 0 ? "cannot read '%s': %s"
		                   : "'%s' grew while it was archived%s",
		             src_path, n < 0 ? strerror(errno) : "");
		goto out;
	}
	gsr_sha256_hex(&h, sha);
	if (end_member(ctx, ar, &copy, size, sha))
		goto out;
	rc = 0;
out:
	free(copy);
	if (fd >= 0)
		close(fd);
	return rc;
}

int
gsr_archive_add_buffer(struct gsr_ctx *ctx, struct gsr_archive *ar,
                       const char *name, const void *data, size_t n)
{
	const unsigned char *p = data;
	struct gsr_sha256 h;
	char sha[GSR_SHA256_HEX];
	char *copy = NULL;
	size_t done = 0;
	int rc = -1;

	if (gsr_ctx_failed(ctx))
		return -1;
	if (ar == NULL)
		return gsr_ctx_fail(ctx, GSR_ERR_INTERNAL,
		                    "no archive to add to");
	if (check_name(ctx, ar, name) || begin_member(ctx, ar, name, n, &copy))
		goto out;
	gsr_sha256_init(&h);
	while (done < n) {
		size_t k = n - done < CHUNK ? n - done : CHUNK;

		if (gsr_ctx_check_cancel(ctx))
			goto out;
		ar_progress(ctx, ar);
		gsr_sha256_update(&h, p + done, k);
		if (tar_put(ctx, ar, p + done, k))
			goto out;
		done += k;
	}
	gsr_sha256_hex(&h, sha);
	if (end_member(ctx, ar, &copy, n, sha))
		goto out;
	rc = 0;
out:
	free(copy);
	return rc;
}

int
gsr_archive_add_spooled(struct gsr_ctx *ctx, struct gsr_archive *ar,
                        const char *name, struct gsr_archive_spool *sp,
                        size_t idx)
{
	const struct spool_member *m;
	char *copy = NULL;
	uint64_t done = 0;
	int rc = -1;

	if (gsr_ctx_failed(ctx))
		return -1;
	if (ar == NULL || sp == NULL || idx >= sp->n_m)
		return gsr_ctx_fail(ctx, GSR_ERR_INTERNAL,
		                    "no such spooled member");
	m = &sp->m[idx];
	if (check_name(ctx, ar, name) ||
	    begin_member(ctx, ar, name, m->size, &copy) ||
	    tar_end_frame(ctx, ar))
		goto out;
	/* The member's own frames follow the header's as they are. */
	while (done < m->clen) {
		size_t want =
		    m->clen - done < CHUNK ? (size_t)(m->clen - done) : CHUNK;
		ssize_t n;

		if (gsr_ctx_check_cancel(ctx))
			goto out;
		ar_progress(ctx, ar);
		n = pread(sp->fd, ar->buf, want, (off_t)(m->off + done));
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			gsr_ctx_fail(ctx, GSR_ERR_IO,
			             "cannot read a spool file: %s",
			             n < 0 ? strerror(errno) : "it is short");
			goto out;
		}
		if (ar_emit(ar, ar->buf, (size_t)n) != 0) {
			ar_fail(ctx, ar, -1);
			goto out;
		}
		done += (uint64_t)n;
	}
	ar->tar_pos += m->size;
	if (end_member(ctx, ar, &copy, m->size, m->sha256))
		goto out;
	rc = 0;
out:
	free(copy);
	return rc;
}

static int
not_dots(const struct dirent *d)
{
	return strcmp(d->d_name, ".") != 0 && strcmp(d->d_name, "..") != 0;
}

/* Byte order, whatever the locale: the archive must not depend on it. */
static int
by_name(const struct dirent **a, const struct dirent **b)
{
	return strcmp((*a)->d_name, (*b)->d_name);
}
static int
add_dir(struct gsr_ctx *ctx, struct gsr_archive *ar, const char *prefix,
        const char *dir, int depth)
{
	struct dirent **list = NULL;
	char *path = NULL, *name = NULL;
	int n = -1, rc = -1;

	if (depth > TREE_DEPTH_MAX) {
		gsr_ctx_fail(ctx, GSR_ERR_IO,
		             "'%s': directories nested more "
		             "than %d deep",
		             dir, TREE_DEPTH_MAX);
		goto out;
	}
	if ((n = scandir(dir, &list, not_dots, by_name)) < 0) {
		gsr_ctx_fail(ctx, GSR_ERR_IO,
		             "cannot read the directory '%s': %s", dir,
		             strerror(errno));
		goto out;
	}
	for (int i = 0; i < n; i++) {
		const char *base = list[i]->d_name;
		struct stat st;

		free(path);
		free(name);
		path = name = NULL;
		if (asprintf(&path, "%s/%s", dir, base) < 0) {
			path = NULL;
			gsr_ctx_fail(ctx, GSR_ERR_NOMEM, "out of memory");
			goto out;
		}
		if (asprintf(&name, "%s%s%s", prefix, *prefix ? "/" : "",
		             base) < 0) {
			name = NULL;
			gsr_ctx_fail(ctx, GSR_ERR_NOMEM, "out of memory");
			goto out;
		}
		if (lstat(path, &st) != 0) {
			gsr_ctx_fail(ctx, GSR_ERR_IO, "cannot read '%s': %s",
			             path, strerror(errno));
			goto out;
		}
		if (S_ISDIR(st.st_mode)) {
			if (add_dir(ctx, ar, name, path, depth + 1))
				goto out;
		} else if (S_ISREG(st.st_mode)) {
			if (gsr_archive_add_file(ctx, ar, name, path))
				goto out;
		}
	}
	rc = 0;
out:
	free(path);
	free(name);
	for (int i = 0; i < n; i++)
		free(list[i]);
	free(list);
	return rc;
}

int
gsr_archive_add_tree(struct gsr_ctx *ctx, struct gsr_archive *ar,
                     const char *prefix, const char *dir)
{
	if (gsr_ctx_failed(ctx))
		return -1;
	if (ar == NULL)
		return gsr_ctx_fail(ctx, GSR_ERR_INTERNAL,
		                    "no archive to add to");
	return add_dir(ctx, ar, prefix ? prefix : "", dir, 0);
}

/* The manifest, pretty-printed, in a malloc'ed buffer. */
static int
build_manifest(struct gsr_ctx *ctx, const struct gsr_archive *ar,
               void (*write_meta)(struct jsonw *jw, void *arg), void *arg,
               char **out, size_t *len)
{
	char created[32], nettle_v[32];
	struct jsonw jw;
	struct tm tm;
	FILE *f = NULL;
	int rc = -1;

	*out = NULL;
	if (gmtime_r(&ar->mtime, &tm) == NULL ||
	    strftime(created, sizeof created, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0) {
		gsr_ctx_fail(ctx, GSR_ERR_USAGE,
		             "archive time %lld is out of range",
		             (long long)ar->mtime);
		goto out;
	}
	snprintf(nettle_v, sizeof nettle_v, "%d.%d", nettle_version_major(),
	         nettle_version_minor());
	if ((f = open_memstream(out, len)) == NULL) {
		gsr_ctx_fail(ctx, GSR_ERR_NOMEM, "out of memory");
		goto out;
	}
	jw_init(&jw, f, true);
	jw_obj_begin(&jw);
	jw_kstr(&jw, "format", GSR_ARCHIVE_FORMAT);
	jw_kint(&jw, "version", GSR_ARCHIVE_VERSION);
	jw_kstr(&jw, "created", created);
	jw_key(&jw, "tools");
	jw_obj_begin(&jw);
	jw_kstr(&jw, "gsrecover", GSR_VERSION);
	jw_kstr(&jw, "sqlite", sqlite3_libversion());
	jw_kstr(&jw, "zstd", ZSTD_versionString());
	/* Not archive_version_details(), which leaks at each call in
	 * libarchive 3.6; the zstd that it would name is "zstd" above. */
	jw_kstr(&jw, "libarchive", archive_version_string());
	jw_kstr(&jw, "nettle", nettle_v);
	jw_obj_end(&jw);
	jw_key(&jw, "members");
	jw_arr_begin(&jw);
	for (size_t i = 0; i < ar->n_members; i++) {
		jw_obj_begin(&jw);
		jw_kstr(&jw, "name", ar->members[i].name);
		jw_kint(&jw, "size", (int64_t)ar->members[i].size);
		jw_kstr(&jw, "sha256", ar->members[i].sha256);
		jw_obj_end(&jw);
	}
	jw_arr_end(&jw);
	if (write_meta)
		write_meta(&jw, arg);
	jw_obj_end(&jw);
	jw_end_line(&jw);
	if (jw.failed || jw.depth != 0) {
		gsr_ctx_fail(ctx, GSR_ERR_INTERNAL,
		             "the manifest's JSON is not well nested");
		goto out;
	}
	if (ferror(f)) {
		gsr_ctx_fail(ctx, GSR_ERR_NOMEM, "out of memory");
		goto out;
	}
	rc = 0;
out:
	if (f && fclose(f) != 0 && rc == 0)
		rc = gsr_ctx_fail(ctx, GSR_ERR_NOMEM, "out of memory");
	/* What the reader would refuse is not written. */
	if (rc == 0 && *len > GSR_ARCHIVE_MANIFEST_MAX)
		rc = gsr_ctx_fail(ctx, GSR_ERR_NOMEM,
		                  "the manifest would be "
		                  "larger than %zu MiB",
		                  GSR_ARCHIVE_MANIFEST_MAX >> 20);
	if (rc != 0) {
		free(*out);
		*out = NULL;
	}
	return rc;
}

/*
 * Move tmp to dst.  Without force, never replace: renameat2's
 * RENAME_NOREPLACE, or link and unlink where the file system lacks it.
 */
static int
publish(struct gsr_ctx *ctx, const char *tmp, const char *dst, bool force)
{
	if (force) {
		if (rename(tmp, dst) == 0)
			return 0;
	} else if (renameat2(AT_FDCWD, tmp, AT_FDCWD, dst, RENAME_NOREPLACE) ==
	           0) {
		return 0;
	} else if (errno == EINVAL || errno == ENOSYS) {
		if (link(tmp, dst) == 0) {
			unlink(tmp);
			return 0;
		}
	}
	if (errno == EEXIST)
		return gsr_ctx_fail(ctx, GSR_ERR_EXISTS, "'%s' already exists",
		                    dst);
	return gsr_ctx_fail(ctx, GSR_ERR_IO, "cannot rename '%s' to '%s': %s",
	                    tmp, dst, strerror(errno));
}

/* fsync the directory that holds path, so that the rename is durable. */
static int
sync_dir(struct gsr_ctx *ctx, const char *path)
{
	if (gsr_sync_parent(path) != 0)
		return gsr_ctx_fail(
		    ctx, errno == ENOMEM ? GSR_ERR_NOMEM : GSR_ERR_IO,
		    "'%s' is written, but its directory cannot "
		    "be synced: %s",
		    path, strerror(errno));
	return 0;
}

int
gsr_archive_finish(struct gsr_ctx *ctx, struct gsr_archive *ar,
                   void (*write_meta)(struct jsonw *jw, void *arg), void *arg,
                   char sha256_out[GSR_SHA256_HEX])
{
	static const unsigned char eof[2 * TAR_BLOCK];
	bool published = false;
	char *manifest = NULL;
	char *copy = NULL;
	struct gsr_sha256 h;
	char sha[GSR_SHA256_HEX];
	size_t len = 0;
	int fd, rc = -1;

	if (gsr_ctx_failed(ctx) || ar == NULL)
		goto out;
	if (ar->broken) {
		gsr_ctx_fail(ctx, GSR_ERR_INTERNAL,
		             "the archive '%s' is incomplete "
		             "after an earlier error",
		             ar->tmp_path);
		goto out;
	}
	if (build_manifest(ctx, ar, write_meta, arg, &manifest, &len))
		goto out;
	/* The manifest is not listed in itself. */
	gsr_sha256_init(&h);
	gsr_sha256_update(&h, manifest, len);
	gsr_sha256_hex(&h, sha);
	if (gsr_grow((void **)&ar->members, &ar->cap_members, ar->n_members + 1,
	             sizeof *ar->members) ||
	    (copy = strdup(GSR_ARCHIVE_MANIFEST)) == NULL) {
		gsr_ctx_fail(ctx, GSR_ERR_NOMEM, "out of memory");
		goto out;
	}
	if (write_header(ctx, ar, GSR_ARCHIVE_MANIFEST, len) ||
	    tar_put(ctx, ar, manifest, len) ||
	    end_member(ctx, ar, &copy, len, sha) ||
	    tar_put(ctx, ar, eof, sizeof eof) || tar_end_frame(ctx, ar))
		goto out;
	fd = ar->fd;
	ar->fd = -1;
	if (fsync(fd) != 0) {
		gsr_ctx_fail(ctx, GSR_ERR_IO, "cannot write '%s': %s",
		             ar->tmp_path, strerror(errno));
		close(fd);
		goto out;
	}
	if (close(fd) != 0) {
		gsr_ctx_fail(ctx, GSR_ERR_IO, "cannot write '%s': %s",
		             ar->tmp_path, strerror(errno));
		goto out;
	}
	if (publish(ctx, ar->tmp_path, ar->final_path, ar->force))
		goto out;
	published = true;
	gsr_temp_unregister(ar->tmp_path);
	if (sha256_out)
		gsr_sha256_hex(&ar->file_hash, sha256_out);
	if (sync_dir(ctx, ar->final_path))
		goto out;
	rc = 0;
out:
	free(copy);
	free(manifest);
	ar_free(ar, !published);
	return rc;
}

/* ---- verifier -------------------------------------------------------- */

/* One member as the archive holds it. */
struct vr_entry {
	char *name;
	uint64_t size;
	char sha256[GSR_SHA256_HEX];
	bool regular;
	bool bad_name;   /* too long: cut, never matched */
	bool layout_dir; /* a directory entry the layout has: not a member */
	bool dup;        /* another member has its name, and this is not the
	                  * one compared with the manifest */
	bool used;       /* matched with a manifest member, or the manifest */
	/* "unsafe" or "foreign", and why (see judge_entry()), or NULL. */
	const char *status;
	const char *reason;
	char *link; /* a link's target (cut like a name), or NULL */
};

struct vr_state {
	struct archive *a;
	int fd;
	unsigned char *buf; /* CHUNK bytes, for the file */
	size_t pending;     /* bytes in buf read, not yet given to libarchive */
	unsigned char *data; /* CHUNK bytes, for member data */
	struct gsr_sha256 file_hash;
	uint64_t file_size;
	bool file_eof;
	int file_errno; /* a read error, or 0 */
	/*
	 * A zstd file is decompressed here, not by libarchive, whose filter
	 * decompresses ahead in large pieces and so fails on damage before
	 * it hands over the members that precede it: zd, and the file's
	 * bytes in buf as zin, zin_at being the offset of buf in the file.
	 */
	ZSTD_DStream *zd;
	ZSTD_inBuffer zin;
	uint64_t zin_at;
	uint64_t frame_at; /* offset of the frame being decompressed */
	bool in_frame;
	unsigned char *zout;
	size_t zout_cap;
	char *z_error; /* where and why decompression failed */
	struct vr_entry *ents;
	size_t n_ents, cap_ents;
	size_t name_bytes;
	size_t manifest_ent; /* index in ents, or SIZE_MAX */
	bool manifest_cut;   /* its data could not be read to the end */
	struct strbuf manifest;
	json_t *root;
	/* Sorted indices into ents, by name then position. */
	size_t *order;
};

static void set_msg(char **dst, const char *fmt, ...) GSR_PRINTF(2, 3);

/* Store a formatted message in *dst unless one is there already. */
static void
set_msg(char **dst, const char *fmt, ...)
{
	va_list ap;

	if (*dst)
		return;
	va_start(ap, fmt);
	if (vasprintf(dst, fmt, ap) < 0)
		*dst = NULL;
	va_end(ap);
	if (*dst == NULL)
		*dst = strdup("out of memory");
}

/* Read the next piece of the file into st->buf, hashing it.  Returns its
 * length, 0 at the end of the file, or -1 with st->file_errno set. */
static ssize_t
vr_read_file(struct vr_state *st)
{
	ssize_t n;

	do
		n = read(st->fd, st->buf, CHUNK);
	while (n < 0 && errno == EINTR);
	if (n < 0) {
		st->file_errno = errno ? errno : EIO;
		return -1;
	}
	st->file_eof = n == 0;
	gsr_sha256_update(&st->file_hash, st->buf, (size_t)n);
	st->file_size += (uint64_t)n;
	return n;
}

/* Whether the n bytes at p start a zstd frame or a skippable frame. */
static bool
is_zstd(const unsigned char *p, size_t n)
{
	uint32_t magic;

	if (n < 4)
		return false;
	magic = (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
	        (uint32_t)p[3] << 24;
	return magic == ZSTD_MAGICNUMBER ||
	       (magic & ZSTD_MAGIC_SKIPPABLE_MASK) ==
	           ZSTD_MAGIC_SKIPPABLE_START;
}

/*
 * The next piece of the decompressed stream into st->zout: its length in
 * *out, 0 at the end of the file after a complete frame, or -1 when the
 * file cannot be read or decompressed (st->file_errno or st->z_error, the
 * frame and its offset in the file, say why).
 */
static la_ssize_t
vr_unzstd(struct vr_state *st, const void **out)
{
	while (st->z_error == NULL) {
		ZSTD_outBuffer o = {st->zout, st->zout_cap, 0};
		size_t r;

		if (st->zin.pos == st->zin.size) {
			ssize_t n;

			if (st->file_eof) {
				if (!st->in_frame)
					return 0;
				set_msg(&st->z_error,
				        "the file ends inside the "
				        "zstd frame at byte %" PRIu64,
				        st->frame_at);
				break;
			}
			st->zin_at += st->zin.size;
			if ((n = vr_read_file(st)) < 0)
				return -1;
			st->zin.src = st->buf;
			st->zin.size = (size_t)n;
			st->zin.pos = 0;
			continue;
		}
		/* ZSTD_decompressStream() stops at the end of a frame, so a
		 * frame starts where the previous call left off. */
		if (!st->in_frame)
			st->frame_at = st->zin_at + st->zin.pos;
		r = ZSTD_decompressStream(st->zd, &o, &st->zin);
		if (ZSTD_isError(r)) {
			set_msg(&st->z_error,
			        "the zstd frame at byte %" PRIu64
			        " of the file: %s",
			        st->frame_at, ZSTD_getErrorName(r));
			break;
		}
		st->in_frame = r != 0;
		if (o.pos > 0) {
			*out = st->zout;
			return (la_ssize_t)o.pos;
		}
	}
	return -1;
}

/* libarchive's input: the file (hashed on the way), decompressed here
 * when it is zstd. */
static la_ssize_t
vr_read_cb(struct archive *a, void *client, const void **out)
{
	struct vr_state *st = client;
	ssize_t n;

	if (st->zd) {
		n = vr_unzstd(st, out);
	} else if (st->pending) {
		n = (ssize_t)st->pending;
		st->pending = 0;
		*out = st->buf;
	} else {
		n = vr_read_file(st);
		*out = st->buf;
	}
	if (n >= 0)
		return n;
	if (st->file_errno)
		archive_set_error(a, st->file_errno, "%s",
		                  strerror(st->file_errno));
	else
		archive_set_error(a, -1 /* libarchive's ARCHIVE_ERRNO_MISC */,
		                  "%s", st->z_error);
	return -1;
}

/* Why libarchive failed: the damage decompression found when it had
 * (libarchive may describe it as a truncated file), else its message. */
static const char *
vr_error(const struct vr_state *st)
{
	return st->z_error ? st->z_error : la_error(st->a);
}

static int
push_result(struct gsr_ctx *ctx, struct gsr_verify_result *res,
            const char *name, const char *status)
{
	struct gsr_verify_member *m;

	if (gsr_grow((void **)&res->members, &res->cap_members,
	             res->n_members + 1, sizeof *res->members))
		return gsr_ctx_fail(ctx, GSR_ERR_NOMEM, "out of memory");
	m = &res->members[res->n_members];
	memset(m, 0, sizeof *m);
	if ((m->name = strdup(name)) == NULL)
		return gsr_ctx_fail(ctx, GSR_ERR_NOMEM, "out of memory");
	m->status = status;
	res->n_members++;
	return 0;
}

/* A copy of s, cut to SHOWN_NAME_MAX bytes and "..." when it is longer
 * than GSR_ARCHIVE_NAME_MAX; NULL when out of memory. */
static char *
shown(const char *s)
{
	char *p;

	if (strlen(s) <= GSR_ARCHIVE_NAME_MAX)
		return strdup(s);
	if (asprintf(&p, "%.*s...", SHOWN_NAME_MAX, s) < 0)
		return NULL;
	return p;
}

/*
 * Judge entry e of the archive, named name (in full), against what the
 * archives gsrecover writes hold (see archive.h): v->status "unsafe" when
 * extracting it would write outside the directory extracted into (an
 * absolute name, a ".." component) or make something other than a file
 * or a directory of the layout (a link, a device, a FIFO...), "foreign"
 * for a file whose name is not a member's, each with v->reason, or
 * v->layout_dir for a directory entry of the layout (tar writes those);
 * otherwise nothing.  v->link gets a link's target.  Returns 0, or -1
 * when out of memory.
 */
static int
judge_entry(struct vr_entry *v, const char *name, struct archive_entry *e)
{
	const char *hardlink = archive_entry_hardlink(e);
	const char *target = NULL, *why;
	bool unsafe;

	if (hardlink == NULL && archive_entry_filetype(e) == AE_IFDIR) {
		size_t len = strlen(name);
		char *dir = strdup(name);

		if (dir == NULL)
			return -1;
		/* tar names a directory with a slash at the end. */
		if (len > 1 && dir[len - 1] == '/')
			dir[len - 1] = '\0';
		why = name_problem(dir, &unsafe);
		v->layout_dir = why == NULL && in_layout(dir, true);
		free(dir);
		if (v->layout_dir)
			return 0;
		v->status = "unsafe";
		v->reason =
		    why && unsafe ? why : "a directory outside the layout";
		return 0;
	}
	why = name_problem(name, &unsafe);
	if (why && unsafe) {
		v->status = "unsafe";
		v->reason = why;
		return 0;
	}
	if (hardlink) {
		v->reason = "a hard link";
		target = hardlink;
	} else {
		switch (archive_entry_filetype(e)) {
		case AE_IFREG:
			break;
		case AE_IFLNK:
			v->reason = "a symbolic link";
			target = archive_entry_symlink(e);
			break;
		case AE_IFCHR:
			v->reason = "a character device";
			break;
		case AE_IFBLK:
			v->reason = "a block device";
			break;
		case AE_IFIFO:
			v->reason = "a FIFO";
			break;
		case AE_IFSOCK:
			v->reason = "a socket";
			break;
		default:
			v->reason = "neither a file nor a directory";
			break;
		}
	}
	if (v->reason) {
		v->status = "unsafe";
		if (target && (v->link = shown(target)) == NULL)
			return -1;
		return 0;
	}
	if (why == NULL && !in_layout(name, false))
		why = OUTSIDE_LAYOUT;
	if (why) {
		v->status = "foreign";
		v->reason = why;
	}
	return 0;
}

/*
 * Read the next member's data, hashing it, and keep the manifest's bytes.
 * Returns 0, 1 when the archive cannot be read further (res->read_error
 * says why), or -1 on an error in ctx.
 */
static int
read_member(struct gsr_ctx *ctx, struct vr_state *st,
            struct gsr_verify_result *res, struct archive_entry *e)
{
	const char *name = archive_entry_pathname(e);
	struct vr_entry *v;
	struct gsr_sha256 h;
	size_t len;
	bool is_manifest;

	if (name == NULL)
		name = archive_entry_pathname_utf8(e);
	if (name == NULL)
		name = "";
	len = strlen(name);
	if (st->n_ents >= GSR_ARCHIVE_MEMBERS_MAX) {
		set_msg(&res->read_error,
		        "more than %zu members: the rest was "
		        "not read",
		        GSR_ARCHIVE_MEMBERS_MAX);
		return 1;
	}
	if (len > GSR_ARCHIVE_NAME_MAX)
		len = SHOWN_NAME_MAX;
	if (st->name_bytes + len > NAME_BYTES_MAX) {
		set_msg(&res->read_error,
		        "more than %zu bytes of member names: "
		        "the rest was not read",
		        NAME_BYTES_MAX);
		return 1;
	}
	if (gsr_grow((void **)&st->ents, &st->cap_ents, st->n_ents + 1,
	             sizeof *st->ents))
		return gsr_ctx_fail(ctx, GSR_ERR_NOMEM, "out of memory");
	v = &st->ents[st->n_ents];
	memset(v, 0, sizeof *v);
	v->bad_name = strlen(name) > GSR_ARCHIVE_NAME_MAX;
	if ((v->name = shown(name)) == NULL)
		return gsr_ctx_fail(ctx, GSR_ERR_NOMEM, "out of memory");
	st->n_ents++;
	if (judge_entry(v, name, e))
		return gsr_ctx_fail(ctx, GSR_ERR_NOMEM, "out of memory");
	st->name_bytes += len + (v->link ? strlen(v->link) : 0);
	v->regular = archive_entry_filetype(e) == AE_IFREG &&
	             archive_entry_hardlink(e) == NULL;
	/* A later manifest.json replaces an earlier one, as extracting the
	 * archive would; the earlier ones are then duplicates. */
	is_manifest = v->regular && !v->bad_name &&
	              !strcmp(v->name, GSR_ARCHIVE_MANIFEST);
	if (is_manifest) {
		st->manifest_ent = st->n_ents - 1;
		st->manifest_cut = false;
		sb_reset(&st->manifest);
		st->manifest.max = GSR_ARCHIVE_MANIFEST_MAX;
	}
	gsr_sha256_init(&h);
	for (;;) {
		la_ssize_t n;

		if (gsr_ctx_check_cancel(ctx))
			return -1;
		n = archive_read_data(st->a, st->data, CHUNK);
		if (n == 0)
			break;
		if (n < 0) {
			if (is_manifest)
				st->manifest_cut = true;
			/* The hash of what could be read. */
			gsr_sha256_hex(&h, v->sha256);
			set_msg(&res->read_error, "member '%s': %s", v->name,
			        vr_error(st));
			return 1;
		}
		gsr_sha256_update(&h, st->data, (size_t)n);
		v->size += (uint64_t)n;
		if (is_manifest && !st->manifest.failed)
			sb_add(&st->manifest, st->data, (size_t)n);
	}
	gsr_sha256_hex(&h, v->sha256);
	return 0;
}

static bool
is_sha256_hex(const char *s)
{
	size_t i;

	for (i = 0; s[i]; i++)
		if (!((s[i] >= '0' && s[i] <= '9') ||
		      (s[i] >= 'a' && s[i] <= 'f')))
			return false;
	return i == 64;
}

/* The string value of key in obj (where is the prefix of its name in
 * messages): NULL, with *err set, when the key is there but not a string
 * or missing and required; NULL alone when it is missing and optional. */
static const char *
get_str(json_t *obj, const char *where, const char *key, bool required,
        char **err)
{
	json_t *v = json_object_get(obj, key);

	if (v == NULL) {
		if (required)
			set_msg(err, "%s%s is missing", where, key);
		return NULL;
	}
	if (!json_is_string(v) ||
	    strlen(json_string_value(v)) != json_string_length(v)) {
		set_msg(err, "%s%s is not a string", where, key);
		return NULL;
	}
	return json_string_value(v);
}

/*
 * Check the parsed manifest: its format, version, the types of the
 * standard keys, every member (its name unique, and not the manifest's)
 * and "output".  Returns NULL or the problem.
 */
static char *
check_manifest(json_t *root)
{
	char *err = NULL;
	const char *s;
	json_t *v, *members, *m, *seen = NULL;
	size_t i;

	if (!json_is_object(root)) {
		set_msg(&err, "not a JSON object");
		return err;
	}
	s = get_str(root, "", "format", true, &err);
	if (err)
		return err;
	if (strcmp(s, GSR_ARCHIVE_FORMAT) != 0) {
		set_msg(&err, "format is not \"%s\"", GSR_ARCHIVE_FORMAT);
		return err;
	}
	v = json_object_get(root, "version");
	if (!json_is_integer(v)) {
		set_msg(&err, "version is %s",
		        v ? "not an integer" : "missing");
		return err;
	}
	if (json_integer_value(v) != GSR_ARCHIVE_VERSION) {
		set_msg(&err,
		        "version is %" JSON_INTEGER_FORMAT ": only %d "
		        "is known",
		        json_integer_value(v), GSR_ARCHIVE_VERSION);
		return err;
	}
	get_str(root, "", "created", true, &err);
	if (err)
		return err;
	if (!json_is_object(json_object_get(root, "tools"))) {
		set_msg(&err, "tools is missing or not an object");
		return err;
	}
	members = json_object_get(root, "members");
	if (!json_is_array(members)) {
		set_msg(&err, "members is missing or not an array");
		return err;
	}
	if ((seen = json_object()) == NULL) {
		set_msg(&err, "out of memory");
		return err;
	}
	json_array_foreach(members, i, m)
	{
		char where[64];
		json_t *first;

		snprintf(where, sizeof where, "members[%zu].", i);
		if (!json_is_object(m)) {
			set_msg(&err, "members[%zu] is not an object", i);
			goto out;
		}
		s = get_str(m, where, "name", true, &err);
		if (err)
			goto out;
		if (*s == '\0' || strlen(s) > GSR_ARCHIVE_NAME_MAX) {
			set_msg(&err, "%sname is empty or longer than %d bytes",
			        where, GSR_ARCHIVE_NAME_MAX);
			goto out;
		}
		if (!strcmp(s, GSR_ARCHIVE_MANIFEST)) {
			set_msg(&err, "%sname is %s: the manifest lists itself",
			        where, GSR_ARCHIVE_MANIFEST);
			goto out;
		}
		/* Names are unique in an archive, and so in its manifest. */
		if ((first = json_object_get(seen, s)) != NULL) {
			set_msg(
			    &err,
			    "%sname is that of members[%" JSON_INTEGER_FORMAT
			    "] too",
			    where, json_integer_value(first));
			goto out;
		}
		if (json_object_set_new(seen, s, json_integer((json_int_t)i))) {
			set_msg(&err, "out of memory");
			goto out;
		}
		v = json_object_get(m, "size");
		if (!json_is_integer(v) || json_integer_value(v) < 0) {
			set_msg(&err, "%ssize is not an integer of 0 or more",
			        where);
			goto out;
		}
		s = get_str(m, where, "sha256", true, &err);
		if (err)
			goto out;
		if (!is_sha256_hex(s)) {
			set_msg(&err,
			        "%ssha256 is not 64 lower-case hex digits",
			        where);
			goto out;
		}
	}
	v = json_object_get(root, "output");
	if (v != NULL) {
		if (!json_is_object(v)) {
			set_msg(&err, "output is not an object");
			goto out;
		}
		s = get_str(v, "output.", "sha256", false, &err);
		if (err)
			goto out;
		if (s && !is_sha256_hex(s)) {
			set_msg(&err, "output.sha256 is not 64 lower-case hex "
			              "digits");
			goto out;
		}
		get_str(v, "output.", "path", false, &err);
	}
out:
	json_decref(seen);
	return err;
}

/* For qsort_r: entry indices by name, then by position. */
static int
cmp_order(const void *a, const void *b, void *arg)
{
	const struct vr_entry *ents = arg;
	size_t i = *(const size_t *)a, j = *(const size_t *)b;
	int c = strcmp(ents[i].name, ents[j].name);

	if (c)
		return c;
	return i < j ? -1 : i > j;
}

/* Whether entry v counts among the members, by a name it has in full. */
static bool
named_member(const struct vr_entry *v)
{
	return !v->bad_name && !v->layout_dir;
}

/*
 * Mark the members whose name another member has: all but the first in
 * the archive, or, for manifest.json, all but the one read as the
 * manifest (the last, which extracting the archive would keep).  Needs
 * st->order.
 */
static void
mark_duplicates(struct vr_state *st)
{
	for (size_t i = 0, j; i < st->n_ents; i = j) {
		const char *name = st->ents[st->order[i]].name;
		bool is_manifest = !strcmp(name, GSR_ARCHIVE_MANIFEST) &&
		                   st->manifest_ent != SIZE_MAX;
		bool first = true;

		for (j = i; j < st->n_ents &&
		            !strcmp(st->ents[st->order[j]].name, name);
		     j++) {
			struct vr_entry *v = &st->ents[st->order[j]];

			if (!named_member(v))
				continue;
			if (is_manifest)
				v->dup = st->order[j] != st->manifest_ent;
			else
				v->dup = !first;
			first = false;
		}
	}
}

/* The member named name that the manifest's member of that name is
 * compared with, or SIZE_MAX. */
static size_t
find_entry(const struct vr_state *st, const char *name)
{
	size_t lo = 0, hi = st->n_ents;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (strcmp(st->ents[st->order[mid]].name, name) < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	for (; lo < st->n_ents; lo++) {
		const struct vr_entry *v = &st->ents[st->order[lo]];
		if (strcmp(v->name, name) != 0)
			break;
		if (named_member(v) && !v->dup && !v->used)
			return st->order[lo];
	}
	return SIZE_MAX;
}

/* Give r what the archive holds as v: its size and hash, and its own
 * status and reason when it has one.  Returns 0 or -1. */
static int
found(struct gsr_ctx *ctx, struct gsr_verify_member *r,
      const struct vr_entry *v)
{
	r->present = true;
	r->size = v->size;
	memcpy(r->sha256, v->sha256, sizeof r->sha256);
	if (v->status) {
		r->status = v->status;
		r->reason = v->reason;
	}
	if (v->link && (r->link = strdup(v->link)) == NULL)
		return gsr_ctx_fail(ctx, GSR_ERR_NOMEM, "out of memory");
	return 0;
}

/* Compare the manifest's members with the entries; fill res->members. */
static int
match_members(struct gsr_ctx *ctx, struct vr_state *st,
              struct gsr_verify_result *res)
{
	json_t *members, *m;
	size_t i;

	if (st->n_ents) {
		if ((st->order = calloc(st->n_ents, sizeof *st->order)) == NULL)
			return gsr_ctx_fail(ctx, GSR_ERR_NOMEM,
			                    "out of memory");
		for (i = 0; i < st->n_ents; i++)
			st->order[i] = i;
		qsort_r(st->order, st->n_ents, sizeof *st->order, cmp_order,
		        st->ents);
	}
	mark_duplicates(st);
	members =
	    res->manifest_ok ? json_object_get(st->root, "members") : NULL;
	json_array_foreach(members, i, m)
	{
		const char *name =
		    json_string_value(json_object_get(m, "name"));
		const char *sha =
		    json_string_value(json_object_get(m, "sha256"));
		uint64_t size =
		    (uint64_t)json_integer_value(json_object_get(m, "size"));
		size_t k = find_entry(st, name);
		struct gsr_verify_member *r;
		struct vr_entry *v;

		if (push_result(ctx, res, name, "missing"))
			return -1;
		r = &res->members[res->n_members - 1];
		r->listed = true;
		r->expected_size = size;
		snprintf(r->expected_sha256, sizeof r->expected_sha256, "%s",
		         sha);
		if (k == SIZE_MAX)
			continue;
		v = &st->ents[k];
		v->used = true;
		r->status =
		    v->regular && v->size == size && !strcmp(v->sha256, sha)
		        ? "ok"
		        : "mismatch";
		if (found(ctx, r, v))
			return -1;
	}
	for (i = 0; i < st->n_ents; i++) {
		const struct vr_entry *v = &st->ents[i];
		struct gsr_verify_member *r;

		if (v->used || v->layout_dir)
			continue;
		if (push_result(ctx, res, v->name, "unlisted"))
			return -1;
		r = &res->members[res->n_members - 1];
		if (v->dup) {
			r->status = "duplicate";
			r->reason = "a name that another member has";
		}
		if (found(ctx, r, v))
			return -1;
	}
	return 0;
}

/* Parse the manifest kept in st; set res->manifest_ok or manifest_error. */
static void
load_manifest(struct vr_state *st, struct gsr_verify_result *res)
{
	json_error_t jerr;

	if (st->manifest_ent == SIZE_MAX) {
		set_msg(&res->manifest_error,
		        res->read_error ? "no %s before the damage"
		                        : "the archive has no %s",
		        GSR_ARCHIVE_MANIFEST);
		return;
	}
	st->ents[st->manifest_ent].used = true;
	if (st->manifest_cut) {
		set_msg(&res->manifest_error, "%s cannot be read to its end",
		        GSR_ARCHIVE_MANIFEST);
		return;
	}
	if (st->manifest.failed) {
		set_msg(&res->manifest_error, "%s is larger than %zu MiB",
		        GSR_ARCHIVE_MANIFEST, GSR_ARCHIVE_MANIFEST_MAX >> 20);
		return;
	}
	st->root = json_loadb(sb_str(&st->manifest), st->manifest.len,
	                      JSON_REJECT_DUPLICATES, &jerr);
	if (st->root == NULL) {
		set_msg(&res->manifest_error, "%s: line %d, column %d: %s",
		        GSR_ARCHIVE_MANIFEST, jerr.line, jerr.column,
		        jerr.text);
		return;
	}
	res->manifest_error = check_manifest(st->root);
	res->manifest_ok = res->manifest_error == NULL;
}

/*
 * Let a read other compressions than zstd, but only those libarchive has
 * built in: where it lacks the library it runs an external program, which
 * a hostile archive has no business starting.  A probe on a throwaway
 * handle tells which is which.
 */
static void
add_builtin_filters(struct archive *a)
{
	static int (*const filters[])(struct archive *) = {
	    archive_read_support_filter_gzip,
	    archive_read_support_filter_bzip2,
	    archive_read_support_filter_xz,
	    archive_read_support_filter_lz4,
	};

	for (size_t i = 0; i < GSR_ARRAY_LEN(filters); i++) {
		struct archive *probe = archive_read_new();
		bool builtin = probe && filters[i](probe) == ARCHIVE_OK;

		if (probe)
			archive_read_free(probe);
		if (builtin)
			filters[i](a);
	}
}

static int
hash_db(struct gsr_ctx *ctx, const char *db_path, struct gsr_verify_result *res)
{
	struct stat sb;
	int fd, rc = -1;

	if ((fd = gsr_open_input(ctx, GSR_ERR_INPUT, db_path, false, &sb)) < 0)
		goto out;
	if (gsr_sha256_fd(fd, res->db_sha256, NULL) != 0) {
		gsr_ctx_fail(ctx, GSR_ERR_INPUT, "cannot read '%s': %s",
		             db_path, strerror(errno));
		goto out;
	}
	res->db_checked = true;
	res->db_ok = res->expected_db_sha256[0] != '\0' &&
	             !strcmp(res->db_sha256, res->expected_db_sha256);
	rc = 0;
out:
	if (fd >= 0)
		close(fd);
	return rc;
}

/* What the manifest says of the full export (res->export_kind,
 * export_command, export_problem).  Returns 0, or -1 out of memory. */
static int
check_export(const struct vr_state *st, struct gsr_verify_result *res)
{
	json_t *ex = json_object_get(st->root, "export");
	json_t *members = json_object_get(st->root, "members"), *m, *inc, *cmd;
	bool listed = false, has_manifest = false;
	size_t i;

	json_array_foreach(members, i, m)
	{
		const char *name =
		    json_string_value(json_object_get(m, "name"));
		if (name && !strncmp(name, "export/", 7)) {
			listed = true;
			has_manifest |= !strcmp(name, "export/manifest.json");
		}
	}
	if (ex == NULL) { /* written before the export became optional */
		res->export_kind = has_manifest ? "full" : "none";
		return 0;
	}
	inc = json_object_get(ex, "included");
	cmd = json_object_get(ex, "command");
	if (!json_is_object(ex) || !json_is_boolean(inc) ||
	    (cmd && !json_is_null(cmd) && !json_is_string(cmd))) {
		set_msg(&res->export_problem,
		        "export is not an object with a boolean included and "
		        "a string command");
		return res->export_problem ? 0 : -1;
	}
	res->export_kind = json_is_true(inc) ? "full" : "none";
	if (json_is_string(cmd) &&
	    (res->export_command = strdup(json_string_value(cmd))) == NULL)
		return -1;
	if (json_is_true(inc) && !has_manifest)
		set_msg(&res->export_problem,
		        "the manifest says the full export is in the archive "
		        "but lists no export/manifest.json");
	else if (!json_is_true(inc) && listed)
		set_msg(&res->export_problem,
		        "the manifest says the full export is not in the "
		        "archive but lists members under export/");
	return 0;
}

/* The database against the manifest's output (with db_path), then the
 * count of problems.  Returns 0, or -1 with the error on ctx. */
static int
check_db(struct gsr_ctx *ctx, const struct vr_state *st, const char *db_path,
         struct gsr_verify_result *res)
{
	if (res->manifest_ok) {
		json_t *out = json_object_get(st->root, "output");
		const char *s =
		    json_string_value(json_object_get(out, "sha256"));
		const char *p = json_string_value(json_object_get(out, "path"));

		if (s)
			snprintf(res->expected_db_sha256,
			         sizeof res->expected_db_sha256, "%s", s);
		if ((p && (res->expected_db_path = strdup(p)) == NULL) ||
		    check_export(st, res))
			return gsr_ctx_fail(ctx, GSR_ERR_NOMEM,
			                    "out of memory");
	}
	if (db_path && hash_db(ctx, db_path, res))
		return -1;
	res->n_bad = 0;
	for (size_t i = 0; i < res->n_members; i++)
		if (strcmp(res->members[i].status, "ok") != 0)
			res->n_bad++;
	res->n_bad += !res->manifest_ok;
	res->n_bad += res->read_error != NULL;
	res->n_bad += res->db_checked && !res->db_ok;
	res->n_bad += res->export_problem != NULL;
	return 0;
}

int
gsr_archive_verify(struct gsr_ctx *ctx, const char *archive_path,
                   const char *db_path, struct gsr_verify_result *res)
{
	struct vr_state st = {
	    .fd = -1, .manifest_ent = SIZE_MAX, .manifest = STRBUF_INIT};
	locale_t loc = (locale_t)0, saved = (locale_t)0;
	struct archive_entry *e;
	struct stat sb;
	ssize_t n;
	int r, rc = -1;

	if (gsr_ctx_failed(ctx))
		return -1;
	loc = utf8_locale();
	saved = enter(loc);
	st.fd = gsr_open_input(ctx, GSR_ERR_INPUT, archive_path, false, &sb);
	if (st.fd < 0)
		goto out;
	gsr_sha256_init(&st.file_hash);
	if ((st.buf = malloc(CHUNK)) == NULL ||
	    (st.data = malloc(CHUNK)) == NULL ||
	    (st.a = archive_read_new()) == NULL) {
		gsr_ctx_fail(ctx, GSR_ERR_NOMEM, "out of memory");
		goto out;
	}
	if ((n = vr_read_file(&st)) < 0) {
		gsr_ctx_fail(ctx, GSR_ERR_INPUT, "cannot read '%s': %s",
		             archive_path, strerror(st.file_errno));
		goto out;
	}
	if (is_zstd(st.buf, (size_t)n)) {
		st.zout_cap = ZSTD_DStreamOutSize();
		if ((st.zd = ZSTD_createDStream()) == NULL ||
		    ZSTD_isError(ZSTD_initDStream(st.zd)) ||
		    (st.zout = malloc(st.zout_cap)) == NULL) {
			gsr_ctx_fail(ctx, GSR_ERR_NOMEM, "out of memory");
			goto out;
		}
		st.zin.src = st.buf;
		st.zin.size = (size_t)n;
	} else {
		st.pending = (size_t)n;
	}
	/* Tar only, and only the filters libarchive has built in: none of
	 * those that would run an external program. */
	if (archive_read_support_format_tar(st.a) != ARCHIVE_OK ||
	    (!st.zd && archive_read_support_filter_zstd(st.a) != ARCHIVE_OK)) {
		gsr_ctx_fail(ctx, GSR_ERR_INTERNAL,
		             "libarchive cannot read a "
		             "tar.zst: %s",
		             la_error(st.a));
		goto out;
	}
	if (!st.zd)
		add_builtin_filters(st.a);
	r = archive_read_open(st.a, &st, NULL, vr_read_cb, NULL);
	while (r == ARCHIVE_OK) {
		r = archive_read_next_header(st.a, &e);
		if (r == ARCHIVE_EOF)
			break;
		if (r != ARCHIVE_OK && r != ARCHIVE_WARN) {
			if (st.n_ents > 0)
				set_msg(
				    &res->read_error, "after member '%s': %s",
				    st.ents[st.n_ents - 1].name, vr_error(&st));
			break;
		}
		r = read_member(ctx, &st, res, e);
		if (r < 0)
			goto out;
	}
	/* The rest of a zstd stream is decompressed too (the tar's padding,
	 * or what follows the damage): damage there is damage. */
	while (st.zd && st.z_error == NULL && st.file_errno == 0) {
		const void *p;

		if (gsr_ctx_check_cancel(ctx))
			goto out;
		if (vr_unzstd(&st, &p) <= 0)
			break;
	}
	/* The rest of the file goes into its hash. */
	while (st.file_errno == 0 && !st.file_eof) {
		if (gsr_ctx_check_cancel(ctx))
			goto out;
		vr_read_file(&st);
	}
	if (st.file_errno) {
		gsr_ctx_fail(ctx, GSR_ERR_INPUT, "cannot read '%s': %s",
		             archive_path, strerror(st.file_errno));
		goto out;
	}
	/* Nothing read: not an archive, unless its zstd stream is damaged. */
	if (st.n_ents == 0 && r != ARCHIVE_EOF) {
		if (st.z_error == NULL) {
			gsr_ctx_fail(ctx, GSR_ERR_INPUT,
			             "'%s' is not a readable "
			             "archive: %s",
			             archive_path, la_error(st.a));
			goto out;
		}
		set_msg(&res->read_error, "before the first member: %s",
		        st.z_error);
	}
	/* Damage found only past what libarchive read, or that broke the
	 * tar stream before decompression noticed it. */
	if (st.z_error && res->read_error == NULL)
		set_msg(&res->read_error, "past the end of the tar archive: %s",
		        st.z_error);
	else if (st.z_error && strstr(res->read_error, st.z_error) == NULL) {
		char *both = NULL;

		set_msg(&both, "%s; %s", res->read_error, st.z_error);
		free(res->read_error);
		res->read_error = both;
	}
	gsr_sha256_hex(&st.file_hash, res->archive_sha256);
	res->archive_size = st.file_size;
	load_manifest(&st, res);
	if (match_members(ctx, &st, res))
		goto out;
	if (check_db(ctx, &st, db_path, res))
		goto out;
	rc = 0;
out:
	if (st.a)
		archive_read_free(st.a);
	if (st.fd >= 0)
		close(st.fd);
	for (size_t i = 0; i < st.n_ents; i++) {
		free(st.ents[i].name);
		free(st.ents[i].link);
	}
	free(st.ents);
	free(st.order);
	free(st.buf);
	free(st.data);
	ZSTD_freeDStream(st.zd);
	free(st.zout);
	free(st.z_error);
	sb_release(&st.manifest);
	json_decref(st.root);
	leave(saved);
	if (loc)
		freelocale(loc);
	return rc;
}

void
gsr_verify_result_release(struct gsr_verify_result *res)
{
	if (res == NULL)
		return;
	for (size_t i = 0; i < res->n_members; i++) {
		free(res->members[i].name);
		free(res->members[i].link);
	}
	free(res->members);
	free(res->manifest_error);
	free(res->read_error);
	free(res->expected_db_path);
	free(res->export_command);
	free(res->export_problem);
	memset(res, 0, sizeof *res);
}
