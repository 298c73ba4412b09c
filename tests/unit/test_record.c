/* Unit tests of the record layer (record.h): the bytes of one b-tree page
 * header, one cell's payload and one record, with no page file and no
 * walker.
 *
 * First on bytes made by hand, in buffers of exactly their size so that
 * ASan sees any read past the end: varints of 1 to 9 bytes and cut short,
 * the size of every serial type, the local part of a payload, records of
 * every serial type, hostile and cut-short record headers, records whose
 * overflow chain is lost, UTF-16 (surrogate pairs, lone and unpaired
 * surrogates, values cut short), page headers.  Then on the bytes SQLite
 * wrote: a table leaf of a database made with the SQLite library (UTF-8,
 * UTF-16le and UTF-16be) is checked and parsed, and its records decoded
 * and compared with what was inserted, including a record whose payload
 * went to an overflow page; then the same page is damaged.
 */
#include "compat.h"
#include "record.h"

#include <math.h>
#include <sqlite3.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <setjmp.h>
#include <cmocka.h>

#include "sqlhdr.h"
#include "testlib.h"

static char tmpdir[256];

/* ---- helpers -------------------------------------------------------- */

/* Decode a copy of exactly n bytes; the values point into it, which lives
 * until the next call. */
static unsigned char *last_copy;

static int
decode_exact(const void *rec, size_t n, struct gsr_value *v, size_t max,
             uint32_t enc)
{
	free(last_copy);
	last_copy = exact_copy(rec, n);
	return gsr_record_decode(last_copy, n, v, max, enc);
}

/* ---- varints -------------------------------------------------------- */

static void
varint_lengths(void **state)
{
	static const struct {
		uint64_t v;
		int len;
	} cases[] = {
	    {0, 1},
	    {1, 1},
	    {127, 1},
	    {128, 2},
	    {16383, 2},
	    {16384, 3},
	    {(1u << 21) - 1, 3},
	    {1u << 21, 4},
	    {(1u << 28) - 1, 4},
	    {1u << 28, 5},
	    {(1ULL << 35) - 1, 5},
	    {1ULL << 35, 6},
	    {(1ULL << 42) - 1, 6},
	    {1ULL << 42, 7},
	    {(1ULL << 49) - 1, 7},
	    {1ULL << 49, 8},
	    {(1ULL << 56) - 1, 8},
	    {1ULL << 56, 9},
	    {INT64_MAX, 9},
	    {UINT64_MAX, 9},
	};
	unsigned char b[9];

	(void)state;
	for (size_t i = 0; i < GSR_ARRAY_LEN(cases); i++) {
		uint64_t v = 12345;
		int len = put_varint(b, cases[i].v);
		unsigned char *c = exact_copy(b, (size_t)len);

		unsigned char w[9];

		assert_int_equal(len, cases[i].len);
		assert_int_equal(gsr_varint_get(c, c + len, &v), len);
		assert_true(v == cases[i].v);
		/* The engine's writer gives the same shortest form. */
		assert_int_equal(gsr_varint_put(w, cases[i].v), len);
		assert_memory_equal(w, b, (size_t)len);
		free(c);
	}
	/* Nine bytes of 0xff: every bit set; the ninth byte gives 8 bits. */
	memset(b, 0xff, sizeof b);
	{
		uint64_t v = 0;

		assert_int_equal(gsr_varint_get(b, b + 9, &v), 9);
		assert_true(v == UINT64_MAX);
	}
	/* A varint followed by more bytes reads only its own. */
	b[0] = 0x81;
	b[1] = 0x00;
	b[2] = 0x7f;
	{
		uint64_t v = 0;

		assert_int_equal(gsr_varint_get(b, b + 3, &v), 2);
		assert_true(v == 128);
	}
}

static void
varint_truncated(void **state)
{
	unsigned char b[9];
	uint64_t v = 7;

	(void)state;
	for (int want = 2; want <= 9; want++) {
		uint64_t x = want == 9 ? UINT64_MAX : 1ULL << (7 * (want - 1));
		int len = put_varint(b, x);

		assert_int_equal(len, want);
		for (int cut = 0; cut < len; cut++) {
			unsigned char *c = exact_copy(b, (size_t)cut);

			assert_int_equal(gsr_varint_get(c, c + cut, &v), 0);
			free(c);
		}
	}
	assert_int_equal(gsr_varint_get(NULL, NULL, &v), 0);
	assert_int_equal(gsr_varint_get(b + 1, b, &v), 0);
	assert_true(v == 7);
}

/* ---- records -------------------------------------------------------- */

/* Build a record of the given serial types and body into out; returns
 * its size. */
static size_t
make_record(unsigned char *out, const uint64_t *types, size_t n_types,
            const void *body, size_t body_len)
{
	unsigned char hdr[512];
	size_t h = 0, hlen;
	int l;

	for (size_t i = 0; i < n_types; i++)
		h += (size_t)put_varint(hdr + h, types[i]);
	/* The header size counts its own varint (one byte here). */
	hlen = h + 1;
	assert_true(hlen < 128);
	l = put_varint(out, hlen);
	assert_int_equal(l, 1);
	memcpy(out + 1, hdr, h);
	if (body_len)
		memcpy(out + hlen, body, body_len);
	return hlen + body_len;
}

static void
record_serial_types(void **state)
{
	static const unsigned char body[] = {
	    0xff,                                           /* 1: -1 */
	    0x80, 0x00,                                     /* 2: -32768 */
	    0x7f, 0xff, 0xff,                               /* 3: 8388607 */
	    0x80, 0x00, 0x00, 0x00,                         /* 4: INT32_MIN */
	    0x7f, 0xff, 0xff, 0xff, 0xff, 0xff,             /* 5: 2^47-1 */
	    0x80, 0,    0,    0,    0,    0,    0,    0,    /* 6: INT64_MIN */
	    0x40, 0x09, 0x21, 0xfb, 0x54, 0x44, 0x2d, 0x18, /* 7: pi */
	    0xde, 0xad, 0xbe,                               /* blob of 3 */
	    'h',  'e',  'l',  'l',  'o',                    /* text of 5 */
	    0x01,                                           /* 1: 1 */
	    0xff, 0xfe,                                     /* 2: -2 */
	};
	static const uint64_t types[] = {
	    0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 12, 13, 12 + 2 * 3, 13 + 2 * 5, 1, 2};
	unsigned char rec[256];
	struct gsr_value v[20];
	size_t n =
	    make_record(rec, types, GSR_ARRAY_LEN(types), body, sizeof body);
	double pi;

	(void)state;
	assert_int_equal(decode_exact(rec, n, v, 20, 1), 16);
	assert_int_equal(v[0].type, GSR_V_NULL);
	assert_int_equal(v[1].type, GSR_V_INT);
	assert_true(v[1].i == -1);
	assert_true(v[2].i == -32768);
	assert_true(v[3].i == 8388607);
	assert_true(v[4].i == INT32_MIN);
	assert_true(v[5].i == 140737488355327LL);
	assert_true(v[6].i == INT64_MIN);
	assert_int_equal(v[7].type, GSR_V_REAL);
	pi = 3.141592653589793;
	assert_memory_equal(&v[7].r, &pi, sizeof pi);
	assert_int_equal(v[8].type, GSR_V_INT);
	assert_true(v[8].i == 0);
	assert_int_equal(v[9].type, GSR_V_INT);
	assert_true(v[9].i == 1);
	assert_int_equal(v[10].type, GSR_V_BLOB);
	assert_int_equal(v[10].n, 0);
	assert_non_null(v[10].p);
	assert_int_equal(v[11].type, GSR_V_TEXT);
	assert_int_equal(v[11].n, 0);
	assert_non_null(v[11].p);
	assert_int_equal(v[12].type, GSR_V_BLOB);
	assert_int_equal(v[12].n, 3);
	assert_memory_equal(v[12].p, "\xde\xad\xbe", 3);
	assert_int_equal(v[13].type, GSR_V_TEXT);
	assert_int_equal(v[13].n, 5);
	assert_memory_equal(v[13].p, "hello", 5);
	assert_true(v[14].i == 1);
	assert_true(v[15].i == -2);
	for (int i = 0; i < 16; i++) {
		assert_false(v[i].truncated);
		assert_false(v[i].encoding_error);
	}

	/* Fewer slots than values: the count, and only the first filled. */
	memset(v, 0x5a, sizeof v);
	assert_int_equal(decode_exact(rec, n, v, 2, 1), 16);
	assert_int_equal(v[1].type, GSR_V_INT);
	assert_true(v[2].n == (size_t)0x5a5a5a5a5a5a5a5aULL);
	assert_int_equal(decode_exact(rec, n, NULL, 0, 1), 16);

	/* The empty record: a header of its size byte alone. */
	rec[0] = 1;
	assert_int_equal(decode_exact(rec, 1, v, 20, 1), 0);
}

static void
record_big_text(void **state)
{
	size_t len = 200000, n;
	unsigned char *rec = malloc(len + 16);
	unsigned char hdr[16];
	struct gsr_value v[2];
	int h;

	(void)state;
	assert_non_null(rec);
	/* [hdr size][13 + 2 * len][0x09 (integer 1)] then the text. */
	h = put_varint(hdr + 1, 13 + 2 * (uint64_t)len);
	hdr[1 + h] = 9;
	hdr[0] = (unsigned char)(h + 2);
	memcpy(rec, hdr, (size_t)h + 2);
	for (size_t i = 0; i < len; i++)
		rec[h + 2 + i] = (unsigned char)('a' + i % 26);
	n = (size_t)h + 2 + len;
	assert_int_equal(decode_exact(rec, n, v, 2, 1), 2);
	assert_int_equal(v[0].type, GSR_V_TEXT);
	assert_int_equal(v[0].n, len);
	assert_int_equal(v[0].p[len - 1], 'a' + (len - 1) % 26);
	assert_int_equal(v[1].type, GSR_V_INT);
	assert_true(v[1].i == 1);
	/* One byte short or long: inconsistent. */
	assert_int_equal(decode_exact(rec, n - 1, v, 2, 1), -1);
	rec[n] = 0;
	assert_int_equal(decode_exact(rec, n + 1, v, 2, 1), -1);
	free(rec);
}

static void
record_hostile(void **state)
{
	struct gsr_value v[8];
	unsigned char b[32];
	int l;

	(void)state;
	/* No bytes at all; a NULL buffer. */
	assert_int_equal(gsr_record_decode(NULL, 0, v, 8, 1), -1);
	assert_int_equal(decode_exact("", 0, v, 8, 1), -1);
	/* Header size 0 (below its own varint), and beyond n. */
	assert_int_equal(decode_exact("\x00", 1, v, 8, 1), -1);
	assert_int_equal(decode_exact("\x05\x01", 2, v, 8, 1), -1);
	/* Header size a huge nine-byte varint. */
	memset(b, 0xff, 9);
	assert_int_equal(decode_exact(b, 9, v, 8, 1), -1);
	assert_int_equal(decode_exact(b, 5, v, 8, 1), -1);
	/* A serial type whose length is beyond n: text of 57 bytes in 10. */
	assert_int_equal(decode_exact("\x02\x7f"
	                              "abcdefgh",
	                              10, v, 8, 1),
	                 -1);
	/* A huge serial type (nine bytes of 0xff). */
	b[0] = 10;
	memset(b + 1, 0xff, 9);
	assert_int_equal(decode_exact(b, 10, v, 8, 1), -1);
	/* Serial type 2^63 + 12: a blob of 2^62 bytes. */
	b[0] = 10;
	l = put_varint(b + 1, (1ULL << 63) + 12);
	assert_int_equal(l, 9);
	assert_int_equal(decode_exact(b, 10, v, 8, 1), -1);
	/* A serial type varint running past the header (header says 2). */
	assert_int_equal(decode_exact("\x02\x81\x00", 3, v, 8, 1), -1);
	/* Reserved serial types 10 and 11. */
	assert_int_equal(decode_exact("\x02\x0a", 2, v, 8, 1), -1);
	assert_int_equal(decode_exact("\x02\x0b", 2, v, 8, 1), -1);
	/* Body shorter and longer than the types say. */
	assert_int_equal(decode_exact("\x02\x04\x01\x02\x03", 5, v, 8, 1), -1);
	assert_int_equal(decode_exact("\x02\x01\x01\x02", 4, v, 8, 1), -1);
	assert_int_equal(decode_exact("\x02\x01\x01", 3, v, 8, 1), 1);
	/* A header of 70000 NULLs: more values than any table can have. */
	{
		size_t n = 70003;
		unsigned char *r = calloc(1, n);

		assert_non_null(r);
		r[0] = 0x84; /* 3-byte varint: 0x84 0xa2 0x73 = 70003 */
		r[1] = 0xa2;
		r[2] = 0x73;
		assert_int_equal(gsr_record_decode(r, n, v, 8, 1), -1);
		free(r);
	}
}

static void
record_utf16(void **state)
{
	/* "é中" little-endian, "😀" as a surrogate pair. */
	static const unsigned char le[] = {0xe9, 0x00, 0x2d, 0x4e,
	                                   0x3d, 0xd8, 0x00, 0xde};
	unsigned char rec[64], be[sizeof le], out[32];
	uint64_t types[1];
	struct gsr_value v[1];
	size_t n;

	(void)state;
	for (size_t i = 0; i < sizeof le; i += 2) {
		be[i] = le[i + 1];
		be[i + 1] = le[i];
	}
	assert_int_equal(gsr_utf16_to_utf8(le, sizeof le, false, out), 9);
	assert_memory_equal(out, "\xc3\xa9\xe4\xb8\xad\xf0\x9f\x98\x80", 9);
	assert_int_equal(gsr_utf16_to_utf8(be, sizeof be, true, out), 9);
	assert_memory_equal(out, "\xc3\xa9\xe4\xb8\xad\xf0\x9f\x98\x80", 9);
	assert_int_equal(gsr_utf16_to_utf8(le, 0, false, out), 0);
	/* Odd length, a lone high surrogate, a lone low surrogate. */
	assert_true(gsr_utf16_to_utf8(le, 3, false, out) == (size_t)-1);
	assert_true(gsr_utf16_to_utf8(le, 6, false, out) == (size_t)-1);
	assert_true(gsr_utf16_to_utf8(le + 6, 2, false, out) == (size_t)-1);

	/* Valid UTF-16 TEXT stays TEXT, as stored. */
	types[0] = 13 + 2 * sizeof le;
	n = make_record(rec, types, 1, le, sizeof le);
	assert_int_equal(decode_exact(rec, n, v, 1, 2), 1);
	assert_int_equal(v[0].type, GSR_V_TEXT);
	assert_int_equal(v[0].n, sizeof le);
	assert_false(v[0].encoding_error);
	/* Read as big-endian, the same bytes are other characters. */
	assert_int_equal(decode_exact(rec, n, v, 1, 3), 1);
	assert_int_equal(v[0].type, GSR_V_TEXT);
	/* "a" and a lone low surrogate in big-endian: a BLOB with the bytes
	 * as stored, flagged; little-endian, two valid characters. */
	n = make_record(rec, types, 1, "\x00\x61\xdc\x00\x00\x62\x00\x00", 8);
	assert_int_equal(decode_exact(rec, n, v, 1, 3), 1);
	assert_int_equal(v[0].type, GSR_V_BLOB);
	assert_true(v[0].encoding_error);
	assert_false(v[0].truncated);
	assert_int_equal(v[0].n, 8);
	assert_memory_equal(v[0].p, "\x00\x61\xdc\x00\x00\x62\x00\x00", 8);
	assert_int_equal(decode_exact(rec, n, v, 1, 2), 1);
	assert_int_equal(v[0].type, GSR_V_TEXT);
	/* An odd number of bytes. */
	types[0] = 13 + 2 * 3;
	n = make_record(rec, types, 1, le, 3);
	assert_int_equal(decode_exact(rec, n, v, 1, 2), 1);
	assert_int_equal(v[0].type, GSR_V_BLOB);
	assert_true(v[0].encoding_error);
	/* UTF-8 databases: anything goes, as stored. */
	assert_int_equal(decode_exact(rec, n, v, 1, 1), 1);
	assert_int_equal(v[0].type, GSR_V_TEXT);
	assert_false(v[0].encoding_error);
}

/* ---- serial types and local sizes ------------------------------------ */

static void
serial_sizes(void **state)
{
	static const uint64_t small[12] = {0, 1, 2, 3, 4, 6, 8, 8, 0, 0, 0, 0};

	(void)state;
	for (uint64_t st = 0; st < 12; st++)
		assert_true(gsr_serial_size(st) == small[st]);
	/* BLOB (even) and TEXT (odd) from 12 on: (st - 12) / 2 bytes. */
	for (uint64_t st = 12; st < 1000; st++)
		assert_true(gsr_serial_size(st) == (st - 12) / 2);
	assert_true(gsr_serial_size((1ULL << 63) + 12) == 1ULL << 62);
	assert_true(gsr_serial_size(UINT64_MAX) == (UINT64_MAX - 12) / 2);

	/* A record of one value of each type takes exactly that many body
	 * bytes: one more or one fewer is inconsistent. */
	for (uint64_t st = 0; st < 40; st++) {
		unsigned char rec[64], body[32] = {0};
		struct gsr_value v[1];
		size_t size = (size_t)gsr_serial_size(st), n;

		if (st == 10 || st == 11)
			continue;
		n = make_record(rec, &st, 1, body, size);
		assert_int_equal(decode_exact(rec, n, v, 1, 1), 1);
		rec[n] = 0;
		assert_int_equal(decode_exact(rec, n + 1, v, 1, 1), -1);
		if (size > 0)
			assert_int_equal(decode_exact(rec, n - 1, v, 1, 1), -1);
	}
}

static void
local_sizes(void **state)
{
	static const uint32_t usable[] = {480,  512,  1000, 1024,
	                                  4096, 4064, 65536};

	(void)state;
	/* Usable size 4096: a table leaf cell keeps up to U - 35 = 4061
	 * bytes, an index cell up to (U - 12) * 64 / 255 - 23 = 1002; a
	 * larger payload keeps min local, (U - 12) * 32 / 255 - 23 = 489,
	 * plus what makes the rest fill whole overflow pages of U - 4
	 * bytes, when that is at most the max. */
	assert_true(gsr_max_local(4096, true) == 4061);
	assert_true(gsr_max_local(4096, false) == 1002);
	assert_true(gsr_local_size(0, 4096, true) == 0);
	assert_true(gsr_local_size(4061, 4096, true) == 4061);
	assert_true(gsr_local_size(4062, 4096, true) == 489);
	assert_true(gsr_local_size(489 + 4092, 4096, true) == 489);
	assert_true(gsr_local_size(10000, 4096, true) == 1816);
	assert_true(gsr_local_size(1002, 4096, false) == 1002);
	assert_true(gsr_local_size(1003, 4096, false) == 489);
	assert_true(gsr_local_size(5000, 4096, false) == 908);
	/* The extremes: a 512-byte page less 255 reserved bytes (what the
	 * page-size inference uses) and a 65536-byte page. */
	assert_true(gsr_max_local(257, true) == 222);
	assert_true(gsr_max_local(257, false) == 38);
	assert_true(gsr_max_local(65536, true) == 65501);
	assert_true(gsr_max_local(65536, false) == 16422);
	/* For every payload: all of it up to the max, else between min and
	 * max local, the rest a whole number of overflow pages when the
	 * local part is not min local. */
	for (size_t u = 0; u < GSR_ARRAY_LEN(usable); u++) {
		uint32_t us = usable[u];
		uint64_t min_local = (uint64_t)(us - 12) * 32 / 255 - 23;

		for (int leaf = 0; leaf <= 1; leaf++) {
			uint64_t max_local = gsr_max_local(us, leaf);

			for (uint64_t p = 0; p < 3 * (uint64_t)us; p++) {
				uint64_t l = gsr_local_size(p, us, leaf);

				if (p <= max_local) {
					assert_true(l == p);
					continue;
				}
				assert_true(l >= min_local && l <= max_local);
				assert_true(l == min_local ||
				            (p - l) % (us - 4) == 0);
			}
		}
	}
}

/* A record whose overflow chain is lost: only its first avail bytes. */
static void
record_part(void **state)
{
	/* An INTEGER of 2 bytes (258), a TEXT of 10, a BLOB of 4: a header
	 * of 4 bytes, values at 4, 6 and 16, 20 bytes in all. */
	static const uint64_t types[] = {2, 13 + 2 * 10, 12 + 2 * 4};
	static const unsigned char body[] = {0x01, 0x02, 'a',  'b', 'c', 'd',
	                                     'e',  'f',  'g',  'h', 'i', 'j',
	                                     0xde, 0xad, 0xbe, 0xef};
	unsigned char rec[64], *c;
	struct gsr_value v[3];
	size_t n = make_record(rec, types, 3, body, sizeof body);

	(void)state;
	assert_int_equal(n, 20);
	/* Whole: gsr_record_decode(), nothing cut short. */
	c = exact_copy(rec, n);
	assert_int_equal(gsr_record_decode_part(c, n, n, v, 3, 1), 3);
	assert_true(v[0].i == 258);
	assert_int_equal(v[1].n, 10);
	assert_int_equal(v[2].n, 4);
	for (int i = 0; i < 3; i++)
		assert_false(v[i].truncated);
	free(c);
	/* Cut anywhere in the body: a number not read whole is a NULL cut
	 * short, a TEXT or BLOB the prefix that is there. */
	for (size_t avail = 4; avail < n; avail++) {
		size_t text = avail > 6 ? avail - 6 : 0;
		size_t blob = avail > 16 ? avail - 16 : 0;

		c = exact_copy(rec, avail);
		assert_int_equal(gsr_record_decode_part(c, avail, n, v, 3, 1),
		                 3);
		if (avail >= 6) {
			assert_int_equal(v[0].type, GSR_V_INT);
			assert_true(v[0].i == 258);
			assert_false(v[0].truncated);
		} else {
			assert_int_equal(v[0].type, GSR_V_NULL);
			assert_true(v[0].truncated);
		}
		assert_int_equal(v[1].type, GSR_V_TEXT);
		assert_non_null(v[1].p);
		assert_int_equal(v[1].n, text > 10 ? 10 : text);
		assert_memory_equal(v[1].p, "abcdefghij", v[1].n);
		assert_true(v[1].truncated == (avail < 16));
		assert_int_equal(v[2].type, GSR_V_BLOB);
		assert_non_null(v[2].p);
		assert_int_equal(v[2].n, blob);
		assert_memory_equal(v[2].p, body + 12, blob);
		assert_true(v[2].truncated);
		free(c);
	}
	/* The header must be there whole. */
	for (size_t avail = 1; avail < 4; avail++) {
		c = exact_copy(rec, avail);
		assert_int_equal(gsr_record_decode_part(c, avail, n, v, 3, 1),
		                 -1);
		free(c);
	}
	/* Nothing, more than declared, a declared size the types do not
	 * add up to, and the count alone without slots. */
	c = exact_copy(rec, n);
	assert_int_equal(gsr_record_decode_part(c, 0, n, v, 3, 1), -1);
	assert_int_equal(gsr_record_decode_part(c, n, n - 1, v, 3, 1), -1);
	assert_int_equal(gsr_record_decode_part(c, 10, n + 1, v, 3, 1), -1);
	assert_int_equal(gsr_record_decode_part(c, 10, n, NULL, 3, 1), 3);
	free(c);
}

/* ---- UTF-16 --------------------------------------------------------- */

/* A TEXT value of the n bytes at p, converted from UTF-16 into a buffer
 * of exactly the size gsr_value_utf16_to_utf8() asks for. */
static size_t
convert(const unsigned char *p, size_t n, bool truncated, bool be,
        struct gsr_value *v, unsigned char **out, bool *bad)
{
	memset(v, 0, sizeof *v);
	v->type = GSR_V_TEXT;
	v->p = p;
	v->n = n;
	v->truncated = truncated;
	*out = malloc(n >= 2 ? n / 2 * 3 : 1);
	assert_non_null(*out);
	*bad = false;
	return gsr_value_utf16_to_utf8(v, be, *out, bad);
}

static void
value_utf16(void **state)
{
	/* "é中" and "😀" (a surrogate pair), little- and big-endian. */
	static const unsigned char le[] = {0xe9, 0x00, 0x2d, 0x4e,
	                                   0x3d, 0xd8, 0x00, 0xde};
	static const unsigned char be[] = {0x00, 0xe9, 0x4e, 0x2d,
	                                   0xd8, 0x3d, 0xde, 0x00};
	static const char utf8[] = "\xc3\xa9\xe4\xb8\xad\xf0\x9f\x98\x80";
	struct gsr_value v;
	unsigned char *out, *in;
	bool bad;

	(void)state;
	/* Whole and valid, both byte orders. */
	in = exact_copy(le, sizeof le);
	assert_int_equal(convert(in, 8, false, false, &v, &out, &bad), 9);
	assert_false(bad);
	assert_ptr_equal(v.p, out);
	assert_int_equal(v.n, 9);
	assert_memory_equal(v.p, utf8, 9);
	free(out);
	free(in);
	in = exact_copy(be, sizeof be);
	assert_int_equal(convert(in, 8, false, true, &v, &out, &bad), 9);
	assert_false(bad);
	assert_memory_equal(v.p, utf8, 9);
	free(out);
	/* Cut inside the surrogate pair: the whole characters before it;
	 * flagged only when the value was complete. */
	assert_int_equal(convert(in, 6, true, true, &v, &out, &bad), 5);
	assert_false(bad);
	assert_memory_equal(v.p, utf8, 5);
	free(out);
	assert_int_equal(convert(in, 6, false, true, &v, &out, &bad), 5);
	assert_true(bad);
	assert_memory_equal(v.p, utf8, 5);
	free(out);
	/* Cut after an odd byte. */
	assert_int_equal(convert(in, 3, true, true, &v, &out, &bad), 2);
	assert_false(bad);
	assert_memory_equal(v.p, utf8, 2);
	free(out);
	free(in);
	/* A low surrogate first: nothing is kept, and v points at no bytes
	 * but is not NULL. */
	in = exact_copy("\x00\xdc\x61\x00", 4);
	assert_int_equal(convert(in, 4, false, false, &v, &out, &bad), 0);
	assert_true(bad);
	assert_int_equal(v.n, 0);
	assert_non_null(v.p);
	free(out);
	free(in);
	/* A high surrogate followed by no low one, even in a value cut
	 * short: "a", then the unpaired surrogate. */
	in = exact_copy("\x61\x00\x3d\xd8\x62\x00", 6);
	assert_int_equal(convert(in, 6, true, false, &v, &out, &bad), 1);
	assert_true(bad);
	assert_memory_equal(v.p, "a", 1);
	free(out);
	free(in);
	/* "a", a lone low surrogate, "b", big-endian. */
	in = exact_copy("\x00\x61\xdc\x00\x00\x62", 6);
	assert_int_equal(convert(in, 6, false, true, &v, &out, &bad), 1);
	assert_true(bad);
	assert_memory_equal(v.p, "a", 1);
	free(out);
	free(in);
	/* The empty value. */
	in = exact_copy("", 0);
	assert_int_equal(convert(in, 0, false, false, &v, &out, &bad), 0);
	assert_false(bad);
	assert_int_equal(v.n, 0);
	assert_non_null(v.p);
	free(out);
	free(in);
	/* gsr_utf16_to_utf8(): all or nothing. */
	out = malloc(12);
	assert_non_null(out);
	assert_true(gsr_utf16_to_utf8(NULL, 2, false, out) == (size_t)-1);
	assert_true(gsr_utf16_to_utf8(le, 2, false, NULL) == (size_t)-1);
	assert_true(gsr_utf16_to_utf8(le + 4, 4, false, out) == 4);
	assert_memory_equal(out, "\xf0\x9f\x98\x80", 4);
	assert_true(gsr_utf16_to_utf8((const unsigned char *)"\x00\xdc\x00\xd8",
	                              4, false, out) == (size_t)-1);
	free(out);
}

/* ---- page headers --------------------------------------------------- */

static void
page_check_bytes(void **state)
{
	unsigned char p[512];

	(void)state;
	memset(p, 0, sizeof p);
	/* A table leaf of 2 cells at 500 and 490. */
	p[0] = 0x0d;
	p[4] = 2;
	p[5] = 0x01;
	p[6] = 0xea; /* content at 490 */
	p[8] = 0x01;
	p[9] = 0xf4; /* 500 */
	p[10] = 0x01;
	p[11] = 0xea; /* 490 */
	assert_int_equal(gsr_btree_page_check(p, 512, 512, 0, true), 0x0d);
	/* A cell pointer into the header, then past the end. */
	p[8] = 0x00;
	p[9] = 0x05;
	assert_int_equal(gsr_btree_page_check(p, 512, 512, 0, true), 0);
	assert_int_equal(gsr_btree_page_check(p, 512, 512, 0, false), 0x0d);
	p[8] = 0x02;
	p[9] = 0x00;
	assert_int_equal(gsr_btree_page_check(p, 512, 512, 0, true), 0);
	p[8] = 0x01;
	p[9] = 0xf4;
	/* More cells than the page holds. */
	p[3] = 0xff;
	assert_int_equal(gsr_btree_page_check(p, 512, 512, 0, false), 0);
	p[3] = 0;
	/* Unknown types; an interior page without a right child. */
	p[0] = 0x0e;
	assert_int_equal(gsr_btree_page_check(p, 512, 512, 0, false), 0);
	p[0] = 0x05;
	assert_int_equal(gsr_btree_page_check(p, 512, 512, 0, false), 0x05);
	memset(p + 8, 0, 4);
	assert_int_equal(gsr_btree_page_check(p, 512, 512, 0, false), 0);
	p[0] = 0x00;
	assert_int_equal(gsr_btree_page_check(p, 512, 512, 0, false), 0);
	/* The header at 100 of a page too small for it. */
	assert_int_equal(gsr_btree_page_check(p, 512, 100, 100, false), 0);
	assert_int_equal(gsr_btree_page_check(NULL, 512, 512, 0, false), 0);
}

static void
page_hdr_fields(void **state)
{
	unsigned char p[512];
	struct gsr_page_hdr h;

	(void)state;
	memset(p, 0, sizeof p);
	/* A table interior page's header at 100 (page 1): 3 cells, first
	 * freeblock 0x123, content 0 (65536), right child 0x01020304. */
	p[100] = 0x05;
	p[101] = 0x01;
	p[102] = 0x23;
	p[104] = 3;
	p[108] = 1;
	p[109] = 2;
	p[110] = 3;
	p[111] = 4;
	assert_true(gsr_page_hdr_parse(p, 512, 100, &h));
	assert_int_equal(h.type, GSR_PAGE_TABLE_INTERIOR);
	assert_true(gsr_page_is_interior(h.type));
	assert_int_equal(h.first_free, 0x123);
	assert_int_equal(h.n_cells, 3);
	assert_int_equal(h.content, 65536);
	assert_int_equal(h.right, 0x01020304);
	assert_int_equal(h.ptr_off, 112);
	assert_int_equal(h.ptr_end, 118);
	/* The same as an index leaf: an 8-byte header, no right child. */
	p[100] = 0x0a;
	assert_true(gsr_page_hdr_parse(p, 512, 100, &h));
	assert_false(gsr_page_is_interior(h.type));
	assert_int_equal(h.right, 0);
	assert_int_equal(h.ptr_off, 108);
	assert_int_equal(h.ptr_end, 114);
	/* No room for a header, an unknown type, a pointer array past the
	 * usable bytes, no page. */
	assert_false(gsr_page_hdr_parse(p, 111, 100, &h));
	assert_false(gsr_page_hdr_parse(p, 11, 0, &h));
	assert_false(gsr_page_hdr_parse(p, 512, 0, &h));
	p[104] = 0xc8; /* 200 cells: 108 + 400 bytes */
	assert_true(gsr_page_hdr_parse(p, 512, 100, &h));
	assert_false(gsr_page_hdr_parse(p, 507, 100, &h));
	assert_false(gsr_page_hdr_parse(NULL, 512, 0, &h));
}

/* ---- what SQLite wrote ----------------------------------------------- */

/* Every storage class and every integer width, in two rows. */
static const char rows_sql[] =
    "CREATE TABLE t(a, b, c, d, e, f, g, h);"
    "INSERT INTO t VALUES (NULL, 0, 1, -129, 3.5, 'caf\xc3\xa9', x'00ff',"
    " 1099511627776);"
    "INSERT INTO t VALUES (-1, 32767, 8388607, 2147483648, -0.25, '', x'',"
    " -9223372036854775808);";

/* A database of page_size and encoding (NULL: UTF-8) made by sql in
 * tmpdir; its image in *img and *size, and the root page of table. */
static uint32_t
sqlite_image(const char *name, int page_size, const char *encoding,
             const char *sql, const char *table, unsigned char **img,
             size_t *size)
{
	char path[512];
	uint32_t root;
	sqlite3 *db;

	snprintf(path, sizeof path, "%s/%s.db", tmpdir, name);
	db = open_new_db(path, page_size, encoding);
	exec_sql(db, sql);
	root = rootpage_of(db, table);
	assert_int_equal(sqlite3_close(db), SQLITE_OK);
	*img = read_image(path, size);
	remove_db(path);
	assert_true(root >= 2);
	assert_true((size_t)root * (size_t)page_size <= *size);
	return root;
}

/* Cell i of the table leaf page (usable bytes): its payload size, rowid
 * and where its payload starts. */
static uint32_t
leaf_cell(const unsigned char *page, uint32_t usable, uint32_t i,
          uint64_t *payload, uint64_t *rowid)
{
	struct gsr_page_hdr h;
	uint32_t off;
	int l1, l2;

	assert_true(gsr_page_hdr_parse(page, usable, 0, &h));
	assert_true(i < h.n_cells);
	off = gsr_get_u16(page + h.ptr_off + 2 * i);
	assert_true(off >= h.ptr_end && off < usable);
	l1 = gsr_varint_get(page + off, page + usable, payload);
	assert_true(l1 > 0);
	l2 = gsr_varint_get(page + off + l1, page + usable, rowid);
	assert_true(l2 > 0);
	return off + (uint32_t)(l1 + l2);
}

static void
expect_text(const struct gsr_value *v, const char *utf8, uint32_t enc)
{
	unsigned char out[64];
	size_t n;

	assert_int_equal(v->type, GSR_V_TEXT);
	assert_false(v->encoding_error);
	if (enc == 1) {
		assert_int_equal(v->n, strlen(utf8));
		assert_memory_equal(v->p, utf8, v->n);
		return;
	}
	assert_true(v->n / 2 * 3 <= sizeof out);
	n = gsr_utf16_to_utf8(v->p, v->n, enc == 3, out);
	assert_int_equal(n, strlen(utf8));
	assert_memory_equal(out, utf8, n);
}

static void
sqlite_records(void **state)
{
	static const char *const encodings[] = {NULL, "UTF-16le", "UTF-16be"};

	(void)state;
	for (uint32_t e = 0; e < GSR_ARRAY_LEN(encodings); e++) {
		uint32_t enc = e + 1, root, cell;
		struct gsr_page_hdr h;
		struct gsr_value v[8];
		const unsigned char *page;
		unsigned char *img, *rec;
		uint64_t payload, rowid;
		size_t size;
		double r;

		root = sqlite_image("rows", 4096, encodings[e], rows_sql, "t",
		                    &img, &size);
		assert_int_equal(gsr_get_u32(img + 56), enc);
		page = img + (size_t)(root - 1) * 4096;
		assert_int_equal(
		    gsr_btree_page_check(page, 4096, 4096, 0, true),
		    GSR_PAGE_TABLE_LEAF);
		assert_true(gsr_page_hdr_parse(page, 4096, 0, &h));
		assert_int_equal(h.n_cells, 2);
		assert_int_equal(h.ptr_off, 8);
		assert_int_equal(h.ptr_end, 12);
		assert_int_equal(h.first_free, 0);
		assert_true(h.content >= h.ptr_end && h.content < 4096);

		/* Row 1. */
		cell = leaf_cell(page, 4096, 0, &payload, &rowid);
		assert_true(rowid == 1);
		assert_true(gsr_local_size(payload, 4096, true) == payload);
		rec = exact_copy(page + cell, (size_t)payload);
		assert_int_equal(
		    gsr_record_decode(rec, (size_t)payload, v, 8, enc), 8);
		assert_int_equal(v[0].type, GSR_V_NULL);
		assert_int_equal(v[1].type, GSR_V_INT);
		assert_true(v[1].i == 0);
		assert_true(v[2].i == 1);
		assert_true(v[3].i == -129);
		assert_int_equal(v[4].type, GSR_V_REAL);
		r = 3.5;
		assert_memory_equal(&v[4].r, &r, sizeof r);
		expect_text(&v[5], "caf\xc3\xa9", enc);
		assert_int_equal(v[6].type, GSR_V_BLOB);
		assert_int_equal(v[6].n, 2);
		assert_memory_equal(v[6].p, "\x00\xff", 2);
		assert_int_equal(v[7].type, GSR_V_INT);
		assert_true(v[7].i == 1099511627776LL);
		/* Cut by one byte: inconsistent. */
		assert_int_equal(
		    gsr_record_decode(rec, (size_t)payload - 1, v, 8, enc), -1);
		free(rec);

		/* Row 2. */
		cell = leaf_cell(page, 4096, 1, &payload, &rowid);
		assert_true(rowid == 2);
		rec = exact_copy(page + cell, (size_t)payload);
		assert_int_equal(
		    gsr_record_decode(rec, (size_t)payload, v, 8, enc), 8);
		assert_true(v[0].i == -1);
		assert_true(v[1].i == 32767);
		assert_true(v[2].i == 8388607);
		assert_true(v[3].i == 2147483648LL);
		r = -0.25;
		assert_memory_equal(&v[4].r, &r, sizeof r);
		expect_text(&v[5], "", enc);
		assert_int_equal(v[6].type, GSR_V_BLOB);
		assert_int_equal(v[6].n, 0);
		assert_non_null(v[6].p);
		assert_true(v[7].i == INT64_MIN);
		for (int i = 0; i < 8; i++)
			assert_false(v[i].truncated);
		free(rec);
		free(img);
	}
}

/* A record of 10005 bytes in 4096-byte pages: 1821 in the leaf, then two
 * overflow pages of 4092 bytes, as gsr_local_size() says. */
static void
sqlite_overflow(void **state)
{
	struct gsr_value v[2];
	const unsigned char *page, *o1, *o2;
	unsigned char *img, *rec;
	uint64_t payload, rowid;
	uint32_t root, cell, first, second;
	size_t size, local;

	(void)state;
	root = sqlite_image("big", 4096, NULL,
	                    "CREATE TABLE big(id INTEGER PRIMARY KEY, v TEXT);"
	                    "INSERT INTO big VALUES (7, "
	                    "replace(hex(zeroblob(5000)), '00', 'ab'))",
	                    "big", &img, &size);
	page = img + (size_t)(root - 1) * 4096;
	assert_int_equal(gsr_btree_page_check(page, 4096, 4096, 0, true),
	                 GSR_PAGE_TABLE_LEAF);
	cell = leaf_cell(page, 4096, 0, &payload, &rowid);
	assert_true(rowid == 7);
	assert_true(payload == 10005);
	local = (size_t)gsr_local_size(payload, 4096, true);
	assert_int_equal(local, 1821);
	assert_true(cell + local + 4 <= 4096);
	first = gsr_get_u32(page + cell + local);
	assert_true(first >= 2 && (size_t)first * 4096 <= size);
	o1 = img + (size_t)(first - 1) * 4096;
	second = gsr_get_u32(o1);
	assert_true(second >= 2 && (size_t)second * 4096 <= size);
	o2 = img + (size_t)(second - 1) * 4096;
	assert_int_equal(gsr_get_u32(o2), 0);

	/* The part in the page: the INTEGER PRIMARY KEY's NULL, and the
	 * text cut short after 1816 bytes. */
	rec = exact_copy(page + cell, local);
	assert_int_equal(gsr_record_decode_part(rec, local, payload, v, 2, 1),
	                 2);
	assert_int_equal(v[0].type, GSR_V_NULL);
	assert_false(v[0].truncated);
	assert_int_equal(v[1].type, GSR_V_TEXT);
	assert_true(v[1].truncated);
	assert_int_equal(v[1].n, 1816);
	for (size_t k = 0; k < v[1].n; k++)
		assert_int_equal(v[1].p[k], k % 2 ? 'b' : 'a');
	free(rec);

	/* Reassembled from the overflow pages: the whole text. */
	rec = malloc((size_t)payload);
	assert_non_null(rec);
	memcpy(rec, page + cell, local);
	memcpy(rec + local, o1 + 4, 4092);
	memcpy(rec + local + 4092, o2 + 4, 4092);
	assert_int_equal(gsr_record_decode(rec, (size_t)payload, v, 2, 1), 2);
	assert_false(v[1].truncated);
	assert_int_equal(v[1].n, 10000);
	for (size_t k = 0; k < v[1].n; k++)
		assert_int_equal(v[1].p[k], k % 2 ? 'b' : 'a');
	free(rec);
	free(img);
}

/* The leaf SQLite wrote, damaged one field at a time. */
static void
sqlite_page_damaged(void **state)
{
	const unsigned char *good;
	unsigned char *img, *p;
	struct gsr_page_hdr h;
	struct gsr_value v[8];
	uint64_t payload, rowid;
	uint32_t root, cell;
	size_t size;

	(void)state;
	root = sqlite_image("damage", 4096, NULL, rows_sql, "t", &img, &size);
	good = img + (size_t)(root - 1) * 4096;
	assert_true(gsr_page_hdr_parse(good, 4096, 0, &h));
	p = exact_copy(good, 4096);

	/* The cell content area before the end of the pointer array. */
	p[5] = 0;
	p[6] = 10;
	assert_int_equal(gsr_btree_page_check(p, 4096, 4096, 0, false), 0);
	memcpy(p, good, 4096);
	/* A first freeblock in the last 3 bytes, or inside the header. */
	p[1] = 0x0f;
	p[2] = 0xfe;
	assert_int_equal(gsr_btree_page_check(p, 4096, 4096, 0, false), 0);
	p[1] = 0;
	p[2] = 4;
	assert_int_equal(gsr_btree_page_check(p, 4096, 4096, 0, false), 0);
	memcpy(p, good, 4096);
	/* A cell pointer past the usable area: only the strict check. */
	p[8] = 0x0f;
	p[9] = 0xfd;
	assert_int_equal(gsr_btree_page_check(p, 4096, 4096, 0, true), 0);
	assert_int_equal(gsr_btree_page_check(p, 4096, 4096, 0, false),
	                 GSR_PAGE_TABLE_LEAF);
	memcpy(p, good, 4096);
	/* More cells than the page holds. */
	p[3] = 0xff;
	p[4] = 0xff;
	assert_int_equal(gsr_btree_page_check(p, 4096, 4096, 0, false), 0);
	memcpy(p, good, 4096);
	/* Not a b-tree page; an interior page without its right child. */
	p[0] = 0;
	assert_int_equal(gsr_btree_page_check(p, 4096, 4096, 0, false), 0);
	p[0] = GSR_PAGE_TABLE_INTERIOR;
	memset(p + 8, 0, 4);
	assert_int_equal(gsr_btree_page_check(p, 4096, 4096, 0, false), 0);
	memcpy(p, good, 4096);
	/* Read with 96 reserved bytes: the content runs into them. */
	assert_int_equal(gsr_btree_page_check(p, 4096, 4000, 0, false), 0);
	assert_int_equal(gsr_btree_page_check(p, 4096, 4096, 0, true),
	                 GSR_PAGE_TABLE_LEAF);

	/* A record header size byte past its payload. */
	cell = leaf_cell(p, 4096, 0, &payload, &rowid);
	p[cell] = 0x7f;
	assert_int_equal(gsr_record_decode(p + cell, (size_t)payload, v, 8, 1),
	                 -1);
	free(p);
	free(img);
}

static int
setup(void **state)
{
	(void)state;
	return make_tmpdir(tmpdir, sizeof tmpdir, "record");
}

static int
teardown(void **state)
{
	(void)state;
	free(last_copy);
	return remove_tree(tmpdir);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(varint_lengths),
	    cmocka_unit_test(varint_truncated),
	    cmocka_unit_test(record_serial_types),
	    cmocka_unit_test(record_big_text),
	    cmocka_unit_test(record_hostile),
	    cmocka_unit_test(record_utf16),
	    cmocka_unit_test(serial_sizes),
	    cmocka_unit_test(local_sizes),
	    cmocka_unit_test(record_part),
	    cmocka_unit_test(value_utf16),
	    cmocka_unit_test(page_check_bytes),
	    cmocka_unit_test(page_hdr_fields),
	    cmocka_unit_test(sqlite_records),
	    cmocka_unit_test(sqlite_overflow),
	    cmocka_unit_test(sqlite_page_damaged),
	};
	return cmocka_run_group_tests_name("record", tests, setup, teardown);
}
