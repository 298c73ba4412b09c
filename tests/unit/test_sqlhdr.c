/* Unit tests of the database header decoder and its checks. */
#include "compat.h"
#include "sqlhdr.h"

#include <stdarg.h>
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

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(sane_header),
		cmocka_unit_test(page_size_one_means_65536),
		cmocka_unit_test(problems_found),
	};
	return cmocka_run_group_tests_name("sqlhdr", tests, NULL, NULL);
}
