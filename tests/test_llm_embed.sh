#!/usr/bin/env bash
# test_llm_embed.sh — `cairn model embed` (llm/bert.c, llm/embed.c) against an
# independent NumPy reference (tests/ref_embed.py) on tiny GGUF models written
# by `cairn model make-tiny`: BERT encoders for F32/F16/Q8_0 x mean/cls/last
# pooling (WordPiece vocabulary from ../shared/vocab when present, and the
# built-in one), and decoders pooled over their last token. Tolerance: max
# |difference| of the L2-normalised vectors <= 1e-4 (float32 against
# float64; measured ~1e-7). A batch of texts of different lengths must give
# the vectors of the texts embedded one by one (<= 1e-6). Bad model files
# are clear errors.
set -u
BIN="${CAIRN_BIN:?}"; SRC="${CAIRN_SRC:?}"; PY=/usr/bin/python3; REF="$SRC/tests/ref_embed.py"
TOL=1e-4
if ! "$PY" -c 'import numpy' 2>/dev/null; then echo "SKIP: $PY lacks numpy (apt install python3-numpy)"; exit 77; fi
T="${CAIRN_TMP:-/tmp}/emb.$$"; mkdir -p "$T"; trap 'rm -rf "$T"' EXIT
pass=0; fail=0
chk() { if eval "$2"; then pass=$((pass+1)); else fail=$((fail+1)); echo "FAIL: $1" >&2; fi; }
# maxdiff A B: max |a - b| over two files of vectors ("shape" when they differ)
maxdiff() { "$PY" -c 'import sys, numpy as np
c, r = np.loadtxt(sys.argv[1], ndmin=2), np.loadtxt(sys.argv[2], ndmin=2)
print("%.3g" % np.abs(c - r).max() if c.shape == r.shape and c.size else "shape")' "$1" "$2"; }
le() { [ "$1" != shape ] && awk "BEGIN{exit !($1 <= $2)}"; }
ids() { "$BIN" model tokenize "$1" "$2" --special | awk 'NR>1 && /^ *[0-9]+  /{printf "%s%s", s, $1; s=","}'; }

TEXTS=("hello world" "The cat sat on the mat, and the dog ran into the river; music played." "Führer 42")
# compare FILE POOLING LABEL: batch vs reference, batch vs one by one
compare() {
  local f="$1" pool="$2" label="$3" a=() i d
  "$BIN" model embed "$f" "${TEXTS[@]}" > "$T/c.txt"; local rc=$?
  for i in "${!TEXTS[@]}"; do a+=("$(ids "$f" "${TEXTS[$i]}")"); done
  "$PY" "$REF" "$f" "$pool" "${a[@]}" > "$T/r.txt"
  d=$(maxdiff "$T/c.txt" "$T/r.txt")
  echo "$label: max |vector diff| = $d over ${#TEXTS[@]} texts"
  chk "$label: within $TOL of the reference (got $d)" '[ $rc = 0 ] && le "$d" $TOL'
  : > "$T/one.txt"
  for i in "${!TEXTS[@]}"; do "$BIN" model embed "$f" "${TEXTS[$i]}" >> "$T/one.txt"; done
  d=$(maxdiff "$T/c.txt" "$T/one.txt")
  chk "$label: batch equals one by one (got $d)" 'le "$d" 1e-6'
}

VOCAB="${CAIRN_SHARED:-}/vocab/ggml-vocab-bert-bge.gguf"
if [ -f "$VOCAB" ]; then
  for type in f32 f16 q8_0; do
    for pool in mean cls last; do
      f="$T/bert-$type-$pool.gguf"
      "$BIN" model make-tiny --arch bert --type $type --pooling $pool --vocab "$VOCAB" --seed 7 --out "$f" \
        || { chk "bert $type $pool: make-tiny" false; continue; }
      compare "$f" meta "bert $type $pool (bge vocab)"
    done
  done
  # the real vocabulary tokenizes as BERT does: [CLS] hello world [SEP]
  chk "bge vocab: hello world = 101,7592,2088,102" '[ "$(ids "$T/bert-f32-mean.gguf" "hello world")" = 101,7592,2088,102 ]'
else
  echo "note: ../shared/vocab absent; BERT models use the built-in vocabulary only"
fi
for type in f32 q8_0; do
  f="$T/bert-builtin-$type.gguf"
  "$BIN" model make-tiny --arch bert --type $type --seed 3 --out "$f" || chk "bert builtin: make-tiny" false
  compare "$f" mean "bert $type mean (built-in vocab)"
done
# the portable C kernel (no AVX2) gives the same vectors
CAIRN_LLM_PORTABLE=1 "$BIN" model embed "$T/bert-builtin-f32.gguf" "${TEXTS[@]}" > "$T/p.txt"
"$BIN" model embed "$T/bert-builtin-f32.gguf" "${TEXTS[@]}" > "$T/c.txt"
d=$(maxdiff "$T/c.txt" "$T/p.txt")
chk "portable kernel equals the SIMD one (got $d)" 'le "$d" 1e-6'
# threads split the work, not the arithmetic: identical vectors
"$BIN" model embed "$T/bert-builtin-q8_0.gguf" --threads 3 "${TEXTS[@]}" "${TEXTS[@]}" > "$T/p.txt"
"$BIN" model embed "$T/bert-builtin-q8_0.gguf" "${TEXTS[@]}" "${TEXTS[@]}" > "$T/c.txt"
chk "--threads 3 gives the same vectors as 1" 'cmp -s "$T/c.txt" "$T/p.txt"'
# metadata pooling can be overridden
"$BIN" model embed "$T/bert-builtin-f32.gguf" --pooling cls "${TEXTS[@]}" > "$T/c.txt"
a=(); for x in "${TEXTS[@]}"; do a+=("$(ids "$T/bert-builtin-f32.gguf" "$x")"); done
"$PY" "$REF" "$T/bert-builtin-f32.gguf" cls "${a[@]}" > "$T/r.txt"
d=$(maxdiff "$T/c.txt" "$T/r.txt")
chk "bert --pooling cls overrides mean (got $d)" 'le "$d" $TOL'
# a text longer than the context (128 positions) is cut, not refused
long=$(printf 'the river %.0s' $(seq 1 200))
out=$("$BIN" model embed "$T/bert-builtin-f32.gguf" "$long" 2>&1); rc=$?
chk "text past the context: embedded (cut)" '[ $rc = 0 ] && [ $(wc -w <<<"$out") = 64 ]'

# decoder embedding models: metadata says pooling last (or mean)
for arch in llama qwen2 qwen3; do
  f="$T/$arch-last.gguf"
  "$BIN" model make-tiny --arch $arch --pooling last --seed 5 --out "$f" || chk "$arch: make-tiny" false
  compare "$f" meta "$arch last-token"
done
"$BIN" model make-tiny --arch qwen2 --type q8_0 --pooling mean --seed 6 --out "$T/qwen2-mean.gguf"
compare "$T/qwen2-mean.gguf" meta "qwen2 q8_0 mean"
out=$("$BIN" model embed "$T/qwen2-mean.gguf" --json "a b" 2>&1)
chk "--json: arch, dim and pooling" 'grep -q "\"arch\":\"qwen2\",\"dim\":64,\"pooling\":\"mean\",\"vectors\":\[\[" <<<"$out"'

# bad model files: clear errors, no crash
"$BIN" model make-tiny --arch qwen2 --out "$T/plain.gguf"
out=$("$BIN" model embed "$T/plain.gguf" "hi" 2>&1); rc=$?
chk "decoder without pooling: refused as not an embedding model" '[ $rc = 1 ] && grep -q "not an embedding model" <<<"$out"'
head -c 30000 "$T/bert-builtin-f32.gguf" > "$T/cut.gguf"
out=$("$BIN" model embed "$T/cut.gguf" "hi" 2>&1); rc=$?
chk "truncated bert: exit 1 naming the file ($out)" '[ $rc = 1 ] && grep -q "cut.gguf" <<<"$out"'
if [ -f "${CAIRN_SHARED:-}/vocab/ggml-vocab-gpt-2.gguf" ]; then
  out=$("$BIN" model embed "$CAIRN_SHARED/vocab/ggml-vocab-gpt-2.gguf" "hi" 2>&1); rc=$?
  chk "wrong arch (gpt2): exit 1 ($out)" '[ $rc = 1 ] && grep -q "gpt2" <<<"$out"'
fi
if [ -f "$VOCAB" ]; then
  out=$("$BIN" model embed "$VOCAB" "hi" 2>&1); rc=$?
  chk "bert vocabulary without weights: exit 1 ($out)" '[ $rc = 1 ] && grep -q "missing" <<<"$out"'
fi
out=$("$BIN" model make-tiny --arch bert --pooling sum --out "$T/x.gguf" 2>&1); rc=$?
chk "make-tiny bad pooling: exit 1" '[ $rc = 1 ] && grep -q "pooling" <<<"$out"'
echo "llm_embed: $pass passed, $fail failed"
[ $fail = 0 ]
