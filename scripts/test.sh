#!/usr/bin/env bash
# `make test`: moto's server on a free port, then every test in the workspace, then clean up.
# The console's browser tests (tests/console.rs, every one named `console_*`) need Chromium and
# chromedriver; where they are missing, those tests are skipped and the run says so, loudly,
# before and after.
source "$(dirname "$0")/lib.sh"

# All in one function, called on the last line: bash reads a script as it runs it, and a run
# takes minutes, so an edit or checkout of this file meanwhile must not change what runs.
main() {

# The simulation's seeds in a whole run (not when cargo test gets arguments: one test's run).
SIM_SEEDS="${HOOKLINE_SIM_SEEDS:-200}"
WHOLE_RUN=1
[ $# -eq 0 ] || { SIM_SEEDS=0; WHOLE_RUN=0; }

CHROMIUM="${HOOKLINE_TEST_CHROMIUM:-/usr/bin/chromium}"
CHROMEDRIVER="${HOOKLINE_TEST_CHROMEDRIVER:-/usr/bin/chromedriver}"
SKIPPED_CONSOLE=""
if [ -x "$CHROMIUM" ] && [ -x "$CHROMEDRIVER" ]; then
  ensure_console_test_deps
  export HOOKLINE_TEST_CHROMIUM="$CHROMIUM" HOOKLINE_TEST_CHROMEDRIVER="$CHROMEDRIVER"
else
  SKIPPED_CONSOLE="SKIPPING the console browser tests (tests/console.rs): Chromium not found \
($CHROMIUM, $CHROMEDRIVER). Install it: apt-get install chromium chromium-driver"
  log "$SKIPPED_CONSOLE"
  # `--skip` goes to the test binaries: after the caller's own `--` when there is one.
  separator="--"
  for arg in "$@"; do
    if [ "$arg" = "--" ]; then separator=""; fi
  done
  set -- "$@" ${separator:+"$separator"} --skip console_
fi

# schemathesis, the OpenAPI validators and the typed client example's packages
# (tests/contract_tools.rs).
ensure_contract_tools

moto_until_exit
export HOOKLINE_TEST_AWS_ENDPOINT="$MOTO_URL"
# For the tests that stop a server of their own (tests/faults.rs).
export HOOKLINE_TEST_MOTO_SERVER="$VENV/bin/moto_server"
cd "$ROOT"
log "cargo test --workspace (local AWS at $HOOKLINE_TEST_AWS_ENDPOINT)"
status=0
# Every test binary runs even after one fails (--no-fail-fast); the output is kept (in the
# target directory) for the summary at the end, so every failure is named in one place.
OUTPUT="${CARGO_TARGET_DIR:-$ROOT/target}/make-test.log"
mkdir -p "$(dirname "$OUTPUT")"
: >"$OUTPUT"
cargo test --workspace --no-fail-fast "$@" 2>&1 | tee "$OUTPUT" || status=$?
SIM_LINE=""
# The delivery simulation over a fixed set of seeds, every fault on, in its optimised build
# (RELIABILITY.md). `make simulate SEEDS=N FIRST=K` runs others.
if [ "$SIM_SEEDS" -gt 0 ]; then
  log "simulation: seeds 0-$((SIM_SEEDS - 1)), every fault on"
  sim_status=0
  cargo run -q --profile sim -p hookline-simulation --bin simulate -- --seeds "$SIM_SEEDS" --first 0 \
    2>&1 | tee -a "$OUTPUT" || sim_status=$?
  SIM_LINE="$(grep -E '^simulation: [0-9]+ runs' "$OUTPUT" | tail -1 || true)"
  [ "$sim_status" = 0 ] || { status=$sim_status; SIM_LINE="${SIM_LINE:-simulation: did not finish}"; }
fi
# The Lambda binaries carry no test fakes and no local event source: hookline-shared's
# `testing` and `local` features stay off in what `cargo lambda build --bin ...` selects from
# the root (the workspace's default members, as make package and sam build run it).
if [ "$WHOLE_RUN" = 1 ]; then
  log "the functions' builds leave out the test fakes and the local poller"
  if ! tree="$(cargo tree -q -e normal,features --prefix none)"; then
    echo "cargo tree failed: the function-build check could not run" >&2
    status=1
  elif grep -E 'hookline-shared feature "(testing|local)"' <<<"$tree"; then
    echo "a function build would ship hookline-shared's test or local code" >&2
    status=1
  fi
fi
if [ -n "$SKIPPED_CONSOLE" ]; then
  log "$SKIPPED_CONSOLE"
else
  # cargo test shows a passing test's output only on failure: say where its screenshots are.
  shots="${CARGO_TARGET_DIR:-$ROOT/target}/console-screenshots"
  if [ -d "$shots" ]; then
    log "console screenshots: $(find "$shots" -name '*.png' | wc -l) in $shots"
  fi
fi
# One line for the whole run: the tests' counts (summed over every binary's `test result:`),
# each failed test by name, the simulation, and the run's verdict.
read -r passed failed ignored binaries < <(awk '
  /^test result: / {
    for (i = 1; i <= NF; i++) {
      if ($(i + 1) ~ /^passed/) p += $i
      if ($(i + 1) ~ /^failed/) f += $i
      if ($(i + 1) ~ /^ignored/) g += $i
    }
    b++
  }
  END { printf "%d %d %d %d\n", p, f, g, b }' "$OUTPUT")
{ grep -E '^test .* \.\.\. FAILED$' "$OUTPUT" || true; } | sed -E 's/^test (.*) \.\.\. FAILED$/  failed: \1/' | sort -u
# cargo's own list of the test binaries that failed, crashed ones included (a binary that
# dies prints no `test result:` line, so its tests are in no count).
sed -n '/^error: [0-9]* targets\? failed:$/,/^[^ ]/p' "$OUTPUT" \
  | { grep -E '^ +`' || true; } | sed -E 's/^ +/  failed binary: /' | sort -u
if grep -qE '^error(\[E[0-9]+\])?: ' "$OUTPUT" && [ "$binaries" = 0 ]; then
  echo "  the tests did not build: see the first error above"
fi
verdict="passed"
[ "$status" = 0 ] || verdict="FAILED"
log "make test $verdict: $passed passed, $failed failed, $ignored ignored in $binaries test binaries${SIM_LINE:+; ${SIM_LINE#simulation: }} (all output: $OUTPUT)"
return "$status"
}

main "$@"
exit $?
