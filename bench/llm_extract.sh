#!/usr/bin/env bash
# llm_extract.sh — the LLM extractor's throughput (chunks/s) and the cost
# estimate's accuracy (estimated vs actual seconds) on the sample corpus
# (datasets/corpus), with tiny random GGUF models (qwen2, Q8_0): the default
# tiny shape on the whole corpus, and a larger one (embd 512, 8 layers, ffn
# 1536) whose cost is dominated by the matrices, as a real model's is, on
# datasets/corpus/news. Baseline in the same run: ingestion with the rules
# extractor alone.
#   usage: bench/llm_extract.sh BUILD_DIR [MAX_TOKENS]
set -eu
B="${1:?build dir}/cairn"; MAXT="${2:-128}"
SRC="$(cd "$(dirname "$0")/.." && pwd)"
T="$(mktemp -d)"; trap 'rm -rf "$T"' EXIT
"$B" model make-tiny --arch qwen2 --type q8_0 --ctx 4096 --seed 4 --out "$T/tiny.gguf" >/dev/null
"$B" model make-tiny --arch qwen2 --type q8_0 --ctx 4096 --seed 4 --embd 512 --layers 8 --heads 8 \
  --kv-heads 2 --ff 1536 --out "$T/mid.gguf" >/dev/null
for m in tiny mid; do
  KB="$T/kb-$m"; IN="$SRC/datasets/corpus"; [ $m = mid ] && IN="$IN/news"
  "$B" init "$KB" >/dev/null
  python3 - "$KB/cairn.json" "$MAXT" <<'P'
import json, sys
d = json.load(open(sys.argv[1])); d.setdefault("graph", {})["llm_max_tokens"] = int(sys.argv[2])
json.dump(d, open(sys.argv[1], "w"))
P
  t0=$(date +%s.%N)
  "$B" ingest "$KB" "$IN" --extractor rules >/dev/null
  t1=$(date +%s.%N)
  "$B" graph extract "$KB" --model "$T/$m.gguf" --json > "$T/out-$m.json"
  python3 - "$T/out-$m.json" "$m" "$t0" "$t1" <<'P'
import json, sys
d = json.loads(open(sys.argv[1]).read().splitlines()[0]); e = d["estimate"]
rules = float(sys.argv[4]) - float(sys.argv[3])
print("model %-4s chunks %d  rules-only ingest %.2f s  llm pass %.2f s (model %.2f s)  %.2f chunks/s"
      % (sys.argv[2], d["chunks_extracted"], rules, d["seconds"], d["model_seconds"],
         d["chunks_extracted"] / d["seconds"]))
print("           estimate %.2f s  actual/estimate %.2f  prompt tokens %d (est %d)  output tokens %d"
      " (est %d, max %d)  prefill %.3f ms/tok  decode %.3f ms/tok"
      % (e["seconds"], d["seconds"] / e["seconds"], d["prompt_tokens"], e["prompt_tokens"],
         d["output_tokens"], e["output_tokens"], e["output_tokens_max"],
         e["prefill_ms_per_token"], e["decode_ms_per_token"]))
print("           entities kept %d dropped %d  relations kept %d dropped %d  repaired %d unparsed %d"
      % (d["entities_kept"], d["entities_dropped"], d["relations_kept"], d["relations_dropped"],
         d["outputs_truncated"], d["outputs_unparsed"]))
P
done
