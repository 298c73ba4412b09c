/* graft.c -- a table b-tree built at the end of an SQLite database from
 * whole leaf pages (graft.h). */
#include "compat.h"
#include "graft.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fdio.h"
#include "pagefile.h"
#include "record.h"
#include "scrub.h"
#include "sqlhdr.h"

enum {
	BUF_BYTES = 1 << 20,
	MAX_LEVELS = 16,
	MAX_PAGES = 1 << 30,
	LOCK_BYTE = 0x40000000, /* SQLite's pending byte: its page is unused */
	/* The most bytes an interior cell takes: a child, a 9-byte key,
	 * its pointer. */
	CELL_MAX = 4 + 9 + 2,
	INTERIOR_HDR = 12
};

/* The interior page of one level of the tree being filled.  The pages
 * of a level share its children evenly (each takes the ceiling of the
 * children to come over the pages to come), so that none is left with
 * a single child at the end. */
struct level {
	unsigned char *page;
	uint64_t rest;       /* children still to come, this page's included */
	uint64_t pages_rest; /* pages still to fill, this one included */
	uint32_t want, got;  /* the children this page takes, and has */
	uint32_t n_cells, content;
	uint32_t right; /* the last child: the right child, or the next cell */
	int64_t right_key;
};

struct gsr_graft {
	struct gsr_ctx *ctx;
	const char *path;
	int fd;
	uint32_t page_size, usable, root, lock_page;
	uint32_t n_pages0, n_pages; /* before, and with what is appended */
	uint64_t n_leaves, leaves_in;
	int64_t last_rowid;
	unsigned char *buf; /* appended pages not yet written */
	uint32_t buf_first, buf_n, buf_cap;
	unsigned char *leaf;      /* the leaf in hand */
	unsigned char *root_page; /* once the top page is whole */
	bool finished;
	int depth; /* levels of interior pages */
	struct level lv[MAX_LEVELS];
};

static void
put_u16(unsigned char *p, uint32_t v)
{
	p[0] = (unsigned char)(v >> 8);
	p[1] = (unsigned char)v;
}

static void
put_u32(unsigned char *p, uint32_t v)
{
	p[0] = (unsigned char)(v >> 24);
	p[1] = (unsigned char)(v >> 16);
	p[2] = (unsigned char)(v >> 8);
	p[3] = (unsigned char)v;
}

/* ---- reads and writes ------------------------------------------------ */

static int
io_fail(struct gsr_graft *g, const char *what, int err)
{
	return gsr_ctx_fail(g->ctx, GSR_ERR_IO, "cannot %s '%s': %s", what,
	                    g->path, err ? strerror(err) : "a short read");
}

/* Exactly n bytes at off: 0 or -1 (recorded). */
static int
read_at(struct gsr_graft *g, void *p, size_t n, uint64_t off)
{
	int rc = gsr_pread_exact(g->fd, p, n, off);

	return rc == 0 ? 0 : io_fail(g, "read", rc < 0 ? errno : 0);
}

static int
write_at(struct gsr_graft *g, const void *p, size_t n, uint64_t off)
{
	return gsr_pwrite_all(g->fd, p, n, off) ? io_fail(g, "write", errno)
	                                        : 0;
}

static uint64_t
page_off(const struct gsr_graft *g, uint32_t pgno)
{
	return (uint64_t)(pgno - 1) * g->page_size;
}

static int
flush(struct gsr_graft *g)
{
	int rc = 0;

	if (g->buf_n)
		rc = write_at(g, g->buf, (size_t)g->buf_n * g->page_size,
		              page_off(g, g->buf_first));
	g->buf_n = 0;
	return rc;
}

/* The next page at the end of the file (past SQLite's lock-byte page). */
static uint32_t
new_page(struct gsr_graft *g)
{
	if (++g->n_pages == g->lock_page)
		++g->n_pages;
	return g->n_pages;
}

/* Write page as page pgno, by the buffer: 0 or -1. */
static int
append(struct gsr_graft *g, uint32_t pgno, const unsigned char *page)
{
	if (g->buf_n &&
	    (pgno != g->buf_first + g->buf_n || g->buf_n == g->buf_cap) &&
	    flush(g))
		return -1;
	if (g->buf_n == 0)
		g->buf_first = pgno;
	memcpy(g->buf + (size_t)g->buf_n++ * g->page_size, page, g->page_size);
	return 0;
}

/* ---- interior pages ---------------------------------------------------- */

/* Close the page of a level: its last child is its right child. */
static void
close_page(struct level *lv)
{
	unsigned char *p = lv->page;

	p[0] = 5;
	put_u16(p + 1, 0);
	put_u16(p + 3, lv->n_cells);
	put_u16(p + 5, lv->content == 65536 ? 0 : lv->content);
	p[7] = 0;
	put_u32(p + 8, lv->right);
}

/*
 * Give level l the next child, page child whose largest rowid is key.
 * The child before it becomes a cell; a page that has all its children
 * is closed and goes up to the next level as a child of its own, or is
 * the root at the top.  0 or -1.
 */
static int
add_child(struct gsr_graft *g, int l, uint32_t child, int64_t key)
{
	struct level *lv = &g->lv[l];
	uint32_t pgno;

	if (lv->got == 0) {
		memset(lv->page, 0, g->page_size);
		lv->n_cells = 0;
		lv->content = g->usable;
		lv->want = (uint32_t)((lv->rest + lv->pages_rest - 1) /
		                      lv->pages_rest);
	} else {
		unsigned char cell[4 + 9];
		uint32_t n = 4;

		put_u32(cell, lv->right);
		n +=
		    (uint32_t)gsr_varint_put(cell + 4, (uint64_t)lv->right_key);
		if (INTERIOR_HDR + 2 * (lv->n_cells + 1) + n > lv->content)
			return gsr_ctx_fail(g->ctx, GSR_ERR_INTERNAL,
			                    "graft: an interior page of '%s' "
			                    "overflows",
			                    g->path);
		lv->content -= n;
		memcpy(lv->page + lv->content, cell, n);
		put_u16(lv->page + INTERIOR_HDR + 2 * lv->n_cells, lv->content);
		lv->n_cells++;
	}
	lv->right = child;
	lv->right_key = key;
	if (++lv->got < lv->want)
		return 0;
	close_page(lv);
	lv->rest -= lv->got;
	lv->pages_rest--;
	lv->got = 0;
	if (l + 1 == g->depth) {
		g->root_page = lv->page;
		return 0;
	}
	pgno = new_page(g);
	if (append(g, pgno, lv->page))
		return -1;
	return add_child(g, l + 1, pgno, lv->right_key);
}

/* ---- the graft --------------------------------------------------------- */

/* Check the file and the root: 0 when the graft may go on, 1 when not,
 * -1 on an error. */
static int
check_file(struct gsr_graft *g)
{
	unsigned char b[GSR_SQLHDR_SIZE];
	struct gsr_sqlhdr h;
	struct stat st;
	uint64_t n;

	if (fstat(g->fd, &st) != 0)
		return io_fail(g, "read", errno);
	if (!S_ISREG(st.st_mode) || st.st_size < GSR_SQLHDR_SIZE)
		return 1;
	if (read_at(g, b, sizeof b, 0))
		return -1;
	if (!gsr_sqlhdr_is_sqlite(b, sizeof b))
		return 1;
	gsr_sqlhdr_decode(b, &h);
	n = (uint64_t)st.st_size / g->page_size;
	if (h.page_size != g->page_size ||
	    h.page_size - h.reserved != g->usable ||
	    (uint64_t)st.st_size % g->page_size != 0 || n != h.n_pages ||
	    n >= MAX_PAGES || h.version_valid_for != h.change_counter ||
	    h.autovacuum_root != 0 || h.write_version != 1 ||
	    h.read_version != 1)
		return 1;
	g->n_pages0 = g->n_pages = (uint32_t)n;
	g->lock_page = LOCK_BYTE / g->page_size + 1;
	if (g->root < 2 || g->root > g->n_pages || g->root == g->lock_page)
		return 1;
	if (read_at(g, g->leaf, g->page_size, page_off(g, g->root)))
		return -1;
	return g->leaf[0] == 13 && gsr_get_u16(g->leaf + 3) == 0 ? 0 : 1;
}

/* The levels above n_leaves leaves: 0, or 1 when the tree would be too
 * big. */
static int
plan_levels(struct gsr_graft *g)
{
	uint64_t fan = (g->usable - INTERIOR_HDR) / CELL_MAX + 1;
	uint64_t n = g->n_leaves, added = n > 1 ? n : 0;

	for (g->depth = 0; n > 1; g->depth++) {
		uint64_t pages = (n + fan - 1) / fan;

		if (g->depth == MAX_LEVELS)
			return 1;
		g->lv[g->depth].rest = n;
		g->lv[g->depth].pages_rest = pages;
		added += pages > 1 ? pages : 0;
		n = pages;
	}
	return g->n_pages0 + added + 1 < MAX_PAGES ? 0 : 1;
}

int
gsr_graft_begin(struct gsr_ctx *ctx, const char *path, uint32_t page_size,
                uint32_t usable, uint32_t root, uint64_t n_leaves,
                struct gsr_graft **out)
{
	struct gsr_graft *g;
	int rc = -1;

	*out = NULL;
	if (gsr_ctx_failed(ctx))
		return -1;
	if (!gsr_page_size_valid(page_size) || usable < 480 ||
	    usable > page_size || n_leaves == 0)
		return 1;
	if ((g = calloc(1, sizeof *g)) == NULL)
		return gsr_ctx_fail(ctx, GSR_ERR_NOMEM, "out of memory");
	*g = (struct gsr_graft){.ctx = ctx,
	                        .path = path,
	                        .fd = -1,
	                        .page_size = page_size,
	                        .usable = usable,
	                        .root = root,
	                        .n_leaves = n_leaves,
	                        .buf_cap = BUF_BYTES / page_size};
	if ((g->fd = open(path, O_RDWR | O_CLOEXEC)) < 0) {
		rc = io_fail(g, "write", errno);
		goto out;
	}
	if ((g->leaf = malloc(page_size)) == NULL ||
	    (g->buf = malloc(BUF_BYTES)) == NULL) {
		rc = gsr_ctx_fail(ctx, GSR_ERR_NOMEM, "out of memory");
		goto out;
	}
	if ((rc = check_file(g)) != 0 || (rc = plan_levels(g)) != 0)
		goto out;
	for (int l = 0; l < g->depth; l++)
		if ((g->lv[l].page = malloc(page_size)) == NULL) {
			rc = gsr_ctx_fail(ctx, GSR_ERR_NOMEM, "out of memory");
			goto out;
		}
	*out = g;
	return 0;
out:
	g->finished = true; /* nothing written */
	gsr_graft_end(g);
	return rc;
}

/* The rowids of the cells of leaf p (n of them, scrubbed and so in
 * bounds) rise, from above g->last_rowid: 0, else 1. */
static int
rowids_rise(struct gsr_graft *g, const unsigned char *p, uint32_t n)
{
	const unsigned char *end = p + g->usable;
	int64_t prev = g->last_rowid;
	bool any = g->leaves_in > 0;

	for (uint32_t i = 0; i < n; i++) {
		const unsigned char *c = p + gsr_get_u16(p + 8 + 2 * i);
		uint64_t payload, rowid;
		int k, k2;

		if ((k = gsr_varint_get(c, end, &payload)) == 0 ||
		    (k2 = gsr_varint_get(c + k, end, &rowid)) == 0 ||
		    (any && (int64_t)rowid <= prev))
			return 1;
		prev = (int64_t)rowid;
		any = true;
	}
	g->last_rowid = prev;
	return 0;
}

int
gsr_graft_leaf(struct gsr_graft *g, const unsigned char *page, uint32_t n_cells)
{
	uint32_t pgno;

	if (gsr_ctx_failed(g->ctx))
		return -1;
	if (g->leaves_in == g->n_leaves || n_cells == 0)
		return 1;
	memcpy(g->leaf, page, g->page_size);
	if (gsr_scrub_leaf(g->leaf, g->page_size, g->usable) ||
	    gsr_get_u16(g->leaf + 3) != n_cells ||
	    rowids_rise(g, g->leaf, n_cells))
		return 1;
	g->leaves_in++;
	if (g->depth == 0) {
		g->root_page = g->leaf;
		return 0;
	}
	pgno = new_page(g);
	if (append(g, pgno, g->leaf) || add_child(g, 0, pgno, g->last_rowid))
		return -1;
	return 0;
}

int
gsr_graft_finish(struct gsr_graft *g)
{
	unsigned char h[GSR_SQLHDR_SIZE];
	uint32_t counter;

	if (gsr_ctx_failed(g->ctx))
		return -1;
	if (g->leaves_in != g->n_leaves || g->root_page == NULL)
		return 1;
	if (flush(g) ||
	    write_at(g, g->root_page, g->page_size, page_off(g, g->root)) ||
	    read_at(g, h, sizeof h, 0))
		return -1;
	/* A connection that holds the file open sees the counter move and
	 * drops its cache; the page count is valid for that counter. */
	counter = gsr_get_u32(h + 24) + 1;
	put_u32(h + 24, counter);
	put_u32(h + 28, g->n_pages);
	put_u32(h + 92, counter);
	if (write_at(g, h, sizeof h, 0))
		return -1;
	g->finished = true;
	return 0;
}

int
gsr_graft_end(struct gsr_graft *g)
{
	int rc = 0;

	if (g == NULL)
		return 0;
	if (g->fd >= 0) {
		if (!g->finished &&
		    ftruncate(g->fd, (off_t)page_off(g, g->n_pages0 + 1)) != 0)
			rc = io_fail(g, "write", errno);
		if (close(g->fd) != 0 && rc == 0)
			rc = io_fail(g, "write", errno);
	}
	for (int l = 0; l < MAX_LEVELS; l++)
		free(g->lv[l].page);
	free(g->leaf);
	free(g->buf);
	free(g);
	return rc;
}
