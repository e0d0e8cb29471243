//! Captures committed by any node, as they commit: each writer's transaction notifies
//! `hookbin_captures` with "<bin> <oldest row key> <newest row key>" once per bin per batch,
//! and every node listens on a connection of its own. PostgreSQL delivers a notification only
//! when the transaction commits, so a node never hears of a capture it cannot yet read.
//!
//! The same connection hears `hookbin_bins` (see [`super::known`]) and keeps this node's
//! knowledge of bins right. It reconnects by itself (every second) when the database goes
//! away; it then says [`Heard::Gap`], since notifications sent meanwhile are lost and
//! followers must re-read.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::broadcast;
use tokio_postgres::{AsyncMessage, NoTls};

use super::known::{self, Known};
use crate::model::{BinId, RequestId};

/// The notification channel the writers use.
pub const CHANNEL: &str = "hookbin_captures";

/// What a node hears.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Heard {
    /// Captures committed into `bin` by one transaction, with row keys from `oldest` to
    /// `newest`. Other transactions' captures may lie between them: row keys come from each
    /// node's clock, so nodes commit them out of key order.
    Committed {
        bin: BinId,
        oldest: RequestId,
        newest: RequestId,
    },
    /// The listener was disconnected, or a follower fell behind: anything may have been
    /// committed meanwhile.
    Gap,
}

/// Listens on `config`'s database for as long as the task runs, telling `heard` of captures
/// and keeping `known` right.
pub fn spawn(
    config: tokio_postgres::Config,
    known: Arc<Known>,
    heard: broadcast::Sender<Heard>,
) -> tokio::task::JoinHandle<()> {
    let listen = format!("LISTEN {CHANNEL}; LISTEN {}", known::CHANNEL);
    tokio::spawn(async move {
        let mut listened_before = false;
        loop {
            match config.connect(NoTls).await {
                Ok((client, mut conn)) => {
                    // The connection must be polled for LISTEN to complete: drive both.
                    let ok = {
                        let mut listening = std::pin::pin!(client.batch_execute(&listen));
                        loop {
                            tokio::select! {
                                done = &mut listening => break done.is_ok(),
                                msg = std::future::poll_fn(|cx| conn.poll_message(cx)) => {
                                    if msg.is_none_or(|m| m.is_err()) {
                                        break false;
                                    }
                                }
                            }
                        }
                    };
                    if ok {
                        // Whatever changed while nobody listened is unknown.
                        known.forget_all();
                        if listened_before {
                            let _ = heard.send(Heard::Gap);
                        }
                        listened_before = true;
                        while let Some(Ok(msg)) =
                            std::future::poll_fn(|cx| conn.poll_message(cx)).await
                        {
                            if let AsyncMessage::Notification(n) = msg {
                                if n.channel() == known::CHANNEL {
                                    known.forget(n.payload());
                                } else if let Some(h) = parse(n.payload()) {
                                    let _ = heard.send(h);
                                }
                            }
                        }
                    }
                }
                Err(e) => tracing::debug!(error = %e, "cannot listen for captures yet"),
            }
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
    })
}

fn parse(payload: &str) -> Option<Heard> {
    let mut parts = payload.split(' ');
    let bin = BinId::parse(parts.next()?)?;
    let mut key = || Some(RequestId::from_seq(parts.next()?.parse().ok()?));
    let (oldest, newest) = (key()?, key()?);
    Some(Heard::Committed {
        bin,
        oldest,
        newest,
    })
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_payload_reads_back_and_a_bad_one_is_ignored() {
        let heard = super::parse("bin-1 65536 131072").expect("parsed");
        let super::Heard::Committed {
            bin,
            oldest,
            newest,
        } = heard
        else {
            panic!("{heard:?}");
        };
        assert_eq!(bin.as_str(), "bin-1");
        assert!(oldest < newest);
        assert_eq!(super::parse("bin-1 65536"), None);
        assert_eq!(super::parse("no/bin 1 2"), None);
    }
}
