#!/bin/sh
# A rebuild that refuses whole tables: every user has a source outside
# the users.source domain, so every user is quarantined and, under the
# foreign keys, every model_usages row with them (bench/quarantine.sh is
# the same case at 300 MB, for its memory).  Every row is accounted for:
# the counts reconcile, and the quarantine holds each refused row once,
# with its reason and values.
. "$GSR_TOP/tests/lib.sh"

sh "$GSR_TOP/bench/gen-refused-db.sh" r.db 3000 10
# A model gone too: the usages of model 7 break both their keys.
sqlite3 r.db "DELETE FROM models WHERE id = 7"
usages=$(sqlite3 r.db "SELECT count(*) FROM model_usages")

gsr rebuild --json r.db --to 0.7.1 -o o.db --archive a.tar.zst > r.json 2> err.txt
is $? 4 "rebuilt, rows quarantined: exit 4"
is "$(jq '[.tables[] | select(.source != .imported + .quarantined)] | length' r.json)" 0 \
	"every table: source = imported + quarantined"
is "$(jq -c '[.rows.source, .rows.imported + .rows.quarantined]' r.json)" \
	"$(jq -c '[.rows.source, .rows.source]' r.json)" "the totals reconcile"
is "$(jq -c '[.tables[] | select(.name == "users") | .source, .quarantined]' r.json)" "[10,10]" \
	"users: all 10 quarantined"
is "$(jq -c '[.tables[] | select(.name == "model_usages") | .source, .quarantined]' r.json)" \
	"[$usages,$usages]" "model_usages: all $usages quarantined"
is "$(sqlite3 o.db 'SELECT count(*) FROM users; SELECT count(*) FROM model_usages; SELECT count(*) FROM system_loads' | tr '\n' ' ')" \
	"0 0 3000 " "the output holds the rest"

mkdir x && tar --zstd -xf a.tar.zst -C x
u=x/quarantine/001-users.jsonl m=x/quarantine/002-model_usages.jsonl
is "$(wc -l < "$u" | tr -d ' ')" 10 "the users' quarantine: 10 lines"
is "$(jq -r .reason "$u" | sort -u)" "'source' is not one of the names 0.7.1 accepts" \
	"the users' quarantine: the domain named"
is "$(jq -r '.values.source' "$u" | sort -u)" Elsewhere "the users' quarantine: the original values"
is "$(wc -l < "$m" | tr -d ' ')" "$usages" "model_usages' quarantine: one line a row"
is "$(jq -r .rowid "$m" | sort -n | uniq | wc -l | tr -d ' ')" "$usages" \
	"model_usages' quarantine: each row once, even with both keys broken"
jq -r .rowid "$m" > quarantined.txt
sqlite3 r.db 'SELECT id FROM model_usages ORDER BY id' > source.txt
golden quarantined.txt source.txt \
	"model_usages' quarantine: every source row, in rowid order"
like "$(head -n 1 "$m" | jq -r .reason)" "references a row of users that does not exist" \
	"model_usages' quarantine: the foreign key named"
is "$(jq -r 'select(.values.model_id != 7) | .reason' "$m" | sort -u | wc -l | tr -d ' ')" 1 \
	"model_usages' quarantine: one reason for the rows of a model that exists"
is "$(jq -c 'select(.rowid == 6) | .values | [.id, .model_id]' "$m")" "[6,7]" \
	"model_usages' quarantine: the values of a row with both keys broken"
is "$(jq -c '.rows' x/manifest.json)" "$(jq -c '.rows' r.json)" "the manifest's counts are the report's"
gsr verify a.tar.zst --db o.db > v.txt 2>&1
is $? 0 "verify passes"

done_testing
