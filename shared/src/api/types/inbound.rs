//! Inbound calls: resolutions, tests and their log.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use time::OffsetDateTime;
use utoipa::ToSchema;

use super::{
    AttemptOut, InboundWebhookDraft, OutboundTestOut, OutboundWebhookDraft, WebhookUpdate,
};
use crate::inbound::{Resolution, Source, TestOutcome};
use crate::store::ActivityEntry;

/// The body of `POST /webhook/{id}/resolve` (optional).
#[derive(Clone, Debug, Default, PartialEq, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ResolveIn {
    /// The conversation's variables: they fill the URL's `{{placeholders}}` and are sent in
    /// the query (`GET`) or the body (`POST`).
    #[schema(value_type = Option<Object>, example = json!({"customer": {"email": "jhon@example.com"}}))]
    pub variables: Option<Map<String, Value>>,
}

/// The chat's answer: the webhook's data, or the fallback. Always a 200 by the deadline.
#[derive(Clone, Debug, PartialEq, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ResolutionOut {
    /// `webhook` when the URL answered validly, `fallback` when not.
    pub source: Source,
    /// The answer, parsed, or the fallback response.
    pub data: Value,
    /// Each configured variable path's value in `data` (`null` where absent).
    #[schema(value_type = Object)]
    pub variables: Map<String, Value>,
    pub attempts: Vec<AttemptOut>,
    /// Placeholders of the URL no variable filled.
    pub missing_placeholders: Vec<String>,
}

impl From<&Resolution> for ResolutionOut {
    fn from(r: &Resolution) -> Self {
        ResolutionOut {
            source: r.source,
            data: r.data.clone(),
            variables: r.variables.clone(),
            attempts: r.attempts.iter().map(AttemptOut::new).collect(),
            missing_placeholders: r.missing_placeholders.clone(),
        }
    }
}

/// The body of `POST /webhook/{id}/test` (optional).
#[derive(Clone, Debug, Default, PartialEq, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct WebhookTestIn {
    /// Sample variables, inbound only.
    #[schema(value_type = Option<Object>)]
    pub variables: Option<Map<String, Value>>,
    /// Unsaved edits, read as an update body is: the call uses them, nothing is saved.
    pub webhook: Option<WebhookUpdate>,
}

/// The body of `POST /webhook/test`: a webhook not saved yet, so a form can discover
/// variables before saving. `webhook` is a create body in which the fields a call does not
/// use (`name`, `notificationEmail`, `fallbackResponse`, `events`) may be left out.
#[derive(Clone, Debug, PartialEq, Deserialize, ToSchema)]
#[serde(untagged)]
pub enum DraftTestIn {
    Inbound(InboundDraftTestIn),
    Outbound(OutboundDraftTestIn),
}

/// An inbound draft and sample variables.
#[derive(Clone, Debug, PartialEq, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct InboundDraftTestIn {
    #[schema(value_type = Option<Object>)]
    pub variables: Option<Map<String, Value>>,
    pub webhook: InboundWebhookDraft,
}

/// An outbound draft: it is sent a sample event, so it takes no variables.
#[derive(Clone, Debug, PartialEq, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct OutboundDraftTestIn {
    pub webhook: OutboundWebhookDraft,
}

/// The answer of an inbound webhook's test: the call, and what a form can offer from it.
#[derive(Clone, Debug, PartialEq, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct InboundTestOut {
    /// The answer was valid (2xx, parses in the webhook's format, within the size cap).
    pub ok: bool,
    pub attempt: AttemptOut,
    /// The parsed answer, when it parsed.
    #[schema(required = true)]
    pub data: Option<Value>,
    /// Every variable path found in `data`.
    pub discovered_variables: Vec<String>,
    pub missing_placeholders: Vec<String>,
}

impl From<&TestOutcome> for InboundTestOut {
    fn from(t: &TestOutcome) -> Self {
        InboundTestOut {
            ok: t.ok,
            attempt: AttemptOut::new(&t.attempt),
            data: t.data.clone(),
            discovered_variables: t.discovered_variables.clone(),
            missing_placeholders: t.missing_placeholders.clone(),
        }
    }
}

/// A test's answer: inbound or outbound, after the webhook's flow.
#[derive(Clone, Debug, PartialEq, Serialize, ToSchema)]
#[serde(untagged)]
pub enum TestOut {
    Inbound(InboundTestOut),
    Outbound(OutboundTestOut),
}

/// `resolve` or `test`.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum ActivityKind {
    Resolve,
    Test,
}

/// One inbound call in the webhook's log.
#[derive(Clone, Debug, PartialEq, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ActivityOut {
    pub id: String,
    pub kind: ActivityKind,
    #[serde(with = "super::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub at: OffsetDateTime,
    pub source: Source,
    pub attempts: Vec<AttemptOut>,
    pub duration_ms: u64,
    pub missing_placeholders: Vec<String>,
}

impl From<&ActivityEntry> for ActivityOut {
    fn from(e: &ActivityEntry) -> Self {
        ActivityOut {
            id: e.id.clone(),
            kind: if e.kind == "test" {
                ActivityKind::Test
            } else {
                ActivityKind::Resolve
            },
            at: e.at,
            source: if e.source == "webhook" {
                Source::Webhook
            } else {
                Source::Fallback
            },
            attempts: e.attempts.iter().map(AttemptOut::new).collect(),
            duration_ms: e.duration_ms,
            missing_placeholders: e.missing_placeholders.clone(),
        }
    }
}

/// One page of the log, newest first.
#[derive(Clone, Debug, PartialEq, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ActivityPage {
    pub data: Vec<ActivityOut>,
    /// Pass as `cursor` for the next page; `null` on the last.
    #[schema(required = true)]
    pub next_cursor: Option<String>,
}
