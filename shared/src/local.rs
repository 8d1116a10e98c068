//! The local stack's queues: their set-up (`hookline-admin init-local`), and, with the `local`
//! feature, what Lambda's SQS event source mapping does, for `make run` and tests: receive a
//! batch, hand it to the function as a real SQS event, delete the messages the function did not
//! list in `batchItemFailures`, and leave the rest to reappear (and, after the queue's
//! maxReceiveCount, move to its dead-letter queue). The Lambda binaries build without it.

#[cfg(feature = "local")]
use std::future::Future;

#[cfg(feature = "local")]
use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent, SqsMessage};
#[cfg(feature = "local")]
use aws_sdk_sqs::types::MessageSystemAttributeName;

#[derive(Debug, thiserror::Error)]
#[error("local event source: {0}")]
pub struct PumpError(pub String);

fn sqs_error(e: impl std::error::Error + 'static) -> PumpError {
    PumpError(aws_sdk_sqs::error::DisplayErrorContext(e).to_string())
}

/// One receive from `queue_url` (waiting up to `wait_secs` for messages), handed to `invoke`.
/// `visibility_secs` overrides the queue's visibility timeout for what is received. Returns how
/// many messages were handed over and how many the function kept.
#[cfg(feature = "local")]
pub async fn pump_once<F, Fut>(
    sqs: &aws_sdk_sqs::Client,
    queue_url: &str,
    queue_arn: &str,
    wait_secs: i32,
    visibility_secs: Option<i32>,
    invoke: F,
) -> Result<(usize, usize), PumpError>
where
    F: FnOnce(SqsEvent) -> Fut,
    Fut: Future<Output = Result<SqsBatchResponse, PumpError>>,
{
    pump_batch(
        sqs,
        queue_url,
        queue_arn,
        wait_secs,
        visibility_secs,
        10,
        std::time::Duration::ZERO,
        invoke,
    )
    .await
}

/// As `pump_once`, with batches of up to `batch_size` messages: as Lambda's poller does for a
/// `BatchSize` over 10, several receives (10 messages each at most) fill one invocation's
/// batch, for as long as messages are there, and then (`MaximumBatchingWindowInSeconds`) until
/// `window` has passed since the first of them came.
#[cfg(feature = "local")]
#[allow(clippy::too_many_arguments)]
pub async fn pump_batch<F, Fut>(
    sqs: &aws_sdk_sqs::Client,
    queue_url: &str,
    queue_arn: &str,
    wait_secs: i32,
    visibility_secs: Option<i32>,
    batch_size: usize,
    window: std::time::Duration,
    invoke: F,
) -> Result<(usize, usize), PumpError>
where
    F: FnOnce(SqsEvent) -> Fut,
    Fut: Future<Output = Result<SqsBatchResponse, PumpError>>,
{
    let mut messages: Vec<aws_sdk_sqs::types::Message> = Vec::new();
    let mut window_ends: Option<std::time::Instant> = None;
    while messages.len() < batch_size {
        let out = sqs
            .receive_message()
            .queue_url(queue_url)
            .max_number_of_messages((batch_size - messages.len()).min(10) as i32)
            .wait_time_seconds(if messages.is_empty() { wait_secs } else { 0 })
            .set_visibility_timeout(visibility_secs)
            .message_system_attribute_names(MessageSystemAttributeName::All)
            .send()
            .await
            .map_err(sqs_error)?;
        let asked = (batch_size - messages.len()).min(10);
        let got = out.messages().len();
        messages.extend(out.messages().iter().cloned());
        if messages.is_empty() {
            break;
        }
        let window_ends = *window_ends.get_or_insert_with(|| std::time::Instant::now() + window);
        if got < asked {
            // The queue has no more for now: wait for more within the window.
            if std::time::Instant::now() >= window_ends {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
    }
    let out = aws_sdk_sqs::operation::receive_message::ReceiveMessageOutput::builder()
        .set_messages(Some(messages))
        .build();
    if out.messages().is_empty() {
        return Ok((0, 0));
    }
    let mut event = SqsEvent::default();
    event.records = out
        .messages()
        .iter()
        .map(|m| {
            let mut r = SqsMessage::default();
            r.message_id = m.message_id().map(String::from);
            r.receipt_handle = m.receipt_handle().map(String::from);
            r.body = m.body().map(String::from);
            r.md5_of_body = m.md5_of_body().map(String::from);
            r.attributes = m
                .attributes()
                .map(|a| {
                    a.iter()
                        .map(|(k, v)| (k.as_str().to_string(), v.clone()))
                        .collect()
                })
                .unwrap_or_default();
            r.event_source = Some("aws:sqs".into());
            r.event_source_arn = Some(queue_arn.to_string());
            r.aws_region = Some("us-east-1".into());
            r
        })
        .collect();
    let handed = event.records.len();
    let response = invoke(event).await?;
    let kept: Vec<&str> = response
        .batch_item_failures
        .iter()
        .map(|f| f.item_identifier.as_str())
        .collect();
    // As Lambda does: the handled messages deleted with DeleteMessageBatch, 10 per call.
    let done: Vec<&aws_sdk_sqs::types::Message> = out
        .messages()
        .iter()
        .filter(|m| !kept.contains(&m.message_id().unwrap_or_default()))
        .collect();
    for chunk in done.chunks(10) {
        let entries = chunk
            .iter()
            .enumerate()
            .map(|(i, m)| {
                aws_sdk_sqs::types::DeleteMessageBatchRequestEntry::builder()
                    .id(i.to_string())
                    .receipt_handle(m.receipt_handle().unwrap_or_default())
                    .build()
                    .expect("id and receipt handle are set")
            })
            .collect();
        let deleted = sqs
            .delete_message_batch()
            .queue_url(queue_url)
            .set_entries(Some(entries))
            .send()
            .await
            .map_err(sqs_error)?;
        if let Some(failed) = deleted.failed().first() {
            return Err(PumpError(format!(
                "DeleteMessageBatch refused an entry: {}",
                failed.code()
            )));
        }
    }
    Ok((handed, kept.len()))
}

/// The queue's ARN (the event source the function sees).
pub async fn queue_arn(sqs: &aws_sdk_sqs::Client, queue_url: &str) -> Result<String, PumpError> {
    use aws_sdk_sqs::types::QueueAttributeName;
    let out = sqs
        .get_queue_attributes()
        .queue_url(queue_url)
        .attribute_names(QueueAttributeName::QueueArn)
        .send()
        .await
        .map_err(sqs_error)?;
    out.attributes()
        .and_then(|a| a.get(&QueueAttributeName::QueueArn).cloned())
        .ok_or_else(|| PumpError(format!("{queue_url} has no ARN")))
}

/// A queue whose messages move to `NAME-dlq` (kept 14 days) after `max_receives` receives that
/// did not delete them, as the SAM template sets up. Returns the queue's URL.
pub async fn create_queue_with_dlq(
    sqs: &aws_sdk_sqs::Client,
    name: &str,
    max_receives: u32,
) -> Result<String, PumpError> {
    use aws_sdk_sqs::types::QueueAttributeName;
    let dlq = sqs
        .create_queue()
        .queue_name(format!("{name}-dlq"))
        .attributes(QueueAttributeName::MessageRetentionPeriod, "1209600")
        .send()
        .await
        .map_err(sqs_error)?;
    let dlq_arn = queue_arn(sqs, dlq.queue_url().unwrap_or_default()).await?;
    let redrive =
        serde_json::json!({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": max_receives})
            .to_string();
    let out = sqs
        .create_queue()
        .queue_name(name)
        .attributes(QueueAttributeName::RedrivePolicy, redrive)
        .send()
        .await
        .map_err(sqs_error)?;
    Ok(out.queue_url().unwrap_or_default().to_string())
}

/// The KMS key behind `alias` (`alias/...`), created with the alias if there is none yet: what
/// the SAM template's key is for a deployed stack, for `make run` and tests (moto's KMS).
pub async fn kms_key_for_alias(kms: &aws_sdk_kms::Client, alias: &str) -> Result<String, String> {
    fn describe<E: std::error::Error + 'static>(e: E) -> String {
        aws_sdk_kms::error::DisplayErrorContext(e).to_string()
    }
    match kms.describe_key().key_id(alias).send().await {
        Ok(out) => {
            if let Some(meta) = out.key_metadata() {
                return Ok(meta.key_id().to_string());
            }
        }
        Err(e)
            if e.as_service_error()
                .is_some_and(|e| e.is_not_found_exception()) => {}
        Err(e) => return Err(describe(e)),
    }
    let created = kms
        .create_key()
        .description("Hookline local stack: seals webhook credentials")
        .send()
        .await
        .map_err(describe)?;
    let key_id = created
        .key_metadata()
        .map(|m| m.key_id().to_string())
        .ok_or("CreateKey answered without a key")?;
    match kms
        .create_alias()
        .alias_name(alias)
        .target_key_id(&key_id)
        .send()
        .await
    {
        Ok(_) => Ok(key_id),
        // Another process made it meanwhile: use theirs.
        Err(e)
            if e.as_service_error()
                .is_some_and(|e| e.is_already_exists_exception()) =>
        {
            let out = kms
                .describe_key()
                .key_id(alias)
                .send()
                .await
                .map_err(describe)?;
            out.key_metadata()
                .map(|m| m.key_id().to_string())
                .ok_or_else(|| "DescribeKey answered without a key".to_string())
        }
        Err(e) => Err(describe(e)),
    }
}
