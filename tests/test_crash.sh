#!/usr/bin/env bash
# test_crash.sh — crash safety. Ingestion (the CLI) and a server taking
# writes (POST /v1/documents) are killed with SIGKILL at random points;
# after every kill the KB is reopened and must hold:
#   - SQLite integrity, FTS5 integrity-check, no orphan chunks, n_chunks of
#     every live document equal to its chunk rows (no half document);
#   - every document acknowledged before the kill (an ingest that exited 0,
#     an HTTP 200/201) present and complete (its last sentence, which holds
#     a unique word, is searchable);
# and once the interrupted work is redone (as a user would), `cairn check`
# passes: vector index (and every other derived index it checks) caught up
# with the catalog. Rounds: CAIRN_CRASH_ROUNDS (default 20 for each of the
# two writers; the full run uses 200).
set -u
BIN="${CAIRN_BIN:?}"
. "$CAIRN_SRC/tests/lib.sh"
command -v sqlite3 >/dev/null || { echo "SKIP: sqlite3 shell not installed"; exit 77; }
ROUNDS="${CAIRN_CRASH_ROUNDS:-20}"
T="${CAIRN_TMP:-/tmp}/crash.$$"; rm -rf "$T"; mkdir -p "$T/src"
PID=""
cleanup() { [ -n "$PID" ] && kill -KILL "$PID" 2>/dev/null; rm -rf "$T"; }
trap cleanup EXIT
RANDOM=4242

# 120 documents of 3-8 paragraphs; the last sentence of document i holds
# the unique word endmarkN (N = i), so "complete" is checkable by search.
words=(ledger quorum harbour turbine lattice meadow cobalt vertex orchard signal basalt
       canopy ferry glacier mosaic prism quarry ribbon saddle tundra)
for i in $(seq 1 120); do
  {
    for p in $(seq 1 $((3 + i % 6))); do
      line=""
      for w in $(seq 1 $((40 + (i * p) % 50))); do line+="${words[$(( (i * 7 + p * 13 + w * 3) % 20 ))]} "; done
      echo "Paragraph $p of document $i: $line."
      echo
    done
    echo "The final sentence of document $i is endmark$i."
  } >"$T/src/doc$i.txt"
done

# invariants after a kill; $1 = KB, rest = acknowledged uris (files)
check_catalog() {
  local kb="$1"; shift
  local db="$kb/cairn.db" r
  r=$(sqlite3 "$db" 'PRAGMA integrity_check' 2>&1)
  [ "$r" = ok ] && ok || bad "integrity_check: $r"
  r=$(sqlite3 "$db" "INSERT INTO chunks_fts(chunks_fts, rank) VALUES('integrity-check', 1)" 2>&1)
  [ -z "$r" ] && ok || bad "fts5 integrity-check: $r"
  r=$(sqlite3 "$db" 'SELECT count(*) FROM documents d WHERE deleted = 0 AND n_chunks !=
                       (SELECT count(*) FROM chunks WHERE doc_id = d.id)')
  [ "$r" = 0 ] && ok || bad "$r half-ingested documents visible"
  r=$(sqlite3 "$db" 'SELECT count(*) FROM chunks c LEFT JOIN documents d ON d.id = c.doc_id
                       WHERE d.id IS NULL OR d.deleted')
  [ "$r" = 0 ] && ok || bad "$r orphan chunks"
  local missing=0 u n
  for u in "$@"; do
    n=${u##*doc}; n=${n%.txt}
    r=$(sqlite3 "$db" "SELECT count(*) FROM documents d JOIN chunks c ON c.doc_id = d.id
                         WHERE d.deleted = 0 AND d.uri LIKE '%/doc$n.txt'
                         AND c.rowid IN (SELECT rowid FROM chunks_fts WHERE chunks_fts MATCH 'endmark$n')")
    [ "$r" -ge 1 ] || missing=$((missing + 1))
  done
  [ $missing = 0 ] && ok || bad "$missing acknowledged documents missing or incomplete"
}

# ---------------------------------------------------------------- CLI ingest
KB="$T/kb"
"$BIN" init "$KB" >/dev/null || { echo "init failed"; exit 1; }
acked=()
killed=0
# how long a batch takes here: 8 new files into a scratch KB
"$BIN" init "$T/cal" >/dev/null && mkdir "$T/calsrc" && cp "$T"/src/doc{1..8}.txt "$T/calsrc/"
t0=$(date +%s%N)
"$BIN" ingest "$T/cal" "$T/calsrc" >/dev/null 2>&1
dur_ms=$(( ($(date +%s%N) - t0) / 1000000 ))
for round in $(seq 1 "$ROUNDS"); do
  b="$T/batch$round"; mkdir -p "$b"
  # a batch of 4-12 files, re-ingesting some earlier ones with new text
  for k in $(seq 1 $((4 + RANDOM % 9))); do
    i=$((1 + RANDOM % 120))
    cp "$T/src/doc$i.txt" "$b/doc$i.txt"
    [ $((RANDOM % 3)) = 0 ] && echo "Revision $round of document $i." >>"$b/doc$i.txt"
  done
  "$BIN" ingest "$KB" "$b" >"$T/out" 2>&1 &
  PID=$!
  # a random point within the batch's expected run time
  ms=$(( (RANDOM * 32768 + RANDOM) % (dur_ms * 12 / 10 + 1) ))
  sleep "$((ms / 1000)).$(printf '%03d' $((ms % 1000)))"
  if kill -KILL "$PID" 2>/dev/null; then killed=$((killed + 1)); wait "$PID" 2>/dev/null
  else wait "$PID" && acked+=("$b"/*.txt); fi
  PID=""
  check_catalog "$KB" "${acked[@]}"
  # redo the interrupted work, as a user would; then everything must agree
  "$BIN" ingest "$KB" "$b" >"$T/out" 2>&1 || bad "re-ingest after kill: $(cat "$T/out")"
  acked+=("$b"/*.txt)
  if [ $((round % 5)) = 0 ] || [ "$round" = "$ROUNDS" ]; then
    expect 0 "" -- "$BIN" check "$KB"
  fi
done
echo "cli ingest: $ROUNDS rounds, $killed killed mid-run"
[ "$killed" -gt 0 ] && ok || bad "no ingest was killed mid-run: the test proves nothing"

# ---------------------------------------------------------------- server writes
if command -v curl >/dev/null; then
  KB="$T/kb2"
  "$BIN" init "$KB" >/dev/null
  acked=()
  killed=0
  : >"$T/acked2"
  for round in $(seq 1 "$ROUNDS"); do
    rm -f "$T/log"   # else a grep before the child truncates it reads the last round's port
    "$BIN" serve "$KB" --listen 127.0.0.1:0 --threads 2 >"$T/log" 2>&1 &
    PID=$!
    for _ in $(seq 1200); do grep -q 'http://' "$T/log" 2>/dev/null && break; sleep 0.05; done
    PORT=$(grep -o 'http://127.0.0.1:[0-9]*' "$T/log" | sed 's/.*://')
    if [ -z "$PORT" ]; then
      if kill -0 "$PID" 2>/dev/null; then st="still running: $(gdb -batch -p "$PID" -ex 'thread apply all bt' 2>&1 | grep -E '^#' | head -30)"; else wait "$PID"; st="exit $?"; fi
      bad "server did not start ($st): $(cat "$T/log")"; break
    fi
    # a writer posting documents until it is killed
    (
      while :; do
        i=$((1 + RANDOM % 120))
        body=$(python3 -c 'import json,sys; print(json.dumps({"uri": sys.argv[1], "text": open(sys.argv[2]).read()}))' \
                 "$T/src/doc$i.txt" "$T/src/doc$i.txt")
        code=$(curl -s -o /dev/null -w '%{http_code}' -X POST -H 'Content-Type: application/json' \
                 --data-binary "$body" "http://127.0.0.1:$PORT/v1/documents") || exit 0
        case "$code" in 200|201) echo "$T/src/doc$i.txt" >>"$T/acked2";; esac
      done
    ) &
    WPID=$!
    # kill at a random point after the round's first acknowledged write
    n0=$(wc -l <"$T/acked2")
    for _ in $(seq 200); do [ "$(wc -l <"$T/acked2")" -gt "$n0" ] && break; sleep 0.05; done
    sleep "0.$(printf '%03d' $((RANDOM % 500)))"
    kill -KILL "$PID" 2>/dev/null && killed=$((killed + 1))
    wait "$PID" 2>/dev/null; PID=""
    wait "$WPID" 2>/dev/null
    mapfile -t acked <"$T/acked2" 2>/dev/null || acked=()
    check_catalog "$KB" "${acked[@]}"
  done
  # the next write catches the derived indexes up
  "$BIN" ingest "$KB" "$T/src/doc1.txt" >/dev/null 2>&1
  expect 0 "" -- "$BIN" check "$KB"
  echo "server writes: $ROUNDS rounds, ${#acked[@]} acknowledged posts, $killed killed"
  [ "${#acked[@]}" -gt 0 ] && ok || bad "the server acknowledged no write: the test proves nothing"
else
  echo "curl not installed: server part skipped"
fi

echo "crash: $pass passed, $fail failed"
[ "$fail" = 0 ]
