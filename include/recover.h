/* recover.h -- what a damaged SQLite image still holds, read from its bytes.
 *
 * When SQLite cannot read a database ("database disk image is malformed",
 * a truncated or half-zeroed file), gsr_recover_run() reads it with
 * gsrecover's own page reader (pagefile.h, btree.h) and writes what
 * survives into two new databases of its own:
 *
 *  - the recovered database: the input's schema as stored (every table and
 *    index created from its own SQL, views and triggers copied as text),
 *    and every live row that could be read, at its rowid.  It can be read
 *    with SQLite like any healthy input, so identify, export and rebuild
 *    work on it unchanged;
 *  - the ledger: where each recovered row came from, and the rows that
 *    are not live (see below), kept apart so that they never mix with
 *    live rows.
 *
 * The schema comes from sqlite_master (page 1's tree, and sqlite_master
 * leaves that no longer hang from page 1).  When no table survives there
 * and rules are given, it comes from the label of the rules whose tables
 * best fit the shape of the records found (column count, storage classes,
 * known enum values): that label's objects are created instead.
 *
 * Live rows come from two sources: "btree" (the walk of each table from
 * its root page) and "orphan-leaf" (table leaf pages that no tree reaches,
 * for example under a zeroed interior page: each is put into the table
 * whose records it fits, by the pointer map when there is one, else by
 * shape; a page no table fits, or two fit equally, is left unplaced).
 * Index b-trees are walked only to cross-check: an index entry whose rowid
 * has no recovered row counts as a row known lost.
 *
 * Memory: one page and one record at a time, plus one bit and one 32-bit
 * table number per page of the image.
 */
#ifndef GSR_RECOVER_H
#define GSR_RECOVER_H

#include "compat.h"
#include "ctx.h"
#include "pagefile.h"
#include "strbuf.h"

struct gsr_rules;

struct gsr_recover_opts {
	/* Rules, for the schema by shape and for enum domains; may be NULL. */
	const struct gsr_rules *rules;
	/* The page size when the header is destroyed and inference should
	 * be skipped; 0 to infer. */
	uint32_t page_size_hint;
	/* The -wal and -journal that came with the image, as taken (NULL
	 * for none).  The current state is the image with the WAL's
	 * committed frames laid over it, or with a hot journal rolled back,
	 * as SQLite would show it; the other page versions they hold are
	 * read as history. */
	const char *wal_path, *journal_path;
	/* Also carve deleted rows out of free space (carve.h): freelist
	 * pages, freeblocks and unallocated areas of live pages. */
	bool deleted;
	/* The image is a private copy that SQLite may read (read-only): in
	 * a table that has no index, the rows of its tree that the page
	 * reader reads whole, each as it would be inserted, with no damage
	 * between them, are then copied by SQLite from the image's same
	 * pages, a segment of them in one statement (the whole table when
	 * its tree reads whole), instead of a row at a time; never with a
	 * -wal or a rolled-back journal, whose pages SQLite would not see
	 * as the page reader does.  Each copy must hold the segment's count
	 * and first and last rowid, or its rows go in one at a time.  When
	 * every tree reads whole, the recovered database is instead the
	 * image's VACUUM INTO, made on a thread beside the page reader's
	 * first pass and checked table by table against it. */
	bool sqlite_reads_image;
	/* SQLite already found the image damaged: no VACUUM INTO is tried
	 * (it would fail, or be thrown away, on the damage). */
	bool damaged;
};

struct gsr_recover_table {
	char *name;
	uint32_t root; /* 0 when sqlite_master gave none that is usable */
	int64_t rows;  /* placed in the recovered table */
	int64_t btree, orphan; /* of rows, by source */
	int64_t truncated;     /* of rows, with a value cut short */
	/* Rows read but refused by the table's own constraints (a NOT NULL
	 * value that was cut short, a rowid or UNIQUE key met twice with
	 * different values): kept in the ledger with SQLite's reason. */
	int64_t rejected;
	int64_t duplicates; /* orphan rows equal to a row already placed */
	/* Rows read but withheld because their bytes contradict themselves,
	 * the schema, the rules or an index: kept in the ledger, kind
	 * "flagged", with the flag and the reason. */
	int64_t flagged;
	/* The largest entry count of the table's indexes (-1 without an
	 * index), and index entries whose rowid has no recovered row. */
	int64_t index_entries, index_missing;
	uint64_t pages_damaged, cells_damaged;
	/* Of btree: rows copied from the image in bulk
	 * (opts->sqlite_reads_image): by SQLite, or in leaf pages grafted
	 * whole (leaves_grafted of them). */
	int64_t bulk_rows, leaves_grafted;
};

struct gsr_recover_result {
	struct gsr_pagefile_info info;
	/* "sqlite_master", or "rules" when the schema is schema_label's. */
	const char *schema_source;
	char *schema_label;
	/* With "rules": every label that fits the records as well as
	 * schema_label does (tables of the same shape), schema_label last. */
	struct strvec schema_candidates;
	uint32_t schema_entries; /* sqlite_master rows read */
	uint32_t pages_tree;     /* used by the trees and their overflow */
	uint32_t pages_freelist;
	uint32_t pages_orphan;   /* table leaves placed as orphan-leaf */
	uint32_t pages_unplaced; /* table leaves no table fits */
	uint32_t pages_other;    /* everything else: zeroed, unreadable,
	                            index leaves no tree reaches, ... */
	int64_t rows_unplaced;
	struct gsr_recover_table *tables;
	size_t n_tables;
	int64_t rows, rejected, truncated, flagged;
	uint64_t pages_damaged, cells_damaged;
	/* The WAL: frame slots, how many the current state uses (committed,
	 * latest of their page), and the history rows found in the others
	 * (older committed versions, frames after the last commit, frames of
	 * an earlier generation of the WAL). */
	bool wal_used;
	uint32_t wal_frames, wal_current, wal_history_pages;
	/* A hot journal rolled back (journal_rolled_back), the journal's
	 * records, and history pages read from it or rolled back. */
	bool journal_rolled_back;
	uint32_t journal_records, journal_history_pages;
	int64_t history; /* history rows in the ledger */
	/* With opts->deleted: deleted rows carved and kept in the ledger,
	 * carved rows equal to a live row or to one kept already (not
	 * kept), rows of which a value is cut short, and the bytes of free
	 * space scanned. */
	bool carved;
	int64_t deleted, deleted_same, deleted_truncated;
	/* Of deleted: how each rowid was established (read from the cell,
	 * from an index entry, inferred from page order) or not (never
	 * imported), and rows flagged for what their bytes contradict. */
	int64_t rowid_cell, rowid_index, rowid_page_order, rowid_unknown;
	int64_t deleted_flagged;
	/* Of those with an established rowid: confirmed by a foreign key
	 * that points at it (the ledger's confirmed_by). */
	int64_t rowid_confirmed;
	uint64_t carve_bytes;
	int64_t history_same; /* other versions equal to the live row */
	double ms;
};

#define GSR_RECOVER_RESULT_INIT                                                \
	{                                                                      \
		0                                                              \
	}

/*
 * Recover the image in the file at image_path (read with pread only; it
 * is handed to SQLite only with opts->sqlite_reads_image) into the new
 * databases out_db and ledger_db, which must not exist.  The recovered database
 * gets the image's text encoding, user_version and application_id when the
 * header gives them.
 *
 * Every row read is checked against itself, the schema and the rules
 * (a storage class its column's declared type cannot hold, TEXT that is
 * not UTF-8, a JSON column that does not parse, an enum value outside the
 * rules' domain, an index whose entries at its rowid hold other keys): a
 * live row a check contradicts is withheld from the recovered database
 * and kept in the ledger, kind "flagged".
 *
 * The ledger holds:
 *   provenance(tbl, rid, source, pgno, cell_offset, frame, truncated,
 *     rowid_from, last_rid, n_rows): where every recovered row of every
 *     rowid table came from (rowid_from "cell"): one entry for a run of
 *     consecutive cells of one tree leaf read whole from the file
 *     (source "btree", rid..last_rid its first and last rowid, n_rows
 *     its rows, cell_offset NULL), one of its own (last_rid = rid,
 *     n_rows 1) for any other row: cut short, on an orphan leaf, or
 *     from a WAL frame.  A row withheld ends the run before it;
 *   rows(tbl, kind, source, pgno, cell_offset, frame, rowid, truncated,
 *     note, record, rowid_from, flag): rows that are not live: kind
 *     "flagged" (see above), "rejected" (refused by
 *     the table's constraints), "history" (another version of a row: on
 *     an older WAL frame (source "wal-frame", frame set), in a journal
 *     that was not played back (source "journal"), on a page a hot
 *     journal rolled back (source "rolled-back"), or on an orphan leaf
 *     whose rowid holds different values in the tree), "unplaced" (on a
 *     leaf no table fits; tbl NULL), "deleted" (carved out of free space,
 *     opts->deleted: source "freelist", "freeblock" or "unallocated";
 *     when the cell header was overwritten, the rowid of the one entry
 *     of an index on its table (live, or deleted: found by its key bytes
 *     in index and freelist pages) that holds its key values and whose
 *     rowid no live row has, else NULL).  rowid_from says how the rowid
 *     was established: "cell", "index", "page-order" (inferred from
 *     the cell's position among a table leaf's live cells: carve.h,
 *     rowid_from_order) or "unknown"; flag is NULL or a comma-separated
 *     list of "rowid-unknown", "storage-class", "not-utf8",
 *     "json-invalid", "enum-domain", "index-mismatch" and "versions"
 *     (another deleted row holds its rowid with other values), note
 *     naming the column or index.  A version equal to the live row is not
 *     kept, nor one already kept.  record is the values as a JSON array
 *     in the encoding of export.h; confirmations(row, by): the deleted
 *     rows (by rows' rowid) whose established rowid one-column foreign
 *     keys to their table's INTEGER PRIMARY KEY point at from a live or
 *     deleted row, by "table.column,..." (exported as rows.jsonl's
 *     confirmed_by); objects(type, name, tbl_name,
 * rootpage, sql, created): the schema entries read, and whether the recovered
 * database has them.
 *
 * The pages walked are reported as the progress phase "page reader"
 * (ctx.h).  Fails (GSR_ERR_INPUT) only when nothing can be read: no page
 * and no schema.  Damage is reported in res.  Returns 0 or -1; no-op after an
 * error; the output files are removed on failure.  Release res with
 * gsr_recover_result_release().
 */
int gsr_recover_run(struct gsr_ctx *ctx, const char *image_path,
                    const struct gsr_recover_opts *opts, const char *out_db,
                    const char *ledger_db, struct gsr_recover_result *res);

/*
 * The fast path for a sound database that came with a -wal (opts->wal_path
 * set, no journal): SQLite reads the committed state from live_db (the
 * working copy, with its copy of the -wal beside it; only read here), and
 * the page reader reads only the -wal's frames into the ledger ledger_db
 * (which must not exist), in the layout of gsr_recover_run():
 *   rows: the history rows of the frames the committed state does not use
 *     (older committed versions, uncommitted frames, frames of an earlier
 *     generation), decoded and tagged with their frame exactly as
 *     gsr_recover_run() does;
 *   provenance: the rows of the table leaves of the frames the committed
 *     state uses (source "btree", frame set);
 *   objects: sqlite_master as read, created = SQLite has it.
 * The image at image_path is read only for page 1's sqlite_master tree and
 * the interior pages of each table (to know which table a frame's leaf
 * belongs to); nothing is carved.  So the cost grows with the -wal and the
 * number of interior pages, not with the rows of the database.  res gets
 * the WAL and history counts, info and schema_entries; its tables list
 * every table with no rows counted (SQLite reads them).
 *
 * The WAL is sound when its header is valid, its page size is the
 * database's, its valid prefix has a commit, no frame after the valid
 * prefix has the header's salts (a broken checksum in the current
 * generation) and no partial frame ends it.  Returns 0 when the ledger was
 * written; 1 when the WAL is not sound or sqlite_master does not read
 * whole (*why, malloc'd, says why; nothing is written and res is left
 * empty: run gsr_recover_run() instead); -1 on an error on ctx.  No-op
 * after an error.  Release res with gsr_recover_result_release().
 */
int gsr_recover_wal_history(struct gsr_ctx *ctx, const char *image_path,
                            const struct gsr_recover_opts *opts,
                            const char *live_db, const char *ledger_db,
                            struct gsr_recover_result *res, char **why);

void gsr_recover_result_release(struct gsr_recover_result *res);

/* True when rows may have been lost: damaged pages or cells, values cut
 * short, rows refused or unplaced, pages that no tree, freelist or leaf
 * placement accounts for, a file shorter than its header says, a schema
 * taken from the rules, or index entries without their row. */
bool gsr_recover_lossy(const struct gsr_recover_result *res);

/*
 * Write the ledger ledger_db as JSON Lines into dir (created, mode 0700,
 * if absent; the files must not exist):
 *   objects.jsonl     the schema entries read;
 *   provenance.jsonl  {"table","rowid","source","page","offset","frame",
 *                      "truncated","rowid_from","last_rowid","count"},
 *                      an entry of provenance a line;
 *   rows.jsonl        {"table","kind","source","page","offset","frame",
 *                      "rowid","rowid_from","flag","confirmed_by",
 *                      "truncated","note",
 *                      "values":[...]} for every
 *                      row that is not live, values in export.h's encoding;
 *   manifest.json     {"format":"gsrecover-recovery","version":2,"files":
 *                      [{"name","bytes","sha256"}...],"recovery":{res}},
 *                      written last.
 * The directory and files are registered with gsr_temp_register() (so that
 * an interrupted run removes them); gsr_recover_forget_ledger_files()
 * unregisters them once they are in place.  Returns 0 or -1 (error on
 * ctx).  No-op after an error.
 */
int gsr_recover_export_ledger(struct gsr_ctx *ctx, const char *ledger_db,
                              const struct gsr_recover_result *res,
                              const char *dir);
void gsr_recover_forget_ledger_files(const char *dir);

/*
 * Put the deleted rows of the ledger into the recovered database out_db
 * (for rebuild --include-deleted), each at the rowid established for it
 * (rowid_from "cell", "index" or "page-order"), never at a new one.  A row
 * that is flagged (rowid-unknown, or what its bytes contradict), whose
 * rowid is taken, whose table is gone, whose values include one JSON
 * cannot give back as it was (tagged hex), or that the table's
 * constraints refuse, is not imported.  Every row's
 * ledger note says what became of it.  *imported and *refused count them.
 * Returns 0 or -1 (error on ctx).  No-op after an error.
 */
int gsr_recover_import_deleted(struct gsr_ctx *ctx, const char *out_db,
                               const char *ledger_db, int64_t *imported,
                               int64_t *refused);

struct jsonw;
/* Write the result as the keys of the JSON object open on jw. */
void gsr_recover_write_json(const struct gsr_recover_result *res,
                            struct jsonw *jw);

#endif
