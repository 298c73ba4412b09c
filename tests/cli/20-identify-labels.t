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
