//! The store contract: the subscription index follows every write, stale writes are refused,
//! lists page and filter. Each scenario runs against the DynamoDB store (moto's server), the
//! in-memory store and the simulation's DynamoDB model, so the unit tests' fake and the
//! simulation keep the adapter's semantics.

use hookline::model::{
    Delivery, DeliveryStatus, EventType, Status, Webhook, WebhookPatch, WebhookRules,
};
use hookline::store::dynamo::DynamoStore;
use hookline::store::memory::MemoryStore;
use hookline::store::{
    Claim, DeliveryStore, Lease, ListFilter, Mark, StoreError, SubscriptionIndex, WebhookStore,
};
use hookline_tests::{fresh_store, outbound_body};
use serde_json::json;

/// The simulation's model of the table, without faults, and a way to run a scenario on it.
fn sim_table() -> (
    hookline_simulation::dynamo::SimTable,
    hookline_simulation::executor::Scheduler,
) {
    let world = hookline_simulation::world::World::new(
        1,
        hookline_simulation::world::Faults::none(),
        false,
    );
    let scheduler = world.scheduler.clone();
    (hookline_simulation::dynamo::SimTable::new(world), scheduler)
}

fn rules() -> WebhookRules {
    WebhookRules {
        allow_plain_http: false,
        ..Default::default()
    }
}

fn outbound(account: &str, events: &[&str]) -> Webhook {
    let mut body = outbound_body("https://e.com/h");
    body["events"] = json!(events);
    let now = time::OffsetDateTime::now_utc();
    WebhookPatch::from_json(&body)
        .unwrap()
        .create(
            hookline::ids::new_webhook_id(now),
            account.into(),
            now,
            &rules(),
        )
        .unwrap()
}

/// The keys of every item in the table: what a delete must leave behind is nothing.
async fn all_keys(store: &DynamoStore) -> Vec<String> {
    let out = store
        .client()
        .scan()
        .table_name(store.table())
        .send()
        .await
        .unwrap();
    out.items()
        .iter()
        .map(|item| {
            format!(
                "{} {}",
                item["pk"].as_s().unwrap(),
                item["sk"].as_s().unwrap()
            )
        })
        .collect()
}

async fn ids_for<S: SubscriptionIndex>(store: &S, account: &str, event: EventType) -> Vec<String> {
    let mut ids: Vec<String> = store
        .active_webhooks_for(account, event)
        .await
        .unwrap()
        .into_iter()
        .map(|w| w.id)
        .collect();
    ids.sort();
    ids
}

#[tokio::test]
async fn subscription_index_follows_creates_updates_and_deletes() {
    let store = fresh_store().await;
    index_scenario(&store).await;
    // Nothing is left behind: no orphaned index entry.
    assert_eq!(all_keys(&store).await, Vec::<String>::new());
    index_scenario(&MemoryStore::new()).await;
    let (sim, scheduler) = sim_table();
    scheduler.block_on(index_scenario(&sim));
}

async fn index_scenario<S: WebhookStore + SubscriptionIndex>(store: &S) {
    let a = outbound("acme", &["case:new", "case:status:closed"]);
    let b = outbound("acme", &["case:new"]);
    let other = outbound("globex", &["case:new"]);
    for w in [&a, &b, &other] {
        store.create_webhook(w).await.unwrap();
    }
    assert_eq!(
        ids_for(store, "acme", EventType::CaseNew).await,
        vec![a.id.clone(), b.id.clone()],
        "ids sort by creation"
    );
    assert_eq!(
        ids_for(store, "acme", EventType::CaseStatusClosed).await,
        vec![a.id.clone()]
    );
    assert_eq!(
        ids_for(store, "acme", EventType::AgentStatus).await,
        Vec::<String>::new()
    );
    let found = store
        .active_webhooks_for("acme", EventType::CaseStatusClosed)
        .await
        .unwrap();
    assert_eq!(found, vec![a.clone()], "the index returns whole configs");

    // Change a's events: the closed entry goes, the agent entry comes.
    let now = time::OffsetDateTime::now_utc();
    let a2 = WebhookPatch::from_json(&json!({"events": ["case:new", "agent:status"]}))
        .unwrap()
        .apply_to(&a, now, &rules())
        .unwrap();
    store.update_webhook(&a, &a2).await.unwrap();
    assert!(ids_for(store, "acme", EventType::CaseStatusClosed)
        .await
        .is_empty());
    assert_eq!(
        ids_for(store, "acme", EventType::AgentStatus).await,
        vec![a.id.clone()]
    );
    let found = store
        .active_webhooks_for("acme", EventType::CaseNew)
        .await
        .unwrap();
    assert!(found.contains(&a2), "index entries carry the new version");

    // Deactivating removes all of a's entries; reactivating brings them back.
    let a3 = WebhookPatch::from_json(&json!({"status": "inactive"}))
        .unwrap()
        .apply_to(&a2, now, &rules())
        .unwrap();
    store.update_webhook(&a2, &a3).await.unwrap();
    assert_eq!(
        ids_for(store, "acme", EventType::CaseNew).await,
        vec![b.id.clone()]
    );
    assert!(ids_for(store, "acme", EventType::AgentStatus)
        .await
        .is_empty());
    let a4 = WebhookPatch::from_json(&json!({"status": "active"}))
        .unwrap()
        .apply_to(&a3, now, &rules())
        .unwrap();
    store.update_webhook(&a3, &a4).await.unwrap();
    assert_eq!(
        ids_for(store, "acme", EventType::AgentStatus).await,
        vec![a.id.clone()]
    );

    // Deleting removes the webhook and every entry.
    store.delete_webhook(&a4).await.unwrap();
    store.delete_webhook(&b).await.unwrap();
    store.delete_webhook(&other).await.unwrap();
    for event in EventType::ALL {
        assert!(
            ids_for(store, "acme", event).await.is_empty()
                && ids_for(store, "globex", event).await.is_empty()
        );
    }
}

#[tokio::test]
async fn stale_writes_are_refused_and_deleted_webhooks_are_not_found() {
    stale_write_scenario(&fresh_store().await).await;
    stale_write_scenario(&MemoryStore::new()).await;
    let (sim, scheduler) = sim_table();
    scheduler.block_on(stale_write_scenario(&sim));
}

async fn stale_write_scenario<S: WebhookStore + SubscriptionIndex>(store: &S) {
    let w = outbound("acme", &["case:new"]);
    store.create_webhook(&w).await.unwrap();
    assert!(
        matches!(store.create_webhook(&w).await, Err(StoreError::Conflict)),
        "ids are never overwritten"
    );
    let now = time::OffsetDateTime::now_utc();
    let v2 = WebhookPatch::from_json(&json!({"name": "v2"}))
        .unwrap()
        .apply_to(&w, now, &rules())
        .unwrap();
    store.update_webhook(&w, &v2).await.unwrap();
    // Another writer still holding version 1, with and without index changes.
    let stale = WebhookPatch::from_json(&json!({"name": "stale"}))
        .unwrap()
        .apply_to(&w, now, &rules())
        .unwrap();
    assert!(matches!(
        store.update_webhook(&w, &stale).await,
        Err(StoreError::Conflict)
    ));
    let stale_off = WebhookPatch::from_json(&json!({"status": "inactive"}))
        .unwrap()
        .apply_to(&w, now, &rules())
        .unwrap();
    assert!(matches!(
        store.update_webhook(&w, &stale_off).await,
        Err(StoreError::Conflict)
    ));
    assert!(matches!(
        store.delete_webhook(&w).await,
        Err(StoreError::Conflict)
    ));
    assert_eq!(
        store
            .get_webhook("acme", &w.id)
            .await
            .unwrap()
            .unwrap()
            .name,
        "v2"
    );
    assert_eq!(
        ids_for(store, "acme", EventType::CaseNew).await,
        vec![w.id.clone()],
        "index untouched by refused writes"
    );

    store.delete_webhook(&v2).await.unwrap();
    let v3 = WebhookPatch::from_json(&json!({"name": "v3"}))
        .unwrap()
        .apply_to(&v2, now, &rules())
        .unwrap();
    assert!(matches!(
        store.update_webhook(&v2, &v3).await,
        Err(StoreError::NotFound)
    ));
}

#[tokio::test]
async fn lists_page_and_filter_per_account() {
    list_scenario(&fresh_store().await).await;
    list_scenario(&MemoryStore::new()).await;
    let (sim, scheduler) = sim_table();
    scheduler.block_on(list_scenario(&sim));
}

async fn list_scenario<S: WebhookStore>(store: &S) {
    let mut acme = Vec::new();
    for i in 0..5 {
        let mut w = outbound("acme", &["case:new"]);
        if i % 2 == 1 {
            w.status = Status::Inactive;
        }
        store.create_webhook(&w).await.unwrap();
        acme.push(w);
    }
    store
        .create_webhook(&outbound("globex", &["case:new"]))
        .await
        .unwrap();

    let page = store
        .list_webhooks(
            "acme",
            &ListFilter {
                limit: 2,
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(page.items, acme[..2].to_vec());
    assert_eq!(page.next_after.as_deref(), Some(acme[1].id.as_str()));
    let rest = store
        .list_webhooks(
            "acme",
            &ListFilter {
                limit: 10,
                after: page.next_after.clone(),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(rest.items, acme[2..].to_vec());
    assert_eq!(rest.next_after, None);

    let active = store
        .list_webhooks(
            "acme",
            &ListFilter {
                limit: 10,
                status: Some(Status::Active),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(
        active.items.iter().map(|w| &w.id).collect::<Vec<_>>(),
        vec![&acme[0].id, &acme[2].id, &acme[4].id]
    );
    // Exactly a page's worth left: no cursor pointing at an empty page.
    let exact = store
        .list_webhooks(
            "acme",
            &ListFilter {
                limit: 5,
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!((exact.items.len(), exact.next_after), (5, None));
}

#[tokio::test]
async fn a_claim_is_its_claimants_own_and_no_one_elses_until_it_ends() {
    claim_scenario(&fresh_store().await).await;
    claim_scenario(&MemoryStore::new()).await;
    let (sim, scheduler) = sim_table();
    scheduler.block_on(claim_scenario(&sim));
}

async fn claim_scenario<S: DeliveryStore>(store: &S) {
    let now = time::OffsetDateTime::now_utc()
        .replace_nanosecond(0)
        .unwrap();
    let event = hookline::events::Event::from_publish(
        &json!({"id": "evt_1", "event": "case:new", "data": {"caseId": "1"}}),
        "acme",
        now,
    )
    .unwrap();
    let delivery = Delivery::new(&event, "wh_1", now, true);
    let lease = |token: &str, secs: i64| Lease {
        token: token.into(),
        until: now + time::Duration::seconds(secs),
    };
    let claimed = |c: Claim| matches!(c, Claim::Claimed(_));
    assert!(claimed(
        store
            .claim_delivery(delivery.clone(), &lease("a", 45), now, now)
            .await
            .unwrap()
    ));
    // The same claim again (a write whose answer was lost, retried): still ours.
    assert!(claimed(
        store
            .claim_delivery(delivery.clone(), &lease("a", 45), now, now)
            .await
            .unwrap()
    ));
    // Anyone else waits until the lease ends, then may take it over.
    assert!(!claimed(
        store
            .claim_delivery(delivery.clone(), &lease("b", 45), now, now)
            .await
            .unwrap()
    ));
    let later = now + time::Duration::seconds(46);
    assert!(claimed(
        store
            .claim_delivery(delivery.clone(), &lease("b", 90), later, later)
            .await
            .unwrap()
    ));
    assert!(!claimed(
        store
            .claim_delivery(delivery.clone(), &lease("a", 90), later, later)
            .await
            .unwrap()
    ));
}

#[tokio::test]
async fn filtered_listings_page_past_long_runs_of_other_items() {
    paging_scenario(&fresh_store().await).await;
    paging_scenario(&MemoryStore::new()).await;
    let (sim, scheduler) = sim_table();
    scheduler.block_on(paging_scenario(&sim));
}

/// 60 deliveries of which the oldest and one near the newest failed, 45 apart: DynamoDB's
/// `Limit` counts the items a filter drops, so a page of failed deliveries may read many
/// responses, or none that match, and must still lead to both.
async fn paging_scenario<S: DeliveryStore>(store: &S) {
    let start = time::OffsetDateTime::now_utc()
        .replace_nanosecond(0)
        .unwrap();
    let mut failed = Vec::new();
    let mut all = Vec::new();
    for n in 0..60 {
        let at = start + time::Duration::seconds(n);
        let event = hookline::events::Event::from_publish(
            &json!({"id": format!("evt_{n}"), "event": "case:new", "data": {"caseId": "1"}}),
            "acme",
            at,
        )
        .unwrap();
        let delivery = Delivery::new(&event, "wh_1", at, true);
        let lease = Lease {
            token: format!("lease_{n}"),
            until: at + time::Duration::seconds(45),
        };
        store
            .claim_delivery(delivery.clone(), &lease, at, at)
            .await
            .unwrap();
        let status = if n == 0 || n == 45 {
            failed.push(delivery.id.clone());
            DeliveryStatus::Failed
        } else {
            DeliveryStatus::Succeeded
        };
        let attempt = hookline::model::Attempt {
            at,
            status: Some(200),
            error: None,
            duration_ms: 1,
            response_body: None,
            manual: false,
        };
        store
            .record_attempt(&delivery, &lease.token, &attempt, status, None, at)
            .await
            .unwrap();
        // A repeat of the same record (the SDK's retry after a lost reply) is no conflict.
        store
            .record_attempt(&delivery, &lease.token, &attempt, status, None, at)
            .await
            .unwrap();
        all.push(delivery.id);
    }
    failed.reverse();
    all.reverse();
    for (status, limit, want) in [(Some(DeliveryStatus::Failed), 1, &failed), (None, 7, &all)] {
        let got = hookline::store::Page::follow(|cursor| async move {
            store
                .list_deliveries("acme", "wh_1", status, limit, cursor.as_deref())
                .await
        })
        .await
        .unwrap();
        let ids: Vec<String> = got.into_iter().map(|d| d.id).collect();
        assert_eq!(&ids, want, "status {status:?}, limit {limit}");
    }
}

/// An item as stored, by its key.
async fn raw_item(
    store: &DynamoStore,
    pk: &str,
    sk: &str,
) -> std::collections::HashMap<String, aws_sdk_dynamodb::types::AttributeValue> {
    use aws_sdk_dynamodb::types::AttributeValue::S;
    store
        .client()
        .get_item()
        .table_name(store.table())
        .key("pk", S(pk.into()))
        .key("sk", S(sk.into()))
        .send()
        .await
        .unwrap()
        .item
        .unwrap()
}

/// `item` written back as it is, but for its `doc`: as someone with write access to the table
/// could.
async fn put_with_doc(
    store: &DynamoStore,
    mut item: std::collections::HashMap<String, aws_sdk_dynamodb::types::AttributeValue>,
    doc: &serde_json::Value,
) {
    let doc = aws_sdk_dynamodb::types::AttributeValue::S(doc.to_string());
    item.insert("doc".into(), doc);
    store
        .client()
        .put_item()
        .table_name(store.table())
        .set_item(Some(item))
        .send()
        .await
        .unwrap();
}

/// Every attribute of every item, as text: where a leaked secret would show.
async fn table_text(store: &DynamoStore) -> String {
    let out = store
        .client()
        .scan()
        .table_name(store.table())
        .send()
        .await
        .unwrap();
    format!("{:?}", out.items())
}

/// Webhook credentials are sealed (KMS envelope encryption) in the webhook item and in every
/// subscription entry; they read back whole, in another container too, for one KMS call per
/// container; a plaintext item from before reads and is sealed when next written; a sealed
/// value copied onto another webhook does not open.
#[tokio::test]
async fn webhook_credentials_are_sealed_at_rest() {
    let store = fresh_store().await;
    let secrets = [
        json!({"type": "hmac", "secret": "whsec_c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0MTI="}),
        json!({"type": "basic", "username": "bot", "password": "p4ssw0rd-at-rest"}),
        json!({"type": "bearer", "token": "tok-at-rest-0123456789"}),
        json!({"type": "header", "name": "X-Api-Key", "value": "header-at-rest"}),
    ];
    let plaintexts = [
        "c2VjcmV0c2VjcmV0",
        "p4ssw0rd",
        "tok-at-rest",
        "header-at-rest",
    ];
    let mut written = Vec::new();
    for security in &secrets {
        let mut w = outbound("acme", &["case:new", "agent:status"]);
        w.security = WebhookPatch::from_json(&json!({"security": security}))
            .unwrap()
            .apply_to(&w, w.created_at, &rules())
            .unwrap()
            .security;
        store.create_webhook(&w).await.unwrap();
        written.push(w);
    }
    let sealer = store.sealer().unwrap();
    assert_eq!(
        sealer.key_service_calls(),
        1,
        "one data key for every write"
    );
    let text = table_text(&store).await;
    for plain in plaintexts {
        assert!(!text.contains(plain), "{plain} is stored in the clear");
    }
    assert_eq!(
        text.matches("hks1.").count(),
        4 * 3,
        "each webhook and both its entries"
    );
    for w in &written {
        assert_eq!(
            store.get_webhook("acme", &w.id).await.unwrap().as_ref(),
            Some(w)
        );
    }
    let mut subscribed: Vec<Webhook> = store
        .subscribers("acme", EventType::AgentStatus)
        .await
        .unwrap()
        .into_iter()
        .map(|s| s.webhook)
        .collect();
    subscribed.sort_by(|a, b| a.id.cmp(&b.id));
    let mut expected = written.clone();
    expected.sort_by(|a, b| a.id.cmp(&b.id));
    assert_eq!(subscribed, expected);

    // Another container: one Decrypt of the data key, then from memory.
    let other = DynamoStore::new(store.client().clone(), store.table())
        .with_sealer(hookline_tests::sealer().await);
    for w in &written {
        assert_eq!(
            other.get_webhook("acme", &w.id).await.unwrap().as_ref(),
            Some(w)
        );
    }
    assert_eq!(other.sealer().unwrap().key_service_calls(), 1);

    // A webhook stored before sealing (plaintext) still reads, and its next write seals it.
    let unsealed = DynamoStore::new(store.client().clone(), store.table());
    let mut legacy = outbound("acme", &["case:new"]);
    legacy.security = written[1].security.clone();
    unsealed.create_webhook(&legacy).await.unwrap();
    assert!(table_text(&store).await.contains("p4ssw0rd"));
    let read = store
        .get_webhook("acme", &legacy.id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(read, legacy);
    let next = Webhook {
        version: legacy.version + 1,
        ..legacy.clone()
    };
    store.update_webhook(&legacy, &next).await.unwrap();
    assert!(
        !table_text(&store).await.contains("p4ssw0rd"),
        "upgraded when next written"
    );
    // `hookline-admin reseal` seals what was stored before, entries included, without a new
    // version; a second run finds nothing to do.
    let mut old = outbound("acme", &["case:new", "agent:status"]);
    old.security = written[2].security.clone();
    unsealed.create_webhook(&old).await.unwrap();
    assert!(table_text(&store).await.contains("tok-at-rest"));
    // A mark on one of its entries (a slow receiver) survives the reseal.
    hookline::store::HealthStore::set_mark(&store, &old, Mark::Slow, true)
        .await
        .unwrap();
    let done = store.reseal_webhooks().await.unwrap();
    assert_eq!(
        (done.sealed, done.already, done.changed, done.failed),
        (1, 5, 0, 0)
    );
    let marked = store
        .subscribers("acme", EventType::AgentStatus)
        .await
        .unwrap();
    assert!(
        marked.iter().any(|s| s.webhook.id == old.id && s.slow),
        "the mark stays"
    );
    assert!(!table_text(&store).await.contains("tok-at-rest"));
    assert_eq!(
        store.get_webhook("acme", &old.id).await.unwrap(),
        Some(old.clone())
    );
    assert_eq!(store.reseal_webhooks().await.unwrap().sealed, 0);

    // A store without the key cannot read sealed credentials: an error, not a guess.
    let unreadable = unsealed.get_webhook("acme", &legacy.id).await;
    assert!(
        matches!(unreadable, Err(StoreError::Corrupt(_))),
        "{unreadable:?}"
    );

    // A sealed value moved onto another webhook (by someone who can write the table) does
    // not open there: it is bound to its account and id.
    let webhook_key = |id: &str| ("ACCT#acme".to_string(), format!("WH#{id}"));
    let (pk, sk) = webhook_key(&written[0].id);
    let donor = raw_item(&store, &pk, &sk).await;
    let donor: serde_json::Value = serde_json::from_str(donor["doc"].as_s().unwrap()).unwrap();
    let (pk, sk) = webhook_key(&written[1].id);
    let victim_item = raw_item(&store, &pk, &sk).await;
    let mut victim: serde_json::Value =
        serde_json::from_str(victim_item["doc"].as_s().unwrap()).unwrap();
    victim["security"] = donor["security"].clone();
    put_with_doc(&store, victim_item, &victim).await;
    let moved = store.get_webhook("acme", &written[1].id).await;
    assert!(matches!(moved, Err(StoreError::Corrupt(_))), "{moved:?}");

    // The same in one subscription entry: that webhook is left out of the fan-out (logged),
    // the account's other webhooks still get the event.
    let entry = raw_item(&store, "ACCT#acme#EVT#agent:status", &sk).await;
    put_with_doc(&store, entry, &victim).await;
    let mut ids: Vec<String> = store
        .subscribers("acme", EventType::AgentStatus)
        .await
        .unwrap()
        .into_iter()
        .map(|s| s.webhook.id)
        .collect();
    ids.sort();
    let mut others: Vec<String> = [0, 2, 3].iter().map(|i| written[*i].id.clone()).collect();
    others.push(old.id.clone());
    others.sort();
    assert_eq!(ids, others);
}

#[tokio::test]
async fn allowances_count_per_account_kind_and_clock_window() {
    budget_scenario(&fresh_store().await).await;
    budget_scenario(&MemoryStore::new()).await;
    let (sim, scheduler) = sim_table();
    scheduler.block_on(budget_scenario(&sim));
}

async fn budget_scenario<S: hookline::store::Allowances>(store: &S) {
    use hookline::store::Allowance;
    const EMAILS: Allowance = Allowance::EmailsPerHour;
    let hour = time::macros::datetime!(2026-12-06 17:00 UTC);
    let mut taken = Vec::new();
    for minute in [0, 10, 59, 59] {
        let at = hour + time::Duration::minutes(minute);
        taken.push(store.spend("acme", EMAILS, at, 1, 3).await.unwrap());
    }
    assert_eq!(taken, [true, true, true, false], "three an hour");
    assert!(
        store.spend("globex", EMAILS, hour, 1, 3).await.unwrap(),
        "another account has its own"
    );
    let next_hour = hour + time::Duration::hours(1);
    assert!(store.spend("acme", EMAILS, next_hour, 1, 3).await.unwrap());
    assert!(
        !store.spend("fresh", EMAILS, next_hour, 1, 0).await.unwrap(),
        "a budget of 0 sends nothing, not even a window's first"
    );
    // A given-back unit can be taken again; a give-back to a window never charged makes none.
    store.give_back("acme", EMAILS, hour, 1).await.unwrap();
    assert!(store.spend("acme", EMAILS, hour, 1, 3).await.unwrap());
    assert!(!store.spend("acme", EMAILS, hour, 1, 3).await.unwrap());
    store.give_back("nobody", EMAILS, hour, 5).await.unwrap();
    assert!(store.spend("nobody", EMAILS, hour, 3, 3).await.unwrap());

    // Resolves in flight, per 30-second window, apart from e-mails: taken, given back.
    let resolves = Allowance::ResolvesInFlight;
    let at = hour + time::Duration::seconds(7 * 60 + 31);
    assert!(store.spend("acme", resolves, at, 1, 2).await.unwrap());
    assert!(store.spend("acme", resolves, at, 1, 2).await.unwrap());
    let late = at + time::Duration::seconds(28);
    assert!(
        !store.spend("acme", resolves, late, 1, 2).await.unwrap(),
        "two in flight, the limit"
    );
    store.give_back("acme", resolves, at, 1).await.unwrap();
    assert!(
        store.spend("acme", resolves, late, 1, 2).await.unwrap(),
        "one ended"
    );
    let turned = at + time::Duration::seconds(29);
    assert!(
        store.spend("acme", resolves, turned, 1, 2).await.unwrap(),
        "a new window"
    );
    assert!(
        !store.spend("acme", resolves, at, 3, 2).await.unwrap(),
        "more than the limit at once"
    );
    // A give-back sent twice (the SDK's retry after a lost reply) cannot go below zero.
    store.give_back("acme", resolves, turned, 1).await.unwrap();
    store.give_back("acme", resolves, turned, 1).await.unwrap();
    let taken: Vec<bool> =
        futures::future::join_all((0..3).map(|_| store.spend("acme", resolves, turned, 1, 2)))
            .await
            .into_iter()
            .map(Result::unwrap)
            .collect();
    assert_eq!(taken.iter().filter(|t| **t).count(), 2, "{taken:?}");
}

#[tokio::test]
async fn notice_claims_and_failure_counts_survive_a_repeated_request() {
    repeat_scenario(&fresh_store().await).await;
    repeat_scenario(&MemoryStore::new()).await;
    let (sim, scheduler) = sim_table();
    scheduler.block_on(repeat_scenario(&sim));
}

/// What the SDK does after a lost reply: the same request again. It must answer as the first.
async fn repeat_scenario<S: hookline::store::NoticeGate + hookline::store::HealthStore>(store: &S) {
    let now = time::OffsetDateTime::now_utc()
        .replace_nanosecond(0)
        .unwrap();
    let window = time::Duration::minutes(15);
    let held = |notice: &str, holder: &str, secs: i64| hookline::store::NoticeClaim {
        notice: notice.into(),
        holder: holder.into(),
        until: now + time::Duration::seconds(secs),
    };
    use hookline::store::NoticeGrant::{Granted, Held, Taken};
    let claim = |c: hookline::store::NoticeClaim, at| async move {
        store
            .claim_notice("acme", "wh_1", "failing", at, window, &c)
            .await
            .unwrap()
    };
    assert_eq!(claim(held("n1", "run1", 60), now).await, Granted);
    assert_eq!(
        claim(held("n1", "run1", 60), now).await,
        Granted,
        "the same request again is still ours"
    );
    assert_eq!(
        claim(held("n1", "run2", 60), now).await,
        Held(now + time::Duration::seconds(60)),
        "a copy of the notice waits while its first run may still send"
    );
    assert_eq!(
        claim(held("n2", "run3", 60), now).await,
        Taken,
        "another notice waits for the window"
    );
    let later = now + time::Duration::seconds(61);
    assert_eq!(
        claim(held("n1", "run2", 120), later).await,
        Granted,
        "the notice again once its first run is gone"
    );
    store
        .notice_sent("acme", "wh_1", "failing", "n1")
        .await
        .unwrap();
    assert_eq!(
        claim(held("n1", "run4", 200), later + time::Duration::seconds(70)).await,
        Taken,
        "a sent notice is not sent again"
    );
    assert_eq!(claim(held("n2", "run3", 60), later + window).await, Granted);

    let fail = |attempt: &'static str| store.record_failure("acme", "wh_1", now, attempt);
    assert_eq!(fail("t1").await.unwrap().consecutive_failures, 1);
    assert_eq!(
        fail("t1").await.unwrap().consecutive_failures,
        1,
        "counted once"
    );
    assert_eq!(fail("t2").await.unwrap().consecutive_failures, 2);
}

#[tokio::test]
async fn a_first_record_is_written_once_and_its_own_repeat_is_recognised() {
    first_record_scenario(&fresh_store().await).await;
    first_record_scenario(&MemoryStore::new()).await;
    let (sim, scheduler) = sim_table();
    scheduler.block_on(first_record_scenario(&sim));
}

async fn first_record_scenario<S: DeliveryStore>(store: &S) {
    use hookline::model::Attempt;
    use hookline::store::FirstRecord;
    let now = time::OffsetDateTime::now_utc()
        .replace_nanosecond(0)
        .unwrap();
    let event = hookline::events::Event::from_publish(
        &json!({"id": "evt_first", "event": "case:new", "data": {"caseId": "1"}}),
        "acme",
        now,
    )
    .unwrap();
    let mut delivery = Delivery::new(&event, "wh_1", now, false);
    delivery.status = DeliveryStatus::Succeeded;
    delivery.attempts.push(Attempt {
        at: now,
        status: Some(200),
        error: None,
        duration_ms: 12,
        response_body: Some("ok".into()),
        manual: false,
    });
    let expires = now + time::Duration::days(30);
    assert_eq!(
        store
            .record_first(&delivery, "tok_a", expires)
            .await
            .unwrap(),
        FirstRecord::Recorded
    );
    // The SDK's retry of that same write after a lost reply.
    assert_eq!(
        store
            .record_first(&delivery, "tok_a", expires)
            .await
            .unwrap(),
        FirstRecord::Recorded
    );
    // Another copy of the delivery, sent too: it finds the first record.
    match store
        .record_first(&delivery, "tok_b", expires)
        .await
        .unwrap()
    {
        FirstRecord::Exists(found) => assert_eq!(found.attempts.len(), 1),
        other => panic!("{other:?}"),
    }
    let stored = store
        .get_delivery("acme", "wh_1", &delivery.id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(stored.status, DeliveryStatus::Succeeded);
    assert_eq!(stored.event.id, "evt_first");
    assert_eq!(stored.legacy_data, None, "a v2 record keeps no event data");
    // The checked path cannot claim it: it is finished.
    let lease = Lease {
        token: "lease_c".into(),
        until: now + time::Duration::seconds(45),
    };
    assert!(matches!(
        store
            .claim_delivery(delivery.clone(), &lease, now, expires)
            .await
            .unwrap(),
        Claim::Busy(Some(_))
    ));
}

#[tokio::test]
async fn an_event_is_kept_once_with_its_first_time_and_its_data() {
    event_scenario(&fresh_store().await).await;
    event_scenario(&MemoryStore::new()).await;
    let (sim, scheduler) = sim_table();
    scheduler.block_on(event_scenario(&sim));
}

async fn event_scenario<S: hookline::store::EventStore>(store: &S) {
    use hookline::store::Kept;
    let now = time::OffsetDateTime::now_utc()
        .replace_nanosecond(0)
        .unwrap();
    let first = hookline::events::Event::from_publish(
        &json!({"id": "evt_k", "event": "case:new", "data": {"caseId": "7", "n": [1, 2]}}),
        "acme",
        now,
    )
    .unwrap();
    let expires = now + time::Duration::days(30);
    assert!(store.find_event("acme", "evt_k").await.unwrap().is_none());
    assert_eq!(store.keep_event(&first, expires).await.unwrap(), Kept::New);
    let again = hookline::events::Event {
        occurred_at: now + time::Duration::seconds(9),
        ..first.clone()
    };
    assert_eq!(
        store.keep_event(&again, expires).await.unwrap(),
        Kept::Existing {
            first: hookline::model::EventRef::from(&first),
            queued: false
        }
    );
    store.mark_queued("acme", "evt_k").await.unwrap();
    assert_eq!(
        store.keep_event(&again, expires).await.unwrap(),
        Kept::Existing {
            first: hookline::model::EventRef::from(&first),
            queued: true
        }
    );
    // Marking an id nobody kept changes nothing.
    store.mark_queued("acme", "evt_none").await.unwrap();
    assert!(store
        .find_event("acme", "evt_none")
        .await
        .unwrap()
        .is_none());
    assert_eq!(
        store.find_event("acme", "evt_k").await.unwrap(),
        Some(first)
    );
    assert!(store.find_event("globex", "evt_k").await.unwrap().is_none());
}

#[tokio::test]
async fn failing_marks_ride_on_the_subscription_entries_until_an_edit() {
    marks_scenario(&fresh_store().await).await;
    marks_scenario(&MemoryStore::new()).await;
    let (sim, scheduler) = sim_table();
    scheduler.block_on(marks_scenario(&sim));
}

async fn marks_scenario<S: WebhookStore + SubscriptionIndex + hookline::store::HealthStore>(
    store: &S,
) {
    let marked = |subs: Vec<hookline::store::Subscriber>| -> Vec<(String, bool)> {
        subs.into_iter()
            .map(|s| (s.webhook.id, s.failing))
            .collect()
    };
    let a = outbound("acme", &["case:new", "case:status:closed"]);
    let b = outbound("acme", &["case:new"]);
    store.create_webhook(&a).await.unwrap();
    store.create_webhook(&b).await.unwrap();
    let mut want = vec![(a.id.clone(), true), (b.id.clone(), false)];
    want.sort();
    store.set_mark(&a, Mark::Failing, true).await.unwrap();
    let mut got = marked(store.subscribers("acme", EventType::CaseNew).await.unwrap());
    got.sort();
    assert_eq!(got, want);
    assert_eq!(
        marked(
            store
                .subscribers("acme", EventType::CaseStatusClosed)
                .await
                .unwrap()
        ),
        vec![(a.id.clone(), true)]
    );
    // The two marks are apart: the slow one set and cleared leaves the failing one.
    store.set_mark(&b, Mark::Slow, true).await.unwrap();
    let mut both: Vec<(String, bool, bool)> = store
        .subscribers("acme", EventType::CaseNew)
        .await
        .unwrap()
        .into_iter()
        .map(|s| (s.webhook.id, s.failing, s.slow))
        .collect();
    both.sort();
    let mut want_both = vec![(a.id.clone(), true, false), (b.id.clone(), false, true)];
    want_both.sort();
    assert_eq!(both, want_both);
    store.set_mark(&b, Mark::Slow, false).await.unwrap();
    store.set_mark(&a, Mark::Failing, false).await.unwrap();
    assert!(store
        .subscribers("acme", EventType::CaseNew)
        .await
        .unwrap()
        .iter()
        .all(|s| !s.failing && !s.slow));
    // An edit rewrites the entries: the mark goes with it.
    store.set_mark(&a, Mark::Failing, true).await.unwrap();
    let mut edited = a.clone();
    edited.name = "renamed".into();
    edited.version += 1;
    store.update_webhook(&a, &edited).await.unwrap();
    assert!(store
        .subscribers("acme", EventType::CaseNew)
        .await
        .unwrap()
        .iter()
        .all(|s| !s.failing));
    // A deleted webhook is not marked back into the index.
    store.delete_webhook(&b).await.unwrap();
    store.set_mark(&b, Mark::Failing, true).await.unwrap();
    assert_eq!(
        marked(store.subscribers("acme", EventType::CaseNew).await.unwrap()),
        vec![(edited.id.clone(), false)]
    );
    // A success ends a streak once, and says so.
    let at = time::OffsetDateTime::now_utc();
    store
        .record_failure("acme", &edited.id, at, "att_1")
        .await
        .unwrap();
    assert!(store.record_success("acme", &edited.id).await.unwrap());
    assert!(!store.record_success("acme", &edited.id).await.unwrap());
    store.delete_webhook(&edited).await.unwrap();
}

/// Records whether each `GetItem` asked for a strongly consistent read.
#[derive(Clone, Debug, Default)]
struct ConsistentReads(std::sync::Arc<std::sync::Mutex<Vec<bool>>>);

impl aws_sdk_dynamodb::config::Intercept for ConsistentReads {
    fn name(&self) -> &'static str {
        "consistent-reads"
    }

    fn read_before_execution(
        &self,
        context: &aws_smithy_runtime_api::client::interceptors::context::BeforeSerializationInterceptorContextRef<'_>,
        _cfg: &mut aws_smithy_types::config_bag::ConfigBag,
    ) -> Result<(), aws_smithy_runtime_api::box_error::BoxError> {
        if let Some(get) = context
            .input()
            .downcast_ref::<aws_sdk_dynamodb::operation::get_item::GetItemInput>()
        {
            self.0
                .lock()
                .unwrap()
                .push(get.consistent_read().unwrap_or(false));
        }
        Ok(())
    }
}

#[tokio::test]
async fn an_api_key_is_looked_up_with_a_consistent_read_so_a_revoked_one_stops_at_once() {
    let sdk = hookline_tests::sdk_config().await;
    let reads = ConsistentReads::default();
    let config = aws_sdk_dynamodb::config::Builder::from(&sdk)
        .interceptor(reads.clone())
        .build();
    let store = DynamoStore::new(
        aws_sdk_dynamodb::Client::from_conf(config),
        hookline_tests::fresh_table_name(),
    );
    store.create_table().await.expect("the table");
    let found = hookline::store::ApiKeyStore::find_api_key(&store, "no-such-hash")
        .await
        .unwrap();
    assert!(found.is_none());
    assert_eq!(*reads.0.lock().unwrap(), vec![true]);
}
