# Shared helpers for the Makefile's scripts. Source it; do not run it.
# Everything is installed into the repository (.venv/, .local/), never system-wide.

set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="$ROOT/.venv"
LOCAL="$ROOT/.local"
CARGO_LAMBDA_VERSION="1.9.2"
mkdir -p "$LOCAL"

log() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }

# A venv at $1 holding what the pins file $2 lists ($3 names it in the log). Re-installs only
# when the pins change: the stamp $4 records which pins are installed.
ensure_pinned_venv() {
  local venv="$1" pins="$2" what="$3" stamp="$4"
  if [ ! -x "$venv/bin/python" ]; then
    log "creating the venv for $what in ${venv#"$ROOT/"}"
    python3 -m venv "$venv"
  fi
  if [ ! -f "$stamp" ] || ! cmp -s "$pins" "$stamp"; then
    log "installing $what into ${venv#"$ROOT/"} (pinned)"
    "$venv/bin/pip" install --quiet --disable-pip-version-check -r "$pins"
    cp "$pins" "$stamp"
  fi
}

# The venv with moto's server, pinned by scripts/requirements-moto.txt.
ensure_moto() {
  ensure_pinned_venv "$VENV" "$ROOT/scripts/requirements-moto.txt" "moto's server" "$VENV/.moto-installed"
}

# axe-core for the console's browser tests, as tests/console/package-lock.json pins it, into
# tests/console/node_modules (git-ignored). Re-installs when the lock file is newer than the
# install (npm writes node_modules/.package-lock.json on every install).
ensure_console_test_deps() {
  local dir="$ROOT/tests/console"
  if [ -f "$dir/node_modules/.package-lock.json" ] \
     && [ ! "$dir/package-lock.json" -nt "$dir/node_modules/.package-lock.json" ]; then
    return
  fi
  if ! command -v npm >/dev/null; then
    log "the console's browser tests need npm (axe-core comes from the npm registry): install Node.js"
    return 1
  fi
  log "installing the console tests' npm packages into tests/console/node_modules (npm ci)"
  npm ci --prefix "$dir" --no-audit --no-fund
}

# The SAM CLI and cfn-lint, pinned, in a venv of their own (.venv-deploy).
ensure_deploy_tools() {
  local venv="$ROOT/.venv-deploy"
  ensure_pinned_venv "$venv" "$ROOT/scripts/requirements-deploy.txt" "the SAM CLI and cfn-lint" "$venv/.installed"
  # No telemetry from a closed network, and no prompt for the Rust build method.
  export SAM_CLI_TELEMETRY=0 SAM_CLI_BETA_RUST_CARGO_LAMBDA=1
  export PATH="$venv/bin:$PATH"
}

# The deploy rehearsal's tools (aws-sam-translator, moto's CloudFormation, cfn-lint and its
# serverless rules) in a venv of their own: aws-sam-translator needs an older pydantic than
# moto's server venv pins.
REHEARSAL_VENV="$ROOT/.venv-rehearsal"
ensure_rehearsal_tools() {
  ensure_pinned_venv "$REHEARSAL_VENV" "$ROOT/scripts/requirements-rehearsal.txt" \
    "aws-sam-translator, moto and cfn-lint-serverless" "$REHEARSAL_VENV/.installed"
}

# The API contract's tools (tests/contract_tools.rs): schemathesis and openapi-spec-validator in
# .venv-contract, pinned; Redocly CLI as tests/contract/package-lock.json pins it; and the typed
# client example's packages (openapi-typescript, openapi-fetch, TypeScript) as
# docs/client/package-lock.json pins them.
CONTRACT_VENV="$ROOT/.venv-contract"
ensure_contract_tools() {
  ensure_pinned_venv "$CONTRACT_VENV" "$ROOT/scripts/requirements-contract.txt" \
    "schemathesis and openapi-spec-validator" "$CONTRACT_VENV/.installed"
  local dir
  for dir in "$ROOT/tests/contract" "$ROOT/docs/client"; do
    if [ -f "$dir/node_modules/.package-lock.json" ] \
       && [ ! "$dir/package-lock.json" -nt "$dir/node_modules/.package-lock.json" ]; then
      continue
    fi
    command -v npm >/dev/null || { log "the contract tests need npm (Node.js) for ${dir#"$ROOT/"}"; return 1; }
    log "installing ${dir#"$ROOT/"}'s npm packages (npm ci)"
    npm ci --prefix "$dir" --no-audit --no-fund
  done
}

# cargo-lambda from PyPI (it ships the binary and zig) into the same venv.
ensure_cargo_lambda() {
  ensure_moto
  # Captured first: `| grep -q` under pipefail fails when grep closes the pipe early.
  local installed
  # `cargo-lambda --version` is refused ("unexpected argument"): the binary expects to be run
  # as a cargo subcommand, so its first argument is `lambda`.
  installed="$("$VENV/bin/cargo-lambda" lambda --version 2>/dev/null || true)"
  if [[ "$installed" != *"$CARGO_LAMBDA_VERSION"* ]]; then
    log "installing cargo-lambda $CARGO_LAMBDA_VERSION into .venv (about 400 MB, once)"
    "$VENV/bin/pip" install --quiet --disable-pip-version-check "cargo-lambda==$CARGO_LAMBDA_VERSION"
  fi
}

free_port() {
  "$VENV/bin/python" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# Waits until an HTTP URL answers, or fails after $2 seconds.
wait_for_http() {
  local url="$1" seconds="${2:-30}"
  "$VENV/bin/python" - "$url" "$seconds" <<'PY'
import sys, time, urllib.request
url, deadline = sys.argv[1], time.time() + float(sys.argv[2])
while time.time() < deadline:
    try:
        urllib.request.urlopen(url, timeout=1).read()
        sys.exit(0)
    except Exception:
        time.sleep(0.2)
sys.exit(f"{url} did not answer in {sys.argv[2]} s")
PY
}

# Starts moto's server on 127.0.0.1:$1 in the background; sets MOTO_PID. Logs go to .local/.
start_moto() {
  local port="$1"
  log "starting moto's server (DynamoDB, SQS, SES) on 127.0.0.1:$port"
  # moto_server.py: moto's own server, less a per-message cost SQS does not have (see there).
  "$VENV/bin/python" "$ROOT/scripts/moto_server.py" -H 127.0.0.1 -p "$port" >"$LOCAL/moto-$port.log" 2>&1 &
  MOTO_PID=$!
  if ! wait_for_http "http://127.0.0.1:$port/moto-api/" 30; then
    cat "$LOCAL/moto-$port.log" >&2
    return 1
  fi
}

# moto's server (installed if needed) on a free port for the rest of the calling script, stopped
# when it exits; sets MOTO_URL. For scripts whose only service is moto (test, bench).
moto_until_exit() {
  ensure_moto
  local port
  port="$(free_port)"
  MOTO_PID=""
  trap 'stop_pid "$MOTO_PID"' EXIT
  start_moto "$port"
  MOTO_URL="http://127.0.0.1:$port"
}

# Stops a background process if it still runs, and reaps it. Never fails (safe in traps).
stop_pid() {
  if [ -n "${1:-}" ]; then
    kill "$1" 2>/dev/null || true
    wait "$1" 2>/dev/null || true
  fi
}

# Credentials and region for the local stack; the SDK reads AWS_ENDPOINT_URL itself.
local_aws_env() {
  export AWS_ENDPOINT_URL="http://127.0.0.1:$1"
  export AWS_REGION=us-east-1 AWS_DEFAULT_REGION=us-east-1
  export AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test
  unset AWS_PROFILE AWS_SESSION_TOKEN
}
