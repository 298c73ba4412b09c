/* names.c -- whether a name from a database can name a file as it is. */
#include "compat.h"
#include "names.h"

#include <string.h>

bool
gsr_name_is_plain(const char *s, size_t max, const char *punct)
{
	size_t n = 0;

	for (; s[n] != '\0'; n++) {
		unsigned char c = (unsigned char)s[n];
		bool alnum = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		             (c >= '0' && c <= '9');

		if (n == max || (!alnum && strchr(punct, c) == NULL))
			return false;
	}
	return n > 0;
}
