//! API keys, each stored twice: a lookup item by the key's hash, and an item in its account's
//! partition for listing.

use std::collections::HashMap;

use super::keys::{account_key_sk, account_pk, api_key_pk, ACCOUNT_KEY_SK_PREFIX, API_KEY_SK};
use super::{backend, get_s, parse_time, s, time_attr, DynamoStore, Item};
use crate::store::{ApiKeyRecord, ApiKeyStore, KeyScope, StoreError, StoreResult};

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
                common(api_key_pk(&record.key_hash), API_KEY_SK.into()),
                condition,
                None,
            ),
            self.put(
                common(
                    account_pk(&record.account_id),
                    account_key_sk(&record.key_id),
                ),
                condition,
                None,
            ),
        ])
        .await
    }

    async fn find_api_key(&self, key_hash: &str) -> StoreResult<Option<ApiKeyRecord>> {
        // Strongly consistent: a revoked key stops at once (an eventually consistent read may
        // still see it for a moment). One read unit instead of half, per API request.
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .key("pk", s(api_key_pk(key_hash)))
            .key("sk", s(API_KEY_SK))
            .consistent_read(true)
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
                    .expression_attribute_values(":prefix", s(ACCOUNT_KEY_SK_PREFIX))
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
            .key("sk", s(account_key_sk(key_id)))
            .consistent_read(true)
            .send()
            .await
            .map_err(backend)?;
        let item = out.item().ok_or(StoreError::NotFound)?;
        let hash = get_s(item, "keyHash")?.to_string();
        // The lookup item goes first: once it is gone the key no longer authenticates.
        match self
            .transact(vec![
                self.delete(api_key_pk(&hash), API_KEY_SK.into()),
                self.delete(account_pk(account_id), account_key_sk(key_id)),
            ])
            .await
        {
            Err(StoreError::Conflict) => Err(StoreError::NotFound),
            other => other,
        }
    }
}
