#!/bin/sh
# make bench: carving deleted rows with the index cross-checks on, on the
# benchmark database after deleting 2 % of system_loads and model_usages
# rows and every 10th user and API key from a copy with secure_delete off
# (so that rowids come from cells, index entries and page order).  Runs
# `gsrecover identify --recover` (the page reader's full recovery, which
# carves the image, reads every index tree and looks for each carved row's
# key in the index and freelist pages) and prints its MB/s over wall time,
# user+sys CPU seconds, peak RSS, and the carved rows by how their rowid
# was established.  bench/pagewalk.sh gives the carver alone.
set -eu
: "${GSR:?run with make bench}"
here=$(cd "$(dirname "$0")" && pwd)
out="$here/out"
mkdir -p "$out"
db="$out/bench-0.5.1.db"
[ -s "$db" ] || { echo "generating $db ..."; sh "$here/gen-db.sh" "$db" "${BENCH_ROWS:-4500000}"; }
del="$out/bench-carve.db"
if [ ! -s "$del" ] || [ "$del" -ot "$db" ]; then
	cp "$db" "$del"
	sqlite3 "$del" "PRAGMA secure_delete=OFF;
		DELETE FROM system_loads WHERE id % 50 = 0;
		DELETE FROM model_usages WHERE id % 50 = 0;
		DELETE FROM api_keys WHERE id % 10 = 0;
		DELETE FROM users WHERE id % 10 = 0;" > /dev/null
fi
cat "$del" > /dev/null # page cache warm
size=$(wc -c < "$del")
echo "database: $del ($((size / 1048576)) MiB)"
t0=$(date +%s.%N)
/usr/bin/time -f "%U %S %M" -o "$out/carve.time" \
	"$GSR" identify --recover --json "$del" > "$out/carve.json" || true
t1=$(date +%s.%N)
read -r u s rss < "$out/carve.time"
wall=$(echo "$t1 - $t0" | bc -l)
printf 'identify --recover with carving and index cross-checks: %.1f s wall, %.1f s user+sys, %.0f MB/s, peak RSS %d MiB\n' \
	"$wall" "$(echo "$u + $s" | bc -l)" "$(echo "$size / $wall / 1000000" | bc -l)" $((rss / 1024))
echo "deleted rows: $(jq -c '.recovery.deleted | {rows, rowid_from, confirmed_by_foreign_keys, flagged, bytes_scanned}' "$out/carve.json")"
