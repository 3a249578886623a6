#!/usr/bin/env bash
# names_content.sh — what a build's ingestion with the rules extractor
# leaves in entity_names (issue 4, entnames), for comparing two builds:
# `cairn ingest` of CISI (/tmp/rt-real/cisi, from REAL_ONLY=/tmp/rt-real
# bench/graph_ingest.sh) plus a JSONL file of two records; then one `cairn
# ingest` of CISI again (c00007.txt changed, the JSONL file with record a
# changed and b gone), a JSONL file that fails at its second line after a
# good first record, and MuSiQue, so a replacement, a removal and a failed
# input run in batches with new inputs; then `cairn rm` of one CISI file.
# Writes to OUT: SHA-256 of the rows (rowid, names), of the index content
# (fts5vocab 'instance'), of entity_names_docsize and of the averages
# record; eight MATCH queries' top 20 (rowid, bm25); FTS5 integrity-check;
# rows matching the failed input's names; `cairn check`.  Compare two OUT
# directories with cmp (check.txt names the KB's temporary path).
# Usage: bench/names_content.sh BUILD_DIR OUT_DIR [REAL=/tmp/rt-real]
set -eu
B=$1; OUT=$2; REAL=${3:-/tmp/rt-real}; T=$(mktemp -d); trap 'rm -rf "$T"' EXIT
mkdir -p "$OUT"
cp -r "$REAL/cisi" "$T/in1"; cp -r "$REAL/musique" "$T/in2"
printf '{"id":"a","text":"Jsonl record alpha: Vantor Ellison of Kestrel Avionics (KA) met Mira Quell in Oslo."}\n{"id":"b","text":"Jsonl record beta: Dorun Abbey hosted the Norvale Systems board."}\n' > "$T/in1/recs.jsonl"
"$B/cairn" init "$T/kb" >/dev/null
sed -i 's/"format": 1,.*/"format": 1, "graph": {"extractor": "rules", "store": "none"},/' "$T/kb/cairn.json"
"$B/cairn" ingest "$T/kb" "$T/in1" > "$OUT/log" 2>&1
# second ingestion: the changed file, the JSONL file (a record gone), a
# failing JSONL file, MuSiQue, in batches of 1,000
echo "An added sentence: International Business Machines (IBM) hired Vantor Ellison in Lisbon." >> "$T/in1/c00007.txt"
printf '{"id":"a","text":"Jsonl record alpha, changed: Mira Quell left Kestrel Avionics for Zentrix Labs."}\n' > "$T/in1/recs.jsonl"
mkdir "$T/in3"
printf '{"id":"x","text":"Zorbaq Quintel Corporation (ZQC) appointed Yelva Trask in Quorvik."}\n{"id":"y","text": broken\n' > "$T/in3/bad.jsonl"
"$B/cairn" ingest "$T/kb" "$T/in1" "$T/in3" "$T/in2" >> "$OUT/log" 2>&1 || echo "ingest rc=$?" >> "$OUT/log"
"$B/cairn" rm "$T/kb" "$T/in1/c00100.txt" >> "$OUT/log" 2>&1
DB="$T/kb/cairn.db"
sqlite3 "$DB" "SELECT rowid, names FROM entity_names ORDER BY rowid" | sha256sum > "$OUT/rows.sha"
sqlite3 "$DB" "SELECT count(*), min(rowid), max(rowid), sum(length(names)) FROM entity_names" > "$OUT/rows.count"
sqlite3 "$DB" "CREATE VIRTUAL TABLE temp.v USING fts5vocab(main, 'entity_names', 'instance'); SELECT term, doc, col, offset FROM temp.v ORDER BY 1,2,3,4" | sha256sum > "$OUT/vocab.sha"
sqlite3 "$DB" "SELECT id, sz FROM entity_names_docsize ORDER BY id" | sha256sum > "$OUT/docsize.sha"
sqlite3 "$DB" "SELECT block FROM entity_names_data WHERE id = 1" | sha256sum > "$OUT/averages.sha"
for q in 'IBM' 'international AND machines' 'kestrel' 'quell' 'university' 'john OR mary' '"new york"' 'zentrix'; do
  echo "== $q"; sqlite3 "$DB" "SELECT rowid, printf('%.6f', bm25(entity_names)) FROM entity_names WHERE entity_names MATCH '$(echo "$q" | sed "s/'/''/g")' ORDER BY rank, rowid LIMIT 20"
done > "$OUT/queries.txt"
sqlite3 "$DB" "SELECT count(*) FROM entity_names WHERE entity_names MATCH 'zorbaq OR trask OR quorvik OR zqc'; SELECT count(*) FROM aliases WHERE alias LIKE '%Zorbaq%'" > "$OUT/failed_input.txt"
sqlite3 "$DB" "SELECT count(*) FROM entities e WHERE (SELECT count(*) FROM entity_names n WHERE n.rowid = e.id) <> (EXISTS (SELECT 1 FROM aliases a WHERE a.entity_id = e.id))" > "$OUT/row_iff_aliases.txt"
sqlite3 "$DB" "INSERT INTO entity_names(entity_names, rank) VALUES ('integrity-check', 1); SELECT 'integrity ok';" > "$OUT/integrity.txt" 2>&1 || true
"$B/cairn" check "$T/kb" > "$OUT/check.txt" 2>&1 || echo "check failed rc=$?" >> "$OUT/check.txt"
sqlite3 "$DB" "SELECT count(*) FROM documents WHERE deleted=0; SELECT count(*) FROM entities; SELECT count(*) FROM aliases;" > "$OUT/counts.txt"
