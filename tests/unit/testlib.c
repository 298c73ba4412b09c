/* testlib.c -- helpers shared by the unit tests (see testlib.h). */
#include "compat.h"
#include "testlib.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <setjmp.h>
#include <cmocka.h>

/* ---- directories ------------------------------------------------------ */

int
make_tmpdir(char *dir, size_t size, const char *name)
{
	const char *t = getenv("TMPDIR");
	int n;

	n = snprintf(dir, size, "%s/gsr-%s.XXXXXX",
	             t != NULL && *t != '\0' ? t : "/tmp", name);
	if (n < 0 || (size_t)n >= size)
		return -1;
	return mkdtemp(dir) == NULL ? -1 : 0;
}

/* nftw() callback: remove one entry, children first (FTW_DEPTH). */
static int
remove_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
	(void)sb;
	(void)flag;
	(void)ftw;
	return remove(path);
}

int
remove_tree(const char *path)
{
	return nftw(path, remove_entry, 16, FTW_DEPTH | FTW_PHYS) == 0 ? 0 : -1;
}

size_t
count_files(const char *dir, const char *needle)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	size_t n = 0;

	assert_non_null(d);
	while ((e = readdir(d)) != NULL)
		if (strcmp(e->d_name, ".") != 0 &&
		    strcmp(e->d_name, "..") != 0 &&
		    (needle == NULL || strstr(e->d_name, needle) != NULL))
			n++;
	closedir(d);
	return n;
}

/* ---- bytes and files -------------------------------------------------- */

unsigned char *
exact_copy(const void *p, size_t n)
{
	unsigned char *c = malloc(n ? n : 1);

	assert_non_null(c);
	if (n)
		memcpy(c, p, n);
	return c;
}

int
put_varint(unsigned char *p, uint64_t v)
{
	unsigned char tmp[9];
	int n = 0;

	if (v > 0x00ffffffffffffffULL) {
		p[8] = (unsigned char)v;
		v >>= 8;
		for (int i = 7; i >= 0; i--) {
			p[i] = (unsigned char)((v & 0x7f) | 0x80);
			v >>= 7;
		}
		return 9;
	}
	do {
		tmp[n++] = (unsigned char)((v & 0x7f) | 0x80);
		v >>= 7;
	} while (v != 0);
	tmp[0] &= 0x7f;
	for (int i = 0; i < n; i++)
		p[i] = tmp[n - 1 - i];
	return n;
}

void
put_u32(unsigned char *p, uint32_t v)
{
	p[0] = (unsigned char)(v >> 24);
	p[1] = (unsigned char)(v >> 16);
	p[2] = (unsigned char)(v >> 8);
	p[3] = (unsigned char)v;
}

unsigned char *
read_file(const char *path, size_t *size)
{
	int fd = open(path, O_RDONLY);
	struct stat sb;
	unsigned char *buf;
	size_t got = 0;

	*size = 0;
	if (fd < 0) {
		assert_int_equal(errno, ENOENT);
		return NULL;
	}
	assert_int_equal(fstat(fd, &sb), 0);
	buf = malloc(sb.st_size ? (size_t)sb.st_size : 1);
	assert_non_null(buf);
	while (got < (size_t)sb.st_size) {
		ssize_t r = read(fd, buf + got, (size_t)sb.st_size - got);

		assert_true(r > 0);
		got += (size_t)r;
	}
	close(fd);
	*size = got;
	return buf;
}

unsigned char *
read_image(const char *path, size_t *size)
{
	unsigned char *buf = read_file(path, size);

	if (buf == NULL) {
		print_error("%s: no such file\n", path);
		fail();
	}
	return buf;
}

char *
slurp(const char *path, size_t *size)
{
	FILE *f = fopen(path, "rb");
	char *buf;
	long n;

	if (f == NULL) {
		print_error("cannot read %s: %s\n", path, strerror(errno));
		fail();
	}
	assert_int_equal(fseek(f, 0, SEEK_END), 0);
	n = ftell(f);
	assert_true(n >= 0);
	rewind(f);
	buf = malloc((size_t)n + 1);
	assert_non_null(buf);
	assert_int_equal(fread(buf, 1, (size_t)n, f), (size_t)n);
	buf[n] = '\0';
	fclose(f);
	if (size != NULL)
		*size = (size_t)n;
	return buf;
}

void
write_file(const char *path, const void *buf, size_t n)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0666);
	size_t done = 0;

	assert_true(fd >= 0);
	while (done < n) {
		ssize_t w = write(fd, (const char *)buf + done, n - done);

		assert_true(w > 0);
		done += (size_t)w;
	}
	assert_int_equal(close(fd), 0);
}

void
copy_file(const char *from, const char *to)
{
	size_t n = 0;
	unsigned char *buf = read_image(from, &n);

	write_file(to, buf, n);
	free(buf);
}

/* ---- SQLite databases ------------------------------------------------- */

void
exec_sql(sqlite3 *db, const char *sql)
{
	char *err = NULL;

	if (sqlite3_exec(db, sql, NULL, NULL, &err) != SQLITE_OK) {
		print_error("sql failed: %s: %.200s\n", err ? err : "?", sql);
		sqlite3_free(err);
		fail();
	}
}

int64_t
query_int(sqlite3 *db, const char *sql)
{
	sqlite3_stmt *st = NULL;
	int64_t v;

	assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_step(st), SQLITE_ROW);
	v = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	return v;
}

int64_t
count_rows(sqlite3 *db, const char *table)
{
	char sql[256];

	snprintf(sql, sizeof sql, "SELECT count(*) FROM \"%s\"", table);
	return query_int(db, sql);
}

uint32_t
rootpage_of(sqlite3 *db, const char *name)
{
	sqlite3_stmt *st = NULL;
	uint32_t root;

	assert_int_equal(
	    sqlite3_prepare_v2(
	        db, "SELECT rootpage FROM sqlite_master WHERE name = ?1", -1,
	        &st, NULL),
	    SQLITE_OK);
	sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
	assert_int_equal(sqlite3_step(st), SQLITE_ROW);
	root = (uint32_t)sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	return root;
}

sqlite3 *
open_new_db(const char *path, int page_size, const char *encoding)
{
	sqlite3 *db = NULL;
	char sql[128];

	assert_int_equal(
	    sqlite3_open_v2(path, &db,
	                    SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL),
	    SQLITE_OK);
	snprintf(sql, sizeof sql, "PRAGMA page_size=%d", page_size);
	exec_sql(db, sql);
	if (encoding != NULL) {
		snprintf(sql, sizeof sql, "PRAGMA encoding='%s'", encoding);
		exec_sql(db, sql);
	}
	exec_sql(db, "PRAGMA secure_delete=OFF");
	exec_sql(db, "PRAGMA journal_mode=DELETE");
	return db;
}

void
make_db(const char *path, int page_size, const char *sql)
{
	sqlite3 *db = open_new_db(path, page_size, NULL);

	exec_sql(db, sql);
	assert_int_equal(sqlite3_close(db), SQLITE_OK);
}

void
remove_db(const char *path)
{
	static const char *const sides[] = {"-journal", "-wal", "-shm"};
	char side[4096];

	for (size_t i = 0; i < GSR_ARRAY_LEN(sides); i++) {
		snprintf(side, sizeof side, "%s%s", path, sides[i]);
		unlink(side);
	}
	unlink(path);
}

char *
schema_sql(const char *label)
{
	static const char seq[] = "CREATE TABLE sqlite_sequence(name,seq);";
	const char *top = getenv("GSR_TOP");
	char path[1024], *sql, *line, *save = NULL, *out;
	size_t n = 0, len = 0;

	snprintf(path, sizeof path, "%s/tests/fixtures/schemas/%s.sql",
	         top != NULL && *top != '\0' ? top : ".", label);
	if (access(path, R_OK) != 0) {
		print_error("cannot read %s (set GSR_TOP): %s\n", path,
		            strerror(errno));
		fail();
	}
	sql = slurp(path, &len);
	assert_true(len > 0);
	out = calloc(1, len + 1);
	assert_non_null(out);
	for (line = strtok_r(sql, "\n", &save); line != NULL;
	     line = strtok_r(NULL, "\n", &save)) {
		size_t l = strlen(line);

		if (strncmp(line, "-- ", 3) == 0 || strcmp(line, seq) == 0)
			continue;
		memcpy(out + n, line, l);
		n += l;
		out[n++] = '\n';
	}
	free(sql);
	return out;
}
