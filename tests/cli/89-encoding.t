#!/bin/sh
# A database in UTF-16 (little- and big-endian): SQLite attaches a file
# only to a database of the same text encoding, so the rebuild's own
# databases take the input's.  The output is in the input's encoding and
# holds the same rows, text beyond ASCII included, as the rebuild of the
# same database in UTF-8; small, big (4 MiB or more: no copy of the
# source to start from, which must be UTF-8) and with an interior page
# zeroed (the page reader's recovered database, and its grafted leaves,
# in UTF-16 too).
. "$GSR_TOP/tests/lib.sh"

# to_encoding SRC ENC DST -- SRC's rows in a new database of encoding ENC.
to_encoding() {
	rm -f "$3"
	{ echo "PRAGMA encoding='$2';"; sqlite3 "$1" .dump; } | sqlite3 -bail "$3"
}
q="SELECT * FROM users; SELECT * FROM models; SELECT count(*), total(cpu) FROM system_loads;
	SELECT count(*), sum(model_id) FROM model_usages"

sh "$GSR_TOP/bench/gen-db.sh" small.db 2000
sqlite3 -bail small.db "UPDATE users SET full_name = 'Zoë Ångström 名前 🚀' WHERE id = 1;
	UPDATE models SET description = 'modèle – ü' WHERE id = 7"
gsr rebuild small.db --to 0.6.0 -o ref.db --no-archive > /dev/null 2>&1
is $? 1 "UTF-8: rebuilt"
for enc in UTF-16le UTF-16be; do
	to_encoding small.db $enc "s-$enc.db"
	is "$(sqlite3 "s-$enc.db" 'PRAGMA encoding')" $enc "$enc: the input is in $enc"
	gsr rebuild "s-$enc.db" --to 0.6.0 -o "o-$enc.db" --archive "a-$enc.tar.zst" > /dev/null 2> err.txt
	is $? 1 "$enc: rebuilt, every row imported"
	is "$(cat err.txt)" "" "$enc: nothing on stderr"
	is "$(sqlite3 "o-$enc.db" 'PRAGMA encoding; PRAGMA integrity_check')" "$(printf '%s\nok' $enc)" \
		"$enc: the output is in $enc and passes integrity_check"
	is "$(sqlite3 "o-$enc.db" "$q")" "$(sqlite3 ref.db "$q")" "$enc: the same rows as from UTF-8"
	like "$(gsr identify "o-$enc.db" | sed -n 2p)" "^verdict   release: exactly 0\.6\.0" \
		"$enc: the output is exactly 0.6.0"
	gsr verify "a-$enc.tar.zst" --db "o-$enc.db" > /dev/null 2>&1
	is $? 0 "$enc: verify passes"
done

sh "$GSR_TOP/bench/gen-db.sh" big8.db 100000
sqlite3 -bail big8.db "UPDATE users SET full_name = 'Zoë Ångström 名前 🚀' WHERE id = 1"
to_encoding big8.db UTF-16le big.db
ok "big: the input is 4 MiB or more" test "$(wc -c < big.db)" -ge 4194304
gsr rebuild big8.db --to 0.6.0 -o bigref.db --no-archive > /dev/null 2>&1
gsr rebuild big.db --to 0.6.0 -o big-out.db --no-archive > /dev/null 2>&1
is $? 1 "big: rebuilt, every row imported"
is "$(sqlite3 big-out.db 'PRAGMA encoding; PRAGMA integrity_check')" "$(printf 'UTF-16le\nok')" \
	"big: the output is in UTF-16le and passes integrity_check"
is "$(sqlite3 big-out.db "$q")" "$(sqlite3 bigref.db "$q")" "big: the same rows as from UTF-8"

pg=$(sqlite3 big.db "SELECT pageno FROM dbstat WHERE name = 'system_loads'
	AND pagetype = 'internal' AND path != '/' ORDER BY path LIMIT 1")
ok "damaged: an interior page below the root" test -n "$pg"
cp big.db dmg.db
dd if=/dev/zero of=dmg.db bs=4096 seek=$((${pg:-1} - 1)) count=1 conv=notrunc 2> /dev/null
gsr rebuild --json dmg.db --to 0.6.0 -o dmg-out.db --archive d.tar.zst > d.json 2> /dev/null
is $? 4 "damaged: rebuilt by the page reader (exit 4)"
is "$(sqlite3 dmg-out.db 'PRAGMA encoding; PRAGMA integrity_check')" "$(printf 'UTF-16le\nok')" \
	"damaged: the output is in UTF-16le and passes integrity_check"
is "$(sqlite3 dmg-out.db "$q")" "$(sqlite3 bigref.db "$q")" "damaged: every row back, as from UTF-8"
mkdir d && tar --zstd -xf d.tar.zst -C d
ok "damaged: leaves grafted" \
	test "$(jq '.recovery.tables[] | select(.name == "system_loads") | .leaves_grafted' d/identify.json)" -gt 0
gsr verify d.tar.zst --db dmg-out.db > /dev/null 2>&1
is $? 0 "damaged: verify passes"

done_testing
