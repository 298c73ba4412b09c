/* rules.c -- load and validate the rules directory (gsrecover-rules(5)). */
#include "compat.h"
#include "rules.h"

#include "dbopen.h"
#include "fdio.h"
#include "names.h"
#include "schema.h"
#include "strbuf.h"
#include "thread.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define MAX_RULES_FILE (4u << 20) /* bytes; rules are small text files */
#define MAX_RULES_FILES 4096

struct parser {
	struct gsr_rules *r;
	struct strvec *errors;
	int n_errors;
	const char *file;
	int line;
	struct gsr_label *label; /* the record being read */
	struct gsr_patch *patch;
};

static void perr(struct parser *p, int line, const char *fmt, ...)
    GSR_PRINTF(3, 4);

static void
perr(struct parser *p, int line, const char *fmt, ...)
{
	struct strbuf sb = STRBUF_INIT;
	va_list ap;

	p->n_errors++;
	if (p->errors == NULL)
		return;
	sb_addf(&sb, "%s:%d: ", p->file, line);
	va_start(ap, fmt);
	sb_vaddf(&sb, fmt, ap);
	va_end(ap);
	if (!sb.failed)
		sv_push_owned(p->errors, sb_detach(&sb));
	sb_release(&sb);
}

/* ---- lifetime ------------------------------------------------------- */

static void
block_release(struct gsr_rule_block *b)
{
	free(b->name);
	free(b->sql);
}

static void
label_release(struct gsr_label *l)
{
	free(l->name);
	free(l->kind);
	free(l->commit);
	free(l->date);
	free(l->alembic);
	free(l->follows);
	free(l->journal);
	free(l->schema_of);
	free(l->file);
	for (size_t i = 0; i < l->n_objs; i++) {
		free(l->objs[i].type);
		free(l->objs[i].name);
		free(l->objs[i].tbl);
		free(l->objs[i].sql);
	}
	free(l->objs);
	for (size_t i = 0; i < l->n_defaults; i++) {
		free(l->defaults[i].table);
		free(l->defaults[i].column);
		free(l->defaults[i].expr);
	}
	free(l->defaults);
	for (size_t i = 0; i < l->n_enums; i++) {
		free(l->enums[i].table);
		free(l->enums[i].column);
		sv_release(&l->enums[i].values);
	}
	free(l->enums);
	for (size_t i = 0; i < l->n_transforms; i++)
		block_release(&l->transforms[i]);
	free(l->transforms);
	for (size_t i = 0; i < l->n_downgrades; i++)
		block_release(&l->downgrades[i]);
	free(l->downgrades);
	for (size_t i = 0; i < l->n_variants; i++)
		block_release(&l->variants[i]);
	free(l->variants);
	if (l->schema_label == l)
		gsr_schema_free(l->schema);
}

static void
patch_release(struct gsr_patch *p)
{
	free(p->name);
	free(p->title);
	free(p->source);
	free(p->applies_to);
	free(p->file);
	for (size_t i = 0; i < p->n_signs; i++) {
		free(p->signs[i].table);
		free(p->signs[i].column);
		free(p->signs[i].type);
		free(p->signs[i].sql);
		gsr_schema_free(p->signs[i].model);
	}
	free(p->signs);
}

void
gsr_rules_free(struct gsr_rules *r)
{
	if (r == NULL)
		return;
	for (size_t i = 0; i < r->n_labels; i++)
		label_release(&r->labels[i]);
	free(r->labels);
	free(r->lineage);
	for (size_t i = 0; i < r->n_patches; i++)
		patch_release(&r->patches[i]);
	free(r->patches);
	free(r->dir);
	free(r);
}

/* ---- lexical helpers ------------------------------------------------ */

/* Split "word rest" in place: returns the first word, *rest points past
 * the blanks after it ("" at the end of the line). */
static char *
next_word(char **s)
{
	char *w = *s + strspn(*s, " \t");
	char *e = w + strcspn(w, " \t");

	if (*e) {
		*e++ = '\0';
		e += strspn(e, " \t");
	}
	*s = e;
	return w;
}

static void
rtrim(char *s)
{
	size_t n = strlen(s);
	while (n > 0 && (s[n - 1] == ' ' || s[n - 1] == '\t'))
		s[--n] = '\0';
}

static bool
is_name(const char *s)
{
	return gsr_name_is_plain(s, SIZE_MAX, "._-");
}

static bool
is_hex(const char *s, size_t min, size_t max)
{
	size_t n = strlen(s);
	if (n < min || n > max)
		return false;
	for (; *s; s++)
		if (!isxdigit((unsigned char)*s) || isupper((unsigned char)*s))
			return false;
	return true;
}

/* An Alembic revision id as a rules file gives it: 1 to 32 (the width of
 * alembic_version.version_num) lower-case letters, digits and '_'.
 * Alembic generates 12 hex digits, but a migration may name its own
 * revision, as GPUStack's "2025_10_07_add_is_active" does. */
static bool
is_revision(const char *s)
{
	size_t n = strlen(s);
	if (n < 1 || n > 32)
		return false;
	for (; *s; s++)
		if (!(islower((unsigned char)*s) ||
		      isdigit((unsigned char)*s) || *s == '_'))
			return false;
	return true;
}

static bool
is_date(const char *s)
{
	return strlen(s) == 10 && isdigit((unsigned char)s[0]) &&
	       isdigit((unsigned char)s[3]) && s[4] == '-' && s[7] == '-' &&
	       isdigit((unsigned char)s[5]) && isdigit((unsigned char)s[6]) &&
	       isdigit((unsigned char)s[8]) && isdigit((unsigned char)s[9]);
}

/* Split "table.column" (optionally ending in "[]") into fresh strings. */
static bool
split_column(const char *s, char **table, char **column, bool *array)
{
	const char *dot = strchr(s, '.');
	size_t n = strlen(s);
	bool arr = n > 2 && strcmp(s + n - 2, "[]") == 0;

	if (dot == NULL || dot == s || dot[1] == '\0' || dot[1] == '[')
		return false;
	if (array)
		*array = arr;
	else if (arr)
		return false;
	*table = strndup(s, (size_t)(dot - s));
	*column = strndup(dot + 1, n - (size_t)(dot - s) - 1 - (arr ? 2 : 0));
	return *table && *column;
}

/* ---- directives ----------------------------------------------------- */

static bool
set_once(struct parser *p, char **field, const char *key, const char *val)
{
	if (*field != NULL) {
		perr(p, p->line, "duplicate '%s'", key);
		return false;
	}
	if (*val == '\0') {
		perr(p, p->line, "'%s' needs a value", key);
		return false;
	}
	*field = strdup(val);
	return true;
}

/* Which directives take a block of verbatim lines ending with ".". */
static bool
takes_block(const char *key, const char *rest)
{
	if (!strcmp(key, "table") || !strcmp(key, "index") ||
	    !strcmp(key, "view") || !strcmp(key, "trigger") ||
	    !strcmp(key, "transform") || !strcmp(key, "downgrade") ||
	    !strcmp(key, "variant"))
		return true;
	return !strcmp(key, "sign") && strncmp(rest, "table", 5) == 0 &&
	       (rest[5] == ' ' || rest[5] == '\t' || rest[5] == '\0');
}

static void
label_directive(struct parser *p, const char *key, char *rest, char *block)
{
	struct gsr_label *l = p->label;

	if (!strcmp(key, "kind")) {
		if (strcmp(rest, "release") && strcmp(rest, "dev") &&
		    strcmp(rest, "dev2"))
			perr(
			    p, p->line,
			    "kind must be 'release', 'dev' or 'dev2', not '%s'",
			    rest);
		else
			set_once(p, &l->kind, key, rest);
	} else if (!strcmp(key, "commit")) {
		if (!is_hex(rest, 7, 40))
			perr(p, p->line,
			     "commit must be 7 to 40 lower-case hex digits");
		else
			set_once(p, &l->commit, key, rest);
	} else if (!strcmp(key, "date")) {
		if (!is_date(rest))
			perr(p, p->line, "date must be YYYY-MM-DD");
		else
			set_once(p, &l->date, key, rest);
	} else if (!strcmp(key, "alembic")) {
		if (!is_revision(rest))
			perr(p, p->line,
			     "alembic must be a revision id: 1 to 32 "
			     "lower-case letters, digits and '_'");
		else
			set_once(p, &l->alembic, key, rest);
	} else if (!strcmp(key, "follows")) {
		set_once(p, &l->follows, key, rest);
	} else if (!strcmp(key, "journal")) {
		if (strcmp(rest, "delete") && strcmp(rest, "wal"))
			perr(p, p->line, "journal must be 'delete' or 'wal'");
		else
			set_once(p, &l->journal, key, rest);
	} else if (!strcmp(key, "schema-of")) {
		set_once(p, &l->schema_of, key, rest);
	} else if (!strcmp(key, "table") || !strcmp(key, "view") ||
	           !strcmp(key, "index") || !strcmp(key, "trigger")) {
		char *name = next_word(&rest);
		char *tbl = next_word(&rest);
		bool needs_tbl =
		    !strcmp(key, "index") || !strcmp(key, "trigger");

		if (!is_name(name) || (needs_tbl && !is_name(tbl)) ||
		    (!needs_tbl && *tbl) || *rest) {
			perr(p, p->line,
			     needs_tbl ? "usage: %s NAME TABLE"
			               : "usage: %s NAME",
			     key);
			return;
		}
		if (gsr_grow((void **)&l->objs, &l->cap_objs, l->n_objs + 1,
		             sizeof *l->objs))
			return;
		struct gsr_rule_obj *o = &l->objs[l->n_objs++];
		o->type = strdup(key);
		o->name = strdup(name);
		o->tbl = strdup(needs_tbl ? tbl : name);
		o->sql = block;
		o->line = p->line;
		return;
	} else if (!strcmp(key, "default")) {
		char *col = next_word(&rest);
		struct gsr_rule_default d = {0};
		if (*rest == '\0' ||
		    !split_column(col, &d.table, &d.column, NULL)) {
			perr(p, p->line,
			     "usage: default TABLE.COLUMN SQL-LITERAL");
			free(d.table);
			free(d.column);
			return;
		}
		if (gsr_grow((void **)&l->defaults, &l->cap_defaults,
		             l->n_defaults + 1, sizeof *l->defaults)) {
			free(d.table);
			free(d.column);
			return;
		}
		d.expr = strdup(rest);
		d.line = p->line;
		l->defaults[l->n_defaults++] = d;
	} else if (!strcmp(key, "enum")) {
		char *col = next_word(&rest);
		struct gsr_rule_enum e = {0};
		if (*rest == '\0' ||
		    !split_column(col, &e.table, &e.column, &e.array)) {
			perr(p, p->line,
			     "usage: enum TABLE.COLUMN[[]] NAME...");
			free(e.table);
			free(e.column);
			return;
		}
		while (*rest) {
			char *v = next_word(&rest);
			if (sv_contains(&e.values, v))
				perr(p, p->line, "enum value '%s' listed twice",
				     v);
			sv_push(&e.values, v);
		}
		if (gsr_grow((void **)&l->enums, &l->cap_enums, l->n_enums + 1,
		             sizeof *l->enums)) {
			free(e.table);
			free(e.column);
			sv_release(&e.values);
			return;
		}
		e.line = p->line;
		l->enums[l->n_enums++] = e;
	} else if (!strcmp(key, "transform") || !strcmp(key, "downgrade") ||
	           !strcmp(key, "variant")) {
		struct gsr_rule_block **v = key[0] == 't'   ? &l->transforms
		                            : key[0] == 'd' ? &l->downgrades
		                                            : &l->variants;
		size_t *n = key[0] == 't'   ? &l->n_transforms
		            : key[0] == 'd' ? &l->n_downgrades
		                            : &l->n_variants;
		size_t *cap = key[0] == 't'   ? &l->cap_transforms
		              : key[0] == 'd' ? &l->cap_downgrades
		                              : &l->cap_variants;
		char *name = next_word(&rest);
		if (!is_name(name) || *rest) {
			perr(p, p->line, "usage: %s NAME", key);
			return;
		}
		if (gsr_grow((void **)v, cap, *n + 1, sizeof **v))
			return;
		(*v)[*n].name = strdup(name);
		(*v)[*n].sql = block;
		(*v)[*n].line = p->line;
		(*n)++;
		return;
	} else {
		perr(p, p->line, "unknown key '%s' in label '%s'", key,
		     l->name);
	}
	free(block);
}

static void
patch_directive(struct parser *p, const char *key, char *rest, char *block)
{
	struct gsr_patch *pt = p->patch;

	if (!strcmp(key, "title")) {
		set_once(p, &pt->title, key, rest);
	} else if (!strcmp(key, "source")) {
		set_once(p, &pt->source, key, rest);
	} else if (!strcmp(key, "applies-to")) {
		set_once(p, &pt->applies_to, key, rest);
	} else if (!strcmp(key, "recognise")) {
		char *end;
		long n = strtol(rest, &end, 10);
		if (*rest == '\0' || *end || n < 1 || n > 1000)
			perr(p, p->line, "recognise needs a count from 1");
		else
			pt->min_signs = (int)n;
	} else if (!strcmp(key, "sign")) {
		char *what = next_word(&rest);
		struct gsr_rule_sign s = {0};

		s.line = p->line;
		if (!strcmp(what, "table")) {
			char *t = next_word(&rest);
			if (!is_name(t) || *rest) {
				perr(p, p->line, "usage: sign table NAME");
				goto out;
			}
			s.kind = GSR_SIGN_TABLE;
			s.table = strdup(t);
			s.sql = block;
			block = NULL;
		} else if (!strcmp(what, "autoincrement")) {
			char *t = next_word(&rest);
			if (!is_name(t) || *rest) {
				perr(p, p->line,
				     "usage: sign autoincrement TABLE");
				goto out;
			}
			s.kind = GSR_SIGN_AUTOINCREMENT;
			s.table = strdup(t);
		} else if (!strcmp(what, "column")) {
			char *col = next_word(&rest);
			if (*rest == '\0' ||
			    !split_column(col, &s.table, &s.column, NULL)) {
				perr(p, p->line,
				     "usage: sign column TABLE.COLUMN TYPE");
				free(s.table);
				free(s.column);
				goto out;
			}
			s.kind = GSR_SIGN_COLUMN;
			s.type = strdup(rest);
		} else {
			perr(p, p->line,
			     "unknown sign '%s' (column, table or "
			     "autoincrement)",
			     what);
			goto out;
		}
		if (gsr_grow((void **)&pt->signs, &pt->cap_signs,
		             pt->n_signs + 1, sizeof *pt->signs)) {
			free(s.table);
			free(s.column);
			free(s.type);
			free(s.sql);
			goto out;
		}
		pt->signs[pt->n_signs++] = s;
	} else {
		perr(p, p->line, "unknown key '%s' in patch '%s'", key,
		     pt->name);
	}
out:
	free(block);
}

static void
start_record(struct parser *p, const char *key, const char *rest)
{
	p->label = NULL;
	p->patch = NULL;
	if (!is_name(rest)) {
		perr(p, p->line, "usage: %s NAME", key);
		return;
	}
	if (!strcmp(key, "label")) {
		struct gsr_rules *r = p->r;
		if (gsr_grow((void **)&r->labels, &r->cap_labels,
		             r->n_labels + 1, sizeof *r->labels))
			return;
		p->label = &r->labels[r->n_labels++];
		p->label->name = strdup(rest);
		p->label->file = strdup(p->file);
		p->label->line = p->line;
	} else {
		struct gsr_rules *r = p->r;
		if (gsr_grow((void **)&r->patches, &r->cap_patches,
		             r->n_patches + 1, sizeof *r->patches))
			return;
		p->patch = &r->patches[r->n_patches++];
		p->patch->name = strdup(rest);
		p->patch->file = strdup(p->file);
		p->patch->line = p->line;
	}
}

/*
 * Parse one file's text (NUL-terminated, modified in place).  A pointer
 * into r->labels is only held while reading, as the array may move when a
 * later record is added.
 */
static void
parse_text(struct parser *p, char *text)
{
	char *s = text;

	p->label = NULL;
	p->patch = NULL;
	p->line = 0;
	while (*s) {
		char *line = s, *nl = strchr(s, '\n');
		int at;

		if (nl) {
			*nl = '\0';
			s = nl + 1;
		} else {
			s += strlen(s);
		}
		p->line++;
		at = p->line;
		if (strchr(line, '\r')) {
			perr(p, at,
			     "carriage return in line (rules files use LF)");
			continue;
		}
		char *t = line + strspn(line, " \t");
		if (*t == '\0' || *t == '#')
			continue;
		rtrim(t);
		char *rest = t;
		char *key = next_word(&rest);
		char *block = NULL;

		if (takes_block(key, rest)) {
			struct strbuf sb = STRBUF_INIT;
			bool closed = false;
			sb_adds(&sb, "");
			while (*s) {
				char *bl = s, *bnl = strchr(s, '\n');
				if (bnl) {
					*bnl = '\0';
					s = bnl + 1;
				} else {
					s += strlen(s);
				}
				p->line++;
				if (strcmp(bl, ".") == 0) {
					closed = true;
					break;
				}
				if (sb.len)
					sb_addc(&sb, '\n');
				sb_adds(&sb, bl);
			}
			if (!closed)
				perr(p, at,
				     "block of '%s' has no closing '.' line",
				     key);
			if (sb.len == 0)
				perr(p, at, "block of '%s' is empty", key);
			block = sb_detach(&sb);
			sb_release(&sb);
		}
		int save = p->line;
		p->line = at;
		if (!strcmp(key, "label") || !strcmp(key, "patch")) {
			start_record(p, key, rest);
			free(block);
		} else if (p->label) {
			label_directive(p, key, rest, block);
		} else if (p->patch) {
			patch_directive(p, key, rest, block);
		} else {
			perr(p, at, "'%s' outside a label or patch record",
			     key);
			free(block);
		}
		p->line = save;
	}
}

/* Read the rules file at path into *out (NUL-terminated, malloc'd).
 * Anything but a regular file is refused without being waited on (a
 * FIFO).  Returns 0, or -1 with the problem recorded by perr(). */
static int
read_file(struct parser *p, const char *path, char **out)
{
	struct stat st;
	FILE *f = NULL;
	char *buf = NULL;
	size_t n = 0;
	int fd = gsr_open_regular(path, false, &st), rc = -1;

	if (fd == -2) {
		perr(p, 0, "is %s, not a regular file",
		     gsr_file_kind(st.st_mode));
		return -1;
	}
	if (fd < 0 || (f = fdopen(fd, "r")) == NULL) {
		perr(p, 0, "cannot open: %s", strerror(errno));
		if (fd >= 0)
			close(fd);
		return -1;
	}
	if ((buf = malloc(MAX_RULES_FILE + 1)) == NULL)
		goto out;
	n = fread(buf, 1, MAX_RULES_FILE + 1, f);
	if (ferror(f)) {
		perr(p, 0, "cannot read: %s", strerror(errno));
		goto out;
	}
	if (n > MAX_RULES_FILE) {
		perr(p, 0, "file is larger than %u bytes", MAX_RULES_FILE);
		goto out;
	}
	if (memchr(buf, '\0', n)) {
		perr(p, 0, "file contains a NUL byte");
		goto out;
	}
	buf[n] = '\0';
	*out = buf;
	buf = NULL;
	rc = 0;
out:
	free(buf);
	fclose(f);
	return rc;
}

static int
cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Collect DIR/ *.rules and DIR/SUB/ *.rules, sorted. */
static int
list_files(const char *dir, struct strvec *files, int depth)
{
	DIR *d = opendir(dir);
	struct dirent *de;

	if (d == NULL)
		return -1;
	while ((de = readdir(d)) != NULL && files->n < MAX_RULES_FILES) {
		char *path = NULL;
		struct stat st;
		size_t n = strlen(de->d_name);

		if (de->d_name[0] == '.')
			continue;
		if (asprintf(&path, "%s/%s", dir, de->d_name) < 0)
			break;
		if (stat(path, &st) != 0) {
			free(path);
		} else if (S_ISDIR(st.st_mode) && depth == 0) {
			list_files(path, files, 1);
			free(path);
		} else if (!S_ISDIR(st.st_mode) && n > 6 &&
		           strcmp(de->d_name + n - 6, ".rules") == 0) {
			/* Not only regular files: a FIFO or a device named
			 * *.rules is a problem read_file() reports. */
			sv_push_owned(files, path);
		} else {
			free(path);
		}
	}
	closedir(d);
	if (depth == 0 && files->n > 1)
		qsort(files->v, files->n, sizeof *files->v, cmp_str);
	return 0;
}

/* ---- resolution and validation ------------------------------------- */

static struct gsr_label *
find_label(struct gsr_rules *r, const char *name)
{
	for (size_t i = 0; i < r->n_labels; i++)
		if (strcmp(r->labels[i].name, name) == 0)
			return &r->labels[i];
	return NULL;
}

const struct gsr_label *
gsr_rules_label(const struct gsr_rules *r, const char *name)
{
	if (name[0] == 'v' && isdigit((unsigned char)name[1]))
		name++;
	return find_label((struct gsr_rules *)r, name);
}

const struct gsr_label *
gsr_rules_release_for_revision(const struct gsr_rules *r, const char *rev)
{
	for (size_t i = 0; i < r->n_labels; i++) {
		const struct gsr_label *l = r->lineage[i];
		if (!strcmp(l->kind, "release") && !strcmp(l->alembic, rev))
			return l;
	}
	return NULL;
}

const struct gsr_label *
gsr_rules_name_group(const struct gsr_rules *r, const struct strvec *set,
                     const char *rev)
{
	const struct gsr_label *best = NULL;
	int best_rank = 0;

	for (size_t i = 0; i < set->n; i++) {
		const struct gsr_label *l =
		    set->v[i] ? gsr_rules_label(r, set->v[i]) : NULL;
		int rank;

		if (l == NULL)
			continue;
		rank = (strcmp(l->kind, "release") ? 0 : 2) +
		       (rev && !strcmp(l->alembic, rev) ? 1 : 0) + 1;
		/* Oldest first: a later label wins only with a higher rank. */
		if (best == NULL || rank > best_rank ||
		    (rank == best_rank && l->order < best->order)) {
			best = l;
			best_rank = rank;
		}
	}
	return best;
}

int
gsr_rules_schema_group(const struct gsr_rules *r, const struct gsr_label *l,
                       bool tables_only, struct strvec *out)
{
	for (size_t i = 0; i < r->n_labels; i++)
		if (gsr_schema_same(r->lineage[i]->schema, l->schema,
		                    tables_only) &&
		    sv_push(out, r->lineage[i]->name) != 0)
			return -1;
	return 0;
}

const struct gsr_label *
gsr_rules_next_schema_change(const struct gsr_label *l, bool tables_only)
{
	for (const struct gsr_label *n = l->next; n; n = n->next)
		if (!gsr_schema_same(l->schema, n->schema, tables_only) ||
		    (!tables_only && strcmp(l->journal, n->journal)))
			return n;
	return NULL;
}

static void
check_required(struct parser *p, struct gsr_label *l)
{
	p->file = l->file;
	if (!l->kind)
		perr(p, l->line, "label '%s' has no 'kind'", l->name);
	if (!l->commit)
		perr(p, l->line, "label '%s' has no 'commit'", l->name);
	if (!l->date)
		perr(p, l->line, "label '%s' has no 'date'", l->name);
	if (!l->alembic)
		perr(p, l->line, "label '%s' has no 'alembic'", l->name);
	if (l->schema_of && (l->n_objs || l->n_variants || l->journal))
		perr(p, l->line,
		     "label '%s' has 'schema-of' and a schema of its own",
		     l->name);
	if (!l->schema_of && !l->journal)
		perr(p, l->line, "label '%s' has no 'journal'", l->name);
	if (!l->schema_of && l->n_objs == 0)
		perr(p, l->line, "label '%s' has no schema objects", l->name);
}

static void
resolve_lineage(struct parser *p, struct gsr_rules *r)
{
	struct gsr_label *root = NULL;
	size_t n = 0;

	for (size_t i = 0; i < r->n_labels; i++) {
		struct gsr_label *l = &r->labels[i];
		p->file = l->file;
		if (l->follows == NULL) {
			if (root)
				perr(p, l->line,
				     "label '%s' follows nothing, as does "
				     "'%s': the lineage must have one start",
				     l->name, root->name);
			else
				root = l;
			continue;
		}
		struct gsr_label *prev = find_label(r, l->follows);
		if (prev == NULL) {
			perr(p, l->line,
			     "label '%s' follows unknown label '%s'", l->name,
			     l->follows);
		} else if (prev->next) {
			perr(p, l->line,
			     "label '%s' follows '%s', which '%s' already "
			     "follows",
			     l->name, prev->name, prev->next->name);
		} else {
			prev->next = l;
			l->prev = prev;
		}
	}
	if (p->n_errors)
		return;
	if ((r->lineage = calloc(r->n_labels ? r->n_labels : 1,
	                         sizeof *r->lineage)) == NULL)
		return;
	for (struct gsr_label *l = root; l && n < r->n_labels; l = l->next) {
		l->order = n;
		r->lineage[n++] = l;
	}
	if (n != r->n_labels) {
		p->file = r->labels[0].file;
		perr(p, 0,
		     "lineage is broken: %zu of %zu labels reachable from '%s' "
		     "by 'follows'",
		     n, r->n_labels, root ? root->name : "(none)");
		return;
	}
	/* dev2 labels close the lineage: no release comes after one. */
	for (size_t i = 0, first_dev2 = SIZE_MAX; i < n; i++) {
		struct gsr_label *l = r->lineage[i];
		if (!strcmp(l->kind, "dev2") && first_dev2 == SIZE_MAX)
			first_dev2 = i;
		else if (!strcmp(l->kind, "release") &&
		         first_dev2 != SIZE_MAX) {
			p->file = l->file;
			perr(p, l->line,
			     "release '%s' comes after dev2 label '%s': "
			     "dev2 labels come after the last release",
			     l->name, r->lineage[first_dev2]->name);
		}
	}
}

/* Build a model from a sequence of CREATE statements.  The statement for
 * sqlite_sequence is not run: SQLite makes that table itself for the
 * first AUTOINCREMENT table, and keeps it when the last one is dropped (a
 * migration that rewrites such a table without AUTOINCREMENT), so where
 * it is given a scratch AUTOINCREMENT table makes it and goes. */
static struct gsr_schema *
model_from_sql(struct gsr_ctx *ctx, const struct gsr_rule_obj *objs, size_t n,
               const char *single_sql, char *err, size_t errlen, int *errline)
{
	sqlite3 *db = gsr_db_open_memory(ctx);
	struct gsr_schema *s = NULL;

	if (db == NULL)
		return NULL;
	if (single_sql) {
		if (sqlite3_exec(db, single_sql, NULL, NULL, NULL) !=
		    SQLITE_OK) {
			snprintf(err, errlen, "SQLite rejects the SQL: %s",
			         sqlite3_errmsg(db));
			goto out;
		}
	}
	for (size_t i = 0; i < n; i++) {
		if (!strcmp(objs[i].type, "table") &&
		    !strcmp(objs[i].name, "sqlite_sequence")) {
			if (sqlite3_exec(
			        db,
			        "CREATE TABLE _gsr_seq (x INTEGER PRIMARY KEY "
			        "AUTOINCREMENT); DROP TABLE _gsr_seq",
			        NULL, NULL, NULL) != SQLITE_OK) {
				snprintf(err, errlen,
				         "cannot make sqlite_sequence: %s",
				         sqlite3_errmsg(db));
				goto out;
			}
			continue;
		}
		if (sqlite3_exec(db, objs[i].sql, NULL, NULL, NULL) !=
		    SQLITE_OK) {
			snprintf(err, errlen,
			         "SQLite rejects the SQL of %s '%s': %s",
			         objs[i].type, objs[i].name,
			         sqlite3_errmsg(db));
			*errline = objs[i].line;
			goto out;
		}
	}
	s = gsr_schema_extract(ctx, db);
out:
	sqlite3_close(db);
	return s;
}

/*
 * A variant of a table: another text SQLite may store for it, with the
 * same structure.  The label's objects are created again with the variant
 * in the table's place; SQLite must accept them and store the variant as
 * given, and the table must compare equal to the given one but for its
 * text.  The variant then becomes an alt of the table's schema object.
 */
static void
check_variant(struct gsr_ctx *ctx, struct parser *p, struct gsr_label *l,
              const struct gsr_rule_block *v)
{
	struct gsr_rule_obj *objs = NULL;
	struct gsr_schema *vs = NULL;
	struct gsr_object *so = NULL;
	const struct gsr_object *vo;
	struct gsr_diffs d = GSR_DIFFS_INIT;
	char err[512] = "";
	int errline = v->line;
	size_t k = l->n_objs, n = 0;

	for (size_t i = 0; i < l->n_objs; i++)
		if (!strcmp(l->objs[i].type, "table") &&
		    !strcmp(l->objs[i].name, v->name))
			k = i;
	for (size_t i = 0; i < l->schema->n_objs; i++)
		if (!strcmp(l->schema->objs[i].type, "table") &&
		    !strcmp(l->schema->objs[i].name, v->name))
			so = &l->schema->objs[i];
	if (k == l->n_objs || so == NULL) {
		perr(p, v->line,
		     "variant of '%s', which is not a table of label '%s'",
		     v->name, l->name);
		goto out;
	}
	if (!strcmp(v->sql, so->sql) || sv_contains(&so->alts, v->sql)) {
		perr(p, v->line,
		     "variant of table '%s' gives a text it has already",
		     v->name);
		goto out;
	}
	if ((objs = calloc(l->n_objs, sizeof *objs)) == NULL) {
		gsr_ctx_fail(ctx, GSR_ERR_NOMEM, "out of memory");
		goto out;
	}
	/* The table alone, with its indexes: all that its structure depends
	 * on (a foreign key's parent need not exist for SQLite to store it),
	 * and a fraction of the cost of the whole label again. */
	for (size_t i = 0; i < l->n_objs; i++) {
		if (i == k) {
			objs[n] = l->objs[i];
			objs[n++].sql = v->sql;
		} else if (!strcmp(l->objs[i].type, "index") &&
		           l->objs[i].tbl && !strcmp(l->objs[i].tbl, v->name)) {
			objs[n++] = l->objs[i];
		}
	}
	vs = model_from_sql(ctx, objs, n, NULL, err, sizeof err, &errline);
	if (vs == NULL) {
		perr(p, v->line, "variant of table '%s': %s", v->name,
		     err[0] ? err : ctx->msg);
		gsr_ctx_clear(ctx);
		goto out;
	}
	vo = gsr_schema_object(vs, "table", v->name);
	if (vo == NULL || vo->sql == NULL || strcmp(vo->sql, v->sql)) {
		perr(p, v->line,
		     "variant of table '%s': SQLite stores a different "
		     "text than given",
		     v->name);
		goto out;
	}
	gsr_table_compare(gsr_schema_table(l->schema, v->name),
	                  gsr_schema_table(vs, v->name), &d);
	for (size_t i = 0; i < d.n; i++)
		if (strstr(d.v[i].detail, "different stored definition") ==
		    NULL) {
			perr(p, v->line,
			     "variant of table '%s' differs in structure: %s",
			     v->name, d.v[i].detail);
			goto out;
		}
	if (sv_push(&so->alts, v->sql))
		gsr_ctx_fail(ctx, GSR_ERR_NOMEM, "out of memory");
out:
	gsr_diffs_release(&d);
	gsr_schema_free(vs);
	free(objs);
}

static void
build_label_schema(struct gsr_ctx *ctx, struct parser *p, struct gsr_label *l)
{
	char err[512] = "";
	int errline = l->line;

	p->file = l->file;
	l->schema = model_from_sql(ctx, l->objs, l->n_objs, NULL, err,
	                           sizeof err, &errline);
	if (l->schema == NULL) {
		perr(p, errline, "%s", err[0] ? err : ctx->msg);
		gsr_ctx_clear(ctx);
		return;
	}
	l->schema_label = l;
	/* What SQLite stored must be what the rules say, object for object. */
	size_t n_stored = 0;
	for (size_t i = 0; i < l->schema->n_objs; i++)
		n_stored += l->schema->objs[i].sql != NULL;
	for (size_t i = 0; i < l->n_objs; i++) {
		const struct gsr_rule_obj *o = &l->objs[i];
		const struct gsr_object *s =
		    gsr_schema_object(l->schema, o->type, o->name);
		if (s == NULL || s->sql == NULL || strcmp(s->sql, o->sql))
			perr(p, o->line,
			     "%s '%s': SQLite stores a different text than "
			     "given",
			     o->type, o->name);
		else if (strcmp(s->tbl, o->tbl))
			perr(p, o->line,
			     "%s '%s' belongs to table '%s', not '%s'", o->type,
			     o->name, s->tbl, o->tbl);
		for (size_t k = 0; k < i; k++)
			if (!strcmp(l->objs[k].name, o->name))
				perr(p, o->line, "object '%s' given twice",
				     o->name);
	}
	if (n_stored != l->n_objs)
		perr(p, l->line,
		     "label '%s': SQLite made %zu objects from %zu given "
		     "(is sqlite_sequence listed where an AUTOINCREMENT table "
		     "makes it?)",
		     l->name, n_stored, l->n_objs);
	for (size_t i = 0; i < l->n_variants && p->n_errors == 0; i++)
		check_variant(ctx, p, l, &l->variants[i]);
}

/* Build the schemas of labels from..to-1 in order, up to the first that
 * has errors (and no further once a signal has come, recorded on ctx). */
static void
build_range(struct gsr_ctx *ctx, struct parser *p, struct gsr_rules *r,
            size_t from, size_t to)
{
	for (size_t i = from; i < to && p->n_errors == 0; i++) {
		if (gsr_ctx_check_cancel(ctx))
			return;
		if (!r->labels[i].schema_of)
			build_label_schema(ctx, p, &r->labels[i]);
	}
}

/* The second half of the labels, on a thread of its own. */
struct schema_job {
	struct gsr_ctx ctx; /* the thread's */
	struct parser p;    /* with errors of its own */
	struct strvec errors;
	struct gsr_rules *r;
	size_t from, to;
};

static void *
schema_main(void *arg)
{
	struct schema_job *j = arg;

	build_range(&j->ctx, &j->p, j->r, j->from, j->to);
	return NULL;
}

/*
 * Build every label's schema (build_label_schema(): SQLite creates its
 * objects, most of the time rules loading takes), the second half of the
 * labels on a thread beside the first.  The errors are those of a build
 * in order: the second half's count only when the first has none.
 * Returns 0, or -1 with the error on ctx (a signal, memory, no thread).
 */
static int
build_schemas(struct gsr_ctx *ctx, struct parser *p, struct gsr_rules *r)
{
	struct schema_job j = {.ctx = gsr_ctx_child(ctx),
	                       .p = *p,
	                       .errors = STRVEC_INIT,
	                       .r = r,
	                       .from = r->n_labels / 2,
	                       .to = r->n_labels};
	struct gsr_thread th = {0};
	int rc = -1;

	j.p.errors = &j.errors;
	j.p.n_errors = 0;
	if (gsr_thread_start(ctx, &th, schema_main, &j))
		goto out;
	build_range(ctx, p, r, 0, j.from);
	if (gsr_thread_join(ctx, &th, &j.ctx, NULL) || gsr_ctx_failed(ctx))
		goto out;
	if (p->n_errors == 0) {
		for (size_t i = 0; i < j.errors.n; i++)
			if (sv_push(p->errors, j.errors.v[i])) {
				gsr_ctx_fail(ctx, GSR_ERR_NOMEM,
				             "out of memory");
				goto out;
			}
		p->n_errors = j.p.n_errors;
	}
	rc = 0;
out:
	sv_release(&j.errors);
	return rc;
}

static void
check_facts(struct gsr_ctx *ctx, struct parser *p, struct gsr_label *l)
{
	sqlite3 *db;

	p->file = l->file;
	for (size_t i = 0; i < l->n_defaults; i++) {
		const struct gsr_rule_default *d = &l->defaults[i];
		const struct gsr_table *t =
		    gsr_schema_table(l->schema, d->table);
		if (t == NULL || !gsr_table_column(t, d->column))
			perr(p, d->line,
			     "default for '%s.%s', which label '%s' does not "
			     "have",
			     d->table, d->column, l->name);
		for (size_t k = 0; k < i; k++)
			if (!strcmp(l->defaults[k].table, d->table) &&
			    !strcmp(l->defaults[k].column, d->column))
				perr(p, d->line, "second default for '%s.%s'",
				     d->table, d->column);
	}
	for (size_t i = 0; i < l->n_enums; i++) {
		const struct gsr_rule_enum *e = &l->enums[i];
		const struct gsr_table *t =
		    gsr_schema_table(l->schema, e->table);
		if (t == NULL || !gsr_table_column(t, e->column))
			perr(p, e->line,
			     "enum for '%s.%s', which label '%s' does not have",
			     e->table, e->column, l->name);
	}
	for (size_t i = 0; i < l->n_transforms + l->n_downgrades; i++) {
		const struct gsr_rule_block *b =
		    i < l->n_transforms ? &l->transforms[i]
		                        : &l->downgrades[i - l->n_transforms];
		if (b->sql && !sqlite3_complete(b->sql))
			perr(p, b->line,
			     "SQL of '%s' is incomplete (a missing ';'?)",
			     b->name);
	}
	if (l->n_defaults == 0 || (db = gsr_db_open_memory(ctx)) == NULL) {
		gsr_ctx_clear(ctx);
		return;
	}
	for (size_t i = 0; i < l->n_defaults; i++) {
		char *q = NULL;
		sqlite3_stmt *st = NULL;
		if (asprintf(&q, "SELECT %s", l->defaults[i].expr) < 0)
			break;
		if (sqlite3_prepare_v2(db, q, -1, &st, NULL) != SQLITE_OK ||
		    sqlite3_column_count(st) != 1 ||
		    sqlite3_step(st) != SQLITE_ROW)
			perr(p, l->defaults[i].line,
			     "default '%s' is not a constant SQL value",
			     l->defaults[i].expr);
		sqlite3_finalize(st);
		free(q);
	}
	sqlite3_close(db);
}

static void
check_patch(struct gsr_ctx *ctx, struct parser *p, struct gsr_rules *r,
            struct gsr_patch *pt)
{
	p->file = pt->file;
	if (!pt->title)
		perr(p, pt->line, "patch '%s' has no 'title'", pt->name);
	if (pt->applies_to && !find_label(r, pt->applies_to))
		perr(p, pt->line, "patch '%s' applies to unknown label '%s'",
		     pt->name, pt->applies_to);
	if (pt->n_signs == 0)
		perr(p, pt->line, "patch '%s' has no signs", pt->name);
	if (pt->min_signs == 0)
		pt->min_signs = (int)pt->n_signs;
	if ((size_t)pt->min_signs > pt->n_signs)
		perr(p, pt->line, "patch '%s' needs %d signs but lists %zu",
		     pt->name, pt->min_signs, pt->n_signs);
	for (size_t i = 0; i < pt->n_signs; i++) {
		struct gsr_rule_sign *s = &pt->signs[i];
		char err[512] = "";
		int line = s->line;
		if (s->kind != GSR_SIGN_TABLE)
			continue;
		s->model = model_from_sql(ctx, NULL, 0, s->sql, err, sizeof err,
		                          &line);
		if (s->model == NULL) {
			perr(p, s->line, "%s", err[0] ? err : ctx->msg);
			gsr_ctx_clear(ctx);
		} else if (!gsr_schema_table(s->model, s->table)) {
			perr(p, s->line,
			     "sign table '%s': the SQL does not create it",
			     s->table);
		}
	}
}

static void
check_names(struct parser *p, struct gsr_rules *r)
{
	for (size_t i = 0; i < r->n_labels; i++)
		for (size_t k = 0; k < i; k++)
			if (!strcmp(r->labels[i].name, r->labels[k].name)) {
				p->file = r->labels[i].file;
				perr(p, r->labels[i].line,
				     "duplicate label '%s' (also %s:%d)",
				     r->labels[i].name, r->labels[k].file,
				     r->labels[k].line);
			}
	for (size_t i = 0; i < r->n_patches; i++)
		for (size_t k = 0; k < i; k++)
			if (!strcmp(r->patches[i].name, r->patches[k].name)) {
				p->file = r->patches[i].file;
				perr(p, r->patches[i].line,
				     "duplicate patch '%s'",
				     r->patches[i].name);
			}
}

int
gsr_rules_load(struct gsr_ctx *ctx, const char *dir, struct gsr_rules **out,
               struct strvec *errors)
{
	struct strvec files = STRVEC_INIT;
	struct strvec local_errors = STRVEC_INIT;
	struct gsr_rules *r = NULL;
	struct parser p = {0};
	int rc = -1;

	if (gsr_ctx_failed(ctx))
		return -1;
	*out = NULL;
	if ((r = calloc(1, sizeof *r)) == NULL ||
	    (r->dir = strdup(dir)) == NULL) {
		gsr_ctx_fail(ctx, GSR_ERR_NOMEM, "out of memory");
		goto out;
	}
	p.r = r;
	p.errors = errors ? errors : &local_errors;
	if (list_files(dir, &files, 0) != 0) {
		gsr_ctx_fail(ctx, GSR_ERR_RULES,
		             "cannot read rules directory '%s': %s", dir,
		             strerror(errno));
		goto out;
	}
	if (files.n == 0) {
		gsr_ctx_fail(ctx, GSR_ERR_RULES, "no rules files in '%s'", dir);
		goto out;
	}
	r->n_files = files.n;
	for (size_t i = 0; i < files.n; i++) {
		char *text = NULL;

		if (gsr_ctx_check_cancel(ctx))
			goto out;
		p.file = files.v[i];
		if (read_file(&p, files.v[i], &text) == 0)
			parse_text(&p, text);
		free(text);
	}
	/* Labels are final now; pointers into the array stay valid. */
	check_names(&p, r);
	for (size_t i = 0; i < r->n_labels; i++)
		check_required(&p, &r->labels[i]);
	if (p.n_errors == 0)
		resolve_lineage(&p, r);
	if (p.n_errors == 0 && build_schemas(ctx, &p, r))
		goto out;
	for (size_t i = 0; i < r->n_labels && p.n_errors == 0; i++) {
		struct gsr_label *l = &r->labels[i];
		struct gsr_label *src =
		    l->schema_of ? find_label(r, l->schema_of) : l;
		p.file = l->file;
		if (src == NULL || src->schema_of) {
			perr(&p, l->line, "schema-of '%s': %s", l->schema_of,
			     src ? "that label has schema-of itself"
			         : "unknown label");
			continue;
		}
		if (l->schema_of) {
			l->schema_label = src;
			l->schema = src->schema;
			l->journal = strdup(src->journal);
		}
	}
	for (size_t i = 0; i < r->n_labels && p.n_errors == 0; i++)
		check_facts(ctx, &p, &r->labels[i]);
	for (size_t i = 0; i < r->n_patches && p.n_errors == 0; i++)
		check_patch(ctx, &p, r, &r->patches[i]);
	if (gsr_ctx_check_cancel(ctx))
		goto out;
	if (p.n_errors) {
		gsr_ctx_fail(ctx, GSR_ERR_RULES, "%s",
		             p.errors->n ? p.errors->v[0] : "invalid rules");
		goto out;
	}
	*out = r;
	r = NULL;
	rc = 0;
out:
	gsr_rules_free(r);
	sv_release(&files);
	sv_release(&local_errors);
	return rc;
}
