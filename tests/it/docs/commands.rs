//! Every command the README shows is run: the `cargo` lines by `.ci/run` (checked here), every
//! other line of its `sh` blocks here, in order, in bash with `set -euo pipefail`, against the
//! real binary started the way the README starts it (in a fresh directory, on ./hookbin.db),
//! as the `hookbin` on PATH. Then what they should have done is checked in the bin.

use std::path::Path;
use std::process::{Command, Stdio};

use crate::support::process::{Hookbin, command};

/// The README's `sh` blocks, each as its lines.
fn sh_blocks() -> Vec<Vec<String>> {
    let readme = super::read(&super::root().join("README.md"));
    let blocks: Vec<Vec<String>> = super::split_fences(&readme)
        .1
        .into_iter()
        .filter(|f| f.info == "sh")
        .map(|f| f.lines)
        .collect();
    assert!(
        blocks.len() >= 4,
        "the README shows its commands in sh blocks"
    );
    blocks
}

/// A shell line's command, without its trailing `# comment`.
fn command_of(line: &str) -> &str {
    line.split(" #").next().unwrap().trim()
}

/// The command lines of `.ci/run` and of the `.ci/` scripts it calls, comments left out.
fn ci_lines() -> Vec<String> {
    let run = super::read(&super::root().join(".ci/run"));
    let mut texts = vec![run.clone()];
    for word in run.split_whitespace().filter(|w| w.starts_with(".ci/")) {
        let path = super::root().join(word);
        if path.is_file() && !texts.contains(&super::read(&path)) {
            texts.push(super::read(&path));
        }
    }
    texts
        .iter()
        .flat_map(|t| t.lines())
        .map(str::trim)
        .filter(|l| !l.starts_with('#'))
        .map(str::to_owned)
        .collect()
}

#[test]
fn ci_runs_every_cargo_command_the_readme_shows() {
    let ci = ci_lines();
    let cargo: Vec<String> = sh_blocks()
        .iter()
        .flatten()
        .map(|l| command_of(l).to_owned())
        .filter(|c| c.starts_with("cargo "))
        .collect();
    for c in [
        "cargo run --release",
        "cargo test",
        "cargo install --locked --path .",
    ] {
        assert!(cargo.iter().any(|x| x == c), "the README shows `{c}`");
    }
    for c in &cargo {
        let runs = |l: &String| {
            l.split(c.as_str())
                .nth(1)
                .is_some_and(|after| after.is_empty() || after.starts_with(' '))
                && l.split(c.as_str())
                    .next()
                    .is_some_and(|before| before.is_empty() || before.ends_with(' '))
        };
        assert!(
            ci.iter().any(runs),
            ".ci/run does not run the README's `{c}`"
        );
    }
}

/// The script the README's non-cargo lines make, for a hookbin at `addr`.
fn script(addr: &str) -> String {
    let mut s = String::from(
        "set -euo pipefail\n\
         curl() { command curl --fail-with-body -sS --max-time 20 \"$@\"; }\n",
    );
    // Step 1 of the README is a click on New bin, named ci-orders.
    s.push_str("curl -X POST localhost:8080/api/bins -d '{\"name\": \"ci-orders\"}' >/dev/null\n");
    for block in sh_blocks() {
        let lines: Vec<&String> = block
            .iter()
            .filter(|l| !command_of(l).starts_with("cargo "))
            .collect();
        for line in lines {
            s.push_str(line);
            s.push('\n');
        }
    }
    s.replace("127.0.0.1:8080", addr)
        .replace("localhost:8080", addr)
}

fn bash(dir: &Path, script: &str, server: &str) -> std::process::Output {
    let bin = dir.join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    let link = bin.join("hookbin");
    if !link.exists() {
        std::os::unix::fs::symlink(env!("CARGO_BIN_EXE_hookbin"), link).unwrap();
    }
    let path = format!("{}:{}", bin.display(), std::env::var("PATH").unwrap());
    let mut cmd = Command::new("timeout");
    for (k, _) in std::env::vars() {
        if k.starts_with("HOOKBIN_") || k.starts_with("XDG_") {
            cmd.env_remove(k);
        }
    }
    cmd.args(["120", "bash", "-c", script])
        .current_dir(dir)
        .env("PATH", path)
        .env("HOME", dir.join("home"))
        .env("HOOKBIN_SERVER", server)
        .stdin(Stdio::null())
        .output()
        .unwrap()
}

#[test]
fn every_command_the_readme_shows_runs_and_does_what_it_says() {
    if Command::new("curl").arg("--version").output().is_err() {
        let why = "curl not found (install Debian's curl)";
        assert!(
            std::env::var("CI").map_or(true, |v| v != "true"),
            "the README's commands cannot run under CI=true: {why}"
        );
        eprintln!("\n*** SKIPPED README commands: {why} ***\n");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let work = dir.path();
    std::fs::create_dir(work.join("home")).unwrap();
    // As `cargo run --release` starts it, in the directory the user is in, but on a free port.
    let server = Hookbin::spawn(
        command()
            .current_dir(work)
            .args(["--listen", "127.0.0.1:0"]),
    );
    let addr = server.addr.to_string();
    let url = format!("http://{addr}");
    assert!(
        work.join("hookbin.db").exists(),
        "the default database is ./hookbin.db"
    );

    let script = script(&addr);
    for shown in [
        "hookbin completions bash --install",
        "hookbin fire payment_received",
        "curl -X POST",
    ] {
        assert!(script.contains(shown), "the README shows {shown}");
    }
    let out = bash(work, &script, &url);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "the README's commands failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );

    // The bin caught the curl example and the fired event, and tail printed the event's body.
    let page: serde_json::Value = serde_json::from_slice(
        &Command::new("curl")
            .args([
                "-sS",
                "--fail",
                &format!("{url}/api/bins/ci-orders/requests?limit=100"),
            ])
            .output()
            .unwrap()
            .stdout,
    )
    .expect("the bin's requests as JSON");
    let requests = page["requests"].as_array().expect("a page of requests");
    let curl = requests
        .iter()
        .find(|r| r["path"] == "/b/ci-orders/hello")
        .expect("the curl example was captured");
    assert_eq!(curl["method"], "POST");
    assert_eq!(curl["body_text"], "{\"hello\": \"hookbin\"}");
    assert!(
        curl["query"].to_string().contains("curl"),
        "{}",
        curl["query"]
    );
    let header = |r: &serde_json::Value, name: &str| {
        r["headers"]
            .as_array()
            .unwrap()
            .iter()
            .find(|h| h[0] == name)
            .map(|h| h[1].clone())
    };
    let event = requests
        .iter()
        .find(|r| header(r, "webhook-event").is_some_and(|e| e == "payment_received"))
        .unwrap_or_else(|| panic!("the fired event reached the bin: {requests:#?}\n{stdout}"));
    assert_eq!(event["path"], "/b/ci-orders");
    assert!(header(event, "webhook-signature").is_some(), "signed");
    assert!(
        event["body_text"]
            .as_str()
            .unwrap()
            .contains("\"payment_id\"")
    );
    assert!(
        stdout.contains("\"payment_id\": "),
        "tail --body printed the event:\n{stdout}"
    );

    // The rules the README sets answer the bin's next request with the first 500.
    let next = Command::new("curl")
        .args([
            "-s",
            "-o",
            "/dev/null",
            "-w",
            "%{http_code}",
            "-d",
            "{}",
            &format!("{url}/b/ci-orders"),
        ])
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&next.stdout),
        "500",
        "the README's rule answers"
    );

    // What the install lines and the API lines wrote.
    let completion = work.join("home/.local/share/bash-completion/completions/hookbin");
    assert!(
        super::read(&completion).contains("complete -F"),
        "bash completion installed"
    );
    let man = work.join("home/.local/share/man/man1/hookbin.1");
    assert!(super::read(&man).contains(".TH"), "man page installed");
    let doc: serde_json::Value =
        serde_json::from_str(&super::read(&work.join("hookbin-openapi.json"))).unwrap();
    assert!(doc["openapi"].as_str().unwrap().starts_with("3.1"));
    server.kill();
}
