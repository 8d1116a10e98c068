#!/usr/bin/env bash
# `make bench`: the benchmarks behind BENCHMARKS.md, on this machine, against moto's server on a
# free port (for the DynamoDB rows and the cold starts). Never part of `make test`. Prints the
# tables; raw results stay out of git. HOOKLINE_BENCH_QUICK=1 runs fewer rounds.
source "$(dirname "$0")/lib.sh"

moto_until_exit
export HOOKLINE_BENCH_AWS_ENDPOINT="$MOTO_URL"
cd "$ROOT"

log "CPU per operation (shared/benches/hot_path.rs)"
cargo bench -p hookline-shared --bench hot_path
log "throughput and latency (tests/benches/throughput.rs)"
cargo bench -p hookline-tests --bench throughput
log "AWS requests and dollars per delivery (tests/benches/cost.rs)"
cargo bench -p hookline-tests --bench cost
log "one account's hanging receivers against another's latency (tests/benches/fairness.rs)"
cargo bench -p hookline-tests --bench fairness
log "release builds of the three functions, for the cold starts"
cargo build --release -p webhooks-api -p inbound-resolver -p outbound-delivery
log "cold starts (tests/benches/cold_start.rs)"
cargo bench -p hookline-tests --bench cold_start
