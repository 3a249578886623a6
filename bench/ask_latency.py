#!/usr/bin/env python3
"""ask_latency.py — latency of `cairn ask` (extractive) per stage, p50/p99.

    /usr/bin/python3 bench/ask_latency.py [--build build] [--chunks 100000] [--questions 60]
                                          [--kb DIR] [--skip-sample] [--cold]
                                          [--base BUILD] [--rounds N]

Warm numbers come from build/bench/bench_ask (one process, the searcher
kept open, as a server would: wall and process CPU time per stage); with
--cold also one `cairn ask` process per question (opening the KB and
loading the indexes every time).

1. the sample KB (datasets/corpus): every question of datasets/eval;
2. a generated KB of --chunks chunks: JSON Lines records of 3-4 template
   sentences about random companies, people, places and products (seeded:
   the same KB every run), one chunk each; --questions template questions
   about facts it holds (who is the chief executive of X, where is X
   headquartered, which company did X acquire in YEAR, who makes P).

Stage times are the trace's in-process latencies (latency_ms: retrieval,
graph, prompt, generate, checks); "end to end" is their sum with the
searcher's open; "wall" is the whole `cairn ask` process (start, KB open,
trace write). The target: retrieval + graph + checks under 50 ms p50 on
100k chunks. --kb keeps the generated KB there (reused when it exists).
--base BUILD: a baseline build's bench_ask runs too, before and after each
of --rounds (2) runs of --build's, alternately, so a loaded machine's
drift shows; each run asks every question twice. Set OMP_NUM_THREADS=1
for the numbers of docs/benchmarks.md (FAISS threads cost more than they
save on one query at a time).
"""
import argparse, json, os, random, shutil, subprocess, sys, tempfile, time

ap = argparse.ArgumentParser()
ap.add_argument("--build", default="build")
ap.add_argument("--chunks", type=int, default=100000)
ap.add_argument("--questions", type=int, default=60)
ap.add_argument("--kb")
ap.add_argument("--skip-sample", action="store_true")
ap.add_argument("--cold", action="store_true")
ap.add_argument("--base")
ap.add_argument("--rounds", type=int, default=2)
a = ap.parse_args()
src = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
cairn = os.path.abspath(os.path.join(a.build, "cairn"))
STAGES = ["open", "retrieval", "graph", "prompt", "generate", "checks"]


def pct(v, p):
    v = sorted(v)
    return v[min(len(v) - 1, int(len(v) * p))]


def run(kb, questions, label):
    qf = os.path.join(tmp, "questions.txt")
    open(qf, "w").write("\n".join(questions) + "\n")
    builds = [("new", a.build)] if not a.base else \
        [x for _ in range(a.rounds) for x in (("base", a.base), ("new", a.build))] + [("base", a.base)]
    for name, b in builds:
        print(f"{label}: warm (bench_ask), {name} = {b}, load average {os.getloadavg()[0]:.1f}")
        sys.stdout.flush()
        subprocess.run([os.path.join(os.path.abspath(b), "bench", "bench_ask"), kb, qf]
                       + (["2"] if a.base else []), check=True)
    if a.cold: run_cold(kb, questions, label)


def run_cold(kb, questions, label):
    lat = {s: [] for s in STAGES + ["ret+graph+checks", "end to end", "wall"]}
    for q in questions:
        t0 = time.perf_counter()
        out = subprocess.run([cairn, "ask", kb, q, "--json"], capture_output=True, text=True, check=True).stdout
        wall = (time.perf_counter() - t0) * 1000
        t = json.loads(out)["latency_ms"]
        for s in STAGES: lat[s].append(t[s])
        lat["ret+graph+checks"].append(t["retrieval"] + t["graph"] + t["checks"])
        lat["end to end"].append(sum(t[s] for s in STAGES))
        lat["wall"].append(wall)
    print(f"{label}: cold, one `cairn ask` process per question")
    for s, v in lat.items():
        print(f"  {s:<17} p50 {pct(v, 0.5):8.2f} ms   p99 {pct(v, 0.99):8.2f} ms")


rng = random.Random(11)
syl = ["nor", "vale", "kest", "rel", "bright", "wa", "ter", "cor", "vane", "tide", "well", "hal",
       "cy", "on", "skel", "de", "fjord", "link", "mar", "low", "ost", "rand", "gull", "crest",
       "ves", "grid", "tarn", "by", "lin", "den", "os", "ter", "fell", "green", "ha", "ven"]
word = lambda n: "".join(rng.choice(syl) for _ in range(n)).capitalize()
suffix = ["AS", "GmbH", "Ltd", "Oy", "AB", "plc", "SA", "BV"]
kinds = ["Systems", "Logistics", "Energy", "Marine", "Robotics", "Sensors", "Avionics", "Software"]
firsts = ["Ana", "Jonas", "Priya", "Tomas", "Leena", "Mikael", "Sofia", "Rasmus", "Agnes", "Felix",
          "Marta", "Yusuf", "Elin", "Owen", "Camille", "Lars", "Ingrid", "Jarno", "Bianca", "Henrik"]
things = ["navigation controller", "lidar sensor", "battery module", "flight controller",
          "autopilot", "route planner", "charging unit", "sonar array"]


def gen_kb(kb, n):
    comps = sorted({f"{word(2)} {rng.choice(kinds)} {rng.choice(suffix)}" for _ in range(n // 20)})
    people = sorted({f"{rng.choice(firsts)} {word(2)}" for _ in range(n // 10)})
    places = sorted({word(2) for _ in range(max(50, n // 200))})
    facts = []
    d = os.path.join(os.path.dirname(kb), "gen")
    os.makedirs(d, exist_ok=True)
    files = [open(os.path.join(d, "part%02d.jsonl" % i), "w") for i in range(10)]
    for i in range(n):
        c, c2, p, pl = rng.choice(comps), rng.choice(comps), rng.choice(people), rng.choice(places)
        prod = f"{word(1).upper()[:3]}-{rng.randint(10, 9999)}"
        year = rng.randint(1990, 2025)
        s = [f"{p} is the chief executive of {c}.",
             f"{c} is headquartered in {pl}.",
             f"{c} acquired {c2} in {year}.",
             f"The {prod} is a {rng.choice(things)} made by {c}.",
             f"{c} reported revenue of EUR {rng.randint(2, 900)} million in {year}."]
        rng.shuffle(s)
        k = rng.randint(3, 4)
        facts.append((s[:k], c, c2, p, pl, prod, year))
        files[i % 10].write(json.dumps({"id": "g%06d" % i, "title": c, "text": " ".join(s[:k])}) + "\n")
    for f in files: f.close()
    subprocess.run([cairn, "init", kb], check=True, capture_output=True)
    t0 = time.time()
    subprocess.run([cairn, "ingest", kb, d], check=True, capture_output=True)
    print(f"generated KB: {n} records in {time.time() - t0:.0f} s of ingestion")
    shutil.rmtree(d)
    json.dump([f[1:] for f in facts[: 5000]], open(os.path.join(kb, "bench_facts.json"), "w"))


tmp = tempfile.mkdtemp()
try:
    if not a.skip_sample:
        kb = os.path.join(tmp, "sample")
        subprocess.run([cairn, "init", kb], check=True, capture_output=True)
        subprocess.run([cairn, "ingest", kb, "datasets/corpus"], cwd=src, check=True, capture_output=True)
        qs = [json.loads(l)["question"] for l in open(os.path.join(src, "datasets/eval/questions.jsonl"))]
        run(kb, qs, "sample KB (datasets/corpus, %s chunks)" % subprocess.run(
            ["sqlite3", os.path.join(kb, "cairn.db"), "SELECT count(*) FROM chunks"],
            capture_output=True, text=True).stdout.strip())
    kb = os.path.abspath(a.kb) if a.kb else os.path.join(tmp, "big")
    if not os.path.exists(os.path.join(kb, "cairn.db")):
        os.makedirs(os.path.dirname(kb), exist_ok=True)
        gen_kb(kb, a.chunks)
    facts = json.load(open(os.path.join(kb, "bench_facts.json")))
    qrng = random.Random(5)
    qs = []
    for c, c2, p, pl, prod, year in qrng.sample(facts, min(a.questions, len(facts))):
        qs.append(qrng.choice([f"Who is the chief executive of {c}?", f"Where is {c} headquartered?",
                               f"Which company did {c} acquire in {year}?", f"Who makes the {prod}?"]))
    n = subprocess.run(["sqlite3", os.path.join(kb, "cairn.db"), "SELECT count(*) FROM chunks"],
                       capture_output=True, text=True).stdout.strip()
    run(kb, qs, f"generated KB ({n} chunks)")
finally:
    shutil.rmtree(tmp)
