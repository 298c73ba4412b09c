#!/bin/sh
# gsrecover verify: audit archives made here with tar, zstd, sha256sum and
# jq (as rebuild would write them), intact, tampered with, short of a
# member or with one too many, with a bad manifest, hostile (names and
# entries outside the layout, listed with their right hashes), damaged, or
# not archives at all.
. "$GSR_TOP/tests/lib.sh"

sha() { sha256sum < "$1" | cut -d ' ' -f 1; }
size() { wc -c < "$1" | tr -d ' '; }

# manifest DIR DB-SHA256 NAME... -- write DIR/manifest.json listing the
# files NAME (relative to DIR), and DB-SHA256 as the output's hash.
manifest() {
	_d=$1
	_out=$2
	shift 2
	for _n in "$@"; do
		jq -n --arg name "$_n" --argjson size "$(size "$_d/$_n")" \
			--arg sha256 "$(sha "$_d/$_n")" \
			'{name: $name, size: $size, sha256: $sha256}'
	done | jq -s --arg out "$_out" '{format: "gsrecover-audit", version: 1,
		created: "2026-01-01T00:00:00Z",
		tools: {gsrecover: "0.1.0"}, members: .,
		output: {path: "rebuilt.db", sha256: $out, size: 8}}' > "$_d/manifest.json"
}

# pack DIR ARCHIVE NAME... -- tar.zst of the files NAME of DIR, then
# DIR/manifest.json.
pack() {
	_d=$1
	_a=$2
	shift 2
	rm -f "$_a"
	tar --zstd -cf "$_a" -C "$_d" "$@" manifest.json
}

# v NAME ARGS... -- run verify; stdout in NAME.out, stderr in NAME.err,
# the status in $st.
v() {
	_name=$1
	shift
	gsr verify "$@" > "$_name.out" 2> "$_name.err"
	st=$?
}

# Names in the layout of an audit archive: input/ and export/ hold files,
# rules/ a tree.
MEMBERS="input/database.db identify.json export/a.txt rules/sub/b.txt"
mkdir -p good/input good/export good/rules/sub
printf 'the original database\n' > good/input/database.db
printf '{"verdict": "dev-build"}\n' > good/identify.json
printf 'a\n' > good/export/a.txt
printf 'bee\n' > good/rules/sub/b.txt
printf 'rebuilt\n' > rebuilt.db
printf 'not it\n' > other.db
DBSHA=$(sha rebuilt.db)
manifest good "$DBSHA" $MEMBERS
pack good good.tar.zst $MEMBERS
ok "fixture: zstd -t passes on the archive made here" zstd -q -t good.tar.zst

# --- intact ---------------------------------------------------------------
v good good.tar.zst
is "$st" 0 "intact: exit 0"
is "$(cat good.out)" "good.tar.zst: 4 members, all hashes match" \
	"intact: only the summary line"
is "$(cat good.err)" "" "intact: nothing on stderr"
v goodv -v good.tar.zst
is "$st" 0 "intact, -v: exit 0"
is "$(grep -c '^ok  ' goodv.out)" 4 "intact, -v: one ok line per member"
is "$(sed -n 1p goodv.out)" "ok        input/database.db" "intact, -v: members in the manifest's order"
like "$(cat goodv.out)" "^sha256    $(sha good.tar.zst) \($(size good.tar.zst) bytes\)$" \
	"intact, -v: the archive's own SHA-256 and size"

# An uncompressed and a gzip'ed tar are read too.
tar -cf plain.tar -C good $MEMBERS manifest.json
v plain plain.tar
is "$st" 0 "plain tar: exit 0"
tar -czf gz.tar.gz -C good $MEMBERS manifest.json
v gz gz.tar.gz
is "$st" 0 "tar.gz: exit 0"

# --- tampered: one byte changed, same size -----------------------------------
cp -R good tampered
printf 'X' | dd of=tampered/identify.json bs=1 seek=3 conv=notrunc 2> /dev/null
is "$(size tampered/identify.json)" "$(size good/identify.json)" "fixture: tampering keeps the size"
pack tampered tampered.tar.zst $MEMBERS
v tampered tampered.tar.zst
is "$st" 4 "tampered member: exit 4"
is "$(grep -c . tampered.out)" 2 "tampered member: one member line and the summary"
is "$(sed -n 1p tampered.out)" \
	"mismatch  identify.json: size $(size tampered/identify.json), sha256 $(sha tampered/identify.json); the manifest says size $(size good/identify.json), sha256 $(sha good/identify.json)" \
	"tampered member: named as mismatch, with both hashes"
is "$(sed -n 2p tampered.out)" "tampered.tar.zst: 4 members, 1 problem" "tampered member: summary counts 1 problem"
v tamperedj --json tampered.tar.zst
is "$st" 4 "tampered member, --json: exit 4"
is "$(jq -c '[.members[] | select(.status != "ok") | {name, status}]' tamperedj.out)" \
	'[{"name":"identify.json","status":"mismatch"}]' "tampered member, --json: the one mismatch"
is "$(jq -c '[.ok, .problems, .gsrecover.exit_status]' tamperedj.out)" '[false,1,4]' \
	"tampered member, --json: ok false, 1 problem, exit_status 4"

# A member whose size changed.
cp -R good longer
printf 'more\n' >> longer/export/a.txt
pack longer longer.tar.zst $MEMBERS
v longer longer.tar.zst
is "$st" 4 "longer member: exit 4"
like "$(cat longer.out)" "^mismatch  export/a.txt: size 7, " "longer member: named as mismatch"

# --- a member added, a member removed -----------------------------------------
cp -R good added
printf 'extra\n' > added/export/extra.txt
pack added added.tar.zst $MEMBERS export/extra.txt
v added added.tar.zst
is "$st" 4 "member added: exit 4"
is "$(sed -n 1p added.out)" "unlisted  export/extra.txt: in the archive, not listed in the manifest" \
	"member added: named as unlisted"
is "$(sed -n 2p added.out)" "added.tar.zst: 5 members, 1 problem" "member added: summary"

pack good removed.tar.zst input/database.db identify.json export/a.txt
v removed removed.tar.zst
is "$st" 4 "member removed: exit 4"
is "$(sed -n 1p removed.out)" "missing   rules/sub/b.txt: listed in the manifest, not in the archive" \
	"member removed: named as missing"
v removedj --json removed.tar.zst
is "$(jq -c '.members[] | select(.name == "rules/sub/b.txt") | [.status, .size, .sha256, .expected_size]' removedj.out)" \
	'["missing",null,null,4]' "member removed, --json: missing, no size or hash, the expected size"

# The same name twice: the second copy is not the one the manifest lists,
# and extracting would keep it.
tar -cf twice.tar -C good $MEMBERS
tar -rf twice.tar -C tampered identify.json
tar -rf twice.tar -C good manifest.json
zstd -q --rm twice.tar
v twice twice.tar.zst
is "$st" 4 "a member twice: exit 4"
is "$(grep -v '^ok' twice.out)" "duplicate identify.json: a name that another member has
twice.tar.zst: 5 members, 1 problem" "a member twice: the second copy is a duplicate"
v twicej --json twice.tar.zst
is "$(jq -c '[.members[] | select(.status != "ok") | [.name, .status, .reason, .size]]' twicej.out)" \
	"[[\"identify.json\",\"duplicate\",\"a name that another member has\",$(size tampered/identify.json)]]" \
	"a member twice, --json: the duplicate, with its reason and size"

# The manifest lists a size that is not the member's, with its hash.
cp -R good badsize
jq '.members[0].size += 1' good/manifest.json > badsize/manifest.json
pack badsize badsize.tar.zst $MEMBERS
v badsize badsize.tar.zst
is "$st" 4 "listed size wrong, hash right: exit 4"
like "$(sed -n 1p badsize.out)" "^mismatch  input/database.db: size 22, sha256 ([0-9a-f]{64}); the manifest says size 23, sha256 \\1$" \
	"listed size wrong, hash right: mismatch"

# A manifest that lists a name twice is not one rebuild writes, even with
# two identical copies of the member to match.
tar -cf listed2.tar -C good $MEMBERS
tar -rf listed2.tar -C good identify.json
jq '.members += [.members[1]]' good/manifest.json > listed2.json
mkdir listed2 && cp listed2.json listed2/manifest.json
tar -rf listed2.tar -C listed2 manifest.json
zstd -q --rm listed2.tar
v listed2 listed2.tar.zst
is "$st" 4 "a name listed twice, two identical copies: exit 4"
is "$(sed -n 1p listed2.out)" "manifest  members[4].name is that of members[1] too" \
	"a name listed twice: the manifest is invalid"
is "$(grep -c '^duplicate identify.json: ' listed2.out)" 1 "a name listed twice: the second copy is a duplicate"

# A listed name that is a symbolic link in the archive.
cp -R good linked
rm linked/identify.json
ln -s input/database.db linked/identify.json
pack linked linked.tar.zst $MEMBERS
v linked linked.tar.zst
is "$st" 4 "a listed member that is a link: exit 4"
is "$(sed -n 1p linked.out)" "unsafe    identify.json: a symbolic link to input/database.db" \
	"a listed member that is a link: unsafe, with its target"
# ... even when the manifest lists it as empty.
jq --arg e "$(printf '' | sha256sum | cut -d ' ' -f 1)" \
	'.members[1].size = 0 | .members[1].sha256 = $e' good/manifest.json > linked/manifest.json
pack linked linked0.tar.zst $MEMBERS
v linked0 linked0.tar.zst
is "$st" 4 "a link listed as an empty file: exit 4"
is "$(sed -n 1p linked0.out)" "unsafe    identify.json: a symbolic link to input/database.db" \
	"a link listed as an empty file: unsafe"

# Control characters in a name are shown escaped, on one line; no name
# rebuild writes has one.
cp -R good evil
printf 'x\n' > "evil/export/$(printf 'new\nline')"
pack evil evil.tar.zst $MEMBERS "export/$(printf 'new\nline')"
v evil evil.tar.zst
is "$st" 4 "a name with a newline: exit 4"
is "$(sed -n 1p evil.out)" 'foreign   export/new\x0aline: a control character in its name' \
	"a name with a newline: escaped, and foreign"
v evilj --json evil.tar.zst
is "$(jq -r '.members[] | select(.status == "foreign") | .name' evilj.out)" "export/$(printf 'new\nline')" \
	"a name with a newline, --json: the name as it is"

# A UTF-8 name is shown as it is; bytes that are not UTF-8 are escaped.
cp -R good names
printf 'x\n' > "names/rules/$(printf 'caf\303\251')"
printf 'y\n' > "names/rules/$(printf 'bad\377')"
pack names names.tar.zst $MEMBERS "rules/$(printf 'caf\303\251')" "rules/$(printf 'bad\377')"
v names names.tar.zst
is "$st" 4 "odd names: exit 4"
is "$(grep -c "^unlisted  rules/$(printf 'caf\303\251'): " names.out)" 1 "a UTF-8 name: as it is"
is "$(grep -c '^foreign   rules/bad\\xff: a name that is not UTF-8$' names.out)" 1 \
	"a name that is not UTF-8: escaped, and foreign"

# --- hostile archives ----------------------------------------------------------
# Names and entries that no audit archive has, each listed in the manifest
# with its right size and hash, so that only the layout tells them apart.
EMPTY=$(printf '' | sha256sum | cut -d ' ' -f 1)
mkdir hostile
printf 'owned\n' > hostile/x

# finish NAME LISTED SIZE SHA256 -- append to NAME.tar a manifest that
# lists the good members and LISTED, then compress it to NAME.tar.zst.
finish() {
	mkdir -p "m-$1"
	jq --arg n "$2" --argjson s "$3" --arg h "$4" \
		'.members += [{name: $n, size: $s, sha256: $h}]' good/manifest.json \
		> "m-$1/manifest.json"
	tar -rPf "$1.tar" -C "m-$1" manifest.json
	rm -f "$1.tar.zst"
	zstd -q --rm "$1.tar"
}

# hostile NAME LISTED EXPECTED-LINE TAR-ARGS... -- the good members, then
# what `tar -r TAR-ARGS` appends (in hostile/) as LISTED, listed with the
# size and hash of hostile/x when it is a file, else as empty; verify
# must say EXPECTED-LINE first, exit 4, and give one JSON object.
hostile() {
	_n=$1 _l=$2 _e=$3
	shift 3
	rm -f "$_n.tar"
	tar -cf "$_n.tar" -C good $MEMBERS
	tar -rf "$_n.tar" -C hostile "$@"
	if tar -tvf "$_n.tar" 2> /dev/null | tail -n 1 | grep -q '^-'; then
		finish "$_n" "$_l" "$(size hostile/x)" "$(sha hostile/x)"
	else
		finish "$_n" "$_l" 0 "$EMPTY"
	fi
	is "$(tar --zstd -tf "$_n.tar.zst" 2> /dev/null | tail -n 2 | head -n 1)" "$_l" \
		"$_n: fixture: the archive holds '$_l'"
	v "$_n" "$_n.tar.zst"
	is "$st" 4 "$_n: exit 4"
	is "$(sed -n 1p "$_n.out")" "$_e" "$_n: named first"
	is "$(tail -n 1 "$_n.out")" "$_n.tar.zst: 5 members, 1 problem" "$_n: one problem"
	v "${_n}j" --json "$_n.tar.zst"
	is "$(jq -s 'length' "${_n}j.out")" 1 "$_n, --json: one JSON object"
	is "$(jq -c '[.ok, .problems, .gsrecover.exit_status]' "${_n}j.out")" "[false,1,4]" \
		"$_n, --json: ok false, 1 problem, exit_status 4"
}

hostile dotdot '../../x' "unsafe    ../../x: a '..' component in its name" \
	-P --transform 's,^x$,../../x,' x
v dotdotj --json dotdot.tar.zst
is "$(jq -c '.members[4] | [.name, .status, .reason, .link, .size == .expected_size, .sha256 == .expected_sha256]' dotdotj.out)" \
	'["../../x","unsafe","a '"'"'..'"'"' component in its name",null,true,true]' \
	"dotdot, --json: unsafe although its size and hash are the listed ones"
hostile inner 'rules/../../../x' "unsafe    rules/../../../x: a '..' component in its name" \
	-P --transform 's,^x$,rules/../../../x,' x
hostile absolute '/etc/cron.d/x' "unsafe    /etc/cron.d/x: an absolute name" \
	-P --transform 's,^x$,/etc/cron.d/x,' x
hostile toplevel 'evil.sh' "foreign   evil.sh: a name outside the audit archive's layout" \
	--transform 's,^x$,evil.sh,' x
hostile deep 'input/sub/x' "foreign   input/sub/x: a name outside the audit archive's layout" \
	--transform 's,^x$,input/sub/x,' x
hostile bare 'input' "foreign   input: a name outside the audit archive's layout" \
	--transform 's,^x$,input,' x
hostile dotslash './identify.json' "foreign   ./identify.json: an empty or '.' component in its name" \
	--transform 's,^x$,./identify.json,' x
ln -s ../../../etc/passwd hostile/link
hostile symlink 'input/evil' "unsafe    input/evil: a symbolic link to ../../../etc/passwd" \
	--transform 's,^link$,input/evil,' link
mkfifo hostile/fifo
hostile fifo 'input/fifo' "unsafe    input/fifo: a FIFO" --transform 's,^fifo$,input/fifo,' fifo
mkdir hostile/tmp
hostile dir 'tmp/' "unsafe    tmp/: a directory outside the layout" --no-recursion tmp
if mknod hostile/null c 1 3 2> /dev/null; then
	hostile device 'input/null' "unsafe    input/null: a character device" \
		--transform 's,^null$,input/null,' null
else
	t_result 0 "a character device # SKIP mknod needs root"
fi

# A name too long for any member: cut, and foreign.
long=rules/$(printf '%05000d' 0)
tar -cf long.tar -C good $MEMBERS
tar -rf long.tar -C hostile --transform "s,^x\$,$long," x
tar -rf long.tar -C good manifest.json
rm -f long.tar.zst
zstd -q --rm long.tar
v long long.tar.zst
is "$st" 4 "a name of 5006 bytes: exit 4"
is "$(sed -n 1p long.out)" "foreign   rules/$(printf '%0250d' 0)...: a name longer than 4096 bytes" \
	"a name of 5006 bytes: cut, and foreign"

# A hard link: tar stores the second name of a file as a link to the first.
cp -R good hard
ln hard/input/database.db hard/input/copy.db
rm -f hardlink.tar
tar -cf hardlink.tar -C hard $MEMBERS input/copy.db
finish hardlink input/copy.db 0 "$EMPTY"
v hardlink hardlink.tar.zst
is "$st" 4 "a hard link: exit 4"
is "$(sed -n 1p hardlink.out)" "unsafe    input/copy.db: a hard link to input/database.db" \
	"a hard link: unsafe, with its target"

# Directory entries where the layout has directories, as GNU tar writes
# them when given the directories: not members, not problems.
tar --zstd -cf dirs.tar.zst -C good input identify.json export rules manifest.json
ok "fixture: dirs.tar.zst has directory entries" sh -c 'tar --zstd -tf dirs.tar.zst | grep -qx rules/sub/'
v dirs -v dirs.tar.zst
is "$st" 0 "directory entries of the layout: exit 0"
is "$(tail -n 1 dirs.out)" "dirs.tar.zst: 4 members, all hashes match" \
	"directory entries of the layout: not members"

# --- the manifest ----------------------------------------------------------------
# bad_manifest NAME JQ-FILTER EXPECTED-ERROR -- the good manifest through
# JQ-FILTER.
bad_manifest() {
	rm -rf bad && cp -R good bad
	jq "$2" good/manifest.json > bad/manifest.json
	pack bad "$1.tar.zst" $MEMBERS
	v "$1" "$1.tar.zst"
	is "$st" 4 "$1: exit 4"
	is "$(sed -n 1p "$1.out")" "manifest  $3" "$1: the manifest's error"
	v "$1j" --json "$1.tar.zst"
	is "$(jq -c '[.manifest_ok, .ok]' "$1j.out")" "[false,false]" \
		"$1, --json: manifest_ok and ok false"
	is "$(jq -r '.manifest_error' "$1j.out")" "$3" "$1, --json: manifest_error"
}

bad_manifest "size a string" '.members[1].size = "8"' \
	"members[1].size is not an integer of 0 or more"
bad_manifest "negative size" '.members[0].size = -1' \
	"members[0].size is not an integer of 0 or more"
bad_manifest "name a number" '.members[2].name = 7' "members[2].name is not a string"
bad_manifest "sha256 upper case" '.members[3].sha256 |= ascii_upcase' \
	"members[3].sha256 is not 64 lower-case hex digits"
bad_manifest "members an object" '.members = {}' "members is missing or not an array"
bad_manifest "member a string" '.members[0] = "x"' "members[0] is not an object"
bad_manifest "wrong format" '.format = "tar"' 'format is not "gsrecover-audit"'
bad_manifest "format missing" 'del(.format)' "format is missing"
bad_manifest "version 2" '.version = 2' "version is 2: only 1 is known"
bad_manifest "version a string" '.version = "1"' "version is not an integer"
bad_manifest "output a string" '.output = "x"' "output is not an object"
bad_manifest "lists itself" '.members[0].name = "manifest.json"' \
	"members[0].name is manifest.json: the manifest lists itself"
bad_manifest "an array" '[.]' "not a JSON object"
# Every member is unlisted when the manifest cannot be trusted.
is "$(grep -c '^unlisted  ' "an array.out")" 4 "bad manifest: every member unlisted"

rm -rf bad && cp -R good bad
printf '{"format": "gsrecover-audit",\n "version": tru}\n' > bad/manifest.json
pack bad notjson.tar.zst $MEMBERS
v notjson notjson.tar.zst
is "$st" 4 "manifest not JSON: exit 4"
like "$(sed -n 1p notjson.out)" "^manifest  manifest.json: line 2, column [0-9]+: invalid token" \
	"manifest not JSON: where and why"
printf '{"format": "a", "format": "b"}' > bad/manifest.json
pack bad dupkey.tar.zst $MEMBERS
v dupkey dupkey.tar.zst
like "$(sed -n 1p dupkey.out)" "^manifest  manifest.json: .*duplicate object key" \
	"manifest with a key twice: rejected"

tar --zstd -cf nomanifest.tar.zst -C good $MEMBERS
v nomanifest nomanifest.tar.zst
is "$st" 4 "no manifest: exit 4"
is "$(sed -n 1p nomanifest.out)" "manifest  the archive has no manifest.json" "no manifest: said so"
is "$(tail -n 1 nomanifest.out)" "nomanifest.tar.zst: 4 members, 5 problems" \
	"no manifest: the manifest and every member count"

# --- not an archive --------------------------------------------------------------
printf 'just some text, not an archive at all\n' > text.txt
v text text.txt
is "$st" 8 "a text file: exit 8"
is "$(cat text.err)" "gsrecover: 'text.txt' is not a readable archive: Unrecognized archive format" \
	"a text file: one line on stderr"
is "$(cat text.out)" "" "a text file: nothing on stdout"
v textj --json text.txt
is "$st" 8 "a text file, --json: exit 8"
is "$(cat textj.out)" "" "a text file, --json: nothing on stdout"
zstd -q -c text.txt > text.zst
v textzst text.zst
is "$st" 8 "zstd of a text file: exit 8"
is "$(wc -l < textzst.err | tr -d ' ')" 1 "zstd of a text file: one line on stderr"
v missing nothere.tar.zst
is "$st" 8 "missing archive: exit 8"
is "$(cat missing.err)" "gsrecover: cannot open 'nothere.tar.zst': No such file or directory" \
	"missing archive: one line on stderr"
mkdir adir
v adir adir
is "$st" 8 "a directory: exit 8"
is "$(cat adir.err)" "gsrecover: 'adir' is a directory, not a regular file" "a directory: said so"

# A damaged archive: cut in the middle of its data.  What could be read
# is reported, and where it broke.
dd if=/dev/urandom of=good/input/big.bin bs=65536 count=16 2> /dev/null
manifest good "$DBSHA" $MEMBERS input/big.bin
pack good big.tar.zst $MEMBERS input/big.bin
head -c $(( $(size big.tar.zst) / 2 )) big.tar.zst > cut.tar.zst
v cut cut.tar.zst
is "$st" 4 "cut archive: exit 4"
like "$(cat cut.out)" "^damaged   member 'input/big.bin': the file ends inside the zstd frame at byte 0$" \
	"cut archive: the member being read and the frame"
like "$(cat cut.out)" "^unlisted  input/database.db: " "cut archive: the members before the damage"
manifest good "$DBSHA" $MEMBERS
rm good/input/big.bin

# Bytes after the last zstd frame are damage too, even past the end of
# the tar archive.
cat good.tar.zst text.txt > trailing.tar.zst
v trailing trailing.tar.zst
is "$st" 4 "bytes after the last frame: exit 4"
like "$(cat trailing.out)" "^damaged   past the end of the tar archive: the zstd frame at byte $(size good.tar.zst) of the file: " \
	"bytes after the last frame: where"

# --- damage: bytes flipped in an archive rebuild wrote ------------------------
mkcase 1 c1.db
gsr rebuild -q c1.db --to 0.6.0 -o c1-out.db --archive real.tar.zst > /dev/null 2>&1
v real real.tar.zst --db c1-out.db
is "$st" 0 "fixture: rebuild's archive verifies"
S=$(size real.tar.zst)
zstd -q -dc real.tar.zst > real.tar

# flip FILE OFFSET OUT -- a copy of FILE with the byte at OFFSET changed.
flip() {
	cp "$1" "$3"
	_b=$(od -An -tu1 -j "$2" -N1 "$1" | tr -d ' ')
	printf "$(printf '\\%03o' $(( _b ^ 85 )))" |
		dd of="$3" bs=1 seek="$2" conv=notrunc 2> /dev/null
}

# One byte at 5 % of the file, in the frames of the input (which come
# first): at most at byte 1200, as the rules in the archive grow.
flip real.tar.zst $(( S / 20 < 1200 ? S / 20 : 1200 )) f5.tar.zst
ok "fixture: the flipped copy differs" sh -c '! cmp -s real.tar.zst f5.tar.zst'
v f5 f5.tar.zst
is "$st" 4 "a byte flipped at 5 %: exit 4"
like "$(cat f5.out)" "^damaged   member 'input/c1\.db': the zstd frame at byte [0-9]+ of the file: " \
	"a byte flipped at 5 %: the member being read and the frame"
is "$(cat f5.err)" "" "a byte flipped at 5 %: nothing on stderr"
v f5j --json f5.tar.zst
is "$st" 4 "a byte flipped at 5 %, --json: exit 4"
is "$(jq -s 'length' f5j.out)" 1 "a byte flipped at 5 %, --json: one JSON object"
like "$(jq -r '.read_error' f5j.out)" "^member 'input/c1\.db': the zstd frame at byte [0-9]+ of the file: " \
	"a byte flipped at 5 %, --json: read_error"
is "$(jq -c '[.ok, .gsrecover.exit_status, .members[0].name]' f5j.out)" '[false,4,"input/c1.db"]' \
	"a byte flipped at 5 %, --json: the member read before the damage"

# 40 offsets over the whole file: each gives a report with the damage
# (exit 4, one JSON object) or one line on stderr (exit 8, nothing on
# stdout), never a crash; a success only where the flip left the tar
# stream as it was.
bad=
n4=0
i=0
while [ $i -lt 40 ]; do
	off=$(( i * (S - 1) / 39 ))
	flip real.tar.zst $off f.tar.zst
	v f f.tar.zst
	v fj --json f.tar.zst
	case $st in
	4)
		n4=$((n4 + 1))
		grep -q '^damaged   ' f.out && [ ! -s f.err ] &&
			[ "$(jq -s 'length' fj.out)" = 1 ] &&
			jq -e '.ok == false and .read_error != null and .gsrecover.exit_status == 4' fj.out > /dev/null ||
			bad="$bad $off:4"
		;;
	8)
		[ ! -s f.out ] && [ "$(wc -l < f.err)" -eq 1 ] && [ ! -s fj.out ] &&
			[ "$(wc -l < fj.err)" -eq 1 ] || bad="$bad $off:8"
		;;
	0)
		zstd -q -dc f.tar.zst 2> /dev/null | cmp -s - real.tar || bad="$bad $off:0"
		;;
	*)
		bad="$bad $off:$st"
		;;
	esac
	i=$((i + 1))
done
is "$bad" "" "40 bytes flipped: a report of the damage or one line, never a crash"
ok "40 bytes flipped: most are found as damage ($n4)" [ "$n4" -ge 30 ]

# --- --db ---------------------------------------------------------------------
v db good.tar.zst --db rebuilt.db
is "$st" 0 "--db the rebuilt database: exit 0"
is "$(sed -n 2p db.out)" "rebuilt.db: matches the archive" "--db the rebuilt database: matches"
v dbother good.tar.zst --db other.db
is "$st" 4 "--db another database: exit 4"
is "$(sed -n 1p dbother.out)" "good.tar.zst: 4 members, all hashes match" \
	"--db another database: the members still match"
is "$(sed -n 2p dbother.out)" "other.db: does NOT match (sha256 $(sha other.db), the archive says $DBSHA)" \
	"--db another database: does NOT match, with both hashes"
v dbmissing good.tar.zst --db nothere.db
is "$st" 8 "--db a missing file: exit 8"
is "$(cat dbmissing.err)" "gsrecover: cannot open 'nothere.db': No such file or directory" \
	"--db a missing file: one line on stderr"
v dbtampered tampered.tar.zst --db other.db
is "$st" 4 "tampered and another database: exit 4"
is "$(sed -n 2p dbtampered.out)" "tampered.tar.zst: 4 members, 1 problem" \
	"tampered and another database: the database is not counted twice"

# --- --json -------------------------------------------------------------------
v json --json good.tar.zst --db rebuilt.db
is "$st" 0 "--json: exit 0"
jq -e . json.out > /dev/null
is "$?" 0 "--json: valid JSON"
is "$(jq -c '.json_format_version' json.out)" "[1,0]" "--json: json_format_version [1,0]"
is "$(jq -c '[.gsrecover.version, .gsrecover.exit_status, .gsrecover.argv[1]]' json.out)" \
	'["0.1.0",0,"verify"]' "--json: the envelope"
is "$(jq -c '[.archive, .archive_sha256, .manifest_ok, .ok]' json.out)" \
	"[\"good.tar.zst\",\"$(sha good.tar.zst)\",true,true]" "--json: archive, its hash, manifest_ok, ok"
is "$(jq -c '[.members[] | [.name, .status]]' json.out)" \
	'[["input/database.db","ok"],["identify.json","ok"],["export/a.txt","ok"],["rules/sub/b.txt","ok"]]' \
	"--json: every member, in the manifest's order"
is "$(jq -r '.members[1] | [.size, .sha256, .expected_size, .expected_sha256] | @tsv' json.out)" \
	"$(printf '%s\t%s\t%s\t%s' "$(size good/identify.json)" "$(sha good/identify.json)" \
		"$(size good/identify.json)" "$(sha good/identify.json)")" \
	"--json: a member's size and hash, found and expected"
is "$(jq -c '.db' json.out)" \
	"{\"path\":\"rebuilt.db\",\"sha256\":\"$DBSHA\",\"expected_sha256\":\"$DBSHA\",\"expected_path\":\"rebuilt.db\",\"ok\":true}" \
	"--json: db"
v jsonnodb --json good.tar.zst
is "$(jq -c '.db' jsonnodb.out)" "null" "--json without --db: db is null"
v jsondb --json good.tar.zst --db other.db
is "$(jq -c '[.db.ok, .ok, .gsrecover.exit_status]' jsondb.out)" "[false,false,4]" \
	"--json, another database: db.ok and ok false"

# --- the manual's example ------------------------------------------------------
mkdir audit && tar --zstd -xf good.tar.zst -C audit
(cd audit && jq -r '.members[] | "\(.sha256)  \(.name)"' \
	manifest.json | sha256sum -c) > example.out 2>&1
is "$?" 0 "the manual's example: sha256sum -c passes on the extracted members"
is "$(grep -c ': OK$' example.out)" 4 "the manual's example: every member checked"

# --- usage ---------------------------------------------------------------------
v noarg
is "$st" 16 "no ARCHIVE: exit 16"
like "$(cat noarg.err)" "gsrecover verify: missing ARCHIVE" "no ARCHIVE: said so"
v twoargs good.tar.zst other.tar.zst
is "$st" 16 "two archives: exit 16"
v help --help
is "$st" 0 "--help: exit 0"
like "$(cat help.out)" "^Usage: gsrecover verify \[OPTION\.\.\.\] ARCHIVE" "--help: usage line"
gsr verify good.tar.zst > /dev/full 2> full.err
is "$?" 8 "stdout on a full disk: exit 8"

done_testing
