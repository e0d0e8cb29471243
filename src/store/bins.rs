//! Bins: create, list, look up, clear and delete.

use std::collections::HashMap;

use chrono::Utc;
use rusqlite::{Connection, OptionalExtension, Row, params};

use super::{Store, StoreError};
use crate::model::{Bin, BinId};
use crate::time;

const COLUMNS: &str = "id, name, created_at";

/// A bin row; its count is filled in from the store's counts.
fn from_row(row: &Row<'_>) -> rusqlite::Result<Bin> {
    let id: String = row.get(0)?;
    let created: String = row.get(2)?;
    Ok(Bin {
        id: super::stored_bin_id(&id, 0)?,
        name: row.get(1)?,
        created_at: time::parse(&created).unwrap_or_default(),
        request_count: 0,
    })
}

/// Every bin with the number of requests it holds, counted from the tables.
pub(super) fn count_all(conn: &Connection) -> Result<HashMap<String, u64>, StoreError> {
    let mut counts: HashMap<String, u64> = conn
        .prepare("SELECT id FROM bins")?
        .query_map([], |r| r.get(0))?
        .map(|id| id.map(|id| (id, 0)))
        .collect::<Result<_, _>>()?;
    let mut stmt = conn.prepare("SELECT bin_id, count(*) FROM requests GROUP BY bin_id")?;
    for row in stmt.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?)))? {
        let (bin, n) = row?;
        counts.insert(bin, n as u64);
    }
    Ok(counts)
}

pub(super) fn get(conn: &Connection, id: &str) -> Result<Bin, StoreError> {
    conn.prepare_cached(&format!("SELECT {COLUMNS} FROM bins WHERE id = ?1"))?
        .query_row([id], from_row)
        .optional()?
        .ok_or_else(|| StoreError::NotFound(format!("bin {id}")))
}

impl Store {
    /// Creates a bin; with a name, the name is its id (a stable URL), and a taken name conflicts.
    /// With `max_bins` above 0, a store already holding that many refuses (checked in the same
    /// transaction, so concurrent creations cannot pass it).
    pub async fn create_bin(&self, name: Option<BinId>, max_bins: u64) -> Result<Bin, StoreError> {
        let bin = Bin {
            id: name.clone().unwrap_or_else(BinId::random),
            name: name.map(|n| n.to_string()),
            created_at: Utc::now(),
            request_count: 0,
        };
        let row = bin.clone();
        let counts = self.counts.clone();
        self.write(move |conn| {
            if max_bins > 0 {
                let held: i64 = conn
                    .prepare_cached("SELECT count(*) FROM bins")?
                    .query_row([], |r| r.get(0))?;
                if held as u64 >= max_bins {
                    return Err(StoreError::Full(format!(
                        "this hookbin holds its limit of {max_bins} bins (--max-bins); delete one first"
                    )));
                }
            }
            let inserted = conn
                .prepare_cached(
                    "INSERT INTO bins (id, name, created_at) VALUES (?1, ?2, ?3)
                     ON CONFLICT (id) DO NOTHING",
                )?
                .execute(params![
                    row.id.as_str(),
                    row.name,
                    time::format(row.created_at)
                ])?;
            if inserted == 0 {
                return Err(StoreError::Conflict(format!(
                    "a bin named {} already exists",
                    row.id
                )));
            }
            counts
                .lock()
                .expect("counts poisoned")
                .insert(row.id.to_string(), 0);
            Ok(())
        })
        .await?;
        Ok(bin)
    }

    /// All bins, newest first.
    pub async fn list_bins(&self) -> Result<Vec<Bin>, StoreError> {
        let mut bins: Vec<Bin> = self
            .read(|conn| {
                let mut stmt = conn.prepare_cached(&format!(
                    "SELECT {COLUMNS} FROM bins ORDER BY created_at DESC, id"
                ))?;
                let bins = stmt.query_map([], from_row)?.collect::<Result<_, _>>()?;
                Ok(bins)
            })
            .await?;
        for b in &mut bins {
            b.request_count = self.request_count(&b.id);
        }
        Ok(bins)
    }

    /// One bin by id.
    pub async fn get_bin(&self, id: &BinId) -> Result<Bin, StoreError> {
        let key = id.to_string();
        let mut bin = self.read(move |conn| get(conn, &key)).await?;
        bin.request_count = self.request_count(id);
        Ok(bin)
    }

    /// Deletes a bin and everything it captured.
    pub async fn delete_bin(&self, id: &BinId) -> Result<(), StoreError> {
        let key = id.to_string();
        let counts = self.counts.clone();
        let settings = self.settings.clone();
        self.write_freeing(move |conn| {
            conn.prepare_cached("DELETE FROM requests WHERE bin_id = ?1")?
                .execute([&key])?;
            match conn
                .prepare_cached("DELETE FROM bins WHERE id = ?1")?
                .execute([&key])?
            {
                0 => Err(StoreError::NotFound(format!("bin {key}"))),
                _ => {
                    counts.lock().expect("counts poisoned").remove(&key);
                    settings.write().expect("settings poisoned").remove(&key);
                    Ok(())
                }
            }
        })
        .await
    }

    /// Deletes every request of a bin but keeps the bin; returns how many were removed.
    pub async fn clear_bin(&self, id: &BinId) -> Result<u64, StoreError> {
        let id = id.to_string();
        let counts = self.counts.clone();
        self.write_freeing(move |conn| {
            get(conn, &id)?;
            let removed = conn
                .prepare_cached("DELETE FROM requests WHERE bin_id = ?1")?
                .execute([&id])?;
            counts
                .lock()
                .expect("counts poisoned")
                .insert(id.clone(), 0);
            Ok(removed as u64)
        })
        .await
    }
}

impl Store {
    /// Deletes bins whose last capture (or creation, if none) was more than `ttl` before
    /// `now`; returns how many went.
    pub async fn expire_bins(
        &self,
        ttl: std::time::Duration,
        now: chrono::DateTime<Utc>,
    ) -> Result<usize, StoreError> {
        let cutoff_ms = now.timestamp_millis() - ttl.as_millis() as i64;
        let idle: Vec<String> = self
            .read(move |conn| {
                let mut stmt = conn.prepare_cached(
                    "SELECT b.id, b.created_at, (SELECT max(seq) FROM requests r WHERE r.bin_id = b.id)
                     FROM bins b",
                )?;
                let rows = stmt.query_map([], |r| {
                    Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?, r.get::<_, Option<i64>>(2)?))
                })?;
                let mut idle = Vec::new();
                for row in rows {
                    let (id, created, last_seq) = row?;
                    let created_ms = time::parse(&created).map_or(0, |t| t.timestamp_millis());
                    // A request's key is its arrival time in ms, shifted left 16 bits.
                    let last_ms = last_seq.map_or(created_ms, |s| (s >> 16).max(created_ms));
                    if last_ms < cutoff_ms {
                        idle.push(id);
                    }
                }
                Ok(idle)
            })
            .await?;
        for id in &idle {
            match self.delete_bin(&super::stored_bin_id(id, 0)?).await {
                Ok(()) | Err(StoreError::NotFound(_)) => {}
                Err(e) => return Err(e),
            }
        }
        Ok(idle.len())
    }
}
