//! Signature checks shared by the request page and the API: which secrets a capture is checked
//! with, and the check itself.

use crate::inspect::signatures::{self, Check};
use crate::model::{BinId, Capture};
use crate::web::{App, WebError};

/// The secrets a capture in `bin` is checked with: the bin's own, then every webhook's.
pub async fn secrets(app: &App, bin: &BinId) -> Result<Vec<(String, String)>, WebError> {
    let mut out = Vec::new();
    if let Some(s) = &app.store.bin_settings(bin).await?.signing_secret {
        out.push(("this bin's signing secret".to_owned(), s.clone()));
    }
    for w in app.store.list_webhooks().await? {
        out.push((
            format!("the secret of webhook \u{201c}{}\u{201d}", w.name),
            w.secret,
        ));
    }
    Ok(out)
}

/// Checks the signatures of `c` (which must hold its whole body) against `secrets`.
pub fn check(c: &Capture, secrets: &[(String, String)]) -> Vec<Check> {
    signatures::check_all(
        |name| c.header(name).map(str::to_owned),
        &c.body,
        c.received_at.timestamp(),
        secrets,
    )
}
