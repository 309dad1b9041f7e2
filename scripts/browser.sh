#!/usr/bin/env bash
# The console's journeys in a real browser: Debian's Chromium (installed here when missing),
# driven by playwright-core from npm (which never downloads a browser), with axe-core's rules run
# on every page. Each journey starts a fresh target/debug/tessera of its own on SQLite.
#
#   scripts/browser.sh                       # build, then every journey
#   scripts/browser.sh --test-name-pattern=token   # only matching journeys (node --test options)
#   BROWSER_BUILD=0 scripts/browser.sh       # use target/debug/tessera as it is
#
# Screenshots of every page go to target/browser/screenshots (printed at the end).
set -euo pipefail
cd "$(dirname "$0")/.."

PLAYWRIGHT_VERSION=1.65.2
AXE_VERSION=4.14.1
DIR="$PWD/.browser"
export CHROMIUM="${CHROMIUM:-/usr/bin/chromium}"

ensure_chromium() {
  [ -x "$CHROMIUM" ] && return 0
  echo "installing Debian's chromium and chromium-driver"
  local sudo=()
  [ "$(id -u)" = 0 ] || sudo=(sudo)
  "${sudo[@]}" apt-get update -q
  DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -q --no-install-recommends \
    chromium chromium-driver
}

installed() { # installed PACKAGE VERSION
  grep -q "\"version\": \"$2\"" "$DIR/node_modules/$1/package.json" 2>/dev/null
}

ensure_packages() {
  installed playwright-core "$PLAYWRIGHT_VERSION" && installed axe-core "$AXE_VERSION" && return 0
  echo "installing playwright-core@$PLAYWRIGHT_VERSION and axe-core@$AXE_VERSION into .browser/"
  mkdir -p "$DIR"
  # playwright-core carries no browser and fetches none; this variable says so twice.
  PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm install --prefix "$DIR" --no-audit --no-fund \
    --save-exact --loglevel=error "playwright-core@$PLAYWRIGHT_VERSION" "axe-core@$AXE_VERSION" </dev/null
}

ensure_chromium
ensure_packages
[ "${BROWSER_BUILD:-1}" = 0 ] || cargo build --quiet -p tessera

export TESSERA_BIN="$PWD/target/debug/tessera"
export BROWSER_MODULES="$DIR/node_modules"
export SCREENSHOTS="$PWD/target/browser/screenshots"
rm -rf "$SCREENSHOTS"
mkdir -p "$SCREENSHOTS"

status=0
node --test --test-reporter=spec --test-timeout=120000 "$@" crates/tessera/tests/browser/ || status=$?
echo "screenshots of every page: $SCREENSHOTS ($(ls "$SCREENSHOTS" | wc -l) files)"
exit "$status"
