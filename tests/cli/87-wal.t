#!/bin/sh
# A live 0.7.1 database copied with its -wal: when the main file reads as
# sound and the -wal's checksums hold, SQLite reads the committed state
# from the private copy and the page reader reads only the -wal's frames
# for the history (identify's "reader": "sqlite+wal-history"); a -wal
# whose chain breaks inside a committed frame takes the full page reader.
. "$GSR_TOP/tests/lib.sh"

mkdb 0.7.1 live.db
# Rows in the main file, checkpointed.
sqlite3 -bail live.db > /dev/null <<'SQL'
WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 2000)
INSERT INTO system_loads (id, timestamp, cpu, ram, gpu, vram)
  SELECT i, 1735689600 + i * 15, 1.5, 2.5, 3.5, 4.5 FROM n;
SQL
# Then, under a writer that never checkpoints: a user (committed), the
# user changed (its older version is a superseded frame), system_loads
# row 5 changed, and last a transaction of several pages whose commit
# frame is cut off below (uncommitted frames).
sqlite3 -bail live.db > /dev/null <<'SQL'
.dbconfig no_ckpt_on_close on
PRAGMA wal_autocheckpoint=0;
INSERT INTO users (id, username, is_admin, require_password_change, hashed_password,
  created_at, updated_at, source) VALUES (7, 'walonly', 0, 0, 'x', '2025-09-01', '2025-09-01', 'Local');
UPDATE users SET full_name = 'Committed Name' WHERE id = 7;
UPDATE system_loads SET cpu = 99.5 WHERE id = 5;
WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 300)
INSERT INTO system_loads (id, timestamp, cpu, ram, gpu, vram)
  SELECT 100000 + i, 1, 0.25, 0.25, 0.25, 0.25 FROM n;
SQL
ok "fixture: a -wal beside the database" [ -s live.db-wal ]
cp live.db sound.db
# The last frame is the last transaction's commit frame: without it, its
# other frames are uncommitted, their checksums intact.
frames=$(( ($(wc -c < live.db-wal) - 32) / 4120 ))
head -c $((32 + (frames - 1) * 4120)) live.db-wal > sound.db-wal
ok "fixture: the last transaction spans several frames" [ "$frames" -ge 6 ]
sum_db=$(sha256sum sound.db | cut -d' ' -f1)
sum_wal=$(sha256sum sound.db-wal | cut -d' ' -f1)

gsr identify --json sound.db > id.json 2> id.err
is $? 0 "sound -wal: identify exits 0"
is "$(jqr id.json .reader)" sqlite+wal-history "sound -wal: SQLite reads the state, the page reader the -wal"
like "$(jq -r '[.findings[].code] | join(" ")' id.json)" "wal-history" "sound -wal: a wal-history finding"
is "$(jq '[.findings[].code] | index("recovered")' id.json)" null "sound -wal: no full recovery"
is "$(jq '[.tables[] | select(.name == "users")][0].rows' id.json)" 1 "sound -wal: the committed user is counted"
is "$(jq '[.tables[] | select(.name == "system_loads")][0].rows' id.json)" 2000 \
	"sound -wal: the uncommitted rows are not counted"
ok "sound -wal: history rows counted" [ "$(jqr id.json .recovery.history_rows)" -gt 0 ]
is "$(jqr id.json .recovery.wal.frames)" "$((frames - 1))" "sound -wal: every frame classified"
is "$(sha256sum sound.db | cut -d' ' -f1)" "$sum_db" "sound -wal: database bytes unchanged"
is "$(sha256sum sound.db-wal | cut -d' ' -f1)" "$sum_wal" "sound -wal: -wal bytes unchanged"
ok "sound -wal: no -shm beside the input" [ ! -e sound.db-shm ]

gsr rebuild sound.db --to 0.7.1 -o out.db --archive a.tar.zst > rb.txt 2> rb.err
is $? 0 "sound -wal: rebuild exits 0"
is "$(sqlite3 out.db "SELECT full_name FROM users WHERE id = 7")" "Committed Name" \
	"sound -wal: the committed row of the -wal is in the output"
is "$(sqlite3 out.db "SELECT cpu FROM system_loads WHERE id = 5")" 99.5 \
	"sound -wal: the committed update is in the output"
is "$(sqlite3 out.db "SELECT count(*) FROM system_loads")" 2000 \
	"sound -wal: no uncommitted row in the output"
gsr verify a.tar.zst --db out.db > /dev/null
is $? 0 "sound -wal: the archive verifies"
tar --zstd -xf a.tar.zst identify.json recovery/rows.jsonl recovery/provenance.jsonl
is "$(jqr identify.json .reader)" sqlite+wal-history "sound -wal: the archive's report names the reader"
is "$(jq -c 'select(.table == "users" and .rowid == 7 and .kind == "history") | [.source, (.frame > 0), .values[3]]' \
	recovery/rows.jsonl | head -n 1)" '["wal-frame",true,null]' \
	"sound -wal: the user's older version is history, with its frame"
ok "sound -wal: the uncommitted rows are history" \
	[ "$(jq -c 'select(.table == "system_loads" and .rowid > 100000 and .frame > 0)' recovery/rows.jsonl | wc -l)" -gt 0 ]
is "$(jq -c 'select(.table == "users" and .rowid == 7) | [.source, (.frame > 0)]' recovery/provenance.jsonl)" \
	'["btree",true]' "sound -wal: the committed user's provenance names its frame"
is "$(sha256sum sound.db | cut -d' ' -f1)" "$sum_db" "sound -wal: rebuild left the database unchanged"
is "$(sha256sum sound.db-wal | cut -d' ' -f1)" "$sum_wal" "sound -wal: rebuild left the -wal unchanged"

# The same history as the full recovery (--recover), which also reads the
# main file's rows.
gsr identify --json --recover sound.db > full.json 2> /dev/null
is "$(jqr full.json .reader)" sqlite+page-reader "--recover: the full page reader"
is "$(jqr full.json .recovery.history_rows)" "$(jqr id.json .recovery.history_rows)" \
	"--recover: the same history rows"
is "$(jqr full.json .recovery.wal.history_pages)" "$(jqr id.json .recovery.wal.history_pages)" \
	"--recover: the same history pages"

# A byte of the third (committed) frame's page changed: its checksum
# fails, the chain breaks inside the current generation, and the full
# page reader reads the file.
cp sound.db bad.db
cp sound.db-wal bad.db-wal
printf 'Z' | dd of=bad.db-wal bs=1 seek=$((32 + 2 * 4120 + 24 + 2000)) conv=notrunc 2> /dev/null
gsr identify --json bad.db > bad.json 2> /dev/null
is "$(jqr bad.json .reader)" sqlite+page-reader "bad checksum: the full page reader"
like "$(jq -r '[.findings[].code] | join(" ")' bad.json)" "wal-unsound" "bad checksum: a wal-unsound finding"
like "$(jq -r '.findings[] | select(.code == "wal-unsound") | .message' bad.json)" "checksum chain breaks at frame 3" \
	"bad checksum: says where"

# A sound -wal beside a main file with a leaf of system_loads zeroed that
# the -wal does not hold: the checks, run beside the -wal's history, find
# the damage; the history read is forgotten and the full page reader
# reads the file (the -wal's history again among what it reads).
cp sound.db leaf.db
cp sound.db-wal leaf.db-wal
cp sound.db plain.db
leaf=$(sqlite3 plain.db "SELECT pageno FROM dbstat WHERE name = 'system_loads' AND pagetype = 'leaf'
	ORDER BY path LIMIT 1 OFFSET 5")
dd if=/dev/zero of=leaf.db bs=4096 seek=$((leaf - 1)) count=1 conv=notrunc 2> /dev/null
gsr identify --json leaf.db > leaf.json 2> /dev/null
is $? 4 "damaged main file, sound -wal: identify exits 4"
is "$(jqr leaf.json .reader)" sqlite+page-reader "damaged main file, sound -wal: the full page reader"
is "$(jq '[.findings[].code] | (index("wal-history") == null) and (index("recovered") != null)' leaf.json)" \
	true "damaged main file, sound -wal: no wal-history finding, a recovered one"
ok "damaged main file, sound -wal: the history read again" [ "$(jqr leaf.json .recovery.history_rows)" -gt 0 ]

done_testing
