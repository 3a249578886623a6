#!/usr/bin/env bash
# test_browser.sh — the trace browser in a real browser: headless Chromium
# driven over the DevTools protocol (tests/browser_driver.py) against
# `cairn serve` on loopback, with a KB of the sample corpus plus a document
# carrying <script> and markup (cited by an answer) and non-BMP characters
# before the cited sentence. Screenshots go to $CAIRN_TMP/browser/.
# Skips (77) when chromium is not installed.
set -u
BIN="${CAIRN_BIN:?}"
. "$CAIRN_SRC/tests/lib.sh"
CHROMIUM=$(command -v chromium || command -v chromium-browser || true)
[ -n "$CHROMIUM" ] || { echo "SKIP: chromium not installed (apt-get install chromium)"; exit 77; }
command -v curl >/dev/null || { echo "SKIP: curl not installed"; exit 77; }
T="${CAIRN_TMP:-/tmp}/browser.$$"; rm -rf "$T"; mkdir -p "$T/docs"
OUT="${CAIRN_TMP:-/tmp}/browser"; rm -rf "$OUT"; mkdir -p "$OUT"
PID=""
cleanup() { [ -n "$PID" ] && kill -KILL "$PID" 2>/dev/null; rm -rf "$T"; }
trap cleanup EXIT

# the untrusted document: markup that would run if inserted as HTML
cat > "$T/docs/zorblat-treaty.txt" <<'EOF'
Zorblat treaty notes 😀 𝄞 — Ünïcödé preface, so character offsets and UTF-16 differ.

The Zorblat treaty was ratified by Quillon Harbor <script>document.title='pwned';window.__pwned=1</script><img src=x onerror="window.__pwned=2"> in March 2024.

Archive copies of the treaty are kept in the harbor office.
EOF
"$BIN" init "$T/kb" >/dev/null && "$BIN" ingest "$T/kb" "$CAIRN_SRC/datasets/corpus" "$T/docs" >/dev/null 2>&1 \
  || { echo "setup failed"; exit 1; }
ask() { "$BIN" ask "$T/kb" "$1" | sed -n 's/^trace \(tr_[0-9a-f]*\)$/\1/p'; }
ask "Which company did Kestrel Avionics Ltd acquire in 2023?" >/dev/null
SCRIPT_TRACE=$(ask "Who ratified the Zorblat treaty?")
ask "Was the zorblat treaty <b>signed</b> <script>window.__pwned=3</script> in 2024?" >/dev/null
ask "What xylophone quartet performed zebra polkas?" >/dev/null
[ -n "$SCRIPT_TRACE" ] || { echo "setup failed: no trace id from cairn ask"; exit 1; }

"$BIN" serve "$T/kb" --listen 127.0.0.1:0 --threads 2 >"$T/log" 2>&1 &
PID=$!
for _ in $(seq 50); do grep -q 'http://' "$T/log" && break; sleep 0.1; done
PORT=$(grep -o 'http://127.0.0.1:[0-9]*' "$T/log" | sed 's/.*://')
[ -n "$PORT" ] || { echo "server did not start: $(cat "$T/log")"; exit 1; }
U="http://127.0.0.1:$PORT"

# the page's files and headers, as curl sees them
hdr=$(curl -s -D - -o "$T/index.html" "$U/")
grep -qi "^Content-Security-Policy: default-src 'self'; script-src 'self'; style-src 'self'" <<<"$hdr" \
  && ok || bad "CSP header on /: $hdr"
grep -qi '^Content-Type: text/html' <<<"$hdr" && ok || bad "content type of /: $hdr"
grep -qi '^X-Content-Type-Options: nosniff' <<<"$hdr" && ok || bad "nosniff on /"
cmp -s "$T/index.html" "$CAIRN_SRC/web/index.html" && ok || bad "/ is not web/index.html"
ct=$(curl -s -o /dev/null -w '%{content_type}' "$U/app.js"); [[ "$ct" == text/javascript* ]] && ok || bad "app.js type $ct"
ct=$(curl -s -o /dev/null -w '%{content_type}' "$U/app.css"); [[ "$ct" == text/css* ]] && ok || bad "app.css type $ct"
# no inline script or style and no inline handlers in the page
grep -Eiq '<script>|<style|style=| on[a-z]+=' "$CAIRN_SRC/web/index.html" && bad "inline script/style/handler in index.html" || ok
grep -Eq '\.(inner|outer)HTML *[+]?=|insertAdjacentHTML *\(|document\.write|\beval *\(|new Function' "$CAIRN_SRC/web/app.js" && bad "app.js uses an HTML sink" || ok

timeout 300 /usr/bin/python3 "$CAIRN_SRC/tests/browser_driver.py" "$CHROMIUM" "$U" "$OUT" "$SCRIPT_TRACE" "$T/kb/cairn.db"
rc=$?
[ "$rc" = 0 ] && ok || bad "browser driver failed (exit $rc); chromium log: $OUT/chromium.log"
rm -rf "$OUT/chromium-profile"
kill -TERM "$PID"; wait "$PID"; src=$?; PID=""
[ "$src" = 0 ] && ok || bad "server exit status on SIGTERM: $src (sanitizer report in the log?) $(tail -5 "$T/log")"

echo "browser: $pass passed, $fail failed (screenshots in $OUT)"
[ "$fail" = 0 ]
