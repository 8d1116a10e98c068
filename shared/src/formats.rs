//! The three body formats (JSON, XML, form) as one JSON-shaped value: encoding what we send,
//! decoding what receivers answer, and reading variable paths out of the result.
//!
//! XML maps to JSON the common way: the root element is the top-level key, child elements are
//! keys, repeated elements become arrays, attributes are `@name` keys and text beside children is
//! `#text`. `<customer><name>Ada</name></customer>` is `{"customer":{"name":"Ada"}}`, so the
//! variable path is `customer.name`. DTDs are refused, so no entity can expand.

use std::fmt::Write as _;

use quick_xml::events::Event;
use quick_xml::{Reader, XmlVersion};
use serde_json::{Map, Value};

use crate::model::Format;
use crate::paths::{Segment, VariablePath, MAX_PATH_LEN};

/// Deepest nesting accepted when decoding (JSON's own parser stops at 128).
pub const MAX_DEPTH: usize = 64;
/// Most variable paths discovery lists.
pub const MAX_DISCOVERED: usize = 500;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct DecodeError(pub String);

// ---------------------------------------------------------------- encoding

/// `value` as a body in `format`. XML wraps it in `<root>`; form flattens nested keys as
/// `data[contact][name]=...`.
pub fn encode(format: Format, root: &str, value: &Value) -> Vec<u8> {
    match format {
        Format::Json => serde_json::to_vec(value).expect("JSON values always serialise"),
        Format::Xml => {
            let mut out = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>");
            write_xml(&mut out, root, value);
            out.into_bytes()
        }
        Format::Form => {
            let mut pairs = Vec::new();
            flatten_form(&mut pairs, None, value);
            let mut ser = url::form_urlencoded::Serializer::new(String::new());
            for (k, v) in &pairs {
                ser.append_pair(k, v);
            }
            ser.finish().into_bytes()
        }
    }
}

fn scalar_text(value: &Value) -> String {
    match value {
        Value::Null => String::new(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

fn flatten_form(out: &mut Vec<(String, String)>, prefix: Option<String>, value: &Value) {
    let key = |k: &str| match &prefix {
        None => k.to_string(),
        Some(p) => format!("{p}[{k}]"),
    };
    match value {
        Value::Object(map) => map
            .iter()
            .for_each(|(k, v)| flatten_form(out, Some(key(k)), v)),
        Value::Array(items) => items
            .iter()
            .enumerate()
            .for_each(|(i, v)| flatten_form(out, Some(key(&i.to_string())), v)),
        scalar => out.push((prefix.unwrap_or_default(), scalar_text(scalar))),
    }
}

fn is_xml_name(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some(c) if c.is_alphabetic() || c == '_')
        && chars.all(|c| c.is_alphanumeric() || matches!(c, '_' | '-' | '.'))
        && !name.to_ascii_lowercase().starts_with("xml")
}

fn escape_xml(out: &mut String, text: &str) {
    for c in text.chars() {
        match c {
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '&' => out.push_str("&amp;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            c => out.push(c),
        }
    }
}

/// Elements named by keys; a key that is no XML name becomes `<item key="...">`; arrays repeat
/// the element.
fn write_xml(out: &mut String, name: &str, value: &Value) {
    if let Value::Array(items) = value {
        items.iter().for_each(|item| write_xml(out, name, item));
        return;
    }
    let (open, close) = if is_xml_name(name) {
        (name.to_string(), name.to_string())
    } else {
        let mut attr = String::new();
        escape_xml(&mut attr, name);
        (format!("item key=\"{attr}\""), "item".to_string())
    };
    let _ = write!(out, "<{open}>");
    match value {
        Value::Object(map) => map.iter().for_each(|(k, v)| write_xml(out, k, v)),
        scalar => escape_xml(out, &scalar_text(scalar)),
    }
    let _ = write!(out, "</{close}>");
}

// ---------------------------------------------------------------- decoding

/// A receiver's answer in `format`, as a JSON-shaped value.
pub fn decode(format: Format, body: &[u8]) -> Result<Value, DecodeError> {
    match format {
        Format::Json => {
            let value: Value = serde_json::from_slice(body)
                .map_err(|e| DecodeError(format!("invalid JSON: {e}")))?;
            if depth(&value) > MAX_DEPTH {
                return Err(DecodeError(format!("JSON nested deeper than {MAX_DEPTH}")));
            }
            Ok(value)
        }
        Format::Xml => decode_xml(body),
        Format::Form => {
            let text = std::str::from_utf8(body)
                .map_err(|_| DecodeError("form body is not UTF-8".into()))?;
            let mut map = Map::new();
            for (k, v) in url::form_urlencoded::parse(text.trim().as_bytes()) {
                insert_repeated(&mut map, k.into_owned(), Value::String(v.into_owned()));
            }
            // No pair at all ("", "&&") is no answer, like an empty JSON or XML body.
            if map.is_empty() {
                return Err(DecodeError("empty form body".into()));
            }
            Ok(Value::Object(map))
        }
    }
}

fn depth(value: &Value) -> usize {
    match value {
        Value::Object(m) => 1 + m.values().map(depth).max().unwrap_or(0),
        Value::Array(a) => 1 + a.iter().map(depth).max().unwrap_or(0),
        _ => 0,
    }
}

/// A second value under the same key turns it into an array (repeated XML elements, form keys).
fn insert_repeated(map: &mut Map<String, Value>, key: String, value: Value) {
    match map.get_mut(&key) {
        None => {
            map.insert(key, value);
        }
        Some(Value::Array(items)) => items.push(value),
        Some(existing) => {
            let first = existing.take();
            *existing = Value::Array(vec![first, value]);
        }
    }
}

/// An element being read: its attributes and children so far, and its text.
struct Open {
    name: String,
    map: Map<String, Value>,
    text: String,
}

impl Open {
    fn into_value(self) -> Value {
        let text = self.text.trim();
        if self.map.is_empty() {
            return Value::String(text.to_string());
        }
        let mut map = self.map;
        if !text.is_empty() {
            map.insert("#text".into(), Value::String(text.to_string()));
        }
        Value::Object(map)
    }
}

fn decode_xml(body: &[u8]) -> Result<Value, DecodeError> {
    let err = |e: &dyn std::fmt::Display| DecodeError(format!("invalid XML: {e}"));
    let mut reader = Reader::from_reader(body);
    reader.config_mut().trim_text(false);
    let mut stack: Vec<Open> = Vec::new();
    let mut root: Option<Value> = None;
    let mut buf = Vec::new();
    loop {
        let event = reader.read_event_into(&mut buf).map_err(|e| err(&e))?;
        match event {
            Event::DocType(_) => return Err(DecodeError("XML with a DTD is refused".into())),
            Event::Start(ref e) | Event::Empty(ref e) => {
                if root.is_some() {
                    return Err(DecodeError(
                        "invalid XML: content after the root element".into(),
                    ));
                }
                if stack.len() >= MAX_DEPTH {
                    return Err(DecodeError(format!("XML nested deeper than {MAX_DEPTH}")));
                }
                let name = AsRef::<str>::as_ref(&e.name()).to_string();
                let mut map = Map::new();
                for attr in e.attributes() {
                    let attr = attr.map_err(|e| err(&e))?;
                    let key = format!("@{}", AsRef::<str>::as_ref(&attr.key));
                    let value = attr
                        .normalized_value(XmlVersion::Implicit1_0)
                        .map_err(|e| err(&e))?
                        .into_owned();
                    map.insert(key, Value::String(value));
                }
                let open = Open {
                    name,
                    map,
                    text: String::new(),
                };
                if matches!(event, Event::Empty(_)) {
                    close(&mut stack, &mut root, open);
                } else {
                    stack.push(open);
                }
            }
            Event::End(_) => {
                let open = stack
                    .pop()
                    .ok_or_else(|| DecodeError("invalid XML: unbalanced end tag".into()))?;
                close(&mut stack, &mut root, open);
            }
            Event::Text(t) => {
                if let Some(top) = stack.last_mut() {
                    top.text.push_str(&t.xml10_content());
                } else if !t.trim().is_empty() {
                    return Err(DecodeError(
                        "invalid XML: text outside the root element".into(),
                    ));
                }
            }
            Event::GeneralRef(r) => {
                // Only the five predefined entities and character references; never expansion.
                let name = r.to_string();
                let text = match name.as_str() {
                    "lt" => "<".to_string(),
                    "gt" => ">".to_string(),
                    "amp" => "&".to_string(),
                    "quot" => "\"".to_string(),
                    "apos" => "'".to_string(),
                    _ => match r.resolve_char_ref().map_err(|e| err(&e))? {
                        Some(c) => c.to_string(),
                        None => {
                            return Err(DecodeError(format!("XML entity &{name}; is not allowed")))
                        }
                    },
                };
                if let Some(top) = stack.last_mut() {
                    top.text.push_str(&text);
                }
            }
            Event::CData(c) => {
                if let Some(top) = stack.last_mut() {
                    top.text.push_str(&c);
                }
            }
            Event::Eof => break,
            _ => {}
        }
        buf.clear();
    }
    if !stack.is_empty() {
        return Err(DecodeError("invalid XML: unclosed element".into()));
    }
    root.ok_or_else(|| DecodeError("invalid XML: no root element".into()))
}

fn close(stack: &mut [Open], root: &mut Option<Value>, open: Open) {
    let name = open.name.clone();
    let value = open.into_value();
    match stack.last_mut() {
        Some(parent) => insert_repeated(&mut parent.map, name, value),
        None => *root = Some(Value::Object(Map::from_iter([(name, value)]))),
    }
}

// ---------------------------------------------------------------- paths

/// The value at `path`, if any. Index 0 of a single value is that value, so an XML element that
/// happens to appear once is still `orders.order[0]`.
pub fn extract<'a>(value: &'a Value, path: &VariablePath) -> Option<&'a Value> {
    let mut current = value;
    for segment in &path.0 {
        current = match (segment, current) {
            (Segment::Key(k), Value::Object(map)) => map.get(k)?,
            (Segment::Index(i), Value::Array(items)) => items.get(*i)?,
            (Segment::Index(0), single) if !single.is_null() => single,
            _ => return None,
        };
    }
    Some(current)
}

/// The value of each configured variable path in `data`, null where absent.
pub fn variables(data: &Value, paths: &[String]) -> Map<String, Value> {
    paths
        .iter()
        .map(|p| {
            let value = VariablePath::parse(p)
                .ok()
                .and_then(|vp| extract(data, &vp))
                .cloned();
            (p.clone(), value.unwrap_or(Value::Null))
        })
        .collect()
}

/// Every path to a leaf of `value` (objects as `a.b`, arrays as `[i]`), in document order, at
/// most `MAX_DISCOVERED`. Keys that a path cannot name (containing `.`, `[` or `]`) are skipped,
/// and so are paths longer than `MAX_PATH_LEN`, which could not be configured.
pub fn discover(value: &Value) -> Vec<String> {
    let mut out = Vec::new();
    walk(value, String::new(), &mut out);
    out
}

fn walk(value: &Value, path: String, out: &mut Vec<String>) {
    // A path only grows on the way down, so a long one ends the branch.
    if out.len() >= MAX_DISCOVERED || path.chars().count() > MAX_PATH_LEN {
        return;
    }
    match value {
        Value::Object(map) if !map.is_empty() => {
            for (k, v) in map {
                if k.is_empty() || k.contains(['.', '[', ']']) || k.chars().any(char::is_control) {
                    continue;
                }
                let next = if path.is_empty() {
                    k.clone()
                } else {
                    format!("{path}.{k}")
                };
                walk(v, next, out);
            }
        }
        Value::Array(items) if !items.is_empty() => {
            for (i, v) in items.iter().enumerate() {
                walk(v, format!("{path}[{i}]"), out);
            }
        }
        _ if !path.is_empty() => out.push(path),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn path(s: &str) -> VariablePath {
        VariablePath::parse(s).unwrap()
    }

    #[test]
    fn xml_decodes_to_root_keyed_values_with_repeats_as_arrays() {
        let xml = br#"<?xml version="1.0"?>
            <orders count="2"><order><id>7</id><status>shipped &amp; paid</status></order>
            <order><id>8</id><status><![CDATA[<pending>]]></status></order><note/></orders>"#;
        let v = decode(Format::Xml, xml).unwrap();
        assert_eq!(
            v,
            json!({"orders": {"@count": "2", "order": [{"id": "7", "status": "shipped & paid"},
                                                      {"id": "8", "status": "<pending>"}], "note": ""}})
        );
        assert_eq!(extract(&v, &path("orders.order[1].id")), Some(&json!("8")));
        let single = decode(Format::Xml, b"<customer><name>Ada</name></customer>").unwrap();
        assert_eq!(
            extract(&single, &path("customer.name")),
            Some(&json!("Ada"))
        );
        assert_eq!(
            extract(&single, &path("customer[0].name")),
            Some(&json!("Ada"))
        );
    }

    #[test]
    fn a_form_body_without_a_pair_is_no_answer() {
        for body in ["", "  ", "&", "&&&"] {
            assert!(decode(Format::Form, body.as_bytes()).is_err(), "{body:?}");
        }
        assert_eq!(decode(Format::Form, b"&a=1&").unwrap(), json!({"a": "1"}));
    }

    #[test]
    fn hostile_xml_is_refused() {
        let billion_laughs = br#"<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;">]><lolz>&lol2;</lolz>"#;
        assert!(decode(Format::Xml, billion_laughs)
            .unwrap_err()
            .0
            .contains("DTD"));
        assert!(decode(Format::Xml, b"<a>&custom;</a>").is_err());
        let deep = format!("{}{}", "<a>".repeat(100), "</a>".repeat(100));
        assert!(decode(Format::Xml, deep.as_bytes())
            .unwrap_err()
            .0
            .contains("deeper"));
        for bad in [&b"<a><b></a>"[..], b"<a>", b"text", b"<a/><b/>", b""] {
            assert!(
                decode(Format::Xml, bad).is_err(),
                "{:?}",
                String::from_utf8_lossy(bad)
            );
        }
    }

    #[test]
    fn json_and_form_decode() {
        assert_eq!(
            decode(Format::Json, br#"{"a":[1,{"b":2}]}"#).unwrap(),
            json!({"a": [1, {"b": 2}]})
        );
        assert!(decode(Format::Json, b"{not json").is_err());
        let deep = format!("{}{}", "[".repeat(70), "]".repeat(70));
        assert!(decode(Format::Json, deep.as_bytes()).is_err());
        assert_eq!(
            decode(Format::Form, b"name=Ada+L&tag=a&tag=b&city=S%C3%A3o").unwrap(),
            json!({"name": "Ada L", "tag": ["a", "b"], "city": "São"})
        );
        assert!(decode(Format::Form, b"").is_err());
    }

    #[test]
    fn encodings_round_trip_through_their_decoders() {
        let v = json!({"event": "case:new", "data": {"caseId": "72", "contact": {"name": "Jhon <J&co>"},
                       "messages": [{"id": "1"}, {"id": "2"}]}});
        let xml = String::from_utf8(encode(Format::Xml, "webhook", &v)).unwrap();
        assert!(
            xml.contains("<contact><name>Jhon &lt;J&amp;co&gt;</name></contact>"),
            "{xml}"
        );
        let back = decode(Format::Xml, xml.as_bytes()).unwrap();
        assert_eq!(back["webhook"]["data"]["messages"][1]["id"], "2");
        assert_eq!(back["webhook"]["data"]["contact"]["name"], "Jhon <J&co>");

        let form = String::from_utf8(encode(Format::Form, "", &v)).unwrap();
        assert_eq!(
            form,
            "event=case%3Anew&data%5BcaseId%5D=72&data%5Bcontact%5D%5Bname%5D=Jhon+%3CJ%26co%3E\
             &data%5Bmessages%5D%5B0%5D%5Bid%5D=1&data%5Bmessages%5D%5B1%5D%5Bid%5D=2"
        );
        let flat = decode(Format::Form, form.as_bytes()).unwrap();
        assert_eq!(flat["data[contact][name]"], "Jhon <J&co>");

        let odd = encode(
            Format::Xml,
            "variables",
            &json!({"visitor.email": "a@b.c", "2nd": 1}),
        );
        assert_eq!(
            String::from_utf8(odd).unwrap(),
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?><variables><visitor.email>a@b.c</visitor.email>\
             <item key=\"2nd\">1</item></variables>"
        );
    }

    #[test]
    fn discovery_lists_every_leaf_path() {
        let v = json!({"customer": {"name": "Ada", "tags": ["vip", "early"]},
                       "orders": [{"id": 1, "items": [{"sku": "A"}]}], "empty": {}, "odd.key": 1, "n": null});
        assert_eq!(
            discover(&v),
            vec![
                "customer.name",
                "customer.tags[0]",
                "customer.tags[1]",
                "orders[0].id",
                "orders[0].items[0].sku",
                "empty",
                "n"
            ]
        );
        assert_eq!(discover(&json!([{"a": 1}])), vec!["[0].a"]);
        let many = json!((0..2000).collect::<Vec<_>>());
        assert_eq!(discover(&many).len(), MAX_DISCOVERED);
    }

    #[test]
    fn variables_take_each_path_or_null() {
        let data = json!({"order": {"status": "shipped", "items": [{"sku": "A1"}]}});
        let vars = variables(
            &data,
            &[
                "order.status".into(),
                "order.items[0].sku".into(),
                "order.eta".into(),
            ],
        );
        assert_eq!(
            Value::Object(vars),
            json!({"order.status": "shipped", "order.items[0].sku": "A1", "order.eta": null})
        );
    }
}
