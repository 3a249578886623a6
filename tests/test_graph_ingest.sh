#!/usr/bin/env bash
# test_graph_ingest.sh — extraction at ingestion: entities, aliases,
# mentions and relations written with the chunks; KB-wide resolution;
# replacement and removal delete a document's graph rows (and entities
# left with no mention) in the same transaction; graph.extractor = none.
set -u
BIN="${CAIRN_BIN:?}"
T="${CAIRN_TMP:-/tmp}/graph_ingest.$$"
rm -rf "$T"; mkdir -p "$T"
trap 'rm -rf "$T"' EXIT
. "$(dirname "$0")/lib.sh"
q() { sqlite3 "$KB/cairn.db" "$1"; }

KB="$T/kb"
expect 0 "created" -- "$BIN" init "$KB"
mkdir -p "$T/d"
printf 'Ana Ruiz, CFO of Norvale Systems GmbH, met Kestrel Avionics in Rotterdam.\n' > "$T/d/a.txt"
printf 'International Business Machines (IBM) acquired Norvale Systems.\n\nLater IBM bought Quillon Labs Ltd.\n' > "$T/d/b.txt"
expect 0 "2 added" -- "$BIN" ingest "$KB" "$T/d"

# one entity for Norvale across documents (suffix stripped), one for IBM
[ "$(q "select count(*) from entities where key='norvale systems'")" = 1 ] && ok || bad "Norvale resolved KB-wide"
[ "$(q "select count(distinct m.chunk_id) from mentions m join entities e on e.id=m.entity_id where e.key='norvale systems'")" = 2 ] && ok || bad "Norvale mentioned in both chunks"
[ "$(q "select count(*) from aliases a join entities e on e.id=a.entity_id where a.norm='ibm' and e.key='international business machines'")" = 1 ] && ok || bad "IBM alias of its expansion"
[ "$(q "select count(*) from relations r join entities s on s.id=r.subject_id join entities o on o.id=r.object_id where s.key='international business machines' and o.key='quillon labs'")" -ge 1 ] && ok || bad "IBM (by acronym) relation to Quillon"
[ "$(q "select count(*) from mentions where extractor<>'rules/1'")" = 0 ] && ok || bad "extractor recorded"
# the names index: one row per entity, its names joined by " | " (a new
# entity's row is inserted directly, a known entity's row updated)
[ "$(q "select names from entity_names where rowid=(select id from entities where key='international business machines')")" = "International Business Machines | IBM" ] && ok || bad "new entity with two names: one names row"
[ "$(q "select count(*) from entities e where (select count(*) from entity_names n where n.rowid=e.id) <> 1")" = 0 ] && ok || bad "one names row per entity"
printf 'Kestrel Avionics (KA) hired Ana Ruiz.\n' > "$T/d/c.txt"
expect 0 "1 added" -- "$BIN" ingest "$KB" "$T/d/c.txt"
[ "$(q "select names from entity_names where rowid=(select id from entities where key='kestrel avionics')")" = "Kestrel Avionics | KA" ] && ok || bad "known entity's names row gets its new name"
[ "$(q "select count(*) from entity_names")" = "$(q "select count(*) from entities")" ] && ok || bad "no names row without entity"
rm "$T/d/c.txt"; expect 0 "removed" -- "$BIN" rm "$KB" "$T/d/c.txt"
# mention offsets are the document's: the surface is the text there
[ "$(q "select count(*) from mentions m join chunks c on c.id=m.chunk_id where substr(c.text, m.start_char-c.start_char+1, m.end_char-m.start_char) <> m.surface")" = 0 ] && ok || bad "mention offsets match surfaces"

# replacing b.txt: its rows go, Quillon (mentioned only there) goes
printf 'Norvale Systems hired Bo Lind.\n' > "$T/d/b.txt"
expect 0 "1 replaced" -- "$BIN" ingest "$KB" "$T/d"
[ "$(q "select count(*) from entities where key='quillon labs'")" = 0 ] && ok || bad "orphan entity removed"
[ "$(q "select count(*) from mentions where chunk_id not in (select id from chunks)")" = 0 ] && ok || bad "no mentions of removed chunks"
[ "$(q "select count(*) from relations where chunk_id not in (select id from chunks)")" = 0 ] && ok || bad "no relations of removed chunks"
[ "$(q "select count(*) from entities where key='bo lind'")" = 1 ] && ok || bad "new entity added"

# removal
expect 0 "removed" -- "$BIN" rm "$KB" "$T/d/a.txt"
[ "$(q "select count(*) from entities where key='kestrel avionics'")" = 0 ] && ok || bad "entities of a removed doc gone"
[ "$(q "select count(*) from entities where key='norvale systems'")" = 1 ] && ok || bad "entity still mentioned elsewhere kept"
[ "$(q "select count(*) from entities e where not exists (select 1 from mentions m where m.entity_id=e.id)")" = 0 ] && ok || bad "no entity without mentions"

# extraction off
KB2="$T/kb2"
expect 0 "created" -- "$BIN" init "$KB2"
setx() { sed -i "s/\"format\": 1,.*/\"format\": 1, \"graph\": {\"extractor\": \"$1\"},/" "$KB2/cairn.json"; }
setx none
expect 0 "2 added" -- "$BIN" ingest "$KB2" "$T/d/a.txt" "$T/d/b.txt"
[ "$(sqlite3 "$KB2/cairn.db" "select count(*) from mentions")" = 0 ] && ok || bad "graph.extractor none: no mentions"
setx magic
expect 1 "graph.extractor" -- "$BIN" ingest "$KB2" "$T/d/a.txt"

expect 0 "all checks passed" -- "$BIN" check "$KB"
echo "graph_ingest: $pass passed, $fail failed"
[ $fail = 0 ]
