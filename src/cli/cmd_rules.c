/* cmd_rules.c -- "gsrecover rules list" and "gsrecover rules check". */
#include "compat.h"
#include "cli.h"

#include "jsonw.h"
#include "migrate.h"
#include "paths.h"
#include "rules.h"
#include "schema.h"

#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

struct rules_opts {
	struct gsr_common_opts *common;
	const char *action;
	const char *dir;
};

static error_t
rules_parse(int key, char *arg, struct argp_state *state)
{
	struct rules_opts *o = state->input;

	switch (key) {
	case ARGP_KEY_INIT:
		state->child_inputs[0] = o->common;
		break;
	case ARGP_KEY_ARG:
		if (o->action == NULL) {
			if (strcmp(arg, "list") && strcmp(arg, "check"))
				argp_error(
				    state,
				    "unknown action '%s' (list or check)", arg);
			o->action = arg;
		} else if (!strcmp(o->action, "check") && o->dir == NULL) {
			o->dir = arg;
		} else {
			argp_error(state, "too many arguments");
		}
		break;
	case ARGP_KEY_NO_ARGS:
		argp_error(state, "missing ACTION (list or check)");
		break;
	default:
		return ARGP_ERR_UNKNOWN;
	}
	return 0;
}

static const struct argp_child rules_children[] = {
    {&gsr_common_argp, 0, NULL, 0}, {0}};

static const struct argp rules_argp = {
    NULL,
    rules_parse,
    "list\ncheck [DIR]",
    "List the labels the rules know, or validate a rules directory."
    "\v"
    "'list' prints every label with its kind, date, alembic revision and "
    "the labels sharing its schema, oldest first.  'check' validates DIR "
    "(default: the rules in use) and prints each problem as FILE:LINE: "
    "message.\n\n"
    "Exit status: 0 valid, 8 problems found or the rules cannot be read, "
    "16 usage error, 32 interrupted.",
    rules_children,
    NULL,
    NULL};

static int
rules_list(const struct rules_opts *o)
{
	const char *dir, *source;
	struct gsr_rules *r = gsr_cli_load_rules(o->common, &dir, &source);

	if (r == NULL)
		return gsr_cli_rules_status();
	if (o->common->json) {
		struct jsonw jw;
		gsr_json_begin(&jw, 0);
		jw_kstr(&jw, "rules_dir", dir);
		jw_kstr(&jw, "rules_source", source);
		jw_key(&jw, "labels");
		jw_arr_begin(&jw);
		for (size_t i = 0; i < r->n_labels; i++) {
			const struct gsr_label *l = r->lineage[i];
			jw_obj_begin(&jw);
			jw_kstr(&jw, "label", l->name);
			jw_kstr(&jw, "kind", l->kind);
			jw_kstr(&jw, "commit", l->commit);
			jw_kstr(&jw, "date", l->date);
			jw_kstr(&jw, "alembic_version", l->alembic);
			jw_kstr(&jw, "journal_mode", l->journal);
			jw_kstr(&jw, "follows", l->follows);
			jw_kstr(&jw, "schema_of", l->schema_label->name);
			jw_kstr(&jw, "file", l->file);
			jw_obj_end(&jw);
		}
		jw_arr_end(&jw);
		jw_key(&jw, "patches");
		jw_arr_begin(&jw);
		for (size_t i = 0; i < r->n_patches; i++) {
			jw_obj_begin(&jw);
			jw_kstr(&jw, "name", r->patches[i].name);
			jw_kstr(&jw, "title", r->patches[i].title);
			jw_obj_end(&jw);
		}
		jw_arr_end(&jw);
		gsr_json_end(&jw, GSR_JSON_NO_MESSAGES);
	} else {
		printf("%-15s %-8s %-10s %-13s %s\n", "LABEL", "KIND", "DATE",
		       "ALEMBIC", "SAME SCHEMA AS");
		for (size_t i = 0; i < r->n_labels; i++) {
			const struct gsr_label *l = r->lineage[i];
			int n = 0;
			printf("%-15s %-8s %-10s %-13s", l->name, l->kind,
			       l->date, l->alembic);
			for (size_t k = 0; k < r->n_labels; k++) {
				const struct gsr_label *m = r->lineage[k];
				if (m != l && !strcmp(m->alembic, l->alembic) &&
				    !strcmp(m->journal, l->journal) &&
				    gsr_schema_same(m->schema, l->schema,
				                    false))
					printf("%s%s", n++ ? ", " : " ",
					       m->name);
			}
			printf("\n");
		}
		for (size_t i = 0; i < r->n_patches; i++)
			printf("patch %-27s %s\n", r->patches[i].name,
			       r->patches[i].title);
	}
	gsr_rules_free(r);
	return GSR_EXIT_OK;
}

static int
rules_check(const struct rules_opts *o)
{
	struct gsr_ctx ctx = GSR_CTX_INIT;
	struct strvec errors = STRVEC_INIT;
	struct gsr_rules *r = NULL;
	const char *source = "argument";
	const char *dir =
	    o->dir ? o->dir : gsr_rules_dir(o->common->rules_dir, &source);
	int status = GSR_EXIT_OK;

	int rc = gsr_rules_load(&ctx, dir, &r, &errors);

	if (ctx.err == GSR_ERR_CANCELED) {
		/* Cut short: nothing to report on. */
		status = gsr_fail(&ctx);
		goto out;
	}
	/* The migration rules, when the directory has them (migrate.h). */
	struct stat mst;
	char *mdir = NULL;
	if (rc == 0 && asprintf(&mdir, "%s/migrate", dir) >= 0 &&
	    stat(mdir, &mst) == 0) {
		struct gsr_migrate_rules mr;
		rc = gsr_migrate_rules_load(&ctx, dir, r, &mr, &errors);
		if (rc == 0)
			gsr_migrate_rules_release(&mr);
	}
	free(mdir);

	if (o->common->json) {
		struct jsonw jw;
		gsr_json_begin(&jw, rc ? GSR_EXIT_OPERATIONAL : GSR_EXIT_OK);
		jw_kstr(&jw, "rules_dir", dir);
		jw_kbool(&jw, "ok", rc == 0);
		jw_key(&jw, "errors");
		jw_arr_begin(&jw);
		for (size_t i = 0; i < errors.n; i++)
			jw_str(&jw, errors.v[i]);
		if (rc && errors.n == 0)
			jw_str(&jw, ctx.msg);
		jw_arr_end(&jw);
		gsr_json_end(&jw, GSR_JSON_NO_MESSAGES);
	}
	if (rc != 0) {
		for (size_t i = 0; i < errors.n; i++)
			fprintf(stderr, "%s\n", errors.v[i]);
		if (errors.n == 0)
			gsr_cli_rules_error(&ctx, dir, source, false);
		else
			gsr_error("%zu problem(s) in '%s'", errors.n, dir);
		status = GSR_EXIT_OPERATIONAL;
	} else if (!o->common->json) {
		size_t n_transforms = 0, n_defaults = 0, n_enums = 0;
		for (size_t i = 0; i < r->n_labels; i++) {
			n_transforms += r->labels[i].n_transforms +
			                r->labels[i].n_downgrades;
			n_defaults += r->labels[i].n_defaults;
			n_enums += r->labels[i].n_enums;
		}
		printf("%s: %zu files, %zu labels, %zu patches, %zu defaults, "
		       "%zu enums, %zu transforms: ok\n",
		       dir, r->n_files, r->n_labels, r->n_patches, n_defaults,
		       n_enums, n_transforms);
	}
out:
	gsr_rules_free(r);
	sv_release(&errors);
	return status;
}

int
cmd_rules(int argc, char **argv, struct gsr_common_opts *common)
{
	struct rules_opts o = {.common = common};

	if (argp_parse(&rules_argp, argc, argv, 0, NULL, &o) != 0)
		return GSR_EXIT_USAGE;
	return !strcmp(o.action, "list") ? rules_list(&o) : rules_check(&o);
}
