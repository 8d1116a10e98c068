//! `make simulate SEEDS=N FIRST=K`: runs seeds K..K+N-1 with every fault on, prints a line per
//! failing seed with the command that replays it, and a summary line last; exits 1 on any
//! violation. `simulate --seed S --trace` replays one seed and prints its trace.

use hookline_simulation::{run, Config};

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let value = |flag: &str| {
        args.iter()
            .position(|a| a == flag)
            .and_then(|i| args.get(i + 1))
            .map(|v| {
                v.parse::<u64>()
                    .unwrap_or_else(|_| panic!("{flag} takes a number"))
            })
    };
    let trace = args.iter().any(|a| a == "--trace");
    let (first, seeds) = match value("--seed") {
        Some(seed) => (seed, 1),
        None => (
            value("--first").unwrap_or(0),
            value("--seeds").unwrap_or(100),
        ),
    };
    let config = Config {
        trace,
        ..Config::default()
    };
    let summary = hookline_simulation::run_seeds(first, seeds, &config, |report| {
        if trace {
            for line in &report.trace {
                println!("{line}");
            }
        }
        if !report.violations.is_empty() {
            println!("seed {} FAILED:", report.seed);
            for v in report.violations.iter().take(20) {
                println!("  {v}");
            }
            println!(
                "  replay: {}",
                hookline_simulation::replay_command(report.seed)
            );
        }
    });
    println!("{summary}");
    if summary.violations > 0 {
        std::process::exit(1);
    }
    let _ = run;
}
