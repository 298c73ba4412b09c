/* Unit tests of the table b-tree grafted from whole leaves (graft.h).
 *
 * The leaves of a table made by the SQLite library, taken in rowid order,
 * grafted onto an empty table of another database: SQLite must read the
 * same rows, pass integrity_check, take new rows in between, and find no
 * byte of the rows deleted from the leaves' free space; a connection that
 * held the database open across the graft must see it; SQLite's lock-byte
 * page stays unused.  Page sizes 512
 * (a tree of several levels), 4096 and 65536, reserved bytes, a single
 * leaf, rowids down to the smallest and up to the largest.  Then what it
 * must refuse, with the file left byte for byte as it was, and a leaf
 * damaged bit by bit.
 */
#include "compat.h"
#include "graft.h"

#include <sqlite3.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <setjmp.h>
#include <cmocka.h>

#include "testlib.h"

static char tmpdir[256];

static char *
path_of(const char *name)
{
	char *p = NULL;

	assert_true(asprintf(&p, "%s/%s", tmpdir, name) > 0);
	return p;
}

static uint32_t
get_u16(const unsigned char *p)
{
	return (uint32_t)p[0] << 8 | p[1];
}

static uint32_t
get_u32(const unsigned char *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
	       (uint32_t)p[2] << 8 | p[3];
}

/* The root page of name in the database at path. */
static uint32_t
root_in(const char *path, const char *name)
{
	sqlite3 *db;
	uint32_t root;

	assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
	root = rootpage_of(db, name);
	sqlite3_close(db);
	return root;
}

/* The leaves of a table tree, in rowid order. */
struct leaves {
	uint32_t pg[100000];
	size_t n;
};

/* Walk the table tree from pgno in img (page size ps) and append its
 * leaves to lv, left to right. */
static void
collect_leaves(const unsigned char *img, size_t n, uint32_t ps, uint32_t pgno,
               struct leaves *lv)
{
	const unsigned char *p;
	uint32_t cells;

	assert_true(pgno >= 2 && (size_t)pgno * ps <= n);
	p = img + (size_t)(pgno - 1) * ps;
	if (p[0] == 13) {
		assert_true(lv->n < sizeof lv->pg / sizeof lv->pg[0]);
		lv->pg[lv->n++] = pgno;
		return;
	}
	assert_int_equal(p[0], 5);
	cells = get_u16(p + 3);
	for (uint32_t i = 0; i < cells; i++)
		collect_leaves(img, n, ps, get_u32(p + get_u16(p + 12 + 2 * i)),
		               lv);
	collect_leaves(img, n, ps, get_u32(p + 8), lv);
}

/* A database at path of page size ps (reserve bytes at the end of each
 * page when > 0) with table t(id INTEGER PRIMARY KEY, v TEXT); sql then
 * runs on it. */
static sqlite3 *
new_db(const char *path, int ps, int reserve, const char *sql)
{
	sqlite3 *db = open_new_db(path, ps, NULL);

	exec_sql(db, "PRAGMA synchronous=OFF");
	if (reserve > 0) {
		sqlite3_file_control(db, "main", SQLITE_FCNTL_RESERVE_BYTES,
		                     &reserve);
		exec_sql(db, "VACUUM");
	}
	exec_sql(db, "CREATE TABLE t(id INTEGER PRIMARY KEY, v TEXT)");
	if (sql)
		exec_sql(db, sql);
	return db;
}

/* A source database: rows ids 1..n (and the smallest and largest rowids
 * when extremes), some of them "GONE" and deleted, so that their bytes
 * stay in the free space of the leaves. */
static void
make_source(const char *path, int ps, int reserve, int n, bool extremes)
{
	char sql[512];
	sqlite3 *db = new_db(path, ps, reserve, NULL);

	snprintf(
	    sql, sizeof sql,
	    "BEGIN; WITH RECURSIVE s(k) AS (SELECT 1 UNION ALL SELECT k + 1 "
	    "FROM s WHERE k < %d) INSERT INTO t SELECT k, "
	    "printf('%%s-%%d-%%s', "
	    "CASE WHEN k %% 5 = 0 THEN 'GONE' ELSE 'KEEP' END, k, "
	    "substr('abcdefghijklmnopqrstuvwxyz', 1, k %% 26)) FROM s; "
	    "DELETE FROM t WHERE v LIKE 'GONE%%'; COMMIT",
	    n);
	exec_sql(db, sql);
	/* Keys of nine bytes in the interior pages, too. */
	if (extremes)
		exec_sql(db,
		         "INSERT INTO t VALUES (-9223372036854775808, "
		         "'KEEP-min'), (-1, 'KEEP-neg'), "
		         "(9223372036854775807, 'KEEP-max'); WITH RECURSIVE "
		         "s(k) AS (SELECT 1 UNION ALL SELECT k + 1 FROM s "
		         "WHERE k < 300) INSERT INTO t SELECT "
		         "4611686018427387904 + k * 1000, 'KEEP-big' FROM s");
	sqlite3_close(db);
}

/* The destination: table t empty and another table with a row.  Its
 * root page of t in *root. */
static void
make_dest(const char *path, int ps, int reserve, uint32_t *root)
{
	sqlite3 *db =
	    new_db(path, ps, reserve,
	           "CREATE TABLE other(x); INSERT INTO other VALUES ('o')");

	*root = rootpage_of(db, "t");
	sqlite3_close(db);
}

/* Graft every leaf of src's t onto dst's t: the codes of begin, leaf
 * (the first that is not 0) and finish in rc[3]. */
static void
graft_all(const char *src, const char *dst, uint32_t ps, uint32_t usable,
          uint32_t root, int rc[3])
{
	struct gsr_ctx ctx = GSR_CTX_INIT;
	static struct leaves lv;
	struct gsr_graft *g = NULL;
	unsigned char *img;
	size_t n;
	sqlite3 *db;
	uint32_t sroot;

	assert_int_equal(sqlite3_open(src, &db), SQLITE_OK);
	sroot = rootpage_of(db, "t");
	sqlite3_close(db);
	img = read_image(src, &n);
	lv.n = 0;
	collect_leaves(img, n, ps, sroot, &lv);
	rc[0] = gsr_graft_begin(&ctx, dst, ps, usable, root, lv.n, &g);
	rc[1] = rc[2] = 0;
	for (size_t i = 0; rc[0] == 0 && rc[1] == 0 && i < lv.n; i++) {
		const unsigned char *p = img + (size_t)(lv.pg[i] - 1) * ps;
		rc[1] = gsr_graft_leaf(g, p, get_u16(p + 3));
	}
	if (rc[0] == 0 && rc[1] == 0)
		rc[2] = gsr_graft_finish(g);
	assert_int_equal(gsr_graft_end(g), 0);
	assert_false(gsr_ctx_failed(&ctx));
	free(img);
}

/* dst open, with the source at src: its t holds exactly src's rows. */
static sqlite3 *
open_with_source(const char *dst, const char *src)
{
	sqlite3 *db;
	char sql[1024];

	assert_int_equal(sqlite3_open(dst, &db), SQLITE_OK);
	snprintf(sql, sizeof sql, "ATTACH '%s' AS s", src);
	exec_sql(db, sql);
	assert_int_equal(
	    query_int(db, "SELECT (SELECT count(*) FROM (SELECT * FROM main.t "
	                  "EXCEPT SELECT * FROM s.t)) + (SELECT count(*) FROM "
	                  "(SELECT * FROM s.t EXCEPT SELECT * FROM main.t)) + "
	                  "(SELECT count(*) FROM main.t) - (SELECT count(*) "
	                  "FROM s.t)"),
	    0);
	return db;
}

/* dst's t holds exactly src's rows, dst passes integrity_check, holds
 * no "GONE" byte, and takes rows between the grafted ones. */
static void
check_grafted(const char *src, const char *dst)
{
	unsigned char *b;
	size_t nb;
	sqlite3 *db;

	b = read_image(dst, &nb);
	assert_null(memmem(b, nb, "GONE", 4));
	free(b);
	db = open_with_source(dst, src);
	assert_int_equal(
	    query_int(db, "SELECT count(*) FROM pragma_integrity_check "
	                  "WHERE integrity_check <> 'ok'"),
	    0);
	assert_int_equal(query_int(db, "SELECT count(*) FROM other"), 1);
	/* The ids of the deleted rows again, and a few deleted. */
	exec_sql(db,
	         "INSERT INTO t SELECT id + 4, 'between' FROM s.t WHERE "
	         "id % 5 = 1 AND id < 2000; DELETE FROM t WHERE id % 7 = 0");
	assert_int_equal(
	    query_int(db, "SELECT count(*) FROM pragma_integrity_check "
	                  "WHERE integrity_check <> 'ok'"),
	    0);
	sqlite3_close(db);
}

static void
graft_case(int ps, int reserve, int rows)
{
	char *src = path_of("src.db"), *dst = path_of("dst.db");
	uint32_t root;
	int rc[3];

	make_source(src, ps, reserve, rows, true);
	make_dest(dst, ps, reserve, &root);
	graft_all(src, dst, (uint32_t)ps, (uint32_t)(ps - reserve), root, rc);
	assert_int_equal(rc[0], 0);
	assert_int_equal(rc[1], 0);
	assert_int_equal(rc[2], 0);
	check_grafted(src, dst);
	remove_db(src);
	remove_db(dst);
	free(src);
	free(dst);
}

static void
graft_page_sizes(void **state)
{
	(void)state;
	graft_case(512, 0, 30000); /* four levels */
	graft_case(4096, 0, 30000);
	graft_case(65536, 0, 30000);
	graft_case(4096, 0, 3); /* one leaf: it is the root */
}

static void
graft_reserved(void **state)
{
	(void)state;
	graft_case(4096, 40, 5000);
}

/* A connection that held dst open (between transactions) across the
 * graft reads the grafted table. */
static void
graft_open_connection(void **state)
{
	char *src = path_of("osrc.db"), *dst = path_of("odst.db");
	uint32_t root;
	sqlite3 *db;
	int rc[3];

	(void)state;
	make_source(src, 4096, 0, 20000, false);
	make_dest(dst, 4096, 0, &root);
	assert_int_equal(sqlite3_open(dst, &db), SQLITE_OK);
	exec_sql(db, "PRAGMA journal_mode=OFF");
	assert_int_equal(count_rows(db, "t"), 0);
	graft_all(src, dst, 4096, 4096, root, rc);
	assert_int_equal(rc[0] + rc[1] + rc[2], 0);
	assert_int_equal(count_rows(db, "t"), 16000);
	exec_sql(db, "INSERT INTO t VALUES (100000, 'after')");
	assert_int_equal(
	    query_int(db, "SELECT count(*) FROM pragma_integrity_check "
	                  "WHERE integrity_check <> 'ok'"),
	    0);
	sqlite3_close(db);
	remove_db(src);
	remove_db(dst);
	free(src);
	free(dst);
}

/* A graft that crosses SQLite's lock-byte page (the page holding byte
 * 2^30, which no tree may use): dst's page count is set just below it,
 * the pages between being a hole in a sparse file.  The page stays a
 * hole, and SQLite reads every grafted row. */
static void
graft_lock_page(void **state)
{
	char *src = path_of("ksrc.db"), *dst = path_of("kdst.db");
	uint32_t root, lock = 0x40000000 / 512 + 1, n = lock - 3;
	unsigned char h[100], page[512], zero[512] = {0};
	sqlite3 *db;
	FILE *f;
	int rc[3];

	(void)state;
	make_source(src, 512, 0, 3000, false);
	make_dest(dst, 512, 0, &root);
	assert_non_null(f = fopen(dst, "r+b"));
	assert_int_equal(fread(h, 1, sizeof h, f), sizeof h);
	put_u32(h + 28, n);
	assert_int_equal(fseek(f, 0, SEEK_SET), 0);
	assert_int_equal(fwrite(h, 1, sizeof h, f), sizeof h);
	assert_int_equal(fclose(f), 0);
	assert_int_equal(truncate(dst, (off_t)n * 512), 0);
	graft_all(src, dst, 512, 512, root, rc);
	assert_int_equal(rc[0] + rc[1] + rc[2], 0);
	assert_non_null(f = fopen(dst, "rb"));
	assert_int_equal(fseek(f, (long)(lock - 1) * 512, SEEK_SET), 0);
	assert_int_equal(fread(page, 1, sizeof page, f), sizeof page);
	assert_int_equal(fclose(f), 0);
	assert_memory_equal(page, zero, sizeof page);
	db = open_with_source(dst, src);
	assert_true(query_int(db, "PRAGMA page_count") > (int64_t)lock);
	assert_int_equal(count_rows(db, "t"), 2400);
	sqlite3_close(db);
	remove_db(src);
	remove_db(dst);
	free(src);
	free(dst);
}

/* begin() refuses: 1, the file unchanged. */
static void
expect_begin_refused(const char *dst, uint32_t ps, uint32_t usable,
                     uint32_t root, uint64_t n, const char *why)
{
	struct gsr_ctx ctx = GSR_CTX_INIT;
	struct gsr_graft *g = NULL;
	unsigned char *a, *b;
	size_t na, nb;

	a = read_image(dst, &na);
	if (gsr_graft_begin(&ctx, dst, ps, usable, root, n, &g) != 1)
		fail_msg("begin not refused: %s", why);
	assert_null(g);
	assert_false(gsr_ctx_failed(&ctx));
	b = read_image(dst, &nb);
	assert_true(na == nb && memcmp(a, b, na) == 0);
	free(a);
	free(b);
}

static void
graft_refuses_files(void **state)
{
	char *dst = path_of("rdst.db"), *wal = path_of("rwal.db");
	uint32_t root;
	sqlite3 *db;

	(void)state;
	make_dest(dst, 4096, 0, &root);
	expect_begin_refused(dst, 512, 512, root, 3, "another page size");
	expect_begin_refused(dst, 4096, 4000, root, 3, "another usable size");
	expect_begin_refused(dst, 4096, 4096, root, 0, "no leaf");
	expect_begin_refused(dst, 4096, 4096, 1, 3, "page 1 as the root");
	expect_begin_refused(dst, 4096, 4096, root_in(dst, "other"), 3,
	                     "a root that holds a row");
	db = open_new_db(wal, 4096, NULL);
	exec_sql(db, "PRAGMA journal_mode=WAL; CREATE TABLE t(a)");
	root = rootpage_of(db, "t");
	sqlite3_close(db);
	expect_begin_refused(wal, 4096, 4096, root, 3, "WAL mode");
	remove_db(wal);
	remove_db(dst);
	free(dst);
	free(wal);
}

/* A leaf or a count it must refuse: 1, and the file as it was once the
 * graft is ended. */
static void
graft_refuses_leaves(void **state)
{
	struct gsr_ctx ctx = GSR_CTX_INIT;
	char *src = path_of("lsrc.db"), *dst = path_of("ldst.db");
	static struct leaves lv;
	struct gsr_graft *g;
	unsigned char *img, *before, *after, *bent;
	size_t n, nb, na;
	uint32_t root, sroot;
	sqlite3 *db;

	(void)state;
	make_source(src, 4096, 0, 5000, false);
	assert_int_equal(sqlite3_open(src, &db), SQLITE_OK);
	exec_sql(db, "CREATE TABLE big(id INTEGER PRIMARY KEY, b BLOB); "
	             "INSERT INTO big VALUES (1, zeroblob(10000))");
	sroot = rootpage_of(db, "t");
	sqlite3_close(db);
	make_dest(dst, 4096, 0, &root);
	img = read_image(src, &n);
	lv.n = 0;
	collect_leaves(img, n, 4096, sroot, &lv);
	assert_true(lv.n >= 3);
	before = read_image(dst, &nb);
#define LEAF(i) (img + (size_t)(lv.pg[i] - 1) * 4096)
#define CELLS(i) get_u16(LEAF(i) + 3)
	/* Rowids that do not rise: the second leaf before the first. */
	assert_int_equal(gsr_graft_begin(&ctx, dst, 4096, 4096, root, 2, &g),
	                 0);
	assert_int_equal(gsr_graft_leaf(g, LEAF(1), CELLS(1)), 0);
	assert_int_equal(gsr_graft_leaf(g, LEAF(0), CELLS(0)), 1);
	assert_int_equal(gsr_graft_end(g), 0);
	/* A cell count that is not the leaf's. */
	assert_int_equal(gsr_graft_begin(&ctx, dst, 4096, 4096, root, 2, &g),
	                 0);
	assert_int_equal(gsr_graft_leaf(g, LEAF(0), CELLS(0) - 1), 1);
	assert_int_equal(gsr_graft_end(g), 0);
	/* An interior page, and a leaf whose cell overflows. */
	assert_int_equal(gsr_graft_begin(&ctx, dst, 4096, 4096, root, 2, &g),
	                 0);
	assert_int_equal(gsr_graft_leaf(g, img + (size_t)(sroot - 1) * 4096,
	                                get_u16(img + (sroot - 1) * 4096 + 3)),
	                 1);
	bent = img + (size_t)(root_in(src, "big") - 1) * 4096;
	assert_int_equal(gsr_graft_leaf(g, bent, 1), 1);
	assert_int_equal(gsr_graft_end(g), 0);
	/* More leaves than promised; fewer. */
	assert_int_equal(gsr_graft_begin(&ctx, dst, 4096, 4096, root, 1, &g),
	                 0);
	assert_int_equal(gsr_graft_leaf(g, LEAF(0), CELLS(0)), 0);
	assert_int_equal(gsr_graft_leaf(g, LEAF(1), CELLS(1)), 1);
	assert_int_equal(gsr_graft_end(g), 0);
	assert_int_equal(gsr_graft_begin(&ctx, dst, 4096, 4096, root, 3, &g),
	                 0);
	assert_int_equal(gsr_graft_leaf(g, LEAF(0), CELLS(0)), 0);
	assert_int_equal(gsr_graft_leaf(g, LEAF(1), CELLS(1)), 0);
	assert_int_equal(gsr_graft_finish(g), 1);
	assert_int_equal(gsr_graft_end(g), 0);
#undef LEAF
#undef CELLS
	assert_false(gsr_ctx_failed(&ctx));
	after = read_image(dst, &na);
	assert_true(na == nb && memcmp(before, after, na) == 0);
	free(before);
	free(after);
	free(img);
	remove_db(src);
	remove_db(dst);
	free(src);
	free(dst);
}

/* Every bit of a leaf flipped in turn: never read past the page (ASan);
 * a leaf taken leaves a database SQLite opens, a leaf refused the file as
 * it was. */
static void
graft_damage(void **state)
{
	struct gsr_ctx ctx = GSR_CTX_INIT;
	char *src = path_of("dsrc.db"), *dst = path_of("ddst.db"),
	     *tmpl = path_of("dtmpl.db");
	unsigned char *img, *leaf, *t;
	size_t n, nt;
	uint32_t root;
	int taken = 0, refused = 0;
	sqlite3 *db;

	(void)state;
	make_source(src, 512, 0, 8, false);
	make_dest(tmpl, 512, 0, &root);
	assert_int_equal(sqlite3_open(src, &db), SQLITE_OK);
	img = read_image(src, &n);
	leaf = exact_copy(img + (size_t)(rootpage_of(db, "t") - 1) * 512, 512);
	sqlite3_close(db);
	assert_int_equal(leaf[0], 13);
	t = read_image(tmpl, &nt);
	for (size_t bit = 0; bit < 512 * 8; bit++) {
		struct gsr_graft *g = NULL;
		int rc;

		leaf[bit / 8] ^= (unsigned char)(1u << bit % 8);
		write_file(dst, t, nt);
		assert_int_equal(
		    gsr_graft_begin(&ctx, dst, 512, 512, root, 1, &g), 0);
		rc = gsr_graft_leaf(g, leaf, get_u16(leaf + 3));
		if (rc == 0)
			assert_int_equal(gsr_graft_finish(g), 0);
		assert_int_equal(gsr_graft_end(g), 0);
		assert_false(gsr_ctx_failed(&ctx));
		if (rc == 0) {
			assert_int_equal(sqlite3_open(dst, &db), SQLITE_OK);
			assert_int_equal(
			    query_int(db, "SELECT count(*) FROM other"), 1);
			sqlite3_close(db);
			taken++;
		} else {
			unsigned char *b;
			size_t nb;

			assert_int_equal(rc, 1);
			b = read_image(dst, &nb);
			assert_true(nb == nt && memcmp(b, t, nt) == 0);
			free(b);
			refused++;
		}
		leaf[bit / 8] ^= (unsigned char)(1u << bit % 8);
	}
	print_message("# %d leaves taken, %d refused\n", taken, refused);
	assert_true(taken > 0 && refused > 0);
	free(t);
	free(leaf);
	free(img);
	remove_db(src);
	remove_db(dst);
	remove_db(tmpl);
	free(src);
	free(dst);
	free(tmpl);
}

static void
graft_errors(void **state)
{
	struct gsr_ctx ctx = GSR_CTX_INIT;
	struct gsr_graft *g = NULL;
	char *none = path_of("none.db");

	(void)state;
	assert_int_equal(gsr_graft_begin(&ctx, none, 4096, 4096, 2, 1, &g), -1);
	assert_null(g);
	assert_int_equal(ctx.err, GSR_ERR_IO);
	assert_int_equal(gsr_graft_end(NULL), 0);
	free(none);
}

static int
setup(void **state)
{
	(void)state;
	return make_tmpdir(tmpdir, sizeof tmpdir, "graft");
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
	    cmocka_unit_test(graft_page_sizes),
	    cmocka_unit_test(graft_reserved),
	    cmocka_unit_test(graft_open_connection),
	    cmocka_unit_test(graft_lock_page),
	    cmocka_unit_test(graft_refuses_files),
	    cmocka_unit_test(graft_refuses_leaves),
	    cmocka_unit_test(graft_damage),
	    cmocka_unit_test(graft_errors),
	};
	return cmocka_run_group_tests_name("graft", tests, setup, teardown);
}
