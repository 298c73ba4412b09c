/* record.c -- one b-tree page's header, one cell's payload, one record,
 * from bytes (see record.h).
 *
 * Written from the SQLite file format document: sections 1.5 (b-tree
 * pages), 1.6 (cell payload overflow) and 2.1 (the record format).  Every
 * value read from the bytes is checked before it is used as an offset or
 * a length; the comments say against what.  Depends on compat.h and
 * sqlhdr.h (big-endian reads) only.
 */
#include "compat.h"
#include "record.h"

#include <string.h>

#include "sqlhdr.h"

static const unsigned char empty_bytes[1];

/* ---- varints and serial types ---------------------------------------- */

int
gsr_varint_get(const unsigned char *p, const unsigned char *end, uint64_t *v)
{
	uint64_t x = 0;
	size_t avail;

	if (p == NULL || end == NULL || p >= end)
		return 0;
	avail = (size_t)(end - p);
	for (size_t i = 0; i < 8; i++) {
		if (i >= avail)
			return 0;
		x = x << 7 | (p[i] & 0x7f);
		if ((p[i] & 0x80) == 0) {
			*v = x;
			return (int)i + 1;
		}
	}
	if (avail < 9)
		return 0;
	*v = x << 8 | p[8];
	return 9;
}

int
gsr_varint_put(unsigned char *out, uint64_t v)
{
	unsigned char tmp[8];
	int n = 0;

	if (v >> 56) {
		/* Nine bytes: eight of 7 bits, the last of 8. */
		out[8] = (unsigned char)v;
		v >>= 8;
		for (int i = 7; i >= 0; i--, v >>= 7)
			out[i] = (unsigned char)(v & 0x7f) | 0x80;
		return 9;
	}
	do {
		tmp[n++] = (unsigned char)(v & 0x7f);
		v >>= 7;
	} while (v != 0);
	for (int i = 0; i < n; i++)
		out[i] =
		    (unsigned char)(tmp[n - 1 - i] | (i + 1 < n ? 0x80 : 0));
	return n;
}

/* The number of bytes of the body a serial type takes (section 2.1). */
static uint64_t
serial_size(uint64_t st)
{
	static const uint8_t small[12] = {0, 1, 2, 3, 4, 6, 8, 8, 0, 0, 0, 0};

	return st < 12 ? small[st] : (st - 12) / 2;
}

uint64_t
gsr_serial_size(uint64_t st)
{
	return st == 10 || st == 11 ? 0 : serial_size(st);
}

/* ---- cells ------------------------------------------------------------ */

uint64_t
gsr_max_local(uint32_t usable_size, bool table_leaf)
{
	/* usable_size >= 257 (record.h): none of these wraps. */
	if (table_leaf)
		return usable_size - 35;
	return (uint64_t)(usable_size - 12) * 64 / 255 - 23;
}

uint64_t
gsr_local_size(uint64_t payload, uint32_t usable_size, bool table_leaf)
{
	/* usable_size >= 480 (pagefile.h), so none of these wraps. */
	uint64_t max_local = gsr_max_local(usable_size, table_leaf);
	uint64_t min_local = (uint64_t)(usable_size - 12) * 32 / 255 - 23;
	uint64_t k;

	if (payload <= max_local)
		return payload;
	k = min_local + (payload - min_local) % (usable_size - 4);
	return k <= max_local ? k : min_local;
}

/* ---- UTF-16 ----------------------------------------------------------- */

/* The UTF-16 code unit in the 2 bytes at p (big-endian when be). */
static uint32_t
utf16_unit(const unsigned char *p, bool be)
{
	return be ? (uint32_t)p[0] << 8 | p[1] : (uint32_t)p[1] << 8 | p[0];
}

/*
 * The length of the longest prefix of p (n bytes) made of whole, valid
 * UTF-16 characters.  *bad is set when the scan stopped at an invalid
 * sequence (an unpaired surrogate) rather than at the end or at a last
 * character cut short (an odd byte, a lone high surrogate at the end).
 */
static size_t
utf16_scan(const unsigned char *p, size_t n, bool be, bool *bad)
{
	size_t i = 0;

	*bad = false;
	while (n - i >= 2) {
		uint32_t c = utf16_unit(p + i, be);

		if (c >= 0xdc00 && c <= 0xdfff) {
			*bad = true;
			break;
		}
		if (c < 0xd800 || c > 0xdbff) {
			i += 2;
			continue;
		}
		if (n - i < 4)
			break;
		c = utf16_unit(p + i + 2, be);
		if (c < 0xdc00 || c > 0xdfff) {
			*bad = true;
			break;
		}
		i += 4;
	}
	return i;
}

/* Convert n bytes of valid UTF-16 (as utf16_scan() accepted them) into
 * out, which holds n / 2 * 3 bytes.  Returns the bytes written. */
static size_t
utf16_convert(const unsigned char *in, size_t n, bool be, unsigned char *out)
{
	size_t i = 0, o = 0;

	while (n - i >= 2) {
		uint32_t c = utf16_unit(in + i, be);

		i += 2;
		if (c >= 0xd800 && c <= 0xdbff && n - i >= 2) {
			c = 0x10000 + ((c - 0xd800) << 10) +
			    (utf16_unit(in + i, be) - 0xdc00);
			i += 2;
		}
		if (c < 0x80) {
			out[o++] = (unsigned char)c;
		} else if (c < 0x800) {
			out[o++] = (unsigned char)(0xc0 | c >> 6);
			out[o++] = (unsigned char)(0x80 | (c & 0x3f));
		} else if (c < 0x10000) {
			out[o++] = (unsigned char)(0xe0 | c >> 12);
			out[o++] = (unsigned char)(0x80 | (c >> 6 & 0x3f));
			out[o++] = (unsigned char)(0x80 | (c & 0x3f));
		} else {
			out[o++] = (unsigned char)(0xf0 | c >> 18);
			out[o++] = (unsigned char)(0x80 | (c >> 12 & 0x3f));
			out[o++] = (unsigned char)(0x80 | (c >> 6 & 0x3f));
			out[o++] = (unsigned char)(0x80 | (c & 0x3f));
		}
	}
	return o;
}

size_t
gsr_value_utf16_to_utf8(struct gsr_value *v, bool be, unsigned char *out,
                        bool *bad)
{
	size_t ok = utf16_scan(v->p, v->n, be, bad);

	/* A complete value must be characters to its last pair of bytes. */
	if (!v->truncated && ok != (v->n & ~(size_t)1))
		*bad = true;
	if (ok == 0) {
		/* out may be NULL when no TEXT has a character. */
		v->p = empty_bytes;
		v->n = 0;
		return 0;
	}
	v->n = utf16_convert(v->p, ok, be, out);
	v->p = out;
	return v->n;
}

size_t
gsr_utf16_to_utf8(const unsigned char *in, size_t n, bool be,
                  unsigned char *out)
{
	bool bad;

	if (n == 0)
		return 0;
	if (in == NULL || out == NULL || utf16_scan(in, n, be, &bad) != n)
		return (size_t)-1;
	return utf16_convert(in, n, be, out);
}

/* ---- records ---------------------------------------------------------- */

/*
 * Fill v with the value of serial type st whose size bytes start at body
 * offset off of a record of which avail bytes are in buf.  A value that
 * does not lie wholly within avail is cut short (see truncated in
 * record.h).
 */
static void
value_set(struct gsr_value *v, const unsigned char *buf, size_t avail,
          uint64_t off, uint64_t st, uint64_t size, uint32_t enc)
{
	bool whole = size == 0 || (off < avail && size <= avail - off);
	const unsigned char *p = buf + (off < avail ? off : avail);
	uint64_t u = 0;

	memset(v, 0, sizeof *v);
	if (st >= 12) {
		v->type = (st & 1) ? GSR_V_TEXT : GSR_V_BLOB;
		v->p = p;
		v->n = whole ? (size_t)size : avail - (size_t)(p - buf);
		v->truncated = !whole;
		if (v->type == GSR_V_TEXT && (enc == 2 || enc == 3)) {
			bool bad;
			size_t ok = utf16_scan(v->p, v->n, enc == 3, &bad);

			if (bad || (whole && ok != v->n)) {
				v->type = GSR_V_BLOB;
				v->encoding_error = true;
			}
		}
		return;
	}
	if (!whole) {
		v->type = GSR_V_NULL;
		v->truncated = true;
		return;
	}
	switch (st) {
	case 0:
		v->type = GSR_V_NULL;
		break;
	case 7:
		for (unsigned k = 0; k < 8; k++)
			u = u << 8 | p[k];
		v->type = GSR_V_REAL;
		memcpy(&v->r, &u, sizeof v->r);
		break;
	case 8:
	case 9:
		v->type = GSR_V_INT;
		v->i = st == 9;
		break;
	default: /* 1..6: big-endian two's complement of `size` bytes */
		for (unsigned k = 0; k < size; k++)
			u = u << 8 | p[k];
		if (size < 8 && (u >> (size * 8 - 1) & 1))
			u |= UINT64_MAX << (size * 8);
		v->type = GSR_V_INT;
		memcpy(&v->i, &u, sizeof v->i);
		break;
	}
}

/*
 * Decode a record whose payload is declared bytes long, of which the
 * first avail (avail <= declared) are in buf: fewer when its overflow
 * chain is broken.  The header must lie within avail; values past avail
 * come out truncated.  See gsr_record_decode() for the rest.
 */
static int
record_decode(const unsigned char *buf, size_t avail, uint64_t declared,
              struct gsr_value *values, size_t max_values, uint32_t enc)
{
	uint64_t hdr_size, body, st, size;
	size_t off, count = 0;
	int len;

	if (buf == NULL || avail == 0 || avail > declared)
		return -1;
	len = gsr_varint_get(buf, buf + avail, &hdr_size);
	if (len == 0 || hdr_size < (uint64_t)len || hdr_size > avail)
		return -1;
	off = (size_t)len;
	body = hdr_size;
	while (off < hdr_size) {
		len = gsr_varint_get(buf + off, buf + hdr_size, &st);
		if (len == 0 || st == 10 || st == 11)
			return -1;
		off += (size_t)len;
		size = serial_size(st);
		/* body <= declared holds throughout: no overflow. */
		if (size > declared - body || count == GSR_RECORD_MAX_VALUES)
			return -1;
		if (count < max_values)
			value_set(&values[count], buf, avail, body, st, size,
			          enc);
		body += size;
		count++;
	}
	if (body != declared)
		return -1;
	return (int)count;
}

int
gsr_record_decode(const unsigned char *buf, size_t n, struct gsr_value *values,
                  size_t max_values, uint32_t text_encoding)
{
	if (values == NULL)
		max_values = 0;
	return record_decode(buf, n, n, values, max_values, text_encoding);
}

int
gsr_record_decode_part(const unsigned char *buf, size_t avail,
                       uint64_t declared, struct gsr_value *values,
                       size_t max_values, uint32_t text_encoding)
{
	if (values == NULL)
		max_values = 0;
	return record_decode(buf, avail, declared, values, max_values,
	                     text_encoding);
}

/* ---- b-tree page headers ---------------------------------------------- */

/* True for the four b-tree page types. */
static bool
type_valid(uint8_t t)
{
	return t == GSR_PAGE_INDEX_INTERIOR || t == GSR_PAGE_TABLE_INTERIOR ||
	       t == GSR_PAGE_INDEX_LEAF || t == GSR_PAGE_TABLE_LEAF;
}

bool
gsr_page_hdr_parse(const unsigned char *page, uint32_t usable_size,
                   uint32_t hdr_off, struct gsr_page_hdr *h)
{
	uint32_t hsize;

	if (page == NULL || usable_size < 12 || hdr_off > usable_size - 12)
		return false;
	h->type = page[hdr_off];
	if (!type_valid(h->type))
		return false;
	hsize = gsr_page_is_interior(h->type) ? 12 : 8;
	h->first_free = gsr_get_u16(page + hdr_off + 1);
	h->n_cells = gsr_get_u16(page + hdr_off + 3);
	h->content = gsr_get_u16(page + hdr_off + 5);
	if (h->content == 0)
		h->content = 65536;
	h->right = hsize == 12 ? gsr_get_u32(page + hdr_off + 8) : 0;
	h->ptr_off = hdr_off + hsize;
	/* At most 100 + 12 + 2 * 65535: no overflow. */
	h->ptr_end = h->ptr_off + 2 * h->n_cells;
	return h->ptr_end <= usable_size;
}

int
gsr_btree_page_check(const unsigned char *page, uint32_t page_size,
                     uint32_t usable_size, uint32_t hdr_off, bool strict)
{
	struct gsr_page_hdr h;

	if (page == NULL)
		return 0;
	if (usable_size > page_size)
		usable_size = page_size;
	if (!gsr_page_hdr_parse(page, usable_size, hdr_off, &h))
		return 0;
	if (h.content < h.ptr_end || h.content > usable_size)
		return 0;
	if (h.first_free != 0 &&
	    (h.first_free < h.ptr_end || h.first_free > usable_size - 4))
		return 0;
	if (gsr_page_is_interior(h.type) && h.right == 0)
		return 0;
	if (strict) {
		for (uint32_t i = 0; i < h.n_cells; i++) {
			uint32_t ptr = gsr_get_u16(page + h.ptr_off + 2 * i);

			if (ptr < h.ptr_end || ptr > usable_size - 4)
				return 0;
		}
	}
	return h.type;
}
