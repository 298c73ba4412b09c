#!/bin/sh
# Progress on a terminal: under a pseudo-terminal (script(1)), identify,
# rebuild and export draw their phases on stderr with '\r' and clear the
# line (\r ESC [K) when a phase ends, before a message and when a signal
# stops the run; never when stderr is not a terminal, nor with -q or
# --json.  GSR_PROGRESS_DELAY_MS=0 shows every phase at once, so that a
# small database shows them all; a long delay shows none.
. "$GSR_TOP/tests/lib.sh"

# on_tty OUT CMD -- run the shell command CMD with a pseudo-terminal for its
# stdin, stdout and stderr; what it wrote there goes to OUT.  Returns
# CMD's exit status.
on_tty() {
	_out=$1
	shift
	SHELL=/bin/sh script -qfec "$*" /dev/null < /dev/null > "$_out"
}

# screen FILE -- what a terminal shows after FILE is written to it: '\r'
# goes back to the start of the line, ESC [ K clears the rest of it.
screen() {
	perl -e '
		local $/;
		my $s = <STDIN>;
		my @l = ("");
		my $c = 0;
		while (length $s) {
			if ($s =~ s/^\r//) { $c = 0 }
			elsif ($s =~ s/^\n//) { push @l, ""; $c = 0 }
			elsif ($s =~ s/^\e\[K//) { substr($l[-1], $c) = "" if $c < length $l[-1] }
			elsif ($s =~ s/^([^\r\n\e]+)//) {
				my $t = $1;
				$l[-1] .= " " x ($c - length $l[-1]) if $c > length $l[-1];
				substr($l[-1], $c, length $t) = $t;
				$c += length $t;
			} else { $s =~ s/^.//s }
		}
		pop @l if $l[-1] eq "";
		print "$_\n" for @l;
	' < "$1"
}

# drawn FILE PHASE -- FILE has a progress line (after a '\r') with PHASE.
drawn() {
	perl -e 'local $/; $_ = <STDIN>; exit !/\r[^\r\n]*\Q$ARGV[0]\E[^\r\n]*\e\[K/' "$2" < "$1"
}

# ends_cleared FILE -- FILE ends with a cleared line: '\r' ESC [ K.
ends_cleared() {
	perl -e 'local $/; $_ = <STDIN>; exit !/\r\e\[K\z/' < "$1"
}

# no_progress FILE -- FILE has no escape sequence and no '\r' but before
# a '\n' (which the terminal adds to every newline).
no_progress() {
	perl -e 'local $/; $_ = <STDIN>; exit(/\e|\r(?!\n)/ ? 1 : 0)' < "$1"
}

if ! on_tty /dev/null true; then
	echo "1..0 # SKIP no pseudo-terminal: script(1) cannot run"
	exit 0
fi

G="${GSR_EXEC_PREFIX:-} $GSR"
mkcase 1 c1.db

# rebuild, stdout to a file: every phase is drawn (the export's with
# --archive-export) and the screen is left empty, every line cleared.
on_tty rb.raw "GSR_PROGRESS_DELAY_MS=0 $G rebuild c1.db --to 0.6.0 -o rb.db --archive-export > rb.txt"
is $? 4 "rebuild on a terminal: exit 4, as without one"
for phase in custody checks "import api_keys" export archive; do
	ok "rebuild on a terminal: '$phase' drawn" drawn rb.raw "$phase"
done
ok "rebuild on a terminal: the stream ends with a cleared line" ends_cleared rb.raw
is "$(screen rb.raw)" "" "rebuild on a terminal: every progress line cleared"
like "$(cat rb.txt)" "^rebuilt c1.db as 0.6.0" "rebuild on a terminal: the report on stdout"

# The same with stderr not a terminal, with -q, with --json: no progress.
rm -f rb.db c1.audit-*
on_tty rb2.raw "GSR_PROGRESS_DELAY_MS=0 $G rebuild c1.db --to 0.6.0 -o rb.db > rb.txt 2> rb.err"
is $? 4 "stderr to a file: exit 4"
ok "stderr to a file: no progress on the terminal" no_progress rb2.raw
ok "stderr to a file: no progress in the file" no_progress rb.err
rm -f rb.db c1.audit-*
on_tty rb3.raw "GSR_PROGRESS_DELAY_MS=0 $G rebuild -q c1.db --to 0.6.0 -o rb.db > rb.txt"
is $? 4 "-q: exit 4"
ok "-q: no progress" no_progress rb3.raw
rm -f rb.db c1.audit-*
on_tty rb4.raw "GSR_PROGRESS_DELAY_MS=0 $G rebuild --json c1.db --to 0.6.0 -o rb.db > rb.json"
is $? 4 "--json: exit 4"
ok "--json: no progress" no_progress rb4.raw
is "$(jq -c '[(.tables | length > 0), .rows != null]' rb.json)" "[true,true]" \
	"--json: the JSON object on stdout"
# A phase shorter than the delay is never shown.
rm -f rb.db c1.audit-*
on_tty rb5.raw "GSR_PROGRESS_DELAY_MS=600000 $G rebuild c1.db --to 0.6.0 -o rb.db > rb.txt"
is $? 4 "a long delay: exit 4"
ok "a long delay: no progress for phases shorter than it" no_progress rb5.raw

# identify --recover, report on the terminal too: the page reader is
# drawn, and the report starts on a clean line.
on_tty id.raw "GSR_PROGRESS_DELAY_MS=0 $G identify --recover c1.db"
is $? 4 "identify --recover on a terminal: exit 4"
ok "identify --recover: 'custody' drawn" drawn id.raw custody
ok "identify --recover: 'page reader' drawn" drawn id.raw "page reader"
screen id.raw > id.screen
like "$(head -n 1 id.screen)" "^database  c1.db " "identify --recover: the report starts on a cleared line"
is "$(grep -c -E '^(custody|checks|page reader) [0-9]' id.screen)" 0 \
	"identify --recover: no progress left on the screen"

# export: the rows exported are drawn, then the report.
on_tty ex.raw "GSR_PROGRESS_DELAY_MS=0 $G export c1.db -o exp"
is $? 0 "export on a terminal: exit 0"
ok "export on a terminal: 'export' drawn" drawn ex.raw export
screen ex.raw > ex.screen
like "$(head -n 1 ex.screen)" "^alembic_version 1 rows" "export: the report starts on a cleared line"

# An error after progress was drawn: the message is on a line of its own.
on_tty err.raw "GSR_PROGRESS_DELAY_MS=0 $G rebuild c1.db --to 0.6.0 -o rb.db"
is $? 8 "an existing output: exit 8"
ok "an existing output: progress was drawn first" drawn err.raw custody
is "$(screen err.raw)" "gsrecover: 'rb.db' exists (--force overwrites it)" \
	"an existing output: the message alone on the screen"

# Interrupted once it has drawn (its signal handlers are in place by
# then): the line is cleared before the message, and on a second signal,
# which ends the run at once.
sh "$GSR_TOP/bench/gen-db.sh" big.db 1000000
for sigs in 1 2; do
	rm -f pid int.raw big.rebuilt-* big.audit-*
	on_tty int.raw "echo \$\$ > pid; GSR_PROGRESS_DELAY_MS=0 exec $G rebuild big.db --to 0.6.0 > /dev/null" &
	spid=$!
	n=0
	while ! grep -q custody int.raw 2> /dev/null && [ $n -lt 1200 ]; do
		sleep 0.05
		n=$((n + 1))
	done
	kill -INT "$(cat pid)"
	[ "$sigs" = 2 ] && kill -INT "$(cat pid)" 2> /dev/null
	wait $spid
	is $? 32 "interrupted ($sigs signal(s)): exit 32"
	ok "interrupted ($sigs signal(s)): progress was drawn" drawn int.raw custody
	screen int.raw | grep -v '^gsrecover: \(export: \)\?interrupted$' > int.screen
	is "$(cat int.screen)" "" "interrupted ($sigs signal(s)): no progress left on the screen"
done

done_testing
