/* sha256.h -- SHA-256 of buffers and files, as lower-case hex. */
#ifndef GSR_SHA256_H
#define GSR_SHA256_H

#include "compat.h"

#include <nettle/sha2.h>

#define GSR_SHA256_HEX 65 /* 64 hex digits and a NUL */

struct gsr_sha256 {
	struct sha256_ctx c;
};

void gsr_sha256_init(struct gsr_sha256 *h);
void gsr_sha256_update(struct gsr_sha256 *h, const void *p, size_t n);
void gsr_sha256_hex(struct gsr_sha256 *h, char out[GSR_SHA256_HEX]);

/* Hash the whole file open on fd from offset 0, reading with pread.
 * Stores the byte count in *size when size is not NULL.  Returns 0, or
 * -1 with errno set on a read error. */
int gsr_sha256_fd(int fd, char out[GSR_SHA256_HEX], uint64_t *size);

#endif
