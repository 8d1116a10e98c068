//! E-mail notice claims (`NoticeGate`) and the per-webhook activity log (`ActivityLog`).

use aws_sdk_dynamodb::operation::put_item::PutItemError;
use aws_sdk_dynamodb::types::AttributeValue;
use time::OffsetDateTime;

use super::keys::{allowance_pk, log_pk, notice_pk};
use super::{
    backend, conditional, epoch, epoch_ms, from_ms, get_n, get_s, s, DynamoStore, TTL_ATTRIBUTE,
};
use crate::model::{NoticeClaim, NoticeGrant};
use crate::store::{
    collect_page, ActivityEntry, ActivityLog, Allowance, Allowances, NoticeGate, Page, StoreError,
    StoreResult, MAX_READS_PER_PAGE,
};

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
            .item("pk", s(notice_pk(account_id, webhook_id)))
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
                    .key("pk", s(notice_pk(account_id, webhook_id)))
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
            .key("pk", s(notice_pk(account_id, webhook_id)))
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
        let doc = crate::store::codec::activity_text(entry);
        self.client
            .put_item()
            .table_name(&self.table)
            .item("pk", s(log_pk(account_id, webhook_id)))
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
        let pk = log_pk(account_id, webhook_id);
        collect_page(
            limit,
            MAX_READS_PER_PAGE,
            |e: &ActivityEntry| &e.id,
            |start| {
                let query = self.newest_first(&pk, before, start, limit);
                async move {
                    let out = query.send().await.map_err(backend)?;
                    Self::raw_page(&out, |item| {
                        crate::store::codec::activity_from_text(get_s(item, "doc")?)
                            .map_err(|e| StoreError::Corrupt(format!("activity doc: {e}")))
                    })
                }
            },
        )
        .await
    }
}

impl Allowances for DynamoStore {
    async fn spend(
        &self,
        account_id: &str,
        allowance: Allowance,
        at: OffsetDateTime,
        amount: u64,
        limit: u64,
    ) -> StoreResult<bool> {
        // The condition cannot add: it compares what was charged with what may be charged
        // before this amount. More than the whole limit is refused here, without a write.
        let Some(before) = limit.checked_sub(amount) else {
            return Ok(false);
        };
        // One conditional write: a counter per window, gone a day later by TTL. A reply lost
        // after the write charges twice, erring on the side of less.
        let spent = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("pk", s(allowance_pk(account_id)))
            .key("sk", s(allowance.counter(at)))
            .update_expression("ADD spent :amount SET #exp = :exp")
            .condition_expression("attribute_not_exists(spent) OR spent <= :before")
            .expression_attribute_names("#exp", TTL_ATTRIBUTE)
            .expression_attribute_values(":amount", AttributeValue::N(amount.to_string()))
            .expression_attribute_values(":before", AttributeValue::N(before.to_string()))
            .expression_attribute_values(":exp", epoch(at + time::Duration::days(1)))
            .send()
            .await;
        use aws_sdk_dynamodb::operation::update_item::UpdateItemError;
        match conditional(
            spent,
            UpdateItemError::is_conditional_check_failed_exception,
        ) {
            Ok(()) => Ok(true),
            Err(StoreError::Conflict) => Ok(false),
            Err(e) => Err(e),
        }
    }

    async fn give_back(
        &self,
        account_id: &str,
        allowance: Allowance,
        charged_at: OffsetDateTime,
        amount: u64,
    ) -> StoreResult<()> {
        // Only what was charged: a window gone by TTL is not made again, and a give-back the
        // SDK sent twice (its first reply lost) cannot take the count below zero.
        let given = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("pk", s(allowance_pk(account_id)))
            .key("sk", s(allowance.counter(charged_at)))
            .update_expression("ADD spent :back")
            .condition_expression("spent >= :amount")
            .expression_attribute_values(":back", AttributeValue::N(format!("-{amount}")))
            .expression_attribute_values(":amount", AttributeValue::N(amount.to_string()))
            .send()
            .await;
        use aws_sdk_dynamodb::operation::update_item::UpdateItemError;
        match conditional(
            given,
            UpdateItemError::is_conditional_check_failed_exception,
        ) {
            Ok(()) | Err(StoreError::Conflict) => Ok(()),
            Err(e) => Err(e),
        }
    }
}
