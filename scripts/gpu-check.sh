#!/usr/bin/env bash
# gpu-check.sh — the one script a session with an NVIDIA GPU runs (on the
# device machine, from the repository root) to check llm/'s CUDA backend:
#   bash scripts/gpu-check.sh            # writes text files under $OUT
# Stages, each under its own time limit; a stage that fails or times out is
# recorded and the next one runs anyway:
#   01-env        nvidia-smi, nvcc, cmake, compiler versions
#   02-build      llm/ built alone (cmake -S llm: only CMake + CUDA needed;
#                 the rest of cairn's dependencies are not on GPU machines),
#                 kernels for sm_80 and sm_90, targets test_llm_cuda,
#                 test_llm_cuda_host, llm_gpu_bench
#   03-gpu-tests  ctest -L gpu (kernel and whole-model parity vs the CPU
#                 backend) and the host-side test
#   04-bench-q8_0 Qwen2.5-0.5B-shaped Q8_0 model (random weights): prefill
#                 512 tokens, decode at contexts 128 and 4096, bandwidth vs
#                 the device's copy bandwidth
#   05-bench-f16  the same in F16
#   06-sanitizer  compute-sanitizer memcheck on the parity test (works on
#                 Firecracker machines, refused on gVisor: informative only)
# 00-summary.txt lists every stage's exit code and seconds; the end of the
# output repeats the summary, the parity lines and the bench tables (the
# device tool returns the last 12,000 characters). Every stage's limit is
# cut to what is left of GPU_CHECK_BUDGET seconds (default 540, under the
# device tool's 600 s per command); a stage with under 15 s left is skipped.
# Expected: about 5-7 minutes on 16 cores (build ~1-2, tests ~1, benches
# ~2-3, sanitizer the rest).
set -u
cd "$(dirname "$0")/.."
OUT=${OUT:-/tmp/gpu-check-out}
mkdir -p "$OUT"
BUILD=${GPU_BUILD_DIR:-build-gpu}
JOBS=${JOBS:-16}
BUDGET=${GPU_CHECK_BUDGET:-540}
DEADLINE=$(($(date +%s) + BUDGET))
SUMMARY="$OUT/00-summary.txt"
: >"$SUMMARY"
export CAIRN_TMP=${CAIRN_TMP:-/tmp/cairn-gpu-check}
mkdir -p "$CAIRN_TMP"

# stage NAME SECONDS COMMAND...: output to $OUT/NAME.txt, a line in the summary
stage() {
    local name=$1 limit=$2 t0 rc left
    shift 2
    t0=$(date +%s)
    left=$((DEADLINE - t0 - 5))
    if [ $left -lt 15 ]; then
        printf '%-14s skipped: the %ss budget is spent\n' "$name" "$BUDGET" | tee -a "$SUMMARY"
        return 0
    fi
    [ $limit -gt $left ] && limit=$left
    echo "== $name (limit ${limit}s): $*" >"$OUT/$name.txt"
    timeout -k 10 "$limit" "$@" >>"$OUT/$name.txt" 2>&1
    rc=$?
    [ $rc -eq 124 ] && echo "== TIMED OUT after ${limit}s" >>"$OUT/$name.txt"
    printf '%-14s rc=%-3s %4ss\n' "$name" "$rc" "$(($(date +%s) - t0))" | tee -a "$SUMMARY"
    return 0
}

echo "gpu-check $(date -u '+%Y-%m-%d %H:%M:%S UTC') commit $(git rev-parse --short HEAD 2>/dev/null || echo '?')" >>"$SUMMARY"

stage 01-env 60 bash -c 'nvidia-smi; echo; nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.max.sm,clocks.max.mem --format=csv;
    echo; (nvcc --version || /usr/local/cuda/bin/nvcc --version); echo; cmake --version; cc --version | head -1; nproc; uname -a'

export PATH="$PATH:/usr/local/cuda/bin"
[ -z "${CUDACXX:-}" ] && command -v nvcc >/dev/null && export CUDACXX=$(command -v nvcc)
stage 02-build 420 bash -c "cmake -S llm -B '$BUILD' -DCMAKE_BUILD_TYPE=Release -DCAIRN_CUDA=ON &&
    cmake --build '$BUILD' -j$JOBS --target test_llm_cuda test_llm_cuda_host llm_gpu_bench &&
    { cuobjdump --list-elf '$BUILD/llm_gpu_bench' || true; }"

stage 03-gpu-tests 300 bash -c "cd '$BUILD' && ctest -L gpu -V --timeout 280; r=\$?; echo; ./test_llm_cuda_host || r=1; exit \$r"

# Qwen2.5-0.5B dimensions; context 4096 + 64 decoded tokens
SHAPE="--arch qwen2 --embd 896 --layers 24 --heads 14 --kv-heads 2 --ff 4864 --n-vocab 151936 --ctx 4224"
for t in q8_0 f16; do
    n=04; [ $t = f16 ] && n=05
    stage $n-bench-$t 240 bash -c "'$BUILD/llm_gpu_bench' $SHAPE --type $t --prompt 512 --contexts 128,4096 --decode 64 '$CAIRN_TMP/qwen05-$t.gguf'; r=\$?; rm -f '$CAIRN_TMP/qwen05-$t.gguf'; exit \$r"
done

if command -v compute-sanitizer >/dev/null 2>&1; then
    # the quick parity run (every kernel; one type per architecture) under memcheck
    stage 06-sanitizer 200 env LLM_CUDA_QUICK=1 compute-sanitizer --tool memcheck --print-limit 20 "$BUILD/test_llm_cuda"
else
    echo "06-sanitizer   skipped: no compute-sanitizer" | tee -a "$SUMMARY"
fi
echo
echo "==== summary"
cat "$SUMMARY"
echo "==== parity (03-gpu-tests)"
grep -E "SKIP|CHECK failed|checks,|ok \(|note:|Passed|Failed|Skipped|tests passed" "$OUT/03-gpu-tests.txt" 2>/dev/null | head -60
for f in "$OUT"/04-bench-q8_0.txt "$OUT"/05-bench-f16.txt; do
    echo "==== $(basename "$f")"
    tail -n 12 "$f" 2>/dev/null
done
echo "==== sanitizer"
tail -n 6 "$OUT/06-sanitizer.txt" 2>/dev/null
echo "==== build errors, if any"
grep -E "error|Error" "$OUT/02-build.txt" 2>/dev/null | head -20
echo "output in $OUT"
