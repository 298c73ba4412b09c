/* sqlhdr.h -- the 100-byte SQLite database header, read from bytes. */
#ifndef GSR_SQLHDR_H
#define GSR_SQLHDR_H

#include "compat.h"
#include "strbuf.h"

#define GSR_SQLHDR_SIZE 100

struct gsr_sqlhdr {
	uint32_t page_size; /* decoded: 1 in the file means 65536 */
	uint8_t write_version, read_version, reserved;
	uint8_t max_frac, min_frac, leaf_frac;
	uint32_t change_counter, n_pages, freelist_trunk, freelist_count;
	uint32_t schema_cookie, schema_format, cache_size, autovacuum_root;
	uint32_t text_encoding, user_version, incremental_vacuum;
	uint32_t application_id, version_valid_for, sqlite_version;
};

/* True when buf (n bytes) starts with the SQLite magic string. */
bool gsr_sqlhdr_is_sqlite(const unsigned char *buf, size_t n);

/* Decode the header; buf must hold GSR_SQLHDR_SIZE bytes. */
void gsr_sqlhdr_decode(const unsigned char *buf, struct gsr_sqlhdr *h);

/* Check the decoded header against itself and the file size; append one
 * message per problem to problems.  Returns the number of problems. */
int gsr_sqlhdr_check(const struct gsr_sqlhdr *h, uint64_t file_size,
                     struct strvec *problems);

/* "wal" when the header's read/write versions say WAL, else "delete". */
const char *gsr_sqlhdr_journal(const struct gsr_sqlhdr *h);

/*
 * When buf, the first n bytes of the file at path (512 suffice), says that
 * the file is compressed (gzip, zstd, xz, bzip2) or an archive (zip, tar)
 * rather than an SQLite database: a message that says so and how to
 * unpack it, such as "the file is gzip-compressed, not an SQLite
 * database; unpack it first: gunzip -k database.db.gz" (malloc'd).  NULL
 * for any other file, an SQLite database among them, or when out of
 * memory.
 */
char *gsr_sqlhdr_packed(const unsigned char *buf, size_t n, const char *path);

/* Big-endian reads, shared with the page reader. */
static inline uint32_t
gsr_get_u32(const unsigned char *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
	       (uint32_t)p[2] << 8 | p[3];
}

static inline uint16_t
gsr_get_u16(const unsigned char *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

#endif
