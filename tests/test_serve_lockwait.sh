#!/usr/bin/env bash
# test_serve_lockwait.sh — a document write through the API that finds
# another process holding the KB's writer lock waits for it (--wait,
# setting serve.lock_wait_s) instead of failing at once:
#   - a lock let go within the wait: the write goes in (201) after the
#     holder has ended, and is searchable;
#   - a lock held past the wait: 503 kb_busy with Retry-After, saying how
#     long it waited, no earlier than the wait and while the lock is still
#     held; searches are answered meanwhile;
#   - 0 answers at once; --wait wins over the setting; bad values refuse to
#     start; SIGTERM ends a waiting write (503) without waiting out the lock.
# Order is asserted (the lock holder's end), and only lower bounds on time.
set -u
BIN="${CAIRN_BIN:?}"
. "$CAIRN_SRC/tests/lib.sh"
command -v curl >/dev/null || { echo "SKIP: curl not installed"; exit 77; }
command -v flock >/dev/null || { echo "SKIP: flock(1) not installed"; exit 77; }
T="${CAIRN_TMP:-/tmp}/serve_lockwait.$$"; rm -rf "$T"; mkdir -p "$T/docs"
PID=""; FL=""
cleanup() { [ -n "$PID" ] && kill -KILL "$PID" 2>/dev/null; [ -n "$FL" ] && let_go; rm -rf "$T"; }
trap cleanup EXIT
printf 'The harbour crane lifted forty containers before the storm.\n' >"$T/docs/crane.txt"
"$BIN" init "$T/kb" >/dev/null && "$BIN" ingest "$T/kb" "$T/docs" >/dev/null 2>&1 \
  || { echo "setup failed"; exit 1; }
setwait() { /usr/bin/python3 - "$T/kb/cairn.json" "$1" <<'PY'
import json, sys
p = sys.argv[1]; s = json.load(open(p))
s.setdefault("serve", {})["lock_wait_s"] = json.loads(sys.argv[2])
json.dump(s, open(p, "w"))
PY
}
now() { date +%s.%N; }
# hold SECONDS: another process takes the writer lock for SECONDS (FL:
# flock's pid; returns once the lock is held); let_go ends it early (its
# sleep, whose pid is in $T/held, is killed, and flock exits)
hold() {
  rm -f "$T/held"
  flock -w 120 "$T/kb/cairn.lock" sh -c "echo \$\$ >'$T/held.tmp'; mv '$T/held.tmp' '$T/held'; exec sleep $1" \
    >/dev/null 2>&1 & FL=$!
  for _ in $(seq 1200); do [ -s "$T/held" ] && return 0; sleep 0.1; done
  bad "flock did not take the lock"; return 1
}
let_go() { kill "$(cat "$T/held")" 2>/dev/null; wait "$FL" 2>/dev/null; FL=""; }
post() { curl -s -D "$T/head" -o "$T/body" -w '%{http_code}' --max-time 120 -H 'Content-Type: application/json' \
           -d "{\"uri\":\"$1\",\"text\":\"$2\"}" "$U/v1/documents"; }
found() { curl -s --max-time 20 -H 'Content-Type: application/json' \
            -d "{\"query\":\"$1\",\"k\":1,\"mode\":\"bm25\"}" "$U/v1/search" | grep -q "\"document\":\"$2\""; }

# ---------------------------------------------------------------- bad values
for v in -1 90000 '"soon"'; do
  setwait "$v"
  expect 1 "serve.lock_wait_s.*0-86400" -- timeout 60 "$BIN" serve "$T/kb" --listen 127.0.0.1:0
done
expect 2 "option --wait: 'abc'" -- timeout 60 "$BIN" serve "$T/kb" --listen 127.0.0.1:0 --wait abc

# ---------------------------------------------------------------- --wait 4 (over a setting of 0)
setwait 0
start_server "$T/log" "$T/kb" --listen 127.0.0.1:0 --threads 2 --wait 4 || exit 1
c=$(post first.txt "quartzite first")
[ "$c" = 201 ] && ok || bad "POST with the lock free: $c $(cat "$T/body")"

# a lock let go within the wait: the write goes in after the holder ends
hold 1.5 || exit 1
c=$(post second.txt "basalt second")
if kill -0 "$FL" 2>/dev/null; then held=1; else held=0; fi
wait "$FL"; FL=""
[ "$c" = 201 ] && ok || bad "POST while the lock was held for 1.5 s (wait 4 s): $c $(cat "$T/body")"
[ "$held" = 0 ] && ok || bad "the write was answered while the other process still held the lock"
found basalt second.txt && ok || bad "second.txt not found"

# a lock held past the wait: 503 kb_busy after the wait, the lock still held
hold 30 || exit 1
t0=$(now)
{ post third.txt "feldspar third" >"$T/code3"; now >"$T/t1"; kill -0 "$FL" 2>/dev/null && echo 1 >"$T/held3"; } &
cp=$!
sleep 0.5
s=$(curl -s -o /dev/null -w '%{http_code}' --max-time 20 -H 'Content-Type: application/json' \
      -d '{"query":"quartzite","k":1,"mode":"bm25"}' "$U/v1/search")
[ "$s" = 200 ] && ok || bad "a search while a write waits for the lock: $s"
wait "$cp"
c=$(cat "$T/code3"); t1=$(cat "$T/t1"); held=$(cat "$T/held3" 2>/dev/null || echo 0)
[ "$c" = 503 ] && grep -q '"code":"kb_busy"' "$T/body" && ok || bad "POST with the lock held past the wait: $c $(cat "$T/body")"
grep -q 'waited [0-9.]* s' "$T/body" && ok || bad "the 503 does not say how long it waited: $(cat "$T/body")"
grep -qi '^Retry-After: 1' "$T/head" && ok || bad "503 kb_busy without Retry-After: $(cat "$T/head")"
awk -v a="$t0" -v b="$t1" 'BEGIN { exit !(b - a >= 3.5) }' && ok || bad "503 after $(awk -v a="$t0" -v b="$t1" 'BEGIN { print b - a }') s, before the 4 s wait"
[ "$held" = 1 ] && ok || bad "the 503 came after the other process let go (the wait did not end on time)"
let_go
c=$(post fourth.txt "gneiss fourth")
[ "$c" = 201 ] && ok || bad "POST after the lock was let go: $c $(cat "$T/body")"
found feldspar third.txt && bad "third.txt (answered 503) is in the KB" || ok

# SIGTERM ends a waiting write without waiting out the lock
hold 60 || exit 1
post fifth.txt "marble fifth" >"$T/code5" &
cp=$!
sleep 1
kill -TERM "$PID"; wait "$PID"; rc=$?; PID=""
if kill -0 "$FL" 2>/dev/null; then held=1; else held=0; fi
wait "$cp"
[ "$rc" = 0 ] && ok || bad "server exit $rc on SIGTERM during a waiting write: $(tail -3 "$T/log")"
[ "$held" = 1 ] && ok || bad "the server waited out the lock before stopping"
[ "$(cat "$T/code5")" = 503 ] && ok || bad "the waiting write on SIGTERM: $(cat "$T/code5") $(cat "$T/body")"
let_go

# ---------------------------------------------------------------- the setting: 0 answers at once
start_server "$T/log" "$T/kb" --listen 127.0.0.1:0 --threads 2 || exit 1
hold 30 || exit 1
c=$(post sixth.txt "slate sixth")
if kill -0 "$FL" 2>/dev/null; then held=1; else held=0; fi
[ "$c" = 503 ] && grep -q '"code":"kb_busy"' "$T/body" && ok || bad "POST with serve.lock_wait_s 0: $c $(cat "$T/body")"
[ "$held" = 1 ] && ok || bad "serve.lock_wait_s 0: the 503 came only after the lock was let go"
let_go
kill -TERM "$PID"; wait "$PID"; PID=""

echo "pass=$pass fail=$fail"
[ "$fail" = 0 ]
