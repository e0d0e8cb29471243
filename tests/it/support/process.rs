//! The real `hookbin` binary as a child process, for what only a process can show: the printed
//! URL, exit codes, SIGTERM and SIGKILL.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, ChildStdout, Command, Output, Stdio};

use super::eventually;

/// The ids a successful `hookbin tail --json` printed, one JSON request per line, in order.
pub fn printed_ids(out: &Output) -> Vec<String> {
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| {
            let r: serde_json::Value = serde_json::from_str(l).expect("one JSON request per line");
            r["id"].as_str().expect("an id").to_owned()
        })
        .collect()
}

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

/// A `hookbin tail` child; killed if the test ends (or fails) before it exits, so a broken
/// tail fails the test instead of hanging it. Its stderr is read line by line as it comes, so
/// a test can wait for what tail says it is doing.
pub struct Tail {
    child: Option<std::process::Child>,
    stderr: std::sync::mpsc::Receiver<String>,
    said: Vec<String>,
    /// Its stdout, read as it comes: a pipe nobody reads fills up (64 KiB) and stops tail.
    stdout: Option<std::thread::JoinHandle<Vec<u8>>>,
}

impl Tail {
    pub fn spawn(mut cmd: std::process::Command) -> Tail {
        let mut child = cmd
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut out = child.stdout.take().unwrap();
        let stdout = std::thread::spawn(move || {
            let mut all = Vec::new();
            let _ = std::io::Read::read_to_end(&mut out, &mut all);
            all
        });
        let err = child.stderr.take().unwrap();
        let (tx, stderr) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(err).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        Tail {
            child: Some(child),
            stderr,
            said: Vec::new(),
            stdout: Some(stdout),
        }
    }

    /// Waits up to 30 s (a bound for a loaded machine) for tail to say something containing
    /// `what` on stderr (polling, so that an in-process server keeps running meanwhile).
    pub async fn said(&mut self, what: &str) {
        let (said, stderr) = (&mut self.said, &self.stderr);
        eventually(30, &format!("tail to say '{what}'"), || {
            said.extend(stderr.try_iter());
            let found = said.iter().any(|l| l.contains(what));
            async move { found.then_some(()) }
        })
        .await;
    }

    /// Waits until tail has read the bin and follows it: nothing sent from now on is missed.
    pub async fn following(&mut self) {
        self.said("following bin").await;
    }

    /// Waits up to `secs` for tail to exit by itself, then returns what it printed (stderr in
    /// full, including what was already read).
    pub async fn finish(mut self, secs: u64) -> Output {
        // A panic here drops `self`, which kills the child.
        let child = self.child.as_mut().unwrap();
        eventually(secs, "tail to exit", || {
            let exited = child.try_wait().unwrap().is_some();
            async move { exited.then_some(()) }
        })
        .await;
        let status = self.child.take().unwrap().wait().unwrap();
        self.said.extend(self.stderr.iter());
        Output {
            status,
            stdout: self
                .stdout
                .take()
                .map(|t| t.join().expect("stdout reader"))
                .unwrap_or_default(),
            stderr: self.said.join("\n").into_bytes(),
        }
    }
}

impl Drop for Tail {
    fn drop(&mut self) {
        if let Some(child) = &mut self.child {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}
