//! Webhooks and their subscription entries: `WebhookStore` and `SubscriptionIndex`.

use std::collections::HashMap;

use aws_sdk_dynamodb::operation::delete_item::DeleteItemError;
use aws_sdk_dynamodb::operation::put_item::PutItemError;
use aws_sdk_dynamodb::types::{AttributeValue, Delete, Put, TransactWriteItem};

use super::keys::{self, account_pk, subscription_pk, webhook_sk};
use super::{backend, conditional, get_s, n, s, DynamoStore, Item};
use crate::model::{EventType, Mark, Subscriber, Webhook};
use crate::store::{
    collect_page, ListFilter, Page, StoreError, StoreResult, SubscriptionIndex, WebhookStore,
    MAX_READS_PER_PAGE,
};

impl DynamoStore {
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

    /// After a failed condition on an existing webhook: was it changed, or deleted?
    async fn conflict_or_gone(&self, current: &Webhook) -> StoreError {
        match self.get_webhook(&current.account_id, &current.id).await {
            Ok(Some(_)) => StoreError::Conflict,
            Ok(None) => StoreError::NotFound,
            Err(e) => e,
        }
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
                    let mut page = Self::raw_page(&out, Self::parse_webhook)?;
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
        // The same Query; the marks are dropped.
        let subscribers = self.subscribers(account_id, event).await?;
        Ok(subscribers.into_iter().map(|s| s.webhook).collect())
    }
}
