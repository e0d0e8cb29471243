//! The tests' HTTP client: a request as raw as a test needs it (any method token, raw header
//! bytes, a chunked body), sent over HTTP/1.1 or HTTP/2 with hyper's client, and the whole
//! answer.

use std::net::SocketAddr;

use bytes::Bytes;
use http_body_util::{BodyExt, Full, StreamBody, combinators::BoxBody};
use hyper::body::Frame;
use hyper::{HeaderMap, Method, Request, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;

use super::contract;

/// A request to send: method (any token), path with query, raw header bytes, body.
pub struct Req {
    pub method: String,
    pub path: String,
    pub headers: Vec<(String, Vec<u8>)>,
    pub body: BodyKind,
}

pub enum BodyKind {
    Full(Bytes),
    /// Sent as separate chunks with no Content-Length, i.e. chunked transfer encoding.
    Chunks(Vec<Bytes>),
}

impl Req {
    pub fn new(method: &str, path: &str) -> Req {
        Req {
            method: method.into(),
            path: path.into(),
            headers: Vec::new(),
            body: BodyKind::Full(Bytes::new()),
        }
    }

    /// A POST of an HTML form (`application/x-www-form-urlencoded`), as a page's form sends it.
    pub fn form(path: &str, body: impl AsRef<[u8]>) -> Req {
        Req::new("POST", path)
            .header("content-type", "application/x-www-form-urlencoded")
            .body(Bytes::copy_from_slice(body.as_ref()))
    }

    pub fn header(mut self, name: &str, value: impl AsRef<[u8]>) -> Req {
        self.headers.push((name.into(), value.as_ref().to_vec()));
        self
    }

    pub fn body(mut self, body: impl Into<Bytes>) -> Req {
        self.body = BodyKind::Full(body.into());
        self
    }

    pub fn chunks(mut self, chunks: Vec<Bytes>) -> Req {
        self.body = BodyKind::Chunks(chunks);
        self
    }
}

/// A whole answer.
pub struct Resp {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl Resp {
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.text()))
    }

    pub fn header(&self, name: &str) -> &str {
        self.headers
            .get(name)
            .map(|v| v.to_str().unwrap())
            .unwrap_or_else(|| panic!("no {name} header"))
    }

    pub fn html(&self) -> scraper::Html {
        scraper::Html::parse_document(&self.text())
    }

    /// Asserts an error answer: this status and a JSON `{"error": "..."}` saying something.
    pub fn assert_error(&self, status: StatusCode) -> String {
        assert_eq!(self.status, status, "{}", self.text());
        let msg = self.json()["error"]
            .as_str()
            .expect("error field")
            .to_owned();
        assert!(!msg.is_empty());
        msg
    }
}

type TestBody = BoxBody<Bytes, std::convert::Infallible>;

/// Opens a connection and sends one HTTP/1.1 request with hyper's client; a connection that
/// fails or drops is an `Err`.
pub async fn try_open(
    addr: SocketAddr,
    req: Req,
) -> Result<hyper::Response<hyper::body::Incoming>, String> {
    let stream = TcpStream::connect(addr).await.map_err(|e| e.to_string())?;
    let (mut sender, conn) =
        hyper::client::conn::http1::handshake::<_, TestBody>(TokioIo::new(stream))
            .await
            .map_err(|e| e.to_string())?;
    tokio::spawn(conn);
    let mut builder = Request::builder()
        .method(Method::from_bytes(req.method.as_bytes()).unwrap())
        .uri(&req.path);
    if !req
        .headers
        .iter()
        .any(|(n, _)| n.eq_ignore_ascii_case("host"))
    {
        builder = builder.header("host", addr.to_string());
    }
    for (name, value) in &req.headers {
        builder = builder.header(
            name.as_str(),
            hyper::header::HeaderValue::from_bytes(value).unwrap(),
        );
    }
    let body: TestBody = match req.body {
        BodyKind::Full(b) => Full::new(b).boxed(),
        BodyKind::Chunks(chunks) => {
            let frames = chunks.into_iter().map(|c| Ok(Frame::data(c)));
            StreamBody::new(tokio_stream::iter(frames)).boxed()
        }
    };
    sender
        .send_request(builder.body(body).unwrap())
        .await
        .map_err(|e| e.to_string())
}

/// [`try_open`] for tests where the connection must work.
pub async fn open(addr: SocketAddr, req: Req) -> hyper::Response<hyper::body::Incoming> {
    try_open(addr, req).await.expect("request")
}

/// Sends a request and reads the whole answer; a connection failure is an `Err`.
/// Every answer from the API or a capture is checked against the OpenAPI document
/// ([`contract::check`]).
pub async fn try_send(addr: SocketAddr, req: Req) -> Result<Resp, String> {
    let (method, path) = (req.method.clone(), req.path.clone());
    let (parts, body) = try_open(addr, req).await?.into_parts();
    let body = body.collect().await.map_err(|e| e.to_string())?.to_bytes();
    let resp = Resp {
        status: parts.status,
        headers: parts.headers,
        body,
    };
    contract::check(&method, &path, &resp);
    Ok(resp)
}

pub async fn send(addr: SocketAddr, req: Req) -> Resp {
    try_send(addr, req).await.expect("request")
}

/// An HTTP/2 (prior knowledge, h2c) connection to `addr`, driven on its own task.
pub async fn h2(
    addr: SocketAddr,
) -> hyper::client::conn::http2::SendRequest<http_body_util::Full<Bytes>> {
    let stream = TcpStream::connect(addr).await.unwrap();
    let (send, conn) = hyper::client::conn::http2::handshake::<_, _, http_body_util::Full<Bytes>>(
        hyper_util::rt::TokioExecutor::new(),
        TokioIo::new(stream),
    )
    .await
    .unwrap();
    tokio::spawn(conn);
    send
}
