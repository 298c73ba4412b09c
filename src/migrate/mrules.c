/* mrules.c -- the migration rules: rules/migrate/ *.migrate. */
#include "compat.h"
#include "migrate.h"

#include "strbuf.h"

#include <dirent.h>
#include <sqlite3.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A loaded file may not exceed this (the schema is about 10 KiB). */
#define MRULES_MAX_FILE ((size_t)4 << 20)

struct mload {
	struct gsr_ctx *ctx;
	struct strvec *errors;
	const char *file;
	int line;
	int n_errors;
};

/* Record a problem at the current file and line; the first one also
 * fails ctx.  Returns -1. */
static int GSR_PRINTF(2, 3) problem(struct mload *m, const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	if (m->errors) {
		char *s = NULL;
		if (asprintf(&s, "%s:%d: %s", m->file, m->line, msg) >= 0)
			sv_push_owned(m->errors, s);
	}
	if (m->n_errors++ == 0)
		gsr_ctx_fail(m->ctx, GSR_ERR_RULES, "%s:%d: %s", m->file,
		             m->line, msg);
	return -1;
}

/* Read a whole text file (at most MRULES_MAX_FILE bytes) into a
 * NUL-terminated string; NULL with errno set on failure. */
static char *
slurp(const char *path)
{
	struct strbuf sb = STRBUF_INIT;
	char buf[8192];
	size_t n;
	char *out = NULL;
	FILE *f = fopen(path, "re");

	if (f == NULL)
		return NULL;
	sb.max = MRULES_MAX_FILE;
	while ((n = fread(buf, 1, sizeof buf, f)) > 0)
		if (sb_add(&sb, buf, n)) {
			errno = EFBIG;
			goto out;
		}
	if (ferror(f)) {
		errno = EIO;
		goto out;
	}
	if (sb_addc(&sb, '\0') == 0 && memchr(sb.buf, '\0', sb.len - 1) == NULL)
		out = sb_detach(&sb);
	else
		errno = EINVAL;
out:
	sb_release(&sb);
	fclose(f);
	return out;
}

static int
set_once(struct mload *m, char **slot, const char *key, const char *val)
{
	if (*slot != NULL)
		return problem(m, "'%s' given twice", key);
	if ((*slot = strdup(val)) == NULL)
		return gsr_ctx_fail(m->ctx, GSR_ERR_NOMEM, "out of memory");
	return 0;
}

/* Check the record just ended (if any): the keys every effect needs. */
static void
end_effect(struct mload *m, const struct gsr_migrate_effect *e,
           const struct gsr_rules *rules)
{
	int line = m->line;

	if (e == NULL)
		return;
	m->line = e->line;
	if (!e->version || !e->revision || !e->message || !e->severity)
		problem(m,
		        "effect %s: version, revision, severity and message "
		        "are required",
		        e->name);
	else if (strcmp(e->severity, "info") && strcmp(e->severity, "loss") &&
	         strcmp(e->severity, "stop"))
		problem(m, "effect %s: severity is info, loss or stop",
		        e->name);
	if (!e->table && !e->source_before)
		problem(
		    m, "effect %s: needs a table (with where) or source-before",
		    e->name);
	if ((e->where != NULL) != (e->table != NULL))
		problem(m, "effect %s: table and where go together", e->name);
	if (rules && e->source_before &&
	    !gsr_rules_label(rules, e->source_before))
		problem(m, "effect %s: source-before names no label: %s",
		        e->name, e->source_before);
	m->line = line;
}

/* Parse one .migrate file (its text owned by the caller). */
static void
parse_file(struct mload *m, char *text, const char *dir, const char *file,
           const struct gsr_rules *rules, struct gsr_migrate_rules *mr)
{
	struct gsr_migrate_effect *cur = NULL;
	char *save = NULL;

	m->file = file;
	m->line = 0;
	for (char *p = text; p; p = save) {
		char *nl = strchr(p, '\n');
		save = nl ? nl + 1 : NULL;
		if (nl)
			*nl = '\0';
		m->line++;
		if (*p == '#')
			continue;
		if (*p == '\0') {
			end_effect(m, cur, rules);
			cur = NULL;
			continue;
		}
		char *sp = strchr(p, ' ');
		if (sp == NULL || sp[1] == '\0') {
			problem(m, "expected 'KEY VALUE'");
			continue;
		}
		*sp = '\0';
		const char *key = p, *val = sp + 1;
		if (!strcmp(key, "effect")) {
			end_effect(m, cur, rules);
			if (gsr_grow((void **)&mr->effects, &mr->cap_effects,
			             mr->n_effects + 1, sizeof *mr->effects)) {
				gsr_ctx_fail(m->ctx, GSR_ERR_NOMEM,
				             "out of memory");
				return;
			}
			for (size_t i = 0; i < mr->n_effects; i++)
				if (!strcmp(mr->effects[i].name, val))
					problem(m, "effect %s defined twice",
					        val);
			cur = &mr->effects[mr->n_effects++];
			cur->name = strdup(val);
			cur->file = strdup(file);
			cur->line = m->line;
			continue;
		}
		if (cur != NULL) {
			char **slot =
			    !strcmp(key, "version")    ? &cur->version
			    : !strcmp(key, "revision") ? &cur->revision
			    : !strcmp(key, "table")    ? &cur->table
			    : !strcmp(key, "where")    ? &cur->where
			    : !strcmp(key, "source-before")
			        ? &cur->source_before
			    : !strcmp(key, "severity") ? &cur->severity
			    : !strcmp(key, "message")  ? &cur->message
			                               : NULL;
			if (slot == NULL)
				problem(m, "unknown key '%s' in effect %s", key,
				        cur->name);
			else
				set_once(m, slot, key, val);
			continue;
		}
		if (!strcmp(key, "target")) {
			if (!set_once(m, &mr->target, key, val) && rules) {
				const struct gsr_label *l =
				    gsr_rules_label(rules, val);
				if (l == NULL || strcmp(l->kind, "release"))
					problem(m,
					        "target names no release: %s",
					        val);
			}
		} else if (!strcmp(key, "alembic")) {
			set_once(m, &mr->alembic, key, val);
		} else if (!strcmp(key, "schema")) {
			if (strchr(val, '/'))
				problem(m,
				        "schema names a file beside this one");
			else if (!set_once(m, &mr->schema_file, key, val)) {
				char *path = NULL;
				if (asprintf(&path, "%s/%s", dir, val) < 0) {
					gsr_ctx_fail(m->ctx, GSR_ERR_NOMEM,
					             "out of memory");
					return;
				}
				mr->schema_sql = slurp(path);
				if (mr->schema_sql == NULL)
					problem(m, "cannot read %s: %s", path,
					        strerror(errno));
				else if (!strstr(mr->schema_sql,
				                 "CREATE TABLE"))
					problem(m, "%s creates no table", path);
				free(path);
			}
		} else {
			problem(m, "unknown key '%s'", key);
		}
		if (mr->file == NULL)
			mr->file = strdup(file);
	}
	end_effect(m, cur, rules);
}

/*
 * Prepare every effect's where clause against the schema it applies to:
 * the target release's tables, created in a private in-memory database
 * (double-quoted strings refused, so that a misspelt quoted column is an
 * error, not a string).  A typo in a rules file is then caught by
 * `rules check`, not by the first migrate that evaluates it.
 */
static void
check_effects(struct mload *m, const struct gsr_rules *rules,
              const struct gsr_migrate_rules *mr)
{
	const struct gsr_label *l = gsr_rules_label(rules, mr->target);
	sqlite3 *db = NULL;

	if (l == NULL || l->schema_label == NULL)
		return;
	if (sqlite3_open_v2(":memory:", &db,
	                    SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE,
	                    NULL) != SQLITE_OK) {
		gsr_ctx_fail(m->ctx, GSR_ERR_NOMEM, "out of memory");
		goto out;
	}
	sqlite3_db_config(db, SQLITE_DBCONFIG_DQS_DML, 0, NULL);
	for (size_t i = 0; i < l->schema_label->n_objs; i++) {
		const struct gsr_rule_obj *o = &l->schema_label->objs[i];
		if (strcmp(o->type, "table") ||
		    !strcmp(o->name, "sqlite_sequence"))
			continue;
		if (sqlite3_exec(db, o->sql, NULL, NULL, NULL) != SQLITE_OK) {
			m->file = mr->file;
			m->line = 0;
			problem(m, "the schema of %s: %s", l->name,
			        sqlite3_errmsg(db));
			goto out;
		}
	}
	for (size_t i = 0; i < mr->n_effects; i++) {
		const struct gsr_migrate_effect *e = &mr->effects[i];
		sqlite3_stmt *st = NULL;
		char *sql;
		if (e->table == NULL)
			continue;
		sql = e->where ? sqlite3_mprintf("SELECT rowid FROM \"%w\" "
		                                 "WHERE (%s)",
		                                 e->table, e->where)
		               : sqlite3_mprintf("SELECT rowid FROM \"%w\"",
		                                 e->table);
		if (sql == NULL) {
			gsr_ctx_fail(m->ctx, GSR_ERR_NOMEM, "out of memory");
			goto out;
		}
		m->file = e->file;
		m->line = e->line;
		if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK)
			problem(m, "effect %s: %s over %s of %s: %s", e->name,
			        e->where ? "where" : "table", e->table, l->name,
			        sqlite3_errmsg(db));
		sqlite3_finalize(st);
		sqlite3_free(sql);
	}
out:
	sqlite3_close(db);
}

static int
cmp_names(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

int
gsr_migrate_rules_load(struct gsr_ctx *ctx, const char *dir,
                       const struct gsr_rules *rules,
                       struct gsr_migrate_rules *out, struct strvec *errors)
{
	struct mload m = {.ctx = ctx, .errors = errors, .file = dir};
	struct strvec names = STRVEC_INIT;
	char *mdir = NULL;
	DIR *d = NULL;
	struct dirent *de;

	if (gsr_ctx_failed(ctx))
		return -1;
	memset(out, 0, sizeof *out);
	if (asprintf(&mdir, "%s/migrate", dir) < 0) {
		mdir = NULL;
		gsr_ctx_fail(ctx, GSR_ERR_NOMEM, "out of memory");
		goto out;
	}
	if ((d = opendir(mdir)) == NULL) {
		gsr_ctx_fail(ctx, GSR_ERR_RULES, "%s: %s (the migration rules)",
		             mdir, strerror(errno));
		goto out;
	}
	while ((de = readdir(d)) != NULL) {
		size_t n = strlen(de->d_name);
		if (n > 8 && !strcmp(de->d_name + n - 8, ".migrate") &&
		    de->d_name[0] != '.')
			if (sv_push(&names, de->d_name)) {
				gsr_ctx_fail(ctx, GSR_ERR_NOMEM,
				             "out of memory");
				goto out;
			}
	}
	if (names.n)
		qsort(names.v, names.n, sizeof *names.v, cmp_names);
	for (size_t i = 0; i < names.n && !gsr_ctx_failed(ctx); i++) {
		char *path = NULL, *text;
		if (asprintf(&path, "%s/%s", mdir, names.v[i]) < 0) {
			gsr_ctx_fail(ctx, GSR_ERR_NOMEM, "out of memory");
			break;
		}
		if ((text = slurp(path)) == NULL) {
			m.file = path;
			m.line = 0;
			problem(&m, "cannot read: %s", strerror(errno));
		} else {
			parse_file(&m, text, mdir, path, rules, out);
		}
		free(text);
		free(path);
		if (errors == NULL && m.n_errors)
			break;
	}
	if (m.n_errors == 0 && !gsr_ctx_failed(ctx) &&
	    (!out->target || !out->alembic || !out->schema_sql)) {
		m.file = mdir;
		m.line = 0;
		problem(&m, "no migration target (target, alembic and schema)");
	}
	if (rules && out->target && !gsr_ctx_failed(ctx))
		check_effects(&m, rules, out);
out:
	if (d)
		closedir(d);
	sv_release(&names);
	free(mdir);
	if (gsr_ctx_failed(ctx)) {
		gsr_migrate_rules_release(out);
		return -1;
	}
	return 0;
}

void
gsr_migrate_rules_release(struct gsr_migrate_rules *mr)
{
	for (size_t i = 0; i < mr->n_effects; i++) {
		struct gsr_migrate_effect *e = &mr->effects[i];
		free(e->name);
		free(e->version);
		free(e->revision);
		free(e->table);
		free(e->where);
		free(e->source_before);
		free(e->severity);
		free(e->message);
		free(e->file);
	}
	free(mr->effects);
	free(mr->target);
	free(mr->alembic);
	free(mr->schema_file);
	free(mr->schema_sql);
	free(mr->file);
	memset(mr, 0, sizeof *mr);
}
