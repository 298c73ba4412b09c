/* migrate.c -- gsr_migrate_run(): rebuild, check, quarantine, load. */
#include "compat.h"
#include "clock.h"
#include "migrate.h"
#include "mig.h"
#include "migconv.h"

#include "jsonw.h"
#include "paths.h"
#include "tempfiles.h"

#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* Bytes of COPY data sent at once. */
#define COPY_CHUNK (256 * 1024)

struct mrun {
	struct gsr_ctx *ctx;
	const struct gsr_migrate_rules *mr;
	const struct gsr_migrate_opts *opts;
	struct gsr_migrate *res;
	PGconn *pg;
	char *pw;
	char *tmpdir;
	sqlite3 *db;
	struct mig_model model;
	/* During the rebuild's quarantine pass (db is then its output). */
	struct gsr_rebuild_qpass *qp;
};

static int
nomem(struct mrun *r)
{
	return gsr_ctx_fail(r->ctx, GSR_ERR_NOMEM, "out of memory");
}

/* A one-row, one-column query's value (NULL when NULL), or -1 on ctx. */
static int
query1(struct mrun *r, const char *what, const char *sql, const char *param,
       char **out)
{
	const char *params[1] = {param};
	PGresult *q = PQexecParams(r->pg, sql, param ? 1 : 0, NULL, params,
	                           NULL, NULL, 0);
	int rc = 0;

	*out = NULL;
	if (PQresultStatus(q) != PGRES_TUPLES_OK || PQntuples(q) != 1) {
		char *m = mig_scrub(PQerrorMessage(r->pg), r->pw);
		rc = gsr_ctx_fail(r->ctx, GSR_ERR_IO, "%s: %s", what,
		                  m && *m ? m : "no answer");
		free(m);
	} else if (!PQgetisnull(q, 0, 0) &&
	           (*out = strdup(PQgetvalue(q, 0, 0))) == NULL) {
		rc = nomem(r);
	}
	PQclear(q);
	return rc;
}

/* Connect and check that the target can take the load: reachable, a
 * schema, nothing in it.  Read-only. */
static int
connect_and_check(struct mrun *r)
{
	struct gsr_migrate *res = r->res;
	char *count = NULL, *first = NULL, *rev = NULL, *sql = NULL;
	int rc = -1;

	if (mig_conninfo(r->ctx, r->opts->database_url, &res->target_display,
	                 &r->pw))
		return -1;
	r->pg = PQconnectdb(r->opts->database_url);
	if (r->pg == NULL)
		return nomem(r);
	if (PQstatus(r->pg) != CONNECTION_OK) {
		char *m = mig_scrub(PQerrorMessage(r->pg), r->pw);
		gsr_ctx_fail(r->ctx, GSR_ERR_INPUT,
		             "cannot connect to PostgreSQL (%s): %s",
		             res->target_display, m && *m ? m : "failed");
		free(m);
		return -1;
	}
	if (PQsetClientEncoding(r->pg, "UTF8") != 0)
		return mig_exec(r->ctx, r->pg, r->pw, "client_encoding",
		                "SELECT 1/0");
	if (query1(r, "PostgreSQL",
	           "SELECT pg_catalog.current_setting('server_version')", NULL,
	           &res->server_version) ||
	    query1(r, "PostgreSQL", "SELECT pg_catalog.current_schema()", NULL,
	           &res->schema))
		goto out;
	if (res->schema == NULL) {
		gsr_ctx_fail(r->ctx, GSR_ERR_INPUT,
		             "PostgreSQL (%s): no schema to load into "
		             "(the search_path names none that exists)",
		             res->target_display);
		goto out;
	}
	if (query1(r, "PostgreSQL",
	           "SELECT count(*) FROM pg_catalog.pg_class c JOIN "
	           "pg_catalog.pg_namespace n "
	           "ON n.oid = c.relnamespace WHERE n.nspname = $1 AND "
	           "c.relkind IN "
	           "('r', 'p', 'v', 'm', 'f', 'S')",
	           res->schema, &count) ||
	    query1(
	        r, "PostgreSQL",
	        "SELECT (SELECT min(c.relname) FROM pg_catalog.pg_class c JOIN "
	        "pg_catalog.pg_namespace n ON n.oid = c.relnamespace WHERE "
	        "n.nspname = $1 "
	        "AND c.relkind IN ('r', 'p', 'v', 'm', 'f', 'S')) || ''",
	        res->schema, &first))
		goto out;
	if (count && strcmp(count, "0")) {
		char *has = NULL;
		if (query1(r, "PostgreSQL",
		           "SELECT count(*) FROM pg_catalog.pg_class c JOIN "
		           "pg_catalog.pg_namespace n "
		           "ON n.oid = c.relnamespace WHERE n.nspname = $1 AND "
		           "c.relname = "
		           "'alembic_version' AND c.relkind = 'r'",
		           res->schema, &has))
			goto out;
		bool alembic = has && strcmp(has, "0");
		free(has);
		if (alembic) {
			struct strbuf q = STRBUF_INIT;
			sb_adds(&q, "SELECT min(version_num) FROM ");
			sb_add_ident(&q, res->schema);
			sb_adds(&q, ".alembic_version");
			int qr = q.failed ? nomem(r)
			                  : query1(r, "PostgreSQL", q.buf, NULL,
			                           &rev);
			sb_release(&q);
			if (qr)
				goto out;
			gsr_ctx_fail(r->ctx, GSR_ERR_INPUT,
			             "PostgreSQL (%s): schema \"%s\" already "
			             "holds a GPUStack "
			             "database at revision %s (a GPUStack 2.x "
			             "or an earlier import); "
			             "migrate loads only into an empty "
			             "database: nothing written",
			             res->target_display, res->schema,
			             rev ? rev : "(none)");
			goto out;
		}
		gsr_ctx_fail(r->ctx, GSR_ERR_INPUT,
		             "PostgreSQL (%s): schema \"%s\" is not empty (%s "
		             "relation(s), "
		             "e.g. %s); migrate loads only into an empty "
		             "database: nothing "
		             "written",
		             res->target_display, res->schema, count,
		             first ? first : "?");
		goto out;
	}
	free(count);
	count = NULL;
	if (query1(r, "PostgreSQL",
	           "SELECT count(*) FROM pg_catalog.pg_type t JOIN "
	           "pg_catalog.pg_namespace n "
	           "ON n.oid = t.typnamespace WHERE n.nspname = $1 AND "
	           "t.typtype IN ('e', 'd')",
	           res->schema, &count))
		goto out;
	if (count && strcmp(count, "0")) {
		gsr_ctx_fail(
		    r->ctx, GSR_ERR_INPUT,
		    "PostgreSQL (%s): schema \"%s\" is not empty (%s type(s)); "
		    "migrate "
		    "loads only into an empty database: nothing written",
		    res->target_display, res->schema, count);
		goto out;
	}
	rc = 0;
out:
	free(count);
	free(first);
	free(rev);
	free(sql);
	return rc;
}

/* Remove tmpdir and the files in it (it has no subdirectories). */
static void
remove_tmpdir(char *dir)
{
	DIR *d;
	struct dirent *de;

	if (dir == NULL)
		return;
	if ((d = opendir(dir)) != NULL) {
		while ((de = readdir(d)) != NULL) {
			char *p = NULL;
			if (de->d_name[0] == '.' &&
			    (!de->d_name[1] || !strcmp(de->d_name, "..")))
				continue;
			if (asprintf(&p, "%s/%s", dir, de->d_name) >= 0) {
				unlink(p);
				free(p);
			}
		}
		closedir(d);
	}
	rmdir(dir);
	gsr_temp_unregister(dir);
	free(dir);
}

/* The row (table, rowid) of the work database as a JSON object. */
static char *
row_json(struct mrun *r, const char *table, int64_t rowid)
{
	struct strbuf q = STRBUF_INIT;
	sqlite3_stmt *st = NULL;
	char *buf = NULL;
	size_t len = 0;
	FILE *f;

	sb_adds(&q, "SELECT * FROM ");
	sb_add_ident(&q, table);
	sb_adds(&q, " WHERE rowid = ?");
	if (q.failed ||
	    sqlite3_prepare_v2(r->db, q.buf, -1, &st, NULL) != SQLITE_OK)
		goto out;
	sqlite3_bind_int64(st, 1, rowid);
	if ((f = open_memstream(&buf, &len)) == NULL)
		goto out;
	struct jsonw jw;
	jw_init(&jw, f, false);
	jw_obj_begin(&jw);
	if (sqlite3_step(st) == SQLITE_ROW)
		for (int i = 0; i < sqlite3_column_count(st); i++) {
			jw_key(&jw, sqlite3_column_name(st, i));
			switch (sqlite3_column_type(st, i)) {
			case SQLITE_NULL:
				jw_null(&jw);
				break;
			case SQLITE_INTEGER:
				jw_int(&jw, sqlite3_column_int64(st, i));
				break;
			case SQLITE_FLOAT:
				jw_real(&jw, sqlite3_column_double(st, i));
				break;
			case SQLITE_BLOB:
				jw_blob(&jw, sqlite3_column_blob(st, i),
				        (size_t)sqlite3_column_bytes(st, i));
				break;
			default:
				jw_strn(
				    &jw,
				    (const char *)sqlite3_column_text(st, i),
				    (size_t)sqlite3_column_bytes(st, i));
			}
		}
	jw_obj_end(&jw);
	fclose(f);
out:
	sqlite3_finalize(st);
	sb_release(&q);
	return buf;
}

/* Record one quarantined row (values read before it is deleted). */
static int
add_qrow(struct mrun *r, const char *table, int64_t rowid, const char *reason)
{
	struct gsr_migrate *res = r->res;
	struct gsr_migrate_qrow *q;

	if (gsr_grow((void **)&res->qrows, &res->cap_qrows, res->n_qrows + 1,
	             sizeof *q))
		return nomem(r);
	q = &res->qrows[res->n_qrows++];
	q->table = strdup(table);
	q->rowid = rowid;
	q->reason = strdup(reason);
	q->values = row_json(r, table, rowid);
	if (!q->table || !q->reason || !q->values)
		return nomem(r);
	for (size_t i = 0; i < res->n_tables; i++)
		if (!strcmp(res->tables[i].name, table))
			res->tables[i].quarantined++;
	return 0;
}

/* SELECT rowid and t's PostgreSQL columns from the work database. */
static sqlite3_stmt *
select_rows(struct mrun *r, const struct mig_table *t)
{
	struct strbuf q = STRBUF_INIT;
	sqlite3_stmt *st = NULL;

	sb_adds(&q, "SELECT rowid");
	for (size_t i = 0; i < t->n_cols; i++) {
		sb_addc(&q, ',');
		sb_add_ident(&q, t->cols[i].name);
	}
	sb_adds(&q, " FROM ");
	sb_add_ident(&q, t->name);
	sb_adds(&q, " ORDER BY rowid");
	if (q.failed)
		nomem(r);
	else if (sqlite3_prepare_v2(r->db, q.buf, -1, &st, NULL) != SQLITE_OK)
		gsr_ctx_fail(r->ctx, GSR_ERR_INTERNAL,
		             "the rebuilt %s does not match "
		             "PostgreSQL's: %s",
		             t->name, sqlite3_errmsg(r->db));
	sb_release(&q);
	return st;
}

/* Forget what an earlier quarantine pass found (the rebuild makes a
 * second attempt when the input proves damaged). */
static void
forget_quarantine(struct gsr_migrate *res)
{
	for (size_t i = 0; i < res->n_qrows; i++) {
		free(res->qrows[i].table);
		free(res->qrows[i].reason);
		free(res->qrows[i].values);
	}
	res->n_qrows = 0;
	for (size_t i = 0; i < res->n_tables; i++)
		res->tables[i].rebuilt = res->tables[i].quarantined =
		    res->tables[i].imported = 0;
	res->total_rebuilt = res->total_quarantined = res->total_imported = 0;
}

/* Quarantine every row PostgreSQL would refuse, then the rows left
 * without their parent, until none is left; count what remains.  Runs
 * as the rebuild's quarantine pass (r->db, r->qp): the rows go to the
 * rebuild's quarantine, and so into its archive. */
static int
quarantine(struct mrun *r)
{
	struct strbuf scratch = STRBUF_INIT;
	char why[512];
	int rc = -1;

	forget_quarantine(r->res);

	for (size_t ti = 0; ti < r->model.n; ti++) {
		const struct mig_table *t = &r->model.t[ti];
		struct gsr_migrate_table *rt = &r->res->tables[ti];
		int64_t *bad = NULL;
		char **reasons = NULL;
		size_t nbad = 0, cap = 0, cap2 = 0;
		sqlite3_stmt *st = select_rows(r, t);
		if (st == NULL)
			goto out;
		while (sqlite3_step(st) == SQLITE_ROW) {
			rt->rebuilt++;
			for (size_t c = 0; c < t->n_cols; c++) {
				sb_reset(&scratch);
				if (mig_convert(&t->cols[c], st, (int)c + 1,
				                &scratch, why, sizeof why) == 0)
					continue;
				if (gsr_grow((void **)&bad, &cap, nbad + 1,
				             sizeof *bad) ||
				    gsr_grow((void **)&reasons, &cap2, nbad + 1,
				             sizeof *reasons) ||
				    (reasons[nbad] = strdup(why)) == NULL) {
					nomem(r);
					break;
				}
				bad[nbad++] = sqlite3_column_int64(st, 0);
				break;
			}
			if (gsr_ctx_check_cancel(r->ctx))
				break;
		}
		sqlite3_finalize(st);
		for (size_t i = 0; i < nbad; i++) {
			if (!gsr_ctx_failed(r->ctx)) {
				char reason[700];
				snprintf(reason, sizeof reason,
				         "PostgreSQL would refuse it: %s",
				         reasons[i]);
				if (!add_qrow(r, t->name, bad[i], reason))
					gsr_rebuild_quarantine_row(
					    r->qp, t->name, bad[i], reason);
			}
			free(reasons[i]);
		}
		free(bad);
		free(reasons);
		if (gsr_ctx_failed(r->ctx))
			goto out;
	}
	/* Orphans: the rows whose parent went to the quarantine above. */
	for (int round = 0; round < 64; round++) {
		sqlite3_stmt *st = NULL;
		struct {
			char *table, *parent;
			int64_t rowid;
		} *o = NULL;
		size_t n = 0, cap = 0;
		if (sqlite3_prepare_v2(
		        r->db,
		        "SELECT \"table\", rowid, parent FROM "
		        "pragma_foreign_key_check WHERE rowid IS NOT NULL",
		        -1, &st, NULL) != SQLITE_OK) {
			gsr_ctx_fail(r->ctx, GSR_ERR_INTERNAL,
			             "foreign_key_check: %s",
			             sqlite3_errmsg(r->db));
			goto out;
		}
		while (sqlite3_step(st) == SQLITE_ROW) {
			if (gsr_grow((void **)&o, &cap, n + 1, sizeof *o)) {
				nomem(r);
				break;
			}
			o[n].table =
			    strdup((const char *)sqlite3_column_text(st, 0));
			o[n].rowid = sqlite3_column_int64(st, 1);
			o[n].parent =
			    strdup((const char *)sqlite3_column_text(st, 2));
			n++;
		}
		sqlite3_finalize(st);
		for (size_t i = 0; i < n; i++) {
			if (!gsr_ctx_failed(r->ctx) && o[i].table &&
			    o[i].parent) {
				snprintf(why, sizeof why,
				         "its %s row went to the quarantine: "
				         "PostgreSQL enforces the foreign key",
				         o[i].parent);
				if (!add_qrow(r, o[i].table, o[i].rowid, why))
					gsr_rebuild_quarantine_row(
					    r->qp, o[i].table, o[i].rowid, why);
			}
			free(o[i].table);
			free(o[i].parent);
		}
		free(o);
		if (gsr_ctx_failed(r->ctx))
			goto out;
		if (n == 0)
			break;
	}
	for (size_t ti = 0; ti < r->res->n_tables; ti++) {
		struct gsr_migrate_table *rt = &r->res->tables[ti];
		rt->imported = rt->rebuilt - rt->quarantined;
		r->res->total_rebuilt += rt->rebuilt;
		r->res->total_quarantined += rt->quarantined;
		r->res->total_imported += rt->imported;
	}
	rc = 0;
out:
	sb_release(&scratch);
	return rc;
}

/* The rebuild's quarantine pass (rebuild.h): quarantine() on its new
 * database. */
static int
qpass(struct gsr_ctx *ctx, struct sqlite3 *db, struct gsr_rebuild_qpass *qp,
      void *arg)
{
	struct mrun *r = arg;
	int rc;

	double t0 = gsr_now_ms();

	(void)ctx;
	r->db = db;
	r->qp = qp;
	rc = quarantine(r);
	r->res->ms_check = gsr_now_ms() - t0;
	r->db = NULL;
	r->qp = NULL;
	return rc;
}

/* COPY one table's rows; checks the count PostgreSQL reports. */
static int
copy_table(struct mrun *r, const struct mig_table *t,
           struct gsr_migrate_table *rt)
{
	struct strbuf q = STRBUF_INIT, buf = STRBUF_INIT;
	char why[512], phase[GSR_PROGRESS_NAME_MAX + 1];
	sqlite3_stmt *st = NULL;
	PGresult *pr = NULL;
	int64_t n = 0;
	int rc = -1;

	snprintf(phase, sizeof phase, "load %s", t->name);
	sb_adds(&q, "COPY ");
	sb_add_ident(&q, r->res->schema);
	sb_addc(&q, '.');
	sb_add_ident(&q, t->name);
	sb_adds(&q, " (");
	for (size_t i = 0; i < t->n_cols; i++) {
		if (i)
			sb_addc(&q, ',');
		sb_add_ident(&q, t->cols[i].name);
	}
	sb_adds(&q, ") FROM STDIN");
	if (q.failed) {
		nomem(r);
		goto out;
	}
	if ((st = select_rows(r, t)) == NULL)
		goto out;
	pr = PQexec(r->pg, q.buf);
	if (PQresultStatus(pr) != PGRES_COPY_IN) {
		char *m = mig_scrub(PQerrorMessage(r->pg), r->pw);
		gsr_ctx_fail(r->ctx, GSR_ERR_IO, "COPY %s: %s", t->name,
		             m ? m : "failed");
		free(m);
		goto out;
	}
	PQclear(pr);
	pr = NULL;
	while (sqlite3_step(st) == SQLITE_ROW) {
		for (size_t c = 0; c < t->n_cols; c++) {
			if (c)
				sb_addc(&buf, '\t');
			if (mig_convert(&t->cols[c], st, (int)c + 1, &buf, why,
			                sizeof why)) {
				gsr_ctx_fail(
				    r->ctx, GSR_ERR_INTERNAL,
				    "%s row %" PRId64 " passed the quarantine "
				    "but not the load: %s",
				    t->name,
				    (int64_t)sqlite3_column_int64(st, 0), why);
				break;
			}
		}
		sb_addc(&buf, '\n');
		n++;
		if (buf.failed)
			nomem(r);
		if (!gsr_ctx_failed(r->ctx) && buf.len >= COPY_CHUNK) {
			if (PQputCopyData(r->pg, buf.buf, (int)buf.len) != 1)
				gsr_ctx_fail(r->ctx, GSR_ERR_IO, "COPY %s: %s",
				             t->name, "the connection failed");
			sb_reset(&buf);
			gsr_progress(r->ctx, phase, GSR_PROGRESS_ROWS,
			             (uint64_t)n, (uint64_t)rt->imported);
		}
		if (gsr_ctx_failed(r->ctx) || gsr_ctx_check_cancel(r->ctx))
			break;
	}
	if (gsr_ctx_failed(r->ctx)) {
		PQputCopyEnd(r->pg, "gsrecover stopped the load");
		goto drain;
	}
	if ((buf.len && PQputCopyData(r->pg, buf.buf, (int)buf.len) != 1) ||
	    PQputCopyEnd(r->pg, NULL) != 1) {
		gsr_ctx_fail(r->ctx, GSR_ERR_IO,
		             "COPY %s: the connection failed", t->name);
		goto drain;
	}
drain:
	while ((pr = PQgetResult(r->pg)) != NULL) {
		if (!gsr_ctx_failed(r->ctx)) {
			if (PQresultStatus(pr) != PGRES_COMMAND_OK) {
				char *m =
				    mig_scrub(PQerrorMessage(r->pg), r->pw);
				gsr_ctx_fail(r->ctx, GSR_ERR_IO, "COPY %s: %s",
				             t->name, m ? m : "failed");
				free(m);
			} else if (strtoll(PQcmdTuples(pr), NULL, 10) !=
			           rt->imported) {
				gsr_ctx_fail(r->ctx, GSR_ERR_INTERNAL,
				             "COPY %s: %s row(s) "
				             "loaded, %" PRId64 " expected",
				             t->name, PQcmdTuples(pr),
				             rt->imported);
			}
		}
		PQclear(pr);
	}
	pr = NULL;
	rc = gsr_ctx_failed(r->ctx) ? -1 : 0;
out:
	gsr_progress_end(r->ctx, phase);
	PQclear(pr);
	sqlite3_finalize(st);
	sb_release(&q);
	sb_release(&buf);
	return rc;
}

/* An integer query on the work database (0 when no row or NULL). */
static int64_t
sqlite_int(struct mrun *r, const char *sql, const char *param)
{
	sqlite3_stmt *st = NULL;
	int64_t v = 0;

	if (sqlite3_prepare_v2(r->db, sql, -1, &st, NULL) == SQLITE_OK) {
		if (param)
			sqlite3_bind_text(st, 1, param, -1, SQLITE_TRANSIENT);
		if (sqlite3_step(st) == SQLITE_ROW)
			v = sqlite3_column_int64(st, 0);
	}
	sqlite3_finalize(st);
	return v;
}

/* setval every serial sequence past its table's largest id, or the
 * rebuilt sqlite_sequence's value, whichever is larger. */
static int
set_sequences(struct mrun *r)
{
	for (size_t i = 0; i < r->model.n; i++) {
		const struct mig_table *t = &r->model.t[i];
		struct gsr_migrate_table *rt = &r->res->tables[i];
		struct strbuf q = STRBUF_INIT;
		int64_t max, seq;

		if (t->seq == NULL)
			continue;
		rt->sequence = strdup(t->seq);
		sb_adds(&q, "SELECT max(");
		sb_add_ident(&q, t->seq_col);
		sb_adds(&q, ") FROM ");
		sb_add_ident(&q, t->name);
		max = q.failed ? 0 : sqlite_int(r, q.buf, NULL);
		seq = sqlite_int(
		    r, "SELECT max(seq) FROM sqlite_sequence WHERE name = ?",
		    t->name);
		if (seq > max)
			max = seq;
		sb_reset(&q);
		if (max > 0) {
			char *lit =
			    PQescapeLiteral(r->pg, t->seq, strlen(t->seq));
			if (lit)
				sb_addf(&q,
				        "SELECT pg_catalog.setval(%s, %" PRId64
				        ", true)",
				        lit, max);
			PQfreemem(lit);
			if (lit == NULL || q.failed) {
				sb_release(&q);
				return nomem(r);
			}
			if (r->opts->rebuild.dry_run == false &&
			    mig_exec(r->ctx, r->pg, r->pw, "setval", q.buf)) {
				sb_release(&q);
				return -1;
			}
			rt->next_id = max + 1;
		} else {
			rt->next_id = 1;
		}
		sb_release(&q);
	}
	return 0;
}

/* Evaluate the 2.x effects of the rules on the work database. */
static int
effects(struct mrun *r)
{
	const struct gsr_migrate_rules *mr = r->mr;
	struct gsr_migrate *res = r->res;

	res->effects =
	    calloc(mr->n_effects ? mr->n_effects : 1, sizeof *res->effects);
	if (res->effects == NULL)
		return nomem(r);
	res->n_effects = mr->n_effects;
	for (size_t i = 0; i < mr->n_effects; i++) {
		const struct gsr_migrate_effect *e = &mr->effects[i];
		struct gsr_migrate_effect_res *er = &res->effects[i];
		er->effect = e;
		if (e->source_before) {
			const struct gsr_label *src = res->rb.source_label;
			const struct gsr_label *lim = NULL;
			for (const struct gsr_label *l = src; l; l = l->next)
				if (!strcmp(l->name, e->source_before))
					lim = l;
			/* src is older when the limit follows it in the
			 * lineage. */
			er->rows = src && lim && lim != src ? 1 : 0;
			if (!e->table || er->rows == 0)
				continue;
		}
		struct strbuf q = STRBUF_INIT;
		sqlite3_stmt *st = NULL;
		sb_adds(&q, "SELECT ");
		bool has_name = false, has_id = false;
		for (size_t t = 0; t < r->model.n; t++)
			if (!strcmp(r->model.t[t].name, e->table))
				for (size_t c = 0; c < r->model.t[t].n_cols;
				     c++) {
					has_name |= !strcmp(
					    r->model.t[t].cols[c].name, "name");
					has_id |= !strcmp(
					    r->model.t[t].cols[c].name, "id");
				}
		sb_adds(&q, has_name ? "name" : has_id ? "id" : "rowid");
		sb_adds(&q, " FROM ");
		sb_add_ident(&q, e->table);
		sb_adds(&q, " WHERE (");
		sb_adds(&q, e->where);
		sb_adds(&q, ") ORDER BY rowid");
		if (q.failed) {
			sb_release(&q);
			return nomem(r);
		}
		if (sqlite3_prepare_v2(r->db, q.buf, -1, &st, NULL) !=
		    SQLITE_OK) {
			gsr_ctx_fail(r->ctx, GSR_ERR_RULES,
			             "%s:%d: effect %s: %s", e->file, e->line,
			             e->name, sqlite3_errmsg(r->db));
			sb_release(&q);
			return -1;
		}
		er->rows = 0;
		while (sqlite3_step(st) == SQLITE_ROW) {
			if (er->rows++ < 5)
				sv_push(
				    &er->examples,
				    (const char *)sqlite3_column_text(st, 0));
		}
		sqlite3_finalize(st);
		sb_release(&q);
	}
	return 0;
}

/* A private directory for the run's working files, registered for
 * removal on a signal.  Returns 0, or -1 with an error on r->ctx. */
static int
make_workdir(struct mrun *r)
{
	if (asprintf(&r->tmpdir, "%s/gsrecover-migrate.XXXXXX", gsr_tmp_dir()) <
	    0) {
		r->tmpdir = NULL;
		return nomem(r);
	}
	if (mkdtemp(r->tmpdir) == NULL) {
		gsr_ctx_fail(r->ctx, GSR_ERR_IO, "%s: %s", r->tmpdir,
		             strerror(errno));
		free(r->tmpdir);
		r->tmpdir = NULL;
		return -1;
	}
	gsr_temp_register(r->tmpdir);
	return 0;
}

/* Take alembic_version out of the tables to copy: it is stamped with the
 * target's revision, not copied. */
static void
drop_alembic_table(struct mig_model *model)
{
	for (size_t i = 0; i < model->n; i++)
		if (!strcmp(model->t[i].name, "alembic_version")) {
			struct mig_table tmp = model->t[i];
			memmove(&model->t[i], &model->t[i + 1],
			        (model->n - i - 1) * sizeof tmp);
			model->t[--model->n] = tmp;
			for (size_t c = 0; c < tmp.n_cols; c++) {
				free(tmp.cols[c].name);
				free(tmp.cols[c].type);
				sv_release(&tmp.cols[c].labels);
			}
			free(tmp.cols);
			free(tmp.name);
			free(tmp.seq);
			free(tmp.seq_col);
			sv_release(&tmp.parents);
			return;
		}
}

/* Stamp the target's alembic revision in the load's transaction.
 * Returns 0, or -1 with an error on r->ctx. */
static int
stamp_alembic(struct mrun *r)
{
	struct strbuf q = STRBUF_INIT;
	char *lit =
	    PQescapeLiteral(r->pg, r->mr->alembic, strlen(r->mr->alembic));
	int rc;

	sb_adds(&q, "INSERT INTO ");
	sb_add_ident(&q, r->res->schema);
	sb_addf(&q, ".alembic_version (version_num) VALUES (%s)",
	        lit ? lit : "NULL");
	PQfreemem(lit);
	rc = q.failed || lit == NULL
	         ? nomem(r)
	         : mig_exec(r->ctx, r->pg, r->pw, "alembic_version", q.buf);
	sb_release(&q);
	return rc;
}

/* Open the rebuilt database as the private work copy at work (the
 * rebuild's output itself when it is ours, a copy otherwise). */
static int
open_work(struct mrun *r, const char *rebuilt, const char *work)
{
	sqlite3 *src = NULL;
	int rc = -1;

	if (strcmp(rebuilt, work)) {
		if (gsr_temp_register(work)) {
			gsr_ctx_fail(r->ctx, GSR_ERR_NOMEM,
			             "too many temporary files");
			return -1;
		}
		if (sqlite3_open_v2(rebuilt, &src, SQLITE_OPEN_READONLY,
		                    NULL) != SQLITE_OK ||
		    sqlite3_open_v2(work, &r->db,
		                    SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE |
		                        SQLITE_OPEN_NOMUTEX,
		                    NULL) != SQLITE_OK) {
			gsr_ctx_fail(r->ctx, GSR_ERR_IO, "%s: %s", rebuilt,
			             sqlite3_errmsg(src ? src : r->db));
			goto out;
		}
		sqlite3_backup *b =
		    sqlite3_backup_init(r->db, "main", src, "main");
		if (b == NULL || sqlite3_backup_step(b, -1) != SQLITE_DONE) {
			sqlite3_backup_finish(b);
			gsr_ctx_fail(r->ctx, GSR_ERR_IO, "copying %s: %s",
			             rebuilt, sqlite3_errmsg(r->db));
			goto out;
		}
		sqlite3_backup_finish(b);
	} else if (sqlite3_open_v2(work, &r->db,
	                           SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX,
	                           NULL) != SQLITE_OK) {
		gsr_ctx_fail(r->ctx, GSR_ERR_IO, "%s: %s", work,
		             sqlite3_errmsg(r->db));
		goto out;
	}
	if (sqlite3_exec(r->db,
	                 "PRAGMA journal_mode=DELETE; PRAGMA foreign_keys=OFF; "
	                 "PRAGMA synchronous=OFF",
	                 NULL, NULL, NULL) != SQLITE_OK) {
		gsr_ctx_fail(r->ctx, GSR_ERR_IO, "%s: %s", work,
		             sqlite3_errmsg(r->db));
		goto out;
	}
	rc = 0;
out:
	sqlite3_close(src);
	return rc;
}

/* The foreign keys are added after the rows (post-data): the load order
 * takes the tables' parents from the schema file instead. */
static int
dump_parents(struct mrun *r)
{
	struct mig_model dump = {0};
	int rc = 0;

	if (mig_parse_dump(r->ctx, r->mr->schema_sql, &dump))
		return -1;
	for (size_t i = 0; i < dump.n && rc == 0; i++) {
		struct mig_table *t = NULL;
		for (size_t j = 0; j < r->model.n && t == NULL; j++)
			if (!strcmp(r->model.t[j].name, dump.t[i].name))
				t = &r->model.t[j];
		for (size_t p = 0; t && p < dump.t[i].parents.n && rc == 0; p++)
			if (!sv_contains(&t->parents, dump.t[i].parents.v[p]))
				rc =
				    sv_push(&t->parents, dump.t[i].parents.v[p])
				        ? nomem(r)
				        : 0;
	}
	mig_model_release(&dump);
	return rc;
}

/* After the rows: the constraints and indexes of the schema file (its
 * post-data), each checked once over the whole table rather than row by
 * row during COPY. */
static int
finish_schema(struct mrun *r)
{
	char *sql =
	    mig_filter_schema(r->mr->schema_sql, r->res->schema, MIG_POST_DATA);
	int rc;

	if (sql == NULL)
		return nomem(r);
	rc = mig_exec(r->ctx, r->pg, r->pw, "adding the keys and indexes", sql);
	free(sql);
	return rc;
}

/*
 * The model of the target's tables, in the order of their foreign keys,
 * alembic_version left out (it is stamped, not copied), and the result's
 * table entries: from the catalog once the schema exists, in the load's
 * transaction (opened here, *in_tx); under dry_run, from the schema
 * file.  Returns 0, or -1 with the error on r->ctx.
 */
static int
prepare_target(struct mrun *r, bool *in_tx)
{
	struct gsr_migrate *res = r->res;
	char *schema_sql = NULL;
	int rc = -1;

	if (r->opts->rebuild.dry_run) {
		res->types_from = "schema file";
		if (mig_parse_dump(r->ctx, r->mr->schema_sql, &r->model))
			return -1;
	} else {
		res->types_from = "catalog";
		if ((schema_sql = mig_filter_schema(
		         r->mr->schema_sql, res->schema, MIG_PRE_DATA)) == NULL)
			return nomem(r);
		/* The transaction stays open while the rebuild runs: a
		 * server's idle or statement timeout must not end it. */
		if (mig_exec(
		        r->ctx, r->pg, r->pw, "BEGIN",
		        "BEGIN; SET LOCAL idle_in_transaction_session_timeout"
		        " = 0; SET LOCAL statement_timeout = 0"))
			goto out;
		*in_tx = true;
		if (mig_exec(r->ctx, r->pg, r->pw, "creating the schema",
		             schema_sql) ||
		    mig_catalog(r->ctx, r->pg, r->pw, res->schema, &r->model) ||
		    dump_parents(r))
			goto out;
	}
	mig_model_fk_order(&r->model);
	drop_alembic_table(&r->model);
	res->tables = calloc(r->model.n ? r->model.n : 1, sizeof *res->tables);
	if (res->tables == NULL) {
		nomem(r);
		goto out;
	}
	res->n_tables = res->cap_tables = r->model.n;
	for (size_t i = 0; i < r->model.n; i++)
		if ((res->tables[i].name = strdup(r->model.t[i].name)) ==
		    NULL) {
			nomem(r);
			goto out;
		}
	rc = 0;
out:
	free(schema_sql);
	return rc;
}

int
gsr_migrate_run(struct gsr_ctx *ctx, const struct gsr_rules *rules,
                const struct gsr_migrate_rules *mr, const char *path,
                const struct gsr_migrate_opts *opts, struct gsr_migrate *res)
{
	struct mrun r = {.ctx = ctx, .mr = mr, .opts = opts, .res = res};
	struct gsr_rebuild_opts ro = opts->rebuild;
	char *rebuilt = NULL, *work = NULL;
	bool in_tx = false, own_out = false;
	double t0;

	memset(res, 0, sizeof *res);
	if (gsr_ctx_failed(ctx))
		return -1;
	res->alembic = strdup(mr->alembic);
	if (connect_and_check(&r) || make_workdir(&r))
		goto out;
	/* The target's schema and column types first: the rows PostgreSQL
	 * would refuse are quarantined in the rebuild's own quarantine pass,
	 * before its archive is written. */
	t0 = gsr_now_ms();
	if (prepare_target(&r, &in_tx))
		goto out;
	res->ms_load = gsr_now_ms() - t0;
	/* The rebuild.  Under dry_run it still builds its output, privately,
	 * for the report: it writes nothing else. */
	ro.target = mr->target;
	ro.qpass = qpass;
	ro.qpass_arg = &r;
	own_out = ro.out_path == NULL || opts->rebuild.dry_run;
	if (asprintf(&work, "%s/work.db", r.tmpdir) < 0) {
		work = NULL;
		nomem(&r);
		goto out;
	}
	if (own_out)
		ro.out_path = work;
	if (opts->rebuild.dry_run) {
		ro.dry_run = false;
		ro.no_archive = true;
		ro.archive_path = NULL;
	}
	if (gsr_rebuild_run(ctx, rules, path, &ro, &res->rb) != 0)
		goto out;
	res->rebuilt = true;
	res->ms_rebuild = res->rb.ms_total;
	rebuilt = strdup(res->rb.out_path);
	if (rebuilt == NULL || open_work(&r, rebuilt, work)) {
		nomem(&r);
		goto out;
	}
	t0 = gsr_now_ms();
	if (effects(&r))
		goto out;
	if (!opts->rebuild.dry_run) {
		for (size_t i = 0; i < r.model.n; i++)
			if (copy_table(&r, &r.model.t[i], &res->tables[i]))
				goto out;
		if (finish_schema(&r) || stamp_alembic(&r))
			goto out;
	}
	if (set_sequences(&r) || gsr_ctx_check_cancel(ctx))
		goto out;
	if (!opts->rebuild.dry_run) {
		if (mig_exec(ctx, r.pg, r.pw, "COMMIT", "COMMIT"))
			goto out;
		in_tx = false;
		res->loaded = true;
	}
	res->ms_load += gsr_now_ms() - t0;
out:
	if (in_tx && r.pg && PQstatus(r.pg) == CONNECTION_OK) {
		PGresult *q = PQexec(r.pg, "ROLLBACK");
		PQclear(q);
	}
	if (r.pg)
		PQfinish(r.pg);
	if (r.db)
		sqlite3_close(r.db);
	mig_model_release(&r.model);
	if (gsr_ctx_failed(ctx) && res->rebuilt && !opts->rebuild.dry_run) {
		/* Nothing of a failed run is left: its rebuilt file and
		 * archive. */
		if (!own_out && res->rb.out_path)
			unlink(res->rb.out_path);
		if (res->rb.archive_path)
			unlink(res->rb.archive_path);
	}
	if (work)
		gsr_temp_unregister(work);
	remove_tmpdir(r.tmpdir);
	free(r.pw);
	free(rebuilt);
	free(work);
	return gsr_ctx_failed(ctx) ? -1 : 0;
}

void
gsr_migrate_release(struct gsr_migrate *res)
{
	gsr_rebuild_release(&res->rb);
	free(res->target_display);
	free(res->server_version);
	free(res->schema);
	free(res->alembic);
	for (size_t i = 0; i < res->n_tables; i++) {
		free(res->tables[i].name);
		free(res->tables[i].sequence);
	}
	free(res->tables);
	for (size_t i = 0; i < res->n_qrows; i++) {
		free(res->qrows[i].table);
		free(res->qrows[i].reason);
		free(res->qrows[i].values);
	}
	free(res->qrows);
	for (size_t i = 0; i < res->n_effects; i++)
		sv_release(&res->effects[i].examples);
	free(res->effects);
	memset(res, 0, sizeof *res);
}
