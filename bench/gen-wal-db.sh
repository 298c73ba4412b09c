#!/bin/sh
# gen-wal-db.sh OUT [ROWS] -- a GPUStack 0.7.1 database in WAL mode with
# ROWS system_loads rows and ROWS/2 model_usages rows (default 4,500,000:
# about 300 MB), then, under a writer that never checkpoints, committed
# transactions left in OUT-wal (at least 1 MB): new system_loads and
# model_usages rows, changed and deleted ones.  OUT and OUT-wal are what a
# copy of a live GPUStack 0.7.x server looks like.
set -eu
out=$1
rows=${2:-4500000}
top=$(cd "$(dirname "$0")/.." && pwd)
sql="$top/tests/fixtures/schemas/0.7.1.sql"
rm -f "$out" "$out-wal" "$out-shm"
{
	echo "PRAGMA journal_mode=OFF; PRAGMA synchronous=OFF;"
	grep -v -e '^-- ' -e '^CREATE TABLE sqlite_sequence(name,seq);$' "$sql"
	echo "INSERT INTO alembic_version VALUES ('$(sed -n 's/^-- alembic_version: //p' "$sql")');"
	cat <<SQL
BEGIN;
INSERT INTO users (id, username, is_admin, require_password_change, hashed_password, created_at, updated_at, source)
  VALUES (1, 'admin', 1, 0, 'h', '2025-01-01 00:00:00', '2025-01-01 00:00:00', 'Local');
WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 50)
INSERT INTO models (id, source, name, replicas, ready_replicas, created_at, updated_at, categories, meta)
  SELECT i, 'HUGGING_FACE', 'model-' || i, 1, 1, '2025-01-01 00:00:00', '2025-01-01 00:00:00', '["llm"]', '{}' FROM n;
WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < $rows)
INSERT INTO system_loads (id, timestamp, cpu, ram, gpu, vram)
  SELECT i, 1735689600 + i * 15, (i * 7919 % 10000) / 100.0, (i * 104729 % 10000) / 100.0,
         (i * 1299709 % 10000) / 100.0, (i * 15485863 % 10000) / 100.0 FROM n;
WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < $rows / 2)
INSERT INTO model_usages (id, user_id, model_id, date, prompt_token_count, completion_token_count, request_count, operation)
  SELECT i, 1, 1 + i % 50, date('2025-01-01', '+' || (i % 365) || ' days'), i % 5000, i % 3000, 1 + i % 20, 'CHAT_COMPLETION' FROM n;
COMMIT;
PRAGMA journal_mode=WAL;
SQL
} | sqlite3 -bail "$out" > /dev/null
# A running server: many small transactions, never checkpointed.
{
	echo ".dbconfig no_ckpt_on_close on"
	echo "PRAGMA wal_autocheckpoint=0;"
	i=1
	while [ $i -le 200 ]; do
		cat <<SQL
BEGIN;
WITH RECURSIVE n(k) AS (SELECT 1 UNION ALL SELECT k + 1 FROM n WHERE k < 40)
INSERT INTO system_loads (id, timestamp, cpu, ram, gpu, vram)
  SELECT $rows + ($i - 1) * 40 + k, 1900000000 + $i * 40 + k, 1.0, 2.0, 3.0, 4.0 FROM n;
UPDATE model_usages SET request_count = request_count + 1 WHERE id = $i * 9973 % ($rows / 2) + 1;
UPDATE system_loads SET cpu = 50.0 WHERE id = $i * 7919 % $rows + 1;
DELETE FROM system_loads WHERE id = $i * 104729 % $rows + 1;
COMMIT;
SQL
		i=$((i + 1))
	done
} | sqlite3 -bail "$out" > /dev/null
rm -f "$out-shm"
