//! The webhook management API, as plain async functions over narrow traits: `main.rs` wires
//! DynamoDB and the Lambda runtime; tests call `App::handle` with API Gateway-shaped requests.

pub mod auth;
pub mod error;
mod request;
mod webhooks;

use std::sync::Arc;
use std::time::Instant;

use hookline::clock::Clock;
use hookline::model::WebhookRules;
use hookline::store::{ApiKeyStore, WebhookStore};
use lambda_http::http::Method;
use lambda_http::{Body, Request, RequestExt, Response};

pub use error::ApiError;

/// Largest request body we read; larger ones get 413.
pub const MAX_BODY_BYTES: usize = 256 * 1024;

pub struct App<S> {
    pub store: S,
    pub clock: Arc<dyn Clock>,
    pub rules: WebhookRules,
}

impl<S: WebhookStore + ApiKeyStore> App<S> {
    pub fn new(store: S, clock: Arc<dyn Clock>, rules: WebhookRules) -> Self {
        Self {
            store,
            clock,
            rules,
        }
    }

    /// Answers one request. Never fails: every error becomes its JSON error response.
    pub async fn handle(&self, req: Request) -> Response<Body> {
        let started = Instant::now();
        let request_id = req.lambda_context_ref().map(|c| c.request_id.clone());
        let method = req.method().clone();
        let (route, outcome) = self.route(req).await;
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

    /// Returns the route template (for logs: no ids, no query) and the outcome.
    async fn route(&self, req: Request) -> (&'static str, Result<Response<Body>, ApiError>) {
        let path = req.uri().path().to_string();
        // Tolerate a stage prefix (`/prod/api/v1/...`) as well as the bare path.
        let Some(rest) = path.find("/api/v1/").map(|i| &path[i + "/api/v1/".len()..]) else {
            return ("unknown", Err(ApiError::NotFound("no such path".into())));
        };
        let segments: Vec<&str> = rest.trim_end_matches('/').split('/').collect();
        let method = req.method().clone();
        let caller = match auth::authenticate(&self.store, req.headers()).await {
            Ok(caller) => caller,
            Err(e) => return ("auth", Err(e)),
        };
        if let Err(e) = caller.may(&method) {
            return ("auth", Err(e));
        }
        match segments.as_slice() {
            ["webhook"] => (
                "/webhook",
                match method {
                    Method::GET => webhooks::list(self, &caller, &req).await,
                    Method::POST => webhooks::create(self, &caller, &req).await,
                    m => Err(ApiError::MethodNotAllowed(m.to_string(), "GET, POST")),
                },
            ),
            ["webhook", id] => (
                "/webhook/{id}",
                match method {
                    Method::GET => webhooks::get(self, &caller, id).await,
                    Method::PUT => webhooks::update(self, &caller, id, &req).await,
                    Method::DELETE => webhooks::delete(self, &caller, id, &req).await,
                    m => Err(ApiError::MethodNotAllowed(
                        m.to_string(),
                        "GET, PUT, DELETE",
                    )),
                },
            ),
            ["webhook", id, "rotate-secret"] => (
                "/webhook/{id}/rotate-secret",
                match method {
                    Method::POST => webhooks::rotate_secret(self, &caller, id, &req).await,
                    m => Err(ApiError::MethodNotAllowed(m.to_string(), "POST")),
                },
            ),
            _ => ("unknown", Err(ApiError::NotFound("no such path".into()))),
        }
    }
}
