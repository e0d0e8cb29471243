//! The floor under hookbin's writer thread: what SQLite alone spends per captured row, with
//! hookbin's schema and connection settings, one thread, rows committed in batches, nothing
//! else (no channel, no callers to answer, no HTTP). Printed per batch size as CPU µs per row
//! of this thread, so the writer's figure in `bench/run.sh` can be read against it.
//!
//! `cargo run --release --example sqlite_rows -- <scratch dir> [rows]`

use std::path::Path;
use std::time::Instant;

use hookbin::model::BinId;
use hookbin::store::{Store, encode_headers};
use rusqlite::{Connection, params};

/// CPU seconds this thread has used, from /proc (user + system, in clock ticks).
fn thread_cpu() -> f64 {
    let stat = std::fs::read_to_string("/proc/thread-self/stat").expect("read /proc");
    let fields: Vec<&str> = stat
        .rsplit(')')
        .next()
        .unwrap()
        .split_whitespace()
        .collect();
    let ticks: f64 = fields[11].parse::<f64>().unwrap() + fields[12].parse::<f64>().unwrap();
    ticks / 100.0
}

/// A database with hookbin's schema holding one bin, `bin`, opened as the writer opens it.
fn prepared_db(dir: &Path, name: &str, bin: &BinId) -> Connection {
    let path = dir.join(name);
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let store = Store::open(&path).await.expect("open store");
        store
            .create_bin(Some(bin.clone()), 0)
            .await
            .expect("create bin");
        store.close().await.expect("close store");
    });
    let conn = Connection::open(&path).unwrap();
    for (k, v) in [
        ("journal_mode", "WAL"),
        ("synchronous", "NORMAL"),
        ("foreign_keys", "ON"),
        ("temp_store", "MEMORY"),
        ("wal_autocheckpoint", "0"),
    ] {
        conn.pragma_update(None, k, v).unwrap();
    }
    conn
}

fn main() {
    let mut args = std::env::args().skip(1);
    let dir = std::path::PathBuf::from(args.next().expect("a scratch directory"));
    let rows: usize = args.next().map_or(200_000, |n| n.parse().expect("rows"));
    let bin = BinId::parse("floor").unwrap();
    let body = format!("{{\"event\":\"x\",\"data\":\"{}\"}}", "y".repeat(1000));
    let headers = encode_headers(
        [
            ("host", &b"127.0.0.1:8080"[..]),
            ("content-type", b"application/json"),
            ("content-length", b"1024"),
        ]
        .into_iter(),
    );
    println!("{rows} rows of a {} B body per run", body.len());
    for batch in [16, 64, 512] {
        let conn = prepared_db(&dir, &format!("floor{batch}.db"), &bin);
        let (cpu0, wall0) = (thread_cpu(), Instant::now());
        let mut seq = chrono::Utc::now().timestamp_millis() << 16;
        for chunk in 0..rows.div_ceil(batch) {
            conn.execute_batch("BEGIN IMMEDIATE").unwrap();
            for _ in 0..batch.min(rows - chunk * batch) {
                seq += 1;
                conn.prepare_cached(
                    "INSERT INTO requests (seq, bin_id, received_at, method, path, query,
                         http_version, remote_addr, headers, content_type, body_size, body,
                         response_status, response_rule)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14)",
                )
                .unwrap()
                .execute(params![
                    seq,
                    bin.as_str(),
                    "2026-12-07T03:44:29.300Z",
                    "POST",
                    "/b/floor",
                    "",
                    "HTTP/1.1",
                    "127.0.0.1:40000",
                    headers,
                    "application/json",
                    body.len() as i64,
                    body.as_bytes(),
                    200,
                    None::<String>,
                ])
                .unwrap();
            }
            conn.execute_batch("COMMIT").unwrap();
        }
        let (cpu, wall) = (thread_cpu() - cpu0, wall0.elapsed().as_secs_f64());
        println!(
            "batches of {batch:>3}: {:.2} µs CPU per row ({:.0} rows/s on one thread)",
            cpu * 1e6 / rows as f64,
            rows as f64 / wall
        );
    }
}
