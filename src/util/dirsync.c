/* dirsync.c -- making a new directory entry durable. */
#include "compat.h"
#include "dirsync.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int
gsr_sync_dirfd(int fd)
{
	if (fsync(fd) != 0 && errno != EINVAL)
		return -1;
	return 0;
}

int
gsr_sync_dir(const char *dir)
{
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	int rc, err;

	if (fd < 0)
		return -1;
	rc = gsr_sync_dirfd(fd);
	err = errno;
	close(fd);
	errno = err;
	return rc;
}

int
gsr_sync_parent(const char *path)
{
	const char *slash = strrchr(path, '/');
	char *dir;
	int rc, err;

	if (slash == NULL)
		return gsr_sync_dir(".");
	if (slash == path)
		return gsr_sync_dir("/");
	if ((dir = strndup(path, (size_t)(slash - path))) == NULL) {
		errno = ENOMEM;
		return -1;
	}
	rc = gsr_sync_dir(dir);
	err = errno;
	free(dir);
	errno = err;
	return rc;
}
