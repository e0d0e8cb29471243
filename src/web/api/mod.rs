//! The JSON API, as docs/api.md documents it: bins and captures in [`bins`],
//! events, webhooks and deliveries in [`webhooks`].

mod bins;
pub mod openapi;
mod requests;
mod rules;
mod wait;
mod webhooks;

pub use bins::*;
pub use openapi::openapi;
pub use requests::*;
pub use rules::*;
pub use wait::{next, wait};
pub use webhooks::*;

use hyper::Request;
use hyper::body::Incoming;
use serde::de::DeserializeOwned;

use super::{WebError, read_small_body};

/// Time a larger API body (a rule list, a preview) gets to arrive in full.
const BODY_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(30);

/// Reads a JSON object body into `T`, or says clearly what is wrong with it.
async fn json_body<T: DeserializeOwned>(
    req: Request<Incoming>,
    example: &str,
) -> Result<T, WebError> {
    parse_object(&read_small_body(req).await?, example)
}

/// Like [`json_body`] for a body of up to `limit` bytes, more than a form's (given
/// [`BODY_TIMEOUT`] to arrive).
async fn large_json_body<T: DeserializeOwned>(
    req: Request<Incoming>,
    limit: u64,
    example: &str,
) -> Result<T, WebError> {
    let body = crate::capture::body::read(req.into_body(), limit, BODY_TIMEOUT).await?;
    parse_object(&body, example)
}

/// [`object`], its refusal said with an example of what is wanted.
fn parse_object<T: DeserializeOwned>(body: &[u8], example: &str) -> Result<T, WebError> {
    object(body).map_err(|e| {
        WebError::BadRequest(format!("body must be a JSON object like {example}: {e}"))
    })
}

/// Parses `body` as a JSON object into `T`. Serde would also read a struct from an array of
/// its fields in order (`[null, null]`), which no client means; only an object is taken.
fn object<T: DeserializeOwned>(body: &[u8]) -> Result<T, String> {
    let first = body.iter().find(|b| !b.is_ascii_whitespace());
    if first.is_some_and(|b| *b != b'{') {
        return Err("the body is JSON of another kind".into());
    }
    serde_json::from_slice(body).map_err(|e| e.to_string())
}

/// Like [`json_body`] for endpoints whose every field is optional: an empty (or blank) body
/// reads as `T::default()`.
async fn optional_json_body<T: DeserializeOwned + Default>(
    req: Request<Incoming>,
    example: &str,
) -> Result<T, WebError> {
    let body = read_small_body(req).await?;
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(T::default());
    }
    object(&body).map_err(|e| {
        WebError::BadRequest(format!(
            "body must be empty or a JSON object like {example}: {e}"
        ))
    })
}
