#!/bin/sh
# The build's first steps on a machine without the libraries: make must
# reach `deps` (which installs them) before anything asks pkg-config, and a
# goal that needs them without `deps` must stop with the install line.
# PKG_CONFIG=false stands for a machine where none of them is installed.
. "$GSR_TOP/tests/lib.sh"

if ! command -v make > /dev/null || [ ! -f "$GSR_TOP/GNUmakefile" ]; then
	echo "1..0 # SKIP no make or no source tree"
	exit 0
fi

# -n runs no recipe (recursive $(MAKE) lines run with -n too), so nothing
# is built or installed here; it fails only if make stops while reading.
for goal in demo all unit; do
	make -s -C "$GSR_TOP" -n "$goal" PKG_CONFIG=false > out.txt 2> err.txt
	is "$?" 0 "make -n $goal without the libraries: make reads the file"
	is "$(grep -c '\*\*\*' err.txt)" 0 "make -n $goal without the libraries: no '***' stop"
done
like "$(make -s -C "$GSR_TOP" -n demo PKG_CONFIG=false 2> /dev/null | head -n 3)" \
	'dpkg-query' "make -n demo: the deps step comes first"

make -s -C "$GSR_TOP" depcheck PKG_CONFIG=false > out.txt 2> err.txt
st=$?
ok "make depcheck without the libraries fails" [ "$st" -ne 0 ]
like "$(cat err.txt)" 'missing build dependencies' "depcheck: says what is missing"
like "$(cat err.txt)" 'apt-get install .*libsqlite3-dev' "depcheck: gives the apt-get line"

make -s -C "$GSR_TOP" depcheck > out.txt 2> err.txt
is "$?" 0 "make depcheck with the libraries passes"

done_testing
