#!/usr/bin/env bash
# serve_callgrind.sh — instructions per /v1/search request of `cairn serve`
# (callgrind; steadier than time on a loaded machine). Starts the server
# under valgrind with instrumentation off (the index loads at ~1/4 of
# native speed), sends 20 warm-up requests, then counts N requests of
# bench/serve_load.sh's queries on one keep-alive connection, and prints
# Ir per request and an md5 of the answers (equal answers: equal md5).
# Needs: valgrind, python3. Usage:
#   bench/serve_callgrind.sh BIN KB [MODE] [N] [OUTDIR]
#   e.g. bench/serve_callgrind.sh build/cairn /work/kb-hybridload/kb-95000 hybrid 200
set -u
BIN="$1"; KB="$2"; MODE="${3:-hybrid}"; N="${4:-200}"; D="${5:-/tmp/cairn-serve-cg.$$}"
command -v valgrind >/dev/null || { echo "needs valgrind"; exit 2; }
rm -rf "$D"; mkdir -p "$D/cg"
cat > "$D/client.py" <<'PY'
import sys, http.client, json, urllib.parse
u = urllib.parse.urlparse(sys.argv[1]); mode = sys.argv[2]; n = int(sys.argv[3]); start = int(sys.argv[4])
c = http.client.HTTPConnection(u.hostname, u.port, timeout=600)
for i in range(start, start + n):
    q = "w%d w%d" % ((i * 7919) % 50000, (i * 104729) % 50000)
    c.request("POST", "/v1/search", json.dumps({"query": q, "k": 10, "mode": mode}),
              {"Content-Type": "application/json"})
    r = c.getresponse(); b = r.read()
    if r.status != 200: print("status", r.status, b, file=sys.stderr)
    print(b.decode())
PY
valgrind --tool=callgrind --instr-atstart=no --callgrind-out-file="$D/cg/out" \
  "$BIN" serve "$KB" --listen 127.0.0.1:0 --threads 2 > "$D/log" 2>&1 &
VPID=$!
for _ in $(seq 2400); do grep -q 'http://' "$D/log" && break; sleep 0.5; done
U=$(grep -o 'http://127.0.0.1:[0-9]*' "$D/log")
[ -n "$U" ] || { echo "server did not start: $(tail -3 "$D/log")"; kill -KILL $VPID; exit 1; }
python3 "$D/client.py" "$U" "$MODE" 20 100000 >/dev/null
callgrind_control -i on $VPID >/dev/null
python3 "$D/client.py" "$U" "$MODE" "$N" 1 > "$D/answers"
callgrind_control -d $VPID >/dev/null
callgrind_control -i off $VPID >/dev/null
kill -TERM $VPID; wait $VPID 2>/dev/null
f=$(ls -S "$D"/cg/* | head -1)
ir=$(callgrind_annotate "$f" 2>/dev/null | grep -m1 "PROGRAM TOTALS" | awk '{gsub(",","",$1); print $1}')
echo "$BIN $MODE: $ir Ir over $N requests = $((ir / N)) Ir/request; profile $f; answers md5 $(md5sum < "$D/answers" | cut -c1-12)"
