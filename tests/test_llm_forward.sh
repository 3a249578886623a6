#!/usr/bin/env bash
# test_llm_forward.sh — cairn's CPU forward pass against an independent NumPy
# reference (tests/ref_forward.py) on tiny GGUF models written by
# `cairn model make-tiny`, for every architecture and tensor type: logits
# within TOL (max absolute difference; logits are of order 1) at every
# position, and greedy generations identical token for token. Twice: with a
# float KV cache (CAIRN_KV=f32, read by cairn and by the reference) and with
# the default half one (f16: both round K and V to IEEE half when storing).
#
# The F16 tolerance TOL16. The reference rounds its float64 K/V to half,
# cairn its float32 K/V; a value within float32 noise (~1e-7 relative) of a
# half rounding boundary then rounds the other way on one side: one
# half-ulp (2^-11 relative, ~5e-4 of the value) in one K or V value, which
# moves later logits by up to a few 1e-3 (measured: at most 1.6e-4 on the
# files below, 3.5e-3 on the YaRN file, whose cos/sin factor enlarges K). The F32 run keeps TOL
# (1e-4), so the forward pass itself is still checked tightly; greedy
# tokens must be equal in both.
set -u
BIN="${CAIRN_BIN:?}"; SRC="${CAIRN_SRC:?}"; PY=/usr/bin/python3; REF="$SRC/tests/ref_forward.py"
TOL=1e-4
TOLQ=1.0 # quantised weights after an 8-bit input quant flipped (see below)
TOL16=1e-2 # F16 KV cache: a K/V value rounded to the other half (see above)
if ! "$PY" -c 'import numpy' 2>/dev/null; then echo "SKIP: $PY lacks numpy (apt install python3-numpy)"; exit 77; fi
T="${CAIRN_TMP:-/tmp}/fwd.$$"; mkdir -p "$T"; trap 'rm -rf "$T"' EXIT
pass=0; fail=0
chk() { if eval "$2"; then pass=$((pass+1)); else fail=$((fail+1)); echo "FAIL: $1" >&2; fi; }
IDS=104,256,258,111,32,257,260,119,111,114,108,100,33,10,84,259,115,32,105,115,0,255,263
for KV in f32 f16; do
export CAIRN_KV=$KV
[ $KV = f32 ] && TK=$TOL || TK=$TOL16
for arch in llama qwen2 qwen3; do
  for type in f32 f16 q8_0 q4_0 q4_k q6_k; do
    f="$T/$arch-$type.gguf"
    [ -f "$f" ] || "$BIN" model make-tiny --arch $arch --type $type --seed 42 --out "$f" || { chk "$arch $type: make-tiny" false; continue; }
    "$BIN" model logits "$f" --tokens $IDS > "$T/c.txt"; rc=$?
    "$PY" "$REF" "$f" logits $IDS > "$T/r.txt"
    if [ $type = f32 ] || [ $type = f16 ]; then
      diff=$("$PY" -c 'import sys, numpy as np
c, r = np.loadtxt(sys.argv[1], ndmin=2), np.loadtxt(sys.argv[2], ndmin=2)
print("%.3g" % np.abs(c - r).max() if c.shape == r.shape else "shape")' "$T/c.txt" "$T/r.txt")
      echo "kv $KV $arch $type: max |logit diff| = $diff over $(wc -l < "$T/c.txt") positions"
      chk "kv $KV $arch $type: logits within $TK (got $diff)" '[ $rc = 0 ] && [ "$diff" != shape ] && awk "BEGIN{exit !($diff <= $TK)}"'
    else
      # Quantised weights: both sides quantise each matrix product's input
      # to 8 bits (rint(x*127/max|x|)). Where x*127/max|x| lies within
      # ~1e-5 of a half-integer, float32 (cairn) and float64 (reference)
      # arithmetic can round it differently; one flipped quant then moves
      # every later logit. Measured: 11 of the 12 files within 1.2e-5 at every
      # position; qwen2 q4_k (seed 42) within 1.2e-5 up to position 17, then
      # 0.435 after a flip at position 18 (x*127/max 2.3e-5 from a tie). So:
      # the positions before the first one off by more than TOL match within
      # TOL and are at least half of them, and all are within TOLQ.
      diff=$("$PY" -c 'import sys, numpy as np
c, r = np.loadtxt(sys.argv[1], ndmin=2), np.loadtxt(sys.argv[2], ndmin=2)
if c.shape != r.shape: print("shape"); sys.exit()
e = np.abs(c - r).max(axis=1); off = np.nonzero(e > float(sys.argv[3]))[0]
print("%.3g %d %d" % (e.max(), off[0] if len(off) else len(e), len(e)))' "$T/c.txt" "$T/r.txt" $TK)
      echo "kv $KV $arch $type: max |logit diff| = $(cut -d' ' -f1 <<<"$diff"), the first $(cut -d' ' -f2 <<<"$diff") of $(cut -d' ' -f3 <<<"$diff") positions within $TK"
      # With the F16 cache a half flip (see TOL16) can itself turn an 8-bit
      # input quant at any position, even the first (measured: qwen2 q6_k at
      # position 0, 0.47), so there only the TOLQ bound and the greedy tokens
      # are asserted; the F32 run above checks these files tightly.
      [ $KV = f32 ] && half=1 || half=0
      chk "kv $KV $arch $type: logits within $TK before any quant flip, within $TOLQ after (got $diff)" \
        '[ $rc = 0 ] && [ "$diff" != shape ] && awk -v d="$diff" "BEGIN{split(d, a, \" \"); exit !(a[1] <= $TOLQ && ($half == 0 || 2 * a[2] >= a[3]))}"'
    fi
    got=$("$BIN" model run "$f" --prompt "hello world" -n 24 --ids)
    want=$("$PY" "$REF" "$f" greedy "$("$BIN" model tokenize "$f" "hello world" | awk 'NR>1 && /^ *[0-9]+  /{printf "%s%s", s, $1; s=","}')" 24)
    chk "kv $KV $arch $type: greedy tokens equal ($got vs $want)" '[ -n "$got" ] && [ "$got" = "$want" ]'
  done
done
done
# the two cache types differ (the half rounding is real) but only slightly
CAIRN_KV=f32 "$BIN" model logits "$T/qwen2-f32.gguf" --tokens $IDS > "$T/k32.txt"
CAIRN_KV=f16 "$BIN" model logits "$T/qwen2-f32.gguf" --tokens $IDS > "$T/k16.txt"
diff=$("$PY" -c 'import sys, numpy as np
print("%.3g" % np.abs(np.loadtxt(sys.argv[1]) - np.loadtxt(sys.argv[2])).max())' "$T/k32.txt" "$T/k16.txt")
echo "qwen2 f32 weights: max |logit diff| between the F32 and F16 KV caches = $diff"
chk "F16 and F32 KV caches: logits differ, by less than 0.05 (got $diff)" 'awk "BEGIN{exit !($diff > 0 && $diff < 0.05)}"'
out=$(CAIRN_KV=f64 "$BIN" model run "$T/qwen2-f32.gguf" --prompt hi 2>&1); rc=$?
chk "CAIRN_KV=f64: exit 1 naming the choices ($out)" '[ $rc = 1 ] && grep -q "CAIRN_KV=.f64.*f16, f32 or q8_0" <<<"$out"'
# The Q8_0 KV cache (CAIRN_KV=q8_0): blocks of 32 per head, so the files
# get heads of 64 (--embd 256 --heads 4 --kv-heads 2). The reference
# quantises K, V and each query head as cairn does (ref_forward.py), so the
# same flips as above apply, now at every stored K/V value and query: a
# value within float32 noise of a rounding tie gives another 8-bit quant on
# one side, and every later logit moves (measured, seed 42: 9 of 18 files
# within 2e-5 at every position, the others flip at some position, up to
# 0.045 after it). So: the positions before the first one off by more than
# TOL are within TOL and are at least a third, all are within TOLQ; greedy
# tokens over 64 steps equal the reference's for the F32 weights (measured
# equal for all 3 architectures; with quantised weights a flip followed by
# a near tie, top-2 margin 0.005, can fork the text). Against the float
# cache the 8-bit one moves logits by more than the half one does
# (measured on these F32 files: 0.03-0.28 against 0.001-0.009), hence F16
# stays the default.
export CAIRN_KV=q8_0
for arch in llama qwen2 qwen3; do
  for type in f32 q8_0 q4_k; do
    f="$T/$arch-$type-h64.gguf"
    "$BIN" model make-tiny --arch $arch --type $type --embd 256 --heads 4 --kv-heads 2 --ctx 256 --seed 42 --out "$f" || { chk "$arch $type h64: make-tiny" false; continue; }
    "$BIN" model logits "$f" --tokens $IDS > "$T/c.txt"; rc=$?
    "$PY" "$REF" "$f" logits $IDS > "$T/r.txt"
    diff=$("$PY" -c 'import sys, numpy as np
c, r = np.loadtxt(sys.argv[1], ndmin=2), np.loadtxt(sys.argv[2], ndmin=2)
if c.shape != r.shape: print("shape"); sys.exit()
e = np.abs(c - r).max(axis=1); off = np.nonzero(e > float(sys.argv[3]))[0]
print("%.3g %d %d" % (e.max(), off[0] if len(off) else len(e), len(e)))' "$T/c.txt" "$T/r.txt" $TOL)
    echo "kv q8_0 $arch $type: max |logit diff| = $(cut -d' ' -f1 <<<"$diff"), the first $(cut -d' ' -f2 <<<"$diff") of $(cut -d' ' -f3 <<<"$diff") positions within $TOL"
    chk "kv q8_0 $arch $type: logits within $TOL before any quant flip, within $TOLQ after (got $diff)" \
      '[ $rc = 0 ] && [ "$diff" != shape ] && awk -v d="$diff" "BEGIN{split(d, a, \" \"); exit !(a[1] <= $TOLQ && 3 * a[2] >= a[3])}"'
    if [ $type = f32 ]; then
      got=$("$BIN" model run "$f" --prompt "hello world" -n 64 --ids)
      want=$("$PY" "$REF" "$f" greedy "$("$BIN" model tokenize "$f" "hello world" | awk 'NR>1 && /^ *[0-9]+  /{printf "%s%s", s, $1; s=","}')" 64)
      chk "kv q8_0 $arch f32: 64 greedy tokens equal ($got vs $want)" '[ -n "$got" ] && [ "$got" = "$want" ]'
      CAIRN_KV=f32 "$BIN" model logits "$f" --tokens $IDS > "$T/k32.txt"
      CAIRN_KV=f16 "$BIN" model logits "$f" --tokens $IDS > "$T/k16.txt"
      d=$("$PY" -c 'import sys, numpy as np
a, b, c = (np.loadtxt(x) for x in sys.argv[1:4])
print("%.3g %.3g" % (np.abs(a - c).max(), np.abs(b - c).max()))' "$T/c.txt" "$T/k16.txt" "$T/k32.txt")
      echo "kv q8_0 $arch f32: max |logit diff| against the F32 cache: q8_0 $(cut -d' ' -f1 <<<"$d"), f16 $(cut -d' ' -f2 <<<"$d")"
      chk "kv q8_0 $arch f32: further from the F32 cache than F16 is, by less than 0.5 ($d)" \
        'awk -v d="$d" "BEGIN{split(d, a, \" \"); exit !(a[1] > a[2] && a[1] < 0.5)}"'
    fi
  done
done
# the portable path agrees with the AVX2 one (the same integer scores; other exp)
CAIRN_LLM_SIMD=0 "$BIN" model logits "$T/qwen2-f32-h64.gguf" --tokens $IDS > "$T/p8.txt"
"$BIN" model logits "$T/qwen2-f32-h64.gguf" --tokens $IDS > "$T/s8.txt"
diff=$("$PY" -c 'import sys, numpy as np
print("%.3g" % np.abs(np.loadtxt(sys.argv[1]) - np.loadtxt(sys.argv[2])).max())' "$T/s8.txt" "$T/p8.txt")
chk "kv q8_0: portable vs SIMD logits within $TOL16 (got $diff)" 'awk "BEGIN{exit !($diff <= $TOL16)}"'
out=$("$BIN" model run "$T/llama-f32.gguf" --prompt hi 2>&1); rc=$?
chk "kv q8_0 with heads of 16: exit 1 saying why ($out)" '[ $rc = 1 ] && grep -q "multiple of 32, at most 4096 (this model.s is 16); use f16" <<<"$out"'
out=$("$BIN" model bench "$T/llama-q8_0-h64.gguf" --ctx 40 --decode 2 --prefill-max 16 --threads 1 --kv q8_0 2>&1)
# 2 x 2 layers x 42 positions x 4 blocks of 34 bytes
chk "model bench --kv q8_0: the KV cache line gives the type and its size" 'grep -q "KV cache: q8_0, 22848 bytes" <<<"$out"'
unset CAIRN_KV
export CAIRN_KV=f32 # the checks below are about the forward pass and its kernels
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
# YaRN (original context 16 = 64 / 4: positions up to 22 go past it)
f="$T/yarn.gguf"
"$BIN" model make-tiny --arch qwen2 --type f32 --seed 8 --rope-scaling yarn --rope-factor 4 --out "$f"
"$BIN" model logits "$f" --tokens $IDS > "$T/c.txt"; rc=$?
"$PY" "$REF" "$f" logits $IDS > "$T/r.txt"
diff=$("$PY" -c 'import sys, numpy as np
c, r = np.loadtxt(sys.argv[1], ndmin=2), np.loadtxt(sys.argv[2], ndmin=2)
print("%.3g" % np.abs(c - r).max() if c.shape == r.shape else "shape")' "$T/c.txt" "$T/r.txt")
echo "qwen2 f32 rope yarn x4: max |logit diff| = $diff"
chk "rope yarn scaling: logits within $TOL (got $diff)" '[ $rc = 0 ] && [ "$diff" != shape ] && awk "BEGIN{exit !($diff <= $TOL)}"'
"$BIN" model make-tiny --arch llama --rope-scaling longrope --rope-factor 4 --out "$T/lr.gguf"
out=$("$BIN" model run "$T/lr.gguf" --prompt hi 2>&1); rc=$?
chk "unknown rope scaling: exit 1 naming it ($out)" '[ $rc = 1 ] && grep -q "longrope.*not supported" <<<"$out"'
out=$("$BIN" model make-tiny --arch llama --type q8_0 --embd 72 --heads 4 --out "$T/x.gguf" 2>&1); rc=$?
chk "make-tiny q8_0 with rows of 72: exit 1 with a message" '[ $rc = 1 ] && grep -q "multiples" <<<"$out"'
# the thread count does not change a single logit; the portable path agrees with SIMD
"$BIN" model logits "$T/qwen2-q4_k.gguf" --tokens $IDS --threads 1 > "$T/t1.txt"
"$BIN" model logits "$T/qwen2-q4_k.gguf" --tokens $IDS --threads 3 > "$T/t3.txt"
chk "logits identical with 1 and 3 threads" 'cmp -s "$T/t1.txt" "$T/t3.txt"'
CAIRN_LLM_SIMD=0 "$BIN" model logits "$T/qwen2-q4_k.gguf" --tokens $IDS > "$T/p.txt"
diff=$("$PY" -c 'import sys, numpy as np
print("%.3g" % np.abs(np.loadtxt(sys.argv[1]) - np.loadtxt(sys.argv[2])).max())' "$T/t1.txt" "$T/p.txt")
chk "portable vs SIMD logits within $TOL (got $diff)" 'awk "BEGIN{exit !($diff <= $TOL)}"'
# F16 KV: the F16C and portable half conversions and attention kernels agree
CAIRN_KV=f16 "$BIN" model logits "$T/qwen2-f32.gguf" --tokens $IDS > "$T/s16.txt"
CAIRN_KV=f16 CAIRN_LLM_SIMD=0 "$BIN" model logits "$T/qwen2-f32.gguf" --tokens $IDS > "$T/p16.txt"
diff=$("$PY" -c 'import sys, numpy as np
print("%.3g" % np.abs(np.loadtxt(sys.argv[1]) - np.loadtxt(sys.argv[2])).max())' "$T/s16.txt" "$T/p16.txt")
chk "kv f16: portable vs SIMD logits within $TOL16 (got $diff)" 'awk "BEGIN{exit !($diff <= $TOL16)}"'
# bench runs and prints a row per context
out=$("$BIN" model bench "$T/llama-q8_0.gguf" --ctx 8,40 --decode 2 --prefill-max 16 --threads 2 2>&1); rc=$?
chk "model bench: two context rows, bandwidth, RSS" '[ $rc = 0 ] && grep -q "GB/s" <<<"$out" && grep -qE "^ +40 +16 " <<<"$out" && grep -q "peak RSS" <<<"$out"'
# the KV cache line reflects the type: the tiny llama (2 layers, 2 KV heads of 16) at 42 positions: 2 x 2 x 42 x 32 values
o16=$("$BIN" model bench "$T/llama-q8_0.gguf" --ctx 40 --decode 2 --prefill-max 16 --threads 1 --kv f16 2>&1)
o32=$("$BIN" model bench "$T/llama-q8_0.gguf" --ctx 40 --decode 2 --prefill-max 16 --threads 1 --kv f32 2>&1)
chk "model bench --kv: the KV cache line gives the type and its size" \
  'grep -q "KV cache: f16, 10752 bytes .* for 42 positions" <<<"$o16" && grep -q "KV cache: f32, 21504 bytes" <<<"$o32"'
out=$("$BIN" model bench "$T/llama-q8_0.gguf" --kv q8 2>&1); rc=$?
chk "model bench --kv q8: exit 1 naming the choices" '[ $rc = 1 ] && grep -q "f16, f32 or q8_0" <<<"$out"'
out=$("$BIN" model bench "$T/llama-q8_0.gguf" --ctx 100 2>&1); rc=$?
chk "model bench past the context: exit 1 with a message" '[ $rc = 1 ] && grep -q context <<<"$out"'
# sampling flags: same seed, same text; the stop string ends the text
a=$("$BIN" model run "$T/qwen3-f32.gguf" --prompt "hello" -n 20 --temp 0.8 --top-k 40 --top-p 0.95 --min-p 0.02 --repeat-penalty 1.1 --seed 5)
b=$("$BIN" model run "$T/qwen3-f32.gguf" --prompt "hello" -n 20 --temp 0.8 --top-k 40 --top-p 0.95 --min-p 0.02 --repeat-penalty 1.1 --seed 5)
chk "same seed, same text" '[ -n "$a" ] && [ "$a" = "$b" ]'
export LC_ALL=C # byte offsets below
gen=${a:5}; stop=${gen:3:2} # two bytes of the generated text
c=$("$BIN" model run "$T/qwen3-f32.gguf" --prompt "hello" -n 20 --temp 0.8 --top-k 40 --top-p 0.95 --min-p 0.02 --repeat-penalty 1.1 --seed 5 --stop "$stop")
chk "stop string: the text ends before its first occurrence" '[ "$c" = "hello${gen%%"$stop"*}" ]'
out=$("$BIN" model run "$T/qwen3-f32.gguf" --prompt hi --top-p 0 2>&1); rc=$?
chk "bad sampling setting: exit 1" '[ $rc = 1 ] && grep -q "top-p" <<<"$out"'
# hostile input: clear errors, no crash
out=$("$BIN" model logits "$T/llama-f32.gguf" --tokens 99999 2>&1); rc=$?
chk "token outside the vocabulary: exit 1 with a message" '[ $rc = 1 ] && grep -q vocabulary <<<"$out"'
printf 'GGUF' > "$T/trunc.gguf"
out=$("$BIN" model run "$T/trunc.gguf" --prompt hi 2>&1); rc=$?
chk "truncated file: exit 1" '[ $rc = 1 ]'
head -c 20000 "$T/llama-f32.gguf" > "$T/cut.gguf"
out=$("$BIN" model run "$T/cut.gguf" --prompt hi 2>&1); rc=$?
chk "cut model: exit 1" '[ $rc = 1 ]'
out=$("$BIN" model make-tiny --arch gpt9 --out "$T/x.gguf" 2>&1); rc=$?
chk "make-tiny unknown arch: exit 1" '[ $rc = 1 ] && grep -q llama <<<"$out"'
echo "llm_forward: $pass passed, $fail failed"
[ $fail = 0 ]
