//! Deliveries and their attempts (`DeliveryStore`), and the delivery item's encoding, which the
//! simulation's table shares (`delivery_item`, `item_size`).

use std::collections::HashMap;

use aws_sdk_dynamodb::operation::put_item::PutItemError;
use aws_sdk_dynamodb::types::AttributeValue;
use time::OffsetDateTime;

use super::keys::delivery_pk;
use super::{
    backend, conditional, epoch, epoch_ms, from_ms, get_n, get_s, parse_time, s, time_attr,
    DynamoStore, Item, TTL_ATTRIBUTE,
};
use crate::model::{Attempt, Claim, Delivery, DeliveryStatus, FirstRecord, Lease};
use crate::store::codec;
use crate::store::{
    collect_page, DeliveryStore, Page, StoreError, StoreResult, MAX_READS_PER_PAGE,
};

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
        Some(event) => serde_json::to_string(&event).expect("events always serialise"),
        None => codec::event_ref_text(&delivery.event),
    };
    let attempts = delivery
        .attempts
        .iter()
        .map(|a| s(codec::attempt_text(a)))
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
                    codec::attempt_from_text(text).map_err(|e| corrupt("attempt", &e))
                })
                .collect::<StoreResult<Vec<_>>>()?,
            _ => Vec::new(),
        };
        let event = get_s(item, "event")?;
        Ok(Delivery {
            id: get_s(item, "sk")?.to_string(),
            account_id: get_s(item, "accountId")?.to_string(),
            webhook_id: get_s(item, "webhookId")?.to_string(),
            event: codec::event_ref_from_text(event).map_err(|e| corrupt("event", &e))?,
            legacy_data: serde_json::from_str::<serde_json::Value>(event)
                .map_err(|e| corrupt("event", &e))?
                .get("data")
                .map(crate::events::EventData::from_value),
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
        let attempt = codec::attempt_text(attempt);
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
