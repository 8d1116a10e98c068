//! Outbound delivery against DynamoDB (moto) and real receivers on 127.0.0.1.

use std::sync::Arc;
use std::time::Duration;

use hookline::clock::{Clock, ManualClock};
use hookline::events::Event;
use hookline::http::ReqwestClient;
use hookline::model::{DeliveryStatus, Status, Webhook};
use hookline::notify::RecordingMailer;
use hookline::outbound::DeliverySettings;
use hookline::outbound::{Deliverer, Handled};
use hookline::queue::MemoryDeliveryQueue;
use hookline::store::dynamo::DynamoStore;
use hookline::store::{DeliveryStore, SubscriptionIndex, WebhookStore};
use hookline_tests::upstream::{Reply, Upstream};
use hookline_tests::{deliver_event, receive, sqs_batch, take_queued};
use serde_json::{json, Value};
use time::OffsetDateTime;

type TestDeliverer = Deliverer<DynamoStore, ReqwestClient, RecordingMailer, MemoryDeliveryQueue>;

const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

async fn deliverer(settings: DeliverySettings) -> (TestDeliverer, Arc<ManualClock>) {
    let clock = Arc::new(ManualClock::new(
        OffsetDateTime::now_utc().replace_nanosecond(0).unwrap(),
    ));
    let d = Deliverer::new(
        hookline_tests::fresh_store().await,
        ReqwestClient::new(hookline_tests::local_egress()),
        RecordingMailer::default(),
        MemoryDeliveryQueue::default(),
        clock.clone(),
        hookline::random::os(),
        settings,
    );
    (d, clock)
}

async fn add_webhook(store: &DynamoStore, account: &str, url: &str, extra: Value) -> Webhook {
    let mut body = json!({"name": "CRM", "flow": "outbound", "url": url, "notificationEmail": "ops@example.com",
                          "events": ["case:new", "case:status:closed"], "timeoutMs": 2000,
                          "security": {"type": "hmac", "secret": SECRET}});
    for (k, v) in extra.as_object().unwrap() {
        body[k] = v.clone();
    }
    hookline_tests::add_outbound_webhook(store, account, &body).await
}

fn event(account: &str, id: &str, name: &str) -> Event {
    Event::from_publish(
        &json!({"id": id, "event": name, "data": {"caseId": "72", "status": "closed", "contact": {"id": "5", "fields": {"name": "Jhon"}}}}),
        account,
        OffsetDateTime::now_utc(),
    )
    .unwrap()
}

fn verify_signatures(got: &hookline_tests::upstream::Received) {
    hookline_tests::upstream::verify_signatures(got, SECRET);
}

#[tokio::test]
async fn fans_out_to_subscribed_active_webhooks_of_the_account_only() {
    let (d, _) = deliverer(DeliverySettings::default()).await;
    let receivers = [
        Upstream::start(vec![Reply::status(200, "ok")]).await,
        Upstream::start(vec![Reply::status(204, "")]).await,
        Upstream::start(vec![Reply::status(200, "")]).await,
    ];
    let mut hooks = Vec::new();
    for r in &receivers {
        hooks.push(add_webhook(d.store(), "acme", &r.url, json!({})).await);
    }
    let others = Upstream::start(vec![Reply::status(200, "")]).await;
    add_webhook(d.store(), "globex", &others.url, json!({})).await;
    add_webhook(
        d.store(),
        "acme",
        &others.url,
        json!({"events": ["agent:status"]}),
    )
    .await;
    add_webhook(
        d.store(),
        "acme",
        &others.url,
        json!({"status": "inactive"}),
    )
    .await;

    let n = deliver_event(&d, &event("acme", "evt_1", "case:status:closed")).await;
    assert_eq!(n, 3);
    assert_eq!(
        others.calls(),
        0,
        "another account's, an unsubscribed and an inactive webhook get nothing"
    );
    for (r, w) in receivers.iter().zip(&hooks) {
        assert_eq!(r.calls(), 1);
        let got = &r.received()[0];
        assert_eq!(got.method, "POST");
        assert_eq!(got.header("content-type"), Some("application/json"));
        assert!(got
            .header("user-agent")
            .unwrap()
            .starts_with("Hookline-Webhooks/"));
        let body: Value = serde_json::from_slice(&got.body).unwrap();
        assert_eq!(
            body,
            json!({"event": "case:status:closed", "data": {"caseId": "72", "status": "closed",
                                "contact": {"id": "5", "fields": {"name": "Jhon"}}}})
        );
        verify_signatures(got);
        let id = got.header("webhook-id").unwrap();
        let delivery = d
            .store()
            .get_delivery("acme", &w.id, id)
            .await
            .unwrap()
            .expect("the delivery is logged");
        assert_eq!(delivery.status, DeliveryStatus::Succeeded);
        assert_eq!(delivery.attempts.len(), 1);
    }
    assert!(take_queued(&d).is_empty(), "no retry");
}

#[tokio::test]
async fn a_failure_retries_later_with_the_same_webhook_id() {
    let (d, clock) = deliverer(DeliverySettings::default()).await;
    let r = Upstream::start(vec![
        Reply::status(500, "down for maintenance"),
        Reply::status(200, "ok"),
    ])
    .await;
    let w = add_webhook(d.store(), "acme", &r.url, json!({})).await;
    deliver_event(&d, &event("acme", "evt_2", "case:new")).await;

    let message = take_queued(&d).remove(0);
    let delay = message.due_at.unwrap() - clock.now();
    assert!(
        (4..=6).contains(&delay.whole_seconds()),
        "first retry after 5 s ± 20%: {delay:?}"
    );
    let pending = d
        .store()
        .get_delivery("acme", &w.id, &message.delivery_id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(pending.status, DeliveryStatus::Pending);
    assert_eq!(pending.attempts[0].status, Some(500));
    assert_eq!(
        pending.attempts[0].response_body.as_deref(),
        Some("down for maintenance")
    );

    // Early: nothing is sent, the message is hidden until due.
    assert_eq!(
        receive(&d, &message).await,
        Handled::KeepUntil(message.due_at.unwrap())
    );
    assert_eq!(r.calls(), 1);
    clock.advance(time::Duration::seconds(7));
    assert_eq!(receive(&d, &message).await, Handled::Done);
    assert_eq!(r.calls(), 2);
    let got = r.received();
    assert_eq!(
        got[0].header("webhook-id"),
        got[1].header("webhook-id"),
        "the id is stable across retries"
    );
    assert_ne!(
        got[0].header("webhook-timestamp"),
        got[1].header("webhook-timestamp"),
        "each try is signed anew"
    );
    verify_signatures(&got[1]);
    let done = d
        .store()
        .get_delivery("acme", &w.id, &message.delivery_id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (done.status, done.attempts.len()),
        (DeliveryStatus::Succeeded, 2)
    );

    // The same retry message again (SQS delivers at least once): nothing is sent.
    assert_eq!(receive(&d, &message).await, Handled::Done);
    assert_eq!(r.calls(), 2);
}

#[tokio::test]
async fn a_redelivered_batch_sends_nothing_twice() {
    let (d, clock) = deliverer(DeliverySettings::default()).await;
    let r = Upstream::start(vec![Reply::status(200, "")]).await;
    add_webhook(d.store(), "acme", &r.url, json!({})).await;
    let event = event("acme", "evt_3", "case:new");
    // Published through the API: kept, queued, marked.
    let events = hookline::queue::MemoryEventQueue::default();
    let published = hookline::outbound::publish(d.store(), &events, &event, clock.now())
        .await
        .unwrap();
    assert!(published.queued && published.marked);
    let body = serde_json::to_string(&event).unwrap();
    // The events queue hands the event over three times (a crash, a lost delete): each
    // fan-out queues its deliveries, the repeats' checked.
    let mut batch = sqs_batch(&[("m1", body.clone())]);
    for _ in 0..3 {
        let response = hookline_tests::invoke(&d, batch.clone()).await;
        assert!(response.batch_item_failures.is_empty());
        batch = hookline_tests::received_again(batch);
    }
    let messages = take_queued(&d);
    assert_eq!(messages.len(), 3);
    assert_eq!(
        messages.iter().filter(|m| m.check).count(),
        2,
        "the repeats' messages claim before they send"
    );
    // The first fan-out's message goes at once; the repeats' wait until it has recorded.
    assert_eq!(receive(&d, &messages[0]).await, Handled::Done);
    // The helpers' invocations have 2 minutes: a function with a 120 s timeout.
    clock.advance(hookline::outbound::repeat_delay(
        std::time::Duration::from_secs(120),
    ));
    for message in &messages[1..] {
        assert_eq!(receive(&d, message).await, Handled::Done);
    }
    assert_eq!(r.calls(), 1);
    // Published again under its id: the API queues nothing.
    let again = hookline::outbound::publish(d.store(), &events, &event, clock.now())
        .await
        .unwrap();
    assert!(!again.queued);
    assert_eq!(events.0.lock().unwrap().len(), 1);
}

#[tokio::test]
async fn partial_batch_failures_name_only_the_messages_to_keep() {
    let (d, _) = deliverer(DeliverySettings::default()).await;
    let r = Upstream::start(vec![Reply::status(200, "")]).await;
    add_webhook(d.store(), "acme", &r.url, json!({})).await;
    let good = serde_json::to_string(&event("acme", "evt_4", "case:new")).unwrap();
    let future = json!({"v": 2, "accountId": "acme", "webhookId": "wh_x", "deliveryId": "dlv_x",
                        "dueAt": "2099-01-01T00:00:00Z"})
    .to_string();
    let batch = sqs_batch(&[
        ("good", good),
        ("poison", "{not json".into()),
        ("early", future),
        ("odd", "{\"id\": 1}".into()),
    ]);
    let response = hookline_tests::invoke(&d, batch).await;
    let mut kept: Vec<String> = response
        .batch_item_failures
        .iter()
        .map(|f| f.item_identifier.clone())
        .collect();
    kept.sort();
    assert_eq!(kept, vec!["early", "odd", "poison"]);
    assert_eq!(take_queued(&d).len(), 1, "the good event fanned out");
    let postponed = d.queue().postponed.lock().unwrap().clone();
    assert_eq!(postponed.len(), 1);
    assert_eq!(postponed[0].0, "receipt-early");
    assert_eq!(
        postponed[0].1,
        hookline::queue::MAX_HIDE,
        "hidden for as long as SQS's 12 hours from the receive allow, then again"
    );
}

#[tokio::test]
async fn gone_410_disables_the_webhook_at_once() {
    let (d, _) = deliverer(DeliverySettings::default()).await;
    let r = Upstream::start(vec![Reply::status(410, "gone")]).await;
    let w = add_webhook(d.store(), "acme", &r.url, json!({})).await;
    deliver_event(&d, &event("acme", "evt_5", "case:new")).await;
    let now = d.store().get_webhook("acme", &w.id).await.unwrap().unwrap();
    assert_eq!(now.status, Status::Inactive);
    assert!(d
        .store()
        .active_webhooks_for("acme", hookline::model::EventType::CaseNew)
        .await
        .unwrap()
        .is_empty());
    assert!(take_queued(&d).is_empty(), "no retry after 410");
    hookline_tests::send_queued_notices(&d).await;
    let sent = d.mailer().sent();
    assert_eq!(sent.len(), 1);
    assert!(
        sent[0].subject.contains("disabled") && sent[0].text.contains("410"),
        "{sent:?}"
    );
}

#[tokio::test]
async fn retry_after_stretches_the_wait_within_twice_the_slot() {
    let settings = DeliverySettings {
        schedule: vec![Duration::from_secs(10), Duration::from_secs(10)],
        ..DeliverySettings::default()
    };
    let (d, clock) = deliverer(settings).await;
    let r = Upstream::start(vec![
        Reply::status(503, "").with_header("retry-after", "15"),
        Reply::status(429, "").with_header("retry-after", "3600"),
    ])
    .await;
    let w = add_webhook(d.store(), "acme", &r.url, json!({})).await;
    deliver_event(&d, &event("acme", "evt_6", "case:new")).await;
    let message = take_queued(&d).remove(0);
    let delivery = d
        .store()
        .get_delivery("acme", &w.id, &message.delivery_id)
        .await
        .unwrap()
        .unwrap();
    let wait = delivery.next_attempt_at.unwrap() - delivery.attempts[0].at;
    assert_eq!(
        wait,
        time::Duration::seconds(15),
        "Retry-After: 15 within [slot, 2 x slot] is honoured"
    );

    clock.advance(time::Duration::seconds(20));
    receive(&d, &message).await;
    let delivery = d
        .store()
        .get_delivery("acme", &w.id, &message.delivery_id)
        .await
        .unwrap()
        .unwrap();
    let wait = delivery.next_attempt_at.unwrap() - delivery.attempts[1].at;
    assert!(
        wait >= time::Duration::seconds(16) && wait <= time::Duration::seconds(24),
        "an hour is clamped to 2 x slot: {wait}"
    );
}

#[tokio::test]
async fn xml_and_form_bodies() {
    let (d, _) = deliverer(DeliverySettings::default()).await;
    let xml = Upstream::start(vec![Reply::status(200, "")]).await;
    let form = Upstream::start(vec![Reply::status(200, "")]).await;
    add_webhook(
        d.store(),
        "acme",
        &xml.url,
        json!({"format": "application/xml"}),
    )
    .await;
    add_webhook(
        d.store(),
        "acme",
        &form.url,
        json!({"format": "application/x-www-form-urlencoded"}),
    )
    .await;
    deliver_event(&d, &event("acme", "evt_7", "case:new")).await;
    let x = &xml.received()[0];
    assert_eq!(x.header("content-type"), Some("application/xml"));
    assert_eq!(
        String::from_utf8(x.body.clone()).unwrap(),
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?><webhook><event>case:new</event><data><caseId>72</caseId>\
         <status>closed</status><contact><id>5</id><fields><name>Jhon</name></fields></contact></data></webhook>"
    );
    verify_signatures(x);
    let f = &form.received()[0];
    assert_eq!(
        f.header("content-type"),
        Some("application/x-www-form-urlencoded")
    );
    assert_eq!(
        String::from_utf8(f.body.clone()).unwrap(),
        "event=case%3Anew&data%5BcaseId%5D=72&data%5Bstatus%5D=closed&data%5Bcontact%5D%5Bid%5D=5\
         &data%5Bcontact%5D%5Bfields%5D%5Bname%5D=Jhon"
    );
}

#[tokio::test]
async fn exhaustion_sends_the_e_mail_through_the_local_ses() {
    let clock = Arc::new(ManualClock::new(OffsetDateTime::now_utc()));
    let d = Deliverer::new(
        hookline_tests::fresh_store().await,
        ReqwestClient::new(hookline_tests::local_egress()),
        hookline_tests::ses_mailer().await,
        MemoryDeliveryQueue::default(),
        clock.clone(),
        hookline::random::os(),
        DeliverySettings {
            schedule: vec![Duration::from_secs(1)],
            ..DeliverySettings::default()
        },
    );
    let to = hookline_tests::unique_email();
    let r = Upstream::start(vec![Reply::status(500, "")]).await;
    let w = add_webhook(d.store(), "acme", &r.url, json!({"notificationEmail": to})).await;
    deliver_event(&d, &event("acme", "evt_8", "case:new")).await;
    let message = take_queued(&d).remove(0);
    clock.advance(time::Duration::seconds(5));
    receive(&d, &message).await;
    let delivery = d
        .store()
        .get_delivery("acme", &w.id, &message.delivery_id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (delivery.status, delivery.attempts.len()),
        (DeliveryStatus::Failed, 2)
    );
    assert!(take_queued(&d).is_empty(), "no retry after the last");
    hookline_tests::send_queued_notices(&d).await;
    let sent = hookline_tests::emails_to(&to).await;
    assert_eq!(sent.len(), 1, "{sent:?}");
    assert!(sent[0].subject.contains("failed for good"));
    assert!(sent[0].body.contains(&delivery.id) && sent[0].body.contains("evt_8"));
    assert!(!sent[0].body.contains(SECRET));
}

#[tokio::test]
async fn four_failures_in_a_row_warn_once_and_a_success_resets_the_streak() {
    let settings = DeliverySettings {
        schedule: vec![Duration::from_secs(1); 6],
        ..DeliverySettings::default()
    };
    let (d, _) = deliverer(settings).await;
    let r = Upstream::start(vec![Reply::status(500, "")]).await;
    add_webhook(d.store(), "acme", &r.url, json!({})).await;
    for i in 0..5 {
        deliver_event(&d, &event("acme", &format!("evt_f{i}"), "case:new")).await;
    }
    hookline_tests::send_queued_notices(&d).await;
    let warnings: Vec<_> = d
        .mailer()
        .sent()
        .into_iter()
        .filter(|m| m.subject.contains("is failing"))
        .collect();
    assert_eq!(warnings.len(), 1, "one early warning after the 4th failure");
    assert!(warnings[0].text.contains("The last 4 delivery attempts"));
}

#[tokio::test]
async fn a_manual_resend_is_a_new_attempt_with_the_same_id() {
    let (d, _) = deliverer(DeliverySettings {
        schedule: vec![],
        ..DeliverySettings::default()
    })
    .await;
    let r = Upstream::start(vec![Reply::status(500, ""), Reply::status(200, "thanks")]).await;
    let w = add_webhook(d.store(), "acme", &r.url, json!({})).await;
    deliver_event(&d, &event("acme", "evt_9", "case:new")).await;
    let id = r.received()[0].header("webhook-id").unwrap().to_string();
    assert_eq!(
        d.store()
            .get_delivery("acme", &w.id, &id)
            .await
            .unwrap()
            .unwrap()
            .status,
        DeliveryStatus::Failed
    );

    let attempt = d.resend(&w, &id).await.unwrap().expect("claimed");
    assert_eq!((attempt.status, attempt.manual), (Some(200), true));
    assert_eq!(r.received()[1].header("webhook-id"), Some(id.as_str()));
    let delivery = d
        .store()
        .get_delivery("acme", &w.id, &id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (delivery.status, delivery.attempts.len()),
        (DeliveryStatus::Succeeded, 2)
    );
}

#[tokio::test]
async fn a_poison_message_reaches_the_dlq_and_good_events_are_delivered_once() {
    let (d, _) = deliverer(DeliverySettings::default()).await;
    let r = Upstream::start(vec![Reply::status(200, "")]).await;
    add_webhook(d.store(), "acme", &r.url, json!({})).await;
    let sqs = aws_sdk_sqs::Client::new(&hookline_tests::sdk_config().await);
    let name = format!(
        "events-{}",
        hookline::ids::ulid(OffsetDateTime::now_utc()).to_lowercase()
    );
    let url = hookline::local::create_queue_with_dlq(&sqs, &name, 3)
        .await
        .unwrap();
    let arn = hookline::local::queue_arn(&sqs, &url).await.unwrap();
    let good = serde_json::to_string(&event("acme", "evt_ok", "case:new")).unwrap();
    for body in ["{this is not an event", good.as_str()] {
        sqs.send_message()
            .queue_url(&url)
            .message_body(body)
            .send()
            .await
            .unwrap();
    }
    // The event source, with the visibility timeout at 0 so a kept message comes straight back.
    let mut handed = 0;
    for _ in 0..10 {
        let (n, _) = hookline::local::pump_once(&sqs, &url, &arn, 0, Some(0), |event| async {
            Ok(hookline_tests::invoke(&d, event).await)
        })
        .await
        .unwrap();
        handed += n;
        if n == 0 {
            break;
        }
    }
    assert!(
        handed >= 4,
        "the poison message was received 3 times, the good one once: {handed}"
    );
    for message in take_queued(&d) {
        receive(&d, &message).await;
    }
    assert_eq!(r.calls(), 1, "the good event was delivered exactly once");
    let dlq_url = sqs
        .get_queue_url()
        .queue_name(format!("{name}-dlq"))
        .send()
        .await
        .unwrap()
        .queue_url()
        .unwrap()
        .to_string();
    let dead = sqs
        .receive_message()
        .queue_url(&dlq_url)
        .max_number_of_messages(10)
        .send()
        .await
        .unwrap();
    let bodies: Vec<&str> = dead.messages().iter().filter_map(|m| m.body()).collect();
    assert_eq!(bodies, vec!["{this is not an event"]);
    let left = sqs
        .receive_message()
        .queue_url(&url)
        .max_number_of_messages(10)
        .send()
        .await
        .unwrap();
    assert!(
        left.messages().is_empty(),
        "nothing loops on the events queue"
    );
}

#[tokio::test]
async fn five_days_of_failures_disable_the_webhook() {
    let settings = DeliverySettings {
        schedule: vec![Duration::from_secs(3600); 9],
        ..DeliverySettings::default()
    };
    let (d, clock) = deliverer(settings).await;
    let r = Upstream::start(vec![Reply::status(500, "")]).await;
    let w = add_webhook(d.store(), "acme", &r.url, json!({})).await;
    deliver_event(&d, &event("acme", "evt_d1", "case:new")).await;
    clock.advance(time::Duration::days(4));
    deliver_event(&d, &event("acme", "evt_d2", "case:new")).await;
    assert_eq!(
        d.store()
            .get_webhook("acme", &w.id)
            .await
            .unwrap()
            .unwrap()
            .status,
        Status::Active,
        "4 days is not yet 5"
    );
    clock.advance(time::Duration::days(1));
    deliver_event(&d, &event("acme", "evt_d3", "case:new")).await;
    assert_eq!(
        d.store()
            .get_webhook("acme", &w.id)
            .await
            .unwrap()
            .unwrap()
            .status,
        Status::Inactive
    );
    hookline_tests::send_queued_notices(&d).await;
    assert!(d
        .mailer()
        .sent()
        .iter()
        .any(|m| m.subject.contains("disabled") && m.text.contains("5 days")));

    // A success in between restarts the clock.
    let (d, clock) = deliverer(DeliverySettings {
        schedule: vec![Duration::from_secs(3600); 9],
        ..DeliverySettings::default()
    })
    .await;
    let r = Upstream::start(vec![
        Reply::status(500, ""),
        Reply::status(200, ""),
        Reply::status(500, ""),
    ])
    .await;
    let w = add_webhook(d.store(), "acme", &r.url, json!({})).await;
    for (i, days) in [(1, 0), (2, 3), (3, 3)] {
        clock.advance(time::Duration::days(days));
        deliver_event(&d, &event("acme", &format!("evt_s{i}"), "case:new")).await;
    }
    assert_eq!(
        d.store()
            .get_webhook("acme", &w.id)
            .await
            .unwrap()
            .unwrap()
            .status,
        Status::Active
    );
}

/// Records the name of every DynamoDB operation the SDK sends.
#[derive(Debug, Clone, Default)]
struct OperationLog(Arc<std::sync::Mutex<Vec<String>>>);

impl aws_sdk_dynamodb::config::Intercept for OperationLog {
    fn name(&self) -> &'static str {
        "operation-log"
    }

    fn read_before_execution(
        &self,
        context: &aws_smithy_runtime_api::client::interceptors::context::BeforeSerializationInterceptorContextRef<'_>,
        _cfg: &mut aws_sdk_dynamodb::config::ConfigBag,
    ) -> Result<(), aws_smithy_runtime_api::box_error::BoxError> {
        use aws_sdk_dynamodb::operation::*;
        let input = context.input();
        let name = if input.downcast_ref::<query::QueryInput>().is_some() {
            "Query"
        } else if input.downcast_ref::<put_item::PutItemInput>().is_some() {
            "PutItem"
        } else if input
            .downcast_ref::<update_item::UpdateItemInput>()
            .is_some()
        {
            "UpdateItem"
        } else if input.downcast_ref::<get_item::GetItemInput>().is_some() {
            "GetItem"
        } else if input
            .downcast_ref::<delete_item::DeleteItemInput>()
            .is_some()
        {
            "DeleteItem"
        } else if input
            .downcast_ref::<transact_write_items::TransactWriteItemsInput>()
            .is_some()
        {
            "TransactWriteItems"
        } else {
            "other"
        };
        self.0.lock().unwrap().push(name.to_string());
        Ok(())
    }
}

impl OperationLog {
    fn take(&self) -> Vec<String> {
        std::mem::take(&mut *self.0.lock().unwrap())
    }
}

#[tokio::test]
async fn dynamodb_calls_per_delivery_are_counted() {
    let plain = hookline_tests::fresh_store().await;
    let log = OperationLog::default();
    let config = aws_sdk_dynamodb::config::Builder::from(&hookline_tests::sdk_config().await)
        .interceptor(log.clone())
        .build();
    // As deployed: credentials sealed (KMS calls are not DynamoDB calls, and cost none here).
    let store = DynamoStore::new(aws_sdk_dynamodb::Client::from_conf(config), plain.table())
        .with_sealer(hookline_tests::sealer().await);
    let (d, _) = deliverer(DeliverySettings::default()).await;
    let d = d.with_store(store);
    let ok = Upstream::start(vec![Reply::status(200, "")]).await;
    add_webhook(d.store(), "acme", &ok.url, json!({})).await;
    log.take();

    deliver_event(&d, &event("acme", "evt_cost1", "case:new")).await;
    let mut ops = log.take();
    ops.sort();
    // The fan-out's Query, and per first-try success one write, its outcome (PutItem): no
    // read, no claim, no copy of the event.
    assert_eq!(ops, vec!["PutItem", "Query"]);

    let failing = Upstream::start(vec![Reply::status(500, "")]).await;
    let other = add_webhook(d.store(), "globex", &failing.url, json!({})).await;
    log.take();
    deliver_event(&d, &event("globex", "evt_cost2", "case:new")).await;
    let mut ops = log.take();
    ops.sort();
    // A failed first try: the event kept for its retry (PutItem), the outcome (PutItem), the
    // streak count (UpdateItem) and, as the streak starts, the mark on each of the webhook's
    // two subscription entries (UpdateItem): 5 writes, no read. A later failure writes 3.
    assert_eq!(
        ops,
        vec![
            "PutItem",
            "PutItem",
            "Query",
            "UpdateItem",
            "UpdateItem",
            "UpdateItem"
        ],
        "webhook {}",
        other.id
    );
}

#[tokio::test]
async fn deliveries_to_internal_addresses_are_refused_and_retried_later() {
    let (d, _) = deliverer(DeliverySettings::default()).await;
    let d = d.with_http(ReqwestClient::new(
        hookline::egress::EgressPolicy::public_only(),
    ));
    let r = Upstream::start(vec![Reply::status(200, "")]).await;
    let w = add_webhook(d.store(), "acme", &r.url, json!({})).await;
    deliver_event(&d, &event("acme", "evt_ssrf", "case:new")).await;
    assert_eq!(r.calls(), 0);
    let message = take_queued(&d).remove(0);
    let delivery = d
        .store()
        .get_delivery("acme", &w.id, &message.delivery_id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        delivery.status,
        DeliveryStatus::Pending,
        "DNS can change; the schedule goes on"
    );
    assert_eq!(
        delivery.attempts[0].error.as_deref(),
        Some("refused: 127.0.0.1 is a loopback address")
    );
}

#[tokio::test]
async fn an_event_id_published_twice_without_occurred_at_is_delivered_once() {
    let (d, clock) = deliverer(DeliverySettings::default()).await;
    let r = Upstream::start(vec![Reply::status(200, "")]).await;
    let w = add_webhook(d.store(), "acme", &r.url, json!({})).await;
    let events = hookline::queue::MemoryEventQueue::default();
    let body = json!({"id": "evt_crm-42", "event": "case:new", "data": {"caseId": "42"}});
    let first = Event::from_publish(&body, "acme", clock.now()).unwrap();
    hookline::outbound::publish(d.store(), &events, &first, clock.now())
        .await
        .unwrap();
    // The publisher's retry ten minutes later: same id, another publish time.
    clock.advance(time::Duration::minutes(10));
    let again = Event::from_publish(&body, "acme", clock.now()).unwrap();
    assert_ne!(again.occurred_at, first.occurred_at);
    let published = hookline::outbound::publish(d.store(), &events, &again, clock.now())
        .await
        .unwrap();
    assert!(!published.queued, "the id is known: nothing is queued");
    assert_eq!(published.first.occurred_at, first.occurred_at);
    let queued = std::mem::take(&mut *events.0.lock().unwrap());
    for event in &queued {
        deliver_event(&d, event).await;
    }
    assert_eq!(r.calls(), 1, "delivered once");
    let page = d
        .store()
        .list_deliveries("acme", &w.id, None, 10, None)
        .await
        .unwrap();
    assert_eq!(page.items.len(), 1);
    assert_eq!(
        r.received()[0].header("webhook-id"),
        Some(page.items[0].id.as_str())
    );
}

#[tokio::test]
async fn a_delivery_takes_resends_up_to_its_attempt_cap_and_then_409s() {
    use hookline::outbound::{DeliveryError, MAX_ATTEMPTS};
    let (d, _) = deliverer(DeliverySettings {
        schedule: vec![],
        ..DeliverySettings::default()
    })
    .await;
    let r = Upstream::start(vec![Reply::status(500, "no")]).await;
    let w = add_webhook(d.store(), "acme", &r.url, json!({})).await;
    deliver_event(&d, &event("acme", "evt_cap", "case:new")).await;
    let page = d
        .store()
        .list_deliveries("acme", &w.id, None, 1, None)
        .await
        .unwrap();
    let id = page.items[0].id.clone();
    for _ in 1..MAX_ATTEMPTS {
        assert!(d.resend(&w, &id).await.unwrap().is_some());
    }
    assert!(matches!(
        d.resend(&w, &id).await,
        Err(DeliveryError::AttemptsExhausted(_))
    ));
    assert_eq!(r.calls(), MAX_ATTEMPTS, "the refused resend sent nothing");
}

/// Records the entries of every `SendMessageBatch` the SQS client sends.
#[derive(Debug, Clone, Default)]
struct BatchLog(Arc<std::sync::Mutex<Vec<Vec<String>>>>);

impl aws_sdk_sqs::config::Intercept for BatchLog {
    fn name(&self) -> &'static str {
        "batch-log"
    }

    fn read_before_execution(
        &self,
        context: &aws_smithy_runtime_api::client::interceptors::context::BeforeSerializationInterceptorContextRef<'_>,
        _cfg: &mut aws_sdk_sqs::config::ConfigBag,
    ) -> Result<(), aws_smithy_runtime_api::box_error::BoxError> {
        use aws_sdk_sqs::operation::send_message_batch::SendMessageBatchInput;
        if let Some(input) = context.input().downcast_ref::<SendMessageBatchInput>() {
            let bodies = input
                .entries()
                .iter()
                .map(|e| e.message_body().to_string())
                .collect();
            self.0.lock().unwrap().push(bodies);
        }
        Ok(())
    }
}

#[tokio::test]
async fn a_wide_fan_out_queues_one_message_per_webhook_in_batches_of_ten() {
    // 250 webhooks of one account here: moto copies its whole table on each transaction, so
    // creating 1,000 takes 3 minutes. The simulation fans out to 1,000 (tests/simulation/
    // tests/pipeline.rs).
    use hookline::queue::{DeliveryMessage, SqsDeliveryQueue};
    use hookline::store::WebhookStore;
    const WEBHOOKS: usize = 250;
    let store = hookline_tests::fresh_store().await;
    let started = std::time::Instant::now();
    let template = add_webhook(&store, "acme", "https://crm.example.com/hooks/0", json!({})).await;
    let mut hooks = vec![template.clone()];
    for n in 1..WEBHOOKS {
        // One at a time: moto's server fails concurrent transactions (a 500).
        let mut w = template.clone();
        w.id = hookline::ids::new_webhook_id(OffsetDateTime::now_utc());
        w.url = format!("https://crm.example.com/hooks/{n}");
        store.create_webhook(&w).await.unwrap();
        hooks.push(w);
    }
    eprintln!("{WEBHOOKS} webhooks created in {:?}", started.elapsed());
    let (_, url) = hookline_tests::fresh_queue("deliveries").await;
    let log = BatchLog::default();
    let config = aws_sdk_sqs::config::Builder::from(&hookline_tests::sdk_config().await)
        .interceptor(log.clone())
        .build();
    let sqs = aws_sdk_sqs::Client::from_conf(config);
    let clock = Arc::new(ManualClock::new(OffsetDateTime::now_utc()));
    let d = Deliverer::new(
        store,
        ReqwestClient::new(hookline_tests::local_egress()),
        RecordingMailer::default(),
        SqsDeliveryQueue::new(sqs.clone(), &url),
        clock.clone(),
        hookline::random::os(),
        DeliverySettings::default(),
    );
    // Each subscription entry holds the whole webhook, so the Query may read several 1 MB
    // pages; every page is read.
    let event = hookline::queue::EventMessage {
        event: event("acme", "evt_wide", "case:new"),
        republished: false,
    };
    let receive = hookline::outbound::Receive {
        count: 1,
        sent_at: clock.now(),
    };
    let started = std::time::Instant::now();
    assert_eq!(
        d.fan_out(&event, &receive, clock.now() + time::Duration::minutes(2))
            .await
            .unwrap(),
        WEBHOOKS
    );
    eprintln!("fan-out to {WEBHOOKS} webhooks: {:?}", started.elapsed());

    // 100 SendMessageBatch calls of 10, one first-try message per webhook.
    let batches = log.0.lock().unwrap().clone();
    assert_eq!(batches.len(), WEBHOOKS.div_ceil(10));
    assert!(batches.iter().all(|b| b.len() == 10));
    let queued: Vec<DeliveryMessage> = batches
        .iter()
        .flatten()
        .map(|body| serde_json::from_str(body).unwrap())
        .collect();
    let mut to: Vec<&str> = queued.iter().map(|m| m.webhook_id.as_str()).collect();
    to.sort_unstable();
    let mut expected: Vec<&str> = hooks.iter().map(|w| w.id.as_str()).collect();
    expected.sort_unstable();
    assert_eq!(to, expected, "each webhook once");
    let ids: std::collections::HashSet<&str> =
        queued.iter().map(|m| m.delivery_id.as_str()).collect();
    assert_eq!(ids.len(), WEBHOOKS);
    assert!(queued
        .iter()
        .all(|m| !m.check && m.event.is_some() && m.webhook.is_some() && m.due_at.is_none()));
    // And SQS holds them.
    let attributes = sqs
        .get_queue_attributes()
        .queue_url(&url)
        .attribute_names(aws_sdk_sqs::types::QueueAttributeName::ApproximateNumberOfMessages)
        .send()
        .await
        .unwrap();
    let held = attributes
        .attributes()
        .and_then(|a| a.get(&aws_sdk_sqs::types::QueueAttributeName::ApproximateNumberOfMessages))
        .cloned();
    assert_eq!(held, Some(WEBHOOKS.to_string()));
}

/// `ApproximateNumberOfMessages{NotVisible,Delayed}` of the queue at `url`.
async fn in_flight_and_delayed(sqs: &aws_sdk_sqs::Client, url: &str) -> (u64, u64) {
    use aws_sdk_sqs::types::QueueAttributeName as A;
    let out = sqs
        .get_queue_attributes()
        .queue_url(url)
        .attribute_names(A::All)
        .send()
        .await
        .unwrap();
    let n = |a: A| out.attributes().unwrap()[&a].parse().unwrap();
    (
        n(A::ApproximateNumberOfMessagesNotVisible),
        n(A::ApproximateNumberOfMessagesDelayed),
    )
}

#[tokio::test]
async fn a_retry_waiting_hours_is_hidden_while_the_queue_has_room_and_sent_again_delayed_near_its_in_flight_quota(
) {
    use hookline::queue::{InFlightGauge, SqsDeliveryQueue};
    let (sqs, url) = hookline_tests::fresh_queue("parking").await;
    let due = OffsetDateTime::now_utc() + time::Duration::hours(5);
    let retry = |n: u32| {
        json!({"v": 2, "accountId": "acme", "webhookId": "wh_1", "deliveryId": format!("dlv_{n}"),
               "event": serde_json::to_value(event("acme", "evt_1", "case:new")).unwrap(),
               "dueAt": due.format(&time::format_description::well_known::Rfc3339).unwrap(),
               "slow": true})
        .to_string()
    };
    for n in 0..2 {
        sqs.send_message()
            .queue_url(&url)
            .message_body(retry(n))
            .send()
            .await
            .unwrap();
    }
    let received = sqs
        .receive_message()
        .queue_url(&url)
        .max_number_of_messages(10)
        .send()
        .await
        .unwrap();
    let received = received.messages();
    assert_eq!(received.len(), 2);
    assert_eq!(in_flight_and_delayed(&sqs, &url).await, (2, 0));
    // Each record as Lambda hands it over, from the slow lane (here, this queue alone).
    let batch_of = |m: &aws_sdk_sqs::types::Message| {
        let mut batch = hookline_tests::sqs_batch_from(
            &url,
            &[(m.message_id().unwrap(), m.body().unwrap().to_string())],
        );
        batch.records[0].receipt_handle = m.receipt_handle().map(str::to_string);
        batch
    };
    let engine = |quota: u64| {
        let sqs = sqs.clone();
        let url = url.clone();
        async move {
            Deliverer::new(
                hookline_tests::fresh_store().await,
                ReqwestClient::new(hookline_tests::local_egress()),
                RecordingMailer::default(),
                SqsDeliveryQueue::new(sqs, &url)
                    .with_slow_lane(&url)
                    .with_in_flight_gauge(InFlightGauge::new(quota, 1)),
                Arc::new(hookline::clock::SystemClock),
                hookline::random::os(),
                DeliverySettings::default(),
            )
        }
    };

    // Two in flight of a quota of 100 (a quarter: 25): hidden (kept by the batch's answer).
    let roomy = engine(100).await;
    let answer = hookline_tests::invoke(&roomy, batch_of(&received[0])).await;
    assert_eq!(answer.batch_item_failures.len(), 1, "kept, hidden");
    assert_eq!(in_flight_and_delayed(&sqs, &url).await, (2, 0));

    // Two in flight of a quota of 8 (a quarter: 2): no room, so a delayed copy is queued
    // instead (checked, counting one copy before it), and the batch's answer lets this one
    // be deleted.
    let full = engine(8).await;
    let answer = hookline_tests::invoke(&full, batch_of(&received[1])).await;
    assert!(answer.batch_item_failures.is_empty(), "{answer:?}");
    assert_eq!(in_flight_and_delayed(&sqs, &url).await, (2, 1));
    // (Lambda deletes the record it was not asked to keep.)
    sqs.delete_message()
        .queue_url(&url)
        .receipt_handle(received[1].receipt_handle().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(in_flight_and_delayed(&sqs, &url).await, (1, 1));
}

#[tokio::test]
async fn near_the_in_flight_quota_a_batch_s_long_waits_go_back_as_checked_copies_in_their_lane() {
    let (d, _) = deliverer(DeliverySettings::default()).await;
    // A full queue (the memory queue's count is read as is, for one container).
    *d.queue().in_flight.lock().unwrap() = Some(hookline::queue::IN_FLIGHT_QUOTA);
    let later = |id: &str, parked: u32| {
        json!({"v": 2, "accountId": "acme", "webhookId": "wh_x", "deliveryId": id,
               "dueAt": "2099-01-01T00:00:00Z", "slow": true, "parked": parked})
        .to_string()
    };
    let batch = hookline_tests::sqs_batch_from(
        "arn:aws:sqs:us-east-1:000000000000:slow-deliveries",
        &[
            ("a", later("dlv_a", 0)),
            ("b", later("dlv_b", 7)),
            // Sent again as often as a message may be: hidden, so SQS counts its receives.
            ("c", later("dlv_c", hookline::queue::MAX_PARKED)),
        ],
    );
    let response = hookline_tests::invoke(&d, batch).await;
    let kept: Vec<&str> = response
        .batch_item_failures
        .iter()
        .map(|f| f.item_identifier.as_str())
        .collect();
    assert_eq!(kept, vec!["c"]);
    let copies = take_queued(&d);
    let mut seen: Vec<(String, u32, bool, bool)> = copies
        .iter()
        .map(|m| (m.delivery_id.clone(), m.parked, m.check, m.slow))
        .collect();
    seen.sort();
    assert_eq!(
        seen,
        vec![
            ("dlv_a".to_string(), 1, true, true),
            ("dlv_b".to_string(), 8, true, true)
        ]
    );
    let hidden = d.queue().postponed.lock().unwrap().clone();
    assert_eq!(hidden.len(), 1);
    assert_eq!(hidden[0].0, "receipt-c");
}

#[tokio::test]
async fn a_batch_s_first_tries_cut_short_in_the_prompt_lane_all_move_to_the_slow_lane() {
    // Twelve first tries to a receiver slower than the prompt lane's limit, in one batch: the
    // handler queues their moves (checked, in the slow lane) and lets every original go; the
    // receiver saw each once, and the webhooks are marked slow.
    let settings = DeliverySettings {
        prompt_timeout: Duration::from_millis(300),
        ..DeliverySettings::default()
    };
    let (d, clock) = deliverer(settings).await;
    let slow = Upstream::start(vec![
        Reply::status(200, "late").after(Duration::from_secs(3))
    ])
    .await;
    for _ in 0..12 {
        add_webhook(d.store(), "acme", &slow.url, json!({})).await;
    }
    let message = hookline::queue::EventMessage {
        event: event("acme", "evt_cut", "case:new"),
        republished: false,
    };
    let deadline = clock.now() + time::Duration::minutes(2);
    let receive = hookline_tests::first_receive(&d);
    assert_eq!(d.fan_out(&message, &receive, deadline).await.unwrap(), 12);
    let first_tries = take_queued(&d);
    assert!(first_tries.iter().all(|m| !m.slow && !m.check));
    let bodies: Vec<(String, String)> = first_tries
        .iter()
        .enumerate()
        .map(|(i, m)| (format!("m{i}"), m.encode().body))
        .collect();
    let bodies: Vec<(&str, String)> = bodies
        .iter()
        .map(|(i, b)| (i.as_str(), b.clone()))
        .collect();
    let answer = hookline_tests::invoke(&d, sqs_batch(&bodies)).await;
    assert!(answer.batch_item_failures.is_empty(), "{answer:?}");
    assert_eq!(slow.calls(), 12);
    let moved = take_queued(&d);
    assert_eq!(moved.len(), 12);
    assert!(moved.iter().all(|m| m.slow && m.check && m.event.is_some()));
    let mut ids: Vec<&str> = moved.iter().map(|m| m.delivery_id.as_str()).collect();
    ids.sort();
    let mut expected: Vec<&str> = first_tries.iter().map(|m| m.delivery_id.as_str()).collect();
    expected.sort();
    assert_eq!(ids, expected);
    let subscribers = d
        .store()
        .subscribers("acme", hookline::model::EventType::CaseNew)
        .await
        .unwrap();
    assert!(subscribers.iter().all(|s| s.slow), "marked slow");
}
