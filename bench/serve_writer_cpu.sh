#!/usr/bin/env bash
# serve_writer_cpu.sh — what keeping the vector index current costs `cairn
# serve` under a writer (issue 7): one writer POSTs small documents through
# the API, one after another, for SECS seconds, with no searches; prints the
# documents that got in, the server's CPU after its startup load (total and
# per document), its peak RSS, and per background event (CAIRN_SERVE_TIMING:
# catch-ups, copies, handoffs, reader loads and swaps) the count and CPU,
# and how many of the copies for the readers took only the tail.
#
# Usage: bench/serve_writer_cpu.sh BUILD_DIR KB [SECS]
#   KB is written to: use a fresh copy (cp -a) per run, e.g. of
#   /work/kb-final/snap after `cairn optimize KB --if-needed`.
set -u
BIN="${1:?usage: serve_writer_cpu.sh BUILD_DIR KB [SECS]}/cairn"; KB="${2:?KB}"; SECS="${3:-150}"
T=$(mktemp -d); SPID=""; WPID=""
cleanup() { [ -n "$WPID" ] && kill "$WPID" 2>/dev/null; [ -n "$SPID" ] && kill -TERM "$SPID" 2>/dev/null; wait 2>/dev/null; rm -rf "$T"; }
trap cleanup EXIT
CAIRN_SERVE_TIMING="$T/t.log" "$BIN" serve "$KB" --listen 127.0.0.1:0 --threads 2 > "$T/serve.log" 2>&1 &
SPID=$!
for _ in $(seq 1200); do grep -q 'http://' "$T/serve.log" && break; sleep 0.1; done   # the index loads first
U=$(grep -o 'http://127.0.0.1:[0-9]*' "$T/serve.log")
[ -n "$U" ] || { cat "$T/serve.log"; exit 1; }
ticks() { awk '{print $14 + $15}' "/proc/$SPID/stat"; }
c0=$(ticks); RUN=$(date +%s)
( i=0; while :; do i=$((i+1))
    curl -s -o /dev/null -H 'Content-Type: application/json' \
      -d "{\"uri\":\"w/$RUN-$i.txt\",\"text\":\"Load document $i about w$((i % 50000)) and w$(( (i * 31) % 50000)).\"}" "$U/v1/documents"
  done ) &
WPID=$!
sleep "$SECS"
kill "$WPID"; wait "$WPID" 2>/dev/null; WPID=""
c1=$(ticks); hwm=$(awk '/VmHWM/ {print $2}' "/proc/$SPID/status")
kill -TERM "$SPID"; wait "$SPID"; SPID=""
n=$(sqlite3 "$KB/cairn.db" "SELECT count(*) FROM documents WHERE uri LIKE 'w/$RUN-%' AND deleted = 0")
ms=$(( (c1 - c0) * 1000 / $(getconf CLK_TCK) ))
echo "documents in: $n in $SECS s; server CPU after startup: $ms ms ($(awk -v m=$ms -v n=$n 'BEGIN { printf "%.1f", n ? m / n : 0 }') ms per document); peak RSS $hwm kB; load average $(cut -d' ' -f1-3 /proc/loadavg)"
/usr/bin/python3 - "$T/t.log" <<'PY'
import collections, statistics, sys
ev = collections.defaultdict(list)
kept = []   # vectors each copy into an older copy kept (the tail copy; 0: whole)
for line in open(sys.argv[1], errors="replace"):
    p = line.split()
    if len(p) < 5 or p[0] not in ("V", "W") or "cpu" not in p: continue
    k = p[0] + " " + p[3] + (" into" + p[6] if p[0] == "W" and p[3] == "clone" else "")
    ev[k].append(float(p[p.index("cpu") + 1]))
    if "kept" in p: kept.append(int(p[p.index("kept") + 1]))
print("| event | count | CPU ms: median | min | max | sum |")
print("|---|---|---|---|---|---|")
for k, c in sorted(ev.items()):
    print("| %s | %d | %.1f | %.1f | %.1f | %.1f |" % (k, len(c), statistics.median(c), min(c), max(c), sum(c)))
if kept:
    print("copies for the readers that took the tail only: %d of %d (vectors kept: median %d)" % (
        sum(1 for v in kept if v > 0), len(kept), statistics.median(kept)))
PY
