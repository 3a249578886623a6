#!/usr/bin/env bash
# test_serve_catchup_pace.sh — serve.catchup_share (serve_writer.c): while
# searches run, the API's writer pauses inside a vector catch-up (its HNSW
# inserts and the copy for the readers) so that the catch-up takes about
# that share of a core; with 100 it never pauses. Either way the posted
# documents reach the vector lane, and after SIGTERM `cairn check` passes
# and a CLI search finds them. A bad setting is refused at startup with a
# message that names it. The timing log's "W ... sync" lines report the
# pauses ("paused MS").
set -u
BIN="${CAIRN_BIN:?}"
. "$CAIRN_SRC/tests/lib.sh"
command -v curl >/dev/null || { echo "SKIP: curl not installed"; exit 77; }
[ -x /usr/bin/python3 ] || { echo "SKIP: /usr/bin/python3 not installed"; exit 77; }
T="${CAIRN_TMP:-/tmp}/serve_catchup_pace.$$"; rm -rf "$T"; mkdir -p "$T/docs"
PID=""; LPID=""
cleanup() {
  [ -n "$LPID" ] && kill "$LPID" 2>/dev/null
  [ -n "$PID" ] && kill -KILL "$PID" 2>/dev/null
  rm -rf "$T"
}
trap cleanup EXIT
wait_exit() { for _ in $(seq 600); do kill -0 "$1" 2>/dev/null || return 0; sleep 0.1; done; return 1; }

# 3,000 one-line chunks: an HNSW index whose catch-ups and copies take some
# milliseconds, the slice after which a paced catch-up pauses
/usr/bin/python3 - "$T/docs" <<'PY'
import random, sys
r = random.Random(11)
words = ["w%d" % i for i in range(4000)]
for f in range(6):
    with open("%s/part%d.txt" % (sys.argv[1], f), "w") as out:
        for _ in range(500):
            out.write(" ".join(r.choice(words) for _ in range(12)) + ".\n\n")
PY
"$BIN" init "$T/kb0" >/dev/null || { echo "init failed"; exit 1; }
printf '{"format": 1, "chunk": {"target_tokens": 24, "overlap_tokens": 0}, "graph": {"extractor": "none"}, "vectors": {"hnsw_threshold": 20}}\n' \
  > "$T/kb0/cairn.json"
"$BIN" ingest "$T/kb0" "$T/docs" >/dev/null 2>&1 || { echo "ingest failed"; exit 1; }

# a bad setting: refused, naming it
for v in 0 101 '"half"'; do
  cp -a "$T/kb0" "$T/kbbad"
  /usr/bin/python3 - "$T/kbbad/cairn.json" "$v" <<'PY'
import json, sys
p = sys.argv[1]; s = json.load(open(p))
s.setdefault("serve", {})["catchup_share"] = json.loads(sys.argv[2])
json.dump(s, open(p, "w"))
PY
  expect 1 "serve.catchup_share.*1-100" -- timeout 30 "$BIN" serve "$T/kbbad" --listen 127.0.0.1:0
  rm -rf "$T/kbbad"
done

# run SHARE: a server with that share, searches from 4 keep-alive clients,
# 60 documents POSTed while they run; prints the sum of the syncs' pauses
run() {
  local share="$1" kb="$T/kb$1" i paused syncs
  cp -a "$T/kb0" "$kb"
  /usr/bin/python3 - "$kb/cairn.json" "$share" <<'PY'
import json, sys
p = sys.argv[1]; s = json.load(open(p))
s.setdefault("serve", {})["catchup_share"] = int(sys.argv[2])
json.dump(s, open(p, "w"))
PY
  CAIRN_SERVE_TIMING="$T/timing$share" start_server "$T/log$share" "$kb" --listen 127.0.0.1:0 \
    --threads 2 || { bad "share $share: server"; return; }
  /usr/bin/python3 - "$U" <<'PY' &
import http.client, sys, threading, urllib.parse
u = urllib.parse.urlparse(sys.argv[1])
def loop(n):
    c = http.client.HTTPConnection(u.hostname, u.port, timeout=30)
    i = 0
    while True:
        i += 1
        body = '{"query":"w%d w%d","k":10,"mode":"vector"}' % ((i * 7 + n) % 4000, (i * 13) % 4000)
        try:
            c.request("POST", "/v1/search", body, {"Content-Type": "application/json"})
            c.getresponse().read()
        except Exception:
            return
for n in range(4):
    threading.Thread(target=loop, args=(n,), daemon=True).start()
threading.Event().wait()
PY
  LPID=$!
  sleep 1
  for i in $(seq 60); do
    curl -s -o /dev/null -H 'Content-Type: application/json' \
      -d "{\"uri\":\"posted/$i.txt\",\"text\":\"Posted memo $i about the saffron quayside lantern $i.\"}" \
      "$U/v1/documents"
    sleep 0.05
  done
  # the catch-ups that covered the posts (the first one at startup loads the index)
  for _ in $(seq 300); do
    [ "$(curl -s "$U/metrics" | awk '$1 == "cairn_vector_index_generation" { print $2 }')" = \
      "$(sqlite3 "$kb/cairn.db" 'SELECT max(generation) FROM changes' 2>/dev/null || echo x)" ] && break
    sleep 0.1
  done
  kill "$LPID" 2>/dev/null; wait "$LPID" 2>/dev/null; LPID=""
  syncs=$(grep -c ' sync .* added [1-9]' "$T/timing$share")
  [ "$syncs" -ge 1 ] && ok || bad "share $share: no catch-up with adds in the timing log"
  grep ' sync ' "$T/timing$share" | grep -q ' paused [0-9.]*$' && ok \
    || bad "share $share: the sync lines do not report pauses: $(grep ' sync ' "$T/timing$share" | tail -2)"
  paused=$(awk '$4 == "sync" { for (i = 5; i < NF; i++) if ($i == "paused") s += $(i + 1) } END { printf "%.3f", s + 0 }' \
    "$T/timing$share")
  echo "share $share: $syncs catch-ups with adds, paused $paused ms in all" >&2
  kill -TERM "$PID"; wait_exit "$PID" || bad "share $share: server did not stop on SIGTERM"
  wait "$PID" 2>/dev/null; PID=""
  expect 0 "all checks passed" -- "$BIN" check "$kb"
  expect 0 "posted/37.txt" -- "$BIN" search "$kb" "Posted memo 37 about the saffron quayside lantern 37." -k 3 --mode vector
  PAUSED="$paused"
}
command -v sqlite3 >/dev/null || { echo "SKIP: sqlite3 not installed"; exit 77; }
PAUSED=0; run 10; p10="$PAUSED"
PAUSED=0; run 100; p100="$PAUSED"
awk -v p="$p10" 'BEGIN { exit !(p > 0) }' && ok || bad "share 10: the catch-ups never paused while searches ran"
[ "$p100" = "0.000" ] && ok || bad "share 100: the catch-ups paused $p100 ms"
echo "pass=$pass fail=$fail"
[ "$fail" = 0 ]
