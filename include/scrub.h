/* scrub.h -- a copy of an SQLite database with its free space zeroed.
 *
 * A database keeps, in the bytes of its pages that hold no cell, what was
 * there before: deleted rows, old versions of rows moved by an update,
 * cells left behind by a split.  SQLite's VACUUM writes every row again
 * into a new file and leaves none of it; this copies the pages as they
 * are and zeroes those bytes instead, which is what secure_delete would
 * have left had it been on since the file was made.  The rows, the trees
 * and the header are the same bytes as the source's.
 *
 * It reads the file itself, without SQLite, and vouches only for a file
 * it can account for page by page: every page a b-tree page or an
 * overflow page that a cell reaches, no freelist, no pointer map.  For
 * anything else it says so and the caller copies another way.
 */
#ifndef GSR_SCRUB_H
#define GSR_SCRUB_H

#include "compat.h"
#include "ctx.h"

/*
 * Copy the database src to dst (which exists and is truncated, or is
 * created with mode 0600), zeroing in every b-tree page the unallocated
 * space between the cell pointer array and the cells, the bodies of its
 * freeblocks (their 4-byte headers stay: the page still accounts for
 * them) and its fragments; and, in the last page of every overflow chain,
 * the bytes after the payload.  The file header, the cells, the cell
 * pointers and the reserved bytes at the end of each page are copied as
 * they are.  Memory: a chunk of 1 MiB, two pages and two bitmaps of one
 * bit per page.
 *
 * Returns 0 when dst is that copy; 1 when src is not a file it can
 * account for (dst is then empty): not a whole number of pages, a
 * freelist, auto-vacuum's pointer maps, more than 2^24 pages, a page
 * that is neither a b-tree page nor reached as an overflow page (or is
 * both), a cell, freeblock or overflow chain out of bounds or overlapping
 * another; -1 on an error recorded on ctx (an I/O error, a signal).
 * No-op returning -1 when ctx already holds an error.
 */
int gsr_scrub_copy(struct gsr_ctx *ctx, const char *src, const char *dst);

/*
 * Zero the free space of one table b-tree leaf page (page_size bytes, of
 * which the first usable are SQLite's; its header at offset 0, so never
 * page 1) as gsr_scrub_copy() does.  Returns 0, or 1 when it is not a
 * table leaf page SQLite would read (cells or freeblocks out of bounds or
 * overlapping) or a cell's payload overflows to another page: the page
 * may then be partly zeroed.
 */
int gsr_scrub_leaf(unsigned char *page, uint32_t page_size, uint32_t usable);

#endif
