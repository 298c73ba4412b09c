#!/bin/sh
# A big input (4 MiB or more) starts the new database from a copy of the
# source: page by page with its free space zeroed when it has no free
# page (scrub.h), else VACUUM INTO.  The tables that are the same, text
# for text, in source and target stay as copied, every other object is
# dropped with its pages zeroed and built as for a small input.  The
# output is the target's exactly, passes its checks, holds every row it
# should, keeps no byte of a dropped table or of a deleted row,
# and is the same from one run to the next.
. "$GSR_TOP/tests/lib.sh"

sh "$GSR_TOP/bench/gen-db.sh" big.db 100000
sqlite3 -bail big.db <<'SQL'
INSERT INTO api_keys (id, name, access_key, hashed_secret_key, user_id, created_at, updated_at)
VALUES (1, 'k1', 'a1', 's1', 1, '2024-12-02 00:00:00', '2024-12-02 00:00:00'),
       (2, 'k2', 'a2', 'MARKER-orphan-secret', 99, '2024-12-02 00:00:00', '2024-12-02 00:00:00');
-- An operation outside the enum, and a usage of a user that is gone.
INSERT INTO model_usages (id, user_id, model_id, date, prompt_token_count, completion_token_count, request_count, operation)
VALUES (60001, 1, 1, '2025-01-01', 1, 1, 1, 'BOGUS_OP'),
       (60002, 77, 1, '2025-01-01', 1, 1, 1, 'CHAT_COMPLETION');
-- A deleted row, left in the free space of its page (as SQLite leaves
-- it unless built with secure_delete on, as Debian's is).
PRAGMA secure_delete=OFF;
UPDATE system_loads SET cpu = 'MARKER-old-load-value' WHERE id = 5000;
DELETE FROM system_loads WHERE id = 5000;
SQL
is "$(sqlite3 big.db 'PRAGMA freelist_count')" 0 "the input has no free page"
ok "the input holds the deleted row's bytes" grep -a -q MARKER-old-load-value big.db
ok "the input is 4 MiB or more" test "$(wc -c < big.db)" -ge 4194304

gsr rebuild --json -v big.db --to 0.6.0 -o out.db --archive a.tar.zst > r.json 2> err.txt
is $? 4 "rebuilt, rows quarantined: exit 4"
mkdir x && tar --zstd -xf a.tar.zst -C x
like "$(cat x/rebuild/log.txt)" "copied the source page by page, its free space zeroed" \
	"the output starts from a copy"
like "$(cat x/rebuild/log.txt)" "system_loads: 99999 row\(s\) kept from the copy" \
	"system_loads: kept from the copy"
like "$(cat x/rebuild/log.txt)" "model_usages: 50002 source row\(s\), 50001 imported, 1 quarantined" \
	"model_usages, a row outside the enum: row by row instead"
is "$(jq '[.tables[] | select(.source != .imported + .quarantined)] | length' r.json)" 0 \
	"every table: source = imported + quarantined"
is "$(jq -c '[.tables[] | select(.quarantined > 0) | [.name, .quarantined]]' r.json)" \
	'[["model_usages",2],["api_keys",1]]' "the enum, the foreign key and the orphaned key quarantined"
like "$(gsr identify out.db | sed -n 2p)" "^verdict   release: exactly 0\.6\.0" "the output is exactly 0.6.0"
is "$(sqlite3 out.db 'PRAGMA integrity_check; SELECT count(*) FROM pragma_foreign_key_check')" \
	"$(printf 'ok\n0')" "the output passes integrity_check and foreign_key_check"
is "$(sqlite3 out.db 'SELECT * FROM system_loads' | cksum)" \
	"$(sqlite3 big.db 'SELECT * FROM system_loads' | cksum)" "system_loads: every row as it was"
is "$(sqlite3 out.db 'SELECT count(*), max(id) FROM model_usages')" "50000|50000" \
	"model_usages: the valid rows"
is "$(sqlite3 out.db 'SELECT group_concat(id) FROM api_keys')" 1 "api_keys: the key of a user that exists"
is "$(grep -a -c MARKER-orphan-secret out.db)" 0 "no byte of the dropped api_keys is left in the output"
is "$(grep -a -c MARKER-old-load-value out.db)" 0 "no byte of a row deleted from a kept table is left"
grep -a -q MARKER-orphan-secret x/quarantine/*api_keys*.jsonl
is $? 0 "the orphaned key is in the quarantine"
gsr verify a.tar.zst --db out.db > v.txt 2>&1
is $? 0 "verify passes"

gsr rebuild big.db --to 0.6.0 -o again.db --no-archive > /dev/null 2>&1
is $? 4 "a second run: exit 4"
ok "a second run writes the same bytes" cmp -s out.db again.db

# Damage: the last interior page of system_loads below its root zeroed
# (no row lost).  The leaves before it, the deleted row's among them, are
# grafted onto the page reader's recovered database with their free space
# zeroed; that database is copied byte for byte to start the output from.
cp big.db dmg.db
pg=$(sqlite3 big.db "SELECT pageno FROM dbstat WHERE name = 'system_loads'
	AND pagetype = 'internal' AND path != '/' ORDER BY path DESC LIMIT 1")
dd if=/dev/zero of=dmg.db bs=4096 seek=$((pg - 1)) count=1 conv=notrunc 2> /dev/null
gsr rebuild --json dmg.db --to 0.6.0 -o dmg-out.db --archive d.tar.zst > d.json 2> /dev/null
is $? 4 "damaged: rebuilt, rows quarantined: exit 4"
mkdir d && tar --zstd -xf d.tar.zst -C d
like "$(cat d/rebuild/log.txt)" "copied the recovered database, 2 table" \
	"damaged: the output starts from a copy of the recovered database"
is "$(sqlite3 dmg-out.db 'PRAGMA integrity_check; SELECT count(*) FROM pragma_foreign_key_check')" \
	"$(printf 'ok\n0')" "damaged: the output passes integrity_check and foreign_key_check"
is "$(sqlite3 dmg-out.db 'SELECT * FROM system_loads' | cksum)" \
	"$(sqlite3 big.db 'SELECT * FROM system_loads' | cksum)" "damaged: system_loads, every row as it was"
ok "damaged: leaves of system_loads grafted whole" \
	test "$(jq '.recovery.tables[] | select(.name == "system_loads") | .leaves_grafted' d/identify.json)" -gt 0
is "$(grep -a -c MARKER-old-load-value dmg-out.db)" 0 "damaged: no byte of a deleted row is left"
gsr verify d.tar.zst --db dmg-out.db > /dev/null 2>&1
is $? 0 "damaged: verify passes"

done_testing
