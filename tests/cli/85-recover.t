#!/bin/sh
# The page reader through the commands: identify, rebuild and the archive
# on a populated 0.6.0 database with a zeroed interior page, a zeroed
# leaf, and page 1 zeroed.  The measured damage corpus is the unit test
# tests/unit/test_recover.c; this checks that the commands use it.
. "$GSR_TOP/tests/lib.sh"

mkdb 0.6.0 good.db
sqlite3 -bail good.db < "$FIX/populate-0.6.0.sql" > /dev/null
rows_of() { sqlite3 "$1" "SELECT count(*) FROM $2"; }
root_of() { sqlite3 good.db "SELECT rootpage FROM sqlite_master WHERE name = '$1'"; }
zero_page() { # FILE PAGE
	dd if=/dev/zero of="$1" bs=4096 seek=$(($2 - 1)) count=1 conv=notrunc 2>/dev/null
}
total=$(sqlite3 good.db "SELECT (SELECT count(*) FROM models) + (SELECT count(*) FROM model_usages)")

# 1. The root (an interior page) of model_usages zeroed: SQLite loses the
#    table, the page reader puts its leaves back.
cp good.db interior.db
zero_page interior.db "$(root_of model_usages)"
before=$(sha256sum interior.db)
gsr identify --json interior.db > id.json
is $? 4 "interior zeroed: identify exits 4"
is "$(jqr id.json .verdict)" release "interior zeroed: still identified"
is "$(jqr id.json '.recovery.tables[] | select(.name == "model_usages") | .rows')" 8000 \
	"interior zeroed: all 8000 model_usages rows recovered"
is "$(jqr id.json '.recovery.tables[] | select(.name == "model_usages") | .orphan_leaf')" 8000 \
	"interior zeroed: from orphan leaves"
is "$(jqr id.json '.recovery.tables[] | select(.name == "model_usages") | .bulk_copied')" 0 \
	"interior zeroed: a damaged tree goes in a row at a time"
is "$(jqr id.json '.recovery.tables[] | select(.name == "system_loads") | .bulk_copied')" 8000 \
	"interior zeroed: a sound tree without an index is copied whole"
is "$(jqr id.json '[.findings[].code] | index("recovered") != null')" true \
	"interior zeroed: a 'recovered' finding"
gsr rebuild interior.db --to 0.6.0 -o out1.db --archive a1.tar.zst > rb.txt 2> rb.err
is $? 4 "interior zeroed: rebuild exits 4 (a page was unreadable)"
is "$(rows_of out1.db model_usages)" 8000 "interior zeroed: rebuilt with every row"
is "$(sqlite3 out1.db 'PRAGMA integrity_check')" ok "interior zeroed: output passes integrity_check"
like "$(cat rb.txt)" "page reader" "interior zeroed: the report says the page reader was used"
gsr verify a1.tar.zst --db out1.db > /dev/null
is $? 0 "interior zeroed: the archive verifies"
tar --zstd -xf a1.tar.zst recovery/provenance.jsonl
is "$(jq -c 'select(.table == "model_usages" and .rowid == 4000) | [.source, (.page > 0), (.offset > 0)]' \
	recovery/provenance.jsonl)" '["orphan-leaf",true,true]' \
	"interior zeroed: provenance of a row in the archive"
is "$(jq -s 'map(.count) | add' recovery/provenance.jsonl)" \
	"$(sqlite3 out1.db 'SELECT (SELECT count(*) FROM models)+(SELECT count(*) FROM workers)+(SELECT count(*) FROM system_loads)+(SELECT count(*) FROM model_instances)+(SELECT count(*) FROM model_usages)+(SELECT count(*) FROM users)+(SELECT count(*) FROM api_keys)+2')" \
	"interior zeroed: the provenance entries count every recovered row"
# A run of cells of one leaf: one entry (page, first and last rowid,
# count, no offset) for rows that are whole and read from the file, that
# covers exactly the rows of the table between its rowids.
set -- $(jq -r 'select(.table == "models" and .rowid <= 7 and .last_rowid >= 7)
	| "\(.source) \(.page > 0) \(.offset) \(.count) \(.rowid) \(.last_rowid)"' recovery/provenance.jsonl)
is "$1 $2 $3" "btree true null" "interior zeroed: a tree row's provenance is a run of its leaf"
ok "interior zeroed: the run holds more than one row" [ "${4:-0}" -gt 1 ]
is "$(sqlite3 out1.db "SELECT count(*) FROM models WHERE rowid BETWEEN ${5:-0} AND ${6:-0}")" "${4:-x}" \
	"interior zeroed: the run counts the rows between its rowids"
is "$(jq -c 'select(.source == "orphan-leaf") | .count' recovery/provenance.jsonl | sort -u)" 1 \
	"interior zeroed: rows placed by shape keep an entry each"
is "$(sha256sum interior.db)" "$before" "interior zeroed: input unchanged"
ok "interior zeroed: no -shm or -journal beside the input" \
	[ ! -e interior.db-shm -a ! -e interior.db-journal -a ! -e interior.db-wal ]

# export: the same damage falls back on the page reader; on a sound file
# --recover gives exactly the files SQLite's reading gives.
gsr export interior.db -o ex1 > /dev/null 2> ex.err
is $? 4 "interior zeroed: export exits 4"
like "$(cat ex.err)" "reading its pages directly" "interior zeroed: export says why"
is "$(jq '.tables[] | select(.name == "model_usages") | .rows' ex1/manifest.json)" 8000 \
	"interior zeroed: every model_usages row exported"
ok "interior zeroed: export has the recovery ledger" [ -s ex1/recovery/provenance.jsonl ]
(cd ex1/recovery && jq -r '.files[] | "\(.sha256)  \(.name)"' manifest.json | sha256sum -c --quiet)
is $? 0 "interior zeroed: the ledger's manifest hashes match"
gsr export good.db -o plain > /dev/null
gsr export --recover good.db -o paged > /dev/null
is $? 0 "sound file: export --recover exits 0"
same=0
for f in plain/*.jsonl; do
	cmp -s "$f" "paged/${f#plain/}" || { same=1; echo "# differs: $f"; }
done
is $same 0 "sound file: the page reader's export equals SQLite's, file for file"
is "$(cmp -s plain/schema.sql paged/schema.sql; echo $?)" 0 "sound file: same schema.sql"
is "$(jq -sc '[.[] | select(.table == "system_loads")] | [(map(.count) | add), (map(.offset) | unique)]' \
	paged/recovery/provenance.jsonl)" '[8000,[null]]' \
	"sound file: a table copied whole has its provenance in runs, every row counted"
# Every tree of a sound file reads whole: the recovered database is the
# image's VACUUM INTO, tables with indexes too, checked table by table,
# its indexes built again, its schema in the input's order.
gsr identify --recover --json good.db > ids.json
is "$(jq '[.recovery.tables[] | select(.bulk_copied != .rows)] | length' ids.json)" 0 \
	"sound file: every table copied by SQLite, those with indexes too"
is "$(jq '[.recovery.tables[] | select(.name == "models")][0].rows' ids.json)" \
	"$(rows_of good.db models)" "sound file: every models row recovered"

# The copy of a whole table stops at a row that would not go in as read:
# a flagged one; the table then goes in a row at a time.
cp good.db flagged.db
sqlite3 flagged.db "UPDATE system_loads SET cpu = 'x' WHERE id = 4000"
gsr identify --recover --json flagged.db > idf.json
is "$(jq -c '.recovery.tables[] | select(.name == "system_loads") | [.bulk_copied, .flagged, .rows]' idf.json)" \
	'[7999,1,7999]' "flagged row: the rows around it are copied, the row withheld"
is "$(jq -c '.recovery.tables[] | select(.name == "model_usages") | [.bulk_copied, .rows]' idf.json)" \
	'[8000,8000]' "flagged row: the other tables are copied whole"

# 1b. An interior page below the root of a big table without an index
#     zeroed (no row lost): the leaves around it are grafted whole onto
#     the recovered database, the leaves under it placed by shape; every
#     row comes back.
cp good.db big.db
sqlite3 big.db "WITH RECURSIVE n(i) AS (SELECT 8001 UNION ALL SELECT i + 1 FROM n WHERE i < 80000)
	INSERT INTO system_loads (id, timestamp, cpu, ram, gpu, vram)
	SELECT i, 1735689600 + i * 15, i * 0.37, i * 0.29, i * 0.23, i * 0.19 FROM n"
mid=$(sqlite3 big.db "SELECT pageno FROM dbstat WHERE name = 'system_loads' AND pagetype = 'internal'
	AND path != '/' ORDER BY path LIMIT 1 OFFSET 1" 2>/dev/null)
ok "big interior zeroed: an interior page below the root" [ -n "$mid" ]
cp big.db bigref.db
zero_page big.db "${mid:-1}"
gsr identify --recover --json big.db > idb.json
set -- $(jq -r '.recovery.tables[] | select(.name == "system_loads") | "\(.rows) \(.bulk_copied) \(.orphan_leaf)"' idb.json)
is "${1:-}" 80000 "big interior zeroed: every system_loads row recovered"
ok "big interior zeroed: most copied in bulk, the rest from orphan leaves" \
	[ "${2:-0}" -gt 40000 -a "${3:-0}" -gt 0 -a $((${2:-0} + ${3:-0})) -eq 80000 ]
ok "big interior zeroed: the leaves of the segments grafted" \
	[ "$(jq '.recovery.tables[] | select(.name == "system_loads") | .leaves_grafted' idb.json)" -gt 100 ]
is "$(jq -c '.recovery.tables[] | select(.name == "system_loads") | .leaves_grafted' idf.json)" 0 \
	"flagged row: no leaf grafted when a row stays out of the segments"
# Damage only cut the tree into segments, every copy held: the first
# pass's provenance stands, every row in it once.
gsr export --recover big.db -o bigx > /dev/null 2>&1
is "$(jq -s '[.[] | select(.table == "system_loads") | (.count // 1)] | add' bigx/recovery/provenance.jsonl)" \
	80000 "big interior zeroed: the provenance counts every row once"
gsr rebuild big.db --to 0.6.0 -o outb.db --no-archive > /dev/null 2>&1
is $? 4 "big interior zeroed: rebuild exits 4"
q="SELECT count(*), sum(id), total(cpu), total(timestamp) FROM system_loads"
is "$(sqlite3 outb.db "$q")" "$(sqlite3 bigref.db "$q")" "big interior zeroed: rebuilt with every row as it was"

# 2. A leaf of models zeroed: its rows are lost, the index knows how many.
cp good.db leaf.db
leaf=$(sqlite3 good.db "SELECT min(pageno) FROM dbstat WHERE name = 'models' AND pagetype = 'leaf'" 2>/dev/null)
if [ -z "$leaf" ]; then
	# No dbstat: the first leaf after the root, found with the page reader's JSON.
	leaf=$(( $(root_of models) + 1 ))
fi
zero_page leaf.db "$leaf"
gsr identify --json leaf.db > id.json
is $? 4 "leaf zeroed: identify exits 4"
lost=$(jqr id.json '.recovery.tables[] | select(.name == "models") | .index_missing')
got=$(jqr id.json '.recovery.tables[] | select(.name == "models") | .rows')
ok "leaf zeroed: some models rows lost ($got recovered)" [ "$got" -gt 0 -a "$got" -lt 3000 ]
is "$lost" $((3000 - got)) "leaf zeroed: the indexes know exactly how many are lost"
gsr rebuild leaf.db --to 0.6.0 -o out2.db --no-archive > /dev/null 2>&1
is $? 4 "leaf zeroed: rebuild exits 4"
is "$(rows_of out2.db models)" "$got" "leaf zeroed: the rebuilt models are the recovered ones"

# 3. The whole of page 1 zeroed: no header, no sqlite_master root.
cp good.db p1.db
zero_page p1.db 1
gsr identify --json p1.db > id.json
is $? 4 "page 1 zeroed: identify exits 4"
is "$(jqr id.json .verdict)" release "page 1 zeroed: identified"
is "$(jqr id.json .recovery.page_size_inferred)" true "page 1 zeroed: page size inferred"
is "$(jqr id.json .recovery.rows)" "$(jqr id.json '[.tables[].rows] | add')" \
	"page 1 zeroed: row counts are the recovered ones"
gsr rebuild p1.db --to 0.6.0 -o out3.db --archive a3.tar.zst > /dev/null 2>&1
ok "page 1 zeroed: rebuild succeeds" [ $? -le 4 ]
is "$(sqlite3 out3.db 'SELECT (SELECT count(*) FROM models) + (SELECT count(*) FROM model_usages)')" \
	"$total" "page 1 zeroed: every models and model_usages row rebuilt"
is "$(sqlite3 out3.db 'PRAGMA foreign_key_check' | wc -l | tr -d ' ')" 0 \
	"page 1 zeroed: foreign keys hold"

# 4. Deleted rows (secure_delete off): carved, kept apart, imported only
#    with --include-deleted, and then flagged.
cp good.db del.db
sqlite3 del.db "PRAGMA secure_delete=OFF; DELETE FROM models WHERE id % 10 = 0" > /dev/null
gsr identify --recover --json del.db > id.json
is "$(jqr id.json '.recovery.rows')" "$(($(jqr id.json '[.tables[].rows] | add')))" \
	"deleted rows: identify --recover recovers the live rows only"
gsr rebuild del.db --to 0.6.0 -o out4.db --archive a4.tar.zst > /dev/null 2>&1
is "$(rows_of out4.db models)" 2700 "deleted rows: a plain rebuild leaves them out"
gsr rebuild del.db --to 0.6.0 --include-deleted -o out5.db --archive a5.tar.zst \
	--json > rb.json 2> /dev/null
carved=$(jqr rb.json .deleted_rows.carved)
imported=$(jqr rb.json .deleted_rows.imported)
tar --zstd -xOf a5.tar.zst recovery/rows.jsonl > rows.jsonl
# --include-deleted imports what was carved of every table (stale bytes
# elsewhere may read as another table's row): the models rows are counted
# on their own.
carved_models=$(jq -s '[.[] | select(.kind == "deleted" and .table == "models")] | length' rows.jsonl)
imported_models=$(jq -s '[.[] | select(.kind == "deleted" and .table == "models" and (.note | test("imported by --include-deleted")))] | length' rows.jsonl)
ok "deleted rows: most of the 300 carved ($carved_models of $carved)" \
	[ "$carved_models" -ge 270 -a "$carved_models" -le 300 ]
is "$(rows_of out5.db models)" $((2700 + imported_models)) "deleted rows: --include-deleted imports them"
# A freed cell's first bytes (its rowid among them) are overwritten by the
# freeblock header: most come back at new ids; those whose rowid survived
# at their own.
known=$(jq -s -r '[.[] | select(.kind == "deleted" and .table == "models" and .rowid != null and (.note | test("imported by --include-deleted as rowid [0-9]+$"))) | .rowid] | join(",")' rows.jsonl)
n_known=$(echo "$known" | tr ',' '\n' | grep -c .)
is "$(sqlite3 out5.db "SELECT count(*) FROM models WHERE id IN (${known:-0}) AND id % 10 = 0")" "$n_known" \
	"deleted rows: those whose rowid survived are back at it ($n_known)"
is "$(jq -s '[.[] | select(.kind == "deleted" and (.note | test("imported by --include-deleted")))] | length' rows.jsonl)" \
	"$imported" "deleted rows: each imported row flagged in the archive"
is "$(sqlite3 out5.db 'PRAGMA integrity_check')" ok "deleted rows: output passes integrity_check"

# 5. The root of an index zeroed: SQLite still reads the schema; identify's
#    look at the trees' interior pages sees the damage before any build,
#    so the page reader runs at once, beside the checks: one attempt,
#    nothing of a speculative build behind.
mkdir idx
cp good.db idx/in.db
zero_page idx/in.db "$(root_of ix_models_name)"
gsr rebuild idx/in.db --to 0.6.0 -o idx/out.db --archive idx/a.tar.zst > /dev/null 2> rb.err
is $? 4 "index zeroed: rebuild exits 4"
is "$(tar --zstd -xOf idx/a.tar.zst rebuild/log.txt | grep -c 'started again')" 0 \
	"index zeroed: seen before any build, no second attempt"
is "$(tar --zstd -xOf idx/a.tar.zst identify.json | jq -c '[.recovery != null, .health.ok]')" '[true,false]' \
	"index zeroed: the archived report is the page reader's"
is "$(rows_of idx/out.db models)" 3000 "index zeroed: every models row rebuilt"
is "$(sqlite3 idx/out.db 'PRAGMA integrity_check')" ok "index zeroed: output passes integrity_check"
is "$(ls idx | tr '\n' ' ')" "a.tar.zst in.db out.db " "index zeroed: no file of the first attempt left"
gsr verify idx/a.tar.zst --db idx/out.db > /dev/null
is $? 0 "index zeroed: the archive verifies"

# On a sound file the checks pass beside the build.
gsr rebuild good.db --to 0.6.0 -o out6.db --archive a6.tar.zst > /dev/null 2>&1
like "$(tar --zstd -xOf a6.tar.zst rebuild/log.txt)" "identify's checks passed" \
	"sound file: identify's checks ran beside the rebuild"
is "$(tar --zstd -xOf a6.tar.zst identify.json | jq -c '[.health.integrity, .input[0].unchanged]')" \
	'[["ok"],true]' "sound file: the archived report has them, and the input's recheck"
is "$(tar --zstd -xOf a6.tar.zst manifest.json | jq -c '[.input[0].unchanged, .input[0].sha256 == .input[0].sha256_after]')" \
	'[true,true]' "sound file: the manifest has the input's recheck"

# 6. Nothing recoverable: pages of zeros.
head -c 65536 /dev/zero > zeros.db
gsr identify --json zeros.db > id.json 2> err.txt
is $? 8 "all zeros: identify exits 8"
is "$(jqr id.json .verdict)" unreadable "all zeros: unreadable"
done_testing
