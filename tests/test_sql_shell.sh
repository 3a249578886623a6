#!/usr/bin/env bash
# test_sql_shell.sh — `cairn shell`: first without a terminal (statements
# and dot commands from stdin, exit 1 at the first error), then on a
# pseudo-terminal driven by tmux: a statement typed over two lines, tab
# completion of a table and a column, the up arrow recalling a statement,
# a long value wrapped to the terminal's width, the history file. The tmux
# part is skipped, with a message, when tmux is not installed.
set -u
. "$CAIRN_SRC/tests/lib.sh"
BIN="${CAIRN_BIN:?}"
T="${CAIRN_TMP:-/tmp}/shell.$$"; rm -rf "$T"; mkdir -p "$T/home"
SOCK="cairn-shell-test-$$"
cleanup() { command -v tmux >/dev/null && tmux -L "$SOCK" kill-server 2>/dev/null; rm -rf "$T"; }
trap cleanup EXIT
"$BIN" init "$T/kb" >/dev/null && (cd "$CAIRN_SRC/datasets/corpus" && "$BIN" ingest "$T/kb" . >/dev/null) || { echo "setup failed"; exit 1; }
nrel=$(sqlite3 "$T/kb/cairn.db" "SELECT count(*) FROM relations")

# ---------------------------------------------------------------- stdin
got=$(printf 'SELECT count(*) AS n\n  FROM relations;\n.mode csv\n-- a comment\nSELECT 1 AS a, 2 AS b;\nSHOW STATS\n' | "$BIN" shell "$T/kb" 2>&1); rc=$?
[ $rc = 0 ] && [ "$got" == "$(printf 'n\n----\n%s\n(1 row)\na,b\n1,2\ndocuments,chunks,entities,relations,traces\n161,161,%s,%s,0' "$nrel" "$(sqlite3 "$T/kb/cairn.db" 'SELECT count(*) FROM entities WHERE merged_into IS NULL')" "$nrel")" ] && ok || bad "stdin: rc=$rc $got"
# the first error ends the run with exit 1, after the results before it
got=$(printf 'SELECT 1 AS a;\nSELEC 2;\nSELECT 3 AS c;\n' | "$BIN" shell "$T/kb" --mode csv 2>&1); rc=$?
[ $rc = 1 ] && [ "$got" == $'a\n1\ncairn: line 1, column 1: near "SELEC": syntax error' ] && ok || bad "stdin error: rc=$rc $got"
expect 1 "^cairn: .mode xml: use table, json, csv or line" -- bash -c "printf '.mode xml\nSELECT 1;\n' | '$BIN' shell '$T/kb'"
expect 1 "unknown command .frobnicate" -- bash -c "printf '.frobnicate\n' | '$BIN' shell '$T/kb'"
expect 1 "NUL byte" -- bash -c "printf 'SELECT 1;\nSELECT\0 2;\n' | '$BIN' shell '$T/kb'"
expect 1 "INGEST needs a writer session" -- bash -c "printf \"INGEST 'x.txt';\n\" | '$BIN' shell '$T/kb'"
# .output sends results to a file; .timer prints times; a multi-line string stays whole
got=$(printf ".output %s/out.csv\n.mode csv\nSELECT 'two\nlines' AS s;\n.output stdout\n.timer on\nSELECT 5 AS f;\n" "$T" | "$BIN" shell "$T/kb" 2>&1); rc=$?
[ $rc = 0 ] && [ "$(cat "$T/out.csv")" == $'s\n"two\nlines"' ] && grep -q '^5$' <<<"$got" && grep -qE '^time: [0-9.]+ ms$' <<<"$got" && ok || bad ".output/.timer: rc=$rc $got // $(cat "$T/out.csv")"
# an unterminated last statement still runs (and fails clearly)
expect 1 "line 1, column 8: unterminated string" -- bash -c "printf \"SELECT 'abc\n\" | '$BIN' shell '$T/kb'"
# --write: a writer shell ingests
cp "$CAIRN_SRC/tests/data/sql/corpus/alpha.txt" "$T/alpha.txt"
got=$(printf "INGEST '%s/alpha.txt';\nSELECT count(*) AS n FROM documents;\n" "$T" | "$BIN" shell --write "$T/kb" --mode csv 2>&1); rc=$?
[ $rc = 0 ] && [ "$got" == $'files,added,replaced,unchanged,chunks,vectors\n1,1,0,0,1,1\nn\n162' ] && ok || bad "--write: rc=$rc $got"

# ---------------------------------------------------------------- pty (tmux)
if ! command -v tmux >/dev/null; then
  echo "SKIP: tmux is not installed; the pseudo-terminal checks of the shell did not run"
  echo "shell: $pass passed, $fail failed"
  [ $fail = 0 ]; exit
fi
TM() { tmux -L "$SOCK" "$@"; }
nrel=$(sqlite3 "$T/kb/cairn.db" "SELECT count(*) FROM relations")   # after the INGEST above
screen() { TM capture-pane -p -t sh; }
# capture-pane drops trailing blanks: patterns allow for that
# waits (up to 15 s) until the screen matches the extended regex $1, $2 times
wait_for() {
  local i n
  for i in $(seq 150); do
    n=$(screen | grep -cE -- "$1")
    [ "$n" -ge "${2:-1}" ] && return 0
    sleep 0.1
  done
  echo "screen:"; screen; return 1
}
TM -f /dev/null new-session -d -s sh -x 100 -y 50 \
  "env HOME='$T/home' CAIRN_HISTORY='$T/history' TERM=xterm '$BIN' shell '$T/kb' --timeout 0; sleep 30"
wait_for '^cairn> ?$' && ok || bad "no prompt"
# a statement over two lines, the table name completed with Tab
TM send-keys -t sh 'SELECT count(*) AS n' Enter
wait_for '^   \.\.\.> ?$' && ok || bad "no continuation prompt"
TM send-keys -t sh 'FROM relat' Tab
wait_for '^   \.\.\.> FROM relations ?$' && ok || bad "Tab did not complete 'relat' to 'relations'"
TM send-keys -t sh '\;' Enter
wait_for "^$nrel *$" && wait_for '^\(1 row\)$' && ok || bad "two-line statement gave no result"
# the up arrow recalls the whole statement; Enter runs it again
TM send-keys -t sh Up
wait_for '^cairn> SELECT count\(\*\) AS n FROM relations ;$' && ok || bad "Up did not recall the statement"
TM send-keys -t sh Enter
wait_for '^\(1 row\)$' 2 && ok || bad "the recalled statement did not run"
# a column name completed with Tab (case of what was typed)
TM send-keys -t sh 'SELECT LAB' Tab
wait_for '^cairn> SELECT LABEL ?$' && ok || bad "Tab did not complete LAB to LABEL"
TM send-keys -t sh "FROM entities WHERE label = 'Ana Ruiz'\\;" Enter
wait_for '^Ana Ruiz$' && ok || bad "completed statement gave no result"
TM send-keys -t sh 'clear' Enter            # a syntax error, and the shell goes on
wait_for '^   \.\.\.> ?$' && TM send-keys -t sh '\;' Enter && wait_for 'near "clear": syntax error' && ok || bad "error not shown"
# a long value is wrapped to the terminal's width, not cut
last=$(sqlite3 "$T/kb/cairn.db" "SELECT text FROM chunks WHERE id = 10" | tr -s ' \n' '\n\n' | grep -v '^$' | tail -1)
TM send-keys -t sh "SELECT id AS chunk_marker, text FROM chunks WHERE id = 10\\;" Enter
done_=0
if wait_for '^chunk_marker'; then
  for i in $(seq 150); do screen | grep -v '^$' | tail -1 | grep -qE '^cairn> ?$' && { done_=1; break; }; sleep 0.1; done
fi
[ $done_ = 1 ] && ok || bad "long value: no result"
if screen | grep -qF -- "$last" && [ "$(screen | awk '{ if (length($0) > 100) n++ } END { print n + 0 }')" = 0 ] &&
   ! screen | grep -q '\.\.\.$'; then ok; else bad "long value not wrapped (last word '$last')"; screen; fi
# Ctrl-C stops a statement that would run for ever (no time limit here), not the shell
TM send-keys -t sh "WITH RECURSIVE r(i) AS (SELECT 1 UNION ALL SELECT i+1 FROM r) SELECT count(*) FROM r\\;" Enter
sleep 0.5; TM send-keys -t sh C-c
wait_for 'cairn: line 1: statement interrupted$' && TM send-keys -t sh "SELECT 'still here' AS s\\;" Enter &&
  wait_for '^still here$' && ok || bad "Ctrl-C did not interrupt the statement"
# .quit ends the shell and the history is saved, a repeated statement once
TM send-keys -t sh '.quit' Enter
for i in $(seq 100); do [ -s "$T/history" ] && break; sleep 0.1; done
[ "$(sed 's/\\040/ /g' "$T/history" | grep -cF 'SELECT count(*) AS n FROM relations ;')" = 1 ] && ok || bad "history not saved: $(cat "$T/history" 2>&1)"

echo "shell: $pass passed, $fail failed"
[ $fail = 0 ]
