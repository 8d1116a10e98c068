//! A strict model of an SQS standard queue with a redrive policy. Each rule names the AWS
//! documentation it follows (SQS Developer Guide unless said otherwise).

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use hookline::queue::{
    batch_backoff, park_message, send_in_batches, BatchEntry, DeliveryMessage, DeliveryQueue,
    Encoded, EventMessage, EventQueue, FailedEntry, InFlightGauge, Lane, NoticeMessage, Parked,
    Postpone, QueueError, Source, MAX_BATCH_BYTES, MAX_BATCH_ENTRIES,
};

use crate::crash_point;
use crate::executor::Signal;
use crate::world::World;

/// "Amazon SQS message quotas": 256 KiB bodies.
pub const MAX_BODY: usize = 256 * 1024;
/// "Amazon SQS visibility timeout": 12 hours from the receive, at most.
pub const VISIBILITY_CAP_MS: u64 = 12 * 3_600_000;
/// "Amazon SQS standard queue quotas": "a maximum of approximately 120,000 in flight messages
/// (received from a queue by a consumer, but not yet deleted)"; at the quota a long poll
/// returns nothing ("If you use long polling, Amazon SQS returns no error messages").
pub const IN_FLIGHT_QUOTA: usize = 120_000;
/// "The maximum long polling wait time is 20 seconds": Lambda's pollers wait that long.
pub const LONG_POLL_MS: u64 = 20_000;

#[derive(Clone, Debug)]
pub struct Message {
    pub id: String,
    pub body: String,
    pub sent_at: u64,
    pub visible_at: u64,
    /// `ApproximateReceiveCount`.
    pub receive_count: u32,
    /// When the latest receive happened: the 12-hour visibility budget counts from it.
    pub received_at: Option<u64>,
    /// Only the latest receipt handle changes the message ("Amazon SQS message identifiers").
    pub receipt: Option<String>,
    /// `MessageGroupId`: the tenant of a fair queue.
    pub group: Option<String>,
}

#[derive(Default)]
struct State {
    messages: BTreeMap<String, Message>,
    dead: Vec<Message>,
    next_id: u64,
    sends: u64,
    deleted: Vec<(String, String, u64)>,
    /// The in-flight count every few seconds of the last two minutes: (when, count).
    in_flight_history: std::collections::VecDeque<(u64, usize)>,
}

pub struct Queue {
    pub name: &'static str,
    /// The queue's default `VisibilityTimeout` (seconds).
    pub visibility_timeout: u32,
    /// The redrive policy's `maxReceiveCount`.
    pub max_receive_count: u32,
    /// Most messages in flight at once (received, neither deleted nor visible again).
    pub in_flight_limit: usize,
    /// Notified on every send and visibility change: the poller's cue.
    pub wake: Signal,
    world: World,
    state: Mutex<State>,
}

/// One message as a receive hands it out.
#[derive(Clone, Debug)]
pub struct Received {
    pub message_id: String,
    pub receipt: String,
    pub body: String,
    pub receive_count: u32,
    pub sent_at: u64,
}

impl Queue {
    pub fn new(
        world: World,
        name: &'static str,
        visibility_timeout: u32,
        max_receive_count: u32,
        in_flight_limit: usize,
    ) -> Arc<Self> {
        Arc::new(Self {
            name,
            visibility_timeout,
            max_receive_count,
            in_flight_limit,
            wake: Signal::default(),
            world,
            state: Mutex::default(),
        })
    }

    fn error(&self, what: &str) -> QueueError {
        QueueError(format!("{} {what}", self.name))
    }

    /// `SendMessage`. "DelaySeconds: 0 to 900" (an integer); a lost reply makes the SDK send
    /// again, and the queue then holds two copies ("at-least-once delivery").
    pub fn send(&self, body: &str, delay_seconds: i32) -> Result<String, QueueError> {
        self.send_message(body, None, delay_seconds)
    }

    fn send_message(
        &self,
        body: &str,
        group: Option<&str>,
        delay_seconds: i32,
    ) -> Result<String, QueueError> {
        if !(0..=900).contains(&delay_seconds) {
            return Err(self.error(&format!(
                "InvalidParameterValue: DelaySeconds {delay_seconds}"
            )));
        }
        if body.len() > MAX_BODY {
            return Err(self.error("InvalidParameterValue: message body over 256 KiB"));
        }
        if self
            .world
            .fault("sqs.send.error", self.world.faults.sqs_error)
        {
            return Err(self.error("ServiceUnavailable (send)"));
        }
        let copies = if self
            .world
            .fault("sqs.send.lost_reply", self.world.faults.sqs_send_lost_reply)
        {
            2
        } else {
            1
        };
        if copies > 1 {
            self.note_duplicate(body);
        }
        let now = self.world.now_ms();
        let mut s = self.state.lock().unwrap();
        let mut id = String::new();
        for _ in 0..copies {
            s.next_id += 1;
            s.sends += 1;
            id = format!("{}-{}", self.name, s.next_id);
            s.messages.insert(
                id.clone(),
                Message {
                    id: id.clone(),
                    body: body.to_string(),
                    sent_at: now,
                    visible_at: now + delay_seconds as u64 * 1000,
                    receive_count: 0,
                    received_at: None,
                    receipt: None,
                    group: group.map(str::to_string),
                },
            );
        }
        drop(s);
        self.wake.notify();
        self.world.trace(|| {
            format!(
                "SQS {} send {id} delay {delay_seconds}s: {}",
                self.name,
                short(body)
            )
        });
        Ok(id)
    }

    /// Two copies of `body` are queued (a lost reply to the send), both first receives: its
    /// first-try deliveries may be sent twice, with no claim between the copies.
    fn note_duplicate(&self, body: &str) {
        if let Ok(m) = serde_json::from_str::<DeliveryMessage>(body) {
            if m.webhook.is_some() {
                self.world.duplicated_delivery(&m.delivery_id);
            }
        } else if self.name == "events" {
            if let Ok(m) = serde_json::from_str::<EventMessage>(body) {
                self.world.duplicated_event(&m.event.id);
            }
        }
    }

    /// `SendMessageBatch` ("Amazon SQS batch actions"): at most 10 entries of at most 256 KiB
    /// together, each with its own delay; an entry may fail alone (its `Failed` result); a
    /// lost reply makes the SDK send the whole batch again.
    pub fn send_batch(&self, entries: &[BatchEntry]) -> Result<Vec<FailedEntry>, QueueError> {
        let bytes: usize = entries.iter().map(|e| e.body.len() + e.group.len()).sum();
        if entries.is_empty() || entries.len() > MAX_BATCH_ENTRIES {
            return Err(self.error(&format!(
                "TooManyEntriesInBatchRequest / EmptyBatchRequest: {}",
                entries.len()
            )));
        }
        if bytes > MAX_BATCH_BYTES {
            return Err(self.error(&format!("BatchRequestTooLong: {bytes} bytes")));
        }
        for e in entries {
            if !(0..=900).contains(&e.delay_seconds) {
                return Err(self.error(&format!(
                    "InvalidParameterValue: DelaySeconds {}",
                    e.delay_seconds
                )));
            }
        }
        if self
            .world
            .fault("sqs.send.error", self.world.faults.sqs_error)
        {
            return Err(self.error("ServiceUnavailable (batch)"));
        }
        let copies = if self
            .world
            .fault("sqs.send.lost_reply", self.world.faults.sqs_send_lost_reply)
        {
            2
        } else {
            1
        };
        let now = self.world.now_ms();
        let mut failed = Vec::new();
        for copy in 0..copies {
            for e in entries {
                // An entry refused alone (InternalError): only in the call whose answer comes back.
                if copy + 1 == copies
                    && self
                        .world
                        .fault("sqs.batch.entry_failed", self.world.faults.sqs_error)
                {
                    failed.push(FailedEntry {
                        id: e.id.clone(),
                        sender_fault: false,
                        code: "InternalError".into(),
                    });
                    continue;
                }
                if copies > 1 && copy == 0 {
                    self.note_duplicate(&e.body);
                }
                let mut s = self.state.lock().unwrap();
                s.next_id += 1;
                s.sends += 1;
                let id = format!("{}-{}", self.name, s.next_id);
                s.messages.insert(
                    id.clone(),
                    Message {
                        id: id.clone(),
                        body: e.body.clone(),
                        sent_at: now,
                        visible_at: now + e.delay_seconds as u64 * 1000,
                        receive_count: 0,
                        received_at: None,
                        receipt: None,
                        group: Some(e.group.clone()),
                    },
                );
                drop(s);
                self.world.trace(|| {
                    format!(
                        "SQS {} batch send {id} delay {}s: {}",
                        self.name,
                        e.delay_seconds,
                        short(&e.body)
                    )
                });
            }
        }
        self.wake.notify();
        Ok(failed)
    }

    /// `ReceiveMessage` of up to `max` (at most 10) visible messages, in no particular order.
    /// A message received more than `maxReceiveCount` times moves to the dead-letter queue
    /// instead ("Using dead-letter queues"). None while the queue's in-flight quota is
    /// reached (a long poll's empty answer).
    pub fn receive(&self, max: usize) -> Vec<Received> {
        let now = self.world.now_ms();
        let mut s = self.state.lock().unwrap();
        let total = in_flight(&s.messages, now);
        note_in_flight(&mut s.in_flight_history, now, total);
        let room = self.in_flight_limit.saturating_sub(total);
        if room == 0 {
            self.world.count("sqs.in_flight_quota_reached");
            self.world
                .trace(|| format!("SQS {} receive: in-flight quota reached", self.name));
            return Vec::new();
        }
        let max = max.min(room);
        let noisy = fair_queue_noisy(&s.messages, now, total);
        // Visible messages, split once per receive into quiet tenants' and noisy tenants'
        // (with the tenant's in-flight count).
        let (mut quiet, mut loud): (Vec<String>, Vec<(String, usize)>) = (Vec::new(), Vec::new());
        for m in s.messages.values().filter(|m| m.visible_at <= now) {
            match m.group.as_ref().and_then(|g| noisy.get(g)) {
                Some(n) => loud.push((m.id.clone(), *n)),
                None => quiet.push(m.id.clone()),
            }
        }
        let mut out = Vec::new();
        while out.len() < max.min(10) && !(quiet.is_empty() && loud.is_empty()) {
            // Fair queues ("How Amazon SQS fair queues work"): a quiet tenant's message first
            // whenever one is waiting; among noisy tenants, the one with fewest in flight.
            let id = if !quiet.is_empty() {
                let i = self.world.rng.below(quiet.len() as u64) as usize;
                quiet.swap_remove(i)
            } else {
                let fewest = loud.iter().map(|(_, n)| *n).min().unwrap_or(0);
                let candidates: Vec<usize> =
                    (0..loud.len()).filter(|&i| loud[i].1 == fewest).collect();
                let i = candidates[self.world.rng.below(candidates.len() as u64) as usize];
                loud.swap_remove(i).0
            };
            let mut m = s.messages.remove(&id).expect("listed");
            m.receive_count += 1;
            if m.receive_count > self.max_receive_count {
                self.world
                    .trace(|| format!("SQS {} {id} to the dead-letter queue", self.name));
                s.dead.push(m);
                continue;
            }
            let receipt = format!("{id}#{}", m.receive_count);
            m.received_at = Some(now);
            m.receipt = Some(receipt.clone());
            // At-least-once: sometimes a receive leaves the message visible to the next one.
            m.visible_at = if self.world.fault(
                "sqs.duplicate_receive",
                self.world.faults.sqs_duplicate_receive,
            ) {
                now
            } else {
                now + self.visibility_timeout as u64 * 1000
            };
            // No excuse: a copy received again (a higher receive count) waits until the
            // first must have recorded, so it sends nothing twice.
            self.world.trace(|| {
                format!(
                    "SQS {} receive {id} (receive {})",
                    self.name, m.receive_count
                )
            });
            out.push(Received {
                message_id: id.clone(),
                receipt,
                body: m.body.clone(),
                receive_count: m.receive_count,
                sent_at: m.sent_at,
            });
            s.messages.insert(id, m);
        }
        out
    }

    /// `ChangeMessageVisibility`: "VisibilityTimeout: 0 to 43,200" (an integer), and the total
    /// since the receive may not pass 12 hours: beyond it the call fails, it is not clamped.
    pub fn change_visibility(&self, receipt: &str, seconds: i32) -> Result<(), QueueError> {
        if !(0..=43_200).contains(&seconds) {
            return Err(self.error(&format!(
                "InvalidParameterValue: VisibilityTimeout {seconds}"
            )));
        }
        if self
            .world
            .fault("sqs.visibility.error", self.world.faults.sqs_error)
        {
            return Err(self.error("ServiceUnavailable (change visibility)"));
        }
        let now = self.world.now_ms();
        let mut s = self.state.lock().unwrap();
        let id = receipt.split('#').next().unwrap_or_default();
        let Some(m) = s.messages.get_mut(id) else {
            return Err(self.error("ReceiptHandleIsInvalid (message gone)"));
        };
        if m.receipt.as_deref() != Some(receipt) {
            return Err(self.error("ReceiptHandleIsInvalid (an older receive)"));
        }
        let until = now + seconds as u64 * 1000;
        if until > m.received_at.unwrap_or(now) + VISIBILITY_CAP_MS {
            return Err(self.error(&format!(
                "InvalidParameterValue: total VisibilityTimeout beyond 43200 s ({seconds} s asked {} s after the receive)",
                (now - m.received_at.unwrap_or(now)) / 1000
            )));
        }
        m.visible_at = until;
        drop(s);
        self.wake.notify();
        self.world
            .trace(|| format!("SQS {} hide {id} {seconds}s", self.name));
        Ok(())
    }

    /// `DeleteMessage`: an older receipt handle succeeds without deleting ("the message might
    /// not be deleted"); sometimes a copy survives and comes back.
    pub fn delete(&self, receipt: &str) {
        let id = receipt.split('#').next().unwrap_or_default().to_string();
        let lost = self
            .world
            .fault("sqs.delete_lost", self.world.faults.sqs_delete_lost);
        let now = self.world.now_ms();
        let mut s = self.state.lock().unwrap();
        let current = s
            .messages
            .get(&id)
            .is_some_and(|m| m.receipt.as_deref() == Some(receipt));
        if current && !lost {
            let m = s.messages.remove(&id).expect("current");
            s.deleted.push((id.clone(), m.body, now));
            self.world
                .trace(|| format!("SQS {} delete {id}", self.name));
        }
    }

    /// The earliest time a hidden or delayed message becomes visible.
    pub fn next_visible_at(&self) -> Option<u64> {
        let now = self.world.now_ms();
        let s = self.state.lock().unwrap();
        s.messages
            .values()
            .map(|m| m.visible_at)
            .filter(|&t| t > now)
            .min()
    }

    /// Whether a receive now would find the in-flight quota reached.
    pub fn at_in_flight_limit(&self) -> bool {
        let now = self.world.now_ms();
        let s = self.state.lock().unwrap();
        in_flight(&s.messages, now) >= self.in_flight_limit
    }

    /// `GetQueueAttributes` `ApproximateNumberOfMessagesNotVisible`: "the approximate number
    /// of messages that are in flight", which "may not achieve consistency until at least 1
    /// minute after" the queue changes ("Available CloudWatch metrics for Amazon SQS"): the
    /// count reported is the one of a moment drawn in the last minute.
    pub fn approximate_in_flight(&self) -> Result<u64, QueueError> {
        if self
            .world
            .fault("sqs.attributes.error", self.world.faults.sqs_error)
        {
            return Err(self.error("ServiceUnavailable (get queue attributes)"));
        }
        let now = self.world.now_ms();
        let then = now.saturating_sub(self.world.rng.between(0, 60_000));
        let mut s = self.state.lock().unwrap();
        let current = in_flight(&s.messages, now);
        note_in_flight(&mut s.in_flight_history, now, current);
        let count = s
            .in_flight_history
            .iter()
            .rev()
            .find(|(at, _)| *at <= then)
            .or(s.in_flight_history.front())
            .map_or(current, |(_, count)| *count);
        Ok(count as u64)
    }

    pub fn has_visible(&self) -> bool {
        let now = self.world.now_ms();
        let s = self.state.lock().unwrap();
        s.messages.values().any(|m| m.visible_at <= now)
    }

    pub fn len(&self) -> usize {
        self.state.lock().unwrap().messages.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn dead_letters(&self) -> Vec<Message> {
        self.state.lock().unwrap().dead.clone()
    }

    pub fn pending_messages(&self) -> Vec<Message> {
        self.state
            .lock()
            .unwrap()
            .messages
            .values()
            .cloned()
            .collect()
    }

    /// (message id, body, when) of every message deleted.
    pub fn deleted(&self) -> Vec<(String, String, u64)> {
        self.state.lock().unwrap().deleted.clone()
    }

    pub fn sends(&self) -> u64 {
        self.state.lock().unwrap().sends
    }
}

/// The tenants a fair queue counts as noisy now, with their in-flight counts: more than 10%
/// of the queue's in-flight messages and at least 30 of their own. (The documented second
/// measure, a share of consumers' processing time over 10%, is not modelled.)
fn fair_queue_noisy(
    messages: &BTreeMap<String, Message>,
    now: u64,
    total: usize,
) -> std::collections::HashMap<String, usize> {
    let mut in_flight: std::collections::HashMap<String, usize> = Default::default();
    if total < 30 {
        return in_flight; // no tenant can have 30 of its own
    }
    for m in messages.values() {
        if m.received_at.is_some() && m.visible_at > now {
            if let Some(g) = &m.group {
                *in_flight.entry(g.clone()).or_default() += 1;
            }
        }
    }
    in_flight.retain(|_, n| *n >= 30 && *n * 10 > total);
    in_flight
}

/// Keeps the in-flight count every 5 s at most, for the last two minutes.
fn note_in_flight(history: &mut std::collections::VecDeque<(u64, usize)>, now: u64, count: usize) {
    if history.back().is_none_or(|(at, _)| now >= at + 5_000) {
        history.push_back((now, count));
    }
    while history.front().is_some_and(|(at, _)| *at + 120_000 < now) {
        history.pop_front();
    }
}

/// Messages received and not visible again yet (nor deleted).
fn in_flight(messages: &BTreeMap<String, Message>, now: u64) -> usize {
    messages
        .values()
        .filter(|m| m.received_at.is_some() && m.visible_at > now)
        .count()
}

fn short(body: &str) -> &str {
    &body[..body.len().min(160)]
}

/// The engine's queues, through the model, with the adapters' own conversions
/// (`queue::whole_seconds`) and a chance of dying around each call.
#[derive(Clone)]
pub struct SimQueues {
    pub world: World,
    pub events: Arc<Queue>,
    pub deliveries: Arc<Queue>,
    /// The slow lane's deliveries queue (`queue::Lane::Slow`).
    pub slow: Arc<Queue>,
    /// The in-flight quota the adapter is configured with (the deliveries queues' own is
    /// "approximately" that: it may be lower), the function's containers, and this
    /// container's readings (each poller has its own: `with_own_gauge`).
    pub gauge: Arc<InFlightGauge>,
}

impl SimQueues {
    /// The same queues, as another container sees them: its own in-flight readings.
    pub fn with_own_gauge(&self, gauge: InFlightGauge) -> Self {
        Self {
            gauge: Arc::new(gauge),
            ..self.clone()
        }
    }

    pub fn all(&self) -> [&Arc<Queue>; 3] {
        [&self.events, &self.deliveries, &self.slow]
    }

    fn lane(&self, lane: Lane) -> &Queue {
        match lane {
            Lane::Prompt => &self.deliveries,
            Lane::Slow => &self.slow,
        }
    }

    /// An SQS request's round trip, in two halves (1-8 ms each): the way there before the
    /// queue changes, the way back after it. Fan-outs and retries take time, as on AWS. A
    /// slow call takes the SDK's operation timeout (12 s) and still succeeds.
    fn round_trip(&self) -> (u64, u64) {
        if self.world.fault("sqs.slow", self.world.faults.sqs_slow) {
            (6_000, 6_000)
        } else {
            (self.world.rng.between(1, 8), self.world.rng.between(1, 8))
        }
    }

    async fn transit(&self, ms: u64) {
        self.world.scheduler.sleep(Duration::from_millis(ms)).await;
    }
}

impl EventQueue for SimQueues {
    async fn publish(&self, message: &EventMessage) -> Result<(), QueueError> {
        let body = serde_json::to_string(message).expect("events serialise");
        let (there, back) = self.round_trip();
        self.transit(there).await;
        let sent = self.events.send(&body, 0).map(|_| ());
        self.transit(back).await;
        sent
    }
}

impl DeliveryQueue for SimQueues {
    async fn enqueue_encoded(
        &self,
        messages: &[Encoded],
        now: time::OffsetDateTime,
    ) -> Result<(), QueueError> {
        if messages.is_empty() {
            return Ok(());
        }
        // The SQS adapter's own batching code, each call through the model.
        send_in_batches(
            messages,
            now,
            |lane, entries| async move {
                crash_point!(
                    self.world,
                    "crash.before.sqs_send",
                    self.world.faults.crash_before_call
                );
                let (there, back) = self.round_trip();
                self.transit(there).await;
                let sent = self.lane(lane).send_batch(&entries);
                self.transit(back).await;
                crash_point!(
                    self.world,
                    "crash.after.sqs_send",
                    self.world.faults.crash_after_call
                );
                sent
            },
            |tries| {
                // The adapter's jittered pause, on the simulation's clock and seed.
                self.world
                    .scheduler
                    .sleep(batch_backoff(tries, self.world.rng.unit()))
            },
        )
        .await
    }

    async fn send_notice(&self, message: &NoticeMessage) -> Result<(), QueueError> {
        crash_point!(
            self.world,
            "crash.before.sqs_send",
            self.world.faults.crash_before_call
        );
        let body = serde_json::to_string(message).expect("notices serialise");
        let (there, back) = self.round_trip();
        self.transit(there).await;
        let sent = self.deliveries.send(&body, 0);
        self.transit(back).await;
        crash_point!(
            self.world,
            "crash.after.sqs_send",
            self.world.faults.crash_after_call
        );
        sent.map(|_| ())
    }
}

impl Postpone for SimQueues {
    fn source_of(&self, event_source_arn: Option<&str>) -> hookline::queue::Source {
        match event_source_arn.map(hookline::queue::queue_name) {
            Some(name) if name == self.deliveries.name => Source::Deliveries(Lane::Prompt),
            Some(name) if name == self.slow.name => Source::Deliveries(Lane::Slow),
            _ => Source::Events,
        }
    }

    async fn postpone(
        &self,
        source: Source,
        receipt_handle: &str,
        wait: Duration,
        may_send_again: bool,
    ) -> Result<Parked, QueueError> {
        let Source::Deliveries(lane) = source else {
            return Err(QueueError(format!(
                "{source:?} records are never postponed"
            )));
        };
        // The SQS adapter's own parking code, each call through the model.
        let parked = park_message(
            lane,
            wait,
            may_send_again,
            &self.gauge,
            self.world.now_ms(),
            || async move {
                let (there, back) = self.round_trip();
                self.transit(there).await;
                let read = self.lane(lane).approximate_in_flight();
                self.transit(back).await;
                read
            },
            |seconds| async move {
                crash_point!(
                    self.world,
                    "crash.before.sqs_hide",
                    self.world.faults.crash_before_call
                );
                let (there, back) = self.round_trip();
                self.transit(there).await;
                let changed = self.lane(lane).change_visibility(receipt_handle, seconds);
                self.transit(back).await;
                crash_point!(
                    self.world,
                    "crash.after.sqs_hide",
                    self.world.faults.crash_after_call
                );
                changed
            },
        )
        .await;
        match parked {
            Ok(Parked::SendAgain) => self.world.count("sqs.parked_by_sending_again"),
            Ok(Parked::Hidden) if may_send_again && wait > hookline::queue::ALWAYS_HIDE => {
                self.world.count("sqs.parked_by_hiding")
            }
            _ => {}
        }
        parked
    }
}
