//! Query plans the store relies on to stay fast as tables grow, on SQLite
//! and PostgreSQL (fresh tables, so PostgreSQL has no statistics: the case
//! where `IN (...)` went wrong):
//! - landed records, open quarantine entries and identity links are
//!   looked up by their whole key (`push_key_lookups` in `common.rs`);
//! - when a link or an employee appears, the rows waiting for that person
//!   are found by their identity key through an index (`attach_waiting` /
//!   `resolve_waiting`), not by reading every waiting row: a first sync
//!   before the roster leaves them all waiting, and each person the
//!   roster brings would read them all again.

use hrhub_model::EntityKind;
use hrhub_store::{PostgresStore, SqliteStore};
use sqlx::Row;

/// Lookups by whole key, as `common.rs` words them (two keys each, literal
/// values instead of parameters so the plan can be asked for), with the
/// column that starts the key.
fn key_lookups() -> Vec<(String, &'static str)> {
    let two = |columns: &str, table: &str, condition: &str, scope: &str| {
        let one = |id: &str| {
            format!(
                "SELECT {columns} FROM {table} WHERE {condition}{scope} AND external_id = '{id}'"
            )
        };
        format!("{} UNION ALL {}", one("1"), one("2"))
    };
    let stream = " AND connector = 'zd' AND stream = 'tickets'";
    vec![
        (
            two("external_id, content_hash", "raw_records", "TRUE", stream),
            "connector",
        ),
        (
            format!(
                "UPDATE raw_records SET seen_scan = 7 WHERE id IN ({})",
                two("id", "raw_records", "TRUE", stream)
            ),
            "connector",
        ),
        (
            format!(
                "UPDATE quarantine SET resolved_at = CURRENT_TIMESTAMP WHERE id IN ({})",
                two("id", "quarantine", "resolved_at IS NULL", stream)
            ),
            "connector",
        ),
        (
            two(
                "external_id, employee_id",
                "identity_links",
                "TRUE",
                " AND system = 'zd'",
            ),
            "system",
        ),
    ]
}

/// The waiting-row lookups, as `common.rs` words them.
fn waiting_lookups() -> Vec<String> {
    let mut lookups = Vec::new();
    for entity in EntityKind::ALL
        .into_iter()
        .filter(|e| e.is_about_a_person())
    {
        let table = entity.table();
        lookups.push(format!(
            "UPDATE {table} SET employee_id = 1 WHERE employee_id IS NULL \
             AND connector = 'zd' AND subject_external_id = '42'"
        ));
        for column in ["subject_employee_no", "subject_email", "subject_mobile"] {
            lookups.push(format!(
                "UPDATE {table} SET employee_id = 1 WHERE employee_id IS NULL AND {column} = 'x'"
            ));
        }
    }
    lookups
}

/// Freshly migrated stores of both backends that explain statements.
struct Planners {
    _dir: tempfile::TempDir,
    sqlite: sqlx::SqlitePool,
    postgres: Option<sqlx::pool::PoolConnection<sqlx::Postgres>>,
}

impl Planners {
    async fn open(schema: &str) -> Planners {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("t.db").display());
        drop(SqliteStore::open(&url).await.unwrap());
        let sqlite = sqlx::SqlitePool::connect(&url).await.unwrap();
        let postgres = match std::env::var("HRHUB_TEST_POSTGRES_URL") {
            Ok(url) => {
                drop(PostgresStore::open_in_schema(&url, schema).await.unwrap());
                let mut conn = sqlx::PgPool::connect(&url)
                    .await
                    .unwrap()
                    .acquire()
                    .await
                    .unwrap();
                // the tables are empty, where a scan is cheapest: ask
                // which index conditions a lookup could use at all
                for setting in [
                    format!("SET search_path TO \"{schema}\""),
                    "SET enable_seqscan = off".to_string(),
                ] {
                    sqlx::query(&setting).execute(&mut *conn).await.unwrap();
                }
                Some(conn)
            }
            Err(_) => {
                eprintln!(
                    "NOTICE: HRHUB_TEST_POSTGRES_URL unset; PostgreSQL half of `{schema}` skipped"
                );
                None
            }
        };
        Planners {
            _dir: dir,
            sqlite,
            postgres,
        }
    }

    /// The plan of `sql` on each backend, one line per step.
    async fn plans(&mut self, sql: &str) -> Vec<(&'static str, Vec<String>)> {
        let mut plans = vec![(
            "SQLite",
            sqlx::query(&format!("EXPLAIN QUERY PLAN {sql}"))
                .fetch_all(&self.sqlite)
                .await
                .unwrap()
                .iter()
                .map(|row| row.get::<String, _>("detail"))
                .collect(),
        )];
        if let Some(conn) = &mut self.postgres {
            plans.push((
                "PostgreSQL",
                sqlx::query(&format!("EXPLAIN {sql}"))
                    .fetch_all(&mut **conn)
                    .await
                    .unwrap()
                    .iter()
                    .map(|row| row.get::<String, _>(0))
                    .collect(),
            ));
        }
        plans
    }
}

#[tokio::test]
async fn keyed_lookups_probe_the_whole_key() {
    let mut planners = Planners::open("hrhub_test_plans_keys").await;
    for (sql, first) in key_lookups() {
        for (backend, plan) in planners.plans(&sql).await {
            let (probe, whole) = match backend {
                "SQLite" => (format!("{first}=?"), "external_id=?"),
                _ => (format!("Cond: (({first} = "), "(external_id = "),
            };
            let probes: Vec<&String> = plan.iter().filter(|s| s.contains(&probe)).collect();
            assert!(
                probes.len() == 2 && probes.iter().all(|s| s.contains(whole)),
                "{backend} does not probe the whole key for `{sql}`: {plan:?}"
            );
        }
    }
}

#[tokio::test]
async fn waiting_rows_are_found_through_an_index() {
    let mut planners = Planners::open("hrhub_test_plans").await;
    for sql in waiting_lookups() {
        for (backend, plan) in planners.plans(&sql).await {
            assert!(
                plan.iter().any(|step| step.contains("_waiting_")),
                "{backend} reads every waiting row for `{sql}`: {plan:?}"
            );
        }
    }
}
