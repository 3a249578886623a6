#!/usr/bin/env bash
# test_serve_vectors.sh — the server's shared vector index follows writes
# without a restart: a document POSTed through the API is found by BM25 at
# once and by the vector lane within a few seconds (background reload), a
# document ingested by the command line while the server runs too (the
# reloader's stat poll), and searches keep answering 200 all along.
set -u
BIN="${CAIRN_BIN:?}"
. "$CAIRN_SRC/tests/lib.sh"
command -v curl >/dev/null || { echo "curl not installed"; exit 77; }
T="${CAIRN_TMP:-/tmp}/serve_vectors.$$"; rm -rf "$T"; mkdir -p "$T/docs"
PID=""
cleanup() { [ -n "$PID" ] && kill -KILL "$PID" 2>/dev/null; rm -rf "$T"; }
trap cleanup EXIT
printf 'The harbour crane lifted forty containers before the storm.\n' > "$T/docs/crane.txt"
"$BIN" init "$T/kb" >/dev/null && "$BIN" ingest "$T/kb" "$T/docs" >/dev/null 2>&1 \
  || { echo "setup failed"; exit 1; }
"$BIN" serve "$T/kb" --listen 127.0.0.1:0 --threads 2 >"$T/log" 2>&1 &
PID=$!
for _ in $(seq 50); do grep -q 'http://' "$T/log" && break; sleep 0.1; done
U=$(grep -o 'http://127.0.0.1:[0-9]*' "$T/log")
[ -n "$U" ] || { echo "server did not start: $(cat "$T/log")"; exit 1; }
J=(-H 'Content-Type: application/json')
search() { curl -s -w '\n%{http_code}' "${J[@]}" -d "{\"query\":\"$1\",\"k\":1,\"mode\":\"$2\"}" "$U/v1/search"; }
# wait_for QUERY MODE URI: up to 10 s for URI to be the top hit
wait_for() { local out
  for _ in $(seq 100); do
    out=$(search "$1" "$2")
    [ "$(tail -1 <<<"$out")" = 200 ] || { bad "search $1 ($2): $out"; return; }
    grep -q "\"document\":\"$3\"" <<<"$out" && { ok; return; }
    sleep 0.1
  done
  bad "$3 not found by $2 search for '$1' within 10 s: $out"; }

wait_for "containers" vector "$T/docs/crane.txt"
# through the API: BM25 sees it at once, the vector lane after the reload
code=$(curl -s -o "$T/post" -w '%{http_code}' "${J[@]}" \
  -d '{"uri":"api/revenue.txt","text":"Norvale Systems reported quarterly revenue growth of nine percent."}' "$U/v1/documents")
[ "$code" = 201 ] || [ "$code" = 200 ] && ok || bad "POST /v1/documents: $code $(cat "$T/post")"
out=$(search "quarterly" bm25)
grep -q '"document":"api/revenue.txt"' <<<"$out" && ok || bad "bm25 right after the write: $out"
wait_for "revenues" vector "api/revenue.txt"
# through the command line while the server runs
printf 'Firmware 4.2.1 froze the heading value of the PX-9000-v2 controller.\n' > "$T/docs/firmware.txt"
expect 0 "" -- "$BIN" ingest "$T/kb" "$T/docs/firmware.txt" --wait 60
wait_for "firmware heading controller" vector "$T/docs/firmware.txt"
out=$(search "containers" hybrid)
grep -q '"note"' <<<"$out" && bad "hybrid reports the vector lane unavailable: $out" || ok
kill -TERM "$PID"; wait "$PID"; rc=$?; PID=""
[ "$rc" = 0 ] && ok || bad "server exit $rc"
echo "serve_vectors: $pass passed, $fail failed"
[ "$fail" = 0 ]
