/* tempfiles.c -- registry of temporary paths for the signal handler. */
#include "compat.h"
#include "tempfiles.h"

#include <signal.h>
#include <string.h>
#include <unistd.h>

#define TEMP_SLOTS 64
#define TEMP_PATH_MAX 4096

static char temp_paths[TEMP_SLOTS][TEMP_PATH_MAX];
static volatile sig_atomic_t temp_used[TEMP_SLOTS];

int
gsr_temp_register(const char *path)
{
	size_t n = strlen(path);

	if (n >= TEMP_PATH_MAX)
		return -1;
	for (int i = 0; i < TEMP_SLOTS; i++) {
		if (!temp_used[i]) {
			memcpy(temp_paths[i], path, n + 1);
			temp_used[i] = 1;
			return 0;
		}
	}
	return -1;
}

void
gsr_temp_unregister(const char *path)
{
	for (int i = TEMP_SLOTS - 1; i >= 0; i--) {
		if (temp_used[i] && strcmp(temp_paths[i], path) == 0) {
			temp_used[i] = 0;
			return;
		}
	}
}

void
gsr_temp_remove_all(void)
{
	/* Files first, then the (by now empty) directories, whatever the
	 * order they were registered in. */
	for (int i = 0; i < TEMP_SLOTS; i++)
		if (temp_used[i] && unlink(temp_paths[i]) == 0)
			temp_used[i] = 0;
	for (int i = 0; i < TEMP_SLOTS; i++)
		if (temp_used[i]) {
			rmdir(temp_paths[i]);
			temp_used[i] = 0;
		}
}
