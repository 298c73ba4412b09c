/* pagefile.h -- a SQLite database image, read page by page from bytes.
 *
 * The forensic reader does not go through SQLite: it opens the image
 * (a file descriptor read with pread, or a buffer in memory for the
 * fuzzer and for damaged copies in the tests), decodes the 100-byte header
 * with gsr_sqlhdr_decode() and hands out pages by number, and reads the
 * structures that are the file's rather than a b-tree's: the freelist and
 * the pointer maps.  Nothing in the image is trusted: the page size comes
 * from the header only when the header is usable, and is otherwise taken
 * from the caller's hint or inferred from the pages themselves.  Damage is
 * never an error here; it is reported in struct gsr_pagefile_info and by
 * NULL pages.
 *
 * Layers (see record.h): pagefile.c uses sqlhdr.h, fdio.h and record.h
 * (the b-tree page check, varints and records, to infer the page size,
 * reserved bytes and encoding), never the b-tree walker (btree.h), which
 * reads its pages through this.
 *
 * Memory is bounded: one page buffer (fd mode only) whatever the size of
 * the image.
 */
#ifndef GSR_PAGEFILE_H
#define GSR_PAGEFILE_H

#include "compat.h"
#include "ctx.h"

struct gsr_pagefile; /* opaque */

struct gsr_pagefile_info {
	uint32_t page_size;   /* in use: 512..65536, a power of two */
	uint32_t usable_size; /* page_size - reserved */
	/* Pages in the image, from its size: a last partial page counts
	 * (it reads as NULL, damaged).  At most UINT32_MAX - 1. */
	uint32_t n_pages;
	uint32_t header_pages;  /* the header's own count; 0 without magic */
	uint8_t reserved;       /* bytes at the end of each page */
	uint32_t text_encoding; /* 1 UTF-8, 2 UTF-16le, 3 UTF-16be */
	/* The header has the magic, a valid page size, a sane number of
	 * reserved bytes (at least 480 usable) and a valid text encoding.
	 * When it is false, reserved and text_encoding are still the
	 * header's if it has the magic and they are sane; otherwise they
	 * are 0 and 1 (UTF-8). */
	bool header_ok;
	/* The page size is not the header's: it is the caller's hint or was
	 * inferred by scoring the pages. */
	bool page_size_inferred;
	/* Without a usable header, reserved and text_encoding were inferred
	 * from the leaf pages (see gsr_pagefile_open_fd()). */
	bool reserved_inferred, encoding_inferred;
	/* Header fields, 0 when the header has no magic.  autovacuum is the
	 * "largest root b-tree page" field (offset 52): non-zero when the
	 * database has pointer-map pages (auto_vacuum FULL or INCREMENTAL). */
	uint32_t freelist_trunk, freelist_count, autovacuum;
};

/*
 * Open a database image of size bytes from fd (not owned: the caller keeps
 * it open while the pagefile lives and closes it) or from buf (not copied:
 * it must outlive the pagefile).  ctx must outlive the pagefile too; read
 * errors other than EIO are recorded on it.
 *
 * Page 1's header gives the page size when it has the magic and a valid
 * page size.  Otherwise page_size_hint is used when it is a valid page
 * size, and when it is 0 (or invalid) every page size from 512 to 65536 is
 * tried on the first 32 MiB of the image, and the one under which the most
 * pages parse as valid b-tree pages wins (4096 when none does).  When the
 * header does not give them sanely, the reserved bytes per page are
 * inferred from where the cell content of the leaf pages ends (SQLite
 * packs it against the end of the usable area), and the text encoding
 * from the zero bytes in the TEXT values of table leaf records (UTF-16
 * has them at odd offsets for little-endian, even ones for big-endian),
 * over at most 4096 leaf pages.  Never fails on damage, an empty image
 * included.
 *
 * Returns NULL only when ctx already holds an error or on allocation
 * failure (recorded as GSR_ERR_NOMEM).  Free with gsr_pagefile_close().
 */
struct gsr_pagefile *gsr_pagefile_open_fd(struct gsr_ctx *ctx, int fd,
                                          uint64_t size,
                                          uint32_t page_size_hint);
struct gsr_pagefile *gsr_pagefile_open_mem(struct gsr_ctx *ctx, const void *buf,
                                           size_t size,
                                           uint32_t page_size_hint);

/* Free the pagefile (not its fd or buffer).  Accepts NULL. */
void gsr_pagefile_close(struct gsr_pagefile *pf);

void gsr_pagefile_get_info(const struct gsr_pagefile *pf,
                           struct gsr_pagefile_info *info);

/*
 * Borrow page pgno (1-based), page_size bytes.  NULL when pgno is 0 or past
 * n_pages, when the page is the last, partial one, or when it cannot be read
 * (a short read or EIO: a damaged page, not an error).  Another read error
 * is recorded on the context and also gives NULL.  The pointer is valid
 * until the next call on this pagefile; the bytes must not be changed.
 */
const unsigned char *gsr_pagefile_page(struct gsr_pagefile *pf, uint32_t pgno);

/*
 * An overlay: other versions of some pages, laid over the image (the
 * current state of a WAL, the original pages of a rollback journal; see
 * gsr_wal_attach() and gsr_journal_attach(), which set it up).
 *
 * Once set, gsr_pagefile_page() asks page_fn(arg, pgno) first for every
 * pgno in 1..n_pages: a page_size-byte page it returns is the page (the
 * pointer need only stay valid until the next call of page_fn, and the
 * pagefile hands it out unchanged); NULL means the overlay does not have
 * the page and the image's is read as before (NULL past the image);
 * GSR_PAGEFILE_DAMAGED means the overlay should have it but cannot read
 * it, and the page reads as NULL (damaged) rather than as the image's
 * older version.  The info's n_pages becomes n_pages.  When page_fn gives
 * a page 1 that has the SQLite magic and the page size in use, the header
 * fields of the info (header_pages, the freelist, autovacuum, reserved,
 * text_encoding, header_ok) are taken from it as gsr_pagefile_open_*()
 * would, so that the freelist and pointer maps of the overlaid state are
 * used; the page size never changes.  page_fn is called for page 1 here.
 *
 * page_fn NULL removes the overlay and restores the image's info.  arg and
 * whatever page_fn reads must outlive the overlay.  Accepts a NULL pf.
 */
void gsr_pagefile_set_overlay(struct gsr_pagefile *pf,
                              const unsigned char *(*page_fn)(void *arg,
                                                              uint32_t pgno),
                              void *arg, uint32_t n_pages);

/* What an overlay's page_fn returns for a page it cannot read. */
extern const unsigned char gsr_pagefile_damaged[1];
#define GSR_PAGEFILE_DAMAGED (gsr_pagefile_damaged)

/* The results of gsr_wal_attach() and gsr_journal_attach().  None is an
 * error in the sense of ctx.h. */
enum gsr_attach {
	GSR_ATTACH_OK = 0,        /* the overlay is set */
	GSR_ATTACH_NOTHING = 1,   /* nothing to lay over; pf unchanged */
	GSR_ATTACH_PAGE_SIZE = 2, /* the page sizes differ; pf unchanged */
};

/* True when size is a valid SQLite page size (512..65536, a power of 2). */
bool gsr_page_size_valid(uint64_t size);

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

#endif
