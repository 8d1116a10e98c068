//! The inbound endpoints end to end: resolve (inbound-resolver function), test and logs
//! (management API), over DynamoDB in moto, against upstreams on 127.0.0.1.

use hookline_tests::stack::{Stack, BASE};
use hookline_tests::upstream::{Reply, Upstream};
use hookline_tests::{api_gateway_request, bearer, inbound_body, outbound_body, read_response};
use serde_json::json;

#[tokio::test]
async fn resolve_answers_with_the_webhook_data_and_its_variables() {
    let stack = Stack::new().await;
    let key = stack.api.key("acme").await;
    let up = Upstream::start(vec![Reply::json(r#"{"order": {"status": "shipped"}}"#)]).await;
    let mut body = inbound_body(&format!("{}/orders?email={{{{visitor.email}}}}", up.url));
    body["security"] = json!({"type": "none"});
    let id = stack.create(&key, body).await;

    let r = stack
        .resolve(
            Some(&key),
            &id,
            Some(json!({"variables": {"visitor": {"email": "a b@c.d"}}})),
        )
        .await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    assert_eq!(r.body["source"], "webhook");
    assert_eq!(r.body["data"], json!({"order": {"status": "shipped"}}));
    assert_eq!(r.body["variables"], json!({"order.status": "shipped"}));
    assert_eq!(r.body["missingPlaceholders"], json!([]));
    assert_eq!(r.body["attempts"][0]["status"], 200);
    assert!(r.body["attempts"][0]["durationMs"].is_u64());
    assert_eq!(up.received()[0].target, "/orders?email=a%20b%40c.d");

    // A read-only key may resolve (chatbots need no write access).
    let read_only = stack
        .api
        .key_with_scope("acme", hookline::store::KeyScope::ReadOnly)
        .await;
    assert_eq!(stack.resolve(Some(&read_only), &id, None).await.status, 200);
}

/// The attack: a key holder points webhooks at a receiver that never answers and resolves
/// them, to hold the resolver's concurrency. Each account's resolves in flight are bounded
/// (counted in DynamoDB across containers): past them a 429 with `Retry-After` and no call;
/// other accounts go on; finished resolves give their unit back.
#[tokio::test]
async fn an_account_cannot_hold_more_than_its_resolves_in_flight() {
    let mut stack = Stack::new().await;
    let settings = &mut stack.resolver.resolver.settings;
    settings.resolve_concurrency = 2;
    settings.deadline = std::time::Duration::from_millis(1500);
    // The window is the clock's: a clock that stands still keeps every charge in one.
    let at = time::OffsetDateTime::now_utc().replace_second(33).unwrap();
    let clock = std::sync::Arc::new(hookline::clock::ManualClock::new(at));
    stack.resolver.resolver.clock = clock.clone();
    let alice = stack.api.key("alice").await;
    let bob = stack.api.key("bob").await;
    let arrived = std::sync::Arc::new(tokio::sync::Semaphore::new(0));
    let hanging = Upstream::scripted({
        let arrived = arrived.clone();
        move |_| {
            arrived.add_permits(1);
            Reply::Hang
        }
    })
    .await;
    let fast = Upstream::start(vec![Reply::json(r#"{"order": {"status": "shipped"}}"#)]).await;
    let stuck = stack.create(&alice, inbound_body(&hanging.url)).await;
    let quick = stack.create(&alice, inbound_body(&fast.url)).await;
    let theirs = stack.create(&bob, inbound_body(&fast.url)).await;

    // Two resolves hang: once both are at the receiver, the third is refused at once.
    // Boxed: three resolves' futures side by side outgrow a test thread's stack.
    let two = Box::pin(async {
        tokio::join!(
            Box::pin(stack.resolve(Some(&alice), &stuck, None)),
            Box::pin(stack.resolve(Some(&alice), &stuck, None))
        )
    });
    let third = Box::pin(async {
        let _both = arrived.acquire_many(2).await.unwrap();
        let over = Box::pin(stack.resolve(Some(&alice), &quick, None)).await;
        let other = Box::pin(stack.resolve(Some(&bob), &theirs, None)).await;
        (over, other)
    });
    let ((a, b), (over, other)) = tokio::join!(two, third);
    assert_eq!(
        (a.status, b.status),
        (200, 200),
        "the hanging two got their fallback"
    );
    assert_eq!(a.body["source"], "fallback");
    assert_eq!(
        (over.status, over.error_type()),
        (429, "ERROR_TOO_MANY_REQUESTS"),
        "{:?}",
        over.body
    );
    assert_eq!(
        over.headers["retry-after"], "27",
        "the 30-second window ends in 27 s"
    );
    assert_eq!(
        fast.calls(),
        1,
        "the refused resolve called nobody; bob's did"
    );
    assert_eq!(other.status, 200, "another account has its own allowance");

    // Both ended and gave their unit back: alice resolves again in the same window.
    let again = stack.resolve(Some(&alice), &quick, None).await;
    assert_eq!(again.status, 200, "{:?}", again.body);
    // And a new window starts afresh whatever the old one held.
    clock.advance(time::Duration::seconds(27));
    assert_eq!(stack.resolve(Some(&alice), &quick, None).await.status, 200);
}

#[tokio::test]
async fn resolve_refuses_what_it_should() {
    let stack = Stack::new().await;
    let alice = stack.api.key("alice").await;
    let bob = stack.api.key("bob").await;
    let up = Upstream::start(vec![Reply::json("{}")]).await;
    let id = stack.create(&alice, inbound_body(&up.url)).await;
    let outbound = stack.create(&alice, outbound_body("https://e.com/h")).await;

    let r = stack.resolve(Some(&bob), &id, None).await;
    assert_eq!(
        (r.status, r.error_type()),
        (404, "ERROR_RECORD_NOT_FOUND"),
        "another account's webhook"
    );
    assert_eq!(stack.resolve(None, &id, None).await.status, 401);
    // An outbound webhook is no inbound webhook to resolve.
    let r = stack.resolve(Some(&alice), &outbound, None).await;
    assert_eq!((r.status, r.error_type()), (404, "ERROR_RECORD_NOT_FOUND"));
    let r = stack
        .resolve(Some(&alice), &id, Some(json!({"variables": ["a"]})))
        .await;
    assert_eq!((r.status, r.error_field()), (400, Some("variables")));
    let r = stack
        .resolve(Some(&alice), &id, Some(json!({"vars": {}})))
        .await;
    assert_eq!((r.status, r.error_field()), (400, Some("vars")));
    assert_eq!(up.calls(), 0, "no refused request reached the upstream");

    let get = api_gateway_request("GET", &format!("{BASE}/{id}/resolve"), bearer(&alice), None);
    assert_eq!(read_response(stack.resolver.handle(get).await).status, 405);
}

#[tokio::test]
async fn test_endpoint_discovers_variables_and_logs_list_newest_first() {
    let stack = Stack::new().await;
    let key = stack.api.key("acme").await;
    let other = stack.api.key("globex").await;
    let up = Upstream::start(vec![
        Reply::json(r#"{"customer": {"name": "Ada", "orders": [{"id": 7, "lines": [{"sku": "A1", "qty": 2}]}]}}"#),
        Reply::status(500, ""),
    ])
    .await;
    let mut body = inbound_body(&format!("{}/customers/{{{{visitor.email}}}}", up.url));
    body["security"] = json!({"type": "none"});
    let id = stack.create(&key, body).await;
    let path = format!("{BASE}/{id}");

    let t = stack
        .api
        .call(
            "POST",
            &format!("{path}/test"),
            Some(&key),
            Some(json!({"variables": {"visitor.email": "ada@e.com"}})),
        )
        .await;
    assert_eq!(t.status, 200, "{:?}", t.body);
    assert_eq!(t.body["ok"], true);
    assert_eq!(
        t.body["discoveredVariables"],
        json!([
            "customer.name",
            "customer.orders[0].id",
            "customer.orders[0].lines[0].sku",
            "customer.orders[0].lines[0].qty"
        ])
    );
    assert_eq!(up.received()[0].target, "/customers/ada%40e.com");

    // The user saves the discovered variables they want, plus a custom one.
    let saved = stack
        .api
        .call(
            "PUT",
            &path,
            Some(&key),
            Some(json!({"variables": ["customer.name", "customer.orders[0].id", "loyalty_tier"]})),
        )
        .await;
    assert_eq!(saved.status, 200);

    // Then chats resolve (the upstream now fails: fallback).
    for _ in 0..2 {
        let r = stack.resolve(Some(&key), &id, None).await;
        assert_eq!(r.body["source"], "fallback");
        assert_eq!(
            r.body["variables"],
            json!({"customer.name": null, "customer.orders[0].id": null, "loyalty_tier": null})
        );
    }

    let logs = stack
        .api
        .call("GET", &format!("{path}/logs?limit=2"), Some(&key), None)
        .await;
    assert_eq!(logs.status, 200, "{:?}", logs.body);
    let page = logs.body["data"].as_array().unwrap();
    assert_eq!(page.len(), 2);
    assert_eq!(
        (page[0]["kind"].as_str(), page[0]["source"].as_str()),
        (Some("resolve"), Some("fallback"))
    );
    assert_eq!(page[0]["attempts"].as_array().unwrap().len(), 3);
    let cursor = logs.body["nextCursor"]
        .as_str()
        .expect("a third entry follows");
    let rest = stack
        .api
        .call(
            "GET",
            &format!("{path}/logs?cursor={cursor}"),
            Some(&key),
            None,
        )
        .await;
    let rest = rest.body["data"].as_array().unwrap().clone();
    assert_eq!(rest.len(), 1);
    assert_eq!(
        (rest[0]["kind"].as_str(), rest[0]["source"].as_str()),
        (Some("test"), Some("webhook"))
    );

    for p in [format!("{path}/logs"), format!("{path}/test")] {
        let method = if p.ends_with("test") { "POST" } else { "GET" };
        let r = stack.api.call(method, &p, Some(&other), None).await;
        assert_eq!(r.status, 404, "{method} {p} as another account");
    }
    let r = stack
        .api
        .call(
            "GET",
            &format!("{path}/logs?cursor=bogus"),
            Some(&key),
            None,
        )
        .await;
    assert_eq!((r.status, r.error_field()), (400, Some("cursor")));
}

#[tokio::test]
async fn a_draft_is_tested_before_it_is_saved_and_nothing_is_written() {
    let stack = Stack::new().await;
    let key = stack.api.key("acme").await;
    let up = Upstream::start(vec![Reply::json(r#"{"order": {"status": "shipped"}}"#)]).await;
    let draft = json!({"flow": "inbound", "url": format!("{}/orders/{{{{case.id}}}}", up.url),
                       "security": {"type": "bearer", "token": "shop-token"}});

    // Only what a call uses is needed: no name, e-mail or fallback yet.
    let t = stack
        .api
        .call(
            "POST",
            &format!("{BASE}/test"),
            Some(&key),
            Some(json!({"webhook": draft, "variables": {"case.id": "72"}})),
        )
        .await;
    assert_eq!(t.status, 200, "{:?}", t.body);
    assert_eq!(t.body["ok"], true);
    assert_eq!(t.body["discoveredVariables"], json!(["order.status"]));
    let got = &up.received()[0];
    assert_eq!(got.target, "/orders/72");
    assert_eq!(got.header("authorization"), Some("Bearer shop-token"));
    let list = stack.api.call("GET", BASE, Some(&key), None).await;
    assert_eq!(list.body["data"], json!([]), "a draft test saves nothing");

    // Errors name the field inside `webhook`, as the form needs them.
    let cases = [
        (json!({"webhook": {"flow": "inbound"}}), "webhook.url"),
        (
            json!({"webhook": {"flow": "inbound", "url": "ftp://x"}}),
            "webhook.url",
        ),
        (
            json!({"webhook": {"flow": "inbound", "url": up.url, "notificationEmail": "nope"}}),
            "webhook.notificationEmail",
        ),
        (
            json!({"webhook": {"flow": "outbound", "url": up.url, "method": "GET"}}),
            "webhook.method",
        ),
        (json!({"webhook": {"url": up.url}}), "webhook.flow"),
        (json!({"webhook": []}), "webhook"),
        (json!({}), "webhook"),
        (
            json!({"webhook": {"flow": "inbound", "url": up.url}, "x": 1}),
            "x",
        ),
    ];
    for (body, field) in cases {
        let r = stack
            .api
            .call(
                "POST",
                &format!("{BASE}/test"),
                Some(&key),
                Some(body.clone()),
            )
            .await;
        assert_eq!((r.status, r.error_field()), (400, Some(field)), "{body}");
    }
    // An outbound draft takes no variables: its body says its flow, so they are invalid.
    let body = json!({"webhook": {"flow": "outbound", "url": up.url}, "variables": {}});
    let r = stack
        .api
        .call("POST", &format!("{BASE}/test"), Some(&key), Some(body))
        .await;
    assert_eq!((r.status, r.error_field()), (400, Some("variables")));
    assert_eq!(up.calls(), 1, "no refused draft was called");

    // An outbound draft gets one signed sample event.
    let t = stack
        .api
        .call(
            "POST",
            &format!("{BASE}/test"),
            Some(&key),
            Some(json!({"webhook": {"flow": "outbound", "url": format!("{}/hooks", up.url),
                                    "security": {"type": "hmac", "secret": "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"}}})),
        )
        .await;
    assert_eq!(
        (t.status, t.body["ok"].as_bool()),
        (200, Some(true)),
        "{:?}",
        t.body
    );
    let got = &up.received()[1];
    assert_eq!(got.target, "/hooks");
    hookline_tests::upstream::verify_signatures(got, "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw");

    let read_only = stack
        .api
        .key_with_scope("acme", hookline::store::KeyScope::ReadOnly)
        .await;
    let r = stack
        .api
        .call(
            "POST",
            &format!("{BASE}/test"),
            Some(&read_only),
            Some(json!({"webhook": {}})),
        )
        .await;
    assert_eq!(r.status, 403);
    let r = stack
        .api
        .call("GET", &format!("{BASE}/test"), Some(&key), None)
        .await;
    assert_eq!(r.status, 405);
}

#[tokio::test]
async fn a_saved_webhook_is_tested_with_the_unsaved_edits_of_the_form() {
    let stack = Stack::new().await;
    let key = stack.api.key("acme").await;
    let shop = Upstream::start(vec![Reply::json(r#"{"new": {"field": 2}}"#)]).await;
    let mut body = inbound_body(&format!("{}/a", shop.url));
    body["security"] = json!({"type": "basic", "username": "u", "password": "p"});
    let id = stack.create(&key, body).await;
    let saved = stack
        .api
        .call("GET", &format!("{BASE}/{id}"), Some(&key), None)
        .await;

    // The form as read (masked password = keep), with the URL's path edited but not saved
    // (another origin would need the password again: deliveries_api.rs).
    let mut edits = saved.body.clone();
    edits["url"] = json!(format!("{}/b", shop.url));
    let t = stack
        .api
        .call(
            "POST",
            &format!("{BASE}/{id}/test"),
            Some(&key),
            Some(json!({"webhook": edits})),
        )
        .await;
    assert_eq!(t.status, 200, "{:?}", t.body);
    assert_eq!(t.body["discoveredVariables"], json!(["new.field"]));
    assert_eq!(shop.calls(), 1);
    let got = &shop.received()[0];
    assert_eq!(got.target, "/b");
    assert_eq!(
        got.header("authorization"),
        Some("Basic dTpw"),
        "the stored password was kept"
    );

    let again = stack
        .api
        .call("GET", &format!("{BASE}/{id}"), Some(&key), None)
        .await;
    assert_eq!(again.body, saved.body, "testing edits saves nothing");
    let r = stack
        .api
        .call(
            "POST",
            &format!("{BASE}/{id}/test"),
            Some(&key),
            Some(json!({"webhook": {"flow": "outbound"}})),
        )
        .await;
    // The flow cannot change: a conflict with the saved webhook.
    assert_eq!((r.status, r.error_field()), (409, Some("webhook.flow")));
}
