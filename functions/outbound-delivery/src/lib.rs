//! The SQS adapter of outbound delivery: one batch from the events queue (events to fan out)
//! or the deliveries queue (retries due, and failure e-mails to send), answered with `batchItemFailures` so only the records
//! that need another go return to their queue.

use aws_lambda_events::event::sqs::{BatchItemFailure, SqsBatchResponse, SqsEvent, SqsMessage};
use futures::stream::{self, StreamExt};
use hookline::events::Event;
use hookline::http::HttpClient;
use hookline::notify::Mailer;
use hookline::outbound::{Deliverer, DeliveryBackend, RetryOutcome};
use hookline::queue::{NoticeMessage, RetryMessage, RetryQueue};

/// Records handled at once (each fans out with its own bound).
const RECORDS_AT_ONCE: usize = 10;

/// What one SQS message is.
enum Work {
    Event(Event),
    Retry(RetryMessage),
    Notice(NoticeMessage),
}

fn parse(body: &str) -> Result<Work, String> {
    let value: serde_json::Value =
        serde_json::from_str(body).map_err(|e| format!("not JSON: {e}"))?;
    if value.get("notice").is_some() {
        serde_json::from_value(value)
            .map(Work::Notice)
            .map_err(|e| format!("bad notice: {e}"))
    } else if value.get("deliveryId").is_some() {
        serde_json::from_value(value)
            .map(Work::Retry)
            .map_err(|e| format!("bad retry message: {e}"))
    } else {
        serde_json::from_value(value)
            .map(Work::Event)
            .map_err(|e| format!("bad event: {e}"))
    }
}

/// `true` when the message is finished with (SQS deletes it); `false` keeps it on its queue.
async fn process<S, H, M, Q>(deliverer: &Deliverer<S, H, M, Q>, message: &SqsMessage) -> bool
where
    S: DeliveryBackend,
    H: HttpClient,
    M: Mailer,
    Q: RetryQueue,
{
    let id = message.message_id.as_deref().unwrap_or_default();
    let work = match parse(message.body.as_deref().unwrap_or_default()) {
        Ok(work) => work,
        Err(why) => {
            // Left on the queue: after maxReceiveCount receives the redrive policy moves it to
            // the dead-letter queue, where it waits for a person. It never loops forever.
            tracing::error!(message_id = id, why, "unreadable message");
            return false;
        }
    };
    let outcome = match &work {
        Work::Event(event) => deliverer.handle_event(event).await.map(|n| {
            tracing::info!(event_id = %event.id, webhooks = n, "event fanned out");
            RetryOutcome::Done
        }),
        Work::Retry(retry) => {
            let receipt = message.receipt_handle.as_deref().unwrap_or_default();
            deliverer.handle_retry(retry, receipt).await
        }
        Work::Notice(notice) => {
            let receipt = message.receipt_handle.as_deref().unwrap_or_default();
            deliverer.handle_notice(notice, receipt).await
        }
    };
    match outcome {
        Ok(RetryOutcome::Done) => true,
        Ok(RetryOutcome::Postponed) => false,
        Err(e) => {
            tracing::error!(message_id = id, error = %e, "message failed; it will be received again");
            false
        }
    }
}

/// Handles a batch; the answer lists the messages to keep.
pub async fn handle_batch<S, H, M, Q>(
    deliverer: &Deliverer<S, H, M, Q>,
    event: SqsEvent,
) -> SqsBatchResponse
where
    S: DeliveryBackend,
    H: HttpClient,
    M: Mailer,
    Q: RetryQueue,
{
    let kept: Vec<String> = stream::iter(event.records.iter())
        .map(|message| async move { (message, process(deliverer, message).await) })
        .buffer_unordered(RECORDS_AT_ONCE)
        .filter_map(|(message, done)| async move {
            (!done).then(|| message.message_id.clone().unwrap_or_default())
        })
        .collect()
        .await;
    let mut response = SqsBatchResponse::default();
    response.batch_item_failures = kept
        .into_iter()
        .map(|id| {
            let mut failure = BatchItemFailure::default();
            failure.item_identifier = id;
            failure
        })
        .collect();
    response
}
