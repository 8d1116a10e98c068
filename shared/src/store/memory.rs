//! In-memory store for unit tests: the same conditional semantics as DynamoDB, no network.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use super::*;
use crate::model::{Attempt, Delivery, DeliveryStatus};

/// A delivery and the lease holding it, if any.
/// A delivery, its lease, and the lease that recorded its last attempt.
/// (account, webhook, kind) of an e-mail notice; its claim is (until, token).
type NoticeKey = (String, String, String);

type Leased = (Delivery, Option<Lease>, Option<String>);

/// Every store trait, in memory. Clones share their state, like clients of one table.
#[derive(Clone, Default)]
pub struct MemoryStore(Arc<State>);

#[derive(Default)]
struct State {
    webhooks: Mutex<BTreeMap<(String, String), Webhook>>,
    keys: Mutex<BTreeMap<String, ApiKeyRecord>>,
    claims: Mutex<BTreeMap<NoticeKey, (OffsetDateTime, NoticeClaim, bool)>>,
    /// Allowance units taken per (account, counter).
    allowances: Mutex<BTreeMap<(String, String), u64>>,
    activity: Mutex<BTreeMap<(String, String), Vec<ActivityEntry>>>,
    /// Deliveries by (account, webhook, delivery id), with the lease holding each, if any.
    deliveries: Mutex<BTreeMap<(String, String, String), Leased>>,
    /// The streak and the attempt counted last.
    health: Mutex<BTreeMap<(String, String), (Health, String)>>,
    /// Events kept with their data (`EventStore`).
    kept: Mutex<BTreeMap<(String, String), (crate::events::Event, bool)>>,
    /// Marks on subscription entries: (account, webhook, event type, mark).
    marks: Mutex<std::collections::BTreeSet<(String, String, EventType, Mark)>>,
}

impl MemoryStore {
    /// An edit rewrites (or removes) the webhook's entries, and with them their marks.
    fn clear_marks(&self, account_id: &str, webhook_id: &str) {
        self.0
            .marks
            .lock()
            .unwrap()
            .retain(|(a, w, _, _)| !(a == account_id && w == webhook_id));
    }
}

impl MemoryStore {
    pub fn new() -> Self {
        Self::default()
    }
}

impl WebhookStore for MemoryStore {
    async fn create_webhook(&self, webhook: &Webhook) -> StoreResult<()> {
        let mut map = self.0.webhooks.lock().unwrap();
        let key = (webhook.account_id.clone(), webhook.id.clone());
        if map.contains_key(&key) {
            return Err(StoreError::Conflict);
        }
        map.insert(key, webhook.clone());
        Ok(())
    }

    async fn get_webhook(&self, account_id: &str, id: &str) -> StoreResult<Option<Webhook>> {
        Ok(self
            .0
            .webhooks
            .lock()
            .unwrap()
            .get(&(account_id.to_string(), id.to_string()))
            .cloned())
    }

    async fn update_webhook(&self, current: &Webhook, next: &Webhook) -> StoreResult<()> {
        let mut map = self.0.webhooks.lock().unwrap();
        let stored = map
            .get_mut(&(current.account_id.clone(), current.id.clone()))
            .ok_or(StoreError::NotFound)?;
        if stored.version != current.version {
            return Err(StoreError::Conflict);
        }
        *stored = next.clone();
        drop(map);
        self.clear_marks(&current.account_id, &current.id);
        Ok(())
    }

    async fn delete_webhook(&self, current: &Webhook) -> StoreResult<()> {
        let mut map = self.0.webhooks.lock().unwrap();
        let key = (current.account_id.clone(), current.id.clone());
        match map.get(&key) {
            None => Err(StoreError::NotFound),
            Some(stored) if stored.version != current.version => Err(StoreError::Conflict),
            Some(_) => {
                map.remove(&key);
                drop(map);
                self.clear_marks(&current.account_id, &current.id);
                Ok(())
            }
        }
    }

    async fn count_webhooks(&self, account_id: &str) -> StoreResult<usize> {
        Ok(self
            .0
            .webhooks
            .lock()
            .unwrap()
            .keys()
            .filter(|(acct, _)| acct == account_id)
            .count())
    }

    async fn list_webhooks(
        &self,
        account_id: &str,
        filter: &ListFilter,
    ) -> StoreResult<Page<Webhook>> {
        let map = self.0.webhooks.lock().unwrap();
        let items: Vec<Webhook> = map
            .iter()
            .filter(|((acct, id), w)| {
                acct == account_id
                    && filter.after.as_ref().is_none_or(|after| id > after)
                    && filter.matches(w)
            })
            .map(|(_, w)| w.clone())
            .take(filter.limit + 1)
            .collect();
        Ok(Page::cut(
            items,
            filter.limit,
            false,
            filter.after.as_deref(),
            |w: &Webhook| &w.id,
        ))
    }
}

impl SubscriptionIndex for MemoryStore {
    async fn subscribers(
        &self,
        account_id: &str,
        event: EventType,
    ) -> StoreResult<Vec<Subscriber>> {
        let webhooks = self.active_webhooks_for(account_id, event).await?;
        let marks = self.0.marks.lock().unwrap();
        let marked = |webhook: &Webhook, mark| {
            marks.contains(&(account_id.to_string(), webhook.id.clone(), event, mark))
        };
        Ok(webhooks
            .into_iter()
            .map(|webhook| Subscriber {
                failing: marked(&webhook, Mark::Failing),
                slow: marked(&webhook, Mark::Slow),
                webhook,
            })
            .collect())
    }

    async fn active_webhooks_for(
        &self,
        account_id: &str,
        event: EventType,
    ) -> StoreResult<Vec<Webhook>> {
        let map = self.0.webhooks.lock().unwrap();
        Ok(map
            .values()
            .filter(|w| w.account_id == account_id && w.indexed_events().contains(&event))
            .cloned()
            .collect())
    }
}

impl ApiKeyStore for MemoryStore {
    async fn create_api_key(&self, record: &ApiKeyRecord) -> StoreResult<()> {
        let mut keys = self.0.keys.lock().unwrap();
        if keys.contains_key(&record.key_hash) {
            return Err(StoreError::Conflict);
        }
        keys.insert(record.key_hash.clone(), record.clone());
        Ok(())
    }

    async fn find_api_key(&self, key_hash: &str) -> StoreResult<Option<ApiKeyRecord>> {
        Ok(self.0.keys.lock().unwrap().get(key_hash).cloned())
    }

    async fn list_api_keys(&self, account_id: &str) -> StoreResult<Vec<ApiKeyRecord>> {
        let keys = self.0.keys.lock().unwrap();
        let mut list: Vec<_> = keys
            .values()
            .filter(|k| k.account_id == account_id)
            .cloned()
            .collect();
        list.sort_by(|a, b| a.key_id.cmp(&b.key_id));
        Ok(list)
    }

    async fn revoke_api_key(&self, account_id: &str, key_id: &str) -> StoreResult<()> {
        let mut keys = self.0.keys.lock().unwrap();
        let hash = keys
            .values()
            .find(|k| k.account_id == account_id && k.key_id == key_id)
            .map(|k| k.key_hash.clone())
            .ok_or(StoreError::NotFound)?;
        keys.remove(&hash);
        Ok(())
    }
}

impl Allowances for MemoryStore {
    async fn spend(
        &self,
        account_id: &str,
        allowance: Allowance,
        at: OffsetDateTime,
        amount: u64,
        limit: u64,
    ) -> StoreResult<bool> {
        let mut taken = self.0.allowances.lock().unwrap();
        let spent = taken
            .entry((account_id.to_string(), allowance.counter(at)))
            .or_insert(0);
        if spent.saturating_add(amount) > limit {
            return Ok(false);
        }
        *spent += amount;
        Ok(true)
    }

    async fn give_back(
        &self,
        account_id: &str,
        allowance: Allowance,
        charged_at: OffsetDateTime,
        amount: u64,
    ) -> StoreResult<()> {
        let mut taken = self.0.allowances.lock().unwrap();
        let key = (account_id.to_string(), allowance.counter(charged_at));
        if let Some(spent) = taken.get_mut(&key) {
            if *spent >= amount {
                *spent -= amount;
            }
        }
        Ok(())
    }
}

impl NoticeGate for MemoryStore {
    async fn claim_notice(
        &self,
        account_id: &str,
        webhook_id: &str,
        kind: &str,
        now: OffsetDateTime,
        window: time::Duration,
        claim: &NoticeClaim,
    ) -> StoreResult<NoticeGrant> {
        let mut claims = self.0.claims.lock().unwrap();
        let key = (
            account_id.to_string(),
            webhook_id.to_string(),
            kind.to_string(),
        );
        match claims.get(&key) {
            Some((until, held, sent)) if *until > now && !reclaimable(held, *sent, claim, now) => {
                Ok(refusal(held, *sent, claim))
            }
            _ => {
                claims.insert(key, (now + window, claim.clone(), false));
                Ok(NoticeGrant::Granted)
            }
        }
    }

    async fn notice_sent(
        &self,
        account_id: &str,
        webhook_id: &str,
        kind: &str,
        token: &str,
    ) -> StoreResult<()> {
        let mut claims = self.0.claims.lock().unwrap();
        let key = (
            account_id.to_string(),
            webhook_id.to_string(),
            kind.to_string(),
        );
        if let Some((_, held, sent)) = claims.get_mut(&key) {
            if held.notice == token {
                *sent = true;
            }
        }
        Ok(())
    }
}

impl ActivityLog for MemoryStore {
    async fn record_activity(
        &self,
        account_id: &str,
        webhook_id: &str,
        entry: &ActivityEntry,
        _expires_at: OffsetDateTime,
    ) -> StoreResult<()> {
        let mut log = self.0.activity.lock().unwrap();
        log.entry((account_id.to_string(), webhook_id.to_string()))
            .or_default()
            .push(entry.clone());
        Ok(())
    }

    async fn list_activity(
        &self,
        account_id: &str,
        webhook_id: &str,
        limit: usize,
        before: Option<&str>,
    ) -> StoreResult<Page<ActivityEntry>> {
        let log = self.0.activity.lock().unwrap();
        let mut entries: Vec<ActivityEntry> = log
            .get(&(account_id.to_string(), webhook_id.to_string()))
            .map(|v| {
                v.iter()
                    .filter(|e| before.is_none_or(|b| e.id.as_str() < b))
                    .cloned()
                    .collect()
            })
            .unwrap_or_default();
        entries.sort_by(|a, b| b.id.cmp(&a.id));
        Ok(Page::cut(
            entries,
            limit,
            false,
            before,
            |e: &ActivityEntry| &e.id,
        ))
    }
}

/// The claim rule both stores follow: unleased (or lease ended), and pending and due unless the
/// resend is manual.
/// Why a live claim refuses `claim`: its own notice, still held by another run, or not.
pub fn refusal(held: &NoticeClaim, sent: bool, claim: &NoticeClaim) -> NoticeGrant {
    if held.notice == claim.notice && !sent {
        NoticeGrant::Held(held.until)
    } else {
        NoticeGrant::Taken
    }
}

/// A live notice claim another may take over: the same notice, not yet sent, whose holder's
/// time is up or who is the same holder.
pub fn reclaimable(
    held: &NoticeClaim,
    sent: bool,
    claim: &NoticeClaim,
    now: OffsetDateTime,
) -> bool {
    held.notice == claim.notice && !sent && (held.until <= now || held.holder == claim.holder)
}

fn claimable(entry: &Leased, claimant: &Lease, now: OffsetDateTime, manual: bool) -> bool {
    let (delivery, lease, _) = entry;
    // Free, expired, or already ours (see `DeliveryStore::claim_existing`).
    let unleased = lease
        .as_ref()
        .is_none_or(|l| l.until <= now || l.token == claimant.token);
    let due = delivery.status == DeliveryStatus::Pending
        && delivery.next_attempt_at.is_none_or(|t| t <= now);
    unleased && (manual || due)
}

impl DeliveryStore for MemoryStore {
    async fn claim_delivery(
        &self,
        delivery: Delivery,
        lease: &Lease,
        now: OffsetDateTime,
        _expires_at: OffsetDateTime,
    ) -> StoreResult<Claim> {
        let key = (
            delivery.account_id.clone(),
            delivery.webhook_id.clone(),
            delivery.id.clone(),
        );
        if let std::collections::btree_map::Entry::Vacant(slot) =
            self.0.deliveries.lock().unwrap().entry(key.clone())
        {
            slot.insert((delivery.clone(), Some(lease.clone()), None));
            return Ok(Claim::Claimed(delivery));
        }
        self.claim_existing(&key.0, &key.1, &key.2, lease, now, false)
            .await
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
        let mut map = self.0.deliveries.lock().unwrap();
        let key = (
            account_id.to_string(),
            webhook_id.to_string(),
            delivery_id.to_string(),
        );
        match map.get_mut(&key) {
            None => Ok(Claim::Busy(None)),
            Some(entry) if claimable(entry, lease, now, manual) => {
                entry.1 = Some(lease.clone());
                Ok(Claim::Claimed(entry.0.clone()))
            }
            Some(entry) => Ok(Claim::Busy(Some(entry.0.clone()))),
        }
    }

    async fn record_attempt(
        &self,
        delivery: &Delivery,
        lease: &str,
        attempt: &Attempt,
        status: DeliveryStatus,
        next_attempt_at: Option<OffsetDateTime>,
        _expires_at: OffsetDateTime,
    ) -> StoreResult<()> {
        let mut map = self.0.deliveries.lock().unwrap();
        let key = (
            delivery.account_id.clone(),
            delivery.webhook_id.clone(),
            delivery.id.clone(),
        );
        let entry = map.get_mut(&key).ok_or(StoreError::NotFound)?;
        if entry.1.as_ref().map(|l| l.token.as_str()) != Some(lease) {
            return match entry.2.as_deref() == Some(lease) {
                true => Ok(()), // a repeat of this lease's own record
                false => Err(StoreError::Conflict),
            };
        }
        entry.0.attempts.push(attempt.clone());
        entry.0.status = status;
        entry.0.next_attempt_at = next_attempt_at;
        entry.1 = None;
        entry.2 = Some(lease.to_string());
        Ok(())
    }

    async fn record_first(
        &self,
        delivery: &Delivery,
        token: &str,
        _expires_at: OffsetDateTime,
    ) -> StoreResult<FirstRecord> {
        let mut map = self.0.deliveries.lock().unwrap();
        let key = (
            delivery.account_id.clone(),
            delivery.webhook_id.clone(),
            delivery.id.clone(),
        );
        match map.get(&key) {
            None => {
                map.insert(key, (delivery.clone(), None, Some(token.to_string())));
                Ok(FirstRecord::Recorded)
            }
            Some((_, _, Some(last))) if last == token => Ok(FirstRecord::Recorded),
            Some((d, _, _)) => Ok(FirstRecord::Exists(Box::new(d.clone()))),
        }
    }

    async fn get_delivery(
        &self,
        account_id: &str,
        webhook_id: &str,
        delivery_id: &str,
    ) -> StoreResult<Option<Delivery>> {
        let map = self.0.deliveries.lock().unwrap();
        let key = (
            account_id.to_string(),
            webhook_id.to_string(),
            delivery_id.to_string(),
        );
        Ok(map.get(&key).map(|(d, _, _)| d.clone()))
    }

    async fn list_deliveries(
        &self,
        account_id: &str,
        webhook_id: &str,
        status: Option<DeliveryStatus>,
        limit: usize,
        before: Option<&str>,
    ) -> StoreResult<Page<Delivery>> {
        let map = self.0.deliveries.lock().unwrap();
        let items: Vec<Delivery> = map
            .iter()
            .rev()
            .filter(|((a, w, id), (d, _, _))| {
                a == account_id
                    && w == webhook_id
                    && before.is_none_or(|b| id.as_str() < b)
                    && status.is_none_or(|s| d.status == s)
            })
            .map(|(_, (d, _, _))| d.clone())
            .take(limit + 1)
            .collect();
        Ok(Page::cut(items, limit, false, before, |d: &Delivery| &d.id))
    }
}

impl HealthStore for MemoryStore {
    async fn record_failure(
        &self,
        account_id: &str,
        webhook_id: &str,
        at: OffsetDateTime,
        attempt: &str,
    ) -> StoreResult<Health> {
        let mut map = self.0.health.lock().unwrap();
        let (health, last) = map
            .entry((account_id.to_string(), webhook_id.to_string()))
            .or_default();
        if last != attempt {
            health.consecutive_failures += 1;
            health.failing_since.get_or_insert(at);
            *last = attempt.to_string();
        }
        Ok(*health)
    }

    async fn record_success(&self, account_id: &str, webhook_id: &str) -> StoreResult<bool> {
        Ok(self
            .0
            .health
            .lock()
            .unwrap()
            .remove(&(account_id.to_string(), webhook_id.to_string()))
            .is_some())
    }

    async fn set_mark(&self, webhook: &Webhook, mark: Mark, on: bool) -> StoreResult<()> {
        let current = self.get_webhook(&webhook.account_id, &webhook.id).await?;
        let mut marks = self.0.marks.lock().unwrap();
        for event in webhook.indexed_events() {
            // Only entries that exist now (DynamoDB's `attribute_exists(pk)`).
            if !current
                .as_ref()
                .is_some_and(|c| c.indexed_events().contains(event))
            {
                continue;
            }
            let key = (webhook.account_id.clone(), webhook.id.clone(), *event, mark);
            if on {
                marks.insert(key);
            } else {
                marks.remove(&key);
            }
        }
        Ok(())
    }
}

impl EventStore for MemoryStore {
    async fn keep_event(
        &self,
        event: &crate::events::Event,
        _expires_at: OffsetDateTime,
    ) -> StoreResult<Kept> {
        let mut kept = self.0.kept.lock().unwrap();
        let key = (event.account_id.clone(), event.id.clone());
        match kept.get(&key) {
            Some((first, queued)) => Ok(Kept::Existing {
                first: crate::model::EventRef::from(first),
                queued: *queued,
            }),
            None => {
                kept.insert(key, (event.clone(), false));
                Ok(Kept::New)
            }
        }
    }

    async fn mark_queued(&self, account_id: &str, event_id: &str) -> StoreResult<()> {
        if let Some((_, queued)) = self
            .0
            .kept
            .lock()
            .unwrap()
            .get_mut(&(account_id.to_string(), event_id.to_string()))
        {
            *queued = true;
        }
        Ok(())
    }

    async fn find_event(
        &self,
        account_id: &str,
        event_id: &str,
    ) -> StoreResult<Option<crate::events::Event>> {
        Ok(self
            .0
            .kept
            .lock()
            .unwrap()
            .get(&(account_id.to_string(), event_id.to_string()))
            .map(|(event, _)| event.clone()))
    }
}
