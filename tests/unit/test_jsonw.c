/* Unit tests of the JSON writer and the UTF-8 check. */
#include "compat.h"
#include "jsonw.h"

#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <setjmp.h>
#include <cmocka.h>

/* Run fn on a writer over a memory stream; return what it wrote. */
static char *
capture(void (*fn)(struct jsonw *))
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	struct jsonw jw;

	assert_non_null(f);
	jw_init(&jw, f, false);
	fn(&jw);
	fclose(f);
	return buf;
}

static void
utf8_cases(void **state)
{
	(void)state;
	assert_true(gsr_utf8_valid("", 0));
	assert_true(gsr_utf8_valid("plain", 5));
	assert_true(gsr_utf8_valid("\xc3\xa9", 2));         /* é */
	assert_true(gsr_utf8_valid("\xe2\x82\xac", 3));     /* € */
	assert_true(gsr_utf8_valid("\xf0\x9f\x98\x80", 4)); /* U+1F600 */
	assert_false(gsr_utf8_valid("\xff", 1));
	assert_false(gsr_utf8_valid("\xc3", 1));             /* cut short */
	assert_false(gsr_utf8_valid("\xc0\xaf", 2));         /* overlong */
	assert_false(gsr_utf8_valid("\xe0\x80\xaf", 3));     /* overlong */
	assert_false(gsr_utf8_valid("\xed\xa0\x80", 3));     /* surrogate */
	assert_false(gsr_utf8_valid("\xf4\x90\x80\x80", 4)); /* > U+10FFFF */
	assert_false(gsr_utf8_valid("a\x80", 2)); /* stray continuation */
}

static void
write_object(struct jsonw *jw)
{
	jw_obj_begin(jw);
	jw_kstr(jw, "s", "a\"b\\c\n\t\x01");
	jw_kint(jw, "i", -42);
	jw_key(jw, "r");
	jw_real(jw, 1.0);
	jw_key(jw, "x");
	jw_real(jw, 0.1);
	jw_key(jw, "nan");
	jw_real(jw, NAN);
	jw_kbool(jw, "b", true);
	jw_knull(jw, "n");
	jw_key(jw, "bad");
	jw_strn(jw, "ok\xff", 3);
	jw_key(jw, "blob");
	jw_blob(jw, "\x00\x01\xfe", 3);
	jw_key(jw, "a");
	jw_arr_begin(jw);
	jw_int(jw, 1);
	jw_arr_begin(jw);
	jw_arr_end(jw);
	jw_obj_begin(jw);
	jw_obj_end(jw);
	jw_arr_end(jw);
	jw_obj_end(jw);
}

static void
compact_object(void **state)
{
	char *out = capture(write_object);

	(void)state;
	assert_string_equal(
	    out, "{\"s\":\"a\\\"b\\\\c\\n\\t\\u0001\",\"i\":-42,\"r\":1.0,"
	         "\"x\":0.1,\"nan\":{\"real\":\"nan\"},\"b\":true,"
	         "\"n\":null,\"bad\":{\"text_hex\":\"6f6bff\"},"
	         "\"blob\":{\"blob_hex\":\"0001fe\"},\"a\":[1,[],{}]}");
	free(out);
}

static void
write_deep(struct jsonw *jw)
{
	for (int i = 0; i < JW_MAX_DEPTH + 5; i++)
		jw_arr_begin(jw);
	assert_true(jw->failed);
}

static void
depth_limit(void **state)
{
	(void)state;
	free(capture(write_deep));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(utf8_cases),
	    cmocka_unit_test(compact_object),
	    cmocka_unit_test(depth_limit),
	};
	return cmocka_run_group_tests_name("jsonw", tests, NULL, NULL);
}
