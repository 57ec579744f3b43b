#!/usr/bin/env bash
# The quick start: builds the web client (installing the wasm32 target and
# wasm-bindgen-cli the first time, a few minutes), then runs tuitalk-server on its
# embedded default, which serves the chat at http://127.0.0.1:8080 (the client is
# embedded into the server binary). Arguments are passed to tuitalk-server.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/build-web.sh
exec cargo run --release --locked --bin tuitalk-server -- "$@"
