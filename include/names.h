/* names.h -- whether a name from a database can name a file as it is.
 *
 * Table names and file names come from the input and may hold anything:
 * '/', "..", control characters, bytes that are not UTF-8.  Where such a
 * name would become a file or archive member name, it is used as it is
 * only when it is "plain" in the sense below, and replaced by a made-up
 * name otherwise.  What else a caller refuses (a leading '.', names of its
 * own files) differs with what the name becomes, and is the caller's.
 */
#ifndef GSR_NAMES_H
#define GSR_NAMES_H

#include "compat.h"

/* True when s is 1 to max bytes long and each byte is an ASCII letter or
 * digit, or one of the characters of punct (e.g. "_.-"), whatever the
 * locale.  Such a name holds no '/' and no byte a terminal or a shell
 * reads specially, unless punct adds one. */
bool gsr_name_is_plain(const char *s, size_t max, const char *punct);

#endif
