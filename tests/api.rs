//! The management API end to end: API Gateway v2 events → handler → DynamoDB (moto's server).

use std::collections::HashMap;

use hookline_tests::{inbound_body, outbound_body, TestApi};
use serde_json::{json, Value};

const BASE: &str = "/api/v1/webhook";

#[tokio::test]
async fn outbound_crud_round_trip() {
    let api = TestApi::new().await;
    let key = api.key("acme").await;
    let k = Some(key.as_str());

    let created = api
        .call(
            "POST",
            BASE,
            k,
            Some(outbound_body("https://crm.example.com/hook")),
        )
        .await;
    assert_eq!(created.status, 201, "{:?}", created.body);
    let id = created.body["id"].as_str().unwrap().to_string();
    assert!(id.starts_with("wh_"));
    assert_eq!(created.headers["location"], format!("{BASE}/{id}").as_str());
    assert_eq!(created.headers["etag"], "\"1\"");
    let secret = created.body["security"]["secret"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(
        secret.starts_with("whsec_") && secret.len() > 40,
        "create shows the generated secret once"
    );
    assert_eq!(
        created.body["events"],
        json!(["case:new", "case:status:closed"])
    );
    assert_eq!(created.body["timeoutMs"], 15000);
    assert_eq!(created.body["status"], "active");
    assert_eq!(created.body["format"], "application/json");

    let read = api.call("GET", &format!("{BASE}/{id}"), k, None).await;
    assert_eq!(read.status, 200);
    assert_eq!(read.body["name"], "CRM sync");
    assert_eq!(read.body["version"], 1);

    let updated = api
        .call(
            "PUT",
            &format!("{BASE}/{id}"),
            k,
            Some(json!({"status": "inactive", "events": ["agent:status"]})),
        )
        .await;
    assert_eq!(updated.status, 200, "{:?}", updated.body);
    assert_eq!(updated.body["status"], "inactive");
    assert_eq!(updated.body["events"], json!(["agent:status"]));
    assert_eq!(updated.body["name"], "CRM sync", "fields not sent are kept");
    assert_eq!(updated.body["version"], 2);
    assert_eq!(updated.headers["etag"], "\"2\"");

    let deleted = api.call("DELETE", &format!("{BASE}/{id}"), k, None).await;
    assert_eq!(deleted.status, 204);
    assert_eq!(
        api.call("GET", &format!("{BASE}/{id}"), k, None)
            .await
            .status,
        404
    );
    assert_eq!(
        api.call("DELETE", &format!("{BASE}/{id}"), k, None)
            .await
            .status,
        404
    );
}

#[tokio::test]
async fn inbound_crud_round_trip() {
    let api = TestApi::new().await;
    let key = api.key("acme").await;
    let k = Some(key.as_str());
    let mut body = inbound_body("http://127.0.0.1:8080/orders?email={{visitor.email}}");
    body["security"] = json!({"type": "basic", "username": "bot", "password": "s3cret-password"});
    body["format"] = json!("application/xml");
    body["timeoutMs"] = json!(2500);

    let created = api.call("POST", BASE, k, Some(body)).await;
    assert_eq!(created.status, 201, "{:?}", created.body);
    let id = created.body["id"].as_str().unwrap();
    assert_eq!(created.body["flow"], "inbound");
    assert_eq!(
        created.body["url"],
        "http://127.0.0.1:8080/orders?email={{visitor.email}}"
    );
    assert_eq!(created.body["method"], "GET");
    assert_eq!(created.body["variables"], json!(["order.status"]));
    assert_eq!(
        created.body["fallbackResponse"],
        json!({"order": {"status": "unknown"}})
    );
    assert_eq!(created.body["timeoutMs"], 2500);
    assert_eq!(created.body["format"], "application/xml");
    assert_eq!(
        created.body["security"],
        json!({"type": "basic", "username": "bot", "password": "********"})
    );
    assert!(created.body.get("events").is_none());

    let updated = api
        .call(
            "PUT",
            &format!("{BASE}/{id}"),
            k,
            Some(json!({"variables": ["order.status", "order.items[0].sku", "custom_note"], "method": "POST"})),
        )
        .await;
    assert_eq!(updated.status, 200, "{:?}", updated.body);
    assert_eq!(
        updated.body["variables"],
        json!(["order.status", "order.items[0].sku", "custom_note"])
    );
    assert_eq!(updated.body["method"], "POST");

    // A read sent back unchanged (masked password included) keeps the stored credential and
    // writes nothing: same version and time, so the read's version still goes.
    let read = api.call("GET", &format!("{BASE}/{id}"), k, None).await.body;
    let echoed = api
        .call("PUT", &format!("{BASE}/{id}"), k, Some(read.clone()))
        .await;
    assert_eq!(echoed.status, 200, "{:?}", echoed.body);
    assert_eq!(echoed.body, read);
    let again = api
        .call("PUT", &format!("{BASE}/{id}"), k, Some(read.clone()))
        .await;
    assert_eq!(again.status, 200, "{:?}", again.body);
    assert_eq!(again.body["version"], 2);
    let renamed = api
        .call(
            "PUT",
            &format!("{BASE}/{id}"),
            k,
            Some(json!({"name": "Order status (EU)", "version": 2})),
        )
        .await;
    assert_eq!(renamed.status, 200, "{:?}", renamed.body);
    assert_eq!(renamed.body["version"], 3);
    let stored = hookline::store::WebhookStore::get_webhook(&api.app.store, "acme", id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        stored.security,
        hookline::model::Security::Basic {
            username: "bot".into(),
            password: "s3cret-password".into()
        }
    );

    assert_eq!(
        api.call("DELETE", &format!("{BASE}/{id}"), k, None)
            .await
            .status,
        204
    );
}

#[tokio::test]
async fn validation_errors_name_the_field() {
    let api = TestApi::new().await;
    let key = api.key("acme").await;
    let k = Some(key.as_str());
    let with = |mut b: Value, f: &str, v: Value| {
        b[f] = v;
        b
    };
    let without = |mut b: Value, f: &str| {
        b.as_object_mut().unwrap().remove(f);
        b
    };
    let out = || outbound_body("https://crm.example.com/hook");
    let inb = || inbound_body("https://shop.example.com/orders");
    let cases: Vec<(Value, &str)> = vec![
        (without(out(), "name"), "name"),
        (with(out(), "name", json!("   ")), "name"),
        (with(out(), "name", json!("n".repeat(201))), "name"),
        (without(out(), "flow"), "flow"),
        (with(out(), "flow", json!("both")), "flow"),
        (with(out(), "format", json!("text/csv")), "format"),
        (with(out(), "status", json!("on")), "status"),
        (without(out(), "url"), "url"),
        (with(out(), "url", json!("crm.example.com/hook")), "url"),
        (
            with(
                out(),
                "url",
                json!("http://169.254.169.254/latest/meta-data/"),
            ),
            "url",
        ),
        (with(out(), "url", json!("https://10.0.0.7/hook")), "url"),
        (
            with(
                out(),
                "url",
                json!(format!("https://e.com/{}", "p".repeat(2100))),
            ),
            "url",
        ),
        (without(out(), "notificationEmail"), "notificationEmail"),
        (
            with(out(), "notificationEmail", json!("ops at example")),
            "notificationEmail",
        ),
        (without(out(), "events"), "events"),
        (
            with(out(), "events", json!(["case:new", "case:exploded"])),
            "events[1]",
        ),
        (with(out(), "timeoutMs", json!(60000)), "timeoutMs"),
        (
            with(out(), "fallbackResponse", json!({})),
            "fallbackResponse",
        ),
        (with(out(), "colour", json!("blue")), "colour"),
        (
            with(out(), "security", json!({"type": "hmac", "secret": "tiny"})),
            "security.secret",
        ),
        (
            with(out(), "security", json!({"type": "bearer"})),
            "security.token",
        ),
        (
            with(
                out(),
                "security",
                json!({"type": "header", "name": "Host", "value": "x"}),
            ),
            "security.name",
        ),
        (with(out(), "security", json!("hmac")), "security"),
        (without(inb(), "fallbackResponse"), "fallbackResponse"),
        (with(inb(), "events", json!(["case:new"])), "events"),
        (
            with(inb(), "variables", json!(["ok", "bad..path"])),
            "variables[1]",
        ),
        (with(inb(), "method", json!("DELETE")), "method"),
        (with(inb(), "timeoutMs", json!(20000)), "timeoutMs"),
    ];
    for (body, field) in cases {
        let r = api.call("POST", BASE, k, Some(body.clone())).await;
        assert_eq!(r.status, 400, "{body} -> {:?}", r.body);
        assert_eq!(r.error_type(), "ERROR_INVALID_INPUT");
        assert_eq!(r.error_field(), Some(field), "{body} -> {:?}", r.body);
        assert!(!r.body["error"]["message"].as_str().unwrap().is_empty());
    }

    // Malformed JSON, a non-object, an empty body.
    let mut h = HashMap::new();
    h.insert("authorization".to_string(), format!("Bearer {key}"));
    let r = api
        .send("POST", BASE, h.clone(), Some("{\"name\": ".into()))
        .await;
    assert_eq!((r.status, r.error_field()), (400, Some("body")));
    let r = api
        .send("POST", BASE, h.clone(), Some("[1,2]".into()))
        .await;
    assert_eq!((r.status, r.error_field()), (400, Some("body")));
    let r = api.send("POST", BASE, h.clone(), None).await;
    assert_eq!((r.status, r.error_field()), (400, Some("body")));

    // Over 256 KiB: 413 before parsing.
    let huge = json!({"name": "x".repeat(300 * 1024)}).to_string();
    let r = api.send("POST", BASE, h, Some(huge)).await;
    assert_eq!(r.status, 413);
    assert_eq!(r.error_type(), "ERROR_PAYLOAD_TOO_LARGE");

    // Bad query parameters name themselves too.
    for (q, field) in [
        ("limit=0", "limit"),
        ("limit=101", "limit"),
        ("flow=up", "flow"),
        ("cursor=abc", "cursor"),
        ("sort=asc", "sort"),
    ] {
        let r = api.call("GET", &format!("{BASE}?{q}"), k, None).await;
        assert_eq!((r.status, r.error_field()), (400, Some(field)), "{q}");
    }

    // Nothing was half-written by any of the refused requests.
    let list = api.call("GET", BASE, k, None).await;
    assert_eq!(list.body["data"], json!([]));
}

#[tokio::test]
async fn pagination_walks_every_webhook_once_in_creation_order() {
    let api = TestApi::new().await;
    let key = api.key("acme").await;
    let k = Some(key.as_str());
    let mut made = Vec::new();
    for i in 0..7 {
        let mut body = if i % 2 == 0 {
            outbound_body("https://e.com/h")
        } else {
            inbound_body("https://e.com/i")
        };
        body["name"] = json!(format!("hook {i}"));
        let r = api.call("POST", BASE, k, Some(body)).await;
        assert_eq!(r.status, 201);
        made.push(r.body["id"].as_str().unwrap().to_string());
    }
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    let mut pages = 0;
    loop {
        let path = match &cursor {
            Some(c) => format!("{BASE}?limit=3&cursor={c}"),
            None => format!("{BASE}?limit=3"),
        };
        let r = api.call("GET", &path, k, None).await;
        assert_eq!(r.status, 200, "{:?}", r.body);
        let data = r.body["data"].as_array().unwrap();
        assert!(data.len() <= 3);
        for w in data {
            assert!(
                w["security"]["secret"].as_str().unwrap().contains("****"),
                "lists mask secrets"
            );
            seen.push(w["id"].as_str().unwrap().to_string());
        }
        pages += 1;
        match r.body["nextCursor"].as_str() {
            Some(c) => cursor = Some(c.to_string()),
            None => break,
        }
        assert!(pages < 10, "pagination must end");
    }
    assert_eq!(pages, 3);
    assert_eq!(seen, made);

    // Filters, across pages too.
    let mut outbound = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let path = match &cursor {
            Some(c) => format!("{BASE}?flow=outbound&limit=2&cursor={c}"),
            None => format!("{BASE}?flow=outbound&limit=2"),
        };
        let r = api.call("GET", &path, k, None).await;
        outbound.extend(r.body["data"].as_array().unwrap().iter().map(|w| {
            assert_eq!(w["flow"], "outbound");
            w["id"].as_str().unwrap().to_string()
        }));
        match r.body["nextCursor"].as_str() {
            Some(c) => cursor = Some(c.to_string()),
            None => break,
        }
    }
    let expected: Vec<_> = made.iter().step_by(2).cloned().collect();
    assert_eq!(outbound, expected);
    let inactive = api
        .call("GET", &format!("{BASE}?status=inactive"), k, None)
        .await;
    assert_eq!(inactive.body, json!({"data": [], "nextCursor": null}));
}

#[tokio::test]
async fn stale_updates_get_409_and_lose_nothing() {
    let api = TestApi::new().await;
    let key = api.key("acme").await;
    let k = Some(key.as_str());
    let created = api
        .call("POST", BASE, k, Some(outbound_body("https://e.com/h")))
        .await;
    let id = created.body["id"].as_str().unwrap();
    let path = format!("{BASE}/{id}");

    let mut h = HashMap::new();
    h.insert("authorization".to_string(), format!("Bearer {key}"));
    h.insert("if-match".to_string(), "\"1\"".to_string());
    let first = api
        .send(
            "PUT",
            &path,
            h.clone(),
            Some(json!({"name": "first"}).to_string()),
        )
        .await;
    assert_eq!(first.status, 200);
    // A second writer that also read version 1.
    let second = api
        .send(
            "PUT",
            &path,
            h.clone(),
            Some(json!({"name": "second"}).to_string()),
        )
        .await;
    assert_eq!(second.status, 409, "{:?}", second.body);
    assert_eq!(second.error_type(), "ERROR_CONFLICT");
    // The same through a version echoed in the body.
    let third = api
        .call(
            "PUT",
            &path,
            k,
            Some(json!({"name": "third", "version": 1})),
        )
        .await;
    assert_eq!(third.status, 409);
    assert_eq!(api.call("GET", &path, k, None).await.body["name"], "first");
    // A stale delete is refused too.
    let mut stale = h.clone();
    stale.insert("if-match".into(), "1".into());
    assert_eq!(api.send("DELETE", &path, stale, None).await.status, 409);
    h.insert("if-match".into(), "2".into());
    assert_eq!(api.send("DELETE", &path, h, None).await.status, 204);
}

#[tokio::test]
async fn tenants_see_only_their_own_webhooks() {
    let api = TestApi::new().await;
    let alice = api.key("alice").await;
    let bob = api.key("bob").await;
    let a = Some(alice.as_str());
    let b = Some(bob.as_str());
    let created = api
        .call(
            "POST",
            BASE,
            a,
            Some(outbound_body("https://alice.example.com/h")),
        )
        .await;
    let id = created.body["id"].as_str().unwrap();
    let path = format!("{BASE}/{id}");

    for (method, p, body) in [
        ("GET", path.clone(), None),
        ("PUT", path.clone(), Some(json!({"name": "mine now"}))),
        ("DELETE", path.clone(), None),
        ("POST", format!("{path}/rotate-secret"), None),
    ] {
        let r = api.call(method, &p, b, body).await;
        assert_eq!(r.status, 404, "{method} {p} as bob: {:?}", r.body);
        assert_eq!(r.error_type(), "ERROR_RECORD_NOT_FOUND");
    }
    assert_eq!(api.call("GET", BASE, b, None).await.body["data"], json!([]));
    let still = api.call("GET", &path, a, None).await;
    assert_eq!(
        (still.status, still.body["name"].as_str()),
        (200, Some("CRM sync"))
    );
}

#[tokio::test]
async fn missing_invalid_and_revoked_keys_get_401() {
    let api = TestApi::new().await;
    let key = api.key("acme").await;

    let none = api.call("GET", BASE, None, None).await;
    assert_eq!(
        (none.status, none.error_type()),
        (401, "ERROR_UNAUTHORIZED")
    );
    assert_eq!(none.headers["www-authenticate"], "Bearer");
    let wrong = api.call("GET", BASE, Some("hl_not-a-real-key"), None).await;
    assert_eq!(wrong.status, 401);
    let forged = format!("hl_{}", "A".repeat(43));
    assert_eq!(api.call("GET", BASE, Some(&forged), None).await.status, 401);
    let mut basic = HashMap::new();
    basic.insert("authorization".to_string(), format!("Basic {key}"));
    assert_eq!(api.send("GET", BASE, basic, None).await.status, 401);

    assert_eq!(api.call("GET", BASE, Some(&key), None).await.status, 200);
    let keys = hookline::store::ApiKeyStore::list_api_keys(&api.app.store, "acme")
        .await
        .unwrap();
    assert_eq!(keys.len(), 1);
    assert_ne!(keys[0].key_hash, key, "only the hash is stored");
    hookline::store::ApiKeyStore::revoke_api_key(&api.app.store, "acme", &keys[0].key_id)
        .await
        .unwrap();
    let revoked = api.call("GET", BASE, Some(&key), None).await;
    assert_eq!(
        (revoked.status, revoked.error_type()),
        (401, "ERROR_UNAUTHORIZED")
    );
}

#[tokio::test]
async fn secrets_are_shown_once_then_masked_and_rotation_overlaps() {
    let api = TestApi::new().await;
    let key = api.key("acme").await;
    let k = Some(key.as_str());
    let created = api
        .call("POST", BASE, k, Some(outbound_body("https://e.com/h")))
        .await;
    let id = created.body["id"].as_str().unwrap();
    let secret = created.body["security"]["secret"]
        .as_str()
        .unwrap()
        .to_string();
    let path = format!("{BASE}/{id}");

    let read = api.call("GET", &path, k, None).await;
    let masked = read.body["security"]["secret"].as_str().unwrap();
    assert_eq!(masked, format!("whsec_****{}", &secret[secret.len() - 4..]));
    let list = api.call("GET", BASE, k, None).await;
    assert!(
        !list.body.to_string().contains(&secret[6..]),
        "list leaks the secret"
    );

    let rotated = api
        .call("POST", &format!("{path}/rotate-secret"), k, None)
        .await;
    assert_eq!(rotated.status, 200, "{:?}", rotated.body);
    let new_secret = rotated.body["security"]["secret"].as_str().unwrap();
    assert!(new_secret.starts_with("whsec_") && new_secret != secret);
    assert!(rotated.body["security"]["previousSecretExpiresAt"].is_string());
    let stored = hookline::store::WebhookStore::get_webhook(&api.app.store, "acme", id)
        .await
        .unwrap()
        .unwrap();
    match stored.security {
        hookline::model::Security::Hmac {
            secret: s,
            previous,
        } => {
            assert_eq!(s, new_secret);
            assert_eq!(previous.len(), 1);
            assert_eq!(
                previous[0].secret, secret,
                "the old secret keeps signing during the overlap"
            );
        }
        other => panic!("{other:?}"),
    }
    let again = api.call("GET", &path, k, None).await;
    assert!(
        !again.body.to_string().contains(&secret[6..])
            && !again.body.to_string().contains(&new_secret[6..])
    );

    let chosen = api
        .call(
            "POST",
            &format!("{path}/rotate-secret"),
            k,
            Some(json!({"secret": "my-chosen-secret-0123456789"})),
        )
        .await;
    assert_eq!(
        chosen.body["security"]["secret"],
        "my-chosen-secret-0123456789"
    );
    let bad = api
        .call(
            "POST",
            &format!("{path}/rotate-secret"),
            k,
            Some(json!({"secret": 5})),
        )
        .await;
    assert_eq!((bad.status, bad.error_field()), (400, Some("secret")));
    let unknown = api
        .call(
            "POST",
            &format!("{path}/rotate-secret"),
            k,
            Some(json!({"ttl": 5})),
        )
        .await;
    assert_eq!((unknown.status, unknown.error_field()), (400, Some("ttl")));

    // Switching to basic auth: the password is never shown back.
    let basic = api
        .call(
            "PUT",
            &path,
            k,
            Some(json!({"security": {"type": "basic", "username": "u", "password": "pw-123456"}})),
        )
        .await;
    assert_eq!(basic.body["security"]["password"], "********");
    let no_secret = api
        .call("POST", &format!("{path}/rotate-secret"), k, None)
        .await;
    assert_eq!(
        (no_secret.status, no_secret.error_field()),
        (409, Some("security.type"))
    );

    // Back to HMAC by PUT: a secret is generated but, as everywhere but create and rotate, masked.
    let back = api
        .call("PUT", &path, k, Some(json!({"security": {"type": "hmac"}})))
        .await;
    assert_eq!(back.status, 200);
    assert!(back.body["security"]["secret"]
        .as_str()
        .unwrap()
        .contains("****"));
}

#[tokio::test]
async fn unknown_paths_and_methods() {
    let api = TestApi::new().await;
    let key = api.key("acme").await;
    let k = Some(key.as_str());
    let r = api.call("GET", "/api/v1/nothing", k, None).await;
    assert_eq!((r.status, r.error_type()), (404, "ERROR_RECORD_NOT_FOUND"));
    let r = api.call("PATCH", BASE, k, None).await;
    assert_eq!(r.status, 405);
    assert_eq!(r.headers["allow"], "GET, POST");
    let r = api.call("GET", &format!("{BASE}/not-an-id"), k, None).await;
    assert_eq!(r.status, 404);
    // A stage prefix in the path is tolerated.
    assert_eq!(
        api.call("GET", &format!("/prod{BASE}"), k, None)
            .await
            .status,
        200
    );
}

#[tokio::test]
async fn read_only_keys_read_but_get_403_on_writes() {
    let api = TestApi::new().await;
    let full = api.key("acme").await;
    let read = api
        .key_with_scope("acme", hookline::store::KeyScope::ReadOnly)
        .await;
    let created = api
        .call(
            "POST",
            BASE,
            Some(&full),
            Some(outbound_body("https://e.com/h")),
        )
        .await;
    let path = format!("{BASE}/{}", created.body["id"].as_str().unwrap());

    assert_eq!(api.call("GET", BASE, Some(&read), None).await.status, 200);
    assert_eq!(api.call("GET", &path, Some(&read), None).await.status, 200);
    for (method, p, body) in [
        (
            "POST",
            BASE.to_string(),
            Some(outbound_body("https://e.com/h")),
        ),
        ("PUT", path.clone(), Some(json!({"name": "renamed"}))),
        ("DELETE", path.clone(), None),
        ("POST", format!("{path}/rotate-secret"), None),
    ] {
        let r = api.call(method, &p, Some(&read), body).await;
        assert_eq!(
            (r.status, r.error_type()),
            (403, "ERROR_UNAUTHORIZED_ACCESS"),
            "{method} {p}"
        );
    }
    let after = api.call("GET", &path, Some(&full), None).await;
    assert_eq!(
        (after.body["name"].as_str(), after.body["version"].as_u64()),
        (Some("CRM sync"), Some(1))
    );
}

#[tokio::test]
async fn times_come_from_the_clock() {
    use hookline::clock::ManualClock;
    use std::sync::Arc;
    use time::macros::datetime;

    let clock = Arc::new(ManualClock::new(datetime!(2026-11-25 12:00 UTC)));
    let api = TestApi::local(hookline_tests::fresh_store().await, clock.clone()).await;
    let key = api.key("acme").await;
    let k = Some(key.as_str());
    let created = api
        .call("POST", BASE, k, Some(outbound_body("https://e.com/h")))
        .await;
    assert_eq!(created.body["createdAt"], "2026-11-25T12:00:00Z");
    let path = format!("{BASE}/{}", created.body["id"].as_str().unwrap());

    clock.advance(time::Duration::minutes(90));
    let rotated = api
        .call("POST", &format!("{path}/rotate-secret"), k, None)
        .await;
    assert_eq!(rotated.body["updatedAt"], "2026-11-25T13:30:00Z");
    assert_eq!(rotated.body["createdAt"], "2026-11-25T12:00:00Z");
    assert_eq!(
        rotated.body["security"]["previousSecretExpiresAt"],
        "2026-11-26T13:30:00Z"
    );

    // Two days on, the old secret has expired and is dropped at the next rotation.
    clock.advance(time::Duration::days(2));
    api.call("POST", &format!("{path}/rotate-secret"), k, None)
        .await;
    let id = created.body["id"].as_str().unwrap();
    let stored = hookline::store::WebhookStore::get_webhook(&api.app.store, "acme", id)
        .await
        .unwrap()
        .unwrap();
    let hookline::model::Security::Hmac { previous, .. } = stored.security else {
        panic!()
    };
    assert_eq!(previous.len(), 1);
    assert_eq!(previous[0].expires_at, datetime!(2026-11-28 13:30 UTC));
}

#[tokio::test]
async fn the_handler_runs_the_same_over_the_in_memory_store() {
    // The unit-test configuration (no network): the same API, the in-memory store.
    let api = TestApi::in_memory(std::sync::Arc::new(hookline::clock::SystemClock));
    let key = api.key("acme").await;
    let created = api
        .call(
            "POST",
            BASE,
            Some(&key),
            Some(inbound_body("https://e.com/i")),
        )
        .await;
    assert_eq!(created.status, 201);
    let list = api
        .call("GET", &format!("{BASE}?flow=inbound"), Some(&key), None)
        .await;
    assert_eq!(list.body["data"][0]["id"], created.body["id"]);
    assert_eq!(
        api.call("GET", BASE, Some(&api.key("other").await), None)
            .await
            .body["data"],
        json!([])
    );
}

/// Everything on a local SQS queue, received (and deleted) in order of arrival.
async fn drain(url: &str) -> Vec<Value> {
    let client = aws_sdk_sqs::Client::new(&hookline_tests::sdk_config().await);
    let mut bodies = Vec::new();
    loop {
        let out = client
            .receive_message()
            .queue_url(url)
            .max_number_of_messages(10)
            .send()
            .await
            .unwrap();
        if out.messages().is_empty() {
            return bodies;
        }
        for m in out.messages() {
            bodies.push(serde_json::from_str(m.body().unwrap()).unwrap());
            client
                .delete_message()
                .queue_url(url)
                .receipt_handle(m.receipt_handle().unwrap())
                .send()
                .await
                .unwrap();
        }
    }
}

#[tokio::test]
async fn published_events_reach_the_events_queue() {
    let api = TestApi::new().await;
    let key = api.key("acme").await;
    let k = Some(key.as_str());
    let event = json!({"event": "case:status:closed", "occurredAt": "2026-11-25T10:00:00Z",
                       "data": {"caseId": "72", "status": "closed", "contact": {"id": "5", "fields": {"name": "Jhon"}}}});
    let r = api.call("POST", "/api/v1/events", k, Some(event)).await;
    assert_eq!(r.status, 202, "{:?}", r.body);
    let id = r.body["id"].as_str().unwrap().to_string();
    assert!(id.starts_with("evt_"));

    // An id sent is kept; sending it again is accepted, and queues nothing.
    let mine = json!({"id": "evt_crm-42", "event": "agent:status", "data": {"agentId": "a1", "status": "available"}});
    for _ in 0..2 {
        let r = api
            .call("POST", "/api/v1/events", k, Some(mine.clone()))
            .await;
        assert_eq!((r.status, r.body["id"].as_str()), (202, Some("evt_crm-42")));
    }

    let queued = drain(api.events_queue_url.as_deref().unwrap()).await;
    assert_eq!(queued.len(), 2, "a republished id is not queued again");
    assert_eq!(queued[0]["id"], id.as_str());
    assert_eq!(
        queued[0]["accountId"], "acme",
        "the account comes from the API key"
    );
    assert_eq!(queued[0]["event"], "case:status:closed");
    assert_eq!(queued[0]["occurredAt"], "2026-11-25T10:00:00Z");
    assert_eq!(queued[0]["data"]["contact"]["fields"]["name"], "Jhon");
    assert_eq!(queued[1]["id"], "evt_crm-42");
}

#[tokio::test]
async fn bad_events_are_refused_by_field_and_never_queued() {
    let api = TestApi::new().await;
    let key = api.key("acme").await;
    let k = Some(key.as_str());
    for (body, field) in [
        (
            json!({"event": "case:status", "data": {"caseId": "1"}}),
            "event",
        ),
        (json!({"event": "case:new", "data": {}}), "data.caseId"),
        (
            json!({"event": "case:new", "data": {"caseId": "1"}, "colour": "red"}),
            "colour",
        ),
    ] {
        let r = api
            .call("POST", "/api/v1/events", k, Some(body.clone()))
            .await;
        assert_eq!((r.status, r.error_field()), (400, Some(field)), "{body}");
    }
    // Another account's event is well formed, and not the key's to publish.
    let body = json!({"event": "case:new", "data": {"caseId": "1"}, "accountId": "globex"});
    let r = api.call("POST", "/api/v1/events", k, Some(body)).await;
    assert_eq!((r.status, r.error_field()), (403, Some("accountId")));
    let read_only = api
        .key_with_scope("acme", hookline::store::KeyScope::ReadOnly)
        .await;
    let ok = json!({"event": "case:new", "data": {"caseId": "1"}});
    assert_eq!(
        api.call("POST", "/api/v1/events", Some(&read_only), Some(ok.clone()))
            .await
            .status,
        403
    );
    assert_eq!(
        api.call("POST", "/api/v1/events", None, Some(ok))
            .await
            .status,
        401
    );
    assert!(drain(api.events_queue_url.as_deref().unwrap())
        .await
        .is_empty());
}

#[tokio::test]
async fn an_account_has_at_most_its_quota_of_webhooks() {
    let mut api = TestApi::new().await;
    api.app.rules.max_per_account = 2;
    let key = api.key("acme").await;
    let other = api.key("globex").await;
    let k = Some(key.as_str());
    let mut ids = Vec::new();
    for _ in 0..2 {
        let r = api
            .call("POST", BASE, k, Some(outbound_body("https://e.com/h")))
            .await;
        assert_eq!(r.status, 201);
        ids.push(r.body["id"].as_str().unwrap().to_string());
    }
    let full = api
        .call("POST", BASE, k, Some(outbound_body("https://e.com/h")))
        .await;
    assert_eq!(
        (full.status, full.error_type()),
        (409, "ERROR_CONFLICT"),
        "{:?}",
        full.body
    );
    assert!(full.body["error"]["message"]
        .as_str()
        .unwrap()
        .contains("maximum of 2 webhooks"));
    // Quotas are per account.
    assert_eq!(
        api.call(
            "POST",
            BASE,
            Some(&other),
            Some(outbound_body("https://e.com/h"))
        )
        .await
        .status,
        201
    );
    // Deleting one makes room again.
    assert_eq!(
        api.call("DELETE", &format!("{BASE}/{}", ids[0]), k, None)
            .await
            .status,
        204
    );
    assert_eq!(
        api.call("POST", BASE, k, Some(outbound_body("https://e.com/h")))
            .await
            .status,
        201
    );
}
