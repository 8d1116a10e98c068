//! One event's delivery to one outbound webhook, across all its attempts.

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use time::OffsetDateTime;

use super::Attempt;
use crate::events::Event;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum DeliveryStatus {
    /// Not yet delivered; another attempt is due at `next_attempt_at`.
    Pending,
    Succeeded,
    /// Retries exhausted, the receiver said 410 Gone, or the webhook stopped being active.
    Failed,
}

impl DeliveryStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            DeliveryStatus::Pending => "pending",
            DeliveryStatus::Succeeded => "succeeded",
            DeliveryStatus::Failed => "failed",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [
            DeliveryStatus::Pending,
            DeliveryStatus::Succeeded,
            DeliveryStatus::Failed,
        ]
        .into_iter()
        .find(|d| d.as_str() == s)
    }
}

/// Which event a delivery carries: its id, type and time, without its data. A delivery record
/// keeps only this (the data travels in the delivery's messages, and is stored once per event
/// when a delivery of it fails; see docs/delivery-pipeline.md).
#[derive(Clone, Debug, PartialEq)]
pub struct EventRef {
    pub id: String,
    pub event: crate::model::EventType,
    pub occurred_at: OffsetDateTime,
}

impl From<&Event> for EventRef {
    fn from(event: &Event) -> Self {
        EventRef {
            id: event.id.clone(),
            event: event.event,
            occurred_at: event.occurred_at,
        }
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct Delivery {
    /// Deterministic: the same event and webhook always give the same id (see `delivery_id`).
    /// Receivers see it as `webhook-id`, stable across retries.
    pub id: String,
    pub account_id: String,
    pub webhook_id: String,
    pub event: EventRef,
    /// The event's data, in records written before v2 (which kept a copy of it): their
    /// retries and resends read it from here.
    pub legacy_data: Option<crate::events::EventData>,
    pub status: DeliveryStatus,
    pub attempts: Vec<Attempt>,
    pub next_attempt_at: Option<OffsetDateTime>,
    pub created_at: OffsetDateTime,
}

/// `dlv_` + a ULID whose time part is the event's time and whose random part is a hash of the
/// event id and webhook id: the same pair always gives the same id (redelivered or republished
/// events collide and deliver once), and ids still sort by event time for the log.
impl Delivery {
    /// A new delivery of `event` to `webhook_id`, pending, with no attempt yet. `keep_data`:
    /// the record holds the event's data (the v1 engine's records do).
    pub fn new(event: &Event, webhook_id: &str, now: OffsetDateTime, keep_data: bool) -> Self {
        Self::with_id(
            delivery_id(event, webhook_id),
            event,
            webhook_id,
            now,
            keep_data,
        )
    }

    /// `new` with the id its message already carries (not hashed again).
    pub fn with_id(
        id: String,
        event: &Event,
        webhook_id: &str,
        now: OffsetDateTime,
        keep_data: bool,
    ) -> Self {
        Delivery {
            id,
            account_id: event.account_id.clone(),
            webhook_id: webhook_id.to_string(),
            event: EventRef::from(event),
            legacy_data: keep_data.then(|| event.data.clone()),
            status: DeliveryStatus::Pending,
            attempts: Vec::new(),
            next_attempt_at: None,
            created_at: now,
        }
    }

    /// The whole event, when this record holds its data.
    pub fn stored_event(&self) -> Option<Event> {
        self.legacy_data.as_ref().map(|data| Event {
            id: self.event.id.clone(),
            event: self.event.event,
            account_id: self.account_id.clone(),
            occurred_at: self.event.occurred_at,
            data: data.clone(),
        })
    }
}

pub fn delivery_id(event: &Event, webhook_id: &str) -> String {
    let digest = Sha256::new()
        .chain_update(event.account_id.as_bytes())
        .chain_update([0])
        .chain_update(event.id.as_bytes())
        .chain_update([0])
        .chain_update(webhook_id.as_bytes())
        .finalize();
    let mut random = [0u8; 16];
    random[6..].copy_from_slice(&digest[..10]);
    let millis =
        (event.occurred_at.unix_timestamp_nanos() / 1_000_000).clamp(0, (1 << 48) - 1) as u128;
    format!(
        "dlv_{}",
        crate::ids::encode_ulid(millis, u128::from_be_bytes(random))
    )
}

pub fn is_delivery_id(s: &str) -> bool {
    s.strip_prefix("dlv_").is_some_and(crate::ids::is_ulid)
}
