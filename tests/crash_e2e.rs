//! Issue 6, item 1: a sync killed with SIGKILL at random points, restarted
//! each time, ends with the same store as an uninterrupted sync: nothing
//! lost, nothing duplicated, the change log without gaps. After every kill
//! the committed checkpoint is never ahead of the committed data.
//!
//! Size and kills: `HRHUB_CRASH_TICKETS` (default 100,000) and
//! `HRHUB_CRASH_KILLS` (default 20); `HRHUB_CRASH_SEED` repeats a run (the
//! seed is printed).

mod common;

use common::*;
use hrhub_store::Store;
use sqlx::Row;
use std::collections::HashSet;
use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

fn env_or(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// xorshift64*: enough randomness for kill points, and repeatable.
struct Rng(u64);

impl Rng {
    fn next_f64(&mut self) -> f64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        (self.0.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// The ticket ids whose rows are committed, read straight from the file.
async fn committed_tickets(dir: &Path) -> HashSet<u64> {
    let pool = sqlx::SqlitePool::connect(&format!("sqlite://{}", dir.join("hrhub.db").display()))
        .await
        .unwrap();
    let rows = sqlx::query("SELECT source_key FROM ticket_activities WHERE connector = 'zd'")
        .fetch_all(&pool)
        .await
        .unwrap();
    pool.close().await;
    rows.iter()
        .map(|r| r.get::<String, _>(0).parse().unwrap())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_at_random_points_then_resume_equals_an_uninterrupted_sync() {
    let tickets = env_or("HRHUB_CRASH_TICKETS", 100_000) as usize;
    let wanted_kills = env_or("HRHUB_CRASH_KILLS", 20);
    let seed = env_or(
        "HRHUB_CRASH_SEED",
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos() as u64
            | 1,
    );
    eprintln!("crash_e2e: {tickets} tickets, {wanted_kills} kills, HRHUB_CRASH_SEED={seed}");
    let mut rng = Rng(seed);
    let mock = mock(tickets).await;
    // many commit points to land a kill between or inside
    let extra = "page_size = 500";

    let reference_dir = tempfile::tempdir().unwrap();
    let reference_config = write_config(reference_dir.path(), &mock, extra);
    let started = Instant::now();
    let out = hrhub(&reference_config, &["sync"]).await;
    let full_sync = started.elapsed();
    assert!(out.status.success(), "{}", stdout(&out));
    let reference_store = open_store(reference_dir.path()).await;
    let expected = snapshot(&reference_store).await;
    let expected_changes = change_log_len(&reference_store).await;
    assert_eq!(
        expected
            .iter()
            .find(|(k, _)| *k == hrhub_model::EntityKind::TicketActivity)
            .unwrap()
            .1
            .len(),
        tickets,
        "the uninterrupted sync holds every source ticket"
    );

    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path(), &mock, extra);
    // Each restart resumes, so the kills must come well inside the first
    // sync's time: on average 1/(2×kills) of it after each start.
    let mean_gap = full_sync.as_secs_f64() / (2.0 * wanted_kills as f64);
    let mut kills = 0;
    let mut attempts = 0;
    while kills < wanted_kills && attempts < wanted_kills * 3 {
        attempts += 1;
        let mut child = hrhub_command()
            .arg("--config")
            .arg(&config)
            .arg("sync")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let delay = Duration::from_secs_f64(mean_gap * (0.2 + 1.6 * rng.next_f64()));
        tokio::time::sleep(delay).await;
        let finished = child.try_wait().unwrap().is_some();
        if !finished {
            child.kill().unwrap(); // SIGKILL on Unix
            kills += 1;
        }
        child.wait().unwrap();
        if finished {
            break;
        }

        // the checkpoint is never ahead of what is committed
        let store = open_store(dir.path()).await;
        let cursor = store
            .stream_state("zd", "tickets")
            .await
            .unwrap()
            .and_then(|s| s.cursor);
        if let Some(cursor) = cursor {
            let passed = mock.tickets_passed(&cursor).unwrap_or_else(|| {
                panic!("the hub saved a cursor the mock never issued: {cursor}")
            });
            let committed = committed_tickets(dir.path()).await;
            let missing = passed.iter().filter(|id| !committed.contains(id)).count();
            assert_eq!(
                missing, 0,
                "after kill {kills}: the cursor has passed {missing} tickets that are not committed (seed {seed})"
            );
        }
        change_log_len(&store).await; // gap-free after every kill
    }
    assert!(
        kills * 4 >= wanted_kills * 3,
        "only {kills} of {wanted_kills} kills landed mid-sync (seed {seed})"
    );
    let out = hrhub(&config, &["sync"]).await;
    assert!(out.status.success(), "{}", stdout(&out));

    let store = open_store(dir.path()).await;
    let got = snapshot(&store).await;
    for ((kind, want), (_, have)) in expected.iter().zip(&got) {
        assert_eq!(
            want.len(),
            have.len(),
            "{kind}: row count differs after {kills} kills (seed {seed})"
        );
        assert!(
            want == have,
            "{kind}: rows differ after {kills} kills (seed {seed})"
        );
    }
    assert_eq!(
        change_log_len(&store).await,
        expected_changes,
        "change log differs (seed {seed})"
    );
    // interrupted runs are shown as such, not as running forever
    let status = status_json(&config).await;
    for s in status["streams"].as_array().unwrap() {
        assert_eq!(s["status"], "done", "{s}");
    }
    eprintln!(
        "crash_e2e: {kills} kills landed; uninterrupted sync took {:.1}s",
        full_sync.as_secs_f64()
    );
}
