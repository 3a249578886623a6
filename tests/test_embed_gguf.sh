#!/usr/bin/env bash
# test_embed_gguf.sh — the retrieval `gguf` embedder on a real KB: a KB
# reindexed with a tiny BERT (make-tiny) answers vector search with the
# model's vectors (a chunk's own text finds that chunk at cosine ~1, and the
# score equals the cosine of `cairn model embed` vectors); ingestion embeds
# new chunks with the model; another model file is refused with a message
# naming both identities; bad model files are clear errors that leave the
# KB's settings alone; embedder.model relative to the KB directory works.
set -u
BIN="${CAIRN_BIN:?}"; SRC="${CAIRN_SRC:?}"; PY=/usr/bin/python3
. "$SRC/tests/lib.sh"
T="${CAIRN_TMP:-/tmp}/egguf.$$"; mkdir -p "$T"; trap 'rm -rf "$T"' EXIT
KB="$T/kb"
VOCAB="${CAIRN_SHARED:-}/vocab/ggml-vocab-bert-bge.gguf"
[ -f "$VOCAB" ] || VOCAB=builtin
"$BIN" model make-tiny --arch bert --vocab "$VOCAB" --seed 11 --out "$T/m.gguf" >/dev/null || { echo "make-tiny failed"; exit 1; }
"$BIN" init "$KB" >/dev/null
"$BIN" ingest "$KB" "$SRC/datasets/corpus/places" >/dev/null 2>&1
nchunks=$("$PY" -c 'import sqlite3, sys; print(sqlite3.connect(sys.argv[1]).execute("select count(*) from chunks").fetchone()[0])' "$KB/cairn.db")

expect 0 "reindexed .*: $nchunks vectors" -- "$BIN" reindex "$KB" --embedder "gguf:$T/m.gguf"
grep -q '"name":[[:space:]]*"gguf"' "$KB/cairn.json" && grep -q "\"model\":[[:space:]]*\"$T/m.gguf\"" "$KB/cairn.json" \
  && ok || bad "cairn.json does not name the gguf embedder and its model: $(cat "$KB/cairn.json")"

# a chunk's own text is its nearest neighbour, at cosine ~1
text=$("$PY" -c 'import sqlite3, sys; print(sqlite3.connect(sys.argv[1]).execute("select text from chunks where id = 3").fetchone()[0])' "$KB/cairn.db")
out=$("$BIN" search "$KB" "$text" --mode vector -k 3 --json 2>&1)
"$PY" -c 'import json, sys; h = json.loads(sys.argv[1])["hits"]; sys.exit(0 if h[0]["chunk"] == 3 and abs(h[0]["score"] - 1) < 1e-4 and len(h) == 3 else 1)' "$out" \
  && ok || bad "vector search for chunk 3's text: $out"
# the lane's score is the cosine of the model's vectors (cairn model embed)
other=$("$PY" -c 'import sqlite3, sys; print(sqlite3.connect(sys.argv[1]).execute("select text from chunks where id = 5").fetchone()[0])' "$KB/cairn.db")
"$BIN" model embed "$T/m.gguf" "river town harbour" "$other" > "$T/v.txt"
out=$("$BIN" search "$KB" "river town harbour" --mode vector -k 100 --json 2>&1)
"$PY" -c 'import json, sys, numpy as np
v = np.loadtxt(sys.argv[2]); want = float(v[0] @ v[1])
h = [x for x in json.loads(sys.argv[1])["hits"] if x["chunk"] == 5]
sys.exit(0 if h and abs(h[0]["score"] - want) < 1e-4 else 1)' "$out" "$T/v.txt" \
  && ok || bad "vector score of chunk 5 is not the cosine of the model vectors: $out"
expect 0 "places/" -- "$BIN" search "$KB" "river town" -k 3

# ingestion embeds new chunks with the model
expect 0 "[1-9][0-9]* vectors" -- "$BIN" ingest "$KB" "$SRC/datasets/corpus/people"
expect 0 "" -- "$BIN" check "$KB"

# another model at the same path: refused, naming both identities
"$BIN" model make-tiny --arch bert --vocab "$VOCAB" --seed 12 --out "$T/m.gguf" >/dev/null
out=$("$BIN" search "$KB" "river" --mode vector 2>&1); rc=$?
[ $rc = 1 ] && [ "$(grep -o 'sha256=[0-9a-f]*' <<<"$out" | sort -u | wc -l)" = 2 ] && grep -q "gguf/1:bert:dim=64" <<<"$out" \
  && ok || bad "model mismatch not refused with both identities: rc=$rc $out"
expect 1 "reindex" -- "$BIN" ingest "$KB" "$SRC/datasets/corpus/news"
expect 0 "vectors" -- "$BIN" reindex "$KB"
expect 0 "chunk [0-9]+ .*score" -- "$BIN" search "$KB" "river" --mode vector -k 1

# bad model files: clear errors, settings unchanged
cp "$KB/cairn.json" "$T/settings.before"
head -c 20000 "$T/m.gguf" > "$T/cut.gguf"
expect 1 "cut.gguf" -- "$BIN" reindex "$KB" --embedder "gguf:$T/cut.gguf"
"$BIN" model make-tiny --arch qwen2 --out "$T/dec.gguf" >/dev/null
expect 1 "not an embedding model" -- "$BIN" reindex "$KB" --embedder "gguf:$T/dec.gguf"
if [ -f "${CAIRN_SHARED:-}/vocab/ggml-vocab-gpt-2.gguf" ]; then
  expect 1 "architecture 'gpt2'" -- "$BIN" reindex "$KB" --embedder "gguf:$CAIRN_SHARED/vocab/ggml-vocab-gpt-2.gguf"
fi
expect 1 "No such file" -- "$BIN" reindex "$KB" --embedder "gguf:$T/missing.gguf"
expect 1 "needs a model file" -- "$BIN" reindex "$KB" --embedder gguf
cmp -s "$KB/cairn.json" "$T/settings.before" && ok || bad "a failed reindex changed cairn.json"

# a decoder whose metadata says pooling last is an embedder too
"$BIN" model make-tiny --arch qwen3 --pooling last --out "$T/dec-last.gguf" >/dev/null
expect 0 "reindexed" -- "$BIN" reindex "$KB" --embedder "gguf:$T/dec-last.gguf"
expect 0 "chunk [0-9]+ .*score" -- "$BIN" search "$KB" "river" --mode vector -k 1

# embedder.model relative to the KB directory
cp "$T/m.gguf" "$KB/model.gguf"
"$PY" -c 'import json, sys; p = sys.argv[1]; s = json.load(open(p)); s["embedder"] = {"name": "gguf", "model": "model.gguf"}; json.dump(s, open(p, "w"))' "$KB/cairn.json"
expect 0 "reindexed" -- "$BIN" reindex "$KB"
expect 0 "chunk [0-9]+ .*score" -- "$BIN" search "$KB" "river" --mode vector -k 1

# query / document prefixes (settings): queries get one, chunks the other;
# they are part of the identity, so changing them needs a reindex
"$PY" -c 'import json, sys; p = sys.argv[1]; s = json.load(open(p)); s["embedder"]["query_prefix"] = "query: "; s["embedder"]["doc_prefix"] = "passage: "; json.dump(s, open(p, "w"))' "$KB/cairn.json"
expect 1 'qp=\"query: \":dp=\"passage: \"' -- "$BIN" search "$KB" "river" --mode vector
expect 0 "reindexed" -- "$BIN" reindex "$KB"
"$BIN" model embed "$KB/model.gguf" "query: river town harbour" "passage: $other" > "$T/v.txt"
out=$("$BIN" search "$KB" "river town harbour" --mode vector -k 100 --json 2>&1)
"$PY" -c 'import json, sys, numpy as np
v = np.loadtxt(sys.argv[2]); want = float(v[0] @ v[1])
h = [x for x in json.loads(sys.argv[1])["hits"] if x["chunk"] == 5]
sys.exit(0 if h and abs(h[0]["score"] - want) < 1e-4 else 1)' "$out" "$T/v.txt" \
  && ok || bad "with prefixes, the score of chunk 5 is not cos(query: ..., passage: ...): $out"
# embedder.max_tokens cuts texts (and is part of the identity)
"$PY" -c 'import json, sys; p = sys.argv[1]; s = json.load(open(p)); s["embedder"]["max_tokens"] = 16; json.dump(s, open(p, "w"))' "$KB/cairn.json"
expect 1 "ctx=16" -- "$BIN" search "$KB" "river" --mode vector
expect 0 "reindexed" -- "$BIN" reindex "$KB"
"$BIN" model embed "$KB/model.gguf" --max-tokens 16 "query: river town harbour" "passage: $other" > "$T/v.txt"
out=$("$BIN" search "$KB" "river town harbour" --mode vector -k 100 --json 2>&1)
"$PY" -c 'import json, sys, numpy as np
v = np.loadtxt(sys.argv[2]); want = float(v[0] @ v[1])
h = [x for x in json.loads(sys.argv[1])["hits"] if x["chunk"] == 5]
sys.exit(0 if h and abs(h[0]["score"] - want) < 1e-4 else 1)' "$out" "$T/v.txt" \
  && ok || bad "with max_tokens 16, the score of chunk 5 is not the cosine of 16-token vectors: $out"

echo "embed_gguf: $pass passed, $fail failed"
[ $fail = 0 ]
