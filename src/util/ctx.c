/* ctx.c -- the sticky first error of the engine. */
#include "compat.h"
#include "ctx.h"

#include <signal.h>
#include <stdarg.h>
#include <stdio.h>

static volatile sig_atomic_t cancel_flag;

int
gsr_ctx_fail(struct gsr_ctx *ctx, enum gsr_err err, const char *fmt, ...)
{
	va_list ap;

	if (ctx->err != GSR_OK)
		return -1;
	ctx->err = err;
	va_start(ap, fmt);
	vsnprintf(ctx->msg, sizeof ctx->msg, fmt, ap);
	va_end(ap);
	return -1;
}

void
gsr_ctx_clear(struct gsr_ctx *ctx)
{
	ctx->err = GSR_OK;
	ctx->msg[0] = '\0';
}

void
gsr_cancel_request(void)
{
	cancel_flag = 1;
}

bool
gsr_cancel_requested(void)
{
	return cancel_flag != 0;
}

int
gsr_ctx_check_cancel(struct gsr_ctx *ctx)
{
	if (cancel_flag == 0)
		return gsr_ctx_failed(ctx) ? -1 : 0;
	return gsr_ctx_fail(ctx, GSR_ERR_CANCELED, "interrupted");
}
