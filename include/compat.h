/* compat.h -- first include of every gsrecover source file.
 *
 * Feature-test macros and the few compiler helpers the whole tree uses.
 * _GNU_SOURCE is also set on the command line; defining it here keeps a
 * file that is compiled on its own honest.
 */
#ifndef GSR_COMPAT_H
#define GSR_COMPAT_H

#ifndef _GNU_SOURCE
#define _GNU_SOURCE 1
#endif

#include <stddef.h>
#include <stdint.h>
#include <stdbool.h>

#define GSR_PRINTF(a, b) __attribute__((format(printf, a, b)))
#define GSR_ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

#endif
