//! The API's contract: the OpenAPI document and the event-type catalogue are served, every
//! operation they list is served by its function and routed by the template, nothing else is,
//! docs/events.md shows the catalogue, and the API's types are apart from the stored records.

use hookline::api::openapi::{self, Function, OPERATIONS};
use hookline::api::types::{DeliveryOut, EventTypeList, WebhookOut};
use hookline::model::{Delivery, DeliveryStatus};
use hookline::store::codec;
use hookline_tests::gateway::Gateway;
use serde_json::{json, Value};

const WEBHOOK_ID: &str = "wh_01M88H4BD9G17PXN3VBVH0G0ZQ";
const DELIVERY_ID: &str = "dlv_01M88KJSTT8P4MWN5F9FJNTJG7";

fn concrete(template: &str) -> String {
    format!(
        "{}{}",
        openapi::BASE,
        template
            .replace("{id}", WEBHOOK_ID)
            .replace("{deliveryId}", DELIVERY_ID)
    )
}

async fn send(
    gateway: &Gateway,
    method: &str,
    path: &str,
    key: Option<&str>,
    body: Option<&Value>,
) -> (u16, reqwest::header::HeaderMap, Value) {
    let client = reqwest::Client::new();
    let mut request = client.request(method.parse().unwrap(), gateway.url(path));
    if let Some(key) = key {
        request = request.bearer_auth(key);
    }
    if let Some(body) = body {
        request = request.json(body);
    }
    let answer = request.send().await.expect("the gateway answers");
    let status = answer.status().as_u16();
    let headers = answer.headers().clone();
    let text = answer.text().await.unwrap_or_default();
    (
        status,
        headers,
        serde_json::from_str(&text).unwrap_or(Value::Null),
    )
}

#[tokio::test]
async fn the_document_and_the_catalogue_are_served_without_a_key() {
    let gateway = Gateway::start().await;
    let (status, headers, body) = send(&gateway, "GET", "/api/v1/openapi.json", None, None).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(headers["content-type"], "application/json");
    assert_eq!(body, openapi::document());
    assert_eq!(body["openapi"], "3.1.0");

    let (status, _, body) = send(&gateway, "GET", "/api/v1/event-types", None, None).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body,
        serde_json::to_value(EventTypeList::catalogue()).unwrap()
    );
    let names: Vec<&str> = body["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap())
        .collect();
    assert_eq!(names.len(), 7, "{names:?}");
    assert!(names.contains(&"case:status:closed"));
}

/// Each operation the document lists reaches a handler of its function (no 405, no "no such
/// path", no "documented but not served"); every other method of its path is a 405 whose
/// `Allow` is what the document lists.
#[tokio::test]
async fn every_documented_operation_is_served_and_nothing_else() {
    let gateway = Gateway::start().await;
    let key = gateway.key("contract").await;
    let methods = ["GET", "POST", "PUT", "DELETE", "PATCH"];
    let mut templates: Vec<&str> = OPERATIONS.iter().map(|op| op.path).collect();
    templates.dedup();
    for op in OPERATIONS {
        let path = concrete(op.path);
        let body = op
            .body
            .as_ref()
            .and_then(|b| b.examples.first())
            .map(|(_, text)| serde_json::from_str::<Value>(text).unwrap());
        let method = op.method.to_ascii_uppercase();
        let (status, _, answer) = send(&gateway, &method, &path, Some(&key), body.as_ref()).await;
        let context = format!("{method} {path} ({}): {status} {answer}", op.id);
        assert_ne!(status, 405, "{context}");
        assert!(status < 500, "{context}");
        assert_ne!(answer["error"]["message"], "no such path", "{context}");
        // Only the operations on a webhook answer 404, for the made-up id.
        if status == 404 {
            assert!(op.path.contains("{id}"), "{context}");
        }
    }
    for template in templates {
        let allowed = openapi::allowed(template);
        for method in methods {
            if allowed.split(", ").any(|m| m == method) {
                continue;
            }
            let path = concrete(template);
            let (status, headers, answer) = send(&gateway, method, &path, Some(&key), None).await;
            assert_eq!(status, 405, "{method} {path}: {answer}");
            assert_eq!(headers["allow"], allowed.as_str(), "{method} {path}");
            assert_eq!(answer["error"]["type"], "ERROR_METHOD_NOT_ALLOWED");
        }
    }
    // A path the document does not list is no operation, with or without a key.
    for path in [
        "/api/v1/webhooks",
        "/api/v1/webhook/a/b/c/d/e",
        "/api/v1/keys",
    ] {
        let (status, _, answer) = send(&gateway, "GET", path, Some(&key), None).await;
        assert_eq!(status, 404, "{path}: {answer}");
    }
    // Public operations only: the rest needs a key, and writes need a key that may write.
    for op in OPERATIONS {
        let (status, _, answer) = send(
            &gateway,
            &op.method.to_ascii_uppercase(),
            &concrete(op.path),
            None,
            None,
        )
        .await;
        match op.access {
            openapi::Access::Public => assert_eq!(status, 200, "{}", op.id),
            _ => assert_eq!(status, 401, "{}: {answer}", op.id),
        }
    }
}

/// infra/template.yaml routes each operation to the function the document names, by API
/// Gateway's rules: the most specific route of the method (or `ANY`) wins; `{proxy+}` takes
/// the rest of the path.
#[test]
fn the_template_routes_every_operation_to_its_function() {
    let template = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../infra/template.yaml"
    ))
    .unwrap();
    let mut routes: Vec<(String, String, String)> = Vec::new();
    let mut function = String::new();
    for line in template.lines() {
        if let Some(name) = line
            .strip_prefix("  ")
            .and_then(|l| l.strip_suffix(':'))
            .filter(|l| !l.starts_with(' ') && l.ends_with("Function"))
        {
            function = name.to_string();
        }
        let Some(props) = line
            .trim()
            .strip_prefix("Properties: { ApiId: !Ref HttpApi, ")
        else {
            continue;
        };
        let props = props.trim_end_matches('}').trim();
        let field = |name: &str| {
            props
                .split(", ")
                .find_map(|p| p.strip_prefix(name))
                .unwrap()
                .trim()
                .trim_matches('"')
                .to_string()
        };
        routes.push((field("Method:"), field("Path:"), function.clone()));
    }
    assert!(routes.len() >= 6, "{routes:?}");

    let matches = |route: &str, path: &str| -> Option<usize> {
        let (r, p): (Vec<&str>, Vec<&str>) =
            (route.split('/').collect(), path.split('/').collect());
        let mut literal = 0;
        for (i, segment) in r.iter().enumerate() {
            if *segment == "{proxy+}" {
                return (p.len() > i).then_some(literal);
            }
            let given = p.get(i)?;
            if segment.starts_with('{') {
                continue;
            }
            if segment != given {
                return None;
            }
            literal += 1;
        }
        (r.len() == p.len()).then_some(literal + 1000)
    };
    for op in OPERATIONS {
        let path = concrete(op.path);
        let method = op.method.to_ascii_uppercase();
        let chosen = routes
            .iter()
            .filter(|(m, _, _)| m == &method || m == "ANY")
            .filter_map(|(m, route, f)| matches(route, &path).map(|score| (score, m != "ANY", f)))
            .max()
            .unwrap_or_else(|| panic!("no route for {method} {path}"));
        let expected = match op.function {
            Function::WebhooksApi => "WebhooksApiFunction",
            Function::InboundResolver => "InboundResolverFunction",
        };
        assert_eq!(chosen.2, expected, "{method} {path}");
    }
}

#[test]
fn docs_events_md_shows_the_catalogue() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/events.md");
    let text = std::fs::read_to_string(path).unwrap();
    let start = "<!-- catalogue:start -->\n";
    let shown = text
        .split_once(start)
        .and_then(|(_, rest)| rest.split_once("<!-- catalogue:end -->"))
        .map(|(inside, _)| inside)
        .expect("docs/events.md has the catalogue's markers");
    let expected = hookline::catalogue::markdown();
    if shown.trim_end() != expected.trim_end() {
        let out = concat!(env!("CARGO_MANIFEST_DIR"), "/../target/events-catalogue.md");
        std::fs::write(out, &expected).unwrap();
        panic!("docs/events.md's catalogue differs from shared/src/catalogue.rs: paste {out} between its markers");
    }
}

/// The stored form and the API form are pinned apart: the stored JSON of a webhook and a
/// delivery (what DynamoDB items and queue messages hold) reads and writes back unchanged, and
/// the API's answer for them is its own shape. A rename on one side fails only that side's
/// expectation here, and changes nothing on the other.
#[test]
fn stored_records_and_api_bodies_are_separate_forms() {
    let stored = json!({
        "id": WEBHOOK_ID, "accountId": "acme", "name": "CRM sync",
        "format": "application/json", "status": "active", "url": "https://crm.example.com/hooks",
        "notificationEmail": "ops@example.com",
        "security": {"type": "hmac", "secret": "whsec_HgaHq0GCOT2W3QMSgNN5xY//RZ9nDECZR6IjXmSV6Vw="},
        "flow": "outbound", "events": ["case:new"], "timeoutMs": 15000,
        "createdAt": "2026-11-25T04:58:53.737Z", "updatedAt": "2026-11-25T04:58:53.737Z",
        "version": 1
    });
    let webhook = codec::webhook_from_value(stored.clone()).unwrap();
    // As text: the order of the fields is part of the stored form (and `Value`'s equality
    // ignores it).
    assert_eq!(codec::webhook_text(&webhook), stored.to_string());
    // An inbound webhook with a null fallback, and HMAC credentials with a rotated-out secret.
    let inbound = concat!(
        r#"{"id":"wh_01M88JMXEZD0J6DFXQ5VXJ1M2C","accountId":"acme","name":"Order status","#,
        r#""format":"application/json","status":"active","url":"https://shop.example.com/o?e={{visitor.email}}","#,
        r#""notificationEmail":"ops@example.com","security":{"type":"hmac","secret":"whsec_b","#,
        r#""previous":[{"secret":"whsec_a","expiresAt":"2026-11-26T05:10:00Z"}]},"flow":"inbound","#,
        r#""method":"GET","variables":["order.status"],"fallbackResponse":null,"timeoutMs":3000,"#,
        r#""createdAt":"2026-11-25T05:02:11.204Z","updatedAt":"2026-11-25T05:02:11.204Z","version":2}"#
    );
    let read = codec::webhook_from_text(inbound).unwrap();
    assert_eq!(codec::webhook_text(&read), inbound);
    let api = serde_json::to_value(WebhookOut::masked(&webhook)).unwrap();
    assert_eq!(
        api,
        json!({
            "id": WEBHOOK_ID, "name": "CRM sync", "format": "application/json",
            "status": "active", "url": "https://crm.example.com/hooks",
            "notificationEmail": "ops@example.com",
            "security": {"type": "hmac", "secret": "whsec_****6Vw="},
            "flow": "outbound", "events": ["case:new"], "timeoutMs": 15000,
            "createdAt": "2026-11-25T04:58:53.737Z", "updatedAt": "2026-11-25T04:58:53.737Z",
            "version": 1
        })
    );

    // A delivery item holds its event's reference and its attempts as JSON texts.
    let event = r#"{"id":"evt_1","event":"case:new","occurredAt":"2026-11-25T12:00:00Z"}"#;
    let attempt_text = r#"{"at":"2026-11-25T12:00:01Z","status":500,"error":"HTTP 500","durationMs":12,"responseBody":"oops"}"#;
    let event_ref = codec::event_ref_from_text(event).unwrap();
    let attempt = codec::attempt_from_text(attempt_text).unwrap();
    assert_eq!(codec::event_ref_text(&event_ref), event);
    assert_eq!(codec::attempt_text(&attempt), attempt_text);
    let delivery = Delivery {
        id: DELIVERY_ID.into(),
        account_id: "acme".into(),
        webhook_id: WEBHOOK_ID.into(),
        event: event_ref,
        legacy_data: None,
        status: DeliveryStatus::Failed,
        attempts: vec![attempt],
        next_attempt_at: None,
        created_at: time::macros::datetime!(2026-11-25 12:00 UTC),
    };
    let api = serde_json::to_value(DeliveryOut::summary(&delivery)).unwrap();
    assert_eq!(
        api,
        json!({
            "id": DELIVERY_ID, "webhookId": WEBHOOK_ID,
            "event": {"id": "evt_1", "event": "case:new", "occurredAt": "2026-11-25T12:00:00Z"},
            "status": "failed",
            "attempts": [{"at": "2026-11-25T12:00:01Z", "status": 500, "error": "HTTP 500",
                          "durationMs": 12}],
            "nextAttemptAt": null, "createdAt": "2026-11-25T12:00:00Z", "attemptCount": 1
        })
    );
}

/// The README's request bodies, each under the operation its command calls, are the
/// document's examples of that operation: the two cannot show different requests. (Bodies the
/// README shows refused, `# 4xx`, are not examples.)
#[test]
fn the_readme_s_requests_are_the_document_s_examples() {
    let readme =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../README.md")).unwrap();
    let lines: Vec<&str> = readme.lines().collect();
    let mut checked = 0;
    let mut i = 0;
    while i < lines.len() {
        if !lines[i].trim_start().starts_with("curl ") {
            i += 1;
            continue;
        }
        // The whole command: continued lines, and a quoted body over several lines.
        let mut command = lines[i].to_string();
        let mut open_quote = lines[i].matches('\'').count() % 2 == 1;
        while (open_quote || command.trim_end().ends_with('\\')) && i + 1 < lines.len() {
            i += 1;
            command.push('\n');
            command.push_str(lines[i]);
            open_quote ^= lines[i].matches('\'').count() % 2 == 1;
        }
        i += 1;
        let Some((_, rest)) = command.split_once("-d '") else {
            continue;
        };
        let (body, after) = rest.split_once('\'').unwrap();
        if after
            .split('#')
            .nth(1)
            .is_some_and(|c| c.trim().starts_with('4'))
        {
            continue;
        }
        let method = command
            .split_once("-X ")
            .map_or("GET", |(_, m)| m.split_whitespace().next().unwrap());
        let url = command.split('"').nth(1).unwrap();
        let path = url
            .replace("$API", "/api/v1/webhook")
            .replace("$RES", "/api/v1/webhook")
            .replace("$ID", "wh_01M88KJSQ58S6EJ3R5MY2STYNV");
        let (template, _) = openapi::route(&path).unwrap_or_else(|| panic!("{url} is no path"));
        let op =
            openapi::operation(template, method).unwrap_or_else(|| panic!("{method} {template}"));
        let body: Value = serde_json::from_str(body).unwrap();
        let examples: Vec<Value> = op
            .body
            .as_ref()
            .map(|b| {
                b.examples
                    .iter()
                    .map(|(_, e)| serde_json::from_str(e).unwrap())
                    .collect()
            })
            .unwrap_or_default();
        assert!(
            examples.contains(&body),
            "README's {method} {url} body is not an example of {}: {body}",
            op.id
        );
        checked += 1;
    }
    assert!(
        checked >= 8,
        "the README's request bodies were found ({checked})"
    );
}
