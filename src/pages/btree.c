/* btree.c -- the forensic b-tree walker (see btree.h).
 *
 * Written from the SQLite file format document: sections 1.5 (b-tree
 * pages) and 1.6 (cell payload overflow pages); the bytes of a page
 * header, a cell's payload and a record are decoded by record.c, pages,
 * the freelist and the pointer map are read through pagefile.c.  Every
 * value read from the image is checked before it is used as an offset, a
 * length or a page number; the comments say against what.
 */
#include "compat.h"
#include "btree.h"

#include <stdlib.h>
#include <string.h>

#include "bitmap.h"
#include "pagefile.h"
#include "record.h"
#include "sqlhdr.h"
#include "strbuf.h"

/* ---- pages ---------------------------------------------------------- */

int
gsr_btree_page_type(struct gsr_pagefile *pf, uint32_t pgno)
{
	struct gsr_pagefile_info in;
	const unsigned char *p;
	uint32_t hdr_off = pgno == 1 ? 100 : 0;
	int t;

	gsr_pagefile_get_info(pf, &in);
	if (gsr_ptrmap_is_map_page(pf, pgno))
		return 0;
	p = gsr_pagefile_page(pf, pgno);
	if (p == NULL)
		return 0;
	t = gsr_btree_page_check(p, in.page_size, in.usable_size, hdr_off,
	                         false);
	if (gsr_page_is_interior((uint8_t)t) &&
	    gsr_get_u32(p + hdr_off + 8) > in.n_pages)
		return 0;
	return t;
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
	unsigned char *used;     /* the caller's map of pages used, or NULL */
	unsigned char *page;     /* a copy of the page being read */
	uint32_t page_pgno;      /* the page in it, 0 for none */
	struct gsr_page_hdr hdr; /* its header */
	unsigned char *rec;      /* a record with overflow, reassembled */
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
	uint32_t ovfl; /* the first overflow page, 0 for none */
};

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
	if (gsr_page_is_interior(type)) {
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
	local = gsr_local_size(c->payload, usable, type == GSR_PAGE_TABLE_LEAF);
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
		    gsr_ptrmap_is_map_page(w->pf, next) ||
		    gsr_bit_test_set(w->seen_ovfl, next) ||
		    gsr_bit_test(w->seen_tree, next))
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
			/* w->text is still NULL when no value holds a whole
			 * UTF-16 unit: no arithmetic on it then. */
			pos += gsr_value_utf16_to_utf8(
			    &w->vals[i], enc == 3,
			    w->text ? w->text + pos : NULL, &bad);
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
	n = gsr_record_decode_part(buf, avail, c.payload, w->vals, w->vals_cap,
	                           w->in.text_encoding);
	if (n > 0 && (size_t)n > w->vals_cap) {
		if (gsr_grow((void **)&w->vals, &w->vals_cap, (size_t)n,
		             sizeof *w->vals))
			return gsr_ctx_fail(w->ctx, GSR_ERR_NOMEM,
			                    "out of memory for %d values", n);
		n = gsr_record_decode_part(buf, avail, c.payload, w->vals,
		                           w->vals_cap, w->in.text_encoding);
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
	if (!gsr_page_hdr_parse(w->page, w->in.usable_size, pgno == 1 ? 100 : 0,
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
	    w->depth == GSR_BTREE_MAX_DEPTH ||
	    gsr_ptrmap_is_map_page(w->pf, pgno) ||
	    gsr_bit_test_set(w->seen_tree, pgno)) {
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
		gsr_bit_set(w->used, pgno);
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
		if (!gsr_page_is_interior(w->hdr.type)) {
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
          int (*fn)(void *arg, const struct gsr_row *row), void *arg,
          struct gsr_walk_stats *stats)
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
	w.seen_tree = gsr_bitmap_new(w.in.n_pages);
	w.seen_ovfl = gsr_bitmap_new(w.in.n_pages);
	w.page = malloc(w.in.page_size);
	if (w.seen_tree == NULL || w.seen_ovfl == NULL || w.page == NULL) {
		gsr_ctx_fail(ctx, GSR_ERR_NOMEM,
		             "out of memory walking the b-tree at page %u",
		             root);
		goto out;
	}
	rc = walk(&w, root);
	if (used != NULL)
		for (size_t i = 0; i < gsr_bitmap_size(w.in.n_pages); i++)
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
                     int (*fn)(void *arg, const struct gsr_row *row), void *arg,
                     struct gsr_walk_stats *stats)
{
	return walk_tree(ctx, pf, root, false, NULL, fn, arg, stats);
}

int
gsr_btree_walk_index(struct gsr_ctx *ctx, struct gsr_pagefile *pf,
                     uint32_t root,
                     int (*fn)(void *arg, const struct gsr_row *row), void *arg,
                     struct gsr_walk_stats *stats)
{
	return walk_tree(ctx, pf, root, true, NULL, fn, arg, stats);
}

int
gsr_btree_walk_mark(struct gsr_ctx *ctx, struct gsr_pagefile *pf, uint32_t root,
                    bool index, unsigned char *used,
                    int (*fn)(void *arg, const struct gsr_row *row), void *arg,
                    struct gsr_walk_stats *stats)
{
	return walk_tree(ctx, pf, root, index, used, fn, arg, stats);
}

/* ---- a look at the interior pages ----------------------------------- */

/* Child i of interior page p (header h; i == n_cells: the right-most), or
 * 0 when its cell pointer or the child number is out of range. */
static uint32_t
interior_child(const unsigned char *p, const struct gsr_page_hdr *h, uint32_t i,
               const struct gsr_pagefile_info *in)
{
	uint32_t c, off;

	if (i == h->n_cells)
		c = h->right;
	else if ((off = gsr_get_u16(p + h->ptr_off + 2 * i)) < h->ptr_end ||
	         off + 4 > in->usable_size)
		return 0;
	else
		c = gsr_get_u32(p + off);
	return c >= 1 && c <= in->n_pages ? c : 0;
}

/* The header of interior page pgno, of the kind of interior type t, into
 * h; the page itself, or NULL when it is not one. */
static const unsigned char *
interior_page(struct gsr_pagefile *pf, const struct gsr_pagefile_info *in,
              uint32_t pgno, int t, struct gsr_page_hdr *h)
{
	const unsigned char *p;
	uint32_t off = pgno == 1 ? 100 : 0;

	if (gsr_btree_page_type(pf, pgno) != t ||
	    (p = gsr_pagefile_page(pf, pgno)) == NULL ||
	    !gsr_page_hdr_parse(p, in->usable_size, off, h))
		return NULL;
	return p;
}

int
gsr_btree_interior_sound(struct gsr_ctx *ctx, struct gsr_pagefile *pf,
                         uint32_t root)
{
	struct gsr_pagefile_info in;
	struct gsr_page_hdr h;
	struct level st[GSR_BTREE_MAX_DEPTH];
	unsigned char *seen = NULL;
	const unsigned char *p;
	int t, depth = 0, top = 0, rc = 0;

	if (gsr_ctx_failed(ctx))
		return -1;
	gsr_pagefile_get_info(pf, &in);
	if (root < 1 || root > in.n_pages ||
	    (t = gsr_btree_page_type(pf, root)) == 0)
		return 0;
	if (!gsr_page_is_interior((uint8_t)t))
		return 1;
	/* The depth of the leaves, down the left-most path. */
	for (uint32_t pg = root;; depth++) {
		if (depth == GSR_BTREE_MAX_DEPTH)
			return 0;
		if ((p = interior_page(pf, &in, pg, t, &h)) == NULL) {
			if (gsr_btree_page_type(pf, pg) !=
			    (t == GSR_PAGE_TABLE_INTERIOR
			         ? GSR_PAGE_TABLE_LEAF
			         : GSR_PAGE_INDEX_LEAF))
				return 0;
			break;
		}
		if ((pg = interior_child(p, &h, 0, &in)) == 0)
			return 0;
	}
	if ((seen = gsr_bitmap_new(in.n_pages)) == NULL)
		return gsr_ctx_fail(ctx, GSR_ERR_NOMEM, "out of memory");
	st[0] = (struct level){root, 0};
	gsr_bit_set(seen, root);
	rc = 1;
	while (top >= 0 && rc == 1) {
		struct level *lv = &st[top];
		uint32_t c;

		if ((p = interior_page(pf, &in, lv->pgno, t, &h)) == NULL) {
			rc = 0;
			break;
		}
		if (lv->next > h.n_cells) {
			top--;
			continue;
		}
		if ((c = interior_child(p, &h, lv->next++, &in)) == 0)
			rc = 0;
		else if (top + 1 < depth) {
			/* An interior child: read it in turn, once. */
			if (gsr_bit_test_set(seen, c))
				rc = 0;
			else
				st[++top] = (struct level){c, 0};
		}
		if (gsr_ctx_check_cancel(ctx))
			rc = -1;
	}
	free(seen);
	return rc;
}
