#!/usr/bin/env bash
# test_ask_wait.sh — `cairn ask` holds the KB's writer lock only to append
# its trace: an ask started while another writer holds the lock waits for
# it (setting ask.trace_wait_s) and then stores its trace; one that waits
# longer than the setting fails with a message that says so and stores
# nothing. The lock is held with flock(1) on KB/cairn.lock, the lock a
# writer (`cairn ingest`) takes.
set -u
BIN="${CAIRN_BIN:?}"; SRC="${CAIRN_SRC:?}"
T="${CAIRN_TMP:-/tmp}/askwait.$$"; rm -rf "$T"; mkdir -p "$T"; trap 'kill $HOLD 2>/dev/null; rm -rf "$T"' EXIT
. "$(dirname "$0")/lib.sh"
command -v flock >/dev/null || { echo "test_ask_wait: SKIP (no flock(1))"; exit 77; }
KB="$T/kb"; HOLD=""
"$BIN" init "$KB" >/dev/null
(cd "$SRC" && "$BIN" ingest "$KB" datasets/corpus >/dev/null) || bad "ingest corpus"
q="Who founded Kestrel Avionics?"
ntr() { sqlite3 "$KB/cairn.db" "SELECT count(*) FROM traces"; }

# the lock held for 2 s: the ask waits, then stores its trace
n0=$(ntr)
flock "$KB/cairn.lock" sleep 2 & HOLD=$!
sleep 0.5
t0=$(date +%s.%N)
"$BIN" ask "$KB" "$q" >"$T/out" 2>"$T/err"; rc=$?
t1=$(date +%s.%N)
[ "$rc" = 0 ] && ok || bad "ask under a held lock: exit $rc: $(cat "$T/err")"
grep -qE '^trace tr_[0-9a-f]{16}$' "$T/out" && ok || bad "no trace id: $(cat "$T/out")"
grep -q "waiting to store the trace" "$T/err" && ok || bad "no waiting message: $(cat "$T/err")"
awk -v a="$t0" -v b="$t1" 'BEGIN { exit !(b - a >= 1.0) }' && ok || bad "the ask did not wait for the lock"
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
flock "$KB/cairn.lock" sleep 4 & HOLD=$!
sleep 0.5
expect 1 "held the KB for 1 s.*ask.trace_wait_s" -- "$BIN" ask "$KB" "$q"
[ "$(ntr)" = "$n0" ] && ok || bad "a failed ask stored a trace"
wait "$HOLD"; HOLD=""

# without a competing writer the same KB answers at once, and the chain verifies
expect 0 "^trace tr_" -- "$BIN" ask "$KB" "$q"
expect 0 "" -- "$BIN" trace "$KB" verify

echo "test_ask_wait: $pass passed, $fail failed"
[ "$fail" = 0 ]
