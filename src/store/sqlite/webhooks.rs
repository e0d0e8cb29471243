//! Webhooks: create, list, read, update, rotate the secret, delete.

use chrono::Utc;
use rusqlite::{Connection, OptionalExtension, Row, params};

use super::{Sqlite, StoreError};
use crate::model::{DeliveryStats, Webhook, WebhookId};
use crate::store::{WebhookFields, WebhookPatch};
use crate::time;

const SELECT: &str =
    "SELECT w.id, w.name, w.url, w.event, w.active, w.secret, w.created_at, w.updated_at,
        (SELECT count(*) FROM deliveries d WHERE d.webhook_id = w.id),
        (SELECT count(*) FROM delivery_state s WHERE s.webhook_id = w.id AND s.state = 'succeeded'),
        (SELECT count(*) FROM delivery_state s WHERE s.webhook_id = w.id AND s.state = 'failed'),
        (SELECT a.at || ' ' || coalesce(a.status, 0) FROM attempts a
          WHERE a.delivery_id = (SELECT d.id FROM deliveries d JOIN delivery_state s ON s.seq = d.seq
                                  WHERE d.webhook_id = w.id AND s.attempt_count > 0
                                  ORDER BY d.seq DESC LIMIT 1)
          ORDER BY a.id DESC LIMIT 1)
     FROM webhooks w";

fn from_row(row: &Row<'_>) -> rusqlite::Result<Webhook> {
    let created: String = row.get(6)?;
    let updated: String = row.get(7)?;
    let total = row.get::<_, i64>(8)? as u64;
    let succeeded = row.get::<_, i64>(9)? as u64;
    let failed = row.get::<_, i64>(10)? as u64;
    // "<time> <status>", status 0 when no answer came.
    let last: Option<String> = row.get(11)?;
    let last = last.as_deref().and_then(|l| {
        let (at, status) = l.split_once(' ')?;
        Some((
            time::parse(at)?,
            status.parse::<u16>().ok().filter(|s| *s > 0),
        ))
    });
    let id: String = row.get(0)?;
    Ok(Webhook {
        id: super::stored_id(&id, 0, WebhookId::parse)?,
        name: row.get(1)?,
        url: row.get(2)?,
        event: row.get(3)?,
        active: row.get(4)?,
        secret: row.get(5)?,
        created_at: time::parse(&created).unwrap_or_default(),
        updated_at: time::parse(&updated).unwrap_or_default(),
        stats: DeliveryStats {
            total,
            succeeded,
            failed,
            pending: total - succeeded - failed,
            last_attempt_at: last.map(|(at, _)| at),
            last_status: last.and_then(|(_, s)| s),
        },
    })
}

pub(super) fn get(conn: &Connection, id: &str) -> Result<Webhook, StoreError> {
    conn.prepare_cached(&format!("{SELECT} WHERE w.id = ?1"))?
        .query_row([id], from_row)
        .optional()?
        .ok_or_else(|| StoreError::NotFound(format!("webhook {id}")))
}

impl Sqlite {
    /// Creates a webhook with the given secret.
    pub async fn create_webhook(
        &self,
        f: WebhookFields,
        secret: String,
    ) -> Result<Webhook, StoreError> {
        let id = WebhookId::new().to_string();
        self.write(move |conn| {
            let now = time::format(Utc::now());
            conn.prepare_cached(
                "INSERT INTO webhooks (id, name, url, event, active, secret, created_at, updated_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?7)",
            )?
            .execute(params![id, f.name, f.url, f.event, f.active, secret, now])?;
            get(conn, &id)
        })
        .await
    }

    /// Every webhook, newest first.
    pub async fn list_webhooks(&self) -> Result<Vec<Webhook>, StoreError> {
        self.read(|conn| {
            let mut stmt =
                conn.prepare_cached(&format!("{SELECT} ORDER BY w.created_at DESC, w.id DESC"))?;
            let hooks = stmt.query_map([], from_row)?.collect::<Result<_, _>>()?;
            Ok(hooks)
        })
        .await
    }

    /// A page of webhooks, newest first: those after webhook `after` (a page's `next`), and
    /// only those whose name, URL or event contains `q` (any case).
    pub async fn list_webhooks_page(
        &self,
        q: Option<String>,
        after: Option<WebhookId>,
        limit: usize,
    ) -> Result<(Vec<Webhook>, Option<WebhookId>), StoreError> {
        let needle = q.map(|q| q.to_lowercase());
        self.read(move |conn| {
            let after = match &after {
                Some(id) => Some(get(conn, id.as_str())?.id.to_string()),
                None => None,
            };
            // One extra row tells whether another page follows.
            let mut hooks: Vec<Webhook> = conn
                .prepare_cached(&format!(
                    "{SELECT}
                     WHERE (?1 IS NULL OR instr(lower(w.name), ?1) > 0 OR instr(lower(w.url), ?1) > 0
                            OR instr(w.event, ?1) > 0)
                       AND (?2 IS NULL OR (w.created_at, w.id) <
                            (SELECT created_at, id FROM webhooks WHERE id = ?2))
                     ORDER BY w.created_at DESC, w.id DESC LIMIT ?3"
                ))?
                .query_map(params![needle, after, limit as i64 + 1], from_row)?
                .collect::<Result<_, _>>()?;
            let next = super::cut(&mut hooks, limit, |w| w.id.clone());
            Ok((hooks, next))
        })
        .await
    }

    /// One webhook by id.
    pub async fn get_webhook(&self, id: &WebhookId) -> Result<Webhook, StoreError> {
        let id = id.to_string();
        self.read(move |conn| get(conn, &id)).await
    }

    /// Changes the fields given in `patch`.
    pub async fn update_webhook(
        &self,
        id: &WebhookId,
        patch: WebhookPatch,
    ) -> Result<Webhook, StoreError> {
        let id = id.to_string();
        self.write(move |conn| {
            let w = get(conn, &id)?;
            conn.prepare_cached(
                "UPDATE webhooks SET name = ?2, url = ?3, event = ?4, active = ?5, updated_at = ?6 WHERE id = ?1",
            )?
            .execute(params![
                id,
                patch.name.unwrap_or(w.name),
                patch.url.unwrap_or(w.url),
                patch.event.unwrap_or(w.event),
                patch.active.unwrap_or(w.active),
                time::format(Utc::now()),
            ])?;
            get(conn, &id)
        })
        .await
    }

    /// Replaces the webhook's secret; deliveries sent from now on are signed with the new one.
    pub async fn rotate_secret(
        &self,
        id: &WebhookId,
        secret: String,
    ) -> Result<Webhook, StoreError> {
        let id = id.to_string();
        self.write(move |conn| {
            let n = conn
                .prepare_cached("UPDATE webhooks SET secret = ?2, updated_at = ?3 WHERE id = ?1")?
                .execute(params![id, secret, time::format(Utc::now())])?;
            if n == 0 {
                return Err(StoreError::NotFound(format!("webhook {id}")));
            }
            get(conn, &id)
        })
        .await
    }

    /// Deletes a webhook with its deliveries and their attempts.
    pub async fn delete_webhook(&self, id: &WebhookId) -> Result<(), StoreError> {
        let id = id.to_string();
        self.write(move |conn| {
            match conn
                .prepare_cached("DELETE FROM webhooks WHERE id = ?1")?
                .execute([&id])?
            {
                0 => Err(StoreError::NotFound(format!("webhook {id}"))),
                _ => Ok(()),
            }
        })
        .await
    }
}
