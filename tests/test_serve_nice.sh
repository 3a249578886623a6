#!/usr/bin/env bash
# test_serve_nice.sh — the setting serve.background_nice: the writer thread
# and the vector reloader run at that lower CPU priority (per thread, the
# other threads keep the server's), writes still reach the vector lane, and
# a value out of 0-19 refuses to start with a message naming the setting.
set -u
# run at a nice above 0, so that "lower" is checked relative to the
# server's own priority (a server started under nice(1))
[ "$(nice)" = 0 ] && command -v nice >/dev/null && exec nice -n 3 bash "$0" "$@"
BIN="${CAIRN_BIN:?}"
. "$CAIRN_SRC/tests/lib.sh"
command -v curl >/dev/null || { echo "curl not installed"; exit 77; }
[ -d /proc/self/task ] || { echo "no /proc: cannot read thread priorities"; exit 77; }
T="${CAIRN_TMP:-/tmp}/serve_nice.$$"; rm -rf "$T"; mkdir -p "$T/docs"
PID=""
cleanup() { [ -n "$PID" ] && kill -KILL "$PID" 2>/dev/null; rm -rf "$T"; }
trap cleanup EXIT
printf 'The harbour crane lifted forty containers before the storm.\n' > "$T/docs/crane.txt"
"$BIN" init "$T/kb" >/dev/null && "$BIN" ingest "$T/kb" "$T/docs" >/dev/null 2>&1 \
  || { echo "setup failed"; exit 1; }
setnice() { /usr/bin/python3 - "$T/kb/cairn.json" "$1" <<'PY'
import json, sys
p = sys.argv[1]; s = json.load(open(p))
s.setdefault("serve", {})["background_nice"] = json.loads(sys.argv[2])
json.dump(s, open(p, "w"))
PY
}

# out of range, or not a number: refused at startup
for v in 20 -1 '"low"'; do
  setnice "$v"
  expect 1 "serve.background_nice.*0-19" -- timeout 60 "$BIN" serve "$T/kb" --listen 127.0.0.1:0
done

setnice 7
start_server "$T/log" "$T/kb" --listen 127.0.0.1:0 --threads 2 || exit 1
J=(-H 'Content-Type: application/json')
code=$(curl -s -o /dev/null -w '%{http_code}' "${J[@]}" \
  -d '{"uri":"lantern.txt","text":"The lighthouse keeper trimmed the lantern wick at dusk."}' "$U/v1/documents")
[ "$code" = 201 ] && ok || bad "POST answered $code"
# nice is field 19 of /proc/PID/task/TID/stat (after the ")" of the name);
# relative to the server's own (this test may itself run under nice(1))
base=$(sed 's/.*) //' /proc/$PID/stat | awk '{print $17}')
low=$(( base + 7 > 19 ? 19 : base + 7 ))
nices=$(for f in /proc/$PID/task/*/stat; do sed 's/.*) //' "$f" | awk '{print $17}'; done | sort | uniq -c)
nlow=$(awk -v v="$low" '$2 == v {print $1}' <<<"$nices"); nbase=$(awk -v v="$base" '$2 == v {print $1}' <<<"$nices")
if [ "$low" != "$base" ]; then
  [ "${nlow:-0}" -ge 2 ] && ok || bad "want the writer and the reloader at nice $low (the server's $base + 7): $nices"
fi
[ "${nbase:-0}" -ge 3 ] && ok || bad "want the other threads (main, searchers, libmicrohttpd) at the server's nice $base: $nices"
# the write reaches the vector lane (the catch-up runs at the lower priority)
found=0
for _ in $(seq 300); do
  curl -s "${J[@]}" -d '{"query":"lighthouse lantern","k":3,"mode":"vector"}' "$U/v1/search" \
    | grep -q '"document":"lantern.txt"' && { found=1; break; }
  sleep 0.1
done
[ "$found" = 1 ] && ok || bad "lantern.txt not found by a vector search within 30 s"
kill -TERM "$PID"; wait "$PID"; rc=$?; PID=""
[ "$rc" = 0 ] && ok || bad "server exit $rc: $(tail -3 "$T/log")"

echo "serve_nice: $pass passed, $fail failed"
[ "$fail" = 0 ]
