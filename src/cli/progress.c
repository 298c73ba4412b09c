/* progress.c -- the engine's progress, drawn on a terminal.
 *
 * The command-line layer's sink for the progress the engine reports
 * (ctx.h), installed by gsr_cli_progress() only when stderr is a terminal
 * and neither -q nor --json is given.  It keeps the phases under way
 * (several overlap: a rebuild compresses the input while custody copies
 * it, and runs identify's checks, the export and the archive beside the
 * build) and draws one line on stderr, redrawn in place with '\r' at most
 * six times a second and cut to the terminal's width: each phase that has
 * run for a second (GSR_PROGRESS_DELAY_MS), with its percentage when its
 * total is known and the bytes, rows or pages done.  The line is cleared
 * with "\r\033[K" when the phases it shows end, before any message
 * (gsr_progress_clear(), from cli.c), at exit and on a signal that ends
 * the run at once (main.c).
 */
#include "compat.h"
#include "cli.h"

#include "clock.h"

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

/* Phases under way at once, at most; more are not shown. */
#define MAX_PHASES 8
/* At most six redraws a second. */
#define REDRAW_MS (1000.0 / 6)
/* A phase is shown once it has run this long, unless the environment
 * says otherwise. */
#define DEFAULT_DELAY_MS 1000
/* The longest line drawn, before it is cut to the terminal's width. */
#define LINE_BYTES 1024

static const char CLEAR[] = "\r\033[K";

struct phase {
	char name[GSR_PROGRESS_NAME_MAX + 1];
	enum gsr_progress_unit unit;
	uint64_t done, total;
	double start; /* ms, when it first reported */
	bool used;
	bool shown; /* on the line as last drawn */
};

/* Everything below is under mu, but line_dirty, which a signal handler
 * reads too. */
static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static struct phase phases[MAX_PHASES];
static double delay_ms = DEFAULT_DELAY_MS;
static double last_draw = -1e18;
static volatile sig_atomic_t line_dirty; /* something is drawn */

/* Write all of p to stderr; errors are ignored (the line is cosmetic).
 * Async-signal-safe. */
static void
put(const char *p, size_t n)
{
	while (n > 0) {
		ssize_t w = write(STDERR_FILENO, p, n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return;
		p += w;
		n -= (size_t)w;
	}
}

/* The terminal's width in columns, 80 when it does not say. */
static size_t
columns(void)
{
	struct winsize ws;

	if (ioctl(STDERR_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 0)
		return ws.ws_col;
	return 80;
}

/* The phase called name, or a free slot for it when add (NULL when none
 * is left).  A name is kept cut and with control characters replaced,
 * since a table's name comes from the input. */
static struct phase *
find_phase(const char *name, bool add, double now)
{
	char clean[GSR_PROGRESS_NAME_MAX + 1];
	struct phase *free_slot = NULL;
	size_t n = 0;

	for (; name[n] && n < GSR_PROGRESS_NAME_MAX; n++) {
		unsigned char c = (unsigned char)name[n];
		clean[n] = c < 0x20 || c == 0x7f ? '?' : (char)c;
	}
	clean[n] = '\0';
	for (size_t i = 0; i < MAX_PHASES; i++) {
		if (phases[i].used && !strcmp(phases[i].name, clean))
			return &phases[i];
		if (!phases[i].used && free_slot == NULL)
			free_slot = &phases[i];
	}
	if (!add || free_slot == NULL)
		return NULL;
	memset(free_slot, 0, sizeof *free_slot);
	memcpy(free_slot->name, clean, n + 1);
	free_slot->used = true;
	free_slot->start = now;
	return free_slot;
}

/* The unit for sizes up to max: its name, and how many bytes it is. */
static const char *
size_unit(uint64_t max, double *scale)
{
	static const char *const units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
	size_t u = 0;

	*scale = 1;
	while (u + 1 < GSR_ARRAY_LEN(units) &&
	       (double)max >= 10.0 * 1024 * *scale) {
		*scale *= 1024;
		u++;
	}
	return units[u];
}

/* v in the unit of size_unit(): "12.3", or "512" in bytes. */
static void
size_in(char *buf, size_t len, uint64_t v, double scale)
{
	if (scale == 1)
		snprintf(buf, len, "%" PRIu64, v);
	else
		snprintf(buf, len, "%.1f", (double)v / scale);
}

/* One phase's part of the line: "custody 45% 140.2/310.0 MiB",
 * "import models 12% 1200/10000 rows", "archive 35.2 MiB", "checks 1/3". */
static void
describe(char *buf, size_t len, const struct phase *ph)
{
	static const char *const what[] = {
	    [GSR_PROGRESS_BYTES] = "",
	    [GSR_PROGRESS_ROWS] = "rows",
	    [GSR_PROGRESS_PAGES] = "pages",
	    [GSR_PROGRESS_STEPS] = "",
	};
	enum { N = GSR_PROGRESS_NAME_MAX };
	char a[32], b[32];
	const char *unit = what[ph->unit];
	uint64_t done = ph->done;
	int pct;

	if (ph->total > 0 && done > ph->total)
		done = ph->total;
	pct =
	    ph->total > 0 ? (int)((double)done * 100.0 / (double)ph->total) : 0;
	if (ph->unit == GSR_PROGRESS_BYTES) {
		double scale;

		unit = size_unit(ph->total > done ? ph->total : done, &scale);
		size_in(a, sizeof a, done, scale);
		size_in(b, sizeof b, ph->total, scale);
	} else {
		snprintf(a, sizeof a, "%" PRIu64, done);
		snprintf(b, sizeof b, "%" PRIu64, ph->total);
	}
	if (ph->unit == GSR_PROGRESS_STEPS && ph->total == 0)
		snprintf(buf, len, "%.*s", N, ph->name);
	else if (ph->unit == GSR_PROGRESS_STEPS)
		snprintf(buf, len, "%.*s %s/%s", N, ph->name, a, b);
	else if (ph->total > 0)
		snprintf(buf, len, "%.*s %d%% %s/%s %s", N, ph->name, pct, a, b,
		         unit);
	else
		snprintf(buf, len, "%.*s %s %s", N, ph->name, a, unit);
}

/* Draw the line: the phases that have run for delay_ms, cut to the
 * terminal's width; or clear it when none has and something is drawn. */
static void
draw(double now)
{
	char line[LINE_BYTES], part[256];
	/* '\r', the text, then "\033[K" and a NUL fit. */
	const size_t cap = sizeof line - 4;
	size_t len = 1, width = columns() - 1, text;

	line[0] = '\r';
	for (size_t i = 0; i < MAX_PHASES; i++) {
		struct phase *ph = &phases[i];
		int n;

		ph->shown = ph->used && now - ph->start >= delay_ms;
		if (!ph->shown || len + 1 >= cap)
			continue;
		describe(part, sizeof part, ph);
		n = snprintf(line + len, cap - len, "%s%s",
		             len > 1 ? " | " : "", part);
		if (n > 0)
			len +=
			    (size_t)n < cap - len ? (size_t)n : cap - len - 1;
	}
	text = len - 1;
	if (text == 0) {
		if (line_dirty)
			put(CLEAR, sizeof CLEAR - 1);
		line_dirty = 0;
		return;
	}
	/* Cut to the width, not inside a UTF-8 sequence. */
	if (text > width) {
		text = width;
		while (text > 0 &&
		       ((unsigned char)line[1 + text] & 0xc0) == 0x80)
			text--;
		len = 1 + text;
	}
	memcpy(line + len, "\033[K", 3);
	len += 3;
	put(line, len);
	line_dirty = 1;
	last_draw = now;
}

/* The sink's update (ctx.h): note how far phase is, and draw the line when
 * the phase has just become due or the last drawing is a sixth of a
 * second old. */
static void
sink_update(void *arg, const char *phase, enum gsr_progress_unit unit,
            uint64_t done, uint64_t total)
{
	double now = gsr_now_ms();
	struct phase *ph;

	(void)arg;
	pthread_mutex_lock(&mu);
	if ((ph = find_phase(phase, true, now)) != NULL) {
		ph->unit = unit;
		ph->done = done;
		ph->total = total;
		/* A phase that has just become due is drawn at once, then
		 * at most six times a second. */
		if (now - ph->start >= delay_ms &&
		    (!ph->shown || now - last_draw >= REDRAW_MS))
			draw(now);
	}
	pthread_mutex_unlock(&mu);
}

/* The sink's end (ctx.h): forget phase, and draw the line again without
 * it (or clear it) when it was on it. */
static void
sink_end(void *arg, const char *phase)
{
	double now = gsr_now_ms();
	struct phase *ph;

	(void)arg;
	pthread_mutex_lock(&mu);
	if ((ph = find_phase(phase, false, now)) != NULL) {
		bool shown = ph->shown;

		memset(ph, 0, sizeof *ph);
		if (shown)
			draw(now);
	}
	pthread_mutex_unlock(&mu);
}

static const struct gsr_progress sink = {sink_update, sink_end, NULL};

void
gsr_cli_progress(struct gsr_ctx *ctx, const struct gsr_common_opts *common)
{
	const char *env = getenv("GSR_PROGRESS_DELAY_MS");

	if (common->json || common->verbosity < 0 || !isatty(STDERR_FILENO))
		return;
	if (env != NULL && *env) {
		char *end;
		long v;

		errno = 0;
		v = strtol(env, &end, 10);
		pthread_mutex_lock(&mu);
		if (errno == 0 && *end == '\0' && v >= 0 && v <= 86400000)
			delay_ms = (double)v;
		pthread_mutex_unlock(&mu);
	}
	ctx->progress = &sink;
}

void
gsr_progress_clear(void)
{
	pthread_mutex_lock(&mu);
	if (line_dirty)
		put(CLEAR, sizeof CLEAR - 1);
	line_dirty = 0;
	for (size_t i = 0; i < MAX_PHASES; i++)
		phases[i].shown = false;
	pthread_mutex_unlock(&mu);
}

void
gsr_progress_clear_signal(void)
{
	if (line_dirty)
		put(CLEAR, sizeof CLEAR - 1);
	line_dirty = 0;
}
