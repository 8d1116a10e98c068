#!/usr/bin/env bash
# `make api-key ACCOUNT=<id>`: a new API key for that account in the running local stack.
ACCOUNT="${1:-}"
if [ -z "$ACCOUNT" ]; then
  echo "usage: make api-key ACCOUNT=<account id>" >&2
  exit 2
fi
exec bash "$(dirname "$0")/admin.sh" keys create --account "$ACCOUNT" --name "make api-key"
