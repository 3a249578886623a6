#!/usr/bin/env bash
# test_ingest.sh — `cairn init/ingest/rm/search` end to end on real files:
# formats, re-ingest no-op, replacement, deletion, bad input with clear
# errors and nothing lost, writer lock, full disk, FTS5-syntax-safe search.
set -u
BIN="${CAIRN_BIN:?}"
T="${CAIRN_TMP:-/tmp}/ingest.$$"
rm -rf "$T"; mkdir -p "$T"
trap 'rm -rf "$T"' EXIT
. "$(dirname "$0")/lib.sh"
count() { sqlite3 "$KB/cairn.db" "$1"; }

KB="$T/kb"
expect 0 "created" -- "$BIN" init "$KB"
expect 1 "not empty" -- "$BIN" init "$KB"

# --- formats
mkdir -p "$T/docs/sub"
printf 'Norvale Systems builds the PX-9000-v2 sensor.\n\nIt ships in Rotterdam.\n' > "$T/docs/a.txt"
printf '# Fleet\n\nIntro text.\n\n## Sensors\n\nThe KV-12 rev C unit is rugged.\n' > "$T/docs/sub/b.md"
printf '<html><head><title>Recall</title><style>.x{}</style><script>alert(1)</script></head><body><h1>Recall notice</h1><p>Caf&eacute; &amp; PX-9000-v2 recalled.</p></body></html>' > "$T/docs/c.html"
printf '{"id":"r1","title":"One","text":"Kestrel Avionics acquired Norvale.","year":2024}\n{"id":"r2","text":"Second record text."}\n' > "$T/docs/d.jsonl"
printf 'ignored binary' > "$T/docs/e.bin"
expect 0 "5 added" -- "$BIN" ingest "$KB" "$T/docs"
[ "$(count 'select count(*) from documents where deleted=0')" = 5 ] && ok || bad "5 live documents"
[ "$(count "select title from documents where uri like '%c.html'")" = "Recall" ] && ok || bad "html title"
[ "$(count "select count(*) from chunks where text like '%alert%'")" = 0 ] && ok || bad "script dropped"
[ "$(count "select count(*) from chunks where text like '%Café & PX%'")" = 1 ] && ok || bad "entities decoded"
[ "$(count "select count(*) from documents where uri like '%d.jsonl#r1' and meta like '%2024%'")" = 1 ] && ok || bad "jsonl meta kept"
[ "$(count "select section from chunks c join documents d on d.id=c.doc_id where d.uri like '%b.md'")" = "Fleet" ] && ok || bad "md section title"
# offsets are exact: chunk text equals the document slice (single-chunk docs: start 0)
[ "$(count "select count(*) from chunks where length(text) != end_char - start_char")" = 0 ] && ok || bad "char offsets match text length"

# --- re-ingest is a no-op; a change replaces; rm deletes
gen=$(count 'select max(generation) from changes')
expect 0 "5 unchanged" -- "$BIN" ingest "$KB" "$T/docs"
[ "$(count 'select max(generation) from changes')" = "$gen" ] && ok || bad "no-op reingest wrote changes"
printf 'Norvale Systems builds the PX-9000-v3 sensor now.\n' > "$T/docs/a.txt"
expect 0 "1 replaced" -- "$BIN" ingest "$KB" "$T/docs/a.txt"
[ "$(count "select count(*) from documents where uri like '%a.txt'")" = 2 ] && ok || bad "old version kept as deleted"
[ "$(count "select version from documents where uri like '%a.txt' and deleted=0")" = 2 ] && ok || bad "version 2 live"
"$BIN" search "$KB" "PX-9000-v2" --mode bm25 | grep -q "a.txt" && bad "old version still searchable" || ok
expect 0 "a.txt" -- "$BIN" search "$KB" "PX-9000-v3"
expect 0 "c.html" -- "$BIN" search "$KB" "PX-9000-v2"
expect 0 "removed" -- "$BIN" rm "$KB" "$T/docs/d.jsonl"
[ "$(count "select count(*) from documents where deleted=0 and uri like '%d.jsonl%'")" = 0 ] && ok || bad "jsonl records removed"
[ "$(count "select count(*) from chunks_fts where chunks_fts match 'Kestrel'")" = 0 ] && ok || bad "fts rows removed"
expect 1 "no document" -- "$BIN" rm "$KB" "$T/docs/nope.txt"
printf '{"id":"r1","title":"One","text":"Kestrel Avionics acquired Norvale."}\n' > "$T/docs/d.jsonl"
expect 0 "1 added" -- "$BIN" ingest "$KB" "$T/docs/d.jsonl"
[ "$(count "select version from documents where uri like '%d.jsonl#r1' and deleted=0")" = 2 ] && ok || bad "re-added record gets the next version"

# --- search never treats typed text as FTS5 syntax
for q in '"unbalanced' 'NEAR(a b' 'AND OR NOT' 'text:Norvale' '*' '^Norvale' '(((' 'a" OR "b' "Norvale's"; do
  out=$("$BIN" search "$KB" "$q" 2>&1); rc=$?
  if grep -qi "syntax error\|fts5:" <<<"$out"; then bad "FTS5 error for [$q]: $out"; else ok; fi
done
expect 1 "no words" -- "$BIN" search "$KB" "*** ((("
expect 0 "Norvale" -- "$BIN" search "$KB" "AND Norvale OR"
expect 1 "unterminated string" -- "$BIN" search "$KB" '"unbalanced' --raw
expect 2 "out of range" -- "$BIN" search "$KB" "x" -k 0
expect 0 '"count":' -- "$BIN" search "$KB" "Norvale" --json

# --- bad input: clear one-line errors naming the file; nothing stored is lost
before=$(count 'select count(*) from chunks')
: > "$T/empty.txt"
expect 1 "empty.txt.*empty" -- "$BIN" ingest "$KB" "$T/empty.txt"
head -c 3000 /dev/urandom > "$T/bin.txt"; printf '\0' >> "$T/bin.txt"
expect 1 "bin.txt" -- "$BIN" ingest "$KB" "$T/bin.txt"
printf 'good text then \xff\xfe bad bytes\n' > "$T/badutf.txt"
expect 1 "badutf.txt.*UTF-8.*byte 15" -- "$BIN" ingest "$KB" "$T/badutf.txt"
expect 0 "1 added" -- "$BIN" ingest "$KB" "$T/badutf.txt" --repair-utf8
expect 1 "nope.txt" -- "$BIN" ingest "$KB" "$T/nope.txt"
ln -s "$T/loop1" "$T/loop2"; ln -s "$T/loop2" "$T/loop1"
expect 1 "loop" -- "$BIN" ingest "$KB" "$T/loop1"
mkdir -p "$T/cyc"; ln -s "$T/cyc" "$T/cyc/self"; printf 'cycle doc\n' > "$T/cyc/x.txt"
expect 1 "loop" -- "$BIN" ingest "$KB" "$T/cyc"
[ "$(count "select count(*) from documents where uri like '%cyc/x.txt' and deleted=0")" = 1 ] && ok || bad "file beside a loop still ingested"
printf 'secret\n' > "$T/unreadable.txt"; chmod 000 "$T/unreadable.txt"
if [ "$(id -u)" != 0 ]; then expect 1 "unreadable.txt.*denied" -- "$BIN" ingest "$KB" "$T/unreadable.txt"; fi
expect 1 "not a knowledge base" -- "$BIN" ingest "$T/docs" "$T/docs/a.txt"
expect 1 "no such file" -- "$BIN" search "$T/nokb" "x"
printf '{"id":"ok","text":"fine"}\n{"id": broken\n' > "$T/broken.jsonl"
expect 1 "broken.jsonl.*line 2" -- "$BIN" ingest "$KB" "$T/broken.jsonl"
[ "$(count "select count(*) from documents where uri like '%broken.jsonl%'")" = 0 ] && ok || bad "bad jsonl ingested nothing"
after=$(count 'select count(*) from chunks')
[ "$after" -ge "$before" ] && ok || bad "chunks lost after bad input ($before -> $after)"

# a single 50 MB line
head -c 50000000 /dev/zero | tr '\0' 'a' > "$T/longline.txt"
expect 0 "1 added" -- "$BIN" ingest "$KB" "$T/longline.txt"

# --- the writer lock: a second writer is refused while one holds the KB
( exec 9>>"$KB/cairn.lock"; flock -x 9; sleep 3 ) &
sleep 0.5
expect 1 "another process" -- "$BIN" ingest "$KB" "$T/docs/a.txt"
wait
# a reader still works while a writer holds it
( exec 9>>"$KB/cairn.lock"; flock -x 9; sleep 2 ) &
sleep 0.5
expect 0 "Norvale" -- "$BIN" search "$KB" "Norvale"
wait

# --- full disk (file-size limit): clear error, KB intact
before=$(count 'select count(*) from documents where deleted=0')
python3 - "$T/big.txt" <<'PY'
import sys, random
random.seed(7)
words = ["alpha","beta","gamma","delta","norvale","kestrel","sensor","audit","ledger","harbour"]
with open(sys.argv[1], "w") as f:
    for i in range(120000):
        f.write(" ".join(random.choice(words) + str(random.randint(0, 5000)) for _ in range(12)) + ".\n")
PY
sqlite3 "$KB/cairn.db" 'pragma wal_checkpoint(truncate)' >/dev/null   # WAL starts empty
out=$( (ulimit -f 2048; "$BIN" ingest "$KB" "$T/big.txt") 2>&1 ); rc=$?
if [ $rc = 1 ] && grep -qi "disk full\|file size limit" <<<"$out"; then ok; else bad "full disk: rc=$rc $out"; fi
[ "$(count 'select count(*) from documents where deleted=0')" = "$before" ] && ok || bad "documents changed after full disk"
[ "$(count 'pragma integrity_check')" = ok ] && ok || bad "integrity after full disk"
[ "$(count "insert into chunks_fts(chunks_fts) values('integrity-check'); select 'ok'")" = ok ] && ok || bad "fts integrity after full disk"

# --- stdin
expect 0 "1 added" -- bash -c "printf 'from stdin about Norvale\n' | '$BIN' ingest '$KB' - --uri notes/stdin-1"
[ "$(count "select count(*) from documents where uri='notes/stdin-1'")" = 1 ] && ok || bad "stdin doc"

# --- cairn check passes on the KB after everything above
expect 0 "all checks passed" -- "$BIN" check "$KB"

echo "ingest: $pass passed, $fail failed"
[ $fail = 0 ]
