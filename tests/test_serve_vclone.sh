#!/usr/bin/env bash
# test_serve_vclone.sh — the API's writer hands its caught-up vector index
# to the readers as a copy (serve_writer.c, serve_vectors.c): documents
# POSTed through the API become searchable in the vector lane and deleted
# ones disappear from it, with the readers applying no delta themselves
# (the timing log shows handoffs and no reader swap or load after
# startup); a CLI writer meanwhile still reaches the readers (their spare,
# a copy of the current index, follows the delta file); after a stop the
# files hold what the server acknowledged (a fresh CLI search and
# `cairn check`). HNSW from 20 vectors, so the HNSW copy is exercised.
set -u
BIN="${CAIRN_BIN:?}"
. "$CAIRN_SRC/tests/lib.sh"
command -v curl >/dev/null || { echo "curl not installed"; exit 77; }
T="${CAIRN_TMP:-/tmp}/serve_vclone.$$"; rm -rf "$T"; mkdir -p "$T/docs"
PID=""
cleanup() { [ -n "$PID" ] && kill -KILL "$PID" 2>/dev/null; rm -rf "$T"; }
trap cleanup EXIT
words=(amber basalt cobalt dune ember fjord glacier harbour iris jade kelp lagoon
       meadow nebula orchid prairie quartz reef sierra tundra umber valley willow
       xenon yarrow zephyr)
for i in $(seq 0 29); do
  printf 'Note %d about the %s and the %s near the %s.\n' "$i" "${words[$((i % 26))]}" \
    "${words[$(((i * 7) % 26))]}" "${words[$(((i * 11 + 3) % 26))]}" > "$T/docs/n$i.txt"
done
"$BIN" init "$T/kb" >/dev/null || { echo "init failed"; exit 1; }
/usr/bin/python3 - "$T/kb/cairn.json" <<'PY' || { echo "settings failed"; exit 1; }
import json, sys
p = sys.argv[1]; s = json.load(open(p))
s.setdefault("vectors", {})["hnsw_threshold"] = 20
json.dump(s, open(p, "w"))
PY
"$BIN" ingest "$T/kb" "$T/docs" >/dev/null 2>&1 || { echo "ingest failed"; exit 1; }
export CAIRN_SERVE_TIMING="$T/timing"
start_server "$T/log" "$T/kb" --listen 127.0.0.1:0 --threads 2 \
  || { echo "server did not start"; exit 1; }
J=(-H 'Content-Type: application/json')
search() { curl -s -w '\n%{http_code}' "${J[@]}" -d "{\"query\":\"$1\",\"k\":3,\"mode\":\"$2\"}" "$U/v1/search"; }
# wait_for QUERY URI [absent]: up to 20 s for URI to be the vector lane's top hit
# (or, with "absent", to be in none of its top 3)
wait_for() { local out i
  for i in $(seq 200); do
    out=$(search "$1" vector)
    [ "$(tail -1 <<<"$out")" = 200 ] || { bad "search $1: $out"; return; }
    if [ "${3:-}" = absent ]; then
      grep -q "\"document\":\"$2\"" <<<"$out" || { ok; return; }
    else
      grep -o '"document":"[^"]*"' <<<"$out" | head -1 | grep -q "\"$2\"" && { ok; return; }
    fi
    sleep 0.1
  done
  bad "vector search for '$1': $2 ${3:-not found} after 20 s: $out"; }
post() {   # post URI TEXT: prints the new document's id
  curl -s "${J[@]}" -d "{\"uri\":\"$1\",\"text\":\"$2\"}" "$U/v1/documents" |
    /usr/bin/python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])'; }
count() { grep -c "^$1 [0-9.]* [0-9]* $2 " "$T/timing" 2>/dev/null; true; }

wait_for "$(cat "$T/docs/n7.txt")" "$T/docs/n7.txt"   # the startup index answers
A_TEXT="Ostrava turbines hum beside the copper pylons of Vesnik."
B_TEXT="Quillon archivists catalogued seventeen saffron manuscripts."
A=$(post api/a.txt "$A_TEXT")
[ -n "$A" ] && ok || bad "POST a.txt gave no id"
wait_for "$A_TEXT" api/a.txt
B=$(post api/b.txt "$B_TEXT")
code=$(curl -s -o "$T/del" -w '%{http_code}' -X DELETE "$U/v1/documents/$A")
[ "$code" = 200 ] && ok || bad "DELETE a.txt: $code $(cat "$T/del")"
wait_for "$B_TEXT" api/b.txt
wait_for "$A_TEXT" api/a.txt absent
# a CLI writer while the server runs: the readers follow the files
printf 'Tarragon lighthouses signal the wandering pelicans of Corvo.\n' > "$T/docs/cli.txt"
expect 0 "" -- "$BIN" ingest "$T/kb" "$T/docs/cli.txt" --wait 60
wait_for "Tarragon lighthouses signal the wandering pelicans of Corvo." "$T/docs/cli.txt"
wait_for "$B_TEXT" api/b.txt
# and the API's writer again after it
C_TEXT="Umbrian beekeepers measured the violet clover harvest."
post api/c.txt "$C_TEXT" >/dev/null
wait_for "$C_TEXT" api/c.txt
D_TEXT="Zanzibar cartographers redrew the coral shoals by lantern."
post api/d.txt "$D_TEXT" >/dev/null
wait_for "$D_TEXT" api/d.txt
wait_for "$C_TEXT" api/c.txt
out=$(search "$A_TEXT" hybrid)
grep -q '"note"' <<<"$out" && bad "hybrid reports the vector lane unavailable: $out" || ok
kill -TERM "$PID"; wait "$PID"; rc=$?; PID=""
[ "$rc" = 0 ] && ok || bad "server exit $rc: $(tail -5 "$T/log")"
# the timing log (written out at the stop): the API's writes reached the
# readers as handoffs (one per catch-up: a.txt, b.txt and the delete, c.txt,
# d.txt: at least 3), the readers loaded the files once (startup) and swapped
# only for the CLI writer (its delta applied to a spare copied from the
# current index, not loaded); the writer's first index was a copy too
[ "$(count V handoff)" -ge 3 ] && ok || bad "handoffs: $(count V handoff) (want >= 3)"
[ "$(count V load)" = 1 ] && ok || bad "reader loads: $(count V load) (want 1: startup)"
[ "$(count V swap)" -le 2 ] && [ "$(count V clone-spare)" -ge 1 ] && ok \
  || bad "reader swaps $(count V swap) (want <= 2), spare copies $(count V clone-spare) (want >= 1)"
# from the third handoff on, the copy is made into one the slots have left
grep -q '^W [0-9.]* [0-9]* clone [0-9.]* into 1 ' "$T/timing" && ok \
  || bad "no copy made into a recycled index: $(grep '^W [0-9.]* [0-9]* clone ' "$T/timing")"
[ "$(count V clone-writer)" -ge 1 ] && [ "$(count W preload)" = 1 ] && ok \
  || bad "the writer's first index is not a copy of the readers': $(grep -v '^S' "$T/timing" | head)"
# what the files hold after the stop, read afresh
unset CAIRN_SERVE_TIMING
expect 0 "api/c.txt" -- "$BIN" search "$T/kb" "$C_TEXT" --mode vector -k 1
expect 0 "api/b.txt" -- "$BIN" search "$T/kb" "$B_TEXT" --mode vector -k 1
out=$("$BIN" search "$T/kb" "$A_TEXT" --mode vector -k 3 2>&1)
grep -q "api/a.txt" <<<"$out" && bad "deleted a.txt still in the index files: $out" || ok
expect 0 "" -- "$BIN" check "$T/kb"
echo "serve_vclone: $pass passed, $fail failed"
[ "$fail" = 0 ]
