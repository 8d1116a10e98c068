//! How we authenticate ourselves to a webhook's URL, and how credentials are masked.

use time::OffsetDateTime;

/// A secret that was rotated out but still signs until `expires_at`, so receivers can switch
/// without dropping requests.
#[derive(Clone, PartialEq)]
pub struct PreviousSecret {
    pub secret: String,
    pub expires_at: OffsetDateTime,
}

/// `Debug` prints the masked view: a webhook logged with `{:?}` (or inside an error) carries no
/// credential.
#[derive(Clone, PartialEq)]
pub enum Security {
    None,
    Hmac {
        secret: String,
        previous: Vec<PreviousSecret>,
    },
    Basic {
        username: String,
        password: String,
    },
    Bearer {
        token: String,
    },
    Header {
        name: String,
        value: String,
    },
}

impl std::fmt::Debug for Security {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Security::None => f.write_str("Security::None"),
            Security::Hmac { secret, previous } => f
                .debug_struct("Security::Hmac")
                .field("secret", &mask(secret))
                .field("previous", previous)
                .finish(),
            Security::Basic { username, password } => f
                .debug_struct("Security::Basic")
                .field("username", username)
                .field("password", &mask(password))
                .finish(),
            Security::Bearer { token } => f
                .debug_struct("Security::Bearer")
                .field("token", &mask(token))
                .finish(),
            Security::Header { name, value } => f
                .debug_struct("Security::Header")
                .field("name", name)
                .field("value", &mask(value))
                .finish(),
        }
    }
}

impl std::fmt::Debug for PreviousSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PreviousSecret")
            .field("secret", &mask(&self.secret))
            .field("expires_at", &self.expires_at)
            .finish()
    }
}

/// Whether a credential someone sent is the stored one, in a time that depends on the lengths
/// only, never on where the two differ: no caller can find a stored secret byte by byte by
/// timing its answers.
pub fn secrets_equal(sent: &str, stored: &str) -> bool {
    let (a, b) = (sent.as_bytes(), stored.as_bytes());
    if a.len() != b.len() {
        return false;
    }
    let difference = a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y));
    std::hint::black_box(difference) == 0
}

/// How a credential is shown after creation: never in full. Long random secrets keep their
/// last four characters so a user can tell two apart; short ones show nothing.
pub fn mask(secret: &str) -> String {
    let chars: Vec<char> = secret.chars().collect();
    if chars.len() >= 24 {
        let prefix = if secret.starts_with(crate::ids::SECRET_PREFIX) {
            crate::ids::SECRET_PREFIX
        } else {
            ""
        };
        let tail: String = chars[chars.len() - 4..].iter().collect();
        format!("{prefix}****{tail}")
    } else {
        "********".to_string()
    }
}

impl Security {
    pub fn type_name(&self) -> &'static str {
        match self {
            Security::None => "none",
            Security::Hmac { .. } => "hmac",
            Security::Basic { .. } => "basic",
            Security::Bearer { .. } => "bearer",
            Security::Header { .. } => "header",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn secrets_compare_equal_only_when_equal() {
        assert!(secrets_equal("whsec_abc", "whsec_abc"));
        assert!(!secrets_equal("whsec_abd", "whsec_abc"));
        assert!(!secrets_equal("whsec_ab", "whsec_abc"));
        assert!(!secrets_equal("", "x"));
        assert!(secrets_equal("", ""));
    }

    #[test]
    fn masks_keep_only_the_tail_of_long_secrets() {
        assert_eq!(
            mask("whsec_AAAAAAAAAAAAAAAAAAAAAAAAAAAAwxyz"),
            "whsec_****wxyz"
        );
        assert_eq!(mask("hunter2"), "********");
        assert_eq!(mask("0123456789012345678901234567"), "****4567");
    }

    #[test]
    fn views_never_carry_credentials() {
        let all = [
            Security::Hmac {
                secret: "whsec_c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0MTI=".into(),
                previous: vec![],
            },
            Security::Basic {
                username: "u".into(),
                password: "p4ssw0rd-secret".into(),
            },
            Security::Bearer {
                token: "tok-very-secret-value-123456".into(),
            },
            Security::Header {
                name: "X-Api-Key".into(),
                value: "header-secret".into(),
            },
        ];
        for s in all {
            let text = format!(
                "{:?} {}",
                s,
                json!(crate::api::types::SecurityOut::masked(&s))
            );
            for secret in [
                "c2VjcmV0c2VjcmV0",
                "p4ssw0rd",
                "tok-very-secret",
                "header-secret",
            ] {
                assert!(!text.contains(secret), "{text} leaks {secret}");
            }
        }
    }
}
