//! `hookbin completions SHELL` and `hookbin man`: print the completion script or the manual
//! page, both generated from the flags the binary parses, or with `--install` write them where
//! the shell and `man` look for a user's own, so installing either is one command.

use std::io::Write;
use std::path::{Path, PathBuf};

use clap::CommandFactory;
use clap_complete::Shell;

use super::{Args, CliError};

/// Where a user's own completion script for `shell` goes, if that shell has such a place
/// that it reads without further setup (bash-completion's and fish's user directories; zsh's
/// `site-functions` under the data home, which `fpath` must name).
fn completion_path(shell: Shell, env: &Env) -> Option<PathBuf> {
    match shell {
        Shell::Bash => Some(env.data_home()?.join("bash-completion/completions/hookbin")),
        Shell::Zsh => Some(env.data_home()?.join("zsh/site-functions/_hookbin")),
        Shell::Fish => Some(env.config_home()?.join("fish/completions/hookbin.fish")),
        _ => None,
    }
}

/// The XDG base directories, read once from the environment (tests give their own).
pub struct Env {
    home: Option<PathBuf>,
    data: Option<PathBuf>,
    config: Option<PathBuf>,
}

impl Env {
    /// The process's own environment.
    pub fn current() -> Env {
        let var = |k| {
            std::env::var_os(k)
                .filter(|v| !v.is_empty())
                .map(PathBuf::from)
        };
        Env {
            home: var("HOME"),
            data: var("XDG_DATA_HOME"),
            config: var("XDG_CONFIG_HOME"),
        }
    }

    fn data_home(&self) -> Option<PathBuf> {
        self.data
            .clone()
            .or_else(|| Some(self.home.as_ref()?.join(".local/share")))
    }

    fn config_home(&self) -> Option<PathBuf> {
        self.config
            .clone()
            .or_else(|| Some(self.home.as_ref()?.join(".config")))
    }
}

/// Prints the completion script for `shell`, or installs it and says where.
pub fn completions(shell: Shell, install: bool, env: &Env) -> Result<(), CliError> {
    let mut script = Vec::new();
    clap_complete::generate(shell, &mut Args::command(), "hookbin", &mut script);
    if !install {
        return print(&script);
    }
    let path = completion_path(shell, env).ok_or_else(|| {
        CliError::Input(format!(
            "{shell} has no directory for a user's completions that hookbin knows; \
             print the script with `hookbin completions {shell}` and load it from your profile"
        ))
    })?;
    write(&path, &script)?;
    println!("installed {}", path.display());
    if shell == Shell::Zsh {
        println!(
            "zsh loads it once {} is on fpath, before compinit",
            path.parent().unwrap_or(Path::new("")).display()
        );
    }
    Ok(())
}

/// Prints the manual page (roff), or installs it under the data home's `man/man1` and says
/// where (man-db searches it when `~/.local/bin` is on PATH; otherwise add it to MANPATH).
pub fn man(install: bool, env: &Env) -> Result<(), CliError> {
    let mut page = Vec::new();
    clap_mangen::Man::new(Args::command())
        .render(&mut page)
        .map_err(|e| CliError::Input(format!("cannot write the manual page: {e}")))?;
    if !install {
        return print(&page);
    }
    let path = env
        .data_home()
        .ok_or_else(|| CliError::Input("neither HOME nor XDG_DATA_HOME is set".into()))?
        .join("man/man1/hookbin.1");
    write(&path, &page)?;
    println!("installed {} (try `man hookbin`)", path.display());
    Ok(())
}

fn print(bytes: &[u8]) -> Result<(), CliError> {
    let mut out = std::io::stdout().lock();
    out.write_all(bytes)
        .and_then(|()| out.flush())
        .map_err(|e| CliError::Input(format!("cannot write to stdout: {e}")))
}

/// Writes `bytes` to `path`, creating its directory, through a temporary file renamed over
/// it, so a half-written script is never loaded.
fn write(path: &Path, bytes: &[u8]) -> Result<(), CliError> {
    let fail = |e: std::io::Error| CliError::Input(format!("cannot write {}: {e}", path.display()));
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(fail)?;
    }
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, bytes).map_err(fail)?;
    std::fs::rename(&tmp, path).map_err(fail)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(home: &str, data: Option<&str>, config: Option<&str>) -> Env {
        Env {
            home: Some(home.into()),
            data: data.map(PathBuf::from),
            config: config.map(PathBuf::from),
        }
    }

    #[test]
    fn completions_go_where_each_shell_looks_for_a_users_own() {
        let plain = env("/h", None, None);
        assert_eq!(
            completion_path(Shell::Bash, &plain).unwrap(),
            Path::new("/h/.local/share/bash-completion/completions/hookbin")
        );
        assert_eq!(
            completion_path(Shell::Fish, &plain).unwrap(),
            Path::new("/h/.config/fish/completions/hookbin.fish")
        );
        let xdg = env("/h", Some("/d"), Some("/c"));
        assert_eq!(
            completion_path(Shell::Zsh, &xdg).unwrap(),
            Path::new("/d/zsh/site-functions/_hookbin")
        );
        assert_eq!(
            completion_path(Shell::Fish, &xdg).unwrap(),
            Path::new("/c/fish/completions/hookbin.fish")
        );
        assert!(completion_path(Shell::PowerShell, &xdg).is_none());
    }
}
