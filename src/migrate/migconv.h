/* migconv.h -- private to src/migrate: value conversion for COPY. */
#ifndef GSR_MIGCONV_H
#define GSR_MIGCONV_H

#include "mig.h"

#include <sqlite3.h>

/* Append column i of st's current row, as c's PostgreSQL type takes it in
 * COPY's text format (NULL as \N; \, tab, newline, CR escaped), to out.
 * Returns 0, or -1 with why (a one-line reason naming the column) when
 * PostgreSQL would refuse the value; out is then unspecified. */
int mig_convert(const struct mig_col *c, sqlite3_stmt *st, int i,
                struct strbuf *out, char *why, size_t whylen);

#endif
