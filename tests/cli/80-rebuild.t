#!/bin/sh
# rebuild: from every release and main-branch build, and from the field
# cases, to 0.6.0 (and 0.7.1, and back to older releases): the schema is
# exactly the target's, rows reconcile, the checks pass, the input is
# untouched.
. "$GSR_TOP/tests/lib.sh"

master() { # DB -- sqlite_master as (type, name, tbl_name, sql), sorted
	sqlite3 "$1" "SELECT type || '|' || name || '|' || tbl_name || '|' || quote(sql)
		FROM sqlite_master ORDER BY type, name"
}
reconciles() { # JSON -- every table: source = imported + quarantined
	jq -e '[.tables[] | .source == .imported + .quarantined] | all' "$1" > /dev/null
}

for target in 0.6.0 0.7.1; do
	mkdb $target ref-$target.db
	master ref-$target.db > ref-$target.master
done

# check_rebuild NAME DB TARGET -- rebuild DB to TARGET and check the result.
check_rebuild() {
	name=$1 db=$2 target=$3
	rm -f out.db
	before=$(sha256sum "$db" | cut -d' ' -f1)
	gsr rebuild --json --no-archive "$db" --to "$target" -o out.db > out.json 2> err.txt
	st=$?
	case $st in
	0|1|4) t_result 0 "$name -> $target: exit $st" ;;
	*) t_result 1 "$name -> $target: exit $st"; sed 's/^/# /' err.txt; return ;;
	esac
	master out.db > out.master
	golden out.master ref-$target.master "$name -> $target: sqlite_master is exactly $target's"
	is "$(sqlite3 out.db 'PRAGMA integrity_check; PRAGMA foreign_key_check' | tr '\n' ' ')" "ok " \
		"$name -> $target: integrity_check and foreign_key_check pass"
	is "$(sqlite3 out.db 'SELECT version_num FROM alembic_version')" \
		"$(sed -n 's/^-- alembic_version: //p' "$FIX/schemas/$target.sql")" \
		"$name -> $target: alembic_version is $target's"
	ok "$name -> $target: rows reconcile" reconciles out.json
	is "$(sha256sum "$db" | cut -d' ' -f1)" "$before" "$name -> $target: input unchanged"
}

n=0
for sql in "$FIX"/schemas/*.sql; do
	n=$((n + 1))
	sampled $n || continue
	label=$(basename "$sql" .sql)
	mkdb "$label" src.db
	check_rebuild "$label" src.db 0.6.0
done
for i in 1 2 3 4 5 6 7; do
	mkcase $i case$i.db
	check_rebuild "case $i" case$i.db 0.6.0
	check_rebuild "case $i" case$i.db 0.7.1
done
is "$(sqlite3 out.db 'PRAGMA journal_mode')" wal "0.7.1 output is in WAL mode, as 0.7.x databases are"

# A 0.7.1 database (WAL mode, no -wal beside it): identify's checks run
# beside the build, on a copy switched to rollback mode first.
mkdb 0.7.1 wal71.db
gsr rebuild -v --no-archive wal71.db --to 0.7.1 -o out71.db > rb71.txt 2>&1
is $? 0 "0.7.1 -> 0.7.1: exit 0, nothing to change"
like "$(cat rb71.txt)" "identify's checks passed" "0.7.1 source: identify's checks ran beside the build"
is "$(sqlite3 out71.db 'PRAGMA journal_mode')" wal "0.7.1 source: the output is in WAL mode"

# Downgrades: to 0.5.1 and 0.4.1 schemas, rows reconcile.
for target in 0.5.1 0.4.1; do
	mkdb $target ref-$target.db
	master ref-$target.db > ref-$target.master
	mkcase 1 down.db
	check_rebuild "case 1 (downgrade)" down.db $target
	is "$(jqr out.json .direction)" downgrade "case 1 -> $target: a downgrade"
done

# Labels that share a schema: the source is named by its release, and a
# rebuild within one schema goes the "same" way, in the text, the JSON
# and the dry run alike.
# same_way LABEL TARGET SOURCE DIRECTION -- rebuild LABEL's database
same_way() {
	mkdb "$1" same.db
	rm -f same.out.db
	gsr rebuild --json --no-archive same.db --to "$2" -o same.out.db > same.json 2> err.txt
	is "$(jqr same.json '.source.label + " " + .direction')" "$3 $4" \
		"$1 -> $2 --json: source $3, direction $4"
	gsr rebuild --dry-run same.db --to "$2" > same.txt 2> err.txt
	is "$(sed -n 's/^path *//p' same.txt)" "$4 $3 -> $2" "$1 -> $2 --dry-run: path $4 $3 -> $2"
	gsr rebuild --dry-run --json same.db --to "$2" > same.json 2> err.txt
	is "$(jqr same.json '.source.label + " " + .direction')" "$3 $4" \
		"$1 -> $2 --dry-run --json: source $3, direction $4"
}
same_way 0.6.0 0.6.0 0.6.0 same
is "$(sed -n 's/^source *//p' same.txt)" \
	"release: 0.6.0 (its schema and revision match exactly; same schema as main-84cc5d33, main-a25414e0, main-b1a9070e)" \
	"0.6.0 -> 0.6.0: the source line names 0.6.0 and its builds"
is "$(jq -c '[.source.same_schema_as, .source.placed_at]' same.json)" \
	'[["main-84cc5d33","main-a25414e0","main-b1a9070e"],"main-b1a9070e"]' \
	"0.6.0 -> 0.6.0 --json: the same schema's builds, and where it is placed"
rm -f same.out.db
gsr rebuild --no-archive same.db --to 0.6.0 -o same.out.db > same.txt 2> err.txt
is $? 0 "0.6.0 -> 0.6.0: exit 0, nothing to change"
is "$(sed -n 's/^path *//p' same.txt)" "same 0.6.0 -> 0.6.0" "0.6.0 -> 0.6.0: path same 0.6.0 -> 0.6.0"
same_way 0.2.0 0.2.0 0.2.0 same
same_way 0.2.1 0.2.0 0.2.0 same
same_way 0.6.1 0.6.1 0.6.1 same
same_way 0.6.2 0.6.1 0.6.1 same
same_way 0.5.0 0.5.1 0.5.0 same
same_way 0.6.0 0.6.1 0.6.0 upgrade
same_way 0.6.1 0.6.0 0.6.1 downgrade
same_way main-be2fcc68 0.6.0 main-b43bbf20 upgrade

# Case 1 in detail: the orphaned api key is quarantined with its reason,
# the new columns get 0.6.0's defaults, ids and sequences survive.
mkcase 1 c1.db
gsr rebuild --json c1.db --to v0.6.0 > c1.json 2> err.txt
is $? 4 "case 1: exit 4 (repaired, one row quarantined)"
is "$(jqr c1.json '.source.label + " " + .direction')" "main-4697f394 upgrade" "case 1: placed at main-4697f394"
is "$(jq -c '[.tables[] | select(.name == "api_keys") | .source, .imported, .quarantined]' c1.json)" \
	"[2,1,1]" "case 1: api_keys 2 = 1 imported + 1 quarantined"
out=$(jqr c1.json .output.path)
is "$out" c1.rebuilt-0.6.0.db "case 1: default output name beside the input"
is "$(sqlite3 "$out" 'SELECT restart_count, resolved_path IS NULL FROM model_instances')" "0|1" \
	"case 1: restart_count gets 0.6.0's default 0"
is "$(sqlite3 "$out" 'SELECT restart_on_error, env FROM models')" "1|{}" \
	"case 1: restart_on_error 1 (default), env kept"
is "$(sqlite3 "$out" 'SELECT group_concat(id) FROM users; SELECT seq FROM sqlite_sequence WHERE name = "users"')" \
	"$(printf '1,2\n2')" "case 1: user ids kept, sqlite_sequence at least the largest id"
is "$(sqlite3 "$out" 'SELECT id, user_id FROM api_keys')" "1|1" "case 1: only the key of an existing user imported"
arch=$(jqr c1.json .archive.path)
like "$arch" '^c1\.audit-[0-9]{8}T[0-9]{6}Z\.tar\.zst$' "case 1: default archive name"
is "$(stat -c %a "$arch")" 600 "case 1: archive is mode 0600"
ok "case 1: zstd -t passes" sh -c "zstd -qt '$arch'"
tar --zstd -tf "$arch" > members.txt
is "$(tail -n 1 members.txt)" manifest.json "case 1: manifest.json is the last member"
for m in input/c1.db identify.json quarantine/001-api_keys.jsonl changes/001-api_keys.jsonl \
	rebuild/report.json rebuild/log.txt rules/labels/0.6.0.rules rules/patches/blog-1900-fix.rules; do
	ok "case 1: archive holds $m" grep -qx "$m" members.txt
done
ok "case 1: no full export by default" sh -c '! grep -q "^export/" members.txt'
mkdir x && tar --zstd -xf "$arch" -C x
ok "case 1: the archived input is the input byte for byte" cmp -s x/input/c1.db c1.db
q=$(cat x/quarantine/*api_keys*.jsonl)
like "$q" '"rowid":2,"reason":"deleted by the migration step 0.6.0/delete-orphan-api-keys"' \
	"case 1: quarantine gives rowid and reason"
like "$q" '"user_id":3' "case 1: quarantine keeps the original values"
is "$(jq -r '.output.sha256' x/manifest.json)" "$(sha256sum "$out" | cut -d' ' -f1)" \
	"case 1: the manifest names the rebuilt database's SHA-256"
ok "case 1: every member's SHA-256 is in the manifest" sh -c '
	cd x && jq -r ".members[] | .sha256 + \"  \" + .name" manifest.json | sha256sum -c --quiet'

gsr verify "$arch" --db "$out" > v.txt 2>&1
is $? 0 "case 1: gsrecover verify accepts the archive and the rebuilt database"
gsr verify "$arch" --db c1.db > v.txt 2>&1
is $? 4 "case 1: verify tells the input from the rebuilt database"

# Outputs are never overwritten without --force; --dry-run writes nothing.
gsr rebuild c1.db --to 0.6.0 > /dev/null 2> err.txt
is $? 8 "existing output: exit 8"
like "$(cat err.txt)" "c1.rebuilt-0.6.0.db' exists \(--force overwrites it\)" "existing output: said"
gsr rebuild c1.db --to 0.6.0 --force --no-archive > /dev/null 2>&1
is $? 4 "existing output with --force: rebuilt"
listing() { stat -c '%n %s %Y' * | grep -v -e '\.ls ' -e '\.txt '; }
listing > before.ls
gsr rebuild c1.db --to 0.6.0 -o dry.db --dry-run > dry.txt 2>&1
is $? 4 "dry run: the same status as the real run"
like "$(cat dry.txt)" "api_keys +2 +1 +1" "dry run: the plan's counts"
listing > after.ls
golden after.ls before.ls "dry run: nothing written"

# Usage.
gsr rebuild c1.db > /dev/null 2> err.txt
is $? 16 "missing --to: exit 16"
gsr rebuild c1.db --to 0.9.9 > /dev/null 2> err.txt
is $? 16 "unknown release: exit 16"
like "$(cat err.txt)" "'0.9.9' is not a release the rules know" "unknown release: said"
gsr rebuild c1.db --to main-4697f394 > /dev/null 2> err.txt
is $? 16 "a dev build is not a target: exit 16"

# A running server holds the database: refused unless --force.
mkdir -p data
mkdb 0.6.0 data/database.db
(exec 3< data/database.db; exec sleep 60) &
holder=$!
sleep 0.5
GPUSTACK_DATA_DIR="$T_SCRATCH/data" gsr rebuild --to 0.6.0 --no-archive > /dev/null 2> err.txt
is $? 8 "held open: refused"
like "$(cat err.txt)" "holds .*database.db' open: stop the GPUStack server first" "held open: said"
ok "held open: nothing written" test ! -e data/database.rebuilt-0.6.0.db
GPUSTACK_DATA_DIR="$T_SCRATCH/data" gsr rebuild --to 0.6.0 --no-archive --force > /dev/null 2> err.txt
is $? 0 "held open with --force: rebuilt (nothing needed changing: exit 0)"
like "$(cat err.txt)" "warning: process [0-9]+ \(sleep\) holds" "held open with --force: warned"
kill $holder 2> /dev/null
wait

# No partial output after a failure: an unwritable output directory.
mkdir ro && chmod 500 ro
if [ "$(id -u)" != 0 ]; then
	gsr rebuild c1.db --to 0.6.0 -o ro/out.db --no-archive > /dev/null 2> err.txt
	is $? 8 "unwritable output directory: exit 8"
else
	t_result 0 "unwritable output directory: skipped as root # SKIP root writes anywhere"
fi
gsr rebuild c1.db --to 0.6.0 -o nodir/out.db --no-archive > /dev/null 2> err.txt
is $? 8 "missing output directory: exit 8"
is "$(ls | grep -c 'tmp-')" 0 "no temporary files left behind"

done_testing
