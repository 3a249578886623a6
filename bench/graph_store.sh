#!/usr/bin/env bash
# graph_store.sh — what keeping the Redland store costs: ingestion with
# graph.store "redland" vs "none" (both with the rules extractor), run
# alternately ROUNDS times on the same input, plus a full
# `cairn graph rebuild` (the store derived from the catalog alone), and
# SPARQL latency (bench_sparql) on the result.  Inputs: datasets/corpus and
# a generated corpus of MB megabytes (default 2; see graph_ingest.sh).
# Usage: [ASSERTIONS=compact|all|confirmed|none] bench/graph_store.sh BUILD_DIR [MB] [ROUNDS]
# (ASSERTIONS sets graph.store_assertions for the redland runs; default compact)
set -eu
B="${1:?build dir}"; BIN="$B/cairn"; MB="${2:-2}"; ROUNDS="${3:-3}"
SRC="$(cd "$(dirname "$0")/.." && pwd)"
T="$(mktemp -d)"; trap 'rm -rf "$T"' EXIT
/usr/bin/python3 - "$T/gen" "$MB" <<'PY'
import os, random, sys
out, mb = sys.argv[1], float(sys.argv[2]); os.makedirs(out)
r = random.Random(7)
first = "Ana Bo Carla Dmitri Elif Farid Greta Hugo Ines Jonas Kira Luca".split()
last = "Ruiz Lind Moreau Novak Okafor Petrov Quist Rossi Sato Tanaka".split()
orgs = [a + " " + b for a in "Norvale Kestrel Brightwater Corvane Quillon Aurel Tidemark Halvard".split()
        for b in "Systems Avionics Sensors Logistics Labs Insurance Group".split()]
places = "Rotterdam Oslo Lyon Porto Gdansk Turin Ghent Bergen".split()
def sent():
    p = r.choice(first) + " " + r.choice(last); o = r.choice(orgs); o2 = r.choice(orgs)
    k = r.randrange(4)
    if k == 0: return f"{p}, CFO of {o}, visited {r.choice(places)} last spring."
    if k == 1: return f"{o} acquired {o2} after a long review."
    if k == 2: return f"{o2} is a software company based in {r.choice(places)}."
    return f"The team met in {r.choice(places)} to discuss the plan with partners."
total, i = 0, 0
while total < mb * 1000000:
    text = "\n\n".join(" ".join(sent() for _ in range(6)) for _ in range(40)) + "\n"
    with open(f"{out}/d{i:05d}.txt", "w") as f: f.write(text)
    total += len(text); i += 1
PY
# run DIR STORE -> "wall cpu" seconds of one ingest into a fresh KB ($T/kb)
run() {
  rm -rf "$T/kb"; "$BIN" init "$T/kb" >/dev/null
  sed -i "s/\"format\": 1,/\"format\": 1, \"graph\": {\"store\": \"$2\", \"store_assertions\": \"${ASSERTIONS:-compact}\"},/" "$T/kb/cairn.json"
  /usr/bin/time -f "%e %U %S" -o "$T/time" "$BIN" ingest "$T/kb" "$1" >/dev/null
  awk '{printf "%.3f %.3f\n", $1, $2 + $3}' "$T/time"
}
med() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
echo "load average: $(cut -d' ' -f1-3 /proc/loadavg); graph.store_assertions ${ASSERTIONS:-compact}"
for set in "corpus:$SRC/datasets/corpus" "generated-${MB}MB:$T/gen"; do
  name=${set%%:*}; dir=${set#*:}
  : > "$T/none"; : > "$T/rdf"
  for i in $(seq "$ROUNDS"); do run "$dir" none >> "$T/none"; run "$dir" redland >> "$T/rdf"; done
  nw=$(cut -d' ' -f1 "$T/none" | med); nc=$(cut -d' ' -f2 "$T/none" | med)
  rw=$(cut -d' ' -f1 "$T/rdf" | med);  rc=$(cut -d' ' -f2 "$T/rdf" | med)
  rel=$(sqlite3 "$T/kb/cairn.db" "select count(*) from relations")
  /usr/bin/time -f "%e %U %S" -o "$T/time" "$BIN" graph rebuild "$T/kb" > "$T/rebuild"
  rb=$(awk '{printf "%.3f wall, %.3f cpu", $1, $2 + $3}' "$T/time")
  printf '%-16s ingest median of %s: none %.2f s (cpu %.2f)  redland %.2f s (cpu %.2f)  wall ratio %.2fx  cpu ratio %.2fx\n' \
    "$name" "$ROUNDS" "$nw" "$nc" "$rw" "$rc" "$(echo "$rw / $nw" | bc -l)" "$(echo "$rc / $nc" | bc -l)"
  printf '%-16s %s relations; %s; rebuild %s; store %s\n' "$name" "$rel" "$(sed 's/.*: //' "$T/rebuild")" "$rb" "$(du -sh "$T/kb/graph" | cut -f1)"
  "$B/bench/bench_sparql" "$T/kb" 20 | sed "s/^/$name  /"
done
