//! hookbin: catch, send and inspect webhooks on your own machine.
//!
//! # Layout
//!
//! ```text
//! cli      flags and commands (`cli::Args` → validated Config); commands that work on the
//!          database directly (events, webhooks, fire) or on a running server
//! config   the validated Config, plain data
//! server   accept loop, graceful shutdown, delivery worker (wires everything below)
//! web      route table, JSON API, pages, live events (HTTP in, HTTP out)
//! capture  HTTP request → stored Capture, body limit, live feed, bin's answer (its rules)
//! rules    answer rules: conditions, sequences, seeded shares, templates; pure, bounded
//! relay    forward and replay captures byte for byte, log the target's answer
//! sender   webhooks, test sends, outbox worker, signing, retry schedule
//! outbound the outgoing HTTP client (deliveries, forwards, replays, CLI): timeouts, caps, SSRF guard
//! catalog  the event types webhooks subscribe to (built in + --events files)
//! retention sweeps idle bins and old delivery logs
//! export   captures as curl commands and HAR 1.2
//! inspect  stored bytes → readable views (JSON, form, multipart, text, hex), signature checks
//! store    the only SQL: writer thread with group commit, read connections, migrations
//! model    plain data and typed ids, depends on nothing but `rules`' plain data
//! units    durations and sizes as written in flags and query strings
//! payload  event payloads as given: a JSON object's exact text, compacted, never re-encoded
//! ```
//!
//! Data flows one way: `web` / `cli` → `capture` / `sender` → `store`; `store` never sees HTTP types and `web`
//! never writes SQL. Tests start the server in-process with [`server::serve`] on a listener
//! bound to a free port.

pub mod capture;
pub mod catalog;
pub mod cli;
pub mod config;
pub mod export;
pub mod inspect;
pub mod metrics;
pub mod model;
pub mod outbound;
pub mod payload;
pub mod relay;
pub mod retention;
pub mod rules;
pub mod sender;
pub mod server;
pub mod store;
pub mod time;
pub mod units;
pub mod web;
