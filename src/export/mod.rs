//! Captures in forms other tools take: a curl command that re-sends the exact request, and
//! HAR 1.2 for HTTP tooling. Pure functions over stored captures.

mod curl;
mod har;

pub use curl::curl;
pub use har::{HAR_END, HAR_START, har_entry};
