/* Unit tests of the WAL and rollback-journal readers and of the pagefile
 * overlay.
 *
 * First bytes made by hand: WAL and journal files built here with their
 * checksums, then every header field out of range, sizes at the exact
 * boundaries, frames and records that end the valid part in every way
 * SQLite knows, all in buffers of exactly their size so that ASan sees a
 * read past the end.  Then databases made with the SQLite library:
 *
 *  - a WAL database with several committed transactions (inserts, updates
 *    and deletes, values that overflow, a table created and one dropped),
 *    copied with its -wal while the connection is open; every table is
 *    walked through pagefile + gsr_wal_attach() and compared row by row
 *    with what SQLite reads from a copy of the two files, and the pages
 *    with the database SQLite leaves after checkpointing that copy.  The
 *    same for the database without its -wal, a WAL with uncommitted
 *    frames (a transaction spilled by a small cache), frames after a
 *    rolled-back transaction (same salts, broken chain), a WAL restarted
 *    after a checkpoint (the older generation's frames behind), a checksum
 *    broken in the middle, a truncated WAL, a garbage header and the
 *    other checksum byte order;
 *  - a rollback journal copied in the middle of a transaction whose
 *    pages were spilled to the database before COMMIT: the state rolled
 *    back through gsr_journal_attach() is compared with the database
 *    SQLite leaves after rolling the copy back, row by row and page by
 *    page; also with a record's checksum broken and truncated.
 */
#include "compat.h"
#include "walfile.h"
#include "journal.h"

#include <fcntl.h>
#include <sqlite3.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <setjmp.h>
#include <cmocka.h>

#include "btree.h"
#include "pagefile.h"
#include "sqlhdr.h"
#include "testlib.h"

static char tmpdir[256];
static int name_seq;

/* ---- WAL and journal files made by hand ------------------------------ */

static uint32_t
get_order(const unsigned char *p, bool be)
{
	return be ? gsr_get_u32(p)
	          : (uint32_t)p[3] << 24 | (uint32_t)p[2] << 16 |
	                (uint32_t)p[1] << 8 | p[0];
}

/* The WAL checksum (file format, section 4.2), written again here. */
static void
cksum(const unsigned char *p, size_t n, bool be, uint32_t s[2])
{
	for (size_t i = 0; i < n; i += 8) {
		s[0] += get_order(p + i, be) + s[1];
		s[1] += get_order(p + i + 4, be) + s[0];
	}
}

#define SALT1 0x11223344u
#define SALT2 0x55667788u

/* Give the WAL in buf the magic of byte order be and recompute the
 * header's checksum and the chain of frames 1..n_frames (the others are
 * left alone). */
static void
rechain(unsigned char *buf, uint32_t ps, bool be, uint32_t n_frames)
{
	uint32_t s[2] = {0, 0};

	put_u32(buf, be ? GSR_WAL_MAGIC_BE : GSR_WAL_MAGIC_LE);
	cksum(buf, 24, be, s);
	put_u32(buf + 24, s[0]);
	put_u32(buf + 28, s[1]);
	for (uint32_t i = 0; i < n_frames; i++) {
		unsigned char *f = buf + 32 + (size_t)i * (ps + 24);

		cksum(f, 8, be, s);
		cksum(f + 24, ps, be, s);
		put_u32(f + 16, s[0]);
		put_u32(f + 20, s[1]);
	}
}

struct wframe {
	uint32_t pgno, commit;
};

/* A WAL of page size ps with the given frames; page i of it is filled
 * with byte i + 1 and its first 4 bytes are the page number. */
static unsigned char *
make_wal(uint32_t ps, bool be, const struct wframe *fr, size_t n, size_t *size)
{
	unsigned char *buf;

	*size = 32 + n * (ps + 24);
	buf = calloc(1, *size);
	assert_non_null(buf);
	put_u32(buf + 4, GSR_WAL_VERSION);
	put_u32(buf + 8, ps);
	put_u32(buf + 12, 7);
	put_u32(buf + 16, SALT1);
	put_u32(buf + 20, SALT2);
	for (size_t i = 0; i < n; i++) {
		unsigned char *f = buf + 32 + i * (ps + 24);

		put_u32(f, fr[i].pgno);
		put_u32(f + 4, fr[i].commit);
		put_u32(f + 8, SALT1);
		put_u32(f + 12, SALT2);
		memset(f + 24, (int)(i + 1), ps);
		put_u32(f + 24, fr[i].pgno);
	}
	rechain(buf, ps, be, (uint32_t)n);
	return buf;
}

static struct gsr_wal *
wal_exact(struct gsr_ctx *ctx, const unsigned char *buf, size_t size,
          uint32_t hint, unsigned char **copy)
{
	struct gsr_wal *wal;

	*copy = exact_copy(buf, size);
	wal = gsr_wal_open_mem(ctx, *copy, size, hint);
	assert_non_null(wal);
	return wal;
}

static void
expect_class(struct gsr_wal *wal, uint32_t frame, enum gsr_wal_class cls,
             uint32_t pgno)
{
	struct gsr_wal_frame f;

	assert_int_equal(gsr_wal_frame(wal, frame, &f), 0);
	assert_int_equal(f.cls, cls);
	assert_int_equal(f.pgno, pgno);
	assert_non_null(f.page);
}

static void
wal_synthetic(void **state)
{
	static const struct wframe fr[] = {
	    {1, 0}, {2, 0}, {3, 3}, /* commit: 3 pages */
	    {2, 0}, {4, 4},         /* commit: 2 again, 4 new */
	    {4, 0}, {1, 0},         /* uncommitted */
	};
	struct gsr_ctx ctx = GSR_CTX_INIT;
	struct gsr_wal_info in;
	struct gsr_wal_frame f;
	struct gsr_wal *wal;
	unsigned char *buf, *c;
	size_t size;

	(void)state;
	for (int be = 0; be <= 1; be++) {
		buf = make_wal(512, be, fr, GSR_ARRAY_LEN(fr), &size);
		wal = wal_exact(&ctx, buf, size, 0, &c);
		gsr_wal_get_info(wal, &in);
		assert_true(in.header_ok);
		assert_true(in.magic_ok);
		assert_true(in.header_cksum_ok);
		assert_int_equal(in.big_endian, be);
		assert_int_equal(in.page_size, 512);
		assert_false(in.page_size_hinted);
		assert_int_equal(in.checkpoint_seq, 7);
		assert_int_equal(in.salt1, SALT1);
		assert_int_equal(in.salt2, SALT2);
		assert_int_equal(in.n_slots, 7);
		assert_int_equal(in.tail_bytes, 0);
		assert_int_equal(in.n_valid, 7);
		assert_int_equal(in.last_commit, 5);
		assert_int_equal(in.db_pages, 4);
		assert_int_equal(in.n_current, 4);
		assert_int_equal(in.n_old, 1);
		assert_int_equal(in.n_uncommitted, 2);
		assert_int_equal(in.n_stale, 0);
		assert_int_equal(in.n_garbage, 0);
		assert_int_equal(in.max_current_pgno, 4);
		expect_class(wal, 1, GSR_WAL_CURRENT, 1);
		expect_class(wal, 2, GSR_WAL_OLD, 2);
		expect_class(wal, 3, GSR_WAL_CURRENT, 3);
		expect_class(wal, 4, GSR_WAL_CURRENT, 2);
		expect_class(wal, 5, GSR_WAL_CURRENT, 4);
		expect_class(wal, 6, GSR_WAL_UNCOMMITTED, 4);
		expect_class(wal, 7, GSR_WAL_UNCOMMITTED, 1);
		assert_int_equal(gsr_wal_frame(wal, 5, &f), 0);
		assert_int_equal(f.commit_size, 4);
		assert_int_equal(f.salt1, SALT1);
		assert_int_equal(f.page[100], 5);
		assert_int_equal(gsr_wal_lookup(wal, 1), 1);
		assert_int_equal(gsr_wal_lookup(wal, 2), 4);
		assert_int_equal(gsr_wal_lookup(wal, 3), 3);
		assert_int_equal(gsr_wal_lookup(wal, 4), 5);
		assert_int_equal(gsr_wal_lookup(wal, 5), 0);
		assert_int_equal(gsr_wal_lookup(wal, 0), 0);
		assert_int_equal(gsr_wal_frame(wal, 0, &f), -1);
		assert_null(f.page);
		assert_int_equal(gsr_wal_frame(wal, 8, &f), -1);
		assert_int_equal(gsr_wal_frame(wal, UINT32_MAX, &f), -1);
		gsr_wal_close(wal);
		free(c);

		/* The other byte order's magic on the same checksums: the
		 * header checksum fails, nothing is valid, and without a
		 * hint the header's page size lays out the slots. */
		put_u32(buf, be ? GSR_WAL_MAGIC_LE : GSR_WAL_MAGIC_BE);
		wal = wal_exact(&ctx, buf, size, 0, &c);
		gsr_wal_get_info(wal, &in);
		assert_false(in.header_ok);
		assert_true(in.magic_ok);
		assert_false(in.header_cksum_ok);
		assert_int_equal(in.page_size, 512);
		assert_int_equal(in.n_slots, 7);
		assert_int_equal(in.n_valid, 0);
		assert_int_equal(in.n_stale, 7);
		assert_int_equal(gsr_wal_lookup(wal, 1), 0);
		expect_class(wal, 1, GSR_WAL_STALE, 1);
		gsr_wal_close(wal);
		free(c);
		free(buf);
	}
	assert_false(gsr_ctx_failed(&ctx));
}

/* The prefix ends at frame 3 in each way SQLite knows. */
static void
wal_prefix_ends(void **state)
{
	static const struct wframe fr[] = {
	    {1, 0}, {2, 2}, {3, 0}, {4, 4}, {5, 5},
	};
	struct gsr_ctx ctx = GSR_CTX_INIT;
	struct gsr_wal_info in;
	struct gsr_wal *wal;
	unsigned char *buf, *c;
	size_t size, slot = 512 + 24;

	(void)state;
	for (int how = 0; how < 6; how++) {
		unsigned char *f3;
		uint32_t stale = 3, garbage = 0;

		buf = make_wal(512, false, fr, GSR_ARRAY_LEN(fr), &size);
		f3 = buf + 32 + 2 * slot;
		switch (how) {
		case 0: /* salt-1 of another generation */
			put_u32(f3 + 8, SALT1 + 1);
			rechain(buf, 512, false, 5);
			break;
		case 1: /* salt-2 */
			put_u32(f3 + 12, 0);
			rechain(buf, 512, false, 5);
			break;
		case 2: /* a byte of the page */
			f3[24 + 511] ^= 1;
			break;
		case 3: /* the stored checksum */
			f3[23] ^= 0x80;
			break;
		case 4: /* page number 0, even with a right checksum */
			put_u32(f3, 0);
			rechain(buf, 512, false, 5);
			stale = 2;
			garbage = 1;
			break;
		default: /* an implausible page number, chain broken */
			put_u32(f3, 0x80000001u);
			stale = 2;
			garbage = 1;
			break;
		}
		wal = wal_exact(&ctx, buf, size, 0, &c);
		gsr_wal_get_info(wal, &in);
		assert_true(in.header_ok);
		assert_int_equal(in.n_slots, 5);
		assert_int_equal(in.n_valid, 2);
		assert_int_equal(in.last_commit, 2);
		assert_int_equal(in.db_pages, 2);
		assert_int_equal(in.n_current, 2);
		assert_int_equal(in.n_uncommitted, 0);
		assert_int_equal(in.n_stale, stale);
		assert_int_equal(in.n_garbage, garbage);
		assert_int_equal(gsr_wal_lookup(wal, 3), 0);
		assert_int_equal(gsr_wal_lookup(wal, 4), 0);
		expect_class(wal, 3, garbage ? GSR_WAL_GARBAGE : GSR_WAL_STALE,
		             gsr_get_u32(f3));
		expect_class(wal, 4, GSR_WAL_STALE, 4);
		expect_class(wal, 5, GSR_WAL_STALE, 5);
		gsr_wal_close(wal);
		free(c);
		free(buf);
	}
	/* A huge page number inside a valid chain: SQLite takes it. */
	buf = make_wal(512, false, fr, GSR_ARRAY_LEN(fr), &size);
	put_u32(buf + 32 + 2 * slot, 0xfffffffeu);
	rechain(buf, 512, false, 5);
	wal = wal_exact(&ctx, buf, size, 0, &c);
	gsr_wal_get_info(wal, &in);
	assert_int_equal(in.n_valid, 5);
	assert_int_equal(in.last_commit, 5);
	assert_int_equal(gsr_wal_lookup(wal, 0xfffffffeu), 3);
	assert_int_equal(in.max_current_pgno, 0xfffffffeu);
	gsr_wal_close(wal);
	free(c);
	free(buf);
	assert_false(gsr_ctx_failed(&ctx));
}

static void
wal_header_fields(void **state)
{
	static const struct wframe fr[] = {{1, 1}, {2, 2}};
	static const uint32_t bad_ps[] = {
	    0, 1, 256, 511, 513, 3000, 131072, 0x80000000u, 0xffffffffu};
	struct gsr_ctx ctx = GSR_CTX_INIT;
	struct gsr_wal_info in;
	struct gsr_wal *wal;
	unsigned char *buf, *c;
	size_t size;

	(void)state;
	/* Bad magics: no slots without a hint, all STALE with one. */
	buf = make_wal(1024, false, fr, 2, &size);
	put_u32(buf, 0x377f0684u);
	wal = wal_exact(&ctx, buf, size, 0, &c);
	gsr_wal_get_info(wal, &in);
	assert_false(in.magic_ok);
	assert_false(in.header_ok);
	assert_int_equal(in.page_size, 0);
	assert_int_equal(in.n_slots, 0);
	assert_int_equal(in.tail_bytes, size - 32);
	gsr_wal_close(wal);
	free(c);
	wal = wal_exact(&ctx, buf, size, 1024, &c);
	gsr_wal_get_info(wal, &in);
	assert_int_equal(in.page_size, 1024);
	assert_true(in.page_size_hinted);
	assert_int_equal(in.n_slots, 2);
	assert_int_equal(in.n_stale, 2);
	assert_int_equal(in.last_commit, 0);
	gsr_wal_close(wal);
	free(c);
	/* A hint of the wrong size: other slots, still nothing valid. */
	wal = wal_exact(&ctx, buf, size, 512, &c);
	gsr_wal_get_info(wal, &in);
	assert_int_equal(in.n_slots, (size - 32) / 536);
	assert_int_equal(in.n_valid, 0);
	gsr_wal_close(wal);
	free(c);
	/* An invalid hint is no hint. */
	wal = wal_exact(&ctx, buf, size, 1000, &c);
	gsr_wal_get_info(wal, &in);
	assert_int_equal(in.n_slots, 0);
	gsr_wal_close(wal);
	free(c);
	free(buf);

	/* The version: SQLite refuses the WAL. */
	buf = make_wal(1024, true, fr, 2, &size);
	put_u32(buf + 4, GSR_WAL_VERSION + 1);
	rechain(buf, 1024, true, 2);
	wal = wal_exact(&ctx, buf, size, 0, &c);
	gsr_wal_get_info(wal, &in);
	assert_true(in.magic_ok);
	assert_true(in.header_cksum_ok);
	assert_false(in.header_ok);
	assert_int_equal(in.version, GSR_WAL_VERSION + 1);
	assert_int_equal(in.n_slots, 2);
	assert_int_equal(in.n_valid, 0);
	assert_int_equal(in.n_stale, 2);
	gsr_wal_close(wal);
	free(c);
	free(buf);

	/* Page sizes out of range, with a right header checksum. */
	for (size_t i = 0; i < GSR_ARRAY_LEN(bad_ps); i++) {
		buf = make_wal(1024, false, fr, 2, &size);
		put_u32(buf + 8, bad_ps[i]);
		rechain(buf, 1024, false, 0);
		wal = wal_exact(&ctx, buf, size, 0, &c);
		gsr_wal_get_info(wal, &in);
		assert_false(in.header_ok);
		assert_true(in.header_cksum_ok);
		assert_int_equal(in.header_page_size, bad_ps[i]);
		assert_int_equal(in.page_size, 0);
		assert_int_equal(in.n_slots, 0);
		gsr_wal_close(wal);
		free(c);
		free(buf);
	}
	/* The largest page size. */
	buf = make_wal(65536, false, fr, 2, &size);
	wal = wal_exact(&ctx, buf, size, 0, &c);
	gsr_wal_get_info(wal, &in);
	assert_true(in.header_ok);
	assert_int_equal(in.page_size, 65536);
	assert_int_equal(in.n_valid, 2);
	assert_int_equal(in.db_pages, 2);
	gsr_wal_close(wal);
	free(c);
	free(buf);
	assert_false(gsr_ctx_failed(&ctx));
}

static void
wal_sizes(void **state)
{
	static const struct wframe fr[] = {{1, 0}, {2, 2}};
	struct gsr_ctx ctx = GSR_CTX_INIT;
	struct gsr_wal_info in;
	struct gsr_wal *wal;
	unsigned char *buf, *c;
	size_t size, slot = 4096 + 24;

	(void)state;
	buf = make_wal(4096, false, fr, 2, &size);
	/* Every length from 0 to the whole file at the boundaries. */
	for (size_t len = 0; len <= size; len++) {
		uint32_t slots = len < 32 ? 0 : (uint32_t)((len - 32) / slot);

		if (len > 40 && len < size - 8 && (len - 32) % slot > 8 &&
		    (len - 32) % slot < slot - 8)
			continue; /* the middle of a frame: nothing new */
		wal = wal_exact(&ctx, buf, len, 0, &c);
		gsr_wal_get_info(wal, &in);
		assert_int_equal(in.header_ok, len >= 32);
		assert_int_equal(in.n_slots, slots);
		assert_int_equal(in.n_valid, slots);
		assert_int_equal(in.last_commit, slots == 2 ? 2 : 0);
		assert_int_equal(in.n_uncommitted, slots == 1 ? 1 : 0);
		assert_int_equal(in.tail_bytes,
		                 len < 32 ? len : (len - 32) % slot);
		for (uint32_t k = 1; k <= slots; k++) {
			struct gsr_wal_frame f;

			assert_int_equal(gsr_wal_frame(wal, k, &f), 0);
			assert_int_equal(f.page[4095], k);
		}
		gsr_wal_close(wal);
		free(c);
	}
	/* NULL buffers, NULL WAL. */
	wal = gsr_wal_open_mem(&ctx, NULL, 100, 0);
	gsr_wal_get_info(wal, &in);
	assert_int_equal(in.n_slots, 0);
	assert_int_equal(in.tail_bytes, 0);
	gsr_wal_close(wal);
	gsr_wal_close(NULL);
	assert_int_equal(gsr_wal_lookup(NULL, 1), 0);
	free(buf);
	/* After an error: NULL. */
	gsr_ctx_fail(&ctx, GSR_ERR_IO, "earlier");
	assert_null(gsr_wal_open_mem(&ctx, "", 0, 0));
	assert_string_equal(ctx.msg, "earlier");
}

/* ---- the overlay ----------------------------------------------------- */

struct fake_overlay {
	unsigned char page[1024];
	uint32_t have;    /* the page number it supplies */
	uint32_t damaged; /* the page number it cannot read */
	unsigned calls;
};

static const unsigned char *
fake_page(void *arg, uint32_t pgno)
{
	struct fake_overlay *o = arg;

	o->calls++;
	if (pgno == o->damaged)
		return GSR_PAGEFILE_DAMAGED;
	return pgno == o->have ? o->page : NULL;
}

/* A database image of n pages of ps bytes, page i filled with 0xa0 +
 * i - 1, page 1 with a header. */
static unsigned char *
make_image_ps(uint32_t n, uint32_t ps)
{
	unsigned char *img = calloc(n, ps);

	assert_non_null(img);
	for (uint32_t i = 0; i < n; i++)
		memset(img + (size_t)i * ps, (int)(0xa0 + i), ps);
	memcpy(img, "SQLite format 3", 16);
	img[16] = (unsigned char)(ps >> 8);
	img[17] = (unsigned char)ps;
	img[20] = 0;
	put_u32(img + 28, n);
	put_u32(img + 32, 0);
	put_u32(img + 36, 0);
	put_u32(img + 52, 0);
	put_u32(img + 56, 1);
	return img;
}

static unsigned char *
make_image(uint32_t n)
{
	return make_image_ps(n, 1024);
}

static void
overlay_basics(void **state)
{
	struct gsr_ctx ctx = GSR_CTX_INIT;
	struct gsr_pagefile_info in, orig;
	struct gsr_pagefile *pf;
	struct fake_overlay o;
	unsigned char *img = make_image(4);

	(void)state;
	memset(&o, 0, sizeof o);
	pf = gsr_pagefile_open_mem(&ctx, img, 4 * 1024, 0);
	gsr_pagefile_get_info(pf, &orig);
	assert_true(orig.header_ok);
	assert_int_equal(orig.n_pages, 4);

	/* Page 3 from the overlay, 2 damaged, 6 beyond the image. */
	memset(o.page, 0x33, sizeof o.page);
	o.have = 3;
	o.damaged = 2;
	gsr_pagefile_set_overlay(pf, fake_page, &o, 6);
	gsr_pagefile_get_info(pf, &in);
	assert_int_equal(in.n_pages, 6);
	assert_int_equal(in.header_pages, 4); /* page 1 is the image's */
	assert_true(gsr_pagefile_page(pf, 3) == o.page);
	assert_null(gsr_pagefile_page(pf, 2));
	assert_int_equal(gsr_pagefile_page(pf, 4)[10], 0xa3);
	assert_null(gsr_pagefile_page(pf, 5));
	assert_null(gsr_pagefile_page(pf, 6));
	assert_null(gsr_pagefile_page(pf, 7));
	assert_null(gsr_pagefile_page(pf, 0));

	/* Fewer pages than the image. */
	gsr_pagefile_set_overlay(pf, fake_page, &o, 2);
	gsr_pagefile_get_info(pf, &in);
	assert_int_equal(in.n_pages, 2);
	assert_null(gsr_pagefile_page(pf, 3));
	assert_null(gsr_pagefile_page(pf, 4));
	assert_non_null(gsr_pagefile_page(pf, 1));

	/* Page 1 from the overlay: its header fields are taken. */
	memcpy(o.page, img, 100);
	put_u32(o.page + 28, 9);
	put_u32(o.page + 32, 5);
	put_u32(o.page + 36, 2);
	o.page[20] = 24;
	o.have = 1;
	gsr_pagefile_set_overlay(pf, fake_page, &o, 9);
	gsr_pagefile_get_info(pf, &in);
	assert_int_equal(in.n_pages, 9);
	assert_int_equal(in.header_pages, 9);
	assert_int_equal(in.freelist_trunk, 5);
	assert_int_equal(in.freelist_count, 2);
	assert_int_equal(in.reserved, 24);
	assert_int_equal(in.usable_size, 1000);
	assert_true(in.header_ok);
	/* ... unless its page size differs. */
	o.page[16] = 0x02;
	gsr_pagefile_set_overlay(pf, fake_page, &o, 9);
	gsr_pagefile_get_info(pf, &in);
	assert_int_equal(in.header_pages, 4);
	assert_int_equal(in.reserved, 0);
	assert_int_equal(in.n_pages, 9);

	/* Removed: the image's info again, the overlay not asked. */
	gsr_pagefile_set_overlay(pf, NULL, &o, 9);
	gsr_pagefile_get_info(pf, &in);
	assert_memory_equal(&in, &orig, sizeof in);
	o.calls = 0;
	assert_int_equal(gsr_pagefile_page(pf, 1)[200], 0xa0);
	assert_int_equal(o.calls, 0);
	gsr_pagefile_set_overlay(NULL, fake_page, &o, 1);
	gsr_pagefile_close(pf);
	free(img);
	assert_false(gsr_ctx_failed(&ctx));
}

static void
wal_attach_synthetic(void **state)
{
	static const struct wframe fr[] = {
	    {2, 0},
	    {6, 6},
	    {2, 0},
	    {3, 0},
	};
	struct gsr_ctx ctx = GSR_CTX_INIT;
	struct gsr_pagefile_info in;
	struct gsr_pagefile *pf;
	struct gsr_wal *wal;
	unsigned char *img = make_image(4), *buf, *c;
	size_t size;

	(void)state;
	pf = gsr_pagefile_open_mem(&ctx, img, 4 * 1024, 0);
	/* Page sizes that differ: nothing changes. */
	buf = make_wal(512, false, fr, 4, &size);
	wal = wal_exact(&ctx, buf, size, 0, &c);
	assert_int_equal(gsr_wal_attach(pf, wal), GSR_ATTACH_PAGE_SIZE);
	gsr_pagefile_get_info(pf, &in);
	assert_int_equal(in.n_pages, 4);
	gsr_wal_close(wal);
	free(c);
	free(buf);

	buf = make_wal(1024, false, fr, 4, &size);
	wal = wal_exact(&ctx, buf, size, 0, &c);
	assert_int_equal(gsr_wal_attach(pf, wal), GSR_ATTACH_OK);
	gsr_pagefile_get_info(pf, &in);
	assert_int_equal(in.n_pages, 6);
	assert_int_equal(gsr_pagefile_page(pf, 1)[500], 0xa0);
	assert_int_equal(gsr_pagefile_page(pf, 2)[500], 1);
	assert_int_equal(gsr_pagefile_page(pf, 3)[500], 0xa2);
	assert_null(gsr_pagefile_page(pf, 5));
	assert_int_equal(gsr_pagefile_page(pf, 6)[500], 2);
	gsr_pagefile_set_overlay(pf, NULL, NULL, 0);
	gsr_wal_close(wal);
	free(c);

	free(buf);
	/* A commit of 2^32 - 1 pages: n_pages is capped at what the image
	 * and the frames can give. */
	{
		static const struct wframe big[] = {{9, 0xffffffffu}};

		buf = make_wal(1024, true, big, 1, &size);
		wal = wal_exact(&ctx, buf, size, 0, &c);
		assert_int_equal(gsr_wal_attach(pf, wal), GSR_ATTACH_OK);
		gsr_pagefile_get_info(pf, &in);
		assert_int_equal(in.n_pages, 9);
		assert_null(gsr_pagefile_page(pf, 8));
		assert_int_equal(gsr_pagefile_page(pf, 9)[8], 1);
		gsr_wal_close(wal);
		free(c);
		free(buf);
	}
	/* No commit: nothing to attach, the previous overlay stays. */
	{
		static const struct wframe none[] = {{1, 0}, {2, 0}};

		buf = make_wal(1024, false, none, 2, &size);
		wal = wal_exact(&ctx, buf, size, 0, &c);
		assert_int_equal(gsr_wal_attach(pf, wal), GSR_ATTACH_NOTHING);
		gsr_pagefile_get_info(pf, &in);
		assert_int_equal(in.n_pages, 9);
		gsr_pagefile_set_overlay(pf, NULL, NULL, 0);
		gsr_wal_close(wal);
		free(c);
		free(buf);
	}
	assert_int_equal(gsr_wal_attach(NULL, NULL), GSR_ATTACH_NOTHING);
	gsr_pagefile_close(pf);
	free(img);
	assert_false(gsr_ctx_failed(&ctx));
}

/* ---- journals made by hand ------------------------------------------- */

static const unsigned char jmagic[8] = {0xd9, 0xd5, 0x05, 0xf9,
                                        0x20, 0xa1, 0x63, 0xd7};

struct jbuild {
	unsigned char *buf;
	size_t len, cap;
	uint32_t ps, sector, nonce;
};

static void
jb_room(struct jbuild *jb, size_t n)
{
	if (jb->len + n > jb->cap) {
		jb->cap = (jb->len + n) * 2;
		jb->buf = realloc(jb->buf, jb->cap);
		assert_non_null(jb->buf);
	}
}

/* SQLite's pager_cksum(), written again here. */
static uint32_t
jcksum(uint32_t nonce, const unsigned char *page, uint32_t ps)
{
	for (int i = (int)ps - 200; i > 0; i -= 200)
		nonce += page[i];
	return nonce;
}

/* A header at the next sector boundary: nrec, nonce, initial size, and
 * the sector and page sizes of jb. */
static void
jb_header(struct jbuild *jb, uint32_t nrec, uint32_t nonce, uint32_t dbsize)
{
	size_t at = (jb->len + jb->sector - 1) / jb->sector * jb->sector;

	jb_room(jb, at + jb->sector - jb->len);
	memset(jb->buf + jb->len, 0, at + jb->sector - jb->len);
	memcpy(jb->buf + at, jmagic, 8);
	put_u32(jb->buf + at + 8, nrec);
	put_u32(jb->buf + at + 12, nonce);
	put_u32(jb->buf + at + 16, dbsize);
	put_u32(jb->buf + at + 20, jb->sector);
	put_u32(jb->buf + at + 24, jb->ps);
	jb->len = at + jb->sector;
	jb->nonce = nonce;
}

/* A record of page pgno filled with fill (its first 4 bytes the page
 * number), its checksum off by one when bad. */
static void
jb_record(struct jbuild *jb, uint32_t pgno, unsigned char fill, bool bad)
{
	unsigned char *r;

	jb_room(jb, jb->ps + 8);
	r = jb->buf + jb->len;
	put_u32(r, pgno);
	memset(r + 4, fill, jb->ps);
	put_u32(r + 4, pgno);
	put_u32(r + 4 + jb->ps, jcksum(jb->nonce, r + 4, jb->ps) + bad);
	jb->len += jb->ps + 8;
}

static struct gsr_journal *
journal_exact(struct gsr_ctx *ctx, const struct jbuild *jb, size_t len,
              uint32_t hint, unsigned char **copy)
{
	struct gsr_journal *j;

	*copy = exact_copy(jb->buf, len);
	j = gsr_journal_open_mem(ctx, *copy, len, hint);
	assert_non_null(j);
	return j;
}

static void
expect_record(struct gsr_journal *j, uint32_t rec_no, uint32_t pgno,
              uint32_t segment, bool valid, unsigned char fill)
{
	struct gsr_journal_record r;

	assert_int_equal(gsr_journal_record(j, rec_no, &r), 0);
	assert_int_equal(r.pgno, pgno);
	assert_int_equal(r.segment, segment);
	assert_int_equal(r.valid, valid);
	assert_non_null(r.page);
	assert_int_equal(r.page[100], fill);
}

static void
journal_synthetic(void **state)
{
	struct jbuild jb = {NULL, 0, 0, 512, 512, 0};
	struct gsr_ctx ctx = GSR_CTX_INIT;
	struct gsr_journal_info in;
	struct gsr_journal_record r;
	struct gsr_pagefile_info pin;
	struct gsr_pagefile *pf;
	struct gsr_journal *j;
	unsigned char *c, *img = make_image_ps(6, 512);

	(void)state;
	jb_header(&jb, 3, 0x1234, 5);
	jb_record(&jb, 1, 0x11, false);
	jb_record(&jb, 2, 0x12, false);
	jb_record(&jb, 3, 0x13, false);
	jb_header(&jb, 2, 0xabcdef, 99);
	jb_record(&jb, 2, 0x22, false);
	jb_record(&jb, 4, 0x24, false);
	j = journal_exact(&ctx, &jb, jb.len, 0, &c);
	gsr_journal_get_info(j, &in);
	assert_true(in.header_ok);
	assert_true(in.hot);
	assert_int_equal(in.page_size, 512);
	assert_int_equal(in.sector_size, 512);
	assert_int_equal(in.nonce, 0x1234);
	assert_int_equal(in.initial_pages, 5);
	assert_int_equal(in.first_nrec, 3);
	assert_int_equal(in.n_segments, 2);
	assert_int_equal(in.n_records, 5);
	assert_int_equal(in.n_valid, 5);
	assert_int_equal(in.stop_record, 0);
	assert_false(in.truncated);
	assert_int_equal(in.max_valid_pgno, 4);
	expect_record(j, 1, 1, 1, true, 0x11);
	expect_record(j, 3, 3, 1, true, 0x13);
	expect_record(j, 4, 2, 2, true, 0x22);
	expect_record(j, 5, 4, 2, true, 0x24);
	assert_int_equal(gsr_journal_record(j, 4, &r), 0);
	assert_true(r.cksum_ok);
	/* Segment 1 ends at 512 + 3 * 520 = 2072; header 2 at 2560. */
	assert_int_equal(r.offset, 3072);
	/* The first record of a page is its original content. */
	assert_int_equal(gsr_journal_lookup(j, 2), 2);
	assert_int_equal(gsr_journal_lookup(j, 4), 5);
	assert_int_equal(gsr_journal_lookup(j, 5), 0);
	assert_int_equal(gsr_journal_lookup(j, 0), 0);
	assert_int_equal(gsr_journal_record(j, 0, &r), -1);
	assert_null(r.page);
	assert_int_equal(gsr_journal_record(j, 6, &r), -1);

	/* The rolled-back state over an image of 6 pages: 5 pages. */
	pf = gsr_pagefile_open_mem(&ctx, img, 6 * 512, 0);
	assert_int_equal(gsr_journal_attach(pf, j), GSR_ATTACH_OK);
	gsr_pagefile_get_info(pf, &pin);
	assert_int_equal(pin.n_pages, 5);
	assert_int_equal(gsr_pagefile_page(pf, 1)[100], 0x11);
	assert_int_equal(gsr_pagefile_page(pf, 2)[100], 0x12);
	assert_int_equal(gsr_pagefile_page(pf, 4)[100], 0x24);
	assert_int_equal(gsr_pagefile_page(pf, 5)[100], 0xa4);
	assert_null(gsr_pagefile_page(pf, 6));
	gsr_pagefile_close(pf);
	/* Over an image of 3 pages: n_pages capped at page 4, the last a
	 * record can give. */
	pf = gsr_pagefile_open_mem(&ctx, img, 3 * 512, 0);
	assert_int_equal(gsr_journal_attach(pf, j), GSR_ATTACH_OK);
	gsr_pagefile_get_info(pf, &pin);
	assert_int_equal(pin.n_pages, 4);
	gsr_pagefile_close(pf);
	/* Another page size: nothing changes. */
	{
		static const unsigned char zeros[4096];

		pf = gsr_pagefile_open_mem(&ctx, zeros, sizeof zeros, 1024);
		assert_int_equal(gsr_journal_attach(pf, j),
		                 GSR_ATTACH_PAGE_SIZE);
		gsr_pagefile_get_info(pf, &pin);
		assert_int_equal(pin.page_size, 1024);
		assert_int_equal(pin.n_pages, 4);
		gsr_pagefile_close(pf);
	}
	gsr_journal_close(j);
	free(c);

	/* An initial size of 2^32 - 1: capped at the image; of 0: the
	 * database did not exist, every record is past it. */
	put_u32(jb.buf + 16, 0xffffffffu);
	j = journal_exact(&ctx, &jb, jb.len, 0, &c);
	pf = gsr_pagefile_open_mem(&ctx, img, 6 * 512, 0);
	assert_int_equal(gsr_journal_attach(pf, j), GSR_ATTACH_OK);
	gsr_pagefile_get_info(pf, &pin);
	assert_int_equal(pin.n_pages, 6);
	assert_int_equal(gsr_pagefile_page(pf, 6)[100], 0xa5);
	gsr_pagefile_close(pf);
	gsr_journal_close(j);
	free(c);
	put_u32(jb.buf + 16, 0);
	j = journal_exact(&ctx, &jb, jb.len, 0, &c);
	gsr_journal_get_info(j, &in);
	assert_true(in.hot);
	assert_int_equal(in.n_valid, 5);
	pf = gsr_pagefile_open_mem(&ctx, img, 6 * 512, 0);
	assert_int_equal(gsr_journal_attach(pf, j), GSR_ATTACH_OK);
	gsr_pagefile_get_info(pf, &pin);
	assert_int_equal(pin.n_pages, 0);
	assert_null(gsr_pagefile_page(pf, 1));
	gsr_pagefile_close(pf);
	gsr_journal_close(j);
	free(c);
	put_u32(jb.buf + 16, 5);

	/* Not hot: nothing to attach. */
	j = journal_exact(&ctx, &jb, 512, 0, &c);
	gsr_journal_get_info(j, &in);
	assert_true(in.header_ok);
	assert_false(in.hot);
	assert_true(in.truncated);
	pf = gsr_pagefile_open_mem(&ctx, img, 6 * 512, 0);
	assert_int_equal(gsr_journal_attach(pf, j), GSR_ATTACH_NOTHING);
	gsr_pagefile_close(pf);
	gsr_journal_close(j);
	free(c);
	assert_int_equal(gsr_journal_attach(NULL, NULL), GSR_ATTACH_NOTHING);
	gsr_journal_close(NULL);
	free(jb.buf);
	free(img);
	assert_false(gsr_ctx_failed(&ctx));
}

/* Record 2 of 3 ends the playback, in each way SQLite knows; the second
 * segment is still listed, not valid. */
static void
journal_stops(void **state)
{
	struct gsr_ctx ctx = GSR_CTX_INIT;
	struct gsr_journal_info in;
	struct gsr_journal *j;
	unsigned char *c;

	(void)state;
	for (int how = 0; how < 7; how++) {
		struct jbuild jb = {NULL, 0, 0, 512, 512, 0};
		uint32_t pgno2 = 2, stop = 2, valid = 1, n_rec = 5;
		bool bad = false;

		switch (how) {
		case 0:
			pgno2 = 0;
			break;
		case 1: /* the lock-byte page */
			pgno2 = 0x40000000u / 512 + 1;
			break;
		case 2:
			bad = true;
			break;
		case 3: /* past the initial size: skipped, not checked */
			pgno2 = 9;
			bad = true;
			stop = 0;
			valid = 4;
			break;
		case 4: /* past the initial size, right: valid */
			pgno2 = 9;
			stop = 0;
			valid = 5;
			break;
		case 5: /* the second header without its magic */
			stop = 0;
			valid = 3;
			n_rec = 3;
			break;
		default: /* records of another nonce in segment 2 */
			stop = 4;
			valid = 3;
			break;
		}
		jb_header(&jb, 3, 77, 5);
		jb_record(&jb, 1, 0x11, false);
		jb_record(&jb, pgno2, 0x12, bad);
		jb_record(&jb, 3, 0x13, false);
		jb_header(&jb, 2, 78, 5);
		if (how == 5)
			jb.buf[jb.len - 512] = 0;
		if (how == 6)
			jb.nonce = 77;
		jb_record(&jb, 4, 0x24, false);
		jb_record(&jb, 5, 0x25, false);
		j = journal_exact(&ctx, &jb, jb.len, 0, &c);
		gsr_journal_get_info(j, &in);
		assert_true(in.hot);
		assert_int_equal(in.n_records, n_rec);
		assert_int_equal(in.stop_record, stop);
		assert_int_equal(in.n_valid, valid);
		assert_int_equal(gsr_journal_lookup(j, 1), 1);
		expect_record(j, 2, pgno2, 1, how >= 4, 0x12);
		if (n_rec == 5) {
			expect_record(j, 5, 5, 2, stop == 0, 0x25);
			assert_int_equal(gsr_journal_lookup(j, 5),
			                 stop == 0 ? 5 : 0);
		}
		assert_int_equal(gsr_journal_lookup(j, 3), stop == 2 ? 0 : 3);
		gsr_journal_close(j);
		free(c);
		free(jb.buf);
	}
	assert_false(gsr_ctx_failed(&ctx));
}

static void
journal_header_fields(void **state)
{
	static const uint32_t bad_sector[] = {0,  1,    16,     31,
	                                      48, 1000, 131072, 0x80000000u};
	static const uint32_t bad_ps[] = {1,    256,    511,
	                                  3000, 131072, 0xffffffffu};
	struct gsr_ctx ctx = GSR_CTX_INIT;
	struct gsr_journal_info in;
	struct gsr_journal *j;
	unsigned char *c;
	struct jbuild jb = {NULL, 0, 0, 512, 512, 0};

	(void)state;
	jb_header(&jb, 1, 5, 3);
	jb_record(&jb, 1, 0x11, false);
	/* The magic. */
	for (int k = 0; k < 8; k++) {
		jb.buf[k] ^= 0x40;
		j = journal_exact(&ctx, &jb, jb.len, 0, &c);
		gsr_journal_get_info(j, &in);
		assert_false(in.header_ok);
		assert_false(in.hot);
		assert_int_equal(in.n_records, 0);
		assert_int_equal(in.initial_pages, 0);
		gsr_journal_close(j);
		free(c);
		jb.buf[k] ^= 0x40;
	}
	/* Sector sizes. */
	for (size_t i = 0; i < GSR_ARRAY_LEN(bad_sector); i++) {
		put_u32(jb.buf + 20, bad_sector[i]);
		j = journal_exact(&ctx, &jb, jb.len, 0, &c);
		gsr_journal_get_info(j, &in);
		assert_false(in.header_ok);
		assert_int_equal(in.sector_size, bad_sector[i]);
		assert_int_equal(in.n_records, 0);
		gsr_journal_close(j);
		free(c);
	}
	put_u32(jb.buf + 20, 512);
	/* Page sizes; 0 is the hint's. */
	for (size_t i = 0; i < GSR_ARRAY_LEN(bad_ps); i++) {
		put_u32(jb.buf + 24, bad_ps[i]);
		j = journal_exact(&ctx, &jb, jb.len, 512, &c);
		gsr_journal_get_info(j, &in);
		assert_false(in.header_ok);
		assert_int_equal(in.page_size, 0);
		gsr_journal_close(j);
		free(c);
	}
	put_u32(jb.buf + 24, 0);
	j = journal_exact(&ctx, &jb, jb.len, 0, &c);
	gsr_journal_get_info(j, &in);
	assert_false(in.header_ok);
	gsr_journal_close(j);
	free(c);
	j = journal_exact(&ctx, &jb, jb.len, 512, &c);
	gsr_journal_get_info(j, &in);
	assert_true(in.header_ok);
	assert_true(in.page_size_hinted);
	assert_true(in.hot);
	gsr_journal_close(j);
	free(c);
	put_u32(jb.buf + 24, 512);
	/* A count past the file: truncated, the records there are used. */
	put_u32(jb.buf + 8, 0xfffffffeu);
	j = journal_exact(&ctx, &jb, jb.len, 0, &c);
	gsr_journal_get_info(j, &in);
	assert_true(in.truncated);
	assert_int_equal(in.n_records, 1);
	assert_int_equal(in.n_valid, 1);
	gsr_journal_close(j);
	free(c);
	/* 0xffffffff: up to the end; a partial record is left out. */
	put_u32(jb.buf + 8, GSR_JOURNAL_NREC_ALL);
	jb_record(&jb, 2, 0x12, false);
	jb_header(&jb, 1, 5, 3); /* read as records, not as a header */
	jb_record(&jb, 3, 0x13, false);
	for (size_t cut = 0; cut <= 1; cut++) {
		j = journal_exact(&ctx, &jb, jb.len - cut, 0, &c);
		gsr_journal_get_info(j, &in);
		assert_int_equal(in.n_segments, 1);
		assert_int_equal(in.truncated, (jb.len - cut - 512) % 520 != 0);
		assert_int_equal(in.n_records, (jb.len - cut - 512) / 520);
		assert_true(in.n_valid >= 2);
		gsr_journal_close(j);
		free(c);
	}
	/* The smallest and largest sectors. */
	for (uint32_t sector = 32; sector <= 65536; sector *= 2048) {
		struct jbuild jb2 = {NULL, 0, 0, 65536, sector, 0};

		jb_header(&jb2, 1, 1, 1);
		jb_record(&jb2, 1, 0x11, false);
		jb_header(&jb2, 1, 2, 1);
		jb_record(&jb2, 1, 0x21, false);
		j = journal_exact(&ctx, &jb2, jb2.len, 0, &c);
		gsr_journal_get_info(j, &in);
		assert_true(in.hot);
		assert_int_equal(in.sector_size, sector);
		assert_int_equal(in.n_segments, 2);
		assert_int_equal(in.n_valid, 2);
		assert_int_equal(gsr_journal_lookup(j, 1), 1);
		expect_record(j, 2, 1, 2, true, 0x21);
		gsr_journal_close(j);
		free(c);
		free(jb2.buf);
	}
	free(jb.buf);
	assert_false(gsr_ctx_failed(&ctx));
}

static void
journal_sizes(void **state)
{
	struct gsr_ctx ctx = GSR_CTX_INIT;
	struct gsr_journal_info in;
	struct gsr_journal *j;
	unsigned char *c;
	struct jbuild jb = {NULL, 0, 0, 1024, 512, 0};
	size_t rec = 1024 + 8;
	static const size_t lens[] = {
	    0,    1,    27,   28,   29,   511,  512,  513,
	    1543, 1544, 1545, 2575, 2576, 2577, 3071, 3072,
	    3099, 3100, 3583, 3584, 3585, 4615, 4616,
	};

	(void)state;
	jb_header(&jb, 2, 9, 4);
	jb_record(&jb, 1, 0x11, false);
	jb_record(&jb, 3, 0x13, false);
	jb_header(&jb, 1, 10, 4);
	jb_record(&jb, 4, 0x14, false);
	/* Header 1 at 0, its records at 512; header 2 at 3072, its record at
	 * 3584, the end at 4616. */
	assert_int_equal(jb.len, 4616);
	for (size_t i = 0; i < GSR_ARRAY_LEN(lens); i++) {
		size_t len = lens[i];
		uint32_t seg1 = len < 512 ? 0 : (uint32_t)((len - 512) / rec);
		uint32_t want;

		if (seg1 > 2)
			seg1 = 2;
		want = seg1 + (len >= 3584 + rec);
		j = journal_exact(&ctx, &jb, len, 0, &c);
		gsr_journal_get_info(j, &in);
		assert_int_equal(in.header_ok, len >= 28);
		assert_int_equal(in.n_segments, (len >= 512) + (len >= 3584));
		assert_int_equal(in.n_records, want);
		assert_int_equal(in.n_valid, want);
		assert_int_equal(in.hot, want > 0);
		assert_int_equal(in.stop_record, 0);
		assert_int_equal(in.truncated,
		                 (len >= 512 && len < 512 + 2 * rec) ||
		                     (len >= 3584 && len < 3584 + rec));
		gsr_journal_close(j);
		free(c);
	}
	j = gsr_journal_open_mem(&ctx, NULL, 99, 0);
	gsr_journal_get_info(j, &in);
	assert_false(in.header_ok);
	gsr_journal_close(j);
	free(jb.buf);
	assert_false(gsr_ctx_failed(&ctx));
	gsr_ctx_fail(&ctx, GSR_ERR_IO, "earlier");
	assert_null(gsr_journal_open_mem(&ctx, "", 0, 0));
}

/* ---- comparing a state with SQLite ----------------------------------- */

struct rowcmp {
	sqlite3_stmt *q; /* SELECT rowid, * FROM tbl ORDER BY rowid */
	int n_cols;
	int ipk; /* the INTEGER PRIMARY KEY column, or -1 */
	bool real_aff[64];
	uint64_t rows, bad;
	bool done; /* q ran out */
};

/* Whether v is what SQLite reads in column col of q. */
static bool
value_eq(sqlite3_stmt *q, int col, const struct gsr_value *v, bool real_aff,
         bool is_ipk, int64_t rowid)
{
	int t = sqlite3_column_type(q, col);
	const void *p;
	size_t n;
	double d;

	if (v->truncated || v->encoding_error)
		return false;
	switch (v->type) {
	case GSR_V_NULL:
		return t == SQLITE_NULL ||
		       (is_ipk && t == SQLITE_INTEGER &&
		        sqlite3_column_int64(q, col) == rowid);
	case GSR_V_INT:
		if (t == SQLITE_INTEGER)
			return sqlite3_column_int64(q, col) == v->i;
		return t == SQLITE_FLOAT && real_aff &&
		       sqlite3_column_double(q, col) == (double)v->i;
	case GSR_V_REAL:
		d = sqlite3_column_double(q, col);
		return t == SQLITE_FLOAT && memcmp(&d, &v->r, sizeof d) == 0;
	case GSR_V_TEXT:
	case GSR_V_BLOB:
		if (t != (v->type == GSR_V_TEXT ? SQLITE_TEXT : SQLITE_BLOB))
			return false;
		p = t == SQLITE_TEXT ? (const void *)sqlite3_column_text(q, col)
		                     : sqlite3_column_blob(q, col);
		n = (size_t)sqlite3_column_bytes(q, col);
		return n == v->n && (n == 0 || memcmp(p, v->p, n) == 0);
	}
	return false;
}

static int
rowcmp_row(void *arg, const struct gsr_row *row)
{
	struct rowcmp *c = arg;

	c->rows++;
	if (c->done || sqlite3_step(c->q) != SQLITE_ROW) {
		c->done = true;
		c->bad++;
		return 0;
	}
	if (sqlite3_column_int64(c->q, 0) != row->rowid ||
	    row->n_values != (size_t)c->n_cols || row->truncated) {
		c->bad++;
		return 0;
	}
	for (int k = 0; k < c->n_cols; k++) {
		if (!value_eq(c->q, k + 1, &row->values[k], c->real_aff[k],
		              k == c->ipk, row->rowid)) {
			if (c->bad < 3)
				print_message("rowid %lld: value %d differs\n",
				              (long long)row->rowid, k);
			c->bad++;
			break;
		}
	}
	return 0;
}

static void
rowcmp_init(struct rowcmp *c, sqlite3 *db, const char *table)
{
	sqlite3_stmt *st = NULL;
	char sql[256];
	int n_pk = 0, pk_col = -1;
	bool pk_integer = false;

	memset(c, 0, sizeof *c);
	c->ipk = -1;
	snprintf(sql, sizeof sql, "SELECT rowid, * FROM \"%s\" ORDER BY rowid",
	         table);
	assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &c->q, NULL),
	                 SQLITE_OK);
	c->n_cols = sqlite3_column_count(c->q) - 1;
	assert_true(c->n_cols <= 64);
	assert_int_equal(
	    sqlite3_prepare_v2(
	        db, "SELECT cid, upper(type), pk FROM pragma_table_info(?1)",
	        -1, &st, NULL),
	    SQLITE_OK);
	sqlite3_bind_text(st, 1, table, -1, SQLITE_STATIC);
	while (sqlite3_step(st) == SQLITE_ROW) {
		int cid = sqlite3_column_int(st, 0);
		const char *type = (const char *)sqlite3_column_text(st, 1);

		assert_true(cid >= 0 && cid < 64);
		c->real_aff[cid] = type != NULL && (strstr(type, "REAL") ||
		                                    strstr(type, "FLOA") ||
		                                    strstr(type, "DOUB"));
		if (sqlite3_column_int(st, 2) > 0) {
			n_pk++;
			pk_col = cid;
			pk_integer =
			    type != NULL && strcmp(type, "INTEGER") == 0;
		}
	}
	sqlite3_finalize(st);
	if (n_pk == 1 && pk_integer)
		c->ipk = pk_col;
}

/* Table `table` of pf (root) must be exactly what SQLite reads. */
static void
compare_table(sqlite3 *db, struct gsr_pagefile *pf, const char *table,
              uint32_t root)
{
	struct gsr_ctx ctx = GSR_CTX_INIT;
	struct gsr_walk_stats st;
	struct rowcmp c;

	rowcmp_init(&c, db, table);
	assert_int_equal(
	    gsr_btree_walk_table(&ctx, pf, root, rowcmp_row, &c, &st), 0);
	if (!c.done && sqlite3_step(c.q) != SQLITE_DONE)
		c.bad++; /* SQLite has more rows */
	sqlite3_finalize(c.q);
	if (c.bad)
		print_error("table %s: %llu rows walked, %llu bad, %lld in "
		            "SQLite\n",
		            table, (unsigned long long)c.rows,
		            (unsigned long long)c.bad,
		            (long long)count_rows(db, table));
	assert_int_equal(c.bad, 0);
	assert_int_equal(c.rows, count_rows(db, table));
	assert_int_equal(st.pages_damaged, 0);
	assert_int_equal(st.cells_damaged, 0);
	assert_false(gsr_ctx_failed(&ctx));
}

static int
count_cb(void *arg, const struct gsr_row *row)
{
	(void)row;
	(*(uint64_t *)arg)++;
	return 0;
}

/* The state of pf must be the database SQLite shows through db: every
 * table row by row, every index entry counted, the freelist and the page
 * count. */
static void
check_all(sqlite3 *db, struct gsr_pagefile *pf)
{
	struct gsr_ctx ctx = GSR_CTX_INIT;
	struct gsr_pagefile_info in;
	struct gsr_walk_stats st;
	sqlite3_stmt *q = NULL;
	uint32_t *pages = NULL;
	size_t n = 0;
	int n_tables = 0, n_indexes = 0;

	compare_table(db, pf, "sqlite_master", 1);
	assert_int_equal(
	    sqlite3_prepare_v2(
	        db,
	        "SELECT type, name, tbl_name, rootpage FROM sqlite_master "
	        "WHERE rootpage > 0 ORDER BY rowid",
	        -1, &q, NULL),
	    SQLITE_OK);
	while (sqlite3_step(q) == SQLITE_ROW) {
		const char *type = (const char *)sqlite3_column_text(q, 0);
		const char *name = (const char *)sqlite3_column_text(q, 1);
		const char *tbl = (const char *)sqlite3_column_text(q, 2);
		uint32_t root = (uint32_t)sqlite3_column_int64(q, 3);

		if (strcmp(type, "table") == 0) {
			compare_table(db, pf, name, root);
			n_tables++;
		} else {
			uint64_t entries = 0;

			assert_int_equal(gsr_btree_walk_index(&ctx, pf, root,
			                                      count_cb,
			                                      &entries, &st),
			                 0);
			assert_int_equal(entries, count_rows(db, tbl));
			assert_int_equal(st.pages_damaged, 0);
			n_indexes++;
		}
	}
	sqlite3_finalize(q);
	assert_true(n_tables >= 2);
	assert_true(n_indexes >= 1);
	assert_int_equal(gsr_freelist_pages(&ctx, pf, &pages, &n), 0);
	assert_int_equal(n, query_int(db, "PRAGMA freelist_count"));
	free(pages);
	gsr_pagefile_get_info(pf, &in);
	assert_int_equal(in.n_pages, query_int(db, "PRAGMA page_count"));
	assert_int_equal(in.header_pages, in.n_pages);
	assert_false(gsr_ctx_failed(&ctx));
}

/* The pages of pf must be those of the database file at path. */
static void
compare_pages(struct gsr_pagefile *pf, const char *path)
{
	struct gsr_pagefile_info in;
	unsigned char *img;
	size_t size;

	gsr_pagefile_get_info(pf, &in);
	img = read_file(path, &size);
	assert_non_null(img);
	assert_int_equal(size, (size_t)in.n_pages * in.page_size);
	for (uint32_t p = 1; p <= in.n_pages; p++) {
		const unsigned char *page = gsr_pagefile_page(pf, p);

		assert_non_null(page);
		if (memcmp(page, img + (size_t)(p - 1) * in.page_size,
		           in.page_size) != 0) {
			print_error("page %u differs from %s\n", p, path);
			fail();
		}
	}
	free(img);
}

/* A database file and its -wal or -journal, in memory. */
struct files {
	unsigned char *db, *side;
	size_t db_size, side_size;
};

static void
files_take(struct files *f, const char *path, const char *suffix)
{
	char side[600];

	snprintf(side, sizeof side, "%s%s", path, suffix);
	f->db = read_file(path, &f->db_size);
	assert_non_null(f->db);
	f->side = read_file(side, &f->side_size);
}

static void
files_release(struct files *f)
{
	free(f->db);
	free(f->side);
	memset(f, 0, sizeof *f);
}

/* Write f as a new database in the scratch directory (with its side file
 * when it has one); returns its path (free() it). */
static char *
files_put(const struct files *f, const char *suffix)
{
	char path[512], side[600];

	snprintf(path, sizeof path, "%s/copy%d.db", tmpdir, ++name_seq);
	write_file(path, f->db, f->db_size);
	if (f->side != NULL) {
		snprintf(side, sizeof side, "%s%s", path, suffix);
		write_file(side, f->side, f->side_size);
	}
	return strdup(path);
}

static sqlite3 *
open_rw(const char *path)
{
	sqlite3 *db = NULL;

	assert_int_equal(
	    sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE, NULL), SQLITE_OK);
	return db;
}

/*
 * The current state of the database and WAL in f, read by us, must be
 * what SQLite reads from a copy, row by row, and the pages SQLite leaves
 * in the copy's database after checkpointing it on close.  *out gets the
 * WAL's info.
 */
static void
check_wal(const struct files *f, enum gsr_attach want, struct gsr_wal_info *out)
{
	struct gsr_ctx ctx = GSR_CTX_INIT;
	struct gsr_pagefile_info pin;
	struct gsr_pagefile *pf;
	struct gsr_wal *wal;
	sqlite3 *db;
	char *path;

	pf = gsr_pagefile_open_mem(&ctx, f->db, f->db_size, 0);
	gsr_pagefile_get_info(pf, &pin);
	assert_true(pin.header_ok);
	wal = gsr_wal_open_mem(&ctx, f->side, f->side_size, pin.page_size);
	assert_non_null(wal);
	gsr_wal_get_info(wal, out);
	assert_int_equal(gsr_wal_attach(pf, wal), want);
	if (want == GSR_ATTACH_OK) {
		gsr_pagefile_get_info(pf, &pin);
		assert_int_equal(pin.n_pages, out->db_pages);
	}
	path = files_put(f, "-wal");
	db = open_rw(path);
	check_all(db, pf);
	assert_int_equal(sqlite3_close(db), SQLITE_OK);
	compare_pages(pf, path);
	gsr_pagefile_close(pf);
	gsr_wal_close(wal);
	free(path);
	assert_false(gsr_ctx_failed(&ctx));
}

/*
 * The rolled-back state of the database and journal in f, read by us,
 * must be the pages SQLite leaves in a copy after rolling the journal
 * back, and with rows, what it reads from the copy row by row.  *out gets
 * the journal's info.
 */
static void
check_journal(const struct files *f, enum gsr_attach want, bool rows,
              struct gsr_journal_info *out)
{
	struct gsr_ctx ctx = GSR_CTX_INIT;
	struct gsr_pagefile_info pin;
	struct gsr_pagefile *pf;
	struct gsr_journal *j;
	sqlite3 *db;
	char *path, side[600];
	int rc;

	pf = gsr_pagefile_open_mem(&ctx, f->db, f->db_size, 0);
	gsr_pagefile_get_info(pf, &pin);
	j = gsr_journal_open_mem(&ctx, f->side, f->side_size, pin.page_size);
	assert_non_null(j);
	gsr_journal_get_info(j, out);
	assert_int_equal(gsr_journal_attach(pf, j), want);
	path = files_put(f, "-journal");
	db = open_rw(path);
	if (rows) {
		check_all(db, pf);
	} else {
		/* Any read rolls the hot journal back; the database may be
		 * inconsistent after a partial playback. */
		rc = sqlite3_exec(db, "PRAGMA user_version", NULL, NULL, NULL);
		(void)rc;
	}
	assert_int_equal(sqlite3_close(db), SQLITE_OK);
	snprintf(side, sizeof side, "%s-journal", path);
	assert_int_equal(access(side, F_OK), -1); /* played back, deleted */
	compare_pages(pf, path);
	gsr_pagefile_close(pf);
	gsr_journal_close(j);
	free(path);
	assert_false(gsr_ctx_failed(&ctx));
}

/* ---- databases made with SQLite -------------------------------------- */

static void
fill_t(sqlite3 *db, int from, int to)
{
	sqlite3_stmt *st = NULL;

	assert_int_equal(
	    sqlite3_prepare_v2(
	        db, "INSERT INTO t(a, b, c, d) VALUES (?1, ?2, ?3, ?4)", -1,
	        &st, NULL),
	    SQLITE_OK);
	for (int i = from; i <= to; i++) {
		char small[64];

		if (i % 5 == 0)
			sqlite3_bind_null(st, 1);
		else if (i % 5 == 1)
			sqlite3_bind_double(st, 1, i + 0.5);
		else
			sqlite3_bind_int64(st, 1, (int64_t)i * 1000003);
		snprintf(small, sizeof small, "row %d", i);
		sqlite3_bind_text(st, 2, small, -1, SQLITE_TRANSIENT);
		if (i % 13 == 0) {
			size_t n = 1500 + (size_t)(i * 97) % 6000;
			char *big = malloc(n);

			assert_non_null(big);
			for (size_t k = 0; k < n; k++)
				big[k] = (char)('a' + (k + (size_t)i) % 26);
			sqlite3_bind_text(st, 3, big, (int)n, free);
		} else {
			snprintf(small, sizeof small, "text %d caf\xc3\xa9", i);
			sqlite3_bind_text(st, 3, small, -1, SQLITE_TRANSIENT);
		}
		if (i % 17 == 0) {
			size_t n = 3000 + (size_t)i % 1000;
			unsigned char *b = malloc(n);

			assert_non_null(b);
			for (size_t k = 0; k < n; k++)
				b[k] = (unsigned char)(k * 7 + (size_t)i);
			sqlite3_bind_blob(st, 4, b, (int)n, free);
		} else {
			unsigned char b[40];

			for (size_t k = 0; k < sizeof b; k++)
				b[k] = (unsigned char)(k + (size_t)i);
			sqlite3_bind_blob(st, 4, b, i % 40, SQLITE_TRANSIENT);
		}
		assert_int_equal(sqlite3_step(st), SQLITE_DONE);
		sqlite3_reset(st);
	}
	sqlite3_finalize(st);
}

static void
fill_kv(sqlite3 *db, int from, int to)
{
	char sql[256];

	snprintf(sql, sizeof sql,
	         "WITH RECURSIVE n(i) AS (SELECT %d UNION ALL SELECT i + 1 "
	         "FROM n WHERE i < %d) INSERT INTO kv(id, k, v, score) "
	         "SELECT i, 'key-' || i, zeroblob(i %% 200), i + 0.25 FROM n",
	         from, to);
	exec_sql(db, sql);
}

/* A new database at path with the tables of the tests, filled. */
static sqlite3 *
create_db(const char *name, const char *journal_mode, int rows_t, char *path,
          size_t path_size)
{
	sqlite3 *db = NULL;
	char sql[128];

	snprintf(path, path_size, "%s/%s.db", tmpdir, name);
	assert_int_equal(
	    sqlite3_open_v2(path, &db,
	                    SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL),
	    SQLITE_OK);
	exec_sql(db, "PRAGMA page_size=1024");
	snprintf(sql, sizeof sql, "PRAGMA journal_mode=%s", journal_mode);
	exec_sql(db, sql);
	exec_sql(db, "PRAGMA wal_autocheckpoint=0");
	exec_sql(db, "BEGIN");
	exec_sql(db, "CREATE TABLE t(a, b, c, d)");
	exec_sql(db, "CREATE INDEX t_b ON t(b)");
	exec_sql(db, "CREATE TABLE kv(id INTEGER PRIMARY KEY, k TEXT UNIQUE, "
	             "v BLOB, score REAL)");
	fill_t(db, 1, rows_t);
	fill_kv(db, 1, 400);
	exec_sql(db, "COMMIT");
	return db;
}

/* The frame number of the last commit before frame `before`. */
static uint32_t
commit_before(struct gsr_wal *wal, uint32_t before)
{
	struct gsr_wal_frame f;
	uint32_t last = 0;

	for (uint32_t i = 1; i < before; i++) {
		assert_int_equal(gsr_wal_frame(wal, i, &f), 0);
		if (f.commit_size != 0)
			last = i;
	}
	return last;
}

/* The pages of two pagefiles must be the same. */
static void
same_pages(struct gsr_pagefile *a, struct gsr_pagefile *b)
{
	struct gsr_pagefile_info ia, ib;
	unsigned char *copy;

	gsr_pagefile_get_info(a, &ia);
	gsr_pagefile_get_info(b, &ib);
	assert_memory_equal(&ia, &ib, sizeof ia);
	copy = malloc(ia.page_size);
	assert_non_null(copy);
	for (uint32_t p = 1; p <= ia.n_pages; p++) {
		const unsigned char *pa = gsr_pagefile_page(a, p), *pb;

		assert_non_null(pa);
		memcpy(copy, pa, ia.page_size);
		pb = gsr_pagefile_page(b, p);
		assert_non_null(pb);
		assert_memory_equal(copy, pb, ia.page_size);
	}
	free(copy);
}

/* f opened from files through descriptors must read as from memory. */
static void
check_fd_mode(const struct files *f, bool wal_side)
{
	struct gsr_ctx ctx = GSR_CTX_INIT;
	struct gsr_pagefile *pm, *pd;
	struct gsr_pagefile_info pin;
	struct gsr_wal *wm = NULL, *wd = NULL;
	struct gsr_journal *jm = NULL, *jd = NULL;
	char *path, side[600];
	int fd, sfd;

	path = files_put(f, wal_side ? "-wal" : "-journal");
	snprintf(side, sizeof side, "%s%s", path,
	         wal_side ? "-wal" : "-journal");
	fd = open(path, O_RDONLY);
	sfd = open(side, O_RDONLY);
	assert_true(fd >= 0 && sfd >= 0);
	pm = gsr_pagefile_open_mem(&ctx, f->db, f->db_size, 0);
	pd = gsr_pagefile_open_fd(&ctx, fd, f->db_size, 0);
	gsr_pagefile_get_info(pm, &pin);
	if (wal_side) {
		struct gsr_wal_info a, b;

		wm = gsr_wal_open_mem(&ctx, f->side, f->side_size, 0);
		wd = gsr_wal_open_fd(&ctx, sfd, f->side_size, 0);
		gsr_wal_get_info(wm, &a);
		gsr_wal_get_info(wd, &b);
		assert_memory_equal(&a, &b, sizeof a);
		assert_int_equal(gsr_wal_attach(pm, wm), GSR_ATTACH_OK);
		assert_int_equal(gsr_wal_attach(pd, wd), GSR_ATTACH_OK);
		for (uint32_t i = 1; i <= a.n_slots; i++) {
			struct gsr_wal_frame x, y;

			assert_int_equal(gsr_wal_frame(wm, i, &x), 0);
			assert_int_equal(gsr_wal_frame(wd, i, &y), 0);
			assert_int_equal(x.cls, y.cls);
			assert_int_equal(x.pgno, y.pgno);
			assert_memory_equal(x.page, y.page, a.page_size);
		}
	} else {
		struct gsr_journal_info a, b;

		jm = gsr_journal_open_mem(&ctx, f->side, f->side_size, 0);
		jd = gsr_journal_open_fd(&ctx, sfd, f->side_size, 0);
		gsr_journal_get_info(jm, &a);
		gsr_journal_get_info(jd, &b);
		assert_memory_equal(&a, &b, sizeof a);
		assert_int_equal(gsr_journal_attach(pm, jm), GSR_ATTACH_OK);
		assert_int_equal(gsr_journal_attach(pd, jd), GSR_ATTACH_OK);
		for (uint32_t i = 1; i <= a.n_records; i++) {
			struct gsr_journal_record x, y;

			assert_int_equal(gsr_journal_record(jm, i, &x), 0);
			assert_int_equal(gsr_journal_record(jd, i, &y), 0);
			assert_int_equal(x.valid, y.valid);
			assert_int_equal(x.pgno, y.pgno);
			assert_memory_equal(x.page, y.page, a.page_size);
		}
	}
	same_pages(pm, pd);
	gsr_pagefile_close(pm);
	gsr_pagefile_close(pd);
	gsr_wal_close(wm);
	gsr_wal_close(wd);
	gsr_journal_close(jm);
	gsr_journal_close(jd);
	close(fd);
	close(sfd);
	free(path);
	assert_false(gsr_ctx_failed(&ctx));
}

static void
wal_sqlite(void **state)
{
	struct gsr_ctx ctx = GSR_CTX_INIT;
	struct gsr_wal_info in, s1;
	struct files f, v;
	struct gsr_wal *wal;
	char path[512];
	sqlite3 *db;
	size_t slot = 1024 + 24;
	uint32_t m;

	(void)state;
	db = create_db("w", "WAL", 1500, path, sizeof path);
	exec_sql(db, "PRAGMA wal_checkpoint(TRUNCATE)");
	/* Committed transactions: inserts, updates that overflow, deletes,
	 * a table created, one dropped (the freelist grows). */
	exec_sql(db, "BEGIN");
	fill_t(db, 1501, 2000);
	exec_sql(db, "COMMIT");
	exec_sql(db,
	         "UPDATE t SET c = replace(hex(zeroblob(800 + rowid % 900)),"
	         " '00', 'ab') WHERE rowid % 7 = 0");
	exec_sql(db, "DELETE FROM t WHERE rowid BETWEEN 300 AND 700");
	exec_sql(db, "BEGIN; CREATE TABLE extra(x TEXT, y);"
	             "INSERT INTO extra SELECT b, d FROM t WHERE rowid % 3 = 0;"
	             "CREATE TABLE tmp AS SELECT * FROM t WHERE rowid < 1200;"
	             "COMMIT");
	exec_sql(db, "DROP TABLE tmp");
	exec_sql(db, "BEGIN; UPDATE kv SET v = zeroblob(2500 + id),"
	             " score = score + 0.5 WHERE id % 5 = 0;"
	             "DELETE FROM kv WHERE id > 350");
	fill_t(db, 2001, 2100);
	exec_sql(db, "COMMIT");
	assert_true(query_int(db, "PRAGMA freelist_count") > 0);

	/* 1. The database and its WAL, as they are. */
	files_take(&f, path, "-wal");
	assert_non_null(f.side);
	check_wal(&f, GSR_ATTACH_OK, &s1);
	assert_true(s1.header_ok);
	assert_false(s1.big_endian);
	assert_int_equal(s1.page_size, 1024);
	assert_true(s1.n_slots > 100);
	assert_int_equal(s1.n_valid, s1.n_slots);
	assert_int_equal(s1.last_commit, s1.n_slots);
	assert_int_equal(s1.tail_bytes, 0);
	assert_true(s1.n_old > 0);
	assert_int_equal(s1.n_uncommitted, 0);
	assert_int_equal(s1.n_stale + s1.n_garbage, 0);
	assert_int_equal(s1.n_current + s1.n_old, s1.n_slots);
	check_fd_mode(&f, true);

	/* 2. The database without its WAL: the state before it. */
	v = f;
	v.side = NULL;
	v.side_size = 0;
	check_wal(&v, GSR_ATTACH_NOTHING, &in);
	assert_int_equal(in.n_slots, 0);

	/* 3. The same WAL with checksums of big-endian words. */
	v.side = exact_copy(f.side, f.side_size);
	v.side_size = f.side_size;
	rechain(v.side, 1024, true, s1.n_valid);
	check_wal(&v, GSR_ATTACH_OK, &in);
	assert_true(in.big_endian);
	assert_int_equal(in.n_valid, s1.n_valid);
	assert_int_equal(in.n_current, s1.n_current);

	/* 4. A checksum broken in the middle: the prefix ends there. */
	memcpy(v.side, f.side, f.side_size);
	m = s1.n_valid / 2 + 1;
	v.side[32 + (m - 1) * slot + 24 + 100] ^= 0x10;
	check_wal(&v, GSR_ATTACH_OK, &in);
	assert_int_equal(in.n_valid, m - 1);
	wal = gsr_wal_open_mem(&ctx, f.side, f.side_size, 0);
	assert_int_equal(in.last_commit, commit_before(wal, m));
	gsr_wal_close(wal);
	assert_true(in.last_commit > 0 && in.last_commit < s1.last_commit);
	assert_int_equal(in.n_stale, s1.n_slots - (m - 1));
	assert_int_equal(in.n_uncommitted, m - 1 - in.last_commit);

	/* 5. Truncated inside its last frame (the last commit). */
	memcpy(v.side, f.side, f.side_size);
	v.side_size = f.side_size - slot / 2;
	check_wal(&v, GSR_ATTACH_OK, &in);
	assert_int_equal(in.n_slots, s1.n_slots - 1);
	assert_int_equal(in.tail_bytes, slot - slot / 2);
	assert_true(in.last_commit < s1.n_slots - 1);
	assert_true(in.n_uncommitted > 0);

	/* 6. A garbage header: nothing valid, the frames STALE. */
	v.side_size = f.side_size;
	memset(v.side, 0x5a, 32);
	check_wal(&v, GSR_ATTACH_NOTHING, &in);
	assert_false(in.header_ok);
	assert_true(in.page_size_hinted);
	assert_int_equal(in.n_slots, s1.n_slots);
	assert_int_equal(in.n_stale + in.n_garbage, s1.n_slots);
	assert_true(in.n_stale > 0);
	free(v.side);
	files_release(&f);

	/* 7. A transaction spilled to the WAL by a small cache, copied
	 * before COMMIT: its frames are UNCOMMITTED.  The update writes
	 * each leaf of t once; the insert then changes pages already
	 * spilled, which SQLite rewrites in place without their checksums
	 * (it fixes them at COMMIT): the chain ends at the first of them,
	 * and the rest of the transaction's frames look STALE, to SQLite's
	 * recovery as to us. */
	exec_sql(db, "PRAGMA cache_size=10");
	exec_sql(db,
	         "BEGIN; UPDATE t SET a = -a;"
	         "INSERT INTO t(a, b, c, d) SELECT a, b || '-2', c, d FROM t;"
	         "UPDATE kv SET k = k || '-u'");
	files_take(&f, path, "-wal");
	check_wal(&f, GSR_ATTACH_OK, &in);
	assert_int_equal(in.last_commit, s1.n_slots);
	assert_true(in.n_uncommitted > 10);
	assert_true(in.n_slots > in.n_valid);
	files_release(&f);

	/* 8. Rolled back, then a small commit over its first frames: the
	 * rest of them follow with the same salts and a broken chain. */
	exec_sql(db, "ROLLBACK");
	exec_sql(db, "PRAGMA cache_size=-2000");
	exec_sql(db, "UPDATE kv SET score = -score WHERE id = 7");
	files_take(&f, path, "-wal");
	check_wal(&f, GSR_ATTACH_OK, &in);
	assert_int_equal(in.salt1, s1.salt1);
	assert_true(in.last_commit > s1.n_slots);
	assert_int_equal(in.n_valid, in.last_commit);
	assert_true(in.n_stale > 0);
	files_release(&f);

	/* 9. Checkpointed, then a new transaction restarts the WAL: the
	 * older generation's frames follow, with the old salts. */
	exec_sql(db, "PRAGMA wal_checkpoint(PASSIVE)");
	exec_sql(db, "UPDATE kv SET score = score * 2 WHERE id < 50");
	files_take(&f, path, "-wal");
	check_wal(&f, GSR_ATTACH_OK, &in);
	assert_int_equal(in.salt1, s1.salt1 + 1);
	assert_int_equal(in.checkpoint_seq, s1.checkpoint_seq + 1);
	assert_true(in.last_commit > 0 && in.last_commit < 20);
	assert_true(in.n_stale > s1.n_slots / 2);
	files_release(&f);
	assert_int_equal(sqlite3_close(db), SQLITE_OK);
	assert_false(gsr_ctx_failed(&ctx));
}

static void
journal_sqlite(void **state)
{
	struct gsr_ctx ctx = GSR_CTX_INIT;
	struct gsr_journal_info in, j1;
	struct gsr_journal_record r;
	struct gsr_pagefile *pf;
	struct gsr_journal *j;
	struct files f, v;
	char path[512];
	sqlite3 *db;
	uint32_t k = 0, target, differ = 0;

	(void)state;
	db = create_db("j", "DELETE", 3000, path, sizeof path);
	exec_sql(db, "DELETE FROM kv WHERE id % 4 = 0");
	/* A large transaction with a tiny cache: its pages go to the
	 * database before COMMIT, the journal synced in segments. */
	exec_sql(db, "PRAGMA cache_size=8");
	exec_sql(db,
	         "BEGIN;"
	         "UPDATE t SET c = replace(hex(zeroblob(300 + rowid % 700)),"
	         " '00', 'cd') WHERE rowid % 3 = 0;"
	         "DELETE FROM t WHERE rowid BETWEEN 1000 AND 1500;"
	         "INSERT INTO t(a, b, c, d) SELECT a, b || '+', c, d FROM t"
	         " WHERE rowid < 600;"
	         "UPDATE kv SET v = zeroblob(1500) WHERE id % 3 = 0");
	files_take(&f, path, "-journal");
	assert_non_null(f.side);
	exec_sql(db, "ROLLBACK");
	assert_int_equal(sqlite3_close(db), SQLITE_OK);

	/* 1. As copied. */
	check_journal(&f, GSR_ATTACH_OK, true, &j1);
	assert_true(j1.header_ok);
	assert_true(j1.hot);
	assert_int_equal(j1.page_size, 1024);
	assert_true(j1.n_segments > 1);
	assert_true(j1.n_valid > 10);
	assert_int_equal(j1.n_valid, j1.n_records);
	assert_int_equal(j1.stop_record, 0);
	assert_false(j1.truncated);
	assert_true(j1.initial_pages > 0);
	assert_true(f.db_size > (size_t)j1.initial_pages * 1024);
	/* The database was written before COMMIT: pages differ from their
	 * journaled originals. */
	pf = gsr_pagefile_open_mem(&ctx, f.db, f.db_size, 0);
	j = gsr_journal_open_mem(&ctx, f.side, f.side_size, 0);
	for (uint32_t i = 1; i <= j1.n_records; i++) {
		const unsigned char *p;

		assert_int_equal(gsr_journal_record(j, i, &r), 0);
		if (!r.valid)
			continue;
		assert_int_equal(gsr_journal_lookup(j, r.pgno), i);
		p = gsr_pagefile_page(pf, r.pgno);
		differ += p != NULL && memcmp(p, r.page, 1024) != 0;
	}
	assert_true(differ > 0);
	check_fd_mode(&f, false);

	/* 2. A record's checksum broken in the middle: the playback ends
	 * there. */
	target = j1.n_records / 2;
	for (uint32_t i = target; i <= j1.n_records && k == 0; i++) {
		assert_int_equal(gsr_journal_record(j, i, &r), 0);
		if (r.pgno <= j1.initial_pages)
			k = i;
	}
	assert_true(k > 1);
	v = f;
	v.side = exact_copy(f.side, f.side_size);
	v.side[r.offset + 4 + 1024 - 200] ^= 0x01;
	check_journal(&v, GSR_ATTACH_OK, false, &in);
	assert_int_equal(in.stop_record, k);
	assert_int_equal(in.n_valid, k - 1);
	assert_int_equal(in.n_records, j1.n_records);

	/* 3. Truncated inside that record. */
	memcpy(v.side, f.side, f.side_size);
	v.side_size = (size_t)r.offset + 600;
	check_journal(&v, GSR_ATTACH_OK, false, &in);
	assert_true(in.truncated);
	assert_int_equal(in.n_records, k - 1);
	assert_int_equal(in.stop_record, 0);
	assert_int_equal(in.n_valid, k - 1);
	free(v.side);
	gsr_journal_close(j);
	gsr_pagefile_close(pf);
	files_release(&f);
	assert_false(gsr_ctx_failed(&ctx));
}

static int
setup(void **state)
{
	(void)state;
	return make_tmpdir(tmpdir, sizeof tmpdir, "wal");
}

static int
teardown(void **state)
{
	(void)state;
	return remove_tree(tmpdir);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(wal_synthetic),
	    cmocka_unit_test(wal_prefix_ends),
	    cmocka_unit_test(wal_header_fields),
	    cmocka_unit_test(wal_sizes),
	    cmocka_unit_test(overlay_basics),
	    cmocka_unit_test(wal_attach_synthetic),
	    cmocka_unit_test(journal_synthetic),
	    cmocka_unit_test(journal_stops),
	    cmocka_unit_test(journal_header_fields),
	    cmocka_unit_test(journal_sizes),
	    cmocka_unit_test(wal_sqlite),
	    cmocka_unit_test(journal_sqlite),
	};
	return cmocka_run_group_tests_name("wal", tests, setup, teardown);
}
