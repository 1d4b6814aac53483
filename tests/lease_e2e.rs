//! Two `hrhub serve` processes on one PostgreSQL with the same schedule:
//! the stream leases keep them from ever running the same stream at once,
//! and when the process holding a stream is killed mid-run the other takes
//! the stream over and finishes it.
//!
//! Needs `HRHUB_TEST_POSTGRES_URL` (as the store conformance suite does);
//! without it the test prints a notice and passes.

mod common;

use common::*;
use hrhub_model::RunStatus;
use sqlx::Connection;
use std::time::{Duration, Instant};

const STREAMS: [&str; 4] = ["users", "tickets", "ticket_metrics", "satisfaction_ratings"];

/// A fresh database next to the one in `url`, and its URL.
async fn fresh_database(url: &str, name: &str) -> String {
    let mut conn = sqlx::PgConnection::connect(url)
        .await
        .unwrap_or_else(|e| panic!("HRHUB_TEST_POSTGRES_URL is set but unusable: {e}"));
    sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
        .execute(&mut conn)
        .await
        .unwrap();
    sqlx::query(&format!("CREATE DATABASE {name}"))
        .execute(&mut conn)
        .await
        .unwrap();
    let (base, _) = url.split('?').next().unwrap().rsplit_once('/').unwrap();
    format!("{base}/{name}")
}

fn write_pg_config(
    dir: &std::path::Path,
    store_url: &str,
    zendesk: &str,
    port: u16,
) -> std::path::PathBuf {
    let path = dir.join("hrhub.toml");
    std::fs::write(
        &path,
        format!(
            r#"[store]
url = "{store_url}"

[server]
listen = "127.0.0.1:{port}"

[sync]
lease_ttl_secs = 30

[[connector]]
id = "zd"
kind = "zendesk"
base_url = "{zendesk}"
start_time = 0
# slow enough that a run spans several ticks of the schedule
incremental_requests_per_minute = 120
requests_per_minute = 600
schedule = "*/2 * * * * *"

[connector.auth]
type = "api_token"
email = "admin@acme.example"
token = "mock-api-token"
"#
        ),
    )
    .unwrap();
    path
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_serve_processes_share_streams_by_lease_and_take_over_from_a_dead_one() {
    let Ok(pg) = std::env::var("HRHUB_TEST_POSTGRES_URL") else {
        eprintln!("NOTICE: HRHUB_TEST_POSTGRES_URL unset; the two-process lease test is skipped");
        return;
    };
    let store_url = fresh_database(&pg, "hrhub_lease_e2e").await;
    let mock = mock(3_000).await;
    let (dir_a, dir_b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let (port_a, port_b) = (free_port(), free_port());
    let config_a = write_pg_config(dir_a.path(), &store_url, &mock.base_url(), port_a);
    let config_b = write_pg_config(dir_b.path(), &store_url, &mock.base_url(), port_b);
    let a = serve(&config_a, port_a).await;
    let b = serve(&config_b, port_b).await;
    let store = hrhub_store::open(&store_url).await.unwrap();

    // wait until one of them is in the middle of the tickets stream, then kill it
    let deadline = Instant::now() + Duration::from_secs(60);
    let holder = loop {
        assert!(Instant::now() < deadline, "no process ever took zd/tickets");
        if let Some(holder) = store.lease_holder("zd/tickets").await.unwrap() {
            let running = store.runs(Some("zd"), Some("tickets"), 1).await.unwrap();
            if running
                .first()
                .is_some_and(|r| r.status == RunStatus::Running && r.counts.fetched > 0)
            {
                break holder;
            }
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let pid: u32 = holder.split(':').nth(1).unwrap().parse().unwrap();
    let survivor = if pid == a.pid() {
        drop(a); // SIGKILL, reaped
        b
    } else {
        assert_eq!(pid, b.pid(), "the lease holder is one of the two processes");
        drop(b);
        a
    };
    let killed_at = chrono::Utc::now();

    // the survivor takes the stream over and finishes it
    let deadline = Instant::now() + Duration::from_secs(90);
    loop {
        assert!(
            Instant::now() < deadline,
            "the surviving process never finished zd/tickets after the kill"
        );
        let runs = store.runs(Some("zd"), Some("tickets"), 100).await.unwrap();
        if runs
            .iter()
            .any(|r| r.status == RunStatus::Succeeded && r.started_at > killed_at)
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    drop(survivor);

    // never two runs of one stream at once: each run ended before the next began
    let mut runs_seen = 0;
    for stream in STREAMS {
        let mut runs = store.runs(Some("zd"), Some(stream), 10_000).await.unwrap();
        runs.sort_by_key(|r| r.started_at);
        runs_seen += runs.len();
        for pair in runs.windows(2) {
            let ended = pair[0].finished_at.unwrap_or_else(|| {
                panic!(
                    "{stream}: run {} never finished but run {} started",
                    pair[0].id, pair[1].id
                )
            });
            assert!(
                ended <= pair[1].started_at,
                "{stream}: run {} ({} – {ended}) overlaps run {} (from {})",
                pair[0].id,
                pair[0].started_at,
                pair[1].id,
                pair[1].started_at
            );
        }
    }
    assert!(runs_seen >= 5, "too few runs to tell: {runs_seen}");
    let tickets = store
        .runs(Some("zd"), Some("tickets"), 10_000)
        .await
        .unwrap();
    assert!(
        tickets.iter().any(|r| r.status == RunStatus::Failed
            && r.error
                .as_deref()
                .is_some_and(|e| e.contains("interrupted"))),
        "the killed run is closed as interrupted: {tickets:?}"
    );
    // and the data is whole: every ticket once
    let (rows, _) = store
        .entity_counts(hrhub_model::EntityKind::TicketActivity)
        .await
        .unwrap();
    assert_eq!(rows, 3_000);
}
