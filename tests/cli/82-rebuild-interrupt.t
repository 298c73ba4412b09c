#!/bin/sh
# Ctrl-C in the middle of a rebuild: exit 32, and neither the rebuilt
# database, nor the archive, nor any temporary file is left behind.
. "$GSR_TOP/tests/lib.sh"

sh "$GSR_TOP/bench/gen-db.sh" big.db 2000000
ls | grep -v -e '^before.txt$' > before.txt
${GSR_EXEC_PREFIX:-} "$GSR" rebuild big.db --to 0.6.0 > out.txt 2> err.txt &
pid=$!
sleep 0.7
kill -INT $pid
wait $pid
st=$?
is "$st" 32 "interrupted rebuild: exit 32"
ls | grep -v -e '^out.txt$' -e '^err.txt$' -e '^after.txt$' -e '^before.txt$' > after.txt
golden after.txt before.txt "interrupted rebuild: nothing left beside the input"
like "$(cat err.txt)" "^gsrecover: (export: )?interrupted$" "interrupted rebuild: said"

# An interrupted --force run leaves the existing output as it was.
echo keep > big.rebuilt-0.6.0.db
${GSR_EXEC_PREFIX:-} "$GSR" rebuild big.db --to 0.6.0 --force > out.txt 2> err.txt &
pid=$!
sleep 0.7
kill -TERM $pid
wait $pid
is "$?" 32 "interrupted --force rebuild: exit 32"
is "$(cat big.rebuilt-0.6.0.db)" keep "interrupted --force rebuild: the old output is intact"
is "$(ls | grep -c 'tmp-')" 0 "interrupted --force rebuild: no temporary file left"

# No temporary directory survives a signal, whenever it comes: 20
# rebuilds of a 10 MB database, each signalled at another point of its
# run, with TMPDIR a directory of their own that must be empty after each.
# The odd ones get a second signal right after the first (the user
# insists), which removes everything at once and exits from the handler.
mkdir tmp
sh "$GSR_TOP/bench/gen-db.sh" mid.db 140000
listing() {
	ls | grep -v -e '^out.txt$' -e '^err.txt$' -e '^after.txt$' -e '^before.txt$' \
		-e '^golden.diff$' | sort
}
listing > before.txt
# How long a whole run takes here: the signals are spread over it.
t0=$(date +%s%N)
TMPDIR="$T_SCRATCH/tmp" gsr rebuild mid.db --to 0.6.0 -o mid.out.db --archive mid.tar.zst \
	> /dev/null 2>&1
run_ms=$(( ($(date +%s%N) - t0) / 1000000 ))
rm -f mid.out.db mid.tar.zst
interrupted=0
n=0
while [ $n -lt 20 ]; do
	delay=$(awk -v n=$n -v t=$run_ms 'BEGIN { printf "%.3f", t * 0.85 * n / 20 / 1000 }')
	TMPDIR="$T_SCRATCH/tmp" ${GSR_EXEC_PREFIX:-} "$GSR" rebuild mid.db --to 0.6.0 \
		-o mid.out.db --archive mid.tar.zst > out.txt 2> err.txt &
	pid=$!
	catching $pid
	sleep "$delay"
	kill -INT $pid 2> /dev/null
	[ $((n % 2)) -eq 1 ] && kill -TERM $pid 2> /dev/null
	wait $pid
	st=$?
	# A run may finish before its signal (1); then its outputs stay.
	ok "signal after ${delay}s ($((n % 2 + 1)) signal(s)): exit 32, or 1 if it was done (got $st)" \
		[ "$st" -eq 32 -o "$st" -eq 1 ]
	[ "$st" -eq 32 ] && interrupted=$((interrupted + 1))
	is "$(ls -A tmp | tr '\n' ' ')" "" "signal after ${delay}s: \$TMPDIR empty"
	rm -f mid.out.db mid.tar.zst
	listing > after.txt
	golden after.txt before.txt "signal after ${delay}s: nothing left beside the input"
	rm -rf tmp/* tmp/.[!.]* 2> /dev/null
	n=$((n + 1))
done
ok "most of the runs were interrupted ($interrupted of 20)" [ "$interrupted" -ge 10 ]

done_testing
