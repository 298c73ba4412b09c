/* Unit tests of gsr_evidence_reset(): an open custody made fit for a new
 * reader of the same input (evidence.h). */
#include "compat.h"
#include "evidence.h"
#include "testlib.h"

#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <setjmp.h>
#include <cmocka.h>

static char dir[4096];

static int
setup(void **state)
{
	(void)state;
	return make_tmpdir(dir, sizeof dir, "evidence");
}

static int
teardown(void **state)
{
	(void)state;
	return remove_tree(dir);
}

/* A path in the test's directory (a static buffer of its own each). */
static const char *
at(char *buf, size_t size, const char *name)
{
	snprintf(buf, size, "%s/%s", dir, name);
	return buf;
}

/* A database of a few pages at path; in WAL mode with wal (SQLite leaves
 * no -wal once it is closed). */
static void
make_input(const char *path, bool wal)
{
	remove_db(path);
	make_db(path, 4096,
	        "CREATE TABLE t (x);"
	        "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 "
	        "FROM n WHERE i < 500) INSERT INTO t SELECT "
	        "printf('%.*c', 40, 'x') FROM n;");
	if (wal) {
		sqlite3 *db = NULL;
		assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
		exec_sql(db, "PRAGMA journal_mode=WAL");
		sqlite3_close(db);
	}
}

/* Whether the files a and b hold the same bytes. */
static bool
same_bytes(const char *a, const char *b)
{
	size_t na, nb;
	unsigned char *pa = read_image(a, &na), *pb = read_image(b, &nb);
	bool same = na == nb && memcmp(pa, pb, na) == 0;

	free(pa);
	free(pb);
	return same;
}

static void
open_evidence(struct gsr_evidence *ev, const char *path)
{
	struct gsr_ctx ctx = GSR_CTX_INIT;

	memset(ev, 0, sizeof *ev);
	assert_int_equal(gsr_evidence_open(&ctx, ev, path), 0);
}

/* What others left in the working directory is removed; the working copy,
 * as taken, is kept. */
static void
reset_clears_workdir(void **state)
{
	char in[4200], p[4200];
	struct gsr_evidence ev;
	struct gsr_ctx ctx = GSR_CTX_INIT;

	(void)state;
	make_input(at(in, sizeof in, "clear.db"), false);
	open_evidence(&ev, in);
	snprintf(p, sizeof p, "%s/quarantine", ev.workdir);
	assert_int_equal(mkdir(p, 0700), 0);
	snprintf(p, sizeof p, "%s/quarantine/users.jsonl", ev.workdir);
	write_file(p, "{}\n", 3);
	snprintf(p, sizeof p, "%s/stage.db", ev.workdir);
	write_file(p, "x", 1);
	snprintf(p, sizeof p, "%s-shm", ev.work_db);
	write_file(p, "x", 1);
	assert_int_equal(gsr_evidence_reset(&ctx, &ev), 0);
	assert_int_equal(count_files(ev.workdir, NULL), 1);
	assert_true(same_bytes(ev.work_db, in));
	assert_string_equal(gsr_evidence_image(&ev, GSR_EV_DB), ev.work_db);
	gsr_evidence_release(&ev);
}

/* A WAL-mode copy switched to rollback mode (its header rewritten): the
 * header is put back, and the copy hashes as the input did. */
static void
reset_puts_header_back(void **state)
{
	char in[4200];
	struct gsr_evidence ev;
	struct gsr_ctx ctx = GSR_CTX_INIT;
	sqlite3 *db = NULL;

	(void)state;
	make_input(at(in, sizeof in, "wal.db"), true);
	open_evidence(&ev, in);
	assert_null(ev.files[GSR_EV_DB].pristine);
	assert_int_equal(sqlite3_open(ev.work_db, &db), SQLITE_OK);
	exec_sql(db, "PRAGMA journal_mode=DELETE");
	sqlite3_close(db);
	assert_false(same_bytes(ev.work_db, in));
	assert_int_equal(gsr_evidence_reset(&ctx, &ev), 0);
	assert_true(same_bytes(ev.work_db, in));
	assert_int_equal(count_files(ev.workdir, NULL), 1);
	gsr_evidence_release(&ev);
}

/* A copy changed beyond its header cannot serve again. */
static void
reset_refuses_a_changed_copy(void **state)
{
	char in[4200];
	struct gsr_evidence ev;
	struct gsr_ctx ctx = GSR_CTX_INIT;
	int fd;

	(void)state;
	make_input(at(in, sizeof in, "changed.db"), false);
	open_evidence(&ev, in);
	fd = open(ev.work_db, O_WRONLY);
	assert_true(fd >= 0);
	assert_int_equal(pwrite(fd, "X", 1, 4096 + 100), 1);
	assert_int_equal(pwrite(fd, "Y", 1, 30), 1);
	close(fd);
	assert_int_equal(gsr_evidence_reset(&ctx, &ev), 1);
	assert_false(gsr_ctx_failed(&ctx));
	/* Its size changed: the same. */
	assert_int_equal(truncate(ev.work_db, 4096), 0);
	assert_int_equal(gsr_evidence_reset(&ctx, &ev), 1);
	gsr_evidence_release(&ev);
}

/* With a sidecar, pristine copies are kept: the working copies are made
 * again from them, whatever SQLite did to them. */
static void
reset_copies_the_pristine_again(void **state)
{
	char in[4200], side[4200], p[4200];
	struct gsr_evidence ev;
	struct gsr_ctx ctx = GSR_CTX_INIT;

	(void)state;
	make_input(at(in, sizeof in, "side.db"), false);
	write_file(at(side, sizeof side, "side.db-journal"), "journal", 7);
	open_evidence(&ev, in);
	assert_non_null(ev.files[GSR_EV_DB].pristine);
	assert_non_null(ev.files[GSR_EV_JOURNAL].pristine);
	write_file(ev.work_db, "changed", 7);
	snprintf(p, sizeof p, "%s-journal", ev.work_db);
	assert_int_equal(unlink(p), 0);
	assert_int_equal(gsr_evidence_reset(&ctx, &ev), 0);
	assert_true(same_bytes(ev.work_db, in));
	assert_true(same_bytes(p, side));
	assert_true(same_bytes(gsr_evidence_image(&ev, GSR_EV_DB), in));
	/* db, db-journal, input, input-journal */
	assert_int_equal(count_files(ev.workdir, NULL), 4);
	gsr_evidence_release(&ev);
	unlink(side);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(reset_clears_workdir),
	    cmocka_unit_test(reset_puts_header_back),
	    cmocka_unit_test(reset_refuses_a_changed_copy),
	    cmocka_unit_test(reset_copies_the_pristine_again),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
