//! The command-line side of the binary: list events, manage webhooks, send a test, fire an
//! event. These commands work directly on the same SQLite database as the server (WAL lets
//! both run at once); a running server's worker picks up any retries they leave queued.
//! `bins` and `tail` instead talk to a running server over its API (see `remote`).

mod args;
mod install;
mod listen;
mod remote;
mod rules;

pub use args::Args;

use std::io::Read;
use std::path::PathBuf;

use clap::Subcommand;

use crate::config::Config;
use crate::model::{DeliveryId, Webhook, WebhookId};
use crate::payload::Payload;
use crate::sender::{Retries, SendError, Sender, WebhookInput};
use crate::store::{Next, Store, StoreError};

/// A command other than serving.
#[derive(Debug, Clone, Subcommand)]
pub enum Command {
    /// List the events webhooks can subscribe to.
    Events,
    /// Add, list, remove or test webhooks.
    #[command(subcommand)]
    Webhooks(WebhooksCommand),
    /// Fire an event: queue one delivery per active webhook on it, then make the first attempts.
    Fire {
        /// The event's slug (see `hookbin events`).
        slug: String,
        /// A file holding the JSON object to send, or `-` for stdin; without it, the sample.
        #[arg(long, value_name = "FILE")]
        payload: Option<PathBuf>,
    },
    /// Create or list bins on a running hookbin.
    #[command(subcommand)]
    Bins(BinsCommand),
    /// Follow a bin on a running hookbin: print each request as it arrives.
    Tail {
        #[command(flatten)]
        opts: remote::TailOptions,
        #[command(flatten)]
        server: remote::Server,
    },
    /// Forward a remote bin's captures to an app on this machine, byte for byte, resuming
    /// where the last run stopped.
    Listen {
        #[command(flatten)]
        opts: listen::ListenOptions,
        #[command(flatten)]
        server: remote::Server,
    },
    /// Print a shell completion script, or install it with --install (bash, zsh, fish).
    Completions {
        /// The shell to complete for.
        #[arg(value_enum)]
        shell: clap_complete::Shell,
        /// Write it where the shell loads a user's own completions, and say where.
        #[arg(long)]
        install: bool,
    },
    /// Print the manual page (roff), generated from these same flags (`hookbin man | man -l -`),
    /// or install it with --install.
    Man {
        /// Write it to ~/.local/share/man/man1 (or under XDG_DATA_HOME), and say where.
        #[arg(long)]
        install: bool,
    },
}

/// `hookbin bins …` (against a running server)
#[derive(Debug, Clone, Subcommand)]
pub enum BinsCommand {
    /// Create a bin and print its URL (only the URL, for scripts).
    New {
        /// A name for a stable URL (/b/NAME); without it, a random id.
        name: Option<String>,
        #[command(flatten)]
        server: remote::Server,
    },
    /// List the bins with their request counts and URLs.
    List {
        #[command(flatten)]
        server: remote::Server,
    },
    /// Print a bin's answer rules with the counts of its sequences, replace them, or start the
    /// sequences again.
    Rules {
        /// The bin (its id or name).
        bin: String,
        /// A JSON file with the rules (`{"rules": [...]}` or `[...]`), or `-` for stdin; they
        /// replace the bin's rules whole.
        #[arg(long, value_name = "FILE", conflicts_with = "reset")]
        set: Option<PathBuf>,
        /// Start every sequence of the bin from its first answer again.
        #[arg(long)]
        reset: bool,
        #[command(flatten)]
        server: remote::Server,
    },
}

/// `hookbin webhooks …`
#[derive(Debug, Clone, Subcommand)]
pub enum WebhooksCommand {
    /// List webhooks.
    List,
    /// Add a webhook and print it with its secret.
    Add {
        /// What the webhook is called in lists and logs.
        #[arg(long)]
        name: String,
        /// The http(s) URL deliveries are POSTed to (a bin's URL, to watch them arrive).
        #[arg(long)]
        url: String,
        /// The event it subscribes to, by slug (see `hookbin events`).
        #[arg(long, value_name = "SLUG")]
        event: String,
        /// Create it switched off (it receives no real events).
        #[arg(long)]
        inactive: bool,
    },
    /// Remove a webhook and its delivery log.
    Remove {
        /// The webhook's id (`wh_…`, see `hookbin webhooks list`).
        #[arg(value_parser = parse_webhook_id)]
        id: WebhookId,
    },
    /// Send the webhook's test event now and print the result.
    Test {
        /// The webhook's id (`wh_…`, see `hookbin webhooks list`).
        #[arg(value_parser = parse_webhook_id)]
        id: WebhookId,
    },
}

/// Why a command failed.
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    #[error(transparent)]
    Send(#[from] SendError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("{0}")]
    Input(String),
    /// The running server could not be reached (or broke off an answer).
    #[error("{0}")]
    Unreachable(String),
}

/// Runs `cmd`; `Ok(false)` means it ran but what it did failed (e.g. the receiver said 500).
pub async fn run(cmd: Command, config: Config) -> Result<bool, CliError> {
    match &cmd {
        Command::Bins(BinsCommand::New { name, server }) => {
            return remote::new_bin(
                &remote::Remote::new(server, config.token, &config.trust)?,
                name.clone(),
            )
            .await;
        }
        Command::Bins(BinsCommand::List { server }) => {
            return remote::list_bins(&remote::Remote::new(server, config.token, &config.trust)?)
                .await;
        }
        Command::Bins(BinsCommand::Rules {
            bin,
            set,
            reset,
            server,
        }) => {
            let remote = remote::Remote::new(server, config.token, &config.trust)?;
            return rules::rules(&remote, bin, set.as_deref(), *reset).await;
        }
        Command::Listen { opts, server } => {
            let remote = remote::Remote::new(server, config.token.clone(), &config.trust)?;
            let local = crate::outbound::Client::new(config.timeout, false, &config.trust);
            let stop = listen::stop_signal().map_err(|e| CliError::Input(e.to_string()))?;
            return listen::listen(&remote, &server.server, local, opts, stop).await;
        }
        Command::Tail { opts, server } => {
            return remote::tail(
                &remote::Remote::new(server, config.token, &config.trust)?,
                opts,
            )
            .await;
        }
        Command::Events => {
            for e in config.catalog.events() {
                println!("{:<28} {}", e.slug, e.name);
            }
            return Ok(true);
        }
        Command::Completions { shell, install } => {
            install::completions(*shell, *install, &install::Env::current())?;
            return Ok(true);
        }
        Command::Man { install } => {
            install::man(*install, &install::Env::current())?;
            return Ok(true);
        }
        _ => {}
    }
    // Only adding a webhook may start a database; the rest would find nothing in a new one,
    // and a stray empty hookbin.db in whatever directory the command ran from helps nobody.
    // (A PostgreSQL database is the operator's to create.)
    if !crate::store::is_postgres(&config.db) && !config.db.exists() {
        if !matches!(cmd, Command::Webhooks(WebhooksCommand::Add { .. })) {
            return Err(CliError::Input(format!(
                "no database at {}: run the server once to create it, or point --db (or \
                 HOOKBIN_DB) at the one it uses",
                config.db.display()
            )));
        }
        eprintln!("hookbin: created a new database at {}", config.db.display());
    }
    let store = Store::open(&config.db).await?;
    let result = local(cmd, config, &store).await;
    // Closing leaves no WAL behind when this was the database's only user.
    let closed = store.close().await;
    let ok = result?;
    closed?;
    Ok(ok)
}

/// Runs a command that works on the database directly.
async fn local(cmd: Command, config: Config, store: &Store) -> Result<bool, CliError> {
    let sender = Sender::new(
        store.clone(),
        config.catalog.clone(),
        config.retry.clone(),
        crate::outbound::Client::new(config.timeout, config.deny_private_targets, &config.trust),
    );
    match cmd {
        Command::Webhooks(WebhooksCommand::List) => {
            let hooks = store.list_webhooks().await?;
            if hooks.is_empty() {
                eprintln!(
                    "hookbin: no webhooks in {}",
                    crate::store::shown(&config.db)
                );
            }
            for w in hooks {
                print_webhook(&w);
            }
            Ok(true)
        }
        Command::Webhooks(WebhooksCommand::Add {
            name,
            url,
            event,
            inactive,
        }) => {
            let input = WebhookInput {
                name: Some(name),
                url: Some(url),
                event: Some(event),
                active: Some(!inactive),
            };
            let w = sender.create_webhook(input).await?;
            print_webhook(&w);
            println!("  secret  {}", w.secret);
            Ok(true)
        }
        Command::Webhooks(WebhooksCommand::Remove { id }) => {
            store.delete_webhook(&id).await?;
            println!("removed {id}");
            Ok(true)
        }
        Command::Webhooks(WebhooksCommand::Test { id }) => {
            let r = sender.send_test(&id).await?;
            let status = r
                .status
                .map_or_else(|| "no answer".to_owned(), |s| s.to_string());
            println!(
                "{} {status} in {} ms (delivery {})",
                if r.ok { "ok" } else { "FAILED" },
                r.duration_ms,
                r.delivery_id
            );
            if let Some(e) = &r.error {
                println!("  {e}");
            }
            if !r.response_body.is_empty() {
                println!("{}", r.response_body);
            }
            Ok(r.ok)
        }
        Command::Fire { slug, payload } => fire(&sender, &slug, payload).await,
        Command::Bins(_)
        | Command::Tail { .. }
        | Command::Listen { .. }
        | Command::Events
        | Command::Completions { .. }
        | Command::Man { .. } => {
            unreachable!("answered above")
        }
    }
}

fn parse_webhook_id(s: &str) -> Result<WebhookId, String> {
    WebhookId::parse(s)
        .ok_or_else(|| format!("'{s}' is not a webhook id (they look like wh_0190…)"))
}

fn print_webhook(w: &Webhook) {
    let state = if w.active { "active" } else { "inactive" };
    println!("{}  {}  [{}] {} -> {}", w.id, w.name, state, w.event, w.url);
}

fn read_payload(path: Option<PathBuf>) -> Result<Option<Payload>, CliError> {
    let Some(path) = path else {
        return Ok(None);
    };
    let mut text = Vec::new();
    let read = if path.as_os_str() == "-" {
        std::io::stdin().read_to_end(&mut text).map(|_| ())
    } else {
        std::fs::read(&path).map(|t| text = t)
    };
    read.map_err(|e| CliError::Input(format!("cannot read payload {}: {e}", path.display())))?;
    Payload::parse(&text).map(Some).map_err(CliError::Input)
}

async fn fire(sender: &Sender, slug: &str, payload: Option<PathBuf>) -> Result<bool, CliError> {
    let payload = read_payload(payload)?;
    let fired = sender.fire(slug, payload).await?;
    println!(
        "event {} queued for {} webhook(s)",
        fired.event_id,
        fired.deliveries.len()
    );
    let ids: Vec<DeliveryId> = fired.deliveries.iter().map(|d| d.id.clone()).collect();
    let lease = sender.lease().as_millis() as i64;
    let claimed = sender.store().claim_these(ids.clone(), lease).await?;
    let mut all_ok = true;
    for d in &claimed {
        let (attempt, next) = sender.deliver(d, Retries::OnSchedule).await?;
        let status = attempt
            .status
            .map_or_else(|| "no answer".to_owned(), |s| s.to_string());
        match next {
            Next::Succeeded => println!("{}  ok {status} in {} ms", d.id, attempt.duration_ms),
            Next::Failed => println!(
                "{}  FAILED {status}: {}",
                d.id,
                attempt.error.clone().unwrap_or_default()
            ),
            Next::RetryAt(t) => println!(
                "{}  {status}: {}; retry due {} (sent by a hookbin server on this database)",
                d.id,
                attempt.error.clone().unwrap_or_default(),
                crate::time::format(t)
            ),
        }
        all_ok &= attempt.ok();
    }
    for id in ids
        .iter()
        .filter(|id| !claimed.iter().any(|d| &d.id == *id))
    {
        println!("{id}  queued (a running hookbin server is sending it)");
    }
    Ok(all_ok)
}
