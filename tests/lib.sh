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

# start_server LOG ARGS...: starts "$BIN" serve ARGS in the background with
# its output in LOG, then waits (up to ${CAIRN_SERVE_WAIT:-60} s: a loaded
# machine or a sanitizer build starts slowly) for the address it prints.
# Sets PID, U (http[s]://127.0.0.1:PORT) and PORT. Returns 1, with the log
# on stderr, when the server exits first or prints no address in time.
start_server() {
  local log="$1" i tries; shift
  tries=$(( ${CAIRN_SERVE_WAIT:-60} * 10 ))
  rm -f "$log"   # else a grep before the child truncates it reads an old address
  "$BIN" serve "$@" >"$log" 2>&1 &
  PID=$!
  U=""; PORT=""
  for ((i = 0; i < tries; i++)); do
    U=$(grep -o 'https\?://127\.0\.0\.1:[0-9]*' "$log" 2>/dev/null | head -1)
    [ -n "$U" ] && break
    kill -0 "$PID" 2>/dev/null || break
    sleep 0.1
  done
  if [ -z "$U" ]; then echo "server did not start: $(cat "$log" 2>/dev/null)" >&2; return 1; fi
  PORT=${U##*:}
}
