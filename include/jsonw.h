/* jsonw.h -- a small streaming JSON writer (RFC 8259).
 *
 * Writes straight to a FILE *, in constant memory, with keys in the order
 * the caller gives them.  Strings are checked for UTF-8: a string that is
 * valid UTF-8 is written as a JSON string with controls escaped; anything
 * else is evidence and is never altered or replaced, so it is written as
 * the tagged object {"text_hex": "<hex of the bytes>"}.  BLOBs are written
 * as {"blob_hex": "<hex>"}.  REALs use %.17g; NaN and infinities, which JSON
 * cannot hold, are written as {"real": "nan"|"inf"|"-inf"}.
 *
 * The writer does not check that the caller nests calls correctly beyond a
 * fixed depth (JW_MAX_DEPTH); deeper nesting is ignored and flagged in
 * jw->failed.  Write errors are left to the caller's ferror() check.
 */
#ifndef GSR_JSONW_H
#define GSR_JSONW_H

#include "compat.h"

#include <stdio.h>

#define JW_MAX_DEPTH 32

struct jsonw {
	FILE *f;
	bool pretty;
	bool failed;
	int depth;
	bool after_key;
	bool has_items[JW_MAX_DEPTH + 1];
};

void jw_init(struct jsonw *jw, FILE *f, bool pretty);
void jw_obj_begin(struct jsonw *jw);
void jw_obj_end(struct jsonw *jw);
void jw_arr_begin(struct jsonw *jw);
void jw_arr_end(struct jsonw *jw);
void jw_key(struct jsonw *jw, const char *key);
void jw_str(struct jsonw *jw, const char *s); /* NULL writes null */
void jw_strn(struct jsonw *jw, const char *s, size_t n);
void jw_int(struct jsonw *jw, int64_t v);
void jw_real(struct jsonw *jw, double v);
void jw_bool(struct jsonw *jw, bool v);
void jw_null(struct jsonw *jw);
void jw_blob(struct jsonw *jw, const void *p, size_t n);
/* A value already encoded as JSON by this writer (e.g. kept in a
 * database), written as it is. */
void jw_raw(struct jsonw *jw, const char *json);
/* Finish a top-level value with a newline. */
void jw_end_line(struct jsonw *jw);

/* Key-value shorthands. */
void jw_kstr(struct jsonw *jw, const char *k, const char *v);
void jw_kint(struct jsonw *jw, const char *k, int64_t v);
void jw_kbool(struct jsonw *jw, const char *k, bool v);
void jw_knull(struct jsonw *jw, const char *k);
struct strvec;
/* "k": [the strings of sv] */
void jw_kstrvec(struct jsonw *jw, const char *k, const struct strvec *sv);

/*
 * The number formats of the writer, for bulk writers that fill their own
 * buffers.  gsr_fmt_int writes v in decimal (at most GSR_FMT_INT_MAX - 1
 * bytes); gsr_fmt_real writes a finite v as jw_real does (always with a
 * '.' or an exponent, and reading back to exactly v) followed by a NUL,
 * into at least GSR_FMT_REAL_MAX bytes.  Both return the length, without
 * the NUL.
 */
#define GSR_FMT_INT_MAX 24
#define GSR_FMT_REAL_MAX 40
size_t gsr_fmt_int(char *buf, int64_t v);
size_t gsr_fmt_real(char *buf, double v);

/* True when the n bytes at s are well-formed UTF-8 (no overlongs, no
 * surrogates, nothing above U+10FFFF). */
bool gsr_utf8_valid(const char *s, size_t n);

#endif
