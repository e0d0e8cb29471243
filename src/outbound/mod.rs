//! The crate's outbound HTTP client, used for deliveries, forwards, replays and the CLI's calls
//! to a running server: HTTP and HTTPS (rustls, trusting what [`Trust`] says), a connect and a
//! total timeout, no redirects followed, response bodies read up to a cap.
//! Every outcome, an answer or a failure, becomes an [`Attempt`] described in plain words.

use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use chrono::Utc;
use http_body_util::{BodyExt, Full};
use hyper::{Method, Request, Uri};
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::Client as HyperClient;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;

mod pipeline;
mod resolve;
mod trust;

use crate::model::Attempt;
pub use pipeline::{Outgoing, Pipeline};
use resolve::Resolver;
pub use trust::{Trust, TrustError};

/// How much of a receiver's answer is kept in the log.
pub const RESPONSE_CAP: usize = 64 * 1024;

/// A pooled client shared by every send.
#[derive(Clone)]
pub struct Client {
    inner: HyperClient<HttpsConnector<HttpConnector<Resolver>>, Full<Bytes>>,
    timeout: Duration,
    deny_private: bool,
}

impl Client {
    /// A client giving each request `timeout` to connect and to answer in full, trusting the
    /// certificate authorities in `trust`; with `deny_private`, only public addresses are ever
    /// connected to.
    pub fn new(timeout: Duration, deny_private: bool, trust: &Trust) -> Client {
        let mut http = HttpConnector::new_with_resolver(Resolver::new(deny_private));
        http.enforce_http(false);
        http.set_connect_timeout(Some(timeout));
        http.set_nodelay(true);
        let https = https(http, trust);
        let inner = HyperClient::builder(TokioExecutor::new())
            .pool_idle_timeout(Duration::from_secs(60))
            .pool_max_idle_per_host(64)
            .build(https);
        Client {
            inner,
            timeout,
            deny_private,
        }
    }

    /// The time each request gets to connect and answer in full.
    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    /// POSTs `body` to `url` with `headers` and reports what happened.
    pub async fn post(&self, url: &str, headers: Vec<(String, String)>, body: Bytes) -> Attempt {
        let raw: Vec<(String, Vec<u8>)> = headers
            .iter()
            .map(|(k, v)| (k.clone(), v.as_bytes().to_vec()))
            .collect();
        let mut attempt = self.send(Method::POST, url, &raw, body).await;
        attempt.request_headers = headers;
        attempt
    }

    /// Sends one request with exactly these headers (values as raw bytes; hyper adds `host`
    /// and `content-length`) and reports what happened; the `request_headers` of the answer
    /// are left empty.
    pub async fn send(
        &self,
        method: Method,
        url: &str,
        headers: &[(String, Vec<u8>)],
        body: Bytes,
    ) -> Attempt {
        let at = Utc::now();
        let started = Instant::now();
        let mut attempt = Attempt {
            at,
            ..Attempt::default()
        };
        let result = tokio::time::timeout(
            self.timeout,
            self.exchange(method, url, headers, &mut attempt, body),
        )
        .await;
        attempt.duration_ms = started.elapsed().as_millis() as u64;
        match result {
            Ok(Ok(())) => {}
            Ok(Err(message)) => attempt.error = Some(message),
            Err(_) => {
                let what = if attempt.status.is_some() {
                    "the rest of the answer"
                } else {
                    "an answer"
                };
                attempt.error = Some(format!(
                    "gave up waiting for {what} after {} s",
                    self.timeout.as_secs_f64()
                ));
            }
        }
        not_delivered(&mut attempt);
        attempt
    }

    async fn exchange(
        &self,
        method: Method,
        url: &str,
        headers: &[(String, Vec<u8>)],
        attempt: &mut Attempt,
        body: Bytes,
    ) -> Result<(), String> {
        let uri = check_url(url)?;
        // Literal addresses never reach the resolver, so the rule is applied to them here.
        if self.deny_private
            && let Some(ip) = uri
                .host()
                .and_then(|h| h.trim_matches(['[', ']']).parse().ok())
            && !resolve::is_public(ip)
        {
            return Err(format!(
                "{ip} is a private, loopback or link-local address (--deny-private-targets)"
            ));
        }
        let mut req = Request::builder().method(method).uri(uri);
        for (name, value) in headers {
            req = req.header(name.as_str(), value.as_slice());
        }
        let req = req
            .body(Full::new(body))
            .map_err(|e| format!("cannot build the request: {e}"))?;
        let resp = self.inner.request(req).await.map_err(|e| {
            let mut cause = root_cause(&e);
            if cause.contains("UnknownIssuer") {
                cause.push_str(
                    " (its certificate is not signed by a CA hookbin trusts: add the CA with \
                     --ca-cert FILE, SSL_CERT_FILE or the system's certificate store)",
                );
            }
            if e.is_connect() {
                format!("could not connect to {url}: {cause}")
            } else {
                format!("the request failed: {cause}")
            }
        })?;
        attempt.status = Some(resp.status().as_u16());
        attempt.response_headers = resp
            .headers()
            .iter()
            .map(|(k, v)| {
                (
                    k.as_str().to_owned(),
                    String::from_utf8_lossy(v.as_bytes()).into_owned(),
                )
            })
            .collect();
        let mut body = resp.into_body();
        let mut kept = BytesMut::new();
        while let Some(frame) = body.frame().await {
            let frame = frame.map_err(|e| format!("the answer broke off: {}", root_cause(&e)))?;
            if let Ok(data) = frame.into_data()
                && keep_capped(&mut kept, &data)
            {
                attempt.response_truncated = true;
                break;
            }
        }
        attempt.response_body = kept.freeze();
        Ok(())
    }
}

/// Appends `data` to the body kept of an answer, up to [`RESPONSE_CAP`] in all; true when
/// some of it did not fit.
fn keep_capped(kept: &mut BytesMut, data: &[u8]) -> bool {
    let room = RESPONSE_CAP - kept.len();
    kept.extend_from_slice(&data[..data.len().min(room)]);
    data.len() > room
}

/// Says why an answer that is not 2xx does not count as delivered.
fn not_delivered(attempt: &mut Attempt) {
    if attempt.error.is_none() && !attempt.ok() {
        let status = attempt.status.unwrap_or_default();
        attempt.error = Some(format!("the receiver answered {status}, not a 2xx status"));
    }
}

/// Wraps a TCP connector for HTTP and HTTPS (rustls trusting `trust`, HTTP/1.1): the one TLS
/// setup for every outgoing request hookbin makes.
pub fn https<R>(http: HttpConnector<R>, trust: &Trust) -> HttpsConnector<HttpConnector<R>> {
    hyper_rustls::HttpsConnectorBuilder::new()
        .with_tls_config(trust.client_config())
        .https_or_http()
        .enable_http1()
        .wrap_connector(http)
}

/// Accepts only absolute `http://` or `https://` URLs with a host.
pub fn check_url(url: &str) -> Result<Uri, String> {
    let uri: Uri = url
        .parse()
        .map_err(|_| format!("'{url}' is not a valid URL"))?;
    match (uri.scheme_str(), uri.host()) {
        (Some("http" | "https"), Some(h)) if !h.is_empty() => Ok(uri),
        _ => Err(format!(
            "'{url}' must be an absolute http:// or https:// URL"
        )),
    }
}

/// The innermost error message, which is the one that says what really happened.
pub fn root_cause(e: &(dyn std::error::Error + 'static)) -> String {
    let mut cur = e;
    while let Some(next) = cur.source() {
        cur = next;
    }
    cur.to_string()
}

#[cfg(test)]
mod tests {
    use super::{RESPONSE_CAP, check_url, keep_capped};

    #[test]
    fn an_answer_body_is_kept_up_to_the_cap_and_what_is_cut_is_said() {
        let mut kept = bytes::BytesMut::new();
        assert!(!keep_capped(&mut kept, &vec![b'a'; RESPONSE_CAP - 1]));
        assert!(!keep_capped(&mut kept, b"b"), "exactly the cap is not cut");
        assert!(keep_capped(&mut kept, b"c"));
        assert_eq!(kept.len(), RESPONSE_CAP);
        assert_eq!(kept.last(), Some(&b'b'));
    }

    #[test]
    fn only_absolute_http_urls_are_accepted() {
        assert!(check_url("http://127.0.0.1:8080/b/x").is_ok());
        assert!(check_url("https://hooks.example.com/path?q=1").is_ok());
        assert!(check_url("ftp://example.com").is_err());
        assert!(check_url("/relative").is_err());
        assert!(check_url("not a url").is_err());
        assert!(check_url("http://").is_err());
    }
}
