/* fdio.c -- opening inputs, whole reads and writes on file descriptors. */
#include "compat.h"
#include "fdio.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <string.h>
#include <unistd.h>

const char *
gsr_file_kind(mode_t mode)
{
	switch (mode & S_IFMT) {
	case S_IFREG:
		return "a regular file";
	case S_IFDIR:
		return "a directory";
	case S_IFIFO:
		return "a FIFO";
	case S_IFCHR:
		return "a character device";
	case S_IFBLK:
		return "a block device";
	case S_IFSOCK:
		return "a socket";
	case S_IFLNK:
		return "a symbolic link";
	default:
		return "of an unknown type";
	}
}

int
gsr_open_regular(const char *path, bool nofollow, struct stat *st)
{
	int flags = O_RDONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC;
	int fd, fl, saved;

	/* What is plainly not a regular file is not even opened: opening a
	 * FIFO would release a writer waiting for a reader, a device may
	 * act on open.  A link under nofollow is left to open()'s ELOOP. */
	if ((nofollow ? lstat(path, st) : stat(path, st)) == 0 &&
	    !S_ISREG(st->st_mode) && !(nofollow && S_ISLNK(st->st_mode)))
		return -2;
	if (nofollow)
		flags |= O_NOFOLLOW;
	/* O_NONBLOCK: should the file change into a FIFO after the stat,
	 * open() still returns at once, and fstat() tells. */
	if ((fd = open(path, flags)) < 0)
		return -1;
	if (fstat(fd, st) != 0)
		goto fail;
	if (!S_ISREG(st->st_mode)) {
		close(fd);
		return -2;
	}
	if ((fl = fcntl(fd, F_GETFL)) < 0 ||
	    fcntl(fd, F_SETFL, fl & ~O_NONBLOCK) != 0)
		goto fail;
	return fd;
fail:
	saved = errno;
	close(fd);
	errno = saved;
	return -1;
}

int
gsr_input_error(struct gsr_ctx *ctx, enum gsr_err err, const char *path,
                bool nofollow, int rc, const struct stat *st)
{
	if (rc == -2)
		return gsr_ctx_fail(ctx, err, "'%s' is %s, not a regular file",
		                    path, gsr_file_kind(st->st_mode));
	return gsr_ctx_fail(ctx, err, "cannot open '%s': %s", path,
	                    nofollow && errno == ELOOP ? "is a symbolic link"
	                                               : strerror(errno));
}

int
gsr_open_input(struct gsr_ctx *ctx, enum gsr_err err, const char *path,
               bool nofollow, struct stat *st)
{
	struct stat local;
	int fd;

	if (gsr_ctx_failed(ctx))
		return -1;
	if (st == NULL)
		st = &local;
	if ((fd = gsr_open_regular(path, nofollow, st)) < 0)
		return gsr_input_error(ctx, err, path, nofollow, fd, st);
	return fd;
}

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

int
gsr_pwrite_all(int fd, const void *p, size_t n, uint64_t off)
{
	for (size_t put = 0; put < n;) {
		ssize_t w = pwrite(fd, (const unsigned char *)p + put, n - put,
		                   (off_t)(off + put));
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0) {
			if (w == 0)
				errno = ENOSPC;
			return -1;
		}
		put += (size_t)w;
	}
	return 0;
}

int
gsr_pread_exact(int fd, void *p, size_t n, uint64_t off)
{
	for (size_t got = 0; got < n;) {
		ssize_t r = pread(fd, (unsigned char *)p + got, n - got,
		                  (off_t)(off + got));
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return -1;
		if (r == 0)
			return 1;
		got += (size_t)r;
	}
	return 0;
}

/* Copy the rest of in to out with read and write. */
static int
copy_plain(int in, int out)
{
	unsigned char buf[1 << 16];
	ssize_t r;

	while ((r = read(in, buf, sizeof buf)) != 0) {
		if (r < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		if (gsr_write_all(out, buf, (size_t)r))
			return -1;
	}
	return 0;
}

int
gsr_copy_fd(int in, int out, uint64_t n)
{
	while (n > 0) {
		ssize_t c = copy_file_range(
		    in, NULL, out, NULL,
		    n > ((size_t)1 << 30) ? (size_t)1 << 30 : (size_t)n, 0);
		if (c < 0 && errno == EINTR)
			continue;
		if (c <= 0)
			/* Not supported here: copy through user space. */
			return copy_plain(in, out);
		n -= (uint64_t)c;
	}
	return 0;
}

int
gsr_copy_file(struct gsr_ctx *ctx, const char *src, const char *dst,
              bool create)
{
	int in = -1, out = -1, rc = -1;
	struct stat st;

	if (gsr_ctx_failed(ctx))
		return -1;
	if ((in = open(src, O_RDONLY | O_CLOEXEC)) < 0 || fstat(in, &st) != 0) {
		gsr_ctx_fail(ctx, GSR_ERR_IO, "cannot read '%s': %s", src,
		             strerror(errno));
		goto out;
	}
	out = open(dst,
	           O_WRONLY | O_CLOEXEC | (create ? O_CREAT | O_EXCL : O_TRUNC),
	           0600);
	if (out < 0) {
		gsr_ctx_fail(ctx, GSR_ERR_IO, "cannot %s '%s': %s",
		             create ? "create" : "write", dst, strerror(errno));
		goto out;
	}
	if (gsr_copy_fd(in, out, (uint64_t)st.st_size) != 0) {
		gsr_ctx_fail(ctx, GSR_ERR_IO, "cannot copy '%s' to '%s': %s",
		             src, dst, strerror(errno));
		goto out;
	}
	rc = 0;
out:
	if (in >= 0)
		close(in);
	if (out >= 0 && close(out) != 0 && rc == 0)
		rc = gsr_ctx_fail(ctx, GSR_ERR_IO, "cannot write '%s': %s", dst,
		                  strerror(errno));
	return rc;
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
