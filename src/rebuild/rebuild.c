/* rebuild.c -- rebuild a GPUStack database as a clean release. */
#include "compat.h"
#include "rebuild.h"

#include "archive.h"
#include "dbopen.h"
#include "export.h"
#include "jsonw.h"
#include "paths.h"
#include "recover.h"
#include "schema.h"
#include "strbuf.h"
#include "tempfiles.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <libgen.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* Quarantine files open at once: one per table with quarantined rows. */
struct qfile {
	char *table;
	char *path;
	FILE *f;
	sqlite3_stmt *by_rowid; /* SELECT * FROM src.T WHERE rowid = ? */
};

/*
 * The checks of the output run in a thread of their own, on a connection
 * of their own, once the output is complete and closed: meanwhile the
 * main thread hashes the file, which the checks only read.
 */
struct verify_job {
	struct gsr_ctx ctx;
	const char *path;
	const struct gsr_label *target;
	pthread_t thread;
	bool running;
	double ms;
};

/* State of one run, beside the result it fills. */
struct run {
	struct gsr_ctx *ctx;
	const struct gsr_rules *rules;
	const struct gsr_rebuild_opts *opts;
	struct gsr_rebuild *res;
	const struct gsr_schema *src;  /* the input's schema */
	const struct gsr_label **path; /* labels crossed, in the order applied */
	size_t n_path;
	bool downgrade;
	const struct gsr_label *defaults_of_source; /* release for the source's defaults */

	sqlite3 *out;     /* the new database; src and stg attached */
	char *out_tmp;    /* its temporary path */
	char *stg_path;   /* staging database in the working directory */
	struct strvec staged; /* tables copied into staging */
	char *qdir;       /* quarantine directory in the working directory */
	struct qfile *q;
	size_t n_q, cap_q;
	struct verify_job verify; /* the checks of the output, in a thread */
	double t0;
	/* The import under way, for import_progress(): its phase ("" for
	 * none), its source rows and the range of their rowids. */
	char import_phase[GSR_PROGRESS_NAME_MAX + 1];
	int64_t import_rows, import_lo, import_hi;
};

static double
now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static void logf_(struct run *r, const char *fmt, ...) GSR_PRINTF(2, 3);

/* Append a line to the run's log, stamped with the time since start. */
static void
logf_(struct run *r, const char *fmt, ...)
{
	struct strbuf sb = STRBUF_INIT;
	va_list ap;

	sb_addf(&sb, "%9.1f ms  ", now_ms() - r->t0);
	va_start(ap, fmt);
	sb_vaddf(&sb, fmt, ap);
	va_end(ap);
	if (!sb.failed)
		sv_push_owned(&r->res->log, sb_detach(&sb));
	sb_release(&sb);
}

static int
exec_sql(struct run *r, const char *sql)
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

static int64_t
query_int(struct run *r, const char *sql)
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

/* ---- where the input sits in the lineage ----------------------------- */

/*
 * Where the input sits in the lineage.  Among labels with the same schema
 * the latest is taken: a transform belongs to the migration that made its
 * label's schema, so a database that has the schema has had the
 * transform.  The report names the source as identify names such a group
 * (gsr_rules_name_group()): res->source_label, and res->source_group the
 * labels it is placed among.  Returns 0, or -1 when out of memory.
 */
static int
place_source(const struct gsr_rules *rules, struct gsr_rebuild *res)
{
	const struct gsr_identify *id = &res->id;
	const struct strvec *sv = id->matches.n ? &id->matches
				  : id->schema_matches.n ? &id->schema_matches : NULL;
	int rc = 0;

	res->tables_only = false;
	if (sv) {
		res->source = gsr_rules_label(rules, sv->v[sv->n - 1]);
		res->placed_by = id->matches.n ? "its schema and revision match exactly"
					       : "its schema matches exactly";
		for (size_t i = 0; i < sv->n && rc == 0; i++)
			rc = sv_push(&res->source_group, sv->v[i]);
	} else {
		res->source = NULL;
		for (size_t i = 0; i < rules->n_labels; i++) {
			const struct gsr_label *l = rules->lineage[i];
			if (gsr_schema_same(l->schema, id->schema, true))
				res->source = l;
		}
		if (res->source) {
			res->placed_by = "its tables match exactly";
			res->tables_only = true;
		} else {
			/* identify names the nearest build by its group:
			 * the latest of the group places the input. */
			res->placed_by = "the build with the fewest differences";
			for (size_t i = 0; i < rules->n_labels; i++) {
				const struct gsr_label *l = rules->lineage[i];
				if (gsr_schema_same(l->schema, id->nearest_build->schema, false))
					res->source = l;
			}
		}
		rc = gsr_rules_schema_group(rules, res->source, res->tables_only,
					    &res->source_group);
	}
	res->source_label = gsr_rules_name_group(rules, &res->source_group, id->alembic);
	if (res->source_label == NULL)
		res->source_label = res->source;
	return rc;
}

/* The labels whose migrations move the data from source to target. */
static int
plan_path(struct run *r)
{
	const struct gsr_label *s = r->res->source, *t = r->res->target;
	size_t n = 0;

	r->path = calloc(r->rules->n_labels, sizeof *r->path);
	if (r->path == NULL)
		return gsr_ctx_fail(r->ctx, GSR_ERR_NOMEM, "out of memory");
	if (s->order < t->order) {
		r->res->direction = "upgrade";
		for (const struct gsr_label *l = s->next; l; l = l->next) {
			r->path[n++] = l;
			if (l == t)
				break;
		}
	} else if (s->order > t->order) {
		r->res->direction = "downgrade";
		r->downgrade = true;
		for (const struct gsr_label *l = s; l && l != t; l = l->prev)
			r->path[n++] = l;
	}
	/* Source and target of one schema (the same tables, when placed by
	 * them): "same", whatever labels lie between; their transforms or
	 * downgrades, if any, still run. */
	if (s->order == t->order ||
	    gsr_schema_same(s->schema, t->schema, r->res->tables_only))
		r->res->direction = "same";
	r->n_path = n;
	/* The application defaults the source's data was written with. */
	r->defaults_of_source = NULL;
	for (const struct gsr_label *l = s; l; l = l->next)
		if (!strcmp(l->kind, "release")) {
			r->defaults_of_source = l;
			break;
		}
	return 0;
}

static const struct gsr_rule_default *
find_default(const struct gsr_label *l, const char *table, const char *column)
{
	if (l == NULL)
		return NULL;
	for (size_t i = 0; i < l->n_defaults; i++)
		if (!strcmp(l->defaults[i].table, table) &&
		    !strcmp(l->defaults[i].column, column))
			return &l->defaults[i];
	return NULL;
}

static const struct gsr_rule_enum *
find_enum(const struct gsr_label *l, const char *table, const char *column)
{
	for (size_t i = 0; i < l->n_enums; i++)
		if (!strcmp(l->enums[i].table, table) &&
		    !strcmp(l->enums[i].column, column) && !l->enums[i].array)
			return &l->enums[i];
	return NULL;
}

/* ---- the result's tables ------------------------------------------- */

static struct gsr_rebuild_table *
res_table(struct run *r, const char *name)
{
	struct gsr_rebuild *res = r->res;

	for (size_t i = 0; i < res->n_tables; i++)
		if (!strcmp(res->tables[i].name, name))
			return &res->tables[i];
	if (gsr_grow((void **)&res->tables, &res->cap_tables, res->n_tables + 1,
		     sizeof *res->tables)) {
		gsr_ctx_fail(r->ctx, GSR_ERR_NOMEM, "out of memory");
		return NULL;
	}
	struct gsr_rebuild_table *t = &res->tables[res->n_tables++];
	t->name = strdup(name);
	t->from = "none";
	return t;
}

/* The name under which the rows of a source table can be addressed, or
 * NULL when they cannot (WITHOUT ROWID, or every alias is a column). */
static const char *
rowid_name(const struct gsr_table *t)
{
	static const char *const names[] = { "rowid", "_rowid_", "oid" };

	if (t == NULL || t->without_rowid || t->is_virtual)
		return NULL;
	for (size_t i = 0; i < GSR_ARRAY_LEN(names); i++)
		if (!gsr_table_column(t, names[i]))
			return names[i];
	return NULL;
}

static bool
is_bookkeeping(const char *table)
{
	return !strcmp(table, "alembic_version") || !strcmp(table, "sqlite_sequence");
}

/* ---- quarantine ------------------------------------------------------ */

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
		gsr_ctx_fail(r->ctx, GSR_ERR_IO, "cannot create '%s': %s", q->path,
			     strerror(errno));
		return NULL;
	}
	const struct gsr_table *st = gsr_schema_table(r->src, table);
	const char *rid = rowid_name(st);
	if (rid) {
		char *sql = sqlite3_mprintf("SELECT * FROM src.\"%w\" WHERE %s = ?1",
					    table, rid);
		if (sql == NULL || sqlite3_prepare_v2(r->out, sql, -1, &q->by_rowid,
						      NULL) != SQLITE_OK)
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

/* Quarantine the rows a query returns as (rowid, reason). */
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
		gsr_ctx_fail(r->ctx, GSR_ERR_INPUT, "rebuild: %s", sqlite3_errmsg(r->out));
	sqlite3_finalize(st);
	return gsr_ctx_failed(r->ctx) ? -1 : n;
}

/* Every row of a source table the target does not have. */
static int
quarantine_table(struct run *r, const struct gsr_table *t, const char *reason)
{
	struct gsr_rebuild_table *rt = res_table(r, t->name);
	const char *rid = rowid_name(t);
	sqlite3_stmt *st = NULL;
	char *sql;
	int rc;

	if (rt == NULL)
		return -1;
	rt->from = "source";
	sql = rid ? sqlite3_mprintf("SELECT %s, * FROM src.\"%w\"", rid, t->name)
		  : sqlite3_mprintf("SELECT * FROM src.\"%w\"", t->name);
	if (sql == NULL || sqlite3_prepare_v2(r->out, sql, -1, &st, NULL) != SQLITE_OK) {
		gsr_ctx_fail(r->ctx, GSR_ERR_INPUT, "rebuild: cannot read '%s': %s",
			     t->name, sqlite3_errmsg(r->out));
		sqlite3_free(sql);
		return -1;
	}
	sqlite3_free(sql);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		rt->source_rows++;
		if (quarantine(r, t->name, rid ? sqlite3_column_int64(st, 0) : 0,
			       rid != NULL, reason, st, rid ? 1 : 0) != 0 ||
		    (rt->source_rows % 4096 == 0 && gsr_ctx_check_cancel(r->ctx)))
			break;
		rt->quarantined++;
	}
	if (rc != SQLITE_ROW && rc != SQLITE_DONE)
		gsr_ctx_fail(r->ctx, GSR_ERR_INPUT, "rebuild: cannot read '%s': %s",
			     t->name, sqlite3_errmsg(r->out));
	sqlite3_finalize(st);
	return gsr_ctx_failed(r->ctx) ? -1 : 0;
}

/* ---- staging and transforms ----------------------------------------- */

/* Does the SQL name the table (as a whole word)?  A transform can only
 * change tables it names; only those are staged. */
static bool
sql_names(const char *sql, const char *table)
{
	size_t n = strlen(table);

	for (const char *p = sql; (p = strcasestr(p, table)) != NULL; p += n) {
		bool before = p == sql || !(isalnum((unsigned char)p[-1]) || p[-1] == '_');
		bool after = !(isalnum((unsigned char)p[n]) || p[n] == '_');
		if (before && after)
			return true;
	}
	return false;
}

static const struct gsr_rule_block *
path_block(const struct run *r, size_t i, size_t k, size_t *n)
{
	const struct gsr_label *l = r->path[i];
	*n = r->downgrade ? l->n_downgrades : l->n_transforms;
	if (k >= *n)
		return NULL;
	return r->downgrade ? &l->downgrades[k] : &l->transforms[k];
}

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

/* Every column the table has in the source or in any label: a transform
 * may read a column the input never had (a mixture), which then reads as
 * NULL instead of failing. */
static int
union_columns(struct run *r, const char *table, struct strvec *cols)
{
	const struct gsr_table *st = gsr_schema_table(r->src, table);

	for (size_t i = 0; st && i < st->n_cols; i++)
		if (!sv_contains(cols, st->cols[i].name) && sv_push(cols, st->cols[i].name))
			return -1;
	for (size_t i = 0; i < r->rules->n_labels; i++) {
		const struct gsr_label *l = r->rules->lineage[i];
		const struct gsr_table *lt = gsr_schema_table(l->schema, table);
		for (size_t c = 0; lt && c < lt->n_cols; c++)
			if (!sv_contains(cols, lt->cols[c].name) &&
			    sv_push(cols, lt->cols[c].name))
				return -1;
	}
	return 0;
}

/*
 * Copy each table a transform on the path names into the staging
 * database, with every column of the union (untyped, so values keep their
 * storage class), keyed by the source rowid.  Triggers record what the
 * transforms then update and delete.
 */
static int
stage(struct run *r, sqlite3 *stg)
{
	struct strvec names = STRVEC_INIT;
	int rc = -1;

	/* The tables to stage: those the transforms name. */
	for (size_t i = 0; i < r->n_path; i++) {
		size_t n;
		for (size_t k = 0; path_block(r, i, k, &n); k++) {
			const struct gsr_rule_block *b = path_block(r, i, k, &n);
			for (size_t t = 0; t < r->rules->n_labels; t++) {
				const struct gsr_schema *ls = r->rules->labels[t].schema;
				for (size_t j = 0; j < ls->n_tables; j++) {
					const char *tn = ls->tables[j].name;
					if (!is_bookkeeping(tn) && !sv_contains(&names, tn) &&
					    sql_names(b->sql, tn) && sv_push(&names, tn))
						goto oom;
				}
			}
		}
	}
	if (gsr_db_exec(r->ctx, stg,
			"CREATE TABLE _gsr_step (name TEXT);"
			"INSERT INTO _gsr_step VALUES ('');"
			"CREATE TABLE _gsr_deleted (tbl TEXT, rid INTEGER, step TEXT);"
			"CREATE TABLE _gsr_touched (tbl TEXT, rid INTEGER, "
			"PRIMARY KEY (tbl, rid)) WITHOUT ROWID;"))
		goto out;
	for (size_t i = 0; i < names.n; i++) {
		const char *t = names.v[i];
		const struct gsr_table *st = gsr_schema_table(r->src, t);
		const char *rid = rowid_name(st);
		struct strvec cols = STRVEC_INIT;
		struct strbuf sql = STRBUF_INIT;

		if (st && !rid)
			continue; /* not addressable: left to the import */
		if (union_columns(r, t, &cols)) {
			sv_release(&cols);
			goto oom;
		}
		/* t comes from the rules (a plain name); the columns may come
		 * from the input and are quoted as identifiers. */
		sb_addf(&sql, "CREATE TABLE main.\"%s\" (_gsr_rowid INTEGER PRIMARY KEY", t);
		for (size_t c = 0; c < cols.n; c++) {
			sb_adds(&sql, ", ");
			sb_add_ident(&sql, cols.v[c]);
		}
		sb_adds(&sql, ");");
		if (st) {
			sb_addf(&sql, "INSERT INTO main.\"%s\" (_gsr_rowid", t);
			for (size_t c = 0; c < st->n_cols; c++) {
				sb_adds(&sql, ", ");
				sb_add_ident(&sql, st->cols[c].name);
			}
			sb_addf(&sql, ") SELECT %s", rid);
			for (size_t c = 0; c < st->n_cols; c++) {
				sb_adds(&sql, ", ");
				sb_add_ident(&sql, st->cols[c].name);
			}
			sb_addf(&sql, " FROM src.\"%s\";", t);
		}
		sb_addf(&sql, "CREATE TEMP TRIGGER \"_gsr_d_%s\" BEFORE DELETE ON main.\"%s\" "
			"BEGIN INSERT INTO _gsr_deleted SELECT '%s', OLD._gsr_rowid, name "
			"FROM _gsr_step; END;", t, t, t);
		sb_addf(&sql, "CREATE TEMP TRIGGER \"_gsr_u_%s\" AFTER UPDATE ON main.\"%s\" "
			"BEGIN INSERT OR IGNORE INTO _gsr_touched VALUES ('%s', NEW._gsr_rowid); "
			"END;", t, t, t);
		sv_release(&cols);
		if (sql.failed || gsr_db_exec(r->ctx, stg, sb_str(&sql))) {
			sb_release(&sql);
			if (!gsr_ctx_failed(r->ctx))
				goto oom;
			goto out;
		}
		sb_release(&sql);
		if (sv_push(&r->staged, t))
			goto oom;
		logf_(r, "staged %s", t);
	}

	/* Run the transforms (or downgrades) in order. */
	for (size_t i = 0; i < r->n_path; i++) {
		size_t n;
		for (size_t k = 0; path_block(r, i, k, &n); k++) {
			const struct gsr_rule_block *b = path_block(r, i, k, &n);
			sqlite3_stmt *st = NULL;
			int64_t before_del, before_chg;
			char *err = NULL;

			if (sqlite3_prepare_v2(stg, "UPDATE _gsr_step SET name = ?1", -1,
					       &st, NULL) == SQLITE_OK) {
				char *step = sqlite3_mprintf("%s/%s", r->path[i]->name, b->name);
				sqlite3_bind_text(st, 1, step, -1, sqlite3_free);
				sqlite3_step(st);
			}
			sqlite3_finalize(st);
			before_del = stg_count(stg, "SELECT count(*) FROM _gsr_deleted");
			before_chg = stg_count(stg, "SELECT count(*) FROM _gsr_touched");
			if (sqlite3_exec(stg, b->sql, NULL, NULL, &err) != SQLITE_OK) {
				gsr_ctx_fail(r->ctx, GSR_ERR_RULES,
					     "the %s of %s '%s' fails on this data: %s",
					     r->downgrade ? "downgrade" : "transform",
					     r->path[i]->name, b->name, err ? err : "?");
				sqlite3_free(err);
				goto out;
			}
			if (gsr_grow((void **)&r->res->transforms, &r->res->cap_transforms,
				     r->res->n_transforms + 1, sizeof *r->res->transforms))
				goto oom;
			struct gsr_rebuild_transform *tr =
				&r->res->transforms[r->res->n_transforms++];
			tr->label = r->path[i]->name;
			tr->name = b->name;
			tr->downgrade = r->downgrade;
			tr->deleted = stg_count(stg, "SELECT count(*) FROM _gsr_deleted") - before_del;
			tr->changed = stg_count(stg, "SELECT count(*) FROM _gsr_touched") - before_chg;
			logf_(r, "%s %s/%s: %" PRId64 " change(s), %" PRId64 " row(s) deleted",
			      r->downgrade ? "downgrade" : "transform", r->path[i]->name,
			      b->name, tr->changed, tr->deleted);
		}
	}
	rc = 0;
	goto out;
oom:
	gsr_ctx_fail(r->ctx, GSR_ERR_NOMEM, "out of memory");
out:
	sv_release(&names);
	return rc;
}

/* ---- import ------------------------------------------------------------ */

struct cond {
	char *sql;    /* an SQL expression over "r" */
	char *reason; /* why a row failing it is quarantined */
};

static void
conds_release(struct cond *c, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(c[i].sql);
		free(c[i].reason);
	}
	free(c);
}

/* The column of t that is an alias of its rowid, if any. */
static const struct gsr_column *
rowid_alias(const struct gsr_table *t)
{
	const struct gsr_column *pk = NULL;
	int n = 0;

	if (t->without_rowid)
		return NULL;
	for (size_t i = 0; i < t->n_cols; i++)
		if (t->cols[i].pk) {
			pk = &t->cols[i];
			n++;
		}
	return n == 1 && strcasecmp(pk->type, "INTEGER") == 0 ? pk : NULL;
}

static int
add_cond(struct cond **v, size_t *n, size_t *cap, char *sql, char *reason)
{
	if (sql == NULL || reason == NULL ||
	    gsr_grow((void **)v, cap, *n + 1, sizeof **v)) {
		free(sql);
		free(reason);
		return -1;
	}
	(*v)[*n].sql = sql;
	(*v)[*n].reason = reason;
	(*n)++;
	return 0;
}

static char *
dupf(const char *fmt, ...) GSR_PRINTF(1, 2);

static char *
dupf(const char *fmt, ...)
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

/* "r"."name", quoted. */
static char *
rcol(const char *name)
{
	struct strbuf sb = STRBUF_INIT;

	sb_adds(&sb, "r.");
	sb_add_ident(&sb, name);
	if (sb.failed) {
		sb_release(&sb);
		return NULL;
	}
	return sb_detach(&sb);
}

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
	pthread_t thread;
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
		gsr_ctx_fail(&ps->ctx, GSR_ERR_INPUT, "rebuild: %s (in: %.200s)",
			     sqlite3_errmsg(db), ps->sql);
		goto out;
	}
	ps->bad = sqlite3_column_int64(st, 0);
out:
	sqlite3_finalize(st);
	sqlite3_close(db);
	return NULL;
}

/*
 * The fast path for a table that is the same in source and target (the
 * bulk of a GPUStack database: system_loads, model_usages): when every
 * row passes the checks, INSERT INTO ... SELECT * lets SQLite copy the
 * records without decoding them, as VACUUM does.  For a big table the
 * rows are counted against the checks on another thread while they are
 * copied, and the copy is taken back if any fails.  Returns 0 when it
 * did, 1 when the table needs the row-by-row path (nothing written), -1
 * on error.
 */
static int
copy_whole(struct run *r, const struct gsr_table *tt, const struct gsr_table *st,
	   bool staged, size_t n_adjusted, const char *rel, const char *ok,
	   int64_t rows, int64_t *imported)
{
	struct gsr_diffs d = GSR_DIFFS_INIT;
	struct prescan ps = { .ctx = GSR_CTX_INIT, .bad = 0 };
	bool same, parallel = false;
	char *sql = NULL;
	int64_t before;
	int rc = -1, xrc;

	if (staged || st == NULL || n_adjusted || st->without_rowid)
		return 1;
	gsr_table_compare(tt, st, &d);
	same = d.n == 0 && !d.failed;
	gsr_diffs_release(&d);
	if (!same)
		return 1;
	if (strcmp(ok, "1") != 0) {
		ps.sql = dupf("SELECT count(*) FROM %s AS r WHERE NOT (%s)", rel, ok);
		if (ps.sql == NULL)
			return gsr_ctx_fail(r->ctx, GSR_ERR_NOMEM, "out of memory");
		ps.work_db = gsr_identify_source_db(&r->res->id);
		if (rows > PRESCAN_PARALLEL_ROWS &&
		    pthread_create(&ps.thread, NULL, prescan_main, &ps) == 0) {
			parallel = true;
		} else {
			ps.bad = query_int(r, ps.sql);
			if (ps.bad != 0) {
				rc = ps.bad < 0 ? -1 : 1;
				goto out;
			}
		}
	}
	/* The table is new and empty: the rows inserted are its rows. */
	sql = dupf("SAVEPOINT whole; INSERT INTO main.\"%s\" SELECT * FROM %s;",
		   tt->name, rel);
	if (sql == NULL) {
		gsr_ctx_fail(r->ctx, GSR_ERR_NOMEM, "out of memory");
		goto out;
	}
	before = sqlite3_total_changes64(r->out);
	xrc = sqlite3_exec(r->out, sql, NULL, NULL, NULL);
	if (parallel) {
		pthread_join(ps.thread, NULL);
		parallel = false;
		if (gsr_ctx_failed(&ps.ctx))
			gsr_ctx_fail(r->ctx, ps.ctx.err, "%s", ps.ctx.msg);
	}
	if (xrc != SQLITE_OK || ps.bad != 0) {
		/* Rows that fail a check, or a constraint the source did not
		 * enforce: go row by row. */
		sqlite3_exec(r->out, "ROLLBACK TO whole; RELEASE whole;", NULL, NULL, NULL);
		rc = ps.bad < 0 ? -1 : 1;
		goto out;
	}
	if (exec_sql(r, "RELEASE whole"))
		goto out;
	*imported = sqlite3_total_changes64(r->out) - before;
	rc = 0;
out:
	if (parallel)
		pthread_join(ps.thread, NULL);
	free(ps.sql);
	free(sql);
	return rc;
}

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
		     (uint64_t)(share > 1 ? r->import_rows : share * (double)r->import_rows),
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
	char *q = dupf("SELECT min(r.%s), max(r.%s) FROM %s AS r", rid, rid, rel);

	r->import_phase[0] = '\0';
	if (q != NULL && rows > 0 && r->ctx->progress != NULL &&
	    sqlite3_prepare_v2(r->out, q, -1, &st, NULL) == SQLITE_OK &&
	    sqlite3_step(st) == SQLITE_ROW) {
		r->import_lo = sqlite3_column_int64(st, 0);
		r->import_hi = sqlite3_column_int64(st, 1);
		r->import_rows = rows;
		snprintf(r->import_phase, sizeof r->import_phase, "import %s", T);
		sqlite3_set_last_insert_rowid(r->out, r->import_lo > INT64_MIN
							      ? r->import_lo - 1
							      : INT64_MIN);
		gsr_progress(r->ctx, r->import_phase, GSR_PROGRESS_ROWS, 0,
			     (uint64_t)rows);
	}
	sqlite3_finalize(st);
	free(q);
}

/*
 * Import the rows of one target table: by column name from the staged
 * copy (after transforms) or from the source, with the target's defaults
 * for the columns the source lacks; the rows that cannot go in are
 * quarantined with their reason.
 */
static int
import_table(struct run *r, const struct gsr_table *tt)
{
	const char *T = tt->name;
	const struct gsr_label *tgt = r->res->target;
	struct gsr_rebuild_table *rt = res_table(r, T);
	const struct gsr_table *st = gsr_schema_table(r->src, T);
	const struct gsr_table *known = gsr_schema_table(r->res->source->schema, T);
	const struct gsr_column *alias = rowid_alias(tt);
	bool staged = sv_contains(&r->staged, T);
	struct strvec avail = STRVEC_INIT;
	struct strbuf cols = STRBUF_INIT, exprs = STRBUF_INIT, ok = STRBUF_INIT,
		      why = STRBUF_INIT, rel = STRBUF_INIT;
	struct cond *conds = NULL;
	size_t n_conds = 0, cap_conds = 0;
	bool alias_mapped = false;
	const char *rid;
	char *sql = NULL;
	int rc = -1;

	if (rt == NULL)
		return -1;
	rt->in_target = true;
	if (!staged && (st == NULL || st->is_virtual)) {
		if (st)
			logf_(r, "%s: a virtual table in the source, not read", T);
		rc = 0;
		goto out;
	}
	if (!staged && rowid_name(st) == NULL) {
		rc = quarantine_table(r, st, "the source table's rows have no rowid "
				      "to keep (WITHOUT ROWID, or every rowid alias "
				      "is a column)");
		goto out;
	}
	rid = staged ? "_gsr_rowid" : rowid_name(st);
	if (staged) {
		if (union_columns(r, T, &avail))
			goto oom;
		sb_addf(&rel, "stg.\"%s\"", T);
		rt->from = "staging";
	} else {
		for (size_t i = 0; i < st->n_cols; i++)
			if (sv_push(&avail, st->cols[i].name))
				goto oom;
		sb_adds(&rel, "src.");
		sb_add_ident(&rel, T);
		rt->from = "source";
	}
	if (st) {
		char *q = sqlite3_mprintf("SELECT count(*) FROM src.\"%w\"", T);
		rt->source_rows = q ? query_int(r, q) : -1;
		sqlite3_free(q);
		if (rt->source_rows < 0)
			goto out;
	}
	import_track(r, T, sb_str(&rel), rid, rt->source_rows);

	/* The target's columns, each from the source or a default. */
	for (size_t i = 0; i < tt->n_cols; i++) {
		const struct gsr_column *c = &tt->cols[i];
		const struct gsr_rule_default *d = find_default(tgt, T, c->name);
		const struct gsr_rule_enum *e = find_enum(tgt, T, c->name);
		bool present = sv_contains(&avail, c->name);
		bool original = st && gsr_table_column(st, c->name);
		char *expr = NULL;

		if (present) {
			expr = rcol(c->name);
			if (expr && !original && d) {
				char *x = dupf("COALESCE(%s, %s)", expr, d->expr);
				free(expr);
				expr = x;
				sv_push_owned(&rt->defaulted,
					      dupf("%s = %s (where no transform set it)",
						   c->name, d->expr));
			}
		} else if (d) {
			expr = strdup(d->expr);
			sv_push_owned(&rt->defaulted, dupf("%s = %s", c->name, d->expr));
		} else if (c->dflt) {
			sv_push_owned(&rt->defaulted, dupf("%s = %s (the column's SQL DEFAULT)",
							   c->name, c->dflt));
			continue;
		} else if (c->notnull && c != alias) {
			if (add_cond(&conds, &n_conds, &cap_conds, strdup("0"),
				     dupf("NOT NULL column '%s' has no value in the source "
					  "and no default in %s", c->name, tgt->name)))
				goto oom;
			continue;
		} else {
			if (c != alias)
				sv_push_owned(&rt->defaulted, dupf("%s = NULL", c->name));
			continue;
		}
		if (expr == NULL)
			goto oom;
		if (cols.len) {
			sb_adds(&cols, ", ");
			sb_adds(&exprs, ", ");
		}
		sb_add_ident(&cols, c->name);
		sb_adds(&exprs, expr);
		if (c == alias)
			alias_mapped = true;
		if (c->notnull && c != alias &&
		    add_cond(&conds, &n_conds, &cap_conds, dupf("(%s) IS NOT NULL", expr),
			     dupf("NOT NULL column '%s' is NULL", c->name)))
			goto cond_oom;
		if (e) {
			struct strbuf in = STRBUF_INIT;
			for (size_t k = 0; k < e->values.n; k++) {
				char *lit = sqlite3_mprintf("%Q", e->values.v[k]);
				sb_addf(&in, "%s%s", k ? ", " : "", lit ? lit : "NULL");
				sqlite3_free(lit);
			}
			int arc = add_cond(&conds, &n_conds, &cap_conds,
					   dupf("(%s) IS NULL OR (%s) IN (%s)", expr, expr,
						sb_str(&in)),
					   dupf("'%s' is not one of the names %s accepts",
						c->name, tgt->name));
			sb_release(&in);
			if (arc)
				goto cond_oom;
		}
		free(expr);
		continue;
cond_oom:
		free(expr);
		goto oom;
	}
	/* Source columns the target does not have. */
	for (size_t i = 0; i < avail.n; i++) {
		const char *dname = avail.v[i];
		if (gsr_table_column(tt, dname))
			continue;
		if (st && gsr_table_column(st, dname))
			sv_push(&rt->dropped, dname);
		/* A migration that drops a column the source's build has is
		 * GPUStack's own doing; data in a column of a downgrade, or
		 * in one no build has, would be lost: quarantine the row. */
		bool by_lineage = known && gsr_table_column(known, dname);
		if (!(st && gsr_table_column(st, dname)) || (by_lineage && !r->downgrade))
			continue;
		const struct gsr_rule_default *sd =
			find_default(r->defaults_of_source, T, dname);
		char *x = rcol(dname);
		if (x == NULL ||
		    add_cond(&conds, &n_conds, &cap_conds,
			     sd ? dupf("%s IS NULL OR %s IS (%s)", x, x, sd->expr)
				: dupf("%s IS NULL", x),
			     dupf("column '%s' holds data and %s has no such column",
				  dname, tgt->name))) {
			free(x);
			goto oom;
		}
		free(x);
	}
	if (!alias_mapped) {
		if (cols.len) {
			sb_adds(&cols, ", ");
			sb_adds(&exprs, ", ");
		}
		sb_adds(&cols, "rowid");
		sb_addf(&exprs, "r.%s", rid);
	}
	sb_adds(&ok, "1");
	sb_adds(&why, "CASE");
	for (size_t i = 0; i < n_conds; i++) {
		char *lit = sqlite3_mprintf("%Q", conds[i].reason);
		sb_addf(&ok, " AND (CASE WHEN (%s) THEN 1 ELSE 0 END)", conds[i].sql);
		sb_addf(&why, " WHEN NOT (CASE WHEN (%s) THEN 1 ELSE 0 END) THEN %s",
			conds[i].sql, lit ? lit : "'?'");
		sqlite3_free(lit);
	}
	sb_adds(&why, " ELSE '?' END");
	if (cols.failed || exprs.failed || ok.failed || why.failed || rel.failed)
		goto oom;

	if (copy_whole(r, tt, st, staged, rt->defaulted.n + rt->dropped.n, sb_str(&rel),
		       sb_str(&ok), rt->source_rows, &rt->imported) == 0) {
		logf_(r, "%s: %" PRId64 " row(s) copied whole (the same table in "
		      "source and target, every row valid)", T, rt->imported);
		rt->quarantined = 0;
		rc = gsr_ctx_failed(r->ctx) ? -1 : 0;
		goto out;
	}
	if (gsr_ctx_failed(r->ctx))
		goto out;
	sql = dupf("INSERT OR IGNORE INTO main.\"%s\" (%s) SELECT %s FROM %s AS r WHERE %s",
		   T, sb_str(&cols), sb_str(&exprs), sb_str(&rel), sb_str(&ok));
	if (sql == NULL || exec_sql(r, sql))
		goto out;
	rt->imported = sqlite3_changes64(r->out);
	free(sql);

	/* The rows that fail a condition, with the first reason. */
	sql = dupf("SELECT r.%s, %s FROM %s AS r WHERE NOT (%s)", rid, sb_str(&why),
		   sb_str(&rel), sb_str(&ok));
	int64_t q1 = sql ? quarantine_query(r, T, sql) : -1;
	free(sql);
	/* The rows a UNIQUE constraint of the target turned away. */
	sql = dupf("SELECT r.%s, 'conflicts with a UNIQUE constraint of %s (a duplicate)' "
		   "FROM %s AS r WHERE (%s) AND NOT EXISTS (SELECT 1 FROM main.\"%s\" AS o "
		   "WHERE o.rowid = r.%s)", rid, tgt->name, sb_str(&rel), sb_str(&ok), T, rid);
	int64_t q2 = sql ? quarantine_query(r, T, sql) : -1;
	free(sql);
	int64_t q3 = 0;
	sql = NULL;
	if (staged) {
		char *lit = sqlite3_mprintf("%Q", T);
		sql = dupf("SELECT rid, 'deleted by the migration step ' || step "
			   "FROM stg._gsr_deleted WHERE tbl = %s", lit);
		sqlite3_free(lit);
		q3 = sql ? quarantine_query(r, T, sql) : -1;
		free(sql);
		sql = NULL;
		char *q = sqlite3_mprintf("SELECT count(*) FROM stg._gsr_touched WHERE tbl = %Q", T);
		rt->transformed = q ? query_int(r, q) : -1;
		sqlite3_free(q);
	}
	if (q1 < 0 || q2 < 0 || q3 < 0 || gsr_ctx_failed(r->ctx))
		goto out;
	rt->quarantined = q1 + q2 + q3;
	logf_(r, "%s: %" PRId64 " source row(s), %" PRId64 " imported, %" PRId64
	      " quarantined (from %s)", T, rt->source_rows, rt->imported,
	      rt->quarantined, rt->from);
	rc = 0;
	goto out;
oom:
	gsr_ctx_fail(r->ctx, GSR_ERR_NOMEM, "out of memory");
out:
	if (r->import_phase[0] != '\0')
		gsr_progress_end(r->ctx, r->import_phase);
	r->import_phase[0] = '\0';
	free(sql);
	conds_release(conds, n_conds);
	sv_release(&avail);
	sb_release(&cols);
	sb_release(&exprs);
	sb_release(&ok);
	sb_release(&why);
	sb_release(&rel);
	return rc;
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
		sqlite3_stmt *st = NULL;
		struct strvec tables = STRVEC_INIT, parents = STRVEC_INIT;
		int64_t *rowids = NULL;
		size_t n = 0, cap = 0;
		int rc;

		if (sqlite3_prepare_v2(r->out, "SELECT \"table\", rowid, parent FROM "
				       "pragma_foreign_key_check WHERE rowid IS NOT NULL",
				       -1, &st, NULL) != SQLITE_OK)
			return gsr_ctx_fail(r->ctx, GSR_ERR_INTERNAL, "foreign_key_check: %s",
					    sqlite3_errmsg(r->out));
		while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
			if (gsr_grow((void **)&rowids, &cap, n + 1, sizeof *rowids) ||
			    sv_push(&tables, (const char *)sqlite3_column_text(st, 0)) ||
			    sv_push(&parents, (const char *)sqlite3_column_text(st, 2))) {
				rc = SQLITE_NOMEM;
				break;
			}
			rowids[n++] = sqlite3_column_int64(st, 1);
		}
		sqlite3_finalize(st);
		for (size_t i = 0; i < n && rc == SQLITE_DONE; i++) {
			char *why = dupf("references a row of %s that does not exist "
					 "(a foreign key of %s)", parents.v[i],
					 r->res->target->name);
			char *del = sqlite3_mprintf("DELETE FROM main.\"%w\" WHERE rowid = %lld",
						    tables.v[i], (long long)rowids[i]);
			struct gsr_rebuild_table *rt = res_table(r, tables.v[i]);
			if (why == NULL || del == NULL || rt == NULL ||
			    quarantine(r, tables.v[i], rowids[i], true, why, NULL, 0) ||
			    exec_sql(r, del))
				rc = SQLITE_ERROR;
			else if (sqlite3_changes(r->out) == 1) {
				rt->imported--;
				rt->quarantined++;
			}
			free(why);
			sqlite3_free(del);
		}
		free(rowids);
		sv_release(&tables);
		sv_release(&parents);
		if (rc != SQLITE_DONE)
			return gsr_ctx_fail(r->ctx, rc == SQLITE_NOMEM ? GSR_ERR_NOMEM
								 : GSR_ERR_INTERNAL,
					    "foreign key enforcement failed: %s",
					    gsr_ctx_failed(r->ctx) ? r->ctx->msg
								   : sqlite3_errmsg(r->out));
		if (n == 0)
			return 0;
		logf_(r, "foreign keys: %zu row(s) quarantined (round %d)", n, round + 1);
	}
	return gsr_ctx_fail(r->ctx, GSR_ERR_INTERNAL, "foreign key enforcement does not settle");
}

/* ---- the output database ------------------------------------------- */

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
		bool early = !strcmp(o->type, "table") ||
			     (!strcmp(o->type, "index") && is_unique_index(src, o));

		if (early != (phase == 0))
			continue;
		if (!strcmp(o->type, "table") && !strcmp(o->name, "sqlite_sequence"))
			continue; /* made by SQLite with the AUTOINCREMENT table */
		if (exec_sql(r, o->sql))
			return -1;
	}
	return 0;
}

static int64_t
max_or(int64_t a, int64_t b)
{
	return a > b ? a : b;
}

/* alembic_version holds the target's revision; sqlite_sequence is at
 * least the source's for every AUTOINCREMENT table, so a deleted user's
 * id is never handed out again. */
static int
write_bookkeeping(struct run *r)
{
	const struct gsr_label *t = r->res->target;
	char *sql;

	sql = sqlite3_mprintf("INSERT INTO main.alembic_version (version_num) VALUES (%Q)",
			      t->alembic);
	if (sql == NULL || exec_sql(r, sql)) {
		sqlite3_free(sql);
		return -1;
	}
	sqlite3_free(sql);
	sv_push_owned(&r->res->bookkeeping,
		      dupf("alembic_version: %s -> %s", r->res->id.alembic ? r->res->id.alembic
							     : "(none)", t->alembic));
	for (size_t i = 0; i < t->schema->n_tables; i++) {
		const struct gsr_table *tt = &t->schema->tables[i];
		const struct gsr_table *st = gsr_schema_table(r->src, tt->name);
		int64_t seq = 0, v;

		if (!tt->autoincrement)
			continue;
		sql = sqlite3_mprintf("SELECT coalesce(max(rowid), 0) FROM main.\"%w\"", tt->name);
		v = sql ? query_int(r, sql) : -1;
		sqlite3_free(sql);
		seq = max_or(seq, v);
		if (st && rowid_name(st)) {
			sql = sqlite3_mprintf("SELECT coalesce(max(%s), 0) FROM src.\"%w\"",
					      rowid_name(st), tt->name);
			v = sql ? query_int(r, sql) : -1;
			sqlite3_free(sql);
			seq = max_or(seq, v);
		}
		if (gsr_schema_table(r->src, "sqlite_sequence")) {
			sql = sqlite3_mprintf("SELECT coalesce(max(CAST(seq AS INTEGER)), 0) "
					      "FROM src.sqlite_sequence WHERE name = %Q", tt->name);
			v = sql ? query_int(r, sql) : -1;
			sqlite3_free(sql);
			seq = max_or(seq, v);
		}
		if (gsr_ctx_failed(r->ctx))
			return -1;
		if (seq == 0)
			continue;
		sql = sqlite3_mprintf("DELETE FROM main.sqlite_sequence WHERE name = %Q; "
				      "INSERT INTO main.sqlite_sequence (name, seq) VALUES (%Q, %lld)",
				      tt->name, tt->name, (long long)seq);
		if (sql == NULL || exec_sql(r, sql)) {
			sqlite3_free(sql);
			return -1;
		}
		sqlite3_free(sql);
		sv_push_owned(&r->res->bookkeeping,
			      dupf("sqlite_sequence: %s = %" PRId64, tt->name, seq));
	}
	return 0;
}

/* The output must be what the target release's migrations create: its
 * schema exactly, integrity_check and foreign_key_check clean.  Reads db
 * (the output) only; errors go to ctx. */
static int
check_output(struct gsr_ctx *ctx, sqlite3 *db, const struct gsr_label *target)
{
	struct gsr_schema *s = gsr_schema_extract(ctx, db);
	sqlite3_stmt *st = NULL;
	const char *msg;
	int rc = -1;

	if (s == NULL)
		return -1;
	if (!gsr_schema_same(target->schema, s, false)) {
		gsr_ctx_fail(ctx, GSR_ERR_INTERNAL,
			     "the rebuilt schema is not exactly %s's", target->name);
		goto out;
	}
	if (sqlite3_prepare_v2(db, "PRAGMA main.integrity_check(1)", -1, &st, NULL) != SQLITE_OK ||
	    sqlite3_step(st) != SQLITE_ROW ||
	    (msg = (const char *)sqlite3_column_text(st, 0)) == NULL || strcmp(msg, "ok") != 0) {
		msg = st ? (const char *)sqlite3_column_text(st, 0) : NULL;
		gsr_ctx_fail(ctx, GSR_ERR_INTERNAL, "the rebuilt database fails "
			     "integrity_check: %s", msg ? msg : sqlite3_errmsg(db));
		goto out;
	}
	sqlite3_finalize(st);
	st = NULL;
	if (sqlite3_prepare_v2(db, "SELECT count(*) FROM pragma_foreign_key_check",
			       -1, &st, NULL) != SQLITE_OK ||
	    sqlite3_step(st) != SQLITE_ROW || sqlite3_column_int64(st, 0) != 0) {
		gsr_ctx_fail(ctx, GSR_ERR_INTERNAL, "the rebuilt database fails "
			     "foreign_key_check");
		goto out;
	}
	rc = 0;
out:
	sqlite3_finalize(st);
	gsr_schema_free(s);
	return rc;
}

/* SQLite's progress callback: stop a check once a signal has come. */
static int
verify_progress(void *arg)
{
	(void)arg;
	return gsr_cancel_requested();
}

/* The checks of the output, in a thread (struct verify_job). */
static void *
verify_main(void *arg)
{
	struct verify_job *job = arg;
	double t0 = now_ms();
	sqlite3 *db = gsr_db_open(&job->ctx, job->path, false);

	if (db != NULL) {
		sqlite3_progress_handler(db, 10000, verify_progress, NULL);
		check_output(&job->ctx, db, job->target);
	}
	sqlite3_close(db);
	/* A check cut short by a signal did not fail: the run was
	 * interrupted. */
	if (gsr_cancel_requested()) {
		gsr_ctx_clear(&job->ctx);
		gsr_ctx_check_cancel(&job->ctx);
	}
	job->ms = now_ms() - t0;
	return NULL;
}

static int
verify_start(struct run *r)
{
	struct verify_job *job = &r->verify;

	job->ctx = (struct gsr_ctx)GSR_CTX_INIT;
	job->path = r->out_tmp;
	job->target = r->res->target;
	if (pthread_create(&job->thread, NULL, verify_main, job) != 0)
		return gsr_ctx_fail(r->ctx, GSR_ERR_INTERNAL, "cannot start a thread: %s",
				    strerror(errno));
	job->running = true;
	return 0;
}

/* Wait for the checks; their failure becomes the run's. */
static int
verify_join(struct run *r)
{
	struct verify_job *job = &r->verify;

	if (!job->running)
		return gsr_ctx_failed(r->ctx) ? -1 : 0;
	pthread_join(job->thread, NULL);
	job->running = false;
	if (gsr_ctx_failed(&job->ctx))
		return gsr_ctx_fail(r->ctx, job->ctx.err, "%s", job->ctx.msg);
	logf_(r, "integrity_check and foreign_key_check pass; schema is %s's "
	      "(checked in %.0f ms, in parallel)", r->res->target->name, job->ms);
	return gsr_ctx_failed(r->ctx) ? -1 : 0;
}

static int
fsync_path(const char *path, bool dir)
{
	int fd = open(path, (dir ? O_RDONLY | O_DIRECTORY : O_RDWR) | O_CLOEXEC);
	int rc;

	if (fd < 0)
		return -1;
	rc = fsync(fd);
	close(fd);
	return rc;
}

static char *
dir_of(const char *path)
{
	char *c = strdup(path), *d;

	if (c == NULL)
		return NULL;
	d = strdup(dirname(c));
	free(c);
	return d;
}

/* "DIR/database" for "DIR/database.db": the stem output names start with. */
static char *
stem_of(const char *path)
{
	char *s = strdup(path);
	char *slash, *dot;

	if (s == NULL)
		return NULL;
	slash = strrchr(s, '/');
	dot = strrchr(s, '.');
	if (dot && (slash == NULL || dot > slash + 1))
		*dot = '\0';
	return s;
}

static int
build_output(struct run *r)
{
	struct gsr_rebuild *res = r->res;
	const struct gsr_label *t = res->target;
	sqlite3 *stg = NULL;
	int rc = -1;

	/* Staging: only when there are transforms to run. */
	size_t n_blocks = 0;
	for (size_t i = 0; i < r->n_path; i++) {
		size_t n;
		path_block(r, i, 0, &n);
		n_blocks += n;
	}
	if (n_blocks) {
		if (asprintf(&r->stg_path, "%s/staging.db", res->id.ev.workdir) < 0) {
			r->stg_path = NULL;
			return gsr_ctx_fail(r->ctx, GSR_ERR_NOMEM, "out of memory");
		}
		gsr_temp_register(r->stg_path);
		if ((stg = gsr_db_open_own(r->ctx, r->stg_path)) == NULL ||
		    gsr_db_exec(r->ctx, stg, "PRAGMA journal_mode=OFF; PRAGMA synchronous=OFF;") ||
		    gsr_db_attach_ro(r->ctx, stg, gsr_identify_source_db(&res->id), "src") ||
		    stage(r, stg))
			goto out;
		sqlite3_close(stg);
		stg = NULL;
	}

	r->out = gsr_db_open(r->ctx, r->out_tmp, true);
	if (r->out == NULL ||
	    exec_sql(r, "PRAGMA page_size=4096; PRAGMA journal_mode=OFF; "
		     "PRAGMA synchronous=OFF; PRAGMA foreign_keys=OFF; "
		     "PRAGMA cache_size=-4096; PRAGMA temp_store=FILE;") ||
	    gsr_db_attach_ro(r->ctx, r->out, gsr_identify_source_db(&res->id), "src") ||
	    (r->stg_path && gsr_db_attach_ro(r->ctx, r->out, r->stg_path, "stg")) ||
	    exec_sql(r, "BEGIN") || create_objects(r, 0))
		goto out;
	if (r->ctx->progress != NULL)
		sqlite3_progress_handler(r->out, 10000, import_progress, r);
	logf_(r, "created the tables of %s", t->name);

	for (size_t i = 0; i < t->schema->n_tables; i++) {
		const struct gsr_table *tt = &t->schema->tables[i];
		if (is_bookkeeping(tt->name))
			continue;
		if (import_table(r, tt) || gsr_ctx_check_cancel(r->ctx))
			goto out;
	}
	/* Source tables the target does not have. */
	for (size_t i = 0; i < r->src->n_tables; i++) {
		const struct gsr_table *st = &r->src->tables[i];
		if (is_bookkeeping(st->name) || st->is_virtual ||
		    gsr_schema_table(t->schema, st->name))
			continue;
		char *why = dupf("table '%s' does not exist in %s", st->name, t->name);
		int qrc = why ? quarantine_table(r, st, why) : -1;
		free(why);
		if (qrc)
			goto out;
		logf_(r, "%s: not in %s, every row quarantined", st->name, t->name);
	}
	if (enforce_foreign_keys(r))
		goto out;
	logf_(r, "foreign keys enforced");
	if (write_bookkeeping(r) || create_objects(r, 1) || exec_sql(r, "COMMIT"))
		goto out;
	logf_(r, "committed");
	/* The quarantine's lookups hold statements on src. */
	for (size_t i = 0; i < r->n_q; i++) {
		sqlite3_finalize(r->q[i].by_rowid);
		r->q[i].by_rowid = NULL;
	}
	if (exec_sql(r, "DETACH src") || (r->stg_path && exec_sql(r, "DETACH stg")))
		goto out;
	if (!strcmp(t->journal, "wal")) {
		/* WAL mode wants the file to itself: check it first. */
		if (check_output(r->ctx, r->out, t))
			goto out;
		logf_(r, "integrity_check and foreign_key_check pass; schema is %s's",
		      t->name);
		if (exec_sql(r, "PRAGMA main.journal_mode=WAL"))
			goto out;
	}
	if (sqlite3_close(r->out) != SQLITE_OK) {
		gsr_ctx_fail(r->ctx, GSR_ERR_IO, "cannot close the rebuilt database: %s",
			     sqlite3_errmsg(r->out));
		goto out;
	}
	r->out = NULL;
	/* The checks only read: they run while the file is synced and
	 * hashed. */
	if (strcmp(t->journal, "wal") != 0 && verify_start(r))
		goto out;
	if (fsync_path(r->out_tmp, false) != 0) {
		gsr_ctx_fail(r->ctx, GSR_ERR_IO, "cannot write '%s': %s", r->out_tmp,
			     strerror(errno));
		goto out;
	}
	rc = 0;
out:
	sqlite3_close(stg);
	if (r->out) {
		for (size_t i = 0; i < r->n_q; i++) {
			sqlite3_finalize(r->q[i].by_rowid);
			r->q[i].by_rowid = NULL;
		}
		sqlite3_exec(r->out, "ROLLBACK", NULL, NULL, NULL);
		sqlite3_close(r->out);
		r->out = NULL;
	}
	return rc;
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
			return gsr_ctx_fail(r->ctx, GSR_ERR_INTERNAL,
					    "rows do not reconcile for '%s': %" PRId64
					    " in the source, %" PRId64 " imported, %" PRId64
					    " quarantined", t->name, t->source_rows,
					    t->imported, t->quarantined);
		res->total_source += t->source_rows;
		res->total_imported += t->imported;
		res->total_quarantined += t->quarantined;
	}
	return 0;
}

/* ---- the export, on the second core ------------------------------- */

/*
 * The archive's threads yield to the main thread, whose build of the
 * output is the longer path: with two cores, the main thread keeps one
 * and the archive's threads share the other (and take both once the
 * main thread waits for them).  Threads they start inherit this.
 */
static void
lower_priority(void)
{
	pid_t tid = gettid();
	int prio;

	errno = 0;
	prio = getpriority(PRIO_PROCESS, (id_t)tid);
	if (errno == 0)
		setpriority(PRIO_PROCESS, (id_t)tid, prio + 5 > 19 ? 19 : prio + 5);
}

/* Threads the export of the source rows for the archive shares its tables
 * among (the big ones then compress side by side). */
#define EXPORT_THREADS 2

/* The full export of the source rows that goes into the archive runs in
 * threads of its own while the main thread builds the output: both only
 * read the working copy, each through its own connection.  Its files
 * are compressed into spools in the working directory, ready to be
 * copied into the archive. */
struct export_job {
	struct gsr_ctx ctx;
	const char *work_db;
	const char *spool_dir;
	const struct gsr_evidence *ev;
	struct gsr_export_result ex;
	pthread_t thread;
	bool running;
	double ms;
};

static void *
export_main(void *arg)
{
	struct export_job *job = arg;
	double t0 = now_ms();

	lower_priority();
	gsr_export_spool(&job->ctx, job->work_db, job->spool_dir, EXPORT_THREADS,
			 job->ev, &job->ex);
	job->ms = now_ms() - t0;
	return NULL;
}

static int
export_start(struct run *r, struct export_job *job)
{
	struct gsr_rebuild *res = r->res;

	job->work_db = gsr_identify_source_db(&res->id);
	job->spool_dir = res->id.ev.workdir;
	job->ev = &res->id.ev;
	if (pthread_create(&job->thread, NULL, export_main, job) != 0)
		return gsr_ctx_fail(r->ctx, GSR_ERR_INTERNAL, "cannot start a thread: %s",
				    strerror(errno));
	job->running = true;
	return 0;
}

/* Wait for the export; its error, if any, becomes the run's. */
static int
export_join(struct run *r, struct export_job *job)
{
	if (job->running) {
		pthread_join(job->thread, NULL);
		job->running = false;
		if (gsr_ctx_failed(&job->ctx))
			return gsr_ctx_fail(r->ctx, job->ctx.err, "export: %s", job->ctx.msg);
		logf_(r, "exported %" PRId64 " source row(s) for the archive in %.0f ms "
		      "(in parallel)", job->ex.total_rows, job->ms);
	}
	return gsr_ctx_failed(r->ctx) ? -1 : 0;
}

/* ---- the audit archive ---------------------------------------------- */

/* A member name for a table: its own name when it is plain, else N. */
static char *
member_name(const char *dir, size_t n, const char *table, const char *ext)
{
	bool plain = *table && strlen(table) < 128;

	for (const char *p = table; *p && plain; p++)
		plain = isalnum((unsigned char)*p) || strchr("_.-", *p);
	if (plain && table[0] == '.')
		plain = false;
	return plain ? dupf("%s/%03zu-%s%s", dir, n, table, ext)
		     : dupf("%s/%03zu-table%s", dir, n, ext);
}

struct meta_arg {
	const struct run *r;
};

static void
write_meta(struct jsonw *jw, void *arg)
{
	const struct run *r = ((struct meta_arg *)arg)->r;
	const struct gsr_rebuild *res = r->res;

	jw_key(jw, "output");
	jw_obj_begin(jw);
	jw_kstr(jw, "path", res->out_path);
	jw_kstr(jw, "sha256", res->out_sha256);
	jw_kint(jw, "size", (int64_t)res->out_size);
	jw_kstr(jw, "label", res->target->name);
	jw_obj_end(jw);
	jw_key(jw, "input");
	gsr_evidence_write_json(&res->id.ev, jw, true);
	jw_kstr(jw, "rules_dir", r->rules->dir);
	jw_key(jw, "rows");
	jw_obj_begin(jw);
	jw_kint(jw, "source", res->total_source);
	jw_kint(jw, "imported", res->total_imported);
	jw_kint(jw, "quarantined", res->total_quarantined);
	jw_obj_end(jw);
}

/* A JSON document in memory, written by fn. */
static char *
json_doc(void (*fn)(const void *, struct jsonw *), const void *arg, size_t *len)
{
	char *buf = NULL;
	FILE *m = open_memstream(&buf, len);
	struct jsonw jw;

	if (m == NULL)
		return NULL;
	jw_init(&jw, m, true);
	jw_obj_begin(&jw);
	fn(arg, &jw);
	jw_obj_end(&jw);
	jw_end_line(&jw);
	if (fclose(m) != 0) {
		free(buf);
		return NULL;
	}
	return buf;
}

static void
identify_doc(const void *arg, struct jsonw *jw)
{
	gsr_identify_write_json(arg, jw);
}

static void
rebuild_doc(const void *arg, struct jsonw *jw)
{
	gsr_rebuild_write_json(arg, jw);
}

/*
 * The input files go into the archive as custody copies them: each piece
 * it reads and hashes is also handed to a pipe, whose thread compresses
 * it into a spool.  The input is read once, its compression overlaps
 * with the copy, and the member's SHA-256 is custody's own.
 */
struct input_tee {
	struct gsr_evidence_tee tee;
	struct gsr_archive_spool *sp;
	struct gsr_archive_pipe *pipe;
	size_t idx[GSR_EV_NFILES]; /* each present file's member in sp */
};

static int
tee_begin(struct gsr_ctx *ctx, void *arg, int role)
{
	struct input_tee *t = arg;
	return gsr_archive_pipe_begin(ctx, t->pipe, &t->idx[role]);
}

static int
tee_data(struct gsr_ctx *ctx, void *arg, const void *p, size_t n)
{
	struct input_tee *t = arg;
	return gsr_archive_pipe_write(ctx, t->pipe, p, n);
}

static int
tee_end(struct gsr_ctx *ctx, void *arg, int role, uint64_t size,
	const char sha256[GSR_SHA256_HEX])
{
	struct input_tee *t = arg;
	(void)role;
	return gsr_archive_pipe_end(ctx, t->pipe, size, sha256);
}

static int
input_tee_start(struct gsr_ctx *ctx, struct input_tee *t)
{
	if ((t->sp = gsr_archive_spool_new(ctx, gsr_tmp_dir())) == NULL ||
	    (t->pipe = gsr_archive_pipe_new(ctx, t->sp)) == NULL)
		return -1;
	t->tee = (struct gsr_evidence_tee){ tee_begin, tee_data, tee_end, t };
	return 0;
}

/* After the thread that reads the spool is joined.  Accepts a tee never
 * started. */
static void
input_tee_release(struct input_tee *t)
{
	gsr_archive_pipe_free(t->pipe);
	gsr_archive_spool_free(t->sp);
	t->pipe = NULL;
	t->sp = NULL;
}

/*
 * The audit archive is begun, in a thread of its own, with what is known
 * before the rebuild: the input byte for byte (from the tee's spool) and
 * the page reader's ledger.  The identify report follows in
 * archive_end(), once identify's checks are in.
 */
struct input_job {
	struct gsr_ctx ctx;
	struct gsr_archive *ar;
	struct input_tee *tee;
	const struct gsr_rebuild *res; /* only its id, which nothing changes */
	char *recovery_dir; /* the page reader's ledger as JSON Lines, or NULL */
	pthread_t thread;
	bool running;
	double ms;
};

static void *
input_main(void *arg)
{
	struct input_job *job = arg;
	const struct gsr_rebuild *res = job->res;
	double t0 = now_ms();

	lower_priority();
	if (gsr_archive_pipe_close(&job->ctx, job->tee->pipe))
		goto out;
	for (int i = 0; i < GSR_EV_NFILES; i++) {
		const struct gsr_ev_file *f = &res->id.ev.files[i];
		char *name, *base;
		if (!f->present)
			continue;
		/* The file's own name when it is plain; a name that tar
		 * might read differently becomes database, database-wal... */
		base = strrchr(f->path, '/');
		base = base ? base + 1 : f->path;
		bool plain = *base && base[0] != '.' && strlen(base) < 200;
		for (const char *p = base; *p && plain; p++)
			plain = isalnum((unsigned char)*p) || strchr("_.-+", *p);
		name = plain ? dupf("input/%s", base)
			     : dupf("input/database%s", i == GSR_EV_DB ? ""
					 : i == GSR_EV_WAL ? "-wal" : "-journal");
		int arc = name ? gsr_archive_add_spooled(&job->ctx, job->ar, name,
							 job->tee->sp, job->tee->idx[i])
			       : -1;
		free(name);
		if (arc)
			goto out;
	}
	/* Where each recovered row came from, and the rows that are not
	 * live: the page reader's ledger, written by archive_begin(). */
	if (job->recovery_dir &&
	    gsr_archive_add_tree(&job->ctx, job->ar, "recovery", job->recovery_dir))
		goto out;
out:
	gsr_progress_end(&job->ctx, "archive");
	job->ms = now_ms() - t0;
	return NULL;
}

/* Create the archive and start writing its first members. */
static int
archive_begin(struct run *r, struct input_job *job, struct input_tee *tee)
{
	job->res = r->res;
	job->tee = tee;
	if (r->res->id.recovered) {
		/* Written here, on the main thread: the ledger is read with
		 * SQLite and its files registered for removal on a signal. */
		job->recovery_dir = dupf("%s/recovery", r->res->id.ev.workdir);
		if (job->recovery_dir == NULL)
			return gsr_ctx_fail(r->ctx, GSR_ERR_NOMEM, "out of memory");
		if (gsr_recover_export_ledger(r->ctx, r->res->id.ledger_db,
					      &r->res->id.rec, job->recovery_dir))
			return -1;
	}
	job->ar = gsr_archive_create(r->ctx, r->res->archive_path, r->opts->force,
				     r->opts->now);
	if (job->ar == NULL)
		return -1;
	if (pthread_create(&job->thread, NULL, input_main, job) != 0)
		return gsr_ctx_fail(r->ctx, GSR_ERR_INTERNAL, "cannot start a thread: %s",
				    strerror(errno));
	job->running = true;
	return 0;
}

/* Wait for the first members; their error, if any, becomes the run's. */
static int
archive_join(struct run *r, struct input_job *job)
{
	if (job->running) {
		pthread_join(job->thread, NULL);
		job->running = false;
		if (job->recovery_dir)
			gsr_recover_forget_ledger_files(job->recovery_dir);
		if (gsr_ctx_failed(&job->ctx))
			return gsr_ctx_fail(r->ctx, job->ctx.err, "%s", job->ctx.msg);
		logf_(r, "archive: input written in %.0f ms "
		      "(in parallel)", job->ms);
	}
	return gsr_ctx_failed(r->ctx) ? -1 : 0;
}

/* Finish the archive begun by archive_begin (which it takes over): the
 * export (from its spools), the quarantine, the rules, the report and
 * log, the manifest. */
static int
archive_end(struct run *r, struct gsr_archive *ar, const struct export_job *job)
{
	struct gsr_rebuild *res = r->res;
	struct meta_arg meta = { r };
	struct strbuf log = STRBUF_INIT;
	char *doc = NULL;
	size_t len = 0;
	int rc = -1;

	/* Written now that identify's checks are in. */
	if ((doc = json_doc(identify_doc, &res->id, &len)) == NULL) {
		gsr_ctx_fail(r->ctx, GSR_ERR_NOMEM, "out of memory");
		goto out;
	}
	if (gsr_archive_add_buffer(r->ctx, ar, "identify.json", doc, len))
		goto out;
	free(doc);
	doc = NULL;
	if (gsr_export_add_to_archive(r->ctx, ar, "export", &job->ex))
		goto out;
	for (size_t i = 0; i < r->n_q; i++) {
		char *name = member_name("quarantine", i + 1, r->q[i].table, ".jsonl");
		if (fflush(r->q[i].f) != 0) {
			free(name);
			gsr_ctx_fail(r->ctx, GSR_ERR_IO, "cannot write '%s': %s",
				     r->q[i].path, strerror(errno));
			goto out;
		}
		int arc = name ? gsr_archive_add_file(r->ctx, ar, name, r->q[i].path) : -1;
		free(name);
		if (arc)
			goto out;
	}
	if (gsr_archive_add_tree(r->ctx, ar, "rules", r->rules->dir))
		goto out;
	logf_(r, "archive: export, quarantine and rules written");
	if ((doc = json_doc(rebuild_doc, res, &len)) == NULL ||
	    gsr_archive_add_buffer(r->ctx, ar, "rebuild/report.json", doc, len))
		goto out;
	for (size_t i = 0; i < res->log.n; i++)
		sb_addf(&log, "%s\n", res->log.v[i]);
	if (log.failed || gsr_archive_add_buffer(r->ctx, ar, "rebuild/log.txt",
						  sb_str(&log), log.len))
		goto out;
	res->archive_members = gsr_archive_n_members(ar) + 1;
	rc = gsr_archive_finish(r->ctx, ar, write_meta, &meta, res->archive_sha256);
	ar = NULL;
out:
	gsr_progress_end(r->ctx, "archive");
	gsr_archive_abort(ar);
	free(doc);
	sb_release(&log);
	return rc;
}

/* ---- the run ----------------------------------------------------------- */

static int
hash_file(struct gsr_ctx *ctx, const char *path, char out[GSR_SHA256_HEX],
	  uint64_t *size)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0 || gsr_sha256_fd(fd, out, size) != 0) {
		if (fd >= 0)
			close(fd);
		return gsr_ctx_fail(ctx, GSR_ERR_IO, "cannot read '%s': %s", path,
				    strerror(errno));
	}
	close(fd);
	return 0;
}

static bool
exists(const char *path)
{
	struct stat st;
	return lstat(path, &st) == 0;
}

/*
 * One attempt at gsr_rebuild_run().  With speculate, identify's data
 * checks run beside the build (identify.h, async_checks): a sound input,
 * the common case, then costs no wait for them.  When they find damage,
 * everything made is discarded and 1 is returned: the caller starts
 * again without speculate, so that the page reader reads the input.
 */
static int
rebuild_attempt(struct gsr_ctx *ctx, const struct gsr_rules *rules,
		const char *path, const struct gsr_rebuild_opts *opts,
		struct gsr_rebuild *res, bool speculate)
{
	struct run r = { .ctx = ctx, .rules = rules, .opts = opts, .res = res };
	/* Their threads report progress on the run's sink. */
	struct export_job job = { .ctx = gsr_ctx_child(ctx) };
	struct input_job ajob = { .ctx = gsr_ctx_child(ctx) };
	struct input_tee tee = { 0 };
	struct gsr_identify_opts iopts = { 0 };
	char *stem = NULL, *outdir = NULL;
	char stamp[32];
	int fd = -1, rc = -1;

	if (gsr_ctx_failed(ctx))
		return -1;
	r.t0 = now_ms();
	res->target = gsr_rules_label(rules, opts->target);
	if (res->target == NULL || strcmp(res->target->kind, "release") != 0)
		return gsr_ctx_fail(ctx, GSR_ERR_USAGE,
				    "'%s' is not a release the rules know "
				    "('gsrecover rules list' shows them)", opts->target);
	if (!opts->dry_run && !opts->no_archive) {
		if (input_tee_start(ctx, &tee))
			goto out;
		res->id.ev.tee = &tee.tee;
	}
	/* When the page reader runs, deleted rows are carved for the
	 * archive; they are imported only with --include-deleted. */
	iopts.deleted = true;
	iopts.recover = opts->include_deleted;
	iopts.defer_recheck = true; /* done below, once the output is built */
	iopts.async_checks = speculate;
	iopts.rollback_copy = true; /* attached read-only by several threads */
	if (!speculate)
		logf_(&r, "identify's checks found damage while the rebuild ran: "
		      "started again, with the page reader");
	if (gsr_identify_run(ctx, rules, path, &iopts, &res->id) != 0)
		goto out;
	res->id.ev.tee = NULL;
	if (res->id.verdict == GSR_VERDICT_UNREADABLE) {
		gsr_ctx_fail(ctx, GSR_ERR_INPUT, "'%s': %s", res->id.ev.path,
			     res->id.unreadable ? res->id.unreadable : "unreadable");
		goto out;
	}
	if (res->id.verdict == GSR_VERDICT_NOT_GPUSTACK) {
		gsr_ctx_fail(ctx, GSR_ERR_INPUT, "'%s' is not a GPUStack database",
			     res->id.ev.path);
		goto out;
	}
	if (res->id.ev.n_holders && !opts->force) {
		gsr_ctx_fail(ctx, GSR_ERR_BUSY,
			     "process %d (%s) holds '%s' open: stop the GPUStack "
			     "server first (a copy taken under a live writer is not "
			     "consistent), or use --force",
			     res->id.ev.holders[0].pid, res->id.ev.holders[0].comm,
			     res->id.ev.path);
		goto out;
	}
	if (opts->include_deleted && res->id.recovered) {
		/* The carved rows join the source's, so that the rebuild
		 * imports (or quarantines) them like any other. */
		if (gsr_recover_import_deleted(ctx, res->id.recovered_db,
					       res->id.ledger_db,
					       &res->deleted_imported,
					       &res->deleted_refused))
			goto out;
		logf_(&r, "--include-deleted: %" PRId64 " carved row(s) imported into "
		      "the source, %" PRId64 " not", res->deleted_imported,
		      res->deleted_refused);
	}
	r.src = res->id.schema;
	if (place_source(rules, res))
		goto oom;
	logf_(&r, "input placed at %s, named %s (%s); target %s", res->source->name,
	      res->source_label->name, res->placed_by, res->target->name);
	if (plan_path(&r))
		goto out;

	/* Output paths, beside the input unless given. */
	if ((stem = stem_of(res->id.ev.path)) == NULL)
		goto oom;
	strftime(stamp, sizeof stamp, "%Y%m%dT%H%M%SZ", gmtime(&opts->now));
	res->out_path = opts->out_path ? strdup(opts->out_path)
				       : dupf("%s.rebuilt-%s.db", stem, res->target->name);
	res->archive_path = opts->no_archive ? NULL
			    : opts->archive_path ? strdup(opts->archive_path)
						 : dupf("%s.audit-%s.tar.zst", stem, stamp);
	if (res->out_path == NULL || (!opts->no_archive && res->archive_path == NULL))
		goto oom;
	if (!opts->dry_run && !opts->force) {
		const char *p = exists(res->out_path) ? res->out_path
				: res->archive_path && exists(res->archive_path)
					? res->archive_path : NULL;
		if (p) {
			gsr_ctx_fail(ctx, GSR_ERR_EXISTS, "'%s' exists (--force "
				     "overwrites it)", p);
			goto out;
		}
	}
	if (opts->dry_run) {
		r.out_tmp = dupf("%s/rebuilt.db", res->id.ev.workdir);
	} else {
		if ((outdir = dir_of(res->out_path)) == NULL)
			goto oom;
		/* Made and registered in one step: a signal cannot leave
		 * it beside the output. */
		r.out_tmp = dupf("%s.tmp-XXXXXX", res->out_path);
		if (r.out_tmp && (fd = gsr_temp_mkstemp(r.out_tmp)) < 0) {
			gsr_ctx_fail(ctx, GSR_ERR_IO, "cannot create a file in '%s': %s",
				     outdir, strerror(errno));
			goto out;
		}
		if (fd >= 0)
			close(fd);
	}
	if (r.out_tmp == NULL)
		goto oom;
	if (opts->dry_run)
		gsr_temp_register(r.out_tmp);
	for (int i = 0; i < 3; i++) {
		static const char *const side[] = { "-journal", "-wal", "-shm" };
		char *p = dupf("%s%s", r.out_tmp, side[i]);
		if (p)
			gsr_temp_register(p);
		free(p);
	}
	if ((r.qdir = dupf("%s/quarantine", res->id.ev.workdir)) == NULL)
		goto oom;
	if (mkdir(r.qdir, 0700) != 0) {
		gsr_ctx_fail(ctx, GSR_ERR_IO, "cannot create '%s': %s", r.qdir,
			     strerror(errno));
		goto out;
	}

	if (!opts->dry_run && !opts->no_archive &&
	    (export_start(&r, &job) || archive_begin(&r, &ajob, &tee)))
		goto out;
	if (build_output(&r) || reconcile(&r))
		goto out;
	if (speculate && res->id.checks_pending) {
		if (gsr_identify_join_checks(&res->id)) {
			/* Damaged: start again; but checks cut short by a
			 * signal found nothing. */
			if (gsr_ctx_check_cancel(ctx) == 0)
				rc = 1;
			goto out;
		}
		logf_(&r, "identify's checks passed (%.0f ms, beside the rebuild)",
		      res->id.ms_checks);
	}
	res->changed = !(sv_contains(&res->id.matches, res->target->name) &&
			 res->id.health_ok && res->total_quarantined == 0);
	/* While the output is checked: hash it, and the input again (its
	 * bytes were all read; what follows only writes). */
	if (hash_file(ctx, r.out_tmp, res->out_sha256, &res->out_size) ||
	    gsr_evidence_recheck(ctx, &res->id.ev) < 0 || verify_join(&r))
		goto out;
	logf_(&r, "rebuilt database: %" PRIu64 " bytes, sha256 %s", res->out_size,
	      res->out_sha256);
	if (!opts->dry_run) {
		for (size_t i = 0; i < r.n_q; i++)
			if (r.q[i].f && fflush(r.q[i].f) != 0) {
				gsr_ctx_fail(ctx, GSR_ERR_IO, "cannot write '%s': %s",
					     r.q[i].path, strerror(errno));
				goto out;
			}
		if (!opts->no_archive) {
			if (archive_join(&r, &ajob) || export_join(&r, &job))
				goto out; /* the archive is aborted below */
			struct gsr_archive *a = ajob.ar;
			ajob.ar = NULL; /* archive_end takes it over */
			if (archive_end(&r, a, &job))
				goto out;
		}
		if (gsr_ctx_check_cancel(ctx))
			goto out;
		if (opts->force && exists(res->out_path) && unlink(res->out_path) != 0) {
			gsr_ctx_fail(ctx, GSR_ERR_IO, "cannot replace '%s': %s",
				     res->out_path, strerror(errno));
			goto out;
		}
		if (rename(r.out_tmp, res->out_path) != 0) {
			gsr_ctx_fail(ctx, GSR_ERR_IO, "cannot rename to '%s': %s",
				     res->out_path, strerror(errno));
			goto out;
		}
		gsr_temp_unregister(r.out_tmp);
		fsync_path(outdir, true);
	}
	res->ms_total = now_ms() - r.t0;
	rc = 0;
	goto out;
oom:
	gsr_ctx_fail(ctx, GSR_ERR_NOMEM, "out of memory");
out:
	if (r.verify.running) {
		pthread_join(r.verify.thread, NULL);
		r.verify.running = false;
	}
	if (ajob.running) {
		pthread_join(ajob.thread, NULL);
		ajob.running = false;
	}
	gsr_archive_abort(ajob.ar);
	input_tee_release(&tee);
	res->id.ev.tee = NULL;
	if (ajob.recovery_dir)
		gsr_recover_forget_ledger_files(ajob.recovery_dir);
	free(ajob.recovery_dir);
	if (job.running) {
		/* A failure in the main thread: stop waiting for the export's
		 * result, not for the thread, which reads our working copy. */
		pthread_join(job.thread, NULL);
		job.running = false;
	}
	gsr_export_result_release(&job.ex);
	/* A failure while the checks ran may come of damage they find. */
	if (rc < 0 && res->id.checks_pending && gsr_identify_join_checks(&res->id) &&
	    !gsr_cancel_requested()) {
		gsr_ctx_clear(ctx);
		rc = 1;
	}
	if (rc != 0 && res->archive_path && !opts->dry_run && res->archive_sha256[0] &&
	    exists(res->archive_path))
		unlink(res->archive_path); /* made, but its database was not */
	if (r.out_tmp) {
		unlink(r.out_tmp);
		gsr_temp_unregister(r.out_tmp);
		for (int i = 0; i < 3; i++) {
			static const char *const side[] = { "-journal", "-wal", "-shm" };
			char *p = dupf("%s%s", r.out_tmp, side[i]);
			if (p) {
				unlink(p);
				gsr_temp_unregister(p);
			}
			free(p);
		}
	}
	for (size_t i = 0; i < r.n_q; i++) {
		if (r.q[i].f)
			fclose(r.q[i].f);
		sqlite3_finalize(r.q[i].by_rowid);
		gsr_temp_unregister(r.q[i].path);
		free(r.q[i].table);
		free(r.q[i].path);
	}
	free(r.q);
	if (r.stg_path)
		gsr_temp_unregister(r.stg_path);
	free(r.stg_path);
	free(r.out_tmp);
	free(r.qdir);
	free(r.path);
	sv_release(&r.staged);
	free(stem);
	free(outdir);
	return rc;
}

int
gsr_rebuild_run(struct gsr_ctx *ctx, const struct gsr_rules *rules,
		const char *path, const struct gsr_rebuild_opts *opts,
		struct gsr_rebuild *res)
{
	int rc = rebuild_attempt(ctx, rules, path, opts, res, true);

	if (rc > 0) {
		gsr_rebuild_release(res);
		rc = rebuild_attempt(ctx, rules, path, opts, res, false);
	}
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
	jw_kstr(jw, "label", res->source_label ? res->source_label->name : NULL);
	jw_key(jw, "same_schema_as");
	jw_arr_begin(jw);
	for (size_t i = 0; i < res->source_group.n; i++)
		if (res->source_label && strcmp(res->source_group.v[i], res->source_label->name))
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
		jw_obj_end(jw);
	} else {
		jw_null(jw);
	}
	jw_kstrvec(jw, "bookkeeping", &res->bookkeeping);
}
