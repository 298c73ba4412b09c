/* fuzz_graft.c -- libFuzzer target: a table tree grafted from leaf pages.
 *
 * The input is cut into pages (4096 bytes when it is a multiple of 4096,
 * else 512; the seeds of fuzz/corpus/ serve), and its pages that start
 * like a table leaf are grafted, in order, onto the empty table of a
 * two-page database made here.  A graft refused must leave that database
 * as it was; one finished must be a tree the page reader walks without a
 * damaged page, delivering every cell of the leaves (as a row, or as a
 * damaged cell) with rising rowids.  It must never fail (-1: these
 * files are in memory).  `make fuzz` runs it.
 */
#include "compat.h"
#include "btree.h"
#include "graft.h"
#include "pagefile.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

enum { MAX_LEAVES = 64 };

static void
be(unsigned char *p, uint32_t v, int n)
{
	for (int i = n - 1; i >= 0; i--, v >>= 8)
		p[i] = (unsigned char)v;
}

/* A database of two pages of ps bytes: page 1 with its header and an
 * empty schema, page 2 an empty table leaf. */
static void
make_db(int fd, uint32_t ps)
{
	unsigned char *b = calloc(2, ps);

	if (b == NULL)
		abort();
	memcpy(b, "SQLite format 3", 16);
	be(b + 16, ps == 65536 ? 1 : ps, 2);
	b[18] = b[19] = 1;
	b[21] = 64;
	b[22] = b[23] = 32;
	be(b + 24, 1, 4);
	be(b + 28, 2, 4);
	be(b + 44, 4, 4);
	be(b + 56, 1, 4);
	be(b + 92, 1, 4);
	be(b + 96, 3040001, 4);
	b[100] = 13;
	be(b + 105, ps == 65536 ? 0 : ps, 2);
	b[ps] = 13;
	be(b + ps + 5, ps == 65536 ? 0 : ps, 2);
	if (pwrite(fd, b, 2 * (size_t)ps, 0) != 2 * (ssize_t)ps)
		abort();
	free(b);
}

struct seen {
	uint64_t rows;
	int64_t last;
};

static int
row_seen(void *arg, const struct gsr_row *row)
{
	struct seen *s = arg;

	if (s->rows++ && row->rowid <= s->last)
		abort();
	s->last = row->rowid;
	return 0;
}

/* The grafted tree: no damaged page, every cell delivered. */
static void
check_tree(int fd, uint32_t ps, uint64_t cells)
{
	struct gsr_ctx ctx = GSR_CTX_INIT;
	struct gsr_walk_stats ws;
	struct seen s = {0, 0};
	struct gsr_pagefile *pf;
	struct stat st;

	if (fstat(fd, &st) != 0 ||
	    (pf = gsr_pagefile_open_fd(&ctx, fd, (uint64_t)st.st_size, ps)) ==
	        NULL ||
	    gsr_btree_walk_table(&ctx, pf, 2, row_seen, &s, &ws) != 0 ||
	    ws.pages_damaged != 0 || ws.rows + ws.cells_damaged != cells)
		abort();
	gsr_pagefile_close(pf);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct gsr_ctx ctx = GSR_CTX_INIT;
	uint32_t ps = size && size % 4096 == 0 ? 4096 : 512;
	const uint8_t *leaf[MAX_LEAVES];
	size_t n = 0;
	uint64_t cells = 0;
	struct gsr_graft *g = NULL;
	char path[64];
	struct stat st;
	int fd = memfd_create("db", MFD_CLOEXEC), rc;

	if (fd < 0)
		abort();
	snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
	make_db(fd, ps);
	for (size_t off = 0; off + ps <= size && n < MAX_LEAVES; off += ps)
		if (data[off] == 13)
			leaf[n++] = data + off;
	if (n == 0) {
		close(fd);
		return 0;
	}
	if (gsr_graft_begin(&ctx, path, ps, ps, 2, n, &g) != 0)
		abort();
	rc = 0;
	for (size_t i = 0; rc == 0 && i < n; i++) {
		uint32_t c = (uint32_t)leaf[i][3] << 8 | leaf[i][4];

		rc = gsr_graft_leaf(g, leaf[i], c);
		cells += c;
	}
	if (rc == 0)
		rc = gsr_graft_finish(g);
	if (rc < 0 || gsr_graft_end(g) != 0 || fstat(fd, &st) != 0)
		abort();
	if (rc == 1 && st.st_size != 2 * (off_t)ps)
		abort();
	if (rc == 0)
		check_tree(fd, ps, cells);
	close(fd);
	return 0;
}
