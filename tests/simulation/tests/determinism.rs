//! A seed replays a run exactly: same trace, same figures.

use hookline_simulation::{run, Config};

#[test]
fn one_seed_gives_one_run() {
    let mut config = Config::default();
    config.shape.events = 60;
    config.shape.webhooks = 8;
    config.shape.accounts = 2;
    config.trace = true;
    let first = run(7, &config);
    let second = run(7, &config);
    assert!(first.trace.len() > 100, "a run this size has a trace");
    assert_eq!(first.trace, second.trace);
    assert_eq!(
        (first.deliveries, first.attempts, &first.violations),
        (second.deliveries, second.attempts, &second.violations)
    );
    let other = run(8, &config);
    assert_ne!(first.trace, other.trace, "another seed is another run");
}
