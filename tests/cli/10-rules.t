#!/bin/sh
# The rules: the shipped directory is valid and lists every label of the
# reference; broken rules are reported as FILE:LINE: message.
. "$GSR_TOP/tests/lib.sh"

gsr rules check > out.txt 2> err.txt
is "$?" 0 "shipped rules are valid"
like "$(cat out.txt)" "117 labels, 1 patches" "shipped rules: 117 labels and the hand patch"

gsr rules list > list.txt
is "$?" 0 "rules list: exit 0"
is "$(tail -n +2 list.txt | grep -vc '^patch ')" \
	"$(ls "$FIX"/schemas/*.sql | wc -l | tr -d ' ')" "rules list: one line per reference label"
for sql in "$FIX"/schemas/*.sql; do
	label=$(basename "$sql" .sql)
	rev=$(sed -n 's/^-- alembic_version: //p' "$sql")
	grep -q "^$label  *[a-z0-9]*  *[0-9-]*  *$rev" list.txt || {
		t_result 1 "rules list: $label with revision $rev"
		continue
	}
	t_result 0 "rules list: $label with revision $rev"
done
like "$(grep "^0.5.1 " list.txt)" "main-7945e1de, main-1169cfc8, main-6965b919, 0.5.0$" \
	"rules list: 0.5.1 shares its schema with 0.5.0 and three builds"
like "$(grep '^main-4697f394 ' list.txt)" "^main-4697f394 +dev +2025-02-21 +c45e397531d1 *$" \
	"rules list: main-4697f394 shares its schema with nothing"
gsr rules list --json > list.json
is "$(jq '.labels | length' list.json)" 117 "rules list --json: 117 labels"
is "$(jqr list.json '.labels[0].label + " " + .labels[65].label + " " + .labels[116].label')" \
	"0.1.0 0.7.1 main-8a369de7-from-b8cc78be" "rules list --json: in lineage order"
like "$(grep '^main-67df92df ' list.txt)" "^main-67df92df +dev2 +2025-10-09 +2025_10_07_add_is_active +main-5e7c6b18$" \
	"rules list: a dev2 build, its revision not hex"
is "$(jq -c '[.labels[] | select(.kind == "dev2") | .label] | length' list.json)" 51 \
	"rules list --json: the 21 builds after 0.7.1 and the 30 mixtures their upgrades leave are dev2"
# A mixture follows the build whose upgrade leaves it.
is "$(jqr list.json '[.labels[] | .label] | (index("main-d591e392-from-8b0de82b") - index("main-9d701087"))')" 1 \
	"rules list --json: main-d591e392-from-8b0de82b comes right after main-9d701087"

# The lookup order: --rules-dir, then GSRECOVER_RULES, then built in.
mkdir empty
gsr --rules-dir "$T_SCRATCH/empty" rules list > /dev/null 2> err.txt
is "$?" 8 "--rules-dir wins over GSRECOVER_RULES"
like "$(cat err.txt)" "no rules files in '$T_SCRATCH/empty'" "--rules-dir: named"
GSRECOVER_RULES="$T_SCRATCH/empty" gsr rules list > /dev/null 2> err.txt
is "$?" 8 "GSRECOVER_RULES is used"
gsr rules list --rules-dir "$T_SCRATCH/empty" > /dev/null 2> err.txt
is "$?" 8 "--rules-dir after the command works too"

# broken NAME EXPECTED-MESSAGE TEXT -- rules check on a directory made of
# a valid label and TEXT (a printf format).
broken() {
	rm -rf bad && mkdir bad
	cp "$RULES_IN_USE/labels/0.1.0.rules" bad/a.rules
	printf "$3" > bad/b.rules
	gsr rules check bad > out.txt 2> err.txt
	st=$?
	is "$st" 8 "$1: rejected"
	like "$(cat err.txt)" "$2" "$1: $2"
}

broken "unknown key" "^bad/b.rules:8: unknown key 'colums' in label 'x'$" \
	'label x\nkind release\ncommit abcdef1\ndate 2024-01-01\nalembic ab\nfollows 0.1.0\nschema-of 0.1.0\ncolums 3\n'
broken "unclosed block" "^bad/b.rules:8: block of 'table' has no closing '.' line$" \
	'label x\nkind release\ncommit abcdef1\ndate 2024-01-01\nalembic ab\nfollows 0.1.0\njournal delete\ntable t\nCREATE TABLE t (a)\n'
broken "duplicate label" "^bad/b.rules:1: duplicate label '0.1.0'" \
	'label 0.1.0\nkind release\ncommit abcdef1\ndate 2024-01-01\nalembic ab\nschema-of 0.1.0\n'
broken "bad SQL" "^bad/b.rules:9: SQLite rejects the SQL of table 't'" \
	'label x\nkind release\ncommit abcdef1\ndate 2024-01-01\nalembic ab\nfollows 0.1.0\njournal delete\n\ntable t\nCREATE TABLE t (a,\n.\n'
broken "default for a missing column" "^bad/b.rules:8: default for 'models.nope', which label 'x' does not have$" \
	'label x\nkind release\ncommit abcdef1\ndate 2024-01-01\nalembic ab\nfollows 0.1.0\nschema-of 0.1.0\ndefault models.nope 1\n'
broken "default not a constant" "^bad/b.rules:8: default 'nope\(' is not a constant SQL value$" \
	'label x\nkind release\ncommit abcdef1\ndate 2024-01-01\nalembic ab\nfollows 0.1.0\nschema-of 0.1.0\ndefault models.name nope(\n'
broken "two starts" "lineage must have one start" \
	'label x\nkind release\ncommit abcdef1\ndate 2024-01-01\nalembic ab\nschema-of 0.1.0\n'
broken "bad kind" "^bad/b.rules:2: kind must be 'release', 'dev' or 'dev2', not 'nightly'$" \
	'label x\nkind nightly\ncommit abcdef1\ndate 2024-01-01\nalembic ab\nfollows 0.1.0\nschema-of 0.1.0\n'
broken "stored text differs" "^bad/b.rules:8: table 't': SQLite stores a different text than given$" \
	'label x\nkind release\ncommit abcdef1\ndate 2024-01-01\nalembic ab\nfollows 0.1.0\njournal delete\ntable t\nCREATE TABLE t (a) \n.\n'
broken "bad sign" "^bad/b.rules:3: usage: sign column TABLE.COLUMN TYPE$" \
	'patch p\ntitle a patch\nsign column models\n'
broken "outside a record" "^bad/b.rules:1: 'kind' outside a label or patch record$" \
	'kind release\n'

broken "bad revision" "^bad/b.rules:5: alembic must be a revision id: 1 to 32 lower-case letters, digits and '_'$" \
	'label x\nkind release\ncommit abcdef1\ndate 2024-01-01\nalembic Add-1\nfollows 0.1.0\nschema-of 0.1.0\n'
broken "release after dev2" "^bad/b.rules:8: release 'y' comes after dev2 label 'x': dev2 labels come after the last release$" \
	'label x\nkind dev2\ncommit abcdef1\ndate 2024-01-01\nalembic ab\nfollows 0.1.0\nschema-of 0.1.0\nlabel y\nkind release\ncommit abcdef2\ndate 2024-01-02\nalembic ab\nfollows x\nschema-of 0.1.0\n'

# Variants: another text of a table, with the same structure.
T2='label x\nkind dev2\ncommit abcdef1\ndate 2024-01-01\nalembic ab\nfollows 0.1.0\njournal delete\n'
T2="$T2"'table p\nCREATE TABLE p (id INTEGER PRIMARY KEY)\n.\n'
T2="$T2"'table t\nCREATE TABLE t (a, b, CONSTRAINT fa FOREIGN KEY(a) REFERENCES p (id), CONSTRAINT fb FOREIGN KEY(b) REFERENCES p (id))\n.\n'
rm -rf var && mkdir var
cp "$RULES_IN_USE/labels/0.1.0.rules" var/a.rules
printf "$T2"'variant t\nCREATE TABLE t (a, b, CONSTRAINT fb FOREIGN KEY(b) REFERENCES p (id), CONSTRAINT fa FOREIGN KEY(a) REFERENCES p (id))\n.\n' > var/b.rules
gsr rules check var > out.txt 2> err.txt
is "$?" 0 "variant: the same constraints in another order are accepted"
broken "variant of another structure" "^bad/b.rules:14: variant of table 't' differs in structure: missing foreign key \(b\)" \
	"$T2"'variant t\nCREATE TABLE t (a, b, CONSTRAINT fa FOREIGN KEY(a) REFERENCES p (id))\n.\n'
broken "variant of no table" "^bad/b.rules:14: variant of 'u', which is not a table of label 'x'$" \
	"$T2"'variant u\nCREATE TABLE u (a)\n.\n'
broken "variant with the same text" "^bad/b.rules:14: variant of table 'p' gives a text it has already$" \
	"$T2"'variant p\nCREATE TABLE p (id INTEGER PRIMARY KEY)\n.\n'
broken "variant beside schema-of" "^bad/b.rules:1: label 'x' has 'schema-of' and a schema of its own$" \
	'label x\nkind dev2\ncommit abcdef1\ndate 2024-01-01\nalembic ab\nfollows 0.1.0\nschema-of 0.1.0\nvariant models\nCREATE TABLE models (a)\n.\n'
# sqlite_sequence stays when the last AUTOINCREMENT table is rewritten
# without it; a label may list it alone.
printf 'label x\nkind dev2\ncommit abcdef1\ndate 2024-01-01\nalembic ab\nfollows 0.1.0\njournal delete\ntable t\nCREATE TABLE t (a)\n.\ntable sqlite_sequence\nCREATE TABLE sqlite_sequence(name,seq)\n.\n' > var/b.rules
gsr rules check var > out.txt 2> err.txt
is "$?" 0 "sqlite_sequence without an AUTOINCREMENT table is accepted"

# The identify command refuses to run on broken rules, and says how to
# see every problem.
gsr --rules-dir bad identify x.db > /dev/null 2> err.txt
is "$?" 8 "identify with broken rules: exit 8"
like "$(cat err.txt)" "rules check" "identify with broken rules: points at rules check"

done_testing
