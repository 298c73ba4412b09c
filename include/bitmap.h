/* bitmap.h -- sets of small numbers (pages, byte offsets), one bit each.
 *
 * A bitmap of bits 0..last is gsr_bitmap_size(last) bytes, bit i in byte
 * i / 8 at (1 << i % 8).  The callers check that i <= last before every
 * access: these helpers do not.  They are all inline, since the page
 * reader tests bits in its innermost loops, and so that the fuzz targets,
 * which link the page reader's sources alone, need no other file.
 */
#ifndef GSR_BITMAP_H
#define GSR_BITMAP_H

#include "compat.h"

#include <stdlib.h>

/* The bytes of a bitmap of bits 0..last. */
static inline size_t
gsr_bitmap_size(uint64_t last)
{
	return (size_t)(last / 8) + 1;
}

/* A new bitmap of bits 0..last, all clear (calloc: free() it), or NULL
 * when memory runs out. */
static inline unsigned char *
gsr_bitmap_new(uint64_t last)
{
	return calloc(gsr_bitmap_size(last), 1);
}

static inline bool
gsr_bit_test(const unsigned char *map, uint64_t i)
{
	return (map[i >> 3] & (1u << (i & 7))) != 0;
}

static inline void
gsr_bit_set(unsigned char *map, uint64_t i)
{
	map[i >> 3] |= (unsigned char)(1u << (i & 7));
}

static inline void
gsr_bit_clear(unsigned char *map, uint64_t i)
{
	map[i >> 3] &= (unsigned char)~(1u << (i & 7));
}

/* Set bit i; returns whether it was set before. */
static inline bool
gsr_bit_test_set(unsigned char *map, uint64_t i)
{
	unsigned char m = (unsigned char)(1u << (i & 7));
	bool old = (map[i >> 3] & m) != 0;

	map[i >> 3] |= m;
	return old;
}

#endif
