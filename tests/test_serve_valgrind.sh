#!/usr/bin/env bash
# test_serve_valgrind.sh — the server's request path under valgrind
# memcheck: `cairn serve` takes a mixed set of requests (search, ask, sql,
# graph, traces, ingest, delete, bad JSON, 404s) and stops on SIGTERM; no
# invalid read or write, no use of uninitialised memory in cairn's code
# (Berkeley DB's own padding reports are suppressed in tests/valgrind.supp),
# no definitely or indirectly lost block. Skips without valgrind, and in the
# sanitizer build (ASan and valgrind do not mix).
set -u
BIN="${CAIRN_BIN:?}"
. "$CAIRN_SRC/tests/lib.sh"
command -v valgrind >/dev/null || { echo "SKIP: valgrind not installed"; exit 77; }
command -v curl >/dev/null || { echo "SKIP: curl not installed"; exit 77; }
ldd "$BIN" | grep -q libasan && { echo "SKIP: sanitizer build (valgrind cannot run ASan binaries)"; exit 77; }
T="${CAIRN_TMP:-/tmp}/vg.$$"; rm -rf "$T"; mkdir -p "$T"
PID=""
cleanup() { [ -n "$PID" ] && kill -KILL "$PID" 2>/dev/null; rm -rf "$T"; }
trap cleanup EXIT
[ -n "${CAIRN_KEEP:-}" ] && trap 'echo "kept $T"' EXIT
"$BIN" init "$T/kb" >/dev/null && "$BIN" ingest "$T/kb" "$CAIRN_SRC/datasets/corpus" >/dev/null 2>&1 \
  || { echo "setup failed"; exit 1; }
OMP_NUM_THREADS=1 valgrind --leak-check=full --show-leak-kinds=definite,indirect \
  --errors-for-leak-kinds=definite,indirect --error-exitcode=9 \
  --suppressions="$CAIRN_SRC/tests/valgrind.supp" --log-file="$T/vg.log" \
  "$BIN" serve "$T/kb" --listen 127.0.0.1:0 --threads 2 >"$T/log" 2>&1 &
PID=$!
for _ in $(seq 600); do grep -q 'http://' "$T/log" && break; sleep 0.2; done
PORT=$(grep -o 'http://127.0.0.1:[0-9]*' "$T/log" | sed 's/.*://')
[ -n "$PORT" ] || { echo "server did not start under valgrind: $(cat "$T/log")"; exit 1; }
U="http://127.0.0.1:$PORT"; J=(-H 'Content-Type: application/json')
# code METHOD PATH [curl args]: the HTTP status
code() { local m="$1" p="$2"; shift 2; curl -s -o /dev/null -w '%{http_code}' -X "$m" "$@" "$U$p"; }
[ "$(code GET /healthz)" = 200 ] && ok || bad healthz
[ "$(code POST /v1/search "${J[@]}" -d '{"query":"Norvale GmbH","k":5}')" = 200 ] && ok || bad search
[ "$(code POST /v1/search "${J[@]}" -d '{"query":"x",')" = 400 ] && ok || bad "bad json"
[ "$(code POST /v1/ask "${J[@]}" -d '{"question":"Who is the CFO of Norvale Systems?"}')" = 200 ] && ok || bad ask
[ "$(code POST /v1/ask "${J[@]}" -d '{"question":"Who runs Corvane?","stream":true}')" = 200 ] && ok || bad "ask stream"
[ "$(code POST /v1/sql "${J[@]}" -d '{"query":"SELECT count(*) AS n FROM documents"}')" = 200 ] && ok || bad sql
[ "$(code POST /v1/graph/subgraph "${J[@]}" -d '{"question":"Norvale","budget":5}')" = 200 ] && ok || bad subgraph
[ "$(code GET '/v1/graph/entities?q=norvale')" = 200 ] && ok || bad entities
[ "$(code GET '/v1/traces?limit=5')" = 200 ] && ok || bad traces
[ "$(code GET /v1/traces/verify)" = 200 ] && ok || bad verify
case "$(code POST /v1/documents "${J[@]}" -d '{"uri":"vg/a.txt","text":"A valgrind document about Norvale harbours."}')" in
  200|201) ok;; *) bad ingest;; esac
[ "$(code DELETE /v1/documents/1)" = 200 ] && ok || bad delete
[ "$(code GET /nowhere)" = 404 ] && ok || bad 404
[ "$(code GET /)" = 200 ] && ok || bad page
kill -TERM "$PID"; wait "$PID"; rc=$?; PID=""
[ "$rc" = 0 ] && ok || bad "server exit $rc under valgrind (9 = memcheck errors): $(grep -E 'ERROR SUMMARY|lost:' "$T/vg.log" | tr '\n' ' ')"
grep -q 'ERROR SUMMARY: 0 errors' "$T/vg.log" && ok || { bad "memcheck errors"; grep -A25 -E 'Invalid|uninitialised|definitely lost in' "$T/vg.log" | head -60 >&2; }
echo "serve_valgrind: $pass passed, $fail failed"
[ "$fail" = 0 ]
