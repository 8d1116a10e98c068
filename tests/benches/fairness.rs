//! `fairness`: one account's hanging receivers against another account's latency, on the
//! local stack (moto's server as SQS and DynamoDB) with the real delivery code. Run by
//! `make bench`; the simulation's figure is `target/sim/fairness` (RELIABILITY.md).
//!
//! Account A has 100 webhooks whose receiver answers only after their whole timeout (5 s);
//! it publishes one event every 5 s. Account B has one webhook whose receiver answers at
//! once; it publishes one event every 500 ms. Both publish straight to the events queue for
//! 30 s (moto's single server process is the limit beyond that). Lambda's event sources are
//! played by pollers with the template's settings: `CONCURRENCY` for the events queue (batches
//! of 10) and for the deliveries queue, `SLOW_LANE_CONCURRENCY` for the slow lane's (batches
//! of 100 filled for up to 1 s, the template's batching window). The figure is B's
//! publish-to-delivery latency: p50, p99 and worst. `FAIRNESS_TRACE=1` logs the engine's
//! debug lines (each fan-out and delivery, with times) to stderr.
//!
//! moto's SQS has no fair queues (it hands messages out oldest first), so this measures what
//! the function does on its own: every record of a batch attempted at once, each attempt
//! inside the invocation's deadline, short timeouts for webhooks already failing, and the
//! slow lane for their deliveries.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use hookline::clock::SystemClock;
use hookline::http::ReqwestClient;
use hookline::notify::RecordingMailer;
use hookline::outbound::{Deliverer, DeliverySettings};
use hookline::queue::SqsDeliveryQueue;
use hookline_tests::upstream::{Reply, Upstream};
use serde_json::json;
use time::OffsetDateTime;

const HANGING_WEBHOOKS: usize = 100;
const TIMEOUT_MS: u64 = 5_000;
const PUBLISH_FOR: Duration = Duration::from_secs(30);
const A_EVERY: Duration = Duration::from_millis(5_000);
const B_EVERY: Duration = Duration::from_millis(500);
/// The events queue's and the deliveries queue's pollers each: Lambda instances at once (the
/// template's `DeliveryMaxConcurrency`, 10 by default, caps both event sources).
const CONCURRENCY: usize = 10;
/// The slow lane's (the template's `SlowLaneMaxConcurrency` default).
const SLOW_LANE_CONCURRENCY: usize = 2;

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let i = ((sorted.len() as f64 * p).ceil() as usize).clamp(1, sorted.len()) - 1;
    sorted[i]
}

async fn run() {
    let plain = hookline_tests::sdk_config().await;
    let store = hookline_tests::fresh_store().await;
    let (sqs, events_url) = hookline_tests::fresh_queue("events").await;
    let (_, deliveries_url) = hookline_tests::fresh_queue("deliveries").await;
    let (_, slow_url) = hookline_tests::fresh_queue("slow-deliveries").await;

    // A's receiver answers after its webhooks' whole timeout; B's at once, noting when each
    // of its events arrived.
    let hanging = Upstream::start(vec![
        Reply::status(200, "late").after(Duration::from_millis(TIMEOUT_MS + 1_000))
    ])
    .await;
    let arrived: Arc<Mutex<HashMap<String, Instant>>> = Arc::default();
    let noted = arrived.clone();
    let prompt = Upstream::scripted(move |r| {
        if let Ok(body) = serde_json::from_slice::<serde_json::Value>(&r.body) {
            if let Some(case) = body["data"]["caseId"].as_str() {
                noted
                    .lock()
                    .unwrap()
                    .entry(case.to_string())
                    .or_insert_with(Instant::now);
            }
        }
        Reply::status(200, "ok")
    })
    .await;
    let mut body = hookline_tests::outbound_body(&hanging.url);
    body["timeoutMs"] = json!(TIMEOUT_MS);
    for _ in 0..HANGING_WEBHOOKS {
        hookline_tests::add_outbound_webhook(&store, "acct-a", &body).await;
    }
    hookline_tests::add_outbound_webhook(
        &store,
        "acct-b",
        &hookline_tests::outbound_body(&prompt.url),
    )
    .await;

    // One engine per poller, as each Lambda instance has its own: what an engine remembers
    // (events kept, marks made) and the retries it sends together stay within one instance.
    let sdk = hookline_tests::function_sdk_config(&hookline_tests::endpoint()).await;
    let new_engine = || {
        Deliverer::new(
            store.clone(),
            ReqwestClient::new(hookline_tests::local_egress()),
            RecordingMailer::default(),
            SqsDeliveryQueue::new(aws_sdk_sqs::Client::new(&sdk), &deliveries_url)
                .with_slow_lane(&slow_url),
            Arc::new(SystemClock),
            hookline::random::os(),
            DeliverySettings::default(),
        )
    };

    // Lambda's event sources, run beside the publisher until B's events have arrived.
    let stop = AtomicBool::new(false);
    // How long each invocation took, by queue.
    let took: Mutex<HashMap<&'static str, Vec<Duration>>> = Mutex::default();
    // (queue, its URL, BatchSize, MaximumBatchingWindowInSeconds) as the template sets them.
    let window = Duration::from_secs(1);
    let sources: Vec<(&'static str, String, usize, Duration)> = std::iter::repeat_n(
        ("events", events_url.clone(), 10, Duration::ZERO),
        CONCURRENCY,
    )
    .chain(std::iter::repeat_n(
        ("deliveries", deliveries_url.clone(), 100, window),
        CONCURRENCY,
    ))
    .chain(std::iter::repeat_n(
        ("slow lane", slow_url.clone(), 100, window),
        SLOW_LANE_CONCURRENCY,
    ))
    .collect();
    let trace = std::env::var("FAIRNESS_TRACE").is_ok();
    let pollers =
        futures::future::join_all(sources.into_iter().map(|(name, url, batch_size, window)| {
            let engine = new_engine();
            let (stop, took) = (&stop, &took);
            let sqs = aws_sdk_sqs::Client::new(&plain);
            async move {
                let arn = hookline::local::queue_arn(&sqs, &url).await.unwrap();
                while !stop.load(Ordering::Relaxed) {
                    let pumped = hookline::local::pump_batch(
                        &sqs,
                        &url,
                        &arn,
                        1,
                        Some(720),
                        batch_size,
                        window,
                        |batch| {
                            let engine = &engine;
                            async move {
                                let started = Instant::now();
                                let of_b = batch
                                    .records
                                    .iter()
                                    .filter(|r| r.body.as_deref().unwrap_or("").contains("acct-b"))
                                    .count();
                                let records = batch.records.len();
                                let answer = hookline_tests::invoke(engine, batch).await;
                                if trace {
                                    tracing::debug!(
                                        queue = name,
                                        records,
                                        of_b,
                                        took_ms = started.elapsed().as_millis() as u64,
                                        "invocation"
                                    );
                                }
                                let mut took = took.lock().unwrap();
                                took.entry(name).or_default().push(started.elapsed());
                                Ok(answer)
                            }
                        },
                    )
                    .await;
                    if let Err(e) = pumped {
                        eprintln!("fairness: poller: {e}");
                        tokio::time::sleep(Duration::from_millis(200)).await;
                    }
                }
            }
        }));

    // Publish straight to the events queue, as an integrator would.
    let publish = |account: &'static str, case: String| {
        let event = hookline::events::Event::from_publish(
            &json!({"event": "case:new", "data": {"caseId": case}}),
            account,
            OffsetDateTime::now_utc(),
        )
        .expect("a valid event");
        let body = serde_json::to_string(&event).unwrap();
        let (sqs, events_url) = (&sqs, &events_url);
        async move {
            sqs.send_message()
                .queue_url(events_url)
                .message_body(body)
                .send()
                .await
                .unwrap();
        }
    };
    let publisher = async {
        let started = Instant::now();
        let mut sent: HashMap<String, Instant> = HashMap::new();
        let (mut next_a, mut next_b, mut n) = (Duration::ZERO, Duration::ZERO, 0);
        while started.elapsed() < PUBLISH_FOR {
            let now = started.elapsed();
            if now >= next_a {
                publish("acct-a", format!("a-{n}")).await;
                next_a += A_EVERY;
            }
            if now >= next_b {
                let case = format!("b-{n}");
                sent.insert(case.clone(), Instant::now());
                publish("acct-b", case).await;
                next_b += B_EVERY;
            }
            n += 1;
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        // Wait for B's last events (at most a minute).
        let until = Instant::now() + Duration::from_secs(60);
        while arrived.lock().unwrap().len() < sent.len() && Instant::now() < until {
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        stop.store(true, Ordering::Relaxed);
        sent
    };
    let (sent, _) = tokio::join!(publisher, pollers);

    let arrived = arrived.lock().unwrap();
    let mut latencies: Vec<Duration> = sent
        .iter()
        .filter_map(|(case, at)| arrived.get(case).map(|got| got.duration_since(*at)))
        .collect();
    latencies.sort();
    // The three slowest of B's events, with when they were published: which part of the run
    // held them up.
    let first = sent.values().min().copied();
    let mut slowest: Vec<(Duration, Duration)> = sent
        .iter()
        .filter_map(|(case, at)| {
            let got = arrived.get(case)?;
            Some((got.duration_since(*at), at.duration_since(first?)))
        })
        .collect();
    slowest.sort();
    for (took, published) in slowest.iter().rev().take(3) {
        println!(
            "B: published at +{:.1} s, delivered {:.0} ms later",
            published.as_secs_f64(),
            took.as_secs_f64() * 1000.0
        );
    }
    println!(
        "fairness on the local stack: A's {HANGING_WEBHOOKS} webhooks hang {} s (their timeout), \
         one A event every {} ms and one B event every {} ms for {} s; {CONCURRENCY} pollers each \
         for events and deliveries, {SLOW_LANE_CONCURRENCY} for the slow lane, batches of 100",
        TIMEOUT_MS / 1000,
        A_EVERY.as_millis(),
        B_EVERY.as_millis(),
        PUBLISH_FOR.as_secs()
    );
    println!("A: {} requests to the hanging receiver", hanging.calls());
    for name in ["events", "deliveries", "slow lane"] {
        let mut took = took.lock().unwrap().remove(name).unwrap_or_default();
        took.sort();
        if !took.is_empty() {
            println!(
                "{name} queue: {} invocations, p50 {:.0} ms, p99 {:.0} ms, longest {:.0} ms",
                took.len(),
                percentile(&took, 0.5).as_secs_f64() * 1000.0,
                percentile(&took, 0.99).as_secs_f64() * 1000.0,
                took.last().unwrap().as_secs_f64() * 1000.0
            );
        }
    }
    if latencies.is_empty() {
        println!("B: none of its {} events arrived", sent.len());
        return;
    }
    println!(
        "B: {} of {} events delivered; publish to delivery p50 {:.0} ms, p99 {:.0} ms, worst {:.0} ms",
        latencies.len(),
        sent.len(),
        percentile(&latencies, 0.50).as_secs_f64() * 1000.0,
        percentile(&latencies, 0.99).as_secs_f64() * 1000.0,
        latencies.last().unwrap().as_secs_f64() * 1000.0,
    );
}

fn main() {
    if std::env::var("HOOKLINE_TEST_AWS_ENDPOINT").is_err() {
        if let Ok(endpoint) = std::env::var("HOOKLINE_BENCH_AWS_ENDPOINT") {
            std::env::set_var("HOOKLINE_TEST_AWS_ENDPOINT", endpoint);
        } else {
            eprintln!("fairness: needs moto's server (make bench starts it); skipped");
            return;
        }
    }
    if std::env::var("FAIRNESS_TRACE").is_ok() {
        tracing_subscriber::fmt()
            .with_env_filter("hookline=debug,outbound_delivery=debug,fairness=debug")
            .with_writer(std::io::stderr)
            .init();
    }
    tokio::runtime::Runtime::new().unwrap().block_on(run());
}
