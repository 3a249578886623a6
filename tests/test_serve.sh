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
# the server's SQL time limit raised from 5 s: "sql result cap" below must
# reach the 413 before the limit even on a loaded machine under ASan; the
# SPARQL child's memory bound lowered to 64 MB for "sparql memory bound"
/usr/bin/python3 -c 'import json,sys; p=sys.argv[1]; d=json.load(open(p)); d.setdefault("serve", {})["sql_timeout_ms"]=60000; d.setdefault("graph", {})["sparql_memory_mb"]=64; json.dump(d, open(p,"w"))' "$T/kb/cairn.json"

# refused before anything starts
expect 2 "non-loopback.*API keys" -- "$BIN" serve "$T/kb" --listen 0.0.0.0:0
expect 2 "not an IPv4" -- "$BIN" serve "$T/kb" --listen nowhere:80
expect 1 "" -- "$BIN" serve "$T/nokb" --listen 127.0.0.1:0

start_server "$T/log" "$T/kb" --listen 127.0.0.1:0 --threads 3 || exit 1

# req METHOD PATH [curl args...]: sets $code and $body; every response is
# logged for the OpenAPI check at the end
nres=0
req() { local m="$1" p="$2" ct; shift 2; nres=$((nres+1))
  ct=$(curl -s -o "$T/res.$nres" -w '%{http_code}\t%{content_type}' -X "$m" "$@" "$U$p")
  code=${ct%%$'\t'*}; body=$(cat "$T/res.$nres")
  printf '%s\t%s\t%s\t%s\t%s\n' "$m" "$p" "$code" "${ct#*$'\t'}" "$T/res.$nres" >> "$T/responses"; }
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
req POST /v1/documents -H 'Content-Type: text/plain' -d 'x'; is 415 'Content-Type text/plain: send application/json or multipart/form-data' "doc content type"
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
# the vector index follows API writes in batches (group commit, at most
# every few seconds): cairn check agrees once the writer has caught it up
okc=0
for _ in $(seq 100); do "$BIN" check "$T/kb" >/dev/null 2>&1 && { okc=1; break; }; sleep 0.1; done
[ $okc = 1 ] && ok || bad "cairn check after API writes: $("$BIN" check "$T/kb" 2>&1 | grep FAIL)"

# ask: JSON answer with citations and a stored trace; streamed as SSE
req POST /v1/ask "${J[@]}" -d '{"question":"Who is the chief executive of Corvane Logistics?","k":3}'
is 200 '"abstained":false,"citations":\[\{"id":1,' "ask"
tid=$(grep -o '"trace_id":"[^"]*"' <<<"$body" | cut -d'"' -f4)
[ "$(sqlite3 "$T/kb/cairn.db" "SELECT caller FROM traces WHERE id = '$tid'")" = loopback ] && ok || bad "ask trace $tid not stored with caller"
grep -q 'Duret' <<<"$body" && ok || bad "ask answer: $body"
req POST /v1/ask "${J[@]}" -d '{"question":"Who runs Corvane Logistics?","json":true}'; is 200 '"trace":\{' "ask json"
req POST /v1/ask "${J[@]}" -d '{"question":"   "}'; is 400 'question is empty' "ask empty"
req POST /v1/ask "${J[@]}" -d '{"question":"x","k":500}'; is 400 'field \\"k\\" must be an integer in 1..100' "ask k"
req POST /v1/ask "${J[@]}" -d "{\"question\":\"$(head -c 5000 /dev/zero | tr '\0' q)\"}"; is 400 '"code":"question_too_long".*limit is 4096' "ask too long"
req POST /v1/ask "${J[@]}" -d '{"question":"x","depth":2}'; is 400 'unknown field \\"depth\\"' "ask unknown field"
req POST /v1/ask "${J[@]}" -d '{"question":"x","hops":7}'; is 400 'field \\"hops\\" must be an integer in 1..4' "ask hops"
req POST /v1/ask "${J[@]}" -d '{"question":"Who runs Corvane Logistics?","hops":1,"json":true}'
[ "$(/usr/bin/python3 -c 'import json,sys; d=json.load(sys.stdin)["trace"]; g=d.get("graph") or d.get("subgraph") or {}; t=g.get("triples", []); print(bool(t) and all(x.get("hops", 0) <= 1 for x in t))' <<<"$body")" = True ] && ok || bad "ask hops=1 in the trace: ${body:0:300}"
curl -sN -H 'Content-Type: application/json' -d '{"question":"What does Corvane Logistics do?","stream":true}' -D "$T/sse.h" "$U/v1/ask" > "$T/sse"
grep -qi '^Content-Type: text/event-stream' "$T/sse.h" && ok || bad "sse content type: $(cat "$T/sse.h")"
[ "$(grep '^event:' "$T/sse" | tr '\n' ' ')" = "event: stage event: stage event: stage event: stage event: stage event: answer event: done " ] && ok || bad "sse events: $(cat "$T/sse")"
[ "$(grep -o '"stage":"[a-z]*"' "$T/sse" | tr '\n' ' ')" = '"stage":"retrieval" "stage":"graph" "stage":"prompt" "stage":"generate" "stage":"checks" ' ] && ok || bad "sse stages: $(cat "$T/sse")"
stid=$(grep -A1 '^event: done' "$T/sse" | grep -o 'tr_[0-9a-f]*')
grep -A1 '^event: answer' "$T/sse" | grep -q "\"trace_id\":\"$stid\"" && [ -n "$stid" ] && ok || bad "sse trace id: $(cat "$T/sse")"
[ "$(sqlite3 "$T/kb/cairn.db" "SELECT count(*) FROM traces WHERE id = '$stid'")" = 1 ] && ok || bad "streamed trace not stored"
"$BIN" trace "$T/kb" verify >/dev/null 2>&1 && ok || bad "trace chain after API asks"

# sql: read-only, JSON rows, errors with position
nlive=$(sqlite3 "$T/kb/cairn.db" 'SELECT count(*) FROM documents WHERE deleted = 0')
req POST /v1/sql "${J[@]}" -d '{"query":"SELECT count(*) AS n FROM documents"}'; is 200 "^\\{\"rows\":\\[\\{\"n\":$nlive\\}\\],\"count\":1,\"statements\":1\\}$" "sql count"
req POST /v1/sql "${J[@]}" -d '{"query":"SELECT 1 AS a; SELECT 2 AS b, NULL AS c"}'; is 200 '"rows":\[\{"b":2,"c":null\}\],"count":1,"statements":2' "sql last statement"
req POST /v1/sql "${J[@]}" -d '{"query":"DELETE FROM chunks"}'; is 400 '"code":"bad_query"' "sql write refused"
req POST /v1/sql "${J[@]}" -d '{"query":"SELEC 1"}'; is 400 'line 1, column' "sql syntax"
req POST /v1/sql "${J[@]}" -d '{"query":"WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x+1 FROM c) SELECT count(*) FROM c","timeout_ms":200}'
is 400 '"code":"statement_timeout".*200 ms' "sql time limit"
req POST /v1/sql "${J[@]}" -d '{"query":"WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x+1 FROM c LIMIT 400000) SELECT x, printf(\"%050d\", x) AS pad FROM c"}'
is 413 'result_too_large' "sql result cap"

# graph
eid=$(sqlite3 "$T/kb/cairn.db" "SELECT id FROM entities WHERE label = 'Corvane Logistics AS'")
req GET '/v1/graph/entities?q=corvane%20logistics&limit=5'; is 200 "\"id\":$eid,\"label\":\"Corvane Logistics AS\",\"type\":\"organisation\"" "entities q"
req GET '/v1/graph/entities?limit=2'; is 200 '"count":2,|"next_offset":2' "entities page"
req GET '/v1/graph/entities?q=%22%29%28*'; is 200 '"count":0' "entities hostile q"
req GET '/v1/graph/entities?limit=0'; is 400 'limit' "entities bad limit"
req GET "/v1/graph/entities/$eid"; is 200 "^\\{\"id\":$eid,\"label\":\"Corvane Logistics AS\"" "entity"
nm=$(sqlite3 "$T/kb/cairn.db" "SELECT count(*) FROM mentions WHERE entity_id = $eid")
grep -q "\"mentions_total\":$nm" <<<"$body" && ok || bad "entity mentions_total $nm: $body"
grep -q '"predicate":"chief_executive_of"' <<<"$body" && ok || bad "entity relations: ${body:0:300}"
req GET /v1/graph/entities/99999999; is 404 'no entity with id' "entity missing"
req GET /v1/graph/entities/abc; is 404 'entity ids are integers' "entity bad id"
req POST /v1/graph/subgraph "${J[@]}" -d '{"question":"Corvane Logistics","hops":1,"budget":5}'; is 200 '"seeds":\[\{"entity_id":' "subgraph"
[ "$(/usr/bin/python3 -c 'import json,sys; d=json.load(sys.stdin); print(len(d["triples"]) <= 5 and all(t["hops"] <= 1 for t in d["triples"]) and all(t["provenance"] for t in d["triples"]))' <<<"$body")" = True ] && ok || bad "subgraph budget/hops/provenance: ${body:0:300}"
req POST /v1/graph/subgraph "${J[@]}" -d '{"hops":9,"question":"x"}'; is 400 'hops' "subgraph hops"
req POST /v1/graph/subgraph "${J[@]}" -d '{"chunks":[1,"a"]}'; is 400 'chunk ids' "subgraph chunks"
req POST /v1/graph/subgraph "${J[@]}" -d '{}'; is 400 'question' "subgraph empty"
# SPARQL over the graph store: the library's JSON answer; refusals with its message
req POST /v1/sparql "${J[@]}" -d '{"query":"SELECT DISTINCT ?o WHERE { <urn:cairn:entity:ana%20ruiz> <urn:cairn:rel:cfo_of> ?o }"}'
is 200 '^\{"type":"select","vars":\["o"\],"rows":\[\{"o":\{"type":"uri","value":"urn:cairn:entity:norvale"\}\}\],"truncated":false,' "sparql select"
req POST /v1/sparql "${J[@]}" -d '{"query":"SELECT ?s WHERE { ?s a ?t }","limit":2}'
is 200 '"rows":\[\{"s":\{[^]]*\},\{"s":\{[^]]*\}\],"truncated":true' "sparql limit"
req POST /v1/sparql "${J[@]}" -d '{"query":"ASK { <urn:cairn:entity:ana%20ruiz> <http://www.w3.org/2000/01/rdf-schema#label> \"Ana Ruiz\" }"}'
is 200 '^\{"type":"ask","boolean":true,' "sparql ask"
req POST /v1/sparql "${J[@]}" -d '{"query":"CONSTRUCT { ?s <urn:x:cfo> ?o } WHERE { ?s <urn:cairn:rel:cfo_of> ?o }"}'
is 200 '^\{"type":"graph","triples":\[\[\{"type":"uri","value":"urn:cairn:entity:ana%20ruiz"\}' "sparql construct"
req POST /v1/sparql "${J[@]}" -d '{"query":"INSERT DATA { <urn:x:a> <urn:x:b> <urn:x:c> }"}'
is 400 '"code":"bad_query","message":"SPARQL: INSERT is an update; the graph store is read-only' "sparql update refused"
# SERVICE would have the engine fetch any URL the caller names: refused
req POST /v1/sparql "${J[@]}" -d '{"query":"SELECT * WHERE { SERVICE <http://127.0.0.1:9/x> { ?s ?p ?o } }"}'
is 400 '"code":"bad_query","message":"SPARQL: SERVICE .a federated query. is not allowed' "sparql SERVICE refused"
req POST /v1/sparql "${J[@]}" -d '{"query":"SELECT ?s WHERE { ?s ?p"}'; is 400 '"code":"bad_query","message":"SPARQL: line 1: syntax error' "sparql syntax"
req POST /v1/sparql "${J[@]}" -d '{"query":"SELECT (COUNT(*) AS ?n) WHERE { ?a ?b ?c . ?d ?e ?f . ?g ?h ?i }","timeout_ms":100}'
is 400 '"code":"query_timeout","message":"SPARQL: the query ran past its time limit of 100 ms' "sparql timeout"
# a join that materialises its rows grows past the memory bound: stopped, said so
req POST /v1/sparql "${J[@]}" -d '{"query":"SELECT ?a ?d WHERE { ?a ?b ?c . ?d ?e ?f . ?g ?h ?i } ORDER BY ?a ?d ?g LIMIT 1","timeout_ms":60000}'
is 400 '"code":"query_memory","message":"SPARQL: the query needed more than 64 MB of memory .setting graph.sparql_memory_mb' "sparql memory bound"
req POST /v1/sparql "${J[@]}" -d '{"query":"ASK {}","limit":0}'; is 400 'field \\"limit\\" must be an integer in 1..1000000' "sparql bad limit"
req POST /v1/sparql "${J[@]}" -d '{"query":"ASK {}","timeout_ms":60001}'; is 400 'field \\"timeout_ms\\"' "sparql bad timeout"
req POST /v1/sparql "${J[@]}" -d '{"query":""}'; is 400 '\\"query\\".*required' "sparql empty query"
req GET /v1/sparql; is 405 'allows POST' "sparql GET"

# embeddings, shaped as OpenAI's
req POST /v1/embeddings "${J[@]}" -d '{"model":"hash","input":["harbor logistics","harbor logistics","a b c"]}'
is 200 '^\{"object":"list","data":\[\{"object":"embedding","index":0,"embedding":\[' "embeddings"
[ "$(/usr/bin/python3 -c 'import json,sys,math; d=json.load(sys.stdin); v=[x["embedding"] for x in d["data"]]
print(len(v) == 3 and len(v[0]) == 384 and v[0] == v[1] and v[0] != v[2] and abs(math.fsum(x*x for x in v[0]) - 1) < 1e-4 and d["usage"]["prompt_tokens"] == 7 and d["model"].startswith("hash/"))' <<<"$body")" = True ] && ok || bad "embeddings content: ${body:0:200}"
req POST /v1/embeddings "${J[@]}" -d '{"model":"hash","input":"harbor logistics","encoding_format":"base64"}'
[ "$(/usr/bin/python3 -c 'import json,sys,base64,struct; d=json.load(sys.stdin); b=base64.b64decode(d["data"][0]["embedding"]); v=struct.unpack("<384f", b)
print(abs(sum(x*x for x in v) - 1) < 1e-4)' <<<"$body")" = True ] && ok || bad "embeddings base64: ${body:0:200}"
req POST /v1/embeddings "${J[@]}" -d '{"model":"text-embedding-3-small","input":"x"}'; is 404 '"code":"model_not_found".*use \\"hash\\"' "embeddings model"
req POST /v1/embeddings "${J[@]}" -d '{"model":"hash","input":[[1,2,3]]}'; is 400 'token arrays are not supported' "embeddings tokens"
req POST /v1/embeddings "${J[@]}" -d '{"model":"hash","input":[]}'; is 400 '1..2048' "embeddings empty"
req POST /v1/embeddings "${J[@]}" -d '{"model":"hash","input":"x","dimensions":12}'; is 400 'makes 384' "embeddings dimensions"

# chat without a model: 503 no_model, no models listed
req POST /v1/chat/completions "${J[@]}" -d '{"model":"default","messages":[{"role":"user","content":"hi"}]}'
is 503 '"code":"no_model".*--model' "chat without a model"
req GET /v1/models; is 200 '^\{"data":\[\],"object":"list"\}$' "models without a model"

# audit log: API writes recorded (no keys: actor loopback)
req GET '/v1/audit?limit=1000'; is 200 '"actor":"loopback","action":"ingest","target":"api/note.md"' "audit ingest"
grep -q "\"action\":\"ask\",\"target\":\"$tid\"" <<<"$body" && ok || bad "audit ask: ${body:0:300}"
grep -q '"action":"delete"' <<<"$body" && ok || bad "audit delete"

# OpenAPI: served as in schemas/, and every path and method it lists is routed
req GET /v1/openapi.json; is 200 '"openapi": *"3\.1' "openapi"
[ "$(/usr/bin/python3 -c 'import json,sys; print(json.load(sys.stdin) == json.load(open(sys.argv[1])))' "$CAIRN_SRC/schemas/openapi.json" <<<"$body")" = True ] && ok || bad "served openapi differs from schemas/openapi.json"
while read -r m p; do
  req "$m" "${p//\{id\}/999999}" "${J[@]}" -d '{}'
  [ "$code" != 405 ] && ! grep -q 'no such resource' <<<"$body" && ok || bad "openapi $m $p: $code $body"
done < <(/usr/bin/python3 -c 'import json,sys
for p, ops in json.load(open(sys.argv[1]))["paths"].items():
    for m in ops:
        if m != "parameters": print(m.upper(), p)' "$CAIRN_SRC/schemas/openapi.json")

# metrics
req GET /metrics
is 200 'cairn_http_requests_total\{route="/v1/search",status="400"\} [0-9]+' "metrics counts"
grep -qE 'cairn_http_requests_total\{route="/v1/documents",status="201"\} [4-9]' <<<"$body" && ok || bad "metrics 201: $body"
grep -qE 'cairn_http_request_duration_seconds_bucket\{route="/v1/search",le="\+Inf"\} [1-9]' <<<"$body" && ok || bad "histogram: $body"

# every response above against the OpenAPI document (statuses and schemas)
/usr/bin/python3 "$CAIRN_SRC/tests/openapi_check.py" "$CAIRN_SRC/schemas/openapi.json" "$T/responses" > "$T/oacheck" \
  && ok || bad "responses vs OpenAPI: $(cat "$T/oacheck")"
grep -q ' 0 problems' "$T/oacheck" && ok || bad "openapi check: $(cat "$T/oacheck")"

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
