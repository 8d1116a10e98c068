//! The DynamoDB store: one table, string keys `pk` / `sk`.
//!
//! | item                | pk                         | sk             | what else                      |
//! |---------------------|----------------------------|----------------|--------------------------------|
//! | webhook             | `ACCT#{account}`           | `WH#{id}`      | `version`, `flow`, `status`, `doc` (JSON) |
//! | subscription entry  | `ACCT#{account}#EVT#{event}` | `WH#{id}`    | `version`, `doc`: a copy, so one Query returns whole configs; `failing` while a streak runs, `slow` while the receiver is marked slow (`Mark`) |
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
//!
//! | module       | what it holds                                                          |
//! |--------------|------------------------------------------------------------------------|
//! | `keys`       | every `pk` / `sk` format of the table above (no other module builds one) |
//! | `pages`      | reading Query results page by page (`all_pages`, `raw_page`, `newest_first`) |
//! | `webhooks`   | `WebhookStore` and `SubscriptionIndex`                                 |
//! | `api_keys`   | `ApiKeyStore`                                                          |
//! | `notices`    | `NoticeGate` and `ActivityLog`                                         |
//! | `deliveries` | `DeliveryStore`, and the item encoding `delivery_item` / `item_size`   |
//! | `health`     | `HealthStore`                                                          |
//! | `events`     | `EventStore`                                                           |
//!
//! This module holds the store itself, its table's creation, and the attribute helpers they
//! share.

mod api_keys;
mod deliveries;
mod events;
mod health;
mod keys;
mod notices;
mod pages;
mod webhooks;

use std::sync::Arc;

use crate::sealing::Sealer;
use std::collections::HashMap;

use aws_sdk_dynamodb::error::{DisplayErrorContext, SdkError};
use aws_sdk_dynamodb::types::{
    AttributeDefinition, AttributeValue, BillingMode, Delete, KeySchemaElement, KeyType, Put,
    ScalarAttributeType, TimeToLiveSpecification, TransactWriteItem,
};
use aws_sdk_dynamodb::Client;
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

use super::{StoreError, StoreResult};

pub use deliveries::{delivery_item, item_size, MAX_ITEM_BYTES};

/// The attribute DynamoDB's TTL reads (epoch seconds) on items that expire (logs, e-mail locks).
pub const TTL_ATTRIBUTE: &str = "expiresAt";

#[derive(Clone, Debug)]
pub struct DynamoStore {
    client: Client,
    table: String,
    /// Seals webhook credentials before they are written, and opens them when read. Without
    /// one, credentials are written as they are (tests of other things, `hookline-admin`).
    sealer: Option<Arc<Sealer>>,
}

pub type Item = HashMap<String, AttributeValue>;

fn s(v: impl Into<String>) -> AttributeValue {
    AttributeValue::S(v.into())
}

fn n(v: impl ToString) -> AttributeValue {
    AttributeValue::N(v.to_string())
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

fn epoch(t: OffsetDateTime) -> AttributeValue {
    n(t.unix_timestamp())
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

impl DynamoStore {
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        Self {
            client,
            table: table.into(),
            sealer: None,
        }
    }

    /// This store with webhook credentials sealed at rest (`crate::sealing`).
    pub fn with_sealer(mut self, sealer: Arc<Sealer>) -> Self {
        self.sealer = Some(sealer);
        self
    }

    pub fn sealer(&self) -> Option<&Arc<Sealer>> {
        self.sealer.as_ref()
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
