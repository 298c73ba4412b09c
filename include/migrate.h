/* migrate.h -- carry a GPUStack SQLite database into PostgreSQL.
 *
 * gsr_migrate_run() rebuilds the input as the migration target's release
 * (rebuild.h, with all its guarantees and its audit archive), then loads
 * the rebuilt database into an empty PostgreSQL database in one
 * transaction: the target's schema (a pg_dump the rules carry, executed
 * as it is), every row with COPY, ids kept, sequences set past the
 * largest id, alembic_version stamped with the target's revision.
 *
 * The migration rules are the *.migrate files of the rules directory's
 * migrate/ folder (gsrecover-rules(5)): one target (release, revision,
 * schema file) and the effects a GPUStack 2.x server has on the data on
 * its first start, each an SQL predicate evaluated on the rebuilt
 * database (the pre-import report).
 *
 * Values are converted to the PostgreSQL column types read from the
 * catalog once the schema exists (under dry_run, from the schema file,
 * and nothing is written to the server).  A row PostgreSQL would refuse
 * (a value its type rejects, a NULL under NOT NULL, an orphan of such a
 * row) is quarantined before the load, with its reason and values: for
 * every table, rebuilt rows = imported + quarantined.
 *
 * The password of the connection string never appears in a result, a
 * message or the archive.
 */
#ifndef GSR_MIGRATE_H
#define GSR_MIGRATE_H

#include "compat.h"
#include "ctx.h"
#include "rebuild.h"
#include "rules.h"

/* The migration rules (rules/migrate/ *.migrate). */
struct gsr_migrate_effect {
	char *name;
	char *version;
	char *revision;
	char *table;         /* NULL with source_before alone */
	char *where;         /* SQL predicate over table's columns */
	char *source_before; /* a label: applies to older inputs */
	char *severity;      /* "info", "loss" or "stop" */
	char *message;
	char *file;
	int line;
};

struct gsr_migrate_rules {
	char *target;  /* a release label */
	char *alembic; /* the revision the load stamps */
	char *schema_file;
	char *schema_sql; /* the file's text */
	char *file;
	struct gsr_migrate_effect *effects;
	size_t n_effects, cap_effects;
};

/* Load dir/migrate/ *.migrate and the schema file they name; each problem
 * is appended to errors (if not NULL) as "FILE:LINE: message", and the
 * first fails the load with GSR_ERR_RULES.  When rules is not NULL the
 * labels named (target, source-before) must exist in it.  No-op after an
 * error. */
int gsr_migrate_rules_load(struct gsr_ctx *ctx, const char *dir,
                           const struct gsr_rules *rules,
                           struct gsr_migrate_rules *out,
                           struct strvec *errors);
void gsr_migrate_rules_release(struct gsr_migrate_rules *mr);

struct gsr_migrate_opts {
	const char *database_url; /* a libpq connection string or URI */
	/* The rebuild: target is set from the rules; out_path NULL means a
	 * private temporary file; dry_run writes nothing anywhere. */
	struct gsr_rebuild_opts rebuild;
};

struct gsr_migrate_table {
	char *name;
	int64_t rebuilt;     /* rows of the rebuilt database */
	int64_t quarantined; /* rows PostgreSQL would refuse */
	int64_t imported;    /* rows loaded (or to load, under dry_run) */
	char *sequence;      /* its id sequence, or NULL */
	int64_t next_id;     /* the sequence's next value, 0 untouched */
};

struct gsr_migrate_qrow {
	char *table;
	int64_t rowid;
	char *reason;
	char *values; /* a JSON object of the row's values */
};

struct gsr_migrate_effect_res {
	const struct gsr_migrate_effect *effect;
	int64_t rows;           /* rows it acts on; 1 or 0 for source-before */
	struct strvec examples; /* up to 5 ids or names */
};

struct gsr_migrate {
	struct gsr_rebuild rb;
	bool rebuilt;         /* rb holds a completed rebuild */
	char *target_display; /* the connection, password left out */
	char *server_version;
	char *schema;           /* the target schema (current_schema()) */
	char *alembic;          /* the revision stamped */
	const char *types_from; /* "catalog" or "schema file" */
	struct gsr_migrate_table *tables; /* in load order */
	size_t n_tables, cap_tables;
	struct gsr_migrate_qrow *qrows;
	size_t n_qrows, cap_qrows;
	struct gsr_migrate_effect_res *effects;
	size_t n_effects;
	int64_t total_rebuilt, total_quarantined, total_imported;
	bool loaded; /* committed */
	/* Where the time went: the rebuild (check included), its
	 * quarantine pass that checks every row against PostgreSQL's types,
	 * and the load (schema, COPY, sequences, commit). */
	double ms_rebuild, ms_check, ms_load;
};

/* Migrate the database at path (NULL: GPUStack's default location) into
 * the PostgreSQL database at opts->database_url.  The target is checked
 * first (reachable, empty schema, no alembic_version); a refusal writes
 * nothing anywhere.  Returns 0 when the load committed (or the dry run
 * completed), -1 with the error on ctx: GSR_ERR_USAGE (a bad URL),
 * GSR_ERR_RULES, GSR_ERR_INPUT (the input, or the server: unreachable,
 * refused, not empty), GSR_ERR_EXISTS, GSR_ERR_BUSY, GSR_ERR_IO,
 * GSR_ERR_CANCELED; the target is then as it was, and the rebuilt file
 * and archive of this run are removed.  res holds what was learnt either
 * way; release it with gsr_migrate_release(). */
int gsr_migrate_run(struct gsr_ctx *ctx, const struct gsr_rules *rules,
                    const struct gsr_migrate_rules *mr, const char *path,
                    const struct gsr_migrate_opts *opts,
                    struct gsr_migrate *res);

void gsr_migrate_release(struct gsr_migrate *res);

struct jsonw;
/* Write the migration's keys into the JSON object open on jw. */
void gsr_migrate_write_json(const struct gsr_migrate *res, struct jsonw *jw);

#endif
