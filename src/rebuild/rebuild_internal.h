/* rebuild_internal.h -- the stages of a rebuild and the state they share.
 *
 * A rebuild (rebuild.c) runs these stages in order, each a no-op once the
 * run's context holds an error (ctx.h):
 *
 *   identify  custody of the input and its report (rebuild.c, identify.h);
 *             the input is teed into the audit archive as it is copied
 *   plan      place the input in the lineage, plan every table (plan.c)
 *   outputs   name the outputs, refuse existing ones, make the temporary
 *             output (publish.c)
 *   audit     start the archive: the export of the source rows and the
 *             input, in threads beside the build (audit.c)
 *   stage     run the steps of the path on staged copies (stage.c)
 *   import    execute the plan into the new database (import.c), and
 *             write the rows the steps changed or deleted (audit.c)
 *   qpass     the caller's quarantine pass, if any (qpass.c)
 *   check     close it and start its checks (publish.c)
 *             (identify's checks, when they ran beside, are waited for
 *             here: damage gives the attempt up for another, rebuild.c)
 *   seal      hash it, hash the input again, wait for its checks
 *             (publish.c)
 *   audit     finish the archive (audit.c)
 *   publish   rename the output into place (publish.c)
 *
 * Each stage's cleanup function is safe on a run that never reached it.
 */
#ifndef GSR_REBUILD_INTERNAL_H
#define GSR_REBUILD_INTERNAL_H

#include "compat.h"
#include "archive.h"
#include "ctx.h"
#include "evidence.h"
#include "export.h"
#include "thread.h"

#include <sqlite3.h>
#include <stdio.h>

/* This header includes neither rebuild.h nor plan.h (make lint refuses
 * an include cycle): the stages include them, rebuild.c only this. */
struct gsr_label;
struct gsr_plan;
struct gsr_rebuild;
struct gsr_rebuild_opts;
struct gsr_rules;
struct gsr_schema;
struct gsr_table;
struct prescan;

/* A quarantine file: one per table with quarantined rows. */
struct qfile {
	char *table;
	char *path;
	FILE *f;
	sqlite3_stmt *by_rowid; /* SELECT * FROM src.T WHERE rowid = ? */
};

/*
 * The checks of the output run in a thread of their own, on a connection
 * of their own, once the output is complete and closed: meanwhile the
 * main thread hashes the file, which the checks only read.
 */
struct verify_job {
	struct gsr_ctx ctx;
	const char *path;
	const struct gsr_label *target;
	bool fk; /* foreign_key_check, not the schema and integrity_check */
	struct gsr_thread thread;
	double ms;
};

/* With --archive-export, the full export of the source rows that goes
 * into the archive runs in threads of its own while the main thread builds the
 * output: both only read the working copy, each through its own connection. Its
 * files are compressed into spools in the working directory, ready to be copied
 * into the archive. */
struct export_job {
	struct gsr_ctx ctx;
	const char *work_db;
	const char *spool_dir;
	const struct gsr_evidence *ev;
	struct gsr_export_result ex;
	struct gsr_thread thread;
	double ms;
};

/*
 * The input files go into the archive as custody copies them: each piece
 * it reads and hashes is also handed to a pipe, whose thread compresses
 * it into a spool.  The input is read once, its compression overlaps
 * with the copy, and the member's SHA-256 is custody's own.
 */
struct input_tee {
	struct gsr_evidence_tee tee;
	struct gsr_archive_spool *sp;
	struct gsr_archive_pipe *pipe;
	size_t idx[GSR_EV_NFILES]; /* each present file's member in sp */
};

/*
 * The audit archive is begun, in a thread of its own, with what is known
 * before the rebuild: the input byte for byte (from the tee's spool) and
 * the page reader's ledger.  The identify report follows at the end,
 * once identify's checks are in.
 */
struct input_job {
	struct gsr_ctx ctx;
	struct gsr_archive *ar;
	struct input_tee *tee;
	const struct gsr_rebuild *res; /* only its id, which nothing changes */
	char
	    *recovery_dir; /* the page reader's ledger as JSON Lines, or NULL */
	struct gsr_thread thread;
	double ms;
};

/*
 * What the first attempt of gsr_rebuild_run() hands to the second when it
 * gives up (rebuild.c): the custody of the input, made fit for a new
 * reader with gsr_evidence_reset(), which the second adopts instead of
 * copying and hashing the input again; for the archive, the spool into
 * which the tee compressed the input; and why it gave up.
 */
struct rb_carry {
	struct gsr_evidence ev; /* workdir NULL: not handed over */
	double ms_custody;      /* what taking it cost the first attempt */
	const char *not_kept;   /* why it was not handed over, or NULL */
	struct gsr_archive_spool *sp; /* NULL without an archive */
	size_t idx[GSR_EV_NFILES];    /* each present file's member in sp */
	/* The build read the input as malformed while identify's checks
	 * ran: they were stopped (identify.h known_damaged); why says how. */
	bool known_damaged;
	char why[sizeof((struct gsr_ctx *)NULL)->msg];
};

/* State of one attempt, beside the result it fills. */
struct run {
	struct gsr_ctx *ctx;
	const struct gsr_rules *rules;
	const struct gsr_rebuild_opts *opts;
	struct gsr_rebuild *res;
	double t0;
	/* Identify's data checks run beside the build (speculate), and found
	 * the input damaged: the attempt is given up for one that reads it
	 * with the page reader. */
	bool speculate, damaged;
	struct rb_carry *carry; /* from the first attempt to the second */

	const struct gsr_schema *src; /* the input's schema */
	struct gsr_plan *plan;        /* made by rb_plan() */

	char *out_tmp;               /* the new database's temporary path */
	char *outdir;                /* the directory it is renamed in */
	struct verify_job verify[2]; /* the output's checks, on two threads */

	char *stg_path; /* staging database in the working directory */

	sqlite3 *out; /* the new database; src and stg attached */
	/* The new database began as a VACUUM INTO copy of the source, of
	 * which the tables marked in kept (by index in the plan) stayed:
	 * the same table, text for text, in source and target. */
	bool base;
	bool *kept;
	struct prescan *pre; /* their rows counted against the conditions */
	char *qdir;          /* quarantine directory in the working directory */
	struct qfile *q;
	size_t n_q, cap_q;
	/* The rows a transform changed or deleted, before and after: one
	 * file per table (rb_audit_changes()), in the working directory. */
	struct strvec chg_tables, chg_paths;
	char *export_command; /* the manifest's export.command */
	/* The import under way, for its progress: its phase ("" for none),
	 * its source rows and the range of their rowids. */
	char import_phase[GSR_PROGRESS_NAME_MAX + 1];
	int64_t import_rows, import_lo, import_hi;

	struct input_tee tee;
	struct export_job export;
	struct input_job input;
};

/* ---- helpers (rebuild.c) ------------------------------------------- */

/* Append a line to the run's log, stamped with the time since start. */
void rb_log(struct run *r, const char *fmt, ...) GSR_PRINTF(2, 3);

/* A formatted string (malloc'd), or NULL when out of memory. */
char *rb_dupf(const char *fmt, ...) GSR_PRINTF(1, 2);

/* Run SQL on the new database; errors go to ctx as GSR_ERR_IO.  No-op
 * after an error. */
int rb_exec(struct run *r, const char *sql);

/* The integer a query of the new database returns, or -1 with the error
 * on ctx.  No-op after an error. */
int64_t rb_query_int(struct run *r, const char *sql);

/* Append to out the first column, as text, of every row a query of the
 * new database returns (NULL as ""); 0, or -1 with the error on ctx,
 * its message after what.  No-op after an error. */
int rb_query_texts(struct run *r, const char *sql, struct strvec *out,
                   const char *what);

/* alembic_version and sqlite_sequence: the rebuild writes them itself. */
bool rb_is_bookkeeping(const char *table);

/* The name under which the rows of a source table can be addressed, or
 * NULL when they cannot (WITHOUT ROWID, virtual, or every alias is a
 * column). */
const char *rb_rowid_name(const struct gsr_table *t);

/* ---- the stages ---------------------------------------------------- */

/* plan.c: place the input (res->source, source_group, source_label,
 * placed_by), build r->plan, and fill res->direction and res->tables
 * from it. */
int rb_plan(struct run *r);
/* plan.c: release r->plan (accepts a run without one). */
void rb_plan_release(struct run *r);

/* publish.c: the outputs' paths (res->out_path, res->archive_path),
 * refused when they exist (without force), and the temporary output,
 * registered for removal with its -journal, -wal and -shm. */
int rb_outputs(struct run *r);

/* audit.c: before identify, tee the input into a spool for the archive
 * (not for a dry run or --no-archive); or, when the custody of the input
 * is carried over from an attempt given up (r->carry), take its spool. */
int rb_audit_tee(struct run *r);
/* audit.c: start the export of the source rows and the archive's first
 * members, each in a thread (not for a dry run or --no-archive). */
int rb_audit_begin(struct run *r);
/* audit.c: with the output complete but src and stg still attached,
 * write the rows the steps changed or deleted, each with its values in
 * the source and in the output, one file per table (not for a dry run
 * or --no-archive; nothing without steps). */
int rb_audit_changes(struct run *r);
/* audit.c: once the output is sealed, flush the quarantine, wait for
 * the threads and finish the archive (res->archive_sha256). */
int rb_audit_end(struct run *r);
/* audit.c: wait for its threads, drop what the archive did not take. */
void rb_audit_cleanup(struct run *r);
/* audit.c: before rb_audit_cleanup() of an attempt given up for another:
 * wait for the archive's first members, and move the spool of the input
 * the tee compressed into r->carry.  Returns 0 (also when there is no
 * archive), or -1 when it cannot serve (its pipe or thread failed): then
 * the next attempt takes the input into custody again. */
int rb_audit_hand_over(struct run *r);

/* stage.c: copy the tables the plan stages into a staging database and
 * run the plan's steps there (res->transforms); nothing without steps. */
int rb_stage(struct run *r);
/* stage.c: forget the staging database (it lies in the working
 * directory, which identify's release removes). */
void rb_stage_cleanup(struct run *r);

/* import.c: the new database at r->out_tmp, the plan executed into it,
 * foreign keys enforced, bookkeeping written, committed, and the rows
 * reconciled (res->total_*).  r->out is left open, src and stg
 * detached. */
int rb_import(struct run *r);
/* import.c: roll back and close the new database if open, close and
 * forget the quarantine files. */
void rb_import_cleanup(struct run *r);
/* import.c: write one row to table's quarantine file, its values the
 * current row of vals (all its columns). */
int rb_quarantine_values(struct run *r, const char *table, int64_t rowid,
                         const char *reason, sqlite3_stmt *vals);

/* qpass.c: after the import, the caller's quarantine pass
 * (opts->qpass, rebuild.h); nothing without one. */
int rb_qpass(struct run *r);

/* publish.c: check the output (now, for a WAL target, which then goes
 * into WAL mode; else in a thread), close it and sync it. */
int rb_check(struct run *r);
/* publish.c: hash the output, hash the input again, wait for the
 * checks. */
int rb_seal(struct run *r);
/* publish.c: rename the output into place (replacing it with force),
 * unless a dry run. */
int rb_publish(struct run *r);
/* publish.c: wait for the checks; with failed, remove the archive made
 * for an output that was not; remove the temporary output. */
void rb_publish_cleanup(struct run *r, bool failed);

#endif
