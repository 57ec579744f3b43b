#!/usr/bin/env bash
# Installs what the tests need and runs all of them: the one test command of the README.
#
# Fresh Debian 12 machine, as root, with the Rust toolchain (rustup) present. Safe to run
# again: installs are idempotent, the build is incremental. Set CARGO_TARGET_DIR to share
# a target directory between runs.
set -euo pipefail
cd "$(dirname "$0")/.."

log() { printf '\n== %s\n' "$*"; }

log "installing system packages"
export DEBIAN_FRONTEND=noninteractive
packages=(tmux sqlite3 ca-certificates)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if ((${#missing[@]})); then
  apt-get update
  apt-get install -y --no-install-recommends "${missing[@]}"
else
  echo "all present: ${packages[*]}"
fi

if ! command -v cargo >/dev/null; then
  echo "cargo not found: install the Rust toolchain with rustup (Rust 1.95 or newer)" >&2
  exit 1
fi

log "building the workspace (binaries are used by the end-to-end tests)"
cargo build --workspace --locked

log "running every test"
cargo test --workspace --locked --no-fail-fast
