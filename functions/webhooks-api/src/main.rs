//! Lambda entry point of the management API: configuration and clients, then `App::handle`.

use std::convert::Infallible;
use std::sync::Arc;

use hookline::clock::SystemClock;
use hookline::config::{aws_sdk_config, events_queue_url, ApiConfig};
use hookline::http::ReqwestClient;
use hookline::inbound::ResolverSettings;
use hookline::model::WebhookRules;
use hookline::queue::SqsEventQueue;
use hookline::store::dynamo::DynamoStore;
use lambda_http::{service_fn, Error, Request};
use webhooks_api::App;

#[tokio::main]
async fn main() -> Result<(), Error> {
    hookline::telemetry::init();
    let config = ApiConfig::from_env()?;
    let sdk = aws_sdk_config().await;
    let store = DynamoStore::from_sdk_config(&sdk, config.table_name);
    let events = SqsEventQueue::new(aws_sdk_sqs::Client::new(&sdk), events_queue_url()?);
    let rules = WebhookRules {
        allow_plain_http: config.allow_plain_http,
    };
    let settings = ResolverSettings {
        deadline: config.resolve_deadline,
        ..ResolverSettings::default()
    };
    let app = Arc::new(App::new(
        store,
        events,
        ReqwestClient::new(),
        Arc::new(SystemClock),
        rules,
        settings,
    ));
    lambda_http::run(service_fn(move |req: Request| {
        let app = app.clone();
        async move { Ok::<_, Infallible>(app.handle(req).await) }
    }))
    .await
}
