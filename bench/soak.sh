#!/usr/bin/env bash
# soak.sh — soak benches of `cairn serve` on loopback (issue 10, items 3-4).
#   rss:   RSS_MIN minutes of mixed reads (search bm25/hybrid, ask, document
#          list and get, trace list/get/verify) against one server; VmRSS
#          sampled every 10 s; prints first/last/max and whether RSS stays
#          within 5% of its value at the end of the warm-up (the first
#          WARM_S seconds, default 120).
#   mixed: MIX_MIN minutes of search, ask, ingest (POST /v1/documents) and
#          delete traffic; then: zero 5xx, every acknowledged and not
#          deleted document present with its id and uri, the live count
#          equal to start + added - deleted, no deleted one visible,
#          `cairn check KB` and `cairn trace KB verify` pass.
# Prints "SOAK ..." lines; exit 1 when a mixed-phase check fails.
# Usage: bench/soak.sh [BUILD_DIR] [RSS_MIN] [MIX_MIN] [CLIENTS]
#   defaults: build 10 30 4. RSS_MIN or MIX_MIN 0 skips that phase.
#   The KB is datasets/corpus (hash embedder) in $BENCH_TMP
#   (default /tmp/cairn-soak), rebuilt each run.
set -u
BUILD="${1:-build}"; RSS_MIN="${2:-10}"; MIX_MIN="${3:-30}"; CLIENTS="${4:-4}"
BIN="$(cd "$(dirname "$BUILD/cairn")" && pwd)/cairn"
SRC="$(cd "$(dirname "$0")/.." && pwd)"
T="${BENCH_TMP:-/tmp/cairn-soak}"
WARM_S="${WARM_S:-120}"
[ -x "$BIN" ] || { echo "no $BIN: build first"; exit 2; }
rm -rf "$T"; mkdir -p "$T"
SPID=""
cleanup() { [ -n "$SPID" ] && kill -TERM "$SPID" 2>/dev/null; wait 2>/dev/null; }
trap cleanup EXIT

start_server() {   # $1 = KB; sets SPID, PORT
  rm -f "$T/serve.log"
  "$BIN" serve "$1" --listen 127.0.0.1:0 --threads 4 >"$T/serve.log" 2>&1 &
  SPID=$!
  PORT=""
  for _ in $(seq 600); do
    PORT=$(grep -o 'http://127.0.0.1:[0-9]*' "$T/serve.log" | sed 's/.*://')
    [ -n "$PORT" ] && return 0
    sleep 0.1
  done
  echo "server did not start: $(cat "$T/serve.log")"; exit 1
}
stop_server() {
  kill -TERM "$SPID"; wait "$SPID"; local rc=$?; SPID=""
  [ $rc -eq 0 ] || echo "SOAK server exited $rc: $(tail -3 "$T/serve.log")"
  return $rc
}

echo "SOAK machine: $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg), $(date -u +%FT%TZ)"

# ------------------------------------------------------------ the client
cat > "$T/client.py" <<'PY'
import http.client, json, random, sys, threading, time, collections
port, phase, secs, nclients, outp = int(sys.argv[1]), sys.argv[2], float(sys.argv[3]), int(sys.argv[4]), sys.argv[5]
WORDS = ("Corvane Logistics chief executive revenue contract merger quarter board "
         "acquisition shipping supplier lawsuit dividend warehouse audit").split()
lock = threading.Lock()
status = collections.Counter()       # (route, status) -> n
lat = collections.defaultdict(list)  # route -> seconds
acked = {}                           # uri -> id (201/200 answered)
deleted = {}                         # uri -> id (200 answered)
bad = []                             # first few 5xx / transport errors
stop_at = time.time() + secs

def req(conn, method, path, body=None, route=None):
    h = {"Content-Type": "application/json"} if body is not None else {}
    t = time.time()
    try:
        conn.request(method, path, body=json.dumps(body) if body is not None else None, headers=h)
        r = conn.getresponse(); data = r.read(); st = r.status
    except Exception as e:
        st, data = 0, repr(e).encode()
    with lock:
        status[(route or path, st)] += 1
        lat[route or path].append(time.time() - t)
        if (st >= 500 or st == 0) and len(bad) < 20:
            bad.append("%s %s -> %d %s" % (method, path, st, data[:200]))
    return st, data

def reader(tid):
    rng = random.Random(tid)
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
    trace_ids, doc_ids = [], []
    while time.time() < stop_at:
        p = rng.random()
        q = " ".join(rng.sample(WORDS, 3))
        if p < 0.35:
            st, d = req(conn, "POST", "/v1/search", {"query": q, "k": 10, "mode": rng.choice(["bm25", "hybrid"])}, "search")
        elif p < 0.55:
            st, d = req(conn, "POST", "/v1/ask", {"question": "Who is the " + q + "?", "k": 4, "json": True}, "ask")
            if st == 200:
                try: trace_ids.append(json.loads(d)["trace_id"])
                except Exception: pass
                trace_ids = trace_ids[-50:]
        elif p < 0.70:
            st, d = req(conn, "GET", "/v1/documents?limit=%d&offset=%d" % (rng.randint(1, 50), rng.randint(0, 40)), route="docs_list")
            if st == 200:
                doc_ids = [x["id"] for x in json.loads(d)["documents"]] or doc_ids
        elif p < 0.80:
            st, d = req(conn, "GET", "/v1/documents/%d" % (rng.choice(doc_ids) if doc_ids else 1), route="doc_get")
        elif p < 0.92:
            st, d = req(conn, "GET", "/v1/traces?limit=20", route="traces_list")
        elif p < 0.98 and trace_ids:
            st, d = req(conn, "GET", "/v1/traces/" + rng.choice(trace_ids), route="trace_get")
        else:
            st, d = req(conn, "GET", "/v1/traces/verify", route="traces_verify")
        if st == 0:
            conn.close(); conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)

def writer(tid):
    rng = random.Random(1000 + tid)
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
    n = 0
    mine = []
    while time.time() < stop_at:
        if mine and rng.random() < 0.3:
            uri, i = mine.pop(rng.randrange(len(mine)))
            st, d = req(conn, "DELETE", "/v1/documents/%d" % i, route="delete")
            if st == 200:
                with lock: deleted[uri] = i
            elif st != 0:
                mine.append((uri, i))
            continue
        n += 1
        uri = "soak/w%d/doc%06d.md" % (tid, n)
        text = "# Soak %d %d\n\n" % (tid, n) + " ".join(rng.choice(WORDS) for _ in range(rng.randint(30, 400))) + ".\n"
        st, d = req(conn, "POST", "/v1/documents", {"uri": uri, "text": text, "format": "md"}, "ingest")
        if st in (200, 201):
            i = json.loads(d)["id"]
            with lock: acked[uri] = i
            mine.append((uri, i))
        if st == 0:
            conn.close(); conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)

threads = [threading.Thread(target=reader, args=(i,)) for i in range(nclients)]
if phase == "mixed":
    threads += [threading.Thread(target=writer, args=(i,)) for i in range(max(1, nclients // 2))]
for t in threads: t.start()
for t in threads: t.join()
def pct(v, p):
    v = sorted(v); return v[min(len(v) - 1, int(len(v) * p))] * 1e3 if v else 0
out = {"status": {"%s %d" % k: n for k, n in sorted(status.items())},
       "latency_ms": {r: {"n": len(v), "p50": round(pct(v, .5), 2), "p99": round(pct(v, .99), 2)} for r, v in lat.items()},
       "acked": acked, "deleted": deleted, "bad": bad,
       "n5xx": sum(n for (r, s), n in status.items() if s >= 500 or s == 0)}
json.dump(out, open(outp, "w"))
PY

build_kb() {   # $1 = KB
  "$BIN" init "$1" >/dev/null && "$BIN" ingest "$1" "$SRC/datasets/corpus" >/dev/null 2>"$T/ingest.err" \
    || { echo "KB setup failed: $(cat "$T/ingest.err")"; exit 1; }
}
rss_kb() { awk '/^VmRSS/ {print $2}' "/proc/$1/status" 2>/dev/null; }

# ------------------------------------------------------------ phase 1: RSS
if [ "$RSS_MIN" != 0 ]; then
  build_kb "$T/kb-rss"
  start_server "$T/kb-rss"
  /usr/bin/python3 "$T/client.py" "$PORT" reads $(awk "BEGIN{print int($RSS_MIN * 60)}") "$CLIENTS" "$T/rss.json" &
  CPID=$!
  : > "$T/rss.samples"
  t0=$(date +%s)
  while kill -0 "$CPID" 2>/dev/null; do
    echo "$(( $(date +%s) - t0 )) $(rss_kb "$SPID")" >> "$T/rss.samples"
    sleep 10
  done
  wait "$CPID"
  echo "$(( $(date +%s) - t0 )) $(rss_kb "$SPID")" >> "$T/rss.samples"
  stop_server || true
  /usr/bin/python3 - "$T/rss.samples" "$T/rss.json" "$WARM_S" <<'PY'
import json, sys
s = [tuple(map(int, l.split())) for l in open(sys.argv[1]) if len(l.split()) == 2]
warm = int(sys.argv[3])
after = [r for t, r in s if t >= warm] or [s[-1][1]]
base = after[0]
drift = (max(after) - base) / base * 100
c = json.load(open(sys.argv[2]))
n = sum(c["status"].values())
print("SOAK rss: %d samples over %d s; first %.1f MiB, at warm-up end (%d s) %.1f MiB, last %.1f MiB, max %.1f MiB; "
      "max after warm-up %+.1f%% of warm-up value, last %+.1f%% -> %s"
      % (len(s), s[-1][0], s[0][1] / 1024, warm, base / 1024, s[-1][1] / 1024, max(r for _, r in s) / 1024,
         drift, (s[-1][1] - base) / base * 100, "within 5%" if abs(drift) <= 5 and abs(s[-1][1] - base) / base <= .05 else "NOT within 5%"))
print("SOAK rss requests: %d (%.1f/s), 5xx or transport errors %d" % (n, n / max(1, s[-1][0]), c["n5xx"]))
print("SOAK rss latency: " + ", ".join("%s p50 %.1f ms p99 %.1f ms (n %d)" % (r, v["p50"], v["p99"], v["n"]) for r, v in sorted(c["latency_ms"].items())))
print("SOAK rss samples (s KiB): " + " ".join("%d:%d" % x for x in s))
PY
fi

# ------------------------------------------------------------ phase 2: mixed
if [ "$MIX_MIN" != 0 ]; then
  KB="$T/kb-mixed"
  build_kb "$KB"
  n0=$(sqlite3 "$KB/cairn.db" 'SELECT count(*) FROM documents WHERE deleted = 0')
  start_server "$KB"
  r0=$(rss_kb "$SPID")
  /usr/bin/python3 "$T/client.py" "$PORT" mixed $(awk "BEGIN{print int($MIX_MIN * 60)}") "$CLIENTS" "$T/mixed.json"
  r1=$(rss_kb "$SPID")
  # the checks, through the running server and then on the closed KB
  /usr/bin/python3 - "$PORT" "$T/mixed.json" "$n0" "$KB/cairn.db" > "$T/mixed.out" <<'PY'
import http.client, json, sys, sqlite3
port, c, n0 = int(sys.argv[1]), json.load(open(sys.argv[2])), int(sys.argv[3])
conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
fails = []
live = {u: i for u, i in c["acked"].items() if u not in c["deleted"]}
for u, i in live.items():
    conn.request("GET", "/v1/documents/%d" % i); r = conn.getresponse(); d = r.read()
    if r.status != 200 or json.loads(d)["uri"] != u: fails.append("acknowledged %s (id %d): %d" % (u, i, r.status))
for u, i in c["deleted"].items():
    conn.request("GET", "/v1/documents/%d" % i); r = conn.getresponse(); r.read()
    if r.status != 404: fails.append("deleted %s (id %d) still answers %d" % (u, i, r.status))
db = sqlite3.connect("file:%s?mode=ro" % sys.argv[4], uri=True)
nlive = db.execute("SELECT count(*) FROM documents WHERE deleted = 0").fetchone()[0]
nsoak = db.execute("SELECT count(*) FROM documents WHERE deleted = 0 AND uri LIKE 'soak/%'").fetchone()[0]
if nlive != n0 + len(live) or nsoak != len(live):
    fails.append("live documents %d (soak %d); expected %d + %d" % (nlive, nsoak, n0, len(live)))
ntr = db.execute("SELECT count(*) FROM traces").fetchone()[0]
n = sum(c["status"].values())
print("SOAK mixed requests: %d, 5xx or transport errors %d; by route and status: %s" % (n, c["n5xx"], c["status"]))
print("SOAK mixed latency: " + ", ".join("%s p50 %.1f ms p99 %.1f ms (n %d)" % (r, v["p50"], v["p99"], v["n"]) for r, v in sorted(c["latency_ms"].items())))
print("SOAK mixed data: %d acknowledged ingests, %d deleted, %d live soak documents, %d live in all (start %d), %d traces"
      % (len(c["acked"]), len(c["deleted"]), nsoak, nlive, n0, ntr))
for b in c["bad"]: print("SOAK mixed 5xx: " + b)
for f in fails[:20]: print("SOAK mixed FAIL: " + f)
sys.exit(1 if fails or c["n5xx"] else 0)
PY
  ok=$?
  cat "$T/mixed.out"
  stop_server || ok=1
  echo "SOAK mixed server RSS: $((r0 / 1024)) MiB at start, $((r1 / 1024)) MiB at the end"
  if "$BIN" check "$KB" >"$T/check.out" 2>&1; then echo "SOAK mixed cairn check: ok"
  else echo "SOAK mixed cairn check: FAILED: $(tail -5 "$T/check.out")"; ok=1; fi
  if "$BIN" trace "$KB" verify >"$T/verify.out" 2>&1; then echo "SOAK mixed trace verify: ok ($(tail -1 "$T/verify.out"))"
  else echo "SOAK mixed trace verify: FAILED: $(tail -3 "$T/verify.out")"; ok=1; fi
  [ $ok -eq 0 ] && echo "SOAK mixed: PASS" || { echo "SOAK mixed: FAIL"; exit 1; }
fi
