/* graft.h -- a table b-tree built at the end of an SQLite database from
 * whole leaf pages.
 *
 * SQLite copies a table whose tree reads whole with its transfer of
 * records as stored; a table whose tree is cut (an interior page lost)
 * it copies only by decoding and encoding every row again.  When every
 * leaf that remains is whole, the leaves themselves can go in: this
 * appends them, as they are but with their free space zeroed
 * (gsr_scrub_leaf()), to a database SQLite does not hold open in a
 * transaction, builds the interior pages above them, and makes the top
 * one the table's root.  The records are the bytes the leaves held, as
 * SQLite's transfer would have written them.
 *
 * It knows SQLite's file format, not what the table holds.  It reads and
 * writes the file itself; a connection that holds the database open
 * between transactions sees the change counter move and drops what it
 * cached, as it does for a change by another process.  No connection may
 * be in a transaction on it meanwhile: closing the graft's descriptor
 * drops every POSIX lock the process holds on the file.  Memory: one
 * page per level of the tree and a write buffer of 1 MiB.
 */
#ifndef GSR_GRAFT_H
#define GSR_GRAFT_H

#include "compat.h"
#include "ctx.h"

struct gsr_graft;

/*
 * Begin grafting n_leaves leaves (at least 1) onto the database at path,
 * under the table whose root page is root: an empty table leaf.  The
 * leaves must come from a database of the same page size and usable size
 * (page_size less the reserved bytes).  *out is the graft.
 *
 * Returns 0; 1 when the file is not one this writes to (another page or
 * usable size, not a whole number of pages or a size its header does not
 * give, auto-vacuum, WAL, a root that is not an empty table leaf, a tree
 * that would pass 2^30 pages), *out NULL and the file untouched; -1 on an
 * error recorded on ctx (an I/O error, out of memory).
 */
int gsr_graft_begin(struct gsr_ctx *ctx, const char *path, uint32_t page_size,
                    uint32_t usable, uint32_t root, uint64_t n_leaves,
                    struct gsr_graft **out);

/*
 * Graft the next leaf: page, page_size bytes of a table b-tree leaf whose
 * header is at offset 0, with n_cells cells, each of whose rowids is above
 * every rowid of the leaves grafted before it; none of its cells may
 * overflow.  The page is copied and left unchanged.
 *
 * Returns 0; 1 when the page is not such a leaf, or is one more than
 * gsr_graft_begin() was told (the graft must then be given up with
 * gsr_graft_end()); -1 on an error recorded on ctx.
 */
int gsr_graft_leaf(struct gsr_graft *g, const unsigned char *page,
                   uint32_t n_cells);

/*
 * Finish the graft once every leaf is in: write the rest of the pages,
 * the root, and the header's page count and change counter.  Returns 0,
 * 1 when fewer leaves came than promised (nothing is written), -1 on an
 * error recorded on ctx (the database is then not to be used).
 */
int gsr_graft_finish(struct gsr_graft *g);

/*
 * Free the graft.  One not finished is undone: the file is cut back to
 * the pages it had (the root and the header are written only by
 * gsr_graft_finish()).  Returns 0, or -1 when that cut fails (recorded on
 * ctx).  Accepts NULL.
 */
int gsr_graft_end(struct gsr_graft *g);

#endif
