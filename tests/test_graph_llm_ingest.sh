#!/usr/bin/env bash
# test_graph_llm_ingest.sh — the LLM extractor end to end with a tiny random
# GGUF model (its answers are JSON only thanks to constrained decoding; the
# names it invents are mostly not in the chunks): `cairn ingest --extractor
# both|llm --model`, `cairn graph extract`. Asserts invariants, not results:
# every output parsed, the estimate's prompt tokens are the ones sent, every
# stored mention's offsets give back its surface, dropped counts reported,
# facts carry the llm/1:<sha> id, a second run extracts nothing, a chunk with
# the text of one already read reuses its output, `both` keeps the rules
# facts, the graph store stays consistent, and a missing or corrupt model is
# a clear error that stores nothing.
set -u
BIN="${CAIRN_BIN:?}"; PY=/usr/bin/python3
T="${CAIRN_TMP:-/tmp}/graph_llm_ingest.$$"
rm -rf "$T"; mkdir -p "$T"
trap 'rm -rf "$T"' EXIT
. "$(dirname "$0")/lib.sh"
q() { sqlite3 "$KB/cairn.db" "$1"; }
# field NAME of JSON line N (1-based) of file F
jf() { "$PY" -c 'import json,sys; l=open(sys.argv[1]).read().splitlines()[int(sys.argv[2])-1]; v=json.loads(l)
for k in sys.argv[3].split("."): v=v[k]
print(v)' "$1" "$2" "$3"; }
setting() {   # setting KB KEY.SUB JSON-VALUE
  "$PY" - "$1/cairn.json" "$2" "$3" <<'P'
import json, sys
p, key, val = sys.argv[1], sys.argv[2].split("."), json.loads(sys.argv[3])
d = json.load(open(p)); o = d
for k in key[:-1]: o = o.setdefault(k, {})
o[key[-1]] = val
json.dump(d, open(p, "w"))
P
}

M="$T/m.gguf"
expect 0 "" -- "$BIN" model make-tiny --arch qwen2 --type q8_0 --ctx 2048 --seed 4 --out "$M"
mkdir -p "$T/d"
printf 'Ana Ruiz, CFO of Norvale Systems GmbH, met Kestrel Avionics in Rotterdam on 3 March 2024.\n' > "$T/d/a.txt"
printf 'International Business Machines (IBM) acquired Norvale Systems for EUR 40 million.\n\nLater IBM bought Quillon Labs Ltd.\n' > "$T/d/b.txt"
printf 'The PX-9000-v2 scanner, made by Tern Logistics, ships to Hamburg in May.\n' > "$T/d/c.txt"

KB="$T/kb"
expect 0 "created" -- "$BIN" init "$KB"
setting "$KB" graph.llm_max_tokens 96
"$BIN" ingest "$KB" "$T/d" --extractor both --model "$M" --json > "$T/o1" 2> "$T/e1"; rc=$?
[ $rc = 0 ] && ok || bad "ingest --extractor both: exit $rc: $(cat "$T/e1")"
n=$(q "select count(*) from chunks")
[ "$n" -ge 3 ] && ok || bad "chunks stored ($n)"
X=$(jf "$T/o1" 1 extractor)
[[ "$X" =~ ^llm/1:[0-9a-f]{12}$ ]] && ok || bad "extractor id '$X'"
[ "$(jf "$T/o1" 1 estimate.chunks)" = "$n" ] && ok || bad "estimate: all chunks to extract"
[ "$(jf "$T/o1" 1 chunks_extracted)" = "$n" ] && ok || bad "every chunk extracted"
[ "$(jf "$T/o1" 1 outputs_unparsed)" = 0 ] && ok || bad "every output parsed"
[ "$(jf "$T/o1" 1 estimate.prompt_tokens)" = "$(jf "$T/o1" 1 prompt_tokens)" ] && ok || bad "estimated prompt tokens are the tokens sent"
"$PY" -c 'import sys; sys.exit(0 if float(sys.argv[1]) > 0 else 1)' "$(jf "$T/o1" 1 estimate.seconds)" && ok || bad "estimate has seconds"
for k in entities_kept entities_dropped relations_kept relations_dropped mentions; do
  v=$(jf "$T/o1" 1 $k 2>/dev/null); [[ "$v" =~ ^[0-9]+$ ]] && ok || bad "count $k reported ($v)"
done
[ "$(jf "$T/o1" 2 added)" = 3 ] && ok || bad "3 documents added"
[ "$(q "select count(*) from llm_extractions where extractor='$X'")" = "$n" ] && ok || bad "one llm_extractions row per chunk"
[ "$(q "select count(*) from llm_extractions where ltrim(output, ' '||char(9)||char(10)||char(13)) not like '{%'")" = 0 ] && ok || bad "outputs are JSON objects"
# both: the rules facts are there too, each fact with its extractor
[ "$(q "select count(*) from mentions where extractor='rules/1'")" -gt 5 ] && ok || bad "rules mentions kept with both"
[ "$(q "select count(*) from mentions where extractor not in ('rules/1', '$X')")" = 0 ] && ok || bad "mentions carry a known extractor"
[ "$(q "select count(*) from relations where extractor not in ('rules/1', '$X')")" = 0 ] && ok || bad "relations carry a known extractor"
[ "$(q "select count(*) from mentions where extractor='$X'")" = "$(jf "$T/o1" 1 mentions)" ] && ok || bad "llm mentions stored = reported"
# offsets give back the surface, for every mention of every extractor
[ "$(q "select count(*) from mentions m join chunks c on c.id=m.chunk_id where substr(c.text, m.start_char-c.start_char+1, m.end_char-m.start_char) <> m.surface")" = 0 ] && ok || bad "mention offsets match surfaces"
expect 0 "all checks passed" -- "$BIN" check "$KB"

# a second run reads nothing again
"$BIN" graph extract "$KB" --model "$M" --json > "$T/o2" 2>"$T/o2.err" || bad "graph extract: $(cat "$T/o2" "$T/o2.err")"
[ "$(jf "$T/o2" 1 chunks_extracted)" = 0 ] && ok || bad "second run extracts 0 chunks"
[ "$(jf "$T/o2" 1 chunks_skipped)" = "$n" ] && ok || bad "second run skips every chunk"
[ "$(jf "$T/o2" 1 estimate.chunks)" = 0 ] && ok || bad "second estimate: 0 chunks"

# a new document with an old chunk's text reuses that output: no model run
cp "$T/d/a.txt" "$T/d/a2.txt"
"$BIN" ingest "$KB" "$T/d" --extractor llm --model "$M" --json > "$T/o3" 2>"$T/o3.err" || bad "re-ingest: $(cat "$T/o3" "$T/o3.err")"
[ "$(jf "$T/o3" 1 chunks_extracted)" = 0 ] && ok || bad "same text: not extracted again"
[ "$(jf "$T/o3" 1 chunks_cached)" = 1 ] && ok || bad "same text: output reused"
[ "$(jf "$T/o3" 2 unchanged)" = 3 ] && ok || bad "unchanged documents"
[ "$(q "select count(*) from mentions where extractor='rules/1' and chunk_id=(select max(id) from chunks)")" = 0 ] && ok || bad "--extractor llm: no rules facts for the new chunk"
# a changed document: only its chunk goes to the model
printf 'The PX-9000-v2 scanner, made by Tern Logistics, ships to Hamburg in June.\n' > "$T/d/c.txt"
"$BIN" ingest "$KB" "$T/d" --extractor llm --model "$M" --json > "$T/o4" 2>"$T/o4.err" || bad "changed: $(cat "$T/o4" "$T/o4.err")"
[ "$(jf "$T/o4" 1 chunks_extracted)" = 1 ] && ok || bad "changed document: 1 chunk extracted"
[ "$(q "select count(*) from mentions m join chunks c on c.id=m.chunk_id where substr(c.text, m.start_char-c.start_char+1, m.end_char-m.start_char) <> m.surface")" = 0 ] && ok || bad "offsets after re-ingestion"
expect 0 "all checks passed" -- "$BIN" check "$KB"

# a missing or corrupt model: a clear error, nothing stored
docs=$(q "select count(*) from documents"); runs=$(q "select count(*) from llm_extractions")
printf 'Brand new text about Orla Finch.\n' > "$T/new.txt"
expect 1 "nonexistent.gguf" -- "$BIN" ingest "$KB" "$T/new.txt" --extractor llm --model "$T/nonexistent.gguf"
head -c 4096 /dev/urandom > "$T/bad.gguf"
expect 1 "bad.gguf.*(GGUF|magic)" -- "$BIN" ingest "$KB" "$T/new.txt" --extractor both --model "$T/bad.gguf"
printf 'GGUF' > "$T/trunc.gguf"; head -c 100 "$M" | tail -c 96 >> "$T/trunc.gguf"
expect 1 "trunc.gguf" -- "$BIN" graph extract "$KB" --model "$T/trunc.gguf"
expect 1 "needs a model" -- "$BIN" ingest "$KB" "$T/new.txt" --extractor llm
expect 2 "must be rules, llm, both or none" -- "$BIN" ingest "$KB" "$T/new.txt" --extractor magic
[ "$(q "select count(*) from documents")" = "$docs" ] && ok || bad "no document stored on a model error"
[ "$(q "select count(*) from llm_extractions")" = "$runs" ] && ok || bad "no extraction lost or added on a model error"

# an existing rules-only KB: --dry-run estimates only; then the settings
# choose the model, the store is rebuilt, and cairn check agrees
KB="$T/kb2"
expect 0 "created" -- "$BIN" init "$KB"
expect 0 "3 added" -- "$BIN" ingest "$KB" "$T/d/a.txt" "$T/d/b.txt" "$T/d/c.txt"
n=$(q "select count(*) from chunks")
"$BIN" graph extract "$KB" --model "$M" --dry-run --json > "$T/o5" 2>"$T/o5.err" || bad "dry run: $(cat "$T/o5" "$T/o5.err")"
[ "$(jf "$T/o5" 1 estimate.chunks)" = "$n" ] && ok || bad "dry run: estimate of every chunk"
[ "$(q "select count(*) from llm_extractions")" = 0 ] && ok || bad "dry run: nothing extracted"
setting "$KB" graph.llm_model "\"$M\""
setting "$KB" graph.llm_max_tokens 64
out=$("$BIN" graph extract "$KB" 2>&1); rc=$?
[ $rc = 0 ] && grep -q "llm extraction: $n chunks extracted" <<<"$out" && ok || bad "graph extract with the settings' model: $out"
# the store is rebuilt only when facts were added
m=$(q "select count(*) from mentions where extractor like 'llm/1:%'")
if [ "$m" = 0 ]; then ! grep -q "graph store rebuilt" <<<"$out" && ok || bad "no facts: no rebuild"
else grep -q "graph store rebuilt" <<<"$out" && ok || bad "facts: store rebuilt"; fi
[ "$(q "select count(*) from llm_extractions where extractor like 'llm/1:%'")" = "$n" ] && ok || bad "every chunk read once"
expect 0 "all checks passed" -- "$BIN" check "$KB"
# the found-name path through the catalog and the store, deterministically:
# an output recorded for a chunk's text (as if the model had answered it)
# is reused for a new chunk with that text
printf 'Orla Finch founded Brightwater Labs in Galway. Later, Brightwater Labs hired Sean Doyle.\n' > "$T/e.txt"
expect 0 "1 added" -- "$BIN" ingest "$KB" "$T/e.txt" --extractor rules
X=$(q "select distinct extractor from llm_extractions")
sha=$(q "select sha256 from chunks where text like 'Orla Finch%'")
q "insert into llm_extractions values (-1, '$X', '$sha', '{\"entities\":[{\"name\":\"Orla Finch\",\"type\":\"person\"},{\"name\":\"brightwater labs\",\"type\":\"organisation\"},{\"name\":\"Atlantis\",\"type\":\"place\"}],\"relations\":[{\"subject\":\"Brightwater Labs\",\"predicate\":\"hired\",\"object\":\"Sean Doyle\"},{\"subject\":\"Orla Finch\",\"predicate\":\"founded\",\"object\":\"Atlantis\"}]}', 0, 0, 0, 'x')"
"$BIN" graph extract "$KB" --json > "$T/o6" 2>"$T/o6.err" || bad "graph extract (reused output): $(cat "$T/o6" "$T/o6.err")"
[ "$(jf "$T/o6" 1 chunks_cached)" = 1 ] && ok || bad "recorded output reused"
[ "$(jf "$T/o6" 1 entities_kept)" = 2 ] && [ "$(jf "$T/o6" 1 entities_dropped)" = 1 ] && ok || bad "names kept/dropped: $(head -c 600 "$T/o6")"
[ "$(jf "$T/o6" 1 relations_kept)" = 1 ] && [ "$(jf "$T/o6" 1 relations_dropped)" = 1 ] && ok || bad "relations kept/dropped"
[ "$(q "select count(*) from mentions where extractor='$X' and surface='Brightwater Labs'")" = 2 ] && ok || bad "both occurrences, found ignoring case, with the text's surface"
[ "$(q "select count(*) from relations r join entities s on s.id=r.subject_id join entities o on o.id=r.object_id where r.extractor='$X' and r.predicate='hired' and o.label='Sean Doyle' and r.pattern='llm'")" = 1 ] && ok || bad "relation stored with the llm extractor"
[ "$(q "select count(*) from entities where key='orla finch'")" = 1 ] && ok || bad "entity resolved"
[ "$(q "select count(*) from mentions m join chunks c on c.id=m.chunk_id where substr(c.text, m.start_char-c.start_char+1, m.end_char-m.start_char) <> m.surface")" = 0 ] && ok || bad "offsets of the found names"
expect 0 "hired" -- "$BIN" graph triples "$KB"     # the store was rebuilt with the new facts
expect 0 "all checks passed" -- "$BIN" check "$KB"
# graph.extractor = llm in the settings: a plain ingest runs the LLM pass
setting "$KB" graph.extractor '"llm"'
expect 0 "llm extraction with llm/1:.*1 chunks to extract" -- "$BIN" ingest "$KB" "$T/new.txt"
[ "$(q "select count(*) from mentions m join chunks c on c.id=m.chunk_id where c.text like 'Brand new%' and m.extractor='rules/1'")" = 0 ] && ok || bad "graph.extractor llm: no rules facts"
expect 0 "all checks passed" -- "$BIN" check "$KB"

# chunks too long for the model's context: counted with the reason, stored
# without LLM facts, read by a later pass with a larger context
KB="$T/kb3"
expect 0 "created" -- "$BIN" init "$KB"
setting "$KB" graph.llm_ctx 200
setting "$KB" graph.llm_max_tokens 32
expect 0 "3 chunks failed.*context" -- "$BIN" ingest "$KB" "$T/d/a.txt" "$T/d/b.txt" "$T/d/c.txt" --extractor llm --model "$M"
[ "$(q "select count(*) from documents")" = 3 ] && [ "$(q "select count(*) from llm_extractions")" = 0 ] && ok || bad "too long: documents stored, no extraction recorded"
setting "$KB" graph.llm_ctx 2048
expect 0 "3 chunks extracted" -- "$BIN" graph extract "$KB" --model "$M"
expect 0 "all checks passed" -- "$BIN" check "$KB"

# schema 5 -> 6 (llm_extractions), also when a reader opens the KB first
KB="$T/kb5"
expect 0 "created" -- "$BIN" init "$KB"
expect 0 "1 added" -- "$BIN" ingest "$KB" "$T/d/a.txt"
q "drop table llm_extractions; pragma user_version = 5"
expect 0 "Ana Ruiz" -- "$BIN" search "$KB" "Ana Ruiz"
[ "$(q "pragma user_version")" = 6 ] && [ "$(q "select count(*) from llm_extractions")" = 0 ] && ok || bad "migrated to schema 6 by a reader"
expect 0 "1 chunks extracted" -- "$BIN" graph extract "$KB" --model "$M"

echo "graph_llm_ingest: $pass passed, $fail failed"
[ $fail = 0 ]
