#!/usr/bin/env bash
# test_sql.sh — data-driven: each tests/data/sql/NAME.sql runs through
# `cairn sql` (table mode) against a KB built from tests/data/sql/corpus;
# stdout + stderr must equal NAME.out exactly (error messages included).
# Then each tests/data/sql/lang/NAME.sql (cairn's own statements, search())
# the same way against a KB of datasets/corpus, timestamps masked.
# Plus: the statement time limit, the other output modes, -c, bad input.
set -u
BIN="${CAIRN_BIN:?}"; D="$CAIRN_SRC/tests/data/sql"
T="${CAIRN_TMP:-/tmp}/sql.$$"; rm -rf "$T"; mkdir -p "$T"; trap 'rm -rf "$T"' EXIT
pass=0; fail=0
"$BIN" init "$T/kb" >/dev/null && (cd "$D/corpus" && "$BIN" ingest "$T/kb" alpha.txt beta.md >/dev/null) || { echo "setup failed"; exit 1; }
for f in "$D"/*.sql; do
  name=$(basename "$f" .sql)
  got=$("$BIN" sql "$T/kb" < "$f" 2>&1)
  if [ "$got" == "$(cat "$D/$name.out")" ]; then pass=$((pass+1)); else
    fail=$((fail+1)); echo "FAIL: $name"; diff <(echo "$got") "$D/$name.out" | head -20; fi
done
# cairn's statements over datasets/corpus
"$BIN" init "$T/corpus" >/dev/null && (cd "$CAIRN_SRC/datasets/corpus" && "$BIN" ingest "$T/corpus" . >/dev/null) || { echo "corpus setup failed"; exit 1; }
for f in "$D"/lang/*.sql; do
  name=lang/$(basename "$f" .sql)
  got=$("$BIN" sql "$T/corpus" < "$f" 2>&1 | sed -E 's/[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}Z/TIMESTAMP/g')
  if [ "$got" == "$(cat "$D/$name.out")" ]; then pass=$((pass+1)); else
    fail=$((fail+1)); echo "FAIL: $name"; diff <(echo "$got") "$D/$name.out" | head -20; fi
done
# -c runs several statements and exits 1 at the first error, after the earlier results
got=$("$BIN" sql "$T/corpus" -c "SELECT 7 AS a; SHOW NOTHING; SELECT 8 AS b" --mode csv 2>&1); rc=$?
[ $rc = 1 ] && [ "$got" == $'a\n7\ncairn: line 1, column 21: expected DOCUMENTS, ENTITIES, TRACES, STATS or SETTINGS after SHOW, found \'NOTHING\'' ] && pass=$((pass+1)) || { fail=$((fail+1)); echo "FAIL: -c: rc=$rc $got"; }
got=$("$BIN" sql -c "SHOW STATS" "$T/corpus" --mode csv 2>&1)
[ "$got" == $'documents,chunks,entities,relations,traces\n161,161,737,1441,0' ] && pass=$((pass+1)) || { fail=$((fail+1)); echo "FAIL: -c first: $got"; }
# deep nesting: a clear error with the position, in our front-end and in SHOW's WHERE
deep=$(printf '(%.0s' {1..5000}; printf 1; printf ')%.0s' {1..5000})
got=$("$BIN" sql "$T/corpus" -c "SELECT $deep" 2>&1); rc=$?
[ $rc = 1 ] && [ "$got" == "cairn: line 1, column 108: parentheses nested deeper than 100 levels" ] && pass=$((pass+1)) || { fail=$((fail+1)); echo "FAIL: nesting: ${got:0:200}"; }
got=$("$BIN" sql "$T/corpus" -c "SHOW DOCUMENTS WHERE $deep" 2>&1); rc=$?
[ $rc = 1 ] && grep -q "nested deeper than 100" <<<"$got" && pass=$((pass+1)) || { fail=$((fail+1)); echo "FAIL: nesting in WHERE: ${got:0:200}"; }
# a 1 MB SEARCH query string is refused with a message, not a crash
got=$( { printf "SEARCH '"; head -c 1000000 /dev/zero | tr '\0' x; printf "' WITH mode = 'bm25';"; } | "$BIN" sql "$T/corpus" 2>&1); rc=$?
[ $rc = 1 ] && grep -q "^cairn: line 1" <<<"$got" && pass=$((pass+1)) || { fail=$((fail+1)); echo "FAIL: 1 MB SEARCH: rc=$rc ${got:0:200}"; }
# time limit: a statement that would run for ever is stopped
got=$("$BIN" sql "$T/kb" "WITH RECURSIVE r(i) AS (SELECT 1 UNION ALL SELECT i+1 FROM r) SELECT count(*) FROM r;" --timeout 300 2>&1); rc=$?
if [ $rc = 1 ] && grep -q "time limit of 300 ms" <<<"$got"; then pass=$((pass+1)); else fail=$((fail+1)); echo "FAIL: timeout: $got"; fi
# json and csv modes
got=$("$BIN" sql "$T/kb" "SELECT format, n_chunks FROM documents ORDER BY uri" --mode json)
[ "$got" == '[{"format":"txt","n_chunks":1},{"format":"md","n_chunks":1}]' ] && pass=$((pass+1)) || { fail=$((fail+1)); echo "FAIL: json: $got"; }
got=$("$BIN" sql "$T/kb" "SELECT 'a,b' AS x, 'q\"' AS y" --mode csv)
[ "$got" == $'x,y\n"a,b","q"""' ] && pass=$((pass+1)) || { fail=$((fail+1)); echo "FAIL: csv: $got"; }
# the KB is untouched by everything above
[ "$(sqlite3 "$T/kb/cairn.db" 'select count(*) from documents')" = 2 ] && pass=$((pass+1)) || { fail=$((fail+1)); echo "FAIL: documents changed"; }
# NUL bytes and a 1 MB statement
got=$(printf 'SELECT 1;\0SELECT 2;' | "$BIN" sql "$T/kb" 2>&1); rc=$?
[ $rc = 1 ] && grep -q "NUL byte" <<<"$got" && pass=$((pass+1)) || { fail=$((fail+1)); echo "FAIL: NUL: $got"; }
got=$( { printf "SELECT length('"; head -c 1000000 /dev/zero | tr '\0' x; printf "') AS n;"; } | "$BIN" sql "$T/kb" --mode csv 2>&1)
[ "$got" == $'n\n1000000' ] && pass=$((pass+1)) || { fail=$((fail+1)); echo "FAIL: 1 MB statement: ${got:0:200}"; }
echo "sql: $pass passed, $fail failed"
[ $fail = 0 ]
