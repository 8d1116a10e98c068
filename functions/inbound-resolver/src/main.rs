//! Lambda entry point of the inbound resolver: configuration and clients, then `handle`.

use std::convert::Infallible;
use std::sync::Arc;

use hookline::clock::SystemClock;
use hookline::config::{aws_sdk_config, required, ApiConfig};
use hookline::http::ReqwestClient;
use hookline::inbound::{Resolver, ResolverSettings};
use hookline::notify::SesMailer;
use hookline::store::dynamo::DynamoStore;
use inbound_resolver::ResolverApp;
use lambda_http::{service_fn, Error, Request};

#[tokio::main]
async fn main() -> Result<(), Error> {
    hookline::telemetry::init();
    let config = ApiConfig::from_env()?;
    let sender = required("HOOKLINE_SENDER_EMAIL")?;
    let sdk = aws_sdk_config().await;
    let store = DynamoStore::from_sdk_config(&sdk, config.table_name)
        .with_sealer(hookline::config::credentials_sealer(&sdk)?);
    let resolver = Resolver {
        http: ReqwestClient::new(hookline::config::egress_policy()?),
        mailer: SesMailer::new(aws_sdk_sesv2::Client::new(&sdk), sender),
        store: store.clone(),
        clock: Arc::new(SystemClock),
        settings: ResolverSettings {
            deadline: config.resolve_deadline,
            emails_per_hour: hookline::config::emails_per_hour()?,
            resolve_concurrency: hookline::config::resolve_concurrency()?,
            ..ResolverSettings::default()
        },
    };
    let app = Arc::new(ResolverApp { store, resolver });
    lambda_http::run(service_fn(move |req: Request| {
        let app = app.clone();
        async move { Ok::<_, Infallible>(app.handle(req).await) }
    }))
    .await
}
