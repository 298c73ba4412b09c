/* ctx.h -- the engine's context: a sticky first error, a progress sink.
 *
 * Every engine entry point takes a struct gsr_ctx.  The first failure is
 * recorded with gsr_ctx_fail() and kept: later failures do not replace it,
 * and helpers documented as "no-op after an error" return at once when
 * gsr_ctx_failed() is true.  A long sequence of steps can therefore be
 * written straight through and checked once at the end.  The engine never
 * prints or exits; the command-line layer reads ctx->msg and decides.
 *
 * A damaged page or a schema difference is not an error in this sense: it
 * is a finding, reported in the result of the operation.
 */
#ifndef GSR_CTX_H
#define GSR_CTX_H

#include "compat.h"

/* Error classes; the CLI maps them to exit statuses. */
enum gsr_err {
	GSR_OK = 0,
	GSR_ERR_INPUT,    /* the input cannot be read or is not a database */
	GSR_ERR_IO,       /* an I/O error on our own files */
	GSR_ERR_NOMEM,    /* allocation failed or a size limit was hit */
	GSR_ERR_RULES,    /* rules missing or invalid */
	GSR_ERR_USAGE,    /* a request the engine cannot honour as asked */
	GSR_ERR_EXISTS,   /* an output exists and overwriting was not allowed */
	GSR_ERR_BUSY,     /* another process holds the database open */
	GSR_ERR_INTERNAL, /* a library failed in a way it should not */
	GSR_ERR_CANCELED, /* SIGINT/SIGTERM arrived; outputs were removed */
};

/*
 * Progress.  A stage that can run for seconds on a big database reports
 * how far it is with gsr_progress() at cheap points of its loops (every
 * so many rows, pages or bytes, and once as it starts), and calls
 * gsr_progress_end() once it is over, on every path (from its cleanup
 * label).  phase names the stage: "custody", "checks", "page reader",
 * "import TABLE", "export", "archive"; a name is at most
 * GSR_PROGRESS_NAME_MAX bytes (longer ones are cut).  done counts units
 * so far; total is 0 when it is not known.
 *
 * The sink is the command line's: ctx->progress, NULL for none (then both
 * calls do nothing).  It may be called from several threads at once, with
 * phases that overlap; it limits by itself how often it draws, so callers
 * call it as often as is cheap for them.  It never calls back into the
 * engine.  A thread of the engine that makes a context of its own takes
 * the caller's sink with gsr_ctx_child().
 */
enum gsr_progress_unit {
	GSR_PROGRESS_BYTES,
	GSR_PROGRESS_ROWS,
	GSR_PROGRESS_PAGES,
	GSR_PROGRESS_STEPS,
};

#define GSR_PROGRESS_NAME_MAX 63

struct gsr_progress {
	void (*update)(void *arg, const char *phase,
	               enum gsr_progress_unit unit, uint64_t done,
	               uint64_t total);
	void (*end)(void *arg, const char *phase);
	void *arg;
};

struct gsr_ctx {
	enum gsr_err err;
	char msg[1024];
	const struct gsr_progress *progress; /* may be NULL; see above */
};

#define GSR_CTX_INIT                                                           \
	{                                                                      \
		.err = GSR_OK                                                  \
	}

/* A fresh context (no error) with parent's progress sink, for a thread. */
static inline struct gsr_ctx
gsr_ctx_child(const struct gsr_ctx *parent)
{
	return (struct gsr_ctx){.err = GSR_OK, .progress = parent->progress};
}

/* Report progress of phase (see above); a no-op without a sink. */
static inline void
gsr_progress(const struct gsr_ctx *ctx, const char *phase,
             enum gsr_progress_unit unit, uint64_t done, uint64_t total)
{
	if (ctx->progress != NULL)
		ctx->progress->update(ctx->progress->arg, phase, unit, done,
		                      total);
}

/* Phase is over (a no-op when it never reported, or without a sink). */
static inline void
gsr_progress_end(const struct gsr_ctx *ctx, const char *phase)
{
	if (ctx->progress != NULL)
		ctx->progress->end(ctx->progress->arg, phase);
}

/* Record an error unless one is already recorded.  Returns -1 so that
 * `return gsr_ctx_fail(...)` is one line. */
int gsr_ctx_fail(struct gsr_ctx *ctx, enum gsr_err err, const char *fmt, ...)
    GSR_PRINTF(3, 4);

static inline bool
gsr_ctx_failed(const struct gsr_ctx *ctx)
{
	return ctx->err != GSR_OK;
}

/* Forget the recorded error (for callers that tolerate a failed step). */
void gsr_ctx_clear(struct gsr_ctx *ctx);

/* Cancellation.  The CLI's signal handler calls gsr_cancel_request();
 * long engine loops call gsr_ctx_check_cancel() now and then, which
 * records GSR_ERR_CANCELED and returns -1 once a signal has arrived, so
 * the normal cleanup paths remove partial outputs. */
void gsr_cancel_request(void);
bool gsr_cancel_requested(void);
int gsr_ctx_check_cancel(struct gsr_ctx *ctx);

#endif
