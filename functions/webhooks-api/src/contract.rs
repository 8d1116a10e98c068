//! The contract's public operations: the OpenAPI document and the event-type catalogue. Both
//! need no key and are the same for every caller, so they are built once per container.

use std::sync::OnceLock;

use hookline::api::request::json;
use hookline::api::types::EventTypeList;
use lambda_http::{Body, Response};

/// Both change only with a release: clients and browsers may keep them a while.
const CACHE_CONTROL: &str = "public, max-age=300";

/// `GET /api/v1/openapi.json`.
pub fn document() -> Response<Body> {
    static DOCUMENT: OnceLock<serde_json::Value> = OnceLock::new();
    let document = DOCUMENT.get_or_init(hookline::api::openapi::document);
    json(200, document)
        .header("cache-control", CACHE_CONTROL)
        .build()
}

/// `GET /api/v1/event-types`.
pub fn event_types() -> Response<Body> {
    json(200, &EventTypeList::catalogue())
        .header("cache-control", CACHE_CONTROL)
        .build()
}
