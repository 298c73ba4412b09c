/* schema.c -- read a schema's structure from SQLite and compare two. */
#include "compat.h"
#include "schema.h"

#include "dbopen.h"
#include "strbuf.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* A hostile input may carry any number of objects; this many is already
 * far beyond any GPUStack schema and keeps the work bounded. */
#define MAX_OBJECTS 10000

static char *
col_text(sqlite3_stmt *st, int i)
{
	const unsigned char *t = sqlite3_column_text(st, i);
	return t ? strdup((const char *)t) : NULL;
}

static bool
streq(const char *a, const char *b)
{
	if (a == NULL || b == NULL)
		return a == b;
	return strcmp(a, b) == 0;
}

static void
table_release(struct gsr_table *t)
{
	free(t->name);
	free(t->sql);
	for (size_t i = 0; i < t->n_cols; i++) {
		free(t->cols[i].name);
		free(t->cols[i].type);
		free(t->cols[i].dflt);
	}
	free(t->cols);
	for (size_t i = 0; i < t->n_fks; i++) {
		free(t->fks[i].from);
		free(t->fks[i].table);
		free(t->fks[i].to);
		free(t->fks[i].on_update);
		free(t->fks[i].on_delete);
	}
	free(t->fks);
	for (size_t i = 0; i < t->n_idx; i++) {
		free(t->idx[i].name);
		free(t->idx[i].cols);
		free(t->idx[i].sql);
	}
	free(t->idx);
}

void
gsr_schema_free(struct gsr_schema *s)
{
	if (s == NULL)
		return;
	for (size_t i = 0; i < s->n_objs; i++) {
		free(s->objs[i].type);
		free(s->objs[i].name);
		free(s->objs[i].tbl);
		free(s->objs[i].sql);
		sv_release(&s->objs[i].alts);
	}
	free(s->objs);
	for (size_t i = 0; i < s->n_tables; i++)
		table_release(&s->tables[i]);
	free(s->tables);
	free(s);
}

static int
read_columns(struct gsr_ctx *ctx, sqlite3 *db, struct gsr_table *t)
{
	sqlite3_stmt *st;
	size_t cap = 0;
	int rc = -1;

	st = gsr_db_prepare(ctx, db,
	                    "SELECT name, type, \"notnull\", dflt_value, pk "
	                    "FROM pragma_table_xinfo(?1, 'main') ORDER BY cid");
	if (st == NULL)
		return -1;
	sqlite3_bind_text(st, 1, t->name, -1, SQLITE_STATIC);
	while (sqlite3_step(st) == SQLITE_ROW) {
		if (gsr_grow((void **)&t->cols, &cap, t->n_cols + 1,
		             sizeof *t->cols))
			goto oom;
		struct gsr_column *c = &t->cols[t->n_cols++];
		c->name = col_text(st, 0);
		c->type = col_text(st, 1);
		c->notnull = sqlite3_column_int(st, 2) != 0;
		c->dflt = col_text(st, 3);
		c->pk = sqlite3_column_int(st, 4);
		if (c->name == NULL || c->type == NULL)
			goto oom;
	}
	rc = 0;
	goto out;
oom:
	gsr_ctx_fail(ctx, GSR_ERR_NOMEM, "out of memory");
out:
	sqlite3_finalize(st);
	return rc;
}

static int
read_fkeys(struct gsr_ctx *ctx, sqlite3 *db, struct gsr_table *t)
{
	sqlite3_stmt *st;
	size_t cap = 0;
	int last_id = -1, rc = -1;
	struct strbuf from = STRBUF_INIT, to = STRBUF_INIT;

	st = gsr_db_prepare(
	    ctx, db,
	    "SELECT id, \"table\", \"from\", \"to\", on_update, on_delete "
	    "FROM pragma_foreign_key_list(?1, 'main') ORDER BY id, seq");
	if (st == NULL)
		return -1;
	sqlite3_bind_text(st, 1, t->name, -1, SQLITE_STATIC);
	while (sqlite3_step(st) == SQLITE_ROW) {
		int id = sqlite3_column_int(st, 0);
		const char *f = (const char *)sqlite3_column_text(st, 2);
		const char *to_col = (const char *)sqlite3_column_text(st, 3);
		struct gsr_fkey *k;

		if (id != last_id) {
			if (gsr_grow((void **)&t->fks, &cap, t->n_fks + 1,
			             sizeof *t->fks))
				goto oom;
			k = &t->fks[t->n_fks++];
			k->table = col_text(st, 1);
			k->on_update = col_text(st, 4);
			k->on_delete = col_text(st, 5);
			k->from = strdup(f ? f : "");
			k->to = strdup(to_col ? to_col : "");
			last_id = id;
		} else {
			k = &t->fks[t->n_fks - 1];
			sb_reset(&from);
			sb_reset(&to);
			sb_addf(&from, "%s,%s", k->from, f ? f : "");
			sb_addf(&to, "%s,%s", k->to, to_col ? to_col : "");
			if (from.failed || to.failed)
				goto oom;
			free(k->from);
			free(k->to);
			k->from = sb_detach(&from);
			k->to = sb_detach(&to);
		}
		if (!k->table || !k->from || !k->to)
			goto oom;
	}
	rc = 0;
	goto out;
oom:
	gsr_ctx_fail(ctx, GSR_ERR_NOMEM, "out of memory");
out:
	sb_release(&from);
	sb_release(&to);
	sqlite3_finalize(st);
	return rc;
}

static char *
index_columns(struct gsr_ctx *ctx, sqlite3 *db, const char *name)
{
	sqlite3_stmt *st;
	struct strbuf sb = STRBUF_INIT;

	st = gsr_db_prepare(
	    ctx, db,
	    "SELECT name FROM pragma_index_info(?1, 'main') ORDER BY seqno");
	if (st == NULL)
		return NULL;
	sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
	sb_adds(&sb, "");
	while (sqlite3_step(st) == SQLITE_ROW) {
		const char *c = (const char *)sqlite3_column_text(st, 0);
		if (sb.len)
			sb_addc(&sb, ',');
		sb_adds(&sb, c ? c : "<expr>");
	}
	sqlite3_finalize(st);
	if (sb.failed) {
		sb_release(&sb);
		gsr_ctx_fail(ctx, GSR_ERR_NOMEM, "out of memory");
		return NULL;
	}
	return sb_detach(&sb);
}

static int
read_indexes(struct gsr_ctx *ctx, sqlite3 *db, const struct gsr_schema *s,
             struct gsr_table *t)
{
	sqlite3_stmt *st;
	size_t cap = 0;
	int rc = -1;

	st = gsr_db_prepare(ctx, db,
	                    "SELECT name, \"unique\", origin, partial "
	                    "FROM pragma_index_list(?1, 'main') ORDER BY name");
	if (st == NULL)
		return -1;
	sqlite3_bind_text(st, 1, t->name, -1, SQLITE_STATIC);
	while (sqlite3_step(st) == SQLITE_ROW) {
		const char *origin = (const char *)sqlite3_column_text(st, 2);
		if (gsr_grow((void **)&t->idx, &cap, t->n_idx + 1,
		             sizeof *t->idx))
			goto oom;
		struct gsr_index *x = &t->idx[t->n_idx++];
		x->name = col_text(st, 0);
		x->unique = sqlite3_column_int(st, 1) != 0;
		x->origin = origin ? origin[0] : 'c';
		x->partial = sqlite3_column_int(st, 3) != 0;
		if (x->name == NULL)
			goto oom;
		const struct gsr_object *o =
		    gsr_schema_object(s, "index", x->name);
		x->sql = o && o->sql ? strdup(o->sql) : NULL;
		if ((x->cols = index_columns(ctx, db, x->name)) == NULL)
			goto out;
	}
	rc = 0;
	goto out;
oom:
	gsr_ctx_fail(ctx, GSR_ERR_NOMEM, "out of memory");
out:
	sqlite3_finalize(st);
	return rc;
}

/* WITHOUT ROWID and AUTOINCREMENT are not in table_xinfo. */
static void
read_table_flags(sqlite3 *db, struct gsr_table *t)
{
	sqlite3_stmt *st = NULL;
	int n_pk = 0;
	const struct gsr_column *pk = NULL;

	if (sqlite3_prepare_v2(db,
	                       "SELECT wr FROM pragma_table_list(?1, 'main')",
	                       -1, &st, NULL) == SQLITE_OK) {
		sqlite3_bind_text(st, 1, t->name, -1, SQLITE_STATIC);
		if (sqlite3_step(st) == SQLITE_ROW)
			t->without_rowid = sqlite3_column_int(st, 0) != 0;
	}
	sqlite3_finalize(st);
	for (size_t i = 0; i < t->n_cols; i++)
		if (t->cols[i].pk) {
			n_pk++;
			pk = &t->cols[i];
		}
	if (n_pk == 1 && !t->without_rowid) {
		int autoinc = 0;
		if (sqlite3_table_column_metadata(db, "main", t->name, pk->name,
		                                  NULL, NULL, NULL, NULL,
		                                  &autoinc) == SQLITE_OK)
			t->autoincrement = autoinc != 0;
	}
}

struct gsr_schema *
gsr_schema_extract(struct gsr_ctx *ctx, sqlite3 *db)
{
	struct gsr_schema *s = NULL;
	sqlite3_stmt *st = NULL;
	size_t cap_objs = 0, cap_tables = 0;
	int rc;

	if (gsr_ctx_failed(ctx))
		return NULL;
	if ((s = calloc(1, sizeof *s)) == NULL)
		goto oom;
	st = gsr_db_prepare(
	    ctx, db,
	    "SELECT type, name, tbl_name, sql FROM main.sqlite_schema "
	    "ORDER BY rowid");
	if (st == NULL)
		goto fail;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		if (s->n_objs >= MAX_OBJECTS) {
			gsr_ctx_fail(ctx, GSR_ERR_INPUT,
			             "schema has more than %d objects",
			             MAX_OBJECTS);
			goto fail;
		}
		if (gsr_grow((void **)&s->objs, &cap_objs, s->n_objs + 1,
		             sizeof *s->objs))
			goto oom;
		struct gsr_object *o = &s->objs[s->n_objs++];
		o->type = col_text(st, 0);
		o->name = col_text(st, 1);
		o->tbl = col_text(st, 2);
		o->sql = col_text(st, 3);
		if (!o->type || !o->name || !o->tbl)
			goto oom;
	}
	if (rc != SQLITE_DONE) {
		gsr_ctx_fail(ctx, GSR_ERR_INPUT, "cannot read the schema: %s",
		             sqlite3_errmsg(db));
		goto fail;
	}
	sqlite3_finalize(st);
	st = NULL;

	for (size_t i = 0; i < s->n_objs; i++) {
		const struct gsr_object *o = &s->objs[i];
		if (strcmp(o->type, "table") != 0)
			continue;
		if (gsr_grow((void **)&s->tables, &cap_tables, s->n_tables + 1,
		             sizeof *s->tables))
			goto oom;
		struct gsr_table *t = &s->tables[s->n_tables++];
		t->name = strdup(o->name);
		t->sql = gsr_strdup(o->sql);
		t->alts = &o->alts; /* objs no longer moves */
		if (!t->name)
			goto oom;
		/* Reading a virtual table's columns would instantiate its
		 * module, i.e. run code the input chose. */
		if (o->sql && strncasecmp(o->sql, "CREATE VIRTUAL", 14) == 0) {
			t->is_virtual = true;
			continue;
		}
		if (read_columns(ctx, db, t) || read_fkeys(ctx, db, t) ||
		    read_indexes(ctx, db, s, t))
			goto fail;
		read_table_flags(db, t);
	}
	return s;
oom:
	gsr_ctx_fail(ctx, GSR_ERR_NOMEM, "out of memory");
fail:
	sqlite3_finalize(st);
	gsr_schema_free(s);
	return NULL;
}

const struct gsr_table *
gsr_schema_table(const struct gsr_schema *s, const char *name)
{
	for (size_t i = 0; i < s->n_tables; i++)
		if (strcmp(s->tables[i].name, name) == 0)
			return &s->tables[i];
	return NULL;
}

const struct gsr_object *
gsr_schema_object(const struct gsr_schema *s, const char *type,
                  const char *name)
{
	for (size_t i = 0; i < s->n_objs; i++)
		if (strcmp(s->objs[i].type, type) == 0 &&
		    strcmp(s->objs[i].name, name) == 0)
			return &s->objs[i];
	return NULL;
}

const struct gsr_column *
gsr_table_column(const struct gsr_table *t, const char *name)
{
	for (size_t i = 0; i < t->n_cols; i++)
		if (strcmp(t->cols[i].name, name) == 0)
			return &t->cols[i];
	return NULL;
}

/* Two stored texts of one object match: equal, or one is among the
 * other's alternatives (either list may be NULL). */
static bool
text_match(const char *a, const struct strvec *a_alts, const char *b,
           const struct strvec *b_alts)
{
	if (streq(a, b))
		return true;
	for (size_t i = 0; a_alts && b && i < a_alts->n; i++)
		if (streq(a_alts->v[i], b))
			return true;
	for (size_t i = 0; b_alts && a && i < b_alts->n; i++)
		if (streq(b_alts->v[i], a))
			return true;
	return false;
}

static bool
object_in(const struct gsr_schema *s, const struct gsr_object *o)
{
	for (size_t i = 0; i < s->n_objs; i++) {
		const struct gsr_object *p = &s->objs[i];
		if (streq(p->type, o->type) && streq(p->name, o->name) &&
		    streq(p->tbl, o->tbl) &&
		    text_match(p->sql, &p->alts, o->sql, &o->alts))
			return true;
	}
	return false;
}

static bool
subset(const struct gsr_schema *a, const struct gsr_schema *b, bool tables_only)
{
	for (size_t i = 0; i < a->n_objs; i++) {
		const struct gsr_object *o = &a->objs[i];
		if (o->sql == NULL)
			continue; /* automatic index: follows from its table */
		if (tables_only && strcmp(o->type, "view") == 0)
			continue;
		if (!object_in(b, o))
			return false;
	}
	return true;
}

bool
gsr_schema_same(const struct gsr_schema *a, const struct gsr_schema *b,
                bool tables_only)
{
	return subset(a, b, tables_only) && subset(b, a, tables_only);
}

/* ---- differences ---------------------------------------------------- */

static void diff_add(struct gsr_diffs *d, const char *kind, const char *table,
                     const char *column, const char *object,
                     const char *expected, const char *found, const char *fmt,
                     ...) GSR_PRINTF(8, 9);

static void
diff_add(struct gsr_diffs *d, const char *kind, const char *table,
         const char *column, const char *object, const char *expected,
         const char *found, const char *fmt, ...)
{
	struct strbuf sb = STRBUF_INIT;
	va_list ap;

	if (d->failed)
		return;
	if (gsr_grow((void **)&d->v, &d->cap, d->n + 1, sizeof *d->v)) {
		d->failed = true;
		return;
	}
	va_start(ap, fmt);
	sb_vaddf(&sb, fmt, ap);
	va_end(ap);
	struct gsr_diff *x = &d->v[d->n++];
	x->kind = kind;
	x->table = gsr_strdup(table);
	x->column = gsr_strdup(column);
	x->object = gsr_strdup(object);
	x->expected = gsr_strdup(expected);
	x->found = gsr_strdup(found);
	x->detail = sb.failed ? NULL : sb_detach(&sb);
	sb_release(&sb);
	if ((table && !x->table) || (expected && !x->expected) ||
	    (found && !x->found) || !x->detail)
		d->failed = true;
}

void
gsr_diffs_release(struct gsr_diffs *d)
{
	for (size_t i = 0; i < d->n; i++) {
		free(d->v[i].table);
		free(d->v[i].column);
		free(d->v[i].object);
		free(d->v[i].expected);
		free(d->v[i].found);
		free(d->v[i].detail);
	}
	free(d->v);
	memset(d, 0, sizeof *d);
}

/* "VARCHAR NOT NULL DEFAULT '0'", the column as a declaration reads. */
static char *
column_decl(const struct gsr_column *c)
{
	struct strbuf sb = STRBUF_INIT;

	sb_adds(&sb, c->type[0] ? c->type : "(no type)");
	if (c->notnull)
		sb_adds(&sb, " NOT NULL");
	if (c->dflt)
		sb_addf(&sb, " DEFAULT %s", c->dflt);
	if (sb.failed) {
		sb_release(&sb);
		return NULL;
	}
	return sb_detach(&sb);
}

static char *
pk_desc(const struct gsr_table *t)
{
	struct strbuf sb = STRBUF_INIT;
	int n = 0;

	for (int k = 1; k <= (int)t->n_cols; k++)
		for (size_t i = 0; i < t->n_cols; i++)
			if (t->cols[i].pk == k) {
				sb_addf(&sb, "%s%s", n++ ? "," : "",
				        t->cols[i].name);
			}
	if (n == 0)
		sb_adds(&sb, "(rowid)");
	sb_adds(&sb, "");
	if (t->autoincrement)
		sb_adds(&sb, " AUTOINCREMENT");
	if (t->without_rowid)
		sb_adds(&sb, " WITHOUT ROWID");
	if (sb.failed) {
		sb_release(&sb);
		return NULL;
	}
	return sb_detach(&sb);
}

static char *
fk_desc(const struct gsr_fkey *k)
{
	char *s = NULL;
	if (asprintf(&s, "(%s) REFERENCES %s(%s) ON UPDATE %s ON DELETE %s",
	             k->from, k->table, k->to,
	             k->on_update ? k->on_update : "?",
	             k->on_delete ? k->on_delete : "?") < 0)
		return NULL;
	return s;
}

static bool
fk_in(const struct gsr_fkey *k, const struct gsr_table *t)
{
	for (size_t i = 0; i < t->n_fks; i++) {
		const struct gsr_fkey *o = &t->fks[i];
		if (streq(k->from, o->from) &&
		    strcasecmp(k->table, o->table) == 0 &&
		    streq(k->to, o->to) && streq(k->on_update, o->on_update) &&
		    streq(k->on_delete, o->on_delete))
			return true;
	}
	return false;
}

static bool
unique_in(const struct gsr_index *x, const struct gsr_table *t)
{
	for (size_t i = 0; i < t->n_idx; i++)
		if (t->idx[i].origin == 'u' && streq(t->idx[i].cols, x->cols))
			return true;
	return false;
}

/* Position of column name among the columns of t that u also has. */
static int
common_pos(const struct gsr_table *t, const struct gsr_table *u,
           const char *name)
{
	int pos = 0;
	for (size_t i = 0; i < t->n_cols; i++) {
		if (!gsr_table_column(u, t->cols[i].name))
			continue;
		if (strcmp(t->cols[i].name, name) == 0)
			return pos;
		pos++;
	}
	return -1;
}

static void
compare_fks(const struct gsr_table *e, const struct gsr_table *f,
            struct gsr_diffs *out, const char *what, bool missing)
{
	for (size_t i = 0; i < e->n_fks; i++) {
		if (fk_in(&e->fks[i], f))
			continue;
		char *d = fk_desc(&e->fks[i]);
		diff_add(out, "constraint", e->name, NULL, NULL,
		         missing ? d : NULL, missing ? NULL : d,
		         "%s foreign key %s", what, d ? d : "?");
		free(d);
	}
}

static void
compare_uniques(const struct gsr_table *e, const struct gsr_table *f,
                struct gsr_diffs *out, const char *what, bool missing)
{
	for (size_t i = 0; i < e->n_idx; i++) {
		const struct gsr_index *x = &e->idx[i];
		if (x->origin != 'u' || unique_in(x, f))
			continue;
		diff_add(out, "constraint", e->name, NULL, NULL,
		         missing ? x->cols : NULL, missing ? NULL : x->cols,
		         "%s UNIQUE (%s)", what, x->cols);
	}
}

static void
compare_table(const struct gsr_table *e, const struct gsr_table *f,
              struct gsr_diffs *out)
{
	size_t before = out->n;

	if (e->is_virtual || f->is_virtual) {
		if (!text_match(e->sql, e->alts, f->sql, f->alts))
			diff_add(out, "constraint", e->name, NULL, NULL, e->sql,
			         f->sql, "table '%s' is defined differently",
			         e->name);
		return;
	}
	for (size_t i = 0; i < e->n_cols; i++) {
		const struct gsr_column *ec = &e->cols[i];
		const struct gsr_column *fc = gsr_table_column(f, ec->name);
		char *ed = column_decl(ec), *fd = fc ? column_decl(fc) : NULL;

		if (fc == NULL) {
			diff_add(out, "missing_column", e->name, ec->name, NULL,
			         ed, NULL, "column '%s.%s' (%s) is missing",
			         e->name, ec->name, ed ? ed : "?");
		} else if (!streq(ed, fd)) {
			diff_add(out, "column_definition", e->name, ec->name,
			         NULL, ed, fd,
			         "column '%s.%s' is %s, expected %s", e->name,
			         ec->name, fd ? fd : "?", ed ? ed : "?");
		} else if (common_pos(e, f, ec->name) !=
		           common_pos(f, e, ec->name)) {
			char ep[32], fp[32];
			snprintf(ep, sizeof ep, "position %d",
			         common_pos(e, f, ec->name) + 1);
			snprintf(fp, sizeof fp, "position %d",
			         common_pos(f, e, ec->name) + 1);
			diff_add(out, "column_definition", e->name, ec->name,
			         NULL, ep, fp,
			         "column '%s.%s' is out of order (%s among the "
			         "shared columns, expected %s)",
			         e->name, ec->name, fp, ep);
		}
		free(ed);
		free(fd);
	}
	for (size_t i = 0; i < f->n_cols; i++) {
		const struct gsr_column *fc = &f->cols[i];
		if (gsr_table_column(e, fc->name))
			continue;
		char *fd = column_decl(fc);
		diff_add(out, "extra_column", e->name, fc->name, NULL, NULL, fd,
		         "column '%s.%s' (%s) is not expected", e->name,
		         fc->name, fd ? fd : "?");
		free(fd);
	}
	char *ep = pk_desc(e), *fp = pk_desc(f);
	if (!streq(ep, fp))
		diff_add(out, "constraint", e->name, NULL, NULL, ep, fp,
		         "primary key of '%s' is %s, expected %s", e->name,
		         fp ? fp : "?", ep ? ep : "?");
	free(ep);
	free(fp);
	compare_fks(e, f, out, "missing", true);
	compare_fks(f, e, out, "unexpected", false);
	compare_uniques(e, f, out, "missing", true);
	compare_uniques(f, e, out, "unexpected", false);
	if (out->n == before && !text_match(e->sql, e->alts, f->sql, f->alts))
		diff_add(
		    out, "constraint", e->name, NULL, NULL, e->sql, f->sql,
		    "table '%s' has the same structure but a different stored "
		    "definition (constraint names, quoting or layout)",
		    e->name);
}

static void
compare_objects(const struct gsr_schema *e, const struct gsr_schema *f,
                const char *type, struct gsr_diffs *out)
{
	const char *kind_missing = strcmp(type, "index") == 0  ? "missing_index"
	                           : strcmp(type, "view") == 0 ? "view"
	                                                       : "constraint";
	const char *kind_extra = strcmp(type, "index") == 0  ? "extra_index"
	                         : strcmp(type, "view") == 0 ? "view"
	                                                     : "constraint";

	for (size_t i = 0; i < e->n_objs; i++) {
		const struct gsr_object *o = &e->objs[i];
		if (strcmp(o->type, type) != 0 || o->sql == NULL)
			continue;
		const struct gsr_object *p =
		    gsr_schema_object(f, type, o->name);
		if (p == NULL)
			diff_add(out, kind_missing, o->tbl, NULL, o->name,
			         o->sql, NULL, "%s '%s' is missing", type,
			         o->name);
		else if (!text_match(o->sql, &o->alts, p->sql, &p->alts) ||
		         !streq(o->tbl, p->tbl))
			diff_add(
			    out,
			    strcmp(type, "view") == 0 ? "view" : "constraint",
			    o->tbl, NULL, o->name, o->sql, p->sql,
			    "%s '%s' is defined differently", type, o->name);
	}
	for (size_t i = 0; i < f->n_objs; i++) {
		const struct gsr_object *p = &f->objs[i];
		if (strcmp(p->type, type) != 0 || p->sql == NULL)
			continue;
		if (!gsr_schema_object(e, type, p->name))
			diff_add(out, kind_extra, p->tbl, NULL, p->name, NULL,
			         p->sql, "%s '%s' is not expected", type,
			         p->name);
	}
}

void
gsr_table_compare(const struct gsr_table *e, const struct gsr_table *f,
                  struct gsr_diffs *out)
{
	compare_table(e, f, out);
}

void
gsr_schema_compare(const struct gsr_schema *e, const struct gsr_schema *f,
                   bool tables_only, struct gsr_diffs *out)
{
	for (size_t i = 0; i < e->n_tables; i++) {
		const struct gsr_table *et = &e->tables[i];
		const struct gsr_table *ft = gsr_schema_table(f, et->name);
		if (ft == NULL)
			diff_add(out, "missing_table", et->name, NULL, NULL,
			         et->sql, NULL, "table '%s' is missing",
			         et->name);
		else
			compare_table(et, ft, out);
	}
	for (size_t i = 0; i < f->n_tables; i++) {
		const struct gsr_table *ft = &f->tables[i];
		if (!gsr_schema_table(e, ft->name))
			diff_add(out, "extra_table", ft->name, NULL, NULL, NULL,
			         ft->sql, "table '%s' is not expected",
			         ft->name);
	}
	compare_objects(e, f, "index", out);
	compare_objects(e, f, "trigger", out);
	if (!tables_only)
		compare_objects(e, f, "view", out);
}
