# tests/lib.sh -- shared helpers for the TAP test scripts.  Source it.
#
# Environment (set by `make check`): GSR (the binary), GSR_TOP (source
# tree), GSRECOVER_RULES, optional GSR_EXEC_PREFIX (e.g. valgrind).
# Each script runs in a scratch directory of its own, removed at exit.

set -u
: "${GSR:?run the tests with make check}"
: "${GSR_TOP:?run the tests with make check}"
FIX="$GSR_TOP/tests/fixtures"
T_SCRATCH=$(mktemp -d "${TMPDIR:-/tmp}/gsr-test.XXXXXX")
trap 'rm -rf "$T_SCRATCH"' EXIT
cd "$T_SCRATCH" || exit 1

# The rules directory the binary uses: $GSRECOVER_RULES under make
# check, the installed one under make installcheck.
RULES_IN_USE=${GSRECOVER_RULES:-$("$GSR" --version | sed -n 's/^rules //p')}

t_n=0
t_failed=0

# gsr ARGS... -- run the tool (through GSR_EXEC_PREFIX when set).
gsr() {
	${GSR_EXEC_PREFIX:-} "$GSR" "$@"
}

t_result() { # STATUS DESCRIPTION
	t_n=$((t_n + 1))
	if [ "$1" -eq 0 ]; then
		echo "ok $t_n - $2"
	else
		echo "not ok $t_n - $2"
		t_failed=$((t_failed + 1))
	fi
}

# ok DESCRIPTION COMMAND... -- passes when COMMAND succeeds.
ok() {
	t_desc=$1
	shift
	if "$@"; then t_result 0 "$t_desc"; else t_result 1 "$t_desc"; fi
}

# is GOT EXPECTED DESCRIPTION
is() {
	if [ "$1" = "$2" ]; then
		t_result 0 "$3"
	else
		t_result 1 "$3"
		# On stderr too, which prove shows without -v.
		printf '#   got:      %s\n#   expected: %s\n' "$1" "$2" | tee /dev/stderr
	fi
}

# like GOT PATTERN DESCRIPTION -- grep -E on GOT.
like() {
	if printf '%s\n' "$1" | grep -Eq -- "$2"; then
		t_result 0 "$3"
	else
		t_result 1 "$3"
		printf '#   got: %s\n#   not matching: %s\n' "$1" "$2" | head -n 20 | tee /dev/stderr
	fi
}

# golden FILE EXPECTED-FILE DESCRIPTION -- diff, showing the difference.
golden() {
	if diff -u "$2" "$1" > golden.diff 2>&1; then
		t_result 0 "$3"
	else
		t_result 1 "$3"
		sed 's/^/# /' golden.diff | head -n 40
	fi
}

# sampled N -- whether item N of a long loop over data runs here: every
# item in the plain pass of make check, every $GSR_TEST_STRIDE-th in its
# sanitizer pass (each item takes the same code paths; the data of every
# item is checked in the plain pass).
sampled() {
	[ $(($1 % ${GSR_TEST_STRIDE:-1})) -eq 0 ]
}

done_testing() {
	echo "1..$t_n"
	[ "$t_failed" -eq 0 ]
}

# mkdb LABEL OUT -- build the database of a label from the SQL the tests
# carry (tests/fixtures/schemas, the sqlite_master of each label), stamp
# its alembic_version and set its journal mode.
mkdb() {
	_sql="$FIX/schemas/$1.sql"
	_rev=$(sed -n 's/^-- alembic_version: //p' "$_sql")
	_jm=$(sed -n 's/^-- journal_mode: //p' "$_sql")
	rm -f "$2"
	{
		[ "$_jm" = wal ] && echo "PRAGMA journal_mode=WAL;"
		# SQLite makes sqlite_sequence itself for AUTOINCREMENT tables,
		# and keeps it when they are gone: a scratch one makes it.
		grep -v -e '^-- ' "$_sql" |
			sed 's/^CREATE TABLE sqlite_sequence(name,seq);$/CREATE TABLE _gsr_seq (x INTEGER PRIMARY KEY AUTOINCREMENT); DROP TABLE _gsr_seq;/'
		echo "INSERT INTO alembic_version VALUES ('$_rev');"
	} | sqlite3 -bail "$2" > /dev/null
}

# mkcase N OUT -- build field case N (tests/fixtures/cases/caseN.sh).
mkcase() {
	rm -f "$2" "$2-wal" "$2-journal"
	. "$FIX/cases/case$1.sh"
	build_case "$2"
}

# view_sql LABEL -- the CREATE VIEW statement of a label.
view_sql() {
	sed -n '/^-- view /,$p' "$FIX/schemas/$1.sql" | grep -v '^-- '
}

# jqr FILE FILTER -- jq -r on a JSON file.
jqr() {
	jq -r "$2" "$1"
}

# catching PID -- wait (up to 20 s) until process PID catches SIGINT
# (SigCgt in /proc/PID/status): its handler is in place, so that a signal
# sent now is the tool's to handle, not the default action's.
catching() {
	_c_i=0
	while [ $_c_i -lt 400 ]; do
		_c_m=$(sed -n 's/^SigCgt:[[:space:]]*//p' "/proc/$1/status" 2> /dev/null)
		if [ -n "$_c_m" ] && [ $(( 0x$_c_m & 2 )) -ne 0 ]; then
			return 0
		fi
		sleep 0.05
		_c_i=$((_c_i + 1))
	done
	return 1
}
