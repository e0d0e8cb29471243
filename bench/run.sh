#!/usr/bin/env bash
# hookbin's benchmark: capture throughput against bare hyper, page and API latency with
# 100,000 stored requests, a 10 MiB request page, and sender throughput. Prints figures only;
# nothing here asserts a wall-clock limit. Loopback only. Usage: bench/run.sh [SECONDS]
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v oha >/dev/null; then
  echo "== installing the load generator (oha, from crates.io)"
  cargo install oha --locked
fi
export PATH="$HOME/.cargo/bin:$PATH"

echo "== building release"
cargo build --release --bin hookbin --example bare_hyper --example sqlite_rows 2>&1 | tail -1

python3 bench/bench.py "${1:-10}"

echo "== SQLite alone per captured row: the floor under the writer thread's figure above"
floor=$(mktemp -d)
trap 'rm -rf "$floor"' EXIT
target/release/examples/sqlite_rows "$floor" 200000
