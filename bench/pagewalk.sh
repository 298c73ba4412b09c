#!/bin/sh
# make bench: the page reader's throughput (bench/pagewalk.c) on the
# benchmark database, after deleting 2 % of system_loads and model_usages
# rows from a copy with secure_delete off, so that carving finds rows.
set -eu
: "${GSR_BUILD:?run with make bench}"
here=$(cd "$(dirname "$0")" && pwd)
out="$here/out"
mkdir -p "$out"
db="$out/bench-0.5.1.db"
[ -s "$db" ] || { echo "generating $db ..."; sh "$here/gen-db.sh" "$db" "${BENCH_ROWS:-4500000}"; }
del="$out/bench-deleted.db"
if [ ! -s "$del" ] || [ "$del" -ot "$db" ]; then
	cp "$db" "$del"
	sqlite3 "$del" "PRAGMA secure_delete=OFF;
		DELETE FROM system_loads WHERE id % 50 = 0;
		DELETE FROM model_usages WHERE id % 50 = 0;" > /dev/null
fi
cat "$del" > /dev/null # page cache warm
echo "database: $del ($(($(wc -c < "$del") / 1048576)) MiB)"
"$GSR_BUILD/bench-pagewalk" "$del" "$GSRECOVER_RULES"
