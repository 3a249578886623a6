#!/usr/bin/env bash
# test_optimize_auto.sh — writers keep the FTS5 indexes merged without
# `cairn optimize` (retrieval/ftsmerge.c):
#  - a KB ingested in many batches (one `cairn ingest` per file, each a
#    transaction adding segments) ends with a bounded segment count in its
#    chunk-text and entity-name indexes;
#  - one ingest of many files (a segment per file) ends with one segment
#    in each index; FTS5's integrity check and `cairn check` pass and
#    search finds the documents;
#  - a bulk ingest turns FTS5's automerge back on at its end;
#  - two ingests of a size end with one segment, a small one after them
#    does not merge;
#  - `cairn serve` merges an index whose segments call for it (made here
#    with the sqlite3 shell: automerge off as a killed bulk ingest leaves
#    it, one transaction per row rewritten), turning automerge back on, on its
#    writer thread, while it answers searches; `cairn optimize KB
#    --if-needed` applies the same policy by hand.
# Segments are counted as `cairn optimize` counts them: the distinct
# segment ids in the index's %_idx table.
set -u
BIN="${CAIRN_BIN:?}"; SRC="${CAIRN_SRC:?}"
. "$(dirname "$0")/lib.sh"
command -v sqlite3 >/dev/null || { echo "SKIP: sqlite3 shell not installed"; exit 77; }
command -v curl >/dev/null || { echo "SKIP: curl not installed"; exit 77; }
T="${CAIRN_TMP:-/tmp}/optimize_auto.$$"; rm -rf "$T"; mkdir -p "$T"
PID=""
cleanup() { [ -n "$PID" ] && kill -KILL "$PID" 2>/dev/null; rm -rf "$T"; }
trap cleanup EXIT

segs() { sqlite3 "$1/cairn.db" "SELECT count(DISTINCT segid) FROM $2_idx"; }
# the policy's predicate (cr_fts_wants_merge), in SQL over the same sizes
wants() { sqlite3 "$1/cairn.db" "SELECT count(*) > 2 AND (count(*) - 1) * (sum(p) - max(p)) >= 2 * max(p)
  FROM (SELECT (max(pgno) >> 1) - (min(pgno) >> 1) + 1 AS p FROM $2_idx GROUP BY segid)"; }
fts_ok() { sqlite3 "$1/cairn.db" "INSERT INTO chunks_fts(chunks_fts) VALUES('integrity-check');
  INSERT INTO entity_names(entity_names) VALUES('integrity-check')" 2>&1; }

# ---------------------------------------------------------------- many ingests
A="$T/a"
"$BIN" init "$A" >/dev/null || bad "init"
n=0
for f in $(find "$SRC/datasets/corpus" -type f -name '*.txt' | sort | head -30); do
  "$BIN" ingest "$A" "$f" >/dev/null 2>"$T/err" || bad "ingest $f: $(cat "$T/err")"
  n=$((n + 1))
done
[ "$n" -ge 20 ] && ok || bad "the corpus should have 20 .txt files or more (found $n)"
c=$(segs "$A" chunks_fts); e=$(segs "$A" entity_names)
# FTS5's own merging leaves 10-15 segments after 30 ingests like these
[ "$c" -ge 1 ] && [ "$c" -le 3 ] && ok || bad "chunk text index after $n ingests: $c segments (want 1-3)"
[ "$e" -ge 1 ] && [ "$e" -le 3 ] && ok || bad "entity names index after $n ingests: $e segments (want 1-3)"
[ "$(wants "$A" chunks_fts)" = 0 ] && [ "$(wants "$A" entity_names)" = 0 ] && ok \
  || bad "an ingest left an index the policy would merge"
[ -z "$(fts_ok "$A")" ] && ok || bad "FTS5 integrity check: $(fts_ok "$A")"

# ---------------------------------------------------------------- one ingest, many files
B="$T/b"
"$BIN" init "$B" >/dev/null && "$BIN" ingest "$B" "$SRC/datasets/corpus" >/dev/null 2>"$T/err" \
  || bad "ingest corpus: $(cat "$T/err")"
[ "$(segs "$B" chunks_fts)" = 1 ] && [ "$(segs "$B" entity_names)" = 1 ] && ok \
  || bad "after one ingest of the corpus: $(segs "$B" chunks_fts) and $(segs "$B" entity_names) segments (want 1)"
[ -z "$(fts_ok "$B")" ] && ok || bad "FTS5 integrity check: $(fts_ok "$B")"
# the bulk ingest turned FTS5's automerge off while it ran, and back on
am() { sqlite3 "$1/cairn.db" "SELECT coalesce((SELECT v FROM $2_config WHERE k = 'automerge'), 4)"; }
[ "$(am "$B" chunks_fts)" = 4 ] && [ "$(am "$B" entity_names)" = 4 ] && ok \
  || bad "automerge after the ingest: $(am "$B" chunks_fts), $(am "$B" entity_names) (want 4)"
"$BIN" check "$B" >/dev/null 2>&1 && ok || bad "check: $("$BIN" check "$B" 2>&1 | grep FAIL)"
expect 0 "companies" -- "$BIN" search "$B" "Marlow Cells managing director" -k 3 --mode bm25

# ---------------------------------------------------------------- two ingests of a size
# A bulk ingest that makes at least half the largest segment again merges
# into one (two equal batches otherwise keep 2 segments, every query term
# looked up in both); a small ingest into the merged index does not.
D="$T/d"; mkdir -p "$T/half1" "$T/half2"
i=0
for f in $(find "$SRC/datasets/corpus" -type f -name '*.txt' | sort); do
  [ $((i % 2)) = 0 ] && cp "$f" "$T/half1/" || cp "$f" "$T/half2/"
  i=$((i + 1))
done
"$BIN" init "$D" >/dev/null && "$BIN" ingest "$D" "$T/half1" >/dev/null 2>"$T/err" \
  && "$BIN" ingest "$D" "$T/half2" >/dev/null 2>"$T/err" || bad "ingest halves: $(cat "$T/err")"
[ "$(segs "$D" chunks_fts)" = 1 ] && ok || bad "after two ingests of a size: $(segs "$D" chunks_fts) segments (want 1)"
printf 'A short note on granite quarries.\n' >"$T/note.txt"
"$BIN" ingest "$D" "$T/note.txt" >/dev/null 2>"$T/err" || bad "ingest note: $(cat "$T/err")"
[ "$(segs "$D" chunks_fts)" = 2 ] && ok || bad "a small ingest into a merged index: $(segs "$D" chunks_fts) segments (want 2: not merged)"
[ -z "$(fts_ok "$D")" ] && ok || bad "FTS5 integrity check: $(fts_ok "$D")"

# ---------------------------------------------------------------- the server's writer
# Automerge off, as a bulk ingest killed before its end leaves it, then
# rows rewritten one transaction each (same content), so that both indexes
# get many small segments beside the big one.
C="$T/c"
cp -a "$B" "$C"
sqlite3 "$C/cairn.db" "INSERT INTO chunks_fts(chunks_fts, rank) VALUES('automerge', 0);
  INSERT INTO entity_names(entity_names, rank) VALUES('automerge', 0);" || bad "automerge 0"
for i in $(seq 1 40); do
  sqlite3 "$C/cairn.db" "INSERT INTO chunks_fts(chunks_fts, rowid, text, section)
    SELECT 'delete', id, text, section FROM chunks WHERE id = $i;
    INSERT INTO chunks_fts(rowid, text, section) SELECT id, text, section FROM chunks WHERE id = $i;
    UPDATE entity_names SET names = names WHERE rowid = $i;" || bad "rewriting row $i"
done
c0=$(segs "$C" chunks_fts); e0=$(segs "$C" entity_names)
[ "$(wants "$C" chunks_fts)" = 1 ] && [ "$(wants "$C" entity_names)" = 1 ] && ok \
  || bad "setup: the rewrites should leave indexes to merge ($c0 and $e0 segments)"
"$BIN" search "$C" "Marlow Cells managing director" -k 5 --mode bm25 >"$T/s.before" 2>&1

# the same policy by hand: `cairn optimize KB --if-needed`
cp -a "$C" "$T/c2"
expect 0 "chunk text *index: $c0 segments .* -> 1" -- "$BIN" optimize "$T/c2" --if-needed
[ "$(segs "$T/c2" chunks_fts)" = 1 ] && [ "$(segs "$T/c2" entity_names)" = 1 ] && ok \
  || bad "optimize --if-needed left $(segs "$T/c2" chunks_fts) and $(segs "$T/c2" entity_names) segments"
expect 0 "0 indexes merged" -- "$BIN" optimize "$T/c2" --if-needed
expect 2 "usage: cairn optimize KB" -- "$BIN" optimize "$T/c2" --if-not

rm -f "$T/log"
"$BIN" serve "$C" --listen 127.0.0.1:0 >"$T/log" 2>&1 &
PID=$!
for _ in $(seq 300); do grep -q 'http://' "$T/log" 2>/dev/null && break; sleep 0.1; done
U=$(grep -o 'http://127.0.0.1:[0-9]*' "$T/log")
[ -n "$U" ] || { echo "server did not start: $(cat "$T/log")"; exit 1; }
for _ in $(seq 300); do   # the writer merges at startup, after the vector catch-up
  [ "$(segs "$C" chunks_fts)" = 1 ] && [ "$(segs "$C" entity_names)" = 1 ] && break
  sleep 0.1
done
[ "$(segs "$C" chunks_fts)" = 1 ] && [ "$(segs "$C" entity_names)" = 1 ] && ok \
  || bad "the server left $(segs "$C" chunks_fts) and $(segs "$C" entity_names) segments (from $c0 and $e0)"
code=$(curl -s -o "$T/body" -w '%{http_code}' --max-time 20 -H 'Content-Type: application/json' \
         -d '{"query":"Marlow Cells","k":3,"mode":"bm25"}' "$U/v1/search")
[ "$code" = 200 ] && grep -q '"document"' "$T/body" && ok || bad "search during serve: $code $(head -c 200 "$T/body")"
kill -TERM "$PID"; wait "$PID" 2>/dev/null; PID=""
! grep -qi "merging the full-text" "$T/log" && ok || bad "server log: $(cat "$T/log")"
[ "$(am "$C" chunks_fts)" = 4 ] && [ "$(am "$C" entity_names)" = 4 ] && ok \
  || bad "automerge after serve: $(am "$C" chunks_fts), $(am "$C" entity_names) (want 4)"
[ -z "$(fts_ok "$C")" ] && ok || bad "FTS5 integrity check after serve: $(fts_ok "$C")"
"$BIN" search "$C" "Marlow Cells managing director" -k 5 --mode bm25 >"$T/s.after" 2>&1
grep -q . "$T/s.before" && cmp -s "$T/s.before" "$T/s.after" && ok \
  || bad "search changed: $(diff "$T/s.before" "$T/s.after" | head -5)"

echo "test_optimize_auto: $pass passed, $fail failed"
[ "$fail" = 0 ]
