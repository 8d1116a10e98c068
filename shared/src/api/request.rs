//! Reading requests and writing responses.

use lambda_http::http::HeaderMap;
use lambda_http::{Body, Request, RequestExt, Response};
use serde_json::{Map, Value};

use crate::api::ApiError;
use crate::api::MAX_BODY_BYTES;

/// The JSON body, or `None` when empty. Over 256 KiB is a 413 before any parsing.
pub fn json_body(req: &Request) -> Result<Option<Value>, ApiError> {
    let bytes: &[u8] = match req.body() {
        Body::Empty => return Ok(None),
        Body::Text(t) => t.as_bytes(),
        Body::Binary(b) => b,
        _ => return Ok(None),
    };
    if bytes.len() > MAX_BODY_BYTES {
        return Err(ApiError::PayloadTooLarge(MAX_BODY_BYTES));
    }
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Ok(None);
    }
    serde_json::from_slice(bytes)
        .map(Some)
        .map_err(|e| ApiError::invalid("body", format!("is not valid JSON: {e}")))
}

/// Query parameters, refusing any not in `known` by name.
pub fn query(req: &Request, known: &[&str]) -> Result<Vec<(String, String)>, ApiError> {
    let params = req.query_string_parameters();
    let mut out = Vec::new();
    for (key, value) in params.iter() {
        if key.is_empty() {
            // An empty name cannot name itself: the query is named instead.
            return Err(ApiError::invalid(
                "query",
                "has a parameter with an empty name, which this endpoint does not take",
            ));
        }
        if !known.contains(&key) {
            return Err(ApiError::invalid(
                key,
                "is not a query parameter of this endpoint",
            ));
        }
        out.push((key.to_string(), value.to_string()));
    }
    Ok(out)
}

/// `If-Match: 3`, `"3"` or `W/"3"` → 3.
pub fn if_match(headers: &HeaderMap) -> Result<Option<u64>, ApiError> {
    let Some(value) = headers.get("if-match") else {
        return Ok(None);
    };
    let text = value.to_str().unwrap_or("").trim();
    let text = text.strip_prefix("W/").unwrap_or(text).trim_matches('"');
    text.parse()
        .map(Some)
        .map_err(|_| ApiError::invalid("If-Match", "must be the webhook's version, e.g. \"3\""))
}

/// A JSON response of one of the API's types (`api::types`).
pub fn json<T: serde::Serialize + ?Sized>(status: u16, body: &T) -> ResponseBuilder {
    ResponseBuilder {
        status,
        body: serde_json::to_string(body).expect("API types serialise"),
        headers: vec![("content-type", "application/json".into())],
    }
}

pub fn no_content() -> Response<Body> {
    Response::builder()
        .status(204)
        .body(Body::Empty)
        .expect("a bare 204 is valid")
}

pub struct ResponseBuilder {
    status: u16,
    body: String,
    headers: Vec<(&'static str, String)>,
}

impl ResponseBuilder {
    pub fn header(mut self, name: &'static str, value: impl Into<String>) -> Self {
        self.headers.push((name, value.into()));
        self
    }

    pub fn build(self) -> Response<Body> {
        let mut builder = Response::builder().status(self.status);
        for (name, value) in self.headers {
            builder = builder.header(name, value);
        }
        builder
            .body(Body::Text(self.body))
            .expect("headers we set are valid")
    }
}

/// `{"variables": {...}}` (the body of resolve and test): the variables object, or an empty one
/// when the body is empty.
pub fn variables_body(req: &Request) -> Result<Value, ApiError> {
    let map = object_body(req, &["variables"])?;
    Ok(variables_field(&map)?.unwrap_or_else(|| Value::Object(Default::default())))
}

/// The body as a JSON object with only the `known` fields (empty when there is no body).
pub fn object_body(req: &Request, known: &[&str]) -> Result<Map<String, Value>, ApiError> {
    match json_body(req)? {
        None => Ok(Map::new()),
        Some(Value::Object(map)) => {
            crate::model::reject_unknown(&map, known)?;
            Ok(map)
        }
        Some(_) => Err(ApiError::invalid("body", "must be a JSON object")),
    }
}

/// The `variables` object of a body, if one was sent.
pub fn variables_field(map: &Map<String, Value>) -> Result<Option<Value>, ApiError> {
    match map.get("variables") {
        None | Some(Value::Null) => Ok(None),
        Some(v @ Value::Object(_)) => Ok(Some(v.clone())),
        Some(_) => Err(ApiError::invalid(
            "variables",
            "must be an object of names to values",
        )),
    }
}

/// `limit` from the query: 1 to `max`, `default` when absent.
pub fn page_limit(value: Option<&str>, default: usize, max: usize) -> Result<usize, ApiError> {
    match value {
        None => Ok(default),
        Some(v) => v
            .parse()
            .ok()
            .filter(|n| (1..=max).contains(n))
            .ok_or_else(|| ApiError::invalid("limit", format!("must be a number from 1 to {max}"))),
    }
}

/// A page's cursor: the id of its last item, where the next page starts after. Clients pass it
/// back as they got it; its pattern is in the OpenAPI document.
pub fn encode_cursor(last_id: &str) -> String {
    last_id.to_string()
}

/// The id a cursor names, if it is one `valid` accepts. Cursors given before they were plain
/// ids (base64url of the id) still work, so a page a client was in the middle of goes on.
pub fn decode_cursor(cursor: &str, valid: fn(&str) -> bool) -> Result<String, ApiError> {
    use base64::Engine;
    let legacy = || {
        base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(cursor)
            .ok()
            .and_then(|bytes| String::from_utf8(bytes).ok())
            .filter(|id| valid(id))
    };
    if valid(cursor) {
        Ok(cursor.to_string())
    } else if let Some(id) = legacy() {
        Ok(id)
    } else {
        Err(ApiError::invalid(
            "cursor",
            "is not a cursor from a previous page",
        ))
    }
}
