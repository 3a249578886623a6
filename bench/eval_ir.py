#!/usr/bin/env python3
"""eval_ir.py — retrieval quality of cairn on collections with relevance judgments.

    python3 bench/eval_ir.py [--build build] [--shared ../shared] [--modes bm25,...]
                             [--collections cisi,medline,sample] [--k 300]
                             [--set vectors.hnsw_ef_search=64 ...]

For each collection: builds a fresh KB (documents as JSONL records, one per
judged document id), runs every judged query through `cairn search --json`,
collapses chunk hits to documents (best chunk wins), and reports nDCG@10
(binary gains), recall@10, recall@100, MRR and MAP (over the top 100).
`sample` is datasets/eval/questions.jsonl over datasets/corpus (answerable
questions only; relevant = the gold supporting documents).
Collections missing from --shared are skipped with a message.
--k: hits asked per query (300: the metrics over the top 100; 10 keeps a
hybrid search's lanes at search.depth, as a server's k=10 search, so the
vector lane's settings are the ones a server uses; R@100 is then R@10).
--set KEY=VALUE (repeatable): a setting written into each KB's cairn.json
before ingesting, dotted keys nested ("vectors.hnsw_threshold=1": HNSW
even for these small collections; integers stay integers).
"""
import argparse, json, math, os, re, shutil, subprocess, sys, tempfile

def read_smart(path):
    """SMART records: '.I id' then fields '.T', '.A', '.W', '.X', ...; returns {id: text}."""
    recs, cur, field = {}, None, None
    with open(path, encoding="latin-1") as f:
        for line in f:
            m = re.match(r"^\.I\s+(\d+)", line)
            if m:
                cur = m.group(1); recs[cur] = {}; field = None; continue
            m = re.match(r"^\.([A-Z])\s*$", line)
            if m:
                field = m.group(1); recs[cur].setdefault(field, ""); continue
            if cur is not None and field:
                recs[cur][field] += line
    return recs

def load_collection(name, shared):
    base = os.path.join(shared, "data", "ir")
    if name == "cisi":
        d = os.path.join(base, "cisi")
        docs = read_smart(os.path.join(d, "CISI.ALL")); qs = read_smart(os.path.join(d, "CISI.QRY"))
        rel = {}
        for line in open(os.path.join(d, "CISI.REL")):
            p = line.split()
            if len(p) >= 2: rel.setdefault(p[0], set()).add(p[1])
    elif name == "medline":
        d = os.path.join(base, "medline")
        docs = read_smart(os.path.join(d, "MED.ALL")); qs = read_smart(os.path.join(d, "MED.QRY"))
        rel = {}
        for line in open(os.path.join(d, "MED.REL")):
            p = line.split()
            if len(p) >= 4: rel.setdefault(p[0], set()).add(p[2])
    else:
        raise ValueError(name)
    docs = {i: {"title": r.get("T", "").strip(), "text": (r.get("T", "") + "\n" + r.get("W", "")).strip()}
            for i, r in docs.items()}
    queries = {i: " ".join((r.get("T", "") + " " + r.get("W", "")).split()) for i, r in qs.items()}
    queries = {i: q for i, q in queries.items() if i in rel}
    return docs, queries, rel

def metrics(ranked, relevant):
    gains = [1.0 if d in relevant else 0.0 for d in ranked[:100]]
    dcg = sum(g / math.log2(i + 2) for i, g in enumerate(gains[:10]))
    idcg = sum(1.0 / math.log2(i + 2) for i in range(min(10, len(relevant))))
    hits, ap, rr = 0, 0.0, 0.0
    for i, g in enumerate(gains):
        if g:
            hits += 1; ap += hits / (i + 1)
            if not rr: rr = 1.0 / (i + 1)
    return {"ndcg@10": dcg / idcg if idcg else 0.0,
            "recall@10": sum(gains[:10]) / len(relevant),
            "recall@100": sum(gains) / len(relevant),
            "mrr": rr, "map": ap / len(relevant)}

def apply_settings(kb, pairs):
    """Writes KEY=VALUE pairs (dotted keys nested) into kb/cairn.json."""
    if not pairs:
        return
    p = os.path.join(kb, "cairn.json")
    with open(p) as f:
        s = json.load(f)
    for pair in pairs:
        key, sep, val = pair.partition("=")
        if not sep or not key:
            sys.exit("--set wants KEY=VALUE, got %r" % pair)
        try:
            val = int(val)
        except ValueError:
            try:
                val = float(val)
            except ValueError:
                pass
        node, parts = s, key.split(".")
        for part in parts[:-1]:
            node = node.setdefault(part, {})
        node[parts[-1]] = val
    with open(p, "w") as f:
        json.dump(s, f)

K = 300

def search(cairn, kb, q, mode, has_mode, record_ids=True):
    """Ranked distinct documents for q: record ids ("file#id" -> "id") when
    record_ids, else whole uris."""
    cmd = [cairn, "search", kb, q, "-k", str(K), "--json"]
    if has_mode: cmd += ["--mode", mode]
    r = subprocess.run(cmd, capture_output=True, text=True)
    if r.returncode != 0:
        return []
    seen, out = set(), []
    for h in json.loads(r.stdout)["hits"]:
        doc = h["document"]
        if record_ids and "#" in doc:
            doc = doc.split("#", 1)[1]
        if doc not in seen:
            seen.add(doc); out.append(doc)
    return out

def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", default="build")
    ap.add_argument("--shared", default=os.path.join(os.path.dirname(__file__), "..", "..", "shared"))
    ap.add_argument("--modes", default="bm25")
    ap.add_argument("--collections", default="cisi,medline,sample")
    ap.add_argument("--k", type=int, default=300)
    ap.add_argument("--set", action="append", default=[])
    a = ap.parse_args()
    global K
    K = a.k
    cairn = os.path.abspath(os.path.join(a.build, "cairn"))
    src = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
    has_mode = "--mode" in subprocess.run([cairn, "search", "--help"], capture_output=True, text=True).stdout
    tmp = tempfile.mkdtemp(prefix="cairn-eval-")
    print("| collection | mode | queries | nDCG@10 | R@10 | R@100 | MRR | MAP |")
    print("|---|---|---|---|---|---|---|---|")
    try:
        for name in a.collections.split(","):
            kb = os.path.join(tmp, name)
            if name == "sample":
                qpath = os.path.join(src, "datasets", "eval", "questions.jsonl")
                if not os.path.exists(qpath):
                    print("skipped sample: %s absent" % qpath, file=sys.stderr); continue
                subprocess.run([cairn, "init", kb], check=True, capture_output=True)
                apply_settings(kb, a.set)
                subprocess.run([cairn, "ingest", kb, os.path.join(src, "datasets", "corpus")],
                               check=True, capture_output=True)
                queries, rel = {}, {}
                for line in open(qpath):
                    q = json.loads(line)
                    if q.get("docs"):
                        queries[q["id"]] = q["question"]; rel[q["id"]] = set(q["docs"])
                def norm(d):
                    i = d.find("datasets/")
                    return d[i + len("datasets/"):] if i >= 0 else d
                run = lambda q, mode: [norm(d) for d in search(cairn, kb, q, mode, has_mode, False)]
            else:
                if not os.path.isdir(os.path.join(a.shared, "data", "ir")):
                    print("skipped %s: %s/data/ir absent" % (name, a.shared), file=sys.stderr); continue
                docs, queries, rel = load_collection(name, a.shared)
                jl = os.path.join(tmp, name + ".jsonl")
                with open(jl, "w") as f:
                    for i, d in docs.items():
                        f.write(json.dumps({"id": i, "title": d["title"], "text": d["text"]}) + "\n")
                subprocess.run([cairn, "init", kb], check=True, capture_output=True)
                apply_settings(kb, a.set)
                subprocess.run([cairn, "ingest", kb, jl], check=True, capture_output=True)
                run = lambda q, mode: search(cairn, kb, q, mode, has_mode)
            for mode in a.modes.split(","):
                tot = {}
                for qid, q in queries.items():
                    m = metrics(run(q, mode), rel[qid])
                    for k, v in m.items(): tot[k] = tot.get(k, 0.0) + v
                n = len(queries)
                print("| %s | %s | %d | %.3f | %.3f | %.3f | %.3f | %.3f |" % (
                    name, mode, n, tot["ndcg@10"] / n, tot["recall@10"] / n,
                    tot["recall@100"] / n, tot["mrr"] / n, tot["map"] / n))
                sys.stdout.flush()
    finally:
        shutil.rmtree(tmp, ignore_errors=True)

if __name__ == "__main__":
    main()
