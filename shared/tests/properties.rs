//! Property tests of everything that reads untrusted input: the three body formats, URL
//! templates, variable paths, and the validation of API bodies. Whatever the input: no panic,
//! no runaway recursion, and every refusal names a field.

use std::time::{Duration, Instant};

use hookline::events::Event;
use hookline::formats::{decode, discover, encode, extract, variables, MAX_DEPTH};
use hookline::model::{Format, ValidationError, Webhook, WebhookPatch, WebhookRules};
use hookline::paths::{VariablePath, MAX_PATH_LEN};
use hookline::render::{lookup, render_url};
use percent_encoding::percent_decode_str;
use proptest::prelude::*;
use proptest::sample::select;
use serde_json::{json, Map, Value};
use time::macros::datetime;
use time::OffsetDateTime;

const NOW: OffsetDateTime = datetime!(2026-11-25 12:00 UTC);
const FORMATS: [Format; 3] = [Format::Json, Format::Xml, Format::Form];

// ---------------------------------------------------------------- strategies

/// Object keys: mostly plain, some arbitrary (empty, control characters, `.[]`), and some long
/// enough that two nested ones make a path longer than `MAX_PATH_LEN`.
fn key() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => "[a-z]{1,6}",
        2 => "(?s).{0,10}",
        1 => "[a-zA-Z0-9_]{100,140}",
    ]
}

fn scalar() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        // JSON has no NaN or infinity.
        any::<f64>().prop_filter_map("finite", |f| {
            serde_json::Number::from_f64(f).map(Value::Number)
        }),
        "(?s).{0,20}".prop_map(Value::String),
    ]
}

/// Any JSON value, nested at most 5 levels (well within `MAX_DEPTH`), of about 64 nodes.
fn json_value() -> impl Strategy<Value = Value> {
    scalar().prop_recursive(5, 64, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::vec((key(), inner), 0..6)
                .prop_map(|entries| Value::Object(entries.into_iter().collect())),
        ]
    })
}

/// Bodies a decoder may meet: random bytes, and text close enough to each format to get past
/// the first byte of its parser.
fn body_bytes() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        prop::collection::vec(any::<u8>(), 0..512),
        "(?s).{0,200}".prop_map(String::into_bytes),
        r#"[{}\[\]:,"0-9a-z .eE+\\-]{0,200}"#.prop_map(String::into_bytes),
        r#"[<>/a-z ="'&#;!?\[\]x0-9CDATA\-]{0,200}"#.prop_map(String::into_bytes),
        r"[a-z=&%+0-9A-F\[\] ]{0,100}".prop_map(String::into_bytes),
        json_value().prop_map(|v| serde_json::to_vec(&v).unwrap()),
        (json_value(), "[a-z]{1,5}").prop_map(|(v, root)| encode(Format::Xml, &root, &v)),
    ]
}

// ---------------------------------------------------------------- decoding

fn depth(value: &Value) -> usize {
    match value {
        Value::Object(m) => 1 + m.values().map(depth).max().unwrap_or(0),
        Value::Array(a) => 1 + a.iter().map(depth).max().unwrap_or(0),
        _ => 0,
    }
}

proptest! {
    /// Any bytes decode to a value or an error, never a panic; a value has its format's shape.
    #[test]
    fn decoding_any_bytes_never_panics(body in body_bytes()) {
        for format in FORMATS {
            let Ok(value) = decode(format, &body) else { continue };
            match format {
                Format::Json => prop_assert!(depth(&value) <= MAX_DEPTH),
                // One root element, keyed by its name.
                Format::Xml => prop_assert!(value.as_object().is_some_and(|m| m.len() == 1)),
                Format::Form => {
                    let map = value.as_object();
                    prop_assert!(map.is_some_and(|m| !m.is_empty()));
                }
            }
        }
    }

    #[test]
    fn json_round_trips_exactly(value in json_value()) {
        let body = encode(Format::Json, "ignored", &value);
        prop_assert_eq!(decode(Format::Json, &body), Ok(value));
    }

    /// Nesting up to `MAX_DEPTH` decodes; one level more is refused, in JSON and XML alike.
    #[test]
    fn nesting_is_accepted_up_to_max_depth(n in 1..300usize, object in any::<bool>()) {
        let json = if object {
            format!("{}1{}", r#"{"a":"#.repeat(n), "}".repeat(n))
        } else {
            format!("{}{}", "[".repeat(n), "]".repeat(n))
        };
        prop_assert_eq!(decode(Format::Json, json.as_bytes()).is_ok(), n <= MAX_DEPTH);
        let xml = format!("{}x{}", "<a>".repeat(n), "</a>".repeat(n));
        prop_assert_eq!(decode(Format::Xml, xml.as_bytes()).is_ok(), n <= MAX_DEPTH);
    }

    /// Any document type declaration is refused, so no entity can be declared, let alone expand.
    #[test]
    fn xml_with_a_doctype_is_refused(
        root in "[a-z]{1,8}",
        entity in "[a-z]{1,8}",
        text in "[a-z &;]{0,20}",
        external in any::<bool>(),
    ) {
        let dtd = if external {
            format!(r#"<!DOCTYPE {root} SYSTEM "file:///etc/{entity}">"#)
        } else {
            format!(r#"<!DOCTYPE {root} [<!ENTITY {entity} "{text}">]>"#)
        };
        let xml = format!(r#"<?xml version="1.0"?>{dtd}<{root}>&{entity};</{root}>"#);
        prop_assert!(decode(Format::Xml, xml.as_bytes()).is_err());
        // Without the declaration the entity is unknown: refused too, not left as text.
        let bare = format!("<{root}>&{entity};</{root}>");
        let predefined = ["lt", "gt", "amp", "quot", "apos"].contains(&entity.as_str());
        prop_assert_eq!(decode(Format::Xml, bare.as_bytes()).is_ok(), predefined);
    }
}

/// A hundred thousand levels (far past any recursion limit) are refused at once: the parsers
/// stop at the depth limit instead of recursing into the stack.
#[test]
fn hostile_nesting_is_refused_quickly() {
    const LEVELS: usize = 100_000;
    let bodies = [
        (
            Format::Json,
            format!("{}{}", "[".repeat(LEVELS), "]".repeat(LEVELS)),
        ),
        (
            Format::Json,
            format!("{}1{}", r#"{"a":"#.repeat(LEVELS), "}".repeat(LEVELS)),
        ),
        (
            Format::Xml,
            format!("{}{}", "<a>".repeat(LEVELS), "</a>".repeat(LEVELS)),
        ),
        (Format::Xml, "<a>".repeat(LEVELS)),
        (
            Format::Xml,
            format!("<r>{}</r>", "<a x='1'/>".repeat(LEVELS)),
        ),
    ];
    for (format, body) in bodies {
        let started = Instant::now();
        let result = decode(format, body.as_bytes());
        let took = started.elapsed();
        assert!(took < Duration::from_secs(2), "{format:?} took {took:?}");
        // Many siblings are no nesting: that one is fine.
        if body.starts_with("<r>") {
            assert!(result.is_ok());
        } else {
            assert!(
                result.is_err(),
                "{format:?} nested {LEVELS} deep was accepted"
            );
        }
    }
}

// ---------------------------------------------------------------- XML and form mappings

/// Names `encode` writes as elements: XML names, not `xml...`, and not `item` (the element it
/// writes for keys that are no names).
fn xml_name() -> impl Strategy<Value = String> {
    "[a-zA-Z_][a-zA-Z0-9_.-]{0,8}".prop_filter("reserved", |n| {
        !n.to_ascii_lowercase().starts_with("xml") && n != "item"
    })
}

/// Values whose XML form maps back one to one: element-name keys, text without control
/// characters, arrays of two or more non-arrays (one element reads back as a single value).
fn xml_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<f64>().prop_filter_map("finite", |f| {
            serde_json::Number::from_f64(f).map(Value::Number)
        }),
        r"\PC{0,20}".prop_map(Value::String),
    ]
    .boxed();
    leaf.clone().prop_recursive(4, 48, 5, move |inner| {
        // An array's items are no arrays: nested arrays flatten into one.
        let not_array = prop_oneof![leaf.clone(), xml_object(inner.clone())];
        prop_oneof![
            prop::collection::vec(not_array, 2..5).prop_map(Value::Array),
            xml_object(inner),
        ]
    })
}

fn xml_object(inner: impl Strategy<Value = Value>) -> impl Strategy<Value = Value> {
    prop::collection::vec((xml_name(), inner), 0..5)
        .prop_map(|entries| Value::Object(entries.into_iter().collect()))
}

/// What `decode` reads back from an encoded value: every scalar as its text, trimmed (null as
/// empty text), an empty object as empty text, the structure otherwise unchanged.
fn xml_image(value: &Value) -> Value {
    match value {
        Value::Object(map) if map.is_empty() => json!(""),
        Value::Object(map) => {
            Value::Object(map.iter().map(|(k, v)| (k.clone(), xml_image(v))).collect())
        }
        Value::Array(items) => Value::Array(items.iter().map(xml_image).collect()),
        Value::Null => json!(""),
        Value::String(s) => json!(s.trim()),
        other => json!(other.to_string()),
    }
}

/// `encode`'s form flattening, as documented: `data[contact][name]=...`, array items by index,
/// scalars as text (null empty), empty objects and arrays leaving nothing.
fn form_pairs(prefix: Option<&str>, value: &Value, out: &mut Vec<(String, String)>) {
    let key = |k: &str| match prefix {
        None => k.to_string(),
        Some(p) => format!("{p}[{k}]"),
    };
    let here = prefix.unwrap_or_default().to_string();
    match value {
        Value::Object(map) => {
            for (k, v) in map {
                form_pairs(Some(&key(k)), v, out);
            }
        }
        Value::Array(items) => {
            for (i, v) in items.iter().enumerate() {
                form_pairs(Some(&key(&i.to_string())), v, out);
            }
        }
        Value::Null => out.push((here, String::new())),
        Value::String(s) => out.push((here, s.clone())),
        other => out.push((here, other.to_string())),
    }
}

proptest! {
    #[test]
    fn xml_round_trips_by_the_documented_mapping(
        root in xml_name(),
        value in xml_object(xml_value()),
    ) {
        let body = encode(Format::Xml, &root, &value);
        let back = decode(Format::Xml, &body);
        prop_assert_eq!(back, Ok(json!({ root: xml_image(&value) })));
    }

    /// A key that is no XML name becomes `<item key="...">`, and reads back as that attribute.
    #[test]
    fn xml_keys_that_are_no_names_read_back_as_item_attributes(
        key in r"[0-9@#: \-][^\p{C}]{0,10}|xml[a-z]{0,3}|",
        text in r"\PC{0,20}",
    ) {
        let body = encode(Format::Xml, "root", &json!({ key.clone(): text.clone() }));
        let mut item = Map::from_iter([("@key".to_string(), json!(key))]);
        if !text.trim().is_empty() {
            item.insert("#text".into(), json!(text.trim()));
        }
        prop_assert_eq!(
            decode(Format::Xml, &body),
            Ok(json!({"root": {"item": item}}))
        );
    }

    /// Form bodies are flat: each leaf reads back under its bracketed key, keys met twice (as
    /// `a[b]` beside `{"a": {"b": ..}}` may be) as an array; no leaf at all is an empty body.
    #[test]
    fn form_round_trips_by_the_documented_mapping(value in json_value()) {
        let mut pairs = Vec::new();
        form_pairs(None, &value, &mut pairs);
        let mut expected: Vec<(String, Vec<String>)> = Vec::new();
        for (k, v) in pairs {
            match expected.iter_mut().find(|(seen, _)| *seen == k) {
                Some((_, values)) => values.push(v),
                None => expected.push((k, vec![v])),
            }
        }
        let expected: Map<String, Value> = expected
            .into_iter()
            .map(|(k, mut vs)| {
                let v = if vs.len() == 1 { json!(vs.remove(0)) } else { json!(vs) };
                (k, v)
            })
            .collect();
        let back = decode(Format::Form, &encode(Format::Form, "ignored", &value));
        if expected.is_empty() {
            prop_assert!(back.is_err());
        } else {
            prop_assert_eq!(back, Ok(Value::Object(expected)));
        }
    }
}

// ---------------------------------------------------------------- paths and discovery

proptest! {
    /// Any string parses or is refused; a parsed path prints as a path that parses the same.
    #[test]
    fn variable_paths_parse_without_panics(
        s in prop_oneof![
            "(?s).{0,40}",
            r"[a-z0-9.\[\]]{0,30}",
            r"[a.\[0\]]{250,260}",
        ],
    ) {
        if let Ok(path) = VariablePath::parse(&s) {
            prop_assert!(!path.0.is_empty() && s.len() <= MAX_PATH_LEN);
            let printed = path.to_string();
            prop_assert_eq!(VariablePath::parse(&printed), Ok(path));
        }
    }

    /// Every path discovery offers can be configured (it parses) and finds its leaf.
    #[test]
    fn discovered_paths_parse_and_find_their_leaf(value in json_value()) {
        let paths = discover(&value);
        prop_assert!(paths.len() <= hookline::formats::MAX_DISCOVERED);
        let found = variables(&value, &paths);
        for p in &paths {
            let parsed = VariablePath::parse(p);
            prop_assert!(parsed.is_ok(), "discovered {:?} does not parse: {:?}", p, parsed);
            let leaf = extract(&value, &parsed.unwrap());
            prop_assert!(leaf.is_some(), "discovered {:?} finds nothing", p);
            let leaf = leaf.unwrap();
            let is_leaf = match leaf {
                Value::Object(m) => m.is_empty(),
                Value::Array(a) => a.is_empty(),
                _ => true,
            };
            prop_assert!(is_leaf, "{:?} is no leaf", p);
            prop_assert_eq!(&found[p], leaf);
            prop_assert!(lookup(&value, p).is_some());
        }
    }

    /// A flat key wins over a path: `"visitor.email"` is looked up as it is first.
    #[test]
    fn lookup_finds_every_flat_key(map in prop::collection::vec((key(), scalar()), 0..8)) {
        let vars = Value::Object(map.into_iter().collect());
        for (k, v) in vars.as_object().unwrap() {
            prop_assert_eq!(lookup(&vars, k), Some(v));
        }
    }
}

// ---------------------------------------------------------------- URL templates

/// `{{v}}` as a whole path segment, inside one, beside `{{w}}`, as a query value and key.
const TEMPLATES: [&str; 9] = [
    "https://e.com/a/{{v}}/b?x=1",
    "https://e.com/a/{{v}}",
    "https://e.com/a/{{ v }}/",
    "https://e.com/{{v}}.json",
    "https://e.com/a/id-{{v}}-x/b",
    "https://e.com/a/{{v}}{{w}}/b",
    "https://e.com/s?q={{v}}&r={{w}}",
    "https://e.com/s?{{v}}={{w}}&x",
    "https://e.com/a/{{v}}/{{w}}?q={{w}}#top",
];

/// Values that try to break out: URL delimiters, dots, percent signs, any text, non-strings.
fn url_value() -> impl Strategy<Value = Value> {
    prop_oneof![
        3 => r"[./?&#%=+ \\;:@a-z2eE]{0,6}".prop_map(Value::String),
        2 => "(?s).{0,12}".prop_map(Value::String),
        1 => select(vec![".", "..", "%2e", "%2E%2e", "", " ", "a/b", "?x=1#y"])
            .prop_map(Value::from),
        1 => scalar(),
    ]
}

fn text(value: &Value) -> String {
    match value {
        Value::Null => String::new(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// `plain` (rendered with `VVV` and `WWW`) decoded, with the values put where those stood.
fn expected(plain: &str, v: &str, w: &str) -> String {
    plain
        .split("VVV")
        .map(|part| part.replace("WWW", w))
        .collect::<Vec<_>>()
        .join(v)
}

fn decoded(s: &str) -> String {
    percent_decode_str(s).decode_utf8().unwrap().into_owned()
}

proptest! {
    /// No value changes the URL's structure: the same path segments and query parameters (and
    /// fragment) as with harmless values, each value read back as itself. The one exception is
    /// a value a URL cannot carry (a `.` or `..` segment, which URL parsing removes): it is left
    /// out and listed as missing.
    #[test]
    fn values_never_change_the_url_structure(
        template in select(TEMPLATES.to_vec()),
        v in url_value(),
        w in url_value(),
    ) {
        let (plain, _) = render_url(template, &json!({"v": "VVV", "w": "WWW"}));
        let (url, missing) = render_url(template, &json!({"v": v.clone(), "w": w.clone()}));
        let left_out = |name: &str, value: &Value| {
            if missing.iter().any(|m| m == name) { String::new() } else { text(value) }
        };
        let (tv, tw) = (left_out("v", &v), left_out("w", &w));
        for name in &missing {
            let value = if name == "v" { &v } else { &w };
            let t = text(value);
            prop_assert!(
                !t.is_empty() && t.chars().all(|c| c == '.'),
                "{:?} = {:?} was left out of {}", name, value, template
            );
        }
        let plain = url::Url::parse(&plain).unwrap();
        let parsed = url::Url::parse(&url);
        prop_assert!(parsed.is_ok(), "{} does not parse", url);
        let parsed = parsed.unwrap();
        prop_assert_eq!(parsed.host_str(), plain.host_str());
        prop_assert_eq!(parsed.fragment(), plain.fragment());

        let segments: Vec<String> = parsed.path_segments().unwrap().map(decoded).collect();
        let want: Vec<String> = plain
            .path_segments()
            .unwrap()
            .map(|s| expected(&decoded(s), &tv, &tw))
            .collect();
        prop_assert_eq!(segments, want, "{} from {}", url, template);

        let pairs: Vec<(String, String)> = parsed.query_pairs().into_owned().collect();
        let want: Vec<(String, String)> = plain
            .query_pairs()
            .map(|(k, val)| (expected(&k, &tv, &tw), expected(&val, &tv, &tw)))
            .collect();
        prop_assert_eq!(pairs, want, "{} from {}", url, template);
    }
}

// ---------------------------------------------------------------- request bodies

/// Every field a webhook body may carry.
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

fn outbound_body() -> Value {
    json!({"name": "CRM sync", "flow": "outbound", "url": "https://crm.example.com/hook",
           "notificationEmail": "ops@example.com", "events": ["case:new", "case:status:closed"]})
}

fn inbound_body() -> Value {
    json!({"name": "Order status", "flow": "inbound",
           "url": "https://shop.example.com/orders/{{order.id}}?email={{visitor.email}}",
           "notificationEmail": "ops@example.com", "fallbackResponse": {"status": "unknown"},
           "variables": ["order.status", "items[0].sku"]})
}

/// Values shaped like what the fields expect, to get past the type checks into the rules.
fn field_value() -> impl Strategy<Value = Value> {
    let security = (
        select(vec!["none", "hmac", "basic", "bearer", "header", "other"]),
        prop::collection::vec(
            (
                select(vec![
                    "secret",
                    "previousSecretExpiresAt",
                    "username",
                    "password",
                    "token",
                    "name",
                    "value",
                    "x",
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
        2 => r"(https?|ftp)://[a-z0-9.:@\[\]{}/?=&%\-]{0,40}".prop_map(Value::from),
        1 => r"[a-z.+@\-]{0,20}".prop_map(Value::from),
        1 => select(vec![
            "inbound", "outbound", "active", "inactive", "GET", "POST", "application/json",
            "application/xml", "application/x-www-form-urlencoded", "case:new", "agent:status",
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

/// A body: a valid one with a field replaced, removed or added, or any object of fields.
fn webhook_body() -> impl Strategy<Value = Value> {
    let field =
        prop_oneof![3 => select(WEBHOOK_FIELDS.to_vec()).prop_map(String::from), 1 => key()];
    prop_oneof![
        (
            any::<bool>(),
            field.clone(),
            prop::option::of(field_value())
        )
            .prop_map(|(inbound, field, value)| {
                let valid = if inbound {
                    inbound_body()
                } else {
                    outbound_body()
                };
                mutated(valid, field, value)
            }),
        prop::collection::vec((field, field_value()), 0..8)
            .prop_map(|fields| Value::Object(fields.into_iter().collect())),
        json_value(),
    ]
}

const EVENT_FIELDS: [&str; 5] = ["id", "event", "accountId", "occurredAt", "data"];

/// A publish body: a valid event with a field replaced, removed or added, or any value.
fn event_body() -> impl Strategy<Value = Value> {
    let field = prop_oneof![select(EVENT_FIELDS.to_vec()).prop_map(String::from), key()];
    let data_field = select(vec![
        "caseId", "agentId", "status", "contact", "fields", "messages",
    ]);
    let value = prop_oneof![
        json_value(),
        select(vec![
            "case:new",
            "agent:status",
            "case:status:closed",
            "acme",
            "2026-11-25T12:00:00Z"
        ])
        .prop_map(Value::from),
        prop::collection::vec((data_field, scalar()), 0..4).prop_map(|fields| {
            Value::Object(
                fields
                    .into_iter()
                    .map(|(k, v)| (k.to_string(), v))
                    .collect(),
            )
        }),
    ];
    prop_oneof![
        (field, prop::option::of(value)).prop_map(|(field, value)| {
            let valid = json!({"event": "case:new", "data": {"caseId": "72"}});
            mutated(valid, field, value)
        }),
        json_value(),
    ]
}

/// The error names a field: non-empty, and one the body has, one the kind of body knows, or
/// the body itself.
fn names_a_field(e: &ValidationError, body: &Value, known: &[&str]) -> bool {
    let in_body = body.as_object().is_some_and(|m| m.contains_key(&e.field));
    let under_known = known.iter().any(|k| {
        e.field == *k
            || e.field.starts_with(&format!("{k}."))
            || e.field.starts_with(&format!("{k}["))
    });
    !e.field.is_empty() && (in_body || under_known || e.field == "body")
}

fn created(body: Value) -> Webhook {
    WebhookPatch::from_json(&body)
        .unwrap()
        .create("wh_1".into(), "acme".into(), NOW, &WebhookRules::default())
        .unwrap()
}

proptest! {
    /// Reading, creating and updating from any body: a webhook or an error that names a field.
    #[test]
    fn webhook_bodies_validate_or_name_a_field(body in webhook_body()) {
        let rules = WebhookRules::default();
        let check = |result: Result<Webhook, ValidationError>| -> Result<(), TestCaseError> {
            match result {
                Ok(w) => {
                    // The API shows what it stored.
                    let _ = serde_json::to_value(hookline::api::types::WebhookOut::revealed(&w));
                }
                Err(e) => prop_assert!(
                    names_a_field(&e, &body, &WEBHOOK_FIELDS),
                    "{:?} for {}", e, body
                ),
            }
            Ok(())
        };
        let patch = match WebhookPatch::from_json(&body) {
            Ok(p) => p,
            Err(e) => return check(Err(e)),
        };
        check(patch.clone().create("wh_2".into(), "acme".into(), NOW, &rules))?;
        for current in [created(outbound_body()), created(inbound_body())] {
            let result = patch.clone().apply_to(&current, NOW, &rules);
            if let Ok(next) = &result {
                prop_assert_eq!(
                    (&next.id, next.flow(), next.version),
                    (&current.id, current.flow(), current.version + 1)
                );
            }
            check(result)?;
        }
    }

    /// Any URL string as a webhook's URL: accepted or refused as `url`, for either flow.
    #[test]
    fn webhook_urls_validate_or_name_the_url(
        url in prop_oneof![
            "(?s).{0,60}",
            r"(https?|ftp|javascript)://[a-z0-9.:@\[\]{}/?=&%#\-]{0,60}",
            r"https://[a-z]{1,5}\.com/[a-z{}.\[\]0-9 ]{0,30}",
        ],
        inbound in any::<bool>(),
    ) {
        let mut body = if inbound { inbound_body() } else { outbound_body() };
        body["url"] = json!(url);
        let result = WebhookPatch::from_json(&body)
            .and_then(|p| p.create("wh_3".into(), "acme".into(), NOW, &WebhookRules::default()));
        if let Err(e) = result {
            prop_assert_eq!(&e.field, "url", "{:?}", e);
        }
    }

    /// Data a publisher queued, however it is written, reaches receivers as they wrote it,
    /// and the checks read it as the API's would.
    #[test]
    fn queued_data_is_checked_as_published_and_passed_on_as_written(value in json_value(), pretty in any::<bool>()) {
        let data = json!({"caseId": "72", "extra": value});
        let written = if pretty {
            serde_json::to_string_pretty(&data).unwrap()
        } else {
            serde_json::to_string(&data).unwrap()
        };
        let body = format!(
            r#"{{"id": "evt_1", "event": "case:new", "accountId": "acme",
                "occurredAt": "2026-11-25T12:00:00Z", "data": {written}}}"#
        );
        let message: hookline::queue::EventMessage = serde_json::from_str(&body).unwrap();
        prop_assert!(message.event.check_queued().is_ok());
        prop_assert_eq!(message.event.data.get(), written.as_str());
        let published = Event::from_publish(&json!({"event": "case:new", "data": data}), "acme", NOW);
        prop_assert!(published.is_ok());
    }

    /// Publishing any body: an event or an error that names a field.
    #[test]
    fn published_events_validate_or_name_a_field(body in event_body()) {
        match Event::from_publish(&body, "acme", NOW) {
            Ok(event) => {
                prop_assert_eq!(event.account_id.as_str(), "acme");
                prop_assert!(event.data.to_value().is_object());
            }
            Err(e) => prop_assert!(
                names_a_field(&e, &body, &EVENT_FIELDS),
                "{:?} for {}", e, body
            ),
        }
    }
}

/// Data objects near the catalogue's rules: the fields the schemas name, each with a value of
/// any kind (the right kind, often), and other fields.
fn event_data() -> impl Strategy<Value = Value> {
    let named = select(vec![
        "caseId", "agentId", "status", "contact", "fields", "messages", "channels",
    ]);
    let value = prop_oneof![
        2 => select(vec!["", "72", "closed", "pending", "active", "queue", "available", "unavailable"])
            .prop_map(Value::from),
        1 => Just(json!({})),
        1 => Just(json!([])),
        2 => json_value(),
    ];
    let field = prop_oneof![3 => named.prop_map(String::from), 1 => key()];
    prop_oneof![
        6 => prop::collection::vec((field, value), 0..5)
            .prop_map(|fields| Value::Object(fields.into_iter().collect())),
        1 => json_value(),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    /// The delivery function checks queued events with `check_data`, off the text; the API
    /// with the catalogue's schema. Both give the same verdict on any data, naming the same
    /// field when they refuse.
    #[test]
    fn the_queue_check_and_the_catalogue_schema_agree(data in event_data(), which in 0..7usize) {
        let event_type = hookline::model::EventType::ALL[which];
        let schema = hookline::catalogue::validate(event_type, &data);
        let queued = Event {
            id: "evt_1".into(),
            event: event_type,
            account_id: "acme".into(),
            occurred_at: NOW,
            data: hookline::events::EventData::from_value(&data),
        }
        .check_queued();
        prop_assert_eq!(
            schema.as_ref().map_err(|e| e.field.as_str()),
            queued.as_ref().map_err(|e| e.field.as_str()),
            "{} {}: schema {:?}, queue {:?}", event_type.as_str(), data, schema, queued
        );
    }
}
