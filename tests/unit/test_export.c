/* Unit tests of the export engine: the value encoding and gsr_export_db()
 * on an attached database, its failure cleanup and its no-op contract. */
#include "compat.h"
#include "export.h"

#include "archive.h"
#include "dbopen.h"
#include "testlib.h"

#include <dirent.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
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
	               "NULL AS z, CAST(x'610062' AS TEXT) AS nul",
	               0);
	assert_string_equal(
	    out, "{\"i\":9007199254740993,\"n\":-1,\"r\":1.0,\"d\":0.5,"
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

/* The file name of dir, as a string. */
static char *
read_in(const char *dir, const char *name)
{
	char path[1024];

	snprintf(path, sizeof path, "%s/%s", dir, name);
	return slurp(path, NULL);
}

static sqlite3 *
two_schemas(struct gsr_ctx *ctx)
{
	sqlite3 *db = gsr_db_open_memory(ctx);

	assert_non_null(db);
	assert_int_equal(
	    gsr_db_exec(ctx, db,
	                "CREATE TABLE main.t (a);"
	                "INSERT INTO main.t VALUES ('main');"
	                "ATTACH ':memory:' AS aux;"
	                "CREATE TABLE aux.t (id INTEGER PRIMARY KEY, a);"
	                "INSERT INTO aux.t VALUES (5, 'aux'), (9, x'01');"),
	    0);
	return db;
}

static void
export_attached(void **state)
{
	struct gsr_ctx ctx = GSR_CTX_INIT;
	struct gsr_export_result res = GSR_EXPORT_RESULT_INIT;
	char dir[256];
	char hex[GSR_SHA256_HEX];
	char path[512];
	sqlite3 *db;
	char *s;
	int fd;

	(void)state;
	assert_int_equal(make_tmpdir(dir, sizeof dir, "unit-export"), 0);
	db = two_schemas(&ctx);
	assert_int_equal(
	    gsr_export_db(&ctx, db, "aux", dir, GSR_EXPORT_JSONL, NULL, &res),
	    0);
	assert_int_equal(res.n_tables, 1);
	assert_string_equal(res.tables[0].name, "t");
	assert_string_equal(res.tables[0].file, "t.jsonl");
	assert_int_equal(res.tables[0].rows, 2);
	assert_int_equal(res.total_rows, 2);
	s = read_in(dir, "t.jsonl");
	assert_string_equal(
	    s, "{\"table\":\"t\",\"source\":\"btree\",\"rowid\":true,"
	       "\"rowid_column\":\"id\",\"columns\":[\"id\",\"a\"]}\n"
	       "[5,\"aux\"]\n"
	       "[9,{\"blob_hex\":\"01\"}]\n");
	assert_int_equal(res.tables[0].bytes, strlen(s));
	free(s);
	snprintf(path, sizeof path, "%s/t.jsonl", dir);
	assert_true((fd = open(path, O_RDONLY)) >= 0);
	assert_int_equal(gsr_sha256_fd(fd, hex, NULL), 0);
	close(fd);
	assert_string_equal(hex, res.tables[0].sha256);
	s = read_in(dir, "schema.sql");
	assert_string_equal(s, "CREATE TABLE t (id INTEGER PRIMARY KEY, a);\n");
	free(s);
	s = read_in(dir, "manifest.json");
	assert_non_null(strstr(s, "\"input\": [],"));
	assert_non_null(strstr(s, "\"total_rows\": 2\n}\n"));
	free(s);
	assert_int_equal(count_files(dir, NULL), 3);
	gsr_export_result_release(&res);
	assert_null(res.tables);
	sqlite3_close(db);
	remove_tree(dir);
}

static void
export_fails_clean(void **state)
{
	struct gsr_ctx ctx = GSR_CTX_INIT;
	struct gsr_export_result res = GSR_EXPORT_RESULT_INIT;
	char dir[256];
	char path[512];
	sqlite3 *db;
	int fd;

	(void)state;
	assert_int_equal(make_tmpdir(dir, sizeof dir, "unit-export"), 0);
	db = two_schemas(&ctx);
	/* A file in the way: the export must fail, remove what it wrote,
	 * and leave the file alone. */
	snprintf(path, sizeof path, "%s/t.csv", dir);
	assert_true((fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0600)) >= 0);
	close(fd);
	assert_int_equal(
	    gsr_export_db(&ctx, db, "main", dir, GSR_EXPORT_CSV, NULL, &res),
	    -1);
	assert_int_equal(ctx.err, GSR_ERR_IO);
	assert_non_null(strstr(ctx.msg, "t.csv"));
	assert_int_equal(count_files(dir, NULL), 1);
	gsr_export_result_release(&res);

	/* No-op after an error. */
	unlink(path);
	assert_int_equal(
	    gsr_export_db(&ctx, db, "main", dir, GSR_EXPORT_CSV, NULL, &res),
	    -1);
	assert_int_equal(count_files(dir, NULL), 0);
	assert_int_equal(res.n_tables, 0);

	/* An unknown schema is SQLite's error. */
	gsr_ctx_clear(&ctx);
	assert_int_equal(gsr_export_db(&ctx, db, "nosuch", dir,
	                               GSR_EXPORT_JSONL, NULL, &res),
	                 -1);
	assert_int_equal(ctx.err, GSR_ERR_INPUT);
	assert_int_equal(count_files(dir, NULL), 0);
	gsr_export_result_release(&res);
	sqlite3_close(db);
	remove_tree(dir);
}

/* A database file with the cases the b-tree walk must read as SQLite does:
 * every class of value, REAL affinity, records shorter than the table,
 * overflow pages, rowid aliases taken by columns, a generated column and
 * a WITHOUT ROWID table (both left to SQLite). */
static const char tricky_sql[] =
    "CREATE TABLE typed (id INTEGER PRIMARY KEY, v);"
    "INSERT INTO typed (v) VALUES (9007199254740993), (-1), (1.0), (0.1),"
    " (1e300), (-2.5e-10), (1e999), (-1e999), ('h\xc3\xa9llo'),"
    " ('q\"b\\c' || char(10, 13, 9, 1, 127)), (CAST(x'ff41' AS TEXT)),"
    " (x'00ff10'), (x''), (NULL), (''), (CAST(x'610062' AS TEXT)), (-0.0),"
    " (5e-324), (0.30000000000000004);"
    "CREATE TABLE r (a REAL, b FLOAT, c DOUBLE, d NUMERIC, e INT, f);"
    "INSERT INTO r VALUES (1, 2, 3, 4, 5.0, 6), (1.5, 'x', x'01', 4.5, 7, 8);"
    "CREATE TABLE added (x);"
    "INSERT INTO added VALUES (1), (2);"
    "ALTER TABLE added ADD COLUMN y DEFAULT 'dflt';"
    "ALTER TABLE added ADD COLUMN z REAL DEFAULT 3;"
    "INSERT INTO added VALUES (3, 'y3', 4);"
    "ALTER TABLE added ADD COLUMN w DEFAULT x'00ff';"
    "ALTER TABLE added ADD COLUMN n;"
    "INSERT INTO added VALUES (4, 'y4', 5, x'01', 6);"
    "INSERT INTO added (x) VALUES (5);"
    "CREATE TABLE big (id INTEGER PRIMARY KEY, t TEXT, b BLOB);"
    "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < "
    "600)"
    " INSERT INTO big SELECT i * 3, printf('%.*c', i * 37 % 9000, 'x'),"
    " zeroblob(i * 53 % 7000) FROM n;"
    "CREATE TABLE shadow (rowid TEXT, _rowid_ TEXT, oid INTEGER PRIMARY KEY, "
    "v);"
    "INSERT INTO shadow VALUES ('a', 'b', 42, 'x');"
    "CREATE TABLE shadown (rowid TEXT, _rowid_ TEXT, oid TEXT, v);"
    "INSERT INTO shadown VALUES ('a', 'b', 'c', 'x');"
    "CREATE TABLE gen (a, b AS (a * 2), c AS (a * 3) STORED);"
    "INSERT INTO gen (a) VALUES (1), (2);"
    "CREATE TABLE wr (k PRIMARY KEY, v) WITHOUT ROWID;"
    "INSERT INTO wr VALUES ('b', 2), ('a', 1);";

/* What each table's lines must be, as SQLite reads them: the query and
 * whether its first column is a rowid kept apart from the values. */
static const struct {
	const char *table;
	const char *sql;
} tricky_rows[] = {
    {"typed", "SELECT * FROM typed ORDER BY rowid"},
    {"r", "SELECT rowid, * FROM r ORDER BY rowid"},
    {"added", "SELECT rowid, * FROM added ORDER BY rowid"},
    {"big", "SELECT * FROM big ORDER BY rowid"},
    {"shadow", "SELECT * FROM shadow ORDER BY oid"},
    {"shadown", "SELECT * FROM shadown"},
    {"gen", "SELECT rowid, * FROM gen ORDER BY rowid"},
    {"wr", "SELECT * FROM wr"},
};

/* The lines SQLite's view of a table gives, with jsonw's encoding. */
static char *
expected_lines(sqlite3 *db, const char *sql)
{
	sqlite3_stmt *st = NULL;
	struct jsonw jw;
	char *buf = NULL;
	size_t len = 0;
	FILE *f;

	assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK);
	assert_non_null(f = open_memstream(&buf, &len));
	while (sqlite3_step(st) == SQLITE_ROW) {
		jw_init(&jw, f, false);
		jw_arr_begin(&jw);
		for (int i = 0; i < sqlite3_column_count(st); i++)
			gsr_json_value(&jw, st, i);
		jw_arr_end(&jw);
		jw_end_line(&jw);
	}
	sqlite3_finalize(st);
	fclose(f);
	return buf;
}

static void
walk_matches_sqlite(void **state)
{
	struct gsr_ctx ctx = GSR_CTX_INIT;
	struct gsr_export_result res = GSR_EXPORT_RESULT_INIT;
	char dir[256];
	char path[600], file[64];
	sqlite3 *db;

	(void)state;
	assert_int_equal(make_tmpdir(dir, sizeof dir, "unit-export"), 0);
	snprintf(path, sizeof path, "%s/in.db", dir);
	assert_non_null(db = gsr_db_open(&ctx, path, true));
	assert_int_equal(gsr_db_exec(&ctx, db, tricky_sql), 0);
	snprintf(path, sizeof path, "%s/in.db.out", dir);
	assert_int_equal(mkdir(path, 0700), 0);
	assert_int_equal(
	    gsr_export_db(&ctx, db, "main", path, GSR_EXPORT_JSONL, NULL, &res),
	    0);
	for (size_t i = 0; i < GSR_ARRAY_LEN(tricky_rows); i++) {
		char *want = expected_lines(db, tricky_rows[i].sql);
		char *got, *rows;

		snprintf(file, sizeof file, "%s.jsonl", tricky_rows[i].table);
		got = read_in(path, file);
		rows = strchr(got, '\n');
		assert_non_null(rows);
		assert_string_equal(rows + 1, want);
		free(got);
		free(want);
	}
	char *h = read_in(path, "added.jsonl");
	*strchr(h, '\n') = '\0';
	assert_string_equal(
	    h, "{\"table\":\"added\",\"source\":\"btree\","
	       "\"rowid\":true,\"columns\":[\"x\",\"y\",\"z\",\"w\",\"n\"]}");
	free(h);
	h = read_in(path, "wr.jsonl");
	*strchr(h, '\n') = '\0';
	assert_string_equal(h, "{\"table\":\"wr\",\"source\":\"btree\","
	                       "\"rowid\":false,\"columns\":[\"k\",\"v\"]}");
	free(h);
	gsr_export_result_release(&res);
	sqlite3_close(db);
	remove_tree(dir);
}

/* The spooled export holds the same files as the directory's, whatever
 * the number of threads, and goes into an archive that verifies. */
static void
export_spooled(void **state)
{
	struct gsr_ctx ctx = GSR_CTX_INIT;
	struct gsr_export_result ref = GSR_EXPORT_RESULT_INIT;
	struct gsr_verify_result vr = GSR_VERIFY_RESULT_INIT;
	char dir[256];
	char path[600], out[600], arch[600];
	sqlite3 *db;

	(void)state;
	assert_int_equal(make_tmpdir(dir, sizeof dir, "unit-export"), 0);
	snprintf(path, sizeof path, "%s/in.db", dir);
	snprintf(out, sizeof out, "%s/out", dir);
	assert_non_null(db = gsr_db_open(&ctx, path, true));
	assert_int_equal(gsr_db_exec(&ctx, db, tricky_sql), 0);
	assert_int_equal(mkdir(out, 0700), 0);
	assert_int_equal(
	    gsr_export_db(&ctx, db, "main", out, GSR_EXPORT_JSONL, NULL, &ref),
	    0);
	sqlite3_close(db);
	for (int threads = 1; threads <= 3; threads++) {
		struct gsr_export_result res = GSR_EXPORT_RESULT_INIT;
		struct gsr_archive *ar;

		assert_int_equal(
		    gsr_export_spool(&ctx, path, dir, threads, NULL, &res), 0);
		assert_int_equal(res.n_tables, ref.n_tables);
		assert_int_equal(res.total_rows, ref.total_rows);
		assert_string_equal(res.schema_sha256, ref.schema_sha256);
		assert_string_equal(res.manifest_sha256, ref.manifest_sha256);
		for (size_t i = 0; i < res.n_tables; i++) {
			assert_string_equal(res.tables[i].sha256,
			                    ref.tables[i].sha256);
			assert_int_equal(res.tables[i].bytes,
			                 ref.tables[i].bytes);
			assert_int_equal(res.tables[i].rows,
			                 ref.tables[i].rows);
		}
		snprintf(arch, sizeof arch, "%s/a%d.tar.zst", dir, threads);
		assert_non_null(
		    ar = gsr_archive_create(&ctx, arch, false, 1700000000));
		assert_int_equal(
		    gsr_export_add_to_archive(&ctx, ar, "export", &res), 0);
		assert_int_equal(gsr_archive_finish(&ctx, ar, NULL, NULL, NULL),
		                 0);
		gsr_export_result_release(&res);
		assert_int_equal(gsr_archive_verify(&ctx, arch, NULL, &vr), 0);
		assert_int_equal(vr.n_bad, 0);
		assert_int_equal(vr.n_members, ref.n_tables + 2);
		assert_string_equal(vr.members[0].name, "export/schema.sql");
		assert_string_equal(vr.members[0].sha256, ref.schema_sha256);
		assert_string_equal(vr.members[1].name, "export/typed.jsonl");
		assert_string_equal(vr.members[1].sha256, ref.tables[0].sha256);
		assert_string_equal(vr.members[vr.n_members - 1].name,
		                    "export/manifest.json");
		gsr_verify_result_release(&vr);
		unlink(arch);
	}
	/* Nothing is left in the spools' directory. */
	assert_int_equal(count_files(dir, NULL), 2);
	gsr_export_result_release(&ref);
	remove_tree(dir);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(value_classes),
	    cmocka_unit_test(value_first_and_names),
	    cmocka_unit_test(export_attached),
	    cmocka_unit_test(export_fails_clean),
	    cmocka_unit_test(walk_matches_sqlite),
	    cmocka_unit_test(export_spooled),
	};
	return cmocka_run_group_tests_name("export", tests, NULL, NULL);
}
