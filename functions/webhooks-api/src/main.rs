//! Lambda entry point of the management API: configuration and clients, then `App::handle`.

use std::convert::Infallible;
use std::sync::Arc;

use hookline::clock::SystemClock;
use hookline::config::{aws_sdk_config, delivery_queue, events_queue_url, ApiConfig};
use hookline::http::ReqwestClient;
use hookline::inbound::ResolverSettings;
use hookline::model::WebhookRules;
use hookline::outbound::DeliverySettings;
use hookline::queue::{SqsDeliveryQueue, SqsEventQueue};
use hookline::store::dynamo::DynamoStore;
use lambda_http::{service_fn, Error, Request};
use webhooks_api::{App, Parts, Platform};

/// DynamoDB, SQS and the real network.
struct Aws;

impl Platform for Aws {
    type Store = DynamoStore;
    type Http = ReqwestClient;
    type Events = SqsEventQueue;
    type Deliveries = SqsDeliveryQueue;
}

#[tokio::main]
async fn main() -> Result<(), Error> {
    hookline::telemetry::init();
    let config = ApiConfig::from_env()?;
    let sdk = aws_sdk_config().await;
    let sqs = aws_sdk_sqs::Client::new(&sdk);
    let app: Arc<App<Aws>> = Arc::new(App::new(Parts {
        store: DynamoStore::from_sdk_config(&sdk, config.table_name)
            .with_sealer(hookline::config::credentials_sealer(&sdk)?),
        events: SqsEventQueue::new(sqs.clone(), events_queue_url()?),
        deliveries: delivery_queue(sqs)?,
        http: ReqwestClient::new(hookline::config::egress_policy()?),
        clock: Arc::new(SystemClock),
        rules: WebhookRules {
            max_per_account: config.max_webhooks_per_account,
            allow_plain_http: config.allow_plain_http,
            egress: hookline::config::egress_policy()?,
        },
        resolver: ResolverSettings {
            deadline: config.resolve_deadline,
            ..ResolverSettings::default()
        },
        delivery: DeliverySettings::default(),
    }));
    lambda_http::run(service_fn(move |req: Request| {
        let app = app.clone();
        async move { Ok::<_, Infallible>(app.handle(req).await) }
    }))
    .await
}
