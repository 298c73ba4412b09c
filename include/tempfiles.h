/* tempfiles.h -- paths to remove if the process is interrupted.
 *
 * Temporary files and directories are registered here when created and
 * unregistered when renamed into place or removed normally.  The
 * command-line layer's SIGINT/SIGTERM handler calls
 * gsr_temp_remove_all(), which only uses async-signal-safe calls.  The
 * registry has a fixed number of slots; registering past them fails.
 */
#ifndef GSR_TEMPFILES_H
#define GSR_TEMPFILES_H

#include "compat.h"

int gsr_temp_register(const char *path);
void gsr_temp_unregister(const char *path);
/* Unlink every registered path, files first, then directories.
 * Safe in a signal handler. */
void gsr_temp_remove_all(void);

#endif
