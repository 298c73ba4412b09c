/* import.c -- the plan executed: the new database and every row.
 *
 * The import stage (rebuild_internal.h): create the target's tables in
 * the new database, with the source (and the staging database) attached
 * read-only (a big input is first copied with VACUUM INTO, the tables the
 * same in source and target kept, every other object dropped); for each table
 * of the plan, copy its rows by column name with the expressions the plan gives
 * (or the records whole, on the fast path) and quarantine those that meet a
 * condition of the plan, with its reason and their original values; then the
 * target's foreign keys, alembic_version and sqlite_sequence, the other
 * indexes, views and triggers, and the check that every source row was imported
 * or quarantined.
 */
#include "compat.h"
#include "rebuild_internal.h"

#include "plan.h"
#include "rebuild.h"
#include "dbopen.h"
#include "fdio.h"
#include "jsonw.h"
#include "scrub.h"
#include "tempfiles.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

/* ---- quarantine ------------------------------------------------------ */

/* The quarantine file of a table, opened on first use, with a lookup of
 * its source rows by rowid.  NULL with the error on ctx. */
static struct qfile *
qfile_for(struct run *r, const char *table)
{
	for (size_t i = 0; i < r->n_q; i++)
		if (!strcmp(r->q[i].table, table))
			return &r->q[i];
	if (gsr_grow((void **)&r->q, &r->cap_q, r->n_q + 1, sizeof *r->q)) {
		gsr_ctx_fail(r->ctx, GSR_ERR_NOMEM, "out of memory");
		return NULL;
	}
	struct qfile *q = &r->q[r->n_q++];
	q->table = strdup(table);
	if (asprintf(&q->path, "%s/%03zu.jsonl", r->qdir, r->n_q) < 0) {
		q->path = NULL;
		gsr_ctx_fail(r->ctx, GSR_ERR_NOMEM, "out of memory");
		return NULL;
	}
	gsr_temp_register(q->path);
	q->f = fopen(q->path, "we");
	if (q->f == NULL) {
		gsr_ctx_fail(r->ctx, GSR_ERR_IO, "cannot create '%s': %s",
		             q->path, strerror(errno));
		return NULL;
	}
	const char *rid = rb_rowid_name(gsr_schema_table(r->src, table));
	if (rid) {
		char *sql = sqlite3_mprintf(
		    "SELECT * FROM src.\"%w\" WHERE %s = ?1", table, rid);
		if (sql == NULL ||
		    sqlite3_prepare_v2(r->out, sql, -1, &q->by_rowid, NULL) !=
		        SQLITE_OK)
			q->by_rowid = NULL;
		sqlite3_free(sql);
	}
	return q;
}

/*
 * Write one quarantined row: its table, rowid, reason and original
 * values.  The values come from the statement vals (columns from first)
 * when given, else are looked up in the source by rowid.
 */
static int
quarantine(struct run *r, const char *table, int64_t rowid, bool has_rowid,
           const char *reason, sqlite3_stmt *vals, int first)
{
	struct qfile *q = qfile_for(r, table);
	struct jsonw jw;

	if (q == NULL)
		return -1;
	jw_init(&jw, q->f, false);
	jw_obj_begin(&jw);
	jw_kstr(&jw, "table", table);
	if (has_rowid)
		jw_kint(&jw, "rowid", rowid);
	jw_kstr(&jw, "reason", reason);
	jw_key(&jw, "values");
	if (vals) {
		gsr_json_row_values(&jw, vals, first);
	} else if (q->by_rowid && has_rowid) {
		sqlite3_reset(q->by_rowid);
		sqlite3_bind_int64(q->by_rowid, 1, rowid);
		if (sqlite3_step(q->by_rowid) == SQLITE_ROW)
			gsr_json_row_values(&jw, q->by_rowid, 0);
		else
			jw_null(&jw);
	} else {
		jw_null(&jw);
	}
	jw_obj_end(&jw);
	jw_end_line(&jw);
	if (ferror(q->f))
		return gsr_ctx_fail(r->ctx, GSR_ERR_IO, "cannot write '%s': %s",
		                    q->path, strerror(errno));
	return 0;
}

/* Quarantine the rows a query returns as (rowid, reason); their count,
 * or -1 with the error on ctx.  No-op after an error. */
static int64_t
quarantine_query(struct run *r, const char *table, const char *sql)
{
	sqlite3_stmt *st = NULL;
	int64_t n = 0;
	int rc;

	if (gsr_ctx_failed(r->ctx))
		return -1;
	if (sqlite3_prepare_v2(r->out, sql, -1, &st, NULL) != SQLITE_OK) {
		gsr_ctx_fail(r->ctx, GSR_ERR_INPUT, "rebuild: %s (in: %.200s)",
		             sqlite3_errmsg(r->out), sql);
		return -1;
	}
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		const char *why = (const char *)sqlite3_column_text(st, 1);
		if (quarantine(r, table, sqlite3_column_int64(st, 0), true,
		               why ? why : "?", NULL, 0) != 0 ||
		    (++n % 4096 == 0 && gsr_ctx_check_cancel(r->ctx)))
			break;
	}
	if (rc != SQLITE_ROW && rc != SQLITE_DONE)
		gsr_ctx_fail(r->ctx, GSR_ERR_INPUT, "rebuild: %s",
		             sqlite3_errmsg(r->out));
	sqlite3_finalize(st);
	return gsr_ctx_failed(r->ctx) ? -1 : n;
}

/* The report's entry of a table of the plan (rb_plan() made them all). */
static struct gsr_rebuild_table *
res_table(struct run *r, const char *name)
{
	for (size_t i = 0; i < r->res->n_tables; i++)
		if (!strcmp(r->res->tables[i].name, name))
			return &r->res->tables[i];
	gsr_ctx_fail(r->ctx, GSR_ERR_INTERNAL,
	             "rebuild: '%s' is not in the plan", name);
	return NULL;
}

/* The first condition of a kind in a table's plan, or NULL. */
static const struct gsr_plan_cond *
plan_cond(const struct gsr_plan_table *t, enum gsr_plan_check kind)
{
	for (size_t i = 0; i < t->n_conds; i++)
		if (t->conds[i].kind == kind)
			return &t->conds[i];
	return NULL;
}

/* Every row of a source table for the reason of its GSR_CHECK_ALL. */
static int
quarantine_table(struct run *r, const struct gsr_plan_table *t,
                 struct gsr_rebuild_table *rt)
{
	const char *rid = t->rid, *reason = plan_cond(t, GSR_CHECK_ALL)->reason;
	sqlite3_stmt *st = NULL;
	char *sql;
	int rc;

	sql =
	    rid ? sqlite3_mprintf("SELECT %s, * FROM src.\"%w\"", rid, t->name)
	        : sqlite3_mprintf("SELECT * FROM src.\"%w\"", t->name);
	if (sql == NULL ||
	    sqlite3_prepare_v2(r->out, sql, -1, &st, NULL) != SQLITE_OK) {
		gsr_ctx_fail(r->ctx, GSR_ERR_INPUT,
		             "rebuild: cannot read '%s': %s", t->name,
		             sqlite3_errmsg(r->out));
		sqlite3_free(sql);
		return -1;
	}
	sqlite3_free(sql);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		rt->source_rows++;
		if (quarantine(r, t->name,
		               rid ? sqlite3_column_int64(st, 0) : 0,
		               rid != NULL, reason, st, rid ? 1 : 0) != 0 ||
		    (rt->source_rows % 4096 == 0 &&
		     gsr_ctx_check_cancel(r->ctx)))
			break;
		rt->quarantined++;
	}
	if (rc != SQLITE_ROW && rc != SQLITE_DONE)
		gsr_ctx_fail(r->ctx, GSR_ERR_INPUT,
		             "rebuild: cannot read '%s': %s", t->name,
		             sqlite3_errmsg(r->out));
	sqlite3_finalize(st);
	return gsr_ctx_failed(r->ctx) ? -1 : 0;
}

/* ---- the fast path ------------------------------------------------- */

/* Tables of more rows than this are checked on a thread of their own
 * while they are copied; smaller ones first, on the main thread. */
#define PRESCAN_PARALLEL_ROWS 100000

/* The count of a source table's rows that fail the target's conditions,
 * made on a connection of its own (the source attached as src). */
struct prescan {
	struct gsr_ctx ctx;
	const char *work_db;
	char *sql;
	int64_t bad;
	struct gsr_thread thread;
};

static void *
prescan_main(void *arg)
{
	struct prescan *ps = arg;
	sqlite3 *db = gsr_db_open_memory(&ps->ctx);
	sqlite3_stmt *st = NULL;

	ps->bad = -1;
	if (db == NULL || gsr_db_attach_ro(&ps->ctx, db, ps->work_db, "src"))
		goto out;
	if (sqlite3_prepare_v2(db, ps->sql, -1, &st, NULL) != SQLITE_OK ||
	    sqlite3_step(st) != SQLITE_ROW) {
		gsr_ctx_fail(&ps->ctx, GSR_ERR_INPUT,
		             "rebuild: %s (in: %.200s)", sqlite3_errmsg(db),
		             ps->sql);
		goto out;
	}
	ps->bad = sqlite3_column_int64(st, 0);
out:
	sqlite3_finalize(st);
	sqlite3_close(db);
	return NULL;
}

/*
 * The fast path for a table the plan may copy whole (the bulk of a
 * GPUStack database: system_loads, model_usages): when every row passes
 * the checks ok, INSERT INTO ... SELECT * lets SQLite copy the records
 * without decoding them, as VACUUM does.  For a big table the rows are
 * counted against the checks on another thread while they are copied,
 * and the copy is taken back if any fails.  Returns 0 when it did, 1
 * when the table needs the row-by-row path (nothing written), -1 on
 * error.
 */
static int
copy_whole(struct run *r, const struct gsr_plan_table *t, const char *ok,
           int64_t rows, int64_t *imported)
{
	struct prescan ps = {.ctx = GSR_CTX_INIT, .bad = 0};
	char *sql = NULL;
	int64_t before;
	int rc = -1, xrc;

	if (strcmp(ok, "1") != 0) {
		struct gsr_ctx quiet = GSR_CTX_INIT; /* no thread: count here */
		ps.sql = rb_dupf("SELECT count(*) FROM %s AS r WHERE NOT (%s)",
		                 t->rel, ok);
		if (ps.sql == NULL)
			return gsr_ctx_fail(r->ctx, GSR_ERR_NOMEM,
			                    "out of memory");
		ps.work_db = gsr_identify_source_db(&r->res->id);
		if (rows <= PRESCAN_PARALLEL_ROWS ||
		    gsr_thread_start(&quiet, &ps.thread, prescan_main, &ps) !=
		        0) {
			ps.bad = rb_query_int(r, ps.sql);
			if (ps.bad != 0) {
				rc = ps.bad < 0 ? -1 : 1;
				goto out;
			}
		}
	}
	/* The table is new and empty: the rows inserted are its rows. */
	sql = rb_dupf(
	    "SAVEPOINT whole; INSERT INTO main.\"%s\" SELECT * FROM %s;",
	    t->name, t->rel);
	if (sql == NULL) {
		gsr_ctx_fail(r->ctx, GSR_ERR_NOMEM, "out of memory");
		goto out;
	}
	before = sqlite3_total_changes64(r->out);
	xrc = sqlite3_exec(r->out, sql, NULL, NULL, NULL);
	gsr_thread_join(r->ctx, &ps.thread, &ps.ctx, NULL);
	if (xrc != SQLITE_OK || ps.bad != 0) {
		/* Rows that fail a check, or a constraint the source did not
		 * enforce: go row by row. */
		sqlite3_exec(r->out, "ROLLBACK TO whole; RELEASE whole;", NULL,
		             NULL, NULL);
		rc = ps.bad < 0 ? -1 : 1;
		goto out;
	}
	if (rb_exec(r, "RELEASE whole"))
		goto out;
	*imported = sqlite3_total_changes64(r->out) - before;
	rc = 0;
out:
	gsr_thread_join(NULL, &ps.thread, NULL, NULL);
	free(ps.sql);
	free(sql);
	return rc;
}

/* ---- progress -------------------------------------------------------- */

/*
 * SQLite's progress handler on the output: the rows of the import under
 * way as the phase "import TABLE" (ctx.h).  The source rows are read in
 * rowid order and keep their rowids, so the last rowid inserted tells how
 * far the statement is, whatever path SQLite takes (the transfer of
 * copy_whole() included): the count is that share of the source rows.
 */
static int
import_progress(void *arg)
{
	struct run *r = arg;
	int64_t last;
	double share = 0;

	if (r->import_phase[0] == '\0')
		return 0;
	last = sqlite3_last_insert_rowid(r->out);
	if (last >= r->import_lo && r->import_hi > r->import_lo)
		share = ((double)last - (double)r->import_lo + 1) /
		        ((double)r->import_hi - (double)r->import_lo + 1);
	gsr_progress(r->ctx, r->import_phase, GSR_PROGRESS_ROWS,
	             (uint64_t)(share > 1 ? r->import_rows
	                                  : share * (double)r->import_rows),
	             (uint64_t)r->import_rows);
	return 0;
}

/* Start reporting the import of table T, whose rows are read from rel
 * (AS r) in the order of r.rid: take their rowid range, for
 * import_progress().  Only for the display: a table whose range cannot
 * be read is not reported, and nothing fails. */
static void
import_track(struct run *r, const char *T, const char *rel, const char *rid,
             int64_t rows)
{
	sqlite3_stmt *st = NULL;
	char *q =
	    rb_dupf("SELECT min(r.%s), max(r.%s) FROM %s AS r", rid, rid, rel);

	r->import_phase[0] = '\0';
	if (q != NULL && rows > 0 && r->ctx->progress != NULL &&
	    sqlite3_prepare_v2(r->out, q, -1, &st, NULL) == SQLITE_OK &&
	    sqlite3_step(st) == SQLITE_ROW) {
		r->import_lo = sqlite3_column_int64(st, 0);
		r->import_hi = sqlite3_column_int64(st, 1);
		r->import_rows = rows;
		snprintf(r->import_phase, sizeof r->import_phase, "import %s",
		         T);
		sqlite3_set_last_insert_rowid(r->out, r->import_lo > INT64_MIN
		                                          ? r->import_lo - 1
		                                          : INT64_MIN);
		gsr_progress(r->ctx, r->import_phase, GSR_PROGRESS_ROWS, 0,
		             (uint64_t)rows);
	}
	sqlite3_finalize(st);
	free(q);
}

/* ---- a table ----------------------------------------------------------- */

/* The SQL of a table's plan: the columns inserted and their expressions,
 * the condition a row must meet (ok) and the reason of the first it
 * fails (why). */
struct table_sql {
	struct strbuf cols, exprs, ok, why;
};

static int
table_sql(const struct gsr_plan_table *t, struct table_sql *q)
{
	bool alias_mapped = false;

	for (size_t i = 0; i < t->n_cols; i++) {
		const struct gsr_plan_column *c = &t->cols[i];
		if (c->expr == NULL)
			continue;
		if (q->cols.len) {
			sb_adds(&q->cols, ", ");
			sb_adds(&q->exprs, ", ");
		}
		sb_add_ident(&q->cols, c->name);
		sb_adds(&q->exprs, c->expr);
		alias_mapped |= c->rowid_alias;
	}
	if (!alias_mapped) {
		if (q->cols.len) {
			sb_adds(&q->cols, ", ");
			sb_adds(&q->exprs, ", ");
		}
		sb_adds(&q->cols, "rowid");
		sb_addf(&q->exprs, "r.%s", t->rid);
	}
	sb_adds(&q->ok, "1");
	sb_adds(&q->why, "CASE");
	for (size_t i = 0; i < t->n_conds; i++) {
		const struct gsr_plan_cond *c = &t->conds[i];
		if (c->kind != GSR_CHECK_ROW)
			continue;
		char *lit = sqlite3_mprintf("%Q", c->reason);
		sb_addf(&q->ok, " AND (CASE WHEN (%s) THEN 1 ELSE 0 END)",
		        c->sql);
		sb_addf(&q->why,
		        " WHEN NOT (CASE WHEN (%s) THEN 1 ELSE 0 END) THEN %s",
		        c->sql, lit ? lit : "'?'");
		sqlite3_free(lit);
	}
	sb_adds(&q->why, " ELSE '?' END");
	return q->cols.failed || q->exprs.failed || q->ok.failed ||
	               q->why.failed
	           ? -1
	           : 0;
}

static void
table_sql_release(struct table_sql *q)
{
	sb_release(&q->cols);
	sb_release(&q->exprs);
	sb_release(&q->ok);
	sb_release(&q->why);
}

/* ---- the copy the new database starts from ------------------------------ */

/* An input of at least this size is copied with VACUUM INTO to start the
 * new database from: SQLite's copy of the records there skips the seek
 * and the cell building of every row that INSERT ... SELECT does. */
#define BASE_MIN_BYTES ((uint64_t)4 << 20)

/* Whether a table of the plan can stay as the copy has it: the same
 * table in source and target, text for text, with no index of its own
 * (automatic ones come with the text), read whole from the source. */
static bool
keepable(const struct gsr_plan_table *t)
{
	const struct gsr_table *s = t->source, *g = t->target;

	if (!t->in_target || !t->whole || t->from != GSR_PLAN_FROM_SOURCE ||
	    s == NULL || g == NULL || rb_is_bookkeeping(t->name) ||
	    plan_cond(t, GSR_CHECK_ALL) || s->sql == NULL || g->sql == NULL ||
	    strcmp(s->sql, g->sql) != 0 || s->n_idx != g->n_idx)
		return false;
	for (size_t i = 0; i < s->n_idx; i++)
		if (s->idx[i].sql != NULL || g->idx[i].sql != NULL)
			return false;
	return true;
}

/* Start counting, on a thread, the rows of a kept table that fail the
 * target's conditions (none to count: nothing started).  -1 on error. */
static int
start_prescan(struct run *r, const struct gsr_plan_table *t, struct prescan *ps)
{
	struct table_sql q = {STRBUF_INIT, STRBUF_INIT, STRBUF_INIT,
	                      STRBUF_INIT};
	struct gsr_ctx quiet = GSR_CTX_INIT; /* no thread: count later */
	int rc = -1;

	ps->ctx = (struct gsr_ctx)GSR_CTX_INIT;
	if (table_sql(t, &q)) {
		gsr_ctx_fail(r->ctx, GSR_ERR_NOMEM, "out of memory");
		goto out;
	}
	rc = 0;
	if (!strcmp(sb_str(&q.ok), "1"))
		goto out;
	ps->sql = rb_dupf("SELECT count(*) FROM %s AS r WHERE NOT (%s)", t->rel,
	                  sb_str(&q.ok));
	if (ps->sql == NULL) {
		rc = gsr_ctx_fail(r->ctx, GSR_ERR_NOMEM, "out of memory");
		goto out;
	}
	ps->work_db = gsr_identify_source_db(&r->res->id);
	gsr_thread_start(&quiet, &ps->thread, prescan_main, ps);
out:
	table_sql_release(&q);
	return rc;
}

/* Wait for the counts still running and forget them. */
static void
join_prescans(struct run *r)
{
	for (size_t i = 0; r->pre && i < r->plan->n_tables; i++) {
		gsr_thread_join(NULL, &r->pre[i].thread, NULL, NULL);
		free(r->pre[i].sql);
	}
	free(r->pre);
	r->pre = NULL;
}

/* A pragma of the attached source as an integer (-1 when unreadable). */
static int64_t
src_pragma(sqlite3 *db, const char *name)
{
	sqlite3_stmt *st = NULL;
	char *sql = sqlite3_mprintf("PRAGMA src.%s", name);
	int64_t v = -1;

	if (sql && sqlite3_prepare_v2(db, sql, -1, &st, NULL) == SQLITE_OK &&
	    sqlite3_step(st) == SQLITE_ROW)
		v = sqlite3_column_type(st, 0) == SQLITE_INTEGER
		        ? sqlite3_column_int64(st, 0)
		        : !sqlite3_stricmp(
		              (const char *)sqlite3_column_text(st, 0),
		              "UTF-8");
	sqlite3_finalize(st);
	sqlite3_free(sql);
	return v;
}

/*
 * When the input is big and some of its tables can stay (keepable()),
 * write r->out_tmp as a copy of the source, and mark those tables in
 * r->kept: open_output() then drops the rest.  A source without a free
 * page is copied as it is: the page reader's recovered database byte for
 * byte, the working copy with its free space zeroed (gsr_scrub_copy(),
 * when it can account for every page); any other with VACUUM INTO.
 * Only a source laid out as a new database would be (pages of 4096 bytes,
 * UTF-8, no auto-vacuum, user_version and application_id 0) is copied.  Sets
 * r->base; returns 0, or -1 with the error on ctx.
 */
static int
base_copy(struct run *r)
{
	const struct gsr_plan *p = r->plan;
	sqlite3 *db = NULL;
	size_t n = 0;
	char *sql = NULL;
	int64_t free_pages;
	int rc = -1, sc;

	if (r->res->id.ev.files[GSR_EV_DB].size < BASE_MIN_BYTES ||
	    (gsr_schema_table(r->src, "sqlite_sequence") &&
	     !gsr_schema_table(r->res->target->schema, "sqlite_sequence")))
		return 0;
	/* Dropping a virtual table would run its module: none is copied. */
	for (size_t i = 0; i < r->src->n_tables; i++)
		if (r->src->tables[i].is_virtual)
			return 0;
	if ((r->kept = calloc(p->n_tables ? p->n_tables : 1,
	                      sizeof *r->kept)) == NULL)
		return gsr_ctx_fail(r->ctx, GSR_ERR_NOMEM, "out of memory");
	for (size_t i = 0; i < p->n_tables; i++)
		n += (r->kept[i] = keepable(&p->tables[i]));
	if (n == 0)
		goto none;
	if ((r->pre = calloc(p->n_tables, sizeof *r->pre)) == NULL) {
		gsr_ctx_fail(r->ctx, GSR_ERR_NOMEM, "out of memory");
		goto out;
	}
	/* A private temporary database (""), not one in memory: VACUUM
	 * INTO opens its output with the flags of the connection. */
	db = gsr_db_open(r->ctx, "", true);
	if (db == NULL ||
	    gsr_db_attach_ro(r->ctx, db, gsr_identify_source_db(&r->res->id),
	                     "src"))
		goto out;
	if (src_pragma(db, "page_size") != 4096 ||
	    src_pragma(db, "encoding") != 1 ||
	    src_pragma(db, "auto_vacuum") != 0 ||
	    src_pragma(db, "user_version") != 0 ||
	    src_pragma(db, "application_id") != 0)
		goto none;
	for (size_t i = 0; i < p->n_tables; i++)
		if (r->kept[i] && start_prescan(r, &p->tables[i], &r->pre[i]))
			goto out;
	free_pages = src_pragma(db, "freelist_count");
	if (r->res->id.recovered && free_pages == 0) {
		/* The page reader's database, which SQLite wrote afresh
		 * with secure_delete, its grafted leaves scrubbed: a copy
		 * of its bytes will do. */
		if (gsr_copy_file(r->ctx, r->res->id.recovered_db, r->out_tmp,
		                  false))
			goto out;
		rb_log(r, "copied the recovered database, %zu table(s) to keep",
		       n);
	} else if (!r->res->id.recovered && free_pages == 0 &&
	           (sc = gsr_scrub_copy(r->ctx,
	                                gsr_identify_source_db(&r->res->id),
	                                r->out_tmp)) <= 0) {
		if (sc < 0)
			goto out;
		rb_log(r,
		       "copied the source page by page, its free space "
		       "zeroed, %zu table(s) to keep",
		       n);
	} else {
		if ((sql = sqlite3_mprintf("VACUUM src INTO %Q", r->out_tmp)) ==
		        NULL ||
		    gsr_db_exec(r->ctx, db, sql))
			goto out;
		rb_log(r,
		       "copied the source with VACUUM INTO, %zu table(s) to "
		       "keep",
		       n);
	}
	r->base = true;
	rc = 0;
	goto out;
none:
	join_prescans(r);
	free(r->kept);
	r->kept = NULL;
	rc = 0;
out:
	sqlite3_free(sql);
	sqlite3_close(db);
	return rc;
}

/* Drop from the copy every table, view and trigger that does not stay,
 * its pages zeroed (secure_delete); empty sqlite_sequence. */
static int
drop_others(struct run *r)
{
	sqlite3_stmt *st = NULL;
	struct strvec types = STRVEC_INIT, names = STRVEC_INIT;
	int rc;

	if (sqlite3_prepare_v2(r->out,
	                       "SELECT type, name FROM main.sqlite_master "
	                       "WHERE type IN ('table', 'view', 'trigger') "
	                       "AND name <> 'sqlite_sequence' ORDER BY rowid",
	                       -1, &st, NULL) != SQLITE_OK)
		return gsr_ctx_fail(r->ctx, GSR_ERR_IO, "rebuild: %s",
		                    sqlite3_errmsg(r->out));
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		const char *type = (const char *)sqlite3_column_text(st, 0),
		           *name = (const char *)sqlite3_column_text(st, 1);
		const struct gsr_plan_table *t =
		    gsr_plan_table(r->plan, name ? name : "");
		if (type == NULL || name == NULL ||
		    (!strcmp(type, "table") && t &&
		     r->kept[t - r->plan->tables]))
			continue;
		if (sv_push(&types, type) || sv_push(&names, name)) {
			rc = SQLITE_NOMEM;
			break;
		}
	}
	sqlite3_finalize(st);
	if (rc != SQLITE_DONE)
		gsr_ctx_fail(r->ctx, GSR_ERR_IO, "rebuild: %s",
		             sqlite3_errmsg(r->out));
	rb_exec(r, "PRAGMA secure_delete=ON");
	for (size_t i = 0; i < names.n && !gsr_ctx_failed(r->ctx); i++) {
		char *sql = sqlite3_mprintf("DROP %s IF EXISTS main.\"%w\"",
		                            types.v[i], names.v[i]);
		if (sql == NULL)
			gsr_ctx_fail(r->ctx, GSR_ERR_NOMEM, "out of memory");
		else
			rb_exec(r, sql);
		sqlite3_free(sql);
	}
	if (gsr_schema_table(r->src, "sqlite_sequence"))
		rb_exec(r, "DELETE FROM main.sqlite_sequence");
	rb_exec(r, "PRAGMA secure_delete=OFF");
	sv_release(&types);
	sv_release(&names);
	return gsr_ctx_failed(r->ctx) ? -1 : 0;
}

/*
 * A table the copy kept: its rows are the source's, record for record.
 * When some fail the target's conditions, they go (the table emptied)
 * and 1 sends the table down the row-by-row path; else 0, with the rows
 * counted in the new database.  -1 on error.
 */
static int
keep_table(struct run *r, const struct gsr_plan_table *t, const char *ok,
           struct gsr_rebuild_table *rt)
{
	struct prescan *ps = &r->pre[t - r->plan->tables];
	char *sql;
	int64_t bad = 0;

	if (strcmp(ok, "1") != 0) {
		if (ps->sql && ps->thread.running) {
			/* Counted on the source while the copy was made. */
			if (gsr_thread_join(r->ctx, &ps->thread, &ps->ctx,
			                    NULL))
				return -1;
			bad = ps->bad;
		} else {
			sql = sqlite3_mprintf("SELECT count(*) FROM "
			                      "main.\"%w\" AS r WHERE NOT (%s)",
			                      t->name, ok);
			bad = sql ? rb_query_int(r, sql) : -1;
			sqlite3_free(sql);
		}
		if (bad != 0) {
			sql =
			    sqlite3_mprintf("DELETE FROM main.\"%w\"", t->name);
			if (bad < 0 || sql == NULL || rb_exec(r, sql)) {
				sqlite3_free(sql);
				return gsr_ctx_failed(r->ctx)
				           ? -1
				           : gsr_ctx_fail(r->ctx, GSR_ERR_NOMEM,
				                          "out of memory");
			}
			sqlite3_free(sql);
			return 1;
		}
	}
	sql = sqlite3_mprintf("SELECT count(*) FROM main.\"%w\"", t->name);
	rt->imported = sql ? rb_query_int(r, sql) : -1;
	sqlite3_free(sql);
	if (rt->imported < 0)
		return -1;
	rt->quarantined = 0;
	rb_log(r,
	       "%s: %" PRId64 " row(s) kept from the copy (the same table in "
	       "source and target, every row valid)",
	       t->name, rt->imported);
	return 0;
}

/* Quarantine the rows of a query for (rowid, reason), adding to *n; sql
 * is sqlite3_mprintf()'s, and freed.  -1 on error (also when sql is
 * NULL: out of memory). */
static int
quarantine_sql(struct run *r, const char *table, char *sql, int64_t *n)
{
	int64_t k = sql ? quarantine_query(r, table, sql) : -1;

	sqlite3_free(sql);
	if (k < 0)
		return gsr_ctx_fail(r->ctx, GSR_ERR_NOMEM, "out of memory");
	*n += k;
	return 0;
}

/* The row-by-row path: every row that meets the conditions, by column
 * name; then the quarantine of those that do not, that a UNIQUE
 * constraint refused, or that a step deleted. */
static int
import_rows(struct run *r, const struct gsr_plan_table *t,
            const struct table_sql *q, struct gsr_rebuild_table *rt)
{
	const char *T = t->name, *rel = t->rel, *rid = t->rid,
	           *ok = sb_str(&q->ok);
	const struct gsr_plan_cond *del = plan_cond(t, GSR_CHECK_DELETED);
	int64_t n = 0;
	char *sql;

	sql = sqlite3_mprintf("INSERT OR IGNORE INTO main.\"%s\" (%s) "
	                      "SELECT %s FROM %s AS r WHERE %s",
	                      T, sb_str(&q->cols), sb_str(&q->exprs), rel, ok);
	if (sql == NULL || rb_exec(r, sql)) {
		sqlite3_free(sql);
		return gsr_ctx_fail(r->ctx, GSR_ERR_NOMEM, "out of memory");
	}
	sqlite3_free(sql);
	rt->imported = sqlite3_changes64(r->out);
	/* The rows that fail a condition, with the first reason. */
	sql = sqlite3_mprintf("SELECT r.%s, %s FROM %s AS r WHERE NOT (%s)",
	                      rid, sb_str(&q->why), rel, ok);
	if (quarantine_sql(r, T, sql, &n))
		return -1;
	/* The rows a UNIQUE constraint of the target turned away. */
	sql = sqlite3_mprintf("SELECT r.%s, %Q FROM %s AS r WHERE (%s) AND "
	                      "NOT EXISTS (SELECT 1 FROM main.\"%s\" AS o "
	                      "WHERE o.rowid = r.%s)",
	                      rid, plan_cond(t, GSR_CHECK_UNIQUE)->reason, rel,
	                      ok, T, rid);
	if (quarantine_sql(r, T, sql, &n))
		return -1;
	/* The rows a step deleted, and the count of those it changed. */
	if (del) {
		sql = sqlite3_mprintf("SELECT rid, %Q || step FROM "
		                      "stg._gsr_deleted WHERE tbl = %Q",
		                      del->reason, T);
		if (quarantine_sql(r, T, sql, &n))
			return -1;
		sql = sqlite3_mprintf("SELECT count(*) FROM stg._gsr_touched "
		                      "WHERE tbl = %Q",
		                      T);
		rt->transformed = sql ? rb_query_int(r, sql) : -1;
		sqlite3_free(sql);
	}
	if (gsr_ctx_failed(r->ctx))
		return -1;
	rt->quarantined = n;
	rb_log(r,
	       "%s: %" PRId64 " source row(s), %" PRId64 " imported, %" PRId64
	       " quarantined (from %s)",
	       T, rt->source_rows, rt->imported, rt->quarantined, rt->from);
	return 0;
}

/*
 * Execute the plan of one target table: nothing to read, every row
 * quarantined, the records copied whole, or the rows imported one by one
 * by column name with the quarantine of those that cannot go in.
 */
static int
import_table(struct run *r, const struct gsr_plan_table *t)
{
	struct gsr_rebuild_table *rt = res_table(r, t->name);
	struct table_sql q = {STRBUF_INIT, STRBUF_INIT, STRBUF_INIT,
	                      STRBUF_INIT};
	int rc = -1;

	if (rt == NULL)
		return -1;
	if (t->from == GSR_PLAN_FROM_NONE) {
		if (t->virtual_source)
			rb_log(r, "%s: a virtual table in the source, not read",
			       t->name);
		return 0;
	}
	if (plan_cond(t, GSR_CHECK_ALL))
		return quarantine_table(r, t, rt);
	if (t->source) {
		char *c =
		    sqlite3_mprintf("SELECT count(*) FROM src.\"%w\"", t->name);
		rt->source_rows = c ? rb_query_int(r, c) : -1;
		sqlite3_free(c);
		if (rt->source_rows < 0)
			return -1;
	}
	import_track(r, t->name, t->rel, t->rid, rt->source_rows);
	if (table_sql(t, &q)) {
		gsr_ctx_fail(r->ctx, GSR_ERR_NOMEM, "out of memory");
		goto out;
	}
	if (r->kept && r->kept[t - r->plan->tables] &&
	    keep_table(r, t, sb_str(&q.ok), rt) == 0) {
		rc = gsr_ctx_failed(r->ctx) ? -1 : 0;
		goto out;
	}
	if (gsr_ctx_failed(r->ctx))
		goto out;
	if (t->whole && copy_whole(r, t, sb_str(&q.ok), rt->source_rows,
	                           &rt->imported) == 0) {
		rb_log(r,
		       "%s: %" PRId64 " row(s) copied whole (the same table in "
		       "source and target, every row valid)",
		       t->name, rt->imported);
		rt->quarantined = 0;
		rc = gsr_ctx_failed(r->ctx) ? -1 : 0;
		goto out;
	}
	if (gsr_ctx_failed(r->ctx))
		goto out;
	rc = import_rows(r, t, &q, rt);
out:
	if (r->import_phase[0] != '\0')
		gsr_progress_end(r->ctx, r->import_phase);
	r->import_phase[0] = '\0';
	table_sql_release(&q);
	return rc;
}

/* ---- foreign keys ---------------------------------------------------- */

/* The reason the plan gives for a row of table whose key to parent
 * finds nothing. */
static const char *
fk_reason(struct run *r, const char *table, const char *parent)
{
	const struct gsr_plan_table *t = gsr_plan_table(r->plan, table);

	for (size_t i = 0; t && i < t->n_conds; i++)
		if (t->conds[i].kind == GSR_CHECK_FOREIGN_KEY &&
		    !strcasecmp(t->conds[i].parent, parent))
			return t->conds[i].reason;
	gsr_ctx_fail(r->ctx, GSR_ERR_INTERNAL,
	             "rebuild: the plan has no foreign key "
	             "of '%s' to '%s'",
	             table, parent);
	return NULL;
}

/* Quarantine the rows of table T that the round found (temp._gsr_fk), in
 * rowid order, then delete them from the output in one statement.  Their
 * count, or -1 with the error on ctx. */
static int64_t
fk_table(struct run *r, const char *T)
{
	struct gsr_rebuild_table *rt = res_table(r, T);
	sqlite3_stmt *st = NULL;
	int64_t n = 0, deleted;
	char *del = NULL;
	int rc;

	if (rt == NULL)
		return -1;
	if (sqlite3_prepare_v2(r->out,
	                       "SELECT rid, parent FROM temp._gsr_fk "
	                       "WHERE tbl = ?1 ORDER BY rid",
	                       -1, &st, NULL) != SQLITE_OK)
		return gsr_ctx_fail(r->ctx, GSR_ERR_INTERNAL,
		                    "foreign_key_check: %s",
		                    sqlite3_errmsg(r->out));
	sqlite3_bind_text(st, 1, T, -1, SQLITE_STATIC);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		const char *why =
		    fk_reason(r, T, (const char *)sqlite3_column_text(st, 1));
		if (why == NULL ||
		    quarantine(r, T, sqlite3_column_int64(st, 0), true, why,
		               NULL, 0) ||
		    (++n % 4096 == 0 && gsr_ctx_check_cancel(r->ctx)))
			break;
	}
	if (rc != SQLITE_ROW && rc != SQLITE_DONE)
		gsr_ctx_fail(r->ctx, GSR_ERR_INTERNAL, "foreign_key_check: %s",
		             sqlite3_errmsg(r->out));
	sqlite3_finalize(st);
	if (gsr_ctx_failed(r->ctx))
		return -1;
	del = sqlite3_mprintf("DELETE FROM main.\"%w\" WHERE rowid IN "
	                      "(SELECT rid FROM temp._gsr_fk WHERE tbl = %Q)",
	                      T, T);
	if (del == NULL)
		return gsr_ctx_fail(r->ctx, GSR_ERR_NOMEM, "out of memory");
	rc = rb_exec(r, del);
	sqlite3_free(del);
	if (rc)
		return -1;
	deleted = sqlite3_changes64(r->out);
	if (deleted != n)
		return gsr_ctx_fail(r->ctx, GSR_ERR_INTERNAL,
		                    "foreign keys: %" PRId64
		                    " row(s) of '%s' quarantined, %" PRId64
		                    " deleted",
		                    n, T, deleted);
	rt->imported -= n;
	rt->quarantined += n;
	return n;
}

/*
 * One round: the rows foreign_key_check reports, each once (with the
 * first parent it names), go into a temporary table on disk, then table
 * by table into the quarantine and out of the output.  Memory does not
 * grow with their number.  Their count, or -1 with the error on ctx.
 */
static int64_t
fk_round(struct run *r)
{
	struct strvec tables = STRVEC_INIT;
	int64_t n = 0;

	if (rb_exec(r, "CREATE TEMP TABLE IF NOT EXISTS _gsr_fk (tbl TEXT, rid "
	               "INTEGER, parent TEXT, PRIMARY KEY (tbl, rid)) WITHOUT "
	               "ROWID; DELETE FROM temp._gsr_fk; "
	               "INSERT OR IGNORE INTO temp._gsr_fk SELECT \"table\", "
	               "rowid, parent FROM pragma_foreign_key_check "
	               "WHERE rowid IS NOT NULL"))
		return -1;
	rb_query_texts(r, "SELECT DISTINCT tbl FROM temp._gsr_fk", &tables,
	               "foreign key enforcement failed");
	for (size_t i = 0; i < tables.n && !gsr_ctx_failed(r->ctx); i++) {
		int64_t k = fk_table(r, tables.v[i]);
		n += k > 0 ? k : 0;
	}
	sv_release(&tables);
	return gsr_ctx_failed(r->ctx) ? -1 : n;
}

/*
 * Rows the target's foreign keys reject (field case 2's orphaned api keys,
 * or children of rows quarantined above) go to the quarantine; repeat
 * until none is left, as removing a row may orphan its own children.
 */
static int
enforce_foreign_keys(struct run *r)
{
	for (int round = 0; round < 64; round++) {
		int64_t n = fk_round(r);
		if (n <= 0)
			return (int)n;
		rb_log(r,
		       "foreign keys: %" PRId64
		       " row(s) quarantined (round %d)",
		       n, round + 1);
	}
	return gsr_ctx_fail(r->ctx, GSR_ERR_INTERNAL,
	                    "foreign key enforcement does not settle");
}

/* ---- the database ---------------------------------------------------- */

static bool
is_unique_index(const struct gsr_label *t, const struct gsr_rule_obj *o)
{
	const struct gsr_table *tt = gsr_schema_table(t->schema, o->tbl);

	for (size_t i = 0; tt && i < tt->n_idx; i++)
		if (!strcmp(tt->idx[i].name, o->name))
			return tt->idx[i].unique;
	return false;
}

/* Create the target's objects of one phase: 0 tables and UNIQUE indexes
 * (before the data, so duplicates are turned away row by row), 1 the
 * other indexes, views and triggers (after the data). */
static int
create_objects(struct run *r, int phase)
{
	const struct gsr_label *src = r->res->target->schema_label;

	for (size_t i = 0; i < src->n_objs; i++) {
		const struct gsr_rule_obj *o = &src->objs[i];
		bool early =
		    !strcmp(o->type, "table") ||
		    (!strcmp(o->type, "index") && is_unique_index(src, o));

		if (early != (phase == 0))
			continue;
		if (!strcmp(o->type, "table") &&
		    !strcmp(o->name, "sqlite_sequence"))
			continue; /* made by SQLite with the AUTOINCREMENT table
			           */
		if (r->kept && !strcmp(o->type, "table")) {
			const struct gsr_plan_table *t =
			    gsr_plan_table(r->plan, o->name);
			if (t && r->kept[t - r->plan->tables])
				continue; /* in the copy */
		}
		if (rb_exec(r, o->sql))
			return -1;
	}
	return 0;
}

static int64_t
max_or(int64_t a, int64_t b)
{
	return a > b ? a : b;
}

/* The sequence of an AUTOINCREMENT table: the highest of its rowids in
 * the output and in the source and of the source's sqlite_sequence. */
static int64_t
sequence_of(struct run *r, const struct gsr_table *tt)
{
	const struct gsr_table *st = gsr_schema_table(r->src, tt->name);
	int64_t seq = 0, v;
	char *sql;

	sql = sqlite3_mprintf("SELECT coalesce(max(rowid), 0) FROM main.\"%w\"",
	                      tt->name);
	v = sql ? rb_query_int(r, sql) : -1;
	sqlite3_free(sql);
	seq = max_or(seq, v);
	if (st && rb_rowid_name(st)) {
		sql = sqlite3_mprintf(
		    "SELECT coalesce(max(%s), 0) FROM src.\"%w\"",
		    rb_rowid_name(st), tt->name);
		v = sql ? rb_query_int(r, sql) : -1;
		sqlite3_free(sql);
		seq = max_or(seq, v);
	}
	if (gsr_schema_table(r->src, "sqlite_sequence")) {
		sql = sqlite3_mprintf(
		    "SELECT coalesce(max(CAST(seq AS INTEGER)), 0) "
		    "FROM src.sqlite_sequence WHERE name = %Q",
		    tt->name);
		v = sql ? rb_query_int(r, sql) : -1;
		sqlite3_free(sql);
		seq = max_or(seq, v);
	}
	return seq;
}

/* alembic_version holds the target's revision; sqlite_sequence is at
 * least the source's for every AUTOINCREMENT table, so a deleted user's
 * id is never handed out again. */
static int
write_bookkeeping(struct run *r)
{
	const struct gsr_label *t = r->res->target;
	char *sql;

	sql = sqlite3_mprintf(
	    "INSERT INTO main.alembic_version (version_num) VALUES (%Q)",
	    t->alembic);
	if (sql == NULL || rb_exec(r, sql)) {
		sqlite3_free(sql);
		return -1;
	}
	sqlite3_free(sql);
	sv_push_owned(
	    &r->res->bookkeeping,
	    rb_dupf("alembic_version: %s -> %s",
	            r->res->id.alembic ? r->res->id.alembic : "(none)",
	            t->alembic));
	for (size_t i = 0; i < t->schema->n_tables; i++) {
		const struct gsr_table *tt = &t->schema->tables[i];
		int64_t seq;

		if (!tt->autoincrement)
			continue;
		seq = sequence_of(r, tt);
		if (gsr_ctx_failed(r->ctx))
			return -1;
		if (seq == 0)
			continue;
		sql = sqlite3_mprintf(
		    "DELETE FROM main.sqlite_sequence WHERE name = %Q; "
		    "INSERT INTO main.sqlite_sequence (name, seq) VALUES (%Q, "
		    "%lld)",
		    tt->name, tt->name, (long long)seq);
		if (sql == NULL || rb_exec(r, sql)) {
			sqlite3_free(sql);
			return -1;
		}
		sqlite3_free(sql);
		sv_push_owned(
		    &r->res->bookkeeping,
		    rb_dupf("sqlite_sequence: %s = %" PRId64, tt->name, seq));
	}
	return 0;
}

/* Every table's source rows are imported or quarantined, or the run
 * stops: nothing is lost silently. */
static int
reconcile(struct run *r)
{
	struct gsr_rebuild *res = r->res;

	for (size_t i = 0; i < res->n_tables; i++) {
		const struct gsr_rebuild_table *t = &res->tables[i];
		if (t->source_rows != t->imported + t->quarantined)
			return gsr_ctx_fail(
			    r->ctx, GSR_ERR_INTERNAL,
			    "rows do not reconcile for '%s': %" PRId64
			    " in the source, %" PRId64 " imported, %" PRId64
			    " quarantined",
			    t->name, t->source_rows, t->imported,
			    t->quarantined);
		res->total_source += t->source_rows;
		res->total_imported += t->imported;
		res->total_quarantined += t->quarantined;
	}
	return 0;
}

/* The quarantine's directory, and the new database with the target's
 * tables, the source and the staging database attached, in a
 * transaction. */
static int
open_output(struct run *r)
{
	if ((r->qdir = rb_dupf("%s/quarantine", r->res->id.ev.workdir)) == NULL)
		return gsr_ctx_fail(r->ctx, GSR_ERR_NOMEM, "out of memory");
	if (mkdir(r->qdir, 0700) != 0)
		return gsr_ctx_fail(r->ctx, GSR_ERR_IO,
		                    "cannot create '%s': %s", r->qdir,
		                    strerror(errno));
	if (base_copy(r))
		return -1;
	r->out = gsr_db_open(r->ctx, r->out_tmp, true);
	if (r->out == NULL ||
	    rb_exec(r, "PRAGMA page_size=4096; PRAGMA journal_mode=OFF; "
	               "PRAGMA synchronous=OFF; PRAGMA foreign_keys=OFF; "
	               "PRAGMA cache_size=-4096; PRAGMA temp_store=FILE;") ||
	    gsr_db_attach_ro(r->ctx, r->out,
	                     gsr_identify_source_db(&r->res->id), "src") ||
	    (r->stg_path &&
	     gsr_db_attach_ro(r->ctx, r->out, r->stg_path, "stg")) ||
	    rb_exec(r, "BEGIN") || (r->base && drop_others(r)) ||
	    create_objects(r, 0))
		return -1;
	if (r->ctx->progress != NULL)
		sqlite3_progress_handler(r->out, 10000, import_progress, r);
	rb_log(r, "created the tables of %s", r->res->target->name);
	return 0;
}

/* The quarantine's lookups hold statements on src. */
static void
finalize_lookups(struct run *r)
{
	for (size_t i = 0; i < r->n_q; i++) {
		sqlite3_finalize(r->q[i].by_rowid);
		r->q[i].by_rowid = NULL;
	}
}

int
rb_import(struct run *r)
{
	const struct gsr_label *tgt = r->res->target;

	if (gsr_ctx_failed(r->ctx) || open_output(r))
		return -1;
	for (size_t i = 0; i < r->plan->n_tables; i++) {
		const struct gsr_plan_table *t = &r->plan->tables[i];
		if (t->in_target) {
			if (import_table(r, t) || gsr_ctx_check_cancel(r->ctx))
				return -1;
			continue;
		}
		struct gsr_rebuild_table *rt = res_table(r, t->name);
		if (rt == NULL || quarantine_table(r, t, rt))
			return -1;
		rb_log(r, "%s: not in %s, every row quarantined", t->name,
		       tgt->name);
	}
	if (enforce_foreign_keys(r))
		return -1;
	rb_log(r, "foreign keys enforced");
	if (rb_audit_changes(r))
		return -1;
	if (write_bookkeeping(r) || create_objects(r, 1) ||
	    rb_exec(r, "COMMIT"))
		return -1;
	rb_log(r, "committed");
	finalize_lookups(r);
	if (rb_exec(r, "DETACH src") ||
	    (r->stg_path && rb_exec(r, "DETACH stg")))
		return -1;
	return reconcile(r);
}

void
rb_import_cleanup(struct run *r)
{
	finalize_lookups(r);
	if (r->out) {
		sqlite3_exec(r->out, "ROLLBACK", NULL, NULL, NULL);
		sqlite3_close(r->out);
		r->out = NULL;
	}
	for (size_t i = 0; i < r->n_q; i++) {
		if (r->q[i].f)
			fclose(r->q[i].f);
		gsr_temp_unregister(r->q[i].path);
		free(r->q[i].table);
		free(r->q[i].path);
	}
	free(r->q);
	r->q = NULL;
	r->n_q = 0;
	free(r->qdir);
	r->qdir = NULL;
	join_prescans(r);
	free(r->kept);
	r->kept = NULL;
}

int
rb_quarantine_values(struct run *r, const char *table, int64_t rowid,
                     const char *reason, sqlite3_stmt *vals)
{
	return quarantine(r, table, rowid, true, reason, vals, 0);
}
