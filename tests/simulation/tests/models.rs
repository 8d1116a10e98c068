//! Behaviour the models must produce, each in a scenario of its own.

use hookline::model::DeliveryStatus;
use hookline_simulation::receivers::Behaviour;
use hookline_simulation::workload::scenario;
use hookline_simulation::world::Faults;
use hookline_simulation::{run_plan, Config};

#[test]
fn a_message_whose_visibility_runs_out_while_its_invocation_still_works_is_sent_once() {
    // The queue hides a received delivery message for 10 s only, while the receiver takes 20 s
    // to answer (the webhook's timeout is 30 s): SQS hands the message to a second invocation
    // while the first still waits on the receiver ("Amazon SQS visibility timeout").
    let mut config = Config {
        faults: Faults::none(),
        trace: true,
        ..Config::default()
    };
    config.deliveries_queue.0 = 10;
    let mut behaviour = Behaviour::scripted(&[Some(200)]);
    behaviour.latency_ms = (20_000.0, 20_000.0);
    let report = run_plan(1, &config, |rng| {
        let mut plan = scenario(rng, behaviour, 1);
        if let hookline::model::FlowConfig::Outbound(o) = &mut plan.webhooks[0].0.config {
            o.timeout_ms = 30_000;
        }
        plan
    });
    let explain = || format!("{:#?}\n{}", report.violations, report.trace.join("\n"));
    assert!(report.violations.is_empty(), "{}", explain());
    let received_twice = report
        .trace
        .iter()
        .filter(|l| l.contains("SQS deliveries receive deliveries-1"))
        .count();
    assert!(
        received_twice >= 2,
        "the event was handed out again: {}",
        explain()
    );
    assert_eq!(report.requests, 1, "{}", explain());
    assert_eq!(report.final_deliveries[0].status, DeliveryStatus::Succeeded);
}
