#!/usr/bin/env bash
# test_search_walk_settings.sh — the HNSW walk's search settings on a small
# KB forced to HNSW (vectors.hnsw_threshold 1): at the default efSearch a
# chunk's own text, searched in vector mode, finds that chunk first (the
# exact nearest neighbour: inner product 1) for every chunk sampled, and
# hybrid search answers; at efSearch 1 (the least) a k = 10 search still
# gets 10 hits (the walk keeps max(efSearch, k)); a setting out of range
# (efSearch 0 or 5000, M 3, efConstruction 0, threshold 0) makes the
# search fail with a message naming the setting and its range, not a crash
# or an answer from the wrong settings.
set -u
BIN="${CAIRN_BIN:?}"; SRC="${CAIRN_SRC:?}"
T="${CAIRN_TMP:-/tmp}/walkset.$$"; rm -rf "$T"; mkdir -p "$T"; trap 'rm -rf "$T"' EXIT
. "$(dirname "$0")/lib.sh"
PY=/usr/bin/python3

set_kb() {  # set_kb SECTION KEY VALUE: writes one setting into cairn.json
  $PY - "$KB/cairn.json" "$1" "$2" "$3" <<'PY'
import json, sys
p, sec, key, val = sys.argv[1:]
s = json.load(open(p))
s.setdefault(sec, {})[key] = int(val)
json.dump(s, open(p, "w"))
PY
}

KB="$T/kb"
"$BIN" init "$KB" >/dev/null || bad "init"
set_kb vectors hnsw_threshold 1
(cd "$SRC" && "$BIN" ingest "$KB" datasets/corpus >/dev/null) || bad "ingest"
"$BIN" check "$KB" >/dev/null 2>&1 || bad "check after ingest"

# chunks whose text is unique: each one's own text must come back first
ids=$($PY - "$KB/cairn.db" <<'PY'
import sqlite3, sys
db = sqlite3.connect("file:%s?mode=ro" % sys.argv[1], uri=True)
print(" ".join(str(r[0]) for r in db.execute(
    "SELECT min(id) FROM chunks GROUP BY text HAVING count(*) = 1 ORDER BY min(id)")))
PY
)
n=$(wc -w <<<"$ids")
[ "$n" -ge 20 ] && ok || bad "only $n unique chunks read back from the catalog"
first='import json,sys; h=json.load(sys.stdin)["hits"]; print(h[0]["chunk"] if h else -1)'
miss=0; tried=0
for id in $ids; do
  tried=$((tried + 1)); [ $((tried % 3)) = 0 ] || continue   # a third of them: time
  $PY - "$KB/cairn.db" "$id" > "$T/q" <<'PY'
import sqlite3, sys
db = sqlite3.connect("file:%s?mode=ro" % sys.argv[1], uri=True)
sys.stdout.write(db.execute("SELECT text FROM chunks WHERE id = ?", (int(sys.argv[2]),)).fetchone()[0])
PY
  got=$("$BIN" search "$KB" "$(cat "$T/q")" --mode vector -k 5 --json | $PY -c "$first")
  [ "$got" = "$id" ] || { miss=$((miss + 1)); echo "chunk $id: vector search of its own text gave $got first" >&2; }
done
[ "$miss" = 0 ] && ok || bad "$miss chunks not their own nearest neighbour at the default efSearch"
cnt='import json,sys; print(len(json.load(sys.stdin)["hits"]))'
[ "$("$BIN" search "$KB" "battery factory director" -k 10 --json | $PY -c "$cnt")" = 10 ] && ok ||
  bad "hybrid search at the default settings: not 10 hits"

set_kb vectors hnsw_ef_search 1
[ "$("$BIN" search "$KB" "battery factory director" --mode vector -k 10 --json | $PY -c "$cnt")" = 10 ] && ok ||
  bad "efSearch 1, k 10: not 10 hits"

for bad_setting in "hnsw_ef_search 0 1..4096" "hnsw_ef_search 5000 1..4096" "hnsw_m 3 4..256" \
                   "hnsw_ef_construction 0 1..4096" "hnsw_threshold 0 at.least.1"; do
  set -- $bad_setting
  set_kb vectors "$1" "$2"
  expect 1 "vectors\.$1 = $2 is out of range.*$3" -- "$BIN" search "$KB" "battery factory" --mode vector
  expect 1 "vectors\.$1 = $2 is out of range" -- "$BIN" search "$KB" "battery factory"
  case "$1" in
    hnsw_ef_search) set_kb vectors "$1" 128 ;;
    hnsw_m) set_kb vectors "$1" 32 ;;
    hnsw_ef_construction) set_kb vectors "$1" 40 ;;
    hnsw_threshold) set_kb vectors "$1" 1 ;;
  esac
done
[ "$("$BIN" search "$KB" "battery factory director" --mode vector -k 10 --json | $PY -c "$cnt")" = 10 ] && ok ||
  bad "settings put back: not 10 hits"

echo "test_search_walk_settings: $pass passed, $fail failed"
[ "$fail" = 0 ]
