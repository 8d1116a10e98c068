//! "Test" (inbound: one call and variable discovery; outbound: a signed test event) and the
//! inbound resolution log.

use hookline::api::request::{
    decode_cursor, encode_cursor, json, page_limit, query, variables_body,
};
use hookline::api::{load_webhook, ApiError, Caller};
use hookline::ids;
use hookline::model::Flow;
use hookline::store::ActivityLog;
use lambda_http::{Body, Request, Response};
use serde_json::json;

use crate::{App, Platform};

/// `POST /webhook/{id}/test`: one call with the sample variables; the answer and every variable
/// path found in it, for the console's "Available Variables".
pub async fn test<P: Platform>(
    app: &App<P>,
    caller: &Caller,
    id: &str,
    req: &Request,
) -> Result<Response<Body>, ApiError> {
    let webhook = load_webhook(&app.store, caller, id).await?;
    if webhook.flow() == Flow::Outbound {
        return crate::deliveries::test(app, &webhook).await;
    }
    let variables = variables_body(req)?;
    let outcome = app.inbound.test(&webhook, &variables).await;
    Ok(json(
        200,
        &serde_json::to_value(outcome).expect("outcomes serialise"),
    )
    .build())
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
    let next = page.next_after.as_deref().map(encode_cursor);
    Ok(json(200, &json!({"data": page.items, "nextCursor": next})).build())
}
