#!/usr/bin/env bash
# `make admin ARGS="keys list --account demo"`: hookline-admin against the running local stack
# (`make run`), with the table, moto's address and local credentials it needs. Against AWS, run
# `cargo run --bin hookline-admin -- ...` with HOOKLINE_TABLE_NAME and your AWS environment.
source "$(dirname "$0")/lib.sh"

if [ "$#" -eq 0 ]; then
  echo 'usage: make admin ARGS="keys create --account <id> --name <name>" (or keys list, keys revoke)' >&2
  exit 2
fi
if [ ! -f "$LOCAL/stack.env" ]; then
  echo "no local stack found: start it with 'make run' first" >&2
  exit 1
fi
source "$LOCAL/stack.env"
wait_for_http "http://127.0.0.1:$MOTO_PORT/moto-api/" 2 2>/dev/null \
  || { echo "the local stack is not running: start it with 'make run'" >&2; exit 1; }
local_aws_env "$MOTO_PORT"
export HOOKLINE_TABLE_NAME="$TABLE"
cd "$ROOT"
exec cargo run --quiet --bin hookline-admin -- "$@"
