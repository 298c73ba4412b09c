/* Unit tests of the forensic page reader and b-tree walker.
 *
 * The decoders of bytes below them (varints, records, page headers,
 * UTF-16) are test_record.c's.  First garbage that is no database, then
 * whole databases made with the SQLite library: page sizes 512, 4096 and
 * 65536, UTF-16le and UTF-16be, reserved bytes, auto_vacuum=FULL and
 * GPUStack's 0.6.0 schema ($GSR_TOP/tests/fixtures/schemas/0.6.0.sql),
 * each with thousands of rows, values that overflow and a deleted range.
 * Every table and index is walked and compared value by value with what
 * SQLite reads.  Then copies are damaged in memory and the walker must
 * lose exactly the rows of the damaged pages and nothing else.
 */
#include "compat.h"
#include "btree.h"
#include "pagefile.h"

#include <fcntl.h>
#include <math.h>
#include <sqlite3.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <setjmp.h>
#include <cmocka.h>

#include "sqlhdr.h"
#include "strbuf.h"
#include "testlib.h"

/* ---- garbage -------------------------------------------------------- */

static int
no_rows(void *arg, const struct gsr_row *row)
{
	(void)arg;
	(void)row;
	fail_msg("a row out of nothing");
	return 1;
}

static void
open_garbage(void **state)
{
	struct gsr_ctx ctx = GSR_CTX_INIT;
	struct gsr_pagefile_info in;
	struct gsr_pagefile *pf;
	unsigned char junk[3000];
	struct gsr_walk_stats st;
	uint32_t *pages;
	size_t n;

	(void)state;
	for (size_t i = 0; i < sizeof junk; i++)
		junk[i] = (unsigned char)(i * 7 + 3);
	/* Empty, tiny, not a database: never fails, never reads past. */
	for (size_t len = 0; len <= sizeof junk; len += len < 200 ? 50 : 1400) {
		unsigned char *c = exact_copy(junk, len);

		pf = gsr_pagefile_open_mem(&ctx, c, len, 0);
		assert_non_null(pf);
		gsr_pagefile_get_info(pf, &in);
		assert_false(in.header_ok);
		assert_true(in.page_size_inferred);
		assert_int_equal(in.page_size, 4096);
		assert_int_equal(in.text_encoding, 1);
		assert_int_equal(in.n_pages, len ? 1 : 0);
		assert_null(gsr_pagefile_page(pf, 1));
		assert_null(gsr_pagefile_page(pf, 0));
		assert_int_equal(
		    gsr_btree_walk_table(&ctx, pf, 1, no_rows, NULL, &st), 0);
		assert_int_equal(st.pages_damaged, 1);
		assert_int_equal(gsr_freelist_pages(&ctx, pf, &pages, &n), 0);
		assert_int_equal(n, 0);
		free(pages);
		gsr_pagefile_close(pf);
		free(c);
	}
	/* A hint is taken when there is no header. */
	pf = gsr_pagefile_open_mem(&ctx, junk, 2048, 1024);
	gsr_pagefile_get_info(pf, &in);
	assert_int_equal(in.page_size, 1024);
	assert_int_equal(in.n_pages, 2);
	assert_non_null(gsr_pagefile_page(pf, 2));
	gsr_pagefile_close(pf);
	/* A header with the magic but page size 3000: inferred. */
	memset(junk, 0, sizeof junk);
	memcpy(junk, "SQLite format 3", 16);
	junk[16] = 3000 >> 8;
	junk[17] = 3000 & 0xff;
	junk[56 + 3] = 2;
	pf = gsr_pagefile_open_mem(&ctx, junk, sizeof junk, 0);
	gsr_pagefile_get_info(pf, &in);
	assert_false(in.header_ok);
	assert_true(in.page_size_inferred);
	assert_int_equal(in.text_encoding, 2);
	gsr_pagefile_close(pf);
	assert_false(gsr_ctx_failed(&ctx));
	gsr_pagefile_close(NULL);
}

/* ---- databases made with SQLite -------------------------------------- */

struct dbspec {
	const char *name;
	int page_size;
	const char *encoding; /* NULL: UTF-8 */
	int reserve;          /* SQLITE_FCNTL_RESERVE_BYTES */
	bool autovacuum;      /* auto_vacuum=FULL */
	bool gpustack;        /* the 0.6.0 schema, filled */
	int rows;             /* rows of table t */
	char *path;           /* once built */
};

enum {
	DB_4096,
	DB_512,
	DB_65536,
	DB_UTF16LE,
	DB_UTF16BE,
	DB_RESERVED,
	DB_AUTOVACUUM,
	DB_COUNT
};

static struct dbspec dbs[DB_COUNT] = {
    [DB_4096] = {"gpustack-4096", 4096, NULL, 0, false, true, 3000, NULL},
    [DB_512] = {"p512", 512, NULL, 0, false, false, 9000, NULL},
    [DB_65536] = {"p65536", 65536, NULL, 0, false, false, 3000, NULL},
    [DB_UTF16LE] = {"utf16le", 4096, "UTF-16le", 0, false, true, 2000, NULL},
    [DB_UTF16BE] = {"utf16be", 1024, "UTF-16be", 0, false, false, 2000, NULL},
    [DB_RESERVED] = {"reserved", 4096, NULL, 32, false, true, 2000, NULL},
    [DB_AUTOVACUUM] = {"autovacuum", 1024, NULL, 0, true, true, 2000, NULL},
};

static char tmpdir[256];

static const int64_t edge_ints[] = {
    0,
    1,
    -1,
    2,
    127,
    -128,
    128,
    255,
    32767,
    -32768,
    32768,
    8388607,
    -8388608,
    8388608,
    2147483647,
    -2147483648LL,
    2147483648LL,
    140737488355327LL,
    -140737488355328LL,
    140737488355328LL,
    INT64_MAX,
    INT64_MIN,
};

static double
edge_real(int i)
{
	switch (i % 8) {
	case 0:
		return i * 0.5 + 0.25;
	case 1:
		return -0.0;
	case 2:
		return 1e300;
	case 3:
		return -2.5e-300;
	case 4:
		return 3.141592653589793;
	case 5:
		return (double)i; /* integral, in a column without affinity */
	case 6:
		return INFINITY;
	default:
		return -1e16;
	}
}

/* The long value of row i, or 0: a few rows carry values that overflow
 * even 64 KiB pages. */
static size_t
long_len(int i, int every)
{
	return i % every == 0 ? 1000 + (size_t)((i * 7919) % 150000) : 0;
}

static void
bind_t_row(sqlite3_stmt *st, int i)
{
	char small[128];
	size_t n;
	char *big = NULL;
	unsigned char blob[32];

	if (i % 7 == 6)
		sqlite3_bind_null(st, 1);
	else
		sqlite3_bind_int64(st, 1,
		                   edge_ints[i % GSR_ARRAY_LEN(edge_ints)]);
	sqlite3_bind_double(st, 2, edge_real(i));
	n = long_len(i, 97);
	if (n != 0) {
		big = malloc(n);
		assert_non_null(big);
		for (size_t k = 0; k < n; k++)
			big[k] = (char)('a' + (k * 31 + (size_t)i) % 26);
		/* Some characters beyond ASCII, for UTF-16 and surrogates. */
		memcpy(big + n / 2, "\xc3\xa9\xe4\xb8\xad\xf0\x9f\x98\x80", 9);
		sqlite3_bind_text(st, 3, big, (int)n, free);
	} else if (i % 101 == 50) {
		sqlite3_bind_text(st, 3, "", 0, SQLITE_STATIC);
	} else {
		snprintf(small, sizeof small,
		         "row %d \xc3\xa9\xe4\xb8\xad\xf0\x9f\x98\x80 %x", i,
		         (unsigned)i * 2654435761u);
		sqlite3_bind_text(st, 3, small, -1, SQLITE_TRANSIENT);
	}
	n = long_len(i, 89);
	if (n != 0) {
		unsigned char *b = malloc(n);

		assert_non_null(b);
		for (size_t k = 0; k < n; k++)
			b[k] = (unsigned char)(k * 13 + (size_t)i);
		sqlite3_bind_blob(st, 4, b, (int)n, free);
	} else if (i % 5 == 0) {
		sqlite3_bind_zeroblob(st, 4, 0);
	} else {
		for (size_t k = 0; k < sizeof blob; k++)
			blob[k] = (unsigned char)(k + (size_t)i);
		sqlite3_bind_blob(st, 4, blob, i % 17 + 1, SQLITE_TRANSIENT);
	}
	if (i % 3 == 0)
		sqlite3_bind_null(st, 5);
	else if (i % 3 == 1)
		sqlite3_bind_int64(st, 5, (int64_t)i * 1000003);
	else
		sqlite3_bind_text(st, 5, "e", -1, SQLITE_STATIC);
}

/* The GPUStack 0.6.0 schema as tests/lib.sh's mkdb makes it: without the
 * comment lines and without sqlite_sequence, which SQLite makes itself. */
static void
create_gpustack(sqlite3 *db)
{
	char *sql = schema_sql("0.6.0");

	exec_sql(db, sql);
	exec_sql(db, "INSERT INTO alembic_version VALUES ('c45e397531d1')");
	free(sql);
}

/* Fill a table of the GPUStack schema with n rows whose values follow the
 * declared types; JSON columns of a few rows overflow the page. */
static void
fill_generic(sqlite3 *db, const char *table, int n_rows)
{
	sqlite3_stmt *info = NULL, *ins = NULL;
	char sql[512], types[64][32];
	bool notnull[64], pk[64];
	int n_cols = 0;

	assert_int_equal(
	    sqlite3_prepare_v2(
	        db, "SELECT type, \"notnull\", pk FROM pragma_table_info(?1)",
	        -1, &info, NULL),
	    SQLITE_OK);
	sqlite3_bind_text(info, 1, table, -1, SQLITE_STATIC);
	while (sqlite3_step(info) == SQLITE_ROW) {
		assert_true(n_cols < 64);
		snprintf(types[n_cols], sizeof types[0], "%s",
		         (const char *)sqlite3_column_text(info, 0));
		notnull[n_cols] = sqlite3_column_int(info, 1) != 0;
		pk[n_cols] = sqlite3_column_int(info, 2) != 0;
		n_cols++;
	}
	sqlite3_finalize(info);
	assert_true(n_cols > 0);
	{
		int len = snprintf(sql, sizeof sql,
		                   "INSERT INTO \"%s\" VALUES (?", table);

		for (int k = 1; k < n_cols; k++)
			len +=
			    snprintf(sql + len, sizeof sql - (size_t)len, ",?");
		snprintf(sql + len, sizeof sql - (size_t)len, ")");
	}
	assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &ins, NULL),
	                 SQLITE_OK);
	for (int i = 1; i <= n_rows; i++) {
		for (int k = 0; k < n_cols; k++) {
			const char *t = types[k];
			char buf[160];

			if (!notnull[k] && !pk[k] && (i + k) % 5 == 0) {
				sqlite3_bind_null(ins, k + 1);
			} else if (strstr(t, "INT") != NULL) {
				sqlite3_bind_int64(
				    ins, k + 1,
				    pk[k] ? i : (int64_t)i * (k + 3));
			} else if (strcmp(t, "BOOLEAN") == 0) {
				sqlite3_bind_int(ins, k + 1, (i + k) % 2);
			} else if (strcmp(t, "FLOAT") == 0) {
				/* Integral values are stored as integers in
				 * a REAL column. */
				sqlite3_bind_double(
				    ins, k + 1, i % 4 == 0 ? i / 4 : i * 0.37);
			} else if (strcmp(t, "JSON") == 0 && i % 50 == 7) {
				size_t n = 6000 + (size_t)i * 3;
				char *j = malloc(n + 1);

				assert_non_null(j);
				memset(j, 'x', n);
				memcpy(j, "{\"k\":\"", 6);
				memcpy(j + n - 2, "\"}", 2);
				j[n] = '\0';
				sqlite3_bind_text(ins, k + 1, j, (int)n, free);
			} else if (strcmp(t, "JSON") == 0) {
				snprintf(buf, sizeof buf,
				         "{\"row\": %d, \"gpu\": [%d, %d]}", i,
				         i % 8, k);
				sqlite3_bind_text(ins, k + 1, buf, -1,
				                  SQLITE_TRANSIENT);
			} else if (strncmp(t, "DATE", 4) == 0 ||
			           strcmp(t, "TIMESTAMP") == 0) {
				snprintf(buf, sizeof buf,
				         "2025-03-%02d 12:%02d:00.%06d",
				         i % 28 + 1, k % 60, i);
				sqlite3_bind_text(ins, k + 1, buf, -1,
				                  SQLITE_TRANSIENT);
			} else {
				snprintf(buf, sizeof buf,
				         "%s-%d-%d-caf\xc3\xa9", table, k, i);
				sqlite3_bind_text(ins, k + 1, buf, -1,
				                  SQLITE_TRANSIENT);
			}
		}
		assert_int_equal(sqlite3_step(ins), SQLITE_DONE);
		sqlite3_reset(ins);
	}
	sqlite3_finalize(ins);
}

static void
fill_gpustack(sqlite3 *db)
{
	static const struct {
		const char *name;
		int rows;
	} tables[] = {
	    {"models", 2000},
	    {"workers", 150},
	    {"system_loads", 400},
	    {"model_instances", 300},
	    {"model_usages", 300},
	    {"model_files", 150},
	    {"modelinstancemodelfilelink", 200},
	    {"users", 60},
	    {"api_keys", 100},
	};

	for (size_t i = 0; i < GSR_ARRAY_LEN(tables); i++)
		fill_generic(db, tables[i].name, tables[i].rows);
	exec_sql(db, "DELETE FROM models WHERE id BETWEEN 500 AND 800");
	exec_sql(db, "DELETE FROM users WHERE id > 50");
}

static const char *
build_db(int which)
{
	struct dbspec *s = &dbs[which];
	sqlite3 *db = NULL;
	sqlite3_stmt *st = NULL;
	char path[512], sql[256];

	if (s->path != NULL)
		return s->path;
	snprintf(path, sizeof path, "%s/%s.db", tmpdir, s->name);
	assert_int_equal(
	    sqlite3_open_v2(path, &db,
	                    SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL),
	    SQLITE_OK);
	if (s->reserve) {
		int n = s->reserve;

		assert_int_equal(
		    sqlite3_file_control(db, "main", SQLITE_FCNTL_RESERVE_BYTES,
		                         &n),
		    SQLITE_OK);
	}
	snprintf(sql, sizeof sql, "PRAGMA page_size=%d", s->page_size);
	exec_sql(db, sql);
	if (s->encoding != NULL) {
		snprintf(sql, sizeof sql, "PRAGMA encoding='%s'", s->encoding);
		exec_sql(db, sql);
	}
	if (s->autovacuum)
		exec_sql(db, "PRAGMA auto_vacuum=FULL");
	exec_sql(db, "PRAGMA journal_mode=DELETE");
	exec_sql(db, "BEGIN");
	exec_sql(db, "CREATE TABLE t(a, b, c, d, e)");
	exec_sql(db, "CREATE INDEX t_c ON t(c)");
	assert_int_equal(
	    sqlite3_prepare_v2(db, "INSERT INTO t VALUES (?, ?, ?, ?, ?)", -1,
	                       &st, NULL),
	    SQLITE_OK);
	for (int i = 1; i <= s->rows; i++) {
		bind_t_row(st, i);
		assert_int_equal(sqlite3_step(st), SQLITE_DONE);
		sqlite3_reset(st);
	}
	sqlite3_finalize(st);
	if (s->gpustack) {
		create_gpustack(db);
		fill_gpustack(db);
	}
	exec_sql(db, "COMMIT");
	snprintf(sql, sizeof sql, "DELETE FROM t WHERE rowid BETWEEN %d AND %d",
	         s->rows / 3, s->rows / 3 + s->rows / 10);
	exec_sql(db, sql);
	assert_int_equal(sqlite3_close(db), SQLITE_OK);
	s->path = strdup(path);
	assert_non_null(s->path);
	return s->path;
}

/* ---- comparing a walk with SQLite ----------------------------------- */

struct rowrec {
	int64_t rowid;
	uint32_t pgno, cell_offset;
	size_t biggest; /* the largest TEXT or BLOB value */
};

struct cmp {
	sqlite3_stmt *lookup; /* SELECT rowid, * FROM tbl WHERE rowid = ?1 */
	int n_cols;
	int ipk; /* the INTEGER PRIMARY KEY column, or -1 */
	bool real_aff[64];
	int key_cols[64]; /* index walks: the table column of each key */
	int n_keys;
	bool index;
	bool started;
	int64_t last_rowid;
	uint64_t delivered, exact, prefix, mismatches, out_of_order;
	struct rowrec *recs;
	size_t n_recs, cap_recs;
};

/* Compare value v with column col of the lookup row.  Returns 0 when it
 * is exactly what SQLite reads, 1 when it is a flagged, truncated prefix
 * of it, -1 otherwise. */
static int
cmp_value(const struct cmp *c, const struct gsr_value *v, int col,
          bool real_aff, bool is_ipk, int64_t rowid)
{
	sqlite3_stmt *st = c->lookup;
	int t = sqlite3_column_type(st, col);
	const unsigned char *p = NULL;
	size_t n = 0;
	double d;

	if (t == SQLITE_TEXT) {
		p = sqlite3_column_text(st, col);
		n = (size_t)sqlite3_column_bytes(st, col);
	} else if (t == SQLITE_BLOB) {
		p = sqlite3_column_blob(st, col);
		n = (size_t)sqlite3_column_bytes(st, col);
	}
	if (v->truncated) {
		if (v->type == GSR_V_NULL)
			return 1;
		if ((v->type == GSR_V_TEXT && t == SQLITE_TEXT) ||
		    (v->type == GSR_V_BLOB && t == SQLITE_BLOB))
			return v->n < n && memcmp(v->p, p, v->n) == 0 ? 1 : -1;
		return -1;
	}
	switch (v->type) {
	case GSR_V_NULL:
		if (t == SQLITE_NULL)
			return 0;
		return is_ipk && t == SQLITE_INTEGER &&
		               sqlite3_column_int64(st, col) == rowid
		           ? 0
		           : -1;
	case GSR_V_INT:
		if (t == SQLITE_INTEGER)
			return sqlite3_column_int64(st, col) == v->i ? 0 : -1;
		return t == SQLITE_FLOAT && real_aff &&
		               sqlite3_column_double(st, col) == (double)v->i
		           ? 0
		           : -1;
	case GSR_V_REAL:
		d = sqlite3_column_double(st, col);
		return t == SQLITE_FLOAT && memcmp(&d, &v->r, sizeof d) == 0
		           ? 0
		           : -1;
	case GSR_V_TEXT:
		return t == SQLITE_TEXT && n == v->n &&
		               (n == 0 || memcmp(p, v->p, n) == 0)
		           ? 0
		           : -1;
	case GSR_V_BLOB:
		return t == SQLITE_BLOB && n == v->n &&
		               (n == 0 || memcmp(p, v->p, n) == 0)
		           ? 0
		           : -1;
	}
	return -1;
}

static int
cmp_row(void *arg, const struct gsr_row *row)
{
	struct cmp *c = arg;
	int64_t rowid = row->rowid;
	bool bad = false, cut = false;
	size_t biggest = 0;

	c->delivered++;
	if (c->index) {
		/* The key's last value is the rowid of the table row. */
		if (row->n_values != (size_t)c->n_keys + 1 ||
		    row->values[c->n_keys].type != GSR_V_INT) {
			c->mismatches++;
			return 0;
		}
		rowid = row->values[c->n_keys].i;
	} else {
		if (c->started && rowid <= c->last_rowid)
			c->out_of_order++;
		c->started = true;
		c->last_rowid = rowid;
	}
	sqlite3_bind_int64(c->lookup, 1, rowid);
	if (sqlite3_step(c->lookup) != SQLITE_ROW) {
		print_message("rowid %lld: not in SQLite\n", (long long)rowid);
		c->mismatches++;
		sqlite3_reset(c->lookup);
		return 0;
	}
	if (!c->index && row->n_values != (size_t)c->n_cols)
		bad = true;
	for (size_t k = 0; !bad && k < row->n_values; k++) {
		int col = c->index ? c->key_cols[k] : (int)k;
		int r;

		if (c->index && k == (size_t)c->n_keys)
			break;
		r = cmp_value(c, &row->values[k], col + 1, c->real_aff[col],
		              col == c->ipk, rowid);
		if (r < 0) {
			if (c->mismatches < 5)
				print_message("rowid %lld: value %zu differs"
				              " (type %d, n %zu)\n",
				              (long long)rowid, k,
				              row->values[k].type,
				              row->values[k].n);
			bad = true;
		}
		cut |= r == 1;
		if (row->values[k].type >= GSR_V_TEXT &&
		    row->values[k].n > biggest)
			biggest = row->values[k].n;
	}
	sqlite3_reset(c->lookup);
	if (bad || cut != row->truncated)
		c->mismatches++;
	else if (cut)
		c->prefix++;
	else
		c->exact++;
	if (!c->index) {
		assert_int_equal(gsr_grow((void **)&c->recs, &c->cap_recs,
		                          c->n_recs + 1, sizeof *c->recs),
		                 0);
		c->recs[c->n_recs].rowid = rowid;
		c->recs[c->n_recs].pgno = row->pgno;
		c->recs[c->n_recs].cell_offset = row->cell_offset;
		c->recs[c->n_recs].biggest = biggest;
		c->n_recs++;
	}
	return 0;
}

static bool
real_affinity(const char *decl)
{
	char up[64];
	size_t i;

	for (i = 0; decl[i] != '\0' && i < sizeof up - 1; i++)
		up[i] = (char)(decl[i] >= 'a' && decl[i] <= 'z' ? decl[i] - 32
		                                                : decl[i]);
	up[i] = '\0';
	if (strstr(up, "INT") || strstr(up, "CHAR") || strstr(up, "CLOB") ||
	    strstr(up, "TEXT") || strstr(up, "BLOB") || up[0] == '\0')
		return false;
	return strstr(up, "REAL") || strstr(up, "FLOA") || strstr(up, "DOUB");
}

static void
cmp_init(struct cmp *c, sqlite3 *db, const char *table)
{
	sqlite3_stmt *st = NULL;
	char sql[256];
	int n_pk = 0, pk_col = -1;
	bool pk_integer = false;

	memset(c, 0, sizeof *c);
	c->ipk = -1;
	snprintf(sql, sizeof sql,
	         "SELECT rowid, * FROM \"%s\" WHERE rowid = ?1", table);
	assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &c->lookup, NULL),
	                 SQLITE_OK);
	c->n_cols = sqlite3_column_count(c->lookup) - 1;
	assert_true(c->n_cols <= 64);
	assert_int_equal(sqlite3_prepare_v2(
	                     db,
	                     "SELECT cid, type, pk FROM pragma_table_info(?1)",
	                     -1, &st, NULL),
	                 SQLITE_OK);
	sqlite3_bind_text(st, 1, table, -1, SQLITE_STATIC);
	while (sqlite3_step(st) == SQLITE_ROW) {
		int cid = sqlite3_column_int(st, 0);
		const char *type = (const char *)sqlite3_column_text(st, 1);

		c->real_aff[cid] = real_affinity(type ? type : "");
		if (sqlite3_column_int(st, 2) > 0) {
			n_pk++;
			pk_col = cid;
			pk_integer = type != NULL &&
			             sqlite3_stricmp(type, "INTEGER") == 0;
		}
	}
	sqlite3_finalize(st);
	if (n_pk == 1 && pk_integer)
		c->ipk = pk_col;
}

static void
cmp_release(struct cmp *c)
{
	sqlite3_finalize(c->lookup);
	free(c->recs);
	c->recs = NULL;
}

/* Walk table `table` (root) of pf into c, which the caller releases. */
static void
walk_table(sqlite3 *db, struct gsr_pagefile *pf, const char *table,
           uint32_t root, struct cmp *c, struct gsr_walk_stats *st)
{
	struct gsr_ctx ctx = GSR_CTX_INIT;

	cmp_init(c, db, table);
	assert_int_equal(gsr_btree_walk_table(&ctx, pf, root, cmp_row, c, st),
	                 0);
	assert_false(gsr_ctx_failed(&ctx));
	assert_int_equal(st->rows, c->delivered);
}

/* The table must come out whole and exact. */
static void
check_table_exact(sqlite3 *db, struct gsr_pagefile *pf, const char *table,
                  uint32_t root)
{
	struct gsr_walk_stats st;
	struct cmp c;

	walk_table(db, pf, table, root, &c, &st);
	if (c.mismatches || c.delivered != (uint64_t)count_rows(db, table))
		print_error("table %s: %llu delivered, %llu exact, %llu "
		            "mismatches, %lld in SQLite\n",
		            table, (unsigned long long)c.delivered,
		            (unsigned long long)c.exact,
		            (unsigned long long)c.mismatches,
		            (long long)count_rows(db, table));
	assert_int_equal(c.mismatches, 0);
	assert_int_equal(c.out_of_order, 0);
	assert_int_equal(c.exact, c.delivered);
	assert_int_equal(c.delivered, count_rows(db, table));
	assert_int_equal(st.pages_damaged, 0);
	assert_int_equal(st.cells_damaged, 0);
	assert_int_equal(st.rows_truncated, 0);
	assert_true(st.pages_visited > 0);
	cmp_release(&c);
}

/* Every entry of index `index` of `table`, keys equal to the table's
 * columns, one per row. */
static void
check_index_exact(sqlite3 *db, struct gsr_pagefile *pf, const char *index,
                  const char *table, uint32_t root)
{
	struct gsr_ctx ctx = GSR_CTX_INIT;
	struct gsr_walk_stats st;
	sqlite3_stmt *q = NULL;
	struct cmp c;

	cmp_init(&c, db, table);
	c.index = true;
	assert_int_equal(
	    sqlite3_prepare_v2(
	        db, "SELECT cid FROM pragma_index_info(?1) ORDER BY seqno", -1,
	        &q, NULL),
	    SQLITE_OK);
	sqlite3_bind_text(q, 1, index, -1, SQLITE_STATIC);
	while (sqlite3_step(q) == SQLITE_ROW)
		c.key_cols[c.n_keys++] = sqlite3_column_int(q, 0);
	sqlite3_finalize(q);
	assert_true(c.n_keys > 0);
	assert_int_equal(gsr_btree_walk_index(&ctx, pf, root, cmp_row, &c, &st),
	                 0);
	if (c.mismatches)
		print_error("index %s: %llu mismatches\n", index,
		            (unsigned long long)c.mismatches);
	assert_int_equal(c.mismatches, 0);
	assert_int_equal(c.exact, c.delivered);
	assert_int_equal(c.delivered, count_rows(db, table));
	assert_int_equal(st.pages_damaged, 0);
	assert_int_equal(st.cells_damaged, 0);
	cmp_release(&c);
}

/* Every table (sqlite_master included) and index of the database, except
 * `skip`, walked and compared. */
static void
check_all_exact(sqlite3 *db, struct gsr_pagefile *pf, const char *skip)
{
	sqlite3_stmt *st = NULL;
	int n_tables = 0, n_indexes = 0;

	check_table_exact(db, pf, "sqlite_master", 1);
	assert_int_equal(
	    sqlite3_prepare_v2(
	        db,
	        "SELECT type, name, tbl_name, rootpage FROM sqlite_master "
	        "WHERE rootpage > 0 ORDER BY rowid",
	        -1, &st, NULL),
	    SQLITE_OK);
	while (sqlite3_step(st) == SQLITE_ROW) {
		const char *type = (const char *)sqlite3_column_text(st, 0);
		const char *name = (const char *)sqlite3_column_text(st, 1);
		const char *tbl = (const char *)sqlite3_column_text(st, 2);
		uint32_t root = (uint32_t)sqlite3_column_int64(st, 3);

		if (skip != NULL && strcmp(tbl, skip) == 0)
			continue;
		if (strcmp(type, "table") == 0) {
			check_table_exact(db, pf, name, root);
			n_tables++;
		} else {
			check_index_exact(db, pf, name, tbl, root);
			n_indexes++;
		}
	}
	sqlite3_finalize(st);
	assert_true(n_tables >= 1);
	assert_true(n_indexes >= 1);
}

static sqlite3 *
open_ro(const char *path)
{
	sqlite3 *db = NULL;

	assert_int_equal(sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL),
	                 SQLITE_OK);
	return db;
}

static int64_t
pragma_int(sqlite3 *db, const char *sql)
{
	sqlite3_stmt *st = NULL;
	int64_t v;

	assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_step(st), SQLITE_ROW);
	v = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	return v;
}

/* Build database `which`, check its header info, then walk everything
 * through a file descriptor and through memory. */
static void
check_db(int which, const char *skip)
{
	const struct dbspec *s = &dbs[which];
	const char *path = build_db(which);
	struct gsr_ctx ctx = GSR_CTX_INIT;
	struct gsr_pagefile_info in;
	struct gsr_pagefile *pf;
	sqlite3 *db = open_ro(path);
	unsigned char *img;
	uint32_t *pages;
	size_t size, n;
	int fd;

	img = read_image(path, &size);
	fd = open(path, O_RDONLY);
	assert_true(fd >= 0);
	pf = gsr_pagefile_open_fd(&ctx, fd, size, 0);
	assert_non_null(pf);
	gsr_pagefile_get_info(pf, &in);
	assert_true(in.header_ok);
	assert_false(in.page_size_inferred);
	assert_int_equal(in.page_size, s->page_size);
	assert_int_equal(in.reserved, s->reserve);
	assert_int_equal(in.usable_size, s->page_size - s->reserve);
	assert_int_equal(in.n_pages, size / (size_t)s->page_size);
	assert_int_equal(in.header_pages, in.n_pages);
	assert_int_equal(in.text_encoding,
	                 s->encoding == NULL                    ? 1
	                 : strcmp(s->encoding, "UTF-16le") == 0 ? 2
	                                                        : 3);
	assert_int_equal(in.autovacuum != 0, s->autovacuum);
	assert_int_equal(in.freelist_count,
	                 pragma_int(db, "PRAGMA freelist_count"));
	/* Page 1 is the sqlite_master leaf or interior page. */
	assert_true(gsr_btree_page_type(pf, 1) == GSR_PAGE_TABLE_LEAF ||
	            gsr_btree_page_type(pf, 1) == GSR_PAGE_TABLE_INTERIOR);
	assert_int_equal(gsr_btree_page_type(pf, 0), 0);
	assert_int_equal(gsr_btree_page_type(pf, in.n_pages + 1), 0);
	check_all_exact(db, pf, skip);

	/* The freelist: as many pages as the header counts, all distinct,
	 * none of them a page of a table b-tree. */
	assert_int_equal(gsr_freelist_pages(&ctx, pf, &pages, &n), 0);
	assert_int_equal(n, in.freelist_count);
	if (!s->autovacuum)
		assert_true(n > 0);
	for (size_t i = 0; i < n; i++) {
		assert_true(pages[i] >= 2 && pages[i] <= in.n_pages);
		for (size_t j = 0; j < i; j++)
			assert_true(pages[j] != pages[i]);
	}
	free(pages);
	gsr_pagefile_close(pf);
	close(fd);
	assert_false(gsr_ctx_failed(&ctx));

	/* The same from memory, with a hint that the header overrides. */
	pf = gsr_pagefile_open_mem(&ctx, img, size, 512);
	assert_non_null(pf);
	gsr_pagefile_get_info(pf, &in);
	assert_int_equal(in.page_size, s->page_size);
	assert_false(in.page_size_inferred);
	check_all_exact(db, pf, skip);
	gsr_pagefile_close(pf);
	free(img);
	sqlite3_close(db);
}

static void
db_gpustack_4096(void **state)
{
	(void)state;
	check_db(DB_4096, NULL);
}

static void
db_page_512(void **state)
{
	(void)state;
	check_db(DB_512, NULL);
}

static void
db_page_65536(void **state)
{
	(void)state;
	check_db(DB_65536, NULL);
}

static void
db_utf16be(void **state)
{
	(void)state;
	check_db(DB_UTF16BE, NULL);
}

static void
db_reserved(void **state)
{
	(void)state;
	check_db(DB_RESERVED, NULL);
}

/* UTF-16le, with a table u of one TEXT that is not valid UTF-16 (an
 * unpaired surrogate, stored as given): delivered as a flagged BLOB. */
static int
grab_first(void *arg, const struct gsr_row *row)
{
	struct gsr_value *v = arg;

	assert_int_equal(row->n_values, 1);
	*v = row->values[0];
	/* The bytes belong to the walker: keep a copy. */
	v->p = exact_copy(v->p, v->n);
	return 1;
}

static void
db_utf16le(void **state)
{
	static const unsigned char bad[] = {'a', 0, 0x00, 0xdc, 'b', 0};
	const char *path;
	struct gsr_ctx ctx = GSR_CTX_INIT;
	struct gsr_pagefile *pf;
	struct gsr_walk_stats st;
	struct gsr_value v;
	sqlite3 *db = NULL;
	sqlite3_stmt *ins = NULL;
	unsigned char *img;
	size_t size;

	(void)state;
	path = build_db(DB_UTF16LE);
	assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
	if (pragma_int(db, "SELECT count(*) FROM sqlite_master "
	                   "WHERE name = 'u'") == 0) {
		exec_sql(db, "CREATE TABLE u(x)");
		assert_int_equal(sqlite3_prepare_v2(db,
		                                    "INSERT INTO u VALUES (?)",
		                                    -1, &ins, NULL),
		                 SQLITE_OK);
		/* Native order is little-endian here, as the database: the
		 * bytes are stored as given. */
		sqlite3_bind_text16(ins, 1, bad, sizeof bad, SQLITE_STATIC);
		assert_int_equal(sqlite3_step(ins), SQLITE_DONE);
		sqlite3_finalize(ins);
	}
	sqlite3_close(db);
	check_db(DB_UTF16LE, "u");

	db = open_ro(path);
	img = read_image(path, &size);
	pf = gsr_pagefile_open_mem(&ctx, img, size, 0);
	assert_int_equal(gsr_btree_walk_table(&ctx, pf, rootpage_of(db, "u"),
	                                      grab_first, &v, &st),
	                 1);
	assert_int_equal(v.type, GSR_V_BLOB);
	assert_true(v.encoding_error);
	assert_false(v.truncated);
	assert_int_equal(v.n, sizeof bad);
	assert_memory_equal(v.p, bad, sizeof bad);
	free((void *)v.p);
	gsr_pagefile_close(pf);
	free(img);
	sqlite3_close(db);
}

/* auto_vacuum=FULL: pointer-map pages, which the walk never enters, and
 * whose entries agree with the tree. */
static void
db_autovacuum(void **state)
{
	const char *path;
	struct gsr_ctx ctx = GSR_CTX_INIT;
	struct gsr_pagefile_info in;
	struct gsr_pagefile *pf;
	struct gsr_walk_stats st;
	struct cmp c;
	sqlite3 *db;
	unsigned char *img;
	size_t size;
	uint32_t root, parent;
	uint8_t type;
	int n_map = 0;

	(void)state;
	check_db(DB_AUTOVACUUM, NULL);
	path = build_db(DB_AUTOVACUUM);
	db = open_ro(path);
	img = read_image(path, &size);
	pf = gsr_pagefile_open_mem(&ctx, img, size, 0);
	gsr_pagefile_get_info(pf, &in);
	assert_true(gsr_ptrmap_is_map_page(pf, 2));
	assert_false(gsr_ptrmap_is_map_page(pf, 1));
	assert_false(gsr_ptrmap_is_map_page(pf, 3));
	for (uint32_t p = 1; p <= in.n_pages; p++) {
		if (gsr_ptrmap_is_map_page(pf, p)) {
			n_map++;
			assert_int_equal(gsr_btree_page_type(pf, p), 0);
			assert_int_equal(gsr_ptrmap_get(pf, p, &type, &parent),
			                 -1);
		}
	}
	/* 1024-byte pages: a map page has 1024 / 5 = 204 entries, so one
	 * comes every 205 pages from page 2. */
	assert_int_equal(n_map, (in.n_pages - 2) / 205 + 1);
	assert_true(n_map >= 2);
	root = rootpage_of(db, "t");
	assert_int_equal(gsr_ptrmap_get(pf, root, &type, &parent), 0);
	assert_int_equal(type, GSR_PTRMAP_ROOTPAGE);
	assert_int_equal(parent, 0);
	walk_table(db, pf, "t", root, &c, &st);
	assert_int_equal(c.mismatches, 0);
	for (size_t i = 0; i < c.n_recs; i++) {
		assert_false(gsr_ptrmap_is_map_page(pf, c.recs[i].pgno));
		assert_int_equal(
		    gsr_ptrmap_get(pf, c.recs[i].pgno, &type, &parent), 0);
		assert_int_equal(type, c.recs[i].pgno == root
		                           ? GSR_PTRMAP_ROOTPAGE
		                           : GSR_PTRMAP_BTREE);
	}
	assert_int_equal(gsr_ptrmap_get(pf, 1, &type, &parent), -1);
	assert_int_equal(gsr_ptrmap_get(pf, in.n_pages + 1, &type, &parent),
	                 -1);
	cmp_release(&c);
	gsr_pagefile_close(pf);
	free(img);
	sqlite3_close(db);
}

/* ---- damage --------------------------------------------------------- */

struct damage {
	sqlite3 *db;
	unsigned char *img, *copy;
	size_t size;
	uint32_t ps, usable, root;
	struct cmp clean; /* the walk of t on the intact image */
};

static void
damage_setup(struct damage *d, int which)
{
	const char *path = build_db(which);
	struct gsr_ctx ctx = GSR_CTX_INIT;
	struct gsr_pagefile_info in;
	struct gsr_pagefile *pf;
	struct gsr_walk_stats st;

	d->db = open_ro(path);
	d->img = read_image(path, &d->size);
	d->copy = malloc(d->size);
	assert_non_null(d->copy);
	memcpy(d->copy, d->img, d->size);
	pf = gsr_pagefile_open_mem(&ctx, d->img, d->size, 0);
	gsr_pagefile_get_info(pf, &in);
	d->ps = in.page_size;
	d->usable = in.usable_size;
	d->root = rootpage_of(d->db, "t");
	walk_table(d->db, pf, "t", d->root, &d->clean, &st);
	assert_int_equal(d->clean.exact, count_rows(d->db, "t"));
	gsr_pagefile_close(pf);
}

static void
damage_release(struct damage *d)
{
	cmp_release(&d->clean);
	free(d->img);
	free(d->copy);
	sqlite3_close(d->db);
}

static unsigned char *
page_at(struct damage *d, uint32_t pgno)
{
	return d->copy + (size_t)(pgno - 1) * d->ps;
}

/* Walk t of the damaged copy (its first size bytes). */
static void
walk_damaged(struct damage *d, size_t size, struct cmp *c,
             struct gsr_walk_stats *st, uint32_t hint)
{
	struct gsr_ctx ctx = GSR_CTX_INIT;
	struct gsr_pagefile *pf =
	    gsr_pagefile_open_mem(&ctx, d->copy, size, hint);

	assert_non_null(pf);
	walk_table(d->db, pf, "t", d->root, c, st);
	gsr_pagefile_close(pf);
}

/* How many rows of the clean walk sit on page pgno. */
static uint64_t
rows_on(const struct damage *d, uint32_t pgno)
{
	uint64_t n = 0;

	for (size_t i = 0; i < d->clean.n_recs; i++)
		n += d->clean.recs[i].pgno == pgno;
	return n;
}

static void
damage_zero_leaf(void **state)
{
	struct damage d;
	struct gsr_walk_stats st;
	struct cmp c;
	uint32_t leaf;

	(void)state;
	damage_setup(&d, DB_4096);
	leaf = d.clean.recs[d.clean.n_recs / 2].pgno;
	assert_true(leaf != d.root);
	memset(page_at(&d, leaf), 0, d.ps);
	walk_damaged(&d, d.size, &c, &st, 0);
	assert_int_equal(c.mismatches, 0);
	assert_int_equal(c.out_of_order, 0);
	assert_int_equal(c.exact, c.delivered);
	assert_true(rows_on(&d, leaf) > 0);
	assert_int_equal(c.delivered, d.clean.n_recs - rows_on(&d, leaf));
	assert_int_equal(st.pages_damaged, 1);
	assert_int_equal(st.cells_damaged, 0);
	for (size_t i = 0; i < c.n_recs; i++)
		assert_true(c.recs[i].pgno != leaf);
	cmp_release(&c);
	damage_release(&d);
}

/* The spec's local payload size of a table leaf cell, to find the
 * overflow pointer independently of the code under test. */
static uint32_t
first_overflow(const unsigned char *page, uint32_t usable, uint32_t off,
               uint64_t *payload)
{
	uint64_t p, rowid, x = usable - 35, m, k, local;
	int l1, l2;

	l1 = gsr_varint_get(page + off, page + usable, &p);
	l2 = gsr_varint_get(page + off + l1, page + usable, &rowid);
	m = ((usable - 12) * 32 / 255) - 23;
	k = m + (p - m) % (usable - 4);
	local = p <= x ? p : k <= x ? k : m;
	*payload = p;
	assert_true(local < p);
	return gsr_get_u32(page + off + l1 + l2 + local);
}

static void
damage_overflow_chain(void **state)
{
	struct damage d;
	struct gsr_walk_stats st;
	struct cmp c;
	size_t victim = SIZE_MAX;
	uint32_t ovfl, second;
	uint64_t payload;

	(void)state;
	damage_setup(&d, DB_4096);
	for (size_t i = 0; i < d.clean.n_recs; i++) {
		if (d.clean.recs[i].biggest > 6 * (size_t)d.usable) {
			victim = i;
			break;
		}
	}
	assert_true(victim != SIZE_MAX);
	ovfl = first_overflow(page_at(&d, d.clean.recs[victim].pgno), d.usable,
	                      d.clean.recs[victim].cell_offset, &payload);
	second = gsr_get_u32(page_at(&d, ovfl));
	assert_true(second != 0);

	/* 1. The second overflow page says the chain ends there. */
	memset(page_at(&d, second), 0, 4);
	walk_damaged(&d, d.size, &c, &st, 0);
	assert_int_equal(c.mismatches, 0);
	assert_int_equal(c.delivered, d.clean.n_recs);
	assert_int_equal(c.prefix, 1);
	assert_int_equal(c.exact, d.clean.n_recs - 1);
	assert_int_equal(st.rows_truncated, 1);
	assert_int_equal(st.pages_damaged, 0);
	cmp_release(&c);

	/* 2. It points to itself: a cycle, cut at once. */
	memcpy(page_at(&d, second), page_at(&d, ovfl), 4);
	walk_damaged(&d, d.size, &c, &st, 0);
	assert_int_equal(c.mismatches, 0);
	assert_int_equal(c.prefix, 1);
	assert_int_equal(st.rows_truncated, 1);
	cmp_release(&c);

	/* 3. It points past the end of the file. */
	memset(page_at(&d, second), 0x7f, 4);
	walk_damaged(&d, d.size, &c, &st, 0);
	assert_int_equal(c.mismatches, 0);
	assert_int_equal(c.prefix, 1);
	cmp_release(&c);
	damage_release(&d);
}

static void
damage_interior(void **state)
{
	struct damage d;
	struct gsr_walk_stats st;
	struct cmp c;
	unsigned char *root;
	uint32_t right, n_cells, cell, child;

	(void)state;
	damage_setup(&d, DB_4096);
	root = page_at(&d, d.root);
	/* The test needs a two-level tree: root interior, leaves below. */
	assert_int_equal(root[0], GSR_PAGE_TABLE_INTERIOR);
	right = gsr_get_u32(root + 8);
	assert_int_equal(page_at(&d, right)[0], GSR_PAGE_TABLE_LEAF);

	/* 1. The right child is the root itself: no hang, that leaf lost. */
	root[8] = (unsigned char)(d.root >> 24);
	root[9] = (unsigned char)(d.root >> 16);
	root[10] = (unsigned char)(d.root >> 8);
	root[11] = (unsigned char)d.root;
	walk_damaged(&d, d.size, &c, &st, 0);
	assert_int_equal(c.mismatches, 0);
	assert_int_equal(c.exact, c.delivered);
	assert_int_equal(c.delivered, d.clean.n_recs - rows_on(&d, right));
	assert_int_equal(st.pages_damaged, 1);
	cmp_release(&c);
	memcpy(root + 8, d.img + (size_t)(d.root - 1) * d.ps + 8, 4);

	/* 2. A middle child out of range. */
	n_cells = gsr_get_u16(root + 3);
	assert_true(n_cells > 4);
	cell = gsr_get_u16(root + 12 + 2 * (n_cells / 2));
	child = gsr_get_u32(root + cell);
	memset(root + cell, 0xff, 4);
	walk_damaged(&d, d.size, &c, &st, 0);
	assert_int_equal(c.mismatches, 0);
	assert_int_equal(c.delivered, d.clean.n_recs - rows_on(&d, child));
	assert_int_equal(st.pages_damaged, 1);
	cmp_release(&c);

	/* 3. The same child twice (a cross-link): its rows come once. */
	memcpy(root + cell, root + gsr_get_u16(root + 12), 4);
	walk_damaged(&d, d.size, &c, &st, 0);
	assert_int_equal(c.mismatches, 0);
	assert_int_equal(c.delivered, d.clean.n_recs - rows_on(&d, child));
	assert_int_equal(st.pages_damaged, 1);
	cmp_release(&c);

	/* 4. A cell pointer of the root out of the page. */
	memcpy(root + cell, d.img + (size_t)(d.root - 1) * d.ps + cell, 4);
	root[12 + 2 * (n_cells / 2)] = 0xff;
	walk_damaged(&d, d.size, &c, &st, 0);
	assert_int_equal(c.mismatches, 0);
	assert_int_equal(c.delivered, d.clean.n_recs - rows_on(&d, child));
	assert_int_equal(st.pages_damaged, 0);
	assert_int_equal(st.cells_damaged, 1);
	cmp_release(&c);
	damage_release(&d);
}

static void
damage_truncated(void **state)
{
	struct damage d;
	struct gsr_walk_stats st;
	struct cmp c;
	struct gsr_ctx ctx = GSR_CTX_INIT;
	struct gsr_pagefile_info in;
	struct gsr_pagefile *pf;
	size_t half;
	uint32_t full;
	uint64_t expect = 0;
	char path[512];
	int fd;

	(void)state;
	damage_setup(&d, DB_4096);
	/* Half the file and 100 bytes: the last page is partial. */
	half = d.size / 2 + 100;
	full = (uint32_t)(half / d.ps);
	assert_true(d.root <= full);
	assert_int_equal(page_at(&d, d.root)[0], GSR_PAGE_TABLE_INTERIOR);
	for (size_t i = 0; i < d.clean.n_recs; i++)
		expect += d.clean.recs[i].pgno <= full;
	assert_true(expect > 0 && expect < d.clean.n_recs);

	walk_damaged(&d, half, &c, &st, 0);
	assert_int_equal(c.mismatches, 0);
	assert_int_equal(c.delivered, expect);
	assert_true(st.pages_damaged > 0);
	cmp_release(&c);

	/* Through a file descriptor: the partial page is a short read. */
	snprintf(path, sizeof path, "%s/half.db", tmpdir);
	fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, d.copy, half), (ssize_t)half);
	pf = gsr_pagefile_open_fd(&ctx, fd, half, 0);
	gsr_pagefile_get_info(pf, &in);
	assert_true(in.header_ok);
	assert_int_equal(in.n_pages, full + 1);
	assert_null(gsr_pagefile_page(pf, full + 1));
	assert_non_null(gsr_pagefile_page(pf, full));
	walk_table(d.db, pf, "t", d.root, &c, &st);
	assert_int_equal(c.mismatches, 0);
	assert_int_equal(c.delivered, expect);
	cmp_release(&c);
	/* The rest of the schema: no crash, nothing wrong delivered. */
	{
		sqlite3_stmt *q = NULL;

		assert_int_equal(sqlite3_prepare_v2(
		                     d.db,
		                     "SELECT name, rootpage FROM sqlite_master "
		                     "WHERE type = 'table'",
		                     -1, &q, NULL),
		                 SQLITE_OK);
		while (sqlite3_step(q) == SQLITE_ROW) {
			walk_table(
			    d.db, pf, (const char *)sqlite3_column_text(q, 0),
			    (uint32_t)sqlite3_column_int64(q, 1), &c, &st);
			assert_int_equal(c.mismatches, 0);
			cmp_release(&c);
		}
		sqlite3_finalize(q);
	}
	gsr_pagefile_close(pf);
	close(fd);
	unlink(path);
	assert_false(gsr_ctx_failed(&ctx));
	damage_release(&d);
}

/* Page 1 zeroed after its header, then wholly (the page size inferred),
 * on each page size. */
static void
damage_page1_which(int which)
{
	struct damage d;
	struct gsr_walk_stats st;
	struct gsr_ctx ctx = GSR_CTX_INIT;
	struct gsr_pagefile_info in;
	struct gsr_pagefile *pf;
	struct cmp c;

	damage_setup(&d, which);
	memset(d.copy + 100, 0, d.ps - 100);
	pf = gsr_pagefile_open_mem(&ctx, d.copy, d.size, 0);
	gsr_pagefile_get_info(pf, &in);
	assert_true(in.header_ok);
	assert_false(in.page_size_inferred);
	walk_table(d.db, pf, "sqlite_master", 1, &c, &st);
	assert_int_equal(c.delivered, 0);
	assert_int_equal(st.pages_damaged, 1);
	cmp_release(&c);
	gsr_pagefile_close(pf);
	walk_damaged(&d, d.size, &c, &st, 0);
	assert_int_equal(c.exact, d.clean.n_recs);
	assert_int_equal(c.delivered, d.clean.n_recs);
	cmp_release(&c);

	memset(d.copy, 0, d.ps);
	pf = gsr_pagefile_open_mem(&ctx, d.copy, d.size, 0);
	gsr_pagefile_get_info(pf, &in);
	assert_false(in.header_ok);
	assert_true(in.page_size_inferred);
	assert_int_equal(in.page_size, d.ps);
	assert_int_equal(in.header_pages, 0);
	gsr_pagefile_close(pf);
	walk_damaged(&d, d.size, &c, &st, 0);
	assert_int_equal(c.mismatches, 0);
	assert_int_equal(c.exact, d.clean.n_recs);
	assert_int_equal(st.pages_damaged, 0);
	cmp_release(&c);
	/* With the right hint, the same without inference. */
	walk_damaged(&d, d.size, &c, &st, d.ps);
	assert_int_equal(c.exact, d.clean.n_recs);
	cmp_release(&c);
	assert_false(gsr_ctx_failed(&ctx));
	damage_release(&d);
}

static void
damage_page1(void **state)
{
	(void)state;
	damage_page1_which(DB_512);
	damage_page1_which(DB_4096);
	damage_page1_which(DB_65536);
}

/* gsr_btree_interior_sound() on the copy of d. */
static int
interior_look(struct damage *d)
{
	struct gsr_ctx ctx = GSR_CTX_INIT;
	struct gsr_pagefile *pf =
	    gsr_pagefile_open_mem(&ctx, d->copy, d->size, 0);
	int rc = gsr_btree_interior_sound(&ctx, pf, d->root);

	gsr_pagefile_close(pf);
	assert_false(gsr_ctx_failed(&ctx));
	return rc;
}

/* The look at the interior pages: an intact tree reads as such; a zeroed
 * interior page, a child out of range, an interior page reached twice or
 * a zeroed root do not; a zeroed leaf is not looked at. */
static void
interior_sound(void **state)
{
	struct damage d;
	unsigned char *root, *mid;
	uint32_t right, n_cells, cell, leaf;

	(void)state;
	damage_setup(&d, DB_512);
	root = page_at(&d, d.root);
	/* The test needs three levels: root, interior pages, leaves. */
	assert_int_equal(root[0], GSR_PAGE_TABLE_INTERIOR);
	right = gsr_get_u32(root + 8);
	mid = page_at(&d, right);
	assert_int_equal(mid[0], GSR_PAGE_TABLE_INTERIOR);
	assert_int_equal(interior_look(&d), 1);

	/* A leaf below the right-most interior page, not the left-most. */
	leaf = gsr_get_u32(mid + 8);
	memset(page_at(&d, leaf), 0, d.ps);
	assert_int_equal(interior_look(&d), 1);
	memcpy(d.copy, d.img, d.size);

	memset(mid, 0, d.ps);
	assert_int_equal(interior_look(&d), 0);
	memcpy(d.copy, d.img, d.size);

	n_cells = gsr_get_u16(root + 3);
	cell = gsr_get_u16(root + 12 + 2 * (n_cells / 2));
	memset(root + cell, 0xff, 4);
	assert_int_equal(interior_look(&d), 0);
	memcpy(d.copy, d.img, d.size);

	/* The right-most interior page also as the first child. */
	cell = gsr_get_u16(root + 12);
	memcpy(root + cell, root + 8, 4);
	assert_int_equal(interior_look(&d), 0);
	memcpy(d.copy, d.img, d.size);

	memset(root, 0, d.ps);
	assert_int_equal(interior_look(&d), 0);
	damage_release(&d);
}

/* A callback that stops the walk at once. */
static int
stop_at_once(void *arg, const struct gsr_row *row)
{
	(void)row;
	(*(int *)arg)++;
	return 7;
}

static void
walk_stop_and_errors(void **state)
{
	const char *path = build_db(DB_512);
	struct gsr_ctx ctx = GSR_CTX_INIT;
	struct gsr_pagefile *pf;
	struct gsr_walk_stats st;
	sqlite3 *db = open_ro(path);
	unsigned char *img;
	size_t size;
	int calls = 0;

	(void)state;
	img = read_image(path, &size);
	pf = gsr_pagefile_open_mem(&ctx, img, size, 0);
	assert_int_equal(gsr_btree_walk_table(&ctx, pf, rootpage_of(db, "t"),
	                                      stop_at_once, &calls, &st),
	                 1);
	assert_int_equal(calls, 1);
	assert_int_equal(st.rows, 1);
	/* A table walk on an index root: the root is damaged. */
	assert_int_equal(gsr_btree_walk_table(&ctx, pf, rootpage_of(db, "t_c"),
	                                      stop_at_once, &calls, &st),
	                 0);
	assert_int_equal(st.pages_damaged, 1);
	assert_int_equal(calls, 1);
	assert_int_equal(gsr_btree_walk_index(&ctx, pf, rootpage_of(db, "t"),
	                                      stop_at_once, &calls, NULL),
	                 0);
	assert_int_equal(
	    gsr_btree_walk_table(&ctx, pf, 0, stop_at_once, &calls, &st), 0);
	assert_int_equal(st.pages_damaged, 1);
	/* After an error: a no-op. */
	gsr_ctx_fail(&ctx, GSR_ERR_IO, "earlier");
	assert_int_equal(
	    gsr_btree_walk_table(&ctx, pf, 1, stop_at_once, &calls, &st), -1);
	assert_int_equal(st.rows, 0);
	assert_string_equal(ctx.msg, "earlier");
	gsr_pagefile_close(pf);
	free(img);
	sqlite3_close(db);
}

/* Last: the cancel flag cannot be cleared. */
static int
count_rows_cb(void *arg, const struct gsr_row *row)
{
	(void)row;
	(*(uint64_t *)arg)++;
	return 0;
}

static void
walk_cancel(void **state)
{
	const char *path = build_db(DB_512);
	struct gsr_ctx ctx = GSR_CTX_INIT;
	struct gsr_pagefile *pf;
	struct gsr_walk_stats st;
	sqlite3 *db = open_ro(path);
	unsigned char *img;
	size_t size;
	uint64_t n = 0;

	(void)state;
	img = read_image(path, &size);
	pf = gsr_pagefile_open_mem(&ctx, img, size, 0);
	gsr_cancel_request();
	assert_int_equal(gsr_btree_walk_table(&ctx, pf, rootpage_of(db, "t"),
	                                      count_rows_cb, &n, &st),
	                 -1);
	assert_int_equal(ctx.err, GSR_ERR_CANCELED);
	assert_int_equal(st.pages_visited, 1024);
	assert_true(n > 0 && n < (uint64_t)count_rows(db, "t"));
	gsr_pagefile_close(pf);
	free(img);
	sqlite3_close(db);
}

static int
setup(void **state)
{
	(void)state;
	return make_tmpdir(tmpdir, sizeof tmpdir, "btree");
}

static int
teardown(void **state)
{
	(void)state;
	for (int i = 0; i < DB_COUNT; i++) {
		free(dbs[i].path);
		dbs[i].path = NULL;
	}
	return remove_tree(tmpdir);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(open_garbage),
	    cmocka_unit_test(db_gpustack_4096),
	    cmocka_unit_test(db_page_512),
	    cmocka_unit_test(db_page_65536),
	    cmocka_unit_test(db_utf16le),
	    cmocka_unit_test(db_utf16be),
	    cmocka_unit_test(db_reserved),
	    cmocka_unit_test(db_autovacuum),
	    cmocka_unit_test(damage_zero_leaf),
	    cmocka_unit_test(damage_overflow_chain),
	    cmocka_unit_test(damage_interior),
	    cmocka_unit_test(damage_truncated),
	    cmocka_unit_test(damage_page1),
	    cmocka_unit_test(interior_sound),
	    cmocka_unit_test(walk_stop_and_errors),
	    cmocka_unit_test(walk_cancel),
	};
	return cmocka_run_group_tests_name("btree", tests, setup, teardown);
}
