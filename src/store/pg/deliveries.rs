//! Reading and keeping the outbox on PostgreSQL: a delivery with its attempts, a webhook's
//! deliveries page by page, test sends and re-deliveries, what falls due next, the counts by
//! state, and pruning finished deliveries.

use bytes::Bytes;
use chrono::{DateTime, TimeZone, Utc};
use deadpool_postgres::GenericClient;

use super::{PgStore, failed, stored};
use crate::model::{Attempt, Delivery, DeliveryId, DeliveryState, EventId, WebhookId};
use crate::store::StoreError;

const SELECT: &str = "SELECT id, webhook_id, event, event_id, is_test, payload, state,
    next_attempt_ms, created_at, redelivery_of FROM deliveries";

fn delivery_from(d: &tokio_postgres::Row) -> Result<Delivery, StoreError> {
    Ok(Delivery {
        id: stored(&d.get::<_, String>(0), "delivery id", DeliveryId::parse)?,
        webhook_id: stored(&d.get::<_, String>(1), "webhook id", WebhookId::parse)?,
        event: d.get(2),
        event_id: d
            .get::<_, Option<String>>(3)
            .map(|e| stored(&e, "event id", EventId::parse))
            .transpose()?,
        is_test: d.get(4),
        payload: Bytes::from(d.get::<_, Vec<u8>>(5)),
        state: DeliveryState::parse(d.get(6)),
        next_attempt_at: d
            .get::<_, Option<i64>>(7)
            .and_then(|ms| Utc.timestamp_millis_opt(ms).single()),
        created_at: d.get::<_, DateTime<Utc>>(8),
        redelivery_of: d
            .get::<_, Option<String>>(9)
            .map(|r| stored(&r, "delivery id", DeliveryId::parse))
            .transpose()?,
        attempts: Vec::new(),
    })
}

/// A delivery's attempts, oldest first.
async fn attempts(client: &impl GenericClient, id: &str) -> Result<Vec<Attempt>, StoreError> {
    Ok(client
        .query(
            "SELECT at, status, duration_ms, error, request_headers, response_headers,
                    response_body, response_truncated
             FROM attempts WHERE delivery_id = $1 ORDER BY id",
            &[&id],
        )
        .await
        .map_err(failed)?
        .iter()
        .map(|a| Attempt {
            at: a.get(0),
            status: a.get::<_, Option<i32>>(1).map(|s| s as u16),
            duration_ms: a.get::<_, i64>(2).max(0) as u64,
            error: a.get(3),
            request_headers: serde_json::from_str(a.get(4)).unwrap_or_default(),
            response_headers: serde_json::from_str(a.get(5)).unwrap_or_default(),
            response_body: Bytes::from(a.get::<_, Vec<u8>>(6)),
            response_truncated: a.get(7),
        })
        .collect())
}

/// One delivery with its attempts, on `client`.
async fn get(client: &impl GenericClient, id: &str) -> Result<Delivery, StoreError> {
    let row = client
        .query_opt(&format!("{SELECT} WHERE id = $1"), &[&id])
        .await
        .map_err(failed)?
        .ok_or_else(|| StoreError::NotFound(format!("delivery {id}")))?;
    let mut d = delivery_from(&row)?;
    d.attempts = attempts(client, id).await?;
    Ok(d)
}

impl PgStore {
    /// One delivery with its attempts.
    pub async fn get_delivery(&self, id: &DeliveryId) -> Result<Delivery, StoreError> {
        let client = self.client().await?;
        get(&client, id.as_str()).await
    }

    /// A webhook's most recent deliveries, newest first, each with its attempts, below the
    /// delivery `before` (a page's `next`).
    pub async fn list_deliveries(
        &self,
        webhook_id: &WebhookId,
        limit: usize,
        before: Option<DeliveryId>,
    ) -> Result<(Vec<Delivery>, Option<DeliveryId>), StoreError> {
        self.get_webhook(webhook_id).await?;
        let client = self.client().await?;
        let below: i64 = match &before {
            None => i64::MAX,
            Some(id) => client
                .query_opt(
                    "SELECT seq FROM deliveries WHERE id = $1 AND webhook_id = $2",
                    &[&id.as_str(), &webhook_id.as_str()],
                )
                .await
                .map_err(failed)?
                .ok_or_else(|| StoreError::NotFound(format!("delivery {id} of this webhook")))?
                .get(0),
        };
        let rows = client
            .query(
                &format!("{SELECT} WHERE webhook_id = $1 AND seq < $2 ORDER BY seq DESC LIMIT $3"),
                &[&webhook_id.as_str(), &below, &(limit as i64 + 1)],
            )
            .await
            .map_err(failed)?;
        let mut list = rows
            .iter()
            .map(delivery_from)
            .collect::<Result<Vec<_>, _>>()?;
        let next = crate::store::cut(&mut list, limit, |d| d.id.clone());
        for d in &mut list {
            d.attempts = attempts(&client, d.id.as_str()).await?;
        }
        Ok((list, next))
    }

    /// Records a test send that the caller makes right away (no worker picks it up).
    pub async fn create_test_delivery(
        &self,
        webhook_id: &WebhookId,
        event: &str,
        payload: Bytes,
    ) -> Result<DeliveryId, StoreError> {
        let id = DeliveryId::new();
        self.client()
            .await?
            .execute(
                "INSERT INTO deliveries (id, webhook_id, event, is_test, payload, state, created_at)
                 VALUES ($1, $2, $3, true, $4, 'pending', now())",
                &[&id.as_str(), &webhook_id.as_str(), &event, &&payload[..]],
            )
            .await
            .map_err(|e| super::orphaned(e, || format!("webhook {webhook_id}")))?;
        Ok(id)
    }

    /// A new delivery of the same payload to the same webhook, due now.
    pub async fn redeliver(&self, id: &DeliveryId) -> Result<Delivery, StoreError> {
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(failed)?;
        let old = get(&tx, id.as_str()).await?;
        let new = DeliveryId::new();
        tx.execute(
            "INSERT INTO deliveries (id, webhook_id, event, event_id, is_test, payload, state,
                 next_attempt_ms, created_at, redelivery_of)
             VALUES ($1, $2, $3, $4, false, $5, 'pending', $6, now(), $7)",
            &[
                &new.as_str(),
                &old.webhook_id.as_str(),
                &old.event,
                &old.event_id.as_ref().map(EventId::as_str),
                &&old.payload[..],
                &Utc::now().timestamp_millis(),
                &old.id.as_str(),
            ],
        )
        .await
        .map_err(failed)?;
        let made = get(&tx, new.as_str()).await?;
        tx.commit().await.map_err(failed)?;
        Ok(made)
    }

    /// When the next pending delivery of an active webhook falls due, if any.
    pub async fn next_due(&self) -> Result<Option<DateTime<Utc>>, StoreError> {
        let ms: Option<i64> = self
            .client()
            .await?
            .query_one(
                "SELECT min(d.next_attempt_ms) FROM deliveries d JOIN webhooks w ON w.id = d.webhook_id
                 WHERE d.state = 'pending' AND w.active",
                &[],
            )
            .await
            .map_err(failed)?
            .get(0);
        Ok(ms.and_then(|ms| Utc.timestamp_millis_opt(ms).single()))
    }

    /// How many deliveries are in each state, for the metrics.
    pub async fn delivery_states(&self) -> Result<Vec<(String, u64)>, StoreError> {
        Ok(self
            .client()
            .await?
            .query("SELECT state, count(*) FROM deliveries GROUP BY state", &[])
            .await
            .map_err(failed)?
            .iter()
            .map(|r| (r.get::<_, String>(0), r.get::<_, i64>(1).max(0) as u64))
            .collect())
    }

    /// Deletes finished deliveries (with their attempts) created more than `age` before `now`,
    /// 500 per statement so no node holds locks for long; returns how many went.
    pub async fn prune_deliveries(
        &self,
        age: std::time::Duration,
        now: DateTime<Utc>,
    ) -> Result<u64, StoreError> {
        let Some(cutoff) = chrono::Duration::from_std(age)
            .ok()
            .and_then(|age| now.checked_sub_signed(age))
        else {
            return Ok(0);
        };
        let client = self.client().await?;
        let mut total = 0;
        loop {
            let n = client
                .execute(
                    "DELETE FROM deliveries WHERE seq IN (
                         SELECT seq FROM deliveries WHERE state != 'pending' AND created_at < $1
                         LIMIT 500)",
                    &[&cutoff],
                )
                .await
                .map_err(failed)?;
            total += n;
            if n < 500 {
                return Ok(total);
            }
        }
    }
}
