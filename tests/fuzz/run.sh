#!/usr/bin/env bash
# tests/fuzz/run.sh [SECONDS] [NAME...] — builds the libFuzzer harnesses
# (clang, ASan + UBSan) in build-fuzz/ and runs each for SECONDS (default
# 60) from its seed corpus in tests/fuzz/corpus/NAME/. New inputs the
# fuzzer finds go to build-fuzz/corpus/NAME/ (the seeds are never
# modified); a crash leaves build-fuzz/crash-* and fails the run. Needs
# Debian's clang and libclang-rt-14-dev (installed when missing).
# A harness that needs ../shared and finds it absent is skipped (exit 77).
# FUZZ_SEED (default 1) fixes libFuzzer's seed, so CI's short runs repeat
# closely; FUZZ_SEED=0 lets libFuzzer pick one (longer hunts by hand).
set -euo pipefail
cd "$(dirname "$0")/../.."
secs="${1:-60}"; shift || true
SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
if ! command -v clang >/dev/null || ! dpkg-query -W -f='${Status}' libclang-rt-14-dev 2>/dev/null | grep -q "ok installed"; then
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq --no-install-recommends clang libclang-rt-14-dev
fi
flags="-O1 -g -fsanitize=fuzzer-no-link,address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer"
CC=clang CXX=clang++ cmake -S . -B build-fuzz -DCMAKE_BUILD_TYPE=None -DCAIRN_FUZZ=ON \
  -DCMAKE_C_FLAGS="$flags" -DCMAKE_CXX_FLAGS="$flags" \
  -DCMAKE_EXE_LINKER_FLAGS="-fsanitize=address,undefined" >/dev/null
names=("$@")
[ ${#names[@]} -eq 0 ] && names=(gguf tokenizer parse fts sql body upload extract schema sparql)
cmake --build build-fuzz -j"$(nproc)" --target $(printf 'fuzz_%s ' "${names[@]}") >/dev/null
export CAIRN_SHARED="${CAIRN_SHARED:-$PWD/../shared}"
export ASAN_OPTIONS="detect_leaks=1:allocator_may_return_null=1"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1"
fail=0; ran=0; skipped=0
for n in "${names[@]}"; do
  mkdir -p "build-fuzz/corpus/$n"
  set +e
  (cd build-fuzz && "./tests/fuzz/fuzz_$n" -max_total_time="$secs" -max_len=65536 -timeout=10 -error_exitcode=99 -seed="${FUZZ_SEED:-1}" \
     -rss_limit_mb=2048 -print_final_stats=1 "corpus/$n" "../tests/fuzz/corpus/$n") \
     >"build-fuzz/fuzz_$n.log" 2>&1
  rc=$?
  set -e
  if [ $rc -eq 77 ]; then echo "fuzz_$n: skipped ($(tail -1 build-fuzz/fuzz_$n.log))"; skipped=$((skipped+1)); continue; fi
  ran=$((ran+1))
  execs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "build-fuzz/fuzz_$n.log" | grep -o '[0-9]*$' || echo "?")
  if [ $rc -ne 0 ]; then
    echo "fuzz_$n: FAILED (exit $rc) after ${execs} runs; log build-fuzz/fuzz_$n.log:"
    grep -E 'ERROR|SUMMARY|fuzz_.*\.c:[0-9]+|Test unit written' "build-fuzz/fuzz_$n.log" | head -20
    fail=$((fail+1))
  else
    echo "fuzz_$n: ok, ${execs} runs in ${secs} s"
  fi
done
echo "fuzz: $((ran-fail)) passed, $fail failed, $skipped skipped"
[ $fail -eq 0 ]
