//! The queues between functions: events from publishers to the fan-out, delivery messages
//! and failure e-mails from the fan-out and the deliveries to the delivery function. SQS
//! behind narrow traits, with in-memory implementations for unit tests.

use std::future::Future;
#[cfg(any(test, feature = "testing"))]
use std::sync::Mutex;

use aws_sdk_sqs::error::DisplayErrorContext;

use crate::events::Event;

#[derive(Debug, thiserror::Error)]
#[error("queue error: {0}")]
pub struct QueueError(pub String);

fn sqs_error(e: impl std::error::Error + 'static) -> QueueError {
    QueueError(DisplayErrorContext(e).to_string())
}

/// The events queue, as the API publishes to it.
pub trait EventQueue: Send + Sync {
    fn publish(
        &self,
        message: &EventMessage,
    ) -> impl Future<Output = Result<(), QueueError>> + Send;
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
    async fn publish(&self, message: &EventMessage) -> Result<(), QueueError> {
        let body = serde_json::to_string(message).expect("events always serialise");
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
#[cfg(any(test, feature = "testing"))]
#[derive(Debug, Default)]
pub struct MemoryEventQueue(pub Mutex<Vec<Event>>);

#[cfg(any(test, feature = "testing"))]
impl EventQueue for MemoryEventQueue {
    async fn publish(&self, message: &EventMessage) -> Result<(), QueueError> {
        self.0.lock().unwrap().push(message.event.clone());
        Ok(())
    }
}

/// v1's retry message ("attempt this delivery again at `due_at`"): still read from the
/// deliveries queue after an upgrade in place, and attempted under the engine's rules.
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

impl RetryMessage {
    /// The v2 delivery message it stands for: checked, as a retry with no event of its own
    /// (the v1 record holds the event).
    pub fn as_delivery(&self) -> DeliveryMessage {
        DeliveryMessage {
            due_at: Some(self.due_at),
            check: true,
            manual: self.manual,
            ..DeliveryMessage::new(&self.delivery_id, &self.account_id, &self.webhook_id)
        }
    }
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
    /// The delivery an exhaustion notice is about: it is sent only once that delivery's
    /// record says it failed (a copy of its message may have succeeded meanwhile).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delivery_id: Option<String>,
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

// ---- one message per delivery (docs/delivery-pipeline.md) ----

/// What the events queue carries: the published event, and whether the API saw its id before
/// (`republished`: its deliveries then take the checked path, so nothing is sent twice).
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase", from = "QueuedEvent")]
pub struct EventMessage {
    #[serde(flatten)]
    pub event: Event,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub republished: bool,
}

/// An event message as read from the events queue, in one pass: serde reads a flattened
/// field by buffering the whole body first, and cannot hand an event's data on as text. It
/// also notes the keys only the function's own messages have, which a publisher writing to
/// the events queue must not use (`has_internal_keys`).
#[derive(serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct QueuedEvent {
    id: String,
    event: crate::model::EventType,
    account_id: String,
    #[serde(with = "time::serde::rfc3339")]
    occurred_at: time::OffsetDateTime,
    data: crate::events::EventData,
    #[serde(default)]
    republished: bool,
    #[serde(default)]
    rest_of: Option<serde::de::IgnoredAny>,
    #[serde(default)]
    notice: Option<serde::de::IgnoredAny>,
    #[serde(default)]
    v: Option<serde::de::IgnoredAny>,
    #[serde(default)]
    delivery_id: Option<serde::de::IgnoredAny>,
}

impl QueuedEvent {
    /// Whether it has a key of a delivery message, a fan-out's rest or a notice.
    pub fn has_internal_keys(&self) -> bool {
        self.rest_of.is_some()
            || self.notice.is_some()
            || self.v.is_some()
            || self.delivery_id.is_some()
    }
}

impl From<QueuedEvent> for EventMessage {
    fn from(q: QueuedEvent) -> Self {
        EventMessage {
            event: Event {
                id: q.id,
                event: q.event,
                account_id: q.account_id,
                occurred_at: q.occurred_at,
                data: q.data,
            },
            republished: q.republished,
        }
    }
}

/// One delivery to attempt, on the deliveries queue: a first try from the fan-out, a
/// scheduled retry, or a resend a user asked for.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DeliveryMessage {
    /// Always 2: tells these from v1's retry messages, which have no version.
    pub v: u8,
    pub delivery_id: String,
    pub account_id: String,
    pub webhook_id: String,
    /// The event with its data (first tries and retries); `None` on resends, which read it
    /// from the store.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub event: Option<Event>,
    /// The webhook as the fan-out's Query read it (first tries only), and whether its failure
    /// streak was running then.
    /// Written and read through `carried_webhook`, once per container for each webhook.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        serialize_with = "crate::carried_webhook::serialize",
        deserialize_with = "crate::carried_webhook::deserialize"
    )]
    pub webhook: Option<std::sync::Arc<crate::model::Webhook>>,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub failing: bool,
    /// Not to be attempted before this (retries).
    #[serde(
        default,
        with = "time::serde::rfc3339::option",
        skip_serializing_if = "Option::is_none"
    )]
    pub due_at: Option<time::OffsetDateTime>,
    /// Claim the delivery before sending (its fan-out may have run before).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub check: bool,
    /// A resend the user asked for: attempted whatever the delivery's status.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub manual: bool,
    /// Goes to the slow lane (`Lane::Slow`): its receiver was failing when it was queued (a
    /// first try to a webhook whose streak runs, every retry), or it is a bulk recover.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub slow: bool,
    /// How many copies came before this one, each sent again in place of a message parked
    /// near the in-flight quota (`parked_copy`): SQS counts each copy's receives from 1 again,
    /// so these count as receives too.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub parked: u32,
}

fn is_zero(n: &u32) -> bool {
    *n == 0
}

/// A message sent again this many times is hidden instead, whatever the queue holds: its
/// receives then count toward `maxReceiveCount` and the dead-letter queue, so a message that
/// never comes to an end cannot go round for ever as copies. The longest legitimate wait
/// (24 h, stretched to twice its slot by `Retry-After`, plus 20%) takes 231 copies.
pub const MAX_PARKED: u32 = 300;

/// Which deliveries queue a message goes to. Work that may hang (receivers already failing,
/// bulk recovers) has a queue of its own, whose event source has its own, smaller
/// `MaximumConcurrency`: however much of it there is, it holds only that share of the
/// function's instances, and first tries to healthy receivers never wait behind it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Lane {
    #[default]
    Prompt,
    Slow,
}

pub const DELIVERY_MESSAGE_VERSION: u8 = 2;

/// The rest of a fan-out that did not fit its invocation, on the deliveries queue: its event,
/// and the webhook id up to which (in id order) every delivery message was queued. Its
/// handler queues the others, checked, and passes on what it cannot fit in turn.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FanOutRest {
    pub rest_of: Event,
    pub after: String,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub republished: bool,
    /// Not to be handled before this: after the fast-path tries of the fan-out it continues
    /// have recorded (`outbound::repeat_delay`).
    #[serde(
        default,
        with = "time::serde::rfc3339::option",
        skip_serializing_if = "Option::is_none"
    )]
    pub due_at: Option<time::OffsetDateTime>,
    /// When the fan-out it continues read the subscriptions: webhooks made since get nothing,
    /// as if the whole fan-out had fitted one invocation.
    #[serde(
        default,
        with = "time::serde::rfc3339::option",
        skip_serializing_if = "Option::is_none"
    )]
    pub planned_at: Option<time::OffsetDateTime>,
}

impl FanOutRest {
    pub fn encode(&self) -> Encoded {
        Encoded {
            body: serde_json::to_string(self).expect("fan-out rests always serialise"),
            account_id: self.rest_of.account_id.clone(),
            due_at: self.due_at,
            lane: Lane::Prompt,
        }
    }
}

/// A delivery message as the queue sends it: its body, its fair-queue group (the account) and
/// when it is due.
#[derive(Clone, Debug, PartialEq)]
pub struct Encoded {
    pub body: String,
    pub account_id: String,
    pub due_at: Option<time::OffsetDateTime>,
    pub lane: Lane,
}

impl DeliveryMessage {
    /// A message for one delivery, due at once, in the prompt lane, carrying nothing else:
    /// callers set what differs (`DeliveryMessage { slow: true, ..DeliveryMessage::new(..) }`).
    pub fn new(
        delivery_id: impl Into<String>,
        account_id: impl Into<String>,
        webhook_id: impl Into<String>,
    ) -> Self {
        Self {
            v: DELIVERY_MESSAGE_VERSION,
            delivery_id: delivery_id.into(),
            account_id: account_id.into(),
            webhook_id: webhook_id.into(),
            event: None,
            webhook: None,
            failing: false,
            due_at: None,
            check: false,
            manual: false,
            slow: false,
            parked: 0,
        }
    }

    pub fn encode(&self) -> Encoded {
        Encoded {
            body: serde_json::to_string(self).expect("delivery messages always serialise"),
            account_id: self.account_id.clone(),
            due_at: self.due_at,
            lane: self.lane(),
        }
    }

    /// The copy sent in this message's place when it is parked near the in-flight quota
    /// (`Parked::SendAgain`): checked, since a first receive of the copy says nothing about
    /// whether its fan-out's webhook copy is fresh or an attempt was made.
    pub fn parked_copy(&self) -> Encoded {
        let mut copy = self.clone();
        copy.check = true;
        copy.parked = copy.parked.saturating_add(1);
        copy.encode()
    }

    pub fn lane(&self) -> Lane {
        if self.slow {
            Lane::Slow
        } else {
            Lane::Prompt
        }
    }

    /// Encodes this message, whose `event` is `None`, with `event_json`: a fan-out encodes
    /// its event once for all its messages (up to 64 KiB of data each) instead of once each.
    pub fn encode_with_event(&self, event_json: &str) -> Encoded {
        if self.event.is_some() {
            // Already carries its event: a second "event" key would make it unreadable.
            return self.encode();
        }
        let mut body = serde_json::to_string(self).expect("delivery messages always serialise");
        // A struct's JSON ends with its closing brace and always has fields before it (`v`).
        debug_assert!(body.ends_with('}'));
        body.pop();
        body.push_str(",\"event\":");
        body.push_str(event_json);
        body.push('}');
        Encoded {
            body,
            account_id: self.account_id.clone(),
            due_at: self.due_at,
            lane: self.lane(),
        }
    }
}

/// The deliveries queue as the engine sees it: no receipt handles, no SQS limits. A message
/// is visible from its `due_at` (or at once); the adapter turns that into delays.
pub trait DeliveryQueue: Send + Sync {
    /// Queues encoded messages, each visible from its `due_at`, counted from `now`.
    fn enqueue_encoded(
        &self,
        messages: &[Encoded],
        now: time::OffsetDateTime,
    ) -> impl Future<Output = Result<(), QueueError>> + Send;
    /// Queues `messages`, each visible from its `due_at`, counted from `now`.
    fn enqueue(
        &self,
        messages: &[DeliveryMessage],
        now: time::OffsetDateTime,
    ) -> impl Future<Output = Result<(), QueueError>> + Send {
        let encoded: Vec<Encoded> = messages.iter().map(DeliveryMessage::encode).collect();
        async move { self.enqueue_encoded(&encoded, now).await }
    }
    /// Queues a failure e-mail.
    fn send_notice(
        &self,
        message: &NoticeMessage,
    ) -> impl Future<Output = Result<(), QueueError>> + Send;
}

/// Which queue a received record came from, by its event source ARN. Only the deliveries
/// queues may carry the function's own messages (delivery messages, rests, notices):
/// publishers can write to the events queue, and a delivery message there could name any URL
/// and credentials.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Source {
    Events,
    Deliveries(Lane),
    /// A record of the in-memory fakes' tests, which carries no ARN: either kind.
    Unknown,
}

/// How a received message waits until it is due.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Parked {
    /// Hidden by a visibility change (at most `MAX_HIDE`): it stays in flight meanwhile, and
    /// the caller keeps it (lists it in `batchItemFailures`).
    Hidden,
    /// To be sent again, delayed (at most `MAX_DELAY`), by the caller: a delayed message is
    /// not in flight. Once the copy is queued the caller lets this one be deleted.
    SendAgain,
}

/// SQS's quota of in-flight messages on a standard queue: "a maximum of approximately
/// 120,000" received and not yet deleted or visible again. At the quota a queue hands out
/// nothing, its prompt first tries included.
pub const IN_FLIGHT_QUOTA: u64 = 120_000;

/// Waits this short are hidden whatever the queue holds: they leave the in-flight count
/// soon, and a visibility change costs less than a send.
pub const ALWAYS_HIDE: std::time::Duration = std::time::Duration::from_secs(60);

/// How long a reading of a queue's in-flight count is used: each container reads each lane
/// once a minute at most, and only while it has long waits to park.
pub const IN_FLIGHT_READING_MS: u64 = 60_000;

/// One lane's in-flight count as this container last read it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Reading {
    /// When it was read (ms on the adapter's clock).
    pub at_ms: u64,
    pub in_flight: u64,
    /// Long waits this container has hidden in the lane since this reading.
    pub hidden: u64,
    /// And between the reading before and this one: SQS's count may lag a minute, so those
    /// may be missing from this one.
    pub hidden_before: u64,
}

/// How a message that is to wait `wait` more is parked, from this container's latest reading
/// of its queue (`None`: it could not be read). Hiding is one request for up to 12 hours, but
/// a message hidden for hours holds a place under the quota all that time, and a queue at its
/// quota hands out nothing (and so cannot be drained by any decision made on receiving); a
/// delayed copy holds none but costs a send (and a receive) every 15 minutes. So long waits
/// are hidden only while the queue is under a quarter of its quota, each container hiding at
/// most its share of the room left under that quarter between two readings: the room divided
/// by twice the function's `containers` (the most instances its event sources run at once;
/// twice, since instances come and go within a minute). Its hides are counted over two
/// readings, since SQS's count may be a minute late. So the containers together hide at most
/// the room, and the queue stays under half its quota, as long as `containers` is right.
pub fn park(
    wait: std::time::Duration,
    reading: Option<Reading>,
    quota: u64,
    containers: u64,
) -> Parked {
    if wait <= ALWAYS_HIDE {
        return Parked::Hidden;
    }
    match reading {
        Some(r)
            if r.hidden + r.hidden_before
                < (quota / 4).saturating_sub(r.in_flight) / containers.max(1).saturating_mul(2) =>
        {
            Parked::Hidden
        }
        _ => Parked::SendAgain,
    }
}

/// What a deliveries adapter knows of its queues' in-flight counts: SQS's quota, how many
/// containers may be hiding at once, and this container's latest reading of each lane.
#[derive(Debug)]
pub struct InFlightGauge {
    quota: u64,
    containers: u64,
    readings: std::sync::Mutex<[Option<Reading>; 2]>,
    /// When a lane's count last could not be read: for a while its long waits are sent
    /// again without trying (a failing or slow read is not repeated record by record).
    failed_at: std::sync::Mutex<[Option<u64>; 2]>,
    /// Held while a lane's count is read, so a batch's records wait for one reading instead
    /// of each making its own.
    reading_now: [futures::lock::Mutex<()>; 2],
}

/// How long a failed read of a lane's count stands: its long waits are sent again meanwhile.
pub const FAILED_READING_MS: u64 = 10_000;

impl InFlightGauge {
    /// `containers`: the most instances of the function at once, all its event sources
    /// together (the sum of their `MaximumConcurrency`).
    pub fn new(quota: u64, containers: u64) -> Self {
        Self {
            quota: quota.max(1),
            containers: containers.max(1),
            readings: Default::default(),
            failed_at: Default::default(),
            reading_now: Default::default(),
        }
    }

    fn slot(lane: Lane) -> usize {
        match lane {
            Lane::Prompt => 0,
            Lane::Slow => 1,
        }
    }

    /// The reading made less than `IN_FLIGHT_READING_MS` before `now_ms`, if any.
    pub fn recent(&self, lane: Lane, now_ms: u64) -> Option<Reading> {
        let readings = self.readings.lock().unwrap_or_else(|e| e.into_inner());
        readings[Self::slot(lane)]
            .filter(|r| now_ms >= r.at_ms && now_ms - r.at_ms < IN_FLIGHT_READING_MS)
    }

    fn note(&self, lane: Lane, now_ms: u64, in_flight: u64) -> Reading {
        let mut readings = self.readings.lock().unwrap_or_else(|e| e.into_inner());
        let slot = &mut readings[Self::slot(lane)];
        // The hides since the last reading may be missing from this one too.
        let carried = slot
            .filter(|r| now_ms.saturating_sub(r.at_ms) < 2 * IN_FLIGHT_READING_MS)
            .map_or(0, |r| r.hidden);
        let reading = Reading {
            at_ms: now_ms,
            in_flight,
            hidden: 0,
            hidden_before: carried,
        };
        *slot = Some(reading);
        reading
    }

    fn hid(&self, lane: Lane) {
        let mut readings = self.readings.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(r) = &mut readings[Self::slot(lane)] {
            r.hidden += 1;
        }
    }

    /// The lane's reading: a recent one, or one made now with `read` (one read at a time per
    /// lane). `None` when the count could not be read.
    async fn reading<R, RF>(&self, lane: Lane, now_ms: u64, read: R) -> Option<Reading>
    where
        R: FnOnce() -> RF,
        RF: Future<Output = Result<u64, QueueError>>,
    {
        let failed_lately = || {
            self.failed_at.lock().unwrap_or_else(|e| e.into_inner())[Self::slot(lane)]
                .is_some_and(|at| now_ms >= at && now_ms - at < FAILED_READING_MS)
        };
        if let Some(reading) = self.recent(lane, now_ms) {
            return Some(reading);
        }
        if failed_lately() {
            return None;
        }
        let _one_at_a_time = self.reading_now[Self::slot(lane)].lock().await;
        // Made, or failed, while this one waited.
        if let Some(reading) = self.recent(lane, now_ms) {
            return Some(reading);
        }
        if failed_lately() {
            return None;
        }
        match read().await {
            Ok(count) => Some(self.note(lane, now_ms, count)),
            Err(e) => {
                self.failed_at.lock().unwrap_or_else(|e| e.into_inner())[Self::slot(lane)] =
                    Some(now_ms);
                tracing::warn!(error = %e, "could not read the queue's in-flight count; long waits are sent again instead of hidden");
                None
            }
        }
    }
}

impl Default for InFlightGauge {
    /// SQS's quota, and the template's default concurrency: 10 on the events queue, 10 on
    /// the prompt lane, 2 on the slow lane.
    fn default() -> Self {
        Self::new(IN_FLIGHT_QUOTA, 22)
    }
}

/// The wall clock in ms, for `InFlightGauge` readings in a deployed function: it goes on while
/// Lambda freezes a container between invocations (a monotonic clock may not), and a reading
/// "from the future" after the clock steps back is not used (`recent`).
pub fn wall_ms() -> u64 {
    (time::OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000).max(0) as u64
}

/// Parks a received message of `lane` that is to wait `wait` more: hidden (`hide`, whole
/// seconds), or, when `park` says so and the message `may_send_again`, left for the caller to
/// send again (`Parked::SendAgain`). The lane's in-flight count comes from `gauge` or, when it
/// has no recent reading, from `read` (GetQueueAttributes). Shared by the SQS adapter and the
/// simulation's queue.
pub async fn park_message<R, RF, H, HF>(
    lane: Lane,
    wait: std::time::Duration,
    may_send_again: bool,
    gauge: &InFlightGauge,
    now_ms: u64,
    read: R,
    hide: H,
) -> Result<Parked, QueueError>
where
    R: FnOnce() -> RF,
    RF: Future<Output = Result<u64, QueueError>>,
    H: FnOnce(i32) -> HF,
    HF: Future<Output = Result<(), QueueError>>,
{
    if may_send_again && wait > ALWAYS_HIDE {
        let reading = gauge.reading(lane, now_ms, read).await;
        if park(wait, reading, gauge.quota, gauge.containers) == Parked::SendAgain {
            return Ok(Parked::SendAgain);
        }
        gauge.hid(lane);
    }
    hide(whole_seconds(wait, MAX_HIDE)).await?;
    Ok(Parked::Hidden)
}

/// The deliveries queues as the function's adapter sees its received records.
pub trait Postpone: Send + Sync {
    /// Keeps a received message of the queue `source` that is to wait `wait` more: hidden,
    /// or, near the queue's in-flight quota and if it `may_send_again`, `Parked::SendAgain`:
    /// the caller sends a copy with a delay instead (see `park`).
    fn postpone(
        &self,
        source: Source,
        receipt_handle: &str,
        wait: std::time::Duration,
        may_send_again: bool,
    ) -> impl Future<Output = Result<Parked, QueueError>> + Send;
    /// Where a record with this event source ARN came from.
    fn source_of(&self, event_source_arn: Option<&str>) -> Source;
}

/// A queue's name: the last part of its URL or ARN.
pub fn queue_name(url_or_arn: &str) -> &str {
    queue_id(url_or_arn).1
}

/// A queue's account and name, from its URL (`https://sqs.REGION.amazonaws.com/ACCOUNT/NAME`)
/// or ARN (`arn:aws:sqs:REGION:ACCOUNT:NAME`). A Lambda event source reads queues of its own
/// region only, so the two tell a queue apart; an events queue of the same name in another
/// account is another queue.
pub fn queue_id(url_or_arn: &str) -> (&str, &str) {
    if let Some(rest) = url_or_arn.strip_prefix("arn:") {
        let mut parts = rest.rsplitn(3, ':');
        let name = parts.next().unwrap_or_default();
        let account = parts.next().unwrap_or_default();
        return (account, name);
    }
    let mut parts = url_or_arn.trim_end_matches('/').rsplitn(3, '/');
    let name = parts.next().unwrap_or_default();
    let account = parts.next().unwrap_or_default();
    (account, name)
}

/// `SendMessageBatch` takes at most 10 entries ...
pub const MAX_BATCH_ENTRIES: usize = 10;
/// ... of at most 256 KiB together (bodies and attributes).
pub const MAX_BATCH_BYTES: usize = 256 * 1024;

/// `messages` grouped so that each group is one `SendMessageBatch` call of `send_in_batches`:
/// one lane's, at most 10 entries and 256 KiB. Callers that answer each message by its call's
/// result (a batch's copies, gathered retries) send group by group, so a refused call fails
/// only the messages it carried. Indexes into `messages`, in order within each lane.
pub fn one_call_each(messages: &[Encoded]) -> Vec<Vec<usize>> {
    let mut groups = Vec::new();
    for lane in [Lane::Prompt, Lane::Slow] {
        let indexes: Vec<usize> = (0..messages.len())
            .filter(|&i| messages[i].lane == lane)
            .collect();
        let sizes: Vec<usize> = indexes
            .iter()
            .map(|&i| messages[i].body.len() + messages[i].account_id.len())
            .collect();
        for run in pack_batches(&sizes) {
            groups.push(indexes[run].to_vec());
        }
    }
    groups
}

/// Queues `messages` one `SendMessageBatch` call per group of `one_call_each`, the calls at
/// once, and tells `answer` each message's own result (by its index in `messages`) as soon as
/// its call ends: a refused call fails only the messages it carried (a batch's copies,
/// gathered retries), and a slow call holds back only its own.
pub async fn enqueue_by_call<Q: DeliveryQueue + ?Sized>(
    queue: &Q,
    messages: &[Encoded],
    now: time::OffsetDateTime,
    mut answer: impl FnMut(usize, Result<(), QueueError>),
) {
    let groups = one_call_each(messages);
    let mut calls: futures::stream::FuturesUnordered<_> = groups
        .iter()
        .map(|group| async move {
            let sent: Vec<Encoded> = group.iter().map(|&i| messages[i].clone()).collect();
            (group, queue.enqueue_encoded(&sent, now).await)
        })
        .collect();
    while let Some((group, result)) = futures::StreamExt::next(&mut calls).await {
        match result {
            Ok(()) => group.iter().for_each(|&i| answer(i, Ok(()))),
            Err(e) => {
                tracing::warn!(error = %e, messages = group.len(), "a SendMessageBatch call failed");
                for &i in group {
                    answer(i, Err(QueueError(e.0.clone())));
                }
            }
        }
    }
}

/// Splits `sizes` (each entry's bytes) into consecutive runs that `SendMessageBatch` takes:
/// at most `MAX_BATCH_ENTRIES` entries and `MAX_BATCH_BYTES` bytes each. Returns the runs'
/// index ranges.
pub fn pack_batches(sizes: &[usize]) -> Vec<std::ops::Range<usize>> {
    let mut runs = Vec::new();
    let (mut start, mut bytes) = (0, 0);
    for (i, size) in sizes.iter().enumerate() {
        if i > start && (i - start == MAX_BATCH_ENTRIES || bytes + size > MAX_BATCH_BYTES) {
            runs.push(start..i);
            (start, bytes) = (i, 0);
        }
        bytes += size;
    }
    if start < sizes.len() {
        runs.push(start..sizes.len());
    }
    runs
}

/// How often a batch's failed entries are sent again before the call gives up.
const BATCH_TRIES: u32 = 3;

/// The wait before sending a batch's refused entries again (`tries` made so far): full jitter
/// over 100 ms doubling per try, at most 1 s. `unit` is a random number in [0, 1).
pub fn batch_backoff(tries: u32, unit: f64) -> std::time::Duration {
    let ceiling = (100u64 << tries.min(10)).min(1_000);
    std::time::Duration::from_millis((ceiling as f64 * unit) as u64)
}

/// One entry of a `SendMessageBatch`, as the adapters build it.
#[derive(Clone, Debug, PartialEq)]
pub struct BatchEntry {
    /// Unique within its batch.
    pub id: String,
    pub body: String,
    /// `MessageGroupId`: the account (SQS fair queues).
    pub group: String,
    pub delay_seconds: i32,
}

/// An entry SQS refused; `sender_fault` when sending it again cannot help.
#[derive(Clone, Debug, PartialEq)]
pub struct FailedEntry {
    pub id: String,
    pub sender_fault: bool,
    pub code: String,
}

/// Sends `messages` as `SendMessageBatch` calls within SQS's limits (see `one_call_each`),
/// each visible from its `due_at` (whole seconds, rounded up, 15 minutes at most), and sends
/// the entries a call refused (throttled, internal errors) again after `pause(tries)`, a few
/// times. `send` makes one call to one lane's queue (a batch holds one lane's messages).
/// Shared by the SQS adapter and the simulation's queue, so both run this same code.
pub async fn send_in_batches<F, Fut, P, PFut>(
    messages: &[Encoded],
    now: time::OffsetDateTime,
    mut send: F,
    mut pause: P,
) -> Result<(), QueueError>
where
    F: FnMut(Lane, Vec<BatchEntry>) -> Fut,
    Fut: Future<Output = Result<Vec<FailedEntry>, QueueError>>,
    P: FnMut(u32) -> PFut,
    PFut: Future<Output = ()>,
{
    for group in one_call_each(messages) {
        let lane = messages[group[0]].lane;
        let mut pending: Vec<BatchEntry> = group
            .iter()
            .map(|&i| {
                let m = &messages[i];
                let wait = m
                    .due_at
                    .map(|due| std::time::Duration::try_from(due - now).unwrap_or_default())
                    .unwrap_or_default();
                BatchEntry {
                    id: i.to_string(),
                    body: m.body.clone(),
                    group: m.account_id.clone(),
                    delay_seconds: whole_seconds(wait, MAX_DELAY),
                }
            })
            .collect();
        for tries in 0..BATCH_TRIES {
            if tries > 0 {
                pause(tries).await;
            }
            let failed = send(lane, pending.clone()).await?;
            if failed.is_empty() {
                pending.clear();
                break;
            }
            if let Some(refused) = failed.iter().find(|f| f.sender_fault) {
                return Err(QueueError(format!(
                    "SendMessageBatch refused an entry: {}",
                    refused.code
                )));
            }
            pending.retain(|e| failed.iter().any(|f| f.id == e.id));
        }
        if !pending.is_empty() {
            return Err(QueueError(format!(
                "SendMessageBatch left {} entries unsent after {BATCH_TRIES} tries",
                pending.len()
            )));
        }
    }
    Ok(())
}

/// The deliveries queues on SQS: `MessageGroupId` = the account (fair queues), delays from
/// each message's due time, in whole seconds rounded up. Without a slow lane's queue, slow
/// messages go to the prompt one.
#[derive(Clone, Debug)]
pub struct SqsDeliveryQueue {
    client: aws_sdk_sqs::Client,
    url: String,
    slow_url: Option<String>,
    gauge: std::sync::Arc<InFlightGauge>,
}

impl SqsDeliveryQueue {
    pub fn new(client: aws_sdk_sqs::Client, url: impl Into<String>) -> Self {
        Self {
            client,
            url: url.into(),
            slow_url: None,
            gauge: Default::default(),
        }
    }

    /// With the queues' in-flight quota (SQS's, unless AWS support raised it) and the
    /// function's most containers at once (`InFlightGauge::new`).
    pub fn with_in_flight_gauge(mut self, gauge: InFlightGauge) -> Self {
        self.gauge = std::sync::Arc::new(gauge);
        self
    }

    /// `ApproximateNumberOfMessagesNotVisible` of `lane`'s queue, within 2 s: the count only
    /// advises, and the records of a batch wait for it.
    async fn in_flight(&self, lane: Lane) -> Result<u64, QueueError> {
        use aws_sdk_sqs::types::QueueAttributeName;
        let call = self
            .client
            .get_queue_attributes()
            .queue_url(self.url_of(lane))
            .attribute_names(QueueAttributeName::ApproximateNumberOfMessagesNotVisible)
            .send();
        let out = tokio::time::timeout(std::time::Duration::from_secs(2), call)
            .await
            .map_err(|_| QueueError("GetQueueAttributes took over 2 s".into()))?
            .map_err(sqs_error)?;
        out.attributes()
            .and_then(|a| a.get(&QueueAttributeName::ApproximateNumberOfMessagesNotVisible))
            .and_then(|n| n.parse().ok())
            .ok_or_else(|| QueueError("no ApproximateNumberOfMessagesNotVisible".into()))
    }

    /// With the slow lane's own queue.
    pub fn with_slow_lane(mut self, url: impl Into<String>) -> Self {
        self.slow_url = Some(url.into()).filter(|u: &String| !u.is_empty());
        self
    }

    fn url_of(&self, lane: Lane) -> &str {
        match (lane, &self.slow_url) {
            (Lane::Slow, Some(slow)) => slow,
            _ => &self.url,
        }
    }

    /// One `SendMessageBatch` to `lane`'s queue; the entries it refused.
    async fn send_batch(
        &self,
        lane: Lane,
        entries: Vec<BatchEntry>,
    ) -> Result<Vec<FailedEntry>, QueueError> {
        let entries = entries
            .into_iter()
            .map(|e| {
                aws_sdk_sqs::types::SendMessageBatchRequestEntry::builder()
                    .id(e.id)
                    .message_body(e.body)
                    .message_group_id(e.group)
                    .delay_seconds(e.delay_seconds)
                    .build()
                    .expect("id and body are set")
            })
            .collect();
        let out = self
            .client
            .send_message_batch()
            .queue_url(self.url_of(lane))
            .set_entries(Some(entries))
            .send()
            .await
            .map_err(sqs_error)?;
        Ok(out
            .failed()
            .iter()
            .map(|f| FailedEntry {
                id: f.id().to_string(),
                sender_fault: f.sender_fault(),
                code: f.code().to_string(),
            })
            .collect())
    }
}

impl DeliveryQueue for SqsDeliveryQueue {
    async fn enqueue_encoded(
        &self,
        messages: &[Encoded],
        now: time::OffsetDateTime,
    ) -> Result<(), QueueError> {
        use crate::random::Random;
        send_in_batches(
            messages,
            now,
            |lane, entries| self.send_batch(lane, entries),
            |tries| tokio::time::sleep(batch_backoff(tries, crate::random::OsRandom.unit())),
        )
        .await
    }

    async fn send_notice(&self, message: &NoticeMessage) -> Result<(), QueueError> {
        let body = serde_json::to_string(message).expect("notices always serialise");
        self.client
            .send_message()
            .queue_url(&self.url)
            .message_body(body)
            .message_group_id(&message.account_id)
            .send()
            .await
            .map_err(sqs_error)?;
        Ok(())
    }
}

impl Postpone for SqsDeliveryQueue {
    fn source_of(&self, event_source_arn: Option<&str>) -> Source {
        // Lambda always names the queue; a record that does not is not trusted.
        let Some(arn) = event_source_arn.filter(|arn| !queue_name(arn).is_empty()) else {
            return Source::Events;
        };
        if queue_id(arn) == queue_id(&self.url) {
            Source::Deliveries(Lane::Prompt)
        } else if self
            .slow_url
            .as_deref()
            .is_some_and(|slow| queue_id(arn) == queue_id(slow))
        {
            Source::Deliveries(Lane::Slow)
        } else {
            Source::Events
        }
    }

    async fn postpone(
        &self,
        source: Source,
        receipt_handle: &str,
        wait: std::time::Duration,
        may_send_again: bool,
    ) -> Result<Parked, QueueError> {
        let lane = match source {
            Source::Deliveries(lane) => lane,
            // Only the deliveries queues' records are ever kept for later.
            Source::Events | Source::Unknown => Lane::Prompt,
        };
        park_message(
            lane,
            wait,
            may_send_again,
            &self.gauge,
            wall_ms(),
            || self.in_flight(lane),
            |seconds| async move {
                self.client
                    .change_message_visibility()
                    .queue_url(self.url_of(lane))
                    .receipt_handle(receipt_handle)
                    .visibility_timeout(seconds)
                    .send()
                    .await
                    .map_err(sqs_error)?;
                Ok(())
            },
        )
        .await
    }
}

/// Keeps what was queued; for unit tests.
#[cfg(any(test, feature = "testing"))]
#[derive(Debug, Default)]
pub struct MemoryDeliveryQueue {
    pub queued: Mutex<Vec<DeliveryMessage>>,
    pub rests: Mutex<Vec<FanOutRest>>,
    pub notices: Mutex<Vec<NoticeMessage>>,
    /// `(receipt handle, delay)` of each message hidden again.
    pub postponed: Mutex<Vec<(String, std::time::Duration)>>,
    /// When set, the in-flight count every postpone reads (one container): a long wait is
    /// then left to be sent again instead of hidden while the count is at least a quarter of
    /// `IN_FLIGHT_QUOTA`.
    pub in_flight: Mutex<Option<u64>>,
}

#[cfg(any(test, feature = "testing"))]
impl Postpone for MemoryDeliveryQueue {
    fn source_of(&self, event_source_arn: Option<&str>) -> Source {
        match event_source_arn.map(queue_name) {
            None => Source::Unknown,
            Some("deliveries") => Source::Deliveries(Lane::Prompt),
            Some("slow-deliveries") => Source::Deliveries(Lane::Slow),
            Some(_) => Source::Events,
        }
    }

    async fn postpone(
        &self,
        _source: Source,
        receipt_handle: &str,
        wait: std::time::Duration,
        may_send_again: bool,
    ) -> Result<Parked, QueueError> {
        let in_flight = *self.in_flight.lock().unwrap();
        if let Some(in_flight) = in_flight.filter(|_| may_send_again) {
            let reading = Reading {
                at_ms: 0,
                in_flight,
                hidden: 0,
                hidden_before: 0,
            };
            if park(wait, Some(reading), IN_FLIGHT_QUOTA, 1) == Parked::SendAgain {
                return Ok(Parked::SendAgain);
            }
        }
        self.postponed
            .lock()
            .unwrap()
            .push((receipt_handle.to_string(), wait.min(MAX_HIDE)));
        Ok(Parked::Hidden)
    }
}

#[cfg(any(test, feature = "testing"))]
impl DeliveryQueue for MemoryDeliveryQueue {
    async fn enqueue_encoded(
        &self,
        messages: &[Encoded],
        _now: time::OffsetDateTime,
    ) -> Result<(), QueueError> {
        for m in messages {
            if let Ok(rest) = serde_json::from_str::<FanOutRest>(&m.body) {
                self.rests.lock().unwrap().push(rest);
                continue;
            }
            let message = serde_json::from_str(&m.body).map_err(|e| QueueError(e.to_string()))?;
            self.queued.lock().unwrap().push(message);
        }
        Ok(())
    }

    async fn send_notice(&self, message: &NoticeMessage) -> Result<(), QueueError> {
        self.notices.lock().unwrap().push(message.clone());
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn copies_are_grouped_one_call_each_by_lane_count_and_size() {
        let message = |lane: Lane, bytes: usize| Encoded {
            body: "x".repeat(bytes),
            account_id: "acme".into(),
            due_at: None,
            lane,
        };
        // 12 small prompt-lane copies, 3 slow-lane ones of 100 KiB, one small slow one.
        let mut messages: Vec<Encoded> = (0..12).map(|_| message(Lane::Prompt, 100)).collect();
        messages.insert(3, message(Lane::Slow, 100 * 1024));
        messages.insert(7, message(Lane::Slow, 100 * 1024));
        messages.push(message(Lane::Slow, 100 * 1024));
        messages.push(message(Lane::Slow, 10));
        let groups = one_call_each(&messages);
        let mut seen: Vec<usize> = groups.iter().flatten().copied().collect();
        seen.sort();
        assert_eq!(seen, (0..messages.len()).collect::<Vec<_>>(), "each once");
        for group in &groups {
            assert!(group.len() <= MAX_BATCH_ENTRIES);
            assert!(group
                .iter()
                .all(|&i| messages[i].lane == messages[group[0]].lane));
            let bytes: usize = group
                .iter()
                .map(|&i| messages[i].body.len() + messages[i].account_id.len())
                .sum();
            assert!(bytes <= MAX_BATCH_BYTES, "{bytes}");
        }
        let sizes: Vec<usize> = groups.iter().map(Vec::len).collect();
        // Prompt: 10 + 2; slow: two 100 KiB copies fit one call, the third and the small one
        // the next.
        assert_eq!(sizes, vec![10, 2, 2, 2]);
    }

    /// Refuses every call that carries a slow-lane message; keeps what it was given.
    #[derive(Default)]
    struct RefusingSlow(std::sync::Mutex<Vec<Vec<String>>>);

    impl DeliveryQueue for RefusingSlow {
        async fn enqueue_encoded(
            &self,
            messages: &[Encoded],
            _now: time::OffsetDateTime,
        ) -> Result<(), QueueError> {
            if messages.iter().any(|m| m.lane == Lane::Slow) {
                return Err(QueueError("throttled".into()));
            }
            let bodies = messages.iter().map(|m| m.body.clone()).collect();
            self.0.lock().unwrap().push(bodies);
            Ok(())
        }

        async fn send_notice(&self, _message: &NoticeMessage) -> Result<(), QueueError> {
            Ok(())
        }
    }

    #[test]
    fn a_refused_call_fails_only_the_messages_it_carried_whatever_their_order() {
        // Lanes interleaved, so each call's messages are not a run of the list.
        let messages: Vec<Encoded> = (0..14)
            .map(|i| Encoded {
                body: format!("m{i}"),
                account_id: "acme".into(),
                due_at: None,
                lane: if i % 2 == 0 { Lane::Prompt } else { Lane::Slow },
            })
            .collect();
        let queue = RefusingSlow::default();
        let mut answers: Vec<Vec<bool>> = vec![Vec::new(); messages.len()];
        futures::executor::block_on(enqueue_by_call(
            &queue,
            &messages,
            time::OffsetDateTime::UNIX_EPOCH,
            |i, result| answers[i].push(result.is_ok()),
        ));
        for (i, answer) in answers.iter().enumerate() {
            // Each message told once: sent if prompt, refused if slow.
            assert_eq!(answer, &vec![i % 2 == 0], "message {i}");
        }
        let sent: Vec<Vec<String>> = queue.0.lock().unwrap().clone();
        assert_eq!(
            sent,
            vec![(0..14)
                .step_by(2)
                .map(|i| format!("m{i}"))
                .collect::<Vec<_>>()],
            "the prompt lane's seven in one call, in order"
        );
    }

    #[test]
    fn long_waits_are_hidden_while_the_queue_stays_under_a_quarter_of_its_quota() {
        let minute = std::time::Duration::from_secs(60);
        let hours = std::time::Duration::from_secs(5 * 3_600);
        let reading = |in_flight, hidden| {
            Some(Reading {
                at_ms: 0,
                in_flight,
                hidden,
                hidden_before: 0,
            })
        };
        assert_eq!(park(hours, reading(29_998, 0), 120_000, 1), Parked::Hidden);
        assert_eq!(
            park(hours, reading(30_000, 0), 120_000, 1),
            Parked::SendAgain
        );
        // The room under the quarter is shared among twice the function's containers: with
        // 20, this one may hide 250 of the 10,000 left over its last two readings.
        assert_eq!(
            park(hours, reading(20_000, 249), 120_000, 20),
            Parked::Hidden
        );
        assert_eq!(
            park(hours, reading(20_000, 250), 120_000, 20),
            Parked::SendAgain
        );
        // An unknown count is taken as a full queue: a send costs more, but never stalls it.
        assert_eq!(park(hours, None, 120_000, 1), Parked::SendAgain);
        // Short waits leave the count soon.
        assert_eq!(
            park(minute, reading(119_999, 0), 120_000, 1),
            Parked::Hidden
        );
        assert_eq!(park(minute, None, 120_000, 1), Parked::Hidden);
    }

    /// What `park_message` did: ("read" | "hide N"), and its answer.
    fn parked(
        wait_s: u64,
        may_send_again: bool,
        in_flight: Result<u64, ()>,
        gauge: &InFlightGauge,
        now_ms: u64,
    ) -> (Parked, Vec<String>) {
        let calls = Mutex::new(Vec::new());
        let parked = futures::executor::block_on(park_message(
            Lane::Slow,
            std::time::Duration::from_secs(wait_s),
            may_send_again,
            gauge,
            now_ms,
            || async {
                calls.lock().unwrap().push("read".to_string());
                in_flight.map_err(|_| QueueError("ServiceUnavailable".into()))
            },
            |seconds| {
                let calls = &calls;
                async move {
                    calls.lock().unwrap().push(format!("hide {seconds}"));
                    Ok(())
                }
            },
        ))
        .unwrap();
        (parked, calls.into_inner().unwrap())
    }

    #[test]
    fn parking_reads_the_in_flight_count_once_a_minute_and_sends_long_waits_again_near_the_quota() {
        // A quota of 400 (a quarter: 100), one container: it may hide half the room left.
        let gauge = InFlightGauge::new(400, 1);
        // A short wait: hidden, nothing read.
        assert_eq!(
            parked(30, true, Ok(99), &gauge, 0),
            (Parked::Hidden, vec!["hide 30".into()])
        );
        // A long wait with room (94 in flight: 3 each): read, then hidden (12 hours less the
        // margin at most).
        assert_eq!(
            parked(20 * 3_600, true, Ok(94), &gauge, 0),
            (
                Parked::Hidden,
                vec!["read".into(), format!("hide {}", MAX_HIDE.as_secs())]
            )
        );
        // The reading is used for a minute, counting what this container hid since.
        for _ in 0..2 {
            assert_eq!(
                parked(3_600, true, Ok(0), &gauge, 59_999),
                (Parked::Hidden, vec!["hide 3600".into()])
            );
        }
        assert_eq!(
            parked(3_600, true, Ok(0), &gauge, 59_999),
            (Parked::SendAgain, vec![]),
            "its share is used up: the caller sends a copy"
        );
        // A new reading still counts the last minute's 3 hides (SQS's count may lag): with
        // 94 in flight again, nothing is left to hide.
        assert_eq!(
            parked(3_600, true, Ok(94), &gauge, 60_000),
            (Parked::SendAgain, vec!["read".into()])
        );
        // The one after forgets them: they are in its count by then.
        assert_eq!(
            parked(3_600, true, Ok(94), &gauge, 120_000),
            (Parked::Hidden, vec!["read".into(), "hide 3600".into()])
        );
        // An unreadable count in a fresh container: sent again.
        let failing = InFlightGauge::default();
        assert_eq!(
            parked(3_600, true, Err(()), &failing, 0),
            (Parked::SendAgain, vec!["read".into()])
        );
        // For 10 s the next long waits are sent again without another try.
        assert_eq!(
            parked(3_600, true, Ok(0), &failing, 9_999),
            (Parked::SendAgain, vec![])
        );
        assert_eq!(
            parked(3_600, true, Ok(0), &failing, 10_000),
            (Parked::Hidden, vec!["read".into(), "hide 3600".into()])
        );
        // A message that may not be sent again (a notice, a rest, one sent again too often):
        // hidden whatever the count, and nothing read.
        assert_eq!(
            parked(3_600, false, Err(()), &InFlightGauge::default(), 0),
            (Parked::Hidden, vec!["hide 3600".into()])
        );
        // Each lane has its own reading, and one "from the future" (the clock stepped back)
        // is not used.
        assert_eq!(gauge.recent(Lane::Prompt, 120_000), None);
        assert_eq!(
            gauge.recent(Lane::Slow, 120_000).map(|r| r.in_flight),
            Some(94)
        );
        assert_eq!(gauge.recent(Lane::Slow, 119_999), None);
    }

    #[test]
    fn a_batch_waits_for_one_reading_of_its_lane() {
        // Records of one batch park at once: the first reads, the others use its reading.
        let gauge = InFlightGauge::new(120_000, 1);
        let reads = std::sync::atomic::AtomicUsize::new(0);
        let park_one = || {
            park_message(
                Lane::Prompt,
                std::time::Duration::from_secs(3_600),
                true,
                &gauge,
                0,
                || async {
                    reads.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                    // Another record's turn comes while this read is under way.
                    let mut yielded = false;
                    futures::future::poll_fn(|cx| {
                        if yielded {
                            std::task::Poll::Ready(())
                        } else {
                            yielded = true;
                            cx.waker().wake_by_ref();
                            std::task::Poll::Pending
                        }
                    })
                    .await;
                    Ok(0)
                },
                |_| async { Ok(()) },
            )
        };
        let all =
            futures::executor::block_on(futures::future::join_all((0..10).map(|_| park_one())));
        assert!(all.iter().all(|p| matches!(p, Ok(Parked::Hidden))));
        assert_eq!(reads.load(std::sync::atomic::Ordering::SeqCst), 1);
    }

    #[test]
    fn a_parked_copy_is_checked_and_counts_its_copies() {
        let copy: DeliveryMessage =
            serde_json::from_str(&message(1, None).parked_copy().body).unwrap();
        assert!(copy.check);
        assert_eq!(copy.parked, 1);
        let again: DeliveryMessage = serde_json::from_str(&copy.parked_copy().body).unwrap();
        assert_eq!(again.parked, 2);
    }

    #[test]
    fn batches_hold_at_most_ten_entries_and_256_kib() {
        assert_eq!(pack_batches(&[]), Vec::<std::ops::Range<usize>>::new());
        assert_eq!(pack_batches(&[100; 25]), vec![0..10, 10..20, 20..25]);
        // 64 KiB events: three fit, a fourth would pass 256 KiB with the rest of the entry.
        let big = 64 * 1024 + 900;
        assert_eq!(pack_batches(&[big; 7]), vec![0..3, 3..6, 6..7]);
        // An entry that alone fills a batch still goes, in a batch of its own.
        assert_eq!(
            pack_batches(&[10, MAX_BATCH_BYTES, 10]),
            vec![0..1, 1..2, 2..3]
        );
        for runs in [pack_batches(&[1_000; 95]), pack_batches(&[30_000; 40])] {
            let covered: usize = runs.iter().map(|r| r.len()).sum();
            assert!(runs.windows(2).all(|w| w[0].end == w[1].start));
            assert!(covered > 0 && runs.iter().all(|r| r.len() <= MAX_BATCH_ENTRIES));
        }
    }

    fn message(i: usize, due_in_ms: Option<i64>) -> DeliveryMessage {
        let now = time::OffsetDateTime::UNIX_EPOCH;
        DeliveryMessage {
            due_at: due_in_ms.map(|ms| now + time::Duration::milliseconds(ms)),
            ..DeliveryMessage::new(format!("dlv_{i}"), "acme", "wh_1")
        }
    }

    #[test]
    fn each_batch_holds_one_lane_s_messages_and_goes_to_its_queue() {
        futures::executor::block_on(async {
            let now = time::OffsetDateTime::UNIX_EPOCH;
            // Slow and prompt messages interleaved, as a fan-out over webhooks in id order
            // (some failing) makes them.
            let messages: Vec<Encoded> = (0..14)
                .map(|i| {
                    let mut m = message(i, None);
                    m.slow = i % 3 == 0;
                    m.encode()
                })
                .collect();
            assert_eq!(messages[3].lane, Lane::Slow);
            assert_eq!(messages[4].lane, Lane::Prompt);
            let calls = Mutex::new(Vec::new());
            send_in_batches(
                &messages,
                now,
                |lane, entries| {
                    let bodies: Vec<String> = entries.into_iter().map(|e| e.body).collect();
                    calls.lock().unwrap().push((lane, bodies));
                    async { Ok(Vec::new()) }
                },
                |_| async {},
            )
            .await
            .unwrap();
            let calls = calls.into_inner().unwrap();
            let lanes: Vec<(Lane, usize)> = calls.iter().map(|(l, b)| (*l, b.len())).collect();
            assert_eq!(lanes, vec![(Lane::Prompt, 9), (Lane::Slow, 5)]);
            for (lane, bodies) in &calls {
                for body in bodies {
                    let m: DeliveryMessage = serde_json::from_str(body).unwrap();
                    assert_eq!(m.lane(), *lane);
                }
            }
        });
    }

    #[test]
    fn a_queue_is_its_account_and_name_from_its_url_or_arn() {
        let url = "https://sqs.us-east-1.amazonaws.com/123456789012/hookline-deliveries";
        let arn = "arn:aws:sqs:us-east-1:123456789012:hookline-deliveries";
        assert_eq!(queue_id(url), ("123456789012", "hookline-deliveries"));
        assert_eq!(queue_id(arn), queue_id(url));
        assert_eq!(queue_id(&format!("{url}/")), queue_id(url));
        assert_eq!(
            queue_id("http://127.0.0.1:5000/123456789012/d.fifo"),
            ("123456789012", "d.fifo")
        );
        // The same name in another account is another queue.
        assert_ne!(
            queue_id("arn:aws:sqs:us-east-1:999999999999:hookline-deliveries"),
            queue_id(url)
        );
    }

    #[test]
    fn records_say_which_lane_they_came_from_and_others_count_as_the_events_queue() {
        let client = aws_sdk_sqs::Client::from_conf(
            aws_sdk_sqs::Config::builder()
                .behavior_version(aws_sdk_sqs::config::BehaviorVersion::latest())
                .build(),
        );
        let base = "https://sqs.us-east-1.amazonaws.com/123456789012";
        let arn = |name: &str| format!("arn:aws:sqs:us-east-1:123456789012:{name}");
        let queue = SqsDeliveryQueue::new(client.clone(), format!("{base}/d"))
            .with_slow_lane(format!("{base}/d-slow"));
        assert_eq!(
            queue.source_of(Some(&arn("d"))),
            Source::Deliveries(Lane::Prompt)
        );
        assert_eq!(
            queue.source_of(Some(&arn("d-slow"))),
            Source::Deliveries(Lane::Slow)
        );
        assert_eq!(queue.source_of(Some(&arn("events"))), Source::Events);
        assert_eq!(queue.source_of(None), Source::Events);
        assert_eq!(queue.url_of(Lane::Slow), format!("{base}/d-slow"));
        // Without a slow lane's queue, everything goes to the one deliveries queue.
        let single = SqsDeliveryQueue::new(client, format!("{base}/d")).with_slow_lane("");
        assert_eq!(single.url_of(Lane::Slow), format!("{base}/d"));
        assert_eq!(single.source_of(Some(&arn("d-slow"))), Source::Events);
    }

    #[test]
    fn a_refused_entry_waits_a_jittered_doubling_pause_of_at_most_a_second() {
        assert_eq!(batch_backoff(1, 0.0), std::time::Duration::ZERO);
        assert!(batch_backoff(1, 0.999) < std::time::Duration::from_millis(200));
        assert!(batch_backoff(2, 0.999) < std::time::Duration::from_millis(400));
        assert!(batch_backoff(40, 0.999) < std::time::Duration::from_secs(1));
    }

    #[test]
    fn an_event_spliced_into_its_message_reads_back_as_the_whole_message() {
        let mut whole = message(3, Some(1_500));
        whole.event = Some(crate::events::Event {
            id: "evt_1".into(),
            event: crate::model::EventType::CaseNew,
            account_id: "acme".into(),
            occurred_at: time::OffsetDateTime::UNIX_EPOCH,
            data: crate::events::EventData::from_value(
                &serde_json::json!({"case": {"id": "c1", "note": "a \"quoted\" }"}}),
            ),
        });
        let mut bare = whole.clone();
        let event = bare.event.take().unwrap();
        let spliced = bare.encode_with_event(&serde_json::to_string(&event).unwrap());
        let read: DeliveryMessage = serde_json::from_str(&spliced.body).unwrap();
        assert_eq!(read, whole);
        assert_eq!(spliced.account_id, "acme");
        assert_eq!(spliced.due_at, whole.due_at);
    }

    #[test]
    fn batches_send_refused_entries_again_and_give_up_on_sender_faults() {
        futures::executor::block_on(async {
            let now = time::OffsetDateTime::UNIX_EPOCH;
            let messages: Vec<Encoded> =
                (0..23).map(|i| message(i, Some(1_500)).encode()).collect();
            let calls = Mutex::new(Vec::new());
            let pauses = Mutex::new(Vec::new());
            // Every first call refuses its first entry once (a throttled entry).
            let sent = send_in_batches(
                &messages,
                now,
                |_lane, entries| {
                    let mut calls = calls.lock().unwrap();
                    let first_try = !calls
                        .iter()
                        .any(|c: &Vec<BatchEntry>| c[0].id == entries[0].id);
                    calls.push(entries.clone());
                    let failed = if first_try {
                        vec![FailedEntry {
                            id: entries[0].id.clone(),
                            sender_fault: false,
                            code: "InternalError".into(),
                        }]
                    } else {
                        Vec::new()
                    };
                    async move { Ok(failed) }
                },
                |tries| {
                    pauses.lock().unwrap().push(tries);
                    async {}
                },
            )
            .await;
            assert!(sent.is_ok(), "{sent:?}");
            // Each refused entry waited once before it went again.
            assert_eq!(pauses.into_inner().unwrap(), vec![1, 1, 1]);
            let calls = calls.into_inner().unwrap();
            let sizes: Vec<usize> = calls.iter().map(Vec::len).collect();
            assert_eq!(sizes, vec![10, 1, 10, 1, 3, 1]);
            assert!(calls
                .iter()
                .flatten()
                .all(|e| e.group == "acme" && e.delay_seconds == 2));
            let refused = send_in_batches(
                &messages[..1],
                now,
                |_lane, entries| async move {
                    Ok(vec![FailedEntry {
                        id: entries[0].id.clone(),
                        sender_fault: true,
                        code: "InvalidParameterValue".into(),
                    }])
                },
                |_| async {},
            )
            .await;
            assert!(refused.is_err());
        });
    }

    #[test]
    fn an_event_message_is_the_event_with_an_optional_flag() {
        let body = r#"{"id":"evt_1","event":"case:new","accountId":"acme","occurredAt":"2026-01-01T00:00:00Z","data":{}}"#;
        let m: EventMessage = serde_json::from_str(body).unwrap();
        assert!(!m.republished);
        assert_eq!(serde_json::to_string(&m).unwrap(), body);
    }
}
