#!/bin/sh
# Every release and main-branch build, built from the SQL the tests carry,
# is identified as itself: `matches` contains its label, the verdict
# follows its kind, and the exit status is 0 for releases only.
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
done

done_testing
