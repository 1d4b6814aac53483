//! `hrhub`: the command line. Thin: parse arguments and config, build the
//! store, mappings and connectors, and hand over to the library crates.

mod alloc;
mod config;
mod connectors;
mod demo;
mod mapping_test;
mod shipped;
mod status;

use anyhow::{bail, Context, Result};
use clap::{Parser, Subcommand};
use config::Config;
use hrhub_model::{RunCounts, RunTrigger};
use hrhub_sync::{ProgressFn, SyncEngine, SyncOptions};
use std::io::IsTerminal;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

#[derive(Parser)]
#[command(
    name = "hrhub",
    version,
    about = "HR integration hub: work-platform records into one employee-performance store"
)]
struct Cli {
    /// Configuration file.
    #[arg(
        long,
        global = true,
        env = "HRHUB_CONFIG",
        default_value = "hrhub.toml"
    )]
    config: PathBuf,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Sync connectors into the store (all enabled connectors by default).
    Sync {
        /// Only this connector.
        #[arg(long)]
        connector: Option<String>,
        /// Only this stream (needs --connector).
        #[arg(long, requires = "connector")]
        stream: Option<String>,
        /// Ignore saved cursors and read from the configured start (unchanged records still stop at landing).
        #[arg(long)]
        full_refresh: bool,
    },
    /// Show each connector's streams: status, last run, counts, records held, cursor, last error.
    Status {
        /// Print JSON (the shape is documented in README.md).
        #[arg(long)]
        json: bool,
    },
    /// Verify a connector's credentials and reachability.
    Check {
        /// The connector id.
        id: String,
    },
    /// Import a CSV or XLSX export (UTF-8, UTF-8 with BOM or GBK) through a `kind = "file"` connector.
    Import {
        /// The file connector's id.
        #[arg(long)]
        connector: String,
        /// The export file.
        file: PathBuf,
    },
    /// Re-map a connector's quarantined records with the current mapping files (after a fix).
    Replay {
        /// The connector id.
        #[arg(long)]
        connector: String,
    },
    /// Manage API tokens.
    Token {
        #[command(subcommand)]
        command: TokenCommand,
    },
    /// Work with mapping files.
    Mapping {
        #[command(subcommand)]
        command: MappingCommand,
    },
    /// Serve the HTTP listener ([server] listen: API, dashboard, event push, metrics) and run connectors on their schedules, until Ctrl-C or SIGTERM.
    Serve,
    /// Run everything on this machine with no setup: every mock platform on one synthetic company, SQLite, a sync, an import, signed pushes; then serve the dashboard until Ctrl-C.
    Demo {
        /// Tickets in the mock Zendesk.
        #[arg(long, default_value_t = 2_000)]
        tickets: usize,
        /// Folder for the demo's config, database and sample export.
        #[arg(long, default_value = "hrhub-demo")]
        dir: PathBuf,
        /// Exit after the first sync, the pushes and the summary instead of serving.
        #[arg(long)]
        once: bool,
        /// Serving is the default now; kept so older instructions still work.
        #[arg(long, hide = true, conflicts_with = "once")]
        serve: bool,
    },
}

#[derive(Subcommand)]
enum TokenCommand {
    /// Create a token; it is printed once and only its hash is kept.
    Create {
        /// `reader` (the HR system: unified data) or `admin` (also sync status, runs, triggers, quarantine).
        #[arg(long)]
        role: String,
        /// A name to list and revoke it by.
        #[arg(long)]
        name: String,
    },
    /// List tokens (names, roles, dates; never the secrets).
    List,
    /// Revoke the live token(s) with this name.
    Revoke { name: String },
}

#[derive(Subcommand)]
enum MappingCommand {
    /// Show what a mapping file makes of a sample (a JSON object, an array, or JSON lines).
    Test { file: PathBuf, sample: PathBuf },
}

#[tokio::main]
async fn main() {
    alloc::tune();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("HRHUB_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .with_writer(std::io::stderr)
        .init();
    match run(Cli::parse()).await {
        Ok(code) => std::process::exit(code),
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::exit(2);
        }
    }
}

async fn run(cli: Cli) -> Result<i32> {
    match cli.command {
        Command::Mapping {
            command: MappingCommand::Test { file, sample },
        } => mapping_test::run(&file, &sample),
        Command::Demo {
            tickets,
            dir,
            once,
            serve: _,
        } => demo::run(tickets, &dir, once).await,
        Command::Sync {
            connector,
            stream,
            full_refresh,
        } => {
            let hub = Hub::load(&cli.config).await?;
            hub.sync(connector.as_deref(), stream.as_deref(), full_refresh)
                .await
        }
        Command::Serve => {
            let config = Config::load(&cli.config)?;
            let hub = Hub::from_config(&config).await?;
            let listen = &config.server.listen;
            let listener = tokio::net::TcpListener::bind(listen)
                .await
                .with_context(|| format!("cannot serve on {listen} ([server] listen)"))?;
            serve(&config, &hub, listener, async {
                shutdown_signal().await;
                eprintln!("shutting down: finishing requests in flight");
            })
            .await?;
            Ok(0)
        }
        Command::Import { connector, file } => {
            let config = Config::load(&cli.config)?;
            // the file is read before the store is opened: a bad file touches nothing
            let (stream, import) = read_export(&config, &connector, &file)?;
            let hub = Hub::from_config(&config).await?;
            hub.import(&connector, &stream, &import).await?;
            Ok(0)
        }
        Command::Replay { connector } => {
            let hub = Hub::load(&cli.config).await?;
            let conn = hub.connector(&connector)?;
            let outcomes = hub.engine.replay_quarantine(conn).await?;
            if outcomes.is_empty() {
                println!("connector `{connector}`: nothing to replay (file rows that could not be read need a fixed file, then `hrhub import`)");
            }
            for o in outcomes {
                let c = o.counts;
                println!(
                    "{}/{}: replayed {} · now mapped {} · filtered {} · still quarantined {} (run {})",
                    o.connector, o.stream, c.fetched, c.upserted, c.filtered, c.quarantined, o.run_id
                );
            }
            Ok(0)
        }
        Command::Token { command } => {
            let config = Config::load(&cli.config)?;
            let store = hrhub_store::open(&config.store_url()).await?;
            token(&*store, command).await
        }
        Command::Status { json } => {
            let hub = Hub::load(&cli.config).await?;
            status::run(&hub, json).await
        }
        Command::Check { id } => {
            let hub = Hub::load(&cli.config).await?;
            let conn = hub.connector(&id)?;
            let report = conn
                .source
                .check()
                .await
                .with_context(|| format!("check of connector `{id}` failed"))?;
            println!("connector `{id}` ({}): OK", conn.source.kind());
            for line in report.details {
                println!("  {line}");
            }
            Ok(0)
        }
    }
}

/// Everything a command needs, built once from the config. Building it
/// validates every connector and mapping, so bad config stops start-up.
pub struct Hub {
    pub engine: Arc<SyncEngine>,
    pub connectors: Vec<hrhub_sync::ConnectorHandle>,
    /// (connector, 5-field cron) for `serve`.
    pub schedules: Vec<(hrhub_sync::ConnectorHandle, String)>,
    /// Connectors with `enabled = false` and their streams (when their
    /// settings build): never synced, shown as `disabled`.
    pub disabled: Vec<(String, Vec<String>)>,
}

impl Hub {
    pub async fn load(path: &std::path::Path) -> Result<Hub> {
        let config = Config::load(path)?;
        Hub::from_config(&config).await
    }

    pub async fn from_config(config: &Config) -> Result<Hub> {
        let mappings = shipped::mapping_set(
            config
                .mappings
                .dir
                .as_ref()
                .map(|d| config.dir.join(d))
                .as_deref(),
        )?;
        let url_policy = config.url_policy();
        if url_policy.allows_private() {
            tracing::warn!(
                "[security] allow_private_urls (or HRHUB_ALLOW_PRIVATE_URLS) is on: connectors may \
                 reach loopback, link-local and private addresses, cloud metadata included; use it \
                 only with mock platforms and tests"
            );
        }
        let mut connectors = Vec::new();
        let mut schedules = Vec::new();
        // shown in status only; a disabled connector may be half-configured,
        // so its streams are known only if its settings still build
        let disabled = config
            .connectors
            .iter()
            .filter(|c| !c.enabled)
            .map(|c| {
                let streams = connectors::build(c, url_policy)
                    .map(|h| h.source.streams())
                    .unwrap_or_default();
                (c.id.clone(), streams)
            })
            .collect();
        for entry in config.connectors.iter().filter(|c| c.enabled) {
            let handle = connectors::build(entry, url_policy)?;
            if let (Some(cron), false) = (&entry.schedule, entry.kind == "file") {
                schedules.push((handle.clone(), cron.clone()));
            }
            for stream in handle.source.streams() {
                if mappings.get(handle.source.kind(), &stream).is_none() {
                    bail!(
                        "connector `{}`: no mapping file for {}/{stream}; add one under [mappings] dir",
                        handle.id,
                        handle.source.kind()
                    );
                }
            }
            connectors.push(handle);
        }
        let url = config.store_url();
        let store = hrhub_store::open(&url)
            .await
            .with_context(|| format!("cannot open the store at {}", redact(&url)))?;
        Ok(Hub {
            engine: Arc::new(
                SyncEngine::new(store, Arc::new(mappings))
                    .with_lease_ttl(Duration::from_secs(config.sync.lease_ttl_secs)),
            ),
            connectors,
            schedules,
            disabled,
        })
    }

    pub fn connector(&self, id: &str) -> Result<&hrhub_sync::ConnectorHandle> {
        self.connectors
            .iter()
            .find(|c| c.id == id)
            .with_context(|| {
                let ids: Vec<_> = self.connectors.iter().map(|c| c.id.as_str()).collect();
                format!("no enabled connector `{id}`; enabled: {}", ids.join(", "))
            })
    }

    /// Lands an export read by [`read_export`] through file connector
    /// `connector` as one run, unreadable rows quarantined, and prints the
    /// counts.
    pub async fn import(
        &self,
        connector: &str,
        stream: &str,
        import: &hrhub_file::Import,
    ) -> Result<()> {
        let rejected: Vec<_> = import
            .errors
            .iter()
            .map(|e| (e.to_record(stream), format!("row {}: {}", e.row, e.reason)))
            .collect();
        let conn = self.connector(connector)?;
        let o = self
            .engine
            .import(conn, stream, &import.records, &rejected)
            .await?;
        let c = o.counts;
        println!(
            "{}/{}: rows {} · unchanged {} · upserted {} · quarantined {} · filtered {} · unmatched {} (run {})",
            o.connector, o.stream, c.fetched, c.unchanged, c.upserted, c.quarantined, c.filtered, c.unmatched, o.run_id
        );
        if let Err(e) = o.result {
            bail!("import failed: {e}");
        }
        Ok(())
    }

    /// Syncs and prints a summary; exit code 1 if any stream failed.
    pub async fn sync(
        &self,
        connector: Option<&str>,
        stream: Option<&str>,
        full_refresh: bool,
    ) -> Result<i32> {
        let targets: Vec<_> = match connector {
            Some(id) => vec![self.connector(id)?.clone()],
            // file connectors are fed by `hrhub import`, not polled
            None => self
                .connectors
                .iter()
                .filter(|c| c.source.kind() != "file")
                .cloned()
                .collect(),
        };
        if targets.is_empty() {
            bail!("no enabled connectors in the config; add a [[connector]] table");
        }
        let interactive = std::io::stderr().is_terminal();
        let mut failed = false;
        for conn in &targets {
            let id = conn.id.clone();
            let progress: Option<ProgressFn> = interactive.then(|| {
                Arc::new(move |stream: &str, c: &RunCounts| {
                    eprint!(
                        "\r{id}/{stream}: fetched {} · unchanged {} · upserted {} · quarantined {}   ",
                        c.fetched, c.unchanged, c.upserted, c.quarantined
                    );
                }) as ProgressFn
            });
            let options = SyncOptions {
                trigger: RunTrigger::Manual,
                full_refresh,
                progress,
            };
            let streams: Vec<String> = stream.map(|s| vec![s.to_string()]).unwrap_or_default();
            for outcome in self.engine.sync_connector(conn, &streams, &options).await {
                if interactive {
                    eprint!("\r\x1b[2K");
                }
                match outcome {
                    Ok(o) => {
                        let c = o.counts;
                        let verdict = match &o.result {
                            Ok(()) => "ok".to_string(),
                            Err(e) => {
                                failed = true;
                                format!("FAILED: {e}")
                            }
                        };
                        println!(
                            "{}/{}: fetched {} unchanged {} upserted {} quarantined {} filtered {} unmatched {} (run {}) {verdict}",
                            o.connector, o.stream, c.fetched, c.unchanged, c.upserted, c.quarantined, c.filtered, c.unmatched, o.run_id
                        );
                    }
                    Err(e) => {
                        failed = true;
                        println!("{}: FAILED: {e}", conn.id);
                    }
                }
            }
        }
        Ok(if failed { 1 } else { 0 })
    }
}

/// Reads an export with file connector `connector`'s settings and prints
/// what it found; returns the stream and the rows for [`Hub::import`].
pub fn read_export(
    config: &Config,
    connector: &str,
    file: &std::path::Path,
) -> Result<(String, hrhub_file::Import)> {
    let entry = config.connector(connector)?;
    if entry.kind != "file" {
        bail!("connector `{connector}` is of kind `{}`; `hrhub import` needs a connector with kind = \"file\"", entry.kind);
    }
    let settings: hrhub_file::FileConfig = config::connector_settings(entry)?;
    let stream = settings.stream().to_string();
    let import = hrhub_file::read_file_with(file, &stream, &settings.read_options())
        .with_context(|| format!("cannot import {}", file.display()))?;
    println!(
        "{}: {:?}{}, {} rows readable, {} not; rows keyed by {}",
        file.display(),
        import.format,
        import
            .encoding
            .map(|e| format!(" ({e})"))
            .unwrap_or_default(),
        import.records.len(),
        import.errors.len(),
        import.key_columns.join(" + ")
    );
    Ok((stream, import))
}

/// What `hrhub serve` runs (and `hrhub demo` after its first sync): the
/// cron scheduler for the hub's schedules, and the HTTP listener (API,
/// dashboard, webhooks, metrics) on `listener` until `shutdown` resolves;
/// then requests in flight finish and the scheduler stops.
pub async fn serve(
    config: &Config,
    hub: &Hub,
    listener: tokio::net::TcpListener,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> Result<()> {
    let scheduler = hrhub_sync::Scheduler::start(hub.engine.clone(), hub.schedules.clone())
        .await
        .map_err(anyhow::Error::msg)?;
    let scheduler = Arc::new(tokio::sync::Mutex::new(scheduler));
    let mut state = hrhub_server::AppState::new(hub.engine.clone(), hub.connectors.clone());
    state.disabled_connectors = Arc::new(hub.disabled.clone());
    state.sessions.secure_cookie = config.server.secure_cookie;
    state.probation = config.reports.probation;
    state.scheduler = Some(scheduler.clone());
    let addr = listener.local_addr()?;
    let served = hrhub_server::serve_on(listener, state, shutdown)
        .await
        .with_context(|| format!("serving on {addr} failed"));
    scheduler.lock().await.shutdown().await;
    served
}

/// Resolves on Ctrl-C or SIGTERM (what service managers and `docker stop` send).
pub async fn shutdown_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        if let Ok(mut term) = signal(SignalKind::terminate()) {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term.recv() => {}
            }
            return;
        }
    }
    let _ = tokio::signal::ctrl_c().await;
}

async fn token(store: &dyn hrhub_store::Store, command: TokenCommand) -> Result<i32> {
    use hrhub_server::auth::{generate_token, hash_token, Role};
    match command {
        TokenCommand::Create { role, name } => {
            let role = Role::parse(&role)
                .with_context(|| format!("--role must be reader or admin, got `{role}`"))?;
            let token = generate_token();
            store
                .create_token(&name, role.as_str(), &hash_token(&token))
                .await?;
            eprintln!(
                "Created {} token `{name}`. Copy it now; it is not shown again:",
                role.as_str()
            );
            println!("{token}");
        }
        TokenCommand::List => {
            println!("{:<24} {:<8} {:<22} REVOKED", "NAME", "ROLE", "CREATED");
            for t in store.tokens().await? {
                println!(
                    "{:<24} {:<8} {:<22} {}",
                    t.name,
                    t.role,
                    t.created_at.format("%Y-%m-%d %H:%M:%S"),
                    t.revoked_at.map_or("-".to_string(), |r| r
                        .format("%Y-%m-%d %H:%M:%S")
                        .to_string())
                );
            }
        }
        TokenCommand::Revoke { name } => {
            let n = store.revoke_token(&name).await?;
            if n == 0 {
                bail!("no live token named `{name}`; see `hrhub token list`");
            }
            println!("revoked {n} token(s) named `{name}`");
        }
    }
    Ok(0)
}

/// Hides a password in a database URL before it is shown.
fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(s), Some(at)) if at > s => match url[s + 3..at].split_once(':') {
            Some((user, _)) => format!("{}{}:***{}", &url[..s + 3], user, &url[at..]),
            None => url.to_string(),
        },
        _ => url.to_string(),
    }
}
