/* rules.h -- the knowledge base: GPUStack labels, schemas and patches.
 *
 * The rules directory holds text files in the format of
 * gsrecover-rules(5): one record per label (a release or a main-branch
 * build) with its metadata, lineage, exact schema as stored SQL, and the
 * application facts a rebuild needs (defaults, enum domains, data
 * transforms); and one record per known hand patch with the signs that
 * give it away.  The engine knows the format, never GPUStack itself.
 *
 * SQL in the rules is parsed by SQLite, never by gsrecover: each label's
 * objects are created in a private in-memory database, and the model of
 * the schema is read back from there (see schema.h).
 */
#ifndef GSR_RULES_H
#define GSR_RULES_H

#include "compat.h"
#include "ctx.h"
#include "strbuf.h"

struct gsr_schema;

struct gsr_rule_obj {
	char *type; /* table, index, view, trigger */
	char *name;
	char *tbl;
	char *sql; /* exactly as sqlite_master stores it */
	int line;
};

struct gsr_rule_default {
	char *table;
	char *column;
	char *expr; /* an SQL literal or constant expression */
	int line;
};

struct gsr_rule_enum {
	char *table;
	char *column;
	bool array; /* TABLE.COLUMN[]: each element of a JSON array */
	struct strvec values;
	int line;
};

struct gsr_rule_block {
	char *name;
	char *sql;
	int line;
};

enum gsr_sign_kind { GSR_SIGN_COLUMN, GSR_SIGN_TABLE, GSR_SIGN_AUTOINCREMENT };

struct gsr_rule_sign {
	enum gsr_sign_kind kind;
	char *table;
	char *column; /* GSR_SIGN_COLUMN */
	char *type;   /* GSR_SIGN_COLUMN: the declared type */
	char *sql;    /* GSR_SIGN_TABLE: the CREATE TABLE it writes */
	struct gsr_schema *model; /* GSR_SIGN_TABLE, built on load */
	int line;
};

struct gsr_label {
	char *name;
	char *kind; /* "release", "dev" or "dev2" */
	char *commit;
	char *date; /* YYYY-MM-DD */
	char *alembic;
	char *follows;
	char *journal; /* "delete" or "wal" */
	char *schema_of;
	char *file;
	int line;

	struct gsr_rule_obj *objs;
	size_t n_objs, cap_objs;
	struct gsr_rule_default *defaults;
	size_t n_defaults, cap_defaults;
	struct gsr_rule_enum *enums;
	size_t n_enums, cap_enums;
	struct gsr_rule_block *transforms;
	size_t n_transforms, cap_transforms;
	struct gsr_rule_block *downgrades;
	size_t n_downgrades, cap_downgrades;
	/* Other texts SQLite may store for a table of the label (name = the
	 * table); on load they become the alts of its schema object. */
	struct gsr_rule_block *variants;
	size_t n_variants, cap_variants;

	/* Resolved on load. */
	size_t order;                   /* position in the lineage, from 0 */
	struct gsr_label *prev, *next;  /* lineage neighbours */
	struct gsr_label *schema_label; /* the label whose objects are ours */
	struct gsr_schema *schema;      /* model of our schema */
};

struct gsr_patch {
	char *name;
	char *title;
	char *source;
	char *applies_to;
	int min_signs;
	char *file;
	int line;
	struct gsr_rule_sign *signs;
	size_t n_signs, cap_signs;
};

struct gsr_rules {
	char *dir;
	size_t n_files;
	struct gsr_label *labels; /* in file order */
	size_t n_labels, cap_labels;
	struct gsr_label **lineage; /* n_labels entries, oldest first */
	struct gsr_patch *patches;
	size_t n_patches, cap_patches;
};

/* Load and validate every *.rules file in dir and its subdirectories
 * (one level), in name order.  Each problem is appended to errors (if not
 * NULL) as "FILE:LINE: message"; any problem fails the load with
 * GSR_ERR_RULES and the first message on ctx; a signal stops it with
 * GSR_ERR_CANCELED.  On success *out owns the rules; free with
 * gsr_rules_free().  No-op after an error. */
int gsr_rules_load(struct gsr_ctx *ctx, const char *dir, struct gsr_rules **out,
                   struct strvec *errors);

void gsr_rules_free(struct gsr_rules *r);

/* Look a label up by name; "v0.6.0" is accepted for "0.6.0". */
const struct gsr_label *gsr_rules_label(const struct gsr_rules *r,
                                        const char *name);

/* The earliest release in the lineage stamping this alembic revision. */
const struct gsr_label *
gsr_rules_release_for_revision(const struct gsr_rules *r, const char *rev);

/*
 * The label that names a group of labels sharing one schema, set holding
 * their names (identify's matches, for one): among them the earliest
 * release that stamps the alembic revision rev (NULL: none), else the
 * earliest release, else the earliest label that stamps rev, else the
 * earliest label.  The others are "the same schema as" it.  NULL when set
 * names no label.
 */
const struct gsr_label *gsr_rules_name_group(const struct gsr_rules *r,
                                             const struct strvec *set,
                                             const char *rev);

/* Append to out the names of the labels whose schema is l's (views aside
 * when tables_only), oldest first, l's own among them.  Returns 0, or -1
 * when out of memory. */
int gsr_rules_schema_group(const struct gsr_rules *r, const struct gsr_label *l,
                           bool tables_only, struct strvec *out);

/* The next label in the lineage whose schema differs from l's (ignoring
 * views when tables_only), or NULL. */
const struct gsr_label *gsr_rules_next_schema_change(const struct gsr_label *l,
                                                     bool tables_only);

#endif
