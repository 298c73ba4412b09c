#!/bin/sh
# An input that is not a regular file (a FIFO, a device, a socket, a
# directory) is refused at once with one line naming it and what it is,
# exit 8, wherever it stands: the database, its -wal or -journal, the
# archive or the --db of verify, a file of a rules directory.  Each run is
# under timeout(1), so that a regression fails (status 124) instead of
# hanging the suite on a FIFO that no one writes.
. "$GSR_TOP/tests/lib.sh"

export TMPDIR="$T_SCRATCH/tmp"
mkdir -p "$TMPDIR"

# refused NAME FILE-SHOWN KIND ARGS... -- exit 8, one line on stderr
# naming FILE-SHOWN as KIND, nothing on stdout, no working directory left.
refused() {
	name=$1
	file=$2
	kind=$3
	shift 3
	timeout 10 ${GSR_EXEC_PREFIX:-} "$GSR" "$@" > out.txt 2> err.txt
	st=$?
	is "$st" 8 "$name: exit 8"
	is "$(cat err.txt)" "gsrecover: '$file' is $kind, not a regular file" \
		"$name: one line naming it"
	is "$(wc -c < out.txt | tr -d ' ')" 0 "$name: nothing on stdout"
	is "$(ls "$TMPDIR" | wc -l | tr -d ' ')" 0 "$name: no working directory left"
}

mkfifo fifo.db
refused "FIFO database, identify" fifo.db "a FIFO" identify fifo.db
refused "FIFO database, identify --json" fifo.db "a FIFO" identify --json fifo.db
refused "FIFO database, export" fifo.db "a FIFO" export fifo.db -o out
ok "FIFO database, export: no directory made" [ ! -e out ]
is "$(ls | grep -c 'tmp-')" 0 "FIFO database, export: no temporary directory beside it"
refused "FIFO database, rebuild" fifo.db "a FIFO" rebuild fifo.db --to 0.6.0
is "$(ls | grep -c -e rebuilt -e audit)" 0 "FIFO database, rebuild: no output"

# No DB: GPUStack's own database, a FIFO there.
mkdir data
mkfifo data/database.db
GPUSTACK_DATA_DIR="$T_SCRATCH/data" timeout 10 ${GSR_EXEC_PREFIX:-} "$GSR" identify \
	> out.txt 2> err.txt
is "$?" 8 "FIFO at \$GPUSTACK_DATA_DIR/database.db: exit 8"
is "$(cat err.txt)" "gsrecover: '$T_SCRATCH/data/database.db' is a FIFO, not a regular file (no DB given: the path is \$GPUSTACK_DATA_DIR/database.db)" \
	"FIFO at \$GPUSTACK_DATA_DIR/database.db: one line naming it"

mkdb 0.6.0 real.db
mkfifo real.db-wal
refused "FIFO -wal, identify" real.db-wal "a FIFO" identify real.db
refused "FIFO -wal, export" real.db-wal "a FIFO" export real.db -o out
refused "FIFO -wal, rebuild" real.db-wal "a FIFO" rebuild real.db --to 0.6.0
rm real.db-wal
mkfifo real.db-journal
refused "FIFO -journal, identify" real.db-journal "a FIFO" identify real.db
refused "FIFO -journal, export" real.db-journal "a FIFO" export real.db -o out
refused "FIFO -journal, rebuild" real.db-journal "a FIFO" rebuild real.db --to 0.6.0
rm real.db-journal

# A -shm is never read (SQLite's index of a -wal, rebuilt from the -wal):
# a FIFO there changes nothing.
mkfifo real.db-shm
timeout 10 ${GSR_EXEC_PREFIX:-} "$GSR" identify real.db > out.txt 2> err.txt
is "$?" 0 "FIFO -shm: identify as usual"
timeout 10 ${GSR_EXEC_PREFIX:-} "$GSR" rebuild real.db --to 0.6.0 -o shm.db --no-archive \
	> out.txt 2> err.txt
is "$?" 0 "FIFO -shm: rebuild as usual"
rm real.db-shm

refused "character device" /dev/null "a character device" identify /dev/null
mkdir adir
refused "directory, export" adir "a directory" export adir -o out
perl -MIO::Socket::UNIX -e 'IO::Socket::UNIX->new(Type => SOCK_STREAM(),
	Local => "sock.db", Listen => 1) or die "$!\n"'
refused "socket" sock.db "a socket" identify sock.db

# verify: the archive, and the database of --db.
gsr rebuild real.db --to 0.6.0 -o good.db --archive good.tar.zst > /dev/null 2>&1
ok "an archive to verify" [ -s good.tar.zst ]
mkfifo fifo.tar.zst
refused "FIFO archive, verify" fifo.tar.zst "a FIFO" verify fifo.tar.zst
refused "FIFO archive, verify --json" fifo.tar.zst "a FIFO" verify --json fifo.tar.zst
refused "FIFO --db, verify" fifo.db "a FIFO" verify good.tar.zst --db fifo.db
refused "character device --db, verify" /dev/zero "a character device" \
	verify good.tar.zst --db /dev/zero

# A rules directory with a FIFO among its files: a problem of 'rules
# check', and of every command that loads the rules.
cp -R "$RULES_IN_USE" rules
mkfifo rules/labels/zz.rules
timeout 10 ${GSR_EXEC_PREFIX:-} "$GSR" rules check rules > out.txt 2> err.txt
is "$?" 8 "FIFO in a rules directory: rules check exits 8"
like "$(cat err.txt)" "^rules/labels/zz\.rules:0: is a FIFO, not a regular file$" \
	"FIFO in a rules directory: the file named"
timeout 10 ${GSR_EXEC_PREFIX:-} "$GSR" --rules-dir rules identify real.db > out.txt 2> err.txt
is "$?" 8 "FIFO in a rules directory: identify exits 8"
like "$(head -n 1 err.txt)" "zz\.rules:0: is a FIFO, not a regular file" \
	"FIFO in a rules directory: identify names it"

done_testing
