/* export.c -- every row of every table, as JSON Lines or CSV. */
#include "compat.h"
#include "export.h"

#include "archive.h"
#include "btree.h"
#include "dbopen.h"
#include "dirsync.h"
#include "fdio.h"
#include "names.h"
#include "strbuf.h"
#include "tempfiles.h"
#include "thread.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#define CANCEL_EVERY 4096
#define MAX_PLAIN_NAME 200
#define OUT_BUFSIZE (1 << 18)
/* Room for any one number or short token in the output buffer. */
#define TOKEN_MAX 64

/* ---- storage-class encoding through jsonw (the quarantine's) ------------ */

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

/* ---- output files ------------------------------------------------------ */

/*
 * One file of the export, written through a buffer of OUT_BUFSIZE bytes
 * either to a file of the directory (hashed here) or to a member of a
 * spool (which hashes it).  The first failure is recorded on ctx and
 * failed set; later writes are dropped.
 */
struct ofile {
	struct gsr_ctx *ctx;
	const char *name; /* for messages */
	const char *dir;
	int fd;
	struct gsr_sha256 h;
	struct gsr_archive_spool *sp;
	uint64_t bytes;
	unsigned char *buf;
	size_t len;
	bool failed;
};

/* Hand the buffer to the file or spool (a failure is recorded once). */
static void
of_flush(struct ofile *of)
{
	if (of->len == 0 || of->failed) {
		of->len = 0;
		return;
	}
	if (of->sp) {
		if (gsr_archive_spool_write(of->ctx, of->sp, of->buf, of->len))
			of->failed = true;
	} else if (gsr_write_all(of->fd, of->buf, of->len) != 0) {
		gsr_ctx_fail(of->ctx, GSR_ERR_IO, "cannot write '%s/%s': %s",
		             of->dir, of->name, strerror(errno));
		of->failed = true;
	} else {
		gsr_sha256_update(&of->h, of->buf, of->len);
	}
	of->bytes += of->len;
	of->len = 0;
}

/* Make room for n <= OUT_BUFSIZE bytes; returns where they go. */
static inline unsigned char *
of_room(struct ofile *of, size_t n)
{
	if (OUT_BUFSIZE - of->len < n)
		of_flush(of);
	return of->buf + of->len;
}

/* Append one byte, n bytes, a string. */
static inline void
of_putc(struct ofile *of, char c)
{
	if (of->len == OUT_BUFSIZE)
		of_flush(of);
	of->buf[of->len++] = (unsigned char)c;
}

static void
of_write(struct ofile *of, const void *p, size_t n)
{
	const unsigned char *b = p;

	while (n > 0) {
		size_t k;

		if (of->len == OUT_BUFSIZE)
			of_flush(of);
		k = OUT_BUFSIZE - of->len;
		if (k > n)
			k = n;
		memcpy(of->buf + of->len, b, k);
		of->len += k;
		b += k;
		n -= k;
	}
}

static void
of_puts(struct ofile *of, const char *s)
{
	of_write(of, s, strlen(s));
}

/* Append v in decimal. */
static void
of_int(struct ofile *of, int64_t v)
{
	unsigned char *p = of_room(of, GSR_FMT_INT_MAX);

	of->len += gsr_fmt_int((char *)p, v);
}

/* Append a finite v as jw_real() writes it. */
static void
of_real_digits(struct ofile *of, double v)
{
	unsigned char *p = of_room(of, GSR_FMT_REAL_MAX);

	of->len += gsr_fmt_real((char *)p, v);
}

/* Append the n bytes at p in hex, two digits a byte. */
static void
of_hex(struct ofile *of, const unsigned char *p, size_t n, bool upper)
{
	const char *hex = upper ? "0123456789ABCDEF" : "0123456789abcdef";

	while (n > 0) {
		size_t k = n < TOKEN_MAX / 2 ? n : TOKEN_MAX / 2;
		unsigned char *o = of_room(of, 2 * k);

		for (size_t i = 0; i < k; i++) {
			o[2 * i] = (unsigned char)hex[p[i] >> 4];
			o[2 * i + 1] = (unsigned char)hex[p[i] & 15];
		}
		of->len += 2 * k;
		p += k;
		n -= k;
	}
}

/* How a byte goes into a JSON string: 1 as it is, 2 as it is when the
 * text is UTF-8 (0x80 and up), 0 escaped. */
static inline int
json_plain(unsigned char c)
{
	if (c >= 0x80)
		return 2;
	return c >= 0x20 && c != '"' && c != '\\' && c != 0x7f;
}

/*
 * A TEXT value as jw_strn() writes it: a JSON string when the bytes are
 * UTF-8 ('"', '\\' and controls escaped, DEL as \u007f), else
 * {"text_hex": "<hex>"}.  Printable ASCII without quotes, the bulk of a
 * database, is copied in one go.
 */
static void
of_jstr(struct ofile *of, const unsigned char *s, size_t n)
{
	size_t i = 0, run = 0;
	bool ascii = true;

	while (i < n && json_plain(s[i]) == 1)
		i++;
	if (i == n) {
		of_putc(of, '"');
		of_write(of, s, n);
		of_putc(of, '"');
		return;
	}
	for (size_t k = i; k < n && ascii; k++)
		ascii = s[k] < 0x80;
	if (!ascii && !gsr_utf8_valid((const char *)s, n)) {
		of_puts(of, "{\"text_hex\":\"");
		of_hex(of, s, n, false);
		of_puts(of, "\"}");
		return;
	}
	of_putc(of, '"');
	for (; i < n; i++) {
		unsigned char c = s[i];
		unsigned char *o;

		if (json_plain(c))
			continue;
		of_write(of, s + run, i - run);
		run = i + 1;
		o = of_room(of, 6);
		o[0] = '\\';
		switch (c) {
		case '"':
			o[1] = '"';
			of->len += 2;
			break;
		case '\\':
			o[1] = '\\';
			of->len += 2;
			break;
		case '\n':
			o[1] = 'n';
			of->len += 2;
			break;
		case '\r':
			o[1] = 'r';
			of->len += 2;
			break;
		case '\t':
			o[1] = 't';
			of->len += 2;
			break;
		case '\b':
			o[1] = 'b';
			of->len += 2;
			break;
		case '\f':
			o[1] = 'f';
			of->len += 2;
			break;
		default:
			o[1] = 'u';
			o[2] = '0';
			o[3] = '0';
			o[4] = "0123456789abcdef"[c >> 4];
			o[5] = "0123456789abcdef"[c & 15];
			of->len += 6;
		}
	}
	of_write(of, s + run, n - run);
	of_putc(of, '"');
}

/* A value to write, as sqlite3_column_*() or the b-tree walker gives it:
 * type is SQLITE_INTEGER (i), SQLITE_FLOAT (r), SQLITE_TEXT or
 * SQLITE_BLOB (p, n) or SQLITE_NULL. */
struct xval {
	int type;
	int64_t i;
	double r;
	const unsigned char *p;
	size_t n;
};

/* Column i of the current row of st.  Returns -1 when SQLite ran out of
 * memory converting it. */
static int
sql_value(sqlite3_stmt *st, int i, struct xval *v)
{
	/* The type first: the accessors below may convert the value. */
	switch ((v->type = sqlite3_column_type(st, i))) {
	case SQLITE_INTEGER:
		v->i = sqlite3_column_int64(st, i);
		break;
	case SQLITE_FLOAT:
		v->r = sqlite3_column_double(st, i);
		break;
	case SQLITE_TEXT:
	case SQLITE_BLOB:
		v->p = v->type == SQLITE_TEXT ? sqlite3_column_text(st, i)
		                              : sqlite3_column_blob(st, i);
		v->n = (size_t)sqlite3_column_bytes(st, i);
		if (v->p == NULL) {
			if (value_oom(st))
				return -1;
			v->p = (const unsigned char *)"";
			v->n = 0;
		}
		break;
	default:
		v->type = SQLITE_NULL;
	}
	return 0;
}

/* A value as JSON. */
static void
of_json_value(struct ofile *of, const struct xval *v)
{
	switch (v->type) {
	case SQLITE_INTEGER:
		of_int(of, v->i);
		break;
	case SQLITE_FLOAT:
		if (isnan(v->r))
			of_puts(of, "{\"real\":\"nan\"}");
		else if (isinf(v->r))
			of_puts(of, v->r > 0 ? "{\"real\":\"inf\"}"
			                     : "{\"real\":\"-inf\"}");
		else
			of_real_digits(of, v->r);
		break;
	case SQLITE_TEXT:
		of_jstr(of, v->p, v->n);
		break;
	case SQLITE_BLOB:
		of_puts(of, "{\"blob_hex\":\"");
		of_hex(of, v->p, v->n, false);
		of_puts(of, "\"}");
		break;
	default:
		of_puts(of, "null");
		break;
	}
}

/* RFC 4180 field: always quoted, quotes doubled, bytes as they are. */
static void
of_csv_text(struct ofile *of, const unsigned char *s, size_t n)
{
	const unsigned char *end = s + n;

	of_putc(of, '"');
	while (s < end) {
		const unsigned char *q = memchr(s, '"', (size_t)(end - s));
		size_t len = q ? (size_t)(q - s) + 1 : (size_t)(end - s);
		of_write(of, s, len);
		if (q)
			of_putc(of, '"');
		s += len;
	}
	of_putc(of, '"');
}

/* A value as a CSV field. */
static void
of_csv_value(struct ofile *of, const struct xval *v)
{
	switch (v->type) {
	case SQLITE_INTEGER:
		of_int(of, v->i);
		break;
	case SQLITE_FLOAT:
		if (isinf(v->r))
			of_puts(of, v->r > 0 ? "Inf" : "-Inf");
		else if (isnan(v->r))
			of_puts(of, "NaN"); /* SQLite stores NaN as NULL */
		else
			of_real_digits(of, v->r);
		break;
	case SQLITE_TEXT:
		of_csv_text(of, v->p, v->n);
		break;
	case SQLITE_BLOB:
		of_puts(of, "X'");
		of_hex(of, v->p, v->n, true);
		of_putc(of, '\'');
		break;
	default:
		break;
	}
}

/* ---- the exporter -------------------------------------------------------- */

/* How the rows of one table are read and identified. */
struct tinfo {
	bool is_virtual;
	bool without_rowid;
	bool has_rowid;      /* the rows carry a rowid */
	int rowid_col;       /* its column in the statement, or -1 */
	bool rowid_is_value; /* ... which is a column of the table */
	int ipk_col; /* the INTEGER PRIMARY KEY's column in the statement, or -1
	              */
	const char *alias; /* a name of the rowid no column takes, or NULL */
	int first;         /* the first column that is a value of the table */
};

/*
 * One export: where it reads (db, schema) and where it writes: a
 * directory (dir, dirfd; the files made are in created) or spools
 * (spool_dir).  In spool mode the tables are shared out among threads,
 * each with its own connection, through next (under mu).
 */
struct exporter {
	struct gsr_ctx *ctx;
	sqlite3 *db;
	const char *schema;
	enum gsr_export_format fmt;
	const char *dir;
	int dirfd;
	struct strvec created; /* full paths of the files made, registered */
	/* Spool mode. */
	const char *db_path;
	const char *spool_dir;
	struct gsr_export_result *res;
	struct tinfo *ti;
	pthread_mutex_t mu;
	size_t next;
	bool stop; /* a thread failed: the others stop too (under mu) */
	/* Rows written by every thread, for the progress phase "export". */
	atomic_uint_fast64_t rows_done;
};

/* Open dir/name (created, it must not exist) as of.  -1 with an error on
 * ctx. */
static int
of_open_file(struct exporter *ex, struct ofile *of, const char *name)
{
	char *path = NULL;

	memset(of, 0, sizeof *of);
	of->ctx = ex->ctx;
	of->name = name;
	of->dir = ex->dir;
	of->fd = -1;
	gsr_sha256_init(&of->h);
	if (asprintf(&path, "%s/%s", ex->dir, name) < 0)
		return gsr_ctx_fail(ex->ctx, GSR_ERR_NOMEM, "out of memory");
	of->fd =
	    openat(ex->dirfd, name,
	           O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (of->fd < 0) {
		gsr_ctx_fail(ex->ctx, GSR_ERR_IO, "cannot create '%s': %s",
		             path, strerror(errno));
		free(path);
		return -1;
	}
	if (sv_push_owned(&ex->created, path) != 0) {
		/* Not tracked, so remove it now. */
		unlinkat(ex->dirfd, name, 0);
		close(of->fd);
		of->fd = -1;
		return gsr_ctx_fail(ex->ctx, GSR_ERR_NOMEM, "out of memory");
	}
	gsr_temp_register(ex->created.v[ex->created.n - 1]);
	if ((of->buf = malloc(OUT_BUFSIZE)) == NULL) {
		close(of->fd);
		of->fd = -1;
		return gsr_ctx_fail(ex->ctx, GSR_ERR_NOMEM, "out of memory");
	}
	return 0;
}

/* Open the next member of spool sp as of; its index goes to *idx. */
static int
of_open_spool(struct gsr_ctx *ctx, struct ofile *of, const char *name,
              struct gsr_archive_spool *sp, size_t *idx)
{
	memset(of, 0, sizeof *of);
	of->ctx = ctx;
	of->name = name;
	of->fd = -1;
	of->sp = sp;
	if (gsr_archive_spool_begin(ctx, sp, idx))
		return -1;
	if ((of->buf = malloc(OUT_BUFSIZE)) == NULL) {
		gsr_archive_spool_end(ctx, sp, NULL, NULL);
		return gsr_ctx_fail(ctx, GSR_ERR_NOMEM, "out of memory");
	}
	return 0;
}

/* Flush and close of (a file is synced first); record its size and hash.
 * Always closes.  Returns 0 or -1. */
static int
of_close(struct ofile *of, char sha256[GSR_SHA256_HEX], uint64_t *bytes)
{
	int rc = -1;

	if (of->buf == NULL && of->fd < 0 && of->sp == NULL)
		return -1;
	of_flush(of);
	free(of->buf);
	of->buf = NULL;
	if (of->sp) {
		if (gsr_archive_spool_end(of->ctx, of->sp, NULL, sha256) == 0 &&
		    !of->failed)
			rc = 0;
		of->sp = NULL;
	} else {
		int err = 0;

		if (!of->failed && fsync(of->fd) != 0)
			err = errno;
		if (close(of->fd) != 0 && err == 0)
			err = errno;
		of->fd = -1;
		if (err)
			gsr_ctx_fail(of->ctx, GSR_ERR_IO,
			             "cannot write '%s/%s': %s", of->dir,
			             of->name, strerror(err));
		else if (!of->failed) {
			gsr_sha256_hex(&of->h, sha256);
			rc = 0;
		}
	}
	if (rc == 0 && bytes)
		*bytes = of->bytes;
	return rc;
}

/* Whether a table's file can be named after it (export.h): a plain name
 * (names.h) of up to MAX_PLAIN_NAME bytes of [A-Za-z0-9_.-] that is not
 * the name of one of the export's own files or of the file of a table
 * that is not ("table-N"). */
static bool
is_table_file_name(const char *name)
{
	if (!gsr_name_is_plain(name, MAX_PLAIN_NAME, "_.-"))
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
	if (is_table_file_name(t->name)
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
 * _rowid_, rowid and oid that no column is named, *ipk the name of the
 * INTEGER PRIMARY KEY column (a copy), the rowid's alias, if there is one.
 */
static int
find_rowid(struct gsr_ctx *ctx, sqlite3 *db, const char *schema,
           const char *table, const char **alias, char **ipk)
{
	static const char *const names[] = {"_rowid_", "rowid", "oid"};
	bool taken[GSR_ARRAY_LEN(names)] = {false};
	sqlite3_stmt *st = NULL;
	char *pk = NULL;
	bool pk_integer = false;
	int n_pk = 0, rc = -1, src;

	*alias = NULL;
	*ipk = NULL;
	if (sqlite3_prepare_v2(db,
	                       "SELECT name, upper(type) = 'INTEGER', pk "
	                       "FROM pragma_table_xinfo(?1, ?2)",
	                       -1, &st, NULL) != SQLITE_OK)
		goto out;
	sqlite3_bind_text(st, 1, table, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, schema, -1, SQLITE_STATIC);
	while ((src = sqlite3_step(st)) == SQLITE_ROW) {
		const char *name = (const char *)sqlite3_column_text(st, 0);

		for (size_t k = 0; name && k < GSR_ARRAY_LEN(names); k++)
			if (!strcasecmp(name, names[k]))
				taken[k] = true;
		if (sqlite3_column_int(st, 2) > 0 && n_pk++ == 0) {
			pk_integer = sqlite3_column_int(st, 1) != 0;
			if ((pk = gsr_strdup(name ? name : "")) == NULL) {
				gsr_ctx_fail(ctx, GSR_ERR_NOMEM,
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
	/* An INTEGER PRIMARY KEY is the rowid unless an index backs it (as
	 * for "INTEGER PRIMARY KEY DESC"). */
	if (n_pk == 1 && pk_integer) {
		if (sqlite3_prepare_v2(
		        db,
		        "SELECT count(*) FROM pragma_index_list(?1, ?2) "
		        "WHERE origin = 'pk'",
		        -1, &st, NULL) != SQLITE_OK)
			goto out;
		sqlite3_bind_text(st, 1, table, -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 2, schema, -1, SQLITE_STATIC);
		if (sqlite3_step(st) != SQLITE_ROW)
			goto out;
		if (sqlite3_column_int(st, 0) == 0) {
			*ipk = pk;
			pk = NULL;
		}
	}
	rc = 0;
out:
	if (rc != 0 && !gsr_ctx_failed(ctx))
		gsr_ctx_fail(ctx, GSR_ERR_INPUT,
		             "cannot read the columns of table '%s': %s", table,
		             sqlite3_errmsg(db));
	sqlite3_finalize(st);
	free(pk);
	return rc;
}

/* Prepare the statement that reads every row of table t on db for format
 * fmt; fill ti. */
static sqlite3_stmt *
prepare_rows(struct gsr_ctx *ctx, sqlite3 *db, const char *schema,
             enum gsr_export_format fmt, const struct gsr_export_table *t,
             struct tinfo *ti)
{
	sqlite3_stmt *st = NULL;
	const char *alias = NULL;
	char *ipk = NULL;
	char *q = NULL;

	ti->has_rowid = false;
	ti->rowid_col = -1;
	ti->rowid_is_value = false;
	ti->ipk_col = -1;
	ti->first = 0;
	if (!ti->without_rowid &&
	    find_rowid(ctx, db, schema, t->name, &alias, &ipk) != 0)
		return NULL;
	ti->alias = alias;
	/* JSON Lines does not repeat the rowid when a column holds it; CSV
	 * has a column "rowid" first whenever an alias can read it. */
	if (fmt == GSR_EXPORT_JSONL && ipk)
		alias = NULL;
	if (alias)
		q = sqlite3_mprintf(
		    "SELECT %s, * FROM \"%w\".\"%w\" ORDER BY %s", alias,
		    schema, t->name, alias);
	else if (ipk)
		q = sqlite3_mprintf(
		    "SELECT * FROM \"%w\".\"%w\" ORDER BY \"%w\"", schema,
		    t->name, ipk);
	else
		q = sqlite3_mprintf("SELECT * FROM \"%w\".\"%w\"", schema,
		                    t->name);
	if (q == NULL) {
		gsr_ctx_fail(ctx, GSR_ERR_NOMEM, "out of memory");
		goto out;
	}
	if (sqlite3_prepare_v2(db, q, -1, &st, NULL) != SQLITE_OK) {
		gsr_ctx_fail(ctx, GSR_ERR_INPUT, "cannot read table '%s': %s",
		             t->name, sqlite3_errmsg(db));
		goto out;
	}
	if (alias) {
		ti->has_rowid = true;
		ti->rowid_col = 0;
		ti->first = 1;
	}
	for (int i = ti->first; ipk && i < sqlite3_column_count(st); i++) {
		const char *c = sqlite3_column_name(st, i);
		if (c && !strcasecmp(c, ipk)) {
			ti->ipk_col = i;
			if (!alias) {
				ti->has_rowid = true;
				ti->rowid_col = i;
				ti->rowid_is_value = true;
			}
			break;
		}
	}
out:
	free(ipk);
	sqlite3_free(q);
	return st;
}

/* The first line of a JSON Lines file: what its arrays hold. */
static int
jsonl_header(struct ofile *of, sqlite3_stmt *st,
             const struct gsr_export_table *t, const struct tinfo *ti)
{
	char *buf = NULL;
	size_t len = 0;
	struct jsonw jw;
	FILE *m = open_memstream(&buf, &len);
	int n = sqlite3_column_count(st);

	if (m == NULL)
		return gsr_ctx_fail(of->ctx, GSR_ERR_NOMEM, "out of memory");
	jw_init(&jw, m, false);
	jw_obj_begin(&jw);
	jw_kstr(&jw, "table", t->name);
	jw_kstr(&jw, "source", "btree");
	jw_kbool(&jw, "rowid", ti->has_rowid);
	if (ti->rowid_is_value) {
		const char *c = sqlite3_column_name(st, ti->rowid_col);
		jw_kstr(&jw, "rowid_column", c ? c : "");
	}
	jw_key(&jw, "columns");
	jw_arr_begin(&jw);
	for (int i = ti->first; i < n; i++) {
		const char *c = sqlite3_column_name(st, i);
		if (c == NULL)
			jw.failed = true;
		jw_str(&jw, c ? c : "");
	}
	jw_arr_end(&jw);
	jw_obj_end(&jw);
	jw_end_line(&jw);
	if (fclose(m) != 0 || jw.failed) {
		free(buf);
		return gsr_ctx_fail(of->ctx, GSR_ERR_NOMEM, "out of memory");
	}
	of_write(of, buf, len);
	free(buf);
	return 0;
}

/* The first line of a CSV file: the column names, quoted. */
static void
csv_header(struct ofile *of, sqlite3_stmt *st, const struct tinfo *ti)
{
	int n = sqlite3_column_count(st);
	bool sep = false;

	if (ti->has_rowid) {
		of_puts(of, "\"rowid\"");
		sep = true;
	}
	for (int i = ti->first; i < n; i++) {
		const char *c = sqlite3_column_name(st, i);
		if (sep)
			of_putc(of, ',');
		of_csv_text(of, (const unsigned char *)(c ? c : ""),
		            c ? strlen(c) : 0);
		sep = true;
	}
	of_puts(of, "\r\n");
}

/* Start a row: '[' in JSON Lines, then the rowid when it is not one of
 * the values. */
static void
row_begin(enum gsr_export_format fmt, struct ofile *of, const struct tinfo *ti,
          int64_t rowid, bool *sep)
{
	*sep = false;
	if (fmt == GSR_EXPORT_JSONL)
		of_putc(of, '[');
	if (ti->has_rowid && !(fmt == GSR_EXPORT_JSONL && ti->rowid_is_value)) {
		of_int(of, rowid);
		*sep = true;
	}
}

/* One value of a row, after a separator unless it is the first. */
static void
row_value(enum gsr_export_format fmt, struct ofile *of, const struct xval *v,
          bool *sep)
{
	if (*sep)
		of_putc(of, ',');
	*sep = true;
	if (fmt == GSR_EXPORT_JSONL)
		of_json_value(of, v);
	else
		of_csv_value(of, v);
}

/* End a row: "]" and LF in JSON Lines, CRLF in CSV. */
static void
row_end(enum gsr_export_format fmt, struct ofile *of)
{
	if (fmt == GSR_EXPORT_JSONL)
		of_write(of, "]\n", 2);
	else
		of_write(of, "\r\n", 2);
}

/* Write the current row of st; -1 when SQLite ran out of memory
 * converting a value. */
static int
write_row(enum gsr_export_format fmt, struct ofile *of, sqlite3_stmt *st,
          const struct tinfo *ti, int n)
{
	struct xval v = {SQLITE_NULL, 0, 0, NULL, 0};
	bool sep;

	row_begin(fmt, of, ti,
	          ti->has_rowid ? sqlite3_column_int64(st, ti->rowid_col) : 0,
	          &sep);
	for (int i = ti->first; i < n; i++) {
		if (sql_value(st, i, &v) != 0)
			return -1;
		row_value(fmt, of, &v, &sep);
	}
	row_end(fmt, of);
	return 0;
}

/* Count n more rows written (by any thread; negative for rows read again)
 * and report the export's rows so far as the progress phase "export"
 * (ctx.h), which gsr_export_db() and gsr_export_spool() end. */
static void
exported(struct exporter *ex, const struct gsr_ctx *ctx, int64_t n)
{
	uint_fast64_t done;

	if (n >= 0)
		done =
		    atomic_fetch_add(&ex->rows_done, (uint64_t)n) + (uint64_t)n;
	else
		done = atomic_fetch_sub(&ex->rows_done, (uint64_t)-n) -
		       (uint64_t)-n;
	gsr_progress(ctx, "export", GSR_PROGRESS_ROWS, done, 0);
}

/* True when another thread of the export failed. */
static bool
stopped(struct exporter *ex)
{
	bool s;

	if (ex->spool_dir == NULL)
		return false;
	pthread_mutex_lock(&ex->mu);
	s = ex->stop;
	pthread_mutex_unlock(&ex->mu);
	return s;
}

/* ---- rows straight from the b-tree ------------------------------------ */

/*
 * The rows of a rowid table can be read from the file itself, through the
 * walker of btree.h, rather than through SQLite's statements: the same
 * values at a fraction of the cost.  Only where the two cannot differ: a
 * UTF-8 database file with nothing pending in a -wal or -journal, whose
 * header gives its size, a table without generated columns.  The walker
 * gives the values as stored; what SQLite changes on the way is done
 * here: the INTEGER PRIMARY KEY shows the rowid, an integer in a column
 * of REAL affinity becomes a REAL, a NaN is NULL, and a record shorter
 * than the table (columns added since) is read through SQLite.  Any
 * damage, and anything else unexpected, sends the table back to SQLite.
 */
struct fastpath {
	int fd;
	struct gsr_pagefile *pf;
	uint32_t root;
	int ncol;
	int ipk;                /* column of the INTEGER PRIMARY KEY, or -1 */
	unsigned char *real;    /* ncol flags: REAL affinity */
	sqlite3_stmt *by_rowid; /* SELECT * ... WHERE rowid = ?1, or NULL */
	/* What SQLite gives for a column a record lacks (its default, the
	 * same for every row), learnt from the first such record. */
	struct xval *dflt;        /* ncol */
	unsigned char *have_dflt; /* ncol flags */
	size_t dflt_bytes; /* of TEXT and BLOB defaults, a bound on memory */
};

/* Defaults larger than this, all columns together, are not kept: each
 * short record is then read through SQLite. */
#define DEFAULTS_MAX ((size_t)1 << 20)

/* Free what fp holds; it is then empty (fd -1). */
static void
fast_release(struct fastpath *fp)
{
	gsr_pagefile_close(fp->pf);
	if (fp->fd >= 0)
		close(fp->fd);
	free(fp->real);
	sqlite3_finalize(fp->by_rowid);
	for (int i = 0; fp->dflt && i < fp->ncol; i++)
		if (fp->have_dflt[i] && (fp->dflt[i].type == SQLITE_TEXT ||
		                         fp->dflt[i].type == SQLITE_BLOB))
			free((void *)fp->dflt[i].p);
	free(fp->dflt);
	free(fp->have_dflt);
	memset(fp, 0, sizeof *fp);
	fp->fd = -1;
}

/* True when the first column of the row sql returns is want (in any
 * case). */
static bool
pragma_is(sqlite3 *db, const char *sql, const char *want)
{
	sqlite3_stmt *st = NULL;
	bool is = false;

	if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) == SQLITE_OK &&
	    sqlite3_step(st) == SQLITE_ROW) {
		const char *v = (const char *)sqlite3_column_text(st, 0);
		is = v && !strcasecmp(v, want);
	}
	sqlite3_finalize(st);
	return is;
}

/* True when the file base + suffix exists and is not empty. */
static bool
nonempty(const char *base, const char *suffix)
{
	char *path = NULL;
	struct stat sb;
	bool yes;

	if (asprintf(&path, "%s%s", base, suffix) < 0)
		return true;
	yes = stat(path, &sb) == 0 && sb.st_size > 0;
	free(path);
	return yes;
}

/* SQLite's REAL affinity: the declared type has no "INT", "CHAR", "CLOB",
 * "TEXT" or "BLOB", and has "REAL", "FLOA" or "DOUB". */
static bool
real_affinity(const char *type)
{
	if (type == NULL || strcasestr(type, "INT") ||
	    strcasestr(type, "CHAR") || strcasestr(type, "CLOB") ||
	    strcasestr(type, "TEXT") || strcasestr(type, "BLOB"))
		return false;
	return strcasestr(type, "REAL") || strcasestr(type, "FLOA") ||
	       strcasestr(type, "DOUB");
}

/*
 * Set fp up for table t, read with st (prepared by prepare_rows).
 * Returns 1 when the table can be walked, 0 when it is left to SQLite,
 * -1 on an error recorded on ctx.
 */
static int
fast_prepare(struct gsr_ctx *ctx, sqlite3 *db, const char *schema,
             const struct gsr_export_table *t, const struct tinfo *ti,
             sqlite3_stmt *st, struct fastpath *fp)
{
	struct gsr_pagefile_info in;
	sqlite3_stmt *q = NULL;
	const char *file = sqlite3_db_filename(db, schema);
	struct stat sb;
	char *sql = NULL;
	int rc = 0, src, ncol = sqlite3_column_count(st) - ti->first;

	memset(fp, 0, sizeof *fp);
	fp->fd = -1;
	fp->ipk = ti->ipk_col < 0 ? -1 : ti->ipk_col - ti->first;
	if (ti->without_rowid || ti->is_virtual || file == NULL ||
	    *file == '\0' || ncol <= 0 || nonempty(file, "-wal") ||
	    nonempty(file, "-journal"))
		return 0;
	sql = sqlite3_mprintf("PRAGMA \"%w\".encoding", schema);
	if (sql == NULL)
		return gsr_ctx_fail(ctx, GSR_ERR_NOMEM, "out of memory");
	if (!pragma_is(db, sql, "UTF-8"))
		goto out;
	sqlite3_free(sql);
	sql = sqlite3_mprintf("PRAGMA \"%w\".journal_mode", schema);
	if (sql == NULL) {
		rc = gsr_ctx_fail(ctx, GSR_ERR_NOMEM, "out of memory");
		goto out;
	}
	if (pragma_is(db, sql, "wal"))
		goto out;
	sqlite3_free(sql);
	/* The root page, and the columns: none generated or hidden. */
	sql =
	    sqlite3_mprintf("SELECT (SELECT rootpage FROM \"%w\".sqlite_master "
	                    "WHERE type = 'table' AND name = ?1), "
	                    "count(*), sum(hidden != 0) "
	                    "FROM pragma_table_xinfo(?1, ?2)",
	                    schema);
	if (sql == NULL ||
	    sqlite3_prepare_v2(db, sql, -1, &q, NULL) != SQLITE_OK)
		goto out;
	sqlite3_bind_text(q, 1, t->name, -1, SQLITE_STATIC);
	sqlite3_bind_text(q, 2, schema, -1, SQLITE_STATIC);
	if (sqlite3_step(q) != SQLITE_ROW || sqlite3_column_int64(q, 0) <= 0 ||
	    sqlite3_column_int64(q, 0) > UINT32_MAX ||
	    sqlite3_column_int(q, 1) != ncol || sqlite3_column_int(q, 2) != 0)
		goto out;
	fp->root = (uint32_t)sqlite3_column_int64(q, 0);
	fp->ncol = ncol;
	sqlite3_finalize(q);
	q = NULL;
	if ((fp->real = calloc((size_t)ncol, 1)) == NULL ||
	    (fp->have_dflt = calloc((size_t)ncol, 1)) == NULL ||
	    (fp->dflt = calloc((size_t)ncol, sizeof *fp->dflt)) == NULL) {
		rc = gsr_ctx_fail(ctx, GSR_ERR_NOMEM, "out of memory");
		goto out;
	}
	if (sqlite3_prepare_v2(db,
	                       "SELECT type FROM pragma_table_xinfo(?1, ?2)",
	                       -1, &q, NULL) != SQLITE_OK)
		goto out;
	sqlite3_bind_text(q, 1, t->name, -1, SQLITE_STATIC);
	sqlite3_bind_text(q, 2, schema, -1, SQLITE_STATIC);
	for (int i = 0; (src = sqlite3_step(q)) == SQLITE_ROW && i < ncol; i++)
		fp->real[i] =
		    real_affinity((const char *)sqlite3_column_text(q, 0));
	sqlite3_finalize(q);
	q = NULL;
	/* A short record's values come from SQLite, by rowid. */
	sqlite3_free(sql);
	sql = ti->alias
	          ? sqlite3_mprintf("SELECT * FROM \"%w\".\"%w\" WHERE %s = ?1",
	                            schema, t->name, ti->alias)
	      : fp->ipk >= 0
	          ? sqlite3_mprintf(
	                "SELECT * FROM \"%w\".\"%w\" WHERE \"%w\" = ?1", schema,
	                t->name, sqlite3_column_name(st, ti->ipk_col))
	          : NULL;
	if (sql &&
	    sqlite3_prepare_v2(db, sql, -1, &fp->by_rowid, NULL) != SQLITE_OK)
		goto out;
	/* The file, whose header must give its size and encoding. */
	fp->fd = open(file, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (fp->fd < 0 || fstat(fp->fd, &sb) != 0 || !S_ISREG(sb.st_mode))
		goto out;
	if ((fp->pf = gsr_pagefile_open_fd(ctx, fp->fd, (uint64_t)sb.st_size,
	                                   0)) == NULL) {
		rc = -1;
		goto out;
	}
	gsr_pagefile_get_info(fp->pf, &in);
	if (!in.header_ok || in.page_size_inferred || in.text_encoding != 1 ||
	    (uint64_t)sb.st_size % in.page_size != 0 ||
	    in.header_pages != in.n_pages || fp->root > in.n_pages)
		goto out;
	rc = 1;
out:
	sqlite3_finalize(q);
	sqlite3_free(sql);
	if (rc != 1)
		fast_release(fp);
	return rc;
}

/* The state of a walk through one table. */
struct walkrow {
	struct exporter *ex;
	struct gsr_ctx *ctx;
	struct ofile *of;
	const struct tinfo *ti;
	struct fastpath *fp;
	int64_t rows;
	int64_t last;
	bool back;   /* the table must be read through SQLite after all */
	bool failed; /* an error is on ctx */
};

/*
 * Learn the defaults of the columns from n on, which the record of rowid
 * lacks, from SQLite's view of that row.  Returns 0, 1 when they cannot
 * be kept (the row is then to be written from SQLite, whose values are
 * in fp->by_rowid), -1 when the row cannot be read that way at all.
 */
static int
learn_defaults(struct fastpath *fp, int64_t rowid, int n)
{
	sqlite3_stmt *st = fp->by_rowid;
	int rc = 0;

	if (st == NULL)
		return -1;
	sqlite3_reset(st);
	sqlite3_bind_int64(st, 1, rowid);
	if (sqlite3_step(st) != SQLITE_ROW ||
	    sqlite3_column_count(st) != fp->ncol)
		return -1;
	for (int i = n; i < fp->ncol; i++) {
		struct xval v;
		unsigned char *copy;

		if (fp->have_dflt[i] || i == fp->ipk)
			continue;
		if (sql_value(st, i, &v) != 0)
			return -1;
		if (v.type == SQLITE_TEXT || v.type == SQLITE_BLOB) {
			if (v.n > DEFAULTS_MAX - fp->dflt_bytes ||
			    (copy = malloc(v.n ? v.n : 1)) == NULL) {
				rc = 1;
				continue;
			}
			memcpy(copy, v.p, v.n);
			v.p = copy;
			fp->dflt_bytes += v.n;
		}
		fp->dflt[i] = v;
		fp->have_dflt[i] = 1;
	}
	return rc;
}

/* The walker's callback: write one row as SQLite would give it, or stop
 * the walk (1) with back or failed set. */
static int
walk_row(void *arg, const struct gsr_row *row)
{
	struct walkrow *wr = arg;
	struct fastpath *fp = wr->fp;
	enum gsr_export_format fmt = wr->ex->fmt;
	struct xval v = {SQLITE_NULL, 0, 0, NULL, 0};
	int n =
	    row->n_values < (size_t)fp->ncol ? (int)row->n_values : fp->ncol;
	bool sep, from_sql = false;

	if (row->truncated || (wr->rows > 0 && row->rowid <= wr->last)) {
		wr->back = true;
		return 1;
	}
	wr->last = row->rowid;
	/* Columns added since the row was written: SQLite gives their
	 * defaults. */
	for (int i = n; i < fp->ncol && !from_sql; i++) {
		if (fp->have_dflt[i] || i == fp->ipk)
			continue;
		switch (learn_defaults(fp, row->rowid, n)) {
		case 0:
			break;
		case 1:
			from_sql = true;
			break;
		default:
			wr->back = true;
			return 1;
		}
	}
	row_begin(fmt, wr->of, wr->ti, row->rowid, &sep);
	for (int i = 0; i < fp->ncol; i++) {
		const struct gsr_value *gv = &row->values[i];

		v.type = SQLITE_NULL;
		if (i == fp->ipk) {
			v.type = SQLITE_INTEGER;
			v.i = row->rowid;
		} else if (i >= n) {
			if (from_sql) {
				if (sql_value(fp->by_rowid, i, &v) != 0) {
					gsr_ctx_fail(wr->ctx, GSR_ERR_NOMEM,
					             "out of memory");
					wr->failed = true;
					return 1;
				}
			} else {
				v = fp->dflt[i];
			}
		} else if (gv->type == GSR_V_INT) {
			if (fp->real[i]) {
				v.type = SQLITE_FLOAT;
				v.r = (double)gv->i;
			} else {
				v.type = SQLITE_INTEGER;
				v.i = gv->i;
			}
		} else if (gv->type == GSR_V_REAL) {
			if (!isnan(gv->r)) {
				v.type = SQLITE_FLOAT;
				v.r = gv->r;
			}
		} else if (gv->type == GSR_V_TEXT || gv->type == GSR_V_BLOB) {
			if (gv->encoding_error) {
				wr->back = true;
				return 1;
			}
			v.type =
			    gv->type == GSR_V_TEXT ? SQLITE_TEXT : SQLITE_BLOB;
			v.p = gv->p;
			v.n = gv->n;
		}
		row_value(fmt, wr->of, &v, &sep);
	}
	row_end(fmt, wr->of);
	if (from_sql)
		sqlite3_reset(fp->by_rowid);
	if (++wr->rows % CANCEL_EVERY == 0) {
		exported(wr->ex, wr->ctx, CANCEL_EVERY);
		if (gsr_ctx_check_cancel(wr->ctx) != 0 || wr->of->failed) {
			wr->failed = true;
			return 1;
		}
		if (stopped(wr->ex)) {
			gsr_ctx_fail(wr->ctx, GSR_ERR_CANCELED, "stopped");
			wr->failed = true;
			return 1;
		}
	}
	return 0;
}

/* Walk the table into of.  Returns 0 when every row is written, 1 when
 * the table must be read through SQLite instead (of is then to be started
 * again), -1 on an error recorded on ctx. */
static int
fast_rows(struct exporter *ex, struct gsr_ctx *ctx, struct ofile *of,
          struct gsr_export_table *t, const struct tinfo *ti,
          struct fastpath *fp)
{
	struct walkrow wr = {
	    .ex = ex, .ctx = ctx, .of = of, .ti = ti, .fp = fp};
	struct gsr_walk_stats stats;
	int rc =
	    gsr_btree_walk_table(ctx, fp->pf, fp->root, walk_row, &wr, &stats);

	if (rc < 0 || wr.failed || of->failed)
		return -1;
	if (wr.back || rc != 0 || stats.pages_damaged || stats.cells_damaged ||
	    stats.rows_truncated) {
		/* Read again through SQLite: not counted twice. */
		exported(ex, ctx, -(wr.rows / CANCEL_EVERY * CANCEL_EVERY));
		return 1;
	}
	t->rows = wr.rows;
	return 0;
}

/* Forget what of holds: the file starts again, empty. */
static int
of_restart(struct ofile *of)
{
	of->len = 0;
	of->bytes = 0;
	if (of->sp)
		return gsr_archive_spool_restart(of->ctx, of->sp);
	gsr_sha256_init(&of->h);
	if (ftruncate(of->fd, 0) != 0 || lseek(of->fd, 0, SEEK_SET) < 0)
		return gsr_ctx_fail(of->ctx, GSR_ERR_IO,
		                    "cannot write '%s/%s': %s", of->dir,
		                    of->name, strerror(errno));
	return 0;
}

/* Write every row of table t, read on db, to of (open); the caller closes
 * it. */
static int
export_rows(struct exporter *ex, struct gsr_ctx *ctx, sqlite3 *db,
            struct ofile *of, struct gsr_export_table *t, struct tinfo *ti)
{
	struct fastpath fp;
	sqlite3_stmt *st = NULL;
	int64_t rows = 0;
	int rc = -1, src, n, frc;

	if ((st = prepare_rows(ctx, db, ex->schema, ex->fmt, t, ti)) == NULL)
		goto out;
	n = sqlite3_column_count(st);
	if (ex->fmt == GSR_EXPORT_CSV)
		csv_header(of, st, ti);
	else if (jsonl_header(of, st, t, ti))
		goto out;
	switch (fast_prepare(ctx, db, ex->schema, t, ti, st, &fp)) {
	case 1:
		frc = fast_rows(ex, ctx, of, t, ti, &fp);
		fast_release(&fp);
		if (frc <= 0) {
			rc = frc;
			goto out;
		}
		/* Read through SQLite, from the start. */
		if (of_restart(of) != 0)
			goto out;
		if (ex->fmt == GSR_EXPORT_CSV)
			csv_header(of, st, ti);
		else if (jsonl_header(of, st, t, ti))
			goto out;
		break;
	case 0:
		break;
	default:
		goto out;
	}
	while ((src = sqlite3_step(st)) == SQLITE_ROW) {
		if (write_row(ex->fmt, of, st, ti, n) != 0) {
			gsr_ctx_fail(ctx, GSR_ERR_NOMEM,
			             "out of memory reading table '%s'",
			             t->name);
			goto out;
		}
		if (++rows % CANCEL_EVERY == 0) {
			exported(ex, ctx, CANCEL_EVERY);
			if (gsr_ctx_check_cancel(ctx) != 0 || of->failed)
				goto out;
			if (stopped(ex)) {
				gsr_ctx_fail(ctx, GSR_ERR_CANCELED, "stopped");
				goto out;
			}
		}
	}
	if (src != SQLITE_DONE) {
		gsr_ctx_fail(ctx, GSR_ERR_INPUT, "cannot read table '%s': %s",
		             t->name, sqlite3_errmsg(db));
		goto out;
	}
	t->rows = rows;
	rc = of->failed ? -1 : 0;
out:
	sqlite3_finalize(st);
	return rc;
}

/* schema.sql: the sql of every object, in rowid order, as stored. */
static int
export_schema(struct exporter *ex, struct ofile *of)
{
	sqlite3_stmt *st = NULL;
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
	while ((src = sqlite3_step(st)) == SQLITE_ROW) {
		const char *sql = (const char *)sqlite3_column_text(st, 0);
		int n = sqlite3_column_bytes(st, 0);

		if (sql == NULL && value_oom(st)) {
			gsr_ctx_fail(ex->ctx, GSR_ERR_NOMEM, "out of memory");
			goto out;
		}
		if (sql)
			of_write(of, sql, (size_t)n);
		of_write(of, ";\n", 2);
	}
	if (src != SQLITE_DONE) {
		gsr_ctx_fail(ex->ctx, GSR_ERR_INPUT,
		             "cannot read the schema: %s",
		             sqlite3_errmsg(ex->db));
		goto out;
	}
	rc = of->failed ? -1 : 0;
out:
	sqlite3_finalize(st);
	sqlite3_free(q);
	return rc;
}

/* manifest.json, into a buffer (free() it). */
static char *
manifest_text(struct exporter *ex, const struct gsr_export_result *res,
              const struct tinfo *ti, const struct gsr_evidence *ev,
              size_t *len)
{
	char *buf = NULL;
	struct jsonw jw;
	FILE *m = open_memstream(&buf, len);

	if (m == NULL) {
		gsr_ctx_fail(ex->ctx, GSR_ERR_NOMEM, "out of memory");
		return NULL;
	}
	jw_init(&jw, m, true);
	jw_obj_begin(&jw);
	jw_kstr(&jw, "format", "gsrecover-export");
	jw_kint(&jw, "version", GSR_EXPORT_VERSION);
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
	if (fclose(m) != 0 || jw.failed) {
		free(buf);
		gsr_ctx_fail(ex->ctx, GSR_ERR_NOMEM, "out of memory");
		return NULL;
	}
	return buf;
}

/* ---- into a directory ---------------------------------------------------- */

int
gsr_export_db(struct gsr_ctx *ctx, sqlite3 *db, const char *schema,
              const char *dir, enum gsr_export_format fmt,
              const struct gsr_evidence *ev, struct gsr_export_result *res)
{
	struct exporter ex = {.ctx = ctx,
	                      .db = db,
	                      .schema = schema,
	                      .dir = dir,
	                      .dirfd = -1,
	                      .fmt = fmt,
	                      .created = STRVEC_INIT};
	struct tinfo *ti = NULL;
	struct ofile of = {.fd = -1};
	char *manifest = NULL;
	size_t mlen = 0;
	int rc = -1;

	if (gsr_ctx_failed(ctx))
		return -1;
	ex.dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (ex.dirfd < 0) {
		gsr_ctx_fail(ctx, GSR_ERR_IO, "cannot open '%s': %s", dir,
		             strerror(errno));
		goto out;
	}
	exported(&ex, ctx, 0);
	if (list_tables(&ex, res, &ti) != 0 ||
	    of_open_file(&ex, &of, "schema.sql") != 0)
		goto out;
	if (export_schema(&ex, &of) != 0 ||
	    of_close(&of, res->schema_sha256, NULL) != 0)
		goto out;
	for (size_t i = 0; i < res->n_tables; i++) {
		struct gsr_export_table *t = &res->tables[i];
		if (t->file == NULL)
			continue;
		if (gsr_ctx_check_cancel(ctx) != 0 ||
		    of_open_file(&ex, &of, t->file) != 0)
			goto out;
		if (export_rows(&ex, ctx, db, &of, t, &ti[i]) != 0 ||
		    of_close(&of, t->sha256, &t->bytes) != 0)
			goto out;
		t->rowid = ti[i].has_rowid;
		res->total_rows += t->rows;
	}
	if (gsr_ctx_check_cancel(ctx) != 0 ||
	    (manifest = manifest_text(&ex, res, ti, ev, &mlen)) == NULL ||
	    of_open_file(&ex, &of, "manifest.json") != 0)
		goto out;
	of_write(&of, manifest, mlen);
	if (of_close(&of, res->manifest_sha256, NULL) != 0)
		goto out;
	if (gsr_sync_dirfd(ex.dirfd) != 0) {
		gsr_ctx_fail(ctx, GSR_ERR_IO, "cannot write '%s': %s", dir,
		             strerror(errno));
		goto out;
	}
	rc = 0;
out:
	gsr_progress_end(ctx, "export");
	if (of.fd >= 0) {
		close(of.fd);
		free(of.buf);
	}
	for (size_t i = 0; i < ex.created.n; i++) {
		if (rc != 0)
			unlink(ex.created.v[i]);
		gsr_temp_unregister(ex.created.v[i]);
	}
	sv_release(&ex.created);
	if (ex.dirfd >= 0)
		close(ex.dirfd);
	free(manifest);
	free(ti);
	return rc;
}

/* ---- into spools, in threads -------------------------------------------- */

/* One thread of a spooled export. */
struct worker {
	struct exporter *ex;
	struct gsr_ctx ctx;
	struct gsr_archive_spool *sp;
	struct gsr_thread thread;
};

/* Take tables until none is left, each into the worker's spool through a
 * connection of its own. */
static void *
worker_main(void *arg)
{
	struct worker *w = arg;
	struct exporter *ex = w->ex;
	struct ofile of = {.fd = -1};
	sqlite3 *db = gsr_db_open(&w->ctx, ex->db_path, false);

	if (db == NULL)
		goto fail;
	for (;;) {
		struct gsr_export_table *t;
		size_t i;

		pthread_mutex_lock(&ex->mu);
		i = ex->next++;
		if (ex->stop)
			i = ex->res->n_tables;
		pthread_mutex_unlock(&ex->mu);
		if (i >= ex->res->n_tables)
			break;
		t = &ex->res->tables[i];
		if (t->file == NULL)
			continue;
		if (gsr_ctx_check_cancel(&w->ctx) != 0 ||
		    of_open_spool(&w->ctx, &of, t->file, w->sp,
		                  &t->spool_idx) != 0)
			goto fail;
		t->spool = w->sp;
		if (export_rows(ex, &w->ctx, db, &of, t, &ex->ti[i]) != 0) {
			of_close(&of, t->sha256, &t->bytes);
			goto fail;
		}
		if (of_close(&of, t->sha256, &t->bytes) != 0)
			goto fail;
		t->rowid = ex->ti[i].has_rowid;
	}
	sqlite3_close(db);
	return NULL;
fail:
	sqlite3_close(db);
	pthread_mutex_lock(&ex->mu);
	ex->stop = true;
	pthread_mutex_unlock(&ex->mu);
	return NULL;
}

int
gsr_export_spool(struct gsr_ctx *ctx, const char *db_path,
                 const char *spool_dir, int threads,
                 const struct gsr_evidence *ev, struct gsr_export_result *res)
{
	struct exporter ex = {.ctx = ctx,
	                      .schema = "main",
	                      .fmt = GSR_EXPORT_JSONL,
	                      .dirfd = -1,
	                      .db_path = db_path,
	                      .spool_dir = spool_dir,
	                      .res = res,
	                      .created = STRVEC_INIT};
	struct worker *w = NULL;
	struct ofile of = {.fd = -1};
	char *manifest = NULL;
	size_t mlen = 0;
	int rc = -1, n = threads < 1 ? 1 : threads > 16 ? 16 : threads;

	if (gsr_ctx_failed(ctx))
		return -1;
	if (pthread_mutex_init(&ex.mu, NULL) != 0)
		return gsr_ctx_fail(ctx, GSR_ERR_INTERNAL,
		                    "cannot make a mutex");
	if ((w = calloc((size_t)n, sizeof *w)) == NULL ||
	    gsr_grow((void **)&res->spools, &res->cap_spools, (size_t)n + 1,
	             sizeof *res->spools)) {
		gsr_ctx_fail(ctx, GSR_ERR_NOMEM, "out of memory");
		goto out;
	}
	/* Spool 0 holds schema.sql and manifest.json; one more per thread. */
	for (int i = 0; i <= n; i++) {
		struct gsr_archive_spool *sp =
		    gsr_archive_spool_new(ctx, spool_dir);
		if (sp == NULL)
			goto out;
		res->spools[res->n_spools++] = sp;
	}
	exported(&ex, ctx, 0);
	if ((ex.db = gsr_db_open(ctx, db_path, false)) == NULL ||
	    list_tables(&ex, res, &ex.ti) != 0 ||
	    of_open_spool(ctx, &of, "schema.sql", res->spools[0],
	                  &res->schema_idx))
		goto out;
	if (export_schema(&ex, &of) != 0 ||
	    of_close(&of, res->schema_sha256, NULL) != 0)
		goto out;
	sqlite3_close(ex.db);
	ex.db = NULL;
	for (int i = 0; i < n; i++) {
		w[i].ex = &ex;
		w[i].ctx = gsr_ctx_child(ctx);
		w[i].sp = res->spools[i + 1];
		/* The calling thread is the last worker. */
		if (i == n - 1)
			break;
		if (gsr_thread_start(ctx, &w[i].thread, worker_main, &w[i]) !=
		    0) {
			pthread_mutex_lock(&ex.mu);
			ex.stop = true;
			pthread_mutex_unlock(&ex.mu);
			break;
		}
	}
	if (!gsr_ctx_failed(ctx))
		worker_main(&w[n - 1]);
	/* Each worker's error is weighed below, not handed back as it is. */
	for (int i = 0; i < n; i++)
		gsr_thread_join(NULL, &w[i].thread, NULL, NULL);
	/* The first real error; a thread stopped by another's is not one. */
	for (int i = 0; i < n && !gsr_ctx_failed(ctx); i++)
		if (gsr_ctx_failed(&w[i].ctx) &&
		    strcmp(w[i].ctx.msg, "stopped") != 0)
			gsr_ctx_fail(ctx, w[i].ctx.err, "%s", w[i].ctx.msg);
	if (gsr_ctx_failed(ctx))
		goto out;
	for (size_t i = 0; i < res->n_tables; i++)
		if (res->tables[i].file != NULL)
			res->total_rows += res->tables[i].rows;
	if (gsr_ctx_check_cancel(ctx) != 0 ||
	    (manifest = manifest_text(&ex, res, ex.ti, ev, &mlen)) == NULL ||
	    of_open_spool(ctx, &of, "manifest.json", res->spools[0],
	                  &res->manifest_idx))
		goto out;
	of_write(&of, manifest, mlen);
	if (of_close(&of, res->manifest_sha256, NULL) != 0)
		goto out;
	rc = 0;
out:
	gsr_progress_end(ctx, "export");
	if (of.buf)
		of_close(&of, res->manifest_sha256, NULL);
	sqlite3_close(ex.db);
	pthread_mutex_destroy(&ex.mu);
	free(manifest);
	free(ex.ti);
	free(w);
	return rc;
}

int
gsr_export_add_to_archive(struct gsr_ctx *ctx, struct gsr_archive *ar,
                          const char *prefix,
                          const struct gsr_export_result *res)
{
	char *name = NULL;
	int rc = -1;

	if (gsr_ctx_failed(ctx))
		return -1;
	if (res->n_spools == 0)
		return gsr_ctx_fail(ctx, GSR_ERR_INTERNAL,
		                    "the export is not spooled");
	if (asprintf(&name, "%s/schema.sql", prefix) < 0 ||
	    gsr_archive_add_spooled(ctx, ar, name, res->spools[0],
	                            res->schema_idx))
		goto out;
	for (size_t i = 0; i < res->n_tables; i++) {
		const struct gsr_export_table *t = &res->tables[i];
		if (t->file == NULL)
			continue;
		free(name);
		if (asprintf(&name, "%s/%s", prefix, t->file) < 0) {
			name = NULL;
			goto out;
		}
		if (gsr_archive_add_spooled(ctx, ar, name, t->spool,
		                            t->spool_idx))
			goto out;
	}
	free(name);
	if (asprintf(&name, "%s/manifest.json", prefix) < 0) {
		name = NULL;
		goto out;
	}
	if (gsr_archive_add_spooled(ctx, ar, name, res->spools[0],
	                            res->manifest_idx))
		goto out;
	rc = 0;
out:
	if (name == NULL && !gsr_ctx_failed(ctx))
		gsr_ctx_fail(ctx, GSR_ERR_NOMEM, "out of memory");
	free(name);
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
	for (size_t i = 0; i < res->n_spools; i++)
		gsr_archive_spool_free(res->spools[i]);
	free(res->spools);
	memset(res, 0, sizeof *res);
}
