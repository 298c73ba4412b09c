/* dbopen.c -- defensive SQLite connections. */
#include "compat.h"
#include "dbopen.h"

#include <ctype.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fdio.h"
#include "sqlhdr.h"

static int
harden(sqlite3 *db)
{
	int rc = 0;

	rc |= sqlite3_db_config(db, SQLITE_DBCONFIG_DEFENSIVE, 1, NULL);
	rc |= sqlite3_db_config(db, SQLITE_DBCONFIG_TRUSTED_SCHEMA, 0, NULL);
	rc |= sqlite3_db_config(db, SQLITE_DBCONFIG_ENABLE_TRIGGER, 0, NULL);
	rc |= sqlite3_db_config(db, SQLITE_DBCONFIG_ENABLE_VIEW, 0, NULL);
	rc |= sqlite3_db_config(db, SQLITE_DBCONFIG_ENABLE_LOAD_EXTENSION, 0,
	                        NULL);
	rc |= sqlite3_db_config(db, SQLITE_DBCONFIG_DQS_DDL, 0, NULL);
	rc |= sqlite3_db_config(db, SQLITE_DBCONFIG_DQS_DML, 0, NULL);
	rc |= sqlite3_exec(db, "PRAGMA cell_size_check=ON; PRAGMA mmap_size=0;",
	                   NULL, NULL, NULL);
	/* Every file opened is our own copy, but several threads may
	 * open one in WAL mode at once, and the -shm the first sets up
	 * keeps the others out for a moment (SQLITE_BUSY): they wait. */
	rc |= sqlite3_busy_timeout(db, 10000);
	return rc;
}

static sqlite3 *
open_with(struct gsr_ctx *ctx, const char *path, int flags)
{
	sqlite3 *db = NULL;
	int rc;

	if (gsr_ctx_failed(ctx))
		return NULL;
	rc =
	    sqlite3_open_v2(path, &db,
	                    /* A connection is used by one thread at a time:
	                     * no per-call mutex (multi-thread mode). */
	                    flags | SQLITE_OPEN_NOFOLLOW | SQLITE_OPEN_URI |
	                        SQLITE_OPEN_NOMUTEX | SQLITE_OPEN_PRIVATECACHE |
	                        SQLITE_OPEN_EXRESCODE,
	                    NULL);
	if (rc != SQLITE_OK) {
		gsr_ctx_fail(ctx,
		             rc == SQLITE_NOMEM ? GSR_ERR_NOMEM : GSR_ERR_INPUT,
		             "cannot open database: %s",
		             db ? sqlite3_errmsg(db) : sqlite3_errstr(rc));
		sqlite3_close(db);
		return NULL;
	}
	if (harden(db) != SQLITE_OK) {
		gsr_ctx_fail(ctx, GSR_ERR_INTERNAL,
		             "cannot configure SQLite: %s", sqlite3_errmsg(db));
		sqlite3_close(db);
		return NULL;
	}
	return db;
}

sqlite3 *
gsr_db_open(struct gsr_ctx *ctx, const char *path, bool create)
{
	return open_with(ctx, path,
	                 SQLITE_OPEN_READWRITE |
	                     (create ? SQLITE_OPEN_CREATE : 0));
}

sqlite3 *
gsr_db_open_own(struct gsr_ctx *ctx, const char *path)
{
	sqlite3 *db =
	    open_with(ctx, path, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE);

	if (db)
		sqlite3_db_config(db, SQLITE_DBCONFIG_ENABLE_TRIGGER, 1, NULL);
	return db;
}

sqlite3 *
gsr_db_open_memory(struct gsr_ctx *ctx)
{
	return open_with(ctx, ":memory:",
	                 SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE |
	                     SQLITE_OPEN_MEMORY);
}

int
gsr_db_exec(struct gsr_ctx *ctx, sqlite3 *db, const char *sql)
{
	char *err = NULL;

	if (gsr_ctx_failed(ctx))
		return -1;
	if (sqlite3_exec(db, sql, NULL, NULL, &err) != SQLITE_OK) {
		gsr_ctx_fail(ctx, GSR_ERR_INPUT, "%s", err ? err : "SQL error");
		sqlite3_free(err);
		return -1;
	}
	return 0;
}

sqlite3_stmt *
gsr_db_prepare(struct gsr_ctx *ctx, sqlite3 *db, const char *sql)
{
	sqlite3_stmt *st = NULL;

	if (gsr_ctx_failed(ctx))
		return NULL;
	if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK) {
		gsr_ctx_fail(ctx, GSR_ERR_INPUT, "%s", sqlite3_errmsg(db));
		return NULL;
	}
	return st;
}

/* ATTACH wants the same text encoding on both sides: when the file at
 * path is a UTF-16 database, db's main database takes its encoding, which
 * SQLite honours only while main is not yet written (a database of ours
 * made to receive its rows); otherwise nothing changes and ATTACH says
 * why it cannot. */
static void
match_encoding(sqlite3 *db, const char *path)
{
	static const char *const enc[] = {"UTF-16le", "UTF-16be"};
	unsigned char h[GSR_SQLHDR_SIZE];
	struct gsr_sqlhdr d;
	char sql[64];
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
	bool ok;

	if (fd < 0)
		return;
	ok = gsr_pread_exact(fd, h, sizeof h, 0) == 0 &&
	     gsr_sqlhdr_is_sqlite(h, sizeof h);
	close(fd);
	if (!ok)
		return;
	gsr_sqlhdr_decode(h, &d);
	if (d.text_encoding != 2 && d.text_encoding != 3)
		return;
	snprintf(sql, sizeof sql, "PRAGMA main.encoding='%s'",
	         enc[d.text_encoding - 2]);
	sqlite3_exec(db, sql, NULL, NULL, NULL);
}

int
gsr_db_attach_ro(struct gsr_ctx *ctx, sqlite3 *db, const char *path,
                 const char *name)
{
	static const char hex[] = "0123456789ABCDEF";
	sqlite3_stmt *st = NULL;
	char *uri = NULL, *sql = NULL;
	size_t n = strlen(path), k = 0;
	int rc = -1;

	if (gsr_ctx_failed(ctx))
		return -1;
	/* "file:" + up to three bytes per path byte + "?mode=ro" + NUL */
	if ((uri = malloc(5 + 3 * n + 9)) == NULL) {
		gsr_ctx_fail(ctx, GSR_ERR_NOMEM, "out of memory");
		goto out;
	}
	memcpy(uri, "file:", 5);
	k = 5;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)path[i];
		if (isalnum(c) || strchr("/-._~", c)) {
			uri[k++] = (char)c;
		} else {
			uri[k++] = '%';
			uri[k++] = hex[c >> 4];
			uri[k++] = hex[c & 15];
		}
	}
	memcpy(uri + k, "?mode=ro", 9);
	match_encoding(db, path);
	sql = sqlite3_mprintf("ATTACH DATABASE ?1 AS \"%w\"", name);
	if (sql == NULL ||
	    sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK) {
		gsr_ctx_fail(ctx, GSR_ERR_INTERNAL, "cannot attach: %s",
		             sqlite3_errmsg(db));
		goto out;
	}
	sqlite3_bind_text(st, 1, uri, -1, SQLITE_STATIC);
	if (sqlite3_step(st) != SQLITE_DONE) {
		gsr_ctx_fail(ctx, GSR_ERR_INPUT, "cannot attach '%s': %s", path,
		             sqlite3_errmsg(db));
		goto out;
	}
	rc = 0;
out:
	sqlite3_finalize(st);
	sqlite3_free(sql);
	free(uri);
	return rc;
}
