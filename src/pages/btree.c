/* btree.c -- the forensic b-tree walker (see btree.h).
 *
 * Written from the SQLite file format document: section 1.5 (b-tree
 * pages), 1.6 (cell payload overflow pages), 1.4 (the freelist), 1.7
 * (pointer maps) and 2.1 (the record format).  Every value read from the
 * image is checked before it is used as an offset, a length or a page
 * number; the comments say against what.
 */
#include "compat.h"
#include "btree.h"

#include <stdlib.h>
#include <string.h>

#include "sqlhdr.h"
#include "strbuf.h"

/* The page holding the byte at 1 GiB is never used (section 1.3.2's
 * "lock-byte page"); the pointer map skips it. */
#define PENDING_BYTE 0x40000000u

static const unsigned char empty_bytes[1];

/* ---- varints, serial types, records -------------------------------- */

int
gsr_varint_get(const unsigned char *p, const unsigned char *end, uint64_t *v)
{
	uint64_t x = 0;
	size_t avail;

	if (p == NULL || end == NULL || p >= end)
		return 0;
	avail = (size_t)(end - p);
	for (size_t i = 0; i < 8; i++) {
		if (i >= avail)
			return 0;
		x = x << 7 | (p[i] & 0x7f);
		if ((p[i] & 0x80) == 0) {
			*v = x;
			return (int)i + 1;
		}
	}
	if (avail < 9)
		return 0;
	*v = x << 8 | p[8];
	return 9;
}

/* The number of bytes of the body a serial type takes (section 2.1). */
static uint64_t
serial_size(uint64_t st)
{
	static const uint8_t small[12] = { 0, 1, 2, 3, 4, 6, 8, 8, 0, 0, 0, 0 };

	return st < 12 ? small[st] : (st - 12) / 2;
}

static uint32_t
utf16_unit(const unsigned char *p, bool be)
{
	return be ? (uint32_t)p[0] << 8 | p[1] : (uint32_t)p[1] << 8 | p[0];
}

/*
 * The length of the longest prefix of p (n bytes) made of whole, valid
 * UTF-16 characters.  *bad is set when the scan stopped at an invalid
 * sequence (an unpaired surrogate) rather than at the end or at a last
 * character cut short (an odd byte, a lone high surrogate at the end).
 */
static size_t
utf16_scan(const unsigned char *p, size_t n, bool be, bool *bad)
{
	size_t i = 0;

	*bad = false;
	while (n - i >= 2) {
		uint32_t c = utf16_unit(p + i, be);

		if (c >= 0xdc00 && c <= 0xdfff) {
			*bad = true;
			break;
		}
		if (c < 0xd800 || c > 0xdbff) {
			i += 2;
			continue;
		}
		if (n - i < 4)
			break;
		c = utf16_unit(p + i + 2, be);
		if (c < 0xdc00 || c > 0xdfff) {
			*bad = true;
			break;
		}
		i += 4;
	}
	return i;
}

/* Convert n bytes of valid UTF-16 (as utf16_scan() accepted them) into
 * out, which holds n / 2 * 3 bytes.  Returns the bytes written. */
static size_t
utf16_convert(const unsigned char *in, size_t n, bool be, unsigned char *out)
{
	size_t i = 0, o = 0;

	while (n - i >= 2) {
		uint32_t c = utf16_unit(in + i, be);

		i += 2;
		if (c >= 0xd800 && c <= 0xdbff && n - i >= 2) {
			c = 0x10000 + ((c - 0xd800) << 10) +
			    (utf16_unit(in + i, be) - 0xdc00);
			i += 2;
		}
		if (c < 0x80) {
			out[o++] = (unsigned char)c;
		} else if (c < 0x800) {
			out[o++] = (unsigned char)(0xc0 | c >> 6);
			out[o++] = (unsigned char)(0x80 | (c & 0x3f));
		} else if (c < 0x10000) {
			out[o++] = (unsigned char)(0xe0 | c >> 12);
			out[o++] = (unsigned char)(0x80 | (c >> 6 & 0x3f));
			out[o++] = (unsigned char)(0x80 | (c & 0x3f));
		} else {
			out[o++] = (unsigned char)(0xf0 | c >> 18);
			out[o++] = (unsigned char)(0x80 | (c >> 12 & 0x3f));
			out[o++] = (unsigned char)(0x80 | (c >> 6 & 0x3f));
			out[o++] = (unsigned char)(0x80 | (c & 0x3f));
		}
	}
	return o;
}

size_t
gsr_value_utf16_to_utf8(struct gsr_value *v, bool be, unsigned char *out,
			bool *bad)
{
	size_t ok = utf16_scan(v->p, v->n, be, bad);

	/* A complete value must be characters to its last pair of bytes. */
	if (!v->truncated && ok != (v->n & ~(size_t)1))
		*bad = true;
	if (ok == 0) {
		/* out may be NULL when no TEXT has a character. */
		v->p = empty_bytes;
		v->n = 0;
		return 0;
	}
	v->n = utf16_convert(v->p, ok, be, out);
	v->p = out;
	return v->n;
}

size_t
gsr_utf16_to_utf8(const unsigned char *in, size_t n, bool be,
		  unsigned char *out)
{
	bool bad;

	if (n == 0)
		return 0;
	if (in == NULL || out == NULL || utf16_scan(in, n, be, &bad) != n)
		return (size_t)-1;
	return utf16_convert(in, n, be, out);
}

/*
 * Fill v with the value of serial type st whose size bytes start at body
 * offset off of a record of which avail bytes are in buf.  A value that
 * does not lie wholly within avail is cut short (see truncated in
 * btree.h).
 */
static void
value_set(struct gsr_value *v, const unsigned char *buf, size_t avail,
	  uint64_t off, uint64_t st, uint64_t size, uint32_t enc)
{
	bool whole = size == 0 || (off < avail && size <= avail - off);
	const unsigned char *p = buf + (off < avail ? off : avail);
	uint64_t u = 0;

	memset(v, 0, sizeof *v);
	if (st >= 12) {
		v->type = (st & 1) ? GSR_V_TEXT : GSR_V_BLOB;
		v->p = p;
		v->n = whole ? (size_t)size : avail - (size_t)(p - buf);
		v->truncated = !whole;
		if (v->type == GSR_V_TEXT && (enc == 2 || enc == 3)) {
			bool bad;
			size_t ok = utf16_scan(v->p, v->n, enc == 3, &bad);

			if (bad || (whole && ok != v->n)) {
				v->type = GSR_V_BLOB;
				v->encoding_error = true;
			}
		}
		return;
	}
	if (!whole) {
		v->type = GSR_V_NULL;
		v->truncated = true;
		return;
	}
	switch (st) {
	case 0:
		v->type = GSR_V_NULL;
		break;
	case 7:
		for (unsigned k = 0; k < 8; k++)
			u = u << 8 | p[k];
		v->type = GSR_V_REAL;
		memcpy(&v->r, &u, sizeof v->r);
		break;
	case 8:
	case 9:
		v->type = GSR_V_INT;
		v->i = st == 9;
		break;
	default: /* 1..6: big-endian two's complement of `size` bytes */
		for (unsigned k = 0; k < size; k++)
			u = u << 8 | p[k];
		if (size < 8 && (u >> (size * 8 - 1) & 1))
			u |= UINT64_MAX << (size * 8);
		v->type = GSR_V_INT;
		memcpy(&v->i, &u, sizeof v->i);
		break;
	}
}

/*
 * Decode a record whose payload is declared bytes long, of which the
 * first avail (avail <= declared) are in buf: fewer when its overflow
 * chain is broken.  The header must lie within avail; values past avail
 * come out truncated.  See gsr_record_decode() for the rest.
 */
static int
record_decode(const unsigned char *buf, size_t avail, uint64_t declared,
	      struct gsr_value *values, size_t max_values, uint32_t enc)
{
	uint64_t hdr_size, body, st, size;
	size_t off, count = 0;
	int len;

	if (buf == NULL || avail == 0 || avail > declared)
		return -1;
	len = gsr_varint_get(buf, buf + avail, &hdr_size);
	if (len == 0 || hdr_size < (uint64_t)len || hdr_size > avail)
		return -1;
	off = (size_t)len;
	body = hdr_size;
	while (off < hdr_size) {
		len = gsr_varint_get(buf + off, buf + hdr_size, &st);
		if (len == 0 || st == 10 || st == 11)
			return -1;
		off += (size_t)len;
		size = serial_size(st);
		/* body <= declared holds throughout: no overflow. */
		if (size > declared - body || count == GSR_RECORD_MAX_VALUES)
			return -1;
		if (count < max_values)
			value_set(&values[count], buf, avail, body, st, size,
				  enc);
		body += size;
		count++;
	}
	if (body != declared)
		return -1;
	return (int)count;
}

int
gsr_record_decode(const unsigned char *buf, size_t n,
		  struct gsr_value *values, size_t max_values,
		  uint32_t text_encoding)
{
	if (values == NULL)
		max_values = 0;
	return record_decode(buf, n, n, values, max_values, text_encoding);
}

/* ---- pages --------------------------------------------------------- */

/* A parsed b-tree page header (section 1.5). */
struct page_hdr {
	uint8_t type;
	uint32_t n_cells;
	uint32_t ptr_off;  /* the cell pointer array */
	uint32_t ptr_end;  /* its end: no cell starts before */
	uint32_t content;  /* the cell content area */
	uint32_t first_free;
	uint32_t right;    /* interior pages: the right-most child */
};

static bool
type_valid(uint8_t t)
{
	return t == GSR_PAGE_INDEX_INTERIOR || t == GSR_PAGE_TABLE_INTERIOR ||
	       t == GSR_PAGE_INDEX_LEAF || t == GSR_PAGE_TABLE_LEAF;
}

static bool
type_interior(uint8_t t)
{
	return t == GSR_PAGE_INDEX_INTERIOR || t == GSR_PAGE_TABLE_INTERIOR;
}

/* Parse the header at hdr_off of page (usable bytes of it may be used).
 * False when it is not a b-tree page header or its cell pointer array
 * does not fit. */
static bool
parse_hdr(const unsigned char *page, uint32_t usable, uint32_t hdr_off,
	  struct page_hdr *h)
{
	uint32_t hsize;

	if (usable < 12 || hdr_off > usable - 12)
		return false;
	h->type = page[hdr_off];
	if (!type_valid(h->type))
		return false;
	hsize = type_interior(h->type) ? 12 : 8;
	h->first_free = gsr_get_u16(page + hdr_off + 1);
	h->n_cells = gsr_get_u16(page + hdr_off + 3);
	h->content = gsr_get_u16(page + hdr_off + 5);
	if (h->content == 0)
		h->content = 65536;
	h->right = hsize == 12 ? gsr_get_u32(page + hdr_off + 8) : 0;
	h->ptr_off = hdr_off + hsize;
	/* At most 100 + 12 + 2 * 65535: no overflow. */
	h->ptr_end = h->ptr_off + 2 * h->n_cells;
	return h->ptr_end <= usable;
}

int
gsr_btree_page_check(const unsigned char *page, uint32_t page_size,
		     uint32_t usable_size, uint32_t hdr_off, bool strict)
{
	struct page_hdr h;

	if (page == NULL)
		return 0;
	if (usable_size > page_size)
		usable_size = page_size;
	if (!parse_hdr(page, usable_size, hdr_off, &h))
		return 0;
	if (h.content < h.ptr_end || h.content > usable_size)
		return 0;
	if (h.first_free != 0 &&
	    (h.first_free < h.ptr_end || h.first_free > usable_size - 4))
		return 0;
	if (type_interior(h.type) && h.right == 0)
		return 0;
	if (strict) {
		for (uint32_t i = 0; i < h.n_cells; i++) {
			uint32_t ptr = gsr_get_u16(page + h.ptr_off + 2 * i);

			if (ptr < h.ptr_end || ptr > usable_size - 4)
				return 0;
		}
	}
	return h.type;
}

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
	struct gsr_pagefile_info in;

	gsr_pagefile_get_info(pf, &in);
	return pgno <= in.n_pages && is_map_page(&in, pgno);
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

int
gsr_btree_page_type(struct gsr_pagefile *pf, uint32_t pgno)
{
	struct gsr_pagefile_info in;
	const unsigned char *p;
	uint32_t hdr_off = pgno == 1 ? 100 : 0;
	int t;

	gsr_pagefile_get_info(pf, &in);
	if (is_map_page(&in, pgno))
		return 0;
	p = gsr_pagefile_page(pf, pgno);
	if (p == NULL)
		return 0;
	t = gsr_btree_page_check(p, in.page_size, in.usable_size, hdr_off,
				 false);
	if (type_interior((uint8_t)t) &&
	    gsr_get_u32(p + hdr_off + 8) > in.n_pages)
		return 0;
	return t;
}

/* A bitmap of one bit per page, 1..n_pages; the callers check the range
 * first. */
static bool
bit_test(const unsigned char *map, uint32_t pgno)
{
	return (map[pgno >> 3] & (1u << (pgno & 7))) != 0;
}

/* Returns the old bit and sets it. */
static bool
bit_test_set(unsigned char *map, uint32_t pgno)
{
	unsigned char m = (unsigned char)(1u << (pgno & 7));
	bool old = (map[pgno >> 3] & m) != 0;

	map[pgno >> 3] |= m;
	return old;
}

static unsigned char *
bitmap_new(uint32_t n_pages)
{
	return calloc((size_t)n_pages / 8 + 1, 1);
}

/* ---- the freelist --------------------------------------------------- */

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
	seen = bitmap_new(in.n_pages);
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

/* ---- the walker ----------------------------------------------------- */

struct level {
	uint32_t pgno;
	uint32_t next; /* the next step: child (and for an index, cell) */
};

struct walker {
	struct gsr_ctx *ctx;
	struct gsr_pagefile *pf;
	struct gsr_pagefile_info in;
	bool index; /* an index b-tree, else a table b-tree */
	int (*fn)(void *arg, const struct gsr_row *row);
	void *arg;
	struct gsr_walk_stats *st;
	/* Pages used by this walk: as b-tree pages, and as overflow pages.
	 * Kept apart so that a broken chain running into a b-tree page not
	 * yet visited does not take it from the tree. */
	unsigned char *seen_tree, *seen_ovfl;
	unsigned char *used; /* the caller's map of pages used, or NULL */
	unsigned char *page; /* a copy of the page being read */
	uint32_t page_pgno;  /* the page in it, 0 for none */
	struct page_hdr hdr; /* its header */
	unsigned char *rec;  /* a record with overflow, reassembled */
	size_t rec_cap;
	unsigned char *text; /* UTF-8 of a UTF-16 record's TEXT values */
	size_t text_cap;
	struct gsr_value *vals;
	size_t vals_cap;
	struct level stack[GSR_BTREE_MAX_DEPTH];
	size_t depth;
};

/* A parsed cell (section 1.5, "B-tree Cell Format"). */
struct cell {
	uint32_t offset;    /* of the cell in the page */
	uint32_t child;     /* interior pages */
	int64_t rowid;      /* table pages */
	uint64_t payload;   /* the payload's size */
	uint32_t local_off; /* where its local part starts in the page */
	uint32_t n_local;
	uint32_t ovfl;      /* the first overflow page, 0 for none */
};

static uint64_t
local_size(uint64_t payload, uint32_t usable, bool table_leaf)
{
	/* usable >= 480 (pagefile.h), so none of these wraps. */
	uint64_t max_local = (uint64_t)(usable - 12) * 64 / 255 - 23;
	uint64_t min_local = (uint64_t)(usable - 12) * 32 / 255 - 23;
	uint64_t k;

	if (table_leaf)
		max_local = usable - 35;
	if (payload <= max_local)
		return payload;
	k = min_local + (payload - min_local) % (usable - 4);
	return k <= max_local ? k : min_local;
}

/* Parse cell i of the page in w->page.  Returns 0, or 1 when the cell
 * does not lie within the usable area. */
static int
parse_cell(const struct walker *w, uint32_t i, struct cell *c)
{
	const unsigned char *page = w->page;
	uint32_t usable = w->in.usable_size, off;
	uint8_t type = w->hdr.type;
	uint64_t v, local;
	int len;

	memset(c, 0, sizeof *c);
	if (i >= w->hdr.n_cells)
		return 1;
	off = gsr_get_u16(page + w->hdr.ptr_off + 2 * i);
	if (off < w->hdr.ptr_end || off >= usable)
		return 1;
	c->offset = off;
	if (type_interior(type)) {
		if (usable - off < 4)
			return 1;
		c->child = gsr_get_u32(page + off);
		off += 4;
		if (type == GSR_PAGE_TABLE_INTERIOR) {
			len = gsr_varint_get(page + off, page + usable, &v);
			c->rowid = (int64_t)v;
			return len == 0;
		}
	}
	len = gsr_varint_get(page + off, page + usable, &c->payload);
	if (len == 0)
		return 1;
	off += (uint32_t)len;
	if (type == GSR_PAGE_TABLE_LEAF) {
		len = gsr_varint_get(page + off, page + usable, &v);
		if (len == 0)
			return 1;
		c->rowid = (int64_t)v;
		off += (uint32_t)len;
	}
	local = local_size(c->payload, usable, type == GSR_PAGE_TABLE_LEAF);
	if (local > usable - off)
		return 1;
	c->local_off = off;
	c->n_local = (uint32_t)local;
	off += (uint32_t)local;
	if (local < c->payload) {
		if (usable - off < 4)
			return 1;
		c->ovfl = gsr_get_u32(page + off);
	}
	return 0;
}

/* Grow *buf to hold need bytes (by doubling, from 64 KiB). */
static int
grow_bytes(struct walker *w, unsigned char **buf, size_t *cap, size_t need)
{
	unsigned char *nb;
	size_t ncap;

	if (need <= *cap)
		return 0;
	ncap = need < 65536 ? 65536 : need;
	if (*cap <= SIZE_MAX / 2 && ncap < *cap * 2)
		ncap = *cap * 2;
	/* Doubling must not take a 1 GiB record to 2 GiB. */
	if (ncap > GSR_RECORD_MAX && need <= GSR_RECORD_MAX)
		ncap = GSR_RECORD_MAX;
	nb = realloc(*buf, ncap);
	if (nb == NULL) {
		/* Try for exactly what is needed before giving up. */
		ncap = need;
		nb = realloc(*buf, ncap);
	}
	if (nb == NULL)
		return gsr_ctx_fail(w->ctx, GSR_ERR_NOMEM,
				    "out of memory for a record of %zu bytes",
				    need);
	*buf = nb;
	*cap = ncap;
	return 0;
}

/*
 * Reassemble the payload of cell c (local part, then the overflow chain)
 * into w->rec; *avail is how much of it could be read.  The chain stops at
 * a page out of range, already used, a pointer-map page or unreadable.
 */
static int
read_overflow(struct walker *w, const struct cell *c, size_t *avail)
{
	size_t need = (size_t)c->payload, have = c->n_local;
	size_t chunk = w->in.usable_size - 4;
	uint32_t next = c->ovfl;

	if (grow_bytes(w, &w->rec, &w->rec_cap, need))
		return -1;
	memcpy(w->rec, w->page + c->local_off, c->n_local);
	for (uint64_t hops = 0; have < need && hops <= w->in.n_pages; hops++) {
		const unsigned char *p;
		size_t take = need - have < chunk ? need - have : chunk;

		if (next == 0 || next > w->in.n_pages ||
		    is_map_page(&w->in, next) ||
		    bit_test_set(w->seen_ovfl, next) ||
		    bit_test(w->seen_tree, next))
			break;
		p = gsr_pagefile_page(w->pf, next);
		if (p == NULL) {
			if (gsr_ctx_failed(w->ctx))
				return -1;
			break;
		}
		memcpy(w->rec + have, p + 4, take);
		have += take;
		next = gsr_get_u32(p);
	}
	*avail = have;
	return 0;
}

/* In a UTF-16 database, convert the TEXT values among w->vals[0..n) to
 * UTF-8 in w->text (a cut-short value: its whole characters). */
static int
convert_text(struct walker *w, size_t n)
{
	uint32_t enc = w->in.text_encoding;
	size_t total = 0, pos = 0;

	if (enc != 2 && enc != 3)
		return 0;
	for (size_t i = 0; i < n; i++) {
		if (w->vals[i].type == GSR_V_TEXT &&
		    __builtin_add_overflow(total, w->vals[i].n / 2 * 3, &total))
			return gsr_ctx_fail(w->ctx, GSR_ERR_NOMEM,
					    "record too large");
	}
	if (grow_bytes(w, &w->text, &w->text_cap, total))
		return -1;
	for (size_t i = 0; i < n; i++) {
		bool bad; /* the walker keeps what is valid */

		if (w->vals[i].type == GSR_V_TEXT)
			pos += gsr_value_utf16_to_utf8(&w->vals[i], enc == 3,
						       w->text + pos, &bad);
	}
	return 0;
}

/*
 * Decode the record of cell i of the page in w->page and hand it to fn.
 * Pointer damage is counted only when count_ptr is set (an index interior
 * cell is parsed twice: for its child, then for its key).  Returns 0, 1
 * when fn asked to stop, -1 on error.
 */
static int
deliver(struct walker *w, uint32_t i, bool count_ptr)
{
	struct cell c;
	struct gsr_row row;
	const unsigned char *buf;
	size_t avail, n_ovfl;
	int n;

	if (parse_cell(w, i, &c)) {
		if (count_ptr)
			w->st->cells_damaged++;
		return 0;
	}
	/* The chain would need n_ovfl pages: more than the file has is
	 * damage, and so is anything over the record limit. */
	if (c.payload > GSR_RECORD_MAX) {
		w->st->cells_damaged++;
		return 0;
	}
	n_ovfl = (size_t)((c.payload - c.n_local + w->in.usable_size - 5) /
			  (w->in.usable_size - 4));
	if (n_ovfl > w->in.n_pages) {
		w->st->cells_damaged++;
		return 0;
	}
	if (c.payload == c.n_local) {
		buf = w->page + c.local_off;
		avail = c.n_local;
	} else {
		if (read_overflow(w, &c, &avail))
			return -1;
		buf = w->rec;
	}
	n = record_decode(buf, avail, c.payload, w->vals, w->vals_cap,
			  w->in.text_encoding);
	if (n > 0 && (size_t)n > w->vals_cap) {
		if (gsr_grow((void **)&w->vals, &w->vals_cap, (size_t)n,
			     sizeof *w->vals))
			return gsr_ctx_fail(w->ctx, GSR_ERR_NOMEM,
					    "out of memory for %d values", n);
		n = record_decode(buf, avail, c.payload, w->vals, w->vals_cap,
				  w->in.text_encoding);
	}
	if (n < 0) {
		w->st->cells_damaged++;
		return 0;
	}
	if (convert_text(w, (size_t)n))
		return -1;
	row.rowid = w->index ? 0 : c.rowid;
	row.pgno = w->page_pgno;
	row.cell_offset = c.offset;
	row.n_values = (size_t)n;
	row.values = w->vals;
	row.truncated = avail < c.payload;
	w->st->rows++;
	if (row.truncated)
		w->st->rows_truncated++;
	return w->fn(w->arg, &row) != 0 ? 1 : 0;
}

/* Copy page pgno into w->page and parse its header.  Returns 0, 1 when it
 * is unreadable or not a b-tree page of the walk's kind, -1 on error. */
static int
load_page(struct walker *w, uint32_t pgno)
{
	const unsigned char *p = gsr_pagefile_page(w->pf, pgno);
	uint8_t t;

	w->page_pgno = 0;
	if (p == NULL)
		return gsr_ctx_failed(w->ctx) ? -1 : 1;
	memcpy(w->page, p, w->in.page_size);
	w->page_pgno = pgno;
	if (!parse_hdr(w->page, w->in.usable_size, pgno == 1 ? 100 : 0,
		       &w->hdr))
		return 1;
	t = w->hdr.type;
	if (w->index ? t == GSR_PAGE_TABLE_INTERIOR || t == GSR_PAGE_TABLE_LEAF
		     : t == GSR_PAGE_INDEX_INTERIOR || t == GSR_PAGE_INDEX_LEAF)
		return 1;
	return 0;
}

/* Push page pgno (a root or a child) if it can be used; count it damaged
 * otherwise.  Returns 0, or -1 on error. */
static int
enter(struct walker *w, uint32_t pgno)
{
	int rc;

	if (pgno == 0 || pgno > w->in.n_pages ||
	    w->depth == GSR_BTREE_MAX_DEPTH || is_map_page(&w->in, pgno) ||
	    bit_test_set(w->seen_tree, pgno)) {
		w->st->pages_damaged++;
		return 0;
	}
	w->st->pages_visited++;
	if (w->st->pages_visited % 1024 == 0 && gsr_ctx_check_cancel(w->ctx))
		return -1;
	rc = load_page(w, pgno);
	if (rc < 0)
		return -1;
	if (rc > 0) {
		w->st->pages_damaged++;
		return 0;
	}
	if (w->used != NULL)
		w->used[pgno / 8] |= (unsigned char)(1u << (pgno % 8));
	w->stack[w->depth].pgno = pgno;
	w->stack[w->depth].next = 0;
	w->depth++;
	return 0;
}

/*
 * Depth first, in key order.  An interior page is read again each time the
 * walk comes back to it (memory stays at one page whatever the depth), and
 * its header is checked again each time.  An index interior page's key i
 * comes after the subtree of child i.
 */
static int
walk(struct walker *w, uint32_t root)
{
	int rc;

	if (enter(w, root))
		return -1;
	while (w->depth > 0) {
		struct level *lv = &w->stack[w->depth - 1];
		struct cell c;
		uint32_t step, child;

		if (w->page_pgno != lv->pgno) {
			rc = load_page(w, lv->pgno);
			if (rc < 0)
				return -1;
			if (rc > 0) {
				/* It read differently the second time. */
				w->st->pages_damaged++;
				w->depth--;
				continue;
			}
		}
		if (!type_interior(w->hdr.type)) {
			for (uint32_t i = 0; i < w->hdr.n_cells; i++) {
				rc = deliver(w, i, true);
				if (rc != 0)
					return rc;
			}
			w->depth--;
			continue;
		}
		step = lv->next++;
		if (step > w->hdr.n_cells) {
			w->depth--;
			continue;
		}
		if (w->index && step > 0) {
			rc = deliver(w, step - 1, false);
			if (rc != 0)
				return rc;
		}
		if (step == w->hdr.n_cells) {
			child = w->hdr.right;
		} else if (parse_cell(w, step, &c) == 0) {
			child = c.child;
		} else {
			w->st->cells_damaged++;
			continue;
		}
		if (enter(w, child))
			return -1;
	}
	return 0;
}

static int
walk_tree(struct gsr_ctx *ctx, struct gsr_pagefile *pf, uint32_t root,
	  bool index, unsigned char *used,
	  int (*fn)(void *arg, const struct gsr_row *row),
	  void *arg, struct gsr_walk_stats *stats)
{
	struct gsr_walk_stats local;
	struct walker w;
	int rc = -1;

	if (stats == NULL)
		stats = &local;
	memset(stats, 0, sizeof *stats);
	memset(&w, 0, sizeof w);
	if (gsr_ctx_failed(ctx))
		return -1;
	if (pf == NULL || fn == NULL)
		return gsr_ctx_fail(ctx, GSR_ERR_USAGE,
				    "b-tree walk without a database or "
				    "callback");
	w.ctx = ctx;
	w.pf = pf;
	w.index = index;
	w.fn = fn;
	w.arg = arg;
	w.st = stats;
	w.used = used;
	gsr_pagefile_get_info(pf, &w.in);
	w.seen_tree = bitmap_new(w.in.n_pages);
	w.seen_ovfl = bitmap_new(w.in.n_pages);
	w.page = malloc(w.in.page_size);
	if (w.seen_tree == NULL || w.seen_ovfl == NULL || w.page == NULL) {
		gsr_ctx_fail(ctx, GSR_ERR_NOMEM,
			     "out of memory walking the b-tree at page %u",
			     root);
		goto out;
	}
	rc = walk(&w, root);
	if (used != NULL)
		for (size_t i = 0; i < (size_t)w.in.n_pages / 8 + 1; i++)
			used[i] |= w.seen_ovfl[i];
out:
	free(w.seen_tree);
	free(w.seen_ovfl);
	free(w.page);
	free(w.rec);
	free(w.text);
	free(w.vals);
	return rc;
}

int
gsr_btree_walk_table(struct gsr_ctx *ctx, struct gsr_pagefile *pf,
		     uint32_t root,
		     int (*fn)(void *arg, const struct gsr_row *row),
		     void *arg, struct gsr_walk_stats *stats)
{
	return walk_tree(ctx, pf, root, false, NULL, fn, arg, stats);
}

int
gsr_btree_walk_index(struct gsr_ctx *ctx, struct gsr_pagefile *pf,
		     uint32_t root,
		     int (*fn)(void *arg, const struct gsr_row *row),
		     void *arg, struct gsr_walk_stats *stats)
{
	return walk_tree(ctx, pf, root, true, NULL, fn, arg, stats);
}

int
gsr_btree_walk_mark(struct gsr_ctx *ctx, struct gsr_pagefile *pf,
		    uint32_t root, bool index, unsigned char *used,
		    int (*fn)(void *arg, const struct gsr_row *row),
		    void *arg, struct gsr_walk_stats *stats)
{
	return walk_tree(ctx, pf, root, index, used, fn, arg, stats);
}

/* ---- exported helpers ------------------------------------------------ */

uint64_t
gsr_serial_size(uint64_t st)
{
	return st == 10 || st == 11 ? 0 : serial_size(st);
}

uint64_t
gsr_local_size(uint64_t payload, uint32_t usable_size, bool table_leaf)
{
	return local_size(payload, usable_size, table_leaf);
}

int
gsr_record_decode_part(const unsigned char *buf, size_t avail,
		       uint64_t declared, struct gsr_value *values,
		       size_t max_values, uint32_t text_encoding)
{
	if (values == NULL)
		max_values = 0;
	return record_decode(buf, avail, declared, values, max_values,
			     text_encoding);
}
