//! Where webhooks and API keys live. One small trait per concern, each with a DynamoDB
//! implementation (`dynamo`) and an in-memory one (`memory`) for unit tests.

pub mod dynamo;
pub mod memory;

use std::future::Future;

use time::OffsetDateTime;

use crate::model::{EventType, Flow, Status, Webhook};

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The write's precondition failed: the item changed since it was read, or already exists.
    #[error("the record was changed by another request")]
    Conflict,
    #[error("the record does not exist")]
    NotFound,
    /// DynamoDB (or the network to it) failed; the message is for logs, never for API bodies.
    #[error("storage backend error: {0}")]
    Backend(String),
    /// A stored item could not be read back: a bug or a hand-edited item.
    #[error("corrupt stored record: {0}")]
    Corrupt(String),
}

pub type StoreResult<T> = Result<T, StoreError>;

/// A page of a list, with the cursor for the next one.
#[derive(Debug, Clone, PartialEq)]
pub struct Page<T> {
    pub items: Vec<T>,
    /// The id of the last item returned when more may follow; `None` on the last page.
    pub next_after: Option<String>,
}

impl<T> Page<T> {
    /// A page from up to `limit` items plus, if more follow, at least one extra (fetch
    /// `limit + 1` to know). `more` forces a cursor even without an extra item (a store that
    /// stopped reading early); `after` is where the page started, the cursor if it came out empty.
    pub fn cut(
        mut items: Vec<T>,
        limit: usize,
        more: bool,
        after: Option<&str>,
        id: fn(&T) -> &str,
    ) -> Self {
        let more = more || items.len() > limit;
        items.truncate(limit);
        let next_after = if more {
            items
                .last()
                .map(|item| id(item).to_string())
                .or_else(|| after.map(String::from))
        } else {
            None
        };
        Page { items, next_after }
    }
}

#[derive(Debug, Clone, Default)]
pub struct ListFilter {
    pub flow: Option<Flow>,
    pub status: Option<Status>,
    /// Start after this webhook id (from the previous page's cursor).
    pub after: Option<String>,
    pub limit: usize,
}

impl ListFilter {
    pub fn matches(&self, w: &Webhook) -> bool {
        self.flow.is_none_or(|f| f == w.flow()) && self.status.is_none_or(|s| s == w.status)
    }
}

/// Webhook configuration CRUD. Every write is conditional, so two writers never silently
/// overwrite each other, and a webhook and its index entries change together or not at all.
pub trait WebhookStore: Send + Sync {
    /// Fails with `Conflict` if the id exists.
    fn create_webhook(&self, webhook: &Webhook) -> impl Future<Output = StoreResult<()>> + Send;
    fn get_webhook(
        &self,
        account_id: &str,
        id: &str,
    ) -> impl Future<Output = StoreResult<Option<Webhook>>> + Send;
    /// Replaces `current` with `next` if the stored version is still `current.version`
    /// (else `Conflict`, or `NotFound` if it was deleted).
    fn update_webhook(
        &self,
        current: &Webhook,
        next: &Webhook,
    ) -> impl Future<Output = StoreResult<()>> + Send;
    /// Deletes the webhook and all its index entries if the stored version is `current.version`.
    fn delete_webhook(&self, current: &Webhook) -> impl Future<Output = StoreResult<()>> + Send;
    /// How many webhooks the account has (for its quota).
    fn count_webhooks(&self, account_id: &str) -> impl Future<Output = StoreResult<usize>> + Send;
    /// An account's webhooks in id (creation) order.
    fn list_webhooks(
        &self,
        account_id: &str,
        filter: &ListFilter,
    ) -> impl Future<Output = StoreResult<Page<Webhook>>> + Send;
}

/// The outbound hot path: which webhooks get this event. One Query, no Scan.
pub trait SubscriptionIndex: Send + Sync {
    fn active_webhooks_for(
        &self,
        account_id: &str,
        event: EventType,
    ) -> impl Future<Output = StoreResult<Vec<Webhook>>> + Send;
}

/// What a key may do: everything, or only read (for dashboards and audits).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyScope {
    Full,
    ReadOnly,
}

impl KeyScope {
    pub fn as_str(self) -> &'static str {
        match self {
            KeyScope::Full => "full",
            KeyScope::ReadOnly => "read",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "full" => Some(KeyScope::Full),
            "read" => Some(KeyScope::ReadOnly),
            _ => None,
        }
    }
}

/// An API key as stored: never the key itself, only its SHA-256.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiKeyRecord {
    pub key_id: String,
    pub account_id: String,
    pub key_hash: String,
    pub name: String,
    pub scope: KeyScope,
    pub created_at: OffsetDateTime,
}

pub trait ApiKeyStore: Send + Sync {
    fn create_api_key(&self, record: &ApiKeyRecord)
        -> impl Future<Output = StoreResult<()>> + Send;
    fn find_api_key(
        &self,
        key_hash: &str,
    ) -> impl Future<Output = StoreResult<Option<ApiKeyRecord>>> + Send;
    fn list_api_keys(
        &self,
        account_id: &str,
    ) -> impl Future<Output = StoreResult<Vec<ApiKeyRecord>>> + Send;
    /// Fails with `NotFound` if the account has no such key.
    fn revoke_api_key(
        &self,
        account_id: &str,
        key_id: &str,
    ) -> impl Future<Output = StoreResult<()>> + Send;
}

/// At most one failure e-mail of a kind per webhook per window, whichever Lambda instance asks:
/// the first caller in a window wins the claim.
pub trait NoticeGate: Send + Sync {
    /// `true` if no claim of `kind` for this webhook is live at `now`; then this one is recorded
    /// until `now + window`.
    fn claim_notice(
        &self,
        account_id: &str,
        webhook_id: &str,
        kind: &str,
        now: OffsetDateTime,
        window: time::Duration,
    ) -> impl Future<Output = StoreResult<bool>> + Send;
}

/// What happened on an inbound call (a resolution or a test), for the webhook's log.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ActivityEntry {
    pub id: String,
    /// `resolve` or `test`.
    pub kind: String,
    #[serde(with = "time::serde::rfc3339")]
    pub at: OffsetDateTime,
    /// `webhook` or `fallback`.
    pub source: String,
    pub attempts: Vec<crate::model::Attempt>,
    pub duration_ms: u64,
    pub missing_placeholders: Vec<String>,
}

/// The per-webhook log of inbound calls, newest first, kept until a TTL.
pub trait ActivityLog: Send + Sync {
    fn record_activity(
        &self,
        account_id: &str,
        webhook_id: &str,
        entry: &ActivityEntry,
        expires_at: OffsetDateTime,
    ) -> impl Future<Output = StoreResult<()>> + Send;
    /// Entries older than the entry id `before` (exclusive), newest first.
    fn list_activity(
        &self,
        account_id: &str,
        webhook_id: &str,
        limit: usize,
        before: Option<&str>,
    ) -> impl Future<Output = StoreResult<Page<ActivityEntry>>> + Send;
}

/// A claim on a delivery: whoever holds the token may attempt it until `until`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lease {
    pub token: String,
    pub until: OffsetDateTime,
}

/// The result of trying to claim a delivery for an attempt.
#[derive(Debug, Clone, PartialEq)]
pub enum Claim {
    /// It is ours until the lease ends: attempt it, then `record_attempt`.
    Claimed(crate::model::Delivery),
    /// Someone holds it, it is not due, or it is finished; the current record, when one exists.
    Busy(Option<crate::model::Delivery>),
}

/// Deliveries and their attempts. Every state change is conditional on holding the delivery's
/// lease, so two copies of one SQS message never both send.
pub trait DeliveryStore: Send + Sync {
    /// Creates `delivery` (pending, no attempts) claimed by `lease`, unless
    /// it exists; then claims the existing one if it is pending, due and unleased.
    fn claim_delivery(
        &self,
        delivery: crate::model::Delivery,
        lease: &Lease,
        now: OffsetDateTime,
    ) -> impl Future<Output = StoreResult<Claim>> + Send;
    /// Claims an existing delivery for another attempt: pending and due, or any status when
    /// `manual` (a resend the user asked for); unleased either way, where a lease with this
    /// same token counts as unleased (it is this claimant's own earlier write).
    fn claim_existing(
        &self,
        account_id: &str,
        webhook_id: &str,
        delivery_id: &str,
        lease: &Lease,
        now: OffsetDateTime,
        manual: bool,
    ) -> impl Future<Output = StoreResult<Claim>> + Send;
    /// Appends `attempt`, sets the status and next attempt time, and releases the lease;
    /// `Conflict` when the lease was lost. Repeating a call that committed (a retry after a
    /// lost reply) succeeds without appending again.
    fn record_attempt(
        &self,
        delivery: &crate::model::Delivery,
        lease: &str,
        attempt: &crate::model::Attempt,
        status: crate::model::DeliveryStatus,
        next_attempt_at: Option<OffsetDateTime>,
        expires_at: OffsetDateTime,
    ) -> impl Future<Output = StoreResult<()>> + Send;
    fn get_delivery(
        &self,
        account_id: &str,
        webhook_id: &str,
        delivery_id: &str,
    ) -> impl Future<Output = StoreResult<Option<crate::model::Delivery>>> + Send;
    /// A webhook's deliveries, newest event first, optionally of one status, before `before`.
    fn list_deliveries(
        &self,
        account_id: &str,
        webhook_id: &str,
        status: Option<crate::model::DeliveryStatus>,
        limit: usize,
        before: Option<&str>,
    ) -> impl Future<Output = StoreResult<Page<crate::model::Delivery>>> + Send;
}

/// The events the fan-out has seen. An event's delivery ids (and so the `webhook-id`
/// receivers dedupe on) derive from its id and time; a publisher that sends one id twice
/// without `occurredAt` gets two publish times, so the first one seen is kept and used.
pub trait EventLog: Send + Sync {
    /// Records `event`'s id with its `occurred_at` unless the id was seen before; returns the
    /// time recorded first. Repeating a call (a retry after a lost reply) answers the same.
    fn first_seen(
        &self,
        event: &crate::events::Event,
        expires_at: OffsetDateTime,
    ) -> impl Future<Output = StoreResult<OffsetDateTime>> + Send;
}

/// A webhook's failure streak: consecutive failed attempts and since when, reset by any success.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Health {
    pub consecutive_failures: u32,
    pub failing_since: Option<OffsetDateTime>,
}

pub trait HealthStore: Send + Sync {
    /// Counts a failed attempt; returns the streak after it.
    fn record_failure(
        &self,
        account_id: &str,
        webhook_id: &str,
        at: OffsetDateTime,
    ) -> impl Future<Output = StoreResult<Health>> + Send;
    /// Ends a streak after a success. Reads first (cheap) and writes only when there is one.
    fn record_success(
        &self,
        account_id: &str,
        webhook_id: &str,
    ) -> impl Future<Output = StoreResult<()>> + Send;
}
