/* cmd_verify.c -- "gsrecover verify ARCHIVE [--db REBUILT.db]". */
#include "compat.h"
#include "cli.h"

#include "archive.h"
#include "jsonw.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

struct verify_opts {
	struct gsr_common_opts *common;
	const char *archive;
	const char *db;
};

enum { OPT_DB = 0x200 };

static const struct argp_option verify_options[] = {
    {"db", OPT_DB, "REBUILT.db", 0,
     "also check that REBUILT.db is the database the archive describes "
     "(its SHA-256 is the manifest's output.sha256)",
     0},
    {0}};

static error_t
verify_parse(int key, char *arg, struct argp_state *state)
{
	struct verify_opts *o = state->input;

	switch (key) {
	case ARGP_KEY_INIT:
		state->child_inputs[0] = o->common;
		break;
	case OPT_DB:
		if (o->db)
			argp_error(state, "--db given twice");
		o->db = arg;
		break;
	case ARGP_KEY_ARG:
		if (o->archive)
			argp_error(state, "too many arguments");
		o->archive = arg;
		break;
	case ARGP_KEY_NO_ARGS:
		argp_error(state, "missing ARCHIVE");
		break;
	default:
		return ARGP_ERR_UNKNOWN;
	}
	return 0;
}

static const struct argp_child verify_children[] = {
    {&gsr_common_argp, 0, NULL, 0}, {0}};

static const struct argp verify_argp = {
    verify_options,
    verify_parse,
    "ARCHIVE",
    "Check an audit archive that 'gsrecover rebuild' wrote: read every "
    "member, compare its size and SHA-256 with the archive's "
    "manifest.json, check its name and type against the archive's "
    "layout, and report members that differ, are missing, are not "
    "listed, are unsafe (an absolute or '..' name, a link, a device...), "
    "foreign to the layout or duplicates, and that what the manifest "
    "says of the full export (in the archive, or not and how to "
    "regenerate it) agrees with its members.  With --db, also check the "
    "rebuilt database against it."
    "\v"
    "Only problems are listed, one line per member; -v lists every "
    "member.  A damaged archive is reported up to the damage, with the "
    "member and the zstd frame where it breaks.  Nothing is extracted or "
    "written.\n\n"
    "Exit status: 0 everything matches; 4 a member is not ok, the "
    "manifest is missing or invalid, the archive is damaged, or the "
    "database differs; 8 the archive (or the database) cannot be read, "
    "or is not a tar archive; 16 usage error; 32 interrupted.",
    verify_children,
    NULL,
    NULL};

/* Print a name from the archive, which may hold anything: controls,
 * backslashes and (in a name that is not UTF-8) bytes above 0x7e are
 * written as \xHH. */
static void
print_name(FILE *f, const char *s)
{
	bool utf8 = gsr_utf8_valid(s, strlen(s));

	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		if (*p < 0x20 || *p == 0x7f || *p == '\\' ||
		    (*p > 0x7f && !utf8))
			fprintf(f, "\\x%02x", *p);
		else
			fputc(*p, f);
	}
}

static void
print_member(const struct gsr_verify_member *m)
{
	printf("%-9s ", m->status);
	print_name(stdout, m->name);
	if (m->reason) {
		printf(": %s", m->reason);
		if (m->link) {
			printf(" to ");
			print_name(stdout, m->link);
		}
	} else if (!strcmp(m->status, "mismatch"))
		printf(": size %" PRIu64
		       ", sha256 %s; the manifest says size %" PRIu64
		       ", sha256 %s",
		       m->size, m->sha256, m->expected_size,
		       m->expected_sha256);
	else if (!strcmp(m->status, "missing"))
		printf(": listed in the manifest, not in the archive");
	else if (!strcmp(m->status, "unlisted"))
		printf(": in the archive, not listed in the manifest");
	printf("\n");
}

static void
print_text(const struct verify_opts *o, const struct gsr_verify_result *res,
           int verbosity)
{
	size_t n_problems = res->n_bad;

	/* Both messages may quote the archive: names, JSON text. */
	if (!res->manifest_ok) {
		printf("manifest  ");
		print_name(stdout, res->manifest_error);
		printf("\n");
	}
	for (size_t i = 0; i < res->n_members; i++)
		if (verbosity > 0 || strcmp(res->members[i].status, "ok") != 0)
			print_member(&res->members[i]);
	if (res->export_problem)
		printf("export    %s\n", res->export_problem);
	else if (verbosity > 0 && res->export_kind &&
	         !strcmp(res->export_kind, "full"))
		printf("export    the full export of the input's rows is in "
		       "export/\n");
	else if (verbosity > 0 && res->export_kind) {
		printf("export    not in the archive");
		if (res->export_command) {
			printf(
			    "; regenerate it from the archived input with: ");
			print_name(stdout, res->export_command);
		}
		printf("\n");
	}
	if (res->read_error) {
		printf("damaged   ");
		print_name(stdout, res->read_error);
		printf("\n");
	}
	if (verbosity > 0)
		printf("sha256    %s (%" PRIu64 " bytes)\n",
		       res->archive_sha256, res->archive_size);
	/* The database has a line of its own below. */
	if (res->db_checked && !res->db_ok)
		n_problems--;
	print_name(stdout, o->archive);
	if (n_problems == 0)
		printf(": %zu member%s, all hashes match\n", res->n_members,
		       res->n_members == 1 ? "" : "s");
	else
		printf(": %zu member%s, %zu problem%s\n", res->n_members,
		       res->n_members == 1 ? "" : "s", n_problems,
		       n_problems == 1 ? "" : "s");
	if (!res->db_checked)
		return;
	print_name(stdout, o->db);
	if (res->db_ok)
		printf(": matches the archive\n");
	else if (res->expected_db_sha256[0] == '\0')
		printf(
		    ": cannot be checked: the archive records no output sha256 "
		    "(sha256 %s)\n",
		    res->db_sha256);
	else
		printf(": does NOT match (sha256 %s, the archive says %s)\n",
		       res->db_sha256, res->expected_db_sha256);
}

static void
json_hash(struct jsonw *jw, const char *key, const char *hex)
{
	if (hex[0])
		jw_kstr(jw, key, hex);
	else
		jw_knull(jw, key);
}

static void
print_json(const struct verify_opts *o, const struct gsr_verify_result *res,
           int status)
{
	struct jsonw jw;

	gsr_json_begin(&jw, status);
	jw_kstr(&jw, "archive", o->archive);
	jw_kint(&jw, "archive_size", (int64_t)res->archive_size);
	jw_kstr(&jw, "archive_sha256", res->archive_sha256);
	jw_kbool(&jw, "manifest_ok", res->manifest_ok);
	jw_kstr(&jw, "manifest_error", res->manifest_error);
	jw_kstr(&jw, "read_error", res->read_error);
	jw_key(&jw, "members");
	jw_arr_begin(&jw);
	for (size_t i = 0; i < res->n_members; i++) {
		const struct gsr_verify_member *m = &res->members[i];

		jw_obj_begin(&jw);
		jw_kstr(&jw, "name", m->name);
		jw_kstr(&jw, "status", m->status);
		jw_kstr(&jw, "reason", m->reason);
		jw_kstr(&jw, "link", m->link);
		if (m->present) {
			jw_kint(&jw, "size", (int64_t)m->size);
			jw_kstr(&jw, "sha256", m->sha256);
		} else {
			jw_knull(&jw, "size");
			jw_knull(&jw, "sha256");
		}
		if (m->listed) {
			jw_kint(&jw, "expected_size",
			        (int64_t)m->expected_size);
			jw_kstr(&jw, "expected_sha256", m->expected_sha256);
		} else {
			jw_knull(&jw, "expected_size");
			jw_knull(&jw, "expected_sha256");
		}
		jw_obj_end(&jw);
	}
	jw_arr_end(&jw);
	jw_key(&jw, "db");
	if (res->db_checked) {
		jw_obj_begin(&jw);
		jw_kstr(&jw, "path", o->db);
		jw_kstr(&jw, "sha256", res->db_sha256);
		json_hash(&jw, "expected_sha256", res->expected_db_sha256);
		jw_kstr(&jw, "expected_path", res->expected_db_path);
		jw_kbool(&jw, "ok", res->db_ok);
		jw_obj_end(&jw);
	} else {
		jw_null(&jw);
	}
	jw_key(&jw, "export");
	jw_obj_begin(&jw);
	jw_kstr(&jw, "kind", res->export_kind);
	jw_kstr(&jw, "command", res->export_command);
	jw_kstr(&jw, "problem", res->export_problem);
	jw_obj_end(&jw);
	jw_kint(&jw, "problems", (int64_t)res->n_bad);
	jw_kbool(&jw, "ok", res->n_bad == 0);
	gsr_json_end(&jw, GSR_JSON_NO_MESSAGES);
}

int
cmd_verify(int argc, char **argv, struct gsr_common_opts *common)
{
	struct verify_opts o = {.common = common};
	struct gsr_verify_result res = GSR_VERIFY_RESULT_INIT;
	struct gsr_ctx ctx = GSR_CTX_INIT;
	int status;

	if (argp_parse(&verify_argp, argc, argv, 0, NULL, &o) != 0)
		return GSR_EXIT_USAGE;
	/* A signal stops the reading; one during the last steps (hashing
	 * --db) ends the run all the same, without a report. */
	if (gsr_archive_verify(&ctx, o.archive, o.db, &res) != 0 ||
	    gsr_ctx_check_cancel(&ctx) != 0) {
		status = gsr_fail(&ctx);
		goto out;
	}
	status = res.n_bad ? GSR_EXIT_UNRECOVERED : GSR_EXIT_OK;
	if (common->json)
		print_json(&o, &res, status);
	else
		print_text(&o, &res, common->verbosity);
out:
	gsr_verify_result_release(&res);
	return status;
}
