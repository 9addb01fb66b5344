//! The one error type of the HTTP layer, and the one place it becomes a response: an HTTP
//! status with a `{"type":"status","data":{"status":1,...}}` envelope. Faults of the server's
//! own are logged here with their details; the client gets a sentence without them.

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

use super::store::StoreError;
use crate::protocol::{Invalid, ServerEnvelope, Status};

#[derive(Debug, thiserror::Error)]
pub enum AjaxError {
    /// Malformed or invalid input: the text says where and why.
    #[error("{0}")]
    Invalid(#[from] Invalid),
    #[error("could not read the request body")]
    BodyUnreadable,
    #[error("request body not received in time")]
    BodyTimeout,
    /// A well-formed room name that this server does not serve.
    #[error("no such room: {0}")]
    NoSuchRoom(String),
    /// A bot's request without its token, or with a wrong or revoked one (401, with
    /// `WWW-Authenticate: Bearer`).
    #[error("not allowed: {0}")]
    Unauthorized(&'static str),
    /// Not allowed: a wrong key, token or a ban. The text says which.
    #[error("{0}")]
    Forbidden(String),
    /// A message (or ban) that does not exist.
    #[error("{0}")]
    NotFound(String),
    /// A change that conflicts with the state it meets (a 21st emoji on a message).
    #[error("{0}")]
    Conflict(String),
    /// Anything but POST on `/ajax` or a bot's endpoint (named here).
    #[error("method not allowed: {0} accepts POST only")]
    MethodNotAllowed(&'static str),
    /// The system could not give the random bits of a new token (never seen).
    #[error("internal server error")]
    NoRandomness,
    #[error("request body too large: at most {0} bytes allowed")]
    TooLarge(usize),
    #[error("unsupported content type: send Content-Type: application/json")]
    UnsupportedMediaType,
    /// A bot's post that is neither text nor JSON.
    #[error("unsupported content type: send Content-Type: text/plain or application/json")]
    NotTextOrJson,
    #[error("too many requests: try again in {} s", retry_after_secs(*.0))]
    RateLimited(std::time::Duration),
    #[error("storage is unavailable, please try again later")]
    Storage(#[from] StoreError),
    #[error("internal server error")]
    Panic,
    /// A reply that could not be encoded (never seen: it would be a bug).
    #[error("internal server error")]
    Encode(#[source] serde_json::Error),
}

impl AjaxError {
    pub fn status_code(&self) -> StatusCode {
        match self {
            AjaxError::Invalid(_) | AjaxError::BodyUnreadable => StatusCode::BAD_REQUEST,
            AjaxError::BodyTimeout => StatusCode::REQUEST_TIMEOUT,
            AjaxError::NoSuchRoom(_) | AjaxError::NotFound(_) => StatusCode::NOT_FOUND,
            AjaxError::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            AjaxError::Forbidden(_) => StatusCode::FORBIDDEN,
            AjaxError::Conflict(_) => StatusCode::CONFLICT,
            AjaxError::MethodNotAllowed(_) => StatusCode::METHOD_NOT_ALLOWED,
            AjaxError::TooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            AjaxError::UnsupportedMediaType | AjaxError::NotTextOrJson => {
                StatusCode::UNSUPPORTED_MEDIA_TYPE
            }
            AjaxError::RateLimited(_) => StatusCode::TOO_MANY_REQUESTS,
            AjaxError::Storage(_) => StatusCode::SERVICE_UNAVAILABLE,
            AjaxError::Panic | AjaxError::Encode(_) | AjaxError::NoRandomness => {
                StatusCode::INTERNAL_SERVER_ERROR
            }
        }
    }
}

impl IntoResponse for AjaxError {
    fn into_response(self) -> Response {
        match &self {
            AjaxError::Storage(err) => {
                tracing::error!(error = err as &dyn std::error::Error, "storage fault");
            }
            AjaxError::Panic => tracing::error!("handler panicked"),
            AjaxError::NoRandomness => tracing::error!("the system gave no random bits"),
            AjaxError::Encode(err) => {
                tracing::error!(
                    error = err as &dyn std::error::Error,
                    "encoding a reply failed"
                );
            }
            // Its text may quote what the client sent (serde quotes a wrong value), a key too.
            AjaxError::Invalid(_) => tracing::debug!("request refused: invalid input"),
            other => tracing::debug!(error = %other, "request refused"),
        }
        let status = self.status_code();
        let envelope = ServerEnvelope::Status(Status::failed(self.to_string()));
        let mut response = (status, Json(envelope)).into_response();
        match self {
            AjaxError::MethodNotAllowed(_) => {
                response
                    .headers_mut()
                    .insert(header::ALLOW, HeaderValue::from_static("POST"));
            }
            AjaxError::RateLimited(wait) => {
                response.headers_mut().insert(
                    header::RETRY_AFTER,
                    HeaderValue::from(retry_after_secs(wait)),
                );
            }
            AjaxError::Unauthorized(_) => {
                response
                    .headers_mut()
                    .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
            }
            _ => {}
        }
        response
    }
}

/// Whole seconds for `Retry-After`, rounded up, at least 1.
fn retry_after_secs(wait: std::time::Duration) -> u64 {
    wait.as_secs_f64().ceil().max(1.0) as u64
}
