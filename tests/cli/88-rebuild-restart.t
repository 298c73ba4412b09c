#!/bin/sh
# A rebuild whose first attempt finds the input damaged starts again with
# the page reader.  The second attempt reuses the first one's custody of
# the input (the copy, its hash, the archive's compressed input): the
# input is copied and hashed once, the archive holds it once and proves
# it, and identify's report still has its integrity findings.  When the
# build reads the input as malformed while identify's checks run, they
# are stopped rather than waited for; a failure that is not damage is
# still reported as itself.
. "$GSR_TOP/tests/lib.sh"

root_of() { sqlite3 "$1" "SELECT rootpage FROM sqlite_master WHERE name = '$2'"; }
zero_page() { # FILE PAGE
	dd if=/dev/zero of="$1" bs=4096 seek=$(($2 - 1)) count=1 conv=notrunc 2>/dev/null
}
sum_of() { sha256sum "$1" | cut -d' ' -f1; }
# A leaf of the table in the middle of its tree: identify's look at the
# interior pages does not see it, the build reads it as malformed.
leaf_of() { # FILE TABLE
	sqlite3 "$1" "SELECT pageno FROM dbstat WHERE name = '$2' AND pagetype = 'leaf'
		ORDER BY path LIMIT 1 OFFSET (SELECT count(*) / 2 FROM dbstat
		WHERE name = '$2' AND pagetype = 'leaf')"
}
log_of() { tar --zstd -xOf "$1" rebuild/log.txt; }

# 1. A rollback-mode 0.6.0 database, a leaf of model_usages zeroed: the
#    build reads it as malformed while identify's checks run.
mkdb 0.6.0 good.db
sqlite3 -bail good.db < "$FIX/populate-0.6.0.sql" > /dev/null
usages=$(sqlite3 good.db 'SELECT count(*) FROM model_usages')
cp good.db in.db
zero_page in.db "$(leaf_of good.db model_usages)"
sum=$(sum_of in.db)
gsr rebuild --json in.db --to 0.6.0 -o out.db --archive a.tar.zst > r.json 2> r.err
is $? 4 "damaged: rebuilt, exit 4"
log=$(log_of a.tar.zst)
like "$log" "read the input as malformed \(.*database disk image is malformed.*\) while identify's checks ran: they were stopped" \
	"damaged: the checks were stopped, not waited for"
like "$log" "custody of the input reused from the first attempt" "damaged: the log says the custody was reused"
is "$(printf '%s\n' "$log" | grep -c 'custody')" 1 "damaged: one custody in the log"
is "$(tar --zstd -tf a.tar.zst | grep -c '^input/')" 1 "damaged: the archive holds the input once"
tar --zstd -xOf a.tar.zst input/in.db > archived.db
ok "damaged: the archived input is the input, byte for byte" cmp -s archived.db in.db
gsr verify a.tar.zst --db out.db > v.txt 2>&1
is $? 0 "damaged: the archive verifies"
tar --zstd -xOf a.tar.zst identify.json > id.json
is "$(jq -c '[.health.ok, .health.integrity == ["ok"], (.health.problems | map(test("integrity_check reports")) | any)]' id.json)" \
	'[false,false,true]' "damaged: the archived report has the integrity findings"
is "$(jq -r '.recovery != null' id.json)" true "damaged: the archived report is the page reader's"
is "$(jq -r '.input[0].sha256' id.json) $(jq -r '.input[0].sha256' r.json)" "$sum $sum" \
	"damaged: the input's hash in the report and the archive"
is "$(jq -r '.input[0].unchanged' r.json)" true "damaged: the input hashed again at the end, unchanged"
ok "damaged: the model_usages rows of every other leaf rebuilt" \
	[ "$(sqlite3 out.db 'SELECT count(*) FROM model_usages')" -gt $((usages / 2)) ]
is "$(sum_of in.db)" "$sum" "damaged: the input unchanged"

# 2. A database in WAL mode without a -wal: the first attempt's working
#    copy went to rollback mode (its header rewritten); its header is put
#    back and the copy hashed again before it serves.
mkdb 0.7.1 wal.db
sqlite3 -bail wal.db > /dev/null <<'SQL'
WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 3000)
INSERT INTO system_loads (id, timestamp, cpu, ram, gpu, vram)
  SELECT i, 1735689600 + i * 15, 1.5, 2.5, 3.5, 4.5 FROM n;
SQL
ok "wal: fixture in WAL mode, no -wal" [ "$(sqlite3 wal.db 'PRAGMA journal_mode')" = wal ] && [ ! -e wal.db-wal ]
zero_page wal.db "$(leaf_of wal.db system_loads)"
sum=$(sum_of wal.db)
gsr rebuild --json wal.db --to 0.7.1 -o wout.db --archive w.tar.zst > w.json 2> w.err
is $? 4 "wal: rebuilt, exit 4"
like "$(log_of w.tar.zst)" "custody of the input reused from the first attempt" "wal: the custody was reused"
tar --zstd -xOf w.tar.zst input/wal.db > archived.db
ok "wal: the archived input is the input" cmp -s archived.db wal.db
gsr verify w.tar.zst --db wout.db > v.txt 2>&1
is $? 0 "wal: the archive verifies"
is "$(tar --zstd -xOf w.tar.zst identify.json | jq -r '.health.journal_mode')" wal \
	"wal: the report gives the header's journal mode"
ok "wal: the system_loads rows of every other leaf rebuilt" \
	[ "$(sqlite3 wout.db 'SELECT count(*) FROM system_loads')" -gt 2000 ]
is "$(sum_of wal.db)" "$sum" "wal: the input unchanged"
ok "wal: no -wal or -shm beside the input" [ ! -e wal.db-wal ] && [ ! -e wal.db-shm ]

# 3. With a sound -wal beside it: the first attempt's working copy took
#    the -wal in; the working copies are made again from the pristine
#    ones, and the rows only the -wal holds are rebuilt.
mkdb 0.7.1 live.db
sqlite3 -bail live.db > /dev/null <<'SQL'
WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 3000)
INSERT INTO system_loads (id, timestamp, cpu, ram, gpu, vram)
  SELECT i, 1735689600 + i * 15, 1.5, 2.5, 3.5, 4.5 FROM n;
SQL
root=$(root_of live.db system_loads) # not after: it would take the -wal in
sqlite3 -bail live.db > /dev/null <<'SQL'
.dbconfig no_ckpt_on_close on
PRAGMA wal_autocheckpoint=0;
INSERT INTO users (id, username, is_admin, require_password_change, hashed_password,
  created_at, updated_at, source) VALUES (7, 'walonly', 0, 0, 'x', '2025-09-01', '2025-09-01', 'Local');
SQL
ok "live: fixture with a -wal" [ -s live.db-wal ]
zero_page live.db "$root"
sum_db=$(sum_of live.db) sum_wal=$(sum_of live.db-wal)
gsr rebuild --json live.db --to 0.7.1 -o lout.db --archive l.tar.zst > l.json 2> l.err
is $? 4 "live: rebuilt, exit 4"
like "$(log_of l.tar.zst)" "custody of the input reused from the first attempt" "live: the custody was reused"
is "$(tar --zstd -tf l.tar.zst | grep '^input/' | tr '\n' ' ')" "input/live.db input/live.db-wal " \
	"live: the archive holds the database and its -wal, once each"
gsr verify l.tar.zst --db lout.db > v.txt 2>&1
is $? 0 "live: the archive verifies"
is "$(sqlite3 lout.db "SELECT username FROM users WHERE id = 7")" walonly "live: the row only the -wal holds is rebuilt"
is "$(sqlite3 lout.db 'SELECT count(*) FROM system_loads')" 3000 "live: every system_loads row rebuilt"
is "$(sum_of live.db) $(sum_of live.db-wal)" "$sum_db $sum_wal" "live: the input unchanged"

# 4. A failure that is not damage, while identify's checks run (the output
#    cannot be made): reported as itself, damaged input or not.
mkdir ro
for db in good.db in.db; do
	gsr rebuild --json "$db" --to 0.6.0 -o nodir/out.db --archive ro/a.tar.zst > f.json 2> f.err
	is $? 8 "$db, output directory missing: exit 8"
	like "$(jq -r '.error // empty' f.json) $(cat f.err)" "nodir" "$db, output directory missing: reported as itself"
	is "$(grep -c 'malformed' f.err)" 0 "$db, output directory missing: not reported as damage"
	is "$(ls ro | wc -l)" 0 "$db, output directory missing: no archive left"
done

done_testing
