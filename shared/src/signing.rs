//! Request signatures: the product's `x-acquire-signature` and Standard Webhooks'
//! `webhook-id` / `webhook-timestamp` / `webhook-signature`.
//!
//! - `x-acquire-signature`: lowercase hex HMAC-SHA256 of the exact body bytes, keyed by the
//!   secret string as the user sees it (what the product's documented verifier does).
//! - `webhook-signature`: `v1,` + base64 HMAC-SHA256 of `{id}.{timestamp}.{body}`, keyed by the
//!   base64-decoded part after `whsec_` (or the raw bytes of a user-chosen secret).
//!
//! - `hookline-signature` (inbound calls): `v1,` + base64 HMAC-SHA256, keyed as
//!   `webhook-signature`, of the lines `hookline-v1`, the method, the request target (path and
//!   query as sent), the id, the timestamp, then the body. An inbound GET has no body, so the
//!   other two cover nothing a receiver acts on; this one binds the query and the time.
//!
//! During a rotation overlap every valid secret signs: `webhook-signature` carries the
//! signatures separated by a space (as the spec says) and `x-acquire-signature` by ", ",
//! newest first, so a receiver holding either secret finds its match.

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;
use time::OffsetDateTime;

use crate::ids::{hex_lower, SECRET_PREFIX};
use crate::model::Security;

type HmacSha256 = Hmac<Sha256>;

fn hmac(key: &[u8], parts: &[&[u8]]) -> [u8; 32] {
    let mut mac = HmacSha256::new_from_slice(key).expect("HMAC takes keys of any length");
    for part in parts {
        mac.update(part);
    }
    mac.finalize().into_bytes().into()
}

/// The Standard Webhooks key of a secret: base64-decoded after `whsec_`, else its raw bytes.
pub fn standard_key(secret: &str) -> Vec<u8> {
    secret
        .strip_prefix(SECRET_PREFIX)
        .and_then(|b64| STANDARD.decode(b64).ok())
        .unwrap_or_else(|| secret.as_bytes().to_vec())
}

/// `x-acquire-signature` for one secret.
pub fn acquire_signature(secret: &str, body: &[u8]) -> String {
    hex_lower(&hmac(secret.as_bytes(), &[body]))
}

/// One `v1,...` Standard Webhooks signature.
pub fn standard_signature(secret: &str, msg_id: &str, timestamp: i64, body: &[u8]) -> String {
    let ts = timestamp.to_string();
    let sig = hmac(
        &standard_key(secret),
        &[msg_id.as_bytes(), b".", ts.as_bytes(), b".", body],
    );
    format!("v1,{}", STANDARD.encode(sig))
}

/// The first line of what `hookline-signature` signs: a version, and a string the other
/// schemes' signed texts can never begin with (theirs start with the id).
pub const REQUEST_SIGNATURE_VERSION: &str = "hookline-v1";

/// One `v1,...` `hookline-signature`. `target` is the request target as sent: the path and,
/// after `?`, the query (`/orders?email=a%40b.example`). Every line but the body's is free of
/// newlines, so no two requests share a signed text.
pub fn request_signature(
    secret: &str,
    method: &str,
    target: &str,
    msg_id: &str,
    timestamp: i64,
    body: &[u8],
) -> String {
    let ts = timestamp.to_string();
    let sig = hmac(
        &standard_key(secret),
        &[
            REQUEST_SIGNATURE_VERSION.as_bytes(),
            b"\n",
            method.as_bytes(),
            b"\n",
            target.as_bytes(),
            b"\n",
            msg_id.as_bytes(),
            b"\n",
            ts.as_bytes(),
            b"\n",
            body,
        ],
    );
    format!("v1,{}", STANDARD.encode(sig))
}

/// The request target an HTTP/1.1 client sends for `url` (its path and query, the fragment
/// dropped, as the URL parser normalises them), or `None` for a URL that cannot be sent.
pub fn request_target(url: &str) -> Option<String> {
    let parsed = url::Url::parse(url).ok()?;
    Some(parsed[url::Position::BeforePath..url::Position::AfterQuery].to_string())
}

/// `hookline-signature` for a request, one signature per signing secret (space-separated),
/// or `None` without HMAC security.
pub fn request_signature_header(
    security: &Security,
    method: &str,
    url: &str,
    msg_id: &str,
    now: OffsetDateTime,
    body: &[u8],
) -> Option<(&'static str, String)> {
    let secrets = signing_secrets(security, now);
    if secrets.is_empty() {
        return None;
    }
    let target = request_target(url)?;
    let timestamp = now.unix_timestamp();
    let all: Vec<String> = secrets
        .iter()
        .map(|s| request_signature(s, method, &target, msg_id, timestamp, body))
        .collect();
    Some(("hookline-signature", all.join(" ")))
}

/// The secrets that sign at `now`: the current one, then rotated-out ones not yet expired.
pub fn signing_secrets(security: &Security, now: OffsetDateTime) -> Vec<&str> {
    match security {
        Security::Hmac { secret, previous } => std::iter::once(secret.as_str())
            .chain(
                previous
                    .iter()
                    .rev()
                    .filter(|p| p.expires_at > now)
                    .map(|p| p.secret.as_str()),
            )
            .collect(),
        _ => Vec::new(),
    }
}

/// `webhook-id` (stable across retries: receivers drop repeats by it) and `webhook-timestamp`
/// on every request, whatever the security; with HMAC, the signatures too.
pub fn signature_headers(
    security: &Security,
    msg_id: &str,
    now: OffsetDateTime,
    body: &[u8],
) -> Vec<(&'static str, String)> {
    let timestamp = now.unix_timestamp();
    let mut headers = vec![
        ("webhook-id", msg_id.to_string()),
        ("webhook-timestamp", timestamp.to_string()),
    ];
    let secrets = signing_secrets(security, now);
    if !secrets.is_empty() {
        let acquire: Vec<String> = secrets.iter().map(|s| acquire_signature(s, body)).collect();
        let standard: Vec<String> = secrets
            .iter()
            .map(|s| standard_signature(s, msg_id, timestamp, body))
            .collect();
        headers.push(("x-acquire-signature", acquire.join(", ")));
        headers.push(("webhook-signature", standard.join(" ")));
    }
    headers
}

/// The headers of basic, bearer and custom-header security (HMAC signs instead; see
/// `signature_headers`).
pub fn credential_headers(security: &Security) -> Vec<(String, String)> {
    match security {
        Security::Basic { username, password } => vec![(
            "authorization".into(),
            format!(
                "Basic {}",
                STANDARD.encode(format!("{username}:{password}"))
            ),
        )],
        Security::Bearer { token } => vec![("authorization".into(), format!("Bearer {token}"))],
        Security::Header { name, value } => vec![(name.clone(), value.clone())],
        Security::None | Security::Hmac { .. } => vec![],
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::PreviousSecret;
    use time::macros::datetime;

    #[test]
    fn standard_webhooks_published_test_vector() {
        let sig = standard_signature(
            "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD",
            "msg_27UH4WbU6Z5A5EzD8u03UvzRbpk",
            1649367553,
            br#"{"email":"test@example.com","username":"test_user"}"#,
        );
        assert_eq!(sig, "v1,tZ1I4/hDygAJgO5TYxiSd6Sd0kDW6hPenDe+bTa3Kkw=");
    }

    /// The vector the README publishes; its Python and Node verifiers check it too.
    #[test]
    fn request_signature_published_test_vector() {
        let sig = request_signature(
            "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD",
            "GET",
            "/orders?email=ada%40example.com",
            "msg_27UH4WbU6Z5A5EzD8u03UvzRbpk",
            1649367553,
            b"",
        );
        assert_eq!(sig, "v1,vKQvMo6RXUfu/YxdQBPQEkuaTJjdnpI7jOYkWwbkQ3c=");
    }

    #[test]
    fn request_targets_are_what_a_client_sends() {
        let t = |u: &str| request_target(u).unwrap();
        assert_eq!(t("https://a.example"), "/");
        assert_eq!(t("https://a.example/o?x=1#frag"), "/o?x=1");
        assert_eq!(t("https://a.example/a b?q=c d"), "/a%20b?q=c%20d");
        assert_eq!(t("https://a.example/x/../y?"), "/y?");
        assert_eq!(request_target("not a url"), None);
    }

    #[test]
    fn request_signatures_bind_method_target_id_time_and_body() {
        let base = (
            "GET",
            "/o?email=a%40b.example",
            "msg_1",
            1_700_000_000,
            &b""[..],
        );
        let sign = |(m, t, id, ts, body): (&str, &str, &str, i64, &[u8])| {
            request_signature("whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD", m, t, id, ts, body)
        };
        let original = sign(base);
        for changed in [
            ("POST", base.1, base.2, base.3, base.4),
            (base.0, "/o?email=c%40d.example", base.2, base.3, base.4),
            (base.0, base.1, "msg_2", base.3, base.4),
            (base.0, base.1, base.2, base.3 + 1, base.4),
            (base.0, base.1, base.2, base.3, b"x"),
            // A boundary moved between the target and the body.
            (base.0, "/o?email=a%40b", base.2, base.3, b".example"),
        ] {
            assert_ne!(sign(changed), original, "{changed:?}");
        }
    }

    #[test]
    fn acquire_signature_is_rfc_4231_hmac_sha256_in_hex() {
        // RFC 4231 test case 2: key "Jefe", data "what do ya want for nothing?".
        assert_eq!(
            acquire_signature("Jefe", b"what do ya want for nothing?"),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }

    #[test]
    fn every_valid_secret_signs_during_rotation() {
        let now = datetime!(2026-11-25 12:00 UTC);
        let security = Security::Hmac {
            secret: "new-secret-0123456789".into(),
            previous: vec![
                PreviousSecret {
                    secret: "expired-secret-012345".into(),
                    expires_at: now,
                },
                PreviousSecret {
                    secret: "old-secret-0123456789".into(),
                    expires_at: now + time::Duration::hours(3),
                },
            ],
        };
        assert_eq!(
            signing_secrets(&security, now),
            vec!["new-secret-0123456789", "old-secret-0123456789"]
        );
        let headers = signature_headers(&security, "msg_1", now, b"{}");
        let get = |n: &str| {
            headers
                .iter()
                .find(|(k, _)| *k == n)
                .map(|(_, v)| v.clone())
                .unwrap()
        };
        let acquire: Vec<String> = get("x-acquire-signature")
            .split(", ")
            .map(String::from)
            .collect();
        assert_eq!(
            acquire,
            vec![
                acquire_signature("new-secret-0123456789", b"{}"),
                acquire_signature("old-secret-0123456789", b"{}")
            ]
        );
        assert_eq!(get("webhook-signature").split(' ').count(), 2);
        assert_eq!(get("webhook-timestamp"), now.unix_timestamp().to_string());
        // Without HMAC: the id and time only, so receivers can still drop repeats.
        let unsigned: Vec<&str> = signature_headers(&Security::None, "msg_1", now, b"{}")
            .into_iter()
            .map(|(name, _)| name)
            .collect();
        assert_eq!(unsigned, vec!["webhook-id", "webhook-timestamp"]);
    }
}
