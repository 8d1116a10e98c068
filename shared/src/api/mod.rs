//! What every HTTP function shares: the one API error type and its JSON body, API-key
//! authentication, and request/response helpers.

pub mod auth;
pub mod error;
pub mod openapi;
pub mod request;
pub mod types;

pub use auth::{authenticate, Caller};
pub use error::ApiError;

/// Largest request body read; larger ones get 413.
pub const MAX_BODY_BYTES: usize = 256 * 1024;

use crate::ids;
use crate::model::Webhook;
use crate::store::WebhookStore;

/// The caller's webhook, or 404: another account's webhook is indistinguishable from none.
pub async fn load_webhook<S: WebhookStore>(
    store: &S,
    caller: &Caller,
    id: &str,
) -> Result<Webhook, ApiError> {
    let not_found = || ApiError::NotFound("no webhook with this id".into());
    if !ids::is_webhook_id(id) {
        return Err(not_found());
    }
    store
        .get_webhook(&caller.account_id, id)
        .await?
        .ok_or_else(not_found)
}

use std::future::Future;
use std::time::Instant;

use lambda_http::{Body, Request, RequestExt, Response};

/// The path after `/api/v1/`, split into segments; a stage prefix (`/prod/api/v1/...`) is
/// tolerated. `None` for paths outside the API.
pub fn api_segments(path: &str) -> Option<Vec<&str>> {
    let i = path.find("/api/v1/")?;
    Some(
        path[i + "/api/v1/".len()..]
            .trim_end_matches('/')
            .split('/')
            .collect(),
    )
}

/// Runs `route` for one request: every error becomes its JSON response (server errors logged
/// in full first), and one access log line records route, status and duration. `route` returns
/// the route template (no ids) with its outcome.
pub async fn serve<F, Fut>(req: Request, route: F) -> Response<Body>
where
    F: FnOnce(Request) -> Fut,
    Fut: Future<Output = (&'static str, Result<Response<Body>, ApiError>)>,
{
    let started = Instant::now();
    let request_id = req.lambda_context_ref().map(|c| c.request_id.clone());
    let method = req.method().clone();
    let (route, outcome) = route(req).await;
    let response = outcome.unwrap_or_else(|err| {
        if let ApiError::Internal(detail) = &err {
            tracing::error!(request_id = request_id.as_deref(), route, %detail, "request failed");
        }
        err.into_response(request_id.as_deref())
    });
    tracing::info!(
        request_id = request_id.as_deref(),
        method = %method,
        route,
        status = response.status().as_u16(),
        duration_ms = started.elapsed().as_millis() as u64,
        "request"
    );
    response
}
