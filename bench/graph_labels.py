#!/usr/bin/env python3
"""graph_labels.py — turns datasets/eval/graph_labels.txt (hand-written
labels) into datasets/eval/graph_labels.jsonl: one line per chunk with its
text and every labelled mention's exact code-point offsets in the chunk.
The chunk texts come from a KB built from datasets/corpus with the default
settings.  Usage: bench/graph_labels.py KB_DIR [labels.txt] [out.jsonl]
Fails on a surface that does not occur in its chunk."""
import json, os, re, sqlite3, sys

here = os.path.dirname(os.path.abspath(__file__))
kb = sys.argv[1]
src = sys.argv[2] if len(sys.argv) > 2 else os.path.join(here, '..', 'datasets/eval/graph_labels.txt')
dst = sys.argv[3] if len(sys.argv) > 3 else os.path.join(here, '..', 'datasets/eval/graph_labels.jsonl')
db = sqlite3.connect(os.path.join(kb, 'cairn.db'))

def word_char(c):
    return c.isalnum() or c in '_'

def occurrences(text, s):
    out, i = [], text.find(s)
    while i >= 0:
        j = i + len(s)
        if (i == 0 or not word_char(text[i - 1]) or not word_char(s[0])) and \
           (j == len(text) or not word_char(text[j]) or not word_char(s[-1])):
            out.append((i, j))
        i = text.find(s, i + 1)
    return out

chunks, cur = [], None
for n, line in enumerate(open(src, encoding='utf-8'), 1):
    line = line.rstrip('\n')
    if not line or line.startswith('# '):
        continue
    if line.startswith('## '):
        uri, ordinal = line[3:].rsplit(' ', 1)
        row = db.execute("SELECT c.text FROM chunks c JOIN documents d ON d.id = c.doc_id"
                         " WHERE d.deleted = 0 AND (d.uri = ?1 OR d.uri LIKE '%/' || ?1)"
                         " AND c.ordinal = ?2", (uri, int(ordinal))).fetchone()
        if not row:
            sys.exit(f'{src}:{n}: no chunk {uri} {ordinal} in {kb}')
        cur = {'uri': uri, 'ordinal': int(ordinal), 'text': row[0], 'labels': [], 'rels': []}
        chunks.append(cur)
    elif line.startswith('E '):
        typ, surf = [x.strip() for x in line[2:].split('|', 1)]
        cur['labels'].append((typ, surf, n))
    elif line.startswith('R '):
        s, p, o = [x.strip() for x in line[2:].split('|')]
        cur['rels'].append((s, p, o, n))
    else:
        sys.exit(f'{src}:{n}: cannot read: {line}')

with open(dst, 'w', encoding='utf-8') as f:
    for c in chunks:
        text, spans = c['text'], []
        # longer surfaces first: an occurrence inside a longer one is not a mention
        for typ, surf, n in sorted(c['labels'], key=lambda l: -len(l[1])):
            occ = occurrences(text, surf)
            if not occ:
                sys.exit(f'{src}:{n}: "{surf}" not in {c["uri"]} {c["ordinal"]}')
            for a, b in occ:
                if not any(a < y and x < b for x, y, _, _ in spans):
                    spans.append((a, b, typ, surf))
        spans.sort()
        names = {s for _, _, _, s in spans}
        for s, p, o, n in c['rels']:
            if s not in names or o not in names:
                sys.exit(f'{src}:{n}: relation end not labelled as a mention')
        f.write(json.dumps({
            'uri': c['uri'], 'ordinal': c['ordinal'], 'text': text,
            'entities': [{'start': a, 'end': b, 'type': t, 'text': s} for a, b, t, s in spans],
            'relations': [{'subject': s, 'predicate': p, 'object': o} for s, p, o, _ in c['rels']],
        }, ensure_ascii=False) + '\n')
print(f'{dst}: {len(chunks)} chunks, {sum(len(c["labels"]) for c in chunks)} labels')
