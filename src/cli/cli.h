/* cli.h -- the command-line layer: diagnostics, shared options, exits.
 *
 * Only this layer prints, parses options and decides exit statuses; the
 * engine (include/) reports through struct gsr_ctx and result structs.
 */
#ifndef GSR_CLI_H
#define GSR_CLI_H

#include "compat.h"
#include "ctx.h"

#include <argp.h>
#include <stdio.h>

/* Exit status bits, as fsck(8) uses them; OR-ed together. */
enum gsr_exit {
	GSR_EXIT_OK = 0,
	GSR_EXIT_RECOVERED = 1,   /* problems found and repaired */
	GSR_EXIT_UNRECOVERED = 4, /* problems found and left, or rows lost */
	GSR_EXIT_OPERATIONAL = 8, /* cannot read, cannot write, bad rules */
	GSR_EXIT_USAGE = 16,
	GSR_EXIT_CANCELED = 32, /* SIGINT or SIGTERM */
	GSR_EXIT_INTERNAL = 128,
};

/* Options every subcommand takes (an argp child). */
struct gsr_common_opts {
	const char *rules_dir;
	bool json;
	int verbosity; /* 0 normal, -1 quiet, >0 verbose */
};

/* Each subcommand: its name, a one-line summary, its argp and runner. */
struct gsr_command {
	const char *name;
	const char *summary;
	int (*run)(int argc, char **argv, struct gsr_common_opts *common);
};

extern struct argp gsr_common_argp;
extern int gsr_verbosity;
extern int gsr_saved_argc;
extern char **gsr_saved_argv;

void gsr_error(const char *fmt, ...) GSR_PRINTF(1, 2);
void gsr_warn(const char *fmt, ...) GSR_PRINTF(1, 2);
void gsr_note(const char *fmt, ...) GSR_PRINTF(1, 2);

/* Exit bits for an engine error. */
int gsr_exit_for(const struct gsr_ctx *ctx);

/* Report ctx's error on stderr and return its exit bits. */
int gsr_fail(const struct gsr_ctx *ctx);

/*
 * Progress of long work on a terminal (progress.c).  gsr_cli_progress()
 * gives ctx the sink that draws the engine's progress (ctx.h) on stderr,
 * when stderr is a terminal and neither --json nor -q is given, shown for
 * each phase once it has run for a second ($GSR_PROGRESS_DELAY_MS).
 * gsr_progress_clear() clears the line when one is drawn: before every
 * message, and at exit; gsr_progress_clear_signal() is the same for a
 * signal handler (async-signal-safe, takes no lock).
 */
void gsr_cli_progress(struct gsr_ctx *ctx,
                      const struct gsr_common_opts *common);
void gsr_progress_clear(void);
void gsr_progress_clear_signal(void);

struct gsr_rules;
/* Load the rules from the directory the options, the environment or the
 * build select; prints the error (unless a signal stopped the load) and
 * returns NULL on failure. */
struct gsr_rules *gsr_cli_load_rules(const struct gsr_common_opts *common,
                                     const char **dir, const char **source);

/* Print why the rules in dir (found as source says: "option",
 * "environment", "build-tree", "built-in", or "argument" for the DIR of
 * 'rules check') could not be loaded, ctx's error, in one line; when no
 * directory is there, with what gives one.  With hint_check, a note that
 * 'rules check' lists every problem of rules that are invalid. */
void gsr_cli_rules_error(const struct gsr_ctx *ctx, const char *dir,
                         const char *source, bool hint_check);

/* The exit status of a command that could not load its rules: 32, after
 * saying "interrupted", when a signal stopped the load, else 8. */
int gsr_cli_rules_status(void);

struct jsonw;
/*
 * The one JSON object a command prints on stdout with --json.
 * gsr_json_begin() starts it with jw on stdout and writes the envelope
 * every command's object opens with: "json_format_version" and
 * "gsrecover" (version, argv, exit_status).  The command then writes its
 * own keys, and gsr_json_end() closes the object and its line; with
 * GSR_JSON_MESSAGES it first writes "messages", an empty array in this
 * version (identify and rebuild have it).
 */
enum gsr_json_end_with { GSR_JSON_NO_MESSAGES, GSR_JSON_MESSAGES };
void gsr_json_begin(struct jsonw *jw, int exit_status);
void gsr_json_end(struct jsonw *jw, enum gsr_json_end_with with);

/* Subcommands. */
int cmd_identify(int argc, char **argv, struct gsr_common_opts *common);
int cmd_rebuild(int argc, char **argv, struct gsr_common_opts *common);
int cmd_export(int argc, char **argv, struct gsr_common_opts *common);
int cmd_rules(int argc, char **argv, struct gsr_common_opts *common);
int cmd_migrate(int argc, char **argv, struct gsr_common_opts *common);
int cmd_verify(int argc, char **argv, struct gsr_common_opts *common);

#endif
