/* paths.h -- where gsrecover finds its rules and GPUStack its database. */
#ifndef GSR_PATHS_H
#define GSR_PATHS_H

#include "compat.h"

/* The rules directory: opt when not NULL, else $GSRECOVER_RULES when set
 * and non-empty, else the source tree's (gsr_tree_rules_dir()) when this
 * program runs from its build directory, else the compiled-in directory.
 * *source (optional) is set to "option", "environment", "build-tree" or
 * "built-in". */
const char *gsr_rules_dir(const char *opt, const char **source);

/* The compiled-in rules directory, where 'make install' puts them. */
const char *gsr_builtin_rules_dir(void);

/* TOP/rules when this program (/proc/self/exe) is TOP/DIR/gsrecover and
 * TOP is a source tree (it holds GNUmakefile and rules/labels), as for
 * build/gsrecover and build-san/gsrecover run from where they were
 * built; else NULL. */
const char *gsr_tree_rules_dir(void);

/* The database GPUStack uses on this machine:
 * $GPUSTACK_DATA_DIR/database.db, else /var/lib/gpustack/database.db;
 * *from_env (optional) says which.  Returns a malloc'd string, or NULL on
 * OOM. */
char *gsr_default_db_path(bool *from_env);

/* Where temporary files go: $TMPDIR when set and non-empty, else /tmp. */
const char *gsr_tmp_dir(void);

#endif
