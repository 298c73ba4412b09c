/* archive.h -- the audit archive: a .tar.zst with a manifest of hashes.
 *
 * A rebuild leaves an audit archive that proves what came in, what went
 * out and where every row went.  It is a tar file (pax restricted)
 * compressed with zstd, whose members are the caller's files followed by
 * manifest.json, the list of every other member with its size and
 * SHA-256:
 *
 *	{"format": "gsrecover-audit", "version": 1,
 *	 "created": "YYYY-MM-DDTHH:MM:SSZ",
 *	 "tools": {"gsrecover", "sqlite", "zstd", "libarchive", "nettle"},
 *	 "members": [{"name", "size", "sha256"}, ...],   (in the order written)
 *	 ...the caller's keys, e.g. "output": {"path", "sha256", "size"}}
 *
 * Every member has uid and gid 0, owner and group "root", mode 0600 and
 * the same mtime (the run's start, given to gsr_archive_create), so the
 * same inputs and time give the same bytes.  The tar stream (ustar
 * headers, and a pax extended header where ustar cannot hold a name, a
 * size or the time) is written by this module, not libarchive, and
 * compressed with libzstd at level GSR_ARCHIVE_LEVEL, with checksums, in
 * one thread.  The file is a sequence of zstd frames, which decompress
 * as one stream: a member whose size is known only once it is complete
 * (the export of a table) is compressed ahead into a spool, in any
 * thread, and its frames are then copied into the archive as they are,
 * after a frame that ends with its header.
 *
 * Member names are UTF-8 without control characters (C0, DEL or C1),
 * relative, at most GSR_ARCHIVE_NAME_MAX bytes, made of non-empty
 * components none of which is "." or "..", and unique; "manifest.json" is
 * reserved.  They follow the layout of gsrecover(1), AUDIT ARCHIVE, which
 * one table in archive.c holds: input/NAME, recovery/NAME,
 * identify.json, export/NAME, quarantine/NAME, changes/NAME, rules/PATH
 * (any depth),
 * rebuild/NAME and manifest.json, where NAME is one component and PATH
 * one or more.  Any other name is refused with GSR_ERR_USAGE.  A name
 * that is not ASCII goes into a pax header as UTF-8.
 *
 * The functions that add members report the bytes written to the archive
 * file so far, per 1 MiB, as the progress phase "archive" (ctx.h), which
 * the caller ends.
 *
 * The writer functions are no-ops that return -1 (or NULL) once ctx holds
 * an error.  A failure before a member's header is written leaves the
 * archive usable; a failure after it (a read error, a file that changed
 * size, a write error) makes gsr_archive_finish fail.
 */
#ifndef GSR_ARCHIVE_H
#define GSR_ARCHIVE_H

#include "compat.h"
#include "ctx.h"
#include "sha256.h"

#include <time.h>

/* libarchive's header is also called archive.h, and include/ comes first
 * in the search path, so it would be hidden: take it from the directory
 * after this one.  A file that includes either header gets both. */
#include_next <archive.h>

/* zstd level of the archive: 2 compresses SQLite pages and JSON Lines
 * faster than 1, and better. */
#ifndef GSR_ARCHIVE_LEVEL
#define GSR_ARCHIVE_LEVEL 2
#endif

#define GSR_ARCHIVE_MANIFEST "manifest.json"
#define GSR_ARCHIVE_FORMAT "gsrecover-audit"
#define GSR_ARCHIVE_VERSION 1
/* Longest member name, in bytes, that is written or accepted. */
#define GSR_ARCHIVE_NAME_MAX 4096
/* Largest manifest.json the reader parses. */
#define GSR_ARCHIVE_MANIFEST_MAX ((size_t)64 << 20)
/* The reader stops (a finding) after this many members. */
#define GSR_ARCHIVE_MEMBERS_MAX ((size_t)1 << 20)

struct jsonw;
struct gsr_archive; /* opaque writer */

/*
 * Start writing final_path atomically: into a temporary file
 * "final_path.tmp-XXXXXX" in the same directory, mode 0600 from its
 * creation (the archive holds password and API-key hashes), registered
 * with gsr_temp_register().  Fails with GSR_ERR_EXISTS when final_path
 * exists (as anything, even a dangling symbolic link) and !force.  mtime
 * is the time of every member and the manifest's "created".  Returns the
 * writer, or NULL with the error in ctx.
 */
struct gsr_archive *gsr_archive_create(struct gsr_ctx *ctx,
                                       const char *final_path, bool force,
                                       time_t mtime);

/*
 * Add the regular file src_path (not followed if it is a symbolic link)
 * as member name, streaming it in 1 MiB chunks and hashing it on the way.
 * The size is taken with fstat() before the header is written; a file
 * whose size changes while it is read fails with GSR_ERR_IO.  Checks
 * gsr_ctx_check_cancel() per chunk.  Returns 0 or -1.
 */
int gsr_archive_add_file(struct gsr_ctx *ctx, struct gsr_archive *ar,
                         const char *name, const char *src_path);

/* Add the n bytes at data as member name.  Returns 0 or -1. */
int gsr_archive_add_buffer(struct gsr_ctx *ctx, struct gsr_archive *ar,
                           const char *name, const void *data, size_t n);

/*
 * Spools.  A spool is an anonymous temporary file (O_TMPFILE in dir, or a
 * file unlinked at once) that holds members compressed ahead of the
 * archive, one after the other, each as its own zstd frames, with its
 * size and SHA-256.  Memory: one compressor.  A spool belongs to one
 * thread at a time and is independent of any archive, so that members can
 * be compressed in parallel.  Every function but gsr_archive_spool_free
 * is a no-op returning -1 (or NULL) once ctx holds an error.
 */
struct gsr_archive_spool;

/* A new, empty spool in dir.  NULL with the error on ctx. */
struct gsr_archive_spool *gsr_archive_spool_new(struct gsr_ctx *ctx,
                                                const char *dir);

/* Start the next member; *idx receives its index in the spool (0, 1...).
 * One member is open at a time.  Returns 0 or -1. */
int gsr_archive_spool_begin(struct gsr_ctx *ctx, struct gsr_archive_spool *sp,
                            size_t *idx);

/* Append n bytes to the open member (hashed, then compressed). */
int gsr_archive_spool_write(struct gsr_ctx *ctx, struct gsr_archive_spool *sp,
                            const void *p, size_t n);

/* Forget what the open member holds so far: it starts again, empty. */
int gsr_archive_spool_restart(struct gsr_ctx *ctx,
                              struct gsr_archive_spool *sp);

/* Close the open member; its size and SHA-256 (each may be NULL) are
 * returned.  Returns 0 or -1. */
int gsr_archive_spool_end(struct gsr_ctx *ctx, struct gsr_archive_spool *sp,
                          uint64_t *size, char sha256[GSR_SHA256_HEX]);

/* Close and free.  Accepts NULL. */
void gsr_archive_spool_free(struct gsr_archive_spool *sp);

/*
 * Pipes.  A pipe feeds a spool from one thread while a thread of its own
 * compresses, so that a caller busy with other work on the same bytes
 * (custody: copying and hashing the input) and zstd run side by side.
 * The caller already hashes what it hands over and gives the SHA-256 at
 * the end of each member: the spool does not hash it again.  Memory: 4
 * pieces of 1 MiB, plus the spool's compressor.  The spool must be empty
 * and is the pipe's until gsr_archive_pipe_close() returns; members are
 * numbered from 0 in the order begun.  The pipe belongs to one producer
 * thread.  Each function returns 0 or -1 with the error on ctx, the
 * compressing thread's own error included once it has one.
 */
struct gsr_archive_pipe;

/* Start a pipe into sp.  NULL with the error on ctx. */
struct gsr_archive_pipe *gsr_archive_pipe_new(struct gsr_ctx *ctx,
                                              struct gsr_archive_spool *sp);

/* Start the next member; *idx receives its index in the spool. */
int gsr_archive_pipe_begin(struct gsr_ctx *ctx, struct gsr_archive_pipe *pp,
                           size_t *idx);

/* Hand over n bytes of the open member (copied; waits while the pipe is
 * full). */
int gsr_archive_pipe_write(struct gsr_ctx *ctx, struct gsr_archive_pipe *pp,
                           const void *p, size_t n);

/* End the open member: size and sha256 are those of the bytes handed
 * over, as the caller computed them; a size that differs fails. */
int gsr_archive_pipe_end(struct gsr_ctx *ctx, struct gsr_archive_pipe *pp,
                         uint64_t size, const char sha256[GSR_SHA256_HEX]);

/* Wait until every member is compressed and stop the thread: the spool
 * is the caller's again.  Fails when the thread failed or a member was
 * left open.  Accepts NULL and a pipe already closed. */
int gsr_archive_pipe_close(struct gsr_ctx *ctx, struct gsr_archive_pipe *pp);

/* Close (ignoring its errors) and free.  Accepts NULL. */
void gsr_archive_pipe_free(struct gsr_archive_pipe *pp);

/*
 * Add member idx of sp (closed) as name: its header, then its compressed
 * frames copied from the spool, with the size and SHA-256 it was written
 * with.  The spool is only read; it may hold members not added.  Returns
 * 0 or -1.
 */
int gsr_archive_add_spooled(struct gsr_ctx *ctx, struct gsr_archive *ar,
                            const char *name, struct gsr_archive_spool *sp,
                            size_t idx);

/*
 * Add every regular file under dir, recursively, as prefix/RELPATH
 * (RELPATH alone when prefix is NULL or empty).  Each directory's entries
 * are taken in strcmp() order of their names, so files and subdirectories
 * interleave.  Symbolic links, devices and the like are skipped and not
 * followed; empty directories leave no trace.  Returns 0 or -1.
 */
int gsr_archive_add_tree(struct gsr_ctx *ctx, struct gsr_archive *ar,
                         const char *prefix, const char *dir);

/*
 * Write manifest.json as the last member, close the archive, fsync it,
 * rename it to final_path (replacing an existing file only when force was
 * given to gsr_archive_create; without it a file that appeared meanwhile
 * fails with GSR_ERR_EXISTS) and fsync the directory.  write_meta (may be
 * NULL) is called inside the manifest's top-level object after the
 * standard keys, and adds the caller's keys with jw_key() and the like.
 * On success stores the SHA-256 of the archive file itself in sha256_out
 * (may be NULL).  On failure removes the temporary file; only when the
 * directory cannot be synced after the rename is the archive left in
 * place (and sha256_out set) while -1 is returned.  Frees ar in every
 * case, also when ctx already holds an error (then it only aborts).
 * Returns 0 or -1.
 */
int gsr_archive_finish(struct gsr_ctx *ctx, struct gsr_archive *ar,
                       void (*write_meta)(struct jsonw *jw, void *arg),
                       void *arg, char sha256_out[GSR_SHA256_HEX]);

/* Abandon: remove the temporary file, free everything.  Accepts NULL. */
void gsr_archive_abort(struct gsr_archive *ar);

/* The number of members in the manifest so far (manifest.json aside). */
size_t gsr_archive_n_members(const struct gsr_archive *ar);

/*
 * Verification.  Each member of the result is one of, the first that
 * applies:
 *   "unsafe"     in the archive, as an entry that extracting would put
 *                outside the directory extracted into (an absolute name,
 *                a ".." component) or that is not a regular file (a
 *                symbolic or hard link, a device, a FIFO, a socket, a
 *                directory where the layout has none);
 *   "foreign"    in the archive, a file whose name is not one the
 *                writer gives (see above: the layout, the syntax, the
 *                length);
 *   "duplicate"  in the archive, unlisted, and another member has its
 *                name: every copy but the first, or for manifest.json
 *                but the last (the one read as the manifest);
 *   "ok"         listed in the manifest, present, same size and SHA-256;
 *   "mismatch"   listed and present, but the size or SHA-256 differs;
 *   "missing"    listed, not in the archive;
 *   "unlisted"   in the archive, not listed (every member that is none
 *                of the above when the manifest is absent or invalid).
 * A listed name is compared with the first member of that name.
 * Directory entries of the layout (input/, rules/labels/ ...), which tar
 * writes, are not members.  size and sha256 are what the archive holds
 * (0 and "" when missing); expected_size and expected_sha256 what the
 * manifest says (0 and "" when unlisted).  Listed members come first, in
 * the manifest's order, then the unlisted ones in the archive's order.
 */
struct gsr_verify_member {
	char *name;
	uint64_t size;
	char sha256[GSR_SHA256_HEX];
	uint64_t expected_size;
	char expected_sha256[GSR_SHA256_HEX];
	/* "ok", "mismatch", "missing", "unlisted", "unsafe", "foreign",
	 * "duplicate" */
	const char *status;
	bool present; /* in the archive: size and sha256 are its */
	bool listed;  /* in the manifest: expected_size and expected_sha256 */
	/* Why a member is unsafe, foreign or a duplicate, as a noun phrase
	 * ("a symbolic link"); NULL otherwise. */
	const char *reason;
	/* The target of a link, cut like a name; NULL otherwise. */
	char *link;
};

struct gsr_verify_result {
	struct gsr_verify_member *members;
	size_t n_members, cap_members;
	/* SHA-256 and size of the archive file as read. */
	char archive_sha256[GSR_SHA256_HEX];
	uint64_t archive_size;
	/* manifest.json present, parsed, of the right format and types,
	 * its member names unique; otherwise manifest_error says why. */
	bool manifest_ok;
	char *manifest_error;
	/* Set when the archive could be opened but not read to its end
	 * (truncated, corrupt, a member limit hit): where (the member being
	 * read, or the last one read) and why, with the offset in the file
	 * of the zstd frame that is damaged.  The members after the damage
	 * are not known. */
	char *read_error;
	bool db_checked;
	bool db_ok;
	char db_sha256[GSR_SHA256_HEX];
	/* "output"."sha256" and "output"."path" of the manifest: "" and NULL
	 * when it has none (then db_ok is false). */
	char expected_db_sha256[GSR_SHA256_HEX];
	char *expected_db_path;
	/* Whether the archive holds the full export of the input's rows
	 * (export/): "full" or "none", as the manifest's export.included
	 * says (an archive whose manifest has no "export" key: "full" when
	 * it lists export/manifest.json); NULL when the manifest is not
	 * valid.  export_command: the manifest's export.command, the
	 * command that regenerates that export from the archived input
	 * (NULL when it names none).  export_problem: why the manifest's
	 * "export" is not well formed or disagrees with its members (an
	 * export it says is there and is not listed, or the other way), or
	 * NULL. */
	const char *export_kind;
	char *export_command;
	char *export_problem;
	/* Problems: members not "ok", a bad manifest, a read error, a
	 * database that differs, an export_problem. */
	size_t n_bad;
};

#define GSR_VERIFY_RESULT_INIT                                                 \
	{                                                                      \
		0                                                              \
	}

/*
 * Read every member of archive_path (a tar file, compressed with zstd,
 * gzip, bzip2, xz or lz4, or not at all), hash each, judge its name and
 * type, parse manifest.json and compare.  zstd is decompressed frame by
 * frame, so that damage is found where it is, after the members before
 * it, and to the end of the file, past the end of the tar archive too.
 * When db_path is not NULL, hash that file and compare it with the
 * manifest's "output"."sha256".  The archive may come from anyone: names
 * are opaque strings, bounded in length (GSR_ARCHIVE_NAME_MAX; a longer
 * one is cut and foreign), the manifest is bounded
 * (GSR_ARCHIVE_MANIFEST_MAX) and every field read has its type checked,
 * and nothing is written anywhere.  Fails with GSR_ERR_INPUT only when the
 * archive cannot be opened or read, or its first header cannot be read
 * while its zstd stream, if any, is sound (missing, not a regular file,
 * not a tar archive), or when db_path cannot be read; everything else is
 * a finding in res.  res must be zeroed
 * (GSR_VERIFY_RESULT_INIT) and is released by gsr_verify_result_release()
 * whatever the return value.  Returns 0 or -1.
 */
int gsr_archive_verify(struct gsr_ctx *ctx, const char *archive_path,
                       const char *db_path, struct gsr_verify_result *res);

void gsr_verify_result_release(struct gsr_verify_result *res);

#endif
