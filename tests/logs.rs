//! Logs and e-mails carry no credential. Everything the functions log, at the most verbose
//! level and through the production filter, and every failure e-mail they send, is captured while
//! webhooks with every kind of credential are created, rotated, refused, resolved and delivered
//! to (successes and failures), then searched.

use std::sync::{Arc, Mutex};

use base64::Engine;
use hookline::clock::SystemClock;
use hookline::http::ReqwestClient;
use hookline::notify::RecordingMailer;
use hookline::outbound::Deliverer;
use hookline::outbound::DeliverySettings;
use hookline::queue::MemoryDeliveryQueue;
use hookline_tests::stack::{Stack, BASE};
use hookline_tests::upstream::{Reply, Upstream};
use hookline_tests::{inbound_body, outbound_body};
use serde_json::json;

/// Where the test's log lines go.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for Captured {
    type Writer = Captured;
    fn make_writer(&'a self) -> Self::Writer {
        self.clone()
    }
}

const HMAC_SECRET: &str = "whsec_TEVBSy1DQU5BUlktaG1hYy1zZWNyZXQtMzJieXRlcyE=";
const ROTATED_SECRET: &str = "whsec_TEVBSy1DQU5BUlktcm90YXRlZC1zZWNyZXQtMzJieSE=";
const PASSWORD: &str = "LEAK-CANARY-password";
const TOKEN: &str = "LEAK-CANARY-bearer-token";
const HEADER_VALUE: &str = "LEAK-CANARY-header-value";
const URL_KEY: &str = "LEAK-CANARY-url-api-key";

#[tokio::test]
async fn no_credential_reaches_the_logs_or_e_mails() {
    let logs = Captured::default();
    let subscriber = tracing_subscriber::fmt()
        .json()
        .flatten_event(true)
        .with_env_filter(hookline::telemetry::filter("trace"))
        .with_writer(logs.clone())
        .finish();
    // The test runs on one thread (tokio's current-thread runtime), so everything logs here.
    let _guard = tracing::subscriber::set_default(subscriber);

    let stack = Stack::new().await;
    let key = stack.api.key("acme").await;
    let failing = Upstream::start(vec![Reply::status(500, "down")]).await;
    let working = Upstream::start(vec![Reply::json(r#"{"order": {"status": "shipped"}}"#)]).await;

    let mut hmac = outbound_body(&failing.url);
    hmac["security"] = json!({"type": "hmac", "secret": HMAC_SECRET});
    let mut basic = outbound_body(&working.url);
    basic["security"] = json!({"type": "basic", "username": "user", "password": PASSWORD});
    let mut bearer = inbound_body(&format!("{}/orders?api_key={URL_KEY}", failing.url));
    bearer["security"] = json!({"type": "bearer", "token": TOKEN});
    let mut header = inbound_body(&working.url);
    header["security"] = json!({"type": "header", "name": "X-Api-Key", "value": HEADER_VALUE});
    let email = hookline_tests::unique_email();
    let mut ids = Vec::new();
    for mut body in [hmac, basic, bearer, header] {
        body["notificationEmail"] = json!(email);
        ids.push(stack.create(&key, body).await);
    }
    let r = stack
        .api
        .call(
            "POST",
            &format!("{BASE}/{}/rotate-secret", ids[0]),
            Some(&key),
            Some(json!({"secret": ROTATED_SECRET})),
        )
        .await;
    assert_eq!(r.status, 200);
    // Refused writes that carry credentials.
    let r = stack
        .api
        .call(
            "PUT",
            &format!("{BASE}/{}", ids[1]),
            Some(&key),
            Some(json!({"security": {"type": "basic", "username": "user", "password": PASSWORD}, "bogus": 1})),
        )
        .await;
    assert_eq!(r.status, 400);
    let r = stack
        .api
        .call(
            "POST",
            BASE,
            Some(&key),
            Some(json!({"name": "x", "flow": "outbound", "security": {"type": "bearer", "token": TOKEN}, "url": "ftp://x"})),
        )
        .await;
    assert_eq!(r.status, 400);
    // Resolutions: one falls back (and e-mails), one succeeds; a test call.
    for id in &ids[2..] {
        assert_eq!(stack.resolve(Some(&key), id, None).await.status, 200);
    }
    let r = stack
        .api
        .call("POST", &format!("{BASE}/{}/test", ids[3]), Some(&key), None)
        .await;
    assert_eq!(r.status, 200);
    // The console's tests: a draft and a saved webhook's unsaved edits, both with credentials,
    // one to a failing URL that carries a key.
    let draft = json!({"flow": "inbound", "url": format!("{}/orders?api_key={URL_KEY}", failing.url),
                       "security": {"type": "header", "name": "X-Api-Key", "value": HEADER_VALUE}});
    let r = stack
        .api
        .call(
            "POST",
            &format!("{BASE}/test"),
            Some(&key),
            Some(json!({"webhook": draft})),
        )
        .await;
    assert_eq!((r.status, r.body["ok"].as_bool()), (200, Some(false)));
    let edits = json!({"security": {"type": "bearer", "token": TOKEN}, "url": format!("{}/orders?api_key={URL_KEY}", failing.url)});
    let r = stack
        .api
        .call(
            "POST",
            &format!("{BASE}/{}/test", ids[3]),
            Some(&key),
            Some(json!({"webhook": edits})),
        )
        .await;
    assert_eq!((r.status, r.body["ok"].as_bool()), (200, Some(false)));
    // Deliveries: a failure (retried later) and a success.
    let deliverer = Deliverer::new(
        stack.api.app.store.clone(),
        ReqwestClient::new(hookline_tests::local_egress()),
        RecordingMailer::default(),
        MemoryDeliveryQueue::default(),
        Arc::new(SystemClock),
        hookline::random::os(),
        DeliverySettings {
            warn_after: 1,
            ..DeliverySettings::default()
        },
    );
    let event = hookline_tests::case_new("acme", "evt_1");
    hookline_tests::deliver_event(&deliverer, &event).await;
    hookline_tests::send_queued_notices(&deliverer).await;
    // 3 tries of a resolution, 2 tests and a delivery failed; a resolution, a test and a delivery worked.
    assert_eq!((failing.calls(), working.calls()), (6, 3));

    let mut mails: Vec<String> = hookline_tests::emails_to(&email)
        .await
        .into_iter()
        .map(|m| format!("{}\n{}", m.subject, m.body))
        .collect();
    assert_eq!(mails.len(), 1, "the resolver's failure e-mail");
    mails.extend(
        deliverer
            .mailer()
            .sent()
            .into_iter()
            .map(|m| format!("{}\n{}", m.subject, m.text)),
    );
    assert_eq!(mails.len(), 2, "and the delivery's");
    let text = String::from_utf8(logs.0.lock().unwrap().clone()).unwrap();
    // The capture works: the functions' own lines are there.
    assert!(
        text.contains(&ids[0]) && text.contains(&ids[2]),
        "expected log lines naming the webhooks:\n{text}"
    );
    let basic_header = base64::engine::general_purpose::STANDARD.encode(format!("user:{PASSWORD}"));
    let mails = mails.join("\n");
    for secret in [
        HMAC_SECRET,
        &HMAC_SECRET[6..],
        ROTATED_SECRET,
        &ROTATED_SECRET[6..],
        PASSWORD,
        TOKEN,
        HEADER_VALUE,
        &basic_header,
        URL_KEY,
        "LEAK-CANARY",
    ] {
        assert!(!text.contains(secret), "a credential in the logs: {secret}");
        assert!(
            !mails.contains(secret),
            "a credential in an e-mail: {secret}\n{mails}"
        );
    }
    eprintln!("{} log lines searched", text.lines().count());
}
