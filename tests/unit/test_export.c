/* Unit tests of the export engine: the value encoding and gsr_export_db()
 * on an attached database, its failure cleanup and its no-op contract. */
#include "compat.h"
#include "export.h"

#include "dbopen.h"

#include <dirent.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <setjmp.h>
#include <cmocka.h>

/* Run sql (one row), write its columns first.. as JSON; return the text. */
static char *
row_json(const char *sql, int first)
{
	struct gsr_ctx ctx = GSR_CTX_INIT;
	sqlite3 *db = gsr_db_open_memory(&ctx);
	sqlite3_stmt *st = NULL;
	struct jsonw jw;
	char *buf = NULL;
	size_t len = 0;
	FILE *f;

	assert_non_null(db);
	assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_step(st), SQLITE_ROW);
	assert_non_null(f = open_memstream(&buf, &len));
	jw_init(&jw, f, false);
	gsr_json_row_values(&jw, st, first);
	assert_false(jw.failed);
	fclose(f);
	sqlite3_finalize(st);
	sqlite3_close(db);
	return buf;
}

static void
value_classes(void **state)
{
	char *out;

	(void)state;
	/* 0.5 reads the same in every exact notation. */
	out = row_json("SELECT 9007199254740993 AS i, -1 AS n, 1.0 AS r, "
		       "0.5 AS d, 1e999 AS inf, -1e999 AS ninf, "
		       "'caf' || char(233) AS t, "
		       "CAST(x'ff41' AS TEXT) AS bad, x'00ff' AS b, x'' AS e, "
		       "NULL AS z, CAST(x'610062' AS TEXT) AS nul", 0);
	assert_string_equal(out,
		"{\"i\":9007199254740993,\"n\":-1,\"r\":1.0,\"d\":0.5,"
		"\"inf\":{\"real\":\"inf\"},\"ninf\":{\"real\":\"-inf\"},"
		"\"t\":\"caf\xc3\xa9\",\"bad\":{\"text_hex\":\"ff41\"},"
		"\"b\":{\"blob_hex\":\"00ff\"},\"e\":{\"blob_hex\":\"\"},"
		"\"z\":null,\"nul\":\"a\\u0000b\"}");
	free(out);
}

static void
value_first_and_names(void **state)
{
	char *out;

	(void)state;
	out = row_json("SELECT 7 AS skipped, 'x' AS \"bad\xffname\"", 1);
	assert_string_equal(out, "{\"text_hex:626164ff6e616d65\":\"x\"}");
	free(out);
}

/* Read a whole file of dir into a string. */
static char *
slurp(const char *dir, const char *name)
{
	char path[512];
	char *buf;
	FILE *f;
	long n;

	snprintf(path, sizeof path, "%s/%s", dir, name);
	assert_non_null(f = fopen(path, "rb"));
	fseek(f, 0, SEEK_END);
	n = ftell(f);
	rewind(f);
	assert_non_null(buf = calloc(1, (size_t)n + 1));
	assert_int_equal(fread(buf, 1, (size_t)n, f), (size_t)n);
	fclose(f);
	return buf;
}

static size_t
count_entries(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	size_t n = 0;

	assert_non_null(d);
	while ((de = readdir(d)) != NULL)
		if (strcmp(de->d_name, ".") && strcmp(de->d_name, ".."))
			n++;
	closedir(d);
	return n;
}

static void
remove_dir(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *de;

	assert_non_null(d);
	while ((de = readdir(d)) != NULL)
		if (strcmp(de->d_name, ".") && strcmp(de->d_name, ".."))
			unlinkat(dirfd(d), de->d_name, 0);
	closedir(d);
	rmdir(dir);
}

static sqlite3 *
two_schemas(struct gsr_ctx *ctx)
{
	sqlite3 *db = gsr_db_open_memory(ctx);

	assert_non_null(db);
	assert_int_equal(gsr_db_exec(ctx, db,
		"CREATE TABLE main.t (a);"
		"INSERT INTO main.t VALUES ('main');"
		"ATTACH ':memory:' AS aux;"
		"CREATE TABLE aux.t (id INTEGER PRIMARY KEY, a);"
		"INSERT INTO aux.t VALUES (5, 'aux'), (9, x'01');"), 0);
	return db;
}

static void
export_attached(void **state)
{
	struct gsr_ctx ctx = GSR_CTX_INIT;
	struct gsr_export_result res = GSR_EXPORT_RESULT_INIT;
	char dir[] = "/tmp/gsr-unit-export.XXXXXX";
	char hex[GSR_SHA256_HEX];
	char path[512];
	sqlite3 *db;
	char *s;
	int fd;

	(void)state;
	assert_non_null(mkdtemp(dir));
	db = two_schemas(&ctx);
	assert_int_equal(gsr_export_db(&ctx, db, "aux", dir, GSR_EXPORT_JSONL,
				       NULL, &res), 0);
	assert_int_equal(res.n_tables, 1);
	assert_string_equal(res.tables[0].name, "t");
	assert_string_equal(res.tables[0].file, "t.jsonl");
	assert_int_equal(res.tables[0].rows, 2);
	assert_int_equal(res.total_rows, 2);
	s = slurp(dir, "t.jsonl");
	assert_string_equal(s,
		"{\"table\":\"t\",\"rowid\":5,\"source\":\"btree\","
		"\"values\":{\"id\":5,\"a\":\"aux\"}}\n"
		"{\"table\":\"t\",\"rowid\":9,\"source\":\"btree\","
		"\"values\":{\"id\":9,\"a\":{\"blob_hex\":\"01\"}}}\n");
	assert_int_equal(res.tables[0].bytes, strlen(s));
	free(s);
	snprintf(path, sizeof path, "%s/t.jsonl", dir);
	assert_true((fd = open(path, O_RDONLY)) >= 0);
	assert_int_equal(gsr_sha256_fd(fd, hex, NULL), 0);
	close(fd);
	assert_string_equal(hex, res.tables[0].sha256);
	s = slurp(dir, "schema.sql");
	assert_string_equal(s, "CREATE TABLE t (id INTEGER PRIMARY KEY, a);\n");
	free(s);
	s = slurp(dir, "manifest.json");
	assert_non_null(strstr(s, "\"input\": [],"));
	assert_non_null(strstr(s, "\"total_rows\": 2\n}\n"));
	free(s);
	assert_int_equal(count_entries(dir), 3);
	gsr_export_result_release(&res);
	assert_null(res.tables);
	sqlite3_close(db);
	remove_dir(dir);
}

static void
export_fails_clean(void **state)
{
	struct gsr_ctx ctx = GSR_CTX_INIT;
	struct gsr_export_result res = GSR_EXPORT_RESULT_INIT;
	char dir[] = "/tmp/gsr-unit-export.XXXXXX";
	char path[512];
	sqlite3 *db;
	int fd;

	(void)state;
	assert_non_null(mkdtemp(dir));
	db = two_schemas(&ctx);
	/* A file in the way: the export must fail, remove what it wrote,
	 * and leave the file alone. */
	snprintf(path, sizeof path, "%s/t.csv", dir);
	assert_true((fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0600)) >= 0);
	close(fd);
	assert_int_equal(gsr_export_db(&ctx, db, "main", dir, GSR_EXPORT_CSV,
				       NULL, &res), -1);
	assert_int_equal(ctx.err, GSR_ERR_IO);
	assert_non_null(strstr(ctx.msg, "t.csv"));
	assert_int_equal(count_entries(dir), 1);
	gsr_export_result_release(&res);

	/* No-op after an error. */
	unlink(path);
	assert_int_equal(gsr_export_db(&ctx, db, "main", dir, GSR_EXPORT_CSV,
				       NULL, &res), -1);
	assert_int_equal(count_entries(dir), 0);
	assert_int_equal(res.n_tables, 0);

	/* An unknown schema is SQLite's error. */
	gsr_ctx_clear(&ctx);
	assert_int_equal(gsr_export_db(&ctx, db, "nosuch", dir,
				       GSR_EXPORT_JSONL, NULL, &res), -1);
	assert_int_equal(ctx.err, GSR_ERR_INPUT);
	assert_int_equal(count_entries(dir), 0);
	gsr_export_result_release(&res);
	sqlite3_close(db);
	remove_dir(dir);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(value_classes),
		cmocka_unit_test(value_first_and_names),
		cmocka_unit_test(export_attached),
		cmocka_unit_test(export_fails_clean),
	};
	return cmocka_run_group_tests_name("export", tests, NULL, NULL);
}
