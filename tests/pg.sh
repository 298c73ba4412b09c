# tests/pg.sh -- a private PostgreSQL server for the tests.  Source it
# after tests/lib.sh; then pg_start (fails the script when the server
# cannot start: the tests never skip), pg_url DB, pg_psql DB ARGS...
#
# The server is Debian's postgresql package (binaries found with
# pg_config --bindir, else /usr/lib/postgresql/*/bin), initdb'd into a
# directory of its own, listening on a unix socket only, and run as
# `nobody` when the tests run as root.  It is stopped and removed on
# exit, also when a test fails.

PG_BIN=
for _d in "$(pg_config --bindir 2>/dev/null)" /usr/lib/postgresql/*/bin; do
	if [ -x "$_d/initdb" ] && [ -x "$_d/pg_ctl" ]; then PG_BIN=$_d; break; fi
done
PG_DIR=
PG_SOCK=

# pg_as CMD... -- run CMD as the server's user.
pg_as() {
	if [ "$(id -u)" = 0 ]; then
		runuser -u nobody -- "$@"
	else
		"$@"
	fi
}

pg_stop() {
	[ -n "$PG_DIR" ] || return 0
	pg_as "$PG_BIN/pg_ctl" -D "$PG_DIR/data" -m immediate -w stop > /dev/null 2>&1
	rm -rf "$PG_DIR"
	PG_DIR=
}

pg_start() {
	if [ -z "$PG_BIN" ]; then
		echo "Bail out! no PostgreSQL server binaries (apt-get install postgresql)"
		exit 1
	fi
	PG_DIR=$(mktemp -d "${TMPDIR:-/tmp}/gsr-pg.XXXXXX")
	chmod 755 "$PG_DIR"
	PG_SOCK=$PG_DIR/sock
	mkdir "$PG_SOCK"
	[ "$(id -u)" = 0 ] && chown nobody "$PG_DIR" "$PG_SOCK"
	trap 'pg_stop; rm -rf "$T_SCRATCH"' EXIT
	trap 'exit 1' INT TERM
	if ! pg_as "$PG_BIN/initdb" -D "$PG_DIR/data" -U gsr -A trust -E UTF8 \
		--locale=C.UTF-8 > "$PG_DIR/initdb.log" 2>&1 ||
	   ! pg_as "$PG_BIN/pg_ctl" -D "$PG_DIR/data" -l "$PG_DIR/server.log" -w -t 30 \
		-o "-k $PG_SOCK -c listen_addresses='' -c fsync=off" start > /dev/null 2>&1; then
		echo "Bail out! cannot start PostgreSQL:"
		cat "$PG_DIR/initdb.log" "$PG_DIR/server.log" 2>/dev/null | sed 's/^/# /' | tail -n 20
		exit 1
	fi
}

# pg_url DB -- the libpq URI of database DB on the test server.
pg_url() {
	echo "postgresql://gsr@/$1?host=$PG_SOCK"
}

# pg_psql DB ARGS... -- psql on database DB, quiet, stopping on errors.
pg_psql() {
	_db=$1
	shift
	psql -X -q -v ON_ERROR_STOP=1 -h "$PG_SOCK" -U gsr -d "$_db" "$@"
}

# pg_createdb NAME -- an empty database.
pg_createdb() {
	pg_psql postgres -c "CREATE DATABASE \"$1\"" > /dev/null
}
