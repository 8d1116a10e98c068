//! One try of a call to a webhook's URL, as logged and shown.

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Attempt {
    #[serde(with = "time::serde::rfc3339")]
    pub at: OffsetDateTime,
    /// The HTTP status, when an answer came.
    pub status: Option<u16>,
    /// Why the try failed, when it did; never carries credentials.
    pub error: Option<String>,
    pub duration_ms: u64,
    /// The start of the answer's body (delivery logs keep up to 16 KiB).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub response_body: Option<String>,
    /// A resend the user asked for; it does not move the retry schedule.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub manual: bool,
}
