#!/bin/sh
# The field cases of FIELD-CASES.md, rebuilt as fixtures, are recognised
# for what they are.
. "$GSR_TOP/tests/lib.sh"

codes() { jq -r '[.findings[].code] | join(" ")' "$1"; }
kinds() { jq -r "[.$2.differences[] | .kind + \":\" + .table + \".\" + (.column // .object // \"\")] | join(\" \")" "$1"; }

# Case 1: main-4697f394 under v0.6.0's stamp.
mkcase 1 c1.db
gsr identify --json c1.db > c1.json
is $? 4 "case 1: exit 4"
is "$(jqr c1.json .verdict)" dev-build "case 1: a dev build"
is "$(jqr c1.json '.matches | join(",")')" main-4697f394 "case 1: exactly main-4697f394"
is "$(jqr c1.json .claimed.label)" 0.6.0 "case 1: claims 0.6.0"
like "$(jq -r '.findings[] | select(.code == "dev-schema-release-stamp") | .message' c1.json)" \
	"claims 0.6.0 but the schema is that of main-branch builds from 2025-02-21 to 2025-03-25" \
	"case 1: the dev-build-under-a-release-stamp pattern, with dates"
k=$(kinds c1.json claimed)
like "$k" "missing_column:model_instances.resolved_path" "case 1: resolved_path missing"
like "$k" "missing_column:model_instances.restart_count" "case 1: restart_count missing"
like "$k" "missing_column:models.restart_on_error" "case 1: restart_on_error missing"
like "$k" "missing_table:model_files" "case 1: model_files missing"
like "$k" "missing_table:modelinstancemodelfilelink" "case 1: link table missing"
like "$(jq -r '.claimed.differences[] | select(.table == "users" and .kind == "constraint") | .message' c1.json)" \
	"AUTOINCREMENT" "case 1: users without AUTOINCREMENT"
like "$(jq -r '.claimed.differences[] | select(.table == "api_keys" and .kind == "constraint") | .message' c1.json)" \
	"missing foreign key \(user_id\) REFERENCES users" "case 1: api_keys without its foreign key"
like "$(codes c1.json)" "orphan-rows" "case 1: the orphaned api key is seen"
is "$(jqr c1.json .suggested_target)" 0.6.0 "case 1: repair targets 0.6.0"
is "$(jqr c1.json .repair_command)" "gsrecover rebuild c1.db --to 0.6.0" "case 1: repair command"
is "$(jq '[.tables[] | select(.name == "api_keys")][0].rows' c1.json)" 2 "case 1: row counts"

# Case 2: the hand-written repair script, recognised by name.
mkcase 2 c2.db
gsr identify --json c2.db > c2.json
is $? 4 "case 2: exit 4"
is "$(jqr c2.json .verdict)" mixed "case 2: mixed"
is "$(jqr c2.json '.matches | length')" 0 "case 2: no exact match"
like "$(jq -r '.findings[] | select(.code == "hand-patch") | .message' c2.json)" \
	"hand patch 'blog-1900-fix'" "case 2: the hand patch is named"
like "$(kinds c2.json claimed)" "column_definition:model_instances.resolved_path" \
	"case 2: resolved_path has the script's type"
like "$(jq -r '.claimed.differences[] | select(.table == "model_files" and .kind == "constraint") | .message' c2.json)" \
	"AUTOINCREMENT" "case 2: model_files has the script's AUTOINCREMENT"
like "$(codes c2.json)" "orphan-rows" "case 2: orphaned api key still there"

# Case 3: models.categories present under v0.4's stamp.
mkcase 3 c3.db
gsr identify --json c3.db > c3.json
is "$(jqr c3.json .verdict)" mixed "case 3: mixed"
is "$(jqr c3.json .claimed.label)" 0.4.0 "case 3: claims 0.4.0"
is "$(kinds c3.json claimed)" "extra_column:models.categories" "case 3: exactly one extra column"
like "$(jq -r '.findings[] | select(.code == "table-origin") | .message' c3.json)" \
	"table 'models' is exactly as in main-b3184384" "case 3: models comes from a 0.5.0 dev build"

# Case 4: an older main-branch build under the later code's revision.
mkcase 4 c4.db
gsr identify --json c4.db > c4.json
is "$(jqr c4.json '.matches | join(",")')" main-737dfa2a "case 4: exactly main-737dfa2a"
like "$(kinds c4.json claimed)" "missing_column:models.image_only" "case 4: image_only missing"
like "$(codes c4.json)" "dev-schema-release-stamp" "case 4: dev build under 0.4.0's stamp"

# Case 5: an upgrade aborted half-way.
mkcase 5 c5.db
gsr identify --json c5.db > c5.json
is "$(jqr c5.json .verdict)" mixed "case 5: mixed"
is "$(jqr c5.json .nearest.label)" 0.1.2 "case 5: nearest release 0.1.2"
is "$(kinds c5.json nearest)" \
	"missing_column:system_loads.memory missing_column:system_loads.gpu_memory extra_column:system_loads.ram extra_column:system_loads.vram" \
	"case 5: the applied renames are the differences"
like "$(jq -r '.findings[] | select(.code == "table-origin") | .message' c5.json)" \
	"system_loads" "case 5: system_loads comes from a later build"

# Case 6: a healthy 0.6.x database whose rows hold JSON null.
mkcase 6 c6.db
gsr identify --json c6.db > c6.json
is $? 0 "case 6: exit 0"
is "$(jqr c6.json .verdict)" release "case 6: a release"
like "$(jqr c6.json '.matches | join(",")')" "0.6.2" "case 6: 0.6.2"
is "$(jqr c6.json .repair_command)" null "case 6: nothing to repair"

# Case 7: a view from another build.
mkcase 7 c7.db
gsr identify --json c7.db > c7.json
is "$(jqr c7.json .verdict)" mixed "case 7: mixed"
is "$(kinds c7.json claimed)" "view:gpu_devices_view.gpu_devices_view" "case 7: only the view differs"
like "$(jq -r '.findings[] | select(.code == "foreign-view") | .message' c7.json)" \
	"created by main-3bf76a5a to 0.7.1, not the one of the build its tables come from \(0.6.0\)" \
	"case 7: the view is 0.7.x's"

# A 0.7.0 database copied into rollback-journal mode reads as the dev
# builds that had 0.7.0's schema before the WAL switch, and says so.
mkdb 0.7.0 wal.db
sqlite3 wal.db 'PRAGMA journal_mode=DELETE' > /dev/null
gsr identify --json wal.db > wal.json
is "$(jqr wal.json '.matches | join(",")')" "main-d12f1e9f,main-ccf4b6d6" "journal mode is part of the fingerprint"
is "$(jqr wal.json '.schema_matches | join(",")')" "main-d12f1e9f,main-ccf4b6d6,main-4f2ae775,0.7.0,main-b0a63871" \
	"schema_matches ignores the journal mode"

# A stale stamp on an exact schema.
mkdb 0.5.1 stale.db
sqlite3 stale.db "UPDATE alembic_version SET version_num = '004c73a5c09e'"
gsr identify --json stale.db > stale.json
is "$(jqr stale.json .verdict)" mixed "stale stamp: not an exact match"
like "$(codes stale.json)" "alembic-mismatch" "stale stamp: alembic-mismatch"

# --schema-only: the same fingerprint, no data checks.
gsr identify --json --schema-only c1.db > so.json
is $? 4 "schema-only: exit 4"
is "$(jqr so.json '.matches | join(",")')" main-4697f394 "schema-only: same match"
is "$(jqr so.json '[(.tables | length), .health.integrity_mode, (.findings | map(.code) | index("orphan-rows"))] | map(tostring) | join(",")')" \
	"0,null,null" "schema-only: no row counts, no integrity check, no orphan check"

done_testing
