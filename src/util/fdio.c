/* fdio.c -- whole reads and writes on file descriptors. */
#include "compat.h"
#include "fdio.h"

#include <errno.h>
#include <inttypes.h>
#include <string.h>
#include <unistd.h>

#include "ctx.h"

int
gsr_write_all(int fd, const void *p, size_t n)
{
	const unsigned char *b = p;

	while (n > 0) {
		ssize_t w = write(fd, b, n);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		if (w == 0) {
			errno = EIO;
			return -1;
		}
		b += w;
		n -= (size_t)w;
	}
	return 0;
}

ssize_t
gsr_read_at(struct gsr_ctx *ctx, int fd, const unsigned char *mem,
	    uint64_t size, void *dst, size_t n, uint64_t off, const char *what)
{
	size_t got = 0;

	if (off >= size)
		return 0;
	if (n > size - off)
		n = (size_t)(size - off);
	if (mem != NULL) {
		memcpy(dst, mem + off, n);
		return (ssize_t)n;
	}
	while (got < n) {
		ssize_t r = pread(fd, (unsigned char *)dst + got, n - got,
				  (off_t)(off + got));

		if (r == 0)
			break;
		if (r < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EIO)
				break;
			gsr_ctx_fail(ctx, GSR_ERR_INPUT,
				     "cannot read %s at offset %" PRIu64 ": %s",
				     what, off + got, strerror(errno));
			return -1;
		}
		got += (size_t)r;
	}
	return (ssize_t)got;
}
