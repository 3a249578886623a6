#!/usr/bin/env bash
# test_sql.sh — data-driven: each tests/data/sql/NAME.sql runs through
# `cairn sql` (table mode) against a KB built from tests/data/sql/corpus;
# stdout + stderr must equal NAME.out exactly (error messages included).
# Plus: the statement time limit and the other output modes.
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
