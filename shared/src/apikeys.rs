//! Issuing API keys. The key is shown once; only its SHA-256 is stored.

use time::OffsetDateTime;

use crate::ids;
use crate::store::{ApiKeyRecord, ApiKeyStore, KeyScope, StoreError};

#[derive(Debug, thiserror::Error)]
pub enum ApiKeyError {
    #[error("account id must be 1 to 64 letters, digits, '-' or '_'")]
    InvalidAccount,
    #[error("key name must be 1 to 100 characters")]
    InvalidName,
    #[error(transparent)]
    Store(#[from] StoreError),
}

pub fn valid_account_id(account_id: &str) -> bool {
    (1..=64).contains(&account_id.len())
        && account_id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// Creates a key for `account_id`; returns the key itself (to show once) and what was stored.
pub async fn issue<S: ApiKeyStore>(
    store: &S,
    account_id: &str,
    name: &str,
    scope: KeyScope,
    now: OffsetDateTime,
) -> Result<(String, ApiKeyRecord), ApiKeyError> {
    if !valid_account_id(account_id) {
        return Err(ApiKeyError::InvalidAccount);
    }
    let name = name.trim();
    if name.is_empty() || name.chars().count() > 100 || name.chars().any(char::is_control) {
        return Err(ApiKeyError::InvalidName);
    }
    let key = ids::new_api_key();
    let record = ApiKeyRecord {
        key_id: ids::new_api_key_id(now),
        account_id: account_id.to_string(),
        key_hash: ids::hash_api_key(&key),
        name: name.to_string(),
        scope,
        created_at: now,
    };
    store.create_api_key(&record).await?;
    Ok((key, record))
}
