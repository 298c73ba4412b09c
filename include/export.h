/* export.h -- write every row of every table of a database, losslessly.
 *
 * gsr_export_db() writes one file per table into a directory: JSON Lines
 * or CSV (RFC 4180), plus schema.sql and a manifest with the SHA-256 of
 * every file.  gsr_export_spool() makes the same JSON Lines files for an
 * audit archive, compressed ahead into spools (archive.h) by several
 * threads.  Values keep their SQLite storage class:
 *
 *   INTEGER  a JSON number; in CSV, the digits
 *   REAL     a JSON number that always has a '.' or an exponent (and reads
 *            back to the same double); infinities, which JSON cannot hold,
 *            are {"real": "inf"|"-inf"}, and Inf/-Inf in CSV
 *   TEXT     a JSON string when it is valid UTF-8, else
 *            {"text_hex": "<hex of the bytes>"}; in CSV always between
 *            double quotes ("" for a quote), the bytes as stored
 *   BLOB     {"blob_hex": "<hex>"}; in CSV X'<HEX>', unquoted
 *   NULL     null; in CSV an empty, unquoted field
 *
 * so the class and the bytes of every value can be told from either format.
 *
 * A JSON Lines file (export format version 2) starts with one object that
 * says what the lines after it hold,
 *
 *   {"table":T,"source":"btree","rowid":true,"columns":["id","a",...]}
 *
 * and has one JSON array per row after it: the rowid first when "rowid"
 * is true, then the values of the columns in the order "columns" names
 * them (a column name that is not UTF-8 is a {"text_hex": ...} object
 * there).  A CSV file starts with a header line of the column names,
 * preceded by "rowid" when the rows carry one.
 *
 * The quarantine of a rebuild writes single rows as objects keyed by
 * column, with the same encoding of values, through gsr_json_row_values()
 * and gsr_json_value().
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

/* The "version" of the export's manifest.json: 2 since rows are arrays. */
#define GSR_EXPORT_VERSION 2

struct gsr_archive;
struct gsr_archive_spool;

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
	bool rowid; /* its rows carry a rowid */
	/* gsr_export_spool(): where the file is. */
	struct gsr_archive_spool *spool;
	size_t spool_idx;
};

struct gsr_export_result {
	struct gsr_export_table *tables;
	size_t n_tables, cap_tables;
	int64_t total_rows;
	char schema_sha256[GSR_SHA256_HEX];
	char manifest_sha256[GSR_SHA256_HEX];
	/* gsr_export_spool(): the spools, owned; schema.sql and
	 * manifest.json are members schema_idx and manifest_idx of the
	 * first. */
	struct gsr_archive_spool **spools;
	size_t n_spools, cap_spools;
	size_t schema_idx, manifest_idx;
};

#define GSR_EXPORT_RESULT_INIT { 0 }

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
 * The rows of a WITHOUT ROWID table carry no rowid.  The rowid is read
 * through the first of _rowid_, rowid and oid that no column of the table
 * is named; when columns take all three, the INTEGER PRIMARY KEY is the
 * rowid, and without one the rowid is left out.  Rows come in rowid order
 * (primary key order for WITHOUT ROWID tables).
 *
 * Rows are streamed with one prepared statement per table, through a
 * buffer of 256 KiB: memory does not grow with the size of a table.
 * gsr_ctx_check_cancel() is called every 4096 rows, and the rows written
 * so far are reported as the progress phase "export" (ctx.h).  Files are created
 * with mode 0600 (O_EXCL, never following a link), fsync()ed and closed
 * before the next one; each is registered with gsr_temp_register() while
 * the call runs.
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

/*
 * The JSON Lines export of database "main" of the file db_path (a private
 * copy: see evidence.h) for an audit archive: the files gsr_export_db()
 * would write, each compressed into a spool made in spool_dir, where
 * res->tables[i].spool and spool_idx find it (schema.sql and
 * manifest.json in res->spools[0]).  The tables are shared out among
 * `threads` threads (1 to 16, the calling thread one of them), each
 * reading through its own connection; the files and their hashes are
 * the same whatever the number.  Memory: per thread, a connection, a
 * compressor and a buffer.  Fails as gsr_export_db() does; res is
 * released with gsr_export_result_release(), which frees the spools.
 * Returns 0 or -1.  No-op after an error.
 */
int gsr_export_spool(struct gsr_ctx *ctx, const char *db_path,
		     const char *spool_dir, int threads,
		     const struct gsr_evidence *ev, struct gsr_export_result *res);

/*
 * Add the files of a spooled export to ar as PREFIX/schema.sql, then
 * PREFIX/FILE for every table in order, then PREFIX/manifest.json.
 * Returns 0 or -1.  No-op after an error.
 */
int gsr_export_add_to_archive(struct gsr_ctx *ctx, struct gsr_archive *ar,
			      const char *prefix,
			      const struct gsr_export_result *res);

/* Free what res holds (spools included) and zero it. */
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
