#!/bin/sh
# Input that is not a (whole) GPUStack database gets one clear line on
# stderr and its documented exit status, never a crash.
. "$GSR_TOP/tests/lib.sh"

# run NAME FILE STATUS STDERR-PATTERN [VERDICT]
run() {
	gsr identify --json "$2" > out.json 2> err.txt
	st=$?
	is "$st" "$3" "$1: exit $3"
	like "$(cat err.txt)" "$4" "$1: message"
	is "$(wc -l < err.txt | tr -d ' ')" 1 "$1: one line on stderr"
	if [ $# -ge 5 ]; then
		is "$(jqr out.json .verdict)" "$5" "$1: verdict $5"
	fi
}

run "missing file" nothere.db 8 "^gsrecover: cannot open 'nothere.db': No such file or directory$"
mkdir adir
run "directory" adir 8 "^gsrecover: 'adir' is a directory, not a regular file$"
mkdb 0.6.0 real.db
ln -s real.db link.db
run "symbolic link" link.db 8 "^gsrecover: cannot open 'link.db': is a symbolic link$"
: > empty.db
run "empty file" empty.db 8 "^gsrecover: 'empty.db': the file is empty$" unreadable
printf 'this is not a database at all, just text\n%.0s' 1 2 3 4 5 > text.db
run "text file" text.db 8 "not an SQLite database" unreadable
head -c 50 real.db > short.db
run "50-byte prefix" short.db 8 "shorter than an SQLite header" unreadable

# An unreadable file lists why under Health, in text and JSON.
gsr identify text.db > out.txt 2> err.txt
is "$(sed -n '/^Health: PROBLEMS$/{n;p;}' out.txt)" "  - not an SQLite database (no SQLite header)" \
	"text file: Health lists the problem"
gsr identify --json text.db > out.json 2> err.txt
is "$(jq -r '.health.problems | join(" | ")' out.json)" "not an SQLite database (no SQLite header)" \
	"text file --json: health.problems lists the problem"
gsr identify empty.db > out.txt 2> err.txt
is "$(sed -n '/^Health: PROBLEMS$/{n;p;}' out.txt)" "  - the file is empty" "empty file: Health lists the problem"
# The page reader tried it and found nothing: the text report says so too.
head -c 8192 /dev/zero > zeros.db
gsr identify zeros.db > out.txt 2> err.txt
is $? 8 "zeroed file: exit 8"
like "$(sed -n '/^Findings:$/,/^Health/p' out.txt)" "error   SQLite cannot read the file .*page reader found nothing to recover" \
	"zeroed file: the findings are in the text report"
is "$(sed -n '/^Health: PROBLEMS$/{n;p;}' out.txt)" "  - not an SQLite database (no SQLite header)" \
	"zeroed file: Health lists the problem"

# A compressed database, or one in an archive, is said to be so, with how
# to unpack it; the page reader does not try it.  The magic numbers of
# xz, bzip2 and zip are written by hand: their tools need not be here.
cp real.db database.db
gzip -c database.db > database.db.gz
zstd -q -c database.db > database.db.zst
{ printf '\375\067\172\130\132\000'; head -c 600 /dev/zero; } > database.db.xz
{ printf 'BZh91AY&SY'; head -c 600 /dev/zero; } > database.db.bz2
{ printf 'PK\003\004'; head -c 600 /dev/zero; } > database.zip
tar -cf database.tar database.db
cp database.db.gz database.db.gz.copy
unpack() { # FILE KIND COMMAND
	run "$2" "$1" 8 "^gsrecover: '$1': the file is $2, not an SQLite database; unpack it first: $3\$" unreadable
	is "$(jq -r '.health.problems | join(" | ")' out.json)" \
		"the file is $2, not an SQLite database; unpack it first: $3" "$2: in health.problems"
	is "$(jqr out.json .recovery)" null "$2: the page reader did not try it"
}
unpack database.db.gz gzip-compressed "gunzip -k database.db.gz"
unpack database.db.zst zstd-compressed "zstd -d database.db.zst"
unpack database.db.xz xz-compressed "unxz -k database.db.xz"
unpack database.db.bz2 bzip2-compressed "bunzip2 -k database.db.bz2"
unpack database.zip "a zip archive" "unzip database.zip"
unpack database.tar "a tar archive" "tar -xf database.tar"
# A compressed file without its tool's suffix, whose name needs quoting.
cp database.db.gz "my db.sqlite"
unpack "my db.sqlite" gzip-compressed "gunzip -c 'my db.sqlite' > 'my db.sqlite.unpacked'"
gsr identify "my db.sqlite" > out.txt 2> err.txt
is "$(sed -n '/^Health: PROBLEMS$/{n;p;}' out.txt)" \
	"  - the file is gzip-compressed, not an SQLite database; unpack it first: gunzip -c 'my db.sqlite' > 'my db.sqlite.unpacked'" \
	"gzip, text report: Health lists it"
# A name that starts with '-' is not taken for an option.
cp database.db.gz ./-x.gz
gsr identify -- -x.gz > /dev/null 2> err.txt
is "$(cat err.txt)" "gsrecover: '-x.gz': the file is gzip-compressed, not an SQLite database; unpack it first: gunzip -k ./-x.gz" \
	"gzip named -x.gz: the command does not read it as an option"
# The commands given do unpack them.
mkdir unpacked && mv database.db.gz.copy unpacked/database.db.gz && mv "my db.sqlite" ./-x.gz unpacked/
(cd unpacked && sh -c "gunzip -k database.db.gz" && sh -c "gunzip -c 'my db.sqlite' > 'my db.sqlite.unpacked'" &&
	sh -c "gunzip -k ./-x.gz")
gsr identify --json unpacked/database.db > out.json 2> err.txt
is "$?/$(jqr out.json .verdict)" 0/release "gzip: the unpacked database is identified"
gsr identify --json "unpacked/my db.sqlite.unpacked" > out.json 2> err.txt
is "$?/$(jqr out.json .verdict)" 0/release "gzip without its suffix: the unpacked database is identified"
gsr identify --json unpacked/-x > out.json 2> err.txt
is "$?/$(jqr out.json .verdict)" 0/release "gzip named -x.gz: the unpacked database is identified"
# rebuild and export say the same, with the same status as for any
# unreadable input.
gsr rebuild database.db.gz --to 0.6.0 > /dev/null 2> err.txt
is $? 8 "gzip: rebuild exits 8"
is "$(cat err.txt)" "gsrecover: 'database.db.gz': the file is gzip-compressed, not an SQLite database; unpack it first: gunzip -k database.db.gz" \
	"gzip: rebuild says how to unpack it"
gsr export database.db.xz -o xz-export > /dev/null 2> err.txt
is $? 8 "xz: export exits 8"
is "$(cat err.txt)" "gsrecover: 'database.db.xz': the file is xz-compressed, not an SQLite database; unpack it first: unxz -k database.db.xz" \
	"xz: export says how to unpack it, and does not read its pages"
ok "xz: export wrote nothing" test ! -e xz-export

head -c 4096 real.db > page1.db
gsr identify --json page1.db > out.json 2> err.txt
st=$?
ok "truncated to page 1: exit 4 or 8" [ "$st" -eq 4 -o "$st" -eq 8 ]
like "$(jq -r '.health.problems | join(" | ")' out.json)" "truncated" "truncated to page 1: reported as truncated"
is "$(jqr out.json .health.ok)" false "truncated to page 1: unhealthy"
size=$(wc -c < real.db)
head -c $((size - 4096)) real.db > cut.db
gsr identify --json cut.db > out.json 2> err.txt
# SQLite refuses the schema (an index's root page is gone); the page
# reader reads sqlite_master itself and identifies the release.
is $? 4 "last page (of the schema) cut: exit 4"
is "$(jqr out.json .verdict)" release "last page (of the schema) cut: identified by the page reader"
is "$(jqr out.json .recovery.schema_source)" sqlite_master "last page (of the schema) cut: schema from sqlite_master"
like "$(jq -r '.health.problems | join(" | ")' out.json)" "file is truncated: [0-9]+ bytes, the header says [0-9]+ pages" \
	"last page (of the schema) cut: header says more pages"
# Many rows: the last pages hold data, the schema survives.
mkdb 0.6.0 rows.db
sqlite3 rows.db "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 3000)
INSERT INTO system_loads (id, timestamp, cpu, ram, gpu, vram) SELECT i, 1700000000 + i, 1.5, 2.5, 3.5, 4.5 FROM n;"
size=$(wc -c < rows.db)
head -c $((size - 4096)) rows.db > cutrows.db
gsr identify --json cutrows.db > out.json 2> err.txt
is $? 4 "last data page cut: exit 4"
is "$(jqr out.json .verdict)" release "last data page cut: still identified"
like "$(jq -r '.health.problems | join(" | ")' out.json)" "file is truncated" "last data page cut: truncation reported"
like "$(jq -r '.health.problems | join(" | ")' out.json)" "integrity_check reports" "last data page cut: integrity_check fails"

sqlite3 other.db "CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT); INSERT INTO notes VALUES (1, 'x');"
gsr identify --json other.db > out.json 2> err.txt
is $? 4 "another application's database: exit 4"
is "$(jqr out.json .verdict)" not-gpustack "another application's database: not-gpustack"
is "$(jq '.tables[0].rows' out.json)" 1 "another application's database: rows counted"

# Another Alembic application: alembic_version is no sign of GPUStack.
sqlite3 alembic-app.db "CREATE TABLE alembic_version (version_num VARCHAR(32) NOT NULL,
	CONSTRAINT alembic_version_pkc PRIMARY KEY (version_num));
INSERT INTO alembic_version VALUES ('3f2a1b0c9d8e');
CREATE TABLE widgets (id INTEGER PRIMARY KEY, name TEXT);
CREATE TABLE orders (id INTEGER PRIMARY KEY, widget_id INTEGER REFERENCES widgets (id));"
gsr identify --json alembic-app.db > out.json 2> err.txt
is $? 4 "another Alembic application: exit 4"
is "$(jqr out.json .verdict)" not-gpustack "another Alembic application: not-gpustack"
gsr rebuild alembic-app.db --to 0.6.0 > /dev/null 2> err.txt
is $? 8 "another Alembic application: rebuild refuses it"
like "$(cat err.txt)" "'alembic-app.db' is not a GPUStack database" "another Alembic application: rebuild says why"
# GPUStack's own tables, or its revision, still make a GPUStack database.
sqlite3 two.db "CREATE TABLE workers (id INTEGER PRIMARY KEY); CREATE TABLE models (id INTEGER PRIMARY KEY);"
gsr identify --json two.db > out.json 2> err.txt
is "$(jqr out.json .verdict)" mixed "two of GPUStack's tables, no alembic_version: mixed"
sqlite3 stamp.db "CREATE TABLE alembic_version (version_num VARCHAR(32) NOT NULL);
INSERT INTO alembic_version VALUES ('c45e397531d1');"
gsr identify --json stamp.db > out.json 2> err.txt
is "$(jqr out.json .verdict)/$(jqr out.json .claimed.label)" mixed/0.6.0 \
	"alembic_version alone, with GPUStack's revision: mixed, claims 0.6.0"

# sqlite_master rows whose SQL SQLite cannot parse are named, with their
# type and SQLite's reason.
mkdb 0.6.0 badsql.db
sqlite3 badsql.db "PRAGMA writable_schema=ON;
UPDATE sqlite_master SET sql = 'CREATE INDEX ix_models_name ON models (name' WHERE name = 'ix_models_name';
UPDATE sqlite_master SET sql = 'CREATE UNIQUE INDEX ix_workers_name ON workers (name,,)' WHERE name = 'ix_workers_name';"
gsr identify --json badsql.db > out.json 2> err.txt
is $? 4 "unparsable schema rows: exit 4"
is "$(jq -r '[.findings[] | select(.code == "unparsable-schema-row") | .message] | join(" | ")' out.json)" \
	"sqlite_master row 'index ix_models_name' has SQL SQLite cannot parse: incomplete input | sqlite_master row 'index ix_workers_name' has SQL SQLite cannot parse: near \",\": syntax error" \
	"unparsable schema rows: each named with its type and SQLite's reason"
is "$(jq -r '.reason' out.json)" null "unparsable schema rows: no 'reason', which is for unreadable files"
gsr identify badsql.db > out.txt 2> err.txt
like "$(cat out.txt)" "error   sqlite_master row 'index ix_models_name' has SQL SQLite cannot parse: incomplete input" \
	"unparsable schema rows: in the text report's findings"

# A database whose schema tries to run code when used: a trigger, a view
# calling a function, a virtual table.  None of it executes.
mkdb 0.6.0 hostile.db
sqlite3 hostile.db "CREATE TRIGGER t AFTER INSERT ON models BEGIN DELETE FROM users; END;
CREATE VIEW v AS SELECT load_extension('/nonexistent') AS x;
CREATE VIRTUAL TABLE ft USING fts5(body);"
gsr identify --json hostile.db > out.json 2> err.txt
is $? 4 "hostile schema: exit 4"
is "$(jqr out.json .verdict)" mixed "hostile schema: mixed"
like "$(jq -r '[.nearest.differences[].message] | join(" | ")' out.json)" "trigger 't' is not expected" \
	"hostile schema: the trigger is a difference"
like "$(jq -r '[.nearest.differences[].message] | join(" | ")' out.json)" "table 'ft' is not expected" \
	"hostile schema: the virtual table is a difference"

# Invalid UTF-8 in a table name is evidence: written as tagged hex.
mkdb 0.6.0 utf.db
sqlite3 utf.db "CREATE TABLE \"bad$(printf '\377')name\" (x);"
gsr identify --json utf.db > out.json 2> err.txt
ok "invalid UTF-8 in a name: valid JSON" sh -c 'jq -e . out.json > /dev/null'
like "$(jq -c '[.tables[].name | objects]' out.json)" '"text_hex":"626164ff6e616d65"' \
	"invalid UTF-8 in a name: tagged hex"

# Usage errors.
gsr identify a.db b.db > /dev/null 2> err.txt
is $? 16 "two databases: usage error 16"
gsr identify --no-such-option > /dev/null 2> err.txt
is $? 16 "unknown option: usage error 16"
gsr frobnicate > /dev/null 2> err.txt
is $? 16 "unknown command: usage error 16"
like "$(head -n 1 err.txt)" "unknown command 'frobnicate'" "unknown command: named"
gsr > /dev/null 2> err.txt
is $? 16 "no command: usage error 16"
gsr --rules-dir "$T_SCRATCH/none" identify real.db > /dev/null 2> err.txt
is $? 8 "missing rules directory: exit 8"
like "$(head -n 1 err.txt)" "cannot read rules directory" "missing rules directory: said"
gsr identify real.db > /dev/full 2> err.txt
is $? 8 "write error on stdout: exit 8"
like "$(cat err.txt)" "cannot write to standard output" "write error on stdout: said"

done_testing
