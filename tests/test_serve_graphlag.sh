#!/usr/bin/env bash
# test_serve_graphlag.sh — the graph store's catch-up grouped in `cairn
# serve` (serve_writer.c; setting serve.graph_sync_ms), with a real server
# on loopback and a real Redland store:
#   - a POST commits the record and answers without catching the store up
#     (KB/graph/state stays at an older generation than the catalog);
#   - POST /v1/sparql right after a POST (or a DELETE, or a burst of POSTs)
#     sees the write: read-your-writes, the reader asks the writer for the
#     catch-up and waits;
#   - a burst of POSTs then SIGTERM leaves the store caught up: `cairn
#     check` passes and the store equals a `cairn graph rebuild` of it;
#   - kill -9 after POSTs leaves the store behind (`cairn check` says so);
#     the next server catches it up at startup, with no request;
#   - a bad serve.graph_sync_ms refuses to start, naming the setting.
set -u
BIN="${CAIRN_BIN:?}"
. "$CAIRN_SRC/tests/lib.sh"
command -v curl >/dev/null || { echo "SKIP: curl not installed"; exit 77; }
command -v sqlite3 >/dev/null || { echo "SKIP: sqlite3 not installed"; exit 77; }
T="${CAIRN_TMP:-/tmp}/serve_graphlag.$$"; rm -rf "$T"; mkdir -p "$T/docs"
PID=""
cleanup() { [ -n "$PID" ] && kill -KILL "$PID" 2>/dev/null; rm -rf "$T"; }
trap cleanup EXIT
printf 'The harbour crane lifted forty containers before the storm.\n' > "$T/docs/crane.txt"
"$BIN" init "$T/kb" >/dev/null && "$BIN" ingest "$T/kb" "$T/docs" >/dev/null 2>&1 \
  || { echo "setup failed"; exit 1; }
KB="$T/kb"
J=(-H 'Content-Type: application/json')
CN='urn:cairn:ns#'
same() { [ "$1" = "$2" ] && ok || bad "$3: got '$1', want '$2'"; }
setting() { /usr/bin/python3 - "$KB/cairn.json" "$1" <<'PY'
import json, sys
p = sys.argv[1]; s = json.load(open(p))
s.setdefault("serve", {})["graph_sync_ms"] = json.loads(sys.argv[2])
json.dump(s, open(p, "w"))
PY
}
store_gen() { sed -n 's/^generation //p' "$KB/graph/state"; }
cat_gen() { sqlite3 "$KB/cairn.db" 'select max(generation) from changes'; }
# post URI TEXT: prints the new document's id (201 expected)
post() {
  local out code
  out=$(curl -s -w '\n%{http_code}' "${J[@]}" -d "{\"uri\":\"$1\",\"text\":\"$2\"}" "$U/v1/documents")
  code=${out##*$'\n'}
  [ "$code" = 201 ] || { bad "POST $1 answered $code: ${out:0:200}"; return; }
  sed -n '1s/.*"id":\([0-9]*\).*/\1/p' <<<"$out"
}
# sparql QUERY: the JSON answer
sparql() { curl -s "${J[@]}" -d "{\"query\":\"$1\"}" "$U/v1/sparql"; }
# ndocs: documents in the store by SPARQL
ndocs() { sparql "SELECT (COUNT(?d) AS ?n) WHERE { ?d a <${CN}Document> }" \
            | sed -n 's/.*"value":"\([0-9]*\)".*/\1/p'; }
live() { sqlite3 "$KB/cairn.db" 'select count(*) from documents where deleted = 0'; }
wait_exit() { for _ in $(seq 600); do kill -0 "$1" 2>/dev/null || return 0; sleep 0.1; done; return 1; }

# ---------------------------------------------------------------- bad settings
for v in -1 3600001 '"often"'; do
  setting "$v"
  expect 1 "serve.graph_sync_ms" -- timeout 60 "$BIN" serve "$KB" --listen 127.0.0.1:0
done

# ---------------------------------------------------------------- read-your-writes
# an hour between timed catch-ups: only readers (and shutdown) catch the store up
setting 3600000
start_server "$T/log" "$KB" --listen 127.0.0.1:0 --threads 2 || exit 1
for _ in $(seq 100); do [ "$(store_gen)" = "$(cat_gen)" ] && break; sleep 0.1; done
same "$(store_gen)" "$(cat_gen)" "caught up at startup"
ID=$(post lantern.txt 'Ana Ruiz, CFO of Norvale Systems GmbH, trimmed the lantern wick.')
[ -n "$ID" ] && ok || bad "no id from the POST"
[ "$(store_gen)" -lt "$(cat_gen)" ] && ok || bad "the POST caught the store up itself ($(store_gen) of $(cat_gen))"
A=$(sparql "ASK { <urn:cairn:doc:$ID> a <${CN}Document> }")
grep -q '"boolean":true' <<<"$A" && ok || bad "SPARQL right after the POST misses the document: $A"
A=$(sparql "ASK { <urn:cairn:entity:ana%20ruiz> <urn:cairn:rel:cfo_of> ?o }")
grep -q '"boolean":true' <<<"$A" && ok || bad "SPARQL right after the POST misses its relation: $A"
same "$(store_gen)" "$(cat_gen)" "the reader's catch-up"
# DELETE, then SPARQL at once: gone
code=$(curl -s -o /dev/null -w '%{http_code}' -X DELETE "$U/v1/documents/$ID")
same "$code" 200 "DELETE"
A=$(sparql "ASK { <urn:cairn:doc:$ID> a <${CN}Document> }")
grep -q '"boolean":false' <<<"$A" && ok || bad "SPARQL right after the DELETE still has the document: $A"
# a burst of concurrent POSTs; each answered before the SPARQL is in it
CP=()   # the curls (a bare `wait` would wait for the server too)
for i in $(seq 12); do
  curl -s -o /dev/null "${J[@]}" -d "{\"uri\":\"burst/$i.txt\",\"text\":\"Burst note $i about Bo Lind.\"}" "$U/v1/documents" &
  CP+=($!)
done
wait "${CP[@]}"
same "$(ndocs)" "$(live)" "documents by SPARQL after a burst = live documents"
# SIGTERM after a burst still in flight: the store ends caught up
CP=()
for i in $(seq 12); do
  curl -s -o /dev/null "${J[@]}" -d "{\"uri\":\"term/$i.txt\",\"text\":\"Term note $i about Kestrel Avionics.\"}" "$U/v1/documents" &
  CP+=($!)
done
wait "${CP[@]}"
[ "$(store_gen)" -lt "$(cat_gen)" ] && ok || bad "the store caught up before SIGTERM (nothing left to test)"
kill -TERM "$PID"; wait_exit "$PID" || bad "server did not stop on SIGTERM"
wait "$PID" 2>/dev/null; PID=""
same "$(store_gen)" "$(cat_gen)" "caught up on SIGTERM"
same "$(sqlite3 "$KB/cairn.db" "select count(*) from documents where uri like 'term/%' and deleted = 0")" 12 "the burst's documents committed"
expect 0 "all checks passed" -- "$BIN" check "$KB"
# the store equals one rebuilt from the catalog
"$BIN" graph export "$KB" --format nquads 2>/dev/null | LC_ALL=C sort > "$T/served.nq"
cp -a "$KB" "$T/kb2"
expect 0 "" -- "$BIN" graph rebuild "$T/kb2"
"$BIN" graph export "$T/kb2" --format nquads 2>/dev/null | LC_ALL=C sort > "$T/rebuilt.nq"
[ -s "$T/served.nq" ] && cmp -s "$T/served.nq" "$T/rebuilt.nq" && ok \
  || bad "the store after SIGTERM differs from a rebuild: $(diff "$T/served.nq" "$T/rebuilt.nq" | head -5)"

# ---------------------------------------------------------------- kill -9
start_server "$T/log" "$KB" --listen 127.0.0.1:0 --threads 2 || exit 1
for _ in $(seq 100); do [ "$(store_gen)" = "$(cat_gen)" ] && break; sleep 0.1; done
for i in 1 2 3 4 5; do post "crash/$i.txt" "Crash note $i: Ana Ruiz met Bo Lind." >/dev/null; done
[ "$(store_gen)" -lt "$(cat_gen)" ] && ok || bad "the store caught up before kill -9 (nothing left to test)"
kill -KILL "$PID"; wait "$PID" 2>/dev/null; PID=""
same "$(sqlite3 "$KB/cairn.db" "select count(*) from documents where uri like 'crash/%' and deleted = 0")" 5 "acknowledged documents survive kill -9"
expect 1 "the store reflects generation" -- "$BIN" check "$KB"
start_server "$T/log" "$KB" --listen 127.0.0.1:0 --threads 2 || exit 1
for _ in $(seq 300); do [ "$(store_gen)" = "$(cat_gen)" ] && break; sleep 0.1; done
same "$(store_gen)" "$(cat_gen)" "the next server catches up at startup"
same "$(ndocs)" "$(live)" "documents by SPARQL after the restart"
kill -TERM "$PID"; wait_exit "$PID"; wait "$PID" 2>/dev/null; PID=""
expect 0 "all checks passed" -- "$BIN" check "$KB"

# ---------------------------------------------------------------- graph_sync_ms 0
# after every write, as before the grouping: the store is current when the
# writer goes idle, with no reader asking
setting 0
start_server "$T/log" "$KB" --listen 127.0.0.1:0 --threads 2 || exit 1
post zero.txt 'Zero note about Norvale Systems.' >/dev/null
for _ in $(seq 100); do [ "$(store_gen)" = "$(cat_gen)" ] && break; sleep 0.1; done
same "$(store_gen)" "$(cat_gen)" "graph_sync_ms 0 catches up after the write"
kill -TERM "$PID"; wait_exit "$PID"; wait "$PID" 2>/dev/null; PID=""

echo "serve_graphlag: $pass passed, $fail failed"
[ "$fail" = 0 ]
