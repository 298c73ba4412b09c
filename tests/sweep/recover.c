/* Corruption sweep of the page reader, in the style of SQLite's own
 * recover tests: bits are flipped across every page of a fixture database
 * (and of its -wal), one variant at a time, and each variant is recovered
 * with gsr_recover_run(), deleted rows carved in every fourth, SQLite
 * copying what reads whole (bulk copy) in every other one.  Every
 * run must end (an alarm catches a hang), succeed or fail with
 * GSR_ERR_INPUT only, and leave a recovered database that passes
 * SQLite's integrity_check; ASan/UBSan (make check) and
 * valgrind (make check-valgrind) catch the rest.
 *
 * The fixture: GPUStack's 0.6.0 schema ($GSR_TOP/tests/fixtures), 1024-byte
 * pages, a few hundred rows with values that overflow, deleted rows
 * (freeblocks and freelist pages, secure_delete off), and a WAL with
 * committed and uncommitted frames.  Output is TAP, one line per page.
 * GSR_SWEEP_FLIPS (default 48) sets the flips per page.
 */
#include "compat.h"
#include "recover.h"
#include "rules.h"

#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char dir[256];
static int n_test, n_fail;
/* Over the variants carved: rowids from index entries and from page
 * order, so that the sweep is known to run that code. */
static int64_t n_by_index, n_by_order;

static void
die(const char *what, const char *why)
{
	printf("Bail out! %s: %s\n", what, why);
	exit(1);
}

static void
exec_sql(sqlite3 *db, const char *sql)
{
	char *err = NULL;

	if (sqlite3_exec(db, sql, NULL, NULL, &err) != SQLITE_OK)
		die(sql, err ? err : "?");
}

static unsigned char *
slurp(const char *path, size_t *n)
{
	FILE *f = fopen(path, "rb");
	unsigned char *buf;
	long len;

	if (f == NULL)
		die(path, strerror(errno));
	fseek(f, 0, SEEK_END);
	len = ftell(f);
	fseek(f, 0, SEEK_SET);
	if ((buf = malloc((size_t)len + 1)) == NULL ||
	    fread(buf, 1, (size_t)len, f) != (size_t)len)
		die(path, "cannot read");
	buf[len] = 0;
	fclose(f);
	*n = (size_t)len;
	return buf;
}

static void
spill(const char *path, const unsigned char *buf, size_t n)
{
	FILE *f = fopen(path, "wb");

	if (f == NULL || fwrite(buf, 1, n, f) != n || fclose(f) != 0)
		die(path, strerror(errno));
}

/* The fixture: base.db, and wal.db with wal.db-wal. */
static void
build(void)
{
	const char *top = getenv("GSR_TOP");
	char path[512], *schema, *line, *save = NULL;
	size_t n;
	sqlite3 *db = NULL;
	FILE *out;
	char *ddl = NULL;
	size_t ddl_len = 0;

	snprintf(path, sizeof path, "%s/tests/fixtures/schemas/0.6.0.sql",
	         top && *top ? top : ".");
	schema = (char *)slurp(path, &n);
	if ((out = open_memstream(&ddl, &ddl_len)) == NULL)
		die("memstream", strerror(errno));
	for (line = strtok_r(schema, "\n", &save); line;
	     line = strtok_r(NULL, "\n", &save))
		if (strncmp(line, "-- ", 3) &&
		    strcmp(line, "CREATE TABLE sqlite_sequence(name,seq);"))
			fprintf(out, "%s\n", line);
	fclose(out);
	free(schema);
	snprintf(path, sizeof path, "%s/base.db", dir);
	if (sqlite3_open(path, &db) != SQLITE_OK)
		die(path, "cannot create");
	exec_sql(db, "PRAGMA page_size=1024; PRAGMA secure_delete=OFF; BEGIN");
	exec_sql(db, ddl);
	free(ddl);
	exec_sql(
	    db, "INSERT INTO alembic_version VALUES ('c45e397531d1');"
	        "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM "
	        "n WHERE i < 120)"
	        " INSERT INTO models (source, name, description, replicas, "
	        "ready_replicas, id,"
	        " created_at, updated_at, embedding_only, placement_strategy, "
	        "cpu_offloading,"
	        " distributed_inference_across_workers, reranker, image_only, "
	        "speech_to_text,"
	        " text_to_speech, categories, env)"
	        " SELECT 'HUGGING_FACE', 'm' || i, CASE WHEN i % 15 = 0 THEN "
	        "printf('%.*c', 3000, 'x')"
	        " ELSE 'model ' || i END, 1, 1, i, '2025-04-01 10:00:00', "
	        "'2025-04-01 10:00:00',"
	        " 0, 'SPREAD', 1, 1, 0, 0, 0, 0, '[\"llm\"]', '{}' FROM n;"
	        "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM "
	        "n WHERE i < 300)"
	        " INSERT INTO system_loads (id, timestamp, cpu, ram, gpu, vram)"
	        " SELECT i, 1743500000 + i, i / 3.0, 1.5, i % 7, 0.25 FROM n;"
	        "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM "
	        "n WHERE i < 40)"
	        " INSERT INTO users (username, is_admin, "
	        "require_password_change, id,"
	        " hashed_password, created_at, updated_at)"
	        " SELECT 'u' || i, 0, 0, i, 'h' || i, '2025-04-01', "
	        "'2025-04-01' FROM n;"
	        "COMMIT;"
	        "DELETE FROM system_loads WHERE id % 3 = 0;"
	        "DELETE FROM models WHERE id BETWEEN 40 AND 70;");
	sqlite3_close(db);

	snprintf(path, sizeof path, "%s/wal.db", dir);
	{
		size_t len;
		char src[300];
		unsigned char *img;

		snprintf(src, sizeof src, "%s/base.db", dir);
		img = slurp(src, &len);
		spill(path, img, len);
		free(img);
	}
	if (sqlite3_open(path, &db) != SQLITE_OK)
		die(path, "cannot open");
	sqlite3_db_config(db, SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE, 1, NULL);
	exec_sql(db,
	         "PRAGMA journal_mode=WAL; PRAGMA wal_autocheckpoint=0;"
	         "UPDATE models SET description = 'v2 ' || id WHERE id % 4 = 0;"
	         "DELETE FROM users WHERE id > 30;"
	         "PRAGMA cache_size=2; BEGIN;"
	         "UPDATE system_loads SET cpu = cpu + 1;");
	{
		/* Copy the files mid-transaction, then let it go. */
		char w[300], c[300], cw[300];
		size_t len;
		unsigned char *img;

		snprintf(w, sizeof w, "%s/wal.db-wal", dir);
		snprintf(c, sizeof c, "%s/walc.db", dir);
		snprintf(cw, sizeof cw, "%s/walc.db-wal", dir);
		img = slurp(w, &len);
		spill(cw, img, len);
		free(img);
		img = slurp(path, &len);
		spill(c, img, len);
		free(img);
	}
	exec_sql(db, "ROLLBACK");
	sqlite3_close(db);
}

static void
on_alarm(int sig)
{
	(void)sig;
	static const char msg[] =
	    "Bail out! a recovery did not finish in 60 s\n";
	if (write(1, msg, sizeof msg - 1) < 0)
		_exit(3);
	_exit(2);
}

/* Recover the variant in in (with wal, may be NULL).  Returns NULL when
 * the run behaved, else what went wrong. */
static const char *
run_one(const struct gsr_rules *rules, const char *in, const char *wal,
        bool check_output, char *why, size_t len)
{
	struct gsr_ctx ctx = GSR_CTX_INIT;
	/* Deleted rows carved too, on every fourth variant (to keep the
	 * sweep's time): the carver, and the index entries that give
	 * carved rows their rowid.  On every other one, SQLite copies what
	 * the page reader reads whole from the variant (the bulk copy). */
	static unsigned n_run;
	struct gsr_recover_opts o = {.rules = rules,
	                             .wal_path = wal,
	                             .deleted = ++n_run % 4 == 0,
	                             .sqlite_reads_image = n_run % 2 == 1};
	struct gsr_recover_result res = GSR_RECOVER_RESULT_INIT;
	char out[300], led[300];
	int rc;

	snprintf(out, sizeof out, "%s/out.db", dir);
	snprintf(led, sizeof led, "%s/led.db", dir);
	unlink(out);
	unlink(led);
	alarm(60);
	rc = gsr_recover_run(&ctx, in, &o, out, led, &res);
	alarm(0);
	n_by_index += res.rowid_index;
	n_by_order += res.rowid_page_order;
	gsr_recover_result_release(&res);
	if (rc != 0) {
		if (ctx.err == GSR_ERR_INPUT)
			return NULL;
		snprintf(why, len, "error %d: %s", (int)ctx.err, ctx.msg);
		return why;
	}
	if (check_output) {
		sqlite3 *db = NULL;
		sqlite3_stmt *st = NULL;
		const char *v = NULL;

		if (sqlite3_open_v2(out, &db, SQLITE_OPEN_READONLY, NULL) ==
		        SQLITE_OK &&
		    sqlite3_prepare_v2(db, "PRAGMA integrity_check", -1, &st,
		                       NULL) == SQLITE_OK &&
		    sqlite3_step(st) == SQLITE_ROW)
			v = (const char *)sqlite3_column_text(st, 0);
		if (v == NULL || strcmp(v, "ok")) {
			snprintf(
			    why, len,
			    "the recovered database fails integrity_check: %s",
			    v ? v : sqlite3_errmsg(db));
			sqlite3_finalize(st);
			sqlite3_close(db);
			return why;
		}
		sqlite3_finalize(st);
		sqlite3_close(db);
	}
	return NULL;
}

/* Flip `flips` bits in every page of the file img (n bytes, pages of
 * 1024), run each variant. */
static void
sweep(const struct gsr_rules *rules, const char *label,
      const unsigned char *img, size_t n, const unsigned char *wal,
      size_t wal_n, bool flip_wal, int flips)
{
	const unsigned char *target = flip_wal ? wal : img;
	size_t tn = flip_wal ? wal_n : n, pages = tn / 1024 + (tn % 1024 != 0);
	unsigned char *copy = malloc(tn ? tn : 1);
	char in[300], win[300], why[1200];
	uint32_t seed = 12345;

	if (copy == NULL)
		die("malloc", "out of memory");
	snprintf(in, sizeof in, "%s/in.db", dir);
	snprintf(win, sizeof win, "%s/in.db-wal", dir);
	if (flip_wal)
		spill(in, img, n);
	else if (wal)
		spill(win, wal, wal_n);
	for (size_t p = 0; p < pages; p++) {
		const char *bad = NULL;

		for (int k = 0; k < flips && !bad; k++) {
			size_t off;

			seed = seed * 1103515245u + 12345u;
			off = p * 1024 + (seed >> 8) % 1024;
			if (off >= tn)
				off = tn - 1;
			memcpy(copy, target, tn);
			seed = seed * 1103515245u + 12345u;
			copy[off] ^= (unsigned char)(1u << ((seed >> 16) % 8));
			spill(flip_wal ? win : in, copy, tn);
			bad = run_one(rules, in, wal ? win : NULL, k % 8 == 0,
			              why, sizeof why);
		}
		n_test++;
		if (bad) {
			n_fail++;
			printf("not ok %d - %s page %zu: %s\n", n_test, label,
			       p + 1, bad);
		} else {
			printf("ok %d - %s page %zu: %d flips\n", n_test, label,
			       p + 1, flips);
		}
		fflush(stdout);
	}
	free(copy);
	unlink(in);
	unlink(win);
}

int
main(void)
{
	struct gsr_ctx ctx = GSR_CTX_INIT;
	struct gsr_rules *rules = NULL;
	const char *t = getenv("TMPDIR"), *top = getenv("GSR_TOP"),
	           *f = getenv("GSR_SWEEP_FLIPS");
	int flips = f && atoi(f) > 0 ? atoi(f) : 48;
	char path[512];
	unsigned char *base, *walimg, *wal;
	size_t n_base, n_walimg, n_wal;

	signal(SIGALRM, on_alarm);
	snprintf(dir, sizeof dir, "%s/gsr-sweep.XXXXXX", t && *t ? t : "/tmp");
	if (mkdtemp(dir) == NULL)
		die("mkdtemp", strerror(errno));
	snprintf(path, sizeof path, "%s/rules", top && *top ? top : ".");
	if (gsr_rules_load(&ctx, path, &rules, NULL) != 0)
		die(path, ctx.msg);
	build();
	snprintf(path, sizeof path, "%s/base.db", dir);
	base = slurp(path, &n_base);
	snprintf(path, sizeof path, "%s/walc.db", dir);
	walimg = slurp(path, &n_walimg);
	snprintf(path, sizeof path, "%s/walc.db-wal", dir);
	wal = slurp(path, &n_wal);
	printf("# %d flips per page; database %zu pages, WAL %zu bytes\n",
	       flips, n_base / 1024, n_wal);
	sweep(rules, "database", base, n_base, NULL, 0, false, flips);
	sweep(rules, "wal-database", walimg, n_walimg, wal, n_wal, false,
	      flips / 4 + 1);
	sweep(rules, "wal", walimg, n_walimg, wal, n_wal, true, flips / 4 + 1);
	/* The fixture's deleted models lie in whole freed pages or in
	 * the free space of live leaves: rowids come from cells and page
	 * order; index entries are looked for (this fixture leaves none
	 * to find). */
	n_test++;
	if (n_by_order == 0)
		n_fail++;
	printf("%s %d - carved rows took rowids from page order (%" PRId64
	       "; from index entries %" PRId64 ")\n",
	       n_by_order > 0 ? "ok" : "not ok", n_test, n_by_order,
	       n_by_index);
	printf("1..%d\n", n_test);
	free(base);
	free(walimg);
	free(wal);
	gsr_rules_free(rules);
	{
		static const char *const names[] = {
		    "base.db",     "wal.db", "wal.db-wal", "walc.db",
		    "walc.db-wal", "out.db", "led.db",     "wal.db-shm"};
		for (size_t i = 0; i < sizeof names / sizeof *names; i++) {
			snprintf(path, sizeof path, "%s/%s", dir, names[i]);
			unlink(path);
		}
	}
	rmdir(dir);
	return n_fail ? 1 : 0;
}
