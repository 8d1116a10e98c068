//! Inbound resolution against real HTTP servers on 127.0.0.1: tries, fallback, deadline,
//! rendering, formats, credentials, failure e-mails.

use std::sync::Arc;
use std::time::{Duration, Instant};

use hookline::clock::SystemClock;
use hookline::http::ReqwestClient;
use hookline::inbound::{Resolver, ResolverSettings, Source};
use hookline::model::Webhook;
use hookline::notify::RecordingMailer;
use hookline::store::memory::MemoryStore;
use hookline::store::ActivityLog;
use hookline_tests::upstream::{refused_url, Reply, Upstream};
use serde_json::{json, Value};

type TestResolver = Resolver<ReqwestClient, RecordingMailer, MemoryStore>;

fn resolver(settings: ResolverSettings) -> TestResolver {
    Resolver {
        http: ReqwestClient::new(hookline_tests::local_egress()),
        mailer: RecordingMailer::default(),
        store: MemoryStore::new(),
        clock: Arc::new(SystemClock),
        settings,
    }
}

/// A resolver over the local stack's DynamoDB (a table of its own) and SES, and its store.
async fn over_the_local_stack(
    settings: ResolverSettings,
) -> (
    Resolver<ReqwestClient, hookline::notify::SesMailer, hookline::store::dynamo::DynamoStore>,
    hookline::store::dynamo::DynamoStore,
) {
    let store = hookline_tests::fresh_store().await;
    let resolver = Resolver {
        http: ReqwestClient::new(hookline_tests::local_egress()),
        mailer: hookline_tests::ses_mailer().await,
        store: store.clone(),
        clock: Arc::new(SystemClock),
        settings,
    };
    (resolver, store)
}

fn fast() -> ResolverSettings {
    ResolverSettings::default()
}

fn webhook(url: &str, extra: Value) -> Webhook {
    let mut body = json!({"name": "Order lookup", "flow": "inbound", "url": url, "notificationEmail": "ops@example.com",
                          "variables": ["order.status"], "fallbackResponse": {"order": {"status": "unknown"}}});
    for (k, v) in extra.as_object().unwrap() {
        body[k] = v.clone();
    }
    hookline_tests::webhook_from(&body, "acme")
}

fn none() -> Value {
    json!({"security": {"type": "none"}})
}

#[tokio::test]
async fn success_on_the_first_try() {
    let up = Upstream::start(vec![Reply::json(
        r#"{"order": {"status": "shipped", "eta": "2d"}}"#,
    )])
    .await;
    let r = resolver(fast());
    let w = webhook(&format!("{}/orders/{{{{case.id}}}}", up.url), none());
    let res = r.resolve(&w, &json!({"case.id": "72"})).await;
    assert_eq!(res.source, Source::Webhook);
    assert_eq!(
        res.data,
        json!({"order": {"status": "shipped", "eta": "2d"}})
    );
    assert_eq!(
        Value::Object(res.variables),
        json!({"order.status": "shipped"})
    );
    assert_eq!(res.attempts.len(), 1);
    assert_eq!(
        (res.attempts[0].status, res.attempts[0].error.clone()),
        (Some(200), None)
    );
    assert_eq!(up.calls(), 1);
    assert_eq!(up.received()[0].target, "/orders/72");
    assert_eq!(up.received()[0].method, "GET");
    assert!(r.mailer.sent().is_empty());
    let log = r
        .store
        .list_activity("acme", &w.id, 10, None)
        .await
        .unwrap();
    assert_eq!(
        (log.items.len(), log.items[0].source.as_str()),
        (1, "webhook")
    );
}

#[tokio::test]
async fn fail_fail_succeed_is_three_calls_and_the_webhook_answers() {
    let up = Upstream::start(vec![
        Reply::status(500, "oops"),
        Reply::status(502, ""),
        Reply::json(r#"{"order":{"status":"ok"}}"#),
    ])
    .await;
    let r = resolver(fast());
    let res = r.resolve(&webhook(&up.url, none()), &json!({})).await;
    assert_eq!(res.source, Source::Webhook);
    assert_eq!(up.calls(), 3);
    let statuses: Vec<_> = res.attempts.iter().map(|a| a.status).collect();
    assert_eq!(statuses, vec![Some(500), Some(502), Some(200)]);
    assert!(
        r.mailer.sent().is_empty(),
        "a webhook that answered in the end is no failure"
    );
}

#[tokio::test]
async fn three_failures_of_each_kind_give_the_fallback_after_exactly_three_calls() {
    let oversized = format!("{{\"x\": \"{}\"}}", "a".repeat(300 * 1024));
    let cases: Vec<(&str, Reply, Value)> = vec![
        ("HTTP 500", Reply::status(500, "boom"), none()),
        (
            "timed out",
            Reply::Hang,
            json!({"security": {"type": "none"}, "timeoutMs": 200}),
        ),
        ("invalid JSON", Reply::json("<html>not json</html>"), none()),
        ("larger than", Reply::json(&oversized), none()),
    ];
    for (expected_error, reply, extra) in cases {
        let up = Upstream::start(vec![reply]).await;
        let r = resolver(fast());
        let w = webhook(&up.url, extra);
        let res = r.resolve(&w, &json!({})).await;
        assert_eq!(res.source, Source::Fallback, "{expected_error}");
        assert_eq!(res.data, json!({"order": {"status": "unknown"}}));
        assert_eq!(
            Value::Object(res.variables.clone()),
            json!({"order.status": "unknown"}),
            "variables come from the fallback"
        );
        assert_eq!(up.calls(), 3, "{expected_error}");
        assert_eq!(res.attempts.len(), 3);
        for a in &res.attempts {
            assert!(
                a.error
                    .as_deref()
                    .unwrap_or_default()
                    .contains(expected_error),
                "{expected_error}: {a:?}"
            );
        }
        assert_eq!(
            r.mailer.sent().len(),
            1,
            "{expected_error}: one failure e-mail"
        );
    }

    // Connection refused: nothing to count on the server side, so count the attempts.
    let r = resolver(fast());
    let res = r
        .resolve(&webhook(&refused_url().await, none()), &json!({}))
        .await;
    assert_eq!(res.source, Source::Fallback);
    assert_eq!(res.attempts.len(), 3);
    assert!(res
        .attempts
        .iter()
        .all(|a| a.status.is_none() && a.error.as_deref().unwrap().contains("connection")));
}

#[tokio::test]
async fn a_404_is_permanent_one_call_then_the_fallback() {
    let up = Upstream::start(vec![Reply::status(404, "no such order")]).await;
    let r = resolver(fast());
    let res = r.resolve(&webhook(&up.url, none()), &json!({})).await;
    assert_eq!(
        (res.source, up.calls(), res.attempts.len()),
        (Source::Fallback, 1, 1)
    );
    assert_eq!(res.attempts[0].error.as_deref(), Some("HTTP 404"));

    // 429 is not permanent...
    let up = Upstream::start(vec![Reply::status(429, ""), Reply::json(r#"{"order":{}}"#)]).await;
    let res = resolver(fast())
        .resolve(&webhook(&up.url, none()), &json!({}))
        .await;
    assert_eq!((res.source, up.calls()), (Source::Webhook, 2));

    // ...but a Retry-After longer than the time left ends the tries.
    let up = Upstream::start(vec![Reply::status(503, "").with_header("retry-after", "30")]).await;
    let res = resolver(fast())
        .resolve(&webhook(&up.url, none()), &json!({}))
        .await;
    assert_eq!((res.source, up.calls()), (Source::Fallback, 1));
}

#[tokio::test]
async fn a_slow_upstream_cannot_hold_the_answer_past_the_deadline() {
    // Each try may take 10 s, the upstream needs 20 s, the deadline is 1 s.
    let up = Upstream::start(vec![Reply::json("{}").after(Duration::from_secs(20))]).await;
    let r = resolver(ResolverSettings {
        deadline: Duration::from_secs(1),
        ..fast()
    });
    let w = webhook(
        &up.url,
        json!({"security": {"type": "none"}, "timeoutMs": 10000}),
    );
    let started = Instant::now();
    let res = r.resolve(&w, &json!({})).await;
    let took = started.elapsed();
    assert_eq!(res.source, Source::Fallback);
    assert_eq!(
        res.attempts.len(),
        1,
        "the deadline cut the first try short"
    );
    assert!(
        took < Duration::from_millis(2500),
        "answered after {took:?}; the deadline is 1 s"
    );
    assert!(
        took >= Duration::from_millis(900),
        "answered after {took:?}, before the deadline"
    );
}

#[tokio::test]
async fn inactive_webhooks_answer_with_the_fallback_without_a_call() {
    let up = Upstream::start(vec![Reply::json("{}")]).await;
    let r = resolver(fast());
    let w = webhook(
        &up.url,
        json!({"security": {"type": "none"}, "status": "inactive"}),
    );
    let res = r.resolve(&w, &json!({})).await;
    assert_eq!(
        (res.source, up.calls(), res.attempts.len()),
        (Source::Fallback, 0, 0)
    );
    assert!(
        r.mailer.sent().is_empty(),
        "an inactive webhook is no failure"
    );
}

#[tokio::test]
async fn placeholders_are_url_encoded_and_missing_ones_reported() {
    let up = Upstream::start(vec![Reply::json(r#"{"ok":true}"#)]).await;
    let r = resolver(fast());
    let url = format!(
        "{}/find/{{{{city}}}}?q={{{{q}}}}&name={{{{visitor.name}}}}&x={{{{nope}}}}",
        up.url
    );
    let vars = json!({"q": "a&b=c", "visitor": {"name": "Ada Lovelace"}, "city": "São Paulo"});
    let res = r.resolve(&webhook(&url, none()), &vars).await;
    assert_eq!(res.source, Source::Webhook);
    assert_eq!(
        up.received()[0].target,
        "/find/S%C3%A3o%20Paulo?q=a%26b%3Dc&name=Ada%20Lovelace&x="
    );
    assert_eq!(res.missing_placeholders, vec!["nope"]);
}

#[tokio::test]
async fn xml_and_form_webhooks_send_and_parse_their_format() {
    let up = Upstream::start(vec![Reply::status(
        200,
        "<order><status>shipped</status><items><sku>A1</sku><sku>B2</sku></items></order>",
    )])
    .await;
    let r = resolver(fast());
    let w = webhook(
        &up.url,
        json!({"security": {"type": "none"}, "format": "application/xml", "method": "POST",
                                     "variables": ["order.status", "order.items.sku[1]"]}),
    );
    let res = r
        .resolve(&w, &json!({"visitor.email": "a@b.c", "case": {"id": "72"}}))
        .await;
    assert_eq!(res.source, Source::Webhook);
    assert_eq!(
        Value::Object(res.variables),
        json!({"order.status": "shipped", "order.items.sku[1]": "B2"})
    );
    let got = &up.received()[0];
    assert_eq!(got.method, "POST");
    assert_eq!(got.header("content-type"), Some("application/xml"));
    assert_eq!(
        String::from_utf8(got.body.clone()).unwrap(),
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?><variables><visitor.email>a@b.c</visitor.email><case><id>72</id></case></variables>"
    );

    let up = Upstream::start(vec![Reply::status(200, "status=shipped&eta=2+days")]).await;
    let w = webhook(
        &up.url,
        json!({"security": {"type": "none"}, "format": "application/x-www-form-urlencoded",
                                     "method": "POST", "variables": ["status", "eta"]}),
    );
    let res = r.resolve(&w, &json!({"visitor": {"email": "a@b.c"}})).await;
    assert_eq!(
        Value::Object(res.variables),
        json!({"status": "shipped", "eta": "2 days"})
    );
    let got = &up.received()[0];
    assert_eq!(
        got.header("content-type"),
        Some("application/x-www-form-urlencoded")
    );
    assert_eq!(
        String::from_utf8(got.body.clone()).unwrap(),
        "visitor%5Bemail%5D=a%40b.c"
    );
}

#[tokio::test]
async fn credentials_arrive_as_configured() {
    let r = resolver(fast());
    let cases = [
        (
            json!({"type": "basic", "username": "bot", "password": "pa:ss"}),
            "authorization",
            "Basic Ym90OnBhOnNz",
        ),
        (
            json!({"type": "bearer", "token": "tok-123"}),
            "authorization",
            "Bearer tok-123",
        ),
        (
            json!({"type": "header", "name": "X-Api-Key", "value": "k-9"}),
            "x-api-key",
            "k-9",
        ),
    ];
    for (security, header, expected) in cases {
        let up = Upstream::start(vec![Reply::json("{}")]).await;
        r.resolve(&webhook(&up.url, json!({"security": security})), &json!({}))
            .await;
        assert_eq!(up.received()[0].header(header), Some(expected));
    }

    // HMAC: checked here with the documented recipes, not with the code under test.
    let secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
    let up = Upstream::start(vec![Reply::json("{}")]).await;
    let w = webhook(
        &up.url,
        json!({"method": "POST", "security": {"type": "hmac", "secret": secret}}),
    );
    r.resolve(&w, &json!({"case.id": "72"})).await;
    let got = &up.received()[0];
    hookline_tests::upstream::verify_signatures(got, secret);
    let ts = got.header("webhook-timestamp").unwrap();
    let age = time::OffsetDateTime::now_utc().unix_timestamp() - ts.parse::<i64>().unwrap();
    assert!(
        (0..=5).contains(&age),
        "the timestamp is the time of the try"
    );
}

#[tokio::test]
async fn test_calls_once_and_discovers_nested_variables() {
    let body = r#"{"customer": {"name": "Ada", "orders": [{"id": 7, "items": [{"sku": "A1"}]}, {"id": 8, "items": []}]}, "vip": true}"#;
    let up = Upstream::start(vec![Reply::json(body)]).await;
    let r = resolver(fast());
    let outcome = r.test(&webhook(&up.url, none()), &json!({})).await;
    assert!(outcome.ok);
    assert_eq!(up.calls(), 1);
    assert_eq!(
        outcome.discovered_variables,
        vec![
            "customer.name",
            "customer.orders[0].id",
            "customer.orders[0].items[0].sku",
            "customer.orders[1].id",
            "customer.orders[1].items",
            "vip"
        ]
    );
    assert_eq!(outcome.data.unwrap()["customer"]["name"], "Ada");

    let failing = Upstream::start(vec![Reply::status(500, "")]).await;
    let outcome = r.test(&webhook(&failing.url, none()), &json!({})).await;
    assert!(!outcome.ok);
    assert_eq!(
        (failing.calls(), outcome.attempt.status),
        (1, Some(500)),
        "a test is one call, no retries"
    );
    assert!(r.mailer.sent().is_empty(), "tests send no failure e-mail");
}

#[tokio::test]
async fn two_failures_in_a_row_send_one_e_mail_through_the_local_ses() {
    let (r, store) = over_the_local_stack(fast()).await;
    let to = hookline_tests::unique_email();
    let up = Upstream::start(vec![Reply::status(500, "down")]).await;
    let url = format!(
        "{}/orders?email={{{{visitor.email}}}}&api_key=sk_live_123",
        up.url
    );
    let w = webhook(
        &url,
        json!({"security": {"type": "none"}, "notificationEmail": to}),
    );

    for _ in 0..2 {
        let res = r
            .resolve(&w, &json!({"visitor.email": "visitor@customer.com"}))
            .await;
        assert_eq!(res.source, Source::Fallback);
    }
    assert_eq!(up.calls(), 6);
    let sent = hookline_tests::emails_to(&to).await;
    assert_eq!(
        sent.len(),
        1,
        "two failures within 15 minutes: one e-mail, got {sent:?}"
    );
    let mail = &sent[0];
    assert_eq!(
        mail.source,
        format!("notifications@{}", hookline_tests::SENDER_DOMAIN)
    );
    assert!(mail.subject.contains("Order lookup"), "{}", mail.subject);
    assert!(mail.body.contains(&w.id), "{}", mail.body);
    assert_eq!(
        mail.body.matches("HTTP 500").count(),
        3,
        "each try's outcome: {}",
        mail.body
    );
    assert!(
        mail.body.contains("api_key=****"),
        "credentials in the URL are masked: {}",
        mail.body
    );
    assert!(
        !mail.body.contains("sk_live_123") && !mail.body.contains("visitor@customer.com"),
        "{}",
        mail.body
    );

    // Both resolutions are in the webhook's log, newest first, in DynamoDB.
    let log = store.list_activity("acme", &w.id, 10, None).await.unwrap();
    assert_eq!(log.items.len(), 2);
    assert!(log.items[0].id > log.items[1].id);
    assert!(log
        .items
        .iter()
        .all(|e| e.source == "fallback" && e.attempts.len() == 3));
}

/// The attack: a key holder makes many webhooks that fail, names them like a phishing message
/// and aims their failure e-mails at someone else. The account's hourly budget (shared through
/// DynamoDB) caps what goes out, and what does is short and plain.
#[tokio::test]
async fn failure_e_mails_cannot_be_turned_into_spam() {
    let (r, _) = over_the_local_stack(ResolverSettings {
        emails_per_hour: 3,
        ..fast()
    })
    .await;
    let victim = hookline_tests::unique_email();
    let answer = format!(
        "{}\n<a href=\"https://evil.example/\">click</a>",
        "X".repeat(50_000)
    );
    let up = Upstream::start(vec![Reply::status(500, &answer)]).await;
    let name = format!(
        "Your account is locked \u{202E}moc.elpmaxe\u{202C} verify now {}",
        "!".repeat(150)
    );
    for _ in 0..5 {
        let w = hookline_tests::webhook_from(
            &json!({"name": name, "flow": "inbound", "url": up.url, "notificationEmail": victim,
                    "security": {"type": "none"}, "fallbackResponse": {}}),
            "mallory",
        );
        let res = r.resolve(&w, &json!({})).await;
        assert_eq!(res.source, Source::Fallback);
    }
    let sent = hookline_tests::emails_to(&victim).await;
    assert_eq!(sent.len(), 3, "five failing webhooks, a budget of three");
    for mail in &sent {
        assert!(mail.subject.chars().count() <= 150, "{}", mail.subject);
        assert!(mail.body.len() <= 4096, "{} bytes", mail.body.len());
        for text in [&mail.subject, &mail.body] {
            assert!(
                !text.contains('\u{202E}')
                    && !text
                        .contains("!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!"),
                "the name is cleaned and cut: {text}"
            );
            assert!(!text.contains("XXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXX"));
            assert!(
                !text.contains("evil.example"),
                "the answer is not quoted: {text}"
            );
        }
    }

    // The budget is the account's: another account's failure still gets its e-mail.
    let ops = hookline_tests::unique_email();
    let w = webhook(
        &up.url,
        json!({"security": {"type": "none"}, "notificationEmail": ops}),
    );
    r.resolve(&w, &json!({})).await;
    assert_eq!(hookline_tests::emails_to(&ops).await.len(), 1);
}

#[tokio::test]
async fn internal_addresses_are_refused_before_anything_is_sent() {
    use hookline::egress::EgressPolicy;
    let up = Upstream::start(vec![Reply::json("{}")]).await;
    let port = up.url.rsplit(':').next().unwrap().to_string();
    // A deployment's policy: public addresses only.
    let r = Resolver {
        http: ReqwestClient::new(EgressPolicy::public_only()),
        ..resolver(fast())
    };
    for (url, why) in [
        (
            format!("http://127.0.0.1:{port}/"),
            "127.0.0.1 is a loopback address",
        ),
        (
            format!("http://localhost:{port}/"),
            "localhost is a loopback address",
        ),
        (
            format!("http://[::ffff:127.0.0.1]:{port}/"),
            "127.0.0.1 is a loopback address",
        ),
        (
            "http://169.254.169.254/latest/meta-data/".to_string(),
            "169.254.169.254 is a link-local address",
        ),
        (
            "http://10.0.0.7/".to_string(),
            "10.0.0.7 is a private address",
        ),
    ] {
        // Saved before a policy change, or a name that now resolves inward: the call is guarded
        // whatever validation let through.
        let mut w = webhook(&up.url, none());
        w.url = url.clone();
        let res = r.resolve(&w, &json!({})).await;
        assert_eq!(res.source, Source::Fallback, "{url}");
        assert_eq!(
            res.attempts.len(),
            1,
            "{url}: a refusal ends the tries at once"
        );
        let error = res.attempts[0].error.clone().unwrap();
        assert!(
            error.starts_with("refused: ") && error.contains(why),
            "{url}: {error}"
        );
    }
    assert_eq!(up.calls(), 0, "nothing reached the internal address");

    // The local stack's allow-list opens 127.0.0.1 and nothing else.
    let local = Resolver {
        http: ReqwestClient::new(hookline_tests::local_egress()),
        ..resolver(fast())
    };
    assert_eq!(
        local
            .resolve(&webhook(&up.url, none()), &json!({}))
            .await
            .source,
        Source::Webhook
    );
    let mut w = webhook(&up.url, none());
    w.url = format!("http://127.0.0.2:{port}/");
    let res = local.resolve(&w, &json!({})).await;
    assert!(res.attempts[0]
        .error
        .as_deref()
        .unwrap()
        .contains("loopback"));
}
