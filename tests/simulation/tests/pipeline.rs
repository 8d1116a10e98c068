//! What the simulation found in the delivery pipeline v2 (docs/delivery-pipeline.md), each as a scenario
//! that failed before its fix. Every run also checks all the invariants.

use hookline::model::DeliveryStatus;
use hookline_simulation::receivers::Behaviour;
use hookline_simulation::workload::scenario;
use hookline_simulation::world::Faults;
use hookline_simulation::{run_plan, Config};

fn config() -> Config {
    Config {
        faults: Faults::none(),
        trace: true,
        ..Config::default()
    }
}

/// As `config`, with the prompt lane's limit above every receiver's latency: for scenarios of
/// slow answers that are about something else than the slow lane.
fn uncut() -> Config {
    let mut config = config();
    config.settings.prompt_timeout = std::time::Duration::from_secs(60);
    config
}

#[test]
fn a_first_try_success_writes_one_record_and_reads_nothing() {
    let report = run_plan(1, &config(), |rng| scenario(rng, Behaviour::healthy(), 1));
    let d = report.only_delivery();
    assert_eq!((d.status, d.attempts.len()), (DeliveryStatus::Succeeded, 1));
    // The publish's two writes (keep, mark) and the first try's one.
    assert_eq!(report.dynamo_writes, 3, "{:#?}", report.trace);
}

#[test]
fn a_retry_handled_before_its_first_try_is_recorded_waits_for_the_record() {
    // The first try hangs until its timeout (15 s), past its 5 s slot: its retry is queued
    // due at once, and a poller may hand it out before the first try's record is written.
    for seed in 0..40 {
        let report = run_plan(seed, &uncut(), |rng| {
            let mut behaviour = Behaviour::scripted(&[None, Some(200)]);
            behaviour.latency_ms = (1.0, 2.0);
            scenario(rng, behaviour, 1)
        });
        let d = report.only_delivery();
        assert_eq!(
            (d.status, d.attempts.len()),
            (DeliveryStatus::Succeeded, 2),
            "seed {seed}"
        );
    }
}

#[test]
fn a_republish_while_the_first_delivery_is_in_flight_sends_it_once() {
    // The receiver takes 8-9 s to answer; the same id is published again 2 s after the first.
    for seed in 0..10 {
        let report = run_plan(seed, &uncut(), |rng| {
            let mut behaviour = Behaviour::healthy();
            behaviour.latency_ms = (8_000.0, 9_000.0);
            let mut plan = scenario(rng, behaviour, 1);
            let (at, again) = plan.actions[0].clone();
            plan.actions.push((at + 2_000, again));
            plan
        });
        let d = report.only_delivery();
        assert_eq!((d.status, d.attempts.len()), (DeliveryStatus::Succeeded, 1));
        assert_eq!(report.requests, 1, "seed {seed}: the receiver got it once");
    }
}

#[test]
fn a_first_try_handed_to_two_invocations_at_once_is_sent_once() {
    // SQS hands the delivery message to two invocations at once, with no retries configured.
    // The second copy (its second receive) waits until the first must have recorded, then
    // finds the record: one send, one failure, one exhaustion e-mail, sent after the record.
    use hookline_simulation::world::Faults;
    let mut config = config();
    config.faults = Faults::scripted(&[("sqs.duplicate_receive", 2)]);
    config.settings.schedule = vec![];
    let report = run_plan(0, &config, |rng| {
        scenario(rng, Behaviour::scripted(&[Some(500)]), 1)
    });
    assert_eq!(report.faults.get("sqs.duplicate_receive"), Some(&1));
    assert_eq!(report.requests, 1, "sent once");
    let d = report.only_delivery();
    assert_eq!((d.status, d.attempts.len()), (DeliveryStatus::Failed, 1));
    let kinds: Vec<&str> = report.emails.iter().map(|m| m.kind).collect();
    assert_eq!(kinds, vec!["exhausted"]);
}

#[test]
fn a_receiver_slower_than_the_prompt_lane_gets_its_full_timeout_in_the_slow_lane() {
    // The receiver takes 8-9 s of its 15 s timeout; three events, a minute apart. The first
    // try waits the prompt lane's 2 s, goes on in the slow lane and succeeds there (the
    // receiver saw it twice, under one webhook-id); the webhook is marked slow, so the next
    // events go straight to the slow lane: one request each.
    for seed in 0..10 {
        let report = run_plan(seed, &config(), |rng| {
            let mut behaviour = Behaviour::healthy();
            behaviour.latency_ms = (8_000.0, 9_000.0);
            scenario(rng, behaviour, 3)
        });
        assert!(report.violations.is_empty(), "{:#?}", report.violations);
        assert_eq!(report.final_deliveries.len(), 3);
        for d in &report.final_deliveries {
            assert_eq!(
                (d.status, d.attempts.len()),
                (DeliveryStatus::Succeeded, 1),
                "seed {seed}"
            );
        }
        assert_eq!(report.requests, 4, "seed {seed}: the first event twice");
        assert!(report.emails.is_empty(), "a slow answer is no failure");
    }
}

/// One event to `webhooks` webhooks of one account, each its own receiver.
fn wide(
    rng: &hookline_simulation::rng::Rng,
    webhooks: usize,
    behaviour: Behaviour,
) -> hookline_simulation::workload::Plan {
    use hookline_simulation::workload::id_of;
    let mut plan = scenario(rng, behaviour, 1);
    let (template, behaviour) = plan.webhooks[0].clone();
    plan.webhooks = (0..webhooks)
        .map(|n| {
            let mut webhook = template.clone();
            webhook.id = id_of("wh_", rng);
            webhook.url = format!("https://receiver{n}.example.com/hooks");
            (webhook, behaviour.clone())
        })
        .collect();
    plan
}

#[test]
fn a_fan_out_too_slow_for_one_invocation_goes_on_and_delivers_each_once() {
    // Every SQS call takes 12 s (the SDK's operation timeout), so a fan-out to 1,000 webhooks
    // cannot queue its messages within one invocation, and SQS also hands the event to a
    // second invocation at once (a receive left visible), whose copies are checked. Before
    // fan-outs went on as a `FanOutRest`, each receive started over and ran out of time
    // again, until the event went to the dead-letter queue after 20 receives and no webhook
    // got it. The receivers take 25 s of their 30 s timeout.
    let config = Config {
        trace: false,
        faults: Faults {
            sqs_slow: 1.0,
            ..Faults::scripted(&[("sqs.duplicate_receive", 1)])
        },
        ..uncut()
    };
    let mut slow = Behaviour::healthy();
    slow.latency_ms = (25_000.0, 25_000.0);
    let report = run_plan(1, &config, |rng| {
        let mut plan = wide(rng, 1000, slow.clone());
        for (webhook, _) in &mut plan.webhooks {
            if let hookline::model::FlowConfig::Outbound(o) = &mut webhook.config {
                o.timeout_ms = 30_000;
            }
        }
        plan
    });
    assert_eq!(report.faults.get("sqs.duplicate_receive"), Some(&1));
    assert!(report.violations.is_empty(), "{:#?}", report.violations);
    assert_eq!(report.requests, 1000, "each webhook got it once");
    // The event, a message per webhook from each of the two fan-outs, and their rests.
    let rests = report.sqs_sends - 1 - 2 * 1000;
    assert!((1..=4).contains(&rests), "{} sends", report.sqs_sends);
}

/// One event, `webhooks` subscribed webhooks of one account, each its own receiver: the
/// fan-out sends a delivery message per webhook through the model's SendMessageBatch (10
/// entries and 256 KiB at most per call, each call taking its round trip), and each is
/// delivered once. Returns the time from the event's publish to its last first try.
fn fan_out_to(webhooks: usize) -> time::Duration {
    // No trace: at this width it would be most of the run's time.
    let quiet = Config {
        trace: false,
        ..config()
    };
    let report = run_plan(1, &quiet, |rng| wide(rng, webhooks, Behaviour::healthy()));
    assert!(report.violations.is_empty(), "{:#?}", report.violations);
    assert_eq!(report.final_deliveries.len(), webhooks);
    assert!(report
        .final_deliveries
        .iter()
        .all(|d| d.status == DeliveryStatus::Succeeded && d.attempts.len() == 1));
    assert_eq!(report.requests, webhooks, "each webhook got it once");
    assert_eq!(
        report.sqs_sends,
        1 + webhooks as u64,
        "the event, then one message each"
    );
    let published = report.final_deliveries[0].event.occurred_at;
    let last = report
        .final_deliveries
        .iter()
        .map(|d| d.attempts[0].at)
        .max()
        .unwrap();
    last - published
}

#[test]
fn a_fan_out_to_1000_webhooks_of_one_account_delivers_each_once() {
    let took = fan_out_to(1000);
    assert!(took < time::Duration::seconds(30), "{took}");
}

#[test]
fn a_fan_out_to_10000_webhooks_of_one_account_delivers_each_once() {
    // The most webhooks an account may have (HOOKLINE_MAX_WEBHOOKS_PER_ACCOUNT's ceiling):
    // the fan-out fits one invocation, in chunks, and every webhook gets its first try.
    let took = fan_out_to(10_000);
    eprintln!("fan-out to 10,000 webhooks: last first try {took} after the publish");
    assert!(took < time::Duration::minutes(2), "{took}");
}

#[test]
fn a_deliveries_queue_at_its_in_flight_quota_still_attempts_every_retry_on_time() {
    // SQS hands out nothing while a queue has its quota of messages in flight, and a retry
    // hidden for hours is in flight all that time. The default workload (failing receivers
    // among healthy ones, retries waiting hours) against small quotas: at 40 long waits go
    // round as delayed copies; at 1,000 some are hidden, the rest sent again. Before the
    // parking rule, hidden retries filled the quota and attempts came up to two days late
    // (`models.rs` shows the quota the model holds a queue to).
    for (quota, seeds) in [(40, 0..3), (1_000, 0..2)] {
        for seed in seeds {
            let config = Config {
                in_flight_limit: Some(quota),
                trace: std::env::var("SIM_TRACE").is_ok(),
                ..Config::default()
            };
            let report = hookline_simulation::run(seed, &config);
            if !report.violations.is_empty() && config.trace {
                std::fs::write("/tmp/quota-trace.log", report.trace.join("\n")).unwrap();
            }
            assert!(
                report.violations.is_empty(),
                "quota {quota}, seed {seed}: {:#?}",
                report.violations
            );
            let met = |what| report.conditions.get(what).copied().unwrap_or(0);
            assert!(
                met("sqs.parked_by_sending_again") > 0,
                "quota {quota}, seed {seed}"
            );
            if quota == 1_000 {
                assert!(
                    met("sqs.parked_by_hiding") > 0,
                    "seed {seed}: some were hidden"
                );
            }
            assert!(
                report.max_lateness_ms < 2 * 3_600_000,
                "quota {quota}, seed {seed}"
            );
        }
    }
}
