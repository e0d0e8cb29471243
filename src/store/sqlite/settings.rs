//! Per-bin settings (kept in memory for the capture path) and the log of relays: each forward
//! or replay of a capture with the target's answer.

use std::collections::HashMap;
use std::sync::{Arc, LazyLock};

use rusqlite::{Connection, Row, params};

use super::requests::is_missing_parent;
use super::{Sqlite, StoreError};
use crate::model::{BinId, BinResponse, BinSettings, Relay, RelayKind, RequestId};
use crate::time;

/// Settings of every bin that has any, by bin id.
pub(super) type Settings = Arc<std::sync::RwLock<HashMap<String, Arc<BinSettings>>>>;

fn from_row(row: &Row<'_>) -> rusqlite::Result<(String, BinSettings)> {
    let status: Option<u16> = row.get(1)?;
    let headers: Option<String> = row.get(2)?;
    let body: Option<Vec<u8>> = row.get(3)?;
    let response = status.map(|status| BinResponse {
        status,
        headers: headers
            .and_then(|h| serde_json::from_str(&h).ok())
            .unwrap_or_default(),
        body: body.unwrap_or_default().into(),
        delay_ms: row.get::<_, i64>(4).unwrap_or(0) as u64,
    });
    Ok((
        row.get(0)?,
        BinSettings {
            response,
            rules: super::super::rules_from_text(row.get(7)?),
            forward_url: row.get(5)?,
            signing_secret: row.get(6)?,
        },
    ))
}

/// Every stored setting, read at open and after a failed commit.
pub(super) fn load_all(conn: &Connection) -> Result<HashMap<String, Arc<BinSettings>>, StoreError> {
    let mut stmt = conn.prepare(
        "SELECT bin_id, response_status, response_headers, response_body, response_delay_ms,
                forward_url, signing_secret, rules FROM bin_settings",
    )?;
    let rows = stmt.query_map([], from_row)?;
    let mut all = HashMap::new();
    for row in rows {
        let (id, s) = row?;
        all.insert(id, Arc::new(s));
    }
    Ok(all)
}

fn relay_from_row(row: &Row<'_>) -> rusqlite::Result<Relay> {
    let at: String = row.get(3)?;
    let headers: String = row.get(7)?;
    Ok(Relay {
        request_id: RequestId::from_seq(row.get(0)?),
        kind: RelayKind::parse(&row.get::<_, String>(1)?),
        url: row.get(2)?,
        at: time::parse(&at).unwrap_or_default(),
        status: row.get(4)?,
        duration_ms: row.get::<_, i64>(5)? as u64,
        error: row.get(6)?,
        response_headers: serde_json::from_str(&headers).unwrap_or_default(),
        response_body: row.get::<_, Vec<u8>>(8)?.into(),
        response_truncated: row.get(9)?,
    })
}

impl Sqlite {
    /// A bin's settings, answered from memory (the capture path asks on every request).
    pub async fn bin_settings(&self, id: &BinId) -> Result<Arc<BinSettings>, StoreError> {
        static PLAIN: LazyLock<Arc<BinSettings>> = LazyLock::new(Arc::default);
        Ok(self
            .settings
            .read()
            .expect("settings poisoned")
            .get(id.as_str())
            .unwrap_or(&PLAIN)
            .clone())
    }

    /// Replaces a bin's settings; the default settings remove its row.
    pub async fn set_bin_settings(&self, id: &BinId, s: BinSettings) -> Result<(), StoreError> {
        let id = id.as_str().to_owned();
        let cache = self.settings.clone();
        self.write(move |conn| {
            super::bins::get(conn, &id)?;
            if s.is_default() {
                conn.prepare_cached("DELETE FROM bin_settings WHERE bin_id = ?1")?
                    .execute([&id])?;
                cache.write().expect("settings poisoned").remove(&id);
                return Ok(());
            }
            let r = s.response.as_ref();
            let headers = r.map(|r| serde_json::to_string(&r.headers).expect("pairs serialize"));
            conn.prepare_cached(
                "INSERT OR REPLACE INTO bin_settings (bin_id, response_status, response_headers,
                    response_body, response_delay_ms, forward_url, signing_secret, rules)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
            )?
            .execute(params![
                id,
                r.map(|r| r.status),
                headers,
                r.map(|r| r.body.to_vec()),
                r.map_or(0, |r| r.delay_ms as i64),
                s.forward_url,
                s.signing_secret,
                super::super::rules_text(&s.rules),
            ])?;
            cache
                .write()
                .expect("settings poisoned")
                .insert(id, Arc::new(s));
            Ok(())
        })
        .await
    }

    /// Logs one forward or replay; a capture deleted meanwhile is `NotFound`.
    pub async fn record_relay(&self, r: Relay) -> Result<(), StoreError> {
        self.write(move |conn| insert_relay(conn, &r)).await
    }

    /// Logs many forwards in one write; answers the ids of the captures deleted meanwhile,
    /// whose entries are left out.
    pub async fn record_relays(&self, rs: Vec<Relay>) -> Result<Vec<RequestId>, StoreError> {
        self.write(move |conn| {
            let mut gone = Vec::new();
            for r in &rs {
                match insert_relay(conn, r) {
                    Err(StoreError::NotFound(_)) => gone.push(r.request_id),
                    other => other?,
                }
            }
            Ok(gone)
        })
        .await
    }

    /// Every forward and replay of a capture, newest first.
    pub async fn relays(&self, id: RequestId) -> Result<Vec<Relay>, StoreError> {
        self.read(move |conn| {
            let rows = conn
                .prepare_cached(
                    "SELECT request_seq, kind, url, at, status, duration_ms, error,
                            response_headers, response_body, response_truncated
                     FROM relays WHERE request_seq = ?1 ORDER BY id DESC",
                )?
                .query_map([id.seq()], relay_from_row)?
                .collect::<Result<_, _>>()?;
            Ok(rows)
        })
        .await
    }

    /// Counts a match of a counting rule; how many came before it.
    pub async fn rule_step(&self, bin: &BinId, rule: &str) -> Result<u64, StoreError> {
        let (bin, rule) = (bin.as_str().to_owned(), rule.to_owned());
        self.write(move |conn| {
            let step: i64 = conn
                .prepare_cached(
                    "INSERT INTO rule_steps (bin_id, rule, step) VALUES (?1, ?2, 1)
                     ON CONFLICT (bin_id, rule) DO UPDATE SET step = step + 1 RETURNING step",
                )?
                .query_row(params![bin, rule], |r| r.get(0))
                .map_err(StoreError::from)
                .map_err(|e| match is_missing_parent(&e) {
                    true => StoreError::NotFound(format!("bin {bin}")),
                    false => e,
                })?;
            Ok(step as u64 - 1)
        })
        .await
    }

    /// The match counts of a bin's counting rules.
    pub async fn rule_steps(&self, bin: &BinId) -> Result<Vec<(String, u64)>, StoreError> {
        let bin = bin.as_str().to_owned();
        self.read(move |conn| {
            let rows = conn
                .prepare_cached("SELECT rule, step FROM rule_steps WHERE bin_id = ?1")?
                .query_map([bin], |r| Ok((r.get(0)?, r.get::<_, i64>(1)? as u64)))?
                .collect::<Result<_, _>>()?;
            Ok(rows)
        })
        .await
    }

    /// Forgets the match counts of one rule of a bin, or of all of them.
    pub async fn reset_rule_steps(
        &self,
        bin: &BinId,
        rule: Option<String>,
    ) -> Result<(), StoreError> {
        let bin = bin.as_str().to_owned();
        self.write(move |conn| {
            conn.prepare_cached(
                "DELETE FROM rule_steps WHERE bin_id = ?1 AND (?2 IS NULL OR rule = ?2)",
            )?
            .execute(params![bin, rule])?;
            Ok(())
        })
        .await
    }
}

/// Inserts one relay log entry; a capture that is gone is `NotFound` (and nothing is written).
fn insert_relay(conn: &rusqlite::Connection, r: &Relay) -> Result<(), StoreError> {
    let headers = serde_json::to_string(&r.response_headers).expect("pairs serialize");
    let result = conn
        .prepare_cached(
            "INSERT INTO relays (request_seq, kind, url, at, status, duration_ms, error,
                response_headers, response_body, response_truncated)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
        )?
        .execute(params![
            r.request_id.seq(),
            r.kind.as_str(),
            r.url,
            time::format(r.at),
            r.status,
            r.duration_ms as i64,
            r.error,
            headers,
            &r.response_body[..],
            r.response_truncated,
        ]);
    match result.map_err(StoreError::from) {
        Err(e) if is_missing_parent(&e) => {
            Err(StoreError::NotFound(format!("request {}", r.request_id)))
        }
        other => other.map(|_| ()),
    }
}
