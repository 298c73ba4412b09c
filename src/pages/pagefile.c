/* pagefile.c -- a database image read page by page, its freelist and its
 * pointer map (see pagefile.h).
 *
 * Offsets are those of the SQLite file format document, sections 1.2
 * (pages), 1.3 (the database header), 1.4 (the freelist) and 1.7 (pointer
 * maps).  The bytes of b-tree pages and records that the inference of the
 * page size, reserved bytes and encoding looks at are decoded by record.c.
 */
#include "compat.h"
#include "pagefile.h"
#include "fdio.h"

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "record.h"
#include "sqlhdr.h"
#include "strbuf.h"

#define PAGE_MIN 512u
#define PAGE_MAX 65536u
/* The page-size inference looks at this much of the image, read in
 * chunks of PAGE_MAX bytes, each of which holds whole pages of every size. */
#define INFER_WINDOW ((uint64_t)32 << 20)
#define INFER_SIZES 8 /* 512 << 0 .. 512 << 7 */
#define DEFAULT_PAGE 4096u
/* The page holding the byte at 1 GiB is never used (section 1.3.2's
 * "lock-byte page"); the pointer map skips it. */
#define PENDING_BYTE 0x40000000u
/* Fewer usable bytes than this are invalid (file format, section 1.3.4). */
#define USABLE_MIN 480u
/* The reserved bytes and the text encoding are inferred from at most this
 * many b-tree leaf pages. */
#define INFER_LEAVES 4096u

struct gsr_pagefile {
	struct gsr_ctx *ctx;
	int fd;                   /* -1 for an image in memory */
	const unsigned char *mem; /* NULL for a file descriptor */
	uint64_t size;
	struct gsr_pagefile_info info;
	unsigned char *buf; /* fd only: the last page read */
	uint32_t buf_pgno;  /* the page in buf, 0 for none */
	/* The overlay (see gsr_pagefile_set_overlay()), and the info of the
	 * image alone, which info replaces while an overlay is set. */
	const unsigned char *(*ov_fn)(void *arg, uint32_t pgno);
	void *ov_arg;
	struct gsr_pagefile_info image_info;
};

const unsigned char gsr_pagefile_damaged[1];

bool
gsr_page_size_valid(uint64_t size)
{
	return size >= PAGE_MIN && size <= PAGE_MAX && (size & (size - 1)) == 0;
}

/* Read up to n bytes at off (see gsr_read_at()). */
static ssize_t
read_at(struct gsr_pagefile *pf, void *dst, size_t n, uint64_t off)
{
	return gsr_read_at(pf->ctx, pf->fd, pf->mem, pf->size, dst, n, off,
	                   "the database");
}

/*
 * Pick the page size under which the most pages of the first INFER_WINDOW
 * bytes parse as b-tree pages (the strict check: every cell pointer in
 * range, so that a page size smaller than the real one fails on the cells
 * at the end of each page, and a larger one scores about half as many
 * pages).  Ties go to the smaller size; DEFAULT_PAGE when nothing scores.
 */
static int
infer_page_size(struct gsr_pagefile *pf, uint32_t *page_size)
{
	uint64_t score[INFER_SIZES] = {0}, best = 0;
	uint64_t window = pf->size < INFER_WINDOW ? pf->size : INFER_WINDOW;
	unsigned char *chunk = NULL;
	int rc = -1;

	*page_size = DEFAULT_PAGE;
	if (pf->mem == NULL) {
		chunk = malloc(PAGE_MAX);
		if (chunk == NULL) {
			gsr_ctx_fail(pf->ctx, GSR_ERR_NOMEM,
			             "out of memory inferring the page size");
			goto out;
		}
	}
	for (uint64_t off = 0; off < window; off += PAGE_MAX) {
		const unsigned char *p;
		uint64_t len = window - off;

		if (len > PAGE_MAX)
			len = PAGE_MAX;
		if (pf->mem != NULL) {
			p = pf->mem + off;
		} else {
			ssize_t got = read_at(pf, chunk, (size_t)len, off);

			if (got < 0)
				goto out;
			len = (uint64_t)got;
			p = chunk;
		}
		for (unsigned k = 0; k < INFER_SIZES; k++) {
			uint32_t ps = PAGE_MIN << k;

			for (uint64_t po = 0; po + ps <= len; po += ps) {
				uint32_t hdr = off + po == 0 ? 100 : 0;

				if (gsr_btree_page_check(p + po, ps, ps, hdr,
				                         true) != 0)
					score[k]++;
			}
		}
		if (gsr_cancel_requested() && gsr_ctx_check_cancel(pf->ctx))
			goto out;
	}
	for (unsigned k = 0; k < INFER_SIZES; k++) {
		if (score[k] > best) {
			best = score[k];
			*page_size = PAGE_MIN << k;
		}
	}
	rc = 0;
out:
	free(chunk);
	return rc;
}

/*
 * Take the fields of header h (which has the magic) that are sane for the
 * page size in use into in: the counts as they are, reserved and the text
 * encoding only when sane, header_ok cleared when they are not.
 */
static void
header_fields(struct gsr_pagefile_info *in, const struct gsr_sqlhdr *h)
{
	in->header_pages = h->n_pages;
	in->freelist_trunk = h->freelist_trunk;
	in->freelist_count = h->freelist_count;
	in->autovacuum = h->autovacuum_root;
	if (in->page_size - h->reserved >= USABLE_MIN)
		in->reserved = h->reserved;
	else
		in->header_ok = false;
	if (h->text_encoding >= 1 && h->text_encoding <= 3)
		in->text_encoding = h->text_encoding;
	else
		in->header_ok = false;
}

/*
 * When the header cannot say them: the reserved bytes at the end of each
 * page, and the text encoding, from the leaf pages themselves.
 *
 * Reserved bytes.  SQLite fills a page's cell content area from the end
 * of its usable part, so on most leaves the cell that starts highest ends
 * exactly at the usable size.  Each leaf whose highest cell fits in the
 * page without overflow votes for page_size minus that cell's end; the
 * most voted value wins (a deleted last cell only spreads the votes).
 *
 * Text encoding.  The TEXT values of table leaf records: text of UTF-16
 * has a zero byte in most code units (ASCII), at odd offsets for
 * little-endian and even ones for big-endian; UTF-8 text has none.
 */
static int
infer_layout(struct gsr_pagefile *pf, bool reserved, bool encoding)
{
	struct gsr_pagefile_info *in = &pf->info;
	uint32_t ps = in->page_size, leaves = 0;
	uint64_t votes[256] = {0}, zero_even = 0, zero_odd = 0, text = 0;
	struct gsr_value vals[64];

	for (uint32_t pgno = 1; pgno <= in->n_pages && leaves < INFER_LEAVES;
	     pgno++) {
		const unsigned char *p = gsr_pagefile_page(pf, pgno);
		uint32_t hdr = pgno == 1 ? 100 : 0, best_off = 0, best_end = 0;
		uint16_t n_cells;
		int t;

		if (p == NULL) {
			if (gsr_ctx_failed(pf->ctx))
				return -1;
			continue;
		}
		t = gsr_btree_page_check(p, ps, ps, hdr, true);
		if (t != GSR_PAGE_TABLE_LEAF && t != GSR_PAGE_INDEX_LEAF)
			continue;
		leaves++;
		n_cells = gsr_get_u16(p + hdr + 3);
		for (uint32_t i = 0; i < n_cells; i++) {
			uint32_t off = gsr_get_u16(p + hdr + 8 + 2 * i);
			uint64_t payload, rowid = 0;
			int l1, l2 = 0, nv;

			l1 = gsr_varint_get(p + off, p + ps, &payload);
			if (l1 == 0)
				continue;
			if (t == GSR_PAGE_TABLE_LEAF &&
			    (l2 = gsr_varint_get(p + off + l1, p + ps,
			                         &rowid)) == 0)
				continue;
			/* Whole in the page (no overflow, whatever the
			 * reserved bytes: at most the largest local part
			 * of the smallest usable size): its end is certain. */
			if (payload > ps - off - (uint32_t)(l1 + l2) ||
			    payload > gsr_max_local(ps - 255,
			                            t == GSR_PAGE_TABLE_LEAF))
				continue;
			if (off > best_off) {
				best_off = off;
				best_end = off + (uint32_t)(l1 + l2) +
				           (uint32_t)payload;
			}
			if (!encoding || t != GSR_PAGE_TABLE_LEAF)
				continue;
			nv = gsr_record_decode(p + off + l1 + l2,
			                       (size_t)payload, vals,
			                       GSR_ARRAY_LEN(vals), 1);
			for (int v = 0; v < nv && v < (int)GSR_ARRAY_LEN(vals);
			     v++) {
				if (vals[v].type != GSR_V_TEXT ||
				    vals[v].n < 4 || vals[v].n % 2)
					continue;
				text += vals[v].n;
				for (size_t k = 0; k < vals[v].n; k++)
					if (vals[v].p[k] == 0) {
						if (k % 2)
							zero_odd++;
						else
							zero_even++;
					}
			}
		}
		if (best_end > 0 && ps - best_end <= 255 &&
		    ps - best_end <= ps - USABLE_MIN)
			votes[ps - best_end]++;
	}
	if (reserved) {
		uint64_t best = 0;

		for (unsigned r = 0; r < 256; r++)
			if (votes[r] > best) {
				best = votes[r];
				in->reserved = (uint8_t)r;
			}
		in->reserved_inferred = best > 0;
	}
	if (encoding && text > 0) {
		if (zero_odd * 4 > text && zero_odd > 4 * zero_even)
			in->text_encoding = 2;
		else if (zero_even * 4 > text && zero_even > 4 * zero_odd)
			in->text_encoding = 3;
		in->encoding_inferred = true;
	}
	return 0;
}

static struct gsr_pagefile *
pagefile_open(struct gsr_ctx *ctx, int fd, const unsigned char *mem,
              uint64_t size, uint32_t hint)
{
	struct gsr_pagefile *pf = NULL;
	struct gsr_pagefile_info *in;
	unsigned char hdr[GSR_SQLHDR_SIZE] = {0};
	struct gsr_sqlhdr h;
	ssize_t got;
	bool magic;
	uint64_t n_pages;
	int rc = -1;

	if (gsr_ctx_failed(ctx))
		return NULL;
	pf = calloc(1, sizeof *pf);
	if (pf == NULL) {
		gsr_ctx_fail(ctx, GSR_ERR_NOMEM,
		             "out of memory opening the database");
		goto out;
	}
	pf->ctx = ctx;
	pf->fd = fd;
	pf->mem = mem;
	pf->size = size;
	in = &pf->info;

	got = read_at(pf, hdr, sizeof hdr, 0);
	if (got < 0)
		goto out;
	magic = gsr_sqlhdr_is_sqlite(hdr, (size_t)got);
	gsr_sqlhdr_decode(hdr, &h);
	if (magic && gsr_page_size_valid(h.page_size)) {
		in->page_size = h.page_size;
		in->header_ok = true;
	} else if (gsr_page_size_valid(hint)) {
		in->page_size = hint;
		in->page_size_inferred = true;
	} else {
		if (infer_page_size(pf, &in->page_size))
			goto out;
		in->page_size_inferred = true;
	}
	/* Take what the header says when it has the magic and it is sane
	 * for the page size in use. */
	in->text_encoding = 1;
	if (magic)
		header_fields(in, &h);
	n_pages = size / in->page_size + (size % in->page_size != 0);
	in->n_pages = n_pages < UINT32_MAX ? (uint32_t)n_pages : UINT32_MAX - 1;
	in->usable_size = in->page_size;
	if (!in->header_ok) {
		/* What a usable header would have said, from the pages. */
		bool reserved =
		    !(magic && in->page_size - h.reserved >= USABLE_MIN);
		bool encoding =
		    !(magic && h.text_encoding >= 1 && h.text_encoding <= 3);

		if (mem == NULL && (pf->buf = malloc(in->page_size)) == NULL) {
			gsr_ctx_fail(ctx, GSR_ERR_NOMEM,
			             "out of memory opening the database");
			goto out;
		}
		if ((reserved || encoding) &&
		    infer_layout(pf, reserved, encoding))
			goto out;
		pf->buf_pgno = 0;
	}
	in->usable_size = in->page_size - in->reserved;
	pf->image_info = *in;

	if (mem == NULL && pf->buf == NULL) {
		pf->buf = malloc(in->page_size);
		if (pf->buf == NULL) {
			gsr_ctx_fail(ctx, GSR_ERR_NOMEM,
			             "out of memory opening the database");
			goto out;
		}
	}
	rc = 0;
out:
	if (rc != 0) {
		gsr_pagefile_close(pf);
		pf = NULL;
	}
	return pf;
}

struct gsr_pagefile *
gsr_pagefile_open_fd(struct gsr_ctx *ctx, int fd, uint64_t size,
                     uint32_t page_size_hint)
{
	/* Offsets go to pread as off_t. */
	if (size > INT64_MAX)
		size = INT64_MAX;
	return pagefile_open(ctx, fd, NULL, size, page_size_hint);
}

struct gsr_pagefile *
gsr_pagefile_open_mem(struct gsr_ctx *ctx, const void *buf, size_t size,
                      uint32_t page_size_hint)
{
	static const unsigned char empty[1];

	if (buf == NULL)
		size = 0;
	return pagefile_open(ctx, -1, buf != NULL ? buf : empty, size,
	                     page_size_hint);
}

void
gsr_pagefile_close(struct gsr_pagefile *pf)
{
	if (pf == NULL)
		return;
	free(pf->buf);
	free(pf);
}

void
gsr_pagefile_get_info(const struct gsr_pagefile *pf,
                      struct gsr_pagefile_info *info)
{
	*info = pf->info;
}

const unsigned char *
gsr_pagefile_page(struct gsr_pagefile *pf, uint32_t pgno)
{
	uint32_t ps;
	uint64_t off;
	ssize_t got;

	if (pf == NULL || pgno == 0 || pgno > pf->info.n_pages)
		return NULL;
	if (pf->ov_fn != NULL) {
		const unsigned char *p = pf->ov_fn(pf->ov_arg, pgno);

		if (p == GSR_PAGEFILE_DAMAGED)
			return NULL;
		if (p != NULL)
			return p;
	}
	ps = pf->info.page_size;
	off = (uint64_t)(pgno - 1) * ps;
	if (off >= pf->size || ps > pf->size - off)
		return NULL;
	if (pf->mem != NULL)
		return pf->mem + off;
	if (pf->buf_pgno == pgno)
		return pf->buf;
	pf->buf_pgno = 0;
	got = read_at(pf, pf->buf, ps, off);
	if (got != (ssize_t)ps)
		return NULL;
	pf->buf_pgno = pgno;
	return pf->buf;
}

void
gsr_pagefile_set_overlay(struct gsr_pagefile *pf,
                         const unsigned char *(*page_fn)(void *arg,
                                                         uint32_t pgno),
                         void *arg, uint32_t n_pages)
{
	struct gsr_pagefile_info *in;
	const unsigned char *p1;
	struct gsr_sqlhdr h;

	if (pf == NULL)
		return;
	in = &pf->info;
	*in = pf->image_info;
	pf->ov_fn = page_fn;
	pf->ov_arg = page_fn != NULL ? arg : NULL;
	if (page_fn == NULL)
		return;
	in->n_pages = n_pages;
	p1 = n_pages >= 1 ? page_fn(arg, 1) : NULL;
	if (p1 == NULL || p1 == GSR_PAGEFILE_DAMAGED ||
	    !gsr_sqlhdr_is_sqlite(p1, in->page_size))
		return;
	gsr_sqlhdr_decode(p1, &h);
	if (h.page_size != in->page_size)
		return;
	/* Page 1 of the overlaid state: its header, as at open. */
	in->header_ok = true;
	in->page_size_inferred = false;
	in->reserved = 0;
	in->text_encoding = 1;
	header_fields(in, &h);
	in->usable_size = in->page_size - in->reserved;
}

/* ---- the pointer map ------------------------------------------------ */

/* The pointer-map page holding pgno's entry (section 1.7), pgno >= 2. */
static uint32_t
ptrmap_page_of(const struct gsr_pagefile_info *in, uint32_t pgno)
{
	uint64_t per = in->usable_size / 5 + 1;
	uint64_t map = (uint64_t)(pgno - 2) / per * per + 2;

	if (map == PENDING_BYTE / in->page_size + 1)
		map++;
	return (uint32_t)map;
}

static bool
is_map_page(const struct gsr_pagefile_info *in, uint32_t pgno)
{
	return in->autovacuum != 0 && pgno >= 2 &&
	       ptrmap_page_of(in, pgno) == pgno;
}

bool
gsr_ptrmap_is_map_page(const struct gsr_pagefile *pf, uint32_t pgno)
{
	return pgno <= pf->info.n_pages && is_map_page(&pf->info, pgno);
}

int
gsr_ptrmap_get(struct gsr_pagefile *pf, uint32_t pgno, uint8_t *type,
               uint32_t *parent)
{
	struct gsr_pagefile_info in;
	const unsigned char *p;
	uint32_t map;
	uint64_t off;

	gsr_pagefile_get_info(pf, &in);
	if (in.autovacuum == 0 || pgno < 3 || pgno > in.n_pages ||
	    is_map_page(&in, pgno))
		return -1;
	map = ptrmap_page_of(&in, pgno);
	if (pgno < map)
		return -1; /* the lock-byte page just before a shifted map */
	off = (uint64_t)(pgno - map - 1) * 5;
	if (off + 5 > in.usable_size)
		return -1;
	p = gsr_pagefile_page(pf, map);
	if (p == NULL || p[off] < GSR_PTRMAP_ROOTPAGE ||
	    p[off] > GSR_PTRMAP_BTREE)
		return -1;
	*type = p[off];
	*parent = gsr_get_u32(p + off + 1);
	return 0;
}

/* ---- the freelist --------------------------------------------------- */

/* Bit pgno of map (one bit per page, 1..n_pages; the caller checks the
 * range first): returns the old bit and sets it. */
static bool
bit_test_set(unsigned char *map, uint32_t pgno)
{
	unsigned char m = (unsigned char)(1u << (pgno & 7));
	bool old = (map[pgno >> 3] & m) != 0;

	map[pgno >> 3] |= m;
	return old;
}

static int
push_page(struct gsr_ctx *ctx, uint32_t **v, size_t *n, size_t *cap,
          uint32_t pgno)
{
	if (gsr_grow((void **)v, cap, *n + 1, sizeof **v))
		return gsr_ctx_fail(ctx, GSR_ERR_NOMEM,
		                    "out of memory reading the freelist");
	(*v)[(*n)++] = pgno;
	return 0;
}

int
gsr_freelist_pages(struct gsr_ctx *ctx, struct gsr_pagefile *pf,
                   uint32_t **pages, size_t *n)
{
	struct gsr_pagefile_info in;
	unsigned char *seen = NULL;
	uint32_t *out = NULL, trunk;
	size_t n_out = 0, cap = 0;
	int rc = -1;

	*pages = NULL;
	*n = 0;
	if (gsr_ctx_failed(ctx))
		return -1;
	gsr_pagefile_get_info(pf, &in);
	seen = calloc((size_t)in.n_pages / 8 + 1, 1);
	if (seen == NULL) {
		gsr_ctx_fail(ctx, GSR_ERR_NOMEM,
		             "out of memory reading the freelist");
		goto out;
	}
	trunk = in.freelist_trunk;
	for (uint64_t hops = 0; trunk != 0 && hops <= in.n_pages; hops++) {
		const unsigned char *p;
		uint32_t count, max = (in.usable_size - 8) / 4;

		if (trunk > in.n_pages || bit_test_set(seen, trunk))
			break;
		if (push_page(ctx, &out, &n_out, &cap, trunk))
			goto out;
		p = gsr_pagefile_page(pf, trunk);
		if (p == NULL) {
			if (gsr_ctx_failed(ctx))
				goto out;
			break;
		}
		count = gsr_get_u32(p + 4);
		if (count > max)
			count = max;
		/* p stays valid: nothing below reads a page. */
		for (uint32_t i = 0; i < count; i++) {
			uint32_t leaf = gsr_get_u32(p + 8 + 4 * i);

			if (leaf == 0 || leaf > in.n_pages ||
			    bit_test_set(seen, leaf))
				continue;
			if (push_page(ctx, &out, &n_out, &cap, leaf))
				goto out;
		}
		trunk = gsr_get_u32(p);
	}
	*pages = out;
	*n = n_out;
	out = NULL;
	rc = 0;
out:
	free(out);
	free(seen);
	return rc;
}
