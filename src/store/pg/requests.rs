//! A bin's requests on PostgreSQL: pages under the same filters as SQLite's (method, path,
//! header, body text, time range), one request, deletion.

use chrono::{DateTime, Utc};
use tokio_postgres::types::ToSql;

use super::{PgStore, failed, stored};
use crate::model::{BinId, Capture, RequestId};
use crate::store::{Filter, Page, StoreError, headers};

const COLUMNS: &str = "seq, bin_id, received_at, method, path, query, http_version, remote_addr,
    headers, body_size, body, response_status, response_rule";

/// [`COLUMNS`] with at most `body_limit` leading bytes of each body.
fn columns(body_limit: Option<usize>) -> std::borrow::Cow<'static, str> {
    match body_limit {
        None => COLUMNS.into(),
        Some(n) => COLUMNS
            .replace(" body,", &format!(" substring(body from 1 for {n}),"))
            .into(),
    }
}

/// Text as the filters compare it on PostgreSQL: each byte as the character with that code
/// (what `convert_from(…, 'LATIN1')` makes of stored bytes), ASCII letters lowercased; so
/// `strpos` over it is SQLite's byte-wise, ASCII case-insensitive `hb_icontains`.
fn folded(text: &str) -> String {
    text.bytes()
        .map(|b| char::from(b.to_ascii_lowercase()))
        .collect()
}

/// `column` (BYTEA) as [`folded`] text, in SQL.
fn folded_sql(column: &str) -> String {
    format!(
        "translate(convert_from({column}, 'LATIN1'), 'ABCDEFGHIJKLMNOPQRSTUVWXYZ', \
         'abcdefghijklmnopqrstuvwxyz')"
    )
}

/// SQL conditions for `filter` (each starting with ` AND`), with parameters numbered after
/// the `taken` already bound.
fn conditions(filter: &Filter, taken: usize) -> (String, Vec<Box<dyn ToSql + Sync + Send>>) {
    let mut sql = String::new();
    let mut args: Vec<Box<dyn ToSql + Sync + Send>> = Vec::new();
    let bind = |args: &mut Vec<Box<dyn ToSql + Sync + Send>>, v: Box<dyn ToSql + Sync + Send>| {
        args.push(v);
        taken + args.len()
    };
    if let Some(m) = &filter.method {
        let n = bind(&mut args, Box::new(m.to_ascii_uppercase()));
        sql += &format!(" AND upper(method) = ${n}");
    }
    if let Some(p) = &filter.path {
        let n = bind(&mut args, Box::new(p.clone()));
        sql += &format!(" AND strpos(path, ${n}) > 0");
    }
    if let Some((name, value)) = &filter.header {
        let a = bind(&mut args, Box::new(name.to_ascii_lowercase()));
        let b = bind(&mut args, Box::new(value.as_deref().map(folded)));
        sql += &format!(" AND hb_has_header(headers, ${a}, ${b})");
    }
    if let Some(t) = &filter.text {
        let n = bind(&mut args, Box::new(folded(t)));
        sql += &format!(" AND strpos({}, ${n}) > 0", folded_sql("body"));
    }
    if let Some(since) = filter.since {
        let n = bind(&mut args, Box::new(since));
        sql += &format!(" AND received_at >= ${n}");
    }
    if let Some(until) = filter.until {
        let n = bind(&mut args, Box::new(until));
        sql += &format!(" AND received_at <= ${n}");
    }
    (sql, args)
}

pub(super) fn capture_from(row: &tokio_postgres::Row) -> Result<Capture, StoreError> {
    let bin: String = row.get(1);
    let head: Vec<u8> = row.get(8);
    let body: Vec<u8> = row.get(10);
    Ok(Capture {
        id: RequestId::from_seq(row.get(0)),
        bin_id: stored(&bin, "bin id", BinId::parse)?,
        received_at: row.get::<_, DateTime<Utc>>(2),
        method: row.get(3),
        path: row.get(4),
        query: row.get(5),
        http_version: row.get(6),
        remote_addr: row.get(7),
        headers: headers::decode(&head).unwrap_or_default(),
        body_size: row.get::<_, i64>(9) as u64,
        body: body.into(),
        response_status: row.get::<_, i32>(11) as u16,
        response_rule: row.get(12),
    })
}

impl PgStore {
    /// A page of a bin's requests that pass `filter`, newest first, below the request `before`;
    /// each with its whole body or at most `body_limit` leading bytes of it.
    pub async fn list_requests(
        &self,
        bin: &BinId,
        limit: usize,
        before: Option<RequestId>,
        body_limit: Option<usize>,
        filter: &Filter,
    ) -> Result<Page, StoreError> {
        // Known bins are answered from this node's cache (see `known`): every live update
        // re-reads a page, and needs no round trip for this.
        if !self.bin_exists(bin).await? {
            return Err(StoreError::NotFound(format!("bin {bin}")));
        }
        let client = self.client().await?;
        let (cond, extra) = conditions(filter, 3);
        let sql = format!(
            "SELECT {} FROM requests WHERE bin_id = $1 AND seq < $2{cond}
             ORDER BY seq DESC LIMIT $3",
            columns(body_limit)
        );
        let below = before.map_or(i64::MAX, RequestId::seq);
        let want = limit as i64 + 1;
        let id = bin.as_str();
        let mut args: Vec<&(dyn ToSql + Sync)> = vec![&id, &below, &want];
        args.extend(extra.iter().map(|a| a.as_ref() as &(dyn ToSql + Sync)));
        let rows = client.query(&sql, &args).await.map_err(failed)?;
        let requests = rows
            .iter()
            .map(capture_from)
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Page::from_extra(requests, limit))
    }

    /// One request with its whole body, or at most `body_limit` leading bytes of it.
    pub async fn get_request(
        &self,
        id: RequestId,
        body_limit: Option<usize>,
    ) -> Result<Capture, StoreError> {
        let row = self
            .client()
            .await?
            .query_opt(
                &format!(
                    "SELECT {} FROM requests WHERE seq = $1",
                    columns(body_limit)
                ),
                &[&id.seq()],
            )
            .await
            .map_err(failed)?
            .ok_or_else(|| StoreError::NotFound(format!("request {id}")))?;
        capture_from(&row)
    }

    /// Deletes one request (and counts it out of its bin); returns the bin it belonged to.
    pub async fn delete_request(&self, id: RequestId) -> Result<BinId, StoreError> {
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(failed)?;
        let bin: String = tx
            .query_opt(
                "DELETE FROM requests WHERE seq = $1 RETURNING bin_id",
                &[&id.seq()],
            )
            .await
            .map_err(failed)?
            .ok_or_else(|| StoreError::NotFound(format!("request {id}")))?
            .get(0);
        tx.execute(
            "UPDATE bins SET request_count = greatest(request_count - 1, 0) WHERE id = $1",
            &[&bin],
        )
        .await
        .map_err(failed)?;
        tx.commit().await.map_err(failed)?;
        stored(&bin, "bin id", BinId::parse)
    }
}

impl PgStore {
    /// A bin's oldest requests that arrived after `after`, oldest first, with whole bodies: at
    /// most `limit`, and no more once their bodies reach `max_bytes` (the first always comes).
    pub async fn oldest_after(
        &self,
        bin: &BinId,
        after: RequestId,
        limit: usize,
        max_bytes: u64,
    ) -> Result<Vec<Capture>, StoreError> {
        // The running total of body sizes picks the rows before fetching their bodies.
        let sql = format!(
            "SELECT {COLUMNS} FROM requests WHERE seq IN (
                 SELECT seq FROM (
                     SELECT seq, (sum(body_size) OVER (ORDER BY seq))::bigint - body_size AS before
                     FROM requests WHERE bin_id = $1 AND seq > $2 ORDER BY seq LIMIT $3) w
                 WHERE before < $4)
             ORDER BY seq"
        );
        self.client()
            .await?
            .query(
                &sql,
                &[
                    &bin.as_str(),
                    &after.seq(),
                    &(limit as i64),
                    &(max_bytes.min(i64::MAX as u64) as i64),
                ],
            )
            .await
            .map_err(failed)?
            .iter()
            .map(capture_from)
            .collect()
    }

    /// The requests of `bin` just newer and just older than `id`.
    pub async fn neighbours(
        &self,
        bin: &BinId,
        id: RequestId,
    ) -> Result<(Option<RequestId>, Option<RequestId>), StoreError> {
        let row = self
            .client()
            .await?
            .query_one(
                "SELECT (SELECT min(seq) FROM requests WHERE bin_id = $1 AND seq > $2),
                        (SELECT max(seq) FROM requests WHERE bin_id = $1 AND seq < $2)",
                &[&bin.as_str(), &id.seq()],
            )
            .await
            .map_err(failed)?;
        let at = |i| row.get::<_, Option<i64>>(i).map(RequestId::from_seq);
        Ok((at(0), at(1)))
    }

    /// Several requests with their whole bodies, in the order asked for; ids that are gone
    /// are left out.
    pub async fn get_requests(&self, ids: Vec<RequestId>) -> Result<Vec<Capture>, StoreError> {
        let seqs: Vec<i64> = ids.iter().map(|id| id.seq()).collect();
        let rows = self
            .client()
            .await?
            .query(
                &format!("SELECT {COLUMNS} FROM requests WHERE seq = ANY($1)"),
                &[&seqs],
            )
            .await
            .map_err(failed)?;
        let mut found: std::collections::HashMap<RequestId, Capture> = rows
            .iter()
            .map(|r| capture_from(r).map(|c| (c.id, c)))
            .collect::<Result<_, _>>()?;
        Ok(ids.iter().filter_map(|id| found.remove(id)).collect())
    }
}
