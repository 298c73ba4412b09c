/* fdio.h -- whole reads and writes on file descriptors. */
#ifndef GSR_FDIO_H
#define GSR_FDIO_H

#include "compat.h"

#include <sys/types.h>

/* Write all n bytes at p to fd, retrying short writes and EINTR.
 * Returns 0, or -1 with errno set. */
int gsr_write_all(int fd, const void *p, size_t n);

struct gsr_ctx;

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
