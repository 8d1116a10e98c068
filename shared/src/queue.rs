//! The queues between functions: events from publishers to the delivery function. SQS behind
//! a narrow trait, with an in-memory implementation for unit tests.

use std::future::Future;
use std::sync::Mutex;

use aws_sdk_sqs::error::DisplayErrorContext;

use crate::events::Event;

#[derive(Debug, thiserror::Error)]
#[error("queue error: {0}")]
pub struct QueueError(pub String);

fn sqs_error(e: impl std::error::Error + 'static) -> QueueError {
    QueueError(DisplayErrorContext(e).to_string())
}

pub trait EventQueue: Send + Sync {
    fn publish(&self, event: &Event) -> impl Future<Output = Result<(), QueueError>> + Send;
}

#[derive(Clone, Debug)]
pub struct SqsEventQueue {
    client: aws_sdk_sqs::Client,
    url: String,
}

impl SqsEventQueue {
    pub fn new(client: aws_sdk_sqs::Client, url: impl Into<String>) -> Self {
        Self {
            client,
            url: url.into(),
        }
    }
}

impl EventQueue for SqsEventQueue {
    async fn publish(&self, event: &Event) -> Result<(), QueueError> {
        let body = serde_json::to_string(event).expect("events always serialise");
        self.client
            .send_message()
            .queue_url(&self.url)
            .message_body(body)
            .send()
            .await
            .map_err(sqs_error)?;
        Ok(())
    }
}

/// Keeps what was published; for unit tests.
#[derive(Debug, Default)]
pub struct MemoryEventQueue(pub Mutex<Vec<Event>>);

impl EventQueue for MemoryEventQueue {
    async fn publish(&self, event: &Event) -> Result<(), QueueError> {
        self.0.lock().unwrap().push(event.clone());
        Ok(())
    }
}

/// "Attempt this delivery again at `due_at`": one message per scheduled retry on the
/// deliveries queue.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RetryMessage {
    pub account_id: String,
    pub webhook_id: String,
    pub delivery_id: String,
    #[serde(with = "time::serde::rfc3339")]
    pub due_at: time::OffsetDateTime,
    /// A resend the user asked for (recover): attempted whatever the delivery's status.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub manual: bool,
}

/// "Send this failure e-mail", on the deliveries queue: queued rather than sent in passing, so
/// neither a crash nor a failing SES loses it (the message comes back until it is sent).
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NoticeMessage {
    /// The kind (`outbound-failing`, `outbound-exhausted`, `outbound-disabled`); its presence
    /// tells a notice from a retry.
    pub notice: String,
    pub account_id: String,
    pub webhook_id: String,
    pub to: String,
    pub subject: String,
    pub text: String,
    #[serde(with = "time::serde::rfc3339")]
    pub at: time::OffsetDateTime,
    /// Holds the notice window's claim: a redelivered message still owns it.
    pub token: String,
}

/// SQS delays a message 15 minutes at most.
pub const MAX_DELAY: std::time::Duration = std::time::Duration::from_secs(15 * 60);
/// And hides a received one 12 hours at most, counted from its receive: a
/// `ChangeMessageVisibility` beyond the time left fails.
pub const MAX_VISIBILITY: std::time::Duration = std::time::Duration::from_secs(12 * 60 * 60);
/// What a handler may ask to hide a message for: the 12 hours less a margin for the time since
/// the receive (the poller's hand-over and the invocation so far, both well under 15 minutes).
pub const MAX_HIDE: std::time::Duration = std::time::Duration::from_secs(12 * 60 * 60 - 15 * 60);

/// SQS takes `DelaySeconds` and `VisibilityTimeout` in whole seconds: a wait is rounded up, so
/// a message never becomes visible before the time it waits for; at most `max`.
pub fn whole_seconds(wait: std::time::Duration, max: std::time::Duration) -> i32 {
    let rounded = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
    rounded.min(max.as_secs()) as i32
}

pub trait RetryQueue: Send + Sync {
    /// Sends `message`, visible after `delay` (at most `MAX_DELAY`).
    fn schedule(
        &self,
        message: &RetryMessage,
        delay: std::time::Duration,
    ) -> impl Future<Output = Result<(), QueueError>> + Send;
    /// Queues a failure e-mail.
    fn send_notice(
        &self,
        message: &NoticeMessage,
    ) -> impl Future<Output = Result<(), QueueError>> + Send;
    /// Hides a received message for `delay` more (at most `MAX_HIDE`): how a wait longer than
    /// SQS's delay limit continues without sending again.
    fn postpone(
        &self,
        receipt_handle: &str,
        delay: std::time::Duration,
    ) -> impl Future<Output = Result<(), QueueError>> + Send;
}

#[derive(Clone, Debug)]
pub struct SqsRetryQueue {
    client: aws_sdk_sqs::Client,
    url: String,
}

impl SqsRetryQueue {
    pub fn new(client: aws_sdk_sqs::Client, url: impl Into<String>) -> Self {
        Self {
            client,
            url: url.into(),
        }
    }
}

impl RetryQueue for SqsRetryQueue {
    async fn schedule(
        &self,
        message: &RetryMessage,
        delay: std::time::Duration,
    ) -> Result<(), QueueError> {
        let body = serde_json::to_string(message).expect("retry messages always serialise");
        self.client
            .send_message()
            .queue_url(&self.url)
            .message_body(body)
            .delay_seconds(whole_seconds(delay, MAX_DELAY))
            .send()
            .await
            .map_err(sqs_error)?;
        Ok(())
    }

    async fn send_notice(&self, message: &NoticeMessage) -> Result<(), QueueError> {
        let body = serde_json::to_string(message).expect("notices always serialise");
        self.client
            .send_message()
            .queue_url(&self.url)
            .message_body(body)
            .send()
            .await
            .map_err(sqs_error)?;
        Ok(())
    }

    async fn postpone(
        &self,
        receipt_handle: &str,
        delay: std::time::Duration,
    ) -> Result<(), QueueError> {
        self.client
            .change_message_visibility()
            .queue_url(&self.url)
            .receipt_handle(receipt_handle)
            .visibility_timeout(whole_seconds(delay, MAX_HIDE))
            .send()
            .await
            .map_err(sqs_error)?;
        Ok(())
    }
}

/// Keeps scheduled retries and postponements; for unit tests.
#[derive(Debug, Default)]
pub struct MemoryRetryQueue {
    pub scheduled: Mutex<Vec<(RetryMessage, std::time::Duration)>>,
    pub postponed: Mutex<Vec<(String, std::time::Duration)>>,
    pub notices: Mutex<Vec<NoticeMessage>>,
}

impl RetryQueue for MemoryRetryQueue {
    async fn schedule(
        &self,
        message: &RetryMessage,
        delay: std::time::Duration,
    ) -> Result<(), QueueError> {
        self.scheduled
            .lock()
            .unwrap()
            .push((message.clone(), delay.min(MAX_DELAY)));
        Ok(())
    }

    async fn postpone(
        &self,
        receipt_handle: &str,
        delay: std::time::Duration,
    ) -> Result<(), QueueError> {
        self.postponed
            .lock()
            .unwrap()
            .push((receipt_handle.to_string(), delay.min(MAX_HIDE)));
        Ok(())
    }

    async fn send_notice(&self, message: &NoticeMessage) -> Result<(), QueueError> {
        self.notices.lock().unwrap().push(message.clone());
        Ok(())
    }
}
