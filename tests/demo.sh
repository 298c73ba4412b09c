#!/bin/sh
# make demo: build the sample database of field case 1 (GPUStack issue
# #1900: a main-branch build under v0.6.0's alembic stamp) from the SQL the
# tests carry, and run gsrecover on it as a support engineer would.
set -u
GSR=${1:?usage: demo.sh GSRECOVER}
case $GSR in /*) ;; *) GSR="$(pwd)/$GSR" ;; esac
GSR_TOP=$(pwd)
FIX="$GSR_TOP/tests/fixtures"
export GSRECOVER_RULES="$GSR_TOP/rules"

mkdir -p demo-out
rm -f demo-out/database.db
# The fixture helpers (mkdb, mkcase) live in tests/lib.sh's functions;
# source only what building needs.
eval "$(sed -n '/^mkdb() {/,/^}/p; /^mkcase() {/,/^}/p' tests/lib.sh)"
mkcase 1 demo-out/database.db || exit 1

echo "\$ gsrecover identify demo-out/database.db"
"$GSR" identify demo-out/database.db
status=$?
echo "(exit status $status: 4 means the database is not exactly a release)"
echo
echo "\$ gsrecover identify --json demo-out/database.db | jq '{verdict, matches, claimed: .claimed.label, findings: [.findings[].code]}'"
if command -v jq > /dev/null; then
	"$GSR" identify --json demo-out/database.db 2> /dev/null |
		jq '{verdict, matches, claimed: .claimed.label, findings: [.findings[].code]}'
else
	"$GSR" identify --json demo-out/database.db 2> /dev/null | head -n 30
fi
[ "$status" -eq 4 ]
