//! `Authorization: Bearer <API key>` → the account the key belongs to.

use crate::ids::{hash_api_key, API_KEY_PREFIX};
use crate::store::{ApiKeyStore, KeyScope};
use lambda_http::http::HeaderMap;

use crate::api::ApiError;

/// The caller, as established by its API key. Every store access is scoped by `account_id`.
#[derive(Debug, Clone)]
pub struct Caller {
    pub account_id: String,
    pub key_id: String,
    pub scope: KeyScope,
}

impl Caller {
    /// Operations that change something (`Access::Write`) refuse read-only keys with 403.
    pub fn may_write(&self) -> Result<(), ApiError> {
        if self.scope == KeyScope::ReadOnly {
            return Err(ApiError::Forbidden("this API key is read-only"));
        }
        Ok(())
    }
}

pub async fn authenticate<S: ApiKeyStore>(
    store: &S,
    headers: &HeaderMap,
) -> Result<Caller, ApiError> {
    const MISSING: &str = "send your API key as Authorization: Bearer <API key>";
    const INVALID: &str = "the API key is invalid or has been revoked";
    let value = headers
        .get("authorization")
        .ok_or(ApiError::Unauthorized(MISSING))?;
    let value = value
        .to_str()
        .map_err(|_| ApiError::Unauthorized(MISSING))?;
    let (scheme, key) = value
        .trim()
        .split_once(' ')
        .ok_or(ApiError::Unauthorized(MISSING))?;
    if !scheme.eq_ignore_ascii_case("bearer") {
        return Err(ApiError::Unauthorized(MISSING));
    }
    let key = key.trim();
    // Keys have a fixed shape; anything else cannot exist, so no lookup is spent on it.
    if !key.starts_with(API_KEY_PREFIX) || key.len() != API_KEY_PREFIX.len() + 43 {
        return Err(ApiError::Unauthorized(INVALID));
    }
    let record = store
        .find_api_key(&hash_api_key(key))
        .await
        .map_err(|e| ApiError::Internal(e.to_string()))?
        .ok_or(ApiError::Unauthorized(INVALID))?;
    Ok(Caller {
        account_id: record.account_id,
        key_id: record.key_id,
        scope: record.scope,
    })
}
