/* btree.h -- b-tree pages, cells and records of a SQLite image, from bytes.
 *
 * The forensic walker of gsrecover: it reads table and index b-trees
 * through a struct gsr_pagefile without SQLite, and survives anything the
 * file holds.  Every length, count, offset and page number read from the
 * image is checked against the page and the file before it is used; every
 * chain (tree descent, overflow pages, freelist) is protected against
 * cycles by a bitmap of the pages already used and by a limit of the page
 * count plus one.  Damage is never an error: it is counted in struct
 * gsr_walk_stats, or marked on the row or value it cut short.  Errors in
 * the sense of ctx.h are only allocation failures, unreadable input (see
 * gsr_pagefile_page()) and cancellation.
 *
 * Values are decoded as stored.  Since the walker does not know the
 * schema, they differ from what SQLite's SELECT shows in these ways:
 *  - a column with REAL affinity may hold an integral value as an INTEGER
 *    (SQLite converts it to REAL when read): it is delivered as GSR_V_INT;
 *  - the INTEGER PRIMARY KEY column is stored as NULL (SQLite shows the
 *    rowid): it is delivered as GSR_V_NULL, and the rowid is in the row;
 *  - a NaN REAL is delivered as a REAL (SQLite shows NULL), and a record
 *    shorter than the table (columns added later) has fewer values.
 */
#ifndef GSR_BTREE_H
#define GSR_BTREE_H

#include "compat.h"
#include "ctx.h"
#include "pagefile.h"

/* Page types (the first byte of the b-tree page header). */
#define GSR_PAGE_INDEX_INTERIOR 0x02
#define GSR_PAGE_TABLE_INTERIOR 0x05
#define GSR_PAGE_INDEX_LEAF 0x0a
#define GSR_PAGE_TABLE_LEAF 0x0d

/* Records of more than this many bytes are treated as damage. */
#define GSR_RECORD_MAX ((uint64_t)1 << 30)
/* Records of more than this many values are treated as damage (SQLite's
 * hard limit on columns is 32767). */
#define GSR_RECORD_MAX_VALUES 65536
/* Trees deeper than this are damaged (SQLite itself stops at 20). */
#define GSR_BTREE_MAX_DEPTH 64

enum gsr_vtype { GSR_V_NULL, GSR_V_INT, GSR_V_REAL, GSR_V_TEXT, GSR_V_BLOB };

/*
 * One value of a record.  p and n hold the bytes of a TEXT or BLOB (p is
 * never NULL for them, even when n is 0); i an INTEGER (serial types 1-6,
 * 8 and 9); r a REAL.
 *
 * truncated: the value was cut short because the record's overflow chain
 * is broken.  A TEXT or BLOB then holds the bytes that could be read (a
 * prefix of the value, possibly empty); a number that could not be read
 * whole is delivered as GSR_V_NULL.
 *
 * encoding_error: in a UTF-16 database, a TEXT that is not valid UTF-16
 * (an odd number of bytes, an unpaired surrogate) cannot be converted to
 * UTF-8.  It is delivered as GSR_V_BLOB holding the bytes exactly as stored,
 * with encoding_error set, so that nothing is altered or lost and the
 * value can still be told from a real BLOB.  truncated stays false unless
 * the chain was also broken.  Text of a UTF-8 database is delivered as
 * stored, valid UTF-8 or not.
 */
struct gsr_value {
	enum gsr_vtype type;
	int64_t i;
	double r;
	const unsigned char *p;
	size_t n;
	bool truncated;
	bool encoding_error;
};

/*
 * One row.  values (n_values of them) and the bytes they point at belong
 * to the walker and are valid only during the callback.  pgno and
 * cell_offset say where the cell is (its page, a leaf or for an index an
 * interior page, and its offset in the page).  For an index b-tree, rowid is 0: the key is the record itself
 * (its last value is the rowid of an ordinary index).
 */
struct gsr_row {
	int64_t rowid;
	uint32_t pgno;
	uint32_t cell_offset;
	size_t n_values;
	const struct gsr_value *values;
	bool truncated; /* some value cut short */
};

/*
 * What a walk met.  pages_visited counts the b-tree pages read (overflow
 * pages not included), damaged ones included.  pages_damaged counts the
 * pages that could not be used at all: unreadable, not a b-tree page of
 * the expected kind, with a cell pointer array that does not fit, a child
 * pointer out of range, to a page already used (a cycle or a cross-link),
 * to a pointer-map page, or too deep; and a root out of range.
 * cells_damaged counts the cells of usable pages that were skipped: a cell
 * pointer or a cell out of bounds, a payload over GSR_RECORD_MAX or larger
 * than the file could hold, a record header inconsistent with the payload
 * or cut off by a broken overflow chain.  rows counts the rows delivered, rows_truncated those with a broken
 * overflow chain.
 */
struct gsr_walk_stats {
	uint64_t pages_visited, pages_damaged, cells_damaged;
	uint64_t rows, rows_truncated;
};

/*
 * Walk the table b-tree rooted at page root and call fn for each row, in
 * rowid order (of the leaves reached); fn returns 0 to go on and non-zero
 * to stop.  In a UTF-16 database, TEXT values are converted to UTF-8 (see
 * struct gsr_value for text that is not valid UTF-16).  stats (may be NULL)
 * is zeroed first, then filled.  Checks gsr_ctx_check_cancel() every 1024
 * pages.  Memory: a page, two bitmaps of one bit per page of the image
 * (pages used by the tree, by overflow chains), the largest record (with
 * its UTF-8 conversion) and its values; nothing is kept between walks.
 *
 * Returns 0 when the walk is complete (whatever the damage: see stats), 1
 * when fn stopped it, -1 on an error recorded on ctx (allocation failure,
 * unreadable input, cancellation).  No-op returning -1 when ctx already
 * holds an error.
 */
int gsr_btree_walk_table(struct gsr_ctx *ctx, struct gsr_pagefile *pf,
			 uint32_t root,
			 int (*fn)(void *arg, const struct gsr_row *row),
			 void *arg, struct gsr_walk_stats *stats);

/*
 * The same for the index b-tree rooted at root (an index, or a WITHOUT
 * ROWID table): every key of its leaf and interior pages, in key order,
 * with rowid 0.
 */
int gsr_btree_walk_index(struct gsr_ctx *ctx, struct gsr_pagefile *pf,
			 uint32_t root,
			 int (*fn)(void *arg, const struct gsr_row *row),
			 void *arg, struct gsr_walk_stats *stats);

/*
 * Either walk (index selects the kind), also marking in used (a bitmap of
 * n_pages / 8 + 1 bytes, bit pgno % 8 of byte pgno / 8, owned and zeroed
 * by the caller, which may share it between walks) every page the walk
 * used: the b-tree pages it could read as such and the overflow pages of
 * its records.  Pages that were reached but could not be used are not
 * marked, so that a later pass over unmarked pages still sees them.
 */
int gsr_btree_walk_mark(struct gsr_ctx *ctx, struct gsr_pagefile *pf,
			uint32_t root, bool index, unsigned char *used,
			int (*fn)(void *arg, const struct gsr_row *row),
			void *arg, struct gsr_walk_stats *stats);

/*
 * Classify page pgno: GSR_PAGE_TABLE_LEAF, GSR_PAGE_TABLE_INTERIOR,
 * GSR_PAGE_INDEX_LEAF or GSR_PAGE_INDEX_INTERIOR when its b-tree header
 * (at offset 100 on page 1) is valid: a known type, the cell pointer array
 * inside the usable size, the cell content area after it, a first
 * freeblock inside the page and, for an interior page, a right child in
 * range.  0 otherwise: unreadable, out of range, a pointer-map page, or
 * anything else.  The cells themselves are not checked.
 */
int gsr_btree_page_type(struct gsr_pagefile *pf, uint32_t pgno);

/*
 * The same check on bytes: page (page_size bytes) with its b-tree header at
 * hdr_off (100 for page 1) and usable_size usable bytes.  With strict, every
 * cell pointer must also point between the pointer array and the end of
 * the usable area (the page-size inference uses this).  Returns the page
 * type or 0.  No range check on the right child.
 */
int gsr_btree_page_check(const unsigned char *page, uint32_t page_size,
			 uint32_t usable_size, uint32_t hdr_off, bool strict);

/*
 * Every page of the freelist, trunks and leaves, in chain order (a trunk,
 * then the leaves it lists, then the next trunk), each at most once.  The
 * walk stops at a trunk that is out of range, already met or unreadable,
 * and after n_pages + 1 trunks; a trunk's leaf count is capped at what the
 * page can hold, and leaves out of range or already met are left out.
 * *pages (free() it) and *n are set to NULL and 0 first.  Returns 0, or -1
 * on an allocation failure recorded on ctx (no-op returning -1 when ctx
 * already holds an error).
 */
int gsr_freelist_pages(struct gsr_ctx *ctx, struct gsr_pagefile *pf,
		       uint32_t **pages, size_t *n);

/* Pointer-map entry types (auto-vacuum databases). */
#define GSR_PTRMAP_ROOTPAGE 1
#define GSR_PTRMAP_FREEPAGE 2
#define GSR_PTRMAP_OVERFLOW1 3
#define GSR_PTRMAP_OVERFLOW2 4
#define GSR_PTRMAP_BTREE 5

/* True when the image has pointer-map pages (header field autovacuum is
 * non-zero) and pgno is one of them. */
bool gsr_ptrmap_is_map_page(const struct gsr_pagefile *pf, uint32_t pgno);

/*
 * The pointer-map entry of page pgno: its type (GSR_PTRMAP_*) and parent
 * page.  Returns 0, or -1 when the image has no pointer map, pgno has no
 * entry (page 1, a map page, out of range), the map page is unreadable or
 * the entry's type is not 1..5.
 */
int gsr_ptrmap_get(struct gsr_pagefile *pf, uint32_t pgno, uint8_t *type,
		   uint32_t *parent);

/*
 * Read a varint at p, not reading at or past end: returns its length 1..9
 * and stores the value in *v, or returns 0 when it would run past end.
 */
int gsr_varint_get(const unsigned char *p, const unsigned char *end,
		   uint64_t *v);

/*
 * Decode the record in buf (the full payload, n bytes) into values, at most
 * max_values of them (values may be NULL when max_values is 0).  Returns
 * the number of values in the record, which may be more than max_values
 * (only the first max_values are stored, as snprintf does), or -1 when the
 * record is inconsistent: a header size below its own varint or beyond n,
 * a serial type varint running past the header, the reserved serial types
 * 10 and 11, more than GSR_RECORD_MAX_VALUES values, or values that do not
 * end exactly at n.  TEXT and BLOB values point into buf.
 *
 * text_encoding is the database's (1 UTF-8, 2 UTF-16le, 3 UTF-16be).  TEXT
 * is left as stored: for UTF-16 the bytes are UTF-16, which
 * gsr_utf16_to_utf8() converts (gsr_btree_walk_table() does), and a TEXT
 * that is not valid UTF-16 is retyped GSR_V_BLOB with encoding_error set.
 */
int gsr_record_decode(const unsigned char *buf, size_t n,
		      struct gsr_value *values, size_t max_values,
		      uint32_t text_encoding);

/*
 * Convert n bytes of valid UTF-16 (big-endian when be) to UTF-8 in out,
 * which must hold n / 2 * 3 bytes.  Returns the number of bytes written,
 * or (size_t)-1 when the input is not valid UTF-16 (nothing useful is in
 * out then).
 */
size_t gsr_utf16_to_utf8(const unsigned char *in, size_t n, bool be,
			 unsigned char *out);

/*
 * Convert the UTF-16 TEXT value v (big-endian when be) to UTF-8 in out,
 * which holds v->n / 2 * 3 bytes, and point v at it.  v keeps its longest
 * valid prefix: for a cut-short value (truncated), its whole characters.
 * *bad is set when the value held more than that (a lone surrogate, or a
 * complete value ending in half a character).  Returns the bytes written.
 */
size_t gsr_value_utf16_to_utf8(struct gsr_value *v, bool be, unsigned char *out,
			       bool *bad);

/*
 * Helpers for readers of single cells and records (the carver of deleted
 * records, carve.h), exported as the walker uses them.
 */

/* The number of body bytes a value of serial type st takes (0 for the
 * reserved types 10 and 11). */
uint64_t gsr_serial_size(uint64_t st);

/*
 * How many bytes of a payload of payload bytes a cell keeps in its page
 * (the rest goes to overflow pages), for pages of usable_size usable bytes
 * (at least 480): table_leaf for a table b-tree leaf cell, else an index
 * cell.  Section 1.6 of the file format.
 */
uint64_t gsr_local_size(uint64_t payload, uint32_t usable_size,
			bool table_leaf);

/*
 * gsr_record_decode() for a record of declared bytes of which only the
 * first avail (1 <= avail <= declared) are in buf: its overflow chain
 * could not be read.  The header must lie within avail; values past avail
 * are cut short as struct gsr_value describes (truncated).  With avail ==
 * declared, the same as gsr_record_decode().
 */
int gsr_record_decode_part(const unsigned char *buf, size_t avail,
			   uint64_t declared, struct gsr_value *values,
			   size_t max_values, uint32_t text_encoding);

#endif
