/* pg.c -- the PostgreSQL side: connection strings, the catalog, the
 * carried schema.  Knows libpq and PostgreSQL's catalog only. */
#include "compat.h"
#include "mig.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>

static void
col_release(struct mig_col *c)
{
	free(c->name);
	free(c->type);
	sv_release(&c->labels);
}

/* Release every table of m. */
void
mig_model_release(struct mig_model *m)
{
	for (size_t i = 0; i < m->n; i++) {
		struct mig_table *t = &m->t[i];
		for (size_t j = 0; j < t->n_cols; j++)
			col_release(&t->cols[j]);
		free(t->cols);
		free(t->name);
		free(t->seq);
		free(t->seq_col);
		sv_release(&t->parents);
	}
	free(m->t);
	memset(m, 0, sizeof *m);
}

/* The table called name, added (empty) when m lacks it; NULL on OOM. */
struct mig_table *
mig_model_table(struct mig_model *m, const char *name)
{
	for (size_t i = 0; i < m->n; i++)
		if (!strcmp(m->t[i].name, name))
			return &m->t[i];
	if (gsr_grow((void **)&m->t, &m->cap, m->n + 1, sizeof *m->t))
		return NULL;
	if ((m->t[m->n].name = strdup(name)) == NULL)
		return NULL;
	return &m->t[m->n++];
}

/* Tables whose parents are all placed go first, in name order within a
 * round; a cycle (none in GPUStack's schema) keeps the rest as they are. */
void
mig_model_fk_order(struct mig_model *m)
{
	struct mig_table *out = calloc(m->n ? m->n : 1, sizeof *out);
	bool *done = calloc(m->n ? m->n : 1, sizeof *done);
	size_t n = 0;

	if (out == NULL || done == NULL)
		goto out;
	while (n < m->n) {
		size_t before = n;
		for (size_t i = 0; i < m->n; i++) {
			if (done[i])
				continue;
			bool ready = true;
			for (size_t p = 0; p < m->t[i].parents.n && ready;
			     p++) {
				const char *pn = m->t[i].parents.v[p];
				if (!strcmp(pn, m->t[i].name))
					continue;
				for (size_t k = 0; k < m->n; k++)
					if (!done[k] &&
					    !strcmp(m->t[k].name, pn))
						ready = false;
			}
			if (ready) {
				out[n++] = m->t[i];
				done[i] = true;
			}
		}
		if (n == before)
			for (size_t i = 0; i < m->n; i++)
				if (!done[i]) {
					out[n++] = m->t[i];
					done[i] = true;
				}
	}
	memcpy(m->t, out, m->n * sizeof *out);
out:
	free(out);
	free(done);
}

int
mig_conninfo(struct gsr_ctx *ctx, const char *url, char **display,
             char **password)
{
	char *err = NULL;
	PQconninfoOption *opts = PQconninfoParse(url, &err);
	struct strbuf sb = STRBUF_INIT;
	int rc = -1;

	*display = *password = NULL;
	if (opts == NULL) {
		/* libpq's message quotes no part of the string but may be
		 * multi-line; keep its first line. */
		char *one = mig_scrub(err ? err : "out of memory", NULL);
		gsr_ctx_fail(ctx, GSR_ERR_USAGE, "--database-url: %s",
		             one ? one : "cannot be parsed");
		free(one);
		goto out;
	}
	for (PQconninfoOption *o = opts; o->keyword; o++) {
		if (o->val == NULL || o->val[0] == '\0')
			continue;
		if (!strcmp(o->keyword, "password")) {
			*password = strdup(o->val);
			continue;
		}
		if (!strcmp(o->keyword, "sslpassword"))
			continue;
		if (sb.len)
			sb_addc(&sb, ' ');
		sb_addf(&sb, "%s=", o->keyword);
		bool quote = !o->val[0] || strpbrk(o->val, " '\\") != NULL;
		if (quote)
			sb_addc(&sb, '\'');
		for (const char *p = o->val; *p; p++) {
			if (*p == '\'' || *p == '\\')
				sb_addc(&sb, '\\');
			sb_addc(&sb, *p);
		}
		if (quote)
			sb_addc(&sb, '\'');
	}
	if (sb_addc(&sb, '\0') || (*display = sb_detach(&sb)) == NULL) {
		gsr_ctx_fail(ctx, GSR_ERR_NOMEM, "out of memory");
		goto out;
	}
	rc = 0;
out:
	sb_release(&sb);
	if (opts)
		PQconninfoFree(opts);
	PQfreemem(err);
	return rc;
}

char *
mig_scrub(const char *msg, const char *pw)
{
	struct strbuf sb = STRBUF_INIT;
	size_t pl = pw ? strlen(pw) : 0;
	const char *end = strchr(msg, '\n');
	size_t n = end ? (size_t)(end - msg) : strlen(msg);

	for (size_t i = 0; i < n;) {
		if (pl && i + pl <= n && !memcmp(msg + i, pw, pl)) {
			sb_adds(&sb, "***");
			i += pl;
		} else {
			sb_addc(&sb, msg[i++]);
		}
	}
	while (sb.len &&
	       (sb.buf[sb.len - 1] == ' ' || sb.buf[sb.len - 1] == '\r'))
		sb.len--;
	if (sb_addc(&sb, '\0'))
		return NULL;
	return sb_detach(&sb);
}

int
mig_exec(struct gsr_ctx *ctx, PGconn *c, const char *pw, const char *what,
         const char *sql)
{
	PGresult *r;
	int rc = 0;

	if (gsr_ctx_failed(ctx))
		return -1;
	r = PQexec(c, sql);
	if (PQresultStatus(r) != PGRES_COMMAND_OK &&
	    PQresultStatus(r) != PGRES_TUPLES_OK) {
		char *m = mig_scrub(PQerrorMessage(c), pw);
		rc = gsr_ctx_fail(ctx, GSR_ERR_IO, "%s: %s", what,
		                  m ? m : "failed");
		free(m);
	}
	PQclear(r);
	return rc;
}

/* The kind of a PostgreSQL type by its pg_type name and typtype. */
static enum mig_kind
kind_of(const char *typname, char typtype, int64_t *min, int64_t *max,
        bool *jsonb)
{
	*jsonb = false;
	if (typtype == 'e')
		return MK_ENUM;
	if (!strcmp(typname, "bool"))
		return MK_BOOL;
	if (!strcmp(typname, "int2") || !strcmp(typname, "int4") ||
	    !strcmp(typname, "int8")) {
		int bits = typname[3] == '2' ? 16 : typname[3] == '4' ? 32 : 64;
		*max = bits == 64 ? INT64_MAX : ((int64_t)1 << (bits - 1)) - 1;
		*min = -*max - 1;
		return MK_INT;
	}
	if (!strcmp(typname, "float4") || !strcmp(typname, "float8") ||
	    !strcmp(typname, "numeric"))
		return MK_FLOAT;
	if (!strcmp(typname, "timestamp") || !strcmp(typname, "timestamptz") ||
	    !strcmp(typname, "date"))
		return MK_TIME;
	if (!strcmp(typname, "json") || !strcmp(typname, "jsonb")) {
		*jsonb = typname[4] == 'b';
		return MK_JSON;
	}
	return MK_TEXT;
}

static const char catalog_sql[] =
    "SELECT c.relname, a.attname, format_type(a.atttypid, a.atttypmod), "
    "t.typname, t.typtype, a.attnotnull, "
    "CASE WHEN t.typname IN ('varchar', 'bpchar') AND a.atttypmod > 4 "
    "THEN a.atttypmod - 4 ELSE -1 END, "
    "(SELECT string_agg(e.enumlabel, chr(10) ORDER BY e.enumsortorder) "
    " FROM pg_catalog.pg_enum e WHERE e.enumtypid = t.oid), "
    "pg_catalog.pg_get_serial_sequence(pg_catalog.format('%I.%I', n.nspname, "
    "c.relname), a.attname) "
    "FROM pg_catalog.pg_attribute a "
    "JOIN pg_catalog.pg_class c ON c.oid = a.attrelid "
    "JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace "
    "JOIN pg_catalog.pg_type t ON t.oid = a.atttypid "
    "WHERE n.nspname = $1 AND c.relkind IN ('r', 'p') AND a.attnum > 0 "
    "AND NOT a.attisdropped ORDER BY c.relname, a.attnum";

static const char fk_sql[] =
    "SELECT cl.relname, cf.relname FROM pg_catalog.pg_constraint k "
    "JOIN pg_catalog.pg_class cl ON cl.oid = k.conrelid "
    "JOIN pg_catalog.pg_class cf ON cf.oid = k.confrelid "
    "JOIN pg_catalog.pg_namespace n ON n.oid = cl.relnamespace "
    "WHERE k.contype = 'f' AND n.nspname = $1 ORDER BY 1, 2";

/* Add a column to t; NULL on OOM. */
static struct mig_col *
add_col(struct mig_table *t, const char *name, const char *type)
{
	struct mig_col *c;

	if (gsr_grow((void **)&t->cols, &t->cap_cols, t->n_cols + 1,
	             sizeof *t->cols))
		return NULL;
	c = &t->cols[t->n_cols++];
	c->name = strdup(name);
	c->type = strdup(type);
	c->maxlen = -1;
	return c->name && c->type ? c : NULL;
}

int
mig_catalog(struct gsr_ctx *ctx, PGconn *c, const char *pw, const char *schema,
            struct mig_model *m)
{
	const char *params[1] = {schema};
	PGresult *r = NULL;
	int rc = -1;

	r = PQexecParams(c, catalog_sql, 1, NULL, params, NULL, NULL, 0);
	if (PQresultStatus(r) != PGRES_TUPLES_OK)
		goto fail;
	for (int i = 0; i < PQntuples(r); i++) {
		struct mig_table *t = mig_model_table(m, PQgetvalue(r, i, 0));
		struct mig_col *col =
		    t ? add_col(t, PQgetvalue(r, i, 1), PQgetvalue(r, i, 2))
		      : NULL;
		if (col == NULL) {
			gsr_ctx_fail(ctx, GSR_ERR_NOMEM, "out of memory");
			goto out;
		}
		col->kind = kind_of(PQgetvalue(r, i, 3), PQgetvalue(r, i, 4)[0],
		                    &col->min, &col->max, &col->jsonb);
		col->notnull = PQgetvalue(r, i, 5)[0] == 't';
		col->maxlen = (int)strtol(PQgetvalue(r, i, 6), NULL, 10);
		if (!PQgetisnull(r, i, 7)) {
			char *labels = strdup(PQgetvalue(r, i, 7)),
			     *save = NULL;
			for (char *l = labels ? strtok_r(labels, "\n", &save)
			                      : NULL;
			     l; l = strtok_r(NULL, "\n", &save))
				sv_push(&col->labels, l);
			free(labels);
		}
		if (!PQgetisnull(r, i, 8) && t->seq == NULL) {
			t->seq = strdup(PQgetvalue(r, i, 8));
			t->seq_col = strdup(col->name);
		}
	}
	PQclear(r);
	r = PQexecParams(c, fk_sql, 1, NULL, params, NULL, NULL, 0);
	if (PQresultStatus(r) != PGRES_TUPLES_OK)
		goto fail;
	for (int i = 0; i < PQntuples(r); i++) {
		struct mig_table *t = mig_model_table(m, PQgetvalue(r, i, 0));
		if (t == NULL || sv_push(&t->parents, PQgetvalue(r, i, 1))) {
			gsr_ctx_fail(ctx, GSR_ERR_NOMEM, "out of memory");
			goto out;
		}
	}
	rc = 0;
	goto out;
fail : {
	char *msg = mig_scrub(PQerrorMessage(c), pw);
	gsr_ctx_fail(ctx, GSR_ERR_IO, "reading the PostgreSQL catalog: %s",
	             msg ? msg : "failed");
	free(msg);
}
out:
	PQclear(r);
	return rc;
}

/* The pg_type name of a column type as pg_dump writes it. */
static const char *
dump_typname(const char *type)
{
	static const struct {
		const char *dump, *typname;
	} map[] = {
	    {"boolean", "bool"},
	    {"smallint", "int2"},
	    {"integer", "int4"},
	    {"bigint", "int8"},
	    {"real", "float4"},
	    {"double precision", "float8"},
	    {"numeric", "numeric"},
	    {"timestamp without time zone", "timestamp"},
	    {"timestamp with time zone", "timestamptz"},
	    {"date", "date"},
	    {"json", "json"},
	    {"jsonb", "jsonb"},
	};
	for (size_t i = 0; i < GSR_ARRAY_LEN(map); i++)
		if (!strcmp(type, map[i].dump))
			return map[i].typname;
	return "text";
}

int
mig_parse_dump(struct gsr_ctx *ctx, const char *sql, struct mig_model *m)
{
	struct mig_model enums = {0}; /* an enum type: a table of one column */
	char *text = strdup(sql), *save = NULL;
	struct mig_table *cur = NULL, *cur_enum = NULL, *alter = NULL;
	int rc = -1;

	if (text == NULL) {
		gsr_ctx_fail(ctx, GSR_ERR_NOMEM, "out of memory");
		goto out;
	}
	for (char *line = strtok_r(text, "\n", &save); line;
	     line = strtok_r(NULL, "\n", &save)) {
		char name[128], type[256];
		if (sscanf(line, "CREATE TYPE public.%127s AS ENUM (", name) ==
		    1) {
			cur_enum = mig_model_table(&enums, name);
			continue;
		}
		if (sscanf(line, "CREATE TABLE public.%127s (", name) == 1) {
			cur = mig_model_table(m, name);
			continue;
		}
		if (sscanf(line, "ALTER TABLE ONLY public.%127s", name) == 1) {
			alter = mig_model_table(m, name);
			continue;
		}
		if (!strncmp(line, ");", 2)) {
			cur = cur_enum = NULL;
			continue;
		}
		char *ref = strstr(line, " REFERENCES public.");
		if (alter && ref && strstr(line, "FOREIGN KEY")) {
			if (sscanf(ref, " REFERENCES public.%127[^(]", name) ==
			    1)
				sv_push(&alter->parents, name);
			continue;
		}
		if (sscanf(line,
		           "ALTER SEQUENCE public.%127s OWNED BY public.%255s",
		           name, type) == 2) {
			char *dot = strchr(type, '.'),
			     *semi = strchr(type, ';');
			if (semi)
				*semi = '\0';
			if (dot) {
				*dot = '\0';
				struct mig_table *t = mig_model_table(m, type);
				if (t && t->seq == NULL) {
					if (asprintf(&t->seq, "public.%s",
					             name) < 0)
						t->seq = NULL;
					t->seq_col = strdup(dot + 1);
				}
			}
			continue;
		}
		if (cur_enum && sscanf(line, " '%127[^']'", name) == 1) {
			sv_push(&cur_enum->parents, name);
			continue;
		}
		if (cur == NULL || strncmp(line, "    ", 4))
			continue;
		/* "    name type[ DEFAULT ...][ NOT NULL][,]" */
		char *p = line + 4, *sp = strchr(p, ' ');
		if (sp == NULL)
			continue;
		*sp = '\0';
		/* A quoted name ("timestamp"): the name itself. */
		size_t pl = strlen(p);
		if (pl >= 2 && p[0] == '"' && p[pl - 1] == '"') {
			p[pl - 1] = '\0';
			p++;
		}
		char *ty = sp + 1;
		size_t tl = strlen(ty);
		if (tl && ty[tl - 1] == ',')
			ty[--tl] = '\0';
		bool notnull = tl >= 9 && !strcmp(ty + tl - 9, " NOT NULL");
		if (notnull)
			ty[tl -= 9] = '\0';
		char *def = strstr(ty, " DEFAULT ");
		if (def)
			*def = '\0';
		struct mig_col *col = add_col(cur, p, ty);
		if (col == NULL)
			break;
		col->notnull = notnull;
		int len;
		if (sscanf(ty, "character varying(%d)", &len) == 1)
			col->maxlen = len;
		if (!strncmp(ty, "public.", 7)) {
			struct mig_table *e = mig_model_table(&enums, ty + 7);
			col->kind = MK_ENUM;
			for (size_t i = 0; e && i < e->parents.n; i++)
				sv_push(&col->labels, e->parents.v[i]);
		} else {
			col->kind = kind_of(dump_typname(ty), 'b', &col->min,
			                    &col->max, &col->jsonb);
		}
	}
	rc = 0;
out:
	free(text);
	mig_model_release(&enums);
	return rc;
}

/* Whether statement s (as the dump writes it) belongs after the data. */
static bool
is_post_data(const char *s)
{
	return (!strncmp(s, "ALTER TABLE ", 12) &&
	        strstr(s, " ADD CONSTRAINT ") != NULL) ||
	       !strncmp(s, "CREATE INDEX ", 13) ||
	       !strncmp(s, "CREATE UNIQUE INDEX ", 20);
}

char *
mig_filter_schema(const char *sql, const char *schema, enum mig_part part)
{
	struct strbuf sb = STRBUF_INIT, stmt = STRBUF_INIT, q = STRBUF_INIT;
	const char *p = sql;
	char *out = NULL;

	sb_add_ident(&q, schema);
	sb_addc(&q, '.');
	sb_addc(&q, '\0');
	while (*p) {
		const char *nl = strchr(p, '\n');
		size_t n = nl ? (size_t)(nl - p) : strlen(p);
		if (!(n && p[0] == '\\') && !(n >= 2 && !strncmp(p, "--", 2))) {
			/* Qualified names: "public." is the schema pg_dump
			 * wrote. */
			for (size_t i = 0; i < n;) {
				if (n - i >= 7 &&
				    !strncmp(p + i, "public.", 7) &&
				    (i == 0 ||
				     !(isalnum((unsigned char)p[i - 1]) ||
				       strchr("_\".$", p[i - 1])))) {
					sb_adds(&stmt, q.buf);
					i += 7;
				} else {
					sb_addc(&stmt, p[i++]);
				}
			}
			sb_addc(&stmt, '\n');
			if (n && p[n - 1] == ';') {
				sb_addc(&stmt, '\0');
				const char *s = stmt.buf;
				bool drop =
				    strstr(s, " OWNER TO ") ||
				    !strncmp(s, "GRANT ", 6) ||
				    !strncmp(s, "REVOKE ", 7) ||
				    !strncmp(s, "ALTER DEFAULT PRIVILEGES",
				             24) ||
				    !strncmp(s, "CREATE SCHEMA ", 14) ||
				    !strncmp(s, "COMMENT ON SCHEMA ", 18) ||
				    is_post_data(s) != (part == MIG_POST_DATA);
				if (!drop)
					sb_adds(&sb, s);
				sb_reset(&stmt);
			}
		}
		p += n + (nl != NULL);
	}
	if (stmt.len)
		sb_add(&sb, stmt.buf, stmt.len);
	if (sb_addc(&sb, '\0') == 0 && !q.failed)
		out = sb_detach(&sb);
	sb_release(&sb);
	sb_release(&stmt);
	sb_release(&q);
	return out;
}
