#!/bin/sh
# SIGINT or SIGTERM while identify, export, verify or rules works: the
# command ends at once with exit 32, says "interrupted", prints no report
# and leaves nothing behind (no output, no working directory).  The
# rebuild has its own script, 82-rebuild-interrupt.t.
. "$GSR_TOP/tests/lib.sh"

export TMPDIR="$T_SCRATCH/tmp"
mkdir -p "$TMPDIR"

# A database big enough that every command takes a while on it (144 MB,
# about a second for identify here), as 82-rebuild-interrupt.t makes it.
sh "$GSR_TOP/bench/gen-db.sh" big.db 2000000

# custody -- wait until a working directory is in $TMPDIR: the input is
# being taken into custody, the work has begun.
custody() {
	_i=0
	while [ $_i -lt 400 ]; do
		ls "$TMPDIR" | grep -q '^gsrecover\.' && return 0
		sleep 0.02
		_i=$((_i + 1))
	done
	return 1
}

# interrupt NAME SIGNAL WAIT DELAY ARGS... -- run gsrecover ARGS in the
# background, wait for it (catching, or custody too), sleep DELAY, send
# SIGNAL; then exit 32, "interrupted" alone on stderr, nothing on stdout,
# nothing left in $TMPDIR.
interrupt() {
	_name=$1
	_sig=$2
	_wait=$3
	_delay=$4
	shift 4
	${GSR_EXEC_PREFIX:-} "$GSR" "$@" > out.txt 2> err.txt &
	_pid=$!
	catching $_pid
	[ "$_wait" = custody ] && custody
	sleep "$_delay"
	kill -"$_sig" $_pid
	wait $_pid
	_st=$?
	is "$_st" 32 "$_name: exit 32"
	is "$(cat err.txt)" "gsrecover: interrupted" "$_name: said"
	is "$(wc -c < out.txt | tr -d ' ')" 0 "$_name: no report"
	is "$(ls -A "$TMPDIR" | wc -l | tr -d ' ')" 0 "$_name: no working directory left"
}

# identify used to print its whole report and exit 0.
interrupt "identify, SIGINT while the input is copied" INT custody 0 identify big.db
interrupt "identify, SIGINT during the checks" INT custody 0.3 identify big.db
interrupt "identify --json, SIGTERM during the checks" TERM custody 0.3 identify --json big.db
interrupt "identify --quick, SIGTERM" TERM custody 0.2 identify --quick big.db

listing() {
	ls | grep -v -e '^out.txt$' -e '^err.txt$' -e '^after.txt$' -e '^before.txt$' \
		-e '^golden.diff$' | sort
}
listing > before.txt
interrupt "export, SIGINT" INT custody 0.2 export big.db -o out
interrupt "export --format csv, SIGTERM" TERM custody 0.4 export --format csv big.db -o out
interrupt "export --recover, SIGINT" INT custody 0.3 export --recover big.db -o out
listing > after.txt
golden after.txt before.txt "export: no output and no temporary directory beside it"

# An archive to read for a while: the database four times over.
tar -cf - big.db big.db big.db big.db | zstd -q -1 > big.tar.zst
interrupt "verify, SIGINT" INT catching 0.1 verify big.tar.zst
interrupt "verify --db --json, SIGTERM" TERM catching 0.1 verify --json big.tar.zst --db big.db

# Rules that take a while to load: 600 more labels after the last one,
# each with a schema of its own (0.7.1's).
cp -R "$RULES_IN_USE" slow
prev=$(gsr --rules-dir slow rules list --json | jq -r '.labels[-1].label')
i=1
while [ $i -le 600 ]; do
	n=$(printf 'main-f%07x' $i)
	sed -e "s/^label 0\.7\.1\$/label $n/" -e 's/^kind release$/kind dev/' \
		-e "s/^commit .*/commit $(printf 'f%07x' $i)/" -e 's/^date .*/date 2099-01-01/' \
		-e "s/^follows .*/follows $prev/" slow/labels/0.7.1.rules > "slow/labels/$n.rules"
	prev=$n
	i=$((i + 1))
done
gsr rules check slow > /dev/null 2>&1
is "$?" 0 "slow rules are valid"
interrupt "rules check, SIGINT" INT catching 0.1 rules check slow
interrupt "rules check --json, SIGTERM" TERM catching 0.1 rules check --json slow
interrupt "rules list, SIGINT" INT catching 0.1 --rules-dir slow rules list
interrupt "identify, SIGINT while the rules load" INT catching 0.1 --rules-dir slow identify big.db

done_testing
