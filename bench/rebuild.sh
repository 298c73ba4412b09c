#!/bin/sh
# make bench: rebuild --to 0.6.0 of a 327 MB GPUStack 0.5.1 database, with
# its audit archive (the default kind, without the full export; then with
# --archive-export, for comparison), against in the same run
#   the floor: sqlite3 SRC "VACUUM INTO" plus zstd -3 -T0 of SRC (rewrite
#              every page once, compress the evidence once), and
#   the dump:  sqlite3 SRC .dump | sqlite3 NEW (what a user tries by hand).
# Prints seconds, the ratios, gsrecover's peak memory and where its time
# went (the phases of identify, then the log of the rebuild).
set -eu
: "${GSR:?run with make bench}"
here=$(cd "$(dirname "$0")" && pwd)
out="$here/out"
mkdir -p "$out"
db="$out/bench-0.5.1.db"
[ -s "$db" ] || { echo "generating $db ..."; sh "$here/gen-db.sh" "$db" "${BENCH_ROWS:-4500000}"; }
echo "database: $db ($(($(wc -c < "$db") / 1048576)) MiB)"

now() { date +%s.%N; }
secs() { echo "$2 - $1" | bc -l; }
# Each contender starts alike: what the one before wrote is on disk and
# gone (its memory free again), 1 GiB of memory was just used and freed
# (warm.sh says why), the input is in the page cache.
. "$here/warm.sh"
settle() {
	rm -f "$out/floor.db" "$out/floor.zst" "$out/dump.db"
	warm_memory "$out"
	sync
	cat "$db" > /dev/null
}

settle
t0=$(now)
sqlite3 "$db" "VACUUM INTO '$out/floor.db'"
zstd -q -3 -T0 "$db" -o "$out/floor.zst"
t1=$(now)
floor=$(secs "$t0" "$t1")

settle
t0=$(now)
sqlite3 "$db" .dump | sqlite3 "$out/dump.db"
t1=$(now)
dump=$(secs "$t0" "$t1")

rm -f "$out/rebuilt.db" "$out/audit.tar.zst"
settle
t0=$(now)
/usr/bin/time -f '%M %U %S' -o "$out/rss.txt" "$GSR" rebuild --json "$db" --to 0.6.0 \
	-o "$out/rebuilt.db" --archive "$out/audit.tar.zst" > "$out/rebuild.json" || [ $? -eq 1 ]
t1=$(now)
ours=$(secs "$t0" "$t1")
set -- $(tail -n 1 "$out/rss.txt")
rss=$1 cpu=$(echo "$2 + $3" | bc -l)

# The archive as it was before it went without the full export, for
# comparison (not a target).
rm -f "$out/rebuilt-x.db" "$out/audit-x.tar.zst"
settle
t0=$(now)
/usr/bin/time -f '%M %U %S' -o "$out/rss-x.txt" "$GSR" rebuild --json "$db" --to 0.6.0 \
	-o "$out/rebuilt-x.db" --archive "$out/audit-x.tar.zst" --archive-export > /dev/null || [ $? -eq 1 ]
t1=$(now)
withexport=$(secs "$t0" "$t1")
set -- $(tail -n 1 "$out/rss-x.txt")
rssx=$1 cpux=$(echo "$2 + $3" | bc -l)
rm -f "$out/rebuilt-x.db"

printf 'floor (VACUUM INTO + zstd -3 -T0):  %6.2f s\n' "$floor"
printf 'dump  (.dump | sqlite3):            %6.2f s\n' "$dump"
printf 'gsrecover rebuild + archive:        %6.2f s  (peak RSS %d MiB)\n' "$ours" $((rss / 1024))
# Two cores give at most twice the wall time: how much of it was used.
printf 'its CPU time: %.2f s, %.0f%% of %d cores\n' "$cpu" \
	"$(echo "100 * $cpu / $ours / $(nproc)" | bc -l)" "$(nproc)"
printf 'ratio to the floor: %.2fx (target <= 2)\n' "$(echo "$ours / $floor" | bc -l)"
printf 'with --archive-export:              %6.2f s  (CPU %.2f s, peak RSS %d MiB, %.2fx the floor, archive %d MiB)\n' \
	"$withexport" "$cpux" $((rssx / 1024)) "$(echo "$withexport / $floor" | bc -l)" \
	$(($(wc -c < "$out/audit-x.tar.zst") / 1048576))
printf 'speed-up over the dump: %.1fx (target >= 10)\n' "$(echo "$dump / $ours" | bc -l)"
printf 'archive: %d MiB; rows: %s\n' $(($(wc -c < "$out/audit.tar.zst") / 1048576)) \
	"$(jq -c .rows "$out/rebuild.json")"
# Where gsrecover's time went: custody (copy, SHA-256 and, beside them,
# the compression of the input for the archive), identify's checks (run
# beside the build), then its log (milliseconds since the start).
if tar --zstd -xOf "$out/audit.tar.zst" identify.json > "$out/identify-in-rebuild.json" 2> /dev/null; then
	jq -r '.timing_ms | "phases: custody \(.custody | floor) ms; identify checks \(.checks | floor) ms, beside the build; then:"' \
		"$out/identify-in-rebuild.json"
	tar --zstd -xOf "$out/audit.tar.zst" rebuild/log.txt | sed 's/^/  /'
fi
