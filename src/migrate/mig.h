/* mig.h -- private to src/migrate: the PostgreSQL side's model and calls. */
#ifndef GSR_MIG_H
#define GSR_MIG_H

#include "compat.h"
#include "ctx.h"
#include "strbuf.h"

#include <libpq-fe.h>

enum mig_kind { MK_TEXT, MK_BOOL, MK_INT, MK_FLOAT, MK_TIME, MK_JSON, MK_ENUM };

/* One column as PostgreSQL declares it. */
struct mig_col {
	char *name;
	char *type; /* format_type() text */
	enum mig_kind kind;
	bool notnull;
	bool jsonb;
	int64_t min, max;     /* MK_INT */
	int maxlen;           /* character varying(n): n; else -1 */
	struct strvec labels; /* MK_ENUM */
};

struct mig_table {
	char *name;
	struct mig_col *cols;
	size_t n_cols, cap_cols;
	char *seq; /* its serial column's sequence, or NULL */
	char *seq_col;
	struct strvec parents; /* tables its foreign keys reference */
};

struct mig_model {
	struct mig_table *t;
	size_t n, cap;
};

void mig_model_release(struct mig_model *m);
struct mig_table *mig_model_table(struct mig_model *m, const char *name);
/* Sort m->t so that every table follows the tables it references. */
void mig_model_fk_order(struct mig_model *m);

/* The connection string for display (password left out) and the
 * password (NULL when none), from PQconninfoParse.  GSR_ERR_USAGE on a
 * string libpq cannot parse. */
int mig_conninfo(struct gsr_ctx *ctx, const char *url, char **display,
                 char **password);
/* msg's first line with every occurrence of pw replaced by "***". */
char *mig_scrub(const char *msg, const char *pw);

/* Fill m from the PostgreSQL catalog of schema. */
int mig_catalog(struct gsr_ctx *ctx, PGconn *c, const char *pw,
                const char *schema, struct mig_model *m);
/* Fill m from a pg_dump --schema-only text (qualified by "public."). */
int mig_parse_dump(struct gsr_ctx *ctx, const char *sql, struct mig_model *m);
/* The parts of the dump, as pg_restore splits them: the objects the
 * rows go into (types, tables, sequences, defaults), and what is
 * faster made once the rows are in (constraints added by ALTER TABLE,
 * among them the primary and foreign keys, and indexes). */
enum mig_part { MIG_PRE_DATA, MIG_POST_DATA };

/* That part of the dump without what must not run in the load's
 * transaction: psql meta-commands, comments, OWNER TO, GRANT/REVOKE;
 * "public." becomes the quoted schema. */
char *mig_filter_schema(const char *sql, const char *schema,
                        enum mig_part part);

/* Run sql (no rows expected); a failure is recorded on ctx, prefixed by
 * what, with the password scrubbed. */
int mig_exec(struct gsr_ctx *ctx, PGconn *c, const char *pw, const char *what,
             const char *sql);

#endif
