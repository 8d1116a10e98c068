//! The queues between functions: events from publishers to the delivery function. SQS behind
//! a narrow trait, with an in-memory implementation for unit tests.

use std::future::Future;
use std::sync::Mutex;

use aws_sdk_sqs::error::DisplayErrorContext;

use crate::events::Event;

#[derive(Debug, thiserror::Error)]
#[error("queue error: {0}")]
pub struct QueueError(pub String);

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
            .map_err(|e| QueueError(DisplayErrorContext(e).to_string()))?;
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
