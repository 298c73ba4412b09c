/* Unit tests of the carver of deleted records.
 *
 * First the shape functions on values made by hand.  Then small databases
 * made with the SQLite library (secure_delete off) where each way a cell
 * can be freed is made on purpose and the carved rows are compared with
 * what was deleted: a cell at the start of the content area, a cell whose
 * payload size and rowid took 2, 3 or 4 bytes (the freeblock header takes
 * the record header's size and first serial type, its size, or nothing of
 * the record), freed cells merged both ways, overflow chains whole, under
 * the freelist's trunk and reused by a later row's chain, the page-by-page
 * API with and without the survey, UTF-16, ALTER TABLE ADD COLUMN.
 *
 * Then GPUStack's 0.6.0 schema ($GSR_TOP/tests/fixtures/schemas/0.6.0.sql)
 * at page sizes 4096 and 1024, with thousands of rows in models and
 * model_usages and workers whose big status is rewritten in rounds:
 * scattered deletes, updates, range deletes and new rows on top.  Every
 * version of every row is kept; the ceiling is the deleted or replaced
 * versions whose record (from its third byte, the part in the page) is
 * still in the file, and the test asserts a recall of at least 90% of it
 * and no false row: every carved row equals a version, value by value (a
 * cut-short value a prefix).  Shapes are made for every table of the
 * schema, as a caller would.  Carving throughput is printed as a TAP
 * comment, for the image and for every page scanned whole.
 *
 * Last, hostile input: random pages, pages of 0xff and 0x00, hand-made
 * page headers, flipped bytes, in buffers of exactly their size for ASan;
 * API misuse; cancellation.
 */
#include "compat.h"
#include "carve.h"
#include "pagefile.h"
#include "record.h"

#include <sqlite3.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <setjmp.h>
#include <cmocka.h>

#include "strbuf.h"
#include "testlib.h"

static char tmpdir[256];
static int db_seq;

/* ---- helpers -------------------------------------------------------- */

/* A new database in tmpdir with the page size and encoding (NULL: UTF-8),
 * secure_delete off; its path in path. */
static sqlite3 *
new_db(char *path, size_t len, int page_size, const char *encoding)
{
	snprintf(path, len, "%s/db%d.db", tmpdir, db_seq++);
	return open_new_db(path, page_size, encoding);
}

static double
now_seconds(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

/* ---- rows as strings, for the small cases ----------------------------- */

static const char *const kind_names[] = {"CELL", "FULL", "RECORD", "REBUILT"};

struct got {
	char **rows;
	size_t n, cap;
	struct gsr_carve_stats st;
};

/* "KIND rowid|v1,v2,..." with rowid "?" when lost, a ~ after the kind when
 * truncated; values N, i123, r1.5, 'text', x<len>. */
static int
collect(void *arg, const struct gsr_carved *c)
{
	struct got *g = arg;
	struct strbuf sb = STRBUF_INIT;

	sb_addf(&sb, "%s%s ", kind_names[c->kind], c->truncated ? "~" : "");
	if (c->rowid_known)
		sb_addf(&sb, "%lld|", (long long)c->rowid);
	else
		sb_addf(&sb, "?|");
	for (size_t i = 0; i < c->n_values; i++) {
		const struct gsr_value *v = &c->values[i];

		if (i > 0)
			sb_add(&sb, ",", 1);
		switch (v->type) {
		case GSR_V_NULL:
			sb_add(&sb, "N", 1);
			break;
		case GSR_V_INT:
			sb_addf(&sb, "i%lld", (long long)v->i);
			break;
		case GSR_V_REAL:
			sb_addf(&sb, "r%.17g", v->r);
			break;
		case GSR_V_TEXT:
			sb_addf(&sb, "'%.*s'", (int)v->n, (const char *)v->p);
			break;
		case GSR_V_BLOB:
			sb_addf(&sb, "x%zu", v->n);
			break;
		}
	}
	assert_false(sb.failed);
	assert_int_equal(
	    gsr_grow((void **)&g->rows, &g->cap, g->n + 1, sizeof *g->rows), 0);
	g->rows[g->n++] = sb_detach(&sb);
	return 0;
}

static void
got_release(struct got *g)
{
	for (size_t i = 0; i < g->n; i++)
		free(g->rows[i]);
	free(g->rows);
	memset(g, 0, sizeof *g);
}

/* How many rows are exactly s. */
static size_t
got_count(const struct got *g, const char *s)
{
	size_t n = 0;

	for (size_t i = 0; i < g->n; i++)
		n += strcmp(g->rows[i], s) == 0;
	return n;
}

static void
got_dump(const struct got *g)
{
	for (size_t i = 0; i < g->n; i++)
		print_message("# carved: %s\n", g->rows[i]);
	print_message("# stats: pages %llu skipped %llu rows %llu truncated "
	              "%llu rebuilt %llu ambiguous %llu conflicts %llu\n",
	              (unsigned long long)g->st.pages,
	              (unsigned long long)g->st.pages_skipped,
	              (unsigned long long)g->st.rows,
	              (unsigned long long)g->st.rows_truncated,
	              (unsigned long long)g->st.rows_rebuilt,
	              (unsigned long long)g->st.ambiguous,
	              (unsigned long long)g->st.conflicts);
}

/* Carve the whole database file at path into g. */
static void
carve_file(const char *path, const struct gsr_shape *shapes, size_t n,
           struct got *g)
{
	struct gsr_ctx ctx = GSR_CTX_INIT;
	struct gsr_pagefile *pf;
	struct gsr_carver *cv;
	unsigned char *img;
	size_t size;

	img = read_image(path, &size);
	pf = gsr_pagefile_open_mem(&ctx, img, size, 0);
	assert_non_null(pf);
	cv = gsr_carver_new(&ctx, pf, shapes, n);
	assert_non_null(cv);
	assert_int_equal(gsr_carver_image(cv, collect, g, &g->st), 0);
	assert_false(gsr_ctx_failed(&ctx));
	gsr_carver_free(cv);
	gsr_pagefile_close(pf);
	free(img);
}

/* ---- shapes by hand --------------------------------------------------- */

static const char *const ops[] = {"chat_completion", "embedding", "rerank",
                                  NULL};

static struct gsr_value
vnull(void)
{
	struct gsr_value v = {GSR_V_NULL, 0, 0, NULL, 0, false, false};

	return v;
}

static struct gsr_value
vint(int64_t i)
{
	struct gsr_value v = {GSR_V_INT, i, 0, NULL, 0, false, false};

	return v;
}

static struct gsr_value
vtext(const char *s)
{
	struct gsr_value v = {GSR_V_TEXT, 0,     0,    (const unsigned char *)s,
	                      strlen(s),  false, false};

	return v;
}

static void
shape_functions(void **state)
{
	/* usage: id (ipk), user_id, op (enum), flag (bool), meta (json). */
	static const uint8_t u_allowed[] = {
	    GSR_ALLOW_NULL,
	    GSR_ALLOW_INT,
	    GSR_ALLOW_TEXT,
	    GSR_ALLOW_INT | GSR_ALLOW_NULL,
	    GSR_ALLOW_TEXT | GSR_ALLOW_NULL,
	};
	static const uint8_t u_checks[] = {0, GSR_CHECK_NONNEG, 0,
	                                   GSR_CHECK_BOOL, GSR_CHECK_JSON};
	static const char *const *const u_enums[] = {NULL, NULL, ops, NULL,
	                                             NULL};
	/* loose: the same columns, any class, no enum; min 3 values. */
	struct gsr_shape shapes[3] = {
	    {"usage", 5, 0, 0, u_allowed, u_enums, u_checks},
	    {"loose", 5, 3, -1, NULL, NULL, NULL},
	    {"loose2", 5, 3, -1, NULL, NULL, NULL},
	};
	struct gsr_value v[6];
	bool tie = true;

	(void)state;
	v[0] = vnull();
	v[1] = vint(7);
	v[2] = vtext("embedding");
	v[3] = vint(1);
	v[4] = vtext(" {\"a\": 1}");
	assert_true(gsr_shape_fits(&shapes[0], v, 5));
	/* 1 + (4 + 1) + (2 + 1) + (2 + 1) + 4 for the column count. */
	assert_int_equal(gsr_shape_score(&shapes[0], v, 5), 16);
	assert_int_equal(gsr_shape_score(&shapes[1], v, 5), 4 + 4);
	assert_int_equal(gsr_shape_pick(shapes, 3, v, 5, &tie), 0);
	assert_false(tie);
	/* Without the enum hit the shapes are equal: loose and loose2 tie
	 * only among themselves, usage does not fit. */
	v[2] = vtext("chat");
	assert_false(gsr_shape_fits(&shapes[0], v, 5));
	assert_int_equal(gsr_shape_pick(shapes, 3, v, 5, &tie), 1);
	assert_true(tie);
	/* A cut-short TEXT: a prefix of an enum value fits. */
	v[2].truncated = true;
	assert_true(gsr_shape_fits(&shapes[0], v, 5));
	v[2] = vtext("embedding");
	/* Checks: a boolean that is 2, JSON that is not, a negative id. */
	v[3] = vint(2);
	assert_false(gsr_shape_fits(&shapes[0], v, 5));
	v[3] = vint(0);
	v[4] = vtext("not json");
	assert_false(gsr_shape_fits(&shapes[0], v, 5));
	v[4] = vtext("");
	assert_false(gsr_shape_fits(&shapes[0], v, 5));
	v[4].truncated = true;
	assert_true(gsr_shape_fits(&shapes[0], v, 5));
	v[4] = vnull();
	v[1] = vint(-1);
	assert_false(gsr_shape_fits(&shapes[0], v, 5));
	v[1] = vint(1);
	/* The ipk column holds NULL only. */
	v[0] = vint(1);
	assert_false(gsr_shape_fits(&shapes[0], v, 5));
	v[0] = vnull();
	/* A number that could not be read fits anything but the ipk. */
	v[1].type = GSR_V_NULL;
	v[1].truncated = true;
	assert_true(gsr_shape_fits(&shapes[0], v, 5));
	v[1] = vint(1);
	/* Column counts: usage wants 5; loose takes 3 to 5, and the exact
	 * count scores more. */
	assert_false(gsr_shape_fits(&shapes[0], v, 4));
	assert_false(gsr_shape_fits(&shapes[0], v, 6));
	assert_true(gsr_shape_fits(&shapes[1], v, 3));
	assert_false(gsr_shape_fits(&shapes[1], v, 2));
	assert_true(gsr_shape_score(&shapes[1], v, 4) <
	            gsr_shape_score(&shapes[1], v, 5));
	/* Dates. */
	{
		static const uint8_t d_allowed[] = {GSR_ALLOW_TEXT};
		static const uint8_t d_checks[] = {GSR_CHECK_DATETIME};
		struct gsr_shape d = {"d", 1, 0, -1, d_allowed, NULL, d_checks};
		struct gsr_value t = vtext("2025-03-01 12:00:00.000000");

		assert_true(gsr_shape_fits(&d, &t, 1));
		t = vtext("2025-3-01");
		assert_false(gsr_shape_fits(&d, &t, 1));
		t = vtext("2025-0");
		assert_false(gsr_shape_fits(&d, &t, 1));
		t.truncated = true;
		assert_true(gsr_shape_fits(&d, &t, 1));
	}
	/* Nothing fits: -1, no tie. */
	assert_int_equal(gsr_shape_pick(shapes, 3, v, 1, &tie), -1);
	assert_false(tie);
	assert_int_equal(gsr_shape_pick(NULL, 0, v, 1, NULL), -1);
	assert_false(gsr_shape_fits(NULL, v, 1));
}

/* ---- small cases ------------------------------------------------------ */

/* Shapes of the small tables: ua(id, user_id, op), ub(id, user_id, op, n,
 * note), big(id, name, meta). */
static const uint8_t ua_allowed[] = {GSR_ALLOW_NULL, GSR_ALLOW_INT,
                                     GSR_ALLOW_TEXT};
static const uint8_t ub_allowed[] = {GSR_ALLOW_NULL, GSR_ALLOW_INT,
                                     GSR_ALLOW_TEXT, GSR_ALLOW_INT,
                                     GSR_ALLOW_TEXT};
static const char *const *const ua_enums[] = {NULL, NULL, ops};
static const uint8_t big_allowed[] = {GSR_ALLOW_NULL, GSR_ALLOW_TEXT,
                                      GSR_ALLOW_TEXT};
static const uint8_t big_checks[] = {0, 0, GSR_CHECK_JSON};

static const struct gsr_shape small_shapes[] = {
    {"ua", 3, 0, 0, ua_allowed, ua_enums, NULL},
    {"ub", 5, 0, 0, ub_allowed, NULL, NULL},
    {"big", 3, 0, 0, big_allowed, NULL, big_checks},
};

static void
fill_ua(sqlite3 *db, const char *table, int from, int to)
{
	char sql[256];

	for (int id = from; id <= to; id++) {
		snprintf(sql, sizeof sql,
		         "INSERT INTO %s VALUES (%d, %d, '%s')", table, id,
		         id * 3 % 100, ops[id % 3]);
		exec_sql(db, sql);
	}
}

static char *
ua_row(const char *kind, int rowid, int id)
{
	static char buf[128];

	if (rowid)
		snprintf(buf, sizeof buf, "%s %d|N,i%d,'%s'", kind, id,
		         id * 3 % 100, ops[id % 3]);
	else
		snprintf(buf, sizeof buf, "%s ?|N,i%d,'%s'", kind, id * 3 % 100,
		         ops[id % 3]);
	return buf;
}

/*
 * One page of ua rows with rowids under 128: payload size and rowid take a
 * byte each, so the freeblock header takes the record's header size and
 * first serial type (the NULL of the INTEGER PRIMARY KEY).  Rows are laid
 * out from the end of the page down, in insertion order.
 */
static void
small_freeblocks(void **state)
{
	char path[512];
	sqlite3 *db;
	struct got g = {0};

	(void)state;
	db = new_db(path, sizeof path, 1024, NULL);
	exec_sql(db, "CREATE TABLE ua(id INTEGER NOT NULL, user_id INTEGER "
	             "NOT NULL, op VARCHAR(19) NOT NULL, PRIMARY KEY (id))");
	fill_ua(db, "ua", 1, 30);
	/* A cell alone: header written over it, rebuilt. */
	exec_sql(db, "DELETE FROM ua WHERE id = 10");
	/* The last cell is the start of the content area: left whole. */
	exec_sql(db, "DELETE FROM ua WHERE id = 30");
	/* 5 then 6 (just below it): 6's header says the merged size, 5
	 * keeps its own: both rebuilt. */
	exec_sql(db, "DELETE FROM ua WHERE id = 5");
	exec_sql(db, "DELETE FROM ua WHERE id = 6");
	/* 21 then 20 (just above it): 20 joins 21's freeblock, whole. */
	exec_sql(db, "DELETE FROM ua WHERE id = 21");
	exec_sql(db, "DELETE FROM ua WHERE id = 20");
	assert_int_equal(sqlite3_close(db), SQLITE_OK);
	carve_file(path, small_shapes, GSR_ARRAY_LEN(small_shapes), &g);
	got_dump(&g);
	assert_int_equal(g.n, 6);
	assert_int_equal(got_count(&g, ua_row("REBUILT", 0, 10)), 1);
	/* Older SQLite wrote nothing there; newer ones write the freeblock
	 * header all the same. */
	assert_int_equal(got_count(&g, ua_row("FULL", 1, 30)) +
	                     got_count(&g, ua_row("REBUILT", 0, 30)),
	                 1);
	assert_int_equal(got_count(&g, ua_row("REBUILT", 0, 5)), 1);
	assert_int_equal(got_count(&g, ua_row("REBUILT", 0, 6)), 1);
	assert_int_equal(got_count(&g, ua_row("REBUILT", 0, 21)), 1);
	assert_int_equal(got_count(&g, ua_row("FULL", 1, 20)), 1);
	assert_true(g.st.rows_rebuilt >= 4);
	assert_int_equal(g.st.conflicts, 0);
	got_release(&g);
	remove_db(path);
}

/* Rowids of two bytes: the freeblock header takes the record's header
 * size only (3 bytes of cell header); with a payload of 128 bytes or more
 * it takes nothing of the record (4 bytes). */
static void
small_rowid_sizes(void **state)
{
	char path[512], sql[512], want[512];
	sqlite3 *db;
	struct got g = {0};

	(void)state;
	db = new_db(path, sizeof path, 1024, NULL);
	exec_sql(db, "CREATE TABLE ua(id INTEGER PRIMARY KEY, user_id "
	             "INTEGER NOT NULL, op TEXT NOT NULL)");
	exec_sql(db, "CREATE TABLE ub(id INTEGER PRIMARY KEY, user_id "
	             "INTEGER NOT NULL, op TEXT NOT NULL, n INTEGER NOT NULL, "
	             "note TEXT NOT NULL)");
	fill_ua(db, "ua", 200, 230);
	for (int id = 300; id < 306; id++) {
		snprintf(sql, sizeof sql,
		         "INSERT INTO ub VALUES (%d, %d, 'op%d', %d, "
		         "printf('%%.*c', 130, 'x'))",
		         id, id, id, id * 1000);
		exec_sql(db, sql);
	}
	exec_sql(db, "DELETE FROM ua WHERE id = 210");
	exec_sql(db, "DELETE FROM ub WHERE id = 302");
	assert_int_equal(sqlite3_close(db), SQLITE_OK);
	carve_file(path, small_shapes, GSR_ARRAY_LEN(small_shapes), &g);
	got_dump(&g);
	assert_int_equal(g.n, 2);
	assert_int_equal(got_count(&g, ua_row("REBUILT", 0, 210)), 1);
	snprintf(want, sizeof want, "RECORD ?|N,i302,'op302',i302000,'%s'",
	         "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
	         "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
	         "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxx");
	assert_int_equal(got_count(&g, want), 1);
	got_release(&g);
	remove_db(path);
}

/* meta of row id: n bytes of JSON. */
static char *
big_meta(int id, size_t n)
{
	char *s = malloc(n + 1);

	assert_non_null(s);
	memset(s, (char)('a' + id % 26), n);
	memcpy(s, "{\"k\":\"", 6);
	memcpy(s + n - 2, "\"}", 2);
	s[n] = '\0';
	return s;
}

static void
insert_big(sqlite3 *db, int id, size_t n)
{
	sqlite3_stmt *st = NULL;
	char name[32];
	char *m = big_meta(id, n);

	snprintf(name, sizeof name, "big-%d", id);
	assert_int_equal(sqlite3_prepare_v2(db,
	                                    "INSERT INTO big VALUES (?, ?, ?)",
	                                    -1, &st, NULL),
	                 SQLITE_OK);
	sqlite3_bind_int(st, 1, id);
	sqlite3_bind_text(st, 2, name, -1, SQLITE_TRANSIENT);
	sqlite3_bind_text(st, 3, m, -1, free);
	assert_int_equal(sqlite3_step(st), SQLITE_DONE);
	sqlite3_finalize(st);
}

/* Does some carved row hold row id of big (meta of n bytes), whole or
 * truncated?  Checks that what it holds is right.  Returns 2 for whole, 1
 * for truncated, 0 for none. */
static int
big_found(const struct got *g, int id, size_t n)
{
	char *m = big_meta(id, n), head[64];
	int r = 0;

	snprintf(head, sizeof head, "|N,'big-%d','", id);
	for (size_t i = 0; i < g->n; i++) {
		const char *p = strstr(g->rows[i], head);
		bool cut = strchr(g->rows[i], ' ')[-1] == '~';
		size_t len;

		if (p == NULL)
			continue;
		p += strlen(head);
		len = strlen(p) - 1; /* the closing quote */
		assert_true(len <= n);
		assert_memory_equal(p, m, len);
		assert_true(cut == (len < n));
		if (!cut)
			r = 2;
		else if (r == 0)
			r = 1;
	}
	free(m);
	return r;
}

/* The meta of big row id: its record is 2160 + id bytes or so, of which
 * about 110 stay in a 1024-byte page. */
static size_t
big_len(int id)
{
	return 2150 + (size_t)id;
}

/* Overflow chains: followed when the freed pages are still the row's
 * own; truncated when another record's chain ran through them. */
static void
small_overflow(void **state)
{
	char path[512];
	sqlite3 *db;
	struct got g = {0};

	(void)state;
	db = new_db(path, sizeof path, 1024, NULL);
	exec_sql(db, "CREATE TABLE big(id INTEGER PRIMARY KEY, name TEXT NOT "
	             "NULL, meta JSON)");
	for (int id = 1; id <= 6; id++)
		insert_big(db, id, big_len(id));
	/* Row 5's first overflow page becomes the freelist's trunk, whose
	 * header and list overwrite its first bytes: truncated.  Row 3's
	 * pages become leaves of that trunk, whole. */
	exec_sql(db, "DELETE FROM big WHERE id = 5");
	exec_sql(db, "DELETE FROM big WHERE id = 3");
	assert_int_equal(sqlite3_close(db), SQLITE_OK);
	carve_file(path, small_shapes, GSR_ARRAY_LEN(small_shapes), &g);
	got_dump(&g);
	assert_int_equal(big_found(&g, 3, big_len(3)), 2);
	assert_int_equal(big_found(&g, 5, big_len(5)), 1);
	assert_int_equal(g.n, 2);
	assert_int_equal(g.st.rows_truncated, 1);
	got_release(&g);
	/* Page by page: the table's leaf is page 2.  Without a survey the
	 * chain is not followed; with one it is.  The freelist alone holds
	 * nothing of these rows. */
	{
		struct gsr_ctx ctx = GSR_CTX_INIT;
		unsigned char *img;
		size_t size;
		struct gsr_pagefile *pf;
		struct gsr_carver *cv;

		img = read_image(path, &size);
		pf = gsr_pagefile_open_mem(&ctx, img, size, 0);
		assert_non_null(pf);
		assert_int_equal(
		    gsr_carve_page(&ctx, pf, 2, GSR_CARVE_LIVE_LEAF,
		                   small_shapes, GSR_ARRAY_LEN(small_shapes),
		                   collect, &g, &g.st),
		    0);
		assert_int_equal(big_found(&g, 3, big_len(3)), 1);
		assert_int_equal(g.st.rows_truncated, 2);
		got_release(&g);
		cv = gsr_carver_new(&ctx, pf, small_shapes,
		                    GSR_ARRAY_LEN(small_shapes));
		assert_non_null(cv);
		assert_int_equal(gsr_carver_freelist(cv, collect, &g, &g.st),
		                 0);
		assert_int_equal(g.n, 0);
		assert_true(g.st.pages > 0);
		assert_int_equal(gsr_carver_survey(cv), 0);
		assert_int_equal(gsr_carver_page(cv, 2, GSR_CARVE_LIVE_LEAF,
		                                 collect, &g, &g.st),
		                 0);
		assert_int_equal(big_found(&g, 3, big_len(3)), 2);
		/* Its overflow pages are used: not twice. */
		assert_int_equal(gsr_carver_page(cv, 2, GSR_CARVE_LIVE_LEAF,
		                                 collect, &g, &g.st),
		                 0);
		assert_int_equal(g.n, 4);
		assert_int_equal(g.st.rows_truncated, 3);
		assert_false(gsr_ctx_failed(&ctx));
		gsr_carver_free(cv);
		gsr_pagefile_close(pf);
		free(img);
		got_release(&g);
	}

	remove_db(path);

	/*
	 * Row 2's overflow pages reused by row 7's chain, then row 7 deleted:
	 * row 2's pointer leads to row 7's data, which decodes into a row
	 * that looks right.  Both point into the same pages, so neither
	 * chain is trusted.  To make it so: a one-page overflow of another
	 * table becomes the freelist's trunk, row 2's two pages its leaves,
	 * and row 7, too big for row 2's freeblock but not for the gap (else
	 * the page is defragmented, row 2 with it), takes them in order.
	 */
	db = new_db(path, sizeof path, 1024, NULL);
	exec_sql(db, "CREATE TABLE big(id INTEGER PRIMARY KEY, name TEXT NOT "
	             "NULL, meta JSON)");
	exec_sql(db, "CREATE TABLE pad(id INTEGER PRIMARY KEY, b BLOB)");
	for (int id = 1; id <= 6; id++)
		insert_big(db, id, big_len(id));
	exec_sql(db, "INSERT INTO pad VALUES (1, zeroblob(1130))");
	exec_sql(db, "DELETE FROM pad");
	exec_sql(db, "DELETE FROM big WHERE id = 2");
	insert_big(db, 7, 2180);
	exec_sql(db, "DELETE FROM big WHERE id = 7");
	assert_int_equal(sqlite3_close(db), SQLITE_OK);
	carve_file(path, small_shapes, GSR_ARRAY_LEN(small_shapes), &g);
	got_dump(&g);
	assert_int_equal(big_found(&g, 2, big_len(2)), 1);
	assert_int_equal(big_found(&g, 7, 2180), 1);
	assert_int_equal(g.n, 2);
	got_release(&g);
	remove_db(path);
}

/* Text in a UTF-16 database comes out as UTF-8. */
static void
small_utf16(void **state)
{
	static const char *const enc[] = {"UTF-16le", "UTF-16be"};

	(void)state;
	for (size_t e = 0; e < GSR_ARRAY_LEN(enc); e++) {
		char path[512];
		sqlite3 *db;
		struct got g = {0};

		db = new_db(path, sizeof path, 4096, enc[e]);
		exec_sql(db, "CREATE TABLE ua(id INTEGER PRIMARY KEY, user_id "
		             "INTEGER NOT NULL, op TEXT NOT NULL)");
		exec_sql(db, "CREATE TABLE ub(id INTEGER PRIMARY KEY, user_id "
		             "INTEGER NOT NULL, op TEXT NOT NULL, n INTEGER "
		             "NOT NULL, note TEXT NOT NULL)");
		fill_ua(db, "ua", 1, 40);
		exec_sql(db, "INSERT INTO ub VALUES (1, 2, 'caf\xc3\xa9', 3, "
		             "'\xe4\xb8\xad\xf0\x9f\x98\x80')");
		exec_sql(db, "INSERT INTO ub VALUES (2, 2, 'x', 3, 'y')");
		exec_sql(db, "DELETE FROM ua WHERE id IN (7, 8, 9)");
		exec_sql(db, "DELETE FROM ub WHERE id = 1");
		assert_int_equal(sqlite3_close(db), SQLITE_OK);
		carve_file(path, small_shapes, GSR_ARRAY_LEN(small_shapes), &g);
		got_dump(&g);
		assert_int_equal(got_count(&g, ua_row("REBUILT", 0, 7)), 1);
		assert_int_equal(got_count(&g, ua_row("REBUILT", 0, 8)), 1);
		assert_int_equal(got_count(&g, ua_row("REBUILT", 0, 9)), 1);
		assert_int_equal(got_count(&g,
		                           "REBUILT ?|N,i2,'caf\xc3\xa9',i3,"
		                           "'\xe4\xb8\xad\xf0\x9f\x98\x80'"),
		                 1);
		assert_int_equal(g.n, 4);
		got_release(&g);
		remove_db(path);
	}
}

/* Records older than ALTER TABLE ADD COLUMN have fewer values. */
static void
small_alter(void **state)
{
	static const uint8_t allowed[] = {GSR_ALLOW_NULL, GSR_ALLOW_TEXT,
	                                  GSR_ALLOW_INT,
	                                  GSR_ALLOW_TEXT | GSR_ALLOW_NULL};
	const struct gsr_shape shape = {"t", 4, 3, 0, allowed, NULL, NULL};
	char path[512], sql[256];
	sqlite3 *db;
	struct got g = {0};

	(void)state;
	db = new_db(path, sizeof path, 4096, NULL);
	exec_sql(db, "CREATE TABLE t(id INTEGER PRIMARY KEY, a TEXT NOT NULL, "
	             "b INTEGER NOT NULL)");
	for (int id = 1; id <= 20; id++) {
		snprintf(sql, sizeof sql,
		         "INSERT INTO t VALUES (%d, 'a%d', %d)", id, id, id);
		exec_sql(db, sql);
	}
	exec_sql(db, "ALTER TABLE t ADD COLUMN c TEXT");
	for (int id = 21; id <= 40; id++) {
		snprintf(sql, sizeof sql,
		         "INSERT INTO t VALUES (%d, 'a%d', %d, 'c%d')", id, id,
		         id, id);
		exec_sql(db, sql);
	}
	exec_sql(db, "DELETE FROM t WHERE id IN (5, 25)");
	assert_int_equal(sqlite3_close(db), SQLITE_OK);
	carve_file(path, &shape, 1, &g);
	got_dump(&g);
	assert_int_equal(g.n, 2);
	assert_int_equal(got_count(&g, "REBUILT ?|N,'a5',i5"), 1);
	assert_int_equal(got_count(&g, "REBUILT ?|N,'a25',i25,'c25'"), 1);
	got_release(&g);
	remove_db(path);
}

/* ---- GPUStack's schema --------------------------------------------- */

/* A test value: what was bound. */
struct tv {
	enum gsr_vtype type;
	int64_t i;
	char *s; /* TEXT, owned */
	size_t n;
};

#define MAX_COLS 64
#define MAX_VER 4

struct tcol {
	char name[64];
	char type[32];
	bool notnull;
};

struct trow {
	int n_ver;
	struct tv *ver[MAX_VER]; /* n_cols values each */
	bool live;               /* the last version is in the table */
	bool got_whole[MAX_VER], got_cut[MAX_VER];
	bool in_file[MAX_VER]; /* the ceiling */
};

struct ttable {
	char name[64];
	struct tcol cols[MAX_COLS];
	int n_cols, ipk, key; /* key: the column that gives the id */
	uint8_t allowed[MAX_COLS], checks[MAX_COLS];
	const char *const *enums[MAX_COLS];
	struct trow *rows; /* by id - 1 */
	int n_rows;
};

static const char *const sources[] = {"huggingface", "ollama_library",
                                      "model_scope", "local_path", NULL};
static const char *const placements[] = {"spread", "binpack", NULL};
static const char *const operations[] = {
    "chat_completion",  "completion",   "embedding",           "rerank",
    "image_generation", "audio_speech", "audio_transcription", NULL};
static const char *const states[] = {"running",     "stopped",      "error",
                                     "downloading", "analyzing",    "scheduled",
                                     "pending",     "initializing", "ready",
                                     "not_ready",   "unreachable",  NULL};

static bool
type_is(const char *t, const char *prefix)
{
	return strncmp(t, prefix, strlen(prefix)) == 0;
}

/* The table's columns and a shape for it, as a caller builds it from the
 * schema: classes from the declared types, NOT NULL, checks for BOOLEAN,
 * JSON and dates, enums for the columns GPUStack fills from an Enum. */
static void
table_init(sqlite3 *db, struct ttable *t, const char *name)
{
	sqlite3_stmt *st = NULL;
	int n_pk = 0, pk = -1;

	memset(t, 0, sizeof *t);
	snprintf(t->name, sizeof t->name, "%s", name);
	t->ipk = -1;
	t->key = -1;
	assert_int_equal(
	    sqlite3_prepare_v2(
	        db,
	        "SELECT name, type, \"notnull\", pk FROM pragma_table_info(?1)",
	        -1, &st, NULL),
	    SQLITE_OK);
	sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
	while (sqlite3_step(st) == SQLITE_ROW) {
		struct tcol *c = &t->cols[t->n_cols];
		const char *ty = (const char *)sqlite3_column_text(st, 1);
		uint8_t a, k = 0;

		assert_true(t->n_cols < MAX_COLS);
		snprintf(c->name, sizeof c->name, "%s",
		         (const char *)sqlite3_column_text(st, 0));
		snprintf(c->type, sizeof c->type, "%s", ty ? ty : "");
		c->notnull = sqlite3_column_int(st, 2) != 0;
		if (sqlite3_column_int(st, 3) > 0) {
			n_pk++;
			pk = t->n_cols;
		}
		if (type_is(c->type, "BOOLEAN")) {
			a = GSR_ALLOW_INT;
			k = GSR_CHECK_BOOL;
		} else if (type_is(c->type, "INTEGER") ||
		           type_is(c->type, "BIGINT")) {
			a = GSR_ALLOW_INT;
			k = GSR_CHECK_NONNEG;
		} else if (type_is(c->type, "FLOAT")) {
			a = GSR_ALLOW_INT | GSR_ALLOW_REAL;
		} else if (type_is(c->type, "JSON")) {
			a = GSR_ALLOW_TEXT;
			k = GSR_CHECK_JSON;
		} else if (type_is(c->type, "DATE") ||
		           type_is(c->type, "TIMESTAMP")) {
			a = GSR_ALLOW_TEXT;
			k = GSR_CHECK_DATETIME;
		} else if (c->type[0] == '\0') {
			a = GSR_ALLOW_ANY;
		} else {
			a = GSR_ALLOW_TEXT;
		}
		if (!c->notnull)
			a |= GSR_ALLOW_NULL;
		t->allowed[t->n_cols] = a;
		t->checks[t->n_cols] = k;
		if (strcmp(c->name, "source") == 0 &&
		    strcmp(name, "model_files") != 0)
			t->enums[t->n_cols] = sources;
		else if (strcmp(c->name, "placement_strategy") == 0)
			t->enums[t->n_cols] = placements;
		else if (strcmp(c->name, "operation") == 0)
			t->enums[t->n_cols] = operations;
		else if (strcmp(c->name, "state") == 0)
			t->enums[t->n_cols] = states;
		if (strcmp(c->name, "name") == 0 ||
		    strcmp(c->name, "prompt_token_count") == 0)
			t->key = t->n_cols;
		t->n_cols++;
	}
	sqlite3_finalize(st);
	if (n_pk == 1 && strcmp(t->cols[pk].type, "INTEGER") == 0)
		t->ipk = pk;
}

static void
shape_of(const struct ttable *t, struct gsr_shape *s)
{
	s->name = t->name;
	s->n_cols = (size_t)t->n_cols;
	s->min_cols = 0;
	s->ipk = t->ipk;
	s->allowed = t->allowed;
	s->enums = t->enums;
	s->checks = t->checks;
}

static char *xprintf(const char *fmt, ...) GSR_PRINTF(1, 2);

static char *
xprintf(const char *fmt, ...)
{
	va_list ap;
	char *s = NULL;
	int n;

	va_start(ap, fmt);
	n = vasprintf(&s, fmt, ap);
	va_end(ap);
	assert_true(n >= 0);
	return s;
}

static void
set_text(struct tv *v, char *s)
{
	v->type = GSR_V_TEXT;
	v->s = s;
	v->n = strlen(s);
}

/* The value of column k of row id, version v. */
static void
gen_value(const struct ttable *t, int k, int id, int v, struct tv *out)
{
	const struct tcol *c = &t->cols[k];
	const char *n = c->name;

	memset(out, 0, sizeof *out);
	out->type = GSR_V_NULL;
	if (k == t->ipk) {
		out->type = GSR_V_INT;
		out->i = id;
		return;
	}
	if (!c->notnull && (id + k + v) % 5 == 0 && strcmp(n, "meta") != 0)
		return;
	if (strcmp(n, "deleted_at") == 0) {
		if (id % 13 == 0)
			set_text(out, xprintf("2025-02-%02d 08:00:00.000000",
			                      id % 28 + 1));
	} else if (t->enums[k] != NULL) {
		const char *const *e = t->enums[k];
		size_t ne = 0;

		while (e[ne] != NULL)
			ne++;
		set_text(out, xprintf("%s", e[(size_t)(id + v) % ne]));
	} else if (strcmp(n, "name") == 0) {
		set_text(out, xprintf("%s-%d", t->name, id));
	} else if (strcmp(n, "description") == 0) {
		set_text(out, xprintf("model %d, version %d: %.*s", id, v,
		                      (id * 7 + v * 29) % 90,
		                      "lorem ipsum dolor sit amet, consectetur "
		                      "adipiscing elit, sed do eiusmod tempor "
		                      "incididunt ut labore"));
	} else if (strcmp(n, "status") == 0) {
		/* A worker's status: big, overflowing, rewritten often. */
		size_t len = 4200 + (size_t)v * 333 + (size_t)(id * 37) % 500;
		char *s = malloc(len + 1);

		assert_non_null(s);
		for (size_t i = 0; i < len; i++)
			s[i] =
			    (char)('0' +
			           (i * 3 + (size_t)id * 7 + (size_t)v) % 10);
		memcpy(s, "{\"gpu\":\"", 8);
		memcpy(s + len - 2, "\"}", 2);
		s[len] = '\0';
		set_text(out, s);
	} else if (strcmp(n, "meta") == 0 && id % 50 == 7) {
		size_t len = 2500 + (size_t)(id % 7) * 300 + (size_t)v * 10;
		char *s = malloc(len + 1);

		assert_non_null(s);
		for (size_t i = 0; i < len; i++)
			s[i] =
			    (char)('a' + (i * 7 + (size_t)id + (size_t)v) % 26);
		memcpy(s, "{\"k\":\"", 6);
		memcpy(s + len - 2, "\"}", 2);
		s[len] = '\0';
		set_text(out, s);
	} else if (strcmp(n, "prompt_token_count") == 0) {
		out->type = GSR_V_INT;
		out->i = (int64_t)id * 10;
	} else if (strcmp(n, "completion_token_count") == 0) {
		out->type = GSR_V_INT;
		out->i = v == 0 ? id % 100 : 100000 + (int64_t)id * v;
	} else if (type_is(c->type, "BOOLEAN")) {
		out->type = GSR_V_INT;
		out->i = (id + k + v) % 2;
	} else if (type_is(c->type, "INTEGER") || type_is(c->type, "BIGINT")) {
		out->type = GSR_V_INT;
		out->i = (int64_t)id * (k + 1) % 1000 + v;
	} else if (type_is(c->type, "JSON")) {
		set_text(out, xprintf("{\"row\": %d, \"col\": \"%s\", "
		                      "\"v\": %d}",
		                      id, n, v));
	} else if (type_is(c->type, "DATE") && strlen(c->type) == 4) {
		set_text(out, xprintf("2025-03-%02d", id % 28 + 1));
	} else if (type_is(c->type, "DATE") || type_is(c->type, "TIMESTAMP")) {
		set_text(out, xprintf("2025-03-%02d 12:%02d:%02d.%06d",
		                      id % 28 + 1, k, v, id));
	} else {
		set_text(out, xprintf("%s/%d-caf\xc3\xa9-%d", n, id, v));
	}
}

static struct tv *
gen_row(const struct ttable *t, int id, int v)
{
	struct tv *r = calloc((size_t)t->n_cols, sizeof *r);

	assert_non_null(r);
	for (int k = 0; k < t->n_cols; k++)
		gen_value(t, k, id, v, &r[k]);
	return r;
}

static void
bind_row(sqlite3_stmt *st, const struct ttable *t, const struct tv *r)
{
	for (int k = 0; k < t->n_cols; k++) {
		if (r[k].type == GSR_V_INT)
			sqlite3_bind_int64(st, k + 1, r[k].i);
		else if (r[k].type == GSR_V_TEXT)
			sqlite3_bind_text(st, k + 1, r[k].s, (int)r[k].n,
			                  SQLITE_STATIC);
		else
			sqlite3_bind_null(st, k + 1);
	}
}

static void
insert_rows(sqlite3 *db, struct ttable *t, int from, int to)
{
	sqlite3_stmt *st = NULL;
	char sql[1024];
	int len;

	len =
	    snprintf(sql, sizeof sql, "INSERT INTO \"%s\" VALUES (?", t->name);
	for (int k = 1; k < t->n_cols; k++)
		len += snprintf(sql + len, sizeof sql - (size_t)len, ",?");
	snprintf(sql + len, sizeof sql - (size_t)len, ")");
	assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK);
	if (to > t->n_rows) {
		t->rows = realloc(t->rows, (size_t)to * sizeof *t->rows);
		assert_non_null(t->rows);
		memset(t->rows + t->n_rows, 0,
		       (size_t)(to - t->n_rows) * sizeof *t->rows);
		t->n_rows = to;
	}
	for (int id = from; id <= to; id++) {
		struct trow *r = &t->rows[id - 1];

		r->ver[0] = gen_row(t, id, 0);
		r->n_ver = 1;
		r->live = true;
		bind_row(st, t, r->ver[0]);
		assert_int_equal(sqlite3_step(st), SQLITE_DONE);
		sqlite3_reset(st);
	}
	sqlite3_finalize(st);
}

/* A new version of the rows whose id is in [from, to] and id % mod ==
 * rem (mod 0: all). */
static void
update_rows(sqlite3 *db, struct ttable *t, int from, int to, int mod, int rem)
{
	sqlite3_stmt *st = NULL;
	char sql[2048];
	int len;

	len = snprintf(sql, sizeof sql, "UPDATE \"%s\" SET (", t->name);
	for (int k = 0; k < t->n_cols; k++)
		len += snprintf(sql + len, sizeof sql - (size_t)len, "%s\"%s\"",
		                k ? "," : "", t->cols[k].name);
	len += snprintf(sql + len, sizeof sql - (size_t)len, ") = (?");
	for (int k = 1; k < t->n_cols; k++)
		len += snprintf(sql + len, sizeof sql - (size_t)len, ",?");
	snprintf(sql + len, sizeof sql - (size_t)len, ") WHERE rowid = ?%d",
	         t->n_cols + 1);
	assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK);
	for (int id = from; id <= to && id <= t->n_rows; id++) {
		struct trow *r = &t->rows[id - 1];

		if (!r->live || (mod != 0 && id % mod != rem) ||
		    r->n_ver == MAX_VER)
			continue;
		r->ver[r->n_ver] = gen_row(t, id, r->n_ver);
		bind_row(st, t, r->ver[r->n_ver]);
		sqlite3_bind_int(st, t->n_cols + 1, id);
		assert_int_equal(sqlite3_step(st), SQLITE_DONE);
		assert_int_equal(sqlite3_changes(db), 1);
		sqlite3_reset(st);
		r->n_ver++;
	}
	sqlite3_finalize(st);
}

static void
delete_rows(sqlite3 *db, struct ttable *t, int from, int to, int mod, int rem)
{
	sqlite3_stmt *st = NULL;
	char sql[256];

	snprintf(sql, sizeof sql, "DELETE FROM \"%s\" WHERE rowid = ?",
	         t->name);
	assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK);
	for (int id = from; id <= to && id <= t->n_rows; id++) {
		struct trow *r = &t->rows[id - 1];

		if (!r->live || (mod != 0 && id % mod != rem))
			continue;
		sqlite3_bind_int(st, 1, id);
		assert_int_equal(sqlite3_step(st), SQLITE_DONE);
		sqlite3_reset(st);
		r->live = false;
	}
	sqlite3_finalize(st);
}

static void
table_release(struct ttable *t)
{
	for (int i = 0; i < t->n_rows; i++) {
		for (int v = 0; v < t->rows[i].n_ver; v++) {
			for (int k = 0; k < t->n_cols; k++)
				free(t->rows[i].ver[v][k].s);
			free(t->rows[i].ver[v]);
		}
	}
	free(t->rows);
	t->rows = NULL;
	t->n_rows = 0;
}

/* ---- records as SQLite writes them, for the ceiling ---------------- */

static int
int_bytes(int64_t i)
{
	if (i >= -128 && i <= 127)
		return 1;
	if (i >= -32768 && i <= 32767)
		return 2;
	if (i >= -8388608 && i <= 8388607)
		return 3;
	if (i >= INT32_MIN && i <= INT32_MAX)
		return 4;
	if (i >= -140737488355328LL && i <= 140737488355327LL)
		return 6;
	return 8;
}

/* The record of row r of t, as SQLite stores it (malloc'd, *len). */
static unsigned char *
encode_record(const struct ttable *t, const struct tv *r, size_t *len)
{
	unsigned char hdr[MAX_COLS * 9 + 9], *out;
	size_t h = 0, body = 0, o;
	int hl;

	for (int k = 0; k < t->n_cols; k++) {
		uint64_t st = 0;

		if (k != t->ipk && r[k].type == GSR_V_INT) {
			int b = int_bytes(r[k].i);

			st = r[k].i == 0   ? 8
			     : r[k].i == 1 ? 9
			     : b <= 4      ? (uint64_t)b
			     : b == 6      ? 5
			                   : 6;
			body += st >= 8 ? 0 : st <= 4 ? st : st == 5 ? 6 : 8;
		} else if (k != t->ipk && r[k].type == GSR_V_TEXT) {
			st = 13 + 2 * (uint64_t)r[k].n;
			body += r[k].n;
		}
		h += (size_t)put_varint(hdr + h, st);
	}
	hl = h + 1 < 128 ? 1 : 2;
	out = malloc(h + (size_t)hl + body);
	assert_non_null(out);
	o = (size_t)put_varint(out, h + (size_t)hl);
	assert_int_equal(o, (size_t)hl);
	memcpy(out + o, hdr, h);
	o += h;
	for (int k = 0; k < t->n_cols; k++) {
		if (k == t->ipk)
			continue;
		if (r[k].type == GSR_V_INT && r[k].i != 0 && r[k].i != 1) {
			int b = int_bytes(r[k].i);

			for (int i = b - 1; i >= 0; i--)
				out[o++] = (unsigned char)((uint64_t)r[k].i >>
				                           (8 * i));
		} else if (r[k].type == GSR_V_TEXT) {
			memcpy(out + o, r[k].s, r[k].n);
			o += r[k].n;
		}
	}
	*len = o;
	return out;
}

/*
 * Mark in_file on every version of t (live ones too: a check of the
 * encoding) whose record's local part but its first two bytes is in the
 * image.  An index of 16-byte anchors makes it one pass over the image.
 */
struct anchor {
	uint64_t h;
	unsigned char *rec; /* from its third byte */
	size_t len;
	struct trow *row;
	int ver;
	struct anchor *next;
};

#define ANCHOR_BITS 16

static uint64_t
hash16(const unsigned char *p)
{
	uint64_t a, b;

	memcpy(&a, p, 8);
	memcpy(&b, p + 8, 8);
	a *= 0x9e3779b97f4a7c15ULL;
	b *= 0xc2b2ae3d27d4eb4fULL;
	return (a ^ (b >> 29) ^ (b << 7)) * 0x165667b19e3779f9ULL;
}

static void
find_in_file(struct ttable *t, const unsigned char *img, size_t size,
             uint32_t usable)
{
	struct anchor **tab = calloc(1u << ANCHOR_BITS, sizeof *tab);
	struct anchor *all = NULL;
	size_t n_all = 0, cap = 0;

	assert_non_null(tab);
	for (int i = 0; i < t->n_rows; i++) {
		for (int v = 0; v < t->rows[i].n_ver; v++) {
			size_t len, local;
			unsigned char *rec =
			    encode_record(t, t->rows[i].ver[v], &len);

			local = (size_t)gsr_local_size(len, usable, true);
			assert_true(local >= 18);
			assert_int_equal(gsr_grow((void **)&all, &cap,
			                          n_all + 1, sizeof *all),
			                 0);
			all[n_all].rec = rec;
			all[n_all].len = local - 2;
			all[n_all].row = &t->rows[i];
			all[n_all].ver = v;
			all[n_all].h = hash16(rec + 2);
			n_all++;
		}
	}
	for (size_t i = 0; i < n_all; i++) {
		size_t b = all[i].h >> (64 - ANCHOR_BITS);

		all[i].next = tab[b];
		tab[b] = &all[i];
	}
	for (size_t pos = 0; pos + 16 <= size; pos++) {
		uint64_t h = hash16(img + pos);

		for (struct anchor *a = tab[h >> (64 - ANCHOR_BITS)]; a != NULL;
		     a = a->next) {
			if (a->h == h && a->len <= size - pos &&
			    memcmp(img + pos, a->rec + 2, a->len) == 0)
				a->row->in_file[a->ver] = true;
		}
	}
	for (size_t i = 0; i < n_all; i++)
		free(all[i].rec);
	free(all);
	free(tab);
}

static int count_row(void *arg, const struct gsr_carved *c);

/* ---- checking carved rows ------------------------------------------ */

struct check {
	struct ttable *tables;
	size_t n_tables;
	uint64_t rows, whole, cut, false_rows, unknown_shape;
	uint64_t by_kind[4];
};

/* 0 when carved value c is test value w (c may be cut short: then a
 * prefix), -1 otherwise. */
static int
value_is(const struct gsr_value *c, const struct tv *w, bool ipk)
{
	if (ipk)
		return c->type == GSR_V_NULL && !c->truncated ? 0 : -1;
	if (c->truncated) {
		if (c->type == GSR_V_NULL)
			return 0;
		return c->type == GSR_V_TEXT && w->type == GSR_V_TEXT &&
		               c->n <= w->n && memcmp(c->p, w->s, c->n) == 0
		           ? 0
		           : -1;
	}
	if (c->type != w->type)
		return -1;
	if (c->type == GSR_V_INT)
		return c->i == w->i ? 0 : -1;
	if (c->type == GSR_V_TEXT)
		return c->n == w->n && memcmp(c->p, w->s, c->n) == 0 ? 0 : -1;
	return c->type == GSR_V_NULL ? 0 : -1;
}

/* The id a carved row of t claims: its rowid, or its key column. */
static int
carved_id(const struct ttable *t, const struct gsr_carved *c)
{
	const struct gsr_value *v;
	char fmt[80];
	int id = 0;

	if (c->rowid_known)
		return c->rowid > 0 && c->rowid <= t->n_rows ? (int)c->rowid
		                                             : 0;
	if (t->key < 0 || (size_t)t->key >= c->n_values)
		return 0;
	v = &c->values[t->key];
	if (v->truncated)
		return 0;
	if (v->type == GSR_V_INT)
		return v->i % 10 == 0 && v->i / 10 <= t->n_rows
		           ? (int)(v->i / 10)
		           : 0;
	if (v->type == GSR_V_TEXT && v->n < 64) {
		char buf[64];

		memcpy(buf, v->p, v->n);
		buf[v->n] = '\0';
		snprintf(fmt, sizeof fmt, "%s-%%d", t->name);
		if (sscanf(buf, fmt, &id) != 1 || id > t->n_rows)
			id = 0;
	}
	return id;
}

static int
check_row(void *arg, const struct gsr_carved *c)
{
	struct check *ck = arg;
	struct ttable *t;
	struct trow *r;
	int id;
	bool match = false;

	ck->rows++;
	ck->by_kind[c->kind]++;
	if (c->shape >= ck->n_tables) {
		ck->unknown_shape++;
		return 0;
	}
	t = &ck->tables[c->shape];
	id = carved_id(t, c);
	if (id <= 0 && c->truncated) {
		/* The key was cut off: any version it is a prefix of. */
		for (int i = 1; i <= t->n_rows && id <= 0; i++) {
			for (int v = 0; v < t->rows[i - 1].n_ver; v++) {
				size_t k;

				for (k = 0; k < c->n_values &&
				            c->n_values == (size_t)t->n_cols;
				     k++) {
					if (value_is(&c->values[k],
					             &t->rows[i - 1].ver[v][k],
					             (int)k == t->ipk) < 0)
						break;
				}
				if (k == (size_t)t->n_cols)
					id = i;
			}
		}
	}
	if (id <= 0) {
		if (getenv("CARVE_DEBUG") && t->n_cols > 2) {
			struct got g = {0};
			collect(&g, c);
			print_message("# false: %s\n", g.rows[0]);
			got_release(&g);
		}
		if (ck->false_rows++ < (getenv("CARVE_DEBUG") ? 100000 : 5))
			print_message("# false row: %s, no id (%s, page %u "
			              "offset %u, %zu values)\n",
			              t->name, kind_names[c->kind], c->pgno,
			              c->offset, c->n_values);
		return 0;
	}
	r = &t->rows[id - 1];
	for (int v = 0; v < r->n_ver && !match; v++) {
		size_t k;

		if (c->n_values != (size_t)t->n_cols)
			break;
		for (k = 0; k < c->n_values; k++) {
			if (value_is(&c->values[k], &r->ver[v][k],
			             (int)k == t->ipk) < 0)
				break;
		}
		if (k < c->n_values)
			continue;
		match = true;
		if (c->truncated)
			r->got_cut[v] = true;
		else
			r->got_whole[v] = true;
	}
	if (!match) {
		if (getenv("CARVE_DEBUG")) {
			struct got g = {0};
			collect(&g, c);
			print_message("# false: %s\n", g.rows[0]);
			got_release(&g);
		}
		if (ck->false_rows++ < 5)
			print_message("# false row: %s %d (%s%s, page %u "
			              "offset %u)\n",
			              t->name, id, kind_names[c->kind],
			              c->truncated ? ", truncated" : "",
			              c->pgno, c->offset);
		return 0;
	}
	if (c->truncated)
		ck->cut++;
	else
		ck->whole++;
	return 0;
}

/*
 * The GPUStack case at one page size: models and model_usages filled,
 * updated, deleted here and there and in ranges, then new rows.
 */
static void
gpustack_case(int page_size)
{
	static const char *const names[] = {
	    "alembic_version", "models",
	    "workers",         "system_loads",
	    "model_instances", "model_usages",
	    "model_files",     "modelinstancemodelfilelink",
	    "users",           "api_keys",
	};
	enum {
		N_TABLES = GSR_ARRAY_LEN(names),
		MODELS = 1,
		WORKERS = 2,
		USAGES = 5
	};
	const int nm = 1500, nu = 4000, nw = 150;
	struct ttable tables[N_TABLES];
	struct gsr_shape shapes[N_TABLES];
	struct gsr_ctx ctx = GSR_CTX_INIT;
	struct gsr_carve_stats st;
	struct gsr_pagefile_info info;
	struct gsr_pagefile *pf;
	struct gsr_carver *cv;
	struct check ck;
	char path[512];
	unsigned char *img;
	size_t size;
	sqlite3 *db;
	char *sql;
	double t0, t1;
	uint64_t ceiling = 0, got = 0, got_whole = 0, deleted = 0, live = 0,
	         live_found = 0;

	db = new_db(path, sizeof path, page_size, NULL);
	sql = schema_sql("0.6.0");
	exec_sql(db, sql);
	free(sql);
	for (size_t i = 0; i < N_TABLES; i++) {
		table_init(db, &tables[i], names[i]);
		shape_of(&tables[i], &shapes[i]);
	}
	assert_int_equal(tables[MODELS].n_cols, 33);
	assert_int_equal(tables[MODELS].ipk, 9);
	assert_int_equal(tables[USAGES].ipk, 0);

	exec_sql(db, "BEGIN");
	insert_rows(db, &tables[MODELS], 1, nm);
	insert_rows(db, &tables[USAGES], 1, nu);
	insert_rows(db, &tables[WORKERS], 1, nw);
	exec_sql(db, "COMMIT");
	/* Heartbeats: every worker's status rewritten, one transaction each
	 * round, and a few workers deleted between rounds. */
	for (int round = 0; round < 3; round++) {
		exec_sql(db, "BEGIN");
		update_rows(db, &tables[WORKERS], 1, nw, 0, 0);
		exec_sql(db, "COMMIT");
		delete_rows(db, &tables[WORKERS], 1, nw, 19, round);
	}
	exec_sql(db, "BEGIN");
	update_rows(db, &tables[MODELS], 1, nm, 11, 5);
	update_rows(db, &tables[USAGES], 1, nu, 9, 4);
	exec_sql(db, "COMMIT");
	exec_sql(db, "BEGIN");
	delete_rows(db, &tables[MODELS], 1, nm, 7, 3);
	delete_rows(db, &tables[USAGES], 1, nu, 5, 2);
	exec_sql(db, "COMMIT");
	exec_sql(db, "BEGIN");
	delete_rows(db, &tables[MODELS], nm * 2 / 5, nm * 11 / 20, 0, 0);
	delete_rows(db, &tables[USAGES], nu / 2, nu * 7 / 10, 0, 0);
	exec_sql(db, "COMMIT");
	exec_sql(db, "BEGIN");
	update_rows(db, &tables[MODELS], 1, nm, 13, 6);
	delete_rows(db, &tables[MODELS], 1, nm, 23, 5);
	update_rows(db, &tables[USAGES], 1, nu, 17, 1);
	exec_sql(db, "COMMIT");
	exec_sql(db, "BEGIN");
	insert_rows(db, &tables[MODELS], nm + 1, nm + 100);
	insert_rows(db, &tables[USAGES], nu + 1, nu + 300);
	exec_sql(db, "COMMIT");
	assert_int_equal(sqlite3_close(db), SQLITE_OK);

	img = read_image(path, &size);
	pf = gsr_pagefile_open_mem(&ctx, img, size, 0);
	assert_non_null(pf);
	gsr_pagefile_get_info(pf, &info);
	assert_int_equal(info.page_size, (uint32_t)page_size);
	assert_true(info.freelist_count > 0);
	for (size_t i = 0; i < N_TABLES; i++) {
		if (tables[i].n_rows > 0)
			find_in_file(&tables[i], img, size, info.usable_size);
	}

	memset(&ck, 0, sizeof ck);
	memset(&st, 0, sizeof st);
	ck.tables = tables;
	ck.n_tables = N_TABLES;
	t0 = now_seconds();
	cv = gsr_carver_new(&ctx, pf, shapes, N_TABLES);
	assert_non_null(cv);
	assert_int_equal(gsr_carver_image(cv, check_row, &ck, &st), 0);
	t1 = now_seconds();
	assert_false(gsr_ctx_failed(&ctx));
	gsr_carver_free(cv);

	for (size_t i = 0; i < N_TABLES; i++) {
		struct ttable *t = &tables[i];

		for (int id = 1; id <= t->n_rows; id++) {
			struct trow *r = &t->rows[id - 1];

			for (int v = 0; v < r->n_ver; v++) {
				bool is_live = r->live && v == r->n_ver - 1;

				if (is_live) {
					live++;
					live_found += r->in_file[v];
					continue;
				}
				deleted++;
				if (!r->in_file[v])
					continue;
				ceiling++;
				got += r->got_whole[v] || r->got_cut[v];
				got_whole += r->got_whole[v];
			}
		}
	}
	print_message("# page size %d: %zu bytes, %u pages, %u free\n",
	              page_size, size, info.n_pages, info.freelist_count);
	print_message("# deleted or replaced versions %llu, in the file %llu "
	              "(ceiling), carved %llu (%.1f%%), whole %llu (%.1f%%)\n",
	              (unsigned long long)deleted, (unsigned long long)ceiling,
	              (unsigned long long)got,
	              ceiling ? 100.0 * (double)got / (double)ceiling : 0.0,
	              (unsigned long long)got_whole,
	              ceiling ? 100.0 * (double)got_whole / (double)ceiling
	                      : 0.0);
	print_message(
	    "# rows delivered %llu (whole %llu, truncated %llu; "
	    "cell %llu full %llu record %llu rebuilt %llu), false "
	    "%llu; ambiguous %llu, conflicts %llu, unfit cells "
	    "%llu\n",
	    (unsigned long long)ck.rows, (unsigned long long)ck.whole,
	    (unsigned long long)ck.cut, (unsigned long long)ck.by_kind[0],
	    (unsigned long long)ck.by_kind[1],
	    (unsigned long long)ck.by_kind[2],
	    (unsigned long long)ck.by_kind[3],
	    (unsigned long long)ck.false_rows, (unsigned long long)st.ambiguous,
	    (unsigned long long)st.conflicts,
	    (unsigned long long)st.cells_unfit);
	/* Throughput: the best of a few runs of the whole image (survey
	 * included), then every page scanned whole, as for freelist leaves
	 * that are no b-tree page: the worst case, dense with records. */
	for (int run = 0; run < 4; run++) {
		uint64_t rows = 0;
		double t2 = now_seconds(), t3;

		cv = gsr_carver_new(&ctx, pf, shapes, N_TABLES);
		assert_non_null(cv);
		assert_int_equal(gsr_carver_image(cv, count_row, &rows, NULL),
		                 0);
		gsr_carver_free(cv);
		t3 = now_seconds();
		assert_int_equal(rows, ck.rows);
		if (t3 - t2 < t1 - t0) {
			t0 = t2;
			t1 = t3;
		}
	}
	print_message("# carve throughput: %.1f MB/s of image (%zu bytes in "
	              "%.4f s, survey included; %llu bytes in free regions)\n",
	              (double)size / (t1 - t0) / 1e6, size, t1 - t0,
	              (unsigned long long)st.bytes_scanned);
	{
		unsigned char *flat = malloc(size);
		struct gsr_pagefile *fpf;
		uint64_t rows = 0;

		assert_non_null(flat);
		memcpy(flat, img, size);
		for (size_t pg = 1; pg < info.n_pages; pg++)
			flat[pg * info.page_size] = 0;
		fpf = gsr_pagefile_open_mem(&ctx, flat, size, 0);
		assert_non_null(fpf);
		cv = gsr_carver_new(&ctx, fpf, shapes, N_TABLES);
		assert_non_null(cv);
		t0 = now_seconds();
		for (uint32_t pg = 2; pg <= info.n_pages; pg++)
			assert_int_equal(
			    gsr_carver_page(cv, pg, GSR_CARVE_FREELIST_LEAF,
			                    count_row, &rows, NULL),
			    0);
		t1 = now_seconds();
		print_message("# carve throughput, every page scanned whole: "
		              "%.1f MB/s (%llu rows)\n",
		              (double)size / (t1 - t0) / 1e6,
		              (unsigned long long)rows);
		gsr_carver_free(cv);
		gsr_pagefile_close(fpf);
		free(flat);
	}
	/* The encoding of the ceiling is SQLite's: every live row is in the
	 * file. */
	assert_int_equal(live_found, live);
	assert_true(ceiling > deleted / 4);
	assert_int_equal(ck.false_rows, 0);
	assert_int_equal(ck.unknown_shape, 0);
	assert_true(got * 10 >= ceiling * 9);
	assert_int_equal(st.rows, ck.rows);

	gsr_pagefile_close(pf);
	free(img);
	for (size_t i = 0; i < N_TABLES; i++)
		table_release(&tables[i]);
	remove_db(path);
}

static void
gpustack_4096(void **state)
{
	(void)state;
	gpustack_case(4096);
}

static void
gpustack_1024(void **state)
{
	(void)state;
	gpustack_case(1024);
}

/* ---- hostile input -------------------------------------------------- */

static uint64_t rng_state = 0x2545f4914f6cdd1dULL;

static uint64_t
rng(void)
{
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 7;
	rng_state ^= rng_state << 17;
	return rng_state;
}

static int
count_row(void *arg, const struct gsr_carved *c)
{
	(void)c;
	(*(uint64_t *)arg)++;
	return 0;
}

/* Carve every page of buf (exactly size bytes) in every mode; returns the
 * rows found. */
static uint64_t
carve_all_modes(const unsigned char *buf, size_t size, uint32_t page_size,
                const struct gsr_shape *shapes, size_t n_shapes)
{
	struct gsr_ctx ctx = GSR_CTX_INIT;
	struct gsr_pagefile_info info;
	struct gsr_pagefile *pf;
	struct gsr_carver *cv;
	struct gsr_carve_stats st;
	unsigned char *copy = malloc(size ? size : 1);
	uint64_t rows = 0;

	assert_non_null(copy);
	memcpy(copy, buf, size);
	pf = gsr_pagefile_open_mem(&ctx, copy, size, page_size);
	assert_non_null(pf);
	gsr_pagefile_get_info(pf, &info);
	cv = gsr_carver_new(&ctx, pf, shapes, n_shapes);
	assert_non_null(cv);
	memset(&st, 0, sizeof st);
	assert_int_equal(gsr_carver_image(cv, count_row, &rows, &st), 0);
	for (uint32_t pg = 0; pg <= info.n_pages + 1; pg++) {
		for (int w = GSR_CARVE_LIVE_LEAF; w <= GSR_CARVE_FREELIST_TRUNK;
		     w++)
			assert_int_equal(
			    gsr_carver_page(cv, pg, (enum gsr_carve_where)w,
			                    count_row, &rows, &st),
			    0);
	}
	assert_false(gsr_ctx_failed(&ctx));
	gsr_carver_free(cv);
	gsr_pagefile_close(pf);
	free(copy);
	return rows;
}

/* Shapes of GPUStack's models and model_usages, as the big test makes
 * them, for the hostile pages. */
static void
gpustack_shapes(struct ttable *tables, struct gsr_shape *shapes)
{
	char path[512];
	sqlite3 *db = new_db(path, sizeof path, 4096, NULL);

	exec_sql(db, "CREATE TABLE models (deleted_at DATETIME, source "
	             "VARCHAR(14) NOT NULL, name VARCHAR NOT NULL, replicas "
	             "INTEGER NOT NULL, id INTEGER NOT NULL, created_at "
	             "TIMESTAMP NOT NULL, embedding_only BOOLEAN NOT NULL, "
	             "meta JSON, PRIMARY KEY (id))");
	exec_sql(db, "CREATE TABLE model_usages (id INTEGER NOT NULL, "
	             "user_id INTEGER NOT NULL, model_id INTEGER NOT NULL, "
	             "date DATE NOT NULL, prompt_token_count INTEGER NOT "
	             "NULL, operation VARCHAR(19) NOT NULL, PRIMARY KEY "
	             "(id))");
	table_init(db, &tables[0], "models");
	table_init(db, &tables[1], "model_usages");
	shape_of(&tables[0], &shapes[0]);
	shape_of(&tables[1], &shapes[1]);
	assert_int_equal(sqlite3_close(db), SQLITE_OK);
	remove_db(path);
}

static void
hostile_pages(void **state)
{
	static const uint32_t sizes[] = {512, 1024, 4096, 65536};
	static const uint8_t any_allowed[] = {GSR_ALLOW_NULL, GSR_ALLOW_ANY,
	                                      GSR_ALLOW_ANY, GSR_ALLOW_ANY};
	/* A loose shape: anything goes, for the parsers' sake. */
	struct ttable tables[3];
	struct gsr_shape shapes[3];
	uint64_t rows;

	(void)state;
	gpustack_shapes(tables, shapes);
	shapes[2] =
	    (struct gsr_shape){"loose", 4, 2, 0, any_allowed, NULL, NULL};
	for (size_t s = 0; s < GSR_ARRAY_LEN(sizes); s++) {
		uint32_t ps = sizes[s];
		size_t size = (size_t)ps * 6;
		unsigned char *buf = malloc(size);

		assert_non_null(buf);
		/* Random bytes: the GPUStack shapes find nothing. */
		for (size_t i = 0; i < size; i++)
			buf[i] = (unsigned char)rng();
		rows = carve_all_modes(buf, size, ps, shapes, 2);
		assert_int_equal(rows, 0);
		(void)carve_all_modes(buf, size, ps, shapes, 3);
		/* All 0xff, all 0x00. */
		memset(buf, 0xff, size);
		assert_int_equal(carve_all_modes(buf, size, ps, shapes, 3), 0);
		memset(buf, 0, size);
		assert_int_equal(carve_all_modes(buf, size, ps, shapes, 2), 0);
		(void)carve_all_modes(buf, size, ps, shapes, 3);
		/* A last partial page. */
		(void)carve_all_modes(buf, size - 7, ps, shapes, 3);
		/* Table leaf headers with hostile fields: freeblocks that
		 * loop, run off the page or overlap; counts that do not fit;
		 * random cells. */
		for (int round = 0; round < 50; round++) {
			for (size_t i = 0; i < size; i++)
				buf[i] =
				    (unsigned char)(rng() % 4 == 0 ? rng() : 0);
			for (size_t pg = 1; pg < 6; pg++) {
				unsigned char *p = buf + pg * ps;
				uint16_t ff = (uint16_t)(rng() % ps);

				p[0] = round % 3 == 0   ? 0x0d
				       : round % 3 == 1 ? 0x05
				                        : 0x0a;
				p[1] = (unsigned char)(ff >> 8);
				p[2] = (unsigned char)ff;
				p[3] = 0;
				p[4] = (unsigned char)(rng() % 8);
				p[5] = (unsigned char)((ps / 2) >> 8);
				p[6] = 0;
				/* the freeblock: next = itself or beyond */
				if (ff + 4u <= ps) {
					p[ff] = p[1];
					p[ff + 1] = p[2];
					p[ff + 2] = (unsigned char)(rng());
					p[ff + 3] = (unsigned char)(rng());
				}
				/* a freelist trunk's count */
				p[4 + round % 4] = 0xff;
			}
			(void)carve_all_modes(buf, size, ps, shapes, 3);
		}
		free(buf);
	}
}

/* A real image with bytes flipped: whatever comes out, nothing breaks. */
static void
hostile_flips(void **state)
{
	char path[512];
	sqlite3 *db;
	unsigned char *img;
	size_t size;

	(void)state;
	db = new_db(path, sizeof path, 1024, NULL);
	exec_sql(db, "CREATE TABLE ua(id INTEGER PRIMARY KEY, user_id "
	             "INTEGER NOT NULL, op TEXT NOT NULL)");
	exec_sql(db, "CREATE TABLE big(id INTEGER PRIMARY KEY, name TEXT NOT "
	             "NULL, meta JSON)");
	fill_ua(db, "ua", 1, 300);
	for (int id = 1; id <= 8; id++)
		insert_big(db, id, 2000 + (size_t)id * 300);
	exec_sql(db, "DELETE FROM ua WHERE id % 3 = 0");
	exec_sql(db, "DELETE FROM big WHERE id % 2 = 0");
	assert_int_equal(sqlite3_close(db), SQLITE_OK);
	img = read_image(path, &size);
	for (int round = 0; round < 200; round++) {
		unsigned char *copy = malloc(size);

		assert_non_null(copy);
		memcpy(copy, img, size);
		for (int k = 0; k < 1 + round % 20; k++)
			copy[rng() % size] = (unsigned char)rng();
		(void)carve_all_modes(copy, size, 0, small_shapes,
		                      GSR_ARRAY_LEN(small_shapes));
		free(copy);
	}
	free(img);
	remove_db(path);
}

/* ---- the API ---------------------------------------------------------- */

static int
stop_at_once(void *arg, const struct gsr_carved *c)
{
	(void)c;
	(*(int *)arg)++;
	return 1;
}

static void
api_errors(void **state)
{
	static const struct gsr_shape bad[] = {
	    {"zero", 0, 0, -1, NULL, NULL, NULL},
	    {"min", 3, 4, -1, NULL, NULL, NULL},
	    {"ipk", 3, 0, 3, NULL, NULL, NULL},
	    {"ipk2", 3, 0, -2, NULL, NULL, NULL},
	    {"huge", 40000, 0, -1, NULL, NULL, NULL},
	};
	struct gsr_ctx ctx = GSR_CTX_INIT;
	struct gsr_carve_stats st;
	struct gsr_pagefile *pf;
	struct gsr_carver *cv;
	char path[512];
	sqlite3 *db;
	unsigned char *img;
	size_t size;
	int calls = 0;

	(void)state;
	db = new_db(path, sizeof path, 1024, NULL);
	exec_sql(db, "CREATE TABLE ua(id INTEGER PRIMARY KEY, user_id "
	             "INTEGER NOT NULL, op TEXT NOT NULL)");
	fill_ua(db, "ua", 1, 30);
	exec_sql(db, "DELETE FROM ua WHERE id IN (3, 9, 12)");
	assert_int_equal(sqlite3_close(db), SQLITE_OK);
	img = read_image(path, &size);
	pf = gsr_pagefile_open_mem(&ctx, img, size, 0);
	assert_non_null(pf);
	for (size_t i = 0; i < GSR_ARRAY_LEN(bad); i++) {
		assert_null(gsr_carver_new(&ctx, pf, &bad[i], 1));
		assert_int_equal(ctx.err, GSR_ERR_USAGE);
		gsr_ctx_clear(&ctx);
	}
	assert_null(gsr_carver_new(&ctx, pf, small_shapes, 0));
	gsr_ctx_clear(&ctx);
	assert_null(gsr_carver_new(&ctx, NULL, small_shapes, 1));
	gsr_ctx_clear(&ctx);
	/* The one-shot function: page 2 is the table's leaf. */
	assert_int_equal(gsr_carve_page(&ctx, pf, 2, GSR_CARVE_LIVE_LEAF,
	                                small_shapes, 3, stop_at_once, &calls,
	                                &st),
	                 1);
	assert_int_equal(calls, 1);
	assert_int_equal(st.rows, 1);
	assert_int_equal(gsr_carve_page(&ctx, pf, 2, GSR_CARVE_LIVE_LEAF,
	                                small_shapes, 3, count_row,
	                                &(uint64_t){0}, &st),
	                 0);
	assert_int_equal(st.rows, 3);
	assert_int_equal(st.pages, 1);
	/* Not a b-tree page in use: skipped. */
	assert_int_equal(gsr_carve_page(&ctx, pf, 99, GSR_CARVE_LIVE_LEAF,
	                                small_shapes, 3, count_row,
	                                &(uint64_t){0}, &st),
	                 0);
	assert_int_equal(st.pages_skipped, 1);
	cv = gsr_carver_new(&ctx, pf, small_shapes, 3);
	assert_non_null(cv);
	assert_int_equal(
	    gsr_carver_page(cv, 2, GSR_CARVE_LIVE_LEAF, NULL, NULL, NULL), -1);
	assert_int_equal(ctx.err, GSR_ERR_USAGE);
	/* After an error: no-ops. */
	assert_int_equal(gsr_carver_page(cv, 2, GSR_CARVE_LIVE_LEAF, count_row,
	                                 &(uint64_t){0}, NULL),
	                 -1);
	assert_int_equal(gsr_carver_image(cv, count_row, &(uint64_t){0}, NULL),
	                 -1);
	assert_int_equal(
	    gsr_carver_freelist(cv, count_row, &(uint64_t){0}, NULL), -1);
	assert_int_equal(gsr_carver_survey(cv), -1);
	gsr_carver_free(cv);
	assert_null(gsr_carver_new(&ctx, pf, small_shapes, 3));
	gsr_carver_free(NULL);
	gsr_pagefile_close(pf);
	free(img);
	remove_db(path);
}

/* Last: the cancel flag cannot be cleared. */
static void
carve_cancel(void **state)
{
	struct gsr_ctx ctx = GSR_CTX_INIT;
	struct gsr_pagefile *pf;
	struct gsr_carver *cv;
	char path[512];
	sqlite3 *db;
	unsigned char *img;
	size_t size;
	uint64_t rows = 0;

	(void)state;
	db = new_db(path, sizeof path, 1024, NULL);
	exec_sql(db, "CREATE TABLE big(id INTEGER PRIMARY KEY, name TEXT NOT "
	             "NULL, meta JSON)");
	exec_sql(db, "BEGIN");
	for (int id = 1; id <= 400; id++)
		insert_big(db, id, 700);
	exec_sql(db, "COMMIT");
	assert_int_equal(sqlite3_close(db), SQLITE_OK);
	img = read_image(path, &size);
	pf = gsr_pagefile_open_mem(&ctx, img, size, 0);
	assert_non_null(pf);
	cv =
	    gsr_carver_new(&ctx, pf, small_shapes, GSR_ARRAY_LEN(small_shapes));
	assert_non_null(cv);
	gsr_cancel_request();
	assert_int_equal(gsr_carver_image(cv, count_row, &rows, NULL), -1);
	assert_int_equal(ctx.err, GSR_ERR_CANCELED);
	gsr_carver_free(cv);
	gsr_pagefile_close(pf);
	free(img);
	remove_db(path);
}

static int
setup(void **state)
{
	(void)state;
	return make_tmpdir(tmpdir, sizeof tmpdir, "carve");
}

static int
teardown(void **state)
{
	(void)state;
	/* Everything in it, with what a failed test left behind. */
	return remove_tree(tmpdir);
}

/* Rows of s(id, ts, v) carved from an image, with the type of the page
 * each came from. */
struct from_pages {
	const unsigned char *img;
	uint32_t page_size;
	size_t n, index_pages, wrong;
};

static int
check_from(void *arg, const struct gsr_carved *c)
{
	struct from_pages *f = arg;
	const unsigned char *p = f->img + (size_t)(c->pgno - 1) * f->page_size;
	uint8_t type = p[c->pgno == 1 ? 100 : 0];

	f->n++;
	f->index_pages +=
	    type == GSR_PAGE_INDEX_LEAF || type == GSR_PAGE_INDEX_INTERIOR;
	/* Every row of s has v = 3 * ts. */
	if (c->n_values != 3 || c->values[1].type != GSR_V_INT ||
	    c->values[2].type != GSR_V_INT ||
	    c->values[2].i != 3 * c->values[1].i)
		f->wrong++;
	return 0;
}

/*
 * The free space of an index page holds index records: (ts, v, rowid) of
 * an index on s(ts, v) reads as a row of s(id, ts, v) once a lost header
 * is rebuilt.  Index pages in use are not carved; the deleted rows of the
 * table still are.
 */
static void
index_pages_skipped(void **state)
{
	static const uint8_t s_allowed[] = {GSR_ALLOW_NULL | GSR_ALLOW_INT,
	                                    GSR_ALLOW_INT,
	                                    GSR_ALLOW_NULL | GSR_ALLOW_INT};
	static const struct gsr_shape s_shape[] = {
	    {"s", 3, 0, 0, s_allowed, NULL, NULL},
	};
	struct gsr_ctx ctx = GSR_CTX_INIT;
	struct gsr_carve_stats st = {0};
	struct from_pages f = {0};
	struct gsr_pagefile *pf;
	struct gsr_carver *cv;
	char path[512];
	size_t size;
	sqlite3 *db;

	(void)state;
	db = new_db(path, sizeof path, 1024, NULL);
	exec_sql(
	    db,
	    "CREATE TABLE s(id INTEGER PRIMARY KEY, ts INTEGER NOT NULL, "
	    "v INTEGER); CREATE INDEX s_ts_v ON s(ts, v);"
	    "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n "
	    "WHERE i < 3000) INSERT INTO s SELECT i, 1000 + i * 7, "
	    "3 * (1000 + i * 7) FROM n;"
	    "DELETE FROM s WHERE id % 3 = 0;");
	assert_int_equal(sqlite3_close(db), SQLITE_OK);
	f.img = read_image(path, &size);
	f.page_size = 1024;
	pf = gsr_pagefile_open_mem(&ctx, f.img, size, 0);
	assert_non_null(pf);
	cv = gsr_carver_new(&ctx, pf, s_shape, 1);
	assert_non_null(cv);
	assert_int_equal(gsr_carver_image(cv, check_from, &f, &st), 0);
	print_message("# index pages: carved %zu rows, %zu from index pages, "
	              "%zu wrong; %llu pages skipped\n",
	              f.n, f.index_pages, f.wrong,
	              (unsigned long long)st.pages_skipped);
	assert_int_equal(f.index_pages, 0);
	assert_int_equal(f.wrong, 0);
	assert_true(f.n >= 900); /* of the 1000 deleted */
	assert_true(st.pages_skipped > 0);
	gsr_carver_free(cv);
	gsr_pagefile_close(pf);
	free((void *)f.img);
	remove_db(path);
}

/* ---- rowids from page order ------------------------------------------- */

struct order_check {
	size_t inferred, wrong, rows;
	int stale_mod; /* rows whose id % stale_mod == stale_mod / 2 were
	                  updated (moved), then deleted: only their last
	                  version, whose name is longer, is true */
};

/* Rows of table o (id, ts, name 'row-ID'): those whose rowid was inferred
 * from page order must have the ID their name says. */
static int
order_row(void *arg, const struct gsr_carved *c)
{
	struct order_check *o = arg;
	char name[32];
	long long id;

	o->rows++;
	if (!c->rowid_from_order)
		return 0;
	assert_false(c->rowid_known);
	o->inferred++;
	assert_int_equal(c->n_values, 3);
	assert_int_equal(c->values[2].type, GSR_V_TEXT);
	snprintf(name, sizeof name, "%.*s", (int)c->values[2].n,
	         (const char *)c->values[2].p);
	if (sscanf(name, "row-%lld", &id) != 1 || id != c->rowid ||
	    (o->stale_mod && id % o->stale_mod == o->stale_mod / 2 &&
	     strstr(name, "-moved") == NULL)) {
		print_message("# wrong: rowid %lld inferred for %s\n",
		              (long long)c->rowid, name);
		o->wrong++;
	}
	return 0;
}

/* Carve the database at path as shape o into *oc. */
static void
order_carve(const char *path, struct order_check *oc, int stale_mod)
{
	static const uint8_t o_allowed[] = {GSR_ALLOW_NULL, GSR_ALLOW_TEXT,
	                                    GSR_ALLOW_TEXT};
	static const uint8_t o_checks[] = {0, GSR_CHECK_DATETIME, 0};
	static const struct gsr_shape o_shape[] = {
	    {"o", 3, 0, 0, o_allowed, NULL, o_checks},
	};
	struct gsr_ctx ctx = GSR_CTX_INIT;
	struct gsr_pagefile *pf;
	unsigned char *img;
	size_t size;

	memset(oc, 0, sizeof *oc);
	oc->stale_mod = stale_mod;
	img = read_image(path, &size);
	pf = gsr_pagefile_open_mem(&ctx, img, size, 0);
	assert_non_null(pf);
	{
		struct gsr_carver *cv = gsr_carver_new(&ctx, pf, o_shape, 1);

		assert_non_null(cv);
		assert_int_equal(gsr_carver_image(cv, order_row, oc, NULL), 0);
		gsr_carver_free(cv);
	}
	gsr_pagefile_close(pf);
	free(img);
}

/*
 * Deleted rows between two live cells of a leaf written in insertion order
 * get their rowid from page order, and only the true one: not when a
 * freed cell's space took a later row (deleted in turn), nor when a row
 * was updated out of place, nor at the page's bounds.
 */
static void
page_order(void **state)
{
	struct order_check oc;
	char path[512];
	size_t deleted;
	sqlite3 *db;

	(void)state;
	db = new_db(path, sizeof path, 4096, NULL);
	exec_sql(db, "CREATE TABLE o(id INTEGER PRIMARY KEY, ts TEXT NOT NULL, "
	             "name TEXT NOT NULL);"
	             "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 "
	             "FROM n WHERE i < 2000) INSERT INTO o SELECT i, "
	             "strftime('%Y-%m-%d %H:%M:%f', 1700000000 + i * 60, "
	             "'unixepoch'), printf('row-%d', i) FROM n;"
	             "DELETE FROM o WHERE id % 7 = 3 OR id % 11 = 5;");
	deleted = (size_t)sqlite3_total_changes(db) - 2000;
	assert_int_equal(sqlite3_close(db), SQLITE_OK);
	order_carve(path, &oc, 0);
	print_message("# page order: %zu rows carved, %zu of the %zu deleted "
	              "with a rowid inferred, %zu wrong\n",
	              oc.rows, oc.inferred, deleted, oc.wrong);
	assert_int_equal(oc.wrong, 0);
	/* Those at a page's bounds get none, nor those of a page whose
	 * first or last row was deleted (as a row moved by an update would
	 * be): about half. */
	assert_true(oc.inferred * 10 >= deleted * 4);
	remove_db(path);

	/* Freed cells written over by later rows, deleted in turn; rows
	 * updated to another size (moved in the page). */
	db = new_db(path, sizeof path, 4096, NULL);
	exec_sql(db,
	         "CREATE TABLE o(id INTEGER PRIMARY KEY, ts TEXT NOT NULL, "
	         "name TEXT NOT NULL);"
	         "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 "
	         "FROM n WHERE i < 400) INSERT INTO o SELECT i, "
	         "strftime('%Y-%m-%d %H:%M:%f', 1700000000 + i * 60, "
	         "'unixepoch'), printf('row-%d', i) FROM n;"
	         "DELETE FROM o WHERE id % 5 = 2 AND id > 300;"
	         "WITH RECURSIVE n(i) AS (SELECT 401 UNION ALL SELECT i + 1 "
	         "FROM n WHERE i < 420) INSERT INTO o SELECT i, "
	         "strftime('%Y-%m-%d %H:%M:%f', 1700000000 + i * 60, "
	         "'unixepoch'), printf('row-%d', i) FROM n;"
	         "DELETE FROM o WHERE id > 400 AND id % 2 = 0;"
	         "UPDATE o SET name = name || '-longer' WHERE id % 9 = 4 AND "
	         "id < 200;"
	         "DELETE FROM o WHERE id % 9 = 5 AND id < 200;");
	assert_int_equal(sqlite3_close(db), SQLITE_OK);
	order_carve(path, &oc, 0);
	print_message("# page order after reuse: %zu rows carved, %zu rowids "
	              "inferred, %zu wrong\n",
	              oc.rows, oc.inferred, oc.wrong);
	assert_int_equal(oc.wrong, 0);
	remove_db(path);

	/* One row per page updated to a longer value (moved below the
	 * other cells), then deleted: its old version, between its live
	 * neighbours, must not take its rowid with stale values. */
	db = new_db(path, sizeof path, 4096, NULL);
	exec_sql(db, "CREATE TABLE o(id INTEGER PRIMARY KEY, ts TEXT NOT NULL, "
	             "name TEXT NOT NULL);"
	             "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 "
	             "FROM n WHERE i < 1000) INSERT INTO o SELECT i, "
	             "strftime('%Y-%m-%d %H:%M:%f', 1700000000 + i * 60, "
	             "'unixepoch'), printf('row-%d', i) FROM n;"
	             "UPDATE o SET name = name || '-moved-to-a-longer-cell' "
	             "WHERE id % 50 = 25;"
	             "DELETE FROM o WHERE id % 50 = 25 OR id % 13 = 6;");
	assert_int_equal(sqlite3_close(db), SQLITE_OK);
	order_carve(path, &oc, 50);
	print_message("# page order after updates: %zu rows carved, %zu "
	              "rowids inferred, %zu wrong\n",
	              oc.rows, oc.inferred, oc.wrong);
	assert_int_equal(oc.wrong, 0);
	remove_db(path);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(shape_functions),
	    cmocka_unit_test(small_freeblocks),
	    cmocka_unit_test(small_rowid_sizes),
	    cmocka_unit_test(small_overflow),
	    cmocka_unit_test(small_utf16),
	    cmocka_unit_test(small_alter),
	    cmocka_unit_test(gpustack_4096),
	    cmocka_unit_test(gpustack_1024),
	    cmocka_unit_test(hostile_pages),
	    cmocka_unit_test(hostile_flips),
	    cmocka_unit_test(api_errors),
	    cmocka_unit_test(carve_cancel),
	    cmocka_unit_test(index_pages_skipped),
	    cmocka_unit_test(page_order),
	};
	return cmocka_run_group_tests_name("carve", tests, setup, teardown);
}
