#!/usr/bin/env bash
# Browser tests of the web client (crates/web/e2e/web.test.mjs): headless Debian
# Chromium driven by Playwright over the DevTools protocol, against real tuitalk-server
# processes on 127.0.0.1 (and the TUI in a private tmux server).
#
# Needs (scripts/test.sh provides them): chromium, tmux, Node.js 20 or newer with npm,
# the web client built (scripts/build-web.sh) and then the workspace (cargo build
# --workspace: tuitalk-server embeds the client, tuitalk is the TUI of one test).
# Screenshots, server logs and the TUI's screen go to $TUITALK_E2E_ARTIFACTS
# (default: $CARGO_TARGET_DIR/web-e2e, or target/web-e2e), emptied first.
set -euo pipefail
cd "$(dirname "$0")/.."

node_major=$(node --version 2>/dev/null | sed -n 's/^v\([0-9]*\)\..*/\1/p')
if [[ -z $node_major || $node_major -lt 20 ]]; then
  echo "test-web: Node.js 20 or newer is needed (found: $(node --version 2>/dev/null || echo none))" >&2
  exit 1
fi
if [[ ! -x /usr/bin/chromium ]]; then
  echo "test-web: /usr/bin/chromium is missing (apt-get install chromium)" >&2
  exit 1
fi

target_dir=$(realpath -m "${CARGO_TARGET_DIR:-target}")
export CARGO_TARGET_DIR=$target_dir
export TUITALK_E2E_ARTIFACTS=$(realpath -m "${TUITALK_E2E_ARTIFACTS:-$target_dir/web-e2e}")
rm -rf "$TUITALK_E2E_ARTIFACTS"
mkdir -p "$TUITALK_E2E_ARTIFACTS"

cd crates/web/e2e
# playwright-core only (no browser download): Debian's chromium is the browser.
npm ci --no-audit --no-fund --loglevel=error
node --test --test-concurrency=1 --test-reporter=spec
echo "test-web: screenshots in $TUITALK_E2E_ARTIFACTS"
