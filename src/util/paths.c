/* paths.c -- rules directory lookup and GPUStack's database location. */
#include "compat.h"
#include "paths.h"

#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#ifndef GSR_RULES_DIR
#define GSR_RULES_DIR "/usr/local/share/gsrecover/rules"
#endif

static char tree_rules[PATH_MAX];
static pthread_once_t tree_once = PTHREAD_ONCE_INIT;

/* Whether path is a directory (or a link to one). */
static bool
is_dir(const char *path)
{
	struct stat st;
	return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

/* Set tree_rules to TOP/rules when this program is TOP/DIR/gsrecover
 * (build/, build-san/) of a source tree: TOP holds GNUmakefile and
 * rules/labels.  Left empty otherwise. */
static void
find_tree_rules(void)
{
	char exe[PATH_MAX], probe[PATH_MAX + 32];
	struct stat st;
	ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
	char *slash;

	if (n <= 0 || (size_t)n >= sizeof exe - 1)
		return;
	exe[n] = '\0';
	/* TOP/DIR/gsrecover: cut the name, then DIR. */
	for (int i = 0; i < 2; i++) {
		if ((slash = strrchr(exe, '/')) == NULL || slash == exe)
			return;
		*slash = '\0';
	}
	snprintf(probe, sizeof probe, "%s/GNUmakefile", exe);
	if (stat(probe, &st) != 0 || !S_ISREG(st.st_mode))
		return;
	snprintf(probe, sizeof probe, "%s/rules/labels", exe);
	if (!is_dir(probe))
		return;
	if ((size_t)snprintf(tree_rules, sizeof tree_rules, "%s/rules", exe) >=
	    sizeof tree_rules)
		tree_rules[0] = '\0';
}

const char *
gsr_builtin_rules_dir(void)
{
	return GSR_RULES_DIR;
}

const char *
gsr_tree_rules_dir(void)
{
	pthread_once(&tree_once, find_tree_rules);
	return tree_rules[0] ? tree_rules : NULL;
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
	} else if (gsr_tree_rules_dir() != NULL) {
		src = "build-tree";
		dir = gsr_tree_rules_dir();
	}
	if (source)
		*source = src;
	return dir;
}

char *
gsr_default_db_path(bool *from_env)
{
	const char *dir = getenv("GPUSTACK_DATA_DIR");
	char *p = NULL;

	if (from_env)
		*from_env = dir != NULL && *dir != '\0';
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
