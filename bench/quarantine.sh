#!/bin/sh
# make bench: memory that does not grow with the trouble.  rebuild --to
# 0.7.1 (with its audit archive) of a 300 MB GPUStack 0.7.1 database
# whose 100 users are all refused (a source outside the users.source
# domain), taking every model_usages row with them under the foreign
# keys, against the same rebuild of a database of the same size whose
# rows all go in.  Prints seconds, CPU and peak RSS of each (target: peak
# RSS under 64 MiB for both), and checks that every row is accounted for.
set -eu
: "${GSR:?run with make bench}"
here=$(cd "$(dirname "$0")" && pwd)
out="$here/out"
mkdir -p "$out"
rows=${BENCH_ROWS:-4500000}
refused="$out/refused-0.7.1.db"
healthy="$out/healthy-0.7.1.db"
[ -s "$refused" ] || { echo "generating $refused ..."; sh "$here/gen-refused-db.sh" "$refused" "$rows" 100; }
if [ ! -s "$healthy" ]; then
	echo "generating $healthy ..."
	cp "$refused" "$healthy"
	sqlite3 "$healthy" "UPDATE users SET source = 'Local'"
fi

now() { date +%s.%N; }
run() { # NAME LABEL DB
	rm -f "$out/q-$1.db" "$out/q-$1.tar.zst"
	sync
	cat "$3" > /dev/null
	t0=$(now)
	/usr/bin/time -f '%M %U %S' -o "$out/q-$1.rss" "$GSR" rebuild --json "$3" --to 0.7.1 \
		-o "$out/q-$1.db" --archive "$out/q-$1.tar.zst" > "$out/q-$1.json" || [ $? -le 4 ]
	t1=$(now)
	label=$2
	set -- "$1" $(tail -n 1 "$out/q-$1.rss") "$(echo "$t1 - $t0" | bc -l)"
	printf '%-44s %6.2f s, CPU %5.2f s, peak RSS %3d MiB; rows %s\n' \
		"rebuild, $label:" "$5" "$(echo "$3 + $4" | bc -l)" $(($2 / 1024)) \
		"$(jq -c .rows "$out/q-$1.json")"
	jq -e '[.tables[] | select(.source != .imported + .quarantined)] | length == 0' \
		"$out/q-$1.json" > /dev/null || { echo "rows do not reconcile" >&2; exit 1; }
}
echo "database: $refused ($(($(wc -c < "$refused") / 1048576)) MiB)"
run healthy "every row in" "$healthy"
run refused "100 users and their usages refused" "$refused"
n=$(tar --zstd -xOf "$out/q-refused.tar.zst" \
	--wildcards 'quarantine/*model_usages*' | wc -l)
echo "model_usages rows in the quarantine: $n"
