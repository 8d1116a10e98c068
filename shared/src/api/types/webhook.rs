//! Webhooks: what create and update accept, and what reads answer.

use serde::{Deserialize, Serialize};
use serde_json::Value;
use time::OffsetDateTime;
use utoipa::ToSchema;

use crate::model::{mask, EventType, FlowConfig, Format, Method, Security, Status, Webhook};

/// `"inbound"`, in an inbound webhook's `flow`.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum InboundFlow {
    Inbound,
}

/// `"outbound"`, in an outbound webhook's `flow`.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum OutboundFlow {
    Outbound,
}

/// A webhook, inbound or outbound (`flow` tells which).
#[derive(Clone, Debug, PartialEq, Serialize, ToSchema)]
#[serde(untagged)]
pub enum WebhookOut {
    Inbound(InboundWebhookOut),
    Outbound(OutboundWebhookOut),
}

/// An inbound webhook: the chat pulls data through it (`POST /webhook/{id}/resolve`).
#[derive(Clone, Debug, PartialEq, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct InboundWebhookOut {
    /// `wh_` and a ULID.
    #[schema(example = "wh_01JD9W3T1Q2B8V6A0S7K4N5M8P")]
    pub id: String,
    pub name: String,
    pub format: Format,
    pub status: Status,
    /// May carry `{{variable}}` placeholders in its path and query.
    pub url: String,
    /// Where failure e-mails go.
    pub notification_email: String,
    pub security: SecurityOut,
    pub flow: InboundFlow,
    pub method: Method,
    /// Variable paths (`customer.name`, `orders[0].id`) read from the answer.
    pub variables: Vec<String>,
    /// What the chat gets when the URL gives no valid answer.
    pub fallback_response: Value,
    /// How long each call may take.
    #[schema(minimum = 100, maximum = 10000)]
    pub timeout_ms: u32,
    #[serde(with = "super::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub created_at: OffsetDateTime,
    #[serde(with = "super::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub updated_at: OffsetDateTime,
    /// Bumped by every change; also the `ETag`. Send it back (`If-Match` or `version`) to
    /// update only the version you read.
    #[schema(minimum = 1)]
    pub version: u64,
}

/// An outbound webhook: it receives signed case and agent events.
#[derive(Clone, Debug, PartialEq, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct OutboundWebhookOut {
    /// `wh_` and a ULID.
    #[schema(example = "wh_01JD9W3T1Q2B8V6A0S7K4N5M8P")]
    pub id: String,
    pub name: String,
    pub format: Format,
    pub status: Status,
    pub url: String,
    /// Where failure e-mails go.
    pub notification_email: String,
    pub security: SecurityOut,
    pub flow: OutboundFlow,
    /// The events it is sent.
    pub events: Vec<EventType>,
    /// How long each delivery attempt may take.
    #[schema(minimum = 1000, maximum = 30000)]
    pub timeout_ms: u32,
    #[serde(with = "super::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub created_at: OffsetDateTime,
    #[serde(with = "super::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub updated_at: OffsetDateTime,
    /// Bumped by every change; also the `ETag`.
    #[schema(minimum = 1)]
    pub version: u64,
}

/// How Hookline authenticates itself to the URL. Credentials are masked (`whsec_****abcd`,
/// `********`) in every answer, except the HMAC secret in the answers of create and
/// rotate-secret, the one time it is shown in full.
#[derive(Clone, Debug, PartialEq, Serialize, ToSchema)]
#[serde(tag = "type", rename_all = "lowercase")]
pub enum SecurityOut {
    /// No credentials.
    None,
    /// Requests are signed (Standard Webhooks `webhook-signature`, and `x-acquire-signature`).
    Hmac {
        secret: String,
        /// Until when the secret rotated out last still signs beside this one.
        #[serde(
            rename = "previousSecretExpiresAt",
            skip_serializing_if = "Option::is_none",
            with = "super::rfc3339::option"
        )]
        #[schema(value_type = Option<String>, format = DateTime)]
        previous_secret_expires_at: Option<OffsetDateTime>,
    },
    /// HTTP basic authentication.
    Basic { username: String, password: String },
    /// `Authorization: Bearer <token>`.
    Bearer { token: String },
    /// A header of your choosing.
    Header { name: String, value: String },
}

impl SecurityOut {
    /// Every credential masked: reads and lists.
    pub fn masked(security: &Security) -> Self {
        match security {
            Security::None => SecurityOut::None,
            Security::Hmac { secret, previous } => SecurityOut::Hmac {
                secret: mask(secret),
                previous_secret_expires_at: previous.iter().map(|p| p.expires_at).max(),
            },
            Security::Basic { username, password } => SecurityOut::Basic {
                username: username.clone(),
                password: mask(password),
            },
            Security::Bearer { token } => SecurityOut::Bearer { token: mask(token) },
            Security::Header { name, value } => SecurityOut::Header {
                name: name.clone(),
                value: mask(value),
            },
        }
    }

    /// The HMAC secret in full (create and rotate-secret answers); other credentials stay
    /// masked, the user typed them.
    pub fn revealed(security: &Security) -> Self {
        match (Self::masked(security), security) {
            (
                SecurityOut::Hmac {
                    previous_secret_expires_at,
                    ..
                },
                Security::Hmac { secret, .. },
            ) => SecurityOut::Hmac {
                secret: secret.clone(),
                previous_secret_expires_at,
            },
            (masked, _) => masked,
        }
    }
}

impl WebhookOut {
    /// Reads and lists: every credential masked.
    pub fn masked(webhook: &Webhook) -> Self {
        Self::with_security(webhook, SecurityOut::masked(&webhook.security))
    }

    /// Create and rotate-secret answers: the HMAC secret in full.
    pub fn revealed(webhook: &Webhook) -> Self {
        Self::with_security(webhook, SecurityOut::revealed(&webhook.security))
    }

    fn with_security(w: &Webhook, security: SecurityOut) -> Self {
        match &w.config {
            FlowConfig::Inbound(c) => WebhookOut::Inbound(InboundWebhookOut {
                id: w.id.clone(),
                name: w.name.clone(),
                format: w.format,
                status: w.status,
                url: w.url.clone(),
                notification_email: w.notification_email.clone(),
                security,
                flow: InboundFlow::Inbound,
                method: c.method,
                variables: c.variables.clone(),
                fallback_response: c.fallback_response.clone(),
                timeout_ms: c.timeout_ms,
                created_at: w.created_at,
                updated_at: w.updated_at,
                version: w.version,
            }),
            FlowConfig::Outbound(c) => WebhookOut::Outbound(OutboundWebhookOut {
                id: w.id.clone(),
                name: w.name.clone(),
                format: w.format,
                status: w.status,
                url: w.url.clone(),
                notification_email: w.notification_email.clone(),
                security,
                flow: OutboundFlow::Outbound,
                events: c.events.clone(),
                timeout_ms: c.timeout_ms,
                created_at: w.created_at,
                updated_at: w.updated_at,
                version: w.version,
            }),
        }
    }
}

/// One page of webhooks, oldest first.
#[derive(Clone, Debug, PartialEq, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct WebhookPage {
    pub data: Vec<WebhookOut>,
    /// Pass as `cursor` for the next page; `null` on the last.
    #[schema(required = true)]
    pub next_cursor: Option<String>,
}

// ---- Requests -------------------------------------------------------------------------

/// The body of `POST /webhook`.
#[derive(Clone, Debug, PartialEq, Deserialize, ToSchema)]
#[serde(untagged)]
pub enum WebhookCreate {
    Inbound(InboundWebhookCreate),
    Outbound(OutboundWebhookCreate),
}

/// A new inbound webhook.
#[derive(Clone, Debug, PartialEq, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct InboundWebhookCreate {
    pub name: String,
    pub flow: InboundFlow,
    /// Default `application/json`.
    #[schema(nullable = false)]
    pub format: Option<Format>,
    /// Default `active`.
    #[schema(nullable = false)]
    pub status: Option<Status>,
    /// An absolute `https://` URL (plain `http://` where the deployment allows it), at most
    /// 2048 bytes, no credentials in it, not an internal address; `{{variable}}` placeholders
    /// may stand in the path and query. The pattern is the form always taken: the server also
    /// takes public IP addresses and longer paths.
    pub url: String,
    #[schema(example = "ops@example.com")]
    pub notification_email: String,
    /// Default: HMAC with a generated secret.
    #[schema(nullable = false)]
    pub security: Option<SecurityIn>,
    /// Default `GET` (variables in the query); `POST` sends them in the body.
    #[schema(nullable = false)]
    pub method: Option<Method>,
    /// Variable paths to read from the answer, at most 100, each listed once.
    #[schema(nullable = false, max_items = 100)]
    pub variables: Option<Vec<VariablePathIn>>,
    /// What the chat gets when the URL gives no valid answer: any JSON, at most 64 KiB.
    #[schema(required = true)]
    pub fallback_response: Value,
    /// Default 3000.
    #[schema(nullable = false, minimum = 100, maximum = 10000, default = 3000)]
    pub timeout_ms: Option<u32>,
}

/// A new outbound webhook.
#[derive(Clone, Debug, PartialEq, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct OutboundWebhookCreate {
    pub name: String,
    pub flow: OutboundFlow,
    /// Default `application/json`.
    #[schema(nullable = false)]
    pub format: Option<Format>,
    /// Default `active`.
    #[schema(nullable = false)]
    pub status: Option<Status>,
    /// An absolute `https://` URL (plain `http://` where the deployment allows it), at most
    /// 2048 bytes, no credentials in it, not an internal address. The pattern is the form
    /// always taken: the server also takes public IP addresses and longer paths.
    pub url: String,
    #[schema(example = "ops@example.com")]
    pub notification_email: String,
    /// Default: HMAC with a generated secret.
    #[schema(nullable = false)]
    pub security: Option<SecurityIn>,
    /// The events to send it: at least one.
    #[schema(min_items = 1)]
    pub events: Vec<EventType>,
    /// Default 15000.
    #[schema(nullable = false, minimum = 1000, maximum = 30000, default = 15000)]
    pub timeout_ms: Option<u32>,
}

/// An inbound webhook not saved yet.
#[derive(Clone, Debug, PartialEq, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct InboundWebhookDraft {
    #[schema(nullable = false)]
    pub name: Option<String>,
    pub flow: InboundFlow,
    #[schema(nullable = false)]
    pub format: Option<Format>,
    #[schema(nullable = false)]
    pub status: Option<Status>,
    /// An absolute `https://` URL (plain `http://` where the deployment allows it), at most
    /// 2048 bytes, no credentials in it, not an internal address; `{{variable}}` placeholders
    /// may stand in the path and query. The pattern is the form always taken: the server also
    /// takes public IP addresses and longer paths.
    pub url: String,
    #[schema(nullable = false)]
    pub notification_email: Option<String>,
    #[schema(nullable = false)]
    pub security: Option<SecurityIn>,
    #[schema(nullable = false)]
    pub method: Option<Method>,
    #[schema(nullable = false, max_items = 100)]
    pub variables: Option<Vec<VariablePathIn>>,
    pub fallback_response: Option<Value>,
    #[schema(nullable = false, minimum = 100, maximum = 10000, default = 3000)]
    pub timeout_ms: Option<u32>,
}

/// An outbound webhook not saved yet.
#[derive(Clone, Debug, PartialEq, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct OutboundWebhookDraft {
    #[schema(nullable = false)]
    pub name: Option<String>,
    pub flow: OutboundFlow,
    #[schema(nullable = false)]
    pub format: Option<Format>,
    #[schema(nullable = false)]
    pub status: Option<Status>,
    /// An absolute `https://` URL (plain `http://` where the deployment allows it), at most
    /// 2048 bytes, no credentials in it, not an internal address. The pattern is the form
    /// always taken: the server also takes public IP addresses and longer paths.
    pub url: String,
    #[schema(nullable = false)]
    pub notification_email: Option<String>,
    #[schema(nullable = false)]
    pub security: Option<SecurityIn>,
    #[schema(nullable = false, min_items = 1)]
    pub events: Option<Vec<EventType>>,
    #[schema(nullable = false, minimum = 1000, maximum = 30000, default = 15000)]
    pub timeout_ms: Option<u32>,
}

/// A variable path: names separated by `.`, array indexes in brackets (`orders[0].id`).
#[derive(Clone, Debug, PartialEq, Deserialize, ToSchema)]
#[serde(transparent)]
#[schema(value_type = String, example = "orders[0].id")]
pub struct VariablePathIn(pub String);

/// The body of `PUT /webhook/{id}`: the fields to change; those left out stay. A webhook read
/// and sent back as it is changes nothing (`id`, `createdAt` and `updatedAt` are ignored, and
/// `version` is the precondition, as `If-Match` is). `flow` cannot change, and fields of the
/// other flow are refused. A credential sent as the masked value a read showed means "keep";
/// moving `url` to another origin needs the credential again.
#[derive(Clone, Debug, Default, PartialEq, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct WebhookUpdate {
    #[schema(nullable = false)]
    pub name: Option<String>,
    /// The webhook's own flow, if sent.
    #[schema(nullable = false)]
    pub flow: Option<crate::model::Flow>,
    #[schema(nullable = false)]
    pub format: Option<Format>,
    #[schema(nullable = false)]
    pub status: Option<Status>,
    /// An absolute `https://` URL (plain `http://` where the deployment allows it), at most
    /// 2048 bytes, no credentials in it, not an internal address; `{{variable}}` placeholders
    /// may stand in an inbound webhook's path and query. The pattern is the form always
    /// taken: the server also takes public IP addresses and longer paths.
    #[schema(nullable = false)]
    pub url: Option<String>,
    #[schema(nullable = false)]
    pub notification_email: Option<String>,
    #[schema(nullable = false)]
    pub security: Option<SecurityIn>,
    /// Inbound only.
    #[schema(nullable = false)]
    pub method: Option<Method>,
    /// Inbound only.
    #[schema(nullable = false, max_items = 100)]
    pub variables: Option<Vec<VariablePathIn>>,
    /// Inbound only.
    pub fallback_response: Option<Value>,
    /// Outbound only.
    #[schema(nullable = false, min_items = 1)]
    pub events: Option<Vec<EventType>>,
    /// 100-10000 inbound, 1000-30000 outbound.
    #[schema(nullable = false, minimum = 100, maximum = 30000)]
    pub timeout_ms: Option<u32>,
    /// Echoed from a read: must be this webhook's id.
    #[schema(nullable = false)]
    pub id: Option<String>,
    /// Echoed from a read: the precondition (as `If-Match`).
    #[schema(nullable = false, minimum = 0)]
    pub version: Option<u64>,
    /// Echoed from a read: ignored.
    #[schema(nullable = false)]
    pub created_at: Option<String>,
    /// Echoed from a read: ignored.
    #[schema(nullable = false)]
    pub updated_at: Option<String>,
}

/// Credentials as sent: the HMAC secret may be left out (one is generated, or on update the
/// stored one kept), and any credential may be the masked value a read showed (keep it).
#[derive(Clone, Debug, PartialEq, Deserialize, ToSchema)]
#[serde(tag = "type", rename_all = "lowercase", deny_unknown_fields)]
pub enum SecurityIn {
    None,
    Hmac {
        /// `whsec_` and base64 of 24-64 bytes, or 16-128 printable characters without spaces and
        /// without `****` (which masked values have).
        secret: Option<String>,
        /// As a read showed it: ignored, whatever it holds.
        #[serde(rename = "previousSecretExpiresAt")]
        #[schema(value_type = Option<Value>)]
        previous_secret_expires_at: Option<Value>,
    },
    Basic {
        username: String,

        password: String,
    },
    Bearer {
        token: String,
    },
    Header {
        /// Not one Hookline sets itself (`content-type`, the signature headers, ...).
        name: String,

        value: String,
    },
}

/// The body of `POST /webhook/{id}/rotate-secret` (optional): the new secret, or none to have
/// one generated.
#[derive(Clone, Debug, Default, PartialEq, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RotateSecretIn {
    pub secret: Option<String>,
}
