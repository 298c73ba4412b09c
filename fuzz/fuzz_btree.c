/* fuzz_btree.c -- libFuzzer target: the page reader and the b-tree walker.
 *
 * The input is a database image.  It is opened from memory (the header,
 * or the page-size inference when the header is unusable), sqlite_master
 * is walked for the root pages, and every root is walked as a table and
 * as an index, touching every byte of every value delivered so that ASan
 * sees a value that points outside its buffer.  Then the freelist, page
 * classification and the pointer map; and the raw input is also fed to the
 * record layer alone (record.h): varints, records whole and cut short, page
 * headers, UTF-16.  `make fuzz` builds and runs it.
 *
 * The seeds in fuzz/corpus/ are small databases made with the sqlite3
 * CLI: a GPUStack-like models table (text, reals, blobs, a JSON value
 * that overflows, deleted rows, a unique index) in 512- and 1024-byte
 * pages, as UTF-8, UTF-16le and UTF-16be, with auto_vacuum=FULL (pointer
 * maps), with 32 reserved bytes (.filectrl reserve_bytes 32) and with a
 * freelist.
 */
#include "compat.h"
#include "btree.h"
#include "pagefile.h"
#include "record.h"

#include <stdlib.h>

#define MAX_ROOTS 32
#define MAX_PAGES 256

struct roots {
	uint32_t pgno[MAX_ROOTS];
	size_t n;
};

static volatile uint64_t sink;

static void
touch_values(const struct gsr_value *v, size_t n)
{
	uint64_t sum = 0;

	for (size_t i = 0; i < n; i++) {
		sum += (uint64_t)v[i].type + (uint64_t)v[i].i;
		if (v[i].type == GSR_V_TEXT || v[i].type == GSR_V_BLOB) {
			for (size_t k = 0; k < v[i].n; k++)
				sum += v[i].p[k];
		}
	}
	sink += sum;
}

static int
touch_row(void *arg, const struct gsr_row *row)
{
	(void)arg;
	touch_values(row->values, row->n_values);
	return 0;
}

/* sqlite_master rows: type, name, tbl_name, rootpage, sql. */
static int
collect_roots(void *arg, const struct gsr_row *row)
{
	struct roots *r = arg;

	touch_values(row->values, row->n_values);
	if (row->n_values >= 4 && row->values[3].type == GSR_V_INT &&
	    row->values[3].i > 0 && row->values[3].i <= UINT32_MAX &&
	    r->n < MAX_ROOTS)
		r->pgno[r->n++] = (uint32_t)row->values[3].i;
	return 0;
}

static void
decoders(const uint8_t *data, size_t size)
{
	struct gsr_value vals[16];
	unsigned char *out;
	uint64_t v;
	int n;

	if (size == 0)
		return;
	if (gsr_varint_get(data, data + size, &v) > 0)
		sink += v;
	for (uint32_t enc = 1; enc <= 3; enc++) {
		n = gsr_record_decode(data, size, vals, 16, enc);
		if (n > 0)
			touch_values(vals, n < 16 ? (size_t)n : 16);
		/* The same bytes as the first half of a longer record. */
		n = gsr_record_decode_part(data, (size + 1) / 2, size, vals, 16,
		                           enc);
		if (n > 0)
			touch_values(vals, n < 16 ? (size_t)n : 16);
	}
	/* The bytes as a page (page 1's header at 100 too). */
	if (size <= UINT32_MAX) {
		struct gsr_page_hdr h;

		for (uint32_t off = 0; off <= 100; off += 100) {
			sink += (uint64_t)gsr_btree_page_check(
			    data, (uint32_t)size, (uint32_t)size, off, true);
			if (gsr_page_hdr_parse(data, (uint32_t)size, off, &h))
				sink += h.n_cells + h.content + h.right;
		}
	}
	out = malloc(size / 2 * 3 + 1);
	if (out != NULL) {
		size_t len = gsr_utf16_to_utf8(data, size, size & 1, out);
		struct gsr_value v = {.type = GSR_V_TEXT,
		                      .p = data,
		                      .n = size,
		                      .truncated = (size & 2) != 0};
		bool bad;

		if (len != (size_t)-1)
			for (size_t k = 0; k < len; k++)
				sink += out[k];
		len = gsr_value_utf16_to_utf8(&v, size & 1, out, &bad);
		for (size_t k = 0; k < len; k++)
			sink += v.p[k];
		free(out);
	}
}

static void
walk_image(const uint8_t *data, size_t size, uint32_t hint)
{
	struct gsr_ctx ctx = GSR_CTX_INIT;
	struct gsr_pagefile_info in;
	struct gsr_pagefile *pf;
	struct gsr_walk_stats st;
	struct roots roots = {{0}, 0};
	uint32_t *pages = NULL, parent;
	uint8_t type;
	size_t n = 0;

	pf = gsr_pagefile_open_mem(&ctx, data, size, hint);
	if (pf == NULL)
		abort(); /* only allocation failure may fail */
	gsr_pagefile_get_info(pf, &in);
	if (!gsr_page_size_valid(in.page_size) ||
	    in.usable_size > in.page_size || in.usable_size < 480)
		abort();
	gsr_btree_walk_table(&ctx, pf, 1, collect_roots, &roots, &st);
	for (size_t i = 0; i < roots.n; i++) {
		gsr_btree_walk_table(&ctx, pf, roots.pgno[i], touch_row, NULL,
		                     &st);
		gsr_btree_walk_index(&ctx, pf, roots.pgno[i], touch_row, NULL,
		                     &st);
	}
	if (gsr_freelist_pages(&ctx, pf, &pages, &n) == 0) {
		for (size_t i = 0; i < n; i++)
			if (pages[i] == 0 || pages[i] > in.n_pages)
				abort();
	}
	free(pages);
	for (uint32_t p = 0; p <= in.n_pages && p < MAX_PAGES; p++) {
		sink += (uint64_t)gsr_btree_page_type(pf, p);
		sink += gsr_ptrmap_is_map_page(pf, p);
		if (gsr_ptrmap_get(pf, p, &type, &parent) == 0)
			sink += type + parent;
	}
	if (gsr_ctx_failed(&ctx))
		abort(); /* memory images have no read errors */
	gsr_pagefile_close(pf);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	decoders(data, size);
	walk_image(data, size, 0);
	/* The same bytes under a page size of the input's choosing, used
	 * when the header is unusable. */
	if (size > 0)
		walk_image(data, size, 512u << (data[size - 1] & 7));
	return 0;
}
