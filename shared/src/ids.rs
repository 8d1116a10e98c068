//! Identifiers, secrets and API keys: everything random the platform hands out.

use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine;
use std::sync::Mutex;

use sha2::{Digest, Sha256};
use time::OffsetDateTime;

/// Prefix of generated HMAC secrets (the Standard Webhooks convention).
pub const SECRET_PREFIX: &str = "whsec_";
/// Prefix of API keys, so leaked keys are easy to spot by secret scanners.
pub const API_KEY_PREFIX: &str = "hl_";

const CROCKFORD: &[u8; 32] = b"0123456789ABCDEFGHJKMNPQRSTVWXYZ";

/// `n` bytes from the operating system's CSPRNG.
pub fn random_bytes<const N: usize>() -> [u8; N] {
    let mut buf = [0u8; N];
    getrandom::fill(&mut buf).expect("the OS random source is unavailable");
    buf
}

/// A ULID (48-bit milliseconds + 80 random bits, Crockford base32): ids sort by creation time,
/// so lists come back in the order webhooks were made. Monotonic within a process (the ULID
/// spec's monotonic mode): a second id in the same millisecond is the previous one plus one,
/// so order holds even for ids made back to back.
pub fn ulid(at: OffsetDateTime) -> String {
    static LAST: Mutex<(u128, u128)> = Mutex::new((0, 0));
    let millis = (at.unix_timestamp_nanos() / 1_000_000).clamp(0, (1 << 48) - 1) as u128;
    let fresh = u128::from_be_bytes({
        let mut b = [0u8; 16];
        b[6..].copy_from_slice(&random_bytes::<10>());
        b
    });
    let (millis, random) = {
        let mut last = LAST.lock().unwrap_or_else(|e| e.into_inner());
        let next = if millis <= last.0 && last.1 < (1 << 80) - 1 {
            (last.0, last.1 + 1)
        } else {
            (millis, fresh)
        };
        *last = next;
        next
    };
    encode_ulid(millis, random)
}

/// The 26-character text of a ULID from its 48-bit time and 80-bit random parts.
pub fn encode_ulid(millis: u128, random: u128) -> String {
    let value = (millis << 80) | random;
    (0..26)
        .map(|i| CROCKFORD[((value >> (125 - 5 * i)) & 0x1f) as usize] as char)
        .collect()
}

/// Is `s` 26 characters of Crockford base32 (the shape `ulid` makes)?
pub fn is_ulid(s: &str) -> bool {
    s.len() == 26 && s.bytes().all(|b| CROCKFORD.contains(&b))
}

pub fn new_webhook_id(at: OffsetDateTime) -> String {
    format!("wh_{}", ulid(at))
}

pub fn is_webhook_id(s: &str) -> bool {
    s.strip_prefix("wh_").is_some_and(is_ulid)
}

/// The id of one inbound call (a resolution or a test): its log entry's id and the
/// `webhook-id` it is signed with. One prefix for both kinds, so ids sort by time alone.
pub fn new_inbound_call_id(at: OffsetDateTime) -> String {
    format!("inb_{}", ulid(at))
}

pub fn is_activity_id(s: &str) -> bool {
    s.strip_prefix("inb_").is_some_and(is_ulid)
}

pub fn new_api_key_id(at: OffsetDateTime) -> String {
    format!("key_{}", ulid(at))
}

/// `whsec_` + base64 of 32 random bytes.
pub fn new_hmac_secret() -> String {
    format!("{SECRET_PREFIX}{}", STANDARD.encode(random_bytes::<32>()))
}

/// A new API key: `hl_` + base64url of 32 random bytes (256 bits of entropy).
pub fn new_api_key() -> String {
    format!(
        "{API_KEY_PREFIX}{}",
        URL_SAFE_NO_PAD.encode(random_bytes::<32>())
    )
}

/// What we store instead of an API key: its SHA-256, lowercase hex. A fast hash is right here
/// because keys carry 256 random bits; there is nothing to brute-force.
pub fn hash_api_key(key: &str) -> String {
    hex_lower(&Sha256::digest(key.as_bytes()))
}

pub fn hex_lower(bytes: &[u8]) -> String {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        out.push(HEX[(b >> 4) as usize] as char);
        out.push(HEX[(b & 0xf) as usize] as char);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    #[test]
    fn ulids_sort_by_time_and_have_the_documented_shape() {
        let now = OffsetDateTime::now_utc();
        let a = ulid(now);
        let b = ulid(now + time::Duration::milliseconds(1));
        assert!(is_ulid(&a) && is_ulid(&b), "{a} {b}");
        assert!(a < b);
        // The time part of 2026-01-01T00:00:00Z (1767225600000 ms), as base32 of the millis.
        let millis = (datetime!(2026-01-01 0:00 UTC).unix_timestamp_nanos() / 1_000_000) as u128;
        assert_eq!(&encode_ulid(millis, 0)[..10], "01KDVDNA00");
        assert_eq!(
            encode_ulid(millis, (1 << 80) - 1),
            "01KDVDNA00ZZZZZZZZZZZZZZZZ"
        );
    }

    #[test]
    fn ulids_made_in_the_same_millisecond_still_sort_in_order() {
        let at = OffsetDateTime::now_utc();
        let ids: Vec<String> = (0..1000).map(|_| ulid(at)).collect();
        assert!(ids.windows(2).all(|w| w[0] < w[1]));
    }

    #[test]
    fn webhook_ids_are_recognised() {
        let id = new_webhook_id(OffsetDateTime::now_utc());
        assert!(is_webhook_id(&id));
        assert!(!is_webhook_id("wh_../../etc"));
        assert!(!is_webhook_id(&id[3..]));
    }

    #[test]
    fn secrets_and_keys_have_their_prefixes_and_entropy() {
        let s = new_hmac_secret();
        let raw = STANDARD
            .decode(s.strip_prefix(SECRET_PREFIX).unwrap())
            .unwrap();
        assert_eq!(raw.len(), 32);
        assert_ne!(new_hmac_secret(), s);
        let k = new_api_key();
        assert!(k.starts_with(API_KEY_PREFIX) && k.len() == 3 + 43);
    }

    #[test]
    fn api_key_hash_is_sha256_hex() {
        // SHA-256("abc") from FIPS 180-2.
        assert_eq!(
            hash_api_key("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }
}
