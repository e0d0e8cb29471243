//! Real headless Chromium driven over WebDriver (Debian's chromium + chromedriver, via the
//! fantoccini client). Browser tests run one at a time: two Chromiums on two cores would only
//! slow each other down. Without Chromium the tests say loudly that they were skipped; under
//! `CI=true` a missing Chromium is a failure.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use fantoccini::{Client, ClientBuilder, Locator};
use hyper_util::client::legacy::connect::HttpConnector;
use tokio::sync::{Semaphore, SemaphorePermit};

static ONE_AT_A_TIME: Semaphore = Semaphore::const_new(1);

/// A browser session, with the chromedriver behind it; both go away on drop.
pub struct Browser {
    pub client: Client,
    driver: Child,
    profile: tempfile::TempDir,
    _turn: SemaphorePermit<'static>,
}

fn find(names: &[&str]) -> Option<PathBuf> {
    names.iter().find_map(|n| {
        let p = Path::new(n);
        if p.is_absolute() {
            return p.exists().then(|| p.to_owned());
        }
        std::env::var_os("PATH").and_then(|paths| {
            std::env::split_paths(&paths)
                .map(|d| d.join(n))
                .find(|p| p.exists())
        })
    })
}

/// Starts Chromium at `width`×`height` with JavaScript on or off, in the light colour scheme;
/// `None` (after saying so on stderr) when Chromium is not installed and this is not CI.
pub async fn open(width: u32, height: u32, javascript: bool) -> Option<Browser> {
    open_in(width, height, javascript, false).await
}

/// Like [`open`], with the system colour scheme dark when `dark` is set (the pages follow
/// `prefers-color-scheme`).
pub async fn open_in(width: u32, height: u32, javascript: bool, dark: bool) -> Option<Browser> {
    let chromium = find(&[
        "/usr/bin/chromium",
        "chromium",
        "chromium-browser",
        "google-chrome",
    ]);
    let driver = find(&["/usr/bin/chromedriver", "chromedriver"]);
    let (Some(chromium), Some(driver_bin)) = (chromium, driver) else {
        let why =
            "Chromium or chromedriver not found (install Debian's chromium and chromium-driver)";
        if std::env::var("CI").is_ok_and(|v| v == "true") {
            panic!("browser tests cannot run under CI=true: {why}");
        }
        eprintln!("\n*** SKIPPED browser test: {why} ***\n");
        return None;
    };
    let turn = ONE_AT_A_TIME.acquire().await.expect("semaphore open");
    let port = super::free_port();
    let mut cmd = Command::new(driver_bin);
    cmd.arg(format!("--port={port}"))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    let driver = cmd.spawn().expect("start chromedriver");
    let profile = tempfile::tempdir().unwrap();
    let mut args = vec![
        "--headless=new".to_owned(),
        "--no-sandbox".into(),
        "--disable-gpu".into(),
        "--disable-dev-shm-usage".into(),
        "--disable-quic".into(),
        "--no-first-run".into(),
        "--disable-background-networking".into(),
        "--disable-component-update".into(),
        "--disable-sync".into(),
        "--hide-scrollbars".into(),
        format!("--window-size={width},{height}"),
        format!("--user-data-dir={}", profile.path().display()),
    ];
    // Blink's preferredColorScheme: 0 is dark, 1 is light.
    let mut blink = vec![format!("preferredColorScheme={}", if dark { 0 } else { 1 })];
    if !javascript {
        blink.push("scriptEnabled=false".into());
    }
    args.push(format!("--blink-settings={}", blink.join(",")));
    let mut options = serde_json::json!({ "binary": chromium, "args": args });
    if width < 500 {
        // Desktop Chromium windows are at least 500 px wide; a phone is emulated instead.
        options["mobileEmulation"] = serde_json::json!({
            "deviceMetrics": { "width": width, "height": height, "pixelRatio": 2.0, "mobile": true }
        });
    }
    let caps = serde_json::json!({ "goog:chromeOptions": options });
    let caps = caps.as_object().unwrap().clone();
    let url = format!("http://127.0.0.1:{port}");
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    let client = loop {
        match ClientBuilder::new(HttpConnector::new())
            .capabilities(caps.clone())
            .connect(&url)
            .await
        {
            Ok(c) => break c,
            Err(e) if tokio::time::Instant::now() > deadline => {
                panic!("cannot start Chromium: {e}")
            }
            // chromedriver gives no sign that it is ready but accepting a session.
            Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
        }
    };
    Some(Browser {
        client,
        driver,
        profile,
        _turn: turn,
    })
}

/// The axe-core accessibility engine's script, for tests to load into a page (never served by
/// hookbin). Found at `HOOKBIN_AXE`, or installed once from the npm registry under
/// `target/axe`; `None` (said loudly) when neither works and this is not CI.
pub fn axe_script() -> Option<String> {
    static INSTALL: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let _one = INSTALL.lock().unwrap_or_else(|e| e.into_inner());
    let path = std::env::var_os("HOOKBIN_AXE")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("target/axe/node_modules/axe-core/axe.min.js")
        });
    if !path.exists() && std::env::var_os("HOOKBIN_AXE").is_none() {
        let prefix = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/axe");
        let _ = Command::new("npm")
            .args(["install", "--silent", "--no-audit", "--no-fund", "--prefix"])
            .arg(&prefix)
            .arg(AXE_PACKAGE)
            .stdout(Stdio::null())
            .status();
    }
    match std::fs::read_to_string(&path) {
        Ok(s) => Some(s),
        Err(e) => {
            let why = format!(
                "axe-core not found at {} ({e}); install npm",
                path.display()
            );
            if std::env::var("CI").is_ok_and(|v| v == "true") {
                panic!("accessibility tests cannot run under CI=true: {why}");
            }
            eprintln!("\n*** SKIPPED accessibility check: {why} ***\n");
            None
        }
    }
}

/// The axe-core release the accessibility tests run.
const AXE_PACKAGE: &str = "axe-core@4.14.1";

impl Browser {
    /// Runs axe-core (`script`, from [`axe_script`]) on the current page and returns every
    /// violation of impact serious or critical, as `rule: element, element`.
    pub async fn axe(&self, script: &str) -> Vec<String> {
        self.client
            .execute(script, vec![])
            .await
            .expect("load axe-core");
        let found = self
            .client
            .execute_async(
                "const done = arguments[arguments.length - 1];
                 axe.run(document, { resultTypes: ['violations'] }).then(r => done(
                   r.violations
                     .filter(v => v.impact === 'serious' || v.impact === 'critical')
                     .map(v => v.id + ' (' + v.impact + '): ' +
                          v.nodes.slice(0, 5).map(n => n.target.join(' ') + ' ' + (n.failureSummary || '').replace(/\\s+/g, ' ')).join(' | '))
                 ), e => done(['axe failed: ' + e]));",
                vec![],
            )
            .await
            .expect("run axe-core");
        serde_json::from_value(found).expect("a list of violations")
    }

    /// Ends the session cleanly (Chromium quits).
    pub async fn close(self) {
        let _ = self.client.clone().close().await;
    }

    pub async fn goto(&self, url: &str) {
        self.client
            .goto(url)
            .await
            .unwrap_or_else(|e| panic!("goto {url}: {e}"));
    }

    /// Waits for an element to exist, up to 10 s.
    pub async fn wait(&self, css: &str) -> fantoccini::elements::Element {
        let found = tokio::time::timeout(
            Duration::from_secs(10),
            self.client.wait().for_element(Locator::Css(css)),
        )
        .await;
        match found {
            Ok(Ok(element)) => element,
            Ok(Err(e)) => panic!("{css}: {e}"),
            Err(_) => panic!("timed out waiting for {css}"),
        }
    }

    /// The rendered text of the first element matching `css`, once one exists. Read in one
    /// script call, so a live page replacing the element in between cannot make it stale.
    pub async fn text(&self, css: &str) -> String {
        self.wait(css).await;
        let got = self
            .client
            .execute(
                "const e = document.querySelector(arguments[0]); return e ? e.innerText : null;",
                vec![serde_json::Value::String(css.to_owned())],
            )
            .await
            .unwrap_or_else(|e| panic!("text of {css}: {e}"));
        match got {
            serde_json::Value::String(s) => s,
            // Replaced between the wait and the read: read the new one.
            _ => Box::pin(self.text(css)).await,
        }
    }

    pub async fn click(&self, css: &str) {
        self.wait(css)
            .await
            .click()
            .await
            .unwrap_or_else(|e| panic!("click {css}: {e}"));
    }

    pub async fn count(&self, css: &str) -> usize {
        self.client.find_all(Locator::Css(css)).await.unwrap().len()
    }

    /// Saves a PNG of the page under `target/screenshots/`.
    pub async fn screenshot(&self, name: &str) {
        let png = self.client.screenshot().await.expect("screenshot");
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/screenshots");
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join(format!("{name}.png")), png).unwrap();
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.driver.kill();
        let _ = self.driver.wait();
        // Chromium outlives its driver when a test fails before `close`: find its processes by
        // the private profile they were started with, and end exactly those.
        kill_matching(&format!(
            "--user-data-dir={}",
            self.profile.path().display()
        ));
    }
}

/// Sends SIGKILL to every process whose command line contains `needle`.
fn kill_matching(needle: &str) {
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return;
    };
    for entry in dir.flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        if pid == std::process::id() {
            continue;
        }
        let Ok(cmd) = std::fs::read(entry.path().join("cmdline")) else {
            continue;
        };
        if String::from_utf8_lossy(&cmd).contains(needle) {
            let _ = Command::new("kill")
                .args(["-KILL", &pid.to_string()])
                .status();
        }
    }
}
