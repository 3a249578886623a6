#!/usr/bin/env bash
# test_serve_ask_writer.sh — asks while the writer thread ingests: POST
# /v1/ask (plain and streamed) from two clients while a third POSTs
# documents. Every ask answers 200 and its trace is stored (by id, with an
# audit row), the hash chain verifies, every document is acknowledged and
# stored, and the server logs no failed audit or trace write (the ask's
# trace and the writer's jobs take the server's one writer in turn: no
# SQLITE_BUSY between them).
set -u
BIN="${CAIRN_BIN:?}"
. "$CAIRN_SRC/tests/lib.sh"
command -v curl >/dev/null || { echo "SKIP: curl not installed"; exit 77; }
command -v sqlite3 >/dev/null || { echo "SKIP: sqlite3 not installed"; exit 77; }
T="${CAIRN_TMP:-/tmp}/serve_ask_writer.$$"; rm -rf "$T"; mkdir -p "$T"
PID=""
cleanup() { [ -n "$PID" ] && kill -KILL "$PID" 2>/dev/null; rm -rf "$T"; }
trap cleanup EXIT
"$BIN" init "$T/kb" >/dev/null && "$BIN" ingest "$T/kb" "$CAIRN_SRC/datasets/corpus" >/dev/null 2>&1 \
  || { echo "setup failed"; exit 1; }
start_server "$T/log" "$T/kb" --listen 127.0.0.1:0 --threads 4 || exit 1

NDOC=12 NASK=5
writer() {   # documents, one after another, each answered 201 (503 queue_full: retried)
  local i code tries
  for i in $(seq $NDOC); do
    for tries in 1 2 3 4 5 6 7 8 9 10; do
      code=$(python3 -c "
import json, sys
w = ['ledger', 'harbour', 'sensor', 'quartz', 'meridian', 'lantern']
print(json.dumps({'uri': 'aw/doc$i.txt', 'text': ' '.join(w[(k * 7 + $i) % 6] + str(k) for k in range(1500))}))" |
        curl -s -o "$T/doc.$i" -w '%{http_code}' -H 'Content-Type: application/json' --data-binary @- "$U/v1/documents")
      [ "$code" = 503 ] || break
      sleep 0.5
    done
    echo "$i $code" >> "$T/docs"
  done
}
asker() {    # $1: client name; NASK asks, every other one streamed
  local i out
  for i in $(seq $NASK); do
    if [ $((i % 2)) = 0 ]; then
      out=$(curl -s -N -H 'Content-Type: application/json' \
              -d "{\"question\":\"What does Corvane Logistics do? ($1 $i)\",\"stream\":true}" "$U/v1/ask")
      grep -o '^data: {"trace_id":"[^"]*"}' <<<"$out" | grep -o 'tr_[0-9a-f]*' >> "$T/ids.$1" \
        || echo "$1 $i streamed: ${out:0:300}" >> "$T/askfail"
    else
      out=$(curl -s -w '\n%{http_code}' -H 'Content-Type: application/json' \
              -d "{\"question\":\"Which company did Kestrel Avionics acquire? ($1 $i)\"}" "$U/v1/ask")
      if [ "${out##*$'\n'}" = 200 ]; then
        grep -o '"trace_id":"tr_[0-9a-f]*"' <<<"$out" | grep -o 'tr_[0-9a-f]*' >> "$T/ids.$1"
      else
        echo "$1 $i: ${out:0:300}" >> "$T/askfail"
      fi
    fi
  done
}
writer & W=$!
asker a & A=$!
asker b & B=$!
wait $W $A $B

[ ! -s "$T/askfail" ] && ok || bad "asks failed while the writer ingested: $(cat "$T/askfail")"
ids=$(cat "$T"/ids.* 2>/dev/null | sort -u)
n=$(grep -c . <<<"$ids")
[ "$n" = $((2 * NASK)) ] && ok || bad "trace ids: $n, want $((2 * NASK))"
missing=0; noaudit=0
for id in $ids; do
  [ "$(sqlite3 "$T/kb/cairn.db" "SELECT count(*) FROM traces WHERE id = '$id'")" = 1 ] || missing=$((missing+1))
  [ "$(sqlite3 "$T/kb/cairn.db" "SELECT count(*) FROM audit WHERE action = 'ask' AND target = '$id'")" = 1 ] \
    || noaudit=$((noaudit+1))
done
[ $missing = 0 ] && ok || bad "$missing acknowledged traces are not stored"
[ $noaudit = 0 ] && ok || bad "$noaudit asks have no audit row"
acked=$(grep -c ' 201$' "$T/docs")
[ "$acked" = $NDOC ] && ok || bad "documents acknowledged: $acked of $NDOC: $(grep -v ' 201$' "$T/docs")"
stored=$(sqlite3 "$T/kb/cairn.db" "SELECT count(*) FROM documents WHERE deleted = 0 AND uri LIKE 'aw/%'")
[ "$stored" = $NDOC ] && ok || bad "documents stored: $stored of $NDOC"
kill -TERM "$PID"; wait "$PID"; rc=$?; PID=""
[ "$rc" = 0 ] && ok || bad "server exit $rc: $(tail -5 "$T/log")"
! grep -qi 'audit log:\|database is locked\|busy' "$T/log" && ok || bad "server log: $(grep -i 'audit\|locked\|busy' "$T/log" | head -5)"
expect 0 "" -- "$BIN" trace "$T/kb" verify
echo "serve_ask_writer: $pass passed, $fail failed"
[ $fail = 0 ]
