//! Where webhooks and API keys live. One small trait per concern, each with a DynamoDB
//! implementation (`dynamo`) and an in-memory one (`memory`) for unit tests. The records the
//! traits take and give (`Lease`, `Claim`, `Health`, ...) live in `crate::model`, re-exported
//! here.

pub mod codec;
pub mod dynamo;
#[cfg(any(test, feature = "testing"))]
pub mod memory;

use std::future::Future;

use time::OffsetDateTime;

pub use crate::model::{
    Claim, FirstRecord, Health, Kept, Lease, Mark, NoticeClaim, NoticeGrant, Subscriber,
};
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
    /// Every item of every page `next` gives, following cursors from the start: what the
    /// paging tests compare with the truth.
    pub async fn follow<F, Fut>(mut next: F) -> StoreResult<Vec<T>>
    where
        F: FnMut(Option<String>) -> Fut,
        Fut: Future<Output = StoreResult<Page<T>>>,
    {
        let mut all = Vec::new();
        let mut cursor: Option<String> = None;
        loop {
            let page = next(cursor.clone()).await?;
            all.extend(page.items);
            match page.next_after {
                Some(c) if Some(&c) == cursor.as_ref() => {
                    return Err(StoreError::Corrupt(format!(
                        "the cursor {c} did not advance"
                    )))
                }
                Some(c) => cursor = Some(c),
                None => return Ok(all),
            }
        }
    }

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

/// One Query response as DynamoDB gives it: the items that passed its filter, and the sort key
/// of the last item it *evaluated* (its `LastEvaluatedKey`) when it stopped before the end of
/// the key range. A response may hold fewer items than its `Limit`, or none at all, and still
/// have more after it: `Limit` counts items before the filter, and a page ends at 1 MB.
#[derive(Debug, Clone, PartialEq)]
pub struct RawPage<T> {
    pub items: Vec<T>,
    pub last_evaluated: Option<String>,
}

/// How many Query responses one API page may take before it answers with what it found (a
/// filter that matches little must not hold the caller until a timeout).
pub const MAX_READS_PER_PAGE: usize = 10;

/// A page of up to `limit` items from successive Query responses. `read(start)` fetches one
/// response from just after the sort key `start` (the first from the query's own start).
///
/// The cursor is the last item returned when the page is full, else the last key evaluated
/// when reading stopped early: never the cursor the page started from, so a caller that follows
/// cursors always gets further, and sees each matching item exactly once.
pub async fn collect_page<T, F, Fut>(
    limit: usize,
    max_reads: usize,
    id: fn(&T) -> &str,
    mut read: F,
) -> StoreResult<Page<T>>
where
    F: FnMut(Option<String>) -> Fut,
    Fut: Future<Output = StoreResult<RawPage<T>>>,
{
    let mut items = Vec::new();
    let mut start: Option<String> = None;
    for _ in 0..max_reads.max(1) {
        let raw = read(start.take()).await?;
        items.extend(raw.items);
        if items.len() > limit {
            items.truncate(limit);
            let next_after = items.last().map(|item| id(item).to_string());
            return Ok(Page { items, next_after });
        }
        match raw.last_evaluated {
            None => {
                return Ok(Page {
                    items,
                    next_after: None,
                })
            }
            Some(key) => start = Some(key),
        }
    }
    Ok(Page {
        items,
        next_after: start,
    })
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
    /// The same Query, with each webhook's failing mark.
    fn subscribers(
        &self,
        account_id: &str,
        event: EventType,
    ) -> impl Future<Output = StoreResult<Vec<Subscriber>>> + Send;
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
    /// `Granted` if no claim of `kind` for this webhook is live at `now`; then this one is
    /// recorded until `now + window`. The same notice may claim again (a redelivered message
    /// whose run died or whose e-mail failed) once its holder's time is up, and the same holder
    /// at once (the SDK's retry after a lost reply), until `notice_sent`.
    fn claim_notice(
        &self,
        account_id: &str,
        webhook_id: &str,
        kind: &str,
        now: OffsetDateTime,
        window: time::Duration,
        claim: &NoticeClaim,
    ) -> impl Future<Output = StoreResult<NoticeGrant>> + Send;
    /// The e-mail of the notice `token` went out: the same notice is not granted again.
    fn notice_sent(
        &self,
        account_id: &str,
        webhook_id: &str,
        kind: &str,
        token: &str,
    ) -> impl Future<Output = StoreResult<()>> + Send;
}

/// A per-account allowance: what it counts, over which clock window.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Allowance {
    /// Failure e-mails (one unit each), both functions together. The API lets a key holder
    /// aim any number of webhooks at any address; this caps what that can send.
    EmailsPerHour,
    /// Resolves in flight, per 30-second window: each takes a unit when it starts and gives
    /// it back when it ends, so a limit of N keeps at most N of an account's resolves in
    /// flight at once (up to twice that across a window's turn, when the new window starts
    /// empty: the window outlasts the longest resolve, 25 s of deadline and 1.5 s of log and
    /// e-mail), whether its receivers answer or hang. The window is what ends a unit a
    /// crashed resolver never gave back.
    ResolvesInFlight,
}

impl Allowance {
    fn window(self) -> time::Duration {
        match self {
            Allowance::EmailsPerHour => time::Duration::HOUR,
            Allowance::ResolvesInFlight => time::Duration::seconds(RESOLVE_WINDOW_SECS.into()),
        }
    }

    /// When the window `at` is in starts.
    fn window_start(self, at: OffsetDateTime) -> OffsetDateTime {
        match self {
            Allowance::EmailsPerHour => at.replace_minute(0).and_then(|t| t.replace_second(0)),
            Allowance::ResolvesInFlight => {
                at.replace_second(at.second() / RESOLVE_WINDOW_SECS * RESOLVE_WINDOW_SECS)
            }
        }
        .and_then(|t| t.replace_nanosecond(0))
        .expect("a valid minute, second and nanosecond")
    }

    /// The counter of the window `at` is in, named by its start: `email#2026-12-06T17`,
    /// `resolve#2026-12-06T17:05:30`.
    pub fn counter(self, at: OffsetDateTime) -> String {
        let start = self.window_start(at);
        let hour = format!(
            "{:04}-{:02}-{:02}T{:02}",
            start.year(),
            u8::from(start.month()),
            start.day(),
            start.hour()
        );
        match self {
            Allowance::EmailsPerHour => format!("email#{hour}"),
            Allowance::ResolvesInFlight => {
                format!("resolve#{hour}:{:02}:{:02}", start.minute(), start.second())
            }
        }
    }

    /// When the window `at` is in ends (the next one starts afresh).
    pub fn window_end(self, at: OffsetDateTime) -> OffsetDateTime {
        self.window_start(at) + self.window()
    }
}

/// The window of `Allowance::ResolvesInFlight`, in seconds (a divisor of 60).
const RESOLVE_WINDOW_SECS: u8 = 30;

/// Fixed-window counters per account, shared by every function and container through the
/// table: one conditional write per charge, one plain write per refund.
pub trait Allowances: Send + Sync {
    /// Charges `amount` to `allowance` in the window `at` is in: `true` if what was charged
    /// there, this included, stays within `limit` (and then it is charged), else `false`.
    fn spend(
        &self,
        account_id: &str,
        allowance: Allowance,
        at: OffsetDateTime,
        amount: u64,
        limit: u64,
    ) -> impl Future<Output = StoreResult<bool>> + Send;
    /// Gives back `amount` of a charge made at `charged_at` (to that charge's window).
    fn give_back(
        &self,
        account_id: &str,
        allowance: Allowance,
        charged_at: OffsetDateTime,
        amount: u64,
    ) -> impl Future<Output = StoreResult<()>> + Send;
}

/// What happened on an inbound call (a resolution or a test), for the webhook's log.
#[derive(Debug, Clone, PartialEq)]
pub struct ActivityEntry {
    pub id: String,
    /// `resolve` or `test`.
    pub kind: String,
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

/// Deliveries and their attempts. Every state change of the checked path is conditional on
/// holding the delivery's lease, so two copies of one SQS message never both send there; the
/// fast path (docs/delivery-pipeline.md) writes once, after its send.
pub trait DeliveryStore: Send + Sync {
    /// Creates `delivery` (pending, no attempts) claimed by `lease`, to expire at `expires_at`
    /// should no attempt ever be recorded, unless it exists; then claims the existing one if it
    /// is pending, due and unleased.
    fn claim_delivery(
        &self,
        delivery: crate::model::Delivery,
        lease: &Lease,
        now: OffsetDateTime,
        expires_at: OffsetDateTime,
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
    /// The fast path's one write: creates `delivery`, its first attempt in it, unless a record
    /// of it exists. `token` marks the write, so a retry after a lost reply answers `Recorded`.
    fn record_first(
        &self,
        delivery: &crate::model::Delivery,
        token: &str,
        expires_at: OffsetDateTime,
    ) -> impl Future<Output = StoreResult<FirstRecord>> + Send;
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

/// Events with their data, stored at most once per event: by the API's publish (which dedupes
/// on them) and by the first failing delivery of an event (so retries, resends and recover
/// have the data).
pub trait EventStore: Send + Sync {
    /// Stores `event` unless its id is stored. A call repeated after a lost reply answers
    /// `Existing` with the same reference: callers treat both answers as "kept".
    fn keep_event(
        &self,
        event: &crate::events::Event,
        expires_at: OffsetDateTime,
    ) -> impl Future<Output = StoreResult<Kept>> + Send;
    /// The publish that kept the event queued it: a republish of its id queues nothing.
    fn mark_queued(
        &self,
        account_id: &str,
        event_id: &str,
    ) -> impl Future<Output = StoreResult<()>> + Send;
    /// The stored event with its data, if kept.
    fn find_event(
        &self,
        account_id: &str,
        event_id: &str,
    ) -> impl Future<Output = StoreResult<Option<crate::events::Event>>> + Send;
}

pub trait HealthStore: Send + Sync {
    /// Counts a failed attempt (`attempt`: a token unique to it); returns the streak after it.
    /// Repeating a call (a retry after a lost reply) counts it once.
    fn record_failure(
        &self,
        account_id: &str,
        webhook_id: &str,
        at: OffsetDateTime,
        attempt: &str,
    ) -> impl Future<Output = StoreResult<Health>> + Send;
    /// Ends a streak after a success. Reads first (cheap) and writes only when there is one;
    /// `true` when there was.
    fn record_success(
        &self,
        account_id: &str,
        webhook_id: &str,
    ) -> impl Future<Output = StoreResult<bool>> + Send;
    /// Sets (`on`) or clears `mark` on the webhook's subscription entries, so the fan-out's
    /// Query carries it to the next first tries. An entry the webhook no longer has is left
    /// alone; an edit rewrites the entries without their marks.
    fn set_mark(
        &self,
        webhook: &Webhook,
        mark: Mark,
        on: bool,
    ) -> impl Future<Output = StoreResult<()>> + Send;
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A strict Query model over keys "000".."n": `Limit` counts items evaluated before the
    /// filter, and a response also ends once `page_bytes` of items were read (DynamoDB's 1 MB).
    fn query(
        matches: &[bool],
        sizes: &[usize],
        start: Option<&str>,
        limit: usize,
        page_bytes: usize,
    ) -> RawPage<String> {
        let first = start.map_or(0, |k| k.parse::<usize>().unwrap() + 1);
        let (mut items, mut bytes, mut evaluated) = (Vec::new(), 0, 0);
        let mut i = first;
        while i < matches.len() && evaluated < limit && bytes < page_bytes {
            if matches[i] {
                items.push(format!("{i:03}"));
            }
            bytes += sizes[i];
            evaluated += 1;
            i += 1;
        }
        RawPage {
            items,
            last_evaluated: (i < matches.len()).then(|| format!("{:03}", i - 1)),
        }
    }

    fn split_mix(state: &mut u64) -> u64 {
        *state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = *state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    #[test]
    fn following_cursors_returns_every_matching_item_exactly_once() {
        futures::executor::block_on(async {
            let mut seed = 7u64;
            for case in 0..400 {
                let n = (split_mix(&mut seed) % 300) as usize;
                let density = [0.0, 0.01, 0.1, 0.5, 1.0][case % 5];
                let matches: Vec<bool> = (0..n)
                    .map(|_| (split_mix(&mut seed) % 1000) as f64 / 1000.0 < density)
                    .collect();
                let sizes: Vec<usize> = (0..n)
                    .map(|_| 1 + (split_mix(&mut seed) % 400) as usize)
                    .collect();
                let limit = 1 + (split_mix(&mut seed) % 6) as usize;
                let page_bytes = 200 + (split_mix(&mut seed) % 2000) as usize;
                let got = Page::follow(|cursor: Option<String>| {
                    let (matches, sizes) = (&matches, &sizes);
                    async move {
                        // A page resumes after the cursor, as the adapters' queries do.
                        let mut reads = 0;
                        collect_page(
                            limit,
                            MAX_READS_PER_PAGE,
                            |s: &String| s,
                            |start| {
                                reads += 1;
                                let from = start.or(cursor.clone());
                                let page =
                                    query(matches, sizes, from.as_deref(), limit + 1, page_bytes);
                                async move { Ok(page) }
                            },
                        )
                        .await
                    }
                })
                .await
                .unwrap();
                let want: Vec<String> = (0..n)
                    .filter(|i| matches[*i])
                    .map(|i| format!("{i:03}"))
                    .collect();
                assert_eq!(
                    got, want,
                    "case {case}: n {n} limit {limit} bytes {page_bytes}"
                );
            }
        });
    }

    #[test]
    fn a_page_that_reads_only_non_matching_items_still_moves_the_cursor() {
        futures::executor::block_on(async {
            let matches = vec![false; 100];
            let sizes = vec![10; 100];
            let page = collect_page(
                5,
                3,
                |s: &String| s,
                |start| {
                    let page = query(&matches, &sizes, start.as_deref(), 6, 10_000);
                    async move { Ok(page) }
                },
            )
            .await
            .unwrap();
            assert!(page.items.is_empty());
            assert_eq!(
                page.next_after.as_deref(),
                Some("017"),
                "after 3 reads of 6"
            );
        });
    }
}
