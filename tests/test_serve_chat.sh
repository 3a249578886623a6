#!/usr/bin/env bash
# test_serve_chat.sh — the OpenAI-compatible chat routes over real HTTP on
# loopback with a real GGUF (make-tiny qwen2, Q8_0, random weights: the
# protocol, not the prose): refused starts with a bad model, the model from
# --model and from the setting ask.model, then tests/openai_client.py
# (requests and SSE parsing as OpenAI's Python client does them: shape,
# determinism, stop strings, max_tokens, streaming, errors, audit, metrics),
# every response checked against schemas/openapi.json, and a clean SIGTERM.
set -u
BIN="${CAIRN_BIN:?}"
. "$CAIRN_SRC/tests/lib.sh"
command -v curl >/dev/null || { echo "SKIP: curl not installed"; exit 77; }
T="${CAIRN_TMP:-/tmp}/serve_chat.$$"; rm -rf "$T"; mkdir -p "$T"
PID=""
cleanup() { [ -n "$PID" ] && kill -KILL "$PID" 2>/dev/null; rm -rf "$T"; }
trap cleanup EXIT
"$BIN" init "$T/kb" >/dev/null || { echo "setup failed"; exit 1; }
"$BIN" model make-tiny --arch qwen2 --type q8_0 --ctx 512 --out "$T/tiny.gguf" >/dev/null 2>&1 \
  || { echo "make-tiny failed"; exit 1; }

# a bad model refuses to start, naming the file and the problem
printf 'GGUF but not really' > "$T/bad.gguf"
expect 1 "--model .*bad.gguf: cannot load it" -- timeout 20 "$BIN" serve "$T/kb" --listen 127.0.0.1:0 --model "$T/bad.gguf"
expect 1 "--model .*missing.gguf: cannot load it" -- timeout 20 "$BIN" serve "$T/kb" --listen 127.0.0.1:0 --model "$T/missing.gguf"

start() {   # start ARGS...: sets PID and U
  rm -f "$T/log"   # else a grep before the child truncates it reads the last server's port
  "$BIN" serve "$T/kb" --listen 127.0.0.1:0 "$@" >"$T/log" 2>&1 &
  PID=$!
  for _ in $(seq 600); do grep -q 'http://' "$T/log" 2>/dev/null && break; sleep 0.1; done
  U="http://127.0.0.1:$(grep -o 'http://127.0.0.1:[0-9]*' "$T/log" | sed 's/.*://')"
  grep -q 'http://' "$T/log" || { echo "server did not start: $(cat "$T/log")"; exit 1; }
}
stop() { kill -TERM "$PID"; wait "$PID"; rc=$?; PID=""; [ "$rc" = 0 ] && ok || bad "exit $rc after SIGTERM: $(cat "$T/log")"; }

# the setting ask.model (no --model) loads it too
/usr/bin/python3 -c 'import json,sys; p=sys.argv[1]; d=json.load(open(p)); d.setdefault("ask", {})["model"]=sys.argv[2]; json.dump(d, open(p,"w"))' \
  "$T/kb/cairn.json" "$T/tiny.gguf"
start
grep -q 'model tiny.gguf' "$T/log" && ok || bad "ask.model not loaded: $(cat "$T/log")"
[ "$(curl -s "$U/v1/models" | /usr/bin/python3 -c 'import json,sys; print([m["id"] for m in json.load(sys.stdin)["data"]])')" = "['tiny.gguf']" ] \
  && ok || bad "models with ask.model"
stop
# POST /v1/ask with a model (ask.model; one with room for ask's prompt):
# "stream" sends each piece the model writes as a token event between the
# prompt and generate stages, and the pieces add up to the answer
"$BIN" model make-tiny --arch qwen2 --type q8_0 --ctx 4096 --out "$T/tiny4k.gguf" >/dev/null 2>&1 || bad "make-tiny 4k"
/usr/bin/python3 -c 'import json,sys; p=sys.argv[1]; d=json.load(open(p)); d["ask"]["model"]=sys.argv[2]; json.dump(d, open(p,"w"))' \
  "$T/kb/cairn.json" "$T/tiny4k.gguf"
start
curl -s -o /dev/null -X POST -H 'Content-Type: application/json' \
  -d '{"uri":"doc/harbour.txt","text":"The Lowmere harbour master is Ada Quist. She took the post in 2019."}' "$U/v1/documents"
/usr/bin/python3 -c 'import json,sys; p=sys.argv[1]; d=json.load(open(p)); d["ask"]["max_tokens"]=12; json.dump(d, open(p,"w"))' "$T/kb/cairn.json"
curl -sN -X POST -H 'Content-Type: application/json' -d '{"question":"Who is the Lowmere harbour master?","stream":true}' \
  "$U/v1/ask" >"$T/ask.sse"
/usr/bin/python3 - "$T/ask.sse" <<'PY' && ok || bad "ask token stream: $(head -c 600 "$T/ask.sse")"
import json, sys
ev, cur = [], None
for line in open(sys.argv[1], encoding="utf-8").read().split("\n"):
    if line.startswith("event: "): cur = line[7:]
    elif line.startswith("data: "): ev.append((cur, json.loads(line[6:])))
names = [n for n, _ in ev]
toks = [d["text"] for n, d in ev if n == "token"]
stages = [d["stage"] for n, d in ev if n == "stage"]
assert toks, names
assert stages == ["retrieval", "graph", "prompt", "generate", "checks"], stages
first, last = names.index("token"), len(names) - 1 - names[::-1].index("token")
assert names[first - 1] == "stage" and ev[first - 1][1]["stage"] == "prompt", names
assert names[last + 1] == "stage" and ev[last + 1][1]["stage"] == "generate", names
answer = [d for n, d in ev if n == "answer"][0]
assert "".join(toks) == answer["answer"], (toks, answer["answer"])
assert names[-1] == "done", names
PY
stop
# a bad ask.model refuses to start too, and says where it came from
/usr/bin/python3 -c 'import json,sys; p=sys.argv[1]; d=json.load(open(p)); d.setdefault("ask", {})["model"]=sys.argv[2]; json.dump(d, open(p,"w"))' \
  "$T/kb/cairn.json" "$T/bad.gguf"
expect 1 "setting ask.model" -- timeout 20 "$BIN" serve "$T/kb" --listen 127.0.0.1:0
/usr/bin/python3 -c 'import json,sys; p=sys.argv[1]; d=json.load(open(p)); d["ask"].pop("model"); json.dump(d, open(p,"w"))' "$T/kb/cairn.json"

# with an API key (loopback then requires it), the client's checks
key=$("$BIN" keys "$T/kb" add --role reader --name chat 2>/dev/null) || bad "keys add"
start --model "$T/tiny.gguf"
: > "$T/responses"
/usr/bin/python3 "$CAIRN_SRC/tests/openai_client.py" "$U" "$key" "$T/kb" "$T/responses" > "$T/client.out" 2>&1
rc=$?
grep -q 'client: [0-9]* passed, 0 failed' "$T/client.out" && [ "$rc" = 0 ] && ok || bad "client: $(cat "$T/client.out")"
/usr/bin/python3 "$CAIRN_SRC/tests/openapi_check.py" "$CAIRN_SRC/schemas/openapi.json" "$T/responses" > "$T/oacheck" \
  && ok || bad "responses vs OpenAPI: $(cat "$T/oacheck")"
cat "$T/client.out" "$T/oacheck"
# a curl stream as plain text: data events only, ending with [DONE]
curl -sN -H "Authorization: Bearer $key" -H 'Content-Type: application/json' \
  -d '{"model":"default","messages":[{"role":"user","content":"hi"}],"max_tokens":4,"temperature":0,"stream":true}' \
  "$U/v1/chat/completions" > "$T/sse"
[ "$(grep -c '^data: ' "$T/sse")" -ge 3 ] && [ "$(grep -v '^data: ' "$T/sse" | grep -vc '^$')" = 0 ] \
  && [ "$(grep '^data: ' "$T/sse" | tail -1)" = 'data: [DONE]' ] && ok || bad "sse framing: $(cat "$T/sse")"
stop
grep -q 'SIGTERM received' "$T/log" && ok || bad "no shutdown message"

echo "serve_chat: $pass passed, $fail failed"
[ "$fail" = 0 ]
