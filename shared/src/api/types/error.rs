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
// When each is answered: `ErrorType::description`, which the OpenAPI document shows.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, ToSchema)]
#[allow(clippy::enum_variant_names)]
pub enum ErrorType {
    #[serde(rename = "ERROR_INVALID_INPUT")]
    InvalidInput,
    #[serde(rename = "ERROR_UNAUTHORIZED")]
    Unauthorized,
    #[serde(rename = "ERROR_UNAUTHORIZED_ACCESS")]
    UnauthorizedAccess,
    #[serde(rename = "ERROR_RECORD_NOT_FOUND")]
    RecordNotFound,
    #[serde(rename = "ERROR_METHOD_NOT_ALLOWED")]
    MethodNotAllowed,
    #[serde(rename = "ERROR_CONFLICT")]
    Conflict,
    #[serde(rename = "ERROR_PAYLOAD_TOO_LARGE")]
    PayloadTooLarge,
    #[serde(rename = "ERROR_TOO_MANY_REQUESTS")]
    TooManyRequests,
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

    /// When it is answered: the OpenAPI document's description of its status.
    pub fn description(self) -> &'static str {
        match self {
        ErrorType::InvalidInput => "`ERROR_INVALID_INPUT`: the request is malformed or a field is invalid; `field` names it.",
        ErrorType::Unauthorized => "`ERROR_UNAUTHORIZED`: no API key, or not a valid one.",
        ErrorType::UnauthorizedAccess => "`ERROR_UNAUTHORIZED_ACCESS`: a read-only key asked for a change, or the request names another account than the key's.",
        ErrorType::RecordNotFound => "`ERROR_RECORD_NOT_FOUND`: no such webhook or delivery in the key's account, or none of the flow the path needs (deliveries are outbound webhooks', resolving is inbound webhooks').",
        ErrorType::MethodNotAllowed => "`ERROR_METHOD_NOT_ALLOWED`: the path does not take this method.",
        ErrorType::Conflict => "`ERROR_CONFLICT`: the version precondition failed, the account has its maximum of webhooks, a resend is not possible now, or a well-formed field conflicts with the webhook as it is (`field` names it: a field or timeout of the other flow, a change of flow, credentials to send again for a URL on another origin, a secret to rotate on a webhook without one).",
        ErrorType::PayloadTooLarge => "`ERROR_PAYLOAD_TOO_LARGE`: the body is over 256 KiB.",
        ErrorType::TooManyRequests => "`ERROR_TOO_MANY_REQUESTS`: the account's resolves in flight are at their limit (`Retry-After` says when to retry), or API Gateway throttled the route (`{\"message\"}`).",
        ErrorType::ServerError => "`ERROR_SERVER_ERROR`: our fault; `message` carries a request id for support. API Gateway answers `{\"message\"}` when the function failed.",
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
