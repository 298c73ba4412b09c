/* tempfiles.c -- registry of temporary paths for the signal handler.
 *
 * Threads register and unregister under a mutex, inside a hold; the
 * signal handler never takes the mutex (it may have interrupted its
 * holder): once it has begun, it waits for the holds to end, and no slot
 * changes after that.
 */
#include "compat.h"
#include "tempfiles.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define TEMP_SLOTS 64
#define TEMP_PATH_MAX 4096
/* How deep below a registered directory the removal goes. */
#define TREE_DEPTH 8
/* Passes over the registry while other threads still create files in a
 * registered directory, 1 ms apart. */
#define REMOVE_PASSES 200
/* How long the removal waits for held steps, in 1 ms steps. */
#define HOLD_WAIT_MS 5000

_Static_assert(ATOMIC_INT_LOCK_FREE == 2,
               "the signal handler needs lock-free atomic ints");

static char temp_paths[TEMP_SLOTS][TEMP_PATH_MAX];
static atomic_int temp_used[TEMP_SLOTS];
static pthread_mutex_t temp_lock = PTHREAD_MUTEX_INITIALIZER;
static atomic_int temp_holds;    /* steps between hold and resume */
static atomic_int temp_removing; /* gsr_temp_remove_all() has begun */

/* Register path in a free slot.  Returns 0, or -1 when the path is too
 * long, every slot is taken, or the removal has begun. */
int
gsr_temp_register(const char *path)
{
	struct gsr_temp_hold h;
	size_t n = strlen(path);
	int rc = -1;

	if (n >= TEMP_PATH_MAX)
		return -1;
	/* Held, so that the removal never reads a slot being written. */
	if (gsr_temp_hold(&h) == 0) {
		pthread_mutex_lock(&temp_lock);
		for (int i = 0; i < TEMP_SLOTS; i++) {
			if (!atomic_load(&temp_used[i])) {
				memcpy(temp_paths[i], path, n + 1);
				atomic_store(&temp_used[i], 1);
				rc = 0;
				break;
			}
		}
		pthread_mutex_unlock(&temp_lock);
	}
	gsr_temp_resume(&h);
	return rc;
}

/* Forget the last registration of path, if any. */
void
gsr_temp_unregister(const char *path)
{
	struct gsr_temp_hold h;

	if (gsr_temp_hold(&h) == 0) {
		pthread_mutex_lock(&temp_lock);
		for (int i = TEMP_SLOTS - 1; i >= 0; i--) {
			if (atomic_load(&temp_used[i]) &&
			    strcmp(temp_paths[i], path) == 0) {
				atomic_store(&temp_used[i], 0);
				break;
			}
		}
		pthread_mutex_unlock(&temp_lock);
	}
	gsr_temp_resume(&h);
}

int
gsr_temp_hold(struct gsr_temp_hold *h)
{
	sigset_t block;

	sigemptyset(&block);
	sigaddset(&block, SIGINT);
	sigaddset(&block, SIGTERM);
	sigaddset(&block, SIGHUP);
	pthread_sigmask(SIG_BLOCK, &block, &h->saved);
	/* Sequentially consistent: either the removal sees this hold and
	 * waits, or this sees the removal and creates nothing. */
	atomic_fetch_add(&temp_holds, 1);
	return atomic_load(&temp_removing) ? -1 : 0;
}

void
gsr_temp_resume(struct gsr_temp_hold *h)
{
	atomic_fetch_sub(&temp_holds, 1);
	pthread_sigmask(SIG_SETMASK, &h->saved, NULL);
}

char *
gsr_temp_mkdtemp(char *tmpl)
{
	struct gsr_temp_hold h;
	char *dir = NULL;
	int err = 0;

	if (gsr_temp_hold(&h) != 0) {
		err = EINTR;
	} else if ((dir = mkdtemp(tmpl)) == NULL) {
		err = errno;
	} else if (gsr_temp_register(dir) != 0) {
		rmdir(dir);
		dir = NULL;
		err = ENOSPC;
	}
	gsr_temp_resume(&h);
	if (dir == NULL)
		errno = err;
	return dir;
}

int
gsr_temp_mkstemp(char *tmpl)
{
	struct gsr_temp_hold h;
	int fd = -1, err = 0;

	if (gsr_temp_hold(&h) != 0) {
		err = EINTR;
	} else if ((fd = mkostemp(tmpl, O_CLOEXEC)) < 0) {
		err = errno;
	} else if (gsr_temp_register(tmpl) != 0) {
		unlink(tmpl);
		close(fd);
		fd = -1;
		err = ENOSPC;
	}
	gsr_temp_resume(&h);
	if (fd < 0)
		errno = err;
	return fd;
}

/* Remove everything in the directory open as dfd, depth levels of
 * subdirectories at most.  Async-signal-safe: getdents64() is the bare
 * system call, the buffer is on the stack. */
static void
clear_dir(int dfd, int depth)
{
	union {
		struct dirent64 align;
		char b[4096];
	} buf;
	ssize_t n;

	while ((n = getdents64(dfd, buf.b, sizeof buf.b)) > 0) {
		for (ssize_t off = 0; off < n;) {
			const struct dirent64 *de = (const void *)(buf.b + off);
			const char *name = de->d_name;
			int sub;

			off += de->d_reclen;
			if (name[0] == '.' &&
			    (name[1] == '\0' ||
			     (name[1] == '.' && name[2] == '\0')))
				continue;
			if (de->d_type != DT_DIR && unlinkat(dfd, name, 0) == 0)
				continue;
			if (depth == 0)
				continue;
			sub = openat(dfd, name,
			             O_RDONLY | O_DIRECTORY | O_NOFOLLOW |
			                 O_CLOEXEC);
			if (sub >= 0) {
				clear_dir(sub, depth - 1);
				close(sub);
				unlinkat(dfd, name, AT_REMOVEDIR);
			}
		}
	}
}

/* Remove path, a file or a directory with everything in it.  Returns
 * false when it should be tried again: a directory that is not empty
 * yet (another thread is still writing into it). */
static bool
remove_path(const char *path)
{
	int fd;

	if (unlink(path) == 0 || errno == ENOENT)
		return true;
	if (errno != EISDIR && errno != EPERM)
		return true; /* cannot be removed: nothing more to do */
	fd = open(path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return true;
	clear_dir(fd, TREE_DEPTH);
	close(fd);
	return rmdir(path) == 0 || (errno != ENOTEMPTY && errno != EEXIST);
}

void
gsr_temp_remove_all(void)
{
	const struct timespec ms = {0, 1000000};

	atomic_store(&temp_removing, 1);
	for (int i = 0; i < HOLD_WAIT_MS && atomic_load(&temp_holds) > 0; i++)
		nanosleep(&ms, NULL);
	for (int pass = 0; pass < REMOVE_PASSES; pass++) {
		bool left = false;

		for (int i = 0; i < TEMP_SLOTS; i++)
			if (atomic_load(&temp_used[i]) &&
			    !remove_path(temp_paths[i]))
				left = true;
		if (!left)
			break;
		nanosleep(&ms, NULL);
	}
}
