/* make bench: the page reader's throughput on the benchmark database.
 *
 *   pagewalk DB [RULES_DIR]
 *
 * Times, over the bytes of DB (warm page cache):
 *   walk    every table b-tree of sqlite_master walked from its root,
 *           every row decoded (btree.h), nothing written: the page walk;
 *   carve   the whole image carved for deleted rows (carve.h), with shapes
 *           of every table from the schema as SQLite reads it;
 *   recover gsr_recover_run() end to end into a scratch directory (rows
 *           re-inserted with SQLite, provenance ledger, carving).
 * Prints MB/s for each and the peak resident memory after each step.
 */
#include "compat.h"
#include "btree.h"
#include "carve.h"
#include "pagefile.h"
#include "recover.h"
#include "rules.h"
#include "schema.h"

#include <fcntl.h>
#include <inttypes.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static double
now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static long
peak_mib(void)
{
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	return ru.ru_maxrss / 1024;
}

static int
count_row(void *arg, const struct gsr_row *row)
{
	(void)row;
	(*(uint64_t *)arg)++;
	return 0;
}

static int
count_carved(void *arg, const struct gsr_carved *c)
{
	(void)c;
	(*(uint64_t *)arg)++;
	return 0;
}

int
main(int argc, char **argv)
{
	struct gsr_ctx ctx = GSR_CTX_INIT;
	struct gsr_pagefile *pf;
	struct gsr_schema *schema;
	struct gsr_shape *shapes;
	uint8_t **allowed;
	sqlite3 *db = NULL;
	sqlite3_stmt *st = NULL;
	struct stat sb;
	uint64_t rows = 0, carved = 0;
	double t0, mb;
	size_t n = 0;
	int fd;

	if (argc < 2) {
		fprintf(stderr, "usage: pagewalk DB [RULES_DIR]\n");
		return 2;
	}
	if ((fd = open(argv[1], O_RDONLY)) < 0 || fstat(fd, &sb) != 0) {
		perror(argv[1]);
		return 1;
	}
	mb = (double)sb.st_size / 1e6;
	pf = gsr_pagefile_open_fd(&ctx, fd, (uint64_t)sb.st_size, 0);
	if (pf == NULL ||
	    sqlite3_open_v2(argv[1], &db, SQLITE_OPEN_READONLY, NULL)) {
		fprintf(stderr, "cannot open %s\n", argv[1]);
		return 1;
	}

	/* 1. The page walk. */
	sqlite3_prepare_v2(db,
	                   "SELECT rootpage FROM sqlite_master WHERE type = "
	                   "'table' AND rootpage > 0",
	                   -1, &st, NULL);
	t0 = now();
	while (sqlite3_step(st) == SQLITE_ROW)
		if (gsr_btree_walk_table(&ctx, pf,
		                         (uint32_t)sqlite3_column_int(st, 0),
		                         count_row, &rows, NULL) < 0)
			return 1;
	sqlite3_finalize(st);
	t0 = now() - t0;
	printf("page walk:  %8.1f MB in %6.2f s = %7.1f MB/s  (%" PRIu64
	       " rows; peak RSS %ld MiB)\n",
	       mb, t0, mb / t0, rows, peak_mib());

	/* 2. Carving the image, every table's shape. */
	schema = gsr_schema_extract(&ctx, db);
	if (schema == NULL)
		return 1;
	shapes = calloc(schema->n_tables + 1, sizeof *shapes);
	allowed = calloc(schema->n_tables + 1, sizeof *allowed);
	for (size_t i = 0; i < schema->n_tables; i++) {
		const struct gsr_table *t = &schema->tables[i];
		int npk = 0;

		if (t->is_virtual || t->without_rowid ||
		    !strcmp(t->name, "sqlite_sequence"))
			continue;
		allowed[n] = calloc(t->n_cols + 1, 1);
		shapes[n].name = t->name;
		shapes[n].n_cols = t->n_cols;
		shapes[n].ipk = -1;
		for (size_t c = 0; c < t->n_cols; c++)
			npk += t->cols[c].pk > 0;
		for (size_t c = 0; c < t->n_cols; c++) {
			const char *ty = t->cols[c].type ? t->cols[c].type : "";
			uint8_t a =
			    strcasestr(ty, "INT") ? GSR_ALLOW_INT
			    : strcasestr(ty, "CHAR") || strcasestr(ty, "TEXT")
			        ? GSR_ALLOW_TEXT
			    : strcasestr(ty, "FLOA") || strcasestr(ty, "REAL")
			        ? GSR_ALLOW_REAL | GSR_ALLOW_INT
			        : GSR_ALLOW_INT | GSR_ALLOW_REAL |
			              GSR_ALLOW_TEXT;

			allowed[n][c] =
			    t->cols[c].notnull ? a : a | GSR_ALLOW_NULL;
			if (npk == 1 && t->cols[c].pk == 1 &&
			    !strcasecmp(ty, "INTEGER"))
				shapes[n].ipk = (int)c;
		}
		shapes[n].allowed = allowed[n];
		n++;
	}
	{
		struct gsr_carver *cv = gsr_carver_new(&ctx, pf, shapes, n);
		struct gsr_carve_stats cs = {0};

		t0 = now();
		if (cv == NULL ||
		    gsr_carver_image(cv, count_carved, &carved, &cs) < 0) {
			fprintf(stderr, "carving failed: %s\n", ctx.msg);
			return 1;
		}
		t0 = now() - t0;
		printf(
		    "carving:    %8.1f MB in %6.2f s = %7.1f MB/s  (%" PRIu64
		    " deleted rows, %.1f MB of free space; peak RSS %ld MiB)\n",
		    mb, t0, mb / t0, carved, (double)cs.bytes_scanned / 1e6,
		    peak_mib());
		gsr_carver_free(cv);
	}

	/* 3. The whole recovery, into a scratch directory. */
	{
		struct gsr_rules *rules = NULL;
		struct gsr_recover_opts o = {.deleted = true,
		                             .sqlite_reads_image = true};
		struct gsr_recover_result res = GSR_RECOVER_RESULT_INIT;
		char dir[] = "/tmp/gsr-bench.XXXXXX", out[64], led[64];

		if (argc > 2 &&
		    gsr_rules_load(&ctx, argv[2], &rules, NULL) == 0)
			o.rules = rules;
		gsr_ctx_clear(&ctx);
		if (mkdtemp(dir) == NULL)
			return 1;
		snprintf(out, sizeof out, "%s/rec.db", dir);
		snprintf(led, sizeof led, "%s/led.db", dir);
		t0 = now();
		if (gsr_recover_run(&ctx, argv[1], &o, out, led, &res) != 0) {
			fprintf(stderr, "recovery failed: %s\n", ctx.msg);
			return 1;
		}
		t0 = now() - t0;
		printf("recovery:   %8.1f MB in %6.2f s = %7.1f MB/s  (%" PRId64
		       " rows, %" PRId64 " deleted; peak RSS %ld MiB)\n",
		       mb, t0, mb / t0, res.rows, res.deleted, peak_mib());
		gsr_recover_result_release(&res);
		unlink(out);
		unlink(led);
		rmdir(dir);
		gsr_rules_free(rules);
	}
	for (size_t i = 0; i < n; i++)
		free(allowed[i]);
	free(allowed);
	free(shapes);
	gsr_schema_free(schema);
	sqlite3_close(db);
	gsr_pagefile_close(pf);
	close(fd);
	return 0;
}
