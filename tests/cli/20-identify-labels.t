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

done_testing
