//! One try of a call to a webhook's URL, as logged and shown.

use time::OffsetDateTime;

#[derive(Clone, Debug, PartialEq)]
pub struct Attempt {
    pub at: OffsetDateTime,
    /// The HTTP status, when an answer came.
    pub status: Option<u16>,
    /// Why the try failed, when it did; never carries credentials.
    pub error: Option<String>,
    pub duration_ms: u64,
    /// The start of the answer's body (a delivery's log keeps `STORED_EXCERPT_BYTES` of it).
    pub response_body: Option<String>,
    /// A resend the user asked for; it does not move the retry schedule.
    pub manual: bool,
}

/// How much of an answer a delivery's log keeps per attempt, counted as stored: JSON-escaped
/// UTF-8 (a control byte takes six). Ten scheduled attempts and a 64 KiB event then stay far
/// inside DynamoDB's 400 KB item.
pub const STORED_EXCERPT_BYTES: usize = 2 * 1024;

/// What the log keeps of a successful answer: enough to recognise it, and small enough that a
/// first-try success's record (its one write) stays under 1 KB, one write unit.
pub const SUCCESS_EXCERPT_BYTES: usize = 256;

/// The longest prefix of `text` whose JSON string encoding (without its quotes) takes at most
/// `max` bytes.
pub fn json_prefix(text: &str, max: usize) -> &str {
    let mut used = 0;
    for (i, c) in text.char_indices() {
        used += match c {
            '"' | '\\' | '\n' | '\r' | '\t' | '\u{8}' | '\u{c}' => 2,
            c if (c as u32) < 0x20 => 6,
            c => c.len_utf8(),
        };
        if used > max {
            return &text[..i];
        }
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_prefixes_fit_their_budget_once_encoded() {
        for text in [
            "plain",
            "\u{1}\u{1}\"\\é\u{fffd}ab\n",
            &"\u{1}".repeat(5000),
            &"x".repeat(5000),
        ] {
            for max in [0, 1, 5, 7, 100, 2048] {
                let prefix = json_prefix(text, max);
                let encoded = serde_json::to_string(prefix).unwrap().len() - 2;
                assert!(encoded <= max, "{text:?} {max}: {encoded}");
                // And nothing more would have fitted.
                if prefix.len() < text.len() {
                    let next = text[prefix.len()..].chars().next().unwrap();
                    let longer = &text[..prefix.len() + next.len_utf8()];
                    assert!(serde_json::to_string(longer).unwrap().len() - 2 > max);
                }
            }
        }
    }
}
