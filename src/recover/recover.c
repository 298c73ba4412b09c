/* recover.c -- a damaged image read page by page into a new database
 * (see recover.h).
 *
 * The order of the work:
 *   1. the freelist, so that its pages are never taken for live ones;
 *   2. sqlite_master from page 1's tree, and from stray sqlite_master
 *      leaves when page 1's tree is damaged;
 *   3. the recovered database: the schema created from the stored SQL
 *      (under an authorizer that lets nothing but CREATE TABLE and CREATE
 *      INDEX through), or from the best-fitting label of the rules;
 *   4. every table tree from its root ("btree" rows);
 *   5. every table leaf no tree used ("orphan-leaf" rows), placed by the
 *      pointer map or by the shape of its records;
 *   6. the index trees, to count entries whose row was not recovered;
 *   7. views and triggers, copied into sqlite_master as text last, so
 *      that no trigger of the input ever fires on the rows inserted.
 */
#include "compat.h"
#include "clock.h"
#include "recover.h"

#include "fdio.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <math.h>
#include <sqlite3.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "bitmap.h"
#include "btree.h"
#include "carve.h"
#include "dbopen.h"
#include "graft.h"
#include "journal.h"
#include "jsonw.h"
#include "rules.h"
#include "schema.h"
#include "sqlhdr.h"
#include "sha256.h"
#include "strbuf.h"
#include "tempfiles.h"
#include "thread.h"
#include "walfile.h"

/* Classes a column's values may take, as bits 1 << enum gsr_vtype. */
#define C_NULL (1u << GSR_V_NULL)
#define C_INT (1u << GSR_V_INT)
#define C_REAL (1u << GSR_V_REAL)
#define C_TEXT (1u << GSR_V_TEXT)
#define C_BLOB (1u << GSR_V_BLOB)
#define C_ANY (C_NULL | C_INT | C_REAL | C_TEXT | C_BLOB)

/* At most this many table leaves are sampled to choose a label of the
 * rules when sqlite_master is lost. */
#define SHAPE_SAMPLE_PAGES 4000

/* A sqlite_master row. */
struct entry {
	char *type, *name, *tbl, *sql;
	int64_t rootpage;
	bool created;
};

/* What the records of a table look like: the matcher of carve.h, and
 * the arrays its fields point at (owned). */
struct shape {
	struct gsr_shape g; /* g.name not owned; g.min_cols 1 */
	bool without_rowid;
	uint8_t *allowed, *checks;
	const char ***enums; /* per column: NULL or a NULL-terminated list */
};

/* An index of a rowid table whose keys are plain columns: it cross-checks
 * the rows recovered, and gives carved rows their rowid. */
struct ridx {
	const char *name; /* the schema's */
	size_t table;     /* in rec.tabs */
	uint32_t root;    /* 0 when sqlite_master gave none usable */
	bool unique;
	size_t n_keys;
	size_t *cols; /* the key columns' positions in the table */
};

/* At most this many key bytes are looked for in index pages. */
#define KEY_MAX 1024

/* At most this many segments a table (see bulk_row()); past them the
 * table goes row by row, so that memory does not grow with the damage. */
#define BULK_MAX_SEGS 4096

/* At most this many leaves a table records for a graft (8 MiB of them,
 * 4 GiB of leaves of 4096 bytes); past them its segments are copied by
 * SQLite. */
#define GRAFT_MAX_LEAVES ((size_t)1 << 20)

/* Consecutive rows of a tree walk that go in whole as read, with no
 * damage between them: rowids first..last, count rows; ok once SQLite
 * copied them (bulk_copy()). */
struct seg {
	int64_t first, last, count;
	bool ok;
};

/* A leaf page of a tree walk and the rows of segments it gave. */
struct leaf {
	uint32_t pgno, rows;
};

/* A table of the recovered database. */
struct rtable {
	struct shape sh;
	size_t min_values;      /* the fewest values a placed row had */
	char **cols;            /* quoted column names */
	const char *rowid_name; /* for tables without a rowid alias */
	sqlite3_stmt **ins;     /* by value count, 1..n_cols */
	sqlite3_stmt *get;      /* its row at a rowid */
	struct gsr_recover_table *rt;
	int64_t
	    max_rowid; /* the largest rowid known to have been used, or -1 */
	bool max_known;
	/* bulk_walk()'s result: the segments (seg_at the one of the second
	 * pass), a row left out of them (partial), the fewest values of a
	 * row, the walk's damage; walked once it ran, stopped when it gave
	 * up. */
	struct seg *segs;
	size_t n_segs, cap_segs, seg_at;
	bool walked, stopped, partial;
	bool left_out; /* a row the walk delivered is in no segment */
	size_t bulk_min;
	/* The leaves of the segments in the walk's order, each with the rows
	 * it gave (graft_table()). */
	struct leaf *leaves;
	size_t n_leaves, cap_leaves;
	bool too_many_leaves;
	struct gsr_walk_stats ws;
};

struct rec {
	struct ridx *idx;
	size_t n_idx, cap_idx;
	/* Index entries of the trees (temp.ikeys on the ledger): insert, by
	 * rowid, by key. */
	sqlite3_stmt *ik_ins, *ik_rid, *ik_key;
	sqlite3_stmt *json_ok; /* json_valid(?1) */
	uint32_t *fl;          /* the freelist's pages */
	size_t n_fl;
	struct gsr_ctx *ctx;
	const struct gsr_recover_opts *opts;
	struct gsr_recover_result *res;
	struct gsr_pagefile *pf;
	struct gsr_pagefile_info in;
	sqlite3 *out, *led;
	sqlite3_stmt *prov, *lrow;
	struct entry *ents;
	size_t n_ents, cap_ents;
	struct gsr_schema *schema; /* of the recovered database */
	struct rtable *tabs;
	size_t n_tabs;
	unsigned char *used; /* pages used by trees, freelist, placed leaves */
	uint32_t *owner;     /* table leaf -> table index + 1 */
	/* The walk in progress. */
	struct rtable *cur;
	const char *source;
	int64_t cur_frame;
	/* Page placement scores, per table. */
	uint64_t *fits, *scores;
	uint64_t page_rows;
	bool seq_cleared;
	struct gsr_wal *wal;      /* attached, or NULL */
	struct gsr_journal *jr;   /* rolled back, or NULL */
	struct gsr_journal *jrnl; /* the journal, played back or not */
	struct gsr_wal *wal_all;  /* the WAL, used or not */
	sqlite3_stmt *seen;       /* is a history row kept already? */
	char *jbuf;               /* JSON of a record, for the ledger */
	size_t jlen;
	/* Progress: table leaves whose rows were placed (the last one's
	 * number), and the pages reported as walked. */
	uint32_t leaf_pgno;
	uint64_t leaves, walked;
	/* The run of provenance being gathered (see run_add()): consecutive
	 * unremarkable cells of one leaf of rt read from the file, placed
	 * at rowids first..last. */
	struct {
		const struct rtable *rt;
		uint32_t pgno;
		int64_t first, last, count;
	} run;
	/* The image is attached to r->out as "img" (see bulk_finish()). */
	bool img;
	/* The table bulk_walk() walks: its last segment open (seg_open),
	 * the damage seen so far, the largest rowid seen (bulk_any: one
	 * was). */
	bool seg_open, bulk_any;
	uint64_t bulk_damage;
	int64_t bulk_last;
	/* The recovered database's path and the image's, and the image's
	 * VACUUM INTO in the making (vacuum_out()). */
	const char *out_path, *img_path;
	struct vacjob *vac;
};

static char *
dup_value_text(const struct gsr_value *v)
{
	char *s;

	if (v->type != GSR_V_TEXT || memchr(v->p, 0, v->n) != NULL)
		return NULL;
	if ((s = malloc(v->n + 1)) == NULL)
		return NULL;
	memcpy(s, v->p, v->n);
	s[v->n] = 0;
	return s;
}

/* ---- values ------------------------------------------------------------ */

static int
bind_value(sqlite3_stmt *st, int i, const struct gsr_value *v)
{
	switch (v->type) {
	case GSR_V_INT:
		return sqlite3_bind_int64(st, i, v->i);
	case GSR_V_REAL:
		return sqlite3_bind_double(st, i, v->r);
	case GSR_V_TEXT:
		return sqlite3_bind_text64(st, i, (const char *)v->p, v->n,
		                           SQLITE_TRANSIENT, SQLITE_UTF8);
	case GSR_V_BLOB:
		return sqlite3_bind_blob64(st, i, v->p, v->n, SQLITE_TRANSIENT);
	case GSR_V_NULL:
		break;
	}
	return sqlite3_bind_null(st, i);
}

/* The values of a record as a JSON array (export.h's encoding), into
 * r->jbuf.  Returns 0 or -1 (out of memory, recorded). */
static int
record_json(struct rec *r, const struct gsr_value *vals, size_t n)
{
	FILE *f;
	struct jsonw jw;

	free(r->jbuf);
	r->jbuf = NULL;
	r->jlen = 0;
	if ((f = open_memstream(&r->jbuf, &r->jlen)) == NULL)
		return gsr_ctx_fail(r->ctx, GSR_ERR_NOMEM,
		                    "out of memory writing a record");
	jw_init(&jw, f, false);
	jw_arr_begin(&jw);
	for (size_t i = 0; i < n; i++) {
		const struct gsr_value *v = &vals[i];
		switch (v->type) {
		case GSR_V_NULL:
			jw_null(&jw);
			break;
		case GSR_V_INT:
			jw_int(&jw, v->i);
			break;
		case GSR_V_REAL:
			jw_real(&jw, v->r);
			break;
		case GSR_V_TEXT:
			jw_strn(&jw, (const char *)v->p, v->n);
			break;
		case GSR_V_BLOB:
			jw_blob(&jw, v->p, v->n);
			break;
		}
	}
	jw_arr_end(&jw);
	if (fclose(f) != 0 || r->jbuf == NULL)
		return gsr_ctx_fail(r->ctx, GSR_ERR_NOMEM,
		                    "out of memory writing a record");
	return 0;
}

/* ---- the ledger -------------------------------------------------------- */

static const char ledger_sql[] =
    "PRAGMA journal_mode=OFF; PRAGMA synchronous=OFF;"
    "CREATE TABLE provenance(tbl TEXT NOT NULL, rid INTEGER NOT NULL,"
    " source TEXT NOT NULL, pgno INTEGER, cell_offset INTEGER,"
    " frame INTEGER, truncated INTEGER NOT NULL,"
    " rowid_from TEXT NOT NULL DEFAULT 'cell',"
    " last_rid INTEGER NOT NULL, n_rows INTEGER NOT NULL,"
    " PRIMARY KEY (tbl, rid)) WITHOUT ROWID;"
    "CREATE TABLE rows(tbl TEXT, kind TEXT NOT NULL, source TEXT NOT NULL,"
    " pgno INTEGER, cell_offset INTEGER, frame INTEGER, rowid INTEGER,"
    " truncated INTEGER NOT NULL, note TEXT, record TEXT NOT NULL,"
    " rowid_from TEXT NOT NULL, flag TEXT);"
    "CREATE INDEX rows_key ON rows(tbl, rowid);"
    "CREATE TABLE confirmations(row INTEGER PRIMARY KEY, by TEXT NOT NULL);"
    "CREATE TABLE objects(type TEXT, name TEXT, tbl_name TEXT,"
    " rootpage INTEGER, sql TEXT, created INTEGER NOT NULL);"
    "BEGIN;";

static int
ledger_open(struct rec *r, const char *path)
{
	struct gsr_ctx *ctx = r->ctx;

	if ((r->led = gsr_db_open(ctx, path, true)) == NULL ||
	    gsr_db_exec(ctx, r->led, ledger_sql) ||
	    (r->prov =
	         gsr_db_prepare(ctx, r->led,
	                        "INSERT OR REPLACE INTO provenance VALUES "
	                        "(?1,?2,?3,?4,?5,?6,?7,'cell',coalesce(?8,?2),"
	                        "coalesce(?9,1))")) == NULL ||
	    (r->lrow = gsr_db_prepare(ctx, r->led,
	                              "INSERT INTO rows VALUES "
	                              "(?,?,?,?,?,?,?,?,?,?,?,?)")) == NULL)
		return -1;
	return 0;
}

static int
step_done(struct rec *r, sqlite3 *db, sqlite3_stmt *st)
{
	int rc = sqlite3_step(st);

	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	if (rc != SQLITE_DONE)
		return gsr_ctx_fail(
		    r->ctx, rc == SQLITE_NOMEM ? GSR_ERR_NOMEM : GSR_ERR_IO,
		    "cannot write the recovery: %s", sqlite3_errmsg(db));
	return 0;
}

/* A row that is not live: into the ledger's rows.  rowid_from says how
 * its rowid was established ("cell", or "unknown" when !rowid_known);
 * flag (may be NULL) is what the bytes contradict. */
static int
ledger_row_flag(struct rec *r, const char *tbl, const char *kind,
                const struct gsr_row *row, bool rowid_known, const char *note,
                const char *flag)
{
	sqlite3_stmt *st = r->lrow;

	if (record_json(r, row->values, row->n_values))
		return -1;
	sqlite3_bind_text(st, 1, tbl, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, kind, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 3, r->source, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 4, row->pgno);
	sqlite3_bind_int64(st, 5, row->cell_offset);
	if (r->cur_frame > 0)
		sqlite3_bind_int64(st, 6, r->cur_frame);
	if (rowid_known)
		sqlite3_bind_int64(st, 7, row->rowid);
	sqlite3_bind_int(st, 8, row->truncated);
	sqlite3_bind_text(st, 9, note, -1, SQLITE_TRANSIENT);
	sqlite3_bind_text64(st, 10, r->jbuf, r->jlen, SQLITE_STATIC,
	                    SQLITE_UTF8);
	sqlite3_bind_text(st, 11, rowid_known ? "cell" : "unknown", -1,
	                  SQLITE_STATIC);
	if (flag)
		sqlite3_bind_text(st, 12, flag, -1, SQLITE_STATIC);
	return step_done(r, r->led, st);
}

/* ledger_row_flag() without a flag. */
static int
ledger_row(struct rec *r, const char *tbl, const char *kind,
           const struct gsr_row *row, bool rowid_known, const char *note)
{
	return ledger_row_flag(r, tbl, kind, row, rowid_known, note, NULL);
}

/* ---- shapes ------------------------------------------------------------ */

/* The classes a declared type's values normally take (its affinity,
 * section 3.1 of SQLite's datatype document), NULL added when the column
 * may be NULL.  Text in an INTEGER column or a number in a TEXT one is
 * possible in SQLite but not what an application writes: a record holding
 * one does not fit. */
static uint8_t
allowed_classes(const char *type, bool notnull)
{
	uint8_t c;

	if (type == NULL || *type == 0 || strcasestr(type, "BLOB"))
		c = C_ANY;
	else if (strcasestr(type, "INT"))
		c = C_INT;
	else if (strcasestr(type, "CHAR") || strcasestr(type, "CLOB") ||
	         strcasestr(type, "TEXT"))
		c = C_TEXT;
	else if (strcasestr(type, "REAL") || strcasestr(type, "FLOA") ||
	         strcasestr(type, "DOUB"))
		c = C_REAL | C_INT;
	else
		c = C_INT | C_REAL | C_TEXT; /* NUMERIC */
	return notnull ? c : (uint8_t)(c | C_NULL);
}

/* What a column's declared type says of its values beyond their class. */
static uint8_t
column_checks(const char *type)
{
	if (type == NULL)
		return 0;
	if (!strcasecmp(type, "BOOLEAN"))
		return GSR_CHECK_BOOL;
	if (!strcasecmp(type, "JSON"))
		return GSR_CHECK_JSON;
	if (!strncasecmp(type, "DATE", 4) || !strcasecmp(type, "TIMESTAMP"))
		return GSR_CHECK_DATETIME;
	return 0;
}

/* Fill sh from table t of a schema model; enum domains from label l (may
 * be NULL).  sqlite_sequence, which SQLite fills itself, always holds a
 * TEXT name and an INTEGER sequence.  Returns 0 or -1 (out of memory). */
static int
shape_init(struct shape *sh, const struct gsr_table *t,
           const struct gsr_label *l)
{
	bool seq = !strcmp(t->name, "sqlite_sequence") && t->n_cols == 2;
	size_t npk = 0;

	memset(sh, 0, sizeof *sh);
	sh->g.name = t->name;
	sh->g.n_cols = t->n_cols;
	sh->g.min_cols = 1; /* records may lack columns added later */
	sh->g.ipk = -1;
	sh->without_rowid = t->without_rowid;
	sh->allowed = calloc(t->n_cols + 1, 1);
	sh->checks = calloc(t->n_cols + 1, 1);
	sh->enums = calloc(t->n_cols + 1, sizeof *sh->enums);
	if (sh->allowed == NULL || sh->checks == NULL || sh->enums == NULL)
		return -1;
	for (size_t i = 0; i < t->n_cols; i++)
		npk += t->cols[i].pk > 0;
	for (size_t i = 0; i < t->n_cols; i++) {
		const struct gsr_column *c = &t->cols[i];

		sh->allowed[i] = seq ? (i ? C_INT : C_TEXT)
		                     : allowed_classes(c->type, c->notnull);
		sh->checks[i] = column_checks(c->type);
		if (npk == 1 && c->pk == 1 && !t->without_rowid && c->type &&
		    !strcasecmp(c->type, "INTEGER"))
			sh->g.ipk = (int)i;
		for (size_t e = 0; l && e < l->n_enums; e++) {
			const struct strvec *v = &l->enums[e].values;

			if (l->enums[e].array ||
			    strcmp(l->enums[e].table, t->name) ||
			    strcmp(l->enums[e].column, c->name) || v->n == 0)
				continue;
			if ((sh->enums[i] = calloc(
			         v->n + 1, sizeof *sh->enums[i])) == NULL)
				return -1;
			for (size_t k = 0; k < v->n; k++)
				sh->enums[i][k] = v->v[k];
			break;
		}
	}
	sh->g.allowed = sh->allowed;
	sh->g.checks = sh->checks;
	sh->g.enums = (const char *const *const *)sh->enums;
	return 0;
}

static void
shape_free(struct shape *sh)
{
	for (size_t i = 0; sh->enums && i < sh->g.n_cols; i++)
		free(sh->enums[i]);
	free(sh->allowed);
	free(sh->checks);
	free(sh->enums);
}

/* ---- sqlite_master ----------------------------------------------------- */

static bool
is_master_row(const struct gsr_row *row)
{
	const struct gsr_value *v = row->values;
	static const char *const types[] = {"table", "index", "view",
	                                    "trigger"};
	bool type_ok = false;

	if (row->n_values != 5 || v[0].type != GSR_V_TEXT ||
	    v[1].type != GSR_V_TEXT || v[2].type != GSR_V_TEXT ||
	    (v[3].type != GSR_V_INT && v[3].type != GSR_V_NULL) ||
	    (v[4].type != GSR_V_TEXT && v[4].type != GSR_V_NULL))
		return false;
	for (size_t i = 0; i < 4; i++)
		type_ok |= strlen(types[i]) == v[0].n &&
		           !memcmp(types[i], v[0].p, v[0].n);
	return type_ok && v[1].n > 0;
}

static int
master_row(void *arg, const struct gsr_row *row)
{
	struct rec *r = arg;
	struct entry e = {0};

	if (!is_master_row(row) || row->truncated)
		return 0;
	e.type = dup_value_text(&row->values[0]);
	e.name = dup_value_text(&row->values[1]);
	e.tbl = dup_value_text(&row->values[2]);
	e.rootpage = row->values[3].type == GSR_V_INT ? row->values[3].i : 0;
	e.sql = dup_value_text(&row->values[4]);
	if (e.type == NULL || e.name == NULL || e.tbl == NULL ||
	    (row->values[4].type == GSR_V_TEXT && e.sql == NULL))
		goto skip;
	for (size_t i = 0; i < r->n_ents; i++)
		if (!strcmp(r->ents[i].type, e.type) &&
		    !strcmp(r->ents[i].name, e.name))
			goto skip;
	if (gsr_grow((void **)&r->ents, &r->cap_ents, r->n_ents + 1,
	             sizeof *r->ents)) {
		gsr_ctx_fail(r->ctx, GSR_ERR_NOMEM,
		             "out of memory reading the schema");
		goto skip;
	}
	r->ents[r->n_ents++] = e;
	return 0;
skip:
	free(e.type);
	free(e.name);
	free(e.tbl);
	free(e.sql);
	return gsr_ctx_failed(r->ctx) ? 1 : 0;
}

/* Callback of the stray-leaf scan: count rows of sqlite_master's shape. */
static int
count_master_rows(void *arg, const struct gsr_row *row)
{
	struct rec *r = arg;

	r->page_rows++;
	if (is_master_row(row))
		r->fits[0]++;
	return 0;
}

static bool
page_usable(const struct rec *r, uint32_t p)
{
	return !gsr_bit_test(r->used, p) && !gsr_ptrmap_is_map_page(r->pf, p);
}

/* sqlite_master from page 1's tree; when that tree is damaged or gave no
 * table, also from table leaves nobody uses whose rows are all
 * sqlite_master rows. */
static int
read_master(struct rec *r)
{
	struct gsr_walk_stats ws;
	size_t tables = 0;

	if (gsr_btree_walk_mark(r->ctx, r->pf, 1, false, r->used, master_row, r,
	                        &ws) < 0)
		return -1;
	for (size_t i = 0; i < r->n_ents; i++)
		tables += !strcmp(r->ents[i].type, "table");
	if (tables > 0 && ws.pages_damaged == 0 && ws.cells_damaged == 0)
		return 0;
	for (uint32_t p = 2; p <= r->in.n_pages; p++) {
		if (!page_usable(r, p) ||
		    gsr_btree_page_type(r->pf, p) != GSR_PAGE_TABLE_LEAF)
			continue;
		r->page_rows = 0;
		r->fits[0] = 0;
		if (gsr_btree_walk_table(r->ctx, r->pf, p, count_master_rows, r,
		                         NULL) < 0)
			return -1;
		if (r->page_rows == 0 || r->fits[0] != r->page_rows)
			continue;
		if (gsr_btree_walk_mark(r->ctx, r->pf, p, false, r->used,
		                        master_row, r, NULL) < 0)
			return -1;
	}
	return 0;
}

/* ---- creating the schema ----------------------------------------------- */

/* Only CREATE TABLE and CREATE INDEX, and what they do to sqlite_master,
 * may run: no SELECT (CREATE TABLE ... AS SELECT), no ATTACH, no PRAGMA. */
static int
create_auth(void *arg, int action, const char *a, const char *b, const char *c,
            const char *d)
{
	(void)arg, (void)a, (void)b, (void)c, (void)d;
	switch (action) {
	case SQLITE_SELECT:
	case SQLITE_ATTACH:
	case SQLITE_DETACH:
	case SQLITE_PRAGMA:
	case SQLITE_TRANSACTION:
	case SQLITE_SAVEPOINT:
	case SQLITE_CREATE_VIEW:
	case SQLITE_CREATE_TRIGGER:
	case SQLITE_CREATE_TEMP_TABLE:
	case SQLITE_CREATE_TEMP_INDEX:
	case SQLITE_CREATE_TEMP_TRIGGER:
	case SQLITE_CREATE_TEMP_VIEW:
	case SQLITE_CREATE_VTABLE:
	case SQLITE_DROP_TABLE:
	case SQLITE_DROP_INDEX:
	case SQLITE_ALTER_TABLE:
		return SQLITE_DENY;
	default:
		return SQLITE_OK;
	}
}

/* Run one stored CREATE TABLE / CREATE INDEX statement.  Returns 1 when it
 * was created, 0 when SQLite refused it, -1 on error. */
static int
create_object(struct rec *r, const char *sql)
{
	sqlite3_stmt *st = NULL;
	const char *tail = NULL;
	int rc;

	if (strncasecmp(sql, "CREATE ", 7) != 0)
		return 0;
	rc = sqlite3_prepare_v2(r->out, sql, -1, &st, &tail);
	if (rc == SQLITE_NOMEM)
		return gsr_ctx_fail(r->ctx, GSR_ERR_NOMEM, "out of memory");
	if (rc != SQLITE_OK || st == NULL) {
		sqlite3_finalize(st);
		return 0;
	}
	while (tail &&
	       (*tail == ' ' || *tail == '\n' || *tail == '\t' || *tail == ';'))
		tail++;
	if (tail && *tail) {
		sqlite3_finalize(st);
		return 0;
	}
	rc = sqlite3_step(st);
	sqlite3_finalize(st);
	return rc == SQLITE_DONE;
}

/* True when sql is one statement SQLite compiles in the recovered
 * database (a view or trigger with a damaged text would make its whole
 * schema unreadable).  Compiling runs nothing. */
static bool
sql_parses(struct rec *r, const char *sql)
{
	sqlite3_stmt *st = NULL;
	const char *tail = NULL;
	bool ok;

	ok = sqlite3_prepare_v2(r->out, sql, -1, &st, &tail) == SQLITE_OK && st;
	while (ok && tail &&
	       (*tail == ' ' || *tail == '\n' || *tail == '\t' || *tail == ';'))
		tail++;
	sqlite3_finalize(st);
	return ok && (tail == NULL || *tail == 0);
}

/*
 * Create the schema entries in their order, so that sqlite_master lists
 * them as the input did: tables and indexes from their SQL under the
 * authorizer; views and triggers written into sqlite_master as text (they
 * are kept, never run: the connection runs no trigger), and only when
 * SQLite compiles them.  An index whose table comes later (entries from a
 * stray leaf) is tried again at the end.  *n_tables counts the tables.
 */
static int
create_from_entries(struct rec *r, size_t *n_tables)
{
	sqlite3_stmt *st = NULL;
	int rc = -1;

	*n_tables = 0;
	sqlite3_db_config(r->out, SQLITE_DBCONFIG_DEFENSIVE, 0, NULL);
	if (gsr_db_exec(r->ctx, r->out, "PRAGMA writable_schema=ON") ||
	    (st = gsr_db_prepare(r->ctx, r->out,
	                         "INSERT INTO main.sqlite_master VALUES "
	                         "(?, ?, ?, 0, ?)")) == NULL)
		goto out;
	sqlite3_set_authorizer(r->out, create_auth, NULL);
	for (int pass = 0; pass < 2; pass++)
		for (size_t i = 0; i < r->n_ents; i++) {
			struct entry *e = &r->ents[i];
			bool schema_only = !strcmp(e->type, "view") ||
			                   !strcmp(e->type, "trigger");
			int c;

			if (e->created || e->sql == NULL ||
			    !strncmp(e->name, "sqlite_", 7) ||
			    (pass == 1 && strcmp(e->type, "index")))
				continue;
			if (schema_only) {
				/* Compiled, never run: the authorizer, which
				 * refuses every SELECT, does not apply. */
				bool parses;

				sqlite3_set_authorizer(r->out, NULL, NULL);
				parses = sql_parses(r, e->sql);
				sqlite3_set_authorizer(r->out, create_auth,
				                       NULL);
				if (!parses)
					continue;
				sqlite3_bind_text(st, 1, e->type, -1,
				                  SQLITE_STATIC);
				sqlite3_bind_text(st, 2, e->name, -1,
				                  SQLITE_STATIC);
				sqlite3_bind_text(st, 3, e->tbl, -1,
				                  SQLITE_STATIC);
				sqlite3_bind_text(st, 4, e->sql, -1,
				                  SQLITE_STATIC);
				e->created = sqlite3_step(st) == SQLITE_DONE;
				sqlite3_reset(st);
				continue;
			}
			if (strcmp(e->type, "table") &&
			    strcmp(e->type, "index"))
				continue;
			if ((c = create_object(r, e->sql)) < 0)
				goto out;
			e->created = c > 0;
			*n_tables += c > 0 && !strcmp(e->type, "table");
		}
	/* sqlite_sequence is made by SQLite with the first AUTOINCREMENT
	 * table; sqlite_stat1 and its kind are left out. */
	for (size_t i = 0; i < r->n_ents; i++)
		if (!strcmp(r->ents[i].name, "sqlite_sequence"))
			r->ents[i].created =
			    sqlite3_table_column_metadata(
			        r->out, "main", "sqlite_sequence", NULL, NULL,
			        NULL, NULL, NULL, NULL) == SQLITE_OK;
	rc = 0;
out:
	sqlite3_set_authorizer(r->out, NULL, NULL);
	sqlite3_finalize(st);
	if (rc == 0 &&
	    gsr_db_exec(r->ctx, r->out, "PRAGMA writable_schema=OFF"))
		rc = -1;
	sqlite3_db_config(r->out, SQLITE_DBCONFIG_DEFENSIVE, 1, NULL);
	return rc;
}

/* sqlite_master gave no table that could be made: forget what it gave
 * (views and triggers written already go too) before the rules' schema. */
static int
discard_entries(struct rec *r)
{
	int rc;

	sqlite3_db_config(r->out, SQLITE_DBCONFIG_DEFENSIVE, 0, NULL);
	rc = gsr_db_exec(
	    r->ctx, r->out,
	    "PRAGMA writable_schema=ON; DELETE FROM main.sqlite_master "
	    "WHERE type IN ('view', 'trigger'); PRAGMA writable_schema=OFF");
	sqlite3_db_config(r->out, SQLITE_DBCONFIG_DEFENSIVE, 1, NULL);
	for (size_t i = 0; i < r->n_ents; i++) {
		free(r->ents[i].type);
		free(r->ents[i].name);
		free(r->ents[i].tbl);
		free(r->ents[i].sql);
	}
	r->n_ents = 0;
	return rc;
}

/* Leaf rows of the sample: per label, the best score of its tables. */
struct label_fit {
	const struct gsr_label *l;
	struct shape *sh;
	size_t n_sh;
	uint64_t score, rows;
};

struct sample {
	struct label_fit *lf;
	size_t n_lf;
};

static int
sample_row(void *arg, const struct gsr_row *row)
{
	struct sample *s = arg;

	for (size_t i = 0; i < s->n_lf; i++) {
		int best = -1;

		for (size_t t = 0; t < s->lf[i].n_sh; t++) {
			int sc = gsr_shape_score(&s->lf[i].sh[t].g, row->values,
			                         row->n_values);
			if (sc > best)
				best = sc;
		}
		if (best >= 0) {
			s->lf[i].rows++;
			s->lf[i].score += (uint64_t)best;
		}
	}
	return 0;
}

/*
 * No table survived in sqlite_master: find the label of the rules whose
 * tables best fit the records of the table leaves (a sample of them) and
 * create its objects.  Ties go to the later label in the lineage.
 * Returns 0 (res->schema_label set when one was chosen) or -1.
 */
static int
create_from_rules(struct rec *r, size_t *n_tables)
{
	const struct gsr_rules *ru = r->opts ? r->opts->rules : NULL;
	struct sample s = {0};
	const struct gsr_label *best = NULL;
	uint64_t best_rows = 0, best_score = 0;
	uint32_t sampled = 0;
	int rc = -1;

	*n_tables = 0;
	if (ru == NULL || ru->n_labels == 0)
		return 0;
	if ((s.lf = calloc(ru->n_labels, sizeof *s.lf)) == NULL)
		goto nomem;
	for (size_t i = 0; i < ru->n_labels; i++) {
		const struct gsr_label *l = ru->lineage[i];
		struct label_fit *f = &s.lf[s.n_lf++];

		f->l = l;
		if (l->schema == NULL)
			continue;
		if ((f->sh = calloc(l->schema->n_tables + 1, sizeof *f->sh)) ==
		    NULL)
			goto nomem;
		for (size_t t = 0; t < l->schema->n_tables; t++) {
			if (!strncmp(l->schema->tables[t].name, "sqlite_", 7) ||
			    l->schema->tables[t].is_virtual)
				continue;
			if (shape_init(&f->sh[f->n_sh++], &l->schema->tables[t],
			               l))
				goto nomem;
		}
	}
	for (uint32_t p = 2; p <= r->in.n_pages && sampled < SHAPE_SAMPLE_PAGES;
	     p++) {
		if (!page_usable(r, p) ||
		    gsr_btree_page_type(r->pf, p) != GSR_PAGE_TABLE_LEAF)
			continue;
		sampled++;
		if (gsr_btree_walk_table(r->ctx, r->pf, p, sample_row, &s,
		                         NULL) < 0)
			goto out;
	}
	for (size_t i = 0; i < s.n_lf; i++) {
		const struct label_fit *f = &s.lf[i];

		if (f->rows > best_rows ||
		    (f->rows == best_rows && f->rows > 0 &&
		     f->score >= best_score)) {
			best = f->l;
			best_rows = f->rows;
			best_score = f->score;
		}
	}
	rc = 0;
	if (best == NULL)
		goto out;
	{
		const struct gsr_label *sl =
		    best->schema_label ? best->schema_label : best;

		/* The label's objects stand for the lost sqlite_master. */
		for (size_t i = 0; i < sl->n_objs; i++) {
			const struct gsr_rule_obj *o = &sl->objs[i];
			struct entry e = {0};

			e.type = strdup(o->type);
			e.name = strdup(o->name);
			e.tbl = strdup(o->tbl);
			e.sql = o->sql ? strdup(o->sql) : NULL;
			if (e.type == NULL || e.name == NULL || e.tbl == NULL ||
			    (o->sql && e.sql == NULL) ||
			    gsr_grow((void **)&r->ents, &r->cap_ents,
			             r->n_ents + 1, sizeof *r->ents)) {
				free(e.type), free(e.name), free(e.tbl),
				    free(e.sql);
				goto nomem;
			}
			r->ents[r->n_ents++] = e;
		}
		if (create_from_entries(r, n_tables)) {
			rc = -1;
			goto out;
		}
		r->res->schema_source = "rules";
		if ((r->res->schema_label = strdup(best->name)) == NULL)
			goto nomem;
		for (size_t i = 0; i < s.n_lf; i++)
			if (s.lf[i].rows == best_rows &&
			    s.lf[i].score == best_score &&
			    sv_push(&r->res->schema_candidates,
			            s.lf[i].l->name))
				goto nomem;
	}
	goto out;
nomem:
	gsr_ctx_fail(r->ctx, GSR_ERR_NOMEM,
	             "out of memory matching record shapes");
	rc = -1;
out:
	for (size_t i = 0; s.lf && i < s.n_lf; i++) {
		for (size_t t = 0; t < s.lf[i].n_sh; t++)
			shape_free(&s.lf[i].sh[t]);
		free(s.lf[i].sh);
	}
	free(s.lf);
	return rc;
}

/* ---- the tables of the recovered database ------------------------------ */

static const struct gsr_label *
enum_label(const struct rec *r)
{
	const struct gsr_rules *ru = r->opts ? r->opts->rules : NULL;

	if (ru == NULL)
		return NULL;
	if (r->res->schema_label)
		return gsr_rules_label(ru, r->res->schema_label);
	/* The latest release: enum domains only grow. */
	for (size_t i = ru->n_labels; i-- > 0;)
		if (!strcmp(ru->lineage[i]->kind, "release"))
			return ru->lineage[i];
	return NULL;
}

static const char *
pick_rowid_name(const struct gsr_table *t)
{
	static const char *const names[] = {"_rowid_", "rowid", "oid"};

	for (size_t i = 0; i < 3; i++)
		if (gsr_table_column(t, names[i]) == NULL)
			return names[i];
	return NULL;
}

static int
tables_init(struct rec *r)
{
	const struct gsr_label *el = enum_label(r);
	struct gsr_schema *s;

	if ((r->schema = s = gsr_schema_extract(r->ctx, r->out)) == NULL)
		return -1;
	r->tabs = calloc(s->n_tables + 1, sizeof *r->tabs);
	r->res->tables = calloc(s->n_tables + 1, sizeof *r->res->tables);
	if (r->tabs == NULL || r->res->tables == NULL)
		goto nomem;
	for (size_t i = 0; i < s->n_tables; i++) {
		const struct gsr_table *t = &s->tables[i];
		struct rtable *rt = &r->tabs[r->n_tabs];
		struct gsr_recover_table *res_t = &r->res->tables[r->n_tabs];

		if (t->is_virtual)
			continue;
		r->n_tabs++;
		r->res->n_tables++;
		rt->rt = res_t;
		res_t->index_entries = -1;
		if ((res_t->name = strdup(t->name)) == NULL ||
		    shape_init(&rt->sh, t, el) ||
		    (rt->cols = calloc(t->n_cols + 1, sizeof *rt->cols)) ==
		        NULL ||
		    (rt->ins = calloc(t->n_cols + 1, sizeof *rt->ins)) == NULL)
			goto nomem;
		for (size_t c = 0; c < t->n_cols; c++) {
			struct strbuf sb = STRBUF_INIT;

			if (sb_add_ident(&sb, t->cols[c].name) ||
			    (rt->cols[c] = sb_detach(&sb)) == NULL)
				goto nomem;
		}
		if (!t->without_rowid && rt->sh.g.ipk < 0)
			rt->rowid_name = pick_rowid_name(t);
		for (size_t e = 0; e < r->n_ents; e++) {
			const struct entry *en = &r->ents[e];

			if (!strcmp(en->type, "table") &&
			    !strcmp(en->name, t->name) && en->rootpage > 0 &&
			    en->rootpage <= r->in.n_pages)
				res_t->root = (uint32_t)en->rootpage;
		}
	}
	return 0;
nomem:
	return gsr_ctx_fail(r->ctx, GSR_ERR_NOMEM, "out of memory");
}

/* The INSERT for records of n values into rt. */
static sqlite3_stmt *
insert_stmt(struct rec *r, struct rtable *rt, size_t n)
{
	struct strbuf sb = STRBUF_INIT;
	bool rowid = rt->rowid_name != NULL;

	if (rt->ins[n])
		return rt->ins[n];
	sb_adds(&sb, "INSERT INTO main.");
	sb_add_ident(&sb, rt->sh.g.name);
	sb_adds(&sb, " (");
	if (rowid)
		sb_addf(&sb, "%s%s", rt->rowid_name, n ? ", " : "");
	for (size_t i = 0; i < n; i++)
		sb_addf(&sb, "%s%s", i ? ", " : "", rt->cols[i]);
	sb_adds(&sb, ") VALUES (");
	for (size_t i = 0; i < n + rowid; i++)
		sb_adds(&sb, i ? ", ?" : "?");
	sb_adds(&sb, ")");
	if (sb_str(&sb) == NULL) {
		gsr_ctx_fail(r->ctx, GSR_ERR_NOMEM, "out of memory");
		return NULL;
	}
	rt->ins[n] = gsr_db_prepare(r->ctx, r->out, sb_str(&sb));
	sb_release(&sb);
	return rt->ins[n];
}

/* Whether a row is stored at row->rowid, and whether it holds the
 * record's values.  Returns 0, or -1 on error. */
static int
stored_row(struct rec *r, struct rtable *rt, const struct gsr_row *row,
           bool *exists, bool *same)
{
	struct strbuf sb = STRBUF_INIT;
	sqlite3_stmt *st;
	int rc;

	*same = *exists = false;
	if (rt->get == NULL) {
		sb_adds(&sb, "SELECT * FROM main.");
		sb_add_ident(&sb, rt->sh.g.name);
		sb_adds(&sb, " WHERE _rowid_ = ?");
		if (sb_str(&sb) == NULL)
			return gsr_ctx_fail(r->ctx, GSR_ERR_NOMEM,
			                    "out of memory");
		/* A table with a column named _rowid_ has no way to be
		 * asked: the row counts as different. */
		if (sqlite3_prepare_v2(r->out, sb_str(&sb), -1, &rt->get,
		                       NULL) != SQLITE_OK) {
			sb_release(&sb);
			return 0;
		}
		sb_release(&sb);
	}
	st = rt->get;
	sqlite3_bind_int64(st, 1, row->rowid);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		*exists = *same = true;
		for (size_t i = 0; i < row->n_values && *same; i++) {
			const struct gsr_value *v = &row->values[i];
			int t = sqlite3_column_type(st, (int)i);

			if ((int)i == rt->sh.g.ipk)
				continue;
			switch (v->type) {
			case GSR_V_NULL:
				*same = t == SQLITE_NULL;
				break;
			case GSR_V_INT:
				*same = (t == SQLITE_INTEGER &&
				         sqlite3_column_int64(st, (int)i) ==
				             v->i) ||
				        (t == SQLITE_FLOAT &&
				         sqlite3_column_double(st, (int)i) ==
				             (double)v->i);
				break;
			case GSR_V_REAL:
				*same =
				    t == SQLITE_FLOAT &&
				    sqlite3_column_double(st, (int)i) == v->r;
				break;
			case GSR_V_TEXT:
			case GSR_V_BLOB:
				*same =
				    (t == SQLITE_TEXT || t == SQLITE_BLOB) &&
				    (size_t)sqlite3_column_bytes(st, (int)i) ==
				        v->n &&
				    (v->n == 0 ||
				     !memcmp(sqlite3_column_blob(st, (int)i),
				             v->p, v->n));
				break;
			}
		}
	}
	sqlite3_reset(st);
	return 0;
}

static bool
is_sequence(const struct rtable *rt)
{
	return !strcmp(rt->sh.g.name, "sqlite_sequence");
}

/* ---- the indexes of the tables ------------------------------------------ */

/* The indexes of the rowid tables whose keys are plain columns, with their
 * root pages from sqlite_master.  Returns 0 or -1 (out of memory). */
static int
indexes_init(struct rec *r)
{
	for (size_t t = 0; t < r->n_tabs; t++) {
		const struct gsr_table *st =
		    gsr_schema_table(r->schema, r->tabs[t].sh.g.name);

		if (st == NULL || st->without_rowid)
			continue;
		for (size_t i = 0; i < st->n_idx; i++) {
			const struct gsr_index *x = &st->idx[i];
			struct ridx *ri;
			char *list, *save = NULL;
			bool plain = !x->partial && x->cols && *x->cols;

			if (!plain)
				continue;
			if (gsr_grow((void **)&r->idx, &r->cap_idx,
			             r->n_idx + 1, sizeof *r->idx))
				return -1;
			ri = &r->idx[r->n_idx];
			memset(ri, 0, sizeof *ri);
			ri->name = x->name;
			ri->table = t;
			ri->unique = x->unique;
			if ((list = strdup(x->cols)) == NULL ||
			    (ri->cols = calloc(st->n_cols + 1,
			                       sizeof *ri->cols)) == NULL) {
				free(list);
				return -1;
			}
			for (char *c = strtok_r(list, ",", &save); c && plain;
			     c = strtok_r(NULL, ",", &save)) {
				const struct gsr_column *col =
				    gsr_table_column(st, c);

				if (col == NULL || ri->n_keys >= st->n_cols)
					plain = false;
				else
					ri->cols[ri->n_keys++] =
					    (size_t)(col - st->cols);
			}
			free(list);
			if (!plain || ri->n_keys == 0) {
				free(ri->cols);
				continue;
			}
			for (size_t e = 0; e < r->n_ents; e++)
				if (!strcmp(r->ents[e].type, "index") &&
				    !strcmp(r->ents[e].name, x->name) &&
				    r->ents[e].rootpage > 0 &&
				    r->ents[e].rootpage <= r->in.n_pages)
					ri->root =
					    (uint32_t)r->ents[e].rootpage;
			r->n_idx++;
		}
	}
	return 0;
}

/* The key of index ri for a row of n values at rowid (rowid_known): into
 * key (ri->n_keys values).  False when the row does not hold it all. */
static bool
row_key(const struct rec *r, const struct ridx *ri, const struct gsr_value *v,
        size_t n, int64_t rowid, bool rowid_known, struct gsr_value *key)
{
	int ipk = r->tabs[ri->table].sh.g.ipk;

	for (size_t k = 0; k < ri->n_keys; k++) {
		size_t c = ri->cols[k];

		if ((int)c == ipk) {
			if (!rowid_known)
				return false;
			memset(&key[k], 0, sizeof key[k]);
			key[k].type = GSR_V_INT;
			key[k].i = rowid;
			continue;
		}
		if (c >= n || v[c].truncated || v[c].encoding_error)
			return false;
		key[k] = v[c];
	}
	return true;
}

static int
ikey_entry(void *arg, const struct gsr_row *row)
{
	struct rec *r = ((void **)arg)[0];
	const struct ridx *ri = ((void **)arg)[1];
	const struct gsr_value *last;

	if (row->truncated || row->n_values != ri->n_keys + 1)
		return 0;
	last = &row->values[ri->n_keys];
	if (last->type != GSR_V_INT || record_json(r, row->values, ri->n_keys))
		return gsr_ctx_failed(r->ctx) ? 1 : 0;
	sqlite3_bind_int64(r->ik_ins, 1, (int64_t)(ri - r->idx));
	sqlite3_bind_int64(r->ik_ins, 2, last->i);
	sqlite3_bind_text64(r->ik_ins, 3, r->jbuf, r->jlen, SQLITE_STATIC,
	                    SQLITE_UTF8);
	return step_done(r, r->led, r->ik_ins) ? 1 : 0;
}

/* The entries of every index tree, into temp.ikeys (index, rowid, key as
 * JSON), for the cross-check of place_row() and the rowids of carved
 * rows.  Returns 0 or -1. */
static int
read_index_trees(struct rec *r)
{
	if (gsr_db_exec(
	        r->ctx, r->led,
	        "CREATE TEMP TABLE ikeys(ix INTEGER, rid INTEGER, key TEXT);"
	        "CREATE INDEX temp.ikeys_rid ON ikeys(ix, rid);"
	        "CREATE INDEX temp.ikeys_key ON ikeys(ix, key);") ||
	    (r->ik_ins = gsr_db_prepare(
	         r->ctx, r->led, "INSERT INTO temp.ikeys VALUES (?,?,?)")) ==
	        NULL ||
	    (r->ik_rid =
	         gsr_db_prepare(r->ctx, r->led,
	                        "SELECT key FROM temp.ikeys WHERE ix = ?1 "
	                        "AND rid = ?2")) == NULL ||
	    (r->ik_key =
	         gsr_db_prepare(r->ctx, r->led,
	                        "SELECT DISTINCT rid FROM temp.ikeys WHERE "
	                        "ix = ?1 AND key = ?2 LIMIT 8")) == NULL ||
	    (r->json_ok = gsr_db_prepare(r->ctx, r->out,
	                                 "SELECT json_valid(?1)")) == NULL)
		return -1;
	for (size_t i = 0; i < r->n_idx; i++) {
		void *arg[2] = {r, &r->idx[i]};

		if (r->idx[i].root == 0)
			continue;
		if (gsr_btree_walk_index(r->ctx, r->pf, r->idx[i].root,
		                         ikey_entry, arg, NULL) < 0)
			return -1;
	}
	return 0;
}

/*
 * What the bytes of a row contradict, or NULL: a value of a storage class
 * its column's declared type cannot hold ("storage-class"), TEXT that is
 * not valid UTF-8 ("not-utf8"), a JSON column (declared type JSON) whose
 * TEXT does not parse ("json-invalid"), a TEXT outside the rules' enum
 * domain of its column ("enum-domain"), and with live, an index whose
 * entries at the row's rowid all hold other key values ("index-mismatch").
 * Values cut short are not judged.  note (cap bytes) says which column.
 * Sets *err on an error recorded on ctx.
 */
static const char *
row_flag(struct rec *r, const struct rtable *rt, const struct gsr_row *row,
         bool live, char *note, size_t cap, bool *err)
{
	const struct gsr_shape *g = &rt->sh.g;
	struct gsr_value key[64];

	*err = false;
	if (is_sequence(rt))
		return NULL;
	for (size_t i = 0; i < row->n_values && i < g->n_cols; i++) {
		const struct gsr_value *v = &row->values[i];
		const char *flag = NULL;

		if ((int)i == g->ipk || v->truncated)
			continue;
		if (v->encoding_error ||
		    (v->type == GSR_V_TEXT &&
		     !gsr_utf8_valid((const char *)v->p, v->n)))
			flag = "not-utf8";
		else if (!(g->allowed[i] & (1u << v->type)))
			flag = "storage-class";
		else if (v->type == GSR_V_TEXT && g->enums[i]) {
			flag = "enum-domain";
			for (size_t e = 0; g->enums[i][e] && flag; e++)
				if (strlen(g->enums[i][e]) == v->n &&
				    !memcmp(g->enums[i][e], v->p, v->n))
					flag = NULL;
		} else if (v->type == GSR_V_TEXT &&
		           (g->checks[i] & GSR_CHECK_JSON)) {
			int ok;

			sqlite3_bind_text64(r->json_ok, 1, (const char *)v->p,
			                    v->n, SQLITE_STATIC, SQLITE_UTF8);
			ok = sqlite3_step(r->json_ok) == SQLITE_ROW &&
			     sqlite3_column_int(r->json_ok, 0) == 1;
			sqlite3_reset(r->json_ok);
			if (!ok)
				flag = "json-invalid";
		}
		if (flag) {
			snprintf(note, cap, "%s: column %zu (%s)", flag, i + 1,
			         rt->cols[i]);
			return flag;
		}
	}
	if (!live || rt->sh.without_rowid)
		return NULL;
	for (size_t x = 0; x < r->n_idx; x++) {
		const struct ridx *ri = &r->idx[x];
		bool any = false, match = false;
		int rc;

		if (&r->tabs[ri->table] != rt ||
		    ri->n_keys > GSR_ARRAY_LEN(key) ||
		    !row_key(r, ri, row->values, row->n_values, row->rowid,
		             true, key))
			continue;
		if (record_json(r, key, ri->n_keys)) {
			*err = true;
			return NULL;
		}
		sqlite3_bind_int64(r->ik_rid, 1, (int64_t)x);
		sqlite3_bind_int64(r->ik_rid, 2, row->rowid);
		while ((rc = sqlite3_step(r->ik_rid)) == SQLITE_ROW && !match) {
			const char *k =
			    (const char *)sqlite3_column_text(r->ik_rid, 0);

			any = true;
			match = k && strlen(k) == r->jlen &&
			        !memcmp(k, r->jbuf, r->jlen);
		}
		sqlite3_reset(r->ik_rid);
		if (any && !match) {
			snprintf(note, cap,
			         "index-mismatch: index %s holds other key "
			         "values for rowid %" PRId64,
			         ri->name, row->rowid);
			return "index-mismatch";
		}
	}
	return NULL;
}

/* Report pages walked as the phase "page reader" (ctx.h): never fewer
 * than before, so that the sweep of place_orphans() takes the count of
 * leaves read from the trees on to the page count. */
static void
walked(struct rec *r, uint64_t pages)
{
	if (pages > r->walked)
		r->walked = pages;
	gsr_progress(r->ctx, "page reader", GSR_PROGRESS_PAGES, r->walked,
	             r->in.n_pages);
}

/* Write the run of provenance gathered (if any) as one entry: rid its
 * first rowid, last_rid its last, n_rows its rows, no cell offset.
 * Returns 0 or -1 (error recorded). */
static int
run_flush(struct rec *r)
{
	sqlite3_stmt *st = r->prov;

	if (r->run.count == 0)
		return 0;
	sqlite3_bind_text(st, 1, r->run.rt->rt->name, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, r->run.first);
	sqlite3_bind_text(st, 3, "btree", -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 4, r->run.pgno);
	sqlite3_bind_int(st, 7, 0);
	sqlite3_bind_int64(st, 8, r->run.last);
	sqlite3_bind_int64(st, 9, r->run.count);
	r->run.count = 0;
	return step_done(r, r->led, st);
}

/*
 * The provenance of a row placed in rt: a row of a tree ("btree"), read
 * from the file (not a WAL frame), whole, joins the run of the cells
 * before it on its leaf when its rowid follows theirs; any other row gets
 * an entry of its own, after the run is written.  Returns 0 or -1.
 */
static int
run_add(struct rec *r, const struct rtable *rt, const struct gsr_row *row,
        int64_t frame)
{
	sqlite3_stmt *st = r->prov;

	if (!strcmp(r->source, "btree") && frame <= 0 && !row->truncated) {
		if (r->run.count > 0 &&
		    (r->run.rt != rt || r->run.pgno != row->pgno ||
		     row->rowid <= r->run.last) &&
		    run_flush(r))
			return -1;
		if (r->run.count == 0) {
			r->run.rt = rt;
			r->run.pgno = row->pgno;
			r->run.first = row->rowid;
		}
		r->run.last = row->rowid;
		r->run.count++;
		return 0;
	}
	if (run_flush(r))
		return -1;
	sqlite3_bind_text(st, 1, rt->rt->name, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, row->rowid);
	sqlite3_bind_text(st, 3, r->source, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 4, row->pgno);
	sqlite3_bind_int64(st, 5, row->cell_offset);
	if (frame > 0)
		sqlite3_bind_int64(st, 6, frame);
	sqlite3_bind_int(st, 7, row->truncated);
	return step_done(r, r->led, st);
}

/* Insert one recovered row into r->cur; what does not go in goes to the
 * ledger, after the run of provenance before it.  Returns 0 to go on, 1
 * to stop (error recorded). */
static int
place_row(void *arg, const struct gsr_row *row)
{
	struct rec *r = arg;
	struct rtable *rt = r->cur;
	struct gsr_recover_table *t = rt->rt;
	size_t n = row->n_values;
	sqlite3_stmt *st;
	int b = 1, rc;
	char note[160];

	if (r->owner && row->pgno <= r->in.n_pages)
		r->owner[row->pgno] = (uint32_t)(rt - r->tabs) + 1;
	if (row->pgno != r->leaf_pgno) {
		r->leaf_pgno = row->pgno;
		if (++r->leaves % 64 == 0)
			walked(r, r->leaves);
	}
	if (n == 0 || n > rt->sh.g.n_cols) {
		if (run_flush(r))
			return 1;
		snprintf(note, sizeof note,
		         "the record has %zu values; the table has %zu columns",
		         n, rt->sh.g.n_cols);
		t->rejected++;
		return ledger_row(r, t->name, "rejected", row,
		                  !rt->sh.without_rowid, note)
		           ? 1
		           : 0;
	}
	{
		bool err;
		const char *flag =
		    row_flag(r, rt, row, true, note, sizeof note, &err);

		if (err)
			return 1;
		if (flag) {
			/* Withheld: the bytes contradict themselves. */
			if (run_flush(r))
				return 1;
			t->flagged++;
			return ledger_row_flag(r, t->name, "flagged", row,
			                       !rt->sh.without_rowid, note,
			                       flag)
			           ? 1
			           : 0;
		}
	}
	if ((st = insert_stmt(r, rt, n)) == NULL)
		return 1;
	if (rt->rowid_name)
		sqlite3_bind_int64(st, b++, row->rowid);
	for (size_t i = 0; i < n; i++, b++) {
		if ((int)i == rt->sh.g.ipk)
			rc = sqlite3_bind_int64(st, b, row->rowid);
		else
			rc = bind_value(st, b, &row->values[i]);
		if (rc != SQLITE_OK) {
			sqlite3_reset(st);
			sqlite3_clear_bindings(st);
			gsr_ctx_fail(r->ctx, GSR_ERR_NOMEM,
			             "cannot bind a value: %s",
			             sqlite3_errmsg(r->out));
			return 1;
		}
	}
	rc = sqlite3_step(st);
	if (rc != SQLITE_DONE)
		snprintf(note, sizeof note, "%s", sqlite3_errmsg(r->out));
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	if ((rc & 0xff) == SQLITE_CONSTRAINT ||
	    (rc & 0xff) == SQLITE_MISMATCH || (rc & 0xff) == SQLITE_TOOBIG) {
		bool exists = false, same = false;
		const char *kind = "rejected";

		if (run_flush(r))
			return 1;
		if (!rt->sh.without_rowid && strcmp(r->source, "btree") &&
		    stored_row(r, rt, row, &exists, &same))
			return 1;
		if (same) {
			t->duplicates++;
			return 0;
		}
		if (exists) {
			/* Another version of a row the tree holds: the tree's
			 * is the live one. */
			kind = "history";
			snprintf(note, sizeof note,
			         "the tree holds other values at this rowid");
		}
		t->rejected += !exists;
		return ledger_row(r, t->name, kind, row, !rt->sh.without_rowid,
		                  note)
		           ? 1
		           : 0;
	}
	if (rc != SQLITE_DONE)
		return gsr_ctx_fail(r->ctx,
		                    (rc & 0xff) == SQLITE_NOMEM ? GSR_ERR_NOMEM
		                                                : GSR_ERR_IO,
		                    "cannot write the recovered database: %s",
		                    note),
		       1;
	t->rows++;
	if (rt->min_values == 0 || n < rt->min_values)
		rt->min_values = n;
	if (!strcmp(r->source, "btree"))
		t->btree++;
	else
		t->orphan++;
	t->truncated += row->truncated;
	if (rt->sh.without_rowid)
		return 0;
	return run_add(r, rt, row,
	               r->cur_frame > 0 ? r->cur_frame
	               : r->wal         ? gsr_wal_lookup(r->wal, row->pgno)
	                                : 0)
	           ? 1
	           : 0;
}

/* ---- the bulk copy of what reads whole --------------------------------- */

/* Whether rt may be copied by bulk_finish(): a rowid table other than
 * sqlite_sequence, without an index in the recovered database (SQLite
 * would copy the image's index b-trees as they are), whose root SQLite
 * finds where the page reader does. */
static bool
bulk_eligible(struct rec *r, const struct rtable *rt)
{
	const struct gsr_table *t = gsr_schema_table(r->schema, rt->sh.g.name);
	sqlite3_stmt *st = NULL;
	bool ok = false;

	/* A column named _rowid_ would hide the rowid from bulk_copy(). */
	if (!r->img || rt->sh.without_rowid || is_sequence(rt) ||
	    rt->rt->root == 0 || t == NULL ||
	    gsr_table_column(t, "_rowid_") != NULL ||
	    sqlite3_prepare_v2(
	        r->out,
	        "SELECT (SELECT count(*) FROM main.sqlite_master WHERE "
	        "type = 'index' AND tbl_name = ?1) = 0 AND (SELECT "
	        "rootpage FROM img.sqlite_master WHERE type = 'table' AND "
	        "name = ?1) = ?2",
	        -1, &st, NULL) != SQLITE_OK)
		goto out;
	sqlite3_bind_text(st, 1, rt->sh.g.name, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, rt->rt->root);
	ok = sqlite3_step(st) == SQLITE_ROW && sqlite3_column_int(st, 0) == 1;
out:
	sqlite3_finalize(st);
	return ok;
}

/* Whether a row of rt goes in whole as read: a value count the table
 * takes, nothing cut short, no NULL in a NOT NULL column, no flag of
 * row_flag() (*err on an error recorded). */
static bool
row_whole(struct rec *r, const struct rtable *rt, const struct gsr_row *row,
          bool *err)
{
	size_t n = row->n_values;
	char note[160];

	*err = false;
	if (n == 0 || n > rt->sh.g.n_cols || row->truncated)
		return false;
	for (size_t i = 0; i < n; i++)
		if (row->values[i].type == GSR_V_NULL &&
		    (int)i != rt->sh.g.ipk && !(rt->sh.g.allowed[i] & C_NULL))
			return false;
	return row_flag(r, rt, row, true, note, sizeof note, err) == NULL &&
	       !*err;
}

/* Count a row of a segment against its leaf in rt->leaves (a new leaf
 * when it is not the last one's), up to GRAFT_MAX_LEAVES leaves.  0, or
 * -1 out of memory (recorded). */
static int
note_leaf(struct rec *r, struct rtable *rt, const struct gsr_row *row)
{
	if (rt->too_many_leaves)
		return 0;
	if (rt->n_leaves == 0 ||
	    rt->leaves[rt->n_leaves - 1].pgno != row->pgno) {
		if (rt->n_leaves == GRAFT_MAX_LEAVES) {
			rt->too_many_leaves = true;
			return 0;
		}
		if (gsr_grow((void **)&rt->leaves, &rt->cap_leaves,
		             rt->n_leaves + 1, sizeof *rt->leaves))
			return gsr_ctx_fail(r->ctx, GSR_ERR_NOMEM,
			                    "out of memory");
		rt->leaves[rt->n_leaves++] = (struct leaf){.pgno = row->pgno};
	}
	rt->leaves[rt->n_leaves - 1].rows++;
	return 0;
}

/* The first pass of bulk_walk() over a row: a row that goes in whole
 * (row_whole()), after the one before it in rowid order with no damage
 * between them, joins the segment of that one, else opens one; any other
 * row closes it and is left for the second pass.  The rows of segments
 * join the runs of provenance.  Stops the walk (1) past BULK_MAX_SEGS
 * segments, or on an error. */
static int
bulk_row(void *arg, const struct gsr_row *row)
{
	struct rec *r = arg;
	struct rtable *rt = r->cur;
	uint64_t damage = rt->ws.pages_damaged + rt->ws.cells_damaged;
	bool err = false, whole;
	struct seg *sg;

	if (r->owner && row->pgno <= r->in.n_pages)
		r->owner[row->pgno] = (uint32_t)(rt - r->tabs) + 1;
	if (row->pgno != r->leaf_pgno) {
		r->leaf_pgno = row->pgno;
		if (++r->leaves % 64 == 0)
			walked(r, r->leaves);
	}
	if (damage != r->bulk_damage)
		r->seg_open = false;
	r->bulk_damage = damage;
	whole = (!r->bulk_any || row->rowid > r->bulk_last) &&
	        row_whole(r, rt, row, &err);
	if (err)
		return 1;
	if (!r->bulk_any || row->rowid > r->bulk_last)
		r->bulk_last = row->rowid;
	r->bulk_any = true;
	if (!whole) {
		rt->partial = rt->left_out = true;
		r->seg_open = false;
		return 0;
	}
	if (!r->seg_open) {
		if (rt->n_segs >= BULK_MAX_SEGS)
			return 1;
		if (gsr_grow((void **)&rt->segs, &rt->cap_segs, rt->n_segs + 1,
		             sizeof *rt->segs))
			return gsr_ctx_fail(r->ctx, GSR_ERR_NOMEM,
			                    "out of memory"),
			       1;
		sg = &rt->segs[rt->n_segs++];
		*sg = (struct seg){.first = row->rowid};
		r->seg_open = true;
	}
	sg = &rt->segs[rt->n_segs - 1];
	sg->last = row->rowid;
	sg->count++;
	if (note_leaf(r, rt, row))
		return 1;
	if (rt->bulk_min == 0 || row->n_values < rt->bulk_min)
		rt->bulk_min = row->n_values;
	return run_add(r, rt, row, 0) ? 1 : 0;
}

/* The second pass of bulk_finish() over a row: a row of a segment SQLite
 * copied is counted, with its provenance; any other goes in by
 * place_row(). */
static int
bulk_fill(void *arg, const struct gsr_row *row)
{
	struct rec *r = arg;
	struct rtable *rt = r->cur;
	const struct seg *sg;

	while (rt->seg_at < rt->n_segs &&
	       rt->segs[rt->seg_at].last < row->rowid)
		rt->seg_at++;
	sg = rt->seg_at < rt->n_segs ? &rt->segs[rt->seg_at] : NULL;
	if (sg == NULL || !sg->ok || row->rowid < sg->first)
		return place_row(arg, row);
	if (r->owner && row->pgno <= r->in.n_pages)
		r->owner[row->pgno] = (uint32_t)(rt - r->tabs) + 1;
	rt->rt->rows++;
	rt->rt->btree++;
	rt->rt->bulk_rows++;
	if (rt->min_values == 0 || row->n_values < rt->min_values)
		rt->min_values = row->n_values;
	return run_add(r, rt, row, 0) ? 1 : 0;
}

/* Statements on r->out about rt: sql with {T} standing for its name
 * and {C} for its columns (and its rowid by name when no column is its
 * alias).  NULL when SQLite does not take it (the image's table is not
 * the recovered one's), or out of memory (recorded). */
static sqlite3_stmt *
bulk_stmt(struct rec *r, const struct rtable *rt, const char *sql)
{
	struct strbuf sb = STRBUF_INIT;
	sqlite3_stmt *st;

	for (const char *p = sql; *p; p++) {
		if (!strncmp(p, "{T}", 3)) {
			sb_add_ident(&sb, rt->sh.g.name);
			p += 2;
		} else if (!strncmp(p, "{C}", 3)) {
			if (rt->rowid_name)
				sb_addf(&sb, "%s, ", rt->rowid_name);
			for (size_t i = 0; i < rt->sh.g.n_cols; i++)
				sb_addf(&sb, "%s%s", i ? ", " : "",
				        rt->cols[i]);
			p += 2;
		} else {
			sb_addf(&sb, "%c", *p);
		}
	}
	if (sb_str(&sb) == NULL) {
		gsr_ctx_fail(r->ctx, GSR_ERR_NOMEM, "out of memory");
		return NULL;
	}
	if (sqlite3_prepare_v2(r->out, sb_str(&sb), -1, &st, NULL) !=
	    SQLITE_OK) {
		sqlite3_finalize(st);
		st = NULL;
	}
	sb_release(&sb);
	return st;
}

/* The root page of rt in r->out: 0 when it has none, or when it is an
 * AUTOINCREMENT table (whose sqlite_sequence SQLite's copy keeps). */
static uint32_t
out_root(struct rec *r, const struct rtable *rt)
{
	sqlite3_stmt *st;
	uint32_t root = 0;

	if ((st = gsr_db_prepare(r->ctx, r->out,
	                         "SELECT rootpage, sql LIKE '%autoincrement%' "
	                         "FROM main.sqlite_master WHERE type = 'table' "
	                         "AND name = ?1")) == NULL)
		return 0;
	sqlite3_bind_text(st, 1, rt->sh.g.name, -1, SQLITE_STATIC);
	if (sqlite3_step(st) == SQLITE_ROW && sqlite3_column_int(st, 1) == 0 &&
	    sqlite3_column_int64(st, 0) > 1 &&
	    sqlite3_column_int64(st, 0) <= UINT32_MAX)
		root = (uint32_t)sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	return root;
}

/* Graft the leaves of rt's segments onto r->out (graft.h), r->out out of
 * its transaction: 0, 1 when one of them is not a whole leaf of rows that
 * all went into segments (the file is then as it was), -1 on an error. */
static int
graft_leaves(struct rec *r, const struct rtable *rt, uint32_t root)
{
	struct gsr_graft *g = NULL;
	int rc;

	rc = gsr_graft_begin(r->ctx, r->out_path, r->in.page_size,
	                     r->in.usable_size, root, rt->n_leaves, &g);
	for (size_t i = 0; rc == 0 && i < rt->n_leaves; i++) {
		const unsigned char *p =
		    gsr_pagefile_page(r->pf, rt->leaves[i].pgno);

		rc = p == NULL ? (gsr_ctx_failed(r->ctx) ? -1 : 1)
		               : gsr_graft_leaf(g, p, rt->leaves[i].rows);
	}
	if (rc == 0)
		rc = gsr_graft_finish(g);
	if (gsr_graft_end(g))
		rc = -1;
	return rc;
}

/*
 * Copy rt's segments as pages: when every row its first pass delivered
 * went into a segment, and the leaves that gave them hold those rows and
 * no other cell, none overflowing, the leaves go into r->out as they are
 * (their free space zeroed) under interior pages built for them
 * (graft_leaves()), where SQLite would decode and encode every row of a
 * cut tree again.  SQLite then reads the table back: its count and
 * rowids must be the segments', or the graft is an internal error.
 * Returns 0 when grafted (every segment ok), 1 when not (nothing
 * written), -1 on an error.
 */
static int
graft_table(struct rec *r, struct rtable *rt)
{
	int64_t n = 0;
	uint32_t root;
	sqlite3_stmt *chk = NULL;
	int rc, c;

	if (rt->left_out || rt->stopped || rt->too_many_leaves ||
	    rt->n_segs == 0 || (root = out_root(r, rt)) == 0)
		return gsr_ctx_failed(r->ctx) ? -1 : 1;
	for (size_t i = 0; i < rt->n_segs; i++)
		n += rt->segs[i].count;
	if (gsr_db_exec(r->ctx, r->out, "COMMIT"))
		return -1;
	rc = graft_leaves(r, rt, root);
	if (gsr_db_exec(r->ctx, r->out, "BEGIN"))
		rc = -1;
	if (rc != 0)
		return rc;
	if ((chk = bulk_stmt(r, rt,
	                     "SELECT (SELECT count(*) FROM main.{T}), (SELECT "
	                     "min(_rowid_) FROM main.{T}), (SELECT "
	                     "max(_rowid_) FROM main.{T})")) == NULL)
		return -1;
	if ((c = sqlite3_step(chk)) != SQLITE_ROW)
		rc = gsr_ctx_fail(r->ctx, GSR_ERR_INTERNAL,
		                  "the leaves of '%s' grafted onto the "
		                  "recovered database do not read back: %s",
		                  rt->sh.g.name, sqlite3_errstr(c));
	else if (sqlite3_column_int64(chk, 0) != n ||
	         sqlite3_column_int64(chk, 1) != rt->segs[0].first ||
	         sqlite3_column_int64(chk, 2) != rt->segs[rt->n_segs - 1].last)
		rc = gsr_ctx_fail(r->ctx, GSR_ERR_INTERNAL,
		                  "the leaves of '%s' grafted onto the "
		                  "recovered database read back as other rows",
		                  rt->sh.g.name);
	sqlite3_finalize(chk);
	for (size_t i = 0; rc == 0 && i < rt->n_segs; i++)
		rt->segs[i].ok = true;
	if (rc == 0)
		rt->rt->leaves_grafted += (int64_t)rt->n_leaves;
	return rc;
}

/* Copy each segment of rt: as grafted leaves when graft_table() can,
 * else with SQLite, the rows from its first rowid on, as many as it
 * counts (so that SQLite reads no further), which must be exactly the
 * segment's rowids, or they are taken out again and the
 * segment is left to the second pass.  A segment's columns are named, so
 * that SQLite decodes every row and writes a record of its own; only a
 * tree that reads whole takes SQLite's transfer of records as stored
 * (the bytes the page reader decoded whole, row by row).  Each copy is a
 * transaction of its own, with a journal in memory (it holds the pages
 * of the tree that existed before, the path it appends to): one that
 * meets damage SQLite sees (SQLITE_CORRUPT) is rolled back alone, where
 * inside a transaction it would forbid every later write of that
 * transaction.  The rows of a copy that does not hold are deleted
 * without a journal.  Returns 0 or -1. */
static int
bulk_copy(struct rec *r, struct rtable *rt)
{
	sqlite3_stmt *ins = NULL, *chk = NULL, *del = NULL;
	bool committed = false;
	int rc = -1;
	/* A tree that reads whole, each of its records decoded whole by the
	 * page reader, with its rowid alias: SQLite's transfer of those
	 * records as they are stored. */
	const char *whole = rt->rowid_name ? "INSERT INTO main.{T} ({C}) "
	                                     "SELECT {C} FROM img.{T}"
	                                   : "INSERT INTO main.{T} SELECT * "
	                                     "FROM img.{T}";

	if ((rc = graft_table(r, rt)) <= 0)
		return rc;
	rc = -1;
	if ((ins = bulk_stmt(r, rt,
	                     rt->n_segs == 1 && !rt->partial
	                         ? whole
	                         : "INSERT INTO main.{T} ({C}) SELECT {C} "
	                           "FROM img.{T} WHERE _rowid_ >= ?1 "
	                           "LIMIT ?2")) == NULL ||
	    (chk = bulk_stmt(r, rt,
	                     "SELECT count(*), min(_rowid_), max(_rowid_) "
	                     "FROM main.{T} WHERE _rowid_ >= ?1")) == NULL ||
	    (del = bulk_stmt(
	         r, rt, "DELETE FROM main.{T} WHERE _rowid_ >= ?1")) == NULL) {
		/* Nothing copied: every row goes by the second pass. */
		rt->partial = true;
		rc = gsr_ctx_failed(r->ctx) ? -1 : 0;
		goto out;
	}
	if (gsr_db_exec(r->ctx, r->out, "COMMIT"))
		goto out;
	committed = true;
	for (size_t i = 0; i < rt->n_segs; i++) {
		struct seg *sg = &rt->segs[i];
		int c;

		if (sqlite3_bind_parameter_count(ins) == 2) {
			sqlite3_bind_int64(ins, 1, sg->first);
			sqlite3_bind_int64(ins, 2, sg->count);
		}
		if (gsr_db_exec(r->ctx, r->out,
		                "PRAGMA main.journal_mode=MEMORY"))
			goto out;
		c = sqlite3_step(ins);
		sqlite3_reset(ins);
		sqlite3_bind_int64(chk, 1, sg->first);
		sg->ok = c == SQLITE_DONE && sqlite3_step(chk) == SQLITE_ROW &&
		         sqlite3_column_int64(chk, 0) == sg->count &&
		         sqlite3_column_int64(chk, 1) == sg->first &&
		         sqlite3_column_int64(chk, 2) == sg->last;
		sqlite3_reset(chk);
		if (sg->ok)
			continue;
		rt->partial = true;
		sqlite3_bind_int64(del, 1, sg->first);
		if (gsr_db_exec(r->ctx, r->out,
		                "PRAGMA main.journal_mode=OFF") ||
		    step_done(r, r->out, del))
			goto out;
	}
	rc = 0;
out:
	sqlite3_finalize(ins);
	sqlite3_finalize(chk);
	sqlite3_finalize(del);
	if (committed &&
	    gsr_db_exec(r->ctx, r->out, "PRAGMA main.journal_mode=OFF; BEGIN"))
		rc = -1;
	return rc;
}

/* Forget the provenance written for rt (before its second pass). */
static int
forget_provenance(struct rec *r, const struct rtable *rt)
{
	sqlite3_stmt *st;
	int rc;

	r->run.count = 0;
	if ((st = gsr_db_prepare(r->ctx, r->led,
	                         "DELETE FROM provenance WHERE tbl = ?")) ==
	    NULL)
		return -1;
	sqlite3_bind_text(st, 1, rt->rt->name, -1, SQLITE_STATIC);
	rc = step_done(r, r->led, st);
	sqlite3_finalize(st);
	return rc;
}

/*
 * The first pass over rt's tree (bulk_row()): its rows that go in whole
 * as read, with no damage between them, make its segments (rt->segs),
 * each with the page reader's runs of provenance; rt->partial says that a
 * row was left out of them, rt->ws holds the walk's damage.  Nothing is
 * written to r->out: bulk_finish() or vacuum_out() copies the segments.
 * Returns 0, 1 when the walk gave up (rt->stopped: too many segments;
 * its provenance is forgotten, rt goes row by row), -1 on an error.
 */
static int
bulk_walk(struct rec *r, struct rtable *rt)
{
	int rc;

	r->cur = rt;
	r->source = "btree";
	r->bulk_any = r->seg_open = false;
	r->bulk_last = 0;
	r->bulk_damage = 0;
	rt->partial = rt->left_out = false;
	rt->bulk_min = 0;
	rt->n_segs = rt->seg_at = rt->n_leaves = 0;
	rt->too_many_leaves = false;
	rt->walked = true;
	rc = gsr_btree_walk_mark(r->ctx, r->pf, rt->rt->root, false, r->used,
	                         bulk_row, r, &rt->ws);
	if (rc < 0 || gsr_ctx_failed(r->ctx))
		return -1;
	if (rc != 0) {
		rt->stopped = true;
		return forget_provenance(r, rt) ? -1 : 1;
	}
	if (rt->ws.pages_damaged || rt->ws.cells_damaged)
		rt->partial = true;
	return run_flush(r) ? -1 : 0;
}

/* Whether rt's first pass read it whole: every row in one segment (or
 * none), no damage. */
static bool
reads_whole(const struct rtable *rt)
{
	return rt->walked && !rt->stopped && !rt->partial && rt->n_segs <= 1;
}

/* Count the rows of rt's segments as copied by SQLite, with the first
 * pass's damage. */
static void
count_whole(struct rtable *rt)
{
	int64_t n = 0;

	for (size_t i = 0; i < rt->n_segs; i++)
		n += rt->segs[i].count;
	rt->rt->rows += n;
	rt->rt->btree += n;
	rt->rt->bulk_rows += n;
	rt->min_values = rt->bulk_min;
	rt->rt->pages_damaged += rt->ws.pages_damaged;
	rt->rt->cells_damaged += rt->ws.cells_damaged;
}

/* When the walk left no row it delivered out of the segments and every
 * segment's copy held (damage only cut the tree into segments): count
 * their rows as copied, with the first pass's provenance, and say so;
 * a second walk would place no row. */
static bool
segments_hold(struct rtable *rt)
{
	if (rt->left_out || rt->stopped)
		return false;
	for (size_t i = 0; i < rt->n_segs; i++)
		if (!rt->segs[i].ok)
			return false;
	count_whole(rt);
	return true;
}

/*
 * The segments of rt's first pass, copied by SQLite from the attached
 * image (a private copy, opts->sqlite_reads_image): the same cells of the
 * same pages, a segment in one statement instead of a row at a time; a
 * tree that reads whole in one statement for the table.  Each copy must
 * hold the segment's count and first and last rowid.  When a row did not
 * go in that way (a flag, a segment that did not hold; not damage alone,
 * segments_hold()), a second walk puts the others in by place_row() and
 * rewrites the provenance.
 * The provenance is the page reader's runs either way.  Returns 0 or -1.
 */
static int
bulk_finish(struct rec *r, struct rtable *rt)
{
	r->cur = rt;
	r->source = "btree";
	if (bulk_copy(r, rt))
		return -1;
	if (!rt->partial) {
		count_whole(rt);
		return 0;
	}
	if (segments_hold(rt))
		return 0;
	rt->seg_at = 0;
	if (forget_provenance(r, rt) ||
	    gsr_btree_walk_mark(r->ctx, r->pf, rt->rt->root, false, r->used,
	                        bulk_fill, r, &rt->ws) != 0 ||
	    run_flush(r))
		return -1;
	rt->rt->pages_damaged += rt->ws.pages_damaged;
	rt->rt->cells_damaged += rt->ws.cells_damaged;
	return 0;
}

/* Place the rows of rt's tree one at a time (place_row()).  Returns 0 or
 * -1. */
static int
row_walk(struct rec *r, struct rtable *rt)
{
	struct gsr_walk_stats ws;

	if (rt->walked && forget_provenance(r, rt))
		return -1;
	r->cur = rt;
	r->source = "btree";
	if (gsr_btree_walk_mark(r->ctx, r->pf, rt->rt->root,
	                        rt->sh.without_rowid, r->used, place_row, r,
	                        &ws) != 0 ||
	    run_flush(r))
		return -1;
	rt->rt->pages_damaged += ws.pages_damaged;
	rt->rt->cells_damaged += ws.cells_damaged;
	return 0;
}

/*
 * Whether the recovered database may be the image's VACUUM INTO
 * (vacuum_out()) once every tree reads whole: the image is attached (its
 * schema reads whole, no WAL or journal applies), every table and index
 * of its schema was created in r->out and every view and trigger kept (so
 * that VACUUM copies no more and no fewer objects), no sqlite_stat
 * table (left out of a recovery), every table a rowid table with its
 * root, none with a column named _rowid_.
 */
static bool
vacuum_possible(const struct rec *r)
{
	if (!r->img || r->wal || r->jr || (r->opts && r->opts->damaged))
		return false;
	for (size_t i = 0; i < r->n_ents; i++) {
		const struct entry *e = &r->ents[i];

		if (!strncmp(e->name, "sqlite_", 7)) {
			if (strcmp(e->name, "sqlite_sequence") &&
			    strncmp(e->name, "sqlite_autoindex_", 17))
				return false;
			continue;
		}
		if (!e->created)
			return false;
	}
	for (size_t i = 0; i < r->n_tabs; i++) {
		const struct rtable *rt = &r->tabs[i];

		if (rt->sh.without_rowid || rt->rt->root == 0 ||
		    gsr_table_column(gsr_schema_table(r->schema, rt->sh.g.name),
		                     "_rowid_") != NULL)
			return false;
	}
	return true;
}

static int attach_img(struct gsr_ctx *ctx, sqlite3 *db, const char *path);

/* The image's VACUUM INTO, made on a thread of its own beside the first
 * passes (vacuum_start()), and what the copy holds. */
struct vacjob {
	struct gsr_ctx ctx; /* the thread's */
	struct gsr_thread th;
	const char *img_path;
	char *path;       /* the copy */
	atomic_bool stop; /* give up (the trees do not read whole) */
	size_t n;         /* the tables of r->tabs */
	const char **names;
	int64_t (*got)[3]; /* their count, first and last rowid in the copy */
	size_t n_ents;     /* the image's schema entries, in order */
	const char **ents;
	bool done; /* the copy is made, its indexes built again and
	            * every table counted */
};

static int
vacuum_progress(void *arg)
{
	struct vacjob *j = arg;

	return atomic_load(&j->stop) || gsr_cancel_requested();
}

/* Fail j's context when SQLite's result c is a failure of the machine
 * (memory, disk), not of the image; returns c == SQLITE_DONE or OK. */
static bool
vacuum_step_ok(struct vacjob *j, sqlite3 *db, int c)
{
	if ((c & 0xff) == SQLITE_NOMEM || (c & 0xff) == SQLITE_FULL ||
	    (c & 0xff) == SQLITE_IOERR)
		gsr_ctx_fail(&j->ctx,
		             (c & 0xff) == SQLITE_NOMEM ? GSR_ERR_NOMEM
		                                        : GSR_ERR_IO,
		             "cannot write the recovered database: %s",
		             sqlite3_errmsg(db));
	return c == SQLITE_DONE || c == SQLITE_OK;
}

/* Read table name's count, first and last rowid in db into got.  Returns
 * whether it could. */
static bool
vacuum_count(struct vacjob *j, sqlite3 *db, const char *name, int64_t *got)
{
	struct strbuf sb = STRBUF_INIT;
	sqlite3_stmt *st = NULL;
	bool ok = false;

	/* Three subqueries: each alone takes SQLite's shortcut (a count of
	 * the tree's cells, a walk down its edge); together in one
	 * SELECT they would read every row. */
	sb_adds(&sb, "SELECT (SELECT count(*) FROM main.");
	sb_add_ident(&sb, name);
	sb_adds(&sb, "), (SELECT min(_rowid_) FROM main.");
	sb_add_ident(&sb, name);
	sb_adds(&sb, "), (SELECT max(_rowid_) FROM main.");
	sb_add_ident(&sb, name);
	sb_adds(&sb, ")");
	if (sb_str(&sb) == NULL) {
		gsr_ctx_fail(&j->ctx, GSR_ERR_NOMEM, "out of memory");
		goto out;
	}
	if (sqlite3_prepare_v2(db, sb_str(&sb), -1, &st, NULL) != SQLITE_OK ||
	    sqlite3_step(st) != SQLITE_ROW)
		goto out;
	for (int k = 0; k < 3; k++)
		got[k] = sqlite3_column_int64(st, k);
	ok = true;
out:
	sqlite3_finalize(st);
	sb_release(&sb);
	return ok;
}

/* Put the entries of db's sqlite_master in the order of the image's
 * (VACUUM writes tables, then indexes, then the rest), as the page
 * reader's own recovered database has them (create_from_entries()).
 * Returns whether it could. */
static bool
vacuum_order(struct vacjob *j, sqlite3 *db)
{
	sqlite3_stmt *st = NULL;
	bool ok = false;

	sqlite3_db_config(db, SQLITE_DBCONFIG_DEFENSIVE, 0, NULL);
	if (sqlite3_exec(
	        db,
	        "PRAGMA writable_schema=ON; CREATE TEMP TABLE ord(name "
	        "TEXT PRIMARY KEY, pos INTEGER); CREATE TEMP TABLE m "
	        "AS SELECT type, name, tbl_name, rootpage, sql FROM "
	        "main.sqlite_master",
	        NULL, NULL, NULL) != SQLITE_OK ||
	    sqlite3_prepare_v2(db,
	                       "INSERT OR IGNORE INTO temp.ord VALUES (?, ?)",
	                       -1, &st, NULL) != SQLITE_OK)
		goto out;
	for (size_t i = 0; i < j->n_ents; i++) {
		sqlite3_bind_text(st, 1, j->ents[i], -1, SQLITE_STATIC);
		sqlite3_bind_int64(st, 2, (sqlite3_int64)i);
		if (sqlite3_step(st) != SQLITE_DONE)
			goto out;
		sqlite3_reset(st);
	}
	ok = sqlite3_exec(db,
	                  "DELETE FROM main.sqlite_master; INSERT INTO "
	                  "main.sqlite_master SELECT m.* FROM temp.m LEFT JOIN "
	                  "temp.ord USING (name) ORDER BY ord.pos IS NULL, "
	                  "ord.pos, m.rowid; PRAGMA writable_schema=OFF",
	                  NULL, NULL, NULL) == SQLITE_OK;
out:
	sqlite3_finalize(st);
	sqlite3_db_config(db, SQLITE_DBCONFIG_DEFENSIVE, 1, NULL);
	return ok;
}

/* The thread: VACUUM INTO j->path of the image, attached to a connection
 * of its own; then, on the copy, REINDEX, every table counted and the
 * schema put in the image's order. */
static void *
vacuum_main(void *arg)
{
	struct vacjob *j = arg;
	sqlite3 *db = NULL;
	sqlite3_stmt *st = NULL;
	int c;

	/* A private temporary database ("") holds the image attached: an
	 * in-memory one would make VACUUM INTO write into memory too. */
	if ((db = gsr_db_open(&j->ctx, "", true)) == NULL ||
	    attach_img(&j->ctx, db, j->img_path) != 1)
		goto out;
	sqlite3_progress_handler(db, 1000, vacuum_progress, j);
	if (sqlite3_exec(db, "PRAGMA img.synchronous=OFF", NULL, NULL, NULL) !=
	        SQLITE_OK ||
	    sqlite3_prepare_v2(db, "VACUUM img INTO ?1", -1, &st, NULL) !=
	        SQLITE_OK)
		goto out;
	sqlite3_bind_text(st, 1, j->path, -1, SQLITE_STATIC);
	c = sqlite3_step(st);
	if (!vacuum_step_ok(j, db, c))
		goto out;
	sqlite3_finalize(st);
	st = NULL;
	sqlite3_close(db);
	if ((db = gsr_db_open(&j->ctx, j->path, false)) == NULL)
		goto out;
	sqlite3_progress_handler(db, 1000, vacuum_progress, j);
	if (!vacuum_step_ok(j, db,
	                    sqlite3_exec(db,
	                                 "PRAGMA journal_mode=OFF; PRAGMA "
	                                 "synchronous=OFF; REINDEX",
	                                 NULL, NULL, NULL)))
		goto out;
	for (size_t i = 0; i < j->n; i++)
		if (!vacuum_count(j, db, j->names[i], j->got[i]))
			goto out;
	j->done = vacuum_order(j, db);
out:
	sqlite3_finalize(st);
	sqlite3_close(db);
	return NULL;
}

/* Start the image's VACUUM INTO beside the first passes (r->vac).
 * Returns 0, or -1 on an error on ctx. */
static int
vacuum_start(struct rec *r)
{
	struct vacjob *j = calloc(1, sizeof *j);

	if (j == NULL ||
	    (j->names = calloc(r->n_tabs + 1, sizeof *j->names)) == NULL ||
	    (j->got = calloc(r->n_tabs + 1, sizeof *j->got)) == NULL ||
	    (j->ents = calloc(r->n_ents + 1, sizeof *j->ents)) == NULL ||
	    asprintf(&j->path, "%s.vacuum", r->out_path) < 0) {
		if (j) {
			free(j->names);
			free(j->got);
			free(j->ents);
		}
		free(j);
		return gsr_ctx_fail(r->ctx, GSR_ERR_NOMEM, "out of memory");
	}
	j->ctx = gsr_ctx_child(r->ctx);
	j->img_path = r->img_path;
	j->n = r->n_tabs;
	for (size_t i = 0; i < r->n_tabs; i++)
		j->names[i] = r->tabs[i].sh.g.name;
	for (size_t i = 0; i < r->n_ents; i++)
		j->ents[i] = r->ents[i].name;
	j->n_ents = r->n_ents;
	atomic_init(&j->stop, false);
	gsr_temp_register(j->path);
	unlink(j->path);
	r->vac = j;
	return gsr_thread_start(r->ctx, &j->th, vacuum_main, j);
}

/* Stop (unless keep) and wait for r->vac's thread, its failure made
 * r->ctx's when keep; remove the copy unless keep and it holds.  Returns
 * the job when the copy is kept, else NULL (r->vac freed). */
static struct vacjob *
vacuum_join(struct rec *r, bool keep)
{
	struct vacjob *j = r->vac;

	if (j == NULL)
		return NULL;
	if (!keep)
		atomic_store(&j->stop, true);
	gsr_thread_join(keep ? r->ctx : NULL, &j->th, &j->ctx, NULL);
	if (keep && j->done && !gsr_ctx_failed(r->ctx))
		return j;
	unlink(j->path);
	gsr_temp_unregister(j->path);
	free(j->path);
	free(j->names);
	free(j->got);
	free(j->ents);
	free(j);
	r->vac = NULL;
	return NULL;
}

/* Close r->out (its statements first: they are prepared again when next
 * used), put path in its place and open it as r->out, in a transaction.
 * Returns 0 or -1. */
static int
replace_out(struct rec *r, const char *path)
{
	for (size_t i = 0; i < r->n_tabs; i++) {
		for (size_t n = 0; n <= r->tabs[i].sh.g.n_cols; n++) {
			sqlite3_finalize(r->tabs[i].ins[n]);
			r->tabs[i].ins[n] = NULL;
		}
		sqlite3_finalize(r->tabs[i].get);
		r->tabs[i].get = NULL;
	}
	sqlite3_finalize(r->json_ok);
	r->json_ok = NULL;
	r->img = false;
	if (sqlite3_close(r->out) != SQLITE_OK)
		return gsr_ctx_fail(r->ctx, GSR_ERR_INTERNAL,
		                    "the recovered database did not close");
	r->out = NULL;
	/* Removed first: ext4 writes out a file renamed over another
	 * (auto_da_alloc), 0.2 s for the benchmark's copy. */
	if ((unlink(r->out_path) != 0 && errno != ENOENT) ||
	    rename(path, r->out_path) != 0)
		return gsr_ctx_fail(r->ctx, GSR_ERR_IO,
		                    "cannot rename '%s': %s", path,
		                    strerror(errno));
	if ((r->out = gsr_db_open(r->ctx, r->out_path, false)) == NULL ||
	    gsr_db_exec(r->ctx, r->out,
	                "PRAGMA journal_mode=OFF; PRAGMA synchronous=OFF; "
	                "PRAGMA secure_delete=ON; BEGIN") ||
	    (r->json_ok = gsr_db_prepare(r->ctx, r->out,
	                                 "SELECT json_valid(?1)")) == NULL)
		return -1;
	return 0;
}

/*
 * Every tree read whole (reads_whole()) and vacuum_possible(): the
 * recovered database becomes SQLite's VACUUM INTO of the image
 * (vacuum_main(), made beside the first passes), which copies the cells
 * as stored, page after page, instead of a row at a time.  It must hold,
 * table by table, the rows of the first pass (count, first and last
 * rowid), and its indexes are built again from its rows (REINDEX), so
 * that nothing of the image's index b-trees is taken on trust.  Returns
 * 0 when r->out is that copy, 1 when it did not hold (r->out is as it
 * was), -1 on an error.
 */
static int
vacuum_out(struct rec *r)
{
	struct vacjob *j = vacuum_join(r, true);
	bool held = j != NULL;
	int rc;

	if (gsr_ctx_failed(r->ctx))
		return -1;
	for (size_t i = 0; held && i < r->n_tabs; i++) {
		const struct rtable *rt = &r->tabs[i];
		const struct seg *sg = rt->n_segs ? &rt->segs[0] : NULL;

		held = sg ? j->got[i][0] == sg->count &&
		                j->got[i][1] == sg->first &&
		                j->got[i][2] == sg->last
		          : j->got[i][0] == 0;
	}
	if (!held) {
		vacuum_join(r, false);
		return 1;
	}
	rc = gsr_db_exec(r->ctx, r->out, "COMMIT") || replace_out(r, j->path)
	         ? -1
	         : 0;
	vacuum_join(r, false);
	return rc;
}

/* Forget what SQLite wrote into sqlite_sequence (see walk_tables()). */
static int
clear_sequence(struct rec *r)
{
	for (size_t i = 0; i < r->n_tabs; i++)
		if (is_sequence(&r->tabs[i]))
			return gsr_db_exec(r->ctx, r->out,
			                   "DELETE FROM main.sqlite_sequence");
	return 0;
}

/*
 * Walk the tables from their roots.  First every tree SQLite may copy
 * (bulk_eligible()), or every tree while vacuum_possible(), is read by
 * bulk_walk(); when all read whole, the recovered database is the
 * image's VACUUM INTO (vacuum_out()).  Otherwise the trees walked go in
 * by bulk_finish(), the others row by row, and sqlite_sequence last:
 * SQLite fills it while the rows of AUTOINCREMENT tables go in; its own
 * rows then replace what SQLite wrote, so that a sequence stays as high
 * as the input had it (a deleted id is never reused).  Rows placed later
 * can only raise it, as they should.  Returns 0 or -1.
 */
static int
walk_tables(struct rec *r)
{
	bool vac = vacuum_possible(r);
	int rc;

	if (vac && vacuum_start(r))
		return -1;
	for (size_t i = 0; i < r->n_tabs; i++) {
		struct rtable *rt = &r->tabs[i];

		if (rt->rt->root == 0 || (is_sequence(rt) && !vac) ||
		    (!vac && !bulk_eligible(r, rt)))
			continue;
		if (bulk_walk(r, rt) < 0)
			return -1;
		if (vac && !reads_whole(rt)) {
			vacuum_join(r, false);
			vac = false;
		}
	}
	if (vac && (rc = vacuum_out(r)) <= 0) {
		for (size_t i = 0; rc == 0 && i < r->n_tabs; i++)
			count_whole(&r->tabs[i]);
		return rc;
	}
	for (int seq = 0; seq < 2; seq++) {
		if (seq && clear_sequence(r))
			return -1;
		for (size_t i = 0; i < r->n_tabs; i++) {
			struct rtable *rt = &r->tabs[i];

			if (rt->rt->root == 0 || is_sequence(rt) != seq)
				continue;
			if (rt->walked && !rt->stopped &&
			    bulk_eligible(r, rt)) {
				if (bulk_finish(r, rt))
					return -1;
			} else if (row_walk(r, rt)) {
				return -1;
			}
		}
	}
	return 0;
}

/* ---- leaves no tree reaches -------------------------------------------- */

static int
score_row(void *arg, const struct gsr_row *row)
{
	struct rec *r = arg;

	r->page_rows++;
	for (size_t i = 0; i < r->n_tabs; i++) {
		int sc;

		if (r->tabs[i].sh.without_rowid ||
		    (is_sequence(&r->tabs[i]) && r->tabs[i].rt->root != 0))
			continue;
		sc = gsr_shape_score(&r->tabs[i].sh.g, row->values,
		                     row->n_values);
		if (sc >= 0) {
			r->fits[i]++;
			r->scores[i] += (uint64_t)sc;
		}
	}
	return 0;
}

/* The table whose root page the pointer map leads to from page p, or -1. */
static int
table_by_ptrmap(struct rec *r, uint32_t p)
{
	uint8_t type;
	uint32_t parent;

	for (int depth = 0; depth < GSR_BTREE_MAX_DEPTH; depth++) {
		if (gsr_ptrmap_get(r->pf, p, &type, &parent) != 0)
			return -1;
		if (type == GSR_PTRMAP_ROOTPAGE) {
			for (size_t i = 0; i < r->n_tabs; i++)
				if (r->tabs[i].rt->root == p)
					return (int)i;
			return -1;
		}
		if (type != GSR_PTRMAP_BTREE)
			return -1;
		p = parent;
	}
	return -1;
}

/* The table the rows of leaf p fit: the most rows fitting, then the
 * highest score; -1 when none fits half its rows or two tie. */
static int
table_by_shape(struct rec *r, uint32_t p)
{
	int best = -1;
	bool tie = false;

	memset(r->fits, 0, r->n_tabs * sizeof *r->fits);
	memset(r->scores, 0, r->n_tabs * sizeof *r->scores);
	r->page_rows = 0;
	if (gsr_btree_walk_table(r->ctx, r->pf, p, score_row, r, NULL) < 0)
		return -2;
	for (size_t i = 0; i < r->n_tabs; i++) {
		if (r->fits[i] == 0)
			continue;
		if (best < 0 || r->fits[i] > r->fits[best] ||
		    (r->fits[i] == r->fits[best] &&
		     r->scores[i] > r->scores[best])) {
			best = (int)i;
			tie = false;
		} else if (r->fits[i] == r->fits[best] &&
		           r->scores[i] == r->scores[best]) {
			tie = true;
		}
	}
	if (best < 0 || tie || r->fits[best] * 2 < r->page_rows)
		return -1;
	return best;
}

static int
unplaced_row(void *arg, const struct gsr_row *row)
{
	struct rec *r = arg;

	r->res->rows_unplaced++;
	return ledger_row(r, NULL, "unplaced", row, true,
	                  "a table leaf that no tree reaches and no table fits")
	           ? 1
	           : 0;
}

/*
 * Place the table leaves nothing used.  Leaves of sqlite_sequence (only
 * when it has no root) wait for the second pass (sequence), after the
 * other tables' rows, for the reason walk_tables() gives.
 */
static int
place_orphans(struct rec *r, bool sequence)
{
	for (uint32_t p = 1; p <= r->in.n_pages; p++) {
		int t;

		if (p % 1024 == 0)
			walked(r, p);
		if (!page_usable(r, p))
			continue;
		if (p % 1024 == 0 && gsr_ctx_check_cancel(r->ctx))
			return -1;
		if (gsr_btree_page_type(r->pf, p) != GSR_PAGE_TABLE_LEAF)
			continue;
		t = table_by_ptrmap(r, p);
		if (t < 0 && (t = table_by_shape(r, p)) == -2)
			return -1;
		if ((t >= 0 && is_sequence(&r->tabs[t])) != sequence)
			continue;
		if (sequence && !r->seq_cleared) {
			if (clear_sequence(r))
				return -1;
			r->seq_cleared = true;
		}
		r->source = "orphan-leaf";
		if (t < 0) {
			r->res->pages_unplaced++;
			if (gsr_btree_walk_mark(r->ctx, r->pf, p, false,
			                        r->used, unplaced_row, r,
			                        NULL) != 0)
				return -1;
			continue;
		}
		r->res->pages_orphan++;
		r->cur = &r->tabs[t];
		if (gsr_btree_walk_mark(r->ctx, r->pf, p, false, r->used,
		                        place_row, r, NULL) != 0)
			return -1;
	}
	return 0;
}

/* ---- the index cross-check --------------------------------------------- */

struct idx_check {
	struct rec *r;
	struct rtable *rt;
	sqlite3_stmt *has;
	int64_t entries, missing;
};

static int
index_entry(void *arg, const struct gsr_row *row)
{
	struct idx_check *c = arg;
	const struct gsr_value *last;

	c->entries++;
	if (c->has == NULL || row->n_values == 0)
		return 0;
	last = &row->values[row->n_values - 1];
	if (last->type != GSR_V_INT)
		return 0;
	sqlite3_bind_int64(c->has, 1, last->i);
	if (sqlite3_step(c->has) != SQLITE_ROW)
		c->missing++;
	sqlite3_reset(c->has);
	return 0;
}

static int
check_indexes(struct rec *r)
{
	for (size_t e = 0; e < r->n_ents; e++) {
		const struct entry *en = &r->ents[e];
		struct idx_check c = {r, NULL, NULL, 0, 0};
		struct gsr_recover_table *t;
		bool damaged;
		int rc;

		if (strcmp(en->type, "index") || en->rootpage <= 0 ||
		    en->rootpage > r->in.n_pages)
			continue;
		for (size_t i = 0; i < r->n_tabs && !c.rt; i++)
			if (!strcmp(r->tabs[i].sh.g.name, en->tbl))
				c.rt = &r->tabs[i];
		if (c.rt == NULL || c.rt->sh.without_rowid)
			continue;
		t = c.rt->rt;
		damaged = t->root == 0 || t->pages_damaged ||
		          t->cells_damaged || t->orphan || t->rejected;
		if (damaged) {
			struct strbuf sb = STRBUF_INIT;

			sb_adds(&sb, "SELECT 1 FROM main.");
			sb_add_ident(&sb, t->name);
			sb_adds(&sb, " WHERE _rowid_ = ?");
			if (sb_str(&sb) == NULL)
				return gsr_ctx_fail(r->ctx, GSR_ERR_NOMEM,
				                    "out of memory");
			if (sqlite3_prepare_v2(r->out, sb_str(&sb), -1, &c.has,
			                       NULL) != SQLITE_OK)
				c.has = NULL;
			sb_release(&sb);
		}
		rc = gsr_btree_walk_mark(r->ctx, r->pf, (uint32_t)en->rootpage,
		                         true, r->used, index_entry, &c, NULL);
		sqlite3_finalize(c.has);
		if (rc < 0)
			return -1;
		if (c.entries > t->index_entries) {
			t->index_entries = c.entries;
		}
		if (c.missing > t->index_missing)
			t->index_missing = c.missing;
	}
	return 0;
}

/* ---- history: other versions of pages in the WAL and the journal ----- */

/* One other version of page pgno, read in the current state of every
 * other page (for its overflow chains). */
struct hist {
	struct rec *r;
	uint32_t pgno;
	unsigned char *page;
};

static const unsigned char *
hist_page(void *arg, uint32_t pgno)
{
	struct hist *h = arg;
	struct rec *r = h->r;
	uint32_t n;

	if (pgno == h->pgno)
		return h->page;
	if (r->wal && (n = gsr_wal_lookup(r->wal, pgno)) > 0) {
		struct gsr_wal_frame fr;

		return gsr_wal_frame(r->wal, n, &fr) == 0
		           ? fr.page
		           : GSR_PAGEFILE_DAMAGED;
	}
	if (r->jr && (n = gsr_journal_lookup(r->jr, pgno)) > 0) {
		struct gsr_journal_record jrec;

		return gsr_journal_record(r->jr, n, &jrec) == 0
		           ? jrec.page
		           : GSR_PAGEFILE_DAMAGED;
	}
	return NULL;
}

/* Put the current state's overlay back. */
static void
restore_state(struct rec *r)
{
	gsr_pagefile_set_overlay(r->pf, NULL, NULL, 0);
	if (r->wal)
		gsr_wal_attach(r->pf, r->wal);
	else if (r->jr)
		gsr_journal_attach(r->pf, r->jr);
}

/* A row of another version: kept unless the live row or a version kept
 * already holds the same values. */
static int
hist_row(void *arg, const struct gsr_row *row)
{
	struct rec *r = arg;
	struct rtable *rt = r->cur;
	bool exists = false, same = false;
	int rc;

	if (row->n_values == 0 || row->n_values > rt->sh.g.n_cols)
		return 0;
	if (stored_row(r, rt, row, &exists, &same))
		return 1;
	if (same) {
		r->res->history_same++;
		return 0;
	}
	if (record_json(r, row->values, row->n_values))
		return 1;
	sqlite3_bind_text(r->seen, 1, rt->rt->name, -1, SQLITE_STATIC);
	sqlite3_bind_int64(r->seen, 2, row->rowid);
	sqlite3_bind_text64(r->seen, 3, r->jbuf, r->jlen, SQLITE_STATIC,
	                    SQLITE_UTF8);
	rc = sqlite3_step(r->seen);
	sqlite3_reset(r->seen);
	if (rc == SQLITE_ROW)
		return 0;
	r->res->history++;
	return ledger_row(r, rt->rt->name, "history", row, true,
	                  exists ? "another version of a live row"
	                         : "a row the current state does not have")
	           ? 1
	           : 0;
}

/* Read the table rows of page (another version of page pgno). */
static int
history_page(struct rec *r, uint32_t pgno, const unsigned char *page,
             const char *source, int64_t frame)
{
	struct hist h = {r, pgno, NULL};
	uint32_t n = r->in.n_pages > pgno ? r->in.n_pages : pgno;
	int t = -1, rc = 0;

	if (gsr_btree_page_check(page, r->in.page_size, r->in.usable_size,
	                         pgno == 1 ? 100 : 0,
	                         false) != GSR_PAGE_TABLE_LEAF)
		return 0;
	if ((h.page = malloc(r->in.page_size)) == NULL)
		return gsr_ctx_fail(r->ctx, GSR_ERR_NOMEM, "out of memory");
	memcpy(h.page, page, r->in.page_size);
	gsr_pagefile_set_overlay(r->pf, hist_page, &h, n);
	if (pgno <= r->in.n_pages && r->owner[pgno] > 0)
		t = (int)r->owner[pgno] - 1;
	else if ((t = table_by_shape(r, pgno)) == -2)
		rc = -1;
	if (t >= 0 && !r->tabs[t].sh.without_rowid) {
		r->cur = &r->tabs[t];
		r->source = source;
		r->cur_frame = frame;
		if (!strcmp(source, "wal-frame"))
			r->res->wal_history_pages++;
		else
			r->res->journal_history_pages++;
		rc = gsr_btree_walk_table(r->ctx, r->pf, pgno, hist_row, r,
		                          NULL) < 0
		         ? -1
		         : 0;
		r->cur_frame = 0;
	}
	restore_state(r);
	free(h.page);
	return rc;
}

/* Every WAL frame the current state does not use, and the journal's
 * pages: rolled back ones (the transaction that did not commit), or all
 * of them when the journal was not played back. */
static int
read_history(struct rec *r, int fd)
{
	unsigned char *raw = NULL;
	int rc = -1;

	if (r->seen == NULL &&
	    (r->seen = gsr_db_prepare(r->ctx, r->led,
	                              "SELECT 1 FROM rows WHERE tbl = ?1 AND "
	                              "rowid = ?2 AND record = ?3 AND kind = "
	                              "'history'")) == NULL)
		return -1;
	if (r->wal_all) {
		struct gsr_wal_info wi;

		gsr_wal_get_info(r->wal_all, &wi);
		for (uint32_t f = 1; f <= wi.n_slots; f++) {
			struct gsr_wal_frame fr;

			if (gsr_wal_frame(r->wal_all, f, &fr) != 0 ||
			    (fr.cls == GSR_WAL_CURRENT && r->wal) ||
			    fr.cls == GSR_WAL_GARBAGE || fr.pgno == 0 ||
			    fr.pgno > GSR_WAL_STALE_PGNO_MAX)
				continue;
			if (history_page(r, fr.pgno, fr.page, "wal-frame", f))
				goto out;
		}
	}
	if (r->jrnl) {
		struct gsr_journal_info ji;

		gsr_journal_get_info(r->jrnl, &ji);
		if ((raw = malloc(r->in.page_size)) == NULL) {
			gsr_ctx_fail(r->ctx, GSR_ERR_NOMEM, "out of memory");
			goto out;
		}
		for (uint32_t i = 1; i <= ji.n_records; i++) {
			struct gsr_journal_record jrec;
			uint32_t pg;

			if (gsr_journal_record(r->jrnl, i, &jrec) != 0 ||
			    jrec.pgno == 0)
				continue;
			pg = jrec.pgno;
			if (r->jr == NULL) {
				/* Not played back: its pages are older. */
				memcpy(raw, jrec.page, r->in.page_size);
				if (history_page(r, pg, raw, "journal", 0))
					goto out;
				continue;
			}
			/* Played back: the image's version of the page is the
			 * transaction that did not commit. */
			if (gsr_journal_lookup(r->jr, pg) != i ||
			    pread(fd, raw, r->in.page_size,
			          (off_t)(pg - 1) * r->in.page_size) !=
			        (ssize_t)r->in.page_size)
				continue;
			if (history_page(r, pg, raw, "rolled-back", 0))
				goto out;
		}
	}
	rc = 0;
out:
	free(raw);
	return rc;
}

/* Open the regular file path read-only (never following a link, never
 * blocking on a FIFO) into *fd and its size into *size.  Returns 0, or -1
 * with GSR_ERR_INPUT on ctx. */
static int
open_input(struct gsr_ctx *ctx, const char *path, int *fd, uint64_t *size)
{
	struct stat sb;

	if ((*fd = gsr_open_input(ctx, GSR_ERR_INPUT, path, true, &sb)) < 0)
		return -1;
	*size = (uint64_t)sb.st_size;
	return 0;
}

/* Open the -wal or -journal at path and lay it over the image.  Returns 0
 * (whether or not it could be used), -1 on error. */
static int
open_sidecars(struct rec *r, int fd, uint64_t size, int *wal_fd, int *jr_fd)
{
	const struct gsr_recover_opts *o = r->opts;
	struct gsr_wal_info wi;
	uint64_t len;
	int rc;

	if (o && o->wal_path) {
		if (open_input(r->ctx, o->wal_path, wal_fd, &len) ||
		    (r->wal_all = gsr_wal_open_fd(r->ctx, *wal_fd, len,
		                                  r->in.page_size)) == NULL)
			return -1;
		gsr_wal_get_info(r->wal_all, &wi);
		r->res->wal_frames = wi.n_slots;
		rc = gsr_wal_attach(r->pf, r->wal_all);
		if (rc == GSR_ATTACH_PAGE_SIZE && r->in.page_size_inferred &&
		    gsr_page_size_valid(wi.page_size)) {
			/* The image's header is gone: the WAL knows the page
			 * size. */
			gsr_pagefile_close(r->pf);
			if ((r->pf = gsr_pagefile_open_fd(
			         r->ctx, fd, size, wi.page_size)) == NULL)
				return -1;
			rc = gsr_wal_attach(r->pf, r->wal_all);
		}
		if (rc == GSR_ATTACH_OK) {
			r->wal = r->wal_all;
			r->res->wal_used = true;
			r->res->wal_current = wi.n_current;
		}
	}
	if (o && o->journal_path) {
		if (open_input(r->ctx, o->journal_path, jr_fd, &len) ||
		    (r->jrnl = gsr_journal_open_fd(r->ctx, *jr_fd, len,
		                                   r->in.page_size)) == NULL)
			return -1;
		{
			struct gsr_journal_info ji;

			gsr_journal_get_info(r->jrnl, &ji);
			r->res->journal_records = ji.n_records;
		}
		/* SQLite ignores a journal when the WAL is in use. */
		if (!r->res->wal_used &&
		    gsr_journal_attach(r->pf, r->jrnl) == GSR_ATTACH_OK) {
			r->jr = r->jrnl;
			r->res->journal_rolled_back = true;
		}
	}
	gsr_pagefile_get_info(r->pf, &r->in);
	r->res->info = r->in;
	return 0;
}

/* ---- deleted rows ------------------------------------------------------ */

/* A 64-bit hash of values, the INTEGER PRIMARY KEY left out; an INTEGER
 * and a REAL of the same value hash alike (a REAL column stores integral
 * values as integers, SQLite reads them as REAL). */
static uint64_t
hash_bytes(uint64_t h, const void *p, size_t n)
{
	const unsigned char *b = p;

	for (size_t i = 0; i < n; i++) {
		h ^= b[i];
		h *= 0x100000001b3ULL;
	}
	return h;
}

static uint64_t
hash_number(uint64_t h, double d, int64_t i, bool as_int)
{
	unsigned char tag = as_int ? 'i' : 'n';

	h = hash_bytes(h, &tag, 1);
	return as_int ? hash_bytes(h, &i, sizeof i)
	              : hash_bytes(h, &d, sizeof d);
}

static uint64_t
hash_values(size_t table, int ipk, const struct gsr_value *v, size_t n)
{
	uint64_t h = 0xcbf29ce484222325ULL;

	h = hash_bytes(h, &table, sizeof table);
	for (size_t i = 0; i < n; i++) {
		unsigned char tag = (unsigned char)v[i].type;

		if ((int)i == ipk)
			continue;
		switch (v[i].type) {
		case GSR_V_INT:
			h = v[i].i > -(INT64_C(1) << 53) &&
			            v[i].i < (INT64_C(1) << 53)
			        ? hash_number(h, (double)v[i].i, 0, false)
			        : hash_number(h, 0, v[i].i, true);
			break;
		case GSR_V_REAL:
			h = hash_number(h, v[i].r, 0, false);
			break;
		default:
			h = hash_bytes(h, &tag, 1);
			h = hash_bytes(
			    h, v[i].p ? v[i].p : (const unsigned char *)"",
			    v[i].n);
		}
	}
	return h;
}

/* Carved rows kept so far: their hash and their row in the ledger. */
struct kept {
	uint64_t hash;
	int64_t ledger_rowid; /* -1 once dropped */
	size_t table;
};

/* A carved row without its rowid, and the key of one index on its table:
 * the entries found for it. */
struct pend {
	int64_t ledger_rowid;
	size_t ix;
	size_t sts, body, json; /* offsets into carving.kbuf */
	size_t sts_len, key_len, json_len;
	size_t next; /* the next of the same prefix bucket, + 1 */
	int64_t hits[4];
	uint8_t n_hits;
	bool many;
};

struct carving {
	struct rec *r;
	struct pend *pend; /* grouped by ledger row */
	size_t n_pend, cap_pend;
	unsigned char *kbuf; /* keys: serial types, bodies, JSON */
	size_t kbuf_len, kbuf_cap;
	struct gsr_shape *shapes;
	size_t *table_of; /* shape -> table */
	struct kept *kept;
	size_t n_kept, cap_kept;
	/* An open-addressing index of kept by hash: slot -> index + 1. */
	size_t *slots;
	size_t n_slots;
	struct gsr_value *vals; /* a live row as values */
	size_t vals_cap;
	sqlite3_stmt *order_up; /* a ledger row's rowid from page order */
};

/* The kept row with hash h, or NULL. */
static struct kept *
kept_find(const struct carving *cv, uint64_t h)
{
	if (cv->n_slots == 0)
		return NULL;
	for (size_t i = (size_t)h & (cv->n_slots - 1);;
	     i = (i + 1) & (cv->n_slots - 1)) {
		if (cv->slots[i] == 0)
			return NULL;
		if (cv->kept[cv->slots[i] - 1].hash == h)
			return &cv->kept[cv->slots[i] - 1];
	}
}

/* Index kept row k (its hash not indexed yet), growing the index to stay
 * under half full.  Returns 0 or -1 (out of memory). */
static int
kept_index(struct carving *cv, size_t k)
{
	if (2 * (cv->n_kept + 1) > cv->n_slots) {
		size_t n = cv->n_slots ? 2 * cv->n_slots : 1024;
		size_t *slots = calloc(n, sizeof *slots);

		if (slots == NULL)
			return -1;
		free(cv->slots);
		cv->slots = slots;
		cv->n_slots = n;
		for (size_t j = 0; j < cv->n_kept; j++)
			if (j != k) {
				size_t i = (size_t)cv->kept[j].hash & (n - 1);

				while (slots[i])
					i = (i + 1) & (n - 1);
				slots[i] = j + 1;
			}
	}
	{
		size_t i = (size_t)cv->kept[k].hash & (cv->n_slots - 1);

		while (cv->slots[i])
			i = (i + 1) & (cv->n_slots - 1);
		cv->slots[i] = k + 1;
	}
	return 0;
}

/* Append n bytes to cv->kbuf; returns their offset, or (size_t)-1. */
static size_t
kbuf_add(struct carving *cv, const void *p, size_t n)
{
	size_t at = cv->kbuf_len;

	if (gsr_grow((void **)&cv->kbuf, &cv->kbuf_cap, cv->kbuf_len + n + 1,
	             1))
		return (size_t)-1;
	if (n)
		memcpy(cv->kbuf + at, p, n);
	cv->kbuf_len += n;
	return at;
}

/* Note the key of every index on table t for the carved row c, kept
 * without its rowid as row ledger_rowid of the ledger.  Returns 0 or -1. */
static int
pend_add(struct carving *cv, size_t t, const struct gsr_carved *c,
         int64_t ledger_rowid)
{
	struct rec *r = cv->r;
	struct gsr_value key[64];
	unsigned char sts[64 * 9], body[KEY_MAX];

	for (size_t x = 0; x < r->n_idx; x++) {
		const struct ridx *ri = &r->idx[x];
		struct pend e = {.ledger_rowid = ledger_rowid, .ix = x};
		size_t n;

		if (ri->table != t || ri->n_keys > GSR_ARRAY_LEN(key) ||
		    !row_key(r, ri, c->values, c->n_values, 0, false, key))
			continue;
		n = gsr_index_key_encode(key, ri->n_keys, r->in.text_encoding,
		                         sts, sizeof sts, &e.sts_len, body,
		                         sizeof body);
		if (n == (size_t)-1 || n == 0)
			continue;
		e.key_len = n;
		if (record_json(r, key, ri->n_keys))
			return -1;
		e.json_len = r->jlen;
		if ((e.sts = kbuf_add(cv, sts, e.sts_len)) == (size_t)-1 ||
		    (e.body = kbuf_add(cv, body, n)) == (size_t)-1 ||
		    (e.json = kbuf_add(cv, r->jbuf, r->jlen)) == (size_t)-1 ||
		    gsr_grow((void **)&cv->pend, &cv->cap_pend, cv->n_pend + 1,
		             sizeof *cv->pend))
			return gsr_ctx_fail(r->ctx, GSR_ERR_NOMEM,
			                    "out of memory");
		cv->pend[cv->n_pend++] = e;
	}
	return 0;
}

/* The ledger row just written gets rowid, inferred from page order. */
static int
ledger_order_rowid(struct carving *cv, int64_t rowid)
{
	struct rec *r = cv->r;

	if (cv->order_up == NULL &&
	    (cv->order_up = gsr_db_prepare(
	         r->ctx, r->led,
	         "UPDATE rows SET rowid = ?2, rowid_from = 'page-order', "
	         "note = note || '; rowid inferred from page order' "
	         "WHERE _rowid_ = ?1")) == NULL)
		return -1;
	sqlite3_bind_int64(cv->order_up, 1, sqlite3_last_insert_rowid(r->led));
	sqlite3_bind_int64(cv->order_up, 2, rowid);
	return step_done(r, r->led, cv->order_up);
}

/* A carved row (carve.h) into the ledger, unless it is a copy of one
 * kept already or of the live row at its rowid. */
static int
carved_row(void *arg, const struct gsr_carved *c)
{
	struct carving *cv = arg;
	struct rec *r = cv->r;
	size_t t = cv->table_of[c->shape];
	struct rtable *rt = &r->tabs[t];
	struct gsr_row row = {.rowid = c->rowid,
	                      .pgno = c->pgno,
	                      .cell_offset = c->offset,
	                      .n_values = c->n_values,
	                      .values = c->values,
	                      .truncated = c->truncated};
	bool exists = false, same = false, ordered = c->rowid_from_order;
	uint64_t h = hash_values(t, rt->sh.g.ipk, c->values, c->n_values);
	char note[200];

	if ((c->rowid_known || ordered) &&
	    stored_row(r, rt, &row, &exists, &same))
		return 1;
	if (ordered && exists && !same) /* a page outside the tree */
		ordered = exists = false;
	if (same || kept_find(cv, h) != NULL) {
		r->res->deleted_same++;
		return 0;
	}
	snprintf(note, sizeof note, "%s%s%s",
	         c->kind == GSR_CARVED_CELL   ? "a cell of a freed page"
	         : c->kind == GSR_CARVED_FULL ? "a whole cell in free space"
	         : c->kind == GSR_CARVED_RECORD
	             ? "a record whose cell header is lost"
	             : "a record whose header was rebuilt",
	         exists ? "; the rowid holds other values now" : "",
	         c->confidence ? "" : "");
	if (c->confidence)
		snprintf(note + strlen(note), sizeof note - strlen(note),
		         "; %s", c->confidence);
	r->source = c->source;
	{
		char why[160];
		bool err;
		const char *flag =
		    row_flag(r, rt, &row, false, why, sizeof why, &err);

		if (err)
			return 1;
		if (flag)
			snprintf(note + strlen(note),
			         sizeof note - strlen(note), "; %s", why);
		if (ledger_row_flag(r, rt->rt->name, "deleted", &row,
		                    c->rowid_known, note, flag) ||
		    (ordered && ledger_order_rowid(cv, c->rowid)))
			return 1;
		if (!c->rowid_known &&
		    pend_add(cv, t, c, sqlite3_last_insert_rowid(r->led)))
			return 1;
	}
	if (gsr_grow((void **)&cv->kept, &cv->cap_kept, cv->n_kept + 1,
	             sizeof *cv->kept))
		return gsr_ctx_fail(r->ctx, GSR_ERR_NOMEM, "out of memory"), 1;
	cv->kept[cv->n_kept].hash = h;
	cv->kept[cv->n_kept].ledger_rowid = sqlite3_last_insert_rowid(r->led);
	cv->kept[cv->n_kept].table = t;
	if (kept_index(cv, cv->n_kept))
		return gsr_ctx_fail(r->ctx, GSR_ERR_NOMEM, "out of memory"), 1;
	cv->n_kept++;
	r->res->deleted++;
	r->res->deleted_truncated += c->truncated;
	return 0;
}

/* Rows carved without their rowid may still be live: look for each live
 * row of the tables concerned among them (by hash), and drop those. */
static int
drop_live_copies(struct carving *cv)
{
	struct rec *r = cv->r;
	sqlite3_stmt *del = NULL;
	int rc = -1;

	if (cv->n_kept == 0)
		return 0;
	if ((del = gsr_db_prepare(
	         r->ctx, r->led, "DELETE FROM rows WHERE _rowid_ = ?")) == NULL)
		return -1;
	for (size_t t = 0; t < r->n_tabs; t++) {
		struct rtable *rt = &r->tabs[t];
		struct strbuf sb = STRBUF_INIT;
		sqlite3_stmt *st = NULL;
		bool any = false;
		int step;

		for (size_t k = 0; k < cv->n_kept && !any; k++)
			any = cv->kept[k].table == t;
		if (!any)
			continue;
		sb_adds(&sb, "SELECT * FROM main.");
		sb_add_ident(&sb, rt->sh.g.name);
		if (sb_str(&sb) == NULL ||
		    (st = gsr_db_prepare(r->ctx, r->out, sb_str(&sb))) ==
		        NULL) {
			sb_release(&sb);
			goto out;
		}
		sb_release(&sb);
		while ((step = sqlite3_step(st)) == SQLITE_ROW) {
			int n = sqlite3_column_count(st);
			uint64_t h;

			if (gsr_grow((void **)&cv->vals, &cv->vals_cap,
			             (size_t)n + 1, sizeof *cv->vals)) {
				sqlite3_finalize(st);
				gsr_ctx_fail(r->ctx, GSR_ERR_NOMEM,
				             "out of memory");
				goto out;
			}
			for (int i = 0; i < n; i++) {
				struct gsr_value *v = &cv->vals[i];

				memset(v, 0, sizeof *v);
				switch (sqlite3_column_type(st, i)) {
				case SQLITE_INTEGER:
					v->type = GSR_V_INT;
					v->i = sqlite3_column_int64(st, i);
					break;
				case SQLITE_FLOAT:
					v->type = GSR_V_REAL;
					v->r = sqlite3_column_double(st, i);
					break;
				case SQLITE_TEXT:
					v->type = GSR_V_TEXT;
					v->p = sqlite3_column_text(st, i);
					v->n =
					    (size_t)sqlite3_column_bytes(st, i);
					break;
				case SQLITE_BLOB:
					v->type = GSR_V_BLOB;
					v->p = sqlite3_column_blob(st, i);
					v->n =
					    (size_t)sqlite3_column_bytes(st, i);
					break;
				default:
					v->type = GSR_V_NULL;
				}
			}
			/* The record may be shorter than the table (columns
			 * added later): try each length it can have. */
			for (size_t len = rt->min_values ? rt->min_values
			                                 : (size_t)n;
			     len <= (size_t)n; len++) {
				struct kept *k;

				h = hash_values(t, rt->sh.g.ipk, cv->vals, len);
				if ((k = kept_find(cv, h)) == NULL ||
				    k->ledger_rowid < 0)
					continue;
				sqlite3_bind_int64(del, 1, k->ledger_rowid);
				if (step_done(r, r->led, del)) {
					sqlite3_finalize(st);
					goto out;
				}
				k->ledger_rowid = -1;
				r->res->deleted--;
				r->res->deleted_same++;
			}
		}
		sqlite3_finalize(st);
		if (step != SQLITE_DONE) {
			gsr_ctx_fail(r->ctx, GSR_ERR_IO,
			             "cannot read the recovered "
			             "database: %s",
			             sqlite3_errmsg(r->out));
			goto out;
		}
	}
	rc = 0;
out:
	sqlite3_finalize(del);
	return rc;
}

static void
pend_hit(struct pend *e, int64_t id)
{
	for (uint8_t i = 0; i < e->n_hits; i++)
		if (e->hits[i] == id)
			return;
	if (e->n_hits < GSR_ARRAY_LEN(e->hits))
		e->hits[e->n_hits++] = id;
	else
		e->many = true;
}

static uint32_t
prefix_of(const unsigned char *p, size_t k)
{
	uint32_t u = 0;

	for (size_t i = 0; i < k; i++)
		u = u << 8 | p[i];
	return u * 0x9e3779b1u;
}

/* Look for every pending key in the index pages and the freelist pages of
 * the image, in their cells and their free space alike. */
static int
scan_index_pages(struct carving *cv)
{
	struct rec *r = cv->r;
	size_t nb = 1, *heads = NULL;
	unsigned char *isfree = NULL;
	int rc = -1;

	while (nb < 2 * cv->n_pend)
		nb *= 2;
	if ((heads = calloc(4 * nb, sizeof *heads)) == NULL ||
	    (isfree = gsr_bitmap_new(r->in.n_pages)) == NULL) {
		gsr_ctx_fail(r->ctx, GSR_ERR_NOMEM, "out of memory");
		goto out;
	}
	for (size_t i = 0; i < cv->n_pend; i++) {
		struct pend *e = &cv->pend[i];
		size_t k = e->key_len < 4 ? e->key_len : 4;
		size_t *h =
		    &heads[(k - 1) * nb +
		           (prefix_of(cv->kbuf + e->body, k) & (nb - 1))];

		e->next = *h;
		*h = i + 1;
	}
	for (size_t i = 0; i < r->n_fl; i++)
		if (r->fl[i] <= r->in.n_pages)
			gsr_bit_set(isfree, r->fl[i]);
	for (uint32_t p = 2; p <= r->in.n_pages; p++) {
		const unsigned char *page;
		int type;

		if (p % 1024 == 0 && gsr_ctx_check_cancel(r->ctx))
			goto out;
		if (!gsr_bit_test(isfree, p)) {
			type = gsr_btree_page_type(r->pf, p);
			if (type != GSR_PAGE_INDEX_LEAF &&
			    type != GSR_PAGE_INDEX_INTERIOR)
				continue;
		}
		if ((page = gsr_pagefile_page(r->pf, p)) == NULL) {
			if (gsr_ctx_failed(r->ctx))
				goto out;
			continue;
		}
		for (size_t k = 1; k <= 4; k++)
			for (uint32_t o = 0; o + k <= r->in.usable_size; o++) {
				size_t j =
				    heads[(k - 1) * nb +
				          (prefix_of(page + o, k) & (nb - 1))];

				while (j != 0) {
					struct pend *e = &cv->pend[j - 1];
					int64_t id;

					j = e->next;
					if ((e->key_len < 4 ? e->key_len : 4) !=
					        k ||
					    e->key_len >
					        r->in.usable_size - o ||
					    memcmp(page + o, cv->kbuf + e->body,
					           e->key_len) ||
					    !gsr_index_rowid_at(
					        page, r->in.usable_size, o,
					        cv->kbuf + e->sts, e->sts_len,
					        e->key_len, &id))
						continue;
					pend_hit(e, id);
				}
			}
	}
	rc = 0;
out:
	free(heads);
	free(isfree);
	return rc;
}

/* Whether table rt of the recovered database has a row at rowid. */
static int
live_rowid(struct rec *r, struct rtable *rt, int64_t rowid, bool *live)
{
	struct gsr_row row = {.rowid = rowid};
	bool same;

	return stored_row(r, rt, &row, live, &same);
}

/* The largest rowid table rt is known to have used: its live rows', its
 * sqlite_sequence entry's, and its index entries'.  -1 on error. */
static int
max_rowid(struct rec *r, struct rtable *rt, int64_t *out)
{
	struct strbuf sb = STRBUF_INIT;
	sqlite3_stmt *st = NULL;
	int64_t m = 0;

	if (rt->max_known) {
		*out = rt->max_rowid;
		return 0;
	}
	sb_adds(&sb, "SELECT max(_rowid_) FROM main.");
	sb_add_ident(&sb, rt->sh.g.name);
	if (sb_str(&sb) == NULL)
		return gsr_ctx_fail(r->ctx, GSR_ERR_NOMEM, "out of memory");
	if (sqlite3_prepare_v2(r->out, sb_str(&sb), -1, &st, NULL) ==
	        SQLITE_OK &&
	    sqlite3_step(st) == SQLITE_ROW && sqlite3_column_int64(st, 0) > m)
		m = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	sb_release(&sb);
	st = NULL;
	if (sqlite3_prepare_v2(r->out,
	                       "SELECT seq FROM main.sqlite_sequence "
	                       "WHERE name = ?1",
	                       -1, &st, NULL) == SQLITE_OK) {
		sqlite3_bind_text(st, 1, rt->sh.g.name, -1, SQLITE_STATIC);
		if (sqlite3_step(st) == SQLITE_ROW &&
		    sqlite3_column_int64(st, 0) > m)
			m = sqlite3_column_int64(st, 0);
	}
	sqlite3_finalize(st);
	st = NULL;
	for (size_t x = 0; x < r->n_idx; x++) {
		if (&r->tabs[r->idx[x].table] != rt)
			continue;
		if (sqlite3_prepare_v2(r->led,
		                       "SELECT max(rid) FROM temp.ikeys "
		                       "WHERE ix = ?1",
		                       -1, &st, NULL) == SQLITE_OK) {
			sqlite3_bind_int64(st, 1, (int64_t)x);
			if (sqlite3_step(st) == SQLITE_ROW &&
			    sqlite3_column_int64(st, 0) > m)
				m = sqlite3_column_int64(st, 0);
		}
		sqlite3_finalize(st);
		st = NULL;
	}
	rt->max_rowid = *out = m;
	rt->max_known = true;
	return 0;
}

/* The rowid index entry e establishes, or 0 (none) into *id; -1 on error.
 * Entries found in the pages give rowids from 1 to the largest the table
 * is known to have used (max_rowid()), no others: a key that is a prefix
 * of another reads as the other's entry with a rowid of its bytes.
 * A unique index: the one rowid its entries of that key give that no live
 * row holds.  Another: the one rowid they give, held by no live row. */
static int
pend_rowid(struct carving *cv, struct pend *e, int64_t *id)
{
	struct rec *r = cv->r;
	struct rtable *rt = &r->tabs[r->idx[e->ix].table];
	int64_t found = 0;
	size_t n = 0, all;
	int rc;

	sqlite3_bind_int64(r->ik_key, 1, (int64_t)e->ix);
	sqlite3_bind_text64(r->ik_key, 2, (const char *)cv->kbuf + e->json,
	                    e->json_len, SQLITE_STATIC, SQLITE_UTF8);
	while ((rc = sqlite3_step(r->ik_key)) == SQLITE_ROW)
		pend_hit(e, sqlite3_column_int64(r->ik_key, 0));
	sqlite3_reset(r->ik_key);
	if (rc != SQLITE_DONE)
		return gsr_ctx_fail(r->ctx, GSR_ERR_IO,
		                    "cannot read index entries: %s",
		                    sqlite3_errmsg(r->led));
	if (e->many)
		return 0;
	{
		int64_t m = 0;
		uint8_t k = 0;

		if (max_rowid(r, rt, &m))
			return -1;
		for (uint8_t i = 0; i < e->n_hits; i++)
			if (e->hits[i] >= 1 && e->hits[i] <= m)
				e->hits[k++] = e->hits[i];
		e->n_hits = k;
	}
	all = e->n_hits;
	for (uint8_t i = 0; i < e->n_hits; i++) {
		bool live;

		if (live_rowid(r, rt, e->hits[i], &live))
			return -1;
		if (!live) {
			found = e->hits[i];
			n++;
		}
	}
	if (n == 1 && (r->idx[e->ix].unique || all == 1)) {
		*id = found;
		return 1;
	}
	return 0;
}

/* Give the carved rows without their rowid the one their index entries
 * establish; the rest are flagged rowid-unknown. */
static int
establish_rowids(struct carving *cv)
{
	struct rec *r = cv->r;
	sqlite3_stmt *up = NULL;
	int rc = -1;

	if (cv->n_pend > 0 && scan_index_pages(cv))
		return -1;
	if ((up = gsr_db_prepare(
	         r->ctx, r->led,
	         /* A rowid from page order the index confirms, or
	          * contradicts: then none. */
	         "UPDATE rows SET note = note || CASE WHEN rowid IS NULL "
	         "THEN '; rowid from index ' || ?3 WHEN rowid = ?2 THEN "
	         "'; index ' || ?3 || ' gives the same rowid' ELSE "
	         "'; index ' || ?3 || ' gives rowid ' || ?2 || ', page "
	         "order another' END, rowid_from = CASE WHEN rowid IS NULL "
	         "OR rowid = ?2 THEN 'index' ELSE 'unknown' END, rowid = "
	         "CASE WHEN rowid IS NULL OR rowid = ?2 THEN ?2 END "
	         "WHERE _rowid_ = ?1")) == NULL)
		return -1;
	for (size_t i = 0; i < cv->n_pend;) {
		int64_t row = cv->pend[i].ledger_rowid, id = 0, got = 0;
		const char *by = NULL;
		bool conflict = false;
		size_t j = i;

		for (; j < cv->n_pend && cv->pend[j].ledger_rowid == row; j++) {
			int k = pend_rowid(cv, &cv->pend[j], &got);

			if (k < 0)
				goto out;
			if (k == 0)
				continue;
			if (by && got != id)
				conflict = true;
			id = got;
			by = r->idx[cv->pend[j].ix].name;
		}
		i = j;
		if (by == NULL || conflict)
			continue;
		sqlite3_bind_int64(up, 1, row);
		sqlite3_bind_int64(up, 2, id);
		sqlite3_bind_text(up, 3, by, -1, SQLITE_STATIC);
		if (step_done(r, r->led, up))
			goto out;
	}
	rc = gsr_db_exec(
	    r->ctx, r->led,
	    "UPDATE rows SET flag = CASE WHEN flag IS NULL THEN "
	    "'rowid-unknown' ELSE flag || ',rowid-unknown' END, "
	    "note = note || '; rowid-unknown: no cell, index entry or "
	    "page order establishes its rowid' "
	    "WHERE kind = 'deleted' AND rowid IS NULL");
out:
	sqlite3_finalize(up);
	return rc;
}

/* Collect into temp.refs the values that column col (position pos) of
 * table u holds, live or deleted, as references to table parent. */
static int
collect_refs(struct rec *r, const char *u, const char *col, size_t pos,
             const char *parent)
{
	struct strbuf sb = STRBUF_INIT;
	sqlite3_stmt *sel = NULL, *ins = NULL;
	char by[256];
	int rc = -1, step;

	snprintf(by, sizeof by, "%s.%s", u, col);
	sb_adds(&sb, "SELECT DISTINCT ");
	sb_add_ident(&sb, col);
	sb_adds(&sb, " FROM main.");
	sb_add_ident(&sb, u);
	if (sb_str(&sb) == NULL) {
		gsr_ctx_fail(r->ctx, GSR_ERR_NOMEM, "out of memory");
		goto out;
	}
	if ((ins = gsr_db_prepare(r->ctx, r->led,
	                          "INSERT OR IGNORE INTO temp.refs "
	                          "VALUES (?1, ?2, ?3)")) == NULL)
		goto out;
	sqlite3_bind_text(ins, 1, parent, -1, SQLITE_STATIC);
	sqlite3_bind_text(ins, 3, by, -1, SQLITE_STATIC);
	/* A table the recovered database lacks has no live rows. */
	if (sqlite3_prepare_v2(r->out, sb_str(&sb), -1, &sel, NULL) ==
	    SQLITE_OK) {
		while ((step = sqlite3_step(sel)) == SQLITE_ROW) {
			if (sqlite3_column_type(sel, 0) != SQLITE_INTEGER)
				continue;
			sqlite3_bind_int64(ins, 2,
			                   sqlite3_column_int64(sel, 0));
			if (sqlite3_step(ins) != SQLITE_DONE) {
				gsr_ctx_fail(r->ctx, GSR_ERR_IO,
				             "cannot write the ledger: %s",
				             sqlite3_errmsg(r->led));
				goto out;
			}
			sqlite3_reset(ins);
		}
	}
	sqlite3_finalize(ins);
	ins = NULL;
	/* Deleted rows of u whose bytes contradict nothing refer too. */
	if ((ins = gsr_db_prepare(
	         r->ctx, r->led,
	         "INSERT OR IGNORE INTO temp.refs SELECT ?1, "
	         "json_extract(record, '$[' || ?4 || ']'), ?3 FROM rows "
	         "WHERE tbl = ?2 AND kind = 'deleted' AND (flag IS NULL OR "
	         "flag = 'rowid-unknown') AND json_type(record, '$[' || ?4 "
	         "|| ']') = 'integer'")) == NULL)
		goto out;
	sqlite3_bind_text(ins, 1, parent, -1, SQLITE_STATIC);
	sqlite3_bind_text(ins, 2, u, -1, SQLITE_STATIC);
	sqlite3_bind_text(ins, 3, by, -1, SQLITE_STATIC);
	sqlite3_bind_int64(ins, 4, (int64_t)pos);
	rc = step_done(r, r->led, ins);
out:
	sqlite3_finalize(sel);
	sqlite3_finalize(ins);
	sb_release(&sb);
	return rc;
}

/* Whether the ledger holds a deleted row of table tbl at an established
 * rowid: 1, 0, or -1 with the error on r->ctx. */
static int
has_deleted_rowids(struct rec *r, const char *tbl)
{
	sqlite3_stmt *st = gsr_db_prepare(
	    r->ctx, r->led,
	    "SELECT EXISTS (SELECT 1 FROM rows WHERE tbl = ?1 AND kind = "
	    "'deleted' AND rowid IS NOT NULL)");
	int rc = -1;

	if (st == NULL)
		return -1;
	sqlite3_bind_text(st, 1, tbl, -1, SQLITE_STATIC);
	if (sqlite3_step(st) == SQLITE_ROW)
		rc = sqlite3_column_int(st, 0);
	else
		gsr_ctx_fail(r->ctx, GSR_ERR_IO, "cannot read the ledger: %s",
		             sqlite3_errmsg(r->led));
	sqlite3_finalize(st);
	return rc;
}

/*
 * Foreign keys confirm rowids, never establish one: a deleted row of the
 * ledger at an established rowid R of a table whose INTEGER PRIMARY KEY a
 * one-column foreign key of table U (column C) points at is confirmed by
 * "U.C" (in the ledger's confirmations) when a row of U, live or deleted
 * (and not flagged for what its bytes contradict), holds R there.
 */
static int
confirm_rowids(struct rec *r)
{
	const struct gsr_schema *sc = r->schema;

	if (sc == NULL)
		return 0;
	if (gsr_db_exec(r->ctx, r->led,
	                "CREATE TEMP TABLE refs(tbl TEXT, id INTEGER, by "
	                "TEXT, PRIMARY KEY (tbl, id, by)) WITHOUT ROWID"))
		return -1;
	for (size_t u = 0; u < sc->n_tables; u++) {
		const struct gsr_table *ut = &sc->tables[u];

		for (size_t k = 0; k < ut->n_fks; k++) {
			const struct gsr_fkey *fk = &ut->fks[k];
			const struct gsr_table *pt =
			    gsr_schema_table(sc, fk->table);
			size_t pos = ut->n_cols, ipk = 0, npk = 0;

			if (pt == NULL || strchr(fk->from, ','))
				continue;
			for (size_t c = 0; c < pt->n_cols; c++)
				if (pt->cols[c].pk) {
					ipk = c;
					npk++;
				}
			if (npk != 1 || pt->without_rowid ||
			    strcasecmp(pt->cols[ipk].type, "INTEGER") ||
			    (fk->to[0] &&
			     strcasecmp(fk->to, pt->cols[ipk].name)))
				continue;
			for (size_t c = 0; c < ut->n_cols && pos == ut->n_cols;
			     c++)
				if (!strcasecmp(ut->cols[c].name, fk->from))
					pos = c;
			if (pos == ut->n_cols)
				continue;
			/* Nothing to confirm: U's values are not read. */
			int any = has_deleted_rowids(r, pt->name);
			if (any < 0 || (any && collect_refs(r, ut->name,
			                                    ut->cols[pos].name,
			                                    pos, pt->name)))
				return -1;
		}
	}
	return gsr_db_exec(
	    r->ctx, r->led,
	    "INSERT OR REPLACE INTO confirmations SELECT w._rowid_, "
	    "group_concat(f.by, ',') FROM rows w JOIN temp.refs f ON f.tbl = "
	    "w.tbl AND f.id = w.rowid WHERE w.kind = 'deleted' GROUP BY "
	    "w._rowid_; DROP TABLE temp.refs");
}

/* Deleted rows of one table that hold one rowid with different values are
 * versions of one row (an old cell left by an update that moved it, and
 * the last one): which is the last is not known, so none is imported
 * (flag "versions"). */
static int
flag_versions(struct rec *r)
{
	return gsr_db_exec(
	    r->ctx, r->led,
	    "UPDATE rows SET flag = CASE WHEN flag IS NULL THEN 'versions' "
	    "ELSE flag || ',versions' END, note = note || '; versions: "
	    "another deleted row at this rowid holds other values, and "
	    "which is the last is unknown' WHERE kind = 'deleted' AND "
	    "rowid IS NOT NULL AND EXISTS (SELECT 1 FROM rows AS o WHERE "
	    "o.tbl = rows.tbl AND o.rowid = rows.rowid AND o.kind = "
	    "'deleted' AND o._rowid_ <> rows._rowid_ AND o.record <> "
	    "rows.record)");
}

/* The deleted rows of the ledger by how their rowid was established, and
 * those flagged for what their bytes contradict. */
static int
count_deleted(struct rec *r)
{
	sqlite3_stmt *st;
	int rc;

	if ((st = gsr_db_prepare(
	         r->ctx, r->led,
	         "SELECT count(*) FILTER (WHERE rowid_from = 'cell'),"
	         " count(*) FILTER (WHERE rowid_from = 'index'),"
	         " count(*) FILTER (WHERE rowid_from = 'page-order'),"
	         " count(*) FILTER (WHERE rowid IS NULL),"
	         " count(*) FILTER (WHERE flag IS NOT NULL AND"
	         " flag <> 'rowid-unknown'),"
	         " (SELECT count(*) FROM confirmations)"
	         " FROM rows WHERE kind = 'deleted'")) == NULL)
		return -1;
	if ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		r->res->rowid_cell = sqlite3_column_int64(st, 0);
		r->res->rowid_index = sqlite3_column_int64(st, 1);
		r->res->rowid_page_order = sqlite3_column_int64(st, 2);
		r->res->rowid_unknown = sqlite3_column_int64(st, 3);
		r->res->deleted_flagged = sqlite3_column_int64(st, 4);
		r->res->rowid_confirmed = sqlite3_column_int64(st, 5);
	}
	sqlite3_finalize(st);
	return rc == SQLITE_ROW ? 0
	                        : gsr_ctx_fail(r->ctx, GSR_ERR_IO,
	                                       "cannot read the ledger: %s",
	                                       sqlite3_errmsg(r->led));
}

/*
 * Carve the image's free space for deleted rows of every table (carve.h)
 * into the ledger, kind "deleted", without those equal to a live row.
 */
static int
carve_deleted(struct rec *r)
{
	struct carving cv = {.r = r};
	struct gsr_carver *carver = NULL;
	struct gsr_carve_stats st = {0};
	size_t n = 0;
	int rc = -1;

	cv.shapes = calloc(r->n_tabs + 1, sizeof *cv.shapes);
	cv.table_of = calloc(r->n_tabs + 1, sizeof *cv.table_of);
	if (cv.shapes == NULL || cv.table_of == NULL) {
		gsr_ctx_fail(r->ctx, GSR_ERR_NOMEM, "out of memory");
		goto out;
	}
	for (size_t t = 0; t < r->n_tabs; t++) {
		struct rtable *rt = &r->tabs[t];

		if (rt->sh.without_rowid || is_sequence(rt))
			continue;
		/* A record has at least as many values as the shortest live
		 * row of its table. */
		cv.shapes[n] = rt->sh.g;
		cv.shapes[n].min_cols =
		    rt->min_values ? rt->min_values : rt->sh.g.n_cols;
		cv.table_of[n++] = t;
	}
	rc = 0;
	if (n == 0)
		goto out;
	rc = -1;
	if ((carver = gsr_carver_new(r->ctx, r->pf, cv.shapes, n)) == NULL ||
	    gsr_carver_image(carver, carved_row, &cv, &st) < 0 ||
	    drop_live_copies(&cv) || establish_rowids(&cv) ||
	    flag_versions(r) || confirm_rowids(r) || count_deleted(r))
		goto out;
	r->res->carved = true;
	r->res->carve_bytes = st.bytes_scanned;
	rc = 0;
out:
	gsr_carver_free(carver);
	free(cv.shapes);
	free(cv.table_of);
	free(cv.kept);
	free(cv.slots);
	free(cv.vals);
	free(cv.pend);
	free(cv.kbuf);
	sqlite3_finalize(cv.order_up);
	return rc;
}

/* ---- finishing ---------------------------------------------------------- */

/* Every schema entry read goes into the ledger's objects. */
static int
finish_schema(struct rec *r)
{
	sqlite3_stmt *lo;

	if ((lo = gsr_db_prepare(r->ctx, r->led,
	                         "INSERT INTO objects VALUES (?,?,?,?,?,?)")) ==
	    NULL)
		return -1;
	for (size_t i = 0; i < r->n_ents; i++) {
		struct entry *e = &r->ents[i];

		sqlite3_bind_text(lo, 1, e->type, -1, SQLITE_STATIC);
		sqlite3_bind_text(lo, 2, e->name, -1, SQLITE_STATIC);
		sqlite3_bind_text(lo, 3, e->tbl, -1, SQLITE_STATIC);
		sqlite3_bind_int64(lo, 4, e->rootpage);
		sqlite3_bind_text(lo, 5, e->sql, -1, SQLITE_STATIC);
		sqlite3_bind_int(lo, 6, e->created);
		if (step_done(r, r->led, lo)) {
			sqlite3_finalize(lo);
			return -1;
		}
	}
	sqlite3_finalize(lo);
	return 0;
}

/* Mark in r->used the pages that hold no live rows: the freelist (its
 * pages in *fl, *n_fl, the caller's to free), pointer-map pages and the
 * page of the locking bytes at 1 GiB, which SQLite leaves unused.  Also
 * allocates r->owner.  Returns 0, or -1 with an error on r->ctx. */
static int
mark_unused_pages(struct rec *r, uint32_t **fl, size_t *n_fl)
{
	r->used = gsr_bitmap_new(r->in.n_pages);
	r->owner = calloc((size_t)r->in.n_pages + 1, sizeof *r->owner);
	if (r->used == NULL || r->owner == NULL)
		return gsr_ctx_fail(r->ctx, GSR_ERR_NOMEM,
		                    "out of memory for %" PRIu32 " pages",
		                    r->in.n_pages);
	if (gsr_freelist_pages(r->ctx, r->pf, fl, n_fl))
		return -1;
	for (size_t i = 0; i < *n_fl; i++)
		gsr_bit_set(r->used, (*fl)[i]);
	for (uint32_t p = 2; p <= r->in.n_pages; p++)
		if (gsr_ptrmap_is_map_page(r->pf, p))
			gsr_bit_set(r->used, p);
	if ((uint64_t)r->in.n_pages * r->in.page_size > ((uint64_t)1 << 30))
		gsr_bit_set(r->used,
		            (uint32_t)(((uint64_t)1 << 30) / r->in.page_size) +
		                1);
	r->res->pages_freelist = (uint32_t)*n_fl;
	return 0;
}

/* Finalize the statements a run prepared on its databases and free the
 * tables' and indexes' descriptions; before the databases close. */
static void
rec_finalize(struct rec *r)
{
	for (size_t i = 0; i < r->n_tabs; i++) {
		for (size_t n = 0; n <= r->tabs[i].sh.g.n_cols; n++) {
			sqlite3_finalize(r->tabs[i].ins[n]);
			free(n < r->tabs[i].sh.g.n_cols ? r->tabs[i].cols[n]
			                                : NULL);
		}
		sqlite3_finalize(r->tabs[i].get);
		free(r->tabs[i].segs);
		free(r->tabs[i].leaves);
		free(r->tabs[i].ins);
		free(r->tabs[i].cols);
		shape_free(&r->tabs[i].sh);
	}
	free(r->tabs);
	for (size_t i = 0; i < r->n_idx; i++)
		free(r->idx[i].cols);
	free(r->idx);
	sqlite3_finalize(r->ik_ins);
	sqlite3_finalize(r->ik_rid);
	sqlite3_finalize(r->ik_key);
	sqlite3_finalize(r->json_ok);
	sqlite3_finalize(r->prov);
	sqlite3_finalize(r->lrow);
	sqlite3_finalize(r->seen);
}

/* Free what a run holds besides its statements and files. */
static void
rec_release(struct rec *r)
{
	gsr_schema_free(r->schema);
	for (size_t i = 0; i < r->n_ents; i++) {
		free(r->ents[i].type);
		free(r->ents[i].name);
		free(r->ents[i].tbl);
		free(r->ents[i].sql);
	}
	free(r->ents);
	free(r->used);
	free(r->owner);
	free(r->fits);
	free(r->scores);
	free(r->jbuf);
}

/* The recovered database: the image's encoding, page size (so that its
 * leaves may be grafted, graft_table()) and header numbers, no journal
 * (it is ours and rebuilt from scratch on failure). */
static int
out_open(struct rec *r, const char *path, int fd)
{
	unsigned char hdr[100];
	struct gsr_sqlhdr h;
	static const char *const enc[] = {"UTF-8", "UTF-8", "UTF-16le",
	                                  "UTF-16be"};
	char *sql;
	int rc;

	if ((r->out = gsr_db_open(r->ctx, path, true)) == NULL)
		return -1;
	sql = sqlite3_mprintf(
	    "PRAGMA encoding='%s'; PRAGMA page_size=%u;"
	    " PRAGMA journal_mode=OFF; PRAGMA synchronous=OFF;"
	    " PRAGMA secure_delete=ON;",
	    enc[r->in.text_encoding <= 3 ? r->in.text_encoding : 1],
	    (unsigned)r->in.page_size);
	rc = sql ? gsr_db_exec(r->ctx, r->out, sql)
	         : gsr_ctx_fail(r->ctx, GSR_ERR_NOMEM, "out of memory");
	sqlite3_free(sql);
	if (rc)
		return -1;
	if (pread(fd, hdr, sizeof hdr, 0) == (ssize_t)sizeof hdr &&
	    gsr_sqlhdr_is_sqlite(hdr, sizeof hdr)) {
		gsr_sqlhdr_decode(hdr, &h);
		sql = sqlite3_mprintf(
		    "PRAGMA user_version=%d; PRAGMA application_id=%d;",
		    (int)h.user_version, (int)h.application_id);
		rc = sql ? gsr_db_exec(r->ctx, r->out, sql)
		         : gsr_ctx_fail(r->ctx, GSR_ERR_NOMEM, "out of memory");
		sqlite3_free(sql);
		if (rc)
			return -1;
	}
	return gsr_db_exec(r->ctx, r->out, "BEGIN");
}

/* Attach the image at path to db as "img", read-only and immutable.
 * Returns 1 when SQLite reads its schema as a whole, 0 when not, -1 out
 * of memory (recorded on ctx). */
static int
attach_img(struct gsr_ctx *ctx, sqlite3 *db, const char *path)
{
	struct strbuf uri = STRBUF_INIT;
	sqlite3_stmt *st = NULL;
	static const char hex[] = "0123456789ABCDEF";
	int ok;

	sb_adds(&uri, "file:");
	for (const unsigned char *p = (const unsigned char *)path; *p; p++)
		if ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
		    (*p >= '0' && *p <= '9') || strchr("/._-", *p))
			sb_addf(&uri, "%c", *p);
		else
			sb_addf(&uri, "%%%c%c", hex[*p >> 4], hex[*p & 15]);
	sb_adds(&uri, "?mode=ro&immutable=1");
	if (sb_str(&uri) == NULL ||
	    sqlite3_prepare_v2(db, "ATTACH ?1 AS img", -1, &st, NULL) !=
	        SQLITE_OK) {
		sb_release(&uri);
		return gsr_ctx_fail(ctx, GSR_ERR_NOMEM, "out of memory");
	}
	sqlite3_bind_text(st, 1, sb_str(&uri), -1, SQLITE_STATIC);
	ok = sqlite3_step(st) == SQLITE_DONE;
	sqlite3_finalize(st);
	sb_release(&uri);
	/* SQLite must read the image's schema as a whole. */
	return ok && sqlite3_exec(db, "SELECT count(*) FROM img.sqlite_master",
	                          NULL, NULL, NULL) == SQLITE_OK;
}

/* Attach the image to r->out as "img" (attach_img()), for bulk_finish()
 * and vacuum_possible(); r->img says whether it is.  Returns 0, or -1 on
 * an error on ctx (out of memory). */
static int
attach_image(struct rec *r, const char *path)
{
	int c = attach_img(r->ctx, r->out, path);

	r->img = c == 1;
	return c < 0 ? -1 : 0;
}

/* Detach the image once the trees are walked (outside the transaction,
 * as SQLite wants). */
static int
detach_image(struct rec *r)
{
	if (!r->img)
		return 0;
	r->img = false;
	return gsr_db_exec(r->ctx, r->out, "COMMIT; DETACH img; BEGIN");
}

static void
sum_up(struct rec *r)
{
	struct gsr_recover_result *res = r->res;

	for (size_t i = 0; i < res->n_tables; i++) {
		const struct gsr_recover_table *t = &res->tables[i];

		res->rows += t->rows;
		res->rejected += t->rejected;
		res->flagged += t->flagged;
		res->truncated += t->truncated;
		res->pages_damaged += t->pages_damaged;
		res->cells_damaged += t->cells_damaged;
	}
	for (uint32_t p = 1; p <= r->in.n_pages; p++)
		res->pages_tree += gsr_bit_test(r->used, p);
	res->pages_other = r->in.n_pages - res->pages_tree;
	res->pages_tree -=
	    res->pages_freelist + res->pages_orphan + res->pages_unplaced;
}

int
gsr_recover_run(struct gsr_ctx *ctx, const char *image_path,
                const struct gsr_recover_opts *opts, const char *out_db,
                const char *ledger_db, struct gsr_recover_result *res)
{
	struct rec r = {.ctx = ctx,
	                .opts = opts,
	                .res = res,
	                .out_path = out_db,
	                .img_path = image_path};
	uint64_t size = 0;
	uint32_t *fl = NULL;
	size_t n_fl = 0, n_created = 0;
	double t0 = gsr_now_ms();
	int fd = -1, wal_fd = -1, jr_fd = -1, rc = -1;

	if (gsr_ctx_failed(ctx))
		return -1;
	res->schema_source = "sqlite_master";
	if (open_input(ctx, image_path, &fd, &size) ||
	    (r.pf = gsr_pagefile_open_fd(
	         ctx, fd, size, opts ? opts->page_size_hint : 0)) == NULL)
		goto out;
	gsr_pagefile_get_info(r.pf, &r.in);
	res->info = r.in;
	if (open_sidecars(&r, fd, size, &wal_fd, &jr_fd))
		goto out;
	if (r.in.n_pages == 0) {
		gsr_ctx_fail(
		    ctx, GSR_ERR_INPUT,
		    "'%s' holds no whole page: nothing can be recovered",
		    image_path);
		goto out;
	}
	walked(&r, 0);
	if (mark_unused_pages(&r, &fl, &n_fl))
		goto out;
	r.fl = fl;
	r.n_fl = n_fl;
	r.fits = calloc(2, sizeof *r.fits);
	if (r.fits == NULL) {
		gsr_ctx_fail(ctx, GSR_ERR_NOMEM, "out of memory");
		goto out;
	}
	if (read_master(&r))
		goto out;
	res->schema_entries = (uint32_t)r.n_ents;
	if (out_open(&r, out_db, fd) || ledger_open(&r, ledger_db) ||
	    create_from_entries(&r, &n_created))
		goto out;
	if (n_created == 0 &&
	    (discard_entries(&r) || create_from_rules(&r, &n_created)))
		goto out;
	if (n_created == 0) {
		gsr_ctx_fail(ctx, GSR_ERR_INPUT,
		             "no table of '%s' can be recovered: its schema is "
		             "lost and no rules fit its records",
		             image_path);
		goto out;
	}
	/* A new connection reads the schema as written. */
	if (gsr_db_exec(ctx, r.out, "COMMIT"))
		goto out;
	sqlite3_close(r.out);
	if ((r.out = gsr_db_open(ctx, out_db, false)) == NULL ||
	    gsr_db_exec(ctx, r.out,
	                "PRAGMA journal_mode=OFF; PRAGMA synchronous=OFF; "
	                "PRAGMA secure_delete=ON;") ||
	    (opts && opts->sqlite_reads_image && !r.wal && !r.jr &&
	     attach_image(&r, image_path)) ||
	    gsr_db_exec(ctx, r.out, "BEGIN") || tables_init(&r))
		goto out;
	if (indexes_init(&r)) {
		gsr_ctx_fail(ctx, GSR_ERR_NOMEM, "out of memory");
		goto out;
	}
	if (read_index_trees(&r))
		goto out;
	free(r.fits);
	r.fits = calloc(r.n_tabs + 1, sizeof *r.fits);
	r.scores = calloc(r.n_tabs + 1, sizeof *r.scores);
	if (r.fits == NULL || r.scores == NULL) {
		gsr_ctx_fail(ctx, GSR_ERR_NOMEM, "out of memory");
		goto out;
	}
	if (walk_tables(&r) || detach_image(&r) || place_orphans(&r, false) ||
	    place_orphans(&r, true) || read_history(&r, fd) ||
	    (opts && opts->deleted && carve_deleted(&r)) || check_indexes(&r) ||
	    finish_schema(&r) || gsr_db_exec(ctx, r.out, "COMMIT") ||
	    gsr_db_exec(ctx, r.led, "COMMIT"))
		goto out;
	sum_up(&r);
	res->ms = gsr_now_ms() - t0;
	rc = 0;
out:
	vacuum_join(&r, false);
	gsr_progress_end(ctx, "page reader");
	rec_finalize(&r);
	if (sqlite3_close(r.out) != SQLITE_OK ||
	    sqlite3_close(r.led) != SQLITE_OK)
		rc = gsr_ctx_fail(ctx, GSR_ERR_INTERNAL,
		                  "a recovery database did not close");
	if (rc != 0) {
		unlink(out_db);
		unlink(ledger_db);
	}
	rec_release(&r);
	free(fl);
	gsr_pagefile_close(r.pf);
	gsr_wal_close(r.wal_all);
	gsr_journal_close(r.jrnl);
	if (fd >= 0)
		close(fd);
	if (wal_fd >= 0)
		close(wal_fd);
	if (jr_fd >= 0)
		close(jr_fd);
	return rc;
}

/* ---- the WAL's history alone, for a sound database --------------------- */

/*
 * Whether the WAL opened on r is sound, as SQLite would read it: a valid
 * header of the image's page size, a commit in the valid prefix, no frame
 * after the valid prefix that carries the header's salts (a checksum
 * broken inside the current generation: damage, not an older
 * generation), and no partial frame at the end.  why (size n) says what
 * is wrong when it is not.
 */
static bool
wal_sound(struct rec *r, char *why, size_t n)
{
	struct gsr_wal_info wi;

	gsr_wal_get_info(r->wal_all, &wi);
	if (!wi.header_ok) {
		snprintf(why, n, "its header is not valid");
		return false;
	}
	if (wi.page_size != r->in.page_size || r->in.page_size_inferred) {
		snprintf(why, n,
		         "its page size (%" PRIu32 ") is not the database's",
		         wi.page_size);
		return false;
	}
	if (wi.last_commit == 0 || r->wal == NULL) {
		snprintf(why, n, "it holds no committed transaction");
		return false;
	}
	if (wi.tail_bytes != 0) {
		snprintf(why, n,
		         "it ends in a partial frame (%" PRIu64 " bytes)",
		         wi.tail_bytes);
		return false;
	}
	for (uint32_t f = wi.n_valid + 1; f <= wi.n_slots; f++) {
		struct gsr_wal_frame fr;

		if (gsr_wal_frame(r->wal_all, f, &fr) != 0) {
			snprintf(why, n, "frame %" PRIu32 " cannot be read", f);
			return false;
		}
		if (fr.salt1 == wi.salt1 && fr.salt2 == wi.salt2) {
			snprintf(why, n,
			         "the checksum chain breaks at frame %" PRIu32
			         " of its current generation",
			         f);
			return false;
		}
	}
	return true;
}

/*
 * Set owner[] for the leaves of table t's tree below page pgno, at level
 * (the root is 0; leaves are at leaf_level), reading only interior pages:
 * a b-tree's leaves are all at one depth, so the children of a page at
 * leaf_level - 1 are leaves and need not be read.  Pages already marked
 * in used are not read again (a cycle).  Returns 0, or -1 with an error on
 * r->ctx.
 */
static int
own_leaves(struct rec *r, uint32_t pgno, int level, int leaf_level, uint32_t t)
{
	const unsigned char *page;
	unsigned char *copy = NULL;
	struct gsr_page_hdr h;
	uint32_t hdr_off = pgno == 1 ? 100 : 0;
	int rc = 0;

	if (pgno == 0 || pgno > r->in.n_pages || level >= GSR_BTREE_MAX_DEPTH)
		return 0;
	if (level == leaf_level) {
		if (r->owner[pgno] == 0)
			r->owner[pgno] = t + 1;
		return 0;
	}
	if (gsr_bit_test(r->used, pgno))
		return 0;
	gsr_bit_set(r->used, pgno);
	if ((page = gsr_pagefile_page(r->pf, pgno)) == NULL)
		return gsr_ctx_failed(r->ctx) ? -1 : 0;
	if (!gsr_page_hdr_parse(page, r->in.usable_size, hdr_off, &h) ||
	    h.type != GSR_PAGE_TABLE_INTERIOR)
		return 0;
	/* The page is read again below each child: keep a copy. */
	if ((copy = malloc(r->in.page_size)) == NULL)
		return gsr_ctx_fail(r->ctx, GSR_ERR_NOMEM, "out of memory");
	memcpy(copy, page, r->in.page_size);
	for (uint32_t i = 0; i <= h.n_cells && rc == 0; i++) {
		uint32_t child = h.right, off;

		if (i < h.n_cells) {
			off = gsr_get_u16(copy + h.ptr_off + 2 * i);
			if (off < h.ptr_end || off > r->in.usable_size - 4)
				continue;
			child = gsr_get_u32(copy + off);
		}
		rc = own_leaves(r, child, level + 1, leaf_level, t);
	}
	free(copy);
	return rc;
}

/* The level of the leaves of the tree rooted at root, down its right
 * edge; -1 when that edge is not a chain of table interior pages ending
 * in a table leaf. */
static int
leaf_level(struct rec *r, uint32_t root)
{
	uint32_t p = root;

	for (int level = 0; level < GSR_BTREE_MAX_DEPTH; level++) {
		int type = gsr_btree_page_type(r->pf, p);
		const unsigned char *page;
		struct gsr_page_hdr h;

		if (type == GSR_PAGE_TABLE_LEAF)
			return level;
		if (type != GSR_PAGE_TABLE_INTERIOR ||
		    (page = gsr_pagefile_page(r->pf, p)) == NULL ||
		    !gsr_page_hdr_parse(page, r->in.usable_size,
		                        p == 1 ? 100 : 0, &h))
			return -1;
		p = h.right;
	}
	return -1;
}

/* A row of a CURRENT frame: its provenance, tagged with the frame. */
static int
wal_prov_row(void *arg, const struct gsr_row *row)
{
	struct rec *r = arg;
	sqlite3_stmt *st = r->prov;

	sqlite3_bind_text(st, 1, r->cur->rt->name, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, row->rowid);
	sqlite3_bind_text(st, 3, "btree", -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 4, row->pgno);
	sqlite3_bind_int64(st, 5, row->cell_offset);
	sqlite3_bind_int64(st, 6, r->cur_frame);
	sqlite3_bind_int(st, 7, row->truncated);
	return step_done(r, r->led, st) ? 1 : 0;
}

/* The provenance of the rows on the table leaves of the WAL's CURRENT
 * frames: the rows the -wal brought to the committed state. */
static int
wal_provenance(struct rec *r)
{
	struct gsr_wal_info wi;

	gsr_wal_get_info(r->wal, &wi);
	for (uint32_t f = 1; f <= wi.n_slots; f++) {
		struct gsr_wal_frame fr;
		uint32_t t;

		if (gsr_wal_frame(r->wal, f, &fr) != 0 ||
		    fr.cls != GSR_WAL_CURRENT || fr.pgno > r->in.n_pages ||
		    (t = r->owner[fr.pgno]) == 0 ||
		    r->tabs[t - 1].sh.without_rowid ||
		    gsr_btree_page_type(r->pf, fr.pgno) != GSR_PAGE_TABLE_LEAF)
			continue;
		r->cur = &r->tabs[t - 1];
		r->cur_frame = f;
		if (gsr_btree_walk_table(r->ctx, r->pf, fr.pgno, wal_prov_row,
		                         r, NULL) < 0)
			return -1;
	}
	r->cur_frame = 0;
	return 0;
}

/* Whether the live database holds the schema entry e. */
static bool
entry_live(sqlite3 *live, const struct entry *e)
{
	sqlite3_stmt *st = NULL;
	bool found = false;

	if (sqlite3_prepare_v2(live,
	                       "SELECT 1 FROM main.sqlite_schema WHERE "
	                       "type = ?1 AND name = ?2",
	                       -1, &st, NULL) == SQLITE_OK) {
		sqlite3_bind_text(st, 1, e->type, -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 2, e->name, -1, SQLITE_STATIC);
		found = sqlite3_step(st) == SQLITE_ROW;
	}
	sqlite3_finalize(st);
	return found;
}

int
gsr_recover_wal_history(struct gsr_ctx *ctx, const char *image_path,
                        const struct gsr_recover_opts *opts,
                        const char *live_db, const char *ledger_db,
                        struct gsr_recover_result *res, char **why)
{
	struct rec r = {.ctx = ctx, .opts = opts, .res = res};
	struct gsr_walk_stats ws;
	uint64_t size = 0;
	double t0 = gsr_now_ms();
	int fd = -1, wal_fd = -1, jr_fd = -1, rc = -1;
	bool ledger = false;
	char reason[160];

	*why = NULL;
	if (gsr_ctx_failed(ctx))
		return -1;
	if (opts == NULL || opts->wal_path == NULL || opts->journal_path) {
		snprintf(reason, sizeof reason, "%s",
		         "no -wal alone came with it");
		goto unsound;
	}
	res->schema_source = "sqlite_master";
	if (open_input(ctx, image_path, &fd, &size) ||
	    (r.pf = gsr_pagefile_open_fd(ctx, fd, size, 0)) == NULL)
		goto out;
	gsr_pagefile_get_info(r.pf, &r.in);
	res->info = r.in;
	if (open_sidecars(&r, fd, size, &wal_fd, &jr_fd))
		goto out;
	if (!wal_sound(&r, reason, sizeof reason))
		goto unsound;
	r.used = gsr_bitmap_new(r.in.n_pages);
	r.owner = calloc((size_t)r.in.n_pages + 1, sizeof *r.owner);
	if (r.used == NULL || r.owner == NULL) {
		gsr_ctx_fail(ctx, GSR_ERR_NOMEM,
		             "out of memory for %" PRIu32 " pages",
		             r.in.n_pages);
		goto out;
	}
	/* sqlite_master from page 1's tree alone: it must read whole. */
	if (gsr_btree_walk_mark(ctx, r.pf, 1, false, r.used, master_row, &r,
	                        &ws) < 0)
		goto out;
	if (ws.pages_damaged || ws.cells_damaged || r.n_ents == 0) {
		snprintf(
		    reason, sizeof reason, "%s",
		    "its sqlite_master does not read whole through the -wal");
		goto unsound;
	}
	res->schema_entries = (uint32_t)r.n_ents;
	/* The live rows are SQLite's, read from the working copy: r.out is
	 * only read (stored_row()). */
	if ((r.out = gsr_db_open(ctx, live_db, false)) == NULL ||
	    gsr_db_exec(ctx, r.out, "PRAGMA query_only=ON") || tables_init(&r))
		goto out;
	r.fits = calloc(r.n_tabs + 1, sizeof *r.fits);
	r.scores = calloc(r.n_tabs + 1, sizeof *r.scores);
	if (r.fits == NULL || r.scores == NULL) {
		gsr_ctx_fail(ctx, GSR_ERR_NOMEM, "out of memory");
		goto out;
	}
	for (size_t i = 0; i < r.n_tabs; i++) {
		uint32_t root = r.tabs[i].rt->root;
		int ll;

		if (root == 0 || r.tabs[i].sh.without_rowid ||
		    (ll = leaf_level(&r, root)) < 0)
			continue;
		if (own_leaves(&r, root, 0, ll, (uint32_t)i))
			goto out;
	}
	if (ledger_open(&r, ledger_db))
		goto out;
	ledger = true;
	for (size_t i = 0; i < r.n_ents; i++)
		r.ents[i].created = entry_live(r.out, &r.ents[i]);
	if (wal_provenance(&r) || read_history(&r, fd) || finish_schema(&r) ||
	    gsr_db_exec(ctx, r.led, "COMMIT"))
		goto out;
	res->ms = gsr_now_ms() - t0;
	rc = 0;
	goto out;
unsound:
	if ((*why = strdup(reason)) == NULL)
		gsr_ctx_fail(ctx, GSR_ERR_NOMEM, "out of memory");
	else
		rc = 1;
out:
	for (size_t i = 0; i < r.n_tabs; i++) {
		for (size_t n = 0; n <= r.tabs[i].sh.g.n_cols; n++) {
			sqlite3_finalize(r.tabs[i].ins[n]);
			free(n < r.tabs[i].sh.g.n_cols ? r.tabs[i].cols[n]
			                               : NULL);
		}
		sqlite3_finalize(r.tabs[i].get);
		free(r.tabs[i].ins);
		free(r.tabs[i].cols);
		shape_free(&r.tabs[i].sh);
	}
	free(r.tabs);
	sqlite3_finalize(r.prov);
	sqlite3_finalize(r.lrow);
	sqlite3_finalize(r.seen);
	if (sqlite3_close(r.out) != SQLITE_OK ||
	    sqlite3_close(r.led) != SQLITE_OK)
		rc = gsr_ctx_fail(ctx, GSR_ERR_INTERNAL,
		                  "a recovery database did not close");
	if (rc != 0 && ledger)
		unlink(ledger_db);
	if (rc != 0) {
		/* Nothing of a partial run stays in res: the caller may run
		 * the full recovery into it. */
		gsr_recover_result_release(res);
	}
	gsr_schema_free(r.schema);
	for (size_t i = 0; i < r.n_ents; i++) {
		free(r.ents[i].type);
		free(r.ents[i].name);
		free(r.ents[i].tbl);
		free(r.ents[i].sql);
	}
	free(r.ents);
	free(r.used);
	free(r.owner);
	free(r.fits);
	free(r.scores);
	free(r.jbuf);
	gsr_pagefile_close(r.pf);
	gsr_wal_close(r.wal_all);
	gsr_journal_close(r.jrnl);
	if (fd >= 0)
		close(fd);
	if (wal_fd >= 0)
		close(wal_fd);
	if (jr_fd >= 0)
		close(jr_fd);
	return rc;
}

void
gsr_recover_result_release(struct gsr_recover_result *res)
{
	for (size_t i = 0; i < res->n_tables; i++)
		free(res->tables[i].name);
	free(res->tables);
	free(res->schema_label);
	sv_release(&res->schema_candidates);
	memset(res, 0, sizeof *res);
}

void
gsr_recover_write_json(const struct gsr_recover_result *res, struct jsonw *jw)
{
	jw_kint(jw, "page_size", res->info.page_size);
	jw_kbool(jw, "page_size_inferred", res->info.page_size_inferred);
	jw_kint(jw, "reserved", res->info.reserved);
	jw_kbool(jw, "reserved_inferred", res->info.reserved_inferred);
	jw_kint(jw, "text_encoding", res->info.text_encoding);
	jw_kbool(jw, "encoding_inferred", res->info.encoding_inferred);
	jw_kint(jw, "pages", res->info.n_pages);
	jw_kstr(jw, "schema_source", res->schema_source);
	if (res->schema_label) {
		jw_kstr(jw, "schema_label", res->schema_label);
		jw_kstrvec(jw, "schema_candidates", &res->schema_candidates);
	}
	jw_kint(jw, "schema_entries", res->schema_entries);
	jw_key(jw, "page_use");
	jw_obj_begin(jw);
	jw_kint(jw, "tree", res->pages_tree);
	jw_kint(jw, "freelist", res->pages_freelist);
	jw_kint(jw, "orphan_leaf", res->pages_orphan);
	jw_kint(jw, "unplaced_leaf", res->pages_unplaced);
	jw_kint(jw, "other", res->pages_other);
	jw_obj_end(jw);
	jw_kint(jw, "pages_damaged", (int64_t)res->pages_damaged);
	jw_kint(jw, "cells_damaged", (int64_t)res->cells_damaged);
	jw_kint(jw, "rows", res->rows);
	jw_kint(jw, "rows_truncated", res->truncated);
	jw_kint(jw, "rows_rejected", res->rejected);
	jw_kint(jw, "rows_flagged", res->flagged);
	jw_kint(jw, "rows_unplaced", res->rows_unplaced);
	jw_key(jw, "wal");
	jw_obj_begin(jw);
	jw_kbool(jw, "used", res->wal_used);
	jw_kint(jw, "frames", res->wal_frames);
	jw_kint(jw, "current_frames", res->wal_current);
	jw_kint(jw, "history_pages", res->wal_history_pages);
	jw_obj_end(jw);
	jw_key(jw, "journal");
	jw_obj_begin(jw);
	jw_kbool(jw, "rolled_back", res->journal_rolled_back);
	jw_kint(jw, "records", res->journal_records);
	jw_kint(jw, "history_pages", res->journal_history_pages);
	jw_obj_end(jw);
	jw_kint(jw, "history_rows", res->history);
	jw_kint(jw, "history_same_as_live", res->history_same);
	jw_key(jw, "deleted");
	if (res->carved) {
		jw_obj_begin(jw);
		jw_kint(jw, "rows", res->deleted);
		jw_kint(jw, "rows_truncated", res->deleted_truncated);
		jw_kint(jw, "same_as_live_or_kept", res->deleted_same);
		jw_key(jw, "rowid_from");
		jw_obj_begin(jw);
		jw_kint(jw, "cell", res->rowid_cell);
		jw_kint(jw, "index", res->rowid_index);
		jw_kint(jw, "page-order", res->rowid_page_order);
		jw_kint(jw, "unknown", res->rowid_unknown);
		jw_obj_end(jw);
		jw_kint(jw, "confirmed_by_foreign_keys", res->rowid_confirmed);
		jw_kint(jw, "flagged", res->deleted_flagged);
		jw_kint(jw, "bytes_scanned", (int64_t)res->carve_bytes);
		jw_obj_end(jw);
	} else {
		jw_null(jw);
	}
	jw_key(jw, "tables");
	jw_arr_begin(jw);
	for (size_t i = 0; i < res->n_tables; i++) {
		const struct gsr_recover_table *t = &res->tables[i];

		jw_obj_begin(jw);
		jw_kstr(jw, "name", t->name);
		jw_kint(jw, "root", t->root);
		jw_kint(jw, "rows", t->rows);
		jw_kint(jw, "btree", t->btree);
		jw_kint(jw, "orphan_leaf", t->orphan);
		jw_kint(jw, "truncated", t->truncated);
		jw_kint(jw, "rejected", t->rejected);
		jw_kint(jw, "duplicates", t->duplicates);
		jw_kint(jw, "flagged", t->flagged);
		jw_kint(jw, "bulk_copied", t->bulk_rows);
		jw_kint(jw, "leaves_grafted", t->leaves_grafted);
		if (t->index_entries >= 0) {
			jw_kint(jw, "index_entries", t->index_entries);
			jw_kint(jw, "index_missing", t->index_missing);
		}
		jw_kint(jw, "pages_damaged", (int64_t)t->pages_damaged);
		jw_kint(jw, "cells_damaged", (int64_t)t->cells_damaged);
		jw_obj_end(jw);
	}
	jw_arr_end(jw);
}

/* Write the rows of query q on the ledger as JSON Lines into path, one
 * object a row with the result columns as keys; a column named "values"
 * holds JSON text and is written as is. */
static int
ledger_jsonl(struct gsr_ctx *ctx, sqlite3 *db, const char *q, const char *path)
{
	sqlite3_stmt *st = NULL;
	FILE *f = NULL;
	struct jsonw jw;
	int fd, rc = -1, step;

	fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
	          0600);
	if (fd < 0 || (f = fdopen(fd, "w")) == NULL) {
		gsr_ctx_fail(ctx, GSR_ERR_IO, "cannot create '%s': %s", path,
		             strerror(errno));
		if (fd >= 0)
			close(fd);
		return -1;
	}
	if ((st = gsr_db_prepare(ctx, db, q)) == NULL)
		goto out;
	jw_init(&jw, f, false);
	while ((step = sqlite3_step(st)) == SQLITE_ROW) {
		jw_obj_begin(&jw);
		for (int i = 0; i < sqlite3_column_count(st); i++) {
			const char *k = sqlite3_column_name(st, i);

			if (!strcmp(k, "values")) {
				jw_key(&jw, k);
				jw_raw(&jw, (const char *)sqlite3_column_text(
				                st, i));
				continue;
			}
			switch (sqlite3_column_type(st, i)) {
			case SQLITE_INTEGER:
				jw_kint(&jw, k, sqlite3_column_int64(st, i));
				break;
			case SQLITE_NULL:
				jw_knull(&jw, k);
				break;
			default:
				jw_kstr(
				    &jw, k,
				    (const char *)sqlite3_column_text(st, i));
			}
		}
		jw_obj_end(&jw);
		jw_end_line(&jw);
	}
	if (step != SQLITE_DONE) {
		gsr_ctx_fail(ctx, GSR_ERR_IO,
		             "cannot read the recovery ledger: %s",
		             sqlite3_errmsg(db));
		goto out;
	}
	rc = 0;
out:
	sqlite3_finalize(st);
	if ((fflush(f) != 0 || ferror(f) || fsync(fileno(f)) != 0) && rc == 0)
		rc = gsr_ctx_fail(ctx, GSR_ERR_IO, "cannot write '%s': %s",
		                  path, strerror(errno));
	fclose(f);
	return rc;
}

int
gsr_recover_export_ledger(struct gsr_ctx *ctx, const char *ledger_db,
                          const struct gsr_recover_result *res, const char *dir)
{
	static const struct {
		const char *file, *q;
	} parts[] = {
	    {"objects.jsonl",
	     "SELECT type, name, tbl_name, rootpage, sql, created FROM objects "
	     "ORDER BY rowid"},
	    {"provenance.jsonl",
	     "SELECT tbl AS \"table\", rid AS rowid, source, pgno AS page, "
	     "cell_offset AS offset, frame, truncated, rowid_from, "
	     "last_rid AS last_rowid, n_rows AS count FROM provenance "
	     "ORDER BY tbl, rid"},
	    {"rows.jsonl",
	     "SELECT tbl AS \"table\", kind, source, pgno AS page, "
	     "cell_offset AS offset, frame, rowid, rowid_from, flag, "
	     "(SELECT by FROM confirmations WHERE row = rows._rowid_) AS "
	     "confirmed_by, truncated, note, record AS \"values\" FROM rows "
	     "ORDER BY _rowid_"},
	};
	char sha[GSR_ARRAY_LEN(parts)][GSR_SHA256_HEX];
	uint64_t bytes[GSR_ARRAY_LEN(parts)];
	sqlite3 *db = NULL;
	char *path = NULL;
	FILE *f = NULL;
	struct jsonw jw;
	int rc = -1, fd;

	if (gsr_ctx_failed(ctx))
		return -1;
	if (mkdir(dir, 0700) != 0 && errno != EEXIST)
		return gsr_ctx_fail(ctx, GSR_ERR_IO, "cannot create '%s': %s",
		                    dir, strerror(errno));
	gsr_temp_register(dir);
	if ((db = gsr_db_open(ctx, ledger_db, false)) == NULL)
		goto out;
	for (size_t i = 0; i < GSR_ARRAY_LEN(parts); i++) {
		if (asprintf(&path, "%s/%s", dir, parts[i].file) < 0) {
			path = NULL;
			gsr_ctx_fail(ctx, GSR_ERR_NOMEM, "out of memory");
			goto out;
		}
		gsr_temp_register(path);
		if (ledger_jsonl(ctx, db, parts[i].q, path))
			goto out;
		if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0 ||
		    gsr_sha256_fd(fd, sha[i], &bytes[i]) != 0) {
			if (fd >= 0)
				close(fd);
			gsr_ctx_fail(ctx, GSR_ERR_IO, "cannot read '%s': %s",
			             path, strerror(errno));
			goto out;
		}
		close(fd);
		free(path);
		path = NULL;
	}
	/* A manifest of the ledger: the files and their hashes, and what
	 * the page reader found. */
	if (asprintf(&path, "%s/manifest.json", dir) < 0) {
		path = NULL;
		gsr_ctx_fail(ctx, GSR_ERR_NOMEM, "out of memory");
		goto out;
	}
	gsr_temp_register(path);
	fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
	          0600);
	if (fd < 0 || (f = fdopen(fd, "w")) == NULL) {
		if (fd >= 0)
			close(fd);
		gsr_ctx_fail(ctx, GSR_ERR_IO, "cannot create '%s': %s", path,
		             strerror(errno));
		goto out;
	}
	jw_init(&jw, f, true);
	jw_obj_begin(&jw);
	jw_kstr(&jw, "format", "gsrecover-recovery");
	jw_kint(&jw, "version", 2);
	jw_key(&jw, "files");
	jw_arr_begin(&jw);
	for (size_t i = 0; i < GSR_ARRAY_LEN(parts); i++) {
		jw_obj_begin(&jw);
		jw_kstr(&jw, "name", parts[i].file);
		jw_kint(&jw, "bytes", (int64_t)bytes[i]);
		jw_kstr(&jw, "sha256", sha[i]);
		jw_obj_end(&jw);
	}
	jw_arr_end(&jw);
	jw_key(&jw, "recovery");
	jw_obj_begin(&jw);
	gsr_recover_write_json(res, &jw);
	jw_obj_end(&jw);
	jw_obj_end(&jw);
	jw_end_line(&jw);
	if (fflush(f) != 0 || ferror(f) || fsync(fileno(f)) != 0) {
		gsr_ctx_fail(ctx, GSR_ERR_IO, "cannot write '%s': %s", path,
		             strerror(errno));
		goto out;
	}
	rc = 0;
out:
	if (f)
		fclose(f);
	free(path);
	sqlite3_close(db);
	return rc;
}

void
gsr_recover_forget_ledger_files(const char *dir)
{
	static const char *const names[] = {"objects.jsonl", "provenance.jsonl",
	                                    "rows.jsonl", "manifest.json"};
	char path[4096];

	for (size_t i = 0; i < GSR_ARRAY_LEN(names); i++) {
		snprintf(path, sizeof path, "%s/%s", dir, names[i]);
		gsr_temp_unregister(path);
	}
	gsr_temp_unregister(dir);
}

bool
gsr_recover_lossy(const struct gsr_recover_result *res)
{
	if (res->pages_damaged || res->cells_damaged || res->truncated ||
	    res->rejected || res->flagged || res->rows_unplaced ||
	    res->pages_other || res->info.header_pages > res->info.n_pages ||
	    !strcmp(res->schema_source, "rules"))
		return true;
	for (size_t i = 0; i < res->n_tables; i++)
		if (res->tables[i].index_missing > 0)
			return true;
	return false;
}

/* The INSERT of a deleted row of n values into table t of the recovered
 * database (its columns in order, from the record's JSON array ?2, the
 * rowid ?1 or NULL for a new one). */
static char *
deleted_insert_sql(const struct gsr_table *t, int n)
{
	struct strbuf sb = STRBUF_INIT;
	int npk = 0, ipk = -1;

	for (size_t c = 0; c < t->n_cols; c++)
		npk += t->cols[c].pk > 0;
	for (size_t c = 0; c < t->n_cols; c++)
		if (npk == 1 && t->cols[c].pk == 1 && t->cols[c].type &&
		    !strcasecmp(t->cols[c].type, "INTEGER"))
			ipk = (int)c;
	sb_adds(&sb, "INSERT INTO main.");
	sb_add_ident(&sb, t->name);
	sb_adds(&sb, ipk < 0 ? " (_rowid_" : " (");
	for (int c = 0; c < n; c++) {
		if (ipk < 0 || c > 0)
			sb_adds(&sb, ", ");
		sb_add_ident(&sb, t->cols[c].name);
	}
	sb_adds(&sb, ipk < 0 ? ") VALUES (?1" : ") VALUES (");
	for (int c = 0; c < n; c++) {
		if (ipk < 0 || c > 0)
			sb_adds(&sb, ", ");
		if (c == ipk)
			sb_adds(&sb, "?1");
		else
			sb_addf(&sb, "json_extract(?2, '$[%d]')", c);
	}
	sb_adds(&sb, ")");
	return sb_detach(&sb);
}

int
gsr_recover_import_deleted(struct gsr_ctx *ctx, const char *out_db,
                           const char *ledger_db, int64_t *imported,
                           int64_t *refused)
{
	sqlite3 *db = NULL;
	sqlite3_stmt *st = NULL, *note = NULL;
	struct gsr_schema *schema = NULL;
	char *sql;
	int rc = -1, step;

	*imported = *refused = 0;
	if (gsr_ctx_failed(ctx))
		return -1;
	if ((db = gsr_db_open(ctx, out_db, false)) == NULL ||
	    gsr_db_exec(ctx, db,
	                "PRAGMA journal_mode=OFF; PRAGMA synchronous=OFF") ||
	    (schema = gsr_schema_extract(ctx, db)) == NULL)
		goto out;
	sql = sqlite3_mprintf("ATTACH %Q AS led", ledger_db);
	if (sql == NULL || gsr_db_exec(ctx, db, sql)) {
		sqlite3_free(sql);
		if (!gsr_ctx_failed(ctx))
			gsr_ctx_fail(ctx, GSR_ERR_NOMEM, "out of memory");
		goto out;
	}
	sqlite3_free(sql);
	if (gsr_db_exec(ctx, db, "BEGIN") ||
	    (st = gsr_db_prepare(
	         ctx, db,
	         "SELECT _rowid_, tbl, rowid, record, "
	         "json_array_length(record), (SELECT count(*) FROM "
	         "json_each(record) WHERE type = 'object'), flag "
	         "FROM led.rows "
	         "WHERE kind = 'deleted' AND tbl IS NOT NULL "
	         /* Two versions at one rowid: a cell a freed
	          * page still lists goes first, then a whole
	          * cell, then a rowid from an index. */
	         "ORDER BY (source = 'freelist' AND note LIKE "
	         "'a cell of a freed page%') DESC, rowid_from = "
	         "'cell' DESC, _rowid_")) == NULL ||
	    (note =
	         gsr_db_prepare(ctx, db,
	                        "UPDATE led.rows SET note = note || ?2 WHERE "
	                        "_rowid_ = ?1")) == NULL)
		goto out;
	while ((step = sqlite3_step(st)) == SQLITE_ROW) {
		const char *tbl = (const char *)sqlite3_column_text(st, 1);
		const struct gsr_table *t = gsr_schema_table(schema, tbl);
		int n = sqlite3_column_int(st, 4);
		sqlite3_stmt *ins = NULL;
		char *msg = NULL;
		int irc;

		if (sqlite3_column_type(st, 6) != SQLITE_NULL) {
			/* Its rowid was not established, or its bytes
			 * contradict themselves: never imported. */
			msg = sqlite3_mprintf(
			    "; not imported: flagged %s",
			    (const char *)sqlite3_column_text(st, 6));
		} else if (t == NULL || n <= 0 || (size_t)n > t->n_cols ||
		           sqlite3_column_int(st, 5) > 0 ||
		           sqlite3_column_type(st, 2) != SQLITE_INTEGER) {
			/* A value SQL cannot give back (tagged hex) or no
			 * table: the row stays in the ledger only. */
			msg = sqlite3_mprintf(
			    "; not imported: %s",
			    t == NULL ? "no such table"
			    : sqlite3_column_type(st, 2) != SQLITE_INTEGER
			        ? "its rowid is not established"
			        : "a value is not plain JSON");
		} else if ((sql = deleted_insert_sql(t, n)) == NULL ||
		           sqlite3_prepare_v2(db, sql, -1, &ins, NULL) !=
		               SQLITE_OK) {
			free(sql);
			gsr_ctx_fail(ctx, GSR_ERR_INTERNAL,
			             "cannot import deleted rows: %s",
			             sqlite3_errmsg(db));
			goto out;
		} else {
			free(sql);
			sqlite3_bind_int64(ins, 1, sqlite3_column_int64(st, 2));
			sqlite3_bind_text(
			    ins, 2, (const char *)sqlite3_column_text(st, 3),
			    -1, SQLITE_TRANSIENT);
			irc = sqlite3_step(ins);
			if (irc == SQLITE_DONE) {
				(*imported)++;
				msg = sqlite3_mprintf(
				    "; imported by --include-deleted as "
				    "rowid %lld",
				    (long long)sqlite3_last_insert_rowid(db));
			} else {
				/* Its rowid taken too: never a new one. */
				msg = sqlite3_mprintf("; not imported: %s",
				                      sqlite3_errmsg(db));
			}
			sqlite3_finalize(ins);
		}
		if (msg == NULL) {
			gsr_ctx_fail(ctx, GSR_ERR_NOMEM, "out of memory");
			goto out;
		}
		if (strstr(msg, "not imported"))
			(*refused)++;
		sqlite3_bind_int64(note, 1, sqlite3_column_int64(st, 0));
		sqlite3_bind_text(note, 2, msg, -1, sqlite3_free);
		irc = sqlite3_step(note);
		sqlite3_reset(note);
		if (irc != SQLITE_DONE) {
			gsr_ctx_fail(ctx, GSR_ERR_IO,
			             "cannot write the ledger: %s",
			             sqlite3_errmsg(db));
			goto out;
		}
	}
	if (step != SQLITE_DONE) {
		gsr_ctx_fail(ctx, GSR_ERR_IO, "cannot read the ledger: %s",
		             sqlite3_errmsg(db));
		goto out;
	}
	sqlite3_finalize(st);
	st = NULL;
	sqlite3_finalize(note);
	note = NULL;
	if (gsr_db_exec(ctx, db, "COMMIT"))
		goto out;
	rc = 0;
out:
	sqlite3_finalize(st);
	sqlite3_finalize(note);
	gsr_schema_free(schema);
	sqlite3_close(db);
	return rc;
}
