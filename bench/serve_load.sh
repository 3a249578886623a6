#!/usr/bin/env bash
# serve_load.sh — load benchmark of `cairn serve` (issue 7, item 5), loopback
# only: wrk against Debian's nginx serving a small static file, then against
# cairn's /healthz, /v1/search (bm25 and hybrid) on a generated KB, and
# /v1/search again while a writer POSTs documents continuously. All in one
# run, so the ratio to nginx holds even on a loaded machine.
#
# Needs: apt-get install wrk nginx-light   (not in bootstrap: CI runs no benches)
# Usage: [SKIP_STATIC=1] [SKIP_NOWRITER=1] [MODES="bm25 hybrid"] [WRITER_WARMUP=S] [WRITER=curl|keepalive] [WRITER_RATE=N] [SERVE_WAIT=S] [CAIRN_SERVE_TIMING=LOG] bench/serve_load.sh [BUILD_DIR] [CHUNKS] [SECONDS] [CONNECTIONS]
#   SKIP_NOWRITER=1: only the rows with the writer; MODES: the search modes
#   measured (default both).
#   SERVE_WAIT=S: the most seconds to wait for the server to listen and for
#   its vector index to be loaded and caught up (default 600; then it stops
#   with a message rather than measure a server still loading).
#   CAIRN_SERVE_TIMING=LOG: the server logs each search's parts (bench/serve_timing.py
#   LOG [MODE [PHASE]] says where the latency tail comes from).
#   defaults: build 100000 20 64. The KB (CHUNKS chunks of ~48 tokens, one
#   generated .txt file, hash embedder, flat vector index, no graph
#   extraction) is kept in
#   $BENCH_TMP (default /tmp/cairn-serve-bench) and reused when it exists.
set -u
BUILD="${1:-build}"; CHUNKS="${2:-100000}"; SECS="${3:-20}"; CONNS="${4:-64}"
BIN="$BUILD/cairn"
T="${BENCH_TMP:-/tmp/cairn-serve-bench}"
for t in wrk nginx; do command -v $t >/dev/null || [ -x /usr/sbin/$t ] || { echo "needs $t: apt-get install wrk nginx-light"; exit 2; }; done
NGINX=$(command -v nginx || echo /usr/sbin/nginx)
mkdir -p "$T"
SPID=""; NPID=""; WPID=""
cleanup() {
  [ -n "$WPID" ] && kill "$WPID" 2>/dev/null
  [ -n "$SPID" ] && kill -TERM "$SPID" 2>/dev/null
  [ -n "$NPID" ] && kill -QUIT "$NPID" 2>/dev/null
  wait 2>/dev/null
}
trap cleanup EXIT

# ---- the KB: lines of 14 words from a 50,000-word vocabulary; chunks of
# ~48 tokens, so CHUNKS chunks need about CHUNKS*3.5 lines
KB="$T/kb-$CHUNKS"
if [ ! -f "$KB/cairn.db" ]; then
  rm -rf "$KB"
  "$BIN" init "$KB" >/dev/null || exit 1
  /usr/bin/python3 - "$KB/cairn.json" <<'PY'
import json, sys
p = sys.argv[1]; s = json.load(open(p))
s.setdefault("chunk", {}).update({"target_tokens": 48, "overlap_tokens": 0})
s.setdefault("graph", {})["extractor"] = "none"   # random words: nothing to extract
json.dump(s, open(p, "w"))
PY
  # files of 1,000 lines (~330 chunks): one huge file ingests far slower
  rm -rf "$T/parts"; mkdir -p "$T/parts"
  /usr/bin/python3 - "$T/parts" "$CHUNKS" <<'PY'
import sys, random
rng = random.Random(7)
vocab = ["w%d" % i for i in range(50000)]
n = int(int(sys.argv[2]) * 3.45)
for part in range(0, n, 1000):
    with open("%s/p%05d.txt" % (sys.argv[1], part // 1000), "w") as f:
        for _ in range(min(1000, n - part)):
            f.write(" ".join(rng.choice(vocab) for _ in range(14)) + ".\n")
PY
  t0=$(date +%s)
  "$BIN" ingest "$KB" "$T/parts" >/dev/null 2>"$T/ingest.err" || { cat "$T/ingest.err"; exit 1; }
  echo "KB built in $(( $(date +%s) - t0 )) s"
fi
nch=$(sqlite3 "$KB/cairn.db" 'SELECT count(*) FROM chunks')
echo "KB: $nch chunks ($(du -sh "$KB" | cut -f1))"

# ---- wrk helpers: a POST with a rotating query (lua), the summary line
cat > "$T/search.lua" <<'LUA'
local n = 0
local mode = os.getenv("MODE") or "hybrid"
request = function()
  n = n + 1
  local q = string.format("w%d w%d", (n * 7919) % 50000, (n * 104729) % 50000)
  return wrk.format("POST", "/v1/search", {["Content-Type"] = "application/json"},
                    string.format('{"query":"%s","k":10,"mode":"%s"}', q, mode))
end
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format("RESULT rps=%.1f p50_ms=%.2f p99_ms=%.2f requests=%d non2xx=%d errors=%d\n",
    summary.requests / (summary.duration / 1e6), latency:percentile(50) / 1000,
    latency:percentile(99) / 1000, summary.requests, e.status,
    e.connect + e.read + e.write + e.timeout))
end
LUA
sed -n '/^done = /,$p' "$T/search.lua" > "$T/get.lua"
# CPU seconds (user + system, in clock ticks) the server has used so far:
# per request, it is less at the mercy of a loaded machine than requests/s
cpu_ticks() { [ -n "$SPID" ] && awk '{print $14 + $15}' "/proc/$SPID/stat" 2>/dev/null || echo 0; }
run() {  # run NAME URL [LUA]: one wrk run, prints a table row
  local name="$1" url="$2" lua="${3:-$T/get.lua}" out c0 c1 req
  c0=$(cpu_ticks)
  out=$(wrk -t2 -c"$CONNS" -d"${SECS}s" --latency -s "$lua" "$url" 2>&1)
  c1=$(cpu_ticks)
  req=$(grep -o 'requests=[0-9]*' <<<"$out" | cut -d= -f2)
  echo "| $name | $(grep -o 'RESULT.*' <<<"$out" | sed 's/RESULT //') server_cpu_ms_per_req=$(awk -v d=$((c1 - c0)) -v r="${req:-0}" -v hz="$(getconf CLK_TCK)" 'BEGIN { printf "%.3f", r ? d * 1000 / hz / r : 0 }') |"
  grep -o 'RESULT.*' <<<"$out" >/dev/null || echo "$out" >&2
}

# ---- nginx: one static file, same body as /healthz, loopback port
mkdir -p "$T/www" "$T/nginx"
printf '{"status":"ok"}' > "$T/www/healthz"
NPORT=$((20000 + RANDOM % 20000))
cat > "$T/nginx/nginx.conf" <<EOF
worker_processes 2;
pid $T/nginx/nginx.pid;
error_log $T/nginx/error.log;
events { worker_connections 1024; }
http {
  access_log off;
  client_body_temp_path $T/nginx; proxy_temp_path $T/nginx; fastcgi_temp_path $T/nginx;
  uwsgi_temp_path $T/nginx; scgi_temp_path $T/nginx;
  keepalive_requests 1000000;
  server { listen 127.0.0.1:$NPORT; root $T/www; location / { default_type application/json; } }
}
EOF
"$NGINX" -c "$T/nginx/nginx.conf" -g 'daemon off;' &
NPID=$!
sleep 0.5

# ---- cairn
"$BIN" serve "$KB" --listen 127.0.0.1:0 --threads "${THREADS:-2}" > "$T/serve.log" 2>&1 &
SPID=$!
# The address is printed once the readers' vector index is loaded (tens of
# seconds for 112k vectors on a loaded machine). SERVE_WAIT (seconds,
# default 600) bounds that wait and the one below.
WAIT="${SERVE_WAIT:-600}"; t0=$(date +%s); U=""
while :; do
  U=$(grep -o 'http://127.0.0.1:[0-9]*' "$T/serve.log")
  [ -n "$U" ] && break
  kill -0 "$SPID" 2>/dev/null || { echo "cairn serve exited before listening:"; cat "$T/serve.log"; exit 1; }
  if [ $(( $(date +%s) - t0 )) -ge "$WAIT" ]; then
    echo "cairn serve printed no address in $WAIT s (still loading the vector index? raise SERVE_WAIT); its log:"
    cat "$T/serve.log"; exit 1
  fi
  sleep 0.2
done
echo "cairn serve listening $(( $(date +%s) - t0 )) s after start"
# Then the index searches use must hold the whole catalog: /metrics's
# cairn_vector_index_generation equal to the catalog's generation. A KB whose
# index is behind is caught up by the writer thread at startup and loaded
# again by the readers, in the background: a row measured meanwhile would
# share the CPU with that load (and search an older index).
if [ -f "$KB/vectors.faiss" ]; then
  want=$(sqlite3 "$KB/cairn.db" 'SELECT coalesce(max(generation), 0) FROM changes')
  while :; do
    have=$(curl -s "$U/metrics" | awk '$1 == "cairn_vector_index_generation" { print $2 }')
    if [ -z "$have" ] && curl -sf -o /dev/null "$U/metrics"; then   # a build without the gauge
      echo "(no cairn_vector_index_generation in /metrics: an older build; not waiting for the vector index)"
      break
    fi
    [ "$have" = "$want" ] && { echo "vector index loaded at the catalog's generation $want, $(( $(date +%s) - t0 )) s after start"; break; }
    kill -0 "$SPID" 2>/dev/null || { echo "cairn serve exited while loading:"; cat "$T/serve.log"; exit 1; }
    if [ $(( $(date +%s) - t0 )) -ge "$WAIT" ]; then
      echo "after $WAIT s the vector index of searches is at generation ${have:-?}, the catalog at $want:" \
           "still loading or catching up (raise SERVE_WAIT, or run cairn optimize on the KB first); its log:"
      cat "$T/serve.log"; exit 1
    fi
    sleep 0.5
  done
fi

echo "wrk -t2 -c$CONNS -d${SECS}s, cairn --threads ${THREADS:-2}, $(nproc) CPUs, load average $(cut -d' ' -f1-3 /proc/loadavg)"
echo "| target | result |"
echo "|---|---|"
if [ -z "${SKIP_STATIC:-}" ]; then   # SKIP_STATIC=1: the search rows only
  run "nginx static file" "http://127.0.0.1:$NPORT/healthz"
  run "cairn /healthz" "$U/healthz"
fi
want() { [[ " ${MODES:-bm25 hybrid} " == *" $1 "* ]]; }
if [ -z "${SKIP_NOWRITER:-}" ]; then
  want bm25 && MODE=bm25 run "cairn /v1/search bm25" "$U/v1/search" "$T/search.lua"
  if [ ! -f "$KB/vectors.faiss" ]; then
    echo "(no vector index in $KB: hybrid not measured)"
  elif want hybrid; then
    MODE=hybrid run "cairn /v1/search hybrid" "$U/v1/search" "$T/search.lua"
  fi
fi
# a writer: one small new document after another through the API (uris
# unique to this run: a document already in the KB would be 'unchanged').
# Default: one curl process per document (the rows of every session so
# far). WRITER=keepalive: one python3 process posting the same documents
# over one keep-alive connection (the client's own CPU per document is far
# smaller; an additional row option, not the default, so results stay
# comparable). WRITER_RATE=N (with keepalive): at most N documents a
# second, so that builds are compared at the same documents written (a
# writer that posts as fast as the server answers writes more on a faster
# server, and the searches pay for those documents).
RUN=$(date +%s)
if [ "${WRITER:-curl}" = keepalive ]; then
  /usr/bin/python3 - "$U" "$RUN" "${WRITER_RATE:-0}" <<'PY' &
import http.client, json, sys, time, urllib.parse
u = urllib.parse.urlparse(sys.argv[1]); run = sys.argv[2]; rate = float(sys.argv[3])
c = http.client.HTTPConnection(u.hostname, u.port)
i = 0; t0 = time.monotonic()
while True:
    i += 1
    if rate > 0:
        time.sleep(max(0.0, t0 + i / rate - time.monotonic()))
    body = json.dumps({"uri": "load/%s-%d.txt" % (run, i),
                       "text": "Load document %d about w%d and w%d." % (i, i % 50000, (i * 31) % 50000)})
    try:
        c.request("POST", "/v1/documents", body, {"Content-Type": "application/json"})
        c.getresponse().read()
    except (OSError, http.client.HTTPException):
        c.close(); c = http.client.HTTPConnection(u.hostname, u.port)
PY
  WPID=$!
else
  ( i=0; while :; do i=$((i+1))
      curl -s -o /dev/null -H 'Content-Type: application/json' \
        -d "{\"uri\":\"load/$RUN-$i.txt\",\"text\":\"Load document $i about w$((i % 50000)) and w$(( (i * 31) % 50000)).\"}" "$U/v1/documents"
    done ) &
  WPID=$!
fi
# the writer client's own CPU (its process and the curls it waited for:
# utime + stime + cutime + cstime, clock ticks)
wcpu() { awk '{print $14 + $15 + $16 + $17}' "/proc/$WPID/stat" 2>/dev/null || echo 0; }
# WRITER_WARMUP=S: let the writer run S seconds before the writer rows (its
# first catch-up loads the whole vector index: seconds on a loaded machine)
[ -n "${WRITER_WARMUP:-}" ] && sleep "$WRITER_WARMUP"
wn0=$(sqlite3 "$KB/cairn.db" "SELECT count(*) FROM documents WHERE uri LIKE 'load/$RUN-%'")
wc0=$(wcpu); wt0=$(date +%s.%N)
want bm25 && MODE=bm25 run "cairn /v1/search bm25, writer ingesting" "$U/v1/search" "$T/search.lua"
if [ -f "$KB/vectors.faiss" ] && want hybrid; then
  MODE=hybrid run "cairn /v1/search hybrid, writer ingesting" "$U/v1/search" "$T/search.lua"
fi
wc1=$(wcpu); wt1=$(date +%s.%N)
wn1=$(sqlite3 "$KB/cairn.db" "SELECT count(*) FROM documents WHERE uri LIKE 'load/$RUN-%'")
kill "$WPID"; wait "$WPID" 2>/dev/null; WPID=""
awk -v c=$((wc1 - wc0)) -v n=$((wn1 - wn0)) -v t0="$wt0" -v t1="$wt1" \
    -v hz="$(getconf CLK_TCK)" -v m="${WRITER:-curl}${WRITER_RATE:+ at most $WRITER_RATE/s}" 'BEGIN {
  printf "writer client (%s) during the writer rows: %d documents, its CPU %.0f ms (%.2f ms per document, %.1f%% of one core)\n",
         m, n, c * 1000 / hz, n ? c * 1000 / hz / n : 0, 100 * c / hz / (t1 - t0) }'
echo "documents written by the writer during the writer runs: $(sqlite3 "$KB/cairn.db" "SELECT count(*) FROM documents WHERE uri LIKE 'load/$RUN-%' AND deleted = 0")"
