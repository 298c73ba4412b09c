/* carve.h -- carving deleted rows out of the free space of a SQLite image.
 *
 * When SQLite deletes a row with secure_delete off, the bytes of its cell
 * stay in the page.  The carver finds them again without the b-tree:
 *
 *  - in a page in use, in its freeblocks and in its unallocated area (the
 *    gap between the cell pointer array and the cell content area);
 *  - in a freelist leaf page, which keeps the content it had when it was
 *    last written: its cells when it is still a valid table leaf, and
 *    everything else byte by byte;
 *  - in a freelist trunk page, after its list of leaves.
 *
 * Freeing a cell writes a 4-byte freeblock header (next freeblock, size)
 * over its first bytes: the payload size and rowid varints, and when they
 * are short (3 bytes or fewer together) the record header's size byte and
 * possibly its first serial type.  Such records are rebuilt when the shape
 * says what was lost (see GSR_CARVED_REBUILT).  A cell merged into a
 * freeblock that ends where it starts gets no header and stays whole (so
 * did, in older SQLite, a cell at the start of the cell content area).
 *
 * Nothing comes out unless it fits a table "shape" the caller builds from
 * the schema (struct gsr_shape): the carver prefers losing a row to
 * inventing one.  Rows are recovered from every table the shapes describe
 * at once, which is what free space needs: a freelist page or the
 * unallocated area of a page may hold cells of another table than the
 * page's current one.  Every candidate must also be plausible as data
 * SQLite wrote: minimal varints, no REAL that is a NaN, TEXT that is valid
 * UTF-8 (valid UTF-16 in a UTF-16 database) without NUL characters, a body
 * with a byte that is not 0 (zeroed space reads as records of NULL, 0 and
 * 1, so a row holding only those cannot be carved), and a record whose
 * header and body sizes agree with the cell or the freeblock that held
 * it.  Shapes of fewer than 3 columns are used
 * only for cells a cell pointer array still lists (GSR_CARVED_CELL): one
 * or two values are found by chance anywhere.
 *
 * Every offset of a free region is tried as a whole cell, a bare record
 * and a cell whose first bytes are a freeblock header.  When two
 * candidates overlap, the older one was overwritten by the newer one and
 * is dropped (see struct gsr_carve_stats, conflicts): a record must lie
 * whole in one free region, but that region may have held a newer cell
 * since, freed in turn.
 *
 * Memory: a copy of a page, per-page candidate and region arrays, six
 * bitmaps of one bit per page of the image (freelist leaves and trunks,
 * overflow pages used, the survey's pages and claims), the largest record
 * carved (with its overflow pages and its UTF-8 conversion) and its values.
 */
#ifndef GSR_CARVE_H
#define GSR_CARVE_H

#include "compat.h"
#include "ctx.h"
#include "pagefile.h"
#include "record.h"

/* The storage classes a column accepts: a bitmask of these. */
#define GSR_ALLOW_NULL (1u << GSR_V_NULL)
#define GSR_ALLOW_INT (1u << GSR_V_INT)
#define GSR_ALLOW_REAL (1u << GSR_V_REAL)
#define GSR_ALLOW_TEXT (1u << GSR_V_TEXT)
#define GSR_ALLOW_BLOB (1u << GSR_V_BLOB)
#define GSR_ALLOW_ANY 0x1fu

/* Checks on a column's values, beyond their storage class (a bitmask). */
#define GSR_CHECK_BOOL 0x01     /* an INTEGER is 0 or 1 */
#define GSR_CHECK_NONNEG 0x02   /* an INTEGER is >= 0 */
#define GSR_CHECK_JSON 0x04     /* a TEXT starts like JSON (see below) */
#define GSR_CHECK_DATETIME 0x08 /* a TEXT starts with YYYY-MM-DD */

/*
 * A table as the carver sees it, built by the caller from the schema.
 *
 * name: for the caller (not used).  n_cols: the columns of the table.
 * min_cols: the fewest values a record may have (columns added later by
 * ALTER TABLE ADD COLUMN are missing from older records); 0 means n_cols.
 * ipk: the column of the INTEGER PRIMARY KEY (a rowid alias, always stored
 * as NULL), -1 for none.  allowed (NULL: any class anywhere): per column,
 * the GSR_ALLOW_* classes its values may have (ignored for ipk); a column
 * with REAL affinity should allow INT too (SQLite stores integral values as
 * integers).  enums (NULL: none): per column, NULL or a NULL-terminated
 * list of the TEXT values it may hold.  checks (NULL: none): per column,
 * GSR_CHECK_* bits; GSR_CHECK_JSON wants the first character that is not
 * white space to be one of { [ " - or a digit, or the start of true, false
 * or null.
 *
 * The more a shape says, the fewer false rows: a shape of one or two
 * columns that accept anything matches many byte sequences.
 */
struct gsr_shape {
	const char *name;
	size_t n_cols;
	size_t min_cols;
	int ipk;
	const uint8_t *allowed;
	const char *const *const *enums;
	const uint8_t *checks;
};

/*
 * True when the n values v can be a record of shape s: min_cols <= n <=
 * n_cols; the ipk column NULL; every other value of an allowed class,
 * passing the column's checks and, for a TEXT with an enum list, one of
 * its values.  A value cut short (truncated) is judged on what it holds:
 * a TEXT must be a prefix of an enum value and pass the checks on its
 * prefix, and a number that could not be read (NULL, truncated) fits any
 * column.
 */
bool gsr_shape_fits(const struct gsr_shape *s, const struct gsr_value *v,
                    size_t n);

/*
 * How well the values fit shape s: -1 when gsr_shape_fits() is false, else
 * a score that grows with the evidence: 4 per TEXT found in an enum list,
 * 2 per value that passed a GSR_CHECK_BOOL, _JSON or _DATETIME check, 1 per
 * non-NULL value, and 4 when n is exactly n_cols.  Used to choose between
 * shapes: the more specific match wins.
 */
int gsr_shape_score(const struct gsr_shape *s, const struct gsr_value *v,
                    size_t n);

/*
 * The index of the shape among shapes[0..n_shapes) with the best score for
 * the values, or -1 when none fits.  *tie (may be NULL) is set when another
 * shape has the same best score: the caller should not guess (the carver
 * does not).
 */
int gsr_shape_pick(const struct gsr_shape *shapes, size_t n_shapes,
                   const struct gsr_value *v, size_t n, bool *tie);

/* Where a page comes from, which says what of it is free. */
enum gsr_carve_where {
	/* A table b-tree page in use, normally a leaf: its freeblocks and
	 * its unallocated area.  An index page in use is skipped (counted in
	 * pages_skipped): what its free space holds are index records, which
	 * can read as a table's. */
	GSR_CARVE_LIVE_LEAF,
	/* A freelist leaf page: when it is still a valid table leaf, its
	 * cells are read as the walker reads them, then its free space is
	 * carved; another valid b-tree page: its free space only; anything
	 * else: the whole page. */
	GSR_CARVE_FREELIST_LEAF,
	/* A freelist trunk page: everything after its list of leaves. */
	GSR_CARVE_FREELIST_TRUNK,
};

/* How a row was found. */
enum gsr_carved_kind {
	/* A cell still listed by the cell pointer array of a freelist leaf
	 * page: rowid known. */
	GSR_CARVED_CELL,
	/* A whole cell in free space: payload size (which agrees with the
	 * record), rowid and record. */
	GSR_CARVED_FULL,
	/* A record whose cell header (payload size, rowid) is lost. */
	GSR_CARVED_RECORD,
	/*
	 * A cell whose first 4 bytes are a freeblock header, and whose payload
	 * size and rowid varints took 3 bytes or fewer: the record header's
	 * size byte was lost (and with 2 bytes, the first serial type too,
	 * rebuilt as NULL when the shape's first column is its INTEGER
	 * PRIMARY KEY or accepts only NULL).  The serial types that are left
	 * fix the record; the freeblock header's size must hold the cell, and
	 * when several readings are possible, only one whose cell fills the
	 * freeblock exactly is taken.  The rowid is lost.
	 */
	GSR_CARVED_REBUILT,
};

/*
 * One carved row.  values (n_values of them) and the bytes they point at
 * belong to the carver and are valid only during the callback.  Values are
 * as struct gsr_value describes (the INTEGER PRIMARY KEY is NULL; TEXT of
 * a UTF-16 database converted to UTF-8).
 *
 * source: "freeblock" or "unallocated" (a page in use), "freelist" (a
 * freelist page).  offset: where the cell starts in page pgno (for
 * GSR_CARVED_RECORD, the record).  shape: the index in the shapes given to
 * the carver.  truncated: some value is cut short: the payload continued on
 * overflow pages that could not be used (see gsr_carver_new()).  A row may
 * be found more than once (an old copy of a page on the freelist, an old
 * version of a row) and may still be live in the table: telling those
 * apart is the caller's business.
 * confidence: NULL, or a sentence on what was rebuilt (GSR_CARVED_REBUILT).
 *
 * rowid_known: the rowid was read from the cell's bytes.
 * rowid_from_order: it was not, and rowid is inferred from page order.  On
 * a table leaf in use (GSR_CARVE_LIVE_LEAF) cells are written downward
 * from the end of the page in insertion order, and a table whose rows are
 * appended gets increasing rowids: the space between two live cells with
 * rowids a < b, next to each other in rowid order, held the rows a+1 ..
 * b-1.  The carver infers them only when it is sure of the order: the live
 * cells' offsets decrease as their rowids increase over the whole page;
 * no row is carved above the first live cell or below the last one (in
 * the content area, or freed at its start): such a row may have been
 * written after the live cells, by an update that moved a row whose old
 * version, with stale values, then lies between live cells; the space
 * between the two holds exactly b-a-1 rows (nothing across its
 * bounds, nothing ambiguous, no reading dropped for overlapping another:
 * a freed cell written over by a newer one breaks the count), all of the
 * two live cells' shape, with no rowid of their own that disagrees; and in
 * every date-time column (GSR_CHECK_DATETIME) whose values the two live
 * cells hold in order, the rows' values are in that order too, a row
 * written later into a freed cell's space showing a later time.  The
 * highest offset gets a+1, the next a+2, and so on.  Rows before the
 * page's first live cell or after its last get none (their bounds lie on
 * other pages), nor do rows of free pages.  A live row at the rowid
 * is the caller's to rule out (an orphaned page overlaps the tree).
 */
struct gsr_carved {
	const char *source;
	enum gsr_carved_kind kind;
	uint32_t pgno;
	uint32_t offset;
	size_t shape;
	int64_t rowid;
	bool rowid_known;
	bool rowid_from_order;
	size_t n_values;
	const struct gsr_value *values;
	bool truncated;
	const char *confidence;
};

/*
 * What carving met.  pages: pages carved; pages_skipped: unreadable, or a
 * LIVE_LEAF page that is not a b-tree page.  bytes_scanned: bytes of free
 * regions scanned.  rows: rows delivered, of which rows_truncated cut short
 * and rows_rebuilt GSR_CARVED_REBUILT.  cells_unfit: cells of freelist leaf
 * pages that fit no shape (another table, or damage).  ambiguous:
 * candidates that fit two shapes equally well, or a rebuilt cell with
 * several readings (not delivered).  conflicts: candidates dropped because
 * another one overlapped them: when a candidate starts inside another's
 * body, the other was overwritten (a newer cell took its space, then was
 * freed in turn) and is dropped; when it starts inside the other's header,
 * the two are rival readings of the same bytes and both are dropped.
 */
struct gsr_carve_stats {
	uint64_t pages, pages_skipped, bytes_scanned;
	uint64_t rows, rows_truncated, rows_rebuilt;
	uint64_t cells_unfit, ambiguous, conflicts;
};

struct gsr_carver; /* opaque */

/*
 * A carver of the image pf for the tables shapes[0..n_shapes) (not copied:
 * they must outlive the carver, as must ctx and pf).  Reads the freelist
 * once.
 *
 * Overflow.  A record whose payload continued on overflow pages is whole
 * only if those pages still hold its data.  A freed overflow page keeps
 * its content while it stays a freelist leaf, but it may have been reused
 * by a later record's chain and freed again: following the old pointer
 * then mixes two rows into one that decodes and looks right.  So a chain
 * is followed only after gsr_carver_survey() (gsr_carver_image() runs it),
 * and only when every page of it is a freelist leaf that no other
 * carvable record of the image points into (directly or along its chain),
 * not used by a row delivered before, the chain ends with a next pointer
 * of 0 where the record ends, and the whole record decodes and still fits
 * a shape.  Otherwise the part in the page is delivered with truncated
 * set.  A record's header must lie in the page.
 *
 * Returns NULL on error: invalid shapes (none, a column count of 0 or over
 * 32767, min_cols over n_cols, ipk out of range: recorded as
 * GSR_ERR_USAGE), allocation failure, or ctx already holding an error.
 */
struct gsr_carver *gsr_carver_new(struct gsr_ctx *ctx, struct gsr_pagefile *pf,
                                  const struct gsr_shape *shapes,
                                  size_t n_shapes);

/*
 * Look at every page as gsr_carver_image() would, delivering nothing, and
 * note which freelist pages the overflow chains of the records found would
 * use (see gsr_carver_new()).  As costly as carving the image once.
 * Returns 0, or -1 on an error recorded on the context.
 */
int gsr_carver_survey(struct gsr_carver *cv);

/* Free the carver.  Accepts NULL. */
void gsr_carver_free(struct gsr_carver *cv);

/*
 * Carve page pgno as where says, calling fn for each row found, in page
 * order (cells of a freelist leaf first); fn returns 0 to go on, non-zero
 * to stop.  No byte of a page is delivered twice by one call, and no
 * overflow page twice over the carver's life; carving a page again
 * delivers its rows again.  stats (may be NULL) is added to, not zeroed.
 *
 * Returns 0 when the page is done (whatever it held), 1 when fn stopped,
 * -1 on an error recorded on ctx (allocation failure, unreadable input,
 * cancellation); no-op returning -1 when ctx already holds an error.
 */
int gsr_carver_page(struct gsr_carver *cv, uint32_t pgno,
                    enum gsr_carve_where where,
                    int (*fn)(void *arg, const struct gsr_carved *c), void *arg,
                    struct gsr_carve_stats *stats);

/*
 * Carve every page of the freelist (as read by gsr_freelist_pages()), in
 * page order, trunks as GSR_CARVE_FREELIST_TRUNK and leaves as
 * GSR_CARVE_FREELIST_LEAF; a leaf that a delivered row used as an overflow
 * page is not carved.  Checks gsr_ctx_check_cancel() every 256 pages.
 * Returns as gsr_carver_page().
 */
int gsr_carver_freelist(struct gsr_carver *cv,
                        int (*fn)(void *arg, const struct gsr_carved *c),
                        void *arg, struct gsr_carve_stats *stats);

/*
 * Carve the whole image: gsr_carver_survey() first (unless done), then
 * every page in page order: the freelist's as gsr_carver_freelist() does,
 * every other b-tree page as GSR_CARVE_LIVE_LEAF (the rest, such as
 * overflow pages in use, index pages in use or pages lost to the tree, is
 * skipped and counted in pages_skipped).  Returns as gsr_carver_page().
 */
int gsr_carver_image(struct gsr_carver *cv,
                     int (*fn)(void *arg, const struct gsr_carved *c),
                     void *arg, struct gsr_carve_stats *stats);

/*
 * One page with a carver of its own (which reads the freelist: to carve
 * many pages, make one carver).  No survey: overflow chains are not
 * followed.  stats (may be NULL) is zeroed first.  Returns as
 * gsr_carver_page().
 */
int gsr_carve_page(struct gsr_ctx *ctx, struct gsr_pagefile *pf, uint32_t pgno,
                   enum gsr_carve_where where, const struct gsr_shape *shapes,
                   size_t n_shapes,
                   int (*fn)(void *arg, const struct gsr_carved *c), void *arg,
                   struct gsr_carve_stats *stats);

/* ---- index entries ------------------------------------------------------
 *
 * An index record is the key columns' values and then the rowid.  A deleted
 * index cell's first 4 bytes are a freeblock header (its payload size and
 * the start of its record header), but its body, the rowid last, survives:
 * the rowid of a carved row whose cell header was lost can be read from
 * the entry of an index on its table, found by its key values.
 */

/*
 * The n values v as the key of an index record, as SQLite writes it (file
 * format 4: 0 and 1 take no body bytes) in a database of text_encoding (1
 * UTF-8, 2 UTF-16le, 3 UTF-16be: TEXT values, UTF-8 as the carver and the
 * walker give them, are written in it): their serial types, as varints,
 * into sts (at most sts_cap bytes; *sts_len set) and their body bytes into
 * body (at most body_cap).  Returns the body's length, or (size_t)-1 when a
 * value is cut short, is not valid text, or it does not fit.
 */
size_t gsr_index_key_encode(const struct gsr_value *v, size_t n,
                            uint32_t text_encoding, unsigned char *sts,
                            size_t sts_cap, size_t *sts_len,
                            unsigned char *body, size_t body_cap);

/*
 * The rowid of the index entry whose key body (key_len bytes, serial types
 * sts[0..sts_len) as gsr_index_key_encode() gives them) the caller found at
 * offset body of page (usable bytes of it may be read).  The record header
 * must precede it: [header size][sts][the rowid's serial type], whole, or
 * with its first bytes under a freeblock header (4 bytes from the cell's
 * start, one or two bytes of payload size before the header) whose size
 * and next pointer are sane and agree with the cell; when the rowid's
 * serial type is under it, the freeblock must end where the rowid does.
 * The rowid must be written as SQLite writes it (in the fewest bytes).
 * Returns 1 and sets *rowid, or 0 when no reading, or two that disagree,
 * is found.  Every offset is checked against usable.
 */
int gsr_index_rowid_at(const unsigned char *page, uint32_t usable,
                       uint32_t body, const unsigned char *sts, size_t sts_len,
                       size_t key_len, int64_t *rowid);

#endif
