//! Filling an inbound webhook's URL template with the conversation's variables.

use std::ops::Range;

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
/// and are listed (once each, in order) as missing. So does a value a URL cannot carry: one that
/// would make a `.` or `..` path segment, which URL parsing removes, moving the call up the path
/// (`/orders/{{id}}/status` with id `..` would call `/status`).
pub fn render_url(template: &str, variables: &Value) -> (String, Vec<String>) {
    let mut refused: Vec<&str> = Vec::new();
    loop {
        let rendering = fill(template, variables, &refused);
        let dots = dot_segments(&rendering.url);
        let before = refused.len();
        for (range, name) in rendering.values {
            let in_dots = dots
                .iter()
                .any(|d| d.start <= range.start && range.end <= d.end);
            if in_dots && !range.is_empty() && !refused.contains(&name) {
                refused.push(name);
            }
        }
        // Leaving a value out can turn another segment into dots, hence the next round.
        if refused.len() == before {
            return (rendering.url, rendering.missing);
        }
    }
}

struct Rendering<'t> {
    url: String,
    missing: Vec<String>,
    /// The bytes of `url` each value took, and its name.
    values: Vec<(Range<usize>, &'t str)>,
}

/// One rendering with the `refused` names left out.
fn fill<'t>(template: &'t str, variables: &Value, refused: &[&str]) -> Rendering<'t> {
    let mut out = String::with_capacity(template.len());
    let mut missing: Vec<String> = Vec::new();
    let mut values = Vec::new();
    let mut rest = template;
    while let Some(start) = rest.find("{{") {
        let Some(end) = rest[start..].find("}}") else {
            break;
        };
        out.push_str(&rest[..start]);
        let name = rest[start + 2..start + end].trim();
        match lookup(variables, name).filter(|_| !refused.contains(&name)) {
            Some(v) => {
                let at = out.len();
                out.extend(utf8_percent_encode(&text(v), COMPONENT));
                values.push((at..out.len(), name));
            }
            None if !missing.iter().any(|m| m == name) => missing.push(name.to_string()),
            None => {}
        }
        rest = &rest[start + end + 2..];
    }
    out.push_str(rest);
    Rendering {
        url: out,
        missing,
        values,
    }
}

/// Where `url`'s path has a `.` or `..` segment (also spelt `%2e`, as URL parsing reads it).
fn dot_segments(url: &str) -> Vec<Range<usize>> {
    let Some(authority) = url.find("://").map(|i| i + 3) else {
        return Vec::new();
    };
    // The path runs from the first `/` after the host to `?` or `#`.
    let Some(start) = url[authority..]
        .find(['/', '?', '#'])
        .map(|i| authority + i)
        .filter(|&i| url[i..].starts_with('/'))
    else {
        return Vec::new();
    };
    let end = url[start..]
        .find(['?', '#'])
        .map_or(url.len(), |i| start + i);
    let mut dots = Vec::new();
    let mut at = start + 1;
    for segment in url[start + 1..end].split('/') {
        let plain = segment.to_ascii_lowercase().replace("%2e", ".");
        if plain == "." || plain == ".." {
            dots.push(at..at + segment.len());
        }
        at += segment.len() + 1;
    }
    dots
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

    #[test]
    fn values_that_would_be_dot_segments_are_left_out() {
        let vars = json!({"id": "..", "dot": ".", "ok": "v1.2", "empty": ""});
        let (url, missing) = render_url(
            "https://e.com/orders/{{id}}/status?id={{id}}&v={{ok}}",
            &vars,
        );
        assert_eq!(url, "https://e.com/orders//status?id=&v=v1.2");
        assert_eq!(missing, vec!["id"]);
        // Together they would make `..`; a value with more than dots is no dot segment.
        let (url, missing) = render_url("https://e.com/a/{{dot}}{{dot}}/{{ok}}{{empty}}", &vars);
        assert_eq!(url, "https://e.com/a//v1.2");
        assert_eq!(missing, vec!["dot"]);
        let (url, missing) = render_url("https://e.com/a/{{dot}}{{ok}}?x=.", &vars);
        assert_eq!(url, "https://e.com/a/.v1.2?x=.");
        assert!(missing.is_empty());
    }
}
