//! The API's contract: every operation of every function, and the OpenAPI 3.1 document built
//! from them (`GET /api/v1/openapi.json`).
//!
//! `OPERATIONS` is the one list of what the API serves. The functions route through it
//! (`route`): a path it does not list is a 404 and a method it does not list a 405, so the
//! document cannot promise an operation the code does not serve, nor the code serve one the
//! document leaves out. The schemas come from the request and response types
//! (`api::types`); the event types' schemas from `crate::catalogue`.

use serde_json::{json, Map, Value};
use utoipa::OpenApi;

use super::types::*;

/// Which API key an operation takes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Access {
    /// No key: the document and the event-type catalogue.
    Public,
    /// Any key, read-only keys included.
    Read,
    /// A key that may write (not a read-only one).
    Write,
}

/// Which function serves an operation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Function {
    WebhooksApi,
    InboundResolver,
}

/// A query parameter.
pub struct Query {
    pub name: &'static str,
    pub description: &'static str,
    /// Its JSON Schema.
    pub schema: fn() -> Value,
}

/// A request body: its schema's name in `components.schemas`, and named examples.
pub struct RequestBody {
    pub schema: &'static str,
    pub required: bool,
    pub examples: &'static [(&'static str, &'static str)],
}

/// A success answer.
pub struct Success {
    pub status: u16,
    pub description: &'static str,
    /// The body's schema name; `None` for no body (204).
    pub schema: Option<&'static str>,
    pub headers: &'static [&'static str],
}

/// One operation: a method on a path template (`{id}` stands for a segment).
pub struct Operation {
    pub function: Function,
    pub method: &'static str,
    pub path: &'static str,
    pub id: &'static str,
    pub tag: &'static str,
    pub summary: &'static str,
    pub description: &'static str,
    pub access: Access,
    pub query: &'static [Query],
    pub body: Option<RequestBody>,
    pub success: &'static [Success],
    /// The error statuses it can answer with (besides API Gateway's own 429, 500 and 503,
    /// documented on every operation).
    pub errors: &'static [u16],
}

/// Everything under the API's base path.
pub const BASE: &str = "/api/v1";

fn limit_schema() -> Value {
    json!({"type": "integer", "minimum": 1, "maximum": 100, "default": 20})
}

/// A list's cursor: the id of the previous page's last item.
macro_rules! cursor {
    ($prefix:literal) => {
        Query {
            name: "cursor",
            description: "The previous page's `nextCursor`.",
            schema: || {
                json!({"type": "string", "pattern": concat!("^", $prefix, "_[0-9A-HJKMNP-TV-Z]{26}$")})
            },
        }
    };
}

const LIMIT: Query = Query {
    name: "limit",
    description: "Items per page, 1-100 (default 20). A filtered page may hold fewer, even none, and still have a `nextCursor`.",
    schema: limit_schema,
};

const ETAG: &str = "ETag";

/// Every operation the API serves.
pub const OPERATIONS: &[Operation] = &[
    Operation {
        function: Function::WebhooksApi,
        method: "get",
        path: "/openapi.json",
        id: "getOpenApi",
        tag: "Contract",
        summary: "This document",
        description: "The API's OpenAPI 3.1 document. Needs no key.",
        access: Access::Public,
        query: &[],
        body: None,
        success: &[Success {
            status: 200,
            description: "The document.",
            schema: Some("OpenApiDocument"),
            headers: &[],
        }],
        errors: &[],
    },
    Operation {
        function: Function::WebhooksApi,
        method: "get",
        path: "/event-types",
        id: "listEventTypes",
        tag: "Contract",
        summary: "The event types",
        description: "The case and agent events outbound webhooks can subscribe to, each with a description, the JSON Schema its `data` is checked against, and an example. Needs no key.",
        access: Access::Public,
        query: &[],
        body: None,
        success: &[Success {
            status: 200,
            description: "The catalogue.",
            schema: Some("EventTypeList"),
            headers: &[],
        }],
        errors: &[],
    },
    Operation {
        function: Function::WebhooksApi,
        method: "get",
        path: "/webhook",
        id: "listWebhooks",
        tag: "Webhooks",
        summary: "List webhooks",
        description: "The account's webhooks in creation order, credentials masked. Follow `nextCursor` until it is `null`: every match comes exactly once.",
        access: Access::Read,
        query: &[
            Query {
                name: "flow",
                description: "Only webhooks of this flow.",
                schema: || json!({"type": "string", "enum": ["inbound", "outbound"]}),
            },
            Query {
                name: "status",
                description: "Only webhooks of this status.",
                schema: || json!({"type": "string", "enum": ["active", "inactive"]}),
            },
            LIMIT,
            cursor!("wh"),
        ],
        body: None,
        success: &[Success {
            status: 200,
            description: "One page.",
            schema: Some("WebhookPage"),
            headers: &[],
        }],
        errors: &[400, 401],
    },
    Operation {
        function: Function::WebhooksApi,
        method: "post",
        path: "/webhook",
        id: "createWebhook",
        tag: "Webhooks",
        summary: "Create a webhook",
        description: "An inbound or outbound webhook. The answer shows the HMAC secret in full, the one time it is shown (rotate-secret is the other).",
        access: Access::Write,
        query: &[],
        body: Some(RequestBody {
            schema: "WebhookCreate",
            required: true,
            examples: &[
                (
                    "outbound",
                    r#"{"name": "CRM sync", "flow": "outbound", "url": "https://crm.example.com/hooks", "notificationEmail": "ops@example.com", "events": ["case:new", "case:status:closed"]}"#,
                ),
                (
                    "inbound",
                    r#"{"name": "Order status", "flow": "inbound", "url": "https://shop.example.com/orders?email={{visitor.email}}", "notificationEmail": "ops@example.com", "method": "GET", "variables": ["order.status", "order.items[0].sku"], "fallbackResponse": {"order": {"status": "unknown"}}, "security": {"type": "bearer", "token": "shop-api-token"}}"#,
                ),
                (
                    "receiver",
                    r#"{"name": "Case feed", "flow": "outbound", "url": "https://receiver.example.com/hookline", "notificationEmail": "ops@example.com", "events": ["case:new", "case:status:closed"]}"#,
                ),
            ],
        }),
        success: &[Success {
            status: 201,
            description: "Created; `Location` names it.",
            schema: Some("WebhookOut"),
            headers: &[ETAG, "Location"],
        }],
        errors: &[400, 401, 403, 409, 413],
    },
    Operation {
        function: Function::WebhooksApi,
        method: "post",
        path: "/webhook/test",
        id: "testDraftWebhook",
        tag: "Webhooks",
        summary: "Test a webhook before saving it",
        description: "One call of an unsaved webhook: inbound, its answer and every variable path in it; outbound, a signed sample event. Nothing is saved or logged.",
        access: Access::Write,
        query: &[],
        body: Some(RequestBody {
            schema: "DraftTestIn",
            required: true,
            examples: &[(
                "inbound",
                r#"{"webhook": {"flow": "inbound", "url": "https://shop.example.com/orders?email={{visitor.email}}"}, "variables": {"visitor": {"email": "jhon@example.com"}}}"#,
            )],
        }),
        success: &[Success {
            status: 200,
            description: "The call's outcome, whatever the receiver answered.",
            schema: Some("TestOut"),
            headers: &[],
        }],
        errors: &[400, 401, 403, 409, 413],
    },
    Operation {
        function: Function::WebhooksApi,
        method: "get",
        path: "/webhook/{id}",
        id: "getWebhook",
        tag: "Webhooks",
        summary: "Read a webhook",
        description: "Credentials masked. The `ETag` is its version.",
        access: Access::Read,
        query: &[],
        body: None,
        success: &[Success {
            status: 200,
            description: "The webhook.",
            schema: Some("WebhookOut"),
            headers: &[ETAG],
        }],
        errors: &[401, 404],
    },
    Operation {
        function: Function::WebhooksApi,
        method: "put",
        path: "/webhook/{id}",
        id: "updateWebhook",
        tag: "Webhooks",
        summary: "Update a webhook",
        description: "A partial update: fields left out keep their values. With `If-Match: \"<version>\"` (or `version` in the body) a write based on a stale read gets 409 and changes nothing. A read sent back as it is changes nothing.",
        access: Access::Write,
        query: &[],
        body: Some(RequestBody {
            schema: "WebhookUpdate",
            required: true,
            examples: &[("deactivate", r#"{"status": "inactive"}"#)],
        }),
        success: &[Success {
            status: 200,
            description: "The webhook after the update, credentials masked.",
            schema: Some("WebhookOut"),
            headers: &[ETAG],
        }],
        errors: &[400, 401, 403, 404, 409, 413],
    },
    Operation {
        function: Function::WebhooksApi,
        method: "delete",
        path: "/webhook/{id}",
        id: "deleteWebhook",
        tag: "Webhooks",
        summary: "Delete a webhook",
        description: "Its queued deliveries are not sent. With `If-Match`, only the version read.",
        access: Access::Write,
        query: &[],
        body: None,
        success: &[Success {
            status: 204,
            description: "Deleted.",
            schema: None,
            headers: &[],
        }],
        errors: &[400, 401, 403, 404, 409],
    },
    Operation {
        function: Function::WebhooksApi,
        method: "post",
        path: "/webhook/{id}/rotate-secret",
        id: "rotateWebhookSecret",
        tag: "Webhooks",
        summary: "Rotate the signing secret",
        description: "A new HMAC secret, shown in full; the previous one keeps signing for 24 hours (`security.previousSecretExpiresAt`). Send `secret` to choose it.",
        access: Access::Write,
        query: &[],
        body: Some(RequestBody {
            schema: "RotateSecretIn",
            required: false,
            examples: &[],
        }),
        success: &[Success {
            status: 200,
            description: "The webhook with its new secret in full.",
            schema: Some("WebhookOut"),
            headers: &[ETAG],
        }],
        errors: &[400, 401, 403, 404, 409, 413],
    },
    Operation {
        function: Function::WebhooksApi,
        method: "post",
        path: "/webhook/{id}/test",
        id: "testWebhook",
        tag: "Webhooks",
        summary: "Test a webhook",
        description: "Inbound: one call with sample variables, its answer and every variable path found in it (logged). Outbound: one signed sample event (recorded nowhere). `webhook` holds unsaved edits to test instead of what is saved.",
        access: Access::Write,
        query: &[],
        body: Some(RequestBody {
            schema: "WebhookTestIn",
            required: false,
            examples: &[
                (
                    "variables",
                    r#"{"variables": {"visitor.email": "ada@example.com"}}"#,
                ),
                ("none", r#"{"variables": {}}"#),
            ],
        }),
        success: &[Success {
            status: 200,
            description: "The call's outcome, whatever the receiver answered.",
            schema: Some("TestOut"),
            headers: &[],
        }],
        errors: &[400, 401, 403, 404, 409, 413],
    },
    Operation {
        function: Function::WebhooksApi,
        method: "get",
        path: "/webhook/{id}/logs",
        id: "listWebhookLogs",
        tag: "Inbound",
        summary: "An inbound webhook's log",
        description: "Resolutions and tests, newest first, kept 30 days.",
        access: Access::Read,
        query: &[LIMIT, cursor!("inb")],
        body: None,
        success: &[Success {
            status: 200,
            description: "One page.",
            schema: Some("ActivityPage"),
            headers: &[],
        }],
        errors: &[400, 401, 404],
    },
    Operation {
        function: Function::InboundResolver,
        method: "post",
        path: "/webhook/{id}/resolve",
        id: "resolveWebhook",
        tag: "Inbound",
        summary: "Resolve an inbound webhook",
        description: "The chat asks for live data: Hookline calls the URL with the variables (up to three tries) and answers its data, or the fallback response, by the deadline. Read-only keys may resolve. Served by the inbound-resolver function.",
        access: Access::Read,
        query: &[],
        body: Some(RequestBody {
            schema: "ResolveIn",
            required: false,
            examples: &[(
                "variables",
                r#"{"variables": {"case": {"id": "72"}, "visitor.email": "ada@example.com"}}"#,
            )],
        }),
        success: &[Success {
            status: 200,
            description: "The data, from the webhook or the fallback (`source`).",
            schema: Some("ResolutionOut"),
            headers: &[],
        }],
        errors: &[400, 401, 404, 413, 429],
    },
    Operation {
        function: Function::WebhooksApi,
        method: "get",
        path: "/webhook/{id}/deliveries",
        id: "listDeliveries",
        tag: "Deliveries",
        summary: "An outbound webhook's deliveries",
        description: "Newest event first, without data or answers; kept 30 days.",
        access: Access::Read,
        query: &[
            Query {
                name: "status",
                description: "Only deliveries in this state.",
                schema: || json!({"type": "string", "enum": ["pending", "succeeded", "failed"]}),
            },
            LIMIT,
            cursor!("dlv"),
        ],
        body: None,
        success: &[Success {
            status: 200,
            description: "One page.",
            schema: Some("DeliveryPage"),
            headers: &[],
        }],
        errors: &[400, 401, 404],
    },
    Operation {
        function: Function::WebhooksApi,
        method: "get",
        path: "/webhook/{id}/deliveries/{deliveryId}",
        id: "getDelivery",
        tag: "Deliveries",
        summary: "Read a delivery",
        description: "The event with its data (where kept) and every attempt with the receiver's answer.",
        access: Access::Read,
        query: &[],
        body: None,
        success: &[Success {
            status: 200,
            description: "The delivery.",
            schema: Some("DeliveryOut"),
            headers: &[],
        }],
        errors: &[401, 404],
    },
    Operation {
        function: Function::WebhooksApi,
        method: "post",
        path: "/webhook/{id}/deliveries/{deliveryId}/retry",
        id: "retryDelivery",
        tag: "Deliveries",
        summary: "Resend a delivery now",
        description: "One new attempt, under the same `webhook-id`.",
        access: Access::Write,
        query: &[],
        body: None,
        success: &[Success {
            status: 200,
            description: "The attempt, and the delivery after it.",
            schema: Some("RetryOut"),
            headers: &[],
        }],
        errors: &[401, 403, 404, 409],
    },
    Operation {
        function: Function::WebhooksApi,
        method: "post",
        path: "/webhook/{id}/recover",
        id: "recoverDeliveries",
        tag: "Deliveries",
        summary: "Resend failed deliveries",
        description: "Every failed delivery of events since `since` is queued for one more attempt; deliveries are recovered for 14 days, so an earlier time means all of them.",
        access: Access::Write,
        query: &[],
        body: Some(RequestBody {
            schema: "RecoverIn",
            required: true,
            examples: &[("since", r#"{"since": "2026-11-25T12:00:00Z"}"#)],
        }),
        success: &[Success {
            status: 202,
            description: "How many were queued.",
            schema: Some("RecoverOut"),
            headers: &[],
        }],
        errors: &[400, 401, 403, 404, 413],
    },
    Operation {
        function: Function::WebhooksApi,
        method: "post",
        path: "/events",
        id: "publishEvent",
        tag: "Events",
        summary: "Publish an event",
        description: "Each active outbound webhook of the account subscribed to it gets it as a signed POST. `data` is checked against its type's schema (`GET /event-types`). Publishing an id again delivers nothing new.",
        access: Access::Write,
        query: &[],
        body: Some(RequestBody {
            schema: "PublishIn",
            required: true,
            examples: &[
                ("case:new", r#"{"event": "case:new", "data": {"caseId": "72"}}"#),
                (
                    "case:status:closed",
                    r#"{"id": "evt_crm-42", "event": "case:status:closed", "data": {"caseId": "72", "status": "closed", "contact": {"id": "5", "fields": {"name": "Jhon"}}}}"#,
                ),
            ],
        }),
        success: &[Success {
            status: 202,
            description: "Accepted: queued for delivery.",
            schema: Some("PublishOut"),
            headers: &[],
        }],
        errors: &[400, 401, 403, 413],
    },
];

/// The operation a request names, and the values of its path's `{...}` segments. `path` is
/// the request's path; a stage prefix before `/api/v1/` is allowed. A literal segment wins
/// over a parameter (`/webhook/test` is not a webhook id).
pub fn route(path: &str) -> Option<(&'static str, Vec<&str>)> {
    let segments = super::api_segments(path)?;
    let mut best: Option<(&'static str, Vec<&str>)> = None;
    for op in OPERATIONS {
        let template: Vec<&str> = op.path.trim_start_matches('/').split('/').collect();
        if template.len() != segments.len() {
            continue;
        }
        let mut params = Vec::new();
        let matches = template.iter().zip(&segments).all(|(t, s)| {
            if t.starts_with('{') {
                params.push(*s);
                true
            } else {
                t == s
            }
        });
        let better = best.as_ref().is_none_or(|(_, p)| params.len() < p.len());
        if matches && better {
            best = Some((op.path, params));
        }
    }
    best
}

/// The operation for a method on a path template, if the API serves it.
pub fn operation(path: &str, method: &str) -> Option<&'static Operation> {
    OPERATIONS
        .iter()
        .find(|op| op.path == path && op.method.eq_ignore_ascii_case(method))
}

/// The methods a path template takes, for a 405's `Allow`.
pub fn allowed(path: &str) -> String {
    OPERATIONS
        .iter()
        .filter(|op| op.path == path)
        .map(|op| op.method.to_ascii_uppercase())
        .collect::<Vec<_>>()
        .join(", ")
}

/// The component schemas derived from the API types.
#[derive(OpenApi)]
#[openapi(components(schemas(
    WebhookOut,
    InboundWebhookOut,
    OutboundWebhookOut,
    SecurityOut,
    WebhookPage,
    WebhookCreate,
    InboundWebhookCreate,
    OutboundWebhookCreate,
    WebhookUpdate,
    SecurityIn,
    VariablePathIn,
    InboundWebhookDraft,
    OutboundWebhookDraft,
    RotateSecretIn,
    AttemptOut,
    DeliveryEventOut,
    DeliveryOut,
    DeliveryPage,
    RetryOut,
    RecoverIn,
    RecoverOut,
    OutboundTestOut,
    InboundTestOut,
    TestOut,
    ResolveIn,
    ResolutionOut,
    WebhookTestIn,
    DraftTestIn,
    InboundDraftTestIn,
    OutboundDraftTestIn,
    ActivityKind,
    ActivityOut,
    ActivityPage,
    PublishIn,
    PublishOut,
    EventTypeOut,
    EventTypeList,
    ErrorBody,
    ErrorDetail,
    ErrorType,
)))]
struct Schemas;

const TITLE: &str = "Hookline API";

const DESCRIPTION: &str = "Webhooks for a live-chat and helpdesk product: inbound webhooks the chat pulls live data through, and outbound webhooks that receive signed case and agent events.\n\nEvery operation but this document and the event-type catalogue takes an API key, `Authorization: Bearer hl_...`, and is scoped to the key's account (another account's webhook is a 404). Keys are read-only or read-write: a read-only key may read and resolve; anything else it asks for is a 403. Each operation names the key it needs as the role of its `apiKey` requirement (`read` or `write`).\n\nErrors answer `{\"error\": {\"type\", \"message\", \"field\"}}`; `type` is stable and one per status, and `field` names the offending field by its path (`security.password`, `events[1]`).";

/// The whole document.
pub fn document() -> Value {
    let mut schemas = serde_json::to_value(Schemas::openapi())
        .expect("documents serialise")
        .pointer("/components/schemas")
        .cloned()
        .unwrap_or_else(|| json!({}));
    tighten(&mut schemas);
    let schemas = schemas.as_object_mut().expect("schemas are an object");
    string_rules(schemas);
    schemas.insert(
        "OpenApiDocument".into(),
        json!({
            "type": "object",
            "description": "An OpenAPI 3.1 document.",
            "required": ["openapi", "info", "paths"],
            "properties": {
            "openapi": {"type": "string", "pattern": "^3\\.1\\."},
            "info": {"type": "object"},
            "paths": {"type": "object"}
        }
        }),
    );
    schemas.insert("GatewayMessage".into(), json!({
        "type": "object",
        "description": "An answer from API Gateway itself, before any function runs: throttling (429), or a function that failed or took too long (500, 503).",
        "required": ["message"],
        "properties": {"message": {"type": "string"}}
    }));
    for (name, schema) in crate::catalogue::schemas() {
        schemas.insert(name, schema);
    }
    publish_variants(schemas);

    let mut paths = Map::new();
    for op in OPERATIONS {
        let path = format!("{BASE}{}", op.path);
        let item = paths.entry(path).or_insert_with(|| json!({}));
        item[op.method] = operation_object(op);
    }

    json!({
        "openapi": "3.1.0",
        "info": {
            "title": TITLE,
            "version": env!("CARGO_PKG_VERSION"),
            "description": DESCRIPTION,
            "license": {"name": "Apache-2.0", "identifier": "Apache-2.0"}
        },
        // Relative to this document (`<base>/api/v1/openapi.json`): the base it was served
        // under, a stage's name included.
        "servers": [{"url": "../..", "description": "The API that serves this document."}],
        "tags": [
            {"name": "Webhooks", "description": "Create, read, update, test and delete webhooks."},
            {"name": "Inbound", "description": "Resolving inbound webhooks, and their log."},
            {"name": "Deliveries", "description": "Outbound webhooks' deliveries: the log, resends and recovery."},
            {"name": "Events", "description": "Publishing case and agent events."},
            {"name": "Contract", "description": "This document and the event-type catalogue."}
        ],
        "paths": paths,
        "components": {
            "schemas": schemas,
            "responses": error_responses(),
            "headers": headers(),
            "securitySchemes": {
                "apiKey": {
                    "type": "http",
                    "scheme": "bearer",
                    "bearerFormat": "hl_ and 43 characters",
                    "description": "An API key (`make admin ARGS='keys create ...'`). Roles: `read` (any key) or `write` (not a read-only key)."
                }
            }
        }
    })
}

fn operation_object(op: &Operation) -> Value {
    let mut parameters: Vec<Value> = Vec::new();
    for name in op
        .path
        .split('/')
        .filter_map(|s| s.strip_prefix('{')?.strip_suffix('}'))
    {
        let (description, pattern, example) = match name {
            "deliveryId" => (
                "The delivery's id.",
                "^dlv_[0-9A-HJKMNP-TV-Z]{26}$",
                "dlv_01M88KJSTT8P4MWN5F9FJNTJG7",
            ),
            _ => (
                "The webhook's id.",
                "^wh_[0-9A-HJKMNP-TV-Z]{26}$",
                "wh_01M88H4BD9G17PXN3VBVH0G0ZQ",
            ),
        };
        parameters.push(json!({
            "name": name, "in": "path", "required": true, "description": description,
            "schema": {"type": "string", "pattern": pattern}, "example": example
        }));
    }
    for q in op.query {
        parameters.push(json!({
            "name": q.name, "in": "query", "required": false, "description": q.description,
            "schema": (q.schema)()
        }));
    }
    let conditional = matches!(
        op.id,
        "updateWebhook" | "deleteWebhook" | "rotateWebhookSecret"
    );
    if conditional {
        parameters.push(json!({
            "name": "If-Match", "in": "header", "required": false,
            "description": "The version read (`\"3\"`, `3` or `W/\"3\"`): the change is made only if the webhook is still at it, else 409.",
            "schema": {"type": "string", "pattern": "^(W/)?\"?[0-9]{1,19}\"?$"}
        }));
    }

    let mut responses = Map::new();
    for s in op.success {
        let mut response = json!({"description": s.description});
        if let Some(schema) = s.schema {
            response["content"] = json!({"application/json": {"schema": {"$ref": format!("#/components/schemas/{schema}")}}});
        }
        if !s.headers.is_empty() {
            let headers: Map<String, Value> = s
                .headers
                .iter()
                .map(|h| {
                    (
                        h.to_string(),
                        json!({"$ref": format!("#/components/headers/{h}")}),
                    )
                })
                .collect();
            response["headers"] = Value::Object(headers);
        }
        if op.id == "createWebhook" {
            response["links"] = created_links();
        }
        responses.insert(s.status.to_string(), response);
    }
    let mut errors: Vec<u16> = op.errors.to_vec();
    // API Gateway answers these itself, on any route.
    errors.extend([429, 500, 503]);
    errors.sort_unstable();
    errors.dedup();
    for status in errors {
        responses.insert(
            status.to_string(),
            json!({"$ref": format!("#/components/responses/{}", response_name(status))}),
        );
    }

    let mut object = json!({
        "operationId": op.id,
        "tags": [op.tag],
        "summary": op.summary,
        "description": op.description,
        "responses": responses,
    });
    if !parameters.is_empty() {
        object["parameters"] = Value::Array(parameters);
    }
    object["security"] = match op.access {
        Access::Public => json!([]),
        Access::Read => json!([{"apiKey": ["read"]}]),
        Access::Write => json!([{"apiKey": ["write"]}]),
    };
    if let Some(body) = &op.body {
        let mut media =
            json!({"schema": {"$ref": format!("#/components/schemas/{}", body.schema)}});
        if !body.examples.is_empty() {
            let examples: Map<String, Value> = body
                .examples
                .iter()
                .map(|(name, text)| {
                    let value: Value = serde_json::from_str(text).expect("examples are JSON");
                    (name.to_string(), json!({"value": value}))
                })
                .collect();
            media["examples"] = Value::Object(examples);
        }
        object["requestBody"] = json!({
            "required": body.required,
            "content": {"application/json": media}
        });
    }
    if op.function == Function::InboundResolver {
        object["x-hookline-function"] = json!("inbound-resolver");
    }
    object
}

/// From a created webhook to the operations on it (schemathesis follows these): those every
/// webhook takes, whatever its flow (no resolve, no deliveries).
fn created_links() -> Value {
    const ANY_FLOW: [&str; 6] = [
        "getWebhook",
        "updateWebhook",
        "deleteWebhook",
        "rotateWebhookSecret",
        "testWebhook",
        "listWebhookLogs",
    ];
    let mut links = Map::new();
    for op in OPERATIONS.iter().filter(|op| ANY_FLOW.contains(&op.id)) {
        let name = format!("{}{}", op.id[..1].to_ascii_uppercase(), &op.id[1..]);
        links.insert(
            name,
            json!({"operationId": op.id, "parameters": {"id": "$response.body#/id"}}),
        );
    }
    Value::Object(links)
}

fn response_name(status: u16) -> &'static str {
    match status {
        400 => "BadRequest",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "NotFound",
        405 => "MethodNotAllowed",
        409 => "Conflict",
        413 => "PayloadTooLarge",
        429 => "TooManyRequests",
        500 => "ServerError",
        503 => "Unavailable",
        _ => panic!("no documented response for {status}"),
    }
}

/// One response per error status, its body the error schema with the status's `type`. 429 and
/// 500 may also come from API Gateway, and 503 only does.
fn error_responses() -> Value {
    let mut responses = Map::new();
    for kind in ErrorType::ALL {
        let status = kind.status();
        if status == 405 {
            // Not an operation's answer: what a path gives for a method it does not take.
            continue;
        }
        let ours = json!({"allOf": [
            {"$ref": "#/components/schemas/ErrorBody"},
            {"type": "object", "properties": {"error": {"type": "object", "properties": {"type": {"const": kind.as_str()}}}}}
        ]});
        let schema = match status {
            429 | 500 => json!({"anyOf": [ours, {"$ref": "#/components/schemas/GatewayMessage"}]}),
            _ => ours,
        };
        let mut response = json!({
            "description": kind.description(),
            "content": {"application/json": {"schema": schema}}
        });
        match status {
            401 => {
                response["headers"] =
                    json!({"WWW-Authenticate": {"$ref": "#/components/headers/WWW-Authenticate"}})
            }
            429 => {
                response["headers"] =
                    json!({"Retry-After": {"$ref": "#/components/headers/Retry-After"}})
            }
            _ => {}
        }
        responses.insert(response_name(status).into(), response);
    }
    responses.insert("Unavailable".into(), json!({
        "description": "From API Gateway: the function did not answer in time. Safe to retry reads; for writes, read first.",
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/GatewayMessage"}}}
    }));
    Value::Object(responses)
}

fn headers() -> Value {
    json!({
        "ETag": {"description": "The webhook's version, quoted: send it back as `If-Match`.", "schema": {"type": "string", "pattern": "^\"[0-9]+\"$"}},
        "Location": {"description": "The new webhook's path.", "schema": {"type": "string"}},
        "WWW-Authenticate": {"description": "`Bearer`.", "schema": {"type": "string"}},
        "Retry-After": {"description": "Seconds to wait before retrying.", "schema": {"type": "integer", "minimum": 1}}
    })
}

/// The rules of request strings, as JSON Schema patterns (ECMA-262, which Python's `re` reads
/// alike). Each fixes its string's length too: a pattern beside `minLength`/`maxLength` sends
/// schemathesis searching for matches of an exact length, minutes per field. Each says what the
/// parsers in `model::input` and `events` accept exactly, or, where noted, the forms they always
/// accept (what the pattern matches is taken; the server takes some more, as each description
/// says).
pub mod patterns {
    /// Control characters (`char::is_control`).
    macro_rules! c {
        () => {
            r"\x00-\x1f\x7f-\x9f"
        };
    }
    /// White space that is not a control character (`char::is_whitespace`).
    macro_rules! ws {
        () => {
            r" \u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000"
        };
    }
    /// A `{{variable}}` placeholder.
    macro_rules! placeholder {
        () => {
            r"\{\{[A-Za-z_][A-Za-z0-9_]{0,20}(\.[A-Za-z_][A-Za-z0-9_]{0,20}){0,3}\}\}"
        };
    }
    /// The scheme, a host name (up to five labels, not punycode, not `localhost`) and a port.
    macro_rules! origin {
        () => {
            concat!(
                r"https?://((?![Xx][Nn]--)[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.){1,4}",
                r"(?![Ll][Oo][Cc][Aa][Ll][Hh][Oo][Ss][Tt]([:/?]|$))[A-Za-z]{2,24}",
                r"(:([1-9][0-9]{0,3}|[1-5][0-9]{4}|6[0-4][0-9]{3}|65[0-4][0-9]{2}|655[0-2][0-9]|6553[0-5]))?"
            )
        };
    }
    /// A character of a path segment (RFC 3986 `pchar`).
    macro_rules! pchar {
        () => {
            r"([A-Za-z0-9._~!$&'()*+,;=:@-]|%[0-9A-Fa-f]{2})"
        };
    }
    /// A character of a query name or value (no `&` or `=`).
    macro_rules! qchar {
        () => {
            r"[A-Za-z0-9._~!$'()*+,;:@/?-]"
        };
    }
    /// A credential as a read shows it masked (`whsec_****abcd`, `****abcd`, `********`): on
    /// an update it means "keep".
    macro_rules! masked {
        () => {
            r"(whsec_)?\*{4}[ -~]{4}|\*{8}"
        };
    }
    /// Base64 of 24 to 64 bytes, with padding and zero trailing bits, as the parser decodes.
    macro_rules! base64_24_to_64 {
        () => {
            r"(([A-Za-z0-9+/]{4}){8,20}([A-Za-z0-9+/]{2}[AEIMQUYcgkosw048]=|[A-Za-z0-9+/][AQgw]==)?|([A-Za-z0-9+/]{4}){21}([A-Za-z0-9+/][AQgw]==)?)"
        };
    }
    macro_rules! hmac_secret {
        () => {
            concat!(
                r"(?!.*\*\*\*\*)(whsec_",
                base64_24_to_64!(),
                r"|(?!whsec_)[!-~]{16,128})"
            )
        };
    }

    /// 1-200 characters, no control characters, not starting or ending with a space.
    pub const NAME: &str = concat!(
        "^[^",
        ws!(),
        c!(),
        "]([^",
        c!(),
        "]{0,198}[^",
        ws!(),
        c!(),
        "])?$"
    );
    /// An outbound webhook's URL, always taken (the server also takes IP addresses of public
    /// hosts, longer paths and other query forms, up to 2048 bytes).
    pub const URL_OUTBOUND: &str = concat!(
        "^",
        origin!(),
        "(/",
        pchar!(),
        r"{0,30}){0,12}(\?(",
        qchar!(),
        "|[&=]|%[0-9A-Fa-f]{2}){0,150})?$"
    );
    /// An inbound webhook's URL, always taken: a path segment or a query value may be a
    /// placeholder (the server also takes placeholders within segments and values).
    pub const URL_INBOUND: &str = concat!(
        "^",
        origin!(),
        "(/(",
        pchar!(),
        "{0,30}|",
        placeholder!(),
        r")){0,10}(\?",
        qchar!(),
        "{1,20}(=(",
        qchar!(),
        "{0,40}|",
        placeholder!(),
        "))?(&",
        qchar!(),
        "{1,20}(=(",
        qchar!(),
        "{0,40}|",
        placeholder!(),
        "))?){0,4})?$"
    );
    /// An e-mail address of up to six domain labels, always taken (the server also takes
    /// longer labels and non-ASCII letters, up to 254 bytes in all).
    pub const EMAIL: &str = r"^[!-?A-~]{1,64}@[A-Za-z0-9]([A-Za-z0-9-]{0,27}[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]{0,27}[A-Za-z0-9])?){1,5}$";
    /// A variable path of up to twelve parts, always taken (the server takes any number, up to
    /// 256 characters).
    pub const VARIABLE_PATH: &str = concat!(
        r"^(\[[0-9]{1,9}\]|[^.\[\]",
        c!(),
        r"]{1,20})(\.[^.\[\]",
        c!(),
        r"]{1,20}|\[[0-9]{1,9}\]){0,11}$"
    );
    /// An HMAC secret of one's own: `whsec_` and base64, or 16-128 printable characters
    /// without spaces, never what looks masked (`****`).
    pub const HMAC_SECRET: &str = concat!("^", hmac_secret!(), "$");
    /// The same, or on an update the masked value a read showed.
    pub const HMAC_SECRET_OR_MASKED: &str = concat!("^(", masked!(), "|", hmac_secret!(), ")$");
    pub const USERNAME: &str = concat!("^[^:", c!(), "]{1,128}$");
    pub const PASSWORD: &str = r"^(?!.*\*\*\*\*)[ -~]{1,256}$";
    pub const TOKEN: &str = r"^(?!.*\*\*\*\*)[!-~]{1,4096}$";
    pub const HEADER_VALUE: &str = r"^(?!.*\*\*\*\*)[ -~]{1,4096}$";
    pub const PASSWORD_OR_MASKED: &str =
        concat!(r"^(", masked!(), r"|(?!.*\*\*\*\*)[ -~]{1,256})$");
    pub const TOKEN_OR_MASKED: &str = concat!(r"^(", masked!(), r"|(?!.*\*\*\*\*)[!-~]{1,4096})$");
    pub const HEADER_VALUE_OR_MASKED: &str =
        concat!(r"^(", masked!(), r"|(?!.*\*\*\*\*)[ -~]{1,4096})$");
    pub const EVENT_ID: &str = "^[A-Za-z0-9_-]{1,64}$";
    pub const WEBHOOK_ID: &str = "^wh_[0-9A-HJKMNP-TV-Z]{26}$";

    /// An HTTP header name, not one Hookline sets itself (`model::RESERVED_HEADERS`, in any case).
    pub fn header_name() -> String {
        let reserved: Vec<String> = crate::model::RESERVED_HEADERS
            .iter()
            .map(|name| {
                name.chars()
                    .map(|c| match c {
                        'a'..='z' => format!("[{}{c}]", c.to_ascii_uppercase()),
                        c => c.to_string(),
                    })
                    .collect()
            })
            .collect();
        format!(
            r"^(?!({})$)[A-Za-z0-9!#$%&'*+.^_`|~-]{{1,128}}$",
            reserved.join("|")
        )
    }
}

/// Puts each request string's pattern on its schema, and makes `SecurityUpdateIn`: the
/// credentials of an update, where the masked value a read showed means "keep".
fn string_rules(schemas: &mut Map<String, Value>) {
    use patterns::*;
    let mut update = schemas["SecurityIn"].clone();
    update["description"] = json!("Credentials of an update: as on create, or the masked value a read showed, which keeps the stored one (a masked value that is not this webhook's is a 409).");
    schemas.insert("SecurityUpdateIn".into(), update);
    schemas["WebhookUpdate"]["properties"]["security"] =
        json!({"$ref": "#/components/schemas/SecurityUpdateIn"});

    let header_name = header_name();
    let mut set = |pointer: &str, pattern: &str| {
        let (schema, rest) = pointer.split_once('/').unwrap_or((pointer, ""));
        let property = schemas
            .get_mut(schema)
            .and_then(|s| {
                if rest.is_empty() {
                    Some(s)
                } else {
                    s.pointer_mut(&format!("/{rest}"))
                }
            })
            .unwrap_or_else(|| panic!("{pointer} is in the schemas"));
        property["pattern"] = json!(pattern);
    };
    for create in [
        "InboundWebhookCreate",
        "InboundWebhookDraft",
        "OutboundWebhookCreate",
        "OutboundWebhookDraft",
        "WebhookUpdate",
    ] {
        set(&format!("{create}/properties/name"), NAME);
        set(&format!("{create}/properties/notificationEmail"), EMAIL);
    }
    for inbound in [
        "InboundWebhookCreate",
        "InboundWebhookDraft",
        "WebhookUpdate",
    ] {
        set(&format!("{inbound}/properties/url"), URL_INBOUND);
    }
    for outbound in ["OutboundWebhookCreate", "OutboundWebhookDraft"] {
        set(&format!("{outbound}/properties/url"), URL_OUTBOUND);
    }
    set("WebhookUpdate/properties/id", WEBHOOK_ID);
    set("VariablePathIn", VARIABLE_PATH);
    set("RotateSecretIn/properties/secret", HMAC_SECRET);
    set("PublishIn/properties/id", EVENT_ID);
    // The kinds of SecurityIn and SecurityUpdateIn, in order: none, hmac, basic, bearer, header.
    for (schema, secret, password, token, value) in [
        ("SecurityIn", HMAC_SECRET, PASSWORD, TOKEN, HEADER_VALUE),
        (
            "SecurityUpdateIn",
            HMAC_SECRET_OR_MASKED,
            PASSWORD_OR_MASKED,
            TOKEN_OR_MASKED,
            HEADER_VALUE_OR_MASKED,
        ),
    ] {
        set(&format!("{schema}/oneOf/1/properties/secret"), secret);
        set(&format!("{schema}/oneOf/2/properties/username"), USERNAME);
        set(&format!("{schema}/oneOf/2/properties/password"), password);
        set(&format!("{schema}/oneOf/3/properties/token"), token);
        set(&format!("{schema}/oneOf/4/properties/name"), &header_name);
        set(&format!("{schema}/oneOf/4/properties/value"), value);
    }
}

/// `PublishIn` as one variant per event type, each with its type's data schema, told apart by
/// `event`: what a client generator needs to type `data`.
fn publish_variants(schemas: &mut Map<String, Value>) {
    let base = schemas["PublishIn"].clone();
    let mut variants = Vec::new();
    let mut mapping = Map::new();
    for event in crate::model::EventType::ALL {
        let data = crate::catalogue::schema_name(event);
        let name = format!("Publish{}", data.trim_end_matches("Data"));
        let mut variant = base.clone();
        variant["title"] = json!(format!("A {} event", event.as_str()));
        variant["properties"]["event"] = json!({"type": "string", "const": event.as_str()});
        variant["properties"]["data"] = json!({"$ref": format!("#/components/schemas/{data}")});
        let reference = format!("#/components/schemas/{name}");
        variants.push(json!({"$ref": reference}));
        mapping.insert(event.as_str().into(), json!(reference));
        schemas.insert(name, variant);
    }
    schemas.insert(
        "PublishIn".into(),
        json!({
            "description": base["description"],
            "oneOf": variants,
            "discriminator": {"propertyName": "event", "mapping": mapping}
        }),
    );
}

/// What utoipa cannot say: array items listed once, and no field beside a security kind's own.
fn tighten(schemas: &mut Value) {
    // A draft's two forms differ inside `webhook` (its `flow`), which linters do not look into
    // to see that they exclude each other: `anyOf` says the same without claiming it.
    if let Some(draft) = schemas
        .get_mut("DraftTestIn")
        .and_then(Value::as_object_mut)
    {
        if let Some(forms) = draft.remove("oneOf") {
            draft.insert("anyOf".into(), forms);
        }
    }
    if let Some(kinds) = schemas
        .pointer_mut("/SecurityIn/oneOf")
        .and_then(Value::as_array_mut)
    {
        for kind in kinds {
            kind["additionalProperties"] = json!(false);
        }
    }
    for (schema, field) in [
        ("InboundWebhookCreate", "variables"),
        ("InboundWebhookDraft", "variables"),
        ("WebhookUpdate", "variables"),
    ] {
        if let Some(property) = schemas.pointer_mut(&format!("/{schema}/properties/{field}")) {
            property["uniqueItems"] = json!(true);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every `$ref` in `value`.
    fn refs<'a>(value: &'a Value, out: &mut Vec<&'a str>) {
        match value {
            Value::Object(map) => {
                for (key, v) in map {
                    match (key.as_str(), v) {
                        ("$ref", Value::String(r)) => out.push(r),
                        _ => refs(v, out),
                    }
                }
            }
            Value::Array(items) => items.iter().for_each(|v| refs(v, out)),
            _ => {}
        }
    }

    #[test]
    fn every_reference_resolves() {
        let doc = document();
        let mut found = Vec::new();
        refs(&doc, &mut found);
        assert!(found.len() > 50);
        for r in found {
            let pointer = r.strip_prefix('#').expect("local references only");
            assert!(doc.pointer(pointer).is_some(), "{r} does not resolve");
        }
    }

    #[test]
    fn operations_are_unique_and_routed_to_themselves() {
        let mut seen = std::collections::HashSet::new();
        for op in OPERATIONS {
            assert!(
                seen.insert((op.method, op.path)),
                "{} {} twice",
                op.method,
                op.path
            );
            assert!(seen.insert(("id", op.id)), "{} twice", op.id);
            let concrete = op
                .path
                .replace("{id}", "wh_01M88H4BD9G17PXN3VBVH0G0ZQ")
                .replace("{deliveryId}", "dlv_01M88KJSTT8P4MWN5F9FJNTJG7");
            let (template, _) = route(&format!("/prod{BASE}{concrete}")).unwrap();
            assert_eq!(template, op.path);
            assert!(operation(template, op.method).is_some());
        }
        assert_eq!(route("/api/v1/webhook/test").unwrap().0, "/webhook/test");
        assert_eq!(
            route("/api/v1/webhook/anything").unwrap(),
            ("/webhook/{id}", vec!["anything"])
        );
        assert_eq!(route("/api/v1/webhook/a/b/c/d/e"), None);
        assert_eq!(route("/elsewhere"), None);
        assert_eq!(allowed("/webhook/{id}"), "GET, PUT, DELETE");
    }
}
