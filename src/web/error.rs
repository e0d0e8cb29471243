//! Every way a request can fail, and the one place that decides its HTTP status.
//!
//! API and capture routes answer `{"error": "..."}`; pages answer an HTML error page. Failures
//! not caused by the client are logged and answered with a generic 500 that leaks nothing.

use askama::Template;
use hyper::{Response, StatusCode};

use super::response::{self, Body};
use crate::capture::CaptureError;
use crate::capture::body::BodyError;
use crate::relay::ReplayError;
use crate::sender::SendError;
use crate::store::StoreError;

/// A failed request, by what the client should learn from it.
#[derive(Debug, thiserror::Error)]
pub enum WebError {
    #[error("{0}")]
    BadRequest(String),
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    Conflict(String),
    #[error("{0}")]
    TooLarge(String),
    /// The request (its body) did not arrive in time; the connection is closed after this.
    #[error("{0}")]
    TimedOut(String),
    #[error("{0}")]
    Forbidden(String),
    #[error("{0}")]
    Unauthorized(String),
    /// The database has reached its size limit or the disk is full.
    #[error("{0}")]
    Full(String),
    /// Storage cannot take writes right now (read-only database, shutting down).
    #[error("{0}")]
    Unavailable(String),
    /// Over a per-client rate limit; `retry_after` seconds until the next is allowed.
    #[error("{message}")]
    RateLimited { message: String, retry_after: u64 },
    /// The path exists but not with this method; `allow` lists the methods it has.
    #[error("{message}")]
    MethodNotAllowed { message: String, allow: String },
    #[error("internal error")]
    Internal(String),
}

impl WebError {
    fn status(&self) -> StatusCode {
        match self {
            WebError::BadRequest(_) => StatusCode::BAD_REQUEST,
            WebError::NotFound(_) => StatusCode::NOT_FOUND,
            WebError::Conflict(_) => StatusCode::CONFLICT,
            WebError::TooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            WebError::TimedOut(_) => StatusCode::REQUEST_TIMEOUT,
            WebError::Forbidden(_) => StatusCode::FORBIDDEN,
            WebError::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            WebError::Full(_) => StatusCode::INSUFFICIENT_STORAGE,
            WebError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            WebError::RateLimited { .. } => StatusCode::TOO_MANY_REQUESTS,
            WebError::MethodNotAllowed { .. } => StatusCode::METHOD_NOT_ALLOWED,
            WebError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// The response for this error: JSON for API clients, a page for browsers.
    pub fn respond(self, api: bool) -> Response<Body> {
        if let WebError::Internal(detail) = &self {
            tracing::error!(%detail, "request failed");
        }
        let status = self.status();
        let message = self.to_string();
        let retry_after = match &self {
            WebError::RateLimited { retry_after, .. } => Some(*retry_after),
            _ => None,
        };
        let allow = match &self {
            WebError::MethodNotAllowed { allow, .. } => {
                hyper::header::HeaderValue::from_str(allow).ok()
            }
            _ => None,
        };
        let mut resp = if api {
            response::json(status, &serde_json::json!({ "error": message }))
        } else {
            Self::page(status, message)
        };
        if let Some(allow) = allow {
            resp.headers_mut().insert(hyper::header::ALLOW, allow);
        }
        if let Some(secs) = retry_after {
            resp.headers_mut()
                .insert(hyper::header::RETRY_AFTER, secs.into());
        }
        if status == StatusCode::REQUEST_TIMEOUT {
            // The rest of the body may still be on its way: the connection cannot be reused.
            resp.headers_mut().insert(
                hyper::header::CONNECTION,
                hyper::header::HeaderValue::from_static("close"),
            );
        }
        resp
    }

    fn page(status: StatusCode, message: String) -> Response<Body> {
        let page = ErrorPage {
            status: status.as_u16(),
            reason: status.canonical_reason().unwrap_or("Error"),
            message: &message,
        };
        match page.render() {
            Ok(html) => response::html(status, html),
            Err(_) => {
                response::with_type(status, "text/plain; charset=utf-8", response::full(message))
            }
        }
    }
}

impl From<StoreError> for WebError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::NotFound(what) => WebError::NotFound(format!("{what} not found")),
            StoreError::Conflict(msg) => WebError::Conflict(msg),
            StoreError::Full(msg) => WebError::Full(msg),
            StoreError::ReadOnly(msg) | StoreError::Unreachable(msg) => WebError::Unavailable(msg),
            StoreError::Closed => {
                WebError::Unavailable("storage is shutting down; try again".into())
            }
            e => WebError::Internal(e.to_string()),
        }
    }
}

impl From<ReplayError> for WebError {
    fn from(e: ReplayError) -> Self {
        match e {
            ReplayError::BadUrl(msg) => WebError::BadRequest(msg),
            ReplayError::Store(e) => e.into(),
        }
    }
}

impl From<SendError> for WebError {
    fn from(e: SendError) -> Self {
        match e {
            SendError::Invalid(msg) => WebError::BadRequest(msg),
            SendError::UnknownEvent(_) => WebError::NotFound(e.to_string()),
            SendError::Store(e) => e.into(),
        }
    }
}

impl From<CaptureError> for WebError {
    fn from(e: CaptureError) -> Self {
        match e {
            CaptureError::UnknownBin(_) => WebError::NotFound(e.to_string()),
            CaptureError::Body(e) => e.into(),
            CaptureError::Store(e) => e.into(),
        }
    }
}

impl From<BodyError> for WebError {
    fn from(e: BodyError) -> Self {
        match e {
            BodyError::TooLarge(_) => WebError::TooLarge(e.to_string()),
            BodyError::TimedOut(_) => WebError::TimedOut(e.to_string()),
            BodyError::Failed(_) => WebError::BadRequest(e.to_string()),
        }
    }
}

#[derive(Template)]
#[template(path = "error.html")]
struct ErrorPage<'a> {
    status: u16,
    reason: &'a str,
    message: &'a str,
}
