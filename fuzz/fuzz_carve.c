/* fuzz_carve.c -- libFuzzer target: the carver of deleted rows.
 *
 * The input is a database image (the seeds of fuzz/corpus/ serve: they
 * have freeblocks and a freelist).  It is opened from memory and carved
 * whole (survey, freelist, every b-tree page) with three shapes: a
 * GPUStack-like models row (with an INTEGER PRIMARY KEY, an enum, JSON,
 * boolean and datetime checks), a loose shape that accepts anything, and
 * a one-column one, so that every path of the matcher runs.  Every byte
 * of every value delivered is touched for ASan, and encoded as an index
 * key (gsr_index_key_encode(), in UTF-8, UTF-16le or UTF-16be by page);
 * a rowid inferred from page order (order_rowids() in carve.c runs on
 * every table leaf in use) must not be one read from the bytes and must
 * follow a live rowid.  The index-entry reader
 * (gsr_index_rowid_at()) is then run at every offset of the first 64
 * pages, with the bytes there taken as a TEXT key of 1 to 8 bytes, so that
 * every reading (whole header, freeblock header, rowid type lost) is
 * tried on arbitrary bytes.  `make fuzz` runs it.
 */
#include "compat.h"
#include "carve.h"
#include "pagefile.h"

static volatile uint64_t sink;

static int
touch(void *arg, const struct gsr_carved *c)
{
	uint64_t sum = 0;

	(void)arg;
	for (size_t i = 0; i < c->n_values; i++) {
		sum += (uint64_t)c->values[i].type + (uint64_t)c->values[i].i;
		if (c->values[i].type == GSR_V_TEXT ||
		    c->values[i].type == GSR_V_BLOB)
			for (size_t k = 0; k < c->values[i].n; k++)
				sum += c->values[i].p[k];
	}
	{
		unsigned char sts[64 * 9], body[256];
		size_t sl = 0, n = c->n_values < 64 ? c->n_values : 64;
		size_t kl =
		    gsr_index_key_encode(c->values, n, c->pgno % 3 + 1, sts,
		                         sizeof sts, &sl, body, sizeof body);

		if (kl != (size_t)-1)
			for (size_t k = 0; k < kl; k++)
				sum += body[k];
	}
	/* A rowid inferred from page order is never one read from the
	 * bytes, and follows a live cell's rowid (at least 1). */
	if (c->rowid_from_order && (c->rowid_known || c->rowid < 2))
		abort();
	sink += sum + c->pgno + c->offset;
	return 0;
}

/* Every offset of the first pages as the body of an index entry. */
static void
index_entries(struct gsr_pagefile *pf)
{
	struct gsr_pagefile_info in;

	gsr_pagefile_get_info(pf, &in);
	for (uint32_t p = 1; p <= in.n_pages && p <= 64; p++) {
		const unsigned char *page = gsr_pagefile_page(pf, p);

		if (page == NULL)
			continue;
		for (uint32_t o = 0; o + 8 <= in.usable_size; o++) {
			unsigned char st =
			    (unsigned char)(13 + 2 * (1 + (page[o] & 7)));
			int64_t id;

			if (gsr_index_rowid_at(page, in.usable_size, o, &st, 1,
			                       1 + (page[o] & 7u), &id))
				sink += (uint64_t)id;
		}
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char *const sources[] = {"HUGGING_FACE", "OLLAMA_LIBRARY",
	                                      NULL};
	static const char *const *const enums[] = {NULL, sources, NULL,
	                                           NULL, NULL,    NULL};
	static const uint8_t allowed[] = {
	    GSR_ALLOW_NULL,
	    GSR_ALLOW_TEXT,
	    GSR_ALLOW_TEXT | GSR_ALLOW_NULL,
	    GSR_ALLOW_INT,
	    GSR_ALLOW_TEXT | GSR_ALLOW_NULL,
	    GSR_ALLOW_TEXT,
	};
	static const uint8_t checks[] = {
	    0, 0, GSR_CHECK_JSON, GSR_CHECK_BOOL, 0, GSR_CHECK_DATETIME};
	static const struct gsr_shape shapes[] = {
	    {"models", 6, 4, 0, allowed, enums, checks},
	    {"loose", 4, 0, -1, NULL, NULL, NULL},
	    {"one", 1, 0, -1, NULL, NULL, NULL},
	};
	struct gsr_ctx ctx = GSR_CTX_INIT;
	struct gsr_pagefile *pf;
	struct gsr_carver *cv;
	struct gsr_carve_stats st = {0};

	if (size > (4u << 20))
		return 0;
	pf = gsr_pagefile_open_mem(&ctx, data, size, 0);
	if (pf == NULL)
		return 0;
	cv = gsr_carver_new(&ctx, pf, shapes, 3);
	if (cv != NULL)
		gsr_carver_image(cv, touch, NULL, &st);
	gsr_carver_free(cv);
	index_entries(pf);
	gsr_pagefile_close(pf);
	return 0;
}
