/* cli.c -- diagnostics and options shared by every subcommand. */
#include "compat.h"
#include "cli.h"

#include "jsonw.h"
#include "paths.h"
#include "rules.h"

#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int gsr_verbosity;
int gsr_saved_argc;
char **gsr_saved_argv;

static void
vmsg(const char *prefix, const char *fmt, va_list ap)
{
	fflush(stdout);
	gsr_progress_clear();
	fprintf(stderr, "gsrecover: %s", prefix);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
}

void
gsr_error(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vmsg("", fmt, ap);
	va_end(ap);
}

void
gsr_warn(const char *fmt, ...)
{
	va_list ap;
	if (gsr_verbosity < 0)
		return;
	va_start(ap, fmt);
	vmsg("warning: ", fmt, ap);
	va_end(ap);
}

void
gsr_note(const char *fmt, ...)
{
	va_list ap;
	if (gsr_verbosity < 0)
		return;
	va_start(ap, fmt);
	vmsg("", fmt, ap);
	va_end(ap);
}

int
gsr_exit_for(const struct gsr_ctx *ctx)
{
	switch (ctx->err) {
	case GSR_OK: return GSR_EXIT_OK;
	case GSR_ERR_USAGE: return GSR_EXIT_USAGE;
	case GSR_ERR_INTERNAL: return GSR_EXIT_INTERNAL;
	case GSR_ERR_CANCELED: return GSR_EXIT_CANCELED;
	default: return GSR_EXIT_OPERATIONAL;
	}
}

int
gsr_fail(const struct gsr_ctx *ctx)
{
	gsr_error("%s", ctx->msg[0] ? ctx->msg : "unknown error");
	return gsr_exit_for(ctx);
}

enum { OPT_RULES_DIR = 0x100, OPT_JSON };

static const struct argp_option common_options[] = {
	{ NULL, 0, NULL, 0, "Common options:", 50 },
	{ "json", OPT_JSON, NULL, 0, "print one JSON object on stdout", 50 },
	{ "rules-dir", OPT_RULES_DIR, "DIR", 0,
	  "read the rules from DIR (default: $GSRECOVER_RULES, then the "
	  "source tree's rules/ when run from its build directory, then the "
	  "installed rules)", 50 },
	{ "quiet", 'q', NULL, 0, "no notes, warnings or progress on stderr", 50 },
	{ "verbose", 'v', NULL, 0, "more detail in the report", 50 },
	{ 0 }
};

static error_t
common_parse(int key, char *arg, struct argp_state *state)
{
	struct gsr_common_opts *o = state->input;

	switch (key) {
	case OPT_JSON: o->json = true; break;
	case OPT_RULES_DIR: o->rules_dir = arg; break;
	case 'q': o->verbosity = -1; gsr_verbosity = -1; break;
	case 'v': o->verbosity++; gsr_verbosity = o->verbosity; break;
	default: return ARGP_ERR_UNKNOWN;
	}
	return 0;
}

struct argp gsr_common_argp = { common_options, common_parse, NULL, NULL,
				NULL, NULL, NULL };

void
gsr_cli_rules_error(const struct gsr_ctx *ctx, const char *dir,
		    const char *source, bool hint_check)
{
	struct stat st;
	bool missing = stat(dir, &st) != 0 || !S_ISDIR(st.st_mode);

	if (missing && !strcmp(source, "built-in"))
		gsr_error("%s; give --rules-dir DIR or set GSRECOVER_RULES=DIR, "
			  "or install the rules there with 'make install'",
			  ctx->msg);
	else if (missing && !strcmp(source, "environment"))
		gsr_error("%s (the directory GSRECOVER_RULES names)", ctx->msg);
	else
		gsr_error("%s", ctx->msg);
	if (hint_check && !missing && ctx->err == GSR_ERR_RULES)
		gsr_note("'gsrecover rules check %s' lists every problem", dir);
}

struct gsr_rules *
gsr_cli_load_rules(const struct gsr_common_opts *common, const char **dir,
		   const char **source)
{
	struct gsr_ctx ctx = GSR_CTX_INIT;
	struct gsr_rules *r = NULL;
	const char *src = NULL;
	const char *d = gsr_rules_dir(common->rules_dir, &src);

	if (dir)
		*dir = d;
	if (source)
		*source = src;
	if (gsr_rules_load(&ctx, d, &r, NULL) != 0) {
		if (ctx.err != GSR_ERR_CANCELED) /* else gsr_cli_rules_status() */
			gsr_cli_rules_error(&ctx, d, src, true);
		return NULL;
	}
	return r;
}

int
gsr_cli_rules_status(void)
{
	if (!gsr_cancel_requested())
		return GSR_EXIT_OPERATIONAL;
	gsr_error("interrupted");
	return GSR_EXIT_CANCELED;
}

void
gsr_json_envelope(struct jsonw *jw, int exit_status)
{
	jw_key(jw, "json_format_version");
	jw_arr_begin(jw);
	jw_int(jw, 1);
	jw_int(jw, 0);
	jw_arr_end(jw);
	jw_key(jw, "gsrecover");
	jw_obj_begin(jw);
	jw_kstr(jw, "version", GSR_VERSION);
	jw_key(jw, "argv");
	jw_arr_begin(jw);
	for (int i = 0; i < gsr_saved_argc; i++)
		jw_str(jw, gsr_saved_argv[i]);
	jw_arr_end(jw);
	jw_kint(jw, "exit_status", exit_status);
	jw_obj_end(jw);
}
