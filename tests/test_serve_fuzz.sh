#!/usr/bin/env bash
# test_serve_fuzz.sh — hostile input over real HTTP on loopback: 240 requests
# with mutated multipart uploads, mutated JSON bodies on every JSON route but
# ask, and junk paths (fixed seed, so the same inputs every run). Every one
# must get an answer in 200/201/400/404/413/415 within 5 s, and the server
# must still answer /healthz and exit 0 on SIGTERM (under the sanitizer
# build: no memory error, no leak).
set -u
BIN="${CAIRN_BIN:?}"
. "$CAIRN_SRC/tests/lib.sh"
command -v curl >/dev/null || { echo "SKIP: curl not installed"; exit 77; }
T="${CAIRN_TMP:-/tmp}/serve_fuzz.$$"; rm -rf "$T"; mkdir -p "$T"
PID=""
cleanup() { [ -n "$PID" ] && kill -KILL "$PID" 2>/dev/null; rm -rf "$T"; }
trap cleanup EXIT
"$BIN" init "$T/kb" >/dev/null && "$BIN" ingest "$T/kb" "$CAIRN_SRC/datasets/corpus" >/dev/null 2>&1 \
  || { echo "setup failed"; exit 1; }
"$BIN" serve "$T/kb" --listen 127.0.0.1:0 --threads 2 >"$T/log" 2>&1 &
PID=$!
for _ in $(seq 100); do grep -q 'http://' "$T/log" && break; sleep 0.1; done
PORT=$(grep -o 'http://127.0.0.1:[0-9]*' "$T/log" | sed 's/.*://')
[ -n "$PORT" ] || { echo "server did not start: $(cat "$T/log")"; exit 1; }

/usr/bin/python3 - "$PORT" > "$T/codes" <<'PY'
import socket, random, sys
port = int(sys.argv[1]); rng = random.Random(11)
def send(raw):
    s = socket.create_connection(("127.0.0.1", port), timeout=5)
    s.sendall(raw)
    out = b""
    try:
        while b"\r\n\r\n" not in out:
            d = s.recv(65536)
            if not d: break
            out += d
    except socket.timeout:
        out = b"HTTP/1.1 TMO"
    s.close()
    return out[9:12].decode("latin1") or "EOF"
for i in range(240):
    kind = i % 4
    if kind == 0:   # multipart upload, bytes deleted, inserted, replaced
        b = "B%d" % rng.randrange(1000)
        body = bytearray(("--%s\r\nContent-Disposition: form-data; name=\"file\"; filename=\"f%d.txt\"\r\n\r\n"
                          "hello world %d\r\n--%s--\r\n" % (b, i, i, b)).encode())
        for _ in range(rng.randrange(6)):
            op = rng.randrange(3); p = rng.randrange(len(body) + 1)
            if op == 0 and body: del body[p:p + rng.randrange(8)]
            elif op == 1: body[p:p] = bytes(rng.randrange(256) for _ in range(rng.randrange(8)))
            elif body: body[min(p, len(body) - 1)] = rng.randrange(256)
        raw = ("POST /v1/documents HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Type: multipart/form-data; "
               "boundary=%s\r\nContent-Length: %d\r\n\r\n" % (b, len(body))).encode() + bytes(body)
    elif kind == 1:   # search body with random bytes
        base = bytearray(b'{"query":"harbor logistics","k":3,"mode":"hybrid","weights":{"bm25":1}}')
        for _ in range(rng.randrange(6)):
            p = rng.randrange(len(base)); base[p] = rng.randrange(256)
        raw = (b"POST /v1/search HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Type: application/json\r\n"
               b"Content-Length: %d\r\n\r\n" % len(base)) + bytes(base)
    elif kind == 2:   # junk paths
        junk = bytes(rng.randrange(33, 127) for _ in range(rng.randrange(1, 200)))
        raw = rng.choice([b"GET /", b"POST /v1/", b"DELETE /v1/documents/", b"GET /v1/graph/entities/"]) + junk + \
              b" HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    else:   # other JSON routes
        base = bytearray(rng.choice([b'{"query":"SELECT 1"}', b'{"model":"hash","input":["a","b"]}',
                                     b'{"question":"x","chunks":[1,2],"hops":1}']))
        for _ in range(rng.randrange(5)):
            p = rng.randrange(len(base)); base[p] = rng.randrange(256)
        path = rng.choice([b"/v1/sql", b"/v1/embeddings", b"/v1/graph/subgraph"])
        raw = (b"POST " + path + b" HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Type: application/json\r\n"
               b"Content-Length: %d\r\n\r\n" % len(base)) + bytes(base)
    print(kind, send(raw))
PY
[ "$(wc -l < "$T/codes")" = 240 ] && ok || bad "fuzz client: $(tail -3 "$T/codes")"
others=$(awk '$2 !~ /^(200|201|400|404|413|415)$/' "$T/codes")
[ -z "$others" ] && ok || bad "unexpected answers (kind status): $(sort "$T/codes" | uniq -c | tr '\n' ';')"
grep -q ' 400$' "$T/codes" && ok || bad "no 400 among mutated inputs"
curl -s -m 5 "http://127.0.0.1:$PORT/healthz" | grep -q ok && ok || bad "server not answering after fuzzing"
kill -TERM "$PID"; wait "$PID"; rc=$?; PID=""
[ "$rc" = 0 ] && ok || bad "server exit $rc: $(tail -20 "$T/log")"
"$BIN" check "$T/kb" >/dev/null 2>&1 && ok || bad "cairn check after fuzzing"
echo "serve_fuzz: $pass passed, $fail failed"
[ "$fail" = 0 ]
