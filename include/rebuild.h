/* rebuild.h -- rebuild any GPUStack database as a clean release.
 *
 * gsr_rebuild_run() identifies the input (identify.h), places it in the
 * lineage of the rules, and writes a new database whose schema is exactly
 * the target release's, importing every row by column name: columns the
 * source lacks get the target's application defaults, the data transforms
 * of the releases crossed are applied (or the downgrades, going back), and
 * a row that cannot go into the target is quarantined with its reason and
 * its original values.  For every table, source rows = imported +
 * quarantined, or the run fails.  Unless dry_run, it also writes the audit
 * archive (archive.h): input, identify report, plan, log, quarantined
 * rows, the rows a transform changed (before and after) or deleted,
 * rules used, and a manifest of hashes with the command that regenerates
 * the full export of the input from the archived input; with
 * archive_export, the full export too.
 *
 * Outputs appear whole or not at all: each is written to a temporary file
 * beside its final path and renamed at the end.  The input is never
 * opened in place (evidence.h).
 */
#ifndef GSR_REBUILD_H
#define GSR_REBUILD_H

#include "compat.h"
#include "ctx.h"
#include "identify.h"
#include "rules.h"

#include <time.h>

struct sqlite3;
/* A caller's quarantine pass: handed to it, rows go through
 * gsr_rebuild_quarantine_row(). */
struct gsr_rebuild_qpass;

/*
 * A quarantine pass the caller adds to a rebuild (opts->qpass).  It runs
 * once every row is in the new database db and the counts reconcile,
 * before db is checked, sealed and archived, in a transaction of db (with
 * foreign keys off).  It may read db and quarantine rows of it with
 * gsr_rebuild_quarantine_row(); it must change nothing else.  Returns 0,
 * or -1 with the error on ctx.  gsrecover migrate quarantines there the
 * rows PostgreSQL would refuse, so that they land in the archive.
 */
typedef int (*gsr_rebuild_qpass_fn)(struct gsr_ctx *ctx, struct sqlite3 *db,
                                    struct gsr_rebuild_qpass *qp, void *arg);

/* From a quarantine pass: row rowid of table in the new database goes to
 * the rebuild's quarantine (the archive's quarantine/ member of table)
 * with reason and its values as db holds them, is deleted from db, and
 * counts as quarantined instead of imported.  Returns 0, or -1 with the
 * error on the rebuild's ctx (no such row is an error). */
int gsr_rebuild_quarantine_row(struct gsr_rebuild_qpass *qp, const char *table,
                               int64_t rowid, const char *reason);

struct gsr_rebuild_opts {
	const char *target;       /* a release label; "v0.6.0" is accepted */
	const char *out_path;     /* NULL: DB.rebuilt-LABEL.db beside DB */
	const char *archive_path; /* NULL: DB.audit-TIME.tar.zst beside DB */
	bool dry_run; /* build in the private directory, keep nothing */
	bool force;   /* overwrite outputs; run despite a holder */
	bool no_archive;
	/* The archive also holds the full export of the source rows (under
	 * export/): without it, the manifest names the command that
	 * regenerates it from the archived input. */
	bool archive_export;
	/* Carve deleted rows (recover.h) and import them as rows of the
	 * source; they are flagged in the ledger and counted. */
	bool include_deleted;
	time_t now; /* the run's time (archive names, mtimes) */
	/* The caller's quarantine pass and its argument (NULL: none). */
	gsr_rebuild_qpass_fn qpass;
	void *qpass_arg;
};

struct gsr_rebuild_table {
	char *name;
	const char *from; /* "source", "staging" (transformed) or "none" */
	bool in_target;
	int64_t source_rows;
	int64_t imported;
	int64_t quarantined;
	int64_t transformed;     /* rows a transform changed */
	struct strvec defaulted; /* "column = expression" */
	struct strvec dropped;   /* source columns the target does not have */
};

struct gsr_rebuild_transform {
	const char *label;
	const char *name;
	bool downgrade;
	int64_t changed;
	int64_t deleted;
};

struct gsr_rebuild {
	struct gsr_identify id;
	const struct gsr_label *target;
	const struct gsr_label *source; /* the input's place in the lineage */
	const char *placed_by;          /* how source was chosen */
	bool tables_only;               /* placed by its tables, views aside */
	/* The labels source was chosen among (one schema, or the same
	 * tables), oldest first, and the one that names them
	 * (gsr_rules_name_group()): the source as the report calls it. */
	struct strvec source_group;
	const struct gsr_label *source_label;
	/* "upgrade", "downgrade", or "same" when source and target have one
	 * schema (the same tables, when tables_only). */
	const char *direction;

	struct gsr_rebuild_table *tables;
	size_t n_tables, cap_tables;
	struct gsr_rebuild_transform *transforms;
	size_t n_transforms, cap_transforms;
	int64_t total_source, total_imported, total_quarantined;
	bool changed; /* the output differs from the input in anything */
	/* --include-deleted: carved rows imported into the source, and those
	 * that could not be. */
	int64_t deleted_imported, deleted_refused;

	struct strvec bookkeeping; /* alembic_version, sqlite_sequence */
	struct strvec log;

	char *out_path;
	char out_sha256[GSR_SHA256_HEX];
	uint64_t out_size;
	char *archive_path;
	char archive_sha256[GSR_SHA256_HEX];
	size_t archive_members;
	double ms_total;
};

/* Rebuild the database at path (NULL: GPUStack's default location).
 * Returns 0 when the rebuild (or dry run) completed, -1 with the error on
 * ctx: GSR_ERR_USAGE for an unknown target, GSR_ERR_INPUT for input that
 * cannot be read or is not GPUStack's, GSR_ERR_BUSY when another process
 * holds it (without force), GSR_ERR_EXISTS for an existing output
 * (without force), GSR_ERR_CANCELED, GSR_ERR_IO.  res holds what was
 * learnt either way; release it with gsr_rebuild_release(). */
int gsr_rebuild_run(struct gsr_ctx *ctx, const struct gsr_rules *rules,
                    const char *path, const struct gsr_rebuild_opts *opts,
                    struct gsr_rebuild *res);

void gsr_rebuild_release(struct gsr_rebuild *res);

struct jsonw;
/* Write the rebuild's keys into the JSON object open on jw. */
void gsr_rebuild_write_json(const struct gsr_rebuild *res, struct jsonw *jw);

#endif
