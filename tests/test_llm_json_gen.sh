#!/usr/bin/env bash
# test_llm_json_gen.sh — constrained decoding end to end: `cairn model run
# --json-schema` on a tiny random model (which left alone writes noise)
# gives, for several seeds, text that Python's json module parses and that
# satisfies the schema (checked here in Python, independently of cairn's
# matcher): types, enum, required keys, maxLength, no unknown keys.
set -u
BIN="${CAIRN_BIN:?}"; PY=/usr/bin/python3
T="${CAIRN_TMP:-/tmp}/json.$$"; mkdir -p "$T"; trap 'rm -rf "$T"' EXIT
pass=0; fail=0
chk() { if eval "$2"; then pass=$((pass+1)); else fail=$((fail+1)); echo "FAIL: $1" >&2; fi; }
cat > "$T/s.json" <<'S'
{"type": "object",
 "properties": {"name": {"type": "string", "maxLength": 6}, "age": {"type": "integer"},
   "tags": {"type": "array", "items": {"type": "string", "maxLength": 3}},
   "kind": {"enum": ["cat", "dog", "cow"]}, "ok": {"type": "boolean"}, "score": {"type": "number"}},
 "required": ["name", "kind"]}
S
"$BIN" model make-tiny --arch qwen2 --ctx 1024 --seed 3 --out "$T/m.gguf" || exit 1
for seed in 1 2 3 4 5; do
  "$BIN" model run "$T/m.gguf" --prompt "x" -n 400 --temp 1 --seed $seed --json-schema "$T/s.json" > "$T/o.txt"; rc=$?
  verdict=$("$PY" - "$T/o.txt" <<'P'
import json, sys
t = open(sys.argv[1], encoding="utf-8", errors="surrogateescape").read()
assert t.startswith("x"), "prompt echo"
try:
    v = json.loads(t[1:])
except Exception as e:
    print("not JSON: %r (%s)" % (t[1:200], e)); sys.exit()
ok = isinstance(v, dict) and set(v) <= {"name", "age", "tags", "kind", "ok", "score"} and "name" in v and "kind" in v
ok = ok and isinstance(v["name"], str) and len(v["name"].encode("utf-8", "surrogateescape")) <= 6
ok = ok and v["kind"] in ("cat", "dog", "cow")
ok = ok and ("age" not in v or (isinstance(v["age"], int) and not isinstance(v["age"], bool)))
ok = ok and ("tags" not in v or (isinstance(v["tags"], list) and all(isinstance(s, str) and len(s.encode("utf-8", "surrogateescape")) <= 3 for s in v["tags"])))
ok = ok and ("ok" not in v or isinstance(v["ok"], bool))
ok = ok and ("score" not in v or (isinstance(v["score"], (int, float)) and not isinstance(v["score"], bool)))
print("ok" if ok else "schema violated: %r" % (v,))
P
)
  echo "seed $seed: $verdict"
  chk "seed $seed: valid instance ($verdict)" '[ $rc = 0 ] && [ "$verdict" = ok ]'
done
echo '{"type": "null"}' > "$T/bad.json"
out=$("$BIN" model run "$T/m.gguf" --prompt x --json-schema "$T/bad.json" 2>&1); rc=$?
chk "unsupported schema: exit 1 with a message" '[ $rc = 1 ] && grep -q "not supported" <<<"$out"'
echo "llm_json_gen: $pass passed, $fail failed"
[ $fail = 0 ]
