/* sha256.c -- SHA-256 through nettle. */
#include "compat.h"
#include "sha256.h"

#include <errno.h>
#include <stdlib.h>
#include <unistd.h>

void
gsr_sha256_init(struct gsr_sha256 *h)
{
	sha256_init(&h->c);
}

void
gsr_sha256_update(struct gsr_sha256 *h, const void *p, size_t n)
{
	sha256_update(&h->c, n, p);
}

void
gsr_sha256_hex(struct gsr_sha256 *h, char out[GSR_SHA256_HEX])
{
	static const char hex[] = "0123456789abcdef";
	uint8_t d[SHA256_DIGEST_SIZE];

	sha256_digest(&h->c, sizeof d, d);
	for (size_t i = 0; i < sizeof d; i++) {
		out[2 * i] = hex[d[i] >> 4];
		out[2 * i + 1] = hex[d[i] & 15];
	}
	out[64] = '\0';
}

int
gsr_sha256_fd(int fd, char out[GSR_SHA256_HEX], uint64_t *size)
{
	enum { CHUNK = 1 << 20 };
	struct gsr_sha256 h;
	unsigned char *buf = NULL;
	uint64_t off = 0;
	int rc = -1;

	if ((buf = malloc(CHUNK)) == NULL)
		goto out;
	gsr_sha256_init(&h);
	for (;;) {
		ssize_t n = pread(fd, buf, CHUNK, (off_t)off);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			goto out;
		}
		if (n == 0)
			break;
		gsr_sha256_update(&h, buf, (size_t)n);
		off += (uint64_t)n;
	}
	gsr_sha256_hex(&h, out);
	if (size)
		*size = off;
	rc = 0;
out:
	free(buf);
	return rc;
}
