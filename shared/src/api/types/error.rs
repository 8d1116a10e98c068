//! The one error body every error answers with.

use serde::Serialize;
use utoipa::ToSchema;

/// `{"error": {"type", "message", "field"}}`.
#[derive(Clone, Debug, PartialEq, Serialize, ToSchema)]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

#[derive(Clone, Debug, PartialEq, Serialize, ToSchema)]
pub struct ErrorDetail {
    /// Stable: match on it, not on `message`.
    #[serde(rename = "type")]
    pub kind: ErrorType,
    /// For people; may change.
    pub message: String,
    /// The offending field's path (`url`, `security.password`, `events[1]`, `data.caseId`,
    /// a query parameter or header name), or `null`.
    #[schema(required = true)]
    pub field: Option<String>,
}

/// The error types, one per status.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, ToSchema)]
#[allow(clippy::enum_variant_names)]
pub enum ErrorType {
    /// 400: the request is malformed or a field is invalid; `field` names it.
    #[serde(rename = "ERROR_INVALID_INPUT")]
    InvalidInput,
    /// 401: no API key, or not a valid one.
    #[serde(rename = "ERROR_UNAUTHORIZED")]
    Unauthorized,
    /// 403: a read-only key asked for a change.
    #[serde(rename = "ERROR_UNAUTHORIZED_ACCESS")]
    UnauthorizedAccess,
    /// 404: no such webhook, delivery or path (another account's webhook is no webhook).
    #[serde(rename = "ERROR_RECORD_NOT_FOUND")]
    RecordNotFound,
    /// 405: the path does not take this method; `Allow` lists those it takes.
    #[serde(rename = "ERROR_METHOD_NOT_ALLOWED")]
    MethodNotAllowed,
    /// 409: a version precondition failed, the account is full, or a resend is not possible now.
    #[serde(rename = "ERROR_CONFLICT")]
    Conflict,
    /// 413: the body is over 256 KiB.
    #[serde(rename = "ERROR_PAYLOAD_TOO_LARGE")]
    PayloadTooLarge,
    /// 429: an allowance of the account is spent; `Retry-After` says for how long.
    #[serde(rename = "ERROR_TOO_MANY_REQUESTS")]
    TooManyRequests,
    /// 500: our fault; `message` carries a request id for support.
    #[serde(rename = "ERROR_SERVER_ERROR")]
    ServerError,
}

impl ErrorType {
    pub const ALL: [ErrorType; 9] = [
        ErrorType::InvalidInput,
        ErrorType::Unauthorized,
        ErrorType::UnauthorizedAccess,
        ErrorType::RecordNotFound,
        ErrorType::MethodNotAllowed,
        ErrorType::Conflict,
        ErrorType::PayloadTooLarge,
        ErrorType::TooManyRequests,
        ErrorType::ServerError,
    ];

    /// The status each type answers with.
    pub fn status(self) -> u16 {
        match self {
            ErrorType::InvalidInput => 400,
            ErrorType::Unauthorized => 401,
            ErrorType::UnauthorizedAccess => 403,
            ErrorType::RecordNotFound => 404,
            ErrorType::MethodNotAllowed => 405,
            ErrorType::Conflict => 409,
            ErrorType::PayloadTooLarge => 413,
            ErrorType::TooManyRequests => 429,
            ErrorType::ServerError => 500,
        }
    }

    /// The name on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorType::InvalidInput => "ERROR_INVALID_INPUT",
            ErrorType::Unauthorized => "ERROR_UNAUTHORIZED",
            ErrorType::UnauthorizedAccess => "ERROR_UNAUTHORIZED_ACCESS",
            ErrorType::RecordNotFound => "ERROR_RECORD_NOT_FOUND",
            ErrorType::MethodNotAllowed => "ERROR_METHOD_NOT_ALLOWED",
            ErrorType::Conflict => "ERROR_CONFLICT",
            ErrorType::PayloadTooLarge => "ERROR_PAYLOAD_TOO_LARGE",
            ErrorType::TooManyRequests => "ERROR_TOO_MANY_REQUESTS",
            ErrorType::ServerError => "ERROR_SERVER_ERROR",
        }
    }
}
