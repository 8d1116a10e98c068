//! The web console end to end: the local API Gateway serves it and the API on one real origin,
//! and headless Chromium uses it as a person would (support/browser.rs).
//!
//! Every test here is named `console_*`: where Chromium is not installed, scripts/test.sh
//! skips them by that prefix, and says so.

use std::panic::AssertUnwindSafe;
use std::time::{Duration, Instant};

use futures::FutureExt;
use hookline_tests::browser::Browser;
use hookline_tests::gateway::Gateway;
use hookline_tests::outbound_body;
use hookline_tests::upstream::{Reply, Upstream};
use serde_json::{json, Value};

#[tokio::test]
async fn console_page_loads() {
    let gateway = Gateway::start().await;
    let browser = Browser::start("console_page_loads").await;
    browser.goto(&gateway.url("/console")).await;
    browser.wait_for_title("Hookline console").await;
    browser.screenshot("loaded").await;
    browser.assert_accessible("html").await;
    browser.assert_no_js_errors().await;
    browser.assert_loaded_only_from(&gateway.base_url).await;
}

/// The gateway without a browser: the API's routes, the event source behind the events API,
/// and the resolver's route.
#[tokio::test]
async fn console_gateway_routes() {
    let gateway = Gateway::start().await;
    let key = gateway.key("acme").await;
    let http = reqwest::Client::new();
    let call = |method: reqwest::Method, path: &str, body: Option<Value>| {
        let request = http.request(method, gateway.url(path)).bearer_auth(&key);
        let request = match body {
            Some(body) => request.json(&body),
            None => request,
        };
        async move {
            let answer = request.send().await.expect("the gateway answers");
            let status = answer.status().as_u16();
            let json_type = answer.headers()["content-type"] == "application/json";
            let body: Value = answer.json().await.unwrap_or_default();
            (status, json_type, body)
        }
    };

    let (status, json_type, body) = call(reqwest::Method::GET, "/api/v1/webhook", None).await;
    assert_eq!((status, json_type), (200, true), "{body}");
    assert_eq!(body["data"], json!([]));

    // Published through the API, delivered by the gateway's event source to a real receiver.
    let receiver = Upstream::start(vec![Reply::status(200, "")]).await;
    let mut webhook = outbound_body(&format!("{}/hooks", receiver.url));
    webhook["security"] = json!({"type": "none"});
    let (status, _, body) = call(reqwest::Method::POST, "/api/v1/webhook", Some(webhook)).await;
    assert_eq!(status, 201, "{body}");
    let event = json!({"event": "case:new", "data": {"caseId": "gateway-72"}});
    let (status, _, body) = call(reqwest::Method::POST, "/api/v1/events", Some(event)).await;
    assert_eq!(status, 202, "{body}");
    let deadline = Instant::now() + Duration::from_secs(20);
    while receiver.calls() == 0 {
        assert!(
            Instant::now() < deadline,
            "the event was not delivered in 20 s"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let delivered = &receiver.received()[0];
    let body: Value = serde_json::from_slice(&delivered.body).unwrap();
    assert_eq!(
        body,
        json!({"event": "case:new", "data": {"caseId": "gateway-72"}})
    );
    assert!(delivered
        .header("webhook-id")
        .is_some_and(|id| id.starts_with("dlv_")));

    // Only the resolver knows the route: the management API would say "no such path".
    let (status, json_type, body) = call(
        reqwest::Method::POST,
        "/api/v1/webhook/wh_01M88JMXEZD0J6DFXQ5VXJ1M2C/resolve",
        Some(json!({"variables": {}})),
    )
    .await;
    assert_eq!((status, json_type), (404, true), "{body}");
    assert_eq!(
        body["error"]["message"], "no webhook with this id",
        "{body}"
    );
}

/// The harness's own checks, on pages of its own: each passes a page that is right and fails
/// one that is wrong, saying why.
#[tokio::test]
async fn console_harness_checks_catch_what_they_check() {
    let cdn = Upstream::start(vec![
        Reply::status(200, "body { margin: 0 }").with_header("content-type", "text/css")
    ])
    .await;
    let good = r#"<!doctype html><html lang="en"><head><title>Good page</title></head><body>
        <main><h1>Good page</h1><form><label for="name">Name</label><input id="name">
        <label>Owner's e-mail <input type="email"></label></form></main></body></html>"#;
    let bad = format!(
        r#"<!doctype html><html><head><title>Bad page</title>
        <link rel="stylesheet" href="{}/cdn.css"></head><body><main><h1>Bad page</h1>
        <input id="unlabelled"><label>Name</label>
        <script>noSuchFunction();</script></main></body></html>"#,
        cdn.url
    );
    let site = Upstream::scripted(move |r| {
        let page = match r.target.as_str() {
            "/good.html" => good.to_string(),
            "/bad.html" => bad.clone(),
            _ => return Reply::status(404, ""),
        };
        Reply::status(200, &page).with_header("content-type", "text/html; charset=utf-8")
    })
    .await;
    let mut browser = Browser::start("console_harness_checks_catch_what_they_check").await;
    browser.wait = Duration::from_secs(2);

    browser.goto(&format!("{}/good.html", site.url)).await;
    browser.wait_for_title("Good page").await;
    browser.wait_for_text("h1", "Good").await;
    assert_eq!(
        browser
            .field("Name")
            .await
            .attr("id")
            .await
            .unwrap()
            .as_deref(),
        Some("name")
    );
    let wrapped = browser.field("Owner's e-mail").await;
    assert_eq!(
        wrapped.attr("type").await.unwrap().as_deref(),
        Some("email")
    );
    browser.assert_accessible("html").await;
    browser.assert_no_js_errors().await;
    browser.assert_loaded_only_from(&site.url).await;

    browser.goto(&format!("{}/bad.html", site.url)).await;
    browser.wait_for_title("Bad page").await;
    let why = failure_of("field", browser.field("Name")).await;
    assert!(why.contains("names no displayed control"), "{why}");
    let why = failure_of("wait_for", browser.wait_for("#missing")).await;
    assert!(
        why.contains("waited 2s for a displayed `#missing`"),
        "{why}"
    );
    let why = failure_of("axe check", browser.assert_accessible("html")).await;
    assert!(
        why.contains("- label (critical)") && why.contains("at #unlabelled"),
        "{why}"
    );
    let why = failure_of("console check", browser.assert_no_js_errors()).await;
    assert!(why.contains("noSuchFunction is not defined"), "{why}");
    let why = failure_of("origin check", browser.assert_loaded_only_from(&site.url)).await;
    assert!(why.contains(&format!("{}/cdn.css", cdn.url)), "{why}");
}

/// The panic message of `check`, which must fail (`name` says which check did not).
async fn failure_of(name: &str, check: impl std::future::Future) -> String {
    let Err(panic) = AssertUnwindSafe(check).catch_unwind().await else {
        panic!("the harness's {name} passed the bad page");
    };
    panic
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
        .unwrap_or_default()
}

// ------------------------------------------------------------------ the console's scenarios

/// Opens the console and signs in with `key`, as a user pasting it would.
async fn sign_in(browser: &Browser, gateway: &Gateway, key: &str) {
    browser.goto(&gateway.url("/console")).await;
    browser.wait_for_text("h1", "Sign in").await;
    browser.fill("API key", key).await;
    browser.button("Sign in").await.click().await.unwrap();
    browser.wait_for_text("h1", "Webhooks").await;
}

async fn click(element: fantoccini::elements::Element) {
    element.click().await.expect("click");
}

/// How many items the tab's session storage holds (the console keeps only the key there).
async fn stored_items(browser: &Browser) -> u64 {
    let n = browser
        .client
        .execute("return sessionStorage.length;", vec![])
        .await
        .expect("read session storage");
    n.as_u64().expect("a count")
}

/// How many elements match `css` now.
async fn count(browser: &Browser, css: &str) -> usize {
    browser
        .client
        .find_all(fantoccini::Locator::Css(css))
        .await
        .expect("find elements")
        .len()
}

/// Waits until the text of the webhook table satisfies `ready` (the table is redrawn under
/// us: a stale read is "not yet").
async fn wait_for_table(browser: &Browser, what: &str, ready: impl Fn(&str) -> bool) {
    browser
        .wait_until(what, || async {
            let shown = browser
                .wait_for("table.webhooks")
                .await
                .text()
                .await
                .map_err(|e| e.to_string())?;
            if ready(&shown) {
                Ok(())
            } else {
                Err(shown)
            }
        })
        .await;
}

/// The error the page shows beside the control labelled `label` (in the same field), if any.
async fn error_beside(browser: &Browser, label: &str) -> Option<String> {
    let control = browser.field(label).await;
    let shown = browser
        .client
        .execute(
            "const slot = arguments[0].closest('[data-field]')?.querySelector(':scope > .error');
             return slot && !slot.hidden ? slot.textContent : null;",
            vec![serde_json::to_value(control).unwrap()],
        )
        .await
        .expect("read the error slot");
    shown.as_str().map(String::from)
}

/// The error shown in the group of field `name` (e.g. `events`), if any.
async fn group_error(browser: &Browser, name: &str) -> Option<String> {
    let shown = browser
        .client
        .execute(
            "const slot = document.querySelector(`[data-field=\"${arguments[0]}\"] > .error`);
             return slot && !slot.hidden ? slot.textContent : null;",
            vec![json!(name)],
        )
        .await
        .expect("read the error slot");
    shown.as_str().map(String::from)
}

/// Whether the control labelled `label` has the keyboard focus and is marked invalid.
async fn focused_and_invalid(browser: &Browser, label: &str) -> (bool, Option<String>) {
    let control = browser.field(label).await;
    let focused = browser
        .client
        .execute(
            "return document.activeElement === arguments[0];",
            vec![serde_json::to_value(&control).unwrap()],
        )
        .await
        .unwrap();
    (
        focused.as_bool().unwrap_or(false),
        control.attr("aria-invalid").await.unwrap(),
    )
}

/// The checks every page gets: axe finds nothing serious, nothing ran badly, nothing was loaded
/// from anywhere but the gateway.
async fn page_is_sound(browser: &Browser, gateway: &Gateway) {
    browser.assert_accessible("html").await;
    browser.assert_no_js_errors().await;
    browser.assert_loaded_only_from(&gateway.base_url).await;
}

/// What the API says about `body` when it is created directly: the console must show the same.
async fn api_error_for(gateway: &Gateway, key: &str, body: Value) -> (String, String) {
    let r = gateway
        .stack
        .api
        .call("POST", "/api/v1/webhook", Some(key), Some(body))
        .await;
    assert_eq!(r.status, 400, "{:?}", r.body);
    (
        r.error_field().unwrap().to_string(),
        r.body["error"]["message"].as_str().unwrap().to_string(),
    )
}

async fn resolve(gateway: &Gateway, key: &str, id: &str, variables: Value) -> Value {
    let answer = reqwest::Client::new()
        .post(gateway.url(&format!("/api/v1/webhook/{id}/resolve")))
        .bearer_auth(key)
        .json(&json!({ "variables": variables }))
        .send()
        .await
        .expect("the resolver answers");
    assert_eq!(answer.status(), 200);
    answer.json().await.unwrap()
}

async fn publish(gateway: &Gateway, key: &str, event: Value) {
    let answer = reqwest::Client::new()
        .post(gateway.url("/api/v1/events"))
        .bearer_auth(key)
        .json(&event)
        .send()
        .await
        .expect("the API answers");
    assert_eq!(answer.status(), 202);
}

/// The account's only webhook, as the API stores it.
async fn only_webhook(gateway: &Gateway, key: &str) -> Value {
    let r = gateway
        .stack
        .api
        .call("GET", "/api/v1/webhook", Some(key), None)
        .await;
    let data = r.body["data"].as_array().unwrap();
    assert_eq!(data.len(), 1, "{data:?}");
    data[0].clone()
}

async fn wait_for_calls(receiver: &Upstream, n: usize) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while receiver.calls() < n {
        assert!(
            Instant::now() < deadline,
            "the receiver got {} calls, not {n}, in 20 s",
            receiver.calls()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Create Webhook (inbound) against a local upstream: Test shows the answer and the variables it
/// holds as checkboxes, the user ticks one and adds one, saves, a chat resolves, and the log
/// shows the resolution with its try.
#[tokio::test]
async fn console_inbound_webhook_is_created_tested_saved_and_resolved() {
    let gateway = Gateway::start().await;
    let key = gateway.key("acme").await;
    let shop = Upstream::start(vec![Reply::json(
        r#"{"order": {"status": "shipped", "items": [{"sku": "A1"}]}}"#,
    )])
    .await;
    let browser = Browser::start("console_inbound").await;
    sign_in(&browser, &gateway, &key).await;
    browser.wait_for_text(".empty", "No webhooks yet").await;
    browser.screenshot("empty-list").await;
    page_is_sound(&browser, &gateway).await;

    click(browser.link("Create Webhook").await).await;
    browser.wait_for_text("h1", "Create Webhook").await;
    browser.fill("Webhook Name", "Order status").await;
    click(browser.field("Inbound").await).await;
    browser
        .field("Type")
        .await
        .select_by_label("Bearer token")
        .await
        .unwrap();
    browser.fill("Token", "shop-token").await;
    browser.fill("Email address", "ops@example.com").await;
    browser
        .fill(
            "Webhook URL",
            &format!("{}/orders/{{{{case.id}}}}", shop.url),
        )
        .await;
    // A sample value for each placeholder the URL holds.
    browser.fill("Sample value of {{case.id}}", "72").await;
    click(browser.button("Test URL").await).await;
    browser
        .wait_for_text(".test-result", "The URL answered 200")
        .await;
    // The answer is shown, and its variables are offered as checkboxes.
    browser
        .wait_for_text(".test-result pre", "\"shipped\"")
        .await;
    click(browser.field("order.status").await).await;
    assert!(!browser
        .field("order.items[0].sku")
        .await
        .is_selected()
        .await
        .unwrap());
    browser.fill("Add more variables", "loyalty_tier").await;
    click(browser.button("Add").await).await;
    assert!(browser
        .field("loyalty_tier")
        .await
        .is_selected()
        .await
        .unwrap());
    browser
        .fill(
            "Fallback response, when webhook URL fails",
            r#"{"order": {"status": "unknown"}}"#,
        )
        .await;
    browser.screenshot("tested-with-variables").await;
    page_is_sound(&browser, &gateway).await;

    // Test called the URL as a chat would; nothing was saved by it.
    let call = &shop.received()[0];
    assert_eq!(call.target, "/orders/72");
    assert_eq!(call.header("authorization"), Some("Bearer shop-token"));

    click(browser.button("Create").await).await;
    browser
        .wait_for_text("h1", "Edit webhook: Order status")
        .await;
    browser
        .wait_for_text("#status", "Webhook \"Order status\" created.")
        .await;
    let saved = only_webhook(&gateway, &key).await;
    assert_eq!(saved["variables"], json!(["order.status", "loyalty_tier"]));
    assert_eq!(
        saved["fallbackResponse"],
        json!({"order": {"status": "unknown"}})
    );
    assert_eq!(saved["security"]["type"], "bearer");
    assert_eq!(saved["notificationEmail"], "ops@example.com");
    browser.screenshot("saved").await;

    // A chat resolves it.
    let id = saved["id"].as_str().unwrap();
    let answer = resolve(&gateway, &key, id, json!({"case": {"id": "72"}})).await;
    assert_eq!(answer["source"], "webhook");
    assert_eq!(
        answer["variables"],
        json!({"order.status": "shipped", "loyalty_tier": null})
    );

    // Twenty more, so the log has a second page.
    for _ in 0..20 {
        resolve(&gateway, &key, id, json!({"case": {"id": "72"}})).await;
    }

    click(browser.link("Resolve log").await).await;
    browser
        .wait_for_text("h1", "Resolve log: Order status")
        .await;
    browser.wait_for(".entries:not([aria-busy]) > .entry").await;
    assert_eq!(count(&browser, ".entries > .entry").await, 20);
    click(browser.button("Load more").await).await;
    browser
        .wait_until("the second page of the log", || async {
            match count(&browser, ".entries > .entry").await {
                21 => Ok(()),
                n => Err(format!("{n} entries")),
            }
        })
        .await;
    let entry = browser.wait_for_text(".entry", "Resolution").await;
    let shown = entry.text().await.unwrap();
    assert!(
        shown.contains("answered") && shown.contains("1 try"),
        "{shown}"
    );
    browser
        .wait_for_text(".entry table.attempts td", "200")
        .await;
    browser.screenshot("resolve-log").await;
    page_is_sound(&browser, &gateway).await;

    click(browser.link("Webhooks").await).await;
    let row = browser
        .wait_for_text("table.webhooks tbody tr", "Order status")
        .await;
    browser
        .wait_for_text("table.webhooks td.outcome", "answered")
        .await;
    let row = row.text().await.unwrap();
    assert!(row.contains("Inbound") && row.contains("Active"), "{row}");
    assert!(
        row.contains(&format!("{}/orders/{{{{case.id}}}}", shop.url)),
        "{row}"
    );
    browser.screenshot("list").await;
    page_is_sound(&browser, &gateway).await;
}

/// Create Webhook (outbound): the generated secret is shown once and is the one deliveries are
/// signed with; a published event shows in the delivery log with its attempt, Retry adds one,
/// Recover answers, and Rotate secret shows the new secret once.
#[tokio::test]
async fn console_outbound_webhook_delivers_and_shows_in_the_log() {
    let gateway = Gateway::start().await;
    let key = gateway.key("acme").await;
    let receiver = Upstream::start(vec![Reply::status(200, "thanks")]).await;
    let browser = Browser::start("console_outbound").await;
    sign_in(&browser, &gateway, &key).await;

    click(browser.link("Create Webhook").await).await;
    browser.wait_for_text("h1", "Create Webhook").await;
    browser.fill("Webhook Name", "CRM sync").await;
    click(browser.field("Outbound").await).await;
    browser.wait_for_text("legend", "Case Trigger Events").await;
    browser.fill("Email address", "ops@example.com").await;
    browser
        .fill("Webhook URL", &format!("{}/hooks", receiver.url))
        .await;
    click(browser.field("New case case:new").await).await;
    click(
        browser
            .field("Case status: closed case:status:closed")
            .await,
    )
    .await;
    click(browser.button("Send test event").await).await;
    browser
        .wait_for_text(".test-result", "The URL answered 200")
        .await;
    assert_eq!(receiver.calls(), 1, "the test event");
    browser.screenshot("form").await;
    page_is_sound(&browser, &gateway).await;

    click(browser.button("Create").await).await;
    let secret = browser
        .wait_for("dialog #secret-value")
        .await
        .text()
        .await
        .unwrap();
    assert!(secret.starts_with("whsec_"), "{secret}");
    click(browser.button("Copy").await).await;
    browser.wait_for_text("dialog", "C").await;
    browser.screenshot("secret-shown-once").await;
    page_is_sound(&browser, &gateway).await;
    click(browser.button("Done").await).await;
    browser.wait_for_text("h1", "Edit webhook: CRM sync").await;
    let saved = only_webhook(&gateway, &key).await;
    assert_eq!(saved["events"], json!(["case:new", "case:status:closed"]));
    assert_ne!(
        saved["security"]["secret"],
        json!(secret),
        "masked after creation"
    );

    // An event published for the account is delivered, signed with the secret shown.
    publish(
        &gateway,
        &key,
        json!({"id": "evt_console-72", "event": "case:new", "data": {"caseId": "72"}}),
    )
    .await;
    wait_for_calls(&receiver, 2).await;
    let delivered = receiver.received()[1].clone();
    hookline_tests::upstream::verify_signatures(&delivered, &secret);

    click(browser.link("Deliveries").await).await;
    browser.wait_for_text("h1", "Deliveries: CRM sync").await;
    // The outcome is recorded just after the receiver answered: refresh until it shows.
    browser
        .wait_until("the delivery to show as succeeded", || async {
            click(browser.button("Refresh").await).await;
            browser.wait_for("table.deliveries:not([aria-busy])").await;
            let rows = browser
                .client
                .find_all(fantoccini::Locator::Css("table.deliveries tbody tr"))
                .await
                .map_err(|e| e.to_string())?;
            for row in rows {
                let text = row.text().await.map_err(|e| e.to_string())?;
                if text.contains("evt_console-72") && text.contains("succeeded") {
                    return Ok(());
                }
            }
            Err("not yet".into())
        })
        .await;
    click(browser.button("Details of case:new evt_console-72").await).await;
    let attempts = browser
        .wait_for_text("tr.detail table.attempts", "thanks")
        .await;
    assert!(attempts.text().await.unwrap().contains("200"));
    browser.screenshot("delivery-detail").await;
    page_is_sound(&browser, &gateway).await;

    click(browser.button("Retry now").await).await;
    browser.wait_for_text("#status", "Resent: 200").await;
    wait_for_calls(&receiver, 3).await;
    let resent = receiver.received()[2].clone();
    assert_eq!(resent.header("webhook-id"), delivered.header("webhook-id"));
    browser
        .wait_for_text("tr.detail table.attempts", "sent by hand")
        .await;
    browser.screenshot("retried").await;

    click(browser.button("Recover").await).await;
    browser
        .wait_for_text("#recover-result", "0 failed deliveries queued")
        .await;

    // The list shows the last outcome.
    click(browser.link("Webhooks").await).await;
    browser
        .wait_for_text("table.webhooks td.outcome", "succeeded")
        .await;
    browser.screenshot("list").await;
    page_is_sound(&browser, &gateway).await;

    // Rotate: the new secret is shown once, and signs from now on.
    click(browser.link("CRM sync").await).await;
    browser.wait_for_text("h1", "Edit webhook: CRM sync").await;
    click(browser.button("Rotate secret").await).await;
    click(browser.button("Rotate now").await).await;
    let rotated = browser
        .wait_for("dialog #secret-value")
        .await
        .text()
        .await
        .unwrap();
    assert!(rotated.starts_with("whsec_") && rotated != secret);
    click(browser.button("Done").await).await;
    browser
        .wait_for_text(".card", "The previous secret also signs until")
        .await;
    browser.screenshot("rotated").await;
    publish(
        &gateway,
        &key,
        json!({"id": "evt_console-73", "event": "case:new", "data": {"caseId": "73"}}),
    )
    .await;
    wait_for_calls(&receiver, 4).await;
    let after = receiver.received()[3].clone();
    assert!(
        after.header("webhook-signature").unwrap().contains(' '),
        "both secrets sign"
    );
    page_is_sound(&browser, &gateway).await;
}

/// Bad input: each error the API reports is shown beside the field it names, with the API's
/// message, the field marked invalid and focused; nothing is saved until it is right.
#[tokio::test]
async fn console_validation_errors_show_next_to_their_field() {
    let gateway = Gateway::start().await;
    let key = gateway.key("acme").await;
    let browser = Browser::start("console_validation").await;
    sign_in(&browser, &gateway, &key).await;
    click(browser.link("Create Webhook").await).await;
    browser.wait_for_text("h1", "Create Webhook").await;
    browser.fill("Webhook Name", "CRM sync").await;
    click(browser.field("Outbound").await).await;
    browser.fill("Email address", "ops@example.com").await;
    browser
        .fill("Webhook URL", "ftp://crm.example.com/hooks")
        .await;
    click(browser.field("New case case:new").await).await;

    let (field, message) = api_error_for(
        &gateway,
        &key,
        json!({"name": "CRM sync", "flow": "outbound", "url": "ftp://crm.example.com/hooks",
               "notificationEmail": "ops@example.com", "events": ["case:new"]}),
    )
    .await;
    assert_eq!(field, "url");
    click(browser.button("Create").await).await;
    browser.wait_for_text(".form-alert", &message).await;
    assert_eq!(
        error_beside(&browser, "Webhook URL").await,
        Some(message.clone())
    );
    assert_eq!(
        focused_and_invalid(&browser, "Webhook URL").await,
        (true, Some("true".into()))
    );
    assert_eq!(error_beside(&browser, "Webhook Name").await, None);
    browser.screenshot("url-error").await;
    page_is_sound(&browser, &gateway).await;

    browser
        .fill("Webhook URL", "https://crm.example.com/hooks")
        .await;
    browser.fill("Email address", "not an address").await;
    let (field, message) = api_error_for(
        &gateway,
        &key,
        json!({"name": "CRM sync", "flow": "outbound", "url": "https://crm.example.com/hooks",
               "notificationEmail": "not an address", "events": ["case:new"]}),
    )
    .await;
    assert_eq!(field, "notificationEmail");
    click(browser.button("Create").await).await;
    browser.wait_for_text(".form-alert", &message).await;
    assert_eq!(error_beside(&browser, "Email address").await, Some(message));
    assert_eq!(
        error_beside(&browser, "Webhook URL").await,
        None,
        "the old error is gone"
    );
    assert_eq!(
        focused_and_invalid(&browser, "Email address").await,
        (true, Some("true".into()))
    );

    browser.fill("Email address", "ops@example.com").await;
    click(browser.field("New case case:new").await).await; // no event left
    let (field, message) = api_error_for(
        &gateway,
        &key,
        json!({"name": "CRM sync", "flow": "outbound", "url": "https://crm.example.com/hooks",
               "notificationEmail": "ops@example.com", "events": []}),
    )
    .await;
    assert_eq!(field, "events");
    click(browser.button("Create").await).await;
    browser.wait_for_text(".form-alert", &message).await;
    assert_eq!(group_error(&browser, "events").await, Some(message));
    browser.screenshot("events-error").await;

    // A credential of the chosen security type, named inside `security`.
    click(browser.field("New case case:new").await).await;
    browser
        .field("Type")
        .await
        .select_by_label("Basic auth")
        .await
        .unwrap();
    browser.fill("Username", "crm").await;
    click(browser.button("Create").await).await;
    browser.wait_for_text(".form-alert", "Password").await;
    assert!(error_beside(&browser, "Password").await.is_some());
    assert_eq!(
        focused_and_invalid(&browser, "Password").await,
        (true, Some("true".into()))
    );
    browser.screenshot("password-error").await;

    let r = gateway
        .stack
        .api
        .call("GET", "/api/v1/webhook", Some(&key), None)
        .await;
    assert_eq!(r.body["data"], json!([]), "nothing was saved");

    // Fallback JSON that does not parse is caught before sending (it cannot be sent as JSON).
    click(browser.field("Inbound").await).await;
    browser
        .fill("Fallback response, when webhook URL fails", "{oops")
        .await;
    click(browser.button("Create").await).await;
    let shown = browser
        .wait_until("the fallback error", || async {
            error_beside(&browser, "Fallback response, when webhook URL fails")
                .await
                .ok_or_else(|| "no error yet".to_string())
        })
        .await;
    assert!(shown.starts_with("is not valid JSON"), "{shown}");
    page_is_sound(&browser, &gateway).await;
}

/// Everything from the keyboard: sign in with Enter, Tab to Create Webhook, fix what the API
/// refuses where the focus lands, and Create.
#[tokio::test]
async fn console_works_from_the_keyboard() {
    use fantoccini::key::Key;
    let gateway = Gateway::start().await;
    let key = gateway.key("acme").await;
    let browser = Browser::start("console_keyboard").await;
    let shop = Upstream::start(vec![Reply::json(r#"{"ok": true}"#)]).await;
    let typed = |text: String| {
        let browser = &browser;
        async move {
            let focused = browser
                .client
                .active_element()
                .await
                .expect("a focused element");
            focused.send_keys(&text).await.expect("type");
        }
    };
    let focused_label = || async {
        browser
            .client
            .execute(
                "const el = document.activeElement;
                 return el.labels?.[0]?.textContent ?? el.textContent;",
                vec![],
            )
            .await
            .unwrap()
            .as_str()
            .unwrap_or_default()
            .to_string()
    };

    browser.goto(&gateway.url("/console")).await;
    browser.wait_for_text("h1", "Sign in").await;
    assert_eq!(
        focused_label().await,
        "API key",
        "the key field has the focus"
    );
    typed(format!("{key}{}", Key::Enter)).await;
    browser.wait_for_text("h1", "Webhooks").await;
    typed(Key::Tab.to_string()).await;
    assert_eq!(focused_label().await, "Create Webhook");
    typed(Key::Enter.to_string()).await;
    browser.wait_for_text("h1", "Create Webhook").await;
    typed(Key::Tab.to_string()).await;
    assert_eq!(focused_label().await, "Webhook Name");
    // Enter submits; the API's first complaint takes the focus.
    typed(format!("Order status{}", Key::Enter)).await;
    browser.wait_for_text(".form-alert", "is required").await;
    assert_eq!(focused_label().await, "Webhook URL");
    typed(format!("{}/orders{}", shop.url, Key::Enter)).await;
    browser.wait_for_text(".form-alert", "Email address").await;
    assert_eq!(focused_label().await, "Email address");
    typed(format!("ops@example.com{}", Key::Enter)).await;
    browser
        .wait_for_text(".form-alert", "Fallback response")
        .await;
    assert_eq!(
        focused_label().await,
        "Fallback response, when webhook URL fails"
    );
    typed(r#"{"order": null}"#.to_string()).await;
    // Tab out of the text area to the Create button, and press it with the keyboard.
    typed(Key::Tab.to_string()).await;
    assert_eq!(focused_label().await, "Create");
    typed(Key::Enter.to_string()).await;
    // The generated secret, shown once in a modal dialog that has the focus: Escape closes it.
    browser.wait_for("dialog #secret-value").await;
    assert_eq!(focused_label().await, "Copy");
    browser.screenshot("secret-dialog").await;
    typed(Key::Escape.to_string()).await;
    browser
        .wait_for_text("h1", "Edit webhook: Order status")
        .await;
    browser.screenshot("created-from-the-keyboard").await;
    let saved = only_webhook(&gateway, &key).await;
    assert_eq!(saved["fallbackResponse"], json!({"order": null}));
}

/// The edit page: a saved inbound webhook tested with an unsaved URL, saved, refused with 409
/// when someone else changed it meanwhile (Reload shows theirs), refused with 403 for a
/// read-only key, and deleted.
#[tokio::test]
async fn console_edits_save_conflict_and_delete() {
    let gateway = Gateway::start().await;
    let key = gateway.key("acme").await;
    let old_shop = Upstream::start(vec![Reply::json(r#"{"old": true}"#)]).await;
    let new_shop = Upstream::start(vec![Reply::json(r#"{"customer": {"tier": "gold"}}"#)]).await;
    let mut body = hookline_tests::inbound_body(&format!("{}/a", old_shop.url));
    body["security"] = json!({"type": "basic", "username": "shop", "password": "s3cret"});
    let created = gateway
        .stack
        .api
        .call("POST", "/api/v1/webhook", Some(&key), Some(body))
        .await;
    let id = created.body["id"].as_str().unwrap().to_string();
    let browser = Browser::start("console_edit").await;
    sign_in(&browser, &gateway, &key).await;
    click(browser.link("Order lookup").await).await;
    browser
        .wait_for_text("h1", "Edit webhook: Order lookup")
        .await;
    // The saved password is not shown, and an empty field keeps it.
    assert_eq!(
        browser
            .field("Password")
            .await
            .prop("value")
            .await
            .unwrap()
            .as_deref(),
        Some("")
    );
    assert_eq!(
        browser
            .field("Username")
            .await
            .prop("value")
            .await
            .unwrap()
            .as_deref(),
        Some("shop")
    );

    // Test uses the form as it is, unsaved URL included. The URL moves to another host, where
    // the stored password does not follow: the form asks for it, and so does the API.
    browser
        .fill("Webhook URL", &format!("{}/b", new_shop.url))
        .await;
    browser
        .wait_for_text(
            ".credentials",
            "The URL moves to another host: enter it again",
        )
        .await;
    click(browser.button("Test URL").await).await;
    browser
        .wait_until("the password's error", || async {
            match error_beside(&browser, "Password").await {
                Some(e) if e.contains("another origin") => Ok(e),
                other => Err(format!("{other:?}")),
            }
        })
        .await;
    assert_eq!((old_shop.calls(), new_shop.calls()), (0, 0));
    browser.screenshot("moved-needs-password").await;
    browser.fill("Password", "s3cret").await;
    click(browser.button("Test URL").await).await;
    browser
        .wait_for_text(".test-result", "The URL answered 200")
        .await;
    assert_eq!((old_shop.calls(), new_shop.calls()), (0, 1));
    assert_eq!(
        new_shop.received()[0].header("authorization"),
        Some("Basic c2hvcDpzM2NyZXQ="),
        "shop:s3cret"
    );
    click(browser.field("customer.tier").await).await;
    click(browser.field("Inactive").await).await;
    click(browser.button("Save").await).await;
    browser.wait_for_text("#status", "Saved: version 2.").await;
    let saved = only_webhook(&gateway, &key).await;
    assert_eq!(saved["url"], json!(format!("{}/b", new_shop.url)));
    assert_eq!(saved["status"], "inactive");
    assert_eq!(saved["variables"], json!(["order.status", "customer.tier"]));
    assert_eq!(saved["security"]["username"], "shop");
    browser.screenshot("saved").await;
    page_is_sound(&browser, &gateway).await;

    // Someone else saves meanwhile: this page's save is refused, and Reload shows theirs.
    let theirs = gateway
        .stack
        .api
        .call(
            "PUT",
            &format!("/api/v1/webhook/{id}"),
            Some(&key),
            Some(json!({"name": "Renamed elsewhere"})),
        )
        .await;
    assert_eq!(theirs.status, 200);
    browser.fill("Webhook Name", "Mine").await;
    click(browser.button("Save").await).await;
    browser
        .wait_for_text(".form-alert", "version 3, not 2")
        .await;
    let alert_focused = browser
        .client
        .execute(
            "return document.activeElement.classList.contains('form-alert');",
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(
        alert_focused,
        json!(true),
        "the message is brought into view"
    );
    browser.screenshot("conflict").await;
    click(browser.button("Reload").await).await;
    browser
        .wait_for_text("h1", "Edit webhook: Renamed elsewhere")
        .await;
    assert_eq!(
        only_webhook(&gateway, &key).await["name"],
        "Renamed elsewhere"
    );

    // A read-only key may look, not change.
    let read_only = gateway
        .stack
        .api
        .key_with_scope("acme", hookline::store::KeyScope::ReadOnly)
        .await;
    click(browser.button("Sign out").await).await;
    sign_in(&browser, &gateway, &read_only).await;
    click(browser.link("Renamed elsewhere").await).await;
    browser
        .wait_for_text("h1", "Edit webhook: Renamed elsewhere")
        .await;
    click(browser.button("Save").await).await;
    browser
        .wait_for_text(".form-alert", "this API key is read-only")
        .await;
    click(browser.button("Sign out").await).await;

    sign_in(&browser, &gateway, &key).await;
    click(browser.link("Renamed elsewhere").await).await;
    click(browser.button("Delete webhook").await).await;
    click(browser.button("Delete now").await).await;
    browser.wait_for_text("#status", "deleted").await;
    browser.wait_for_text(".empty", "No webhooks yet").await;
    let r = gateway
        .stack
        .api
        .call("GET", "/api/v1/webhook", Some(&key), None)
        .await;
    assert_eq!(r.body["data"], json!([]));
    page_is_sound(&browser, &gateway).await;
}

/// The list: pages of 20, the flow filter, names shown as text (never as markup), the session:
/// Sign out forgets the key, and a key revoked mid-session sends the user back to sign in.
#[tokio::test]
async fn console_lists_pages_filters_and_ends_sessions() {
    let gateway = Gateway::start().await;
    let now = time::OffsetDateTime::now_utc();
    let (key, record) = hookline::apikeys::issue(
        &gateway.stack.api.app.store,
        "acme",
        "console test",
        hookline::store::KeyScope::Full,
        now,
    )
    .await
    .unwrap();
    let hostile = r#"<img src=x onerror="document.title='pwned'">"#;
    for i in 0..21 {
        let mut body = outbound_body("https://crm.example.com/hooks");
        body["name"] = json!(if i == 0 {
            hostile.to_string()
        } else {
            format!("Hook {i:02}")
        });
        if i == 20 {
            body = hookline_tests::inbound_body("https://shop.example.com/orders");
            body["name"] = json!("Shop lookup");
        }
        let r = gateway
            .stack
            .api
            .call("POST", "/api/v1/webhook", Some(&key), Some(body))
            .await;
        assert_eq!(r.status, 201, "{:?}", r.body);
    }
    let browser = Browser::start("console_list").await;
    sign_in(&browser, &gateway, &key).await;
    browser.wait_for_text("table.webhooks", "Hook 19").await;
    assert_eq!(count(&browser, "table.webhooks tbody tr").await, 20);
    // The name is shown as the characters it is.
    browser.wait_for_text("table.webhooks th a", hostile).await;
    assert_eq!(browser.client.title().await.unwrap(), "Hookline console");
    browser
        .wait_for_text("table.webhooks td.outcome", "No deliveries yet")
        .await;
    browser.screenshot("first-page").await;
    page_is_sound(&browser, &gateway).await;

    click(browser.link("Next page").await).await;
    browser.wait_for_text("table.webhooks", "Shop lookup").await;
    assert_eq!(count(&browser, "table.webhooks tbody tr").await, 1);
    browser
        .wait_for_text("table.webhooks td.outcome", "No resolutions yet")
        .await;
    click(browser.link("First page").await).await;
    browser.wait_for_text("table.webhooks", "Hook 01").await;

    browser
        .field("Flow")
        .await
        .select_by_label("Inbound")
        .await
        .unwrap();
    wait_for_table(&browser, "only the inbound webhook", |shown| {
        shown.contains("Shop lookup") && !shown.contains("Hook 01")
    })
    .await;
    assert_eq!(count(&browser, "table.webhooks tbody tr").await, 1);
    browser.screenshot("inbound-only").await;

    // Sign out forgets the key.
    click(browser.button("Sign out").await).await;
    browser.wait_for_text("h1", "Sign in").await;
    assert_eq!(stored_items(&browser).await, 0, "the key is forgotten");

    // A revoked key: the next call answers 401 and the user is asked to sign in again.
    sign_in(&browser, &gateway, &key).await;
    wait_for_table(&browser, "every row's last outcome", |shown| {
        !shown.contains("loading")
    })
    .await;
    use hookline::store::ApiKeyStore;
    gateway
        .stack
        .api
        .app
        .store
        .revoke_api_key("acme", &record.key_id)
        .await
        .unwrap();
    click(browser.link("Create Webhook").await).await;
    browser.fill("Webhook Name", "Too late").await;
    click(browser.button("Create").await).await;
    browser
        .wait_for_text("#api-key-error", "no longer valid")
        .await;
    browser.screenshot("revoked").await;
    assert_eq!(stored_items(&browser).await, 0, "the key is forgotten");
    // And a wrong key is refused at sign-in with the API's message.
    browser.fill("API key", "hl_not-a-key").await;
    click(browser.button("Sign in").await).await;
    browser
        .wait_for_text(
            "#api-key-error",
            "the API key is invalid or has been revoked",
        )
        .await;
    page_is_sound(&browser, &gateway).await;
}
