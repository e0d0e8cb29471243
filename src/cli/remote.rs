//! Commands that talk to a running hookbin over its JSON API rather than opening the database:
//! `bins new`, `bins list` and `tail`. They take the server's URL from `--server` (or
//! `HOOKBIN_SERVER`) and its token, if it needs one, from `--token` (or `HOOKBIN_TOKEN`).

use std::io::Write;

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use bytes::Bytes;
use clap::Args;
use http_body_util::{BodyExt, Full};
use hyper::{Method, Request, StatusCode};
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use serde_json::Value;

use super::CliError;
use crate::inspect::{self, BodyView};

/// Where the running server is.
#[derive(Debug, Clone, Args)]
pub struct Server {
    /// The running hookbin's base URL.
    #[arg(
        long,
        value_name = "URL",
        env = "HOOKBIN_SERVER",
        default_value = "http://127.0.0.1:8080"
    )]
    pub server: String,
}

/// A JSON API client for one server.
pub struct Remote {
    base: String,
    token: Option<String>,
    client: Client<HttpsConnector<HttpConnector>, Full<Bytes>>,
}

impl Remote {
    pub fn new(
        server: &Server,
        token: Option<String>,
        trust: &crate::outbound::Trust,
    ) -> Result<Remote, CliError> {
        let base = server.server.trim_end_matches('/').to_owned();
        crate::outbound::check_url(&base).map_err(CliError::Input)?;
        let mut http = HttpConnector::new();
        http.enforce_http(false);
        let https = crate::outbound::https(http, trust);
        Ok(Remote {
            base,
            token,
            client: Client::builder(TokioExecutor::new()).build(https),
        })
    }

    /// Sends one API request; answers the status and the body read as JSON (`Null` if empty).
    pub(super) async fn call(
        &self,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> Result<(StatusCode, Value), CliError> {
        let body = body.map(|v| Bytes::from(v.to_string()));
        let (status, bytes) = self.call_raw(method, path, body).await?;
        Ok((status, self.json(status, &bytes)?))
    }

    /// Reads an answer's body as JSON (`Null` if empty), or says the server is not a hookbin.
    pub(super) fn json(&self, status: StatusCode, bytes: &[u8]) -> Result<Value, CliError> {
        if bytes.is_empty() {
            return Ok(Value::Null);
        }
        serde_json::from_slice(bytes).map_err(|_| self.not_hookbin(status))
    }

    /// The error for an answer that is not the JSON hookbin sends.
    pub(super) fn not_hookbin(&self, status: StatusCode) -> CliError {
        CliError::Input(format!(
            "{} answered {status} with something other than hookbin's JSON: is it a hookbin?",
            self.base
        ))
    }

    /// Sends one API request with a body that is already JSON text; answers the status and
    /// the body's bytes, for callers that read a large answer into their own types.
    pub(super) async fn call_raw(
        &self,
        method: Method,
        path: &str,
        body: Option<Bytes>,
    ) -> Result<(StatusCode, Bytes), CliError> {
        let mut req = Request::builder()
            .method(method)
            .uri(format!("{}{path}", self.base));
        if let Some(t) = &self.token {
            req = req.header("authorization", format!("Bearer {t}"));
        }
        if body.is_some() {
            req = req.header("content-type", "application/json");
        }
        let req = req
            .body(Full::new(body.unwrap_or_default()))
            .map_err(|e| CliError::Input(format!("bad request: {e}")))?;
        let unreachable = |e: &(dyn std::error::Error + 'static)| {
            CliError::Unreachable(format!(
                "cannot reach hookbin at {}: {}",
                self.base,
                crate::outbound::root_cause(e)
            ))
        };
        let resp = self
            .client
            .request(req)
            .await
            .map_err(|e| unreachable(&e))?;
        let status = resp.status();
        let bytes = resp
            .into_body()
            .collect()
            .await
            .map_err(|e| unreachable(&e))?
            .to_bytes();
        Ok((status, bytes))
    }

    /// Like [`Remote::call`], but a status other than `ok` is an error with the server's words.
    pub(super) async fn expect(
        &self,
        method: Method,
        path: &str,
        body: Option<Value>,
        ok: StatusCode,
    ) -> Result<Value, CliError> {
        let (status, json) = self.call(method, path, body).await?;
        if status != ok {
            return Err(refused(status, &json));
        }
        Ok(json)
    }
}

/// An answer the command cannot use, with the server's own words for why.
pub(super) fn refused(status: StatusCode, json: &Value) -> CliError {
    let why = json["error"].as_str().unwrap_or("no reason given");
    let hint = if status == StatusCode::UNAUTHORIZED {
        "; pass the server's access token with --token or HOOKBIN_TOKEN (it printed one at start \
         if none was given)"
    } else {
        ""
    };
    CliError::Input(format!("hookbin answered {status}: {why}{hint}"))
}

/// `hookbin bins new [NAME]`: prints only the new bin's capture URL, for `URL=$(...)`. A named
/// bin that already exists is used as it is (said on stderr), so a CI script can run twice.
pub async fn new_bin(remote: &Remote, name: Option<String>) -> Result<bool, CliError> {
    let body = name.as_ref().map(|n| serde_json::json!({ "name": n }));
    let bin = match remote.call(Method::POST, "/api/bins", body).await? {
        (StatusCode::CREATED, bin) => bin,
        (StatusCode::CONFLICT, _) if name.is_some() => {
            let name = name.unwrap_or_default();
            let path = format!("/api/bins/{}", name.trim());
            let bin = remote
                .expect(Method::GET, &path, None, StatusCode::OK)
                .await?;
            eprintln!("hookbin: bin {} already exists; using it", name.trim());
            bin
        }
        (status, json) => return Err(refused(status, &json)),
    };
    println!("{}", bin["url"].as_str().unwrap_or_default());
    Ok(true)
}

/// `hookbin bins list`: one line per bin.
pub async fn list_bins(remote: &Remote) -> Result<bool, CliError> {
    let list = remote
        .expect(Method::GET, "/api/bins", None, StatusCode::OK)
        .await?;
    for b in list["bins"].as_array().into_iter().flatten() {
        println!(
            "{:<24} {:>7} requests  {}",
            b["id"].as_str().unwrap_or_default(),
            b["request_count"].as_u64().unwrap_or_default(),
            b["url"].as_str().unwrap_or_default()
        );
    }
    Ok(true)
}

/// What `hookbin tail` shows.
#[derive(Debug, Clone, Args)]
pub struct TailOptions {
    /// The bin to follow (its id or name).
    pub bin: String,
    /// Also print each body, pretty-printed (JSON re-indented, forms as fields).
    #[arg(long)]
    pub body: bool,
    /// Print the last N stored requests first.
    #[arg(short = 'n', long = "lines", default_value_t = 10, value_name = "N")]
    pub lines: usize,
    /// Exit after N new requests (without it, follow until interrupted).
    #[arg(long, value_name = "N")]
    pub max: Option<usize>,
    /// Print each request as one line of JSON (the API's request object), for jq and scripts.
    #[arg(long, conflicts_with = "body")]
    pub json: bool,
    /// Instead of the last N, print every stored request received since this time: RFC 3339
    /// (2026-12-01T10:00:00Z) or a span back from now (15m, 2h, 7d); the newest 10,000 at most.
    #[arg(long, value_name = "TIME")]
    pub since: Option<String>,
    /// Print the stored requests received up to this time (written like --since), then exit
    /// instead of following.
    #[arg(long, value_name = "TIME")]
    pub until: Option<String>,
}

/// Most stored requests `tail --since` prints.
const RANGE_MAX: usize = 10_000;

/// The stored requests of `tail --since/--until`, newest first, up to [`RANGE_MAX`]; the server
/// reads the times, so a bad one is its clear 400.
async fn stored_in_range(remote: &Remote, opts: &TailOptions) -> Result<Vec<Value>, CliError> {
    let mut query = form_urlencoded::Serializer::new(String::new());
    query.append_pair("limit", "1000");
    if let Some(t) = &opts.since {
        query.append_pair("since", t);
    }
    if let Some(t) = &opts.until {
        query.append_pair("until", t);
    }
    let query = query.finish();
    let mut all: Vec<Value> = Vec::new();
    let mut before = String::new();
    loop {
        let path = format!("/api/bins/{}/requests?{query}{before}", opts.bin);
        let page = remote
            .expect(Method::GET, &path, None, StatusCode::OK)
            .await?;
        all.extend(page["requests"].as_array().cloned().unwrap_or_default());
        match page["next"].as_str() {
            Some(next) if all.len() < RANGE_MAX => before = format!("&before={next}"),
            Some(_) => {
                eprintln!("hookbin: showing the newest {RANGE_MAX} of the range; narrow --since");
                break;
            }
            None => break,
        }
    }
    all.truncate(RANGE_MAX);
    Ok(all)
}

/// `hookbin tail BIN`: prints the last requests, then every new one as it arrives, using the
/// long-poll API (no request is missed between two polls: each asks for what came after the
/// last one seen). If the server goes away while following, it says so and keeps trying, and
/// goes on where it stopped once the server is back.
pub async fn tail(remote: &Remote, opts: &TailOptions) -> Result<bool, CliError> {
    if crate::model::BinId::parse(&opts.bin).is_none() {
        return Err(CliError::Input(format!("'{}' is not a bin id", opts.bin)));
    }
    let bin = &opts.bin;
    let ranged = opts.since.is_some() || opts.until.is_some();
    let stored = if ranged {
        stored_in_range(remote, opts).await?
    } else {
        let history = opts.lines.clamp(1, 1000);
        let page = remote
            .expect(
                Method::GET,
                &format!("/api/bins/{bin}/requests?limit={history}"),
                None,
                StatusCode::OK,
            )
            .await?;
        page["requests"].as_array().cloned().unwrap_or_default()
    };
    // Everything after the newest stored request is new; in a bin that was empty, everything
    // is (the smallest request id), so nothing sent between two polls is ever missed.
    let mut cursor = stored
        .first()
        .and_then(|newest| newest["id"].as_str())
        .unwrap_or("0000000000000000")
        .to_owned();
    if opts.lines > 0 || ranged {
        for r in stored.iter().rev() {
            print_request(r, opts);
        }
    }
    if opts.until.is_some() {
        return Ok(true);
    }
    // On stderr, so stdout stays data only: from here on nothing that arrives is missed.
    eprintln!(
        "hookbin: following bin {bin} on {}; Ctrl-C to stop",
        remote.base
    );
    let mut seen = 0;
    let mut lost = false;
    while opts.max.is_none_or(|m| seen < m) {
        let path = format!("/api/bins/{bin}/wait?timeout=30s&after={cursor}");
        let answer = match remote.call(Method::GET, &path, None).await {
            Err(CliError::Unreachable(why)) => {
                if !lost {
                    eprintln!("hookbin: {why}; trying again every second");
                    lost = true;
                }
                tokio::time::sleep(std::time::Duration::from_secs(1)).await;
                continue;
            }
            other => other?,
        };
        if std::mem::take(&mut lost) {
            eprintln!("hookbin: reconnected to {}", remote.base);
        }
        match answer {
            (StatusCode::OK, r) => {
                print_request(&r, opts);
                if let Some(id) = r["id"].as_str() {
                    cursor = id.to_owned();
                }
                seen += 1;
            }
            (StatusCode::NO_CONTENT, _) => {}
            (status, json) => return Err(refused(status, &json)),
        }
    }
    Ok(true)
}

fn print_request(r: &Value, opts: &TailOptions) {
    let mut out = std::io::stdout().lock();
    if opts.json {
        // serde_json escapes control characters, so this line is safe for a terminal too.
        let _ = writeln!(out, "{r}");
        let _ = out.flush();
        return;
    }
    let s = |k: &str| r[k].as_str().unwrap_or_default().to_owned();
    let time = s("received_at");
    let clock = time.get(11..23).unwrap_or(&time);
    let query = s("query");
    let target = if query.is_empty() {
        s("path")
    } else {
        format!("{}?{query}", s("path"))
    };
    let size = inspect::human_size(r["body_size"].as_u64().unwrap_or(0));
    let _ = writeln!(
        out,
        "{clock}  {:<7} {}  {}  {size}  {}",
        safe(&s("method")),
        safe(&target),
        r["response_status"],
        safe(&s("content_type")),
    );
    if opts.body {
        let body = BASE64.decode(s("body_base64")).unwrap_or_default();
        let ct = r["content_type"].as_str();
        let text = match inspect::view(ct, &body, true) {
            BodyView::Empty => String::new(),
            BodyView::Json(t) | BodyView::Xml(t) | BodyView::Text(t) => t,
            BodyView::Form(fields) => fields.iter().map(|(k, v)| format!("{k} = {v}\n")).collect(),
            BodyView::Multipart(parts) => parts
                .iter()
                .map(|p| {
                    let name = p.name.clone().unwrap_or_default();
                    match &p.text {
                        Some(t) => format!("--- part {name}\n{t}\n"),
                        None => format!("--- part {name} ({} bytes, binary)\n", p.size),
                    }
                })
                .collect(),
            BodyView::Binary(lines) => lines.join("\n"),
        };
        if !text.is_empty() {
            let _ = writeln!(out, "{}\n", safe(text.trim_end()));
        }
    }
    let _ = out.flush();
}

/// Captured text is hostile: control characters (which could drive the terminal) are shown
/// escaped; newlines and tabs stay.
pub(super) fn safe(text: &str) -> String {
    text.chars()
        .map(|c| {
            if c.is_control() && c != '\n' && c != '\t' {
                c.escape_unicode().to_string()
            } else {
                c.to_string()
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    #[test]
    fn terminal_control_characters_are_escaped() {
        assert_eq!(super::safe("a\u{1b}[2Jb\n\tc"), "a\\u{1b}[2Jb\n\tc");
    }
}
