//! A fake webhook receiver: a real hyper server on a free loopback port that records every
//! request and answers with scripted statuses (200 once the script runs out) after a delay.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::service::service_fn;
use hyper::{Response, StatusCode};
use hyper_util::rt::TokioIo;

/// One request the receiver got.
#[derive(Clone, Debug)]
pub struct Received {
    pub method: String,
    pub path: String,
    pub headers: Vec<(String, String)>,
    pub body: Bytes,
}

impl Received {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

#[derive(Default)]
struct State {
    got: Vec<Received>,
    script: VecDeque<u16>,
    delay: Duration,
}

/// The receiver; it stops with the test's runtime.
#[derive(Clone)]
pub struct Receiver {
    pub addr: SocketAddr,
    state: Arc<Mutex<State>>,
    scheme: &'static str,
}

impl Receiver {
    pub async fn start() -> Receiver {
        Receiver::start_with(None).await
    }

    /// A receiver speaking HTTPS with these settings (its certificate, see `support::pki`).
    pub async fn start_tls(tls: Arc<rustls::ServerConfig>) -> Receiver {
        Receiver::start_with(Some(tokio_rustls::TlsAcceptor::from(tls))).await
    }

    /// A plain receiver on a given loopback port (one a test kept free for it until now).
    pub async fn start_on(port: u16) -> Receiver {
        Receiver::start_at(None, port).await
    }

    async fn start_with(tls: Option<tokio_rustls::TlsAcceptor>) -> Receiver {
        Receiver::start_at(tls, 0).await
    }

    async fn start_at(tls: Option<tokio_rustls::TlsAcceptor>, port: u16) -> Receiver {
        let scheme = if tls.is_some() { "https" } else { "http" };
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", port))
            .await
            .unwrap();
        let addr = listener.local_addr().unwrap();
        let state: Arc<Mutex<State>> = Arc::default();
        let shared = state.clone();
        tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    return;
                };
                let state = shared.clone();
                let tls = tls.clone();
                tokio::spawn(async move {
                    let svc = service_fn(move |req: hyper::Request<hyper::body::Incoming>| {
                        let state = state.clone();
                        async move {
                            let method = req.method().to_string();
                            let path = req.uri().to_string();
                            let headers = req
                                .headers()
                                .iter()
                                .map(|(k, v)| (k.to_string(), v.to_str().unwrap_or("").to_owned()))
                                .collect();
                            let body = req
                                .into_body()
                                .collect()
                                .await
                                .map(|c| c.to_bytes())
                                .unwrap_or_default();
                            let (status, delay) = {
                                let mut s = state.lock().unwrap();
                                s.got.push(Received {
                                    method,
                                    path,
                                    headers,
                                    body,
                                });
                                (s.script.pop_front().unwrap_or(200), s.delay)
                            };
                            // A slow receiver, as a test scripted it.
                            tokio::time::sleep(delay).await;
                            let mut resp =
                                Response::new(Full::new(Bytes::from(format!("answer {status}"))));
                            *resp.status_mut() = StatusCode::from_u16(status).unwrap();
                            resp.headers_mut()
                                .insert("x-receiver", "fake".parse().unwrap());
                            Ok::<_, std::convert::Infallible>(resp)
                        }
                    });
                    let http = hyper::server::conn::http1::Builder::new();
                    match tls {
                        // A client that refuses the certificate just goes away.
                        Some(tls) => {
                            if let Ok(stream) = tls.accept(stream).await {
                                let _ = http.serve_connection(TokioIo::new(stream), svc).await;
                            }
                        }
                        None => {
                            let _ = http.serve_connection(TokioIo::new(stream), svc).await;
                        }
                    }
                });
            }
        });
        Receiver {
            addr,
            state,
            scheme,
        }
    }

    /// The URL to configure a webhook with.
    pub fn url(&self, path: &str) -> String {
        format!("{}://{}{}", self.scheme, self.addr, path)
    }

    /// Answers the next requests with these statuses, in order.
    pub fn script(&self, statuses: &[u16]) {
        self.state.lock().unwrap().script.extend(statuses);
    }

    /// Drops what is left of the script: 200 from now on.
    pub fn clear_script(&self) {
        self.state.lock().unwrap().script.clear();
    }

    /// Waits this long before each answer.
    pub fn delay(&self, d: Duration) {
        self.state.lock().unwrap().delay = d;
    }

    /// How many requests arrived so far (without copying them).
    pub fn count(&self) -> usize {
        self.state.lock().unwrap().got.len()
    }

    /// Everything received so far.
    pub fn got(&self) -> Vec<Received> {
        self.state.lock().unwrap().got.clone()
    }
}
