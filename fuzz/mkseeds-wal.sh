#!/bin/sh
# Make the seeds of fuzz/fuzz_wal.c with the sqlite3 CLI: small databases
# in 512-byte pages with their -wal copied while the connection is open,
# or their -journal copied in the middle of a transaction that a tiny
# cache spilled to the database.  Each seed is [hint 0][split: the size of
# the database, 2 bytes big-endian][database][side file].
# Usage: sh fuzz/mkseeds-wal.sh (from the top of the tree).
set -eu
out=fuzz/corpus-wal
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

fill="CREATE TABLE models(id INTEGER PRIMARY KEY, name TEXT UNIQUE,
  meta JSON, score REAL, blob BLOB);
WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 40)
INSERT INTO models SELECT i, 'model-' || i,
  CASE WHEN i % 9 = 0 THEN '{\"k\":\"' || hex(zeroblob(400)) || '\"}'
  ELSE '{\"gpu\":' || i || '}' END, i + 0.5, zeroblob(i % 7) FROM n;"

# seed NAME DB SIDE
seed() {
	n=$(wc -c < "$2")
	printf "\\000\\$(printf %03o $((n >> 8)))\\$(printf %03o $((n & 255)))" \
		> "$out/$1"
	cat "$2" "$3" >> "$out/$1"
}

# Committed transactions in the WAL, the last one leaving a freelist.
sqlite3 "$tmp/w.db" >/dev/null <<SQL
PRAGMA page_size=512;
PRAGMA journal_mode=WAL;
PRAGMA wal_autocheckpoint=0;
$fill
PRAGMA wal_checkpoint(TRUNCATE);
UPDATE models SET score = -score WHERE id % 3 = 0;
DELETE FROM models WHERE id BETWEEN 10 AND 20;
CREATE TABLE extra AS SELECT * FROM models;
DROP TABLE extra;
.system cp $tmp/w.db $tmp/w1.db; cp $tmp/w.db-wal $tmp/w1.wal
PRAGMA cache_size=2;
BEGIN;
UPDATE models SET meta = upper(meta);
.system cp $tmp/w.db $tmp/w2.db; cp $tmp/w.db-wal $tmp/w2.wal
ROLLBACK;
SQL
seed wal-committed-512 "$tmp/w1.db" "$tmp/w1.wal"
seed wal-uncommitted-512 "$tmp/w2.db" "$tmp/w2.wal"

# A rollback journal in the middle of a spilled transaction.
sqlite3 "$tmp/j.db" >/dev/null <<SQL
PRAGMA page_size=512;
PRAGMA journal_mode=DELETE;
$fill
PRAGMA cache_size=2;
BEGIN;
UPDATE models SET meta = upper(meta), blob = zeroblob(100);
DELETE FROM models WHERE id < 10;
.system cp $tmp/j.db $tmp/j1.db; cp $tmp/j.db-journal $tmp/j1.journal
ROLLBACK;
SQL
seed journal-512 "$tmp/j1.db" "$tmp/j1.journal"
