#!/usr/bin/env bash
# `make test`: moto's server on a free port, then every test in the workspace, then clean up.
source "$(dirname "$0")/lib.sh"

moto_until_exit
export HOOKLINE_TEST_AWS_ENDPOINT="$MOTO_URL"
# For the tests that stop a server of their own (tests/faults.rs).
export HOOKLINE_TEST_MOTO_SERVER="$VENV/bin/moto_server"
cd "$ROOT"
log "cargo test --workspace (local AWS at $HOOKLINE_TEST_AWS_ENDPOINT)"
cargo test --workspace "$@"
