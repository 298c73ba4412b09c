/* walfile.c -- the write-ahead log read from bytes (see walfile.h).
 *
 * Offsets and rules are those of the SQLite file format document,
 * sections 4.1 (the WAL file format), 4.2 (checksum algorithm) and 4.3
 * (checkpoint algorithm / WAL reset), and of SQLite's own recovery: a
 * frame is valid when its salts are the header's, its page number is not
 * 0 and the checksum of the first 8 bytes of its header and of its page,
 * continued from the previous frame's (the header's for the first),
 * is the one it stores; the first invalid frame ends the log.
 */
#include "compat.h"
#include "walfile.h"
#include "fdio.h"

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "sqlhdr.h"
#include "strbuf.h"

/* Check for cancellation every this many frames. */
#define CANCEL_EVERY 1024u

/* One entry of the index: the CURRENT frame of a page. */
struct wal_ent {
	uint32_t pgno, frame;
};

struct gsr_wal {
	struct gsr_ctx *ctx;
	int fd;                   /* -1 for a WAL in memory */
	const unsigned char *mem; /* NULL for a file descriptor */
	uint64_t size;
	struct gsr_wal_info info;
	uint64_t slot_size; /* frame header + page */
	unsigned char *buf; /* fd only: one frame slot */
	uint32_t buf_frame; /* the whole frame in buf, 0 for none */
	/* CURRENT frames sorted by page number, one per page. */
	struct wal_ent *idx;
	size_t n_idx;
};

/* Read up to n bytes at off (see gsr_read_at()). */
static ssize_t
read_at(struct gsr_wal *wal, void *dst, size_t n, uint64_t off)
{
	return gsr_read_at(wal->ctx, wal->fd, wal->mem, wal->size, dst, n, off,
	                   "the WAL");
}

/*
 * Slot frame_no (1..n_slots, checked by the caller): its first len bytes
 * (GSR_WAL_FRAME_HDR_SIZE, or slot_size for the whole frame).  Returns a
 * pointer to the frame header, or NULL when the bytes cannot all be read
 * (a read error is then also on the context).  In fd mode the pointer is
 * into the one buffer and valid until the next read.
 */
static const unsigned char *
read_frame(struct gsr_wal *wal, uint32_t frame_no, size_t len)
{
	uint64_t off =
	    GSR_WAL_HDR_SIZE + (uint64_t)(frame_no - 1) * wal->slot_size;

	/* Slots lie wholly inside the file, by the count at open. */
	if (wal->mem != NULL)
		return wal->mem + off;
	if (wal->buf_frame == frame_no)
		return wal->buf;
	wal->buf_frame = 0;
	if (read_at(wal, wal->buf, len, off) != (ssize_t)len)
		return NULL;
	if (len == wal->slot_size)
		wal->buf_frame = frame_no;
	return wal->buf;
}

/* A 32-bit word at p, big-endian when be, else little-endian. */
static uint32_t
get_u32_order(const unsigned char *p, bool be)
{
	return be ? gsr_get_u32(p)
	          : (uint32_t)p[3] << 24 | (uint32_t)p[2] << 16 |
	                (uint32_t)p[1] << 8 | p[0];
}

/* Continue the checksum s over n bytes at p (n a multiple of 8), reading
 * 32-bit words in the given byte order (file format, section 4.2). */
static void
wal_cksum(const unsigned char *p, size_t n, bool be, uint32_t s[2])
{
	uint32_t s0 = s[0], s1 = s[1];

	for (size_t i = 0; i + 8 <= n; i += 8) {
		s0 += get_u32_order(p + i, be) + s1;
		s1 += get_u32_order(p + i + 4, be) + s0;
	}
	s[0] = s0;
	s[1] = s1;
}

/* Whether a frame after the valid prefix may hold a real page. */
static bool
plausible_pgno(uint32_t pgno)
{
	return pgno >= 1 && pgno <= GSR_WAL_STALE_PGNO_MAX;
}

/* qsort order of the index: by page number, then frame number. */
static int
ent_cmp(const void *a, const void *b)
{
	const struct wal_ent *x = a, *y = b;

	if (x->pgno != y->pgno)
		return x->pgno < y->pgno ? -1 : 1;
	return x->frame < y->frame ? -1 : x->frame > y->frame;
}

/* Decode the header (hdr holds got bytes) into the info. */
static void
decode_header(struct gsr_wal_info *in, const unsigned char *hdr, size_t got)
{
	uint32_t s[2] = {0, 0};

	if (got < GSR_WAL_HDR_SIZE)
		return;
	in->magic = gsr_get_u32(hdr);
	in->version = gsr_get_u32(hdr + 4);
	in->header_page_size = gsr_get_u32(hdr + 8);
	in->checkpoint_seq = gsr_get_u32(hdr + 12);
	in->salt1 = gsr_get_u32(hdr + 16);
	in->salt2 = gsr_get_u32(hdr + 20);
	in->magic_ok = (in->magic & ~1u) == GSR_WAL_MAGIC_LE;
	in->big_endian = (in->magic & 1u) != 0;
	if (!in->magic_ok)
		return;
	wal_cksum(hdr, 24, in->big_endian, s);
	in->header_cksum_ok =
	    s[0] == gsr_get_u32(hdr + 24) && s[1] == gsr_get_u32(hdr + 28);
	in->header_ok = in->header_cksum_ok && in->version == GSR_WAL_VERSION &&
	                gsr_page_size_valid(in->header_page_size);
}

/*
 * Whether the whole frame f continues the chain s (the checksum after the
 * previous valid frame): the header's salts, a page number that is not 0,
 * and the stored checksum equal to s continued over the first 8 bytes of
 * the frame header and the page.  s is continued when the first two hold.
 */
static bool
frame_valid(const struct gsr_wal *wal, const unsigned char *f, uint32_t s[2])
{
	const struct gsr_wal_info *in = &wal->info;

	if (gsr_get_u32(f) == 0 || gsr_get_u32(f + 8) != in->salt1 ||
	    gsr_get_u32(f + 12) != in->salt2)
		return false;
	wal_cksum(f, 8, in->big_endian, s);
	wal_cksum(f + GSR_WAL_FRAME_HDR_SIZE, in->page_size, in->big_endian, s);
	return s[0] == gsr_get_u32(f + 16) && s[1] == gsr_get_u32(f + 20);
}

/*
 * Read every slot: follow the valid prefix from the header's checksum,
 * collect its frames' page numbers in *ents (frame order), and count the
 * slots after it as STALE or GARBAGE.  Returns 0, or -1 on an error
 * recorded on the context.
 */
static int
scan(struct gsr_wal *wal, const unsigned char *hdr, struct wal_ent **ents,
     size_t *n_ents)
{
	struct gsr_wal_info *in = &wal->info;
	uint32_t chain[2];
	size_t cap = 0;
	bool valid = in->header_ok;

	chain[0] = gsr_get_u32(hdr + 24);
	chain[1] = gsr_get_u32(hdr + 28);
	for (uint32_t i = 1; i <= in->n_slots; i++) {
		const unsigned char *f = NULL;
		uint32_t pgno;

		if (i % CANCEL_EVERY == 0 && gsr_cancel_requested() &&
		    gsr_ctx_check_cancel(wal->ctx))
			return -1;
		if (valid) {
			uint32_t s[2] = {chain[0], chain[1]};

			f = read_frame(wal, i, (size_t)wal->slot_size);
			if (f == NULL && gsr_ctx_failed(wal->ctx))
				return -1;
			if (f != NULL && frame_valid(wal, f, s)) {
				if (gsr_grow((void **)ents, &cap, *n_ents + 1,
				             sizeof **ents))
					return gsr_ctx_fail(
					    wal->ctx, GSR_ERR_NOMEM,
					    "out of memory reading the "
					    "WAL");
				(*ents)[*n_ents].pgno = gsr_get_u32(f);
				(*ents)[*n_ents].frame = i;
				(*n_ents)++;
				chain[0] = s[0];
				chain[1] = s[1];
				in->n_valid = i;
				if (gsr_get_u32(f + 4) != 0) {
					in->last_commit = i;
					in->db_pages = gsr_get_u32(f + 4);
				}
				continue;
			}
			valid = false;
		}
		/* After the valid prefix: only the frame header matters. */
		if (f == NULL) {
			f = read_frame(wal, i, GSR_WAL_FRAME_HDR_SIZE);
			if (f == NULL && gsr_ctx_failed(wal->ctx))
				return -1;
		}
		pgno = f != NULL ? gsr_get_u32(f) : 0;
		if (plausible_pgno(pgno))
			in->n_stale++;
		else
			in->n_garbage++;
	}
	return 0;
}

/*
 * Build the index from the frames of the valid prefix (ents, n in frame
 * order): keep those up to the last commit, and of each page the last.
 * Takes ownership of ents.
 */
static void
build_index(struct gsr_wal *wal, struct wal_ent *ents, size_t n)
{
	struct gsr_wal_info *in = &wal->info;
	size_t k = 0;

	while (n > 0 && ents[n - 1].frame > in->last_commit)
		n--;
	if (n > 0)
		qsort(ents, n, sizeof *ents, ent_cmp);
	for (size_t i = 0; i < n; i++) {
		if (i + 1 < n && ents[i + 1].pgno == ents[i].pgno)
			continue; /* a later frame of the page follows */
		ents[k++] = ents[i];
	}
	wal->idx = ents;
	wal->n_idx = k;
	in->n_current = (uint32_t)k;
	in->n_old = in->last_commit - (uint32_t)k;
	in->n_uncommitted = in->n_valid - in->last_commit;
	in->max_current_pgno = k > 0 ? ents[k - 1].pgno : 0;
}

static struct gsr_wal *
wal_open(struct gsr_ctx *ctx, int fd, const unsigned char *mem, uint64_t size,
         uint32_t hint)
{
	struct gsr_wal *wal = NULL;
	struct gsr_wal_info *in;
	unsigned char hdr[GSR_WAL_HDR_SIZE] = {0};
	struct wal_ent *ents = NULL;
	size_t n_ents = 0;
	ssize_t got;
	int rc = -1;

	if (gsr_ctx_failed(ctx))
		return NULL;
	wal = calloc(1, sizeof *wal);
	if (wal == NULL) {
		gsr_ctx_fail(ctx, GSR_ERR_NOMEM,
		             "out of memory opening the WAL");
		goto out;
	}
	wal->ctx = ctx;
	wal->fd = fd;
	wal->mem = mem;
	wal->size = size;
	in = &wal->info;

	got = read_at(wal, hdr, sizeof hdr, 0);
	if (got < 0)
		goto out;
	decode_header(in, hdr, (size_t)got);
	if (in->header_ok) {
		in->page_size = in->header_page_size;
	} else if (gsr_page_size_valid(hint)) {
		in->page_size = hint;
		in->page_size_hinted = true;
	} else if (in->magic_ok && gsr_page_size_valid(in->header_page_size)) {
		in->page_size = in->header_page_size;
	}
	in->tail_bytes = size;
	if (in->page_size != 0 && size >= GSR_WAL_HDR_SIZE) {
		uint64_t n;

		wal->slot_size =
		    (uint64_t)in->page_size + GSR_WAL_FRAME_HDR_SIZE;
		n = (size - GSR_WAL_HDR_SIZE) / wal->slot_size;
		if (n > UINT32_MAX - 1)
			n = UINT32_MAX - 1;
		in->n_slots = (uint32_t)n;
		in->tail_bytes = size - GSR_WAL_HDR_SIZE - n * wal->slot_size;
	} else if (size >= GSR_WAL_HDR_SIZE) {
		in->tail_bytes = size - GSR_WAL_HDR_SIZE;
	}
	if (mem == NULL && wal->slot_size != 0) {
		wal->buf = malloc((size_t)wal->slot_size);
		if (wal->buf == NULL) {
			gsr_ctx_fail(ctx, GSR_ERR_NOMEM,
			             "out of memory opening the WAL");
			goto out;
		}
	}
	if (scan(wal, hdr, &ents, &n_ents))
		goto out;
	build_index(wal, ents, n_ents);
	ents = NULL;
	rc = 0;
out:
	free(ents);
	if (rc != 0) {
		gsr_wal_close(wal);
		wal = NULL;
	}
	return wal;
}

struct gsr_wal *
gsr_wal_open_fd(struct gsr_ctx *ctx, int fd, uint64_t size,
                uint32_t page_size_hint)
{
	/* Offsets go to pread as off_t. */
	if (size > INT64_MAX)
		size = INT64_MAX;
	return wal_open(ctx, fd, NULL, size, page_size_hint);
}

struct gsr_wal *
gsr_wal_open_mem(struct gsr_ctx *ctx, const void *buf, size_t size,
                 uint32_t page_size_hint)
{
	static const unsigned char empty[1];

	if (buf == NULL)
		size = 0;
	return wal_open(ctx, -1, buf != NULL ? buf : empty, size,
	                page_size_hint);
}

void
gsr_wal_close(struct gsr_wal *wal)
{
	if (wal == NULL)
		return;
	free(wal->idx);
	free(wal->buf);
	free(wal);
}

void
gsr_wal_get_info(const struct gsr_wal *wal, struct gsr_wal_info *info)
{
	*info = wal->info;
}

uint32_t
gsr_wal_lookup(const struct gsr_wal *wal, uint32_t pgno)
{
	size_t lo = 0, hi;

	if (wal == NULL)
		return 0;
	hi = wal->n_idx;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (wal->idx[mid].pgno == pgno)
			return wal->idx[mid].frame;
		if (wal->idx[mid].pgno < pgno)
			lo = mid + 1;
		else
			hi = mid;
	}
	return 0;
}

int
gsr_wal_frame(struct gsr_wal *wal, uint32_t frame_no, struct gsr_wal_frame *out)
{
	const struct gsr_wal_info *in;
	const unsigned char *f;

	memset(out, 0, sizeof *out);
	out->cls = GSR_WAL_GARBAGE;
	if (wal == NULL || frame_no == 0 || frame_no > wal->info.n_slots)
		return -1;
	in = &wal->info;
	f = read_frame(wal, frame_no, (size_t)wal->slot_size);
	if (f == NULL)
		return -1;
	out->pgno = gsr_get_u32(f);
	out->commit_size = gsr_get_u32(f + 4);
	out->salt1 = gsr_get_u32(f + 8);
	out->salt2 = gsr_get_u32(f + 12);
	out->page = f + GSR_WAL_FRAME_HDR_SIZE;
	if (frame_no <= in->last_commit)
		out->cls = gsr_wal_lookup(wal, out->pgno) == frame_no
		               ? GSR_WAL_CURRENT
		               : GSR_WAL_OLD;
	else if (frame_no <= in->n_valid)
		out->cls = GSR_WAL_UNCOMMITTED;
	else if (plausible_pgno(out->pgno))
		out->cls = GSR_WAL_STALE;
	return 0;
}

/* The overlay's page function: the CURRENT version of pgno, NULL when the
 * WAL does not have it, GSR_PAGEFILE_DAMAGED when it cannot be read. */
static const unsigned char *
wal_page(void *arg, uint32_t pgno)
{
	struct gsr_wal *wal = arg;
	uint32_t frame = gsr_wal_lookup(wal, pgno);
	const unsigned char *f;

	if (frame == 0)
		return NULL;
	f = read_frame(wal, frame, (size_t)wal->slot_size);
	return f != NULL ? f + GSR_WAL_FRAME_HDR_SIZE : GSR_PAGEFILE_DAMAGED;
}

enum gsr_attach
gsr_wal_attach(struct gsr_pagefile *pf, struct gsr_wal *wal)
{
	struct gsr_pagefile_info pin;
	uint32_t n_pages, cap;

	if (pf == NULL || wal == NULL || wal->info.last_commit == 0)
		return GSR_ATTACH_NOTHING;
	gsr_pagefile_get_info(pf, &pin);
	if (pin.page_size != wal->info.page_size)
		return GSR_ATTACH_PAGE_SIZE;
	/* The image's own page count, without any earlier overlay. */
	gsr_pagefile_set_overlay(pf, NULL, NULL, 0);
	gsr_pagefile_get_info(pf, &pin);
	cap = pin.n_pages > wal->info.max_current_pgno
	          ? pin.n_pages
	          : wal->info.max_current_pgno;
	n_pages = wal->info.db_pages < cap ? wal->info.db_pages : cap;
	gsr_pagefile_set_overlay(pf, wal_page, wal, n_pages);
	return GSR_ATTACH_OK;
}
