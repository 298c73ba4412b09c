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

done_testing
