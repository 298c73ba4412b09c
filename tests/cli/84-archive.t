#!/bin/sh
# The audit archive's two kinds: by default the input byte for byte, the
# changes of the transforms (before and after) and the command that
# regenerates the export; with --archive-export the full export too.
# verify takes both, and finds a tampered member in either; the export of
# the archived input is the archive's export, member by member.
. "$GSR_TOP/tests/lib.sh"

mkdb 0.4.1 v041.db
sqlite3 -bail v041.db <<'SQL'
INSERT INTO users (id, username, is_admin, require_password_change, hashed_password, created_at, updated_at)
VALUES (1, 'admin', 1, 0, 'h1', '2024-12-01 00:00:00', '2024-12-01 00:00:00');
INSERT INTO api_keys (id, name, access_key, hashed_secret_key, user_id, created_at, updated_at)
VALUES (1, 'k1', 'a1', 's1', 1, '2024-12-02 00:00:00', '2024-12-02 00:00:00'),
       (2, 'k2', 'a2', 's2', 9, '2024-12-02 00:00:00', '2024-12-02 00:00:00');
INSERT INTO models (id, source, name, replicas, ready_replicas, created_at, updated_at,
  embedding_only, reranker, image_only, speech_to_text, text_to_speech)
VALUES (1, 'HUGGING_FACE', 'emb', 1, 1, '2024-12-03', '2024-12-03', 1, 0, 0, 0, 0),
       (2, 'OLLAMA_LIBRARY', 'chat', 1, 1, '2024-12-03', '2024-12-03', 0, 0, 0, 0, 0);
INSERT INTO model_usages (id, user_id, model_id, date, prompt_token_count, completion_token_count, request_count, operation)
VALUES (1, 1, 2, '2024-12-06', 10, 20, 1, 'CHAT_COMPLETION');
SQL

# The default archive.
gsr rebuild --json v041.db --to 0.6.0 -o a.db --archive a.tar.zst > a.json 2> err.txt
is $? 4 "default: rebuilt, the orphaned key quarantined"
tar --zstd -tf a.tar.zst > a.txt
ok "default: no export/ member" sh -c '! grep -q "^export/" a.txt'
for m in input/v041.db identify.json quarantine/001-api_keys.jsonl changes/001-api_keys.jsonl \
	changes/002-models.jsonl rebuild/report.json rebuild/log.txt manifest.json; do
	ok "default: holds $m" grep -qx "$m" a.txt
done
mkdir a && tar --zstd -xf a.tar.zst -C a
ok "default: the input byte for byte" cmp -s a/input/v041.db v041.db
is "$(jq -c .export a/manifest.json)" \
	'{"included":false,"command":"gsrecover export input/v041.db -o export"}' \
	"default: the manifest names the command that regenerates the export"
is "$(jq -r '.tools.gsrecover | length > 0' a/manifest.json)" true "default: the manifest names the tool's version"
# The changes: a model whose categories 0.5.0 filled in, before and after.
is "$(jq -c 'select(.rowid == 1) | [.change, .before.name, .before.categories, .after.categories]' \
	a/changes/002-models.jsonl)" '["changed","emb",null,"[\"embedding\"]"]' \
	"default: a changed row, before and after"
is "$(wc -l < a/changes/002-models.jsonl | tr -d ' ')" 2 "default: each changed model once"
is "$(jq -c '[.rowid, .change, .step, .before.user_id, .after]' a/changes/001-api_keys.jsonl)" \
	'[2,"deleted","0.6.0/delete-orphan-api-keys",9,null]' "default: a deleted row, with its step"
gsr verify a.tar.zst --db a.db > v.txt 2>&1
is $? 0 "default: verify passes"
gsr verify -v a.tar.zst > v.txt 2>&1
like "$(cat v.txt)" "export    not in the archive; regenerate it from the archived input with: gsrecover export input/v041.db -o export" \
	"default: verify -v names the command"
gsr verify --json a.tar.zst > v.json 2> /dev/null
is "$(jq -c .export v.json)" '{"kind":"none","command":"gsrecover export input/v041.db -o export","problem":null}' \
	"default: verify --json says the export is not there"

# With the full export.
gsr rebuild --json v041.db --to 0.6.0 -o b.db --archive b.tar.zst --archive-export > b.json 2> err.txt
is $? 4 "--archive-export: rebuilt"
ok "--archive-export: the same database" cmp -s a.db b.db
tar --zstd -tf b.tar.zst > b.txt
for m in export/schema.sql export/models.jsonl export/manifest.json changes/002-models.jsonl; do
	ok "--archive-export: holds $m" grep -qx "$m" b.txt
done
mkdir b && tar --zstd -xf b.tar.zst -C b
is "$(jq -c .export.included b/manifest.json)" true "--archive-export: the manifest says so"
gsr verify b.tar.zst --db b.db > v.txt 2>&1
is $? 0 "--archive-export: verify passes"
gsr verify --json b.tar.zst > v.json 2> /dev/null
is "$(jqr v.json .export.kind)" full "--archive-export: verify --json says the export is there"

# The command of the manifest, run on the archived input, writes the
# archive's export again: every file the same, the manifest but for the
# input's path.
(cd b && eval "gsr $(jq -r .export.command manifest.json | sed 's/^gsrecover //; s/-o export$/-o again/')") \
	> /dev/null 2>&1
is $? 0 "the manifest's command runs on the archived input"
ls b/export > files.txt
is "$(ls b/again)" "$(cat files.txt)" "the regenerated export has the same files"
same=0
for f in $(cat files.txt); do
	[ "$f" = manifest.json ] && continue
	cmp -s "b/export/$f" "b/again/$f" || { same=1; echo "# differs: $f"; }
done
is $same 0 "every table's file and schema.sql the same, byte for byte"
is "$(jq -S -c 'del(.input[].path)' b/again/manifest.json)" "$(jq -S -c 'del(.input[].path)' b/export/manifest.json)" \
	"the export's manifest the same but for the input's path"

# A tampered member of each kind.
tamper() { # ARCHIVE DIR MEMBER OUT
	cp -r "$2" t.d && printf 'x' >> "t.d/$3"
	(cd t.d && tar --zstd -cf "../$4" $(cat "../$(basename "$1" .tar.zst).txt"))
	rm -rf t.d
}
tamper a.tar.zst a changes/002-models.jsonl ta.tar.zst
gsr verify ta.tar.zst > v.txt 2>&1
is $? 4 "default, a changed change: verify exit 4"
like "$(cat v.txt)" "^mismatch  changes/002-models.jsonl: " "default, a changed change: named"
tamper b.tar.zst b export/models.jsonl tb.tar.zst
gsr verify tb.tar.zst > v.txt 2>&1
is $? 4 "--archive-export, a changed export file: verify exit 4"
like "$(cat v.txt)" "^mismatch  export/models.jsonl: " "--archive-export, a changed export file: named"
# A manifest that says the export is there when it is not, listed or not.
(cd a && jq '.export.included = true' manifest.json > m.json && mv m.json manifest.json &&
	tar --zstd -cf ../tm.tar.zst $(cat ../a.txt))
gsr verify tm.tar.zst > v.txt 2>&1
is $? 4 "an export the manifest claims and does not list: exit 4"
like "$(cat v.txt)" "^export    the manifest says the full export is in the archive but lists no export/manifest.json" \
	"an export the manifest claims: said"

# --archive-export without an archive.
gsr rebuild v041.db --to 0.6.0 --no-archive --archive-export > /dev/null 2> err.txt
is $? 16 "--archive-export --no-archive: usage error"
like "$(cat err.txt)" "contradict each other" "--archive-export --no-archive: said"

gsr migrate v041.db --database-url postgresql://nowhere/x --no-archive --archive-export \
	> /dev/null 2> err.txt
is $? 16 "migrate --archive-export --no-archive: usage error"
gsr migrate --help > help.txt 2>&1
like "$(tr '\n' ' ' < help.txt)" "--archive-export +also put the full export" "migrate --help: --archive-export"

done_testing
