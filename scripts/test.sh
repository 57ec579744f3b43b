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
# chromium and the fonts: the web client's browser tests (emoji included in screenshots).
packages=(tmux sqlite3 ca-certificates postgresql redis-server redis-tools nginx-light
  chromium fonts-dejavu-core fonts-noto-color-emoji
  # the deployment: scripts/check-deploy.sh and lab/hosts
  ansible ansible-lint vagrant shellcheck python3-venv systemd systemd-container debootstrap
  apt-cacher-ng musl-tools openssh-client iproute2 curl
  # a real SMTP server for the mail tests (password reset, email verification)
  python3-aiosmtpd)
missing=()
# Node.js and npm run the browser tests' driver (Playwright). This machine kind ships
# Node.js 20; Debian's own nodejs (18) is only a fallback when there is none at all.
if ! command -v npm >/dev/null; then
  missing+=(nodejs npm)
fi
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

log "building the web client (crates/web -> crates/web/dist; installs the wasm tooling once)"
./scripts/build-web.sh

# One build, in the release profile: the end-to-end checks and the failover drills run
# the real binaries under load, which the debug build is too slow for (the drills'
# delivery-gap bound and the 5,000-client storm failed with it); the tests build in the
# same profile, so nothing is compiled twice. The server embeds the web client.
log "building the workspace, release profile (binaries are used by the end-to-end tests)"
cargo build --workspace --release --locked
BIN=${CARGO_TARGET_DIR:-$PWD/target}/release
export TUITALK_SERVER_BIN=$BIN/tuitalk-server TUITALK_LOAD_BIN=$BIN/tuitalk-load TUITALK_TUI_BIN=$BIN/tuitalk
export TUITALK_E2E_BIN_DIR=$BIN

# Debian starts the packaged PostgreSQL, Redis and nginx on install; the lab runs its own
# instances on their own loopback addresses, so the packaged ones are left alone.

log "starting the lab's PostgreSQL and Redis Cluster (lab/lab infra)"
# A lab that was already running (someone is using it) is left running; one started
# here is taken down again when the tests end.
if ! lab/lab running; then
  trap 'lab/lab down || true' EXIT
fi
lab/lab infra
eval "$(lab/lab env)"
# Tests that need PostgreSQL or Redis read these; with TUITALK_TEST_REQUIRE_LAB set they
# fail (instead of skipping) when the lab is missing.
export TUITALK_TEST_DATABASE_URL=$TUITALK_LAB_DATABASE_URL
export TUITALK_TEST_REDIS_NODES=$TUITALK_LAB_REDIS_NODES
export TUITALK_TEST_REQUIRE_LAB=1

log "running every test"
cargo test --workspace --release --locked --no-fail-fast

log "browser tests of the web client (headless Chromium)"
./scripts/test-web.sh

log "OpenAPI-driven API tests (schemathesis)"
./scripts/test-api.sh

log "end-to-end checks on the whole lab through nginx (lab/check)"
lab/check

log "failover drills under load (lab/drill all)"
lab/drill all

log "deployment checks: ansible-lint, syntax, unit exposure, Vagrantfile, Terraform (scripts/check-deploy.sh)"
scripts/check-deploy.sh

# Builds the static binaries, boots twelve Debian containers, deploys them with
# ansible/site.yml (twice: the second run must change nothing), runs the failover drills
# through the floating IP, and removes everything it made.
log "the 12-host lab: the playbook for real, then failover drills (lab/hosts all)"
lab/hosts all
