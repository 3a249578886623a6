#!/usr/bin/env bash
# test_serve_auth.sh — API keys and roles over real HTTP on loopback: `cairn
# keys` add/list/revoke, every route against every role (no key, a bad key,
# a revoked key, reader, writer, auditor, admin), the audit log (writes
# recorded with the key id, never the key), the listen rules (non-loopback
# needs keys and TLS), HTTPS with a self-signed certificate, and the
# per-key rate limit (429 with Retry-After).
set -u
BIN="${CAIRN_BIN:?}"
. "$CAIRN_SRC/tests/lib.sh"
command -v curl >/dev/null || { echo "SKIP: curl not installed"; exit 77; }
T="${CAIRN_TMP:-/tmp}/serve_auth.$$"; rm -rf "$T"; mkdir -p "$T"
PID=""
cleanup() { [ -n "$PID" ] && kill -KILL "$PID" 2>/dev/null; rm -rf "$T"; }
trap cleanup EXIT
"$BIN" init "$T/kb" >/dev/null && "$BIN" ingest "$T/kb" "$CAIRN_SRC/datasets/corpus" >/dev/null 2>&1 \
  || { echo "setup failed"; exit 1; }

# keys: add prints the key once, list shows no secret, revoke is final
for role in reader writer auditor admin; do
  k=$("$BIN" keys "$T/kb" add --role $role --name "t-$role" 2>/dev/null) || bad "keys add $role"
  [[ "$k" =~ ^cairn_[0-9]+_[0-9a-f]{64}$ ]] && ok || bad "key shape: $k"
  eval "K_$role=\$k"
done
revoked=$("$BIN" keys "$T/kb" add --role admin --name gone 2>/dev/null)
rid=$(sed 's/^cairn_\([0-9]*\)_.*/\1/' <<<"$revoked")
expect 0 "key $rid revoked" -- "$BIN" keys "$T/kb" revoke "$rid"
expect 1 "already revoked" -- "$BIN" keys "$T/kb" revoke "$rid"
expect 1 "no key with id 999" -- "$BIN" keys "$T/kb" revoke 999
expect 2 "use reader, writer, auditor or admin" -- "$BIN" keys "$T/kb" add --role boss
expect 2 "needs --role" -- "$BIN" keys "$T/kb" add
list=$("$BIN" keys "$T/kb" list)
grep -q "t-auditor" <<<"$list" && ok || bad "list: $list"
grep -q "${K_reader##*_}" <<<"$list" && bad "list shows a secret" || ok
# the secret is stored nowhere in the KB (hash only)
sqlite3 "$T/kb/cairn.db" .dump | grep -q "${K_admin##*_}" && bad "key stored in clear" || ok

# listen rules
expect 2 "without TLS" -- "$BIN" serve "$T/kb" --listen 0.0.0.0:0
expect 2 "go together" -- "$BIN" serve "$T/kb" --tls-cert /nonexistent

start() {  # start ARGS...: sets PID and U
  start_server "$T/log" "$T/kb" --listen 127.0.0.1:0 --threads 2 "$@" || exit 1
}
stop() { local rc; kill -TERM "$PID"; wait "$PID"; rc=$?; PID=""
  [ "$rc" = 0 ] && ok || bad "server exit $rc: $(tail -20 "$T/log")"; }
start
grep -q 'API keys required' "$T/log" && ok || bad "startup line: $(cat "$T/log")"

# req KEY METHOD PATH [curl args...]: sets $code and $body
req() { local k="$1" m="$2" p="$3"; shift 3; local a=()
  [ -n "$k" ] && a=(-H "Authorization: Bearer $k")
  body=$(curl -sk -o - -w '\n%{http_code}' -X "$m" "${a[@]}" "$@" "$U$p"); code=${body##*$'\n'}; body=${body%$'\n'*}; }
J=(-H 'Content-Type: application/json')

# The matrix: METHOD PATH RIGHT BODY. RIGHT: public read write audit admin.
# Allowed: the handler answers (any status but 401/403); refused: 403
# (401 without a valid key).
n=0
while IFS='|' read -r m p right data; do
  [ -z "$m" ] && continue
  for who in none bad revoked reader writer auditor admin; do
    case $who in
      none) k="";; bad) k="cairn_1_$(printf '0%.0s' $(seq 64))";; revoked) k="$revoked";;
      *) eval "k=\$K_$who";;
    esac
    n=$((n+1))
    p2=${p//\{doc\}/$n}
    if [ -n "$data" ]; then req "$k" "$m" "$p2" "${J[@]}" -d "${data//\{n\}/$n}"; else req "$k" "$m" "$p2"; fi
    case $right:$who in
      public:*) want=ok;;
      *:none|*:bad|*:revoked) want=401;;
      read:*|*:admin) want=ok;;
      write:writer|audit:auditor) want=ok;;
      *) want=403;;
    esac
    if [ "$want" = ok ]; then
      [ "$code" != 401 ] && [ "$code" != 403 ] && [ "$code" != 500 ] && ok || bad "$who $m $p: want allowed, got $code $body"
    else
      [ "$code" = "$want" ] && grep -q "\"code\":\"$([ $want = 401 ] && echo unauthorized || echo forbidden)\"" <<<"$body" \
        && ok || bad "$who $m $p: want $want, got $code $body"
    fi
  done
done <<'ROUTES'
GET|/healthz|public|
GET|/metrics|public|
GET|/v1/openapi.json|public|
POST|/v1/search|read|{"query":"logistics","k":2}
GET|/v1/documents|read|
GET|/v1/documents/1|read|
POST|/v1/documents|write|{"uri":"matrix/{n}.txt","text":"Matrix document {n} about harbors."}
DELETE|/v1/documents/{doc}|write|
POST|/v1/ask|read|{"question":"Who runs Corvane Logistics?","k":2}
POST|/v1/sql|read|{"query":"SELECT 1 AS one"}
GET|/v1/graph/entities?q=corvane|read|
GET|/v1/graph/entities/1|read|
POST|/v1/graph/subgraph|read|{"question":"Corvane Logistics","budget":3}
POST|/v1/sparql|read|{"query":"ASK { ?s ?p ?o }"}
POST|/v1/embeddings|read|{"model":"hash","input":"x"}
GET|/v1/models|read|
POST|/v1/chat/completions|read|{"model":"default","messages":[{"role":"user","content":"hi"}]}
GET|/v1/audit|audit|
GET|/v1/keys|admin|
POST|/v1/keys|admin|{"role":"reader","name":"made-by-api"}
DELETE|/v1/keys/9999|admin|
GET|/v1/traces|audit|
GET|/v1/traces/verify|audit|
GET|/v1/traces/export|audit|
GET|/v1/traces/tr_0123456789abcdef|audit|
GET|/v1/traces/tr_0123456789abcdef/raw|audit|
GET|/v1/chunks/1|read|
GET|/|public|
GET|/app.js|public|
ROUTES

# 401 names the problem; 403 names the right and the role
req "" POST /v1/search "${J[@]}" -d '{"query":"x"}'
grep -q 'Authorization: Bearer' <<<"$body" && ok || bad "401 message: $body"
req "$K_reader" POST /v1/documents "${J[@]}" -d '{"uri":"x","text":"y"}'
grep -q 'needs the write right; key [0-9]* has the role reader' <<<"$body" && ok || bad "403 message: $body"
req "$K_reader" GET /v1/search; [ "$code" = 405 ] && ok || bad "405 before auth: $code"
req "$K_reader" GET /nowhere; [ "$code" = 404 ] && ok || bad "404: $code"

# writes are audited with the key id, never the key
req "$K_writer" POST /v1/documents "${J[@]}" -d '{"uri":"audit/me.txt","text":"Audited text."}'
wid=$(sed 's/^cairn_\([0-9]*\)_.*/\1/' <<<"$K_writer")
req "$K_auditor" GET '/v1/audit?limit=1000'
grep -q "\"actor\":\"key:$wid\",\"action\":\"ingest\",\"target\":\"audit/me.txt\"" <<<"$body" && ok || bad "audit ingest: $body"
grep -q '"action":"key.add"' <<<"$body" && ok || bad "audit key.add: $body"
aid=$(sed 's/^cairn_\([0-9]*\)_.*/\1/' <<<"$K_auditor")
grep -q "\"actor\":\"key:$aid\",\"action\":\"trace.read\",\"target\":\"tr_0123456789abcdef\"" <<<"$body" && ok || bad "audit trace.read: $body"
grep -q "${K_writer##*_}" <<<"$body" && bad "key in the audit log" || ok
req "$K_auditor" GET '/v1/audit?limit=0'; [ "$code" = 400 ] && ok || bad "audit bad limit: $code"

# an ask's trace names the key that asked; the audit log has it too
req "$K_reader" POST /v1/ask "${J[@]}" -d '{"question":"Who runs Corvane Logistics?"}'
tid=$(grep -o 'tr_[0-9a-f]*' <<<"$body" | head -1); rdid=$(sed 's/^cairn_\([0-9]*\)_.*/\1/' <<<"$K_reader")
[ "$(sqlite3 "$T/kb/cairn.db" "SELECT caller FROM traces WHERE id = '$tid'")" = "key:$rdid" ] && ok || bad "trace caller for $tid"
[ "$(sqlite3 "$T/kb/cairn.db" "SELECT count(*) FROM audit WHERE actor = 'key:$rdid' AND action = 'ask' AND target = '$tid'")" = 1 ] && ok || bad "ask audited"

# keys over the API: admin creates a key that works, revokes it, 409 twice
req "$K_admin" POST /v1/keys "${J[@]}" -d '{"role":"writer","name":"api"}'
newkey=$(grep -o 'cairn_[0-9]*_[0-9a-f]*' <<<"$body"); newid=$(sed 's/^cairn_\([0-9]*\)_.*/\1/' <<<"$newkey")
[ "$code" = 201 ] && [ -n "$newkey" ] && ok || bad "POST /v1/keys: $code $body"
req "$newkey" GET /v1/documents; [ "$code" = 200 ] && ok || bad "new key: $code"
req "$K_admin" DELETE "/v1/keys/$newid"; [ "$code" = 200 ] && ok || bad "revoke: $code $body"
req "$K_admin" DELETE "/v1/keys/$newid"; [ "$code" = 409 ] && ok || bad "revoke twice: $code $body"
req "$newkey" GET /v1/documents; [ "$code" = 401 ] && ok || bad "revoked key still works: $code"
req "$K_admin" POST /v1/keys "${J[@]}" -d '{"role":"god"}'; [ "$code" = 400 ] && ok || bad "bad role: $code"
stop

# the rate limit: 0.01/s, burst 1 -> the second request is refused
start --rate-limit 0.01
req "$K_reader" GET /v1/documents; [ "$code" = 200 ] && ok || bad "first under limit: $code"
hdr=$(curl -s -D - -o /dev/null -H "Authorization: Bearer $K_reader" "$U/v1/documents")
grep -q '^HTTP/1.1 429' <<<"$hdr" && grep -qi '^Retry-After: [0-9]' <<<"$hdr" && ok || bad "429: $hdr"
req "$K_reader" GET /v1/documents; grep -q '"code":"rate_limited"' <<<"$body" && ok || bad "429 body: $body"
req "$K_writer" GET /v1/documents; [ "$code" = 200 ] && ok || bad "other key has its own bucket: $code"
req "" GET /healthz; [ "$code" = 200 ] && ok || bad "healthz not rate limited: $code"
stop

# HTTPS with a self-signed certificate (loopback)
if command -v openssl >/dev/null; then
  openssl req -x509 -newkey rsa:2048 -nodes -keyout "$T/key.pem" -out "$T/cert.pem" -days 2 \
    -subj /CN=127.0.0.1 >/dev/null 2>&1
  start --tls-cert "$T/cert.pem" --tls-key "$T/key.pem"
  [[ "$U" == https://* ]] && ok || bad "not https: $U"
  req "$K_reader" POST /v1/search "${J[@]}" -d '{"query":"logistics"}'; [ "$code" = 200 ] && ok || bad "https search: $code $body"
  curl -s -m 3 "${U/https/http}/healthz" >/dev/null && bad "plain HTTP answered on the TLS port" || ok
  stop
  echo junk > "$T/bad.pem"
  expect 1 "TLS certificate or key" -- "$BIN" serve "$T/kb" --listen 127.0.0.1:0 --tls-cert "$T/bad.pem" --tls-key "$T/bad.pem"
else
  echo "note: openssl missing, HTTPS not tested"
fi

# no live key: open on loopback, says so
for id in $(sqlite3 "$T/kb/cairn.db" 'SELECT id FROM api_keys WHERE revoked_at IS NULL'); do
  "$BIN" keys "$T/kb" revoke "$id" >/dev/null
done
start
grep -q 'no API keys configured: loopback only' "$T/log" && ok || bad "no-key line: $(cat "$T/log")"
req "" GET /v1/audit; [ "$code" = 200 ] && ok || bad "no keys: open: $code"
req "" POST /v1/documents "${J[@]}" -d '{"uri":"local.txt","text":"x y z"}'
req "" GET '/v1/audit?limit=1'; grep -q '"actor":"loopback","action":"ingest"' <<<"$body" && ok || bad "loopback actor: $body"
# the first key closes the running server (within a second)
k=$("$BIN" keys "$T/kb" add --role reader 2>/dev/null)
for _ in $(seq 100); do req "" GET /v1/documents; [ "$code" = 401 ] && break; sleep 0.1; done
[ "$code" = 401 ] && ok || bad "new key did not close the server: $code"
req "$k" GET /v1/documents; [ "$code" = 200 ] && ok || bad "new key: $code"
stop
"$BIN" keys "$T/kb" revoke "$(sed 's/^cairn_\([0-9]*\)_.*/\1/' <<<"$k")" >/dev/null
expect 2 "without API keys" -- "$BIN" serve "$T/kb" --listen 0.0.0.0:0

echo "serve_auth: $pass passed, $fail failed"
[ "$fail" = 0 ]
