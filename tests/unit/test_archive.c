/* Unit tests of the audit archive: writer, reader, and what tar and zstd
 * make of the archive. */
#include "compat.h"
#include "archive.h"

#include "jsonw.h"
#include "sha256.h"
#include "testlib.h"

#include <dirent.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <setjmp.h>
#include <cmocka.h>

#define T_MTIME ((time_t)1700000000) /* 2023-11-14T22:13:20Z */
#define UTF8_NAME "input/caf\xc3\xa9 \xe4\xb8\xad.db"

struct fixture {
	char dir[2048];
};

/* FILE in the fixture's directory; the string lasts four calls. */
static char *
pathf(const struct fixture *fx, const char *fmt, ...)
{
	static char bufs[4][4096];
	static int next;
	char *p = bufs[next++ % 4];
	char rel[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(rel, sizeof rel, fmt, ap);
	va_end(ap);
	snprintf(p, 4096, "%s/%s", fx->dir, rel);
	return p;
}

static void
hash_file(const char *path, char out[GSR_SHA256_HEX])
{
	int fd = open(path, O_RDONLY);

	assert_true(fd >= 0);
	assert_int_equal(gsr_sha256_fd(fd, out, NULL), 0);
	close(fd);
}

/* Run a shell command and return its standard output. */
static char *
run(const char *fmt, ...)
{
	char cmd[8192], *out = NULL;
	size_t len = 0;
	FILE *p, *m;
	va_list ap;
	int c;

	va_start(ap, fmt);
	vsnprintf(cmd, sizeof cmd, fmt, ap);
	va_end(ap);
	p = popen(cmd, "r");
	assert_non_null(p);
	m = open_memstream(&out, &len);
	assert_non_null(m);
	while ((c = fgetc(p)) != EOF)
		fputc(c, m);
	fclose(m);
	assert_int_equal(pclose(p), 0);
	return out;
}

static int
setup(void **state)
{
	struct fixture *fx = calloc(1, sizeof *fx);

	if (fx == NULL)
		return -1;
	if (make_tmpdir(fx->dir, sizeof fx->dir, "archive")) {
		free(fx);
		return -1;
	}
	*state = fx;
	return 0;
}

static int
teardown(void **state)
{
	struct fixture *fx = *state;

	remove_tree(fx->dir);
	free(fx);
	return 0;
}

struct meta {
	const char *db_sha256;
};

static void
write_meta(struct jsonw *jw, void *arg)
{
	const struct meta *m = arg;

	jw_key(jw, "output");
	jw_obj_begin(jw);
	jw_kstr(jw, "path", "rebuilt.db");
	jw_kstr(jw, "sha256", m->db_sha256);
	jw_obj_end(jw);
	jw_key(jw, "rules");
	jw_arr_begin(jw);
	jw_str(jw, "0.6.0");
	jw_arr_end(jw);
}

/* The tree used by the tests: nested directories, names whose byte order
 * differs from a case-insensitive one, an empty directory and a symbolic
 * link (skipped). */
static void
make_tree(const struct fixture *fx)
{
	assert_int_equal(mkdir(pathf(fx, "tree"), 0700), 0);
	assert_int_equal(mkdir(pathf(fx, "tree/a"), 0700), 0);
	assert_int_equal(mkdir(pathf(fx, "tree/a/y"), 0700), 0);
	assert_int_equal(mkdir(pathf(fx, "tree/empty"), 0700), 0);
	write_file(pathf(fx, "tree/b.txt"), "bee\n", 4);
	write_file(pathf(fx, "tree/B.txt"), "BEE\n", 4);
	write_file(pathf(fx, "tree/a.txt"), "a\n", 2);
	write_file(pathf(fx, "tree/a/x.txt"), "", 0);
	write_file(pathf(fx, "tree/a/y/z.txt"), "zed\n", 4);
	assert_int_equal(symlink("b.txt", pathf(fx, "tree/link")), 0);
}

static const char *const tree_members[] = {
    "input/database.db", "identify.json", "rules/B.txt", "rules/a/x.txt",
    "rules/a/y/z.txt",   "rules/a.txt",   "rules/b.txt",
};

/* Write the archive of the tests to path, with the database output.db's
 * hash in the manifest; returns the archive's SHA-256 in sha. */
static void
make_archive(const struct fixture *fx, const char *path,
             char sha[GSR_SHA256_HEX])
{
	struct gsr_ctx ctx = GSR_CTX_INIT;
	char db_sha[GSR_SHA256_HEX];
	struct meta m = {db_sha};
	struct gsr_archive *ar;

	hash_file(pathf(fx, "output.db"), db_sha);
	ar = gsr_archive_create(&ctx, path, false, T_MTIME);
	assert_non_null(ar);
	assert_int_equal(gsr_archive_add_file(&ctx, ar, "input/database.db",
	                                      pathf(fx, "input.db")),
	                 0);
	assert_int_equal(gsr_archive_add_buffer(&ctx, ar, "identify.json",
	                                        "{\"ok\": true}\n", 13),
	                 0);
	assert_int_equal(
	    gsr_archive_add_tree(&ctx, ar, "rules", pathf(fx, "tree")), 0);
	assert_int_equal(gsr_archive_n_members(ar),
	                 GSR_ARRAY_LEN(tree_members));
	assert_int_equal(gsr_archive_finish(&ctx, ar, write_meta, &m, sha), 0);
	assert_int_equal(ctx.err, GSR_OK);
}

static void
make_inputs(const struct fixture *fx)
{
	/* Over two chunks of 1 MiB, not a multiple of one. */
	size_t n = (5u << 19) + 17;
	unsigned char *big = malloc(n);

	assert_non_null(big);
	for (size_t i = 0; i < n; i++)
		big[i] = (unsigned char)((i * 2654435761u) >> 11);
	write_file(pathf(fx, "input.db"), big, n);
	free(big);
	write_file(pathf(fx, "output.db"), "the rebuilt database\n", 21);
	write_file(pathf(fx, "other.db"), "another database\n", 17);
	make_tree(fx);
}

static void
write_and_read(void **state)
{
	struct fixture *fx = *state;
	struct gsr_verify_result res = GSR_VERIFY_RESULT_INIT;
	struct gsr_ctx ctx = GSR_CTX_INIT;
	char sha[GSR_SHA256_HEX], file_sha[GSR_SHA256_HEX];
	char in_sha[GSR_SHA256_HEX], db_sha[GSR_SHA256_HEX];
	char path[4096];
	struct stat st;
	char *out, *line, *save = NULL, *text;
	json_t *root, *members;
	json_error_t jerr;
	size_t i = 0, len;

	make_inputs(fx);
	snprintf(path, sizeof path, "%s", pathf(fx, "audit.tar.zst"));
	make_archive(fx, path, sha);

	/* The file: in place, mode 0600, no temporary left, and the hash
	 * finish reported is the file's. */
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0600);
	assert_int_equal(count_files(fx->dir, ".tmp-"), 0);
	hash_file(path, file_sha);
	assert_string_equal(sha, file_sha);

	/* GNU tar lists the members in the order written, the manifest
	 * last; every one is root's, mode 0600, of the run's time. */
	out = run("tar --zstd -tf '%s'", path);
	for (line = strtok_r(out, "\n", &save); line;
	     line = strtok_r(NULL, "\n", &save), i++) {
		if (i < GSR_ARRAY_LEN(tree_members))
			assert_string_equal(line, tree_members[i]);
		else
			assert_string_equal(line, "manifest.json");
	}
	assert_int_equal(i, GSR_ARRAY_LEN(tree_members) + 1);
	free(out);
	out = run("TZ=UTC tar --zstd -tvf '%s' | grep -cv "
	          "'^-rw------- root/root .* 2023-11-14 22:13 ' || true",
	          path);
	assert_string_equal(out, "0\n");
	free(out);
	out = run("zstd -q -t '%s' 2>&1 && echo passed", path);
	assert_string_equal(out, "passed\n");
	free(out);

	/* The manifest. */
	text = run("tar --zstd -xOf '%s' manifest.json", path);
	len = strlen(text);
	root = json_loadb(text, len, 0, &jerr);
	assert_non_null(root);
	free(text);
	assert_string_equal(json_string_value(json_object_get(root, "format")),
	                    "gsrecover-audit");
	assert_int_equal(json_integer_value(json_object_get(root, "version")),
	                 1);
	assert_string_equal(json_string_value(json_object_get(root, "created")),
	                    "2023-11-14T22:13:20Z");
	assert_string_equal(json_string_value(json_object_get(
	                        json_object_get(root, "tools"), "gsrecover")),
	                    GSR_VERSION);
	assert_non_null(json_string_value(
	    json_object_get(json_object_get(root, "tools"), "nettle")));
	members = json_object_get(root, "members");
	assert_int_equal(json_array_size(members), GSR_ARRAY_LEN(tree_members));
	hash_file(pathf(fx, "input.db"), in_sha);
	assert_string_equal(json_string_value(json_object_get(
	                        json_array_get(members, 0), "sha256")),
	                    in_sha);
	assert_int_equal(json_integer_value(json_object_get(
	                     json_array_get(members, 0), "size")),
	                 (5u << 19) + 17);
	for (i = 0; i < GSR_ARRAY_LEN(tree_members); i++)
		assert_string_equal(json_string_value(json_object_get(
		                        json_array_get(members, i), "name")),
		                    tree_members[i]);
	hash_file(pathf(fx, "output.db"), db_sha);
	assert_string_equal(json_string_value(json_object_get(
	                        json_object_get(root, "output"), "sha256")),
	                    db_sha);
	assert_string_equal(json_string_value(json_array_get(
	                        json_object_get(root, "rules"), 0)),
	                    "0.6.0");
	json_decref(root);

	/* The reader agrees. */
	if (gsr_archive_verify(&ctx, path, NULL, &res) != 0)
		fail_msg("%s", ctx.msg);
	assert_true(res.manifest_ok);
	assert_null(res.manifest_error);
	assert_null(res.read_error);
	assert_false(res.db_checked);
	assert_int_equal(res.n_bad, 0);
	assert_int_equal(res.n_members, GSR_ARRAY_LEN(tree_members));
	for (i = 0; i < res.n_members; i++) {
		assert_string_equal(res.members[i].name, tree_members[i]);
		assert_string_equal(res.members[i].status, "ok");
	}
	assert_string_equal(res.members[0].sha256, in_sha);
	assert_string_equal(res.archive_sha256, sha);
	assert_int_equal(res.archive_size, (uint64_t)st.st_size);
	assert_string_equal(res.expected_db_path, "rebuilt.db");
	gsr_verify_result_release(&res);

	/* With the database it describes, and with another one. */
	assert_int_equal(
	    gsr_archive_verify(&ctx, path, pathf(fx, "output.db"), &res), 0);
	assert_true(res.db_checked);
	assert_true(res.db_ok);
	assert_string_equal(res.db_sha256, db_sha);
	assert_string_equal(res.expected_db_sha256, db_sha);
	assert_int_equal(res.n_bad, 0);
	gsr_verify_result_release(&res);
	assert_int_equal(
	    gsr_archive_verify(&ctx, path, pathf(fx, "other.db"), &res), 0);
	assert_true(res.db_checked);
	assert_false(res.db_ok);
	assert_string_equal(res.expected_db_sha256, db_sha);
	assert_string_not_equal(res.db_sha256, db_sha);
	assert_int_equal(res.n_bad, 1);
	gsr_verify_result_release(&res);
	assert_int_equal(ctx.err, GSR_OK);

	/* A database that cannot be read fails the verification. */
	assert_int_equal(
	    gsr_archive_verify(&ctx, path, pathf(fx, "nothere.db"), &res), -1);
	assert_int_equal(ctx.err, GSR_ERR_INPUT);
	gsr_verify_result_release(&res);
}

/* The same inputs and time give the same bytes. */
static void
reproducible(void **state)
{
	struct fixture *fx = *state;
	char sha1[GSR_SHA256_HEX], sha2[GSR_SHA256_HEX];
	char *a, *b;
	size_t na, nb;

	make_inputs(fx);
	make_archive(fx, pathf(fx, "one.tar.zst"), sha1);
	make_archive(fx, pathf(fx, "two.tar.zst"), sha2);
	assert_string_equal(sha1, sha2);
	a = slurp(pathf(fx, "one.tar.zst"), &na);
	b = slurp(pathf(fx, "two.tar.zst"), &nb);
	assert_int_equal(na, nb);
	assert_memory_equal(a, b, na);
	free(a);
	free(b);
}

static void
exists_without_force(void **state)
{
	struct fixture *fx = *state;
	struct gsr_ctx ctx = GSR_CTX_INIT;
	char path[4096];
	struct gsr_archive *ar;
	char sha[GSR_SHA256_HEX];
	struct stat st;
	char *text;

	snprintf(path, sizeof path, "%s", pathf(fx, "audit.tar.zst"));
	write_file(path, "original\n", 9);
	assert_int_equal(chmod(path, 0644), 0);
	assert_null(gsr_archive_create(&ctx, path, false, T_MTIME));
	assert_int_equal(ctx.err, GSR_ERR_EXISTS);
	assert_non_null(strstr(ctx.msg, "already exists"));
	text = slurp(path, NULL);
	assert_string_equal(text, "original\n");
	free(text);
	assert_int_equal(count_files(fx->dir, ".tmp-"), 0);

	/* A dangling symbolic link is in the way too. */
	gsr_ctx_clear(&ctx);
	assert_int_equal(symlink("nowhere", pathf(fx, "link.tar.zst")), 0);
	assert_null(gsr_archive_create(&ctx, pathf(fx, "link.tar.zst"), false,
	                               T_MTIME));
	assert_int_equal(ctx.err, GSR_ERR_EXISTS);

	/* A file that appears after create is not replaced either. */
	gsr_ctx_clear(&ctx);
	ar =
	    gsr_archive_create(&ctx, pathf(fx, "late.tar.zst"), false, T_MTIME);
	assert_non_null(ar);
	write_file(pathf(fx, "late.tar.zst"), "late\n", 5);
	assert_int_equal(gsr_archive_finish(&ctx, ar, NULL, NULL, NULL), -1);
	assert_int_equal(ctx.err, GSR_ERR_EXISTS);
	text = slurp(pathf(fx, "late.tar.zst"), NULL);
	assert_string_equal(text, "late\n");
	free(text);
	assert_int_equal(count_files(fx->dir, ".tmp-"), 0);

	/* With force, the file is replaced, and the new one is 0600. */
	gsr_ctx_clear(&ctx);
	ar = gsr_archive_create(&ctx, path, true, T_MTIME);
	assert_non_null(ar);
	assert_int_equal(
	    gsr_archive_add_buffer(&ctx, ar, "identify.json", "x", 1), 0);
	assert_int_equal(gsr_archive_finish(&ctx, ar, NULL, NULL, sha), 0);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0600);
	assert_int_not_equal(st.st_size, 9);
	assert_int_equal(count_files(fx->dir, ".tmp-"), 0);
}

static void
bad_names(void **state)
{
	static const char *const bad[] = {
	    "../x",
	    "rules/../b",
	    "..",
	    "/abs",
	    "rules//b",
	    "rules/",
	    "",
	    "./rules/a",
	    "rules/./b",
	    "manifest.json",
	    "rules/tab\there",
	    "rules/c1\xc2\x85",
	    "rules/bad\xff",
	    "rules/dup",
	    /* Outside the layout. */
	    "report.json",
	    "input",
	    "input/a/b",
	    "identify.json/x",
	    "rebuild",
	    "export/",
	    "Input/x",
	    "rules",
	};
	struct fixture *fx = *state;
	struct gsr_verify_result res = GSR_VERIFY_RESULT_INIT;
	struct gsr_ctx ctx = GSR_CTX_INIT;
	char path[4096];
	struct gsr_archive *ar;
	char long_name[GSR_ARCHIVE_NAME_MAX + 2];
	char *out;

	snprintf(path, sizeof path, "%s", pathf(fx, "audit.tar.zst"));
	ar = gsr_archive_create(&ctx, path, false, T_MTIME);
	assert_non_null(ar);
	assert_int_equal(gsr_archive_add_buffer(&ctx, ar, "rules/dup", "1", 1),
	                 0);
	for (size_t i = 0; i < GSR_ARRAY_LEN(bad); i++) {
		assert_int_equal(
		    gsr_archive_add_buffer(&ctx, ar, bad[i], "x", 1), -1);
		assert_int_equal(ctx.err, GSR_ERR_USAGE);
		gsr_ctx_clear(&ctx);
	}
	write_file(pathf(fx, "f"), "f", 1);
	assert_int_equal(
	    gsr_archive_add_file(&ctx, ar, "rules/../f", pathf(fx, "f")), -1);
	assert_int_equal(ctx.err, GSR_ERR_USAGE);
	gsr_ctx_clear(&ctx);
	memset(long_name, 'n', sizeof long_name - 1);
	memcpy(long_name, "rules/", 6);
	long_name[sizeof long_name - 1] = '\0';
	assert_int_equal(gsr_archive_add_buffer(&ctx, ar, long_name, "x", 1),
	                 -1);
	assert_int_equal(ctx.err, GSR_ERR_USAGE);
	gsr_ctx_clear(&ctx);
	long_name[GSR_ARCHIVE_NAME_MAX] = '\0';
	assert_int_equal(gsr_archive_add_buffer(&ctx, ar, long_name, "x", 1),
	                 0);
	assert_int_equal(gsr_archive_add_buffer(&ctx, ar, UTF8_NAME, "x", 1),
	                 0);

	/* A missing file fails before its header: the archive is still
	 * good once the caller has dealt with the error. */
	assert_int_equal(
	    gsr_archive_add_file(&ctx, ar, "input/gone", pathf(fx, "gone")),
	    -1);
	assert_int_equal(ctx.err, GSR_ERR_IO);
	gsr_ctx_clear(&ctx);
	assert_int_equal(gsr_archive_add_file(&ctx, ar, "input/dir", fx->dir),
	                 -1);
	assert_int_equal(ctx.err, GSR_ERR_IO);
	gsr_ctx_clear(&ctx);
	assert_int_equal(gsr_archive_n_members(ar), 3);
	assert_int_equal(gsr_archive_finish(&ctx, ar, NULL, NULL, NULL), 0);
	assert_int_equal(gsr_archive_verify(&ctx, path, NULL, &res), 0);
	assert_int_equal(res.n_bad, 0);
	assert_int_equal(res.n_members, 3);
	assert_string_equal(res.members[0].name, "rules/dup");
	assert_string_equal(res.members[1].name, long_name);
	assert_string_equal(res.members[2].name, UTF8_NAME);
	gsr_verify_result_release(&res);
	/* GNU tar reads the UTF-8 name as it is, without a warning. */
	out = run("LC_ALL=C.UTF-8 tar --zstd -tf '%s' 2>&1 | sed -n 3p", path);
	assert_string_equal(out, UTF8_NAME "\n");
	free(out);
}

static void
abort_leaves_nothing(void **state)
{
	struct fixture *fx = *state;
	struct gsr_ctx ctx = GSR_CTX_INIT;
	struct gsr_archive *ar;

	ar = gsr_archive_create(&ctx, pathf(fx, "audit.tar.zst"), false,
	                        T_MTIME);
	assert_non_null(ar);
	assert_int_equal(count_files(fx->dir, ".tmp-"), 1);
	assert_int_equal(
	    gsr_archive_add_buffer(&ctx, ar, "identify.json", "abc", 3), 0);
	gsr_archive_abort(ar);
	gsr_archive_abort(NULL);
	assert_int_equal(count_files(fx->dir, NULL), 0); /* empty */

	/* finish after an error only aborts. */
	ar = gsr_archive_create(&ctx, pathf(fx, "audit.tar.zst"), false,
	                        T_MTIME);
	assert_non_null(ar);
	gsr_ctx_fail(&ctx, GSR_ERR_IO, "something else failed");
	assert_null(
	    gsr_archive_create(&ctx, pathf(fx, "x.tar.zst"), false, T_MTIME));
	assert_int_equal(
	    gsr_archive_add_buffer(&ctx, ar, "identify.json", "abc", 3), -1);
	assert_int_equal(gsr_archive_finish(&ctx, ar, NULL, NULL, NULL), -1);
	assert_string_equal(ctx.msg, "something else failed");
	assert_int_equal(count_files(fx->dir, NULL), 0);
}

static void
verify_unreadable(void **state)
{
	struct fixture *fx = *state;
	struct gsr_verify_result res = GSR_VERIFY_RESULT_INIT;
	struct gsr_ctx ctx = GSR_CTX_INIT;

	assert_int_equal(
	    gsr_archive_verify(&ctx, pathf(fx, "nothere"), NULL, &res), -1);
	assert_int_equal(ctx.err, GSR_ERR_INPUT);
	gsr_verify_result_release(&res);
	gsr_ctx_clear(&ctx);
	write_file(pathf(fx, "text"), "just some text\n", 15);
	assert_int_equal(
	    gsr_archive_verify(&ctx, pathf(fx, "text"), NULL, &res), -1);
	assert_int_equal(ctx.err, GSR_ERR_INPUT);
	assert_non_null(strstr(ctx.msg, "not a readable archive"));
	gsr_verify_result_release(&res);
	gsr_ctx_clear(&ctx);
	assert_int_equal(gsr_archive_verify(&ctx, fx->dir, NULL, &res), -1);
	assert_int_equal(ctx.err, GSR_ERR_INPUT);
	gsr_verify_result_release(&res);
}

/* A file whose size is not what fstat says: a /proc file (size 0, yet
 * it has content) grows while it is read, a /sys file (one page, less
 * content) shrinks.  Either leaves the archive unusable. */
static void
size_changes(void **state)
{
	static const char *const files[] = {
	    "/proc/self/status",
	    "/sys/kernel/mm/transparent_hugepage/enabled",
	};
	struct fixture *fx = *state;
	struct gsr_ctx ctx = GSR_CTX_INIT;
	struct gsr_archive *ar;
	struct stat st;

	for (size_t i = 0; i < GSR_ARRAY_LEN(files); i++) {
		if (stat(files[i], &st) != 0)
			continue; /* no /sys here */
		ar = gsr_archive_create(&ctx, pathf(fx, "audit.tar.zst"), false,
		                        T_MTIME);
		assert_non_null(ar);
		assert_int_equal(
		    gsr_archive_add_file(&ctx, ar, "input/f", files[i]), -1);
		assert_int_equal(ctx.err, GSR_ERR_IO);
		assert_non_null(strstr(ctx.msg, i == 0 ? "grew" : "shrank"));
		gsr_ctx_clear(&ctx);
		assert_int_equal(gsr_archive_finish(&ctx, ar, NULL, NULL, NULL),
		                 -1);
		assert_int_equal(ctx.err, GSR_ERR_INTERNAL);
		gsr_ctx_clear(&ctx);
		assert_int_equal(count_files(fx->dir, NULL), 0);
	}
}

/* Members compressed ahead in a spool, another thread's job in a rebuild:
 * their frames are copied into the archive after the header's, and the
 * archive reads as one stream. */
static void
spooled_members(void **state)
{
	struct fixture *fx = *state;
	struct gsr_verify_result res = GSR_VERIFY_RESULT_INIT;
	struct gsr_ctx ctx = GSR_CTX_INIT;
	struct gsr_archive_spool *sp;
	struct gsr_archive *ar;
	char path[4096], sha[GSR_SHA256_HEX], name[200];
	uint64_t size = 1;
	size_t idx[3], n = (3u << 20) + 5;
	unsigned char *big = malloc(n);
	char *out;

	assert_non_null(big);
	for (size_t i = 0; i < n; i++)
		big[i] = (unsigned char)("[1,2.5,\"x\"]\n"[i % 12] + (i >> 20));
	write_file(pathf(fx, "big"), big, n);
	snprintf(path, sizeof path, "%s", pathf(fx, "audit.tar.zst"));
	sp = gsr_archive_spool_new(&ctx, fx->dir);
	assert_non_null(sp);
	/* Nothing of the spool shows in its directory. */
	assert_int_equal(count_files(fx->dir, "spool"), 0);
	assert_int_equal(gsr_archive_spool_begin(&ctx, sp, &idx[0]), 0);
	assert_int_equal(gsr_archive_spool_end(&ctx, sp, &size, sha), 0);
	assert_int_equal(size, 0);
	assert_int_equal(gsr_archive_spool_begin(&ctx, sp, &idx[1]), 0);
	for (size_t off = 0; off < n; off += 100000)
		assert_int_equal(gsr_archive_spool_write(
		                     &ctx, sp, big + off,
		                     n - off < 100000 ? n - off : 100000),
		                 0);
	assert_int_equal(gsr_archive_spool_end(&ctx, sp, &size, sha), 0);
	assert_int_equal(size, n);
	assert_int_equal(gsr_archive_spool_begin(&ctx, sp, &idx[2]), 0);
	assert_int_equal(gsr_archive_spool_write(&ctx, sp, "tail\n", 5), 0);
	assert_int_equal(gsr_archive_spool_end(&ctx, sp, NULL, NULL), 0);
	assert_int_equal(idx[0], 0);
	assert_int_equal(idx[2], 2);

	/* A name that needs ustar's prefix field. */
	memset(name, 'x', sizeof name);
	memcpy(name, "rules/", 6);
	name[97] = '/';
	memcpy(name + 130, ".jsonl", 7);
	ar = gsr_archive_create(&ctx, path, false, T_MTIME);
	assert_non_null(ar);
	assert_int_equal(
	    gsr_archive_add_buffer(&ctx, ar, "identify.json", "1\n", 2), 0);
	assert_int_equal(
	    gsr_archive_add_spooled(&ctx, ar, "export/big.jsonl", sp, idx[1]),
	    0);
	assert_int_equal(
	    gsr_archive_add_spooled(&ctx, ar, "export/empty", sp, idx[0]), 0);
	assert_int_equal(gsr_archive_add_spooled(&ctx, ar, name, sp, idx[2]),
	                 0);
	assert_int_equal(
	    gsr_archive_add_spooled(&ctx, ar, "export/nosuch", sp, 3), -1);
	assert_int_equal(ctx.err, GSR_ERR_INTERNAL);
	gsr_ctx_clear(&ctx);
	assert_int_equal(
	    gsr_archive_add_buffer(&ctx, ar, "rebuild/log.txt", "2\n", 2), 0);
	assert_int_equal(gsr_archive_finish(&ctx, ar, NULL, NULL, NULL), 0);
	gsr_archive_spool_free(sp);
	gsr_archive_spool_free(NULL);

	assert_int_equal(gsr_archive_verify(&ctx, path, NULL, &res), 0);
	assert_int_equal(res.n_bad, 0);
	assert_int_equal(res.n_members, 5);
	assert_string_equal(res.members[1].name, "export/big.jsonl");
	assert_int_equal(res.members[1].size, n);
	assert_string_equal(res.members[3].name, name);
	gsr_verify_result_release(&res);
	out = run("zstd -q -t '%s' 2>&1 && echo passed", path);
	assert_string_equal(out, "passed\n");
	free(out);
	out = run(
	    "tar --zstd -xOf '%s' export/big.jsonl | cmp - '%s' && echo same",
	    path, pathf(fx, "big"));
	assert_string_equal(out, "same\n");
	free(out);
	out = run("tar --zstd -tf '%s' | tr '\\n' ' '", path);
	assert_non_null(
	    strstr(out, "identify.json export/big.jsonl export/empty rules/"));
	assert_non_null(strstr(out, ".jsonl rebuild/log.txt manifest.json "));
	free(out);
	out = run("tar --zstd -xOf '%s' '%s'", path, name);
	assert_string_equal(out, "tail\n");
	free(out);
	free(big);
}

/* hex SHA-256 of n bytes at p. */
static void
sha_of(const void *p, size_t n, char out[GSR_SHA256_HEX])
{
	struct gsr_sha256 h;

	gsr_sha256_init(&h);
	gsr_sha256_update(&h, p, n);
	gsr_sha256_hex(&h, out);
}

/* Members handed to a pipe, as custody hands the input to a rebuild's
 * archive: compressed by the pipe's thread with the hash the caller
 * gives, pieces of any size (more than the pipe's 1 MiB too). */
static void
piped_members(void **state)
{
	struct fixture *fx = *state;
	struct gsr_verify_result res = GSR_VERIFY_RESULT_INIT;
	struct gsr_ctx ctx = GSR_CTX_INIT;
	struct gsr_archive_spool *sp;
	struct gsr_archive_pipe *pp;
	struct gsr_archive *ar;
	char path[4096], sha[GSR_SHA256_HEX], empty[GSR_SHA256_HEX];
	size_t idx[2], n = (5u << 20) + 3, piece = (3u << 19) + 1;
	unsigned char *big = malloc(n);
	char *out;

	assert_non_null(big);
	for (size_t i = 0; i < n; i++)
		big[i] = (unsigned char)(i * 2654435761u >> 13);
	write_file(pathf(fx, "big"), big, n);
	sha_of(big, n, sha);
	sha_of("", 0, empty);
	snprintf(path, sizeof path, "%s", pathf(fx, "audit.tar.zst"));
	sp = gsr_archive_spool_new(&ctx, fx->dir);
	assert_non_null(sp);
	pp = gsr_archive_pipe_new(&ctx, sp);
	assert_non_null(pp);
	assert_int_equal(gsr_archive_pipe_begin(&ctx, pp, &idx[0]), 0);
	assert_int_equal(gsr_archive_pipe_begin(&ctx, pp, &idx[1]), -1);
	assert_int_equal(ctx.err, GSR_ERR_INTERNAL);
	gsr_ctx_clear(&ctx);
	for (size_t off = 0; off < n; off += piece)
		assert_int_equal(
		    gsr_archive_pipe_write(&ctx, pp, big + off,
		                           n - off < piece ? n - off : piece),
		    0);
	assert_int_equal(gsr_archive_pipe_end(&ctx, pp, n, sha), 0);
	assert_int_equal(gsr_archive_pipe_begin(&ctx, pp, &idx[1]), 0);
	assert_int_equal(gsr_archive_pipe_end(&ctx, pp, 0, empty), 0);
	assert_int_equal(gsr_archive_pipe_close(&ctx, pp), 0);
	assert_int_equal(gsr_archive_pipe_close(&ctx, pp), 0);
	assert_int_equal(idx[0], 0);
	assert_int_equal(idx[1], 1);
	gsr_archive_pipe_free(pp);

	ar = gsr_archive_create(&ctx, path, false, T_MTIME);
	assert_non_null(ar);
	assert_int_equal(
	    gsr_archive_add_spooled(&ctx, ar, "input/big", sp, idx[0]), 0);
	assert_int_equal(
	    gsr_archive_add_spooled(&ctx, ar, "input/empty", sp, idx[1]), 0);
	assert_int_equal(gsr_archive_finish(&ctx, ar, NULL, NULL, NULL), 0);
	assert_int_equal(gsr_archive_verify(&ctx, path, NULL, &res), 0);
	assert_int_equal(res.n_bad, 0);
	assert_int_equal(res.n_members, 2);
	assert_string_equal(res.members[0].sha256, sha);
	assert_string_equal(res.members[1].sha256, empty);
	gsr_verify_result_release(&res);
	out = run("tar --zstd -xOf '%s' input/big | cmp - '%s' && echo same",
	          path, pathf(fx, "big"));
	assert_string_equal(out, "same\n");
	free(out);
	gsr_archive_spool_free(sp);

	/* A size that is not the one handed over fails in the thread: the
	 * next call, or the close, says so. */
	sp = gsr_archive_spool_new(&ctx, fx->dir);
	pp = gsr_archive_pipe_new(&ctx, sp);
	assert_non_null(pp);
	assert_int_equal(gsr_archive_pipe_begin(&ctx, pp, &idx[0]), 0);
	assert_int_equal(gsr_archive_pipe_write(&ctx, pp, "abc", 3), 0);
	assert_int_equal(gsr_archive_pipe_end(&ctx, pp, 4, sha), 0);
	assert_int_equal(gsr_archive_pipe_close(&ctx, pp), -1);
	assert_int_equal(ctx.err, GSR_ERR_INTERNAL);
	assert_non_null(strstr(ctx.msg, "size or hash"));
	gsr_ctx_clear(&ctx);
	assert_int_equal(gsr_archive_pipe_write(&ctx, pp, "abc", 3), -1);
	gsr_ctx_clear(&ctx);
	gsr_archive_pipe_free(pp);
	/* Freed with a member open: the thread is stopped all the same. */
	pp = gsr_archive_pipe_new(&ctx, sp);
	assert_null(pp); /* the spool is not empty */
	gsr_ctx_clear(&ctx);
	gsr_archive_spool_free(sp);
	sp = gsr_archive_spool_new(&ctx, fx->dir);
	pp = gsr_archive_pipe_new(&ctx, sp);
	assert_int_equal(gsr_archive_pipe_begin(&ctx, pp, &idx[0]), 0);
	assert_int_equal(gsr_archive_pipe_write(&ctx, pp, big, n), 0);
	gsr_archive_pipe_free(pp);
	gsr_archive_pipe_free(NULL);
	gsr_archive_spool_free(sp);
	free(big);
}

/* Last: the cancel request cannot be taken back. */
static void
cancel(void **state)
{
	struct fixture *fx = *state;
	struct gsr_ctx ctx = GSR_CTX_INIT;
	struct gsr_archive *ar;

	ar = gsr_archive_create(&ctx, pathf(fx, "audit.tar.zst"), false,
	                        T_MTIME);
	assert_non_null(ar);
	gsr_cancel_request();
	assert_int_equal(
	    gsr_archive_add_buffer(&ctx, ar, "identify.json", "abc", 3), -1);
	assert_int_equal(ctx.err, GSR_ERR_CANCELED);
	/* Even with the error forgotten, a half-written member stays. */
	gsr_ctx_clear(&ctx);
	assert_int_equal(gsr_archive_finish(&ctx, ar, NULL, NULL, NULL), -1);
	assert_int_equal(ctx.err, GSR_ERR_INTERNAL);
	assert_int_equal(count_files(fx->dir, NULL), 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(write_and_read, setup, teardown),
	    cmocka_unit_test_setup_teardown(reproducible, setup, teardown),
	    cmocka_unit_test_setup_teardown(exists_without_force, setup,
	                                    teardown),
	    cmocka_unit_test_setup_teardown(bad_names, setup, teardown),
	    cmocka_unit_test_setup_teardown(abort_leaves_nothing, setup,
	                                    teardown),
	    cmocka_unit_test_setup_teardown(verify_unreadable, setup, teardown),
	    cmocka_unit_test_setup_teardown(size_changes, setup, teardown),
	    cmocka_unit_test_setup_teardown(spooled_members, setup, teardown),
	    cmocka_unit_test_setup_teardown(piped_members, setup, teardown),
	    cmocka_unit_test_setup_teardown(cancel, setup, teardown),
	};
	return cmocka_run_group_tests_name("archive", tests, NULL, NULL);
}
