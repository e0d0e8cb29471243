//! Per-bin settings and the log of relays (forwards and replays) on PostgreSQL.

use std::sync::Arc;

use bytes::Bytes;

use super::{PgStore, failed, orphaned};
use crate::model::{BinId, BinResponse, BinSettings, Relay, RelayKind, RequestId};
use crate::store::StoreError;

impl PgStore {
    /// True when the bin exists; see [`PgStore::bin_settings`].
    pub async fn bin_exists(&self, id: &BinId) -> Result<bool, StoreError> {
        Ok(self.lookup(id).await?.is_some())
    }

    /// A bin's settings (the defaults for a bin without any, or no bin), from what this node
    /// knows (see [`super::known`]) or else the database.
    pub async fn bin_settings(&self, id: &BinId) -> Result<Arc<BinSettings>, StoreError> {
        Ok(self.lookup(id).await?.unwrap_or_default())
    }

    /// A bin's settings when it exists, remembered once read.
    async fn lookup(&self, id: &BinId) -> Result<Option<Arc<BinSettings>>, StoreError> {
        if let Some(settings) = self.known.get(id.as_str()) {
            return Ok(Some(settings));
        }
        let generation = self.known.generation();
        let row = self
            .client()
            .await?
            .query_opt(
                "SELECT s.response_status, s.response_headers, s.response_body,
                        s.response_delay_ms, s.forward_url, s.signing_secret, s.rules
                 FROM bins b LEFT JOIN bin_settings s ON s.bin_id = b.id WHERE b.id = $1",
                &[&id.as_str()],
            )
            .await
            .map_err(failed)?;
        Ok(row.map(|r| {
            let settings = Arc::new(BinSettings {
                response: r.get::<_, Option<i32>>(0).map(|status| BinResponse {
                    status: status as u16,
                    headers: r
                        .get::<_, Option<String>>(1)
                        .and_then(|h| serde_json::from_str(&h).ok())
                        .unwrap_or_default(),
                    body: Bytes::from(r.get::<_, Option<Vec<u8>>>(2).unwrap_or_default()),
                    delay_ms: r.get::<_, Option<i64>>(3).unwrap_or(0).max(0) as u64,
                }),
                rules: crate::store::rules_from_text(r.get(6)),
                forward_url: r.get(4),
                signing_secret: r.get(5),
            });
            self.known.keep(generation, id.as_str(), settings.clone());
            settings
        }))
    }

    /// Replaces a bin's settings; the default settings remove its row.
    /// Every node hears of the change when it commits (see [`super::known`]).
    pub async fn set_bin_settings(&self, id: &BinId, s: BinSettings) -> Result<(), StoreError> {
        let mut client = self.client().await?;
        let client = client.transaction().await.map_err(failed)?;
        if client
            .query_opt("SELECT 1 FROM bins WHERE id = $1", &[&id.as_str()])
            .await
            .map_err(failed)?
            .is_none()
        {
            return Err(StoreError::NotFound(format!("bin {id}")));
        }
        if s.is_default() {
            client
                .execute(
                    "DELETE FROM bin_settings WHERE bin_id = $1",
                    &[&id.as_str()],
                )
                .await
                .map_err(failed)?;
        } else {
            self.upsert_settings(&client, id, &s).await?;
        }
        self.commit_changed(client, &[id.to_string()]).await
    }

    /// Writes a bin's settings row.
    async fn upsert_settings(
        &self,
        client: &deadpool_postgres::Transaction<'_>,
        id: &BinId,
        s: &BinSettings,
    ) -> Result<(), StoreError> {
        let r = s.response.as_ref();
        let headers = r.map(|r| serde_json::to_string(&r.headers).expect("pairs serialize"));
        client
            .execute(
                "INSERT INTO bin_settings (bin_id, response_status, response_headers,
                     response_body, response_delay_ms, forward_url, signing_secret, rules)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
                 ON CONFLICT (bin_id) DO UPDATE SET response_status = $2, response_headers = $3,
                     response_body = $4, response_delay_ms = $5, forward_url = $6,
                     signing_secret = $7, rules = $8",
                &[
                    &id.as_str(),
                    &r.map(|r| i32::from(r.status)),
                    &headers,
                    &r.map(|r| &r.body[..]),
                    &r.map_or(0, |r| r.delay_ms as i64),
                    &s.forward_url,
                    &s.signing_secret,
                    &crate::store::rules_text(&s.rules),
                ],
            )
            .await
            // The bin may be deleted between the check and the write.
            .map_err(|e| orphaned(e, || format!("bin {id}")))?;
        Ok(())
    }

    /// Counts a match of a counting rule; how many came before it. One statement, so two
    /// nodes taking the same sequence's requests never hand out the same answer twice.
    pub async fn rule_step(&self, bin: &BinId, rule: &str) -> Result<u64, StoreError> {
        let row = self
            .client()
            .await?
            .query_one(
                "INSERT INTO rule_steps (bin_id, rule, step) VALUES ($1, $2, 1)
                 ON CONFLICT (bin_id, rule) DO UPDATE SET step = rule_steps.step + 1
                 RETURNING step",
                &[&bin.as_str(), &rule],
            )
            .await
            .map_err(|e| orphaned(e, || format!("bin {bin}")))?;
        Ok(row.get::<_, i64>(0) as u64 - 1)
    }

    /// The match counts of a bin's counting rules.
    pub async fn rule_steps(&self, bin: &BinId) -> Result<Vec<(String, u64)>, StoreError> {
        let rows = self
            .client()
            .await?
            .query(
                "SELECT rule, step FROM rule_steps WHERE bin_id = $1",
                &[&bin.as_str()],
            )
            .await
            .map_err(failed)?;
        Ok(rows
            .iter()
            .map(|r| (r.get(0), r.get::<_, i64>(1) as u64))
            .collect())
    }

    /// Forgets the match counts of one rule of a bin, or of all of them.
    pub async fn reset_rule_steps(
        &self,
        bin: &BinId,
        rule: Option<String>,
    ) -> Result<(), StoreError> {
        self.client()
            .await?
            .execute(
                "DELETE FROM rule_steps WHERE bin_id = $1 AND ($2::TEXT IS NULL OR rule = $2)",
                &[&bin.as_str(), &rule],
            )
            .await
            .map_err(failed)?;
        Ok(())
    }

    /// Logs one forward or replay; a capture deleted meanwhile is `NotFound`.
    pub async fn record_relay(&self, r: Relay) -> Result<(), StoreError> {
        let client = self.client().await?;
        insert_relay(&client, &r).await
    }

    /// Logs many forwards, pipelined on one connection; answers the ids of the captures
    /// deleted meanwhile, whose entries are left out.
    pub async fn record_relays(&self, rs: Vec<Relay>) -> Result<Vec<RequestId>, StoreError> {
        let client = self.client().await?;
        let results =
            futures_util::future::join_all(rs.iter().map(|r| insert_relay(&client, r))).await;
        let mut gone = Vec::new();
        for (r, result) in rs.iter().zip(results) {
            match result {
                Err(StoreError::NotFound(_)) => gone.push(r.request_id),
                other => other?,
            }
        }
        Ok(gone)
    }

    /// Every forward and replay of a capture, newest first.
    pub async fn relays(&self, id: RequestId) -> Result<Vec<Relay>, StoreError> {
        let rows = self
            .client()
            .await?
            .query(
                "SELECT kind, url, at, status, duration_ms, error, response_headers,
                        response_body, response_truncated
                 FROM relays WHERE request_seq = $1 ORDER BY id DESC",
                &[&id.seq()],
            )
            .await
            .map_err(failed)?;
        Ok(rows
            .iter()
            .map(|r| Relay {
                request_id: id,
                kind: RelayKind::parse(r.get(0)),
                url: r.get(1),
                at: r.get(2),
                status: r.get::<_, Option<i32>>(3).map(|s| s as u16),
                duration_ms: r.get::<_, i64>(4).max(0) as u64,
                error: r.get(5),
                response_headers: serde_json::from_str(r.get(6)).unwrap_or_default(),
                response_body: Bytes::from(r.get::<_, Vec<u8>>(7)),
                response_truncated: r.get(8),
            })
            .collect())
    }
}

/// Inserts one relay log entry; a capture that is gone is `NotFound`.
async fn insert_relay(client: &tokio_postgres::Client, r: &Relay) -> Result<(), StoreError> {
    let headers = serde_json::to_string(&r.response_headers).expect("pairs serialize");
    client
        .execute(
            "INSERT INTO relays (request_seq, kind, url, at, status, duration_ms, error,
                 response_headers, response_body, response_truncated)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
            &[
                &r.request_id.seq(),
                &r.kind.as_str(),
                &r.url,
                &r.at,
                &r.status.map(i32::from),
                &(r.duration_ms as i64),
                &r.error,
                &headers,
                &&r.response_body[..],
                &r.response_truncated,
            ],
        )
        .await
        .map_err(|e| orphaned(e, || format!("request {}", r.request_id)))?;
    Ok(())
}
