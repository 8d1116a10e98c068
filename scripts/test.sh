#!/usr/bin/env bash
# `make test`: moto's server on a free port, then every test in the workspace, then clean up.
source "$(dirname "$0")/lib.sh"

ensure_moto
port="$(free_port)"
MOTO_PID=""
trap 'stop_pid "$MOTO_PID"' EXIT
start_moto "$port"
export HOOKLINE_TEST_AWS_ENDPOINT="http://127.0.0.1:$port"
cd "$ROOT"
log "cargo test --workspace (local AWS at $HOOKLINE_TEST_AWS_ENDPOINT)"
cargo test --workspace "$@"
