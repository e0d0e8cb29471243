//! Reading a request body within a size limit and a time limit, for captures and for the
//! small bodies of forms and the API alike.

use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, LengthLimitError, Limited};
use hyper::body::{Body, Incoming};

/// Why a body could not be read in full.
#[derive(Debug, thiserror::Error)]
pub enum BodyError {
    #[error("request body is larger than the limit of {0} bytes")]
    TooLarge(u64),
    #[error("the request body did not arrive within {0:?}")]
    TimedOut(Duration),
    #[error("could not read the request body: {0}")]
    Failed(String),
}

/// Reads all of `body`: refused before a byte is read if it announces more than `limit`, cut
/// off at `limit` if it sends more, and abandoned if it has not all arrived within `timeout`.
pub async fn read(body: Incoming, limit: u64, timeout: Duration) -> Result<Bytes, BodyError> {
    if body.size_hint().lower() > limit {
        return Err(BodyError::TooLarge(limit));
    }
    let limited = Limited::new(body, usize::try_from(limit).unwrap_or(usize::MAX));
    match tokio::time::timeout(timeout, limited.collect()).await {
        Err(_) => Err(BodyError::TimedOut(timeout)),
        Ok(Ok(collected)) => Ok(collected.to_bytes()),
        Ok(Err(e)) if e.is::<LengthLimitError>() => Err(BodyError::TooLarge(limit)),
        Ok(Err(e)) => Err(BodyError::Failed(e.to_string())),
    }
}
