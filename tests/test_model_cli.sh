#!/usr/bin/env bash
# test_model_cli.sh — `cairn model info|tokenize` on real tokenizer GGUFs
# (../shared/vocab) and on files that are not GGUF: clear errors, no crash.
set -u
BIN="${CAIRN_BIN:?}"; V="${CAIRN_SHARED:-}/vocab"
T="${CAIRN_TMP:-/tmp}/model.$$"; mkdir -p "$T"; trap 'rm -rf "$T"' EXIT
pass=0; fail=0
chk() { if eval "$2"; then pass=$((pass+1)); else fail=$((fail+1)); echo "FAIL: $1" >&2; fi; }
printf 'not a model' > "$T/bad.gguf"; : > "$T/empty.gguf"
out=$("$BIN" model info "$T/bad.gguf" 2>&1); rc=$?
chk "bad file: exit 1 with a message naming it" '[ $rc = 1 ] && grep -q "bad.gguf" <<<"$out"'
out=$("$BIN" model info "$T/empty.gguf" 2>&1); rc=$?
chk "empty file: exit 1" '[ $rc = 1 ]'
out=$("$BIN" model info "$T/missing.gguf" 2>&1); rc=$?
chk "missing file: exit 1" '[ $rc = 1 ]'
if [ -f "$V/ggml-vocab-llama-spm.gguf" ]; then
  out=$("$BIN" model info "$V/ggml-vocab-llama-spm.gguf" 2>&1); rc=$?
  chk "info: architecture printed" '[ $rc = 0 ] && grep -q "general.architecture" <<<"$out"'
  out=$("$BIN" model tokenize "$V/ggml-vocab-llama-spm.gguf" "Hello world" 2>&1); rc=$?
  chk "tokenize: ids and round trip" '[ $rc = 0 ] && grep -q "15043" <<<"$out" && grep -q "detokenized: \"Hello world\"" <<<"$out"'
else
  echo "note: ../shared/vocab absent; GGUF success cases skipped"
fi
echo "model_cli: $pass passed, $fail failed"
[ $fail = 0 ]
