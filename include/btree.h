/* btree.h -- the table and index b-trees of a SQLite image, walked.
 *
 * The forensic walker of gsrecover: it reads table and index b-trees
 * through a struct gsr_pagefile without SQLite, and survives anything the
 * file holds.  Every length, count, offset and page number read from the
 * image is checked against the page and the file before it is used; every
 * chain (tree descent, overflow pages) is protected against cycles by a
 * bitmap of the pages already used and by a limit of the page count plus
 * one.  Damage is never an error: it is counted in struct gsr_walk_stats,
 * or marked on the row or value it cut short.  Errors in the sense of
 * ctx.h are only allocation failures, unreadable input (see
 * gsr_pagefile_page()) and cancellation.
 *
 * Layers (see record.h): the walker reads pages, the freelist and pointer
 * maps through pagefile.h and decodes page headers, cells and records
 * with record.h; neither of those uses the walker.
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
#include "record.h"

/* Trees deeper than this are damaged (SQLite itself stops at 20). */
#define GSR_BTREE_MAX_DEPTH 64

/*
 * One row.  values (n_values of them) and the bytes they point at belong
 * to the walker and are valid only during the callback.  pgno and
 * cell_offset say where the cell is (its page, a leaf or for an index an
 * interior page, and its offset in the page).  For an index b-tree, rowid is 0:
 * the key is the record itself (its last value is the rowid of an ordinary
 * index).
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
 * or cut off by a broken overflow chain.  rows counts the rows delivered,
 * rows_truncated those with a broken overflow chain.
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
 * A look at the interior pages of the b-tree rooted at root, for damage
 * SQLite stops on (a zeroed or torn interior page): from the root down to
 * the level above the leaves (the depth taken from the left-most path),
 * every page must be an interior page of the root's kind
 * (gsr_btree_page_type()), each cell pointer and child number in range,
 * no page reached twice.  The leaves are not read: it costs about one
 * page in a hundred of the tree.  Returns 1 when they read as such, 0
 * when not, -1 on an error recorded on ctx (memory, a signal).
 */
int gsr_btree_interior_sound(struct gsr_ctx *ctx, struct gsr_pagefile *pf,
                             uint32_t root);

#endif
