#!/usr/bin/env bash
# test_optimize.sh — `cairn optimize KB`:
#  - a KB with several FTS5 segments in its chunk and entity-name indexes
#    (rows rewritten one transaction each after the ingests): optimize
#    leaves one each and says so;
#  - searches, entity lookups and the generation are the same afterwards,
#    and `cairn check` passes;
#  - it refuses while another writer holds the KB (the lock), changing
#    nothing, and a second run is harmless;
#  - a missing KB or extra arguments get a clear error.
set -u
BIN="${CAIRN_BIN:?}"; SRC="${CAIRN_SRC:?}"
T="${CAIRN_TMP:-/tmp}/optimize.$$"; rm -rf "$T"; mkdir -p "$T"; trap 'rm -rf "$T"' EXIT
. "$(dirname "$0")/lib.sh"

KB="$T/kb"
"$BIN" init "$KB" >/dev/null || bad "init"
for d in companies contracts events finance incidents news people; do   # one transaction each
  "$BIN" ingest "$KB" "$SRC/datasets/corpus/$d" >/dev/null || bad "ingest $d"
done
# ingests keep the indexes merged themselves (test_optimize_auto.sh): add
# small segments by rewriting rows one transaction each (same content)
for i in 1 2 3 4 5 6; do
  sqlite3 "$KB/cairn.db" "INSERT INTO chunks_fts(chunks_fts, rowid, text, section)
    SELECT 'delete', id, text, section FROM chunks WHERE id = $i;
    INSERT INTO chunks_fts(rowid, text, section) SELECT id, text, section FROM chunks WHERE id = $i;
    UPDATE entity_names SET names = names WHERE rowid = $i;" || bad "rewriting row $i"
done
segs() { sqlite3 "$KB/cairn.db" "SELECT count(DISTINCT segid) FROM $1_idx"; }
gen()  { sqlite3 "$KB/cairn.db" "SELECT coalesce(max(generation), 0) FROM changes"; }
c0=$(segs chunks_fts); n0=$(segs entity_names); g0=$(gen)
[ "$c0" -ge 2 ] && [ "$n0" -ge 2 ] && ok || bad "the test KB should have several segments (chunks $c0, names $n0)"

queries=("Marlow Cells managing director" "battery factory Greyhaven" "interest rate" "recall notice")
for q in "${queries[@]}"; do "$BIN" search "$KB" "$q" -k 10 --mode bm25; "$BIN" search "$KB" "$q" -k 10; done > "$T/before" 2>&1
"$BIN" graph entities "$KB" Marlow > "$T/ent.before" 2>&1

# another writer holds the lock: refused, nothing merged
exec 9>"$KB/cairn.lock"
if flock -n 9; then
  expect 1 "busy|lock|another" -- "$BIN" optimize "$KB"
  [ "$(segs chunks_fts)" = "$c0" ] && ok || bad "a refused optimize changed the index"
  flock -u 9
fi
exec 9>&-

"$BIN" optimize "$KB" > "$T/out" 2>&1 && ok || bad "optimize: $(cat "$T/out")"
grep -q "chunk text *index: $c0 segments -> 1" "$T/out" && grep -q "entity names index: $n0 segments -> 1" "$T/out" \
  && ok || bad "optimize output: $(cat "$T/out")"
[ "$(segs chunks_fts)" = 1 ] && [ "$(segs entity_names)" = 1 ] && ok || bad "segments after: $(segs chunks_fts), $(segs entity_names)"
[ "$g0" -gt 0 ] && [ "$(gen)" = "$g0" ] && ok || bad "the generation moved: $g0 -> $(gen)"

for q in "${queries[@]}"; do "$BIN" search "$KB" "$q" -k 10 --mode bm25; "$BIN" search "$KB" "$q" -k 10; done > "$T/after" 2>&1
"$BIN" graph entities "$KB" Marlow > "$T/ent.after" 2>&1
grep -q . "$T/before" && cmp -s "$T/before" "$T/after" && ok || bad "searches changed: $(diff "$T/before" "$T/after" | head -5)"
grep -qi marlow "$T/ent.before" && cmp -s "$T/ent.before" "$T/ent.after" && ok || bad "entity lookup changed"
"$BIN" check "$KB" >/dev/null 2>&1 && ok || bad "check after optimize: $("$BIN" check "$KB" 2>&1 | grep FAIL)"
expect 0 "1 segment -> 1 in" -- "$BIN" optimize "$KB"

expect 1 "$T/none" -- "$BIN" optimize "$T/none"
expect 2 "usage: cairn optimize KB" -- "$BIN" optimize "$KB" extra

echo "test_optimize: $pass passed, $fail failed"
[ "$fail" = 0 ]
