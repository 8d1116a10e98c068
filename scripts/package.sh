#!/usr/bin/env bash
# `make package [ARCH=x86_64]`: release builds of the three functions with cargo-lambda, as
# `sam build` makes them, and the size of each zipped bootstrap.
source "$(dirname "$0")/lib.sh"

ARCH="${1:-arm64}"
case "$ARCH" in
  arm64) flag=--arm64 ;;
  x86_64) flag=--x86-64 ;;
  *) echo "ARCH must be arm64 or x86_64" >&2; exit 2 ;;
esac
ensure_cargo_lambda
cd "$ROOT"
FUNCTIONS=(webhooks-api inbound-resolver outbound-delivery)
bins=()
for f in "${FUNCTIONS[@]}"; do bins+=(--bin "$f"); done
log "cargo lambda build --release $flag ${bins[*]}"
PATH="$VENV/bin:$PATH" cargo lambda build --release "$flag" --output-format zip "${bins[@]}"
printf '%-20s %12s %12s\n' function bootstrap zipped
for f in "${FUNCTIONS[@]}"; do
  dir="target/lambda/$f"
  printf '%-20s %12s %12s\n' "$f" "$(stat -c %s "$dir/bootstrap" 2>/dev/null || echo '-')" "$(stat -c %s "$dir/bootstrap.zip")"
done
