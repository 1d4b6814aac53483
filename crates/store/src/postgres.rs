//! PostgreSQL backend: production, and several hub processes side by side
//! (leases, the change sequence and upserts all live in the database).

use sqlx::postgres::PgPoolOptions;

type Db = sqlx::Postgres;
type ThisStore = PostgresStore;
const BACKEND: &str = "postgres";
const BEGIN: &str = "BEGIN";

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/postgres");

/// PostgreSQL binds numbered parameters directly (see the SQLite twin).
fn positional(sql: String) -> String {
    sql
}

pub struct PostgresStore {
    pool: sqlx::PgPool,
}

impl PostgresStore {
    pub async fn open(url: &str) -> Result<Self, StoreError> {
        let pool = PgPoolOptions::new()
            .max_connections(8)
            .acquire_timeout(Duration::from_secs(10))
            .connect(url)
            .await?;
        MIGRATOR.run(&pool).await?;
        Ok(PostgresStore { pool })
    }

    /// PostgreSQL takes concurrent writers itself: no turn to wait for.
    async fn writer_turn(&self) -> Option<tokio::sync::OwnedMutexGuard<()>> {
        None
    }

    /// Opens a fresh schema for tests: every table lives in `schema`, so
    /// concurrent test runs on one database do not see each other.
    pub async fn open_in_schema(url: &str, schema: &str) -> Result<Self, StoreError> {
        let admin = PgPoolOptions::new().max_connections(1).connect(url).await?;
        sqlx::query(&format!("DROP SCHEMA IF EXISTS \"{schema}\" CASCADE"))
            .execute(&admin)
            .await?;
        sqlx::query(&format!("CREATE SCHEMA \"{schema}\""))
            .execute(&admin)
            .await?;
        admin.close().await;
        let search_path = format!("SET search_path TO \"{schema}\"");
        let pool = PgPoolOptions::new()
            .max_connections(8)
            .acquire_timeout(Duration::from_secs(10))
            .after_connect(move |conn, _| {
                let sql = search_path.clone();
                Box::pin(async move {
                    sqlx::Executor::execute(conn, sql.as_str()).await?;
                    Ok(())
                })
            })
            .connect(url)
            .await?;
        MIGRATOR.run(&pool).await?;
        Ok(PostgresStore { pool })
    }
}

include!("common.rs");
