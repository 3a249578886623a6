#!/usr/bin/env bash
# test_serve_vector_gen.sh — /metrics reports the catalog generation of the
# vector index searches use (cairn_vector_index_generation), which
# bench/serve_load.sh waits on before measuring:
#  - right after startup it is the catalog's generation (the largest
#    changes.generation): the index was loaded before the address printed;
#  - after a document POSTed through the API it reaches the new catalog
#    generation once the writer's catch-up is loaded by the readers;
#  - with vectors off (embedder "none") it is -1.
set -u
BIN="${CAIRN_BIN:?}"
. "$CAIRN_SRC/tests/lib.sh"
command -v curl >/dev/null || { echo "SKIP: curl not installed"; exit 77; }
T="${CAIRN_TMP:-/tmp}/serve_vector_gen.$$"; rm -rf "$T"; mkdir -p "$T/docs"
PID=""
cleanup() { [ -n "$PID" ] && kill -KILL "$PID" 2>/dev/null; rm -rf "$T"; }
trap cleanup EXIT
printf 'The harbour crane lifted forty containers before the storm.\n' > "$T/docs/crane.txt"
"$BIN" init "$T/kb" >/dev/null && "$BIN" ingest "$T/kb" "$T/docs" >/dev/null 2>&1 \
  || { echo "setup failed"; exit 1; }
catalog() { sqlite3 "$1/cairn.db" 'SELECT coalesce(max(generation), 0) FROM changes'; }
gauge() { curl -s "$U/metrics" | awk '$1 == "cairn_vector_index_generation" { print $2 }'; }

start_server "$T/log" "$T/kb" --listen 127.0.0.1:0 --threads 2 || exit 1
g0=$(catalog "$T/kb"); v=$(gauge)
[ -n "$g0" ] && [ "$g0" -gt 0 ] && [ "$v" = "$g0" ] && ok || bad "at startup: gauge '$v', catalog $g0"
code=$(curl -s -o "$T/post" -w '%{http_code}' -H 'Content-Type: application/json' \
  -d '{"uri":"api/revenue.txt","text":"Norvale Systems reported quarterly revenue growth."}' "$U/v1/documents")
[ "$code" = 201 ] || [ "$code" = 200 ] && ok || bad "POST /v1/documents: $code $(cat "$T/post")"
g1=$(catalog "$T/kb")
[ "$g1" -gt "$g0" ] && ok || bad "the POST did not advance the catalog ($g0 -> $g1)"
for _ in $(seq 300); do v=$(gauge); [ "$v" = "$g1" ] && break; sleep 0.1; done
[ "$v" = "$g1" ] && ok || bad "the gauge did not reach the catalog's generation $g1 in 30 s: '$v'"
kill -TERM "$PID"; wait "$PID" 2>/dev/null; PID=""

"$BIN" init "$T/off" >/dev/null || bad "init"
sed -i 's/"format": *1,/"format": 1, "embedder": {"name": "none"},/' "$T/off/cairn.json"
"$BIN" ingest "$T/off" "$T/docs" >/dev/null 2>&1 || bad "ingest without vectors"
start_server "$T/log2" "$T/off" --listen 127.0.0.1:0 --threads 2 || exit 1
v=$(gauge)
[ "$v" = -1 ] && ok || bad "vectors off: gauge '$v' (want -1)"
kill -TERM "$PID"; wait "$PID" 2>/dev/null; PID=""

echo "test_serve_vector_gen: $pass passed, $fail failed"
[ "$fail" = 0 ]
