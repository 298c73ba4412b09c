/* scrub.c -- a copy of an SQLite database with its free space zeroed
 * (scrub.h). */
#include "compat.h"
#include "scrub.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "bitmap.h"
#include "fdio.h"
#include "record.h"
#include "sqlhdr.h"

enum {
	CHUNK = 1 << 20,
	MAX_PAGE = 65536,
	MAX_PAGES = 1 << 24,   /* an overflow page's first byte is then 0 */
	LOCK_BYTE = 0x40000000 /* SQLite's pending byte: its page is unused */
};

struct scrub {
	struct gsr_ctx *ctx;
	const char *src, *dst;
	int in, out;
	uint32_t page_size, usable, n_pages, lock_page;
	uint32_t chunk_first; /* the first page of the chunk in hand */
	unsigned char *tree;  /* pages read as b-tree pages */
	unsigned char *ovfl;  /* pages reached as overflow pages */
	unsigned char *tail;  /* last overflow pages already written to dst */
	unsigned char *page;  /* one page, for the ends of overflow chains */
	uint64_t keep[MAX_PAGE / 64]; /* the bytes of a page that stay */
};

/* ---- reads and writes ------------------------------------------------ */

/* Read exactly n bytes of fd at off into p.  0, or -1 with the error on
 * s->ctx (a short read too: the copy is the caller's and does not
 * shrink). */
static int
read_at(struct scrub *s, int fd, void *p, size_t n, uint64_t off)
{
	int rc = gsr_pread_exact(fd, p, n, off);

	if (rc == 0)
		return 0;
	return gsr_ctx_fail(s->ctx, GSR_ERR_IO, "cannot read '%s': %s",
	                    fd == s->in ? s->src : s->dst,
	                    rc < 0 ? strerror(errno)
	                           : "it is shorter than it was");
}

static int
write_at(struct scrub *s, const void *p, size_t n, uint64_t off)
{
	if (gsr_pwrite_all(s->out, p, n, off) == 0)
		return 0;
	return gsr_ctx_fail(s->ctx, GSR_ERR_IO, "cannot write '%s': %s", s->dst,
	                    strerror(errno));
}

static uint64_t
page_off(const struct scrub *s, uint32_t pgno)
{
	return (uint64_t)(pgno - 1) * s->page_size;
}

/* ---- the bytes of a page that stay ------------------------------------ */

/* Whether any byte of [a, b) is marked. */
static bool
any_kept(const struct scrub *s, uint32_t a, uint32_t b)
{
	for (uint32_t i = a; i < b;) {
		uint64_t w = s->keep[i / 64] >> (i % 64);
		uint32_t n = 64 - i % 64;

		if (n > b - i) {
			n = b - i;
			w &= ((uint64_t)1 << n) - 1;
		}
		if (w)
			return true;
		i += n;
	}
	return false;
}

/* Mark [a, b) as bytes that stay; false when one of them already was (two
 * cells, or a cell and a freeblock, overlap). */
static bool
keep_range(struct scrub *s, uint32_t a, uint32_t b)
{
	if (any_kept(s, a, b))
		return false;
	for (uint32_t i = a; i < b;) {
		uint32_t n = 64 - i % 64;
		uint64_t m;

		if (n > b - i)
			n = b - i;
		m = n == 64 ? ~(uint64_t)0 : (((uint64_t)1 << n) - 1);
		s->keep[i / 64] |= m << (i % 64);
		i += n;
	}
	return true;
}

/* Zero the bytes of p in [a, s->usable) that are not marked: a word of
 * the marks at a time where it is all or nothing. */
static void
zero_unkept(const struct scrub *s, unsigned char *p, uint32_t a)
{
	for (uint32_t i = a; i < s->usable;) {
		uint64_t w = s->keep[i / 64];

		if (i % 64 == 0 && i + 64 <= s->usable &&
		    (w == ~(uint64_t)0 || w == 0)) {
			if (w == 0)
				memset(p + i, 0, 64);
			i += 64;
			continue;
		}
		if (!(w >> (i % 64) & 1))
			p[i] = 0;
		i++;
	}
}

/* ---- overflow chains -------------------------------------------------- */

/*
 * Follow the overflow chain from page first that holds the last rest
 * bytes of a payload: mark its pages in s->ovfl, and write its last page
 * to dst with the bytes after the payload zeroed.  0, 1 when the chain
 * leaves the file or meets a page already reached, -1 on an error.
 */
static int
follow_chain(struct scrub *s, uint32_t first, uint64_t rest)
{
	uint32_t per = s->usable - 4, pg = first;
	unsigned char next[4];

	if (s->in < 0)
		return 1; /* a page alone (gsr_scrub_leaf()) */
	for (;;) {
		if (pg < 2 || pg > s->n_pages || pg == s->lock_page ||
		    gsr_bit_test(s->ovfl, pg))
			return 1;
		gsr_bit_set(s->ovfl, pg);
		if (rest <= per)
			break;
		if (read_at(s, s->in, next, 4, page_off(s, pg)))
			return -1;
		rest -= per;
		pg = gsr_get_u32(next);
	}
	if (read_at(s, s->in, s->page, s->page_size, page_off(s, pg)))
		return -1;
	memset(s->page + 4 + rest, 0, s->usable - 4 - rest);
	gsr_bit_set(s->tail, pg);
	return write_at(s, s->page, s->page_size, page_off(s, pg));
}

/* ---- b-tree pages ------------------------------------------------------ */

/*
 * The cell of a page of type at offset off (p is the page): its size in
 * the page in *size; when its payload overflows, the first overflow page
 * and the bytes that go there in *first and *rest (else *first is 0).
 * false when it does not fit in the page.
 */
static bool
cell_extent(const struct scrub *s, int type, const unsigned char *p,
            uint32_t off, uint32_t *size, uint32_t *first, uint64_t *rest)
{
	const unsigned char *c = p + off, *end = p + s->usable;
	uint64_t payload = 0, local, v;
	uint32_t n = 0;
	int k;

	*first = 0;
	*rest = 0;
	if (type == 5 || type == 2)
		n = 4; /* the left child */
	if (c + n > end)
		return false;
	if (type != 5) {
		if ((k = gsr_varint_get(c + n, end, &payload)) == 0)
			return false;
		n += (uint32_t)k;
	}
	if (type == 13 || type == 5) {
		if ((k = gsr_varint_get(c + n, end, &v)) == 0)
			return false;
		n += (uint32_t)k;
	}
	if (type == 5) {
		*size = n;
		return true;
	}
	if (payload > (uint64_t)s->n_pages * s->page_size)
		return false;
	local = gsr_local_size(payload, s->usable, type == 13);
	if (local > (uint64_t)(end - c) - n)
		return false;
	n += (uint32_t)local;
	if (payload > local) {
		if (c + n + 4 > end)
			return false;
		*first = gsr_get_u32(c + n);
		*rest = payload - local;
		n += 4;
	}
	/* SQLite gives a cell at least the 4 bytes of a freeblock. */
	*size = n < 4 ? 4 : n;
	return true;
}

/* The freeblocks of a page whose cells are marked, in its cell content
 * area from content on: their headers stay, their bodies must not meet a
 * cell.  false when the chain is not SQLite's. */
static bool
keep_freeblocks(struct scrub *s, const unsigned char *p, uint32_t h,
                uint32_t content)
{
	uint32_t fb = gsr_get_u16(p + h + 1);

	for (uint32_t i = 0; fb != 0; i++) {
		uint32_t size, next;

		if (i > s->usable / 4 || fb < content || fb + 4 > s->usable)
			return false;
		size = gsr_get_u16(p + fb + 2);
		next = gsr_get_u16(p + fb);
		if (size < 4 || fb + size > s->usable ||
		    (next != 0 && next < fb + size + 4) ||
		    any_kept(s, fb + 4, fb + size) ||
		    !keep_range(s, fb, fb + 4))
			return false;
		fb = next;
	}
	return true;
}

/*
 * Scrub b-tree page pgno (p, of type at p[h]): mark what stays (the
 * headers, the cell pointers, the cells, the freeblocks' headers), zero
 * the rest, and follow the overflow chains of its cells.  0, 1 when the
 * page is not one SQLite would read, -1 on an error.
 */
static int
scrub_page(struct scrub *s, uint32_t pgno, unsigned char *p, uint32_t h)
{
	int type = p[h];
	uint32_t hsize = type == 2 || type == 5 ? 12 : 8;
	uint32_t n_cells = gsr_get_u16(p + h + 3);
	uint32_t content = gsr_get_u16(p + h + 5);
	uint32_t ptrs = h + hsize, lo = ptrs + 2 * n_cells;

	if (content == 0)
		content = MAX_PAGE;
	if (lo > s->usable || content < lo || content > s->usable)
		return 1;
	memset(s->keep, 0, (s->usable + 63) / 64 * sizeof s->keep[0]);
	keep_range(s, 0, lo);
	for (uint32_t i = 0; i < n_cells; i++) {
		uint32_t off = gsr_get_u16(p + ptrs + 2 * i), size, first;
		uint64_t rest;
		int rc;

		if (off < content || off >= s->usable ||
		    !cell_extent(s, type, p, off, &size, &first, &rest) ||
		    off + size > s->usable || !keep_range(s, off, off + size))
			return 1;
		if (first && (rc = follow_chain(s, first, rest)) != 0)
			return rc;
	}
	if (!keep_freeblocks(s, p, h, content))
		return 1;
	zero_unkept(s, p, lo);
	if (s->tree)
		gsr_bit_set(s->tree, pgno);
	return 0;
}

int
gsr_scrub_leaf(unsigned char *page, uint32_t page_size, uint32_t usable)
{
	struct scrub s; /* its keep[] is cleared by scrub_page() */

	if (page_size < 512 || page_size > MAX_PAGE || usable < 480 ||
	    usable > page_size || page[0] != 13)
		return 1;
	s.ctx = NULL;
	s.in = s.out = -1;
	s.tree = s.ovfl = s.tail = s.page = NULL;
	s.page_size = page_size;
	s.usable = usable;
	s.n_pages = MAX_PAGES;
	return scrub_page(&s, 0, page, 0);
}

/* ---- the copy ---------------------------------------------------------- */

/* Read the header of src: 0 when it is a file this can account for, 1
 * when not, -1 on an error. */
static int
read_header(struct scrub *s)
{
	unsigned char b[GSR_SQLHDR_SIZE];
	struct gsr_sqlhdr h;
	struct stat st;

	if (fstat(s->in, &st) != 0)
		return gsr_ctx_fail(s->ctx, GSR_ERR_IO, "cannot read '%s': %s",
		                    s->src, strerror(errno));
	if (st.st_size < GSR_SQLHDR_SIZE)
		return 1;
	if (read_at(s, s->in, b, sizeof b, 0))
		return -1;
	if (!gsr_sqlhdr_is_sqlite(b, sizeof b))
		return 1;
	gsr_sqlhdr_decode(b, &h);
	if (h.page_size < 512 || h.page_size > MAX_PAGE ||
	    (h.page_size & (h.page_size - 1)) != 0 ||
	    h.page_size - h.reserved < 480 ||
	    (uint64_t)st.st_size % h.page_size != 0 ||
	    (uint64_t)st.st_size / h.page_size >= MAX_PAGES ||
	    h.freelist_count != 0 || h.freelist_trunk != 0 ||
	    h.autovacuum_root != 0)
		return 1;
	s->page_size = h.page_size;
	s->usable = h.page_size - h.reserved;
	s->n_pages = (uint32_t)((uint64_t)st.st_size / h.page_size);
	s->lock_page = LOCK_BYTE / h.page_size + 1;
	return 0;
}

/* Copy and scrub one chunk of n pages from page first (buf): 0, 1 or
 * -1 as gsr_scrub_copy(). */
static int
copy_chunk(struct scrub *s, unsigned char *buf, uint32_t first, uint32_t n)
{
	size_t bytes = (size_t)n * s->page_size;
	int rc;

	s->chunk_first = first;
	if (read_at(s, s->in, buf, bytes, page_off(s, first)))
		return -1;
	for (uint32_t i = 0; i < n; i++) {
		unsigned char *p = buf + (size_t)i * s->page_size;
		uint32_t pg = first + i, h = pg == 1 ? GSR_SQLHDR_SIZE : 0;

		if (pg == s->lock_page ||
		    !(p[h] == 2 || p[h] == 5 || p[h] == 10 || p[h] == 13))
			continue;
		if ((rc = scrub_page(s, pg, p, h)) != 0)
			return rc;
	}
	/* The ends of overflow chains written already: as written. */
	for (uint32_t i = 0; i < n; i++)
		if (gsr_bit_test(s->tail, first + i) &&
		    read_at(s, s->out, buf + (size_t)i * s->page_size,
		            s->page_size, page_off(s, first + i)))
			return -1;
	return write_at(s, buf, bytes, page_off(s, first));
}

/* Every page accounted for: a b-tree page or an overflow page, not both
 * (SQLite's lock-byte page aside). */
static bool
accounted(const struct scrub *s)
{
	for (uint32_t pg = 1; pg <= s->n_pages; pg++)
		if (pg != s->lock_page &&
		    gsr_bit_test(s->tree, pg) == gsr_bit_test(s->ovfl, pg))
			return false;
	return true;
}

static int
scrub_run(struct scrub *s)
{
	unsigned char *buf = NULL;
	uint32_t per;
	int rc;

	if ((rc = read_header(s)) != 0)
		return rc;
	per = CHUNK / s->page_size ? CHUNK / s->page_size : 1;
	s->tree = gsr_bitmap_new(s->n_pages);
	s->ovfl = gsr_bitmap_new(s->n_pages);
	s->tail = gsr_bitmap_new(s->n_pages);
	s->page = malloc(s->page_size);
	buf = malloc((size_t)per * s->page_size);
	if (!s->tree || !s->ovfl || !s->tail || !s->page || !buf) {
		free(buf);
		return gsr_ctx_fail(s->ctx, GSR_ERR_NOMEM, "out of memory");
	}
	for (uint32_t first = 1; first <= s->n_pages; first += per) {
		uint32_t n =
		    s->n_pages - first + 1 < per ? s->n_pages - first + 1 : per;

		if (gsr_ctx_check_cancel(s->ctx)) {
			rc = -1;
			break;
		}
		if ((rc = copy_chunk(s, buf, first, n)) != 0)
			break;
	}
	if (rc == 0 && !accounted(s))
		rc = 1;
	free(buf);
	return rc;
}

int
gsr_scrub_copy(struct gsr_ctx *ctx, const char *src, const char *dst)
{
	struct scrub *s;
	int rc = -1;

	if (gsr_ctx_failed(ctx))
		return -1;
	if ((s = calloc(1, sizeof *s)) == NULL)
		return gsr_ctx_fail(ctx, GSR_ERR_NOMEM, "out of memory");
	*s = (struct scrub){.ctx = ctx, .src = src, .dst = dst, .out = -1};
	if ((s->in = open(src, O_RDONLY | O_CLOEXEC)) < 0) {
		gsr_ctx_fail(ctx, GSR_ERR_IO, "cannot read '%s': %s", src,
		             strerror(errno));
		goto out;
	}
	if ((s->out = open(dst, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600)) <
	    0) {
		gsr_ctx_fail(ctx, GSR_ERR_IO, "cannot write '%s': %s", dst,
		             strerror(errno));
		goto out;
	}
	rc = scrub_run(s);
	/* Nothing of a copy given up stays. */
	if (rc != 0 && ftruncate(s->out, 0) != 0 && rc > 0)
		rc = gsr_ctx_fail(ctx, GSR_ERR_IO, "cannot write '%s': %s", dst,
		                  strerror(errno));
out:
	if (s->out >= 0 && close(s->out) != 0 && rc == 0)
		rc = gsr_ctx_fail(ctx, GSR_ERR_IO, "cannot write '%s': %s", dst,
		                  strerror(errno));
	if (s->in >= 0)
		close(s->in);
	free(s->tree);
	free(s->ovfl);
	free(s->tail);
	free(s->page);
	free(s);
	return rc;
}
