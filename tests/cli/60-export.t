#!/bin/sh
# gsrecover export: every row of every table, losslessly, into a directory
# that appears whole or not at all; the input is never changed.
. "$GSR_TOP/tests/lib.sh"

export TMPDIR="$T_SCRATCH/tmp"
mkdir -p "$TMPDIR" w

# skip DESCRIPTION REASON -- a TAP skip.
skip() {
	t_n=$((t_n + 1))
	echo "ok $t_n - $1 # SKIP $2"
}

# leftovers DIR -- temporary or set-aside directories of DIR, and working
# copies in TMPDIR.
leftovers() {
	ls -d "$1".tmp-* "$1".old-* "$TMPDIR"/* 2> /dev/null
}

mkcase 1 db.db
# One value of every storage class a row, the awkward ones included.
sqlite3 -bail db.db <<'SQL'
CREATE TABLE typed (id INTEGER PRIMARY KEY, v);
INSERT INTO typed VALUES
  (1, 9007199254740993), (2, -1), (3, 9223372036854775807),
  (4, -9223372036854775808), (5, 1.0), (6, 0.1), (7, 1e300),
  (8, -2.5e-10), (9, 1e999),
  (10, 'h' || char(233) || 'llo ' || char(9731) || ' ' || char(128512)),
  (11, 'line1' || char(10) || 'say "hi", it''s'),
  (12, 'tab' || char(9) || 'cr' || char(13) || 'ctl' || char(1) || 'del' || char(127) || 'bs\'),
  (13, CAST(x'ff41' AS TEXT)), (14, x'00ff10'), (15, x''), (16, NULL),
  (17, ''), (18, CAST(x'610062' AS TEXT));
CREATE TABLE wr (k TEXT PRIMARY KEY, v) WITHOUT ROWID;
INSERT INTO wr VALUES ('b', 2), ('a', 1);
CREATE TABLE shadow1 (rowid TEXT, v);
INSERT INTO shadow1 VALUES ('r-one', 1);
CREATE TABLE shadow3 (rowid TEXT, _rowid_ TEXT, oid INTEGER PRIMARY KEY, v);
INSERT INTO shadow3 VALUES ('a', 'b', 42, 'x');
CREATE TABLE shadow3n (rowid TEXT, _rowid_ TEXT, oid TEXT, v);
INSERT INTO shadow3n VALUES ('a', 'b', 'c', 'x');
CREATE TABLE seq (id INTEGER PRIMARY KEY AUTOINCREMENT, v);
INSERT INTO seq (v) VALUES ('s');
CREATE VIRTUAL TABLE ft USING fts5(body);
INSERT INTO ft VALUES ('hello');
SQL
cp db.db ref.db
before=$(sha256sum db.db | cut -d' ' -f1)
listing() { find . -maxdepth 1 -name 'db.db*' | sort; }
listing > listing.before

# ---- JSON Lines -----------------------------------------------------------
gsr export db.db -o w/out > out.txt 2> err.txt
is $? 0 "export: exit 0"
is "$(cat err.txt)" "" "export: nothing on stderr"
is "$(sha256sum db.db | cut -d' ' -f1)" "$before" "input bytes unchanged"
listing > listing.after
golden listing.after listing.before "no -shm, -journal or -wal created beside the input"
is "$(leftovers w/out)" "" "no temporary directory or working copy left"
is "$(stat -c %a w/out)" 700 "the export directory is private (0700)"

M=w/out/manifest.json
ok "manifest is valid JSON" sh -c 'jq -e . "$1" > /dev/null' sh "$M"
is "$(jq -c '[.format, .version, .format_of_rows]' "$M")" '["gsrecover-export",2,"jsonl"]' \
	"manifest: format, version, format of rows"
is "$(jqr "$M" '.input | map(.role) | join(",")')" database "manifest: the input is listed"
is "$(jqr "$M" '.input[0].sha256')" "$before" "manifest: input SHA-256 is the file's"
is "$(jqr "$M" '.input[0].size')" "$(wc -c < db.db | tr -d ' ')" "manifest: input size"

# Every table of sqlite_master, in its order, with sqlite_sequence; the
# virtual table listed as skipped, its shadow tables exported.
sqlite3 ref.db "SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY rowid" > names.expected
jqr "$M" '.tables[].name' > names.got
golden names.got names.expected "manifest: every table, in sqlite_master order"
like "$(cat names.got)" "^sqlite_sequence$" "manifest: sqlite_sequence is there"
is "$(jq -c '.tables[] | select(.name == "ft")' "$M")" '{"name":"ft","skipped":"virtual table"}' \
	"manifest: virtual table skipped"
is "$(jq -r '[.tables[] | select(.name | startswith("ft_")) | .file] | join(" ")' "$M")" \
	"ft_data.jsonl ft_idx.jsonl ft_content.jsonl ft_docsize.jsonl ft_config.jsonl" \
	"manifest: shadow tables of the virtual table exported"

# Row counts: the manifest, the files and SQLite agree for every table;
# each file is one header object, then one array a row.
bad=
for t in $(jqr "$M" '.tables[] | select(.file) | .name'); do
	f=$(jqr "$M" ".tables[] | select(.name == \"$t\") | .file")
	want=$(sqlite3 ref.db "SELECT count(*) FROM \"$t\"")
	[ "$(jqr "$M" ".tables[] | select(.name == \"$t\") | .rows")" = "$want" ] || bad="$bad $t(manifest)"
	[ "$(wc -l < "w/out/$f" | tr -d ' ')" = "$((want + 1))" ] || bad="$bad $t(lines)"
	[ "$(head -n 1 "w/out/$f" | jq -r .table)" = "$t" ] || bad="$bad $t(table key)"
	[ "$(tail -n +2 "w/out/$f" | jq -r type | sort -u)" = "$(if [ "$want" -gt 0 ]; then echo array; fi)" ] ||
		bad="$bad $t(arrays)"
done
is "$bad" "" "row counts of every table equal SQLite's"
is "$(jqr "$M" .total_rows)" "$(jq '[.tables[].rows // 0] | add' "$M")" "manifest: total_rows is the sum"
total=0
for t in $(jqr "$M" '.tables[] | select(.file) | .name'); do
	total=$((total + $(sqlite3 ref.db "SELECT count(*) FROM \"$t\"")))
done
is "$(jqr "$M" .total_rows)" "$total" "manifest: total_rows equals SQLite's count"

# Hashes and sizes in the manifest are those of the files; nothing else
# is in the directory.
jqr "$M" '(.tables[] | select(.file) | "\(.sha256)  \(.file)"), "\(.schema.sha256)  \(.schema.file)"' > sums
ok "manifest: SHA-256 of every file is right" sh -c 'cd w/out && sha256sum -c --quiet ../../sums'
bad=
for f in $(jqr "$M" '.tables[] | select(.file) | .file'); do
	[ "$(jqr "$M" ".tables[] | select(.file == \"$f\") | .bytes")" = "$(wc -c < "w/out/$f" | tr -d ' ')" ] ||
		bad="$bad $f"
done
is "$bad" "" "manifest: bytes of every file are right"
{ jqr "$M" '.tables[] | select(.file) | .file'; echo schema.sql; echo manifest.json; } | sort > files.expected
ls w/out | sort > files.got
golden files.got files.expected "directory holds exactly the files of the manifest"

sqlite3 ref.db "SELECT sql || ';' FROM sqlite_master WHERE sql IS NOT NULL ORDER BY rowid" > schema.expected
golden w/out/schema.sql schema.expected "schema.sql is sqlite_master's SQL, as stored"

# The typed table, exactly.
# The INTEGER PRIMARY KEY is the rowid: it is not repeated before the values.
cat > typed.expected <<'EOF'
{"table":"typed","source":"btree","rowid":true,"rowid_column":"id","columns":["id","v"]}
[1,9007199254740993]
[2,-1]
[3,9223372036854775807]
[4,-9223372036854775808]
[5,1.0]
[6,0.1]
[7,1.0000000000000001e+300]
[8,-2.5000000000000002e-10]
[9,{"real":"inf"}]
[10,"héllo ☃ 😀"]
[11,"line1\nsay \"hi\", it's"]
[12,"tab\tcr\rctl\u0001del\u007fbs\\"]
[13,{"text_hex":"ff41"}]
[14,{"blob_hex":"00ff10"}]
[15,{"blob_hex":""}]
[16,null]
[17,""]
[18,"a\u0000b"]
EOF
# 0.1 may be written as 0.1 or with 17 digits: both read back exactly.
sed 's/^\[6,0\.10000000000000001\]$/[6,0.1]/' w/out/typed.jsonl > typed.got
golden typed.got typed.expected "typed table: every storage class encoded as documented"

# The same, checked against SQLite itself rather than a hand-written file:
# SQLite's JSON parser keeps 64-bit integers and reads doubles back
# exactly, so every value must come back with its class and its value.
# (Row 18 is left out: json_extract stops a string at U+0000.)
tail -n +2 w/out/typed.jsonl | sed '1s/^/[/; $!s/$/,/; $s/$/]/' > typed.array
sqlite3 ref.db > typed.mismatch <<'SQL'
WITH r AS (
  SELECT json_extract(value, '$[0]') AS id, json_type(value, '$[1]') AS t,
         json_extract(value, '$[1]') AS x, value AS j
  FROM json_each(CAST(readfile('typed.array') AS TEXT)))
SELECT s.id, typeof(s.v), quote(s.v), r.t FROM typed AS s LEFT JOIN r USING (id)
WHERE s.id <> 18 AND coalesce(CASE
  WHEN r.id IS NULL THEN 0
  WHEN typeof(s.v) = 'integer' THEN r.t = 'integer' AND r.x = s.v
  WHEN typeof(s.v) = 'real' AND abs(s.v) < 1e308 THEN r.t = 'real' AND r.x = s.v
  WHEN typeof(s.v) = 'real' THEN json_extract(r.j, '$[1].real') = CASE WHEN s.v > 0 THEN 'inf' ELSE '-inf' END
  WHEN typeof(s.v) = 'null' THEN r.t = 'null'
  WHEN typeof(s.v) = 'blob' THEN json_extract(r.j, '$[1].blob_hex') = lower(hex(s.v))
  WHEN typeof(s.v) = 'text' THEN (r.t = 'text' AND hex(r.x) = hex(s.v)) OR
                                 json_extract(r.j, '$[1].text_hex') = lower(hex(s.v))
  END, 0) = 0;
SQL
is "$(cat typed.mismatch)" "" "typed table: every value reads back with its class and value (SQLite)"
is "$(jq length typed.array)" "$(sqlite3 ref.db "SELECT count(*) FROM typed")" "typed table: one line a row"

# And with jq, for the classes jq holds exactly: quote() rebuilt from the
# JSON equals SQLite's quote() for every TEXT, BLOB and NULL value.
sqlite3 ref.db "SELECT id, quote(v) FROM typed WHERE typeof(v) IN ('text', 'blob', 'null')
  AND id NOT IN (13, 18) ORDER BY id" > quote.expected
cat > quote.jq <<'EOF'
select(type == "array") | .[0] as $id | .[1] as $v
| select($id != 13 and $id != 18)
| select(($v | type) == "string" or $v == null or (($v | type) == "object" and ($v | has("blob_hex"))))
| "\($id)|" + (if $v == null then "NULL"
	elif ($v | type) == "string" then "'" + ($v | gsub("'"; "''")) + "'"
	else "X'" + ($v.blob_hex | ascii_upcase) + "'" end)
EOF
jq -r -f quote.jq w/out/typed.jsonl > quote.got
golden quote.got quote.expected "typed table: quote() rebuilt with jq equals SQLite's"
is "$(jq -r 'select(type == "array" and .[0] == 13) | .[1].text_hex' w/out/typed.jsonl)" \
	"$(sqlite3 ref.db "SELECT lower(hex(v)) || ' ' || typeof(v) FROM typed WHERE id = 13" | cut -d' ' -f1)" \
	"typed table: invalid UTF-8 text keeps its bytes"
is "$(sqlite3 ref.db "SELECT typeof(v) FROM typed WHERE id = 13")" text "typed table: (that value is TEXT)"

# Rowids: WITHOUT ROWID tables have none; columns named like the rowid do
# not hide it.
is "$(cat w/out/wr.jsonl)" '{"table":"wr","source":"btree","rowid":false,"columns":["k","v"]}
["a",1]
["b",2]' "WITHOUT ROWID: no rowid, primary key order"
is "$(cat w/out/shadow1.jsonl)" '{"table":"shadow1","source":"btree","rowid":true,"columns":["rowid","v"]}
[1,"r-one",1]' "a column named rowid: the rowid still read, first, the column kept"
is "$(cat w/out/shadow3.jsonl)" '{"table":"shadow3","source":"btree","rowid":true,"rowid_column":"oid","columns":["rowid","_rowid_","oid","v"]}
["a","b",42,"x"]' "rowid, _rowid_ and oid all columns: the INTEGER PRIMARY KEY is the rowid"
is "$(cat w/out/shadow3n.jsonl)" '{"table":"shadow3n","source":"btree","rowid":false,"columns":["rowid","_rowid_","oid","v"]}
["a","b","c","x"]' "rowid, _rowid_ and oid all columns, no INTEGER PRIMARY KEY: no rowid"
is "$(jq -c '[.tables[] | select(.name == "wr" or .name == "shadow3n" or .name == "typed") | .rowid]' "$M")" \
	'[true,false,false]' "manifest: which tables carry a rowid"

# Text report: one line a table, a total, the directory.
like "$(cat out.txt)" "^typed 18 rows -> typed\.jsonl$" "text report: a line per table"
like "$(cat out.txt)" "^ft skipped \(virtual table\)$" "text report: the virtual table"
like "$(cat out.txt)" "^total $total rows in [0-9]+ tables, 1 virtual skipped$" "text report: total"
is "$(tail -n 1 out.txt)" "directory w/out" "text report: the directory"

# ---- CSV ------------------------------------------------------------------
gsr export --format csv db.db -o w/csv > /dev/null 2> err.txt
is $? 0 "csv: exit 0"
is "$(jqr w/csv/manifest.json .format_of_rows)" csv "csv: manifest says csv"
is "$(jqr w/csv/manifest.json '.tables[] | select(.name == "typed") | .file')" typed.csv "csv: typed.csv"
printf '"rowid","id","v"\r\n1,1,9007199254740993\r\n2,2,-1\r\n3,3,9223372036854775807\r\n4,4,-9223372036854775808\r\n5,5,1.0\r\n6,6,0.1\r\n7,7,1.0000000000000001e+300\r\n8,8,-2.5000000000000002e-10\r\n9,9,Inf\r\n10,10,"h\303\251llo \342\230\203 \360\237\230\200"\r\n11,11,"line1\nsay ""hi"", it'"'"'s"\r\n12,12,"tab\tcr\rctl\001del\177bs\\"\r\n13,13,"\377A"\r\n14,14,X'"'"'00FF10'"'"'\r\n15,15,X'"'"''"'"'\r\n16,16,\r\n17,17,""\r\n18,18,"a\000b"\r\n' > typed.csv.expected
sed 's/^6,6,0\.10000000000000001\r$/6,6,0.1\r/' w/csv/typed.csv > typed.csv.got
ok "csv: typed table byte for byte (RFC 4180, CRLF, classes recoverable)" cmp -s typed.csv.got typed.csv.expected
printf '"k","v"\r\n"a",1\r\n"b",2\r\n' > wr.csv.expected
ok "csv: WITHOUT ROWID table has no rowid column" cmp -s w/csv/wr.csv wr.csv.expected
# Round trip: a small CSV reader (records end in CRLF; the third field is
# the rest of the line) turns each field back into an SQL literal of its
# class, and SQLite finds every value identical, class and bytes.  (Row 18
# is left out: an SQL literal cannot hold U+0000.)
cat > csv2sql.awk <<'EOF'
BEGIN { RS = "\r\n"; print "CREATE TABLE rt (id INTEGER, v);" }
NR == 1 { next }
{
	match($0, /^[^,]*,[^,]*,/)
	split(substr($0, 1, RLENGTH - 1), f, ",")
	v = substr($0, RLENGTH + 1)
	if (f[2] == 18)
		next
	if (v == "")
		lit = "NULL"
	else if (v == "Inf")
		lit = "1e999"
	else if (v == "-Inf")
		lit = "-1e999"
	else if (substr(v, 1, 1) == "\"") {
		v = substr(v, 2, length(v) - 2)
		gsub(/""/, "\"", v)
		gsub(/'/, "''", v)
		lit = "CAST('" v "' AS TEXT)"
	} else
		lit = v
	print "INSERT INTO rt VALUES (" f[2] ", " lit ");"
}
EOF
rm -f rt.db
awk -f csv2sql.awk w/csv/typed.csv | sqlite3 -bail rt.db
is "$(sqlite3 rt.db "SELECT count(*) FROM rt")" 17 "csv: round trip read every row"
is "$(sqlite3 rt.db "ATTACH 'ref.db' AS ref; SELECT t.id, quote(t.v), quote(rt.v) FROM ref.typed AS t
  LEFT JOIN rt USING (id) WHERE t.id <> 18 AND NOT (typeof(t.v) = typeof(rt.v) AND t.v IS rt.v)")" "" \
	"csv: round trip gives every value back with its class"
jqr w/csv/manifest.json '(.tables[] | select(.file) | "\(.sha256)  \(.file)"), "\(.schema.sha256)  \(.schema.file)"' > csvsums
ok "csv: SHA-256 of every file is right" sh -c 'cd w/csv && sha256sum -c --quiet ../../csvsums'

# ---- --json -----------------------------------------------------------------
gsr export --json db.db -o w/j > out.json 2> err.txt
is $? 0 "--json: exit 0"
ok "--json: valid JSON" sh -c 'jq -e . out.json > /dev/null'
is "$(jq -c 'keys_unsorted' out.json)" \
	'["json_format_version","gsrecover","output","format","input","tables","total_rows","manifest_sha256","recovery"]' \
	"--json: the documented keys"
is "$(jq -c '[.json_format_version, .gsrecover.exit_status, .output, .format]' out.json)" '[[1,0],0,"w/j","jsonl"]' \
	"--json: version, exit status, output, format"
is "$(jq -c '.tables' out.json)" "$(jq -c '[.tables[] | del(.rowid)]' w/j/manifest.json)" \
	"--json: tables as in the manifest"
is "$(jqr out.json .total_rows)" "$total" "--json: total_rows"
is "$(jqr out.json .manifest_sha256)" "$(sha256sum w/j/manifest.json | cut -d' ' -f1)" "--json: SHA-256 of the manifest"
is "$(jqr out.json '.input[0] | [.sha256 == .sha256_after, .unchanged] | tostring')" "[true,true]" \
	"--json: input rechecked and unchanged"

# ---- an existing DIR -----------------------------------------------------
msum=$(sha256sum w/out/manifest.json)
gsr export db.db -o w/out > out.txt 2> err.txt
is $? 8 "existing DIR: exit 8"
is "$(cat err.txt)" "gsrecover: 'w/out' exists: give --force to replace it" "existing DIR: one line"
is "$(sha256sum w/out/manifest.json)" "$msum" "existing DIR: left as it was"
is "$(leftovers w/out)" "" "existing DIR: nothing left behind"
gsr export --force --format csv db.db -o w/out/ > out.txt 2> err.txt
is $? 0 "--force: exit 0"
is "$(jqr w/out/manifest.json .format_of_rows)" csv "--force: DIR replaced by the new export"
ok "--force: old files gone" [ ! -e w/out/typed.jsonl ]
is "$(leftovers w/out)" "" "--force: no temporary or set-aside directory left"
mkdir w/notours
echo precious > w/notours/keep.txt
gsr export --force db.db -o w/notours > out.txt 2> err.txt
is $? 8 "--force on a directory that is not an export: exit 8"
like "$(cat err.txt)" "^gsrecover: 'w/notours' exists and does not hold an export: not replacing it$" \
	"--force on a directory that is not an export: one line"
is "$(cat w/notours/keep.txt)" precious "--force on a directory that is not an export: left alone"
is "$(leftovers w/notours)" "" "--force on a directory that is not an export: nothing left behind"
mkdir w/empty
gsr export --force db.db -o w/empty > /dev/null 2>&1
is $? 0 "--force on an empty directory: replaced"

# ---- usage and bad input ---------------------------------------------------
gsr export db.db > out.txt 2> err.txt
is $? 16 "missing -o: exit 16"
like "$(cat err.txt)" "gsrecover export: missing -o DIR" "missing -o: said so"
gsr export --format xml db.db -o w/x > out.txt 2> err.txt
is $? 16 "--format xml: exit 16"
like "$(cat err.txt)" "unknown format 'xml'" "--format xml: said so"
ok "--format xml: nothing created" [ ! -e w/x ]

printf 'this is not a database at all, just text\n%.0s' 1 2 3 > text.db
gsr export text.db -o w/t > out.txt 2> err.txt
is $? 8 "not SQLite: exit 8"
is "$(cat err.txt)" "gsrecover: 'text.db': not an SQLite database (no SQLite header)" "not SQLite: one line"
ok "not SQLite: no DIR" [ ! -e w/t ]
is "$(leftovers w/t)" "" "not SQLite: nothing left behind"
gsr export nothere.db -o w/t > out.txt 2> err.txt
is $? 8 "missing input: exit 8"
is "$(wc -l < err.txt | tr -d ' ')" 1 "missing input: one line"
is "$(leftovers w/t)" "" "missing input: nothing left behind"
: > empty.db
gsr export empty.db -o w/t > out.txt 2> err.txt
is "$?:$(cat err.txt)" "8:gsrecover: 'empty.db': the file is empty" "empty input: exit 8, one line"
# A header but a schema SQLite cannot read.
cp ref.db badschema.db
sqlite3 badschema.db "PRAGMA writable_schema = ON; UPDATE sqlite_master SET sql = 'CREATE TABLE typed (' WHERE name = 'typed';" 2> /dev/null
gsr export badschema.db -o w/t > out.txt 2> err.txt
# SQLite refuses the file; the page reader exports what it can: the
# table whose CREATE TABLE is broken cannot be made, so its rows are kept
# in the ledger as unplaced, never lost.
is $? 4 "unreadable schema: exit 4 (read by the page reader)"
like "$(cat err.txt)" "^gsrecover: warning: SQLite cannot read .*malformed database schema.*reading its pages directly" \
	"unreadable schema: SQLite's message, and what is done about it"
is "$(wc -l < err.txt | tr -d ' ')" 1 "unreadable schema: one line"
ok "unreadable schema: the table's rows kept in the ledger" \
	[ "$(jq -s '[.[] | select(.kind == "unplaced")] | length' w/t/recovery/rows.jsonl)" -gt 0 ]
rm -rf w/t
is "$(leftovers w/t)" "" "unreadable schema: nothing else left behind"
# A damaged page in the middle of a table: the page reader takes over.
sqlite3 dmg.db "CREATE TABLE t (id INTEGER PRIMARY KEY, v);
WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 3000)
INSERT INTO t SELECT i, printf('%050d', i) FROM n;"
printf '\377%.0s' $(seq 1 200) | dd of=dmg.db bs=1 seek=$((4096 * 5 + 8)) conv=notrunc 2> /dev/null
gsr export dmg.db -o w/t > out.txt 2> err.txt
is $? 4 "damaged table: exit 4"
is "$(cat err.txt)" "gsrecover: warning: SQLite cannot read 'dmg.db' (cannot read table 't': database disk image is malformed): reading its pages directly" \
	"damaged table: one line, SQLite's message"
rows=$(jq '.tables[] | select(.name == "t") | .rows' w/t/manifest.json)
ok "damaged table: the rows of the other pages exported ($rows)" [ "$rows" -gt 2800 -a "$rows" -lt 3000 ]
rm -rf w/t
is "$(leftovers w/t)" "" "damaged table: nothing left behind"
# The rules are read only when the page reader needs them (for a schema
# sqlite_master lost); rules that cannot be read are said after why the
# page reader runs, and it goes on without them.
gsr export --rules-dir "$T_SCRATCH/no-rules" dmg.db -o w/t > out.txt 2> err.txt
is $? 4 "damaged table, no rules: exit 4"
is "$(cat err.txt)" "gsrecover: warning: SQLite cannot read 'dmg.db' (cannot read table 't': database disk image is malformed): reading its pages directly
gsrecover: cannot read rules directory '$T_SCRATCH/no-rules': No such file or directory" \
	"damaged table, no rules: why the page reader runs, then why it has no rules"
is "$(jq '.tables[] | select(.name == "t") | .rows' w/t/manifest.json)" "$rows" \
	"damaged table, no rules: the same rows exported"
rm -rf w/t
gsr export --rules-dir "$T_SCRATCH/no-rules" db.db -o w/t > out.txt 2> err.txt
is "$?:$(cat err.txt)" "0:" "sound file, no rules: the rules are not read"
rm -rf w/t

gsr export db.db -o /proc/nonexistent/x > out.txt 2> err.txt
is $? 8 "unwritable DIR: exit 8"
like "$(cat err.txt)" "^gsrecover: cannot create a directory beside '/proc/nonexistent/x': " "unwritable DIR: said so"
is "$(leftovers /proc/nonexistent/x)" "" "unwritable DIR: nothing left behind"

# No DB: GPUStack's own location, named on stderr.
mkdir -p data
cp ref.db data/database.db
GPUSTACK_DATA_DIR="$T_SCRATCH/data" gsr export -o w/located > out.txt 2> err.txt
is $? 0 "default location: exported"
is "$(cat err.txt)" "gsrecover: no DB given: using GPUStack's database '$T_SCRATCH/data/database.db'" \
	"default location: the file taken is named"

# ---- hostile table names -----------------------------------------------------
mkdir h
cp ref.db h/db.db
sqlite3 h/db.db "CREATE TABLE \"../evil\" (x); INSERT INTO \"../evil\" VALUES ('escaped?');
CREATE TABLE \"$T_SCRATCH/h/abs\" (x); CREATE TABLE \"schema\" (x); CREATE TABLE \"table-1\" (x);
CREATE TABLE \"sp ace\" (x); CREATE TABLE \"..\" (x); CREATE TABLE \"bad$(printf '\377')name\" (x);"
gsr export h/db.db -o h/out > out.txt 2> err.txt
is $? 0 "hostile names: exit 0"
HM=h/out/manifest.json
is "$(jq -r --arg abs "$T_SCRATCH/h/abs" '.tables | to_entries[] | select(.value.name == "../evil" or .value.name == $abs
	or .value.name == "schema" or .value.name == "table-1" or .value.name == "sp ace"
	or (.value.name | type) == "object") | select(.value.file != "table-\(.key + 1).jsonl") | .value.name' "$HM")" "" \
	"hostile names: unsafe names become table-N"
is "$(jqr "$HM" '.tables[] | select(.name == "..") | .file')" "...jsonl" "hostile names: '..' is a plain file name"
is "$(jq -c '.tables[] | select((.name | type) == "object") | .name' "$HM")" '{"text_hex":"626164ff6e616d65"}' \
	"hostile names: a name that is not UTF-8 keeps its bytes"
evil=$(jqr "$HM" '.tables[] | select(.name == "../evil") | .file')
is "$(cat "h/out/$evil")" '{"table":"../evil","source":"btree","rowid":true,"columns":["x"]}
[1,"escaped?"]' \
	"hostile names: the rows are in DIR, under the table's own name"
is "$(ls h | sort | tr '\n' ' ')" "db.db out " "hostile names: nothing written beside DIR"
is "$(find h/out -type f | wc -l | tr -d ' ')" "$(jq '[.tables[] | select(.file)] | length + 2' "$HM")" \
	"hostile names: DIR holds just the manifest's files"
ok "hostile names: every file name is plain" sh -c '! jq -r ".tables[] | select(.file) | .file" h/out/manifest.json | grep -v "^[A-Za-z0-9_.-]*\$"'

# ---- large tables: streaming, and interruption --------------------------------
sqlite3 big.db "CREATE TABLE big (id INTEGER PRIMARY KEY, b BLOB);
WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 300000)
INSERT INTO big SELECT i, randomblob(400) FROM n;"
if [ -n "${GSR_EXEC_PREFIX:-}" ] || ldd "$GSR" 2> /dev/null | grep -q 'lib[at]san'; then
	skip "300k rows in 200 MB of address space" "not under valgrind or sanitizers"
	skip "300k rows: all exported" "not under valgrind or sanitizers"
	skip "300k rows: all written" "not under valgrind or sanitizers"
	skip "300k rows: the file is the one hashed" "not under valgrind or sanitizers"
else
	# The JSON Lines of this table are 250 MB: only a writer that streams
	# fits in 200 MB of address space.
	(ulimit -v 200000 && exec "$GSR" export big.db -o w/big > /dev/null 2> err.txt)
	is $? 0 "300k rows in 200 MB of address space"
	is "$(jqr w/big/manifest.json '.tables[0].rows')" 300000 "300k rows: all exported"
	is "$(wc -l < w/big/big.jsonl | tr -d ' ')" 300001 "300k rows: all written"
	is "$(sha256sum < w/big/big.jsonl | cut -d' ' -f1)" "$(jqr w/big/manifest.json '.tables[0].sha256')" \
		"300k rows: the file is the one hashed"
	rm -rf w/big
fi

# Interrupted while writing: exit 32, nothing left.
${GSR_EXEC_PREFIX:-} "$GSR" export big.db -o w/intr > /dev/null 2> err.txt &
pid=$!
i=0
while [ $i -lt 12000 ] && ! ls w/intr.tmp-*/big.jsonl > /dev/null 2>&1; do
	sleep 0.01
	i=$((i + 1))
done
kill -INT $pid
wait $pid
is $? 32 "SIGINT while writing: exit 32"
like "$(cat err.txt)" "interrupted" "SIGINT while writing: said so"
ok "SIGINT while writing: no DIR" [ ! -e w/intr ]
is "$(leftovers w/intr)" "" "SIGINT while writing: no temporary directory or working copy left"
rm -f big.db

done_testing
