#!/bin/sh
# Where the rules come from without GSRECOVER_RULES: build/gsrecover (and
# build-san/gsrecover), run from the source tree it was built in, reads
# the tree's rules/, from whatever directory it is run; a copy of the
# binary anywhere else reads the installed rules; when there are none,
# the error says what gives them.
. "$GSR_TOP/tests/lib.sh"

top=$(cd "$GSR_TOP" && pwd -P)
exe=$(readlink -f "$GSR")
mkdb 0.6.0 real.db

# Run plainly (not through GSR_EXEC_PREFIX): the lookup reads
# /proc/self/exe, which under valgrind is valgrind.
case "$exe" in
"$top"/*/gsrecover)
	ver=$(cd / && env -u GSRECOVER_RULES "$GSR" --version | sed -n 's/^rules //p')
	is "$ver" "$top/rules" "built binary: --version names the tree's rules"
	(cd / && env -u GSRECOVER_RULES "$GSR" identify "$T_SCRATCH/real.db" > "$T_SCRATCH/out.txt" 2> "$T_SCRATCH/err.txt")
	is "$?" 0 "built binary, run from /: identifies with the tree's rules"
	is "$(cat err.txt)" "" "built binary, run from /: nothing on stderr"
	(cd / && env -u GSRECOVER_RULES "$GSR" rules list --json) > out.json
	is "$(jqr out.json .rules_source)" build-tree "built binary: rules_source build-tree"
	is "$(jqr out.json .rules_dir)" "$top/rules" "built binary: rules_dir the tree's"
	# GSRECOVER_RULES and --rules-dir still come first.
	mkdir other
	cp -R "$top/rules/labels" other/
	(cd / && GSRECOVER_RULES="$T_SCRATCH/other" "$GSR" rules list --json) > out.json
	is "$(jqr out.json .rules_source)" environment "built binary: GSRECOVER_RULES first"
	(cd / && env -u GSRECOVER_RULES "$GSR" --rules-dir "$T_SCRATCH/other" rules list --json) > out.json
	is "$(jqr out.json .rules_source)" option "built binary: --rules-dir first"
	;;
*)
	echo "# $GSR is not in the tree's build directory: its lookup is the installed one"
	;;
esac

# A tree of its own: TOP/build/gsrecover with TOP/GNUmakefile and
# TOP/rules/labels.
mkdir -p tree/build tree/rules
cp "$exe" tree/build/gsrecover
cp -R "$top/rules/labels" tree/rules/
: > tree/GNUmakefile
ver=$(env -u GSRECOVER_RULES tree/build/gsrecover --version | sed -n 's/^rules //p')
is "$ver" "$T_SCRATCH/tree/rules" "a tree of its own: its rules/"
(cd tree/build && env -u GSRECOVER_RULES ./gsrecover identify ../../real.db > /dev/null 2>&1)
is "$?" 0 "a tree of its own: identifies with them"

# Not a source tree (no GNUmakefile): the installed rules.
rm tree/GNUmakefile
builtin=$(sed -n 1p "$GSR_BUILD/PATHS")
ver=$(env -u GSRECOVER_RULES tree/build/gsrecover --version | sed -n 's/^rules //p')
is "$ver" "$builtin" "no GNUmakefile beside rules/: the installed rules"
mkdir bin
cp "$exe" bin/gsrecover
ver=$(env -u GSRECOVER_RULES bin/gsrecover --version | sed -n 's/^rules //p')
is "$ver" "$builtin" "a copy elsewhere: the installed rules"
if [ ! -e "$builtin" ]; then
	env -u GSRECOVER_RULES bin/gsrecover identify real.db > out.txt 2> err.txt
	is "$?" 8 "no installed rules: exit 8"
	is "$(cat err.txt)" "gsrecover: cannot read rules directory '$builtin': No such file or directory; give --rules-dir DIR or set GSRECOVER_RULES=DIR, or install the rules there with 'make install'" \
		"no installed rules: one line naming --rules-dir, GSRECOVER_RULES and make install"
	env -u GSRECOVER_RULES bin/gsrecover rules check > out.txt 2> err.txt
	is "$?" 8 "no installed rules, rules check: exit 8"
	like "$(cat err.txt)" "GSRECOVER_RULES=DIR, or install the rules there with 'make install'$" \
		"no installed rules, rules check: the same line"
else
	echo "# $builtin exists: the message for missing rules is not tested here"
fi
GSRECOVER_RULES="$T_SCRATCH/nothere" bin/gsrecover identify real.db > out.txt 2> err.txt
is "$?" 8 "GSRECOVER_RULES names nothing: exit 8"
is "$(cat err.txt)" "gsrecover: cannot read rules directory '$T_SCRATCH/nothere': No such file or directory (the directory GSRECOVER_RULES names)" \
	"GSRECOVER_RULES names nothing: said so"

done_testing
