#!/bin/sh
# gen-refused-db.sh OUT [ROWS] [USERS] -- a GPUStack 0.7.1 database (no
# WAL) with ROWS system_loads rows and ROWS/2 model_usages rows (default
# 4,500,000: about 300 MB), whose USERS users (default 100) all have a
# source outside the users.source domain: a rebuild refuses every user
# and, under the foreign keys, every model_usages row with them.
set -eu
out=$1
rows=${2:-4500000}
users=${3:-100}
top=$(cd "$(dirname "$0")/.." && pwd)
sql="$top/tests/fixtures/schemas/0.7.1.sql"
rm -f "$out" "$out-wal" "$out-shm" "$out-journal"
{
	echo "PRAGMA journal_mode=OFF; PRAGMA synchronous=OFF;"
	grep -v -e '^-- ' -e '^CREATE TABLE sqlite_sequence(name,seq);$' "$sql"
	echo "INSERT INTO alembic_version VALUES ('$(sed -n 's/^-- alembic_version: //p' "$sql")');"
	cat <<SQL
BEGIN;
WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < $users)
INSERT INTO users (id, username, is_admin, require_password_change, hashed_password, created_at, updated_at, source)
  SELECT i, 'user-' || i, i = 1, 0, 'h', '2025-01-01 00:00:00', '2025-01-01 00:00:00', 'Elsewhere' FROM n;
WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 50)
INSERT INTO models (id, source, name, replicas, ready_replicas, created_at, updated_at, categories, meta)
  SELECT i, 'HUGGING_FACE', 'model-' || i, 1, 1, '2025-01-01 00:00:00', '2025-01-01 00:00:00', '["llm"]', '{}' FROM n;
WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < $rows)
INSERT INTO system_loads (id, timestamp, cpu, ram, gpu, vram)
  SELECT i, 1735689600 + i * 15, (i * 7919 % 10000) / 100.0, (i * 104729 % 10000) / 100.0,
         (i * 1299709 % 10000) / 100.0, (i * 15485863 % 10000) / 100.0 FROM n;
WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < $rows / 2)
INSERT INTO model_usages (id, user_id, model_id, date, prompt_token_count, completion_token_count, request_count, operation)
  SELECT i, 1 + i % $users, 1 + i % 50, date('2025-01-01', '+' || (i % 365) || ' days'), i % 5000, i % 3000, 1 + i % 20, 'CHAT_COMPLETION' FROM n;
COMMIT;
SQL
} | sqlite3 -bail "$out" > /dev/null
