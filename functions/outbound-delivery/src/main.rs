//! Lambda entry point of outbound delivery: configuration and clients, then `handle_batch`.

use std::sync::Arc;

use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent};
use hookline::clock::SystemClock;
use hookline::config::{aws_sdk_config, delivery_queue, required, DeliveryConfig};
use hookline::http::ReqwestClient;
use hookline::notify::SesMailer;
use hookline::outbound::Deliverer;
use hookline::outbound::DeliverySettings;
use hookline::store::dynamo::DynamoStore;
use lambda_runtime::{service_fn, Error, LambdaEvent};
use time::OffsetDateTime;

/// mimalloc, not glibc's malloc: allocation was about 30% of the CPU of a delivery.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> Result<(), Error> {
    hookline::telemetry::init();
    let config = DeliveryConfig::from_env()?;
    let sdk = aws_sdk_config().await;
    let engine = Arc::new(Deliverer::new(
        DynamoStore::from_sdk_config(&sdk, config.table_name)
            .with_sealer(hookline::config::credentials_sealer(&sdk)?),
        ReqwestClient::new(hookline::config::egress_policy()?),
        SesMailer::new(
            aws_sdk_sesv2::Client::new(&sdk),
            required("HOOKLINE_SENDER_EMAIL")?,
        ),
        delivery_queue(aws_sdk_sqs::Client::new(&sdk))?,
        Arc::new(SystemClock),
        hookline::random::os(),
        DeliverySettings {
            schedule: config.retry_schedule,
            emails_per_hour: hookline::config::emails_per_hour()?,
            ..DeliverySettings::default()
        },
    ));
    lambda_runtime::run(service_fn(move |event: LambdaEvent<SqsEvent>| {
        let engine = engine.clone();
        // No attempt starts that could not end before the invocation's deadline.
        let deadline =
            outbound_delivery::deadline_of(event.context.deadline, OffsetDateTime::now_utc());
        async move {
            Ok::<SqsBatchResponse, Error>(
                // Boxed: the batch's future is too deep for the compiler's layout otherwise.
                Box::pin(outbound_delivery::handle_batch(
                    &engine,
                    event.payload,
                    deadline,
                ))
                .await,
            )
        }
    }))
    .await
}
