#!/usr/bin/env python3
"""foundation.py — ingestion and BM25 benchmarks (issue: foundation).

    python3 bench/foundation.py [--build build] [--mb 50] [--chunks 100000,1000000]

Generates a synthetic corpus (fixed seed, Zipf-like vocabulary), then reports:
  * ingestion (parse + chunk + FTS5) MB/s and documents/s, peak RSS;
  * BM25 latency p50/p99 (bench_bm25) at each chunk count;
  * `cairn search` versus the sqlite3 shell running the same FTS5 query on the
    same database (mean wall time over repeated runs, same process start
    cost on both sides), and whether EXPLAIN QUERY PLAN shows a temp B-tree.
Numbers go to stdout; copy them into docs/benchmarks.md with the machine.
"""
import argparse, os, random, resource, shutil, subprocess, sys, tempfile, time

def words(n, rng, vocab, weights):
    return rng.choices(vocab, weights=weights, k=n)

def make_vocab(rng, n=20000):
    letters = "abcdefghijklmnopqrstuvwxyz"
    vocab = sorted({"".join(rng.choice(letters) for _ in range(rng.randint(3, 10))) for _ in range(n)})
    weights = [1.0 / (i + 1) for i in range(len(vocab))]
    return vocab, weights

def write_corpus(root, total_bytes, doc_bytes, rng, vocab, weights):
    os.makedirs(root, exist_ok=True)
    written = ndocs = 0
    while written < total_bytes:
        paras = []
        size = 0
        while size < doc_bytes:
            sents = []
            for _ in range(rng.randint(2, 6)):
                w = words(rng.randint(6, 20), rng, vocab, weights)
                sents.append(" ".join(w).capitalize() + ".")
            p = " ".join(sents)
            paras.append(p)
            size += len(p) + 2
        text = "\n\n".join(paras) + "\n"
        sub = os.path.join(root, "d%03d" % (ndocs // 1000))
        os.makedirs(sub, exist_ok=True)
        with open(os.path.join(sub, "doc%06d.txt" % ndocs), "w") as f:
            f.write(text)
        written += len(text)
        ndocs += 1
    return written, ndocs

def run(cmd, **kw):
    return subprocess.run(cmd, check=True, capture_output=True, text=True, **kw)

def child_rss_mb():
    return resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024.0

def ingest(cairn, kb, corpus, target_tokens=None, vectors=False):
    """Ingests into a new KB. Without vectors (embedder "none") this measures
    parse + chunk + FTS5 alone, the foundation's pipeline."""
    import json
    if os.path.exists(kb):
        shutil.rmtree(kb)
    run([cairn, "init", kb])
    p = os.path.join(kb, "cairn.json")
    s = json.load(open(p))
    if target_tokens:
        s["chunk"]["target_tokens"] = target_tokens
        s["chunk"]["overlap_tokens"] = max(4, target_tokens // 8)
    if not vectors:
        s["embedder"] = {"name": "none"}
    json.dump(s, open(p, "w"))
    t0 = time.time()
    out = run([cairn, "ingest", kb, corpus, "--json"]).stdout
    return time.time() - t0, out

def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", default="build")
    ap.add_argument("--mb", type=float, default=50)
    ap.add_argument("--chunks", default="100000,1000000")
    ap.add_argument("--keep", action="store_true")
    a = ap.parse_args()
    cairn = os.path.abspath(os.path.join(a.build, "cairn"))
    bm25 = os.path.abspath(os.path.join(a.build, "bench", "bench_bm25"))
    tmp = tempfile.mkdtemp(prefix="cairn-bench-")
    rng = random.Random(42)
    vocab, weights = make_vocab(rng)
    import json
    try:
        corpus = os.path.join(tmp, "corpus")
        nbytes, ndocs = write_corpus(corpus, int(a.mb * 1e6), 10000, rng, vocab, weights)
        secs, out = ingest(cairn, os.path.join(tmp, "kb"), corpus)
        st = json.loads(out)
        print("ingest: %.1f MB in %d docs -> %d chunks: %.2f s, %.1f MB/s, %.0f docs/s, peak RSS %.0f MB"
              % (nbytes / 1e6, ndocs, st["chunks"], secs, nbytes / 1e6 / secs, ndocs / secs, child_rss_mb()))
        sys.stdout.flush()
        for target in [int(x) for x in a.chunks.split(",") if x]:
            # ~48-token chunks: bytes needed for `target` chunks
            mb = target * 330 / 1e6
            c2 = os.path.join(tmp, "corpus%d" % target)
            write_corpus(c2, int(mb * 1e6), 20000, rng, vocab, weights)
            kb = os.path.join(tmp, "kb%d" % target)
            secs, out = ingest(cairn, kb, c2, target_tokens=48)
            st = json.loads(out)
            print("ingest (48-token chunks): %.0f MB -> %d chunks in %.1f s (%.1f MB/s), peak RSS %.0f MB"
                  % (mb, st["chunks"], secs, mb / secs, child_rss_mb()))
            print(run([bm25, kb, "2000", "10"]).stdout.strip())
            # cairn search vs the sqlite3 shell, same query, same DB
            q = "%s %s" % (vocab[300], vocab[1200])
            fts = '"%s" OR "%s"' % (vocab[300], vocab[1200])
            sql = ("SELECT f.rowid, -bm25(chunks_fts), snippet(chunks_fts, 0, '[', ']', '...', 16),"
                   " c.ordinal, c.start_char, c.end_char, d.uri, d.id, c.section"
                   " FROM chunks_fts AS f CROSS JOIN chunks AS c ON c.id = f.rowid"
                   " CROSS JOIN documents AS d ON d.id = c.doc_id"
                   " WHERE chunks_fts MATCH '%s' ORDER BY rank LIMIT 10" % fts.replace("'", "''"))
            plan = run(["sqlite3", os.path.join(kb, "cairn.db"), "EXPLAIN QUERY PLAN " + sql]).stdout
            reps = 40
            for _ in range(3):
                run([cairn, "search", kb, q, "--json"]); run(["sqlite3", os.path.join(kb, "cairn.db"), sql])
            tc = ts = 0.0
            for _ in range(reps):   # interleaved, so load noise hits both
                t0 = time.perf_counter(); run([cairn, "search", kb, q, "--json"]); tc += time.perf_counter() - t0
                t0 = time.perf_counter(); run(["sqlite3", os.path.join(kb, "cairn.db"), sql]); ts += time.perf_counter() - t0
            print("cairn search %.2f ms vs sqlite3 shell %.2f ms per run: ratio %.2f; temp B-tree in plan: %s"
                  % (tc / reps * 1e3, ts / reps * 1e3, tc / ts, "yes" if "TEMP B-TREE" in plan else "no"))
            sys.stdout.flush()
            if not a.keep:
                shutil.rmtree(c2); shutil.rmtree(kb)
    finally:
        if not a.keep:
            shutil.rmtree(tmp, ignore_errors=True)
        else:
            print("kept", tmp)

if __name__ == "__main__":
    main()
