//! Webhooks and their subscription entries: `WebhookStore` and `SubscriptionIndex`.

use std::collections::HashMap;

use aws_sdk_dynamodb::operation::delete_item::DeleteItemError;
use aws_sdk_dynamodb::operation::put_item::PutItemError;
use aws_sdk_dynamodb::types::{AttributeValue, Delete, Put, TransactWriteItem, Update};

use super::keys::{self, account_pk, subscription_pk, webhook_sk};
use super::{backend, conditional, get_s, n, s, DynamoStore, Item};
use crate::model::{EventType, Mark, Subscriber, Webhook};
use crate::store::codec;
use crate::store::{
    collect_page, ListFilter, Page, RawPage, StoreError, StoreResult, SubscriptionIndex,
    WebhookStore, MAX_READS_PER_PAGE,
};

/// How a sealed `security` is stored in a webhook's doc: `{"sealed": "hks1...."}`.
const SEALED_SECURITY: &str = r#""security":{"sealed":"#;

impl DynamoStore {
    /// The webhook's stored JSON: its `security` sealed when the store has a sealer. One doc
    /// serves the webhook item and its subscription entries (the same sealed value).
    async fn doc(&self, webhook: &Webhook) -> StoreResult<AttributeValue> {
        let Some(sealer) = &self.sealer else {
            return Ok(s(codec::webhook_text(webhook)));
        };
        let security = codec::security_bytes(&webhook.security);
        let sealed = sealer
            .seal(&webhook.account_id, &webhook.id, &security)
            .await
            .map_err(|e| StoreError::Backend(e.to_string()))?;
        let mut value = codec::webhook_value(webhook);
        value["security"] = serde_json::json!({ "sealed": sealed });
        Ok(s(value.to_string()))
    }

    /// A webhook from its stored doc, its `security` opened if sealed. Docs written before
    /// sealing (plaintext) still read, and are sealed when next written.
    async fn parse_webhook(&self, item: &Item) -> StoreResult<Webhook> {
        let text = get_s(item, "doc")?;
        let corrupt = |e: String| StoreError::Corrupt(format!("webhook doc: {e}"));
        if !text.contains(SEALED_SECURITY) {
            return codec::webhook_from_text(text).map_err(|e| corrupt(e.to_string()));
        }
        let mut value: serde_json::Value =
            serde_json::from_str(text).map_err(|e| corrupt(e.to_string()))?;
        if !value["security"]["sealed"].is_string() {
            // The text was elsewhere in the doc (a fallback response, say): not sealed.
            return codec::webhook_from_value(value).map_err(|e| corrupt(e.to_string()));
        }
        let field = |name: &str| value[name].as_str().map(str::to_string);
        let (Some(account_id), Some(id), Some(sealed)) = (
            field("accountId"),
            field("id"),
            value["security"]["sealed"].as_str().map(str::to_string),
        ) else {
            return Err(corrupt("a sealed doc without its ids".into()));
        };
        let sealer = self
            .sealer
            .as_ref()
            .ok_or_else(|| corrupt("sealed credentials, and no sealer to open them".into()))?;
        let opened = sealer
            .open(&account_id, &id, &sealed)
            .await
            .map_err(|e| match e {
                crate::sealing::SealError::Corrupt => corrupt(e.to_string()),
                other => StoreError::Backend(other.to_string()),
            })?;
        value["security"] = serde_json::from_slice(&opened).map_err(|e| corrupt(e.to_string()))?;
        codec::webhook_from_value(value).map_err(|e| corrupt(e.to_string()))
    }

    async fn parse_webhooks(&self, items: &[Item]) -> StoreResult<Vec<Webhook>> {
        let mut out = Vec::with_capacity(items.len());
        for item in items {
            out.push(self.parse_webhook(item).await?);
        }
        Ok(out)
    }

    fn webhook_item(webhook: &Webhook, doc: AttributeValue) -> Item {
        HashMap::from([
            ("pk".into(), s(account_pk(&webhook.account_id))),
            ("sk".into(), s(webhook_sk(&webhook.id))),
            ("kind".into(), s("webhook")),
            ("version".into(), n(webhook.version)),
            ("flow".into(), s(webhook.flow().as_str())),
            ("status".into(), s(webhook.status.as_str())),
            ("doc".into(), doc),
        ])
    }

    fn subscription_item(webhook: &Webhook, event: EventType, doc: AttributeValue) -> Item {
        HashMap::from([
            ("pk".into(), s(subscription_pk(&webhook.account_id, event))),
            ("sk".into(), s(webhook_sk(&webhook.id))),
            ("kind".into(), s("subscription")),
            ("version".into(), n(webhook.version)),
            ("doc".into(), doc),
        ])
    }

    fn put_subscriptions(&self, webhook: &Webhook, doc: &AttributeValue) -> Vec<TransactWriteItem> {
        webhook
            .indexed_events()
            .iter()
            .map(|e| {
                let put = Put::builder()
                    .table_name(&self.table)
                    .set_item(Some(Self::subscription_item(webhook, *e, doc.clone())))
                    .build()
                    .expect("table and item are set");
                TransactWriteItem::builder().put(put).build()
            })
            .collect()
    }

    /// After a failed condition on an existing webhook: was it changed, or deleted?
    async fn conflict_or_gone(&self, current: &Webhook) -> StoreError {
        match self.get_webhook(&current.account_id, &current.id).await {
            Ok(Some(_)) => StoreError::Conflict,
            Ok(None) => StoreError::NotFound,
            Err(e) => e,
        }
    }
}

/// What `DynamoStore::reseal_webhooks` did.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Resealed {
    /// Webhooks whose credentials were stored in the clear, and are now sealed.
    pub sealed: usize,
    /// Webhooks already sealed.
    pub already: usize,
    /// Webhooks changed by someone else meanwhile (their write sealed them).
    pub changed: usize,
    /// Webhooks that could not be resealed (logged; run again).
    pub failed: usize,
}

impl DynamoStore {
    /// Seals the credentials of every webhook stored before sealing (`hookline-admin
    /// reseal`): each such webhook's item and subscription entries are written again as they
    /// are, version unchanged, conditional on that version (a concurrent update wins, and
    /// seals them itself). A full Scan of the table: an operator's one-off, not a hot path.
    pub async fn reseal_webhooks(&self) -> StoreResult<Resealed> {
        if self.sealer.is_none() {
            return Err(StoreError::Backend(
                "no sealer: set HOOKLINE_KMS_KEY_ID".into(),
            ));
        }
        let mut done = Resealed::default();
        let mut start = None;
        loop {
            let out = self
                .client
                .scan()
                .table_name(&self.table)
                .filter_expression("kind = :webhook")
                .expression_attribute_values(":webhook", s("webhook"))
                .set_exclusive_start_key(start)
                .send()
                .await
                .map_err(backend)?;
            for item in out.items() {
                match self.reseal_one(item).await {
                    Ok(Some(true)) => done.sealed += 1,
                    Ok(Some(false)) => done.already += 1,
                    Ok(None) => done.changed += 1,
                    // One webhook that cannot be resealed does not stop the others.
                    Err(e) => {
                        let key = get_s(item, "sk").unwrap_or_default();
                        tracing::error!(webhook = key, error = %e, "not resealed");
                        done.failed += 1;
                    }
                }
            }
            match out.last_evaluated_key() {
                Some(key) => start = Some(key.clone()),
                None => return Ok(done),
            }
        }
    }

    /// Seals one webhook item if it is not: `Some(true)` sealed now, `Some(false)` sealed
    /// already, `None` changed meanwhile. Its subscription entries get the sealed doc only
    /// (an update, not a put: their marks stay).
    async fn reseal_one(&self, item: &Item) -> StoreResult<Option<bool>> {
        let text = get_s(item, "doc")?;
        let value: serde_json::Value = serde_json::from_str(text)
            .map_err(|e| StoreError::Corrupt(format!("webhook doc: {e}")))?;
        if value["security"]["sealed"].is_string() {
            return Ok(Some(false));
        }
        let webhook = self.parse_webhook(item).await?;
        let doc = self.doc(&webhook).await?;
        let version = HashMap::from([(":expected".to_string(), n(webhook.version))]);
        let mut items = vec![self.put(
            Self::webhook_item(&webhook, doc.clone()),
            "version = :expected",
            Some(version),
        )];
        for event in webhook.indexed_events() {
            let update = Update::builder()
                .table_name(&self.table)
                .key("pk", s(subscription_pk(&webhook.account_id, *event)))
                .key("sk", s(webhook_sk(&webhook.id)))
                .update_expression("SET doc = :doc")
                .condition_expression("version = :expected")
                .expression_attribute_values(":doc", doc.clone())
                .expression_attribute_values(":expected", n(webhook.version))
                .build()
                .expect("table, key and expression are set");
            items.push(TransactWriteItem::builder().update(update).build());
        }
        match self.transact(items).await {
            Ok(()) => Ok(Some(true)),
            Err(StoreError::Conflict) => Ok(None),
            Err(e) => Err(e),
        }
    }
}

impl WebhookStore for DynamoStore {
    async fn create_webhook(&self, webhook: &Webhook) -> StoreResult<()> {
        let condition = "attribute_not_exists(pk)";
        let doc = self.doc(webhook).await?;
        if webhook.indexed_events().is_empty() {
            let sent = self
                .client
                .put_item()
                .table_name(&self.table)
                .set_item(Some(Self::webhook_item(webhook, doc)))
                .condition_expression(condition)
                .send()
                .await;
            return conditional(sent, PutItemError::is_conditional_check_failed_exception);
        }
        let mut items = vec![self.put(Self::webhook_item(webhook, doc.clone()), condition, None)];
        items.extend(self.put_subscriptions(webhook, &doc));
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
        match out.item() {
            Some(item) => Ok(Some(self.parse_webhook(item).await?)),
            None => Ok(None),
        }
    }

    async fn update_webhook(&self, current: &Webhook, next: &Webhook) -> StoreResult<()> {
        let condition = "version = :expected";
        let values = HashMap::from([(":expected".to_string(), n(current.version))]);
        let doc = self.doc(next).await?;
        let result = if current.indexed_events().is_empty() && next.indexed_events().is_empty() {
            let sent = self
                .client
                .put_item()
                .table_name(&self.table)
                .set_item(Some(Self::webhook_item(next, doc)))
                .condition_expression(condition)
                .set_expression_attribute_values(Some(values))
                .send()
                .await;
            conditional(sent, PutItemError::is_conditional_check_failed_exception)
        } else {
            let mut items = vec![self.put(
                Self::webhook_item(next, doc.clone()),
                condition,
                Some(values),
            )];
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
            items.extend(self.put_subscriptions(next, &doc));
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
                    .expression_attribute_values(":prefix", s(keys::WEBHOOK_SK_PREFIX))
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
            (":high".to_string(), s(keys::WEBHOOK_SK_END)),
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
                    let raw = Self::raw_page(&out, |item| Ok(item.clone()))?;
                    let mut page = RawPage {
                        items: self.parse_webhooks(&raw.items).await?,
                        last_evaluated: raw.last_evaluated,
                    };
                    // The range starts at `after` itself, which the previous page returned.
                    page.items
                        .retain(|w| filter.after.as_deref() != Some(w.id.as_str()));
                    page.last_evaluated = page
                        .last_evaluated
                        .map(|sk| keys::webhook_id(&sk).to_string());
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
        let mut subscribers = Vec::new();
        for item in pages.iter().flat_map(|p| p.items()) {
            let marked = |mark: Mark| {
                item.get(mark.attribute())
                    .and_then(|v| v.as_bool().ok())
                    .copied()
                    .unwrap_or(false)
            };
            let webhook = match self.parse_webhook(item).await {
                Ok(webhook) => webhook,
                // One entry that can never be read (hand-edited, or sealed for another
                // webhook) must not stop the event reaching the account's other webhooks,
                // as retrying cannot mend it. A key service failure is not this: it fails
                // the fan-out, to be tried again.
                Err(StoreError::Corrupt(why)) => {
                    tracing::error!(account_id, event = event.as_str(), error = %why,
                        "a subscription entry cannot be read; its webhook is left out");
                    continue;
                }
                Err(e) => return Err(e),
            };
            subscribers.push(Subscriber {
                webhook,
                failing: marked(Mark::Failing),
                slow: marked(Mark::Slow),
            });
        }
        Ok(subscribers)
    }

    async fn active_webhooks_for(
        &self,
        account_id: &str,
        event: EventType,
    ) -> StoreResult<Vec<Webhook>> {
        // The same Query; the marks are dropped.
        let subscribers = self.subscribers(account_id, event).await?;
        Ok(subscribers.into_iter().map(|s| s.webhook).collect())
    }
}
