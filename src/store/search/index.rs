//! The background indexer: reads committed requests above the watermark in batches, adds them
//! to their bin's open block, and writes the blocks and the new watermark in one small write
//! job, so captures wait for it no longer than for any other job.

use std::collections::HashMap;
use std::collections::hash_map::Entry;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use rusqlite::{Connection, OptionalExtension, params};

use super::Progress;
use super::bloom::{self, Bits, MAX_LOG2, MIN_LOG2};
use crate::store::{Counts, Store, StoreError, headers};

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

/// A block being filled.
#[derive(Clone, Debug)]
struct Block {
    id: Option<i64>,
    first: i64,
    last: i64,
    rows: u32,
    bits: Bits,
}

/// What the indexer holds per bin between batches: its open block (if any) and the filter size
/// the next block starts at.
#[derive(Clone, Debug)]
struct Tip {
    open: Option<Block>,
    next_log2: u32,
}

/// One bin's changes in a batch.
struct Touched {
    sealed: Vec<Block>,
    tip: Tip,
}

/// Sealed blocks transposed into a group, replacing the block rows `replaces`.
struct Group {
    bin: String,
    log2: u32,
    first: i64,
    last: i64,
    spans: Vec<u8>,
    bits: Vec<u8>,
    replaces: Vec<i64>,
}

/// Everything one batch writes.
struct Batch {
    upto: i64,
    rows: i64,
    bins: HashMap<String, Touched>,
    groups: Vec<Group>,
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
    store: Store,
    shape: Shape,
    tips: HashMap<String, Tip>,
}

impl Indexer {
    /// An indexer for `store` cutting blocks by `shape`.
    pub fn new(store: Store, shape: Shape) -> Indexer {
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

/// A bin's open block as stored, and the size its next block starts at.
fn load_tip(conn: &Connection, bin: &str) -> Result<Tip, StoreError> {
    let newest = conn
        .prepare_cached(
            "SELECT id, first_seq, last_seq, rows, sealed, bits FROM search_blocks
             WHERE bin_id = ?1 ORDER BY first_seq DESC LIMIT 1",
        )?
        .query_row([bin], |r| {
            Ok((
                Block {
                    id: r.get(0)?,
                    first: r.get(1)?,
                    last: r.get(2)?,
                    rows: r.get(3)?,
                    bits: Bits::from_bytes(super::bytes(r.get_ref(5)?))
                        .unwrap_or_else(|| Bits::new(MAX_LOG2)),
                },
                r.get::<_, bool>(4)?,
            ))
        })
        .optional()?;
    Ok(match newest {
        Some((block, false)) => Tip {
            next_log2: block.bits.log2(),
            open: Some(block),
        },
        Some((block, true)) => Tip {
            next_log2: if block.bits.is_full() {
                (block.bits.log2() + 1).min(MAX_LOG2)
            } else {
                block.bits.log2()
            },
            open: None,
        },
        None => {
            // Its blocks may all be in groups already: go on at the newest group's size.
            let grouped: Option<u32> = conn
                .prepare_cached(
                    "SELECT log2 FROM search_groups WHERE bin_id = ?1
                     ORDER BY first_seq DESC LIMIT 1",
                )?
                .query_row([bin], |r| r.get(0))
                .optional()?;
            Tip {
                open: None,
                next_log2: grouped.unwrap_or(MIN_LOG2),
            }
        }
    })
}

/// Groups a bin's sealed blocks are ready for: for each filter size with at least `size`
/// sealed blocks, the oldest `size` of them, transposed.
fn groups_due(conn: &Connection, bin: &str, size: usize) -> Result<Vec<Group>, StoreError> {
    let sizes: Vec<i64> = conn
        .prepare_cached(
            "SELECT length(bits) FROM search_blocks WHERE bin_id = ?1 AND sealed = 1
             GROUP BY length(bits) HAVING count(*) >= ?2",
        )?
        .query_map(params![bin, size as i64], |r| r.get(0))?
        .collect::<Result<_, _>>()?;
    let mut groups = Vec::new();
    for len in sizes {
        let mut stmt = conn.prepare_cached(
            "SELECT id, first_seq, last_seq, bits FROM search_blocks
             WHERE bin_id = ?1 AND sealed = 1 AND length(bits) = ?2 ORDER BY first_seq LIMIT ?3",
        )?;
        let blocks: Vec<(i64, i64, i64, Option<Bits>)> = stmt
            .query_map(params![bin, len, size as i64], |r| {
                Ok((
                    r.get(0)?,
                    r.get(1)?,
                    r.get(2)?,
                    Bits::from_bytes(super::bytes(r.get_ref(3)?)),
                ))
            })?
            .collect::<Result<_, _>>()?;
        let Some(log2) = blocks.first().and_then(|b| b.3.as_ref()).map(Bits::log2) else {
            continue;
        };
        let mut words = vec![0u64; 1 << log2];
        let mut spans = Vec::with_capacity(blocks.len() * 16);
        for (j, (_, first, last, bits)) in blocks.iter().enumerate() {
            spans.extend(first.to_le_bytes());
            spans.extend(last.to_le_bytes());
            match bits {
                Some(bits) => {
                    for p in bits.ones() {
                        words[p] |= 1 << j;
                    }
                }
                // Unreadable filter: the block is a candidate for every search.
                None => words.iter_mut().for_each(|w| *w |= 1 << j),
            }
        }
        groups.push(Group {
            bin: bin.to_owned(),
            log2,
            first: blocks.iter().map(|b| b.1).min().unwrap_or(0),
            last: blocks.iter().map(|b| b.2).max().unwrap_or(0),
            spans,
            bits: words.iter().flat_map(|w| w.to_le_bytes()).collect(),
            replaces: blocks.iter().map(|b| b.0).collect(),
        });
    }
    Ok(groups)
}

/// Writes a batch and moves the watermark, in the writer's transaction; returns each bin's
/// open block with its row id, for the next batch. Bins deleted meanwhile are skipped.
fn write_batch(
    conn: &Connection,
    batch: Batch,
    counts: &Counts,
) -> Result<Vec<(String, Tip)>, StoreError> {
    let exists = |bin: &str| counts.lock().expect("counts poisoned").contains_key(bin);
    let mut tips = Vec::with_capacity(batch.bins.len());
    for (bin, touched) in batch.bins {
        if !exists(&bin) {
            continue;
        }
        for block in touched.sealed {
            save(conn, &bin, &block, true)?;
        }
        let mut tip = touched.tip;
        if let Some(open) = tip.open.as_mut() {
            open.id = Some(save(conn, &bin, open, false)?);
        }
        prune(conn, &bin)?;
        tips.push((bin, tip));
    }
    for g in batch.groups {
        if !exists(&g.bin) {
            continue;
        }
        conn.prepare_cached(
            "INSERT INTO search_groups (bin_id, first_seq, last_seq, log2, blocks, spans, bits)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        )?
        .execute(params![
            g.bin,
            g.first,
            g.last,
            g.log2,
            g.replaces.len() as i64,
            g.spans,
            g.bits
        ])?;
        let mut delete = conn.prepare_cached("DELETE FROM search_blocks WHERE id = ?1")?;
        for id in g.replaces {
            delete.execute([id])?;
        }
    }
    conn.prepare_cached("UPDATE search_state SET indexed_upto = ?1")?
        .execute([batch.upto])?;
    Ok(tips)
}

/// Stores a block (updating its row if it still exists); returns its row id.
fn save(conn: &Connection, bin: &str, b: &Block, sealed: bool) -> Result<i64, StoreError> {
    let bits = b.bits.to_bytes();
    if let Some(id) = b.id {
        let changed = conn
            .prepare_cached(
                "UPDATE search_blocks SET last_seq = ?2, rows = ?3, sealed = ?4, bits = ?5
                 WHERE id = ?1",
            )?
            .execute(params![id, b.last, b.rows, sealed, bits])?;
        if changed == 1 {
            return Ok(id);
        }
    }
    Ok(conn
        .prepare_cached(
            "INSERT INTO search_blocks (bin_id, first_seq, last_seq, rows, sealed, bits)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6) RETURNING id",
        )?
        .query_row(params![bin, b.first, b.last, b.rows, sealed, bits], |r| {
            r.get(0)
        })?)
}

/// Drops a bin's blocks and groups whose requests are all gone (evicted, deleted, cleared).
fn prune(conn: &Connection, bin: &str) -> Result<(), StoreError> {
    let oldest: Option<i64> = conn
        .prepare_cached("SELECT min(seq) FROM requests WHERE bin_id = ?1")?
        .query_row([bin], |r| r.get(0))?;
    let below = oldest.unwrap_or(i64::MAX);
    for table in ["search_blocks", "search_groups"] {
        conn.prepare_cached(&format!(
            "DELETE FROM {table} WHERE bin_id = ?1 AND last_seq < ?2"
        ))?
        .execute(params![bin, below])?;
    }
    Ok(())
}
