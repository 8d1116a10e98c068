//! The v2 delivery engine (docs/delivery-pipeline.md): a fan-out that queues one message per
//! delivery, and a delivery step that attempts one message.
//!
//! Transport-free: it sees no receipt handles and no SQS limits. Each step answers "done" or
//! "keep until T", and the function's adapter turns that into SQS calls.
//!
//! A first try on the fast path reads nothing and writes once (its outcome). Every other
//! attempt takes the checked path: claim, send, record, as in v1.

use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;

use time::OffsetDateTime;

use super::decide::{self, Next, Verdict};
use super::{payload, DeliveryError, DeliverySettings, MAX_ATTEMPTS};
use crate::clock::Clock;
use crate::events::Event;
use crate::http::{HttpClient, HttpMethod, HttpRequest};
use crate::model::attempt::{json_prefix, STORED_EXCERPT_BYTES, SUCCESS_EXCERPT_BYTES};

use crate::model::{Attempt, Delivery, DeliveryStatus, FlowConfig, Status, Webhook};
use crate::notify::{excerpt, quoted_error, quoted_name, Email, Mailer};
use crate::queue::{
    DeliveryMessage, DeliveryQueue, Encoded, EventMessage, FanOutRest, Lane, NoticeMessage,
    QueueError, RetryMessage,
};
use crate::random::Random;
use crate::signing::{credential_headers, signature_headers};
use crate::store::{
    Allowance, Allowances, Claim, DeliveryStore, EventStore, FirstRecord, HealthStore, Lease, Mark,
    NoticeClaim, NoticeGate, NoticeGrant, StoreError, SubscriptionIndex, WebhookStore,
};

/// Everything the engine needs from storage.
pub trait Backend:
    WebhookStore
    + SubscriptionIndex
    + DeliveryStore
    + HealthStore
    + NoticeGate
    + Allowances
    + EventStore
{
}
impl<T> Backend for T where
    T: WebhookStore
        + SubscriptionIndex
        + DeliveryStore
        + HealthStore
        + NoticeGate
        + Allowances
        + EventStore
{
}

/// How SQS handed a message over.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Receive {
    /// `ApproximateReceiveCount`: 1 on the first receive.
    pub count: u32,
    /// `SentTimestamp`.
    pub sent_at: OffsetDateTime,
}

/// What became of a message.
#[derive(Clone, Debug, PartialEq)]
pub enum Handled {
    /// Finished with: delete it.
    Done,
    /// Keep it, and hand it out again at this time (now: at once, to another invocation).
    KeepUntil(OffsetDateTime),
    /// Finished with once this message is queued in its place: a first try the prompt lane
    /// cut short, moved to the slow lane. The caller queues a batch's moves together (one
    /// `SendMessageBatch` per ten, not one call each) and keeps the original if its move
    /// could not be queued.
    SendInstead(Box<DeliveryMessage>),
}

/// A first try takes the fast path only this soon after its message was sent; later it is
/// checked (a backlog). A repeated fan-out's copies wait `repeat_delay`, which counts this in.
pub const FRESH: time::Duration = time::Duration::seconds(60);

/// An attempt starts only if its timeout and its record (this margin) fit before the
/// invocation's deadline.
pub const RECORD_MARGIN: Duration = Duration::from_secs(10);

/// How long a repeated fan-out's (checked) copies, and a fan-out's rest, wait, given the
/// function's timeout `T`: longer than the fast-path tries of any fan-out of the same event
/// can take to record, so an SQS duplicate of an event handled at once sends nothing twice.
/// The first fan-out received the event before this one did, so its invocation began before
/// now and sent its messages before its deadline, at most `T` from now. Each of them took
/// the fast path within `FRESH` of its sending or not at all, and that invocation recorded it
/// or died within `T` of its start (what follows the send, a retry's queueing and a notice,
/// can take longer than `RECORD_MARGIN`; the deadline bounds it). `REPEAT_SLACK` covers the
/// estimate of `T` and clocks. With the template's 120 s: 60 + 2 x 120 + 30 = 330 s.
pub fn repeat_delay(function_timeout: Duration) -> time::Duration {
    FRESH
        + time::Duration::try_from(2 * function_timeout + REPEAT_SLACK)
            .unwrap_or(time::Duration::MAX)
}

/// When a fast-path try of a first-try message sent at `sent_at` has recorded or died: it
/// started within `FRESH` of the sending, and its invocation ended within `T` of its start.
fn fast_path_settled(sent_at: OffsetDateTime, function_timeout: Duration) -> OffsetDateTime {
    sent_at + FRESH + function_timeout + REPEAT_SLACK
}

const REPEAT_SLACK: Duration = Duration::from_secs(30);

/// The function's timeout, from an invocation's deadline seen at its start: Lambda's timeouts
/// are whole seconds, and the invocation began moments ago.
fn function_timeout(deadline: OffsetDateTime, now: OffsetDateTime) -> Duration {
    let left = (deadline - now).whole_milliseconds().max(0) as u64;
    Duration::from_secs(left.div_ceil(1000))
}

/// A fan-out encodes and queues its messages a chunk at a time, each chunk one
/// `SendMessageBatch` (10 entries and 256 KiB at most, sized from the event's encoding and this
/// estimate of a webhook's), and keeps this many chunks in flight: about 4 MB of bodies at
/// most, whatever the fan-out's width.
const WEBHOOK_BYTES_ESTIMATE: usize = 8 * 1024;
const FAN_OUT_CHUNKS_AT_ONCE: usize = 16;
/// Time a fan-out chunk must have before the invocation's deadline to start: a chunk of one
/// call takes at most three tries of the SDK's 12 s operation timeout and the pauses between
/// them (38 s), and then the fan-out's rest is queued. What does not start goes on in a
/// `FanOutRest`.
pub const FAN_OUT_MARGIN: time::Duration = time::Duration::seconds(55);

/// Most failed deliveries one recover call queues (call again with a later `since` for more).
pub const MAX_RECOVER: usize = 1000;
/// How far back recover reaches (deliveries are kept 30 days).
pub const RECOVER_WINDOW: time::Duration = time::Duration::days(14);

/// A lease lasts an attempt's timeout and this: time to record after the answer.
const LEASE_MARGIN: Duration = Duration::from_secs(30);
/// The longest lease: the longest webhook timeout (30 s) and the margin.
const MAX_LEASE: Duration = Duration::from_secs(60);

/// How long an exhaustion notice waits for the record of the attempt that queued it.
pub const NOTICE_RECORD_WAIT: time::Duration = time::Duration::minutes(30);

/// How long a published event's id and data are kept: its deliveries' ids stay stable, and
/// a republish is recognised, this long.
pub const EVENT_RETENTION: time::Duration = time::Duration::days(30);

/// What a publish did.
#[derive(Clone, Debug, PartialEq)]
pub struct Published {
    /// The id's first time and type (a republish keeps them).
    pub first: crate::model::EventRef,
    /// Whether this call queued the event.
    pub queued: bool,
    /// Whether the keep was marked queued afterwards (a republish then queues nothing).
    pub marked: bool,
}

/// `POST /api/v1/events`: the event is kept first (its id is the idempotency key), queued,
/// then marked queued. A republish of a marked id queues nothing. One kept but never marked (its
/// first publish failed after the keep, or before the mark) is queued again, checked, with
/// its first time: so no publish is lost, and a republish never races a first delivery unless
/// a fault fell between the first publish's send and its mark.
pub async fn publish<S: EventStore, Q: crate::queue::EventQueue>(
    store: &S,
    queue: &Q,
    event: &Event,
    now: OffsetDateTime,
) -> Result<Published, DeliveryError> {
    let message = match store.keep_event(event, now + EVENT_RETENTION).await? {
        crate::store::Kept::New => EventMessage {
            event: event.clone(),
            republished: false,
        },
        crate::store::Kept::Existing {
            first,
            queued: true,
        } => {
            return Ok(Published {
                first,
                queued: false,
                marked: true,
            })
        }
        crate::store::Kept::Existing {
            first,
            queued: false,
        } => EventMessage {
            event: Event {
                occurred_at: first.occurred_at,
                ..event.clone()
            },
            republished: true,
        },
    };
    queue.publish(&message).await?;
    let marked = match store.mark_queued(&event.account_id, &event.id).await {
        Ok(()) => true,
        Err(e) => {
            tracing::warn!(event_id = %event.id, error = %e, "published event not marked queued");
            false
        }
    };
    Ok(Published {
        first: crate::model::EventRef::from(&message.event),
        queued: true,
        marked,
    })
}

/// The delivery engine: every rule of fan-out, delivery, retry, recovery and resend. Its
/// parts are private, so a handler can only call its operations; tests and benches read them
/// through the accessors below.
pub struct Deliverer<S, H, M, Q> {
    store: S,
    http: H,
    mailer: M,
    queue: Q,
    clock: Arc<dyn Clock>,
    /// Jitter and tokens.
    random: Arc<dyn Random>,
    /// What this engine did lately.
    memo: Memo,
    /// Retries queued by a batch's records at about the same moment, sent together.
    retries: SendTogether,
    /// Held while a fan-out's rest is planned and queued: a rest may be of an account with
    /// thousands of webhooks (about 2 KB each while planned), and a batch may hold several.
    one_rest_at_a_time: futures::lock::Mutex<()>,
    settings: DeliverySettings,
}

impl<S, H, M, Q> Deliverer<S, H, M, Q> {
    pub fn new(
        store: S,
        http: H,
        mailer: M,
        queue: Q,
        clock: Arc<dyn Clock>,
        random: Arc<dyn Random>,
        settings: DeliverySettings,
    ) -> Self {
        Self {
            store,
            http,
            mailer,
            queue,
            clock,
            random,
            memo: Memo::default(),
            retries: SendTogether::default(),
            one_rest_at_a_time: Default::default(),
            settings,
        }
    }

    /// The same engine over another store (tests: a store with an interceptor).
    pub fn with_store<S2>(self, store: S2) -> Deliverer<S2, H, M, Q> {
        Deliverer {
            store,
            http: self.http,
            mailer: self.mailer,
            queue: self.queue,
            clock: self.clock,
            random: self.random,
            memo: self.memo,
            retries: self.retries,
            one_rest_at_a_time: self.one_rest_at_a_time,
            settings: self.settings,
        }
    }

    /// The same engine with another HTTP client (tests: another egress policy).
    pub fn with_http<H2>(self, http: H2) -> Deliverer<S, H2, M, Q> {
        Deliverer {
            store: self.store,
            http,
            mailer: self.mailer,
            queue: self.queue,
            clock: self.clock,
            random: self.random,
            memo: self.memo,
            retries: self.retries,
            one_rest_at_a_time: self.one_rest_at_a_time,
            settings: self.settings,
        }
    }

    pub fn store(&self) -> &S {
        &self.store
    }

    pub fn http(&self) -> &H {
        &self.http
    }

    pub fn mailer(&self) -> &M {
        &self.mailer
    }

    pub fn queue(&self) -> &Q {
        &self.queue
    }

    pub fn clock(&self) -> &Arc<dyn Clock> {
        &self.clock
    }

    pub fn settings(&self) -> &DeliverySettings {
        &self.settings
    }
}

/// What one engine (a Lambda container) did lately, so that a burst of deliveries to one
/// webhook, or of one event, repeats no write another delivery of the burst just made. Each
/// entry is trusted for a short window; the memory is bounded.
#[derive(Debug)]
pub struct Memo {
    /// Events kept (`before_record`): when an event's deliveries to many webhooks fail
    /// together, the first failure keeps the event and the others skip the write (a
    /// conditional PutItem and a read each, before). Keeps never move the event's expiry.
    kept_events: Recent,
    /// Webhooks marked slow (`to_slow_lane`): a burst of first tries cut short marks once,
    /// not once per delivery.
    marked_slow: Recent,
    /// Webhooks marked failing (`after_attempt`): a burst of failures to one webhook (first
    /// tries fanned out before its streak began each see it unmarked) marks once.
    marked_failing: Recent,
}

impl Default for Memo {
    fn default() -> Self {
        Self {
            kept_events: Recent::new(time::Duration::minutes(10)),
            marked_slow: Recent::new(time::Duration::minutes(1)),
            marked_failing: Recent::new(time::Duration::minutes(1)),
        }
    }
}

/// Messages that records running at once want queued, sent in shared `SendMessageBatch`
/// calls: when a batch's deliveries fail together (a receiver down, a burst timing out), each
/// record's retry would otherwise be a call of its own. The first record to ask waits a few
/// turns of the scheduler, so records finishing in the same moment add theirs, then sends all
/// that are waiting; every record returns once its message is queued (or with the call's
/// error), so nothing is recorded before its message exists. No timer: a record alone waits
/// only its turns.
#[derive(Debug, Default)]
struct SendTogether {
    waiting: std::sync::Mutex<Vec<(Encoded, SentAnswer)>>,
}

/// How a waiting record learns its message was queued (or why not).
type SentAnswer = futures::channel::oneshot::Sender<Result<(), String>>;

/// Scheduler turns the first record waits for others (see `SendTogether`).
const TURNS_TO_GATHER: usize = 4;

impl SendTogether {
    async fn send<Q: DeliveryQueue>(
        &self,
        queue: &Q,
        message: Encoded,
        now: OffsetDateTime,
    ) -> Result<(), QueueError> {
        let (done, answer) = futures::channel::oneshot::channel();
        let first = {
            let mut waiting = self.waiting.lock().unwrap();
            waiting.push((message, done));
            waiting.len() == 1
        };
        if first {
            let mut leading = Leading {
                waiting: &self.waiting,
                taken: false,
            };
            for _ in 0..TURNS_TO_GATHER {
                tokio::task::yield_now().await;
            }
            let (messages, answers): (Vec<Encoded>, Vec<SentAnswer>) =
                leading.take().into_iter().unzip();
            // One call per group, each record told its own call's result as that call ends
            // (`queue::enqueue_by_call`).
            let mut answers: Vec<Option<SentAnswer>> = answers.into_iter().map(Some).collect();
            crate::queue::enqueue_by_call(queue, &messages, now, |i, result| {
                if let Some(answer) = answers[i].take() {
                    // A record gone (its invocation ended) no longer waits: nothing to tell.
                    let _ = answer.send(result.map_err(|e| e.0));
                }
            })
            .await;
        }
        match answer.await {
            Ok(result) => result.map_err(QueueError),
            Err(_) => Err(QueueError("the send it waited for was dropped".into())),
        }
    }
}

/// The first record's duty to send what gathered. If it is dropped before it takes the list
/// (its invocation's future dropped while it waited its turns), the list is emptied: the
/// records in it get an error instead of waiting for ever, and the next record leads.
struct Leading<'a> {
    waiting: &'a std::sync::Mutex<Vec<(Encoded, SentAnswer)>>,
    taken: bool,
}

impl Leading<'_> {
    fn take(&mut self) -> Vec<(Encoded, SentAnswer)> {
        self.taken = true;
        std::mem::take(&mut *self.waiting.lock().unwrap())
    }
}

impl Drop for Leading<'_> {
    fn drop(&mut self) {
        if !self.taken {
            self.waiting
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .clear();
        }
    }
}

/// Keys seen within `window`, at most `RECENT_MAX` of them.
#[derive(Debug)]
struct Recent {
    window: time::Duration,
    seen: std::sync::Mutex<std::collections::HashMap<(String, String), OffsetDateTime>>,
    /// One gate per key being written (`once`): the records of a batch run at once, and
    /// without it each of a burst's records finds the key unseen and writes it.
    writing: std::sync::Mutex<std::collections::HashMap<(String, String), Gate>>,
}

/// Held while a key is written (`Recent::once`); says why if that write failed.
type Gate = std::sync::Arc<futures::lock::Mutex<Option<String>>>;

/// A caller's hold on a key's gate: the last to leave removes it from the map.
struct LeaveGate<'a> {
    writing: &'a std::sync::Mutex<std::collections::HashMap<(String, String), Gate>>,
    key: (String, String),
    gate: Option<Gate>,
}

impl LeaveGate<'_> {
    fn gate(&self) -> &Gate {
        self.gate.as_ref().expect("held until dropped")
    }
}

impl Drop for LeaveGate<'_> {
    fn drop(&mut self) {
        let mut writing = self.writing.lock().unwrap_or_else(|e| e.into_inner());
        // This caller's handle goes under the map's lock, so of two callers leaving at once
        // on two threads the second sees the first gone.
        drop(self.gate.take());
        let unheld = writing
            .get(&self.key)
            .is_some_and(|gate| std::sync::Arc::strong_count(gate) == 1);
        if unheld {
            writing.remove(&self.key);
        }
    }
}

const RECENT_MAX: usize = 10_000;

impl Recent {
    fn new(window: time::Duration) -> Self {
        Self {
            window,
            seen: Default::default(),
            writing: Default::default(),
        }
    }

    /// Runs `write` unless the key was noted within the window, and notes it when `write`
    /// succeeds. Callers with the same key wait for the one writing it, then find it noted: a
    /// burst writes once, and no caller goes on before the write it skips is made. If that
    /// write failed, those who waited for it fail too (`failed` makes their error from its
    /// message) rather than each trying again in turn behind the gate; the next burst tries.
    async fn once<E, F, Fut>(
        &self,
        key: (&str, &str),
        now: OffsetDateTime,
        write: F,
        failed: impl FnOnce(&str) -> E,
    ) -> Result<(), E>
    where
        F: FnOnce() -> Fut,
        Fut: std::future::Future<Output = Result<(), E>>,
        E: std::fmt::Display,
    {
        if self.contains(key, now) {
            return Ok(());
        }
        let owned = (key.0.to_string(), key.1.to_string());
        let gate = self
            .writing
            .lock()
            .unwrap()
            .entry(owned.clone())
            .or_default()
            .clone();
        // Removes the gate once no one else holds it, even if this caller is dropped.
        let leave = LeaveGate {
            writing: &self.writing,
            key: owned,
            gate: Some(gate),
        };
        let mut write_failed = leave.gate().lock().await;
        if let Some(why) = write_failed.as_deref() {
            return Err(failed(why));
        }
        if self.contains(key, now) {
            return Ok(());
        }
        let result = write().await;
        match &result {
            Ok(()) => self.note(key, now),
            Err(e) => *write_failed = Some(e.to_string()),
        }
        result
    }

    fn contains(&self, key: (&str, &str), now: OffsetDateTime) -> bool {
        let seen = self.seen.lock().unwrap();
        seen.get(&(key.0.to_string(), key.1.to_string()))
            .is_some_and(|at| now - *at < self.window)
    }

    fn note(&self, key: (&str, &str), now: OffsetDateTime) {
        let mut seen = self.seen.lock().unwrap();
        if seen.len() >= RECENT_MAX {
            seen.retain(|_, at| now - *at < self.window);
            if seen.len() >= RECENT_MAX {
                seen.clear();
            }
        }
        seen.insert((key.0.to_string(), key.1.to_string()), now);
    }

    fn forget(&self, key: (&str, &str)) {
        self.seen
            .lock()
            .unwrap()
            .remove(&(key.0.to_string(), key.1.to_string()));
    }
}

impl<S: Backend, H: HttpClient, M: Mailer, Q: DeliveryQueue> Deliverer<S, H, M, Q> {
    /// The events queue's step: one delivery message per subscribed webhook. Repeating it is
    /// harmless: the delivery ids are the same, and a repeat's messages are checked.
    pub async fn fan_out(
        &self,
        message: &EventMessage,
        receive: &Receive,
        deadline: OffsetDateTime,
    ) -> Result<usize, DeliveryError> {
        let mut results = self.fan_out_all(&[(message, *receive)], deadline).await;
        results.remove(0)
    }

    /// The fan-out of a batch of events at once: one Query per event, then all their delivery
    /// messages queued together, 10 per `SendMessageBatch` whatever each event's fan-out (at
    /// fan-out 1, a tenth of a request per delivery instead of one). Each event's answer: how
    /// many messages it queued now, or why it must be received again (repeating a fan-out is
    /// harmless). What does not fit the invocation goes on as a `FanOutRest`.
    pub async fn fan_out_all(
        &self,
        events: &[(&EventMessage, Receive)],
        deadline: OffsetDateTime,
    ) -> Vec<Result<usize, DeliveryError>> {
        let now = self.clock.now();
        let repeat_delay = repeat_delay(function_timeout(deadline, now));
        let plans = futures::future::join_all(events.iter().map(|(message, receive)| {
            let check = receive.count > 1 || message.republished;
            // A repeat's copies wait until any first try of the same fan-out still in flight
            // has recorded: then their claims find its record, and nothing is sent twice.
            let due_at = check.then(|| now + repeat_delay);
            self.deliveries_for(
                &message.event,
                message.republished,
                None,
                None,
                check,
                due_at,
            )
        }))
        .await;
        // After the Queries: every webhook they returned was made by then.
        let planned_at = self.clock.now();
        let fan_outs: Vec<(&Event, bool, OffsetDateTime)> = events
            .iter()
            .map(|(message, _)| (&message.event, message.republished, planned_at))
            .collect();
        self.queue_fan_outs(&fan_outs, plans, deadline, repeat_delay)
            .await
    }

    /// The deliveries queue's step for the rest of a fan-out: the webhooks after `rest.after`,
    /// each message checked (the fan-out it continues may have queued some of them).
    pub async fn fan_out_rest(
        &self,
        rest: &FanOutRest,
        deadline: OffsetDateTime,
    ) -> Result<Handled, DeliveryError> {
        let now = self.clock.now();
        if let Some(due) = rest.due_at.filter(|due| *due > now) {
            return Ok(Handled::KeepUntil(due));
        }
        let _planning = self.one_rest_at_a_time.lock().await;
        let now = self.clock.now();
        let repeat_delay = repeat_delay(function_timeout(deadline, now));
        // The webhooks the fan-out it continues saw: none made since.
        let planned_at = rest.planned_at.unwrap_or(now);
        let plan = self
            .deliveries_for(
                &rest.rest_of,
                rest.republished,
                Some(&rest.after),
                Some(planned_at),
                true,
                None,
            )
            .await;
        let fan_out = [(&rest.rest_of, rest.republished, planned_at)];
        let mut results = self
            .queue_fan_outs(&fan_out, vec![plan], deadline, repeat_delay)
            .await;
        results.remove(0).map(|_| Handled::Done)
    }

    /// Queues each fan-out's planned messages, every event encoded once and spliced into its
    /// messages, chunks of one `SendMessageBatch` and `FAN_OUT_CHUNKS_AT_ONCE` chunks in
    /// flight, so memory does not grow with the width. No chunk starts within `FAN_OUT_MARGIN`
    /// of `deadline`. A fan-out whose messages were queued up to some webhook but not all goes
    /// on as a `FanOutRest` after that webhook, so a fan-out too wide for one invocation (or
    /// one that met a failing call) keeps its progress instead of starting over.
    async fn queue_fan_outs(
        &self,
        fan_outs: &[(&Event, bool, OffsetDateTime)],
        plans: Vec<Result<Vec<DeliveryMessage>, DeliveryError>>,
        deadline: OffsetDateTime,
        repeat_delay: time::Duration,
    ) -> Vec<Result<usize, DeliveryError>> {
        let mut results: Vec<Result<usize, DeliveryError>> = Vec::with_capacity(plans.len());
        let mut plans_in_order: Vec<(usize, Vec<DeliveryMessage>)> = Vec::new();
        for (index, plan) in plans.into_iter().enumerate() {
            match plan {
                Ok(messages) => {
                    results.push(Ok(messages.len()));
                    plans_in_order.push((index, messages));
                }
                Err(e) => results.push(Err(e)),
            }
        }
        // Narrow fan-outs first: one that runs out of time should be the widest, not another
        // account's single delivery queued behind it.
        plans_in_order.sort_by_key(|(_, messages)| messages.len());
        let mut work: Vec<(usize, DeliveryMessage)> = Vec::new();
        let mut ranges = vec![0..0; fan_outs.len()];
        for (index, messages) in plans_in_order {
            let start = work.len();
            work.extend(messages.into_iter().map(|m| (index, m)));
            ranges[index] = start..work.len();
        }
        let encoded_events: Vec<String> = fan_outs
            .iter()
            .map(|(event, _, _)| serde_json::to_string(event).expect("events always serialise"))
            .collect();
        let encoded_events = &encoded_events;
        // Chunks of one SendMessageBatch each (10 entries, 256 KiB), by each message's size
        // estimated from its event's and a webhook's.
        let estimates: Vec<usize> = work
            .iter()
            .map(|(index, _)| encoded_events[*index].len() + WEBHOOK_BYTES_ESTIMATE)
            .collect();
        let chunks = crate::queue::pack_batches(&estimates);
        let mut chunk_of = vec![0; work.len()];
        for (k, chunk) in chunks.iter().enumerate() {
            chunk_of[chunk.clone()].fill(k);
        }
        let work = &work;
        let outcomes: Vec<(usize, Result<(), DeliveryError>)> =
            futures::stream::iter(chunks.iter().cloned().enumerate())
                .map(|(k, chunk)| async move {
                    let now = self.clock.now();
                    if now + FAN_OUT_MARGIN > deadline {
                        return (k, Err(DeliveryError::OutOfTime));
                    }
                    let encoded: Vec<_> = work[chunk]
                        .iter()
                        .map(|(index, m)| m.encode_with_event(&encoded_events[*index]))
                        .collect();
                    let result = self.queue.enqueue_encoded(&encoded, now).await;
                    (k, result.map_err(DeliveryError::from))
                })
                .buffer_unordered(FAN_OUT_CHUNKS_AT_ONCE)
                .collect()
                .await;
        let mut failed: Vec<Option<DeliveryError>> = Vec::new();
        failed.resize_with(chunks.len(), || None);
        for (k, result) in outcomes {
            failed[k] = result.err();
        }
        // Each event stopped short after some progress goes on in a rest; all rests of the
        // batch are queued in one call.
        let now = self.clock.now();
        let mut rests: Vec<(usize, FanOutRest, usize, DeliveryError)> = Vec::new();
        for (index, range) in ranges.into_iter().enumerate() {
            let Some(stop) = range.clone().find(|i| failed[chunk_of[*i]].is_some()) else {
                continue;
            };
            let why = match &failed[chunk_of[stop]] {
                Some(DeliveryError::OutOfTime) | None => DeliveryError::OutOfTime,
                Some(e) => DeliveryError::Queue(crate::queue::QueueError(e.to_string())),
            };
            if stop == range.start {
                results[index] = Err(why);
                continue;
            }
            let (event, republished, planned_at) = fan_outs[index];
            // The rest's messages are checked; they wait until every fast-path try of any
            // fan-out of this event (this one, or a first one beside a repeat) has recorded.
            let rest = FanOutRest {
                rest_of: event.clone(),
                after: work[stop - 1].1.webhook_id.clone(),
                republished,
                due_at: Some(now + repeat_delay),
                planned_at: Some(planned_at),
            };
            rests.push((index, rest, stop - range.start, why));
        }
        if rests.is_empty() {
            return results;
        }
        let encoded: Vec<_> = rests.iter().map(|(_, rest, _, _)| rest.encode()).collect();
        let sent = self.queue.enqueue_encoded(&encoded, now).await;
        for (index, rest, queued, why) in rests {
            results[index] = match &sent {
                Ok(()) => {
                    tracing::info!(event_id = %rest.rest_of.id, queued, why = %why, "fan-out goes on in another invocation");
                    Ok(queued)
                }
                Err(e) => Err(DeliveryError::Queue(crate::queue::QueueError(e.0.clone()))),
            };
        }
        results
    }

    /// One delivery message per webhook subscribed to `event`, in webhook id order (after
    /// `after`, and made no later than `made_by`, if given), without the event (the fan-out
    /// encodes it once and splices it in).
    async fn deliveries_for(
        &self,
        event: &Event,
        republished: bool,
        after: Option<&str>,
        made_by: Option<OffsetDateTime>,
        check: bool,
        due_at: Option<OffsetDateTime>,
    ) -> Result<Vec<DeliveryMessage>, DeliveryError> {
        let mut subscribers = self
            .store
            .subscribers(&event.account_id, event.event)
            .await?;
        subscribers.sort_by(|a, b| a.webhook.id.cmp(&b.webhook.id));
        let messages: Vec<DeliveryMessage> = subscribers
            .into_iter()
            .filter(|s| after.is_none_or(|after| s.webhook.id.as_str() > after))
            .filter(|s| made_by.is_none_or(|made_by| s.webhook.created_at <= made_by))
            // A republished id reaches no webhook made after its first publish.
            .filter(|s| !republished || s.webhook.created_at <= event.occurred_at)
            .map(|s| {
                let id = crate::model::delivery_id(event, &s.webhook.id);
                let message = DeliveryMessage::new(id, &event.account_id, &s.webhook.id);
                DeliveryMessage {
                    failing: s.failing,
                    due_at,
                    check,
                    // A receiver already failing or slow may hang: its deliveries wait in the
                    // slow lane.
                    slow: s.failing || s.slow,
                    webhook: Some(std::sync::Arc::new(s.webhook)),
                    ..message
                }
            })
            .collect();
        Ok(messages)
    }

    /// The deliveries queue's step: one attempt of one delivery, unless it is not due yet or
    /// the invocation has no time left for it.
    pub async fn deliver(
        &self,
        message: &DeliveryMessage,
        receive: &Receive,
        deadline: OffsetDateTime,
    ) -> Result<Handled, DeliveryError> {
        let now = self.clock.now();
        if let Some(due) = message.due_at.filter(|due| *due > now) {
            // SQS delays 15 minutes at most, in whole seconds: longer waits hide it again.
            return Ok(Handled::KeepUntil(due));
        }
        match (&message.webhook, &message.event) {
            (Some(webhook), Some(event))
                if !message.check
                    && !message.manual
                    && receive.count == 1
                    && now - receive.sent_at < FRESH =>
            {
                self.first_try(message, webhook, event, deadline).await
            }
            // Boxed: the checked path's future is the larger, and the fast path's is what
            // every first try moves around.
            _ => Box::pin(self.checked(message, receive, deadline)).await,
        }
    }

    /// A v1 retry message, still queued when the stack was updated: attempted on the checked
    /// path, with the event its v1 record holds.
    pub async fn deliver_legacy(
        &self,
        message: &RetryMessage,
        deadline: OffsetDateTime,
    ) -> Result<Handled, DeliveryError> {
        let converted = message.as_delivery();
        let checked_now = Receive {
            count: u32::MAX,
            sent_at: OffsetDateTime::UNIX_EPOCH,
        };
        self.deliver(&converted, &checked_now, deadline).await
    }

    fn time_left(timeout: Duration, now: OffsetDateTime, deadline: OffsetDateTime) -> bool {
        now + timeout + RECORD_MARGIN <= deadline
    }

    fn attempt_timeout(
        &self,
        webhook: &Webhook,
        scheduled_before: usize,
        manual: bool,
        failing: bool,
    ) -> Duration {
        decide::attempt_timeout(
            Self::timeout(webhook),
            self.settings.suspect_timeout,
            self.settings.suspect_attempts,
            scheduled_before,
            manual,
            failing,
        )
    }

    /// The fast path: send with the fan-out's copy of the webhook, then one conditional write.
    /// In the prompt lane the send waits `prompt_timeout` at most; a delivery unanswered by
    /// then goes to the slow lane instead (`to_slow_lane`).
    async fn first_try(
        &self,
        message: &DeliveryMessage,
        webhook: &Webhook,
        event: &Event,
        deadline: OffsetDateTime,
    ) -> Result<Handled, DeliveryError> {
        let now = self.clock.now();
        let full = self.attempt_timeout(webhook, 0, false, message.failing);
        let cut = match message.lane() {
            Lane::Prompt => decide::prompt_lane_cut(full, self.settings.prompt_timeout),
            Lane::Slow => None,
        };
        let timeout = cut.unwrap_or(full);
        if !Self::time_left(timeout, now, deadline) {
            return Ok(Handled::KeepUntil(now));
        }
        let mut delivery =
            Delivery::with_id(message.delivery_id.clone(), event, &webhook.id, now, false);
        let (attempt, verdict) = self
            .send(webhook, event, &delivery.id, false, timeout)
            .await;
        if cut.is_some() && verdict.timed_out {
            return self.to_slow_lane(message, webhook, event).await;
        }
        self.prompt_again(message, webhook, &verdict, &attempt)
            .await;
        let at = attempt.at;
        let next = decide::after_attempt(
            &verdict,
            at,
            0,
            false,
            (DeliveryStatus::Pending, None),
            &self.settings.schedule,
            &*self.random,
        );
        self.before_record(webhook, &delivery, event, &verdict, next, false, at)
            .await?;
        delivery.attempts.push(Self::bounded(&attempt));
        delivery.status = next.status;
        delivery.next_attempt_at = next.due;
        let token = self.token("rec");
        let expires = at + self.settings.retention;
        if let FirstRecord::Exists(_) = self.store.record_first(&delivery, &token, expires).await? {
            // Another copy of this message (an SQS duplicate) sent and recorded it first.
            tracing::warn!(delivery_id = %delivery.id, "delivery sent by two copies of its message");
            return Ok(Handled::Done);
        }
        self.log_outcome(webhook, &delivery, &attempt);
        self.after_attempt(webhook, &verdict, at, &token, Some(message.failing))
            .await;
        Ok(Handled::Done)
    }

    /// Clears a webhook's slow mark once a first try to it (in the slow lane, as the fan-out
    /// saw the mark) is answered within half the prompt lane's limit: half, so a receiver that
    /// answers at about the limit is not marked and cleared in turn (each mark sends the
    /// deliveries then in flight twice). A webhook that is failing too keeps the mark until
    /// its streak ends.
    async fn prompt_again(
        &self,
        message: &DeliveryMessage,
        webhook: &Webhook,
        verdict: &Verdict,
        attempt: &Attempt,
    ) {
        let quick = Duration::from_millis(attempt.duration_ms) < self.settings.prompt_timeout / 2;
        if verdict.success && quick && message.webhook.is_some() && message.slow && !message.failing
        {
            self.set_mark(webhook, Mark::Slow, false).await.ok();
            self.memo
                .marked_slow
                .forget((webhook.account_id.as_str(), webhook.id.as_str()));
        }
    }

    /// A first try the prompt lane cut short: queued again in the slow lane, checked (a claim
    /// first), to wait the webhook's full timeout there; the webhook is marked slow, so its next
    /// first tries go straight to the slow lane. Nothing is recorded for the cut attempt (it
    /// counts neither as an attempt nor as a failure), but the receiver may have seen it: the
    /// slow lane's send has the same `webhook-id`, as any resend does.
    async fn to_slow_lane(
        &self,
        message: &DeliveryMessage,
        webhook: &Webhook,
        event: &Event,
    ) -> Result<Handled, DeliveryError> {
        let moved = DeliveryMessage {
            event: Some(event.clone()),
            due_at: None,
            check: true,
            slow: true,
            ..message.clone()
        };
        let now = self.clock.now();
        let key = (webhook.account_id.as_str(), webhook.id.as_str());
        if !message.slow {
            self.memo
                .marked_slow
                .once(
                    key,
                    now,
                    || self.set_mark(webhook, Mark::Slow, true),
                    |why| StoreError::Backend(why.to_string()),
                )
                .await
                .ok();
        }
        tracing::info!(
            account_id = %webhook.account_id,
            webhook_id = %webhook.id,
            delivery_id = %message.delivery_id,
            limit_ms = self.settings.prompt_timeout.as_millis() as u64,
            "no answer within the prompt lane's limit; sent again in the slow lane"
        );
        Ok(Handled::SendInstead(Box::new(moved)))
    }

    /// The checked path: the webhook read afresh, the delivery claimed before the send.
    async fn checked(
        &self,
        message: &DeliveryMessage,
        receive: &Receive,
        deadline: OffsetDateTime,
    ) -> Result<Handled, DeliveryError> {
        let now = self.clock.now();
        let Some(webhook) = self
            .store
            .get_webhook(&message.account_id, &message.webhook_id)
            .await?
        else {
            return self.stop_for_deleted(message, now).await;
        };
        if message.webhook.is_some() && !message.check && receive.count > 1 {
            // A first try handed out again (a crash, an SQS duplicate, a visibility timeout
            // run out): its first receive may still be on the fast path, which does not
            // claim. Claim only once that one must have recorded, or died. (A checked
            // message never takes the fast path: each of its receives claims.)
            let settled = fast_path_settled(receive.sent_at, function_timeout(deadline, now));
            if now < settled {
                return Ok(Handled::KeepUntil(settled));
            }
        }
        if !Self::time_left(Self::timeout(&webhook), now, deadline) {
            return Ok(Handled::KeepUntil(now));
        }
        // In the prompt lane an attempt waits the lane's limit at most (`first_try`), and the
        // lease is as short, so a copy moved to the slow lane does not wait out a long one.
        let prompt_cut = match (message.lane(), message.manual) {
            (Lane::Prompt, false) => {
                decide::prompt_lane_cut(Self::timeout(&webhook), self.settings.prompt_timeout)
            }
            _ => None,
        };
        let lease = match prompt_cut {
            Some(limit) => Lease {
                token: self.token("lease"),
                until: now + limit + LEASE_MARGIN,
            },
            None => self.lease(&webhook, now),
        };
        let expires = now + self.settings.retention;
        let claim = match (&message.event, message.due_at, message.manual) {
            // A first try (only the fan-out's messages carry the webhook) whose fan-out may
            // have run before: create the record, or claim it.
            (Some(event), _, false) if message.webhook.is_some() => {
                let delivery =
                    Delivery::with_id(message.delivery_id.clone(), event, &webhook.id, now, false);
                self.store
                    .claim_delivery(delivery, &lease, now, expires)
                    .await?
            }
            _ => {
                self.store
                    .claim_existing(
                        &message.account_id,
                        &message.webhook_id,
                        &message.delivery_id,
                        &lease,
                        now,
                        message.manual,
                    )
                    .await?
            }
        };
        let wait_for_holder = Handled::KeepUntil(now + Self::lease_length(&webhook));
        let delivery = match claim {
            Claim::Claimed(d) if message.manual && d.attempts.len() >= MAX_ATTEMPTS => {
                // Its log is full; our claim lapses with its lease, nothing was sent.
                return Ok(Handled::Done);
            }
            Claim::Claimed(d) => d,
            // Another attempt of it is under way: come back when its lease ends, in case
            // that worker dies before recording.
            Claim::Busy(Some(_)) if message.manual => return Ok(wait_for_holder),
            Claim::Busy(Some(d))
                if d.status == DeliveryStatus::Pending
                    && d.next_attempt_at.is_none_or(|next| next <= now) =>
            {
                return Ok(wait_for_holder)
            }
            // A retry whose record is not written yet: the first try that queued it records
            // after queueing it (so no crash loses the retry), and may not have got there.
            // Should it have died instead, its own message comes back and records; waits grow
            // with each receive, so this one stays far from the dead-letter queue meanwhile.
            Claim::Busy(None) if message.due_at.is_some() && !message.manual => {
                let waits = receive.count.clamp(1, 8);
                return Ok(Handled::KeepUntil(
                    now + Self::lease_length(&webhook) * waits,
                ));
            }
            // Finished, gone, or waiting for a later attempt whose own message exists.
            Claim::Busy(_) => return Ok(Handled::Done),
        };
        let subscribed = webhook.status == Status::Active
            && webhook.indexed_events().contains(&delivery.event.event);
        if !message.manual && !subscribed {
            let why = if webhook.status == Status::Active {
                "the webhook no longer subscribes to this event; delivery stopped"
            } else {
                "the webhook is inactive; delivery stopped"
            };
            if let (Some(event), true) = (&message.event, delivery.attempts.is_empty()) {
                // Kept so that a recover, once the webhook is active again, can send it.
                self.store
                    .keep_event(event, now + self.settings.retention)
                    .await?;
            }
            self.stop(&delivery, &lease.token, why, now).await?;
            return Ok(Handled::Done);
        }
        let event = match &message.event {
            Some(event) => Some(event.clone()),
            None => self.delivery_event(&delivery).await?,
        };
        let Some(event) = event else {
            // Only a resend can lack it (the API refuses those it can see); nothing is sent.
            tracing::warn!(delivery_id = %delivery.id, "no event data kept for this delivery; not resent");
            return Ok(Handled::Done);
        };
        let scheduled_before = delivery.attempts.iter().filter(|a| !a.manual).count();
        let timeout =
            self.attempt_timeout(&webhook, scheduled_before, message.manual, message.failing);
        let (attempt, verdict) = self
            .send(
                &webhook,
                &event,
                &delivery.id,
                message.manual,
                prompt_cut.map_or(timeout, |limit| timeout.min(limit)),
            )
            .await;
        if prompt_cut.is_some_and(|limit| timeout > limit) && verdict.timed_out {
            // Nothing recorded; the claim lapses with its short lease.
            return self.to_slow_lane(message, &webhook, &event).await;
        }
        self.prompt_again(message, &webhook, &verdict, &attempt)
            .await;
        self.record_claimed(
            &webhook,
            delivery,
            &event,
            &lease.token,
            message.manual,
            attempt,
            verdict,
        )
        .await?;
        Ok(Handled::Done)
    }

    /// A message whose webhook was deleted: a pending record ends with the reason; nothing
    /// is created for a webhook that no longer exists.
    async fn stop_for_deleted(
        &self,
        message: &DeliveryMessage,
        now: OffsetDateTime,
    ) -> Result<Handled, DeliveryError> {
        let lease = Lease {
            token: self.token("lease"),
            until: now + Duration::from_secs(30),
        };
        let claim = self
            .store
            .claim_existing(
                &message.account_id,
                &message.webhook_id,
                &message.delivery_id,
                &lease,
                now,
                message.manual,
            )
            .await?;
        match claim {
            Claim::Claimed(d) if d.status == DeliveryStatus::Pending => {
                let why = "the webhook was deleted; delivery stopped";
                self.stop(&d, &lease.token, why, now).await?;
            }
            // Due, and another copy of this message holds it (to stop it, or an attempt begun
            // before the delete): come back once its lease has ended, in case that worker dies
            // before it records; otherwise nothing would ever end the delivery (simulation
            // seed 80675). Not yet due: a later attempt's own message will stop it.
            Claim::Busy(Some(d))
                if d.status == DeliveryStatus::Pending
                    && d.next_attempt_at.is_none_or(|next| next <= now) =>
            {
                return Ok(Handled::KeepUntil(now + MAX_LEASE));
            }
            _ => {}
        }
        Ok(Handled::Done)
    }

    /// A resend the user asked for, now: a new attempt whatever the status, same
    /// `webhook-id`. `None` when another attempt of it is under way.
    pub async fn resend(
        &self,
        webhook: &Webhook,
        delivery_id: &str,
    ) -> Result<Option<Attempt>, DeliveryError> {
        let now = self.clock.now();
        let lease = self.lease(webhook, now);
        let claim = self
            .store
            .claim_existing(
                &webhook.account_id,
                &webhook.id,
                delivery_id,
                &lease,
                now,
                true,
            )
            .await?;
        let delivery = match claim {
            Claim::Claimed(d) if d.attempts.len() >= MAX_ATTEMPTS => {
                return Err(DeliveryError::AttemptsExhausted(d.id))
            }
            Claim::Claimed(d) => d,
            Claim::Busy(_) => return Ok(None),
        };
        let Some(event) = self.delivery_event(&delivery).await? else {
            return Err(DeliveryError::PayloadNotKept(delivery.id));
        };
        let timeout = Self::timeout(webhook);
        self.attempt_claimed(webhook, delivery, &event, &lease.token, true, timeout)
            .await
            .map(Some)
    }

    /// The event a delivery sends: its record's copy (v1's records), or the kept event.
    pub async fn delivery_event(
        &self,
        delivery: &Delivery,
    ) -> Result<Option<Event>, DeliveryError> {
        match delivery.stored_event() {
            Some(event) => Ok(Some(event)),
            None => Ok(self
                .store
                .find_event(&delivery.account_id, &delivery.event.id)
                .await?),
        }
    }

    /// Queues one more attempt of every failed delivery of `webhook` whose event occurred at
    /// or after `since`, newest first, at most `MAX_RECOVER`. Returns how many were queued.
    pub async fn recover(
        &self,
        webhook: &Webhook,
        since: OffsetDateTime,
    ) -> Result<usize, DeliveryError> {
        let mut messages = Vec::new();
        let mut before: Option<String> = None;
        'pages: loop {
            let page = self
                .store
                .list_deliveries(
                    &webhook.account_id,
                    &webhook.id,
                    Some(DeliveryStatus::Failed),
                    100,
                    before.as_deref(),
                )
                .await?;
            for delivery in &page.items {
                if delivery.event.occurred_at < since || messages.len() == MAX_RECOVER {
                    break 'pages; // newest first: everything further is older
                }
                messages.push(DeliveryMessage {
                    check: true,
                    manual: true,
                    // Up to MAX_RECOVER at the webhook's full timeout, to a receiver that
                    // may still be failing: bulk work, in the slow lane.
                    slow: true,
                    ..DeliveryMessage::new(&delivery.id, &webhook.account_id, &webhook.id)
                });
            }
            match page.next_after {
                Some(next) => before = Some(next),
                None => break,
            }
        }
        self.queue.enqueue(&messages, self.clock.now()).await?;
        Ok(messages.len())
    }

    /// A signed test event, sent once and recorded nowhere: the console's "Test" of an
    /// outbound webhook. Its data is a sample of the webhook's first event.
    pub async fn send_test(&self, webhook: &Webhook) -> Attempt {
        use crate::model::EventType;
        let now = self.clock.now();
        let kind = webhook
            .events()
            .first()
            .copied()
            .unwrap_or(EventType::CaseNew);
        let data = match kind {
            EventType::AgentStatus => {
                serde_json::json!({"agentId": "test", "status": "available", "channels": {"chat": true}})
            }
            case => serde_json::json!({
                "caseId": "test",
                "status": case.as_str().strip_prefix("case:status:").unwrap_or("active"),
                "fields": {},
                "contact": {"id": "test", "fields": {"name": "Test Contact"}},
                "messages": []
            }),
        };
        let event = Event {
            id: format!("evt_test_{}", crate::ids::ulid(now)),
            event: kind,
            account_id: webhook.account_id.clone(),
            occurred_at: now,
            data: crate::events::EventData::from_value(&data),
        };
        let id = crate::model::delivery_id(&event, &webhook.id);
        self.send(webhook, &event, &id, true, Self::timeout(webhook))
            .await
            .0
    }

    /// One attempt under a claim: send, queue what follows, record.
    async fn attempt_claimed(
        &self,
        webhook: &Webhook,
        delivery: Delivery,
        event: &Event,
        lease: &str,
        manual: bool,
        timeout: Duration,
    ) -> Result<Attempt, DeliveryError> {
        let (attempt, verdict) = self
            .send(webhook, event, &delivery.id, manual, timeout)
            .await;
        self.record_claimed(webhook, delivery, event, lease, manual, attempt, verdict)
            .await
    }

    /// Records a claimed delivery's attempt (and what must exist before: `before_record`), then
    /// the webhook's streak.
    #[allow(clippy::too_many_arguments)]
    async fn record_claimed(
        &self,
        webhook: &Webhook,
        delivery: Delivery,
        event: &Event,
        lease: &str,
        manual: bool,
        attempt: Attempt,
        verdict: Verdict,
    ) -> Result<Attempt, DeliveryError> {
        let at = attempt.at;
        // Where the schedule stands: manual resends do not move it.
        let scheduled_before = delivery.attempts.iter().filter(|a| !a.manual).count();
        let next = decide::after_attempt(
            &verdict,
            at,
            scheduled_before,
            manual,
            (delivery.status, delivery.next_attempt_at),
            &self.settings.schedule,
            &*self.random,
        );
        self.before_record(webhook, &delivery, event, &verdict, next, manual, at)
            .await?;
        let expires = at + self.settings.retention;
        match self
            .store
            .record_attempt(
                &delivery,
                lease,
                &Self::bounded(&attempt),
                next.status,
                next.due,
                expires,
            )
            .await
        {
            Ok(()) => {}
            Err(StoreError::Conflict) => {
                // Our lease ran out and another worker took the delivery over: it records.
                tracing::warn!(delivery_id = %delivery.id, "lease lost before recording an attempt");
                return Ok(attempt);
            }
            Err(e) => return Err(e.into()),
        }
        let mut recorded = delivery;
        recorded.attempts.push(Self::bounded(&attempt));
        recorded.status = next.status;
        self.log_outcome(webhook, &recorded, &attempt);
        if !manual || verdict.success {
            // A resend the user asked for does not count toward the webhook's failure streak.
            self.after_attempt(webhook, &verdict, at, lease, None).await;
        }
        Ok(attempt)
    }

    /// What must exist before an attempt is recorded, so no crash after the record loses it:
    /// the event's data once a delivery of it fails (for retries' records, resends and
    /// recover), the next attempt's message (the table never names a time no message waits
    /// for), and the exhaustion e-mail.
    #[allow(clippy::too_many_arguments)]
    async fn before_record(
        &self,
        webhook: &Webhook,
        delivery: &Delivery,
        event: &Event,
        verdict: &Verdict,
        next: Next,
        manual: bool,
        at: OffsetDateTime,
    ) -> Result<(), DeliveryError> {
        if !verdict.success && delivery.attempts.is_empty() && delivery.legacy_data.is_none() {
            self.memo
                .kept_events
                .once(
                    (&event.account_id, &event.id),
                    at,
                    || async {
                        self.store
                            .keep_event(event, at + self.settings.retention)
                            .await
                            .map(|_| ())
                    },
                    // `why` is the failed write's own message, already a store error's.
                    |why| StoreError::Backend(format!("keeping the event failed: {why}")),
                )
                .await?;
        }
        if let (Some(due), false) = (next.due, manual) {
            let retry = DeliveryMessage {
                event: Some(event.clone()),
                due_at: Some(due),
                // This attempt failed: the next may hang too.
                slow: true,
                ..DeliveryMessage::new(&delivery.id, &delivery.account_id, &delivery.webhook_id)
            };
            self.retries
                .send(&self.queue, retry.encode(), self.clock.now())
                .await?;
        }
        if next.exhausted {
            let text = format!(
                "Delivery {} of event {} ({}) to your webhook {} ({}) failed {} times and will not be retried. \
                 You can resend it, or recover all failed deliveries, from the API or the console.",
                delivery.id,
                excerpt(&event.id, 100),
                event.event.as_str(),
                quoted_name(&webhook.name),
                webhook.id,
                delivery.attempts.len() + 1,
            );
            let subject = format!(
                "Webhook {}: a delivery failed for good",
                quoted_name(&webhook.name)
            );
            self.queue_notice(
                webhook,
                "outbound-exhausted",
                subject,
                text,
                at,
                Some(&delivery.id),
            )
            .await?;
        }
        Ok(())
    }

    /// The attempt as the log keeps it: bounded excerpts, so no record outgrows its item.
    fn bounded(attempt: &Attempt) -> Attempt {
        let mut kept = attempt.clone();
        let succeeded = attempt.status.is_some_and(|s| (200..300).contains(&s));
        let cap = if succeeded {
            SUCCESS_EXCERPT_BYTES
        } else {
            STORED_EXCERPT_BYTES
        };
        kept.response_body = kept
            .response_body
            .as_deref()
            .map(|b| json_prefix(b, cap).to_string());
        kept.error = kept
            .error
            .as_deref()
            .map(|e| json_prefix(e, STORED_EXCERPT_BYTES).to_string());
        kept
    }

    /// One line per outcome; successes at debug, so the logs cost less than the delivery.
    fn log_outcome(&self, webhook: &Webhook, delivery: &Delivery, attempt: &Attempt) {
        if delivery.status == DeliveryStatus::Succeeded {
            tracing::debug!(
                account_id = %webhook.account_id,
                webhook_id = %webhook.id,
                delivery_id = %delivery.id,
                status = attempt.status,
                duration_ms = attempt.duration_ms,
                "delivered"
            );
        } else {
            tracing::info!(
                account_id = %webhook.account_id,
                webhook_id = %webhook.id,
                delivery_id = %delivery.id,
                event = delivery.event.event.as_str(),
                status = attempt.status,
                error = attempt.error.as_deref(),
                outcome = delivery.status.as_str(),
                duration_ms = attempt.duration_ms,
                "delivery attempt failed"
            );
        }
    }

    /// Records that a claimed delivery stops here, and why: it ends `failed`, and "recover"
    /// can resend it once the webhook is active again.
    async fn stop(
        &self,
        delivery: &Delivery,
        lease: &str,
        why: &str,
        now: OffsetDateTime,
    ) -> Result<(), DeliveryError> {
        let attempt = Attempt {
            at: now,
            status: None,
            error: Some(why.into()),
            duration_ms: 0,
            response_body: None,
            manual: false,
        };
        let expires = now + self.settings.retention;
        self.store
            .record_attempt(
                delivery,
                lease,
                &attempt,
                DeliveryStatus::Failed,
                None,
                expires,
            )
            .await?;
        Ok(())
    }

    fn timeout(webhook: &Webhook) -> Duration {
        match &webhook.config {
            FlowConfig::Outbound(c) => Duration::from_millis(c.timeout_ms.into()),
            FlowConfig::Inbound(_) => Duration::from_secs(15),
        }
    }

    /// How long a claim lasts: long enough to finish an attempt and record it.
    fn lease_length(webhook: &Webhook) -> Duration {
        Self::timeout(webhook) + LEASE_MARGIN
    }

    fn lease(&self, webhook: &Webhook, now: OffsetDateTime) -> Lease {
        Lease {
            token: self.token("lease"),
            until: now + Self::lease_length(webhook),
        }
    }

    fn token(&self, kind: &str) -> String {
        format!("{kind}_{:032x}", self.random.next_u128())
    }

    /// The signed POST of `event` to `webhook`, as delivery `delivery_id`, sent and judged.
    async fn send(
        &self,
        webhook: &Webhook,
        event: &Event,
        delivery_id: &str,
        manual: bool,
        timeout: Duration,
    ) -> (Attempt, Verdict) {
        let at = self.clock.now();
        let body = payload(webhook, event);
        let mut headers = vec![(
            "content-type".to_string(),
            webhook.format.mime().to_string(),
        )];
        headers.extend(credential_headers(&webhook.security));
        for (name, value) in signature_headers(&webhook.security, delivery_id, at, &body) {
            headers.push((name.to_string(), value));
        }
        let request = HttpRequest {
            method: HttpMethod::Post,
            url: webhook.url.clone(),
            headers,
            body,
            timeout,
        };
        let verdict = decide::judge(
            self.http.send(request, self.settings.response_cap).await,
            at,
        );
        let attempt = Attempt {
            at,
            status: verdict.status,
            error: verdict.error.clone(),
            // From the injected clock, so a simulated receiver's latency is what is logged.
            duration_ms: (self.clock.now() - at).whole_milliseconds().max(0) as u64,
            response_body: verdict.body.clone(),
            manual,
        };
        (attempt, verdict)
    }

    /// The webhook's failure streak, the e-mails, and disabling. `snapshot_failing`: on the
    /// fast path, whether the fan-out saw a streak running (a success writes only then).
    /// Problems here are logged; they never undo a recorded attempt.
    async fn after_attempt(
        &self,
        webhook: &Webhook,
        verdict: &Verdict,
        at: OffsetDateTime,
        attempt: &str,
        snapshot_failing: Option<bool>,
    ) {
        if verdict.success {
            if snapshot_failing == Some(false) {
                return;
            }
            match self
                .store
                .record_success(&webhook.account_id, &webhook.id)
                .await
            {
                Ok(ended) => {
                    if ended || snapshot_failing == Some(true) {
                        self.mark(webhook, false).await;
                    }
                }
                Err(e) => {
                    tracing::warn!(webhook_id = %webhook.id, error = %e, "could not reset the failure streak")
                }
            }
            return;
        }
        if verdict.gone {
            self.disable(webhook, "the receiver answered 410 Gone", at)
                .await;
            return;
        }
        let health = match self
            .store
            .record_failure(&webhook.account_id, &webhook.id, at, attempt)
            .await
        {
            Ok(health) => health,
            Err(e) => {
                tracing::warn!(webhook_id = %webhook.id, error = %e, "could not count the failure");
                return;
            }
        };
        if health.consecutive_failures == 1 || snapshot_failing == Some(false) {
            self.mark(webhook, true).await;
        }
        if health.consecutive_failures == self.settings.warn_after {
            let text = format!(
                "The last {} delivery attempts to your webhook {} ({}) failed. We keep retrying each \
                 delivery for about three days; the latest failure was: {}.",
                health.consecutive_failures,
                quoted_name(&webhook.name),
                webhook.id,
                quoted_error(verdict.error.as_deref().unwrap_or("unknown")),
            );
            self.notify(
                webhook,
                "outbound-failing",
                format!("Webhook {} is failing", quoted_name(&webhook.name)),
                text,
                at,
            )
            .await;
        }
        if health
            .failing_since
            .is_some_and(|since| at - since >= self.settings.disable_after)
        {
            self.disable(webhook, "it failed continuously for 5 days", at)
                .await;
        }
    }

    /// Marks (or clears) the webhook's failure streak on its subscription entries. Marking is
    /// written once per burst (`Memo::marked_failing`); clearing always writes, and forgets
    /// the mark so the next streak marks again.
    async fn mark(&self, webhook: &Webhook, failing: bool) {
        let key = (webhook.account_id.as_str(), webhook.id.as_str());
        if failing {
            self.memo
                .marked_failing
                .once(
                    key,
                    self.clock.now(),
                    || self.set_mark(webhook, Mark::Failing, true),
                    |why| StoreError::Backend(why.to_string()),
                )
                .await
                .ok();
        } else {
            // Forgotten once cleared, so a mark made meanwhile is not taken as still standing.
            self.set_mark(webhook, Mark::Failing, false).await.ok();
            self.memo.marked_failing.forget(key);
        }
    }

    /// Logged when it fails: a mark only steers the fan-out, and the next one tries again.
    async fn set_mark(&self, webhook: &Webhook, mark: Mark, on: bool) -> Result<(), StoreError> {
        self.store.set_mark(webhook, mark, on).await.inspect_err(|e| {
            tracing::warn!(webhook_id = %webhook.id, mark = mark.attribute(), on, error = %e, "could not mark the subscription entries");
        })
    }

    /// Sets the webhook inactive (retrying a concurrent edit a few times) and says why.
    async fn disable(&self, webhook: &Webhook, why: &str, at: OffsetDateTime) {
        for _ in 0..3 {
            let current = match self
                .store
                .get_webhook(&webhook.account_id, &webhook.id)
                .await
            {
                Ok(Some(w)) => w,
                Ok(None) => return,
                Err(e) => {
                    tracing::warn!(webhook_id = %webhook.id, error = %e, "could not load the webhook to disable it");
                    return;
                }
            };
            if current.status == Status::Inactive {
                return;
            }
            let mut next = current.clone();
            next.status = Status::Inactive;
            next.updated_at = at;
            next.version = current.version + 1;
            match self.store.update_webhook(&current, &next).await {
                Ok(()) => {
                    tracing::warn!(webhook_id = %webhook.id, why, "webhook disabled");
                    let text = format!(
                        "Your webhook {} ({}) was set inactive because {why}. No further events are sent to it. \
                         Set it active again once the receiver is fixed, and recover the deliveries it missed.",
                        quoted_name(&webhook.name), webhook.id
                    );
                    self.notify(
                        webhook,
                        "outbound-disabled",
                        format!("Webhook {} was disabled", quoted_name(&webhook.name)),
                        text,
                        at,
                    )
                    .await;
                    return;
                }
                Err(StoreError::Conflict) => continue,
                Err(e) => {
                    tracing::warn!(webhook_id = %webhook.id, error = %e, "could not disable the webhook");
                    return;
                }
            }
        }
    }

    /// An e-mail of `kind`, queued (see `NoticeMessage`); a failure to queue is logged.
    async fn notify(
        &self,
        webhook: &Webhook,
        kind: &str,
        subject: String,
        text: String,
        at: OffsetDateTime,
    ) {
        if let Err(e) = self
            .queue_notice(webhook, kind, subject, text, at, None)
            .await
        {
            tracing::warn!(webhook_id = %webhook.id, kind, error = %e, "notice not queued");
        }
    }

    async fn queue_notice(
        &self,
        webhook: &Webhook,
        kind: &str,
        subject: String,
        text: String,
        at: OffsetDateTime,
        delivery_id: Option<&str>,
    ) -> Result<(), DeliveryError> {
        let message = NoticeMessage {
            notice: kind.to_string(),
            account_id: webhook.account_id.clone(),
            webhook_id: webhook.id.clone(),
            to: webhook.notification_email.clone(),
            subject,
            text,
            at,
            token: self.token("lease"),
            delivery_id: delivery_id.map(str::to_string),
        };
        self.queue.send_notice(&message).await?;
        Ok(())
    }

    /// A queued e-mail: sent unless another of its kind went to this webhook within the notice
    /// window (counted from when each is sent). An error keeps the message, to be tried again.
    pub async fn send_notice(&self, message: &NoticeMessage) -> Result<Handled, DeliveryError> {
        let now = self.clock.now();
        if let Some(id) = &message.delivery_id {
            // Queued before the record it announces: wait for the record, and stay silent if
            // the delivery did not fail after all (another copy of its message succeeded).
            let delivery = self
                .store
                .get_delivery(&message.account_id, &message.webhook_id, id)
                .await?;
            match delivery.map(|d| d.status) {
                Some(DeliveryStatus::Failed) => {}
                Some(DeliveryStatus::Succeeded) => return Ok(Handled::Done),
                _ if now - message.at < NOTICE_RECORD_WAIT => {
                    // Waits double (30 s, 1, 2, 4 ... minutes), so the message is received a
                    // handful of times, far from the dead-letter queue.
                    let age = now - message.at;
                    let wait = age.clamp(time::Duration::seconds(30), time::Duration::minutes(10));
                    return Ok(Handled::KeepUntil(now + wait));
                }
                _ => {
                    // Its attempt died before the record; the attempt made again queues its own.
                    tracing::warn!(delivery_id = %id, "exhaustion notice without a failed record; not sent");
                    return Ok(Handled::Done);
                }
            }
        }
        let claim = NoticeClaim {
            notice: message.token.clone(),
            holder: self.token("lease"),
            // Long enough for SES's answer; a run that died gives the notice up after it.
            until: now + Duration::from_secs(60),
        };
        let granted = self
            .store
            .claim_notice(
                &message.account_id,
                &message.webhook_id,
                &message.notice,
                now,
                self.settings.notice_window,
                &claim,
            )
            .await?;
        if let NoticeGrant::Held(until) = granted {
            // A copy of this message in another run: it may still fail, so this copy stays
            // until that run's time is up.
            return Ok(Handled::KeepUntil(until + Duration::from_secs(1)));
        }
        if granted == NoticeGrant::Granted {
            let email = Email::new(&message.to, &message.subject, &message.text);
            let within_budget = self
                .store
                .spend(
                    &message.account_id,
                    Allowance::EmailsPerHour,
                    now,
                    1,
                    self.settings.emails_per_hour.into(),
                )
                .await?;
            if within_budget {
                if let Err(e) = self.mailer.send(&email).await {
                    // Not sent, not counted: the message comes back and is charged again then,
                    // so an address SES keeps refusing cannot use up the account's hour.
                    let back = Allowance::EmailsPerHour;
                    if let Err(e) = self
                        .store
                        .give_back(&message.account_id, back, now, 1)
                        .await
                    {
                        tracing::warn!(webhook_id = %message.webhook_id, error = %e, "e-mail budget not given back");
                    }
                    return Err(e.into());
                }
            } else {
                // Marked sent all the same: a surplus e-mail is dropped, not postponed.
                tracing::warn!(account_id = %message.account_id, webhook_id = %message.webhook_id,
                    notice = %message.notice, "the account's e-mails for this hour are spent; e-mail not sent");
            }
            // A redelivered copy of this message then finds its claim spent. Should this fail,
            // only a duplicate of the message could send the e-mail twice.
            if let Err(e) = self
                .store
                .notice_sent(
                    &message.account_id,
                    &message.webhook_id,
                    &message.notice,
                    &message.token,
                )
                .await
            {
                tracing::warn!(webhook_id = %message.webhook_id, error = %e, "notice not marked sent");
            }
        }
        Ok(Handled::Done)
    }
}

#[cfg(test)]
mod tests {
    use std::collections::VecDeque;
    use std::sync::Mutex;

    use serde_json::json;

    use super::*;
    use crate::clock::ManualClock;
    use crate::http::{HttpError, HttpResponse};
    use crate::model::{WebhookPatch, WebhookRules};
    use crate::notify::RecordingMailer;
    use crate::queue::Lane;
    use crate::queue::MemoryDeliveryQueue;
    use crate::store::memory::MemoryStore;

    /// Answers from a script, in order (200 once it runs out), and keeps every request.
    #[derive(Default)]
    struct Script {
        answers: Mutex<VecDeque<Result<u16, HttpError>>>,
        sent: Mutex<Vec<HttpRequest>>,
    }

    impl HttpClient for Script {
        async fn send(&self, request: HttpRequest, _max: usize) -> Result<HttpResponse, HttpError> {
            self.sent.lock().unwrap().push(request);
            let status = self
                .answers
                .lock()
                .unwrap()
                .pop_front()
                .unwrap_or(Ok(200))?;
            Ok(HttpResponse {
                status,
                headers: http::HeaderMap::new(),
                body: b"ok".to_vec(),
                truncated: false,
            })
        }
    }

    type Engine = Deliverer<MemoryStore, Script, RecordingMailer, MemoryDeliveryQueue>;

    fn start() -> OffsetDateTime {
        OffsetDateTime::from_unix_timestamp(1_800_000_000).unwrap()
    }

    fn engine(answers: &[Result<u16, HttpError>]) -> (Engine, Arc<ManualClock>) {
        engine_with(answers, MemoryDeliveryQueue::default())
    }

    /// An engine over `queue`, answering with `answers`, its clock at `start()`.
    fn engine_with<Q: DeliveryQueue>(
        answers: &[Result<u16, HttpError>],
        queue: Q,
    ) -> (
        Deliverer<MemoryStore, Script, RecordingMailer, Q>,
        Arc<ManualClock>,
    ) {
        let clock = Arc::new(ManualClock::new(start()));
        let engine = Deliverer::new(
            MemoryStore::new(),
            Script {
                answers: Mutex::new(answers.iter().cloned().collect()),
                ..Default::default()
            },
            RecordingMailer::default(),
            queue,
            clock.clone(),
            crate::random::os(),
            DeliverySettings::default(),
        );
        (engine, clock)
    }

    async fn webhook(engine: &Engine) -> Webhook {
        let body = json!({"name": "crm", "flow": "outbound", "url": "https://crm.example.com/h",
            "notificationEmail": "ops@example.com", "events": ["case:new"]});
        let webhook = WebhookPatch::from_json(&body)
            .unwrap()
            .create(
                "wh_1".into(),
                "acme".into(),
                start() - time::Duration::hours(1),
                &WebhookRules::default(),
            )
            .unwrap();
        engine.store.create_webhook(&webhook).await.unwrap();
        webhook
    }

    fn event() -> EventMessage {
        EventMessage {
            event: Event::from_publish(
                &json!({"id": "evt_1", "event": "case:new", "data": {"caseId": "9"}}),
                "acme",
                start(),
            )
            .unwrap(),
            republished: false,
        }
    }

    fn first_receive(at: OffsetDateTime) -> Receive {
        Receive {
            count: 1,
            sent_at: at,
        }
    }

    fn far() -> OffsetDateTime {
        start() + time::Duration::minutes(15)
    }

    /// The delivery's record, which must exist.
    async fn recorded(engine: &Engine, webhook: &Webhook, id: &str) -> Delivery {
        engine
            .store
            .get_delivery("acme", &webhook.id, id)
            .await
            .unwrap()
            .expect("a record of the delivery")
    }

    /// Fans `event` out and returns the delivery messages it queued.
    async fn fan_out(engine: &Engine, event: &EventMessage, count: u32) -> Vec<DeliveryMessage> {
        let receive = Receive {
            count,
            sent_at: start(),
        };
        engine.fan_out(event, &receive, far()).await.unwrap();
        std::mem::take(&mut *engine.queue.queued.lock().unwrap())
    }

    #[test]
    fn the_function_timeout_is_read_from_a_fresh_invocation_s_deadline() {
        let now = start();
        let later = |ms| now + time::Duration::milliseconds(ms);
        assert_eq!(
            function_timeout(later(120_000), now),
            Duration::from_secs(120)
        );
        // A few milliseconds into the invocation: still the whole second.
        assert_eq!(
            function_timeout(later(119_993), now),
            Duration::from_secs(120)
        );
        assert_eq!(function_timeout(later(-5), now), Duration::ZERO);
        assert_eq!(
            repeat_delay(Duration::from_secs(120)),
            time::Duration::seconds(330)
        );
    }

    #[tokio::test]
    async fn a_fan_out_without_time_left_queues_nothing_and_is_received_again() {
        let (engine, _clock) = engine(&[]);
        webhook(&engine).await;
        let close = start() + FAN_OUT_MARGIN - time::Duration::seconds(1);
        let result = engine
            .fan_out(&event(), &first_receive(start()), close)
            .await;
        assert!(
            matches!(result, Err(DeliveryError::OutOfTime)),
            "{result:?}"
        );
        assert!(engine.queue.queued.lock().unwrap().is_empty());
    }

    /// Refuses every `enqueue` holding a message for webhook `wh_010`.
    #[derive(Default)]
    struct Refusing {
        inner: MemoryDeliveryQueue,
        calls: Mutex<usize>,
    }

    impl DeliveryQueue for Refusing {
        async fn enqueue_encoded(
            &self,
            messages: &[crate::queue::Encoded],
            now: OffsetDateTime,
        ) -> Result<(), crate::queue::QueueError> {
            *self.calls.lock().unwrap() += 1;
            if messages
                .iter()
                .any(|m| m.body.contains("\"webhookId\":\"wh_010\""))
            {
                return Err(crate::queue::QueueError("ServiceUnavailable".into()));
            }
            self.inner.enqueue_encoded(messages, now).await
        }

        async fn send_notice(
            &self,
            message: &crate::queue::NoticeMessage,
        ) -> Result<(), crate::queue::QueueError> {
            self.inner.send_notice(message).await
        }
    }

    async fn subscribe(store: &MemoryStore, id: &str, account: &str) {
        let body = json!({"name": "crm", "flow": "outbound", "url": "https://crm.example.com/h",
            "notificationEmail": "ops@example.com", "events": ["case:new"]});
        let webhook = WebhookPatch::from_json(&body)
            .unwrap()
            .create(
                id.into(),
                account.into(),
                start() - time::Duration::hours(1),
                &WebhookRules::default(),
            )
            .unwrap();
        store.create_webhook(&webhook).await.unwrap();
    }

    #[tokio::test]
    async fn a_wide_fan_out_goes_in_chunks_and_keeps_its_progress_in_a_rest() {
        // The narrow fan-out first: globex's one webhook shares a chunk with acme's
        // wh_000..008; then wh_009..018 and wh_019..024. The queue refuses the second
        // chunk: acme's fan-out goes on after wh_008 in a rest; globex's is done.
        let (engine, clock) = engine_with(&[], Refusing::default());
        for n in (0..25).rev() {
            subscribe(&engine.store, &format!("wh_{n:03}"), "acme").await;
        }
        subscribe(&engine.store, "wh_g", "globex").await;
        let acme = event();
        let globex = EventMessage {
            event: Event::from_publish(
                &json!({"id": "evt_2", "event": "case:new", "data": {"caseId": "7"}}),
                "globex",
                start(),
            )
            .unwrap(),
            republished: false,
        };
        let receive = first_receive(start());
        let deadline = start() + time::Duration::seconds(120);
        let results = engine
            .fan_out_all(&[(&acme, receive), (&globex, receive)], deadline)
            .await;
        assert_eq!(results[0].as_ref().unwrap(), &9, "{results:?}");
        assert_eq!(results[1].as_ref().unwrap(), &1);
        assert_eq!(
            *engine.queue.calls.lock().unwrap(),
            4,
            "three chunks and the rest"
        );
        let queued = std::mem::take(&mut *engine.queue.inner.queued.lock().unwrap());
        assert_eq!(queued.len(), 16, "the first and third chunks went through");
        // Each message carries its own event, spliced in whole.
        for m in &queued {
            let expected = if m.account_id == "acme" {
                &acme
            } else {
                &globex
            };
            assert_eq!(m.event.as_ref(), Some(&expected.event));
        }
        let rest = engine.queue.inner.rests.lock().unwrap().remove(0);
        assert_eq!(rest.after, "wh_008");
        assert_eq!(rest.rest_of, acme.event);
        // It waits until the first tries queued have recorded.
        let wait = repeat_delay(Duration::from_secs(120));
        assert_eq!(rest.due_at, Some(start() + wait));
        assert_eq!(
            engine.fan_out_rest(&rest, deadline).await.unwrap(),
            Handled::KeepUntil(start() + wait)
        );

        // Handled when due: the webhooks after wh_008, each checked (wh_019..024 were queued
        // already). wh_010's chunk is refused again, first: no progress, so the rest is
        // received again; its later chunk went (harmless: checked copies).
        clock.advance(wait);
        let deadline = clock.now() + time::Duration::seconds(120);
        let refused = engine.fan_out_rest(&rest, deadline).await;
        assert!(
            matches!(refused, Err(DeliveryError::Queue(_))),
            "{refused:?}"
        );
        let queued = std::mem::take(&mut *engine.queue.inner.queued.lock().unwrap());
        let ids: Vec<&str> = queued.iter().map(|m| m.webhook_id.as_str()).collect();
        assert_eq!(
            ids,
            ["wh_019", "wh_020", "wh_021", "wh_022", "wh_023", "wh_024"]
        );
        assert!(queued.iter().all(|m| m.check));
        assert!(engine.queue.inner.rests.lock().unwrap().is_empty());
    }

    #[tokio::test]
    async fn retries_of_records_failing_together_share_one_send() {
        // Ten first tries of one event fail at once (the receiver answers 500): their ten
        // retries go in one call, and each record returns only once its retry is queued.
        let answers: Vec<Result<u16, HttpError>> = (0..11).map(|_| Ok(500)).collect();
        let (engine, _) = engine_with(&answers, Refusing::default());
        for n in 0..10 {
            subscribe(&engine.store, &format!("wh_{n:03}"), "acme").await;
        }
        engine
            .fan_out(&event(), &first_receive(start()), far())
            .await
            .unwrap();
        let messages = std::mem::take(&mut *engine.queue.inner.queued.lock().unwrap());
        assert_eq!(messages.len(), 10);
        *engine.queue.calls.lock().unwrap() = 0;
        let receive = first_receive(start());
        let handled =
            futures::future::join_all(messages.iter().map(|m| engine.deliver(m, &receive, far())))
                .await;
        assert!(
            handled.iter().all(|h| matches!(h, Ok(Handled::Done))),
            "{handled:?}"
        );
        assert_eq!(
            *engine.queue.calls.lock().unwrap(),
            1,
            "one call for ten retries"
        );
        let retries = std::mem::take(&mut *engine.queue.inner.queued.lock().unwrap());
        assert_eq!(retries.len(), 10);
        assert!(retries.iter().all(|r| r.due_at.is_some() && r.slow));
        // A record alone sends its own.
        let mut second = event();
        second.event.id = "evt_2".into();
        engine
            .fan_out(&second, &first_receive(start()), far())
            .await
            .unwrap();
        let one = engine.queue.inner.queued.lock().unwrap().remove(0);
        *engine.queue.calls.lock().unwrap() = 0;
        engine
            .deliver(&one, &first_receive(start()), far())
            .await
            .unwrap();
        assert_eq!(*engine.queue.calls.lock().unwrap(), 1);
    }

    #[tokio::test]
    async fn a_repeated_fan_out_s_rest_waits_too() {
        // A repeat (its event received twice) whose fan-out stops short: its rest must not
        // claim while the first fan-out's fast-path tries may still be sending.
        let (engine, _) = engine_with(&[], Refusing::default());
        for n in 0..15 {
            subscribe(&engine.store, &format!("wh_{n:03}"), "acme").await;
        }
        let again = Receive {
            count: 2,
            sent_at: start(),
        };
        let deadline = start() + time::Duration::seconds(120);
        assert_eq!(
            engine.fan_out(&event(), &again, deadline).await.unwrap(),
            10
        );
        let rest = engine.queue.inner.rests.lock().unwrap().remove(0);
        assert_eq!(rest.after, "wh_009");
        assert_eq!(
            rest.due_at,
            Some(start() + repeat_delay(Duration::from_secs(120)))
        );
    }

    #[tokio::test]
    async fn a_fan_out_rest_queues_checked_messages_for_the_webhooks_after_its_mark() {
        let (engine, clock) = engine(&[]);
        for n in 0..5 {
            subscribe(&engine.store, &format!("wh_{n:03}"), "acme").await;
        }
        let rest = FanOutRest {
            rest_of: event().event,
            after: "wh_001".into(),
            republished: false,
            due_at: None,
            planned_at: Some(start()),
        };
        let deadline = clock.now() + time::Duration::seconds(120);
        assert_eq!(
            engine.fan_out_rest(&rest, deadline).await.unwrap(),
            Handled::Done
        );
        let queued = std::mem::take(&mut *engine.queue.queued.lock().unwrap());
        let ids: Vec<&str> = queued.iter().map(|m| m.webhook_id.as_str()).collect();
        assert_eq!(ids, ["wh_002", "wh_003", "wh_004"]);
        assert!(queued.iter().all(|m| m.check && m.due_at.is_none()));

        // The webhooks were made an hour before the start: a fan-out planned before that saw
        // none of them, and its rest reaches none.
        let earlier = FanOutRest {
            planned_at: Some(start() - time::Duration::hours(2)),
            ..rest
        };
        assert_eq!(
            engine.fan_out_rest(&earlier, deadline).await.unwrap(),
            Handled::Done
        );
        assert!(engine.queue.queued.lock().unwrap().is_empty());
    }

    #[tokio::test]
    async fn a_first_try_success_sends_once_and_writes_one_record_without_the_event() {
        let (engine, _) = engine(&[]);
        let webhook = webhook(&engine).await;
        let messages = fan_out(&engine, &event(), 1).await;
        assert_eq!(messages.len(), 1);
        let m = &messages[0];
        assert!(!m.check && m.webhook.is_some() && m.event.is_some());
        let handled = engine
            .deliver(m, &first_receive(start()), far())
            .await
            .unwrap();
        assert_eq!(handled, Handled::Done);
        assert_eq!(engine.http.sent.lock().unwrap().len(), 1);
        let stored = recorded(&engine, &webhook, &m.delivery_id).await;
        assert_eq!(stored.status, DeliveryStatus::Succeeded);
        assert_eq!(stored.legacy_data, None);
        // Nothing else: no retry, no kept event, no streak.
        assert!(engine.queue.queued.lock().unwrap().is_empty());
        assert!(engine
            .store
            .find_event("acme", "evt_1")
            .await
            .unwrap()
            .is_none());
    }

    #[tokio::test]
    async fn a_failed_first_try_keeps_the_event_queues_its_retry_and_marks_the_webhook() {
        let (engine, clock) = engine(&[Ok(500)]);
        let webhook = webhook(&engine).await;
        let m = fan_out(&engine, &event(), 1).await.remove(0);
        assert_eq!(m.lane(), Lane::Prompt, "a healthy receiver's first try");
        engine
            .deliver(&m, &first_receive(start()), far())
            .await
            .unwrap();
        let retry = engine.queue.queued.lock().unwrap().pop().expect("a retry");
        assert_eq!(retry.due_at.map(|d| d > start()), Some(true));
        assert!(retry.webhook.is_none() && retry.event.is_some());
        assert_eq!(retry.lane(), Lane::Slow, "a retry may hang as its try did");
        assert!(engine
            .store
            .find_event("acme", "evt_1")
            .await
            .unwrap()
            .is_some());
        let subs = engine
            .store
            .subscribers("acme", webhook.events()[0])
            .await
            .unwrap();
        assert!(subs[0].failing, "the next fan-out knows the streak runs");
        let mut second = event();
        second.event.id = "evt_2".into();
        let next = fan_out(&engine, &second, 1).await.remove(0);
        assert!(next.failing);
        assert_eq!(next.lane(), Lane::Slow, "first tries to a failing receiver");
        // Early, it waits; due, it goes through the checked path and succeeds.
        assert_eq!(
            engine
                .deliver(&retry, &first_receive(start()), far())
                .await
                .unwrap(),
            Handled::KeepUntil(retry.due_at.unwrap())
        );
        clock.advance(time::Duration::seconds(7));
        let deadline = clock.now() + time::Duration::minutes(5);
        engine
            .deliver(&retry, &first_receive(clock.now()), deadline)
            .await
            .unwrap();
        let stored = recorded(&engine, &webhook, &m.delivery_id).await;
        assert_eq!(stored.status, DeliveryStatus::Succeeded);
        assert_eq!(stored.attempts.len(), 2);
        let subs = engine
            .store
            .subscribers("acme", webhook.events()[0])
            .await
            .unwrap();
        assert!(
            !subs[0].failing,
            "the success ended the streak and its mark"
        );
    }

    #[tokio::test]
    async fn a_first_try_unanswered_within_the_prompt_lane_s_limit_goes_on_in_the_slow_lane() {
        let (engine, clock) = engine(&[Err(HttpError::Timeout)]);
        let webhook = webhook(&engine).await;
        let full = Deliverer::<MemoryStore, Script, RecordingMailer, MemoryDeliveryQueue>::timeout(
            &webhook,
        );
        assert!(full > engine.settings.prompt_timeout);
        let m = fan_out(&engine, &event(), 1).await.remove(0);
        assert_eq!(m.lane(), Lane::Prompt);
        let handled = engine
            .deliver(&m, &first_receive(start()), far())
            .await
            .unwrap();
        // The move is the caller's to queue (with the batch's other moves).
        let Handled::SendInstead(moved) = handled else {
            panic!("not moved: {handled:?}")
        };
        let moved = *moved;
        // It waited the prompt lane's limit, not the webhook's timeout, and recorded nothing.
        assert_eq!(
            engine.http.sent.lock().unwrap()[0].timeout,
            engine.settings.prompt_timeout
        );
        let stored = engine
            .store
            .get_delivery("acme", &webhook.id, &m.delivery_id)
            .await
            .unwrap();
        assert!(stored.is_none(), "the cut attempt is no attempt");
        assert!(engine.queue.queued.lock().unwrap().is_empty());
        assert_eq!(
            (moved.lane(), moved.check, &moved.delivery_id),
            (Lane::Slow, true, &m.delivery_id)
        );
        assert!(moved.event.is_some() && moved.webhook.is_some());
        // Marked slow: the next event's first try goes straight to the slow lane.
        let mut second = event();
        second.event.id = "evt_2".into();
        let next = fan_out(&engine, &second, 1).await.remove(0);
        assert_eq!((next.lane(), next.failing), (Lane::Slow, false));
        // The moved copy claims and waits the full timeout: one record, one attempt.
        engine
            .deliver(&moved, &first_receive(clock.now()), far())
            .await
            .unwrap();
        assert_eq!(engine.http.sent.lock().unwrap()[1].timeout, full);
        let stored = recorded(&engine, &webhook, &m.delivery_id).await;
        assert_eq!(
            (stored.status, stored.attempts.len()),
            (DeliveryStatus::Succeeded, 1)
        );
        // A first try in the slow lane answered within the limit clears the mark.
        engine
            .deliver(&next, &first_receive(clock.now()), far())
            .await
            .unwrap();
        assert_eq!(engine.http.sent.lock().unwrap()[2].timeout, full);
        let mut third = event();
        third.event.id = "evt_3".into();
        let after = fan_out(&engine, &third, 1).await.remove(0);
        assert_eq!(after.lane(), Lane::Prompt, "prompt again");
        assert!(
            engine.mailer.sent().is_empty(),
            "a slow answer is no failure"
        );
    }

    #[test]
    fn what_was_done_lately_is_remembered_for_its_window_and_the_memory_stays_bounded() {
        let recent = Recent::new(time::Duration::minutes(10));
        let key = ("acme", "evt_1");
        assert!(!recent.contains(key, start()));
        recent.note(key, start());
        assert!(recent.contains(key, start() + time::Duration::minutes(9)));
        assert!(!recent.contains(key, start() + time::Duration::minutes(10)));
        assert!(
            !recent.contains(("other", "evt_1"), start()),
            "another account's id"
        );
        recent.forget(key);
        assert!(!recent.contains(key, start()));
        for n in 0..RECENT_MAX + 5 {
            recent.note(("acme", &format!("evt_{n}")), start());
        }
        assert!(recent.seen.lock().unwrap().len() <= RECENT_MAX);
    }

    #[tokio::test]
    async fn a_burst_of_records_writes_a_remembered_key_once_and_none_goes_on_before_it() {
        use std::sync::atomic::{AtomicUsize, Ordering};
        let recent = Recent::new(time::Duration::minutes(10));
        let (writes, done) = (AtomicUsize::new(0), AtomicUsize::new(0));
        // Ten records of one event fail at once; the first to keep it is slow to answer.
        let record = || async {
            recent
                .once(
                    ("acme", "evt_1"),
                    start(),
                    || async {
                        writes.fetch_add(1, Ordering::SeqCst);
                        for _ in 0..5 {
                            tokio::task::yield_now().await;
                        }
                        done.fetch_add(1, Ordering::SeqCst);
                        Ok::<(), String>(())
                    },
                    |why| why.to_string(),
                )
                .await
                .unwrap();
            // Whoever skipped the write goes on only once it is made.
            assert_eq!(done.load(Ordering::SeqCst), 1);
        };
        futures::future::join_all((0..10).map(|_| record())).await;
        assert_eq!(writes.load(Ordering::SeqCst), 1);
        assert!(
            recent.writing.lock().unwrap().is_empty(),
            "no gate left behind"
        );
        // A failed write is not remembered: the next caller writes.
        let failed = recent
            .once(
                ("acme", "evt_2"),
                start(),
                || async { Err::<(), String>("throttled".into()) },
                |why| why.to_string(),
            )
            .await;
        assert_eq!(failed, Err("throttled".to_string()));
        let again = AtomicUsize::new(0);
        recent
            .once(
                ("acme", "evt_2"),
                start(),
                || async {
                    again.fetch_add(1, Ordering::SeqCst);
                    Ok::<(), String>(())
                },
                |why| why.to_string(),
            )
            .await
            .unwrap();
        assert_eq!(again.load(Ordering::SeqCst), 1);
        // Those who waited for a write that failed fail with it, without writing in turn.
        let tries = AtomicUsize::new(0);
        let throttled = || async {
            recent
                .once(
                    ("acme", "evt_3"),
                    start(),
                    || async {
                        tries.fetch_add(1, Ordering::SeqCst);
                        tokio::task::yield_now().await;
                        Err::<(), String>("throttled".into())
                    },
                    |why| format!("waited: {why}"),
                )
                .await
        };
        let results = futures::future::join_all((0..5).map(|_| throttled())).await;
        assert_eq!(tries.load(Ordering::SeqCst), 1);
        assert_eq!(results[0], Err("throttled".to_string()));
        assert!(results[1..]
            .iter()
            .all(|r| r == &Err("waited: throttled".to_string())));
        assert!(recent.writing.lock().unwrap().is_empty());
    }

    #[tokio::test]
    async fn a_gathering_send_whose_first_record_is_dropped_leaves_no_one_waiting() {
        use futures::FutureExt;
        let queue = MemoryDeliveryQueue::default();
        let together = SendTogether::default();
        let retry = |id: &str| {
            DeliveryMessage {
                slow: true,
                ..DeliveryMessage::new(id, "acme", "wh_1")
            }
            .encode()
        };
        // The first record starts gathering, the second joins, then the first is dropped (its
        // invocation ended) before it sends.
        let mut first = Box::pin(together.send(&queue, retry("dlv_1"), start()));
        assert!((&mut first).now_or_never().is_none());
        let mut second = Box::pin(together.send(&queue, retry("dlv_2"), start()));
        assert!((&mut second).now_or_never().is_none());
        drop(first);
        assert!(second.await.is_err(), "told, not left waiting");
        // The next record leads again and is sent.
        together
            .send(&queue, retry("dlv_3"), start())
            .await
            .unwrap();
        let queued: Vec<String> = queue
            .queued
            .lock()
            .unwrap()
            .iter()
            .map(|m| m.delivery_id.clone())
            .collect();
        assert_eq!(queued, vec!["dlv_3"]);
    }

    #[tokio::test]
    async fn a_checked_first_try_in_the_prompt_lane_is_cut_short_too() {
        // A republished id's messages are checked (they claim first): a publisher could set
        // the flag to take that path, so it has the prompt lane's limit too.
        let (engine, clock) = engine(&[Err(HttpError::Timeout)]);
        let webhook = webhook(&engine).await;
        let mut republished = event();
        republished.republished = true;
        let m = fan_out(&engine, &republished, 1).await.remove(0);
        assert_eq!((m.check, m.lane()), (true, Lane::Prompt));
        clock.advance(m.due_at.unwrap() - start());
        let deadline = clock.now() + time::Duration::minutes(2);
        let handled = engine
            .deliver(&m, &first_receive(clock.now()), deadline)
            .await
            .unwrap();
        assert_eq!(
            engine.http.sent.lock().unwrap()[0].timeout,
            engine.settings.prompt_timeout
        );
        let Handled::SendInstead(moved) = handled else {
            panic!("not moved: {handled:?}")
        };
        assert_eq!((moved.lane(), moved.check), (Lane::Slow, true));
        // The claim's lease is the lane's limit and a margin, not the webhook's timeout: the
        // moved copy waits for it, then claims and waits the full timeout.
        let early = engine
            .deliver(&moved, &first_receive(clock.now()), deadline)
            .await
            .unwrap();
        assert!(matches!(early, Handled::KeepUntil(_)), "{early:?}");
        clock.advance(time::Duration::seconds(34));
        let deadline = clock.now() + time::Duration::minutes(2);
        engine
            .deliver(&moved, &first_receive(clock.now()), deadline)
            .await
            .unwrap();
        let full = Deliverer::<MemoryStore, Script, RecordingMailer, MemoryDeliveryQueue>::timeout(
            &webhook,
        );
        assert_eq!(engine.http.sent.lock().unwrap()[1].timeout, full);
        let stored = recorded(&engine, &webhook, &m.delivery_id).await;
        assert_eq!(
            (stored.status, stored.attempts.len()),
            (DeliveryStatus::Succeeded, 1)
        );
    }

    #[tokio::test]
    async fn a_deleted_webhook_s_retry_held_by_a_copy_that_may_die_comes_back() {
        // Simulation seed 80675: a retry handed to two invocations at once, after its webhook
        // was deleted; one copy claims (to stop it) and dies, the other must not drop the
        // message, or the delivery stays pending with nothing to end it.
        let (engine, clock) = engine(&[Ok(500)]);
        let webhook = webhook(&engine).await;
        let m = fan_out(&engine, &event(), 1).await.remove(0);
        engine
            .deliver(&m, &first_receive(start()), far())
            .await
            .unwrap();
        let retry = engine.queue.queued.lock().unwrap().pop().expect("a retry");
        engine.store.delete_webhook(&webhook).await.unwrap();
        clock.advance(time::Duration::seconds(10));
        let now = clock.now();
        let dying = Lease {
            token: "lease_dying".into(),
            until: now + Duration::from_secs(30),
        };
        let held = engine
            .store
            .claim_existing("acme", &webhook.id, &m.delivery_id, &dying, now, false)
            .await
            .unwrap();
        assert!(matches!(held, Claim::Claimed(_)));
        let deadline = now + time::Duration::minutes(2);
        let handled = engine
            .deliver(&retry, &first_receive(now), deadline)
            .await
            .unwrap();
        assert!(matches!(handled, Handled::KeepUntil(_)), "{handled:?}");
        // Once the dying copy's lease has run out, the message stops the delivery.
        clock.advance(time::Duration::seconds(61));
        let now = clock.now();
        let handled = engine
            .deliver(
                &retry,
                &first_receive(now),
                now + time::Duration::minutes(2),
            )
            .await
            .unwrap();
        assert_eq!(handled, Handled::Done);
        let stored = recorded(&engine, &webhook, &m.delivery_id).await;
        assert_eq!(stored.status, DeliveryStatus::Failed);
    }

    #[tokio::test]
    async fn a_repeated_fan_out_is_checked_and_sends_nothing_twice() {
        let (engine, clock) = engine(&[]);
        webhook(&engine).await;
        let first = fan_out(&engine, &event(), 1).await.remove(0);
        engine
            .deliver(&first, &first_receive(start()), far())
            .await
            .unwrap();
        // The event message came back (its invocation died after queueing). Its copies wait
        // until any first try of the first fan-out has recorded.
        let again = fan_out(&engine, &event(), 2).await.remove(0);
        assert!(again.check);
        assert_eq!(again.delivery_id, first.delivery_id);
        // far() is 15 minutes away: a function with a 900 s timeout.
        let wait = repeat_delay(Duration::from_secs(900));
        assert_eq!(wait, time::Duration::seconds(60 + 2 * 900 + 30));
        assert_eq!(again.due_at, Some(start() + wait));
        clock.advance(wait);
        let deadline = clock.now() + time::Duration::minutes(2);
        assert_eq!(
            engine
                .deliver(&again, &first_receive(start()), deadline)
                .await
                .unwrap(),
            Handled::Done
        );
        assert_eq!(engine.http.sent.lock().unwrap().len(), 1);
    }

    #[tokio::test]
    async fn an_old_or_redelivered_first_try_takes_the_checked_path() {
        let (engine, clock) = engine(&[]);
        webhook(&engine).await;
        let m = fan_out(&engine, &event(), 1).await.remove(0);
        engine
            .deliver(&m, &first_receive(start()), far())
            .await
            .unwrap();
        // The same message again (SQS at-least-once): it waits until a first receive on the
        // fast path must have recorded, then claims.
        let redelivered = Receive {
            count: 2,
            sent_at: start(),
        };
        // far() is 15 minutes away: a function with a 900 s timeout.
        let settled = start() + FRESH + time::Duration::seconds(900 + 30);
        assert_eq!(
            engine.deliver(&m, &redelivered, far()).await.unwrap(),
            Handled::KeepUntil(settled)
        );
        clock.advance(settled - start());
        // And one that waited in a backlog.
        let stale = first_receive(clock.now() - FRESH - time::Duration::seconds(1));
        let deadline = clock.now() + time::Duration::seconds(120);
        for receive in [redelivered, stale] {
            assert_eq!(
                engine.deliver(&m, &receive, deadline).await.unwrap(),
                Handled::Done
            );
        }
        assert_eq!(engine.http.sent.lock().unwrap().len(), 1);
    }

    #[tokio::test]
    async fn no_attempt_starts_without_time_to_finish_and_record_it() {
        let (engine, _) = engine(&[]);
        webhook(&engine).await;
        let m = fan_out(&engine, &event(), 1).await.remove(0);
        // In the prompt lane a first try waits the lane's limit at most: with a second less
        // than that and its record's margin (10 s) left, it does not start.
        let deadline = start()
            + time::Duration::try_from(engine.settings.prompt_timeout + RECORD_MARGIN).unwrap()
            - time::Duration::seconds(1);
        assert_eq!(
            engine
                .deliver(&m, &first_receive(start()), deadline)
                .await
                .unwrap(),
            Handled::KeepUntil(start())
        );
        assert!(engine.http.sent.lock().unwrap().is_empty());
    }

    #[tokio::test]
    async fn a_republished_id_skips_webhooks_made_after_its_first_publish() {
        let (engine, _) = engine(&[]);
        webhook(&engine).await;
        let mut republished = event();
        republished.republished = true;
        republished.event.occurred_at = start() - time::Duration::days(1);
        assert!(fan_out(&engine, &republished, 1).await.is_empty());
        republished.event.occurred_at = start();
        let m = fan_out(&engine, &republished, 1).await.remove(0);
        assert!(m.check);
    }

    #[tokio::test]
    async fn an_exhaustion_e_mail_goes_out_only_once_its_delivery_is_recorded_failed() {
        let (mut engine, clock) = engine(&[Ok(500), Ok(200)]);
        engine.settings.schedule = vec![];
        webhook(&engine).await;
        let failed = fan_out(&engine, &event(), 1).await.remove(0);
        engine
            .deliver(&failed, &first_receive(start()), far())
            .await
            .unwrap();
        let notice = engine.queue.notices.lock().unwrap().remove(0);
        assert_eq!(
            notice.delivery_id.as_deref(),
            Some(failed.delivery_id.as_str())
        );
        // Not yet recorded, or recorded a success (another copy of the message): not sent.
        let mut unrecorded = notice.clone();
        unrecorded.delivery_id = Some("dlv_unrecorded".into());
        assert_eq!(
            engine.send_notice(&unrecorded).await.unwrap(),
            Handled::KeepUntil(start() + Duration::from_secs(30))
        );
        let mut other = event();
        other.event.id = "evt_2".into();
        let succeeded = fan_out(&engine, &other, 1).await.remove(0);
        engine
            .deliver(&succeeded, &first_receive(start()), far())
            .await
            .unwrap();
        let mut wrong = notice.clone();
        wrong.delivery_id = Some(succeeded.delivery_id.clone());
        assert_eq!(engine.send_notice(&wrong).await.unwrap(), Handled::Done);
        assert!(engine.mailer.sent().is_empty());
        // Recorded failed: sent.
        assert_eq!(engine.send_notice(&notice).await.unwrap(), Handled::Done);
        assert_eq!(engine.mailer.sent().len(), 1);
        // An attempt that never recorded is given up after the wait.
        clock.advance(NOTICE_RECORD_WAIT);
        assert_eq!(
            engine.send_notice(&unrecorded).await.unwrap(),
            Handled::Done
        );
        assert_eq!(engine.mailer.sent().len(), 1);
    }

    #[tokio::test]
    async fn notices_past_the_accounts_hourly_budget_are_dropped_not_postponed() {
        let (mut engine, clock) = engine(&[]);
        engine.settings.emails_per_hour = 2;
        let notice = |webhook: &str, account: &str| NoticeMessage {
            notice: "outbound-failing".into(),
            account_id: account.into(),
            webhook_id: webhook.into(),
            to: "victim@example.com".into(),
            subject: "Webhook \"x\" is failing".into(),
            text: "t".repeat(100_000),
            at: start(),
            token: format!("tok-{webhook}"),
            delivery_id: None,
        };
        for webhook in ["wh_1", "wh_2", "wh_3"] {
            let handled = engine.send_notice(&notice(webhook, "mallory")).await;
            assert_eq!(handled.unwrap(), Handled::Done, "{webhook}");
        }
        assert_eq!(engine.mailer.sent().len(), 2, "two an hour");
        assert!(engine.mailer.sent()[0].text.len() <= crate::notify::TEXT_MAX_BYTES);
        // The third is not kept for later: a redelivered copy finds its notice spent.
        assert_eq!(
            engine
                .send_notice(&notice("wh_3", "mallory"))
                .await
                .unwrap(),
            Handled::Done
        );
        assert_eq!(engine.mailer.sent().len(), 2);
        // Another account, and the next hour, have their own budgets.
        engine.send_notice(&notice("wh_9", "acme")).await.unwrap();
        assert_eq!(engine.mailer.sent().len(), 3);
        clock.advance(time::Duration::hours(1));
        let mut later = notice("wh_4", "mallory");
        later.at = start() + time::Duration::hours(1);
        engine.send_notice(&later).await.unwrap();
        assert_eq!(engine.mailer.sent().len(), 4);
    }

    #[test]
    fn a_first_try_success_record_stays_under_one_write_unit_at_worst() {
        use crate::store::dynamo::{delivery_item, item_size};
        // The longest ids, a webhook id, and an answer of 16 KiB of control bytes (six stored
        // bytes each once escaped): the record `record_first` writes.
        let long = "a".repeat(64);
        let mut event = event().event;
        event.id = format!("evt_{}", &long[..60]);
        event.account_id = long.clone();
        let mut delivery = Delivery::new(&event, "wh_01M8QEDC0074YSVSJF45VM0707", start(), false);
        let answer = "\u{1}\"\\".repeat(16 * 1024 / 3);
        let attempt = Attempt {
            at: start(),
            status: Some(299),
            error: None,
            duration_ms: 29_999,
            response_body: Some(answer),
            manual: false,
        };
        delivery.attempts.push(Engine::bounded(&attempt));
        delivery.status = DeliveryStatus::Succeeded;
        let token = format!("rec_{:032x}", u128::MAX);
        let item = delivery_item(&delivery, None, Some(&token), Some(far()));
        let size = item_size(&item);
        assert!(size <= 1024, "{size} bytes: more than one write unit");
    }
}
