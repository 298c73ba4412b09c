/* identify.h -- fingerprint a database against the rules.
 *
 * gsr_identify_run() takes the database into custody (evidence.h), reads
 * its header, schema and alembic_version, compares the schema with every
 * label of the rules and reports what it is, what differs, what patterns
 * explain it and how healthy the file is.  It reads the schema, not the
 * data, except for row counts, the integrity and foreign key checks and
 * the orphan check of the suggested target's foreign keys.
 */
#ifndef GSR_IDENTIFY_H
#define GSR_IDENTIFY_H

#include "compat.h"
#include "ctx.h"
#include "evidence.h"
#include "recover.h"
#include "rules.h"
#include "schema.h"
#include "sqlhdr.h"
#include "thread.h"

#include <stdatomic.h>

enum gsr_verdict {
	GSR_VERDICT_RELEASE,
	GSR_VERDICT_DEV_BUILD,
	GSR_VERDICT_MIXED,
	GSR_VERDICT_NOT_GPUSTACK,
	GSR_VERDICT_UNREADABLE,
};

struct gsr_finding {
	const char *code;     /* stable identifier, e.g. "hand-patch" */
	const char *severity; /* "info", "warning" or "error" */
	char *message;
};

struct gsr_table_rows {
	char *name;
	int64_t rows; /* -1 when it could not be counted */
};

struct gsr_identify_opts {
	bool quick;       /* PRAGMA quick_check instead of integrity_check */
	bool schema_only; /* no data checks: integrity, keys, row counts */
	bool recover;     /* run the page reader even on a sound file */
	bool deleted;     /* with it, carve deleted rows (recover.h) */
	/* The caller hashes the originals again itself, at the end of a
	 * longer run (rebuild): no recheck here, ms_recheck stays 0. */
	bool defer_recheck;
	/* When the file reads as sound (SQLite reads its header and schema,
	 * no -journal, no -wal unless a sound one whose history was read
	 * first (gsr_recover_wal_history()), no recover), run the data checks
	 * (integrity, foreign keys, orphans, row counts) in a thread and return
	 * at once: see gsr_identify_join_checks().  A working copy in WAL mode
	 * is first switched to rollback mode (its header's journal mode is
	 * still reported as read).  Implies defer_recheck. */
	bool async_checks;
	/* The caller reads the input from several connections, read-only
	 * attachments among them, which WAL mode makes harder: when the
	 * working copy is the database to read (gsr_identify_source_db())
	 * and in WAL mode, leave it in rollback mode, as a recovered
	 * database is.  The report still gives the header's journal mode. */
	bool rollback_copy;
	/* Take over this evidence, open already (gsr_evidence_open()) on
	 * the same input, instead of taking the input into custody again:
	 * it is moved into res->ev (*adopt is left zeroed) and path is
	 * ignored; ms_custody then counts the taking over alone.  The caller
	 * made it fit for a new reader with gsr_evidence_reset(). */
	struct gsr_evidence *adopt;
	/* The caller knows the input damaged (SQLite failed on it in an
	 * earlier run): the page reader runs, beside the data checks, as it
	 * does with recover. */
	bool known_damaged;
};

struct gsr_identify {
	struct gsr_evidence ev;
	enum gsr_verdict verdict;
	char *unreadable; /* why, for GSR_VERDICT_UNREADABLE */
	bool packed;      /* unreadable: compressed, or an archive */

	bool header_ok;
	struct gsr_sqlhdr hdr;
	const char *journal; /* "wal" or "delete", from the header */

	struct gsr_schema *schema;
	struct strvec matches;        /* schema, journal and revision equal */
	struct strvec schema_matches; /* schema equal, whatever the stamp */
	/* The label that names matches (gsr_rules_name_group()), or NULL;
	 * the other matches have "the same schema as" it. */
	const struct gsr_label *label;

	bool has_alembic_table;
	size_t n_alembic_rows;
	char *alembic; /* the (first) version_num, or NULL */

	const struct gsr_label *claimed;
	struct gsr_diffs claimed_diffs;
	/* The nearest release, and the nearest label of any kind, each
	 * named as its schema's group is (gsr_rules_name_group()). */
	const struct gsr_label *nearest;
	struct gsr_diffs nearest_diffs;
	const struct gsr_label *nearest_build;
	size_t nearest_build_ndiffs;
	const struct gsr_label *target; /* suggested rebuild target, or NULL */

	struct gsr_finding *findings;
	size_t n_findings, cap_findings;

	bool health_ok;
	struct strvec problems;
	const char *integrity_mode; /* "integrity_check" or "quick_check" */
	struct strvec integrity;    /* its messages; "ok" alone when sound */
	int64_t fk_violations;

	struct gsr_table_rows *tables;
	size_t n_tables, cap_tables;
	bool input_changed;

	/* The page reader's recovery (recover.h): run when SQLite cannot
	 * open the file or read its schema, when the integrity check
	 * fails, when a -journal or a -wal that is not sound came with the
	 * file, or on request.  recovered_db and ledger_db lie in
	 * ev.workdir.  With read_by_recovery, SQLite could not read the
	 * file at all: the schema, verdict and row counts are those of the
	 * recovered database. */
	bool recovered, read_by_recovery;
	/* Physical damage: SQLite cannot read the file, its schema or a
	 * table, the integrity check fails, or the file is truncated. */
	bool damaged;
	char *recovered_db, *ledger_db;
	/* A sound database with a sound -wal (gsr_recover_wal_history()):
	 * SQLite read the committed state from the working copy, and the page
	 * reader only the -wal's frames, for the history in ledger_db and
	 * rec.  recovered stays false: the source is the working copy. */
	bool wal_history;
	char *wal_unsound;    /* why the -wal took the full recovery, or NULL */
	char *recover_failed; /* why the page reader found nothing, or NULL */
	struct gsr_recover_result rec;

	/* Wall-clock milliseconds of each phase, for the report and the
	 * benchmark: custody (copy + SHA-256), fingerprint (header, schema,
	 * comparisons), checks (integrity, foreign keys, orphans, row
	 * counts), recheck (SHA-256 of the originals again, on a thread of
	 * its own from the end of custody on). */
	double ms_custody, ms_fingerprint, ms_checks, ms_recheck;

	/* The data checks, while checks_thread.running (async_checks). */
	struct gsr_thread checks_thread;
	/* The originals hashed again, beside the rest of the run (unless
	 * defer_recheck or async_checks): recheck_job is the thread's. */
	struct gsr_thread recheck_thread;
	void *recheck_job;
	/* Set by gsr_identify_stop_checks(): the checks stop at once. */
	atomic_bool checks_stop;
	struct sqlite3 *checks_db; /* their connection while it is open */
};

/* Identify the database at path (NULL: GPUStack's default location).
 * Reports progress (ctx.h) as the phases "custody", "checks" (the steps
 * done of three: health, orphans, row counts; from the thread of
 * async_checks too) and "page reader".  Returns 0 when a report was
 * produced (for any verdict, including unreadable), -1 with an error on
 * ctx when the input could not be taken into custody at all, or
 * GSR_ERR_CANCELED once a signal has come (the copy, the checks and the
 * page reader stop on it).  With async_checks the report is complete
 * only after gsr_identify_join_checks().  Release res with
 * gsr_identify_release() either way.  No-op after an error. */
int gsr_identify_run(struct gsr_ctx *ctx, const struct gsr_rules *rules,
                     const char *path, const struct gsr_identify_opts *opts,
                     struct gsr_identify *res);

/*
 * Wait for the data checks that gsr_identify_run() left running
 * (async_checks; a no-op otherwise) and complete the report with them.
 * Until it returns, the caller reads only what the fingerprint set (ev,
 * verdict, schema, matches, alembic, journal, target...) and none of
 * findings, problems, integrity, fk_violations, tables, damaged or
 * health_ok.  When the checks find damage, the report is left as it is
 * before the page reader would run: a caller that needs the recovery
 * identifies again without async_checks.  Returns 1 when the input is
 * damaged, else 0.
 */
int gsr_identify_join_checks(struct gsr_identify *res);

/* Stop the data checks that gsr_identify_run() left running (a no-op
 * otherwise) as soon as they can, and wait for them: the report is then
 * incomplete, fit only to be released.  For a caller that gives up the
 * report (a rebuild that starts again). */
void gsr_identify_stop_checks(struct gsr_identify *res);

/* Also waits for checks still running. */
void gsr_identify_release(struct gsr_identify *res);

/* How the data was read, for the report: "sqlite", "sqlite+wal-history"
 * (wal_history), "sqlite+page-reader" (recovered, SQLite could read the
 * file) or "page-reader" (read_by_recovery). */
const char *gsr_identify_reader(const struct gsr_identify *res);

/* The database the data of the input is best read from: the recovered
 * database when there is one, else the working copy. */
const char *gsr_identify_source_db(const struct gsr_identify *res);

const char *gsr_verdict_name(enum gsr_verdict v);

struct jsonw;
/* Write the report's keys (verdict, matches, claimed, nearest, findings,
 * health, tables, input, ...) into the JSON object open on jw; the
 * caller writes the envelope and closes the object. */
void gsr_identify_write_json(const struct gsr_identify *res, struct jsonw *jw);

/* True when the report calls for a rebuild, and the command line that
 * does it (malloc'd; NULL when there is no target). */
bool gsr_identify_needs_repair(const struct gsr_identify *res);
char *gsr_identify_repair_command(const struct gsr_identify *res);

#endif
