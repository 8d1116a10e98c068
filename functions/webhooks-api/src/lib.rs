//! The webhook management API, as plain async functions over narrow traits: `main.rs` wires
//! DynamoDB, the HTTP client and the Lambda runtime; tests call `App::handle` with API
//! Gateway-shaped requests.

mod console;
mod contract;
mod deliveries;
mod events;
mod inbound;
mod webhooks;

use std::sync::Arc;

use hookline::api::openapi::{self, Access, Function, Operation};
use hookline::api::{authenticate, serve, ApiError};
use hookline::clock::Clock;
use hookline::http::HttpClient;
use hookline::inbound::{Resolver, ResolverSettings};
use hookline::model::WebhookRules;
use hookline::notify::NoMail;
use hookline::outbound::DeliverySettings;
use hookline::outbound::{Backend, Deliverer};
use hookline::queue::{DeliveryQueue, EventQueue};
use hookline::store::{ActivityLog, ApiKeyStore, WebhookStore};
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
        // Only what the OpenAPI document lists is served: `openapi::route` finds it there.
        let Some((template, params)) = openapi::route(req.uri().path()) else {
            return ("unknown", Err(ApiError::NotFound("no such path".into())));
        };
        let Some(op) = openapi::operation(template, req.method().as_str()) else {
            let allow = openapi::allowed(template);
            return (
                template,
                Err(ApiError::MethodNotAllowed(req.method().to_string(), allow)),
            );
        };
        if op.function != Function::WebhooksApi {
            // Another function's route (resolve): API Gateway sends it there.
            return (template, Err(ApiError::NotFound("no such path".into())));
        }
        (template, self.serve(op, &params, &req).await)
    }

    async fn serve(
        &self,
        op: &Operation,
        params: &[&str],
        req: &Request,
    ) -> Result<Response<Body>, ApiError> {
        if op.access == Access::Public {
            return match op.id {
                "getOpenApi" => Ok(contract::document()),
                "listEventTypes" => Ok(contract::event_types()),
                id => Err(unserved(id)),
            };
        }
        let caller = &authenticate(&self.store, req.headers()).await?;
        if op.access == Access::Write {
            caller.may_write()?;
        }
        match (op.id, params) {
            ("listWebhooks", []) => webhooks::list(self, caller, req).await,
            ("createWebhook", []) => webhooks::create(self, caller, req).await,
            ("testDraftWebhook", []) => inbound::test_draft(self, caller, req).await,
            ("getWebhook", [id]) => webhooks::get(self, caller, id).await,
            ("updateWebhook", [id]) => webhooks::update(self, caller, id, req).await,
            ("deleteWebhook", [id]) => webhooks::delete(self, caller, id, req).await,
            ("rotateWebhookSecret", [id]) => webhooks::rotate_secret(self, caller, id, req).await,
            ("testWebhook", [id]) => inbound::test(self, caller, id, req).await,
            ("listWebhookLogs", [id]) => inbound::logs(self, caller, id, req).await,
            ("listDeliveries", [id]) => deliveries::list(self, caller, id, req).await,
            ("getDelivery", [id, delivery]) => deliveries::get(self, caller, id, delivery).await,
            ("retryDelivery", [id, delivery]) => {
                deliveries::retry(self, caller, id, delivery).await
            }
            ("recoverDeliveries", [id]) => deliveries::recover(self, caller, id, req).await,
            ("publishEvent", []) => events::publish(self, caller, req).await,
            (id, _) => Err(unserved(id)),
        }
    }
}

/// A documented operation this function has no handler for: a bug, which the contract tests
/// (every operation called) catch before a client can.
fn unserved(id: &str) -> ApiError {
    ApiError::Internal(format!("operation {id} is documented but not served"))
}
