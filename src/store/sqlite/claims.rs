//! Claiming due deliveries for sending, with a lease.
//!
//! A claim moves `next_attempt_ms` a lease into the future instead of marking the delivery as
//! taken, so a process that dies mid-send leaves nothing stuck: the lease runs out and the
//! delivery is due again (at-least-once). Claims write only the narrow `delivery_state` rows;
//! a delivery's own row (its payload) is only read.

use bytes::Bytes;
use chrono::{DateTime, TimeZone, Utc};
use rusqlite::{OptionalExtension, params};

use super::{Sqlite, StoreError, stored_id};
use crate::model::{DeliveryId, DueDelivery, WebhookId};
use crate::store::Admit;

impl Sqlite {
    /// Takes up to `limit` due deliveries of active webhooks that `admit` accepts, leasing each
    /// for `lease_ms` so no other worker sends it meanwhile.
    pub async fn claim_due(
        &self,
        limit: usize,
        lease_ms: i64,
        mut admit: Admit,
    ) -> Result<Vec<DueDelivery>, StoreError> {
        self.write(move |conn| {
            let now = Utc::now().timestamp_millis();
            // Webhook by webhook (each with its URL), the earliest due first; `admit` is asked
            // before a row's payload is read, and a webhook it refuses is left at once (all its
            // deliveries go to the same endpoint), so a backlog that cannot be sent yet costs
            // nothing to pass over.
            let hooks: Vec<(String, String, String)> = conn
                .prepare_cached(
                    "SELECT w.id, w.url, w.secret FROM webhooks w
                     WHERE w.active = 1 AND EXISTS (
                         SELECT 1 FROM delivery_state s WHERE s.webhook_id = w.id
                         AND s.state = 'pending' AND s.next_attempt_ms <= ?1)
                     ORDER BY (SELECT min(s.next_attempt_ms) FROM delivery_state s
                               WHERE s.webhook_id = w.id AND s.state = 'pending')",
                )?
                .query_map([now], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?
                .collect::<Result<_, _>>()?;
            let mut due = conn.prepare_cached(
                "SELECT seq, attempt_count FROM delivery_state
                 WHERE webhook_id = ?1 AND state = 'pending' AND next_attempt_ms <= ?2
                 ORDER BY next_attempt_ms LIMIT ?3",
            )?;
            let mut take = conn
                .prepare_cached("UPDATE delivery_state SET next_attempt_ms = ?2 WHERE seq = ?1")?;
            let mut claimed = Vec::new();
            for (hook, url, secret) in hooks {
                let room = limit - claimed.len();
                if room == 0 {
                    break;
                }
                let rows: Vec<(i64, i64)> = due
                    .query_map(params![hook, now, room as i64], |r| {
                        Ok((r.get(0)?, r.get(1)?))
                    })?
                    .collect::<Result<_, _>>()?;
                let webhook_id = stored_id(&hook, 0, WebhookId::parse)?;
                for (seq, attempts) in rows {
                    if !admit(&url) {
                        break;
                    }
                    take.execute(params![seq, now + lease_ms])?;
                    let (id, event, payload) = what_to_send(conn, seq)?;
                    claimed.push(DueDelivery {
                        id: stored_id(&id, 0, DeliveryId::parse)?,
                        webhook_id: webhook_id.clone(),
                        url: url.clone(),
                        secret: secret.clone(),
                        event,
                        payload: Bytes::from(payload),
                        attempts_made: attempts as u32,
                    });
                }
            }
            Ok(claimed)
        })
        .await
    }

    /// Takes these deliveries, if still pending and their webhook active, leasing each for
    /// `lease_ms` (the CLI sends what it just fired itself).
    pub async fn claim_these(
        &self,
        ids: Vec<DeliveryId>,
        lease_ms: i64,
    ) -> Result<Vec<DueDelivery>, StoreError> {
        self.write(move |conn| {
            let now = Utc::now().timestamp_millis();
            let mut take = conn.prepare_cached(
                "UPDATE delivery_state SET next_attempt_ms = ?2
                 WHERE seq = (SELECT seq FROM deliveries WHERE id = ?1) AND state = 'pending'
                   AND webhook_id IN (SELECT id FROM webhooks WHERE active = 1)
                 RETURNING seq, webhook_id, attempt_count,
                   (SELECT url FROM webhooks w WHERE w.id = webhook_id),
                   (SELECT secret FROM webhooks w WHERE w.id = webhook_id)",
            )?;
            let mut claimed = Vec::new();
            for id in ids {
                let row = take
                    .query_row(params![id.as_str(), now + lease_ms], |r| {
                        Ok((
                            r.get::<_, i64>(0)?,
                            r.get::<_, String>(1)?,
                            r.get::<_, i64>(2)?,
                            r.get::<_, String>(3)?,
                            r.get::<_, String>(4)?,
                        ))
                    })
                    .optional()?;
                if let Some((seq, hook, attempts, url, secret)) = row {
                    let (_, event, payload) = what_to_send(conn, seq)?;
                    claimed.push(DueDelivery {
                        id,
                        webhook_id: stored_id(&hook, 0, WebhookId::parse)?,
                        url,
                        secret,
                        event,
                        payload: Bytes::from(payload),
                        attempts_made: attempts as u32,
                    });
                }
            }
            Ok(claimed)
        })
        .await
    }

    /// When the next pending delivery of an active webhook falls due, if any.
    pub async fn next_due(&self) -> Result<Option<DateTime<Utc>>, StoreError> {
        self.read(|conn| {
            let ms: Option<i64> = conn
                .prepare_cached(
                    "SELECT min((SELECT min(s.next_attempt_ms) FROM delivery_state s
                                 WHERE s.webhook_id = w.id AND s.state = 'pending'))
                     FROM webhooks w WHERE w.active = 1",
                )?
                .query_row([], |r| r.get(0))?;
            Ok(ms.and_then(|ms| Utc.timestamp_millis_opt(ms).single()))
        })
        .await
    }
}

/// A claimed delivery's id, event and payload, read from its row (which claims never write).
fn what_to_send(
    conn: &rusqlite::Connection,
    seq: i64,
) -> Result<(String, String, Vec<u8>), StoreError> {
    Ok(conn
        .prepare_cached("SELECT id, event, payload FROM deliveries WHERE seq = ?1")?
        .query_row([seq], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?)
}
