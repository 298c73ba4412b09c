#!/bin/sh
# make stress-wal: 20 consecutive rebuilds (--to 0.7.1, with the audit
# archive) of the WAL benchmark database (bench/gen-wal-db.sh, as
# bench/wal.sh uses: a 0.7.1 database copied with a -wal of committed,
# uncheckpointed transactions), each from a fresh copy of the main file
# and its -wal.  Every run must succeed (exit 0 or 1), its archive must
# verify, and its output must hold the -wal's rows: the new system_loads
# rows, and as many rows in each table as SQLite reads from a copy of the
# database with its -wal.  STRESS_RUNS changes the count.
set -eu
: "${GSR:?run with make stress-wal}"
here=$(cd "$(dirname "$0")" && pwd)
out="$here/out"
mkdir -p "$out/stress"
src="$out/wal-0.7.1.db"
[ -s "$src" ] && [ -s "$src-wal" ] || {
	echo "generating $src ..."
	sh "$here/gen-wal-db.sh" "$src" "${BENCH_ROWS:-4500000}"
}
q="SELECT (SELECT count(*) FROM system_loads) || ' ' || (SELECT count(*) FROM model_usages)
	|| ' ' || (SELECT count(*) FROM system_loads WHERE timestamp >= 1900000000)
	|| ' ' || (SELECT sum(request_count) FROM model_usages)"
# What SQLite reads from a copy of the main file with its -wal.
rm -rf "$out/stress/ref"
mkdir "$out/stress/ref"
cp "$src" "$out/stress/ref/db.db"
cp "$src-wal" "$out/stress/ref/db.db-wal"
want=$(sqlite3 "$out/stress/ref/db.db" "$q")
rm -rf "$out/stress/ref"
set -- $want
[ "$3" -gt 0 ] || { echo "stress-wal: the -wal holds no new rows"; exit 1; }
echo "database: $(($(wc -c < "$src") / 1048576)) MiB, -wal: $(($(wc -c < "$src-wal") / 1024)) KiB;" \
	"expected rows (system_loads, model_usages, new in the -wal, sum of request_count): $want"
runs=${STRESS_RUNS:-20}
i=1
fail=0
while [ $i -le "$runs" ]; do
	d="$out/stress/run"
	rm -rf "$d"
	mkdir "$d"
	cp "$src" "$d/db.db"
	cp "$src-wal" "$d/db.db-wal"
	t0=$(date +%s.%N)
	rc=0
	"$GSR" rebuild -q "$d/db.db" --to 0.7.1 -o "$d/out.db" --archive "$d/a.tar.zst" \
		> /dev/null 2> "$d/err" || rc=$?
	t=$(echo "$(date +%s.%N) - $t0" | bc -l)
	got=$(sqlite3 "$d/out.db" "$q" 2> /dev/null || echo "unreadable")
	vrc=0
	"$GSR" verify -q "$d/a.tar.zst" --db "$d/out.db" > /dev/null 2>&1 || vrc=$?
	if [ $rc -le 1 ] && [ $vrc -eq 0 ] && [ "$got" = "$want" ]; then
		printf 'run %2d: ok (%.1f s)\n' $i "$t"
	else
		printf 'run %2d: FAILED: exit %d, verify %d, rows %s\n' $i $rc $vrc "$got"
		sed 's/^/  /' "$d/err"
		fail=$((fail + 1))
	fi
	i=$((i + 1))
done
rm -rf "$out/stress"
echo "stress-wal: $((runs - fail)) of $runs rebuilds succeeded with the -wal's rows"
[ $fail -eq 0 ]
