//! Bins: create, list, look up, clear and delete.

use chrono::Utc;
use rusqlite::{Connection, OptionalExtension, Row, params};

use super::{Store, StoreError};
use crate::model::{Bin, BinId};
use crate::time;

const COLUMNS: &str = "id, name, created_at, request_count";

fn from_row(row: &Row<'_>) -> rusqlite::Result<Bin> {
    let id: String = row.get(0)?;
    let created: String = row.get(2)?;
    Ok(Bin {
        id: BinId::parse(&id).expect("stored bin ids are valid"),
        name: row.get(1)?,
        created_at: time::parse(&created).unwrap_or_default(),
        request_count: row.get::<_, i64>(3)? as u64,
    })
}

pub(super) fn all_ids(conn: &Connection) -> Result<Vec<String>, StoreError> {
    let mut stmt = conn.prepare("SELECT id FROM bins")?;
    let ids = stmt
        .query_map([], |r| r.get(0))?
        .collect::<Result<_, _>>()?;
    Ok(ids)
}

pub(super) fn get(conn: &Connection, id: &str) -> Result<Bin, StoreError> {
    conn.prepare_cached(&format!("SELECT {COLUMNS} FROM bins WHERE id = ?1"))?
        .query_row([id], from_row)
        .optional()?
        .ok_or_else(|| StoreError::NotFound(format!("bin {id}")))
}

impl Store {
    /// Creates a bin; with a name, the name is its id (a stable URL), and a taken name conflicts.
    pub async fn create_bin(&self, name: Option<BinId>) -> Result<Bin, StoreError> {
        let bin = Bin {
            id: name.clone().unwrap_or_else(BinId::random),
            name: name.map(|n| n.to_string()),
            created_at: Utc::now(),
            request_count: 0,
        };
        let row = bin.clone();
        self.write(move |conn| {
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
            Ok(())
        })
        .await?;
        self.bins
            .write()
            .expect("bin set poisoned")
            .insert(bin.id.to_string());
        Ok(bin)
    }

    /// All bins, newest first.
    pub async fn list_bins(&self) -> Result<Vec<Bin>, StoreError> {
        self.read(|conn| {
            let mut stmt = conn.prepare_cached(&format!(
                "SELECT {COLUMNS} FROM bins ORDER BY created_at DESC, id"
            ))?;
            let bins = stmt.query_map([], from_row)?.collect::<Result<_, _>>()?;
            Ok(bins)
        })
        .await
    }

    /// One bin by id.
    pub async fn get_bin(&self, id: &BinId) -> Result<Bin, StoreError> {
        let id = id.to_string();
        self.read(move |conn| get(conn, &id)).await
    }

    /// Deletes a bin and everything it captured.
    pub async fn delete_bin(&self, id: &BinId) -> Result<(), StoreError> {
        let key = id.to_string();
        // Forget it first so no new capture is accepted while the delete is queued.
        self.bins.write().expect("bin set poisoned").remove(&key);
        let k = key.clone();
        self.write(move |conn| {
            conn.prepare_cached("DELETE FROM requests WHERE bin_id = ?1")?
                .execute([&k])?;
            match conn
                .prepare_cached("DELETE FROM bins WHERE id = ?1")?
                .execute([&k])?
            {
                0 => Err(StoreError::NotFound(format!("bin {k}"))),
                _ => Ok(()),
            }
        })
        .await
    }

    /// Deletes every request of a bin but keeps the bin; returns how many were removed.
    pub async fn clear_bin(&self, id: &BinId) -> Result<u64, StoreError> {
        let id = id.to_string();
        self.write(move |conn| {
            get(conn, &id)?;
            let removed = conn
                .prepare_cached("DELETE FROM requests WHERE bin_id = ?1")?
                .execute([&id])?;
            conn.prepare_cached("UPDATE bins SET request_count = 0 WHERE id = ?1")?
                .execute([&id])?;
            Ok(removed as u64)
        })
        .await
    }
}
