/* fuzz_wal.c -- libFuzzer target: the WAL and rollback-journal readers and
 * the pagefile overlay.
 *
 * The input is [hint][split: 2 bytes, big-endian][database image][side
 * file]: the image is the bytes from offset 3 up to 3 + split modulo the
 * rest, the side file the bytes after it (it ends where the input ends, so
 * ASan sees a read past it).  The side file is opened as a WAL and as a
 * journal (with the image's page size as the hint), every slot or record
 * is read and checked against the info's counts, the lookups are checked
 * against the classes, and the state is laid over the image and walked
 * (sqlite_master, the roots it names, the freelist).  The byte hint gives
 * the image a page size (512 << (hint & 7)) when its header is unusable.
 * `make fuzz` builds and runs it.
 *
 * The seeds in fuzz/corpus-wal/ are made by fuzz/mkseeds-wal.sh with the
 * sqlite3 CLI: small databases in 512-byte pages with their -wal copied
 * while the connection was open (committed frames; uncommitted ones), or
 * with their -journal copied in the middle of a transaction spilled by a
 * tiny cache.
 */
#include "compat.h"
#include "btree.h"
#include "journal.h"
#include "pagefile.h"
#include "walfile.h"

#include <stdlib.h>

#define MAX_ROOTS 16
#define MAX_SLOTS 512

struct roots {
	uint32_t pgno[MAX_ROOTS];
	size_t n;
};

static volatile uint64_t sink;

static void
touch(const unsigned char *p, size_t n)
{
	/* The ends are enough for ASan to see a pointer out of its buffer. */
	if (n > 0)
		sink += p[0] + p[n - 1] + p[n / 2];
}

static int
touch_row(void *arg, const struct gsr_row *row)
{
	(void)arg;
	for (size_t i = 0; i < row->n_values; i++)
		if (row->values[i].type == GSR_V_TEXT ||
		    row->values[i].type == GSR_V_BLOB)
			touch(row->values[i].p, row->values[i].n);
	return 0;
}

static int
collect_roots(void *arg, const struct gsr_row *row)
{
	struct roots *r = arg;

	touch_row(NULL, row);
	if (row->n_values >= 4 && row->values[3].type == GSR_V_INT &&
	    row->values[3].i > 0 && row->values[3].i <= UINT32_MAX &&
	    r->n < MAX_ROOTS)
		r->pgno[r->n++] = (uint32_t)row->values[3].i;
	return 0;
}

/* Walk the state of pf: sqlite_master, its roots, the freelist. */
static void
walk_state(struct gsr_ctx *ctx, struct gsr_pagefile *pf)
{
	struct gsr_pagefile_info in;
	struct gsr_walk_stats st;
	struct roots roots = {{0}, 0};
	uint32_t *pages = NULL;
	size_t n = 0;

	gsr_pagefile_get_info(pf, &in);
	if (!gsr_page_size_valid(in.page_size) ||
	    in.usable_size > in.page_size || in.usable_size < 480)
		abort();
	gsr_btree_walk_table(ctx, pf, 1, collect_roots, &roots, &st);
	for (size_t i = 0; i < roots.n; i++) {
		gsr_btree_walk_table(ctx, pf, roots.pgno[i], touch_row, NULL,
		                     &st);
		gsr_btree_walk_index(ctx, pf, roots.pgno[i], touch_row, NULL,
		                     &st);
	}
	if (gsr_freelist_pages(ctx, pf, &pages, &n) == 0)
		for (size_t i = 0; i < n; i++)
			if (pages[i] == 0 || pages[i] > in.n_pages)
				abort();
	free(pages);
	for (uint32_t p = 1; p <= in.n_pages && p <= 64; p++) {
		const unsigned char *page = gsr_pagefile_page(pf, p);

		if (page != NULL)
			touch(page, in.page_size);
	}
}

static void
run_wal(const uint8_t *img, size_t img_size, const uint8_t *side,
        size_t side_size, uint32_t hint)
{
	struct gsr_ctx ctx = GSR_CTX_INIT;
	struct gsr_pagefile_info pin;
	struct gsr_pagefile *pf;
	struct gsr_wal_info in;
	struct gsr_wal_frame f;
	struct gsr_wal *wal;
	uint32_t counts[5] = {0};

	pf = gsr_pagefile_open_mem(&ctx, img, img_size, hint);
	if (pf == NULL)
		abort();
	gsr_pagefile_get_info(pf, &pin);
	wal = gsr_wal_open_mem(&ctx, side, side_size, pin.page_size);
	if (wal == NULL)
		abort();
	gsr_wal_get_info(wal, &in);
	if (in.n_current + in.n_old + in.n_uncommitted + in.n_stale +
	            in.n_garbage !=
	        in.n_slots ||
	    in.n_valid > in.n_slots || in.last_commit > in.n_valid ||
	    (in.last_commit == 0) != (in.db_pages == 0) ||
	    (in.header_ok && in.page_size != in.header_page_size) ||
	    (!in.header_ok && in.n_valid != 0))
		abort();
	for (uint32_t i = 1; i <= in.n_slots; i++) {
		if (i > MAX_SLOTS)
			break;
		if (gsr_wal_frame(wal, i, &f) != 0)
			abort(); /* memory never fails to read */
		touch(f.page, in.page_size);
		counts[f.cls]++;
		if ((f.cls == GSR_WAL_CURRENT) !=
		    (gsr_wal_lookup(wal, f.pgno) == i))
			abort();
	}
	if (in.n_slots <= MAX_SLOTS &&
	    (counts[GSR_WAL_CURRENT] != in.n_current ||
	     counts[GSR_WAL_OLD] != in.n_old ||
	     counts[GSR_WAL_UNCOMMITTED] != in.n_uncommitted ||
	     counts[GSR_WAL_STALE] != in.n_stale ||
	     counts[GSR_WAL_GARBAGE] != in.n_garbage))
		abort();
	if (gsr_wal_frame(wal, 0, &f) == 0 ||
	    gsr_wal_frame(wal, in.n_slots + 1, &f) == 0)
		abort();
	if (gsr_wal_attach(pf, wal) == GSR_ATTACH_OK) {
		gsr_pagefile_get_info(pf, &pin);
		if (pin.n_pages > in.db_pages)
			abort();
		walk_state(&ctx, pf);
	}
	if (gsr_ctx_failed(&ctx))
		abort(); /* memory inputs have no read errors */
	gsr_pagefile_close(pf);
	gsr_wal_close(wal);
}

static void
run_journal(const uint8_t *img, size_t img_size, const uint8_t *side,
            size_t side_size, uint32_t hint)
{
	struct gsr_ctx ctx = GSR_CTX_INIT;
	struct gsr_pagefile_info pin;
	struct gsr_pagefile *pf;
	struct gsr_journal_info in;
	struct gsr_journal_record r;
	struct gsr_journal *j;
	uint32_t valid = 0;

	pf = gsr_pagefile_open_mem(&ctx, img, img_size, hint);
	if (pf == NULL)
		abort();
	gsr_pagefile_get_info(pf, &pin);
	j = gsr_journal_open_mem(&ctx, side, side_size, pin.page_size);
	if (j == NULL)
		abort();
	gsr_journal_get_info(j, &in);
	if (in.n_valid > in.n_records || in.stop_record > in.n_records ||
	    in.hot != (in.header_ok && in.n_valid > 0))
		abort();
	for (uint32_t i = 1; i <= in.n_records; i++) {
		uint32_t first;

		if (i > MAX_SLOTS)
			break;
		if (gsr_journal_record(j, i, &r) != 0)
			abort();
		touch(r.page, in.page_size);
		valid += r.valid;
		first = gsr_journal_lookup(j, r.pgno);
		if (r.valid && (first == 0 || first > i))
			abort();
	}
	if (in.n_records <= MAX_SLOTS && valid != in.n_valid)
		abort();
	if (gsr_journal_record(j, 0, &r) == 0 ||
	    gsr_journal_record(j, in.n_records + 1, &r) == 0)
		abort();
	if (gsr_journal_attach(pf, j) == GSR_ATTACH_OK) {
		gsr_pagefile_get_info(pf, &pin);
		if (pin.n_pages > in.initial_pages)
			abort();
		walk_state(&ctx, pf);
	}
	if (gsr_ctx_failed(&ctx))
		abort();
	gsr_pagefile_close(pf);
	gsr_journal_close(j);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint32_t hint;
	size_t split;

	if (size < 3)
		return 0;
	hint = 512u << (data[0] & 7);
	split = 3 + ((size_t)data[1] << 8 | data[2]) % (size - 2);
	run_wal(data + 3, split - 3, data + split, size - split, hint);
	run_journal(data + 3, split - 3, data + split, size - split, hint);
	return 0;
}
