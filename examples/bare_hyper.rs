//! The baseline for the capture benchmark: bare hyper on the same runtime setup as hookbin,
//! reading each request body in full and answering 200, storing nothing.
//!
//! `cargo run --release --example bare_hyper -- 127.0.0.1:0` prints the URL it listens on.

use std::convert::Infallible;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let addr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:0".into());
    let listener = tokio::net::TcpListener::bind(&addr).await?;
    println!("bare hyper listening on http://{}/", listener.local_addr()?);
    loop {
        let (stream, _) = listener.accept().await?;
        let _ = stream.set_nodelay(true);
        tokio::spawn(async move {
            let service = service_fn(|req: Request<hyper::body::Incoming>| async move {
                let body = req
                    .into_body()
                    .collect()
                    .await
                    .map(|b| b.to_bytes().len())
                    .unwrap_or(0);
                let answer = format!("{{\"ok\":true,\"size\":{body}}}");
                Ok::<_, Infallible>(Response::new(Full::new(Bytes::from(answer))))
            });
            let _ = auto::Builder::new(TokioExecutor::new())
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}
