#!/usr/bin/env bash
# test_graph_writer.sh — the store's writer puts sorted batches straight
# into the Berkeley DB files (graph/bdb_direct.c); CAIRN_GRAPH_WRITER=librdf
# sends every pair through librdf as before.  On datasets/corpus, then
# after replacing one document, removing another and adding one back, both
# writers give the same (triple, context) rows (`cairn graph triples`),
# `cairn check` passes, and a removal retracts exactly that document's
# contexts; a rebuild gives the same rows again.
set -u
BIN="${CAIRN_BIN:?}"
SRC="${CAIRN_SRC:?}"
T="${CAIRN_TMP:-/tmp}/graph_writer.$$"
rm -rf "$T"; mkdir -p "$T"
trap 'rm -rf "$T"' EXIT
. "$(dirname "$0")/lib.sh"
same() { [ "$1" = "$2" ] && ok || bad "$3: got '$1', want '$2'"; }
# (triple, context) rows; ingestion times (prov:generatedAtTime,
# prov:startedAtTime) differ between the two KBs and are masked
rows() { "$BIN" graph triples "$1" 2>/dev/null |
         sed -E 's/"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9:.]+Z"/"TIME"/g' | LC_ALL=C sort; }

cp -r "$SRC/datasets/corpus" "$T/d"
F1=$(cd "$T/d" && find . -type f -name '*.md' | LC_ALL=C sort | sed -n '1s|^\./||p')
F2=$(cd "$T/d" && find . -type f -name '*.md' | LC_ALL=C sort | sed -n '2s|^\./||p')
[ -n "$F1" ] && [ -n "$F2" ] && ok || bad "two corpus files to change"
cp "$T/d/$F1" "$T/f1.orig"
for w in direct librdf; do
  expect 0 "created" -- "$BIN" init "$T/$w"
  expect 0 "added" -- env CAIRN_GRAPH_WRITER=$w "$BIN" ingest "$T/$w" "$T/d"
done
rows "$T/direct" > "$T/a.direct"; rows "$T/librdf" > "$T/a.librdf"
[ "$(wc -l < "$T/a.direct")" -gt 1000 ] && ok || bad "the corpus fills the store: $(wc -l < "$T/a.direct") rows"
cmp -s "$T/a.direct" "$T/a.librdf" && ok || bad "same rows after ingestion: $(diff "$T/a.direct" "$T/a.librdf" | head -5)"
expect 0 "graph store matches" -- "$BIN" check "$T/direct"

# a catch-up that removes and adds: replace F1, remove F2, then add F2 back
printf 'Ana Ruiz, CFO of Norvale Systems GmbH, visited Oslo.\n\nKestrel Avionics acquired Quillon Labs Ltd.\n' > "$T/new.txt"
for w in direct librdf; do
  KB="$T/$w"
  DOC2=$(sqlite3 "$KB/cairn.db" "select id from documents where uri like '%/$F2' and deleted = 0")
  expect 0 "" -- env CAIRN_GRAPH_WRITER=$w "$BIN" ingest "$KB" "$T/new.txt"
  cp "$T/new.txt" "$T/d/$F1"
  expect 0 "" -- env CAIRN_GRAPH_WRITER=$w "$BIN" ingest "$KB" "$T/d/$F1"
  expect 0 "" -- env CAIRN_GRAPH_WRITER=$w "$BIN" rm "$KB" "$T/d/$F2"
  n=$("$BIN" graph triples "$KB" 2>/dev/null | awk -v d="urn:cairn:doc:$DOC2" '$NF == d' | wc -l)
  same "$n" 0 "$w: the removed document's context is gone"
  expect 0 "" -- env CAIRN_GRAPH_WRITER=$w "$BIN" ingest "$KB" "$T/d/$F2"
  cp "$T/f1.orig" "$T/d/$F1"
done
rows "$T/direct" > "$T/b.direct"; rows "$T/librdf" > "$T/b.librdf"
cmp -s "$T/b.direct" "$T/b.librdf" && ok || bad "same rows after replace, rm, add: $(diff "$T/b.direct" "$T/b.librdf" | head -5)"
cmp -s "$T/a.direct" "$T/b.direct" && bad "the changes changed the rows" || ok
expect 0 "graph store matches" -- "$BIN" check "$T/direct"
expect 0 "graph store matches" -- "$BIN" check "$T/librdf"
# a rebuild through each writer: the same rows as the catch-ups gave
expect 0 "" -- "$BIN" graph rebuild "$T/direct"
rows "$T/direct" > "$T/c.direct"
cmp -s "$T/b.direct" "$T/c.direct" && ok || bad "a rebuild gives the rows the catch-ups gave"
expect 0 "" -- env CAIRN_GRAPH_WRITER=librdf "$BIN" graph rebuild "$T/librdf"
rows "$T/librdf" > "$T/c.librdf"
cmp -s "$T/c.direct" "$T/c.librdf" && ok || bad "same rows after rebuilds"
echo "graph_writer: $pass passed, $fail failed"
[ "$fail" = 0 ]
