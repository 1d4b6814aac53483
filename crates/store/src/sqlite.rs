//! SQLite backend: the embedded default, one file next to the config.

use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use std::str::FromStr;
use std::sync::Arc;

type Db = sqlx::Sqlite;
type ThisStore = SqliteStore;
const BACKEND: &str = "sqlite";
/// Take the write lock up front: a deferred transaction that reads and then
/// writes can fail with SQLITE_BUSY instead of waiting its turn.
const BEGIN: &str = "BEGIN IMMEDIATE";

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/sqlite");

/// Rewrites `$1, $2, … $N` (each once, in order) to anonymous `?`. SQLite
/// finds a numbered parameter's name by a linear scan, and the driver asks
/// for every parameter's name at each bind: a multi-row statement with
/// thousands of numbered parameters binds in quadratic time (a quarter of
/// a first sync's CPU in the profile); anonymous ones bind in linear time.
/// Any other use of `$` leaves the statement as it is.
fn positional(sql: String) -> String {
    let mut out = String::with_capacity(sql.len());
    let mut expected = 1u64;
    let mut rest = sql.as_str();
    while let Some(at) = rest.find('$') {
        out.push_str(&rest[..at]);
        let digits = rest[at + 1..]
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(rest.len() - at - 1);
        if rest[at + 1..at + 1 + digits].parse::<u64>() != Ok(expected) {
            return sql;
        }
        out.push('?');
        expected += 1;
        rest = &rest[at + 1 + digits..];
    }
    out.push_str(rest);
    out
}

/// The SQLite store (WAL journal, NORMAL sync: durable at each checkpoint of
/// the WAL, and a crash loses at most the last commits, never consistency).
pub struct SqliteStore {
    pool: sqlx::SqlitePool,
    /// SQLite has one writer at a time. Writers of this process take turns
    /// here, in arrival order, instead of in SQLite's busy handler, which
    /// polls with sleeps of up to 100 ms (the webhook p99 came from those).
    /// Other processes still meet the busy timeout.
    writers: Arc<tokio::sync::Mutex<()>>,
}

impl SqliteStore {
    /// Opens (creating if needed) the database at `sqlite://PATH`.
    pub async fn open(url: &str) -> Result<Self, StoreError> {
        let options = SqliteConnectOptions::from_str(url)
            .map_err(|e| StoreError::Config(format!("bad sqlite url `{url}`: {e}")))?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .busy_timeout(Duration::from_secs(30))
            .foreign_keys(true);
        let pool = SqlitePoolOptions::new()
            .max_connections(4)
            .connect_with(options)
            .await?;
        MIGRATOR.run(&pool).await?;
        Ok(SqliteStore {
            pool,
            writers: Arc::default(),
        })
    }

    /// This process's turn to write (see `writers`).
    async fn writer_turn(&self) -> Option<tokio::sync::OwnedMutexGuard<()>> {
        Some(self.writers.clone().lock_owned().await)
    }
}

include!("common.rs");

#[cfg(test)]
mod tests {
    #[test]
    fn numbered_parameters_in_order_become_anonymous() {
        assert_eq!(
            super::positional("INSERT INTO t VALUES ($1, $2), ($3, $4)".into()),
            "INSERT INTO t VALUES (?, ?), (?, ?)"
        );
        // reused or out-of-order parameters keep their numbers
        let reused = "UPDATE t SET a = $1 WHERE b = $1".to_string();
        assert_eq!(super::positional(reused.clone()), reused);
        let swapped = "SELECT $2, $1".to_string();
        assert_eq!(super::positional(swapped.clone()), swapped);
    }
}
