# migrate into a real PostgreSQL server (tests/pg.sh): rows compared
# value by value, the schema compared with the carried dump, atomicity,
# refusals, the password kept out of every output.
. "$GSR_TOP/tests/lib.sh"
. "$GSR_TOP/tests/pg.sh"
pg_start

# same_rows PGDB SQLITE.db -- every table of PGDB's public schema, every
# column, ordered, against the same table of the SQLite database:
# booleans as 0/1, timestamps to the millisecond, floats to 6 places.
same_rows() {
	_ok=0
	for _t in $(pg_psql "$1" -At -c "SELECT table_name FROM information_schema.tables
		WHERE table_schema = 'public' AND table_name <> 'alembic_version' ORDER BY 1"); do
		_pgc= _sqc=
		while IFS='|' read -r _c _ty; do
			case $_ty in
			boolean) _p="($_c)::int"; _s="$_c" ;;
			timestamp*) _p="to_char($_c, 'YYYY-MM-DD HH24:MI:SS.MS')"
				_s="strftime('%Y-%m-%d %H:%M:%f', $_c)" ;;
			double*|real|numeric) _p="round(($_c)::numeric, 6)"
				_s="CASE WHEN $_c IS NULL THEN NULL ELSE printf('%.6f', $_c) END" ;;
			*) _p="($_c)::text"; _s="$_c" ;;
			esac
			_pgc="${_pgc:+$_pgc, }$_p"
			_sqc="${_sqc:+$_sqc, }$_s"
		done <<-EOT
		$(pg_psql "$1" -At -c "SELECT quote_ident(column_name), data_type FROM information_schema.columns
			WHERE table_schema = 'public' AND table_name = '$_t' ORDER BY ordinal_position")
		EOT
		_ord="1, 2"
		case ", $_pgc" in *", (id)::text"*) _ord="$_t.id" ;; esac
		pg_psql "$1" -At -c "SELECT $_pgc FROM $_t ORDER BY $_ord" > pg.rows
		sqlite3 "$2" "SELECT $_sqc FROM $_t ORDER BY $_ord" > sq.rows
		if ! cmp -s pg.rows sq.rows; then
			echo "# $_t differs:"; diff sq.rows pg.rows | head -n 5 | sed 's/^/# /'
			_ok=1
		fi
	done
	return $_ok
}

# schema_of PGDB -- pg_dump --schema-only, as the rules' dump was cut.
schema_of() {
	pg_dump -h "$PG_SOCK" -U gsr --schema-only --no-owner --no-privileges "$1" |
		grep -v -e '^--' -e '^SET ' -e '^SELECT pg_catalog.set_config' -e '^\\' -e '^$'
}
carried() {
	grep -v -e '^--' -e '^SET ' -e '^SELECT pg_catalog.set_config' -e '^\\' -e '^$' \
		"$RULES_IN_USE/migrate/postgres-0.7.1.sql"
}

# --- a populated 0.7.1 database in WAL mode --------------------------------
mkdb 0.7.1 v071.db
sqlite3 -bail v071.db < "$FIX/populate-0.6.0.sql" > /dev/null
sqlite3 -bail v071.db "UPDATE models SET backend = 'llama-box' WHERE id <= 3;
	UPDATE models SET source = 'OLLAMA_LIBRARY', ollama_library_model_name = 'x' WHERE id = 4;
	INSERT INTO users (id, username, is_admin, full_name, require_password_change,
	  hashed_password, created_at, updated_at)
	VALUES (900, 'tab	and
newline \\ back', 0, NULL, 0, 'h', '2025-05-01T10:00:00.123456', '2025-05-01 10:00:00');"
pg_createdb d071
gsr migrate v071.db --database-url "$(pg_url d071)" -o v071.out.db \
	--archive v071.tar.zst --json > v071.json 2> err.txt
is $? 0 "0.7.1: loaded, exit 0"
is "$(jqr v071.json '.target.loaded')" true "0.7.1: JSON says loaded"
is "$(jqr v071.json '.load.quarantined')" 0 "0.7.1: nothing quarantined"
is "$(jqr v071.json '[.load.tables[] | select(.rebuilt_rows != .imported + .quarantined)] | length')" 0 \
	"0.7.1: rebuilt = imported + quarantined for every table"
ok "0.7.1: PostgreSQL holds the rebuilt rows, value by value" same_rows d071 v071.out.db
is "$(pg_psql d071 -At -c 'SELECT version_num FROM alembic_version')" d19176de3b74 \
	"0.7.1: alembic_version is d19176de3b74"
is "$(pg_psql d071 -At -c "SELECT username FROM users WHERE id = 900")" "$(sqlite3 v071.out.db 'SELECT username FROM users WHERE id = 900')" \
	"0.7.1: tabs, newlines and backslashes survive COPY"
is "$(pg_psql d071 -At -c "SELECT nextval('users_id_seq'), nextval('models_id_seq')")" "901|3001" \
	"0.7.1: sequences go on after the largest id"
is "$(jqr v071.json '[.effects_2x[] | select(.applies) | .name] | join(",")')" \
	"ollama-library-models-deleted,llama-box-backend-dropped,instance-ports-filled,api-key-scope-set,users-become-principals" \
	"0.7.1: the report lists the 2.x effects that apply"
is "$(jqr v071.json '.effects_2x[] | select(.name == "llama-box-backend-dropped") | .rows')" 3 \
	"0.7.1: three llama-box models"
schema_of d071 > got.sql
carried > want.sql
golden got.sql want.sql "0.7.1: pg_dump --schema-only of the load is the carried schema"
ok "0.7.1: the archive was written" test -s v071.tar.zst

# --- a populated 0.5.1 and 0.3.2 --------------------------------------------
mkdb 0.5.1 v051.db
sqlite3 -bail v051.db <<'SQL'
INSERT INTO users (id, username, is_admin, require_password_change, hashed_password, created_at, updated_at)
VALUES (1, 'admin', 1, 0, 'h1', '2025-02-01', '2025-02-01');
INSERT INTO models (id, source, name, replicas, ready_replicas, created_at, updated_at, categories, meta)
VALUES (1, 'HUGGING_FACE', 'm', 1, 0, '2025-02-02', '2025-02-02', '["llm"]', '{"k":1}'),
       (2, 'HUGGING_FACE', 'bad', 1, 0, '2025-02-02', '2025-02-02', '["llm"', '{}');
INSERT INTO workers (id, name, hostname, ip, state, status, created_at, updated_at, port, unreachable)
VALUES (1, 'w', 'w', '10.0.0.3', 'READY', '{"gpu_devices":[]}', '2025-02-03', '2025-02-03', 20000, 1);
INSERT INTO model_instances (id, source, name, state, model_id, model_name, created_at, updated_at, distributed_servers)
VALUES (1, 'HUGGING_FACE', 'm-1', 'ERROR', 1, 'm', '2025-02-04', '2025-02-04', 'null'),
       (2, 'HUGGING_FACE', 'bad-1', 'ERROR', 2, 'bad', '2025-02-04', '2025-02-04', 'null');
SQL
pg_createdb d051
gsr migrate v051.db --database-url "$(pg_url d051)" -o v051.out.db --no-archive --json > v051.json 2> err.txt
is $? 4 "0.5.1: loaded with rows quarantined, exit 4"
is "$(jqr v051.json '[.load.quarantine[] | .table + ":" + (.rowid|tostring)] | join(",")')" \
	"models:2,model_instances:2" "0.5.1: invalid JSON quarantined, and its instance with it"
like "$(jqr v051.json '.load.quarantine[0].reason')" 'categories is not valid JSON' \
	"0.5.1: the reason names the column"
is "$(pg_psql d051 -At -c 'SELECT count(*) FROM models')" 1 "0.5.1: the good model is loaded"
sqlite3 v051.out.db "DELETE FROM model_instances WHERE id = 2; DELETE FROM models WHERE id = 2"
ok "0.5.1: PostgreSQL holds the rebuilt rows less the quarantined ones" same_rows d051 v051.out.db

mkdb 0.3.2 v032.db
sqlite3 -bail v032.db <<'SQL'
INSERT INTO users (id, username, is_admin, require_password_change, hashed_password, created_at, updated_at)
VALUES (1, 'admin', 1, 0, 'h1', '2024-10-01 08:00:00', '2024-10-01 08:00:00');
INSERT INTO models (id, source, name, replicas, ready_replicas, created_at, updated_at)
VALUES (1, 'OLLAMA_LIBRARY', 'llama3', 1, 0, '2024-10-02 08:00:00', '2024-10-02 08:00:00');
SQL
pg_createdb d032
gsr migrate v032.db --database-url "$(pg_url d032)" -o v032.out.db --no-archive > v032.txt 2> err.txt
is $? 1 "0.3.2: loaded, repaired on the way, exit 1"
ok "0.3.2: PostgreSQL holds the rebuilt rows" same_rows d032 v032.out.db
like "$(cat v032.txt)" 'legacy-cache-not-moved' "0.3.2: the report says the cache moves are skipped"
like "$(cat v032.txt)" 'ollama-library-models-deleted.*1 models' "0.3.2: the Ollama model v2.0.2 deletes"
like "$(cat v032.txt)" 'models-without-workers' "0.3.2: models without workers stop the 2.x upgrade"

# --- field case 1 -------------------------------------------------------------
mkcase 1 case1.db
pg_createdb dcase1
gsr migrate case1.db --database-url "$(pg_url dcase1)" --no-archive --json > case1.json 2> err.txt
is $? 4 "case 1: loaded, rebuild quarantined the orphan api key: exit 4"
is "$(pg_psql dcase1 -At -c 'SELECT count(*) FROM users')|$(pg_psql dcase1 -At -c 'SELECT count(*) FROM api_keys')" \
	"2|1" "case 1: users and the live api key are in PostgreSQL"
is "$(jqr case1.json '.load.quarantined')" 0 "case 1: PostgreSQL refuses none of the rebuilt rows"

# --- rows PostgreSQL refuses land in the archive's quarantine -------------------
# A model whose replicas overflow PostgreSQL's integer and its instance
# (an orphan once the model is quarantined): migrate's quarantine pass.  A
# model whose source is outside the enum and its instance, an api key of a
# user that does not exist: the rebuild's own checks.
mkdb 0.7.1 refuse.db
sqlite3 -bail refuse.db <<'SQL'
INSERT INTO users (id, username, is_admin, require_password_change, hashed_password, created_at, updated_at)
VALUES (1, 'admin', 1, 0, 'h1', '2025-06-01', '2025-06-01');
INSERT INTO api_keys (id, name, access_key, hashed_secret_key, user_id, created_at, updated_at)
VALUES (1, 'live', 'a1', 's1', 1, '2025-06-01', '2025-06-01'), (2, 'orphan', 'a2', 's2', 77, '2025-06-01', '2025-06-01');
INSERT INTO models (id, source, name, replicas, ready_replicas, created_at, updated_at, categories, meta)
VALUES (1, 'HUGGING_FACE', 'good', 1, 0, '2025-06-02', '2025-06-02', '["llm"]', '{}'),
       (2, 'NOT_A_SOURCE', 'odd', 1, 0, '2025-06-02', '2025-06-02', '["llm"]', '{}'),
       (3, 'HUGGING_FACE', 'huge', 99999999999, 0, '2025-06-02', '2025-06-02', '["llm"]', '{}');
INSERT INTO model_instances (id, source, name, state, model_id, model_name, created_at, updated_at, distributed_servers)
VALUES (1, 'HUGGING_FACE', 'good-1', 'RUNNING', 1, 'good', '2025-06-03', '2025-06-03', 'null'),
       (2, 'HUGGING_FACE', 'odd-1', 'RUNNING', 2, 'odd', '2025-06-03', '2025-06-03', 'null'),
       (3, 'HUGGING_FACE', 'huge-1', 'RUNNING', 3, 'huge', '2025-06-03', '2025-06-03', 'null');
SQL
pg_createdb drefuse
gsr migrate refuse.db --database-url "$(pg_url drefuse)" --archive refuse.tar.zst --json > refuse.json 2> err.txt
is $? 4 "refused rows: loaded with rows quarantined, exit 4"
mkdir rq && tar --zstd -xf refuse.tar.zst -C rq
like "$(cat rq/quarantine/*models.jsonl)" '"rowid":3,"reason":"PostgreSQL would refuse it: replicas' \
	"refused rows: the model PostgreSQL refuses is in the archive's quarantine, with its reason"
like "$(cat rq/quarantine/*model_instances.jsonl)" '"rowid":3,"reason":"its models row went to the quarantine: PostgreSQL enforces the foreign key"' \
	"refused rows: its orphaned instance too"
like "$(cat rq/quarantine/*models.jsonl)" '"rowid":2,"reason":".source. is not one of the names' \
	"refused rows: the model outside the enum (the rebuild's check)"
like "$(cat rq/quarantine/*api_keys.jsonl)" '"rowid":2,.*"user_id":77' \
	"refused rows: the orphaned api key (the rebuild's foreign keys)"
gsr verify refuse.tar.zst > /dev/null 2>&1
is $? 0 "refused rows: gsrecover verify passes on the archive"
is "$(jq -c '[.rows.source, .rows.imported, .rows.quarantined]' rq/rebuild/report.json)" "[9,4,5]" \
	"refused rows: the archive's report counts every quarantined row"
is "$(jqr refuse.json '.load.quarantined')" 2 "refused rows: the JSON lists migrate's two"
for t in users api_keys models model_instances; do
	is "$(( $(pg_psql drefuse -At -c "SELECT count(*) FROM $t") + $(cat rq/quarantine/*"$t".jsonl 2>/dev/null | wc -l) ))" \
		"$(sqlite3 refuse.db "SELECT count(*) FROM $t")" \
		"refused rows: $t: source rows = rows in PostgreSQL + rows in the archive's quarantine"
done

# --- a mixture of builds (main-8b0de82b's database used by main-f5849cf1) -----
mkdb main-f5849cf1-from-8b0de82b mix.db
sqlite3 -bail mix.db <<'SQL'
INSERT INTO clusters (id, name, provider, state, hashed_suffix, registration_token)
VALUES (1, 'Default Cluster', 'Custom', 3, 'abcdef012345', 'gpustack_0123456789abcdef_0123456789abcdef0123456789abcdef');
INSERT INTO users (id, username, is_admin, require_password_change, hashed_password, created_at, updated_at, is_system)
VALUES (1, 'admin', 1, 0, 'h1', '2025-09-20', '2025-09-20', 0);
INSERT INTO models (id, source, name, replicas, ready_replicas, created_at, updated_at, cluster_id, categories)
VALUES (1, 'HUGGING_FACE', 'm1', 1, 1, '2025-09-21', '2025-09-21', 1, '["llm"]');
SQL
pg_createdb dmix
gsr migrate mix.db --database-url "$(pg_url dmix)" --no-archive --json > mix.json 2> err.txt
is $? 4 "a mixture: loaded, its 2.x tables quarantined by the rebuild, exit 4"
is "$(jqr mix.json '.rebuild.source.label')" main-f5849cf1-from-8b0de82b "a mixture: the rebuild names the upgrade path"
is "$(pg_psql dmix -At -c 'SELECT (SELECT count(*) FROM users)::text || (SELECT count(*) FROM models)::text')" 11 \
	"a mixture: its user and model are in PostgreSQL"

# --- a schema of its own (libpq's options=-csearch_path=...) ------------------
pg_createdb dschema
pg_psql dschema -c "CREATE SCHEMA gs"
gsr migrate v051.db --database-url "$(pg_url dschema)&options=-csearch_path%3Dgs" --no-archive > /dev/null 2> err.txt
is $? 4 "schema gs: loaded"
is "$(pg_psql dschema -At -c 'SELECT count(*) FROM gs.models')|$(pg_psql dschema -At -c "SELECT count(*) FROM information_schema.tables WHERE table_schema = 'public'")" \
	"1|0" "schema gs: the tables are in gs, none in public"
is "$(pg_psql dschema -At -c "SELECT pg_get_serial_sequence('gs.models', 'id')")" "gs.models_id_seq" \
	"schema gs: the ids' sequences are gs's"

# --- a server that ends idle transactions after 1 ms ---------------------------
# The transaction is open while the rebuild runs; the server's timeouts
# (here the session's, through libpq's options) must not end it.
pg_createdb didle
gsr migrate v051.db --database-url "$(pg_url didle)&options=-cidle_in_transaction_session_timeout%3D1" --no-archive > /dev/null 2> err.txt
is $? 4 "idle timeout of 1 ms: loaded"
is "$(pg_psql didle -At -c 'SELECT count(*) FROM models')" 1 "idle timeout of 1 ms: the rows are in"

# --- dry run --------------------------------------------------------------------
pg_createdb ddry
gsr migrate v051.db --database-url "$(pg_url ddry)" --dry-run --json > dry.json 2> err.txt
is $? 4 "dry run: exit as the load would"
is "$(jqr dry.json '.target.loaded')|$(jqr dry.json '.load.quarantined')" "false|2" \
	"dry run: the same quarantine, nothing loaded"
is "$(pg_psql ddry -At -c "SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = 'public'")" 0 \
	"dry run: nothing written to the server"
is "$(ls | grep -c 'v051.db.audit\|rebuilt')" 0 "dry run: no file written"

# --- refusals: a one-line error, exit 8, nothing written --------------------------
refused() { # DESC PATTERN ARGS...
	_d=$1 _p=$2
	shift 2
	: > out.txt
	: > err.txt
	ls | grep -v '\.ls$' > before.ls
	gsr migrate v051.db "$@" > out.txt 2> err.txt
	is $? 8 "$_d: exit 8"
	is "$(wc -l < err.txt | tr -d ' ')" 1 "$_d: one line on stderr"
	like "$(cat err.txt)" "$_p" "$_d: says why"
	ls | grep -v '\.ls$' > after.ls
	ok "$_d: no file written" cmp -s before.ls after.ls
	ok "$_d: the password appears nowhere" sh -c '! grep -q s3cret out.txt err.txt'
}
refused "no server listening" "cannot connect to PostgreSQL" \
	--database-url "postgresql://gsr:s3cret@/d051?host=$PG_DIR/nowhere"
pg_psql postgres -c "CREATE ROLE pw LOGIN PASSWORD 'right'" > /dev/null
sed -i 's/^local .*/local all pw password\nlocal all all trust/' "$PG_DIR/data/pg_hba.conf"
pg_psql postgres -c "SELECT pg_reload_conf()" > /dev/null
refused "authentication refused" "password authentication failed" \
	--database-url "host=$PG_SOCK user=pw password=s3cret dbname=postgres"
refused "no such database" 'database "nosuch" does not exist' \
	--database-url "postgresql://gsr:s3cret@/nosuch?host=$PG_SOCK"
pg_createdb dbusy
pg_psql dbusy -c "CREATE TABLE keep (x int); INSERT INTO keep VALUES (1)"
refused "a non-empty target" 'is not empty .*keep' \
	--database-url "postgresql://gsr:s3cret@/dbusy?host=$PG_SOCK"
is "$(pg_psql dbusy -At -c 'SELECT count(*) FROM keep')" 1 "a non-empty target: left as it was"
refused "a target already at a GPUStack revision" 'already holds a GPUStack database at revision d19176de3b74' \
	--database-url "postgresql://gsr:s3cret@/d051?host=$PG_SOCK"
gsr migrate v051.db --database-url "postgresql://gsr:s3cret@/d051?host=$PG_SOCK" --json > pw.json 2> err.txt
ok "JSON of a refusal or a load never holds the password" sh -c '! grep -q s3cret pw.json err.txt'

# --- atomicity: a load killed half-way leaves nothing, a second run works -----------
sqlite3 -bail v071.db "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 300000)
	INSERT INTO system_loads (timestamp, cpu, ram, gpu, vram)
	SELECT 1700000000 + i, 0.5, 0.25, 0, 0 FROM n;"
pg_createdb dkill
${GSR_EXEC_PREFIX:-} "$GSR" migrate v071.db --database-url "$(pg_url dkill)" --no-archive > kill.txt 2> kill.err &
pid=$!
i=0
until [ "$(pg_psql dkill -At -c "SELECT count(*) FROM pg_stat_activity WHERE query LIKE 'COPY%system_loads%' AND datname = 'dkill'")" = 1 ] || [ $i -ge 600 ]; do
	sleep 0.05
	i=$((i + 1))
done
kill -TERM $pid
wait $pid
is $? 32 "killed during COPY: exit 32"
is "$(pg_psql dkill -At -c "SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = 'public'")" 0 \
	"killed during COPY: the target holds nothing"
gsr migrate v071.db --database-url "$(pg_url dkill)" --no-archive > /dev/null 2> err.txt
is $? 0 "a second run after the kill loads"
is "$(pg_psql dkill -At -c 'SELECT count(*) FROM system_loads')" "$(sqlite3 v071.db 'SELECT count(*) FROM system_loads')" \
	"a second run after the kill: every row"

# --- rules check reads the migration rules -------------------------------------
cp -r "$RULES_IN_USE" rules.copy
echo "bogus x" >> rules.copy/migrate/effects-2x.migrate
gsr rules check rules.copy > /dev/null 2> err.txt
is $? 8 "rules check: a bad migration rule fails the check"
like "$(cat err.txt)" "effects-2x.migrate:[0-9]+: unknown key 'bogus'" "rules check: names file and line"
rm -rf rules.copy
cp -r "$RULES_IN_USE" rules.copy
sed -i "s/^where backend = 'llama-box'$/where backnd = 'llama-box'/" rules.copy/migrate/effects-2x.migrate
gsr rules check rules.copy > /dev/null 2> err.txt
is $? 8 "rules check: a where clause naming no column fails the check"
like "$(cat err.txt)" "effects-2x.migrate:[0-9]+: effect llama-box-backend-dropped: where over models of 0.7.1: no such column: backnd" \
	"rules check: names the effect, its file and line, and SQLite's reason"
sed -i "s/^where backnd = 'llama-box'$/where \"backend\" = \"llama-box\"/" rules.copy/migrate/effects-2x.migrate
gsr rules check rules.copy > /dev/null 2> err.txt
is $? 8 "rules check: a double-quoted string in a where clause fails the check"
pg_createdb dcheck
gsr migrate v051.db --database-url "$(pg_url dcheck)" --rules-dir rules.copy > /dev/null 2> err.txt
is $? 8 "migrate refuses rules whose where clause does not prepare"
like "$(cat err.txt)" "effect llama-box-backend-dropped: where over models" "migrate: says which effect"

done_testing
