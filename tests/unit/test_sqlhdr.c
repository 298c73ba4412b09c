/* Unit tests of the database header decoder and its checks. */
#include "compat.h"
#include "sqlhdr.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <setjmp.h>
#include <cmocka.h>

static void
make_header(unsigned char *b, uint16_t ps, uint32_t pages)
{
	memset(b, 0, GSR_SQLHDR_SIZE);
	memcpy(b, "SQLite format 3", 16);
	b[16] = (unsigned char)(ps >> 8);
	b[17] = (unsigned char)ps;
	b[18] = b[19] = 1;
	b[21] = 64;
	b[22] = b[23] = 32;
	b[27] = 7;                    /* change counter */
	b[31] = (unsigned char)pages; /* page count */
	b[47] = 4;                    /* schema format */
	b[59] = 1;                    /* UTF-8 */
	b[95] = 7;                    /* version-valid-for */
}

static void
sane_header(void **state)
{
	unsigned char b[GSR_SQLHDR_SIZE];
	struct gsr_sqlhdr h;
	struct strvec p = STRVEC_INIT;

	(void)state;
	make_header(b, 4096, 3);
	assert_true(gsr_sqlhdr_is_sqlite(b, sizeof b));
	gsr_sqlhdr_decode(b, &h);
	assert_int_equal(h.page_size, 4096);
	assert_int_equal(h.n_pages, 3);
	assert_string_equal(gsr_sqlhdr_journal(&h), "delete");
	assert_int_equal(gsr_sqlhdr_check(&h, 3 * 4096, &p), 0);
	assert_int_equal(p.n, 0);
	sv_release(&p);
}

static void
page_size_one_means_65536(void **state)
{
	unsigned char b[GSR_SQLHDR_SIZE];
	struct gsr_sqlhdr h;

	(void)state;
	make_header(b, 1, 1);
	gsr_sqlhdr_decode(b, &h);
	assert_int_equal(h.page_size, 65536);
}

static void
problems_found(void **state)
{
	unsigned char b[GSR_SQLHDR_SIZE];
	struct gsr_sqlhdr h;
	struct strvec p = STRVEC_INIT;

	(void)state;
	make_header(b, 4096, 3);
	gsr_sqlhdr_decode(b, &h);
	assert_int_equal(gsr_sqlhdr_check(&h, 2 * 4096, &p), 1);
	assert_non_null(strstr(p.v[0], "truncated"));
	sv_release(&p);

	make_header(b, 4096, 3);
	b[18] = b[19] = 2;
	b[21] = 65;
	gsr_sqlhdr_decode(b, &h);
	assert_string_equal(gsr_sqlhdr_journal(&h), "wal");
	assert_int_equal(gsr_sqlhdr_check(&h, 3 * 4096 + 5, &p), 3);
	sv_release(&p);

	make_header(b, 3000, 3); /* not a power of two */
	gsr_sqlhdr_decode(b, &h);
	assert_int_equal(gsr_sqlhdr_check(&h, 9000, &p), 1);
	assert_non_null(strstr(p.v[0], "invalid page size"));
	sv_release(&p);

	memcpy(b, "SQLite format 2", 16);
	assert_false(gsr_sqlhdr_is_sqlite(b, sizeof b));
	assert_false(gsr_sqlhdr_is_sqlite(b, 3));
}

/* Compressed files and archives are told by their magic numbers, and
 * nothing else is taken for one. */
static void
packed_files(void **state)
{
	unsigned char b[512] = {0};
	char *m;

	(void)state;
	memcpy(b, "\x1f\x8b\x08", 3);
	m = gsr_sqlhdr_packed(b, sizeof b, "database.db.gz");
	assert_string_equal(
	    m, "the file is gzip-compressed, not an SQLite database; "
	       "unpack it first: gunzip -k database.db.gz");
	free(m);
	m = gsr_sqlhdr_packed(b, 2, "it's.db");
	assert_string_equal(
	    m, "the file is gzip-compressed, not an SQLite database; "
	       "unpack it first: gunzip -c 'it'\\''s.db' > "
	       "'it'\\''s.db.unpacked'");
	free(m);
	assert_null(gsr_sqlhdr_packed(b, 1, "database.db.gz"));

	memset(b, 0, sizeof b);
	memcpy(b, "BZh9", 4);
	m = gsr_sqlhdr_packed(b, sizeof b, "-d.tbz");
	assert_string_equal(
	    m, "the file is bzip2-compressed, not an SQLite database; "
	       "unpack it first: bunzip2 -k ./-d.tbz");
	free(m);
	b[3] = 'x'; /* no block size: not bzip2 */
	assert_null(gsr_sqlhdr_packed(b, sizeof b, "d.bz2"));

	memset(b, 0, sizeof b);
	memcpy(b + 257, "ustar", 5);
	m = gsr_sqlhdr_packed(b, sizeof b, "x");
	assert_string_equal(
	    m, "the file is a tar archive, not an SQLite database; "
	       "unpack it first: tar -xf x");
	free(m);
	assert_null(gsr_sqlhdr_packed(b, 261, "x"));

	make_header(b, 4096, 3); /* an SQLite header, "ustar" at 257 */
	assert_null(gsr_sqlhdr_packed(b, sizeof b, "database.db"));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(sane_header),
	    cmocka_unit_test(page_size_one_means_65536),
	    cmocka_unit_test(problems_found),
	    cmocka_unit_test(packed_files),
	};
	return cmocka_run_group_tests_name("sqlhdr", tests, NULL, NULL);
}
