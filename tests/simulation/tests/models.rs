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

#[test]
fn a_queue_at_its_in_flight_quota_hands_out_nothing_until_one_leaves_flight() {
    // "Amazon SQS standard queue quotas": at the in-flight quota a long poll returns nothing.
    let world = hookline_simulation::world::World::new(1, Faults::none(), false);
    let queue = hookline_simulation::sqs::Queue::new(world.clone(), "deliveries", 30, 20, 2);
    for n in 0..3 {
        queue.send(&format!("{{\"n\":{n}}}"), 0).unwrap();
    }
    let first = queue.receive(10);
    assert_eq!(first.len(), 2, "no more than the quota in flight");
    assert!(queue.at_in_flight_limit());
    assert!(queue.receive(10).is_empty(), "the third waits");
    queue.delete(&first[0].receipt);
    assert_eq!(
        queue.receive(10).len(),
        1,
        "one left flight: one more handed out"
    );
    // A hidden message counts for as long as it is hidden.
    queue.change_visibility(&first[1].receipt, 60).unwrap();
    assert!(queue.receive(10).is_empty());
}
