#!/usr/bin/env bash
# writer_job_cg.sh — instructions per write job of `cairn serve`'s writer
# (issue 7), counted with callgrind (repeatable where wall time is not):
# a server on a fresh KB of datasets/corpus (rules extraction), N one-chunk
# documents POSTed one after another; only the job's own functions are
# collected (serve_writer_acquire, ingest_job, serve_writer_release,
# cg_ingest_done), not the catch-ups between jobs.
#
# SETUP=KB_DIR starts every server on a copy of that KB instead of one
# built by BUILD_DIR (two builds' runs then start from the same FTS5
# segments: a KB's segment levels move the jobs' automerge work by ~10%);
# COLLECT="f1 f2" collects those functions instead (ingest_job alone: the
# job's own path, without the lock wait and the release's catch-ups);
# KEEP=FILE keeps the callgrind output.
#
# Usage: [SETUP=KB] [COLLECT=...] [KEEP=FILE] bench/writer_job_cg.sh BUILD_DIR [N=100] [PORT=18601]
# Needs: valgrind, curl.
set -u
B="${1:?usage: writer_job_cg.sh BUILD_DIR [N] [PORT]}"; N="${2:-100}"; PORT="${3:-18601}"
SRC="$(cd "$(dirname "$0")/.." && pwd)"
T=$(mktemp -d); VP=""
cleanup() { [ -n "$VP" ] && kill -KILL "$VP" 2>/dev/null; rm -rf "$T"; }
trap cleanup EXIT
if [ -n "${SETUP:-}" ]; then cp -r "$SETUP" "$T/kb"
else "$B/cairn" init "$T/kb" >/dev/null && "$B/cairn" ingest "$T/kb" "$SRC/datasets/corpus" >/dev/null 2>&1
fi || { echo "setup failed"; exit 1; }
TOGGLES=()
for f in ${COLLECT:-serve_writer_acquire ingest_job serve_writer_release cg_ingest_done}; do
  TOGGLES+=("--toggle-collect=$f")
done
valgrind --tool=callgrind --callgrind-out-file="$T/cg.out" "${TOGGLES[@]}" \
  "$B/cairn" serve "$T/kb" --listen "127.0.0.1:$PORT" --threads 2 >"$T/log" 2>&1 &
VP=$!
for _ in $(seq 600); do grep -q 'http://' "$T/log" && break; sleep 0.2; done
grep -q 'http://' "$T/log" || { echo "server did not start: $(cat "$T/log")"; exit 1; }
for i in $(seq "$N"); do
  curl -s -o /dev/null -H 'Content-Type: application/json' \
    -d "{\"uri\":\"w/$i.txt\",\"text\":\"Load document $i about Norvale Systems and Ana Ruiz $((i * 31)) in Lisbon.\"}" \
    "http://127.0.0.1:$PORT/v1/documents"
done
kill -TERM "$VP"; wait "$VP"; VP=""
[ -n "${KEEP:-}" ] && cp "$T/cg.out" "$KEEP"
tot=$(callgrind_annotate "$T/cg.out" 2>/dev/null | grep -m1 "PROGRAM TOTALS" | awk '{print $1}' | tr -d ,)
echo "$B: $tot instructions in $N write jobs: $((tot / N)) per job"
