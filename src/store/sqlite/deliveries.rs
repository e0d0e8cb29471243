//! The outbox: deliveries written in the same transaction as the event that caused them, every
//! attempt recorded, and the lists of them. Claiming due deliveries is in [`super::claims`].

use bytes::Bytes;
use chrono::{TimeZone, Utc};
use rusqlite::{Connection, OptionalExtension, Row, params};

use super::stored_id;
use super::{Sqlite, StoreError};
use crate::model::{Attempt, Delivery, DeliveryId, DeliveryState, EventId, WebhookId};
use crate::store::Next;
use crate::time;

/// A delivery with its state; conditions name the delivery's columns as `d.`.
const SELECT: &str =
    "SELECT d.id, d.webhook_id, d.event, d.event_id, d.is_test, d.payload, s.state,
        s.next_attempt_ms, d.created_at, d.redelivery_of
     FROM deliveries d JOIN delivery_state s ON s.seq = d.seq";

fn from_row(row: &Row<'_>) -> rusqlite::Result<Delivery> {
    let created: String = row.get(8)?;
    let event_id: Option<String> = row.get(3)?;
    let redelivery_of: Option<String> = row.get(9)?;
    Ok(Delivery {
        id: stored_id(&row.get::<_, String>(0)?, 0, DeliveryId::parse)?,
        webhook_id: stored_id(&row.get::<_, String>(1)?, 1, WebhookId::parse)?,
        event: row.get(2)?,
        event_id: event_id
            .map(|e| stored_id(&e, 3, EventId::parse))
            .transpose()?,
        is_test: row.get(4)?,
        payload: Bytes::from(row.get::<_, Vec<u8>>(5)?),
        state: DeliveryState::parse(&row.get::<_, String>(6)?),
        next_attempt_at: row
            .get::<_, Option<i64>>(7)?
            .and_then(|ms| Utc.timestamp_millis_opt(ms).single()),
        created_at: time::parse(&created).unwrap_or_default(),
        redelivery_of: redelivery_of
            .map(|d| stored_id(&d, 9, DeliveryId::parse))
            .transpose()?,
        attempts: Vec::new(),
    })
}

fn attempts(conn: &Connection, delivery: &str) -> Result<Vec<Attempt>, StoreError> {
    let mut stmt = conn.prepare_cached(
        "SELECT at, status, duration_ms, error, request_headers, response_headers, response_body,
                response_truncated FROM attempts WHERE delivery_id = ?1 ORDER BY id",
    )?;
    let rows = stmt.query_map([delivery], |r| {
        let at: String = r.get(0)?;
        let req: String = r.get(4)?;
        let resp: String = r.get(5)?;
        Ok(Attempt {
            at: time::parse(&at).unwrap_or_default(),
            status: r.get::<_, Option<i64>>(1)?.map(|s| s as u16),
            duration_ms: r.get::<_, i64>(2)? as u64,
            error: r.get(3)?,
            request_headers: serde_json::from_str(&req).unwrap_or_default(),
            response_headers: serde_json::from_str(&resp).unwrap_or_default(),
            response_body: Bytes::from(r.get::<_, Vec<u8>>(6)?),
            response_truncated: r.get(7)?,
        })
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}

fn get(conn: &Connection, id: &str) -> Result<Delivery, StoreError> {
    let mut d = conn
        .prepare_cached(&format!("{SELECT} WHERE d.id = ?1"))?
        .query_row([id], from_row)
        .optional()?
        .ok_or_else(|| StoreError::NotFound(format!("delivery {id}")))?;
    d.attempts = attempts(conn, id)?;
    Ok(d)
}

struct NewDelivery<'a> {
    webhook_id: &'a str,
    event: &'a str,
    event_id: Option<&'a str>,
    is_test: bool,
    payload: &'a [u8],
    due_ms: Option<i64>,
    redelivery_of: Option<&'a str>,
}

fn insert(conn: &Connection, d: NewDelivery<'_>) -> Result<DeliveryId, StoreError> {
    let id = DeliveryId::new();
    conn.prepare_cached(
        "INSERT INTO deliveries (id, webhook_id, event, event_id, is_test, payload, created_at,
             redelivery_of)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
    )?
    .execute(params![
        id.as_str(),
        d.webhook_id,
        d.event,
        d.event_id,
        d.is_test,
        d.payload,
        time::format(Utc::now()),
        d.redelivery_of
    ])?;
    conn.prepare_cached(
        "INSERT INTO delivery_state (seq, webhook_id, state, attempt_count, next_attempt_ms)
         VALUES (?1, ?2, 'pending', 0, ?3)",
    )?
    .execute(params![conn.last_insert_rowid(), d.webhook_id, d.due_ms])?;
    Ok(id)
}

impl Sqlite {
    /// Records a fired event: one pending delivery per active webhook on `event`, all in one
    /// transaction. Returns the event id and `(delivery id, webhook id)` pairs.
    pub async fn enqueue_event(
        &self,
        event: &str,
        payload: Bytes,
    ) -> Result<(EventId, Vec<(DeliveryId, WebhookId)>), StoreError> {
        let event = event.to_owned();
        self.write(move |conn| {
            let event_id = EventId::new();
            let hooks: Vec<String> = conn
                .prepare_cached("SELECT id FROM webhooks WHERE event = ?1 AND active = 1 ORDER BY created_at, id")?
                .query_map([&event], |r| r.get(0))?
                .collect::<Result<_, _>>()?;
            let now = Utc::now().timestamp_millis();
            let mut out = Vec::with_capacity(hooks.len());
            for hook in hooks {
                let id = insert(
                    conn,
                    NewDelivery {
                        webhook_id: &hook,
                        event: &event,
                        event_id: Some(event_id.as_str()),
                        is_test: false,
                        payload: &payload,
                        due_ms: Some(now),
                        redelivery_of: None,
                    },
                )?;
                out.push((id, stored_id(&hook, 0, WebhookId::parse)?));
            }
            Ok((event_id, out))
        })
        .await
    }

    /// Records a test send that the caller makes right away (the worker never picks it up).
    pub async fn create_test_delivery(
        &self,
        webhook_id: &WebhookId,
        event: &str,
        payload: Bytes,
    ) -> Result<DeliveryId, StoreError> {
        let (webhook_id, event) = (webhook_id.to_string(), event.to_owned());
        self.write(move |conn| {
            super::webhooks::get(conn, &webhook_id)?;
            insert(
                conn,
                NewDelivery {
                    webhook_id: &webhook_id,
                    event: &event,
                    event_id: None,
                    is_test: true,
                    payload: &payload,
                    due_ms: None,
                    redelivery_of: None,
                },
            )
        })
        .await
    }

    /// A new delivery of the same payload to the same webhook, due now.
    pub async fn redeliver(&self, id: &DeliveryId) -> Result<Delivery, StoreError> {
        let id = id.to_string();
        self.write(move |conn| {
            let old = get(conn, &id)?;
            let new = insert(
                conn,
                NewDelivery {
                    webhook_id: old.webhook_id.as_str(),
                    event: &old.event,
                    event_id: old.event_id.as_ref().map(EventId::as_str),
                    is_test: false,
                    payload: &old.payload,
                    due_ms: Some(Utc::now().timestamp_millis()),
                    redelivery_of: Some(old.id.as_str()),
                },
            )?;
            get(conn, new.as_str())
        })
        .await
    }

    /// Records one attempt and moves the delivery to its next state, in one write.
    pub async fn record_attempt(
        &self,
        id: &DeliveryId,
        attempt: Attempt,
        next: Next,
    ) -> Result<(), StoreError> {
        let id = id.to_string();
        self.write(move |conn| match record_one(conn, &id, &attempt, next)? {
            true => Ok(()),
            false => Err(StoreError::NotFound(format!("delivery {id}"))),
        })
        .await
    }

    /// Records many attempts in one write (the delivery worker's, gathered while the writer
    /// was busy); answers the deliveries that are gone (deleted with their webhook), whose
    /// attempts are left out.
    pub async fn record_attempts(
        &self,
        batch: Vec<(DeliveryId, Attempt, Next)>,
    ) -> Result<Vec<DeliveryId>, StoreError> {
        self.write(move |conn| {
            let mut gone = Vec::new();
            for (id, attempt, next) in batch {
                if !record_one(conn, id.as_str(), &attempt, next)? {
                    gone.push(id);
                }
            }
            Ok(gone)
        })
        .await
    }

    /// One delivery with its attempts.
    pub async fn get_delivery(&self, id: &DeliveryId) -> Result<Delivery, StoreError> {
        let id = id.to_string();
        self.read(move |conn| get(conn, &id)).await
    }

    /// A webhook's most recent deliveries, newest first, each with its attempts.
    pub async fn list_deliveries(
        &self,
        webhook_id: &WebhookId,
        limit: usize,
        before: Option<DeliveryId>,
    ) -> Result<(Vec<Delivery>, Option<DeliveryId>), StoreError> {
        let webhook_id = webhook_id.to_string();
        self.read(move |conn| {
            super::webhooks::get(conn, &webhook_id)?;
            let below = match &before {
                None => i64::MAX,
                Some(id) => conn
                    .prepare_cached("SELECT seq FROM deliveries WHERE id = ?1 AND webhook_id = ?2")?
                    .query_row(params![id.as_str(), webhook_id], |r| r.get(0))
                    .optional()?
                    .ok_or_else(|| {
                        StoreError::NotFound(format!("delivery {id} of this webhook"))
                    })?,
            };
            // One extra row tells whether another page follows.
            let mut list: Vec<Delivery> = conn
                .prepare_cached(&format!(
                    "{SELECT} WHERE d.webhook_id = ?1 AND d.seq < ?3 ORDER BY d.seq DESC LIMIT ?2"
                ))?
                .query_map(params![webhook_id, limit as i64 + 1, below], from_row)?
                .collect::<Result<_, _>>()?;
            let next = super::cut(&mut list, limit, |d| d.id.clone());
            for d in &mut list {
                d.attempts = attempts(conn, d.id.as_str())?;
            }
            Ok((list, next))
        })
        .await
    }
}

impl Sqlite {
    /// Deletes finished deliveries (and their attempts) created more than `age` before `now`,
    /// 500 per write so captures are never held up behind one long delete; returns how many
    /// went.
    pub async fn prune_deliveries(
        &self,
        age: std::time::Duration,
        now: chrono::DateTime<Utc>,
    ) -> Result<u64, StoreError> {
        let cutoff = chrono::Duration::from_std(age)
            .ok()
            .and_then(|age| now.checked_sub_signed(age))
            .map(time::format);
        let Some(cutoff) = cutoff else {
            return Ok(0);
        };
        let mut total = 0;
        loop {
            let cutoff = cutoff.clone();
            let n = self
                .write(move |conn| {
                    let n = conn
                        .prepare_cached(
                            "DELETE FROM deliveries WHERE seq IN (
                                 SELECT d.seq FROM deliveries d JOIN delivery_state s ON s.seq = d.seq
                                 WHERE s.state != 'pending' AND d.created_at < ?1 LIMIT 500)",
                        )?
                        .execute([cutoff])?;
                    Ok(n as u64)
                })
                .await?;
            total += n;
            if n < 500 {
                return Ok(total);
            }
        }
    }
}

/// Moves delivery `id` to its state after `attempt` and logs the attempt; false (and nothing
/// written) when the delivery is gone.
fn record_one(
    conn: &rusqlite::Connection,
    id: &str,
    attempt: &Attempt,
    next: Next,
) -> Result<bool, StoreError> {
    let (state, next_ms) = next.outcome();
    let n = conn
        .prepare_cached(
            "UPDATE delivery_state SET state = ?2, next_attempt_ms = ?3, attempt_count = attempt_count + 1
             WHERE seq = (SELECT seq FROM deliveries WHERE id = ?1)",
        )?
        .execute(params![id, state.as_str(), next_ms])?;
    if n == 0 {
        return Ok(false);
    }
    conn.prepare_cached(
        "INSERT INTO attempts (delivery_id, at, status, duration_ms, error, request_headers,
             response_headers, response_body, response_truncated)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
    )?
    .execute(params![
        id,
        time::format(attempt.at),
        attempt.status,
        attempt.duration_ms as i64,
        attempt.error,
        serde_json::to_string(&attempt.request_headers).expect("strings serialize"),
        serde_json::to_string(&attempt.response_headers).expect("strings serialize"),
        &attempt.response_body[..],
        attempt.response_truncated,
    ])?;
    Ok(true)
}
