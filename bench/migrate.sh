#!/bin/sh
# make bench: gsrecover migrate of the benchmark database (bench/gen-db.sh,
# 327 MB of GPUStack 0.5.1) into a private PostgreSQL server, against
# gsrecover rebuild --to 0.7.1 alone (the first half of migrate), both
# with their audit archive, in the same run.  The server is started as
# tests/pg.sh starts it (initdb into a temporary directory, a unix socket
# only, fsync off, as nobody when run as root) and stopped and removed at
# the end, also on failure.  Prints both times (wall, and user+sys CPU
# seconds), the ratio, gsrecover's peak RSS for each, and where migrate's
# time went.
set -eu
: "${GSR:?run with make bench}"
here=$(cd "$(dirname "$0")" && pwd)
out="$here/out"
mkdir -p "$out"
db="$out/bench-0.5.1.db"
[ -s "$db" ] || { echo "generating $db ..."; sh "$here/gen-db.sh" "$db" "${BENCH_ROWS:-4500000}"; }
echo "database: $db ($(($(wc -c < "$db") / 1048576)) MiB)"

T_SCRATCH=
. "$here/../tests/pg.sh"
pg_start
# pg_start's trap stops the server; keep it and also remove our outputs.
trap 'pg_stop; rm -f "$out/mig-rebuilt.db" "$out/mig.tar.zst" "$out/rb071.db" "$out/rb071.tar.zst"' EXIT
pg_createdb bench

now() { date +%s.%N; }
secs() { echo "$2 - $1" | bc -l; }
settle() { sync; cat "$db" > /dev/null; }
# run NAME CMD... -- time CMD (exit 0, 1 or 4 are successes); sets
# wall, cpu (user+sys) and rss (KiB).
run() {
	_n=$1
	shift
	settle
	_t0=$(now)
	/usr/bin/time -f '%M %U %S' -o "$out/$_n.rss" "$@" > "$out/$_n.json" || case $? in 1 | 4) ;; *) exit 1 ;; esac
	_t1=$(now)
	wall=$(secs "$_t0" "$_t1")
	set -- $(tail -n 1 "$out/$_n.rss")
	rss=$1 cpu=$(echo "$2 + $3" | bc -l)
}

rm -f "$out/rb071.db" "$out/rb071.tar.zst"
run rebuild "$GSR" rebuild --json "$db" --to 0.7.1 -o "$out/rb071.db" --archive "$out/rb071.tar.zst"
rb_wall=$wall rb_cpu=$cpu rb_rss=$rss
rm -f "$out/rb071.db" "$out/rb071.tar.zst"

run migrate "$GSR" migrate --json "$db" --database-url "$(pg_url bench)" \
	-o "$out/mig-rebuilt.db" --archive "$out/mig.tar.zst"
mg_wall=$wall mg_cpu=$cpu mg_rss=$rss
# gsrecover's CPU time leaves out the server's (COPY's parsing, the
# heap, the keys and indexes built after the rows): the wall time has it.
printf 'gsrecover rebuild --to 0.7.1 + archive:  %6.2f s wall, %6.2f s CPU (peak RSS %d MiB)\n' \
	"$rb_wall" "$rb_cpu" $((rb_rss / 1024))
printf 'gsrecover migrate (rebuild + load):      %6.2f s wall, %6.2f s CPU (peak RSS %d MiB)\n' \
	"$mg_wall" "$mg_cpu" $((mg_rss / 1024))
printf 'ratio migrate / rebuild: %.2fx wall, %.2fx CPU of gsrecover\n' \
	"$(echo "$mg_wall / $rb_wall" | bc -l)" "$(echo "$mg_cpu / $rb_cpu" | bc -l)"
jq -r '"loaded: \(.load.imported) rows; migrate'"'"'s time: rebuild \(.timing_ms.rebuild | floor) ms (of which the check against PostgreSQL'"'"'s types \(.timing_ms.check | floor) ms), load \(.timing_ms.load | floor) ms (schema, COPY, sequences, commit)"' "$out/migrate.json"
pg_psql bench -At -c "SELECT 'in PostgreSQL: ' || pg_size_pretty(pg_database_size('bench'))"
