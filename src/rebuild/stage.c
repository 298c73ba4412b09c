/* stage.c -- the data transforms of the path, on staged copies.
 *
 * The stage stage (rebuild_internal.h): when the plan has steps (the
 * transforms of the releases crossed going up, their downgrades going
 * back), copy the tables they name into a staging database of our own in
 * the working directory, keyed by the source rowid, and run the steps
 * there in order.  Triggers record which rows each step updates and
 * deletes: the import reads the staged copies, quarantines the rows a
 * step deleted, and the report counts both (res->transforms).
 */
#include "compat.h"
#include "rebuild_internal.h"

#include "plan.h"
#include "rebuild.h"
#include "dbopen.h"
#include "tempfiles.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>

/* A count from our own staging database (0 if it cannot be read). */
static int64_t
stg_count(sqlite3 *db, const char *sql)
{
	sqlite3_stmt *st = NULL;
	int64_t n = 0;

	if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) == SQLITE_OK &&
	    sqlite3_step(st) == SQLITE_ROW)
		n = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	return n;
}

/*
 * The staged copy of one table: every column of the union (untyped, so
 * values keep their storage class), keyed by the source rowid as
 * _gsr_rowid, with the triggers that record what the steps delete and
 * update.
 */
static int
stage_table(struct run *r, sqlite3 *stg, const struct gsr_plan_stage *sg)
{
	const char *t = sg->name; /* from the rules: a plain name */
	const struct gsr_table *st = sg->source;
	struct strbuf sql = STRBUF_INIT;
	int rc;

	/* The columns may come from the input: quoted as identifiers. */
	sb_addf(&sql,
	        "CREATE TABLE main.\"%s\" (_gsr_rowid INTEGER PRIMARY KEY", t);
	for (size_t c = 0; c < sg->cols.n; c++) {
		sb_adds(&sql, ", ");
		sb_add_ident(&sql, sg->cols.v[c]);
	}
	sb_adds(&sql, ");");
	if (st) {
		sb_addf(&sql, "INSERT INTO main.\"%s\" (_gsr_rowid", t);
		for (size_t c = 0; c < st->n_cols; c++) {
			sb_adds(&sql, ", ");
			sb_add_ident(&sql, st->cols[c].name);
		}
		sb_addf(&sql, ") SELECT %s", sg->rid);
		for (size_t c = 0; c < st->n_cols; c++) {
			sb_adds(&sql, ", ");
			sb_add_ident(&sql, st->cols[c].name);
		}
		sb_addf(&sql, " FROM src.\"%s\";", t);
	}
	sb_addf(
	    &sql,
	    "CREATE TEMP TRIGGER \"_gsr_d_%s\" BEFORE DELETE ON main.\"%s\" "
	    "BEGIN INSERT INTO _gsr_deleted SELECT '%s', OLD._gsr_rowid, name "
	    "FROM _gsr_step; END;",
	    t, t, t);
	sb_addf(&sql,
	        "CREATE TEMP TRIGGER \"_gsr_u_%s\" AFTER UPDATE ON main.\"%s\" "
	        "BEGIN INSERT OR IGNORE INTO _gsr_touched VALUES ('%s', "
	        "NEW._gsr_rowid); "
	        "END;",
	        t, t, t);
	if (sql.failed)
		rc = gsr_ctx_fail(r->ctx, GSR_ERR_NOMEM, "out of memory");
	else
		rc = gsr_db_exec(r->ctx, stg, sb_str(&sql));
	sb_release(&sql);
	if (rc == 0)
		rb_log(r, "staged %s", t);
	return rc;
}

/* Run one step, counting the rows it changes and deletes into a new
 * entry of res->transforms. */
static int
run_step(struct run *r, sqlite3 *stg, const struct gsr_plan_step *s)
{
	const char *kind = r->plan->downgrade ? "downgrade" : "transform";
	sqlite3_stmt *st = NULL;
	int64_t before_del, before_chg;
	char *err = NULL;

	if (sqlite3_prepare_v2(stg, "UPDATE _gsr_step SET name = ?1", -1, &st,
	                       NULL) == SQLITE_OK) {
		char *step =
		    sqlite3_mprintf("%s/%s", s->label->name, s->block->name);
		sqlite3_bind_text(st, 1, step, -1, sqlite3_free);
		sqlite3_step(st);
	}
	sqlite3_finalize(st);
	before_del = stg_count(stg, "SELECT count(*) FROM _gsr_deleted");
	before_chg = stg_count(stg, "SELECT count(*) FROM _gsr_touched");
	if (sqlite3_exec(stg, s->block->sql, NULL, NULL, &err) != SQLITE_OK) {
		gsr_ctx_fail(r->ctx, GSR_ERR_RULES,
		             "the %s of %s '%s' fails on this data: %s", kind,
		             s->label->name, s->block->name, err ? err : "?");
		sqlite3_free(err);
		return -1;
	}
	if (gsr_grow((void **)&r->res->transforms, &r->res->cap_transforms,
	             r->res->n_transforms + 1, sizeof *r->res->transforms))
		return gsr_ctx_fail(r->ctx, GSR_ERR_NOMEM, "out of memory");
	struct gsr_rebuild_transform *tr =
	    &r->res->transforms[r->res->n_transforms++];
	tr->label = s->label->name;
	tr->name = s->block->name;
	tr->downgrade = r->plan->downgrade;
	tr->deleted =
	    stg_count(stg, "SELECT count(*) FROM _gsr_deleted") - before_del;
	tr->changed =
	    stg_count(stg, "SELECT count(*) FROM _gsr_touched") - before_chg;
	rb_log(r, "%s %s/%s: %" PRId64 " change(s), %" PRId64 " row(s) deleted",
	       kind, s->label->name, s->block->name, tr->changed, tr->deleted);
	return 0;
}

int
rb_stage(struct run *r)
{
	const struct gsr_plan *p = r->plan;
	sqlite3 *stg = NULL;
	int rc = -1;

	if (gsr_ctx_failed(r->ctx))
		return -1;
	if (p->n_steps == 0)
		return 0;
	if (asprintf(&r->stg_path, "%s/staging.db", r->res->id.ev.workdir) <
	    0) {
		r->stg_path = NULL;
		return gsr_ctx_fail(r->ctx, GSR_ERR_NOMEM, "out of memory");
	}
	gsr_temp_register(r->stg_path);
	if ((stg = gsr_db_open_own(r->ctx, r->stg_path)) == NULL ||
	    gsr_db_exec(r->ctx, stg,
	                "PRAGMA journal_mode=OFF; PRAGMA synchronous=OFF;") ||
	    gsr_db_attach_ro(r->ctx, stg, gsr_identify_source_db(&r->res->id),
	                     "src") ||
	    gsr_db_exec(
	        r->ctx, stg,
	        "CREATE TABLE _gsr_step (name TEXT);"
	        "INSERT INTO _gsr_step VALUES ('');"
	        "CREATE TABLE _gsr_deleted (tbl TEXT, rid INTEGER, step TEXT);"
	        "CREATE TABLE _gsr_touched (tbl TEXT, rid INTEGER, "
	        "PRIMARY KEY (tbl, rid)) WITHOUT ROWID;"))
		goto out;
	for (size_t i = 0; i < p->n_staged; i++)
		if (stage_table(r, stg, &p->staged[i]))
			goto out;
	/* The transforms (or downgrades), in order. */
	for (size_t i = 0; i < p->n_steps; i++)
		if (run_step(r, stg, &p->steps[i]))
			goto out;
	rc = 0;
out:
	sqlite3_close(stg);
	return rc;
}

void
rb_stage_cleanup(struct run *r)
{
	if (r->stg_path)
		gsr_temp_unregister(r->stg_path);
	free(r->stg_path);
	r->stg_path = NULL;
}
