//! Upgrade in place: a stack updated while deliveries are in flight in the v1 format (a retry
//! message on the deliveries queue, its record holding the event, an event queued before the
//! update) keeps delivering them. Against moto's SQS and DynamoDB and a real receiver.

use std::sync::Arc;

use hookline::clock::SystemClock;
use hookline::http::ReqwestClient;
use hookline::model::{Attempt, Delivery, DeliveryStatus};
use hookline::notify::RecordingMailer;
use hookline::outbound::{Deliverer, DeliverySettings};
use hookline::queue::{RetryMessage, SqsDeliveryQueue};
use hookline::store::{DeliveryStore, Lease};
use hookline_tests::upstream::{Reply, Upstream};
use hookline_tests::{add_outbound_webhook, outbound_body};
use serde_json::{json, Value};
use time::OffsetDateTime;

#[tokio::test]
async fn deliveries_in_flight_in_the_v1_format_are_delivered_after_the_update() {
    let store = hookline_tests::fresh_store().await;
    let receiver = Upstream::start(vec![Reply::status(200, "ok")]).await;
    let webhook = add_outbound_webhook(&store, "acme", &outbound_body(&receiver.url)).await;
    let now = OffsetDateTime::now_utc();

    // Before the update, v1 tried event A once (a 500): its record holds the event's data,
    // and its retry message waits on the deliveries queue.
    let mut a = hookline_tests::case_new("acme", "evt_before_update");
    a.data = hookline::events::EventData::from_value(
        &json!({"caseId": "A-1", "note": "kept in the v1 record"}),
    );
    let pending = Delivery::new(&a, &webhook.id, now, true);
    let lease = Lease {
        token: "lease_v1".into(),
        until: now + time::Duration::seconds(60),
    };
    let expires = now + time::Duration::days(30);
    store
        .claim_delivery(pending.clone(), &lease, now, expires)
        .await
        .unwrap();
    let failed = Attempt {
        at: now,
        status: Some(500),
        error: Some("HTTP 500".into()),
        duration_ms: 12,
        response_body: Some("down".into()),
        manual: false,
    };
    store
        .record_attempt(
            &pending,
            &lease.token,
            &failed,
            DeliveryStatus::Pending,
            Some(now),
            expires,
        )
        .await
        .unwrap();
    let (sqs, events_url) = hookline_tests::fresh_queue("events").await;
    let (_, deliveries_url) = hookline_tests::fresh_queue("deliveries").await;
    let retry = RetryMessage {
        account_id: "acme".into(),
        webhook_id: webhook.id.clone(),
        delivery_id: pending.id.clone(),
        due_at: now,
        manual: false,
    };
    let v1_retry = serde_json::to_string(&retry).unwrap();
    assert!(!v1_retry.contains("\"v\""), "v1's messages have no version");
    // And event B was published before the update, in v1's event format (the event alone).
    let b = hookline_tests::case_new("acme", "evt_queued_before_update");
    for (url, body) in [
        (&deliveries_url, v1_retry),
        (&events_url, serde_json::to_string(&b).unwrap()),
    ] {
        sqs.send_message()
            .queue_url(url)
            .message_body(body)
            .send()
            .await
            .unwrap();
    }

    // The updated function takes both queues over.
    let engine = Deliverer::new(
        store.clone(),
        ReqwestClient::new(hookline_tests::local_egress()),
        RecordingMailer::default(),
        SqsDeliveryQueue::new(sqs.clone(), &deliveries_url),
        Arc::new(SystemClock),
        hookline::random::os(),
        DeliverySettings::default(),
    );
    for url in [&events_url, &deliveries_url, &deliveries_url] {
        let arn = hookline::local::queue_arn(&sqs, url).await.unwrap();
        let (_, kept) = hookline::local::pump_once(&sqs, url, &arn, 0, None, |batch| async {
            Ok(hookline_tests::invoke(&engine, batch).await)
        })
        .await
        .unwrap();
        assert_eq!(kept, 0, "nothing kept on {url}");
    }

    // A's retry went out under A's webhook-id, with the data its v1 record held.
    let got = receiver.received();
    assert_eq!(got.len(), 2, "A's retry and B's first try");
    let to_a = got
        .iter()
        .find(|r| r.header("webhook-id") == Some(pending.id.as_str()))
        .expect("A's retry was sent");
    let body: Value = serde_json::from_slice(&to_a.body).unwrap();
    assert_eq!(body["data"]["note"], "kept in the v1 record");
    let a_now = store
        .get_delivery("acme", &webhook.id, &pending.id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (a_now.status, a_now.attempts.len()),
        (DeliveryStatus::Succeeded, 2)
    );
    // B fanned out and was delivered once.
    let b_id = hookline::model::delivery_id(&b, &webhook.id);
    let b_now = store
        .get_delivery("acme", &webhook.id, &b_id)
        .await
        .unwrap()
        .expect("B was delivered");
    assert_eq!(
        (b_now.status, b_now.attempts.len()),
        (DeliveryStatus::Succeeded, 1)
    );
    // Both queues are empty: nothing was left behind or dead-lettered.
    for url in [&events_url, &deliveries_url] {
        let left = sqs
            .receive_message()
            .queue_url(url)
            .max_number_of_messages(10)
            .send()
            .await
            .unwrap();
        assert!(left.messages().is_empty(), "{url} is drained");
    }
}
