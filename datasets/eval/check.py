#!/usr/bin/env python3
"""Validate datasets/eval/questions.jsonl against datasets/corpus/.

Checks: every referenced document exists; every evidence sentence occurs
verbatim in its document's extracted text (whitespace collapsed; HTML is
compared after removing tags and decoding character references); question
ids are unique; types are known; unanswerable questions carry no answer,
docs or evidence; the gold answer (or an alias) of an answerable question
appears in its evidence; corpus and question counts reach the minimums;
every corpus document has 80-400 words.

Usage: python3 datasets/eval/check.py [--quiet]
Exit status 0 when there are no errors, 1 otherwise.
Standard library only.
"""
import html
import html.parser
import json
import os
import re
import sys
from collections import Counter

HERE = os.path.dirname(os.path.abspath(__file__))
DATASETS = os.path.dirname(HERE)
CORPUS = os.path.join(DATASETS, "corpus")
QUESTIONS = os.path.join(HERE, "questions.jsonl")

TYPES = ("single", "multihop", "identifier", "numeric", "unanswerable")
MIN_TYPES = {"single": 20, "multihop": 20, "identifier": 8, "numeric": 8, "unanswerable": 8}
MIN_QUESTIONS = 80
MIN_DOCS = 150
MIN_FORMAT = {"md": 55, "txt": 35, "html": 25}
MIN_RECORDS = 15
MIN_REGISTRY = 5
MIN_WORDS, MAX_WORDS = 80, 400
INJECTION = re.compile(r"ignore (all )?previous instructions", re.I)


def norm(s):
    return re.sub(r"\s+", " ", s).strip()


class _Text(html.parser.HTMLParser):
    """Visible text of an HTML page: tags removed, script/style dropped,
    block-level tags turned into spaces, character references decoded."""

    BLOCK = {"p", "div", "h1", "h2", "h3", "h4", "h5", "h6", "li", "ul", "ol",
             "table", "tr", "td", "th", "br", "title", "article", "section",
             "head", "body", "html", "header", "footer", "nav", "main"}

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.parts = []
        self.skip = 0

    def handle_starttag(self, tag, attrs):
        if tag in ("script", "style"):
            self.skip += 1
        elif tag in self.BLOCK:
            self.parts.append(" ")

    def handle_endtag(self, tag):
        if tag in ("script", "style"):
            self.skip = max(0, self.skip - 1)
        elif tag in self.BLOCK:
            self.parts.append(" ")

    def handle_data(self, data):
        if not self.skip:
            self.parts.append(data)


def html_text(raw):
    p = _Text()
    p.feed(raw)
    p.close()
    return norm(html.unescape("".join(p.parts)))


def load_corpus():
    """Return {doc_ref: text} where doc_ref is relative to datasets/."""
    docs = {}
    fmt = Counter()
    for root, _dirs, files in os.walk(CORPUS):
        for name in sorted(files):
            path = os.path.join(root, name)
            rel = os.path.relpath(path, DATASETS).replace(os.sep, "/")
            with open(path, encoding="utf-8") as f:
                raw = f.read()
            if name == "records.jsonl":
                for n, line in enumerate(raw.splitlines(), 1):
                    if not line.strip():
                        continue
                    rec = json.loads(line)
                    for k in ("id", "title", "text"):
                        if not isinstance(rec.get(k), str) or not rec[k]:
                            raise SystemExit(f"{rel}:{n}: missing field {k}")
                    docs[f"{rel}#{rec['id']}"] = norm(rec["text"])
                    fmt["records"] += 1
            elif name == "registry.json":
                arr = json.loads(raw)
                if not isinstance(arr, list):
                    raise SystemExit(f"{rel}: top level must be an array")
                for rec in arr:
                    for k in ("id", "title", "text"):
                        if not isinstance(rec.get(k), str) or not rec[k]:
                            raise SystemExit(f"{rel}: entry missing field {k}")
                    docs[f"{rel}#{rec['id']}"] = norm(rec["text"])
                    fmt["registry"] += 1
            elif name.endswith(".html"):
                docs[rel] = html_text(raw)
                fmt["html"] += 1
            elif name.endswith(".md"):
                docs[rel] = norm(raw)
                fmt["md"] += 1
            elif name.endswith(".txt"):
                docs[rel] = norm(raw)
                fmt["txt"] += 1
            else:
                fmt["other"] += 1
    return docs, fmt


def main():
    quiet = "--quiet" in sys.argv
    errors, warnings = [], []
    docs, fmt = load_corpus()

    # corpus-level checks
    ndocs = len(docs)
    if ndocs < MIN_DOCS:
        errors.append(f"corpus has {ndocs} documents, need at least {MIN_DOCS}")
    for k, v in MIN_FORMAT.items():
        if fmt[k] < v:
            errors.append(f"corpus has {fmt[k]} .{k} files, need at least {v}")
    if fmt["records"] < MIN_RECORDS:
        errors.append(f"records.jsonl has {fmt['records']} records, need {MIN_RECORDS}")
    if fmt["registry"] < MIN_REGISTRY:
        errors.append(f"registry.json has {fmt['registry']} entries, need {MIN_REGISTRY}")
    words = {}
    for ref, text in docs.items():
        w = len(text.split())
        words[ref] = w
        if not MIN_WORDS <= w <= MAX_WORDS:
            errors.append(f"{ref}: {w} words, expected {MIN_WORDS}-{MAX_WORDS}")
    injected = sorted(r for r, t in docs.items() if INJECTION.search(t))

    # questions
    seen = set()
    types = Counter()
    used_docs = set()
    nev = 0
    with open(QUESTIONS, encoding="utf-8") as f:
        lines = [l for l in f.read().splitlines() if l.strip()]
    for n, line in enumerate(lines, 1):
        where = f"questions.jsonl:{n}"
        try:
            q = json.loads(line)
        except json.JSONDecodeError as e:
            errors.append(f"{where}: invalid JSON: {e}")
            continue
        qid = q.get("id")
        where = f"{where} ({qid})"
        for k, t in (("id", str), ("type", str), ("question", str), ("answer", str),
                     ("aliases", list), ("docs", list), ("evidence", list)):
            if not isinstance(q.get(k), t):
                errors.append(f"{where}: field {k} missing or not a {t.__name__}")
        if errors and errors[-1].startswith(where):
            continue
        if qid in seen:
            errors.append(f"{where}: duplicate id")
        seen.add(qid)
        qt = q["type"]
        if qt not in TYPES:
            errors.append(f"{where}: unknown type {qt!r}")
        types[qt] += 1
        if qt == "unanswerable":
            if q["answer"] or q["docs"] or q["evidence"]:
                errors.append(f"{where}: unanswerable question must have empty answer, docs, evidence")
            continue
        if not q["answer"].strip():
            errors.append(f"{where}: empty answer")
        if not q["docs"] or not q["evidence"]:
            errors.append(f"{where}: answerable question needs docs and evidence")
        for d in q["docs"]:
            if d not in docs:
                errors.append(f"{where}: document {d} not found in corpus")
            used_docs.add(d)
        if qt == "multihop" and len(set(q["docs"])) < 2:
            errors.append(f"{where}: multihop question cites fewer than 2 documents")
        ev_text = []
        for ev in q["evidence"]:
            nev += 1
            d, s = ev.get("doc"), ev.get("sentence")
            if not isinstance(d, str) or not isinstance(s, str) or not s.strip():
                errors.append(f"{where}: malformed evidence {ev!r}")
                continue
            if d not in q["docs"]:
                errors.append(f"{where}: evidence document {d} not listed in docs")
            if d not in docs:
                errors.append(f"{where}: evidence document {d} not found")
                continue
            if d.endswith(".html") and ("<" in s or "&" in s):
                errors.append(f"{where}: HTML evidence must not contain tags or character references")
            if d.endswith(".md") and re.search(r"[*_`#\[\]]", s):
                errors.append(f"{where}: Markdown evidence must not contain markup: {s[:60]}")
            if norm(s) not in docs[d]:
                errors.append(f"{where}: evidence not found verbatim in {d}: {s[:80]!r}")
            ev_text.append(norm(s).lower())
        cands = [q["answer"]] + [a for a in q["aliases"] if isinstance(a, str)]
        joined = " ".join(ev_text)
        if not any(norm(c).lower() in joined for c in cands if c.strip()):
            warnings.append(f"{where}: neither the answer nor an alias occurs in the evidence")
    nq = len(lines)
    if nq < MIN_QUESTIONS:
        errors.append(f"{nq} questions, need at least {MIN_QUESTIONS}")
    for t, m in MIN_TYPES.items():
        if types[t] < m:
            errors.append(f"only {types[t]} questions of type {t}, want at least {m}")

    for w in warnings:
        print("warning:", w)
    for e in errors:
        print("error:", e)
    wl = sorted(words.values())
    print(f"corpus: {ndocs} documents ({fmt['md']} md, {fmt['txt']} txt, {fmt['html']} html, "
          f"{fmt['records']} records.jsonl records, {fmt['registry']} registry.json entries); "
          f"words per document min {wl[0]} median {wl[len(wl)//2]} max {wl[-1]}, total {sum(wl)}")
    print(f"documents containing prompt-injection text: {', '.join(injected) or 'none'}")
    print(f"questions: {nq} ({', '.join(f'{t} {types[t]}' for t in TYPES)}); "
          f"evidence sentences: {nev}; distinct supporting documents: {len(used_docs)}")
    print(f"result: {'OK' if not errors else 'FAILED'} ({len(errors)} errors, {len(warnings)} warnings)")
    return 0 if not errors else 1


if __name__ == "__main__":
    sys.exit(main())
