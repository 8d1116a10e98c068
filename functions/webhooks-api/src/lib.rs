//! The webhook management API, as plain async functions over narrow traits: `main.rs` wires
//! DynamoDB, the HTTP client and the Lambda runtime; tests call `App::handle` with API
//! Gateway-shaped requests.

mod console;
mod deliveries;
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
use hookline::outbound::DeliverySettings;
use hookline::outbound::{Backend, Deliverer};
use hookline::queue::{DeliveryQueue, EventQueue};
use hookline::store::{ActivityLog, ApiKeyStore, WebhookStore};
use lambda_http::http::Method;
use lambda_http::{Body, Request, Response};

/// Everything the management API needs from storage.
pub trait Store: WebhookStore + ApiKeyStore + ActivityLog + Backend + Clone {}
impl<T: WebhookStore + ApiKeyStore + ActivityLog + Backend + Clone> Store for T {}

/// The implementations the API runs on: AWS in Lambda, the local stack or memory in tests.
pub trait Platform: 'static {
    type Store: Store;
    type Http: HttpClient + Clone;
    type Events: EventQueue;
    /// The deliveries queue: resends and recover queue their attempts there.
    type Deliveries: DeliveryQueue;
}

pub struct App<P: Platform> {
    pub store: P::Store,
    /// Where published events go (the events queue).
    pub events: P::Events,
    pub clock: Arc<dyn Clock>,
    pub rules: WebhookRules,
    /// Calls inbound webhooks for "Test".
    pub inbound: Resolver<P::Http, NoMail, P::Store>,
    /// Resends and recovers deliveries and sends outbound test events.
    pub outbound: Deliverer<P::Store, P::Http, NoMail, P::Deliveries>,
}

/// The parts an `App` is made of.
pub struct Parts<P: Platform> {
    pub store: P::Store,
    pub events: P::Events,
    pub deliveries: P::Deliveries,
    pub http: P::Http,
    pub clock: Arc<dyn Clock>,
    pub rules: WebhookRules,
    pub resolver: ResolverSettings,
    pub delivery: DeliverySettings,
}

impl<P: Platform> App<P> {
    /// Neither caller sends e-mail from this function (`NoMail`): tests and manual resends do
    /// not notify, so the management API needs no SES permission.
    pub fn new(parts: Parts<P>) -> Self {
        let Parts {
            store,
            events,
            deliveries,
            http,
            clock,
            rules,
            resolver,
            delivery,
        } = parts;
        let inbound = Resolver {
            http: http.clone(),
            mailer: NoMail,
            store: store.clone(),
            clock: clock.clone(),
            settings: resolver,
        };
        let outbound = Deliverer::new(
            store.clone(),
            http,
            NoMail,
            deliveries,
            clock.clone(),
            hookline::random::os(),
            delivery,
        );
        Self {
            store,
            events,
            clock,
            rules,
            inbound,
            outbound,
        }
    }

    /// Answers one request. Never fails: every error becomes its JSON error response.
    pub async fn handle(&self, req: Request) -> Response<Body> {
        serve(req, |req| self.route(req)).await
    }

    async fn route(&self, req: Request) -> (&'static str, Result<Response<Body>, ApiError>) {
        // The console's files are public (no key): the page asks for the key itself.
        if let Some(path) = console::console_path(req.uri().path()) {
            return (
                "/console",
                console::serve(path, req.method(), req.headers()),
            );
        }
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
            // Before `["webhook", id]`: "test" is never a webhook id.
            ["webhook", "test"] => (
                "/webhook/test",
                match method {
                    Method::POST => inbound::test_draft(self, &caller, &req).await,
                    _ => not_allowed("POST"),
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
            ["webhook", id, "deliveries"] => (
                "/webhook/{id}/deliveries",
                match method {
                    Method::GET => deliveries::list(self, &caller, id, &req).await,
                    _ => not_allowed("GET"),
                },
            ),
            ["webhook", id, "deliveries", delivery_id] => (
                "/webhook/{id}/deliveries/{deliveryId}",
                match method {
                    Method::GET => deliveries::get(self, &caller, id, delivery_id).await,
                    _ => not_allowed("GET"),
                },
            ),
            ["webhook", id, "deliveries", delivery_id, "retry"] => (
                "/webhook/{id}/deliveries/{deliveryId}/retry",
                match method {
                    Method::POST => deliveries::retry(self, &caller, id, delivery_id).await,
                    _ => not_allowed("POST"),
                },
            ),
            ["webhook", id, "recover"] => (
                "/webhook/{id}/recover",
                match method {
                    Method::POST => deliveries::recover(self, &caller, id, &req).await,
                    _ => not_allowed("POST"),
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
