#!/bin/sh
# make bench: the page reader on the 327 MB (312 MiB) benchmark database.
#   1. identify --recover (the page reader's full recovery, on top of
#      custody and the checks): size over wall time, CPU time, peak RSS.
#      Target (issue 11): 100 MB/s or more, peak RSS under 64 MiB.
#   2. rebuild --to 0.6.0 with the audit archive of the healthy file and
#      of the same file with one interior page of system_loads zeroed (so
#      no row is lost, but SQLite cannot read the table and the page
#      reader recovers it), side by side, with every row counted.
#      Target: the damaged file in at most 2.5x the healthy one's time.
# Each figure is the best wall time of two runs, with the CPU time (user +
# system) and peak RSS of that run.
set -eu
: "${GSR:?run with make bench}"
here=$(cd "$(dirname "$0")" && pwd)
out="$here/out"
mkdir -p "$out"
db="$out/bench-0.5.1.db"
[ -s "$db" ] || { echo "generating $db ..."; sh "$here/gen-db.sh" "$db" "${BENCH_ROWS:-4500000}"; }
dmg="$out/bench-damaged.db"
if [ ! -s "$dmg" ] || [ "$dmg" -ot "$db" ]; then
	# The interior page in the middle of system_loads' second level.
	pg=$(sqlite3 "$db" "SELECT pageno FROM dbstat WHERE name = 'system_loads'
		AND pagetype = 'internal' AND path != '/' ORDER BY path
		LIMIT 1 OFFSET (SELECT count(*) / 2 FROM dbstat WHERE name = 'system_loads'
		AND pagetype = 'internal' AND path != '/')")
	cp "$db" "$dmg"
	dd if=/dev/zero of="$dmg" bs=4096 seek=$((pg - 1)) count=1 conv=notrunc 2> /dev/null
fi
size=$(wc -c < "$db")
echo "database: $db ($((size / 1048576)) MiB); damaged copy: interior page zeroed;" \
	"load before: $(cut -d' ' -f1-3 /proc/loadavg)"

now() { date +%s.%N; }
. "$here/warm.sh"
# best CMD...: "WALL CPU RSS_MIB" of the run with the best wall time of
# two (the output of that run in $out/r.out; exit statuses up to 4 are
# results, not failures).
best() {
	b=""
	for i in 1 2; do
		rm -f "$out/r.db" "$out/r.tar.zst"
		warm_memory "$out"
		sync
		cat "$db" "$dmg" > /dev/null
		t0=$(now)
		/usr/bin/time -f '%M %U %S' -o "$out/r.time" "$@" > "$out/r.tmp" 2> /dev/null || [ $? -le 4 ]
		t=$(echo "$(now) - $t0" | bc -l)
		if [ -z "$b" ] || [ "$(echo "$t < $b" | bc -l)" = 1 ]; then
			b=$t
			tail -n 1 "$out/r.time" > "$out/r.t1"
			read -r m u s < "$out/r.t1"
			res="$(echo "$u + $s" | bc -l) $((m / 1024))"
			mv "$out/r.tmp" "$out/r.out"
			[ ! -e "$out/r.db" ] || mv "$out/r.db" "$out/r-best.db"
		fi
	done
	echo "$b $res"
}

set -- $(best "$GSR" identify --recover --json "$db")
printf 'page reader (identify --recover): %6.2f s = %5.1f MB/s, CPU %.2f s, peak RSS %d MiB (target >= 100 MB/s, < 64 MiB)\n' \
	"$1" "$(echo "$size / $1 / 1000000" | bc -l)" "$2" "$3"
jq -r '"  phases: custody \(.timing_ms.custody | floor) ms, checks + recovery \(.timing_ms.checks | floor) ms; rows \(.recovery.rows), copied in bulk from the same cells: \([.recovery.tables[].bulk_copied] | add) rows"' "$out/r.out"

q="SELECT (SELECT count(*) FROM system_loads) || ' ' || (SELECT count(*) FROM model_usages)"
set -- $(best "$GSR" rebuild --json "$db" --to 0.6.0 -o "$out/r.db" --archive "$out/r.tar.zst")
hw=$1 hc=$2 hr=$3
healthy_rows=$(sqlite3 "$out/r-best.db" "$q")
set -- $(best "$GSR" rebuild --json "$dmg" --to 0.6.0 -o "$out/r.db" --archive "$out/r.tar.zst")
dw=$1 dc=$2 dr=$3
damaged_rows=$(sqlite3 "$out/r-best.db" "$q")
printf 'rebuild + archive, healthy:         %6.2f s, CPU %.2f s, peak RSS %d MiB\n' "$hw" "$hc" "$hr"
printf 'rebuild + archive, interior zeroed: %6.2f s, CPU %.2f s, peak RSS %d MiB\n' "$dw" "$dc" "$dr"
printf '  ratio %.2fx wall, %.2fx CPU (target <= 2.5)\n' "$(echo "$dw / $hw" | bc -l)" \
	"$(echo "$dc / $hc" | bc -l)"
echo "  rows (system_loads, model_usages): healthy $healthy_rows, damaged $damaged_rows"
rm -f "$out/r-best.db" "$out/r.out" "$out/r.time" "$out/r.t1" "$out/r.tar.zst"
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)"
[ "$healthy_rows" = "$damaged_rows" ] || { echo "the damaged file lost rows"; exit 1; }
