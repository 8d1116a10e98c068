//! The API's request and response bodies, one Rust type each, apart from the stored records.
//!
//! The stored forms (`model::Webhook`, `model::Delivery`, ...) are what DynamoDB items and queue
//! messages hold; these types are what clients see and send. Each response type is built from
//! its record by `From`, so a field can be renamed on either side without touching the other
//! (tests/contract.rs shows both). The OpenAPI document (`crate::api::openapi`) derives its
//! schemas from these types.
//!
//! Request bodies are read by the hand-written parsers (`WebhookPatch::from_json`, ...), which
//! name the exact field of an error (`events[1]`, `security.password`); the request types here
//! describe what those parsers accept, and tests hold the two together (every documented
//! example deserialises into its type and is accepted by its parser; schemathesis sends
//! generated bodies of both kinds).

mod delivery;
mod error;
mod events;
mod inbound;
mod webhook;

pub use delivery::*;
pub use error::*;
pub use events::*;
pub use inbound::*;
pub use webhook::*;

/// `"2026-11-25T12:00:00Z"`: times are RFC 3339 in UTC.
pub(crate) mod rfc3339 {
    pub use time::serde::rfc3339::*;
}
