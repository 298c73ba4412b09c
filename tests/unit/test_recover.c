/* The damage corpus: gsr_recover_run() measured against a ceiling.
 *
 * A populated GPUStack 0.6.0 database (the schema of
 * tests/fixtures/schemas/0.6.0.sql, thousands of rows per table, values
 * from the rules' enum domains, long JSON values that overflow) is built
 * with the SQLite library and damaged in known ways; the WAL variants use
 * a 0.7.1 database in WAL mode, built the same way.  For each variant
 * the ceiling is computed independently of the code under test: the rows
 * whose leaf page and overflow pages are byte for byte what they were
 * (found by parsing the intact file's cells, as the file format document
 * describes them).  After recovery every original row is looked up in the
 * recovered database at its rowid:
 *   exact   present with the same values (type and bytes);
 *   flagged present with a value cut short, and marked truncated;
 *   wrong   present with other values and not marked: must be 0 for rows
 *           of the ceiling; outside it (a flipped bit inside a value,
 *           which the file format cannot reveal) it is reported only;
 * and rows the input never held must not appear.  Targets: the whole
 * ceiling for truncation, zeroed pages and broken overflow chains; 99.5 %
 * of it for bit flips.  Each variant prints its figures as a TAP comment.
 */
#include "compat.h"
#include "recover.h"

#include <inttypes.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <setjmp.h>
#include <sqlite3.h>
#include <cmocka.h>

#include "btree.h"
#include "pagefile.h"
#include "rules.h"
#include "sqlhdr.h"
#include "strbuf.h"
#include "testlib.h"

static char tmpdir[256];
static struct gsr_rules *rules;
static const struct gsr_label *l060;
static const struct gsr_label *fill_label; /* whose enum domains fill uses */
static unsigned char *clean;               /* the intact image */
static size_t clean_size;
static uint32_t page_size;

/* ---- building the database ------------------------------------------- */

static const struct strvec *
enum_of(const char *table, const char *col)
{
	for (size_t i = 0; i < fill_label->n_enums; i++)
		if (!fill_label->enums[i].array &&
		    !strcmp(fill_label->enums[i].table, table) &&
		    !strcmp(fill_label->enums[i].column, col))
			return &fill_label->enums[i].values;
	return NULL;
}

/* n rows into table, values after the declared types and enum domains;
 * every 40th JSON value is long enough to overflow a few pages. */
static void
fill(sqlite3 *db, const char *table, int n_rows)
{
	sqlite3_stmt *info = NULL, *ins = NULL;
	struct strbuf sql = STRBUF_INIT;
	char names[64][64], types[64][32];
	bool notnull[64], pk[64];
	int n = 0;

	assert_int_equal(
	    sqlite3_prepare_v2(
	        db,
	        "SELECT name, type, \"notnull\", pk FROM pragma_table_info(?1)",
	        -1, &info, NULL),
	    SQLITE_OK);
	sqlite3_bind_text(info, 1, table, -1, SQLITE_STATIC);
	while (sqlite3_step(info) == SQLITE_ROW) {
		assert_true(n < 64);
		snprintf(names[n], sizeof names[0], "%s",
		         sqlite3_column_text(info, 0));
		snprintf(types[n], sizeof types[0], "%s",
		         sqlite3_column_text(info, 1));
		notnull[n] = sqlite3_column_int(info, 2) != 0;
		pk[n] = sqlite3_column_int(info, 3) != 0;
		n++;
	}
	sqlite3_finalize(info);
	sb_addf(&sql, "INSERT INTO \"%s\" VALUES (?", table);
	for (int k = 1; k < n; k++)
		sb_adds(&sql, ",?");
	sb_adds(&sql, ")");
	assert_int_equal(sqlite3_prepare_v2(db, sb_str(&sql), -1, &ins, NULL),
	                 SQLITE_OK);
	sb_release(&sql);
	for (int i = 1; i <= n_rows; i++) {
		for (int k = 0; k < n; k++) {
			const char *t = types[k];
			const struct strvec *e = enum_of(table, names[k]);
			char buf[200];

			if (pk[k] && strstr(t, "INT")) {
				sqlite3_bind_int64(ins, k + 1, i);
			} else if (!notnull[k] && (i + k) % 7 == 0) {
				sqlite3_bind_null(ins, k + 1);
			} else if (e != NULL) {
				sqlite3_bind_text(ins, k + 1,
				                  e->v[(size_t)(i + k) % e->n],
				                  -1, SQLITE_TRANSIENT);
			} else if (strstr(t, "INT")) {
				sqlite3_bind_int64(ins, k + 1,
				                   (int64_t)i * (k + 3) % 1000);
			} else if (!strcmp(t, "BOOLEAN")) {
				sqlite3_bind_int(ins, k + 1, (i + k) % 2);
			} else if (!strcmp(t, "FLOAT")) {
				sqlite3_bind_double(ins, k + 1,
				                    i % 4 ? i * 0.37 : i / 4);
			} else if (!strcmp(t, "JSON") && i % 40 == 3) {
				size_t len = 9000 + (size_t)i;
				char *j = malloc(len + 1);

				assert_non_null(j);
				for (size_t x = 0; x < len; x++)
					j[x] = (char)('a' +
					              (x * 7 + (size_t)i) % 26);
				memcpy(j, "{\"k\":\"", 6);
				memcpy(j + len - 2, "\"}", 2);
				sqlite3_bind_text(ins, k + 1, j, (int)len,
				                  free);
			} else if (!strcmp(t, "JSON")) {
				snprintf(buf, sizeof buf,
				         "{\"row\": %d, \"gpu\": [%d, %d]}", i,
				         i % 8, k);
				sqlite3_bind_text(ins, k + 1, buf, -1,
				                  SQLITE_TRANSIENT);
			} else if (!strncmp(t, "DATE", 4) ||
			           !strcmp(t, "TIMESTAMP")) {
				snprintf(buf, sizeof buf,
				         "2025-03-%02d 12:%02d:00.%06d",
				         i % 28 + 1, k % 60, i);
				sqlite3_bind_text(ins, k + 1, buf, -1,
				                  SQLITE_TRANSIENT);
			} else {
				snprintf(buf, sizeof buf, "%s-%d-%d", names[k],
				         i, k);
				sqlite3_bind_text(ins, k + 1, buf, -1,
				                  SQLITE_TRANSIENT);
			}
		}
		if (sqlite3_step(ins) != SQLITE_DONE) {
			print_error("insert into %s: %s\n", table,
			            sqlite3_errmsg(db));
			fail();
		}
		sqlite3_reset(ins);
	}
	sqlite3_finalize(ins);
}

/*
 * A populated database of label's schema (tests/fixtures/schemas) at
 * path: every table filled, alembic_version stamped with rev, in WAL mode
 * with wal.
 */
static void
build_db(const char *label, const char *rev, const char *path, bool wal)
{
	static const struct {
		const char *name;
		int rows;
	} tables[] = {
	    {"models", 3000},
	    {"workers", 500},
	    {"system_loads", 6000},
	    {"model_instances", 2000},
	    {"model_usages", 6000},
	    {"model_files", 1000},
	    {"modelinstancemodelfilelink", 1500},
	    {"users", 300},
	    {"api_keys", 800},
	};
	char file[512], *ddl;
	sqlite3 *db = NULL;

	fill_label = gsr_rules_label(rules, label);
	assert_non_null(fill_label);
	ddl = schema_sql(label);
	unlink(path);
	assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
	exec_sql(db, "PRAGMA page_size=4096; PRAGMA secure_delete=OFF");
	if (wal)
		exec_sql(db, "PRAGMA journal_mode=WAL");
	exec_sql(db, "BEGIN");
	exec_sql(db, ddl);
	free(ddl);
	snprintf(file, sizeof file, "INSERT INTO alembic_version VALUES ('%s')",
	         rev);
	exec_sql(db, file);
	for (size_t i = 0; i < GSR_ARRAY_LEN(tables); i++)
		fill(db, tables[i].name, tables[i].rows);
	exec_sql(db, "COMMIT");
	assert_int_equal(sqlite3_close(db), SQLITE_OK);
}

static void
build_clean(void)
{
	char path[512];

	snprintf(path, sizeof path, "%s/clean.db", tmpdir);
	build_db("0.6.0", "c45e397531d1", path, false);
	clean = (unsigned char *)slurp(path, &clean_size);
	page_size = 4096;
}

/* ---- the ceiling ----------------------------------------------------- */

struct truth_row {
	int64_t rowid;
	uint32_t pgno, cell_offset;
};

struct truth_table {
	char name[64];
	uint32_t root;
	struct truth_row *rows;
	size_t n, cap;
};

static struct truth_table truth[32];
static size_t n_truth;

static int
truth_cb(void *arg, const struct gsr_row *row)
{
	struct truth_table *t = arg;

	if (t->n == t->cap) {
		t->cap = t->cap ? 2 * t->cap : 1024;
		t->rows = realloc(t->rows, t->cap * sizeof *t->rows);
		assert_non_null(t->rows);
	}
	t->rows[t->n].rowid = row->rowid;
	t->rows[t->n].pgno = row->pgno;
	t->rows[t->n].cell_offset = row->cell_offset;
	t->n++;
	return 0;
}

/* Where every row of every table of the clean image is. */
static void
build_truth(void)
{
	struct gsr_ctx ctx = GSR_CTX_INIT;
	struct gsr_pagefile *pf =
	    gsr_pagefile_open_mem(&ctx, clean, clean_size, 0);
	sqlite3 *db = NULL;
	sqlite3_stmt *st = NULL;
	char path[512];

	assert_non_null(pf);
	snprintf(path, sizeof path, "file:%s/clean.db?mode=ro", tmpdir);
	assert_int_equal(sqlite3_open_v2(path, &db,
	                                 SQLITE_OPEN_READONLY | SQLITE_OPEN_URI,
	                                 NULL),
	                 SQLITE_OK);
	assert_int_equal(
	    sqlite3_prepare_v2(
	        db,
	        "SELECT name, rootpage FROM sqlite_master WHERE type = 'table' "
	        "AND rootpage > 0 ORDER BY rowid",
	        -1, &st, NULL),
	    SQLITE_OK);
	while (sqlite3_step(st) == SQLITE_ROW) {
		struct truth_table *t = &truth[n_truth++];

		assert_true(n_truth < GSR_ARRAY_LEN(truth));
		snprintf(t->name, sizeof t->name, "%s",
		         sqlite3_column_text(st, 0));
		t->root = (uint32_t)sqlite3_column_int(st, 1);
		assert_int_equal(
		    gsr_btree_walk_table(&ctx, pf, t->root, truth_cb, t, NULL),
		    0);
	}
	sqlite3_finalize(st);
	sqlite3_close(db);
	gsr_pagefile_close(pf);
}

static bool
page_same(const unsigned char *img, size_t size, uint32_t pgno)
{
	size_t off = (size_t)(pgno - 1) * page_size;

	return pgno >= 1 && off + page_size <= size &&
	       !memcmp(img + off, clean + off, page_size);
}

/* Are the leaf page and every overflow page of the row unchanged in img?
 * The cell is parsed from the clean image by the file format document. */
static bool
row_intact(const unsigned char *img, size_t size, const struct truth_row *r)
{
	const unsigned char *page = clean + (size_t)(r->pgno - 1) * page_size;
	uint32_t usable = page_size, off = r->cell_offset, ovfl;
	uint64_t payload, rowid, x = usable - 35, m, k, local;
	int l1, l2;

	if (!page_same(img, size, r->pgno))
		return false;
	l1 = gsr_varint_get(page + off, page + usable, &payload);
	l2 = gsr_varint_get(page + off + l1, page + usable, &rowid);
	m = ((usable - 12) * 32 / 255) - 23;
	k = m + (payload - m) % (usable - 4);
	local = payload <= x ? payload : k <= x ? k : m;
	if (local == payload)
		return true;
	ovfl = gsr_get_u32(page + off + l1 + l2 + local);
	for (uint64_t left = payload - local; ovfl != 0 && left > 0;) {
		const unsigned char *op =
		    clean + (size_t)(ovfl - 1) * page_size;

		if (!page_same(img, size, ovfl))
			return false;
		left = left > usable - 4 ? left - (usable - 4) : 0;
		ovfl = gsr_get_u32(op);
	}
	return true;
}

/* ---- a variant -------------------------------------------------------- */

struct tally {
	uint64_t ceiling, exact, exact_in, flagged, wrong_in, wrong_out,
	    missing_in, extra;
};

static void
columns_equal_expr(sqlite3 *db, const char *table, struct strbuf *sb)
{
	sqlite3_stmt *st = NULL;
	int n = 0;

	assert_int_equal(
	    sqlite3_prepare_v2(db, "SELECT name FROM o.pragma_table_info(?1)",
	                       -1, &st, NULL),
	    SQLITE_OK);
	sqlite3_bind_text(st, 1, table, -1, SQLITE_STATIC);
	while (sqlite3_step(st) == SQLITE_ROW) {
		const char *c = (const char *)sqlite3_column_text(st, 0);

		sb_addf(sb,
		        "%s(typeof(r.\"%s\") = typeof(o.\"%s\") AND r.\"%s\" "
		        "IS o.\"%s\")",
		        n++ ? " AND " : "", c, c, c, c);
	}
	sqlite3_finalize(st);
	if (n == 0)
		sb_adds(sb, "1");
}

/* Compare the recovered database at rec with the clean one, over the rows
 * intact in img. */
static void
tally_variant(const char *rec, const char *led, const unsigned char *img,
              size_t size, struct tally *ty)
{
	sqlite3 *db = NULL;
	char sql[4096];

	memset(ty, 0, sizeof *ty);
	assert_int_equal(sqlite3_open_v2(rec, &db,
	                                 SQLITE_OPEN_READONLY | SQLITE_OPEN_URI,
	                                 NULL),
	                 SQLITE_OK);
	snprintf(sql, sizeof sql,
	         "ATTACH 'file:%s/clean.db?mode=ro' AS o;"
	         "ATTACH 'file:%s?mode=ro' AS l",
	         tmpdir, led);
	exec_sql(db, sql);
	for (size_t t = 0; t < n_truth; t++) {
		struct truth_table *tt = &truth[t];
		struct strbuf q = STRBUF_INIT;
		sqlite3_stmt *st = NULL;
		bool have = sqlite3_table_column_metadata(
		                db, "main", tt->name, NULL, NULL, NULL, NULL,
		                NULL, NULL) == SQLITE_OK;
		size_t i = 0;

		sb_addf(&q, "SELECT o.rowid, r.rowid IS NOT NULL, ");
		if (have) {
			columns_equal_expr(db, tt->name, &q);
			sb_addf(
			    &q,
			    ", coalesce(p.truncated, 0) FROM o.\"%s\" AS o "
			    "LEFT JOIN main.\"%s\" AS r ON r.rowid = o.rowid "
			    "LEFT JOIN l.provenance AS p ON p.tbl = '%s' AND "
			    "p.rid = o.rowid ORDER BY o.rowid",
			    tt->name, tt->name, tt->name);
		} else {
			sb_reset(&q);
			sb_addf(&q,
			        "SELECT o.rowid, 0, 0, 0 FROM o.\"%s\" AS o "
			        "ORDER BY o.rowid",
			        tt->name);
		}
		if (sqlite3_prepare_v2(db, sb_str(&q), -1, &st, NULL) !=
		    SQLITE_OK) {
			print_error("%s: %s\n", sb_str(&q), sqlite3_errmsg(db));
			fail();
		}
		while (sqlite3_step(st) == SQLITE_ROW) {
			int64_t rowid = sqlite3_column_int64(st, 0);
			bool present = sqlite3_column_int(st, 1);
			bool equal = sqlite3_column_int(st, 2);
			bool trunc = sqlite3_column_int(st, 3);
			bool intact;

			/* Rows come in rowid order in both. */
			while (i < tt->n && tt->rows[i].rowid < rowid)
				i++;
			assert_true(i < tt->n && tt->rows[i].rowid == rowid);
			intact = row_intact(img, size, &tt->rows[i]);
			ty->ceiling += intact;
			if (present && equal) {
				ty->exact++;
				ty->exact_in += intact;
			} else if (present && trunc) {
				ty->flagged++;
			} else if (present) {
				if (intact)
					ty->wrong_in++;
				else
					ty->wrong_out++;
			} else if (intact) {
				ty->missing_in++;
			}
		}
		sqlite3_finalize(st);
		if (have) {
			sb_reset(&q);
			sb_addf(
			    &q,
			    "SELECT count(*) FROM main.\"%s\" AS r WHERE NOT "
			    "EXISTS (SELECT 1 FROM o.\"%s\" AS o WHERE o.rowid "
			    "= r.rowid)",
			    tt->name, tt->name);
			assert_int_equal(
			    sqlite3_prepare_v2(db, sb_str(&q), -1, &st, NULL),
			    SQLITE_OK);
			assert_int_equal(sqlite3_step(st), SQLITE_ROW);
			ty->extra += (uint64_t)sqlite3_column_int64(st, 0);
			sqlite3_finalize(st);
		}
		sb_release(&q);
	}
	sqlite3_close(db);
}

/* Recover img (size bytes) and return its tally; the figures go to the
 * TAP output. */
static void
run_variant(const char *name, const unsigned char *img, size_t size,
            struct tally *ty, struct gsr_recover_result *res)
{
	struct gsr_ctx ctx = GSR_CTX_INIT;
	struct gsr_recover_opts opts = {.rules = rules};
	char in[512], out[512], led[512];

	snprintf(in, sizeof in, "%s/%s.db", tmpdir, name);
	snprintf(out, sizeof out, "%s/%s.rec.db", tmpdir, name);
	snprintf(led, sizeof led, "%s/%s.ledger.db", tmpdir, name);
	write_file(in, img, size);
	unlink(out);
	unlink(led);
	if (gsr_recover_run(&ctx, in, &opts, out, led, res) != 0) {
		print_error("%s: %s\n", name, ctx.msg);
		fail();
	}
	tally_variant(out, led, img, size, ty);
	printf("# %-22s ceiling %6" PRIu64 "  exact %6" PRIu64
	       " (%.2f%%)  flagged %" PRIu64 "  wrong %" PRIu64 " in / %" PRIu64
	       " outside  extra %" PRIu64 "  orphan pages %u  schema %s%s%s\n",
	       name, ty->ceiling, ty->exact_in,
	       ty->ceiling ? 100.0 * (double)ty->exact_in / (double)ty->ceiling
	                   : 100.0,
	       ty->flagged, ty->wrong_in, ty->wrong_out, ty->extra,
	       res->pages_orphan, res->schema_source,
	       res->schema_label ? " " : "",
	       res->schema_label ? res->schema_label : "");
	unlink(in);
	unlink(out);
	unlink(led);
}

static void
expect_ceiling(const struct tally *ty)
{
	assert_int_equal(ty->wrong_in, 0);
	assert_int_equal(ty->extra, 0);
	assert_int_equal(ty->exact_in, ty->ceiling);
}

static unsigned char *
copy_clean(void)
{
	unsigned char *c = malloc(clean_size);

	assert_non_null(c);
	memcpy(c, clean, clean_size);
	return c;
}

static uint32_t
root_of(const char *name)
{
	for (size_t i = 0; i < n_truth; i++)
		if (!strcmp(truth[i].name, name))
			return truth[i].root;
	fail();
	return 0;
}

/* ---- the variants ----------------------------------------------------- */

static void
intact(void **state)
{
	struct tally ty;
	struct gsr_recover_result res = GSR_RECOVER_RESULT_INIT;
	uint64_t all = 0;

	(void)state;
	run_variant("intact", clean, clean_size, &ty, &res);
	expect_ceiling(&ty);
	for (size_t i = 0; i < n_truth; i++)
		all += truth[i].n;
	assert_int_equal(ty.ceiling, all);
	assert_int_equal(res.pages_orphan, 0);
	assert_int_equal(res.pages_damaged, 0);
	gsr_recover_result_release(&res);
}

static void
truncated(void **state)
{
	static const int pct[] = {50, 90};

	(void)state;
	for (size_t i = 0; i < GSR_ARRAY_LEN(pct); i++) {
		struct tally ty;
		struct gsr_recover_result res = GSR_RECOVER_RESULT_INIT;
		char name[32];

		snprintf(name, sizeof name, "truncated-%d%%", pct[i]);
		run_variant(name, clean, clean_size * (size_t)pct[i] / 100, &ty,
		            &res);
		expect_ceiling(&ty);
		assert_true(ty.ceiling > 0);
		gsr_recover_result_release(&res);
	}
}

/* A leaf, and an interior page, of the biggest tables zeroed. */
static void
zeroed_pages(void **state)
{
	const char *tables[] = {"model_usages", "models"};

	(void)state;
	for (size_t i = 0; i < GSR_ARRAY_LEN(tables); i++) {
		uint32_t root = root_of(tables[i]);
		const unsigned char *rp =
		    clean + (size_t)(root - 1) * page_size;
		uint32_t child, leaf;
		unsigned char *img;
		struct tally ty;
		struct gsr_recover_result res = GSR_RECOVER_RESULT_INIT;
		char name[64];

		/* The root is interior; its first child's first leaf. */
		assert_int_equal(rp[0], GSR_PAGE_TABLE_INTERIOR);
		child = gsr_get_u32(rp + gsr_get_u16(rp + 12));
		leaf = child;
		while (clean[(size_t)(leaf - 1) * page_size] ==
		       GSR_PAGE_TABLE_INTERIOR) {
			const unsigned char *p =
			    clean + (size_t)(leaf - 1) * page_size;
			leaf = gsr_get_u32(p + gsr_get_u16(p + 12));
		}
		img = copy_clean();
		memset(img + (size_t)(leaf - 1) * page_size, 0, page_size);
		snprintf(name, sizeof name, "leaf-zeroed-%s", tables[i]);
		run_variant(name, img, clean_size, &ty, &res);
		expect_ceiling(&ty);
		gsr_recover_result_release(&res);
		free(img);

		img = copy_clean();
		memset(img + (size_t)(root - 1) * page_size, 0, page_size);
		snprintf(name, sizeof name, "interior-zeroed-%s", tables[i]);
		run_variant(name, img, clean_size, &ty, &res);
		expect_ceiling(&ty);
		assert_true(res.pages_orphan > 0);
		gsr_recover_result_release(&res);
		free(img);
	}
}

static void
page1_zeroed(void **state)
{
	unsigned char *img = copy_clean();
	struct tally ty;
	struct gsr_recover_result res = GSR_RECOVER_RESULT_INIT;

	(void)state;
	memset(img + 100, 0, page_size - 100);
	run_variant("page1-after-header", img, clean_size, &ty, &res);
	expect_ceiling(&ty);
	gsr_recover_result_release(&res);
	memset(img, 0, page_size);
	run_variant("page1-whole", img, clean_size, &ty, &res);
	expect_ceiling(&ty);
	gsr_recover_result_release(&res);

	/* Every page of sqlite_master zeroed: the schema can only come from
	 * the rules, by the shape of the records. */
	{
		const unsigned char *p1 = clean + 100;
		uint16_t n = gsr_get_u16(p1 + 3);

		assert_int_equal(p1[0], GSR_PAGE_TABLE_INTERIOR);
		for (uint16_t c = 0; c <= n; c++) {
			uint32_t child =
			    c < n ? gsr_get_u32(clean +
			                        gsr_get_u16(p1 + 12 + 2 * c))
			          : gsr_get_u32(p1 + 8);

			assert_int_equal(clean[(size_t)(child - 1) * page_size],
			                 GSR_PAGE_TABLE_LEAF);
			memset(img + (size_t)(child - 1) * page_size, 0,
			       page_size);
		}
	}
	run_variant("schema-lost", img, clean_size, &ty, &res);
	if (getenv("GSR_DEBUG"))
		for (size_t i = 0; i < res.n_tables; i++)
			printf("#   %s rows %" PRId64 " orphan %" PRId64
			       " rejected %" PRId64 "\n",
			       res.tables[i].name, res.tables[i].rows,
			       res.tables[i].orphan, res.tables[i].rejected);
	assert_string_equal(res.schema_source, "rules");
	/* 0.6.0 to 0.6.2 differ only in VARCHAR against TEXT. */
	assert_true(sv_contains(&res.schema_candidates, "0.6.0"));
	expect_ceiling(&ty);
	printf("# schema-lost: %.2f%% of the ceiling\n",
	       100.0 * (double)ty.exact_in / (double)ty.ceiling);
	gsr_recover_result_release(&res);
	free(img);
}

/* The chain of a long JSON value cut after its first overflow page. */
static void
overflow_broken(void **state)
{
	struct truth_table *t = NULL;
	unsigned char *img = copy_clean();
	struct tally ty;
	struct gsr_recover_result res = GSR_RECOVER_RESULT_INIT;
	size_t cut = 0;

	(void)state;
	for (size_t i = 0; i < n_truth; i++)
		if (!strcmp(truth[i].name, "models"))
			t = &truth[i];
	assert_non_null(t);
	for (size_t i = 0; i < t->n && cut < 3; i++) {
		const unsigned char *page =
		    clean + (size_t)(t->rows[i].pgno - 1) * page_size;
		uint64_t payload, rowid;
		uint32_t off = t->rows[i].cell_offset, usable = page_size, ovfl;
		int l1 = gsr_varint_get(page + off, page + usable, &payload);
		int l2 = gsr_varint_get(page + off + l1, page + usable, &rowid);
		uint64_t x = usable - 35, m = ((usable - 12) * 32 / 255) - 23;
		uint64_t k = m + (payload - m) % (usable - 4);
		uint64_t local = payload <= x ? payload : k <= x ? k : m;

		if (local == payload)
			continue;
		ovfl = gsr_get_u32(page + off + l1 + l2 + local);
		/* Its first overflow page now says the chain ends there. */
		memset(img + (size_t)(ovfl - 1) * page_size, 0, 4);
		cut++;
	}
	assert_int_equal(cut, 3);
	run_variant("overflow-broken", img, clean_size, &ty, &res);
	expect_ceiling(&ty);
	assert_int_equal(ty.flagged, 3);
	assert_int_equal(res.truncated, 3);
	gsr_recover_result_release(&res);
	free(img);
}

/* One random bit flipped in pct % of the pages (a fixed seed). */
static void
bit_flips(void **state)
{
	static const int pct[] = {1, 5};
	uint32_t n_pages = (uint32_t)(clean_size / page_size);

	(void)state;
	for (size_t i = 0; i < GSR_ARRAY_LEN(pct); i++) {
		unsigned char *img = copy_clean();
		struct tally ty;
		struct gsr_recover_result res = GSR_RECOVER_RESULT_INIT;
		uint32_t n = n_pages * (uint32_t)pct[i] / 100;
		unsigned seed = 1234567u + (unsigned)i;
		char name[32];

		for (uint32_t f = 0; f < n; f++) {
			uint32_t pg, bit;

			seed = seed * 1103515245u + 12345u;
			pg = (seed >> 8) % n_pages;
			seed = seed * 1103515245u + 12345u;
			bit = (seed >> 4) % (page_size * 8);
			img[(size_t)pg * page_size + bit / 8] ^=
			    (unsigned char)(1u << (bit % 8));
		}
		snprintf(name, sizeof name, "bitflip-%d%%", pct[i]);
		run_variant(name, img, clean_size, &ty, &res);
		assert_int_equal(ty.wrong_in, 0);
		assert_int_equal(ty.extra, 0);
		assert_true((double)ty.exact_in >= 0.995 * (double)ty.ceiling);
		gsr_recover_result_release(&res);
		free(img);
	}
}

/* ---- the WAL ------------------------------------------------------------ */

/* Rows of every table of ref, and how many the recovered database rec
 * holds with exactly the same values at the same rowid, and rows of rec
 * that ref does not have. */
static void
compare_exact(const char *rec, const char *ref, uint64_t *n_ref,
              uint64_t *exact, uint64_t *extra)
{
	sqlite3 *db = NULL;
	sqlite3_stmt *tabs = NULL;
	char sql[1200];

	*n_ref = *exact = *extra = 0;
	assert_int_equal(sqlite3_open_v2(rec, &db,
	                                 SQLITE_OPEN_READONLY | SQLITE_OPEN_URI,
	                                 NULL),
	                 SQLITE_OK);
	snprintf(sql, sizeof sql, "ATTACH 'file:%s?mode=ro' AS o", ref);
	exec_sql(db, sql);
	assert_int_equal(
	    sqlite3_prepare_v2(db,
	                       "SELECT name FROM o.sqlite_master "
	                       "WHERE type = 'table' AND rootpage > 0",
	                       -1, &tabs, NULL),
	    SQLITE_OK);
	while (sqlite3_step(tabs) == SQLITE_ROW) {
		const char *t = (const char *)sqlite3_column_text(tabs, 0);
		struct strbuf q = STRBUF_INIT;
		sqlite3_stmt *st = NULL;

		sb_addf(&q, "SELECT count(*), count(r.rowid), sum(");
		columns_equal_expr(db, t, &q);
		sb_addf(&q,
		        ") FROM o.\"%s\" AS o LEFT JOIN main.\"%s\" AS r "
		        "ON r.rowid = o.rowid",
		        t, t);
		assert_int_equal(
		    sqlite3_prepare_v2(db, sb_str(&q), -1, &st, NULL),
		    SQLITE_OK);
		assert_int_equal(sqlite3_step(st), SQLITE_ROW);
		*n_ref += (uint64_t)sqlite3_column_int64(st, 0);
		*exact += (uint64_t)sqlite3_column_int64(st, 2);
		sqlite3_finalize(st);
		sb_reset(&q);
		sb_addf(
		    &q,
		    "SELECT count(*) FROM main.\"%s\" AS r WHERE NOT EXISTS "
		    "(SELECT 1 FROM o.\"%s\" AS o WHERE o.rowid = r.rowid)",
		    t, t);
		assert_int_equal(
		    sqlite3_prepare_v2(db, sb_str(&q), -1, &st, NULL),
		    SQLITE_OK);
		assert_int_equal(sqlite3_step(st), SQLITE_ROW);
		*extra += (uint64_t)sqlite3_column_int64(st, 0);
		sqlite3_finalize(st);
		sb_release(&q);
	}
	sqlite3_finalize(tabs);
	sqlite3_close(db);
}

/* How many history rows of table tbl in the ledger have text in one of
 * their values and come from source. */
static int64_t
history_with(const char *led, const char *tbl, const char *source,
             const char *like)
{
	sqlite3 *db = NULL;
	sqlite3_stmt *st = NULL;
	int64_t n;

	assert_int_equal(sqlite3_open_v2(led, &db, SQLITE_OPEN_READONLY, NULL),
	                 SQLITE_OK);
	assert_int_equal(
	    sqlite3_prepare_v2(db,
	                       "SELECT count(DISTINCT rowid) FROM rows "
	                       "WHERE kind = 'history' AND tbl = ?1 AND source "
	                       "= ?2 AND record "
	                       "LIKE ?3",
	                       -1, &st, NULL),
	    SQLITE_OK);
	sqlite3_bind_text(st, 1, tbl, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, source, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 3, like, -1, SQLITE_STATIC);
	assert_int_equal(sqlite3_step(st), SQLITE_ROW);
	n = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	sqlite3_close(db);
	return n;
}

static void
recover_files(const char *name, const char *db, const char *wal,
              const char *journal, struct gsr_recover_result *res, char *out,
              char *led, size_t len)
{
	struct gsr_ctx ctx = GSR_CTX_INIT;
	struct gsr_recover_opts opts = {
	    .rules = rules, .wal_path = wal, .journal_path = journal};

	snprintf(out, len, "%s/%s.rec.db", tmpdir, name);
	snprintf(led, len, "%s/%s.ledger.db", tmpdir, name);
	unlink(out);
	unlink(led);
	if (gsr_recover_run(&ctx, db, &opts, out, led, res) != 0) {
		print_error("%s: %s\n", name, ctx.msg);
		fail();
	}
}

/*
 * A GPUStack 0.7.1 database (WAL mode, its own): the state A checkpointed
 * into the file, then three committed transactions in the WAL (B: 300 models
 * get description v2-ID; C: 150 of them v3-ID; D: 500 system_loads deleted),
 * then a big transaction that spills frames into the WAL but never commits
 * (every description v4-ID).  The files are copied while the connection is
 * open, as a user's copy of a running server's files would be.
 */
static void
wal_database(void **state)
{
	sqlite3 *db = NULL, *ref = NULL;
	char path[600], wal[600], cdb[512], cwal[600], refdb[512], refwal[600];
	char out[512], led[512];
	struct gsr_recover_result res = GSR_RECOVER_RESULT_INIT;
	uint64_t n_ref, exact, extra;

	(void)state;
	/* A 0.7.x database: WAL mode is its own (checkpointed at close). */
	snprintf(cdb, sizeof cdb, "%s/wal.db", tmpdir);
	snprintf(wal, sizeof wal, "%s-wal", cdb);
	build_db("0.7.1", "d19176de3b74", cdb, true);
	snprintf(path, sizeof path, "%s/wal-base.db", tmpdir);
	copy_file(cdb, path);
	assert_int_equal(sqlite3_open(cdb, &db), SQLITE_OK);
	exec_sql(db, "PRAGMA journal_mode=WAL; PRAGMA wal_autocheckpoint=0;"
	             "PRAGMA secure_delete=OFF");
	sqlite3_db_config(db, SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE, 1, NULL);
	exec_sql(
	    db,
	    "UPDATE models SET description = 'v2-' || id WHERE id % 10 = 0");
	exec_sql(
	    db,
	    "UPDATE models SET description = 'v3-' || id WHERE id % 20 = 0");
	exec_sql(db, "DELETE FROM system_loads WHERE id <= 500");
	/* The committed state: copies of the files now. */
	snprintf(refdb, sizeof refdb, "%s/walref.db", tmpdir);
	snprintf(refwal, sizeof refwal, "%s-wal", refdb);
	copy_file(cdb, refdb);
	copy_file(wal, refwal);
	exec_sql(db, "PRAGMA cache_size=8; BEGIN;"
	             "UPDATE models SET description = 'v4-' || id");
	snprintf(cwal, sizeof cwal, "%s/walcopy.db-wal", tmpdir);
	copy_file(wal, cwal);
	snprintf(path, sizeof path, "%s/walcopy.db", tmpdir);
	copy_file(cdb, path);
	exec_sql(db, "ROLLBACK");
	sqlite3_close(db);

	/* The reference view: SQLite on a copy of the committed files. */
	assert_int_equal(sqlite3_open(refdb, &ref), SQLITE_OK);
	exec_sql(ref, "PRAGMA wal_checkpoint(TRUNCATE)");
	sqlite3_close(ref);

	/* 1. With its -wal (and uncommitted frames at its end). */
	recover_files("wal", path, cwal, NULL, &res, out, led, sizeof out);
	compare_exact(out, refdb, &n_ref, &exact, &extra);
	printf("# wal-with-wal           rows %" PRIu64 "  exact %" PRIu64
	       "  extra %" PRIu64
	       "  frames %u (current %u)  history rows %" PRId64 "\n",
	       n_ref, exact, extra, res.wal_frames, res.wal_current,
	       res.history);
	assert_true(res.wal_used);
	assert_int_equal(exact, n_ref);
	assert_int_equal(extra, 0);
	/* Every older committed version in the WAL: v2 of the rows C
	 * changed again; and the uncommitted v4 versions are history. */
	assert_int_equal(history_with(led, "models", "wal-frame", "%\"v2-%"),
	                 150);
	assert_true(history_with(led, "models", "wal-frame", "%\"v4-%") > 0);
	assert_int_equal(history_with(led, "models", "wal-frame", "%\"v3-%"),
	                 0);
	gsr_recover_result_release(&res);

	/* 2. Without it: the state of the file alone (A). */
	recover_files("nowal", path, NULL, NULL, &res, out, led, sizeof out);
	snprintf(refdb, sizeof refdb, "%s/wal-base.db", tmpdir);
	compare_exact(out, refdb, &n_ref, &exact, &extra);
	printf("# wal-without-wal        rows %" PRIu64 "  exact %" PRIu64
	       "  extra %" PRIu64 "\n",
	       n_ref, exact, extra);
	assert_int_equal(exact, n_ref);
	assert_int_equal(extra, 0);
	assert_false(res.wal_used);
	gsr_recover_result_release(&res);
	unlink(cdb), unlink(wal), unlink(path), unlink(cwal);
	snprintf(path, sizeof path, "%s/walref.db", tmpdir);
	unlink(path), unlink(refwal);
	unlink(out), unlink(led);
}

/*
 * A hot rollback journal: a transaction in DELETE mode whose pages were
 * written into the file before it committed (a tiny cache), copied with
 * its -journal.  The current state is the one before the transaction; the
 * rows it had written are history ("rolled-back").
 */
static void
hot_journal(void **state)
{
	sqlite3 *db = NULL;
	char src[600], cdb[512], cj[600], out[512], led[512], j[600];
	struct gsr_recover_result res = GSR_RECOVER_RESULT_INIT;
	uint64_t n_ref, exact, extra;

	(void)state;
	snprintf(src, sizeof src, "%s/clean.db", tmpdir);
	snprintf(cdb, sizeof cdb, "%s/jr.db", tmpdir);
	snprintf(j, sizeof j, "%s-journal", cdb);
	copy_file(src, cdb);
	assert_int_equal(sqlite3_open(cdb, &db), SQLITE_OK);
	exec_sql(db, "PRAGMA journal_mode=DELETE; PRAGMA cache_size=8; BEGIN;"
	             "UPDATE models SET description = 'j-' || id");
	snprintf(out, sizeof out, "%s/jrcopy.db", tmpdir);
	snprintf(cj, sizeof cj, "%s-journal", out);
	copy_file(cdb, out);
	copy_file(j, cj);
	exec_sql(db, "ROLLBACK");
	sqlite3_close(db);
	strcpy(src, out);
	recover_files("journal", src, NULL, cj, &res, out, led, sizeof out);
	snprintf(cdb, sizeof cdb, "%s/clean.db", tmpdir);
	compare_exact(out, cdb, &n_ref, &exact, &extra);
	printf("# hot-journal            rows %" PRIu64 "  exact %" PRIu64
	       "  extra %" PRIu64 "  records %u  history rows %" PRId64 "\n",
	       n_ref, exact, extra, res.journal_records, res.history);
	assert_true(res.journal_rolled_back);
	assert_int_equal(exact, n_ref);
	assert_int_equal(extra, 0);
	assert_true(history_with(led, "models", "rolled-back", "%\"j-%") > 0);
	gsr_recover_result_release(&res);
	unlink(src), unlink(cj), unlink(out), unlink(led);
	snprintf(cdb, sizeof cdb, "%s/jr.db", tmpdir);
	unlink(cdb);
}

/*
 * Rows deleted without VACUUM (secure_delete off): scattered models rows
 * (freeblocks) and a range (freelist pages).  The ceiling is the deleted
 * rows whose record, from its third byte (the first two may lie under the
 * 4-byte freeblock header), is still in the file and fits in its page (no
 * overflow).  Every carved models row must be one of the deleted rows,
 * value for value; none may be live.
 */
static void
deleted_rows(void **state)
{
	sqlite3 *db = NULL;
	sqlite3_stmt *st = NULL;
	char src[512], path[600], out[512], led[512], sql[1400];
	struct gsr_recover_result res = GSR_RECOVER_RESULT_INIT;
	struct gsr_ctx ctx = GSR_CTX_INIT;
	struct gsr_recover_opts opts = {.rules = rules, .deleted = true};
	struct truth_table *t = NULL;
	unsigned char *img;
	size_t size;
	uint64_t ceiling = 0, found = 0, carved = 0, wrong = 0;
	uint64_t n_ref, exact, extra;

	(void)state;
	for (size_t i = 0; i < n_truth; i++)
		if (!strcmp(truth[i].name, "models"))
			t = &truth[i];
	assert_non_null(t);
	snprintf(src, sizeof src, "%s/clean.db", tmpdir);
	snprintf(path, sizeof path, "%s/deleted.db", tmpdir);
	copy_file(src, path);
	assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
	exec_sql(
	    db,
	    "PRAGMA secure_delete=OFF;"
	    "DELETE FROM models WHERE id % 7 = 0 OR id BETWEEN 2000 AND 2400");
	sqlite3_close(db);
	img = (unsigned char *)slurp(path, &size);

	/* The ceiling, from the clean file's cells. */
	for (size_t i = 0; i < t->n; i++) {
		const struct truth_row *tr = &t->rows[i];
		const unsigned char *page =
		    clean + (size_t)(tr->pgno - 1) * page_size;
		uint64_t payload, rowid;
		int l1, l2;

		if (!(tr->rowid % 7 == 0 ||
		      (tr->rowid >= 2000 && tr->rowid <= 2400)))
			continue;
		l1 = gsr_varint_get(page + tr->cell_offset, page + page_size,
		                    &payload);
		l2 = gsr_varint_get(page + tr->cell_offset + l1,
		                    page + page_size, &rowid);
		if (payload > page_size - 35)
			continue;
		if (memmem(img, size, page + tr->cell_offset + l1 + l2 + 2,
		           (size_t)payload - 2) != NULL)
			ceiling++;
	}

	snprintf(out, sizeof out, "%s/deleted.rec.db", tmpdir);
	snprintf(led, sizeof led, "%s/deleted.ledger.db", tmpdir);
	unlink(out), unlink(led);
	if (gsr_recover_run(&ctx, path, &opts, out, led, &res) != 0) {
		print_error("deleted: %s\n", ctx.msg);
		fail();
	}
	/* Live rows exactly as SQLite reads them; no deleted row among them. */
	compare_exact(out, path, &n_ref, &exact, &extra);
	assert_int_equal(exact, n_ref);
	assert_int_equal(extra, 0);

	/* Each carved models row against the clean file's row of its name
	 * (names are unique), as a JSON array with the rowid alias NULL. */
	assert_int_equal(sqlite3_open_v2(led, &db,
	                                 SQLITE_OPEN_READONLY | SQLITE_OPEN_URI,
	                                 NULL),
	                 SQLITE_OK);
	snprintf(sql, sizeof sql, "ATTACH 'file:%s?mode=ro' AS o", src);
	exec_sql(db, sql);
	{
		struct strbuf q = STRBUF_INIT, l = STRBUF_INIT,
		              rr = STRBUF_INIT;
		sqlite3_stmt *ci = NULL;
		int c = 0;

		assert_int_equal(
		    sqlite3_prepare_v2(db,
		                       "SELECT name, pk FROM "
		                       "o.pragma_table_info('models')",
		                       -1, &ci, NULL),
		    SQLITE_OK);
		while (sqlite3_step(ci) == SQLITE_ROW) {
			sb_addf(&l, "%s%s%s%s", c ? ", " : "",
			        sqlite3_column_int(ci, 1) ? "NULL" : "o.\"",
			        sqlite3_column_int(ci, 1)
			            ? ""
			            : (const char *)sqlite3_column_text(ci, 0),
			        sqlite3_column_int(ci, 1) ? "" : "\"");
			sb_addf(&rr, "%sjson_extract(d.record, '$[%d]')",
			        c ? ", " : "", c);
			c++;
		}
		sqlite3_finalize(ci);
		sb_addf(&q,
		        "SELECT d.truncated, (SELECT json_array(%s) = "
		        "json_array(%s) "
		        "AND (o.id %% 7 = 0 OR o.id BETWEEN 2000 AND 2400) "
		        "FROM o.models AS o "
		        "WHERE o.name = json_extract(d.record, '$[5]')) FROM "
		        "rows AS d "
		        "WHERE d.kind = 'deleted' AND d.tbl = 'models'",
		        sb_str(&l), sb_str(&rr));
		assert_int_equal(
		    sqlite3_prepare_v2(db, sb_str(&q), -1, &st, NULL),
		    SQLITE_OK);
		sb_release(&q), sb_release(&l), sb_release(&rr);
	}
	while (sqlite3_step(st) == SQLITE_ROW) {
		carved++;
		if (sqlite3_column_int(st, 1) == 1)
			found++;
		else if (!sqlite3_column_int(st, 0))
			wrong++;
	}
	sqlite3_finalize(st);
	sqlite3_close(db);
	printf("# deleted-rows           ceiling %" PRIu64 "  carved %" PRIu64
	       "  right %" PRIu64 " (%.1f%%)  wrong %" PRIu64
	       "  same as live %" PRId64 "  free bytes scanned %" PRIu64 "\n",
	       ceiling, carved, found,
	       ceiling ? 100.0 * (double)found / (double)ceiling : 100.0, wrong,
	       res.deleted_same, res.carve_bytes);
	if (getenv("GSR_DEBUG"))
		printf("# deleted rows kept %" PRId64 ", ledger %s\n",
		       res.deleted, led);
	assert_int_equal(wrong, 0);
	assert_true(ceiling > 0);
	assert_true((double)found >= 0.90 * (double)ceiling);
	gsr_recover_result_release(&res);
	free(img);
	unlink(path), unlink(out), unlink(led);
}

/*
 * A UTF-16le database with 32 reserved bytes per page whose page 1 is
 * zeroed whole: the page size, the reserved bytes and the text encoding
 * must all come from the pages, and the rows exactly as SQLite read them.
 */
static void
header_gone_utf16(void **state)
{
	sqlite3 *db = NULL;
	char path[600], sql[1200], out[512], led[512];
	struct gsr_recover_result res = GSR_RECOVER_RESULT_INIT;
	struct gsr_ctx ctx = GSR_CTX_INIT;
	struct gsr_recover_opts opts = {.rules = rules};
	uint64_t n_ref, exact, extra;
	unsigned char *img;
	size_t size;
	int reserve = 32;

	(void)state;
	snprintf(path, sizeof path, "%s/utf16.db", tmpdir);
	unlink(path);
	assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
	exec_sql(db, "PRAGMA encoding='UTF-16le'; PRAGMA page_size=4096");
	assert_int_equal(sqlite3_file_control(
	                     db, "main", SQLITE_FCNTL_RESERVE_BYTES, &reserve),
	                 SQLITE_OK);
	exec_sql(db, "BEGIN");
	{
		/* Another encoding cannot be attached: rows go across by
		 * value, through a second connection. */
		sqlite3 *c = NULL;
		sqlite3_stmt *st = NULL, *names = NULL;

		snprintf(sql, sizeof sql, "%s/clean.db", tmpdir);
		assert_int_equal(
		    sqlite3_open_v2(sql, &c, SQLITE_OPEN_READONLY, NULL),
		    SQLITE_OK);
		assert_int_equal(
		    sqlite3_prepare_v2(c,
		                       "SELECT sql FROM sqlite_master "
		                       "WHERE sql IS NOT NULL AND name NOT "
		                       "LIKE 'sqlite_%' ORDER BY rowid",
		                       -1, &st, NULL),
		    SQLITE_OK);
		while (sqlite3_step(st) == SQLITE_ROW)
			exec_sql(db, (const char *)sqlite3_column_text(st, 0));
		sqlite3_finalize(st);
		assert_int_equal(
		    sqlite3_prepare_v2(
		        c,
		        "SELECT name FROM sqlite_master "
		        "WHERE type = 'table' AND name NOT LIKE 'sqlite_%'",
		        -1, &names, NULL),
		    SQLITE_OK);
		while (sqlite3_step(names) == SQLITE_ROW) {
			const char *t =
			    (const char *)sqlite3_column_text(names, 0);
			sqlite3_stmt *ins = NULL;
			struct strbuf q = STRBUF_INIT;
			int n;

			snprintf(sql, sizeof sql, "SELECT * FROM \"%s\"", t);
			assert_int_equal(
			    sqlite3_prepare_v2(c, sql, -1, &st, NULL),
			    SQLITE_OK);
			n = sqlite3_column_count(st);
			sb_addf(&q, "INSERT INTO \"%s\" VALUES (?", t);
			for (int k = 1; k < n; k++)
				sb_adds(&q, ",?");
			sb_adds(&q, ")");
			assert_int_equal(
			    sqlite3_prepare_v2(db, sb_str(&q), -1, &ins, NULL),
			    SQLITE_OK);
			sb_release(&q);
			while (sqlite3_step(st) == SQLITE_ROW) {
				for (int k = 0; k < n; k++)
					sqlite3_bind_value(
					    ins, k + 1,
					    sqlite3_column_value(st, k));
				assert_int_equal(sqlite3_step(ins),
				                 SQLITE_DONE);
				sqlite3_reset(ins);
			}
			sqlite3_finalize(ins);
			sqlite3_finalize(st);
		}
		sqlite3_finalize(names);
		sqlite3_close(c);
	}
	exec_sql(db, "COMMIT");
	sqlite3_close(db);
	img = (unsigned char *)slurp(path, &size);
	memset(img, 0, 4096);
	snprintf(sql, sizeof sql, "%s/utf16-damaged.db", tmpdir);
	write_file(sql, img, size);
	free(img);
	snprintf(out, sizeof out, "%s/utf16.rec.db", tmpdir);
	snprintf(led, sizeof led, "%s/utf16.ledger.db", tmpdir);
	unlink(out), unlink(led);
	if (gsr_recover_run(&ctx, sql, &opts, out, led, &res) != 0) {
		print_error("utf16: %s\n", ctx.msg);
		fail();
	}
	compare_exact(out, path, &n_ref, &exact, &extra);
	printf("# header-gone-utf16      rows %" PRIu64 "  exact %" PRIu64
	       "  extra %" PRIu64
	       "  page size %u%s, reserved %u%s, encoding %u%s\n",
	       n_ref, exact, extra, res.info.page_size,
	       res.info.page_size_inferred ? " inferred" : "",
	       res.info.reserved, res.info.reserved_inferred ? " inferred" : "",
	       res.info.text_encoding,
	       res.info.encoding_inferred ? " inferred" : "");
	assert_int_equal(res.info.page_size, 4096);
	assert_int_equal(res.info.reserved, 32);
	assert_int_equal(res.info.text_encoding, 2);
	assert_int_equal(exact, n_ref);
	assert_int_equal(extra, 0);
	gsr_recover_result_release(&res);
	unlink(path), unlink(sql), unlink(out), unlink(led);
}

/*
 * UTF-16 databases: a carved row whose cell header is lost gets its rowid
 * from the entry of a unique index on a TEXT column, found by its key in
 * the database's encoding (UTF-16le and UTF-16be, names with characters of
 * two, three and four UTF-8 bytes), and only the true one.
 */
static void
utf16_index_rowids(void **state)
{
	static const char *const encs[] = {"UTF-16le", "UTF-16be"};

	(void)state;
	for (size_t e = 0; e < GSR_ARRAY_LEN(encs); e++) {
		struct gsr_recover_result res = GSR_RECOVER_RESULT_INIT;
		struct gsr_ctx ctx = GSR_CTX_INIT;
		struct gsr_recover_opts opts = {.deleted = true};
		char path[512], out[512], led[512], sql[600];
		sqlite3 *db = NULL;
		sqlite3_stmt *st = NULL;
		int64_t by_index = 0, wrong = 0;

		snprintf(path, sizeof path, "%s/u16-%zu.db", tmpdir, e);
		snprintf(out, sizeof out, "%s/u16-%zu.rec.db", tmpdir, e);
		snprintf(led, sizeof led, "%s/u16-%zu.ledger.db", tmpdir, e);
		unlink(path), unlink(out), unlink(led);
		assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
		snprintf(
		    sql, sizeof sql,
		    "PRAGMA encoding = '%s'; PRAGMA secure_delete = OFF;"
		    "CREATE TABLE k(id INTEGER PRIMARY KEY, name TEXT NOT "
		    "NULL UNIQUE, note TEXT NOT NULL, n INTEGER NOT NULL);"
		    "WITH RECURSIVE c(i) AS (SELECT 1 UNION ALL SELECT i + "
		    "1 FROM c WHERE i < 900) INSERT INTO k SELECT i, "
		    "printf('%%s-%%d', CASE i %% 3 WHEN 0 THEN 'ключ' WHEN "
		    "1 THEN 'キー' ELSE 'k\xf0\x9f\x94\x91' END, i), "
		    "printf('note %%d', i * 7), i * 3 FROM c;"
		    "DELETE FROM k WHERE id %% 4 = 1;",
		    encs[e]);
		exec_sql(db, sql);
		sqlite3_close(db);
		if (gsr_recover_run(&ctx, path, &opts, out, led, &res) != 0) {
			print_error("utf16 index: %s\n", ctx.msg);
			fail();
		}
		assert_int_equal(sqlite3_open(led, &db), SQLITE_OK);
		assert_int_equal(
		    sqlite3_prepare_v2(
		        db,
		        "SELECT count(*) FILTER (WHERE rowid_from = 'index'), "
		        "count(*) FILTER (WHERE rowid IS NOT NULL AND "
		        "json_extract(record, '$[1]') NOT LIKE '%-' || rowid) "
		        "FROM rows WHERE kind = 'deleted' AND tbl = 'k'",
		        -1, &st, NULL),
		    SQLITE_OK);
		assert_int_equal(sqlite3_step(st), SQLITE_ROW);
		by_index = sqlite3_column_int64(st, 0);
		wrong = sqlite3_column_int64(st, 1);
		sqlite3_finalize(st);
		sqlite3_close(db);
		printf("# utf16-index-rowids     %s: %" PRId64
		       " deleted rows carved, rowid from the index %" PRId64
		       ", wrong %" PRId64 "\n",
		       encs[e], res.deleted, by_index, wrong);
		assert_int_equal(wrong, 0);
		assert_true(by_index * 2 >= res.deleted);
		gsr_recover_result_release(&res);
		unlink(path), unlink(out), unlink(led);
	}
}

static int
setup(void **state)
{
	struct gsr_ctx ctx = GSR_CTX_INIT;
	const char *top = getenv("GSR_TOP");
	char path[512];

	(void)state;
	if (make_tmpdir(tmpdir, sizeof tmpdir, "recover"))
		return -1;
	snprintf(path, sizeof path, "%s/rules", top && *top ? top : ".");
	if (gsr_rules_load(&ctx, path, &rules, NULL) != 0 ||
	    (l060 = gsr_rules_label(rules, "0.6.0")) == NULL) {
		fprintf(stderr, "cannot load the rules at %s: %s\n", path,
		        ctx.msg);
		return -1;
	}
	build_clean();
	build_truth();
	return 0;
}

static int
teardown(void **state)
{
	(void)state;
	if (getenv("GSR_KEEP"))
		return 0;
	for (size_t i = 0; i < n_truth; i++)
		free(truth[i].rows);
	free(clean);
	gsr_rules_free(rules);
	return remove_tree(tmpdir);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(intact),
	    cmocka_unit_test(truncated),
	    cmocka_unit_test(zeroed_pages),
	    cmocka_unit_test(page1_zeroed),
	    cmocka_unit_test(overflow_broken),
	    cmocka_unit_test(bit_flips),
	    cmocka_unit_test(wal_database),
	    cmocka_unit_test(hot_journal),
	    cmocka_unit_test(deleted_rows),
	    cmocka_unit_test(header_gone_utf16),
	    cmocka_unit_test(utf16_index_rowids),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
