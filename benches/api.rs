//! API latency: `GET /api/v1/employees/{id}/performance?from&to` for one
//! employee over 90 days, with 10,000 employees and a year of attendance
//! (two punch points each work day: about 5.2 million rows) in a SQLite
//! store; baseline: `GET /api/v1/employees/{id}` (one employee and its
//! identity links: a trivial authenticated read) in the same run.
//!
//! `cargo bench --bench api` (`API_EMPLOYEES`, default 10,000;
//! `API_REQUESTS`, default 5,000 per route).
//!
//! The real router (`hrhub_server::router`) serves in this process with
//! the per-token budget raised (the bench measures latency, not the
//! budget); one client sends requests one after another, alternating the
//! two routes, each for a random employee (and a random 90-day period
//! within the year), so neither route is favoured by a warm cache.

mod common;

use chrono::{Days, Utc};
use common::*;
use hrhub_mapping::MappingSet;
use hrhub_server::auth::{generate_token, hash_token, RateLimits};
use hrhub_server::AppState;
use hrhub_store::{SqliteStore, Store};
use hrhub_sync::SyncEngine;
use rand::Rng;
use std::sync::Arc;
use std::time::{Duration, Instant};

#[tokio::main]
async fn main() {
    let started = Instant::now();
    let employees: i64 = std::env::var("API_EMPLOYEES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10_000);
    let requests: usize = std::env::var("API_REQUESTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(5_000);
    println!("{}", machine());
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("hrhub.db").display());
    let store = Arc::new(SqliteStore::open(&url).await.unwrap());
    let today = Utc::now().date_naive();
    let first_day = today - Days::new(365);
    let seeding = Instant::now();
    let rows = seed(&url, employees, first_day, today).await;
    println!(
        "seeded {employees} employees and {rows} attendance rows in {:.0} s",
        seeding.elapsed().as_secs_f64()
    );

    let token = generate_token();
    store
        .create_token("bench", "reader", &hash_token(&token))
        .await
        .unwrap();
    let engine = Arc::new(SyncEngine::new(store.clone(), Arc::new(MappingSet::new())));
    let state = AppState {
        rate_limits: Arc::new(RateLimits::new(1_000_000, 1_000_000)),
        ..AppState::new(engine, Vec::new())
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(hrhub_server::serve_on(
        listener,
        state,
        std::future::pending(),
    ));
    let client = reqwest::Client::new();
    let get = |path: String| {
        let request = client
            .get(format!("{base}{path}"))
            .bearer_auth(&token)
            .send();
        async move {
            let started = Instant::now();
            let res = request.await.unwrap();
            assert_eq!(res.status(), 200, "{}", res.url());
            let body: serde_json::Value = res.json().await.unwrap();
            (started.elapsed(), body)
        }
    };

    // the summary is computed from the seeded rows
    let (_, summary) = get(format!(
        "/api/v1/employees/1/performance?from={first_day}&to={today}"
    ))
    .await;
    assert!(
        summary["attendance"]["days"].as_i64().unwrap() > 200,
        "{summary}"
    );

    let mut rng = rand::rng();
    let mut performance = Vec::with_capacity(requests);
    let mut employee = Vec::with_capacity(requests);
    for i in 0..requests + requests / 10 {
        let id = rng.random_range(1..=employees);
        let from = first_day + Days::new(rng.random_range(0..=275));
        let to = from + Days::new(90);
        let (perf, body) = get(format!(
            "/api/v1/employees/{id}/performance?from={from}&to={to}"
        ))
        .await;
        assert!(body["attendance"]["days"].as_i64().unwrap() > 0, "{body}");
        let (one, _) = get(format!("/api/v1/employees/{id}")).await;
        // the first tenth warms connections and caches
        if i >= requests / 10 {
            performance.push(perf);
            employee.push(one);
        }
    }
    performance.sort_unstable();
    employee.sort_unstable();
    let p = |v: &[Duration], q| millis(percentile(v, q));
    Figure {
        name: "API performance summary p50, 90 days, 10k employees, SQLite".into(),
        value: format!("{:.2} ms", p(&performance, 50.0)),
        baseline: format!("GET /employees/{{id}} p50: {:.2} ms", p(&employee, 50.0)),
        ratio: format!("{:.2}x", p(&performance, 50.0) / p(&employee, 50.0)),
        target: "-".into(),
        met: None,
    }
    .print();
    millis_figure(
        &format!("API performance summary p99, 90 days, {employees} employees, SQLite"),
        p(&performance, 99.0),
        "GET /employees/{id} p99",
        p(&employee, 99.0),
        10.0,
    );
    println!(
        "api bench finished in {:.0} s",
        started.elapsed().as_secs_f64()
    );
}

/// Writes `employees` employees and, for each work day in
/// `[first_day, today)`, an `in` and an `out` punch for each of them, in
/// the order a daily sync would land them (day by day), with direct SQL
/// (a sync of 5 million records would take longer than the whole bench).
/// Returns the attendance rows written.
async fn seed(
    url: &str,
    employees: i64,
    first_day: chrono::NaiveDate,
    today: chrono::NaiveDate,
) -> i64 {
    let pool = sqlx::SqlitePool::connect(url).await.unwrap();
    let now = Utc::now().to_rfc3339_opts(chrono::SecondsFormat::AutoSi, false);
    sqlx::query(
        "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < $1) \
         INSERT INTO employees (id, employee_no, name, email, department, status, connector, source_key, updated_at) \
         SELECT i, printf('%05d', i), 'Employee ' || i, 'e' || i || '@acme.example', \
                'Dept ' || (i % 40), 'active', 'dt', 'u' || i, $2 FROM n",
    )
    .bind(employees)
    .bind(&now)
    .execute(&pool)
    .await
    .unwrap();
    sqlx::query(
        "INSERT INTO identity_links (system, external_id, employee_id, matched_by, created_at) \
         SELECT 'dt', 'u' || id, id, 'created', $1 FROM employees",
    )
    .bind(&now)
    .execute(&pool)
    .await
    .unwrap();
    let mut day = first_day;
    while day < today {
        // a week per statement: one transaction each keeps the WAL small
        let end = (day + Days::new(7)).min(today);
        sqlx::query(
            "WITH RECURSIVE d(day) AS (SELECT date($1) UNION ALL SELECT date(day, '+1 day') FROM d WHERE day < date($2, '-1 day')) \
             INSERT INTO attendance_records (connector, source_key, employee_id, subject_external_id, work_date, check_kind, \
                 scheduled_at, checked_at, result, source_method, updated_at) \
             SELECT 'dt', e.id || ':' || d.day || ':' || k.kind, e.id, 'u' || e.id, d.day, k.kind, \
                    d.day || k.at || ':00+00:00', d.day || k.at || ':00+00:00', \
                    CASE abs(e.id * 7919 + julianday(d.day) * 31 + length(k.kind)) % 25 \
                        WHEN 0 THEN 'late' WHEN 1 THEN 'early' WHEN 2 THEN 'missing' WHEN 3 THEN 'absent' ELSE 'normal' END, \
                    'ATM', $3 \
             FROM d CROSS JOIN (SELECT 'in' AS kind, 'T01:00' AS at UNION ALL SELECT 'out', 'T10:00') k CROSS JOIN employees e \
             WHERE strftime('%w', d.day) NOT IN ('0', '6') \
             ORDER BY d.day, e.id, k.kind",
        )
        .bind(day.to_string())
        .bind(end.to_string())
        .bind(&now)
        .execute(&pool)
        .await
        .unwrap();
        day = end;
    }
    let (rows,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM attendance_records")
        .fetch_one(&pool)
        .await
        .unwrap();
    pool.close().await;
    rows
}
