//! The stored forms of records: the JSON a DynamoDB item holds (a webhook's `doc`, its sealed
//! `security`, a delivery's `event` and `attempts`, a log entry's `doc`) and the webhook copy a
//! delivery message carries on SQS.
//!
//! These are the model's only serde forms, and they are not the API's: `api::types` has its
//! own, so renaming a field on one side leaves the other alone (tests/contract.rs pins both).
//! A stored form must keep reading what earlier versions wrote: add fields with defaults,
//! never rename one in place.
//!
//! Readers take each record in one pass (serde buffers a whole object to read a flattened or
//! internally tagged one: a tenth of a delivery's CPU in the throughput bench, once per message).

use serde::{Deserialize, Serialize};
use serde_json::Value;
use time::OffsetDateTime;

use crate::model::{
    Attempt, EventRef, EventType, Flow, FlowConfig, Format, InboundConfig, Method, OutboundConfig,
    PreviousSecret, Security, Status, Webhook,
};
use crate::store::ActivityEntry;

// ---- webhooks ----------------------------------------------------------------------------

/// A webhook as stored: the flow's fields beside the others, `"flow"` naming the flow.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct WebhookDoc<'a> {
    id: &'a str,
    account_id: &'a str,
    name: &'a str,
    format: Format,
    status: Status,
    url: &'a str,
    notification_email: &'a str,
    security: SecurityDoc<'a>,
    flow: Flow,
    #[serde(skip_serializing_if = "Option::is_none")]
    method: Option<Method>,
    #[serde(skip_serializing_if = "Option::is_none")]
    variables: Option<&'a [String]>,
    #[serde(skip_serializing_if = "Option::is_none")]
    fallback_response: Option<&'a Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    events: Option<&'a [EventType]>,
    timeout_ms: u32,
    #[serde(with = "time::serde::rfc3339")]
    created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    updated_at: OffsetDateTime,
    version: u64,
}

impl<'a> WebhookDoc<'a> {
    fn of(w: &'a Webhook) -> Self {
        let (method, variables, fallback_response, events, timeout_ms) = match &w.config {
            FlowConfig::Inbound(c) => (
                Some(c.method),
                Some(&c.variables[..]),
                Some(&c.fallback_response),
                None,
                c.timeout_ms,
            ),
            FlowConfig::Outbound(c) => (None, None, None, Some(&c.events[..]), c.timeout_ms),
        };
        WebhookDoc {
            id: &w.id,
            account_id: &w.account_id,
            name: &w.name,
            format: w.format,
            status: w.status,
            url: &w.url,
            notification_email: &w.notification_email,
            security: SecurityDoc(&w.security),
            flow: w.flow(),
            method,
            variables,
            fallback_response,
            events,
            timeout_ms,
            created_at: w.created_at,
            updated_at: w.updated_at,
            version: w.version,
        }
    }
}

/// A stored webhook, read in one pass.
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
    security: SecurityFields,
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
            security: Security::try_from(f.security)?,
            config,
            created_at: f.created_at,
            updated_at: f.updated_at,
            version: f.version,
        })
    }
}

/// The webhook's stored JSON text.
pub fn webhook_text(webhook: &Webhook) -> String {
    serde_json::to_string(&WebhookDoc::of(webhook)).expect("webhooks always serialise")
}

/// The webhook's stored JSON, as a tree (to seal its `security` in place).
pub fn webhook_value(webhook: &Webhook) -> Value {
    serde_json::to_value(WebhookDoc::of(webhook)).expect("webhooks always serialise")
}

/// A webhook from its stored JSON text.
pub fn webhook_from_text(text: &str) -> serde_json::Result<Webhook> {
    let fields: WebhookFields = serde_json::from_str(text)?;
    Webhook::try_from(fields).map_err(serde::de::Error::custom)
}

/// A webhook from its stored JSON, as a tree.
pub fn webhook_from_value(value: Value) -> serde_json::Result<Webhook> {
    let fields: WebhookFields = serde_json::from_value(value)?;
    Webhook::try_from(fields).map_err(serde::de::Error::custom)
}

// ---- credentials -------------------------------------------------------------------------

/// `{"type": "hmac", "secret": ..., "previous": [...]}` and the other kinds.
struct SecurityDoc<'a>(&'a Security);

impl Serialize for SecurityDoc<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut map = s.serialize_map(None)?;
        map.serialize_entry("type", self.0.type_name())?;
        match self.0 {
            Security::None => {}
            Security::Hmac { secret, previous } => {
                map.serialize_entry("secret", secret)?;
                if !previous.is_empty() {
                    let docs: Vec<PreviousDoc> = previous.iter().map(PreviousDoc::of).collect();
                    map.serialize_entry("previous", &docs)?;
                }
            }
            Security::Basic { username, password } => {
                map.serialize_entry("username", username)?;
                map.serialize_entry("password", password)?;
            }
            Security::Bearer { token } => map.serialize_entry("token", token)?,
            Security::Header { name, value } => {
                map.serialize_entry("name", name)?;
                map.serialize_entry("value", value)?;
            }
        }
        map.end()
    }
}

#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct PreviousDoc {
    secret: String,
    #[serde(with = "time::serde::rfc3339")]
    expires_at: OffsetDateTime,
}

impl PreviousDoc {
    fn of(p: &PreviousSecret) -> Self {
        PreviousDoc {
            secret: p.secret.clone(),
            expires_at: p.expires_at,
        }
    }
}

/// Stored credentials, read in one pass.
#[derive(Deserialize)]
struct SecurityFields {
    #[serde(rename = "type")]
    kind: SecurityKind,
    secret: Option<String>,
    #[serde(default)]
    previous: Vec<PreviousDoc>,
    username: Option<String>,
    password: Option<String>,
    token: Option<String>,
    name: Option<String>,
    value: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "lowercase")]
enum SecurityKind {
    None,
    Hmac,
    Basic,
    Bearer,
    Header,
}

impl TryFrom<SecurityFields> for Security {
    type Error = String;

    fn try_from(f: SecurityFields) -> Result<Self, String> {
        let need = |field: Option<String>, name: &str| {
            field.ok_or_else(|| format!("missing field `{name}`"))
        };
        Ok(match f.kind {
            SecurityKind::None => Security::None,
            SecurityKind::Hmac => Security::Hmac {
                secret: need(f.secret, "secret")?,
                previous: f
                    .previous
                    .into_iter()
                    .map(|p| PreviousSecret {
                        secret: p.secret,
                        expires_at: p.expires_at,
                    })
                    .collect(),
            },
            SecurityKind::Basic => Security::Basic {
                username: need(f.username, "username")?,
                password: need(f.password, "password")?,
            },
            SecurityKind::Bearer => Security::Bearer {
                token: need(f.token, "token")?,
            },
            SecurityKind::Header => Security::Header {
                name: need(f.name, "name")?,
                value: need(f.value, "value")?,
            },
        })
    }
}

/// The credentials' stored JSON (what is sealed).
pub fn security_bytes(security: &Security) -> Vec<u8> {
    serde_json::to_vec(&SecurityDoc(security)).expect("credentials always serialise")
}

/// Credentials from their stored JSON.
#[cfg(test)]
fn security_from_slice(bytes: &[u8]) -> serde_json::Result<Security> {
    let fields: SecurityFields = serde_json::from_slice(bytes)?;
    Security::try_from(fields).map_err(serde::de::Error::custom)
}

// ---- deliveries and the log --------------------------------------------------------------

/// One attempt as a delivery item's `attempts` holds it.
#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct AttemptDoc {
    #[serde(with = "time::serde::rfc3339")]
    at: OffsetDateTime,
    status: Option<u16>,
    error: Option<String>,
    duration_ms: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    response_body: Option<String>,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    manual: bool,
}

impl From<&Attempt> for AttemptDoc {
    fn from(a: &Attempt) -> Self {
        AttemptDoc {
            at: a.at,
            status: a.status,
            error: a.error.clone(),
            duration_ms: a.duration_ms,
            response_body: a.response_body.clone(),
            manual: a.manual,
        }
    }
}

impl From<AttemptDoc> for Attempt {
    fn from(a: AttemptDoc) -> Self {
        Attempt {
            at: a.at,
            status: a.status,
            error: a.error,
            duration_ms: a.duration_ms,
            response_body: a.response_body,
            manual: a.manual,
        }
    }
}

pub fn attempt_text(attempt: &Attempt) -> String {
    serde_json::to_string(&AttemptDoc::from(attempt)).expect("attempts always serialise")
}

pub fn attempt_from_text(text: &str) -> serde_json::Result<Attempt> {
    serde_json::from_str::<AttemptDoc>(text).map(Attempt::from)
}

/// `#[serde(with)]` for attempts inside records of the store's own (the log's entries).
mod attempts_serde {
    use super::*;

    pub fn serialize<S: serde::Serializer>(a: &[Attempt], s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(a.iter().map(AttemptDoc::from))
    }

    pub fn deserialize<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<Attempt>, D::Error> {
        Ok(Vec::<AttemptDoc>::deserialize(d)?
            .into_iter()
            .map(Attempt::from)
            .collect())
    }
}

/// The event a delivery item names (its `event`; records written before v2 carry the data too,
/// which `Delivery::legacy_data` reads from the same text).
#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct EventRefDoc {
    id: String,
    event: EventType,
    #[serde(with = "time::serde::rfc3339")]
    occurred_at: OffsetDateTime,
}

pub fn event_ref_text(event: &EventRef) -> String {
    serde_json::to_string(&EventRefDoc {
        id: event.id.clone(),
        event: event.event,
        occurred_at: event.occurred_at,
    })
    .expect("event references always serialise")
}

pub fn event_ref_from_text(text: &str) -> serde_json::Result<EventRef> {
    let doc: EventRefDoc = serde_json::from_str(text)?;
    Ok(EventRef {
        id: doc.id,
        event: doc.event,
        occurred_at: doc.occurred_at,
    })
}

/// A log entry as its item's `doc` holds it.
#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct ActivityDoc {
    id: String,
    kind: String,
    #[serde(with = "time::serde::rfc3339")]
    at: OffsetDateTime,
    source: String,
    #[serde(with = "attempts_serde")]
    attempts: Vec<Attempt>,
    duration_ms: u64,
    missing_placeholders: Vec<String>,
}

pub fn activity_text(entry: &ActivityEntry) -> String {
    serde_json::to_string(&ActivityDoc {
        id: entry.id.clone(),
        kind: entry.kind.clone(),
        at: entry.at,
        source: entry.source.clone(),
        attempts: entry.attempts.clone(),
        duration_ms: entry.duration_ms,
        missing_placeholders: entry.missing_placeholders.clone(),
    })
    .expect("log entries always serialise")
}

pub fn activity_from_text(text: &str) -> serde_json::Result<ActivityEntry> {
    let doc: ActivityDoc = serde_json::from_str(text)?;
    Ok(ActivityEntry {
        id: doc.id,
        kind: doc.kind,
        at: doc.at,
        source: doc.source,
        attempts: doc.attempts,
        duration_ms: doc.duration_ms,
        missing_placeholders: doc.missing_placeholders,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_reads_back_as_written_in_any_key_order() {
        let expires = time::macros::datetime!(2026-12-01 00:00 UTC);
        for security in [
            Security::None,
            Security::Hmac {
                secret: "whsec_a".into(),
                previous: vec![],
            },
            Security::Hmac {
                secret: "whsec_b".into(),
                previous: vec![PreviousSecret {
                    secret: "whsec_a".into(),
                    expires_at: expires,
                }],
            },
            Security::Basic {
                username: "u".into(),
                password: "p".into(),
            },
            Security::Bearer { token: "t".into() },
            Security::Header {
                name: "x-key".into(),
                value: "v".into(),
            },
        ] {
            let text = String::from_utf8(security_bytes(&security)).unwrap();
            assert_eq!(security_from_slice(text.as_bytes()).unwrap(), security);
            // The tag last, as another writer may put it.
            let mut value: Value = serde_json::from_str(&text).unwrap();
            let kind = value.as_object_mut().unwrap().shift_remove("type").unwrap();
            value["type"] = kind;
            assert_eq!(
                security_from_slice(value.to_string().as_bytes()).unwrap(),
                security
            );
        }
        let broken = security_from_slice(br#"{"type": "basic", "username": "u"}"#);
        assert!(broken.unwrap_err().to_string().contains("password"));
        assert!(security_from_slice(br#"{"type": "kerberos"}"#).is_err());
    }
}
