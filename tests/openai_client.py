"""openai_client.py — checks cairn's /v1/models and /v1/chat/completions the
way OpenAI's official Python client uses them (that package is not
available offline, so its requests and its SSE parsing are reproduced
here: headers Authorization: Bearer, Content-Type: application/json,
Accept, User-Agent and X-Stainless-*; the body holds only the fields given;
streams are decoded line by line as openai._streaming.SSEDecoder does, a
"data: [DONE]" ends the stream and a data object with "error" raises).

Usage: openai_client.py BASE_URL API_KEY KB_DIR RESPONSES_LOG
Prints "client: N passed, M failed"; exit 1 on a failure. Every response is
logged (METHOD PATH STATUS CONTENT-TYPE BODY-FILE) for openapi_check.py."""
import http.client, json, os, sqlite3, sys, threading, urllib.parse

BASE, KEY, KB, LOG = sys.argv[1:5]
U = urllib.parse.urlparse(BASE)
passed = failed = 0
nres = 0
completion_sum = 0   # completion tokens of every finished generation


def check(cond, what):
    global passed, failed
    if cond:
        passed += 1
    else:
        failed += 1
        print("FAIL:", what, file=sys.stderr)


class APIError(Exception):
    def __init__(self, status, body):
        super().__init__(f"{status} {body}")
        self.status, self.body = status, body


def headers(key):
    h = {"Accept": "application/json", "Content-Type": "application/json",
         "User-Agent": "OpenAI/Python 1.54.0", "X-Stainless-Lang": "python",
         "X-Stainless-Package-Version": "1.54.0", "X-Stainless-Retry-Count": "0"}
    if key:
        h["Authorization"] = f"Bearer {key}"
    return h


def log(method, path, status, ctype, body):
    global nres
    nres += 1
    f = os.path.join(os.path.dirname(LOG), f"client.{nres}")
    with open(f, "wb") as out:
        out.write(body)
    with open(LOG, "a") as out:
        out.write(f"{method}\t{path}\t{status}\t{ctype}\t{f}\n")


def request(method, path, body=None, key=KEY):
    """Returns (status, parsed JSON); the raw text when not JSON."""
    c = http.client.HTTPConnection(U.hostname, U.port, timeout=120)
    data = json.dumps(body).encode() if body is not None else None
    c.request(method, path, body=data, headers=headers(key))
    r = c.getresponse()
    raw = r.read()
    log(method, path, r.status, r.getheader("Content-Type", ""), raw)
    c.close()
    try:
        return r.status, json.loads(raw)
    except ValueError:
        return r.status, raw.decode("utf-8", "replace")


def create(**kw):
    """client.chat.completions.create(**kw) without stream."""
    global completion_sum
    st, j = request("POST", "/v1/chat/completions", kw)
    if st != 200:
        raise APIError(st, j)
    completion_sum += j["usage"]["completion_tokens"]
    return j


def sse_events(resp):
    """openai._streaming.SSEDecoder: fields per line, an empty line ends an event."""
    event, data = None, []
    while True:
        line = resp.readline()
        if not line:
            return
        line = line.decode("utf-8").rstrip("\r\n")
        if not line:
            if data or event:
                yield event, "\n".join(data)
            event, data = None, []
            continue
        if line.startswith(":"):
            continue
        field, _, value = line.partition(":")
        if value.startswith(" "):
            value = value[1:]
        if field == "event":
            event = value
        elif field == "data":
            data.append(value)


def stream(close_after=None, **kw):
    """client.chat.completions.create(stream=True, **kw): the list of chunks
    (close_after: drop the connection after that many chunks)."""
    global completion_sum
    kw["stream"] = True
    c = http.client.HTTPConnection(U.hostname, U.port, timeout=120)
    c.request("POST", "/v1/chat/completions", body=json.dumps(kw).encode(), headers=headers(KEY))
    r = c.getresponse()
    if r.status != 200:
        raw = r.read()
        log("POST", "/v1/chat/completions", r.status, r.getheader("Content-Type", ""), raw)
        raise APIError(r.status, json.loads(raw))
    check(r.getheader("Content-Type", "").startswith("text/event-stream"), "stream content type")
    log("POST", "/v1/chat/completions", r.status, r.getheader("Content-Type", ""), b"")
    chunks, done = [], False
    for event, data in sse_events(r):
        if data.startswith("[DONE]"):
            done = True
            break
        check(event is None, f"stream event name {event}")
        j = json.loads(data)
        if isinstance(j, dict) and j.get("error"):
            raise APIError(200, j)
        chunks.append(j)
        if close_after and len(chunks) >= close_after:
            c.close()
            return chunks, False
    c.close()
    for ch in chunks:
        if ch.get("usage"):
            completion_sum += ch["usage"]["completion_tokens"]
    return chunks, done


def joined(chunks):
    return "".join(ch["choices"][0]["delta"].get("content", "") for ch in chunks if ch["choices"])


def finish(chunks):
    f = [ch["choices"][0]["finish_reason"] for ch in chunks if ch["choices"]]
    return f[-1] if f else None


def expect_error(status, code, what, **kw):
    try:
        create(**kw)
        check(False, f"{what}: no error")
    except APIError as e:
        ok = e.status == status and isinstance(e.body, dict) and e.body["error"]["code"] == code
        check(ok, f"{what}: want {status} {code}, got {e.status} {e.body}")


MSG = [{"role": "system", "content": "You answer briefly."},
       {"role": "user", "content": "Name three harbors."}]

# models
st, j = request("GET", "/v1/models")
check(st == 200 and j["object"] == "list" and [m["id"] for m in j["data"]] == ["tiny.gguf"]
      and j["data"][0]["object"] == "model" and j["data"][0]["owned_by"] == "cairn", f"models: {j}")
st, j = request("GET", "/v1/models", key=None)
check(st == 401, f"models without a key: {st}")
st, j = request("POST", "/v1/chat/completions", {"model": "default", "messages": MSG}, key="cairn_1_" + "0" * 64)
check(st == 401, f"chat with a bad key: {st}")

# the response shape; max_tokens -> "length"
r = create(model="tiny.gguf", messages=MSG, temperature=0, max_tokens=8)
check(r["id"].startswith("chatcmpl-") and r["object"] == "chat.completion" and r["model"] == "tiny.gguf"
      and isinstance(r["created"], int), f"shape: {r}")
ch = r["choices"]
check(len(ch) == 1 and ch[0]["index"] == 0 and ch[0]["message"]["role"] == "assistant"
      and ch[0]["finish_reason"] == "length", f"choices: {ch}")
u = r["usage"]
check(u["completion_tokens"] == 8 and u["prompt_tokens"] > 10
      and u["total_tokens"] == u["prompt_tokens"] + u["completion_tokens"], f"usage: {u}")
first_id = r["id"]
r2 = create(model="tiny.gguf", messages=MSG, max_completion_tokens=3, temperature=0)
check(r2["usage"]["completion_tokens"] == 3 and r2["choices"][0]["finish_reason"] == "length",
      f"max_completion_tokens: {r2}")
check(r2["usage"]["prompt_tokens"] == u["prompt_tokens"], "same prompt, same prompt_tokens")
check(r2["id"] != first_id, "ids differ")

# determinism: temperature 0 ignores the seed; a seed repeats a sampled answer
g1 = create(model="default", messages=MSG, temperature=0, max_tokens=20, seed=1)
g2 = create(model="default", messages=MSG, temperature=0, max_tokens=20, seed=2)
check(g1["choices"][0]["message"]["content"] == g2["choices"][0]["message"]["content"], "greedy is deterministic")
s1 = create(model="default", messages=MSG, temperature=1.0, max_tokens=40, seed=7)
s2 = create(model="default", messages=MSG, temperature=1.0, max_tokens=40, seed=7)
s3 = create(model="default", messages=MSG, temperature=1.0, max_tokens=40, seed=8)
C = s1["choices"][0]["message"]["content"]
check(C == s2["choices"][0]["message"]["content"] and s1["usage"] == s2["usage"], "same seed, same answer")
check(C != s3["choices"][0]["message"]["content"], "another seed, another answer")
check(len(C) > 4, f"sampled answer too short to test stops: {C!r}")

# streaming: the same tokens as the JSON answer, framed as the clients expect
chunks, done = stream(model="default", messages=MSG, temperature=1.0, max_tokens=40, seed=7,
                      stream_options={"include_usage": True})
check(done, "stream ends with [DONE]")
check(chunks and chunks[0]["choices"][0]["delta"] == {"role": "assistant", "content": ""}
      and chunks[0]["choices"][0]["finish_reason"] is None, f"first chunk: {chunks[:1]}")
check(all(c["object"] == "chat.completion.chunk" and c["id"] == chunks[0]["id"]
          and c["id"].startswith("chatcmpl-") and c["model"] == "tiny.gguf" for c in chunks), "chunk heads")
check(joined(chunks) == C, f"streamed text {joined(chunks)!r} != {C!r}")
check(finish(chunks) == "length", f"stream finish: {chunks[-2:]}")
check(chunks[-1]["choices"] == [] and chunks[-1]["usage"] == s1["usage"], f"usage chunk: {chunks[-1]}")
check(all(c["choices"][0]["finish_reason"] is None for c in chunks[:-2]), "finish_reason null before the end")
chunks, done = stream(model="default", messages=MSG, temperature=0, max_tokens=5)
check(done and not any(c.get("usage") for c in chunks) and finish(chunks) == "length",
      "no usage chunk unless asked")
completion_sum += 5

# stop strings: the text up to the first match, finish_reason "stop". The
# random model emits mostly stray bytes (shown as U+FFFD); find a seed whose
# answer has a real character after the start and stop at it.
for seed in range(1, 40):
    D = create(model="default", messages=MSG, temperature=1.5, max_tokens=40, seed=seed)["choices"][0]["message"]["content"]
    k = next((i for i in range(1, len(D)) if D[i] != "\ufffd" and D[i].strip() and D.find(D[i]) > 0), None)
    if k is not None:
        break
check(k is not None, "no seed gives a stop-able answer")
stop = D[k]
want = D[:D.find(stop)]
kw = dict(model="default", messages=MSG, temperature=1.5, max_tokens=40, seed=seed)
r = create(stop=stop, **kw)
check(r["choices"][0]["message"]["content"] == want and r["choices"][0]["finish_reason"] == "stop",
      f"stop {stop!r}: {r['choices']} want {want!r}")
check(r["usage"]["completion_tokens"] < 40, "stop ends the generation")
r = create(stop=["\u00a7never\u00a7", stop], **kw)
check(r["choices"][0]["message"]["content"] == want and r["choices"][0]["finish_reason"] == "stop", "stop array")
chunks, done = stream(stop=[stop], stream_options={"include_usage": True}, **kw)
check(done and joined(chunks) == want and finish(chunks) == "stop", f"streamed stop: {joined(chunks)!r}")
r = create(model="default", messages=MSG, temperature=1.0, max_tokens=40, seed=7, stop="\u00a7never\u00a7")
check(r["choices"][0]["message"]["content"] == C, "a stop that never occurs changes nothing")

# accepted fields that change nothing; content as text parts
r = create(model="default", temperature=0, max_tokens=20, seed=1, n=1, presence_penalty=0, frequency_penalty=0,
           user="u-1", store=False, metadata={"a": "b"}, logprobs=False, logit_bias={}, tools=[],
           tool_choice="none", response_format={"type": "text"}, parallel_tool_calls=False,
           messages=[MSG[0], {"role": "user", "content": [{"type": "text", "text": "Name three "},
                                                          {"type": "text", "text": "harbors."}]}])
check(r["choices"][0]["message"]["content"] == g1["choices"][0]["message"]["content"], "ignored fields / text parts")

# two at once: they wait for each other and both answer as alone
res = [None, None]
def one(i):
    res[i] = create(model="default", messages=MSG, temperature=1.0, max_tokens=40, seed=7)
th = [threading.Thread(target=one, args=(i,)) for i in range(2)]
[t.start() for t in th]
[t.join() for t in th]
check(all(x and x["choices"][0]["message"]["content"] == C for x in res), "concurrent requests")

# the generator's counters in /metrics
st, text = request("GET", "/metrics")
line = [l for l in text.splitlines() if l.startswith('cairn_generate_tokens_total{kind="completion"}')]
check(line and int(line[0].split()[-1]) == completion_sum, f"metrics completion tokens {line} want {completion_sum}")
check("cairn_generate_seconds_total{phase=\"decode\"}" in text, "metrics decode seconds")

# errors, in cairn's shape with OpenAI's codes
expect_error(404, "model_not_found", "unknown model", model="gpt-4o", messages=MSG)
expect_error(400, "bad_field", "no model", messages=MSG)
expect_error(400, "bad_field", "n=2", model="default", messages=MSG, n=2)
expect_error(400, "bad_field", "presence_penalty", model="default", messages=MSG, presence_penalty=0.5)
expect_error(400, "unknown_field", "unknown field", model="default", messages=MSG, best_of=2)
expect_error(400, "bad_field", "no messages", model="default", messages=[])
expect_error(400, "bad_field", "tool role", model="default", messages=[{"role": "tool", "content": "x"}])
expect_error(400, "unknown_field", "message field", model="default",
             messages=[{"role": "user", "content": "x", "tool_calls": []}])
expect_error(400, "bad_field", "image part", model="default",
             messages=[{"role": "user", "content": [{"type": "image_url", "image_url": {"url": "x"}}]}])
expect_error(400, "context_length_exceeded", "max_tokens over the context", model="default", messages=MSG,
             max_tokens=100000)
expect_error(400, "context_length_exceeded", "prompt over the context", model="default",
             messages=[{"role": "user", "content": "harbor " * 3000}])
expect_error(413, "messages_too_large", "messages over the byte limit", model="default",
             messages=[{"role": "user", "content": "x" * 70000}])
expect_error(400, "bad_field", "temperature", model="default", messages=MSG, temperature=3)
expect_error(400, "bad_field", "max_tokens 0", model="default", messages=MSG, max_tokens=0)
expect_error(400, "bad_field", "five stops", model="default", messages=MSG, stop=["a", "b", "c", "d", "e"])
expect_error(400, "bad_field", "empty stop", model="default", messages=MSG, stop="")
expect_error(400, "unsupported_field", "tools", model="default", messages=MSG,
             tools=[{"type": "function", "function": {"name": "f"}}])
expect_error(400, "unsupported_field", "logprobs", model="default", messages=MSG, logprobs=True)
expect_error(400, "unsupported_field", "json mode", model="default", messages=MSG,
             response_format={"type": "json_object"})
expect_error(400, "bad_field", "stream type", model="default", messages=MSG, stream="yes")

# a client that leaves mid-stream cancels its generation; the model is free again
chunks, done = stream(close_after=2, model="default", messages=MSG, temperature=1.0, max_tokens=380, seed=3)
check(not done and len(chunks) == 2, "dropped stream")
r = create(model="default", messages=MSG, temperature=1.0, max_tokens=40, seed=7)
check(r["choices"][0]["message"]["content"] == C, "after a dropped stream")

# every call audited with the caller's key and the completion id
db = sqlite3.connect(os.path.join(KB, "cairn.db"))
rows = db.execute("SELECT actor, target, detail FROM audit WHERE action = 'chat.completion'").fetchall()
key_id = KEY.split("_")[1]
check(any(t == first_id and a == f"key:{key_id}" for a, t, d in rows), f"audit row for {first_id}: {rows[:3]}")
check(all(json.loads(d)["model"] == "tiny.gguf" for a, t, d in rows), "audit detail")
check(len(rows) >= 20, f"audit rows: {len(rows)}")

print(f"client: {passed} passed, {failed} failed")
sys.exit(1 if failed else 0)
