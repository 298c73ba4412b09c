/* main.c -- gsrecover's entry point: the subcommand table and exits.
 *
 * The root argp takes the common options and the command word, then stops
 * (ARGP_IN_ORDER, state->next = argc); the command's own argp parses the
 * rest with argv[0] rewritten to "gsrecover NAME" so that its messages
 * and --help name it.  Only main() exits.
 */
#include "compat.h"
#include "cli.h"

#include "paths.h"
#include "tempfiles.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zstd.h>

static const struct gsr_command commands[] = {
    {"identify", "which GPUStack build made a database, what is wrong",
     cmd_identify},
    {"rebuild",
     "rebuild a database as a clean release, with an audit "
     "archive",
     cmd_rebuild},
    {"migrate", "carry a database into PostgreSQL for GPUStack 2.x",
     cmd_migrate},
    {"export", "write every row of every table, losslessly", cmd_export},
    {"rules", "list the known labels, or check a rules directory", cmd_rules},
    {"verify", "check an audit archive and the database it describes",
     cmd_verify},
};

static void
print_version(FILE *f, struct argp_state *state)
{
	(void)state;
	fprintf(f, "gsrecover %s\n", GSR_VERSION);
	fprintf(f, "SQLite %s\n", sqlite3_libversion());
	fprintf(f, "zstd %s\n", ZSTD_versionString());
	fprintf(f, "rules %s\n", gsr_rules_dir(NULL, NULL));
}

void (*argp_program_version_hook)(FILE *, struct argp_state *) = print_version;
const char *argp_program_bug_address = "the gsrecover issue tracker";

struct root_state {
	struct gsr_common_opts common;
	const struct gsr_command *cmd;
	int sub_argc;
	char **sub_argv;
	bool help;
};

static const struct gsr_command *
find_command(const char *name)
{
	for (size_t i = 0; i < GSR_ARRAY_LEN(commands); i++)
		if (!strcmp(commands[i].name, name))
			return &commands[i];
	return NULL;
}

static error_t
root_parse(int key, char *arg, struct argp_state *state)
{
	struct root_state *rs = state->input;

	switch (key) {
	case ARGP_KEY_INIT:
		state->child_inputs[0] = &rs->common;
		break;
	case ARGP_KEY_ARG:
		if (!strcmp(arg, "help")) {
			/* "gsrecover help CMD" is "gsrecover CMD --help". */
			if (state->next >= state->argc) {
				argp_state_help(state, stdout,
				                ARGP_HELP_STD_HELP);
				return 0;
			}
			arg = state->argv[state->next++];
			rs->help = true;
		}
		rs->cmd = find_command(arg);
		if (rs->cmd == NULL)
			argp_error(state, "unknown command '%s'", arg);
		rs->sub_argc = state->argc - state->next + 1;
		rs->sub_argv = &state->argv[state->next - 1];
		state->next = state->argc;
		break;
	case ARGP_KEY_NO_ARGS:
		argp_error(state, "missing COMMAND");
		break;
	default:
		return ARGP_ERR_UNKNOWN;
	}
	return 0;
}

static char *
root_help_filter(int key, const char *text, void *input)
{
	(void)input;
	if (key != ARGP_KEY_HELP_POST_DOC || text == NULL)
		return (char *)text;
	char *out = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&out, &len);
	if (f == NULL)
		return (char *)text;
	fputs("Commands:\n", f);
	for (size_t i = 0; i < GSR_ARRAY_LEN(commands); i++)
		fprintf(f, "  %-10s %s\n", commands[i].name,
		        commands[i].summary);
	fprintf(f, "\n%s", text);
	fclose(f);
	return out;
}

static const char root_doc[] =
    "Identify, export and repair GPUStack SQLite databases, offline."
    "\v"
    "Run 'gsrecover COMMAND --help' (or 'gsrecover help COMMAND') for a "
    "command's options.\n\n"
    "Exit status (bits, OR-ed together as fsck(8) does):\n"
    "  0    nothing needed attention\n"
    "  1    problems were found and repaired\n"
    "  4    problems were found and left, or rows were quarantined\n"
    "  8    operational error: cannot read, cannot write, bad rules\n"
    "  16   usage error\n"
    "  32   interrupted by SIGINT, SIGTERM or SIGHUP; partial outputs removed\n"
    "  128  internal error\n\n"
    "Environment: GSRECOVER_RULES (rules directory), GPUSTACK_DATA_DIR "
    "(where GPUStack keeps database.db, when DB is omitted), TMPDIR.";

static const struct argp_child root_children[] = {
    {&gsr_common_argp, 0, NULL, 0}, {0}};

static const struct argp root_argp = {
    NULL,     root_parse,    "COMMAND [ARG...]",
    root_doc, root_children, root_help_filter,
    NULL};

/* The thread that runs main(), the one that removes the temporary paths
 * when the user insists. */
static pthread_t main_thread;

/*
 * The first signal asks the engine to stop: its loops notice, fail with
 * GSR_ERR_CANCELED and remove their partial outputs on the way out.  A
 * second signal (the user insists) removes every registered temporary
 * path at once and exits.  That is done on the main thread, which
 * creates the paths outside the registered directories (tempfiles.h) and
 * drives SQLite on the outputs: a signal that another thread receives is
 * passed on to it, and waits there while the main thread holds it off.
 */
static void
on_signal(int sig)
{
	int saved = errno;

	if (!gsr_cancel_requested()) {
		gsr_cancel_request();
	} else if (!pthread_equal(pthread_self(), main_thread)) {
		pthread_kill(main_thread, sig);
	} else {
		gsr_temp_remove_all();
		gsr_progress_clear_signal();
		_exit(GSR_EXIT_CANCELED);
	}
	errno = saved;
}

/* Catch SIGINT, SIGTERM and SIGHUP with on_signal(), each blocking the
 * others while it runs. */
static void
install_signals(void)
{
	struct sigaction sa;

	main_thread = pthread_self();
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = on_signal;
	sigemptyset(&sa.sa_mask);
	sigaddset(&sa.sa_mask, SIGINT);
	sigaddset(&sa.sa_mask, SIGTERM);
	sigaddset(&sa.sa_mask, SIGHUP);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
}

int
main(int argc, char **argv)
{
	struct root_state rs = {0};
	char *name = NULL;
	int status;

	argp_err_exit_status = GSR_EXIT_USAGE;
	/* SQLite's memory statistics take a global mutex on every
	 * allocation, which the engine's threads would contend for. */
	sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0);
	/* The JSON envelope reports the command line as given; the copy
	 * keeps it so when argv[0] of the command is rewritten below. */
	gsr_saved_argc = argc;
	gsr_saved_argv = calloc((size_t)argc + 1, sizeof *gsr_saved_argv);
	if (gsr_saved_argv == NULL)
		return GSR_EXIT_OPERATIONAL;
	memcpy(gsr_saved_argv, argv, (size_t)argc * sizeof *argv);
	install_signals();
	if (argp_parse(&root_argp, argc, argv, ARGP_IN_ORDER, NULL, &rs) != 0) {
		free(gsr_saved_argv);
		return GSR_EXIT_USAGE;
	}
	if (rs.cmd == NULL) {
		free(gsr_saved_argv);
		return GSR_EXIT_OK; /* "gsrecover help" */
	}
	if (asprintf(&name, "gsrecover %s", rs.cmd->name) < 0) {
		free(gsr_saved_argv);
		return GSR_EXIT_OPERATIONAL;
	}
	rs.sub_argv[0] = name;
	if (rs.help) {
		char *hv[] = {name, (char *)"--help", NULL};
		status = rs.cmd->run(2, hv, &rs.common);
	} else {
		status = rs.cmd->run(rs.sub_argc, rs.sub_argv, &rs.common);
	}
	gsr_progress_clear();
	if (fflush(stdout) != 0 || ferror(stdout) || fclose(stdout) != 0) {
		gsr_error("cannot write to standard output: %s",
		          strerror(errno));
		status |= GSR_EXIT_OPERATIONAL;
	}
	free(name);
	free(gsr_saved_argv);
	return status;
}
