/* evidence.h -- taking a user's database into custody.
 *
 * The user's files are never handed to SQLite: opening a WAL database
 * checkpoints it and even a read-only open creates a -shm file beside it.
 * gsr_evidence_open() opens the database and any -wal/-journal next to it
 * read-only (O_NOFOLLOW, regular files only), hashes each with SHA-256
 * while copying it into a private temporary directory, and reports which
 * other processes hold the database open.  Everything afterwards works on
 * the copy (ev->work_db).  gsr_evidence_recheck() hashes the originals
 * again so the report can prove they were not changed.
 */
#ifndef GSR_EVIDENCE_H
#define GSR_EVIDENCE_H

#include "compat.h"
#include "ctx.h"
#include "sha256.h"

#include <sys/types.h>

enum { GSR_EV_DB, GSR_EV_WAL, GSR_EV_JOURNAL, GSR_EV_NFILES };

struct gsr_ev_file {
	const char *role; /* "database", "wal" or "journal" */
	char *path;
	bool present;
	uint64_t size;
	char sha256[GSR_SHA256_HEX];       /* as copied */
	char sha256_after[GSR_SHA256_HEX]; /* after the run, if rechecked */
	bool rechecked;
	bool changed; /* size or hash differ after the run */
	dev_t dev;
	ino_t ino;
	char *pristine; /* with keep_pristine: a copy SQLite never opens */
	/* The first bytes as copied (the database header), for
	 * gsr_evidence_reset(); head_len of them (fewer in a short file). */
	unsigned char head[100];
	size_t head_len;
};

struct gsr_holder {
	int pid;
	char comm[64];
	char how[16]; /* "open" or "lock" */
};

/*
 * Optional, set before gsr_evidence_open(): sees each input file's bytes
 * as they are copied (exactly the bytes hashed, in order, on the thread
 * that calls gsr_evidence_open): begin before a file's first byte, data
 * for each piece, end after its last with the file's size and SHA-256.
 * role is GSR_EV_DB, GSR_EV_WAL or GSR_EV_JOURNAL.  Each returns 0, or -1
 * with the error on ctx, which fails the custody.
 */
struct gsr_evidence_tee {
	int (*begin)(struct gsr_ctx *ctx, void *arg, int role);
	int (*data)(struct gsr_ctx *ctx, void *arg, const void *p, size_t n);
	int (*end)(struct gsr_ctx *ctx, void *arg, int role, uint64_t size,
	           const char sha256[GSR_SHA256_HEX]);
	void *arg;
};

struct gsr_evidence {
	const struct gsr_evidence_tee *tee; /* see above; may be NULL */
	/* Set before gsr_evidence_open(): also keep a copy of each input
	 * that SQLite never touches (opening the working copy may fold its
	 * WAL in or roll its journal back), for the page reader.  Set by
	 * gsr_evidence_open() itself when a -wal or -journal is present. */
	bool keep_pristine;
	char *path;   /* the database path as given or located */
	bool located; /* taken from GPUStack's default location */
	struct gsr_ev_file files[GSR_EV_NFILES];
	char *workdir; /* private copy directory, removed on release */
	char *work_db; /* the copy of the database */
	struct gsr_holder *holders;
	size_t n_holders;
	size_t cap_holders;
};

#define GSR_EVIDENCE_INIT                                                      \
	{                                                                      \
		0                                                              \
	}

/* Take the database at path (NULL: GPUStack's default location) into
 * custody as described above, reporting the bytes of each file copied as
 * the progress phase "custody" (ctx.h).  Fails with GSR_ERR_INPUT when
 * the database is missing, not a regular file or unreadable (a located
 * one's message says where its path came from: $GPUSTACK_DATA_DIR or the
 * default), or a -wal or -journal is there but not a regular file;
 * GSR_ERR_IO when the copy cannot be written; GSR_ERR_CANCELED on a
 * signal.  No-op after an error. */
int gsr_evidence_open(struct gsr_ctx *ctx, struct gsr_evidence *ev,
                      const char *path);

/* Hash the original files again; sets changed on each.  Returns the
 * number of files that changed (or appeared/disappeared), -1 on error. */
int gsr_evidence_recheck(struct gsr_ctx *ctx, struct gsr_evidence *ev);

/* When the copy is shorter than the page count its header declares (a
 * truncated file), SQLite refuses to read any of it.  Lower the count in
 * the copy's header to the pages that are there, so what survives can be
 * read.  The original is never touched.  Returns the page count written,
 * 0 when nothing needed changing, -1 on error (recorded on ctx). */
int64_t gsr_evidence_fit_page_count(struct gsr_ctx *ctx,
                                    struct gsr_evidence *ev, uint32_t page_size,
                                    uint32_t header_pages);

struct jsonw;
/* Write the input files as a JSON array (the caller writes the key):
 * role, path, size, sha256 of each present file, and with after also
 * sha256_after and unchanged (both null when the file was not rechecked
 * yet).  ev may be NULL: an empty array. */
void gsr_evidence_write_json(const struct gsr_evidence *ev, struct jsonw *jw,
                             bool after);

/* The bytes of input file role (GSR_EV_*) exactly as taken: the pristine
 * copy when there is one; else, for the database, the working copy (which
 * SQLite cannot have changed: without a sidecar, reading it writes
 * nothing, and gsr_evidence_fit_page_count() only lowers the header's
 * page count).  NULL when the file is absent. */
const char *gsr_evidence_image(const struct gsr_evidence *ev, int role);

/*
 * Make an open evidence fit for a new reader of the same input (a rebuild
 * that starts again, identify.h's adopt), without copying or hashing the
 * originals again.  Everything in the working directory but the copies
 * themselves is removed (and unregistered from tempfiles.h), and so are
 * the working copy's -shm and any sidecar SQLite made.  With pristine
 * copies, the working copies are made again from them (SQLite may have
 * folded a -wal in or rolled a -journal back); without, the working copy
 * is the database's image (gsr_evidence_image()): when its size or its
 * first 100 bytes (which switching its journal mode or fitting its page
 * count rewrite) differ from the input's, they are put back and the copy
 * is hashed again.  Returns 0 when the working copies hold the input's
 * bytes again; 1 when they cannot be made to (the caller takes the input
 * into custody again); -1 with the error on ctx.  No-op after an error.
 */
int gsr_evidence_reset(struct gsr_ctx *ctx, struct gsr_evidence *ev);

/* Remove the working directory with everything in it, free everything. */
void gsr_evidence_release(struct gsr_evidence *ev);

#endif
