//! `POST /api/v1/events`: integrations (and local demos) publish case and agent events.

use hookline::api::request::{json, json_body};
use hookline::api::types::PublishOut;
use hookline::api::{ApiError, Caller};
use hookline::events::Event;
use lambda_http::{Body, Request, Response};

use crate::{App, Platform};

/// Checks the event, keeps it under its id and puts it on the events queue: 202 with its id.
/// Publishing an id again is no error and delivers nothing new (`outbound::publish`).
pub async fn publish<P: Platform>(
    app: &App<P>,
    caller: &Caller,
    req: &Request,
) -> Result<Response<Body>, ApiError> {
    let body = json_body(req)?.ok_or_else(|| ApiError::invalid("body", "is required"))?;
    // Well formed, and another account's: the key may not publish for it.
    if body["accountId"]
        .as_str()
        .is_some_and(|a| a != caller.account_id)
    {
        return Err(ApiError::ForbiddenField {
            field: "accountId",
            message: "is not the API key's account (leave it out)",
        });
    }
    let event = Event::from_publish(&body, &caller.account_id, app.clock.now())?;
    hookline::outbound::publish(&app.store, &app.events, &event, app.clock.now())
        .await
        .map_err(|e| ApiError::Internal(e.to_string()))?;
    tracing::info!(account_id = %caller.account_id, event_id = %event.id, event = event.event.as_str(), "event published");
    Ok(json(202, &PublishOut { id: event.id }).build())
}
