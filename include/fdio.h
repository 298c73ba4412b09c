/* fdio.h -- opening inputs, whole reads and writes on file descriptors. */
#ifndef GSR_FDIO_H
#define GSR_FDIO_H

#include "compat.h"
#include "ctx.h"

#include <sys/stat.h>
#include <sys/types.h>

/* What a file of mode (st_mode) is, for a message: "a regular file",
 * "a directory", "a FIFO", "a character device", "a block device",
 * "a socket", "a symbolic link" or "of an unknown type". */
const char *gsr_file_kind(mode_t mode);

/*
 * Open path to read it as an input, without ever blocking on what is not
 * a regular file (a FIFO would wait for a writer): open() with O_RDONLY |
 * O_NONBLOCK | O_NOCTTY | O_CLOEXEC, and O_NOFOLLOW when nofollow; fstat;
 * refuse anything but a regular file; then clear O_NONBLOCK.  st must not
 * be NULL.  Returns the descriptor with *st filled; -1 with errno set when
 * the file cannot be opened (ELOOP: a symbolic link refused under
 * nofollow); or -2, with *st saying what the file is, when it is not a
 * regular file (a socket, which open() refuses, is told by its stat).
 */
int gsr_open_regular(const char *path, bool nofollow, struct stat *st);

/* Record on ctx, as err, why gsr_open_regular() returned rc (-1 with
 * errno as it left it, or -2 with *st): "cannot open 'PATH': REASON"
 * ("is a symbolic link" for a link refused under nofollow), or "'PATH' is
 * a FIFO, not a regular file" (gsr_file_kind()'s words).  Returns -1. */
int gsr_input_error(struct gsr_ctx *ctx, enum gsr_err err, const char *path,
                    bool nofollow, int rc, const struct stat *st);

/* gsr_open_regular() with its error recorded on ctx by gsr_input_error().
 * st may be NULL.  Returns the descriptor, or -1.  No-op (-1) after an
 * error. */
int gsr_open_input(struct gsr_ctx *ctx, enum gsr_err err, const char *path,
                   bool nofollow, struct stat *st);

/* Write all n bytes at p to fd, retrying short writes and EINTR.
 * Returns 0, or -1 with errno set. */
int gsr_write_all(int fd, const void *p, size_t n);

/* Write all n bytes at p to fd at offset off (pwrite), retrying short
 * writes and EINTR.  Returns 0, or -1 with errno set (ENOSPC when the
 * file takes no more). */
int gsr_pwrite_all(int fd, const void *p, size_t n, uint64_t off);

/* Read exactly n bytes of fd at offset off into p (pread), retrying
 * short reads and EINTR: for files of gsrecover's own, where a short read
 * is an error (an input goes through gsr_read_at()).  Returns 0, 1 when
 * the file ends first, or -1 with errno set. */
int gsr_pread_exact(int fd, void *p, size_t n, uint64_t off);

/* Copy n bytes of in, from its offset, to out at its offset: in the
 * kernel (copy_file_range) where the file system allows, else through
 * user space (then to in's end).  Returns 0, or -1 with errno set. */
int gsr_copy_fd(int in, int out, uint64_t n);

/* Copy the file src to dst, which create makes (mode 0600, it must not
 * exist), else truncates: in the kernel where the file system allows
 * (gsr_copy_fd()).  Returns 0, or -1 with GSR_ERR_IO on ctx. */
int gsr_copy_file(struct gsr_ctx *ctx, const char *src, const char *dst,
                  bool create);

/*
 * Read up to n bytes at offset off of an input of size bytes, from mem
 * when it is not NULL, else from fd with pread (retrying short reads and
 * EINTR) into dst.  Returns the number of bytes read: fewer at the end of
 * the input, or when the device reports EIO (damage, for the caller to
 * treat as such); or -1 after recording any other read error on ctx as
 * GSR_ERR_INPUT, "cannot read <what> at offset N: ...".  The page reader's
 * inputs (pagefile.h, walfile.h, journal.h) are read through it.
 */
ssize_t gsr_read_at(struct gsr_ctx *ctx, int fd, const unsigned char *mem,
                    uint64_t size, void *dst, size_t n, uint64_t off,
                    const char *what);

#endif
