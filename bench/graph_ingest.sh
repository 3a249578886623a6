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
# Real text, from SHARED (default ../shared beside the source tree), one
# file per document ("title", blank line, text): musique (the 1,890
# MuSiQue-100 Wikipedia passages), cisi (1,460 CISI abstracts: .T and .W,
# as bench/eval_ir.py reads them), medline (1,033 MEDLINE abstracts, .W);
# each missing one is skipped with a message; SKIP_REAL=1 skips all three.
# SETS="corpus musique ..." runs only the named inputs (names as printed;
# "generated" for the generated corpus).  For every input the catalog's
# mentions and relations per KB (1,000 bytes) of text are printed, from
# the last rules + Redland ingestion.
# GEN_ONLY=DIR writes the generated corpus of MB megabytes to DIR (which
# must not exist) and stops (for instruction counts of one ingestion);
# REAL_ONLY=DIR writes the real-text inputs to DIR/NAME (DIR must not
# exist) and stops.
# Usage: [BASE=DIR] bench/graph_ingest.sh BUILD_DIR [MB] [ROUNDS]
set -eu
BIN="${1:?build dir}/cairn"; MB="${2:-50}"; ROUNDS="${3:-1}"; EXT="$1/bench/bench_extract"
NEW="$BIN"; BASEBIN="${BASE:+$BASE/cairn}"
SRC="$(cd "$(dirname "$0")/.." && pwd)"; SHARED="${SHARED:-$SRC/../shared}"
T="$(mktemp -d)"; trap 'rm -rf "$T"' EXIT
real() {   # real OUTDIR: the real-text inputs, one file per document, in OUTDIR/NAME
  /usr/bin/python3 - "$1" "$SHARED/data" <<'PY'
import json, os, re, sys
out, data = sys.argv[1], sys.argv[2]
os.makedirs(out)
def smart(path):   # SMART records as bench/eval_ir.py reads them: {id: {field: text}}
    recs, cur, field = {}, None, None
    with open(path, encoding="latin-1") as f:
        for line in f:
            m = re.match(r"^\.I\s+(\d+)", line)
            if m: cur = m.group(1); recs[cur] = {}; field = None; continue
            m = re.match(r"^\.([A-Z])\s*$", line)
            if m and cur is not None: field = m.group(1); recs[cur].setdefault(field, ""); continue
            if cur is not None and field: recs[cur][field] += line
    return recs
def write(name, docs):   # docs: [(title, text)]
    os.makedirs(f"{out}/{name}")
    for i, (title, text) in enumerate(docs):
        with open(f"{out}/{name}/{name[0]}{i + 1:05d}.txt", "w") as f:
            body = "\n".join(l.rstrip() for l in text.strip().split("\n"))   # MEDLINE pads lines to 72 columns
            f.write((title.strip() + "\n\n" + body).strip() + "\n")
src = {"musique": f"{data}/multihop/musique-100/musique_train_100_corpus.json",
       "cisi": f"{data}/ir/cisi/CISI.ALL", "medline": f"{data}/ir/medline/MED.ALL"}
for name, path in src.items():
    if not os.path.isfile(path):
        print(f"graph_ingest.sh: {path} is absent: {name} skipped", file=sys.stderr); continue
    if name == "musique":
        write(name, [(p["title"], p["text"]) for p in json.load(open(path))])
    else:
        write(name, [(r.get("T", ""), r.get("W", "")) for r in smart(path).values()])
PY
}
if [ -n "${REAL_ONLY:-}" ]; then real "$REAL_ONLY"; ls "$REAL_ONLY"; exit 0; fi
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
  /usr/bin/time -f "%e %U %S" -o "$T/time" "$BIN" ingest "$T/kb" "$1" >/dev/null 2>"$T/err"
  awk '{printf "%.3f %.3f\n", $1, $2 + $3}' "$T/time"
}
med() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
echo "load average: $(cut -d' ' -f1-3 /proc/loadavg); medians of $ROUNDS"
sets="corpus:$SRC/datasets/corpus"
if [ -z "${SKIP_REAL:-}" ]; then
  real "$T/real"
  for n in musique cisi medline; do [ ! -d "$T/real/$n" ] || sets="$sets $n:$T/real/$n"; done
fi
[ -n "${SKIP_GEN:-}" ] || sets="$sets generated-${MB}MB:$T/gen"
for set in $sets; do
  name=${set%%:*}; dir=${set#*:}
  if [ -n "${SETS:-}" ]; then
    case " $SETS " in *" ${name%%-*} "*) ;; *) continue ;; esac
  fi
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
  bytes=$(find "$dir" -type f -printf '%s\n' | awk '{s += $1} END {print s}')
  ents=$(sqlite3 "$T/kb/cairn.db" "select (select count(*) from entities)||' entities, '||(select count(*) from mentions)||' mentions, '||(select count(*) from relations)||' relations; '||printf('%.1f', (select count(*) from mentions) * 1000.0 / $bytes)||' mentions and '||printf('%.1f', (select count(*) from relations) * 1000.0 / $bytes)||' relations per KB'")
  printf '%-18s %5s MB, %s files  (%s)\n' "$name" "$mb" "$(find "$dir" -type f | wc -l)" "$ents"
  for v in ${BASEBIN:+base} new; do
    for f in a b c; do
      eval "${f}w=\$(cut -d' ' -f1 \"\$T/\$f.\$v\" | med); ${f}c=\$(cut -d' ' -f2 \"\$T/\$f.\$v\" | med)"
    done
    printf '%-18s %-4s none %.2f s (cpu %.2f)  rules %.2f s (cpu %.2f) ratio %.2fx (cpu %.2fx)  rules+redland %.2f s (cpu %.2f) ratio %.2fx (cpu %.2fx)\n' \
      "$name" "$v" "$aw" "$ac" "$bw" "$bc" "$(echo "$bw / $aw" | bc -l)" "$(echo "$bc / $ac" | bc -l)" \
      "$cw" "$cc" "$(echo "$cw / $aw" | bc -l)" "$(echo "$cc / $ac" | bc -l)"
  done
  [ ! -s "$T/err" ] || sed "s/^/$name (last run): /" "$T/err"   # e.g. chunks that hit an extraction limit
  if [ -x "$EXT" ]; then printf '%-18s extractor alone: ' "$name"; "$EXT" "$dir"; fi
done
