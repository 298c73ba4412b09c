/* export.h -- write every row of every table of a database, losslessly.
 *
 * gsr_export_db() writes one file per table into a directory: JSON Lines
 * (one object per row) or CSV (RFC 4180), plus schema.sql and a manifest
 * with the SHA-256 of every file.  Values keep their SQLite storage class:
 *
 *   INTEGER  a JSON number; in CSV, the digits
 *   REAL     a JSON number that always has a '.' or an exponent (%.17g,
 *            so it reads back to the same double); infinities, which JSON
 *            cannot hold, are {"real": "inf"|"-inf"}, and Inf/-Inf in CSV
 *   TEXT     a JSON string when it is valid UTF-8, else
 *            {"text_hex": "<hex of the bytes>"}; in CSV always between
 *            double quotes ("" for a quote), the bytes as stored
 *   BLOB     {"blob_hex": "<hex>"}; in CSV X'<HEX>', unquoted
 *   NULL     null; in CSV an empty, unquoted field
 *
 * so the class and the bytes of every value can be told from either format.
 * The same encoding is available to other writers (the rebuild's
 * quarantine) through gsr_json_row_values() and gsr_json_value().
 */
#ifndef GSR_EXPORT_H
#define GSR_EXPORT_H

#include "compat.h"
#include "ctx.h"
#include "evidence.h"
#include "jsonw.h"
#include "sha256.h"

#include <sqlite3.h>

enum gsr_export_format { GSR_EXPORT_JSONL, GSR_EXPORT_CSV };

/*
 * One table of the export.  A virtual table is listed with file NULL and
 * rows -1: its rows are not read, since reading them would run the code of
 * its module.
 */
struct gsr_export_table {
	char *name;
	char *file; /* relative to dir; NULL when skipped */
	int64_t rows;
	uint64_t bytes;
	char sha256[GSR_SHA256_HEX];
};

struct gsr_export_result {
	struct gsr_export_table *tables;
	size_t n_tables, cap_tables;
	int64_t total_rows;
	char schema_sha256[GSR_SHA256_HEX];
	char manifest_sha256[GSR_SHA256_HEX];
};

#define GSR_EXPORT_RESULT_INIT { NULL, 0, 0, 0, { 0 }, { 0 } }

/*
 * Export every table of database `schema` ("main", or an attached name) of
 * db into the existing, empty directory dir:
 *
 *  - one TABLE.jsonl (or TABLE.csv) per table, in sqlite_master order,
 *    sqlite_sequence and the shadow tables of virtual tables included;
 *    virtual tables are skipped and listed in the manifest as skipped.
 *    The file is named after the table when the name is 1 to 200 of
 *    [A-Za-z0-9_.-], is not "schema" or "manifest" and does not look like
 *    "table-N"; otherwise it is "table-N", N the table's position (from 1)
 *    among the tables.  No table name can reach outside dir.
 *  - schema.sql: the sql of every sqlite_master object that has one, in
 *    rowid order, exactly as stored, each followed by ";\n".
 *  - manifest.json, written last (see gsrecover(1) for its keys).  ev, when
 *    not NULL, supplies the input files it lists.
 *
 * A JSON Lines row is {"table":T,"rowid":N,"source":"btree","values":{...}}
 * without "rowid" for a WITHOUT ROWID table.  The rowid is read through the
 * first of _rowid_, rowid and oid that no column of the table is named;
 * when columns take all three, the INTEGER PRIMARY KEY is the rowid, and
 * without one the rowid is left out.  Rows come in rowid order (primary
 * key order for WITHOUT ROWID tables).  A CSV file starts with a header
 * line of the column names, preceded by "rowid" when the rows carry one.
 *
 * Rows are streamed with one prepared statement per table: memory does
 * not grow with the size of a table.  gsr_ctx_check_cancel() is called
 * every 4096 rows.  Files are created with mode 0600 (O_EXCL, never
 * following a link), fsync()ed and closed before the next one; each is
 * registered with gsr_temp_register() while the call runs.
 *
 * Fails with GSR_ERR_INPUT when SQLite cannot read the schema or a table
 * (the message is SQLite's), GSR_ERR_IO when a file cannot be written
 * (naming it, with strerror), GSR_ERR_NOMEM, or GSR_ERR_CANCELED; the
 * files written so far are then removed, so dir is left empty.  res
 * (initialised with GSR_EXPORT_RESULT_INIT, or zeroed) receives the tables,
 * their row counts, sizes and hashes, and the hashes of schema.sql and
 * manifest.json; release it with gsr_export_result_release() in either
 * case.  Returns 0 or -1.  No-op after an error.
 */
int gsr_export_db(struct gsr_ctx *ctx, sqlite3 *db, const char *schema,
		  const char *dir, enum gsr_export_format fmt,
		  const struct gsr_evidence *ev, struct gsr_export_result *res);

/* Free what res holds and zero it. */
void gsr_export_result_release(struct gsr_export_result *res);

/*
 * Write the columns first..n-1 of the current row of st as a JSON object
 * {"column": value, ...} with the storage-class encoding above.  A column
 * name that is not valid UTF-8 is written as the key "text_hex:<hex>".
 * Sets jw->failed when SQLite runs out of memory converting a value.
 */
void gsr_json_row_values(struct jsonw *jw, sqlite3_stmt *st, int first);

/* Write one value of the current row (column i) with that encoding. */
void gsr_json_value(struct jsonw *jw, sqlite3_stmt *st, int i);

#endif
