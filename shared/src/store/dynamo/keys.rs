//! Every `pk` / `sk` format of the table (the item table in the module doc): no other module
//! builds or takes apart a key. Sort keys that are a plain id or kind (notices, logs,
//! deliveries, health, events) are used as they are.

use crate::model::EventType;

/// The partition of an account's webhooks and its API keys (by account).
pub(super) fn account_pk(account_id: &str) -> String {
    format!("ACCT#{account_id}")
}

/// The prefix every webhook's sort key starts with, in its account's partition and in the
/// subscription entries.
pub(super) const WEBHOOK_SK_PREFIX: &str = "WH#";

/// Above every webhook's sort key: ids are ULIDs (0-9, A-Z), so "WH#~" sorts after them all.
pub(super) const WEBHOOK_SK_END: &str = "WH#~";

/// A webhook's sort key, in its account's partition and in its subscription entries.
pub(super) fn webhook_sk(id: &str) -> String {
    format!("{WEBHOOK_SK_PREFIX}{id}")
}

/// The webhook id in a webhook's sort key.
pub(super) fn webhook_id(sk: &str) -> &str {
    sk.trim_start_matches(WEBHOOK_SK_PREFIX)
}

/// The partition of an account's subscription entries for one event type.
pub(super) fn subscription_pk(account_id: &str, event: EventType) -> String {
    format!("ACCT#{account_id}#EVT#{}", event.as_str())
}

/// The partition of an API key's lookup item, by the key's SHA-256.
pub(super) fn api_key_pk(hash: &str) -> String {
    format!("APIKEY#{hash}")
}

/// The sort key of an API key's lookup item.
pub(super) const API_KEY_SK: &str = "APIKEY";

/// The prefix of every API key's sort key in its account's partition.
pub(super) const ACCOUNT_KEY_SK_PREFIX: &str = "KEY#";

/// An API key's sort key in its account's partition.
pub(super) fn account_key_sk(key_id: &str) -> String {
    format!("{ACCOUNT_KEY_SK_PREFIX}{key_id}")
}

/// The partition of a webhook's e-mail notice claims (one item per kind).
pub(super) fn notice_pk(account_id: &str, webhook_id: &str) -> String {
    format!("NOTICE#{account_id}#{webhook_id}")
}

/// The partition of an account's allowance counters (one item per kind and window).
pub(super) fn allowance_pk(account_id: &str) -> String {
    format!("ALLOWANCE#{account_id}")
}

/// The partition of a webhook's activity log.
pub(super) fn log_pk(account_id: &str, webhook_id: &str) -> String {
    format!("LOG#{account_id}#{webhook_id}")
}

/// The partition of a webhook's deliveries.
pub(super) fn delivery_pk(account_id: &str, webhook_id: &str) -> String {
    format!("DLV#{account_id}#{webhook_id}")
}

/// The partition of an account's webhook health (one item per failing webhook).
pub(super) fn health_pk(account_id: &str) -> String {
    format!("HEALTH#{account_id}")
}

/// The partition of an account's kept events.
pub(super) fn event_pk(account_id: &str) -> String {
    format!("EVT#{account_id}")
}
