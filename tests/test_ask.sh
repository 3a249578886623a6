#!/usr/bin/env bash
# test_ask.sh — `cairn ask` and `cairn trace` end to end on a KB built from
# datasets/corpus: an eval question's answer cites its gold document, an
# unanswerable question abstains, traces follow schemas/trace.schema.json,
# the hash chain verifies and names an edited or deleted trace, and empty
# or huge questions are clear errors.
set -u
BIN="${CAIRN_BIN:?}"; SRC="${CAIRN_SRC:?}"
T="${CAIRN_TMP:-/tmp}/ask.$$"; rm -rf "$T"; mkdir -p "$T"; trap 'rm -rf "$T"' EXIT
. "$(dirname "$0")/lib.sh"
PY=/usr/bin/python3
KB="$T/kb"
"$BIN" init "$KB" >/dev/null
(cd "$SRC" && "$BIN" ingest "$KB" datasets/corpus >/dev/null) || bad "ingest corpus"

# an eval question (q003): the answer cites the gold document
q=$($PY -c "import json,sys
for l in open(sys.argv[1]):
    q=json.loads(l)
    if q['id']=='q003': print(q['question'])" "$SRC/datasets/eval/questions.jsonl")
out=$("$BIN" ask "$KB" "$q" 2>&1)
grep -q '\[1\] datasets/corpus/companies/kestrel-avionics.md\|\] datasets/corpus/companies/kestrel-avionics.md' <<<"$out" && ok || bad "gold doc not cited: $out"
grep -q "Brightwater Sensors AB" <<<"$out" && ok || bad "answer lacks Brightwater: $out"
grep -qE '^trace tr_[0-9a-f]{16}$' <<<"$out" && ok || bad "no trace id: $out"

# the JSON trace: schema, citations map to fused evidence, spans are exact
"$BIN" ask "$KB" "$q" --json -k 3 > "$T/trace.json" || bad "ask --json"
$PY - "$T/trace.json" "$SRC/schemas/trace.schema.json" "$KB/cairn.db" <<'PY' && ok || bad "trace content"
import json, sqlite3, sys, re
t = json.load(open(sys.argv[1])); schema = json.load(open(sys.argv[2]))
def check(v, s, path):   # the subset of JSON Schema the trace schema uses
    if "$ref" in s: s = schema["$defs"][s["$ref"].split("/")[-1]]
    ty = s.get("type")
    tys = ty if isinstance(ty, list) else [ty] if ty else []
    pyt = {"object": dict, "array": list, "string": str, "boolean": bool, "null": type(None),
           "integer": int, "number": (int, float)}
    assert not tys or any(isinstance(v, pyt[x]) and not (x in ("integer", "number") and isinstance(v, bool)) for x in tys), (path, v)
    if "enum" in s: assert v in s["enum"], path
    if "pattern" in s: assert re.search(s["pattern"], v), path
    if "minimum" in s: assert v >= s["minimum"], path
    if isinstance(v, dict):
        for r in s.get("required", []): assert r in v, (path, r)
        for k, x in v.items():
            sub = s.get("properties", {}).get(k, s.get("additionalProperties"))
            if isinstance(sub, dict): check(x, sub, path + "." + k)
    if isinstance(v, list) and "items" in s:
        for i, x in enumerate(v): check(x, s["items"], "%s[%d]" % (path, i))
check(t, schema, "$")
assert t["settings"]["k"] == 3 and len(t["fused"]) <= 3
fused = {f["chunk"] for f in t["fused"]}
db = sqlite3.connect(sys.argv[3])
assert t["answer"]["sentences"] and not t["answer"]["abstained"]
for s in t["answer"]["sentences"]:
    assert s["chunk"] in fused, s
    assert "[%d]" % s["citation"] in t["answer"]["text"]
    text, sc = db.execute("SELECT text, start_char FROM chunks WHERE id=?", (s["chunk"],)).fetchone()
    assert text[s["start_char"] - sc:s["end_char"] - sc] == s["text"], s
for f in t["fused"]:   # RRF contributions add up to the fused score
    assert abs(sum(f["rrf"].values()) - f["score"]) < 1e-5, f
assert t["checks"]["ok"] is True
# the subgraph: seeds from the evidence chunks; every triple's provenance is a
# real relation row of a live chunk, and its sentence span lies in that chunk
g = t["graph"]
assert g["triples"] and any(x["from"] == "chunk" for x in g["seeds"]), g["seeds"]
seeds = {x["entity"] for x in g["seeds"]}
assert all(x["hops"] > 0 or x["subject_id"] in seeds or x["object_id"] in seeds for x in g["triples"])
for x in g["triples"]:
    assert x["support"] == len({p["chunk"] for p in x["provenance"]}), x
    for p in x["provenance"]:
        sc, n = db.execute("SELECT start_char, length(text) FROM chunks WHERE id=?", (p["chunk"],)).fetchone()
        assert sc <= p["start_char"] < p["end_char"] <= sc + n, p
        assert db.execute("SELECT count(*) FROM relations r JOIN entities s ON s.id = r.subject_id"
                          " WHERE r.chunk_id=? AND r.predicate=?", (p["chunk"], x["predicate"])).fetchone()[0] > 0, p
assert isinstance(t["latency_ms"]["graph"], float)
PY

# an unanswerable question abstains and says what was missing
expect 0 "cannot answer.*not found in the evidence: .*xylophone" -- "$BIN" ask "$KB" "What xylophone quartet performed zebra polkas?"

# bad input
expect 1 "question is empty" -- "$BIN" ask "$KB" ""
expect 1 "question is empty" -- "$BIN" ask "$KB" "   "
huge=$(head -c 70000 /dev/zero | tr '\0' 'a')
expect 1 "limit is 65536" -- "$BIN" ask "$KB" "$huge"
expect 1 "not valid UTF-8" -- "$BIN" ask "$KB" "$(printf 'caf\xff?')"
expect 2 "usage" -- "$BIN" ask "$KB"
expect 1 "no trace with id" -- "$BIN" trace "$KB" show tr_nope

# the chain: list, show, export, verify; then tampering is named
expect 0 "3 traces verified" -- "$BIN" trace "$KB" verify
id2=$(sqlite3 "$KB/cairn.db" "SELECT id FROM traces WHERE seq=2")
expect 0 "Brightwater" -- "$BIN" trace "$KB" show "$id2"
[ "$("$BIN" trace "$KB" export --format jsonl | wc -l)" = 3 ] && ok || bad "export lines"
[ "$("$BIN" trace "$KB" list | wc -l)" = 3 ] && ok || bad "list lines"
cp "$KB/cairn.db" "$T/orig.db"
sqlite3 "$KB/cairn.db" "UPDATE traces SET json=replace(json,'Brightwater','Darkwater') WHERE seq=2"
expect 1 "trace $id2 \(seq 2\) was edited" -- "$BIN" trace "$KB" verify
cp "$T/orig.db" "$KB/cairn.db"; rm -f "$KB/cairn.db-wal" "$KB/cairn.db-shm"
id3=$(sqlite3 "$KB/cairn.db" "SELECT id FROM traces WHERE seq=3")
sqlite3 "$KB/cairn.db" "DELETE FROM traces WHERE seq=2"
expect 1 "trace $id3 \(seq 3\).*deleted or the traces were reordered" -- "$BIN" trace "$KB" verify

echo "test_ask: $pass passed, $fail failed"
[ "$fail" = 0 ]
