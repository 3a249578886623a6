#!/usr/bin/env bash
# test_serve_search_json.sh — POST /v1/search writes its response by hand
# (no cJSON tree): it must be valid JSON with the documented fields in
# order, every number written as cJSON writes one (integers plainly, other
# values %1.15g, or %1.17g when that does not read back), document names
# and snippets escaped (quotes, backslashes, control characters, UTF-8),
# and the same answers from a fresh server and a warm one (the hydration
# statement is cached per reader slot and must not keep a stale snapshot:
# a document added meanwhile is found).
set -u
BIN="${CAIRN_BIN:?}"
. "$CAIRN_SRC/tests/lib.sh"
command -v curl >/dev/null || { echo "curl not installed"; exit 77; }
command -v python3 >/dev/null || { echo "python3 not installed"; exit 77; }
T="${CAIRN_TMP:-/tmp}/serve_search_json.$$"; rm -rf "$T"; mkdir -p "$T/docs"
PID=""
cleanup() { [ -n "$PID" ] && kill -KILL "$PID" 2>/dev/null; rm -rf "$T"; }
trap cleanup EXIT
printf 'The "harbour" crane\\lifted forty containers\tbefore the storm.\n' > "$T/docs/quote \"a\".txt"
printf 'Zoë counted forty containers at the harbour café, 12 of them red.\n' > "$T/docs/café.txt"
for i in $(seq 30); do
  printf 'Report %d: forty containers, harbour %d, crane %d; tide %d.\n' $i $((i * 7)) $((i * 13)) $i \
    > "$T/docs/r$i.txt"
done
"$BIN" init "$T/kb" >/dev/null && "$BIN" ingest "$T/kb" "$T/docs" >/dev/null 2>&1 \
  || { echo "setup failed"; exit 1; }
start_server "$T/log" "$T/kb" --listen 127.0.0.1:0 --threads 2 || { echo "server did not start"; exit 1; }
J=(-H 'Content-Type: application/json')
n=0
for mode in hybrid bm25 vector; do
  for q in "forty containers" "harbour crane" "café Zoë" "tide"; do
    n=$((n + 1))
    curl -s "${J[@]}" -d "{\"query\":\"$q\",\"k\":20,\"mode\":\"$mode\"}" "$U/v1/search" > "$T/r$n.json"
  done
done
check() {   # check FILES...: every response well formed, numbers as cJSON writes them
python3 - "$@" <<'PY'
import json, sys
eps = 2.220446049250313e-16
def cjson_num(d):
    if d == int(d) and -2**31 <= d < 2**31: return "%d" % int(d)
    s = "%1.15g" % d
    b = float(s)
    if not abs(b - d) <= max(abs(b), abs(d)) * eps: s = "%1.17g" % d
    return s
bad = 0
for p in sys.argv[1:]:
    text = open(p, encoding="utf-8").read()
    nums = []
    def num(s): nums.append(s); return float(s)
    try:
        j = json.loads(text, parse_float=num, parse_int=num, object_pairs_hook=lambda kv: kv)
    except Exception as e:
        print("FAIL: %s: not JSON (%s): %r" % (p, e, text[:200])); bad += 1; continue
    keys = [k for k, _ in j]
    if keys[:2] != ["hits", "count"]:
        print("FAIL: %s: top-level keys %s" % (p, keys)); bad += 1
    hits = dict(j)["hits"]
    if not hits or dict(j)["count"] != len(hits):
        print("FAIL: %s: count %s for %d hits" % (p, dict(j)["count"], len(hits))); bad += 1
    for i, h in enumerate(hits):
        hk = [k for k, _ in h]
        if hk != ["rank", "chunk", "score", "document", "document_id", "ordinal", "snippet"]:
            print("FAIL: %s: hit keys %s" % (p, hk)); bad += 1
        if dict(h)["rank"] != i + 1:
            print("FAIL: %s: rank %s at %d" % (p, dict(h)["rank"], i)); bad += 1
    for s in nums:
        if cjson_num(float(s)) != s:
            print("FAIL: %s: number %s (cJSON writes %s)" % (p, s, cjson_num(float(s)))); bad += 1
    docs = [dict(h)["document"] for h in hits]
    for d in docs:
        if d.endswith('quote "a".txt'):
            snip = [dict(h)["snippet"] for h in hits if dict(h)["document"] == d][0]
            if snip != 'The "harbour" crane\\lifted forty containers\tbefore the storm.':
                print("FAIL: %s: snippet %r" % (p, snip)); bad += 1
        if d.endswith("café.txt"):
            snip = [dict(h)["snippet"] for h in hits if dict(h)["document"] == d][0]
            if not snip.startswith("Zoë counted"):
                print("FAIL: %s: snippet %r" % (p, snip)); bad += 1
sys.exit(1 if bad else 0)
PY
}
check "$T"/r*.json && ok || bad "responses not as cJSON writes them"
grep -q 'quote \\"a\\".txt' "$T"/r*.json && ok || bad "the quoted document name was not found or not escaped"
grep -q 'café.txt' "$T"/r*.json && ok || bad "the UTF-8 document name was not found"
# the same answers again on warm slots (cached statements)
for i in $(seq $n); do cp "$T/r$i.json" "$T/first$i.json"; done
n=0
for mode in hybrid bm25 vector; do
  for q in "forty containers" "harbour crane" "café Zoë" "tide"; do
    n=$((n + 1))
    curl -s "${J[@]}" -d "{\"query\":\"$q\",\"k\":20,\"mode\":\"$mode\"}" "$U/v1/search" > "$T/r$n.json"
    cmp -s "$T/r$n.json" "$T/first$n.json" && ok || bad "answer $n ($mode '$q') changed on a warm server"
  done
done
# a document written meanwhile is seen by the cached statements (no stale snapshot)
code=$(curl -s -o "$T/post" -w '%{http_code}' "${J[@]}" \
  -d '{"uri":"api/zebra.txt","text":"A zebra named Quillfeather crossed the harbour."}' "$U/v1/documents")
[ "$code" = 201 ] && ok || bad "POST /v1/documents: $code $(cat "$T/post")"
out=$(curl -s "${J[@]}" -d '{"query":"Quillfeather","k":3,"mode":"bm25"}' "$U/v1/search")
grep -q '"document":"api/zebra.txt"' <<<"$out" && ok || bad "new document not found: $out"
printf '%s' "$out" > "$T/new.json"; check "$T/new.json" && ok || bad "response after a write"
# no hits: an empty list
out=$(curl -s "${J[@]}" -d '{"query":"xylophonequartz","k":3,"mode":"bm25"}' "$U/v1/search")
[ "$out" = '{"hits":[],"count":0}' ] && ok || bad "no-hit response: $out"
kill -TERM "$PID"; wait "$PID" 2>/dev/null; PID=""
echo "pass=$pass fail=$fail"
[ "$fail" = 0 ]
