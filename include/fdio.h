/* fdio.h -- whole writes on file descriptors. */
#ifndef GSR_FDIO_H
#define GSR_FDIO_H

#include "compat.h"

/* Write all n bytes at p to fd, retrying short writes and EINTR.
 * Returns 0, or -1 with errno set. */
int gsr_write_all(int fd, const void *p, size_t n);

#endif
