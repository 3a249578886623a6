#!/usr/bin/env python3
"""eval_ask.py — quality of `cairn ask` (extractive generator) on
datasets/eval/questions.jsonl over datasets/corpus.

    /usr/bin/python3 bench/eval_ask.py [--build build] [-k 5]

Builds a fresh KB, asks every question with `cairn ask --json` and reports:
  gold recall@k   answerable questions whose gold documents are all among
                  the k fused evidence chunks' documents (and: any of them)
  cited gold      answerable questions whose answer cites a gold document
  containment     answerable questions whose answer text contains the gold
                  answer or an alias (case-insensitive substring; the rule)
  abstention      recall: share of unanswerable questions that abstained;
                  precision: share of abstentions that were on unanswerable
                  questions; and answerable questions that wrongly abstained
  supported       share of the answer sentences (answerable questions) whose
                  citation is a chunk of a gold document (the dataset's rule)
  checks ok       share of answers whose checks all passed
  latency         p50 / p99 per stage from the traces (ms, in-process)
"""
import argparse, json, os, shutil, subprocess, tempfile

ap = argparse.ArgumentParser()
ap.add_argument("--build", default="build")
ap.add_argument("-k", type=int, default=5)
ap.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                help="a KB setting for this run, e.g. ask.min_support=0 (JSON value)")
ap.add_argument("--kb", help="reuse this KB (built from datasets/corpus) instead of a fresh one")
ap.add_argument("--show", action="store_true", help="print each wrong answer")
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
cairn = os.path.abspath(os.path.join(a.build, "cairn"))
tmp = tempfile.mkdtemp()
kb = os.path.join(tmp, "kb")
try:
    if a.kb:
        kb = a.kb
    else:
        subprocess.run([cairn, "init", kb], check=True, capture_output=True)
        subprocess.run([cairn, "ingest", kb, "datasets/corpus"], cwd=src, check=True, capture_output=True)
    apply_settings(kb, a.set)
    qs = [json.loads(l) for l in open(os.path.join(src, "datasets/eval/questions.jsonl"))]
    n = {"ans": 0, "unans": 0}
    c = dict(rec_all=0, rec_any=0, cited=0, contain=0, abst_ok=0, abst_bad=0, checks=0, total=0,
             sents=0, sents_ok=0)
    bytype = {}
    lat = {}
    for q in qs:
        out = subprocess.run([cairn, "ask", kb, q["question"], "--json", "-k", str(a.k)],
                             capture_output=True, text=True, check=True).stdout
        t = json.loads(out)
        ans = t["answer"]
        for st, v in t["latency_ms"].items():
            if v is not None: lat.setdefault(st, []).append(v)
        c["total"] += 1
        c["checks"] += t["checks"]["ok"]
        if q["type"] == "unanswerable":
            n["unans"] += 1
            c["abst_ok"] += ans["abstained"]
            if a.show and not ans["abstained"]:
                print("UNANS", q["id"], q["question"], "->", ans["text"][:200])
            continue
        n["ans"] += 1
        gold = {"datasets/" + d for d in q["docs"]}
        docs = {f["document"] for f in t["fused"]}
        cited = {s["document"] for s in ans["sentences"]}
        c["rec_all"] += gold <= docs
        c["rec_any"] += bool(gold & docs)
        c["cited"] += bool(gold & cited)
        text = ans["text"].lower()
        hit = any(x.lower() in text for x in [q["answer"]] + q.get("aliases", []) if x)
        c["contain"] += hit
        for s in ans["sentences"]:
            c["sents"] += 1
            c["sents_ok"] += s["document"] in gold
        if a.show and not hit:
            print("MISS", q["id"], q["type"], q["question"], "| gold:", q["answer"], "->", ans["text"][:300])
        c["abst_bad"] += ans["abstained"]
        bt = bytype.setdefault(q["type"], [0, 0]); bt[0] += 1; bt[1] += hit
    A, U = n["ans"], n["unans"]
    print(f"questions: {A} answerable, {U} unanswerable; k = {a.k}")
    print(f"gold recall@{a.k} (all gold docs in evidence): {c['rec_all']}/{A} = {c['rec_all']/A:.3f}")
    print(f"gold recall@{a.k} (any gold doc in evidence):  {c['rec_any']}/{A} = {c['rec_any']/A:.3f}")
    print(f"answer cites a gold doc:                 {c['cited']}/{A} = {c['cited']/A:.3f}")
    print(f"answer contains gold answer or alias:    {c['contain']}/{A} = {c['contain']/A:.3f}")
    for k, (m, h) in sorted(bytype.items()):
        print(f"  {k:<12} {h}/{m} = {h/m:.3f}")
    print(f"unanswerable that abstained:             {c['abst_ok']}/{U} = {c['abst_ok']/max(U,1):.3f}")
    n_abst = c["abst_ok"] + c["abst_bad"]
    print(f"abstention precision:                    {c['abst_ok']}/{n_abst} = {c['abst_ok']/max(n_abst,1):.3f}")
    print(f"answerable that abstained (wrongly):     {c['abst_bad']}/{A} = {c['abst_bad']/A:.3f}")
    print(f"answer sentences citing a gold doc:      {c['sents_ok']}/{c['sents']} = {c['sents_ok']/max(c['sents'],1):.3f}")
    print(f"checks ok:                               {c['checks']}/{c['total']}")
    for st, v in lat.items():
        v.sort()
        print(f"latency {st:<10} p50 {v[len(v)//2]:.2f} ms  p99 {v[min(len(v)-1, int(len(v)*0.99))]:.2f} ms")
finally:
    shutil.rmtree(tmp)
