//! Bins on PostgreSQL: create (within `--max-bins` across every node), read, clear, delete.

use chrono::{DateTime, Utc};

use super::{PgStore, failed, stored};
use crate::model::{Bin, BinId};
use crate::store::{BinOrder, BinPage, BinQuery, StoreError};

/// Advisory lock key under which bins are counted and created ("bins").
const BINS_LOCK: i64 = 0x6269_6e73;

fn bin_from(row: &tokio_postgres::Row) -> Result<Bin, StoreError> {
    let id: String = row.get(0);
    let last: i64 = row.get(4);
    Ok(Bin {
        id: stored(&id, "bin id", BinId::parse)?,
        name: row.get(1),
        created_at: row.get::<_, DateTime<Utc>>(2),
        request_count: row.get::<_, i64>(3).max(0) as u64,
        last_request_at: (last > 0)
            .then(|| DateTime::from_timestamp_millis(last >> 16))
            .flatten(),
    })
}

const BIN_COLUMNS: &str = "id, name, created_at, request_count, last_seq";

/// Locks a bin's row (`NotFound` without one) and deletes its requests; how many went. With
/// the lock taken first, a batch counting into the bin commits before the delete reads, so its
/// rows go too (and a later batch finds the row locked, then changed or gone).
async fn take_requests(
    tx: &deadpool_postgres::Transaction<'_>,
    id: &BinId,
) -> Result<u64, StoreError> {
    tx.query_opt(
        "SELECT 1 FROM bins WHERE id = $1 FOR UPDATE",
        &[&id.as_str()],
    )
    .await
    .map_err(failed)?
    .ok_or_else(|| StoreError::NotFound(format!("bin {id}")))?;
    tx.execute("DELETE FROM requests WHERE bin_id = $1", &[&id.as_str()])
        .await
        .map_err(failed)
}

impl PgStore {
    /// Creates a bin; with a name, the name is its id and a taken name conflicts. With
    /// `max_bins` above 0 a database already holding that many refuses: the count and the
    /// insert happen under one lock, so nodes creating at once cannot pass it.
    pub async fn create_bin(&self, name: Option<BinId>, max_bins: u64) -> Result<Bin, StoreError> {
        let id = name.clone().unwrap_or_else(BinId::random);
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(failed)?;
        if max_bins > 0 {
            tx.execute("SELECT pg_advisory_xact_lock($1)", &[&BINS_LOCK])
                .await
                .map_err(failed)?;
            let held: i64 = tx
                .query_one("SELECT count(*) FROM bins", &[])
                .await
                .map_err(failed)?
                .get(0);
            if held as u64 >= max_bins {
                return Err(StoreError::Full(format!(
                    "this hookbin holds its limit of {max_bins} bins (--max-bins); delete one first"
                )));
            }
        }
        let row = tx
            .query_opt(
                &format!(
                    "INSERT INTO bins (id, name, created_at) VALUES ($1, $2, now())
                     ON CONFLICT (id) DO NOTHING RETURNING {BIN_COLUMNS}"
                ),
                &[&id.as_str(), &name.as_ref().map(BinId::as_str)],
            )
            .await
            .map_err(failed)?
            .ok_or_else(|| StoreError::Conflict(format!("a bin named '{id}' exists")))?;
        tx.commit().await.map_err(failed)?;
        bin_from(&row)
    }

    /// One bin by id.
    pub async fn get_bin(&self, id: &BinId) -> Result<Bin, StoreError> {
        let row = self
            .client()
            .await?
            .query_opt(
                &format!("SELECT {BIN_COLUMNS} FROM bins WHERE id = $1"),
                &[&id.as_str()],
            )
            .await
            .map_err(failed)?
            .ok_or_else(|| StoreError::NotFound(format!("bin {id}")))?;
        bin_from(&row)
    }

    /// Deletes a bin and everything it captured. The bin's row is locked first, so a batch
    /// counting into it commits before its requests are deleted (and a later one finds the bin
    /// gone and keeps nothing).
    pub async fn delete_bin(&self, id: &BinId) -> Result<(), StoreError> {
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(failed)?;
        take_requests(&tx, id).await?;
        tx.execute("DELETE FROM bins WHERE id = $1", &[&id.as_str()])
            .await
            .map_err(failed)?;
        self.commit_changed(tx, &[id.to_string()]).await
    }

    /// Deletes every request of a bin but keeps the bin; returns how many were removed. The
    /// bin's row is locked first, so a node's batch counting into it waits and counts after.
    pub async fn clear_bin(&self, id: &BinId) -> Result<u64, StoreError> {
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(failed)?;
        let removed = take_requests(&tx, id).await?;
        tx.execute(
            "UPDATE bins SET request_count = 0 WHERE id = $1",
            &[&id.as_str()],
        )
        .await
        .map_err(failed)?;
        tx.commit().await.map_err(failed)?;
        Ok(removed)
    }
}

impl PgStore {
    /// Deletes bins whose last capture (or creation, if none) was more than `ttl` before
    /// `now`; returns how many went. One statement, so nodes sweeping at once cannot count a
    /// bin twice, and a bin that catches a request meanwhile is kept.
    pub async fn expire_bins(
        &self,
        ttl: std::time::Duration,
        now: DateTime<Utc>,
    ) -> Result<usize, StoreError> {
        let cutoff_ms = now.timestamp_millis() - ttl.as_millis() as i64;
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(failed)?;
        let gone: Vec<String> = tx
            .query(
                "DELETE FROM bins WHERE greatest(
                     (extract(epoch FROM created_at) * 1000)::bigint, last_seq >> 16) < $1
                 RETURNING id",
                &[&cutoff_ms],
            )
            .await
            .map_err(failed)?
            .iter()
            .map(|r| r.get(0))
            .collect();
        tx.execute("DELETE FROM requests WHERE bin_id = ANY($1)", &[&gone])
            .await
            .map_err(failed)?;
        self.commit_changed(tx, &gone).await?;
        Ok(gone.len())
    }
}

impl PgStore {
    /// A page of bins, most recently active (or newest created) first, optionally only those
    /// whose id contains `q` (any case); `after` is the `next` of the page before. Ordered and
    /// cut in SQL on (sort time, id), as SQLite's store does in memory.
    pub async fn list_bins_page(&self, query: BinQuery) -> Result<BinPage, StoreError> {
        let key = match query.order {
            BinOrder::Activity => {
                "CASE WHEN last_seq > 0 THEN last_seq >> 16
                      ELSE (extract(epoch FROM created_at) * 1000)::bigint END"
            }
            BinOrder::Created => "(extract(epoch FROM created_at) * 1000)::bigint",
        };
        let needle = query.q.as_deref().map(str::to_lowercase);
        let (after_ms, after_id) = match &query.after {
            Some((ms, id)) => (Some(*ms), Some(id.as_str())),
            None => (None, None),
        };
        let client = self.client().await?;
        let rows = client
            .query(
                &format!(
                    "SELECT {BIN_COLUMNS}, {key} AS sort_ms FROM bins
                     WHERE ($1::text IS NULL OR strpos(lower(id), $1) > 0)
                       AND ($2::bigint IS NULL OR ({key}, id) < ($2, $3::text))
                     ORDER BY sort_ms DESC, id DESC LIMIT $4"
                ),
                &[&needle, &after_ms, &after_id, &(query.limit as i64 + 1)],
            )
            .await
            .map_err(failed)?;
        let matched: i64 = client
            .query_one(
                "SELECT count(*) FROM bins WHERE $1::text IS NULL OR strpos(lower(id), $1) > 0",
                &[&needle],
            )
            .await
            .map_err(failed)?
            .get(0);
        let mut page = rows
            .iter()
            .map(|r| Ok((r.get::<_, i64>(5), bin_from(r)?)))
            .collect::<Result<Vec<_>, StoreError>>()?;
        let next = crate::store::cut(&mut page, query.limit, |(ms, b)| format!("{ms}:{}", b.id));
        Ok(BinPage {
            bins: page.into_iter().map(|(_, b)| b).collect(),
            next,
            matched: matched as usize,
        })
    }
}
