#!/bin/sh
# gen-db.sh OUT [ROWS] -- a GPUStack 0.5.1 database with ROWS system_loads
# rows and ROWS/2 model_usages rows (default 4,500,000: 327 MB, 312 MiB).
set -eu
out=$1
rows=${2:-4500000}
top=$(cd "$(dirname "$0")/.." && pwd)
sql="$top/tests/fixtures/schemas/0.5.1.sql"
rm -f "$out"
{
	echo "PRAGMA journal_mode=OFF; PRAGMA synchronous=OFF;"
	grep -v -e '^-- ' -e '^CREATE TABLE sqlite_sequence(name,seq);$' "$sql"
	echo "INSERT INTO alembic_version VALUES ('e6bf9e067296');"
	cat <<SQL
BEGIN;
INSERT INTO users (id, username, is_admin, require_password_change, hashed_password, created_at, updated_at)
  VALUES (1, 'admin', 1, 0, 'h', '2025-01-01 00:00:00', '2025-01-01 00:00:00');
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
SQL
} | sqlite3 -bail "$out" > /dev/null
