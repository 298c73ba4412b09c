#!/bin/sh
# Every release and main-branch build, built from the SQL the tests carry,
# is identified as itself: `matches` contains its label, the verdict
# follows its kind, and the exit status is 0 for releases only.  Labels
# that share a schema are named by their release.
. "$GSR_TOP/tests/lib.sh"

for sql in "$FIX"/schemas/*.sql; do
	label=$(basename "$sql" .sql)
	kind=release
	case $label in main-*) kind=dev ;; esac
	mkdb "$label" db.db
	gsr identify --json db.db > out.json 2> err.txt
	status=$?
	has=$(jq --arg l "$label" '.matches | index($l) != null' out.json)
	verdict=$(jqr out.json .verdict)
	is "$has" true "$label: matches contains $label"
	if [ $kind = release ]; then
		is "$verdict/$status" "release/0" "$label: verdict release, exit 0"
	else
		# A dev build that shares a release's schema and revision is
		# indistinguishable from that release and reported as it.
		same_rel=$(jq '[.matches[] | select(test("^main-") | not)] | length' out.json)
		if [ "$same_rel" -gt 0 ]; then
			is "$verdict/$status" "release/0" "$label: same schema as a release"
		else
			is "$verdict/$status" "dev-build/4" "$label: verdict dev-build, exit 4"
		fi
	fi
	is "$(jqr out.json '.alembic_version')" \
		"$(sed -n 's/^-- alembic_version: //p' "$sql")" "$label: alembic_version read"
	is "$(jqr out.json '.health.ok')" true "$label: healthy"
	# The matches share schema and revision: they are named by their
	# earliest release, else their earliest build, the others being
	# "the same schema as" it.
	is "$(jqr out.json '.label == ([.matches[] | select(startswith("main-") | not)] + .matches)[0]
		and .same_schema_as == (.matches - [.label])')" true \
		"$label: named by its earliest release, the others the same schema"
done

# The reference schemas that several labels share, as the text and the
# JSON report name them.
verdict_of() { # LABEL -- the verdict line of the text report
	mkdb "$1" "$1.db"
	gsr identify "$1.db" | sed -n 's/^verdict *//p'
}
is "$(verdict_of 0.6.0)" \
	"release: exactly 0.6.0 (same schema as main-84cc5d33, main-a25414e0, main-b1a9070e)" \
	"0.6.0: named 0.6.0, not its last build"
is "$(verdict_of 0.2.1)" "release: exactly 0.2.0 (same schema as main-fa073a70, 0.2.1)" \
	"0.2.1: named 0.2.0, the earliest release of its schema"
is "$(verdict_of 0.6.2)" "release: exactly 0.6.1 (same schema as main-64df25fd, 0.6.2)" \
	"0.6.2: named 0.6.1, the earliest release of its schema"
is "$(verdict_of main-be2fcc68)" \
	"dev-build: exactly main-b43bbf20 (same schema as main-70374dab, main-be2fcc68)" \
	"a schema no release has: named by its earliest build"
is "$(verdict_of main-4697f394)" "dev-build: exactly main-4697f394" \
	"a schema of one label: no 'same schema as'"
gsr identify --json 0.6.0.db > out.json
is "$(jq -c '[.label, .same_schema_as, .nearest.label, .nearest_build.label]' out.json)" \
	'["0.6.0",["main-84cc5d33","main-a25414e0","main-b1a9070e"],"0.6.0","0.6.0"]' \
	"0.6.0 --json: label, same_schema_as, nearest and nearest build all 0.6.0"

# A stale stamp on 0.6.0's schema: the mismatch names the release, and
# no closest build of the same schema is shown beside it.
mkdb 0.6.0 stale.db
sqlite3 stale.db "UPDATE alembic_version SET version_num = '004c73a5c09e'"
gsr identify stale.db > stale.txt
like "$(cat stale.txt)" "the schema is exactly that of 0\.6\.0, which stamps alembic_version 'c45e397531d1'" \
	"stale stamp: the mismatch names 0.6.0"
is "$(grep -c '^closest' stale.txt)" 0 "stale stamp: no closest build beside the nearest release"
gsr identify --json stale.db > stale.json
is "$(jq -c '[.label, .same_schema_as, .nearest.label, .nearest_build.label]' stale.json)" \
	'[null,[],"0.6.0","0.6.0"]' "stale stamp --json: no label, nearest 0.6.0"

# The builds after 0.7.1 (kind dev2): a repair goes back to 0.7.1.
for label in main-8b0de82b main-d591e392; do
	mkdb $label db.db
	gsr identify --json db.db > out.json 2> err.txt
	is "$(jqr out.json '.verdict + " " + .suggested_target')" "dev-build 0.7.1" \
		"$label: a dev2 build, to be taken back to 0.7.1"
done

# Alembic's batch mode writes the two named foreign keys of users and of
# workers in either order: either text is the label's.
mkdir -p fx/schemas
perl -0pe 's/(\tCONSTRAINT fk_users_cluster_id[^\n]*), \n(\tCONSTRAINT fk_users_worker_id[^\n]*)\n/$2, \n$1\n/;
	s/(\tCONSTRAINT fk_workers_cluster_id[^\n]*), \n(\tCONSTRAINT fk_workers_worker_pool_id[^\n]*)\n/$2, \n$1\n/' \
	"$FIX/schemas/main-8a369de7.sql" > fx/schemas/main-8a369de7.sql
ok "the other order of the foreign keys differs in text" \
	sh -c '! cmp -s fx/schemas/main-8a369de7.sql "$1"' - "$FIX/schemas/main-8a369de7.sql"
real_fix=$FIX
FIX=$T_SCRATCH/fx
mkdb main-8a369de7 swapped.db
FIX=$real_fix
like "$(sqlite3 swapped.db "SELECT sql FROM sqlite_master WHERE name = 'users'" | tail -n 3 | tr -d '\n')" \
	"fk_users_worker_id.*fk_users_cluster_id" "swapped.db stores users with the other order"
gsr identify --json swapped.db > out.json 2> err.txt
is "$(jqr out.json '.verdict + " " + (.matches | join(","))')" "dev-build main-8a369de7" \
	"the other order of the foreign keys: still exactly main-8a369de7"

# main-8a369de7 has main-d591e392's schema and a revision of its own: a
# copy of it out of WAL mode is named by its own label.
mkdb main-8a369de7 rollback.db
sqlite3 rollback.db 'PRAGMA journal_mode=DELETE' > /dev/null
gsr identify --json rollback.db > out.json 2> err.txt
like "$(jq -r '.findings[] | .code + ": " + .message' out.json)" \
	"^journal-mode: schema and alembic_version are those of main-8a369de7, which runs in WAL mode" \
	"a copy out of WAL mode: the label with its revision is named"

done_testing
