//! Reading requests and writing responses.

use lambda_http::http::HeaderMap;
use lambda_http::{Body, Request, RequestExt, Response};
use serde_json::Value;

use crate::error::ApiError;
use crate::MAX_BODY_BYTES;

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

pub fn json(status: u16, body: &Value) -> ResponseBuilder {
    ResponseBuilder {
        status,
        body: body.to_string(),
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
