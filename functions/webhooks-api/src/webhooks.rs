//! `/api/v1/webhook` endpoints.

use hookline::ids;
use hookline::model::{reject_unknown, Flow, Status, Webhook, WebhookPatch};
use hookline::store::{ListFilter, StoreError};
use lambda_http::{Body, Request, Response};
use serde_json::Value;

use hookline::api::request::{
    decode_cursor, encode_cursor, if_match, json, json_body, no_content, page_limit, query,
};
use hookline::api::types::{WebhookOut, WebhookPage};
use hookline::api::{load_webhook, ApiError, Caller};
use hookline::store::WebhookStore;

use crate::{App, Platform};

pub const DEFAULT_PAGE: usize = 20;
pub const MAX_PAGE: usize = 100;

fn webhook_response(status: u16, webhook: &Webhook, reveal_secret: bool) -> Response<Body> {
    let out = if reveal_secret {
        WebhookOut::revealed(webhook)
    } else {
        WebhookOut::masked(webhook)
    };
    json(status, &out)
        .header("etag", format!("\"{}\"", webhook.version))
        .build()
}

/// The precondition: `If-Match` or a `version` in the body; they must agree if both are sent.
fn expected_version(req: &Request, body_version: Option<u64>) -> Result<Option<u64>, ApiError> {
    let header = if_match(req.headers())?;
    match (header, body_version) {
        // Two preconditions, and at most one can hold.
        (Some(h), Some(b)) if h != b => Err(ApiError::FieldConflict {
            field: "version".into(),
            message: "differs from the If-Match header".into(),
        }),
        (h, b) => Ok(h.or(b)),
    }
}

fn check_version(current: &Webhook, expected: Option<u64>) -> Result<(), ApiError> {
    match expected {
        Some(v) if v != current.version => Err(ApiError::Conflict(format!(
            "the webhook is at version {}, not {v}; read it again and retry",
            current.version
        ))),
        _ => Ok(()),
    }
}

pub async fn create<P: Platform>(
    app: &App<P>,
    caller: &Caller,
    req: &Request,
) -> Result<Response<Body>, ApiError> {
    let body = json_body(req)?.ok_or_else(|| ApiError::invalid("body", "is required"))?;
    let now = app.clock.now();
    // Checked before the body is, so a full account learns why at once. Concurrent creates can
    // overshoot by a few; the quota bounds cost and abuse, it is not an exact invariant.
    let max = app.rules.max_per_account;
    if app.store.count_webhooks(&caller.account_id).await? >= max {
        return Err(ApiError::Conflict(format!(
            "this account has its maximum of {max} webhooks; delete one first"
        )));
    }
    let webhook = WebhookPatch::from_json(&body)?.create(
        ids::new_webhook_id(now),
        caller.account_id.clone(),
        now,
        &app.rules,
    )?;
    app.store
        .create_webhook(&webhook)
        .await
        .map_err(|e| match e {
            // A ULID collision (80 random bits in the same millisecond) is not the caller's conflict.
            StoreError::Conflict => ApiError::Internal("webhook id collision".into()),
            other => other.into(),
        })?;
    tracing::info!(account_id = %caller.account_id, webhook_id = %webhook.id, "webhook created");
    Ok(json(201, &WebhookOut::revealed(&webhook))
        .header("etag", format!("\"{}\"", webhook.version))
        .header("location", format!("/api/v1/webhook/{}", webhook.id))
        .build())
}

pub async fn get<P: Platform>(
    app: &App<P>,
    caller: &Caller,
    id: &str,
) -> Result<Response<Body>, ApiError> {
    let webhook = load_webhook(&app.store, caller, id).await?;
    Ok(webhook_response(200, &webhook, false))
}

pub async fn list<P: Platform>(
    app: &App<P>,
    caller: &Caller,
    req: &Request,
) -> Result<Response<Body>, ApiError> {
    let mut filter = ListFilter {
        limit: DEFAULT_PAGE,
        ..ListFilter::default()
    };
    for (key, value) in query(req, &["flow", "status", "limit", "cursor"])? {
        match key.as_str() {
            "flow" => {
                filter.flow = Some(
                    Flow::parse(&value)
                        .ok_or_else(|| ApiError::invalid("flow", "must be inbound or outbound"))?,
                )
            }
            "status" => {
                filter.status = Some(
                    Status::parse(&value)
                        .ok_or_else(|| ApiError::invalid("status", "must be active or inactive"))?,
                )
            }
            "limit" => filter.limit = page_limit(Some(&value), DEFAULT_PAGE, MAX_PAGE)?,
            _ => filter.after = Some(decode_cursor(&value, ids::is_webhook_id)?),
        }
    }
    let page = app.store.list_webhooks(&caller.account_id, &filter).await?;
    let page = WebhookPage {
        data: page.items.iter().map(WebhookOut::masked).collect(),
        next_cursor: page.next_after.as_deref().map(encode_cursor),
    };
    Ok(json(200, &page).build())
}

pub async fn update<P: Platform>(
    app: &App<P>,
    caller: &Caller,
    id: &str,
    req: &Request,
) -> Result<Response<Body>, ApiError> {
    let current = load_webhook(&app.store, caller, id).await?;
    let body = json_body(req)?.ok_or_else(|| ApiError::invalid("body", "is required"))?;
    let patch = WebhookPatch::from_json(&body)?;
    check_version(&current, expected_version(req, patch.echoed_version)?)?;
    let next = patch.apply_to(&current, app.clock.now(), &app.rules)?;
    // A body that changes nothing (a read sent back as it is) writes nothing: the version and
    // ETag stay, so a client still holding them can go on.
    let unchanged = Webhook {
        updated_at: current.updated_at,
        version: current.version,
        ..next.clone()
    } == current;
    if !unchanged {
        app.store.update_webhook(&current, &next).await?;
    }
    let answer = if unchanged { &current } else { &next };
    // Secrets are shown in full only by create and rotate-secret.
    Ok(webhook_response(200, answer, false))
}

pub async fn delete<P: Platform>(
    app: &App<P>,
    caller: &Caller,
    id: &str,
    req: &Request,
) -> Result<Response<Body>, ApiError> {
    let current = load_webhook(&app.store, caller, id).await?;
    check_version(&current, if_match(req.headers())?)?;
    app.store.delete_webhook(&current).await?;
    tracing::info!(account_id = %caller.account_id, webhook_id = %current.id, "webhook deleted");
    Ok(no_content())
}

pub async fn rotate_secret<P: Platform>(
    app: &App<P>,
    caller: &Caller,
    id: &str,
    req: &Request,
) -> Result<Response<Body>, ApiError> {
    let current = load_webhook(&app.store, caller, id).await?;
    check_version(&current, if_match(req.headers())?)?;
    let sent = match json_body(req)? {
        None => None,
        Some(Value::Object(map)) => {
            reject_unknown(&map, &["secret"])?;
            match map.get("secret") {
                None | Some(Value::Null) => None,
                Some(Value::String(s)) => Some(s.clone()),
                Some(_) => return Err(ApiError::invalid("secret", "must be a string")),
            }
        }
        Some(_) => return Err(ApiError::invalid("body", "must be a JSON object")),
    };
    let next = current.rotated(sent, app.clock.now())?;
    app.store.update_webhook(&current, &next).await?;
    tracing::info!(account_id = %caller.account_id, webhook_id = %current.id, "secret rotated");
    Ok(webhook_response(200, &next, true))
}
