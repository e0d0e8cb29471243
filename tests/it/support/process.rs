//! The real `hookbin` binary as a child process, for what only a process can show: the printed
//! URL, exit codes, SIGTERM and SIGKILL.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, ChildStdout, Command, Stdio};

/// A running hookbin; killed when dropped.
pub struct Hookbin {
    pub child: Child,
    pub addr: SocketAddr,
    /// The first line it printed.
    pub first_line: String,
    _stdout: BufReader<ChildStdout>,
}

/// `hookbin` with no HOOKBIN_* variables from the environment leaking in.
pub fn command() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_hookbin"));
    for (k, _) in std::env::vars() {
        if k.starts_with("HOOKBIN_") {
            c.env_remove(k);
        }
    }
    c
}

impl Hookbin {
    /// Starts hookbin on a free loopback port over `db`, with `extra` flags.
    pub fn start(db: &Path, extra: &[&str]) -> Hookbin {
        Self::spawn(
            command()
                .args(["--listen", "127.0.0.1:0", "--db"])
                .arg(db)
                .args(extra),
        )
    }

    /// Starts hookbin on a given address over `db`, as after a restart.
    pub fn start_on(db: &Path, addr: SocketAddr) -> Hookbin {
        Self::spawn(
            command()
                .args(["--listen", &addr.to_string(), "--db"])
                .arg(db),
        )
    }

    /// Starts `cmd` and reads the URL from its first line.
    pub fn spawn(cmd: &mut Command) -> Hookbin {
        let mut child = cmd
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let mut out = BufReader::new(child.stdout.take().unwrap());
        let mut line = String::new();
        out.read_line(&mut line).unwrap();
        let start = line
            .find("http://")
            .unwrap_or_else(|| panic!("no URL in {line:?}"));
        let url = line[start + 7..].split(['/', ' ']).next().unwrap();
        Hookbin {
            addr: url.parse().unwrap(),
            first_line: line,
            child,
            _stdout: out,
        }
    }

    /// SIGKILL: no chance to flush anything.
    pub fn kill(mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
    }

    /// SIGTERM, then the exit status.
    pub fn terminate(mut self) -> std::process::ExitStatus {
        let ok = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(ok.success());
        self.child.wait().unwrap()
    }
}

impl Drop for Hookbin {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
