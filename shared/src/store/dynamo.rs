//! The DynamoDB store: one table, string keys `pk` / `sk`.
//!
//! | item                | pk                         | sk             | what else                      |
//! |---------------------|----------------------------|----------------|--------------------------------|
//! | webhook             | `ACCT#{account}`           | `WH#{id}`      | `version`, `flow`, `status`, `doc` (JSON) |
//! | subscription entry  | `ACCT#{account}#EVT#{event}` | `WH#{id}`    | `version`, `doc`: a copy, so one Query returns whole configs; `failing` while a streak runs |
//! | API key (lookup)    | `APIKEY#{sha256}`          | `APIKEY`       | `accountId`, `keyId`, `name`, `createdAt` |
//! | API key (by account)| `ACCT#{account}`           | `KEY#{keyId}`  | `keyHash`, `name`, `createdAt` |
//! | e-mail notice claim | `NOTICE#{account}#{id}`    | `{kind}`       | `expiresAt` (TTL)              |
//! | activity log entry  | `LOG#{account}#{id}`       | `{entryId}`    | `doc`, `expiresAt` (TTL)       |
//! | delivery            | `DLV#{account}#{id}`       | `{deliveryId}` | `status`, `event`, `attempts` (JSON strings), `nextAttemptAt`/`leaseUntil` (epoch ms), `leaseToken`, `expiresAt` |
//! | webhook health      | `HEALTH#{account}`         | `{id}`         | `consecutiveFailures`, `failingSince`, `expiresAt` |
//! | event               | `EVT#{account}`            | `{eventId}`    | `occurredAt` (epoch ms), `type`, `data` (JSON), `expiresAt`; v1's fan-out wrote `webhooks` instead of `type` and `data` |
//!
//! Subscription entries exist only for active outbound webhooks, one per subscribed event, so
//! the delivery function finds "active webhooks of this account for this event" with a single
//! Query. They are written in the same transaction as the webhook, conditional on its version.
//! Writes that touch no entry use a plain conditional PutItem/DeleteItem (half the cost of a
//! transaction).

use std::collections::HashMap;

use aws_sdk_dynamodb::error::{DisplayErrorContext, SdkError};
use aws_sdk_dynamodb::operation::delete_item::DeleteItemError;
use aws_sdk_dynamodb::operation::put_item::PutItemError;
use aws_sdk_dynamodb::types::{
    AttributeDefinition, AttributeValue, BillingMode, Delete, KeySchemaElement, KeyType, Put,
    ScalarAttributeType, TimeToLiveSpecification, TransactWriteItem,
};
use aws_sdk_dynamodb::Client;
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

use super::*;
use crate::model::{Attempt, Delivery, DeliveryStatus};

/// The attribute DynamoDB's TTL reads (epoch seconds) on items that expire (logs, e-mail locks).
pub const TTL_ATTRIBUTE: &str = "expiresAt";
/// A safety stop for reading every page of one key: far beyond any account's data (a page is up
/// to 1 MB), and an error when reached, never a silently short answer.
const MAX_QUERY_PAGES: usize = 10_000;

#[derive(Clone, Debug)]
pub struct DynamoStore {
    client: Client,
    table: String,
}

pub type Item = HashMap<String, AttributeValue>;

fn s(v: impl Into<String>) -> AttributeValue {
    AttributeValue::S(v.into())
}

fn n(v: impl ToString) -> AttributeValue {
    AttributeValue::N(v.to_string())
}

fn account_pk(account_id: &str) -> String {
    format!("ACCT#{account_id}")
}

fn webhook_sk(id: &str) -> String {
    format!("WH#{id}")
}

fn subscription_pk(account_id: &str, event: EventType) -> String {
    format!("ACCT#{account_id}#EVT#{}", event.as_str())
}

fn api_key_pk(hash: &str) -> String {
    format!("APIKEY#{hash}")
}

fn backend<E, R>(err: SdkError<E, R>) -> StoreError
where
    E: std::error::Error + 'static,
    R: std::fmt::Debug,
{
    StoreError::Backend(DisplayErrorContext(&err).to_string())
}

/// The outcome of a single conditional write: a failed condition is `Conflict`.
fn conditional<T, E, R>(
    sent: Result<T, SdkError<E, R>>,
    failed_condition: fn(&E) -> bool,
) -> StoreResult<()>
where
    E: std::error::Error + 'static,
    R: std::fmt::Debug,
{
    match sent {
        Ok(_) => Ok(()),
        Err(err) if err.as_service_error().is_some_and(failed_condition) => {
            Err(StoreError::Conflict)
        }
        Err(err) => Err(backend(err)),
    }
}

fn get_s<'a>(item: &'a Item, name: &str) -> StoreResult<&'a str> {
    item.get(name)
        .and_then(|v| v.as_s().ok())
        .map(String::as_str)
        .ok_or_else(|| StoreError::Corrupt(format!("item lacks string attribute {name}")))
}

fn time_attr(t: OffsetDateTime) -> AttributeValue {
    s(t.format(&Rfc3339).expect("RFC 3339 formats any date"))
}

fn parse_time(item: &Item, name: &str) -> StoreResult<OffsetDateTime> {
    OffsetDateTime::parse(get_s(item, name)?, &Rfc3339)
        .map_err(|e| StoreError::Corrupt(format!("{name}: {e}")))
}

impl DynamoStore {
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        Self {
            client,
            table: table.into(),
        }
    }

    pub fn from_sdk_config(sdk: &aws_config::SdkConfig, table: impl Into<String>) -> Self {
        Self::new(Client::new(sdk), table)
    }

    pub fn client(&self) -> &Client {
        &self.client
    }

    pub fn table(&self) -> &str {
        &self.table
    }

    fn doc(webhook: &Webhook) -> AttributeValue {
        s(serde_json::to_string(webhook).expect("a webhook always serialises"))
    }

    fn webhook_item(webhook: &Webhook) -> Item {
        HashMap::from([
            ("pk".into(), s(account_pk(&webhook.account_id))),
            ("sk".into(), s(webhook_sk(&webhook.id))),
            ("kind".into(), s("webhook")),
            ("version".into(), n(webhook.version)),
            ("flow".into(), s(webhook.flow().as_str())),
            ("status".into(), s(webhook.status.as_str())),
            ("doc".into(), Self::doc(webhook)),
        ])
    }

    fn subscription_item(webhook: &Webhook, event: EventType) -> Item {
        HashMap::from([
            ("pk".into(), s(subscription_pk(&webhook.account_id, event))),
            ("sk".into(), s(webhook_sk(&webhook.id))),
            ("kind".into(), s("subscription")),
            ("version".into(), n(webhook.version)),
            ("doc".into(), Self::doc(webhook)),
        ])
    }

    fn parse_webhook(item: &Item) -> StoreResult<Webhook> {
        serde_json::from_str(get_s(item, "doc")?)
            .map_err(|e| StoreError::Corrupt(format!("webhook doc: {e}")))
    }

    fn put(&self, item: Item, condition: &str, values: Option<Item>) -> TransactWriteItem {
        let put = Put::builder()
            .table_name(&self.table)
            .set_item(Some(item))
            .condition_expression(condition)
            .set_expression_attribute_values(values)
            .build()
            .expect("table, item and condition are set");
        TransactWriteItem::builder().put(put).build()
    }

    fn delete(&self, pk: String, sk: String) -> TransactWriteItem {
        let delete = Delete::builder()
            .table_name(&self.table)
            .key("pk", s(pk))
            .key("sk", s(sk))
            .build()
            .expect("table and key are set");
        TransactWriteItem::builder().delete(delete).build()
    }

    fn put_subscriptions(&self, webhook: &Webhook) -> Vec<TransactWriteItem> {
        webhook
            .indexed_events()
            .iter()
            .map(|e| {
                let put = Put::builder()
                    .table_name(&self.table)
                    .set_item(Some(Self::subscription_item(webhook, *e)))
                    .build()
                    .expect("table and item are set");
                TransactWriteItem::builder().put(put).build()
            })
            .collect()
    }

    /// Runs a transaction; a failed condition becomes `Conflict`.
    async fn transact(&self, items: Vec<TransactWriteItem>) -> StoreResult<()> {
        use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
        match self
            .client
            .transact_write_items()
            .set_transact_items(Some(items))
            .send()
            .await
        {
            Ok(_) => Ok(()),
            Err(err) => match err.as_service_error() {
                Some(TransactWriteItemsError::TransactionCanceledException(e))
                    if e.cancellation_reasons()
                        .iter()
                        .any(|r| r.code() == Some("ConditionalCheckFailed")) =>
                {
                    Err(StoreError::Conflict)
                }
                _ => Err(backend(err)),
            },
        }
    }

    /// Every page of a query; `query` builds it afresh for each page.
    async fn all_pages(
        &self,
        query: impl Fn() -> aws_sdk_dynamodb::operation::query::builders::QueryFluentBuilder,
    ) -> StoreResult<Vec<aws_sdk_dynamodb::operation::query::QueryOutput>> {
        let mut pages = Vec::new();
        let mut start_key: Option<Item> = None;
        for _ in 0..MAX_QUERY_PAGES {
            let out = query()
                .set_exclusive_start_key(start_key.take())
                .send()
                .await
                .map_err(backend)?;
            start_key = out.last_evaluated_key().cloned();
            pages.push(out);
            if start_key.is_none() {
                return Ok(pages);
            }
        }
        Err(StoreError::Backend(format!(
            "a query ran past {MAX_QUERY_PAGES} pages"
        )))
    }

    /// One Query response as a `RawPage`: its items parsed, and the sort key it stopped at.
    fn raw_page<T>(
        out: &aws_sdk_dynamodb::operation::query::QueryOutput,
        parse: impl Fn(&Item) -> StoreResult<T>,
    ) -> StoreResult<RawPage<T>> {
        Ok(RawPage {
            items: out.items().iter().map(parse).collect::<StoreResult<_>>()?,
            last_evaluated: out
                .last_evaluated_key()
                .and_then(|key| key.get("sk"))
                .and_then(|sk| sk.as_s().ok())
                .cloned(),
        })
    }

    /// After a failed condition on an existing webhook: was it changed, or deleted?
    async fn conflict_or_gone(&self, current: &Webhook) -> StoreError {
        match self.get_webhook(&current.account_id, &current.id).await {
            Ok(Some(_)) => StoreError::Conflict,
            Ok(None) => StoreError::NotFound,
            Err(e) => e,
        }
    }

    /// Creates the table if it does not exist (local runs and tests; deployed stacks get it
    /// from the SAM template), with TTL on `expiresAt`.
    pub async fn create_table(&self) -> StoreResult<()> {
        let key = |name: &str, kind| {
            KeySchemaElement::builder()
                .attribute_name(name)
                .key_type(kind)
                .build()
        };
        let attr = |name: &str| {
            AttributeDefinition::builder()
                .attribute_name(name)
                .attribute_type(ScalarAttributeType::S)
                .build()
        };
        let created = self
            .client
            .create_table()
            .table_name(&self.table)
            .billing_mode(BillingMode::PayPerRequest)
            .key_schema(key("pk", KeyType::Hash).expect("key fields set"))
            .key_schema(key("sk", KeyType::Range).expect("key fields set"))
            .attribute_definitions(attr("pk").expect("attr fields set"))
            .attribute_definitions(attr("sk").expect("attr fields set"))
            .send()
            .await;
        match created {
            Ok(_) => {}
            Err(err)
                if err
                    .as_service_error()
                    .is_some_and(|e| e.is_resource_in_use_exception()) =>
            {
                return Ok(())
            }
            Err(err) => return Err(backend(err)),
        }
        self.client
            .update_time_to_live()
            .table_name(&self.table)
            .time_to_live_specification(
                TimeToLiveSpecification::builder()
                    .attribute_name(TTL_ATTRIBUTE)
                    .enabled(true)
                    .build()
                    .expect("ttl fields set"),
            )
            .send()
            .await
            .map_err(backend)?;
        Ok(())
    }
}

impl WebhookStore for DynamoStore {
    async fn create_webhook(&self, webhook: &Webhook) -> StoreResult<()> {
        let condition = "attribute_not_exists(pk)";
        if webhook.indexed_events().is_empty() {
            let sent = self
                .client
                .put_item()
                .table_name(&self.table)
                .set_item(Some(Self::webhook_item(webhook)))
                .condition_expression(condition)
                .send()
                .await;
            return conditional(sent, PutItemError::is_conditional_check_failed_exception);
        }
        let mut items = vec![self.put(Self::webhook_item(webhook), condition, None)];
        items.extend(self.put_subscriptions(webhook));
        self.transact(items).await
    }

    async fn get_webhook(&self, account_id: &str, id: &str) -> StoreResult<Option<Webhook>> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .key("pk", s(account_pk(account_id)))
            .key("sk", s(webhook_sk(id)))
            .consistent_read(true)
            .send()
            .await
            .map_err(backend)?;
        out.item().map(Self::parse_webhook).transpose()
    }

    async fn update_webhook(&self, current: &Webhook, next: &Webhook) -> StoreResult<()> {
        let condition = "version = :expected";
        let values = HashMap::from([(":expected".to_string(), n(current.version))]);
        let result = if current.indexed_events().is_empty() && next.indexed_events().is_empty() {
            let sent = self
                .client
                .put_item()
                .table_name(&self.table)
                .set_item(Some(Self::webhook_item(next)))
                .condition_expression(condition)
                .set_expression_attribute_values(Some(values))
                .send()
                .await;
            conditional(sent, PutItemError::is_conditional_check_failed_exception)
        } else {
            let mut items = vec![self.put(Self::webhook_item(next), condition, Some(values))];
            for gone in current
                .indexed_events()
                .iter()
                .filter(|e| !next.indexed_events().contains(e))
            {
                items.push(self.delete(
                    subscription_pk(&current.account_id, *gone),
                    webhook_sk(&current.id),
                ));
            }
            items.extend(self.put_subscriptions(next));
            self.transact(items).await
        };
        match result {
            Err(StoreError::Conflict) => Err(self.conflict_or_gone(current).await),
            other => other,
        }
    }

    async fn delete_webhook(&self, current: &Webhook) -> StoreResult<()> {
        let condition = "version = :expected";
        let values = HashMap::from([(":expected".to_string(), n(current.version))]);
        let result = if current.indexed_events().is_empty() {
            let sent = self
                .client
                .delete_item()
                .table_name(&self.table)
                .key("pk", s(account_pk(&current.account_id)))
                .key("sk", s(webhook_sk(&current.id)))
                .condition_expression(condition)
                .set_expression_attribute_values(Some(values))
                .send()
                .await;
            conditional(sent, DeleteItemError::is_conditional_check_failed_exception)
        } else {
            let main = Delete::builder()
                .table_name(&self.table)
                .key("pk", s(account_pk(&current.account_id)))
                .key("sk", s(webhook_sk(&current.id)))
                .condition_expression(condition)
                .set_expression_attribute_values(Some(values))
                .build()
                .expect("table and key are set");
            let mut items = vec![TransactWriteItem::builder().delete(main).build()];
            for event in current.indexed_events() {
                items.push(self.delete(
                    subscription_pk(&current.account_id, *event),
                    webhook_sk(&current.id),
                ));
            }
            self.transact(items).await
        };
        match result {
            Err(StoreError::Conflict) => Err(self.conflict_or_gone(current).await),
            other => other,
        }
    }

    async fn count_webhooks(&self, account_id: &str) -> StoreResult<usize> {
        let pages = self
            .all_pages(|| {
                self.client
                    .query()
                    .table_name(&self.table)
                    .key_condition_expression("pk = :pk AND begins_with(sk, :prefix)")
                    .expression_attribute_values(":pk", s(account_pk(account_id)))
                    .expression_attribute_values(":prefix", s("WH#"))
                    .select(aws_sdk_dynamodb::types::Select::Count)
                    .consistent_read(true)
            })
            .await?;
        Ok(pages.iter().map(|p| p.count().max(0) as usize).sum())
    }

    async fn list_webhooks(
        &self,
        account_id: &str,
        filter: &ListFilter,
    ) -> StoreResult<Page<Webhook>> {
        // Ids are ULIDs (0-9, A-Z), so "WH#~" sorts after every webhook of the account.
        let low = webhook_sk(filter.after.as_deref().unwrap_or(""));
        let mut names = HashMap::new();
        let mut values = HashMap::from([
            (":pk".to_string(), s(account_pk(account_id))),
            (":low".to_string(), s(low)),
            (":high".to_string(), s("WH#~")),
        ]);
        let mut conditions = Vec::new();
        if let Some(flow) = filter.flow {
            names.insert("#flow".to_string(), "flow".to_string());
            values.insert(":flow".to_string(), s(flow.as_str()));
            conditions.push("#flow = :flow");
        }
        if let Some(status) = filter.status {
            names.insert("#status".to_string(), "status".to_string());
            values.insert(":status".to_string(), s(status.as_str()));
            conditions.push("#status = :status");
        }
        let filter_expr = (!conditions.is_empty()).then(|| conditions.join(" AND "));
        let names = (!names.is_empty()).then_some(names);
        let pk = account_pk(account_id);
        collect_page(
            filter.limit,
            MAX_READS_PER_PAGE,
            |w: &Webhook| &w.id,
            |start: Option<String>| {
                let query = self
                    .client
                    .query()
                    .table_name(&self.table)
                    .key_condition_expression("pk = :pk AND sk BETWEEN :low AND :high")
                    .set_filter_expression(filter_expr.clone())
                    .set_expression_attribute_names(names.clone())
                    .set_expression_attribute_values(Some(values.clone()))
                    .set_exclusive_start_key(start.map(|id| {
                        HashMap::from([
                            ("pk".to_string(), s(&pk)),
                            ("sk".to_string(), s(webhook_sk(&id))),
                        ])
                    }))
                    // One more than asked, to know whether another page follows.
                    .limit((filter.limit + 2) as i32)
                    .consistent_read(true);
                async move {
                    let out = query.send().await.map_err(backend)?;
                    let mut page = Self::raw_page(&out, Self::parse_webhook)?;
                    // The range starts at `after` itself, which the previous page returned.
                    page.items
                        .retain(|w| filter.after.as_deref() != Some(w.id.as_str()));
                    page.last_evaluated = page
                        .last_evaluated
                        .map(|sk| sk.trim_start_matches("WH#").to_string());
                    Ok(page)
                }
            },
        )
        .await
    }
}

impl SubscriptionIndex for DynamoStore {
    async fn subscribers(
        &self,
        account_id: &str,
        event: EventType,
    ) -> StoreResult<Vec<Subscriber>> {
        let pages = self
            .all_pages(|| {
                self.client
                    .query()
                    .table_name(&self.table)
                    .key_condition_expression("pk = :pk")
                    .expression_attribute_values(":pk", s(subscription_pk(account_id, event)))
            })
            .await?;
        pages
            .iter()
            .flat_map(|p| p.items())
            .map(|item| {
                let marked = |mark: Mark| {
                    item.get(mark.attribute())
                        .and_then(|v| v.as_bool().ok())
                        .copied()
                        .unwrap_or(false)
                };
                Ok(Subscriber {
                    webhook: Self::parse_webhook(item)?,
                    failing: marked(Mark::Failing),
                    slow: marked(Mark::Slow),
                })
            })
            .collect()
    }

    async fn active_webhooks_for(
        &self,
        account_id: &str,
        event: EventType,
    ) -> StoreResult<Vec<Webhook>> {
        let pages = self
            .all_pages(|| {
                self.client
                    .query()
                    .table_name(&self.table)
                    .key_condition_expression("pk = :pk")
                    .expression_attribute_values(":pk", s(subscription_pk(account_id, event)))
            })
            .await?;
        pages
            .iter()
            .flat_map(|p| p.items())
            .map(Self::parse_webhook)
            .collect()
    }
}

impl DynamoStore {
    fn parse_key(item: &Item, key_hash: Option<&str>) -> StoreResult<ApiKeyRecord> {
        Ok(ApiKeyRecord {
            key_id: get_s(item, "keyId")?.to_string(),
            account_id: get_s(item, "accountId")?.to_string(),
            key_hash: match key_hash {
                Some(h) => h.to_string(),
                None => get_s(item, "keyHash")?.to_string(),
            },
            name: get_s(item, "name")?.to_string(),
            scope: KeyScope::parse(get_s(item, "scope")?)
                .ok_or_else(|| StoreError::Corrupt("API key with an unknown scope".into()))?,
            created_at: parse_time(item, "createdAt")?,
        })
    }
}

impl ApiKeyStore for DynamoStore {
    async fn create_api_key(&self, record: &ApiKeyRecord) -> StoreResult<()> {
        let common = |pk: String, sk: String| -> Item {
            HashMap::from([
                ("pk".into(), s(pk)),
                ("sk".into(), s(sk)),
                ("kind".into(), s("apikey")),
                ("keyId".into(), s(&record.key_id)),
                ("accountId".into(), s(&record.account_id)),
                ("keyHash".into(), s(&record.key_hash)),
                ("name".into(), s(&record.name)),
                ("scope".into(), s(record.scope.as_str())),
                ("createdAt".into(), time_attr(record.created_at)),
            ])
        };
        let condition = "attribute_not_exists(pk)";
        self.transact(vec![
            self.put(
                common(api_key_pk(&record.key_hash), "APIKEY".into()),
                condition,
                None,
            ),
            self.put(
                common(
                    account_pk(&record.account_id),
                    format!("KEY#{}", record.key_id),
                ),
                condition,
                None,
            ),
        ])
        .await
    }

    async fn find_api_key(&self, key_hash: &str) -> StoreResult<Option<ApiKeyRecord>> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .key("pk", s(api_key_pk(key_hash)))
            .key("sk", s("APIKEY"))
            .send()
            .await
            .map_err(backend)?;
        out.item()
            .map(|item| Self::parse_key(item, Some(key_hash)))
            .transpose()
    }

    async fn list_api_keys(&self, account_id: &str) -> StoreResult<Vec<ApiKeyRecord>> {
        let pages = self
            .all_pages(|| {
                self.client
                    .query()
                    .table_name(&self.table)
                    .key_condition_expression("pk = :pk AND begins_with(sk, :prefix)")
                    .expression_attribute_values(":pk", s(account_pk(account_id)))
                    .expression_attribute_values(":prefix", s("KEY#"))
                    .consistent_read(true)
            })
            .await?;
        pages
            .iter()
            .flat_map(|p| p.items())
            .map(|item| Self::parse_key(item, None))
            .collect()
    }

    async fn revoke_api_key(&self, account_id: &str, key_id: &str) -> StoreResult<()> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .key("pk", s(account_pk(account_id)))
            .key("sk", s(format!("KEY#{key_id}")))
            .consistent_read(true)
            .send()
            .await
            .map_err(backend)?;
        let item = out.item().ok_or(StoreError::NotFound)?;
        let hash = get_s(item, "keyHash")?.to_string();
        // The lookup item goes first: once it is gone the key no longer authenticates.
        match self
            .transact(vec![
                self.delete(api_key_pk(&hash), "APIKEY".into()),
                self.delete(account_pk(account_id), format!("KEY#{key_id}")),
            ])
            .await
        {
            Err(StoreError::Conflict) => Err(StoreError::NotFound),
            other => other,
        }
    }
}

fn epoch(t: OffsetDateTime) -> AttributeValue {
    n(t.unix_timestamp())
}

impl NoticeGate for DynamoStore {
    async fn claim_notice(
        &self,
        account_id: &str,
        webhook_id: &str,
        kind: &str,
        now: OffsetDateTime,
        window: time::Duration,
        claim: &NoticeClaim,
    ) -> StoreResult<NoticeGrant> {
        // TTL deletion lags by up to days, so the condition reads the expiry itself.
        let sent = self
            .client
            .put_item()
            .table_name(&self.table)
            .item("pk", s(format!("NOTICE#{account_id}#{webhook_id}")))
            .item("sk", s(kind))
            .item(TTL_ATTRIBUTE, epoch(now + window))
            .item("claimToken", s(&claim.notice))
            .item("holder", s(&claim.holder))
            .item("holderUntil", epoch_ms(claim.until))
            .condition_expression(
                "attribute_not_exists(pk) OR #exp <= :now OR (claimToken = :notice \
                 AND attribute_not_exists(sent) AND (holderUntil <= :now_ms OR holder = :holder))",
            )
            .expression_attribute_names("#exp", TTL_ATTRIBUTE)
            .expression_attribute_values(":now", epoch(now))
            .expression_attribute_values(":now_ms", epoch_ms(now))
            .expression_attribute_values(":notice", s(&claim.notice))
            .expression_attribute_values(":holder", s(&claim.holder))
            .send()
            .await;
        match conditional(sent, PutItemError::is_conditional_check_failed_exception) {
            Ok(()) => Ok(NoticeGrant::Granted),
            Err(StoreError::Conflict) => {
                // Refused: by this same notice, held by another run (it may yet fail), or not.
                let out = self
                    .client
                    .get_item()
                    .table_name(&self.table)
                    .key("pk", s(format!("NOTICE#{account_id}#{webhook_id}")))
                    .key("sk", s(kind))
                    .consistent_read(true)
                    .send()
                    .await
                    .map_err(backend)?;
                let item = out.item();
                let ours = item
                    .and_then(|i| i.get("claimToken"))
                    .and_then(|v| v.as_s().ok())
                    .is_some_and(|t| *t == claim.notice);
                let sent = item.is_some_and(|i| i.contains_key("sent"));
                match (ours, sent, item.and_then(|i| get_n(i, "holderUntil"))) {
                    (true, false, Some(ms)) => Ok(NoticeGrant::Held(from_ms(ms)?)),
                    _ => Ok(NoticeGrant::Taken),
                }
            }
            Err(e) => Err(e),
        }
    }

    async fn notice_sent(
        &self,
        account_id: &str,
        webhook_id: &str,
        kind: &str,
        token: &str,
    ) -> StoreResult<()> {
        let sent = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("pk", s(format!("NOTICE#{account_id}#{webhook_id}")))
            .key("sk", s(kind))
            .update_expression("SET sent = :yes")
            .condition_expression("claimToken = :token")
            .expression_attribute_values(":yes", AttributeValue::Bool(true))
            .expression_attribute_values(":token", s(token))
            .send()
            .await;
        use aws_sdk_dynamodb::operation::update_item::UpdateItemError;
        match conditional(sent, UpdateItemError::is_conditional_check_failed_exception) {
            // Another claim replaced ours (the window ended): nothing to mark.
            Ok(()) | Err(StoreError::Conflict) => Ok(()),
            Err(e) => Err(e),
        }
    }
}

impl ActivityLog for DynamoStore {
    async fn record_activity(
        &self,
        account_id: &str,
        webhook_id: &str,
        entry: &ActivityEntry,
        expires_at: OffsetDateTime,
    ) -> StoreResult<()> {
        let doc = serde_json::to_string(entry).expect("an activity entry always serialises");
        self.client
            .put_item()
            .table_name(&self.table)
            .item("pk", s(format!("LOG#{account_id}#{webhook_id}")))
            .item("sk", s(&entry.id))
            .item("doc", s(doc))
            .item(TTL_ATTRIBUTE, epoch(expires_at))
            .send()
            .await
            .map_err(backend)?;
        Ok(())
    }

    async fn list_activity(
        &self,
        account_id: &str,
        webhook_id: &str,
        limit: usize,
        before: Option<&str>,
    ) -> StoreResult<Page<ActivityEntry>> {
        let pk = format!("LOG#{account_id}#{webhook_id}");
        collect_page(
            limit,
            MAX_READS_PER_PAGE,
            |e: &ActivityEntry| &e.id,
            |start| {
                let query = self.newest_first(&pk, before, start, limit);
                async move {
                    let out = query.send().await.map_err(backend)?;
                    Self::raw_page(&out, |item| {
                        serde_json::from_str(get_s(item, "doc")?)
                            .map_err(|e| StoreError::Corrupt(format!("activity doc: {e}")))
                    })
                }
            },
        )
        .await
    }
}

impl DynamoStore {
    /// A Query of partition `pk`, newest sort key first, below `before` (exclusive), resuming
    /// after `start`; `limit + 1` items per response, to know whether another page follows.
    fn newest_first(
        &self,
        pk: &str,
        before: Option<&str>,
        start: Option<String>,
        limit: usize,
    ) -> aws_sdk_dynamodb::operation::query::builders::QueryFluentBuilder {
        let query =
            self.client
                .query()
                .table_name(&self.table)
                .expression_attribute_values(":pk", s(pk))
                .scan_index_forward(false)
                .limit(limit as i32 + 1)
                .set_exclusive_start_key(start.map(|sk| {
                    HashMap::from([("pk".to_string(), s(pk)), ("sk".to_string(), s(sk))])
                }));
        match before {
            Some(b) => query
                .key_condition_expression("pk = :pk AND sk < :before")
                .expression_attribute_values(":before", s(b)),
            None => query.key_condition_expression("pk = :pk"),
        }
    }
}

fn epoch_ms(t: OffsetDateTime) -> AttributeValue {
    n(t.unix_timestamp_nanos() / 1_000_000)
}

fn get_n(item: &Item, name: &str) -> Option<i128> {
    item.get(name)
        .and_then(|v| v.as_n().ok())
        .and_then(|v| v.parse().ok())
}

fn from_ms(ms: i128) -> StoreResult<OffsetDateTime> {
    OffsetDateTime::from_unix_timestamp_nanos(ms * 1_000_000)
        .map_err(|e| StoreError::Corrupt(e.to_string()))
}

fn delivery_pk(account_id: &str, webhook_id: &str) -> String {
    format!("DLV#{account_id}#{webhook_id}")
}

/// A delivery as stored: what `claim_delivery` writes, and what the item holds after
/// `record_attempt` (then without a lease, with the lease that recorded last and `expires_at`).
pub fn delivery_item(
    delivery: &Delivery,
    lease: Option<&Lease>,
    last_lease: Option<&str>,
    expires_at: Option<OffsetDateTime>,
) -> Item {
    // The event's reference, or the whole event when the record keeps its data (v1's format).
    let event = match delivery.stored_event() {
        Some(event) => serde_json::to_string(&event),
        None => serde_json::to_string(&delivery.event),
    }
    .expect("events always serialise");
    let attempts = delivery
        .attempts
        .iter()
        .map(|a| s(serde_json::to_string(a).expect("attempts always serialise")))
        .collect();
    let mut item = HashMap::from([
        (
            "pk".to_string(),
            s(delivery_pk(&delivery.account_id, &delivery.webhook_id)),
        ),
        ("sk".into(), s(&delivery.id)),
        ("accountId".into(), s(&delivery.account_id)),
        ("webhookId".into(), s(&delivery.webhook_id)),
        ("event".into(), s(event)),
        ("status".into(), s(delivery.status.as_str())),
        ("attempts".into(), AttributeValue::L(attempts)),
        ("createdAt".into(), time_attr(delivery.created_at)),
    ]);
    if let Some(lease) = lease {
        item.insert("leaseToken".into(), s(&lease.token));
        item.insert("leaseUntil".into(), epoch_ms(lease.until));
    }
    if let Some(next) = delivery.next_attempt_at {
        item.insert("nextAttemptAt".into(), epoch_ms(next));
    }
    if let Some(last) = last_lease {
        item.insert("lastLease".into(), s(last));
    }
    if let Some(expires) = expires_at {
        item.insert(TTL_ATTRIBUTE.into(), epoch(expires));
    }
    item
}

/// DynamoDB's largest item ("Service, account, and table quotas": 400 KB, names and values).
pub const MAX_ITEM_BYTES: usize = 400 * 1024;

/// An item's size as DynamoDB counts it ("Item sizes and formats"): each attribute's name plus
/// its value; strings and binaries by their bytes, numbers about one byte per two significant
/// digits plus one, lists and maps 3 bytes plus one per element plus their elements.
pub fn item_size(item: &Item) -> usize {
    item.iter()
        .map(|(name, v)| name.len() + value_size(v))
        .sum()
}

fn value_size(v: &AttributeValue) -> usize {
    match v {
        AttributeValue::S(text) => text.len(),
        AttributeValue::N(number) => number_size(number),
        AttributeValue::B(blob) => blob.as_ref().len(),
        AttributeValue::Bool(_) | AttributeValue::Null(_) => 1,
        AttributeValue::L(list) => 3 + list.iter().map(|e| 1 + value_size(e)).sum::<usize>(),
        AttributeValue::M(map) => {
            3 + map
                .iter()
                .map(|(k, e)| 1 + k.len() + value_size(e))
                .sum::<usize>()
        }
        AttributeValue::Ss(set) => set.iter().map(String::len).sum(),
        AttributeValue::Ns(set) => set.iter().map(|n| number_size(n)).sum(),
        AttributeValue::Bs(set) => set.iter().map(|b| b.as_ref().len()).sum(),
        _ => 0,
    }
}

fn number_size(number: &str) -> usize {
    let digits: String = number.chars().filter(char::is_ascii_digit).collect();
    let significant = digits.trim_start_matches('0').trim_end_matches('0').len();
    significant.div_ceil(2) + 1
}

impl DynamoStore {
    fn parse_delivery(item: &Item) -> StoreResult<Delivery> {
        let corrupt = |what: &str, e: &dyn std::fmt::Display| {
            StoreError::Corrupt(format!("delivery {what}: {e}"))
        };
        let attempts = match item.get("attempts") {
            Some(AttributeValue::L(list)) => list
                .iter()
                .map(|v| {
                    let text = v.as_s().map_err(|_| {
                        StoreError::Corrupt("delivery attempt is not a string".into())
                    })?;
                    serde_json::from_str::<Attempt>(text).map_err(|e| corrupt("attempt", &e))
                })
                .collect::<StoreResult<Vec<_>>>()?,
            _ => Vec::new(),
        };
        let event = get_s(item, "event")?;
        Ok(Delivery {
            id: get_s(item, "sk")?.to_string(),
            account_id: get_s(item, "accountId")?.to_string(),
            webhook_id: get_s(item, "webhookId")?.to_string(),
            event: serde_json::from_str(event).map_err(|e| corrupt("event", &e))?,
            legacy_data: serde_json::from_str::<serde_json::Value>(event)
                .map_err(|e| corrupt("event", &e))?
                .get("data")
                .cloned(),
            status: DeliveryStatus::parse(get_s(item, "status")?)
                .ok_or_else(|| StoreError::Corrupt("delivery status".into()))?,
            attempts,
            next_attempt_at: get_n(item, "nextAttemptAt").map(from_ms).transpose()?,
            created_at: parse_time(item, "createdAt")?,
        })
    }

    async fn current_delivery(
        &self,
        account_id: &str,
        webhook_id: &str,
        delivery_id: &str,
    ) -> StoreResult<Claim> {
        Ok(Claim::Busy(
            self.get_delivery(account_id, webhook_id, delivery_id)
                .await?,
        ))
    }
}

impl DeliveryStore for DynamoStore {
    async fn claim_delivery(
        &self,
        delivery: Delivery,
        lease: &Lease,
        now: OffsetDateTime,
        expires_at: OffsetDateTime,
    ) -> StoreResult<Claim> {
        let sent = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(delivery_item(
                &delivery,
                Some(lease),
                None,
                Some(expires_at),
            )))
            .condition_expression("attribute_not_exists(pk)")
            .send()
            .await;
        match conditional(sent, PutItemError::is_conditional_check_failed_exception) {
            Ok(()) => Ok(Claim::Claimed(delivery)),
            Err(StoreError::Conflict) => {
                self.claim_existing(
                    &delivery.account_id,
                    &delivery.webhook_id,
                    &delivery.id,
                    lease,
                    now,
                    false,
                )
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
        use aws_sdk_dynamodb::operation::update_item::UpdateItemError;
        // Our own lease counts as free: a claim write whose answer was lost (and which the SDK
        // then retried into a failed condition) must still be ours, or nobody would send it.
        let unleased =
            "(attribute_not_exists(leaseUntil) OR leaseUntil <= :now OR leaseToken = :lease)";
        let condition = if manual {
            format!("attribute_exists(pk) AND {unleased}")
        } else {
            format!(
                "attribute_exists(pk) AND {unleased} AND #status = :pending \
                 AND (attribute_not_exists(nextAttemptAt) OR nextAttemptAt <= :now)"
            )
        };
        let mut update = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("pk", s(delivery_pk(account_id, webhook_id)))
            .key("sk", s(delivery_id))
            .update_expression("SET leaseToken = :lease, leaseUntil = :until")
            .condition_expression(condition)
            .expression_attribute_values(":lease", s(&lease.token))
            .expression_attribute_values(":until", epoch_ms(lease.until))
            .expression_attribute_values(":now", epoch_ms(now))
            .return_values(aws_sdk_dynamodb::types::ReturnValue::AllNew);
        if !manual {
            update = update
                .expression_attribute_names("#status", "status")
                .expression_attribute_values(":pending", s(DeliveryStatus::Pending.as_str()));
        }
        match update.send().await {
            Ok(out) => match out.attributes() {
                Some(item) => Ok(Claim::Claimed(Self::parse_delivery(item)?)),
                None => Err(StoreError::Corrupt(
                    "claimed delivery came back empty".into(),
                )),
            },
            Err(err)
                if err
                    .as_service_error()
                    .is_some_and(UpdateItemError::is_conditional_check_failed_exception) =>
            {
                self.current_delivery(account_id, webhook_id, delivery_id)
                    .await
            }
            Err(err) => Err(backend(err)),
        }
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
        use aws_sdk_dynamodb::operation::update_item::UpdateItemError;
        let attempt = serde_json::to_string(attempt).expect("attempts always serialise");
        let (set_next, remove_next) = match next_attempt_at {
            Some(_) => (", nextAttemptAt = :next", ""),
            None => ("", ", nextAttemptAt"),
        };
        let mut update = self
            .client
            .update_item()
            .table_name(&self.table)
            .key(
                "pk",
                s(delivery_pk(&delivery.account_id, &delivery.webhook_id)),
            )
            .key("sk", s(&delivery.id))
            // `lastLease` lets a retried request recognise its own committed write.
            .update_expression(format!(
                "SET attempts = list_append(attempts, :attempt), #status = :status, #exp = :exp, \
                 lastLease = :lease{set_next} REMOVE leaseToken, leaseUntil{remove_next}"
            ))
            .condition_expression("leaseToken = :lease")
            .expression_attribute_names("#status", "status")
            .expression_attribute_names("#exp", TTL_ATTRIBUTE)
            .expression_attribute_values(":attempt", AttributeValue::L(vec![s(attempt)]))
            .expression_attribute_values(":status", s(status.as_str()))
            .expression_attribute_values(":exp", epoch(expires_at))
            .expression_attribute_values(":lease", s(lease));
        if let Some(next) = next_attempt_at {
            update = update.expression_attribute_values(":next", epoch_ms(next));
        }
        match conditional(
            update.send().await,
            UpdateItemError::is_conditional_check_failed_exception,
        ) {
            // The SDK retries a write whose reply was lost, and the retry fails the condition
            // its own first try changed: if this lease recorded last, the attempt is recorded.
            Err(StoreError::Conflict) => {
                let out = self
                    .client
                    .get_item()
                    .table_name(&self.table)
                    .key(
                        "pk",
                        s(delivery_pk(&delivery.account_id, &delivery.webhook_id)),
                    )
                    .key("sk", s(&delivery.id))
                    .projection_expression("lastLease")
                    .consistent_read(true)
                    .send()
                    .await
                    .map_err(backend)?;
                let recorded = out
                    .item()
                    .and_then(|item| item.get("lastLease"))
                    .and_then(|v| v.as_s().ok())
                    .is_some_and(|last| last == lease);
                if recorded {
                    Ok(())
                } else {
                    Err(StoreError::Conflict)
                }
            }
            other => other,
        }
    }

    async fn record_first(
        &self,
        delivery: &Delivery,
        token: &str,
        expires_at: OffsetDateTime,
    ) -> StoreResult<FirstRecord> {
        let sent = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(delivery_item(
                delivery,
                None,
                Some(token),
                Some(expires_at),
            )))
            .condition_expression("attribute_not_exists(pk)")
            .send()
            .await;
        match conditional(sent, PutItemError::is_conditional_check_failed_exception) {
            Ok(()) => Ok(FirstRecord::Recorded),
            Err(StoreError::Conflict) => {
                let out = self
                    .client
                    .get_item()
                    .table_name(&self.table)
                    .key(
                        "pk",
                        s(delivery_pk(&delivery.account_id, &delivery.webhook_id)),
                    )
                    .key("sk", s(&delivery.id))
                    .consistent_read(true)
                    .send()
                    .await
                    .map_err(backend)?;
                let item = out
                    .item()
                    .ok_or_else(|| StoreError::Corrupt("delivery record vanished".into()))?;
                // The SDK's retry of our own write, whose first reply was lost.
                if item.get("lastLease").and_then(|v| v.as_s().ok()) == Some(&token.to_string()) {
                    return Ok(FirstRecord::Recorded);
                }
                Ok(FirstRecord::Exists(Box::new(Self::parse_delivery(item)?)))
            }
            Err(e) => Err(e),
        }
    }

    async fn get_delivery(
        &self,
        account_id: &str,
        webhook_id: &str,
        delivery_id: &str,
    ) -> StoreResult<Option<Delivery>> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .key("pk", s(delivery_pk(account_id, webhook_id)))
            .key("sk", s(delivery_id))
            .consistent_read(true)
            .send()
            .await
            .map_err(backend)?;
        out.item().map(Self::parse_delivery).transpose()
    }

    async fn list_deliveries(
        &self,
        account_id: &str,
        webhook_id: &str,
        status: Option<DeliveryStatus>,
        limit: usize,
        before: Option<&str>,
    ) -> StoreResult<Page<Delivery>> {
        let pk = delivery_pk(account_id, webhook_id);
        collect_page(
            limit,
            MAX_READS_PER_PAGE,
            |d: &Delivery| &d.id,
            |start| {
                let mut query = self.newest_first(&pk, before, start, limit);
                if let Some(status) = status {
                    // Applied after `Limit`: a response may come back short, or empty, with more
                    // after it; `collect_page` reads on.
                    query = query
                        .filter_expression("#status = :status")
                        .expression_attribute_names("#status", "status")
                        .expression_attribute_values(":status", s(status.as_str()));
                }
                async move {
                    let out = query.send().await.map_err(backend)?;
                    Self::raw_page(&out, Self::parse_delivery)
                }
            },
        )
        .await
    }
}

impl HealthStore for DynamoStore {
    async fn record_failure(
        &self,
        account_id: &str,
        webhook_id: &str,
        at: OffsetDateTime,
        attempt: &str,
    ) -> StoreResult<Health> {
        use aws_sdk_dynamodb::operation::update_item::UpdateItemError;
        let key = || {
            HashMap::from([
                ("pk".to_string(), s(format!("HEALTH#{account_id}"))),
                ("sk".to_string(), s(webhook_id)),
            ])
        };
        let sent = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key()))
            // A streak nobody ends (the webhook deleted) expires on its own. `lastFailure`
            // makes the SDK's retry of a committed count a no-op.
            .update_expression(
                "ADD consecutiveFailures :one SET failingSince = if_not_exists(failingSince, :at), \
                 #exp = :exp, lastFailure = :attempt",
            )
            .condition_expression("attribute_not_exists(lastFailure) OR lastFailure <> :attempt")
            .expression_attribute_names("#exp", TTL_ATTRIBUTE)
            .expression_attribute_values(":one", n(1))
            .expression_attribute_values(":at", epoch_ms(at))
            .expression_attribute_values(":exp", epoch(at + time::Duration::days(30)))
            .expression_attribute_values(":attempt", s(attempt))
            .return_values(aws_sdk_dynamodb::types::ReturnValue::AllNew)
            .send()
            .await;
        let item = match sent {
            Ok(out) => out
                .attributes()
                .cloned()
                .ok_or_else(|| StoreError::Corrupt("health came back empty".into()))?,
            Err(err)
                if err
                    .as_service_error()
                    .is_some_and(UpdateItemError::is_conditional_check_failed_exception) =>
            {
                self.client
                    .get_item()
                    .table_name(&self.table)
                    .set_key(Some(key()))
                    .consistent_read(true)
                    .send()
                    .await
                    .map_err(backend)?
                    .item()
                    .cloned()
                    .ok_or_else(|| StoreError::Corrupt("health vanished".into()))?
            }
            Err(err) => return Err(backend(err)),
        };
        let item = &item;
        Ok(Health {
            consecutive_failures: get_n(item, "consecutiveFailures")
                .unwrap_or(0)
                .clamp(0, u32::MAX as i128) as u32,
            failing_since: get_n(item, "failingSince").map(from_ms).transpose()?,
        })
    }

    async fn record_success(&self, account_id: &str, webhook_id: &str) -> StoreResult<bool> {
        let key = |b: aws_sdk_dynamodb::operation::get_item::builders::GetItemFluentBuilder| {
            b.key("pk", s(format!("HEALTH#{account_id}")))
                .key("sk", s(webhook_id))
        };
        let out = key(self.client.get_item().table_name(&self.table))
            .send()
            .await
            .map_err(backend)?;
        if out.item().is_none() {
            return Ok(false);
        }
        self.client
            .delete_item()
            .table_name(&self.table)
            .key("pk", s(format!("HEALTH#{account_id}")))
            .key("sk", s(webhook_id))
            .send()
            .await
            .map_err(backend)?;
        Ok(true)
    }

    async fn set_mark(&self, webhook: &Webhook, mark: Mark, on: bool) -> StoreResult<()> {
        use aws_sdk_dynamodb::operation::update_item::UpdateItemError;
        for event in webhook.indexed_events() {
            let update = self
                .client
                .update_item()
                .table_name(&self.table)
                .key("pk", s(subscription_pk(&webhook.account_id, *event)))
                .key("sk", s(webhook_sk(&webhook.id)))
                // Never recreates an entry a concurrent edit removed.
                .condition_expression("attribute_exists(pk)");
            let update = if on {
                update
                    .update_expression("SET #mark = :yes")
                    .expression_attribute_values(":yes", AttributeValue::Bool(true))
            } else {
                update.update_expression("REMOVE #mark")
            }
            .expression_attribute_names("#mark", mark.attribute());
            match conditional(
                update.send().await,
                UpdateItemError::is_conditional_check_failed_exception,
            ) {
                Ok(()) | Err(StoreError::Conflict) => {}
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }
}

impl EventStore for DynamoStore {
    async fn keep_event(
        &self,
        event: &crate::events::Event,
        expires_at: OffsetDateTime,
    ) -> StoreResult<Kept> {
        let pk = s(format!("EVT#{}", event.account_id));
        let data = serde_json::to_string(&event.data).expect("JSON values always serialise");
        let sent = self
            .client
            .put_item()
            .table_name(&self.table)
            .item("pk", pk.clone())
            .item("sk", s(&event.id))
            .item("occurredAt", epoch_ms(event.occurred_at))
            .item("type", s(event.event.as_str()))
            .item("data", s(data))
            .item(TTL_ATTRIBUTE, epoch(expires_at))
            .condition_expression("attribute_not_exists(pk)")
            .send()
            .await;
        match conditional(sent, PutItemError::is_conditional_check_failed_exception) {
            Ok(()) => Ok(Kept::New),
            Err(StoreError::Conflict) => {
                let out = self
                    .client
                    .get_item()
                    .table_name(&self.table)
                    .key("pk", pk)
                    .key("sk", s(&event.id))
                    .projection_expression("occurredAt, #type, queued")
                    .expression_attribute_names("#type", "type")
                    .consistent_read(true)
                    .send()
                    .await
                    .map_err(backend)?;
                let item = out
                    .item()
                    .ok_or_else(|| StoreError::Corrupt("event record vanished".into()))?;
                let ms = get_n(item, "occurredAt")
                    .ok_or_else(|| StoreError::Corrupt("event record without occurredAt".into()))?;
                // Records of v1's fan-out have no type: the id's type is the one published.
                let kind = match item.get("type").and_then(|v| v.as_s().ok()) {
                    Some(t) => EventType::parse(t)
                        .ok_or_else(|| StoreError::Corrupt(format!("event type {t}")))?,
                    None => event.event,
                };
                Ok(Kept::Existing {
                    first: crate::model::EventRef {
                        id: event.id.clone(),
                        event: kind,
                        occurred_at: from_ms(ms)?,
                    },
                    // v1's records are of events its fan-out had in hand.
                    queued: item.get("type").is_none()
                        || item
                            .get("queued")
                            .and_then(|v| v.as_bool().ok())
                            .copied()
                            .unwrap_or(false),
                })
            }
            Err(e) => Err(e),
        }
    }

    async fn mark_queued(&self, account_id: &str, event_id: &str) -> StoreResult<()> {
        use aws_sdk_dynamodb::operation::update_item::UpdateItemError;
        let sent = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("pk", s(format!("EVT#{account_id}")))
            .key("sk", s(event_id))
            .update_expression("SET queued = :yes")
            .condition_expression("attribute_exists(pk)")
            .expression_attribute_values(":yes", AttributeValue::Bool(true))
            .send()
            .await;
        match conditional(sent, UpdateItemError::is_conditional_check_failed_exception) {
            // Expired meanwhile: nothing left to mark.
            Ok(()) | Err(StoreError::Conflict) => Ok(()),
            Err(e) => Err(e),
        }
    }

    async fn find_event(
        &self,
        account_id: &str,
        event_id: &str,
    ) -> StoreResult<Option<crate::events::Event>> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .key("pk", s(format!("EVT#{account_id}")))
            .key("sk", s(event_id))
            // Kept moments before a retry or resend asks for it.
            .consistent_read(true)
            .send()
            .await
            .map_err(backend)?;
        let Some(item) = out.item() else {
            return Ok(None);
        };
        // v1's records of an id keep no data.
        let Some(data) = item.get("data").and_then(|v| v.as_s().ok()) else {
            return Ok(None);
        };
        let kind = get_s(item, "type")?;
        Ok(Some(crate::events::Event {
            id: event_id.to_string(),
            event: EventType::parse(kind)
                .ok_or_else(|| StoreError::Corrupt(format!("event type {kind}")))?,
            account_id: account_id.to_string(),
            occurred_at: from_ms(
                get_n(item, "occurredAt")
                    .ok_or_else(|| StoreError::Corrupt("event record without occurredAt".into()))?,
            )?,
            data: serde_json::from_str(data)
                .map_err(|e| StoreError::Corrupt(format!("event data: {e}")))?,
        }))
    }
}
