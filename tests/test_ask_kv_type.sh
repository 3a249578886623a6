#!/usr/bin/env bash
# test_ask_kv_type.sh — the setting ask.kv_type chooses the element type of
# the generator's KV cache, and the trace says which one answered:
#  - by default the CPU caches K/V as F16 (model.kv_cache "f16");
#  - ask.kv_type "f32" keeps floats, and so does CAIRN_KV=f32 when the
#    setting is left empty; the setting wins over the environment;
#  - a value that is neither is refused with a message naming the setting,
#    and no trace is stored for it.
set -u
BIN="${CAIRN_BIN:?}"; SRC="${CAIRN_SRC:?}"
T="${CAIRN_TMP:-/tmp}/askkv.$$"; rm -rf "$T"; mkdir -p "$T"; trap 'rm -rf "$T"' EXIT
. "$(dirname "$0")/lib.sh"
PY=/usr/bin/python3
unset CAIRN_KV

"$BIN" model make-tiny --arch qwen2 --type q8_0 --seed 3 --ctx 1024 --out "$T/m.gguf" >/dev/null || bad "make-tiny"
KB="$T/kb"
"$BIN" init "$KB" >/dev/null || bad "init"
(cd "$SRC" && "$BIN" ingest "$KB" datasets/corpus/companies >/dev/null) || bad "ingest"
Q="Who is the managing director of Marlow Cells?"

set_kv() {   # set_kv VALUE: ask.kv_type in cairn.json
  $PY - "$KB/cairn.json" "$1" <<'PY'
import json, sys
p = sys.argv[1]; s = json.load(open(p))
s.setdefault("ask", {})["kv_type"] = sys.argv[2]
json.dump(s, open(p, "w"))
PY
}
kv_of() { $PY -c 'import json,sys; print(json.load(open(sys.argv[1]))["model"]["kv_cache"])' "$1"; }
ntraces() { "$BIN" trace "$KB" list 2>/dev/null | wc -l; }

"$BIN" ask "$KB" "$Q" --model "$T/m.gguf" --max-tokens 4 --json > "$T/d.json" 2>"$T/err" || bad "default ask: $(tail -1 "$T/err")"
[ "$(kv_of "$T/d.json")" = f16 ] && ok || bad "default KV cache is not f16: $(kv_of "$T/d.json")"

set_kv f32
"$BIN" ask "$KB" "$Q" --model "$T/m.gguf" --max-tokens 4 --json > "$T/f.json" 2>"$T/err" || bad "ask.kv_type f32: $(tail -1 "$T/err")"
[ "$(kv_of "$T/f.json")" = f32 ] && ok || bad "ask.kv_type f32 gave $(kv_of "$T/f.json")"

set_kv ""
CAIRN_KV=f32 "$BIN" ask "$KB" "$Q" --model "$T/m.gguf" --max-tokens 4 --json > "$T/e.json" 2>"$T/err" || bad "CAIRN_KV=f32: $(tail -1 "$T/err")"
[ "$(kv_of "$T/e.json")" = f32 ] && ok || bad "CAIRN_KV=f32 with an empty setting gave $(kv_of "$T/e.json")"

set_kv F16
CAIRN_KV=f32 "$BIN" ask "$KB" "$Q" --model "$T/m.gguf" --max-tokens 4 --json > "$T/s.json" 2>"$T/err" || bad "ask.kv_type F16: $(tail -1 "$T/err")"
[ "$(kv_of "$T/s.json")" = f16 ] && ok || bad "the setting did not win over CAIRN_KV: $(kv_of "$T/s.json")"

set_kv q8
before=$(ntraces)
expect 1 'setting ask.kv_type must be "f16", "f32" or "q8_0" \(is "q8"\)' -- "$BIN" ask "$KB" "$Q" --model "$T/m.gguf" --max-tokens 4
[ "$(ntraces)" = "$before" ] && [ -n "$before" ] && ok || bad "a refused ask stored a trace ($before -> $(ntraces))"

echo "test_ask_kv_type: $pass passed, $fail failed"
[ "$fail" = 0 ]
