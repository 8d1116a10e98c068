//! Outbound deliveries: the delivery log, resends, recovery and test events.

use serde::{Deserialize, Serialize};
use serde_json::Value;
use time::OffsetDateTime;
use utoipa::ToSchema;

use crate::model::{Attempt, Delivery, DeliveryStatus, EventType};

/// One call of a receiver.
#[derive(Clone, Debug, PartialEq, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AttemptOut {
    #[serde(with = "super::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub at: OffsetDateTime,
    /// The receiver's HTTP status; `null` when none came (timeout, refused connection, ...).
    #[schema(required = true, minimum = 100, maximum = 599)]
    pub status: Option<u16>,
    /// Why the attempt failed, when it did.
    #[schema(required = true)]
    pub error: Option<String>,
    pub duration_ms: u64,
    /// The start of the receiver's answer (2 KiB of a failure, 256 bytes of a success). Left
    /// out in lists.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub response_body: Option<String>,
    /// Sent by a manual resend (`.../retry`, `.../recover`); left out when not.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub manual: bool,
}

impl AttemptOut {
    pub fn new(a: &Attempt) -> Self {
        AttemptOut {
            at: a.at,
            status: a.status,
            error: a.error.clone(),
            duration_ms: a.duration_ms,
            response_body: a.response_body.clone(),
            manual: a.manual,
        }
    }

    /// As a list shows it: without the receiver's answer.
    fn summary(a: &Attempt) -> Self {
        AttemptOut {
            response_body: None,
            ..Self::new(a)
        }
    }
}

/// The event a delivery carries.
#[derive(Clone, Debug, PartialEq, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct DeliveryEventOut {
    pub id: String,
    pub event: EventType,
    #[serde(with = "super::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub occurred_at: OffsetDateTime,
    /// The event's data: in a single delivery's read, where it is kept (a delivery that
    /// succeeded at its first try keeps none); never in lists.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub data: Option<Value>,
}

/// One event's delivery to one webhook, with its attempts.
#[derive(Clone, Debug, PartialEq, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct DeliveryOut {
    /// `dlv_` and a ULID; receivers get it as `webhook-id`.
    #[schema(example = "dlv_01JD9W3T1Q2B8V6A0S7K4N5M8P")]
    pub id: String,
    pub webhook_id: String,
    pub event: DeliveryEventOut,
    pub status: DeliveryStatus,
    /// Oldest first.
    pub attempts: Vec<AttemptOut>,
    /// When the next automatic attempt is due; `null` when none is.
    #[serde(with = "super::rfc3339::option")]
    #[schema(value_type = Option<String>, format = DateTime, required = true)]
    pub next_attempt_at: Option<OffsetDateTime>,
    #[serde(with = "super::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub created_at: OffsetDateTime,
    pub attempt_count: usize,
}

impl DeliveryOut {
    /// A single delivery's read: the data where the record holds it, and every answer.
    pub fn detail(d: &Delivery) -> Self {
        Self::build(
            d,
            AttemptOut::new,
            d.legacy_data.as_ref().map(|e| e.to_value()),
        )
    }

    /// As a list shows it: no data, no answers.
    pub fn summary(d: &Delivery) -> Self {
        Self::build(d, AttemptOut::summary, None)
    }

    fn build(d: &Delivery, attempt: fn(&Attempt) -> AttemptOut, data: Option<Value>) -> Self {
        DeliveryOut {
            id: d.id.clone(),
            webhook_id: d.webhook_id.clone(),
            event: DeliveryEventOut {
                id: d.event.id.clone(),
                event: d.event.event,
                occurred_at: d.event.occurred_at,
                data,
            },
            status: d.status,
            attempts: d.attempts.iter().map(attempt).collect(),
            next_attempt_at: d.next_attempt_at,
            created_at: d.created_at,
            attempt_count: d.attempts.len(),
        }
    }
}

/// One page of deliveries, newest event first.
#[derive(Clone, Debug, PartialEq, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct DeliveryPage {
    pub data: Vec<DeliveryOut>,
    /// Pass as `cursor` for the next page; `null` on the last.
    #[schema(required = true)]
    pub next_cursor: Option<String>,
}

/// The answer of a manual resend: its attempt and the delivery after it.
#[derive(Clone, Debug, PartialEq, Serialize, ToSchema)]
pub struct RetryOut {
    pub attempt: AttemptOut,
    pub delivery: DeliveryOut,
}

/// The body of `POST /webhook/{id}/recover`.
#[derive(Clone, Debug, PartialEq, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RecoverIn {
    /// Failed deliveries of events since then get one more attempt (14 days back at most: an
    /// earlier time means all of them).
    #[schema(format = DateTime, example = "2026-11-25T12:00:00Z")]
    pub since: String,
}

/// How many deliveries `recover` queued.
#[derive(Clone, Debug, PartialEq, Serialize, ToSchema)]
pub struct RecoverOut {
    pub queued: usize,
}

/// The answer of an outbound webhook's test: one signed sample event, recorded nowhere.
/// Closed (`additionalProperties: false`) so that it and an inbound test's answer, which has
/// more fields, are told apart.
#[derive(Clone, Debug, PartialEq, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct OutboundTestOut {
    /// The receiver answered 2xx.
    pub ok: bool,
    pub attempt: AttemptOut,
}
