//! The management API under arbitrary requests, over the in-memory store (no local stack): any
//! body or query gets an answer that is no server error, every error has the documented shape
//! and a 400 names its field, and a refused write changes nothing.

use std::sync::Arc;

use hookline::clock::SystemClock;
use hookline_tests::{bearer, inbound_body, outbound_body, InMemory, TestApi, TestResponse};
use proptest::prelude::*;
use proptest::sample::select;
use serde_json::{json, Map, Value};
use tokio::runtime::Runtime;

const BASE: &str = "/api/v1/webhook";
const EVENTS: &str = "/api/v1/events";
const OUTBOUND_URL: &str = "https://crm.example.com/hook";
const INBOUND_URL: &str = "https://shop.example.com/orders/{{order.id}}?email={{visitor.email}}";

/// One API and one runtime per test; each case blocks on its requests.
struct Fixture {
    rt: Runtime,
    api: TestApi<InMemory>,
    key: String,
}

impl Fixture {
    fn new() -> Self {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("a tokio runtime");
        // The HTTP client may want a runtime as it is built.
        let api = {
            let _guard = rt.enter();
            TestApi::in_memory(Arc::new(SystemClock))
        };
        let key = rt.block_on(api.key("acme"));
        Self { rt, api, key }
    }

    async fn send(&self, method: &str, path: &str, body: Option<String>) -> TestResponse {
        self.api.send(method, path, bearer(&self.key), body).await
    }

    async fn create(&self, body: Value) -> String {
        let r = self.send("POST", BASE, Some(body.to_string())).await;
        assert_eq!(r.status, 201, "{}", r.body);
        r.body["id"].as_str().unwrap().to_string()
    }

    /// Every webhook of the account, as the API lists them.
    async fn list(&self) -> Value {
        let r = self.send("GET", &format!("{BASE}?limit=100"), None).await;
        assert_eq!(r.status, 200, "{}", r.body);
        r.body["data"].clone()
    }
}

/// No server error; an error answers `{"error":{"type","message","field"}}` and a 400 names
/// its field (an unparseable body is named `body`).
fn check_answer(r: &TestResponse) -> Result<(), TestCaseError> {
    prop_assert!(r.status < 500, "{} {}", r.status, r.body);
    if r.status >= 400 {
        let shaped = r.body.as_object().is_some_and(|top| top.len() == 1)
            && r.body["error"].as_object().is_some_and(|e| {
                e.len() == 3
                    && e["type"].is_string()
                    && e["message"].is_string()
                    && (e["field"].is_string() || e["field"].is_null())
            });
        prop_assert!(shaped, "{} answered {}", r.status, r.body);
    }
    if r.status == 400 {
        let field = r.error_field();
        prop_assert!(
            field.is_some_and(|f| !f.is_empty()),
            "400 without a field: {}",
            r.body
        );
    }
    Ok(())
}

// ---------------------------------------------------------------- strategies

fn key() -> impl Strategy<Value = String> {
    prop_oneof![3 => "[a-zA-Z]{1,8}", 1 => "(?s).{0,10}"]
}

fn scalar() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        any::<f64>().prop_filter_map("finite", |f| {
            serde_json::Number::from_f64(f).map(Value::Number)
        }),
        "(?s).{0,20}".prop_map(Value::String),
    ]
}

/// Any JSON value of a few levels and a few dozen nodes.
fn json_value() -> impl Strategy<Value = Value> {
    scalar().prop_recursive(4, 32, 5, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..5).prop_map(Value::Array),
            prop::collection::vec((key(), inner), 0..5)
                .prop_map(|entries| Value::Object(entries.into_iter().collect())),
        ]
    })
}

/// Values shaped like what the fields expect, so that some get past the type checks.
fn field_value() -> impl Strategy<Value = Value> {
    let security = (
        select(vec!["none", "hmac", "basic", "bearer", "header", "x"]),
        prop::collection::vec(
            (
                select(vec![
                    "secret", "username", "password", "token", "name", "value",
                ]),
                prop_oneof![r"\PC{0,30}".prop_map(Value::from), scalar()],
            ),
            0..4,
        ),
    )
        .prop_map(|(kind, fields)| {
            let mut map: Map<String, Value> = fields
                .into_iter()
                .map(|(k, v)| (k.to_string(), v))
                .collect();
            map.insert("type".into(), json!(kind));
            Value::Object(map)
        });
    prop_oneof![
        3 => json_value(),
        2 => r"https?://[a-z0-9.:@\[\]{}/?=&%\-]{0,40}".prop_map(Value::from),
        1 => select(vec![
            "inbound", "outbound", "active", "inactive", "GET", "POST", "application/xml",
            "case:new", "agent:status", "ops@example.com",
        ])
        .prop_map(Value::from),
        1 => prop::collection::vec(
            prop_oneof![r"[a-z:.\[\]0-9]{0,20}".prop_map(Value::from), scalar()],
            0..4,
        )
        .prop_map(Value::Array),
        1 => (0u64..40_000).prop_map(Value::from),
        1 => security,
    ]
}

/// `body` with `field` set to `value`, or removed when there is none.
fn mutated(mut body: Value, field: String, value: Option<Value>) -> Value {
    let map = body.as_object_mut().expect("valid bodies are objects");
    match value {
        Some(v) => map.insert(field, v),
        None => map.remove(&field),
    };
    body
}

/// Raw text: anything, JSON cut short, and nesting up to and past the JSON parser's limit.
fn text_body() -> impl Strategy<Value = String> {
    prop_oneof![
        "(?s).{0,200}",
        r#"[{}\[\]:,"0-9a-z .eE+\\-]{0,100}"#,
        (json_value(), any::<prop::sample::Index>()).prop_map(|(v, cut)| {
            let text = v.to_string();
            let mut at = cut.index(text.len() + 1);
            while !text.is_char_boundary(at) {
                at -= 1;
            }
            text[..at].to_string()
        }),
        (1..300usize).prop_map(|n| format!("{}{}", "[".repeat(n), "]".repeat(n))),
        (1..300usize).prop_map(|n| format!(r#"{{"name":{}1{}}}"#, "[".repeat(n), "]".repeat(n))),
    ]
}

const WEBHOOK_FIELDS: [&str; 16] = [
    "name",
    "flow",
    "format",
    "status",
    "url",
    "notificationEmail",
    "security",
    "method",
    "variables",
    "fallbackResponse",
    "events",
    "timeoutMs",
    "id",
    "version",
    "createdAt",
    "updatedAt",
];

/// A webhook body for the inbound (`true`) or outbound flow: a valid one with one field
/// replaced, removed or added; any object; or any text.
fn webhook_body() -> impl Strategy<Value = (bool, String)> {
    let field = prop_oneof![
        3 => select(WEBHOOK_FIELDS.to_vec()).prop_map(String::from),
        1 => key(),
    ];
    prop_oneof![
        3 => (any::<bool>(), field, prop::option::of(field_value())).prop_map(
            |(inbound, field, value)| {
                let valid = if inbound {
                    inbound_body(INBOUND_URL)
                } else {
                    outbound_body(OUTBOUND_URL)
                };
                (inbound, mutated(valid, field, value).to_string())
            }
        ),
        1 => (any::<bool>(), prop::collection::vec((key(), field_value()), 0..6)).prop_map(
            |(inbound, fields)| {
                let map: Map<String, Value> = fields.into_iter().collect();
                (inbound, Value::Object(map).to_string())
            }
        ),
        1 => (any::<bool>(), json_value()).prop_map(|(inbound, v)| (inbound, v.to_string())),
        1 => (any::<bool>(), text_body()),
    ]
}

/// A publish body: a valid event with a field replaced, removed or added; any value; any text.
fn event_body() -> impl Strategy<Value = String> {
    let field = prop_oneof![
        select(vec!["id", "event", "accountId", "occurredAt", "data"]).prop_map(String::from),
        key(),
    ];
    let value = prop_oneof![
        json_value(),
        select(vec![
            "case:new",
            "agent:status",
            "case:status:closed",
            "acme",
            "2026-11-25T12:00:00Z",
        ])
        .prop_map(Value::from),
        prop::collection::vec(
            (
                select(vec!["caseId", "agentId", "status", "contact", "messages"]),
                scalar(),
            ),
            0..4,
        )
        .prop_map(|f| Value::Object(f.into_iter().map(|(k, v)| (k.to_string(), v)).collect())),
    ];
    prop_oneof![
        3 => (field, prop::option::of(value)).prop_map(|(field, value)| {
            let valid = json!({"event": "case:new", "data": {"caseId": "72"}});
            mutated(valid, field, value).to_string()
        }),
        1 => json_value().prop_map(|v| v.to_string()),
        1 => text_body(),
    ]
}

/// `s` percent-encoded for a query string: what a client's URL library sends.
fn query_encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// Query strings as they arrive: pairs of any keys and values, encoded; and raw text made of
/// the characters a request line can carry in its query.
fn query_string() -> impl Strategy<Value = String> {
    let name = prop_oneof![
        3 => select(vec!["flow", "status", "limit", "cursor"]).prop_map(String::from),
        1 => "(?s).{0,8}",
    ];
    let value = prop_oneof![
        select(vec![
            "inbound", "outbound", "active", "inactive", "0", "1", "100", "101", "-1"
        ])
        .prop_map(String::from),
        "(?s).{0,20}",
        "[A-Za-z0-9_-]{0,40}",
    ];
    prop_oneof![
        prop::collection::vec((name, value), 0..4).prop_map(|pairs| {
            pairs
                .iter()
                .map(|(k, v)| format!("{}={}", query_encode(k), query_encode(v)))
                .collect::<Vec<_>>()
                .join("&")
        }),
        "[A-Za-z0-9._~!$&'()*+,;=:@/?-]{0,60}",
        "(flow|status|limit|cursor)=[A-Za-z0-9%._~+-]{0,30}",
    ]
}

// ---------------------------------------------------------------- properties

#[test]
fn creating_from_any_body_never_fails_the_server_nor_half_writes() {
    let f = Fixture::new();
    // An existing webhook, so that "unchanged" compares something.
    f.rt.block_on(f.create(outbound_body(OUTBOUND_URL)));
    proptest!(|((_, body) in webhook_body())| {
        f.rt.block_on(async {
            let before = f.list().await;
            let r = f.send("POST", BASE, Some(body.clone())).await;
            check_answer(&r)?;
            if r.status == 201 {
                // Undo it, so the account never reaches its quota.
                let id = r.body["id"].as_str().unwrap_or_default();
                let deleted = f.send("DELETE", &format!("{BASE}/{id}"), None).await;
                prop_assert_eq!(deleted.status, 204);
            } else {
                prop_assert_eq!(f.list().await, before, "a refused create of {} wrote", body);
            }
            Ok::<_, TestCaseError>(())
        })?;
    });
}

#[test]
fn updating_from_any_body_never_fails_the_server_nor_half_writes() {
    let f = Fixture::new();
    let outbound = f.rt.block_on(f.create(outbound_body(OUTBOUND_URL)));
    let inbound = f.rt.block_on(f.create(inbound_body(INBOUND_URL)));
    proptest!(|((is_inbound, body) in webhook_body())| {
        let path = format!("{BASE}/{}", if is_inbound { &inbound } else { &outbound });
        f.rt.block_on(async {
            let before = f.send("GET", &path, None).await.body;
            let r = f.send("PUT", &path, Some(body.clone())).await;
            check_answer(&r)?;
            let after = f.send("GET", &path, None).await.body;
            if r.status == 200 {
                // One write, or none when the body changes nothing (the version then stays).
                let version = before["version"].as_u64().unwrap();
                if after == before {
                    prop_assert_eq!(&r.body, &before, "a PUT that changed nothing answered otherwise");
                } else {
                    prop_assert_eq!(&after["version"], &json!(version + 1));
                }
                prop_assert_eq!(&after["flow"], &before["flow"]);
            } else {
                prop_assert_eq!(after, before, "a refused update with {} wrote", body);
            }
            Ok::<_, TestCaseError>(())
        })?;
    });
}

#[test]
fn publishing_any_body_never_fails_the_server() {
    let f = Fixture::new();
    proptest!(|(body in event_body())| {
        f.rt.block_on(async {
            let r = f.send("POST", EVENTS, Some(body.clone())).await;
            check_answer(&r)?;
            let status = r.status;
            // 403: an `accountId` that is not the key's.
            let foreign = status == 403 && r.error_field() == Some("accountId");
            prop_assert!(status == 202 || status == 400 || foreign, "{} for {}: {}", status, body, r.body);
            if r.status == 202 {
                prop_assert!(r.body["id"].is_string());
            }
            Ok::<_, TestCaseError>(())
        })?;
    });
}

#[test]
fn listing_with_any_query_never_fails_the_server() {
    let f = Fixture::new();
    for _ in 0..3 {
        f.rt.block_on(f.create(outbound_body(OUTBOUND_URL)));
    }
    proptest!(|(query in query_string())| {
        f.rt.block_on(async {
            let r = f.send("GET", &format!("{BASE}?{query}"), None).await;
            check_answer(&r)?;
            let status = r.status;
            prop_assert!(status == 200 || status == 400, "{} for ?{}: {}", status, query, r.body);
            if r.status == 200 {
                prop_assert!(r.body["data"].as_array().is_some_and(|d| d.len() <= 3));
            }
            Ok::<_, TestCaseError>(())
        })?;
    });
}

/// A resolve or test body: `{"variables": ...}` with any value, any object, or any text.
fn variables_body() -> impl Strategy<Value = String> {
    prop_oneof![
        json_value().prop_map(|v| json!({ "variables": v }).to_string()),
        (key(), json_value()).prop_map(|(k, v)| json!({"variables": {}, k: v}).to_string()),
        json_value().prop_map(|v| v.to_string()),
        text_body(),
    ]
}

#[test]
fn resolving_and_testing_with_any_body_never_fails_the_server() {
    use hookline::http::ReqwestClient;
    use hookline::inbound::{Resolver, ResolverSettings};
    use hookline::notify::RecordingMailer;
    use hookline_tests::upstream::{Reply, Upstream};
    use hookline_tests::{api_gateway_request, read_response};

    let f = Fixture::new();
    let upstream = f.rt.block_on(Upstream::start(vec![Reply::json(
        r#"{"order": {"status": "shipped"}}"#,
    )]));
    let template = format!(
        "{}/orders/{{{{order.id}}}}?email={{{{visitor.email}}}}",
        upstream.url
    );
    let id = f.rt.block_on(f.create(inbound_body(&template)));
    let store = f.api.app.store.clone();
    let resolver = {
        let _guard = f.rt.enter();
        inbound_resolver::ResolverApp {
            store: store.clone(),
            resolver: Resolver {
                http: ReqwestClient::new(hookline_tests::local_egress()),
                mailer: RecordingMailer::default(),
                store,
                clock: Arc::new(SystemClock),
                settings: ResolverSettings::default(),
            },
        }
    };
    let config = ProptestConfig::with_cases(128); // each case makes two calls to the upstream
    proptest!(config, |(body in variables_body())| {
        f.rt.block_on(async {
            let path = format!("{BASE}/{id}/resolve");
            let req = api_gateway_request("POST", &path, bearer(&f.key), Some(body.clone()));
            let r = read_response(resolver.handle(req).await);
            check_answer(&r)?;
            prop_assert!(r.status == 200 || r.status == 400, "resolve {}: {} {}", body, r.status, r.body);
            let t = f.send("POST", &format!("{BASE}/{id}/test"), Some(body.clone())).await;
            check_answer(&t)?;
            prop_assert_eq!(t.status, r.status, "test and resolve read the body alike: {}", body);
            Ok::<_, TestCaseError>(())
        })?;
    });
}

#[test]
fn testing_any_draft_never_fails_the_server_nor_writes() {
    use hookline_tests::upstream::{Reply, Upstream};

    let f = Fixture::new();
    let upstream =
        f.rt.block_on(Upstream::start(vec![Reply::json(r#"{"ok": true}"#)]));
    f.rt.block_on(f.create(outbound_body(OUTBOUND_URL)));
    let before = f.rt.block_on(f.list());
    let config = ProptestConfig::with_cases(128); // a valid draft makes a call to the upstream
    proptest!(config, |((_, body) in webhook_body(), variables in prop::option::of(json_value()))| {
        f.rt.block_on(async {
            // A draft is called: whatever URL it names is replaced by the local upstream's, so
            // no case can reach another address.
            let mut draft: Value = serde_json::from_str(&body).unwrap_or(Value::String(body.clone()));
            if let Some(url) = draft.get_mut("url").filter(|u| u.is_string()) {
                *url = json!(format!("{}/draft", upstream.url));
            }
            let mut request = json!({ "webhook": draft });
            if let Some(v) = variables {
                request["variables"] = v;
            }
            let calls = upstream.calls();
            let r = f.send("POST", &format!("{BASE}/test"), Some(request.to_string())).await;
            check_answer(&r)?;
            // 409: well formed, and not for this draft's flow (variables for an outbound one).
            prop_assert!(matches!(r.status, 200 | 400 | 409), "{} for {}: {}", r.status, request, r.body);
            if r.status != 200 {
                let field = r.error_field().unwrap_or_default();
                // A body nested deeper than the JSON parser takes (128) is refused whole.
                let too_deep = field == "body" && depth(&request) > 127;
                prop_assert!(
                    field.starts_with("webhook") || field == "variables" || too_deep,
                    "{} names {} for {}", r.status, field, request
                );
            }
            prop_assert!(upstream.calls() <= calls + 1, "one call at most");
            prop_assert_eq!(f.list().await, before.clone(), "a draft test of {} wrote", request);
            Ok::<_, TestCaseError>(())
        })?;
    });
    // The cases reached the call too, not only the validation.
    assert!(
        upstream.calls() > 0,
        "no draft was valid enough to be called"
    );
    eprintln!("{} of 128 drafts were called", upstream.calls());
}

/// How deeply `value` nests arrays and objects (a scalar is 0).
fn depth(value: &Value) -> usize {
    match value {
        Value::Array(items) => 1 + items.iter().map(depth).max().unwrap_or(0),
        Value::Object(map) => 1 + map.values().map(depth).max().unwrap_or(0),
        _ => 0,
    }
}
