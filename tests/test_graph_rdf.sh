#!/usr/bin/env bash
# test_graph_rdf.sh — the Redland store under KB/graph/ (graph/rdf.c) with
# real files: written by ingest, caught up on replace and rm (exactly the
# removed chunks' contexts go; a triple another chunk supports stays),
# counts matching SQLite, rebuilt after damage (truncated file, interrupted
# update, deleted state), `cairn graph rebuild`, `cairn check`; names and
# literals that need escaping; and the `cairn graph` command (sparql with
# its refusals, limit and timeout; export; subgraph; entities).
set -u
BIN="${CAIRN_BIN:?}"
T="${CAIRN_TMP:-/tmp}/graph_rdf.$$"
rm -rf "$T"; mkdir -p "$T"
trap 'rm -rf "$T"' EXIT
. "$(dirname "$0")/lib.sh"
KB="$T/kb"
q()  { sqlite3 "$KB/cairn.db" "$1"; }
# a SPARQL count: the number in the one result row
sc() { "$BIN" graph sparql "$KB" "SELECT (COUNT(*) AS ?n) WHERE { $1 }" | sed -n '2s/^"\([0-9]*\)".*/\1/p'; }
ask() { "$BIN" graph sparql "$KB" "ASK { $1 }"; }
# (triple, context) rows from the triples iterator (exact per context, unlike
# librdf's GRAPH ?g over a triple with no variable)
tc() { "$BIN" graph triples "$KB" "$@" 2>/dev/null | wc -l; }
same() { [ "$1" = "$2" ] && ok || bad "$3: got '$1', want '$2'"; }
R='<urn:cairn:rel:'
CN='urn:cairn:ns#'

expect 0 "created" -- "$BIN" init "$KB"
mkdir -p "$T/d"
printf 'Ana Ruiz, CFO of Norvale Systems GmbH, met Kestrel Avionics in Rotterdam.\n' > "$T/d/a.txt"
printf 'Ana Ruiz, CFO of Norvale Systems GmbH, visited Oslo.\n' > "$T/d/b.txt"
printf 'International Business Machines (IBM) acquired Quillon Labs Ltd.\n' > "$T/d/c.txt"
printf 'nothing here but lower case words.\n' > "$T/d/plain.txt"
expect 0 "4 added" -- "$BIN" ingest "$KB" "$T/d"
PLAIN=$(q "select c.id from chunks c join documents d on d.id=c.doc_id where d.uri like '%plain.txt'")
same "$(tc --chunk "$PLAIN")" 0 "a chunk with nothing extracted has no context"
[ -f "$KB/graph/state" ] && grep -q '^clean 1$' "$KB/graph/state" && ok || bad "state written, clean"
same "$(sed -n 's/^generation //p' "$KB/graph/state")" "$(q 'select max(generation) from changes')" "state generation"

# counts match the catalog
same "$("$BIN" graph triples "$KB" 2>/dev/null | awk '{print $NF}' | sort -u | wc -l)" \
     "$(q 'select (select count(*) from chunks c where exists (select 1 from mentions where chunk_id = c.id) or exists (select 1 from relations where chunk_id = c.id)) + (select count(*) from documents where deleted = 0)')" "contexts = chunks with facts + documents"
# graph.store_assertions "compact" (the default): an assertion per confirmed relation
[ "$(q "select count(*) from relations where status = 'inferred'")" -gt 0 ] && ok || bad "the test text has inferred relations"
same "$(sc "?a a <${CN}Assertion>")" "$(q "select count(*) from relations where status = 'confirmed'")" "one assertion per confirmed relation"
same "$(sc "GRAPH ?c { ?s ?p ?o } FILTER(STRSTARTS(STR(?p), 'urn:cairn:rel:'))")" "$(q 'select count(*) from (select distinct chunk_id, subject_id, predicate, object_id from relations)')" "every relation's triple in a chunk's context"
same "$(sc "?c <${CN}mentions> ?e")" "$(q 'select count(*) from (select distinct chunk_id, entity_id from mentions)')" "mentions"
same "$(sc "?d a <${CN}Document>")" "$(q 'select count(*) from documents where deleted = 0')" "documents"
same "$(sc "?c <http://www.w3.org/ns/prov#wasDerivedFrom> ?d . ?d a <${CN}Document>")" "$(q 'select count(*) from chunks c where exists (select 1 from mentions where chunk_id = c.id)')" "chunks with facts derived from documents"
ENT_ANA='<urn:cairn:entity:ana%20ruiz>'
ENT_NOR='<urn:cairn:entity:norvale%20systems>'
# cfo_of is stated by two chunks: two contexts (support 2)
CFO=(--subject urn:cairn:entity:ana%20ruiz --predicate urn:cairn:rel:cfo_of --object urn:cairn:entity:norvale%20systems)
same "$(tc "${CFO[@]}")" 2 "support = contexts"
same "$(tc "${CFO[@]}")" \
     "$(q "select count(distinct r.chunk_id) from relations r join entities s on s.id=r.subject_id join entities o on o.id=r.object_id where s.key='ana ruiz' and r.predicate='cfo_of' and o.key='norvale systems'")" "support matches SQLite"
expect 0 "ok +graph store matches" -- "$BIN" check "$KB"

# provenance: assertion -> chunk -> document, run with a time
A_CHUNK=$(q "select id from chunks where doc_id=(select id from documents where uri like '%a.txt' and deleted=0)")
[ "$(ask "GRAPH <urn:cairn:chunk:$A_CHUNK> { ?a a <${CN}Assertion> ; <http://www.w3.org/1999/02/22-rdf-syntax-ns#subject> $ENT_ANA ; <${CN}confidence> ?c ; <${CN}status> <${CN}confirmed> . $ENT_ANA <urn:cairn:rel:cfo_of> $ENT_NOR }")" = true ] && ok || bad "compact assertion in its chunk's context"
[ "$(ask "?a a <${CN}Assertion> ; <${CN}startChar> ?x")" = false ] && ok || bad "compact assertions leave offsets to the catalog"
# entity descriptions live in the document's context, mentions in the chunk's
[ "$(ask "GRAPH <urn:cairn:doc:$(q "select doc_id from chunks where id=$A_CHUNK")> { $ENT_ANA <http://www.w3.org/2000/01/rdf-schema#label> ?l ; a <${CN}Person> } GRAPH <urn:cairn:chunk:$A_CHUNK> { ?c <${CN}mentions> $ENT_ANA }")" = true ] && ok || bad "entity described in its document's context, mentioned in its chunk's"
[ "$(ask "?d <http://www.w3.org/ns/prov#wasGeneratedBy> ?r . ?r a <${CN}ExtractionRun> ; <http://www.w3.org/ns/prov#startedAtTime> ?t ; <http://www.w3.org/ns/prov#wasAssociatedWith> <urn:cairn:extractor:rules%2F1>")" = true ] && ok || bad "runs with PROV-O"

# replace a.txt: its old chunk's context goes, the triple stays in b's context
printf 'Bo Lind joined Kestrel Avionics.\n' > "$T/d/a.txt"
expect 0 "1 replaced" -- "$BIN" ingest "$KB" "$T/d"
same "$(tc --chunk "$A_CHUNK")" 0 "replaced chunk's context removed"
same "$(tc "${CFO[@]}")" 1 "triple stays with one support"
same "$(sc "?a a <${CN}Assertion>")" "$(q "select count(*) from relations where status = 'confirmed'")" "assertions after replace"
expect 0 "all checks passed" -- "$BIN" check "$KB"

# rm b.txt: the last support goes
expect 0 "removed" -- "$BIN" rm "$KB" "$T/d/b.txt"
rm "$T/d/b.txt"
same "$(tc "${CFO[@]}")" 0 "triple gone with its last chunk"
same "$(sc "?a a <${CN}Assertion>")" "$(q "select count(*) from relations where status = 'confirmed'")" "assertions after rm"
expect 0 "all checks passed" -- "$BIN" check "$KB"

# damage: a truncated store file is caught, and the next writer rebuilds
truncate -s 1000 "$KB/graph/cairn-sp2o.db"
expect 1 "graph store.*damaged" -- "$BIN" check "$KB"
# a reader that can take the writer lock catches the store up (here: rebuilds) first
expect 0 '"boolean":true' -- "$BIN" graph sparql "$KB" 'ASK { ?s ?p ?o }' --format json
expect 0 "all checks passed" -- "$BIN" check "$KB"
truncate -s 0 "$KB/graph/cairn-contexts.db"
printf 'Ida Berg founded Pell Robotics.\n' > "$T/d/e.txt"
expect 0 "1 added" -- "$BIN" ingest "$KB" "$T/d"
expect 0 "all checks passed" -- "$BIN" check "$KB"
same "$(sc "?a a <${CN}Assertion>")" "$(q "select count(*) from relations where status = 'confirmed'")" "assertions after rebuild"
# an interrupted update (clean 0) and a missing state are rebuilt too
sed -i 's/^clean 1$/clean 0/' "$KB/graph/state"
expect 1 "interrupted" -- "$BIN" check "$KB"
expect 0 "" -- "$BIN" rm "$KB" "$T/d/e.txt"
rm "$T/d/e.txt"
expect 0 "all checks passed" -- "$BIN" check "$KB"
rm -f "$KB/graph/state"
expect 1 "not been built" -- "$BIN" check "$KB"
expect 0 "rebuilt the graph store .* generation" -- "$BIN" graph rebuild "$KB"
expect 0 "all checks passed" -- "$BIN" check "$KB"
# the final "clean 1" is written without fsync (graph/rdf.c state_write):
# a crash that loses its rename leaves the "clean 0" synced before the
# update (above), one that loses its contents an empty or cut state file:
# cairn check calls it damaged, the next write rebuilds
cp "$KB/graph/state" "$T/state.good"
for cut in 0 40; do
  head -c "$cut" "$T/state.good" > "$KB/graph/state"
  expect 1 "damaged" -- "$BIN" check "$KB"
  printf 'Nils Berg joined Brightwater Labs.\n' > "$T/d/g$cut.txt"
  expect 0 "1 added" -- "$BIN" ingest "$KB" "$T/d"
  grep -q '^clean 1$' "$KB/graph/state" && ok || bad "state $cut bytes: rebuilt, clean"
  expect 0 "all checks passed" -- "$BIN" check "$KB"
  expect 0 "" -- "$BIN" rm "$KB" "$T/d/g$cut.txt"
  rm "$T/d/g$cut.txt"
done
expect 0 "all checks passed" -- "$BIN" check "$KB"
# a store behind the catalog (the catalog changed without a sync) is caught
cp -r "$KB/graph" "$T/graph.old"
printf 'Eva Holm leads Tarn Foods.\n' > "$T/d/f.txt"
expect 0 "1 added" -- "$BIN" ingest "$KB" "$T/d"
rm -rf "$KB/graph"; cp -r "$T/graph.old" "$KB/graph"
expect 1 "reflects generation" -- "$BIN" check "$KB"
expect 0 "" -- "$BIN" graph sparql "$KB" 'ASK { ?s ?p ?o }'     # a writer-capable reader catches up
expect 0 "all checks passed" -- "$BIN" check "$KB"

# names and literals that need escaping; NUL and invalid UTF-8 are skipped and counted
q "update entities set key = 'a<b>\"c d\\é%', label = 'Quote \"q\" <tag>
line2' where key = 'kestrel avionics'"
q "update documents set title = cast(x'41004200' as text) where uri like '%c.txt' and deleted = 0"
q "update documents set title = cast(x'41ff42' as text) where uri like '%f.txt' and deleted = 0"
expect 0 "2 literals skipped" -- "$BIN" graph rebuild "$KB"
expect 0 "all checks passed" -- "$BIN" check "$KB"
[ "$(ask "<urn:cairn:entity:a%3Cb%3E%22c%20d%5C%C3%A9%25> <http://www.w3.org/2000/01/rdf-schema#label> \"Quote \\\"q\\\" <tag>\\nline2\"")" = true ] && ok || bad "escaped IRI and literal round-trip"
"$BIN" graph export "$KB" --format nquads > "$T/all.nq" 2>"$T/export.err"
same "$(wc -l < "$T/all.nq")" "$(sc '?s ?p ?o')" "nquads: one line per statement"
# every line: <s> <p> (<o>|"..."(^^<dt>)?) <g> .   (no raw quotes or spaces inside IRIs)
same "$(grep -cvE '^<[^<> "]+> <[^<> "]+> (<[^<> "]+>|"([^"\\]|\\.)*"(\^\^<[^<> "]+>)?) <urn:cairn:(chunk|doc):[0-9]+> \.$' "$T/all.nq")" 0 "nquads lines well formed"
grep -qF 'Quote \"q\" <tag>\nline2' "$T/all.nq" && ok || bad "literal escaped in N-Quads"
expect 0 "@prefix cairn: <urn:cairn:ns#>" -- "$BIN" graph export "$KB" --format turtle
expect 2 "nquads" -- "$BIN" graph export "$KB"
expect 1 "nquads or turtle" -- "$BIN" graph export "$KB" --format xml

# sparql: read-only (verbs from Rasqal's parse), limit, timeout, errors
for u in 'INSERT DATA { <urn:a> <urn:b> <urn:c> }' 'DELETE WHERE { ?s ?p ?o }' 'LOAD <file:///etc/passwd>' \
         'CLEAR ALL' 'CREATE GRAPH <urn:x>' 'DROP ALL' \
         'PREFIX x: <urn:x#> INSERT { ?s x:p 1 } WHERE { ?s ?p ?o }'; do
  expect 1 "read-only" -- "$BIN" graph sparql "$KB" "$u"
done
expect 1 "syntax" -- "$BIN" graph sparql "$KB" 'SELEC ?x WHERE { }'
# a string that merely contains an update keyword is a query
expect 0 "" -- "$BIN" graph sparql "$KB" 'SELECT ?s WHERE { ?s ?p "INSERT DATA" }'
expect 0 "stopped at the limit of 3" -- "$BIN" graph sparql "$KB" 'SELECT ?s WHERE { ?s ?p ?o }' --limit 3
[ "$("$BIN" graph sparql "$KB" 'SELECT ?s WHERE { ?s ?p ?o }' --limit 3 | wc -l)" = 5 ] && ok || bad "limit: header + 3 rows + note"
expect 0 '"truncated":true' -- "$BIN" graph sparql "$KB" 'SELECT ?s WHERE { ?s ?p ?o }' --limit 2 --format json
expect 0 '"type":"ask","boolean":true' -- "$BIN" graph sparql "$KB" 'ASK { ?s ?p ?o }' --format json
expect 0 '"type":"graph"' -- "$BIN" graph sparql "$KB" 'CONSTRUCT { ?s ?p ?o } WHERE { ?s ?p ?o }' --limit 5 --format json
expect 1 "time limit of 300 ms" -- "$BIN" graph sparql "$KB" \
  'SELECT ?a WHERE { ?a ?b ?c . ?d ?e ?f . ?g ?h ?i FILTER(?i = "none") }' --timeout-ms 300
expect 2 "" -- "$BIN" graph sparql "$KB"

# subgraph and entities
for f in text json turtle dot; do
  expect 0 "" -- "$BIN" graph subgraph "$KB" --question "Who acquired Quillon Labs?" --format $f
done
expect 0 '"subject":"International Business Machines"' -- "$BIN" graph subgraph "$KB" --question "Who acquired Quillon Labs?" --format json
expect 0 "digraph" -- "$BIN" graph subgraph "$KB" --question "IBM" --format dot
expect 0 "<urn:cairn:rel:" -- "$BIN" graph subgraph "$KB" --question "IBM" --format turtle --hops 1 --budget 5
expect 2 "" -- "$BIN" graph subgraph "$KB" --question "x" --format xml
expect 0 "International Business Machines" -- "$BIN" graph entities "$KB" "ibm"
expect 0 '"label":"Eva Holm"' -- "$BIN" graph entities "$KB" --json
expect 0 "no entities" -- "$BIN" graph entities "$KB" "zzzunknown"
expect 2 "" -- "$BIN" graph frob "$KB"
# the triples iterator: literal objects, predicates
same "$(tc --predicate http://www.w3.org/2000/01/rdf-schema#label --literal "Eva Holm")" \
     "$(q "select count(distinct c.doc_id) from mentions m join entities e on e.id=m.entity_id join chunks c on c.id=m.chunk_id where e.label='Eva Holm'")" "label rows = documents mentioning it"
same "$(tc --predicate urn:cairn:ns#pattern)" 0 "compact: no pattern rows"

# a store of the older vocabulary 1 (entity descriptions per chunk) is still
# read and passes check; the next writer rebuilds it in vocabulary 2
sed -i 's/^vocabulary 2$/vocabulary 1/' "$KB/graph/state"
expect 0 "all checks passed" -- "$BIN" check "$KB"
printf 'Ida Berg founded Pell Robotics.\n' > "$T/d/g.txt"
expect 0 "1 added" -- "$BIN" ingest "$KB" "$T/d"
grep -q '^vocabulary 2$' "$KB/graph/state" && ok || bad "the writer rebuilt the vocabulary 1 store"
expect 0 "all checks passed" -- "$BIN" check "$KB"
sed -i 's/^vocabulary 2$/vocabulary 3/' "$KB/graph/state"
expect 1 "another format" -- "$BIN" check "$KB"
expect 0 "rebuilt the graph store" -- "$BIN" graph rebuild "$KB"
grep -q '^vocabulary 2$' "$KB/graph/state" && ok || bad "rebuild writes vocabulary 2"

# graph.store = none: no store, check passes, readers say so
KB2="$T/kb2"
expect 0 "created" -- "$BIN" init "$KB2"
sed -i 's/"format": 1,/"format": 1, "graph": {"store": "none"},/' "$KB2/cairn.json"
expect 0 "1 added" -- "$BIN" ingest "$KB2" "$T/d/c.txt"
[ ! -f "$KB2/graph/state" ] && ok || bad "graph.store none writes no store"
expect 0 "all checks passed" -- "$BIN" check "$KB2"
expect 1 "graph.store is \"none\"" -- "$BIN" graph sparql "$KB2" 'ASK { ?s ?p ?o }'

# graph.store_assertions = confirmed: inferred relations keep only their plain triple
KB="$T/kb3"
expect 0 "created" -- "$BIN" init "$KB"
sed -i 's/"format": 1,/"format": 1, "graph": {"store_assertions": "confirmed"},/' "$KB/cairn.json"
printf 'Ana Ruiz, CFO of Norvale Systems GmbH, met Kestrel Avionics in Rotterdam.\n' > "$T/a3.txt"
expect 0 "1 added" -- "$BIN" ingest "$KB" "$T/a3.txt"
[ "$(q "select count(*) from relations where status = 'inferred'")" -gt 0 ] && ok || bad "the test text has inferred relations"
same "$(sc "?a a <${CN}Assertion>")" "$(q "select count(*) from relations where status = 'confirmed'")" "assertions of confirmed relations only"
expect 0 "all checks passed" -- "$BIN" check "$KB"
sed -i 's/"store_assertions": "confirmed"/"store_assertions": "some"/' "$KB/cairn.json"
expect 1 "store_assertions" -- "$BIN" graph rebuild "$KB"
grep -q '^clean 1$' "$KB/graph/state" && ok || bad "a bad setting leaves the store as it was"

# graph.store_assertions = all: every relation's full assertion (offsets,
# pattern, chunk, run, extractor) in its chunk's context
sed -i 's/"store_assertions": "some"/"store_assertions": "all"/' "$KB/cairn.json"
expect 0 "rebuilt the graph store" -- "$BIN" graph rebuild "$KB"
same "$(sc "?a a <${CN}Assertion>")" "$(q 'select count(*) from relations')" "all: one assertion per relation"
same "$(tc --predicate urn:cairn:ns#pattern)" "$(q 'select count(*) from relations')" "all: one pattern row per relation"
A_CHUNK=$(q "select id from chunks limit 1")
[ "$(ask "GRAPH <urn:cairn:chunk:$A_CHUNK> { ?a a <${CN}Assertion> ; <http://www.w3.org/ns/prov#wasDerivedFrom> <urn:cairn:chunk:$A_CHUNK> ; <${CN}confidence> ?c ; <${CN}status> <${CN}inferred> ; <${CN}startChar> ?x ; <http://www.w3.org/ns/prov#wasAttributedTo> <urn:cairn:extractor:rules%2F1> }")" = true ] && ok || bad "all: full assertion provenance in its chunk's context"
expect 0 "all checks passed" -- "$BIN" check "$KB"

# A process killed while Berkeley DB created a store file leaves its
# temporary "__db.<file>"; the next rebuild must not take it for another
# process's create (it would wait 100 s and fail)
for f in "$KB"/graph/cairn-*.db; do : >"$KB/graph/__db.${f##*/}"; done
timeout 60 "$BIN" graph rebuild "$KB" >/dev/null 2>&1 && ok || bad "rebuild with create temporaries left by a killed process"
ls "$KB"/graph/__db.* >/dev/null 2>&1 && bad "create temporaries still there" || ok
expect 0 "all checks passed" -- "$BIN" check "$KB"

echo "graph_rdf: $pass passed, $fail failed"
[ $fail = 0 ]
