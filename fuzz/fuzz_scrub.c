/* fuzz_scrub.c -- libFuzzer target: the copy with the free space zeroed.
 *
 * The input is a database image (the seeds of fuzz/corpus/ serve).  It is
 * written to an anonymous file and copied by gsr_scrub_copy() to
 * another; the copy must be refused (1, and empty) or be the input with
 * some bytes made zero and no other change, and never fail (-1: these
 * files are in memory).  `make fuzz` runs it.
 */
#include "compat.h"
#include "scrub.h"

#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

static int
anon_file(const char *name, char path[64])
{
	int fd = memfd_create(name, MFD_CLOEXEC);

	if (fd < 0)
		abort();
	snprintf(path, 64, "/proc/self/fd/%d", fd);
	return fd;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct gsr_ctx ctx = GSR_CTX_INIT;
	char src[64], dst[64];
	int in = anon_file("in", src), out = anon_file("out", dst), rc;
	struct stat st;
	unsigned char *copy;

	if (size && write(in, data, size) != (ssize_t)size)
		abort();
	rc = gsr_scrub_copy(&ctx, src, dst);
	if (rc < 0 || fstat(out, &st) != 0)
		abort();
	if (rc == 1 && st.st_size != 0)
		abort();
	if (rc == 0) {
		if ((size_t)st.st_size != size ||
		    (copy = malloc(size)) == NULL ||
		    pread(out, copy, size, 0) != (ssize_t)size)
			abort();
		for (size_t i = 0; i < size; i++)
			if (copy[i] != data[i] && copy[i] != 0)
				abort();
		free(copy);
	}
	close(in);
	close(out);
	return 0;
}
