/* Unit tests of the bounded string buffer and string vectors. */
#include "compat.h"
#include "strbuf.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <setjmp.h>
#include <cmocka.h>

static void
appends(void **state)
{
	struct strbuf sb = STRBUF_INIT;

	(void)state;
	assert_string_equal(sb_str(&sb), "");
	assert_int_equal(sb_adds(&sb, "ab"), 0);
	assert_int_equal(sb_addc(&sb, 'c'), 0);
	assert_int_equal(sb_addf(&sb, "%d-%s", 42, "x"), 0);
	assert_string_equal(sb_str(&sb), "abc42-x");
	assert_int_equal(sb.len, 7);
	char *s = sb_detach(&sb);
	assert_string_equal(s, "abc42-x");
	assert_null(sb.buf);
	free(s);
}

static void
ceiling(void **state)
{
	struct strbuf sb = STRBUF_INIT;

	(void)state;
	sb.max = 8;
	assert_int_equal(sb_adds(&sb, "1234567"), 0);
	assert_int_equal(sb_adds(&sb, "8"), -1); /* 8 + NUL > 8 */
	assert_true(sb.failed);
	assert_int_equal(sb_adds(&sb, ""), -1); /* failure is sticky */
	assert_string_equal(sb_str(&sb), "1234567");
	sb_release(&sb);
}

static void
vectors(void **state)
{
	struct strvec sv = STRVEC_INIT;

	(void)state;
	for (int i = 0; i < 100; i++)
		assert_int_equal(sv_push(&sv, i % 2 ? "odd" : "even"), 0);
	assert_int_equal(sv_push(&sv, NULL), 0);
	assert_int_equal(sv.n, 101);
	assert_true(sv_contains(&sv, "odd"));
	assert_false(sv_contains(&sv, "none"));
	assert_null(sv.v[100]);
	sv_release(&sv);
	assert_int_equal(sv.n, 0);
}

static void
grow_overflow(void **state)
{
	void *p = NULL;
	size_t cap = 0;

	(void)state;
	assert_int_equal(gsr_grow(&p, &cap, SIZE_MAX / 2, 16), -1);
	assert_int_equal(gsr_grow(&p, &cap, 3, 16), 0);
	assert_true(cap >= 3);
	free(p);
}

/* Shell words: plain names as they are, anything else single-quoted. */
static void
shell_words(void **state)
{
	struct strbuf sb = STRBUF_INIT;

	(void)state;
	sb_add_shell_word(&sb, "dir/database.db-1+x:y=z@h%2");
	assert_string_equal(sb_str(&sb), "dir/database.db-1+x:y=z@h%2");
	sb_reset(&sb);
	sb_add_shell_word(&sb, "");
	assert_string_equal(sb_str(&sb), "''");
	sb_reset(&sb);
	sb_add_shell_word(&sb, "it's $HOME; `x`");
	assert_string_equal(sb_str(&sb), "'it'\\''s $HOME; `x`'");
	assert_false(sb.failed);
	sb_release(&sb);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(appends),     cmocka_unit_test(ceiling),
	    cmocka_unit_test(vectors),     cmocka_unit_test(grow_overflow),
	    cmocka_unit_test(shell_words),
	};
	return cmocka_run_group_tests_name("strbuf", tests, NULL, NULL);
}
