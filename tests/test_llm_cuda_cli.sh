#!/usr/bin/env bash
# test_llm_cuda_cli.sh — the command line around the CUDA backend on any
# machine: CAIRN_GPU=0 runs on the CPU without a word on stderr; the default
# gives the same tokens and at most one "running on the CPU" line (a build
# with CUDA on a machine without a device) or none; CAIRN_GPU=1 and
# `model bench --gpu` either run on the GPU or fail with a message that
# says why; a bad CAIRN_GPU value is refused.
set -u
BIN="${CAIRN_BIN:?}"
T="${CAIRN_TMP:-/tmp}/cudacli.$$"; mkdir -p "$T"; trap 'rm -rf "$T"' EXIT
pass=0; fail=0
chk() { if eval "$2"; then pass=$((pass+1)); else fail=$((fail+1)); echo "FAIL: $1" >&2; fi; }
f="$T/m.gguf"
"$BIN" model make-tiny --arch qwen3 --type q8_0 --seed 5 --out "$f" || { echo "FAIL: make-tiny"; exit 1; }

export CAIRN_KV=f32 # the CUDA device cache is F32: the CPU runs compared with it keep floats too
cpu=$(CAIRN_GPU=0 "$BIN" model run "$f" --prompt "hello" -n 12 --ids 2>"$T/e0"); rc=$?
chk "CAIRN_GPU=0 runs" '[ $rc = 0 ] && [ -n "$cpu" ]'
chk "CAIRN_GPU=0 says nothing on stderr ($(cat "$T/e0"))" '[ ! -s "$T/e0" ]'

auto=$(env -u CAIRN_GPU "$BIN" model run "$f" --prompt "hello" -n 12 --ids 2>"$T/e1"); rc=$?
chk "default runs" '[ $rc = 0 ]'
chk "default gives the CPU's tokens ($auto vs $cpu)" '[ "$auto" = "$cpu" ]'
n=$(grep -c "running on the CPU" "$T/e1")
chk "default: at most one fallback line ($n)" '[ "$n" -le 1 ]'

CAIRN_GPU=1 "$BIN" model run "$f" --prompt "hello" -n 12 --ids >"$T/o2" 2>"$T/e2"; rc=$?
if [ $rc = 0 ]; then
    echo "a GPU is present: CAIRN_GPU=1 ran"
    chk "CAIRN_GPU=1 gives the CPU's greedy tokens" '[ "$(cat "$T/o2")" = "$cpu" ]'
else
    chk "CAIRN_GPU=1 without a GPU says why ($(cat "$T/e2"))" 'grep -q "CAIRN_GPU=1" "$T/e2" && grep -qi "cuda" "$T/e2"'
fi

"$BIN" model bench --gpu "$f" --ctx 16 --decode 4 --prompt 8 >"$T/o3" 2>"$T/e3"; rc=$?
if [ $rc = 0 ]; then
    chk "bench --gpu prints decode speed" 'grep -q "decode tok/s" "$T/o3" && grep -q "copy bandwidth" "$T/o3"'
else
    chk "bench --gpu without a GPU says why ($(cat "$T/e3"))" '[ $rc = 1 ] && grep -qi "cuda" "$T/e3"'
fi
"$BIN" model bench --gpu >"$T/o4" 2>&1; rc=$?
chk "bench --gpu without a file is refused" '[ $rc != 0 ] && grep -q "FILE" "$T/o4"'

# asking for the 8-bit cache with the GPU: the device cache stays F32, so
# the tokens are the CPU's F32 ones (heads of 64: q8_0 blocks fit)
f64="$T/m64.gguf"
"$BIN" model make-tiny --arch qwen2 --type q8_0 --embd 256 --heads 4 --kv-heads 2 --seed 5 --out "$f64" || chk "make-tiny h64" false
cpu64=$(CAIRN_GPU=0 "$BIN" model run "$f64" --prompt "hello" -n 12 --ids 2>/dev/null)
CAIRN_KV=q8_0 CAIRN_GPU=1 "$BIN" model run "$f64" --prompt "hello" -n 12 --ids >"$T/o6" 2>"$T/e6"; rc=$?
if [ $rc = 0 ]; then
    chk "CAIRN_KV=q8_0 on the GPU gives the F32 cache's tokens" '[ "$(cat "$T/o6")" = "$cpu64" ]'
else
    chk "CAIRN_KV=q8_0 CAIRN_GPU=1 without a GPU says why ($(cat "$T/e6"))" 'grep -q "CAIRN_GPU=1" "$T/e6" && grep -qi "cuda" "$T/e6"'
fi
q8=$(CAIRN_KV=q8_0 CAIRN_GPU=0 "$BIN" model run "$f64" --prompt "hello" -n 12 --ids 2>/dev/null); rc=$?
chk "CAIRN_KV=q8_0 on the CPU runs" '[ $rc = 0 ] && [ -n "$q8" ]'

CAIRN_GPU=sometimes "$BIN" model run "$f" --prompt "hello" -n 2 >/dev/null 2>"$T/e5"; rc=$?
chk "a bad CAIRN_GPU is refused" '[ $rc != 0 ] && grep -q "CAIRN_GPU" "$T/e5"'

echo "llm_cuda_cli: $pass passed, $fail failed"
[ $fail = 0 ]
