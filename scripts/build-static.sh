#!/usr/bin/env bash
# Builds the static (musl) binaries the deployment ships: tuitalk-server, tuitalk (the
# TUI) and tuitalk-load, for x86_64-unknown-linux-musl, into dist/ (or $TUITALK_DIST_DIR).
#
#   scripts/build-static.sh          build (incremental) and copy into dist/
#
# Needs the Rust toolchain (rustup); installs the musl target and Debian's musl-tools
# (musl-gcc, for the bundled SQLite C code) when missing. Nothing links OpenSSL: the
# workspace has no TLS dependency (sqlx and redis are built without TLS features, the
# WebSocket crates without TLS), so the binaries need no system library at all and run
# on any x86_64 Linux. Honors CARGO_TARGET_DIR.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
TARGET=x86_64-unknown-linux-musl
DIST=${TUITALK_DIST_DIR:-$ROOT/dist}
BINS=(tuitalk-server tuitalk tuitalk-load)

say() { printf '[build-static] %s\n' "$*" >&2; }

if ! rustup target list --installed | grep -qx "$TARGET"; then
  say "adding the Rust target $TARGET"
  rustup target add "$TARGET"
fi
if ! command -v musl-gcc >/dev/null; then
  say "installing musl-tools (musl-gcc compiles the bundled SQLite)"
  DEBIAN_FRONTEND=noninteractive apt-get update
  DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends musl-tools
fi

cd "$ROOT"
args=()
for bin in "${BINS[@]}"; do args+=(--bin "$bin"); done
say "cargo build --release --locked --target $TARGET ${args[*]}"
cargo build --release --locked --target "$TARGET" "${args[@]}"

out=${CARGO_TARGET_DIR:-$ROOT/target}/$TARGET/release
mkdir -p "$DIST"
for bin in "${BINS[@]}"; do
  # A static executable has no program interpreter (no PT_INTERP, no "NEEDED" library).
  if LC_ALL=C readelf -lW "$out/$bin" | grep -q 'Requesting program interpreter'; then
    say "error: $bin is dynamically linked"; exit 1
  fi
  install -m 0755 "$out/$bin" "$DIST/$bin.new"
  mv -f "$DIST/$bin.new" "$DIST/$bin"
done
(cd "$DIST" && sha256sum "${BINS[@]}" >SHA256SUMS)
say "static binaries in $DIST:"
ls -l "$DIST" >&2
