//! Bins: create, list, look up, clear and delete.

use std::collections::HashMap;

use chrono::Utc;
use rusqlite::{Connection, OptionalExtension, Row, params};

use super::{Held, Sqlite, StoreError};
use crate::model::{Bin, BinId};
use crate::store::{BinOrder, BinPage, BinQuery};
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
        last_request_at: None,
    })
}

/// Every bin with the number of requests it holds and its newest one, from the tables (one
/// pass over the `(bin_id, seq)` index).
pub(super) fn count_all(conn: &Connection) -> Result<HashMap<String, Held>, StoreError> {
    let mut counts: HashMap<String, Held> = conn
        .prepare("SELECT id FROM bins")?
        .query_map([], |r| r.get(0))?
        .map(|id| id.map(|id| (id, Held::default())))
        .collect::<Result<_, _>>()?;
    let mut stmt =
        conn.prepare("SELECT bin_id, count(*), max(seq) FROM requests GROUP BY bin_id")?;
    let rows = stmt.query_map([], |r| {
        Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?, r.get(2)?))
    })?;
    for row in rows {
        let (bin, n, last) = row?;
        counts.insert(
            bin,
            Held {
                count: n as u64,
                last,
            },
        );
    }
    Ok(counts)
}

pub(super) fn get(conn: &Connection, id: &str) -> Result<Bin, StoreError> {
    conn.prepare_cached(&format!("SELECT {COLUMNS} FROM bins WHERE id = ?1"))?
        .query_row([id], from_row)
        .optional()?
        .ok_or_else(|| StoreError::NotFound(format!("bin {id}")))
}

impl Sqlite {
    /// Creates a bin; with a name, the name is its id (a stable URL), and a taken name conflicts.
    /// With `max_bins` above 0, a store already holding that many refuses (checked in the same
    /// transaction, so concurrent creations cannot pass it).
    pub async fn create_bin(&self, name: Option<BinId>, max_bins: u64) -> Result<Bin, StoreError> {
        let bin = Bin {
            id: name.clone().unwrap_or_else(BinId::random),
            name: name.map(|n| n.to_string()),
            created_at: Utc::now(),
            request_count: 0,
            last_request_at: None,
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
                .insert(row.id.to_string(), Held::default());
            Ok(())
        })
        .await?;
        Ok(bin)
    }

    /// A page of bins, most recently active (or newest created) first, optionally only those
    /// whose id contains `q` (any case); `after` is the `next` of the page before.
    pub async fn list_bins_page(&self, query: BinQuery) -> Result<BinPage, StoreError> {
        let after = query.after.clone();
        let needle = query.q.as_deref().map(str::to_lowercase);
        let mut bins: Vec<Bin> = self
            .read(move |conn| {
                let mut stmt = conn.prepare_cached(&format!(
                    "SELECT {COLUMNS} FROM bins WHERE ?1 IS NULL OR instr(lower(id), ?1) > 0"
                ))?;
                let bins = stmt
                    .query_map([needle], from_row)?
                    .collect::<Result<_, _>>()?;
                Ok(bins)
            })
            .await?;
        self.fill_in(&mut bins);
        let key = |b: &Bin| {
            let at = match query.order {
                BinOrder::Activity => b.last_request_at.unwrap_or(b.created_at),
                BinOrder::Created => b.created_at,
            };
            (at.timestamp_millis(), b.id.to_string())
        };
        let mut keyed: Vec<((i64, String), Bin)> = bins.into_iter().map(|b| (key(&b), b)).collect();
        keyed.sort_unstable_by(|a, b| b.0.cmp(&a.0));
        let matched = keyed.len();
        let start = after.map_or(0, |c| keyed.partition_point(|(k, _)| *k >= c));
        let mut page: Vec<((i64, String), Bin)> = keyed
            .into_iter()
            .skip(start)
            .take(query.limit + 1)
            .collect();
        let next = super::cut(&mut page, query.limit, |((ms, id), _)| format!("{ms}:{id}"));
        Ok(BinPage {
            bins: page.into_iter().map(|(_, b)| b).collect(),
            next,
            matched,
        })
    }

    /// Puts what is kept in memory (count, newest request) on bins read from the table.
    fn fill_in(&self, bins: &mut [Bin]) {
        let held = self.counts.lock().expect("counts poisoned");
        for b in bins {
            let h = held.get(b.id.as_str()).copied().unwrap_or_default();
            b.request_count = h.count;
            b.last_request_at = (h.last > 0)
                .then(|| chrono::DateTime::from_timestamp_millis(h.last >> 16))
                .flatten();
        }
    }

    /// One bin by id.
    pub async fn get_bin(&self, id: &BinId) -> Result<Bin, StoreError> {
        let key = id.to_string();
        let mut bin = self.read(move |conn| get(conn, &key)).await?;
        self.fill_in(std::slice::from_mut(&mut bin));
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
                .entry(id.clone())
                .or_default()
                .count = 0;
            Ok(removed as u64)
        })
        .await
    }
}

impl Sqlite {
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
