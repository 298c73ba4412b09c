/* strbuf.h -- growable strings and string vectors with a size ceiling.
 *
 * Every buffer has a maximum size (curl's "toobig" idea): an append that
 * would pass it, or an allocation that fails, marks the buffer as failed
 * and the append returns -1.  Failure is sticky; check sb->failed once
 * after a series of appends.  The buffer is always NUL-terminated.
 */
#ifndef GSR_STRBUF_H
#define GSR_STRBUF_H

#include "compat.h"

#include <stdarg.h>

#define GSR_SB_DEFAULT_MAX ((size_t)1 << 30)

struct strbuf {
	char *buf;
	size_t len;
	size_t cap;
	size_t max; /* 0 means GSR_SB_DEFAULT_MAX */
	bool failed;
};

#define STRBUF_INIT                                                            \
	{                                                                      \
		NULL, 0, 0, 0, false                                           \
	}

int sb_add(struct strbuf *sb, const void *data, size_t n);
int sb_adds(struct strbuf *sb, const char *s);
int sb_addc(struct strbuf *sb, char c);
int sb_addf(struct strbuf *sb, const char *fmt, ...) GSR_PRINTF(2, 3);
int sb_vaddf(struct strbuf *sb, const char *fmt, va_list ap);
/* The contents; "" for a buffer never written to. */
const char *sb_str(const struct strbuf *sb);
/* Append name as a double-quoted SQL identifier ("" for each "). */
int sb_add_ident(struct strbuf *sb, const char *name);
/* Append s as one word of a POSIX shell command line: as it is when it
 * holds only characters no shell treats specially, else single-quoted. */
int sb_add_shell_word(struct strbuf *sb, const char *s);
/* Hand the string to the caller (free() it); the buffer is reset. */
char *sb_detach(struct strbuf *sb);
void sb_reset(struct strbuf *sb);
void sb_release(struct strbuf *sb);

/* A vector of owned strings. */
struct strvec {
	char **v;
	size_t n;
	size_t cap;
};

#define STRVEC_INIT                                                            \
	{                                                                      \
		NULL, 0, 0                                                     \
	}

/* Append a copy of s (s may be NULL, stored as NULL).  -1 on OOM. */
int sv_push(struct strvec *sv, const char *s);
/* Append s itself, taking ownership.  Frees s and returns -1 on OOM. */
int sv_push_owned(struct strvec *sv, char *s);
bool sv_contains(const struct strvec *sv, const char *s);
void sv_release(struct strvec *sv);

/* Grow *p (an array of elsize-byte items with capacity *cap) so that it
 * holds at least need items; new items are zeroed.  -1 on overflow/OOM. */
int gsr_grow(void **p, size_t *cap, size_t need, size_t elsize);

/* strdup that accepts NULL. */
char *gsr_strdup(const char *s);

#endif
