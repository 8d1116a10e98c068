//! Outbound delivery: every active webhook subscribed to an event gets a signed POST; failures
//! retry on a schedule of days through the deliveries queue; nothing is lost and no success is
//! sent twice as far as at-least-once queues allow.
//!
//! Per event: one small write (its id and first time, so a republished id keeps its delivery
//! ids). Per delivery that succeeds at once: 2 DynamoDB writes (the claim, the outcome) and one
//! eventually consistent read (the webhook's failure streak), and no SQS request beyond the
//! event's own. Each failed attempt adds one SQS message (the retry) and one write (the streak).

use std::sync::Arc;
use std::time::Duration;

use futures::stream::{self, StreamExt};
use serde_json::json;
use time::OffsetDateTime;

use crate::clock::Clock;
use crate::events::Event;
use crate::formats;
use crate::http::{HttpClient, HttpMethod, HttpRequest};
use crate::ids;
use crate::model::attempt::{json_prefix, STORED_EXCERPT_BYTES};
use crate::model::{
    delivery_id, Attempt, Delivery, DeliveryStatus, FlowConfig, Format, Status, Webhook,
};
use crate::notify::{Email, Mailer};
use crate::queue::{NoticeMessage, QueueError, RetryMessage, RetryQueue, MAX_DELAY, MAX_HIDE};
use crate::random::Random;

pub mod decide;
pub mod v2;
use crate::signing::{credential_headers, signature_headers};
use crate::store::{
    Claim, DeliveryStore, EventLog, HealthStore, Lease, NoticeClaim, NoticeGate, NoticeGrant,
    StoreError, SubscriptionIndex, WebhookStore,
};
use decide::{judge, Verdict};

/// Everything the deliverer needs from storage.
pub trait DeliveryBackend:
    WebhookStore + SubscriptionIndex + DeliveryStore + HealthStore + NoticeGate + EventLog
{
}
impl<T> DeliveryBackend for T where
    T: WebhookStore + SubscriptionIndex + DeliveryStore + HealthStore + NoticeGate + EventLog
{
}

#[derive(Clone, Debug)]
pub struct DeliverySettings {
    /// The waits after each failed attempt; retries end when it runs out.
    pub schedule: Vec<Duration>,
    /// Deliveries attempted at once by one invocation.
    pub concurrency: usize,
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
            concurrency: 16,
            response_cap: 16 * 1024,
            warn_after: 4,
            disable_after: time::Duration::days(5),
            notice_window: time::Duration::minutes(15),
            retention: time::Duration::days(30),
            suspect_timeout: Duration::from_secs(5),
            suspect_attempts: 3,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum DeliveryError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Queue(#[from] QueueError),
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

/// What became of a retry message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RetryOutcome {
    /// Handled (attempted, or nothing left to do): delete the message.
    Done,
    /// Not due yet: it was hidden until it is; keep the message.
    Postponed,
}

/// The body receivers get: `{"event": ..., "data": ...}` in the webhook's format.
pub fn payload(webhook: &Webhook, event: &Event) -> Vec<u8> {
    match webhook.format {
        // Serialised from borrowed parts, so the event's data is not copied first (the copy
        // cost more than the encoding). Same bytes as encoding the assembled value.
        Format::Json => {
            #[derive(serde::Serialize)]
            struct Body<'a> {
                event: &'a str,
                data: &'a serde_json::Value,
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
            &json!({"event": event.event.as_str(), "data": event.data}),
        ),
    }
}

pub struct Deliverer<S, H, M, Q> {
    pub store: S,
    pub http: H,
    pub mailer: M,
    pub retries: Q,
    pub clock: Arc<dyn Clock>,
    /// Jitter and lease tokens.
    pub random: Arc<dyn Random>,
    pub settings: DeliverySettings,
}

impl<S: DeliveryBackend, H: HttpClient, M: Mailer, Q: RetryQueue> Deliverer<S, H, M, Q> {
    /// Fans an event out to the account's active webhooks subscribed to it, attempting each
    /// delivery at once. An error means the event must be processed again (its deliveries that
    /// went through are not repeated).
    ///
    /// The first fan-out of an event id records its time and its subscribers: a redelivered or
    /// republished event keeps its delivery ids, goes to that same set (nothing new), and a
    /// webhook that left the set since (disabled, deleted) gets its unstarted delivery stopped
    /// with the reason, instead of pending forever.
    pub async fn handle_event(&self, event: &Event) -> Result<usize, DeliveryError> {
        let current = self
            .store
            .active_webhooks_for(&event.account_id, event.event)
            .await?;
        let ids: Vec<String> = current.iter().map(|w| w.id.clone()).collect();
        let expires = self.clock.now() + self.settings.retention;
        let seen = self.store.first_seen(event, &ids, expires).await?;
        let republished;
        let event = if seen.occurred_at == event.occurred_at {
            event
        } else {
            republished = Event {
                occurred_at: seen.occurred_at,
                ..event.clone()
            };
            &republished
        };
        let count = seen.webhook_ids.len();
        let results: Vec<Result<(), DeliveryError>> = stream::iter(seen.webhook_ids)
            .map(|id| {
                let webhook = current.iter().find(|w| w.id == id);
                async move {
                    match webhook {
                        Some(webhook) => self.deliver_new(webhook, event).await,
                        None => self.deliver_or_stop(&id, event).await,
                    }
                }
            })
            .buffer_unordered(self.settings.concurrency.max(1))
            .collect()
            .await;
        results.into_iter().collect::<Result<Vec<()>, _>>()?;
        Ok(count)
    }

    /// A subscriber of the event's first fan-out that the index no longer lists: delivered if
    /// it is subscribed after all (the index lagged), else its delivery, if one was claimed and
    /// never attempted, is stopped with the reason.
    async fn deliver_or_stop(&self, webhook_id: &str, event: &Event) -> Result<(), DeliveryError> {
        let webhook = self
            .store
            .get_webhook(&event.account_id, webhook_id)
            .await?;
        let why = match &webhook {
            Some(w) if w.indexed_events().contains(&event.event) => {
                return self.deliver_new(w, event).await
            }
            Some(_) => "the webhook was set inactive or unsubscribed before this delivery's first attempt; delivery stopped",
            None => "the webhook was deleted before this delivery's first attempt; delivery stopped",
        };
        // Claimed (created, if the first fan-out never got to it), then stopped: the delivery
        // exists with its reason, for the log and for "recover".
        let now = self.clock.now();
        let lease = self.stop_lease(now);
        let delivery = Delivery::new(event, webhook_id, now, true);
        let expires = now + self.settings.retention;
        let claim = self
            .store
            .claim_delivery(delivery, &lease, now, expires)
            .await?;
        match claim {
            Claim::Claimed(d) => self.stop(&d, &lease.token, why, now).await,
            Claim::Busy(Some(d))
                if d.status == DeliveryStatus::Pending
                    && d.next_attempt_at.is_none_or(|next| next <= now) =>
            {
                Err(DeliveryError::InFlight(d.id))
            }
            // Finished, or waiting for a retry that will stop it.
            Claim::Busy(_) => Ok(()),
        }
    }

    /// A lease to record a stop: no call is made under it.
    fn stop_lease(&self, now: OffsetDateTime) -> Lease {
        Lease {
            token: self.lease_token(),
            until: now + Duration::from_secs(30),
        }
    }

    fn lease_token(&self) -> String {
        format!(
            "lease_{:016x}{:016x}",
            self.random.next_u64(),
            self.random.next_u64()
        )
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

    async fn deliver_new(&self, webhook: &Webhook, event: &Event) -> Result<(), DeliveryError> {
        let now = self.clock.now();
        let delivery = Delivery::new(event, &webhook.id, now, true);
        let lease = self.lease(webhook, now);
        let expires = now + self.settings.retention;
        match self
            .store
            .claim_delivery(delivery, &lease, now, expires)
            .await?
        {
            Claim::Claimed(d) => self
                .attempt(webhook, d, &lease.token, false)
                .await
                .map(|_| ()),
            // Due, yet another worker holds it (its first attempt, or a retry). Keep the event
            // until that attempt is recorded: should the worker die first, the event's next
            // receive (after the lease ended) claims the delivery and sends it.
            Claim::Busy(Some(d))
                if d.status == DeliveryStatus::Pending
                    && d.next_attempt_at.is_none_or(|next| next <= now) =>
            {
                Err(DeliveryError::InFlight(d.id))
            }
            // Finished, or waiting for a retry whose message was queued before it was recorded.
            Claim::Busy(_) => Ok(()),
        }
    }

    fn timeout(webhook: &Webhook) -> Duration {
        match &webhook.config {
            FlowConfig::Outbound(c) => Duration::from_millis(c.timeout_ms.into()),
            FlowConfig::Inbound(_) => Duration::from_secs(15),
        }
    }

    /// How long a claim lasts: long enough to finish an attempt and record it.
    fn lease_length(webhook: &Webhook) -> Duration {
        Self::timeout(webhook) + Duration::from_secs(30)
    }

    /// A new claim; a crashed worker's claim ends with it.
    fn lease(&self, webhook: &Webhook, now: OffsetDateTime) -> Lease {
        Lease {
            token: self.lease_token(),
            until: now + Self::lease_length(webhook),
        }
    }

    /// A retry message from the deliveries queue.
    ///
    /// The chain of retries rests on one rule: an attempt that leaves the delivery pending
    /// queues the message for its next attempt *before* it records that attempt. So whenever
    /// the table says "next attempt at T", a message for T exists, and any other message of
    /// that delivery is a stale copy (an SQS duplicate, or the message of an attempt whose
    /// process died after queueing) that can go. A message that finds its delivery due but
    /// held by another worker waits for that worker's lease to end.
    pub async fn handle_retry(
        &self,
        message: &RetryMessage,
        receipt_handle: &str,
    ) -> Result<RetryOutcome, DeliveryError> {
        let now = self.clock.now();
        if message.due_at > now {
            // Early: SQS delays 15 minutes at most, so longer waits continue by hiding the
            // message again (at most 12 hours from its receive).
            let wait = Duration::try_from(message.due_at - now).unwrap_or_default();
            self.retries
                .postpone(receipt_handle, wait.min(MAX_HIDE))
                .await?;
            return Ok(RetryOutcome::Postponed);
        }
        let Some(webhook) = self
            .store
            .get_webhook(&message.account_id, &message.webhook_id)
            .await?
        else {
            // Deleted: the delivery ends with the reason (and expires with its retention).
            let lease = self.stop_lease(now);
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
            if let Claim::Claimed(d) = claim {
                if d.status == DeliveryStatus::Pending {
                    let why = "the webhook was deleted; delivery stopped";
                    self.stop(&d, &lease.token, why, now).await?;
                }
            }
            return Ok(RetryOutcome::Done);
        };
        if message.manual {
            return match self.resend(&webhook, &message.delivery_id).await {
                Ok(Some(_)) | Err(DeliveryError::AttemptsExhausted(_)) => Ok(RetryOutcome::Done),
                // Another attempt of it is under way: resend once that one is recorded.
                Ok(None) => {
                    self.retries
                        .postpone(receipt_handle, Self::lease_length(&webhook))
                        .await?;
                    Ok(RetryOutcome::Postponed)
                }
                Err(e) => Err(e),
            };
        }
        let lease = self.lease(&webhook, now);
        let claim = self
            .store
            .claim_existing(
                &webhook.account_id,
                &webhook.id,
                &message.delivery_id,
                &lease,
                now,
                false,
            )
            .await?;
        let delivery = match claim {
            Claim::Claimed(delivery) => delivery,
            Claim::Busy(Some(d))
                if d.status == DeliveryStatus::Pending
                    && d.next_attempt_at.is_none_or(|next| next <= now) =>
            {
                // Due, yet not ours: another worker holds it. Come back when its lease ends,
                // in case that worker dies before recording.
                self.retries
                    .postpone(receipt_handle, Self::lease_length(&webhook))
                    .await?;
                return Ok(RetryOutcome::Postponed);
            }
            // Finished, gone, or waiting for a later attempt whose own message exists.
            Claim::Busy(_) => return Ok(RetryOutcome::Done),
        };
        if webhook.status != Status::Active {
            // Deliveries stop with the webhook; "recover" resends them once it is active again.
            let why = "the webhook is inactive; delivery stopped";
            self.stop(&delivery, &lease.token, why, now).await?;
            return Ok(RetryOutcome::Done);
        }
        self.attempt(&webhook, delivery, &lease.token, false)
            .await?;
        Ok(RetryOutcome::Done)
    }

    /// A resend the user asked for: a new attempt now, whatever the status, same `webhook-id`.
    /// `None` when another attempt of it is under way.
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
        match claim {
            Claim::Claimed(delivery) if delivery.attempts.len() >= MAX_ATTEMPTS => {
                // Our claim lapses with its lease; nothing was sent.
                Err(DeliveryError::AttemptsExhausted(delivery.id))
            }
            Claim::Claimed(delivery) => self
                .attempt(webhook, delivery, &lease.token, true)
                .await
                .map(Some),
            Claim::Busy(_) => Ok(None),
        }
    }

    async fn schedule(
        &self,
        delivery: &Delivery,
        due: OffsetDateTime,
    ) -> Result<(), DeliveryError> {
        let message = RetryMessage {
            account_id: delivery.account_id.clone(),
            webhook_id: delivery.webhook_id.clone(),
            delivery_id: delivery.id.clone(),
            due_at: due,
            manual: false,
        };
        let wait = Duration::try_from(due - self.clock.now()).unwrap_or_default();
        self.retries.schedule(&message, wait.min(MAX_DELAY)).await?;
        Ok(())
    }

    /// The signed POST of `event` to `webhook`, as delivery `delivery_id`, sent and judged.
    async fn send(
        &self,
        webhook: &Webhook,
        event: &Event,
        delivery_id: &str,
        manual: bool,
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
            timeout: Self::timeout(webhook),
        };
        let verdict = judge(
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

    /// A signed test event, sent once and recorded nowhere: the console's "Test" of an outbound
    /// webhook. Its data is a sample of the webhook's first event.
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
                json!({"agentId": "test", "status": "available", "channels": {"chat": true}})
            }
            case => json!({
                "caseId": "test",
                "status": case.as_str().strip_prefix("case:status:").unwrap_or("active"),
                "fields": {},
                "contact": {"id": "test", "fields": {"name": "Test Contact"}},
                "messages": []
            }),
        };
        let event = Event {
            id: format!("evt_test_{}", ids::ulid(now)),
            event: kind,
            account_id: webhook.account_id.clone(),
            occurred_at: now,
            data,
        };
        self.send(webhook, &event, &delivery_id(&event, &webhook.id), true)
            .await
            .0
    }

    /// One signed POST, recorded; then the next step: done, a retry, or the end of retries.
    async fn attempt(
        &self,
        webhook: &Webhook,
        delivery: Delivery,
        lease: &str,
        manual: bool,
    ) -> Result<Attempt, DeliveryError> {
        // The v1 engine's records hold the event's data.
        let event = delivery.stored_event().ok_or_else(|| {
            StoreError::Corrupt(format!("delivery {} lacks its event's data", delivery.id))
        })?;
        let (attempt, verdict) = self.send(webhook, &event, &delivery.id, manual).await;
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
        let (status, next_due) = (next.status, next.due);
        // The next attempt's message first, then the record that names its time (see
        // `handle_retry`). Should queueing fail, nothing is recorded and the message at hand
        // comes back to try again: only a failed attempt is ever repeated that way. The
        // exhaustion e-mail is queued before the record too, so no crash loses it.
        if let (DeliveryStatus::Pending, Some(due), false) = (status, next_due, manual) {
            self.schedule(&delivery, due).await?;
        }
        if next.exhausted {
            let text = format!(
                "Delivery {} of event {} ({}) to your webhook \"{}\" ({}) failed {} times and will not be retried. \
                 You can resend it, or recover all failed deliveries, from the API or the console.",
                delivery.id,
                delivery.event.id,
                delivery.event.event.as_str(),
                webhook.name,
                webhook.id,
                delivery.attempts.len() + 1,
            );
            let subject = format!("Webhook \"{}\": a delivery failed for good", webhook.name);
            self.queue_notice(webhook, "outbound-exhausted", subject, text, at)
                .await?;
        }
        let expires = at + self.settings.retention;
        // The log keeps a bounded excerpt, so no delivery item outgrows DynamoDB's 400 KB.
        let mut kept = attempt.clone();
        kept.response_body = kept
            .response_body
            .as_deref()
            .map(|b| json_prefix(b, STORED_EXCERPT_BYTES).to_string());
        kept.error = kept
            .error
            .as_deref()
            .map(|e| json_prefix(e, STORED_EXCERPT_BYTES).to_string());
        match self
            .store
            .record_attempt(&delivery, lease, &kept, status, next_due, expires)
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
        tracing::info!(
            account_id = %webhook.account_id,
            webhook_id = %webhook.id,
            delivery_id = %delivery.id,
            event = delivery.event.event.as_str(),
            status = attempt.status,
            outcome = status.as_str(),
            duration_ms = attempt.duration_ms,
            "delivery attempt"
        );
        if !manual || verdict.success {
            // A resend the user asked for does not count toward the webhook's failure streak.
            self.after_attempt(webhook, &verdict, at, lease).await;
        }
        Ok(attempt)
    }

    /// The webhook's failure streak, the e-mails, and disabling. Problems here are logged; they
    /// never undo a recorded attempt.
    async fn after_attempt(
        &self,
        webhook: &Webhook,
        verdict: &Verdict,
        at: OffsetDateTime,
        // The attempt's lease token: the streak counts each attempt once.
        attempt: &str,
    ) {
        if verdict.success {
            if let Err(e) = self
                .store
                .record_success(&webhook.account_id, &webhook.id)
                .await
            {
                tracing::warn!(webhook_id = %webhook.id, error = %e, "could not reset the failure streak");
            }
            return;
        }
        if verdict.gone {
            self.disable(webhook, "the receiver answered 410 Gone", at)
                .await;
            return;
        }
        match self
            .store
            .record_failure(&webhook.account_id, &webhook.id, at, attempt)
            .await
        {
            Ok(health) => {
                if health.consecutive_failures == self.settings.warn_after {
                    let text = format!(
                        "The last {} delivery attempts to your webhook \"{}\" ({}) failed. We keep retrying each \
                         delivery for about three days; the latest failure was: {}.",
                        health.consecutive_failures,
                        webhook.name,
                        webhook.id,
                        verdict.error.as_deref().unwrap_or("unknown"),
                    );
                    self.notify(
                        webhook,
                        "outbound-failing",
                        format!("Webhook \"{}\" is failing", webhook.name),
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
            Err(e) => {
                tracing::warn!(webhook_id = %webhook.id, error = %e, "could not count the failure")
            }
        }
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
                        "Your webhook \"{}\" ({}) was set inactive because {why}. No further events are sent to it. \
                         Set it active again once the receiver is fixed, and recover the deliveries it missed.",
                        webhook.name, webhook.id
                    );
                    self.notify(
                        webhook,
                        "outbound-disabled",
                        format!("Webhook \"{}\" was disabled", webhook.name),
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
        if let Err(e) = self.queue_notice(webhook, kind, subject, text, at).await {
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
    ) -> Result<(), DeliveryError> {
        let message = NoticeMessage {
            notice: kind.to_string(),
            account_id: webhook.account_id.clone(),
            webhook_id: webhook.id.clone(),
            to: webhook.notification_email.clone(),
            subject,
            text,
            at,
            token: self.lease_token(),
            delivery_id: None,
        };
        self.retries.send_notice(&message).await?;
        Ok(())
    }

    /// A queued e-mail: sent unless another of its kind went to this webhook within the notice
    /// window (counted from when each is sent). An error keeps the message, to be tried again.
    pub async fn handle_notice(
        &self,
        message: &NoticeMessage,
        receipt_handle: &str,
    ) -> Result<RetryOutcome, DeliveryError> {
        let now = self.clock.now();
        let claim = NoticeClaim {
            notice: message.token.clone(),
            holder: self.lease_token(),
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
            // until that run's time is up (SQS deletes a message by its newest receipt only).
            let wait = Duration::try_from(until - now).unwrap_or_default();
            self.retries
                .postpone(receipt_handle, wait + Duration::from_secs(1))
                .await?;
            return Ok(RetryOutcome::Postponed);
        }
        if granted == NoticeGrant::Granted {
            let email = Email {
                to: message.to.clone(),
                subject: message.subject.clone(),
                text: message.text.clone(),
            };
            self.mailer.send(&email).await?;
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
        Ok(RetryOutcome::Done)
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
        let now = OffsetDateTime::now_utc();
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
        let assembled = json!({"event": "case:new", "data": event.data});
        assert_eq!(
            payload(&webhook, &event),
            formats::encode(Format::Json, "webhook", &assembled)
        );
    }
}
