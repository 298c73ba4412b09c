/* strbuf.c -- growable strings with a ceiling. */
#include "compat.h"
#include "strbuf.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int
gsr_grow(void **p, size_t *cap, size_t need, size_t elsize)
{
	size_t ncap, bytes;
	void *np;

	if (need <= *cap)
		return 0;
	ncap = *cap ? *cap : 8;
	while (ncap < need) {
		if (__builtin_mul_overflow(ncap, 2, &ncap))
			return -1;
	}
	if (__builtin_mul_overflow(ncap, elsize, &bytes))
		return -1;
	np = realloc(*p, bytes);
	if (np == NULL)
		return -1;
	memset((char *)np + *cap * elsize, 0, (ncap - *cap) * elsize);
	*p = np;
	*cap = ncap;
	return 0;
}

static int
sb_reserve(struct strbuf *sb, size_t extra)
{
	size_t need, max = sb->max ? sb->max : GSR_SB_DEFAULT_MAX;

	if (sb->failed)
		return -1;
	if (__builtin_add_overflow(sb->len, extra, &need) ||
	    __builtin_add_overflow(need, 1, &need) || need > max) {
		sb->failed = true;
		return -1;
	}
	if (need <= sb->cap)
		return 0;
	if (gsr_grow((void **)&sb->buf, &sb->cap, need < 64 ? 64 : need, 1)) {
		sb->failed = true;
		return -1;
	}
	return 0;
}

int
sb_add(struct strbuf *sb, const void *data, size_t n)
{
	if (sb_reserve(sb, n))
		return -1;
	if (n)
		memcpy(sb->buf + sb->len, data, n);
	sb->len += n;
	sb->buf[sb->len] = '\0';
	return 0;
}

int
sb_adds(struct strbuf *sb, const char *s)
{
	return sb_add(sb, s, strlen(s));
}

int
sb_addc(struct strbuf *sb, char c)
{
	return sb_add(sb, &c, 1);
}

int
sb_vaddf(struct strbuf *sb, const char *fmt, va_list ap)
{
	va_list aq;
	int n;

	va_copy(aq, ap);
	n = vsnprintf(NULL, 0, fmt, aq);
	va_end(aq);
	if (n < 0 || sb_reserve(sb, (size_t)n)) {
		sb->failed = true;
		return -1;
	}
	vsnprintf(sb->buf + sb->len, (size_t)n + 1, fmt, ap);
	sb->len += (size_t)n;
	return 0;
}

int
sb_addf(struct strbuf *sb, const char *fmt, ...)
{
	va_list ap;
	int rc;

	va_start(ap, fmt);
	rc = sb_vaddf(sb, fmt, ap);
	va_end(ap);
	return rc;
}

int
sb_add_ident(struct strbuf *sb, const char *name)
{
	sb_addc(sb, '"');
	for (; *name; name++) {
		if (*name == '"')
			sb_addc(sb, '"');
		sb_addc(sb, *name);
	}
	return sb_addc(sb, '"');
}

int
sb_add_shell_word(struct strbuf *sb, const char *s)
{
	if (*s &&
	    s[strspn(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
	                "0123456789_./-+:=@%")] == '\0')
		return sb_adds(sb, s);
	sb_addc(sb, '\'');
	for (; *s; s++) {
		if (*s == '\'')
			sb_adds(sb, "'\\''");
		else
			sb_addc(sb, *s);
	}
	return sb_addc(sb, '\'');
}

const char *
sb_str(const struct strbuf *sb)
{
	return sb->buf ? sb->buf : "";
}

char *
sb_detach(struct strbuf *sb)
{
	char *s = sb->buf ? sb->buf : strdup("");

	sb->buf = NULL;
	sb->len = sb->cap = 0;
	sb->failed = false;
	return s;
}

void
sb_reset(struct strbuf *sb)
{
	sb->len = 0;
	if (sb->buf)
		sb->buf[0] = '\0';
	sb->failed = false;
}

void
sb_release(struct strbuf *sb)
{
	free(sb->buf);
	sb->buf = NULL;
	sb->len = sb->cap = 0;
	sb->failed = false;
}

char *
gsr_strdup(const char *s)
{
	return s ? strdup(s) : NULL;
}

int
sv_push_owned(struct strvec *sv, char *s)
{
	if (gsr_grow((void **)&sv->v, &sv->cap, sv->n + 1, sizeof *sv->v)) {
		free(s);
		return -1;
	}
	sv->v[sv->n++] = s;
	return 0;
}

int
sv_push(struct strvec *sv, const char *s)
{
	char *c = NULL;

	if (s != NULL && (c = strdup(s)) == NULL)
		return -1;
	return sv_push_owned(sv, c);
}

bool
sv_contains(const struct strvec *sv, const char *s)
{
	for (size_t i = 0; i < sv->n; i++)
		if (sv->v[i] && strcmp(sv->v[i], s) == 0)
			return true;
	return false;
}

void
sv_release(struct strvec *sv)
{
	for (size_t i = 0; i < sv->n; i++)
		free(sv->v[i]);
	free(sv->v);
	sv->v = NULL;
	sv->n = sv->cap = 0;
}
