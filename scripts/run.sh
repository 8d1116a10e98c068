#!/usr/bin/env bash
# `make run`: the whole stack on this machine. moto's server plays DynamoDB, SQS and SES on
# 127.0.0.1:5000; `cargo lambda watch` serves the functions on 127.0.0.1:9000 and rebuilds them
# when the code changes. Ctrl-C stops everything this script started.
source "$(dirname "$0")/lib.sh"

MOTO_PORT="${MOTO_PORT:-5000}"
LAMBDA_PORT="${LAMBDA_PORT:-9000}"
TABLE="hookline"
DEMO_ACCOUNT="demo"

ensure_cargo_lambda
for port in "$MOTO_PORT" "$LAMBDA_PORT"; do
  if "$VENV/bin/python" -c "import socket,sys; s=socket.socket(); sys.exit(s.connect_ex(('127.0.0.1', $port)) != 0)"; then
    echo "port $port on 127.0.0.1 is already in use: is another 'make run' still running?" >&2
    exit 1
  fi
done

MOTO_PID=""
cleanup() {
  local status=$?
  trap - EXIT INT TERM
  # Either may have exited already (Ctrl-C reaches the whole process group): not an error.
  stop_pid "${POLLER_PID:-}"
  stop_pid "${WATCH_PID:-}"
  stop_pid "$MOTO_PID"
  log "stopped"
  exit "$status"
}
trap cleanup EXIT
# Ctrl-C is how a user stops the stack: not a failure.
trap 'exit 0' INT TERM

start_moto "$MOTO_PORT"
local_aws_env "$MOTO_PORT"
export HOOKLINE_TABLE_NAME="$TABLE"

cd "$ROOT"
log "building the operator command and the local SQS event source"
cargo build --quiet -p hookline-shared --features local --bin hookline-admin --bin hookline-local-poller
ADMIN="$ROOT/target/debug/hookline-admin"
"$ADMIN" init-local --queue hookline-events --queue hookline-deliveries --queue hookline-slow-deliveries --ses-domain hookline.local \
  --kms-alias alias/hookline-local
"$ADMIN" keys create --account "$DEMO_ACCOUNT" --name "make run demo" >"$LOCAL/demo-api-key"
KEY="$(cat "$LOCAL/demo-api-key")"
# What `make api-key` needs to find this stack.
printf 'MOTO_PORT=%s\nTABLE=%s\n' "$MOTO_PORT" "$TABLE" >"$LOCAL/stack.env"

# The functions' environment: the same variables a deployed stack sets, pointed at moto.
cat >"$LOCAL/functions.env" <<ENV
AWS_ENDPOINT_URL=http://127.0.0.1:$MOTO_PORT
AWS_REGION=us-east-1
AWS_ACCESS_KEY_ID=test
AWS_SECRET_ACCESS_KEY=test
HOOKLINE_TABLE_NAME=$TABLE
HOOKLINE_ALLOW_PLAIN_HTTP=true
HOOKLINE_EGRESS_ALLOW_CIDRS=127.0.0.1/32
HOOKLINE_SENDER_EMAIL=notifications@hookline.local
HOOKLINE_EVENTS_QUEUE_URL=http://127.0.0.1:$MOTO_PORT/123456789012/hookline-events
HOOKLINE_DELIVERIES_QUEUE_URL=http://127.0.0.1:$MOTO_PORT/123456789012/hookline-deliveries
HOOKLINE_SLOW_DELIVERIES_QUEUE_URL=http://127.0.0.1:$MOTO_PORT/123456789012/hookline-slow-deliveries
HOOKLINE_RESOLVE_DEADLINE_MS=8000
HOOKLINE_EMAILS_PER_HOUR=20
HOOKLINE_KMS_KEY_ID=alias/hookline-local
HOOKLINE_RESOLVE_CONCURRENCY=10
HOOKLINE_LOG_LEVEL=info
HOOKLINE_RETRY_SCHEDULE=5s,5m,30m,2h,5h,10h,14h,20h,24h
HOOKLINE_MAX_WEBHOOKS_PER_ACCOUNT=100
HOOKLINE_DELIVERY_MAX_CONCURRENCY=10
HOOKLINE_SLOW_LANE_MAX_CONCURRENCY=2
HOOKLINE_SQS_IN_FLIGHT_QUOTA=120000
ENV

API="http://127.0.0.1:$LAMBDA_PORT/lambda-url/webhooks-api/api/v1/webhook"
cat <<MSG

  Hookline is starting (the first request builds the function: give it a minute).

  Demo API key (account "$DEMO_ACCOUNT", also in .local/demo-api-key):
    $KEY

  Web console (paste the key to sign in):
    http://127.0.0.1:$LAMBDA_PORT/lambda-url/webhooks-api/console

  Try:
    curl -s -H "Authorization: Bearer \$(cat .local/demo-api-key)" $API

    curl -s -X POST -H "Authorization: Bearer \$(cat .local/demo-api-key)" \\
      -H 'content-type: application/json' $API \\
      -d '{"name":"CRM sync","flow":"outbound","url":"https://example.com/hooks",
           "notificationEmail":"ops@example.com","events":["case:new","case:status:closed"]}'

  Publish an event; the local SQS event source hands it to outbound-delivery:
    curl -s -X POST -H "Authorization: Bearer \$(cat .local/demo-api-key)" \\
      http://127.0.0.1:$LAMBDA_PORT/lambda-url/webhooks-api/api/v1/events \\
      -d '{"event":"case:new","data":{"caseId":"72"}}'

  Inbound webhooks resolve at (POST, same key):
    http://127.0.0.1:$LAMBDA_PORT/lambda-url/inbound-resolver/api/v1/webhook/<id>/resolve
  Failure e-mails land in the local SES: curl -s http://127.0.0.1:$MOTO_PORT/moto-api/data.json

  Another key:  make api-key ACCOUNT=<account id>
  Stop:         Ctrl-C

MSG

log "cargo lambda watch on 127.0.0.1:$LAMBDA_PORT"
PATH="$VENV/bin:$PATH" cargo lambda watch --invoke-address 127.0.0.1 --invoke-port "$LAMBDA_PORT" \
  --env-file "$LOCAL/functions.env" &
WATCH_PID=$!

# Lambda's SQS event source mapping, locally: the three queues feed outbound-delivery.
QUEUES="http://127.0.0.1:$MOTO_PORT/123456789012"
"$ROOT/target/debug/hookline-local-poller" --invoke "http://127.0.0.1:$LAMBDA_PORT" --function outbound-delivery \
  --queue "$QUEUES/hookline-events" --queue "$QUEUES/hookline-deliveries" \
  --queue "$QUEUES/hookline-slow-deliveries" &
POLLER_PID=$!
wait "$WATCH_PID"
