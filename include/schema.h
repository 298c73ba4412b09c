/* schema.h -- a structural model of a SQLite schema, and differences.
 *
 * gsr_schema_extract() reads sqlite_master of a connection and asks
 * SQLite itself (table_xinfo, index_list, index_xinfo, foreign_key_list,
 * sqlite3_table_column_metadata) for the structure of every table, so no
 * SQL is parsed here.  gsr_schema_compare() lists the differences between
 * an expected and a found schema in the kinds identify reports.
 */
#ifndef GSR_SCHEMA_H
#define GSR_SCHEMA_H

#include "compat.h"
#include "ctx.h"
#include "strbuf.h"

#include <sqlite3.h>

struct gsr_column {
	char *name;
	char *type;
	char *dflt; /* the DEFAULT expression as written, or NULL */
	bool notnull;
	int pk; /* 1-based position in the primary key, 0 if not in it */
};

struct gsr_fkey {
	char *from;  /* child columns, comma-separated */
	char *table; /* parent table */
	char *to;    /* parent columns, comma-separated ("" = its key) */
	char *on_update;
	char *on_delete;
};

struct gsr_index {
	char *name;
	char *cols;  /* comma-separated; "<expr>" for expressions */
	char *sql;   /* NULL for automatic indexes */
	char origin; /* 'c' CREATE INDEX, 'u' UNIQUE, 'p' PRIMARY KEY */
	bool unique;
	bool partial;
};

struct gsr_table {
	char *name;
	char *sql;
	const struct strvec *alts; /* its object's alts */
	bool autoincrement;
	bool without_rowid;
	bool is_virtual; /* structure not read: modules are not instantiated */
	struct gsr_column *cols;
	size_t n_cols;
	struct gsr_fkey *fks;
	size_t n_fks;
	struct gsr_index *idx;
	size_t n_idx;
};

struct gsr_object {
	char *type;
	char *name;
	char *tbl;
	char *sql; /* NULL for automatic indexes */
	/* Other texts that count as this object's: empty in a database; in
	 * a label's schema, the 'variant' texts of the rules (another order
	 * of the same constraints, say).  Texts match when either side's
	 * text or alts hold the other's text. */
	struct strvec alts;
};

struct gsr_schema {
	struct gsr_object *objs;
	size_t n_objs;
	struct gsr_table *tables;
	size_t n_tables;
};

/* Read the schema of the main database of db.  No-op after an error. */
struct gsr_schema *gsr_schema_extract(struct gsr_ctx *ctx, sqlite3 *db);
void gsr_schema_free(struct gsr_schema *s);

const struct gsr_table *gsr_schema_table(const struct gsr_schema *s,
                                         const char *name);
const struct gsr_object *gsr_schema_object(const struct gsr_schema *s,
                                           const char *type, const char *name);
const struct gsr_column *gsr_table_column(const struct gsr_table *t,
                                          const char *name);

/* Object sets equal: the same (type, name, tbl_name, sql) for every object
 * with stored SQL, a text matching an alt of the other side's object (see
 * struct gsr_object).  Views are skipped when tables_only. */
bool gsr_schema_same(const struct gsr_schema *a, const struct gsr_schema *b,
                     bool tables_only);

struct gsr_diff {
	const char *kind; /* missing_table, extra_table, missing_column,
	                     extra_column, column_definition, missing_index,
	                     extra_index, constraint, view */
	char *table;
	char *column; /* or NULL */
	char *object; /* index, view or trigger name, or NULL */
	char *expected;
	char *found;
	char *detail; /* a sentence for the report */
};

struct gsr_diffs {
	struct gsr_diff *v;
	size_t n, cap;
	bool failed; /* out of memory while listing */
};

#define GSR_DIFFS_INIT                                                         \
	{                                                                      \
		NULL, 0, 0, false                                              \
	}

/* Append the differences of found against expected to out.  Views are
 * skipped when tables_only. */
void gsr_schema_compare(const struct gsr_schema *expected,
                        const struct gsr_schema *found, bool tables_only,
                        struct gsr_diffs *out);
void gsr_diffs_release(struct gsr_diffs *d);

/* The differences of one table against another of the same name. */
void gsr_table_compare(const struct gsr_table *expected,
                       const struct gsr_table *found, struct gsr_diffs *out);

#endif
