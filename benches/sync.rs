//! End-to-end sync throughput and memory against the mock platforms, next
//! to baselines measured in the same run on the same machine (figures are
//! ratios; machines here are noisy).
//!
//! `cargo bench --bench sync`. Sizes: `TICKETS` (default 100,000),
//! `TICKETS_LARGE` (default 1,000,000; 0 skips the large run),
//! `DINGTALK_PEOPLE` (default 1,000 people × `DINGTALK_DAYS`, default 70
//! days of attendance: about 100,000 records). PostgreSQL figures need
//! `HRHUB_TEST_POSTGRES_URL` (the bench creates its own databases there).
//!
//! The hub runs as it does for users: `hrhub sync` in a child process
//! against mocks served from this process, so its peak RSS (from `wait4`)
//! is the hub's alone.
//!
//! - e2e: mock HTTP → parse → land → map → resolve → upsert, one stream
//!   (the roster synced first, untimed, so records resolve to employees).
//! - baseline: a plain batched insert of the same final rows into the same
//!   database (multi-row INSERT, 1,000 rows per transaction, a table with
//!   the same columns and indexes): the store's physical limit.
//! - no-op resync: the same stream again from the start with nothing
//!   changed (every record stops at landing).
//! - fetch only: the connector paging through the mock in this process,
//!   nothing written.
//! - mapping engine alone vs the same mapping written by hand.
//! - memory: the child's peak RSS syncing 100,000 and 1,000,000 tickets.

mod common;

use common::*;
use hrhub_connector::synthetic::Company;
use hrhub_connector::{HttpConfig, Source};
use hrhub_mapping::MappingSet;
use hrhub_model::EntityKind;
use hrhub_zendesk::{MockOptions, MockZendesk, Zendesk, ZendeskConfig};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.replace([',', '_'], "").parse().ok())
        .unwrap_or(default)
}

#[tokio::main]
async fn main() {
    let started = Instant::now();
    let tickets = env_usize("TICKETS", 100_000);
    let large = env_usize("TICKETS_LARGE", 1_000_000);
    let people = env_usize("DINGTALK_PEOPLE", 1_000);
    let days = env_usize("DINGTALK_DAYS", 70);
    println!("{}", machine());
    let dir = tempfile::tempdir().unwrap();

    // --- Zendesk tickets, SQLite and PostgreSQL ---------------------------
    let mock = zendesk_mock(tickets).await;
    let sqlite = sqlite_url(dir.path(), "zendesk");
    let small = zendesk_sync(dir.path(), "zendesk", &sqlite, &mock, tickets, "SQLite").await;
    noop_resync(&small, tickets).await;
    fetch_and_mapping(&mock, tickets).await;
    if let Some(pg) = fresh_postgres("hrhub_bench_zendesk").await {
        zendesk_sync(dir.path(), "zendesk-pg", &pg, &mock, tickets, "PostgreSQL").await;
    }
    drop(mock);

    // --- 1,000,000 tickets: rate and memory ------------------------------
    if large > 0 {
        let mock = zendesk_mock(large).await;
        let url = sqlite_url(dir.path(), "zendesk-large");
        let big = zendesk_sync(dir.path(), "zendesk-large", &url, &mock, large, "SQLite").await;
        memory_figure(
            &format!("memory: peak RSS of `hrhub sync`, {large} tickets"),
            big.run.peak_rss_mb,
            &format!("at {tickets} tickets"),
            small.run.peak_rss_mb,
            100.0,
            1.25,
        );
    }

    // --- DingTalk attendance, SQLite and PostgreSQL ------------------------
    let company = Arc::new(Company::generate(42, people));
    let dingtalk = hrhub_dingtalk::mock::MockDingTalk::start(hrhub_dingtalk::mock::MockOptions {
        history_days: days as i64,
        qps_limit: None,
        company: Some(company),
        ..Default::default()
    })
    .await;
    let url = sqlite_url(dir.path(), "dingtalk");
    dingtalk_sync(dir.path(), "dingtalk", &url, &dingtalk, days, "SQLite").await;
    if let Some(pg) = fresh_postgres("hrhub_bench_dingtalk").await {
        dingtalk_sync(
            dir.path(),
            "dingtalk-pg",
            &pg,
            &dingtalk,
            days,
            "PostgreSQL",
        )
        .await;
    }
    println!(
        "sync bench finished in {:.0} s",
        started.elapsed().as_secs_f64()
    );
}

fn sqlite_url(dir: &Path, name: &str) -> String {
    format!("sqlite://{}", dir.join(format!("{name}.db")).display())
}

/// A Zendesk mock with `tickets`, its export pages rendered ahead (the
/// platform's rendering is not the hub's work, and on these two shared
/// cores it would otherwise take as much CPU as the hub).
async fn zendesk_mock(tickets: usize) -> hrhub_zendesk::MockHandle {
    let mock = MockZendesk::start(MockOptions {
        tickets,
        // a fixed clock: the same data in every run
        now: Some(1_790_000_000),
        ..MockOptions::default()
    })
    .await;
    mock.prerender();
    mock
}

/// A synced stream: where it lives and how its sync went.
struct Synced {
    config: PathBuf,
    connector: &'static str,
    stream: &'static str,
    run: ChildRun,
}

/// `hrhub.toml` in `dir/name/` with the store and one connector table.
fn write_config(dir: &Path, name: &str, store_url: &str, connector: &str) -> PathBuf {
    let dir = dir.join(name);
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("hrhub.toml");
    std::fs::write(
        &path,
        format!("[store]\nurl = \"{store_url}\"\n\n{connector}"),
    )
    .unwrap();
    path
}

/// Syncs Zendesk `users` (untimed), then `tickets` (the e2e figure), then
/// inserts the same final rows again (the baseline).
async fn zendesk_sync(
    dir: &Path,
    name: &str,
    store_url: &str,
    mock: &hrhub_zendesk::MockHandle,
    tickets: usize,
    backend: &str,
) -> Synced {
    let config = write_config(
        dir,
        name,
        store_url,
        &format!(
            r#"[[connector]]
id = "zd"
kind = "zendesk"
base_url = "{}"
start_time = 0
incremental_requests_per_minute = 1000000
requests_per_minute = 1000000
[connector.auth]
type = "api_token"
email = "admin@acme.example"
token = "mock-api-token"
"#,
            mock.base_url()
        ),
    );
    hrhub(&config, &["sync", "--connector", "zd", "--stream", "users"]).await;
    let (run, rows, baseline_secs) = timed_sync_and_baseline(
        &config,
        store_url,
        ("zd", "tickets"),
        EntityKind::TicketActivity,
        &format!("{tickets} Zendesk tickets, {backend}"),
    )
    .await;
    assert_eq!(rows, tickets, "every ticket is a row");
    rate_figure(
        &format!("e2e sync, {tickets} Zendesk tickets, {backend}"),
        tickets,
        run.secs,
        "batched insert",
        rows,
        baseline_secs,
        Target::RatioAtLeast(0.5),
    );
    Synced {
        config,
        connector: "zd",
        stream: "tickets",
        run,
    }
}

/// The same stream again from the start, nothing changed.
async fn noop_resync(first: &Synced, records: usize) {
    let run = hrhub(
        &first.config,
        &[
            "sync",
            "--connector",
            first.connector,
            "--stream",
            first.stream,
            "--full-refresh",
        ],
    )
    .await;
    cpu_context(&format!("no-op resync, {records} records"), &run);
    rate_figure(
        &format!("no-op resync, {records} records, SQLite"),
        records,
        run.secs,
        "first sync",
        records,
        first.run.secs,
        Target::FasterAtLeast(20.0),
    );
}

/// Fetch only (the connector in this process, nothing written), and the
/// mapping engine against the same mapping written by hand.
async fn fetch_and_mapping(mock: &hrhub_zendesk::MockHandle, tickets: usize) {
    let config = ZendeskConfig {
        requests_per_minute: Some(1_000_000),
        incremental_requests_per_minute: Some(1_000_000),
        start_time: Some(0),
        ..ZendeskConfig::api_token(&mock.base_url(), "admin@acme.example", "mock-api-token")
    };
    let source = Zendesk::new(config, HttpConfig::for_local_mocks()).unwrap();
    let (bytes, transfer_secs) = transfer_only(&mock.base_url(), false).await;
    println!(
        "context: transfer only (every export page over HTTP, {:.0} MB, nothing parsed): {} rec/s, \
         {transfer_secs:.2} s; no full re-read can take less",
        bytes as f64 / 1e6,
        thousands(tickets as f64 / transfer_secs)
    );
    let (_, split_secs) = transfer_only(&mock.base_url(), true).await;
    println!(
        "context: raw re-read floor (each page split into its records' text and each hashed, \
         no JSON trees): {} rec/s, {split_secs:.2} s; a re-read that parsed only changed records \
         could take no less",
        thousands(tickets as f64 / split_secs)
    );
    let started = Instant::now();
    let fetched = hrhub_connector::read_to_end(&source as &dyn Source, "tickets", None, usize::MAX)
        .await
        .unwrap()
        .records;
    let fetch_secs = started.elapsed().as_secs_f64();
    assert_eq!(fetched.len(), tickets);
    // the first sync's figure is printed above; this one is for context
    println!(
        "context: fetch only (mock HTTP → parse, nothing written): {} rec/s",
        thousands(tickets as f64 / fetch_secs)
    );

    let mut mappings = MappingSet::new();
    for m in MappingSet::load_dir(&Path::new(env!("CARGO_MANIFEST_DIR")).join("mappings"))
        .expect("shipped mappings load")
    {
        mappings.add(m).unwrap();
    }
    let mapping = mappings.get("zendesk", "tickets").expect("tickets mapping");
    let payloads: Vec<serde_json::Value> = fetched.into_iter().map(|r| r.payload).collect();
    let by_mapping = |p: &serde_json::Value| match mapping.apply(p) {
        Ok(hrhub_mapping::MapOutcome::Mapped(m)) => Some(m),
        _ => None,
    };
    for p in payloads.iter().take(1_000) {
        assert_eq!(
            by_mapping(p),
            hand_mapped(p),
            "the hand-written baseline maps alike"
        );
    }
    let (mapping_secs, mapped) = time_all(&payloads, by_mapping);
    let (hand_secs, hand) = time_all(&payloads, hand_mapped);
    assert_eq!(mapped, hand);
    rate_figure(
        "mapping engine, shipped 10-field tickets mapping",
        mapped,
        mapping_secs,
        "hand-written Rust",
        hand,
        hand_secs,
        Target::RatioAtLeast(0.3),
    );
}

/// One export page split into its records' JSON text, nothing else parsed.
#[derive(serde::Deserialize)]
struct RawExportPage<'a> {
    #[serde(borrow)]
    tickets: Vec<&'a serde_json::value::RawValue>,
    #[serde(borrow)]
    metric_sets: Vec<&'a serde_json::value::RawValue>,
}

/// Every page of the tickets export fetched as bytes, only the cursor
/// looked for: the floor of any full re-read (the no-op resync) on this
/// machine. With `split_and_hash`, each page is also split into its
/// tickets' and metric sets' text and each is hashed (SHA-256): the floor
/// of a re-read that hashed raw records and parsed only changed ones.
/// Returns (bytes, seconds).
async fn transfer_only(base_url: &str, split_and_hash: bool) -> (usize, f64) {
    use sha2::{Digest, Sha256};
    let client = reqwest::Client::new();
    let url = format!("{base_url}/api/v2/incremental/tickets/cursor.json");
    let (mut bytes, mut cursor) = (0, None::<String>);
    let started = Instant::now();
    loop {
        let position = match &cursor {
            Some(c) => ("cursor", c.clone()),
            None => ("start_time", "0".to_string()),
        };
        let body = client
            .get(&url)
            .basic_auth("admin@acme.example/token", Some("mock-api-token"))
            .query(&[
                position,
                ("include", "metric_sets".into()),
                ("per_page", "1000".into()),
            ])
            .send()
            .await
            .unwrap()
            .error_for_status()
            .unwrap()
            .bytes()
            .await
            .unwrap();
        bytes += body.len();
        if split_and_hash {
            let page: RawExportPage = serde_json::from_slice(&body).unwrap();
            for text in page.tickets.iter().chain(&page.metric_sets) {
                std::hint::black_box(Sha256::digest(text.get().as_bytes()));
            }
        }
        // the mock puts the cursor fields after the ticket lists
        let text = String::from_utf8_lossy(&body[body.len().saturating_sub(4096)..]);
        if text.contains("\"end_of_stream\":true") {
            break;
        }
        let after = text
            .split("\"after_cursor\":\"")
            .nth(1)
            .expect("a page has a cursor");
        cursor = Some(after[..after.find('"').unwrap()].to_string());
    }
    (bytes, started.elapsed().as_secs_f64())
}

/// Syncs DingTalk `departments` and `users` (untimed), then `attendance`
/// over `days` (the e2e figure), then the baseline insert.
async fn dingtalk_sync(
    dir: &Path,
    name: &str,
    store_url: &str,
    mock: &hrhub_dingtalk::mock::MockHandle,
    days: usize,
    backend: &str,
) -> Synced {
    let options = mock.options();
    let config = write_config(
        dir,
        name,
        store_url,
        &format!(
            r#"[[connector]]
id = "dt"
kind = "dingtalk"
base_url = "{url}"
api_base_url = "{url}"
app_key = "{key}"
app_secret = "{secret}"
start_date = "{start}"
requests_per_second = 100000
"#,
            url = mock.base_url(),
            key = options.app_key,
            secret = options.app_secret,
            start = mock.today() - chrono::Days::new(days as u64),
        ),
    );
    for stream in ["departments", "users"] {
        hrhub(&config, &["sync", "--connector", "dt", "--stream", stream]).await;
    }
    let (run, rows, baseline_secs) = timed_sync_and_baseline(
        &config,
        store_url,
        ("dt", "attendance"),
        EntityKind::AttendanceRecord,
        &format!("DingTalk attendance, {backend}"),
    )
    .await;
    assert!(rows > 0, "attendance was synced");
    rate_figure(
        &format!("e2e sync, {rows} DingTalk attendance records, {backend}"),
        rows,
        run.secs,
        "batched insert",
        rows,
        baseline_secs,
        Target::RatioAtLeast(0.5),
    );
    Synced {
        config,
        connector: "dt",
        stream: "attendance",
        run,
    }
}

/// Syncs `(connector, stream)` (the timed e2e run, its CPU printed as
/// `what`), then inserts the resulting `entity` rows again as the baseline:
/// (the run, rows, baseline seconds).
async fn timed_sync_and_baseline(
    config: &Path,
    store_url: &str,
    (connector, stream): (&str, &str),
    entity: EntityKind,
    what: &str,
) -> (ChildRun, usize, f64) {
    let run = hrhub(
        config,
        &["sync", "--connector", connector, "--stream", stream],
    )
    .await;
    cpu_context(what, &run);
    let store = hrhub_store::open(store_url).await.unwrap();
    let (rows, baseline_secs) = baseline_insert(&*store, store_url, entity).await;
    // what bounds the e2e figure: the baseline's rows plus the raw records
    // the hub must also keep, written the baseline's way
    let (raw, raw_secs) = raw_records_insert(&*store, store_url, (connector, stream)).await;
    assert!(raw >= rows, "a row per raw record");
    let floor = rows as f64 / (baseline_secs + raw_secs);
    println!(
        "context: {what}: the rows and the raw records batched (the hub's write floor): \
         {} rec/s; the sync reached {:.2}x of it",
        thousands(floor),
        rows as f64 / run.secs / floor
    );
    (run, rows, baseline_secs)
}

/// How much of a run's wall time the hub itself was on a CPU (the rest of
/// the two cores went to the mock, the database server, or waiting).
fn cpu_context(what: &str, run: &ChildRun) {
    println!(
        "context: {what}: the hub used {:.1} s of CPU in {:.1} s ({:.0}% of one core)",
        run.cpu_secs,
        run.secs,
        100.0 * run.cpu_secs / run.secs
    );
}

/// Maps every payload with `f`; (seconds, how many mapped).
fn time_all(
    payloads: &[serde_json::Value],
    f: impl Fn(&serde_json::Value) -> Option<hrhub_model::MappedEntity>,
) -> (f64, usize) {
    let started = Instant::now();
    let mapped = payloads.iter().filter_map(&f).count();
    (started.elapsed().as_secs_f64(), mapped)
}

/// mappings/zendesk/tickets.toml written by hand over serde_json values:
/// the baseline of the mapping-engine figure.
fn hand_mapped(p: &serde_json::Value) -> Option<hrhub_model::MappedEntity> {
    use hrhub_model::{FieldValue, IdentityKeys};
    let text = |v: &serde_json::Value| match v {
        serde_json::Value::String(s) => FieldValue::Text(s.clone()),
        serde_json::Value::Number(n) => FieldValue::Text(n.to_string()),
        _ => FieldValue::Null,
    };
    let time = |v: &serde_json::Value| {
        v.as_str()
            .and_then(|s| chrono::DateTime::parse_from_rfc3339(s).ok())
            .map_or(FieldValue::Null, |t| {
                FieldValue::DateTime(t.with_timezone(&chrono::Utc))
            })
    };
    let int = |v: &serde_json::Value| v.as_i64().map_or(FieldValue::Null, FieldValue::Integer);
    let metrics = &p["metric_set"];
    let key = p["id"].as_u64()?.to_string();
    let status = p["status"].as_str()?;
    if !hrhub_model::TICKET_STATUSES.contains(&status) {
        return None;
    }
    Some(hrhub_model::MappedEntity {
        entity: hrhub_model::EntityKind::TicketActivity,
        key: key.clone(),
        identity: IdentityKeys {
            external_id: p["assignee_id"].as_u64().map(|id| id.to_string()),
            ..IdentityKeys::default()
        },
        fields: vec![
            ("ticket_id", FieldValue::Text(key)),
            ("assignee_id", text(&p["assignee_id"])),
            ("status", FieldValue::Text(status.to_string())),
            ("priority", text(&p["priority"])),
            ("channel", text(&p["via"]["channel"])),
            ("created_at", time(&p["created_at"])),
            ("solved_at", time(&metrics["solved_at"])),
            (
                "first_reply_minutes",
                int(&metrics["reply_time_in_minutes"]["calendar"]),
            ),
            (
                "full_resolution_minutes",
                int(&metrics["full_resolution_time_in_minutes"]["calendar"]),
            ),
            ("reopens", int(&metrics["reopens"])),
        ],
        source_updated_at: p["updated_at"]
            .as_str()
            .and_then(|s| chrono::DateTime::parse_from_rfc3339(s).ok())
            .map(|t| t.with_timezone(&chrono::Utc)),
    })
}
