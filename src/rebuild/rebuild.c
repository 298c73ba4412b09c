/* rebuild.c -- rebuild a GPUStack database as a clean release.
 *
 * gsr_rebuild_run() (rebuild.h) makes one attempt, and a second when the
 * first finds the input damaged.  An attempt is the stages of
 * rebuild_internal.h in a straight line: identify, plan, outputs, audit,
 * stage, import, qpass, check, seal, audit, publish; each is a no-op once
 * the run's context holds an error, which the attempt then reports.
 * Also here: the helpers the stages share, and the report as JSON.
 */
#include "compat.h"
#include "clock.h"
#include "rebuild.h"
#include "rebuild_internal.h"

#include "jsonw.h"
#include "recover.h"
#include "tempfiles.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* ---- helpers of the stages ------------------------------------------ */

void
rb_log(struct run *r, const char *fmt, ...)
{
	struct strbuf sb = STRBUF_INIT;
	va_list ap;

	sb_addf(&sb, "%9.1f ms  ", gsr_now_ms() - r->t0);
	va_start(ap, fmt);
	sb_vaddf(&sb, fmt, ap);
	va_end(ap);
	if (!sb.failed)
		sv_push_owned(&r->res->log, sb_detach(&sb));
	sb_release(&sb);
}

char *
rb_dupf(const char *fmt, ...)
{
	struct strbuf sb = STRBUF_INIT;
	va_list ap;

	va_start(ap, fmt);
	sb_vaddf(&sb, fmt, ap);
	va_end(ap);
	if (sb.failed) {
		sb_release(&sb);
		return NULL;
	}
	return sb_detach(&sb);
}

int
rb_exec(struct run *r, const char *sql)
{
	char *err = NULL;

	if (gsr_ctx_failed(r->ctx))
		return -1;
	if (sqlite3_exec(r->out, sql, NULL, NULL, &err) != SQLITE_OK) {
		gsr_ctx_fail(r->ctx, GSR_ERR_IO, "rebuild: %s (in: %.200s)",
		             err ? err : "SQL error", sql);
		sqlite3_free(err);
		return -1;
	}
	return 0;
}

int64_t
rb_query_int(struct run *r, const char *sql)
{
	sqlite3_stmt *st = NULL;
	int64_t v = -1;

	if (gsr_ctx_failed(r->ctx))
		return -1;
	if (sqlite3_prepare_v2(r->out, sql, -1, &st, NULL) != SQLITE_OK ||
	    sqlite3_step(st) != SQLITE_ROW) {
		gsr_ctx_fail(r->ctx, GSR_ERR_INPUT, "rebuild: %s (in: %.200s)",
		             sqlite3_errmsg(r->out), sql);
	} else {
		v = sqlite3_column_int64(st, 0);
	}
	sqlite3_finalize(st);
	return v;
}

int
rb_query_texts(struct run *r, const char *sql, struct strvec *out,
               const char *what)
{
	sqlite3_stmt *st = NULL;
	int rc;

	if (gsr_ctx_failed(r->ctx))
		return -1;
	if (sqlite3_prepare_v2(r->out, sql, -1, &st, NULL) != SQLITE_OK)
		return gsr_ctx_fail(r->ctx, GSR_ERR_INTERNAL, "%s: %s", what,
		                    sqlite3_errmsg(r->out));
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		const char *v = (const char *)sqlite3_column_text(st, 0);
		if (sv_push(out, v ? v : "")) {
			rc = SQLITE_NOMEM;
			break;
		}
	}
	if (rc != SQLITE_DONE)
		gsr_ctx_fail(r->ctx,
		             rc == SQLITE_NOMEM ? GSR_ERR_NOMEM
		                                : GSR_ERR_INTERNAL,
		             "%s: %s", what,
		             rc == SQLITE_NOMEM ? "out of memory"
		                                : sqlite3_errmsg(r->out));
	sqlite3_finalize(st);
	return gsr_ctx_failed(r->ctx) ? -1 : 0;
}

bool
rb_is_bookkeeping(const char *table)
{
	return !strcmp(table, "alembic_version") ||
	       !strcmp(table, "sqlite_sequence");
}

const char *
rb_rowid_name(const struct gsr_table *t)
{
	static const char *const names[] = {"rowid", "_rowid_", "oid"};

	if (t == NULL || t->without_rowid || t->is_virtual)
		return NULL;
	for (size_t i = 0; i < GSR_ARRAY_LEN(names); i++)
		if (!gsr_table_column(t, names[i]))
			return names[i];
	return NULL;
}

/* ---- identify ---------------------------------------------------------- */

/* The target, a release of the rules; else GSR_ERR_USAGE. */
static int
find_target(struct run *r)
{
	struct gsr_rebuild *res = r->res;

	if (gsr_ctx_failed(r->ctx))
		return -1;
	res->target = gsr_rules_label(r->rules, r->opts->target);
	if (res->target == NULL || strcmp(res->target->kind, "release") != 0)
		return gsr_ctx_fail(r->ctx, GSR_ERR_USAGE,
		                    "'%s' is not a release the rules know "
		                    "('gsrecover rules list' shows them)",
		                    r->opts->target);
	return 0;
}

/* Refuse an input that is unreadable, not GPUStack's, or held open by
 * another process (without force). */
static int
accept_input(struct run *r)
{
	const struct gsr_identify *id = &r->res->id;

	if (id->verdict == GSR_VERDICT_UNREADABLE)
		return gsr_ctx_fail(
		    r->ctx, GSR_ERR_INPUT, "'%s': %s", id->ev.path,
		    id->unreadable ? id->unreadable : "unreadable");
	if (id->verdict == GSR_VERDICT_NOT_GPUSTACK)
		return gsr_ctx_fail(r->ctx, GSR_ERR_INPUT,
		                    "'%s' is not a GPUStack database",
		                    id->ev.path);
	if (id->ev.n_holders && !r->opts->force)
		return gsr_ctx_fail(
		    r->ctx, GSR_ERR_BUSY,
		    "process %d (%s) holds '%s' open: stop the GPUStack "
		    "server first (a copy taken under a live writer is not "
		    "consistent), or use --force",
		    id->ev.holders[0].pid, id->ev.holders[0].comm, id->ev.path);
	return 0;
}

/* Say in the log why this attempt is a second one, and whether it took
 * the input into custody again. */
static void
log_restart(struct run *r)
{
	const struct rb_carry *c = r->carry;

	if (c->known_damaged)
		rb_log(r,
		       "the rebuild read the input as malformed (%s) while "
		       "identify's checks ran: they were stopped, and the "
		       "rebuild started again, with the page reader",
		       c->why);
	else
		rb_log(r, "identify's checks found damage while the rebuild "
		          "ran: started again, with the page reader");
	if (c->ev.workdir)
		rb_log(r,
		       "custody of the input reused from the first attempt "
		       "(copied and hashed once, in %.0f ms): not taken again",
		       c->ms_custody);
	else
		rb_log(r, "the input was taken into custody again (%s)",
		       c->not_kept ? c->not_kept : "not handed over");
}

/*
 * The identify stage: custody of the input and its report.  With
 * speculate, identify's data checks run beside the rebuild (identify.h,
 * async_checks): a sound input, the common case, then costs no wait for
 * them.  A second attempt adopts the first one's custody when handed
 * over (r->carry).  With --include-deleted, the rows the page reader
 * carved join the source's, so that the rebuild imports (or quarantines)
 * them like any other.
 */
static int
identify_input(struct run *r, const char *path)
{
	struct gsr_rebuild *res = r->res;
	/* When the page reader runs, deleted rows are carved for the
	 * archive; they are imported only with --include-deleted. */
	struct gsr_identify_opts iopts = {
	    .deleted = true,
	    .recover = r->opts->include_deleted,
	    .defer_recheck = true, /* rb_seal() does it */
	    .async_checks = r->speculate,
	    .rollback_copy = true, /* attached read-only by several threads */
	};

	if (gsr_ctx_failed(r->ctx))
		return -1;
	if (!r->speculate) {
		log_restart(r);
		if (r->carry->ev.workdir)
			iopts.adopt = &r->carry->ev;
		iopts.known_damaged = r->carry->known_damaged;
	}
	if (gsr_identify_run(r->ctx, r->rules, path, &iopts, &res->id) != 0)
		return -1;
	res->id.ev.tee = NULL;
	if (accept_input(r))
		return -1;
	if (r->opts->include_deleted && res->id.recovered) {
		if (gsr_recover_import_deleted(
		        r->ctx, res->id.recovered_db, res->id.ledger_db,
		        &res->deleted_imported, &res->deleted_refused))
			return -1;
		rb_log(r,
		       "--include-deleted: %" PRId64
		       " carved row(s) imported into "
		       "the source, %" PRId64 " not",
		       res->deleted_imported, res->deleted_refused);
	}
	return 0;
}

/* ---- speculation ------------------------------------------------------- */

/* Once the rows are in: wait for identify's checks when they ran beside
 * the build.  Damage gives the attempt up (r->damaged). */
static int
join_checks(struct run *r)
{
	struct gsr_rebuild *res = r->res;

	if (gsr_ctx_failed(r->ctx))
		return -1;
	if (r->speculate && res->id.checks_thread.running) {
		if (gsr_identify_join_checks(&res->id)) {
			/* Damaged: start again; but checks cut short by a
			 * signal found nothing. */
			if (gsr_ctx_check_cancel(r->ctx))
				return -1;
			r->damaged = true;
			return gsr_ctx_fail(r->ctx, GSR_ERR_INPUT,
			                    "'%s' is damaged", res->id.ev.path);
		}
		rb_log(r,
		       "identify's checks passed (%.0f ms, beside the rebuild)",
		       res->id.ms_checks);
	}
	res->changed = !(sv_contains(&res->id.matches, res->target->name) &&
	                 res->id.health_ok && res->total_quarantined == 0);
	return 0;
}

/* Whether the run's error is one that damage to the input gives: SQLite
 * read a database as malformed (SQLITE_CORRUPT) or as not a database
 * (SQLITE_NOTADB), whichever stage or thread read it. */
static bool
damage_error(const struct gsr_ctx *ctx)
{
	return strstr(ctx->msg, sqlite3_errstr(SQLITE_CORRUPT)) != NULL ||
	       strstr(ctx->msg, sqlite3_errstr(SQLITE_NOTADB)) != NULL;
}

/*
 * What the attempt comes to: 0 done, -1 failed (the error on ctx), or 1
 * to start again with the page reader, when the input proved damaged --
 * also when a failure while identify's checks ran may come of the damage
 * they find.  Such a failure proves nothing by itself: for most, the
 * checks are waited for, and decide.  One that damage gives
 * (damage_error()) does not wait: the checks are stopped, and the next
 * attempt runs them in full, told the input is damaged (known_damaged);
 * should they find nothing, its own failure is reported as it is, as
 * that attempt does not start again.
 */
static int
outcome(struct run *r)
{
	struct gsr_identify *id = &r->res->id;

	if (!gsr_ctx_failed(r->ctx))
		return 0;
	if (!r->damaged) {
		if (!id->checks_thread.running || gsr_cancel_requested())
			return -1;
		if (damage_error(r->ctx)) {
			gsr_identify_stop_checks(id);
			r->carry->known_damaged = true;
			snprintf(r->carry->why, sizeof r->carry->why, "%s",
			         r->ctx->msg);
		} else if (!gsr_identify_join_checks(id) ||
		           gsr_cancel_requested()) {
			return -1;
		}
	}
	gsr_ctx_clear(r->ctx);
	return 1;
}

/* The attempt is given up for another (its stages cleaned up, no thread
 * reading the working copy): hand the custody of the input over in
 * r->carry, made fit for a new reader, unless it cannot serve again as
 * taken -- then the next attempt takes it again.  spool_kept: the
 * archive's spool of the input was handed over (rb_audit_hand_over()). */
static void
hand_over(struct run *r, bool spool_kept)
{
	struct rb_carry *c = r->carry;
	struct gsr_ctx tmp = gsr_ctx_child(r->ctx);
	struct gsr_evidence *ev = &r->res->id.ev;
	int rc = spool_kept ? gsr_evidence_reset(&tmp, ev) : 1;

	if (rc == 0) {
		c->ev = *ev;
		memset(ev, 0, sizeof *ev);
		c->ms_custody = r->res->id.ms_custody;
		return;
	}
	c->not_kept = !spool_kept ? "the archive's copy of the input failed"
	              : rc > 0    ? "the working copy no longer matched it"
	                          : "the working copy could not be reset";
	gsr_archive_spool_free(c->sp);
	c->sp = NULL;
}

/* ---- the run --------------------------------------------------------- */

/*
 * One attempt at gsr_rebuild_run(): the stages in order, on the sticky
 * error.  Returns 0 when done, -1 with the error on ctx, or 1 when the
 * input proved damaged while identify's checks ran beside the build
 * (speculate): everything made is discarded, and the caller starts again
 * without speculate, so that the page reader reads the input.
 */
static int
rebuild_attempt(struct gsr_ctx *ctx, const struct gsr_rules *rules,
                const char *path, const struct gsr_rebuild_opts *opts,
                struct gsr_rebuild *res, struct rb_carry *carry, bool speculate)
{
	struct run r = {
	    .ctx = ctx,
	    .rules = rules,
	    .opts = opts,
	    .res = res,
	    .speculate = speculate,
	    .carry = carry,
	    /* Their threads report progress on the run's sink. */
	    .export = {.ctx = gsr_ctx_child(ctx)},
	    .input = {.ctx = gsr_ctx_child(ctx)},
	};
	bool spool_kept = false;
	int rc;

	if (gsr_ctx_failed(ctx))
		return -1;
	r.t0 = gsr_now_ms();
	find_target(&r);
	rb_audit_tee(&r);
	identify_input(&r, path);
	rb_plan(&r);
	rb_outputs(&r);
	rb_audit_begin(&r);
	rb_stage(&r);
	rb_import(&r);
	rb_qpass(&r); /* the caller's quarantine pass, if any */
	rb_check(&r);
	join_checks(&r);
	rb_seal(&r);
	rb_audit_end(&r);
	rb_publish(&r);
	if (!gsr_ctx_failed(ctx))
		res->ms_total = gsr_now_ms() - r.t0;

	rb_import_cleanup(&r);
	rc = outcome(&r);
	if (rc > 0)
		spool_kept = rb_audit_hand_over(&r) == 0;
	rb_audit_cleanup(&r);
	rb_publish_cleanup(&r, rc != 0);
	rb_stage_cleanup(&r);
	rb_plan_release(&r);
	if (rc > 0)
		hand_over(&r, spool_kept);
	return rc;
}

int
gsr_rebuild_run(struct gsr_ctx *ctx, const struct gsr_rules *rules,
                const char *path, const struct gsr_rebuild_opts *opts,
                struct gsr_rebuild *res)
{
	struct rb_carry carry = {.sp = NULL};
	int rc = rebuild_attempt(ctx, rules, path, opts, res, &carry, true);

	if (rc > 0) {
		gsr_rebuild_release(res);
		rc =
		    rebuild_attempt(ctx, rules, path, opts, res, &carry, false);
	}
	/* Adopted by the second attempt, or left here. */
	gsr_evidence_release(&carry.ev);
	gsr_archive_spool_free(carry.sp);
	return rc < 0 ? -1 : 0;
}

void
gsr_rebuild_release(struct gsr_rebuild *res)
{
	gsr_identify_release(&res->id);
	for (size_t i = 0; i < res->n_tables; i++) {
		free(res->tables[i].name);
		sv_release(&res->tables[i].defaulted);
		sv_release(&res->tables[i].dropped);
	}
	free(res->tables);
	free(res->transforms);
	sv_release(&res->source_group);
	sv_release(&res->bookkeeping);
	sv_release(&res->log);
	free(res->out_path);
	free(res->archive_path);
	memset(res, 0, sizeof *res);
}

void
gsr_rebuild_write_json(const struct gsr_rebuild *res, struct jsonw *jw)
{
	jw_key(jw, "source");
	jw_obj_begin(jw);
	jw_kstr(jw, "label",
	        res->source_label ? res->source_label->name : NULL);
	jw_key(jw, "same_schema_as");
	jw_arr_begin(jw);
	for (size_t i = 0; i < res->source_group.n; i++)
		if (res->source_label &&
		    strcmp(res->source_group.v[i], res->source_label->name))
			jw_str(jw, res->source_group.v[i]);
	jw_arr_end(jw);
	jw_kstr(jw, "placed_at", res->source ? res->source->name : NULL);
	jw_kstr(jw, "placed_by", res->placed_by);
	jw_kstr(jw, "verdict", gsr_verdict_name(res->id.verdict));
	jw_kstr(jw, "alembic_version", res->id.alembic);
	jw_obj_end(jw);
	jw_kstr(jw, "target", res->target ? res->target->name : NULL);
	jw_kstr(jw, "direction", res->direction);
	jw_kbool(jw, "changed", res->changed);
	jw_key(jw, "transforms");
	jw_arr_begin(jw);
	for (size_t i = 0; i < res->n_transforms; i++) {
		const struct gsr_rebuild_transform *t = &res->transforms[i];
		jw_obj_begin(jw);
		jw_kstr(jw, "label", t->label);
		jw_kstr(jw, "name", t->name);
		jw_kstr(jw, "kind", t->downgrade ? "downgrade" : "upgrade");
		jw_kint(jw, "rows_changed", t->changed);
		jw_kint(jw, "rows_deleted", t->deleted);
		jw_obj_end(jw);
	}
	jw_arr_end(jw);
	jw_key(jw, "tables");
	jw_arr_begin(jw);
	for (size_t i = 0; i < res->n_tables; i++) {
		const struct gsr_rebuild_table *t = &res->tables[i];
		jw_obj_begin(jw);
		jw_kstr(jw, "name", t->name);
		jw_kstr(jw, "from", t->from);
		jw_kbool(jw, "in_target", t->in_target);
		jw_kint(jw, "source", t->source_rows);
		jw_kint(jw, "imported", t->imported);
		jw_kint(jw, "quarantined", t->quarantined);
		jw_kint(jw, "transformed", t->transformed);
		jw_kstrvec(jw, "defaulted", &t->defaulted);
		jw_kstrvec(jw, "dropped", &t->dropped);
		jw_obj_end(jw);
	}
	jw_arr_end(jw);
	jw_key(jw, "rows");
	jw_obj_begin(jw);
	jw_kint(jw, "source", res->total_source);
	jw_kint(jw, "imported", res->total_imported);
	jw_kint(jw, "quarantined", res->total_quarantined);
	jw_obj_end(jw);
	jw_key(jw, "deleted_rows");
	if (res->id.rec.carved) {
		jw_obj_begin(jw);
		jw_kint(jw, "carved", res->id.rec.deleted);
		jw_kint(jw, "imported", res->deleted_imported);
		jw_kint(jw, "not_imported", res->deleted_refused);
		jw_kint(jw, "rowid_unknown", res->id.rec.rowid_unknown);
		jw_kint(jw, "flagged", res->id.rec.deleted_flagged);
		jw_obj_end(jw);
	} else {
		jw_null(jw);
	}
	jw_kstrvec(jw, "bookkeeping", &res->bookkeeping);
}
