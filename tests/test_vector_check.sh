#!/usr/bin/env bash
# test_vector_check.sh — `cairn check` on the vector index's delta: a KB
# caught up by a second ingest (a record appended to vectors.faiss.delta)
# checks ok; with a byte of that record flipped it fails and names the
# damaged delta (not only "behind"); the next ingest repairs it.
set -u
BIN="${CAIRN_BIN:?}"
. "$CAIRN_SRC/tests/lib.sh"
T="${CAIRN_TMP:-/tmp}/vector_check.$$"; rm -rf "$T"; mkdir -p "$T/d1" "$T/d2"
trap 'rm -rf "$T"' EXIT
for i in $(seq 20); do
  echo "Document $i about harbours and cranes number $i." > "$T/d1/a$i.txt"
  echo "Second batch $i: tides and storms $i." > "$T/d2/b$i.txt"
done
"$BIN" init "$T/kb" >/dev/null && "$BIN" ingest "$T/kb" "$T/d1" >/dev/null 2>&1 &&
  "$BIN" ingest "$T/kb" "$T/d2" >/dev/null 2>&1 || { echo "setup failed"; exit 1; }
D="$T/kb/vectors.faiss.delta"
[ -s "$D" ] && ok || bad "the second ingest wrote no delta"
expect 0 'ok +vector index \(40 vectors' -- "$BIN" check "$T/kb"
python3 - "$D" <<'PY'
import os, sys
p = sys.argv[1]; at = os.path.getsize(p) - 100
with open(p, "r+b") as f:
    f.seek(at); c = f.read(1); f.seek(at); f.write(bytes([c[0] ^ 0x5a]))
PY
expect 1 'FAIL +vector index: vectors.faiss.delta is damaged at byte [0-9]+ of [0-9]+' -- "$BIN" check "$T/kb"
"$BIN" ingest "$T/kb" "$T/d2" >/dev/null 2>&1 || bad "ingest after the damage failed"
expect 0 'ok +vector index \(40 vectors' -- "$BIN" check "$T/kb"
echo "pass=$pass fail=$fail"
[ "$fail" = 0 ]
