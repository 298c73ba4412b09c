/* qpass.c -- the caller's quarantine pass (rebuild.h, opts->qpass).
 *
 * Once the rows are in and reconciled, a caller may quarantine more of
 * them before the new database is checked and the archive written: the
 * rows go to the same quarantine files as the rebuild's own, with their
 * reasons, and the counts move from imported to quarantined, so that the
 * archive's quarantine/ and its report reconcile with the output.
 */
#include "compat.h"
#include "rebuild_internal.h"

#include "rebuild.h"

#include <inttypes.h>
#include <sqlite3.h>
#include <string.h>

struct gsr_rebuild_qpass {
	struct run *r;
	int64_t n; /* rows quarantined by the pass */
};

/* The report's entry of table, or NULL. */
static struct gsr_rebuild_table *
table_of(struct gsr_rebuild *res, const char *table)
{
	for (size_t i = 0; i < res->n_tables; i++)
		if (!strcmp(res->tables[i].name, table))
			return &res->tables[i];
	return NULL;
}

int
gsr_rebuild_quarantine_row(struct gsr_rebuild_qpass *qp, const char *table,
                           int64_t rowid, const char *reason)
{
	struct run *r = qp->r;
	struct gsr_rebuild_table *rt = table_of(r->res, table);
	sqlite3_stmt *st = NULL;
	char *sel = NULL, *del = NULL;
	int rc = -1;

	if (gsr_ctx_failed(r->ctx))
		return -1;
	if (rt == NULL || !rt->in_target) {
		gsr_ctx_fail(r->ctx, GSR_ERR_INTERNAL,
		             "quarantine pass: '%s' is not a table of the "
		             "rebuild",
		             table);
		return -1;
	}
	sel = sqlite3_mprintf("SELECT * FROM main.\"%w\" WHERE rowid = %lld",
	                      table, (long long)rowid);
	del = sqlite3_mprintf("DELETE FROM main.\"%w\" WHERE rowid = %lld",
	                      table, (long long)rowid);
	if (sel == NULL || del == NULL) {
		gsr_ctx_fail(r->ctx, GSR_ERR_NOMEM, "out of memory");
		goto out;
	}
	if (sqlite3_prepare_v2(r->out, sel, -1, &st, NULL) != SQLITE_OK ||
	    sqlite3_step(st) != SQLITE_ROW) {
		gsr_ctx_fail(r->ctx, GSR_ERR_INTERNAL,
		             "quarantine pass: no row %" PRId64 " in '%s' (%s)",
		             rowid, table, sqlite3_errmsg(r->out));
		goto out;
	}
	if (rb_quarantine_values(r, table, rowid, reason, st))
		goto out;
	sqlite3_finalize(st);
	st = NULL;
	if (rb_exec(r, del))
		goto out;
	rt->imported--;
	rt->quarantined++;
	r->res->total_imported--;
	r->res->total_quarantined++;
	qp->n++;
	rc = 0;
out:
	sqlite3_finalize(st);
	sqlite3_free(sel);
	sqlite3_free(del);
	return rc;
}

int
rb_qpass(struct run *r)
{
	struct gsr_rebuild_qpass qp = {.r = r};

	if (gsr_ctx_failed(r->ctx))
		return -1;
	if (r->opts->qpass == NULL)
		return 0;
	if (rb_exec(r, "BEGIN"))
		return -1;
	if (r->opts->qpass(r->ctx, r->out, &qp, r->opts->qpass_arg) != 0 ||
	    gsr_ctx_failed(r->ctx)) {
		if (!gsr_ctx_failed(r->ctx))
			gsr_ctx_fail(r->ctx, GSR_ERR_INTERNAL,
			             "quarantine pass failed");
		return -1;
	}
	if (rb_exec(r, "COMMIT"))
		return -1;
	rb_log(r, "the caller's quarantine pass: %" PRId64 " row(s)", qp.n);
	return 0;
}
