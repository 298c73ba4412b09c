/* export.c -- every row of every table, as JSON Lines or CSV. */
#include "compat.h"
#include "export.h"

#include "strbuf.h"
#include "tempfiles.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#define CANCEL_EVERY 4096
#define MAX_PLAIN_NAME 200
#define OUT_BUFSIZE (1 << 16)

/* ---- storage-class encoding ------------------------------------------ */

/* True when a text or blob accessor returned NULL because SQLite ran out
 * of memory (a NULL for an empty value is not an error). */
static bool
value_oom(sqlite3_stmt *st)
{
	return sqlite3_errcode(sqlite3_db_handle(st)) == SQLITE_NOMEM;
}

void
gsr_json_value(struct jsonw *jw, sqlite3_stmt *st, int i)
{
	/* The type first: the accessors below may convert the value. */
	int type = sqlite3_column_type(st, i);
	const void *p;
	int n;

	switch (type) {
	case SQLITE_INTEGER:
		jw_int(jw, sqlite3_column_int64(st, i));
		break;
	case SQLITE_FLOAT:
		jw_real(jw, sqlite3_column_double(st, i));
		break;
	case SQLITE_TEXT:
		p = sqlite3_column_text(st, i);
		n = sqlite3_column_bytes(st, i);
		if (p == NULL && value_oom(st))
			jw->failed = true;
		jw_strn(jw, p ? p : "", p ? (size_t)n : 0);
		break;
	case SQLITE_BLOB:
		p = sqlite3_column_blob(st, i);
		n = sqlite3_column_bytes(st, i);
		if (p == NULL && value_oom(st))
			jw->failed = true;
		jw_blob(jw, p, p ? (size_t)n : 0);
		break;
	default:
		jw_null(jw);
		break;
	}
}

/* A column name as a JSON key; one that is not UTF-8 as "text_hex:<hex>". */
static void
json_column_key(struct jsonw *jw, const char *name)
{
	static const char hex[] = "0123456789abcdef";
	struct strbuf sb = STRBUF_INIT;
	size_t n;

	if (name == NULL) {
		jw->failed = true;
		jw_key(jw, "");
		return;
	}
	n = strlen(name);
	if (gsr_utf8_valid(name, n)) {
		jw_key(jw, name);
		return;
	}
	sb_adds(&sb, "text_hex:");
	for (size_t k = 0; k < n; k++) {
		unsigned char c = (unsigned char)name[k];
		sb_addc(&sb, hex[c >> 4]);
		sb_addc(&sb, hex[c & 15]);
	}
	if (sb.failed)
		jw->failed = true;
	jw_key(jw, sb_str(&sb));
	sb_release(&sb);
}

void
gsr_json_row_values(struct jsonw *jw, sqlite3_stmt *st, int first)
{
	int n = sqlite3_column_count(st);

	jw_obj_begin(jw);
	for (int i = first < 0 ? 0 : first; i < n; i++) {
		json_column_key(jw, sqlite3_column_name(st, i));
		gsr_json_value(jw, st, i);
	}
	jw_obj_end(jw);
}

/* RFC 4180 field: always quoted, quotes doubled, bytes as they are. */
static void
csv_text(FILE *f, const char *s, size_t n)
{
	const char *end = s + n;

	fputc('"', f);
	while (s < end) {
		const char *q = memchr(s, '"', (size_t)(end - s));
		size_t len = q ? (size_t)(q - s) + 1 : (size_t)(end - s);
		fwrite(s, 1, len, f);
		if (q)
			fputc('"', f);
		s += len;
	}
	fputc('"', f);
}

static void
csv_blob(FILE *f, const unsigned char *p, size_t n)
{
	static const char hex[] = "0123456789ABCDEF";

	fputs("X'", f);
	for (size_t k = 0; k < n; k++) {
		fputc(hex[p[k] >> 4], f);
		fputc(hex[p[k] & 15], f);
	}
	fputc('\'', f);
}

/* One CSV field with the storage-class encoding; jw writes REALs (it is at
 * depth 0 on f, so it writes the bare number).  Returns -1 when SQLite ran
 * out of memory. */
static int
csv_value(FILE *f, struct jsonw *jw, sqlite3_stmt *st, int i)
{
	int type = sqlite3_column_type(st, i);
	const void *p;
	double d;
	int n;

	switch (type) {
	case SQLITE_INTEGER:
		fprintf(f, "%" PRId64, (int64_t)sqlite3_column_int64(st, i));
		break;
	case SQLITE_FLOAT:
		d = sqlite3_column_double(st, i);
		if (isinf(d))
			fputs(d > 0 ? "Inf" : "-Inf", f);
		else if (isnan(d))
			fputs("NaN", f); /* SQLite stores NaN as NULL */
		else
			jw_real(jw, d);
		break;
	case SQLITE_TEXT:
		p = sqlite3_column_text(st, i);
		n = sqlite3_column_bytes(st, i);
		if (p == NULL && value_oom(st))
			return -1;
		csv_text(f, p ? p : "", p ? (size_t)n : 0);
		break;
	case SQLITE_BLOB:
		p = sqlite3_column_blob(st, i);
		n = sqlite3_column_bytes(st, i);
		if (p == NULL && value_oom(st))
			return -1;
		csv_blob(f, p, p ? (size_t)n : 0);
		break;
	default:
		break;
	}
	return 0;
}

/* ---- output files that hash what they write -------------------------- */

/*
 * The cookie of a stream made with fopencookie(): every byte that reaches
 * the file also goes into the SHA-256, so the hash in the manifest is of
 * exactly what was written.  The first write error is kept in err.
 */
struct hfile {
	int fd;
	struct gsr_sha256 h;
	uint64_t bytes;
	int err;
	char *buf; /* the stream's buffer, freed after fclose() */
};

static ssize_t
hf_write(void *cookie, const char *buf, size_t n)
{
	struct hfile *hf = cookie;
	size_t done = 0;

	while (done < n && hf->err == 0) {
		ssize_t w = write(hf->fd, buf + done, n - done);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			hf->err = errno;
		} else if (w == 0) {
			hf->err = EIO;
		} else {
			gsr_sha256_update(&hf->h, buf + done, (size_t)w);
			hf->bytes += (uint64_t)w;
			done += (size_t)w;
		}
	}
	if (done < n)
		errno = hf->err;
	return (ssize_t)done;
}

/* Make the file durable, then close it. */
static int
hf_close(void *cookie)
{
	struct hfile *hf = cookie;

	if (hf->err == 0 && fsync(hf->fd) != 0)
		hf->err = errno;
	if (close(hf->fd) != 0 && hf->err == 0)
		hf->err = errno;
	hf->fd = -1;
	return hf->err ? -1 : 0;
}

struct exporter {
	struct gsr_ctx *ctx;
	sqlite3 *db;
	const char *schema;
	const char *dir;
	int dirfd;
	enum gsr_export_format fmt;
	struct strvec created; /* full paths of the files made, registered */
};

/* Create dir/name (it must not exist) and a hashing stream on it.  NULL
 * with an error on ctx. */
static FILE *
out_open(struct exporter *ex, const char *name, struct hfile *hf)
{
	static const cookie_io_functions_t io = { NULL, hf_write, NULL,
						  hf_close };
	char *path = NULL;
	FILE *f = NULL;

	memset(hf, 0, sizeof *hf);
	gsr_sha256_init(&hf->h);
	if (asprintf(&path, "%s/%s", ex->dir, name) < 0) {
		gsr_ctx_fail(ex->ctx, GSR_ERR_NOMEM, "out of memory");
		return NULL;
	}
	hf->fd =
	    openat(ex->dirfd, name,
		   O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (hf->fd < 0) {
		gsr_ctx_fail(ex->ctx, GSR_ERR_IO, "cannot create '%s': %s",
			     path, strerror(errno));
		free(path);
		return NULL;
	}
	if (sv_push_owned(&ex->created, path) != 0) {
		/* Not tracked, so remove it now. */
		unlinkat(ex->dirfd, name, 0);
		close(hf->fd);
		gsr_ctx_fail(ex->ctx, GSR_ERR_NOMEM, "out of memory");
		return NULL;
	}
	gsr_temp_register(ex->created.v[ex->created.n - 1]);
	if ((hf->buf = malloc(OUT_BUFSIZE)) == NULL ||
	    (f = fopencookie(hf, "w", io)) == NULL) {
		free(hf->buf);
		hf->buf = NULL;
		close(hf->fd);
		gsr_ctx_fail(ex->ctx, GSR_ERR_NOMEM, "out of memory");
		return NULL;
	}
	/* glibc ignores the size unless it is given the buffer. */
	setvbuf(f, hf->buf, _IOFBF, OUT_BUFSIZE);
	return f;
}

/* Flush, sync and close f; record its size and hash.  Always closes. */
static int
out_close(struct exporter *ex, FILE *f, struct hfile *hf, const char *name,
	  char sha256[GSR_SHA256_HEX], uint64_t *bytes)
{
	int err = 0;

	if (fflush(f) != 0 || ferror(f))
		err = hf->err ? hf->err : errno;
	if (fclose(f) != 0 && err == 0)
		err = hf->err ? hf->err : errno;
	free(hf->buf);
	hf->buf = NULL;
	if (err == 0 && hf->err)
		err = hf->err;
	if (err)
		return gsr_ctx_fail(ex->ctx, GSR_ERR_IO,
				    "cannot write '%s/%s': %s", ex->dir, name,
				    strerror(err));
	gsr_sha256_hex(&hf->h, sha256);
	if (bytes)
		*bytes = hf->bytes;
	return 0;
}

/* ---- the tables ---------------------------------------------------------- */

/* How the rows of one table are read and identified. */
struct tinfo {
	bool is_virtual;
	bool without_rowid;
	bool has_rowid; /* the rows carry a rowid */
	int rowid_col;	/* its column in the statement, or -1 */
	int first;	/* the first column that is a value of the table */
};

static bool
is_plain_name(const char *name)
{
	static const char ok[] =
	    "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
	    "0123456789_.-";
	size_t n = strlen(name);

	if (n == 0 || n > MAX_PLAIN_NAME || name[strspn(name, ok)] != '\0')
		return false;
	if (!strcasecmp(name, "schema") || !strcasecmp(name, "manifest"))
		return false;
	/* "table-N" is what other tables are called. */
	if (!strncasecmp(name, "table-", 6) && name[6] != '\0' &&
	    name[6 + strspn(name + 6, "0123456789")] == '\0')
		return false;
	return true;
}

/* Append a table to res and ti, naming its file.  -1 on OOM (recorded). */
static int
add_table(struct exporter *ex, struct gsr_export_result *res, struct tinfo **ti,
	  size_t *cap_ti, const char *name, const char *type,
	  bool without_rowid)
{
	const char *ext = ex->fmt == GSR_EXPORT_CSV ? "csv" : "jsonl";
	size_t pos = res->n_tables + 1; /* from 1, for "table-N" */
	struct gsr_export_table *t;
	struct tinfo *i;

	if (gsr_grow((void **)&res->tables, &res->cap_tables, pos,
		     sizeof *res->tables) ||
	    gsr_grow((void **)ti, cap_ti, pos, sizeof **ti))
		return gsr_ctx_fail(ex->ctx, GSR_ERR_NOMEM, "out of memory");
	t = &res->tables[pos - 1];
	i = &(*ti)[pos - 1];
	if ((t->name = strdup(name ? name : "")) == NULL)
		return gsr_ctx_fail(ex->ctx, GSR_ERR_NOMEM, "out of memory");
	res->n_tables = pos;
	t->rows = -1;
	i->is_virtual = type && !strcmp(type, "virtual");
	i->without_rowid = without_rowid;
	i->rowid_col = -1;
	if (i->is_virtual)
		return 0;
	if (is_plain_name(t->name)
		? asprintf(&t->file, "%s.%s", t->name, ext) < 0
		: asprintf(&t->file, "table-%zu.%s", pos, ext) < 0) {
		t->file = NULL;
		return gsr_ctx_fail(ex->ctx, GSR_ERR_NOMEM, "out of memory");
	}
	return 0;
}

/* List the tables of the schema in sqlite_master order. */
static int
list_tables(struct exporter *ex, struct gsr_export_result *res,
	    struct tinfo **ti)
{
	sqlite3_stmt *st = NULL;
	size_t cap = 0;
	char *q = NULL;
	int rc = -1, src;

	q = sqlite3_mprintf(
	    "SELECT m.name, l.type, l.wr FROM \"%w\".sqlite_master AS m "
	    "LEFT JOIN pragma_table_list(m.name) AS l ON l.schema = ?1 "
	    "WHERE m.type = 'table' ORDER BY m.rowid",
	    ex->schema);
	if (q == NULL) {
		gsr_ctx_fail(ex->ctx, GSR_ERR_NOMEM, "out of memory");
		goto out;
	}
	if (sqlite3_prepare_v2(ex->db, q, -1, &st, NULL) != SQLITE_OK) {
		gsr_ctx_fail(ex->ctx, GSR_ERR_INPUT,
			     "cannot read the schema: %s",
			     sqlite3_errmsg(ex->db));
		goto out;
	}
	sqlite3_bind_text(st, 1, ex->schema, -1, SQLITE_STATIC);
	while ((src = sqlite3_step(st)) == SQLITE_ROW)
		if (add_table(ex, res, ti, &cap,
			      (const char *)sqlite3_column_text(st, 0),
			      (const char *)sqlite3_column_text(st, 1),
			      sqlite3_column_int(st, 2) != 0) != 0)
			goto out;
	if (src != SQLITE_DONE) {
		gsr_ctx_fail(ex->ctx, GSR_ERR_INPUT,
			     "cannot read the schema: %s",
			     sqlite3_errmsg(ex->db));
		goto out;
	}
	rc = 0;
out:
	sqlite3_finalize(st);
	sqlite3_free(q);
	return rc;
}

/*
 * Decide how the rowid of a rowid table is read.  *alias gets the first of
 * _rowid_, rowid and oid that no column is named; failing that, *ipk the
 * name of the INTEGER PRIMARY KEY column (a copy), if there is one.
 */
static int
find_rowid(struct exporter *ex, const char *table, const char **alias,
	   char **ipk)
{
	static const char *const names[] = { "_rowid_", "rowid", "oid" };
	bool taken[GSR_ARRAY_LEN(names)] = { false };
	sqlite3_stmt *st = NULL;
	char *pk = NULL;
	bool pk_integer = false;
	int n_pk = 0, rc = -1, src;

	*alias = NULL;
	*ipk = NULL;
	if (sqlite3_prepare_v2(ex->db,
			       "SELECT name, upper(type) = 'INTEGER', pk "
			       "FROM pragma_table_xinfo(?1, ?2)",
			       -1, &st, NULL) != SQLITE_OK)
		goto out;
	sqlite3_bind_text(st, 1, table, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, ex->schema, -1, SQLITE_STATIC);
	while ((src = sqlite3_step(st)) == SQLITE_ROW) {
		const char *name = (const char *)sqlite3_column_text(st, 0);

		for (size_t k = 0; name && k < GSR_ARRAY_LEN(names); k++)
			if (!strcasecmp(name, names[k]))
				taken[k] = true;
		if (sqlite3_column_int(st, 2) > 0 && n_pk++ == 0) {
			pk_integer = sqlite3_column_int(st, 1) != 0;
			if ((pk = gsr_strdup(name ? name : "")) == NULL) {
				gsr_ctx_fail(ex->ctx, GSR_ERR_NOMEM,
					     "out of memory");
				goto out;
			}
		}
	}
	if (src != SQLITE_DONE)
		goto out;
	sqlite3_finalize(st);
	st = NULL;
	for (size_t k = 0; k < GSR_ARRAY_LEN(names) && *alias == NULL; k++)
		if (!taken[k])
			*alias = names[k];
	/* Every name is a column's: the rowid is reachable only through an
	 * INTEGER PRIMARY KEY, which is the rowid unless an index backs it
	 * (as for "INTEGER PRIMARY KEY DESC"). */
	if (*alias == NULL && n_pk == 1 && pk_integer) {
		if (sqlite3_prepare_v2(
			ex->db,
			"SELECT count(*) FROM pragma_index_list(?1, ?2) "
			"WHERE origin = 'pk'",
			-1, &st, NULL) != SQLITE_OK)
			goto out;
		sqlite3_bind_text(st, 1, table, -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 2, ex->schema, -1, SQLITE_STATIC);
		if (sqlite3_step(st) != SQLITE_ROW)
			goto out;
		if (sqlite3_column_int(st, 0) == 0) {
			*ipk = pk;
			pk = NULL;
		}
	}
	rc = 0;
out:
	if (rc != 0 && !gsr_ctx_failed(ex->ctx))
		gsr_ctx_fail(ex->ctx, GSR_ERR_INPUT,
			     "cannot read the columns of table '%s': %s", table,
			     sqlite3_errmsg(ex->db));
	sqlite3_finalize(st);
	free(pk);
	return rc;
}

/* Prepare the statement that reads every row of table t; fill ti. */
static sqlite3_stmt *
prepare_rows(struct exporter *ex, const struct gsr_export_table *t,
	     struct tinfo *ti)
{
	sqlite3_stmt *st = NULL;
	const char *alias = NULL;
	char *ipk = NULL;
	char *q = NULL;

	ti->has_rowid = false;
	ti->rowid_col = -1;
	ti->first = 0;
	if (!ti->without_rowid && find_rowid(ex, t->name, &alias, &ipk) != 0)
		return NULL;
	if (alias)
		q = sqlite3_mprintf(
		    "SELECT %s, * FROM \"%w\".\"%w\" ORDER BY %s", alias,
		    ex->schema, t->name, alias);
	else if (ipk)
		q = sqlite3_mprintf(
		    "SELECT * FROM \"%w\".\"%w\" ORDER BY \"%w\"", ex->schema,
		    t->name, ipk);
	else
		q = sqlite3_mprintf("SELECT * FROM \"%w\".\"%w\"", ex->schema,
				    t->name);
	if (q == NULL) {
		gsr_ctx_fail(ex->ctx, GSR_ERR_NOMEM, "out of memory");
		goto out;
	}
	if (sqlite3_prepare_v2(ex->db, q, -1, &st, NULL) != SQLITE_OK) {
		gsr_ctx_fail(ex->ctx, GSR_ERR_INPUT,
			     "cannot read table '%s': %s", t->name,
			     sqlite3_errmsg(ex->db));
		goto out;
	}
	if (alias) {
		ti->has_rowid = true;
		ti->rowid_col = 0;
		ti->first = 1;
	} else if (ipk) {
		for (int i = 0; i < sqlite3_column_count(st); i++) {
			const char *c = sqlite3_column_name(st, i);
			if (c && !strcasecmp(c, ipk)) {
				ti->has_rowid = true;
				ti->rowid_col = i;
				break;
			}
		}
	}
out:
	free(ipk);
	sqlite3_free(q);
	return st;
}

static void
csv_header(FILE *f, sqlite3_stmt *st, const struct tinfo *ti)
{
	int n = sqlite3_column_count(st);
	bool sep = false;

	if (ti->has_rowid) {
		fputs("\"rowid\"", f);
		sep = true;
	}
	for (int i = ti->first; i < n; i++) {
		const char *c = sqlite3_column_name(st, i);
		if (sep)
			fputc(',', f);
		csv_text(f, c ? c : "", c ? strlen(c) : 0);
		sep = true;
	}
	fputs("\r\n", f);
}

/* Write one row; -1 when SQLite ran out of memory converting a value. */
static int
write_row(struct exporter *ex, FILE *f, struct jsonw *jw, sqlite3_stmt *st,
	  const struct gsr_export_table *t, const struct tinfo *ti)
{
	int n = sqlite3_column_count(st);

	if (ex->fmt == GSR_EXPORT_JSONL) {
		jw_obj_begin(jw);
		jw_kstr(jw, "table", t->name);
		if (ti->has_rowid)
			jw_kint(jw, "rowid",
				sqlite3_column_int64(st, ti->rowid_col));
		jw_kstr(jw, "source", "btree");
		jw_key(jw, "values");
		gsr_json_row_values(jw, st, ti->first);
		jw_obj_end(jw);
		jw_end_line(jw);
		return jw->failed ? -1 : 0;
	}
	bool sep = false;
	if (ti->has_rowid) {
		fprintf(f, "%" PRId64,
			(int64_t)sqlite3_column_int64(st, ti->rowid_col));
		sep = true;
	}
	for (int i = ti->first; i < n; i++) {
		if (sep)
			fputc(',', f);
		if (csv_value(f, jw, st, i) != 0)
			return -1;
		sep = true;
	}
	fputs("\r\n", f);
	return 0;
}

static int
export_table(struct exporter *ex, struct gsr_export_table *t, struct tinfo *ti)
{
	sqlite3_stmt *st = NULL;
	struct hfile hf;
	struct jsonw jw;
	FILE *f = NULL;
	int64_t rows = 0;
	int rc = -1, src;

	if ((st = prepare_rows(ex, t, ti)) == NULL)
		goto out;
	if ((f = out_open(ex, t->file, &hf)) == NULL)
		goto out;
	jw_init(&jw, f, false);
	if (ex->fmt == GSR_EXPORT_CSV)
		csv_header(f, st, ti);
	while ((src = sqlite3_step(st)) == SQLITE_ROW) {
		if (write_row(ex, f, &jw, st, t, ti) != 0) {
			gsr_ctx_fail(ex->ctx, GSR_ERR_NOMEM,
				     "out of memory reading table '%s'",
				     t->name);
			goto out;
		}
		if (++rows % CANCEL_EVERY == 0) {
			if (gsr_ctx_check_cancel(ex->ctx) != 0)
				goto out;
			if (ferror(f))
				break; /* out_close() reports it */
		}
	}
	if (src != SQLITE_DONE && src != SQLITE_ROW) {
		gsr_ctx_fail(ex->ctx, GSR_ERR_INPUT,
			     "cannot read table '%s': %s", t->name,
			     sqlite3_errmsg(ex->db));
		goto out;
	}
	t->rows = rows;
	rc = 0;
out:
	if (f != NULL &&
	    out_close(ex, f, &hf, t->file, t->sha256, &t->bytes) != 0)
		rc = -1;
	sqlite3_finalize(st);
	return rc;
}

static int
export_schema(struct exporter *ex, struct gsr_export_result *res)
{
	sqlite3_stmt *st = NULL;
	struct hfile hf;
	FILE *f = NULL;
	char *q = NULL;
	int rc = -1, src;

	q = sqlite3_mprintf(
	    "SELECT sql FROM \"%w\".sqlite_master WHERE sql IS NOT NULL "
	    "ORDER BY rowid",
	    ex->schema);
	if (q == NULL) {
		gsr_ctx_fail(ex->ctx, GSR_ERR_NOMEM, "out of memory");
		goto out;
	}
	if (sqlite3_prepare_v2(ex->db, q, -1, &st, NULL) != SQLITE_OK) {
		gsr_ctx_fail(ex->ctx, GSR_ERR_INPUT,
			     "cannot read the schema: %s",
			     sqlite3_errmsg(ex->db));
		goto out;
	}
	if ((f = out_open(ex, "schema.sql", &hf)) == NULL)
		goto out;
	while ((src = sqlite3_step(st)) == SQLITE_ROW) {
		const char *sql = (const char *)sqlite3_column_text(st, 0);
		int n = sqlite3_column_bytes(st, 0);

		if (sql == NULL && value_oom(st)) {
			gsr_ctx_fail(ex->ctx, GSR_ERR_NOMEM, "out of memory");
			goto out;
		}
		if (sql)
			fwrite(sql, 1, (size_t)n, f);
		fputs(";\n", f);
	}
	if (src != SQLITE_DONE) {
		gsr_ctx_fail(ex->ctx, GSR_ERR_INPUT,
			     "cannot read the schema: %s",
			     sqlite3_errmsg(ex->db));
		goto out;
	}
	rc = 0;
out:
	if (f != NULL &&
	    out_close(ex, f, &hf, "schema.sql", res->schema_sha256, NULL) != 0)
		rc = -1;
	sqlite3_finalize(st);
	sqlite3_free(q);
	return rc;
}

static int
export_manifest(struct exporter *ex, struct gsr_export_result *res,
		const struct tinfo *ti, const struct gsr_evidence *ev)
{
	struct hfile hf;
	struct jsonw jw;
	FILE *f;

	if ((f = out_open(ex, "manifest.json", &hf)) == NULL)
		return -1;
	jw_init(&jw, f, true);
	jw_obj_begin(&jw);
	jw_kstr(&jw, "format", "gsrecover-export");
	jw_kint(&jw, "version", 1);
	jw_kstr(&jw, "format_of_rows",
		ex->fmt == GSR_EXPORT_CSV ? "csv" : "jsonl");
	jw_key(&jw, "input");
	gsr_evidence_write_json(ev, &jw, false);
	jw_key(&jw, "schema");
	jw_obj_begin(&jw);
	jw_kstr(&jw, "file", "schema.sql");
	jw_kstr(&jw, "sha256", res->schema_sha256);
	jw_obj_end(&jw);
	jw_key(&jw, "tables");
	jw_arr_begin(&jw);
	for (size_t i = 0; i < res->n_tables; i++) {
		const struct gsr_export_table *t = &res->tables[i];
		jw_obj_begin(&jw);
		jw_kstr(&jw, "name", t->name);
		if (t->file == NULL) {
			jw_kstr(&jw, "skipped", "virtual table");
		} else {
			jw_kstr(&jw, "file", t->file);
			jw_kint(&jw, "rows", t->rows);
			jw_kint(&jw, "bytes", (int64_t)t->bytes);
			jw_kstr(&jw, "sha256", t->sha256);
			jw_kbool(&jw, "rowid", ti[i].has_rowid);
		}
		jw_obj_end(&jw);
	}
	jw_arr_end(&jw);
	jw_kint(&jw, "total_rows", res->total_rows);
	jw_obj_end(&jw);
	jw_end_line(&jw);
	return out_close(ex, f, &hf, "manifest.json", res->manifest_sha256,
			 NULL);
}

int
gsr_export_db(struct gsr_ctx *ctx, sqlite3 *db, const char *schema,
	      const char *dir, enum gsr_export_format fmt,
	      const struct gsr_evidence *ev, struct gsr_export_result *res)
{
	struct exporter ex = { .ctx = ctx,
			       .db = db,
			       .schema = schema,
			       .dir = dir,
			       .dirfd = -1,
			       .fmt = fmt,
			       .created = STRVEC_INIT };
	struct tinfo *ti = NULL;
	int rc = -1;

	if (gsr_ctx_failed(ctx))
		return -1;
	ex.dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (ex.dirfd < 0) {
		gsr_ctx_fail(ctx, GSR_ERR_IO, "cannot open '%s': %s", dir,
			     strerror(errno));
		goto out;
	}
	if (list_tables(&ex, res, &ti) != 0 || export_schema(&ex, res) != 0)
		goto out;
	for (size_t i = 0; i < res->n_tables; i++) {
		struct gsr_export_table *t = &res->tables[i];
		if (t->file == NULL)
			continue;
		if (gsr_ctx_check_cancel(ctx) != 0 ||
		    export_table(&ex, t, &ti[i]) != 0)
			goto out;
		res->total_rows += t->rows;
	}
	if (gsr_ctx_check_cancel(ctx) != 0 ||
	    export_manifest(&ex, res, ti, ev) != 0)
		goto out;
	if (fsync(ex.dirfd) != 0) {
		gsr_ctx_fail(ctx, GSR_ERR_IO, "cannot write '%s': %s", dir,
			     strerror(errno));
		goto out;
	}
	rc = 0;
out:
	for (size_t i = 0; i < ex.created.n; i++) {
		if (rc != 0)
			unlink(ex.created.v[i]);
		gsr_temp_unregister(ex.created.v[i]);
	}
	sv_release(&ex.created);
	if (ex.dirfd >= 0)
		close(ex.dirfd);
	free(ti);
	return rc;
}

void
gsr_export_result_release(struct gsr_export_result *res)
{
	for (size_t i = 0; i < res->n_tables; i++) {
		free(res->tables[i].name);
		free(res->tables[i].file);
	}
	free(res->tables);
	memset(res, 0, sizeof *res);
}
