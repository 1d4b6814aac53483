//! What the benchmarks share: the figure table, the `hrhub` binary as a
//! child process (with its peak RSS), a fresh PostgreSQL database, and the
//! batched-insert baseline.
//!
//! Every figure is printed as `FIGURE | name | value | baseline | ratio |
//! target | met`, so `scripts/bench` can gather the three benches' figures
//! into one table at the end.

#![allow(dead_code)]

use chrono::{DateTime, NaiveDate, Utc};
use hrhub_model::{EntityKind, FieldType};
use hrhub_store::Store;
use std::path::Path;
use std::time::{Duration, Instant};

pub const BIN: &str = env!("CARGO_BIN_EXE_hrhub");

/// What a figure must reach.
#[derive(Debug, Clone, Copy)]
pub enum Target {
    /// value / baseline (higher is better) at least this.
    RatioAtLeast(f64),
    /// baseline / value (value is a time; how many times faster) at least this.
    FasterAtLeast(f64),
    /// value (milliseconds) below this.
    MillisBelow(f64),
    /// value (MB) below this, and value / baseline at most `flat` (the
    /// baseline being the same measure at a tenth of the size).
    MegabytesBelow { limit: f64, flat: f64 },
    /// Printed for context, no target.
    None,
}

/// One printed line of the results table.
pub struct Figure {
    pub name: String,
    /// The measured value with its unit, e.g. `6,512 rec/s`.
    pub value: String,
    pub baseline: String,
    /// The ratio as printed (`0.44x`).
    pub ratio: String,
    pub target: String,
    pub met: Option<bool>,
}

impl Figure {
    pub fn print(&self) {
        println!(
            "FIGURE | {} | {} | {} | {} | {} | {}",
            self.name,
            self.value,
            self.baseline,
            self.ratio,
            self.target,
            match self.met {
                Some(true) => "yes",
                Some(false) => "NO",
                None => "-",
            }
        );
    }
}

/// A rate figure: `records` in `secs` against a baseline's rate (value /
/// baseline, higher is better).
pub fn rate_figure(
    name: &str,
    records: usize,
    secs: f64,
    baseline_name: &str,
    baseline_records: usize,
    baseline_secs: f64,
    target: Target,
) -> Figure {
    let (rate, base) = (
        records as f64 / secs,
        baseline_records as f64 / baseline_secs,
    );
    let ratio = rate / base;
    let (target_text, met) = match target {
        Target::RatioAtLeast(t) => (format!("≥ {t:.2}x"), Some(ratio >= t)),
        Target::FasterAtLeast(t) => (format!("≥ {t:.0}x"), Some(ratio >= t)),
        _ => ("-".to_string(), None),
    };
    let figure = Figure {
        name: name.to_string(),
        value: format!("{} rec/s ({records} in {secs:.1} s)", thousands(rate)),
        baseline: format!("{baseline_name}: {} rec/s", thousands(base)),
        ratio: format!("{ratio:.2}x"),
        target: target_text,
        met,
    };
    figure.print();
    figure
}

/// A latency figure in milliseconds against a baseline latency.
pub fn millis_figure(
    name: &str,
    value_ms: f64,
    baseline_name: &str,
    baseline_ms: f64,
    limit_ms: f64,
) -> Figure {
    let figure = Figure {
        name: name.to_string(),
        value: format!("{value_ms:.2} ms"),
        baseline: format!("{baseline_name}: {baseline_ms:.2} ms"),
        ratio: format!("{:.2}x", value_ms / baseline_ms),
        target: format!("< {limit_ms} ms"),
        met: Some(value_ms < limit_ms),
    };
    figure.print();
    figure
}

/// A peak-RSS figure against the same measure at a smaller size.
pub fn memory_figure(
    name: &str,
    value_mb: f64,
    baseline_name: &str,
    baseline_mb: f64,
    limit_mb: f64,
    flat: f64,
) -> Figure {
    let ratio = value_mb / baseline_mb;
    let figure = Figure {
        name: name.to_string(),
        value: format!("{value_mb:.1} MB"),
        baseline: format!("{baseline_name}: {baseline_mb:.1} MB"),
        ratio: format!("{ratio:.2}x"),
        target: format!("< {limit_mb:.0} MB, ≤ {flat:.2}x"),
        met: Some(value_mb < limit_mb && ratio <= flat),
    };
    figure.print();
    figure
}

/// 12345.6 → `12,346`.
pub fn thousands(x: f64) -> String {
    let digits = format!("{:.0}", x.max(0.0));
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// The `p`-th percentile (0–100) of sorted samples (nearest rank).
pub fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

pub fn millis(d: Duration) -> f64 {
    d.as_secs_f64() * 1_000.0
}

/// The machine line every bench starts with.
pub fn machine() -> String {
    let cores = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(0);
    let model = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|c| {
            c.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split(':').nth(1))
                .map(|m| m.trim().to_string())
        })
        .unwrap_or_default();
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    format!(
        "machine: {cores} cores ({model}); load average at start {}",
        load.split_whitespace()
            .take(3)
            .collect::<Vec<_>>()
            .join(" ")
    )
}

/// How a child `hrhub` run ended.
pub struct ChildRun {
    pub secs: f64,
    /// Peak resident set size of the child (its own, not the bench's).
    pub peak_rss_mb: f64,
    /// CPU time (user + system) the child used: with the mock on the same
    /// cores, this says how much of the wall time was the hub's own work.
    pub cpu_secs: f64,
}

/// Runs `hrhub --config CONFIG ARGS…` to completion and reports its wall
/// time and peak RSS. The peak is the child's `VmHWM`, polled while it
/// runs: a high-water mark, so a poll misses only growth in the last
/// milliseconds. (`wait4`'s `ru_maxrss` would not do: Linux records the
/// spawning process's RSS in it at `exec`, and this process holds the mock.)
/// Panics with the child's stderr if it fails.
pub async fn hrhub(config: &Path, args: &[&str]) -> ChildRun {
    let stderr_path = config.with_extension(format!("{}.stderr", std::process::id()));
    let stderr = std::fs::File::create(&stderr_path).unwrap();
    let started = Instant::now();
    // BENCH_CHILD_WRAPPER="perf record -F 499 -g -o /tmp/perf.data" (or
    // heaptrack, ...) profiles the hub; the RSS figure is then the wrapper's
    let wrapper = std::env::var("BENCH_CHILD_WRAPPER").unwrap_or_default();
    let mut command = wrapper.split_whitespace().chain([BIN]);
    let mut child = std::process::Command::new(command.next().unwrap())
        .args(command)
        .arg("--config")
        .arg(config)
        .args(args)
        .env("RUST_LOG", "warn")
        .env("HRHUB_ALLOW_PRIVATE_URLS", "1") // the mocks are on loopback
        .stdout(std::process::Stdio::null())
        .stderr(stderr)
        .spawn()
        .unwrap();
    let status_file = format!("/proc/{}/status", child.id());
    let stat_file = format!("/proc/{}/stat", child.id());
    let mut peak_kb = 0u64;
    let mut cpu_ticks = 0u64;
    let status = loop {
        // utime and stime, fields 14 and 15, counted after the `(comm)` field
        if let Some(ticks) = std::fs::read_to_string(&stat_file).ok().and_then(|s| {
            let fields: Vec<&str> = s.rsplit_once(')')?.1.split_whitespace().collect();
            Some(fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?)
        }) {
            cpu_ticks = cpu_ticks.max(ticks);
        }
        if let Some(kb) = std::fs::read_to_string(&status_file).ok().and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|kb| kb.parse::<u64>().ok())
        }) {
            peak_kb = peak_kb.max(kb);
        }
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    };
    let secs = started.elapsed().as_secs_f64();
    assert!(
        status.success(),
        "hrhub {args:?} failed ({status}): {}",
        std::fs::read_to_string(&stderr_path).unwrap_or_default()
    );
    ChildRun {
        secs,
        peak_rss_mb: peak_kb as f64 / 1024.0,
        // clock ticks of 1/100 s (USER_HZ on Linux)
        cpu_secs: cpu_ticks as f64 / 100.0,
    }
}

/// A fresh, empty PostgreSQL database `name` on the server of
/// `HRHUB_TEST_POSTGRES_URL`; `None` (with a printed notice) when unset.
pub async fn fresh_postgres(name: &str) -> Option<String> {
    use sqlx::Connection;
    let Ok(url) = std::env::var("HRHUB_TEST_POSTGRES_URL") else {
        println!("NOTICE: HRHUB_TEST_POSTGRES_URL is unset: the PostgreSQL figures are skipped");
        return None;
    };
    let mut conn = sqlx::PgConnection::connect(&url)
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
    Some(format!("{base}/{name}"))
}

/// One cell of a baseline row, typed as the store binds it.
enum Cell {
    /// JSON text, serialized before the timing starts.
    Json(Box<serde_json::value::RawValue>),
    Text(Option<String>),
    Int(Option<i64>),
    Real(Option<f64>),
    Bool(Option<bool>),
    Date(Option<NaiveDate>),
    Time(Option<DateTime<Utc>>),
}

/// The columns of `entity`'s table that the API returns (its fields,
/// employee, source key and provenance) with their types.
fn baseline_columns(entity: EntityKind) -> Vec<(&'static str, FieldType)> {
    let mut columns = vec![
        ("connector", FieldType::Text),
        ("source_key", FieldType::Text),
        ("employee_id", FieldType::Integer),
    ];
    columns.extend(entity.fields().iter().map(|f| (f.name, f.ty)));
    columns.extend([
        ("raw_record_id", FieldType::Integer),
        ("sync_run_id", FieldType::Integer),
        ("mapping_version", FieldType::Text),
        ("updated_at", FieldType::DateTime),
    ]);
    columns
}

fn cell(value: &serde_json::Value, ty: FieldType) -> Cell {
    let text = value.as_str();
    match ty {
        FieldType::Integer => Cell::Int(value.as_i64()),
        FieldType::Number => Cell::Real(value.as_f64()),
        FieldType::Bool => Cell::Bool(value.as_bool()),
        FieldType::Date => Cell::Date(text.and_then(|s| s.parse().ok())),
        FieldType::DateTime => Cell::Time(
            text.and_then(|s| DateTime::parse_from_rfc3339(s).ok())
                .map(|t| t.with_timezone(&Utc)),
        ),
        _ => Cell::Text(text.map(str::to_string)),
    }
}

/// Rows per transaction of the baseline, and per statement (kept under
/// SQLite's 32,766 parameters like the store's own statements).
const BASELINE_TX_ROWS: usize = 1_000;
const BASELINE_STATEMENT_ROWS: usize = 250;

/// The batched-insert baseline: `entity`'s rows as the store holds them
/// are inserted again into a fresh table with the same columns and the
/// same indexes, in multi-row INSERTs of 250 rows, 1,000 rows per
/// transaction: the physical limit of the database for these rows.
/// Rows are read from the store in pages (untimed) so 1,000,000 fit in
/// memory; only the inserts are timed. Returns (rows, seconds).
pub async fn baseline_insert(
    store: &dyn Store,
    store_url: &str,
    entity: EntityKind,
) -> (usize, f64) {
    let columns = baseline_columns(entity);
    let table = format!("baseline_{}", entity.table());
    let mut target = BaselineDb::open(store_url, entity.table(), &table).await;
    let mut timed = Duration::ZERO;
    let mut rows = 0;
    let mut after = 0;
    loop {
        let page = store.entity_rows(entity, after, 10_000).await.unwrap();
        let Some(last) = page.last() else { break };
        after = last["id"].as_i64().unwrap();
        let cells: Vec<Vec<Cell>> = page
            .iter()
            .map(|row| columns.iter().map(|(c, ty)| cell(&row[*c], *ty)).collect())
            .collect();
        timed += target.insert_all(&table, &columns, &cells).await;
        rows += page.len();
    }
    target.close().await;
    (rows, timed.as_secs_f64())
}

/// The part of the hub's own floor the baseline leaves out: the raw
/// records of `(connector, stream)` (each payload with its content hash,
/// which the design keeps for replay and for stopping unchanged records)
/// inserted again the baseline's way, into a table like `raw_records`.
/// Payloads are serialized and hashed untimed. Returns (rows, seconds).
pub async fn raw_records_insert(
    store: &dyn Store,
    store_url: &str,
    (connector, stream): (&str, &str),
) -> (usize, f64) {
    let columns = [
        ("connector", FieldType::Text),
        ("stream", FieldType::Text),
        ("external_id", FieldType::Text),
        ("content_hash", FieldType::Text),
        ("op", FieldType::Text),
        ("payload", FieldType::Text),
        ("observed_at", FieldType::DateTime),
        ("landed_at", FieldType::DateTime),
    ];
    let table = "baseline_raw_records";
    let mut target = BaselineDb::open(store_url, "raw_records", table).await;
    let (mut timed, mut rows, mut after) = (Duration::ZERO, 0, 0);
    loop {
        let page = store
            .raw_records(connector, stream, after, 10_000)
            .await
            .unwrap();
        let Some((last, _)) = page.last() else { break };
        after = *last;
        let now = Utc::now();
        let cells: Vec<Vec<Cell>> = page
            .into_iter()
            .map(|(_, r)| {
                let serialized = r.serialize();
                vec![
                    Cell::Text(Some(connector.to_string())),
                    Cell::Text(Some(r.stream.clone())),
                    Cell::Text(Some(r.external_id.clone())),
                    Cell::Text(Some(serialized.content_hash)),
                    Cell::Text(Some(r.op.as_str().to_string())),
                    Cell::Json(serialized.payload),
                    Cell::Time(Some(r.observed_at)),
                    Cell::Time(Some(now)),
                ]
            })
            .collect();
        timed += target.insert_all(table, &columns, &cells).await;
        rows += cells.len();
    }
    target.close().await;
    (rows, timed.as_secs_f64())
}

/// The database the baseline writes to: the store's own.
enum BaselineDb {
    Sqlite(sqlx::SqlitePool),
    Postgres(sqlx::PgPool),
}

/// Binds `cells` as one row of a multi-row INSERT, for either backend.
macro_rules! push_row {
    ($b:expr, $cells:expr) => {
        for cell in $cells {
            match cell {
                Cell::Json(v) => $b.push_bind(sqlx::types::Json(v.clone())),
                Cell::Text(v) => $b.push_bind(v.clone()),
                Cell::Int(v) => $b.push_bind(*v),
                Cell::Real(v) => $b.push_bind(*v),
                Cell::Bool(v) => $b.push_bind(*v),
                Cell::Date(v) => $b.push_bind(*v),
                Cell::Time(v) => $b.push_bind(*v),
            };
        }
    };
}

impl BaselineDb {
    /// Opens the store's database and creates `table` like `like` (same
    /// columns and indexes, empty).
    async fn open(store_url: &str, like: &str, table: &str) -> BaselineDb {
        if store_url.starts_with("sqlite:") {
            use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqliteSynchronous};
            use std::str::FromStr;
            // the store's own settings (crates/store/src/sqlite.rs)
            let options = SqliteConnectOptions::from_str(store_url)
                .unwrap()
                .journal_mode(SqliteJournalMode::Wal)
                .synchronous(SqliteSynchronous::Normal);
            let pool = sqlx::SqlitePool::connect_with(options).await.unwrap();
            let ddl: Vec<(String,)> = sqlx::query_as(
                "SELECT sql FROM sqlite_master WHERE tbl_name = $1 AND sql IS NOT NULL ORDER BY type DESC",
            )
            .bind(like)
            .fetch_all(&pool)
            .await
            .unwrap();
            sqlx::query(&format!("DROP TABLE IF EXISTS {table}"))
                .execute(&pool)
                .await
                .unwrap();
            for (sql,) in ddl {
                // `CREATE TABLE t (...)` first, then its `CREATE INDEX i ON t (...)`
                let sql = sql
                    .replacen(&format!("TABLE {like} "), &format!("TABLE {table} "), 1)
                    .replacen(&format!(" ON {like} "), &format!(" ON {table} "), 1)
                    .replacen("INDEX ", &format!("INDEX {table}_"), 1);
                sqlx::query(&sql).execute(&pool).await.unwrap();
            }
            BaselineDb::Sqlite(pool)
        } else {
            let pool = sqlx::PgPool::connect(store_url).await.unwrap();
            sqlx::query(&format!("DROP TABLE IF EXISTS {table}"))
                .execute(&pool)
                .await
                .unwrap();
            sqlx::query(&format!("CREATE TABLE {table} (LIKE {like} INCLUDING ALL)"))
                .execute(&pool)
                .await
                .unwrap();
            BaselineDb::Postgres(pool)
        }
    }

    /// `rows` in transactions of [`BASELINE_TX_ROWS`]; how long that took.
    async fn insert_all(
        &mut self,
        table: &str,
        columns: &[(&str, FieldType)],
        rows: &[Vec<Cell>],
    ) -> Duration {
        let started = Instant::now();
        for chunk in rows.chunks(BASELINE_TX_ROWS) {
            self.insert(table, columns, chunk).await;
        }
        started.elapsed()
    }

    /// One transaction of multi-row INSERTs.
    async fn insert(&mut self, table: &str, columns: &[(&str, FieldType)], rows: &[Vec<Cell>]) {
        let head = format!(
            "INSERT INTO {table} ({}) ",
            columns
                .iter()
                .map(|(c, _)| *c)
                .collect::<Vec<_>>()
                .join(", ")
        );
        match self {
            BaselineDb::Sqlite(pool) => {
                let mut tx = pool.begin().await.unwrap();
                for part in rows.chunks(BASELINE_STATEMENT_ROWS) {
                    let mut qb = sqlx::QueryBuilder::<sqlx::Sqlite>::new(&head);
                    qb.push_values(part, |mut b, row| push_row!(b, row));
                    qb.build().execute(&mut *tx).await.unwrap();
                }
                tx.commit().await.unwrap();
            }
            BaselineDb::Postgres(pool) => {
                let mut tx = pool.begin().await.unwrap();
                for part in rows.chunks(BASELINE_STATEMENT_ROWS) {
                    let mut qb = sqlx::QueryBuilder::<sqlx::Postgres>::new(&head);
                    qb.push_values(part, |mut b, row| push_row!(b, row));
                    qb.build().execute(&mut *tx).await.unwrap();
                }
                tx.commit().await.unwrap();
            }
        }
    }

    async fn close(self) {
        match self {
            BaselineDb::Sqlite(pool) => pool.close().await,
            BaselineDb::Postgres(pool) => pool.close().await,
        }
    }
}
