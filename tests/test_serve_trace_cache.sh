#!/usr/bin/env bash
# test_serve_trace_cache.sh — GET /v1/traces?status= hashes each trace once
# per server process (serve_traces.c remembers the hashed prefix of the
# chain): traces added later are hashed on the next filtered request; a
# listed row is always hashed afresh, and one that no longer matches what
# was remembered makes the next request hash everything; deleted traces
# are noticed from the row count; GET /v1/traces/verify always hashes all.
set -u
BIN="${CAIRN_BIN:?}"
. "$CAIRN_SRC/tests/lib.sh"
command -v curl >/dev/null || { echo "SKIP: curl not installed"; exit 77; }
command -v sqlite3 >/dev/null || { echo "SKIP: sqlite3 not installed"; exit 77; }
T="${CAIRN_TMP:-/tmp}/serve_trace_cache.$$"; rm -rf "$T"; mkdir -p "$T"
PID=""
cleanup() { [ -n "$PID" ] && kill -KILL "$PID" 2>/dev/null; rm -rf "$T"; }
trap cleanup EXIT
"$BIN" init "$T/kb" >/dev/null && "$BIN" ingest "$T/kb" "$CAIRN_SRC/datasets/corpus/companies" >/dev/null 2>&1 \
  || { echo "setup failed"; exit 1; }
ask() { "$BIN" ask "$T/kb" "$1" | sed -n 's/^trace \(tr_[0-9a-f]*\)$/\1/p'; }
T1=$(ask "Which company did Kestrel Avionics Ltd acquire in 2023?")
T2=$(ask "Who runs Norvale Analytics?")
[ -n "$T1" ] && [ -n "$T2" ] || { echo "setup failed: no trace ids"; exit 1; }
start_server "$T/log" "$T/kb" --listen 127.0.0.1:0 --threads 2 || exit 1
req() { local m="$1" p="$2"; shift 2
  body=$(curl -s -o - -w '\n%{http_code}' -X "$m" "$@" "$U$p"); code=${body##*$'\n'}; body=${body%$'\n'*}; }
is() { if [ "$code" = "$1" ] && grep -qE -- "$2" <<<"$body"; then ok; else bad "$3: got $code ${body:0:300}"; fi; }
ids() { grep -o '"id":"tr_[0-9a-f]*"' <<<"$body" | cut -d'"' -f4 | tr '\n' ' '; }
api_ask() { curl -s -H 'Content-Type: application/json' -d "{\"question\":\"$1\"}" "$U/v1/ask" |
  grep -o '"trace_id":"tr_[0-9a-f]*"' | cut -d'"' -f4; }

req GET '/v1/traces?status=ok'; is 200 '"total":2' "two ok"
T3=$(api_ask "Who founded Kestrel Avionics?")
[ -n "$T3" ] && ok || bad "ask over the API"
req GET '/v1/traces?status=ok&sort=time&order=asc'; is 200 '"total":3' "a trace added later is hashed"
[ "$(ids)" = "$T1 $T2 $T3 " ] && ok || bad "ok after the ask: $(ids)"
req GET '/v1/traces?status=broken'; is 200 '"total":0' "none broken"

# an edit behind the server's back: the listed row says so at once, and the
# next filtered request has hashed the chain again
sqlite3 "$T/kb/cairn.db" "UPDATE traces SET json = replace(json, 'Norvale', 'Nervale') WHERE id = '$T2'"
req GET '/v1/traces?status=ok&sort=time&order=asc'
grep -q "\"id\":\"$T2\"[^}]*\"verification\":\"edited\"" <<<"$body" && ok || bad "listed row hashed afresh: $body"
req GET '/v1/traces?status=ok&sort=time&order=asc'; is 200 '"total":2' "the edit seen after a listed row disagreed"
[ "$(ids)" = "$T1 $T3 " ] && ok || bad "ok after the edit: $(ids)"
req GET '/v1/traces?status=broken'; [ "$(ids)" = "$T2 " ] && ok || bad "broken after the edit: $(ids)"
n=$(curl -s "$U/v1/traces/export?status=broken" | wc -l); [ "$n" = 1 ] && ok || bad "export of broken: $n"

# a deleted trace: the count up to the remembered prefix changed
sqlite3 "$T/kb/cairn.db" "DELETE FROM traces WHERE id = '$T2'"
T4=$(api_ask "What does Norvale Analytics sell?")
req GET '/v1/traces?status=broken'; [ "$(ids)" = "$T3 " ] && ok || bad "after a delete: $(ids)"
grep -q "\"id\":\"$T3\"[^}]*\"verification\":\"relinked\"" <<<"$body" && ok || bad "relinked: $body"
req GET '/v1/traces?status=ok&sort=time&order=asc'; [ "$(ids)" = "$T1 $T4 " ] && ok || bad "ok after a delete: $(ids)"

# an edit the filter has not looked at: verify always finds it
sqlite3 "$T/kb/cairn.db" "UPDATE traces SET json = replace(json, 'Kestrel', 'Kestral') WHERE id = '$T1'"
req GET /v1/traces/verify; is 200 "^\\{\"ok\":false,\"checked\":1,\"message\":\"trace $T1 \\(seq 1\\) was edited" "verify"
expect 1 "trace $T1 \\(seq 1\\) was edited" -- "$BIN" trace "$T/kb" verify
req GET '/v1/traces?status=ok'; [ "$(ids)" = "$T4 " ] && ok || bad "ok after verify: $(ids)"
kill -TERM "$PID"; wait "$PID"; rc=$?; PID=""
[ "$rc" = 0 ] && ok || bad "exit status on SIGTERM: $rc"
echo "serve_trace_cache: $pass passed, $fail failed"
[ $fail = 0 ]
