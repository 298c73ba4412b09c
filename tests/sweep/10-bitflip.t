#!/bin/sh
# Corruption sweep: flip bits across every page of a populated fixture
# (field case 2, with data) and run identify on each variant.  Every run
# must end with a documented status (0, 4 or 8) -- no crash, no sanitizer
# report (make check runs this under ASan+UBSan too), no hang.
. "$GSR_TOP/tests/lib.sh"

mkcase 2 base.db
sqlite3 base.db "WITH RECURSIVE n(i) AS (SELECT 2 UNION ALL SELECT i + 1 FROM n WHERE i < 400)
INSERT INTO system_loads (id, timestamp, cpu, ram, gpu, vram)
SELECT i, 1741168800 + i, i % 100, 40.0, 55.0, 61.5 FROM n;"
size=$(wc -c < base.db)
pages=$((size / 4096))

# flip FILE OFFSET MASK -- xor one byte in place.
flip() {
	b=$(od -An -tu1 -j "$2" -N1 "$1" | tr -d ' ')
	printf "$(printf '\\%03o' $((b ^ $3)))" |
		dd of="$1" bs=1 seek="$2" conv=notrunc status=none
}

bad=0
runs=0
seed=7
p=0
while [ $p -lt $pages ]; do
	for k in 1 2 3 4 5 6; do
		sampled $k || [ $k -eq 1 ] || continue
		# A small LCG picks the offset within the page and the bit.
		seed=$(( (seed * 1103515245 + 12345) % 2147483648 ))
		off=$(( p * 4096 + (seed / 8) % 4096 ))
		[ $k -eq 1 ] && off=$(( p * 4096 + (p == 0 ? 16 + seed % 84 : seed % 12) ))
		cp base.db v.db
		flip v.db $off $((1 << (seed % 8)))
		timeout 20 "$GSR" identify --json v.db > out.json 2> err.txt
		st=$?
		runs=$((runs + 1))
		case $st in
		0|4|8) ;;
		*)
			bad=$((bad + 1))
			echo "# page $p offset $off: exit $st"
			sed 's/^/#   /' err.txt | head -n 5
			;;
		esac
		if [ $st -ne 8 ] && ! jq -e . out.json > /dev/null 2>&1; then
			bad=$((bad + 1))
			echo "# page $p offset $off: output is not JSON"
		fi
	done
	p=$((p + 1))
done
is "$bad" 0 "$runs bit-flip variants over $pages pages: every run ends cleanly"

# Truncation at every page boundary.
bad=0
p=1
while [ $p -lt $pages ]; do
	head -c $((p * 4096)) base.db > t.db
	timeout 20 "$GSR" identify --json t.db > out.json 2> err.txt
	case $? in 0|4|8) ;; *) bad=$((bad + 1)); echo "# truncated to $p pages: crash" ;; esac
	p=$((p + 1))
done
is "$bad" 0 "truncated at each of $((pages - 1)) page boundaries: every run ends cleanly"

done_testing
