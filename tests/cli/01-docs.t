#!/bin/sh
# The help and the manual say what the code does: every key of each
# command's --json object is documented in that command's paragraph of
# gsrecover(1), and the help texts describe the current formats and
# default names.
. "$GSR_TOP/tests/lib.sh"

man="$GSR_TOP/man/gsrecover.1.in"

# section FROM TO -- the lines of the manual's source from the first
# that matches FROM up to (not including) the next that matches TO.
section() {
	awk -v a="$1" -v b="$2" 'f && $0 ~ b { exit } $0 ~ a { f = 1 } f' "$man"
}

# documented NAME FROM TO FILE -- each top-level key of the JSON object
# in FILE is named (.Li KEY) in that section.
documented() {
	section "$2" "$3" > section.txt
	missing=
	for k in $(jq -r 'keys_unsorted[]' "$4"); do
		grep -Eq "(^\\.|[[:space:]])Li $k([[:space:]]|\$)" section.txt ||
			missing="$missing $k"
	done
	is "$missing" "" "$1: every key documented"
}

mkdb 0.6.0 real.db
: > empty.db
gsr identify --json real.db > identify.json 2> /dev/null
documented "identify --json" '^\.Sh JSON OUTPUT' '^\.Cm rules list Fl -json' identify.json
gsr identify --json empty.db > unreadable.json 2> /dev/null
is "$(jqr unreadable.json .reason)" "the file is empty" "identify --json: reason for an unreadable file"
documented "identify --json, unreadable" '^\.Sh JSON OUTPUT' '^\.Cm rules list Fl -json' \
	unreadable.json
gsr export --json real.db -o exp > export.json 2> /dev/null
documented "export --json" '^\.Cm export Fl -json$' '^\.Pp$' export.json
gsr export --json --recover real.db -o exprec > export-rec.json 2> /dev/null
is "$(jq -r '.recovery | type' export-rec.json)" object "export --json --recover: recovery is an object"
documented "export --json --recover" '^\.Cm export Fl -json$' '^\.Pp$' export-rec.json
gsr rebuild --json real.db --to 0.6.0 -o out.db --archive out.tar.zst > rebuild.json 2> /dev/null
documented "rebuild --json" '^\.Cm rebuild Fl -json$' '^\.Pp$' rebuild.json
gsr verify --json out.tar.zst --db out.db > verify.json 2> /dev/null
documented "verify --json" '^\.Cm verify Fl -json$' '^\.Pp$' verify.json
gsr rules list --json > list.json 2> /dev/null
documented "rules list --json" '^\.Cm rules list Fl -json$' '^\.Pp$' list.json
gsr rules check --json > check.json 2> /dev/null
documented "rules check --json" '^\.Cm rules check Fl -json$' '^\.Pp$' check.json
is "$(jqr check.json .ok)" true "rules check --json: ok"

# export --help: JSON Lines of export format version 2 (a first line
# naming the columns, then an array a row), as export.h writes them.
gsr export --help > help.txt
like "$(tr '\n' ' ' < help.txt)" 'JSON Lines \(export format version 2\): a first line' \
	"export --help: the format version 2"
like "$(tr '\n' ' ' < help.txt)" 'then one JSON array a row' "export --help: an array a row"
ok "export --help: not the old object a row" sh -c '! grep -q "one object a" help.txt'
is "$(head -n 1 exp/alembic_version.jsonl | jq -r '[.table, (.columns | type)] | join(" ")')" \
	"alembic_version array" "export: the first line names the table and its columns"
is "$(sed -n 2p exp/alembic_version.jsonl | jq -r type)" array "export: a row is an array"

# rebuild --help: the default names are made of STEM, DB without its
# extension, as the rebuild names them.
gsr rebuild --help > help.txt
like "$(tr '\n' ' ' < help.txt)" 'STEM\.rebuilt-VERSION\.db beside DB, STEM being DB' "rebuild --help: STEM.rebuilt-VERSION.db"
like "$(tr '\n' ' ' < help.txt)" 'STEM\.audit-YYYYMMDDTHHMMSSZ\.tar\.zst beside DB' "rebuild --help: STEM.audit-..."
gsr rebuild real.db --to 0.6.0 > /dev/null 2>&1
ok "rebuild: real.rebuilt-0.6.0.db, not real.db.rebuilt-0.6.0.db" test -f real.rebuilt-0.6.0.db
is "$(ls real.audit-*.tar.zst | wc -l | tr -d ' ')" 1 "rebuild: real.audit-TIME.tar.zst"

done_testing
