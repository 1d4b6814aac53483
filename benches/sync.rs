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
    let tickets_mapping = mappings.get("zendesk", "tickets").expect("tickets mapping");
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
        Arc::new(Zendesk::new(config, HttpConfig::for_local_mocks()).unwrap()) as Arc<dyn Source>,
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
        .records;
    let fetch_secs = started.elapsed().as_secs_f64();
    assert_eq!(fetched.len(), tickets);

    // mapping engine alone vs the same transformation written by hand
    let payloads: Vec<serde_json::Value> = fetched.into_iter().map(|r| r.payload).collect();
    let mapping = tickets_mapping.clone();
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
    println!(
        "mapping engine (10-field tickets mapping): {:.0} records/s, {:.2}x of hand-written Rust ({:.0} records/s)",
        rate(mapping_secs),
        hand_secs / mapping_secs,
        rate(hand_secs)
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
