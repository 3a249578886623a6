#!/usr/bin/env bash
# test_graph_llm_kv.sh — the setting graph.llm_kv_type chooses the element
# type of the LLM extractor's KV cache, as ask.kv_type does the generator's:
#  - by default the CPU caches K/V as F16 (the estimate's "kv_cache");
#  - graph.llm_kv_type "q8_0" and "f32" reach the model (`cairn graph
#    extract --dry-run --json` reports the cache the model opened with), and
#    so does CAIRN_KV when the setting is empty; the setting wins over it;
#  - a value that is neither is refused by `cairn graph extract` and by
#    `cairn ingest --extractor llm` with a message naming the setting, and
#    the refused ingestion stores nothing.
set -u
BIN="${CAIRN_BIN:?}"; PY=/usr/bin/python3
T="${CAIRN_TMP:-/tmp}/graph_llm_kv.$$"
rm -rf "$T"; mkdir -p "$T"
trap 'rm -rf "$T"' EXIT
. "$(dirname "$0")/lib.sh"
unset CAIRN_KV
setting() {   # setting KEY JSON-VALUE: in $KB/cairn.json
  "$PY" - "$KB/cairn.json" "$1" "$2" <<'P'
import json, sys
p, key, val = sys.argv[1], sys.argv[2].split("."), json.loads(sys.argv[3])
d = json.load(open(p)); o = d
for k in key[:-1]: o = o.setdefault(k, {})
o[key[-1]] = val
json.dump(d, open(p, "w"))
P
}
kv_of() {   # the kv_cache of a dry run's JSON line, "" on failure
  "$BIN" graph extract "$KB" --extractor llm --model "$M" --dry-run --json 2>"$T/err" |
    "$PY" -c 'import json,sys; print(json.loads(sys.stdin.read().splitlines()[0])["kv_cache"])' 2>/dev/null
}

M="$T/m.gguf"
# heads of 32 (--embd 128): a q8_0 KV cache needs a multiple of 32
expect 0 "" -- "$BIN" model make-tiny --arch qwen2 --type q8_0 --embd 128 --ctx 1024 --seed 4 --out "$M"
mkdir -p "$T/d"
printf 'Ana Ruiz, CFO of Norvale Systems GmbH, met Kestrel Avionics in Rotterdam.\n' > "$T/d/a.txt"
KB="$T/kb"
expect 0 "created" -- "$BIN" init "$KB"
expect 0 "" -- "$BIN" ingest "$KB" "$T/d"

k=$(kv_of); [ "$k" = f16 ] && ok || bad "default KV cache: '$k' (want f16): $(cat "$T/err")"
setting graph.llm_kv_type '"q8_0"'
k=$(kv_of); [ "$k" = q8_0 ] && ok || bad "graph.llm_kv_type q8_0 gave '$k': $(cat "$T/err")"
setting graph.llm_kv_type '"F32"'
k=$(kv_of); [ "$k" = f32 ] && ok || bad "graph.llm_kv_type F32 gave '$k': $(cat "$T/err")"
k=$(CAIRN_KV=q8_0 kv_of); [ "$k" = f32 ] && ok || bad "the setting did not win over CAIRN_KV: '$k'"
setting graph.llm_kv_type '""'
k=$(CAIRN_KV=q8_0 kv_of); [ "$k" = q8_0 ] && ok || bad "CAIRN_KV=q8_0 with an empty setting gave '$k'"

# a real extraction with the q8_0 cache
setting graph.llm_kv_type '"q8_0"'
setting graph.llm_max_tokens 48
expect 0 "chunks extracted" -- "$BIN" graph extract "$KB" --extractor llm --model "$M"

# refused values: a message naming the setting, nothing stored
MSG='setting graph\.llm_kv_type must be "f16", "f32" or "q8_0" \(is "q8"\)'
setting graph.llm_kv_type '"q8"'
expect 1 "$MSG" -- "$BIN" graph extract "$KB" --extractor llm --model "$M"
printf 'Tern Logistics ships the PX-9000 scanner to Hamburg.\n' > "$T/d/b.txt"
before=$(sqlite3 "$KB/cairn.db" "select count(*) from chunks")
expect 1 "$MSG" -- "$BIN" ingest "$KB" "$T/d" --extractor llm --model "$M"
after=$(sqlite3 "$KB/cairn.db" "select count(*) from chunks")
[ "$before" = "$after" ] && ok || bad "a refused ingestion stored chunks ($before -> $after)"
setting graph.llm_kv_type 8
expect 1 "graph\.llm_kv_type" -- "$BIN" graph extract "$KB" --extractor llm --model "$M"

echo "test_graph_llm_kv: $pass passed, $fail failed"
[ "$fail" = 0 ]
