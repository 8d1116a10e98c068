//! Outbound delivery (docs/delivery-pipeline.md): the events queue's handler fans each event
//! out into one delivery message per subscribed webhook; the deliveries queue's handler makes
//! one signed POST per message; failures retry on a schedule of days as delivery messages too.
//! Nothing is lost, and no success is sent twice unless a fault falls between a send and its
//! record.
//!
//! - `engine`: the steps (fan-out, delivery, resend, recover, notices) over narrow ports;
//! - `decide`: the pure decisions (judging an answer, the next step, jitter, timeouts).

use std::time::Duration;

use serde_json::json;

use crate::events::Event;
use crate::formats;
use crate::model::{Format, Webhook};
use crate::queue::QueueError;
use crate::store::StoreError;

pub mod decide;
pub mod engine;

pub use engine::{
    publish, repeat_delay, Backend, Deliverer, Handled, Published, Receive, EVENT_RETENTION, FRESH,
    MAX_RECOVER, NOTICE_RECORD_WAIT, RECORD_MARGIN, RECOVER_WINDOW,
};

#[derive(Clone, Debug)]
pub struct DeliverySettings {
    /// The waits after each failed attempt; retries end when it runs out.
    pub schedule: Vec<Duration>,
    /// How much of a receiver's answer is kept in the log.
    pub response_cap: usize,
    /// The early "failing" e-mail goes out after this many failed attempts in a row.
    pub warn_after: u32,
    /// A webhook failing this long without a success is set inactive.
    pub disable_after: time::Duration,
    pub notice_window: time::Duration,
    pub retention: time::Duration,
    /// v2: how long a failing webhook's early attempts wait (`decide::attempt_timeout`).
    pub suspect_timeout: Duration,
    /// v2: how many scheduled attempts of a delivery count as early.
    pub suspect_attempts: usize,
    /// How long a first try in the prompt lane waits before its delivery moves to the slow
    /// lane (`decide::prompt_lane_cut`).
    pub prompt_timeout: Duration,
    /// Failure e-mails per account per clock hour, both functions together.
    pub emails_per_hour: u32,
}

/// The Standard Webhooks schedule: 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 14 h, 20 h, 24 h
/// (ten attempts over about three days), each ±20%.
pub fn default_schedule() -> Vec<Duration> {
    [5, 300, 1_800, 7_200, 18_000, 36_000, 50_400, 72_000, 86_400]
        .into_iter()
        .map(Duration::from_secs)
        .collect()
}

impl Default for DeliverySettings {
    fn default() -> Self {
        Self {
            schedule: default_schedule(),
            response_cap: 16 * 1024,
            warn_after: 4,
            disable_after: time::Duration::days(5),
            notice_window: time::Duration::minutes(15),
            retention: time::Duration::days(30),
            suspect_timeout: Duration::from_secs(5),
            suspect_attempts: 3,
            // A burst of first tries to one account's receivers that stopped answering holds
            // every prompt instance this long, and Lambda's 1 s batching window comes before
            // and after it: another account's delivery waits about 1 + 2 + 1 = 4 s (at 3 s it
            // was 5 s, the fairness target itself). Slack's Events API waits 3 s, Shopify's
            // webhooks 5 s; a receiver slower than this still gets its full timeout, in the
            // slow lane.
            prompt_timeout: Duration::from_secs(2),
            emails_per_hour: crate::notify::DEFAULT_EMAILS_PER_HOUR,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum DeliveryError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Queue(#[from] QueueError),
    /// The invocation's deadline came before all of an event's delivery messages were queued:
    /// the event is received again (a repeated fan-out is harmless).
    #[error("the invocation's deadline came before the fan-out was queued")]
    OutOfTime,
    #[error("delivery {0} is being attempted by another worker")]
    InFlight(String),
    #[error(transparent)]
    Mail(#[from] crate::notify::MailError),
    /// A resend asked of a delivery whose log is full (`MAX_ATTEMPTS`).
    #[error("delivery {0} was attempted {MAX_ATTEMPTS} times; it takes no more resends")]
    AttemptsExhausted(String),
    /// A resend of a delivery whose event's data was not kept (a first-try success of an
    /// event published straight to SQS).
    #[error("delivery {0} cannot be resent: its event's data was not kept")]
    PayloadNotKept(String),
}

/// Most attempts one delivery keeps: the schedule's ten and the resends a user asks for. With
/// 2 KiB excerpts and a 64 KiB event, the item stays under half of DynamoDB's 400 KB, so its
/// record can never fail for size (and a failing record would repeat the send).
pub const MAX_ATTEMPTS: usize = 60;

/// The body receivers get: `{"event": ..., "data": ...}` in the webhook's format.
pub fn payload(webhook: &Webhook, event: &Event) -> Vec<u8> {
    match webhook.format {
        // Serialised from borrowed parts, the data as its text: for events published through
        // the API, the same bytes as encoding the assembled value.
        Format::Json => {
            #[derive(serde::Serialize)]
            struct Body<'a> {
                event: &'a str,
                data: &'a crate::events::EventData,
            }
            let body = Body {
                event: event.event.as_str(),
                data: &event.data,
            };
            serde_json::to_vec(&body).expect("JSON values always serialise")
        }
        other => formats::encode(
            other,
            "webhook",
            &json!({"event": event.event.as_str(), "data": event.data.to_value()}),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_schedule_spans_about_three_days() {
        let total: u64 = default_schedule().iter().map(Duration::as_secs).sum();
        assert_eq!(total, 272_105); // 3 days, 3 h, 35 min, 5 s
    }

    #[test]
    fn json_payloads_are_the_encoded_event_and_data() {
        use crate::model::{WebhookPatch, WebhookRules};
        let now = time::OffsetDateTime::now_utc();
        let webhook = WebhookPatch::from_json(&json!({"name": "n", "flow": "outbound",
            "url": "https://e.com/h", "notificationEmail": "ops@example.com", "events": ["case:new"]}))
        .unwrap()
        .create("wh_1".into(), "acme".into(), now, &WebhookRules::default())
        .unwrap();
        let event = Event::from_publish(
            &json!({"event": "case:new", "data": {"caseId": "72", "z": [1, {"b": null, "a": "é\n\"x\""}], "a": 1.5}}),
            "acme",
            now,
        )
        .unwrap();
        let assembled = json!({"event": "case:new", "data": event.data.to_value()});
        assert_eq!(
            payload(&webhook, &event),
            formats::encode(Format::Json, "webhook", &assembled)
        );
    }
}
