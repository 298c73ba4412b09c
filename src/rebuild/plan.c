/* plan.c -- the plan of a rebuild, as data, before anything is written.
 *
 * The plan stage (rebuild_internal.h): place the input in the lineage of
 * the rules, then work out from the rules and the source's schema the
 * path of labels crossed, the steps to run and the tables they stage,
 * and for every table where its rows come from, how each target column
 * is filled, what is dropped and when a row is quarantined (plan.h).
 * Nothing here reads a row or writes a file.
 */
#include "compat.h"
#include "plan.h"
#include "rebuild_internal.h"

#include "rebuild.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* ---- where the input sits in the lineage ----------------------------- */

/*
 * Where the input sits in the lineage.  Among labels with the same schema
 * the latest is taken: a transform belongs to the migration that made its
 * label's schema, so a database that has the schema has had the
 * transform.  The report names the source as identify names such a group
 * (gsr_rules_name_group()): res->source_label, and res->source_group the
 * labels it is placed among.  Returns 0, or -1 when out of memory.
 */
static int
place_source(const struct gsr_rules *rules, struct gsr_rebuild *res)
{
	const struct gsr_identify *id = &res->id;
	const struct strvec *sv = id->matches.n          ? &id->matches
	                          : id->schema_matches.n ? &id->schema_matches
	                                                 : NULL;
	int rc = 0;

	res->tables_only = false;
	if (sv) {
		res->source = gsr_rules_label(rules, sv->v[sv->n - 1]);
		res->placed_by = id->matches.n
		                     ? "its schema and revision match exactly"
		                     : "its schema matches exactly";
		for (size_t i = 0; i < sv->n && rc == 0; i++)
			rc = sv_push(&res->source_group, sv->v[i]);
	} else {
		res->source = NULL;
		for (size_t i = 0; i < rules->n_labels; i++) {
			const struct gsr_label *l = rules->lineage[i];
			if (gsr_schema_same(l->schema, id->schema, true))
				res->source = l;
		}
		if (res->source) {
			res->placed_by = "its tables match exactly";
			res->tables_only = true;
		} else {
			/* identify names the nearest build by its group:
			 * the latest of the group places the input. */
			res->placed_by =
			    "the build with the fewest differences";
			for (size_t i = 0; i < rules->n_labels; i++) {
				const struct gsr_label *l = rules->lineage[i];
				if (gsr_schema_same(l->schema,
				                    id->nearest_build->schema,
				                    false))
					res->source = l;
			}
		}
		rc = gsr_rules_schema_group(
		    rules, res->source, res->tables_only, &res->source_group);
	}
	res->source_label =
	    gsr_rules_name_group(rules, &res->source_group, id->alembic);
	if (res->source_label == NULL)
		res->source_label = res->source;
	return rc;
}

/* ---- the path ---------------------------------------------------------- */

/* The labels whose migrations move the data from source to target, the
 * direction, and the release of the source's defaults.  -1 when out of
 * memory. */
static int
plan_path(struct gsr_plan *p, const struct gsr_rules *rules, bool tables_only)
{
	const struct gsr_label *s = p->source, *t = p->target;

	p->path = calloc(rules->n_labels, sizeof *p->path);
	if (p->path == NULL)
		return -1;
	if (s->order < t->order) {
		p->direction = "upgrade";
		for (const struct gsr_label *l = s->next; l; l = l->next) {
			p->path[p->n_path++] = l;
			if (l == t)
				break;
		}
	} else if (s->order > t->order) {
		p->direction = "downgrade";
		p->downgrade = true;
		for (const struct gsr_label *l = s; l && l != t; l = l->prev)
			p->path[p->n_path++] = l;
	}
	/* Source and target of one schema (the same tables, when placed by
	 * them): "same", whatever labels lie between; their transforms or
	 * downgrades, if any, still run. */
	if (s->order == t->order ||
	    gsr_schema_same(s->schema, t->schema, tables_only))
		p->direction = "same";
	/* The application defaults the source's data was written with. */
	for (const struct gsr_label *l = s; l; l = l->next)
		if (!strcmp(l->kind, "release")) {
			p->defaults_of_source = l;
			break;
		}
	return 0;
}

/* The steps of the path: each label's transforms, or its downgrades. */
static int
plan_steps(struct gsr_plan *p)
{
	size_t cap = 0;

	for (size_t i = 0; i < p->n_path; i++) {
		const struct gsr_label *l = p->path[i];
		size_t n = p->downgrade ? l->n_downgrades : l->n_transforms;
		for (size_t k = 0; k < n; k++) {
			if (gsr_grow((void **)&p->steps, &cap, p->n_steps + 1,
			             sizeof *p->steps))
				return -1;
			p->steps[p->n_steps++] = (struct gsr_plan_step){
			    l, p->downgrade ? &l->downgrades[k]
			                    : &l->transforms[k]};
		}
	}
	return 0;
}

/* ---- staging ----------------------------------------------------------- */

/* Does the SQL name the table (as a whole word)?  A step can only change
 * tables it names; only those are staged. */
static bool
sql_names(const char *sql, const char *table)
{
	size_t n = strlen(table);

	for (const char *p = sql; (p = strcasestr(p, table)) != NULL; p += n) {
		bool before = p == sql ||
		              !(isalnum((unsigned char)p[-1]) || p[-1] == '_');
		bool after = !(isalnum((unsigned char)p[n]) || p[n] == '_');
		if (before && after)
			return true;
	}
	return false;
}

/* Every column the table has in the source or in any label: a step may
 * read a column the input never had (a mixture), which then reads as
 * NULL instead of failing. */
static int
union_columns(const struct gsr_rules *rules, const struct gsr_table *st,
              const char *table, struct strvec *cols)
{
	for (size_t i = 0; st && i < st->n_cols; i++)
		if (!sv_contains(cols, st->cols[i].name) &&
		    sv_push(cols, st->cols[i].name))
			return -1;
	for (size_t i = 0; i < rules->n_labels; i++) {
		const struct gsr_label *l = rules->lineage[i];
		const struct gsr_table *lt = gsr_schema_table(l->schema, table);
		for (size_t c = 0; lt && c < lt->n_cols; c++)
			if (!sv_contains(cols, lt->cols[c].name) &&
			    sv_push(cols, lt->cols[c].name))
				return -1;
	}
	return 0;
}

/* Stage the table named name, unless the source has it without a rowid
 * to key its copy by (the import then deals with it). */
static int
stage_table(struct gsr_plan *p, size_t *cap, const struct gsr_rules *rules,
            const struct gsr_schema *src, const char *name)
{
	const struct gsr_table *st = gsr_schema_table(src, name);
	struct gsr_plan_stage *sg;

	if (st && !rb_rowid_name(st))
		return 0;
	if (gsr_grow((void **)&p->staged, cap, p->n_staged + 1,
	             sizeof *p->staged))
		return -1;
	sg = &p->staged[p->n_staged++];
	sg->name = name;
	sg->source = st;
	sg->rid = rb_rowid_name(st);
	return union_columns(rules, st, name, &sg->cols);
}

/* The tables the steps name, of any label's schema, in the order the
 * steps name them first. */
static int
plan_staged(struct gsr_plan *p, const struct gsr_rules *rules,
            const struct gsr_schema *src)
{
	struct strvec names = STRVEC_INIT;
	size_t cap = 0;
	int rc = 0;

	for (size_t i = 0; i < p->n_steps && rc == 0; i++)
		for (size_t t = 0; t < rules->n_labels && rc == 0; t++) {
			const struct gsr_schema *ls = rules->labels[t].schema;
			for (size_t j = 0; j < ls->n_tables && rc == 0; j++) {
				const char *tn = ls->tables[j].name;
				if (rb_is_bookkeeping(tn) ||
				    sv_contains(&names, tn) ||
				    !sql_names(p->steps[i].block->sql, tn))
					continue;
				rc = sv_push(&names, tn);
				if (rc == 0)
					rc = stage_table(p, &cap, rules, src,
					                 tn);
			}
		}
	sv_release(&names);
	return rc;
}

/* ---- a table's plan ---------------------------------------------------- */

static const struct gsr_rule_default *
find_default(const struct gsr_label *l, const char *table, const char *column)
{
	if (l == NULL)
		return NULL;
	for (size_t i = 0; i < l->n_defaults; i++)
		if (!strcmp(l->defaults[i].table, table) &&
		    !strcmp(l->defaults[i].column, column))
			return &l->defaults[i];
	return NULL;
}

static const struct gsr_rule_enum *
find_enum(const struct gsr_label *l, const char *table, const char *column)
{
	for (size_t i = 0; i < l->n_enums; i++)
		if (!strcmp(l->enums[i].table, table) &&
		    !strcmp(l->enums[i].column, column) && !l->enums[i].array)
			return &l->enums[i];
	return NULL;
}

/* The column of t that is an alias of its rowid, if any. */
static const struct gsr_column *
rowid_alias(const struct gsr_table *t)
{
	const struct gsr_column *pk = NULL;
	int n = 0;

	if (t->without_rowid)
		return NULL;
	for (size_t i = 0; i < t->n_cols; i++)
		if (t->cols[i].pk) {
			pk = &t->cols[i];
			n++;
		}
	return n == 1 && strcasecmp(pk->type, "INTEGER") == 0 ? pk : NULL;
}

/* Add a condition to t, taking sql and reason (freed on failure; a NULL
 * reason, or a NULL sql for GSR_CHECK_ROW, is out of memory). */
static int
add_cond(struct gsr_plan_table *t, enum gsr_plan_check kind, char *sql,
         const char *parent, char *reason)
{
	if (reason == NULL || (kind == GSR_CHECK_ROW && sql == NULL) ||
	    gsr_grow((void **)&t->conds, &t->cap_conds, t->n_conds + 1,
	             sizeof *t->conds)) {
		free(sql);
		free(reason);
		return -1;
	}
	t->conds[t->n_conds++] =
	    (struct gsr_plan_cond){kind, sql, parent, reason};
	return 0;
}

/* "r"."name", quoted. */
static char *
rcol(const char *name)
{
	struct strbuf sb = STRBUF_INIT;

	sb_adds(&sb, "r.");
	sb_add_ident(&sb, name);
	if (sb.failed) {
		sb_release(&sb);
		return NULL;
	}
	return sb_detach(&sb);
}

/* The conditions of an enum column: its value is NULL or one of the
 * names the target accepts. */
static int
enum_cond(struct gsr_plan_table *t, const struct gsr_label *tgt,
          const struct gsr_rule_enum *e, const char *expr)
{
	struct strbuf in = STRBUF_INIT;
	int rc;

	for (size_t k = 0; k < e->values.n; k++) {
		char *lit = sqlite3_mprintf("%Q", e->values.v[k]);
		sb_addf(&in, "%s%s", k ? ", " : "", lit ? lit : "NULL");
		sqlite3_free(lit);
	}
	rc = add_cond(
	    t, GSR_CHECK_ROW,
	    rb_dupf("(%s) IS NULL OR (%s) IN (%s)", expr, expr, sb_str(&in)),
	    NULL,
	    rb_dupf("'%s' is not one of the names %s accepts", e->column,
	            tgt->name));
	sb_release(&in);
	return rc;
}

/*
 * How target column c is filled from the columns avail of the rows read
 * (the source's, or the staged union), with the conditions it puts on a
 * row: from the column of that name (with the target's default where a
 * staged column was never set), else the target's application default,
 * else its SQL DEFAULT or NULL; a NOT NULL column without any is missing
 * and quarantines every row.
 */
static int
plan_column(const struct gsr_plan *p, struct gsr_plan_table *t,
            const struct strvec *avail, const struct gsr_column *c,
            struct gsr_plan_column *pc)
{
	const struct gsr_label *tgt = p->target;
	const struct gsr_rule_default *d = find_default(tgt, t->name, c->name);
	const struct gsr_rule_enum *e = find_enum(tgt, t->name, c->name);
	bool original = t->source && gsr_table_column(t->source, c->name);

	pc->name = c->name;
	pc->rowid_alias = c == rowid_alias(t->target);
	if (sv_contains(avail, c->name)) {
		pc->fill = GSR_FILL_COPIED;
		pc->expr = rcol(c->name);
		if (pc->expr && !original && d) {
			char *x =
			    rb_dupf("COALESCE(%s, %s)", pc->expr, d->expr);
			free(pc->expr);
			pc->expr = x;
			pc->fill = GSR_FILL_COMPUTED;
			pc->dflt = d->expr;
		}
	} else if (d) {
		pc->fill = GSR_FILL_DEFAULTED;
		pc->dflt = d->expr;
		pc->expr = strdup(d->expr);
	} else if (c->dflt) {
		pc->fill = GSR_FILL_SQL_DEFAULT;
		pc->dflt = c->dflt;
		return 0;
	} else if (c->notnull && !pc->rowid_alias) {
		pc->fill = GSR_FILL_MISSING;
		return add_cond(
		    t, GSR_CHECK_ROW, strdup("0"), NULL,
		    rb_dupf("NOT NULL column '%s' has no value in the source "
		            "and no default in %s",
		            c->name, tgt->name));
	} else {
		pc->fill = GSR_FILL_NULL;
		return 0;
	}
	if (pc->expr == NULL)
		return -1;
	if (c->notnull && !pc->rowid_alias &&
	    add_cond(t, GSR_CHECK_ROW, rb_dupf("(%s) IS NOT NULL", pc->expr),
	             NULL, rb_dupf("NOT NULL column '%s' is NULL", c->name)))
		return -1;
	return e ? enum_cond(t, tgt, e, pc->expr) : 0;
}

/*
 * The source columns avail the target does not have.  Those of the
 * source table are dropped.  A migration that drops a column the source's
 * build has is GPUStack's own doing; data in a column of a downgrade, or
 * in one no build has, would be lost: such a row is quarantined unless
 * the column is NULL (or the default it was written with).
 */
static int
plan_dropped(const struct gsr_plan *p, struct gsr_plan_table *t,
             const struct strvec *avail)
{
	const struct gsr_table *known =
	    gsr_schema_table(p->source->schema, t->name);

	for (size_t i = 0; i < avail->n; i++) {
		const char *dname = avail->v[i];
		if (gsr_table_column(t->target, dname))
			continue;
		if (!(t->source && gsr_table_column(t->source, dname)))
			continue;
		if (sv_push(&t->dropped, dname))
			return -1;
		if (known && gsr_table_column(known, dname) && !p->downgrade)
			continue;
		const struct gsr_rule_default *sd =
		    find_default(p->defaults_of_source, t->name, dname);
		char *x = rcol(dname);
		int rc = x == NULL
		             ? -1
		             : add_cond(t, GSR_CHECK_ROW,
		                        sd ? rb_dupf("%s IS NULL OR %s IS (%s)",
		                                     x, x, sd->expr)
		                           : rb_dupf("%s IS NULL", x),
		                        NULL,
		                        rb_dupf("column '%s' holds data and %s "
		                                "has no such column",
		                                dname, p->target->name));
		free(x);
		if (rc)
			return -1;
	}
	return 0;
}

/* Whether the records can be copied as they are: read from the source,
 * which has the very same table, with nothing defaulted or dropped. */
static bool
plan_whole(const struct gsr_plan_table *t)
{
	struct gsr_diffs d = GSR_DIFFS_INIT;
	bool same;

	if (t->from != GSR_PLAN_FROM_SOURCE || t->source == NULL ||
	    t->source->without_rowid || t->dropped.n)
		return false;
	for (size_t i = 0; i < t->n_cols; i++)
		if (t->cols[i].fill != GSR_FILL_COPIED &&
		    !(t->cols[i].fill == GSR_FILL_NULL &&
		      t->cols[i].rowid_alias))
			return false;
	gsr_table_compare(t->target, t->source, &d);
	same = d.n == 0 && !d.failed;
	gsr_diffs_release(&d);
	return same;
}

/* Where the rows of t come from (its staged copy, else the source
 * table) and the columns they offer. */
static int
plan_from(const struct gsr_plan *p, struct gsr_plan_table *t,
          struct strvec *avail)
{
	const struct gsr_plan_stage *sg = gsr_plan_stage(p, t->name);
	struct strbuf rel = STRBUF_INIT;
	int rc = 0;

	if (sg) {
		t->from = GSR_PLAN_FROM_STAGING;
		t->rid = "_gsr_rowid";
		/* The name comes from the rules: a plain name. */
		sb_addf(&rel, "stg.\"%s\"", t->name);
		for (size_t i = 0; i < sg->cols.n && rc == 0; i++)
			rc = sv_push(avail, sg->cols.v[i]);
	} else {
		t->from = GSR_PLAN_FROM_SOURCE;
		t->rid = rb_rowid_name(t->source);
		sb_adds(&rel, "src.");
		sb_add_ident(&rel, t->name);
		for (size_t i = 0; i < t->source->n_cols && rc == 0; i++)
			rc = sv_push(avail, t->source->cols[i].name);
	}
	if (rc == 0 && !rel.failed)
		t->rel = sb_detach(&rel);
	sb_release(&rel);
	return t->rel ? 0 : -1;
}

/* The conditions every imported row of a target table is held to beyond
 * its columns': the target's UNIQUE constraints, the steps' deletions
 * (when staged), its foreign keys (one per parent). */
static int
plan_table_conds(const struct gsr_plan *p, struct gsr_plan_table *t)
{
	const struct gsr_table *tt = t->target;
	bool imported = t->from != GSR_PLAN_FROM_NONE &&
	                !(t->n_conds && t->conds[0].kind == GSR_CHECK_ALL);

	if (imported) {
		if (add_cond(t, GSR_CHECK_UNIQUE, NULL, NULL,
		             rb_dupf("conflicts with a UNIQUE constraint of %s "
		                     "(a duplicate)",
		                     p->target->name)))
			return -1;
		if (t->from == GSR_PLAN_FROM_STAGING &&
		    add_cond(t, GSR_CHECK_DELETED, NULL, NULL,
		             strdup("deleted by the migration step ")))
			return -1;
	}
	for (size_t i = 0; i < tt->n_fks; i++) {
		bool seen = false;
		for (size_t k = 0; k < i; k++)
			seen |= strcmp(tt->fks[k].table, tt->fks[i].table) == 0;
		if (!seen &&
		    add_cond(
		        t, GSR_CHECK_FOREIGN_KEY, NULL, tt->fks[i].table,
		        rb_dupf("references a row of %s that does not exist "
		                "(a foreign key of %s)",
		                tt->fks[i].table, p->target->name)))
			return -1;
	}
	return 0;
}

/* The plan of a target table (see plan.h).  -1 when out of memory. */
static int
plan_target_table(const struct gsr_plan *p, const struct gsr_schema *src,
                  const struct gsr_table *tt, struct gsr_plan_table *t)
{
	struct strvec avail = STRVEC_INIT;
	int rc = -1;

	t->name = tt->name;
	t->in_target = true;
	t->target = tt;
	t->source = gsr_schema_table(src, tt->name);
	if (!gsr_plan_stage(p, t->name) &&
	    (t->source == NULL || t->source->is_virtual)) {
		t->from = GSR_PLAN_FROM_NONE;
		t->virtual_source = t->source != NULL;
	} else if (!gsr_plan_stage(p, t->name) &&
	           rb_rowid_name(t->source) == NULL) {
		t->from = GSR_PLAN_FROM_SOURCE;
		if (add_cond(
		        t, GSR_CHECK_ALL, NULL, NULL,
		        strdup("the source table's rows have no rowid to keep "
		               "(WITHOUT ROWID, or every rowid alias is a "
		               "column)")))
			goto out;
	} else {
		if (plan_from(p, t, &avail))
			goto out;
		t->cols = calloc(tt->n_cols ? tt->n_cols : 1, sizeof *t->cols);
		if (t->cols == NULL)
			goto out;
		for (size_t i = 0; i < tt->n_cols; i++) {
			t->n_cols = i + 1; /* released even when half made */
			if (plan_column(p, t, &avail, &tt->cols[i],
			                &t->cols[i]))
				goto out;
		}
		if (plan_dropped(p, t, &avail))
			goto out;
		t->whole = plan_whole(t);
	}
	rc = plan_table_conds(p, t);
out:
	sv_release(&avail);
	return rc;
}

/* The plan of a source table the target does not have: every row is
 * quarantined. */
static int
plan_source_table(const struct gsr_plan *p, const struct gsr_table *st,
                  struct gsr_plan_table *t)
{
	struct strbuf rel = STRBUF_INIT;

	t->name = st->name;
	t->from = GSR_PLAN_FROM_SOURCE;
	t->source = st;
	t->rid = rb_rowid_name(st);
	sb_adds(&rel, "src.");
	sb_add_ident(&rel, st->name);
	if (rel.failed) {
		sb_release(&rel);
		return -1;
	}
	t->rel = sb_detach(&rel);
	return add_cond(t, GSR_CHECK_ALL, NULL, NULL,
	                rb_dupf("table '%s' does not exist in %s", st->name,
	                        p->target->name));
}

/* Every table's plan: the target's, then the source's it lacks. */
static int
plan_tables(struct gsr_plan *p, const struct gsr_schema *src)
{
	const struct gsr_schema *ts = p->target->schema;
	size_t n = ts->n_tables + src->n_tables;

	p->tables = calloc(n ? n : 1, sizeof *p->tables);
	if (p->tables == NULL)
		return -1;
	for (size_t i = 0; i < ts->n_tables; i++) {
		if (rb_is_bookkeeping(ts->tables[i].name))
			continue;
		if (plan_target_table(p, src, &ts->tables[i],
		                      &p->tables[p->n_tables++]))
			return -1;
	}
	for (size_t i = 0; i < src->n_tables; i++) {
		const struct gsr_table *st = &src->tables[i];
		if (rb_is_bookkeeping(st->name) || st->is_virtual ||
		    gsr_schema_table(ts, st->name))
			continue;
		if (plan_source_table(p, st, &p->tables[p->n_tables++]))
			return -1;
	}
	return 0;
}

int
gsr_plan_build(struct gsr_ctx *ctx, const struct gsr_rules *rules,
               const struct gsr_schema *src, const struct gsr_label *source,
               const struct gsr_label *target, bool tables_only,
               struct gsr_plan *plan)
{
	memset(plan, 0, sizeof *plan);
	if (gsr_ctx_failed(ctx))
		return -1;
	plan->source = source;
	plan->target = target;
	if (plan_path(plan, rules, tables_only) || plan_steps(plan) ||
	    plan_staged(plan, rules, src) || plan_tables(plan, src))
		return gsr_ctx_fail(ctx, GSR_ERR_NOMEM, "out of memory");
	return 0;
}

void
gsr_plan_release(struct gsr_plan *plan)
{
	for (size_t i = 0; i < plan->n_tables; i++) {
		struct gsr_plan_table *t = &plan->tables[i];
		for (size_t k = 0; k < t->n_cols; k++)
			free(t->cols[k].expr);
		for (size_t k = 0; k < t->n_conds; k++) {
			free(t->conds[k].sql);
			free(t->conds[k].reason);
		}
		free(t->cols);
		free(t->conds);
		free(t->rel);
		sv_release(&t->dropped);
	}
	for (size_t i = 0; i < plan->n_staged; i++)
		sv_release(&plan->staged[i].cols);
	free(plan->tables);
	free(plan->staged);
	free(plan->steps);
	free(plan->path);
	memset(plan, 0, sizeof *plan);
}

const struct gsr_plan_table *
gsr_plan_table(const struct gsr_plan *plan, const char *name)
{
	for (size_t i = 0; i < plan->n_tables; i++)
		if (!strcmp(plan->tables[i].name, name))
			return &plan->tables[i];
	return NULL;
}

const struct gsr_plan_stage *
gsr_plan_stage(const struct gsr_plan *plan, const char *name)
{
	for (size_t i = 0; i < plan->n_staged; i++)
		if (!strcmp(plan->staged[i].name, name))
			return &plan->staged[i];
	return NULL;
}

const char *
gsr_plan_from_name(enum gsr_plan_from from)
{
	return from == GSR_PLAN_FROM_SOURCE    ? "source"
	       : from == GSR_PLAN_FROM_STAGING ? "staging"
	                                       : "none";
}

int
gsr_plan_notes(const struct gsr_plan_table *t, struct strvec *out)
{
	for (size_t i = 0; i < t->n_cols; i++) {
		const struct gsr_plan_column *c = &t->cols[i];
		char *note = NULL;

		switch (c->fill) {
		case GSR_FILL_COMPUTED:
			note = rb_dupf("%s = %s (where no transform set it)",
			               c->name, c->dflt);
			break;
		case GSR_FILL_DEFAULTED:
			note = rb_dupf("%s = %s", c->name, c->dflt);
			break;
		case GSR_FILL_SQL_DEFAULT:
			note = rb_dupf("%s = %s (the column's SQL DEFAULT)",
			               c->name, c->dflt);
			break;
		case GSR_FILL_NULL:
			if (c->rowid_alias)
				continue;
			note = rb_dupf("%s = NULL", c->name);
			break;
		case GSR_FILL_COPIED:
		case GSR_FILL_MISSING:
			continue;
		}
		if (note == NULL || sv_push_owned(out, note))
			return -1;
	}
	return 0;
}

/* ---- the stage ------------------------------------------------------- */

/* The report's tables, one for each of the plan's, in its order. */
static int
result_tables(struct run *r)
{
	struct gsr_rebuild *res = r->res;
	const struct gsr_plan *p = r->plan;

	res->tables =
	    calloc(p->n_tables ? p->n_tables : 1, sizeof *res->tables);
	if (res->tables == NULL)
		return -1;
	res->cap_tables = p->n_tables ? p->n_tables : 1;
	for (size_t i = 0; i < p->n_tables; i++) {
		struct gsr_rebuild_table *t = &res->tables[res->n_tables++];
		t->name = strdup(p->tables[i].name);
		t->from = gsr_plan_from_name(p->tables[i].from);
		t->in_target = p->tables[i].in_target;
		if (t->name == NULL ||
		    gsr_plan_notes(&p->tables[i], &t->defaulted))
			return -1;
		for (size_t k = 0; k < p->tables[i].dropped.n; k++)
			if (sv_push(&t->dropped, p->tables[i].dropped.v[k]))
				return -1;
	}
	return 0;
}

int
rb_plan(struct run *r)
{
	struct gsr_rebuild *res = r->res;

	if (gsr_ctx_failed(r->ctx))
		return -1;
	r->src = res->id.schema;
	if (place_source(r->rules, res) ||
	    (r->plan = calloc(1, sizeof *r->plan)) == NULL)
		return gsr_ctx_fail(r->ctx, GSR_ERR_NOMEM, "out of memory");
	rb_log(r, "input placed at %s, named %s (%s); target %s",
	       res->source->name, res->source_label->name, res->placed_by,
	       res->target->name);
	if (gsr_plan_build(r->ctx, r->rules, r->src, res->source, res->target,
	                   res->tables_only, r->plan))
		return -1;
	res->direction = r->plan->direction;
	if (result_tables(r))
		return gsr_ctx_fail(r->ctx, GSR_ERR_NOMEM, "out of memory");
	return 0;
}

void
rb_plan_release(struct run *r)
{
	if (r->plan)
		gsr_plan_release(r->plan);
	free(r->plan);
	r->plan = NULL;
}
