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
    stdout: BufReader<ChildStdout>,
}

/// `hookbin` with no HOOKBIN_* variables from the environment leaking in.
pub fn command() -> Command {
    clean(Command::new(env!("CARGO_BIN_EXE_hookbin")))
}

/// `hookbin` run under `prlimit` with `limits` (such as `--as=2000000000`), so that a test can
/// show what happens within a memory or file-descriptor limit.
pub fn limited(limits: &[&str]) -> Command {
    let mut c = Command::new("prlimit");
    c.args(limits).arg("--").arg(env!("CARGO_BIN_EXE_hookbin"));
    clean(c)
}

fn clean(mut c: Command) -> Command {
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
            stdout: out,
        }
    }

    /// The next line it prints after the first (blocking until it does).
    pub fn next_line(&mut self) -> String {
        let mut line = String::new();
        self.stdout.read_line(&mut line).unwrap();
        line
    }

    /// Peak resident memory so far, in MiB (VmHWM).
    pub fn peak_rss_mib(&self) -> f64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id())).unwrap();
        let kib: f64 = status
            .lines()
            .find_map(|l| l.strip_prefix("VmHWM:"))
            .and_then(|v| v.split_whitespace().next())
            .and_then(|v| v.parse().ok())
            .expect("VmHWM in /proc status");
        kib / 1024.0
    }

    /// True while the process has not exited.
    pub fn alive(&mut self) -> bool {
        self.child.try_wait().unwrap().is_none()
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
