/* Unit tests of the rebuild's plan (src/rebuild/plan.h) against the real
 * rules/: the path, the steps and staged tables, and per table where the
 * rows come from, how each column is filled, what is dropped and why a
 * row is quarantined.  Source schemas are built from the SQL the tests
 * carry (tests/fixtures/schemas/LABEL.sql), as tests/lib.sh's mkdb
 * builds them (testlib.h, schema_sql()). */
#include "compat.h"
#include "plan.h"

#include "dbopen.h"
#include "rules.h"
#include "schema.h"
#include "strbuf.h"
#include "testlib.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <setjmp.h>
#include <cmocka.h>

static struct gsr_rules *rules;

/* The schema of a label's database as tests/lib.sh's mkdb makes it
 * (schema_sql()), plus extra SQL (NULL for none). */
static struct gsr_schema *
schema_of(const char *label, const char *extra)
{
	struct gsr_ctx ctx = GSR_CTX_INIT;
	struct gsr_schema *s;
	char *sql = schema_sql(label);
	sqlite3 *db = gsr_db_open_memory(&ctx);

	assert_non_null(db);
	exec_sql(db, sql);
	if (extra)
		exec_sql(db, extra);
	free(sql);
	s = gsr_schema_extract(&ctx, db);
	assert_non_null(s);
	sqlite3_close(db);
	return s;
}

/* A label of the rules, which must exist. */
static const struct gsr_label *
label(const char *name)
{
	const struct gsr_label *l = gsr_rules_label(rules, name);

	assert_non_null(l);
	return l;
}

/* The plan of a database of label from's schema (plus extra SQL) as to. */
static void
plan_for(const char *from, const char *extra, const char *to,
         struct gsr_schema **src, struct gsr_plan *p)
{
	struct gsr_ctx ctx = GSR_CTX_INIT;

	*src = schema_of(from, extra);
	assert_int_equal(
	    gsr_plan_build(&ctx, rules, *src, label(from), label(to), false, p),
	    0);
	assert_false(gsr_ctx_failed(&ctx));
}

static void
plan_done(struct gsr_schema *src, struct gsr_plan *p)
{
	gsr_plan_release(p);
	gsr_schema_free(src);
}

static const struct gsr_plan_table *
table(const struct gsr_plan *p, const char *name)
{
	const struct gsr_plan_table *t = gsr_plan_table(p, name);

	assert_non_null(t);
	return t;
}

static const struct gsr_plan_column *
column(const struct gsr_plan_table *t, const char *name)
{
	for (size_t i = 0; i < t->n_cols; i++)
		if (!strcmp(t->cols[i].name, name))
			return &t->cols[i];
	fail_msg("%s has no column '%s' in the plan", t->name, name);
	return NULL;
}

/* The condition of a kind whose reason is reason, or NULL. */
static const struct gsr_plan_cond *
cond(const struct gsr_plan_table *t, enum gsr_plan_check kind,
     const char *reason)
{
	for (size_t i = 0; i < t->n_conds; i++)
		if (t->conds[i].kind == kind &&
		    !strcmp(t->conds[i].reason, reason))
			return &t->conds[i];
	return NULL;
}

/* The default the rules give a column in a label. */
static const char *
rules_default(const char *l, const char *table, const char *col)
{
	const struct gsr_label *lab = label(l);

	for (size_t i = 0; i < lab->n_defaults; i++)
		if (!strcmp(lab->defaults[i].table, table) &&
		    !strcmp(lab->defaults[i].column, col))
			return lab->defaults[i].expr;
	fail_msg("%s has no default for %s.%s", l, table, col);
	return NULL;
}

/* The path of p is exactly the labels named, in order. */
static void
assert_path(const struct gsr_plan *p, const char *const *names, size_t n)
{
	assert_int_equal(p->n_path, n);
	for (size_t i = 0; i < n; i++)
		assert_string_equal(p->path[i]->name, names[i]);
}

static void
assert_notes(const struct gsr_plan_table *t, const char *want)
{
	struct strvec notes = STRVEC_INIT;
	struct strbuf got = STRBUF_INIT;

	assert_int_equal(gsr_plan_notes(t, &notes), 0);
	for (size_t i = 0; i < notes.n; i++)
		sb_addf(&got, "%s%s", i ? ", " : "", notes.v[i]);
	assert_string_equal(sb_str(&got), want);
	sb_release(&got);
	sv_release(&notes);
}

/* Field case 1: a main-branch build under 0.6.0's stamp, to 0.6.0. */
static void
dev_build_to_release(void **state)
{
	static const char *const path[] = {
	    "main-25cb8792", "main-b90f88fb", "main-ed47e619", "main-f01ee2e2",
	    "main-bc945efd", "main-b43bbf20", "main-70374dab", "main-be2fcc68",
	    "main-fff3ec0f", "main-84cc5d33", "main-a25414e0", "0.6.0",
	};
	struct gsr_schema *src;
	struct gsr_plan p;
	const struct gsr_plan_table *t;
	const struct gsr_plan_column *c;

	(void)state;
	plan_for("main-4697f394", NULL, "0.6.0", &src, &p);
	assert_string_equal(p.direction, "upgrade");
	assert_false(p.downgrade);
	assert_path(&p, path, GSR_ARRAY_LEN(path));
	assert_string_equal(p.defaults_of_source->name, "0.6.0");
	/* One transform, on the tables it names. */
	assert_int_equal(p.n_steps, 1);
	assert_string_equal(p.steps[0].label->name, "0.6.0");
	assert_string_equal(p.steps[0].block->name, "delete-orphan-api-keys");
	assert_int_equal(p.n_staged, 2);
	assert_string_equal(p.staged[0].name, "api_keys");
	assert_string_equal(p.staged[1].name, "users");

	/* models.restart_on_error, new in 0.6.0: the rules' default. */
	t = table(&p, "models");
	assert_int_equal(t->from, GSR_PLAN_FROM_SOURCE);
	assert_string_equal(t->rel, "src.\"models\"");
	assert_string_equal(t->rid, "rowid");
	c = column(t, "restart_on_error");
	assert_int_equal(c->fill, GSR_FILL_DEFAULTED);
	assert_string_equal(c->dflt, "1");
	assert_string_equal(
	    c->dflt, rules_default("0.6.0", "models", "restart_on_error"));
	assert_string_equal(c->expr, "1");
	c = column(t, "name");
	assert_int_equal(c->fill, GSR_FILL_COPIED);
	assert_string_equal(c->expr, "r.\"name\"");
	c = column(t, "id");
	assert_int_equal(c->fill, GSR_FILL_COPIED);
	assert_true(c->rowid_alias);
	assert_false(t->whole);
	assert_notes(t, "restart_on_error = 1");
	assert_non_null(cond(t, GSR_CHECK_ROW,
	                     "'source' is not one of the names 0.6.0 accepts"));
	assert_non_null(
	    cond(t, GSR_CHECK_ROW, "NOT NULL column 'name' is NULL"));
	assert_non_null(
	    cond(t, GSR_CHECK_UNIQUE,
	         "conflicts with a UNIQUE constraint of 0.6.0 (a duplicate)"));
	assert_null(
	    cond(t, GSR_CHECK_DELETED, "deleted by the migration step "));

	t = table(&p, "model_instances");
	assert_int_equal(column(t, "resolved_path")->fill, GSR_FILL_NULL);
	assert_null(column(t, "resolved_path")->expr);
	assert_int_equal(column(t, "restart_count")->fill, GSR_FILL_DEFAULTED);
	assert_string_equal(column(t, "restart_count")->dflt, "0");
	assert_notes(t, "resolved_path = NULL, restart_count = 0, "
	                "last_restart_time = NULL");

	/* The same table in both: copied whole. */
	assert_true(table(&p, "workers")->whole);
	assert_true(table(&p, "system_loads")->whole);
	/* The source has no model_files. */
	assert_int_equal(table(&p, "model_files")->from, GSR_PLAN_FROM_NONE);
	assert_null(table(&p, "model_files")->rel);

	/* api_keys: staged, its orphans quarantined by the foreign key 0.6.0
	 * adds (the transform deletes them first). */
	t = table(&p, "api_keys");
	assert_int_equal(t->from, GSR_PLAN_FROM_STAGING);
	assert_string_equal(t->rel, "stg.\"api_keys\"");
	assert_string_equal(t->rid, "_gsr_rowid");
	assert_false(t->whole);
	const struct gsr_plan_cond *fk =
	    cond(t, GSR_CHECK_FOREIGN_KEY,
	         "references a row of users that does not exist (a foreign key "
	         "of 0.6.0)");
	assert_non_null(fk);
	assert_string_equal(fk->parent, "users");
	assert_non_null(
	    cond(t, GSR_CHECK_DELETED, "deleted by the migration step "));
	assert_non_null(
	    cond(t, GSR_CHECK_ROW, "NOT NULL column 'access_key' is NULL"));
	assert_int_equal(table(&p, "users")->from, GSR_PLAN_FROM_STAGING);
	for (size_t i = 0; i < p.n_tables; i++)
		assert_true(p.tables[i].in_target);
	plan_done(src, &p);
}

/* A release to itself: every table copied as it is. */
static void
same_release(void **state)
{
	struct gsr_schema *src;
	struct gsr_plan p;

	(void)state;
	plan_for("0.6.0", NULL, "0.6.0", &src, &p);
	assert_string_equal(p.direction, "same");
	assert_int_equal(p.n_path, 0);
	assert_int_equal(p.n_steps, 0);
	assert_int_equal(p.n_staged, 0);
	/* 0.6.0's tables, alembic_version and sqlite_sequence aside. */
	assert_int_equal(p.n_tables, 9);
	for (size_t i = 0; i < p.n_tables; i++) {
		const struct gsr_plan_table *t = &p.tables[i];
		assert_true(t->in_target);
		assert_int_equal(t->from, GSR_PLAN_FROM_SOURCE);
		assert_true(t->whole);
		assert_int_equal(t->dropped.n, 0);
		assert_int_equal(t->n_cols, t->target->n_cols);
		for (size_t k = 0; k < t->n_cols; k++)
			assert_int_equal(t->cols[k].fill, GSR_FILL_COPIED);
		assert_notes(t, "");
	}
	plan_done(src, &p);
}

/* 0.7.1 back to 0.6.0: the columns 0.6.0 lacks are dropped, their data
 * quarantines the row; a table 0.6.0 lacks is quarantined whole. */
static void
downgrade_drops(void **state)
{
	static const char *const path[] = {
	    "0.7.1",         "main-67b93d15", "main-54d75c7a", "main-b0a63871",
	    "0.7.0",         "main-4f2ae775", "main-ccf4b6d6", "main-d12f1e9f",
	    "main-3bf76a5a", "0.6.2",         "0.6.1",         "main-64df25fd",
	    "main-b1a9070e",
	};
	struct gsr_schema *src;
	struct gsr_plan p;
	const struct gsr_plan_table *t;
	const struct gsr_plan_cond *c;

	(void)state;
	plan_for("0.7.1",
	         "CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT);\n",
	         "0.6.0", &src, &p);
	assert_string_equal(p.direction, "downgrade");
	assert_true(p.downgrade);
	assert_path(&p, path, GSR_ARRAY_LEN(path));
	assert_string_equal(p.defaults_of_source->name, "0.7.1");
	assert_int_equal(p.n_steps, 0);
	assert_int_equal(p.n_staged, 0);

	t = table(&p, "workers");
	assert_int_equal(t->dropped.n, 1);
	assert_string_equal(t->dropped.v[0], "worker_uuid");
	assert_false(t->whole);
	c = cond(
	    t, GSR_CHECK_ROW,
	    "column 'worker_uuid' holds data and 0.6.0 has no such column");
	assert_non_null(c);
	/* NULL, or the default 0.7.1 writes, is no data. */
	assert_string_equal(rules_default("0.7.1", "workers", "worker_uuid"),
	                    "''");
	assert_string_equal(
	    c->sql, "r.\"worker_uuid\" IS NULL OR r.\"worker_uuid\" IS ('')");

	t = table(&p, "users");
	assert_int_equal(t->dropped.n, 2);
	assert_string_equal(t->dropped.v[0], "source");
	assert_string_equal(t->dropped.v[1], "avatar_url");
	c = cond(t, GSR_CHECK_ROW,
	         "column 'source' holds data and 0.6.0 has no such column");
	assert_non_null(c);
	assert_string_equal(
	    c->sql, "r.\"source\" IS NULL OR r.\"source\" IS ('Local')");
	c = cond(t, GSR_CHECK_ROW,
	         "column 'avatar_url' holds data and 0.6.0 has no such column");
	assert_non_null(c);
	assert_string_equal(c->sql, "r.\"avatar_url\" IS NULL");

	t = table(&p, "model_instances");
	assert_int_equal(t->dropped.n, 2);
	assert_string_equal(t->dropped.v[0], "ports");
	assert_string_equal(t->dropped.v[1], "gpu_addresses");

	/* A table no release has. */
	t = table(&p, "notes");
	assert_false(t->in_target);
	assert_int_equal(t->from, GSR_PLAN_FROM_SOURCE);
	assert_string_equal(t->rid, "rowid");
	assert_int_equal(t->n_cols, 0);
	assert_non_null(
	    cond(t, GSR_CHECK_ALL, "table 'notes' does not exist in 0.6.0"));
	assert_int_equal(t->n_conds, 1);
	assert_ptr_equal(t, &p.tables[p.n_tables - 1]);
	plan_done(src, &p);
}

/* 0.7.1 back to 0.4.1, which has no model files: their tables are
 * quarantined whole, the others imported. */
static void
downgrade_lacks_tables(void **state)
{
	struct gsr_schema *src;
	struct gsr_plan p;

	(void)state;
	plan_for("0.7.1", NULL, "0.4.1", &src, &p);
	assert_string_equal(p.direction, "downgrade");
	for (size_t i = 0; i < p.n_tables; i++) {
		const struct gsr_plan_table *t = &p.tables[i];
		bool gone = !strcmp(t->name, "model_files") ||
		            !strcmp(t->name, "modelinstancemodelfilelink");
		assert_int_equal(t->in_target, !gone);
		assert_int_equal(
		    t->n_conds && t->conds[0].kind == GSR_CHECK_ALL, gone);
	}
	assert_non_null(cond(table(&p, "model_files"), GSR_CHECK_ALL,
	                     "table 'model_files' does not exist in 0.4.1"));
	assert_non_null(
	    cond(table(&p, "modelinstancemodelfilelink"), GSR_CHECK_ALL,
	         "table 'modelinstancemodelfilelink' does not exist in 0.4.1"));
	assert_int_equal(p.n_tables, 9);
	plan_done(src, &p);
}

/* 0.1.0 up to 0.4.1 crosses six transforms: the tables they name are
 * staged with every column any label gives them, and the columns the
 * transforms fill are computed. */
static void
upgrade_stages(void **state)
{
	static const char *const steps[][2] = {
	    {"0.1.1", "embedding-only-backfill"},
	    {"0.2.0", "system-loads-rename-ram-vram"},
	    {"0.2.0", "models-placement-offload-backfill"},
	    {"0.2.0", "model-instances-gpu-indexes-claim"},
	    {"0.3.1", "reranker-backfill"},
	    {"0.4.0", "models-image-audio-flags-backfill"},
	};
	struct gsr_schema *src;
	struct gsr_plan p;
	const struct gsr_plan_stage *sg;
	const struct gsr_plan_table *t;
	const struct gsr_plan_column *c;

	(void)state;
	plan_for("0.1.0", NULL, "0.4.1", &src, &p);
	assert_string_equal(p.direction, "upgrade");
	assert_string_equal(p.path[p.n_path - 1]->name, "0.4.1");
	assert_int_equal(p.n_steps, GSR_ARRAY_LEN(steps));
	for (size_t i = 0; i < p.n_steps; i++) {
		assert_string_equal(p.steps[i].label->name, steps[i][0]);
		assert_string_equal(p.steps[i].block->name, steps[i][1]);
	}
	assert_int_equal(p.n_staged, 3);
	assert_string_equal(p.staged[0].name, "models");
	assert_string_equal(p.staged[1].name, "system_loads");
	assert_string_equal(p.staged[2].name, "model_instances");
	sg = gsr_plan_stage(&p, "system_loads");
	assert_non_null(sg);
	assert_string_equal(sg->rid, "rowid");
	assert_true(sv_contains(&sg->cols, "memory")); /* 0.1.0's */
	assert_true(sv_contains(&sg->cols, "ram"));    /* 0.2.0's */
	assert_null(gsr_plan_stage(&p, "users"));

	t = table(&p, "system_loads");
	assert_int_equal(t->from, GSR_PLAN_FROM_STAGING);
	assert_int_equal(column(t, "ram")->fill, GSR_FILL_COPIED);
	assert_string_equal(column(t, "ram")->expr, "r.\"ram\"");
	assert_int_equal(t->dropped.n, 2);
	assert_string_equal(t->dropped.v[0], "memory");
	assert_string_equal(t->dropped.v[1], "gpu_memory");

	t = table(&p, "model_instances");
	c = column(t, "gpu_indexes");
	assert_int_equal(c->fill, GSR_FILL_COMPUTED);
	assert_string_equal(
	    c->dflt, rules_default("0.4.1", "model_instances", "gpu_indexes"));
	assert_string_equal(c->expr, "COALESCE(r.\"gpu_indexes\", '[]')");
	assert_notes(
	    t, "distributed_servers = 'null' (where no transform set it), "
	       "gpu_indexes = '[]' (where no transform set it)");
	assert_non_null(
	    cond(t, GSR_CHECK_DELETED, "deleted by the migration step "));
	assert_int_equal(
	    column(table(&p, "models"), "placement_strategy")->fill,
	    GSR_FILL_COMPUTED);
	assert_int_equal(table(&p, "users")->from, GSR_PLAN_FROM_SOURCE);
	assert_true(table(&p, "api_keys")->whole);
	plan_done(src, &p);
}

/* 0.2.0 back to 0.1.2 runs 0.2.0's downgrade on its staged tables. */
static void
downgrade_stages(void **state)
{
	struct gsr_schema *src;
	struct gsr_plan p;

	(void)state;
	plan_for("0.2.0", NULL, "0.1.2", &src, &p);
	assert_string_equal(p.direction, "downgrade");
	assert_int_equal(p.n_steps, 1);
	assert_string_equal(p.steps[0].label->name, "0.2.0");
	assert_string_equal(p.steps[0].block->name,
	                    "system-loads-rename-back-and-clear-instances");
	assert_int_equal(p.n_staged, 2);
	assert_string_equal(p.staged[0].name, "system_loads");
	assert_string_equal(p.staged[1].name, "model_instances");
	assert_int_equal(table(&p, "model_instances")->from,
	                 GSR_PLAN_FROM_STAGING);
	plan_done(src, &p);
}

/* A plan is not built after an error, and is left empty. */
static void
no_op_after_error(void **state)
{
	struct gsr_ctx ctx = GSR_CTX_INIT;
	struct gsr_schema *src = schema_of("0.6.0", NULL);
	struct gsr_plan p;

	(void)state;
	gsr_ctx_fail(&ctx, GSR_ERR_IO, "earlier");
	assert_int_equal(gsr_plan_build(&ctx, rules, src, label("0.6.0"),
	                                label("0.6.0"), false, &p),
	                 -1);
	assert_int_equal(p.n_tables, 0);
	assert_null(p.tables);
	assert_string_equal(ctx.msg, "earlier");
	gsr_plan_release(&p);
	gsr_schema_free(src);
}

static int
setup(void **state)
{
	struct gsr_ctx ctx = GSR_CTX_INIT;
	const char *top = getenv("GSR_TOP");
	char path[512];

	(void)state;
	snprintf(path, sizeof path, "%s/rules", top && *top ? top : ".");
	if (gsr_rules_load(&ctx, path, &rules, NULL) != 0) {
		fprintf(stderr, "cannot load the rules at %s: %s\n", path,
		        ctx.msg);
		return -1;
	}
	return 0;
}

static int
teardown(void **state)
{
	(void)state;
	gsr_rules_free(rules);
	return 0;
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(dev_build_to_release),
	    cmocka_unit_test(same_release),
	    cmocka_unit_test(downgrade_drops),
	    cmocka_unit_test(downgrade_lacks_tables),
	    cmocka_unit_test(upgrade_stages),
	    cmocka_unit_test(downgrade_stages),
	    cmocka_unit_test(no_op_after_error),
	};
	return cmocka_run_group_tests_name("plan", tests, setup, teardown);
}
