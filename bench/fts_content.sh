#!/usr/bin/env bash
# fts_content.sh — what a build's ingestion leaves in chunks_fts, for
# comparing two builds (issue 4, ftsstage): extraction none; `cairn ingest`
# of CISI (/tmp/rt-real/cisi, from REAL_ONLY=/tmp/rt-real
# bench/graph_ingest.sh) plus a JSONL file of two records; then one `cairn
# ingest` of CISI again (c00007.txt changed, the JSONL file with record a
# changed and b gone) together with MuSiQue, so replacements and a removal
# run in a batch with new inputs; then `cairn rm` of one CISI file.  Writes
# to OUT: SHA-256 of the index content (fts5vocab 'instance': term, rowid,
# column, offset), of chunks_fts_docsize, of the averages record and of
# chunks; seven MATCH queries' top 20 (rowid, bm25); FTS5 integrity-check;
# the segment count; `cairn check`.  Compare two OUT directories with cmp
# (check.txt names the KB's temporary path).
# Usage: bench/fts_content.sh BUILD_DIR OUT_DIR [REAL=/tmp/rt-real]
set -eu
B=$1; OUT=$2; REAL=${3:-/tmp/rt-real}; T=$(mktemp -d); trap 'rm -rf "$T"' EXIT
mkdir -p "$OUT"
cp -r "$REAL/cisi" "$T/in1"; cp -r "$REAL/musique" "$T/in2"
printf '{"id":"a","text":"Jsonl record alpha about retrieval of information."}\n{"id":"b","text":"Jsonl record beta about libraries."}\n' > "$T/in1/recs.jsonl"
"$B/cairn" init "$T/kb" >/dev/null
sed -i 's/"format": 1,.*/"format": 1, "graph": {"extractor": "none", "store": "none"},/' "$T/kb/cairn.json"
"$B/cairn" ingest "$T/kb" "$T/in1" > "$OUT/log" 2>&1
# second ingestion: the changed file, the JSONL file (a record gone), MuSiQue, in batches of 1,000
echo "An added sentence on information retrieval systems." >> "$T/in1/c00007.txt"
printf '{"id":"a","text":"Jsonl record alpha about retrieval of information, changed."}\n' > "$T/in1/recs.jsonl"
"$B/cairn" ingest "$T/kb" "$T/in1" "$T/in2" >> "$OUT/log" 2>&1
"$B/cairn" rm "$T/kb" "$T/in1/c00100.txt" >> "$OUT/log" 2>&1
DB="$T/kb/cairn.db"
sqlite3 "$DB" "CREATE VIRTUAL TABLE temp.v USING fts5vocab(main, 'chunks_fts', 'instance'); SELECT term, doc, col, offset FROM temp.v ORDER BY 1,2,3,4" | sha256sum > "$OUT/vocab.sha"
sqlite3 "$DB" "CREATE VIRTUAL TABLE temp.v USING fts5vocab(main, 'chunks_fts', 'instance'); SELECT count(*), count(DISTINCT doc) FROM temp.v" > "$OUT/vocab.count"
sqlite3 "$DB" "SELECT id, sz FROM chunks_fts_docsize ORDER BY id" | sha256sum > "$OUT/docsize.sha"
sqlite3 "$DB" "SELECT id, doc_id, text, section FROM chunks ORDER BY id" | sha256sum > "$OUT/chunks.sha"
sqlite3 "$DB" "SELECT block FROM chunks_fts_data WHERE id = 1" | sha256sum > "$OUT/averages.sha"
for q in 'information retrieval' 'library' 'computer AND index' '"search strategy"' 'football' 'river OR mountain' 'alpha'; do
  echo "== $q"; sqlite3 "$DB" "SELECT rowid, printf('%.6f', bm25(chunks_fts)) FROM chunks_fts WHERE chunks_fts MATCH '$(echo "$q" | sed "s/'/''/g")' ORDER BY rank, rowid LIMIT 20"
done > "$OUT/queries.txt"
sqlite3 "$DB" "INSERT INTO chunks_fts(chunks_fts, rank) VALUES ('integrity-check', 1); SELECT 'integrity ok';" > "$OUT/integrity.txt" 2>&1 || true
sqlite3 "$DB" "SELECT count(DISTINCT segid) FROM chunks_fts_idx" > "$OUT/segments.txt"
"$B/cairn" check "$T/kb" > "$OUT/check.txt" 2>&1 || echo "check failed rc=$?" >> "$OUT/check.txt"
sqlite3 "$DB" "SELECT count(*) FROM documents WHERE deleted=0; SELECT count(*) FROM chunks;" > "$OUT/counts.txt"
