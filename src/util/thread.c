/* thread.c -- starting and joining the engine's threads (thread.h). */
#include "compat.h"
#include "thread.h"

#include <string.h>

int
gsr_thread_start(struct gsr_ctx *ctx, struct gsr_thread *t, void *(*fn)(void *),
                 void *arg)
{
	int rc;

	t->running = false;
	if (gsr_ctx_failed(ctx))
		return -1;
	rc = pthread_create(&t->id, NULL, fn, arg);
	if (rc != 0)
		return gsr_ctx_fail(ctx, GSR_ERR_INTERNAL,
		                    "cannot start a thread: %s", strerror(rc));
	t->running = true;
	return 0;
}

int
gsr_thread_join(struct gsr_ctx *ctx, struct gsr_thread *t,
                const struct gsr_ctx *child, const char *prefix)
{
	if (t->running) {
		pthread_join(t->id, NULL);
		t->running = false;
	}
	if (ctx == NULL || child == NULL || !gsr_ctx_failed(child))
		return 0;
	gsr_ctx_fail(ctx, child->err, "%s%s", prefix ? prefix : "", child->msg);
	return -1;
}
