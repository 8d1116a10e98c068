//! "Test" (inbound: one call and variable discovery; outbound: a signed test event) and the
//! inbound resolution log.

use hookline::api::request::{
    decode_cursor, encode_cursor, json, object_body, page_limit, query, variables_field,
};
use hookline::api::types::{ActivityOut, ActivityPage, InboundTestOut, TestOut};
use hookline::api::{load_webhook, ApiError, Caller};
use hookline::ids;
use hookline::model::{EventType, Flow, ValidationError, Webhook, WebhookPatch};
use hookline::store::ActivityLog;
use lambda_http::{Body, Request, Response};
use serde_json::{Map, Value};

use crate::{App, Platform};

/// `POST /webhook/{id}/test`: one call with the sample variables; the answer and every variable
/// path found in it, for the console's "Available Variables". An optional `webhook` object holds
/// unsaved edits (read as a `PUT` body would be, masked credentials meaning "keep"), so the
/// console tests what the form shows; nothing is saved.
pub async fn test<P: Platform>(
    app: &App<P>,
    caller: &Caller,
    id: &str,
    req: &Request,
) -> Result<Response<Body>, ApiError> {
    let saved = load_webhook(&app.store, caller, id).await?;
    let body = TestBody::read(req)?;
    let webhook = match &body.webhook {
        None => saved,
        Some(edits) => WebhookPatch::from_json(edits)
            .and_then(|p| p.apply_to(&saved, app.clock.now(), &app.rules))
            .map_err(in_webhook)?,
    };
    one_test(app, &webhook, &body, Logged::Yes).await
}

/// `POST /webhook/test`: the same test for a webhook that is not saved yet, so the create form
/// can discover variables before "Save". `webhook` is a create body; the fields a call does not
/// use (name, e-mail, fallback, events) may be left out. Nothing is saved or logged.
pub async fn test_draft<P: Platform>(
    app: &App<P>,
    caller: &Caller,
    req: &Request,
) -> Result<Response<Body>, ApiError> {
    let body = TestBody::read(req)?;
    let draft = body
        .webhook
        .as_ref()
        .ok_or_else(|| ApiError::invalid("webhook", "is required"))?;
    let now = app.clock.now();
    let webhook = WebhookPatch::from_json(draft)
        .and_then(|mut patch| {
            // Placeholders for what a call does not use; whatever was sent is still checked.
            patch.name.get_or_insert_with(|| "draft".into());
            patch
                .notification_email
                .get_or_insert_with(|| "draft@example.com".into());
            match patch.flow {
                Some(Flow::Inbound) => {
                    patch.fallback_response.get_or_insert(Value::Null);
                }
                Some(Flow::Outbound) => {
                    patch.events.get_or_insert_with(|| vec![EventType::CaseNew]);
                }
                None => {}
            }
            patch.create(
                ids::new_webhook_id(now),
                caller.account_id.clone(),
                now,
                &app.rules,
            )
        })
        .map_err(in_webhook)?;
    // There is no saved webhook to log the call under.
    one_test(app, &webhook, &body, Logged::No).await
}

#[derive(Clone, Copy, PartialEq)]
enum Logged {
    Yes,
    No,
}

/// One call of `webhook`: inbound, the answer and its variables; outbound, a signed sample event.
async fn one_test<P: Platform>(
    app: &App<P>,
    webhook: &Webhook,
    body: &TestBody,
    logged: Logged,
) -> Result<Response<Body>, ApiError> {
    let answer = if webhook.flow() == Flow::Outbound {
        body.no_variables(logged)?;
        TestOut::Outbound(crate::deliveries::test(app, webhook).await)
    } else {
        let outcome = match logged {
            Logged::Yes => app.inbound.test(webhook, &body.variables).await,
            Logged::No => app.inbound.test_draft(webhook, &body.variables).await,
        };
        TestOut::Inbound(InboundTestOut::from(&outcome))
    };
    Ok(json(200, &answer).build())
}

/// `{"variables": {...}, "webhook": {...}}`, both optional.
struct TestBody {
    variables: Value,
    variables_sent: bool,
    webhook: Option<Value>,
}

impl TestBody {
    fn read(req: &Request) -> Result<Self, ApiError> {
        let map = object_body(req, &["variables", "webhook"])?;
        let variables = variables_field(&map)?;
        let webhook = match map.get("webhook") {
            None | Some(Value::Null) => None,
            Some(v @ Value::Object(_)) => Some(v.clone()),
            Some(_) => return Err(ApiError::invalid("webhook", "must be a JSON object")),
        };
        Ok(Self {
            variables_sent: variables.is_some(),
            variables: variables.unwrap_or_else(|| Value::Object(Map::new())),
            webhook,
        })
    }

    /// Outbound tests send a fixed sample event: variables would be silently unused. A draft's
    /// body says its flow, so they are invalid there; a saved webhook's flow is its own, so
    /// they conflict with it.
    fn no_variables(&self, logged: Logged) -> Result<(), ApiError> {
        if !self.variables_sent {
            return Ok(());
        }
        const WHY: &str =
            "only inbound webhooks take variables; an outbound test sends a sample event";
        Err(match logged {
            Logged::No => ApiError::invalid("variables", WHY),
            Logged::Yes => ApiError::FieldConflict {
                field: "variables".into(),
                message: WHY.into(),
            },
        })
    }
}

/// Errors in the `webhook` object name their field inside it (`webhook.url`).
fn in_webhook(e: ValidationError) -> ApiError {
    let field = match e.field.as_str() {
        "body" => "webhook".to_string(),
        f => format!("webhook.{f}"),
    };
    ValidationError { field, ..e }.into()
}

/// `GET /webhook/{id}/logs`: resolutions and tests, newest first, in pages.
pub async fn logs<P: Platform>(
    app: &App<P>,
    caller: &Caller,
    id: &str,
    req: &Request,
) -> Result<Response<Body>, ApiError> {
    let webhook = load_webhook(&app.store, caller, id).await?;
    let mut limit = 20;
    let mut before = None;
    for (key, value) in query(req, &["limit", "cursor"])? {
        match key.as_str() {
            "limit" => limit = page_limit(Some(&value), 20, 100)?,
            _ => before = Some(decode_cursor(&value, ids::is_activity_id)?),
        }
    }
    let page = app
        .store
        .list_activity(&caller.account_id, &webhook.id, limit, before.as_deref())
        .await?;
    let page = ActivityPage {
        data: page.items.iter().map(ActivityOut::from).collect(),
        next_cursor: page.next_after.as_deref().map(encode_cursor),
    };
    Ok(json(200, &page).build())
}
