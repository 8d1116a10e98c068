//! The event-type catalogue: each event type's description, the JSON Schema its `data` is
//! checked against, and an example. One source for `GET /api/v1/event-types`, the OpenAPI
//! document, the check of events published through the API (`validate`), and the catalogue in
//! docs/events.md (`markdown`, which a test compares with that file).
//!
//! The schemas name only what receivers rely on; other fields pass through, so the chat
//! product can add fields without a Hookline release. The delivery function checks events
//! queued straight to SQS with `events::check_data`, which reads the same rules off the text
//! without building it; a property test holds the two to the same verdicts.

use serde_json::{json, Map, Value};

use crate::model::{EventType, ValidationError};

/// One event type as the catalogue describes it.
#[derive(Clone, Debug, PartialEq)]
pub struct EventTypeDoc {
    pub event: EventType,
    /// A label for a list of event types (the console's checkboxes).
    pub title: &'static str,
    /// One line.
    pub summary: &'static str,
    pub description: &'static str,
    /// The JSON Schema (2020-12) of its `data`.
    pub schema: Value,
    /// A `data` the schema accepts.
    pub example: Value,
}

const CASE_STATUSES: &str = "`pending`, `active`, `queue` or `closed`";

fn case_schema(status: Option<&str>) -> Value {
    let status_schema = match status {
        Some(s) => json!({
            "type": "string", "const": s,
            "description": format!("The case's new status: `{s}`, as the event's name says.")
        }),
        None => json!({
            "type": "string",
            "description": format!("The case's status: {CASE_STATUSES}.")
        }),
    };
    json!({
        "type": "object",
        "required": ["caseId"],
        "properties": {
            "caseId": {"type": "string", "minLength": 1, "description": "The case's (conversation's) id."},
            "status": status_schema,
            "contact": {"type": "object", "description": "The contact: `id`, and `fields` (`name`, `email`, `phone`, `city`, `state`, `countryId`, `ip`, ...)."},
            "fields": {"type": "object", "description": "The case's custom fields."},
            "messages": {
                "type": "array",
                "description": "The case's messages, each with `id`, `channel`, `senderId`, `senderType` (`contact` or `agent`), `type` (`message` or `event`), `message`, `seen` and `dateCreated`.",
                "items": {}
            }
        }
    })
}

fn case_example(status: &str) -> Value {
    json!({
        "caseId": "72", "status": status, "fields": {},
        "contact": {"id": "5", "fields": {"name": "Jhon", "email": "jhon@example.com"}},
        "messages": [{"id": "321", "channel": "chat", "senderId": "5", "senderType": "contact",
                      "type": "message", "message": "Hi, where is my order?", "seen": "no",
                      "dateCreated": "2026-11-25T12:00:00Z"}]
    })
}

/// The catalogue entry of `event`.
pub fn entry(event: EventType) -> EventTypeDoc {
    let status_change = |status: &'static str, title: &'static str, summary: &'static str| {
        EventTypeDoc {
        event,
        title,
        summary,
        description: "The case's status changed; `status`, when sent, is the new one and must match the event's name.",
        schema: case_schema(Some(status)),
        example: case_example(status),
    }
    };
    match event {
        EventType::CaseNew => EventTypeDoc {
            event,
            title: "New case",
            summary: "A case (conversation) was created.",
            description: "A contact started a conversation, or an agent opened a case.",
            schema: case_schema(None),
            example: case_example("pending"),
        },
        EventType::CaseStatusPending => status_change(
            "pending",
            "Case status: pending",
            "A case is waiting for an agent.",
        ),
        EventType::CaseStatusActive => {
            status_change("active", "Case status: active", "An agent took a case.")
        }
        EventType::CaseStatusQueue => status_change(
            "queue",
            "Case status: queue",
            "A case went back to the queue.",
        ),
        EventType::CaseStatusClosed => {
            status_change("closed", "Case status: closed", "A case was closed.")
        }
        EventType::CaseMessageNew => EventTypeDoc {
            event,
            title: "New message in a case",
            summary: "A message was added to a case.",
            description: "A contact or an agent wrote in a case; `messages` holds the new message.",
            schema: case_schema(None),
            example: json!({
                "caseId": "72", "status": "active",
                "messages": [{"id": "322", "channel": "chat", "senderId": "a1", "senderType": "agent",
                              "type": "message", "message": "It ships today.", "seen": "no",
                              "dateCreated": "2026-11-25T12:05:00Z"}]
            }),
        },
        EventType::AgentStatus => EventTypeDoc {
            event,
            title: "Agent status change",
            summary: "An agent became available or unavailable.",
            description: "An agent's availability changed.",
            schema: json!({
                "type": "object",
                "required": ["agentId", "status"],
                "properties": {
                    "agentId": {"type": "string", "minLength": 1, "description": "The agent's id."},
                    "status": {"type": "string", "enum": ["available", "unavailable"], "description": "The agent's new status."},
                    "channels": {"description": "Per channel (`chat`, `email`, `voip`), whether the agent takes it."}
                }
            }),
            example: json!({"agentId": "a1", "status": "available",
                            "channels": {"chat": true, "email": true, "voip": false}}),
        },
    }
}

/// Every event type, in `EventType::ALL`'s order.
pub fn all() -> Vec<EventTypeDoc> {
    EventType::ALL.into_iter().map(entry).collect()
}

/// The schema's name in the OpenAPI document's components (`CaseStatusClosedData`).
pub fn schema_name(event: EventType) -> String {
    let mut name = String::new();
    for word in event.as_str().split(':') {
        let mut chars = word.chars();
        if let Some(first) = chars.next() {
            name.push(first.to_ascii_uppercase());
            name.extend(chars);
        }
    }
    name + "Data"
}

/// Each event type's data schema, named for the OpenAPI document.
pub fn schemas() -> Vec<(String, Value)> {
    all()
        .into_iter()
        .map(|doc| {
            let mut schema = doc.schema;
            schema["title"] = json!(format!("{} data", doc.event.as_str()));
            schema["description"] = json!(doc.summary);
            schema["examples"] = json!([doc.example]);
            (schema_name(doc.event), schema)
        })
        .collect()
}

/// Checks `data` against its type's schema: the path of the first mismatch (`data.caseId`,
/// in the schema's property order), or nothing. Properties the schema does not name pass.
pub fn validate(event: EventType, data: &Value) -> Result<(), ValidationError> {
    check(&entry(event).schema, data, "data")
}

/// The keywords `check` understands; a test holds every schema of the catalogue to them.
pub const KEYWORDS: [&str; 10] = [
    "type",
    "required",
    "properties",
    "minLength",
    "const",
    "enum",
    "items",
    "description",
    "title",
    "examples",
];

/// The properties a schema requires.
fn required(schema: &Value) -> Vec<&str> {
    schema
        .get("required")
        .and_then(Value::as_array)
        .map(|r| r.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default()
}

fn check(schema: &Value, value: &Value, path: &str) -> Result<(), ValidationError> {
    let fail = |message: String| Err(ValidationError::new(path, message));
    if let Some(kind) = schema.get("type").and_then(Value::as_str) {
        let (ok, noun) = match kind {
            "object" => (value.is_object(), "an object"),
            "array" => (value.is_array(), "an array"),
            "string" => (value.is_string(), "a string"),
            "boolean" => (value.is_boolean(), "true or false"),
            "number" => (value.is_number(), "a number"),
            "integer" => (value.is_i64() || value.is_u64(), "a whole number"),
            "null" => (value.is_null(), "null"),
            // A type this check does not know refuses nothing (the keyword test keeps the
            // catalogue to the known ones).
            _ => (true, ""),
        };
        if !ok {
            return if kind == "string" && schema.get("minLength").is_some() {
                fail("must be a non-empty string".into())
            } else {
                fail(format!("must be {noun}"))
            };
        }
    }
    if let (Some(min), Some(text)) = (
        schema.get("minLength").and_then(Value::as_u64),
        value.as_str(),
    ) {
        if (text.chars().count() as u64) < min {
            return fail("must be a non-empty string".into());
        }
    }
    if let Some(want) = schema.get("const") {
        if value != want {
            return fail(format!("must be {}", want));
        }
    }
    if let Some(options) = schema.get("enum").and_then(Value::as_array) {
        if !options.contains(value) {
            let names: Vec<String> = options.iter().map(Value::to_string).collect();
            return fail(format!("must be one of {}", names.join(", ")));
        }
    }
    if let (Some(items), Some(values)) = (schema.get("items"), value.as_array()) {
        for (i, item) in values.iter().enumerate() {
            check(items, item, &format!("{path}[{i}]"))?;
        }
    }
    if let Some(map) = value.as_object() {
        let required = required(schema);
        let empty = Map::new();
        let properties = schema
            .get("properties")
            .and_then(Value::as_object)
            .unwrap_or(&empty);
        for (name, property) in properties {
            let at = format!("{path}.{name}");
            match map.get(name) {
                Some(v) => check(property, v, &at)?,
                None if required.contains(&name.as_str()) => {
                    return Err(ValidationError::new(at, "is required"))
                }
                None => {}
            }
        }
    }
    Ok(())
}

/// The catalogue as docs/events.md shows it, between its markers.
pub fn markdown() -> String {
    let mut out = String::new();
    for doc in all() {
        out.push_str(&format!(
            "### `{}`\n\n{} {}\n\n",
            doc.event.as_str(),
            doc.summary,
            doc.description
        ));
        out.push_str("| field | rule | meaning |\n|---|---|---|\n");
        let schema = &doc.schema;
        let required = required(schema);
        for (name, property) in schema["properties"].as_object().into_iter().flatten() {
            let mut rule = Vec::new();
            if required.contains(&name.as_str()) {
                rule.push("required".to_string());
            }
            match (
                property.get("type").and_then(Value::as_str),
                property.get("minLength"),
            ) {
                (Some("string"), Some(_)) => rule.push("non-empty string".into()),
                (Some("string"), None) => rule.push("string".into()),
                (Some("object"), _) => rule.push("object".into()),
                (Some("array"), _) => rule.push("array".into()),
                (Some(other), _) => rule.push(other.into()),
                (None, _) => rule.push("any".into()),
            }
            if let Some(c) = property.get("const") {
                rule.push(format!("equal to `{}`", c.as_str().unwrap_or_default()));
            }
            if let Some(options) = property.get("enum").and_then(Value::as_array) {
                let names: Vec<String> = options
                    .iter()
                    .map(|o| format!("`{}`", o.as_str().unwrap_or_default()))
                    .collect();
                rule.push(format!("one of {}", names.join(", ")));
            }
            let description = property["description"].as_str().unwrap_or_default();
            out.push_str(&format!(
                "| `{name}` | {} | {description} |\n",
                rule.join(", ")
            ));
        }
        // The whole envelope, as published: tests/readme.rs publishes each one.
        let envelope = json!({
            "id": format!("evt_example-{}", doc.event.as_str().replace(':', "-")),
            "event": doc.event.as_str(),
            "accountId": "acme",
            "occurredAt": "2026-11-25T12:00:00Z",
            "data": doc.example,
        });
        out.push_str(&format!(
            "\n```json\n{}\n```\n\n",
            serde_json::to_string_pretty(&envelope).expect("examples serialise")
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_schema_uses_only_the_keywords_the_check_understands() {
        fn walk(schema: &Value, at: &str) {
            let Some(map) = schema.as_object() else {
                panic!("{at} is not a schema object")
            };
            for (key, value) in map {
                assert!(
                    KEYWORDS.contains(&key.as_str()),
                    "{at}: {key} is not understood"
                );
                if key == "type" {
                    let known = [
                        "object", "array", "string", "boolean", "number", "integer", "null",
                    ];
                    assert!(
                        known.contains(&value.as_str().unwrap_or("")),
                        "{at}: type {value}"
                    );
                }
                match key.as_str() {
                    "properties" => {
                        for (name, property) in value.as_object().unwrap() {
                            walk(property, &format!("{at}.{name}"));
                        }
                    }
                    "items" => walk(value, &format!("{at}[]")),
                    _ => {}
                }
            }
        }
        for (name, schema) in schemas() {
            walk(&schema, &name);
        }
    }

    #[test]
    fn every_example_passes_its_own_schema() {
        for doc in all() {
            validate(doc.event, &doc.example).unwrap_or_else(|e| panic!("{:?}: {e}", doc.event));
        }
    }

    #[test]
    fn mismatches_name_the_first_path() {
        let case = |data: Value| validate(EventType::CaseStatusClosed, &data).unwrap_err();
        assert_eq!(case(json!([])).field, "data");
        assert_eq!(case(json!({})).field, "data.caseId");
        assert_eq!(
            case(json!({"caseId": ""})).message,
            "must be a non-empty string"
        );
        let e = case(json!({"caseId": "1", "status": "open"}));
        assert_eq!(
            (e.field.as_str(), e.message.as_str()),
            ("data.status", "must be \"closed\"")
        );
        assert_eq!(
            case(json!({"caseId": "1", "messages": {}})).field,
            "data.messages"
        );
        let agent = |data: Value| validate(EventType::AgentStatus, &data).unwrap_err();
        assert_eq!(
            agent(json!({"agentId": 7, "status": "x"})).field,
            "data.agentId"
        );
        assert_eq!(agent(json!({"agentId": "a"})).field, "data.status");
        validate(
            EventType::CaseNew,
            &json!({"caseId": "1", "extra": {"any": [1]}}),
        )
        .unwrap();
    }

    #[test]
    fn schema_names_are_pascal_case() {
        assert_eq!(
            schema_name(EventType::CaseStatusClosed),
            "CaseStatusClosedData"
        );
        assert_eq!(schema_name(EventType::AgentStatus), "AgentStatusData");
    }
}
