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
#include "recover.h"
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

#define GSR_EXPORT_RESULT_INIT                                                 \
	{                                                                      \
		0                                                              \
	}

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
 * so far are reported as the progress phase "export" (ctx.h).  Files are
 * created with mode 0600 (O_EXCL, never following a link), fsync()ed and closed
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
                     const struct gsr_evidence *ev,
                     struct gsr_export_result *res);

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

/* ---- gsrecover export: the whole run ---------------------------------- */

struct gsr_export_opts {
	const char *out; /* the directory to make (required) */
	enum gsr_export_format fmt;
	bool force;   /* replace out when it holds an earlier export */
	bool recover; /* read with the page reader even when SQLite can */
};

/* Why the page reader read the rows when opts->recover did not ask. */
enum gsr_export_fallback {
	GSR_EXPORT_NO_FALLBACK,
	GSR_EXPORT_FALLBACK_HEADER, /* the header: why says what is wrong */
	GSR_EXPORT_FALLBACK_SQLITE, /* SQLite failed: why is its message */
};

/*
 * What gsr_export_run() did, for the caller to report: the evidence, the
 * export, and what the run met on its way that is not an error, in the
 * order it met it.
 */
struct gsr_export_report {
	bool custody;           /* the input was taken into custody: */
	struct gsr_evidence ev; /* the input; see evidence.h */
	struct gsr_export_result export;
	/* The copy was shorter than its header says: its page count was
	 * lowered from header_pages to fit_pages (0: it was not). */
	int64_t fit_pages;
	uint32_t header_pages;
	enum gsr_export_fallback fallback;
	char why[1024];
	/* The rules could not be loaded for the page reader, which went
	 * without them: err is not GSR_OK, msg says why. */
	struct gsr_ctx rules_error;
	bool recovered; /* the page reader read the rows: rec is its report */
	struct gsr_recover_result rec;
	/* --force: the earlier export was replaced but could not be removed
	 * and is left at old_left (old_errno says why); or, on failure,
	 * could not be put back and is now at old_kept. */
	char *old_left;
	int old_errno;
	char *old_kept;
	/* On failure: the temporary directory could not be removed and is
	 * left at tmp_left (tmp_errno says why). */
	char *tmp_left;
	int tmp_errno;
};

#define GSR_EXPORT_REPORT_INIT                                                 \
	{                                                                      \
		.ev = GSR_EVIDENCE_INIT                                        \
	}

/*
 * gsrecover export: every row of the database at path (NULL: GPUStack's,
 * see evidence.h) into the new directory opts->out, which appears whole
 * or not at all.
 *
 *  - opts->out must not exist, unless opts->force is given and it holds
 *    an earlier export (an empty directory, or only regular files and the
 *    directory recovery/, among them a manifest.json of gsrecover's):
 *    anything else fails with GSR_ERR_EXISTS before the input is read.
 *  - The input is taken into custody (gsr_evidence_open(), into rep->ev).
 *  - Its header is checked: a file that is empty, compressed or an archive
 *    (with how to unpack it), or shorter than 512 bytes and not SQLite,
 *    fails with GSR_ERR_INPUT.  A copy shorter than its header declares
 *    gets its page count lowered (fit_pages).
 *  - SQLite exports it (gsr_export_db()) into OUT.tmp-XXXXXX beside OUT.
 *    When the header is not SQLite's, or SQLite fails with GSR_ERR_INPUT,
 *    or opts->recover, the page reader (recover.h) reads it instead, with
 *    the rules in rules_dir (NULL: none; loaded only then, and a failure
 *    to load them is rules_error, not an error of the run) when
 *    sqlite_master is lost; its database is exported, its ledger into
 *    OUT/recovery/.
 *  - The input is hashed again (gsr_evidence_recheck()); then the
 *    directory is synced and renamed to OUT (with --force, the earlier
 *    export is renamed aside first and removed after), and OUT's parent
 *    is synced.
 *
 * Fails with GSR_ERR_EXISTS (OUT exists), GSR_ERR_INPUT (the input),
 * GSR_ERR_IO (the output), GSR_ERR_NOMEM or GSR_ERR_CANCELED; the
 * temporary directory is then removed, and OUT is as it was.  rep
 * (GSR_EXPORT_REPORT_INIT) is filled as far as the run got, on failure
 * too; release it with gsr_export_report_release().  Returns 0 or -1.
 * No-op after an error.
 */
int gsr_export_run(struct gsr_ctx *ctx, const char *rules_dir, const char *path,
                   const struct gsr_export_opts *opts,
                   struct gsr_export_report *rep);

/* Free what rep holds and reset it to GSR_EXPORT_REPORT_INIT. */
void gsr_export_report_release(struct gsr_export_report *rep);

/* Rows may be lost: the page reader read the rows because SQLite could
 * not, or found damage (gsr_recover_lossy()). */
bool gsr_export_lossy(const struct gsr_export_report *rep);

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
