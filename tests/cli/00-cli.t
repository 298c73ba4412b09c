#!/bin/sh
# The command line: --help, --usage, --version, help COMMAND, and usage
# errors, against golden files in tests/cli/golden (regenerate with
# GSR_REGEN=1 make check, then review the diff).
. "$GSR_TOP/tests/lib.sh"
G="$GSR_TOP/tests/cli/golden"

check_golden() { # NAME EXPECTED-STATUS ARGS...
	name=$1
	want=$2
	shift 2
	gsr "$@" > out.txt 2> err.txt
	st=$?
	if [ -n "${GSR_REGEN:-}" ]; then
		cp out.txt "$G/$name.stdout"
	fi
	is "$st" "$want" "$name: exit $want"
	golden out.txt "$G/$name.stdout" "$name: stdout as expected"
}

check_golden help 0 --help
check_golden identify-help 0 identify --help
check_golden rules-help 0 rules --help
check_golden usage 0 --usage
gsr help identify > out.txt
golden out.txt "$G/identify-help.stdout" "help identify is identify --help"

gsr --version > out.txt
is "$?" 0 "--version: exit 0"
like "$(head -n 1 out.txt)" "^gsrecover [0-9]+\.[0-9]+\.[0-9]+$" "--version: first line is 'gsrecover X.Y.Z'"
like "$(sed -n 2p out.txt)" "^SQLite 3\.[0-9]+\.[0-9]+$" "--version: runtime SQLite version"
like "$(sed -n 3p out.txt)" "^zstd 1\.[0-9]+\.[0-9]+$" "--version: runtime zstd version"
like "$(sed -n 4p out.txt)" "^rules $RULES_IN_USE$" "--version: rules directory in use"

gsr identify --bogus > out.txt 2> err.txt
is "$?" 16 "bad option: exit 16"
like "$(cat err.txt)" "gsrecover identify: unrecognized option '--bogus'" "bad option: named by the command"
like "$(cat err.txt)" "Try .gsrecover identify --help'" "bad option: points at --help"
is "$(cat out.txt)" "" "bad option: nothing on stdout"
gsr rules frob > /dev/null 2> err.txt
is "$?" 16 "rules: unknown action is a usage error"

done_testing
