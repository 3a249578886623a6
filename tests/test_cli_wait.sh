#!/usr/bin/env bash
# test_cli_wait.sh — CLI writers and another process's writer lock: without
# a wait they fail at once and change nothing; `--wait SECONDS` (and
# CAIRN_LOCK_WAIT) make them wait for the holder to let go, or fail after
# the wait saying so; bad values are refused; readers that catch the graph
# store up on the way (graph subgraph) never wait for the lock.
set -u
BIN="${CAIRN_BIN:?}"
. "$CAIRN_SRC/tests/lib.sh"
command -v flock >/dev/null || { echo "SKIP: flock(1) not installed"; exit 77; }
T="${CAIRN_TMP:-/tmp}/cli_wait.$$"; rm -rf "$T"; mkdir -p "$T"; trap 'rm -rf "$T"' EXIT
KB="$T/kb"
"$BIN" init "$KB" >/dev/null || { echo "setup failed"; exit 1; }
printf 'Ana Ruiz is the CFO of Norvale Systems.\n' >"$T/a.txt"
printf 'Norvale Systems makes the PX-9000-v2.\n' >"$T/b.txt"
docs() { sqlite3 "$KB/cairn.db" "SELECT count(*) FROM documents WHERE deleted = 0"; }
now() { date +%s%N; }
# hold LOCK SECONDS: another process holds the KB's writer lock (returns once it does)
hold() {
  rm -f "$T/held"
  flock -x "$KB/cairn.lock" sh -c "touch '$T/held'; sleep $1" &
  for _ in $(seq 100); do [ -e "$T/held" ] && return 0; sleep 0.05; done
  return 1
}

# no wait: refused at once, nothing written
hold 3 || bad "could not take the lock"
expect 1 "being written by another process; wait for it to finish.*--wait" -- "$BIN" ingest "$KB" "$T/a.txt"
[ "$(docs)" = 0 ] && ok || bad "a refused ingest wrote"
# a wait shorter than the holder's: refused after it, saying how long
t0=$(now)
expect 1 "being written by another process.*waited 0.5 s" -- "$BIN" ingest "$KB" "$T/a.txt" --wait 0.5
ms=$(( ($(now) - t0) / 1000000 ))
[ "$ms" -ge 450 ] && ok || bad "--wait 0.5 gave up after $ms ms"
[ "$(docs)" = 0 ] && ok || bad "a timed-out ingest wrote"
# a reader's store catch-up does not wait, even with CAIRN_LOCK_WAIT set
t0=$(now)
CAIRN_LOCK_WAIT=20 "$BIN" graph subgraph "$KB" --question "Norvale" >/dev/null 2>&1
ms=$(( ($(now) - t0) / 1000000 ))
[ "$ms" -lt 1500 ] && ok || bad "graph subgraph waited $ms ms for the writer lock"
# a wait longer than the holder's: in once it lets go
expect 0 "1 added" -- "$BIN" ingest "$KB" "$T/a.txt" --wait 30
[ "$(docs)" = 1 ] && ok || bad "ingest --wait: $(docs) documents"
wait

# the environment variable, for every writer command
hold 1 || bad "could not take the lock"
expect 0 "1 added" -- env CAIRN_LOCK_WAIT=30 "$BIN" ingest "$KB" "$T/b.txt"
wait
hold 1 || bad "could not take the lock"
expect 0 "removed" -- "$BIN" rm "$KB" --wait 30 "$T/b.txt"
[ "$(docs)" = 1 ] && ok || bad "rm --wait: $(docs) documents"
wait
hold 1 || bad "could not take the lock"
expect 0 "rebuilt the graph store" -- "$BIN" graph rebuild "$KB" --wait 30
wait
hold 1 || bad "could not take the lock"
expect 0 "optimized" -- "$BIN" optimize "$KB" --wait 30
wait
hold 1 || bad "could not take the lock"
expect 0 "" -- "$BIN" reindex "$KB" --wait 30
wait
hold 1 || bad "could not take the lock"
expect 0 "^1$" -- "$BIN" sql "$KB" --write --wait 30 -c "SELECT count(*) FROM documents" --mode csv
wait

# bad values
expect 2 "not a number of seconds" -- "$BIN" ingest "$KB" "$T/a.txt" --wait -1
expect 2 "not a number of seconds" -- "$BIN" ingest "$KB" "$T/a.txt" --wait 1e9
expect 2 "not a number of seconds" -- "$BIN" rm "$KB" --wait soon "$T/a.txt"
expect 2 "needs a value" -- "$BIN" optimize "$KB" --wait
expect 2 "CAIRN_LOCK_WAIT='x' is not a number of seconds" -- env CAIRN_LOCK_WAIT=x "$BIN" ingest "$KB" "$T/a.txt"
[ "$(docs)" = 1 ] && ok || bad "bad options wrote: $(docs) documents"
expect 0 "all checks passed" -- "$BIN" check "$KB"

echo "cli_wait: $pass passed, $fail failed"
[ "$fail" = 0 ]
