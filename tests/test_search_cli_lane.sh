#!/usr/bin/env bash
# test_search_cli_lane.sh — `cairn search --mode bm25` ranks as the BM25
# lane does (the lane /v1/search and hybrid search use, common-term pruning
# included): for each query the hits, in order and with their scores, equal
# those of `--explain` (which goes through the searcher); the KB is set so
# that frequent words count as common, and at least one query must rank
# differently from FTS5's plain ranking (--raw), or pruning was never
# exercised and the test would prove nothing. A query whose rarer words
# are in no chunk gets its common words ranked in full; one whose rarer
# word is in 2 chunks gets those 2 first, then the list is filled up to k
# with the rows holding only the common word. Snippets mark the words.
set -u
BIN="${CAIRN_BIN:?}"; SRC="${CAIRN_SRC:?}"
T="${CAIRN_TMP:-/tmp}/searchcli.$$"; rm -rf "$T"; mkdir -p "$T"; trap 'rm -rf "$T"' EXIT
. "$(dirname "$0")/lib.sh"
PY=/usr/bin/python3

KB="$T/kb"
"$BIN" init "$KB" >/dev/null || bad "init"
(cd "$SRC" && "$BIN" ingest "$KB" datasets/corpus >/dev/null) || bad "ingest"
$PY - "$KB/cairn.json" <<'PY'
import json, sys
p = sys.argv[1]; s = json.load(open(p))
s.setdefault("search", {}).update({"common_min": 10, "common_share": 0.05})
json.dump(s, open(p, "w"))
PY
hits='import json,sys; print(" ".join("%d:%.4f" % (h["chunk"], h["score"]) for h in json.load(sys.stdin)["hits"]))'
differ=0
for q in "company Greyhaven" "million recall" "said Quillon" "said acquired" "the company chief" "battery factory Marlow" "director said" \
         "recall safety authority systems eur"; do
  cli=$("$BIN" search "$KB" "$q" --mode bm25 -k 8 --json | $PY -c "$hits")
  lane=$("$BIN" search "$KB" "$q" --mode bm25 -k 8 --explain --json | $PY -c "$hits")
  [ "$cli" = "$lane" ] && ok || bad "'$q': cli [$cli] lane [$lane]"
  raw=$("$BIN" search "$KB" "$(sed 's/\([^ ]*\)/"\1"/g; s/ / OR /g' <<<"$q")" --raw --mode bm25 -k 8 --json | $PY -c "$hits")
  [ "$raw" != "$cli" ] && differ=$((differ + 1))
done
[ "$differ" -ge 1 ] && ok || bad "no query ranked differently from plain FTS5: pruning not exercised"
# a rarer word that is in no chunk leaves the common one ranked in full
# (not an empty answer); one in two chunks gives those two first, then
# the rows holding only the common word (k hits in all)
n=$("$BIN" search "$KB" "said Quillon" --mode bm25 -k 8 --json | $PY -c 'import json,sys; print(len(json.load(sys.stdin)["hits"]))')
[ "$n" = 8 ] && ok || bad "'said Quillon' (no chunk has quillon): $n hits, want 8"
ids='import json,sys; print(" ".join(str(h["chunk"]) for h in json.load(sys.stdin)["hits"]))'
got=$("$BIN" search "$KB" "said acquired" --mode bm25 -k 8 --json | $PY -c "$ids")
acq=$("$BIN" search "$KB" '"acquired"' --raw --mode bm25 -k 8 --json | $PY -c "$ids")
set -- $got
first2=$(printf '%s\n' "${1:-}" "${2:-}" | sort -n | tr '\n' ' ')
want2=$(printf '%s\n' $acq | sort -n | tr '\n' ' ')
[ "$#" = 8 ] && [ "$first2" = "$want2" ] && [ "$(wc -w <<<"$acq")" = 2 ] && ok ||
  bad "'said acquired' (two chunks have acquired [$acq]): hits [$got], want those two first and 8 in all"

"$BIN" search "$KB" "Marlow Cells director" --mode bm25 -k 3 > "$T/out" || bad "plain search"
grep -q "\[Marlow\]" "$T/out" && grep -q "^ 1\. datasets/corpus/" "$T/out" && ok || bad "snippet or hit line: $(head -3 "$T/out")"
expect 1 "syntax error" -- "$BIN" search "$KB" '"marlow" AND' --raw --mode bm25

echo "test_search_cli_lane: $pass passed, $fail failed"
[ "$fail" = 0 ]
