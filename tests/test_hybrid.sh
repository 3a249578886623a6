#!/usr/bin/env bash
# test_hybrid.sh — the vector lane and hybrid search end to end: ingestion
# keeps vectors.faiss in step (adds, replacements, deletions), a damaged or
# missing index is rebuilt, another embedder is refused until reindex,
# RRF with --explain shows both lanes, and bad parameters are clear errors.
set -u
BIN="${CAIRN_BIN:?}"
T="${CAIRN_TMP:-/tmp}/hybrid.$$"; rm -rf "$T"; mkdir -p "$T"; trap 'rm -rf "$T"' EXIT
. "$(dirname "$0")/lib.sh"
KB="$T/kb"; D="$T/docs"; mkdir -p "$D"
"$BIN" init "$KB" >/dev/null
printf 'The harbour crane lifted forty containers before the storm.\n' > "$D/crane.txt"
printf 'Norvale Systems reported quarterly revenue growth of nine percent.\n' > "$D/revenue.txt"
printf 'Firmware 4.2.1 froze the heading value of the PX-9000-v2 controller.\n' > "$D/firmware.txt"
expect 0 "3 vectors" -- "$BIN" ingest "$KB" "$D"
[ -s "$KB/vectors.faiss" ] && ok || bad "vectors.faiss written"
# vector lane alone finds a fuzzy match BM25 cannot (word forms differ)
expect 0 "revenue.txt" -- "$BIN" search "$KB" "revenues" --mode vector -k 1
out=$("$BIN" search "$KB" "revenues" --mode bm25 2>&1)
grep -q "revenue.txt" <<<"$out" && bad "bm25 should not match 'revenues'" || ok
# hybrid: union of the lanes, with each lane's rank in --explain
expect 0 "bm25 rank 1" -- "$BIN" search "$KB" "crane containers" --explain
out=$("$BIN" search "$KB" "crane containers" --json)
grep -q '"lanes":{"bm25":{"rank":1' <<<"$out" && grep -q '"vector":{"rank":' <<<"$out" && ok || bad "json lanes: $out"
# RRF arithmetic on the top hit: score = 1/(60+1) + 1/(60+1) when both lanes rank it first
python3 -c "
import json,sys
h=json.loads(sys.argv[1])['hits'][0]
exp=sum(1.0/(60+l['rank']) for l in h['lanes'].values() if l)
sys.exit(0 if abs(h['score']-exp)<1e-6 else 1)" "$out" && ok || bad "RRF score"
# a replacement and a deletion reach the vector index
printf 'Completely different text about orchards and apples.\n' > "$D/crane.txt"
expect 0 "1 replaced" -- "$BIN" ingest "$KB" "$D/crane.txt"
out=$("$BIN" search "$KB" "harbour crane containers" --mode vector --json)
python3 -c "import json,sys; h=json.loads(sys.argv[1])['hits']; sys.exit(0 if all('harbour' not in x['snippet'] for x in h) else 1)" "$out" && ok || bad "old vectors still found"
expect 0 "removed" -- "$BIN" rm "$KB" "$D/revenue.txt"
rm "$D/revenue.txt"
out=$("$BIN" search "$KB" "revenues" --mode vector --json)
grep -q "revenue.txt" <<<"$out" && bad "deleted doc still in vector lane" || ok
# a truncated index is detected and rebuilt by the next writer
head -c 100 "$KB/vectors.faiss" > "$T/x" && cp "$T/x" "$KB/vectors.faiss"
expect 0 '"note":"vector index' -- "$BIN" search "$KB" "orchards" --json
expect 0 "vector lane unavailable" -- "$BIN" search "$KB" "orchards"
expect 0 "rebuilt" -- "$BIN" ingest "$KB" "$D"
expect 0 "crane.txt" -- "$BIN" search "$KB" "orchards apples" --mode vector -k 1
# another embedder dimension is refused until reindex
python3 - "$KB/cairn.json" <<'PY'
import json,sys; p=sys.argv[1]; s=json.load(open(p)); s["embedder"]={"name":"hash","dim":128}; json.dump(s,open(p,"w"))
PY
expect 1 "reindex" -- "$BIN" ingest "$KB" "$D"
expect 0 "reindexed.*2 vectors" -- "$BIN" reindex "$KB"
expect 0 "crane.txt" -- "$BIN" search "$KB" "orchards apples" --mode vector -k 1
expect 1 "unknown embedder|embedder" -- "$BIN" reindex "$KB" --embedder nosuch
# bad parameters
expect 2 "out of range" -- "$BIN" search "$KB" "x" -k 0
expect 2 "out of range" -- "$BIN" search "$KB" "x" -k -3
expect 2 "out of range" -- "$BIN" search "$KB" "x" -k 99999999
expect 1 "weight|invalid|negative" -- "$BIN" search "$KB" "apples" --weights nan,1
expect 1 "weight|invalid|negative" -- "$BIN" search "$KB" "apples" --weights -1,1
expect 2 "mode" -- "$BIN" search "$KB" "apples" --mode fuzzy
expect 1 "empty query" -- "$BIN" search "$KB" ""
expect 1 "no words" -- "$BIN" search "$KB" "*** ((("
expect 1 "longer than" -- "$BIN" search "$KB" "$(head -c 100000 /dev/zero | tr '\0' a)"
expect 0 "" -- "$BIN" search "$KB" "the of and"
expect 0 "all checks passed" -- "$BIN" check "$KB"
echo "hybrid: $pass passed, $fail failed"
[ $fail = 0 ]
