//! Captures committed by any node, as they commit: each writer's transaction notifies
//! `hookbin_captures` with "<bin> <newest row key>" once per bin per batch, and every node
//! listens on a connection of its own. PostgreSQL delivers a notification only when the
//! transaction commits, so a node never hears of a capture it cannot yet read.
//!
//! The listener reconnects by itself (every second) when the database goes away; it then says
//! [`Heard::Gap`], since notifications sent meanwhile are lost and followers must re-read.

use std::time::Duration;

use tokio::sync::mpsc;
use tokio_postgres::{AsyncMessage, NoTls};

use crate::model::{BinId, RequestId};

/// The notification channel the writers use.
pub const CHANNEL: &str = "hookbin_captures";
const LISTEN: &str = "LISTEN hookbin_captures";

/// What a node hears.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Heard {
    /// Captures committed into `bin`, the newest of them `newest`.
    Committed { bin: BinId, newest: RequestId },
    /// The listener was disconnected: anything may have been committed meanwhile.
    Gap,
}

/// Listens on `config`'s database until the receiver is dropped.
pub fn spawn(config: tokio_postgres::Config) -> mpsc::Receiver<Heard> {
    let (tx, rx) = mpsc::channel(4096);
    tokio::spawn(async move {
        let mut listened_before = false;
        while !tx.is_closed() {
            match config.connect(NoTls).await {
                Ok((client, mut conn)) => {
                    if listened_before && tx.send(Heard::Gap).await.is_err() {
                        return;
                    }
                    listened_before = true;
                    // The connection must be polled for LISTEN to complete: drive both.
                    let ok = {
                        let mut listen = std::pin::pin!(client.batch_execute(LISTEN));
                        loop {
                            tokio::select! {
                                done = &mut listen => break done.is_ok(),
                                msg = std::future::poll_fn(|cx| conn.poll_message(cx)) => {
                                    if msg.is_none_or(|m| m.is_err()) {
                                        break false;
                                    }
                                }
                            }
                        }
                    };
                    if ok {
                        loop {
                            let msg = tokio::select! {
                                // Nobody follows any more: end, and close the connection.
                                _ = tx.closed() => return,
                                msg = std::future::poll_fn(|cx| conn.poll_message(cx)) => msg,
                            };
                            match msg {
                                Some(Ok(AsyncMessage::Notification(n))) => {
                                    if let Some(heard) = parse(n.payload())
                                        && tx.send(heard).await.is_err()
                                    {
                                        return;
                                    }
                                }
                                Some(Ok(_)) => {}
                                _ => break,
                            }
                        }
                    }
                }
                Err(e) => tracing::debug!(error = %e, "cannot listen for captures yet"),
            }
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
    });
    rx
}

fn parse(payload: &str) -> Option<Heard> {
    let (bin, seq) = payload.split_once(' ')?;
    Some(Heard::Committed {
        bin: BinId::parse(bin)?,
        newest: RequestId::from_seq(seq.parse().ok()?),
    })
}
