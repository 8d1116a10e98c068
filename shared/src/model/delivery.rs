//! One event's delivery to one outbound webhook, across all its attempts.

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use time::OffsetDateTime;

use super::Attempt;
use crate::events::Event;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
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

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Delivery {
    /// Deterministic: the same event and webhook always give the same id (see `delivery_id`).
    /// Receivers see it as `webhook-id`, stable across retries.
    pub id: String,
    pub account_id: String,
    pub webhook_id: String,
    pub event: Event,
    pub status: DeliveryStatus,
    pub attempts: Vec<Attempt>,
    #[serde(default, with = "time::serde::rfc3339::option")]
    pub next_attempt_at: Option<OffsetDateTime>,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
}

/// `dlv_` + a ULID whose time part is the event's time and whose random part is a hash of the
/// event id and webhook id: the same pair always gives the same id (redelivered or republished
/// events collide and deliver once), and ids still sort by event time for the log.
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
