#!/bin/sh
# make install honours DESTDIR (and puts the binary, the man pages and
# the rules where the GNU conventions say); make uninstall removes
# exactly what it installed.
. "$GSR_TOP/tests/lib.sh"

dest="$T_SCRATCH/dest"
# The PREFIX the binary was built with, so that make rebuilds nothing:
# the GNUmakefile keeps its rules directory in $GSR_BUILD/PATHS.  (Run
# from the build directory, the binary reads the source tree's rules.)
prefix=$(sed -n 's|^\(.*\)/share/gsrecover/rules$|\1|p' "$GSR_BUILD/PATHS")
make -s -C "$GSR_TOP" install PREFIX="$prefix" DESTDIR="$dest" > make.txt 2>&1
is "$?" 0 "make install DESTDIR=...: succeeds"
ok "binary installed" test -x "$dest$prefix/bin/gsrecover"
ok "gsrecover(1) installed" test -f "$dest$prefix/share/man/man1/gsrecover.1"
ok "gsrecover-rules(5) installed" test -f "$dest$prefix/share/man/man5/gsrecover-rules.5"
is "$(ls "$dest$prefix/share/gsrecover/rules/labels" | wc -l | tr -d ' ')" \
	"$(ls "$GSR_TOP/rules/labels" | wc -l | tr -d ' ')" "every label installed"
ok "the patches installed" test -f "$dest$prefix/share/gsrecover/rules/patches/blog-1900-fix.rules"
"$dest$prefix/bin/gsrecover" --rules-dir "$dest$prefix/share/gsrecover/rules" rules check > /dev/null
is "$?" 0 "the installed rules are valid"
make -s -C "$GSR_TOP" uninstall PREFIX="$prefix" DESTDIR="$dest" > make.txt 2>&1
is "$?" 0 "make uninstall: succeeds"
is "$(find "$dest" -type f | wc -l | tr -d ' ')" 0 "make uninstall: no file left"

done_testing
