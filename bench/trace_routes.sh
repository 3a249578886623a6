#!/usr/bin/env bash
# trace_routes.sh — latency of the trace browser's REST routes with many
# traces: a KB of the sample corpus, N traces (one real `cairn ask` trace
# copied N times into a valid hash chain, so no ask runs are timed), then
# each route timed with curl (median of 5) next to the CLI doing the same
# work (`cairn trace verify`, `cairn trace export`) as the baseline.
#   bench/trace_routes.sh [N=2000]     (build first: build/cairn)
# With CAIRN_BASE_BIN set (another build's cairn, e.g. main's), the status
# filter is also timed on a server of that build over the same KB, and the
# ratio printed: the same run, the same machine load.
# The status filter hashes each trace once per server process: its first
# request is timed alone, then the median of 5 later ones, then one
# request after a new trace was appended.
set -eu
N="${1:-2000}"
BIN="${CAIRN_BIN:-$(pwd)/build/cairn}"
SRC="$(cd "$(dirname "$0")/.." && pwd)"
T=$(mktemp -d)
PID=""
BPID=""
trap '[ -n "$PID" ] && kill "$PID" 2>/dev/null; [ -n "$BPID" ] && kill "$BPID" 2>/dev/null; rm -rf "$T"' EXIT
"$BIN" init "$T/kb" >/dev/null
"$BIN" ingest "$T/kb" "$SRC/datasets/corpus" >/dev/null 2>&1
"$BIN" ask "$T/kb" "Which company did Kestrel Avionics Ltd acquire in 2023?" >/dev/null
/usr/bin/python3 - "$T/kb/cairn.db" "$N" <<'EOF'
import hashlib, sqlite3, sys
db = sqlite3.connect(sys.argv[1]); n = int(sys.argv[2])
json0, = db.execute("SELECT json FROM traces").fetchone()
db.execute("DELETE FROM traces")
prev = "0" * 64
callers = ["cli", "api:reviewer", "api:batch"]
for i in range(n):
    tid = "tr_%016x" % i
    t = "2026-11-%02dT%02d:%02d:00Z" % (1 + i * 30 // n, i % 24, i % 60)
    q = "Question %d about Kestrel Avionics?" % i
    j = json0.replace(json0[json0.index('"trace_id"'):json0.index('"question"')],
                      '"trace_id":"%s","created_at":"%s","caller":"%s",' % (tid, t, callers[i % 3]))
    h = hashlib.sha256((prev + j).encode()).hexdigest()
    db.execute("INSERT INTO traces(id, created_at, caller, question, json, prev_hash, hash)"
               " VALUES (?,?,?,?,?,?,?)", (tid, t, callers[i % 3], q, j, prev, h))
    prev = h
db.commit()
EOF
"$BIN" trace "$T/kb" verify >/dev/null   # the chain built above is valid
"$BIN" serve "$T/kb" --listen 127.0.0.1:0 --threads 2 >"$T/log" 2>&1 &
PID=$!
for _ in $(seq 50); do grep -q 'http://' "$T/log" && break; sleep 0.1; done
U=$(grep -o 'http://127.0.0.1:[0-9]*' "$T/log")
med() { sort -n | sed -n 3p; }
t_curl() { for _ in 1 2 3 4 5; do curl -s -o /dev/null -w '%{time_total}\n' "$U$1"; done | med; }
t_cli() { for _ in 1 2 3 4 5; do /usr/bin/time -f %e "$@" >/dev/null 2>>"$T/times"; tail -1 "$T/times"; done | med; }
size=$(du -m "$T/kb/cairn.db" | cut -f1)
echo "traces: $N ($(($(stat -c %s "$T/kb/cairn.db") / N / 1024)) KiB each, catalog $size MiB); seconds, median of 5"
printf '%-52s %s\n' "GET /v1/traces (first page of 50)" "$(t_curl '/v1/traces')"
printf '%-52s %s\n' "GET /v1/traces?sort=question&offset=1000" "$(t_curl '/v1/traces?sort=question&offset=1000')"
printf '%-52s %s\n' "GET /v1/traces?caller=api:batch&from=2026-11-10" "$(t_curl '/v1/traces?caller=api:batch&from=2026-11-10')"
printf '%-52s %s\n' "GET /v1/traces?q=brightwater (answer text)" "$(t_curl '/v1/traces?q=brightwater')"
t_one() { curl -s -o /dev/null -w '%{time_total}\n' "$U$1"; }
first=$(t_one '/v1/traces?status=broken')
later=$(t_curl '/v1/traces?status=broken')
printf '%-52s %s\n' "GET /v1/traces?status=broken (first: hashes all)" "$first"
printf '%-52s %s\n' "GET /v1/traces?status=broken (later requests)" "$later"
printf '%-52s %s\n' "GET /v1/traces/{id}" "$(t_curl '/v1/traces/tr_0000000000000010')"
printf '%-52s %s\n' "GET /v1/traces/verify" "$(t_curl '/v1/traces/verify')"
printf '%-52s %s\n' "  baseline: cairn trace KB verify" "$(t_cli "$BIN" trace "$T/kb" verify)"
printf '%-52s %s\n' "GET /v1/traces/export" "$(t_curl '/v1/traces/export')"
printf '%-52s %s\n' "  baseline: cairn trace KB export" "$(t_cli "$BIN" trace "$T/kb" export)"
# one more trace, as an ask appends it: the next filtered request hashes it alone
/usr/bin/python3 - "$T/kb/cairn.db" <<'EOF'
import hashlib, sqlite3, sys
db = sqlite3.connect(sys.argv[1])
seq, json0, prev = db.execute("SELECT seq, json, hash FROM traces ORDER BY seq DESC LIMIT 1").fetchone()
j = json0.replace('"trace_id":"tr_', '"trace_id":"tr_new', 1)
db.execute("INSERT INTO traces(id, created_at, caller, question, json, prev_hash, hash)"
           " VALUES (?,?,?,?,?,?,?)", ("tr_new%d" % seq, "2026-11-30T23:59:00Z", "cli", "one more?",
                                       j, prev, hashlib.sha256((prev + j).encode()).hexdigest()))
db.commit()
EOF
printf '%-52s %s\n' "GET /v1/traces?status=broken (after 1 new trace)" "$(t_one '/v1/traces?status=broken')"
if [ -n "${CAIRN_BASE_BIN:-}" ]; then
  "$CAIRN_BASE_BIN" serve "$T/kb" --listen 127.0.0.1:0 --threads 2 >"$T/blog" 2>&1 &
  BPID=$!
  for _ in $(seq 600); do grep -q 'http://' "$T/blog" && break; sleep 0.1; done
  BU=$(grep -o 'http://127.0.0.1:[0-9]*' "$T/blog")
  base=$(for _ in 1 2 3 4 5; do curl -s -o /dev/null -w '%{time_total}\n' "$BU/v1/traces?status=broken"; done | med)
  printf '%-52s %s\n' "  baseline ($CAIRN_BASE_BIN): status=broken" "$base"
  python3 -c "import sys; b, l = float(sys.argv[1]), float(sys.argv[2]); print('status=broken, later requests: %.1fx faster than the baseline (%.4f s vs %.4f s)' % (b / max(l, 1e-6), l, b))" "$base" "$later"
fi
