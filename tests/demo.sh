#!/bin/sh
# make demo: build the sample database of field case 1 (GPUStack issue
# #1900: a main-branch build under v0.6.0's alembic stamp) from the SQL the
# tests carry, and run gsrecover on it as a support engineer would:
# identify, rebuild to 0.6.0, and a look into the audit archive.
set -u
GSR=${1:?usage: demo.sh GSRECOVER}
case $GSR in /*) ;; *) GSR="$(pwd)/$GSR" ;; esac
GSR_TOP=$(pwd)
FIX="$GSR_TOP/tests/fixtures"
export GSRECOVER_RULES="$GSR_TOP/rules"

rm -rf demo-out
mkdir -p demo-out
# The fixture builders (mkdb, mkcase) of tests/lib.sh.
eval "$(sed -n '/^mkdb() {/,/^}/p; /^mkcase() {/,/^}/p' tests/lib.sh)"
mkcase 1 demo-out/database.db || exit 1

echo "\$ gsrecover identify demo-out/database.db"
"$GSR" identify demo-out/database.db
echo "(exit status $?: 4 means the database is not exactly a release)"
echo
echo "\$ gsrecover rebuild demo-out/database.db --to 0.6.0"
"$GSR" rebuild demo-out/database.db --to 0.6.0
status=$?
echo "(exit status $status: 4 means repaired, with rows quarantined in the archive)"
echo
archive=$(ls demo-out/database.audit-*.tar.zst)
echo "\$ tar --zstd -tvf $archive | grep -v ' rules/'"
tar --zstd -tvf "$archive" | grep -v ' rules/'
echo
echo "\$ gsrecover verify $archive --db demo-out/database.rebuilt-0.6.0.db"
"$GSR" verify "$archive" --db demo-out/database.rebuilt-0.6.0.db
echo
echo "\$ gsrecover identify demo-out/database.rebuilt-0.6.0.db | head -n 3"
"$GSR" identify demo-out/database.rebuilt-0.6.0.db | head -n 3
echo
# Physical damage: the sample with its first page (header and schema root)
# zeroed, which SQLite cannot open at all.
cp demo-out/database.db demo-out/damaged.db
dd if=/dev/zero of=demo-out/damaged.db bs=4096 count=1 conv=notrunc 2> /dev/null
echo "\$ dd if=/dev/zero of=demo-out/damaged.db bs=4096 count=1 conv=notrunc"
echo "\$ gsrecover identify demo-out/damaged.db | head -n 12"
"$GSR" identify demo-out/damaged.db | head -n 12
[ "$status" -eq 4 ]
