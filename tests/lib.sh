# lib.sh — shared by the shell tests: counters and the `expect` helper.
#   expect STATUS PATTERN -- command...   exit status and an output pattern
pass=0; fail=0
ok()  { pass=$((pass+1)); }
bad() { fail=$((fail+1)); echo "FAIL: $*" >&2; }
expect() {
  local want="$1" pat="$2"; shift 3
  local out rc
  out=$("$@" 2>&1); rc=$?
  if [ "$rc" != "$want" ]; then bad "exit $rc (want $want): $* :: ${out:0:300}"; return; fi
  if [ -n "$pat" ] && ! grep -qiE -- "$pat" <<<"$out"; then bad "no /$pat/ in output of $*: ${out:0:300}"; return; fi
  ok
}
