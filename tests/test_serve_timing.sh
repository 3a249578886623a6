#!/usr/bin/env bash
# test_serve_timing.sh — the server's timing log (CAIRN_SERVE_TIMING) and
# the reader index's spare copy (server/serve_vectors.c): one line per
# answered search with its parts in order, and documents POSTed one after
# another each reach the vector lane, the first ones staying there as the
# spare copy is brought up to date and swapped in again and again (or the
# writer's copy handed over: test_serve_vclone.sh); no
# search fails meanwhile.
set -u
BIN="${CAIRN_BIN:?}"
. "$CAIRN_SRC/tests/lib.sh"
command -v curl >/dev/null || { echo "curl not installed"; exit 77; }
T="${CAIRN_TMP:-/tmp}/serve_timing.$$"; rm -rf "$T"; mkdir -p "$T/docs"
PID=""; BG=""
cleanup() { [ -n "$BG" ] && kill "$BG" 2>/dev/null; [ -n "$PID" ] && kill -KILL "$PID" 2>/dev/null; rm -rf "$T"; }
trap cleanup EXIT
printf 'The harbour crane lifted forty containers before the storm.\n' > "$T/docs/crane.txt"
"$BIN" init "$T/kb" >/dev/null && "$BIN" ingest "$T/kb" "$T/docs" >/dev/null 2>&1 \
  || { echo "setup failed"; exit 1; }
CAIRN_SERVE_TIMING="$T/timing.log" start_server "$T/log" "$T/kb" --listen 127.0.0.1:0 --threads 2 || exit 1
grep -q 'timing log in' "$T/log" && ok || bad "no word of the timing log at startup: $(cat "$T/log")"
J=(-H 'Content-Type: application/json')
search() { curl -s -w '\n%{http_code}' "${J[@]}" -d "{\"query\":\"$1\",\"k\":3,\"mode\":\"$2\"}" "$U/v1/search"; }
# wait_for QUERY MODE URI: up to 20 s for URI to be among the hits
wait_for() { local out
  for _ in $(seq 200); do
    out=$(search "$1" "$2")
    [ "$(tail -1 <<<"$out")" = 200 ] || { bad "search $1 ($2): $out"; return; }
    grep -q "\"document\":\"$3\"" <<<"$out" && { ok; return; }
    sleep 0.1
  done
  bad "$3 not found by $2 search for '$1' within 20 s: $out"; }
# searches all along, each must answer 200
( while :; do c=$(curl -s -o /dev/null -w '%{http_code}' "${J[@]}" -d '{"query":"storm containers"}' "$U/v1/search")
    [ "$c" = 200 ] || echo "background search answered $c" >> "$T/bgfail"; done ) &
BG=$!
wait_for "containers" vector "$T/docs/crane.txt"
docs=("Norvale Systems reported quarterly revenue growth of nine percent."
      "Firmware 4.2.1 froze the heading value of the PX-9000-v2 controller."
      "The lighthouse keeper trimmed the lantern wick at dusk."
      "A glacier left its moraine across the valley floor.")
qs=("quarterly revenue" "firmware heading controller" "lighthouse keeper lantern" "glacier moraine valley")
for i in 0 1 2 3; do
  code=$(curl -s -o "$T/post" -w '%{http_code}' "${J[@]}" \
    -d "{\"uri\":\"api/doc$i.txt\",\"text\":\"${docs[$i]}\"}" "$U/v1/documents")
  [ "$code" = 201 ] && ok || bad "POST doc$i: $code $(cat "$T/post")"
  wait_for "${qs[$i]}" vector "api/doc$i.txt"
done
# every earlier document is still in the vector lane after the swaps
for i in 0 1 2 3; do wait_for "${qs[$i]}" vector "api/doc$i.txt"; done
kill "$BG"; wait "$BG" 2>/dev/null; BG=""
[ -s "$T/bgfail" ] && bad "$(sort "$T/bgfail" | uniq -c)" || ok
kill -TERM "$PID"; wait "$PID"; rc=$?; PID=""
[ "$rc" = 0 ] && ok || bad "server exit $rc"
# the log: S lines of 15 fields, times that add up; a spare swapped in
L="$T/timing.log"
n=$(grep -c '^S ' "$L")
[ "$n" -ge 20 ] && ok || bad "only $n search lines in the timing log"
awk '$1 == "S" && (NF < 15 || $5 < 0 || $5 + 0.01 < $7 + $8 + $11) { print "bad line: " $0; exit 1 }' "$L" \
  && ok || bad "a search line's parts do not fit its total: $(head -3 "$L")"
awk '$1 == "S" && $14 == 2 && $10 > 0 { v = 1 } END { exit !v }' "$L" && ok \
  || bad "no hybrid search line with a vector lane time"
grep -q '^W [0-9.]* [0-9]* job ' "$L" && ok || bad "no write job in the timing log"
# (the API's writer hands its index over: serve_vectors_handoff)
grep -qE '^V [0-9.]* [0-9]* (swap|handoff) ' "$L" && ok \
  || bad "no newer index was ever swapped or handed in: $(grep '^[VW]' "$L")"
echo "serve_timing: $pass passed, $fail failed"
[ "$fail" = 0 ]
