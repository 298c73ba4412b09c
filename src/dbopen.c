/* dbopen.c -- defensive SQLite connections. */
#include "compat.h"
#include "dbopen.h"

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
	return rc;
}

static sqlite3 *
open_with(struct gsr_ctx *ctx, const char *path, int flags)
{
	sqlite3 *db = NULL;
	int rc;

	if (gsr_ctx_failed(ctx))
		return NULL;
	rc = sqlite3_open_v2(path, &db,
			     flags | SQLITE_OPEN_NOFOLLOW |
				     SQLITE_OPEN_PRIVATECACHE |
				     SQLITE_OPEN_EXRESCODE,
			     NULL);
	if (rc != SQLITE_OK) {
		gsr_ctx_fail(ctx, rc == SQLITE_NOMEM ? GSR_ERR_NOMEM : GSR_ERR_INPUT,
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
			 SQLITE_OPEN_READWRITE | (create ? SQLITE_OPEN_CREATE : 0));
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
