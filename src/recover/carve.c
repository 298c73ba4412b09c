/* carve.c -- the carver of deleted records (see carve.h).
 *
 * Written from the SQLite file format document (sections 1.5, 1.6, 2.1)
 * and from what SQLite's btree.c does when it frees space: freeSpace()
 * writes a 4-byte freeblock header (next, size) at the start of a freed
 * cell unless the cell is merged into a freeblock that ends where it
 * starts, or lies at the start of the cell content area (then the content
 * area shrinks and nothing is written); pageFindSlot() hands out the tail
 * of a freeblock; freePage2() does not write a page it puts on the
 * freelist as a leaf.
 *
 * Each page is copied, its free regions listed, and every offset of every
 * region tried as a whole cell, a bare record and a cell whose first bytes
 * are a freeblock header.  The candidates that decode and fit a shape are
 * kept in an array; overlapping ones are then resolved (carve.h, struct
 * gsr_carve_stats) and the rest delivered in page order.  Every length and
 * offset read from the page is checked against the region it lies in.
 */
#include "compat.h"
#include "carve.h"
#include "bitmap.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "pagefile.h"
#include "record.h"
#include "sqlhdr.h"
#include "strbuf.h"

/* The most values a shape may have: SQLite's own hard limit is 32767. */
#define MAX_SHAPE_COLS 32767u
/* Fewer values than this are found by chance in any free space: such
 * shapes are used only for cells listed by a cell pointer array. */
#define MIN_CARVE_COLS 3u

/* Which shapes pick() may choose. */
#define PICK_NULL_FIRST 0x01 /* only those whose first value is NULL */
#define PICK_SHORT 0x02      /* also those of fewer than MIN_CARVE_COLS */

/* A free region of the page being carved: bytes [start, end). */
struct region {
	uint32_t start, end;
	const char *source;
};

/* A candidate row in the page being carved. */
struct cand {
	uint32_t start, end; /* the bytes of the page it takes */
	uint32_t vrec;       /* where its record starts (REBUILT: would
	                        start, before the k lost bytes) */
	uint32_t body;       /* where the record's body starts */
	uint32_t local;      /* record bytes in the page (REBUILT: with the
	                        k rebuilt ones) */
	uint64_t payload;    /* the record's size */
	int64_t rowid;
	uint32_t shape;
	uint32_t region;
	uint16_t hsize; /* REBUILT: the record header's size */
	uint8_t kind;   /* enum gsr_carved_kind */
	uint8_t k;      /* REBUILT: record bytes rebuilt, 1 or 2 */
	bool rowid_known;
	bool rowid_order; /* rowid inferred from page order */
	bool ambiguous;
	bool dropped;
	bool conflict; /* dropped for overlapping another reading */
};

/* A live cell of the page being carved (its b-tree's own cells). */
struct live {
	uint32_t start, end; /* the bytes of the page it takes */
	uint32_t vrec, local;
	uint64_t payload;
	int64_t rowid;
};

/* A reading of a cell whose first bytes are a freeblock header. */
struct reading {
	uint32_t cell;
	uint32_t shape;
	uint32_t local;
	uint64_t payload;
	uint16_t hsize;
	uint8_t k;
	bool exact; /* the cell fills the freeblock exactly */
	bool ambiguous;
};

struct gsr_carver {
	struct gsr_ctx *ctx;
	struct gsr_pagefile *pf;
	struct gsr_pagefile_info in;
	const struct gsr_shape *shapes;
	size_t n_shapes;
	size_t min_vals, max_vals; /* over all shapes */
	size_t scan_min;           /* over shapes of MIN_CARVE_COLS or more */
	uint8_t *pos_mask; /* [max_vals + 2]: classes some shape accepts at
	                      value i */
	bool null_first;   /* some shape's first value is always NULL */
	unsigned char *fl_leaf, *fl_trunk, *ovfl_used; /* page bitmaps */
	/* The survey (gsr_carver_survey()): pages surveyed, and freelist
	 * pages on the overflow chain of one record (claim1) or of more
	 * (claim2). */
	unsigned char *surveyed, *claim1, *claim2;
	bool survey_done, in_survey;
	unsigned char *page; /* a copy of the page being carved */
	uint32_t pgno;
	unsigned char *claimed; /* bytes of the page already delivered */
	struct region *regions;
	size_t n_regions, cap_regions;
	struct cand *cands;
	size_t n_cands, cap_cands;
	struct live *lives; /* the live cells, for page order */
	size_t n_lives, cap_lives;
	size_t *run; /* candidates between two live cells */
	size_t cap_run;
	/* Serial types read after a freeblock header: their class, and the
	 * header bytes and body bytes of the first i of them. */
	uint8_t *t_class;
	uint32_t *t_bytes;
	uint64_t *t_body;
	unsigned char *scratch; /* a rebuilt record's part in the page */
	unsigned char *rec;     /* a record with its overflow pages */
	size_t rec_cap;
	unsigned char *text; /* UTF-8 of a UTF-16 record's TEXT */
	size_t text_cap;
	uint32_t *chain; /* the overflow pages of one record */
	size_t chain_cap;
	struct gsr_value *vals; /* max_vals + 1 */
	uint64_t calls;
};

/* ---- shapes --------------------------------------------------------- */

/* The class bit of serial type st, 0 for the reserved 10 and 11. */
static uint8_t
st_class(uint64_t st)
{
	if (st == 0)
		return GSR_ALLOW_NULL;
	if (st == 7)
		return GSR_ALLOW_REAL;
	if (st <= 9)
		return GSR_ALLOW_INT;
	if (st < 12)
		return 0;
	return (st & 1) ? GSR_ALLOW_TEXT : GSR_ALLOW_BLOB;
}

static bool
is_digit(unsigned char c)
{
	return c >= '0' && c <= '9';
}

/* 1 when TEXT v passes the checks chk (for a cut-short value: what it
 * holds could start a passing value), 0 when no check applies, -1 when
 * it fails. */
static int
text_checks(const struct gsr_value *v, uint8_t chk)
{
	static const char json_first[] = "{[\"-0123456789tfn";
	static const char date_pat[] = "dddd-dd-dd";
	int r = 0;

	if (chk & GSR_CHECK_JSON) {
		size_t i = 0;

		while (i < v->n && (v->p[i] == ' ' || v->p[i] == '\t' ||
		                    v->p[i] == '\n' || v->p[i] == '\r'))
			i++;
		if (i == v->n) {
			if (!v->truncated)
				return -1;
		} else if (v->p[i] == '\0' ||
		           strchr(json_first, v->p[i]) == NULL) {
			return -1;
		} else if (v->p[i] == 't' || v->p[i] == 'f' || v->p[i] == 'n') {
			const char *lit = v->p[i] == 't'   ? "true"
			                  : v->p[i] == 'f' ? "false"
			                                   : "null";
			size_t len = strlen(lit), have = v->n - i;

			if (have < len ? !v->truncated ||
			                     memcmp(v->p + i, lit, have) != 0
			               : memcmp(v->p + i, lit, len) != 0)
				return -1;
		}
		r = 1;
	}
	if (chk & GSR_CHECK_DATETIME) {
		size_t len = sizeof date_pat - 1;

		if (v->n < len && !v->truncated)
			return -1;
		for (size_t i = 0; i < len && i < v->n; i++) {
			if (date_pat[i] == 'd' ? !is_digit(v->p[i])
			                       : v->p[i] != date_pat[i])
				return -1;
		}
		r = 1;
	}
	return r;
}

/* The points of value v as column i of shape s, -1 when it does not fit. */
static int
col_score(const struct gsr_shape *s, size_t i, const struct gsr_value *v)
{
	uint8_t allowed = s->allowed != NULL ? s->allowed[i] : GSR_ALLOW_ANY;
	uint8_t chk = s->checks != NULL ? s->checks[i] : 0;
	const char *const *en = s->enums != NULL ? s->enums[i] : NULL;
	int pts = 0;

	if (s->ipk >= 0 && (size_t)s->ipk == i)
		return v->type == GSR_V_NULL && !v->truncated ? 0 : -1;
	if (v->type == GSR_V_NULL && v->truncated)
		return 0; /* a number that could not be read */
	if ((allowed & (1u << v->type)) == 0)
		return -1;
	if (v->type == GSR_V_NULL)
		return 0;
	pts = 1;
	if (v->type == GSR_V_INT) {
		if ((chk & GSR_CHECK_BOOL) && v->i != 0 && v->i != 1)
			return -1;
		if ((chk & GSR_CHECK_NONNEG) && v->i < 0)
			return -1;
		if (chk & GSR_CHECK_BOOL)
			pts += 2;
	}
	if (v->type != GSR_V_TEXT)
		return pts;
	switch (text_checks(v, chk)) {
	case -1:
		return -1;
	case 1:
		pts += 2;
		break;
	default:
		break;
	}
	if (en != NULL) {
		bool hit = false;

		for (size_t k = 0; en[k] != NULL && !hit; k++) {
			size_t len = strlen(en[k]);

			hit =
			    v->truncated
			        ? v->n <= len && memcmp(en[k], v->p, v->n) == 0
			        : v->n == len && memcmp(en[k], v->p, len) == 0;
		}
		if (!hit)
			return -1;
		pts += 4;
	}
	return pts;
}

int
gsr_shape_score(const struct gsr_shape *s, const struct gsr_value *v, size_t n)
{
	size_t min;
	int score = 0;

	if (s == NULL || s->n_cols == 0 || (n > 0 && v == NULL))
		return -1;
	min = s->min_cols == 0 || s->min_cols > s->n_cols ? s->n_cols
	                                                  : s->min_cols;
	if (n < min || n > s->n_cols)
		return -1;
	for (size_t i = 0; i < n; i++) {
		int pts = col_score(s, i, &v[i]);

		if (pts < 0)
			return -1;
		score += pts;
	}
	if (n == s->n_cols)
		score += 4;
	return score;
}

bool
gsr_shape_fits(const struct gsr_shape *s, const struct gsr_value *v, size_t n)
{
	return gsr_shape_score(s, v, n) >= 0;
}

/* True when the first value of s is always NULL (so that it can be
 * rebuilt). */
static bool
first_null(const struct gsr_shape *s)
{
	return s->ipk == 0 ||
	       (s->allowed != NULL && s->allowed[0] == GSR_ALLOW_NULL);
}

/* gsr_shape_pick(), among the shapes flags (PICK_*) allow. */
static int
pick(const struct gsr_shape *shapes, size_t n_shapes, unsigned flags,
     const struct gsr_value *v, size_t n, bool *tie)
{
	int best = -1, best_score = -1;
	bool t = false;

	for (size_t i = 0; i < n_shapes; i++) {
		int sc;

		if ((flags & PICK_NULL_FIRST) && !first_null(&shapes[i]))
			continue;
		if (!(flags & PICK_SHORT) && shapes[i].n_cols < MIN_CARVE_COLS)
			continue;
		sc = gsr_shape_score(&shapes[i], v, n);
		if (sc < 0)
			continue;
		if (sc > best_score) {
			best = (int)i;
			best_score = sc;
			t = false;
		} else if (sc == best_score) {
			t = true;
		}
	}
	if (tie != NULL)
		*tie = t;
	return best;
}

int
gsr_shape_pick(const struct gsr_shape *shapes, size_t n_shapes,
               const struct gsr_value *v, size_t n, bool *tie)
{
	if (tie != NULL)
		*tie = false;
	if (shapes == NULL)
		return -1;
	return pick(shapes, n_shapes, PICK_SHORT, v, n, tie);
}

/* ---- plausibility ---------------------------------------------------- */

/* True when p (n bytes) is valid UTF-8; when cut, a last character cut
 * short is accepted. */
static bool
utf8_valid(const unsigned char *p, size_t n, bool cut)
{
	size_t i = 0;

	while (i < n) {
		unsigned char c = p[i];
		size_t len;
		uint32_t cp;

		if (c < 0x80) {
			i++;
			continue;
		}
		if (c >= 0xc2 && c <= 0xdf) {
			len = 2;
			cp = c & 0x1f;
		} else if (c >= 0xe0 && c <= 0xef) {
			len = 3;
			cp = c & 0x0f;
		} else if (c >= 0xf0 && c <= 0xf4) {
			len = 4;
			cp = c & 0x07;
		} else {
			return false;
		}
		for (size_t k = 1; k < len; k++) {
			if (i + k >= n)
				return cut;
			if ((p[i + k] & 0xc0) != 0x80)
				return false;
			cp = cp << 6 | (p[i + k] & 0x3f);
		}
		if ((len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000) ||
		    (cp >= 0xd800 && cp <= 0xdfff) || cp > 0x10ffff)
			return false;
		i += len;
	}
	return true;
}

/* True when the values could have been written by SQLite from an
 * application's data: no NaN, text valid and without NUL. */
static bool
plausible(const struct gsr_value *v, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		if (v[i].encoding_error)
			return false;
		if (v[i].type == GSR_V_REAL && isnan(v[i].r))
			return false;
		if (v[i].type == GSR_V_TEXT &&
		    (memchr(v[i].p, 0, v[i].n) != NULL ||
		     !utf8_valid(v[i].p, v[i].n, v[i].truncated)))
			return false;
	}
	return true;
}

/* ---- varints ---------------------------------------------------------- */

static int
varint_len(uint64_t v)
{
	int n = 1;

	if (v > 0x00ffffffffffffffULL)
		return 9;
	while ((v >>= 7) != 0)
		n++;
	return n;
}

/* gsr_varint_get(), refusing a varint longer than needed: SQLite always
 * writes the shortest. */
static int
varint_min(const unsigned char *p, const unsigned char *end, uint64_t *v)
{
	int len = gsr_varint_get(p, end, v);

	return len != 0 && len == varint_len(*v) ? len : 0;
}

/* ---- claimed bytes ---------------------------------------------------- */

/* True when any byte of [a, b) of the page is claimed. */
static bool
range_claimed(const struct gsr_carver *cv, uint32_t a, uint32_t b)
{
	for (uint32_t i = a; i < b; i++) {
		if (gsr_bit_test(cv->claimed, i))
			return true;
	}
	return false;
}

static void
range_claim(struct gsr_carver *cv, uint32_t a, uint32_t b)
{
	for (uint32_t i = a; i < b; i++)
		gsr_bit_set(cv->claimed, i);
}

/* ---- buffers ---------------------------------------------------------- */

/* Grow *buf to need bytes.  Returns 0, or -1 on an error recorded. */
static int
grow_bytes(struct gsr_carver *cv, unsigned char **buf, size_t *cap, size_t need)
{
	if (need <= *cap)
		return 0;
	if (gsr_grow((void **)buf, cap, need, 1))
		return gsr_ctx_fail(cv->ctx, GSR_ERR_NOMEM,
		                    "out of memory carving a record of %zu "
		                    "bytes",
		                    need);
	return 0;
}

/* In a UTF-16 database, convert the TEXT values among cv->vals[0..n) to
 * UTF-8 in cv->text.  Returns 0, 1 when one is not valid UTF-16 (not a
 * carvable row), -1 on an error recorded. */
static int
convert_text(struct gsr_carver *cv, size_t n)
{
	uint32_t enc = cv->in.text_encoding;
	size_t total = 0, pos = 0;

	if (enc != 2 && enc != 3)
		return 0;
	for (size_t i = 0; i < n; i++) {
		if (cv->vals[i].type == GSR_V_TEXT)
			total += cv->vals[i].n / 2 * 3; /* n <= 1 GiB */
	}
	if (grow_bytes(cv, &cv->text, &cv->text_cap, total))
		return -1;
	for (size_t i = 0; i < n; i++) {
		bool bad = false;

		if (cv->vals[i].type == GSR_V_TEXT)
			/* cv->text is still NULL when no value holds a whole
			 * UTF-16 unit: no arithmetic on it then. */
			pos += gsr_value_utf16_to_utf8(
			    &cv->vals[i], enc == 3,
			    cv->text ? cv->text + pos : NULL, &bad);
		if (bad)
			return 1;
	}
	return 0;
}

/*
 * Decode the record buf[0..avail) of payload bytes into cv->vals and
 * choose its shape among those flags (PICK_*) allow, only when it has want
 * values (0: any).  *n_out is the number of values.  Returns the shape, -1
 * when it is no plausible row of any shape, -2 when two shapes fit equally
 * well, -3 on an error recorded on the context.
 */
static int
judge(struct gsr_carver *cv, const unsigned char *buf, size_t avail,
      uint64_t payload, size_t want, unsigned flags, size_t *n_out)
{
	bool tie = false;
	int n, s, rc;

	*n_out = 0;
	n = gsr_record_decode_part(buf, avail, payload, cv->vals,
	                           cv->max_vals + 1, cv->in.text_encoding);
	if (n < 0 || (size_t)n < cv->min_vals || (size_t)n > cv->max_vals ||
	    (want != 0 && (size_t)n != want))
		return -1;
	rc = convert_text(cv, (size_t)n);
	if (rc < 0)
		return -3;
	if (rc > 0 || !plausible(cv->vals, (size_t)n))
		return -1;
	s = pick(cv->shapes, cv->n_shapes, flags, cv->vals, (size_t)n, &tie);
	*n_out = (size_t)n;
	if (s < 0)
		return -1;
	return tie ? -2 : s;
}

/* ---- candidates ------------------------------------------------------- */

/* True when the n body bytes at p (the part in the page) are not all 0. */
static bool
body_has_data(const unsigned char *p, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		if (p[i] != 0)
			return true;
	}
	return false;
}

static int
push_cand(struct gsr_carver *cv, const struct cand *c)
{
	if (gsr_grow((void **)&cv->cands, &cv->cap_cands, cv->n_cands + 1,
	             sizeof *cv->cands))
		return gsr_ctx_fail(cv->ctx, GSR_ERR_NOMEM,
		                    "out of memory carving page %u", cv->pgno);
	cv->cands[cv->n_cands++] = *c;
	return 0;
}

/*
 * The record at offset rec of region r, in a cell of the given kind that
 * starts at start (FULL: payload and rowid known, RECORD: payload 0, not
 * known).  Adds a candidate when the record decodes within the region and
 * fits a shape.  Returns 0, or -1 on an error recorded.
 */
static int
probe_record(struct gsr_carver *cv, uint32_t ri, uint32_t start, uint32_t rec,
             uint8_t kind, uint64_t payload, int64_t rowid)
{
	const struct region *r = &cv->regions[ri];
	const unsigned char *pg = cv->page;
	uint64_t h, st, body = 0, total, local;
	uint32_t off, hend, end;
	size_t n = 0, got;
	struct cand c;
	int len, s;

	if (rec >= r->end)
		return 0;
	len = varint_min(pg + rec, pg + r->end, &h);
	if (len == 0 || h <= (uint64_t)len || h > r->end - rec)
		return 0;
	hend = rec + (uint32_t)h;
	for (off = rec + (uint32_t)len; off < hend; off += (uint32_t)len) {
		len = varint_min(pg + off, pg + hend, &st);
		if (len == 0 || n >= cv->max_vals ||
		    (st_class(st) & cv->pos_mask[n]) == 0)
			return 0;
		/* body <= 2^30 before, a size < 2^63: no wrap. */
		body += gsr_serial_size(st);
		if (body > GSR_RECORD_MAX)
			return 0;
		n++;
	}
	if (n < cv->scan_min)
		return 0;
	total = h + body;
	if (payload != 0 && payload != total)
		return 0;
	local = gsr_local_size(total, cv->in.usable_size, true);
	if (local < h)
		return 0;
	end = rec + (uint32_t)local + (local < total ? 4 : 0);
	if (local > r->end - rec || end > r->end)
		return 0;
	/* Nothing but NULLs and the constants 0 and 1, or a body of zero
	 * bytes, is what zeroed space looks like. */
	if (!body_has_data(pg + hend, (size_t)(local - h)))
		return 0;
	s = judge(cv, pg + rec, (size_t)local, total, n, 0, &got);
	if (s == -3)
		return -1;
	if (s == -1)
		return 0;
	memset(&c, 0, sizeof c);
	c.start = start;
	c.end = end;
	c.vrec = rec;
	c.body = hend;
	c.local = (uint32_t)local;
	c.payload = total;
	c.rowid = rowid;
	c.rowid_known = kind == GSR_CARVED_FULL;
	c.shape = s < 0 ? 0 : (uint32_t)s;
	c.region = ri;
	c.kind = kind;
	c.ambiguous = s == -2;
	return push_cand(cv, &c);
}

/* A whole cell at offset x of region ri: payload size, rowid, record. */
static int
probe_full(struct gsr_carver *cv, uint32_t ri, uint32_t x)
{
	const struct region *r = &cv->regions[ri];
	const unsigned char *pg = cv->page;
	uint64_t payload, rowid;
	int lp, lr;

	lp = varint_min(pg + x, pg + r->end, &payload);
	if (lp == 0 || payload < 2 || payload > GSR_RECORD_MAX)
		return 0;
	lr = varint_min(pg + x + lp, pg + r->end, &rowid);
	if (lr == 0)
		return 0;
	return probe_record(cv, ri, x, x + (uint32_t)lp + (uint32_t)lr,
	                    GSR_CARVED_FULL, payload, (int64_t)rowid);
}

/* Copy the part in the page of the record a REBUILT reading describes
 * into cv->scratch: the k rebuilt header bytes, then the page's bytes
 * from cell + 4. */
static void
rebuild_local(struct gsr_carver *cv, uint32_t cell, uint8_t k, uint16_t hsize,
              uint32_t local)
{
	cv->scratch[0] = (unsigned char)hsize;
	if (k == 2)
		cv->scratch[1] = 0;
	memcpy(cv->scratch + k, cv->page + cell + 4, local - k);
}

/*
 * A cell at offset x of region ri whose first 4 bytes are a freeblock
 * header and whose record header lost its size byte (k = 1) or its size
 * byte and a first serial type that was 0 (k = 2).  See GSR_CARVED_REBUILT
 * in carve.h.
 */
static int
probe_rebuilt(struct gsr_carver *cv, uint32_t ri, uint32_t x)
{
	const struct region *r = &cv->regions[ri];
	const unsigned char *pg = cv->page;
	uint32_t usable = cv->in.usable_size, nxt, size, off = x + 4;
	struct reading best, one;
	size_t n = 0, n_found = 0, n_exact = 0;
	struct cand c;

	if (r->end - x < 6)
		return 0;
	nxt = gsr_get_u16(pg + x);
	size = gsr_get_u16(pg + x + 2);
	if (size < 4 || size > usable - x ||
	    (nxt != 0 && (nxt < x + size + 4 || nxt > usable - 4)))
		return 0;
	cv->t_bytes[0] = 0;
	cv->t_body[0] = 0;
	while (n < cv->max_vals && off < r->end) {
		uint64_t st;
		int len = varint_min(pg + off, pg + r->end, &st);
		uint8_t cls = st_class(st);

		if (len == 0 ||
		    (cls & (cv->pos_mask[n] | cv->pos_mask[n + 1])) == 0)
			break;
		off += (uint32_t)len;
		cv->t_class[n] = cls;
		cv->t_bytes[n + 1] = off - (x + 4);
		cv->t_body[n + 1] = cv->t_body[n] + gsr_serial_size(st);
		n++;
		if (cv->t_body[n] > 16383)
			break; /* more than a rebuilt cell can hold */
		if (cv->t_bytes[n] > 126)
			break; /* the header would need 2 bytes for its size */
	}
	memset(&best, 0, sizeof best);
	for (uint8_t k = 1; k <= 2; k++) {
		bool ok = true;

		if (k == 2 && !cv->null_first)
			break;
		for (size_t m = 0; m <= n && ok; m++) {
			size_t nv = m + (k == 2), got;
			uint64_t hsize, payload, local, cell;
			int s;

			if (m > 0)
				ok = (cv->t_class[m - 1] &
				      cv->pos_mask[m - 1 + (k == 2)]) != 0;
			if (!ok || nv < cv->scan_min || nv > cv->max_vals)
				continue;
			hsize = k + cv->t_bytes[m];
			payload = hsize + cv->t_body[m];
			if (hsize > 127 || payload > (k == 2 ? 127u : 16383u))
				continue;
			local = gsr_local_size(payload, usable, true);
			if (local < hsize)
				continue;
			cell = 4 - k + local + (local < payload ? 4 : 0);
			if (cell > size || cell > r->end - x)
				continue;
			if (!body_has_data(pg + x + 4 + (hsize - k),
			                   (size_t)(local - hsize)))
				continue;
			rebuild_local(cv, x, k, (uint16_t)hsize,
			              (uint32_t)local);
			s = judge(cv, cv->scratch, (size_t)local, payload, nv,
			          k == 2 ? PICK_NULL_FIRST : 0, &got);
			if (s == -3)
				return -1;
			if (s == -1)
				continue;
			one.cell = (uint32_t)cell;
			one.shape = s < 0 ? 0 : (uint32_t)s;
			one.local = (uint32_t)local;
			one.payload = payload;
			one.hsize = (uint16_t)hsize;
			one.k = k;
			one.exact = cell == size;
			one.ambiguous = s == -2;
			n_found++;
			n_exact += one.exact;
			/* Keep an exact reading over one that is not. */
			if (n_found == 1 || (one.exact && !best.exact))
				best = one;
		}
	}
	if (n_found == 0)
		return 0;
	/* Several readings: only a single exact one is taken. */
	if (n_found > 1 && n_exact != 1)
		best.ambiguous = true;
	memset(&c, 0, sizeof c);
	c.start = x;
	c.end = x + best.cell;
	c.vrec = x + 4 - best.k;
	c.body = c.vrec + best.hsize;
	c.local = best.local;
	c.payload = best.payload;
	c.shape = best.shape;
	c.region = ri;
	c.hsize = best.hsize;
	c.kind = GSR_CARVED_REBUILT;
	c.k = best.k;
	c.ambiguous = best.ambiguous;
	return push_cand(cv, &c);
}

/* Try every offset of region ri.  Returns 0, or -1 on an error. */
static int
scan_region(struct gsr_carver *cv, uint32_t ri, struct gsr_carve_stats *st)
{
	struct region r = cv->regions[ri];

	st->bytes_scanned += r.end - r.start;
	for (uint32_t x = r.start; x + 2 <= r.end; x++) {
		if (probe_full(cv, ri, x) ||
		    probe_record(cv, ri, x, x, GSR_CARVED_RECORD, 0, 0) ||
		    probe_rebuilt(cv, ri, x))
			return -1;
	}
	return 0;
}

/* The kinds in order of strength: a whole cell says the most. */
static bool
stronger(const struct cand *a, const struct cand *b)
{
	return a->kind < b->kind;
}

/*
 * Resolve the candidates of the page (in order of start): readings of one
 * record keep the strongest; other overlaps are conflicts (carve.h).
 */
static void
resolve(struct gsr_carver *cv, struct gsr_carve_stats *st)
{
	for (size_t i = 0; i < cv->n_cands; i++) {
		struct cand *a = &cv->cands[i];

		for (size_t j = i + 1; j < cv->n_cands && !a->dropped; j++) {
			struct cand *b = &cv->cands[j];

			if (b->start >= a->end)
				break;
			if (b->dropped)
				continue;
			if (b->vrec == a->vrec && b->payload == a->payload) {
				/* The same record read twice. */
				if (stronger(b, a))
					a->dropped = true;
				else
					b->dropped = true;
				continue;
			}
			if (b->start >= a->body) {
				a->dropped = a->conflict = true;
				st->conflicts++;
			} else {
				a->dropped = a->conflict = true;
				b->dropped = b->conflict = true;
				st->conflicts += 2;
			}
		}
	}
}

/* ---- page order ------------------------------------------------------- */

/*
 * The live cells of the table leaf being carved (header h) into cv->lives,
 * in the order of the cell pointer array.  Returns 0 when the page is in
 * insertion order: rowids increasing and cells written downward from the
 * end of the page, each cell whole in the content area; 1 when it is not
 * (or a cell does not parse): no rowid is inferred from its order; -1 on
 * an error recorded.
 */
static int
read_lives(struct gsr_carver *cv, const struct gsr_page_hdr *h)
{
	uint32_t usable = cv->in.usable_size;
	const unsigned char *end = cv->page + usable;

	cv->n_lives = 0;
	for (uint32_t i = 0; i < h->n_cells; i++) {
		uint32_t off = gsr_get_u16(cv->page + h->ptr_off + 2 * i);
		uint64_t payload, rowid, local;
		struct live *l, *prev;
		int lp, lr;

		if (off < h->content || off >= usable)
			return 1;
		lp = gsr_varint_get(cv->page + off, end, &payload);
		if (lp == 0 || payload == 0 || payload > GSR_RECORD_MAX)
			return 1;
		lr = gsr_varint_get(cv->page + off + lp, end, &rowid);
		if (lr == 0 || (int64_t)rowid < 1)
			return 1;
		local = gsr_local_size(payload, usable, true);
		if (local > usable - off - (uint32_t)(lp + lr) ||
		    (local < payload &&
		     usable - off - (uint32_t)(lp + lr) - local < 4))
			return 1;
		if (gsr_grow((void **)&cv->lives, &cv->cap_lives,
		             cv->n_lives + 1, sizeof *cv->lives))
			return gsr_ctx_fail(cv->ctx, GSR_ERR_NOMEM,
			                    "out of memory carving page %u",
			                    cv->pgno);
		l = &cv->lives[cv->n_lives];
		l->start = off;
		l->vrec = off + (uint32_t)(lp + lr);
		l->local = (uint32_t)local;
		l->end = l->vrec + l->local + (local < payload ? 4 : 0);
		l->payload = payload;
		l->rowid = (int64_t)rowid;
		prev = cv->n_lives ? l - 1 : NULL;
		if (prev && (l->rowid <= prev->rowid || l->end > prev->start))
			return 1;
		cv->n_lives++;
	}
	return 0;
}

/* The shape of the record of candidate c, decoded into cv->vals (the part
 * in the page, as deliver() reads it without its overflow pages), or < 0
 * (-3 on an error recorded). */
static int
cand_values(struct gsr_carver *cv, const struct cand *c, size_t *n)
{
	const unsigned char *buf = cv->page + c->vrec;
	unsigned flags =
	    c->kind == GSR_CARVED_REBUILT && c->k == 2 ? PICK_NULL_FIRST : 0;

	if (c->kind == GSR_CARVED_REBUILT) {
		rebuild_local(cv, c->start, c->k, c->hsize, c->local);
		buf = cv->scratch;
	}
	return judge(cv, buf, c->local, c->payload, 0, flags, n);
}

/* Up to ORDER_COLS date-time columns, compared on their first ORDER_LEN
 * bytes. */
#define ORDER_COLS 4
#define ORDER_LEN 32

struct order_key {
	size_t col[ORDER_COLS];
	size_t n_cols;
	unsigned char v[ORDER_COLS][ORDER_LEN];
	uint8_t len[ORDER_COLS]; /* 0: no TEXT there */
};

/* The date-time values of cv->vals[0..n) in the columns k names. */
static void
order_key_take(const struct gsr_carver *cv, size_t n, struct order_key *k)
{
	for (size_t j = 0; j < k->n_cols; j++) {
		const struct gsr_value *v = &cv->vals[k->col[j]];

		k->len[j] = 0;
		if (k->col[j] >= n || v->type != GSR_V_TEXT || v->n == 0)
			continue;
		k->len[j] = (uint8_t)(v->n < ORDER_LEN ? v->n : ORDER_LEN);
		memcpy(k->v[j], v->p, k->len[j]);
	}
}

/* <0, 0, >0 as value j of a is before, equal to or after b's. */
static int
order_cmp(const struct order_key *a, const struct order_key *b, size_t j)
{
	size_t n = a->len[j] < b->len[j] ? a->len[j] : b->len[j];
	int d = memcmp(a->v[j], b->v[j], n);

	return d ? d : (int)a->len[j] - (int)b->len[j];
}

/*
 * Whether the candidates run[0..k) (in increasing order of the rowids they
 * would get) fit between live cells l and r of shape s: each of the same
 * shape, and in every date-time column (GSR_CHECK_DATETIME) whose values l
 * and r hold in order, values in that order too (a row inserted later in
 * a freed cell's space would show a later time).  Returns 1, 0, or -1 on
 * an error recorded.
 */
static int
order_fits(struct gsr_carver *cv, const struct live *l, const struct live *r,
           size_t k)
{
	const struct gsr_shape *sh;
	struct order_key lo, hi, cur;
	size_t n;
	int s;

	s = judge(cv, cv->page + l->vrec, l->local, l->payload, 0, PICK_SHORT,
	          &n);
	if (s < 0)
		return s == -3 ? -1 : 0;
	sh = &cv->shapes[s];
	memset(&lo, 0, sizeof lo);
	for (size_t j = 0; sh->checks && j < sh->n_cols; j++)
		if ((sh->checks[j] & GSR_CHECK_DATETIME) &&
		    lo.n_cols < ORDER_COLS)
			lo.col[lo.n_cols++] = j;
	hi = cur = lo;
	order_key_take(cv, n, &lo);
	if (judge(cv, cv->page + r->vrec, r->local, r->payload, 0, PICK_SHORT,
	          &n) != s)
		return gsr_ctx_failed(cv->ctx) ? -1 : 0;
	order_key_take(cv, n, &hi);
	for (size_t i = 0; i < k; i++) {
		const struct cand *c = &cv->cands[cv->run[i]];

		if (c->shape != (uint32_t)s || cand_values(cv, c, &n) != s)
			return gsr_ctx_failed(cv->ctx) ? -1 : 0;
		order_key_take(cv, n, &cur);
		for (size_t j = 0; j < lo.n_cols; j++) {
			if (lo.len[j] == 0 || hi.len[j] == 0 ||
			    order_cmp(&lo, &hi, j) > 0 || cur.len[j] == 0)
				continue;
			if (order_cmp(&lo, &cur, j) > 0 ||
			    order_cmp(&cur, &hi, j) > 0)
				return 0;
			lo.len[j] = cur.len[j];
			memcpy(lo.v[j], cur.v[j], cur.len[j]);
		}
	}
	return 1;
}

/*
 * The candidates between live cells l (above) and r (below it, the next
 * rowid): into cv->run, in decreasing order of offset, which is increasing
 * order of insertion.  Returns their count, or (size_t)-1 when the space
 * between them holds something else: a candidate across its bounds, one
 * that is ambiguous, or one dropped for overlapping another (the space was
 * written again), or on an error recorded.
 */
static size_t
run_between(struct gsr_carver *cv, const struct live *l, const struct live *r)
{
	size_t k = 0;

	for (size_t i = 0; i < cv->n_cands; i++) {
		const struct cand *c = &cv->cands[i];

		if (c->end <= r->end || c->start >= l->start)
			continue;
		if (c->start < r->end || c->end > l->start || c->ambiguous ||
		    c->conflict)
			return (size_t)-1;
		if (c->dropped)
			continue;
		if (gsr_grow((void **)&cv->run, &cv->cap_run, k + 1,
		             sizeof *cv->run)) {
			gsr_ctx_fail(cv->ctx, GSR_ERR_NOMEM,
			             "out of memory carving page %u", cv->pgno);
			return (size_t)-1;
		}
		/* Insertion sort by decreasing start. */
		{
			size_t j = k++;

			while (j > 0 &&
			       cv->cands[cv->run[j - 1]].start < c->start) {
				cv->run[j] = cv->run[j - 1];
				j--;
			}
			cv->run[j] = i;
		}
	}
	return k;
}

/*
 * Rowids from page order (carve.h, rowid_from_order), on a table leaf in
 * use whose header is h: for each two live cells next to each other in
 * rowid order, the candidates in the space between them, when there are
 * exactly as many as the rowids they leave out, none has a rowid of its
 * own that disagrees, and they fit in shape and time (order_fits()).
 * Returns 0, or -1 on an error recorded.
 */
static int
order_rowids(struct gsr_carver *cv, const struct gsr_page_hdr *h)
{
	int rc = read_lives(cv, h);

	if (rc != 0 || cv->n_lives == 0)
		return rc < 0 ? -1 : 0;
	/* A row above the first live cell or below the last one (in the
	 * content area, or freed at its start, which then moved up to
	 * where the row ended) may have been written after the live cells:
	 * an update that moved a row, whose old version then lies between
	 * live cells with stale values, or a row appended later.  The
	 * page's order is not trusted then.  Older bytes further down the
	 * unallocated area (left by a rebuild of the page) are no such
	 * sign. */
	for (size_t i = 0; i < cv->n_cands; i++) {
		const struct cand *c = &cv->cands[i];

		if (c->dropped)
			continue;
		if (c->start >= cv->lives[0].end ||
		    (c->start < cv->lives[cv->n_lives - 1].start &&
		     (c->start >= h->content || c->end == h->content)))
			return 0;
	}
	for (size_t i = 0; i + 1 < cv->n_lives; i++) {
		const struct live *l = &cv->lives[i], *r = &cv->lives[i + 1];
		int64_t gap = r->rowid - l->rowid - 1;
		size_t k;
		bool ok = true;

		if (gap <= 0)
			continue;
		k = run_between(cv, l, r);
		if (k == (size_t)-1) {
			if (gsr_ctx_failed(cv->ctx))
				return -1;
			continue;
		}
		if (k == 0 || (uint64_t)gap != k)
			continue;
		for (size_t j = 0; j < k && ok; j++) {
			const struct cand *c = &cv->cands[cv->run[j]];

			ok = !c->rowid_known ||
			     c->rowid == l->rowid + 1 + (int64_t)j;
		}
		if (!ok || (rc = order_fits(cv, l, r, k)) == 0)
			continue;
		if (rc < 0)
			return -1;
		for (size_t j = 0; j < k; j++) {
			struct cand *c = &cv->cands[cv->run[j]];

			if (c->rowid_known)
				continue;
			c->rowid = l->rowid + 1 + (int64_t)j;
			c->rowid_order = true;
		}
	}
	return 0;
}

/* ---- delivery --------------------------------------------------------- */

/* True when page pgno may be read as an overflow page of a record of the
 * page being carved: a freelist leaf that no other record of the survey
 * points into, and that no row delivered before used. */
static bool
chain_page_ok(const struct gsr_carver *cv, uint32_t pgno)
{
	bool mine = gsr_bit_test(cv->surveyed, cv->pgno);

	return pgno != 0 && pgno <= cv->in.n_pages &&
	       gsr_bit_test(cv->fl_leaf, pgno) &&
	       !gsr_bit_test(cv->ovfl_used, pgno) &&
	       !gsr_ptrmap_is_map_page(cv->pf, pgno) &&
	       (mine ? gsr_bit_test(cv->claim1, pgno) &&
	                   !gsr_bit_test(cv->claim2, pgno)
	             : !gsr_bit_test(cv->claim1, pgno));
}

/*
 * The survey's part for candidate c: count c's claim on each freelist
 * leaf its overflow chain would run through (as far as it can be read).
 * Returns 0, or -1 on an error recorded.
 */
static int
survey_claim(struct gsr_carver *cv, const struct cand *c)
{
	size_t chunk = cv->in.usable_size - 4;
	uint64_t pages;
	uint32_t next, at;

	if (c->payload <= c->local)
		return 0;
	at = c->kind == GSR_CARVED_REBUILT ? c->start + 4 + c->local - c->k
	                                   : c->vrec + c->local;
	next = gsr_get_u32(cv->page + at);
	pages = (c->payload - c->local + chunk - 1) / chunk;
	for (uint64_t i = 0; i < pages && i <= cv->in.n_pages; i++) {
		const unsigned char *p;

		if (next == 0 || next > cv->in.n_pages ||
		    !gsr_bit_test(cv->fl_leaf, next) ||
		    gsr_ptrmap_is_map_page(cv->pf, next))
			break;
		if (gsr_bit_test(cv->claim1, next))
			gsr_bit_set(cv->claim2, next);
		gsr_bit_set(cv->claim1, next);
		p = gsr_pagefile_page(cv->pf, next);
		if (p == NULL)
			return gsr_ctx_failed(cv->ctx) ? -1 : 0;
		next = gsr_get_u32(p);
	}
	return 0;
}

/* Give back the overflow pages of cv->chain[0..n). */
static void
unclaim_chain(struct gsr_carver *cv, size_t n)
{
	for (size_t i = 0; i < n; i++)
		gsr_bit_clear(cv->ovfl_used, cv->chain[i]);
}

/*
 * Reassemble into cv->rec the record of payload bytes whose first local
 * bytes are at local_buf and whose overflow chain starts at page first.
 * Each page of the chain must be a freelist leaf not used before, and the
 * last must end the chain (next pointer 0).  Returns the number of pages
 * of the chain, claimed in cv->ovfl_used (the caller gives them back with
 * unclaim_chain() if the record is not used), 0 when the chain cannot be
 * used, -1 on an error recorded.
 */
static long
read_chain(struct gsr_carver *cv, const unsigned char *local_buf, size_t local,
           uint64_t payload, uint32_t first)
{
	size_t chunk = cv->in.usable_size - 4, have = local, n = 0;
	uint64_t pages = (payload - local + chunk - 1) / chunk;
	uint32_t next = first;

	if (pages > cv->in.n_pages)
		return 0;
	/* The buffers grow with the pages actually read, not with what the
	 * record header claims. */
	if (grow_bytes(cv, &cv->rec, &cv->rec_cap, local))
		return -1;
	memcpy(cv->rec, local_buf, local);
	while (have < payload) {
		const unsigned char *p;
		size_t take =
		    payload - have < chunk ? (size_t)payload - have : chunk;

		if (!chain_page_ok(cv, next))
			break;
		if (grow_bytes(cv, &cv->rec, &cv->rec_cap, have + take) ||
		    gsr_grow((void **)&cv->chain, &cv->chain_cap, n + 1,
		             sizeof *cv->chain)) {
			unclaim_chain(cv, n);
			return gsr_ctx_fail(cv->ctx, GSR_ERR_NOMEM,
			                    "out of memory carving page %u",
			                    cv->pgno);
		}
		p = gsr_pagefile_page(cv->pf, next);
		if (p == NULL) {
			if (gsr_ctx_failed(cv->ctx)) {
				unclaim_chain(cv, n);
				return -1;
			}
			break;
		}
		gsr_bit_set(cv->ovfl_used, next);
		cv->chain[n++] = next;
		memcpy(cv->rec + have, p + 4, take);
		have += take;
		next = gsr_get_u32(p);
	}
	if (have < payload || next != 0) {
		unclaim_chain(cv, n);
		return 0;
	}
	return (long)n;
}

/*
 * Decode candidate c again, with its overflow pages when they can be used,
 * and hand it to fn.  Returns 0, 1 when fn asked to stop, -1 on error.
 */
static int
deliver(struct gsr_carver *cv, const struct cand *c, const char *source,
        int (*fn)(void *arg, const struct gsr_carved *row), void *arg,
        struct gsr_carve_stats *st)
{
	const unsigned char *local_buf = cv->page + c->vrec;
	struct gsr_carved row;
	size_t n = 0;
	long chain = 0;
	int s = -1;
	unsigned flags = c->kind == GSR_CARVED_REBUILT && c->k == 2
	                     ? PICK_NULL_FIRST
	                 : c->kind == GSR_CARVED_CELL ? PICK_SHORT
	                                              : 0;

	if (c->kind == GSR_CARVED_REBUILT) {
		rebuild_local(cv, c->start, c->k, c->hsize, c->local);
		local_buf = cv->scratch;
	}
	if (c->payload > c->local && cv->survey_done) {
		/* The overflow page number follows the local part. */
		uint32_t at = c->kind == GSR_CARVED_REBUILT
		                  ? c->start + 4 + c->local - c->k
		                  : c->vrec + c->local;

		chain = read_chain(cv, local_buf, c->local, c->payload,
		                   gsr_get_u32(cv->page + at));
		if (chain < 0)
			return -1;
		if (chain > 0) {
			s = judge(cv, cv->rec, (size_t)c->payload, c->payload,
			          0, flags, &n);
			if (s == -3)
				return -1;
			if (s < 0) {
				unclaim_chain(cv, (size_t)chain);
				chain = 0;
			}
		}
	}
	if (s < 0) {
		s = judge(cv, local_buf, c->local, c->payload, 0, flags, &n);
		if (s == -3)
			return -1;
		if (s < 0)
			return 0; /* cannot happen: it was judged so */
	}
	memset(&row, 0, sizeof row);
	row.source = source;
	row.kind = (enum gsr_carved_kind)c->kind;
	row.pgno = cv->pgno;
	row.offset = c->start;
	row.shape = (size_t)s;
	row.rowid = c->rowid_known || c->rowid_order ? c->rowid : 0;
	row.rowid_known = c->rowid_known;
	row.rowid_from_order = c->rowid_order;
	row.n_values = n;
	row.values = cv->vals;
	row.truncated = c->payload > c->local && chain == 0;
	if (c->kind == GSR_CARVED_REBUILT)
		row.confidence =
		    c->k == 1 ? "the record header's size was lost to the "
		                "freeblock header and rebuilt from the "
		                "serial types"
		              : "the record header's size and first "
		                "serial type were lost to the freeblock "
		                "header; rebuilt as NULL (the INTEGER "
		                "PRIMARY KEY or a NULL-only column)";
	st->rows++;
	st->rows_truncated += row.truncated;
	st->rows_rebuilt += c->kind == GSR_CARVED_REBUILT;
	return fn(arg, &row) != 0 ? 1 : 0;
}

/* ---- pages ------------------------------------------------------------ */

static int
push_region(struct gsr_carver *cv, uint32_t start, uint32_t end,
            const char *source)
{
	if (end <= start)
		return 0;
	if (gsr_grow((void **)&cv->regions, &cv->cap_regions, cv->n_regions + 1,
	             sizeof *cv->regions))
		return gsr_ctx_fail(cv->ctx, GSR_ERR_NOMEM,
		                    "out of memory carving page %u", cv->pgno);
	cv->regions[cv->n_regions].start = start;
	cv->regions[cv->n_regions].end = end;
	cv->regions[cv->n_regions].source = source;
	cv->n_regions++;
	return 0;
}

/*
 * The free regions of a page whose header (checked by
 * gsr_btree_page_check()) is h: the unallocated area and the freeblocks,
 * as far as the chain is sane (inside the page, after the pointer array,
 * in increasing order).
 */
static int
free_regions(struct gsr_carver *cv, const struct gsr_page_hdr *h,
             const char *gap, const char *fb)
{
	uint32_t usable = cv->in.usable_size, off = h->first_free;

	if (push_region(cv, h->ptr_end, h->content, gap))
		return -1;
	for (uint32_t hops = 0; off != 0 && hops < usable / 4; hops++) {
		uint32_t next, size;

		if (off < h->ptr_end || off > usable - 4)
			break;
		next = gsr_get_u16(cv->page + off);
		size = gsr_get_u16(cv->page + off + 2);
		if (size < 4 || size > usable - off)
			break;
		if (push_region(cv, off, off + size, fb))
			return -1;
		if (next != 0 && next <= off)
			break;
		off = next;
	}
	return 0;
}

/*
 * The cells of a freelist leaf page that is still a valid table leaf,
 * read as the walker reads them.  Returns 0, 1 when fn stopped, -1 on
 * error.
 */
static int
carve_cells(struct gsr_carver *cv, const struct gsr_page_hdr *h,
            int (*fn)(void *arg, const struct gsr_carved *row), void *arg,
            struct gsr_carve_stats *st)
{
	uint32_t usable = cv->in.usable_size;

	for (uint32_t i = 0; i < h->n_cells; i++) {
		uint32_t off = gsr_get_u16(cv->page + h->ptr_off + 2 * i);
		const unsigned char *end = cv->page + usable;
		uint64_t payload, rowid, local, hsize;
		struct cand c;
		size_t got;
		int lp, lr, s, rc;

		if (off < h->ptr_end || off >= usable)
			continue;
		lp = gsr_varint_get(cv->page + off, end, &payload);
		if (lp == 0 || payload == 0 || payload > GSR_RECORD_MAX)
			continue;
		lr = gsr_varint_get(cv->page + off + lp, end, &rowid);
		if (lr == 0)
			continue;
		memset(&c, 0, sizeof c);
		c.start = off;
		c.vrec = off + (uint32_t)lp + (uint32_t)lr;
		local = gsr_local_size(payload, usable, true);
		if (local > usable - c.vrec ||
		    (local < payload && usable - c.vrec - local < 4) ||
		    gsr_varint_get(cv->page + c.vrec, end, &hsize) == 0 ||
		    hsize > local) {
			st->cells_unfit++;
			continue;
		}
		c.local = (uint32_t)local;
		c.end = c.vrec + c.local + (local < payload ? 4 : 0);
		c.body = c.vrec + (uint32_t)hsize;
		c.payload = payload;
		c.rowid = (int64_t)rowid;
		c.rowid_known = true;
		c.kind = GSR_CARVED_CELL;
		if (range_claimed(cv, c.start, c.end)) {
			st->cells_unfit++;
			continue;
		}
		s = judge(cv, cv->page + c.vrec, c.local, payload, 0,
		          PICK_SHORT, &got);
		if (s == -3)
			return -1;
		if (s == -2) {
			st->ambiguous++;
			continue;
		}
		if (s < 0) {
			st->cells_unfit++;
			continue;
		}
		c.shape = (uint32_t)s;
		range_claim(cv, c.start, c.end);
		if (cv->in_survey) {
			if (survey_claim(cv, &c))
				return -1;
			continue;
		}
		rc = deliver(cv, &c, "freelist", fn, arg, st);
		if (rc != 0)
			return rc;
	}
	return 0;
}

/* Carve the regions listed, then deliver what survives; leaf (NULL: none)
 * is the header of a table leaf in use, whose live cells may give rowids
 * by page order (order_rowids()).  Returns 0, 1 when fn stopped, -1 on
 * error. */
static int
carve_regions(struct gsr_carver *cv, const struct gsr_page_hdr *leaf,
              int (*fn)(void *arg, const struct gsr_carved *row), void *arg,
              struct gsr_carve_stats *st)
{
	cv->n_cands = 0;
	for (uint32_t i = 0; i < cv->n_regions; i++) {
		if (scan_region(cv, i, st))
			return -1;
	}
	resolve(cv, st);
	if (leaf && !cv->in_survey && cv->n_cands > 0 && order_rowids(cv, leaf))
		return -1;
	for (size_t i = 0; i < cv->n_cands; i++) {
		const struct cand *c = &cv->cands[i];
		int rc;

		if (c->dropped)
			continue;
		if (cv->in_survey) {
			/* Ambiguous ones claim too: their pointers are
			 * evidence that the pages were shared. */
			if (survey_claim(cv, c))
				return -1;
			continue;
		}
		if (c->ambiguous) {
			st->ambiguous++;
			continue;
		}
		if (range_claimed(cv, c->start, c->end))
			continue;
		range_claim(cv, c->start, c->end);
		rc = deliver(cv, c, cv->regions[c->region].source, fn, arg, st);
		if (rc != 0)
			return rc;
	}
	return 0;
}

int
gsr_carver_page(struct gsr_carver *cv, uint32_t pgno,
                enum gsr_carve_where where,
                int (*fn)(void *arg, const struct gsr_carved *c), void *arg,
                struct gsr_carve_stats *stats)
{
	struct gsr_carve_stats local;
	uint32_t usable, hdr_off = pgno == 1 ? 100 : 0;
	const unsigned char *p;
	struct gsr_page_hdr h;
	int type, rc;

	if (stats == NULL) {
		memset(&local, 0, sizeof local);
		stats = &local;
	}
	if (cv == NULL || gsr_ctx_failed(cv->ctx))
		return -1;
	if (fn == NULL)
		return gsr_ctx_fail(cv->ctx, GSR_ERR_USAGE,
		                    "carving without a callback");
	if (++cv->calls % 1024 == 0 && gsr_ctx_check_cancel(cv->ctx))
		return -1;
	usable = cv->in.usable_size;
	cv->pgno = pgno;
	cv->n_regions = 0;
	p = gsr_pagefile_page(cv->pf, pgno);
	if (p == NULL || gsr_ptrmap_is_map_page(cv->pf, pgno)) {
		if (gsr_ctx_failed(cv->ctx))
			return -1;
		stats->pages_skipped++;
		return 0;
	}
	memcpy(cv->page, p, cv->in.page_size);
	memset(cv->claimed, 0, gsr_bitmap_size(cv->in.page_size));
	type = gsr_btree_page_check(cv->page, cv->in.page_size, usable, hdr_off,
	                            where != GSR_CARVE_LIVE_LEAF);
	/* The free space of an index page in use holds index records, which
	 * can read as a table's (a key and a rowid): not carved. */
	if (where == GSR_CARVE_LIVE_LEAF &&
	    (type == 0 || type == GSR_PAGE_INDEX_LEAF ||
	     type == GSR_PAGE_INDEX_INTERIOR)) {
		stats->pages_skipped++;
		return 0;
	}
	stats->pages++;
	switch (where) {
	case GSR_CARVE_LIVE_LEAF:
		/* The header parses: gsr_btree_page_check() took it. */
		gsr_page_hdr_parse(cv->page, usable, hdr_off, &h);
		if (free_regions(cv, &h, "unallocated", "freeblock"))
			return -1;
		return carve_regions(cv,
		                     type == GSR_PAGE_TABLE_LEAF ? &h : NULL,
		                     fn, arg, stats);
	case GSR_CARVE_FREELIST_LEAF:
		if (type == 0)
			break;
		gsr_page_hdr_parse(cv->page, usable, hdr_off, &h);
		if (type == GSR_PAGE_TABLE_LEAF) {
			rc = carve_cells(cv, &h, fn, arg, stats);
			if (rc != 0)
				return rc;
		}
		if (free_regions(cv, &h, "freelist", "freelist"))
			return -1;
		return carve_regions(cv, NULL, fn, arg, stats);
	case GSR_CARVE_FREELIST_TRUNK: {
		uint32_t count = gsr_get_u32(cv->page + 4);

		if (count > (usable - 8) / 4)
			count = (usable - 8) / 4;
		if (push_region(cv, 8 + 4 * count, usable, "freelist"))
			return -1;
		return carve_regions(cv, NULL, fn, arg, stats);
	}
	default:
		return gsr_ctx_fail(cv->ctx, GSR_ERR_USAGE,
		                    "unknown carving mode %d", (int)where);
	}
	/* A freelist leaf that is no b-tree page: all of it. */
	if (push_region(cv, 0, usable, "freelist"))
		return -1;
	return carve_regions(cv, NULL, fn, arg, stats);
}

/* Carve the pages of the image in page order: the freelist's trunks and
 * leaves, and with all, every other page as GSR_CARVE_LIVE_LEAF (pages
 * that are no b-tree page are skipped there). */
static int
carve_pages(struct gsr_carver *cv, bool all,
            int (*fn)(void *arg, const struct gsr_carved *c), void *arg,
            struct gsr_carve_stats *stats)
{
	for (uint32_t pg = 1; pg <= cv->in.n_pages; pg++) {
		enum gsr_carve_where where = GSR_CARVE_LIVE_LEAF;
		int rc;

		if (pg % 256 == 0 && gsr_ctx_check_cancel(cv->ctx))
			return -1;
		if (gsr_bit_test(cv->fl_trunk, pg)) {
			where = GSR_CARVE_FREELIST_TRUNK;
		} else if (gsr_bit_test(cv->fl_leaf, pg)) {
			/* A leaf already used as an overflow page. */
			if (gsr_bit_test(cv->ovfl_used, pg))
				continue;
			where = GSR_CARVE_FREELIST_LEAF;
		} else if (!all) {
			continue;
		}
		if (cv->in_survey)
			gsr_bit_set(cv->surveyed, pg);
		rc = gsr_carver_page(cv, pg, where, fn, arg, stats);
		if (rc != 0)
			return rc;
	}
	return 0;
}

/* A callback for the survey, which delivers nothing. */
static int
no_row(void *arg, const struct gsr_carved *c)
{
	(void)arg;
	(void)c;
	return 0;
}

int
gsr_carver_survey(struct gsr_carver *cv)
{
	struct gsr_carve_stats st;
	int rc;

	if (cv == NULL || gsr_ctx_failed(cv->ctx))
		return -1;
	memset(&st, 0, sizeof st);
	memset(cv->claim1, 0, gsr_bitmap_size(cv->in.n_pages));
	memset(cv->claim2, 0, gsr_bitmap_size(cv->in.n_pages));
	memset(cv->surveyed, 0, gsr_bitmap_size(cv->in.n_pages));
	cv->survey_done = false;
	cv->in_survey = true;
	rc = carve_pages(cv, true, no_row, NULL, &st);
	cv->in_survey = false;
	if (rc != 0)
		return -1;
	cv->survey_done = true;
	return 0;
}

int
gsr_carver_freelist(struct gsr_carver *cv,
                    int (*fn)(void *arg, const struct gsr_carved *c), void *arg,
                    struct gsr_carve_stats *stats)
{
	if (cv == NULL || gsr_ctx_failed(cv->ctx))
		return -1;
	return carve_pages(cv, false, fn, arg, stats);
}

int
gsr_carver_image(struct gsr_carver *cv,
                 int (*fn)(void *arg, const struct gsr_carved *c), void *arg,
                 struct gsr_carve_stats *stats)
{
	if (cv == NULL || gsr_ctx_failed(cv->ctx))
		return -1;
	if (fn == NULL)
		return gsr_ctx_fail(cv->ctx, GSR_ERR_USAGE,
		                    "carving without a callback");
	if (!cv->survey_done && gsr_carver_survey(cv))
		return -1;
	return carve_pages(cv, true, fn, arg, stats);
}

/* ---- the carver ------------------------------------------------------- */

/* Check the shapes; the fewest and most values over them. */
static int
check_shapes(struct gsr_carver *cv)
{
	if (cv->shapes == NULL || cv->n_shapes == 0)
		return gsr_ctx_fail(cv->ctx, GSR_ERR_USAGE,
		                    "carving without table shapes");
	cv->min_vals = SIZE_MAX;
	cv->scan_min = SIZE_MAX;
	for (size_t i = 0; i < cv->n_shapes; i++) {
		const struct gsr_shape *s = &cv->shapes[i];
		size_t min = s->min_cols == 0 ? s->n_cols : s->min_cols;

		if (s->n_cols == 0 || s->n_cols > MAX_SHAPE_COLS ||
		    min > s->n_cols ||
		    (s->ipk >= 0 && (size_t)s->ipk >= s->n_cols) || s->ipk < -1)
			return gsr_ctx_fail(cv->ctx, GSR_ERR_USAGE,
			                    "invalid table shape %zu (%s)", i,
			                    s->name != NULL ? s->name : "?");
		if (min < cv->min_vals)
			cv->min_vals = min;
		if (s->n_cols > cv->max_vals)
			cv->max_vals = s->n_cols;
		if (s->n_cols < MIN_CARVE_COLS)
			continue;
		if (min < cv->scan_min)
			cv->scan_min = min;
		cv->null_first |= first_null(s);
	}
	return 0;
}

/* The classes some shape accepts at each value position (the shapes
 * used in free space only). */
static void
fill_pos_mask(struct gsr_carver *cv)
{
	for (size_t i = 0; i < cv->n_shapes; i++) {
		const struct gsr_shape *s = &cv->shapes[i];

		if (s->n_cols < MIN_CARVE_COLS)
			continue;
		for (size_t c = 0; c < s->n_cols; c++) {
			uint8_t m =
			    s->allowed != NULL ? s->allowed[c] : GSR_ALLOW_ANY;

			if (s->ipk >= 0 && (size_t)s->ipk == c)
				m = GSR_ALLOW_NULL;
			cv->pos_mask[c] |= m & GSR_ALLOW_ANY;
		}
	}
}

/* Mark the freelist's leaves and trunks. */
static int
read_freelist(struct gsr_carver *cv)
{
	uint32_t *pages = NULL, t = cv->in.freelist_trunk;
	size_t n = 0;

	if (gsr_freelist_pages(cv->ctx, cv->pf, &pages, &n))
		return -1;
	for (size_t i = 0; i < n; i++)
		gsr_bit_set(cv->fl_leaf, pages[i]);
	free(pages);
	for (uint64_t hops = 0; t != 0 && hops <= cv->in.n_pages; hops++) {
		const unsigned char *p;

		if (t > cv->in.n_pages || gsr_bit_test(cv->fl_trunk, t))
			break;
		gsr_bit_set(cv->fl_trunk, t);
		gsr_bit_clear(cv->fl_leaf, t);
		p = gsr_pagefile_page(cv->pf, t);
		if (p == NULL)
			return gsr_ctx_failed(cv->ctx) ? -1 : 0;
		t = gsr_get_u32(p);
	}
	return 0;
}

struct gsr_carver *
gsr_carver_new(struct gsr_ctx *ctx, struct gsr_pagefile *pf,
               const struct gsr_shape *shapes, size_t n_shapes)
{
	struct gsr_carver *cv = NULL;
	size_t bits;

	if (gsr_ctx_failed(ctx))
		return NULL;
	if (pf == NULL) {
		gsr_ctx_fail(ctx, GSR_ERR_USAGE, "carving without a database");
		return NULL;
	}
	cv = calloc(1, sizeof *cv);
	if (cv == NULL) {
		gsr_ctx_fail(ctx, GSR_ERR_NOMEM, "out of memory for a carver");
		return NULL;
	}
	cv->ctx = ctx;
	cv->pf = pf;
	cv->shapes = shapes;
	cv->n_shapes = n_shapes;
	gsr_pagefile_get_info(pf, &cv->in);
	if (check_shapes(cv))
		goto fail;
	bits = gsr_bitmap_size(cv->in.n_pages);
	cv->pos_mask = calloc(cv->max_vals + 2, 1);
	cv->t_class = calloc(cv->max_vals + 2, 1);
	cv->t_bytes = calloc(cv->max_vals + 2, sizeof *cv->t_bytes);
	cv->t_body = calloc(cv->max_vals + 2, sizeof *cv->t_body);
	cv->vals = calloc(cv->max_vals + 1, sizeof *cv->vals);
	cv->fl_leaf = calloc(bits, 1);
	cv->fl_trunk = calloc(bits, 1);
	cv->ovfl_used = calloc(bits, 1);
	cv->surveyed = calloc(bits, 1);
	cv->claim1 = calloc(bits, 1);
	cv->claim2 = calloc(bits, 1);
	cv->page = malloc(cv->in.page_size);
	cv->scratch = malloc(cv->in.page_size);
	cv->claimed = malloc(gsr_bitmap_size(cv->in.page_size));
	if (cv->pos_mask == NULL || cv->t_class == NULL ||
	    cv->t_bytes == NULL || cv->t_body == NULL || cv->vals == NULL ||
	    cv->fl_leaf == NULL || cv->fl_trunk == NULL ||
	    cv->ovfl_used == NULL || cv->surveyed == NULL ||
	    cv->claim1 == NULL || cv->claim2 == NULL || cv->page == NULL ||
	    cv->scratch == NULL || cv->claimed == NULL) {
		gsr_ctx_fail(ctx, GSR_ERR_NOMEM, "out of memory for a carver");
		goto fail;
	}
	fill_pos_mask(cv);
	if (read_freelist(cv))
		goto fail;
	return cv;
fail:
	gsr_carver_free(cv);
	return NULL;
}

void
gsr_carver_free(struct gsr_carver *cv)
{
	if (cv == NULL)
		return;
	free(cv->pos_mask);
	free(cv->t_class);
	free(cv->t_bytes);
	free(cv->t_body);
	free(cv->vals);
	free(cv->fl_leaf);
	free(cv->fl_trunk);
	free(cv->ovfl_used);
	free(cv->surveyed);
	free(cv->claim1);
	free(cv->claim2);
	free(cv->page);
	free(cv->scratch);
	free(cv->claimed);
	free(cv->regions);
	free(cv->cands);
	free(cv->lives);
	free(cv->run);
	free(cv->rec);
	free(cv->text);
	free(cv->chain);
	free(cv);
}

int
gsr_carve_page(struct gsr_ctx *ctx, struct gsr_pagefile *pf, uint32_t pgno,
               enum gsr_carve_where where, const struct gsr_shape *shapes,
               size_t n_shapes,
               int (*fn)(void *arg, const struct gsr_carved *c), void *arg,
               struct gsr_carve_stats *stats)
{
	struct gsr_carver *cv;
	int rc;

	if (stats != NULL)
		memset(stats, 0, sizeof *stats);
	cv = gsr_carver_new(ctx, pf, shapes, n_shapes);
	if (cv == NULL)
		return -1;
	rc = gsr_carver_page(cv, pgno, where, fn, arg, stats);
	gsr_carver_free(cv);
	return rc;
}

/* ---- index entries ------------------------------------------------------ */

/* The serial type of an INTEGER as SQLite writes it (file format 4). */
static uint64_t
int_serial(int64_t i)
{
	uint64_t u;

	if (i == 0 || i == 1)
		return 8 + (uint64_t)i;
	u = i < 0 ? ~(uint64_t)i : (uint64_t)i;
	if (u <= 127)
		return 1;
	if (u <= 32767)
		return 2;
	if (u <= 8388607)
		return 3;
	if (u <= 2147483647)
		return 4;
	if (u <= 0x7fffffffffffULL)
		return 5;
	return 6;
}

/* The n bytes of UTF-8 at p as UTF-16 (big-endian when be) into out (at
 * most cap bytes).  Returns its length, or (size_t)-1 when p is not valid
 * UTF-8 (over-long forms, surrogates, beyond U+10FFFF) or it does not
 * fit. */
static size_t
utf8_to_utf16(const unsigned char *p, size_t n, bool be, unsigned char *out,
              size_t cap)
{
	static const uint32_t min_cp[] = {0, 0, 0x80, 0x800, 0x10000};
	size_t o = 0;

	for (size_t i = 0; i < n;) {
		uint32_t cp = p[i], units[2];
		size_t len = cp < 0x80             ? 1
		             : (cp & 0xe0) == 0xc0 ? 2
		             : (cp & 0xf0) == 0xe0 ? 3
		             : (cp & 0xf8) == 0xf0 ? 4
		                                   : 0;
		size_t nu = 1;

		if (len == 0 || len > n - i)
			return (size_t)-1;
		if (len > 1)
			cp &= 0x3fu >> (len - 1);
		for (size_t k = 1; k < len; k++) {
			if ((p[i + k] & 0xc0) != 0x80)
				return (size_t)-1;
			cp = cp << 6 | (p[i + k] & 0x3fu);
		}
		if (cp < min_cp[len] || cp > 0x10ffff ||
		    (cp >= 0xd800 && cp <= 0xdfff))
			return (size_t)-1;
		i += len;
		units[0] = cp;
		if (cp >= 0x10000) {
			units[0] = 0xd800 | ((cp - 0x10000) >> 10);
			units[1] = 0xdc00 | ((cp - 0x10000) & 0x3ff);
			nu = 2;
		}
		if (2 * nu > cap - o)
			return (size_t)-1;
		for (size_t k = 0; k < nu; k++, o += 2) {
			out[o + !be] = (unsigned char)(units[k] >> 8);
			out[o + be] = (unsigned char)units[k];
		}
	}
	return o;
}

size_t
gsr_index_key_encode(const struct gsr_value *v, size_t n,
                     uint32_t text_encoding, unsigned char *sts, size_t sts_cap,
                     size_t *sts_len, unsigned char *body, size_t body_cap)
{
	size_t ns = 0, nb = 0;

	for (size_t i = 0; i < n; i++) {
		uint64_t st, size;
		unsigned char be[8];

		if (v[i].truncated || v[i].encoding_error)
			return (size_t)-1;
		if (v[i].type == GSR_V_TEXT &&
		    (text_encoding == 2 || text_encoding == 3)) {
			/* The TEXT as the database stores it. */
			size_t u =
			    utf8_to_utf16(v[i].p, v[i].n, text_encoding == 3,
			                  body + nb, body_cap - nb);

			if (u == (size_t)-1 || ns + 9 > sts_cap)
				return (size_t)-1;
			ns += (size_t)gsr_varint_put(sts + ns,
			                             13 + 2 * (uint64_t)u);
			nb += u;
			continue;
		}
		switch (v[i].type) {
		case GSR_V_NULL:
			st = 0;
			break;
		case GSR_V_INT:
			st = int_serial(v[i].i);
			break;
		case GSR_V_REAL:
			st = 7;
			break;
		case GSR_V_TEXT:
			st = 13 + 2 * (uint64_t)v[i].n;
			break;
		default:
			st = 12 + 2 * (uint64_t)v[i].n;
		}
		if (v[i].n > GSR_RECORD_MAX || ns + 9 > sts_cap)
			return (size_t)-1;
		ns += (size_t)gsr_varint_put(sts + ns, st);
		size = gsr_serial_size(st);
		if (nb + size > body_cap)
			return (size_t)-1;
		if (v[i].type == GSR_V_INT || v[i].type == GSR_V_REAL) {
			uint64_t u;

			if (v[i].type == GSR_V_INT)
				u = (uint64_t)v[i].i;
			else
				memcpy(&u, &v[i].r, sizeof u);
			for (int k = 0; k < 8; k++)
				be[k] = (unsigned char)(u >> (56 - 8 * k));
			memcpy(body + nb, be + 8 - size, size);
		} else if (size > 0) {
			memcpy(body + nb, v[i].p, size);
		}
		nb += size;
	}
	*sts_len = ns;
	return nb;
}

/* The length of the body of integer serial type st, or -1 when st is not
 * an integer's. */
static int
int_len(unsigned char st)
{
	static const signed char len[10] = {-1, 1, 2, 3, 4, 6, 8, -1, 0, 0};

	return st < 10 ? len[st] : -1;
}

/* The L-byte big-endian integer at p, and whether SQLite would have
 * written it in L bytes (not fewer). */
static bool
read_int_minimal(const unsigned char *p, int len, int64_t *out)
{
	uint64_t u = (p[0] & 0x80) ? ~(uint64_t)0 : 0;

	for (int i = 0; i < len; i++)
		u = u << 8 | p[i];
	*out = (int64_t)u;
	return len > 0 && int_serial(*out) != 8 && int_serial(*out) != 9 &&
	       (int)gsr_serial_size(int_serial(*out)) == len;
}

/* One reading of the entry whose key ends at kend when its cell starts at
 * c, its first 4 bytes a freeblock header.  Returns 1 and *rowid, or 0. */
static int
rowid_after_freeblock(const unsigned char *page, uint32_t usable, uint32_t c,
                      uint32_t h0, uint32_t body, const unsigned char *hdr,
                      size_t hsz, uint32_t kend, size_t key_len, int64_t *rowid)
{
	uint32_t next = (uint32_t)page[c] << 8 | page[c + 1];
	uint32_t size = (uint32_t)page[c + 2] << 8 | page[c + 3];
	uint32_t v = h0 - c;
	int len;

	if (size < 4 || c + size > usable ||
	    (next != 0 && (next < c + size || next + 4 > usable)))
		return 0;
	/* The bytes of the header the freeblock header left must agree. */
	for (uint32_t i = c + 4 > h0 ? c + 4 : h0; i + 1 < body; i++)
		if (page[i] != hdr[i - h0])
			return 0;
	if (c + 4 <= body - 1) {
		/* The rowid's serial type survived. */
		if ((len = int_len(page[body - 1])) < 0)
			return 0;
	} else {
		/* Lost: the freeblock ends where the cell does. */
		if (c + size < kend || c + size - kend > 8)
			return 0;
		len = (int)(c + size - kend);
	}
	if ((uint32_t)varint_len(hsz + key_len + (size_t)len) != v ||
	    size < v + hsz + key_len + (size_t)len ||
	    kend + (uint32_t)len > usable)
		return 0;
	if (len == 0) {
		/* Serial type 8 or 9 lost with it: 0 or 1 cannot be told. */
		if (c + 4 > body - 1)
			return 0;
		*rowid = page[body - 1] - 8;
		return 1;
	}
	return read_int_minimal(page + kend, len, rowid) ? 1 : 0;
}

int
gsr_index_rowid_at(const unsigned char *page, uint32_t usable, uint32_t body,
                   const unsigned char *sts, size_t sts_len, size_t key_len,
                   int64_t *rowid)
{
	unsigned char hdr[128];
	size_t hsz = sts_len + 2;
	uint32_t h0, kend;
	int64_t found = 0;
	int n = 0, len;

	if (page == NULL || sts == NULL || rowid == NULL || hsz > 127 ||
	    body < hsz || body > usable || key_len > usable - body)
		return 0;
	h0 = body - (uint32_t)hsz;
	kend = body + (uint32_t)key_len;
	hdr[0] = (unsigned char)hsz;
	memcpy(hdr + 1, sts, sts_len);
	if (page[h0] == hsz && !memcmp(page + h0 + 1, sts, sts_len)) {
		/* The whole header is there. */
		if ((len = int_len(page[body - 1])) < 0 ||
		    kend + (uint32_t)len > usable)
			return 0;
		if (len == 0) {
			*rowid = page[body - 1] - 8;
			return 1;
		}
		return read_int_minimal(page + kend, len, rowid) ? 1 : 0;
	}
	/* The cell's first 4 bytes (its payload size, one or two bytes, and
	 * the start of the header) are a freeblock header. */
	for (uint32_t v = 1; v <= 2; v++) {
		int64_t id;

		if (h0 < v || h0 - v + 4 <= h0 ||
		    !rowid_after_freeblock(page, usable, h0 - v, h0, body, hdr,
		                           hsz, kend, key_len, &id))
			continue;
		if (n > 0 && id != found)
			return 0; /* two readings: nothing */
		found = id;
		n++;
	}
	if (n == 0)
		return 0;
	*rowid = found;
	return 1;
}
