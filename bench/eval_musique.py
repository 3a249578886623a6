#!/usr/bin/env python3
"""eval_musique.py — `cairn ask` (extractive) on MuSiQue-100
(../shared/data/multihop/musique-100: 100 multi-hop questions, 1890 passages).

    /usr/bin/python3 bench/eval_musique.py [--build build] [-k 5] [-n 100]

Ingests every passage as one JSON Lines record (id p0001.., title, text)
into a fresh KB, asks each question with `cairn ask --json -k K` and reports:
  supporting recall@k  mean share of a question's supporting passages among
                       the documents of the k fused evidence chunks; and the
                       share of questions with all of them there
  cited supporting     questions whose answer cites a supporting passage
  containment          answer text contains the gold answer or an alias
                       (case-insensitive, whitespace collapsed)
  abstained            questions the answer abstained on (all are answerable)
Prints "SKIP: ..." and exits 0 when ../shared/data is absent.
"""
import argparse, json, os, re, shutil, subprocess, sys, tempfile, time

ap = argparse.ArgumentParser()
ap.add_argument("--build", default="build")
ap.add_argument("-k", type=int, default=5)
ap.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                help="a KB setting for this run, e.g. ask.min_support=0 (JSON value)")
ap.add_argument("-n", type=int, default=100)
ap.add_argument("--kb", help="build the KB here and keep it; reused when it exists")
a = ap.parse_args()
src = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def apply_settings(kb, pairs):
    """Writes KEY=VALUE settings (dotted keys, JSON values) into kb/cairn.json."""
    if not pairs: return
    path = os.path.join(kb, "cairn.json")
    d = json.load(open(path))
    for kv in pairs:
        k, v = kv.split("=", 1)
        o = d
        for part in k.split(".")[:-1]: o = o.setdefault(part, {})
        o[k.split(".")[-1]] = json.loads(v)
    json.dump(d, open(path, "w"), indent=2)
data = os.path.join(src, "..", "shared", "data", "multihop", "musique-100")
if not os.path.isdir(data):
    print("SKIP: ../shared/data/multihop/musique-100 is absent")
    sys.exit(0)
cairn = os.path.abspath(os.path.join(a.build, "cairn"))
qs = json.load(open(os.path.join(data, "musique_train_100.json")))[: a.n]
corpus = json.load(open(os.path.join(data, "musique_train_100_corpus.json")))
norm = lambda s: re.sub(r"\s+", " ", s).strip().lower()
key = {}
tmp = tempfile.mkdtemp()
try:
    kb = os.path.abspath(a.kb) if a.kb else os.path.join(tmp, "kb")
    os.makedirs(os.path.join(tmp, "musique"))
    with open(os.path.join(tmp, "musique", "passages.jsonl"), "w") as f:
        for i, p in enumerate(corpus):
            pid = "p%04d" % (i + 1)
            key[(p["title"], norm(p["text"]))] = pid
            f.write(json.dumps({"id": pid, "title": p["title"], "text": p["text"]}) + "\n")
    t0 = time.time()
    if not os.path.exists(os.path.join(kb, "cairn.db")):
        subprocess.run([cairn, "init", kb], check=True, capture_output=True)
        subprocess.run([cairn, "ingest", kb, "musique"], cwd=tmp, check=True, capture_output=True)
    t_ingest = time.time() - t0
    apply_settings(kb, a.set)
    rec_share = rec_all = cited = contain = abst = missing = 0
    hops = {}
    t0 = time.time()
    for q in qs:
        sup = set()
        for p in q["paragraphs"]:
            if p["is_supporting"]:
                pid = key.get((p["title"], norm(p["paragraph_text"])))
                if pid: sup.add(pid)
                else: missing += 1
        t = json.loads(subprocess.run([cairn, "ask", kb, q["question"], "--json", "-k", str(a.k)],
                                      capture_output=True, text=True, check=True).stdout)
        docs = {f["document"].rsplit("#", 1)[-1] for f in t["fused"]}
        cdocs = {s["document"].rsplit("#", 1)[-1] for s in t["answer"]["sentences"] if "document" in s}
        share = len(sup & docs) / len(sup) if sup else 0
        rec_share += share
        rec_all += bool(sup) and sup <= docs
        cited += bool(sup & cdocs)
        text = norm(t["answer"]["text"])
        hit = any(norm(x) in text for x in [q["answer"]] + q.get("answer_aliases", []) if x)
        contain += hit
        abst += t["answer"]["abstained"]
        h = len(q["question_decomposition"])
        hh = hops.setdefault(h, [0, 0]); hh[0] += 1; hh[1] += hit
    t_ask = time.time() - t0
    n = len(qs)
    print(f"MuSiQue-100: {n} questions, {len(corpus)} passages; k = {a.k}; ingest {t_ingest:.1f} s,"
          f" asks {t_ask:.1f} s ({1000 * t_ask / n:.0f} ms each, process start included)")
    if missing: print(f"  ({missing} supporting passages not found in the corpus file)")
    print(f"supporting recall@{a.k} (mean share):       {rec_share / n:.3f}")
    print(f"all supporting passages in evidence:      {rec_all}/{n} = {rec_all / n:.3f}")
    print(f"answer cites a supporting passage:        {cited}/{n} = {cited / n:.3f}")
    print(f"answer contains gold answer or alias:     {contain}/{n} = {contain / n:.3f}")
    for h, (m, c) in sorted(hops.items()):
        print(f"  {h} hops: {c}/{m}")
    print(f"abstained (all questions are answerable): {abst}/{n} = {abst / n:.3f}")
finally:
    shutil.rmtree(tmp)
