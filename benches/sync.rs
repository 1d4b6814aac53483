//! End-to-end sync throughput against the mock Zendesk, next to baselines
//! measured in the same run on the same machine (figures are ratios;
//! machines here are noisy).
//!
//! `cargo bench --bench sync` (TICKETS=N to change the size, default 100,000).
//!
//! - e2e: mock HTTP → parse → land → map → resolve → upsert, `tickets` stream.
//! - baseline: a plain batched insert of the same final rows into a fresh
//!   SQLite file (multi-row INSERT, 1,000 rows per transaction): the store's
//!   physical limit for these rows.
//! - no-op resync: the same stream again from the start with nothing changed
//!   (every record stops at landing).

use hrhub_connector::{HttpConfig, Source};
use hrhub_mapping::MappingSet;
use hrhub_model::EntityKind;
use hrhub_store::{SqliteStore, Store};
use hrhub_sync::{ConnectorHandle, SyncEngine, SyncOptions};
use hrhub_zendesk::{MockOptions, MockZendesk, Zendesk, ZendeskAuth, ZendeskConfig};
use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

#[tokio::main]
async fn main() {
    let tickets: usize = std::env::var("TICKETS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100_000);
    let dir = tempfile::tempdir().unwrap();
    let mock = MockZendesk::start(MockOptions {
        tickets,
        now: Some(1_790_000_000),
        ..MockOptions::default()
    })
    .await;

    let mut mappings = MappingSet::new();
    for m in MappingSet::load_dir(&Path::new(env!("CARGO_MANIFEST_DIR")).join("mappings"))
        .expect("shipped mappings load")
    {
        mappings.add(m).unwrap();
    }
    let store: Arc<dyn Store> = Arc::new(
        SqliteStore::open(&format!("sqlite://{}", dir.path().join("hub.db").display()))
            .await
            .unwrap(),
    );
    let engine = SyncEngine::new(store.clone(), Arc::new(mappings));
    let config = ZendeskConfig {
        requests_per_minute: Some(1_000_000),
        incremental_requests_per_minute: Some(1_000_000),
        start_time: Some(0),
        ..ZendeskConfig::api_token(&mock.base_url(), "admin@acme.example", "mock-api-token")
    };
    assert!(matches!(config.auth, ZendeskAuth::ApiToken { .. }));
    let conn = ConnectorHandle::new(
        "zd",
        Arc::new(Zendesk::new(config, HttpConfig::default()).unwrap()) as Arc<dyn Source>,
    );
    let options = SyncOptions::default();
    engine.sync_stream(&conn, "users", &options).await.unwrap();

    let started = Instant::now();
    let first = engine
        .sync_stream(&conn, "tickets", &options)
        .await
        .unwrap();
    let e2e_secs = started.elapsed().as_secs_f64();
    assert!(first.result.is_ok(), "{:?}", first.result);
    assert_eq!(first.counts.upserted as usize, tickets);

    let started = Instant::now();
    let again = engine
        .sync_stream(
            &conn,
            "tickets",
            &SyncOptions {
                full_refresh: true,
                ..SyncOptions::default()
            },
        )
        .await
        .unwrap();
    let noop_secs = started.elapsed().as_secs_f64();
    assert_eq!(again.counts.unchanged as usize, tickets);

    // fetch only: the connector paging through the mock, nothing written
    let started = Instant::now();
    let fetched = hrhub_connector::read_to_end(&*conn.source, "tickets", None, usize::MAX)
        .await
        .unwrap()
        .records
        .len();
    let fetch_secs = started.elapsed().as_secs_f64();
    assert_eq!(fetched, tickets);

    let rows = all_rows(&*store).await;
    let baseline_secs = batched_insert(dir.path(), &rows).await;

    let rate = |secs: f64| tickets as f64 / secs;
    println!(
        "machine: {} cores; {tickets} Zendesk tickets; SQLite (WAL, synchronous=NORMAL)",
        std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(0)
    );
    println!("{:<44} {:>12} {:>10}", "figure", "records/s", "ratio");
    println!(
        "{:<44} {:>12.0} {:>10}",
        "baseline: batched insert of the final rows",
        rate(baseline_secs),
        "1.00"
    );
    println!(
        "{:<44} {:>12.0} {:>9.2}x",
        "e2e sync (HTTP → land → map → upsert)",
        rate(e2e_secs),
        baseline_secs / e2e_secs
    );
    println!(
        "{:<44} {:>12.0} {:>9.2}x",
        "no-op resync (all unchanged at landing)",
        rate(noop_secs),
        baseline_secs / noop_secs
    );
    println!(
        "{:<44} {:>12.0} {:>9.2}x",
        "fetch only (mock HTTP → parse, no store)",
        rate(fetch_secs),
        baseline_secs / fetch_secs
    );
    println!(
        "no-op resync is {:.1}x faster than the first sync",
        e2e_secs / noop_secs
    );
}

async fn all_rows(store: &dyn Store) -> Vec<serde_json::Map<String, serde_json::Value>> {
    let mut rows = Vec::new();
    let mut after = 0;
    loop {
        let page = store
            .entity_rows(EntityKind::TicketActivity, after, 10_000)
            .await
            .unwrap();
        let Some(last) = page.last() else { break };
        after = last["id"].as_i64().unwrap();
        rows.extend(page);
    }
    rows
}

/// Inserts `rows` into a fresh table with the same columns; returns seconds.
async fn batched_insert(dir: &Path, rows: &[serde_json::Map<String, serde_json::Value>]) -> f64 {
    use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqliteSynchronous};
    let options = SqliteConnectOptions::new()
        .filename(dir.join("baseline.db"))
        .create_if_missing(true)
        .journal_mode(SqliteJournalMode::Wal)
        .synchronous(SqliteSynchronous::Normal);
    let pool = sqlx::SqlitePool::connect_with(options).await.unwrap();
    let columns: Vec<&str> = EntityKind::TicketActivity
        .fields()
        .iter()
        .map(|f| f.name)
        .collect();
    sqlx::query(&format!(
        "CREATE TABLE t (id INTEGER PRIMARY KEY, connector TEXT, source_key TEXT, employee_id INTEGER, {}, UNIQUE (connector, source_key))",
        columns.join(" , ")
    ))
    .execute(&pool)
    .await
    .unwrap();
    let started = Instant::now();
    for chunk in rows.chunks(1_000) {
        let mut tx = pool.begin().await.unwrap();
        for part in chunk.chunks(2_000 / (columns.len() + 3)) {
            let mut qb = sqlx::QueryBuilder::<sqlx::Sqlite>::new(format!(
                "INSERT INTO t (connector, source_key, employee_id, {}) ",
                columns.join(", ")
            ));
            qb.push_values(part, |mut b, row| {
                b.push_bind(row["connector"].as_str().map(str::to_string))
                    .push_bind(row["source_key"].as_str().map(str::to_string))
                    .push_bind(row["employee_id"].as_i64());
                for c in &columns {
                    match &row[*c] {
                        serde_json::Value::Number(n) if n.is_i64() => b.push_bind(n.as_i64()),
                        serde_json::Value::Number(n) => b.push_bind(n.as_f64()),
                        serde_json::Value::String(s) => b.push_bind(Some(s.clone())),
                        _ => b.push_bind(None::<String>),
                    };
                }
            });
            qb.build().execute(&mut *tx).await.unwrap();
        }
        tx.commit().await.unwrap();
    }
    started.elapsed().as_secs_f64()
}
