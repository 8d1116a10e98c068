//! Faults against the local stack: receivers that misbehave in every way we know of, the AWS
//! endpoint going away in the middle of a batch, two copies of one event at once, concurrent
//! writers, and a burst of events with failing receivers. Nothing may be lost, nothing that
//! succeeded may be sent twice, and no call may run past its bounds.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, Ordering};

use futures::StreamExt;
use std::sync::Arc;
use std::time::{Duration, Instant};

use hookline::clock::{ManualClock, SystemClock};
use hookline::events::Event;
use hookline::http::ReqwestClient;
use hookline::inbound::{Resolver, ResolverSettings, Source};
use hookline::model::{delivery_id, DeliveryStatus, Webhook};
use hookline::notify::RecordingMailer;
use hookline::outbound::Deliverer;
use hookline::outbound::DeliverySettings;
use hookline::queue::{MemoryDeliveryQueue, SqsDeliveryQueue};
use hookline::store::dynamo::DynamoStore;
use hookline::store::memory::MemoryStore;
use hookline::store::DeliveryStore;
use hookline_tests::link::Link;
use hookline_tests::moto::OwnMoto;
use hookline_tests::upstream::{Received, Reply, Upstream};
use hookline_tests::{add_outbound_webhook, fresh_queue, sqs_batch_from, TestApi};
use serde_json::{json, Value};
use time::OffsetDateTime;

fn outbound(url: &str, timeout_ms: u32) -> Value {
    json!({"name": "CRM", "flow": "outbound", "url": url, "notificationEmail": "ops@example.com",
           "events": ["case:new"], "timeoutMs": timeout_ms, "security": {"type": "none"}})
}

fn event(account: &str, id: &str) -> Event {
    hookline_tests::case_new(account, id)
}

fn manual_clock() -> Arc<ManualClock> {
    Arc::new(ManualClock::new(
        OffsetDateTime::now_utc().replace_nanosecond(0).unwrap(),
    ))
}

/// The ways a receiver can misbehave, each with what the attempt must record. `inward` is a
/// server the redirect points at: following it would be an SSRF.
fn misbehaviours(inward: &str) -> Vec<(&'static str, Reply)> {
    vec![
        ("hangs", Reply::Hang),
        (
            "drips one byte every 50 ms",
            Reply::Drip {
                len: 10_000,
                every: Duration::from_millis(50),
            },
        ),
        ("resets the connection", Reply::Reset),
        (
            "sends 150 headers",
            (0..150).fold(Reply::status(200, ""), |reply, n| {
                reply.with_header(&format!("x-flood-{n}"), "x")
            }),
        ),
        ("sends 1 GB", Reply::Huge { len: 1 << 30 }),
        (
            "redirects to an internal address",
            Reply::status(302, "").with_header("location", &format!("{inward}/latest/meta-data/")),
        ),
    ]
}

/// What a client that stopped reading at its cap may still have been sent: the cap plus what
/// the sockets' buffers on both sides hold (a few MB on loopback), far below 1 GB.
const SPARED_BELOW: u64 = 64 << 20;

#[tokio::test]
async fn misbehaving_receivers_cost_one_bounded_recorded_attempt_each() {
    let store = hookline_tests::fresh_store().await;
    let d = Deliverer::new(
        store.clone(),
        ReqwestClient::new(hookline_tests::local_egress()),
        RecordingMailer::default(),
        MemoryDeliveryQueue::default(),
        Arc::new(SystemClock),
        hookline::random::os(),
        DeliverySettings::default(),
    );
    let inward = Upstream::start(vec![Reply::status(200, "secret metadata")]).await;
    let timeout = Duration::from_millis(1000);
    let cases =
        futures::future::join_all(misbehaviours(&inward.url).into_iter().map(|(name, reply)| {
            let (d, store) = (&d, &store);
            async move {
                // An account each, so each event reaches its own receiver only.
                let account = name.replace(' ', "-");
                let receiver = Upstream::start(vec![reply]).await;
                let webhook =
                    add_outbound_webhook(store, &account, &outbound(&receiver.url, 1000)).await;
                let event = event(&account, "evt_fault");
                let started = Instant::now();
                hookline_tests::deliver_event(d, &event).await;
                let took = started.elapsed();
                let delivery = store
                    .get_delivery(&account, &webhook.id, &delivery_id(&event, &webhook.id))
                    .await
                    .unwrap()
                    .expect("the delivery is recorded");
                (
                    name,
                    took,
                    delivery,
                    receiver.calls(),
                    receiver.body_bytes_sent(),
                )
            }
        }))
        .await;

    for (name, took, delivery, calls, sent) in cases {
        assert_eq!(calls, 1, "{name}: one request");
        assert!(
            took < timeout + Duration::from_secs(2),
            "{name}: the attempt took {took:?}, its timeout is {timeout:?}"
        );
        assert_eq!(delivery.attempts.len(), 1, "{name}: one attempt recorded");
        let attempt = &delivery.attempts[0];
        let error = attempt.error.as_deref().unwrap_or_default();
        match name {
            "sends 1 GB" => {
                // A 200 is a success, however long the answer: it is read up to the cap only.
                assert_eq!(delivery.status, DeliveryStatus::Succeeded, "{name}");
                let kept = attempt.response_body.as_deref().unwrap_or_default().len();
                assert!(kept <= 16 * 1024, "{name}: {kept} bytes kept in the log");
                assert!(
                    sent < SPARED_BELOW,
                    "{name}: the receiver wrote {sent} bytes"
                );
            }
            _ => {
                // A failure is never lost: the delivery waits for its retry.
                assert_eq!(delivery.status, DeliveryStatus::Pending, "{name}");
                assert!(delivery.next_attempt_at.is_some(), "{name}: a retry is due");
                assert!(!error.is_empty(), "{name}: the attempt says why");
                let expected = match name {
                    "hangs" | "drips one byte every 50 ms" => "timed out",
                    "redirects to an internal address" => "redirects are not followed",
                    "resets the connection" => "reset",
                    _ => "",
                };
                assert!(error.contains(expected), "{name}: {error}");
            }
        }
        eprintln!("{name}: {took:?}, {error:?}");
    }
    assert_eq!(inward.calls(), 0, "no redirect was followed");
}

fn inbound(url: &str) -> Webhook {
    let body = json!({"name": "Order lookup", "flow": "inbound", "url": url,
                      "notificationEmail": "ops@example.com", "timeoutMs": 1000,
                      "security": {"type": "none"}, "variables": ["order.status"],
                      "fallbackResponse": {"order": {"status": "unknown"}}});
    hookline_tests::webhook_from(&body, "acme")
}

#[tokio::test]
async fn misbehaving_upstreams_give_the_chat_its_fallback_by_the_deadline() {
    let deadline = Duration::from_secs(4);
    let resolver = Resolver {
        http: ReqwestClient::new(hookline_tests::local_egress()),
        mailer: RecordingMailer::default(),
        store: MemoryStore::new(),
        clock: Arc::new(SystemClock),
        settings: ResolverSettings {
            deadline,
            ..ResolverSettings::default()
        },
    };
    let inward = Upstream::start(vec![Reply::json(r#"{"order": {"status": "leaked"}}"#)]).await;
    let cases =
        futures::future::join_all(misbehaviours(&inward.url).into_iter().map(|(name, reply)| {
            let resolver = &resolver;
            async move {
                let upstream = Upstream::start(vec![reply]).await;
                let started = Instant::now();
                let answer = resolver.resolve(&inbound(&upstream.url), &json!({})).await;
                (
                    name,
                    started.elapsed(),
                    answer,
                    upstream.calls(),
                    upstream.body_bytes_sent(),
                )
            }
        }))
        .await;
    for (name, took, answer, calls, sent) in cases {
        assert_eq!(answer.source, Source::Fallback, "{name}");
        assert_eq!(
            answer.data,
            json!({"order": {"status": "unknown"}}),
            "{name}"
        );
        assert!(
            took < deadline + Duration::from_millis(500),
            "{name}: answered after {took:?}; the deadline is {deadline:?}"
        );
        let errors: Vec<&str> = answer
            .attempts
            .iter()
            .map(|a| a.error.as_deref().unwrap_or_default())
            .collect();
        assert!(errors.iter().all(|e| !e.is_empty()), "{name}: {errors:?}");
        match name {
            // A redirect ends the tries at once.
            "redirects to an internal address" => assert_eq!(calls, 1, "{name}"),
            // Each of the rest is a failed try, tried again while time is left.
            _ => assert!((2..=3).contains(&calls), "{name}: {calls} calls"),
        }
        if name == "sends 1 GB" {
            assert!(
                errors.iter().all(|e| e.contains("larger than")),
                "{errors:?}"
            );
            assert!(
                sent < calls as u64 * SPARED_BELOW,
                "{name}: {sent} bytes written"
            );
        }
        eprintln!("{name}: {took:?}, {calls} calls, {errors:?}");
    }
    assert_eq!(inward.calls(), 0, "no redirect was followed");
}

// Two copies of one event handled at once: an order of events, so it is a scenario on the
// simulation's scheduler (tests/simulation/tests/defects.rs,
// `two_copies_of_an_event_at_once_send_it_once_and_nothing_is_dropped`), not a sleep here.

#[tokio::test]
async fn concurrent_updates_of_one_webhook_one_wins_the_others_get_409() {
    let api = TestApi::new().await;
    let key = api.key("acme").await;
    let created = api
        .call(
            "POST",
            "/api/v1/webhook",
            Some(&key),
            Some(hookline_tests::outbound_body(
                "https://crm.example.com/hooks",
            )),
        )
        .await;
    assert_eq!(created.status, 201);
    let id = created.body["id"].as_str().unwrap().to_string();
    let path = format!("/api/v1/webhook/{id}");
    let writers = 8;
    let answers = futures::future::join_all((0..writers).map(|n| {
        let (api, key, path) = (&api, &key, &path);
        async move {
            let mut headers = hookline_tests::bearer(key);
            headers.insert("if-match".into(), "\"1\"".into());
            let body = json!({"name": format!("writer {n}")}).to_string();
            (n, api.send("PUT", path, headers, Some(body)).await)
        }
    }))
    .await;
    let winners: Vec<usize> = answers
        .iter()
        .filter(|(_, r)| r.status == 200)
        .map(|(n, _)| *n)
        .collect();
    assert_eq!(winners.len(), 1, "exactly one write wins: {answers:?}");
    for (_, r) in answers.iter().filter(|(_, r)| r.status != 200) {
        assert_eq!(
            (r.status, r.error_type()),
            (409, "ERROR_CONFLICT"),
            "{:?}",
            r.body
        );
    }
    let now = api.call("GET", &path, Some(&key), None).await;
    assert_eq!(now.body["version"], 2);
    assert_eq!(now.body["name"], format!("writer {}", winners[0]));
}

/// How many requests arrived for each `webhook-id` (a delivery's id, the same on every try).
fn requests_per_delivery<'a>(
    received: impl IntoIterator<Item = &'a Received>,
) -> HashMap<String, usize> {
    let mut counts = HashMap::new();
    for r in received {
        let id = r
            .header("webhook-id")
            .expect("every request has a webhook-id");
        *counts.entry(id.to_string()).or_insert(0) += 1;
    }
    counts
}

/// How the AWS endpoint fails in the middle of a batch.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Outage {
    /// The network to it is cut for 4 s (longer than the SDK's retries of one call): open
    /// connections drop, new ones are reset.
    Cut,
    /// Its process is stopped for 14 s (longer than an SDK call may take with its retries,
    /// 12 s), then continued: calls hang until their timeouts, and requests already sent are
    /// carried out late, after the function gave up on them.
    Freeze,
}

#[tokio::test]
async fn the_aws_endpoint_cut_off_mid_batch_loses_nothing_and_logs_each_delivery_once() {
    outage_mid_batch(Outage::Cut).await;
}

#[tokio::test]
async fn the_aws_server_stopped_mid_batch_loses_nothing_and_logs_each_delivery_once() {
    outage_mid_batch(Outage::Freeze).await;
}

async fn outage_mid_batch(outage: Outage) {
    // Freezing needs a server of the test's own; cutting uses the shared one through a link.
    let own = match outage {
        Outage::Freeze => Some(OwnMoto::start().await),
        Outage::Cut => None,
    };
    let server = own
        .as_ref()
        .map_or_else(hookline_tests::endpoint, |m| m.url.clone());
    let link = Link::start(&server).await;
    let direct = hookline_tests::sdk_config_at(&server).await;
    // The function's clients, with a deployed function's timeouts.
    let through = hookline_tests::function_sdk_config(match outage {
        Outage::Cut => &link.url,
        Outage::Freeze => &server,
    })
    .await;
    let table = hookline_tests::fresh_table_name();
    let setup =
        DynamoStore::from_sdk_config(&direct, &table).with_sealer(hookline_tests::sealer().await);
    setup.create_table().await.unwrap();

    // The receiver answers 300 ms after a request arrives, and the first arrival cuts the link:
    // the outage falls between sends and the records of their outcomes.
    let first_request = Arc::new(tokio::sync::Notify::new());
    let arrived = first_request.clone();
    let receiver = Upstream::scripted(move |_| {
        arrived.notify_one();
        Reply::status(200, "").after(Duration::from_millis(300))
    })
    .await;
    let mut webhooks = Vec::new();
    for _ in 0..3 {
        webhooks.push(add_outbound_webhook(&setup, "acme", &outbound(&receiver.url, 5000)).await);
    }
    // The events queue and Lambda's event source mapping stay on AWS's side of the fault.
    let sqs = aws_sdk_sqs::Client::new(&direct);
    let name = format!(
        "events-{}",
        hookline::ids::ulid(OffsetDateTime::now_utc()).to_lowercase()
    );
    let events_url = hookline::local::create_queue_with_dlq(&sqs, &name, 5)
        .await
        .unwrap();
    let arn = hookline::local::queue_arn(&sqs, &events_url).await.unwrap();
    let deliveries_url =
        hookline::local::create_queue_with_dlq(&sqs, &format!("deliveries-{name}"), 10)
            .await
            .unwrap();
    let events: Vec<Event> = (0..10)
        .map(|i| event("acme", &format!("evt_outage_{i}")))
        .collect();
    for e in &events {
        sqs.send_message()
            .queue_url(&events_url)
            .message_body(serde_json::to_string(e).unwrap())
            .send()
            .await
            .unwrap();
    }
    let clock = manual_clock();
    let d = Deliverer::new(
        DynamoStore::from_sdk_config(&through, &table).with_sealer(hookline_tests::sealer().await),
        ReqwestClient::new(hookline_tests::local_egress()),
        RecordingMailer::default(),
        SqsDeliveryQueue::new(aws_sdk_sqs::Client::new(&through), &deliveries_url),
        clock.clone(),
        hookline::random::os(),
        DeliverySettings::default(),
    );

    // The events fan out: 30 delivery messages.
    let deliveries_arn = hookline::local::queue_arn(&sqs, &deliveries_url)
        .await
        .unwrap();
    let (handed, kept) =
        hookline::local::pump_once(&sqs, &events_url, &arn, 0, Some(0), |batch| async {
            Ok(hookline_tests::invoke(&d, batch).await)
        })
        .await
        .unwrap();
    assert_eq!((handed, kept), (10, 0));

    // A batch of deliveries starts; at the first POST, with POSTs in flight and their outcomes
    // not yet recorded, the outage begins.
    let (handed, kept) = hookline::local::pump_once(
        &sqs,
        &deliveries_url,
        &deliveries_arn,
        0,
        Some(0),
        |batch| async {
            let outage = async {
                first_request.notified().await;
                match &own {
                    None => {
                        link.down();
                        tokio::time::sleep(Duration::from_secs(4)).await;
                        link.up();
                    }
                    Some(moto) => {
                        moto.freeze();
                        tokio::time::sleep(Duration::from_secs(14)).await;
                        moto.thaw();
                    }
                }
            };
            let (response, ()) = tokio::join!(hookline_tests::invoke(&d, batch), outage);
            Ok(response)
        },
    )
    .await
    .unwrap();
    assert_eq!(handed, 10);
    assert!(kept > 0, "the outage failed part of the batch");
    eprintln!("{outage:?}: {kept} of {handed} messages kept for redelivery");

    // SQS redelivers what was kept once its visibility timeout (720 s deployed) has passed,
    // with the deliveries not yet received.
    let mut rounds = 0;
    loop {
        clock.advance(time::Duration::seconds(720));
        let (handed, _) = hookline::local::pump_once(
            &sqs,
            &deliveries_url,
            &deliveries_arn,
            0,
            Some(0),
            |batch| async { Ok(hookline_tests::invoke(&d, batch).await) },
        )
        .await
        .unwrap();
        if handed == 0 {
            break;
        }
        rounds += 1;
        assert!(rounds < 10, "redelivery ends");
    }

    // The delivery log: each (event, webhook) once, succeeded, with exactly one success.
    let mut expected = HashSet::new();
    for e in &events {
        for w in &webhooks {
            let id = delivery_id(e, &w.id);
            let delivery = setup
                .get_delivery("acme", &w.id, &id)
                .await
                .unwrap()
                .unwrap_or_else(|| panic!("{id} was lost"));
            assert_eq!(delivery.status, DeliveryStatus::Succeeded, "{id}");
            let ok = delivery
                .attempts
                .iter()
                .filter(|a| a.status == Some(200))
                .count();
            assert_eq!(ok, 1, "{id}: {:?}", delivery.attempts);
            expected.insert(id);
        }
    }
    // The receiver: every delivery arrived; a repeat (an attempt whose outcome could not be
    // recorded during the outage) carries the same webhook-id, so receivers drop it.
    let received = requests_per_delivery(&receiver.received());
    let ids: HashSet<String> = received.keys().cloned().collect();
    assert_eq!(ids, expected, "every delivery arrived, and nothing else");
    let repeats: usize = received.values().map(|n| n - 1).sum();
    eprintln!("{outage:?}: redelivery rounds: {rounds}; repeats at the receiver: {repeats}");
    if outage == Outage::Cut {
        // (A frozen server carries the records out late, so it may leave nothing to repeat.)
        assert!(
            repeats >= 1,
            "the outage fell between a send and its record"
        );
    }
    assert!(repeats <= kept, "only a kept message is sent again");
    assert_eq!(
        hookline::local::pump_once(&sqs, &events_url, &arn, 0, None, |_| async {
            panic!("the events queue is empty")
        })
        .await
        .unwrap(),
        (0, 0)
    );
}

#[tokio::test]
async fn a_burst_of_1000_events_over_50_webhooks_with_10_percent_failing_loses_and_repeats_nothing()
{
    const WEBHOOKS: usize = 50;
    const ACCOUNTS: usize = 50; // a webhook each, so every event is one delivery
    const EVENTS: usize = 1000; // 20 per account
    const DELIVERIES: usize = EVENTS * WEBHOOKS / ACCOUNTS;
    const FAILING: usize = 5; // 10% of the webhooks answer 500 until they recover
    let store = hookline_tests::fresh_store().await;
    let failing = Arc::new(AtomicBool::new(true));
    let broken = failing.clone();
    let receiver = Upstream::scripted(move |r| {
        if r.target.starts_with("/failing/") && broken.load(Ordering::SeqCst) {
            Reply::status(500, "down")
        } else {
            Reply::status(200, "")
        }
    })
    .await;
    let mut webhooks = Vec::new();
    for n in 0..WEBHOOKS {
        let account = format!("acct-{}", n % ACCOUNTS);
        let path = if n < FAILING { "failing" } else { "ok" };
        let url = format!("{}/{path}/{n}", receiver.url);
        let webhook = add_outbound_webhook(&store, &account, &outbound(&url, 5000)).await;
        webhooks.push(webhook);
    }
    let (sqs, deliveries_url) = fresh_queue("deliveries").await;
    let events: Vec<Event> = (0..EVENTS)
        .map(|i| event(&format!("acct-{}", i % ACCOUNTS), &format!("evt_burst_{i}")))
        .collect();
    let clock = manual_clock();
    let d = Deliverer::new(
        store.clone(),
        ReqwestClient::new(hookline_tests::local_egress()),
        RecordingMailer::default(),
        SqsDeliveryQueue::new(sqs.clone(), &deliveries_url),
        clock.clone(),
        hookline::random::os(),
        DeliverySettings::default(),
    );
    // The fan-out's delivery messages are kept in memory, then handed over as SQS batches.
    let fan_out = Deliverer::new(
        store.clone(),
        ReqwestClient::new(hookline_tests::local_egress()),
        RecordingMailer::default(),
        MemoryDeliveryQueue::default(),
        clock.clone(),
        hookline::random::os(),
        DeliverySettings::default(),
    );
    // The burst arrives as Lambda hands it over: 100 SQS batches of 10 events, then 100 of
    // 10 deliveries, two invocations at a time. (Not through moto's SQS: its receive costs
    // grow with the square of the queue's length, which would measure moto. The queues' own
    // behaviour is tested in outbound.rs; the retries below do go through SQS.)
    let started = Instant::now();
    let events: Vec<String> = events
        .iter()
        .map(|e| serde_json::to_string(e).unwrap())
        .collect();
    let mut kept = in_batches(&fan_out, "events", &events).await;
    let deliveries: Vec<String> = hookline_tests::take_queued(&fan_out)
        .iter()
        .map(|m| serde_json::to_string(m).unwrap())
        .collect();
    assert_eq!(deliveries.len(), DELIVERIES);
    kept += in_batches(&d, &deliveries_url, &deliveries).await;
    let took = started.elapsed();
    assert_eq!(kept, 0, "every event handled, none kept for another go");
    eprintln!(
        "{EVENTS} events, {} deliveries in {took:?} ({:.0} deliveries/s against moto)",
        DELIVERIES,
        (DELIVERIES) as f64 / took.as_secs_f64()
    );

    let failing_ids: HashSet<&str> = webhooks[..FAILING].iter().map(|w| w.id.as_str()).collect();
    let per_failing_webhook = EVENTS / ACCOUNTS;
    let received = receiver.received();
    let first = requests_per_delivery(received.iter().filter(|r| r.target.starts_with("/ok/")));
    assert_eq!(first.len(), DELIVERIES - FAILING * per_failing_webhook);
    assert!(first.values().all(|&n| n == 1), "no success was sent twice");
    let refused = received.len() - first.len();
    assert_eq!(
        refused,
        FAILING * per_failing_webhook,
        "each failing delivery tried once"
    );

    // The failing receivers recover; the retries (SQS delay of about 5 s) come due.
    failing.store(false, Ordering::SeqCst);
    clock.advance(time::Duration::seconds(10));
    let retry_arn = hookline::local::queue_arn(&sqs, &deliveries_url)
        .await
        .unwrap();
    // The deliveries queue also carries the failing webhooks' "is failing" e-mails (queued
    // notices): pump until the retries have come and the queue is empty.
    let mut retried = 0;
    let waiting = Instant::now();
    loop {
        assert!(
            waiting.elapsed() < Duration::from_secs(60),
            "the retries arrive"
        );
        let (handed, kept) =
            hookline::local::pump_once(&sqs, &deliveries_url, &retry_arn, 1, None, |batch| async {
                Ok(hookline_tests::invoke(&d, batch).await)
            })
            .await
            .unwrap();
        assert_eq!(kept, 0, "due retries and notices are done at once");
        retried += handed;
        if handed == 0 && retried >= refused && queue_is_empty(&sqs, &deliveries_url).await {
            break;
        }
    }
    assert!(retried >= refused, "a retry per failed delivery");

    // The log: every delivery succeeded, each with exactly one successful attempt; failing
    // webhooks' deliveries after one failed try.
    let mut expected = HashMap::new();
    for w in &webhooks {
        let page = store
            .list_deliveries(&w.account_id, &w.id, None, 100, None)
            .await
            .unwrap();
        assert_eq!(page.items.len(), EVENTS / ACCOUNTS, "{}", w.id);
        let tries = if failing_ids.contains(w.id.as_str()) {
            2
        } else {
            1
        };
        for delivery in page.items {
            assert_eq!(
                delivery.status,
                DeliveryStatus::Succeeded,
                "{}",
                delivery.id
            );
            assert_eq!(delivery.attempts.len(), tries, "{}", delivery.id);
            assert_eq!(delivery.attempts.last().unwrap().status, Some(200));
            expected.insert(delivery.id, tries);
        }
    }
    assert_eq!(expected.len(), DELIVERIES);
    // The receivers saw exactly that: each delivery once, or a 500 then a 200; nothing else.
    assert_eq!(requests_per_delivery(&receiver.received()), expected);
}

/// `bodies` handed to `d` as Lambda would: SQS batches of 10, two invocations at a time.
/// Returns how many messages the batches kept.
async fn in_batches<Q>(
    d: &Deliverer<DynamoStore, ReqwestClient, RecordingMailer, Q>,
    queue: &str,
    bodies: &[String],
) -> usize
where
    Q: hookline::queue::DeliveryQueue + hookline::queue::Postpone,
{
    futures::stream::iter(bodies.chunks(10).enumerate())
        .map(|(n, chunk)| async move {
            let ids: Vec<String> = (0..chunk.len()).map(|i| format!("m{n}-{i}")).collect();
            let records: Vec<(&str, String)> = ids
                .iter()
                .zip(chunk)
                .map(|(id, body)| (id.as_str(), body.clone()))
                .collect();
            let response = hookline_tests::invoke(d, sqs_batch_from(queue, &records)).await;
            response.batch_item_failures.len()
        })
        .buffer_unordered(2)
        .collect::<Vec<usize>>()
        .await
        .into_iter()
        .sum()
}

/// No message in the queue: visible, in flight or delayed.
async fn queue_is_empty(sqs: &aws_sdk_sqs::Client, url: &str) -> bool {
    use aws_sdk_sqs::types::QueueAttributeName as A;
    let out = sqs
        .get_queue_attributes()
        .queue_url(url)
        .attribute_names(A::ApproximateNumberOfMessages)
        .attribute_names(A::ApproximateNumberOfMessagesNotVisible)
        .attribute_names(A::ApproximateNumberOfMessagesDelayed)
        .send()
        .await
        .unwrap();
    out.attributes()
        .is_some_and(|a| a.values().all(|v| v == "0"))
}
