/* walfile.h -- a SQLite write-ahead log (the -wal file), read from bytes.
 *
 * The forensic reader of the WAL (SQLite file format document, section
 * 4: "The Write-Ahead Log").  The WAL is opened like a database image (a
 * file descriptor read with pread, or a buffer in memory), its 32-byte
 * header is decoded and every frame slot in the file is classified once,
 * at open, by checking the salts and the cumulative checksum chain as
 * SQLite's recovery does:
 *
 *  - the valid prefix is the longest run of frames from the first whose
 *    salts are the header's, whose page number is not 0 and whose
 *    checksum continues the chain (which starts from the header's own
 *    checksum); SQLite reads nothing after it;
 *  - the last commit is the last frame of the valid prefix with a
 *    non-zero "database size after commit" field; the state SQLite shows
 *    is the database file with the committed frames laid over it.
 *
 * Nothing is trusted: a bad header leaves nothing valid, the page size
 * then comes from the caller's hint (the database's), and every count and
 * offset is checked against the file.  Damage is never an error; it shows
 * in the classes and counts.
 *
 * Memory: one frame buffer (fd mode only) and an index of 8 bytes per
 * committed frame (page number to CURRENT frame), whatever the size of
 * the database.
 */
#ifndef GSR_WALFILE_H
#define GSR_WALFILE_H

#include "compat.h"
#include "ctx.h"
#include "pagefile.h"

#define GSR_WAL_HDR_SIZE 32
#define GSR_WAL_FRAME_HDR_SIZE 24
#define GSR_WAL_MAGIC_LE 0x377f0682u /* checksums of little-endian words */
#define GSR_WAL_MAGIC_BE 0x377f0683u /* checksums of big-endian words */
#define GSR_WAL_VERSION 3007000u
/* Frames after the valid prefix with a page number up to this are
 * plausible (STALE); higher page numbers are taken for noise (GARBAGE). */
#define GSR_WAL_STALE_PGNO_MAX 0x80000000u

struct gsr_wal; /* opaque */

/* The class of a frame slot (a whole frame header and page in the file). */
enum gsr_wal_class {
	/* In the valid prefix, at or before the last commit, and the latest
	 * such frame of its page: the version the current state uses. */
	GSR_WAL_CURRENT,
	/* Committed, but superseded by a later committed frame of its page. */
	GSR_WAL_OLD,
	/* In the valid prefix, after the last commit: a transaction that
	 * never committed (or a commit frame that was never written). */
	GSR_WAL_UNCOMMITTED,
	/* After the valid prefix (salts of another generation of the WAL, a
	 * checksum break, a bad header), with a plausible page number
	 * (1..GSR_WAL_STALE_PGNO_MAX): an older page version, perhaps. */
	GSR_WAL_STALE,
	/* After the valid prefix, page number 0 or implausible, or the
	 * frame header unreadable. */
	GSR_WAL_GARBAGE,
};

struct gsr_wal_info {
	/* The header has a magic of GSR_WAL_MAGIC_*, version
	 * GSR_WAL_VERSION, a valid page size and a correct checksum: SQLite
	 * would use this WAL.  Without it nothing is valid. */
	bool header_ok;
	bool magic_ok;   /* the magic is one of the two */
	bool big_endian; /* the checksum byte order (magic & 1) */
	bool header_cksum_ok;
	/* The page size in use for the slots: the header's when header_ok;
	 * otherwise the caller's hint when valid (page_size_hinted), else
	 * the header's field when it is a valid page size; 0 when none is
	 * usable (then there are no slots). */
	uint32_t page_size;
	bool page_size_hinted;
	/* The header's fields as stored (0 when the file is shorter than the
	 * header). */
	uint32_t magic, version, header_page_size, checkpoint_seq;
	uint32_t salt1, salt2;
	/* Frame slots: whole frames in the file (at most UINT32_MAX - 1).
	 * tail_bytes: the bytes after the last whole slot (a partial frame,
	 * or a file shorter than the header). */
	uint32_t n_slots;
	uint64_t tail_bytes;
	/* The valid prefix is frames 1..n_valid.  last_commit is the 1-based
	 * number of its last commit frame, 0 when none; db_pages that frame's
	 * database size in pages (0 when none). */
	uint32_t n_valid, last_commit, db_pages;
	/* Slots per class; they add up to n_slots. */
	uint32_t n_current, n_old, n_uncommitted, n_stale, n_garbage;
	/* The largest page number of a CURRENT frame, 0 when none. */
	uint32_t max_current_pgno;
};

/* One frame slot.  page (page_size bytes, after the 24-byte frame header)
 * is valid until the next call on this WAL and must not be changed. */
struct gsr_wal_frame {
	uint32_t pgno;
	uint32_t commit_size; /* database pages after commit; 0 if no commit */
	uint32_t salt1, salt2;
	enum gsr_wal_class cls;
	const unsigned char *page;
};

/*
 * Open the WAL of size bytes from fd (not owned: the caller keeps it open
 * while the WAL lives and closes it) or from buf (not copied: it must
 * outlive the WAL).  ctx must outlive the WAL; read errors other than EIO
 * are recorded on it (an EIO ends the valid prefix, or makes a slot
 * GARBAGE, as damage).  page_size_hint (0 for none) is the database's page
 * size, used only when the header is unusable.
 *
 * Every frame is read once to check the chain and classify the slots;
 * gsr_ctx_check_cancel() is called every 1024 frames.  Never fails on
 * damage, an empty file included.  Returns NULL only when ctx already
 * holds an error, on allocation failure (GSR_ERR_NOMEM), a read error or
 * cancellation, all recorded on ctx.  Free with gsr_wal_close().
 */
struct gsr_wal *gsr_wal_open_fd(struct gsr_ctx *ctx, int fd, uint64_t size,
                                uint32_t page_size_hint);
struct gsr_wal *gsr_wal_open_mem(struct gsr_ctx *ctx, const void *buf,
                                 size_t size, uint32_t page_size_hint);

/* Free the WAL (not its fd or buffer).  Accepts NULL. */
void gsr_wal_close(struct gsr_wal *wal);

void gsr_wal_get_info(const struct gsr_wal *wal, struct gsr_wal_info *info);

/*
 * Frame slot frame_no (1-based) into *out.  Returns 0, or -1 when frame_no
 * is 0 or past n_slots, or the slot cannot be read now (a short read or
 * EIO; another read error is also recorded on the ctx); *out is zeroed
 * then, with class GSR_WAL_GARBAGE and page NULL.
 */
int gsr_wal_frame(struct gsr_wal *wal, uint32_t frame_no,
                  struct gsr_wal_frame *out);

/* The CURRENT frame of page pgno (1-based frame number), or 0 when the
 * committed state of the WAL does not have the page.  O(log n). */
uint32_t gsr_wal_lookup(const struct gsr_wal *wal, uint32_t pgno);

/*
 * Lay the WAL's current state over the image: gsr_pagefile_set_overlay()
 * with the CURRENT frames, n_pages = db_pages of the last commit, capped
 * at the largest page the image or a CURRENT frame can supply (the pages
 * past it would read as NULL anyway; db_pages in the info keeps the
 * size SQLite would show).  The WAL must stay open while the overlay is
 * set; a page read through pf stays valid until the next call on pf or on
 * the WAL.  A CURRENT frame that cannot be read any more reads as a damaged
 * (NULL) page, not as the image's older version.
 *
 * Returns GSR_ATTACH_OK; GSR_ATTACH_NOTHING when the WAL has no commit
 * (its header unusable, or no commit frame in the valid prefix: the
 * image alone is the current state); GSR_ATTACH_PAGE_SIZE when the WAL's
 * page size is not the pagefile's (open the pagefile with the WAL's page
 * size as its hint when the database header is damaged).  pf is left
 * unchanged unless GSR_ATTACH_OK.
 */
enum gsr_attach gsr_wal_attach(struct gsr_pagefile *pf, struct gsr_wal *wal);

#endif
