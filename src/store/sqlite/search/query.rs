//! Searching with the index: the requests above the watermark are scanned, then the blocks
//! whose filters may hold every needle trigram, newest first, each with the exact SQL filter,
//! until the page is full.

use rusqlite::{Connection, OptionalExtension, params};

use super::Lag;
use super::bloom::{Bits, position};
use crate::model::RequestId;
use crate::store::Filter;
use crate::store::Page;
use crate::store::sqlite::requests::fetch;
use crate::store::sqlite::{Sqlite, StoreError};

/// The row key up to which every request is indexed.
pub(super) fn indexed_upto(conn: &Connection) -> Result<i64, StoreError> {
    Ok(conn
        .prepare_cached("SELECT indexed_upto FROM search_state")?
        .query_row([], |r| r.get(0))?)
}

/// Row key ranges (first, last), inclusive, of a bin's blocks that may hold every key and
/// start below `below`, newest first.
pub(super) fn candidates(
    conn: &Connection,
    bin: &str,
    keys: &[u64],
    below: i64,
) -> Result<Vec<(i64, i64)>, StoreError> {
    let mut spans = Vec::new();
    let mut blocks = conn.prepare_cached(
        "SELECT first_seq, last_seq, bits FROM search_blocks WHERE bin_id = ?1 AND first_seq < ?2",
    )?;
    let mut rows = blocks.query(params![bin, below])?;
    while let Some(r) = rows.next()? {
        let pass =
            Bits::from_bytes(super::bytes(r.get_ref(2)?)).is_none_or(|b| b.may_hold_all(keys));
        if pass {
            spans.push((r.get(0)?, r.get(1)?));
        }
    }
    let groups: Vec<(i64, u32, usize, Vec<u8>)> = conn
        .prepare_cached(
            "SELECT id, log2, blocks, spans FROM search_groups WHERE bin_id = ?1 AND first_seq < ?2",
        )?
        .query_map(params![bin, below], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?))
        })?
        .collect::<Result<_, _>>()?;
    let mut word = [0u8; 8];
    for (id, log2, count, group_spans) in groups {
        let blob = conn.blob_open("main", "search_groups", "bits", id, true)?;
        let mut mask = if count >= 64 {
            u64::MAX
        } else {
            (1u64 << count) - 1
        };
        for &k in keys {
            blob.read_at_exact(&mut word, position(k, log2) * 8)?;
            mask &= u64::from_le_bytes(word);
            if mask == 0 {
                break;
            }
        }
        while mask != 0 {
            let j = mask.trailing_zeros() as usize;
            mask &= mask - 1;
            let at = |o: usize| {
                group_spans
                    .get(j * 16 + o..j * 16 + o + 8)
                    .map(|b| i64::from_le_bytes(b.try_into().expect("8 bytes")))
            };
            if let (Some(first), Some(last)) = (at(0), at(8)) {
                spans.push((first, last));
            }
        }
    }
    spans.sort_unstable_by(|a, b| b.cmp(a));
    Ok(spans)
}

/// A page of a bin's requests passing `filter`, found through the index with `keys` (the
/// needle trigrams every match must hold). Reads in one snapshot, so the watermark and the
/// blocks it covers agree.
pub(in crate::store) fn page(
    conn: &Connection,
    bin: &str,
    limit: usize,
    before: Option<RequestId>,
    body_limit: Option<usize>,
    filter: &Filter,
    keys: &[u64],
) -> Result<Page, StoreError> {
    conn.execute_batch("BEGIN")?;
    let found = (|| {
        let want = limit + 1;
        let below = before.map_or(i64::MAX, RequestId::seq);
        let upto = indexed_upto(conn)?;
        // Not yet indexed: scanned.
        let mut found = if below > upto + 1 {
            fetch(conn, bin, upto + 1, below, want, body_limit, filter)?
        } else {
            Vec::new()
        };
        if found.len() < want {
            let floor = filter.seq_floor();
            for (first, last) in candidates(conn, bin, keys, below.min(upto + 1))? {
                if last < floor {
                    break;
                }
                let hi = below.min(upto + 1).min(last.saturating_add(1));
                found.extend(fetch(
                    conn,
                    bin,
                    first,
                    hi,
                    want - found.len(),
                    body_limit,
                    filter,
                )?);
                if found.len() >= want {
                    break;
                }
            }
        }
        Ok::<_, StoreError>(found)
    })();
    let _ = conn.execute_batch("COMMIT");
    Ok(Page::from_extra(found?, limit))
}

impl Sqlite {
    /// Requests not yet indexed, counted (once, when the indexer starts).
    pub(super) async fn count_unindexed(&self) -> Result<u64, StoreError> {
        self.read(|conn| {
            let upto = indexed_upto(conn)?;
            Ok(conn
                .prepare_cached("SELECT count(*) FROM requests WHERE seq > ?1")?
                .query_row([upto], |r| r.get::<_, i64>(0))? as u64)
        })
        .await
    }

    /// How far the search index is behind: requests not yet in it (searched by scanning
    /// instead) and the age of the oldest of them.
    pub async fn search_lag(&self) -> Result<Lag, StoreError> {
        let pending = self.search.pending();
        if pending == 0 {
            return Ok(Lag::default());
        }
        self.read(move |conn| {
            let upto = indexed_upto(conn)?;
            let oldest: Option<i64> = conn
                .prepare_cached("SELECT min(seq) FROM requests WHERE seq > ?1")?
                .query_row([upto], |r| r.get(0))
                .optional()?
                .flatten();
            let now = chrono::Utc::now().timestamp_millis();
            Ok(Lag {
                pending,
                behind_ms: oldest.map_or(0, |s| (now - (s >> 16)).max(0) as u64),
            })
        })
        .await
    }

    /// What the indexer reports (requests pending and indexed so far).
    pub fn search_progress(&self) -> &super::Progress {
        &self.search
    }
}
