#!/bin/sh
# rebuild's data, table by table: a populated 0.4.1 and 0.5.1 database
# rebuilt to 0.6.0 gives the rows GPUStack's own migrations give.  The
# expectations are written from the migrations' behaviour:
#  e6bf9e067296 (0.5.0): models.categories from the first true flag in the
#    order reranker, embedding_only, image_only, speech_to_text,
#    text_to_speech, else ["llm"]; every workers.status gpu_devices[] gets
#    labels {} and a type from its vendor (NVIDIA cuda, Moore Threads musa,
#    Apple mps, Huawei npu, AMD rocm, else unknown); workers.port 10150,
#    unreachable 0 (server defaults).
#  c45e397531d1 (0.6.0): api keys of users that no longer exist deleted
#    (quarantined here, never lost); new columns NULL in old rows, which
#    the application defaults: restart_on_error true, restart_count 0.
. "$GSR_TOP/tests/lib.sh"

q() { sqlite3 -json "$1" "$2" | jq -S -c .; }

mkdb 0.4.1 v041.db
sqlite3 -bail v041.db <<'SQL'
INSERT INTO users (id, username, is_admin, require_password_change, hashed_password, created_at, updated_at)
VALUES (1, 'admin', 1, 0, 'h1', '2024-12-01 00:00:00', '2024-12-01 00:00:00'),
       (5, 'bob', 0, 0, 'h5', '2024-12-01 00:00:00', '2024-12-01 00:00:00');
INSERT INTO api_keys (id, name, access_key, hashed_secret_key, user_id, created_at, updated_at)
VALUES (1, 'k1', 'a1', 's1', 1, '2024-12-02 00:00:00', '2024-12-02 00:00:00'),
       (2, 'k2', 'a2', 's2', 9, '2024-12-02 00:00:00', '2024-12-02 00:00:00');
INSERT INTO models (id, source, name, replicas, ready_replicas, created_at, updated_at,
  embedding_only, reranker, image_only, speech_to_text, text_to_speech)
VALUES (1, 'HUGGING_FACE', 'emb', 1, 1, '2024-12-03', '2024-12-03', 1, 0, 0, 0, 0),
       (2, 'HUGGING_FACE', 'rr', 1, 1, '2024-12-03', '2024-12-03', 0, 1, 0, 0, 0),
       (3, 'HUGGING_FACE', 'img', 1, 1, '2024-12-03', '2024-12-03', 0, 0, 1, 0, 0),
       (4, 'MODEL_SCOPE', 'stt', 1, 1, '2024-12-03', '2024-12-03', 0, 0, 0, 1, 0),
       (5, 'MODEL_SCOPE', 'tts', 1, 1, '2024-12-03', '2024-12-03', 0, 0, 0, 0, 1),
       (6, 'OLLAMA_LIBRARY', 'chat', 1, 1, '2024-12-03', '2024-12-03', 0, 0, 0, 0, 0),
       (7, 'LOCAL_PATH', 'both', 1, 1, '2024-12-03', '2024-12-03', 1, 1, 0, 0, 0);
INSERT INTO workers (id, name, hostname, ip, labels, state, status, created_at, updated_at)
VALUES (1, 'w1', 'w1', '10.0.0.1', '{}', 'READY',
  '{"cpu":{"total":8},"gpu_devices":[{"name":"A100","vendor":"NVIDIA","index":0},{"name":"MI300","vendor":"AMD","index":1}]}',
  '2024-12-04', '2024-12-04'),
       (2, 'w2', 'w2', '10.0.0.2', '{}', 'NOT_READY',
  '{"cpu":{"total":4},"gpu_devices":[{"name":"M3","vendor":"Apple","index":0},{"name":"X","vendor":"Acme","index":1}]}',
  '2024-12-04', '2024-12-04');
INSERT INTO model_instances (id, source, name, state, model_id, model_name, created_at, updated_at, gpu_indexes)
VALUES (1, 'HUGGING_FACE', 'emb-1', 'RUNNING', 1, 'emb', '2024-12-05', '2024-12-05', '[0]');
INSERT INTO model_usages (id, user_id, model_id, date, prompt_token_count, completion_token_count, request_count, operation)
VALUES (1, 1, 6, '2024-12-06', 10, 20, 1, 'CHAT_COMPLETION');
SQL

gsr rebuild --json --no-archive v041.db --to 0.6.0 -o v041.out.db > v041.json 2> err.txt
is $? 4 "0.4.1 -> 0.6.0: exit 4 (the orphaned api key is quarantined)"
is "$(q v041.out.db 'SELECT id, categories FROM models ORDER BY id')" \
	'[{"categories":"[\"embedding\"]","id":1},{"categories":"[\"reranker\"]","id":2},{"categories":"[\"image\"]","id":3},{"categories":"[\"speech_to_text\"]","id":4},{"categories":"[\"text_to_speech\"]","id":5},{"categories":"[\"llm\"]","id":6},{"categories":"[\"reranker\"]","id":7}]' \
	"0.4.1 -> 0.6.0: models.categories backfilled as e6bf9e067296 does"
is "$(sqlite3 v041.out.db "SELECT status FROM workers WHERE id = 1" | jq -S -c .)" \
	'{"cpu":{"total":8},"gpu_devices":[{"index":0,"labels":{},"name":"A100","type":"cuda","vendor":"NVIDIA"},{"index":1,"labels":{},"name":"MI300","type":"rocm","vendor":"AMD"}]}' \
	"0.4.1 -> 0.6.0: gpu_devices get labels and types (NVIDIA, AMD)"
is "$(sqlite3 v041.out.db "SELECT status FROM workers WHERE id = 2" | jq -S -c '[.gpu_devices[].type]')" \
	'["mps","unknown"]' "0.4.1 -> 0.6.0: Apple is mps, an unknown vendor unknown"
is "$(q v041.out.db 'SELECT id, port, unreachable FROM workers ORDER BY id')" \
	'[{"id":1,"port":10150,"unreachable":0},{"id":2,"port":10150,"unreachable":0}]' \
	"0.4.1 -> 0.6.0: workers.port 10150 and unreachable 0"
is "$(q v041.out.db 'SELECT restart_on_error, env FROM models WHERE id = 1')" \
	'[{"env":"{}","restart_on_error":1}]' "0.4.1 -> 0.6.0: 0.6.0's defaults for models"
is "$(q v041.out.db 'SELECT restart_count, resolved_path, last_restart_time FROM model_instances')" \
	'[{"last_restart_time":null,"resolved_path":null,"restart_count":0}]' \
	"0.4.1 -> 0.6.0: 0.6.0's defaults for model_instances"
is "$(q v041.out.db 'SELECT id, user_id FROM api_keys')" '[{"id":1,"user_id":1}]' \
	"0.4.1 -> 0.6.0: the orphaned api key is not imported"
is "$(jq -c '[.tables[] | select(.name == "api_keys") | .source, .imported, .quarantined]' v041.json)" \
	'[2,1,1]' "0.4.1 -> 0.6.0: ... and counted as quarantined"
is "$(q v041.out.db 'SELECT id, name, source FROM models WHERE id IN (4, 7) ORDER BY id')" \
	'[{"id":4,"name":"stt","source":"MODEL_SCOPE"},{"id":7,"name":"both","source":"LOCAL_PATH"}]' \
	"0.4.1 -> 0.6.0: other values carried over unchanged"
is "$(q v041.out.db 'SELECT * FROM model_usages')" "$(q v041.db 'SELECT * FROM model_usages')" \
	"0.4.1 -> 0.6.0: model_usages row for row"
is "$(sqlite3 v041.out.db "SELECT seq FROM sqlite_sequence WHERE name = 'users'")" 5 \
	"0.4.1 -> 0.6.0: users sequence starts past the largest id"
like "$(jq -r '[.transforms[] | .label + "/" + .name] | join(" ")' v041.json)" \
	"0.5.0/models-categories-backfill.*0.6.0/delete-orphan-api-keys" \
	"0.4.1 -> 0.6.0: the transforms of 0.5.0 and 0.6.0, in order"

# 0.5.1: categories already there; only 0.6.0's step applies.
mkdb 0.5.1 v051.db
sqlite3 -bail v051.db <<'SQL'
INSERT INTO users (id, username, is_admin, require_password_change, hashed_password, created_at, updated_at)
VALUES (1, 'admin', 1, 0, 'h1', '2025-02-01', '2025-02-01');
INSERT INTO models (id, source, name, replicas, ready_replicas, created_at, updated_at, categories, meta)
VALUES (1, 'HUGGING_FACE', 'm', 1, 0, '2025-02-02', '2025-02-02', '["llm"]', '{"k":1}');
INSERT INTO workers (id, name, hostname, ip, state, status, created_at, updated_at, port, unreachable)
VALUES (1, 'w', 'w', '10.0.0.3', 'READY', '{"gpu_devices":[{"vendor":"NVIDIA","type":"cuda","labels":{"a":"b"}}]}', '2025-02-03', '2025-02-03', 20000, 1);
INSERT INTO model_instances (id, source, name, state, model_id, model_name, created_at, updated_at, distributed_servers)
VALUES (1, 'HUGGING_FACE', 'm-1', 'ERROR', 1, 'm', '2025-02-04', '2025-02-04', 'null');
SQL
gsr rebuild --json --no-archive v051.db --to 0.6.0 -o v051.out.db > v051.json 2> err.txt
is $? 1 "0.5.1 -> 0.6.0: exit 1 (repaired, nothing quarantined)"
for t in users models workers; do
	cols=$(sqlite3 v051.db "SELECT group_concat(name, ', ') FROM pragma_table_info('$t')")
	is "$(q v051.out.db "SELECT $cols FROM $t")" "$(q v051.db "SELECT $cols FROM $t")" \
		"0.5.1 -> 0.6.0: $t keeps every value of every column"
done
is "$(q v051.out.db 'SELECT restart_on_error, env FROM models')" '[{"env":"{}","restart_on_error":1}]' \
	"0.5.1 -> 0.6.0: new model columns defaulted"
is "$(q v051.out.db 'SELECT distributed_servers, restart_count FROM model_instances')" \
	'[{"distributed_servers":"null","restart_count":0}]' \
	"0.5.1 -> 0.6.0: JSON null kept, restart_count defaulted"

# Field case 6 to 0.7.1: the JSON null that broke v0.7.0's migration is
# carried through, the other instances converted.
mkcase 6 c6.db
sqlite3 c6.db "INSERT INTO model_instances (id, source, name, state, model_id, model_name, created_at, updated_at, distributed_servers)
VALUES (3, 'OLLAMA_LIBRARY', 'llama3-x3', 'RUNNING', 1, 'llama3', '2025-06-01', '2025-06-01',
 '{\"rpc_servers\":[{\"worker_id\":2,\"gpu_index\":1,\"pid\":7,\"port\":9000}],\"ray_actors\":[]}')"
gsr rebuild --json --no-archive c6.db --to 0.7.1 -o c6.out.db > c6.json 2> err.txt
is $? 1 "case 6 -> 0.7.1: exit 1"
is "$(sqlite3 c6.out.db "SELECT group_concat(distributed_servers, ' ') FROM model_instances WHERE id IN (1, 2)")" \
	"null null" "case 6 -> 0.7.1: JSON null carried through"
is "$(sqlite3 c6.out.db "SELECT distributed_servers FROM model_instances WHERE id = 3" | jq -c '[.mode, .subordinate_workers[0].worker_id, .subordinate_workers[0].gpu_indexes]')" \
	'["delegated",2,[1]]' "case 6 -> 0.7.1: rpc servers become subordinate workers"
is "$(jq '[.transforms[] | select(.name == "distributed-servers-subordinate-workers")][0].rows_changed' c6.json)" 1 \
	"case 6 -> 0.7.1: the report counts the one converted row"
is "$(sqlite3 c6.out.db "SELECT source FROM users" | sort -u)" "" "case 6 -> 0.7.1: no users, nothing to default"

# Downgrade 0.6.0 -> 0.5.1: a model whose env holds data cannot go back
# (0.5.1 has no env); one with the default goes.
mkdb 0.6.0 v060.db
sqlite3 -bail v060.db <<'SQL'
INSERT INTO models (id, source, name, replicas, ready_replicas, created_at, updated_at, env, restart_on_error)
VALUES (1, 'HUGGING_FACE', 'plain', 1, 0, '2025-05-01', '2025-05-01', '{}', 1),
       (2, 'HUGGING_FACE', 'tuned', 1, 0, '2025-05-01', '2025-05-01', '{"CUDA_VISIBLE_DEVICES":"1"}', 1);
INSERT INTO model_files (id, source, state, created_at, updated_at) VALUES (1, 'HUGGING_FACE', 'READY', '2025-05-01', '2025-05-01');
SQL
gsr rebuild --json --no-archive v060.db --to 0.5.1 -o v060.out.db > v060.json 2> err.txt
is $? 4 "0.6.0 -> 0.5.1: exit 4"
is "$(sqlite3 v060.out.db 'SELECT group_concat(id) FROM models')" 1 "0.6.0 -> 0.5.1: the model with default env goes back"
is "$(jq -c '[.tables[] | select(.name == "models") | .quarantined, .dropped]' v060.json)" \
	'[1,["env","restart_on_error"]]' "0.6.0 -> 0.5.1: the other is quarantined; env and restart_on_error dropped"
is "$(jq -c '[.tables[] | select(.name == "model_files") | .in_target, .quarantined]' v060.json)" \
	'[false,1]' "0.6.0 -> 0.5.1: model_files rows quarantined (0.5.1 has no such table)"

# A database of the last build on SQLite before 2.0 (main-8a369de7, kind
# dev2) taken back down to 0.7.1.  The expectations follow the downgrade
# steps of the dev2 labels (rules/labels/main-*.rules): the tables 0.7.1
# does not have go to the quarantine; so do the system users (and their
# api keys) that 924c9a0b4c13's downgrade deletes, the per-cluster system
# loads, and a row whose 2.x-only column says something 0.7.1 would not
# do (an inactive user, a model for some users only, a key limited to
# some models, a model with its own image, one with an extended KV cache);
# the columns that say nothing 0.7.1 would do otherwise are dropped.
mkdb main-8a369de7 v2.db
sqlite3 -bail v2.db <<'SQL'
INSERT INTO cloud_credentials (id, name, provider) VALUES (1, 'do', 'DigitalOcean');
INSERT INTO clusters (id, name, provider, state, hashed_suffix, registration_token)
VALUES (1, 'Default Cluster', 'Docker', 'READY', 'abcdef012345', 'gpustack_0123456789abcdef_0123456789abcdef0123456789abcdef'),
       (2, 'cloud', 'DigitalOcean', 'READY', '543210fedcba', 'gpustack_fedcba9876543210_fedcba9876543210fedcba9876543210');
INSERT INTO worker_pools (id, name, cluster_id, replicas) VALUES (1, 'pool', 2, 1);
INSERT INTO users (id, username, is_admin, require_password_change, hashed_password, created_at, updated_at,
  source, cluster_id, worker_id, is_system, role, is_active)
VALUES (1, 'admin', 1, 0, 'h1', '2025-10-01', '2025-10-01', 'Local', NULL, NULL, 0, NULL, 1),
       (2, 'bob', 0, 0, 'h2', '2025-10-01', '2025-10-01', 'Local', NULL, NULL, 0, NULL, 0),
       (3, 'carol', 0, 0, '', '2025-10-01', '2025-10-01', 'OIDC', NULL, NULL, 0, NULL, 1),
       (4, 'system/cluster-1', 0, 0, '', '2025-10-01', '2025-10-01', 'Local', 1, NULL, 1, 'Cluster', 1),
       (5, 'system/worker-0', 0, 0, '', '2025-10-01', '2025-10-01', 'Local', 1, NULL, 1, 'Worker', 1);
INSERT INTO api_keys (id, name, access_key, hashed_secret_key, user_id, created_at, updated_at, allowed_model_names)
VALUES (1, 'all', 'a1', 's1', 1, '2025-10-02', '2025-10-02', 'null'),
       (2, 'only-m1', 'a2', 's2', 1, '2025-10-02', '2025-10-02', '["m1"]'),
       (3, 'carol', 'a3', 's3', 3, '2025-10-02', '2025-10-02', '[]'),
       (4, 'Legacy Worker Token', 'a4', 's4', 5, '2025-10-02', '2025-10-02', NULL),
       (5, 'bob', 'a5', 's5', 2, '2025-10-02', '2025-10-02', NULL);
INSERT INTO workers (id, name, hostname, ip, state, created_at, updated_at, cluster_id, provider,
  worker_pool_id, token, metrics_port, ifname, status)
VALUES (1, 'w1', 'w1', '10.0.0.1', 'READY', '2025-10-03', '2025-10-03', 1, 'Docker', NULL, 'tok', 10151, 'eth0', '{}'),
       (2, 'w2', 'w2', '10.0.0.2', 'PROVISIONING', '2025-10-03', '2025-10-03', 2, 'DigitalOcean', 1, NULL, NULL, NULL, '{}');
INSERT INTO models (id, source, name, replicas, ready_replicas, created_at, updated_at, cluster_id,
  access_policy, backend, image_name, run_command, extended_kv_cache, categories)
VALUES (1, 'HUGGING_FACE', 'm1', 1, 1, '2025-10-04', '2025-10-04', 1, 'AUTHED', 'vLLM', NULL, NULL, 'null', '["llm"]'),
       (2, 'HUGGING_FACE', 'm2', 1, 1, '2025-10-04', '2025-10-04', 1, 'ALLOWED_USERS', 'vLLM', NULL, NULL, 'null', '["llm"]'),
       (3, 'MODEL_SCOPE', 'm3', 1, 0, '2025-10-04', '2025-10-04', 2, 'PUBLIC', 'llama-box', NULL, NULL, '{"enabled":false}', '["llm"]'),
       (4, 'LOCAL_PATH', 'm4', 1, 0, '2025-10-04', '2025-10-04', 1, 'AUTHED', 'Custom', 'my/image:1', 'serve', 'null', '[]'),
       (5, 'HUGGING_FACE', 'm5', 1, 0, '2025-10-04', '2025-10-04', 1, 'AUTHED', 'vLLM', NULL, NULL, '{"enabled":true,"chunk_size":256}', '[]');
INSERT INTO modeluserlink (model_id, user_id) VALUES (2, 3);
INSERT INTO model_instances (id, source, name, state, model_id, model_name, created_at, updated_at, cluster_id,
  worker_id, worker_ifname)
VALUES (1, 'HUGGING_FACE', 'm1-a', 'RUNNING', 1, 'm1', '2025-10-05', '2025-10-05', 1, 1, 'eth0'),
       (2, 'HUGGING_FACE', 'm2-a', 'RUNNING', 2, 'm2', '2025-10-05', '2025-10-05', 1, 1, 'eth0');
INSERT INTO system_loads (id, timestamp, cpu, ram, gpu, vram, cluster_id)
VALUES (1, 1760000000, 0.5, 0.5, 0.5, 0.5, NULL), (2, 1760000000, 0.5, 0.5, 0.5, 0.5, 1),
       (3, 1760000000, 0.1, 0.1, 0.1, 0.1, 2);
INSERT INTO inference_backends (id, backend_name, is_built_in) VALUES (1, 'SGLang', 1);
INSERT INTO model_usages (id, user_id, model_id, date, prompt_token_count, completion_token_count, request_count, operation)
VALUES (1, 1, 1, '2025-10-06', 10, 20, 1, 'CHAT_COMPLETION');
SQL
gsr rebuild --json v2.db --to 0.7.1 -o v2.out.db --archive v2.tar.zst > v2.json 2> err.txt
is $? 4 "main-8a369de7 -> 0.7.1: exit 4 (rows quarantined)"
is "$(jqr v2.json '.source.label + " " + .direction')" "main-8a369de7 downgrade" \
	"main-8a369de7 -> 0.7.1: a downgrade from the label itself"
is "$(jq -c '[.tables[] | select(.source != .imported + .quarantined) | .name]' v2.json)" "[]" \
	"main-8a369de7 -> 0.7.1: every table, source = imported + quarantined"
is "$(jq -c '[.tables[] | [.name, .source, .imported, .quarantined]] | sort' v2.json)" \
	'[["api_keys",5,2,3],["cloud_credentials",1,0,1],["clusters",2,0,2],["credentials",0,0,0],["inference_backends",1,0,1],["model_files",0,0,0],["model_instances",2,1,1],["model_usages",1,1,0],["modelinstancemodelfilelink",0,0,0],["models",5,2,3],["modeluserlink",1,0,1],["system_loads",3,1,2],["users",5,2,3],["worker_pools",1,0,1],["workers",2,2,0]]' \
	"main-8a369de7 -> 0.7.1: the counts of every table"
mkdir v2x && tar --zstd -xf v2.tar.zst -C v2x
quarantined() { # TABLE -- "rowid: reason" of its quarantined rows, sorted
	cat v2x/quarantine/*.jsonl | jq -r --arg t "$1" 'select(.table == $t) | "\(.rowid): \(.reason)"' | sort -n
}
is "$(quarantined users)" "$(printf '%s\n' \
	"2: column 'is_active' holds data and 0.7.1 has no such column" \
	'4: deleted by the migration step main-8b0de82b/system-users' \
	'5: deleted by the migration step main-8b0de82b/system-users')" \
	"main-8a369de7 -> 0.7.1: an inactive user and the system users quarantined, with their reasons"
is "$(quarantined api_keys)" "$(printf '%s\n' \
	"2: column 'allowed_model_names' holds data and 0.7.1 has no such column" \
	'4: deleted by the migration step main-8b0de82b/system-users' \
	'5: references a row of users that does not exist (a foreign key of 0.7.1)')" \
	"main-8a369de7 -> 0.7.1: a limited key, a system user's key and an orphan quarantined"
is "$(quarantined models)" "$(printf '%s\n' \
	"2: column 'access_policy' holds data and 0.7.1 has no such column" \
	"4: column 'image_name' holds data and 0.7.1 has no such column" \
	"5: column 'extended_kv_cache' holds data and 0.7.1 has no such column")" \
	"main-8a369de7 -> 0.7.1: models 0.7.1 would run otherwise quarantined"
is "$(quarantined model_instances)" \
	'2: references a row of models that does not exist (a foreign key of 0.7.1)' \
	"main-8a369de7 -> 0.7.1: the instance of a quarantined model follows it"
is "$(quarantined system_loads)" "$(printf '%s\n' \
	'2: deleted by the migration step main-8b0de82b/system-loads-per-cluster' \
	'3: deleted by the migration step main-8b0de82b/system-loads-per-cluster')" \
	"main-8a369de7 -> 0.7.1: the per-cluster system loads quarantined"
for t in clusters worker_pools cloud_credentials modeluserlink inference_backends; do
	like "$(quarantined $t)" "^1: table '$t' does not exist in 0.7.1$" \
		"main-8a369de7 -> 0.7.1: $t quarantined, a table 0.7.1 does not have"
done
like "$(cat v2x/quarantine/*.jsonl | jq -c 'select(.table == "users" and .rowid == 4) | .values')" \
	'"username":"system/cluster-1".*"cluster_id":1,.*"is_system":1,"role":"Cluster"' \
	"main-8a369de7 -> 0.7.1: the quarantine keeps the 2.x columns' values"
is "$(q v2.out.db 'SELECT id, username, source FROM users ORDER BY id')" \
	'[{"id":1,"source":"Local","username":"admin"},{"id":3,"source":"OIDC","username":"carol"}]' \
	"main-8a369de7 -> 0.7.1: the active users imported"
is "$(q v2.out.db 'SELECT id, name, state, status FROM workers ORDER BY id')" \
	'[{"id":1,"name":"w1","state":"READY","status":"{}"},{"id":2,"name":"w2","state":"NOT_READY","status":"{}"}]' \
	"main-8a369de7 -> 0.7.1: both workers imported, one in a 2.x state NOT_READY"
is "$(q v2.out.db 'SELECT id, backend, categories, embedding_only, reranker, ollama_library_model_name FROM models ORDER BY id')" \
	'[{"backend":"vllm","categories":"[\"llm\"]","embedding_only":0,"id":1,"ollama_library_model_name":null,"reranker":0},{"backend":"llama-box","categories":"[\"llm\"]","embedding_only":0,"id":3,"ollama_library_model_name":null,"reranker":0}]' \
	"main-8a369de7 -> 0.7.1: models imported, backend names as 0.7.1 writes them, 0.7.1's defaults"
is "$(q v2.out.db 'SELECT id, user_id FROM api_keys ORDER BY id')" '[{"id":1,"user_id":1},{"id":3,"user_id":3}]' \
	"main-8a369de7 -> 0.7.1: the unrestricted keys of the imported users"
is "$(q v2.out.db 'SELECT id, model_id, worker_id FROM model_instances')" '[{"id":1,"model_id":1,"worker_id":1}]' \
	"main-8a369de7 -> 0.7.1: the instance of an imported model"
is "$(q v2.out.db 'SELECT * FROM system_loads')" \
	'[{"cpu":0.5,"gpu":0.5,"id":1,"ram":0.5,"timestamp":1760000000,"vram":0.5}]' \
	"main-8a369de7 -> 0.7.1: the system load of all clusters imported"
is "$(q v2.out.db 'SELECT * FROM model_usages')" "$(q v2.db 'SELECT * FROM model_usages')" \
	"main-8a369de7 -> 0.7.1: model_usages row for row"
is "$(jq -c '[.tables[] | select(.name == "workers") | .dropped[]]' v2.json)" \
	'["cluster_id","provider","worker_pool_id","machine_id","external_id","ssh_key_id","provider_config","token","metrics_port","ifname"]' \
	"main-8a369de7 -> 0.7.1: the report names the workers' columns dropped"

done_testing
