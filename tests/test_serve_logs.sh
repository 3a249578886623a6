#!/usr/bin/env bash
# test_serve_logs.sh — the server appends ask traces and the audit rows of
# reads (cc_kb_begin_log on its own log handle) without the KB's writer
# lock, so they go on while a CLI writer holds the KB:
#   - with the writer lock held by another process (flock(1) on
#     cairn.lock, the lock `cairn ingest` takes), POST /v1/ask answers with
#     a stored trace and its audit row, and GET /v1/traces/{id} answers and
#     is audited; a document write still waits and gets 503 kb_busy;
#   - during a real `cairn ingest` of many files, asks through the API all
#     answer, and asks from the CLI (which take the writer lock) and from
#     the API append to one hash chain: `cairn trace verify` passes and
#     every trace is there.
set -u
BIN="${CAIRN_BIN:?}"; SRC="${CAIRN_SRC:?}"
. "$CAIRN_SRC/tests/lib.sh"
command -v curl >/dev/null || { echo "SKIP: curl not installed"; exit 77; }
command -v flock >/dev/null || { echo "SKIP: flock(1) not installed"; exit 77; }
command -v sqlite3 >/dev/null || { echo "SKIP: sqlite3 not installed"; exit 77; }
T="${CAIRN_TMP:-/tmp}/serve_logs.$$"; rm -rf "$T"; mkdir -p "$T/many"
PID=""; FL=""
cleanup() { [ -n "$PID" ] && kill -KILL "$PID" 2>/dev/null; [ -n "$FL" ] && kill "$(cat "$T/held" 2>/dev/null)" 2>/dev/null; rm -rf "$T"; }
trap cleanup EXIT
"$BIN" init "$T/kb" >/dev/null && (cd "$SRC" && "$BIN" ingest "$T/kb" datasets/corpus >/dev/null 2>&1) \
  || { echo "setup failed"; exit 1; }
q() { sqlite3 "$T/kb/cairn.db" "$1"; }
J=(-H 'Content-Type: application/json')
ask() { curl -s -o "$T/ask.$1" -w '%{http_code}' --max-time 120 "${J[@]}" \
          -d "{\"question\":\"$2\"}" "$U/v1/ask"; }

start_server "$T/log" "$T/kb" --listen 127.0.0.1:0 --threads 2 --wait 1 || exit 1

# ---------------------------------------------------------------- the writer lock held
rm -f "$T/held"
flock -w 120 "$T/kb/cairn.lock" sh -c "echo \$\$ >'$T/held.tmp'; mv '$T/held.tmp' '$T/held'; exec sleep 60" \
  >/dev/null 2>&1 & FL=$!
for _ in $(seq 1200); do [ -s "$T/held" ] && break; sleep 0.1; done
[ -s "$T/held" ] || { bad "flock did not take the lock"; exit 1; }
n0=$(q "SELECT count(*) FROM traces"); a0=$(q "SELECT count(*) FROM audit")
c=$(ask 1 "Who founded Kestrel Avionics?")
tid=$(grep -o '"trace_id":"tr_[0-9a-f]*"' "$T/ask.1" | grep -o 'tr_[0-9a-f]*' | head -1)
[ "$c" = 200 ] && [ -n "$tid" ] && ok || bad "POST /v1/ask with the writer lock held: $c $(head -c 300 "$T/ask.1")"
[ "$(q "SELECT count(*) FROM traces WHERE id = '$tid'")" = 1 ] && ok || bad "the ask's trace $tid is not stored"
[ "$(q "SELECT count(*) FROM audit WHERE action = 'ask' AND target = '$tid'")" = 1 ] && ok || bad "the ask is not audited"
c=$(curl -s -o "$T/tr" -w '%{http_code}' --max-time 60 "$U/v1/traces/$tid")
[ "$c" = 200 ] && grep -q "$tid" "$T/tr" && ok || bad "GET /v1/traces/$tid with the writer lock held: $c $(head -c 300 "$T/tr")"
[ "$(q "SELECT count(*) FROM audit WHERE action = 'trace.read' AND target = '$tid'")" = 1 ] && ok \
  || bad "the trace read is not audited"
[ "$(q "SELECT count(*) FROM traces")" = $((n0 + 1)) ] && [ "$(q "SELECT count(*) FROM audit")" = $((a0 + 2)) ] && ok \
  || bad "traces $(q "SELECT count(*) FROM traces") (want $((n0 + 1))), audit rows $(q "SELECT count(*) FROM audit") (want $((a0 + 2)))"
# a document write is the writer lock's: it waits (--wait 1), then 503
c=$(curl -s -o "$T/w" -w '%{http_code}' --max-time 60 "${J[@]}" -d '{"uri":"x.txt","text":"granite"}' "$U/v1/documents")
[ "$c" = 503 ] && grep -q kb_busy "$T/w" && ok || bad "a document write with the lock held: $c $(cat "$T/w")"
kill "$(cat "$T/held")" 2>/dev/null; wait "$FL" 2>/dev/null; FL=""

# ---------------------------------------------------------------- a real CLI ingest meanwhile
/usr/bin/python3 - "$T/many" <<'PY'
import random, sys
random.seed(11)
words = ["ledger", "quorum", "harbour", "turbine", "lattice", "meadow", "cobalt", "vertex", "Norvale",
         "Kestrel", "Avionics", "founded", "supplier", "contract"]
for i in range(6000):
    s = " ".join(random.choice(words) for _ in range(60))
    open("%s/f%05d.txt" % (sys.argv[1], i), "w").write("Document %d. %s.\n" % (i, s))
PY
# no extraction for these: a batch's transaction (1,000 files) then holds
# SQLite's write lock for well under the log appends' 5 s busy timeout,
# also under the sanitizers (with the rules extractor a batch can take
# longer, and an append waiting past it answers 503)
/usr/bin/python3 - "$T/kb/cairn.json" <<'PY'
import json, sys
p = sys.argv[1]; s = json.load(open(p))
s.setdefault("graph", {})["extractor"] = "none"
json.dump(s, open(p, "w"))
PY
n0=$(q "SELECT count(*) FROM traces")
"$BIN" ingest "$T/kb" "$T/many" >"$T/ing.out" 2>&1 & IP=$!
napi=0; nok=0; ncli=0; during=0
# asks through the API while the ingest runs (at least 3, up to 20)
for i in $(seq 20); do
  kill -0 "$IP" 2>/dev/null || [ "$napi" -lt 3 ] || break
  c=$(ask "m$i" "Who founded Kestrel Avionics?"); napi=$((napi + 1))
  kill -0 "$IP" 2>/dev/null && during=$((during + 1))
  [ "$c" = 200 ] && nok=$((nok + 1)) || bad "ask $i during the ingest: $c $(head -c 300 "$T/ask.m$i")"
  if [ $((i % 4)) = 0 ]; then   # a CLI ask too (it waits for the writer lock)
    (cd "$SRC" && "$BIN" ask "$T/kb" "Who runs Corvane Logistics?" >/dev/null 2>"$T/cli.err") \
      && ncli=$((ncli + 1)) || bad "CLI ask: $(cat "$T/cli.err")"
  fi
done
wait "$IP"; rc=$?
[ "$rc" = 0 ] && ok || bad "cairn ingest exit $rc: $(tail -3 "$T/ing.out")"
[ "$nok" = "$napi" ] && ok || bad "$nok of $napi API asks answered during the ingest"
[ "$during" -ge 1 ] && ok || bad "no API ask was answered while the ingest ran (it ended first)"
[ "$(q "SELECT count(*) FROM documents WHERE uri LIKE '%f0%'")" -ge 6000 ] && ok || bad "the ingest's documents are not all in"
[ "$(q "SELECT count(*) FROM traces")" = $((n0 + nok + ncli)) ] && ok \
  || bad "traces $(q "SELECT count(*) FROM traces"), want $((n0 + nok + ncli))"
expect 0 "chain intact" -- "$BIN" trace "$T/kb" verify
kill -TERM "$PID"; wait "$PID"; rc=$?; PID=""
[ "$rc" = 0 ] && ok || bad "server exit $rc: $(tail -3 "$T/log")"
expect 0 "" -- "$BIN" check "$T/kb"

echo "pass=$pass fail=$fail (API asks: $napi, $during of them answered while the ingest ran; CLI asks: $ncli)"
[ "$fail" = 0 ]
