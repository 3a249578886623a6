#!/usr/bin/env bash
# test_graph_split.sh — merge records and their undoing: ingestion writes a
# merges row (kept entity, name, reason, evidence chunk and offsets) for an
# acronym and for another surface of the same key; `cairn graph split`
# lists them, moves the acronym's mentions and the relations of its
# sentences to an entity of its own, marks the merge undone, and later
# ingestion keeps the name apart.  `cairn check` passes throughout.
set -u
BIN="${CAIRN_BIN:?}"
T="${CAIRN_TMP:-/tmp}/graph_split.$$"
rm -rf "$T"; mkdir -p "$T"
trap 'rm -rf "$T"' EXIT
. "$(dirname "$0")/lib.sh"
q() { sqlite3 "$KB/cairn.db" "$1"; }

KB="$T/kb"
expect 0 "created" -- "$BIN" init "$KB"
printf 'International Business Machines (IBM) acquired Norvale Systems GmbH in 2019.\n\nLater, IBM hired Ana Ruiz as its chief scientist. Norvale Systems opened a lab in Lyon.\n' > "$T/a.txt"
expect 0 "1 added" -- "$BIN" ingest "$KB" "$T/a.txt"

# the records: IBM by acronym, with the chunk and the offsets of "IBM"
[ "$(q "select count(*) from merges m join entities e on e.id=m.kept_id where e.key='international business machines' and m.alias='IBM' and m.norm='ibm' and m.reason='acronym' and m.undone_at is null")" = 1 ] && ok || bad "acronym merge recorded"
[ "$(q "select substr(c.text, m.start_char - c.start_char + 1, m.end_char - m.start_char) from merges m join chunks c on c.id = m.chunk_id where m.alias='IBM'")" = IBM ] && ok || bad "merge evidence offsets point at IBM"
# "Norvale Systems" is another surface of "Norvale Systems GmbH"'s key
[ "$(q "select count(*) from merges m join entities e on e.id=m.kept_id where e.key='norvale systems' and m.reason='same_key' and m.alias='Norvale Systems'")" = 1 ] && ok || bad "same_key merge recorded"
IBMREL="select count(*) from relations r join entities s on s.id=r.subject_id join entities o on o.id=r.object_id where o.key='ana ruiz' and s.key="
[ "$(q "$IBMREL'international business machines'")" -ge 1 ] && ok || bad "IBM hired Ana Ruiz, on the merged entity"

expect 0 'merge [0-9]+ +acronym +"IBM"' -- "$BIN" graph split "$KB" "International Business Machines"
expect 1 "no entity" -- "$BIN" graph split "$KB" "Nobody Atall"
expect 1 "no active merge" -- "$BIN" graph split "$KB" "International Business Machines" "Lyon"
expect 0 "now entity [0-9]+ \(2 mentions, 1 relations moved\)" -- "$BIN" graph split "$KB" "International Business Machines" IBM
# IBM is its own entity with both of its mentions; the relation of its
# sentence follows it; the one whose sentence names both stays
[ "$(q "select count(*) from mentions m join entities e on e.id=m.entity_id where e.key='ibm' and m.surface='IBM'")" = 2 ] && ok || bad "IBM mentions moved"
[ "$(q "select count(*) from mentions m join entities e on e.id=m.entity_id where e.key='international business machines' and m.surface='IBM'")" = 0 ] && ok || bad "no IBM mention left on the expansion"
[ "$(q "$IBMREL'ibm'")" -ge 1 ] && ok || bad "relation moved to IBM"
[ "$(q "$IBMREL'international business machines'")" = 0 ] && ok || bad "relation left the expansion"
[ "$(q "select count(*) from aliases a join entities e on e.id=a.entity_id where a.norm='ibm' and e.key='international business machines'")" = 0 ] && ok || bad "alias removed from the expansion"
[ "$(q "select count(*) from entity_names n join entities e on e.id = n.rowid where e.key='ibm' and n.names match 'IBM'")" = 1 ] && ok || bad "names index has the split entity"
[ "$(q "select count(*) from entity_names n join entities e on e.id = n.rowid where e.key='international business machines' and n.names match 'IBM'")" = 0 ] && ok || bad "names index lost IBM on the expansion"
[ "$(q "select count(*) from merges where alias='IBM' and undone_at is not null and split_id = (select id from entities where key='ibm')")" = 1 ] && ok || bad "merge marked undone"
expect 0 'undone .* -> entity' -- "$BIN" graph split "$KB" "International Business Machines"
expect 1 "no active merge" -- "$BIN" graph split "$KB" "International Business Machines" IBM
expect 0 "all checks passed" -- "$BIN" check "$KB"

# later ingestion does not merge IBM into the expansion again
printf 'International Business Machines (IBM) opened a lab in Oslo. IBM also sued Kestrel Avionics.\n' > "$T/b.txt"
expect 0 "1 added" -- "$BIN" ingest "$KB" "$T/b.txt"
[ "$(q "select count(*) from mentions m join entities e on e.id=m.entity_id where e.key='ibm'")" = 4 ] && ok || bad "new IBM mentions go to the split entity"
[ "$(q "select count(*) from mentions m join entities e on e.id=m.entity_id where e.key='international business machines'")" = 2 ] && ok || bad "expansion keeps its own mentions"
[ "$(q "select count(*) from merges where alias='IBM' and undone_at is null")" = 0 ] && ok || bad "no new IBM merge"
[ "$(q "select count(*) from aliases a join entities e on e.id=a.entity_id where a.norm='ibm' and e.key='international business machines'")" = 0 ] && ok || bad "alias not re-added"
expect 0 "all checks passed" -- "$BIN" check "$KB"

# a same-key surface can be split too: "Norvale Systems" (without GmbH)
expect 0 "now entity" -- "$BIN" graph split "$KB" "Norvale Systems GmbH" "Norvale Systems"
[ "$(q "select count(*) from mentions m join entities e on e.id=m.entity_id where e.key like 'norvale systems #split%' and m.surface='Norvale Systems'")" = 1 ] && ok || bad "same-key surface split"
[ "$(q "select count(*) from mentions m join entities e on e.id=m.entity_id where e.key='norvale systems'")" = 1 ] && ok || bad "GmbH surface stays"
printf 'Norvale Systems hired Bo Lind. Norvale Systems GmbH hired Greta Sato.\n' > "$T/c.txt"
expect 0 "1 added" -- "$BIN" ingest "$KB" "$T/c.txt"
[ "$(q "select count(*) from mentions m join entities e on e.id=m.entity_id where e.key like 'norvale systems #split%'")" = 2 ] && ok || bad "same-key rule applies to new mentions"
[ "$(q "select count(*) from mentions m join entities e on e.id=m.entity_id where e.key='norvale systems'")" = 2 ] && ok || bad "other surface still merged"
expect 0 "all checks passed" -- "$BIN" check "$KB"

echo "graph_split: $pass passed, $fail failed"
[ "$fail" = 0 ]
