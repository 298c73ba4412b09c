/* dbopen.h -- opening SQLite databases defensively.
 *
 * Every database gsrecover opens is either a private copy of the user's
 * (see evidence.h) or one of its own.  Input schemas are untrusted: the
 * connection runs with SQLITE_DBCONFIG_DEFENSIVE, trusted_schema off,
 * triggers and views disabled, extension loading off, cell size checks on
 * and memory mapping off, so nothing stored in the input executes.
 */
#ifndef GSR_DBOPEN_H
#define GSR_DBOPEN_H

#include "compat.h"
#include "ctx.h"

#include <sqlite3.h>

/* Open path (a private copy; it may be written to, e.g. to roll back a
 * hot journal).  With create, the file is created if absent.  Returns the
 * handle, or NULL with an error on ctx (GSR_ERR_INPUT when the file is
 * not a database).  No-op after an error. */
sqlite3 *gsr_db_open(struct gsr_ctx *ctx, const char *path, bool create);

/* A database of gsrecover's own (staging, output): the same settings,
 * except that triggers run -- the rebuild's staging tables use them to
 * see what the rules' transforms change and delete.  Never for input. */
sqlite3 *gsr_db_open_own(struct gsr_ctx *ctx, const char *path);

/* A private in-memory database with the same settings. */
sqlite3 *gsr_db_open_memory(struct gsr_ctx *ctx);

/* Attach the database file at path to db as name, read-only (through a
 * file: URI with mode=ro, so nothing can write to it through db).  A
 * main database of db not yet written takes the text encoding of a
 * UTF-16 file first, as ATTACH needs the same on both sides. */
int gsr_db_attach_ro(struct gsr_ctx *ctx, sqlite3 *db, const char *path,
                     const char *name);

/* Run SQL with no result rows; records the error on ctx.  No-op after an
 * error. */
int gsr_db_exec(struct gsr_ctx *ctx, sqlite3 *db, const char *sql);

/* Prepare a statement; NULL with an error on ctx. No-op after an error. */
sqlite3_stmt *gsr_db_prepare(struct gsr_ctx *ctx, sqlite3 *db, const char *sql);

#endif
