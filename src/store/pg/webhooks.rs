//! Webhooks on PostgreSQL: create, read (with how their deliveries went), page through,
//! change, rotate the secret, delete.

use chrono::{DateTime, Utc};

use super::{PgStore, failed, stored};
use crate::model::{DeliveryStats, Webhook, WebhookId};
use crate::store::{StoreError, WebhookFields, WebhookPatch};

const SELECT: &str = "SELECT w.id, w.name, w.url, w.event, w.active, w.secret, w.created_at,
        w.updated_at,
        (SELECT count(*) FROM deliveries d WHERE d.webhook_id = w.id),
        (SELECT count(*) FROM deliveries d WHERE d.webhook_id = w.id AND d.state = 'succeeded'),
        (SELECT count(*) FROM deliveries d WHERE d.webhook_id = w.id AND d.state = 'failed'),
        (SELECT a.at FROM attempts a JOIN deliveries d ON d.id = a.delivery_id
          WHERE d.webhook_id = w.id ORDER BY a.id DESC LIMIT 1),
        (SELECT a.status FROM attempts a JOIN deliveries d ON d.id = a.delivery_id
          WHERE d.webhook_id = w.id ORDER BY a.id DESC LIMIT 1)
     FROM webhooks w";

fn webhook_from(r: &tokio_postgres::Row) -> Result<Webhook, StoreError> {
    let total = r.get::<_, i64>(8) as u64;
    let succeeded = r.get::<_, i64>(9) as u64;
    let failed = r.get::<_, i64>(10) as u64;
    Ok(Webhook {
        id: stored(&r.get::<_, String>(0), "webhook id", WebhookId::parse)?,
        name: r.get(1),
        url: r.get(2),
        event: r.get(3),
        active: r.get(4),
        secret: r.get(5),
        created_at: r.get(6),
        updated_at: r.get(7),
        stats: DeliveryStats {
            total,
            succeeded,
            failed,
            pending: total.saturating_sub(succeeded + failed),
            last_attempt_at: r.get::<_, Option<DateTime<Utc>>>(11),
            last_status: r.get::<_, Option<i32>>(12).map(|s| s as u16),
        },
    })
}

impl PgStore {
    /// Creates a webhook with the given secret.
    pub async fn create_webhook(
        &self,
        f: WebhookFields,
        secret: String,
    ) -> Result<Webhook, StoreError> {
        let id = WebhookId::new();
        self.client()
            .await?
            .execute(
                "INSERT INTO webhooks (id, name, url, event, active, secret, created_at, updated_at)
                 VALUES ($1, $2, $3, $4, $5, $6, now(), now())",
                &[&id.as_str(), &f.name, &f.url, &f.event, &f.active, &secret],
            )
            .await
            .map_err(failed)?;
        self.get_webhook(&id).await
    }

    /// One webhook by id.
    pub async fn get_webhook(&self, id: &WebhookId) -> Result<Webhook, StoreError> {
        let row = self
            .client()
            .await?
            .query_opt(&format!("{SELECT} WHERE w.id = $1"), &[&id.as_str()])
            .await
            .map_err(failed)?
            .ok_or_else(|| StoreError::NotFound(format!("webhook {id}")))?;
        webhook_from(&row)
    }

    /// Every webhook, newest first.
    pub async fn list_webhooks(&self) -> Result<Vec<Webhook>, StoreError> {
        let rows = self
            .client()
            .await?
            .query(
                &format!("{SELECT} ORDER BY w.created_at DESC, w.id DESC"),
                &[],
            )
            .await
            .map_err(failed)?;
        rows.iter().map(webhook_from).collect()
    }

    /// A page of webhooks, newest first: those after webhook `after` (a page's `next`), and
    /// only those whose name, URL or event contains `q` (any case).
    pub async fn list_webhooks_page(
        &self,
        q: Option<String>,
        after: Option<WebhookId>,
        limit: usize,
    ) -> Result<(Vec<Webhook>, Option<WebhookId>), StoreError> {
        if let Some(id) = &after {
            self.get_webhook(id).await?;
        }
        let needle = q.map(|q| q.to_lowercase());
        let after = after.as_ref().map(WebhookId::as_str);
        let rows = self
            .client()
            .await?
            .query(
                &format!(
                    "{SELECT}
                     WHERE ($1::text IS NULL OR strpos(lower(w.name), $1) > 0
                            OR strpos(lower(w.url), $1) > 0 OR strpos(w.event, $1) > 0)
                       AND ($2::text IS NULL OR (w.created_at, w.id) <
                            (SELECT created_at, id FROM webhooks WHERE id = $2))
                     ORDER BY w.created_at DESC, w.id DESC LIMIT $3"
                ),
                &[&needle, &after, &(limit as i64 + 1)],
            )
            .await
            .map_err(failed)?;
        let mut hooks = rows
            .iter()
            .map(webhook_from)
            .collect::<Result<Vec<_>, _>>()?;
        let next = crate::store::cut(&mut hooks, limit, |w| w.id.clone());
        Ok((hooks, next))
    }

    /// Changes the fields given in `patch`.
    pub async fn update_webhook(
        &self,
        id: &WebhookId,
        patch: WebhookPatch,
    ) -> Result<Webhook, StoreError> {
        let n = self
            .client()
            .await?
            .execute(
                "UPDATE webhooks SET name = coalesce($2, name), url = coalesce($3, url),
                     event = coalesce($4, event), active = coalesce($5, active), updated_at = now()
                 WHERE id = $1",
                &[
                    &id.as_str(),
                    &patch.name,
                    &patch.url,
                    &patch.event,
                    &patch.active,
                ],
            )
            .await
            .map_err(failed)?;
        if n == 0 {
            return Err(StoreError::NotFound(format!("webhook {id}")));
        }
        self.get_webhook(id).await
    }

    /// Replaces the webhook's secret; deliveries sent from now on are signed with the new one.
    pub async fn rotate_secret(
        &self,
        id: &WebhookId,
        secret: String,
    ) -> Result<Webhook, StoreError> {
        let n = self
            .client()
            .await?
            .execute(
                "UPDATE webhooks SET secret = $2, updated_at = now() WHERE id = $1",
                &[&id.as_str(), &secret],
            )
            .await
            .map_err(failed)?;
        if n == 0 {
            return Err(StoreError::NotFound(format!("webhook {id}")));
        }
        self.get_webhook(id).await
    }

    /// Deletes a webhook with its deliveries and their attempts.
    pub async fn delete_webhook(&self, id: &WebhookId) -> Result<(), StoreError> {
        let n = self
            .client()
            .await?
            .execute("DELETE FROM webhooks WHERE id = $1", &[&id.as_str()])
            .await
            .map_err(failed)?;
        match n {
            0 => Err(StoreError::NotFound(format!("webhook {id}"))),
            _ => Ok(()),
        }
    }
}
