/* identify.c -- fingerprint a database against every known label. */
#include "compat.h"
#include "clock.h"
#include "identify.h"

#include "btree.h"
#include "dbopen.h"
#include "pagefile.h"
#include "jsonw.h"
#include "strbuf.h"
#include "tempfiles.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define MAX_INTEGRITY_MESSAGES 20

const char *
gsr_verdict_name(enum gsr_verdict v)
{
	switch (v) {
	case GSR_VERDICT_RELEASE:
		return "release";
	case GSR_VERDICT_DEV_BUILD:
		return "dev-build";
	case GSR_VERDICT_MIXED:
		return "mixed";
	case GSR_VERDICT_NOT_GPUSTACK:
		return "not-gpustack";
	case GSR_VERDICT_UNREADABLE:
		return "unreadable";
	}
	return "?";
}

static void add_finding(struct gsr_identify *res, const char *code,
                        const char *severity, const char *fmt, ...)
    GSR_PRINTF(4, 5);

static void
add_finding(struct gsr_identify *res, const char *code, const char *severity,
            const char *fmt, ...)
{
	struct strbuf sb = STRBUF_INIT;
	va_list ap;

	va_start(ap, fmt);
	sb_vaddf(&sb, fmt, ap);
	va_end(ap);
	if (sb.failed || gsr_grow((void **)&res->findings, &res->cap_findings,
	                          res->n_findings + 1, sizeof *res->findings)) {
		sb_release(&sb);
		return;
	}
	struct gsr_finding *f = &res->findings[res->n_findings++];
	f->code = code;
	f->severity = severity;
	f->message = sb_detach(&sb);
}

static void add_problem(struct gsr_identify *res, const char *fmt, ...)
    GSR_PRINTF(2, 3);

static void
add_problem(struct gsr_identify *res, const char *fmt, ...)
{
	struct strbuf sb = STRBUF_INIT;
	va_list ap;

	va_start(ap, fmt);
	sb_vaddf(&sb, fmt, ap);
	va_end(ap);
	if (!sb.failed)
		sv_push_owned(&res->problems, sb_detach(&sb));
	sb_release(&sb);
}

/* Read the header of the working copy.  Returns false (and sets
 * res->unreadable) when the file is not an SQLite database at all;
 * res->packed tells a compressed file or an archive, which the page
 * reader need not try. */
static bool
read_header(struct gsr_identify *res)
{
	/* The header, and far enough for a tar header's magic. */
	unsigned char buf[512];
	uint64_t size = res->ev.files[GSR_EV_DB].size;
	ssize_t n = 0;
	int fd = open(res->ev.work_db, O_RDONLY | O_CLOEXEC);

	if (fd >= 0) {
		n = pread(fd, buf, sizeof buf, 0);
		close(fd);
	}
	if (size == 0) {
		res->unreadable = strdup("the file is empty");
		return false;
	}
	if (n < GSR_SQLHDR_SIZE || !gsr_sqlhdr_is_sqlite(buf, (size_t)n)) {
		if (n > 0 && (res->unreadable = gsr_sqlhdr_packed(
		                  buf, (size_t)n, res->ev.path)) != NULL) {
			res->packed = true;
			return false;
		}
		res->unreadable =
		    strdup(gsr_sqlhdr_is_sqlite(buf, n > 0 ? (size_t)n : 0)
		               ? "the file is shorter than an SQLite header"
		               : "not an SQLite database (no SQLite header)");
		return false;
	}
	gsr_sqlhdr_decode(buf, &res->hdr);
	res->journal = gsr_sqlhdr_journal(&res->hdr);
	res->header_ok = gsr_sqlhdr_check(&res->hdr, size, &res->problems) == 0;
	return true;
}

/* A truncated file: let SQLite read the pages that are there. */
static int
fit_truncated(struct gsr_ctx *ctx, struct gsr_identify *res)
{
	const struct gsr_sqlhdr *h = &res->hdr;
	int64_t n;

	if (h->version_valid_for != h->change_counter || h->n_pages == 0)
		return 0;
	n = gsr_evidence_fit_page_count(ctx, &res->ev, h->page_size,
	                                h->n_pages);
	if (n > 0) {
		res->damaged = true;
		add_finding(
		    res, "truncated", "error",
		    "the file holds %" PRId64 " of the %" PRIu32
		    " pages its header "
		    "declares; the pages that are there were read (the "
		    "header of the working copy was adjusted, not the file)",
		    n, h->n_pages);
	}
	return n < 0 ? -1 : 0;
}

static void
read_alembic(sqlite3 *db, struct gsr_identify *res)
{
	sqlite3_stmt *st = NULL;

	if (!gsr_schema_table(res->schema, "alembic_version"))
		return;
	res->has_alembic_table = true;
	if (sqlite3_prepare_v2(
	        db, "SELECT version_num FROM main.alembic_version LIMIT 100",
	        -1, &st, NULL) != SQLITE_OK) {
		add_problem(res, "alembic_version cannot be read: %s",
		            sqlite3_errmsg(db));
		return;
	}
	while (sqlite3_step(st) == SQLITE_ROW) {
		const unsigned char *v = sqlite3_column_text(st, 0);
		if (res->n_alembic_rows++ == 0 && v)
			res->alembic = strdup((const char *)v);
	}
	sqlite3_finalize(st);
}

static size_t
count_diffs(const struct gsr_schema *e, const struct gsr_schema *f)
{
	struct gsr_diffs d = GSR_DIFFS_INIT;
	size_t n;

	gsr_schema_compare(e, f, false, &d);
	n = d.n;
	gsr_diffs_release(&d);
	return n;
}

/* Append "A", "A to B" runs of consecutive lineage labels to sb. */
static void
describe_runs(struct strbuf *sb, const struct gsr_label **ls, size_t n)
{
	size_t i = 0;

	while (i < n) {
		size_t j = i;
		while (j + 1 < n && ls[j + 1]->order == ls[j]->order + 1)
			j++;
		sb_addf(sb, "%s%s", i ? ", " : "", ls[i]->name);
		if (j > i)
			sb_addf(sb, " to %s", ls[j]->name);
		i = j + 1;
	}
}

/* The label that names l's schema (gsr_rules_name_group()); l when
 * out of memory. */
static const struct gsr_label *
group_name(const struct gsr_rules *rules, const struct gsr_label *l,
           const char *rev)
{
	struct strvec group = STRVEC_INIT;
	const struct gsr_label *name = NULL;

	if (l && gsr_rules_schema_group(rules, l, false, &group) == 0)
		name = gsr_rules_name_group(rules, &group, rev);
	sv_release(&group);
	return name ? name : l;
}

static void
compare_with_labels(const struct gsr_rules *rules, struct gsr_identify *res)
{
	size_t best_rel = SIZE_MAX, best_any = SIZE_MAX;

	for (size_t i = 0; i < rules->n_labels; i++) {
		const struct gsr_label *l = rules->lineage[i];
		bool same = gsr_schema_same(l->schema, res->schema, false);

		if (same) {
			sv_push(&res->schema_matches, l->name);
			if (!strcmp(l->journal, res->journal) && res->alembic &&
			    res->n_alembic_rows == 1 &&
			    !strcmp(l->alembic, res->alembic))
				sv_push(&res->matches, l->name);
		}
		size_t n = same ? 0 : count_diffs(l->schema, res->schema);
		/* Ties go to the later label: an upgrade is the usual story. */
		if (n <= best_any) {
			best_any = n;
			res->nearest_build = l;
		}
		if (!strcmp(l->kind, "release") && n <= best_rel) {
			best_rel = n;
			res->nearest = l;
		}
	}
	res->nearest_build_ndiffs = best_any;
	/* Labels of one schema are named as one (gsr_rules_name_group()):
	 * the ties above went to the latest. */
	res->label = gsr_rules_name_group(rules, &res->matches, res->alembic);
	res->nearest = group_name(rules, res->nearest, res->alembic);
	res->nearest_build =
	    group_name(rules, res->nearest_build, res->alembic);
	if (res->nearest)
		gsr_schema_compare(res->nearest->schema, res->schema, false,
		                   &res->nearest_diffs);
	if (res->alembic)
		res->claimed =
		    gsr_rules_release_for_revision(rules, res->alembic);
	if (res->claimed)
		gsr_schema_compare(res->claimed->schema, res->schema, false,
		                   &res->claimed_diffs);
}

/*
 * Whether the file is GPUStack's: it has at least two of GPUStack's own
 * tables, the tables that labels of the rules have other than
 * alembic_version (every Alembic application has one) and SQLite's own;
 * or its alembic_version holds a revision that a label stamps.
 */
static bool
is_gpustack(const struct gsr_rules *rules, const struct gsr_identify *res)
{
	size_t known = 0;

	for (size_t k = 0; res->alembic && k < rules->n_labels; k++)
		if (!strcmp(rules->labels[k].alembic, res->alembic))
			return true;
	for (size_t i = 0; i < res->schema->n_tables; i++) {
		const char *t = res->schema->tables[i].name;

		if (!strcmp(t, "alembic_version") || !strncmp(t, "sqlite_", 7))
			continue;
		for (size_t k = 0; k < rules->n_labels; k++)
			if (gsr_schema_table(rules->labels[k].schema, t)) {
				known++;
				break;
			}
	}
	return known >= 2;
}

static void
find_alembic_patterns(const struct gsr_rules *rules, struct gsr_identify *res)
{
	if (!res->has_alembic_table) {
		add_finding(
		    res, "alembic-missing", "error",
		    "there is no alembic_version table: GPUStack cannot tell "
		    "which migrations ran");
		return;
	}
	if (res->n_alembic_rows == 0) {
		add_finding(
		    res, "alembic-empty", "error",
		    "alembic_version is empty: GPUStack would run every "
		    "migration again and fail");
	} else if (res->n_alembic_rows > 1) {
		add_finding(
		    res, "alembic-multiple", "error",
		    "alembic_version holds %zu rows; Alembic expects one",
		    res->n_alembic_rows);
	}
	if (res->alembic) {
		bool known = false;
		for (size_t i = 0; i < rules->n_labels && !known; i++)
			known = !strcmp(rules->labels[i].alembic, res->alembic);
		if (!known)
			add_finding(
			    res, "alembic-unknown", "warning",
			    "alembic_version '%s' is not stamped by any known "
			    "release or main-branch build",
			    res->alembic);
	}
	if (res->matches.n == 0 && res->schema_matches.n > 0) {
		const struct gsr_label *l = gsr_rules_name_group(
		    rules, &res->schema_matches, res->alembic);
		bool rev_ok = res->alembic && !strcmp(l->alembic, res->alembic);

		/* A build of this schema that stamps the revision. */
		for (size_t i = 0; i < res->schema_matches.n && !rev_ok; i++) {
			const struct gsr_label *m =
			    gsr_rules_label(rules, res->schema_matches.v[i]);
			if (res->alembic && !strcmp(m->alembic, res->alembic)) {
				l = m;
				rev_ok = true;
			}
		}
		if (!rev_ok)
			add_finding(
			    res, "alembic-mismatch", "error",
			    "the schema is exactly that of %s, which stamps "
			    "alembic_version '%s', but the database says '%s'",
			    l->name, l->alembic,
			    res->alembic ? res->alembic : "(none)");
		else if (strcmp(l->journal, res->journal))
			add_finding(
			    res, "journal-mode", "warning",
			    "schema and alembic_version are those of %s, which "
			    "runs "
			    "in %s mode, but this file is in %s mode (a copy "
			    "made "
			    "with .backup or VACUUM INTO, or a changed "
			    "journal_mode)",
			    l->name,
			    strcmp(l->journal, "wal") ? "rollback-journal"
			                              : "WAL",
			    strcmp(res->journal, "wal") ? "rollback-journal"
			                                : "WAL");
	}
}

/* Patterns seen from the tables alone: a dev build's tables under a
 * release's stamp, and views that come from another build. */
static void
find_view_patterns(const struct gsr_rules *rules, struct gsr_identify *res)
{
	const struct gsr_label **tl = NULL;
	size_t n_tl = 0;
	bool any_release = false;

	if ((tl = calloc(rules->n_labels, sizeof *tl)) == NULL)
		return;
	for (size_t i = 0; i < rules->n_labels; i++) {
		const struct gsr_label *l = rules->lineage[i];
		if (gsr_schema_same(l->schema, res->schema, true)) {
			tl[n_tl++] = l;
			any_release |= !strcmp(l->kind, "release");
		}
	}
	if (n_tl > 0 && !any_release && res->claimed &&
	    !gsr_schema_same(res->claimed->schema, res->schema, true)) {
		const struct gsr_label *next =
		    gsr_rules_next_schema_change(tl[n_tl - 1], true);
		if (next)
			add_finding(
			    res, "dev-schema-release-stamp", "error",
			    "alembic_version claims %s but the schema is that "
			    "of "
			    "main-branch builds from %s to %s (%s); Alembic "
			    "believes the %s migrations ran and will not run "
			    "them",
			    res->claimed->name, tl[0]->date, next->date,
			    tl[0]->name, res->claimed->name);
		else
			add_finding(
			    res, "dev-schema-release-stamp", "error",
			    "alembic_version claims %s but the schema is that "
			    "of "
			    "main-branch builds from %s on (%s); Alembic "
			    "believes the %s migrations ran and will not run "
			    "them",
			    res->claimed->name, tl[0]->date, tl[0]->name,
			    res->claimed->name);
	}
	/* Name the tables' build by a release where one has them. */
	const struct gsr_label *own_build = n_tl ? tl[0] : NULL;
	for (size_t i = 0; i < n_tl; i++)
		if (!strcmp(tl[i]->kind, "release")) {
			own_build = tl[i];
			break;
		}
	/* Which build each view comes from. */
	for (size_t v = 0;
	     v < res->schema->n_objs && n_tl > 0 && res->schema_matches.n == 0;
	     v++) {
		const struct gsr_object *o = &res->schema->objs[v];
		const struct gsr_object *own;
		const struct gsr_label **from = NULL;
		size_t n_from = 0;
		struct strbuf sb = STRBUF_INIT;

		if (strcmp(o->type, "view") != 0)
			continue;
		own = gsr_schema_object(own_build->schema, "view", o->name);
		if (own && own->sql && o->sql && !strcmp(own->sql, o->sql))
			continue;
		if ((from = calloc(rules->n_labels, sizeof *from)) == NULL)
			break;
		for (size_t i = 0; i < rules->n_labels; i++) {
			const struct gsr_label *l = rules->lineage[i];
			const struct gsr_object *lv =
			    gsr_schema_object(l->schema, "view", o->name);
			if (lv && lv->sql && o->sql && !strcmp(lv->sql, o->sql))
				from[n_from++] = l;
		}
		if (n_from) {
			describe_runs(&sb, from, n_from);
			add_finding(
			    res, "foreign-view", "warning",
			    "view '%s' is the one created by %s, not the one "
			    "of "
			    "the build its tables come from (%s); GPUStack "
			    "recreates it at start-up",
			    o->name, sb_str(&sb), own_build->name);
		} else {
			add_finding(res, "foreign-view", "warning",
			            "view '%s' matches no known build",
			            o->name);
		}
		sb_release(&sb);
		free(from);
	}
	free(tl);
}

static bool
sign_matches(const struct gsr_rule_sign *s, const struct gsr_schema *schema)
{
	const struct gsr_table *t = gsr_schema_table(schema, s->table);

	if (t == NULL)
		return false;
	if (s->kind == GSR_SIGN_COLUMN) {
		const struct gsr_column *c = gsr_table_column(t, s->column);
		return c && !strcmp(c->type, s->type);
	}
	if (s->kind == GSR_SIGN_AUTOINCREMENT)
		return t->autoincrement;
	const struct gsr_table *st = gsr_schema_table(s->model, s->table);
	struct gsr_diffs d = GSR_DIFFS_INIT;
	bool same;
	gsr_table_compare(st, t, &d);
	/* Only the structure counts: a patch script's layout may vary. */
	same = true;
	for (size_t i = 0; i < d.n; i++)
		if (strstr(d.v[i].detail, "different stored definition") ==
		    NULL)
			same = false;
	gsr_diffs_release(&d);
	return same;
}

static void
find_patches(const struct gsr_rules *rules, struct gsr_identify *res)
{
	for (size_t i = 0; i < rules->n_patches; i++) {
		const struct gsr_patch *p = &rules->patches[i];
		struct strbuf sb = STRBUF_INIT;
		int hit = 0;

		for (size_t k = 0; k < p->n_signs; k++) {
			const struct gsr_rule_sign *s = &p->signs[k];
			if (!sign_matches(s, res->schema))
				continue;
			hit++;
			if (s->kind == GSR_SIGN_COLUMN)
				sb_addf(&sb, "%s%s.%s %s", sb.len ? "; " : "",
				        s->table, s->column, s->type);
			else if (s->kind == GSR_SIGN_AUTOINCREMENT)
				sb_addf(&sb, "%s%s has an AUTOINCREMENT key",
				        sb.len ? "; " : "", s->table);
			else
				sb_addf(&sb,
				        "%stable %s as the patch creates it",
				        sb.len ? "; " : "", s->table);
		}
		if (hit >= p->min_signs)
			add_finding(
			    res, "hand-patch", "error",
			    "the schema carries the traces of hand patch '%s' "
			    "(%s): %d of %zu signs: %s",
			    p->name, p->title, hit, p->n_signs, sb_str(&sb));
		sb_release(&sb);
	}
}

/* For a mixture: where do the tables that differ from the nearest release
 * come from? */
static void
find_table_origins(const struct gsr_rules *rules, struct gsr_identify *res)
{
	if (res->matches.n || res->schema_matches.n || res->nearest == NULL)
		return;
	for (size_t t = 0; t < res->schema->n_tables; t++) {
		const struct gsr_table *in = &res->schema->tables[t];
		const struct gsr_table *near =
		    gsr_schema_table(res->nearest->schema, in->name);
		const struct gsr_label **from;
		size_t n_from = 0;

		if ((near && near->sql && in->sql &&
		     !strcmp(near->sql, in->sql)) ||
		    !strncmp(in->name, "sqlite_", 7))
			continue;
		if ((from = calloc(rules->n_labels, sizeof *from)) == NULL)
			return;
		for (size_t i = 0; i < rules->n_labels; i++) {
			const struct gsr_label *l = rules->lineage[i];
			const struct gsr_table *lt =
			    gsr_schema_table(l->schema, in->name);
			if (lt && lt->sql && in->sql &&
			    !strcmp(lt->sql, in->sql))
				from[n_from++] = l;
		}
		if (n_from) {
			struct strbuf sb = STRBUF_INIT;
			describe_runs(&sb, from, n_from);
			add_finding(
			    res, "table-origin", "info",
			    "table '%s' is exactly as in %s, not as in %s",
			    in->name, sb_str(&sb), res->nearest->name);
			sb_release(&sb);
		}
		free(from);
	}
}

/* The release a repair should target: the one alembic_version claims, the
 * release that follows a dev build, or the nearest release. */
static const struct gsr_label *
suggest_target(const struct gsr_rules *rules, const struct gsr_identify *res)
{
	if (res->verdict == GSR_VERDICT_RELEASE) {
		for (size_t i = 0; i < res->matches.n; i++) {
			const struct gsr_label *l =
			    gsr_rules_label(rules, res->matches.v[i]);
			if (!strcmp(l->kind, "release"))
				return l;
		}
	}
	if (res->claimed)
		return res->claimed;
	if (res->matches.n) {
		for (const struct gsr_label *l =
		         gsr_rules_label(rules, res->matches.v[0]);
		     l; l = l->next)
			if (!strcmp(l->kind, "release"))
				return l;
	}
	return res->nearest;
}

/* Rows the target's foreign keys would reject, for the keys that the
 * input does not enforce itself (field case 2's orphaned api keys). */
static void
find_orphans(sqlite3 *db, struct gsr_identify *res)
{
	const struct gsr_schema *ts = res->target->schema;

	for (size_t t = 0; t < ts->n_tables; t++) {
		const struct gsr_table *tt = &ts->tables[t];
		const struct gsr_table *in =
		    gsr_schema_table(res->schema, tt->name);
		if (in == NULL || in->is_virtual)
			continue;
		for (size_t k = 0; k < tt->n_fks; k++) {
			const struct gsr_fkey *fk = &tt->fks[k];
			const struct gsr_table *parent =
			    gsr_schema_table(res->schema, fk->table);
			sqlite3_stmt *st = NULL;
			char *q;

			/* Keys the input declares itself are
			 * foreign_key_check's. */
			bool declared = false;
			for (size_t j = 0; j < in->n_fks; j++)
				declared |=
				    !strcmp(in->fks[j].from, fk->from) &&
				    !strcmp(in->fks[j].table, fk->table);
			/* Single-column keys to a named column cover GPUStack.
			 */
			if (declared || strchr(fk->from, ',') || !fk->to[0] ||
			    parent == NULL || parent->is_virtual ||
			    !gsr_table_column(in, fk->from) ||
			    !gsr_table_column(parent, fk->to))
				continue;
			q = sqlite3_mprintf(
			    "SELECT count(*) FROM main.\"%w\" AS c WHERE "
			    "c.\"%w\" IS NOT NULL AND NOT EXISTS (SELECT 1 "
			    "FROM main.\"%w\" AS p WHERE p.\"%w\" = c.\"%w\")",
			    tt->name, fk->from, fk->table, fk->to, fk->from);
			if (q &&
			    sqlite3_prepare_v2(db, q, -1, &st, NULL) ==
			        SQLITE_OK &&
			    sqlite3_step(st) == SQLITE_ROW &&
			    sqlite3_column_int64(st, 0) > 0)
				add_finding(
				    res, "orphan-rows", "warning",
				    "%" PRId64
				    " row(s) of %s reference %s that do not "
				    "exist (%s -> %s.%s); %s enforces this "
				    "key, so a "
				    "rebuild quarantines them",
				    (int64_t)sqlite3_column_int64(st, 0),
				    tt->name, fk->table, fk->from, fk->table,
				    fk->to, res->target->name);
			sqlite3_finalize(st);
			sqlite3_free(q);
		}
	}
}

static void
check_health(sqlite3 *db, const struct gsr_identify_opts *opts,
             struct gsr_identify *res)
{
	sqlite3_stmt *st = NULL;
	char q[64];

	res->integrity_mode =
	    opts && opts->quick ? "quick_check" : "integrity_check";
	snprintf(q, sizeof q, "PRAGMA main.%s(%d)", res->integrity_mode,
	         MAX_INTEGRITY_MESSAGES);
	if (sqlite3_prepare_v2(db, q, -1, &st, NULL) == SQLITE_OK) {
		while (sqlite3_step(st) == SQLITE_ROW) {
			const unsigned char *m = sqlite3_column_text(st, 0);
			if (sv_push(&res->integrity,
			            m ? (const char *)m : "?") == 0 &&
			    res->integrity.v[res->integrity.n - 1] != NULL) {
				/* One message a line: SQLite puts a heading
				 * and the first problem in one row. */
				char *p =
				    res->integrity.v[res->integrity.n - 1];
				for (; *p; p++)
					if (*p == '\n')
						*p = ' ';
			}
		}
	} else {
		sv_push(&res->integrity, sqlite3_errmsg(db));
	}
	sqlite3_finalize(st);
	st = NULL;
	if (!(res->integrity.n == 1 && !strcmp(res->integrity.v[0], "ok"))) {
		res->damaged = true;
		add_problem(res, "%s reports %zu problem(s), first: %s",
		            res->integrity_mode, res->integrity.n,
		            res->integrity.n ? res->integrity.v[0] : "?");
	}

	if (sqlite3_prepare_v2(
	        db,
	        "SELECT \"table\", count(*) FROM pragma_foreign_key_check "
	        "GROUP BY 1 ORDER BY 1",
	        -1, &st, NULL) == SQLITE_OK) {
		while (sqlite3_step(st) == SQLITE_ROW) {
			int64_t n = sqlite3_column_int64(st, 1);
			res->fk_violations += n;
			add_problem(
			    res,
			    "foreign_key_check: %" PRId64 " row(s) of %s "
			    "reference missing rows",
			    n, (const char *)sqlite3_column_text(st, 0));
		}
	}
	sqlite3_finalize(st);
}

static void
count_rows(sqlite3 *db, struct gsr_identify *res)
{
	for (size_t i = 0; i < res->schema->n_tables; i++) {
		const struct gsr_table *t = &res->schema->tables[i];
		sqlite3_stmt *st = NULL;
		char *q;

		if (gsr_grow((void **)&res->tables, &res->cap_tables,
		             res->n_tables + 1, sizeof *res->tables))
			return;
		struct gsr_table_rows *tr = &res->tables[res->n_tables++];
		tr->name = strdup(t->name);
		tr->rows = -1;
		if (t->is_virtual)
			continue;
		q = sqlite3_mprintf("SELECT count(*) FROM main.\"%w\"",
		                    t->name);
		if (q &&
		    sqlite3_prepare_v2(db, q, -1, &st, NULL) == SQLITE_OK &&
		    sqlite3_step(st) == SQLITE_ROW)
			tr->rows = sqlite3_column_int64(st, 0);
		else {
			res->damaged = true;
			add_problem(res, "table '%s' cannot be read: %s",
			            t->name, sqlite3_errmsg(db));
		}
		sqlite3_finalize(st);
		sqlite3_free(q);
	}
}

/* Where the checks are, for SQLite's progress handler. */
struct checks_tick {
	const struct gsr_ctx *ctx;
	uint64_t step;
	bool cancel;             /* a signal stops them */
	const atomic_bool *stop; /* gsr_identify_stop_checks() stops them */
};

#define CHECKS_STEPS 3 /* health, orphans, row counts */

/* SQLite's progress callback: reports the steps done as the phase
 * "checks" (ctx.h); with cancel, a signal stops the checks; so does
 * gsr_identify_stop_checks(). */
static int
checks_progress(void *arg)
{
	const struct checks_tick *t = arg;

	gsr_progress(t->ctx, "checks", GSR_PROGRESS_STEPS, t->step,
	             CHECKS_STEPS);
	return (t->cancel && gsr_cancel_requested()) || atomic_load(t->stop);
}

/* SQLite's progress callback outside the checks: a signal stops the
 * statement. */
static int
cancel_progress(void *arg)
{
	(void)arg;
	return gsr_cancel_requested();
}

/* The data checks on db: integrity, foreign keys, orphans, row counts,
 * reported as the phase "checks" on ctx, which ends with them; with
 * cancel, a signal stops them. */
static void
run_checks(const struct gsr_ctx *ctx, sqlite3 *db,
           const struct gsr_identify_opts *opts, struct gsr_identify *res,
           bool cancel)
{
	struct checks_tick t = {ctx, 0, cancel, &res->checks_stop};

	sqlite3_progress_handler(db, 10000, checks_progress, &t);
	checks_progress(&t);
	if (!res->read_by_recovery)
		check_health(db, opts, res);
	t.step++;
	if (res->target)
		find_orphans(db, res);
	t.step++;
	count_rows(db, res);
	sqlite3_progress_handler(db, 0, NULL, NULL);
	gsr_progress_end(ctx, "checks");
}

/* The data checks on a connection of their own, in checks_thread. */
struct checks_job {
	struct gsr_identify *res;
	struct gsr_identify_opts opts;
	const struct gsr_progress *progress; /* the caller's ctx's */
};

/* Guards each gsr_identify's checks_db against its closing. */
static pthread_mutex_t checks_lock = PTHREAD_MUTEX_INITIALIZER;

/* Make db the connection of res's checks (NULL: none any more), for
 * gsr_identify_stop_checks().  Returns false when they are stopped
 * already. */
static bool
checks_publish(struct gsr_identify *res, sqlite3 *db)
{
	bool stopped;

	pthread_mutex_lock(&checks_lock);
	res->checks_db = db;
	stopped = atomic_load(&res->checks_stop);
	pthread_mutex_unlock(&checks_lock);
	return !stopped;
}

static void *
checks_main(void *arg)
{
	struct checks_job *job = arg;
	struct gsr_identify *res = job->res;
	struct gsr_ctx ctx = {.err = GSR_OK, .progress = job->progress};
	double t0 = gsr_now_ms();
	sqlite3 *db = gsr_db_open(&ctx, res->ev.work_db, false);

	if (db == NULL) {
		/* It opened a moment ago: treat it as damage, so that the
		 * caller identifies again, in order. */
		res->damaged = true;
		add_problem(res, "the working copy cannot be opened again: %s",
		            ctx.msg);
	} else if (checks_publish(res, db)) {
		run_checks(&ctx, db, &job->opts, res, true);
	}
	checks_publish(res, NULL);
	sqlite3_close(db);
	res->ms_checks = gsr_now_ms() - t0;
	free(job);
	return NULL;
}

int
gsr_identify_join_checks(struct gsr_identify *res)
{
	if (res->checks_thread.running) {
		gsr_thread_join(NULL, &res->checks_thread, NULL, NULL);
		res->health_ok = res->verdict != GSR_VERDICT_UNREADABLE &&
		                 res->problems.n == 0;
	}
	return res->damaged ? 1 : 0;
}

/*
 * Read the input with the page reader into ev.workdir (recover.h);
 * damaged when SQLite is known to fail on it.  Returns 0 whether or not
 * anything could be recovered (res->recovered or res->recover_failed says;
 * report_recovery() reports it), -1 on an error that stops the run.  Touches no
 * more of res than those, the recovery's result and its files: the data checks
 * may run beside it.
 */
static int
recover_input(struct gsr_ctx *ctx, const struct gsr_rules *rules,
              const struct gsr_identify_opts *opts, struct gsr_identify *res,
              bool damaged)
{
	struct gsr_recover_opts o = {
	    .rules = rules,
	    .deleted = opts && opts->deleted,
	    /* The working copy, when there is no pristine one. */
	    .sqlite_reads_image = res->ev.files[GSR_EV_DB].pristine == NULL,
	    .wal_path = gsr_evidence_image(&res->ev, GSR_EV_WAL),
	    .journal_path = gsr_evidence_image(&res->ev, GSR_EV_JOURNAL),
	    .damaged = damaged,
	};

	if (res->recovered || res->recover_failed)
		return 0;
	if (asprintf(&res->recovered_db, "%s/recovered.db", res->ev.workdir) <
	        0 ||
	    asprintf(&res->ledger_db, "%s/ledger.db", res->ev.workdir) < 0)
		return gsr_ctx_fail(ctx, GSR_ERR_NOMEM, "out of memory");
	gsr_temp_register(res->recovered_db);
	gsr_temp_register(res->ledger_db);
	if (gsr_recover_run(ctx, gsr_evidence_image(&res->ev, GSR_EV_DB), &o,
	                    res->recovered_db, res->ledger_db,
	                    &res->rec) != 0) {
		if (ctx->err != GSR_ERR_INPUT)
			return -1;
		res->recover_failed = strdup(ctx->msg);
		gsr_ctx_clear(ctx);
		return 0;
	}
	res->recovered = true;
	return 0;
}

/* The findings of recover_input(), run because of why. */
static void
report_recovery(struct gsr_identify *res, const char *why)
{
	const struct gsr_recover_result *rr = &res->rec;
	bool damage;

	if (res->recover_failed) {
		add_finding(res, "not-recoverable", "error",
		            "%s, and gsrecover's page reader found nothing to "
		            "recover: %s",
		            why, res->recover_failed);
		return;
	}
	if (!res->recovered)
		return;
	damage = gsr_recover_lossy(rr) || res->damaged;
	add_finding(
	    res, "recovered", damage ? "warning" : "info",
	    "%s: gsrecover's page reader recovered %" PRId64 " rows of %zu "
	    "tables (schema from %s%s%s; %" PRIu64 " damaged pages, %" PRIu32
	    " orphan leaves placed, %" PRId64 " rows cut short, %" PRId64
	    " refused by constraints, %" PRId64 " on leaves no table fits)",
	    why, rr->rows, rr->n_tables, rr->schema_source,
	    rr->schema_label ? " " : "",
	    rr->schema_label ? rr->schema_label : "", rr->pages_damaged,
	    rr->pages_orphan, rr->truncated, rr->rejected, rr->rows_unplaced);
	if (rr->carved)
		add_finding(res, "deleted-rows", "info",
		            "%" PRId64
		            " deleted row(s) were carved out of free space "
		            "(%" PRId64
		            " cut short); they are kept apart from the live "
		            "rows",
		            rr->deleted, rr->deleted_truncated);
	if (rr->history > 0)
		add_finding(
		    res, "history", "info",
		    "%" PRId64 " older or uncommitted version(s) of rows were "
		    "found (%" PRIu32 " WAL page(s), %" PRIu32 " journal "
		    "page(s)); they are kept apart, never mixed with live rows",
		    rr->history, rr->wal_history_pages,
		    rr->journal_history_pages);
}

/*
 * A look at the interior pages of every tree of the working copy
 * (gsr_btree_interior_sound()), when no -wal or -journal changes what
 * SQLite reads: one that does not read as such is damage SQLite stops
 * on, known a second before the checks would find it, so that the page
 * reader can run beside them (checks_beside_recovery()) and a rebuild
 * need not start a build on the file first.  Sets res->damaged.  Returns
 * 0, or -1 on an error on ctx.
 */
static int
look_at_interiors(struct gsr_ctx *ctx, sqlite3 *db, struct gsr_identify *res)
{
	struct gsr_pagefile *pf = NULL;
	sqlite3_stmt *st = NULL;
	struct stat sb;
	int fd = -1, rc = -1, c = 1;

	if (res->ev.files[GSR_EV_WAL].present ||
	    res->ev.files[GSR_EV_JOURNAL].present)
		return 0;
	if ((fd = open(res->ev.work_db, O_RDONLY | O_CLOEXEC)) < 0 ||
	    fstat(fd, &sb) != 0 ||
	    sqlite3_prepare_v2(db,
	                       "SELECT rootpage FROM main.sqlite_master WHERE "
	                       "type IN ('table', 'index') AND rootpage > 0",
	                       -1, &st, NULL) != SQLITE_OK) {
		rc = 0; /* the checks will tell */
		goto out;
	}
	if ((pf = gsr_pagefile_open_fd(ctx, fd, (uint64_t)sb.st_size,
	                               res->hdr.page_size)) == NULL)
		goto out;
	while (c == 1 && sqlite3_step(st) == SQLITE_ROW) {
		int64_t root = sqlite3_column_int64(st, 0);

		if (root <= UINT32_MAX &&
		    (c = gsr_btree_interior_sound(ctx, pf, (uint32_t)root)) < 0)
			goto out;
	}
	res->damaged = res->damaged || c == 0;
	rc = 0;
out:
	sqlite3_finalize(st);
	gsr_pagefile_close(pf);
	if (fd >= 0)
		close(fd);
	return rc;
}

/* Read the input with the page reader (recover_input()) because of why,
 * and report it.  Returns 0, or -1 on an error that stops the run. */
static int
run_recovery(struct gsr_ctx *ctx, const struct gsr_rules *rules,
             const struct gsr_identify_opts *opts, struct gsr_identify *res,
             const char *why)
{
	bool before = res->recovered || res->recover_failed;

	if (recover_input(ctx, rules, opts, res, res->damaged))
		return -1;
	if (!before)
		report_recovery(res, why);
	return 0;
}

/* Start the data checks on a thread of their own (checks_main()).
 * Returns 0, or -1 with the error on ctx. */
static int
start_checks(struct gsr_ctx *ctx, const struct gsr_identify_opts *opts,
             struct gsr_identify *res)
{
	struct checks_job *job = malloc(sizeof *job);

	if (job == NULL)
		return gsr_ctx_fail(ctx, GSR_ERR_NOMEM, "out of memory");
	*job = (struct checks_job){res, *opts, ctx->progress};
	if (gsr_thread_start(ctx, &res->checks_thread, checks_main, job)) {
		free(job);
		return -1;
	}
	return 0;
}

/*
 * The page reader runs whatever the data checks find (recover,
 * known_damaged, a -journal): run the checks on a thread of their own,
 * beside it, and report both once both are done.  Returns 0, or -1 on an
 * error that stops the run (a signal among them).
 */
static int
checks_beside_recovery(struct gsr_ctx *ctx, const struct gsr_rules *rules,
                       const struct gsr_identify_opts *opts,
                       struct gsr_identify *res)
{
	const char *why = opts->recover         ? "on request"
	                  : opts->known_damaged ? "SQLite failed on the file"
	                  : res->damaged
	                      ? "SQLite reports damage"
	                      : "a -wal or -journal came with the database";
	/* Read before the checks start: they set res->damaged. */
	bool damaged = res->damaged || opts->known_damaged;
	int rc;

	if (start_checks(ctx, opts, res))
		return -1;
	rc = recover_input(ctx, rules, opts, res, damaged);
	gsr_identify_join_checks(res);
	if (rc || gsr_ctx_check_cancel(ctx))
		return -1;
	report_recovery(res, why);
	return 0;
}

/*
 * The file reads as sound and came with a -wal: read only the -wal's
 * frames for the history (gsr_recover_wal_history()), SQLite reading the
 * committed state from the working copy.  Sets wal_history when done;
 * when the -wal is not sound, wal_unsound says why and ledger_db is unset
 * again, for run_recovery().  Touches no more of res than those and the
 * recovery's result: the data checks may run beside it
 * (report_wal_history() reports it).  Returns 0, -1 on an error that
 * stops the run.
 */
static int
read_wal_history(struct gsr_ctx *ctx, const struct gsr_rules *rules,
                 struct gsr_identify *res)
{
	struct gsr_recover_opts o = {
	    .rules = rules,
	    .wal_path = gsr_evidence_image(&res->ev, GSR_EV_WAL),
	};
	int rc;

	if (res->wal_history || res->wal_unsound || res->recovered)
		return 0;
	if (asprintf(&res->ledger_db, "%s/ledger.db", res->ev.workdir) < 0) {
		res->ledger_db = NULL;
		return gsr_ctx_fail(ctx, GSR_ERR_NOMEM, "out of memory");
	}
	gsr_temp_register(res->ledger_db);
	rc = gsr_recover_wal_history(
	    ctx, gsr_evidence_image(&res->ev, GSR_EV_DB), &o, res->ev.work_db,
	    res->ledger_db, &res->rec, &res->wal_unsound);
	if (rc != 0) {
		gsr_temp_unregister(res->ledger_db);
		free(res->ledger_db);
		res->ledger_db = NULL;
	}
	if (rc < 0)
		return -1;
	res->wal_history = rc == 0;
	return 0;
}

/* Forget what read_wal_history() read: the checks found damage, and the
 * page reader reads the whole file instead. */
static void
forget_wal_history(struct gsr_identify *res)
{
	if (res->ledger_db) {
		unlink(res->ledger_db);
		gsr_temp_unregister(res->ledger_db);
		free(res->ledger_db);
		res->ledger_db = NULL;
	}
	gsr_recover_result_release(&res->rec);
	free(res->wal_unsound);
	res->wal_unsound = NULL;
	res->wal_history = false;
}

/* The findings of read_wal_history(). */
static void
report_wal_history(struct gsr_identify *res)
{
	const struct gsr_recover_result *rr = &res->rec;

	if (res->wal_unsound) {
		add_finding(
		    res, "wal-unsound", "warning",
		    "the -wal is not sound (%s): the page reader reads the "
		    "whole file",
		    res->wal_unsound);
		return;
	}
	if (!res->wal_history)
		return;
	add_finding(
	    res, "wal-history", "info",
	    "the -wal is sound (%" PRIu32 " frames, %" PRIu32 " in the "
	    "committed state): SQLite read the committed state from the "
	    "copy, and gsrecover's page reader read only the -wal's frames "
	    "for the history",
	    rr->wal_frames, rr->wal_current);
	if (rr->history > 0)
		add_finding(
		    res, "history", "info",
		    "%" PRId64 " older or uncommitted version(s) of rows were "
		    "found (%" PRIu32 " WAL page(s), %" PRIu32 " journal "
		    "page(s)); they are kept apart, never mixed with live rows",
		    rr->history, rr->wal_history_pages,
		    rr->journal_history_pages);
}

/* read_wal_history() and its report.  Returns 0, -1 on an error that
 * stops the run. */
static int
run_wal_history(struct gsr_ctx *ctx, const struct gsr_rules *rules,
                struct gsr_identify *res)
{
	bool before = res->wal_history || res->wal_unsound || res->recovered;

	if (read_wal_history(ctx, rules, res))
		return -1;
	if (!before)
		report_wal_history(res);
	return 0;
}

/*
 * A file that reads as sound with a sound -wal: the data checks run on a
 * thread of their own, beside read_wal_history(); when they find damage,
 * the history is forgotten (the page reader then reads the whole file).
 * Returns 0, or -1 on an error that stops the run (a signal among them).
 */
static int
checks_beside_wal_history(struct gsr_ctx *ctx, const struct gsr_rules *rules,
                          const struct gsr_identify_opts *opts,
                          struct gsr_identify *res)
{
	/* Read and reported already (async_checks that could not start). */
	bool before = res->wal_history || res->wal_unsound || res->recovered;
	int rc;

	if (start_checks(ctx, opts, res))
		return -1;
	rc = read_wal_history(ctx, rules, res);
	gsr_identify_join_checks(res);
	if (rc || gsr_ctx_check_cancel(ctx))
		return -1;
	if (before)
		return 0;
	if (res->damaged)
		forget_wal_history(res);
	else
		report_wal_history(res);
	return 0;
}

/* SQLite cannot read the file (what says which part; res->unreadable
 * why): read the recovered database instead.  NULL when nothing could
 * be recovered, or on an error recorded on ctx. */
static sqlite3 *
open_recovered(struct gsr_ctx *ctx, const struct gsr_rules *rules,
               const struct gsr_identify_opts *opts, struct gsr_identify *res,
               const char *what)
{
	sqlite3 *db = NULL;
	char *why = NULL;

	if (asprintf(&why, "SQLite cannot read %s (%s)", what,
	             res->unreadable) < 0) {
		gsr_ctx_fail(ctx, GSR_ERR_NOMEM, "out of memory");
		return NULL;
	}
	if (run_recovery(ctx, rules, opts, res, why) != 0 || !res->recovered)
		goto out;
	if ((db = gsr_db_open(ctx, res->recovered_db, false)) == NULL ||
	    (res->schema = gsr_schema_extract(ctx, db)) == NULL) {
		sqlite3_close(db);
		db = NULL;
		goto out;
	}
	res->read_by_recovery = true;
	res->damaged = true;
	add_problem(res, "%s", why);
out:
	free(why);
	return db;
}

/*
 * SQLite could not read the schema, and the page reader read sqlite_master
 * into its ledger: name each row whose SQL SQLite refuses, with its
 * reason, as a finding.  The SQL is compiled in db, the recovered
 * database, which holds the objects that could be made; it is never run.
 */
static void
find_unparsable_rows(sqlite3 *db, struct gsr_identify *res)
{
	struct gsr_ctx ctx = GSR_CTX_INIT;
	sqlite3 *led = gsr_db_open(&ctx, res->ledger_db, false);
	sqlite3_stmt *st = NULL;

	if (led == NULL ||
	    sqlite3_prepare_v2(
	        led,
	        "SELECT type, name, sql FROM objects WHERE NOT created "
	        "AND sql IS NOT NULL AND substr(name, 1, 7) <> 'sqlite_' "
	        "ORDER BY rowid",
	        -1, &st, NULL) != SQLITE_OK)
		goto out;
	while (sqlite3_step(st) == SQLITE_ROW) {
		const char *type = (const char *)sqlite3_column_text(st, 0);
		const char *name = (const char *)sqlite3_column_text(st, 1);
		const char *sql = (const char *)sqlite3_column_text(st, 2);
		sqlite3_stmt *probe = NULL;

		if (sqlite3_prepare_v2(db, sql, -1, &probe, NULL) != SQLITE_OK)
			add_finding(
			    res, "unparsable-schema-row", "error",
			    "sqlite_master row '%s %s' has SQL SQLite cannot "
			    "parse: %s",
			    type ? type : "?", name ? name : "?",
			    sqlite3_errmsg(db));
		sqlite3_finalize(probe);
	}
out:
	sqlite3_finalize(st);
	sqlite3_close(led);
}

/* The findings custody itself gives: a -wal or -journal beside the
 * database, and processes that hold it. */
static void
note_custody(struct gsr_identify *res)
{
	if (res->ev.files[GSR_EV_WAL].present)
		add_finding(res, "wal-present", "info",
		            "a -wal file (%" PRIu64
		            " bytes) holds transactions not yet "
		            "in the database file; they were read from a copy",
		            res->ev.files[GSR_EV_WAL].size);
	if (res->ev.files[GSR_EV_JOURNAL].present)
		add_finding(
		    res, "journal-present", "warning",
		    "a -journal file is present: the last transaction did not "
		    "finish and was rolled back on a copy");
	for (size_t i = 0; i < res->ev.n_holders; i++)
		add_finding(
		    res, "database-in-use", "warning",
		    "process %d (%s) holds the database %s: a running server "
		    "may change it while it is read",
		    res->ev.holders[i].pid, res->ev.holders[i].comm,
		    strcmp(res->ev.holders[i].how, "lock") ? "open" : "locked");
}

/* The verdict of a GPUStack database from its schema against every
 * label, the findings of the known patterns, and the target to suggest. */
static void
fingerprint(const struct gsr_rules *rules, struct gsr_identify *res)
{
	compare_with_labels(rules, res);
	res->verdict = GSR_VERDICT_MIXED;
	if (res->matches.n) {
		res->verdict = GSR_VERDICT_DEV_BUILD;
		for (size_t i = 0; i < res->matches.n; i++)
			if (!strcmp(
			        gsr_rules_label(rules, res->matches.v[i])->kind,
			        "release"))
				res->verdict = GSR_VERDICT_RELEASE;
	}
	find_alembic_patterns(rules, res);
	find_view_patterns(rules, res);
	find_patches(rules, res);
	find_table_origins(rules, res);
	res->target = suggest_target(rules, res);
}

/* The recheck of the originals on a thread of its own. */
struct recheck_job {
	struct gsr_ctx ctx; /* the thread's */
	struct gsr_identify *res;
	double ms;
};

static void *
recheck_main(void *arg)
{
	struct recheck_job *j = arg;
	double t0 = gsr_now_ms();

	gsr_evidence_recheck(&j->ctx, &j->res->ev);
	j->ms = gsr_now_ms() - t0;
	return NULL;
}

/* Hash the originals again on a thread (unless the caller does it
 * later): the copies are made, so nothing reads the originals any more,
 * and what the thread writes (each file's rechecked, changed and
 * sha256_after) nothing else reads until recheck_join().  Returns 0, or
 * -1 with an error on ctx. */
static int
recheck_start(struct gsr_ctx *ctx, const struct gsr_identify_opts *opts,
              struct gsr_identify *res)
{
	struct recheck_job *j;

	if (opts && (opts->defer_recheck || opts->async_checks))
		return 0;
	if ((j = calloc(1, sizeof *j)) == NULL)
		return gsr_ctx_fail(ctx, GSR_ERR_NOMEM, "out of memory");
	j->ctx = gsr_ctx_child(ctx);
	j->res = res;
	res->recheck_job = j;
	return gsr_thread_start(ctx, &res->recheck_thread, recheck_main, j);
}

/* Wait for recheck_start()'s thread, its error made ctx's (ctx NULL
 * discards it).  Returns 0 or -1. */
static int
recheck_join(struct gsr_ctx *ctx, struct gsr_identify *res)
{
	struct recheck_job *j = res->recheck_job;
	int rc;

	if (j == NULL)
		return 0;
	rc = gsr_thread_join(ctx, &res->recheck_thread, &j->ctx, NULL);
	res->ms_recheck = j->ms;
	free(j);
	res->recheck_job = NULL;
	return rc;
}

/* Wait for the hash of the input again (unless the caller does it
 * later), note what changed while it was read, and settle health.
 * Returns 0, or -1 with an error on ctx (a signal among them). */
static int
recheck_input(struct gsr_ctx *ctx, const struct gsr_identify_opts *opts,
              struct gsr_identify *res)
{
	if (!(opts && (opts->defer_recheck || opts->async_checks)) &&
	    (recheck_join(ctx, res) || gsr_ctx_check_cancel(ctx)))
		return -1;
	for (int i = 0; i < GSR_EV_NFILES; i++)
		if (res->ev.files[i].changed) {
			res->input_changed = true;
			add_problem(
			    res,
			    "'%s' changed while it was read (a running "
			    "server?): the report may not match the file now",
			    res->ev.files[i].path);
		}
	res->health_ok =
	    res->verdict != GSR_VERDICT_UNREADABLE && res->problems.n == 0;
	return 0;
}

int
gsr_identify_run(struct gsr_ctx *ctx, const struct gsr_rules *rules,
                 const char *path, const struct gsr_identify_opts *opts,
                 struct gsr_identify *res)
{
	sqlite3 *db = NULL;
	int rc = -1;
	double t0 = gsr_now_ms(), t1 = 0;

	if (gsr_ctx_failed(ctx))
		return -1;
	if (opts && opts->adopt) {
		/* Custody taken already: the evidence changes hands. */
		res->ev = *opts->adopt;
		memset(opts->adopt, 0, sizeof *opts->adopt);
	} else if (gsr_evidence_open(ctx, &res->ev, path)) {
		return -1;
	}
	res->ms_custody = gsr_now_ms() - t0;
	t0 = gsr_now_ms();
	res->journal = "delete";
	note_custody(res);
	if (recheck_start(ctx, opts, res))
		goto out;

	if (!read_header(res)) {
		if (res->packed || res->ev.files[GSR_EV_DB].size < 512 ||
		    (db = open_recovered(ctx, rules, opts, res, "the file")) ==
		        NULL) {
			if (gsr_ctx_failed(ctx))
				goto out;
			res->verdict = GSR_VERDICT_UNREADABLE;
			goto done;
		}
	} else if (fit_truncated(ctx, res) != 0) {
		goto out;
	}
	if (db == NULL &&
	    ((db = gsr_db_open(ctx, res->ev.work_db, false)) == NULL ||
	     (res->schema = gsr_schema_extract(ctx, db)) == NULL)) {
		if (ctx->err == GSR_ERR_NOMEM)
			goto out;
		res->unreadable = strdup(ctx->msg);
		gsr_ctx_clear(ctx);
		sqlite3_close(db);
		if ((db = open_recovered(ctx, rules, opts, res,
		                         "the schema")) == NULL) {
			if (gsr_ctx_failed(ctx))
				goto out;
			res->verdict = GSR_VERDICT_UNREADABLE;
			goto done;
		}
		find_unparsable_rows(db, res);
	}
	/* A signal stops what runs on this connection (run_checks() has a
	 * handler of its own while it runs). */
	sqlite3_progress_handler(db, 10000, cancel_progress, NULL);
	/* A copy in WAL mode that stays as it is (no rollback_copy) is not
	 * checkpointed when this, its last connection, closes: whoever reads
	 * it next reads its -wal, and the copy is thrown away. */
	if (!(opts && opts->rollback_copy))
		sqlite3_db_config(db, SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE, 1,
		                  NULL);
	read_alembic(db, res);
	if (!is_gpustack(rules, res)) {
		res->verdict = GSR_VERDICT_NOT_GPUSTACK;
		res->ms_fingerprint = gsr_now_ms() - t0;
		t1 = gsr_now_ms();
		if (!(opts && opts->schema_only)) {
			if (!res->read_by_recovery)
				check_health(db, opts, res);
			count_rows(db, res);
		}
		goto done;
	}
	fingerprint(rules, res);
	if (!(opts && (opts->schema_only || opts->recover)) &&
	    !res->read_by_recovery && !res->damaged && res->header_ok &&
	    look_at_interiors(ctx, db, res))
		goto out;
	res->ms_fingerprint = gsr_now_ms() - t0;
	t1 = gsr_now_ms();
	/* A file that reads as sound with a -wal alone: the -wal's frames
	 * give the history, SQLite the committed state (run_wal_history()).
	 * With async_checks it is read now, before the checks start. */
	bool wal_fast = !(opts && (opts->schema_only || opts->recover)) &&
	                !res->read_by_recovery && !res->damaged &&
	                res->header_ok && res->ev.files[GSR_EV_WAL].present &&
	                !res->ev.files[GSR_EV_JOURNAL].present;
	if (wal_fast && opts && opts->async_checks &&
	    run_wal_history(ctx, rules, res) != 0)
		goto out;
	/* A copy in WAL mode goes to rollback mode first, as the caller
	 * reads it: once the checks hold it open, no other connection could
	 * switch it (this checkpoints the copy's -wal into it). */
	if (opts && opts->async_checks && !opts->schema_only &&
	    !opts->recover && !res->read_by_recovery && !res->damaged &&
	    (!res->ev.files[GSR_EV_WAL].present || res->wal_history) &&
	    !res->ev.files[GSR_EV_JOURNAL].present &&
	    (strcmp(res->journal, "wal") != 0 ||
	     sqlite3_exec(db,
	                  "PRAGMA synchronous=OFF; PRAGMA journal_mode=DELETE",
	                  NULL, NULL, NULL) == SQLITE_OK)) {
		if (start_checks(ctx, opts, res))
			goto out;
		sqlite3_close(db);
		return 0;
	}
	if (opts && !opts->schema_only && !res->read_by_recovery &&
	    (opts->recover || opts->known_damaged || res->damaged ||
	     res->ev.files[GSR_EV_JOURNAL].present)) {
		if (checks_beside_recovery(ctx, rules, opts, res))
			goto out;
	} else if (wal_fast && opts) {
		if (checks_beside_wal_history(ctx, rules, opts, res))
			goto out;
	} else if (!(opts && opts->schema_only)) {
		run_checks(ctx, db, opts, res, true);
		/* Checks cut short by a signal found nothing. */
		if (gsr_ctx_check_cancel(ctx))
			goto out;
		if (wal_fast && !res->damaged &&
		    run_wal_history(ctx, rules, res) != 0)
			goto out;
	}
	if (!(opts && opts->schema_only)) {
		if (!res->read_by_recovery && !res->wal_history &&
		    (res->damaged || (opts && opts->recover) ||
		     res->ev.files[GSR_EV_WAL].present ||
		     res->ev.files[GSR_EV_JOURNAL].present) &&
		    run_recovery(
		        ctx, rules, opts, res,
		        res->damaged ? "SQLite reports damage"
		        : opts && opts->recover
		            ? "on request"
		            : "a -wal or -journal came with the database") != 0)
			goto out;
	}
	if (opts && opts->rollback_copy && !res->recovered &&
	    !res->read_by_recovery && !strcmp(res->journal, "wal") &&
	    gsr_db_exec(ctx, db,
	                "PRAGMA synchronous=OFF; PRAGMA journal_mode=DELETE"))
		goto out;
done:
	if (res->verdict == GSR_VERDICT_UNREADABLE)
		add_problem(res, "%s",
		            res->unreadable ? res->unreadable
		                            : "SQLite cannot read the file");
	if (t1 > 0)
		res->ms_checks = gsr_now_ms() - t1;
	else
		res->ms_fingerprint = gsr_now_ms() - t0;
	sqlite3_close(db);
	db = NULL;
	if (gsr_ctx_check_cancel(ctx) || recheck_input(ctx, opts, res))
		goto out;
	rc = 0;
out:
	sqlite3_close(db);
	return rc;
}

const char *
gsr_identify_reader(const struct gsr_identify *res)
{
	if (res->read_by_recovery)
		return "page-reader";
	if (res->recovered)
		return "sqlite+page-reader";
	return res->wal_history ? "sqlite+wal-history" : "sqlite";
}

const char *
gsr_identify_source_db(const struct gsr_identify *res)
{
	return res->recovered ? res->recovered_db : res->ev.work_db;
}

void
gsr_identify_stop_checks(struct gsr_identify *res)
{
	if (!res->checks_thread.running)
		return;
	pthread_mutex_lock(&checks_lock);
	atomic_store(&res->checks_stop, true);
	/* Stops even the integrity check, which SQLite runs as one step
	 * (the progress handler stops the statements after it). */
	if (res->checks_db != NULL)
		sqlite3_interrupt(res->checks_db);
	pthread_mutex_unlock(&checks_lock);
	gsr_thread_join(NULL, &res->checks_thread, NULL, NULL);
}

void
gsr_identify_release(struct gsr_identify *res)
{
	gsr_identify_join_checks(res);
	recheck_join(NULL, res);
	if (res->recovered_db)
		gsr_temp_unregister(res->recovered_db);
	if (res->ledger_db)
		gsr_temp_unregister(res->ledger_db);
	gsr_evidence_release(&res->ev);
	free(res->recovered_db);
	free(res->ledger_db);
	free(res->recover_failed);
	free(res->wal_unsound);
	gsr_recover_result_release(&res->rec);
	free(res->unreadable);
	gsr_schema_free(res->schema);
	sv_release(&res->matches);
	sv_release(&res->schema_matches);
	free(res->alembic);
	gsr_diffs_release(&res->claimed_diffs);
	gsr_diffs_release(&res->nearest_diffs);
	for (size_t i = 0; i < res->n_findings; i++)
		free(res->findings[i].message);
	free(res->findings);
	sv_release(&res->problems);
	sv_release(&res->integrity);
	for (size_t i = 0; i < res->n_tables; i++)
		free(res->tables[i].name);
	free(res->tables);
	memset(res, 0, sizeof *res);
}

/* ---- report helpers shared by the CLI and the audit archive ---------- */

bool
gsr_identify_needs_repair(const struct gsr_identify *res)
{
	return res->target != NULL &&
	       (res->verdict != GSR_VERDICT_RELEASE || !res->health_ok);
}

char *
gsr_identify_repair_command(const struct gsr_identify *res)
{
	struct strbuf sb = STRBUF_INIT;

	if (res->target == NULL)
		return NULL;
	sb_adds(&sb, "gsrecover rebuild ");
	sb_add_shell_word(&sb, res->ev.path);
	sb_addf(&sb, " --to %s", res->target->name);
	if (sb.failed) {
		sb_release(&sb);
		return NULL;
	}
	return sb_detach(&sb);
}

static void
json_diffs(struct jsonw *jw, const struct gsr_diffs *d)
{
	jw_key(jw, "differences");
	jw_arr_begin(jw);
	for (size_t i = 0; i < d->n; i++) {
		const struct gsr_diff *x = &d->v[i];
		jw_obj_begin(jw);
		jw_kstr(jw, "kind", x->kind);
		jw_kstr(jw, "table", x->table);
		if (x->column)
			jw_kstr(jw, "column", x->column);
		if (x->object)
			jw_kstr(jw, "object", x->object);
		jw_kstr(jw, "expected", x->expected);
		jw_kstr(jw, "found", x->found);
		jw_kstr(jw, "message", x->detail);
		jw_obj_end(jw);
	}
	jw_arr_end(jw);
}

static void
json_label_diffs(struct jsonw *jw, const char *key, const struct gsr_label *l,
                 const struct gsr_diffs *d)
{
	jw_key(jw, key);
	if (l == NULL) {
		jw_null(jw);
		return;
	}
	jw_obj_begin(jw);
	jw_kstr(jw, "label", l->name);
	json_diffs(jw, d);
	jw_obj_end(jw);
}

void
gsr_identify_write_json(const struct gsr_identify *res, struct jsonw *jw)
{
	const struct gsr_evidence *ev = &res->ev;

	jw_key(jw, "input");
	gsr_evidence_write_json(ev, jw, true);
	jw_kbool(jw, "located", ev->located);
	jw_key(jw, "holders");
	jw_arr_begin(jw);
	for (size_t i = 0; i < ev->n_holders; i++) {
		jw_obj_begin(jw);
		jw_kint(jw, "pid", ev->holders[i].pid);
		jw_kstr(jw, "command", ev->holders[i].comm);
		jw_kstr(jw, "how", ev->holders[i].how);
		jw_obj_end(jw);
	}
	jw_arr_end(jw);
	jw_kstr(jw, "verdict", gsr_verdict_name(res->verdict));
	if (res->verdict == GSR_VERDICT_UNREADABLE)
		jw_kstr(jw, "reason", res->unreadable);
	jw_kstr(jw, "label", res->label ? res->label->name : NULL);
	jw_key(jw, "same_schema_as");
	jw_arr_begin(jw);
	for (size_t i = 0; i < res->matches.n; i++)
		if (res->label && strcmp(res->matches.v[i], res->label->name))
			jw_str(jw, res->matches.v[i]);
	jw_arr_end(jw);
	jw_kstrvec(jw, "matches", &res->matches);
	jw_kstrvec(jw, "schema_matches", &res->schema_matches);
	jw_kstr(jw, "alembic_version", res->alembic);
	json_label_diffs(jw, "claimed", res->claimed, &res->claimed_diffs);
	json_label_diffs(jw, "nearest", res->nearest, &res->nearest_diffs);
	jw_key(jw, "nearest_build");
	if (res->nearest_build) {
		jw_obj_begin(jw);
		jw_kstr(jw, "label", res->nearest_build->name);
		jw_kint(jw, "difference_count",
		        (int64_t)res->nearest_build_ndiffs);
		jw_obj_end(jw);
	} else {
		jw_null(jw);
	}
	jw_kstr(jw, "suggested_target", res->target ? res->target->name : NULL);
	jw_key(jw, "findings");
	jw_arr_begin(jw);
	for (size_t i = 0; i < res->n_findings; i++) {
		jw_obj_begin(jw);
		jw_kstr(jw, "code", res->findings[i].code);
		jw_kstr(jw, "severity", res->findings[i].severity);
		jw_kstr(jw, "message", res->findings[i].message);
		jw_obj_end(jw);
	}
	jw_arr_end(jw);
	jw_key(jw, "health");
	jw_obj_begin(jw);
	jw_kbool(jw, "ok", res->health_ok);
	jw_kstrvec(jw, "problems", &res->problems);
	jw_kbool(jw, "header_ok", res->header_ok);
	jw_kstr(jw, "journal_mode",
	        res->verdict == GSR_VERDICT_UNREADABLE ? NULL : res->journal);
	if (res->header_ok || res->hdr.page_size)
		jw_kint(jw, "page_size", res->hdr.page_size);
	jw_kstr(jw, "integrity_mode", res->integrity_mode);
	jw_kstrvec(jw, "integrity", &res->integrity);
	jw_kint(jw, "foreign_key_violations", res->fk_violations);
	jw_kbool(jw, "wal_present", ev->files[GSR_EV_WAL].present);
	jw_kbool(jw, "journal_present", ev->files[GSR_EV_JOURNAL].present);
	jw_obj_end(jw);
	jw_key(jw, "tables");
	jw_arr_begin(jw);
	for (size_t i = 0; i < res->n_tables; i++) {
		jw_obj_begin(jw);
		jw_kstr(jw, "name", res->tables[i].name);
		if (res->tables[i].rows >= 0)
			jw_kint(jw, "rows", res->tables[i].rows);
		else
			jw_knull(jw, "rows");
		jw_obj_end(jw);
	}
	jw_arr_end(jw);
	jw_kstr(jw, "reader", gsr_identify_reader(res));
	jw_key(jw, "recovery");
	if (res->recovered || res->wal_history) {
		jw_obj_begin(jw);
		jw_kbool(jw, "replaces_sqlite", res->read_by_recovery);
		gsr_recover_write_json(&res->rec, jw);
		jw_obj_end(jw);
	} else {
		jw_null(jw);
	}
	jw_key(jw, "repair_command");
	if (gsr_identify_needs_repair(res)) {
		char *cmd = gsr_identify_repair_command(res);
		jw_str(jw, cmd);
		free(cmd);
	} else {
		jw_null(jw);
	}
	jw_key(jw, "timing_ms");
	jw_obj_begin(jw);
	jw_key(jw, "custody");
	jw_real(jw, res->ms_custody);
	jw_key(jw, "fingerprint");
	jw_real(jw, res->ms_fingerprint);
	jw_key(jw, "checks");
	jw_real(jw, res->ms_checks);
	jw_key(jw, "recheck");
	jw_real(jw, res->ms_recheck);
	jw_obj_end(jw);
}
