#!/usr/bin/env bash
# graph_postgres.sh — the graph store on PostgreSQL (graph.storage
# "postgresql", Redland's postgresql storage) beside the embedded Berkeley
# DB store, same corpus, same run: ingestion (a fresh KB each round,
# alternating), a full `cairn graph rebuild`, `cairn check`, an N-Quads
# export, `cairn graph subgraph` (which reads the catalog, not the store)
# and SPARQL latency (bench_sparql, which reads the store).
# The server is started here on loopback from Debian's postgresql package
# (initdb into a temp dir, stock settings: fsync and synchronous_commit
# on), reached over its unix socket; "pg-async" is the same server with
# PGOPTIONS="-c synchronous_commit=off" for cairn's connections.
# Usage: bench/graph_postgres.sh BUILD_DIR [ROUNDS (2)] [SPARQL_N (5)] [CORPUS_DIR]
set -eu
B="${1:?build dir}"; BIN="$B/cairn"; ROUNDS="${2:-2}"; SN="${3:-5}"
SRC="$(cd "$(dirname "$0")/.." && pwd)"; CORPUS="${4:-$SRC/datasets/corpus}"
PGBIN=""; for d in /usr/lib/postgresql/*/bin; do [ -x "$d/initdb" ] && PGBIN="$d"; done
[ -n "$PGBIN" ] || { echo "no PostgreSQL server binaries (apt-get install postgresql)" >&2; exit 1; }
T="$(mktemp -d /tmp/cairn-pgbench.XXXXXX)"
AS=(); if [ "$(id -u)" = 0 ]; then chown postgres "$T"; AS=(runuser -u postgres --); fi
trap '[ -f "$T/data/postmaster.pid" ] && "${AS[@]}" "$PGBIN/pg_ctl" -D "$T/data" -m immediate -w stop >/dev/null 2>&1; rm -rf "$T"' EXIT
trap 'exit 1' INT TERM HUP
"${AS[@]}" "$PGBIN/initdb" -D "$T/data" -U cairn --auth=trust >/dev/null
PORT=$(( 30000 + $$ % 20000 ))
"${AS[@]}" "$PGBIN/pg_ctl" -D "$T/data" -l "$T/server.log" -w \
  -o "-p $PORT -k $T -c listen_addresses='' -c log_min_messages=fatal" start >/dev/null
"${AS[@]}" "$PGBIN/createdb" -h "$T" -p "$PORT" -U cairn cairn
CI="host=$T port=$PORT dbname=cairn user=cairn"
mkdir -p "$T/k"; [ "$(id -u)" = 0 ] && chown root "$T/k"

# kb NAME STORAGE: a fresh KB at $T/k/NAME
kb() {
  rm -rf "$T/k/$1"
  if [ "$2" = bdb ]; then "$BIN" init "$T/k/$1" >/dev/null
  else "$BIN" init "$T/k/$1" --graph-storage postgresql --graph-conninfo "$CI" >/dev/null; fi
}
# timed CMD...: "wall cpu" seconds
timed() { /usr/bin/time -f "%e %U %S" -o "$T/time" "$@" >/dev/null 2>&1; awk '{printf "%.3f %.3f\n", $1, $2 + $3}' "$T/time"; }
med() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
echo "load average: $(cut -d' ' -f1-3 /proc/loadavg); $("${AS[@]}" "$PGBIN/postgres" --version); corpus $CORPUS"
: > "$T/bdb"; : > "$T/pg"; : > "$T/pga"
for i in $(seq "$ROUNDS"); do
  kb bdb bdb; timed "$BIN" ingest "$T/k/bdb" "$CORPUS" >> "$T/bdb"
  kb pg pg;   timed "$BIN" ingest "$T/k/pg" "$CORPUS" >> "$T/pg"
  kb pga pg;  PGOPTIONS="-c synchronous_commit=off" timed "$BIN" ingest "$T/k/pga" "$CORPUS" >> "$T/pga"
done
bw=$(cut -d' ' -f1 "$T/bdb" | med); bc_=$(cut -d' ' -f2 "$T/bdb" | med)
triples=$("$BIN" graph sparql "$T/k/bdb" 'SELECT (COUNT(*) AS ?n) WHERE { ?s ?p ?o }' | sed -n '2s/^"\([0-9]*\)".*/\1/p')
echo "ingest ($ROUNDS rounds, median; $triples triples):"
for v in bdb pg pga; do
  w=$(cut -d' ' -f1 "$T/$v" | med); c=$(cut -d' ' -f2 "$T/$v" | med)
  printf '  %-8s %8.2f s wall (cpu %.2f)  %6.1fx bdb  %8.0f triples/s\n' "$v" "$w" "$c" \
    "$(echo "$w / $bw" | bc -l)" "$(echo "$triples / $w" | bc -l)"
done
for v in bdb pg; do
  rb=$(timed "$BIN" graph rebuild "$T/k/$v" | cut -d' ' -f1)
  ck=$(timed "$BIN" check "$T/k/$v" | cut -d' ' -f1)
  ex=$(timed "$BIN" graph export "$T/k/$v" --format nquads 2>/dev/null | cut -d' ' -f1)
  printf '  %-8s rebuild %7.2f s  check %6.2f s  export %6.2f s\n' "$v" "$rb" "$ck" "$ex"
done
# the two KBs were ingested at different times: their prov timestamps differ
"$BIN" graph export "$T/k/bdb" --format nquads 2>/dev/null | grep -v 'XMLSchema#dateTime>' | LC_ALL=C sort > "$T/e1"
"$BIN" graph export "$T/k/pg" --format nquads 2>/dev/null | grep -v 'XMLSchema#dateTime>' | LC_ALL=C sort > "$T/e2"
echo "  same quads after both rebuilds (timestamps aside): $(cmp -s "$T/e1" "$T/e2" && echo yes || echo NO)"
# subgraph: 20 questions naming the most mentioned entities, one process each
sqlite3 "$T/k/bdb/cairn.db" "select e.label from entities e join mentions m on m.entity_id = e.id group by e.id order by count(*) desc limit 20" > "$T/q"
for v in bdb pg; do
  : > "$T/sg"
  while IFS= read -r l; do
    timed "$BIN" graph subgraph "$T/k/$v" --question "What is known about $l?" --format json >> "$T/sg"
  done < "$T/q"
  printf '  %-8s subgraph (cairn graph subgraph, per process) median %.3f s, max %.3f s\n' "$v" \
    "$(cut -d' ' -f1 "$T/sg" | med)" "$(cut -d' ' -f1 "$T/sg" | sort -n | tail -1)"
done
for v in bdb pg; do
  echo "  $v SPARQL (bench_sparql, $SN runs each):"
  "$B/bench/bench_sparql" "$T/k/$v" "$SN" | sed 's/^/    /'
done
