#!/usr/bin/env bash
# test_serve_vector_fold.sh — `cairn serve` appends its vector catch-ups to
# vectors.faiss.delta while it runs (its readers take the writer's index by
# hand-off) and, on SIGTERM, writes the index whole when the delta holds
# more than vectors.delta_max_adds adds, so that the next open replays
# none (serve_writer.c, fold_vectors); within the limit the delta stays.
# Either way `cairn check` passes and the POSTed documents are found by
# vector search afterwards.
set -u
BIN="${CAIRN_BIN:?}"
. "$CAIRN_SRC/tests/lib.sh"
command -v curl >/dev/null || { echo "SKIP: curl not installed"; exit 77; }
T="${CAIRN_TMP:-/tmp}/serve_vector_fold.$$"; rm -rf "$T"; mkdir -p "$T/docs"
PID=""
cleanup() { [ -n "$PID" ] && kill -KILL "$PID" 2>/dev/null; rm -rf "$T"; }
trap cleanup EXIT
for i in $(seq 30); do
  echo "Ledger line $i: the harbour crane $((i % 5)) moved cargo $((i * 7 % 11))." > "$T/docs/$i.txt"
done
wait_exit() { for _ in $(seq 600); do kill -0 "$1" 2>/dev/null || return 0; sleep 0.1; done; return 1; }

# run LIMIT: a server on a fresh KB, 8 POSTs, the catch-up's delta, SIGTERM
run() {
  local kb="$T/kb$1" d i
  d="$kb/vectors.faiss.delta"
  "$BIN" init "$kb" >/dev/null || { bad "init"; return; }
  printf '{"format": 1, "vectors": {"hnsw_threshold": 20, "delta_max_adds": %s}}\n' "$1" > "$kb/cairn.json"
  "$BIN" ingest "$kb" "$T/docs" >/dev/null 2>&1 || { bad "ingest"; return; }
  [ ! -e "$d" ] && ok || bad "the first build left a delta"
  start_server "$T/log$1" "$kb" --listen 127.0.0.1:0 --threads 2 || { bad "server"; return; }
  for i in $(seq 8); do
    curl -s -o /dev/null -H 'Content-Type: application/json' \
      -d "{\"uri\":\"posted/$i.txt\",\"text\":\"Posted memo $i on the quayside zephyr lantern $i.\"}" "$U/v1/documents"
  done
  for _ in $(seq 300); do [ -s "$d" ] && break; sleep 0.1; done
  [ -s "$d" ] && ok || bad "limit $1: the server's catch-up wrote no delta"
  kill -TERM "$PID"; wait_exit "$PID" || bad "server did not stop on SIGTERM"
  wait "$PID" 2>/dev/null; PID=""
  if [ "$1" -lt 8 ]; then
    [ ! -e "$d" ] && ok || bad "limit $1: 8 adds, the delta should be written in at shutdown"
    grep -q "vector index: 8 added vectors of the delta written into it" "$T/log$1" && ok \
      || bad "limit $1: the shutdown did not say so: $(tail -3 "$T/log$1")"
  else
    [ -s "$d" ] && ok || bad "limit $1: 8 adds are within it, the delta should stay"
  fi
  expect 0 "all checks passed" -- "$BIN" check "$kb"
  expect 0 "posted/3.txt" -- "$BIN" search "$kb" "quayside zephyr lantern 3" -k 3 --mode vector
}
run 5
run 100
echo "pass=$pass fail=$fail"
[ "$fail" = 0 ]
