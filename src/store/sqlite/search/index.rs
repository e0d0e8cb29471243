//! The background indexer: reads committed requests above the watermark in batches, adds them
//! to their bin's open block, and writes the blocks and the new watermark in one small write
//! job, so captures wait for it no longer than for any other job.

use std::collections::HashMap;
use std::collections::hash_map::Entry;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use rusqlite::{Connection, params};

use super::Progress;
use super::bloom::{self, Bits, MAX_LOG2};
use super::tables::{Batch, Block, Tip, Touched, groups_due, load_tip, write_batch};
use crate::store::sqlite::{Sqlite, StoreError, headers};

/// How blocks are cut and batches taken; the defaults suit production, tests use tiny ones to
/// reach every level with a few requests.
#[derive(Clone, Copy, Debug)]
pub struct Shape {
    /// Rows after which a block is sealed even if its filter has room.
    pub block_rows: u32,
    /// Sealed blocks of one size transposed into one group (at most 64: one bit each in a word).
    pub group_blocks: usize,
    /// Most rows one batch reads.
    pub batch_rows: usize,
    /// Most body bytes one batch reads (a batch always takes at least one row).
    pub batch_bytes: usize,
}

impl Default for Shape {
    fn default() -> Shape {
        Shape {
            block_rows: 1024,
            group_blocks: 64,
            batch_rows: 4096,
            batch_bytes: 32 << 20,
        }
    }
}

/// Open blocks kept in memory beyond this many bins are dropped and read back when needed.
const TIPS_HELD: usize = 4096;

/// After a commit wakes it, the indexer waits this long so a batch gathers what arrives
/// meanwhile: indexing after every commit re-wrote the open filters and woke a thread per
/// commit, which cost captures a third of their throughput. It bounds how far behind the index
/// runs when it keeps up.
const GATHER: Duration = Duration::from_millis(200);

/// Drives the index forward; one per server.
pub struct Indexer {
    store: Sqlite,
    shape: Shape,
    tips: HashMap<String, Tip>,
}

impl Indexer {
    /// An indexer for `store` cutting blocks by `shape`.
    pub fn new(store: Sqlite, shape: Shape) -> Indexer {
        Indexer {
            store,
            shape,
            tips: HashMap::new(),
        }
    }

    /// Indexes one batch; true when it took a full batch (more may be waiting).
    pub async fn step(&mut self) -> Result<bool, StoreError> {
        let shape = self.shape;
        // Every commit up to here is in the snapshot the read below takes.
        let committed = self.store.search.committed.load(Ordering::Relaxed);
        let mut tips = std::mem::take(&mut self.tips);
        let read = self
            .store
            .read(move |conn| {
                let batch = read_batch(conn, &mut tips, shape);
                Ok((tips, batch))
            })
            .await;
        let batch = match read {
            Ok((tips, batch)) => {
                self.tips = tips;
                batch?
            }
            Err(e) => return Err(e),
        };
        let Some(batch) = batch else {
            // Caught up: everything committed before the read is indexed or gone.
            let progress: &Progress = &self.store.search;
            progress.accounted.fetch_max(committed, Ordering::Relaxed);
            return Ok(false);
        };
        let (rows, full) = (batch.rows, batch.rows as usize >= shape.batch_rows);
        let counts = self.store.counts.clone();
        match self
            .store
            .write(move |conn| write_batch(conn, batch, &counts))
            .await
        {
            Ok(tips) => {
                if self.tips.len() + tips.len() > TIPS_HELD {
                    self.tips.clear();
                }
                self.tips.extend(tips);
                let progress: &Progress = &self.store.search;
                progress.accounted.fetch_add(rows, Ordering::Relaxed);
                progress.indexed.fetch_add(rows, Ordering::Relaxed);
                Ok(full)
            }
            Err(e) => {
                // Block ids may not match the tables now: read them back next time.
                self.tips.clear();
                Err(e)
            }
        }
    }

    /// Runs until the store closes: indexes while there is work, then waits for a commit.
    /// Progress goes to the log every few seconds while the index is far behind (a database
    /// from before the index, or a long burst).
    pub async fn run(mut self) {
        let progress: Arc<Progress> = self.store.search.clone();
        // Requests stored before this process started are pending too.
        match self.store.count_unindexed().await {
            Ok(n) => {
                progress.accounted.fetch_sub(n as i64, Ordering::Relaxed);
            }
            Err(e) => tracing::warn!(error = %e, "cannot count unindexed requests"),
        }
        let mut reported = std::time::Instant::now();
        loop {
            let wake = progress.wake.notified();
            match self.step().await {
                Ok(true) => {
                    if reported.elapsed() >= Duration::from_secs(5) {
                        reported = std::time::Instant::now();
                        tracing::info!(
                            indexed = progress.indexed(),
                            pending = progress.pending(),
                            "search index catching up"
                        );
                    }
                    continue;
                }
                Ok(false) => {}
                Err(StoreError::Closed) => return,
                Err(e) => {
                    tracing::warn!(error = %e, "search indexing failed; trying again shortly");
                    tokio::time::sleep(Duration::from_secs(1)).await;
                    continue;
                }
            }
            if tokio::time::timeout(Duration::from_secs(1), wake)
                .await
                .is_ok()
            {
                tokio::time::sleep(GATHER).await;
            }
        }
    }
}

/// Reads the next batch above the watermark into the bins' open blocks, and finds groups to
/// build; `None` when nothing is waiting.
fn read_batch(
    conn: &Connection,
    tips: &mut HashMap<String, Tip>,
    shape: Shape,
) -> Result<Option<Batch>, StoreError> {
    let upto = super::query::indexed_upto(conn)?;
    let mut stmt = conn.prepare_cached(
        "SELECT seq, bin_id, path, headers, body FROM requests WHERE seq > ?1 ORDER BY seq LIMIT ?2",
    )?;
    let mut rows = stmt.query(params![upto, shape.batch_rows as i64])?;
    let mut batch = Batch {
        upto,
        rows: 0,
        bins: HashMap::new(),
        groups: Vec::new(),
    };
    let mut bytes = 0usize;
    while let Some(row) = rows.next()? {
        let seq: i64 = row.get(0)?;
        let bin: String = row.get(1)?;
        let path: String = row.get(2)?;
        let head = headers::decode(super::bytes(row.get_ref(3)?)).unwrap_or_default();
        let body = super::bytes(row.get_ref(4)?);
        let touched = match batch.bins.entry(bin) {
            Entry::Occupied(o) => o.into_mut(),
            Entry::Vacant(v) => {
                let tip = match tips.remove(v.key()) {
                    Some(tip) => tip,
                    None => load_tip(conn, v.key())?,
                };
                v.insert(Touched {
                    sealed: Vec::new(),
                    tip,
                })
            }
        };
        let tip = &mut touched.tip;
        let block = tip.open.get_or_insert_with(|| Block {
            id: None,
            first: seq,
            last: seq,
            rows: 0,
            bits: Bits::new(tip.next_log2),
        });
        block.last = seq;
        block.rows += 1;
        bloom::request_keys(&path, &head, body, |k| block.bits.insert(k));
        if block.bits.is_full() || block.rows >= shape.block_rows {
            if block.bits.is_full() {
                tip.next_log2 = (block.bits.log2() + 1).min(MAX_LOG2);
            }
            touched.sealed.extend(tip.open.take());
        }
        batch.upto = seq;
        batch.rows += 1;
        bytes += body.len();
        if bytes >= shape.batch_bytes {
            break;
        }
    }
    if batch.rows == 0 {
        return Ok(None);
    }
    for bin in batch.bins.keys() {
        batch
            .groups
            .extend(groups_due(conn, bin, shape.group_blocks)?);
    }
    Ok(Some(batch))
}
