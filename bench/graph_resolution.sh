#!/usr/bin/env bash
# graph_resolution.sh — precision of entity resolution on datasets/corpus:
# ingests it into a fresh KB, lists every merge recorded (merges table) and
# scores it against the hand judgements in datasets/eval/graph_merges.jsonl
# (kept entity label, merged name, reason -> correct or not).  Merges with
# no judgement are listed, so that new ones get judged.
# Usage: bench/graph_resolution.sh BUILD_DIR
set -eu
BIN="${1:?build dir}/cairn"
SRC="$(cd "$(dirname "$0")/.." && pwd)"
T="$(mktemp -d)"; trap 'rm -rf "$T"' EXIT
"$BIN" init "$T/kb" >/dev/null
"$BIN" ingest "$T/kb" "$SRC/datasets/corpus" >/dev/null
sqlite3 -json "$T/kb/cairn.db" "SELECT e.label AS kept, m.alias, m.reason FROM merges m
  JOIN entities e ON e.id = m.kept_id ORDER BY m.id" > "$T/merges.json"
/usr/bin/python3 - "$T/merges.json" "$SRC/datasets/eval/graph_merges.jsonl" <<'PY'
import json, sys, collections
got = json.load(open(sys.argv[1])) if open(sys.argv[1]).read().strip() else []
judged = {(j['kept'], j['alias'], j['reason']): j for j in map(json.loads, open(sys.argv[2]))}
by = collections.defaultdict(lambda: [0, 0])
unjudged = []
for m in got:
    j = judged.get((m['kept'], m['alias'], m['reason']))
    if not j:
        unjudged.append(m); continue
    by[m['reason']][0] += j['correct']; by[m['reason']][1] += 1
ok = sum(v[0] for v in by.values()); n = sum(v[1] for v in by.values())
print(f"resolution: {len(got)} merges on datasets/corpus, {n} judged: precision {100*ok/max(n,1):.1f}% ({ok}/{n})")
for r, (c, t) in sorted(by.items()):
    print(f"  {r:<11} {c}/{t} correct")
for m in got:
    j = judged.get((m['kept'], m['alias'], m['reason']))
    if j and not j['correct']:
        print(f"  wrong: \"{m['alias']}\" into \"{m['kept']}\" ({m['reason']}): {j['note']}")
for m in unjudged:
    print(f"  not judged yet: \"{m['alias']}\" into \"{m['kept']}\" ({m['reason']})")
PY
