#!/usr/bin/env bash
# test_ingest_batch_time.sh — `cairn ingest` of many small files commits
# them in batches (one transaction each, at most 1,000 files or 16 MB),
# and a batch also ends once it has been open for the setting
# ingest.batch_seconds (1; 0: every file on its own), so that others
# waiting for SQLite's write lock (an ask's trace, the server's audit
# rows) or for the files to be visible wait at most about that long:
#   - batch_seconds 3600: the 240 files become visible all at once (one
#     batch: a reader polling the document count never sees a count
#     between 0 and 240);
#   - batch_seconds 0.2 and 0: the reader sees counts in between while the
#     ingest runs; every file is stored once, the full-text index passes
#     FTS5's integrity check and `cairn check` passes;
#   - the same for the query language's INGEST (`cairn sql --write`,
#     batches of at most 256 files);
#   - a bad value (negative, over 3600, a string) is refused before
#     anything is stored, naming the setting.
set -u
BIN="${CAIRN_BIN:?}"; SRC="${CAIRN_SRC:?}"
. "$(dirname "$0")/lib.sh"
command -v sqlite3 >/dev/null || { echo "SKIP: sqlite3 shell not installed"; exit 77; }
T="${CAIRN_TMP:-/tmp}/ingest_batch_time.$$"; rm -rf "$T"; mkdir -p "$T/in"
PID=""
trap '[ -n "$PID" ] && kill "$PID" 2>/dev/null; rm -rf "$T"' EXIT

# 240 files of 16,000 bytes cut from the sample corpus's prose repeated
# (each repetition numbered, so no two files are the same)
find "$SRC/datasets/corpus" -name '*.txt' | sort >"$T/list"
[ "$(wc -l <"$T/list")" -gt 5 ] || { bad "no sample corpus text"; exit 1; }
for r in $(seq 1 200); do echo "Repetition $r of the sample."; xargs cat <"$T/list"; done >"$T/pool"
(cd "$T/in" && head -c 3840000 "$T/pool" | split -b 16000 -a 3 --additional-suffix=.txt - f)
[ "$(ls "$T/in" | wc -l)" = 240 ] || { bad "made $(ls "$T/in" | wc -l) files, want 240"; exit 1; }

# setting VALUE: a fresh KB with ingest.batch_seconds VALUE (JSON)
setting() {
  rm -rf "$T/kb"
  "$BIN" init "$T/kb" >/dev/null || bad "init"
  sed -i "s/\"format\": 1,/\"format\": 1, \"ingest\": {\"batch_seconds\": $1},/" "$T/kb/cairn.json"
  grep -q batch_seconds "$T/kb/cairn.json" || bad "setting not written"
}
ndocs() { sqlite3 "$T/kb/cairn.db" "SELECT count(*) FROM documents" 2>/dev/null; }

# ingest_watch [sql]: runs the ingest (`cairn ingest`, or INGEST through
# `cairn sql --write`) in the background and polls the document count
# until it ends; the distinct counts strictly between 0 and 240 seen
# meanwhile into $between, the ingest's status into $irc
ingest_watch() {
  local c seen=" "
  if [ "${1:-}" = sql ]; then
    "$BIN" sql --write "$T/kb" -c "INGEST '$T/in'" >"$T/out" 2>&1 & PID=$!
  else
    "$BIN" ingest "$T/kb" "$T/in" >"$T/out" 2>&1 & PID=$!
  fi
  while kill -0 "$PID" 2>/dev/null; do
    c=$(ndocs)
    if [ -n "$c" ] && [ "$c" -gt 0 ] && [ "$c" -lt 240 ]; then
      case "$seen" in *" $c "*) ;; *) seen="$seen$c " ;; esac
    fi
    sleep 0.03
  done
  wait "$PID"; irc=$?; PID=""
  between=$(wc -w <<<"$seen")
}

setting 3600
ingest_watch
[ "$irc" = 0 ] && ok || bad "ingest failed: $(tail -3 "$T/out")"
[ "$between" = 0 ] && ok || bad "one batch, yet $between counts seen between 0 and 240"
[ "$(ndocs)" = 240 ] && ok || bad "documents $(ndocs), want 240"

for v in 0.2 0; do
  setting "$v"
  ingest_watch
  [ "$irc" = 0 ] && ok || bad "batch_seconds $v: ingest failed: $(tail -3 "$T/out")"
  [ "$between" -ge 2 ] && ok || bad "batch_seconds $v: $between counts seen between 0 and 240 (want 2 or more)"
  [ "$(ndocs)" = 240 ] && ok || bad "batch_seconds $v: documents $(ndocs), want 240"
  [ "$(sqlite3 "$T/kb/cairn.db" "SELECT count(DISTINCT uri) FROM documents")" = 240 ] && ok \
    || bad "batch_seconds $v: a file stored twice"
  sqlite3 "$T/kb/cairn.db" "INSERT INTO chunks_fts(chunks_fts, rank) VALUES('integrity-check', 1)" \
    && ok || bad "batch_seconds $v: FTS5 integrity check"
  expect 0 "all checks passed" -- "$BIN" check "$T/kb"
done

# INGEST in the query language: 256 files a batch at most, so the 240
# make one batch without the time bound
setting 3600
ingest_watch sql
[ "$irc" = 0 ] && ok || bad "sql INGEST failed: $(tail -3 "$T/out")"
[ "$between" = 0 ] && ok || bad "sql INGEST, one batch, yet $between counts seen between 0 and 240"
setting 0.2
ingest_watch sql
[ "$irc" = 0 ] && ok || bad "sql INGEST failed: $(tail -3 "$T/out")"
[ "$between" -ge 2 ] && ok || bad "sql INGEST, batch_seconds 0.2: $between counts seen between 0 and 240"
[ "$(ndocs)" = 240 ] && ok || bad "sql INGEST: documents $(ndocs), want 240"
setting -1
expect 1 "ingest.batch_seconds" -- "$BIN" sql --write "$T/kb" -c "INGEST '$T/in'"
[ "$(ndocs)" = 0 ] && ok || bad "sql INGEST with a bad setting stored $(ndocs) documents"

for v in -1 3601 '"soon"'; do
  setting "$v"
  expect 1 "ingest.batch_seconds" -- "$BIN" ingest "$T/kb" "$T/in"
  [ "$(ndocs)" = 0 ] && ok || bad "batch_seconds $v: $(ndocs) documents stored"
done

echo "test_ingest_batch_time: $pass passed, $fail failed"
[ "$fail" = 0 ]
