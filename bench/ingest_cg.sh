#!/usr/bin/env bash
# ingest_cg.sh — instructions of one `cairn ingest` of a directory into a
# fresh KB (issue 4), counted with callgrind (--separate-threads=yes;
# deterministic where wall time is not), for each extraction setting:
# none (graph.extractor none), rules without the store (rules, graph.store
# none) and rules + Redland (rules, redland), set in KB/cairn.json as
# bench/graph_ingest.sh's `run` does.  Prints one line per setting: the
# total over every thread, the main thread's, and the FTS5 segments of
# chunks_fts after the ingestion (its %_idx segids; cairn ingest's final
# tidy may merge them), and entity_names'.  Batches end by count and size
# only (ingest.batch_seconds 3600): under valgrind's slower run the time
# bound would end one every second and the counts would depend on speed.
#
# Usage: bench/ingest_cg.sh BUILD_DIR INPUT_DIR [SETTINGS="none rules rules+redland"]
# Needs: valgrind, sqlite3.
set -eu
B="${1:?usage: ingest_cg.sh BUILD_DIR INPUT_DIR [SETTINGS]}"; IN="${2:?input dir}"
SETTINGS="${3:-none rules rules+redland}"
T=$(mktemp -d); trap 'rm -rf "$T"' EXIT
for s in $SETTINGS; do
  case $s in
    none) x=none; st=none ;;
    rules) x=rules; st=none ;;
    rules+redland) x=rules; st=redland ;;
    *) echo "unknown setting $s (none, rules, rules+redland)"; exit 2 ;;
  esac
  rm -rf "$T/kb" "$T/cg"; mkdir "$T/cg"
  "$B/cairn" init "$T/kb" >/dev/null
  sed -i "s/\"format\": 1,.*/\"format\": 1, \"graph\": {\"extractor\": \"$x\", \"store\": \"$st\"}, \"ingest\": {\"batch_seconds\": 3600},/" \
    "$T/kb/cairn.json"
  valgrind --tool=callgrind --separate-threads=yes --callgrind-out-file="$T/cg/out" \
    "$B/cairn" ingest "$T/kb" "$IN" >/dev/null 2>"$T/err" || { cat "$T/err"; exit 1; }
  tot=0; main=0
  for f in "$T"/cg/out*; do
    n=$(awk '/^(summary|totals):/ {print $2; exit}' "$f")
    tot=$((tot + n))
    case $f in *-01) main=$n ;; esac
  done
  segs=$(sqlite3 "$T/kb/cairn.db" "SELECT count(DISTINCT segid) FROM chunks_fts_idx")
  nsegs=$(sqlite3 "$T/kb/cairn.db" "SELECT count(DISTINCT segid) FROM entity_names_idx")
  printf '%s %s %s: %d M instructions (main thread %d M); chunks_fts segments %s, entity_names %s\n' \
    "$B" "$(basename "$IN")" "$s" $((tot / 1000000)) $((main / 1000000)) "$segs" "$nsegs"
done
