#!/usr/bin/env python3
"""browser_driver.py — drives headless Chromium through the DevTools protocol
over --remote-debugging-pipe (fd 3: commands in, fd 4: replies out, each
message JSON ended by a NUL), so it needs only the Python standard library.
Used by tests/test_browser.sh against `cairn serve` on loopback:

  browser_driver.py CHROMIUM BASE_URL OUTDIR SCRIPT_TRACE_ID KB_CATALOG

(KB_CATALOG, the KB's cairn.db, is edited at the end: a trace tampered with
behind the server must show as broken.)

It loads the trace browser, filters and sorts the list, opens the trace of a
question answered from a document containing <script>, clicks the citation,
checks the highlighted span is exactly the cited sentence, checks the SVG
subgraph and an edge's provenance, that no script from data ran, the CSP
header, the print stylesheet, both exports and the API key header, and saves
screenshots into OUTDIR. Prints "FAIL: ..." per failed check; exit 1 if any.
"""
import base64
import fcntl
import json
import os
import queue
import sqlite3
import subprocess
import sys
import threading
import time
import urllib.request

CHROMIUM, BASE, OUT, SCRIPT_TRACE, CATALOG = sys.argv[1:6]
failures = []


def check(cond, what):
    print(("ok   " if cond else "FAIL: ") + what, flush=True)
    if not cond:
        failures.append(what)
    return cond


class Browser:
    def __init__(self):
        cmd_r, cmd_w = os.pipe()     # we write commands, chromium reads fd 3
        out_r, out_w = os.pipe()     # chromium writes fd 4, we read

        def child_fds():
            a = fcntl.fcntl(cmd_r, fcntl.F_DUPFD, 10)
            b = fcntl.fcntl(out_w, fcntl.F_DUPFD, 10)
            os.dup2(a, 3)
            os.dup2(b, 4)

        profile = os.path.join(OUT, "chromium-profile")
        args = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
                "--disable-background-networking", "--disable-component-update",
                "--disable-sync", "--disable-dev-shm-usage", "--hide-scrollbars",
                "--user-data-dir=" + profile, "--remote-debugging-pipe", "about:blank"]
        self.log = open(os.path.join(OUT, "chromium.log"), "wb")
        self.proc = subprocess.Popen(args, preexec_fn=child_fds, close_fds=False,
                                     stdin=subprocess.DEVNULL, stdout=self.log,
                                     stderr=subprocess.STDOUT)
        os.close(cmd_r)
        os.close(out_w)
        self.w = cmd_w
        self.r = out_r
        self.next_id = 0
        self.replies = {}
        self.cv = threading.Condition()
        self.events = queue.Queue()
        self.all_events = []
        threading.Thread(target=self._reader, daemon=True).start()

    def _reader(self):
        buf = b""
        while True:
            try:
                chunk = os.read(self.r, 1 << 16)
            except OSError:
                chunk = b""
            if not chunk:
                with self.cv:
                    self.replies[-1] = None   # closed
                    self.cv.notify_all()
                return
            buf += chunk
            while b"\0" in buf:
                raw, buf = buf.split(b"\0", 1)
                msg = json.loads(raw)
                if "id" in msg:
                    with self.cv:
                        self.replies[msg["id"]] = msg
                        self.cv.notify_all()
                else:
                    self.all_events.append(msg)

    def send(self, method, params=None, session=None, timeout=30):
        self.next_id += 1
        mid = self.next_id
        msg = {"id": mid, "method": method, "params": params or {}}
        if session:
            msg["sessionId"] = session
        os.write(self.w, json.dumps(msg).encode() + b"\0")
        end = time.time() + timeout
        with self.cv:
            while mid not in self.replies:
                if -1 in self.replies or time.time() > end:
                    raise RuntimeError("no reply to %s (chromium gone or hung)" % method)
                self.cv.wait(0.2)
            rep = self.replies.pop(mid)
        if "error" in rep:
            raise RuntimeError("%s: %s" % (method, rep["error"]))
        return rep.get("result", {})

    def close(self):
        try:
            self.send("Browser.close", timeout=5)
        except Exception:
            pass
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


def main():
    os.makedirs(OUT, exist_ok=True)
    dl = os.path.join(OUT, "downloads")
    os.makedirs(dl, exist_ok=True)
    b = Browser()
    try:
        run(b, dl)
    except Exception as e:  # a hang or a protocol error is a failure, with the reason
        check(False, "driver: %s" % e)
    finally:
        b.close()
    print("%d failure(s)" % len(failures))
    return 1 if failures else 0


def run(b, dl):
    target = b.send("Target.createTarget", {"url": "about:blank"})["targetId"]
    s = b.send("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]
    for dom in ("Page", "Runtime", "Network", "Log"):
        b.send(dom + ".enable", session=s)
    b.send("Emulation.setDeviceMetricsOverride",
           {"width": 1400, "height": 1000, "deviceScaleFactor": 1, "mobile": False}, session=s)
    b.send("Browser.setDownloadBehavior", {"behavior": "allow", "downloadPath": dl})

    def js(expr, await_promise=False):
        r = b.send("Runtime.evaluate", {"expression": expr, "returnByValue": True,
                                        "awaitPromise": await_promise}, session=s)
        if "exceptionDetails" in r:
            raise RuntimeError("page JS failed: %s: %s" % (expr[:80], r["exceptionDetails"].get("text")))
        return r["result"].get("value")

    def wait(expr, what, timeout=20):
        end = time.time() + timeout
        while time.time() < end:
            try:
                v = js(expr)
            except RuntimeError:   # mid-navigation: the document is not there yet
                v = None
            if v:
                return v
            time.sleep(0.1)
        check(False, "timed out waiting for " + what)
        try:
            data = b.send("Page.captureScreenshot", {"format": "png"}, session=s)["data"]
            with open(os.path.join(OUT, "browser-failure.png"), "wb") as f:
                f.write(base64.b64decode(data))
            print("page error line: %r" % js("document.getElementById('error').textContent"))
        except Exception:
            pass
        raise RuntimeError("stopping: " + what)

    def click_at(x, y):
        for t in ("mouseMoved", "mousePressed", "mouseReleased"):
            b.send("Input.dispatchMouseEvent", {"type": t, "x": x, "y": y, "button": "left",
                                                "clickCount": 1}, session=s)

    def click(selector):
        """A real mouse click at the element's centre (scrolled into view)."""
        r = js("(() => { const e = document.querySelector(%s); if (!e) return null;"
               " e.scrollIntoView({block: 'center'}); const r = e.getBoundingClientRect();"
               " return [r.x + r.width / 2, r.y + r.height / 2]; })()" % json.dumps(selector))
        if not r:
            raise RuntimeError("nothing to click: " + selector)
        click_at(r[0], r[1])

    def screenshot(name, full=False):
        p = {"format": "png"}
        if full:
            p["captureBeyondViewport"] = True
        data = b.send("Page.captureScreenshot", p, session=s)["data"]
        path = os.path.join(OUT, name)
        with open(path, "wb") as f:
            f.write(base64.b64decode(data))
        check(os.path.getsize(path) > 10000, "screenshot %s saved (%d bytes)" % (path, os.path.getsize(path)))

    # the trace we will open, straight from the API (what the page must show)
    with urllib.request.urlopen(BASE + "/v1/traces/" + SCRIPT_TRACE) as r:
        want = json.load(r)["trace"]
    sent_i = next((i for i, x in enumerate(want["answer"]["sentences"]) if "<script>" in x["text"]), None)
    check(sent_i is not None, "the script document's sentence is cited in trace " + SCRIPT_TRACE)

    # ---- the list
    b.send("Page.navigate", {"url": BASE + "/"}, session=s)
    n = wait("document.querySelectorAll('#trace-list tbody tr[data-trace]').length", "the trace list")
    with urllib.request.urlopen(BASE + "/v1/traces?limit=1") as r:
        total = json.load(r)["total"]
    check(n == total, "list shows all %d traces (got %d)" % (total, n))
    doc = next((e for e in b.all_events if e.get("method") == "Network.responseReceived"
                and e["params"]["response"]["url"] == BASE + "/"), None)
    hdrs = {k.lower(): v for k, v in (doc["params"]["response"]["headers"] if doc else {}).items()}
    csp = hdrs.get("content-security-policy", "")
    check("default-src 'self'" in csp and "script-src 'self'" in csp and "unsafe-inline" not in csp,
          "CSP header on / seen by the browser: " + csp)
    wait("document.getElementById('chain').textContent.includes('intact')", "chain badge")
    check(js("[...document.querySelectorAll('#trace-list td')].some(td => td.textContent.includes('<script>'))"),
          "a question containing <script> is shown as text in the list")
    screenshot("browser-list.png")

    # filter by text through the form
    js("document.getElementById('f-q').value = 'zorblat'")
    click("#filters button[type=submit]")
    wait("document.getElementById('pageinfo').textContent.includes(' of 2')", "text filter (2 zorblat traces)")
    check(js("document.querySelectorAll('#trace-list tbody tr[data-trace]').length") == 2,
          "text filter leaves the 2 zorblat traces")
    click("#f-reset")
    wait("document.querySelectorAll('#trace-list tbody tr[data-trace]').length == %d" % total, "reset filters")
    # time range through the form (the viewer's local time, sent as UTC)
    js("document.getElementById('f-from').value = '2999-01-01T00:00'")
    click("#filters button[type=submit]")
    wait("document.getElementById('pageinfo').textContent.includes(' of 0')", "time filter in the future: none")
    js("document.getElementById('f-from').value = '2000-01-01T00:00'")
    click("#filters button[type=submit]")
    wait("document.getElementById('pageinfo').textContent.includes(' of %d')" % total, "time filter from 2000: all")
    click("#f-reset")
    wait("document.querySelectorAll('#trace-list tbody tr[data-trace]').length == %d" % total, "reset filters")
    # sort by question, ascending
    click("button.sort[data-sort=question]")
    wait("document.querySelector('button.sort[data-sort=question]').getAttribute('aria-sort') == 'ascending'",
         "sort by question")
    qs = js("[...document.querySelectorAll('#trace-list a.trace-link')].map(a => a.textContent)")
    check(qs == sorted(qs), "rows sorted by question ascending")

    # ---- one trace
    click('a.trace-link[data-trace="%s"]' % SCRIPT_TRACE)
    wait("!document.getElementById('traceview').hidden && document.querySelectorAll('#t-answer button.cite').length"
         " && document.getElementById('t-title').textContent == %s" % json.dumps("Trace " + SCRIPT_TRACE),
         "the trace view")
    check(js("document.getElementById('t-question').textContent") == want["question"], "question shown verbatim")
    check(js("document.querySelector('#t-verify .badge').textContent") == "ok", "trace verification ok")
    click('#t-answer button.cite[data-sentence="%d"]' % sent_i)
    wait("!!document.getElementById('cited-span')", "the highlighted span")
    mark = js("document.getElementById('cited-span').textContent")
    check(mark == want["answer"]["sentences"][sent_i]["text"],
          "highlighted span is exactly the cited sentence (code points, emoji before it): %r" % mark)
    check(js("document.querySelector('#t-cite dl').textContent.includes(%s)"
             % json.dumps(want["answer"]["sentences"][sent_i]["document"])), "document uri shown")
    check(js("/[0-9a-f]{64}/.test(document.querySelector('#t-cite dl').textContent)"), "document hash shown")
    check(js("document.querySelectorAll('script').length") == 1, "the only script element is app.js")
    check(js("window.__pwned === undefined"), "script in the document did not run")
    check(js("document.title") == "cairn trace browser", "title unchanged (the document's script did not run)")
    screenshot("browser-trace.png", full=True)

    # subgraph
    edges = js("document.querySelectorAll('#graph g.edge').length")
    nodes = js("document.querySelectorAll('#graph g.node').length")
    check(edges and edges == len(want["graph"]["triples"]), "SVG subgraph has %s edges (trace: %d)"
          % (edges, len(want["graph"]["triples"])))
    check(nodes and nodes >= 2, "SVG subgraph has %s nodes" % nodes)
    dash = js("(() => { const c = document.querySelector('#graph g.edge.confirmed .line');"
              " const i = document.querySelector('#graph g.edge.inferred .line');"
              " return [c && getComputedStyle(c).strokeDasharray, i && getComputedStyle(i).strokeDasharray]; })()")
    check(dash[0] in (None, "none"), "confirmed edges solid (%s)" % dash[0])
    check(dash[1] is None or dash[1] != "none", "inferred edges dashed (%s)" % dash[1])
    # an edge whose midpoint is not covered by another edge, then a real click there
    js("document.getElementById('graph').scrollIntoView({block: 'center'})")
    pt = js("(() => { for (const g of document.querySelectorAll('#graph g.edge')) {"
            " const p = g.querySelector('path.hit'); const q = p.getPointAtLength(p.getTotalLength() / 2);"
            " const m = p.getScreenCTM(); const x = q.x * m.a + q.y * m.c + m.e, y = q.x * m.b + q.y * m.d + m.f;"
            " const hit = document.elementFromPoint(x, y);"
            " if (hit && hit.closest('g.edge') === g) return [x, y, g.dataset.edge]; } return null; })()")
    check(pt is not None, "an edge can be clicked")
    click_at(pt[0], pt[1])
    wait("document.querySelector('#graph g.edge.selected') &&"
         " document.querySelector('#graph g.edge.selected').dataset.edge === %s" % json.dumps(pt[2]),
         "the clicked edge selected")
    wait("!document.getElementById('t-edge').hidden && document.querySelectorAll('#t-edge button.prov').length",
         "edge provenance after clicking an edge")
    click("#t-edge button.prov")
    wait("!!document.getElementById('cited-span') && document.getElementById('cite-title').textContent.startsWith('Provenance')",
         "provenance span")
    check(js("document.querySelectorAll('#t-latency .bar').length") ==
          len([v for v in want["latency_ms"].values() if isinstance(v, (int, float))]),
          "a latency bar per timed stage (stages that did not run are null)")
    check(js("document.getElementById('t-checks').textContent.includes('numbers not in the cited chunk')"),
          "checks shown")
    check(js("document.getElementById('t-lanes').querySelectorAll('.lane').length") == len(want["lanes"]) + 1,
          "retrieval lanes side by side with the fused list")

    # print view (and a PDF of it as an artifact)
    pdf = base64.b64decode(b.send("Page.printToPDF", {"printBackground": True}, session=s, timeout=60)["data"])
    with open(os.path.join(OUT, "browser-trace.pdf"), "wb") as f:
        f.write(pdf)
    check(pdf[:5] == b"%PDF-" and len(pdf) > 10000, "print view saved as browser-trace.pdf (%d bytes)" % len(pdf))
    b.send("Emulation.setEmulatedMedia", {"media": "print"}, session=s)
    check(js("getComputedStyle(document.querySelector('header.top')).display") == "none"
          and js("getComputedStyle(document.querySelector('.actions')).display") == "none",
          "print stylesheet hides the controls")
    b.send("Emulation.setEmulatedMedia", {"media": ""}, session=s)

    # exports (downloads through fetch + blob)
    click("#export-json")
    path = os.path.join(dl, SCRIPT_TRACE + ".json")
    end = time.time() + 15
    while time.time() < end and not os.path.exists(path):
        time.sleep(0.1)
    with urllib.request.urlopen(BASE + "/v1/traces/" + SCRIPT_TRACE + "/raw") as r:
        raw = r.read()
    check(os.path.exists(path) and open(path, "rb").read() == raw, "Export JSON saves the stored trace byte for byte")
    click("#back")
    wait("!document.getElementById('listview').hidden && document.querySelectorAll('#trace-list tbody tr[data-trace]').length",
         "back to the list")
    js("document.getElementById('f-q').value = 'zorblat'")
    click("#export-jsonl")
    path = os.path.join(dl, "traces.jsonl")
    end = time.time() + 15
    while time.time() < end and not os.path.exists(path):
        time.sleep(0.1)
    lines = open(path, "rb").read().splitlines() if os.path.exists(path) else []
    check(len(lines) == 2 and all(json.loads(x)["question"].lower().count("zorblat") for x in lines),
          "Export JSONL saves the 2 filtered traces")

    # the API key goes out as a Bearer header
    js("document.getElementById('apikey').value = 'test-key-123'")
    mark_at = len(b.all_events)
    click("#keyform button[type=submit]")
    end = time.time() + 15
    while True:   # the chain badge and the list each fetch once
        auth = [e["params"]["request"]["headers"].get("Authorization") for e in b.all_events[mark_at:]
                if e.get("method") == "Network.requestWillBeSent" and "/v1/" in e["params"]["request"]["url"]]
        if len(auth) >= 2 or time.time() > end:
            break
        time.sleep(0.1)
    check(auth and all(a == "Bearer test-key-123" for a in auth), "API key sent as Authorization: Bearer (%s)" % auth)
    check(js("sessionStorage.getItem('cairn.apikey')") == "test-key-123", "API key kept in sessionStorage")
    click("#keyclear")

    # an abstention: no citations, no subgraph needed, and no errors
    with urllib.request.urlopen(BASE + "/v1/traces?q=xylophone") as r:
        abst = json.load(r)["traces"][0]["id"]
    js("location.hash = '#/trace/%s'" % abst)
    wait("document.getElementById('t-title').textContent.includes('%s')" % abst, "the abstained trace")
    check(js("document.querySelector('#t-answer .badge') && document.querySelector('#t-answer .badge').textContent") == "abstained"
          and js("document.querySelectorAll('#t-answer button.cite').length") == 0, "abstention shown, no citations")

    # a trace edited behind the server's back shows as broken
    db = sqlite3.connect(CATALOG)
    db.execute("UPDATE traces SET json = replace(json, 'Zorblat', 'Zorblot') WHERE id = ?", (SCRIPT_TRACE,))
    db.commit()
    db.close()
    js("location.hash = '#/'")
    b.send("Page.reload", {}, session=s)
    wait("document.getElementById('chain').textContent.includes('BROKEN')",
         "the chain badge turning BROKEN after a reload")
    wait("(() => { const r = document.querySelector('#trace-list tr[data-trace=\"%s\"]');"
         " return r && r.textContent.includes('edited'); })()" % SCRIPT_TRACE, "the edited trace marked in the list")
    js("location.hash = '#/trace/%s'" % SCRIPT_TRACE)
    wait("document.querySelector('#t-verify .badge') && document.querySelector('#t-verify .badge').textContent == 'edited'",
         "the edited trace's view says edited")
    screenshot("browser-tampered.png")

    # nothing went wrong in the page
    exc = [e["params"]["exceptionDetails"].get("text", "") + " " +
           str(e["params"]["exceptionDetails"].get("exception", {}).get("description", ""))
           for e in b.all_events if e.get("method") == "Runtime.exceptionThrown"]
    check(not exc, "no uncaught exceptions in the page %s" % exc)
    logs = [e["params"]["entry"] for e in b.all_events if e.get("method") == "Log.entryAdded"]
    sec = [x.get("text") for x in logs if x.get("source") in ("security", "javascript")
           or "Content Security Policy" in x.get("text", "")]
    check(not sec, "no CSP violations or script errors logged %s" % sec)


if __name__ == "__main__":
    sys.exit(main())
