/* tempfiles.h -- paths to remove if the process is interrupted.
 *
 * Temporary files and directories are registered here when created and
 * unregistered when renamed into place or removed normally.  When the
 * user insists (a second SIGINT, SIGTERM or SIGHUP), the command-line
 * layer's signal handler calls gsr_temp_remove_all(), which only uses
 * async-signal-safe calls.  A registered directory is gsrecover's own,
 * made for this run: it is removed with everything in it, whether or not
 * what is in it was registered.  The registry has a fixed number of
 * slots; registering past them fails.  Any thread may register and
 * unregister.
 *
 * A path outside the registered directories must be created and
 * registered as one step, or a signal between the two leaves it behind:
 * gsr_temp_mkdtemp() and gsr_temp_mkstemp() do that, and
 * gsr_temp_hold()/gsr_temp_resume() bracket any other such step (a
 * rename into place and its unregistering).
 */
#ifndef GSR_TEMPFILES_H
#define GSR_TEMPFILES_H

#include "compat.h"

#include <signal.h>

int gsr_temp_register(const char *path);
void gsr_temp_unregister(const char *path);

/* Held off removal: see gsr_temp_hold(). */
struct gsr_temp_hold {
	sigset_t saved; /* the thread's signal mask before */
};

/*
 * Until the matching gsr_temp_resume(): SIGINT, SIGTERM and SIGHUP are
 * blocked in the calling thread, and gsr_temp_remove_all(), should it run
 * on another thread, waits (up to a few seconds) before it removes
 * anything.  Returns 0, or -1 when the removal has already begun (the
 * caller must then create nothing; gsr_temp_resume() is still called).
 */
int gsr_temp_hold(struct gsr_temp_hold *h);
void gsr_temp_resume(struct gsr_temp_hold *h);

/* mkdtemp(tmpl) and register the directory, as one step (see above).
 * Returns tmpl, or NULL with errno set (EINTR once the removal has
 * begun; ENOSPC when no slot is free: nothing is then left). */
char *gsr_temp_mkdtemp(char *tmpl);

/* mkostemp(tmpl, O_CLOEXEC) and register the file, as one step.  Returns
 * the descriptor, or -1 with errno set as for gsr_temp_mkdtemp(). */
int gsr_temp_mkstemp(char *tmpl);

/* Remove every registered path: a file is unlinked, a directory removed
 * with everything in it.  Waits for the steps held by gsr_temp_hold() on
 * other threads, and goes over the paths again while another thread is
 * still creating files in a directory, until it is gone.  Safe in a
 * signal handler. */
void gsr_temp_remove_all(void);

#endif
