//! The API's one error type, and the one place errors become responses.
//!
//! Every error answers `{"error":{"type","message","field"}}`. Server errors are logged in full
//! and answered with an opaque message: no storage or SDK detail reaches a client.

use crate::api::types::{ErrorBody, ErrorDetail, ErrorType};
use crate::model::ValidationError;
use crate::store::StoreError;
use lambda_http::{Body, Response};

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("{message}")]
    InvalidInput {
        field: Option<String>,
        message: String,
    },
    #[error("{0}")]
    Unauthorized(&'static str),
    #[error("{0}")]
    Forbidden(&'static str),
    /// A field names what the key may not act on (another account).
    #[error("{message}")]
    ForbiddenField {
        field: &'static str,
        message: &'static str,
    },
    #[error("{0}")]
    NotFound(String),
    #[error("this path does not accept {0}")]
    MethodNotAllowed(String, String),
    #[error("{0}")]
    Conflict(String),
    /// A well-formed field the resource's state refuses (its flow, its credentials): 409,
    /// naming the field.
    #[error("{message}")]
    FieldConflict { field: String, message: String },
    #[error("the request body is larger than {0} bytes")]
    PayloadTooLarge(usize),
    /// An allowance of the account is spent until the window ends, `retry_after_secs` away.
    #[error("{message}")]
    TooManyRequests {
        message: String,
        retry_after_secs: u64,
    },
    #[error("internal error: {0}")]
    Internal(String),
}

impl ApiError {
    pub fn invalid(field: impl Into<String>, message: impl Into<String>) -> Self {
        ApiError::InvalidInput {
            field: Some(field.into()),
            message: message.into(),
        }
    }

    /// The error's type: its status and its stable name on the wire.
    pub fn kind(&self) -> ErrorType {
        match self {
            ApiError::InvalidInput { .. } => ErrorType::InvalidInput,
            ApiError::Unauthorized(_) => ErrorType::Unauthorized,
            ApiError::Forbidden(_) | ApiError::ForbiddenField { .. } => {
                ErrorType::UnauthorizedAccess
            }
            ApiError::NotFound(_) => ErrorType::RecordNotFound,
            ApiError::MethodNotAllowed(..) => ErrorType::MethodNotAllowed,
            ApiError::Conflict(_) | ApiError::FieldConflict { .. } => ErrorType::Conflict,
            ApiError::PayloadTooLarge(_) => ErrorType::PayloadTooLarge,
            ApiError::TooManyRequests { .. } => ErrorType::TooManyRequests,
            ApiError::Internal(_) => ErrorType::ServerError,
        }
    }

    pub fn status(&self) -> u16 {
        self.kind().status()
    }

    pub fn type_name(&self) -> &'static str {
        self.kind().as_str()
    }

    /// The response; `request_id` lets support find the log line of a 500.
    pub fn into_response(self, request_id: Option<&str>) -> Response<Body> {
        let (message, field) = match &self {
            ApiError::Internal(_) => (
                match request_id {
                    Some(id) => format!("something went wrong on our side; request id {id}"),
                    None => "something went wrong on our side".to_string(),
                },
                None,
            ),
            ApiError::InvalidInput { field, message } => (message.clone(), field.clone()),
            ApiError::FieldConflict { field, message } => (message.clone(), Some(field.clone())),
            ApiError::ForbiddenField { field, message } => {
                (message.to_string(), Some(field.to_string()))
            }
            other => (other.to_string(), None),
        };
        let body = ErrorBody {
            error: ErrorDetail {
                kind: self.kind(),
                message,
                field,
            },
        };
        let mut builder = Response::builder()
            .status(self.status())
            .header("content-type", "application/json");
        match &self {
            ApiError::Unauthorized(_) => builder = builder.header("www-authenticate", "Bearer"),
            ApiError::MethodNotAllowed(_, allow) => {
                builder = builder.header("allow", allow.as_str())
            }
            ApiError::TooManyRequests {
                retry_after_secs, ..
            } => builder = builder.header("retry-after", retry_after_secs.to_string()),
            _ => {}
        }
        builder
            .body(Body::Text(
                serde_json::to_string(&body).expect("error bodies serialise"),
            ))
            .expect("static headers are valid")
    }
}

impl From<ValidationError> for ApiError {
    fn from(e: ValidationError) -> Self {
        if e.conflict {
            return ApiError::FieldConflict {
                field: e.field,
                message: e.message,
            };
        }
        ApiError::InvalidInput {
            field: Some(e.field),
            message: e.message,
        }
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::NotFound => ApiError::NotFound("no webhook with this id".into()),
            StoreError::Conflict => ApiError::Conflict(
                "the webhook was changed by another request; read it again and retry".into(),
            ),
            other => ApiError::Internal(other.to_string()),
        }
    }
}
