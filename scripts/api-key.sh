#!/usr/bin/env bash
# `make api-key ACCOUNT=<id>`: a new API key for that account in the running local stack.
source "$(dirname "$0")/lib.sh"

ACCOUNT="${1:-}"
if [ -z "$ACCOUNT" ]; then
  echo "usage: make api-key ACCOUNT=<account id>" >&2
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
cargo build --quiet --bin hookline-admin
"$ROOT/target/debug/hookline-admin" keys create --account "$ACCOUNT" --name "make api-key"
