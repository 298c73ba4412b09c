/* sqlhdr.c -- decode and sanity-check the database header.
 *
 * Offsets and limits are those of the SQLite file format document,
 * section 1.3 ("The Database Header").
 */
#include "compat.h"
#include "sqlhdr.h"

#include <inttypes.h>
#include <string.h>

static const char sqlite_magic[16] = "SQLite format 3";

bool
gsr_sqlhdr_is_sqlite(const unsigned char *buf, size_t n)
{
	return n >= sizeof sqlite_magic &&
	       memcmp(buf, sqlite_magic, sizeof sqlite_magic) == 0;
}

void
gsr_sqlhdr_decode(const unsigned char *b, struct gsr_sqlhdr *h)
{
	uint16_t ps = gsr_get_u16(b + 16);

	h->page_size = ps == 1 ? 65536 : ps;
	h->write_version = b[18];
	h->read_version = b[19];
	h->reserved = b[20];
	h->max_frac = b[21];
	h->min_frac = b[22];
	h->leaf_frac = b[23];
	h->change_counter = gsr_get_u32(b + 24);
	h->n_pages = gsr_get_u32(b + 28);
	h->freelist_trunk = gsr_get_u32(b + 32);
	h->freelist_count = gsr_get_u32(b + 36);
	h->schema_cookie = gsr_get_u32(b + 40);
	h->schema_format = gsr_get_u32(b + 44);
	h->cache_size = gsr_get_u32(b + 48);
	h->autovacuum_root = gsr_get_u32(b + 52);
	h->text_encoding = gsr_get_u32(b + 56);
	h->user_version = gsr_get_u32(b + 60);
	h->incremental_vacuum = gsr_get_u32(b + 64);
	h->application_id = gsr_get_u32(b + 68);
	h->version_valid_for = gsr_get_u32(b + 92);
	h->sqlite_version = gsr_get_u32(b + 96);
}

const char *
gsr_sqlhdr_journal(const struct gsr_sqlhdr *h)
{
	return h->write_version == 2 && h->read_version == 2 ? "wal" : "delete";
}

#define PROBLEM(...)                                                           \
	do {                                                                   \
		struct strbuf sb_ = STRBUF_INIT;                               \
		sb_addf(&sb_, __VA_ARGS__);                                    \
		if (!sb_.failed)                                               \
			sv_push_owned(problems, sb_detach(&sb_));              \
		else                                                           \
			sb_release(&sb_);                                      \
		n++;                                                           \
	} while (0)

int
gsr_sqlhdr_check(const struct gsr_sqlhdr *h, uint64_t file_size,
                 struct strvec *problems)
{
	int n = 0;
	uint32_t ps = h->page_size;

	if (ps < 512 || ps > 65536 || (ps & (ps - 1)) != 0) {
		PROBLEM("header: invalid page size %" PRIu32, ps);
		return n;
	}
	if (h->write_version < 1 || h->write_version > 2 ||
	    h->read_version < 1 || h->read_version > 2)
		PROBLEM("header: invalid file format versions %u/%u",
		        h->write_version, h->read_version);
	if (ps - h->reserved < 480)
		PROBLEM(
		    "header: %u reserved bytes per page leave too little room",
		    h->reserved);
	if (h->max_frac != 64 || h->min_frac != 32 || h->leaf_frac != 32)
		PROBLEM("header: invalid payload fractions %u/%u/%u",
		        h->max_frac, h->min_frac, h->leaf_frac);
	if (h->schema_format < 1 || h->schema_format > 4)
		PROBLEM("header: invalid schema format %" PRIu32,
		        h->schema_format);
	if (h->text_encoding < 1 || h->text_encoding > 3)
		PROBLEM("header: invalid text encoding %" PRIu32,
		        h->text_encoding);
	if (file_size % ps != 0)
		PROBLEM("file size %" PRIu64
		        " is not a multiple of the page size %" PRIu32
		        " (truncated or padded)",
		        file_size, ps);
	/* The in-header size is only meaningful when valid-for matches the
	 * change counter (file format, section 1.3.7). */
	if (h->n_pages != 0 && h->version_valid_for == h->change_counter) {
		uint64_t expect = (uint64_t)h->n_pages * ps;
		if (file_size < expect)
			PROBLEM("file is truncated: %" PRIu64
			        " bytes, the header says %" PRIu32
			        " pages (%" PRIu64 " bytes)",
			        file_size, h->n_pages, expect);
		else if (file_size > expect)
			PROBLEM("file has %" PRIu64 " bytes beyond the %" PRIu32
			        " pages the header declares",
			        file_size - expect, h->n_pages);
	}
	if (h->freelist_count > 0 &&
	    (uint64_t)h->freelist_count * ps > file_size)
		PROBLEM("header: freelist of %" PRIu32
		        " pages is larger than the file",
		        h->freelist_count);
	return n;
}

/* Compressed files and archives, by their magic numbers. */
struct packed_kind {
	const char *what; /* "gzip-compressed", "a tar archive" */
	size_t offset;    /* of the magic */
	const char *magic;
	size_t magic_len;
	const char *suffixes[3]; /* names the tool unpacks in place */
	const char *in_place;    /* the command for such a name */
	const char *to_stdout;   /* the command for any other name, or NULL */
};

static const struct packed_kind packed_kinds[] = {
    {"gzip-compressed",
     0,
     "\x1f\x8b",
     2,
     {".gz", ".tgz", NULL},
     "gunzip -k",
     "gunzip -c"},
    {"zstd-compressed",
     0,
     "\x28\xb5\x2f\xfd",
     4,
     {".zst", ".tzst", NULL},
     "zstd -d",
     "zstd -dc"},
    {"xz-compressed",
     0,
     "\xfd\x37\x7a\x58\x5a\x00",
     6,
     {".xz", ".txz", NULL},
     "unxz -k",
     "xz -dc"},
    {"bzip2-compressed",
     0,
     "BZh",
     3,
     {".bz2", ".tbz2", ".tbz"},
     "bunzip2 -k",
     "bzip2 -dc"},
    {"a zip archive", 0, "PK\x03\x04", 4, {NULL}, "unzip", NULL},
    {"a tar archive", 257, "ustar", 5, {NULL}, "tar -xf", NULL},
};

/* The kind of compressed file or archive that buf, a file's first n
 * bytes, starts with, or NULL. */
static const struct packed_kind *
packed_kind(const unsigned char *buf, size_t n)
{
	for (size_t i = 0; i < sizeof packed_kinds / sizeof packed_kinds[0];
	     i++) {
		const struct packed_kind *k = &packed_kinds[i];

		if (n < k->offset + k->magic_len ||
		    memcmp(buf + k->offset, k->magic, k->magic_len) != 0)
			continue;
		/* bzip2: "BZh" and the block size, a digit 1 to 9. */
		if (!strcmp(k->magic, "BZh") &&
		    (n < 4 || buf[3] < '1' || buf[3] > '9'))
			continue;
		return k;
	}
	return NULL;
}

/* True when s ends with suffix and has more before it. */
static bool
has_suffix(const char *s, const char *suffix)
{
	size_t n = strlen(s), m = strlen(suffix);

	return n > m && !strcmp(s + n - m, suffix);
}

char *
gsr_sqlhdr_packed(const unsigned char *buf, size_t n, const char *path)
{
	const struct packed_kind *k = packed_kind(buf, n);
	struct strbuf sb = STRBUF_INIT, name = STRBUF_INIT;
	bool in_place;

	if (k == NULL || gsr_sqlhdr_is_sqlite(buf, n))
		return NULL;
	in_place = k->to_stdout == NULL;
	for (size_t i = 0; !in_place && i < 3 && k->suffixes[i]; i++)
		in_place = has_suffix(path, k->suffixes[i]);
	/* A name that starts with '-' would read as an option. */
	sb_addf(&name, "%s%s", path[0] == '-' ? "./" : "", path);
	sb_addf(&sb,
	        "the file is %s, not an SQLite database; unpack it first: %s ",
	        k->what, in_place ? k->in_place : k->to_stdout);
	sb_add_shell_word(&sb, sb_str(&name));
	if (!in_place) {
		/* The tool would refuse a name without its suffix. */
		sb_adds(&sb, " > ");
		sb_adds(&name, ".unpacked");
		sb_add_shell_word(&sb, sb_str(&name));
	}
	sb.failed |= name.failed;
	sb_release(&name);
	if (sb.failed) {
		sb_release(&sb);
		return NULL;
	}
	return sb_detach(&sb);
}
