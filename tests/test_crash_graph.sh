#!/usr/bin/env bash
# test_crash_graph.sh — the graph store (graph/rdf.c, graph/bdb_direct.c)
# after SIGKILL while its parallel Berkeley DB writers run.  An ingestion
# of dense generated text (many triples: the five store files are put by
# five threads at once, CAIRN_GRAPH_WRITER_THREADS=5, a full batch in the
# background while the next is filled) is killed at several points: as
# soon as the writer threads show in /proc, and some milliseconds after;
# on a first build (no state yet), on a catch-up (state "clean 0"), and
# under `cairn graph rebuild`.  Berkeley DB's create-time temporaries
# ("__db.<file>", which a kill between a file's create and its rename
# leaves behind) are also planted beside a store and beside a store
# missing a file.  After each, the next writer (ingest or `cairn graph
# rebuild`, alternately) must succeed promptly (Berkeley DB's wait on a
# leftover temporary is 100 retries of 1 s: the limit here is 40 s, the
# same step runs in 1-5 s), `cairn check` must pass, and the store's
# (triple, context) rows must equal those of a clean rebuild of a copy.
set -u
BIN="${CAIRN_BIN:?}"
. "$CAIRN_SRC/tests/lib.sh"
command -v sqlite3 >/dev/null || { echo "SKIP: sqlite3 shell not installed"; exit 77; }
T="${CAIRN_TMP:-/tmp}/crash_graph.$$"; rm -rf "$T"; mkdir -p "$T"
PID=""
cleanup() { [ -n "$PID" ] && kill -KILL "$PID" 2>/dev/null; rm -rf "$T"; }
trap cleanup EXIT
export CAIRN_GRAPH_WRITER_THREADS=5
LIMIT_S=40
# how long the kills wait for the writers to show, in seconds: a bound in
# time, not in polls (20,000 polls, ~0.2 s here, ran out under the sanitizer
# build in CI, where the catalog part before the writers takes longer,
# and two of the kills landed "early")
POLL_S=60

# dense text: every sentence names people, organisations, places (the
# generator of bench/graph_ingest.sh, smaller): NDOC files of ~40 KB
gen() {   # gen DIR NDOC SEED
  python3 - "$@" <<'PY'
import os, random, sys
out, n, seed = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]); os.makedirs(out, exist_ok=True)
r = random.Random(seed)
first = "Ana Bo Carla Dmitri Elif Farid Greta Hugo Ines Jonas Kira Luca".split()
last = "Ruiz Lind Moreau Novak Okafor Petrov Quist Rossi Sato Tanaka".split()
orgs = [a + " " + b for a in "Norvale Kestrel Brightwater Corvane Quillon Aurel Tidemark Halvard".split()
        for b in "Systems Avionics Sensors Logistics Labs Insurance Group".split()]
places = "Rotterdam Oslo Lyon Porto Gdansk Turin Ghent Bergen".split()
def sent():
    p = r.choice(first) + " " + r.choice(last); o = r.choice(orgs) + r.choice(["", " GmbH", " Ltd"])
    k = r.randrange(4)
    if k == 0: return f"{p}, CFO of {o}, visited {r.choice(places)} on 3 March {r.randrange(1990, 2025)}."
    if k == 1: return f"{o} acquired {r.choice(orgs)} for EUR {r.randrange(1, 900)} million."
    if k == 2: return f"{r.choice(orgs)} is a sensor company based in {r.choice(places)}."
    return f"{o}'s CEO {p} said revenue grew {r.randrange(1, 40)}% in {r.randrange(2000, 2025)}."
for i in range(n):
    with open(f"{out}/s{seed}d{i:03d}.txt", "w") as f:
        f.write("\n\n".join(" ".join(sent() for _ in range(6)) for _ in range(40)) + "\n")
PY
}
gen "$T/a" 4 1; gen "$T/b" 2 2; gen "$T/c" 2 3

# run_kill KB DELAY_MS CMD...: starts CMD, waits until KB's store files
# exist and it runs 3+ threads (the store's writers; a cairn ingest or
# rebuild runs two threads otherwise, the second from its start),
# sleeps DELAY_MS more and kills it.  Prints "killed", "early" (killed
# before any writer thread showed: the catalog part) or "done" (it ended
# before the kill).
run_kill() {
  local kb="$1" delay="$2" seen=0 end=$((SECONDS + POLL_S)) t; shift 2
  "$@" >"$T/out" 2>&1 &
  PID=$!
  while [ "$SECONDS" -lt "$end" ]; do
    kill -0 "$PID" 2>/dev/null || break
    t=(/proc/"$PID"/task/*)        # no fork: the poll stays fast
    [ "${#t[@]}" -ge 3 ] && [ -e "$kb/graph/cairn-sp2o.db" ] && { seen=1; break; }
  done
  [ "$delay" -gt 0 ] && sleep "$((delay / 1000)).$(printf '%03d' $((delay % 1000)))"
  if kill -KILL "$PID" 2>/dev/null; then
    wait "$PID" 2>/dev/null; PID=""
    [ "$seen" = 1 ] && echo killed || echo early
  else
    wait "$PID" 2>/dev/null; PID=""; echo done
  fi
}
# writer_ms KB CMD...: how long CMD's store writers run on KB, in ms from
# the point run_kill waits for to CMD's exit: the later kills below are at
# a share of it, so that they land inside the writers however fast this
# machine (fixed delays missed them once the writers got faster)
writer_ms() {
  local kb="$1" end=$((SECONDS + POLL_S)) t t0; shift
  "$@" >"$T/out" 2>&1 &
  PID=$!
  while [ "$SECONDS" -lt "$end" ]; do
    kill -0 "$PID" 2>/dev/null || break
    t=(/proc/"$PID"/task/*)
    [ "${#t[@]}" -ge 3 ] && [ -e "$kb/graph/cairn-sp2o.db" ] && break
  done
  t0=$(date +%s%N)
  wait "$PID" 2>/dev/null; PID=""
  echo $(( ($(date +%s%N) - t0) / 1000000 ))
}
# timed STEP CMD...: CMD must exit 0 within LIMIT_S seconds
timed() {
  local what="$1" t0 ms; shift
  t0=$(date +%s%N)
  "$@" >"$T/out" 2>&1 || { bad "$what: exit $?: $(head -c 400 "$T/out")"; return; }
  ms=$(( ($(date +%s%N) - t0) / 1000000 ))
  [ "$ms" -lt $((LIMIT_S * 1000)) ] && ok || bad "$what took $ms ms (Berkeley DB waiting on a temporary?)"
  grep -q "Retry limit" "$T/out" && bad "$what: $(grep 'Retry limit' "$T/out")"
  echo "  $what: $ms ms"
}
# the store must equal a clean rebuild of a copy; with a third argument
# cairn check must pass too (not every round: under a sanitizer build it
# is most of a round's time)
agree() {
  local kb="$1" what="$2"
  [ -n "${3:-}" ] && expect 0 "graph store matches" -- "$BIN" check "$kb"
  rm -rf "$T/copy"; cp -a "$kb" "$T/copy"
  "$BIN" graph rebuild "$T/copy" >/dev/null 2>&1 || bad "$what: rebuild of the copy failed"
  "$BIN" graph triples "$kb" 2>/dev/null | sort >"$T/t.kb"
  "$BIN" graph triples "$T/copy" 2>/dev/null | sort >"$T/t.copy"
  [ -s "$T/t.kb" ] && cmp -s "$T/t.kb" "$T/t.copy" && ok ||
    bad "$what: $(wc -l <"$T/t.kb") (triple, context) rows, a clean rebuild has $(wc -l <"$T/t.copy")"
  ls "$kb"/graph/__db.* >/dev/null 2>&1 && bad "$what: a create temporary is left"
}

KB="$T/kb"
killed=0; step=0
# redo: the next writer after a kill, ingest and rebuild alternately
redo() {   # redo WHAT [check]
  local what="$1"
  step=$((step + 1))
  if [ $((step % 2)) = 1 ]; then timed "$what: next ingest" "$BIN" ingest "$KB" "$T/a" "$T/b" "$T/c"
  else timed "$what: graph rebuild" "$BIN" graph rebuild "$KB"; fi
  agree "$KB" "$what" "${2:-}"
}
count() { [ "$1" = killed ] && killed=$((killed + 1)); echo "$2: $1"; }

# the writers' spans on a scratch KB: a first build, a catch-up, a rebuild
"$BIN" init "$T/scratch" >/dev/null
span_first=$(writer_ms "$T/scratch" "$BIN" ingest "$T/scratch" "$T/a")
span_catch=$(writer_ms "$T/scratch" "$BIN" ingest "$T/scratch" "$T/b" "$T/c")
span_rebuild=$(writer_ms "$T/scratch" "$BIN" graph rebuild "$T/scratch")
rm -rf "$T/scratch"
echo "writers ran $span_first ms (first build), $span_catch ms (catch-up), $span_rebuild ms (rebuild)"
later() { echo $(( $1 * 2 / 5 )); }   # a kill at 40% of a span

# first builds (no state file): killed at the writers' start, and later
for d in 0 "$(later "$span_first")"; do
  rm -rf "$KB"; "$BIN" init "$KB" >/dev/null
  r=$(run_kill "$KB" "$d" "$BIN" ingest "$KB" "$T/a"); count "$r" "first build, +$d ms"
  redo "first build +$d ms" $([ "$d" != 0 ] && echo check)
done
# catch-ups of a store with state (clean 0 while they run)
for d in 0 "$(later "$span_catch")"; do
  r=$(run_kill "$KB" "$d" "$BIN" ingest "$KB" "$T/b" "$T/c"); count "$r" "catch-up, +$d ms"
  redo "catch-up +$d ms" $([ "$d" != 0 ] && echo check)
  # b and c out again, for the next catch-up to add
  mapfile -t ids < <(sqlite3 "$KB/cairn.db" "SELECT '#' || id FROM documents WHERE deleted = 0
                                               AND (uri LIKE '%/s2d%' OR uri LIKE '%/s3d%')")
  "$BIN" rm "$KB" "${ids[@]}" >"$T/out" 2>&1 || bad "rm: $(head -c 300 "$T/out")"
done
# a rebuild killed
for d in "$(later "$span_rebuild")"; do
  r=$(run_kill "$KB" "$d" "$BIN" graph rebuild "$KB"); count "$r" "rebuild, +$d ms"
  redo "rebuild +$d ms" check
done
# a kill between a create and its rename leaves "__db.<file>": planted
# beside a clean store, then beside a store missing one file (size check:
# a rebuild), then with no store at all (a first build)
for f in "$KB"/graph/cairn-*.db; do : >"$KB/graph/__db.${f##*/}"; done
redo "temporaries beside a clean store"
for f in "$KB"/graph/cairn-*.db; do : >"$KB/graph/__db.${f##*/}"; done
rm -f "$KB/graph/cairn-po2s.db"
redo "temporaries, a file missing"
for f in "$KB"/graph/cairn-*.db; do : >"$KB/graph/__db.${f##*/}"; done
rm -f "$KB"/graph/cairn-*.db "$KB/graph/state"
redo "temporaries, no store" check

echo "crash_graph: $killed kills while the store's writers ran"
[ "$killed" -ge 3 ] && ok || bad "only $killed kills landed while the writers ran: the test proves little"
echo "crash_graph: $pass passed, $fail failed"
[ "$fail" = 0 ]
