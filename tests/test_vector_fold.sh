#!/usr/bin/env bash
# test_vector_fold.sh — the HNSW index's delta is kept short, because every
# open replays its adds as HNSW inserts:
#  - one-shot writers (`cairn ingest`) append a record while the delta holds
#    at most vectors.delta_max_adds adds, and write the index whole (the
#    delta removed) past it;
#  - `cairn optimize --if-needed` writes the index whole only past that
#    limit, `cairn optimize` whenever the delta holds adds, and says so;
#  - answers (hybrid and vector searches) are the same before and after,
#    and from two opens of the same delta (the replay builds one graph);
#    `cairn check` passes; a bad setting gets a clear error.
set -u
BIN="${CAIRN_BIN:?}"
. "$CAIRN_SRC/tests/lib.sh"
T="${CAIRN_TMP:-/tmp}/vector_fold.$$"; rm -rf "$T"; mkdir -p "$T"
trap 'rm -rf "$T"' EXIT
KB="$T/kb"; D="$KB/vectors.faiss.delta"
"$BIN" init "$KB" >/dev/null || { echo "init failed"; exit 1; }
cat > "$KB/cairn.json" <<'JSON'
{"format": 1, "chunk": {"target_tokens": 300, "overlap_tokens": 0},
 "vectors": {"hnsw_threshold": 60, "delta_max_adds": 25}}
JSON
batch() {   # batch NAME COUNT: a directory of COUNT one-chunk documents
  mkdir -p "$T/$1"
  for i in $(seq "$2"); do
    echo "Record $1-$i: the harbour crane $((i % 7)) lifted cargo $((i * 13 % 17)) at dawn." > "$T/$1/$i.txt"
  done
}
batch base 80; batch a 10; batch b 10; batch c 10; batch d 30
"$BIN" ingest "$KB" "$T/base" >/dev/null 2>&1 || bad "ingest base"
[ ! -e "$D" ] && ok || bad "the first build left a delta"
"$BIN" ingest "$KB" "$T/a" >/dev/null 2>&1 && "$BIN" ingest "$KB" "$T/b" >/dev/null 2>&1 || bad "ingest a, b"
[ -s "$D" ] && ok || bad "20 adds (limit 25) should be a delta"
q() { for s in "crane cargo dawn" "harbour crane 3" "lifted cargo 11"; do
        "$BIN" search "$KB" "$s" -k 8; "$BIN" search "$KB" "$s" -k 8 --mode vector; done 2>&1; }
q > "$T/s1"; q > "$T/s2"
grep -q "chunk" "$T/s1" && cmp -s "$T/s1" "$T/s2" && ok || bad "two opens of one delta answer differently"
expect 0 '' -- "$BIN" optimize "$KB" --if-needed
[ -s "$D" ] && ok || bad "optimize --if-needed folded a delta within the limit"
"$BIN" ingest "$KB" "$T/c" >/dev/null 2>&1 || bad "ingest c"
[ ! -e "$D" ] && ok || bad "30 adds (limit 25): the index should have been written whole"
q > "$T/s3"; "$BIN" check "$KB" >/dev/null 2>&1 && ok || bad "check after the fold"
"$BIN" ingest "$KB" "$T/d" >/dev/null 2>&1 || bad "ingest d"   # 30 adds at once: whole again
[ ! -e "$D" ] && ok || bad "a 30-add catch-up should write the index whole"
# a delta within the limit, then a full optimize writes it in
sed -i 's/"delta_max_adds": 25/"delta_max_adds": 1000/' "$KB/cairn.json"
batch e 12; "$BIN" ingest "$KB" "$T/e" >/dev/null 2>&1 || bad "ingest e"
[ -s "$D" ] && ok || bad "12 adds (limit 1000) should be a delta"
q > "$T/s4"
expect 0 'vector index: 12 added vectors of the delta written into it' -- "$BIN" optimize "$KB"
[ ! -e "$D" ] && ok || bad "optimize left the delta"
q > "$T/s5"
cmp -s "$T/s4" "$T/s5" && ok || bad "answers changed when the delta was written in: $(diff "$T/s4" "$T/s5" | head -4)"
"$BIN" check "$KB" >/dev/null 2>&1 && ok || bad "check after optimize: $("$BIN" check "$KB" 2>&1 | grep FAIL)"
sed -i 's/"delta_max_adds": 1000/"delta_max_adds": -1/' "$KB/cairn.json"
batch f 2
expect 1 'vectors.delta_max_adds must be 0 \(no limit\) to 100000000 \(got -1\)' -- "$BIN" ingest "$KB" "$T/f"
echo "pass=$pass fail=$fail"
[ "$fail" = 0 ]
