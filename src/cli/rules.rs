//! `hookbin bins rules BIN`: print a bin's answer rules (with each sequence's count), replace
//! them from a JSON file, or start its sequences again, on a running hookbin.

use std::io::Read;
use std::path::Path;

use hyper::{Method, StatusCode};
use serde_json::{Value, json};

use super::CliError;
use super::remote::Remote;

/// Reads a rule list from `file` (`-` for stdin): `{"rules": [...]}` or a bare `[...]`.
fn read_rules(file: &Path) -> Result<Value, CliError> {
    let mut text = String::new();
    let read = if file == Path::new("-") {
        std::io::stdin().read_to_string(&mut text).map(|_| ())
    } else {
        std::fs::read_to_string(file).map(|t| text = t)
    };
    read.map_err(|e| CliError::Input(format!("cannot read {}: {e}", file.display())))?;
    let v: Value = serde_json::from_str(&text)
        .map_err(|e| CliError::Input(format!("{} is not JSON: {e}", file.display())))?;
    Ok(match v {
        Value::Array(_) => json!({ "rules": v }),
        v => v,
    })
}

/// Prints the rules after setting or resetting them, as the server then holds them.
pub async fn rules(
    remote: &Remote,
    bin: &str,
    set: Option<&Path>,
    reset: bool,
) -> Result<bool, CliError> {
    let path = format!("/api/bins/{bin}/rules");
    let shown = match (set, reset) {
        (Some(file), _) => {
            let body = read_rules(file)?;
            remote
                .expect(Method::PUT, &path, Some(body), StatusCode::OK)
                .await?
        }
        (None, true) => {
            let reset = format!("{path}/reset");
            remote
                .expect(Method::POST, &reset, Some(json!({})), StatusCode::OK)
                .await?
        }
        (None, false) => {
            remote
                .expect(Method::GET, &path, None, StatusCode::OK)
                .await?
        }
    };
    println!(
        "{}",
        serde_json::to_string_pretty(&shown).expect("JSON prints")
    );
    Ok(true)
}
