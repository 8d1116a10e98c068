//! A webhook as a first try's delivery message carries it: its JSON text.
//!
//! A container writes and reads the same few webhooks over and over (every first try carries
//! its webhook, and a fan-out of one event to one webhook is one message), so each webhook is
//! written once and each text parsed once per container rather than once per message: about
//! 2 us of a fan-out 1 delivery's CPU (BENCHMARKS.md). Both memos are of pure functions, and
//! a hit needs the exact text or an equal webhook, so they change no result. An edited or
//! rotated webhook is a new entry; the old one (credentials included, as the messages that
//! carried it held them) stays in this process's memory until its memo starts again.

use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::sync::{Arc, LazyLock, Mutex, PoisonError};

use serde::de::Error as _;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::value::RawValue;

use crate::model::Webhook;

/// Each memo starts again when it holds this many webhooks (an account's 100 ten times
/// over) ...
const MAX_ENTRIES: usize = 1000;
/// ... or this many bytes of their text. A webhook's text is 1-3 KB, up to about 9 KB at the
/// limits the API allows, and its parsed form about as much again: both memos together stay
/// under about 16 MB of the function's 128.
const MAX_TEXT_BYTES: usize = 4 << 20;

/// Entries by key, and the bytes of text they hold.
struct Bounded<V> {
    entries: HashMap<u64, (usize, V)>,
    bytes: usize,
}

impl<V> Default for Bounded<V> {
    fn default() -> Self {
        Self {
            entries: HashMap::new(),
            bytes: 0,
        }
    }
}

impl<V> Bounded<V> {
    fn get(&self, key: u64) -> Option<&V> {
        self.entries.get(&key).map(|(_, value)| value)
    }

    fn insert(&mut self, key: u64, bytes: usize, value: V) {
        if let Some((old, _)) = self.entries.remove(&key) {
            self.bytes -= old;
        }
        if self.entries.len() >= MAX_ENTRIES || self.bytes + bytes > MAX_TEXT_BYTES {
            self.entries.clear();
            self.bytes = 0;
        }
        self.bytes += bytes;
        self.entries.insert(key, (bytes, value));
    }
}

#[derive(Default)]
struct Memo {
    /// By a hash of the text's ends (the id is at its start, `updatedAt` and `version` at its
    /// end); the whole text is compared on a hit.
    parsed: Bounded<(Box<str>, Arc<Webhook>)>,
    /// By account and id; the whole webhook is compared on a hit.
    written: Bounded<(Arc<Webhook>, Arc<RawValue>)>,
}

static MEMO: LazyLock<Mutex<Memo>> = LazyLock::new(Mutex::default);

fn memo() -> std::sync::MutexGuard<'static, Memo> {
    MEMO.lock().unwrap_or_else(PoisonError::into_inner)
}

fn text_key(text: &str) -> u64 {
    let bytes = text.as_bytes();
    let ends = 64.min(bytes.len());
    let mut hasher = std::hash::DefaultHasher::new();
    bytes.len().hash(&mut hasher);
    bytes[..ends].hash(&mut hasher);
    bytes[bytes.len() - ends..].hash(&mut hasher);
    hasher.finish()
}

fn webhook_key(webhook: &Webhook) -> u64 {
    let mut hasher = std::hash::DefaultHasher::new();
    (webhook.account_id.as_str(), webhook.id.as_str()).hash(&mut hasher);
    hasher.finish()
}

/// The webhook's JSON text, its stored form (`store::codec`).
pub fn text_of(webhook: &Arc<Webhook>) -> Arc<RawValue> {
    let key = webhook_key(webhook);
    if let Some((known, text)) = memo().written.get(key) {
        if Arc::ptr_eq(known, webhook) || **known == **webhook {
            return text.clone();
        }
    }
    let text = crate::store::codec::webhook_text(webhook);
    let text: Arc<RawValue> = RawValue::from_string(text)
        .expect("serde_json writes valid JSON")
        .into();
    let bytes = text.get().len();
    memo()
        .written
        .insert(key, bytes, (webhook.clone(), text.clone()));
    text
}

/// The webhook that `text` is.
pub fn parse(text: &str) -> serde_json::Result<Arc<Webhook>> {
    let key = text_key(text);
    if let Some((known, webhook)) = memo().parsed.get(key) {
        if **known == *text {
            return Ok(webhook.clone());
        }
    }
    let webhook = Arc::new(crate::store::codec::webhook_from_text(text)?);
    memo()
        .parsed
        .insert(key, text.len(), (text.into(), webhook.clone()));
    Ok(webhook)
}

/// `#[serde(serialize_with)]` for a message's `webhook`.
pub fn serialize<S: Serializer>(webhook: &Option<Arc<Webhook>>, s: S) -> Result<S::Ok, S::Error> {
    match webhook {
        Some(webhook) => text_of(webhook).serialize(s),
        None => s.serialize_none(),
    }
}

/// `#[serde(deserialize_with)]` for a message's `webhook`.
pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Arc<Webhook>>, D::Error> {
    let raw = Box::<RawValue>::deserialize(d)?;
    if raw.get() == "null" {
        return Ok(None);
    }
    parse(raw.get()).map(Some).map_err(D::Error::custom)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn webhook(version: u64) -> Webhook {
        let json = serde_json::json!({
            "id": "wh_carried", "accountId": "acct_carried", "name": "n", "format": "application/json",
            "status": "active", "url": "https://example.com/hook", "notificationEmail": "",
            "security": {"type": "hmac", "secret": "whsec_c2VjcmV0c2VjcmV0c2VjcmV0"},
            "flow": "outbound", "timeoutMs": 5000, "events": ["case:new"],
            "createdAt": "2026-12-01T00:00:00Z", "updatedAt": "2026-12-01T00:00:00Z",
            "version": version,
        });
        crate::store::codec::webhook_from_value(json).unwrap()
    }

    #[test]
    fn the_text_is_the_stored_form_and_a_changed_webhook_is_written_again() {
        let first = Arc::new(webhook(1));
        assert_eq!(
            text_of(&first).get(),
            crate::store::codec::webhook_text(&first)
        );
        // Equal but another allocation: the same text.
        assert_eq!(text_of(&Arc::new(webhook(1))).get(), text_of(&first).get());
        let mut renamed = webhook(1);
        renamed.url = "https://example.com/other".into();
        let renamed = Arc::new(renamed);
        assert!(text_of(&renamed).get().contains("/other"));
        assert_eq!(*parse(text_of(&renamed).get()).unwrap(), *renamed);
    }

    #[test]
    fn a_message_carries_its_webhook_as_text_and_reads_it_back_equal() {
        let message = crate::queue::DeliveryMessage {
            webhook: Some(Arc::new(webhook(3))),
            ..serde_json::from_value(serde_json::json!({"v": 2, "deliveryId": "dlv_1",
                "accountId": "acct_carried", "webhookId": "wh_carried"}))
            .unwrap()
        };
        let body = serde_json::to_string(&message).unwrap();
        assert!(body.starts_with("{\"v\":2,"), "{body}");
        let read: crate::queue::DeliveryMessage = serde_json::from_str(&body).unwrap();
        assert_eq!(read, message);
        // Through a tree too (tests and tools read messages that way).
        let tree: serde_json::Value = serde_json::from_str(&body).unwrap();
        assert_eq!(
            serde_json::from_value::<crate::queue::DeliveryMessage>(tree).unwrap(),
            message
        );
        let without: crate::queue::DeliveryMessage = serde_json::from_str(
            r#"{"v":2,"deliveryId":"dlv_1","accountId":"a","webhookId":"w","webhook":null}"#,
        )
        .unwrap();
        assert_eq!(without.webhook, None);
    }

    #[test]
    fn a_memo_starts_again_past_its_entries_or_bytes() {
        let mut memo = Bounded::<u8>::default();
        for key in 0..MAX_ENTRIES as u64 {
            memo.insert(key, 10, 0);
        }
        assert_eq!(memo.entries.len(), MAX_ENTRIES);
        memo.insert(0, 10, 1); // replacing is not growing
        assert_eq!(memo.entries.len(), MAX_ENTRIES);
        memo.insert(u64::MAX, 10, 0);
        assert_eq!((memo.entries.len(), memo.bytes), (1, 10));
        memo.insert(1, MAX_TEXT_BYTES - 10, 0);
        assert_eq!(memo.entries.len(), 2);
        memo.insert(2, 1, 0);
        assert_eq!((memo.entries.len(), memo.bytes), (1, 1));
    }

    #[test]
    fn a_text_is_parsed_to_exactly_its_webhook_even_when_its_ends_match_another() {
        let text = crate::store::codec::webhook_text(&webhook(7));
        assert_eq!(*parse(&text).unwrap(), webhook(7));
        // Same length and ends, another middle: a key collision, never a wrong webhook.
        let other = text.replace("/hook", "/hoop");
        assert_eq!(text_key(&other), text_key(&text));
        let parsed = parse(&other).unwrap();
        assert_eq!(parsed.url, "https://example.com/hoop");
        assert_eq!(parse(&text).unwrap().url, "https://example.com/hook");
        assert!(parse("{\"id\": 1}").is_err());
    }
}
