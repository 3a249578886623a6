#!/usr/bin/env bash
# test_serve.sh — the REST server over real HTTP on loopback: a KB built from
# datasets/corpus, every route, status codes and error bodies, /metrics, the
# loopback-only rule, and a clean exit 0 on SIGTERM.
set -u
BIN="${CAIRN_BIN:?}"
. "$CAIRN_SRC/tests/lib.sh"
command -v curl >/dev/null || { echo "curl not installed"; exit 77; }
T="${CAIRN_TMP:-/tmp}/serve.$$"; rm -rf "$T"; mkdir -p "$T"
PID=""
CURLPID=""
cleanup() { [ -n "$PID" ] && kill -KILL "$PID" 2>/dev/null; [ -n "$CURLPID" ] && kill "$CURLPID" 2>/dev/null; rm -rf "$T"; }
trap cleanup EXIT
"$BIN" init "$T/kb" >/dev/null && "$BIN" ingest "$T/kb" "$CAIRN_SRC/datasets/corpus" >/dev/null 2>&1 \
  || { echo "setup failed"; exit 1; }
ndocs=$(sqlite3 "$T/kb/cairn.db" 'SELECT count(*) FROM documents WHERE deleted = 0')

# refused before anything starts
expect 2 "non-loopback.*API keys" -- "$BIN" serve "$T/kb" --listen 0.0.0.0:0
expect 2 "not an IPv4" -- "$BIN" serve "$T/kb" --listen nowhere:80
expect 1 "" -- "$BIN" serve "$T/nokb" --listen 127.0.0.1:0

"$BIN" serve "$T/kb" --listen 127.0.0.1:0 --threads 3 >"$T/log" 2>&1 &
PID=$!
for _ in $(seq 50); do grep -q 'http://' "$T/log" && break; sleep 0.1; done
PORT=$(grep -o 'http://127.0.0.1:[0-9]*' "$T/log" | sed 's/.*://')
[ -n "$PORT" ] || { echo "server did not start: $(cat "$T/log")"; exit 1; }
U="http://127.0.0.1:$PORT"

# req METHOD PATH [curl args...]: sets $code and $body
req() { local m="$1" p="$2"; shift 2
  body=$(curl -s -o - -w '\n%{http_code}' -X "$m" "$@" "$U$p"); code=${body##*$'\n'}; body=${body%$'\n'*}; }
J=(-H 'Content-Type: application/json')
# is CODE PATTERN what: checks the last req
is() { if [ "$code" = "$1" ] && grep -qE -- "$2" <<<"$body"; then ok; else bad "$3: got $code $body"; fi; }

req GET /healthz;  is 200 '^\{"status":"ok"\}$' healthz
req POST /healthz; is 405 '"code":"method_not_allowed"' "healthz POST"
req GET /nowhere;  is 404 '"error":\{"code":"not_found","message":"no such resource: /nowhere"' "unknown path"

# search
req POST /v1/search "${J[@]}" -d '{"query":"logistics","k":3,"mode":"hybrid","weights":{"bm25":1,"vector":0.5}}'
is 200 '"count":3' "search"
grep -q '"document":"[^"]*corvane-logistics' <<<"$body" && ok || bad "search: corvane not found: $body"
req POST /v1/search "${J[@]}" -d '{"query":"logistics","mode":"bm25","k":1}'; is 200 '"count":1' "search bm25"
req POST /v1/search "${J[@]}" -d '{"query":"x",'; is 400 '"code":"malformed_json","message":"malformed JSON at byte' "malformed"
req POST /v1/search "${J[@]}" -d '{"query":"x"} junk'; is 400 '"code":"malformed_json"' "trailing junk"
req POST /v1/search "${J[@]}" -d '[1]'; is 400 'must be a JSON object' "not an object"
req POST /v1/search "${J[@]}" -d '{"query":"x","color":"red"}'; is 400 'unknown field \\"color\\"' "unknown field"
req POST /v1/search "${J[@]}" -d '{"query":5}'; is 400 'field \\"query\\" must be a string' "wrong type"
req POST /v1/search "${J[@]}" -d '{"query":"x","k":0}'; is 400 'field \\"k\\" must be an integer' "bad k"
req POST /v1/search "${J[@]}" -d '{"query":"x","k":1e300}'; is 400 'field \\"k\\" must be an integer' "huge k"
req POST /v1/search "${J[@]}" -d '{"query":"x","k":2.5}'; is 400 'field \\"k\\" must be an integer' "fractional k"
req POST /v1/search "${J[@]}" -d '{"query":"x","mode":"psychic"}'; is 400 'use bm25, vector or hybrid' "bad mode"
req POST /v1/search "${J[@]}" -d '{"query":"x","weights":{"graph":1}}'; is 400 '\\"weights\\"' "bad weights"
req POST /v1/search "${J[@]}" -d '{"k":3}'; is 400 '\\"query\\".*required' "missing query"
req POST /v1/search "${J[@]}" --data-binary $'{"query":"\xff"}'; is 400 '"code":"invalid_utf8"' "invalid utf8"
req POST /v1/search -d '{"query":"x"}'; is 415 'application/x-www-form-urlencoded is not supported' "wrong content type"
req POST /v1/search -H 'Content-Type:' -d '{"query":"x"}'; is 415 'Content-Type is missing' "missing content type"
req GET /v1/search; is 405 'allows POST' "search GET"
head -c 5000000 /dev/zero | tr '\0' a > "$T/big"
req POST /v1/search "${J[@]}" --data-binary @"$T/big"; is 413 '"code":"body_too_large"' "too large"

# documents
req GET '/v1/documents?limit=2'; is 200 '"count":2' "list page 1"
grep -q '"next_offset":2' <<<"$body" && ok || bad "no next_offset: $body"
req GET "/v1/documents?limit=1000"; is 200 "\"count\":$ndocs\}$" "list all"
req GET '/v1/documents?limit=0'; is 400 '"code":"bad_parameter"' "bad limit"
req GET /v1/documents/1; is 200 '^\{"id":1,"uri":"' "get doc"
req GET /v1/documents/999999; is 404 'no document with id 999999' "get missing doc"
req GET /v1/documents/abc; is 404 'document ids are integers' "bad id"
req PUT /v1/documents/1; is 405 'allows GET, DELETE' "PUT doc"
req POST /v1/documents "${J[@]}" -d '{"uri":"api/note.md","text":"# Note\n\nThe zorblat protocol was ratified by Quillon Harbor.","format":"md"}'
is 201 '"uri":"api/note.md","added":1' "ingest"
newid=$(grep -o '"id":[0-9]*' <<<"$body" | cut -d: -f2)
req POST /v1/documents "${J[@]}" -d '{"uri":"api/note.md","text":"# Note\n\nThe zorblat protocol was ratified by Quillon Harbor.","format":"md"}'
is 200 '"unchanged":1' "ingest again"
req POST /v1/search "${J[@]}" -d '{"query":"zorblat","mode":"bm25"}'; is 200 '"document":"api/note.md"' "search finds new doc"
req POST /v1/documents "${J[@]}" -d '{"uri":"api/note.md","text":"other","if_absent":true}'
is 409 "api/note.md.{2} exists \\(id $newid\\) and if_absent is true" "if_absent conflict"
req POST /v1/documents "${J[@]}" -d '{"uri":"api/fresh.md","text":"Fresh words.","if_absent":true}'
is 201 '"added":1' "if_absent new"
req POST /v1/documents "${J[@]}" -d '{"uri":"api/fresh.md","text":"Fresh words, edited."}'
is 200 '"replaced":1' "replace"
oldid=$(sqlite3 "$T/kb/cairn.db" "SELECT min(id) FROM documents WHERE uri = 'api/fresh.md'")
liveid=$(sqlite3 "$T/kb/cairn.db" "SELECT id FROM documents WHERE uri = 'api/fresh.md' AND deleted = 0")
req DELETE "/v1/documents/$oldid"; is 409 "old version, replaced by id $liveid" "delete old version"
req POST /v1/documents "${J[@]}" -d '{"uri":"x","text":"y","if_absent":"yes"}'; is 400 'field \\"if_absent\\" must be true or false' "if_absent type"
req POST /v1/documents "${J[@]}" -d '{"uri":"x","text":"y","uri":"z"}'; is 400 '"code":"duplicate_field".*\\"uri\\" appears twice' "duplicate field"
req POST /v1/documents "${J[@]}"; is 400 'the body is empty' "empty body"
# multipart upload: the file part's name is the uri, its extension the format
printf '# Upload\n\nThe quindle ledger is kept at Vorn Abbey.\n' > "$T/up.md"
req POST /v1/documents -F "file=@$T/up.md;filename=uploads/up.md"; is 201 '"uri":"uploads/up.md","added":1' "multipart"
req POST /v1/search "${J[@]}" -d '{"query":"quindle","mode":"bm25"}'; is 200 '"document":"uploads/up.md"' "multipart searchable"
req POST /v1/documents -F "file=@$T/up.md" -F uri=uploads/named.md -F format=txt; is 201 '"uri":"uploads/named.md"' "multipart uri part"
req POST /v1/documents -F "file=@$T/up.md;filename=uploads/up.md" -F if_absent=true; is 409 'exists' "multipart if_absent"
req POST /v1/documents -F "file=@$T/up.md" -F "file=@$T/up.md"; is 400 'one \\"file\\" part' "two files"
req POST /v1/documents -F "evil=1" -F "file=@$T/up.md"; is 400 'unknown multipart part \\"evil\\"' "unknown part"
req POST /v1/documents -F uri=x; is 400 'no \\"file\\" part' "no file part"
req POST /v1/documents -F "file=@$T/up.md" -F format=pdf; is 400 'unknown format' "multipart format"
printf 'bad \xff byte' > "$T/bad.txt"
req POST /v1/documents -F "file=@$T/bad.txt"; is 400 '"code":"invalid_utf8"' "multipart utf8"
req POST /v1/documents -H 'Content-Type: multipart/form-data' -d 'x'; is 400 'boundary' "multipart no boundary"
req POST /v1/documents -H 'Content-Type: multipart/form-data; boundary=XX' --data-binary $'--XX\r\nContent-Disposition: form-data; name="file"; filename="t.txt"\r\n\r\nhello'; is 400 'malformed multipart.*final boundary' "truncated multipart"
req POST /v1/documents -F "file=@$T/big;filename=big.txt"; is 413 '"code":"body_too_large"' "multipart too large"
# headers over the connection memory limit are refused by libmicrohttpd
req GET /healthz -H "X-Pad: $(head -c 40000 /dev/zero | tr '\0' a)"; [ "$code" = 431 ] || [ "$code" = 413 ] && ok || bad "huge header: $code"
req POST /v1/documents "${J[@]}" -d '{"uri":"x","text":"y","format":"pdf"}'; is 400 'unknown format \\"pdf\\"' "bad format"
req POST /v1/documents "${J[@]}" -d '{"text":"y"}'; is 400 'required' "missing uri"
req POST /v1/documents "${J[@]}" -d '{"uri":"x","text":"y","tags":[]}'; is 400 'unknown field \\"tags\\"' "doc unknown field"
req DELETE "/v1/documents/$newid"; is 200 "\"id\":$newid,\"removed\":1" "delete"
req DELETE "/v1/documents/$newid"; is 409 '"code":"conflict","message":"document [0-9]+ is already deleted' "delete again"
req GET "/v1/documents/$newid"; is 404 'no document' "deleted doc gone"
req POST /v1/search "${J[@]}" -d '{"query":"zorblat","mode":"bm25"}'; is 200 '"count":0' "search after delete"
"$BIN" check "$T/kb" >/dev/null 2>&1 && ok || bad "cairn check after API writes"

# OpenAPI: served as in schemas/, and every path and method it lists is routed
req GET /v1/openapi.json; is 200 '"openapi": *"3\.1' "openapi"
[ "$(/usr/bin/python3 -c 'import json,sys; print(json.load(sys.stdin) == json.load(open(sys.argv[1])))' "$CAIRN_SRC/schemas/openapi.json" <<<"$body")" = True ] && ok || bad "served openapi differs from schemas/openapi.json"
while read -r m p; do
  req "$m" "${p//\{id\}/999999}" "${J[@]}" -d '{}'
  [ "$code" != 404 ] || [ "$p" = "/v1/documents/{id}" ] && [ "$code" != 405 ] && ok || bad "openapi $m $p: $code $body"
done < <(/usr/bin/python3 -c 'import json,sys
for p, ops in json.load(open(sys.argv[1]))["paths"].items():
    for m in ops:
        if m != "parameters": print(m.upper(), p)' "$CAIRN_SRC/schemas/openapi.json")

# metrics
req GET /metrics
is 200 'cairn_http_requests_total\{route="/v1/search",status="400"\} [0-9]+' "metrics counts"
grep -qE 'cairn_http_requests_total\{route="/v1/documents",status="201"\} [4-9]' <<<"$body" && ok || bad "metrics 201: $body"
grep -qE 'cairn_http_request_duration_seconds_bucket\{route="/v1/search",le="\+Inf"\} [1-9]' <<<"$body" && ok || bad "histogram: $body"

# SIGTERM while a request is in flight (its body arrives slowly): the
# request completes, then exit 0 and the port is closed
/usr/bin/python3 -c 'import json; print(json.dumps({"uri":"api/slow.txt","text":"Slow upload about the heron lighthouse. "*6000}))' > "$T/slow.json"
curl -s -o "$T/slow.out" -w '%{http_code}' --limit-rate 100k -H 'Content-Type: application/json' \
  --data-binary @"$T/slow.json" "$U/v1/documents" > "$T/slow.code" &
CURLPID=$!
sleep 0.7
kill -TERM "$PID"; wait "$PID"; rc=$?; PID=""
[ "$rc" = 0 ] && ok || bad "exit $rc after SIGTERM: $(cat "$T/log")"
grep -q 'SIGTERM received' "$T/log" && ok || bad "no shutdown message"
wait "$CURLPID"
[ "$(cat "$T/slow.code")" = 201 ] && ok || bad "in-flight request: $(cat "$T/slow.code") $(cat "$T/slow.out")"
[ "$(sqlite3 "$T/kb/cairn.db" "SELECT count(*) FROM documents WHERE uri = 'api/slow.txt' AND deleted = 0")" = 1 ] && ok || bad "in-flight document not stored"
curl -s -m 2 "$U/healthz" >/dev/null && bad "still answering after SIGTERM" || ok

echo "serve: $pass passed, $fail failed"
[ "$fail" = 0 ]
