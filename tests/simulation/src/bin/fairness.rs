//! `fairness`: account B's publish-to-delivery latency while account A's 100 webhooks hang
//! for their whole 30 s timeout, on the simulation's models of SQS (fair queues), Lambda's
//! event source and the engine (issue 14's fairness figure). No faults.
//!
//! A publishes an event every 10 s for 10 minutes (6,000 deliveries that hang for 15 minutes,
//! then its receivers recover); B publishes one every 5 s for 40 minutes to one healthy
//! receiver. Prints B's p50, p99 and worst latency (first attempt time less publish time).

use hookline::model::{Webhook, WebhookPatch, WebhookRules};
use hookline_simulation::receivers::Behaviour;
use hookline_simulation::rng::Rng;
use hookline_simulation::workload::{id_of, Action, Plan};
use hookline_simulation::world::{Faults, EPOCH};
use hookline_simulation::{run_plan, Config};
use serde_json::json;

const MINUTE: u64 = 60_000;

fn webhook(rng: &Rng, account: &str, n: usize) -> Webhook {
    WebhookPatch::from_json(&json!({
        "name": format!("hook {n}"), "flow": "outbound",
        "url": format!("https://{account}-{n}.example.com/hooks"),
        "notificationEmail": "ops@example.com", "events": ["case:new"], "timeoutMs": 30_000,
    }))
    .expect("a valid webhook body")
    .create(
        id_of("wh_", rng),
        account.into(),
        EPOCH,
        &WebhookRules::default(),
    )
    .expect("a valid webhook")
}

fn plan(rng: &Rng) -> Plan {
    let mut webhooks = Vec::new();
    let hanging = Behaviour {
        hang: 1.0,
        hang_until: Some(15 * MINUTE),
        ..Behaviour::healthy()
    };
    for n in 0..100 {
        webhooks.push((webhook(rng, "noisy", n), hanging.clone()));
    }
    webhooks.push((webhook(rng, "quiet", 0), Behaviour::healthy()));
    let publish = |account: &str, n: u64| Action::Publish {
        body: json!({"id": format!("evt_{account}-{n}"), "event": "case:new",
                     "data": {"caseId": format!("evt_sim-{n}")}}),
        account: account.into(),
    };
    let mut actions: Vec<(u64, Action)> = (0..60)
        .map(|n| (MINUTE + n * 10_000, publish("noisy", n)))
        .chain((0..480).map(|n| (MINUTE + n * 5_000 + 1_234, publish("quiet", n))))
        .collect();
    actions.sort_by_key(|(at, _)| *at);
    Plan { webhooks, actions }
}

fn main() {
    // `--concurrency N`: the deliveries' event source's MaximumConcurrency (the template's
    // DeliveryMaxConcurrency; 10 by default).
    let args: Vec<String> = std::env::args().collect();
    let concurrency = args
        .iter()
        .position(|a| a == "--concurrency")
        .and_then(|i| args.get(i + 1))
        .map_or(10, |n| n.parse().expect("--concurrency takes a number"));
    // `--batch N`: the deliveries queue's BatchSize (the template's DeliveryBatchSize, 100).
    let batch = args
        .iter()
        .position(|a| a == "--batch")
        .and_then(|i| args.get(i + 1))
        .map_or(100, |n| n.parse().expect("--batch takes a number"));
    {
        let mut config = Config {
            faults: Faults::none(),
            ..Config::default()
        };
        config.function.max_concurrency = concurrency;
        // Lambda requires a batching window of at least 1 s for batches over 10.
        config.delivery_batches = (batch, if batch > 10 { 1_000 } else { 0 });
        let report = run_plan(1, &config, plan);
        let mut latencies: Vec<i64> = report
            .final_deliveries
            .iter()
            .filter(|d| d.account_id == "quiet")
            .filter_map(|d| {
                d.attempts
                    .first()
                    .map(|a| (a.at - d.event.occurred_at).whole_milliseconds() as i64)
            })
            .collect();
        if std::env::args().any(|a| a == "--slow") {
            for d in report
                .final_deliveries
                .iter()
                .filter(|d| d.account_id == "quiet")
            {
                if let Some(a) = d.attempts.first() {
                    let ms = (a.at - d.event.occurred_at).whole_milliseconds();
                    if ms > 5_000 {
                        println!("  published {} waited {ms} ms", d.event.occurred_at);
                    }
                }
            }
        }
        latencies.sort_unstable();
        let at =
            |q: f64| latencies[((latencies.len() as f64 * q) as usize).min(latencies.len() - 1)];
        println!(
            "concurrency {concurrency}, batch {batch}: B's deliveries {} of 480; latency p50 {} ms, p99 {} ms, worst {} ms; violations {}",
            latencies.len(),
            at(0.5),
            at(0.99),
            latencies.last().copied().unwrap_or_default(),
            report.violations.len()
        );
    }
}
