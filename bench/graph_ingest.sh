#!/usr/bin/env bash
# graph_ingest.sh — ingestion with extraction (graph.extractor rules) vs
# without (none), same input, same run: datasets/corpus and a generated
# corpus of MB megabytes (default 50); and the extractor alone on the same
# files (bench_extract DIR: MB/s).  Usage: bench/graph_ingest.sh BUILD_DIR [MB]
set -eu
BIN="${1:?build dir}/cairn"; MB="${2:-50}"; EXT="$1/bench/bench_extract"
SRC="$(cd "$(dirname "$0")/.." && pwd)"
T="$(mktemp -d)"; trap 'rm -rf "$T"' EXIT
/usr/bin/python3 - "$T/gen" "$MB" <<'PY'
import os, random, sys
out, mb = sys.argv[1], int(sys.argv[2]); os.makedirs(out)
r = random.Random(7)
first = "Ana Bo Carla Dmitri Elif Farid Greta Hugo Ines Jonas Kira Luca".split()
last = "Ruiz Lind Moreau Novak Okafor Petrov Quist Rossi Sato Tanaka".split()
orgs = [a + " " + b for a in "Norvale Kestrel Brightwater Corvane Quillon Aurel Tidemark Halvard".split()
        for b in "Systems Avionics Sensors Logistics Labs Insurance Group".split()]
suf = ["", " GmbH", " AB", " Ltd", " Inc"]
places = "Rotterdam Oslo Lyon Porto Gdansk Turin Ghent Bergen".split()
verbs = "acquired bought supplied hired sued partnered with".split(" ")
def sent():
    p = r.choice(first) + " " + r.choice(last); o = r.choice(orgs) + r.choice(suf); o2 = r.choice(orgs)
    k = r.randrange(5)
    if k == 0: return f"{p}, CFO of {o}, visited {r.choice(places)} on 3 March {r.randrange(1990, 2025)}."
    if k == 1: return f"{o} {r.choice(verbs)} {o2} for EUR {r.randrange(1, 900)} million."
    if k == 2: return f"{o2} is a {r.choice(['shipping', 'sensor', 'software'])} company based in {r.choice(places)}."
    if k == 3: return f"{o}'s CEO {p} said revenue grew {r.randrange(1, 40)}% in {r.randrange(2000, 2025)}."
    return f"Products such as the PX-{r.randrange(1000, 9999)}-v{r.randrange(1, 4)} ship from {r.choice(places)}."
total, i = 0, 0
while total < mb * 1000000:
    text = "\n\n".join(" ".join(sent() for _ in range(6)) for _ in range(40)) + "\n"
    with open(f"{out}/d{i:05d}.txt", "w") as f: f.write(text)
    total += len(text); i += 1
PY
run() {   # run NAME DIR EXTRACTOR -> seconds
  rm -rf "$T/kb"; "$BIN" init "$T/kb" >/dev/null
  sed -i "s/\"format\": 1,.*/\"format\": 1, \"graph\": {\"extractor\": \"$3\"},/" "$T/kb/cairn.json"
  local t0 t1; t0=$(date +%s.%N); "$BIN" ingest "$T/kb" "$2" >/dev/null; t1=$(date +%s.%N)
  echo "$t1 - $t0" | bc
}
for set in "corpus:$SRC/datasets/corpus" "generated-${MB}MB:$T/gen"; do
  name=${set%%:*}; dir=${set#*:}
  mb=$(find "$dir" -type f -printf '%s\n' | awk '{s += $1} END {printf "%.1f", s / 1e6}')
  a=$(run "$name" "$dir" none); b=$(run "$name" "$dir" rules)
  ents=$(sqlite3 "$T/kb/cairn.db" "select (select count(*) from entities)||' entities, '||(select count(*) from mentions)||' mentions, '||(select count(*) from relations)||' relations'")
  printf '%-18s %5s MB  none %6.2f s  rules %6.2f s  ratio %.2fx  (%s)\n' "$name" "$mb" "$a" "$b" "$(echo "$b / $a" | bc -l)" "$ents"
  if [ -x "$EXT" ]; then printf '%-18s extractor alone: ' "$name"; "$EXT" "$dir"; fi
done
