/* plan.h -- what a rebuild will do, worked out before anything is written.
 *
 * gsr_plan_build() reads the rules (the target's schema, application
 * defaults and enum domains; the transforms or downgrades of the labels
 * crossed) and the source's schema, and lays out the rebuild as data:
 *
 * - the path: the labels whose migrations lie between source and target,
 *   in the order they apply, and the steps (data transforms going up,
 *   downgrades going back) to run, with the tables they need staged;
 * - per table: where its rows come from (the source table, its staged
 *   copy, or nowhere), each target column with the SQL expression that
 *   fills it and how (copied, computed, defaulted, left to its SQL
 *   DEFAULT or NULL, or missing), the source columns dropped, the
 *   conditions under which a row is quarantined, each with the reason
 *   the quarantine gives, and whether the table may be copied whole.
 *
 * The plan is all the rebuild decides; stage.c runs its steps on staged
 * copies, import.c executes its tables, and the report's tables
 * (rebuild.h) are made from it.  It points into the rules and the source
 * schema it was built from, which must outlive it.
 */
#ifndef GSR_PLAN_H
#define GSR_PLAN_H

#include "compat.h"
#include "ctx.h"
#include "rules.h"
#include "schema.h"
#include "strbuf.h"

/* Where a table's rows are read from. */
enum gsr_plan_from {
	GSR_PLAN_FROM_NONE,   /* nowhere: not in the source, or virtual there */
	GSR_PLAN_FROM_SOURCE, /* the source table (attached as src) */
	GSR_PLAN_FROM_STAGING, /* its staged copy, transformed (attached as stg)
	                        */
};

/* How a target column is filled. */
enum gsr_plan_fill {
	GSR_FILL_COPIED,    /* the source's (or staged) column of that name */
	GSR_FILL_COMPUTED,  /* staged: what a transform set, else the default */
	GSR_FILL_DEFAULTED, /* the target's application default */
	GSR_FILL_SQL_DEFAULT, /* left out of the INSERT: its SQL DEFAULT */
	GSR_FILL_NULL,        /* left out: NULL (the rowid, for its alias) */
	GSR_FILL_MISSING,     /* NOT NULL without a value: rows quarantined */
};

struct gsr_plan_column {
	const char *name;
	enum gsr_plan_fill fill;
	/* The SQL over the row (AS r) that fills it; NULL when left out. */
	char *expr;
	/* The default it gets (COMPUTED, DEFAULTED, SQL_DEFAULT), else NULL. */
	const char *dflt;
	bool rowid_alias; /* an INTEGER PRIMARY KEY: the row's rowid */
};

/* Why a row is quarantined. */
enum gsr_plan_check {
	/* Every row of the table, for reason; when a table has it, it is
	 * its first condition, and the table is read for nothing else. */
	GSR_CHECK_ALL,
	GSR_CHECK_ROW,    /* a row for which sql does not hold */
	GSR_CHECK_UNIQUE, /* a row a UNIQUE constraint of the target refuses */
	/* A row a step deleted: reason, then the step ("LABEL/NAME"). */
	GSR_CHECK_DELETED,
	/* A row whose foreign key to parent finds no row there, after the
	 * import (and again as children of rows quarantined lose theirs). */
	GSR_CHECK_FOREIGN_KEY,
};

struct gsr_plan_cond {
	enum gsr_plan_check kind;
	char *sql;          /* GSR_CHECK_ROW: must hold of the row (AS r) */
	const char *parent; /* GSR_CHECK_FOREIGN_KEY: the table referenced */
	char *reason;       /* what the quarantine says of the row */
};

struct gsr_plan_table {
	const char *name;
	bool in_target;
	enum gsr_plan_from from;
	const struct gsr_table *target; /* NULL when not in_target */
	const struct gsr_table *source; /* NULL when the source lacks it */
	bool virtual_source;            /* a virtual table there: not read */
	/* The relation the rows are read from (src."T" or stg."T") and the
	 * name their rowid is read by; NULL when nothing is read, rid also
	 * when the rows have no rowid to read. */
	char *rel;
	const char *rid;
	/* The target's columns, in its order (none when nothing is read). */
	struct gsr_plan_column *cols;
	size_t n_cols;
	struct strvec dropped; /* source columns the target does not have */
	/* The conditions, in the order they are tried: the first
	 * GSR_CHECK_ROW a row fails gives its reason. */
	struct gsr_plan_cond *conds;
	size_t n_conds, cap_conds;
	/* The fast path: source and target tables are the same and nothing
	 * is defaulted or dropped, so the records may be copied as they are
	 * (import.c does so when every row passes the conditions). */
	bool whole;
};

/* A step of the path: a transform of label, or its downgrade. */
struct gsr_plan_step {
	const struct gsr_label *label;
	const struct gsr_rule_block *block;
};

/* A table the steps name, copied into the staging database with every
 * column it has in the source or any label (a step may read a column
 * the input never had, which then reads as NULL). */
struct gsr_plan_stage {
	const char *name;
	const struct gsr_table *source; /* NULL: staged empty */
	const char *rid;                /* its rowid in the source */
	struct strvec cols;
};

struct gsr_plan {
	const struct gsr_label *source, *target;
	/* "upgrade", "downgrade", or "same" when source and target have one
	 * schema (the same tables, when placed by its tables). */
	const char *direction;
	bool downgrade;
	/* The labels crossed, in the order applied: going up, those after
	 * the source up to the target; going back, the source and those
	 * before it down to the target's successor. */
	const struct gsr_label **path;
	size_t n_path;
	/* The release whose application defaults the source's data was
	 * written with (the first release from the source on), or NULL. */
	const struct gsr_label *defaults_of_source;
	struct gsr_plan_step *steps;
	size_t n_steps;
	struct gsr_plan_stage *staged;
	size_t n_staged;
	/* The target's tables in its order (alembic_version and
	 * sqlite_sequence aside), then the source's tables the target does
	 * not have (virtual ones aside). */
	struct gsr_plan_table *tables;
	size_t n_tables;
};

/*
 * Plan the rebuild of a database with schema src, placed at the label
 * source (by its tables alone when tables_only), as the release target.
 * Returns 0, or -1 with GSR_ERR_NOMEM on ctx.  Release plan with
 * gsr_plan_release() either way.  No-op after an error.
 */
int gsr_plan_build(struct gsr_ctx *ctx, const struct gsr_rules *rules,
                   const struct gsr_schema *src, const struct gsr_label *source,
                   const struct gsr_label *target, bool tables_only,
                   struct gsr_plan *plan);

void gsr_plan_release(struct gsr_plan *plan);

/* A table of the plan by name, or NULL. */
const struct gsr_plan_table *gsr_plan_table(const struct gsr_plan *plan,
                                            const char *name);

/* A staged table of the plan by name, or NULL. */
const struct gsr_plan_stage *gsr_plan_stage(const struct gsr_plan *plan,
                                            const char *name);

/* "none", "source" or "staging", as the report says. */
const char *gsr_plan_from_name(enum gsr_plan_from from);

/* Append to out the report's notes on the columns of t the source does
 * not fill as they are ("restart_on_error = 1", "resolved_path = NULL",
 * ...), in column order.  Returns 0, or -1 when out of memory. */
int gsr_plan_notes(const struct gsr_plan_table *t, struct strvec *out);

#endif
