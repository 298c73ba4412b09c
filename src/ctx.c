/* ctx.c -- the sticky first error of the engine. */
#include "compat.h"
#include "ctx.h"

#include <stdarg.h>
#include <stdio.h>

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
