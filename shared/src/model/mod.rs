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
    DEFAULT_MAX_PER_ACCOUNT,
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
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct InboundConfig {
    pub method: Method,
    /// Variable paths such as `customer.name` or `orders[0].id`.
    pub variables: Vec<String>,
    /// What the chat gets when the URL does not answer validly.
    pub fallback_response: Value,
    pub timeout_ms: u32,
}

/// Settings that exist only for outbound webhooks (we push events to them).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OutboundConfig {
    pub events: Vec<EventType>,
    pub timeout_ms: u32,
}

/// The flow together with the settings only that flow has, so a webhook cannot hold the other
/// flow's fields. Serialised as `"flow": "inbound"` beside those fields.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "flow", rename_all = "lowercase")]
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
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", try_from = "WebhookFields")]
pub struct Webhook {
    pub id: String,
    pub account_id: String,
    pub name: String,
    pub format: Format,
    pub status: Status,
    pub url: String,
    pub notification_email: String,
    pub security: Security,
    #[serde(flatten)]
    pub config: FlowConfig,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: OffsetDateTime,
    /// Bumped by every write; updates are conditional on it (optimistic concurrency).
    pub version: u64,
}

/// A webhook's JSON as `Webhook` writes it, read in one pass. Derived, `Webhook`'s flattened,
/// internally tagged `config` made serde buffer the whole object before reading it, once per
/// delivery message (about a tenth of a delivery's CPU in the throughput bench).
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct WebhookFields {
    id: String,
    account_id: String,
    name: String,
    format: Format,
    status: Status,
    url: String,
    notification_email: String,
    security: Security,
    flow: Flow,
    timeout_ms: u32,
    // Inbound only.
    method: Option<Method>,
    variables: Option<Vec<String>>,
    #[serde(default)]
    fallback_response: Value,
    // Outbound only.
    events: Option<Vec<EventType>>,
    #[serde(with = "time::serde::rfc3339")]
    created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    updated_at: OffsetDateTime,
    version: u64,
}

impl TryFrom<WebhookFields> for Webhook {
    type Error = String;

    fn try_from(f: WebhookFields) -> Result<Self, String> {
        let missing =
            |field: &str| format!("missing field `{field}` of a {} webhook", f.flow.as_str());
        let config = match f.flow {
            Flow::Inbound => FlowConfig::Inbound(InboundConfig {
                method: f.method.ok_or_else(|| missing("method"))?,
                variables: f.variables.ok_or_else(|| missing("variables"))?,
                fallback_response: f.fallback_response,
                timeout_ms: f.timeout_ms,
            }),
            Flow::Outbound => FlowConfig::Outbound(OutboundConfig {
                events: f.events.ok_or_else(|| missing("events"))?,
                timeout_ms: f.timeout_ms,
            }),
        };
        Ok(Webhook {
            id: f.id,
            account_id: f.account_id,
            name: f.name,
            format: f.format,
            status: f.status,
            url: f.url,
            notification_email: f.notification_email,
            security: f.security,
            config,
            created_at: f.created_at,
            updated_at: f.updated_at,
            version: f.version,
        })
    }
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
