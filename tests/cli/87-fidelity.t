#!/bin/sh
# Forensic fidelity of deleted rows, measured (issue 12): a populated 0.6.0
# database after a realistic mix of deletes (a whole range of system_loads
# as retention does, scattered users, API keys and models: over 15 % of
# its rows), rebuilt with --include-deleted.  Every figure is printed.
#  - ceiling: deleted rows whose record bytes are still in the file,
#    computed without gsrecover (a text value unique to the row, found in
#    the file's bytes; system_loads holds no text and has no ceiling);
#  - back: deleted rows in the rebuilt database at their true rowid with
#    their true values;
#  - invented: rows of the rebuilt database that are neither live in the
#    input nor true deleted rows at their own rowid: must be 0;
#  - SQLite's .recover on the same file: never more than gsrecover (when
#    the sqlite3 shell's .recover works: it needs the dbpage virtual
#    table, which some builds lack; the output says).
# With secure_delete on only old copies of pages (freed by a balance
# before the delete) hold deleted rows, and nothing is invented.  A
# copy with bytes flipped in 1 % of its pages: no row with a JSON column
# that does not parse, text that is not UTF-8 or a value of a class its
# column cannot hold goes into the rebuilt database.
. "$GSR_TOP/tests/lib.sh"

TABLES="models users api_keys system_loads"
mkdb 0.6.0 good.db
sqlite3 -bail good.db < "$FIX/populate-0.6.0.sql" > /dev/null
DELETES="DELETE FROM system_loads WHERE id <= 3000;
DELETE FROM models WHERE id % 5 = 0;
DELETE FROM api_keys WHERE user_id % 10 = 0 OR id % 9 = 0;
DELETE FROM users WHERE id % 10 = 0;"
total=$(sqlite3 good.db "SELECT (SELECT count(*) FROM models) + (SELECT count(*) FROM users) + (SELECT count(*) FROM api_keys) + (SELECT count(*) FROM system_loads) + (SELECT count(*) FROM workers) + (SELECT count(*) FROM model_instances) + (SELECT count(*) FROM model_usages)")

# The text unique to a row, found in the file as SQLite wrote it.
token_sql() { # TABLE
	case $1 in
	models) echo "SELECT id, name || description FROM models" ;;
	users) echo "SELECT id, hashed_password FROM users" ;;
	api_keys) echo "SELECT id, hashed_secret_key FROM api_keys" ;;
	esac
}

# measure VARIANT SECURE_DELETE
measure() {
	v=$1
	cp good.db "$v.db"
	sqlite3 "$v.db" "PRAGMA secure_delete=$2; $DELETES" > /dev/null
	gsr rebuild "$v.db" --to 0.6.0 --include-deleted -o "$v.out.db" \
		--archive "$v.tar.zst" --json > "$v.json" 2> /dev/null
	if sqlite3 "$v.db" .recover 2> "$v.rec.err" | sqlite3 "$v.rec.db" > /dev/null 2>&1 &&
		[ ! -s "$v.rec.err" ]; then
		rstate="works"
	else
		rstate="fails here: $(head -1 "$v.rec.err")"
	fi
	deleted=0 ceiling=0 back=0 invented=0 recov=0
	for t in $TABLES; do
		d=$(sqlite3 "$v.db" "ATTACH 'good.db' AS g; SELECT count(*) FROM g.$t WHERE id NOT IN (SELECT id FROM main.$t)")
		b=$(sqlite3 "$v.out.db" "ATTACH 'good.db' AS g; ATTACH '$v.db' AS d;
			SELECT count(*) FROM (SELECT * FROM main.$t WHERE id NOT IN (SELECT id FROM d.$t)
			INTERSECT SELECT * FROM g.$t)")
		i=$(sqlite3 "$v.out.db" "ATTACH 'good.db' AS g; ATTACH '$v.db' AS d;
			SELECT count(*) FROM (SELECT * FROM main.$t WHERE id NOT IN (SELECT id FROM d.$t)
			EXCEPT SELECT * FROM g.$t)")
		# .recover: rows at their rowid in the table, and rows of
		# lost_and_found of the table's width at a deleted rowid (an
		# upper bound: their values are not compared).
		rt=$(sqlite3 "$v.rec.db" "ATTACH 'good.db' AS g; ATTACH '$v.db' AS d;
			SELECT count(*) FROM (SELECT * FROM main.$t WHERE id NOT IN (SELECT id FROM d.$t)
			INTERSECT SELECT * FROM g.$t)" 2> /dev/null || echo 0)
		rl=$(sqlite3 "$v.rec.db" "ATTACH 'good.db' AS g; ATTACH '$v.db' AS d;
			SELECT count(DISTINCT id) FROM lost_and_found WHERE
			nfield = (SELECT count(*) FROM pragma_table_info('$t', 'g'))
			AND id IN (SELECT id FROM g.$t WHERE id NOT IN (SELECT id FROM d.$t))" 2> /dev/null || echo 0)
		c=-
		if [ "$t" != system_loads ]; then
			sqlite3 good.db "$(token_sql $t)" | cut -d'|' -f2- > tok.txt
			sqlite3 "$v.db" "$(token_sql $t)" | cut -d'|' -f2- > live.txt
			# The deleted rows' tokens still found in the file.
			grep -v -x -F -f live.txt tok.txt > dtok.txt
			c=$(LC_ALL=C grep -a -o -F -f dtok.txt "$v.db" | sort -u | grep -c -x -F -f dtok.txt)
			ceiling=$((ceiling + c))
		fi
		echo "# $v $t: deleted $d, ceiling $c, back at their true rowid $b, invented $i, .recover $rt + $rl"
		deleted=$((deleted + d)) back=$((back + b)) invented=$((invented + i))
		recov=$((recov + rt + rl))
	done
	echo "# $v: $deleted of $total rows deleted; ceiling $ceiling (text tables); back $back; invented $invented; .recover at most $recov (.recover $rstate)"
	echo "# $v: rebuild $(jq -c .deleted_rows "$v.json"); ledger $(tar --zstd -xOf "$v.tar.zst" identify.json | jq -c '.recovery.deleted | {rows, rowid_from, flagged}')"
	[ "$ceiling" -gt 0 ] && echo "# $v: back of the ceiling in the text tables: $(((back - b) * 100 / ceiling)) %"
}

measure plain OFF
ok "plain: at least 15 % of the rows deleted ($deleted of $total)" [ $((deleted * 100)) -ge $((total * 15)) ]
is "$invented" 0 "plain: no row imported at a rowid that was not established"
ok "plain: at least what .recover gets back ($back >= $recov)" [ "$back" -ge "$recov" ]
ok "plain: deleted rows come back ($back)" [ "$back" -gt 0 ]
unknown=$(tar --zstd -xOf plain.tar.zst recovery/rows.jsonl | jq -s '[.[] | select(.kind == "deleted" and .rowid == null)] | length')
flagged=$(tar --zstd -xOf plain.tar.zst recovery/rows.jsonl | jq -s '[.[] | select(.kind == "deleted" and .rowid == null and .rowid_from == "unknown" and (.flag | test("rowid-unknown")) and (.note | test("not imported")))] | length')
is "$flagged" "$unknown" "plain: every row without an established rowid is flagged rowid-unknown, not imported ($unknown)"
is "$(tar --zstd -xOf plain.tar.zst recovery/rows.jsonl | jq -s '[.[] | select(.kind == "deleted" and (.note | test("imported by")) and (.rowid_from | IN("cell", "index", "page-order") | not))] | length')" 0 \
	"plain: every imported row's rowid says how it was established"
is "$(sqlite3 plain.out.db 'PRAGMA integrity_check')" ok "plain: integrity_check"
gsr verify plain.tar.zst --db plain.out.db > /dev/null
is $? 0 "plain: the archive verifies"

measure secure ON
ok "secure_delete on: at least what .recover gets back ($back >= $recov)" [ "$back" -ge "$recov" ]
is "$invented" 0 "secure_delete on: nothing invented"

# Bytes flipped in 1 % of the pages (every 100th page, past page 1).
cp plain.db flip.db
pages=$(($(wc -c < flip.db) / 4096))
p=101
while [ $p -le "$pages" ]; do
	printf '\377' | dd of=flip.db bs=1 seek=$(((p - 1) * 4096 + 2500)) conv=notrunc 2> /dev/null
	p=$((p + 100))
done
gsr rebuild flip.db --to 0.6.0 --include-deleted -o flip.out.db --archive flip.tar.zst > /dev/null 2>&1
bad=$(sqlite3 flip.out.db "SELECT
	(SELECT count(*) FROM models WHERE NOT json_valid(backend_parameters) OR NOT json_valid(categories) OR typeof(replicas) <> 'integer' OR typeof(name) <> 'text')
	+ (SELECT count(*) FROM workers WHERE NOT json_valid(labels) OR NOT json_valid(status) OR state NOT IN ('READY', 'NOT_READY', 'UNREACHABLE'))
	+ (SELECT count(*) FROM system_loads WHERE typeof(timestamp) <> 'integer')
	+ (SELECT count(*) FROM api_keys WHERE typeof(user_id) <> 'integer')")
flagged=$(tar --zstd -xOf flip.tar.zst recovery/rows.jsonl | jq -s '[.[] | select(.flag != null and .flag != "rowid-unknown")] | length')
echo "# flip: $(((pages - 1) / 100)) pages with a byte flipped; rows flagged for what their bytes contradict: $flagged; detectably damaged rows imported: $bad"
is "$bad" 0 "1 % of pages flipped: no detectably damaged row imported"
done_testing
