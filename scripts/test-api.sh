#!/usr/bin/env bash
# OpenAPI-driven tests of the REST API: schemathesis reads the document the server serves
# (GET /api/openapi.json, crates/server/src/rest/openapi.json), generates requests from
# it (valid and invalid bodies, parameters and tokens) and checks every answer against
# it: no 5xx, only documented statuses, content types, headers and body schemas.
#
# It runs a real tuitalk-server ($TUITALK_SERVER_BIN, default target/release/tuitalk-server)
# on a free loopback port with a temporary data dir, rate limits raised so the generated
# requests are not all answered 429, cheap password hashing, and mail to a local aiosmtpd.
# Five runs, each with a fixed seed: as an account, as a guest, without a token, and the
# two revocations last (they end the session they use). Any finding fails the script.
#
# Needs python3 with venv (scripts/test.sh installs python3-venv) and curl. schemathesis
# and aiosmtpd are installed once into $CARGO_TARGET_DIR/api-venv (default
# target/api-venv). The server's log, the mails and schemathesis' JUnit reports go to
# $CARGO_TARGET_DIR/api-test, emptied first. TUITALK_API_MAX_EXAMPLES (default 200) bounds
# the generated cases per operation.
set -euo pipefail
cd "$(dirname "$0")/.."

# The Python packages of the venv: the tester, and an SMTP server that takes the mails of
# the mail endpoints (without one they answer 501, which the tester counts as a failure).
PIP_PACKAGES=(schemathesis==4.32.5 aiosmtpd==1.4.6)
SEED=20261201
MAX_EXAMPLES=${TUITALK_API_MAX_EXAMPLES:-200}
# No 5xx; only documented statuses, content types and headers; bodies of their schemas.
CHECKS=not_a_server_error,status_code_conformance,content_type_conformance
CHECKS+=,response_headers_conformance,response_schema_conformance
PHASES=examples,coverage,fuzzing,stateful

target_dir=$(realpath -m "${CARGO_TARGET_DIR:-target}")
venv=$target_dir/api-venv
artifacts=$target_dir/api-test
server_bin=$(realpath -m "${TUITALK_SERVER_BIN:-target/release/tuitalk-server}")

log() { printf '\n== test-api: %s\n' "$*"; }

if [[ ! -x $server_bin ]]; then
  echo "test-api: no server binary at $server_bin (cargo build --release -p tuitalk-server, or set TUITALK_SERVER_BIN)" >&2
  exit 1
fi

# Installed once; again only when the pins change.
if [[ $(cat "$venv/installed" 2>/dev/null) != "${PIP_PACKAGES[*]}" ]]; then
  log "installing ${PIP_PACKAGES[*]} into $venv"
  rm -rf "$venv"
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check "${PIP_PACKAGES[@]}"
  echo "${PIP_PACKAGES[*]}" >"$venv/installed"
fi

rm -rf "$artifacts"
mkdir -p "$artifacts"
workdir=$(mktemp -d)
server_pid=
smtp_pid=
stop() {
  local pid
  for pid in $server_pid $smtp_pid; do
    kill "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  done
  rm -rf "$workdir"
}
trap stop EXIT

free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}
port=$(free_port)
smtp_port=$(free_port)
base=http://127.0.0.1:$port

log "starting aiosmtpd on 127.0.0.1:$smtp_port (it prints the mails it gets)"
"$venv/bin/python" -u -m aiosmtpd -n -l "127.0.0.1:$smtp_port" >"$artifacts/mail.log" 2>&1 &
smtp_pid=$!
for _ in $(seq 100); do
  if python3 -c 'import socket, sys; socket.create_connection(("127.0.0.1", int(sys.argv[1])), 1)' "$smtp_port" 2>/dev/null; then
    break
  fi
  sleep 0.1
done

log "starting $server_bin on $base"
# Only the settings given here: none of the caller's TUITALK__ variables (a database URL,
# Redis nodes, SMTP) leak into this server.
mapfile -t inherited < <(compgen -e | grep '^TUITALK__' || true)
(
  for name in "${inherited[@]}"; do unset "$name"; done
  export TUITALK__STORE__DATA_DIR=$workdir/data
  export TUITALK__AUTH__ARGON2_MEMORY_KIB=64 TUITALK__AUTH__ARGON2_ITERATIONS=1
  export TUITALK__SMTP__HOST=127.0.0.1 TUITALK__SMTP__PORT=$smtp_port TUITALK__SMTP__TLS=none
  # Every request comes from 127.0.0.1 and from a handful of identities: raise the
  # per-address and per-identity budgets far above what the runs send.
  for limit in SESSIONS_PER_MINUTE_PER_ADDRESS GUESTS_PER_HOUR_PER_ADDRESS \
    LOGINS_PER_MINUTE_PER_ADDRESS LOGINS_PER_HOUR_PER_ACCOUNT \
    REGISTRATIONS_PER_HOUR_PER_ADDRESS MAILS_PER_HOUR_PER_ADDRESS \
    MAILS_PER_HOUR_PER_ACCOUNT POSTS_PER_SECOND POSTS_PER_SECOND_PER_ADDRESS \
    HISTORY_PER_SECOND RENAMES_PER_MINUTE ROOMS_CREATED_PER_HOUR; do
    export "TUITALK__LIMITS__$limit=1000000"
  done
  export TUITALK__LIMITS__MAX_MEMBERSHIPS=100000
  export TUITALK__LOG__FILTER=${TUITALK_API_LOG:-info}
  exec "$server_bin" --listen "127.0.0.1:$port"
) >"$artifacts/server.log" 2>&1 &
server_pid=$!

for _ in $(seq 100); do
  if curl -fsS -o /dev/null "$base/readyz" 2>/dev/null; then
    break
  fi
  if ! kill -0 "$server_pid" 2>/dev/null; then
    echo "test-api: the server exited; its log:" >&2
    cat "$artifacts/server.log" >&2
    exit 1
  fi
  sleep 0.1
done
curl -fsS -o /dev/null "$base/readyz"

# POST a JSON body and print the answer's token.
token_of() {
  curl -fsS -H 'Content-Type: application/json' -d "$2" "$base$1" |
    python3 -c 'import json, sys; print(json.load(sys.stdin)["token"])'
}
account_token=$(token_of /api/users \
  '{"email":"fuzz@example.org","password":"quiet lantern harbour 42","name":"Fuzz","handle":"fuzz"}')
guest_token=$(token_of /api/sessions '{"name":"fuzz guest"}')
revoke_token=$(token_of /api/sessions '{}')
sign_out_token=$(token_of /api/sessions '{}')

failed=()
# schemathesis run NAME [ARGS...]: one run against the served document.
run() {
  local name=$1
  shift
  log "schemathesis run: $name"
  local args=(
    run "$base/api/openapi.json"
    --checks "$CHECKS"
    --phases "$PHASES"
    --max-examples "$MAX_EXAMPLES"
    --seed "$SEED"
    --workers 2
    --request-timeout 35
    --generation-database none
    --report junit --report-junit-path "$artifacts/$name.junit.xml"
    --no-color
    "$@"
  )
  # From the artifacts: schemathesis keeps its cache of failures for `st replay` in
  # .schemathesis/ of the working directory.
  if ! (cd "$artifacts" && "$venv/bin/schemathesis" "${args[@]}"); then
    failed+=("$name")
  fi
}

# With a token every request carries it (schemathesis makes up no Authorization headers
# then); without one, it sends none or made-up ones. Revoking ends the session of the
# run's token (schemathesis finds its id), so the two revocations run last, each alone.
# run_as TOKEN NAME [ARGS...]
run_as() {
  local token=$1 name=$2
  shift 2
  run "$name" -H "Authorization: Bearer $token" --generation-with-security-parameters false "$@"
}
not_revoking=(--exclude-operation-id revokeSession --exclude-operation-id revokeAllSessions)
run_as "$account_token" account "${not_revoking[@]}"
run_as "$guest_token" guest "${not_revoking[@]}"
run anonymous
run_as "$revoke_token" revoke-session --include-operation-id revokeSession
run_as "$sign_out_token" sign-out-everywhere --include-operation-id revokeAllSessions

if ! kill -0 "$server_pid" 2>/dev/null; then
  echo "test-api: the server died during the runs; see $artifacts/server.log" >&2
  exit 1
fi
if grep -q 'panicked' "$artifacts/server.log"; then
  echo "test-api: the server panicked; see $artifacts/server.log" >&2
  grep -m5 -A3 'panicked' "$artifacts/server.log" >&2
  failed+=(panic)
fi
if ((${#failed[@]})); then
  echo "test-api: findings in: ${failed[*]} (server log and reports in $artifacts)" >&2
  exit 1
fi
echo "test-api: no findings (server log and reports in $artifacts)"
