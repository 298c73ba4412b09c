#!/bin/sh
# The evidence is never changed: no file is written beside it, its bytes
# are the same after the run, and the report proves it with SHA-256.
. "$GSR_TOP/tests/lib.sh"

mkdir ev
mkcase 1 ev/database.db
before=$(sha256sum ev/database.db | cut -d' ' -f1)
listing() { find ev -printf '%p %s %m %T@\n' | sort; }
listing > listing.before
gsr identify --json ev/database.db > out.json 2> err.txt
is $? 4 "case 1 identified"
listing > listing.after
golden listing.after listing.before "directory unchanged: no -shm, -journal or -wal created"
is "$(sha256sum ev/database.db | cut -d' ' -f1)" "$before" "database bytes unchanged"
is "$(jqr out.json '.input[0].sha256')" "$before" "report gives the input's SHA-256"
is "$(jqr out.json '.input[0].sha256_after')" "$before" "report gives the SHA-256 after the run"
is "$(jqr out.json '.input[0].unchanged')" true "report says unchanged"

# A WAL database with transactions still in its -wal: the report sees
# them, and the -wal and the database are left exactly as they were.
mkdb 0.7.1 wal.db
# no_ckpt_on_close keeps the last transaction in the -wal.
cat > writer.sql <<'SQL'
.dbconfig no_ckpt_on_close on
INSERT INTO users (id, username, is_admin, require_password_change, hashed_password,
  created_at, updated_at, source) VALUES (7, 'walonly', 0, 0, 'x', '2025-09-01', '2025-09-01', 'Local');
SQL
sqlite3 wal.db < writer.sql > /dev/null
cp wal.db walcopy.db
cp wal.db-wal walcopy.db-wal
ok "fixture has a non-empty -wal" [ -s walcopy.db-wal ]
sum_db=$(sha256sum walcopy.db | cut -d' ' -f1)
sum_wal=$(sha256sum walcopy.db-wal | cut -d' ' -f1)
gsr identify --json walcopy.db > out.json 2> err.txt
is $? 0 "WAL database: a healthy 0.7.1"
is "$(jq '[.tables[] | select(.name == "users")][0].rows' out.json)" 1 "WAL database: the row in the -wal is seen"
is "$(jqr out.json '[.input[].role] | join(",")')" "database,wal" "WAL database: both files are inputs"
is "$(jqr out.json '[.input[].unchanged] | all')" true "WAL database: both unchanged"
is "$(sha256sum walcopy.db | cut -d' ' -f1)" "$sum_db" "WAL database: database bytes unchanged"
is "$(sha256sum walcopy.db-wal | cut -d' ' -f1)" "$sum_wal" "WAL database: -wal bytes unchanged"
ok "WAL database: no -shm created" [ ! -e walcopy.db-shm ]
like "$(jq -r '[.findings[].code] | join(" ")' out.json)" wal-present "WAL database: -wal reported"

# No DB argument: GPUStack's own location, named on stderr.
mkdir -p data
mkdb 0.6.0 data/database.db
GPUSTACK_DATA_DIR="$T_SCRATCH/data" gsr identify --json > out.json 2> err.txt
is $? 0 "default location: identified"
like "$(cat err.txt)" "no DB given: using GPUStack's database '$T_SCRATCH/data/database.db'" \
	"default location: the file taken is named"
is "$(jqr out.json .located)" true "default location: located is true"

# No database there: the message says the path came from
# GPUSTACK_DATA_DIR (or that it is GPUStack's default location).
mkdir -p nodata
for cmd in identify "identify --json" "export -o exp" "rebuild --to 0.6.0"; do
	GPUSTACK_DATA_DIR="$T_SCRATCH/nodata" gsr $cmd > out.txt 2> err.txt
	is $? 8 "$cmd, nothing at \$GPUSTACK_DATA_DIR: exit 8"
	is "$(cat err.txt)" "gsrecover: cannot open '$T_SCRATCH/nodata/database.db': No such file or directory (no DB given: the path is \$GPUSTACK_DATA_DIR/database.db)" \
		"$cmd, nothing at \$GPUSTACK_DATA_DIR: the variable named, one line"
	is "$(wc -c < out.txt | tr -d ' ')" 0 "$cmd, nothing at \$GPUSTACK_DATA_DIR: nothing on stdout"
done
GPUSTACK_DATA_DIR="$T_SCRATCH/nodata/" gsr identify > out.txt 2> err.txt
like "$(cat err.txt)" "'$T_SCRATCH/nodata/database.db': .*the path is \\\$GPUSTACK_DATA_DIR/database.db" \
	"a trailing slash in \$GPUSTACK_DATA_DIR: the same path"
if [ ! -e /var/lib/gpustack/database.db ]; then
	env -u GPUSTACK_DATA_DIR "$GSR" identify > out.txt 2> err.txt
	is $? 8 "nothing at GPUStack's default location: exit 8"
	is "$(cat err.txt)" "gsrecover: cannot open '/var/lib/gpustack/database.db': No such file or directory (no DB given: GPUStack's default location, as GPUSTACK_DATA_DIR is not set)" \
		"nothing at GPUStack's default location: said so"
fi

# Another process holding the database open (a running server) is named.
(exec 3< data/database.db; exec sleep 60) &
holder=$!
sleep 0.5
GPUSTACK_DATA_DIR="$T_SCRATCH/data" gsr identify --json > out.json 2> err.txt
like "$(cat err.txt)" "warning: process [0-9]+ \(sleep\) has .* open: is the GPUStack server running\?" \
	"holder: warned"
like "$(jq -r '[.findings[].code] | join(" ")' out.json)" database-in-use "holder: finding"
kill $holder 2> /dev/null
wait

# Interrupted runs leave no working copy behind.
export TMPDIR="$T_SCRATCH/tmp"
mkdir -p "$TMPDIR"
gsr identify --json ev/database.db > /dev/null 2>&1
is "$(ls "$TMPDIR" | wc -l | tr -d ' ')" 0 "working copy removed after a run"

done_testing
