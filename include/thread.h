/* thread.h -- a thread of the engine, its failure handed back on join.
 *
 * A stage that runs work beside the main thread gives that work a context
 * of its own (gsr_ctx_child()), which the thread reports into; the main
 * thread never reads it while the thread runs.  gsr_thread_join() waits
 * for the thread and makes the thread's error, if any, the caller's, so
 * that a failure on either side ends the run through the one sticky error
 * of ctx.h.
 */
#ifndef GSR_THREAD_H
#define GSR_THREAD_H

#include "compat.h"
#include "ctx.h"

#include <pthread.h>

/* Zero-initialised: not running. */
struct gsr_thread {
	pthread_t id;
	bool running; /* started and not joined yet */
};

/* Run fn(arg) on a new thread.  Returns 0 with t running, or -1 with
 * GSR_ERR_INTERNAL on ctx (t not running).  No-op after an error. */
int gsr_thread_start(struct gsr_ctx *ctx, struct gsr_thread *t,
                     void *(*fn)(void *), void *arg);

/*
 * Wait for t when it is running (a no-op otherwise); t is then not
 * running.  When child, the context the thread reported into, holds an
 * error and ctx is not NULL, that error becomes ctx's (a no-op after an
 * error of ctx's own), its message after prefix (NULL for none), and -1
 * is returned.  ctx NULL discards the thread's error: a caller that is
 * already failing, or starting again, only waits.  Returns 0 otherwise.
 */
int gsr_thread_join(struct gsr_ctx *ctx, struct gsr_thread *t,
                    const struct gsr_ctx *child, const char *prefix);

#endif
