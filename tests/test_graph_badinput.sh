#!/usr/bin/env bash
# test_graph_badinput.sh — pathological documents through ingestion with
# extraction on: no sentence punctuation, ten thousand capitalised words,
# only numbers, mixed scripts with bidi controls, right-to-left text,
# names with characters an IRI must escape, quotes, tabs and CRLF in JSON
# strings, NUL bytes and invalid UTF-8.  Each is stored with consistent
# graph rows or refused with a message; limits hit are counted and
# reported; `cairn check` passes; nothing crashes.
set -u
BIN="${CAIRN_BIN:?}"
T="${CAIRN_TMP:-/tmp}/graph_badinput.$$"
rm -rf "$T"; mkdir -p "$T/d"
trap 'rm -rf "$T"' EXIT
. "$(dirname "$0")/lib.sh"
KB="$T/kb"
q() { sqlite3 "$KB/cairn.db" "$1"; }
# mentions of the document whose uri ends in $1, as "type|label" lines
ments() { q "select e.type || '|' || e.label from mentions m join entities e on e.id = m.entity_id join chunks c on c.id = m.chunk_id join documents d on d.id = c.doc_id where d.uri like '%$1' group by e.id"; }

/usr/bin/python3 - "$T/d" <<'PY'
import os, sys
d = sys.argv[1]
def w(name, data):
    with open(os.path.join(d, name), 'wb') as f: f.write(data if isinstance(data, bytes) else data.encode())
w('nopunct.txt', ' '.join(['Ana Ruiz met Kestrel Avionics and Norvale Systems in Rotterdam'] * 3000))
w('caps.txt', ' '.join('Word%s%s' % (chr(97 + i % 26), chr(97 + i // 26 % 26)) for i in range(10000)))
w('numbers.txt', ' '.join('%d %d.%d 1e%d' % (i, i * 7, i % 10, i % 300) for i in range(30000)))
w('mixed.txt', ('שלום עולם. \u202bمرحبا بالعالم\u202c Привет Мир. 東京タワー は Norvale の. '
                'Ana\u200bRuiz met İstanbul Ǆemal. \U0001F600 Kestrel\u2066 Avionics.\n') * 500)
w('rtl.md', '# כותרת\n\n' + ('דני כהן, מנכ"ל של נורבייל, ביקר בתל אביב. '
                             'شركة نورفال اشترت كيستريل مقابل ١٠ ملايين يورو.\n\n') * 300)
w('iri.txt', ('Acme <Widgets> Inc bought Foo{Bar} Ltd. "Quoted Name" Corp, CEO of Back\\Slash GmbH, '
              'said "hi". Zeta%20Corp and Hash#Tag AB met Ana O\'Neil. Caret^Pipe|Corp acquired '
              'Space Tab\tCorp. Ünïcödé Ærø ApS hired Ŝtefan Ŀlewellyn.\n\n') * 100)
w('quotes.json', '[{"title": "He said \\"Norvale\\"", "text": "Norvale Systems GmbH said \\"no\\".'
                 '\\nNew line Kestrel Avionics\\r\\nAnd then Quillon Labs AB\\tsaid \\"yes\\"."}]')
w('nul.txt', b'Norvale Systems GmbH acquired Kestrel\x00 Avionics.\n')
w('badutf8.txt', b'Norvale Systems \xff\xfe acquired Kestrel Avionics.\n')
PY

expect 0 "created" -- "$BIN" init "$KB"
out=$("$BIN" ingest "$KB" "$T/d" 2>&1); rc=$?
[ "$rc" = 1 ] && ok || bad "ingest exit $rc (2 files refused): $out"
grep -q "7 added.*2 failed" <<<"$out" && ok || bad "7 stored, 2 refused: $out"
grep -q "nul.txt: binary file" <<<"$out" && ok || bad "NUL refused with a message: $out"
grep -q "badutf8.txt: invalid UTF-8" <<<"$out" && ok || bad "bad UTF-8 refused with a message: $out"
# the capitalised run (and the long unpunctuated sentence) hit limits: counted
grep -qE "graph: 0 chunks stored without extraction.*[1-9][0-9]* chunks hit an extraction limit" <<<"$out" && ok || bad "limits counted: $out"
expect 0 "all checks passed" -- "$BIN" check "$KB"

# every mention's surface is the text at its offsets, in every document
[ "$(q "select count(*) from mentions m join chunks c on c.id=m.chunk_id where substr(c.text, m.start_char-c.start_char+1, m.end_char-m.start_char) <> m.surface")" = 0 ] && ok || bad "mention offsets"
[ "$(q "select count(*) from relations r join chunks c on c.id = r.chunk_id where r.start_char < c.start_char or r.end_char > c.end_char or r.start_char >= r.end_char")" = 0 ] && ok || bad "relation sentence spans inside their chunk"
[ "$(q "select count(*) from mentions where surface = '' or instr(surface, char(10)) > 0 and surface like '%' || char(10) || 'And%'")" = 0 ] && ok || bad "no empty names, none running onto a line-initial 'And'"

# per document
[ "$(ments caps.txt | wc -l)" = 0 ] && ok || bad "ten thousand capitalised words are not a name: $(ments caps.txt | head -3)"
ments numbers.txt | grep -qE '^(person|organisation|place|product)\|' && bad "numbers named as entities" || ok
ments nopunct.txt | grep -qx 'person|Ana Ruiz' && ok || bad "names found in unpunctuated text"
ments mixed.txt | grep -q 'Привет Мир' && ok || bad "Cyrillic name kept"
[ "$(q "select count(*) from documents where uri like '%rtl.md' and deleted = 0")" = 1 ] && ok || bad "RTL document stored"
ments iri.txt | grep -qF "Ana O'Neil" && ok || bad "quote in a name kept: $(ments iri.txt | head -20)"
ments iri.txt | grep -qF 'Slash GmbH' && ok || bad "name after a backslash kept"
[ "$(q "select count(*) from entities where label like '%<%' or label like '%>%' or label like '%{%' or label like '%\"%'")" = 0 ] && ok || bad "IRI-breaking characters are not part of names"
ments quotes.json#0 | grep -qE '^organisation\|Norvale Systems' && ok || bad "JSON string with quotes: name found"
ments quotes.json#0 | grep -qF 'Quillon Labs AB' && ok || bad "name before a tab found"
# the graph tables are readable back through the query language
expect 0 "entities" -- "$BIN" sql "$KB" "SELECT count(*) AS entities FROM entities"

echo "graph_badinput: $pass passed, $fail failed"
[ "$fail" = 0 ]
