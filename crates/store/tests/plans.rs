//! Query plans the store relies on to stay fast as tables grow, on SQLite
//! and PostgreSQL: when a link or an employee appears, the rows waiting
//! for that person are found by their identity key through an index
//! (`attach_waiting` / `resolve_waiting` in `common.rs`), not by reading
//! every waiting row: a first sync before the roster leaves them all
//! waiting, and each person the roster brings would read them all again.

use hrhub_model::EntityKind;
use hrhub_store::{PostgresStore, SqliteStore};
use sqlx::Row;

/// The waiting-row lookups, as `common.rs` words them (literal values
/// instead of parameters, so the plan can be asked for).
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

/// Lookups of landed records and open quarantine entries by their whole
/// key, as `common.rs` words them (`push_key_lookups`).
fn key_lookups() -> Vec<String> {
    let one = |columns: &str, table: &str, condition: &str, id: &str| {
        format!(
            "SELECT {columns} FROM {table} WHERE {condition} AND connector = 'zd' \
             AND stream = 'tickets' AND external_id = '{id}'"
        )
    };
    let two = |columns: &str, table: &str, condition: &str| {
        format!(
            "{} UNION ALL {}",
            one(columns, table, condition, "1"),
            one(columns, table, condition, "2")
        )
    };
    vec![
        two("external_id, content_hash", "raw_records", "TRUE"),
        format!(
            "UPDATE raw_records SET seen_scan = 7 WHERE id IN ({})",
            two("id", "raw_records", "TRUE")
        ),
        format!(
            "UPDATE quarantine SET resolved_at = CURRENT_TIMESTAMP WHERE id IN ({})",
            two("id", "quarantine", "resolved_at IS NULL")
        ),
    ]
}

#[tokio::test]
async fn keyed_lookups_probe_the_whole_key() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("t.db").display());
    drop(SqliteStore::open(&url).await.unwrap());
    let pool = sqlx::SqlitePool::connect(&url).await.unwrap();
    for sql in key_lookups() {
        let plan: Vec<String> = sqlx::query(&format!("EXPLAIN QUERY PLAN {sql}"))
            .fetch_all(&pool)
            .await
            .unwrap()
            .iter()
            .map(|row| row.get::<String, _>("detail"))
            .collect();
        let probes: Vec<&String> = plan.iter().filter(|s| s.contains("connector=?")).collect();
        assert!(
            probes.len() == 2 && probes.iter().all(|s| s.contains("external_id=?")),
            "SQLite does not probe the whole key for `{sql}`: {plan:?}"
        );
    }

    let Ok(url) = std::env::var("HRHUB_TEST_POSTGRES_URL") else {
        eprintln!(
            "NOTICE: HRHUB_TEST_POSTGRES_URL unset; PostgreSQL half of the plan test skipped"
        );
        return;
    };
    // fresh tables have no statistics, the case where `IN (...)` went wrong
    let schema = "hrhub_test_plans_keys";
    drop(PostgresStore::open_in_schema(&url, schema).await.unwrap());
    let mut conn = sqlx::PgPool::connect(&url)
        .await
        .unwrap()
        .acquire()
        .await
        .unwrap();
    for setting in [
        format!("SET search_path TO \"{schema}\""),
        "SET enable_seqscan = off".to_string(),
    ] {
        sqlx::query(&setting).execute(&mut *conn).await.unwrap();
    }
    for sql in key_lookups() {
        let plan: Vec<String> = sqlx::query(&format!("EXPLAIN {sql}"))
            .fetch_all(&mut *conn)
            .await
            .unwrap()
            .iter()
            .map(|row| row.get::<String, _>(0))
            .collect();
        let probes: Vec<&String> = plan
            .iter()
            .filter(|s| s.contains("Cond: ((connector = "))
            .collect();
        assert!(
            probes.len() == 2 && probes.iter().all(|s| s.contains("(external_id = ")),
            "PostgreSQL does not probe the whole key for `{sql}`: {plan:?}"
        );
    }
}

#[tokio::test]
async fn waiting_rows_are_found_through_an_index() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("t.db").display());
    drop(SqliteStore::open(&url).await.unwrap());
    let pool = sqlx::SqlitePool::connect(&url).await.unwrap();
    for sql in waiting_lookups() {
        let plan: Vec<String> = sqlx::query(&format!("EXPLAIN QUERY PLAN {sql}"))
            .fetch_all(&pool)
            .await
            .unwrap()
            .iter()
            .map(|row| row.get::<String, _>("detail"))
            .collect();
        assert!(
            plan.iter().any(|step| step.contains("_waiting_")),
            "SQLite reads every waiting row for `{sql}`: {plan:?}"
        );
    }

    let Ok(url) = std::env::var("HRHUB_TEST_POSTGRES_URL") else {
        eprintln!(
            "NOTICE: HRHUB_TEST_POSTGRES_URL unset; PostgreSQL half of the plan test skipped"
        );
        return;
    };
    let schema = "hrhub_test_plans";
    drop(PostgresStore::open_in_schema(&url, schema).await.unwrap());
    let mut conn = sqlx::PgPool::connect(&url)
        .await
        .unwrap()
        .acquire()
        .await
        .unwrap();
    sqlx::query(&format!("SET search_path TO \"{schema}\""))
        .execute(&mut *conn)
        .await
        .unwrap();
    // the tables are empty, where a scan is cheapest: ask whether an index
    // could serve the lookup at all
    sqlx::query("SET enable_seqscan = off")
        .execute(&mut *conn)
        .await
        .unwrap();
    for sql in waiting_lookups() {
        let plan: Vec<String> = sqlx::query(&format!("EXPLAIN {sql}"))
            .fetch_all(&mut *conn)
            .await
            .unwrap()
            .iter()
            .map(|row| row.get::<String, _>(0))
            .collect();
        assert!(
            plan.iter().any(|step| step.contains("_waiting_")),
            "PostgreSQL reads every waiting row for `{sql}`: {plan:?}"
        );
    }
}
