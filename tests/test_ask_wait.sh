#!/usr/bin/env bash
# test_ask_wait.sh — `cairn ask` appends its trace in a log transaction
# (cc_kb_begin_log) on a CC_KB_LOG handle, which needs no writer lock:
#   - an ask while another process holds the KB's writer lock (flock(1)
#     on KB/cairn.lock, the lock `cairn ingest` takes) stores its trace at
#     once, without waiting for the holder;
#   - an ask while another connection holds SQLite's write lock (an
#     ingest's batch transaction) waits for it (setting ask.trace_wait_s),
#     saying so, then stores its trace; one that waits longer than the
#     setting fails with a message that says so and stores nothing.
set -u
BIN="${CAIRN_BIN:?}"; SRC="${CAIRN_SRC:?}"
T="${CAIRN_TMP:-/tmp}/askwait.$$"; rm -rf "$T"; mkdir -p "$T"; HOLD=""
trap '[ -n "$HOLD" ] && kill $HOLD 2>/dev/null; rm -rf "$T"' EXIT
. "$(dirname "$0")/lib.sh"
command -v flock >/dev/null || { echo "test_ask_wait: SKIP (no flock(1))"; exit 77; }
/usr/bin/python3 -c "import sqlite3" 2>/dev/null || { echo "test_ask_wait: SKIP (no python3 sqlite3)"; exit 77; }
KB="$T/kb"
"$BIN" init "$KB" >/dev/null
(cd "$SRC" && "$BIN" ingest "$KB" datasets/corpus >/dev/null) || bad "ingest corpus"
q="Who founded Kestrel Avionics?"
ntr() { sqlite3 "$KB/cairn.db" "SELECT count(*) FROM traces"; }
# sqlhold SECONDS: another connection holds SQLite's write lock (BEGIN
# IMMEDIATE) for SECONDS; returns once it holds it
sqlhold() {
  rm -f "$T/held"
  /usr/bin/python3 -c "
import sqlite3, sys, time
c = sqlite3.connect(sys.argv[1], isolation_level=None)
c.execute('BEGIN IMMEDIATE'); open(sys.argv[2], 'w').close(); time.sleep(float(sys.argv[3])); c.execute('COMMIT')
" "$KB/cairn.db" "$T/held" "$1" & HOLD=$!
  for _ in $(seq 300); do [ -f "$T/held" ] && return 0; sleep 0.1; done
  bad "could not hold SQLite's write lock"; return 1
}

# the writer lock held for 10 s: the ask stores its trace at once
n0=$(ntr)
flock "$KB/cairn.lock" sleep 10 & HOLD=$!
sleep 0.5
"$BIN" ask "$KB" "$q" >"$T/out" 2>"$T/err"; rc=$?
if kill -0 "$HOLD" 2>/dev/null; then held=1; else held=0; fi
[ "$rc" = 0 ] && ok || bad "ask under a held writer lock: exit $rc: $(cat "$T/err")"
grep -qE '^trace tr_[0-9a-f]{16}$' "$T/out" && ok || bad "no trace id: $(cat "$T/out")"
[ "$held" = 1 ] && ok || bad "the ask waited for the writer lock's holder to end"
grep -q "waiting" "$T/err" && bad "a waiting message under the writer lock: $(cat "$T/err")" || ok
[ "$(ntr)" = $((n0 + 1)) ] && ok || bad "trace count $(ntr), want $((n0 + 1))"
kill "$HOLD" 2>/dev/null; wait "$HOLD" 2>/dev/null; HOLD=""

# SQLite's write lock held for 2 s: the ask waits, then stores its trace
n0=$(ntr)
sqlhold 2 || exit 1
t0=$(date +%s.%N)
"$BIN" ask "$KB" "$q" >"$T/out" 2>"$T/err"; rc=$?
t1=$(date +%s.%N)
[ "$rc" = 0 ] && ok || bad "ask under a held write transaction: exit $rc: $(cat "$T/err")"
grep -qE '^trace tr_[0-9a-f]{16}$' "$T/out" && ok || bad "no trace id: $(cat "$T/out")"
grep -q "waiting to store the trace" "$T/err" && ok || bad "no waiting message: $(cat "$T/err")"
awk -v a="$t0" -v b="$t1" 'BEGIN { exit !(b - a >= 1.0) }' && ok || bad "the ask did not wait for the write transaction"
[ "$(ntr)" = $((n0 + 1)) ] && ok || bad "trace count $(ntr), want $((n0 + 1))"
wait "$HOLD"; HOLD=""

# a wait shorter than the hold: a clear error and no trace
/usr/bin/python3 - "$KB/cairn.json" <<'PY'
import json, sys
p = sys.argv[1]; s = json.load(open(p))
s.setdefault("ask", {})["trace_wait_s"] = 1
json.dump(s, open(p, "w"))
PY
n0=$(ntr)
sqlhold 4 || exit 1
expect 1 "held the KB for 1 s.*ask.trace_wait_s" -- "$BIN" ask "$KB" "$q"
[ "$(ntr)" = "$n0" ] && ok || bad "a failed ask stored a trace"
wait "$HOLD"; HOLD=""

# without a competing writer the same KB answers at once, and the chain verifies
expect 0 "^trace tr_" -- "$BIN" ask "$KB" "$q"
expect 0 "" -- "$BIN" trace "$KB" verify

echo "test_ask_wait: $pass passed, $fail failed"
[ "$fail" = 0 ]
