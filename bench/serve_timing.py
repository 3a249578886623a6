#!/usr/bin/env python3
"""serve_timing.py LOG [MODE [PHASE]]: reads `cairn serve`'s timing log
(CAIRN_SERVE_TIMING=LOG, server/serve_timing.c) and says where the search
latency tail comes from: each request's server time by part, the
per-connection cycle (one request's headers to the next's on the same
keep-alive connection: what wrk sees as latency, plus its turnaround), and
for the slowest cycles what the serving thread did meanwhile (served other
connections = queueing; not running = preempted or blocked) and whether a
vector refresh or a write overlapped. MODE: hybrid, bm25 or all (default
hybrid); PHASE: nowriter (before the first write), writer (from it) or
all (default)."""
import sys, collections

def pct(v, p):
    if not v: return float("nan")
    v = sorted(v); return v[min(len(v) - 1, int(p / 100 * len(v)))]

def row(name, v):
    print("%-22s n=%6d p50=%8.3f p90=%8.3f p99=%8.3f p99.9=%8.3f max=%8.3f mean=%7.3f" % (
        name, len(v), pct(v, 50), pct(v, 90), pct(v, 99), pct(v, 99.9), max(v) if v else 0,
        sum(v) / len(v) if v else 0))

S, ev = [], []
evcpu = collections.defaultdict(list)
t_first = None
for line in open(sys.argv[1], errors="replace"):
    f = line.split(" ", 14)
    if len(f) < 3: continue
    t = float(f[1])
    if t_first is None: t_first = t
    if f[0] == "S" and len(f) >= 15:
        S.append(dict(t=t, tid=int(f[2]), conn=f[3], total=float(f[4]), wait=float(f[5]),
                      slot=float(f[6]), search=float(f[7]), bm25=float(f[8]), vec=float(f[9]),
                      hyd=float(f[10]), send=float(f[11]), live=int(f[12]), mode=int(f[13]),
                      q=f[14].strip() if len(f) > 14 else ""))
    elif f[0] in ("V", "W"):
        ev.append((t, f[0] + ":" + f[3], float(f[4])))
        rest = line.split()
        if "cpu" in rest[:-1]:   # the event's own thread CPU, ms
            evcpu[f[0] + ":" + f[3]].append(float(rest[rest.index("cpu") + 1]))
MODES = {"bm25": 0, "vector": 1, "hybrid": 2}
mode = sys.argv[2] if len(sys.argv) > 2 else "hybrid"
phase = sys.argv[3] if len(sys.argv) > 3 else "all"
w1 = min([t - d for t, k, d in ev if k == "W:job"] or [1e18])
if mode != "all": S = [s for s in S if s["mode"] == MODES[mode]]
if phase == "nowriter": S = [s for s in S if s["t"] < w1]
if phase == "writer": S = [s for s in S if s["t"] - s["total"] >= w1]
if S:
    lo, hi = S[0]["t"] - 1e3, S[-1]["t"]
    ev = [e for e in ev if lo <= e[0] <= hi + 1e3]
if not S: sys.exit("no search lines in the window")
dur = (S[-1]["t"] - S[0]["t"]) / 1e3
print("window %.1f s, %d searches (%.0f/s), %d events" % (dur, len(S), len(S) / max(dur, 1e-9), len(ev)))
print("-- server time per request (ms)")
for k in ("total", "wait", "slot", "search", "bm25", "vec", "hyd", "send"):
    row(k, [s[k] for s in S])
print("live-checked (index behind the catalog): %.1f%%" % (100 * sum(s["live"] for s in S) / len(S)))
kinds = collections.defaultdict(list)
for t, k, d in ev: kinds[k].append(d)
for k, v in sorted(kinds.items()): row("event " + k, v)
for k, v in sorted(evcpu.items()):   # whole log, not only the window
    print("event %s thread CPU ms: n %d, median %.1f, mean %.1f, total %.0f" % (
        k, len(v), pct(v, 50), sum(v) / len(v), sum(v)))
# per connection cycles
byc = collections.defaultdict(list)
for s in S: byc[s["conn"]].append(s)
cyc = []   # (cycle, gap, req_prev, req_next)
for c, v in byc.items():
    v.sort(key=lambda s: s["t"])
    for a, b in zip(v, v[1:]):
        t0a, t0b = a["t"] - a["total"], b["t"] - b["total"]
        cyc.append((t0b - t0a, t0b - a["t"], a, b))
print("-- per connection (%d connections)" % len(byc))
row("cycle (~wrk latency)", [c[0] for c in cyc])
row("gap (resp -> next req)", [c[1] for c in cyc])
# the cycle counted in requests the server completed meanwhile (all
# threads): what the latency is on a machine of steady speed, free of the
# noise of other processes taking the CPU for a while
import bisect as _b
done_t = sorted(s["t"] for s in S)
row("cycle in requests", [float(_b.bisect_left(done_t, b["t"]) - _b.bisect_right(done_t, a["t"]))
                          for _, _, a, b in cyc])
byt = collections.defaultdict(lambda: [0, 0.0, set()])
for s in S:
    x = byt[s["tid"]]; x[0] += 1; x[1] += s["total"]; x[2].add(s["conn"])
for tid, (n, busy, conns) in sorted(byt.items()):
    tc = [c[0] for c in cyc if c[3]["tid"] == tid]
    print("thread %d: %d connections, %d requests, busy %.1f%% of the window;"
          " cycle p50 %.1f p99 %.1f ms" % (tid, len(conns), n, 100 * busy / 1e3 / max(dur, 1e-9),
                                           pct(tc, 50), pct(tc, 99)))
# the slowest 1% of cycles: what did the thread do during the gap
cyc.sort(key=lambda c: c[0])
tail = cyc[int(0.99 * len(cyc)):]
ev_iv = [(t - d, t, k) for t, k, d in ev]
by_tid = collections.defaultdict(list)
for s in S: by_tid[s["tid"]].append(s)
for v in by_tid.values(): v.sort(key=lambda s: s["t"])
import bisect
ends = {tid: [s["t"] for s in v] for tid, v in by_tid.items()}
def served_between(tid, a, b):
    v, e = by_tid[tid], ends[tid]
    i, j = bisect.bisect_left(e, a), bisect.bisect_right(e, b)
    return j - i, sum(min(s["t"], b) - max(s["t"] - s["total"], a) for s in v[i:j])
qn = srv = ovl = 0.0
own = []
for cy, gap, a, b in tail:
    t_end, t_start = a["t"], b["t"] - b["total"]
    n, busy = served_between(b["tid"], t_end, t_start)
    srv += busy; qn += n
    own.append(a["total"])
    if any(x < t_start and y > t_end - a["total"] for x, y, k in ev_iv): ovl += 1
gsum = sum(c[1] for c in tail)
print("-- slowest 1%% of cycles (%d, from %.1f ms): mean cycle %.1f ms, own server time %.2f ms,"
      " gap %.1f ms; in the gaps the thread served %.1f other requests (%.0f%% of the gap);"
      " %.0f%% overlap a V/W event" % (len(tail), tail[0][0], sum(c[0] for c in tail) / len(tail),
      sum(own) / len(own), gsum / len(tail), qn / len(tail), 100 * srv / max(gsum, 1e-9),
      100 * ovl / len(tail)))
allsrv = alln = 0
samp = cyc[::max(1, len(cyc) // 2000)]
for cy, gap, a, b in samp:
    n, busy = served_between(b["tid"], a["t"], b["t"] - b["total"])
    allsrv += busy; alln += n
print("-- all cycles (sample of %d): gap %.1f ms, served %.1f others (%.0f%% of the gap)" % (
    len(samp), sum(c[1] for c in samp) / len(samp), alln / len(samp),
    100 * allsrv / max(sum(c[1] for c in samp), 1e-9)))
# expensive queries: are the slow ones the same texts each time?
byq = collections.defaultdict(list)
for s in S: byq[s["q"]].append(s["search"])
slow = sorted(S, key=lambda s: -s["search"])[:max(1, len(S) // 100)]
rep = [min(byq[s["q"]]) for s in slow if len(byq[s["q"]]) > 1]
print("-- slowest 1%% of searches (%d, search >= %.2f ms): bm25 %.2f / vec %.2f ms mean;"
      " the same query's fastest other run: median %.2f ms (%d repeated)" % (
      len(slow), slow[-1]["search"], sum(s["bm25"] for s in slow) / len(slow),
      sum(s["vec"] for s in slow) / len(slow), pct(rep, 50), len(rep)))
for s in slow[:8]:
    print("   %.2f ms (bm25 %.2f vec %.2f) %s; other runs: %s" % (s["search"], s["bm25"], s["vec"],
          s["q"], " ".join("%.2f" % x for x in byq[s["q"]] if x != s["search"])))
