//! The webhook management API, as plain async functions over narrow traits: `main.rs` wires
//! DynamoDB, the HTTP client and the Lambda runtime; tests call `App::handle` with API
//! Gateway-shaped requests.

mod events;
mod inbound;
mod webhooks;

use std::sync::Arc;

use hookline::api::{api_segments, authenticate, serve, ApiError};
use hookline::clock::Clock;
use hookline::http::HttpClient;
use hookline::inbound::{Resolver, ResolverSettings};
use hookline::model::WebhookRules;
use hookline::notify::NoMail;
use hookline::queue::EventQueue;
use hookline::store::{ActivityLog, ApiKeyStore, NoticeGate, WebhookStore};
use lambda_http::http::Method;
use lambda_http::{Body, Request, Response};

/// Everything the management API needs from storage.
pub trait Store: WebhookStore + ApiKeyStore + ActivityLog + NoticeGate + Clone {}
impl<T: WebhookStore + ApiKeyStore + ActivityLog + NoticeGate + Clone> Store for T {}

pub struct App<S, H, Q> {
    pub store: S,
    /// Where published events go (the events queue).
    pub events: Q,
    pub clock: Arc<dyn Clock>,
    pub rules: WebhookRules,
    /// Calls inbound webhooks for "Test"; it never sends e-mail from here.
    pub inbound: Resolver<H, NoMail, S>,
}

impl<S: Store, H: HttpClient, Q: EventQueue> App<S, H, Q> {
    pub fn new(
        store: S,
        events: Q,
        http: H,
        clock: Arc<dyn Clock>,
        rules: WebhookRules,
        settings: ResolverSettings,
    ) -> Self {
        let inbound = Resolver {
            http,
            mailer: NoMail,
            store: store.clone(),
            clock: clock.clone(),
            settings,
        };
        Self {
            store,
            events,
            clock,
            rules,
            inbound,
        }
    }

    /// Answers one request. Never fails: every error becomes its JSON error response.
    pub async fn handle(&self, req: Request) -> Response<Body> {
        serve(req, |req| self.route(req)).await
    }

    async fn route(&self, req: Request) -> (&'static str, Result<Response<Body>, ApiError>) {
        let Some(segments) = api_segments(req.uri().path()) else {
            return ("unknown", Err(ApiError::NotFound("no such path".into())));
        };
        let method = req.method().clone();
        let caller = match authenticate(&self.store, req.headers()).await {
            Ok(caller) => caller,
            Err(e) => return ("auth", Err(e)),
        };
        if let Err(e) = caller.may(&method) {
            return ("auth", Err(e));
        }
        let not_allowed =
            |allow: &'static str| Err(ApiError::MethodNotAllowed(method.to_string(), allow));
        match segments.as_slice() {
            ["webhook"] => (
                "/webhook",
                match method {
                    Method::GET => webhooks::list(self, &caller, &req).await,
                    Method::POST => webhooks::create(self, &caller, &req).await,
                    _ => not_allowed("GET, POST"),
                },
            ),
            ["webhook", id] => (
                "/webhook/{id}",
                match method {
                    Method::GET => webhooks::get(self, &caller, id).await,
                    Method::PUT => webhooks::update(self, &caller, id, &req).await,
                    Method::DELETE => webhooks::delete(self, &caller, id, &req).await,
                    _ => not_allowed("GET, PUT, DELETE"),
                },
            ),
            ["webhook", id, "rotate-secret"] => (
                "/webhook/{id}/rotate-secret",
                match method {
                    Method::POST => webhooks::rotate_secret(self, &caller, id, &req).await,
                    _ => not_allowed("POST"),
                },
            ),
            ["webhook", id, "test"] => (
                "/webhook/{id}/test",
                match method {
                    Method::POST => inbound::test(self, &caller, id, &req).await,
                    _ => not_allowed("POST"),
                },
            ),
            ["webhook", id, "logs"] => (
                "/webhook/{id}/logs",
                match method {
                    Method::GET => inbound::logs(self, &caller, id, &req).await,
                    _ => not_allowed("GET"),
                },
            ),
            ["events"] => (
                "/events",
                match method {
                    Method::POST => events::publish(self, &caller, &req).await,
                    _ => not_allowed("POST"),
                },
            ),
            _ => ("unknown", Err(ApiError::NotFound("no such path".into()))),
        }
    }
}
