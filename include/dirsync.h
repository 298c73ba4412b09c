/* dirsync.h -- making a new directory entry durable.
 *
 * A file created or renamed into a directory survives a crash only once
 * the directory itself is synced.  Some file systems cannot sync a
 * directory and say EINVAL: nothing more can be done there, and these
 * helpers count that as done.
 */
#ifndef GSR_DIRSYNC_H
#define GSR_DIRSYNC_H

#include "compat.h"

/* fsync the open directory fd.  Returns 0, or -1 with errno set. */
int gsr_sync_dirfd(int fd);

/* fsync the directory dir (opened O_RDONLY | O_DIRECTORY, following a
 * symbolic link).  Returns 0, or -1 with errno set. */
int gsr_sync_dir(const char *dir);

/* fsync the directory that holds path: the part before its last '/', "/"
 * for "/name", "." for a name without one.  Returns 0, or -1 with errno
 * set (ENOMEM when the name cannot be copied). */
int gsr_sync_parent(const char *path);

#endif
