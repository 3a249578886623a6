#!/usr/bin/env bash
# test_llm_forward.sh — cairn's CPU forward pass against an independent NumPy
# reference (tests/ref_forward.py) on tiny GGUF models written by
# `cairn model make-tiny`, for every architecture and tensor type: logits
# within TOL (max absolute difference; logits are of order 1) at every
# position, and greedy generations identical token for token.
set -u
BIN="${CAIRN_BIN:?}"; SRC="${CAIRN_SRC:?}"; PY=/usr/bin/python3; REF="$SRC/tests/ref_forward.py"
TOL=1e-4
if ! "$PY" -c 'import numpy' 2>/dev/null; then echo "SKIP: $PY lacks numpy (apt install python3-numpy)"; exit 77; fi
T="${CAIRN_TMP:-/tmp}/fwd.$$"; mkdir -p "$T"; trap 'rm -rf "$T"' EXIT
pass=0; fail=0
chk() { if eval "$2"; then pass=$((pass+1)); else fail=$((fail+1)); echo "FAIL: $1" >&2; fi; }
IDS=104,256,258,111,32,257,260,119,111,114,108,100,33,10,84,259,115,32,105,115,0,255,263
for arch in llama qwen2 qwen3; do
  for type in f32 f16 q8_0 q4_0 q4_k q6_k; do
    f="$T/$arch-$type.gguf"
    "$BIN" model make-tiny --arch $arch --type $type --seed 42 --out "$f" || { chk "$arch $type: make-tiny" false; continue; }
    "$BIN" model logits "$f" --tokens $IDS > "$T/c.txt"; rc=$?
    "$PY" "$REF" "$f" logits $IDS > "$T/r.txt"
    diff=$("$PY" -c 'import sys, numpy as np
c, r = np.loadtxt(sys.argv[1], ndmin=2), np.loadtxt(sys.argv[2], ndmin=2)
print("%.3g" % np.abs(c - r).max() if c.shape == r.shape else "shape")' "$T/c.txt" "$T/r.txt")
    echo "$arch $type: max |logit diff| = $diff over $(wc -l < "$T/c.txt") positions"
    chk "$arch $type: logits within $TOL (got $diff)" '[ $rc = 0 ] && [ "$diff" != shape ] && awk "BEGIN{exit !($diff <= $TOL)}"'
    got=$("$BIN" model run "$f" --prompt "hello world" -n 24 --ids)
    want=$("$PY" "$REF" "$f" greedy "$("$BIN" model tokenize "$f" "hello world" | awk 'NR>1 && /^ *[0-9]+  /{printf "%s%s", s, $1; s=","}')" 24)
    chk "$arch $type: greedy tokens equal ($got vs $want)" '[ -n "$got" ] && [ "$got" = "$want" ]'
  done
done
# linear RoPE scaling from the metadata (positions divided by the factor)
f="$T/rope.gguf"
"$BIN" model make-tiny --arch llama --type f32 --seed 7 --rope-scaling linear --rope-factor 4 --out "$f"
"$BIN" model logits "$f" --tokens $IDS > "$T/c.txt"; rc=$?
"$PY" "$REF" "$f" logits $IDS > "$T/r.txt"
diff=$("$PY" -c 'import sys, numpy as np
c, r = np.loadtxt(sys.argv[1], ndmin=2), np.loadtxt(sys.argv[2], ndmin=2)
print("%.3g" % np.abs(c - r).max() if c.shape == r.shape else "shape")' "$T/c.txt" "$T/r.txt")
echo "llama f32 rope linear x4: max |logit diff| = $diff"
chk "rope linear scaling: logits within $TOL (got $diff)" '[ $rc = 0 ] && [ "$diff" != shape ] && awk "BEGIN{exit !($diff <= $TOL)}"'
"$BIN" model logits "$T/llama-f32.gguf" --tokens $IDS > "$T/u.txt"
chk "rope scaling changes the logits" '! cmp -s "$T/u.txt" "$T/c.txt"'
"$BIN" model make-tiny --arch llama --rope-scaling yarn --rope-factor 4 --out "$T/yarn.gguf"
out=$("$BIN" model run "$T/yarn.gguf" --prompt hi 2>&1); rc=$?
chk "unknown rope scaling: exit 1 naming it ($out)" '[ $rc = 1 ] && grep -q "yarn.*not supported" <<<"$out"'
out=$("$BIN" model make-tiny --arch llama --type q8_0 --embd 72 --heads 4 --out "$T/x.gguf" 2>&1); rc=$?
chk "make-tiny q8_0 with rows of 72: exit 1 with a message" '[ $rc = 1 ] && grep -q "multiples" <<<"$out"'
# hostile input: clear errors, no crash
out=$("$BIN" model logits "$T/llama-f32.gguf" --tokens 99999 2>&1); rc=$?
chk "token outside the vocabulary: exit 1 with a message" '[ $rc = 1 ] && grep -q vocabulary <<<"$out"'
printf 'GGUF' > "$T/trunc.gguf"
out=$("$BIN" model run "$T/trunc.gguf" --prompt hi 2>&1); rc=$?
chk "truncated file: exit 1" '[ $rc = 1 ]'
head -c 20000 "$T/llama-f32.gguf" > "$T/cut.gguf"
out=$("$BIN" model run "$T/cut.gguf" --prompt hi 2>&1); rc=$?
chk "cut model: exit 1" '[ $rc = 1 ]'
out=$("$BIN" model make-tiny --arch bert --out "$T/x.gguf" 2>&1); rc=$?
chk "make-tiny unknown arch: exit 1" '[ $rc = 1 ] && grep -q llama <<<"$out"'
echo "llm_forward: $pass passed, $fail failed"
[ $fail = 0 ]
