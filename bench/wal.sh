#!/bin/sh
# make bench: a GPUStack 0.7.1 database in WAL mode (about 300 MB) copied
# with its -wal (committed, uncheckpointed transactions, at least 1 MB),
# against the same main file alone: identify and rebuild --to 0.7.1 with
# the audit archive, the best of two runs each.  Target (issue 11): with
# the -wal, each at most 1.25x the time without, and the -wal's rows in
# the output.
set -eu
: "${GSR:?run with make bench}"
here=$(cd "$(dirname "$0")" && pwd)
out="$here/out"
mkdir -p "$out/wal" "$out/main"
src="$out/wal-0.7.1.db"
[ -s "$src" ] && [ -s "$src-wal" ] || {
	echo "generating $src ..."
	sh "$here/gen-wal-db.sh" "$src" "${BENCH_ROWS:-4500000}"
}
cp "$src" "$out/wal/db.db"
cp "$src-wal" "$out/wal/db.db-wal"
cp "$src" "$out/main/db.db"
echo "database: $(($(wc -c < "$src") / 1048576)) MiB, -wal: $(($(wc -c < "$src-wal") / 1024)) KiB;" \
	"load before: $(cut -d' ' -f1-3 /proc/loadavg)"

now() { date +%s.%N; }
. "$here/warm.sh"
# best CMD...: the best wall time of two runs, in seconds, each started
# alike: the disk synced, 1 GiB of memory just used and freed (warm.sh),
# the input cached.
best() {
	b=""
	for i in 1 2; do
		rm -f "$out/w.db" "$out/w.tar.zst"
		warm_memory "$out"
		sync
		cat "$src" "$src-wal" > /dev/null
		t0=$(now)
		/usr/bin/time -f '%M' -o "$out/w.rss" "$@" > "$out/w.out" 2> /dev/null || [ $? -le 1 ]
		t=$(echo "$(now) - $t0" | bc -l)
		if [ -z "$b" ] || [ "$(echo "$t < $b" | bc -l)" = 1 ]; then
			b=$t
			rss=$(($(tail -n 1 "$out/w.rss") / 1024))
		fi
	done
	echo "$b $rss"
}
for kind in main wal; do
	set -- $(best "$GSR" identify --json "$out/$kind/db.db")
	eval "id_$kind=$1 idrss_$kind=$2"
	cp "$out/w.out" "$out/wal-identify-$kind.json"
	set -- $(best "$GSR" rebuild --json "$out/$kind/db.db" --to 0.7.1 -o "$out/w.db" \
		--archive "$out/w.tar.zst")
	eval "rb_$kind=$1 rbrss_$kind=$2"
	cp "$out/w.db" "$out/wal-rebuilt-$kind.db"
done
printf 'identify, main file alone:   %6.2f s (peak RSS %d MiB)\n' "$id_main" "$idrss_main"
printf 'identify, with its -wal:     %6.2f s (peak RSS %d MiB), reader %s\n' "$id_wal" "$idrss_wal" \
	"$(jq -r .reader "$out/wal-identify-wal.json")"
printf '  ratio %.2fx (target <= 1.25); history rows %s\n' "$(echo "$id_wal / $id_main" | bc -l)" \
	"$(jq .recovery.history_rows "$out/wal-identify-wal.json")"
printf 'rebuild + archive, alone:    %6.2f s (peak RSS %d MiB)\n' "$rb_main" "$rbrss_main"
printf 'rebuild + archive, with -wal:%6.2f s (peak RSS %d MiB)\n' "$rb_wal" "$rbrss_wal"
printf '  ratio %.2fx (target <= 1.25)\n' "$(echo "$rb_wal / $rb_main" | bc -l)"
q="SELECT count(*) FROM system_loads WHERE timestamp >= 1900000000"
printf "the -wal's new system_loads rows in the output: %s with the -wal, %s without\n" \
	"$(sqlite3 "$out/wal-rebuilt-wal.db" "$q")" "$(sqlite3 "$out/wal-rebuilt-main.db" "$q")"
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)"
