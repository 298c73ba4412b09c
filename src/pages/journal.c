/* journal.c -- the rollback journal read from bytes (see journal.h).
 *
 * Offsets are those of the SQLite file format document, section 4.1 (the
 * rollback journal); the rules for where the playback ends are those of
 * SQLite's pager (readJournalHdr, pager_playback, pager_playback_one_page
 * and pager_cksum), restated in journal.h.
 */
#include "compat.h"
#include "journal.h"
#include "fdio.h"

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "sqlhdr.h"
#include "strbuf.h"

#define CANCEL_EVERY 1024u
/* The page holding the byte at 1 GiB (the lock-byte page) is never
 * journaled; a record of it ends the playback. */
#define PENDING_BYTE 0x40000000u

static const unsigned char journal_magic[8] = {
    0xd9, 0xd5, 0x05, 0xf9, 0x20, 0xa1, 0x63, 0xd7,
};

/* A segment with at least one record. */
struct segment {
	uint64_t start; /* offset of its first record */
	uint32_t first; /* 0-based index of its first record */
	uint32_t n;     /* its records */
	uint32_t nonce;
	uint32_t seg_no; /* 1-based, counting empty segments too */
};

/* One entry of the index: the first valid record of a page. */
struct jrn_ent {
	uint32_t pgno, rec;
};

struct gsr_journal {
	struct gsr_ctx *ctx;
	int fd;                   /* -1 for a journal in memory */
	const unsigned char *mem; /* NULL for a file descriptor */
	uint64_t size;
	struct gsr_journal_info info;
	uint64_t rec_size;  /* 4 + page + 4 */
	unsigned char *buf; /* fd only: one record */
	uint32_t buf_rec;   /* the record in buf (1-based), 0 for none */
	struct segment *segs;
	size_t n_segs, cap_segs;
	struct jrn_ent *idx; /* sorted by pgno, one per page */
	size_t n_idx;
};

/* Read up to n bytes at off (see gsr_read_at()). */
static ssize_t
read_at(struct gsr_journal *j, void *dst, size_t n, uint64_t off)
{
	return gsr_read_at(j->ctx, j->fd, j->mem, j->size, dst, n, off,
	                   "the journal");
}

/* The whole record at off (inside the file, checked by the caller) whose
 * 1-based number is rec_no, or NULL when it cannot be read (a read error
 * is then also on the context).  In fd mode the bytes are in the buffer
 * until the next read. */
static const unsigned char *
read_record(struct gsr_journal *j, uint32_t rec_no, uint64_t off)
{
	if (j->mem != NULL)
		return j->mem + off;
	if (j->buf_rec == rec_no)
		return j->buf;
	j->buf_rec = 0;
	if (read_at(j, j->buf, (size_t)j->rec_size, off) !=
	    (ssize_t)j->rec_size)
		return NULL;
	j->buf_rec = rec_no;
	return j->buf;
}

/* SQLite's pager_cksum(): the nonce plus the bytes at page_size - 200,
 * page_size - 400, ... down to (not including) offset 0. */
static uint32_t
record_cksum(uint32_t nonce, const unsigned char *page, uint32_t page_size)
{
	uint32_t sum = nonce;

	for (int64_t i = (int64_t)page_size - 200; i > 0; i -= 200)
		sum += page[i];
	return sum;
}

/* qsort order of the index: by page number, then record number. */
static int
ent_cmp(const void *a, const void *b)
{
	const struct jrn_ent *x = a, *y = b;

	if (x->pgno != y->pgno)
		return x->pgno < y->pgno ? -1 : 1;
	return x->rec < y->rec ? -1 : x->rec > y->rec;
}

/* Take the first header's own fields (at h, GSR_JOURNAL_HDR_SIZE bytes)
 * into the info; header_ok when they are usable. */
static void
first_header(struct gsr_journal_info *in, const unsigned char *h, uint32_t hint)
{
	uint32_t ps = gsr_get_u32(h + 24), sector = gsr_get_u32(h + 20);

	in->first_nrec = gsr_get_u32(h + 8);
	in->nonce = gsr_get_u32(h + 12);
	in->initial_pages = gsr_get_u32(h + 16);
	in->sector_size = sector;
	if (ps == 0 && gsr_page_size_valid(hint)) {
		ps = hint;
		in->page_size_hinted = true;
	}
	if (!gsr_page_size_valid(ps) || sector < GSR_JOURNAL_SECTOR_MIN ||
	    sector > GSR_JOURNAL_SECTOR_MAX || (sector & (sector - 1)) != 0)
		return;
	in->page_size = ps;
	in->header_ok = true;
}

/*
 * Play back the n records of segment seg as SQLite would, from the first
 * not yet read, while the playback has not ended: count the valid ones
 * into *ents, and note where the playback ends.  Returns 0, or -1 on an
 * error recorded on the context.
 */
static int
play_segment(struct gsr_journal *j, const struct segment *seg,
             struct jrn_ent **ents, size_t *n_ents, size_t *cap)
{
	struct gsr_journal_info *in = &j->info;
	uint32_t lock_page = PENDING_BYTE / in->page_size + 1;

	for (uint32_t k = 0; k < seg->n && in->stop_record == 0; k++) {
		uint32_t rec_no = seg->first + k + 1;
		const unsigned char *r;
		uint32_t pgno;

		if (rec_no % CANCEL_EVERY == 0 && gsr_cancel_requested() &&
		    gsr_ctx_check_cancel(j->ctx))
			return -1;
		r = read_record(j, rec_no, seg->start + k * j->rec_size);
		if (r == NULL) {
			if (gsr_ctx_failed(j->ctx))
				return -1;
			/* Unreadable: the playback ends, as at a short
			 * read. */
			in->stop_record = rec_no;
			break;
		}
		pgno = gsr_get_u32(r);
		if (pgno == 0 || pgno == lock_page) {
			in->stop_record = rec_no;
			break;
		}
		if (record_cksum(seg->nonce, r + 4, in->page_size) !=
		    gsr_get_u32(r + 4 + in->page_size)) {
			/* Pages past the initial size are skipped
			 * unchecked; a wrong checksum ends the playback
			 * otherwise. */
			if (pgno <= in->initial_pages)
				in->stop_record = rec_no;
			continue;
		}
		if (gsr_grow((void **)ents, cap, *n_ents + 1, sizeof **ents))
			return gsr_ctx_fail(j->ctx, GSR_ERR_NOMEM,
			                    "out of memory reading the "
			                    "journal");
		(*ents)[*n_ents].pgno = pgno;
		(*ents)[*n_ents].rec = rec_no;
		(*n_ents)++;
		in->n_valid++;
		if (pgno > in->max_valid_pgno)
			in->max_valid_pgno = pgno;
	}
	return 0;
}

/*
 * Walk the segments from offset 0: read each header, count its records,
 * keep the non-empty segments and play them back.  Returns 0, or -1 on an
 * error recorded on the context.
 */
static int
scan(struct gsr_journal *j, uint32_t hint, struct jrn_ent **ents,
     size_t *n_ents)
{
	struct gsr_journal_info *in = &j->info;
	uint64_t off = 0, size = j->size;
	size_t cap = 0;

	for (;;) {
		unsigned char h[GSR_JOURNAL_HDR_SIZE];
		struct segment seg;
		uint32_t nrec;
		uint64_t avail, n;
		ssize_t got;

		if (off > size || size - off < GSR_JOURNAL_HDR_SIZE)
			break;
		got = read_at(j, h, sizeof h, off);
		if (got < 0)
			return -1;
		if (got != (ssize_t)sizeof h ||
		    memcmp(h, journal_magic, sizeof journal_magic) != 0)
			break;
		if (off == 0) {
			first_header(in, h, hint);
			if (!in->header_ok)
				break;
			j->rec_size = (uint64_t)in->page_size + 8;
			if (j->mem == NULL) {
				j->buf = malloc((size_t)j->rec_size);
				if (j->buf == NULL)
					return gsr_ctx_fail(
					    j->ctx, GSR_ERR_NOMEM,
					    "out of memory reading the "
					    "journal");
			}
		}
		/* The header is padded to a sector, which must be there. */
		if (in->sector_size > size - off)
			break;
		in->n_segments++;
		nrec = gsr_get_u32(h + 8);
		seg.start = off + in->sector_size;
		seg.nonce = gsr_get_u32(h + 12);
		seg.seg_no = in->n_segments;
		seg.first = in->n_records;
		avail = (size - seg.start) / j->rec_size;
		n = nrec == GSR_JOURNAL_NREC_ALL || nrec > avail ? avail : nrec;
		if (nrec == GSR_JOURNAL_NREC_ALL
		        ? (size - seg.start) % j->rec_size != 0
		        : nrec > avail)
			in->truncated = true;
		if (n > UINT32_MAX - 1 - (uint64_t)in->n_records)
			n = UINT32_MAX - 1 - (uint64_t)in->n_records;
		seg.n = (uint32_t)n;
		if (seg.n > 0) {
			if (gsr_grow((void **)&j->segs, &j->cap_segs,
			             j->n_segs + 1, sizeof *j->segs))
				return gsr_ctx_fail(j->ctx, GSR_ERR_NOMEM,
				                    "out of memory reading "
				                    "the journal");
			j->segs[j->n_segs++] = seg;
			in->n_records += seg.n;
			if (play_segment(j, &seg, ents, n_ents, &cap))
				return -1;
		}
		if (nrec == GSR_JOURNAL_NREC_ALL || n < nrec)
			break;
		/* The next header: at the next sector boundary. */
		off = seg.start + n * j->rec_size;
		off = (off + in->sector_size - 1) / in->sector_size *
		      in->sector_size;
	}
	return 0;
}

/* Keep the first valid record of each page (ents in file order) as the
 * index.  Takes ownership of ents. */
static void
build_index(struct gsr_journal *j, struct jrn_ent *ents, size_t n)
{
	size_t k = 0;

	if (n > 0)
		qsort(ents, n, sizeof *ents, ent_cmp);
	for (size_t i = 0; i < n; i++) {
		if (k > 0 && ents[k - 1].pgno == ents[i].pgno)
			continue; /* an earlier record of the page is kept */
		ents[k++] = ents[i];
	}
	j->idx = ents;
	j->n_idx = k;
}

static struct gsr_journal *
journal_open(struct gsr_ctx *ctx, int fd, const unsigned char *mem,
             uint64_t size, uint32_t hint)
{
	struct gsr_journal *j = NULL;
	struct jrn_ent *ents = NULL;
	size_t n_ents = 0;
	int rc = -1;

	if (gsr_ctx_failed(ctx))
		return NULL;
	j = calloc(1, sizeof *j);
	if (j == NULL) {
		gsr_ctx_fail(ctx, GSR_ERR_NOMEM,
		             "out of memory opening the journal");
		goto out;
	}
	j->ctx = ctx;
	j->fd = fd;
	j->mem = mem;
	j->size = size;
	if (scan(j, hint, &ents, &n_ents))
		goto out;
	build_index(j, ents, n_ents);
	ents = NULL;
	j->info.hot = j->info.header_ok && j->info.n_valid > 0;
	rc = 0;
out:
	free(ents);
	if (rc != 0) {
		gsr_journal_close(j);
		j = NULL;
	}
	return j;
}

struct gsr_journal *
gsr_journal_open_fd(struct gsr_ctx *ctx, int fd, uint64_t size,
                    uint32_t page_size_hint)
{
	/* Offsets go to pread as off_t. */
	if (size > INT64_MAX)
		size = INT64_MAX;
	return journal_open(ctx, fd, NULL, size, page_size_hint);
}

struct gsr_journal *
gsr_journal_open_mem(struct gsr_ctx *ctx, const void *buf, size_t size,
                     uint32_t page_size_hint)
{
	static const unsigned char empty[1];

	if (buf == NULL)
		size = 0;
	return journal_open(ctx, -1, buf != NULL ? buf : empty, size,
	                    page_size_hint);
}

void
gsr_journal_close(struct gsr_journal *j)
{
	if (j == NULL)
		return;
	free(j->idx);
	free(j->segs);
	free(j->buf);
	free(j);
}

void
gsr_journal_get_info(const struct gsr_journal *j, struct gsr_journal_info *info)
{
	*info = j->info;
}

uint32_t
gsr_journal_lookup(const struct gsr_journal *j, uint32_t pgno)
{
	size_t lo = 0, hi;

	if (j == NULL)
		return 0;
	hi = j->n_idx;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (j->idx[mid].pgno == pgno)
			return j->idx[mid].rec;
		if (j->idx[mid].pgno < pgno)
			lo = mid + 1;
		else
			hi = mid;
	}
	return 0;
}

int
gsr_journal_record(struct gsr_journal *j, uint32_t rec_no,
                   struct gsr_journal_record *out)
{
	const struct gsr_journal_info *in;
	const struct segment *seg;
	const unsigned char *r;
	size_t lo = 0, hi;
	uint64_t off;

	memset(out, 0, sizeof *out);
	if (j == NULL || rec_no == 0 || rec_no > j->info.n_records)
		return -1;
	in = &j->info;
	/* The last segment whose first record is at or before rec_no. */
	hi = j->n_segs;
	while (hi - lo > 1) {
		size_t mid = lo + (hi - lo) / 2;

		if (j->segs[mid].first < rec_no)
			lo = mid;
		else
			hi = mid;
	}
	seg = &j->segs[lo];
	off = seg->start + (uint64_t)(rec_no - 1 - seg->first) * j->rec_size;
	r = read_record(j, rec_no, off);
	if (r == NULL)
		return -1;
	out->pgno = gsr_get_u32(r);
	out->cksum = gsr_get_u32(r + 4 + in->page_size);
	out->segment = seg->seg_no;
	out->offset = off;
	out->cksum_ok =
	    record_cksum(seg->nonce, r + 4, in->page_size) == out->cksum;
	out->valid = out->cksum_ok && out->pgno != 0 &&
	             (in->stop_record == 0 || rec_no < in->stop_record);
	out->page = r + 4;
	return 0;
}

/* The overlay's page function: the first valid record of pgno, NULL when
 * the journal has none, GSR_PAGEFILE_DAMAGED when it cannot be read. */
static const unsigned char *
journal_page(void *arg, uint32_t pgno)
{
	struct gsr_journal *j = arg;
	struct gsr_journal_record rec;
	uint32_t rec_no = gsr_journal_lookup(j, pgno);

	if (rec_no == 0)
		return NULL;
	if (gsr_journal_record(j, rec_no, &rec) != 0 || rec.pgno != pgno)
		return GSR_PAGEFILE_DAMAGED;
	return rec.page;
}

enum gsr_attach
gsr_journal_attach(struct gsr_pagefile *pf, struct gsr_journal *j)
{
	struct gsr_pagefile_info pin;
	uint32_t n_pages, cap;

	if (pf == NULL || j == NULL || !j->info.hot)
		return GSR_ATTACH_NOTHING;
	gsr_pagefile_get_info(pf, &pin);
	if (pin.page_size != j->info.page_size)
		return GSR_ATTACH_PAGE_SIZE;
	/* The image's own page count, without any earlier overlay. */
	gsr_pagefile_set_overlay(pf, NULL, NULL, 0);
	gsr_pagefile_get_info(pf, &pin);
	cap = pin.n_pages > j->info.max_valid_pgno ? pin.n_pages
	                                           : j->info.max_valid_pgno;
	n_pages = j->info.initial_pages < cap ? j->info.initial_pages : cap;
	gsr_pagefile_set_overlay(pf, journal_page, j, n_pages);
	return GSR_ATTACH_OK;
}
