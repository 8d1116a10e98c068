//! Case and agent events: the envelope on the events queue, and how a published one is checked.
//!
//! ```json
//! {"id": "evt_01J...", "event": "case:status:closed", "accountId": "acme",
//!  "occurredAt": "2026-11-25T12:00:00Z",
//!  "data": {"caseId": "72", "status": "closed", "fields": {}, "contact": {...}, "messages": [...]}}
//! ```

use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use serde_json::Value;
use time::OffsetDateTime;

use crate::ids;
use crate::model::{reject_unknown, EventType, ValidationError};

/// Largest `data` accepted: deliveries carry it on every attempt, and receivers want small
/// payloads (Standard Webhooks suggests about 20 KB).
pub const MAX_DATA_BYTES: usize = 64 * 1024;

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Event {
    pub id: String,
    pub event: EventType,
    pub account_id: String,
    #[serde(with = "time::serde::rfc3339")]
    pub occurred_at: OffsetDateTime,
    pub data: EventData,
}

/// An event's `data`: a JSON object, held as its JSON text. A delivery copies it into its
/// queue message and its payload and never looks inside, so it is read and written as text:
/// parsing it into a tree and writing the tree out again cost more CPU per delivery than the
/// rest of the engine (BENCHMARKS.md). Published through the API it is what `serde_json`
/// writes for the object; queued by a publisher, it is their text as they wrote it (as Svix
/// and Hookdeck pass payloads on).
#[derive(Clone, Serialize, Deserialize)]
#[serde(transparent)]
pub struct EventData(Box<RawValue>);

impl EventData {
    /// The compact text of `value`.
    pub fn from_value(value: &Value) -> Self {
        let text = serde_json::to_string(value).expect("JSON values always serialise");
        Self(RawValue::from_string(text).expect("serde_json writes valid JSON"))
    }

    /// The JSON text.
    pub fn get(&self) -> &str {
        self.0.get()
    }

    /// As a tree, for the formats that restructure it (XML, form) and for the API.
    pub fn to_value(&self) -> Value {
        serde_json::from_str(self.0.get()).expect("held text is valid JSON")
    }
}

impl PartialEq for EventData {
    fn eq(&self, other: &Self) -> bool {
        self.0.get() == other.0.get()
    }
}

impl std::fmt::Debug for EventData {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.0.get())
    }
}

fn is_event_id(id: &str) -> bool {
    (1..=64).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

impl Event {
    /// An event from a `POST /api/v1/events` body, for the caller's account. `id` is kept when
    /// sent (it is the idempotency key), else made; `occurredAt` defaults to now.
    pub fn from_publish(
        body: &Value,
        account_id: &str,
        now: OffsetDateTime,
    ) -> Result<Event, ValidationError> {
        let map = body
            .as_object()
            .ok_or_else(|| ValidationError::new("body", "must be a JSON object"))?;
        reject_unknown(map, &["id", "event", "accountId", "occurredAt", "data"])?;
        let string = |field: &str| -> Result<Option<&str>, ValidationError> {
            match map.get(field) {
                None | Some(Value::Null) => Ok(None),
                Some(Value::String(s)) => Ok(Some(s.as_str())),
                Some(_) => Err(ValidationError::new(field, "must be a string")),
            }
        };
        let id = match string("id")? {
            Some(id) if is_event_id(id) => id.to_string(),
            Some(_) => {
                return Err(ValidationError::new(
                    "id",
                    "must be 1 to 64 letters, digits, '_' or '-'",
                ))
            }
            None => format!("evt_{}", ids::ulid(now)),
        };
        if let Some(sent) = string("accountId")? {
            if sent != account_id {
                return Err(ValidationError::new(
                    "accountId",
                    "differs from the API key's account (leave it out)",
                ));
            }
        }
        let name = string("event")?.ok_or_else(|| ValidationError::new("event", "is required"))?;
        let event = EventType::parse(name).ok_or_else(|| {
            let all: Vec<_> = EventType::ALL.iter().map(|e| e.as_str()).collect();
            ValidationError::new("event", format!("must be one of {}", all.join(", ")))
        })?;
        let occurred_at = match string("occurredAt")? {
            None => now,
            Some(t) => OffsetDateTime::parse(t, &time::format_description::well_known::Rfc3339)
                .map_err(|_| ValidationError::new("occurredAt", "must be an RFC 3339 time"))?,
        };
        let value = map
            .get("data")
            .ok_or_else(|| ValidationError::new("data", "is required"))?;
        // The catalogue's schema names the first mismatch's path; `check_data` then applies
        // what a schema cannot say (the size limit) with the delivery function's own check.
        crate::catalogue::validate(event, value)?;
        let data = EventData::from_value(value);
        check_data(event, data.get())?;
        Ok(Event {
            id,
            event,
            account_id: account_id.to_string(),
            occurred_at,
            data,
        })
    }
}

impl Event {
    /// The checks `from_publish` makes, for an event a publisher sent straight to the events
    /// queue (the API did not see it): its id, its account id and its data, which reaches
    /// receivers as the publisher wrote it.
    pub fn check_queued(&self) -> Result<(), ValidationError> {
        if !is_event_id(&self.id) {
            return Err(ValidationError::new(
                "id",
                "must be 1 to 64 letters, digits, '_' or '-'",
            ));
        }
        if !crate::apikeys::valid_account_id(&self.account_id) {
            return Err(ValidationError::new(
                "accountId",
                "is not a valid account id",
            ));
        }
        check_data(self.event, self.data.get())
    }
}

/// The fields receivers rely on, per event kind; other fields pass through as sent. Read from
/// the data's text without building it: only the checked fields' kinds and strings are kept.
fn check_data(event: EventType, data: &str) -> Result<(), ValidationError> {
    if data.len() > MAX_DATA_BYTES {
        return Err(ValidationError::new(
            "data",
            "must be at most 64 KiB of JSON",
        ));
    }
    // serde reads a struct from an array too: the object is checked for first.
    if !data.trim_start().starts_with('{') {
        return Err(ValidationError::new("data", "must be an object"));
    }
    let fields: CheckedFields = serde_json::from_str(data).map_err(|_| {
        ValidationError::new(
            "data",
            "must be a JSON object (nested at most 128 deep, numbers in range, valid escapes)",
        )
    })?;
    if let Some(field) = fields.repeated {
        // Parsers disagree on which copy wins: the one checked must be the one received.
        return Err(ValidationError::new(
            format!("data.{field}"),
            "appears more than once",
        ));
    }
    let get = |field: &str| {
        fields
            .found
            .iter()
            .find(|(name, _)| *name == field)
            .map(|(_, shape)| shape)
    };
    let text = |field: &str| match get(field) {
        Some(Shape::Text(s)) if !s.is_empty() => Ok(s.as_ref()),
        Some(_) => Err(ValidationError::new(
            format!("data.{field}"),
            "must be a non-empty string",
        )),
        None => Err(ValidationError::new(format!("data.{field}"), "is required")),
    };
    match event {
        EventType::AgentStatus => {
            text("agentId")?;
            let status = text("status")?;
            if !["available", "unavailable"].contains(&status) {
                return Err(ValidationError::new(
                    "data.status",
                    "must be available or unavailable",
                ));
            }
        }
        case_event => {
            text("caseId")?;
            // A status event's status must be the one its name says.
            let expected = case_event.as_str().strip_prefix("case:status:");
            match (expected, get("status")) {
                (Some(want), Some(Shape::Text(got))) if got != want => {
                    return Err(ValidationError::new(
                        "data.status",
                        format!("must be {want} for {}", case_event.as_str()),
                    ))
                }
                (_, Some(shape)) if !matches!(shape, Shape::Text(_)) => {
                    return Err(ValidationError::new("data.status", "must be a string"))
                }
                _ => {}
            }
            for (field, want) in [
                ("contact", Shape::Object),
                ("fields", Shape::Object),
                ("messages", Shape::Array),
            ] {
                if get(field).is_some_and(|shape| shape != &want) {
                    let kind = if want == Shape::Array {
                        "an array"
                    } else {
                        "an object"
                    };
                    return Err(ValidationError::new(
                        format!("data.{field}"),
                        format!("must be {kind}"),
                    ));
                }
            }
        }
    }
    Ok(())
}

/// The top-level fields of `data` the checks read.
const CHECKED: [&str; 6] = [
    "caseId", "status", "agentId", "contact", "fields", "messages",
];

/// What the checks need of a value: its kind, and a string's text.
#[derive(Debug, PartialEq)]
enum Shape<'a> {
    Text(std::borrow::Cow<'a, str>),
    Object,
    Array,
    Other,
}

/// Any JSON value, read as `serde_json::Value` reads one and thrown away: the same nesting
/// limit (128), string escapes (no lone surrogates) and number range, without building the
/// tree. `IgnoredAny` skips without those checks, and data that passes the checks is later
/// parsed for XML and form payloads and by receivers.
struct Valid;

impl<'de> Deserialize<'de> for Valid {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> serde::de::Visitor<'de> for V {
            type Value = Valid;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a JSON value")
            }
            fn visit_bool<E>(self, _: bool) -> Result<Valid, E> {
                Ok(Valid)
            }
            fn visit_i64<E>(self, _: i64) -> Result<Valid, E> {
                Ok(Valid)
            }
            fn visit_u64<E>(self, _: u64) -> Result<Valid, E> {
                Ok(Valid)
            }
            fn visit_f64<E>(self, _: f64) -> Result<Valid, E> {
                Ok(Valid)
            }
            fn visit_str<E>(self, _: &str) -> Result<Valid, E> {
                Ok(Valid)
            }
            fn visit_unit<E>(self) -> Result<Valid, E> {
                Ok(Valid)
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(
                self,
                mut seq: A,
            ) -> Result<Valid, A::Error> {
                while seq.next_element::<Valid>()?.is_some() {}
                Ok(Valid)
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                mut map: A,
            ) -> Result<Valid, A::Error> {
                while map.next_entry::<Valid, Valid>()?.is_some() {}
                Ok(Valid)
            }
        }
        d.deserialize_any(V)
    }
}

/// The checked fields of a data object, each with its shape; the rest is read as `Valid`.
struct CheckedFields<'a> {
    found: Vec<(&'static str, Shape<'a>)>,
    repeated: Option<&'static str>,
}

impl<'de> Deserialize<'de> for Shape<'de> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> serde::de::Visitor<'de> for V {
            type Value = Shape<'de>;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a JSON value")
            }
            fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Self::Value, E> {
                Ok(Shape::Text(v.into()))
            }
            fn visit_str<E>(self, v: &str) -> Result<Self::Value, E> {
                Ok(Shape::Text(v.to_string().into()))
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                mut map: A,
            ) -> Result<Self::Value, A::Error> {
                while map.next_entry::<Valid, Valid>()?.is_some() {}
                Ok(Shape::Object)
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(
                self,
                mut seq: A,
            ) -> Result<Self::Value, A::Error> {
                while seq.next_element::<Valid>()?.is_some() {}
                Ok(Shape::Array)
            }
            fn visit_bool<E>(self, _: bool) -> Result<Self::Value, E> {
                Ok(Shape::Other)
            }
            fn visit_i64<E>(self, _: i64) -> Result<Self::Value, E> {
                Ok(Shape::Other)
            }
            fn visit_u64<E>(self, _: u64) -> Result<Self::Value, E> {
                Ok(Shape::Other)
            }
            fn visit_f64<E>(self, _: f64) -> Result<Self::Value, E> {
                Ok(Shape::Other)
            }
            fn visit_unit<E>(self) -> Result<Self::Value, E> {
                Ok(Shape::Other)
            }
        }
        d.deserialize_any(V)
    }
}

impl<'de> Deserialize<'de> for CheckedFields<'de> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> serde::de::Visitor<'de> for V {
            type Value = CheckedFields<'de>;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                mut map: A,
            ) -> Result<Self::Value, A::Error> {
                let mut fields = CheckedFields {
                    found: Vec::new(),
                    repeated: None,
                };
                while let Some(key) = map.next_key::<Shape<'de>>()? {
                    let name = match &key {
                        Shape::Text(k) => CHECKED.iter().find(|c| **c == k.as_ref()),
                        _ => None,
                    };
                    match name {
                        Some(name) => {
                            if fields.found.iter().any(|(n, _)| n == name) {
                                fields.repeated.get_or_insert(name);
                            }
                            fields.found.push((name, map.next_value()?));
                        }
                        None => {
                            map.next_value::<Valid>()?;
                        }
                    }
                }
                Ok(fields)
            }
        }
        d.deserialize_map(V)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use time::macros::datetime;

    const NOW: OffsetDateTime = datetime!(2026-11-25 12:00 UTC);

    fn publish(body: Value) -> Result<Event, ValidationError> {
        Event::from_publish(&body, "acme", NOW)
    }

    #[test]
    fn a_case_event_as_the_product_shapes_it() {
        let e = publish(json!({"event": "case:status:closed", "data": {"caseId": "72", "status": "closed", "fields": {},
            "contact": {"id": "5", "fields": {"name": "Jhon"}},
            "messages": [{"id": "323", "channel": "chat", "message": "This thread has been reactivated."}]}}))
        .unwrap();
        assert!(e.id.starts_with("evt_"));
        assert_eq!(
            (e.event, e.account_id.as_str(), e.occurred_at),
            (EventType::CaseStatusClosed, "acme", NOW)
        );
        let kept = publish(json!({"id": "evt_custom-1", "event": "case:new", "occurredAt": "2026-11-24T08:00:00Z", "data": {"caseId": "1"}})).unwrap();
        assert_eq!(
            (kept.id.as_str(), kept.occurred_at),
            ("evt_custom-1", datetime!(2026-11-24 8:00 UTC))
        );
        assert!(publish(json!({"event": "agent:status", "data": {"agentId": "a1", "status": "available", "channels": {"chat": true}}})).is_ok());
    }

    #[test]
    fn bad_events_name_the_field() {
        let cases = [
            (json!({"data": {"caseId": "1"}}), "event"),
            (
                json!({"event": "case:status", "data": {"caseId": "1"}}),
                "event",
            ),
            (json!({"event": "case:new"}), "data"),
            (json!({"event": "case:new", "data": []}), "data"),
            (json!({"event": "case:new", "data": {}}), "data.caseId"),
            (
                json!({"event": "case:new", "data": {"caseId": 72}}),
                "data.caseId",
            ),
            (
                json!({"event": "case:status:closed", "data": {"caseId": "1", "status": "active"}}),
                "data.status",
            ),
            (
                json!({"event": "case:new", "data": {"caseId": "1", "messages": {}}}),
                "data.messages",
            ),
            (
                json!({"event": "case:new", "data": {"caseId": "1", "contact": "x"}}),
                "data.contact",
            ),
            (
                json!({"event": "agent:status", "data": {"agentId": "a", "status": "busy"}}),
                "data.status",
            ),
            (
                json!({"event": "agent:status", "data": {"status": "available"}}),
                "data.agentId",
            ),
            (
                json!({"event": "case:new", "data": {"caseId": "1"}, "accountId": "globex"}),
                "accountId",
            ),
            (
                json!({"event": "case:new", "data": {"caseId": "1"}, "id": "no spaces"}),
                "id",
            ),
            (
                json!({"event": "case:new", "data": {"caseId": "1"}, "occurredAt": "yesterday"}),
                "occurredAt",
            ),
            (
                json!({"event": "case:new", "data": {"caseId": "1"}, "extra": 1}),
                "extra",
            ),
            (
                json!({"event": "case:new", "data": {"caseId": "1", "blob": "x".repeat(70_000)}}),
                "data",
            ),
        ];
        for (body, field) in cases {
            assert_eq!(publish(body.clone()).unwrap_err().field, field, "{body}");
        }
        assert!(publish(
            json!({"event": "case:new", "data": {"caseId": "1"}, "accountId": "acme"})
        )
        .is_ok());
    }

    #[test]
    fn data_queued_by_a_publisher_is_checked_from_its_text() {
        let queued = |data: &str| {
            let body = format!(
                r#"{{"id": "evt_1", "event": "case:new", "accountId": "acme",
                    "occurredAt": "2026-11-25T12:00:00Z", "data": {data}}}"#
            );
            let message: crate::queue::EventMessage = serde_json::from_str(&body).unwrap();
            message.event.check_queued().map(|()| message.event.data)
        };
        // Indented: receivers get it as the publisher wrote it.
        let written = "{ \"caseId\" : \"2\",\n\t\"n\": [1, 2.5, \"é \\\" x\"] }";
        assert_eq!(queued(written).unwrap().get(), written);
        // A checked field given twice: parsers disagree on which copy wins, so the one
        // checked might not be the one a receiver reads.
        let twice = queued(r#"{"caseId": 7, "caseId": "2"}"#).unwrap_err();
        assert_eq!(
            (twice.field.as_str(), twice.message.as_str()),
            ("data.caseId", "appears more than once")
        );
        // Other fields pass through as sent.
        assert!(queued(r#"{"caseId": "2", "note": 1, "note": 2}"#).is_ok());
        // What a tree would refuse is refused: XML and form payloads and receivers parse it.
        let deep = format!(
            "{{\"caseId\": \"2\", \"x\": {}1{}}}",
            "[".repeat(200),
            "]".repeat(200)
        );
        for bad in [
            r#"{"caseId": "2", "x": "\ud800"}"#,
            r#"{"caseId": "2", "x": 1e400}"#,
            r#"{"caseId": "2", "x": {"y": ["\ud800"]}}"#,
            r#"{"caseId": "\udfff"}"#,
            deep.as_str(),
        ] {
            let refused = queued(bad).unwrap_err();
            assert_eq!(refused.field, "data", "{bad}");
            assert!(serde_json::from_str::<Value>(bad).is_err(), "{bad}");
        }
        let nested = format!(
            "{{\"caseId\": \"2\", \"x\": {}1{}}}",
            "[".repeat(100),
            "]".repeat(100)
        );
        assert!(queued(&nested).unwrap().to_value().is_object());
        let array = queued(r#"[{"caseId": "2"}]"#).unwrap_err();
        assert_eq!(
            (array.field.as_str(), array.message.as_str()),
            ("data", "must be an object")
        );
    }

    #[test]
    fn the_envelope_round_trips() {
        let e = publish(json!({"event": "case:new", "data": {"caseId": "1"}})).unwrap();
        let text = serde_json::to_string(&e).unwrap();
        assert!(
            text.contains("\"accountId\":\"acme\"")
                && text.contains("\"occurredAt\":\"2026-11-25T12:00:00Z\"")
        );
        assert_eq!(serde_json::from_str::<Event>(&text).unwrap(), e);
    }
}
