//! The index's tables: the blocks and groups the indexer reads back and writes, and how sealed
//! blocks become a group.

use std::collections::HashMap;

use rusqlite::{Connection, OptionalExtension, params};

use super::bloom::{Bits, MAX_LOG2, MIN_LOG2};
use crate::store::sqlite::{Counts, StoreError};

/// A block being filled.
#[derive(Clone, Debug)]
pub(super) struct Block {
    pub(super) id: Option<i64>,
    pub(super) first: i64,
    pub(super) last: i64,
    pub(super) rows: u32,
    pub(super) bits: Bits,
}

/// What the indexer holds per bin between batches: its open block (if any) and the filter size
/// the next block starts at.
#[derive(Clone, Debug)]
pub(super) struct Tip {
    pub(super) open: Option<Block>,
    pub(super) next_log2: u32,
}

/// One bin's changes in a batch.
pub(super) struct Touched {
    pub(super) sealed: Vec<Block>,
    pub(super) tip: Tip,
}

/// Sealed blocks transposed into a group, replacing the block rows `replaces`.
pub(super) struct Group {
    pub(super) bin: String,
    pub(super) log2: u32,
    pub(super) first: i64,
    pub(super) last: i64,
    pub(super) spans: Vec<u8>,
    pub(super) bits: Vec<u8>,
    pub(super) replaces: Vec<i64>,
}

/// Everything one batch writes.
pub(super) struct Batch {
    pub(super) upto: i64,
    pub(super) rows: i64,
    pub(super) bins: HashMap<String, Touched>,
    pub(super) groups: Vec<Group>,
}

/// A bin's open block as stored, and the size its next block starts at.
pub(super) fn load_tip(conn: &Connection, bin: &str) -> Result<Tip, StoreError> {
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
pub(super) fn groups_due(
    conn: &Connection,
    bin: &str,
    size: usize,
) -> Result<Vec<Group>, StoreError> {
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
pub(super) fn write_batch(
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
