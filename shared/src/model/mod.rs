//! The webhook model: what a webhook is, as stored and as shown by the API.
//!
//! `Webhook` is the stored form and holds credentials in full. The API never shows it as it is:
//! `api::types::WebhookOut` is how it does, with every credential masked.

pub mod attempt;
mod delivery;
mod input;
mod records;
mod security;
#[cfg(test)]
mod tests;

pub use attempt::Attempt;
pub use delivery::{delivery_id, is_delivery_id, Delivery, DeliveryStatus, EventRef};
pub use input::{
    reject_unknown, same_origin, SecurityInput, ValidationError, WebhookPatch, WebhookRules,
    DEFAULT_MAX_PER_ACCOUNT, RESERVED_HEADERS,
};
pub use records::{
    Claim, FirstRecord, Health, Kept, Lease, Mark, NoticeClaim, NoticeGrant, Subscriber,
};
pub use security::{mask, PreviousSecret, Security};

use serde::{Deserialize, Serialize};
use serde_json::Value;
use time::OffsetDateTime;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Flow {
    Inbound,
    Outbound,
}

impl Flow {
    pub fn as_str(self) -> &'static str {
        match self {
            Flow::Inbound => "inbound",
            Flow::Outbound => "outbound",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "inbound" => Some(Flow::Inbound),
            "outbound" => Some(Flow::Outbound),
            _ => None,
        }
    }
}

/// The body format of the requests we send (and, inbound, of the responses we parse).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub enum Format {
    #[serde(rename = "application/json")]
    Json,
    #[serde(rename = "application/xml")]
    Xml,
    #[serde(rename = "application/x-www-form-urlencoded")]
    Form,
}

impl Format {
    pub const ALL: [Format; 3] = [Format::Json, Format::Xml, Format::Form];

    pub fn mime(self) -> &'static str {
        match self {
            Format::Json => "application/json",
            Format::Xml => "application/xml",
            Format::Form => "application/x-www-form-urlencoded",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|f| f.mime() == s)
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Active,
    Inactive,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Active => "active",
            Status::Inactive => "inactive",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "active" => Some(Status::Active),
            "inactive" => Some(Status::Inactive),
            _ => None,
        }
    }
}

/// The events an outbound webhook can subscribe to (the chat product's case and agent events).
#[derive(
    Clone,
    Copy,
    Debug,
    PartialEq,
    Eq,
    Hash,
    PartialOrd,
    Ord,
    Serialize,
    Deserialize,
    utoipa::ToSchema,
)]
pub enum EventType {
    #[serde(rename = "case:new")]
    CaseNew,
    #[serde(rename = "case:status:pending")]
    CaseStatusPending,
    #[serde(rename = "case:status:active")]
    CaseStatusActive,
    #[serde(rename = "case:status:queue")]
    CaseStatusQueue,
    #[serde(rename = "case:status:closed")]
    CaseStatusClosed,
    #[serde(rename = "case:message:new")]
    CaseMessageNew,
    #[serde(rename = "agent:status")]
    AgentStatus,
}

impl EventType {
    pub const ALL: [EventType; 7] = [
        EventType::CaseNew,
        EventType::CaseStatusPending,
        EventType::CaseStatusActive,
        EventType::CaseStatusQueue,
        EventType::CaseStatusClosed,
        EventType::CaseMessageNew,
        EventType::AgentStatus,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            EventType::CaseNew => "case:new",
            EventType::CaseStatusPending => "case:status:pending",
            EventType::CaseStatusActive => "case:status:active",
            EventType::CaseStatusQueue => "case:status:queue",
            EventType::CaseStatusClosed => "case:status:closed",
            EventType::CaseMessageNew => "case:message:new",
            EventType::AgentStatus => "agent:status",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|e| e.as_str() == s)
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub enum Method {
    #[serde(rename = "GET")]
    Get,
    #[serde(rename = "POST")]
    Post,
}

/// Settings that exist only for inbound webhooks (the chat pulls data through them).
#[derive(Clone, Debug, PartialEq)]
pub struct InboundConfig {
    pub method: Method,
    /// Variable paths such as `customer.name` or `orders[0].id`.
    pub variables: Vec<String>,
    /// What the chat gets when the URL does not answer validly.
    pub fallback_response: Value,
    pub timeout_ms: u32,
}

/// Settings that exist only for outbound webhooks (we push events to them).
#[derive(Clone, Debug, PartialEq)]
pub struct OutboundConfig {
    pub events: Vec<EventType>,
    pub timeout_ms: u32,
}

/// The flow together with the settings only that flow has, so a webhook cannot hold the other
/// flow's fields.
#[derive(Clone, Debug, PartialEq)]
pub enum FlowConfig {
    Inbound(InboundConfig),
    Outbound(OutboundConfig),
}

impl FlowConfig {
    pub fn flow(&self) -> Flow {
        match self {
            FlowConfig::Inbound(_) => Flow::Inbound,
            FlowConfig::Outbound(_) => Flow::Outbound,
        }
    }
}

/// A webhook as stored, credentials included.
#[derive(Clone, Debug, PartialEq)]
pub struct Webhook {
    pub id: String,
    pub account_id: String,
    pub name: String,
    pub format: Format,
    pub status: Status,
    pub url: String,
    pub notification_email: String,
    pub security: Security,
    pub config: FlowConfig,
    pub created_at: OffsetDateTime,
    pub updated_at: OffsetDateTime,
    /// Bumped by every write; updates are conditional on it (optimistic concurrency).
    pub version: u64,
}

impl Webhook {
    pub fn flow(&self) -> Flow {
        self.config.flow()
    }

    /// The events this webhook is delivered, or none for inbound webhooks.
    pub fn events(&self) -> &[EventType] {
        match &self.config {
            FlowConfig::Outbound(o) => &o.events,
            FlowConfig::Inbound(_) => &[],
        }
    }

    /// The events for which the subscription index must hold this webhook: those of an active
    /// outbound webhook, nothing otherwise.
    pub fn indexed_events(&self) -> &[EventType] {
        if self.status == Status::Active {
            self.events()
        } else {
            &[]
        }
    }
}
