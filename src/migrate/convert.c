/* convert.c -- SQLite values as PostgreSQL's COPY text format reads them
 * for a column's declared type, or the reason PostgreSQL would refuse. */
#include "compat.h"
#include "mig.h"
#include "migconv.h"

#include "jsonw.h"

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Append s[0..n) escaped for COPY's text format: the spans without a
 * character to escape are copied whole. */
static void
add_escaped(struct strbuf *out, const char *s, size_t n)
{
	size_t from = 0;

	for (size_t i = 0; i < n; i++) {
		const char *esc;
		switch (s[i]) {
		case '\\':
			esc = "\\\\";
			break;
		case '\t':
			esc = "\\t";
			break;
		case '\n':
			esc = "\\n";
			break;
		case '\r':
			esc = "\\r";
			break;
		default:
			continue;
		}
		sb_add(out, s + from, i - from);
		sb_add(out, esc, 2);
		from = i + 1;
	}
	sb_add(out, s + from, n - from);
}

static bool
digits(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (!isdigit((unsigned char)s[i]))
			return false;
	return true;
}

/* A calendar date and time of day as GPUStack's SQLAlchemy wrote them:
 * YYYY-MM-DD[( |T)HH:MM[:SS[.ffffff]]][Z|+00:00].  *keep is how many
 * bytes PostgreSQL gets (a UTC suffix is dropped: the columns hold UTC
 * without a zone). */
static bool
iso_timestamp(const char *s, size_t n, size_t *keep)
{
	static const int mdays[] = {31, 29, 31, 30, 31, 30,
	                            31, 31, 30, 31, 30, 31};
	int y, mo, d;

	if (n < 10 || !digits(s, 4) || s[4] != '-' || !digits(s + 5, 2) ||
	    s[7] != '-' || !digits(s + 8, 2))
		return false;
	y = (int)strtol(s, NULL, 10);
	mo = (s[5] - '0') * 10 + s[6] - '0';
	d = (s[8] - '0') * 10 + s[9] - '0';
	if (y < 1 || mo < 1 || mo > 12 || d < 1 || d > mdays[mo - 1])
		return false;
	if (mo == 2 && d == 29 && !((y % 4 == 0 && y % 100) || y % 400 == 0))
		return false;
	size_t i = 10;
	if (i < n && (s[i] == ' ' || s[i] == 'T')) {
		if (n - i < 6 || !digits(s + i + 1, 2) || s[i + 3] != ':' ||
		    !digits(s + i + 4, 2))
			return false;
		int h = (s[i + 1] - '0') * 10 + s[i + 2] - '0';
		int mi = (s[i + 4] - '0') * 10 + s[i + 5] - '0';
		if (h > 23 || mi > 59)
			return false;
		i += 6;
		if (i < n && s[i] == ':') {
			if (n - i < 3 || !digits(s + i + 1, 2) ||
			    (s[i + 1] - '0') * 10 + s[i + 2] - '0' > 59)
				return false;
			i += 3;
			if (i < n && s[i] == '.') {
				size_t f = i + 1;
				while (f < n && isdigit((unsigned char)s[f]))
					f++;
				if (f == i + 1 || f - i - 1 > 6)
					return false;
				i = f;
			}
		}
	}
	*keep = i;
	if (i == n)
		return true;
	if (n - i == 1 && s[i] == 'Z')
		return true;
	if (n - i == 6 &&
	    (!strncmp(s + i, "+00:00", 6) || !strncmp(s + i, "-00:00", 6)))
		return true;
	return false;
}

/* Characters (not bytes) of valid UTF-8. */
static size_t
utf8_chars(const char *s, size_t n)
{
	size_t c = 0;
	for (size_t i = 0; i < n; i++)
		c += ((unsigned char)s[i] & 0xC0) != 0x80;
	return c;
}

/* The value s (n bytes, valid UTF-8, of SQLite type type) in c's column
 * kind, as COPY's text: mig_convert()'s contract. */
static int
convert_kind(const struct mig_col *c, sqlite3_stmt *st, int i, int type,
             const char *s, size_t n, struct strbuf *out, char *why,
             size_t whylen)
{
	switch (c->kind) {
	case MK_BOOL:
		if (type == SQLITE_INTEGER &&
		    (sqlite3_column_int64(st, i) & ~(int64_t)1) == 0) {
			sb_addc(out, sqlite3_column_int64(st, i) ? 't' : 'f');
			return 0;
		}
		snprintf(why, whylen, "%s = %.40s is not a boolean (0 or 1)",
		         c->name, s);
		return -1;
	case MK_INT: {
		char *end;
		errno = 0;
		long long v = strtoll(s, &end, 10);
		if (type == SQLITE_FLOAT || n == 0 || *end || errno ||
		    v < c->min || v > c->max) {
			snprintf(why, whylen, "%s = %.40s is not a %s", c->name,
			         s, c->type);
			return -1;
		}
		sb_add(out, s, n);
		return 0;
	}
	case MK_FLOAT: {
		char *end;
		(void)strtod(s, &end);
		if (n == 0 || *end) {
			snprintf(why, whylen, "%s = %.40s is not a number",
			         c->name, s);
			return -1;
		}
		sb_add(out, s, n);
		return 0;
	}
	case MK_TIME: {
		size_t keep;
		if (type != SQLITE_TEXT || !iso_timestamp(s, n, &keep)) {
			snprintf(why, whylen,
			         "%s = %.40s is not an ISO 8601 date and time "
			         "(UTC, without another zone)",
			         c->name, s);
			return -1;
		}
		sb_add(out, s, keep);
		return 0;
	}
	case MK_JSON: {
		json_error_t err;
		json_t *j =
		    json_loadb(s, n,
		               JSON_DECODE_ANY | JSON_DECODE_INT_AS_REAL |
		                   (c->jsonb ? 0 : JSON_ALLOW_NUL),
		               &err);
		if (j == NULL) {
			snprintf(why, whylen, "%s is not valid JSON (%s)",
			         c->name, err.text);
			return -1;
		}
		json_decref(j);
		add_escaped(out, s, n);
		return 0;
	}
	case MK_ENUM:
		if (type == SQLITE_TEXT && sv_contains(&c->labels, s)) {
			sb_add(out, s, n);
			return 0;
		}
		snprintf(why, whylen,
		         "%s = %.40s is not a value of the enum type %s",
		         c->name, s, c->type);
		return -1;
	case MK_TEXT:
		if (c->maxlen >= 0 && utf8_chars(s, n) > (size_t)c->maxlen) {
			snprintf(why, whylen, "%s is longer than %s allows",
			         c->name, c->type);
			return -1;
		}
		add_escaped(out, s, n);
		return 0;
	}
	return -1;
}

int
mig_convert(const struct mig_col *c, sqlite3_stmt *st, int i,
            struct strbuf *out, char *why, size_t whylen)
{
	int type = sqlite3_column_type(st, i);
	char num[64];
	const char *s;
	size_t n;

	if (type == SQLITE_NULL) {
		if (c->notnull) {
			snprintf(
			    why, whylen,
			    "%s is NULL, and PostgreSQL's column is NOT NULL",
			    c->name);
			return -1;
		}
		sb_add(out, "\\N", 2);
		return 0;
	}
	/* The common case first, and cheaply: a number in a numeric
	 * column is written as SQLite holds it, its range checked. */
	if (type == SQLITE_INTEGER &&
	    (c->kind == MK_INT || c->kind == MK_FLOAT)) {
		int64_t v = sqlite3_column_int64(st, i);
		size_t len = gsr_fmt_int(num, v);
		if (c->kind == MK_INT && (v < c->min || v > c->max)) {
			num[len] = '\0';
			snprintf(why, whylen, "%s = %s is not a %s", c->name,
			         num, c->type);
			return -1;
		}
		sb_add(out, num, len);
		return 0;
	}
	if (type == SQLITE_FLOAT && c->kind == MK_FLOAT &&
	    isfinite(sqlite3_column_double(st, i))) {
		sb_add(out, num,
		       gsr_fmt_real(num, sqlite3_column_double(st, i)));
		return 0;
	}
	if (type == SQLITE_INTEGER) {
		num[gsr_fmt_int(num, sqlite3_column_int64(st, i))] = '\0';
		s = num;
	} else if (type == SQLITE_FLOAT &&
	           !isfinite(sqlite3_column_double(st, i))) {
		double d = sqlite3_column_double(st, i);
		snprintf(num, sizeof num, "%s",
		         isnan(d) ? "NaN"
		         : d > 0  ? "Infinity"
		                  : "-Infinity");
		s = num;
	} else if (type == SQLITE_FLOAT) {
		num[gsr_fmt_real(num, sqlite3_column_double(st, i))] = '\0';
		s = num;
	} else {
		s = (const char *)sqlite3_column_text(st, i);
		if (s == NULL)
			s = "";
	}
	n = type == SQLITE_TEXT || type == SQLITE_BLOB
	        ? (size_t)sqlite3_column_bytes(st, i)
	        : strlen(s);
	if (type == SQLITE_BLOB) {
		snprintf(why, whylen,
		         "%s holds a BLOB; PostgreSQL's column is %s", c->name,
		         c->type);
		return -1;
	}
	if (memchr(s, '\0', n) || !gsr_utf8_valid(s, n)) {
		snprintf(why, whylen,
		         "%s is not valid UTF-8 text (PostgreSQL refuses NUL "
		         "bytes and invalid sequences)",
		         c->name);
		return -1;
	}
	return convert_kind(c, st, i, type, s, n, out, why, whylen);
}
