/* jsonw.c -- streaming JSON writer. */
#include "compat.h"
#include "jsonw.h"

#include "strbuf.h"

#include <math.h>
#include <string.h>
#include <inttypes.h>
#include <stdio.h>

/* A writer belongs to one thread: skip stdio's per-call locking, which
 * costs more than the formatting on an export of millions of rows. */
#define fputc fputc_unlocked
#define fwrite fwrite_unlocked
#define fputs fputs_unlocked

void
jw_init(struct jsonw *jw, FILE *f, bool pretty)
{
	memset(jw, 0, sizeof *jw);
	jw->f = f;
	jw->pretty = pretty;
}

static void
jw_indent(struct jsonw *jw)
{
	if (!jw->pretty)
		return;
	fputc('\n', jw->f);
	for (int i = 0; i < jw->depth; i++)
		fputs("  ", jw->f);
}

/* Emit the separator that goes before a new value or key. */
static void
jw_sep(struct jsonw *jw)
{
	if (jw->after_key) {
		jw->after_key = false;
		return;
	}
	if (jw->depth == 0)
		return;
	if (jw->has_items[jw->depth])
		fputc(',', jw->f);
	jw->has_items[jw->depth] = true;
	jw_indent(jw);
}

static void
jw_open(struct jsonw *jw, char c)
{
	jw_sep(jw);
	fputc(c, jw->f);
	if (jw->depth >= JW_MAX_DEPTH) {
		jw->failed = true;
		return;
	}
	jw->depth++;
	jw->has_items[jw->depth] = false;
}

static void
jw_close(struct jsonw *jw, char c)
{
	if (jw->depth == 0) {
		jw->failed = true;
		return;
	}
	bool had = jw->has_items[jw->depth];
	jw->depth--;
	if (had)
		jw_indent(jw);
	fputc(c, jw->f);
}

void
jw_obj_begin(struct jsonw *jw)
{
	jw_open(jw, '{');
}
void
jw_obj_end(struct jsonw *jw)
{
	jw_close(jw, '}');
}
void
jw_arr_begin(struct jsonw *jw)
{
	jw_open(jw, '[');
}
void
jw_arr_end(struct jsonw *jw)
{
	jw_close(jw, ']');
}

bool
gsr_utf8_valid(const char *str, size_t n)
{
	const unsigned char *s = (const unsigned char *)str;
	size_t i = 0;

	while (i < n) {
		unsigned c = s[i];
		size_t len;
		uint32_t cp;

		if (c < 0x80) {
			i++;
			continue;
		} else if ((c & 0xe0) == 0xc0) {
			len = 2;
			cp = c & 0x1f;
		} else if ((c & 0xf0) == 0xe0) {
			len = 3;
			cp = c & 0x0f;
		} else if ((c & 0xf8) == 0xf0) {
			len = 4;
			cp = c & 0x07;
		} else {
			return false;
		}
		if (n - i < len)
			return false;
		for (size_t k = 1; k < len; k++) {
			if ((s[i + k] & 0xc0) != 0x80)
				return false;
			cp = (cp << 6) | (s[i + k] & 0x3f);
		}
		if ((len == 2 && cp < 0x80) || (len == 3 && cp < 0x800) ||
		    (len == 4 && cp < 0x10000) || cp > 0x10ffff ||
		    (cp >= 0xd800 && cp <= 0xdfff))
			return false;
		i += len;
	}
	return true;
}

static void
jw_hex(FILE *f, const void *p, size_t n)
{
	static const char hex[] = "0123456789abcdef";
	const unsigned char *b = p;

	for (size_t i = 0; i < n; i++) {
		fputc(hex[b[i] >> 4], f);
		fputc(hex[b[i] & 15], f);
	}
}

static void
jw_tagged_hex(struct jsonw *jw, const char *tag, const void *p, size_t n)
{
	fprintf(jw->f, "{\"%s\":%s\"", tag, jw->pretty ? " " : "");
	jw_hex(jw->f, p, n);
	fputs("\"}", jw->f);
}

/* Write a JSON string body; the caller has checked UTF-8.  Runs of bytes
 * that need no escape go out in one fwrite. */
static void
jw_quote(FILE *f, const char *s, size_t n)
{
	size_t run = 0;

	fputc('"', f);
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		const char *esc = NULL;
		char ubuf[8];

		if (c >= 0x20 && c != '"' && c != '\\' && c != 0x7f)
			continue;
		switch (c) {
		case '"':
			esc = "\\\"";
			break;
		case '\\':
			esc = "\\\\";
			break;
		case '\n':
			esc = "\\n";
			break;
		case '\r':
			esc = "\\r";
			break;
		case '\t':
			esc = "\\t";
			break;
		case '\b':
			esc = "\\b";
			break;
		case '\f':
			esc = "\\f";
			break;
		default:
			snprintf(ubuf, sizeof ubuf, "\\u%04x", c);
			esc = ubuf;
		}
		fwrite(s + run, 1, i - run, f);
		fputs(esc, f);
		run = i + 1;
	}
	fwrite(s + run, 1, n - run, f);
	fputc('"', f);
}

void
jw_key(struct jsonw *jw, const char *key)
{
	jw_sep(jw);
	jw_quote(jw->f, key, strlen(key));
	fputs(jw->pretty ? ": " : ":", jw->f);
	jw->after_key = true;
}

void
jw_strn(struct jsonw *jw, const char *s, size_t n)
{
	jw_sep(jw);
	if (s == NULL)
		fputs("null", jw->f);
	else if (gsr_utf8_valid(s, n))
		jw_quote(jw->f, s, n);
	else
		jw_tagged_hex(jw, "text_hex", s, n);
}

void
jw_str(struct jsonw *jw, const char *s)
{
	jw_strn(jw, s, s ? strlen(s) : 0);
}

/* Pairs of decimal digits, "00" to "99". */
static const char digits2[201] =
    "00010203040506070809101112131415161718192021222324252627282930313233"
    "34353637383940414243444546474849505152535455565758596061626364656667"
    "6869707172737475767778798081828384858687888990919293949596979899";

/* Decimal digits of u into the end of buf; returns where they start. */
static char *
fmt_u64(uint64_t u, char *end)
{
	char *p = end;

	while (u >= 100) {
		unsigned r = (unsigned)(u % 100);
		u /= 100;
		p -= 2;
		memcpy(p, digits2 + 2 * r, 2);
	}
	if (u >= 10) {
		p -= 2;
		memcpy(p, digits2 + 2 * u, 2);
	} else {
		*--p = (char)('0' + u);
	}
	return p;
}

size_t
gsr_fmt_int(char *buf, int64_t v)
{
	char tmp[24];
	uint64_t u = v < 0 ? (uint64_t)0 - (uint64_t)v : (uint64_t)v;
	char *p = fmt_u64(u, tmp + sizeof tmp);
	size_t n = (size_t)(tmp + sizeof tmp - p), o = 0;

	if (v < 0)
		buf[o++] = '-';
	memcpy(buf + o, p, n);
	return o + n;
}

void
jw_int(struct jsonw *jw, int64_t v)
{
	char buf[GSR_FMT_INT_MAX];
	size_t n = gsr_fmt_int(buf, v);

	jw_sep(jw);
	fwrite(buf, 1, n, jw->f);
}

/* Round to the nearest integer, ties to even, as nearbyint() does in the
 * default rounding mode, for |t| < 2^53: adding and taking away 2^52
 * leaves no fraction (and from 2^52 on, t has none). */
static double
round_even(double t)
{
	const double two52 = 4503599627370496.0;

	if (t >= two52 || t <= -two52)
		return t;
	return t >= 0 ? (t + two52) - two52 : -((-t + two52) - two52);
}

/*
 * Format a finite double so that it reads back as exactly the same value:
 * first as an integer n over a power of ten 10^k (k <= 17, |n| < 2^53),
 * checked by dividing back -- exact for such n and k, and shortest for the
 * values a database usually holds (12.5, 0.1); otherwise %.17g.  A REAL
 * always shows a '.' or an exponent, so it stays a REAL in the export.
 */
size_t
gsr_fmt_real(char *buf, double v)
{
	static const double p10[] = {1e0,  1e1,  1e2,  1e3,  1e4,  1e5,
	                             1e6,  1e7,  1e8,  1e9,  1e10, 1e11,
	                             1e12, 1e13, 1e14, 1e15, 1e16, 1e17};
	const double lim = 9007199254740992.0; /* 2^53 */
	double a = fabs(v);

	if (v != 0 && a < lim && a >= 1e-6) {
		for (int k = 0; k < 18; k++) {
			double t = a * p10[k];
			if (t >= lim)
				break;
			double n = round_even(t);
			if (n / p10[k] != a)
				continue;
			/* Digits of n, then a point k digits from the end. */
			char digits[24];
			char *d = fmt_u64((uint64_t)n, digits + sizeof digits);
			size_t nd = (size_t)(digits + sizeof digits - d), o = 0;
			if (v < 0)
				buf[o++] = '-';
			if ((size_t)k >= nd) {
				buf[o++] = '0';
				buf[o++] = '.';
				for (size_t z = nd; z < (size_t)k; z++)
					buf[o++] = '0';
				memcpy(buf + o, d, nd);
				o += nd;
			} else {
				memcpy(buf + o, d, nd - (size_t)k);
				o += nd - (size_t)k;
				buf[o++] = '.';
				if (k == 0) {
					buf[o++] = '0';
				} else {
					memcpy(buf + o, d + nd - k, (size_t)k);
					o += (size_t)k;
				}
			}
			buf[o] = '\0';
			return o;
		}
	}
	int len = snprintf(buf, GSR_FMT_REAL_MAX, "%.17g", v);
	if (len < 0)
		len = 0;
	if (strpbrk(buf, ".eEn") == NULL) {
		memcpy(buf + len, ".0", 3);
		len += 2;
	}
	return (size_t)len;
}

void
jw_real(struct jsonw *jw, double v)
{
	jw_sep(jw);
	if (isnan(v)) {
		fputs("{\"real\":\"nan\"}", jw->f);
	} else if (isinf(v)) {
		fputs(v > 0 ? "{\"real\":\"inf\"}" : "{\"real\":\"-inf\"}",
		      jw->f);
	} else {
		char buf[GSR_FMT_REAL_MAX];
		size_t n = gsr_fmt_real(buf, v);
		fwrite(buf, 1, n, jw->f);
	}
}

void
jw_bool(struct jsonw *jw, bool v)
{
	jw_sep(jw);
	fputs(v ? "true" : "false", jw->f);
}

void
jw_null(struct jsonw *jw)
{
	jw_sep(jw);
	fputs("null", jw->f);
}

void
jw_blob(struct jsonw *jw, const void *p, size_t n)
{
	jw_sep(jw);
	jw_tagged_hex(jw, "blob_hex", p, n);
}

void
jw_end_line(struct jsonw *jw)
{
	fputc('\n', jw->f);
}

void
jw_kstr(struct jsonw *jw, const char *k, const char *v)
{
	jw_key(jw, k);
	jw_str(jw, v);
}
void
jw_kint(struct jsonw *jw, const char *k, int64_t v)
{
	jw_key(jw, k);
	jw_int(jw, v);
}
void
jw_kbool(struct jsonw *jw, const char *k, bool v)
{
	jw_key(jw, k);
	jw_bool(jw, v);
}
void
jw_knull(struct jsonw *jw, const char *k)
{
	jw_key(jw, k);
	jw_null(jw);
}

void
jw_kstrvec(struct jsonw *jw, const char *k, const struct strvec *sv)
{
	jw_key(jw, k);
	jw_arr_begin(jw);
	for (size_t i = 0; i < sv->n; i++)
		jw_str(jw, sv->v[i]);
	jw_arr_end(jw);
}

void
jw_raw(struct jsonw *jw, const char *json)
{
	jw_sep(jw);
	fputs(json, jw->f);
}
