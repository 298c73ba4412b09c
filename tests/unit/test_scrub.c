/* Unit tests of the copy with the free space zeroed (scrub.h).
 *
 * Databases made with the SQLite library hold deleted rows in the free
 * space of their pages and at the end of reused overflow pages: the copy
 * must hold none of their bytes, read back exactly the same rows, pass
 * integrity_check, and differ from the source only by bytes made zero.
 * Page sizes 512, 4096 and 65536, reserved bytes, index b-trees with
 * overflow.  Then the files it must refuse (dst left empty), and damage
 * of every kind, bit by bit, never read past a page.
 */
#include "compat.h"
#include "scrub.h"

#include <sqlite3.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <setjmp.h>
#include <cmocka.h>

#include "testlib.h"

static char tmpdir[256];

/* NAME in the test's directory (malloc'd: free() it). */
static char *
path_of(const char *name)
{
	char *p = NULL;

	assert_true(asprintf(&p, "%s/%s", tmpdir, name) > 0);
	return p;
}

/*
 * A database at path of page_size (reserved bytes when reserve > 0) with
 * a table and an index whose rows overflow, from which rows marked
 * "GONE" were deleted or overwritten by an update, and then as many rows
 * added as take up every free page again: their bytes are left in the
 * free space of pages and the ends of reused overflow pages only.
 */
static void
make_used_db(const char *path, int page_size, int reserve)
{
	sqlite3 *db = open_new_db(path, page_size, NULL);
	char sql[512];

	exec_sql(db, "PRAGMA synchronous=OFF");
	if (reserve > 0) {
		sqlite3_file_control(db, "main", SQLITE_FCNTL_RESERVE_BYTES,
		                     &reserve);
		exec_sql(db, "VACUUM");
	}
	exec_sql(db, "CREATE TABLE t(id INTEGER PRIMARY KEY, v TEXT, "
	             "w BLOB); CREATE INDEX t_v ON t(v); BEGIN");
	for (int i = 1; i <= 3000; i++) {
		/* Every 7th row overflows, in the table and the index. */
		snprintf(sql, sizeof sql,
		         "INSERT INTO t VALUES (%d, '%s-%05d-' || "
		         "hex(randomblob(%d)), zeroblob(%d))",
		         i, i % 3 == 0 ? "GONE" : "KEEP", i,
		         i % 7 == 0 ? page_size / 2 + 50 : 8,
		         i % 7 == 0 ? page_size : 0);
		exec_sql(db, sql);
	}
	exec_sql(db, "COMMIT; DELETE FROM t WHERE v LIKE 'GONE%' AND id % 2 = "
	             "0; UPDATE t SET v = 'KEEP-short-' || id WHERE v LIKE "
	             "'GONE%'; BEGIN");
	/* Big rows first: they take freed overflow pages, whose ends they
	 * leave as they were. */
	for (int i = 10000; query_int(db, "PRAGMA freelist_count") > 0; i++) {
		snprintf(sql, sizeof sql,
		         "INSERT INTO t VALUES (%d, 'KEEP-new-%d', "
		         "zeroblob(%d))",
		         i, i,
		         query_int(db, "PRAGMA freelist_count") > 4
		             ? page_size * 2 - 100
		             : 0);
		exec_sql(db, sql);
	}
	exec_sql(db, "COMMIT");
	sqlite3_close(db);
}

/* Whether the n bytes at p hold the string s. */
static bool
holds(const unsigned char *p, size_t n, const char *s)
{
	return memmem(p, n, s, strlen(s)) != NULL;
}

/* The copy of src made by gsr_scrub_copy() must be the same database with
 * no byte of the deleted rows, and differ only by zeros. */
static void
check_copy(const char *src, const char *dst)
{
	struct gsr_ctx ctx = GSR_CTX_INIT;
	unsigned char *a, *b;
	size_t na, nb, changed = 0;
	sqlite3 *db;
	char sql[1024];

	assert_int_equal(gsr_scrub_copy(&ctx, src, dst), 0);
	a = read_image(src, &na);
	b = read_image(dst, &nb);
	assert_int_equal(na, nb);
	assert_true(holds(a, na, "GONE")); /* the test means something */
	assert_false(holds(b, nb, "GONE"));
	for (size_t i = 0; i < na; i++)
		if (a[i] != b[i]) {
			assert_int_equal(b[i], 0);
			changed++;
		}
	assert_true(changed > 0);
	free(a);
	free(b);
	assert_int_equal(sqlite3_open(dst, &db), SQLITE_OK);
	snprintf(sql, sizeof sql, "ATTACH '%s' AS s", src);
	exec_sql(db, sql);
	assert_int_equal(
	    query_int(db, "SELECT count(*) FROM pragma_integrity_check "
	                  "WHERE integrity_check <> 'ok'"),
	    0);
	assert_int_equal(
	    query_int(db, "SELECT (SELECT count(*) FROM (SELECT * FROM main.t "
	                  "EXCEPT SELECT * FROM s.t)) + (SELECT count(*) FROM "
	                  "(SELECT * FROM s.t EXCEPT SELECT * FROM main.t)) + "
	                  "(SELECT count(*) FROM main.t) - (SELECT count(*) "
	                  "FROM s.t)"),
	    0);
	assert_true(query_int(db, "SELECT count(*) FROM t") > 1000);
	sqlite3_close(db);
}

/* A used database of page_size and reserve bytes, copied and checked. */
static void
copy_used_db(int page_size, int reserve)
{
	char *src = path_of("used.db"), *dst = path_of("copy.db");

	make_used_db(src, page_size, reserve);
	check_copy(src, dst);
	remove_db(src);
	remove_db(dst);
	free(src);
	free(dst);
}

static void
scrub_page_sizes(void **state)
{
	(void)state;
	copy_used_db(512, 0);
	copy_used_db(4096, 0);
	copy_used_db(65536, 0);
}

static void
scrub_reserved(void **state)
{
	(void)state;
	copy_used_db(4096, 32);
}

/* Files it must not vouch for: 1, and dst left empty. */
static void
expect_refused(const char *src, const char *why)
{
	struct gsr_ctx ctx = GSR_CTX_INIT;
	char *dst = path_of("refused.db");
	struct stat st;

	write_file(dst, "not empty", 9);
	if (gsr_scrub_copy(&ctx, src, dst) != 1)
		fail_msg("not refused: %s", why);
	assert_false(gsr_ctx_failed(&ctx));
	assert_int_equal(stat(dst, &st), 0);
	assert_int_equal(st.st_size, 0);
	unlink(dst);
	free(dst);
}

static void
scrub_refuses(void **state)
{
	char *src = path_of("r.db"), *bad = path_of("bad.db");
	unsigned char *img;
	size_t n;
	sqlite3 *db;

	(void)state;
	/* Free pages. */
	make_db(src, 4096,
	        "CREATE TABLE t(a); INSERT INTO t SELECT zeroblob(5000) FROM "
	        "(SELECT 1 UNION SELECT 2 UNION SELECT 3); DELETE FROM t");
	expect_refused(src, "a freelist");
	remove_db(src);
	/* Pointer maps. */
	db = open_new_db(src, 4096, NULL);
	exec_sql(db, "PRAGMA auto_vacuum=FULL; VACUUM; CREATE TABLE t(a); "
	             "INSERT INTO t VALUES (1)");
	sqlite3_close(db);
	expect_refused(src, "auto_vacuum");
	remove_db(src);

	make_used_db(src, 4096, 0);
	img = read_image(src, &n);
	/* Not a database, empty, not whole pages. */
	write_file(bad, "hello", 5);
	expect_refused(bad, "not a database");
	write_file(bad, "", 0);
	expect_refused(bad, "empty");
	write_file(bad, img, n - 100);
	expect_refused(bad, "not whole pages");
	/* A leaf zeroed: neither a b-tree page nor an overflow page. */
	for (size_t pg = 2; pg * 4096 <= n; pg++)
		if (img[(pg - 1) * 4096] == 13) {
			memset(img + (pg - 1) * 4096, 0, 4096);
			break;
		}
	write_file(bad, img, n);
	expect_refused(bad, "a page zeroed");
	free(img);
	/* Two cell pointers to one cell. */
	img = read_image(src, &n);
	for (size_t pg = 2; pg * 4096 <= n; pg++) {
		unsigned char *p = img + (pg - 1) * 4096;
		if (p[0] == 13 && (p[3] << 8 | p[4]) >= 2) {
			p[10] = p[8];
			p[11] = p[9];
			break;
		}
	}
	write_file(bad, img, n);
	expect_refused(bad, "overlapping cells");
	free(img);
	remove_db(src);
	unlink(bad);
	free(src);
	free(bad);
}

/* Every bit of the first pages and of a leaf flipped in turn: never read
 * past a page (ASan), and any copy made differs from the damaged file
 * only by zeros. */
static void
scrub_damage(void **state)
{
	struct gsr_ctx ctx = GSR_CTX_INIT;
	char *src = path_of("d.db"), *bad = path_of("dbad.db"),
	     *dst = path_of("dcopy.db");
	unsigned char *img, *out;
	size_t n, no;
	sqlite3 *db;
	int made = 0, refused = 0;

	(void)state;
	db = open_new_db(src, 512, NULL);
	exec_sql(db, "CREATE TABLE t(id INTEGER PRIMARY KEY, v TEXT); "
	             "CREATE INDEX t_v ON t(v); WITH RECURSIVE s(k) AS "
	             "(SELECT 1 UNION ALL SELECT k + 1 FROM s WHERE k < 60) "
	             "INSERT INTO t SELECT k, printf('%0*d', k * 7 % 400, k) "
	             "FROM s");
	sqlite3_close(db);
	assert_int_equal(gsr_scrub_copy(&ctx, src, dst), 0);
	img = read_image(src, &n);
	for (size_t bit = 0; bit < n * 8; bit += n * 8 / 3000 + 1) {
		img[bit / 8] ^= (unsigned char)(1u << bit % 8);
		write_file(bad, img, n);
		int rc = gsr_scrub_copy(&ctx, bad, dst);
		assert_false(gsr_ctx_failed(&ctx));
		if (rc == 0) {
			out = read_image(dst, &no);
			assert_int_equal(no, n);
			for (size_t i = 0; i < n; i++)
				if (out[i] != img[i])
					assert_int_equal(out[i], 0);
			free(out);
			made++;
		} else {
			assert_int_equal(rc, 1);
			refused++;
		}
		img[bit / 8] ^= (unsigned char)(1u << bit % 8);
	}
	print_message("# %d copies made, %d refused\n", made, refused);
	assert_true(made > 0 && refused > 0);
	free(img);
	remove_db(src);
	unlink(bad);
	unlink(dst);
	free(src);
	free(bad);
	free(dst);
}

static void
scrub_errors(void **state)
{
	struct gsr_ctx ctx = GSR_CTX_INIT;
	char *none = path_of("none.db"), *dst = path_of("none-copy.db");

	(void)state;
	assert_int_equal(gsr_scrub_copy(&ctx, none, dst), -1);
	assert_int_equal(ctx.err, GSR_ERR_IO);
	/* Sticky: nothing is done after an error. */
	make_db(none, 4096, "CREATE TABLE t(a)");
	assert_int_equal(gsr_scrub_copy(&ctx, none, dst), -1);
	remove_db(none);
	unlink(dst);
	free(none);
	free(dst);
}

static int
setup(void **state)
{
	(void)state;
	return make_tmpdir(tmpdir, sizeof tmpdir, "scrub");
}

static int
teardown(void **state)
{
	(void)state;
	return remove_tree(tmpdir);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(scrub_page_sizes),
	    cmocka_unit_test(scrub_reserved),
	    cmocka_unit_test(scrub_refuses),
	    cmocka_unit_test(scrub_damage),
	    cmocka_unit_test(scrub_errors),
	};
	return cmocka_run_group_tests_name("scrub", tests, setup, teardown);
}
