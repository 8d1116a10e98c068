//! `POST /api/v1/webhook/{id}/resolve`: a chat asks for live data through an inbound webhook.
//! Same API-key auth and account scoping as the management API; the answer is always a 200 with
//! the webhook's data or the fallback, by the deadline.

use hookline::api::openapi;
use hookline::api::request::{json, variables_body};
use hookline::api::types::ResolutionOut;
use hookline::api::{authenticate, load_webhook, serve, ApiError};
use hookline::http::HttpClient;
use hookline::inbound::Resolver;
use hookline::model::{Flow, Webhook};
use hookline::notify::Mailer;
use hookline::store::{ActivityLog, Allowance, Allowances, ApiKeyStore, NoticeGate, WebhookStore};
use lambda_http::{Body, Request, Response};

/// The longest the resolve limit may add to a resolve, each way (charge, give back).
const ALLOWANCE_WAIT: std::time::Duration = std::time::Duration::from_millis(200);

/// Whether a resolve holds one of its account's units.
enum Held {
    Yes,
    No,
    /// The table did not answer in time; it may yet.
    Unknown,
}

pub struct ResolverApp<S, H, M> {
    pub store: S,
    pub resolver: Resolver<H, M, S>,
}

impl<S, H, M> ResolverApp<S, H, M>
where
    S: WebhookStore + ApiKeyStore + NoticeGate + ActivityLog + Allowances,
    H: HttpClient,
    M: Mailer,
{
    pub async fn handle(&self, req: Request) -> Response<Body> {
        serve(req, |req| self.route(req)).await
    }

    async fn route(&self, req: Request) -> (&'static str, Result<Response<Body>, ApiError>) {
        // This function serves one operation of the document; API Gateway sends it only that.
        let Some((template, params)) = openapi::route(req.uri().path()) else {
            return ("unknown", Err(ApiError::NotFound("no such path".into())));
        };
        let ("/webhook/{id}/resolve", [id]) = (template, params.as_slice()) else {
            return (template, Err(ApiError::NotFound("no such path".into())));
        };
        if openapi::operation(template, req.method().as_str()).is_none() {
            let allow = openapi::allowed(template);
            return (
                template,
                Err(ApiError::MethodNotAllowed(req.method().to_string(), allow)),
            );
        }
        (template, self.resolve(id, &req).await)
    }

    /// Resolving reads configuration and calls out; read-only keys may do it (chatbots need
    /// no write access). Each resolve holds one of the account's resolves in flight
    /// (`Allowance::ResolvesInFlight`) from before the webhook is read to after its answer.
    async fn resolve(&self, id: &str, req: &Request) -> Result<Response<Body>, ApiError> {
        let caller = authenticate(&self.store, req.headers()).await?;
        let account = caller.account_id.as_str();
        let limit = self.resolver.settings.resolve_concurrency;
        let at = self.resolver.clock.now();
        let allowance = Allowance::ResolvesInFlight;
        // Kept beyond its wait: a take the table answers late is still given back.
        let mut take = std::pin::pin!(self.store.spend(account, allowance, at, 1, limit.into()));
        let (taken, webhook) = tokio::join!(
            tokio::time::timeout(ALLOWANCE_WAIT, take.as_mut()),
            load_webhook(&self.store, &caller, id)
        );
        // A table that does not answer at once lets the resolve through: the limit must not
        // break chats, nor add more than `ALLOWANCE_WAIT` to them.
        let held = match taken {
            Ok(Ok(true)) => Held::Yes,
            Ok(Ok(false)) => {
                // Rounded up: a client that waits this long is in the next window.
                let left = ((allowance.window_end(at) - at).as_seconds_f64().ceil() as u64).max(1);
                return Err(ApiError::TooManyRequests {
                    message: format!(
                        "this account has {limit} resolves in flight, its limit; retry in {left} s"
                    ),
                    retry_after_secs: left,
                });
            }
            Ok(Err(e)) => {
                tracing::warn!(error = %e, "could not count the resolve; let through");
                Held::No
            }
            Err(_) => {
                tracing::warn!("counting the resolve took too long; let through");
                Held::Unknown
            }
        };
        let answer = self.resolve_webhook(webhook, req).await;
        let give_back = match held {
            Held::Yes => true,
            // The take may have landed since: one more short wait for its answer.
            Held::Unknown => matches!(
                tokio::time::timeout(ALLOWANCE_WAIT, take.as_mut()).await,
                Ok(Ok(true))
            ),
            Held::No => false,
        };
        if give_back {
            let back = self.store.give_back(account, allowance, at, 1);
            match tokio::time::timeout(ALLOWANCE_WAIT, back).await {
                Ok(Ok(())) => {}
                Ok(Err(e)) => tracing::warn!(error = %e, "could not give back a resolve's unit"),
                Err(_) => tracing::warn!("giving back a resolve's unit took too long"),
            }
        }
        answer
    }

    async fn resolve_webhook(
        &self,
        webhook: Result<Webhook, ApiError>,
        req: &Request,
    ) -> Result<Response<Body>, ApiError> {
        let webhook = webhook?;
        if webhook.flow() != Flow::Inbound {
            // No inbound webhook has this id: there is nothing to resolve.
            return Err(ApiError::NotFound(
                "this webhook is outbound: only inbound webhooks resolve".into(),
            ));
        }
        let variables = variables_body(req)?;
        let resolution = self.resolver.resolve(&webhook, &variables).await;
        Ok(json(200, &ResolutionOut::from(&resolution)).build())
    }
}
