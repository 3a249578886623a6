#!/usr/bin/env bash
# test_graph_postgres.sh — the graph store on Redland's postgresql storage
# (graph.storage = postgresql), against a real PostgreSQL server this test
# starts on loopback (initdb into a temp dir, its own port and socket dir,
# stopped by the trap whatever happens).  The sample corpus goes into a KB
# on PostgreSQL; the same KB rebuilt on the embedded Berkeley DB store
# gives the same quads (export), SPARQL answers and subgraph; a second KB
# in the same database does not touch the first, and cairn check sees
# damage done to it on the server and cairn graph rebuild repairs it;
# deleting a document removes exactly its contexts; a password (PGPASSWORD, over TCP
# with SCRAM) works, a wrong one or a wrong port is a clear error with no
# password in it; a password in the conninfo is refused.
# Skips (77) only when the PostgreSQL server binaries are absent.
set -u
BIN="${CAIRN_BIN:?}"
SRC="${CAIRN_SRC:?}"
PGBIN=""
for d in /usr/lib/postgresql/*/bin; do [ -x "$d/initdb" ] && PGBIN="$d"; done
[ -z "$PGBIN" ] && command -v pg_config >/dev/null && [ -x "$(pg_config --bindir)/initdb" ] && PGBIN="$(pg_config --bindir)"
if [ -z "$PGBIN" ]; then echo "SKIP: no PostgreSQL server binaries (apt-get install postgresql)"; exit 77; fi
. "$(dirname "$0")/lib.sh"
# under LeakSanitizer: librdf-storage-postgresql's own leak (tests/lsan.supp;
# the full stacks are needed to match it)
export LSAN_OPTIONS="suppressions=$SRC/tests/lsan.supp:fast_unwind_on_malloc=0:print_suppressions=0${LSAN_OPTIONS:+:$LSAN_OPTIONS}"

T="${CAIRN_TMP:-/tmp}/graph_postgres.$$"
# the server's directory: short (the socket path has a length limit) and
# reachable by the user it runs as
PGD=$(mktemp -d "${TMPDIR:-/tmp}/cairn-pg.XXXXXX")
rm -rf "$T"; mkdir -p "$T"
AS=()                     # PostgreSQL refuses to run as root
if [ "$(id -u)" = 0 ]; then
  if ! id postgres >/dev/null 2>&1; then echo "SKIP: running as root and there is no postgres user"; rm -rf "$T" "$PGD"; exit 77; fi
  chown postgres "$PGD"
  AS=(runuser -u postgres --)
fi
stop_server() {
  [ -f "$PGD/data/postmaster.pid" ] && "${AS[@]}" "$PGBIN/pg_ctl" -D "$PGD/data" -m immediate -w stop >/dev/null 2>&1
  rm -rf "$PGD" "$T"
}
trap stop_server EXIT
trap 'exit 1' INT TERM HUP              # ... through the EXIT trap
PW="pw-$$-Zq8"           # the role's password; must never appear in cairn's output
printf '%s\n' "$PW" > "$PGD/pwfile"
[ "$(id -u)" = 0 ] && chown postgres "$PGD/pwfile"
"${AS[@]}" "$PGBIN/initdb" -D "$PGD/data" -U cairn --pwfile="$PGD/pwfile" --auth-local=trust \
  --auth-host=scram-sha-256 >"$PGD/initdb.log" 2>&1 || { cat "$PGD/initdb.log"; echo "FAIL: initdb"; exit 1; }
mkdir -p "$PGD/sock"; [ "$(id -u)" = 0 ] && chown postgres "$PGD/sock"
PORT=""
for try in 1 2 3 4 5 6 7 8; do
  p=$(( 20000 + (RANDOM * 7 + $$ + try) % 30000 ))
  (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null && continue      # taken
  if "${AS[@]}" "$PGBIN/pg_ctl" -D "$PGD/data" -l "$PGD/server.log" -w -t 60 \
       -o "-p $p -k $PGD/sock -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c log_min_messages=fatal" \
       start >/dev/null 2>&1; then PORT=$p; break; fi
done
[ -n "$PORT" ] || { tail -20 "$PGD/server.log" 2>/dev/null; echo "FAIL: cannot start PostgreSQL"; exit 1; }
"${AS[@]}" "$PGBIN/createdb" -h "$PGD/sock" -p "$PORT" -U cairn cairn || { echo "FAIL: createdb"; exit 1; }
psql() { "${AS[@]}" "$PGBIN/psql" -h "$PGD/sock" -p "$PORT" -U cairn -d cairn -At -c "$1"; }
SOCK="host=$PGD/sock port=$PORT dbname=cairn user=cairn"
same() { [ "$1" = "$2" ] && ok || bad "$3: got '${1:0:200}', want '${2:0:200}'"; }
nopw() { grep -q -- "$PW" <<<"$1" && bad "the password is in the output of $2" || ok; }
exp() { "$BIN" graph export "$1" --format nquads 2>/dev/null | LC_ALL=C sort; }
sc() { "$BIN" graph sparql "$1" "$2" --limit 100000 --timeout-ms 300000 | LC_ALL=C sort; }

# ---- a KB on PostgreSQL, the sample corpus
KP="$T/kbpg"
expect 0 "PostgreSQL model cairn_" -- "$BIN" init "$KP" --graph-storage postgresql --graph-conninfo "$SOCK"
grep -q '"storage":[[:space:]]*"postgresql"' "$KP/cairn.json" && ok || bad "graph.storage in cairn.json"
expect 0 " 0 failed" -- "$BIN" ingest "$KP" "$SRC/datasets/corpus"
grep -q '^clean 1$' "$KP/graph/state" && grep -q "^storage postgresql host=$PGD/sock port=$PORT dbname=cairn user=cairn model=cairn_" "$KP/graph/state" \
  && ok || bad "state names the PostgreSQL store: $(cat "$KP/graph/state")"
ls "$KP/graph/"*.db >/dev/null 2>&1 && bad "Berkeley DB files written for a PostgreSQL store" || ok
MODEL=$(sed -n 's/.*model=//p' "$KP/graph/state")
MID=$(psql "SELECT ID FROM Models WHERE Name = '$MODEL'")
NP=$(psql "SELECT count(*) FROM statements$MID")
[ "${NP:-0}" -gt 10000 ] && ok || bad "the server holds the triples: '$NP'"
same "$(psql "SELECT count(*) FROM pg_indexes WHERE tablename = 'statements$MID'")" 2 "context and s,p,o indexes"
expect 0 "all checks passed" -- "$BIN" check "$KP"

# ---- the same KB on the embedded store: the same quads and answers
KB="$T/kbbdb"
cp -a "$KP" "$KB"
sed -i 's/"storage":[[:space:]]*"postgresql"/"storage": "bdb"/' "$KB/cairn.json"
# the state names the PostgreSQL model: the store is rebuilt on the files
expect 0 "true" -- "$BIN" graph sparql "$KB" 'ASK { ?s ?p ?o }'
[ -s "$KB/graph/cairn-sp2o.db" ] && ! grep -q '^storage' "$KB/graph/state" && ok || bad "rebuilt on bdb: $(cat "$KB/graph/state")"
expect 0 "rebuilt the graph store" -- "$BIN" graph rebuild "$KB"
EP=$(exp "$KP"); EB=$(exp "$KB")
same "$(wc -l <<<"$EP")" "$NP" "export = rows on the server"
[ -n "$EP" ] && [ "$EP" = "$EB" ] && ok || bad "export differs: $(diff <(echo "$EP") <(echo "$EB") | head -4)"
Q1='SELECT ?s ?o WHERE { ?s <urn:cairn:rel:ceo_of> ?o }'
Q2='SELECT ?g (COUNT(*) AS ?n) WHERE { GRAPH ?g { ?s ?p ?o } } GROUP BY ?g'
Q3='SELECT ?e ?l WHERE { ?e <http://www.w3.org/2000/01/rdf-schema#label> ?l }'
for q in "$Q1" "$Q2" "$Q3"; do
  A=$(sc "$KP" "$q"); B=$(sc "$KB" "$q")
  [ "$(wc -l <<<"$A")" -gt 2 ] && [ "$A" = "$B" ] && ok || bad "SPARQL differs or is empty: $q :: ${A:0:200} / ${B:0:200}"
done
# a full count over the server takes seconds (more under ASan): past the 10 s default
same "$("$BIN" graph sparql "$KP" 'SELECT (COUNT(*) AS ?n) WHERE { ?s ?p ?o }' --timeout-ms 300000)" \
     "$("$BIN" graph sparql "$KB" 'SELECT (COUNT(*) AS ?n) WHERE { ?s ?p ?o }' --timeout-ms 300000)" "SPARQL count"
QS="Who is the CFO of Norvale Systems?"
A=$("$BIN" graph subgraph "$KP" --question "$QS" --format json); B=$("$BIN" graph subgraph "$KB" --question "$QS" --format json)
grep -q '"triples":\[{' <<<"$A" && [ "$A" = "$B" ] && ok || bad "subgraph differs or is empty"
same "$("$BIN" graph triples "$KP" --predicate urn:cairn:ns#pattern 2>/dev/null | wc -l)" \
     "$("$BIN" graph triples "$KB" --predicate urn:cairn:ns#pattern 2>/dev/null | wc -l)" "triples iterator"

# ---- a second KB in the same database never touches the first
K2="$T/kb2"
expect 0 "created" -- "$BIN" init "$K2" --graph-storage postgresql --graph-conninfo "$SOCK"
expect 0 " 0 failed" -- "$BIN" ingest "$K2" "$SRC/datasets/corpus/people"
same "$(psql "SELECT count(*) FROM statements$MID")" "$NP" "the first KB's model after the second's ingestion"
E2=$(exp "$K2")
[ -n "$E2" ] && [ "$(wc -l <<<"$E2")" -lt "$NP" ] && ok || bad "the second KB has only its own quads"
expect 0 "all checks passed" -- "$BIN" check "$K2"
M2=$(psql "SELECT ID FROM Models WHERE Name = '$(sed -n 's/.*model=//p' "$K2/graph/state")'")
[ -n "$M2" ] && [ "$M2" != "$MID" ] && ok || bad "the second KB has its own model: '$M2'"
# damage on the server: cairn check sees it, cairn graph rebuild repairs it
CHUNK=$(sqlite3 "$K2/cairn.db" "select chunk_id from relations limit 1")
psql "DELETE FROM statements$M2 WHERE Context = (SELECT ID FROM Resources WHERE URI = 'urn:cairn:chunk:$CHUNK')" >/dev/null
expect 1 "graph store: [0-9]+ problem" -- "$BIN" check "$K2"
expect 0 "rebuilt the graph store of .*generation" -- "$BIN" graph rebuild "$K2"
same "$(exp "$K2")" "$E2" "export after rebuild"
expect 0 "all checks passed" -- "$BIN" check "$K2"
same "$(psql "SELECT count(*) FROM statements$MID")" "$NP" "the first KB's model after the second's rebuild"

# ---- deletion removes exactly the document's contexts
DOC=$(sqlite3 "$KP/cairn.db" "select d.id from documents d where d.deleted = 0 and exists (select 1 from relations r join chunks c on c.id = r.chunk_id where c.doc_id = d.id) order by d.id limit 1")
CTX=$( { echo "<urn:cairn:doc:$DOC>"; sqlite3 "$KP/cairn.db" "select '<urn:cairn:chunk:' || id || '>' from chunks where doc_id = $DOC"; } )
WANT=$(awk 'NR==FNR { c[$0] = 1; next } !($(NF-1) in c)' <(echo "$CTX") <(echo "$EP"))
[ "$(wc -l <<<"$WANT")" -lt "$NP" ] && ok || bad "document $DOC has quads"
expect 0 "removed #$DOC" -- "$BIN" rm "$KP" "#$DOC"
AFTER=$(exp "$KP")
[ "$AFTER" = "$WANT" ] && ok || bad "after rm: $(diff <(echo "$WANT") <(echo "$AFTER") | head -4)"
expect 0 "all checks passed" -- "$BIN" check "$KP"

# ---- passwords: over TCP with SCRAM; never printed
KT="$T/kbtcp"
TCP="host=127.0.0.1 port=$PORT dbname=cairn user=cairn"
expect 0 "created" -- "$BIN" init "$KT" --graph-storage postgresql --graph-conninfo "$TCP"
OUT=$(PGPASSWORD="$PW" "$BIN" ingest "$KT" "$SRC/datasets/corpus/places" 2>&1); rc=$?
same "$rc" 0 "ingest with the right password: $OUT"; nopw "$OUT" "ingest"
OUT=$(PGPASSWORD="$PW" "$BIN" check "$KT" 2>&1); rc=$?
same "$rc" 0 "check with the right password: ${OUT: -200}"; nopw "$OUT" "check"
WRONG="wrong-$PW"
OUT=$(PGPASSWORD="$WRONG" "$BIN" graph sparql "$KT" 'ASK { ?s ?p ?o }' 2>&1); rc=$?
same "$rc" 1 "sparql with a wrong password"
grep -q "password authentication failed" <<<"$OUT" && grep -q "host=127.0.0.1 port=$PORT" <<<"$OUT" && ok || bad "clear message: $OUT"
grep -q -- "$WRONG" <<<"$OUT" && bad "the wrong password is printed" || ok
OUT=$(PGPASSWORD="$WRONG" "$BIN" check "$KT" 2>&1); rc=$?
same "$rc" 1 "check with a wrong password"
grep -q "FAIL  graph store" <<<"$OUT" && ! grep -q -- "$WRONG" <<<"$OUT" && ok || bad "check: $OUT"
OUT=$(printf 'Ana Ruiz, CFO of Norvale Systems GmbH, visited Oslo.\n' > "$T/new.txt"; PGPASSWORD="$WRONG" "$BIN" ingest "$KT" "$T/new.txt" 2>&1); rc=$?
[ "$rc" = 1 ] && grep -q "graph store: cannot open the PostgreSQL graph store" <<<"$OUT" && ! grep -q -- "$WRONG" <<<"$OUT" \
  && ok || bad "ingest with a wrong password ($rc): $OUT"
OUT=$(PGPASSWORD="$PW" "$BIN" ingest "$KT" "$T/new.txt" 2>&1)         # caught up once reachable
OUT=$(PGPASSWORD="$PW" "$BIN" check "$KT" 2>&1) && ok || bad "caught up after the server came back: $OUT"

# ---- a wrong port: a clear error, no crash
KW="$T/kbwrong"
DEAD=$(( PORT == 65000 ? 65001 : 65000 ))
expect 0 "created" -- "$BIN" init "$KW" --graph-storage postgresql --graph-conninfo "host=127.0.0.1 port=$DEAD dbname=cairn user=cairn"
OUT=$(PGPASSWORD="$PW" "$BIN" ingest "$KW" "$SRC/datasets/corpus/places" 2>&1); rc=$?
[ "$rc" = 1 ] && grep -qi "connection to postgresql database 127.0.0.1:$DEAD.*failed" <<<"$OUT" && ok || bad "wrong port ($rc): $OUT"
nopw "$OUT" "ingest on a wrong port"
OUT=$(PGPASSWORD="$PW" "$BIN" graph rebuild "$KW" 2>&1); rc=$?
[ "$rc" = 1 ] && grep -q "PostgreSQL" <<<"$OUT" && ok || bad "rebuild on a wrong port ($rc): $OUT"
nopw "$OUT" "rebuild on a wrong port"

# ---- bad settings
expect 1 "has a password \(masked here\)" -- "$BIN" init "$T/kbp1" --graph-storage postgresql --graph-conninfo "host=x password=$PW"
OUT=$("$BIN" init "$T/kbp2" --graph-storage postgresql --graph-conninfo "host=x password=$PW" 2>&1); nopw "$OUT" "init"
[ -e "$T/kbp1" ] && bad "a refused init made the KB" || ok
expect 1 "unknown keyword 'sslmode'" -- "$BIN" init "$T/kbp3" --graph-storage postgresql --graph-conninfo "host=x sslmode=require"
expect 1 "port 'abc'" -- "$BIN" init "$T/kbp4" --graph-storage postgresql --graph-conninfo "port=abc"
expect 1 "must be bdb or postgresql" -- "$BIN" init "$T/kbp5" --graph-storage mysql
expect 1 "graph-model: 1-200 characters" -- "$BIN" init "$T/kbp8" --graph-storage postgresql --graph-model "x'y"
expect 1 "go with --graph-storage postgresql" -- "$BIN" init "$T/kbp6" --graph-conninfo "host=x"
sed -i 's/"storage":[[:space:]]*"postgresql"/"storage": "oracle"/' "$KW/cairn.json"
expect 1 'graph.storage must be "bdb" or "postgresql"' -- "$BIN" graph rebuild "$KW"
K7="$T/kbp7"
expect 0 "created" -- "$BIN" init "$K7" --graph-storage postgresql --graph-conninfo "$SOCK"
sed -i 's/"model":[[:space:]]*"[^"]*"/"model": "a b"/' "$K7/cairn.json"
expect 1 "graph.postgresql.model must" -- "$BIN" graph rebuild "$K7"
OUT=$(PGPASSWORD="a'b" "$BIN" graph rebuild "$KP" 2>&1); rc=$?
[ "$rc" = 1 ] && grep -q "password in PGPASSWORD has a space, quote" <<<"$OUT" && ! grep -q "a'b" <<<"$OUT" && ok || bad "quote in PGPASSWORD ($rc): $OUT"

[ "$fail" -gt 0 ] && tail -5 "$PGD/server.log" >&2
echo "graph_postgres: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
