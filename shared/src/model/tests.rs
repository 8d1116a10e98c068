use serde_json::{json, Value};
use time::macros::datetime;

use super::*;

const NOW: time::OffsetDateTime = datetime!(2026-11-25 12:00 UTC);

fn rules() -> WebhookRules {
    WebhookRules {
        allow_plain_http: false,
        ..Default::default()
    }
}

fn create(body: Value) -> Result<Webhook, ValidationError> {
    WebhookPatch::from_json(&body)?.create("wh_1".into(), "acct".into(), NOW, &rules())
}

fn field_of(body: Value) -> String {
    create(body).expect_err("should be refused").field
}

fn outbound() -> Value {
    json!({"name": "CRM sync", "flow": "outbound", "url": "https://crm.example.com/hook",
           "notificationEmail": "ops@example.com", "events": ["case:new", "case:status:closed"]})
}

fn inbound() -> Value {
    json!({"name": "Order status", "flow": "inbound", "url": "https://shop.example.com/orders?email={{visitor.email}}",
           "notificationEmail": "ops@example.com", "fallbackResponse": {"status": "unknown"},
           "variables": ["order.status", "items[0].sku"]})
}

/// How the API shows `self`.
trait View {
    fn view(&self, reveal_secret: bool) -> Value;
}

impl View for Webhook {
    fn view(&self, reveal_secret: bool) -> Value {
        let out = if reveal_secret {
            crate::api::types::WebhookOut::revealed(self)
        } else {
            crate::api::types::WebhookOut::masked(self)
        };
        serde_json::to_value(out).unwrap()
    }
}

fn with(mut body: Value, key: &str, value: Value) -> Value {
    body[key] = value;
    body
}

#[test]
fn outbound_defaults_are_secure_and_documented() {
    let w = create(outbound()).unwrap();
    assert_eq!(w.format, Format::Json);
    assert_eq!(w.status, Status::Active);
    assert_eq!(w.version, 1);
    assert_eq!(
        w.config,
        FlowConfig::Outbound(OutboundConfig {
            events: vec![EventType::CaseNew, EventType::CaseStatusClosed],
            timeout_ms: 15_000,
        })
    );
    match &w.security {
        Security::Hmac { secret, previous } => {
            assert!(secret.starts_with("whsec_") && previous.is_empty())
        }
        other => panic!("default security should be a generated HMAC secret, got {other:?}"),
    }
}

#[test]
fn inbound_defaults() {
    let w = create(inbound()).unwrap();
    match w.config {
        FlowConfig::Inbound(c) => {
            assert_eq!(c.method, Method::Get);
            assert_eq!(c.timeout_ms, 3_000);
            assert_eq!(c.variables, vec!["order.status", "items[0].sku"]);
            assert_eq!(c.fallback_response, json!({"status": "unknown"}));
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn required_fields_are_named() {
    for field in ["name", "flow", "url", "notificationEmail", "events"] {
        let mut body = outbound();
        body.as_object_mut().unwrap().remove(field);
        assert_eq!(field_of(body), field);
    }
    let mut body = inbound();
    body.as_object_mut().unwrap().remove("fallbackResponse");
    assert_eq!(field_of(body), "fallbackResponse");
}

#[test]
fn bad_values_name_their_field() {
    let cases = [
        (with(outbound(), "name", json!("")), "name"),
        (with(outbound(), "name", json!("x".repeat(201))), "name"),
        (with(outbound(), "flow", json!("sideways")), "flow"),
        (with(outbound(), "format", json!("text/plain")), "format"),
        (with(outbound(), "status", json!("paused")), "status"),
        (with(outbound(), "url", json!("ftp://example.com")), "url"),
        (with(outbound(), "url", json!("http://example.com")), "url"),
        (
            with(outbound(), "url", json!("https://user:pw@example.com")),
            "url",
        ),
        (with(outbound(), "url", json!("not a url")), "url"),
        (
            with(
                outbound(),
                "url",
                json!(format!("https://e.com/{}", "a".repeat(2048))),
            ),
            "url",
        ),
        (with(outbound(), "url", json!("https://e.com/{{x}}")), "url"),
        (
            with(outbound(), "notificationEmail", json!("not-an-email")),
            "notificationEmail",
        ),
        (
            with(outbound(), "notificationEmail", json!("a@b")),
            "notificationEmail",
        ),
        (with(outbound(), "events", json!([])), "events"),
        (
            with(outbound(), "events", json!(["case:new", "case:deleted"])),
            "events[1]",
        ),
        (with(outbound(), "events", json!("case:new")), "events"),
        (with(outbound(), "timeoutMs", json!(999)), "timeoutMs"),
        (with(outbound(), "timeoutMs", json!(30_001)), "timeoutMs"),
        (with(outbound(), "timeoutMs", json!("5000")), "timeoutMs"),
        (with(outbound(), "surprise", json!(1)), "surprise"),
        (with(outbound(), "id", json!("wh_x")), "id"),
        (
            with(outbound(), "security", json!({"type": "magic"})),
            "security.type",
        ),
        (
            with(outbound(), "security", json!({"secret": "x"})),
            "security.type",
        ),
        (
            with(
                outbound(),
                "security",
                json!({"type": "hmac", "secret": "short"}),
            ),
            "security.secret",
        ),
        (
            with(
                outbound(),
                "security",
                json!({"type": "hmac", "secret": "whsec_AAAA"}),
            ),
            "security.secret",
        ),
        (
            with(outbound(), "security", json!({"type": "hmac", "extra": 1})),
            "security.extra",
        ),
        (
            with(
                outbound(),
                "security",
                json!({"type": "basic", "username": "u"}),
            ),
            "security.password",
        ),
        (
            with(
                outbound(),
                "security",
                json!({"type": "basic", "username": "a:b", "password": "p"}),
            ),
            "security.username",
        ),
        (
            with(
                outbound(),
                "security",
                json!({"type": "bearer", "token": "a\nb"}),
            ),
            "security.token",
        ),
        (
            with(
                outbound(),
                "security",
                json!({"type": "header", "name": "Content-Type", "value": "x"}),
            ),
            "security.name",
        ),
        (
            with(
                outbound(),
                "security",
                json!({"type": "header", "name": "bad name", "value": "x"}),
            ),
            "security.name",
        ),
        (
            with(
                outbound(),
                "security",
                json!({"type": "bearer", "token": "********"}),
            ),
            "security.token",
        ),
        (with(inbound(), "timeoutMs", json!(99)), "timeoutMs"),
        (with(inbound(), "method", json!("PUT")), "method"),
        (
            with(inbound(), "variables", json!(["ok", "a..b"])),
            "variables[1]",
        ),
        (
            with(inbound(), "variables", json!(["a", "a"])),
            "variables[1]",
        ),
        (
            with(inbound(), "fallbackResponse", json!("x".repeat(70_000))),
            "fallbackResponse",
        ),
        (
            with(inbound(), "url", json!("https://{{tenant}}.example.com/")),
            "url",
        ),
        (
            with(inbound(), "url", json!("https://e.com/{{a..b}}")),
            "url",
        ),
        (with(inbound(), "url", json!("https://e.com/{{open")), "url"),
    ];
    for (body, field) in cases {
        assert_eq!(field_of(body.clone()), field, "body: {body}");
    }
    assert_eq!(field_of(json!([1, 2])), "body");
}

#[test]
fn fields_of_the_other_flow_are_refused_not_dropped() {
    assert_eq!(
        field_of(with(outbound(), "fallbackResponse", json!({}))),
        "fallbackResponse"
    );
    assert_eq!(
        field_of(with(outbound(), "variables", json!([]))),
        "variables"
    );
    assert_eq!(field_of(with(outbound(), "method", json!("GET"))), "method");
    assert_eq!(
        field_of(with(inbound(), "events", json!(["case:new"]))),
        "events"
    );
}

#[test]
fn plain_http_only_where_the_deployment_allows_it() {
    let body = with(outbound(), "url", json!("http://crm.example.com:8080/hook"));
    let local = WebhookRules {
        allow_plain_http: true,
        ..Default::default()
    };
    assert!(WebhookPatch::from_json(&body)
        .unwrap()
        .create("wh_1".into(), "a".into(), NOW, &local)
        .is_ok());
    assert_eq!(field_of(body), "url");
}

#[test]
fn partial_update_keeps_what_was_not_sent_and_bumps_the_version() {
    let w = create(outbound()).unwrap();
    let later = NOW + time::Duration::minutes(5);
    let patch = WebhookPatch::from_json(&json!({"status": "inactive", "events": ["agent:status"]}))
        .unwrap();
    let next = patch.apply_to(&w, later, &rules()).unwrap();
    assert_eq!(next.status, Status::Inactive);
    assert_eq!(next.events(), &[EventType::AgentStatus]);
    assert_eq!(next.name, w.name);
    assert_eq!(next.security, w.security);
    assert_eq!(next.version, 2);
    assert_eq!(next.created_at, NOW);
    assert_eq!(next.updated_at, later);
    assert!(
        next.indexed_events().is_empty(),
        "inactive webhooks are not indexed"
    );
}

#[test]
fn update_refuses_flow_change_and_foreign_fields() {
    let w = create(outbound()).unwrap();
    let apply = |body: Value| {
        WebhookPatch::from_json(&body)
            .unwrap()
            .apply_to(&w, NOW, &rules())
            .unwrap_err()
            .field
    };
    assert_eq!(apply(json!({"flow": "inbound"})), "flow");
    assert_eq!(apply(json!({"fallbackResponse": {}})), "fallbackResponse");
    assert_eq!(apply(json!({"id": "wh_other"})), "id");
    assert_eq!(apply(json!({"timeoutMs": 50})), "timeoutMs");
}

#[test]
fn a_read_sent_back_as_an_update_changes_nothing_but_the_version() {
    let w = create(with(
        outbound(),
        "security",
        json!({"type": "basic", "username": "bot", "password": "correct horse battery"}),
    ))
    .unwrap();
    let view = w.view(false);
    assert_eq!(view["security"]["password"], "********");
    let patch = WebhookPatch::from_json(&view).unwrap();
    assert_eq!(patch.echoed_version, Some(1));
    let next = patch.apply_to(&w, NOW, &rules()).unwrap();
    assert_eq!(
        next.security, w.security,
        "the masked password must keep the stored one"
    );
    assert_eq!(Webhook { version: 1, ..next }, w);

    let hmac = create(outbound()).unwrap();
    let next = WebhookPatch::from_json(&hmac.view(false))
        .unwrap()
        .apply_to(&hmac, NOW, &rules())
        .unwrap();
    assert_eq!(
        next.security, hmac.security,
        "the masked HMAC secret must keep the stored one"
    );
}

#[test]
fn security_changes() {
    let w = create(outbound()).unwrap();
    let apply = |body: Value| {
        WebhookPatch::from_json(&body)
            .unwrap()
            .apply_to(&w, NOW, &rules())
            .unwrap()
    };
    let chosen = "my-own-secret-0123456789";
    assert_eq!(
        apply(json!({"security": {"type": "hmac", "secret": chosen}})).security,
        Security::Hmac {
            secret: chosen.into(),
            previous: vec![]
        }
    );
    assert_eq!(
        apply(json!({"security": {"type": "hmac"}})).security,
        w.security,
        "omitted secret keeps the stored one"
    );
    assert_eq!(
        apply(json!({"security": {"type": "none"}})).security,
        Security::None
    );
    assert_eq!(
        apply(json!({"security": {"type": "header", "name": "X-Api-Key", "value": "k-123"}}))
            .security,
        Security::Header {
            name: "X-Api-Key".into(),
            value: "k-123".into()
        }
    );
}

#[test]
fn origins_compare_scheme_host_and_port() {
    let same = [
        ("https://a.example/x", "https://a.example/y?q=1"),
        ("https://a.example/", "https://A.EXAMPLE:443/"),
        (
            "https://a.example/{{order.id}}",
            "https://a.example/?v={{x}}",
        ),
        ("http://127.0.0.1:8080/a", "http://127.0.0.1:8080/b"),
    ];
    for (a, b) in same {
        assert!(same_origin(a, b), "{a} and {b} share an origin");
    }
    let apart = [
        ("https://a.example/", "http://a.example/"),
        ("https://a.example/", "https://b.example/"),
        ("https://a.example/", "https://a.example:8443/"),
        ("https://a.example/", "https://a.example.evil.example/"),
        ("https://a.example/", "not a url"),
    ];
    for (a, b) in apart {
        assert!(!same_origin(a, b), "{a} and {b} are different origins");
    }
}

/// A key holder who changes the URL (saved, or only in a test's edits, which go through the
/// same `apply_to`) must not get the stored credentials sent to the new place.
#[test]
fn credentials_stay_with_their_origin() {
    let secret = "whsec_c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0MTI=";
    let kinds = [
        (json!({"type": "hmac", "secret": secret}), "security.secret"),
        (
            json!({"type": "basic", "username": "bot", "password": "correct horse battery"}),
            "security.password",
        ),
        (
            json!({"type": "bearer", "token": "tok-0123456789"}),
            "security.token",
        ),
        (
            json!({"type": "header", "name": "X-Api-Key", "value": "k-123"}),
            "security.value",
        ),
    ];
    let elsewhere = "https://elsewhere.example/hook";
    for (security, field) in kinds {
        let w = create(with(outbound(), "security", security.clone())).unwrap();
        let apply = |body: Value| {
            WebhookPatch::from_json(&body)
                .unwrap()
                .apply_to(&w, NOW, &rules())
        };
        // Moved without credentials, or with the masked form a read shows: refused by name.
        let refused = apply(json!({"url": elsewhere})).unwrap_err();
        assert_eq!(refused.field, field, "{security}");
        assert!(refused.message.contains("another origin"), "{refused:?}");
        let masked = w.view(false)["security"].clone();
        let refused = apply(json!({"url": elsewhere, "security": masked})).unwrap_err();
        assert_eq!(refused.field, field, "{security}");
        // A whole read sent back with only the URL changed: the same.
        let mut view = w.view(false);
        view["url"] = json!(elsewhere);
        assert_eq!(apply(view).unwrap_err().field, field);
        // Given again in full: accepted.
        let moved = apply(json!({"url": elsewhere, "security": security})).unwrap();
        assert_eq!(moved.security, w.security);
        assert_eq!(moved.url, elsewhere);
        // The same origin keeps them, whatever the path.
        let kept = apply(json!({"url": "https://CRM.example.com:443/other?x=1"})).unwrap();
        assert_eq!(kept.security, w.security);
        // Dropping them is always allowed.
        let none = apply(json!({"url": elsewhere, "security": {"type": "none"}})).unwrap();
        assert_eq!(none.security, Security::None);
    }
    let hmac = create(outbound()).unwrap();
    let refused = WebhookPatch::from_json(&json!({"url": elsewhere, "security": {"type": "hmac"}}))
        .unwrap()
        .apply_to(&hmac, NOW, &rules())
        .unwrap_err();
    assert_eq!(
        refused.field, "security.secret",
        "an HMAC type without its secret would keep the stored one"
    );
}

#[test]
fn a_move_drops_rotated_out_secrets_and_a_new_hmac_is_generated_only_from_nothing() {
    let w = create(outbound()).unwrap();
    let rotated = w.rotated(None, NOW).unwrap();
    let Security::Hmac { secret, previous } = &rotated.security else {
        panic!("hmac")
    };
    assert_eq!(previous.len(), 1);
    let moved = WebhookPatch::from_json(&json!({"url": "https://elsewhere.example/",
                                                "security": {"type": "hmac", "secret": secret}}))
    .unwrap()
    .apply_to(&rotated, NOW, &rules())
    .unwrap();
    assert_eq!(
        moved.security,
        Security::Hmac {
            secret: secret.clone(),
            previous: vec![]
        },
        "a secret rotated out would otherwise sign for a receiver that never had it"
    );

    let basic = create(with(
        outbound(),
        "security",
        json!({"type": "basic", "username": "bot", "password": "pw-0123"}),
    ))
    .unwrap();
    let moved = WebhookPatch::from_json(
        &json!({"url": "https://elsewhere.example/", "security": {"type": "hmac"}}),
    )
    .unwrap()
    .apply_to(&basic, NOW, &rules())
    .unwrap();
    let Security::Hmac { secret, .. } = &moved.security else {
        panic!("hmac")
    };
    assert!(secret.starts_with(crate::ids::SECRET_PREFIX));

    let open = create(with(outbound(), "security", json!({"type": "none"}))).unwrap();
    let moved = WebhookPatch::from_json(&json!({"url": "https://elsewhere.example/"}))
        .unwrap()
        .apply_to(&open, NOW, &rules())
        .unwrap();
    assert_eq!(
        moved.security,
        Security::None,
        "nothing stored, nothing to give again"
    );
}

#[test]
fn views_mask_credentials_and_hide_the_account() {
    let w = create(outbound()).unwrap();
    let Security::Hmac { secret, .. } = &w.security else {
        panic!()
    };
    let masked = w.view(false);
    assert!(masked.get("accountId").is_none());
    assert!(!masked.to_string().contains(&secret[6..20]));
    assert_eq!(masked["security"]["secret"], json!(mask(secret)));
    assert_eq!(w.view(true)["security"]["secret"], json!(secret));
    assert_eq!(masked["flow"], "outbound");
    assert_eq!(masked["events"], json!(["case:new", "case:status:closed"]));
    assert_eq!(masked["createdAt"], "2026-11-25T12:00:00Z");
    let keys: Vec<&str> = masked
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(
        keys,
        [
            "id",
            "name",
            "format",
            "status",
            "url",
            "notificationEmail",
            "security",
            "flow",
            "events",
            "timeoutMs",
            "createdAt",
            "updatedAt",
            "version"
        ],
        "bodies keep the model's field order"
    );
}

#[test]
fn stored_form_round_trips() {
    for w in [create(outbound()).unwrap(), create(inbound()).unwrap()] {
        let text = crate::store::codec::webhook_text(&w);
        assert_eq!(crate::store::codec::webhook_from_text(&text).unwrap(), w);
        // A stored webhook missing its flow's own fields is refused, as before.
        let mut stored: Value = serde_json::from_str(&text).unwrap();
        let own = if w.flow() == Flow::Outbound {
            "events"
        } else {
            "variables"
        };
        stored.as_object_mut().unwrap().shift_remove(own);
        let err = crate::store::codec::webhook_from_value(stored).unwrap_err();
        assert!(err.to_string().contains(own), "{err}");
    }
}

#[test]
fn rotation_keeps_the_old_secret_signing_for_a_day() {
    let w = create(outbound()).unwrap();
    let Security::Hmac { secret: old, .. } = w.security.clone() else {
        panic!()
    };
    let next = w.rotated(None, NOW).unwrap();
    let Security::Hmac { secret, previous } = &next.security else {
        panic!()
    };
    assert_ne!(secret, &old);
    assert_eq!(
        previous,
        &vec![PreviousSecret {
            secret: old.clone(),
            expires_at: NOW + time::Duration::hours(24)
        }]
    );
    assert_eq!(next.version, w.version + 1);
    assert_eq!(
        next.view(false)["security"]["previousSecretExpiresAt"],
        "2026-11-26T12:00:00Z"
    );

    // Expired secrets are dropped; at most three are kept.
    let mut cur = next;
    for hour in 1..=5 {
        cur = cur
            .rotated(None, NOW + time::Duration::hours(hour))
            .unwrap();
    }
    let Security::Hmac { previous, .. } = &cur.security else {
        panic!()
    };
    assert_eq!(previous.len(), 3);
    let much_later = cur
        .rotated(
            Some("chosen-secret-0123456789".into()),
            NOW + time::Duration::days(3),
        )
        .unwrap();
    let Security::Hmac { secret, previous } = &much_later.security else {
        panic!()
    };
    assert_eq!(secret, "chosen-secret-0123456789");
    assert_eq!(
        previous.len(),
        1,
        "only the secret just replaced still signs"
    );

    let none = create(with(outbound(), "security", json!({"type": "none"}))).unwrap();
    assert_eq!(none.rotated(None, NOW).unwrap_err().field, "security.type");
    assert_eq!(
        w.rotated(Some("short".into()), NOW).unwrap_err().field,
        "security.secret"
    );
}

#[test]
fn urls_naming_internal_addresses_are_refused_when_saved() {
    for url in [
        "https://169.254.169.254/latest/meta-data/",
        "https://10.0.0.7/hook",
        "https://localhost/hook",
        "https://[::1]/hook",
        "https://[::ffff:192.168.0.1]/hook",
        "https://api.localhost/x",
    ] {
        let err = create(with(outbound(), "url", json!(url))).unwrap_err();
        assert_eq!(err.field, "url", "{url}");
        assert!(
            err.message.contains("internal addresses"),
            "{url}: {}",
            err.message
        );
    }
    // Names are checked when called (they may resolve anywhere); public literals pass.
    assert!(create(with(outbound(), "url", json!("https://8.8.8.8/hook"))).is_ok());
    let local = WebhookRules {
        allow_plain_http: true,
        egress: crate::egress::EgressPolicy::from_list("127.0.0.1/32").unwrap(),
        ..Default::default()
    };
    let body = with(outbound(), "url", json!("http://127.0.0.1:8080/hook"));
    assert!(WebhookPatch::from_json(&body)
        .unwrap()
        .create("wh_1".into(), "a".into(), NOW, &local)
        .is_ok());
    let body = with(outbound(), "url", json!("http://127.0.0.2:8080/hook"));
    assert!(WebhookPatch::from_json(&body)
        .unwrap()
        .create("wh_1".into(), "a".into(), NOW, &local)
        .is_err());
}
