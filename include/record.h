/* record.h -- the bytes of one b-tree page and one record, decoded.
 *
 * The lowest layer of the page reader: varints, serial types, how much of
 * a payload a cell keeps in its page, records, the b-tree page header and
 * the conversion of UTF-16 text to UTF-8, all on bytes the caller holds.
 * Nothing here reads a file or knows a page number; nothing allocates,
 * prints or fails on a context.  Every length and offset read from the
 * bytes is checked against the buffer before it is used.  Written from
 * the SQLite file format document, sections 1.5 (b-tree pages), 1.6
 * (cell payload overflow) and 2.1 (the record format).
 *
 * The page reader's layers, each using only those before it (no include
 * cycle among them):
 *   sqlhdr.h   the 100-byte database header, big-endian reads;
 *   record.h   one page's header, one cell's payload, one record (this);
 *   pagefile.h an image read page by page, its freelist and pointer maps
 *              (the page size, reserved bytes and encoding it infers use
 *              record.h);
 *   walfile.h, journal.h   overlays of other versions of pages;
 *   btree.h    the b-tree walker (pagefile.h and record.h);
 *   carve.h    the carver of deleted records (pagefile.h and record.h).
 * record.c depends on compat.h and sqlhdr.h only.
 */
#ifndef GSR_RECORD_H
#define GSR_RECORD_H

#include "compat.h"

/* Page types (the first byte of the b-tree page header). */
#define GSR_PAGE_INDEX_INTERIOR 0x02
#define GSR_PAGE_TABLE_INTERIOR 0x05
#define GSR_PAGE_INDEX_LEAF 0x0a
#define GSR_PAGE_TABLE_LEAF 0x0d

/* Records of more than this many bytes are treated as damage. */
#define GSR_RECORD_MAX ((uint64_t)1 << 30)
/* Records of more than this many values are treated as damage (SQLite's
 * hard limit on columns is 32767). */
#define GSR_RECORD_MAX_VALUES 65536

enum gsr_vtype { GSR_V_NULL, GSR_V_INT, GSR_V_REAL, GSR_V_TEXT, GSR_V_BLOB };

/*
 * One value of a record.  p and n hold the bytes of a TEXT or BLOB (p is
 * never NULL for them, even when n is 0); i an INTEGER (serial types 1-6,
 * 8 and 9); r a REAL.
 *
 * truncated: the value was cut short because the record's overflow chain
 * is broken.  A TEXT or BLOB then holds the bytes that could be read (a
 * prefix of the value, possibly empty); a number that could not be read
 * whole is delivered as GSR_V_NULL.
 *
 * encoding_error: in a UTF-16 database, a TEXT that is not valid UTF-16
 * (an odd number of bytes, an unpaired surrogate) cannot be converted to
 * UTF-8.  It is delivered as GSR_V_BLOB holding the bytes exactly as stored,
 * with encoding_error set, so that nothing is altered or lost and the
 * value can still be told from a real BLOB.  truncated stays false unless
 * the chain was also broken.  Text of a UTF-8 database is delivered as
 * stored, valid UTF-8 or not.
 */
struct gsr_value {
	enum gsr_vtype type;
	int64_t i;
	double r;
	const unsigned char *p;
	size_t n;
	bool truncated;
	bool encoding_error;
};

/* ---- varints and serial types ---------------------------------------- */

/*
 * Read a varint at p, not reading at or past end: returns its length 1..9
 * and stores the value in *v, or returns 0 when it would run past end (or
 * p or end is NULL).
 */
int gsr_varint_get(const unsigned char *p, const unsigned char *end,
                   uint64_t *v);

/* Write v as a varint at out (room for 9 bytes): its shortest form.
 * Returns its length 1..9. */
int gsr_varint_put(unsigned char *out, uint64_t v);

/* The number of body bytes a value of serial type st takes (0 for the
 * reserved types 10 and 11). */
uint64_t gsr_serial_size(uint64_t st);

/* ---- cells ------------------------------------------------------------ */

/*
 * The most bytes of a payload a cell keeps in its page, for pages of
 * usable_size usable bytes: table_leaf for a table b-tree leaf cell (U -
 * 35), else an index cell ((U - 12) * 64 / 255 - 23).  Section 1.6 of the
 * file format.  usable_size must be at least 257 (a 512-byte page less
 * the most reserved bytes, 255), so that nothing wraps.
 */
uint64_t gsr_max_local(uint32_t usable_size, bool table_leaf);

/*
 * How many bytes of a payload of payload bytes a cell keeps in its page
 * (the rest goes to overflow pages), for pages of usable_size usable bytes
 * (at least 480): table_leaf for a table b-tree leaf cell, else an index
 * cell.  Section 1.6 of the file format.
 */
uint64_t gsr_local_size(uint64_t payload, uint32_t usable_size,
                        bool table_leaf);

/* ---- records ---------------------------------------------------------- */

/*
 * Decode the record in buf (the full payload, n bytes) into values, at most
 * max_values of them (values may be NULL when max_values is 0).  Returns
 * the number of values in the record, which may be more than max_values
 * (only the first max_values are stored, as snprintf does), or -1 when the
 * record is inconsistent: a header size below its own varint or beyond n,
 * a serial type varint running past the header, the reserved serial types
 * 10 and 11, more than GSR_RECORD_MAX_VALUES values, or values that do not
 * end exactly at n.  TEXT and BLOB values point into buf.
 *
 * text_encoding is the database's (1 UTF-8, 2 UTF-16le, 3 UTF-16be).  TEXT
 * is left as stored: for UTF-16 the bytes are UTF-16, which
 * gsr_utf16_to_utf8() converts (gsr_btree_walk_table() does), and a TEXT
 * that is not valid UTF-16 is retyped GSR_V_BLOB with encoding_error set.
 */
int gsr_record_decode(const unsigned char *buf, size_t n,
                      struct gsr_value *values, size_t max_values,
                      uint32_t text_encoding);

/*
 * gsr_record_decode() for a record of declared bytes of which only the
 * first avail (1 <= avail <= declared) are in buf: its overflow chain
 * could not be read.  The header must lie within avail; values past avail
 * are cut short as struct gsr_value describes (truncated).  With avail ==
 * declared, the same as gsr_record_decode().
 */
int gsr_record_decode_part(const unsigned char *buf, size_t avail,
                           uint64_t declared, struct gsr_value *values,
                           size_t max_values, uint32_t text_encoding);

/* ---- UTF-16 ----------------------------------------------------------- */

/*
 * Convert n bytes of valid UTF-16 (big-endian when be) to UTF-8 in out,
 * which must hold n / 2 * 3 bytes.  Returns the number of bytes written,
 * or (size_t)-1 when the input is not valid UTF-16 (nothing useful is in
 * out then).
 */
size_t gsr_utf16_to_utf8(const unsigned char *in, size_t n, bool be,
                         unsigned char *out);

/*
 * Convert the UTF-16 TEXT value v (big-endian when be) to UTF-8 in out,
 * which holds v->n / 2 * 3 bytes, and point v at it.  v keeps its longest
 * valid prefix: for a cut-short value (truncated), its whole characters.
 * *bad is set when the value held more than that (a lone surrogate, or a
 * complete value ending in half a character).  Returns the bytes written.
 */
size_t gsr_value_utf16_to_utf8(struct gsr_value *v, bool be, unsigned char *out,
                               bool *bad);

/* ---- b-tree page headers ---------------------------------------------- */

/* A b-tree page header, parsed (section 1.5). */
struct gsr_page_hdr {
	uint8_t type; /* GSR_PAGE_* */
	uint32_t n_cells;
	uint32_t ptr_off;    /* the cell pointer array */
	uint32_t ptr_end;    /* its end: no cell starts before */
	uint32_t content;    /* the cell content area (0 in the page: 65536) */
	uint32_t first_free; /* the first freeblock, 0 for none */
	uint32_t right;      /* interior pages: the right-most child, else 0 */
};

/* True for the two interior page types. */
static inline bool
gsr_page_is_interior(uint8_t type)
{
	return type == GSR_PAGE_INDEX_INTERIOR ||
	       type == GSR_PAGE_TABLE_INTERIOR;
}

/*
 * Parse the b-tree page header at hdr_off of page, of which usable_size
 * bytes may be read.  Returns false when there is no room for a header
 * there, the type is not a b-tree page's, or the cell pointer array does
 * not fit in the usable bytes; nothing else is checked (see
 * gsr_btree_page_check()).
 */
bool gsr_page_hdr_parse(const unsigned char *page, uint32_t usable_size,
                        uint32_t hdr_off, struct gsr_page_hdr *h);

/*
 * Check the b-tree page header of page (page_size bytes, usable_size of
 * them usable) at hdr_off (100 for page 1): a known type, the cell pointer
 * array inside the usable size, the cell content area after it, a first
 * freeblock inside the page and, for an interior page, a right child that
 * is not 0.  With strict, every cell pointer must also point between the
 * pointer array and the end of the usable area (the page-size inference
 * uses this).  Returns the page type or 0 (page NULL included).  No range
 * check on the right child: gsr_btree_page_type() does that for a page of
 * an image.
 */
int gsr_btree_page_check(const unsigned char *page, uint32_t page_size,
                         uint32_t usable_size, uint32_t hdr_off, bool strict);

#endif
