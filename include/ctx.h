/* ctx.h -- the engine's context: a sticky first error.
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

struct gsr_ctx {
	enum gsr_err err;
	char msg[1024];
};

#define GSR_CTX_INIT { GSR_OK, { 0 } }

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
