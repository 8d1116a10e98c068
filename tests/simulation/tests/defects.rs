//! The defects issue 13 names, each as a scenario on the simulation: a test that failed before
//! its fix. Every run also checks all the invariants (`Report::violations`).

use std::time::Duration;

use hookline::model::DeliveryStatus;
use hookline_simulation::receivers::Behaviour;
use hookline_simulation::workload::scenario;
use hookline_simulation::world::Faults;
use hookline_simulation::{run_plan, Config};

fn config(faults: Faults) -> Config {
    Config {
        faults,
        trace: true,
        ..Config::default()
    }
}

#[test]
fn a_retry_whose_message_arrives_early_is_attempted_when_due() {
    // SQS delays in whole seconds: a 4.6 s wait becomes visible after 4 s or 5 s.
    for seed in 0..20 {
        let report = run_plan(seed, &config(Faults::none()), |rng| {
            scenario(rng, Behaviour::scripted(&[Some(500)]), 1)
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
fn waits_longer_than_the_12_hour_visibility_cap_do_not_end_in_the_dead_letter_queue() {
    let mut config = config(Faults::none());
    config.settings.schedule = [14, 20, 24]
        .map(|h| Duration::from_secs(h * 3_600))
        .to_vec();
    let report = run_plan(1, &config, |rng| {
        scenario(
            rng,
            Behaviour::scripted(&[Some(500), Some(500), Some(500)]),
            1,
        )
    });
    let d = report.only_delivery();
    assert_eq!(report.dead_letters, 0);
    assert_eq!((d.status, d.attempts.len()), (DeliveryStatus::Succeeded, 4));
}

#[test]
fn a_crash_anywhere_between_a_failed_attempt_and_its_retry_loses_nothing() {
    // The invocation handling the first retry dies at each step after the receiver's answer:
    // before and after queueing the next retry, before and after recording the attempt.
    for point in [
        "crash.after.http",
        "crash.before.sqs_send",
        "crash.after.sqs_send",
        "crash.before.dynamo:UpdateItem record",
        "crash.after.dynamo:UpdateItem record",
    ] {
        // The second pass: the first is the event's own attempt.
        let faults = Faults::scripted(&[(point, 2)]);
        let report = run_plan(1, &config(faults), |rng| {
            scenario(rng, Behaviour::scripted(&[Some(500), Some(500)]), 1)
        });
        assert_eq!(report.faults.values().sum::<u64>(), 1, "{point}: one crash");
        let d = report.only_delivery();
        assert_eq!(d.status, DeliveryStatus::Succeeded, "{point}");
        assert!(d.attempts.len() >= 2, "{point}: {:?}", d.attempts);
    }
}

#[test]
fn a_lost_reply_to_recording_an_attempt_still_queues_the_retry() {
    // The attempt is recorded, the reply lost, and the SDK's retry finds its own write.
    let faults = Faults::scripted(&[("dynamo.lost_reply:UpdateItem record", 1)]);
    let report = run_plan(1, &config(faults), |rng| {
        scenario(rng, Behaviour::scripted(&[Some(500)]), 1)
    });
    assert_eq!(report.faults.get("dynamo.lost_reply"), Some(&1));
    let d = report.only_delivery();
    assert_eq!((d.status, d.attempts.len()), (DeliveryStatus::Succeeded, 2));
}

#[test]
fn a_receiver_answering_huge_errors_never_pushes_a_delivery_past_400_kb() {
    // Every attempt of the schedule answered with 16 KiB of control bytes, quotes and invalid
    // UTF-8: the worst case for the stored size of an excerpt.
    let mut behaviour = Behaviour::scripted(&[Some(500); 10]);
    behaviour.huge_errors = true;
    let report = run_plan(1, &config(Faults::none()), |rng| {
        scenario(rng, behaviour, 1)
    });
    let d = report.only_delivery();
    assert_eq!((d.status, d.attempts.len()), (DeliveryStatus::Failed, 10));
    assert!(
        report.largest_item < 64 * 1024,
        "largest item {} bytes",
        report.largest_item
    );
}

#[test]
fn an_event_published_twice_without_occurred_at_is_delivered_once_under_one_webhook_id() {
    // As a new user publishes: {"id": "evt_sim-0", ...} twice, ten minutes apart, no occurredAt.
    let report = run_plan(1, &config(Faults::none()), |rng| {
        let mut plan = scenario(rng, Behaviour::healthy(), 1);
        let (at, again) = plan.actions[0].clone();
        plan.actions.push((at + 600_000, again));
        plan
    });
    let d = report.only_delivery();
    assert_eq!((d.status, d.attempts.len()), (DeliveryStatus::Succeeded, 1));
    assert_eq!(report.events, 2, "both publishes were accepted");
}

#[test]
fn two_copies_of_an_event_at_once_send_it_once_and_nothing_is_dropped() {
    // SQS hands the event to a second invocation while the first is fanning it out (the
    // first receive leaves the message visible): two delivery messages, the second's checked.
    // When the first send's invocation then dies after it, the other copy delivers: nothing
    // is dropped, and the one resend is the crash's. Over several seeds, so either copy is
    // sometimes first.
    for (seed, crash_first) in (0..12).flat_map(|seed| [(seed, false), (seed, true)]) {
        let mut script = vec![("sqs.duplicate_receive", 1)];
        if crash_first {
            script.push(("crash.after.http", 1));
        }
        let report = run_plan(seed, &config(Faults::scripted(&script)), |rng| {
            scenario(rng, Behaviour::scripted(&[Some(200), Some(200)]), 1)
        });
        assert_eq!(report.faults.get("sqs.duplicate_receive"), Some(&1));
        // The event is published at 0d 00:01:00.000; both copies fan out within 2 s (two
        // pollers take them; an invocation's cold start takes up to 1.5 s).
        let fan_outs = report
            .trace
            .iter()
            .filter(|l| {
                let l = l.trim_start();
                (l.starts_with("0d 00:01:00.") || l.starts_with("0d 00:01:01."))
                    && l.contains("deliveries batch send")
            })
            .count();
        assert_eq!(
            fan_outs,
            2,
            "both copies fanned out at once (seed {seed}):\n{}",
            report.trace.join("\n")
        );
        let d = report.only_delivery();
        assert_eq!(d.status, DeliveryStatus::Succeeded, "crash: {crash_first}");
        assert_eq!(
            report.requests,
            1 + usize::from(crash_first),
            "crash: {crash_first}"
        );
    }
}

#[test]
fn a_first_try_whose_process_died_ends_stopped_when_its_webhook_leaves_before_it_returns() {
    // The invocation holding the first try dies before sending; the user disables (or
    // deletes) the webhook before SQS hands the message out again, 12 minutes later. A
    // disabled webhook's delivery gets a record with its reason (for the log and "recover");
    // a deleted one's gets none (its log went with it).
    use hookline_simulation::workload::Action;
    for delete in [false, true] {
        let faults = Faults::scripted(&[("crash.before.http", 1)]);
        let report = run_plan(1, &config(faults), |rng| {
            let mut plan = scenario(rng, Behaviour::healthy(), 1);
            let (account, id) = (
                plan.webhooks[0].0.account_id.clone(),
                plan.webhooks[0].0.id.clone(),
            );
            let action = if delete {
                Action::Delete { account, id }
            } else {
                Action::Disable { account, id }
            };
            plan.actions.push((120_000, action));
            plan
        });
        assert_eq!(report.faults.values().sum::<u64>(), 1, "one crash");
        assert_eq!(report.requests, 0);
        if delete {
            assert!(report.violations.is_empty(), "{:#?}", report.violations);
            assert!(report.final_deliveries.is_empty());
            continue;
        }
        let d = report.only_delivery();
        assert_eq!(d.status, DeliveryStatus::Failed);
        let why = d
            .attempts
            .last()
            .and_then(|a| a.error.as_deref())
            .unwrap_or_default();
        assert!(why.ends_with("delivery stopped"), "{why}");
    }
}

#[test]
fn a_lost_reply_to_a_notice_claim_or_a_failure_count_loses_no_e_mail() {
    // The "failing" e-mail goes out after the 4th failed attempt in a row. Its notice claim
    // (PutItem) and the 4th count (UpdateItem ADD) each commit and lose their reply; the SDK's
    // retry then meets its own write.
    for point in [
        ("dynamo.lost_reply:PutItem notice", 1),
        ("dynamo.lost_reply:UpdateItem failure", 4),
    ] {
        let report = run_plan(1, &config(Faults::scripted(&[point])), |rng| {
            scenario(rng, Behaviour::scripted(&[Some(500); 4]), 1)
        });
        assert_eq!(
            report.faults.get("dynamo.lost_reply"),
            Some(&1),
            "{point:?}"
        );
        let d = report.only_delivery();
        assert_eq!((d.status, d.attempts.len()), (DeliveryStatus::Succeeded, 5));
        let failing: Vec<_> = report
            .emails
            .iter()
            .filter(|m| m.kind == "failing")
            .collect();
        assert_eq!(failing.len(), 1, "{point:?}: {:?}", report.emails);
    }
}

#[test]
fn a_lost_reply_to_recording_the_last_attempt_still_sends_the_exhaustion_e_mail() {
    // The first try's record is a PutItem; the retry's, the last, an UpdateItem.
    let mut config = config(Faults::scripted(&[(
        "dynamo.lost_reply:UpdateItem record",
        1,
    )]));
    config.settings.schedule = vec![Duration::from_secs(5)];
    let report = run_plan(1, &config, |rng| {
        scenario(rng, Behaviour::scripted(&[Some(500), Some(500)]), 1)
    });
    assert_eq!(report.faults.get("dynamo.lost_reply"), Some(&1));
    let d = report.only_delivery();
    assert_eq!((d.status, d.attempts.len()), (DeliveryStatus::Failed, 2));
    assert!(
        report.emails.iter().any(|m| m.kind == "exhausted"),
        "{:?}",
        report.emails
    );
}

#[test]
fn neither_a_crash_after_the_last_record_nor_a_failing_ses_loses_the_exhaustion_e_mail() {
    // The first try's record is a PutItem; the retry's, the last, an UpdateItem.
    for point in [
        ("crash.after.dynamo:UpdateItem record", 1),
        ("ses.error", 1),
    ] {
        let mut config = config(Faults::scripted(&[point]));
        config.settings.schedule = vec![Duration::from_secs(5)];
        let report = run_plan(1, &config, |rng| {
            scenario(rng, Behaviour::scripted(&[Some(500), Some(500)]), 1)
        });
        assert_eq!(report.faults.values().sum::<u64>(), 1, "{point:?}");
        let d = report.only_delivery();
        assert_eq!((d.status, d.attempts.len()), (DeliveryStatus::Failed, 2));
        let exhausted = report
            .emails
            .iter()
            .filter(|m| m.kind == "exhausted")
            .count();
        assert_eq!(exhausted, 1, "{point:?}: {:?}", report.emails);
    }
}

#[test]
fn a_notice_handed_to_two_runs_at_once_is_sent_once_even_when_the_first_run_fails() {
    // The exhaustion notice's receive leaves it visible, so two runs take it at once; the
    // first run's SES call fails. The second must not drop the message meanwhile. Over several
    // seeds, so the failing run is sometimes the one whose receipt is current.
    for seed in 0..12 {
        // Receives: the event, its delivery, then the notice.
        let faults = Faults::scripted(&[("sqs.duplicate_receive", 3), ("ses.error", 1)]);
        let mut config = config(faults);
        config.settings.schedule = vec![];
        let report = run_plan(seed, &config, |rng| {
            scenario(rng, Behaviour::scripted(&[Some(500)]), 1)
        });
        assert_eq!(report.faults.values().sum::<u64>(), 2, "seed {seed}");
        let d = report.only_delivery();
        assert_eq!(d.status, DeliveryStatus::Failed);
        let exhausted = report
            .emails
            .iter()
            .filter(|m| m.kind == "exhausted")
            .count();
        assert_eq!(exhausted, 1, "seed {seed}: {:?}", report.emails);
    }
}
