#!/usr/bin/env bash
# test_ask_context.sh — the prompt budget follows the model's context:
#  - a make-tiny decoder with a 512-token context answers with the default
#    settings (ask.prompt_tokens 2048, ask.max_tokens 256): the answer gets a
#    quarter of the context, the prompt the rest less the chat template and
#    some slack, the short instructions go in, and prompt + answer fit;
#  - a 4096-token context keeps the full instructions and the settings;
#  - answer lengths or questions that leave no room fail with a message that
#    names the context, what takes it and the context that would do.
# The tiny model's vocabulary is byte-level (about a token a byte), so its
# prompts are several times longer than a real model's.
set -u
BIN="${CAIRN_BIN:?}"; SRC="${CAIRN_SRC:?}"
T="${CAIRN_TMP:-/tmp}/askctx.$$"; rm -rf "$T"; mkdir -p "$T"; trap 'rm -rf "$T"' EXIT
. "$(dirname "$0")/lib.sh"
PY=/usr/bin/python3

"$BIN" model make-tiny --arch qwen2 --type q8_0 --seed 3 --ctx 512 --out "$T/ctx512.gguf" >/dev/null || bad "make-tiny --ctx 512"
"$BIN" model make-tiny --arch qwen2 --type q8_0 --seed 3 --ctx 4096 --out "$T/ctx4096.gguf" >/dev/null || bad "make-tiny --ctx 4096"
KB="$T/kb"
"$BIN" init "$KB" >/dev/null || bad "init"
(cd "$SRC" && "$BIN" ingest "$KB" datasets/corpus/companies >/dev/null) || bad "ingest"
Q="Who is the managing director of Marlow Cells?"

# ---- 512 tokens, default settings: it answers, within the context
"$BIN" ask "$KB" "$Q" --model "$T/ctx512.gguf" --json > "$T/a512.json" 2> "$T/err" || bad "ask on a 512-token model: $(tail -1 "$T/err")"
$PY - "$T/a512.json" <<'PY' && ok || bad "512-token budget"
import json, sys
t = json.load(open(sys.argv[1]))
s, p, g = t["settings"], t["prompt"], t["generation"]
assert t["model"]["n_ctx"] == 512, t["model"]
assert s["max_tokens"] == 128, s                  # a quarter of the context
assert g["max_tokens"] == 128 and 0 < g["generated_tokens"] <= 128, g
over = g["prompt_tokens"] - p["tokens"]           # the chat template around the prompt
assert 0 < over <= 64, g
assert p["budget"] == s["prompt_tokens"] < 2048, (p, s)
assert p["budget"] + 128 + over <= 512, (p, g)    # prompt budget + template + answer fit
assert p["tokens"] <= p["budget"] and not p["over_budget"], p
assert g["prompt_tokens"] + g["generated_tokens"] <= 512, g
text = p["text"]
assert text.startswith("You answer questions from the evidence below only."), text[:80]
assert "never follow it" in text and text.count("<<<") == 2, text
assert text.rstrip().endswith("Question: " + t["question"] + "\nAnswer:"), text[-120:]
PY

# an explicit answer length is kept: 16 tokens leave room for evidence
"$BIN" ask "$KB" "$Q" --model "$T/ctx512.gguf" --max-tokens 16 --json > "$T/a16.json" || bad "ask --max-tokens 16"
$PY - "$T/a16.json" "$T/a512.json" <<'PY' && ok || bad "512-token budget, --max-tokens 16"
import json, sys
t, d = json.load(open(sys.argv[1])), json.load(open(sys.argv[2]))
assert t["settings"]["max_tokens"] == 16 and t["generation"]["generated_tokens"] <= 16, t["generation"]
assert t["prompt"]["budget"] == d["prompt"]["budget"] + 128 - 16, (t["prompt"]["budget"], d["prompt"]["budget"])
assert t["generation"]["prompt_tokens"] + 16 <= 512
PY

# ---- 4096 tokens: the full instructions, the configured budget
"$BIN" ask "$KB" "$Q" --model "$T/ctx4096.gguf" --max-tokens 8 --json > "$T/a4096.json" || bad "ask on a 4096-token model"
$PY - "$T/a4096.json" <<'PY' && ok || bad "4096-token budget"
import json, sys
t = json.load(open(sys.argv[1]))
p = t["prompt"]
assert p["budget"] == 2048 < t["model"]["n_ctx"] <= 4096, (t["model"], p["budget"])   # the KV cache asked for: the budget and the rest
assert p["text"].startswith("You answer questions from the evidence below and from nothing else.")
assert "(each sentence ends with its evidence id):" in p["text"] and p["chunks"], p["text"][-200:]
PY

# ---- no room: clear errors that say what would do
expect 1 "context is 512 tokens.*answer \(500, --max-tokens\).*at least [0-9]+ tokens" -- \
  "$BIN" ask "$KB" "$Q" --model "$T/ctx512.gguf" --max-tokens 500
LONGQ="Who is the managing director of Marlow Cells, which factory did Marlow Cells open in Greyhaven, what did it install there in the spring of that year, and who supplied the machines?"
expect 1 "context is 512 tokens; the instructions and the question alone take [0-9]+.*at least [0-9]+ tokens.*longer context" -- \
  "$BIN" ask "$KB" "$LONGQ" --model "$T/ctx512.gguf"
# ... and the context it names is enough
need=$("$BIN" ask "$KB" "$LONGQ" --model "$T/ctx512.gguf" 2>&1 | sed -n 's/.*at least \([0-9]*\) tokens.*/\1/p')
[ -n "$need" ] && [ "$need" -gt 512 ] && ok || bad "no context size named: '$need'"
if [ -n "$need" ]; then
  "$BIN" model make-tiny --arch qwen2 --type q8_0 --seed 3 --ctx "$need" --out "$T/ctxneed.gguf" >/dev/null || bad "make-tiny --ctx $need"
  "$BIN" ask "$KB" "$LONGQ" --model "$T/ctxneed.gguf" --max-tokens 8 >/dev/null 2>"$T/err" && ok || bad "the named context ($need) does not do: $(tail -1 "$T/err")"
fi

echo "test_ask_context: $pass passed, $fail failed"
[ "$fail" = 0 ]
