/* testlib.h -- helpers shared by the unit tests.
 *
 * The unit test programs are tests/unit/test_*.c; testlib.c is linked into
 * each of them (the GNUmakefile builds it once).  Every helper runs inside
 * a cmocka test or group fixture: on an error it does not return but fails
 * the test (fail(), assert_*()), unless its comment says what it returns
 * instead.  A group setup or teardown may call them too: cmocka reports
 * a failure there as the fixture's.
 */
#ifndef GSR_TESTLIB_H
#define GSR_TESTLIB_H

#include "compat.h"

#include <sqlite3.h>

/* ---- directories ------------------------------------------------------ */

/*
 * Make a new directory $TMPDIR/gsr-NAME.XXXXXX (/tmp when TMPDIR is unset
 * or empty) and put its path in dir (size bytes).  Returns 0, or -1 when
 * it cannot be made (for a group setup to return).
 */
int make_tmpdir(char *dir, size_t size, const char *name);

/*
 * Remove path and everything under it, not following symbolic links.
 * Returns 0, or -1 when something could not be removed (for a group
 * teardown to return).
 */
int remove_tree(const char *path);

/* The number of entries of dir (. and .. aside) whose name contains
 * needle; every entry when needle is NULL. */
size_t count_files(const char *dir, const char *needle);

/* ---- bytes and files -------------------------------------------------- */

/* A heap copy of exactly n bytes (1 byte when n is 0), so that ASan sees a
 * read past them.  free() it. */
unsigned char *exact_copy(const void *p, size_t n);

/* Encode v as a SQLite varint into p (9 bytes of room); returns its
 * length, 1..9. */
int put_varint(unsigned char *p, uint64_t v);

/* Store v big-endian in the 4 bytes at p. */
void put_u32(unsigned char *p, uint32_t v);

/*
 * The whole file at path in a heap buffer of exactly its size (1 byte when
 * it is empty), its size in *size; NULL and 0 when it does not exist.  Any
 * other error fails the test.  free() it.
 */
unsigned char *read_file(const char *path, size_t *size);

/* read_file() of a file that must exist: a database image. */
unsigned char *read_image(const char *path, size_t *size);

/*
 * The whole file at path, which must exist, as a string (a NUL is added
 * after its bytes), its length in *size when size is not NULL.  free() it.
 */
char *slurp(const char *path, size_t *size);

/* Write n bytes of buf to path, created (mode 0666 less the umask, as
 * fopen() does) or truncated. */
void write_file(const char *path, const void *buf, size_t n);

/* Copy the file from (which must exist) to to. */
void copy_file(const char *from, const char *to);

/* ---- SQLite databases ------------------------------------------------- */

/* Run sql (any number of statements) on db. */
void exec_sql(sqlite3 *db, const char *sql);

/* The first column of the first row of sql, an integer. */
int64_t query_int(sqlite3 *db, const char *sql);

/* The number of rows of table. */
int64_t count_rows(sqlite3 *db, const char *table);

/* The root page of the table or index name, from sqlite_master. */
uint32_t rootpage_of(sqlite3 *db, const char *name);

/*
 * A new database at path (which must not exist) with page_size and
 * encoding (NULL: UTF-8), secure_delete off and journal_mode DELETE, open
 * for reading and writing.  sqlite3_close() it.
 */
sqlite3 *open_new_db(const char *path, int page_size, const char *encoding);

/* A new database at path made by running sql on open_new_db(path,
 * page_size, NULL), then closed. */
void make_db(const char *path, int page_size, const char *sql);

/* Remove the database at path and its -journal, -wal and -shm files,
 * whichever exist. */
void remove_db(const char *path);

/*
 * The schema of GPUStack release label as tests/lib.sh's mkdb makes it,
 * for exec_sql(): $GSR_TOP/tests/fixtures/schemas/LABEL.sql (GSR_TOP
 * unset or empty: the current directory) without its comment lines and
 * without the CREATE TABLE of sqlite_sequence, which SQLite makes itself.
 * Fails the test when the file cannot be read or is empty.  free() it.
 */
char *schema_sql(const char *label);

#endif
