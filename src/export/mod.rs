//! Captures in forms other tools take: a curl command that re-sends the exact request, and
//! HAR 1.2 for HTTP tooling: pure functions over stored captures, and the HAR stream that
//! fetches its captures in bounded batches through a function it is given.

mod curl;
mod har;

pub use curl::curl;
pub use har::{HAR_END, HAR_START, har_entry, stream as har_stream};
