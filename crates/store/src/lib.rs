//! The unified store: one [`Store`] trait, a SQLite implementation (the
//! embedded default) and a PostgreSQL one (production, several hub processes).
//!
//! Both backends share their SQL and glue (`common.rs`, compiled once per
//! backend) and differ only where the databases do: connection set-up,
//! migrations, how a write transaction starts and how the change sequence is
//! locked. The conformance suite in `tests/conformance.rs` runs against both.

mod error;
mod postgres;
mod sql;
mod sqlite;

pub use error::StoreError;
pub use postgres::PostgresStore;
pub use sqlite::SqliteStore;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use hrhub_model::{
    ChangeEvent, EntityKind, IdentityConflict, IdentityKeys, IdentityLink, MappedEntity,
    PerformanceSummary, RawRecord, RunCounts, RunStatus, RunTrigger, SerializedRecord, StreamState,
    SyncRun,
};
use serde::Serialize;
use std::sync::Arc;
use std::time::Duration;

/// Opens the store a URL names (`sqlite://PATH` or `postgres://…`) and
/// brings its schema up to date.
pub async fn open(url: &str) -> Result<Arc<dyn Store>, StoreError> {
    if url.starts_with("sqlite:") {
        Ok(Arc::new(SqliteStore::open(url).await?))
    } else if url.starts_with("postgres:") || url.starts_with("postgresql:") {
        Ok(Arc::new(PostgresStore::open(url).await?))
    } else {
        Err(StoreError::Config(format!(
            "store url `{url}` is neither sqlite://PATH nor postgres://…; set [store] url accordingly"
        )))
    }
}

/// What landing did with a raw record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Landing {
    /// Same content hash as the record already held: nothing more to do.
    Unchanged,
    /// New or changed; stored under this raw record id.
    Changed { raw_record_id: i64 },
}

/// Provenance of a write: which raw record, run and mapping produced it.
#[derive(Debug, Clone, Default)]
pub struct WriteContext {
    pub connector: String,
    pub raw_record_id: Option<i64>,
    pub sync_run_id: Option<i64>,
    pub mapping_version: Option<String>,
}

pub use hrhub_model::MatchKey;

/// One non-employee entity write of a batch: what to write, for whom, and
/// where it came from.
#[derive(Debug, Clone)]
pub struct EntityWrite {
    pub mapped: MappedEntity,
    pub employee_id: Option<i64>,
    pub ctx: WriteContext,
}

/// Result of an entity upsert.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Upserted {
    /// The row's hub id.
    pub id: i64,
    /// False when the row already held exactly these values (or a newer
    /// source version): no change event was written.
    pub changed: bool,
}

/// One quarantined record.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct QuarantineEntry {
    pub id: i64,
    pub connector: String,
    pub stream: String,
    pub external_id: String,
    pub raw_record_id: Option<i64>,
    pub payload: serde_json::Value,
    pub reason: String,
    pub mapping: Option<String>,
    pub sync_run_id: Option<i64>,
    pub quarantined_at: DateTime<Utc>,
}

/// What the store holds for one (connector, stream).
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct StreamHoldings {
    /// Raw records landed.
    pub records: i64,
    /// Quarantined records not yet resolved.
    pub quarantined: i64,
}

/// Every run of one (connector, stream) with one final status, summed:
/// monotonic totals for `/metrics` (runs are never pruned).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RunTotals {
    pub connector: String,
    pub stream: String,
    pub status: RunStatus,
    pub runs: i64,
    pub fetched: i64,
    pub upserted: i64,
    pub quarantined: i64,
}

/// Which rows of an entity to read, oldest id first. Paging by id never
/// skips or repeats a row under concurrent writes: ids never change and new
/// rows get higher ones.
#[derive(Debug, Clone)]
pub struct EntityQuery {
    /// Rows with a larger id than this (the previous page's last id).
    pub after_id: i64,
    pub limit: i64,
    /// Only rows about this employee (for employees: this employee).
    pub employee_id: Option<i64>,
    /// Only rows whose period field ([`EntityKind::period_field`]) is on or
    /// after this day (UTC for instants).
    pub from: Option<chrono::NaiveDate>,
    /// ... and before this day.
    pub to: Option<chrono::NaiveDate>,
    /// Only rows hrhub changed at or after this instant.
    pub updated_since: Option<DateTime<Utc>>,
    /// Exact matches on text fields of the entity (`department`, `status`, ...).
    pub equals: Vec<(&'static str, String)>,
}

impl EntityQuery {
    pub fn page(after_id: i64, limit: i64) -> Self {
        EntityQuery {
            after_id,
            limit,
            employee_id: None,
            from: None,
            to: None,
            updated_since: None,
            equals: Vec::new(),
        }
    }
}

/// People that records name but no employee matches yet, per source account.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Unmatched {
    pub connector: String,
    pub entity: EntityKind,
    /// The identity keys the records carry.
    pub external_id: Option<String>,
    pub employee_no: Option<String>,
    pub email: Option<String>,
    pub mobile: Option<String>,
    /// How many records wait for this person.
    pub records: i64,
}

/// An API token as stored: the secret itself is never kept, only its hash.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ApiToken {
    pub id: i64,
    pub name: String,
    /// `reader` or `admin`.
    pub role: String,
    pub created_at: DateTime<Utc>,
    pub revoked_at: Option<DateTime<Utc>>,
}

/// A dashboard session as stored (only its id's hash is kept), with the
/// live token it was opened with.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ApiSession {
    pub token: ApiToken,
    pub created_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
}

/// What a completed reconciling scan found missing.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ScanGaps {
    /// External ids of live landed records the scan did not see, sorted.
    pub unseen: Vec<String>,
    /// How many live landed records it saw.
    pub seen: usize,
}

/// A unit of work: everything written through it commits or rolls back
/// together, including the stream cursor and the change log entries.
#[async_trait]
pub trait StoreTx: Send {
    /// Lands raw records (one page); unchanged content stops here. Returns
    /// one [`Landing`] per record, in order. A record repeated within the
    /// slice is compared with its earlier copy.
    async fn land(
        &mut self,
        connector: &str,
        records: &[RawRecord],
        sync_run_id: Option<i64>,
    ) -> Result<Vec<Landing>, StoreError> {
        let serialized: Vec<SerializedRecord> = records.iter().map(RawRecord::serialize).collect();
        self.land_serialized(connector, records, &serialized, sync_run_id)
            .await
    }

    /// [`StoreTx::land`] with each record already serialized
    /// (`serialized[i]` is `records[i]`'s [`RawRecord::serialize`]), so a
    /// caller can do that work off the writer's path.
    async fn land_serialized(
        &mut self,
        connector: &str,
        records: &[RawRecord],
        serialized: &[SerializedRecord],
        sync_run_id: Option<i64>,
    ) -> Result<Vec<Landing>, StoreError>;

    /// Lands records that never change once they happened (events), first
    /// arrival wins: a record whose key is already held, or repeats an
    /// earlier one in the slice, is [`Landing::Unchanged`] whatever its
    /// content, and the held copy is kept. Safe against a concurrent
    /// landing of the same key (one of them lands it).
    async fn land_new(
        &mut self,
        connector: &str,
        records: &[RawRecord],
        sync_run_id: Option<i64>,
    ) -> Result<Vec<Landing>, StoreError>;

    /// The employee an identity link points at.
    async fn employee_by_link(
        &mut self,
        system: &str,
        external_id: &str,
    ) -> Result<Option<i64>, StoreError>;

    /// [`StoreTx::employee_by_link`] for many accounts of one system in one
    /// statement: (external id, employee) of those that are linked.
    async fn employees_by_links(
        &mut self,
        system: &str,
        external_ids: &[&str],
    ) -> Result<Vec<(String, i64)>, StoreError>;

    /// Employees whose employee number / e-mail / mobile equals `value`
    /// (normal forms), at most two: two means the key is ambiguous.
    async fn employees_by_key(
        &mut self,
        key: MatchKey,
        value: &str,
    ) -> Result<Vec<i64>, StoreError>;

    /// The employee number of an employee, if it has one.
    async fn employee_no(&mut self, employee_id: i64) -> Result<Option<String>, StoreError>;

    /// Reports that a record's key points at another employee than the one
    /// it was resolved to (or at two). Idempotent per (system, account, key, value, other).
    async fn record_conflict(&mut self, conflict: &IdentityConflict) -> Result<(), StoreError>;

    /// Links (system, external_id) to an employee and attaches the rows that
    /// were waiting for that account. Idempotent.
    async fn link_identity(
        &mut self,
        system: &str,
        external_id: &str,
        employee_id: i64,
        matched_by: &str,
    ) -> Result<(), StoreError>;

    /// Creates an employee (`id: None`) or updates one, writing only the
    /// non-null mapped fields so one source does not blank another's data.
    async fn upsert_employee(
        &mut self,
        id: Option<i64>,
        mapped: &MappedEntity,
        ctx: &WriteContext,
    ) -> Result<Upserted, StoreError>;

    /// Attaches unresolved rows whose identity keys match this employee.
    async fn resolve_waiting(
        &mut self,
        employee_id: i64,
        keys: &IdentityKeys,
    ) -> Result<u64, StoreError>;

    /// Upserts a non-employee entity by (connector, key). Only the mapped
    /// fields are written; an older `source_updated_at` never overwrites a
    /// newer one.
    async fn upsert_entity(
        &mut self,
        mapped: &MappedEntity,
        employee_id: Option<i64>,
        ctx: &WriteContext,
    ) -> Result<Upserted, StoreError>;

    /// [`StoreTx::upsert_entity`] for many rows at once, in multi-row
    /// statements (a page of tickets is a few statements, not one per
    /// ticket). Same rules per row; a key written twice in `writes` is
    /// written in order. Returns how many rows changed.
    async fn upsert_entities(&mut self, writes: &[EntityWrite]) -> Result<u64, StoreError>;

    /// Marks an entity deleted upstream (soft delete) and logs the change.
    async fn delete_entity(
        &mut self,
        entity: EntityKind,
        connector: &str,
        key: &str,
        ctx: &WriteContext,
    ) -> Result<bool, StoreError>;

    /// Records a record that failed its mapping.
    async fn quarantine(
        &mut self,
        connector: &str,
        record: &RawRecord,
        raw_record_id: Option<i64>,
        reason: &str,
        mapping: Option<&str>,
        sync_run_id: Option<i64>,
    ) -> Result<(), StoreError>;

    /// Marks open quarantine entries of these records resolved (they mapped
    /// after all, e.g. after a mapping fix).
    async fn resolve_quarantine(
        &mut self,
        connector: &str,
        stream: &str,
        external_ids: &[&str],
    ) -> Result<(), StoreError>;

    /// Sets the stream's resume cursor, committed with this batch, and
    /// raises the newest source timestamp seen (for lag) if `newest` is newer.
    async fn set_cursor(
        &mut self,
        connector: &str,
        stream: &str,
        cursor: Option<&str>,
        newest: Option<DateTime<Utc>>,
    ) -> Result<(), StoreError>;

    /// Records which reconciling full scan the stream is in (`None`: none).
    async fn set_scan(
        &mut self,
        connector: &str,
        stream: &str,
        scan_id: Option<i64>,
    ) -> Result<(), StoreError>;

    /// Notes that scan `scan_id` saw these landed records (changed or not).
    async fn mark_seen(
        &mut self,
        connector: &str,
        stream: &str,
        scan_id: i64,
        external_ids: &[&str],
    ) -> Result<(), StoreError>;

    /// The live (not deleted) landed records of the stream that scan
    /// `scan_id` did not see, and how many it did.
    async fn unseen_in_scan(
        &mut self,
        connector: &str,
        stream: &str,
        scan_id: i64,
    ) -> Result<ScanGaps, StoreError>;

    /// Appends the buffered change events (gap-free sequence) and commits.
    async fn commit(self: Box<Self>) -> Result<(), StoreError>;
}

/// The hub's persistent state. See the crate docs for the two backends.
#[async_trait]
pub trait Store: Send + Sync {
    /// `sqlite` or `postgres`.
    fn backend(&self) -> &'static str;

    /// Starts a write transaction.
    async fn begin(&self) -> Result<Box<dyn StoreTx>, StoreError>;

    // --- sync runs and stream state ---
    async fn start_run(
        &self,
        connector: &str,
        stream: &str,
        trigger: RunTrigger,
    ) -> Result<i64, StoreError>;
    /// Saves a running run's counts so far (progress for the dashboard).
    async fn update_run(&self, run_id: i64, counts: &RunCounts) -> Result<(), StoreError>;
    async fn finish_run(
        &self,
        run_id: i64,
        status: RunStatus,
        counts: &RunCounts,
        error: Option<&str>,
    ) -> Result<(), StoreError>;
    /// Newest first; `connector`/`stream` filter when given.
    async fn runs(
        &self,
        connector: Option<&str>,
        stream: Option<&str>,
        limit: i64,
    ) -> Result<Vec<SyncRun>, StoreError>;
    async fn stream_state(
        &self,
        connector: &str,
        stream: &str,
    ) -> Result<Option<StreamState>, StoreError>;
    async fn holdings(&self, connector: &str, stream: &str) -> Result<StreamHoldings, StoreError>;

    // --- leases ---
    /// Takes (or renews, for the same holder) the named lease until now +
    /// `ttl`. False when another holder has an unexpired lease.
    async fn acquire_lease(
        &self,
        name: &str,
        holder: &str,
        ttl: Duration,
    ) -> Result<bool, StoreError>;
    async fn release_lease(&self, name: &str, holder: &str) -> Result<(), StoreError>;
    /// Who holds the named lease, if anyone (expired or not).
    async fn lease_holder(&self, name: &str) -> Result<Option<String>, StoreError>;
    /// Takes the lease over from `from` (known dead) if `from` still holds it.
    async fn take_over_lease(
        &self,
        name: &str,
        from: &str,
        to: &str,
        ttl: Duration,
    ) -> Result<bool, StoreError>;

    // --- reads ---
    /// Change log entries with `seq > after`, oldest first.
    async fn changes(&self, after: i64, limit: i64) -> Result<Vec<ChangeEvent>, StoreError>;
    async fn quarantined(
        &self,
        connector: Option<&str>,
        limit: i64,
    ) -> Result<Vec<QuarantineEntry>, StoreError>;
    /// Landed raw records of a stream (for replay), ordered by id, after `after_id`.
    async fn raw_records(
        &self,
        connector: &str,
        stream: &str,
        after_id: i64,
        limit: i64,
    ) -> Result<Vec<(i64, RawRecord)>, StoreError>;
    /// Live rows of an entity table matching `query`, as JSON objects keyed
    /// by field (plus `id`, `employee_id` and provenance), ordered by id.
    async fn query_entities(
        &self,
        entity: EntityKind,
        query: &EntityQuery,
    ) -> Result<Vec<serde_json::Map<String, serde_json::Value>>, StoreError>;

    /// [`Store::query_entities`] without filters.
    async fn entity_rows(
        &self,
        entity: EntityKind,
        after_id: i64,
        limit: i64,
    ) -> Result<Vec<serde_json::Map<String, serde_json::Value>>, StoreError> {
        self.query_entities(entity, &EntityQuery::page(after_id, limit))
            .await
    }

    /// One employee's performance over `[from, to)`.
    async fn performance(
        &self,
        employee_id: i64,
        from: chrono::NaiveDate,
        to: chrono::NaiveDate,
    ) -> Result<PerformanceSummary, StoreError>;

    /// The identity links of one employee.
    async fn identity_links(&self, employee_id: i64) -> Result<Vec<IdentityLink>, StoreError>;

    // --- API tokens ---
    /// Stores a new token's hash; returns its id.
    async fn create_token(
        &self,
        name: &str,
        role: &str,
        token_hash: &str,
    ) -> Result<i64, StoreError>;
    async fn tokens(&self) -> Result<Vec<ApiToken>, StoreError>;
    /// The live (not revoked) token with this hash.
    async fn token_by_hash(&self, token_hash: &str) -> Result<Option<ApiToken>, StoreError>;
    /// Revokes the live token(s) with this name; returns how many.
    async fn revoke_token(&self, name: &str) -> Result<u64, StoreError>;

    // --- dashboard sessions ---
    /// Stores a session opened with a token (only the session id's hash is
    /// kept) and drops sessions that have expired.
    async fn create_session(
        &self,
        session_hash: &str,
        token_id: i64,
        expires_at: DateTime<Utc>,
    ) -> Result<(), StoreError>;
    /// The session with this hash if it has not expired and its token is
    /// not revoked.
    async fn session_by_hash(&self, session_hash: &str) -> Result<Option<ApiSession>, StoreError>;
    /// Ends a session (log-out); false if there was none.
    async fn delete_session(&self, session_hash: &str) -> Result<bool, StoreError>;

    /// Accounts whose records are waiting for an employee, most records first.
    async fn unmatched(&self, limit: i64) -> Result<Vec<Unmatched>, StoreError>;
    /// Reported identity conflicts, newest first.
    async fn conflicts(&self, limit: i64) -> Result<Vec<IdentityConflict>, StoreError>;
    /// How many identity conflicts have been reported.
    async fn conflict_count(&self) -> Result<i64, StoreError>;
    /// Runs and their record counts summed per (connector, stream, status).
    async fn run_totals(&self) -> Result<Vec<RunTotals>, StoreError>;
    /// Live rows of an entity table, and how many of them have no employee.
    async fn entity_counts(&self, entity: EntityKind) -> Result<(i64, i64), StoreError>;
}
