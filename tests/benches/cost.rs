//! `cost`: what a delivery costs on AWS, counted on the local stack (moto's server) with the
//! real code: every DynamoDB and SQS request the API, the fan-out and the deliveries make is
//! counted by SDK interceptors on their clients, with item sizes turned into write and read
//! units, and priced at list prices. Run by `make bench` (BENCHMARKS.md has the figures).
//!
//! Scenarios: events published through the API or straight to SQS with `SendMessageBatch`
//! (10 per call), at fan-out 1 and 10, with every receiver answering at once, or failing the
//! first try of each delivery and accepting the retry.
//!
//! What is approximated, and how:
//! - an `UpdateItem` is billed on the larger of the item before and after, and a `GetItem` on
//!   the whole item whatever it projects; the bench uses the item's size at the end of the run
//!   (items only grow here), so it never undercounts;
//! - Lambda's duration is the handler's wall time here, against moto on the same machine;
//! - Lambda's pollers' empty receives are a fixed cost per event source, not per delivery,
//!   and are left out; each batch's receives and deletes are counted, with the template's
//!   batch sizes (10 events, 100 delivery messages);
//! - CloudWatch Logs: the bytes our code logs at the template's default level (`info`), plus
//!   the platform's START/END/REPORT lines (about 300 bytes per invocation).

use std::collections::{BTreeMap, HashMap, HashSet};
use std::io::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use aws_sdk_dynamodb::types::AttributeValue;
use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::interceptors::context::{
    BeforeSerializationInterceptorContextRef, FinalizerInterceptorContextRef,
};
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::config_bag::{ConfigBag, Storable, StoreReplace};
use hookline::clock::SystemClock;
use hookline::http::ReqwestClient;
use hookline::inbound::ResolverSettings;
use hookline::model::WebhookRules;
use hookline::notify::RecordingMailer;
use hookline::outbound::{Deliverer, DeliverySettings};
use hookline::queue::{SqsDeliveryQueue, SqsEventQueue};
use hookline::store::dynamo::{item_size, DynamoStore};
use hookline::store::KeyScope;
use hookline_tests::upstream::{Reply, Upstream};
use serde_json::json;
use time::OffsetDateTime;
use webhooks_api::{App, Parts};

// ------------------------------------------------------------------ prices

/// List prices, us-east-1, as published in December 2026 (BENCHMARKS.md says where).
mod price {
    /// SQS standard queue: per million requests (each 64 KiB chunk of a payload is one).
    pub const SQS_PER_M: f64 = 0.40;
    /// DynamoDB on demand: per million write and read request units.
    pub const WRU_PER_M: f64 = 0.625;
    pub const RRU_PER_M: f64 = 0.125;
    /// DynamoDB provisioned: per WCU-hour and RCU-hour, used at 70%.
    pub const WCU_HOUR: f64 = 0.00065;
    pub const RCU_HOUR: f64 = 0.00013;
    pub const UTILISATION: f64 = 0.7;
    /// Lambda on arm64: per million requests, per GB-second.
    pub const LAMBDA_REQ_PER_M: f64 = 0.20;
    pub const LAMBDA_GB_S: f64 = 0.000_013_333_4;
    /// The functions' memory (infra/template.yaml).
    pub const MEMORY_GB: f64 = 0.125;
    /// CloudWatch Logs ingestion, per GB.
    pub const LOGS_PER_GB: f64 = 0.50;
    /// API Gateway HTTP API, per million requests.
    pub const HTTP_API_PER_M: f64 = 1.00;
    /// KMS: $0.03 per 10,000 requests (GenerateDataKey, Decrypt).
    pub const KMS_PER_M: f64 = 3.00;
    /// EventBridge API destinations: $1.00 per million events + $0.20 per million invocations.
    pub const EVENTBRIDGE_PER_M: f64 = 1.20;
}

// ------------------------------------------------------------------ the meter

/// One AWS request as billed.
#[derive(Clone, Debug)]
struct Call {
    service: &'static str,
    op: &'static str,
    /// Write units (DynamoDB writes), read units (reads) or 64 KiB chunks (SQS).
    units: f64,
    /// An `UpdateItem`'s key: its units come from the item's size at the end.
    updated: Option<(String, String)>,
    /// A `GetItem`'s key: its units come from the whole item's size at the end.
    read: Option<(String, String)>,
    consistent: bool,
}

#[derive(Clone, Debug)]
struct Pending(Call);

impl Storable for Pending {
    type Storer = StoreReplace<Self>;
}

#[derive(Clone, Debug, Default)]
struct Meter(Arc<Mutex<Vec<Call>>>);

impl Meter {
    fn take(&self) -> Vec<Call> {
        std::mem::take(&mut *self.0.lock().unwrap())
    }
}

fn write_units(bytes: usize) -> f64 {
    bytes.div_ceil(1024).max(1) as f64
}

fn read_units(bytes: usize, consistent: bool) -> f64 {
    let units = bytes.div_ceil(4096).max(1) as f64;
    if consistent {
        units
    } else {
        units / 2.0
    }
}

fn chunks(bytes: usize) -> f64 {
    bytes.div_ceil(64 * 1024).max(1) as f64
}

fn key_of(key: Option<&HashMap<String, AttributeValue>>) -> Option<(String, String)> {
    let key = key?;
    let part = |name: &str| key.get(name).and_then(|v| v.as_s().ok()).cloned();
    Some((part("pk")?, part("sk")?))
}

#[derive(Clone, Debug)]
struct DynamoMeter(Meter);

impl aws_sdk_dynamodb::config::Intercept for DynamoMeter {
    fn name(&self) -> &'static str {
        "cost-meter"
    }

    fn read_before_execution(
        &self,
        context: &BeforeSerializationInterceptorContextRef<'_>,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        use aws_sdk_dynamodb::operation::*;
        let input = context.input();
        let mut call = Call {
            service: "DynamoDB",
            op: "other",
            units: 0.0,
            updated: None,
            read: None,
            consistent: false,
        };
        if let Some(i) = input.downcast_ref::<put_item::PutItemInput>() {
            call.op = "PutItem";
            call.units = write_units(i.item().map_or(0, item_size));
        } else if let Some(i) = input.downcast_ref::<update_item::UpdateItemInput>() {
            call.op = "UpdateItem";
            call.updated = key_of(i.key());
        } else if let Some(i) = input.downcast_ref::<get_item::GetItemInput>() {
            call.op = "GetItem";
            call.consistent = i.consistent_read().unwrap_or(false);
            // Billed on the whole item, whatever a projection returns.
            call.read = key_of(i.key());
        } else if let Some(i) = input.downcast_ref::<query::QueryInput>() {
            call.op = "Query";
            call.consistent = i.consistent_read().unwrap_or(false);
        } else if let Some(i) = input.downcast_ref::<delete_item::DeleteItemInput>() {
            call.op = "DeleteItem";
            call.updated = key_of(i.key());
        } else if input
            .downcast_ref::<transact_write_items::TransactWriteItemsInput>()
            .is_some()
        {
            call.op = "TransactWriteItems";
        }
        cfg.interceptor_state().store_put(Pending(call));
        Ok(())
    }

    fn read_after_execution(
        &self,
        context: &FinalizerInterceptorContextRef<'_>,
        _components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        use aws_sdk_dynamodb::operation::*;
        let Some(Pending(mut call)) = cfg.load::<Pending>().cloned() else {
            return Ok(());
        };
        if let Some(Ok(output)) = context.output_or_error() {
            if output.downcast_ref::<get_item::GetItemOutput>().is_some() {
                // Priced at the end, on the whole item (see `run`).
            } else if let Some(o) = output.downcast_ref::<query::QueryOutput>() {
                let bytes: usize = o.items().iter().map(item_size).sum();
                call.units = read_units(bytes, call.consistent);
            }
        }
        self.0 .0.lock().unwrap().push(call);
        Ok(())
    }
}

#[derive(Clone, Debug)]
struct SqsMeter(Meter);

impl aws_sdk_sqs::config::Intercept for SqsMeter {
    fn name(&self) -> &'static str {
        "cost-meter"
    }

    fn read_before_execution(
        &self,
        context: &BeforeSerializationInterceptorContextRef<'_>,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        use aws_sdk_sqs::operation::*;
        let input = context.input();
        let (op, units) = if let Some(i) = input.downcast_ref::<send_message::SendMessageInput>() {
            ("SendMessage", chunks(i.message_body().map_or(0, str::len)))
        } else if let Some(i) = input.downcast_ref::<send_message_batch::SendMessageBatchInput>() {
            let bytes = i.entries().iter().map(|e| e.message_body().len()).sum();
            ("SendMessageBatch", chunks(bytes))
        } else if input
            .downcast_ref::<receive_message::ReceiveMessageInput>()
            .is_some()
        {
            ("ReceiveMessage", 1.0)
        } else if input
            .downcast_ref::<delete_message_batch::DeleteMessageBatchInput>()
            .is_some()
        {
            ("DeleteMessageBatch", 1.0)
        } else if input
            .downcast_ref::<delete_message::DeleteMessageInput>()
            .is_some()
        {
            ("DeleteMessage", 1.0)
        } else if input
            .downcast_ref::<change_message_visibility::ChangeMessageVisibilityInput>()
            .is_some()
        {
            ("ChangeMessageVisibility", 1.0)
        } else {
            ("other", 1.0)
        };
        let call = Call {
            service: "SQS",
            op,
            units,
            updated: None,
            read: None,
            consistent: false,
        };
        cfg.interceptor_state().store_put(Pending(call));
        Ok(())
    }

    fn read_after_execution(
        &self,
        context: &FinalizerInterceptorContextRef<'_>,
        _components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        use aws_sdk_sqs::operation::receive_message::ReceiveMessageOutput;
        let Some(Pending(mut call)) = cfg.load::<Pending>().cloned() else {
            return Ok(());
        };
        if let Some(Ok(output)) = context.output_or_error() {
            if let Some(o) = output.downcast_ref::<ReceiveMessageOutput>() {
                if o.messages().is_empty() {
                    // Lambda's pollers' empty receives: a fixed cost per event source, not
                    // per delivery (see the top of this file).
                    return Ok(());
                }
                let bytes = o
                    .messages()
                    .iter()
                    .map(|m| m.body().map_or(0, str::len))
                    .sum();
                call.units = chunks(bytes);
            }
        }
        self.0 .0.lock().unwrap().push(call);
        Ok(())
    }
}

// ------------------------------------------------------------------ the logs

/// Counts the bytes our code logs, at `info` as deployed.
#[derive(Clone, Default)]
struct LogBytes(Arc<AtomicU64>);

impl Write for LogBytes {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.fetch_add(buf.len() as u64, Ordering::Relaxed);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// What Lambda itself writes per invocation (START, END, REPORT).
const PLATFORM_LOG_BYTES: u64 = 300;

// ------------------------------------------------------------------ a scenario

#[derive(Clone, Copy, Debug, PartialEq)]
enum Publish {
    /// `POST /api/v1/events`, through API Gateway's HTTP API.
    Api,
    /// `SendMessageBatch` straight to the events queue, 10 events per call.
    Sqs,
}

#[derive(Clone, Copy, Debug)]
struct Scenario {
    publish: Publish,
    fan_out: usize,
    /// Each delivery's first try fails (500), its retry succeeds.
    one_retry: bool,
    events: usize,
}

struct Measured {
    scenario: Scenario,
    deliveries: usize,
    calls: Vec<Call>,
    /// The delivery container's KMS calls (one container for the whole run).
    kms_calls: u64,
    invocations: u64,
    lambda_seconds: f64,
    log_bytes: u64,
}

async fn run(scenario: Scenario, logs: &LogBytes) -> Measured {
    let meter = Meter::default();
    let plain = hookline_tests::sdk_config().await;
    let dynamo_config = aws_sdk_dynamodb::config::Builder::from(&plain)
        .interceptor(DynamoMeter(meter.clone()))
        .build();
    let sqs_config = aws_sdk_sqs::config::Builder::from(&plain)
        .interceptor(SqsMeter(meter.clone()))
        .build();
    let setup = hookline_tests::fresh_store().await;
    let table = setup.table().to_string();
    // As deployed: the delivery function's container opens sealed credentials (its KMS calls
    // are counted by its sealer).
    let sealer = hookline_tests::sealer().await;
    let store = DynamoStore::new(aws_sdk_dynamodb::Client::from_conf(dynamo_config), &table)
        .with_sealer(sealer.clone());
    let sqs = aws_sdk_sqs::Client::from_conf(sqs_config);
    let (_, events_url) = hookline_tests::fresh_queue("events").await;
    let (_, deliveries_url) = hookline_tests::fresh_queue("deliveries").await;

    // The receivers: at once, or a 500 to each delivery's first request.
    let seen = Arc::new(Mutex::new(HashSet::new()));
    let one_retry = scenario.one_retry;
    let receiver = Upstream::scripted(move |r| {
        let id = r.header("webhook-id").unwrap_or_default().to_string();
        if one_retry && seen.lock().unwrap().insert(id) {
            Reply::status(500, "not yet")
        } else {
            Reply::status(200, "ok")
        }
    })
    .await;
    for _ in 0..scenario.fan_out {
        hookline_tests::add_outbound_webhook(
            &setup,
            "acme",
            &hookline_tests::outbound_body(&receiver.url),
        )
        .await;
    }
    let settings = DeliverySettings {
        // The first retry after 1 s (5 s deployed): the same requests, sooner.
        schedule: vec![Duration::from_secs(1)],
        ..DeliverySettings::default()
    };
    let engine = Deliverer::new(
        store.clone(),
        ReqwestClient::new(hookline_tests::local_egress()),
        RecordingMailer::default(),
        SqsDeliveryQueue::new(sqs.clone(), &deliveries_url),
        Arc::new(SystemClock),
        hookline::random::os(),
        settings.clone(),
    );
    let app: App<hookline_tests::LocalAws> = App::new(Parts {
        store: store.clone(),
        events: SqsEventQueue::new(sqs.clone(), &events_url),
        deliveries: SqsDeliveryQueue::new(sqs.clone(), &deliveries_url),
        http: ReqwestClient::new(hookline_tests::local_egress()),
        clock: Arc::new(SystemClock),
        rules: WebhookRules {
            allow_plain_http: true,
            egress: hookline_tests::local_egress(),
            ..Default::default()
        },
        resolver: ResolverSettings::default(),
        delivery: settings,
    });
    let (key, _) = hookline::apikeys::issue(
        &setup,
        "acme",
        "bench",
        KeyScope::Full,
        OffsetDateTime::now_utc(),
    )
    .await
    .unwrap();
    meter.take();
    logs.0.store(0, Ordering::Relaxed);

    // Publish.
    let bodies: Vec<serde_json::Value> = (0..scenario.events)
        .map(|n| {
            json!({"id": format!("evt_cost-{n}"), "event": "case:new", "data": {
                "caseId": format!("{n}"), "status": "new", "channel": "chat",
                "subject": "Order 8812 has not arrived",
                "contact": {"id": "c_5", "fields": {"name": "Jhon", "email": "jhon@example.com"}},
                "messages": [{"from": "contact", "text": "Hi, my order 8812 has not arrived yet."}]
            }})
        })
        .collect();
    match scenario.publish {
        Publish::Api => {
            for body in &bodies {
                let request = hookline_tests::api_gateway_request(
                    "POST",
                    "/api/v1/events",
                    hookline_tests::bearer(&key),
                    Some(body.to_string()),
                );
                let response = hookline_tests::read_response(app.handle(request).await);
                assert_eq!(response.status, 202, "{:?}", response.body);
            }
        }
        Publish::Sqs => {
            let now = OffsetDateTime::now_utc();
            for chunk in bodies.chunks(10) {
                let entries = chunk
                    .iter()
                    .enumerate()
                    .map(|(i, body)| {
                        let event = hookline::events::Event::from_publish(body, "acme", now)
                            .expect("a valid event");
                        aws_sdk_sqs::types::SendMessageBatchRequestEntry::builder()
                            .id(i.to_string())
                            .message_body(serde_json::to_string(&event).unwrap())
                            .build()
                            .unwrap()
                    })
                    .collect();
                sqs.send_message_batch()
                    .queue_url(&events_url)
                    .set_entries(Some(entries))
                    .send()
                    .await
                    .unwrap();
            }
        }
    }

    // Lambda's event sources: the events queue, then the deliveries queue until every
    // delivery (and its retry) is done.
    let mut invocations = 0;
    let mut lambda_seconds = 0.0;
    let deliveries = scenario.events * scenario.fan_out;
    let wanted = deliveries * if scenario.one_retry { 2 } else { 1 };
    let started = Instant::now();
    let plain_sqs = aws_sdk_sqs::Client::new(&plain);
    // The template's batch sizes: 10 events, 100 delivery messages.
    for (url, batch_size) in [(&events_url, 10), (&deliveries_url, 100)] {
        // Not counted: Lambda knows its queue.
        let arn = hookline::local::queue_arn(&plain_sqs, url).await.unwrap();
        loop {
            let mut took = Duration::ZERO;
            let pumped = hookline::local::pump_batch(
                &sqs,
                url,
                &arn,
                0,
                None,
                batch_size,
                Duration::ZERO,
                |batch| async {
                    let t = Instant::now();
                    let answer = hookline_tests::invoke(&engine, batch).await;
                    took = t.elapsed();
                    Ok(answer)
                },
            )
            .await;
            let (handed, _) = pumped.unwrap();
            if handed > 0 {
                invocations += 1;
                lambda_seconds += took.as_secs_f64();
                continue;
            }
            let done = url == &events_url || receiver.calls() >= wanted;
            if done {
                break;
            }
            assert!(
                started.elapsed() < Duration::from_secs(120),
                "deliveries finish"
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
    assert_eq!(receiver.calls(), wanted);
    let mut calls = meter.take();

    // UpdateItem and DeleteItem: billed on the item's size (at the end of the run).
    let sizes = item_sizes(&plain, &table).await;
    for call in &mut calls {
        if let Some(key) = &call.updated {
            call.units = write_units(sizes.get(key).copied().unwrap_or(0));
        }
        if let Some(key) = &call.read {
            call.units = read_units(sizes.get(key).copied().unwrap_or(0), call.consistent);
        }
    }
    Measured {
        scenario,
        deliveries,
        calls,
        kms_calls: sealer.key_service_calls(),
        invocations,
        lambda_seconds,
        log_bytes: logs.0.load(Ordering::Relaxed) + invocations * PLATFORM_LOG_BYTES,
    }
}

/// Every item's size, by key.
async fn item_sizes(
    config: &aws_config::SdkConfig,
    table: &str,
) -> HashMap<(String, String), usize> {
    let client = aws_sdk_dynamodb::Client::new(config);
    let mut sizes = HashMap::new();
    let mut start = None;
    loop {
        let out = client
            .scan()
            .table_name(table)
            .set_exclusive_start_key(start)
            .send()
            .await
            .unwrap();
        for item in out.items() {
            if let Some(key) = key_of(Some(item)) {
                sizes.insert(key, item_size(item));
            }
        }
        start = out.last_evaluated_key().cloned();
        if start.is_none() {
            return sizes;
        }
    }
}

// ------------------------------------------------------------------ the report

struct Dollars {
    on_demand: f64,
    provisioned: f64,
}

/// Dollars per million deliveries, and the lines that make them up.
fn price(m: &Measured) -> (Dollars, Vec<String>) {
    let per = |x: f64| x / m.deliveries as f64;
    let mut lines = Vec::new();
    let mut ops: BTreeMap<(&str, &str), (f64, f64)> = BTreeMap::new();
    for c in &m.calls {
        let e = ops.entry((c.service, c.op)).or_default();
        e.0 += 1.0;
        e.1 += c.units;
    }
    let (mut sqs, mut wru, mut rru) = (0.0, 0.0, 0.0);
    for ((service, op), (n, units)) in &ops {
        lines.push(format!(
            "    {service} {op}: {:.3} requests, {:.3} units per delivery",
            per(*n),
            per(*units)
        ));
        match (*service, *op) {
            ("SQS", _) => sqs += units,
            (_, "PutItem" | "UpdateItem" | "DeleteItem" | "TransactWriteItems") => wru += units,
            _ => rru += units,
        }
    }
    let million = 1e6;
    let sqs_d = per(sqs) * price::SQS_PER_M;
    let wru_d = per(wru) * price::WRU_PER_M;
    let rru_d = per(rru) * price::RRU_PER_M;
    let hours = million / (3600.0 * price::UTILISATION);
    let wru_p = per(wru) * hours * price::WCU_HOUR;
    let rru_p = per(rru) * hours * price::RCU_HOUR;
    let lambda = per(m.invocations as f64) * price::LAMBDA_REQ_PER_M
        + per(m.lambda_seconds) * million * price::MEMORY_GB * price::LAMBDA_GB_S;
    let logs = per(m.log_bytes as f64) * million / 1e9 * price::LOGS_PER_GB;
    let api = if m.scenario.publish == Publish::Api {
        per(m.scenario.events as f64) * price::HTTP_API_PER_M
    } else {
        0.0
    };
    let kms = per(m.kms_calls as f64) * price::KMS_PER_M;
    lines.push(format!(
        "    KMS: {} calls in the run (one container), ${kms:.4} per million deliveries",
        m.kms_calls
    ));
    lines.push(format!(
        "    per million deliveries: SQS ${sqs_d:.3}, DynamoDB ${:.3} on demand (${:.3} provisioned), \
         Lambda ${lambda:.3} ({:.1} ms per invocation, {:.3} invocations per delivery), logs ${logs:.3}, API Gateway ${api:.3}",
        wru_d + rru_d,
        wru_p + rru_p,
        1000.0 * m.lambda_seconds / m.invocations.max(1) as f64,
        per(m.invocations as f64),
    ));
    let shared = sqs_d + lambda + logs + api + kms;
    (
        Dollars {
            on_demand: shared + wru_d + rru_d,
            provisioned: shared + wru_p + rru_p,
        },
        lines,
    )
}

fn main() {
    if std::env::var("HOOKLINE_TEST_AWS_ENDPOINT").is_err() {
        if let Ok(endpoint) = std::env::var("HOOKLINE_BENCH_AWS_ENDPOINT") {
            std::env::set_var("HOOKLINE_TEST_AWS_ENDPOINT", endpoint);
        } else {
            eprintln!("cost: needs moto's server (make bench starts it); skipped");
            return;
        }
    }
    let logs = LogBytes::default();
    let writer = logs.clone();
    tracing_subscriber::fmt()
        .json()
        .flatten_event(true)
        .with_current_span(false)
        .with_target(false)
        .with_env_filter(hookline::telemetry::filter("info"))
        .with_writer(move || writer.clone())
        .init();
    let quick = std::env::var("HOOKLINE_BENCH_QUICK").is_ok();
    let runtime = tokio::runtime::Runtime::new().unwrap();
    println!(
        "cost per million deliveries (list prices, us-east-1; EventBridge API destinations ${:.2})",
        price::EVENTBRIDGE_PER_M
    );
    for publish in [Publish::Sqs, Publish::Api] {
        for (fan_out, one_retry) in [(1, false), (10, false), (1, true)] {
            let events = match (quick, fan_out) {
                (true, 1) => 50,
                (true, _) => 10,
                (false, 1) => 200,
                (false, _) => 40,
            };
            let scenario = Scenario {
                publish,
                fan_out,
                one_retry,
                events,
            };
            let measured = runtime.block_on(run(scenario, &logs));
            let (dollars, lines) = price(&measured);
            println!(
                "{:?} publish, fan-out {fan_out}, {}: ${:.3} on demand, ${:.3} provisioned ({} deliveries)",
                publish,
                if one_retry { "one retry each" } else { "first try" },
                dollars.on_demand,
                dollars.provisioned,
                measured.deliveries,
            );
            for line in lines {
                println!("{line}");
            }
        }
    }
}
