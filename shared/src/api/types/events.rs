//! Publishing events, and the catalogue of event types.

use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;

use crate::model::EventType;

/// The body of `POST /events`.
#[derive(Clone, Debug, PartialEq, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PublishIn {
    /// The idempotency key: an id published before delivers nothing new. Made (`evt_` and a
    /// ULID) when left out.
    #[schema(example = "evt_crm-42")]
    pub id: Option<String>,
    pub event: EventType,
    /// The API key's account; may be left out, and must match when sent.
    pub account_id: Option<String>,
    /// When it happened; defaults to now.
    #[schema(format = DateTime)]
    pub occurred_at: Option<String>,
    /// The event's data, at most 64 KiB: checked against its type's schema
    /// (`GET /event-types`); fields the schema does not name pass through.
    #[schema(value_type = Object)]
    pub data: Value,
}

/// A published event's id.
#[derive(Clone, Debug, PartialEq, Serialize, ToSchema)]
pub struct PublishOut {
    #[schema(example = "evt_01JD9W3T1Q2B8V6A0S7K4N5M8P")]
    pub id: String,
}

/// One event type of the catalogue.
#[derive(Clone, Debug, PartialEq, Serialize, ToSchema)]
pub struct EventTypeOut {
    #[schema(example = "case:status:closed")]
    pub name: EventType,
    /// A short label, for lists.
    pub title: String,
    pub summary: String,
    pub description: String,
    /// The JSON Schema (2020-12) its `data` is checked against; other properties pass.
    #[schema(value_type = Object)]
    pub schema: Value,
    /// A `data` of this type.
    #[schema(value_type = Object)]
    pub example: Value,
}

impl From<crate::catalogue::EventTypeDoc> for EventTypeOut {
    fn from(doc: crate::catalogue::EventTypeDoc) -> Self {
        EventTypeOut {
            name: doc.event,
            title: doc.title.into(),
            summary: doc.summary.into(),
            description: doc.description.into(),
            schema: doc.schema,
            example: doc.example,
        }
    }
}

/// The event types outbound webhooks can subscribe to.
#[derive(Clone, Debug, PartialEq, Serialize, ToSchema)]
pub struct EventTypeList {
    pub data: Vec<EventTypeOut>,
}

impl EventTypeList {
    pub fn catalogue() -> Self {
        EventTypeList {
            data: crate::catalogue::all()
                .into_iter()
                .map(EventTypeOut::from)
                .collect(),
        }
    }
}
