#!/usr/bin/env bash
# test_serve_vector_replay.sh — the index the API's writer builds in memory
# and hands to the readers is the one a fresh open of the files builds: a
# catch-up puts its documents' vectors into the index together (one FAISS
# add per catch-up, not one per document: retrieval/search.c, pend_adds),
# as an open replays each delta record's adds together. So while the
# server runs, its vector searches answer bit for bit as `cairn search` on
# the same KB, on an HNSW index walked approximately (efSearch 10).
set -u
BIN="${CAIRN_BIN:?}"
. "$CAIRN_SRC/tests/lib.sh"
command -v curl >/dev/null || { echo "SKIP: curl not installed"; exit 77; }
command -v sqlite3 >/dev/null || { echo "SKIP: sqlite3 not installed"; exit 77; }
[ -x /usr/bin/python3 ] || { echo "SKIP: /usr/bin/python3 not installed"; exit 77; }
T="${CAIRN_TMP:-/tmp}/serve_vector_replay.$$"; rm -rf "$T"; mkdir -p "$T/docs"
PID=""
cleanup() { [ -n "$PID" ] && kill -KILL "$PID" 2>/dev/null; rm -rf "$T"; }
trap cleanup EXIT

/usr/bin/python3 - "$T/docs" <<'PY'
import random, sys
r = random.Random(5)
words = ["w%d" % i for i in range(3000)]
for f in range(6):
    with open("%s/part%d.txt" % (sys.argv[1], f), "w") as out:
        for _ in range(500):
            out.write(" ".join(r.choice(words) for _ in range(12)) + ".\n\n")
PY
"$BIN" init "$T/kb" >/dev/null || { echo "init failed"; exit 1; }
printf '{"format": 1, "chunk": {"target_tokens": 24, "overlap_tokens": 0}, "graph": {"extractor": "none"}, "vectors": {"hnsw_threshold": 20, "hnsw_ef_search": 10}}\n' \
  > "$T/kb/cairn.json"
"$BIN" ingest "$T/kb" "$T/docs" >/dev/null 2>&1 || { echo "ingest failed"; exit 1; }
start_server "$T/log" "$T/kb" --listen 127.0.0.1:0 --threads 2 || { echo "server did not start"; exit 1; }

# 30 one-chunk documents, in three bursts: three catch-ups of ~10 each (a
# delta within 1/64 of the index file, so the files keep it)
for b in 1 2 3; do
  for i in $(seq 10); do
    n=$(( b * 100 + i ))
    curl -s -o /dev/null -H 'Content-Type: application/json' \
      -d "{\"uri\":\"posted/$n.txt\",\"text\":\"Posted w$((n * 7 % 3000)) w$((n * 13 % 3000)) w$((n * 29 % 3000)) note $n.\"}" \
      "$U/v1/documents"
  done
  sleep 2.5
done
want=$(sqlite3 "$T/kb/cairn.db" 'SELECT max(generation) FROM changes')
for _ in $(seq 300); do
  [ "$(curl -s "$U/metrics" | awk '$1 == "cairn_vector_index_generation" { print $2 }')" = "$want" ] && break
  sleep 0.1
done
[ "$(curl -s "$U/metrics" | awk '$1 == "cairn_vector_index_generation" { print $2 }')" = "$want" ] && ok \
  || bad "the readers' index did not reach the catalog's generation $want"
[ -s "$T/kb/vectors.faiss.delta" ] && ok || bad "the catch-ups wrote no delta (nothing replayed by an open)"

# the same 40 vector searches through the server and the CLI: the same
# chunks in the same order with the same scores
differ=0
for q in $(seq 40); do
  text="w$((q * 37 % 3000)) w$((q * 53 % 3000)) w$((q * 71 % 3000)) note $((q % 3 * 100 + 100 + q % 10))"
  s=$(curl -s -H 'Content-Type: application/json' -d "{\"query\":\"$text\",\"k\":10,\"mode\":\"vector\"}" \
      "$U/v1/search" | /usr/bin/python3 -c 'import json,sys; print(" ".join("%d:%.6f" % (h["chunk"], h["score"]) for h in json.load(sys.stdin)["hits"]))')
  c=$("$BIN" search "$T/kb" "$text" -k 10 --mode vector --json |
      /usr/bin/python3 -c 'import json,sys; d=json.load(sys.stdin); print(" ".join("%d:%.6f" % (h["chunk"], h["score"]) for h in d["hits"]))')
  if [ -z "$s" ] || [ "$s" != "$c" ]; then
    differ=$((differ + 1))
    [ "$differ" -le 3 ] && echo "query '$text': server [$s] cli [$c]" >&2
  fi
done
[ "$differ" = 0 ] && ok || bad "$differ of 40 vector searches differ between the server and a fresh open"
kill -TERM "$PID"; wait "$PID" 2>/dev/null; PID=""
expect 0 "all checks passed" -- "$BIN" check "$T/kb"
echo "pass=$pass fail=$fail"
[ "$fail" = 0 ]
