/* paths.c -- rules directory lookup and GPUStack's database location. */
#include "compat.h"
#include "paths.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifndef GSR_RULES_DIR
#define GSR_RULES_DIR "/usr/local/share/gsrecover/rules"
#endif

const char *
gsr_builtin_rules_dir(void)
{
	return GSR_RULES_DIR;
}

const char *
gsr_rules_dir(const char *opt, const char **source)
{
	const char *env = getenv("GSRECOVER_RULES");
	const char *src = "built-in", *dir = GSR_RULES_DIR;

	if (opt != NULL) {
		src = "option";
		dir = opt;
	} else if (env != NULL && *env != '\0') {
		src = "environment";
		dir = env;
	}
	if (source)
		*source = src;
	return dir;
}

char *
gsr_default_db_path(void)
{
	const char *dir = getenv("GPUSTACK_DATA_DIR");
	char *p = NULL;

	if (dir == NULL || *dir == '\0')
		dir = "/var/lib/gpustack";
	if (asprintf(&p, "%s%sdatabase.db", dir,
		     dir[strlen(dir) - 1] == '/' ? "" : "/") < 0)
		return NULL;
	return p;
}

const char *
gsr_tmp_dir(void)
{
	const char *tmp = getenv("TMPDIR");

	return tmp && *tmp ? tmp : "/tmp";
}
