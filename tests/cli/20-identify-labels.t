#!/bin/sh
# Every release and main-branch build, built from the SQL the tests carry,
# is identified as itself: `matches` contains its label, the verdict
# follows its kind, and the exit status is 0 for releases only.  Labels
# that share a schema are named by their release.
. "$GSR_TOP/tests/lib.sh"

n=0
for sql in "$FIX"/schemas/*.sql; do
	n=$((n + 1))
	sampled $n || continue
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

# A mixture: a database made by main-68a7eb78 (models.public, revision
# eeacfbc6a2bf before its edit in place) then used by main-96c27a6b, which
# runs nrxtab43e8j8 on top and keeps models.public.  identify names the
# path; rebuild takes it down to 0.7.1 along the lineage, every row
# imported or quarantined with its reason, the rows 0.7.1 can hold intact.
mkdb main-96c27a6b-from-68a7eb78 mix.db
sqlite3 -bail mix.db <<'SQL'
INSERT INTO clusters (id, name, provider, state, hashed_suffix, registration_token)
VALUES (1, 'Default Cluster', 'Docker', 'READY', 'abcdef012345', 'gpustack_0123456789abcdef_0123456789abcdef0123456789abcdef');
INSERT INTO users (id, username, is_admin, require_password_change, hashed_password, created_at, updated_at,
  source, cluster_id, worker_id, is_system, role, is_active)
VALUES (1, 'admin', 1, 0, 'h1', '2025-10-01', '2025-10-01', 'Local', NULL, NULL, 0, NULL, 1),
       (2, 'system/cluster-1', 0, 0, '', '2025-10-01', '2025-10-01', 'Local', 1, NULL, 1, 'Cluster', 1);
INSERT INTO workers (id, name, hostname, ip, state, created_at, updated_at, cluster_id, provider, metrics_port, status)
VALUES (1, 'w1', 'w1', '10.0.0.1', 'READY', '2025-10-03', '2025-10-03', 1, 'Docker', 10151, '{}');
INSERT INTO models (id, source, name, replicas, ready_replicas, created_at, updated_at, cluster_id,
  public, backend, reranker, categories, image_name)
VALUES (1, 'HUGGING_FACE', 'm1', 1, 1, '2025-10-04', '2025-10-04', 1, 1, 'vLLM', 1, '["reranker"]', NULL),
       (2, 'HUGGING_FACE', 'm2', 1, 1, '2025-10-04', '2025-10-04', 1, 0, 'vLLM', 0, '["llm"]', NULL),
       (3, 'LOCAL_PATH', 'm3', 1, 0, '2025-10-04', '2025-10-04', 1, 1, 'Custom', 0, '[]', 'my/image:1');
INSERT INTO model_instances (id, source, name, state, model_id, model_name, created_at, updated_at, cluster_id, worker_id)
VALUES (1, 'HUGGING_FACE', 'm1-a', 'RUNNING', 1, 'm1', '2025-10-05', '2025-10-05', 1, 1);
INSERT INTO inference_backends (id, backend_name, is_built_in) VALUES (1, 'SGLang', 1);
SQL
gsr identify --json mix.db > out.json 2> err.txt
is "$(jqr out.json '.verdict + " " + (.matches | join(","))')" "dev-build main-96c27a6b-from-68a7eb78" \
	"a mixture: identify names the upgrade path"
gsr rebuild --json mix.db --to 0.7.1 -o mix.out.db --archive mix.tar.zst > mix.json 2> err.txt
is $? 4 "a mixture -> 0.7.1: exit 4 (rows quarantined)"
is "$(jqr mix.json '.source.label + " " + .direction')" "main-96c27a6b-from-68a7eb78 downgrade" \
	"a mixture -> 0.7.1: a downgrade from its own label"
is "$(jq -c '[.tables[] | select(.source != .imported + .quarantined) | .name]' mix.json)" "[]" \
	"a mixture -> 0.7.1: every table, source = imported + quarantined"
is "$(jq -c '[.tables[] | select(.source > 0) | [.name, .source, .imported, .quarantined]] | sort' mix.json)" \
	'[["clusters",1,0,1],["inference_backends",1,0,1],["model_instances",1,1,0],["models",3,1,2],["users",2,1,1],["workers",1,1,0]]' \
	"a mixture -> 0.7.1: the counts of every table"
mkdir mixx && tar --zstd -xf mix.tar.zst -C mixx
is "$(cat mixx/quarantine/*.jsonl | jq -r 'select(.table == "models") | "\(.rowid): \(.reason)"' | sort -n)" "$(printf '%s\n' \
	"2: column 'public' holds data and 0.7.1 has no such column" \
	"3: column 'image_name' holds data and 0.7.1 has no such column")" \
	"a mixture -> 0.7.1: a model for some users only and one with its own image quarantined, with their reasons"
is "$(sqlite3 mix.out.db "SELECT id, name, backend, reranker, categories FROM models; SELECT id, username FROM users; SELECT id, model_id, worker_id FROM model_instances")" \
	"$(sqlite3 mix.db "SELECT id, name, 'vllm', reranker, categories FROM models WHERE id = 1; SELECT id, username FROM users WHERE id = 1; SELECT id, model_id, worker_id FROM model_instances")" \
	"a mixture -> 0.7.1: the rows 0.7.1 holds are intact (the backend named as 0.7.1 names it)"
is "$(sqlite3 mix.out.db 'SELECT version_num FROM alembic_version')" d19176de3b74 \
	"a mixture -> 0.7.1: stamped 0.7.1"

done_testing
