#!/usr/bin/env bash
# graph_ingest.sh — ingestion with extraction (graph.extractor rules) vs
# without (none), same input, same run: datasets/corpus and a generated
# corpus of MB megabytes (default 50); and the extractor alone on the same
# files (bench_extract DIR: MB/s).  Rules runs are made twice: without the
# Redland store (graph.store none) and with it (redland, the default: the
# store sync after the ingestion's commit is part of the time).  Each of
# the three runs is repeated ROUNDS times, alternately; medians are printed.
# With BASE=OTHER_BUILD_DIR the same runs are made with OTHER_BUILD_DIR/cairn
# too, interleaved with this build's (a same-run baseline), and both are
# printed ("base" and "new").  SKIP_GEN=1 skips the generated corpus.
# GEN_ONLY=DIR writes the generated corpus of MB megabytes to DIR (which
# must not exist) and stops (for instruction counts of one ingestion).
# Usage: [BASE=DIR] bench/graph_ingest.sh BUILD_DIR [MB] [ROUNDS]
set -eu
BIN="${1:?build dir}/cairn"; MB="${2:-50}"; ROUNDS="${3:-1}"; EXT="$1/bench/bench_extract"
NEW="$BIN"; BASEBIN="${BASE:+$BASE/cairn}"
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
if [ -n "${GEN_ONLY:-}" ]; then mv "$T/gen" "$GEN_ONLY"; echo "$GEN_ONLY: $(ls "$GEN_ONLY" | wc -l) files"; exit 0; fi
run() {   # run DIR EXTRACTOR STORE -> "wall cpu" seconds
  rm -rf "$T/kb"; "$BIN" init "$T/kb" >/dev/null
  sed -i "s/\"format\": 1,.*/\"format\": 1, \"graph\": {\"extractor\": \"$2\", \"store\": \"$3\"},/" "$T/kb/cairn.json"
  /usr/bin/time -f "%e %U %S" -o "$T/time" "$BIN" ingest "$T/kb" "$1" >/dev/null
  awk '{printf "%.3f %.3f\n", $1, $2 + $3}' "$T/time"
}
med() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
echo "load average: $(cut -d' ' -f1-3 /proc/loadavg); medians of $ROUNDS"
sets="corpus:$SRC/datasets/corpus"
[ -n "${SKIP_GEN:-}" ] || sets="$sets generated-${MB}MB:$T/gen"
for set in $sets; do
  name=${set%%:*}; dir=${set#*:}
  mb=$(find "$dir" -type f -printf '%s\n' | awk '{s += $1} END {printf "%.1f", s / 1e6}')
  for v in new ${BASEBIN:+base}; do : > "$T/a.$v"; : > "$T/b.$v"; : > "$T/c.$v"; done
  for i in $(seq "$ROUNDS"); do
    for k in "a none none" "b rules none" "c rules redland"; do
      set -- $k
      for v in ${BASEBIN:+base} new; do
        if [ $v = base ]; then BIN="$BASEBIN"; else BIN="$NEW"; fi
        run "$dir" "$2" "$3" >> "$T/$1.$v"
      done
    done
  done
  ents=$(sqlite3 "$T/kb/cairn.db" "select (select count(*) from entities)||' entities, '||(select count(*) from mentions)||' mentions, '||(select count(*) from relations)||' relations'")
  printf '%-18s %5s MB  (%s)\n' "$name" "$mb" "$ents"
  for v in ${BASEBIN:+base} new; do
    for f in a b c; do
      eval "${f}w=\$(cut -d' ' -f1 \"\$T/\$f.\$v\" | med); ${f}c=\$(cut -d' ' -f2 \"\$T/\$f.\$v\" | med)"
    done
    printf '%-18s %-4s none %.2f s (cpu %.2f)  rules %.2f s (cpu %.2f) ratio %.2fx (cpu %.2fx)  rules+redland %.2f s (cpu %.2f) ratio %.2fx (cpu %.2fx)\n' \
      "$name" "$v" "$aw" "$ac" "$bw" "$bc" "$(echo "$bw / $aw" | bc -l)" "$(echo "$bc / $ac" | bc -l)" \
      "$cw" "$cc" "$(echo "$cw / $aw" | bc -l)" "$(echo "$cc / $ac" | bc -l)"
  done
  if [ -x "$EXT" ]; then printf '%-18s extractor alone: ' "$name"; "$EXT" "$dir"; fi
done
