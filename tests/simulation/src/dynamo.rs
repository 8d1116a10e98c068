//! A strict model of the DynamoDB table behind the store traits the engine uses. It keeps the
//! conditions of `hookline::store::dynamo` (the contract tests in tests/store.rs hold the two
//! to one behaviour) and adds what DynamoDB does and moto does not ("Amazon DynamoDB Developer
//! Guide"):
//! - "Item sizes and formats": a write whose item would pass 400 KB fails; the size is that of
//!   the adapter's own encoding (`dynamo::delivery_item`, `dynamo::item_size`).
//! - "Read consistency": reads the adapter makes without `ConsistentRead` may return the state
//!   of up to `dynamo_stale_ms` ago.
//! - "Error handling with DynamoDB": throttling and timeouts after the SDK's retries; a write
//!   that committed but whose reply was lost is sent again by the SDK, and the caller gets the
//!   answer to that second request.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use hookline::model::{Attempt, Delivery, DeliveryStatus, EventType, Webhook};
use hookline::store::dynamo::{delivery_item, item_size, MAX_ITEM_BYTES};
use hookline::store::memory::{reclaimable, refusal};
use hookline::store::{
    collect_page, Claim, DeliveryStore, EventStore, FirstRecord, Health, HealthStore, Kept, Lease,
    ListFilter, Mark, NoticeClaim, NoticeGate, NoticeGrant, Page, RawPage, StoreError, StoreResult,
    Subscriber, SubscriptionIndex, WebhookStore, MAX_READS_PER_PAGE,
};
use time::OffsetDateTime;

use crate::crash_point;
use crate::world::{Recorded as RecordOutcome, World};

type DeliveryKey = (String, String, String);

/// A record and its earlier versions, for reads that lag.
#[derive(Clone, Debug)]
struct History<T>(Vec<(u64, Option<T>)>);

impl<T> Default for History<T> {
    fn default() -> Self {
        Self(Vec::new())
    }
}

impl<T: Clone> History<T> {
    fn current(&self) -> Option<&T> {
        self.0.last().and_then(|(_, v)| v.as_ref())
    }

    fn as_of(&self, at: u64) -> Option<&T> {
        self.0
            .iter()
            .rev()
            .find(|(t, _)| *t <= at)
            .and_then(|(_, v)| v.as_ref())
    }

    fn set(&mut self, at: u64, value: Option<T>) {
        self.0.push((at, value));
    }
}

#[derive(Clone, Debug)]
pub struct StoredDelivery {
    pub delivery: Delivery,
    pub lease: Option<Lease>,
    /// The lease that recorded the last attempt (`lastLease`).
    pub last_lease: Option<String>,
    pub expires_at: Option<OffsetDateTime>,
    /// The item's size as DynamoDB counts it.
    pub size: usize,
}

/// One recorded attempt: when, the next attempt's due time, the HTTP status.
pub type Recorded = (OffsetDateTime, Option<OffsetDateTime>, Option<u16>);

/// A webhook's versions with the times they were written.
pub type Timeline = Vec<(u64, Option<Webhook>)>;

/// What the sim's invariants read back.
#[derive(Default)]
pub struct Tables {
    webhooks: BTreeMap<(String, String), History<Webhook>>,
    pub deliveries: BTreeMap<DeliveryKey, StoredDelivery>,
    /// The streak and the attempt counted last.
    health: BTreeMap<(String, String), History<(Health, String)>>,
    /// (window end, the claim, sent)
    notices: BTreeMap<(String, String, String), (OffsetDateTime, NoticeClaim, bool)>,
    /// Allowance units taken per (account, counter).
    allowances: BTreeMap<(String, String), u64>,
    /// Events kept with their data (`EventStore`).
    kept: BTreeMap<(String, String), (hookline::events::Event, bool)>,
    /// The marks on subscription entries, by (account, webhook, event type, mark).
    marks: BTreeMap<(String, String, EventType, Mark), History<bool>>,
    /// Writes refused for passing 400 KB (each one a violation: the engine must not try).
    pub oversized_writes: Vec<String>,
    pub largest_item: usize,
    /// Per delivery, each recorded attempt: (when, the next attempt's due time, HTTP status).
    pub records: BTreeMap<String, Vec<Recorded>>,
    pub writes: u64,
    pub reads: u64,
}

#[derive(Clone)]
pub struct SimTable {
    world: World,
    tables: Arc<Mutex<Tables>>,
}

fn backend(what: &str) -> StoreError {
    StoreError::Backend(what.to_string())
}

impl SimTable {
    pub fn new(world: World) -> Self {
        Self {
            world,
            tables: Arc::default(),
        }
    }

    pub fn tables(&self) -> std::sync::MutexGuard<'_, Tables> {
        self.tables.lock().unwrap()
    }

    /// One request to DynamoDB with the faults a caller can meet. `apply` may run twice (the
    /// SDK's retry of a write whose reply was lost), exactly as the request would.
    async fn call<T>(
        &self,
        op: &'static str,
        write: bool,
        mut apply: impl FnMut(&mut Tables, u64) -> StoreResult<T>,
    ) -> StoreResult<T> {
        let w = &self.world;
        // Scripts name DynamoDB's fault points with the operation: `dynamo.timeout:PutItem notice`.
        let at = |kind: &str| {
            if w.faults.script.is_empty() {
                String::new()
            } else {
                format!("{kind}:{op}")
            }
        };
        crash_point!(
            w,
            "crash.before.dynamo",
            &at("crash.before.dynamo"),
            w.faults.crash_before_call
        );
        w.scheduler
            .sleep(Duration::from_millis(w.rng.between(2, 12)))
            .await;
        if w.fault_at(
            "dynamo.throttle",
            &at("dynamo.throttle"),
            w.faults.dynamo_throttle,
        ) {
            return Err(backend(
                "ProvisionedThroughputExceededException (after the SDK's retries)",
            ));
        }
        let now = w.now_ms();
        if write
            && w.fault_at(
                "dynamo.timeout",
                &at("dynamo.timeout"),
                w.faults.dynamo_timeout,
            )
        {
            if w.rng.chance(0.5) {
                let mut t = self.tables.lock().unwrap();
                t.writes += 1;
                let _ = apply(&mut t, now);
            }
            return Err(backend("timeout waiting for DynamoDB"));
        }
        let mut result = {
            let mut t = self.tables.lock().unwrap();
            if write {
                t.writes += 1;
            } else {
                t.reads += 1;
            }
            apply(&mut t, now)
        };
        if write
            && w.fault_at(
                "dynamo.lost_reply",
                &at("dynamo.lost_reply"),
                w.faults.dynamo_lost_reply,
            )
        {
            let mut t = self.tables.lock().unwrap();
            t.writes += 1;
            result = apply(&mut t, now);
        }
        w.trace(|| {
            format!(
                "DDB {op} -> {}",
                if result.is_ok() { "ok" } else { "error" }
            )
        });
        crash_point!(
            w,
            "crash.after.dynamo",
            &at("crash.after.dynamo"),
            w.faults.crash_after_call
        );
        result
    }

    /// The read time of an eventually consistent read.
    fn lagging(&self, now: u64) -> u64 {
        now.saturating_sub(self.world.rng.below(self.world.faults.dynamo_stale_ms + 1))
    }

    // What the simulated users do through the API: no faults (the API has its own tests).

    pub fn put_webhook(&self, webhook: &Webhook) {
        let now = self.world.now_ms();
        let mut t = self.tables.lock().unwrap();
        t.webhooks
            .entry((webhook.account_id.clone(), webhook.id.clone()))
            .or_default()
            .set(now, Some(webhook.clone()));
    }

    pub fn remove_webhook(&self, account_id: &str, id: &str) {
        let now = self.world.now_ms();
        let mut t = self.tables.lock().unwrap();
        if let Some(h) = t
            .webhooks
            .get_mut(&(account_id.to_string(), id.to_string()))
        {
            h.set(now, None);
        }
    }

    pub fn webhook_now(&self, account_id: &str, id: &str) -> Option<Webhook> {
        let t = self.tables.lock().unwrap();
        t.webhooks
            .get(&(account_id.to_string(), id.to_string()))
            .and_then(|h| h.current().cloned())
    }

    /// Every version the webhook had, with when it was written.
    pub fn webhook_timeline(&self, account_id: &str, id: &str) -> Timeline {
        let t = self.tables.lock().unwrap();
        t.webhooks
            .get(&(account_id.to_string(), id.to_string()))
            .map(|h| h.0.clone())
            .unwrap_or_default()
    }

    pub fn all_deliveries(&self) -> Vec<StoredDelivery> {
        self.tables
            .lock()
            .unwrap()
            .deliveries
            .values()
            .cloned()
            .collect()
    }
}

fn delivery_key(account_id: &str, webhook_id: &str, id: &str) -> DeliveryKey {
    (
        account_id.to_string(),
        webhook_id.to_string(),
        id.to_string(),
    )
}

/// The adapter's claim condition: unleased (or leased by this same token), and, unless manual,
/// pending and due.
fn claimable(stored: &StoredDelivery, lease: &Lease, now: OffsetDateTime, manual: bool) -> bool {
    let unleased = stored
        .lease
        .as_ref()
        .is_none_or(|l| l.until <= now || l.token == lease.token);
    let d = &stored.delivery;
    let due = d.status == DeliveryStatus::Pending && d.next_attempt_at.is_none_or(|t| t <= now);
    unleased && (manual || due)
}

fn claim_in(
    t: &mut Tables,
    key: &DeliveryKey,
    lease: &Lease,
    now: OffsetDateTime,
    manual: bool,
) -> StoreResult<Claim> {
    match t.deliveries.get_mut(key) {
        None => Ok(Claim::Busy(None)),
        Some(stored) if claimable(stored, lease, now, manual) => {
            stored.lease = Some(lease.clone());
            Ok(Claim::Claimed(stored.delivery.clone()))
        }
        Some(stored) => Ok(Claim::Busy(Some(stored.delivery.clone()))),
    }
}

/// Refuses an item DynamoDB would refuse, and remembers that the engine tried.
/// Sizes the item as the adapter stores it (kept in `size`, for Query pages).
fn check_size(t: &mut Tables, stored: &mut StoredDelivery) -> StoreResult<()> {
    let size = item_size(&delivery_item(
        &stored.delivery,
        stored.lease.as_ref(),
        stored.last_lease.as_deref(),
        stored.expires_at,
    ));
    stored.size = size;
    t.largest_item = t.largest_item.max(size);
    if size > MAX_ITEM_BYTES {
        t.oversized_writes
            .push(format!("{} ({size} bytes)", stored.delivery.id));
        return Err(backend(
            "ValidationException: Item size has exceeded the maximum allowed size",
        ));
    }
    Ok(())
}

impl DeliveryStore for SimTable {
    async fn claim_delivery(
        &self,
        delivery: Delivery,
        lease: &Lease,
        now: OffsetDateTime,
        expires_at: OffsetDateTime,
    ) -> StoreResult<Claim> {
        let key = delivery_key(&delivery.account_id, &delivery.webhook_id, &delivery.id);
        // PutItem if absent; on a failed condition the adapter claims the existing item.
        let put = self
            .call("PutItem delivery", true, |t, _| {
                if t.deliveries.contains_key(&key) {
                    return Err(StoreError::Conflict);
                }
                let mut stored = StoredDelivery {
                    delivery: delivery.clone(),
                    lease: Some(lease.clone()),
                    last_lease: None,
                    expires_at: Some(expires_at),
                    size: 0,
                };
                check_size(t, &mut stored)?;
                t.deliveries.insert(key.clone(), stored);
                Ok(())
            })
            .await;
        match put {
            Ok(()) => Ok(Claim::Claimed(delivery)),
            Err(StoreError::Conflict) => {
                self.claim_existing(&key.0, &key.1, &key.2, lease, now, false)
                    .await
            }
            Err(e) => Err(e),
        }
    }

    async fn claim_existing(
        &self,
        account_id: &str,
        webhook_id: &str,
        delivery_id: &str,
        lease: &Lease,
        now: OffsetDateTime,
        manual: bool,
    ) -> StoreResult<Claim> {
        let key = delivery_key(account_id, webhook_id, delivery_id);
        self.call("UpdateItem claim", true, |t, _| {
            claim_in(t, &key, lease, now, manual)
        })
        .await
    }

    async fn record_attempt(
        &self,
        delivery: &Delivery,
        lease: &str,
        attempt: &Attempt,
        status: DeliveryStatus,
        next_attempt_at: Option<OffsetDateTime>,
        expires_at: OffsetDateTime,
    ) -> StoreResult<()> {
        let key = delivery_key(&delivery.account_id, &delivery.webhook_id, &delivery.id);
        let mut committed = false;
        let result = self
            .call("UpdateItem record", true, |t, _| {
                let Some(stored) = t.deliveries.get(&key) else {
                    return Err(StoreError::Conflict);
                };
                if stored.lease.as_ref().map(|l| l.token.as_str()) != Some(lease) {
                    // The adapter reads `lastLease` back: a repeat of its own record succeeds.
                    return match stored.last_lease.as_deref() == Some(lease) {
                        true => Ok(()),
                        false => Err(StoreError::Conflict),
                    };
                }
                let mut next = stored.clone();
                next.delivery.attempts.push(attempt.clone());
                next.delivery.status = status;
                next.delivery.next_attempt_at = next_attempt_at;
                next.lease = None;
                next.last_lease = Some(lease.to_string());
                next.expires_at = Some(expires_at);
                check_size(t, &mut next)?;
                t.deliveries.insert(key.clone(), next);
                t.records.entry(key.2.clone()).or_default().push((
                    attempt.at,
                    next_attempt_at,
                    attempt.status,
                ));
                committed = true;
                Ok(())
            })
            .await;
        let outcome = match (&result, committed) {
            (_, true) | (Ok(()), _) => RecordOutcome::Committed,
            (Err(StoreError::Conflict), false) => RecordOutcome::Refused,
            (Err(_), false) => RecordOutcome::Faulted,
        };
        self.world.recorded(&delivery.id, outcome);
        result
    }

    async fn record_first(
        &self,
        delivery: &Delivery,
        token: &str,
        expires_at: OffsetDateTime,
    ) -> StoreResult<FirstRecord> {
        let key = delivery_key(&delivery.account_id, &delivery.webhook_id, &delivery.id);
        let mut committed = false;
        // PutItem on attribute_not_exists(pk); on a failed condition the adapter reads the
        // record back (ConsistentRead) and knows its own write by `lastLease`.
        let put = self
            .call("PutItem first", true, |t, _| {
                if t.deliveries.contains_key(&key) {
                    return Err(StoreError::Conflict);
                }
                let mut stored = StoredDelivery {
                    delivery: delivery.clone(),
                    lease: None,
                    last_lease: Some(token.to_string()),
                    expires_at: Some(expires_at),
                    size: 0,
                };
                check_size(t, &mut stored)?;
                t.deliveries.insert(key.clone(), stored);
                for a in &delivery.attempts {
                    t.records.entry(key.2.clone()).or_default().push((
                        a.at,
                        delivery.next_attempt_at,
                        a.status,
                    ));
                }
                committed = true;
                Ok(())
            })
            .await;
        let result = match put {
            Ok(()) => Ok(FirstRecord::Recorded),
            Err(StoreError::Conflict) => {
                self.call("GetItem delivery", false, |t, _| {
                    let stored = t
                        .deliveries
                        .get(&key)
                        .ok_or_else(|| StoreError::Corrupt("delivery vanished".into()))?;
                    Ok(match stored.last_lease.as_deref() == Some(token) {
                        true => FirstRecord::Recorded,
                        false => FirstRecord::Exists(Box::new(stored.delivery.clone())),
                    })
                })
                .await
            }
            Err(e) => Err(e),
        };
        let outcome = match (&result, committed) {
            (_, true) | (Ok(FirstRecord::Recorded), _) => RecordOutcome::Committed,
            (Ok(FirstRecord::Exists(_)), false) => RecordOutcome::Refused,
            (Err(_), false) => RecordOutcome::Faulted,
        };
        self.world.recorded(&delivery.id, outcome);
        result
    }

    async fn get_delivery(
        &self,
        account_id: &str,
        webhook_id: &str,
        delivery_id: &str,
    ) -> StoreResult<Option<Delivery>> {
        let key = delivery_key(account_id, webhook_id, delivery_id);
        self.call("GetItem delivery", false, |t, _| {
            Ok(t.deliveries.get(&key).map(|s| s.delivery.clone()))
        })
        .await
    }

    async fn list_deliveries(
        &self,
        account_id: &str,
        webhook_id: &str,
        status: Option<DeliveryStatus>,
        limit: usize,
        before: Option<&str>,
    ) -> StoreResult<Page<Delivery>> {
        // The adapter's own pager over strict Query responses.
        collect_page(
            limit,
            MAX_READS_PER_PAGE,
            |d: &Delivery| &d.id,
            |start| async move {
                self.call("Query deliveries", false, |t, _| {
                    Ok(t.query_deliveries(
                        account_id,
                        webhook_id,
                        status,
                        limit + 1,
                        before,
                        start.as_deref(),
                    ))
                })
                .await
            },
        )
        .await
    }
}

/// DynamoDB's page limit: "a single Query reads up to 1 MB".
const PAGE_BYTES: usize = 1_000_000;

impl Tables {
    /// One Query response over a webhook's deliveries, newest first, as DynamoDB answers it:
    /// `limit` counts items before the status filter, the response ends at 1 MB of items read
    /// (their size as the adapter stores them), and `LastEvaluatedKey` names the last item
    /// read when more remain.
    pub fn query_deliveries(
        &self,
        account_id: &str,
        webhook_id: &str,
        status: Option<DeliveryStatus>,
        limit: usize,
        before: Option<&str>,
        start: Option<&str>,
    ) -> RawPage<Delivery> {
        let low = (
            account_id.to_string(),
            webhook_id.to_string(),
            String::new(),
        );
        let high = (
            account_id.to_string(),
            webhook_id.to_string(),
            "~".to_string(),
        );
        let mut range = self
            .deliveries
            .range(low..high)
            .rev()
            .filter(|((_, _, id), _)| {
                before.is_none_or(|b| id.as_str() < b) && start.is_none_or(|s| id.as_str() < s)
            })
            .peekable();
        let (mut items, mut read, mut bytes, mut last) = (Vec::new(), 0, 0, None);
        for ((_, _, id), stored) in range.by_ref() {
            read += 1;
            bytes += stored.size;
            if status.is_none_or(|s| stored.delivery.status == s) {
                items.push(stored.delivery.clone());
            }
            last = Some(id.clone());
            if read >= limit || bytes >= PAGE_BYTES {
                break;
            }
        }
        RawPage {
            items,
            last_evaluated: range.peek().and(last),
        }
    }
}

impl WebhookStore for SimTable {
    async fn create_webhook(&self, webhook: &Webhook) -> StoreResult<()> {
        let key = (webhook.account_id.clone(), webhook.id.clone());
        self.call("TransactWriteItems create", true, |t, now| {
            let h = t.webhooks.entry(key.clone()).or_default();
            if h.current().is_some() {
                return Err(StoreError::Conflict);
            }
            h.set(now, Some(webhook.clone()));
            Ok(())
        })
        .await
    }

    async fn get_webhook(&self, account_id: &str, id: &str) -> StoreResult<Option<Webhook>> {
        let key = (account_id.to_string(), id.to_string());
        // The adapter reads webhooks with ConsistentRead.
        self.call("GetItem webhook", false, |t, _| {
            Ok(t.webhooks.get(&key).and_then(|h| h.current().cloned()))
        })
        .await
    }

    async fn update_webhook(&self, current: &Webhook, next: &Webhook) -> StoreResult<()> {
        let key = (current.account_id.clone(), current.id.clone());
        self.call("TransactWriteItems update", true, |t, now| {
            let h = t.webhooks.get_mut(&key).ok_or(StoreError::NotFound)?;
            match h.current() {
                None => Err(StoreError::NotFound),
                Some(stored) if stored.version != current.version => Err(StoreError::Conflict),
                Some(_) => {
                    h.set(now, Some(next.clone()));
                    clear_marks(t, &key, now);
                    Ok(())
                }
            }
        })
        .await
    }

    async fn delete_webhook(&self, current: &Webhook) -> StoreResult<()> {
        let key = (current.account_id.clone(), current.id.clone());
        self.call("TransactWriteItems delete", true, |t, now| {
            let h = t.webhooks.get_mut(&key).ok_or(StoreError::NotFound)?;
            match h.current() {
                None => Err(StoreError::NotFound),
                Some(stored) if stored.version != current.version => Err(StoreError::Conflict),
                Some(_) => {
                    h.set(now, None);
                    clear_marks(t, &key, now);
                    Ok(())
                }
            }
        })
        .await
    }

    async fn count_webhooks(&self, account_id: &str) -> StoreResult<usize> {
        self.call("Query count", false, |t, _| {
            Ok(t.webhooks
                .iter()
                .filter(|((a, _), h)| a == account_id && h.current().is_some())
                .count())
        })
        .await
    }

    async fn list_webhooks(
        &self,
        account_id: &str,
        filter: &ListFilter,
    ) -> StoreResult<Page<Webhook>> {
        self.call("Query webhooks", false, |t, _| {
            let items: Vec<Webhook> = t
                .webhooks
                .iter()
                .filter_map(|((a, id), h)| {
                    let w = h.current()?;
                    (a == account_id
                        && filter.after.as_ref().is_none_or(|after| id > after)
                        && filter.matches(w))
                    .then(|| w.clone())
                })
                .take(filter.limit + 1)
                .collect();
            Ok(Page::cut(
                items,
                filter.limit,
                false,
                filter.after.as_deref(),
                |w: &Webhook| &w.id,
            ))
        })
        .await
    }
}

/// An edit rewrites (or removes) a webhook's subscription entries, and drops their marks.
fn clear_marks(t: &mut Tables, key: &(String, String), now: u64) {
    for ((a, w, _, _), h) in t.marks.iter_mut() {
        if (a, w) == (&key.0, &key.1) && h.current().is_some() {
            h.set(now, None);
        }
    }
}

impl SubscriptionIndex for SimTable {
    async fn subscribers(
        &self,
        account_id: &str,
        event: EventType,
    ) -> StoreResult<Vec<Subscriber>> {
        let at = self.lagging(self.world.now_ms());
        self.call("Query subscriptions", false, |t, _| {
            Ok(t.webhooks
                .iter()
                .filter(|((a, _), _)| a == account_id)
                .filter_map(|(_, h)| h.as_of(at))
                .filter(|w| w.indexed_events().contains(&event))
                .map(|w| {
                    let marked = |mark: Mark| {
                        t.marks
                            .get(&(w.account_id.clone(), w.id.clone(), event, mark))
                            .and_then(|h| h.as_of(at))
                            .copied()
                            .unwrap_or(false)
                    };
                    Subscriber {
                        failing: marked(Mark::Failing),
                        slow: marked(Mark::Slow),
                        webhook: w.clone(),
                    }
                })
                .collect())
        })
        .await
    }

    /// A Query without ConsistentRead: the index as it was up to `dynamo_stale_ms` ago.
    async fn active_webhooks_for(
        &self,
        account_id: &str,
        event: EventType,
    ) -> StoreResult<Vec<Webhook>> {
        let at = self.lagging(self.world.now_ms());
        self.call("Query subscriptions", false, |t, _| {
            Ok(t.webhooks
                .iter()
                .filter(|((a, _), _)| a == account_id)
                .filter_map(|(_, h)| h.as_of(at))
                .filter(|w| w.indexed_events().contains(&event))
                .cloned()
                .collect())
        })
        .await
    }
}

impl HealthStore for SimTable {
    async fn record_failure(
        &self,
        account_id: &str,
        webhook_id: &str,
        at: OffsetDateTime,
        attempt: &str,
    ) -> StoreResult<Health> {
        let key = (account_id.to_string(), webhook_id.to_string());
        // UpdateItem ADD consecutiveFailures :one, SET failingSince = if_not_exists(...), on
        // the condition lastFailure <> :attempt; the adapter reads the streak back otherwise.
        self.call("UpdateItem failure", true, |t, now| {
            let h = t.health.entry(key.clone()).or_default();
            let (mut health, last) = h.current().cloned().unwrap_or_default();
            if last != attempt {
                health.consecutive_failures += 1;
                health.failing_since.get_or_insert(at);
                h.set(now, Some((health, attempt.to_string())));
            }
            Ok(health)
        })
        .await
    }

    async fn record_success(&self, account_id: &str, webhook_id: &str) -> StoreResult<bool> {
        let key = (account_id.to_string(), webhook_id.to_string());
        // GetItem without ConsistentRead, then DeleteItem when a streak was seen.
        let at = self.lagging(self.world.now_ms());
        let seen = self
            .call("GetItem health", false, |t, _| {
                Ok(t.health.get(&key).and_then(|h| h.as_of(at)).is_some())
            })
            .await?;
        if !seen {
            return Ok(false);
        }
        self.call("DeleteItem health", true, |t, now| {
            if let Some(h) = t.health.get_mut(&key) {
                h.set(now, None);
            }
            Ok(())
        })
        .await?;
        Ok(true)
    }

    async fn set_mark(&self, webhook: &Webhook, mark: Mark, on: bool) -> StoreResult<()> {
        // One UpdateItem per entry, on the condition attribute_exists(pk).
        for event in webhook.indexed_events() {
            let key = (webhook.account_id.clone(), webhook.id.clone(), *event, mark);
            self.call("UpdateItem mark", true, |t, now| {
                let exists = t
                    .webhooks
                    .get(&(key.0.clone(), key.1.clone()))
                    .and_then(|h| h.current())
                    .is_some_and(|w| w.indexed_events().contains(event));
                if exists {
                    t.marks
                        .entry(key.clone())
                        .or_default()
                        .set(now, on.then_some(true));
                }
                Ok(())
            })
            .await?;
        }
        Ok(())
    }
}

impl EventStore for SimTable {
    async fn keep_event(
        &self,
        event: &hookline::events::Event,
        _expires_at: OffsetDateTime,
    ) -> StoreResult<Kept> {
        let key = (event.account_id.clone(), event.id.clone());
        // PutItem if absent; on a failed condition the adapter reads the stored one's time.
        let put = self
            .call("PutItem event", true, |t, _| {
                if t.kept.contains_key(&key) {
                    return Err(StoreError::Conflict);
                }
                t.kept.insert(key.clone(), (whole_ms_event(event), false));
                Ok(())
            })
            .await;
        match put {
            Ok(()) => Ok(Kept::New),
            Err(StoreError::Conflict) => {
                self.call("GetItem event", false, |t, _| {
                    t.kept
                        .get(&key)
                        .map(|(e, queued)| Kept::Existing {
                            first: hookline::model::EventRef::from(e),
                            queued: *queued,
                        })
                        .ok_or_else(|| StoreError::Corrupt("no event record".into()))
                })
                .await
            }
            Err(e) => Err(e),
        }
    }

    async fn find_event(
        &self,
        account_id: &str,
        event_id: &str,
    ) -> StoreResult<Option<hookline::events::Event>> {
        let key = (account_id.to_string(), event_id.to_string());
        // The engine writes an event before any record that needs it, and reads it later.
        self.call("GetItem event", false, |t, _| {
            Ok(t.kept.get(&key).map(|(e, _)| e.clone()))
        })
        .await
    }

    async fn mark_queued(&self, account_id: &str, event_id: &str) -> StoreResult<()> {
        let key = (account_id.to_string(), event_id.to_string());
        // UpdateItem SET queued = true on attribute_exists(pk).
        self.call("UpdateItem queued", true, |t, _| {
            if let Some((_, queued)) = t.kept.get_mut(&key) {
                *queued = true;
            }
            Ok(())
        })
        .await
    }
}

/// The table keeps whole milliseconds.
fn whole_ms_event(event: &hookline::events::Event) -> hookline::events::Event {
    let ms = event.occurred_at.unix_timestamp_nanos() / 1_000_000;
    hookline::events::Event {
        occurred_at: OffsetDateTime::from_unix_timestamp_nanos(ms * 1_000_000)
            .expect("a valid time"),
        ..event.clone()
    }
}

impl hookline::store::Allowances for SimTable {
    async fn spend(
        &self,
        account_id: &str,
        allowance: hookline::store::Allowance,
        at: OffsetDateTime,
        amount: u64,
        limit: u64,
    ) -> StoreResult<bool> {
        // UpdateItem ADD spent :amount on "attribute_not_exists(spent) OR spent <= :before"
        // (the limit less the amount; more than the whole limit is refused without a call).
        let Some(before) = limit.checked_sub(amount) else {
            return Ok(false);
        };
        let key = (account_id.to_string(), allowance.counter(at));
        let taken = self
            .call("UpdateItem allowance", true, |t, _| {
                let spent = t.allowances.entry(key.clone()).or_insert(0);
                if *spent > before {
                    return Ok(false);
                }
                *spent += amount;
                Ok(true)
            })
            .await;
        if let (Ok(false), hookline::store::Allowance::EmailsPerHour) = (&taken, allowance) {
            let at = crate::world::World::ms_of(at).max(0) as u64;
            let mut ledger = self.world.ledger.lock().unwrap();
            ledger.over_budget.entry(key.0).or_default().push(at);
        }
        taken
    }

    async fn give_back(
        &self,
        account_id: &str,
        allowance: hookline::store::Allowance,
        charged_at: OffsetDateTime,
        amount: u64,
    ) -> StoreResult<()> {
        // UpdateItem ADD spent -:amount on "spent >= :amount".
        let key = (account_id.to_string(), allowance.counter(charged_at));
        self.call("UpdateItem allowance back", true, |t, _| {
            if let Some(spent) = t.allowances.get_mut(&key) {
                if *spent >= amount {
                    *spent -= amount;
                }
            }
            Ok(())
        })
        .await
    }
}

impl NoticeGate for SimTable {
    async fn claim_notice(
        &self,
        account_id: &str,
        webhook_id: &str,
        kind: &str,
        now: OffsetDateTime,
        window: time::Duration,
        claim: &NoticeClaim,
    ) -> StoreResult<NoticeGrant> {
        let key = (
            account_id.to_string(),
            webhook_id.to_string(),
            kind.to_string(),
        );
        // PutItem on "attribute_not_exists(pk) OR expiresAt <= :now OR (the same notice, not
        // sent, its holder's time up or the same holder)"; the expiry is kept in whole seconds.
        let whole = |t: OffsetDateTime| t.replace_nanosecond(0).expect("whole seconds");
        let (now_s, until) = (whole(now), whole(now + window));
        self.call("PutItem notice", true, |t, _| match t.notices.get(&key) {
            Some((expiry, held, sent))
                if *expiry > now_s && !reclaimable(held, *sent, claim, now) =>
            {
                Ok(refusal(held, *sent, claim))
            }
            _ => {
                t.notices.insert(key.clone(), (until, claim.clone(), false));
                Ok(NoticeGrant::Granted)
            }
        })
        .await
    }

    async fn notice_sent(
        &self,
        account_id: &str,
        webhook_id: &str,
        kind: &str,
        token: &str,
    ) -> StoreResult<()> {
        let key = (
            account_id.to_string(),
            webhook_id.to_string(),
            kind.to_string(),
        );
        // UpdateItem SET sent = true on the condition claimToken = :token.
        let mut marked = false;
        let result = self
            .call("UpdateItem notice sent", true, |t, _| {
                if let Some((_, held, sent)) = t.notices.get_mut(&key) {
                    if held.notice == token {
                        *sent = true;
                        marked = true;
                    }
                }
                Ok(())
            })
            .await;
        self.world.mail_marked(webhook_id, kind, marked);
        result
    }
}
