//! CPU cost of the per-request work that is ours (not the network's): validating a webhook body,
//! rendering an inbound URL, encoding and signing an outbound delivery, a delivery's queue
//! messages read and written, decoding an answer and extracting variables. Used to choose the release profile's opt-level; run with
//! `cargo bench -p hookline-shared --bench hot_path` (add CARGO_PROFILE_BENCH_OPT_LEVEL=s to
//! compare). Prints nanoseconds per operation, the median of 15 rounds.

use std::hint::black_box;
use std::time::Instant;

use hookline::formats;
use hookline::model::{Format, WebhookPatch, WebhookRules};
use hookline::render::render_url;
use hookline::signing::signature_headers;
use serde_json::json;
use time::OffsetDateTime;

fn median_ns(iterations: u32, mut op: impl FnMut()) -> f64 {
    let mut rounds: Vec<f64> = (0..15)
        .map(|_| {
            let start = Instant::now();
            for _ in 0..iterations {
                op();
            }
            start.elapsed().as_nanos() as f64 / iterations as f64
        })
        .collect();
    rounds.sort_by(|a, b| a.partial_cmp(b).unwrap());
    rounds[7]
}

fn main() {
    let now = OffsetDateTime::now_utc();
    let rules = WebhookRules {
        allow_plain_http: false,
        ..Default::default()
    };
    let body = json!({"name": "CRM sync", "flow": "outbound", "url": "https://crm.example.com/hooks/acquire",
                      "notificationEmail": "ops@example.com", "events": ["case:new", "case:status:closed"],
                      "security": {"type": "hmac", "secret": "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"}});
    let webhook = WebhookPatch::from_json(&body)
        .unwrap()
        .create("wh_1".into(), "acme".into(), now, &rules)
        .unwrap();
    let event = json!({"event": "case:status:closed", "data": {"caseId": "72", "status": "closed", "fields": {},
        "contact": {"id": "5", "fields": {"name": "Jhon", "email": "jhon@example.com", "phone": "+15555550100",
                                          "city": "Austin", "state": "TX", "countryId": "US", "ip": "203.0.113.7"}},
        "messages": (0..5).map(|i| json!({"id": i.to_string(), "channel": "chat", "senderId": "5", "senderType": "contact",
            "type": "message", "message": "Hello, where is my order? It was due yesterday.", "seen": "yes",
            "dateCreated": "2026-11-25T12:00:00Z"})).collect::<Vec<_>>()}});
    let answer = serde_json::to_vec(&json!({"customer": {"name": "Ada", "tier": "gold"},
        "orders": (0..10).map(|i| json!({"id": i, "status": "shipped", "items": [{"sku": "A1", "qty": 2}]})).collect::<Vec<_>>()}))
        .unwrap();
    let paths: Vec<String> = vec![
        "customer.name".into(),
        "orders[3].status".into(),
        "orders[9].items[0].sku".into(),
    ];
    let vars = json!({"visitor": {"email": "ada@example.com"}, "case.id": "72", "q": "a&b=c d"});
    // The two queue messages of a delivery: the event as published, and the delivery message
    // its fan-out writes (carrying the webhook and the event).
    let published = hookline::events::Event::from_publish(&event, "acme", now).unwrap();
    let queued_event = serde_json::to_string(&hookline::queue::EventMessage {
        event: published.clone(),
        republished: false,
    })
    .unwrap();
    let message = hookline::queue::DeliveryMessage {
        webhook: Some(std::sync::Arc::new(webhook.clone())),
        ..hookline::queue::DeliveryMessage::new(
            hookline::model::delivery_id(&published, &webhook.id),
            "acme",
            &webhook.id,
        )
    };
    let event_json = serde_json::to_string(&published).unwrap();
    let delivery_body = message.encode_with_event(&event_json).body;
    let payload = hookline::outbound::payload(&webhook, &published);

    let results = [
        (
            "validate a webhook body",
            median_ns(20_000, || {
                black_box(
                    WebhookPatch::from_json(black_box(&body))
                        .unwrap()
                        .create("wh_1".into(), "acme".into(), now, &rules)
                        .unwrap(),
                );
            }),
        ),
        (
            "render an inbound URL",
            median_ns(200_000, || {
                black_box(render_url(black_box("https://shop.example.com/orders/{{case.id}}?email={{visitor.email}}&q={{q}}"), &vars));
            }),
        ),
        (
            "encode + sign a delivery (JSON)",
            median_ns(20_000, || {
                let payload = formats::encode(Format::Json, "webhook", black_box(&event));
                black_box(signature_headers(
                    &webhook.security,
                    "dlv_01J",
                    now,
                    &payload,
                ));
            }),
        ),
        (
            "sign a delivery",
            median_ns(20_000, || {
                black_box(signature_headers(
                    &webhook.security,
                    "dlv_01J",
                    now,
                    black_box(&payload),
                ));
            }),
        ),
        (
            "payload of a delivery (JSON)",
            median_ns(20_000, || {
                black_box(hookline::outbound::payload(&webhook, black_box(&published)));
            }),
        ),
        (
            "read a queued event",
            median_ns(20_000, || {
                black_box(
                    serde_json::from_str::<hookline::queue::EventMessage>(black_box(&queued_event))
                        .unwrap(),
                );
            }),
        ),
        (
            "read a queued event and check it",
            median_ns(20_000, || {
                let m: hookline::queue::EventMessage =
                    serde_json::from_str(black_box(&queued_event)).unwrap();
                m.event.check_queued().unwrap();
                black_box(m);
            }),
        ),
        (
            // Both with the webhook's text memoised (`carried_webhook`), as in a warm container.
            "write a delivery message (fan-out)",
            median_ns(20_000, || {
                black_box(black_box(&message).encode_with_event(&event_json));
            }),
        ),
        (
            "read a delivery message",
            median_ns(20_000, || {
                black_box(
                    serde_json::from_str::<hookline::queue::DeliveryMessage>(black_box(
                        &delivery_body,
                    ))
                    .unwrap(),
                );
            }),
        ),
        (
            "encode a delivery (XML)",
            median_ns(20_000, || {
                black_box(formats::encode(Format::Xml, "webhook", black_box(&event)));
            }),
        ),
        (
            "decode an answer + extract variables",
            median_ns(20_000, || {
                let value = formats::decode(Format::Json, black_box(&answer)).unwrap();
                black_box(formats::variables(&value, &paths));
            }),
        ),
    ];
    println!("{:<40} {:>12}", "operation", "ns/op");
    for (name, ns) in results {
        println!("{name:<40} {ns:>12.0}");
    }
}
