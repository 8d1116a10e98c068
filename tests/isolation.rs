//! Tenant isolation across every endpoint: one account's webhooks, logs and deliveries are a
//! 404 to another account, whatever the method, and trying changes nothing and calls nobody.

use std::sync::Arc;

use hookline::clock::SystemClock;
use hookline::http::ReqwestClient;
use hookline::notify::RecordingMailer;
use hookline::outbound::Deliverer;
use hookline::outbound::DeliverySettings;
use hookline::queue::MemoryDeliveryQueue;
use hookline::store::KeyScope;
use hookline_tests::stack::{Stack, BASE};
use hookline_tests::upstream::{Reply, Upstream};
use hookline_tests::{inbound_body, outbound_body};
use serde_json::{json, Value};

#[tokio::test]
async fn every_endpoint_is_a_404_for_another_account() {
    let stack = Stack::new().await;
    let alice = stack.api.key("alice").await;
    let upstream = Upstream::start(vec![Reply::json(r#"{"order": {"status": "shipped"}}"#)]).await;
    let receiver = Upstream::start(vec![Reply::status(200, "")]).await;
    let inbound = stack.create(&alice, inbound_body(&upstream.url)).await;
    let outbound = stack.create(&alice, outbound_body(&receiver.url)).await;

    // Alice's data: a resolution in the log and a delivery.
    assert_eq!(
        stack.resolve(Some(&alice), &inbound, None).await.status,
        200
    );
    let deliverer = Deliverer::new(
        stack.api.app.store.clone(),
        ReqwestClient::new(hookline_tests::local_egress()),
        RecordingMailer::default(),
        MemoryDeliveryQueue::default(),
        Arc::new(SystemClock),
        hookline::random::os(),
        DeliverySettings::default(),
    );
    let event = hookline_tests::case_new("alice", "evt_1");
    hookline_tests::deliver_event(&deliverer, &event).await;
    let delivery = receiver.received()[0]
        .header("webhook-id")
        .unwrap()
        .to_string();
    let before = |id: &str| {
        let (stack, alice, id) = (&stack, &alice, id.to_string());
        async move {
            stack
                .api
                .call("GET", &format!("{BASE}/{id}"), Some(alice), None)
                .await
                .body
        }
    };
    let (inbound_before, outbound_before) = (before(&inbound).await, before(&outbound).await);
    let calls_before = (upstream.calls(), receiver.calls());

    let since = time::OffsetDateTime::now_utc()
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap();
    let mut requests: Vec<(&str, String, Option<Value>)> = Vec::new();
    for id in [&inbound, &outbound] {
        requests.extend([
            ("GET", format!("{BASE}/{id}"), None),
            (
                "PUT",
                format!("{BASE}/{id}"),
                Some(json!({"name": "mine now"})),
            ),
            (
                "PUT",
                format!("{BASE}/{id}"),
                Some(json!({"status": "inactive"})),
            ),
            ("DELETE", format!("{BASE}/{id}"), None),
            ("POST", format!("{BASE}/{id}/rotate-secret"), None),
            (
                "POST",
                format!("{BASE}/{id}/test"),
                Some(json!({"variables": {}})),
            ),
            ("GET", format!("{BASE}/{id}/logs"), None),
            ("GET", format!("{BASE}/{id}/deliveries"), None),
            ("GET", format!("{BASE}/{id}/deliveries/{delivery}"), None),
            (
                "POST",
                format!("{BASE}/{id}/deliveries/{delivery}/retry"),
                None,
            ),
            (
                "POST",
                format!("{BASE}/{id}/recover"),
                Some(json!({"since": since})),
            ),
        ]);
    }

    for scope in [KeyScope::Full, KeyScope::ReadOnly] {
        let mallory = stack.api.key_with_scope("mallory", scope).await;
        for (method, path, body) in &requests {
            let r = stack
                .api
                .call(method, path, Some(&mallory), body.clone())
                .await;
            // A read-only key may meet its 403 first; either way nothing is revealed or done.
            let refused = match (scope, *method) {
                (KeyScope::ReadOnly, m) if m != "GET" => vec![403, 404],
                _ => vec![404],
            };
            assert!(
                refused.contains(&r.status),
                "{method} {path} as another account ({scope:?}): {} {:?}",
                r.status,
                r.body
            );
            if r.status == 404 {
                assert_eq!(r.error_type(), "ERROR_RECORD_NOT_FOUND");
            }
            let text = r.body.to_string();
            assert!(
                !text.contains("alice") && !text.contains("Order lookup"),
                "{method} {path}: the answer reveals the other account: {text}"
            );
        }
        for id in [&inbound, &outbound] {
            let r = stack
                .resolve(Some(&mallory), id, Some(json!({"variables": {}})))
                .await;
            assert_eq!(
                r.status, 404,
                "resolve {id} as another account: {:?}",
                r.body
            );
        }
        let list = stack.api.call("GET", BASE, Some(&mallory), None).await;
        assert_eq!(
            list.body["data"],
            json!([]),
            "the other account lists nothing"
        );
    }

    // Nothing changed, nobody was called.
    assert_eq!(before(&inbound).await, inbound_before);
    assert_eq!(before(&outbound).await, outbound_before);
    assert_eq!((upstream.calls(), receiver.calls()), calls_before);
    let logs = stack
        .api
        .call("GET", &format!("{BASE}/{inbound}/logs"), Some(&alice), None)
        .await;
    assert_eq!(logs.body["data"].as_array().map(Vec::len), Some(1));
}
