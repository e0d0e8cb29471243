//! The outbox on PostgreSQL. Claims take due deliveries with
//! `FOR UPDATE SKIP LOCKED`, so nodes claiming at once never take the same one, and lease
//! them by moving their due time forward: a node that dies mid-send leaves the delivery due
//! again once the lease runs out, for another node to take (at least once, never lost).

use bytes::Bytes;
use chrono::Utc;

use super::{PgStore, failed, stored};
use crate::model::{Attempt, DeliveryId, DueDelivery, EventId, WebhookId};
use crate::store::{Admit, Next, StoreError};

/// Leases deliveries `$1` until `$2` (ms); with `$3`, only those still pending whose webhook
/// is active (a claim that did not lock them first). Returns what a send needs.
const LEASE: &str = "UPDATE deliveries d SET next_attempt_ms = $2 FROM webhooks w
     WHERE d.id = ANY($1) AND w.id = d.webhook_id
       AND (NOT $3 OR (d.state = 'pending' AND w.active))
     RETURNING d.id, d.webhook_id, w.url, w.secret, d.event, d.payload, d.attempt_count";

/// The leased deliveries of `rows` (from [`LEASE`]), ordered by `rank`.
fn in_order(
    rows: &[tokio_postgres::Row],
    rank: impl Fn(&DeliveryId) -> Option<usize>,
) -> Result<Vec<DueDelivery>, StoreError> {
    let mut claimed = rows
        .iter()
        .map(|r| {
            Ok(DueDelivery {
                id: stored(&r.get::<_, String>(0), "delivery id", DeliveryId::parse)?,
                webhook_id: stored(&r.get::<_, String>(1), "webhook id", WebhookId::parse)?,
                url: r.get(2),
                secret: r.get(3),
                event: r.get(4),
                payload: Bytes::from(r.get::<_, Vec<u8>>(5)),
                attempts_made: r.get::<_, i32>(6).max(0) as u32,
            })
        })
        .collect::<Result<Vec<_>, StoreError>>()?;
    claimed.sort_by_key(|d| rank(&d.id));
    Ok(claimed)
}

impl PgStore {
    /// Records a fired event: one pending delivery, due now, per active webhook on `event`,
    /// all in one transaction. The event id and `(delivery, webhook)` pairs.
    pub async fn enqueue_event(
        &self,
        event: &str,
        payload: Bytes,
    ) -> Result<(EventId, Vec<(DeliveryId, WebhookId)>), StoreError> {
        let event_id = EventId::new();
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(failed)?;
        let hooks = tx
            .query(
                "SELECT id FROM webhooks WHERE event = $1 AND active ORDER BY created_at, id",
                &[&event],
            )
            .await
            .map_err(failed)?;
        let now = Utc::now().timestamp_millis();
        let mut out = Vec::with_capacity(hooks.len());
        for hook in hooks {
            let hook: String = hook.get(0);
            let id = DeliveryId::new();
            tx.execute(
                "INSERT INTO deliveries (id, webhook_id, event, event_id, is_test, payload, state,
                     next_attempt_ms, created_at)
                 VALUES ($1, $2, $3, $4, false, $5, 'pending', $6, now())",
                &[
                    &id.as_str(),
                    &hook,
                    &event,
                    &event_id.as_str(),
                    &&payload[..],
                    &now,
                ],
            )
            .await
            .map_err(failed)?;
            out.push((id, stored(&hook, "webhook id", WebhookId::parse)?));
        }
        tx.commit().await.map_err(failed)?;
        Ok((event_id, out))
    }

    /// Takes up to `limit` due deliveries of active webhooks that `admit` accepts, leasing each
    /// for `lease_ms`. Rows another node is claiming at this moment are skipped, not waited for.
    pub async fn claim_due(
        &self,
        limit: usize,
        lease_ms: i64,
        mut admit: Admit,
    ) -> Result<Vec<DueDelivery>, StoreError> {
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(failed)?;
        let now = Utc::now().timestamp_millis();
        let candidates = tx
            .query(
                "SELECT d.id, d.webhook_id, w.url FROM deliveries d
                 JOIN webhooks w ON w.id = d.webhook_id
                 WHERE d.state = 'pending' AND d.next_attempt_ms <= $1 AND w.active
                 ORDER BY d.next_attempt_ms LIMIT $2
                 FOR UPDATE OF d SKIP LOCKED",
                &[&now, &(limit as i64)],
            )
            .await
            .map_err(failed)?;
        // Admitted in due order; the rows are locked, so one UPDATE leases them all.
        let admitted: Vec<String> = candidates
            .iter()
            .filter(|c| admit(c.get::<_, &str>(2)))
            .map(|c| c.get(0))
            .collect();
        if admitted.is_empty() {
            return Ok(Vec::new());
        }
        let rows = tx
            .query(LEASE, &[&admitted, &(now + lease_ms), &false])
            .await
            .map_err(failed)?;
        tx.commit().await.map_err(failed)?;
        in_order(&rows, |id| admitted.iter().position(|a| a == id.as_str()))
    }

    /// Takes these deliveries, if still pending and their webhook active, leasing each for
    /// `lease_ms` (the CLI sends what it just fired itself).
    pub async fn claim_these(
        &self,
        ids: Vec<DeliveryId>,
        lease_ms: i64,
    ) -> Result<Vec<DueDelivery>, StoreError> {
        let wanted: Vec<&str> = ids.iter().map(DeliveryId::as_str).collect();
        let until = Utc::now().timestamp_millis() + lease_ms;
        let rows = self
            .client()
            .await?
            .query(LEASE, &[&wanted, &until, &true])
            .await
            .map_err(failed)?;
        in_order(&rows, |id| ids.iter().position(|i| i == id))
    }

    /// Records one attempt and moves the delivery to its next state, in one transaction.
    pub async fn record_attempt(
        &self,
        id: &DeliveryId,
        attempt: Attempt,
        next: Next,
    ) -> Result<(), StoreError> {
        let gone = self
            .record_attempts(vec![(id.clone(), attempt, next)])
            .await?;
        match gone.is_empty() {
            true => Ok(()),
            false => Err(StoreError::NotFound(format!("delivery {id}"))),
        }
    }

    /// Records many attempts in one transaction; answers the deliveries that are gone, whose
    /// attempts are left out.
    pub async fn record_attempts(
        &self,
        batch: Vec<(DeliveryId, Attempt, Next)>,
    ) -> Result<Vec<DeliveryId>, StoreError> {
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(failed)?;
        let mut gone = Vec::new();
        for (id, attempt, next) in batch {
            let (state, next_ms) = next.outcome();
            let n = tx
                .execute(
                    "UPDATE deliveries SET state = $2, next_attempt_ms = $3,
                         attempt_count = attempt_count + 1 WHERE id = $1",
                    &[&id.as_str(), &state.as_str(), &next_ms],
                )
                .await
                .map_err(failed)?;
            if n == 0 {
                gone.push(id);
                continue;
            }
            tx.execute(
                "INSERT INTO attempts (delivery_id, at, status, duration_ms, error, request_headers,
                     response_headers, response_body, response_truncated)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
                &[
                    &id.as_str(),
                    &attempt.at,
                    &attempt.status.map(i32::from),
                    &(attempt.duration_ms as i64),
                    &attempt.error,
                    &serde_json::to_string(&attempt.request_headers).expect("strings serialize"),
                    &serde_json::to_string(&attempt.response_headers).expect("strings serialize"),
                    &&attempt.response_body[..],
                    &attempt.response_truncated,
                ],
            )
            .await
            .map_err(failed)?;
        }
        tx.commit().await.map_err(failed)?;
        Ok(gone)
    }
}
