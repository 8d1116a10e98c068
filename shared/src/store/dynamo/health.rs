//! Failure streaks (`HealthStore`): the health item, and the marks on subscription entries.

use std::collections::HashMap;

use aws_sdk_dynamodb::types::AttributeValue;
use time::OffsetDateTime;

use super::keys::{health_pk, subscription_pk, webhook_sk};
use super::{
    backend, conditional, epoch, epoch_ms, from_ms, get_n, n, s, DynamoStore, TTL_ATTRIBUTE,
};
use crate::model::{Health, Mark, Webhook};
use crate::store::{HealthStore, StoreError, StoreResult};

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
                ("pk".to_string(), s(health_pk(account_id))),
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
            b.key("pk", s(health_pk(account_id)))
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
            .key("pk", s(health_pk(account_id)))
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
