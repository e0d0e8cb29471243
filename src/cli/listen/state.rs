//! Where a listener is in its bin: one small state file per server and bin, kept so a
//! restarted listener resumes after the last capture it forwarded.

use std::path::{Path, PathBuf};

use serde_json::{Value, json};

use crate::cli::CliError;
use crate::model::BinId;

/// The state file for `server` and `bin`: one per pair, so two listeners never share one.
pub(super) fn default_state(server: &str, bin: &BinId) -> Result<PathBuf, CliError> {
    let base = std::env::var_os("XDG_STATE_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".local/state")))
        .ok_or_else(|| CliError::Input("no HOME to keep the position in; pass --state".into()))?;
    let server: String = server
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .collect();
    Ok(base
        .join("hookbin")
        .join(format!("listen-{server}-{bin}.json")))
}

/// The last request forwarded, as saved.
pub(super) fn load_position(path: &Path) -> Result<Option<String>, CliError> {
    match std::fs::read(path) {
        Ok(bytes) => {
            let v: Value = serde_json::from_slice(&bytes).map_err(|e| {
                CliError::Input(format!(
                    "{} is not a listen state file: {e}",
                    path.display()
                ))
            })?;
            Ok(v["last"].as_str().map(str::to_owned))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(CliError::Input(format!(
            "cannot read {}: {e}",
            path.display()
        ))),
    }
}

/// The saved position, kept open: every save rewrites the file in place with one write of the
/// same length (ids are fixed-width), which a killed process cannot leave half-done. The file
/// is first made by writing beside it and renaming over, so a crash leaves the old or the new.
pub(super) struct Position {
    /// Open once the file has been made with the current length, `len`.
    file: Option<std::fs::File>,
    path: PathBuf,
    server: String,
    bin: BinId,
    len: usize,
}

impl Position {
    pub(super) fn new(path: &Path, server: &str, bin: &BinId) -> Position {
        Position {
            file: None,
            path: path.to_owned(),
            server: server.to_owned(),
            bin: bin.clone(),
            len: 0,
        }
    }

    pub(super) fn save(&mut self, last: &str) -> Result<(), CliError> {
        use std::os::unix::fs::FileExt;
        let fail = |e: std::io::Error| {
            CliError::Input(format!("cannot save {}: {e}", self.path.display()))
        };
        let text =
            json!({"server": self.server, "bin": self.bin.as_str(), "last": last}).to_string();
        if let Some(file) = self.file.as_ref().filter(|_| self.len == text.len()) {
            return file.write_all_at(text.as_bytes(), 0).map_err(fail);
        }
        if let Some(dir) = self.path.parent() {
            std::fs::create_dir_all(dir).map_err(fail)?;
        }
        let tmp = self.path.with_extension("tmp");
        std::fs::write(&tmp, &text).map_err(fail)?;
        std::fs::rename(&tmp, &self.path).map_err(fail)?;
        self.file = Some(
            std::fs::OpenOptions::new()
                .write(true)
                .open(&self.path)
                .map_err(fail)?,
        );
        self.len = text.len();
        Ok(())
    }
}
