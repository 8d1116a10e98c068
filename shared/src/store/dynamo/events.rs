//! Kept events with their data (`EventStore`).

use aws_sdk_dynamodb::operation::put_item::PutItemError;
use aws_sdk_dynamodb::types::AttributeValue;
use time::OffsetDateTime;

use super::keys::event_pk;
use super::{
    backend, conditional, epoch, epoch_ms, from_ms, get_n, get_s, s, DynamoStore, TTL_ATTRIBUTE,
};
use crate::model::{EventType, Kept};
use crate::store::{EventStore, StoreError, StoreResult};

impl EventStore for DynamoStore {
    async fn keep_event(
        &self,
        event: &crate::events::Event,
        expires_at: OffsetDateTime,
    ) -> StoreResult<Kept> {
        let pk = s(event_pk(&event.account_id));
        let data = event.data.get().to_string();
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
            .key("pk", s(event_pk(account_id)))
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
            .key("pk", s(event_pk(account_id)))
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
