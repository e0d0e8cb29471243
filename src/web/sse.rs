//! Server-Sent Events for a bin page: one `request` event per committed capture of that bin.
//!
//! Each stream follows its bin's channel of the capture feed until the browser goes away or the server shuts down;
//! a comment every 15 s keeps proxies from closing an idle stream. A stream that falls behind
//! the feed is told so (`lagged`), and the page reloads instead of silently missing requests.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, StreamBody};
use hyper::body::Frame;
use hyper::header::{self, HeaderValue};
use hyper::{Response, StatusCode};
use tokio::sync::{broadcast, mpsc};
use tokio_stream::wrappers::ReceiverStream;

use super::response::{self, Body};
use super::{App, WebError};
use crate::capture::Announced;
use crate::model::BinId;

const KEEP_ALIVE: Duration = Duration::from_secs(15);
/// Most bytes of events gathered into one write.
const BATCH_BYTES: usize = 64 * 1024;
/// Tells the page it missed events (it reloads).
const LAGGED: &str = "event: lagged\ndata: {}\n\n";

fn event(a: &Announced) -> String {
    format!("event: request\ndata: {}\n\n", a.json)
}

pub async fn stream(app: &Arc<App>, bin: BinId) -> Result<Response<Body>, WebError> {
    if !app.store.bin_exists(&bin).await? {
        return Err(WebError::NotFound(format!("no bin with id {bin}")));
    }
    let mut feed = app.feed.subscribe(&bin);
    let mut shutdown = app.shutdown.clone();
    let (tx, rx) = mpsc::channel::<Result<Frame<Bytes>, Infallible>>(32);
    tokio::spawn(async move {
        let send = |text: String| tx.send(Ok(Frame::data(Bytes::from(text))));
        if send("retry: 2000\n: connected\n\n".into()).await.is_err() {
            return;
        }
        let mut tick = tokio::time::interval(KEEP_ALIVE);
        tick.tick().await;
        loop {
            let text = tokio::select! {
                msg = feed.recv() => match msg {
                    Ok(a) => {
                        // Whatever else has arrived goes out in the same write: under load a
                        // viewer costs one write per wake-up, not one per capture.
                        let mut text = event(&a);
                        while text.len() < BATCH_BYTES {
                            match feed.try_recv() {
                                Ok(a) => text += &event(&a),
                                Err(broadcast::error::TryRecvError::Lagged(_)) => text += LAGGED,
                                Err(_) => break,
                            }
                        }
                        text
                    }
                    Err(broadcast::error::RecvError::Lagged(_)) => LAGGED.into(),
                    Err(broadcast::error::RecvError::Closed) => break,
                },
                _ = tick.tick() => ": keep-alive\n\n".into(),
                _ = shutdown.wait_for(|stop| *stop) => break,
            };
            if send(text).await.is_err() {
                break;
            }
        }
    });
    let body: Body = StreamBody::new(ReceiverStream::new(rx)).boxed();
    let mut r = response::with_type(StatusCode::OK, "text/event-stream", body);
    r.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(r)
}
