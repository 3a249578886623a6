#!/usr/bin/env bash
# test_serve_traces.sh — the trace routes of `cairn serve` over real HTTP on
# loopback (GET /v1/traces with filters, sorting and paging; one trace with
# its chain status; raw; verify; JSONL export; /v1/chunks/{id}), checked
# against `cairn trace` and the catalog, then against traces edited and
# deleted behind the server's back.
set -u
BIN="${CAIRN_BIN:?}"
. "$CAIRN_SRC/tests/lib.sh"
command -v curl >/dev/null || { echo "SKIP: curl not installed"; exit 77; }
command -v sqlite3 >/dev/null || { echo "SKIP: sqlite3 not installed"; exit 77; }
T="${CAIRN_TMP:-/tmp}/serve_traces.$$"; rm -rf "$T"; mkdir -p "$T"
PID=""
cleanup() { [ -n "$PID" ] && kill -KILL "$PID" 2>/dev/null; rm -rf "$T"; }
trap cleanup EXIT
"$BIN" init "$T/kb" >/dev/null && "$BIN" ingest "$T/kb" "$CAIRN_SRC/datasets/corpus" >/dev/null 2>&1 \
  || { echo "setup failed"; exit 1; }
ask() { "$BIN" ask "$T/kb" "$1" | sed -n 's/^trace \(tr_[0-9a-f]*\)$/\1/p'; }
T1=$(ask "Which company did Kestrel Avionics Ltd acquire in 2023?")
T2=$(ask "How much did Norvale Analytics BV raise in its Series A round?")
T3=$(ask "What xylophone quartet performed zebra polkas?")
[ -n "$T1" ] && [ -n "$T2" ] && [ -n "$T3" ] || { echo "setup failed: no trace ids"; exit 1; }

"$BIN" serve "$T/kb" --listen 127.0.0.1:0 --threads 2 >"$T/log" 2>&1 &
PID=$!
for _ in $(seq 50); do grep -q 'http://' "$T/log" && break; sleep 0.1; done
PORT=$(grep -o 'http://127.0.0.1:[0-9]*' "$T/log" | sed 's/.*://')
[ -n "$PORT" ] || { echo "server did not start: $(cat "$T/log")"; exit 1; }
U="http://127.0.0.1:$PORT"
req() { local m="$1" p="$2"; shift 2
  body=$(curl -s -o - -w '\n%{http_code}' -X "$m" "$@" "$U$p"); code=${body##*$'\n'}; body=${body%$'\n'*}; }
is() { if [ "$code" = "$1" ] && grep -qE -- "$2" <<<"$body"; then ok; else bad "$3: got $code ${body:0:300}"; fi; }
ids() { grep -o '"id":"tr_[0-9a-f]*"' <<<"$body" | cut -d'"' -f4 | tr '\n' ' '; }

# ---- list
req GET /v1/traces; is 200 '"count":3,"total":3,"offset":0,"callers":\["cli"\]' "list all"
[ "$(ids)" = "$T3 $T2 $T1 " ] && ok || bad "default order is newest first: $(ids)"
grep -q "\"id\":\"$T3\",[^}]*\"abstained\":true,\"checks_ok\":true,\"citations\":0" <<<"$body" && ok || bad "abstention in list: $body"
grep -q '"verification":"ok"' <<<"$body" && ! grep -q '"verification":"[^o]' <<<"$body" && ok || bad "all ok: $body"
req GET '/v1/traces?sort=time&order=asc'; [ "$(ids)" = "$T1 $T2 $T3 " ] && ok || bad "time asc: $(ids)"
req GET '/v1/traces?sort=question&order=asc'; [ "$(ids)" = "$T2 $T3 $T1 " ] && ok || bad "question asc (H, W, Wh): $(ids)"
req GET '/v1/traces?sort=question&order=desc&limit=1'; is 200 '"count":1,"total":3,"offset":0,"next_offset":1' "page 1"
[ "$(ids)" = "$T1 " ] && ok || bad "question desc page 1: $(ids)"
req GET '/v1/traces?sort=question&order=desc&limit=1&offset=2'; is 200 '"count":1,"total":3,"offset":2,"callers"' "last page has no next_offset"
[ "$(ids)" = "$T2 " ] && ok || bad "question desc page 3: $(ids)"
req GET '/v1/traces?sort=question&order=desc&limit=2&offset=5'; is 200 '"count":0,"total":3,"offset":5,"callers"' "past the end"
req GET '/v1/traces?q=KESTREL'; [ "$(ids)" = "$T1 " ] && ok || bad "q in the question, any case: $(ids)"
req GET '/v1/traces?q=vessmark%20growth'; [ "$(ids)" = "$T2 " ] && ok || bad "q in the answer only: $(ids)"
req GET '/v1/traces?caller=cli'; is 200 '"total":3' "caller"
req GET '/v1/traces?caller=robot'; is 200 '"total":0' "other caller"
day=$(sqlite3 "$T/kb/cairn.db" "SELECT substr(created_at, 1, 10) FROM traces WHERE id = '$T1'")
req GET "/v1/traces?from=$day&to=$day"; is 200 '"total":3' "the whole day (to is an inclusive prefix)"
req GET '/v1/traces?to=2000-01-01'; is 200 '"total":0' "before"
req GET '/v1/traces?from=2999-01-01T00:00'; is 200 '"total":0' "after"
req GET '/v1/traces?status=ok'; is 200 '"total":3' "status ok"
req GET '/v1/traces?status=broken'; is 200 '"total":0' "status broken"
req GET '/v1/traces?from=yesterday'; is 400 '"code":"bad_parameter","message":"from and to must be' "bad from"
req GET '/v1/traces?status=meh'; is 400 'status must be ok or broken' "bad status"
req GET '/v1/traces?sort=color'; is 400 'sort must be time, caller or question' "bad sort"
req GET '/v1/traces?order=up'; is 400 'order must be asc or desc' "bad order"
req GET '/v1/traces?limit=0'; is 400 'limit must be an integer in 1..1000' "bad limit"
req GET '/v1/traces?limit=abc'; is 400 'limit must be' "non-numeric limit"
req GET '/v1/traces?color=red'; is 400 'unknown parameter \\"color\\"' "unknown parameter"
req GET "/v1/traces?q=%FF"; is 400 '"code":"invalid_utf8"' "invalid utf8 in q"
req POST /v1/traces; is 405 'allows GET' "POST list"

# ---- one trace
req GET "/v1/traces/$T1"; is 200 "^\\{\"seq\":1,\"id\":\"$T1\",\"verification\":\\{\"status\":\"ok\"" "one trace"
grep -q "\"trace\":{\"trace_id\":\"$T1\"" <<<"$body" && ok || bad "trace document embedded"
stored=$("$BIN" trace "$T/kb" show "$T1")
[ "${body#*\"trace\":}" = "$stored}" ] && ok || bad "embedded trace is the stored JSON verbatim"
req GET /v1/traces/tr_0000000000000000; is 404 'no trace with id' "missing trace"
req GET '/v1/traces/bad%20id'; is 404 'no such resource' "bad id"
req GET "/v1/traces/$T1/other"; is 404 'no such resource' "bad sub-resource"
long=$(printf 'é%.0s' $(seq 150))   # the echoed path is cut inside a 2-byte character
req GET "/v1/traces/x/$long"; is 404 'no such resource' "long path"
/usr/bin/python3 -c 'import sys; sys.stdin.buffer.read().decode("utf-8")' <<<"$body" && ok || bad "error message cut mid-character: not UTF-8"
curl -s -D "$T/h" -o "$T/raw" "$U/v1/traces/$T1/raw"
"$BIN" trace "$T/kb" show "$T1" | head -c -1 > "$T/show"
cmp -s "$T/raw" "$T/show" && ok || bad "raw is the stored JSON byte for byte"
prev=$(sed -n 's/^X-Cairn-Trace-Prev-Hash: \([0-9a-f]*\).*/\1/ip' "$T/h")
hash=$(sed -n 's/^X-Cairn-Trace-Hash: \([0-9a-f]*\).*/\1/ip' "$T/h")
calc=$( { printf %s "$prev"; cat "$T/raw"; } | sha256sum | cut -d' ' -f1)
[ -n "$hash" ] && [ "$calc" = "$hash" ] && ok || bad "raw: sha256(prev_hash || body) = hash header ($calc vs $hash)"
grep -qi "^Content-Disposition: attachment; filename=\"$T1.json\"" "$T/h" && ok || bad "raw: attachment header"

# ---- verify and export
req GET /v1/traces/verify; is 200 '^\{"ok":true,"checked":3,' "verify"
curl -s -D "$T/h" -o "$T/all.jsonl" "$U/v1/traces/export"
"$BIN" trace "$T/kb" export > "$T/cli.jsonl"
cmp -s "$T/all.jsonl" "$T/cli.jsonl" && ok || bad "export = cairn trace export"
grep -qi '^Content-Type: application/x-ndjson' "$T/h" && ok || bad "export content type"
grep -qi '^Transfer-Encoding: chunked' "$T/h" && ok || bad "export streamed (chunked)"
n=$(curl -s "$U/v1/traces/export?q=norvale" | wc -l); [ "$n" = 1 ] && ok || bad "export filtered: $n lines"
n=$(curl -s "$U/v1/traces/export?to=2000" | wc -c); [ "$n" = 0 ] && ok || bad "export of nothing: $n bytes"
req GET '/v1/traces/export?limit=1'; is 400 'unknown parameter \\"limit\\"' "export takes filters only"

# ---- chunks
cid=$(sqlite3 "$T/kb/cairn.db" "SELECT id FROM chunks ORDER BY id LIMIT 1 OFFSET 5")
want=$(sqlite3 "$T/kb/cairn.db" "SELECT d.uri || '|' || d.version || '|' || d.sha256 || '|' || c.start_char || '|' || c.end_char FROM chunks c JOIN documents d ON d.id = c.doc_id WHERE c.id = $cid")
req GET "/v1/chunks/$cid"; is 200 "^\\{\"id\":$cid," "chunk"
IFS='|' read -r uri ver sha sc ec <<<"$want"
grep -q "\"start_char\":$sc,\"end_char\":$ec," <<<"$body" && grep -q "\"uri\":\"$uri\",\"version\":$ver,\"sha256\":\"$sha\"" <<<"$body" \
  && ok || bad "chunk offsets and document: $body"
req GET /v1/chunks/99999999; is 404 'no chunk with id 99999999' "missing chunk"
req GET /v1/chunks/abc; is 404 'chunk ids are integers' "bad chunk id"

req GET /v1/openapi.json
for p in '"/v1/traces"' '"/v1/traces/verify"' '"/v1/traces/export"' '"/v1/traces/{id}"' '"/v1/traces/{id}/raw"' '"/v1/chunks/{id}"'; do
  grep -qF "$p:" <<<"$body" && ok || bad "openapi.json lacks $p"
done
python3 -c 'import json,sys; json.loads(sys.stdin.read())' <<<"$body" && ok || bad "openapi.json is not JSON"

# ---- the page
req GET /; is 200 '<title>cairn trace browser</title>' "page"
req POST /; is 405 'allows GET' "POST page"
h=$(curl -s -I "$U/app.js"); grep -qi '^Content-Security-Policy:' <<<"$h" && ok || bad "CSP on app.js"

# ---- tampering behind the server's back
sqlite3 "$T/kb/cairn.db" "UPDATE traces SET json = replace(json, 'Kestrel', 'Kestral') WHERE id = '$T1'"
# the status filter remembers the chain it hashed (the JSON of a trace it
# hashed is not read again): verify, which hashes everything, makes it look again
req GET /v1/traces/verify; is 200 "^\\{\"ok\":false,\"checked\":1,\"message\":\"trace $T1 \\(seq 1\\) was edited" "verify names the edited trace"
req GET '/v1/traces?status=broken'; [ "$(ids)" = "$T1 " ] && ok || bad "edited trace is broken: $body"
grep -q '"verification":"edited"' <<<"$body" && ok || bad "status edited: $body"
req GET "/v1/traces/$T1"; is 200 '"verification":\{"status":"edited","message":"edited' "detail edited"
sqlite3 "$T/kb/cairn.db" "DELETE FROM traces WHERE id = '$T2'"
req GET '/v1/traces?status=broken&sort=time&order=asc'; [ "$(ids)" = "$T1 $T3 " ] && ok || bad "edited and relinked: $(ids)"
grep -q "\"id\":\"$T3\"[^}]*\"verification\":\"relinked\"" <<<"$body" && ok || bad "status relinked: $body"
req GET '/v1/traces?status=ok'; is 200 '"total":0' "none ok"
n=$(curl -s "$U/v1/traces/export?status=broken" | wc -l); [ "$n" = 2 ] && ok || bad "export of broken: $n"

curl -s "$U/metrics" | grep -q 'cairn_http_requests_total{route="/v1/traces",status="200"}' && ok || bad "metrics count the trace routes"
kill -TERM "$PID"; wait "$PID"; rc=$?; PID=""
[ "$rc" = 0 ] && ok || bad "exit status on SIGTERM: $rc"

echo "serve_traces: $pass passed, $fail failed"
[ "$fail" = 0 ]
