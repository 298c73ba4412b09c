/* journal.h -- a SQLite rollback journal (the -journal file), from bytes.
 *
 * The forensic reader of the rollback journal (SQLite file format
 * document, section 4.1 "The Rollback Journal").  A journal holds the
 * original content of the pages a transaction changed; when it is hot
 * (the transaction never committed) SQLite plays it back and the database
 * returns to its state before the transaction.  This reader finds what
 * SQLite's playback would use, and lays it over the image on request.
 *
 * The journal is a sequence of segments.  Each starts at a sector
 * boundary with a header (8-byte magic d9 d5 05 f9 20 a1 63 d7, record
 * count, checksum nonce, initial database size in pages; the first header
 * also has the sector size and page size) padded to the sector size, and
 * is followed by its records: a 4-byte page number, the page, and a 4-byte
 * checksum (the nonce plus every 200th byte of the page, from the end).
 * A record count of 0xffffffff means "up to the end of the file" and ends
 * the journal.  SQLite's playback (pager_playback) is followed exactly:
 * it ends at the first header without the magic, at the first record with
 * page number 0 or that of the lock-byte page, at the first record whose
 * page number is within the initial size and whose checksum is wrong, and
 * at the end of the file; nothing after that point is played back.
 *
 * Nothing is trusted: every count and offset is checked against the file.
 * Damage is never an error.  Memory: one record buffer (fd mode only), a
 * segment table and an index of 8 bytes per valid record.
 */
#ifndef GSR_JOURNAL_H
#define GSR_JOURNAL_H

#include "compat.h"
#include "ctx.h"
#include "pagefile.h"

#define GSR_JOURNAL_HDR_SIZE 28 /* the header's fields; padded to a sector */
#define GSR_JOURNAL_NREC_ALL 0xffffffffu
#define GSR_JOURNAL_SECTOR_MIN 32u
#define GSR_JOURNAL_SECTOR_MAX 65536u

struct gsr_journal; /* opaque */

struct gsr_journal_info {
	/* The first header has the magic, a sector size (a power of two,
	 * GSR_JOURNAL_SECTOR_MIN..MAX) and a page size that are valid (a page
	 * size of 0, as written before SQLite 3.5.8, is the caller's hint). */
	bool header_ok;
	/* header_ok and at least one valid record: SQLite would play the
	 * journal back. */
	bool hot;
	bool page_size_hinted; /* the header's page size was 0 */
	/* The first header's fields as stored (0 when it has no magic);
	 * page_size is the one in use (0 without a usable header). */
	uint32_t page_size, sector_size, nonce, initial_pages, first_nrec;
	/* Headers read (segments, empty ones included), record slots in them
	 * (whole records inside the file, after the playback's end too), and
	 * the valid records among them (at most UINT32_MAX - 1 in all). */
	uint32_t n_segments, n_records, n_valid;
	/* The 1-based record at which the playback ends (page number 0, the
	 * lock-byte page, or a wrong checksum within the initial size); 0
	 * when it ends at a header or at the end of the file. */
	uint32_t stop_record;
	/* A segment's record count runs past the end of the file, or the file
	 * ends inside a record. */
	bool truncated;
	/* The largest page number of a valid record, 0 when none. */
	uint32_t max_valid_pgno;
};

/* One record.  page (page_size bytes) is valid until the next call on
 * this journal and must not be changed. */
struct gsr_journal_record {
	uint32_t pgno;
	uint32_t cksum;   /* as stored */
	uint32_t segment; /* 1-based */
	uint64_t offset;  /* of the record in the file */
	bool cksum_ok;    /* with the nonce of its segment */
	/* Before the end of the playback and with a correct checksum: the
	 * page as it was before the transaction. */
	bool valid;
	const unsigned char *page;
};

/*
 * Open the journal of size bytes from fd (not owned; the caller keeps it
 * open while the journal lives and closes it) or from buf (not copied: it
 * must outlive the journal).  ctx must outlive the journal; read errors
 * other than EIO are recorded on it (an EIO ends the journal there, as
 * damage).  page_size_hint (0 for none) is the database's page size, used
 * only when the header's is 0.
 *
 * Every record up to the end of the playback is read once;
 * gsr_ctx_check_cancel() is called every 1024 records.  Never fails on
 * damage, an empty file included.  Returns NULL only when ctx already
 * holds an error, on allocation failure (GSR_ERR_NOMEM), a read error or
 * cancellation, all recorded on ctx.  Free with gsr_journal_close().
 */
struct gsr_journal *gsr_journal_open_fd(struct gsr_ctx *ctx, int fd,
                                        uint64_t size, uint32_t page_size_hint);
struct gsr_journal *gsr_journal_open_mem(struct gsr_ctx *ctx, const void *buf,
                                         size_t size, uint32_t page_size_hint);

/* Free the journal (not its fd or buffer).  Accepts NULL. */
void gsr_journal_close(struct gsr_journal *j);

void gsr_journal_get_info(const struct gsr_journal *j,
                          struct gsr_journal_info *info);

/*
 * Record rec_no (1-based, in file order) into *out.  Returns 0, or -1 when
 * rec_no is 0 or past n_records, or the record cannot be read now (a short
 * read or EIO; another read error is also recorded on the ctx); *out is
 * zeroed then, page NULL.
 */
int gsr_journal_record(struct gsr_journal *j, uint32_t rec_no,
                       struct gsr_journal_record *out);

/* The first valid record of page pgno (its original content), 1-based, or
 * 0 when there is none.  O(log n). */
uint32_t gsr_journal_lookup(const struct gsr_journal *j, uint32_t pgno);

/*
 * Lay the rolled-back state over the image: gsr_pagefile_set_overlay()
 * with the first valid record of each page, n_pages = initial_pages,
 * capped at the largest page the image or a valid record can supply (the
 * pages past it would read as NULL anyway).  The journal must stay open
 * while the overlay is set; a page read through pf stays valid until the
 * next call on pf or on the journal.  A record that cannot be read any
 * more reads as a damaged (NULL) page, not as the image's page.
 *
 * Returns GSR_ATTACH_OK; GSR_ATTACH_NOTHING when the journal is not hot
 * (the image is the state SQLite shows); GSR_ATTACH_PAGE_SIZE when the
 * journal's page size is not the pagefile's.  pf is left unchanged unless
 * GSR_ATTACH_OK.
 */
enum gsr_attach gsr_journal_attach(struct gsr_pagefile *pf,
                                   struct gsr_journal *j);

#endif
