//! Filling an inbound webhook's URL template with the conversation's variables.

use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};
use serde_json::Value;

use crate::formats::extract;
use crate::paths::VariablePath;

/// Everything but RFC 3986's unreserved characters is encoded, so a value can never add a path
/// segment, a query parameter or a fragment.
const COMPONENT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// A variable's value: a flat key (`"visitor.email": ...`) first, else the path through nested
/// objects (`{"visitor": {"email": ...}}`).
pub fn lookup<'a>(variables: &'a Value, name: &str) -> Option<&'a Value> {
    if let Some(v) = variables.as_object().and_then(|m| m.get(name)) {
        return Some(v);
    }
    VariablePath::parse(name)
        .ok()
        .and_then(|p| extract(variables, &p))
}

fn text(value: &Value) -> String {
    match value {
        Value::Null => String::new(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// The URL with each `{{name}}` replaced by its value, URL-encoded; unknown names become empty
/// and are listed (once each, in order) as missing.
pub fn render_url(template: &str, variables: &Value) -> (String, Vec<String>) {
    let mut out = String::with_capacity(template.len());
    let mut missing: Vec<String> = Vec::new();
    let mut rest = template;
    while let Some(start) = rest.find("{{") {
        let Some(end) = rest[start..].find("}}") else {
            break;
        };
        out.push_str(&rest[..start]);
        let name = rest[start + 2..start + end].trim();
        match lookup(variables, name) {
            Some(v) => out.extend(utf8_percent_encode(&text(v), COMPONENT)),
            None if !missing.iter().any(|m| m == name) => missing.push(name.to_string()),
            None => {}
        }
        rest = &rest[start + end + 2..];
    }
    out.push_str(rest);
    (out, missing)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn values_are_encoded_so_they_cannot_change_the_url_structure() {
        let vars =
            json!({"q": "a&b=c", "name": "Ada Lovelace", "city": "São Paulo/SP", "hash": "x#y?z"});
        let (url, missing) = render_url(
            "https://e.com/s/{{city}}?q={{q}}&n={{ name }}&h={{hash}}",
            &vars,
        );
        assert_eq!(
            url,
            "https://e.com/s/S%C3%A3o%20Paulo%2FSP?q=a%26b%3Dc&n=Ada%20Lovelace&h=x%23y%3Fz"
        );
        assert!(missing.is_empty());
    }

    #[test]
    fn flat_and_nested_names_and_missing_ones() {
        let vars = json!({"visitor.email": "a@b.c", "case": {"id": 72, "tags": ["x"]}, "flag": true, "none": null});
        let (url, missing) = render_url(
            "https://e.com/?e={{visitor.email}}&c={{case.id}}&t={{case.tags[0]}}&f={{flag}}&n={{none}}&m={{nope}}&m2={{nope}}",
            &vars,
        );
        assert_eq!(url, "https://e.com/?e=a%40b.c&c=72&t=x&f=true&n=&m=&m2=");
        assert_eq!(missing, vec!["nope"]);
    }
}
