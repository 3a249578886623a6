#!/usr/bin/env bash
# bootstrap.sh — install cairn's dependencies (Debian 12), build, and run the
# main job on the bundled sample corpus.
#   ./scripts/bootstrap.sh            install + build + `cairn demo`
#   ./scripts/bootstrap.sh --no-demo  install + build only (CI)
# BUILD_TYPE=Sanitize builds with ASan + UBSan.
set -euo pipefail
cd "$(dirname "$0")/.."

PKGS="build-essential cmake pkg-config git libsqlite3-dev sqlite3 librdf0-dev librasqal3-dev libdb5.3-dev
      libfaiss-dev libopenblas-dev libmicrohttpd-dev libcjson-dev libedit-dev
      python3 python3-numpy python3-jsonschema libpq-dev librdf-storage-postgresql"

SUDO=""
[ "$(id -u)" -ne 0 ] && SUDO="sudo"
missing=$(for p in $PKGS; do dpkg-query -W -f='${Status}\n' "$p" 2>/dev/null | grep -q "install ok installed" || echo "$p"; done)
if [ -n "$missing" ]; then
  echo "== installing: $(echo $missing | tr '\n' ' ')"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends $missing
fi

BUILD_TYPE="${BUILD_TYPE:-RelWithDebInfo}"
BUILD_DIR="${BUILD_DIR:-build}"
echo "== building ($BUILD_TYPE) in $BUILD_DIR"
cmake -S . -B "$BUILD_DIR" -DCMAKE_BUILD_TYPE="$BUILD_TYPE" >/dev/null
cmake --build "$BUILD_DIR" -j"$(nproc)"

if [ "${1:-}" != "--no-demo" ]; then
  echo "== running the demo"
  "./$BUILD_DIR/cairn" demo
fi
