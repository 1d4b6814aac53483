use crate::identity::{resolve, resolve_by_links, Resolution};
use chrono::{DateTime, Utc};
use hrhub_connector::{ConnectorError, MissedEvents, Page, Refetch, Source};
use hrhub_mapping::{MapError, MapOutcome, Mapping, MappingSet};
use hrhub_model::{
    EntityKind, FieldValue, IdentityKeys, MappedEntity, MatchKey, RawRecord, RecordOp, RunCounts,
    RunStatus, RunTrigger, SerializedRecord,
};
use hrhub_store::{EntityWrite, Landing, Store, StoreError, StoreTx, WriteContext};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

/// A configured connector instance: its id (the `[[connector]] id`, also the
/// identity system name), the platform client, and the keys its records'
/// people are matched by.
#[derive(Clone)]
pub struct ConnectorHandle {
    pub id: String,
    pub source: Arc<dyn Source>,
    /// In order of trust; default employee number, e-mail, mobile.
    pub match_keys: Vec<MatchKey>,
}

impl ConnectorHandle {
    pub fn new(id: impl Into<String>, source: Arc<dyn Source>) -> Self {
        ConnectorHandle {
            id: id.into(),
            source,
            match_keys: MatchKey::DEFAULT.to_vec(),
        }
    }
}

/// Why a stream could not sync. Each message says what to do next.
#[derive(Debug, thiserror::Error)]
pub enum SyncError {
    #[error("another hub process is syncing {0} right now (lease held); it will be synced by that process, or retry once it finishes")]
    Busy(String),
    #[error("the lease on {0} expired during the run and another hub process took the stream over; pages committed so far are kept and that process resumes after them (raise [sync] lease_ttl_secs if pages take longer than the lease)")]
    LeaseLost(String),
    #[error("connector `{connector}` has no stream `{stream}`; its streams are: {known}")]
    UnknownStream {
        connector: String,
        stream: String,
        known: String,
    },
    #[error("no mapping file for {kind}/{stream}; add mappings/{kind}/{stream}.toml (see `hrhub mapping test`)")]
    NoMapping { kind: String, stream: String },
    #[error("{0}")]
    Connector(#[from] ConnectorError),
    #[error("{0}")]
    Store(#[from] StoreError),
}

/// The stream pushed and recovered events land in (raw only: events are
/// not mapped; the records they name are).
pub const EVENTS_STREAM: &str = "events";

/// A drain of missed events stops after this many batches (200 events
/// each on DingTalk); the next sync goes on.
const MAX_MISSED_BATCHES: usize = 1_000;

/// Called after each committed page with the stream and the run's counts so far.
pub type ProgressFn = Arc<dyn Fn(&str, &RunCounts) + Send + Sync>;

/// Per-run options.
#[derive(Clone)]
pub struct SyncOptions {
    pub trigger: RunTrigger,
    /// Ignore the saved cursor and read from the configured start.
    pub full_refresh: bool,
    pub progress: Option<ProgressFn>,
}

impl Default for SyncOptions {
    fn default() -> Self {
        SyncOptions {
            trigger: RunTrigger::Manual,
            full_refresh: false,
            progress: None,
        }
    }
}

/// How one stream's run ended.
#[derive(Debug)]
pub struct SyncOutcome {
    pub connector: String,
    pub stream: String,
    pub run_id: i64,
    pub counts: RunCounts,
    /// `Err` holds the error that failed the run (also saved on the run).
    pub result: Result<(), String>,
}

/// Drives streams from connector to store.
pub struct SyncEngine {
    store: Arc<dyn Store>,
    mappings: Arc<MappingSet>,
    /// Identifies this process in leases.
    holder: String,
    lease_ttl: Duration,
}

impl SyncEngine {
    pub fn new(store: Arc<dyn Store>, mappings: Arc<MappingSet>) -> Self {
        SyncEngine {
            store,
            mappings,
            holder: format!(
                "{}:{}:{:x}",
                hostname(),
                std::process::id(),
                std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map(|d| d.as_nanos() as u64)
                    .unwrap_or(0)
            ),
            lease_ttl: Duration::from_secs(300),
        }
    }

    /// How long a stream's lease lasts without renewal (renewed after every
    /// page). A process on another host that dies holding a lease blocks
    /// the stream for at most this long.
    pub fn with_lease_ttl(mut self, ttl: Duration) -> Self {
        self.lease_ttl = ttl;
        self
    }

    pub fn store(&self) -> &Arc<dyn Store> {
        &self.store
    }

    /// The mapping for a stream, or the error that names the missing file.
    pub fn mapping_for(&self, kind: &str, stream: &str) -> Result<Arc<Mapping>, SyncError> {
        self.mappings
            .get(kind, stream)
            .ok_or_else(|| SyncError::NoMapping {
                kind: kind.to_string(),
                stream: stream.to_string(),
            })
    }

    /// Syncs the given streams (all, in the connector's order, when empty).
    /// A failing stream does not stop the others. Events the platform
    /// failed to push are recovered first ([`Self::recover_missed_events`]).
    pub async fn sync_connector(
        &self,
        conn: &ConnectorHandle,
        streams: &[String],
        options: &SyncOptions,
    ) -> Vec<Result<SyncOutcome, SyncError>> {
        let streams = if streams.is_empty() {
            conn.source.streams()
        } else {
            streams.to_vec()
        };
        let mut outcomes = self.recover_missed_events(conn, options.trigger).await;
        for stream in streams {
            outcomes.push(self.sync_stream(conn, &stream, options).await);
        }
        outcomes
    }

    /// Lands a pushed event durably, with the records it carries, in one
    /// transaction. Returns false for a duplicate delivery (the same event
    /// already landed): nothing more is done for it. The caller replies to
    /// the platform only after this returns.
    pub async fn land_push(
        &self,
        conn: &ConnectorHandle,
        event: &RawRecord,
        records: &[RawRecord],
    ) -> Result<bool, SyncError> {
        let mut tx = self.store.begin().await?;
        let fresh = self
            .land_event(&mut *tx, conn, event, records, None, false)
            .await?;
        tx.commit().await?;
        Ok(fresh)
    }

    /// Lands an event with the records it carries inside `tx`; true when
    /// the event is new (only then are its records applied). A pushed event
    /// landed again with other content replaces the held copy (`land`); a
    /// recovered one never does (`first_wins`: the pushed copy carries more).
    async fn land_event(
        &self,
        tx: &mut dyn StoreTx,
        conn: &ConnectorHandle,
        event: &RawRecord,
        records: &[RawRecord],
        run_id: Option<i64>,
        first_wins: bool,
    ) -> Result<bool, SyncError> {
        let event = std::slice::from_ref(event);
        let landed = if first_wins {
            tx.land_new(&conn.id, event, run_id).await?
        } else {
            tx.land(&conn.id, event, run_id).await?
        };
        let fresh = matches!(landed.first(), Some(Landing::Changed { .. }));
        if fresh {
            for (stream, group) in group_by_stream(records) {
                let mapping = self.mapping_for(conn.source.kind(), stream)?;
                apply_records(
                    tx,
                    conn,
                    &mapping,
                    &group,
                    run_id,
                    &mut BatchState::default(),
                )
                .await?;
            }
        }
        Ok(fresh)
    }

    /// Recovers the events the platform kept after failing to push them
    /// (the receiver was down past its retries; DingTalk's failed-push
    /// list). Each batch lands in one transaction before the next is asked
    /// for (the platform forgets what it hands out), through the same path
    /// as a push, so an event that came both ways is held once; then the
    /// records the new events name are re-fetched (`webhook` runs). The
    /// drain is a run of stream `events` when there was anything to recover
    /// or the platform could not be asked; an empty list records nothing.
    /// Skipped while another process drains the same connector.
    pub async fn recover_missed_events(
        &self,
        conn: &ConnectorHandle,
        trigger: RunTrigger,
    ) -> Vec<Result<SyncOutcome, SyncError>> {
        if !conn.source.keeps_missed_events() {
            return Vec::new();
        }
        let lease = format!("{}/{EVENTS_STREAM}", conn.id);
        match self.take_lease(&lease).await {
            Ok(true) => {}
            Ok(false) => {
                tracing::info!(connector = %conn.id, "another process is recovering missed events");
                return Vec::new();
            }
            Err(e) => return vec![Err(e.into())],
        }
        let first = conn.source.missed_events().await;
        if matches!(&first, Ok(batch) if batch.events.is_empty() && !batch.more) {
            let _ = self.store.release_lease(&lease, &self.holder).await;
            return Vec::new();
        }
        let mut refetch: Vec<Refetch> = Vec::new();
        let drained = self
            .recorded_run(conn, EVENTS_STREAM, trigger, |run_id| {
                self.drain_missed(conn, first, run_id, &lease, &mut refetch)
            })
            .await;
        let _ = self.store.release_lease(&lease, &self.holder).await;
        let mut outcomes = vec![drained];
        outcomes.extend(self.refetch(conn, &refetch).await);
        outcomes
    }

    async fn drain_missed(
        &self,
        conn: &ConnectorHandle,
        first: Result<MissedEvents, ConnectorError>,
        run_id: i64,
        lease: &str,
        refetch: &mut Vec<Refetch>,
    ) -> Result<RunCounts, SyncError> {
        let mut counts = RunCounts::default();
        let mut batch = first?;
        for _ in 0..MAX_MISSED_BATCHES {
            let mut tx = self.store.begin().await?;
            for missed in &batch.events {
                let fresh = self
                    .land_event(
                        &mut *tx,
                        conn,
                        &missed.event,
                        &missed.records,
                        Some(run_id),
                        true,
                    )
                    .await?;
                counts.fetched += 1;
                if fresh {
                    counts.upserted += 1;
                    merge_refetch(refetch, &missed.refetch);
                } else {
                    counts.unchanged += 1;
                }
            }
            tx.commit().await?;
            self.store.update_run(run_id, &counts).await?;
            if !batch.more {
                tracing::info!(connector = %conn.id, ?counts, "missed events recovered");
                return Ok(counts);
            }
            if !self
                .store
                .acquire_lease(lease, &self.holder, self.lease_ttl)
                .await?
            {
                return Err(SyncError::LeaseLost(lease.to_string()));
            }
            batch = conn.source.missed_events().await?;
        }
        Err(SyncError::Connector(ConnectorError::protocol(
            conn.source.kind(),
            format!("the failed-push list still had more after {MAX_MISSED_BATCHES} batches; the next sync goes on"),
        )))
    }

    /// Fetches and applies the records an event named by id, as a run with
    /// trigger `webhook` per stream (so it shows in status and history).
    pub async fn refetch(
        &self,
        conn: &ConnectorHandle,
        refetch: &[Refetch],
    ) -> Vec<Result<SyncOutcome, SyncError>> {
        let mut outcomes = Vec::new();
        for r in refetch {
            outcomes.push(self.refetch_one(conn, r).await);
        }
        outcomes
    }

    async fn refetch_one(
        &self,
        conn: &ConnectorHandle,
        r: &Refetch,
    ) -> Result<SyncOutcome, SyncError> {
        let mapping = self.mapping_for(conn.source.kind(), &r.stream)?;
        self.recorded_run(conn, &r.stream, RunTrigger::Webhook, |run_id| async move {
            let records = conn.source.fetch(&r.stream, &r.ids).await?;
            let mut tx = self.store.begin().await?;
            let counts = apply_records(
                &mut *tx,
                conn,
                &mapping,
                &records,
                Some(run_id),
                &mut BatchState::default(),
            )
            .await?;
            tx.commit().await?;
            Ok(counts)
        })
        .await
    }

    /// Records a run of (connector, stream) around `work`: started before,
    /// then finished with the counts `work` returns or failed with its error,
    /// so no path leaves a run `running`. (The paged sync keeps its own loop:
    /// it saves progress after every page.)
    async fn recorded_run<F, Fut>(
        &self,
        conn: &ConnectorHandle,
        stream: &str,
        trigger: RunTrigger,
        work: F,
    ) -> Result<SyncOutcome, SyncError>
    where
        F: FnOnce(i64) -> Fut,
        Fut: std::future::Future<Output = Result<RunCounts, SyncError>>,
    {
        let run_id = self.store.start_run(&conn.id, stream, trigger).await?;
        let (counts, error) = match work(run_id).await {
            Ok(counts) => (counts, None),
            Err(e) => (RunCounts::default(), Some(e.to_string())),
        };
        let status = if error.is_some() {
            RunStatus::Failed
        } else {
            RunStatus::Succeeded
        };
        self.store
            .finish_run(run_id, status, &counts, error.as_deref())
            .await?;
        Ok(SyncOutcome {
            connector: conn.id.clone(),
            stream: stream.to_string(),
            run_id,
            counts,
            result: error.map_or(Ok(()), Err),
        })
    }

    /// Re-maps the connector's quarantined records from their landed raw
    /// payloads with the current mapping files (after a mapping fix). Each
    /// stream with quarantined records gets a `replay` run; records that now
    /// map are written and leave quarantine, the rest stay with the new reason.
    pub async fn replay_quarantine(
        &self,
        conn: &ConnectorHandle,
    ) -> Result<Vec<SyncOutcome>, SyncError> {
        // only records that landed can be re-mapped (a file row that could not
        // be read never landed: it needs a fixed file, not a mapping fix)
        let entries: Vec<_> = self
            .store
            .quarantined(Some(&conn.id), i64::MAX)
            .await?
            .into_iter()
            .filter(|e| e.raw_record_id.is_some())
            .collect();
        let mut streams: Vec<&str> = entries.iter().map(|e| e.stream.as_str()).collect();
        streams.sort_unstable();
        streams.dedup();
        let mut outcomes = Vec::new();
        for stream in streams {
            let mapping = self.mapping_for(conn.source.kind(), stream)?;
            let entries = &entries;
            let mapping = &mapping;
            let outcome = self
                .recorded_run(conn, stream, RunTrigger::Replay, |run_id| async move {
                    let mut counts = RunCounts::default();
                    let mut tx = self.store.begin().await?;
                    let mut batch = BatchState::default();
                    let mut mapped_ok = Vec::new();
                    for entry in entries.iter().filter(|e| e.stream == stream) {
                        let record = RawRecord {
                            stream: entry.stream.clone(),
                            external_id: entry.external_id.clone(),
                            payload: entry.payload.clone(),
                            op: RecordOp::Upsert,
                            observed_at: entry.quarantined_at,
                        };
                        counts.fetched += 1;
                        let raw_record_id = entry.raw_record_id.unwrap_or_default();
                        if map_landed(
                            &mut *tx,
                            conn,
                            mapping,
                            &record,
                            raw_record_id,
                            Some(run_id),
                            &mut counts,
                            &mut batch,
                        )
                        .await?
                        {
                            mapped_ok.push(entry.external_id.as_str());
                        }
                    }
                    batch.flush(&mut *tx).await?;
                    tx.resolve_quarantine(&conn.id, stream, &mapped_ok).await?;
                    tx.commit().await?;
                    Ok(counts)
                })
                .await?;
            outcomes.push(outcome);
        }
        Ok(outcomes)
    }

    /// Lands an imported file as one run of `stream`: readable rows go through
    /// landing and mapping like polled records (so re-importing the same file
    /// changes nothing), unreadable rows go straight to quarantine with their
    /// reason (row number included).
    pub async fn import(
        &self,
        conn: &ConnectorHandle,
        stream: &str,
        records: &[RawRecord],
        rejected: &[(RawRecord, String)],
    ) -> Result<SyncOutcome, SyncError> {
        let mapping = self.mapping_for(conn.source.kind(), stream)?;
        let lease = format!("{}/{}", conn.id, stream);
        if !self.take_lease(&lease).await? {
            return Err(SyncError::Busy(lease));
        }
        let outcome = self
            .recorded_run(conn, stream, RunTrigger::Manual, |run_id| async move {
                let mut tx = self.store.begin().await?;
                let mut counts = apply_records(
                    &mut *tx,
                    conn,
                    &mapping,
                    records,
                    Some(run_id),
                    &mut BatchState::default(),
                )
                .await?;
                for (record, reason) in rejected {
                    tx.quarantine(&conn.id, record, None, reason, None, Some(run_id))
                        .await?;
                    counts.fetched += 1;
                    counts.quarantined += 1;
                }
                tx.commit().await?;
                Ok(counts)
            })
            .await;
        let _ = self.store.release_lease(&lease, &self.holder).await;
        outcome
    }

    /// Runs one stream until it is caught up or fails.
    pub async fn sync_stream(
        &self,
        conn: &ConnectorHandle,
        stream: &str,
        options: &SyncOptions,
    ) -> Result<SyncOutcome, SyncError> {
        let known = conn.source.streams();
        if !known.iter().any(|s| s == stream) {
            return Err(SyncError::UnknownStream {
                connector: conn.id.clone(),
                stream: stream.to_string(),
                known: known.join(", "),
            });
        }
        let mapping = self.mapping_for(conn.source.kind(), stream)?;
        let lease = format!("{}/{}", conn.id, stream);
        if !self.take_lease(&lease).await? {
            return Err(SyncError::Busy(lease));
        }
        let result = self.run_leased(conn, stream, &mapping, options).await;
        // A lease that fails to release simply expires.
        let _ = self.store.release_lease(&lease, &self.holder).await;
        result
    }

    /// Takes the stream's lease. A lease left by a process on this host that
    /// no longer runs (killed mid-sync) is taken over at once instead of
    /// blocking the stream until it expires.
    async fn take_lease(&self, lease: &str) -> Result<bool, StoreError> {
        if self
            .store
            .acquire_lease(lease, &self.holder, self.lease_ttl)
            .await?
        {
            return Ok(true);
        }
        match self.store.lease_holder(lease).await? {
            Some(holder) if holder_is_dead(&holder) => {
                tracing::warn!(
                    lease,
                    holder,
                    "taking over the lease of a process that no longer runs"
                );
                self.store
                    .take_over_lease(lease, &holder, &self.holder, self.lease_ttl)
                    .await
            }
            _ => Ok(false),
        }
    }

    async fn run_leased(
        &self,
        conn: &ConnectorHandle,
        stream: &str,
        mapping: &Mapping,
        options: &SyncOptions,
    ) -> Result<SyncOutcome, SyncError> {
        self.close_interrupted_runs(&conn.id, stream).await?;
        let run_id = self
            .store
            .start_run(&conn.id, stream, options.trigger)
            .await?;
        let mut counts = RunCounts::default();
        let result = self
            .pull_pages(conn, stream, mapping, options, run_id, &mut counts)
            .await;
        let error = result.as_ref().err().map(|e| e.to_string());
        let status = if error.is_some() {
            RunStatus::Failed
        } else {
            RunStatus::Succeeded
        };
        self.store
            .finish_run(run_id, status, &counts, error.as_deref())
            .await?;
        match &error {
            Some(e) => {
                tracing::error!(connector = %conn.id, stream, run_id, error = %e, "sync failed")
            }
            None => tracing::info!(connector = %conn.id, stream, run_id, ?counts, "sync finished"),
        }
        Ok(SyncOutcome {
            connector: conn.id.clone(),
            stream: stream.to_string(),
            run_id,
            counts,
            result: error.map_or(Ok(()), Err),
        })
    }

    /// A run left `running` by a process that died holding this stream's
    /// lease (we hold it now) is marked failed so status tells the truth.
    async fn close_interrupted_runs(
        &self,
        connector: &str,
        stream: &str,
    ) -> Result<(), StoreError> {
        for run in self.store.runs(Some(connector), Some(stream), 20).await? {
            if run.status == RunStatus::Running {
                self.store
                    .finish_run(
                        run.id,
                        RunStatus::Failed,
                        &run.counts,
                        Some("interrupted: the process stopped before the run finished; committed pages were kept and the next run resumed after them"),
                    )
                    .await?;
            }
        }
        Ok(())
    }

    async fn pull_pages(
        &self,
        conn: &ConnectorHandle,
        stream: &str,
        mapping: &Mapping,
        options: &SyncOptions,
        run_id: i64,
        counts: &mut RunCounts,
    ) -> Result<(), SyncError> {
        let state = self.store.stream_state(&conn.id, stream).await?;
        let cursor = if options.full_refresh {
            None
        } else {
            state.as_ref().and_then(|s| s.cursor.clone())
        };
        // A reconciling scan starts with the first read after the previous
        // one completed and keeps its id (committed with its first page)
        // across runs until it completes, so a failed or killed run resumes it.
        let mut scan = match conn.source.reconciles(stream) {
            false => None,
            true if options.full_refresh => Some(run_id),
            true => state.and_then(|s| s.scan_id).or(Some(run_id)),
        };
        let mut next = Prefetch::start(conn, stream, cursor);
        loop {
            let (mut page, serialized) = next.page().await?;
            // the next page is read while this one is written (the cursor
            // that resumes after it is already known; it is committed only
            // after this page)
            if !page.done {
                next = Prefetch::start(conn, stream, page.cursor.clone());
            }
            let mut tx = self.store.begin().await?;
            let mut batch = BatchState::default();
            let mut page_counts = apply_serialized_records(
                &mut *tx,
                conn,
                mapping,
                &page.records,
                &serialized,
                Some(run_id),
                &mut batch,
            )
            .await?;
            if let Some(scan_id) = scan {
                let seen: Vec<&str> = page
                    .records
                    .iter()
                    .filter(|r| r.op == RecordOp::Upsert)
                    .map(|r| r.external_id.as_str())
                    .collect();
                tx.mark_seen(&conn.id, stream, scan_id, &seen).await?;
                if page.done {
                    let deleted = reconcile_scan(
                        &mut *tx, conn, mapping, stream, scan_id, run_id, &mut batch,
                    )
                    .await?;
                    page_counts.add(&deleted);
                    scan = None;
                }
                tx.set_scan(&conn.id, stream, scan).await?;
            }
            tx.set_cursor(
                &conn.id,
                stream,
                page.cursor.as_deref(),
                batch.newest_source_at,
            )
            .await?;
            tx.commit().await?;
            // freeing a page's JSON trees is a tenth of a sync's CPU: done
            // beside the writer, not on its path
            let records = std::mem::take(&mut page.records);
            tokio::task::spawn_blocking(move || drop((records, serialized)));
            counts.add(&page_counts);
            self.store.update_run(run_id, counts).await?;
            // keep the lease while a long backfill runs; if it expired and
            // another process took the stream, stop rather than race it
            let lease = format!("{}/{stream}", conn.id);
            if !self
                .store
                .acquire_lease(&lease, &self.holder, self.lease_ttl)
                .await?
            {
                return Err(SyncError::LeaseLost(lease));
            }
            if let Some(progress) = &options.progress {
                progress(stream, counts);
            }
            if page.done {
                return Ok(());
            }
        }
    }
}

/// Ends a completed reconciling scan: every live record of the stream the
/// scan did not see was deleted upstream, so it goes through the same
/// delete path as a delete event. A scan that saw nothing while records are
/// held deletes nothing: an empty answer is far more likely lost access or a
/// wrong filter than everyone leaving at once.
async fn reconcile_scan(
    tx: &mut dyn StoreTx,
    conn: &ConnectorHandle,
    mapping: &Mapping,
    stream: &str,
    scan_id: i64,
    run_id: i64,
    batch: &mut BatchState,
) -> Result<RunCounts, StoreError> {
    let gaps = tx.unseen_in_scan(&conn.id, stream, scan_id).await?;
    if gaps.unseen.is_empty() {
        return Ok(RunCounts::default());
    }
    if gaps.seen == 0 {
        tracing::warn!(
            connector = %conn.id,
            stream,
            held = gaps.unseen.len(),
            "a full scan returned no records while the hub holds some; nothing marked deleted \
             (check the connector's permissions and filters)"
        );
        return Ok(RunCounts::default());
    }
    tracing::info!(connector = %conn.id, stream, deleted = gaps.unseen.len(), "records missing from a completed full scan marked deleted");
    let deletes: Vec<RawRecord> = gaps
        .unseen
        .into_iter()
        .map(|id| RawRecord {
            stream: stream.to_string(),
            payload: serde_json::json!({ "id": id, "deleted": "missing from a completed full scan" }),
            external_id: id,
            op: RecordOp::Delete,
            observed_at: Utc::now(),
        })
        .collect();
    apply_records(tx, conn, mapping, &deletes, Some(run_id), batch).await
}

/// A page being read on its own task while the engine writes the one
/// before it. Dropped unread (the run failed or lost its lease), the read
/// is aborted and its page discarded: nothing of it was committed.
/// The reader also serializes each record (its stored text and content
/// hash): CPU work the writer, the sync's one serial path, then does not do.
struct Prefetch(tokio::task::JoinHandle<Result<(Page, Vec<SerializedRecord>), ConnectorError>>);

impl Prefetch {
    fn start(conn: &ConnectorHandle, stream: &str, cursor: Option<String>) -> Self {
        let (source, stream) = (conn.source.clone(), stream.to_string());
        Prefetch(tokio::spawn(async move {
            let page = source.read_page(&stream, cursor.as_deref()).await?;
            let serialized = page.records.iter().map(RawRecord::serialize).collect();
            Ok((page, serialized))
        }))
    }

    async fn page(&mut self) -> Result<(Page, Vec<SerializedRecord>), ConnectorError> {
        match (&mut self.0).await {
            Ok(page) => page,
            // a panic in the connector is the caller's panic
            Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
            Err(e) => unreachable!("only dropping a prefetch cancels its read: {e}"),
        }
    }
}

impl Drop for Prefetch {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Lands, maps, resolves and upserts `records` inside `tx`. Shared by
/// polling, webhooks and replay so every path treats a record the same way.
pub async fn apply_records(
    tx: &mut dyn StoreTx,
    conn: &ConnectorHandle,
    mapping: &Mapping,
    records: &[RawRecord],
    run_id: Option<i64>,
    batch: &mut BatchState,
) -> Result<RunCounts, StoreError> {
    let serialized: Vec<SerializedRecord> = records.iter().map(RawRecord::serialize).collect();
    apply_serialized_records(tx, conn, mapping, records, &serialized, run_id, batch).await
}

/// [`apply_records`] with the records already serialized
/// (`serialized[i]` is `records[i]`'s [`RawRecord::serialize`]).
pub async fn apply_serialized_records(
    tx: &mut dyn StoreTx,
    conn: &ConnectorHandle,
    mapping: &Mapping,
    records: &[RawRecord],
    serialized: &[SerializedRecord],
    run_id: Option<i64>,
    batch: &mut BatchState,
) -> Result<RunCounts, StoreError> {
    let mut counts = RunCounts {
        fetched: records.len() as i64,
        ..RunCounts::default()
    };
    let connector = conn.id.as_str();
    let landings = tx
        .land_serialized(connector, records, serialized, run_id)
        .await?;
    // Changed upserts are mapped up front, so the people they name can be
    // looked up in one statement instead of one per person.
    let mut outcomes: Vec<Option<Result<MapOutcome, MapError>>> = records
        .iter()
        .zip(&landings)
        .map(|(record, landing)| {
            let changed = matches!(landing, Landing::Changed { .. });
            (changed && record.op == RecordOp::Upsert).then(|| mapping.apply(&record.payload))
        })
        .collect();
    resolve_links_ahead(tx, connector, &outcomes, batch).await?;
    let mut mapped_ok: Vec<&str> = Vec::new();
    for ((record, landing), outcome) in records.iter().zip(landings).zip(outcomes.iter_mut()) {
        let Landing::Changed { raw_record_id } = landing else {
            counts.unchanged += 1;
            continue;
        };
        let ok = write_landed(
            tx,
            conn,
            mapping,
            record,
            outcome.take(),
            raw_record_id,
            run_id,
            &mut counts,
            batch,
        )
        .await?;
        if ok {
            mapped_ok.push(&record.external_id);
        }
    }
    batch.flush(tx).await?;
    // records that map now close any quarantine entry they had
    if let Some(first) = records.first() {
        tx.resolve_quarantine(connector, &first.stream, &mapped_ok)
            .await?;
    }
    Ok(counts)
}

/// What one batch (a page, a push, a replay) learns as it goes.
#[derive(Default)]
pub struct BatchState {
    /// Resolutions already made: most records of a page name the same few
    /// people. Only non-roster records use it (they create no employees, so
    /// an answer cannot go stale within the batch).
    identities: HashMap<IdentityKeys, Option<Resolution>>,
    /// The newest source version timestamp mapped, for the stream's lag.
    pub newest_source_at: Option<DateTime<Utc>>,
    /// Entity writes not yet sent: a page's rows go out in a few multi-row
    /// statements at [`BatchState::flush`].
    pending: Vec<EntityWrite>,
}

impl BatchState {
    /// Writes the pending entity rows. Every batch must end with a flush
    /// before its transaction commits; [`apply_records`] does it.
    pub async fn flush(&mut self, tx: &mut dyn StoreTx) -> Result<(), StoreError> {
        if !self.pending.is_empty() {
            tx.upsert_entities(&self.pending).await?;
            self.pending.clear();
        }
        Ok(())
    }
}

impl Drop for BatchState {
    fn drop(&mut self) {
        // unflushed writes would be lost silently; tests catch the caller
        debug_assert!(
            self.pending.is_empty() || std::thread::panicking(),
            "BatchState dropped with {} unflushed entity writes",
            self.pending.len()
        );
    }
}

/// Puts the identity links of a batch's people in its resolution cache
/// with one statement ([`resolve_by_links`]) instead of one per person.
async fn resolve_links_ahead(
    tx: &mut dyn StoreTx,
    connector: &str,
    outcomes: &[Option<Result<MapOutcome, MapError>>],
    batch: &mut BatchState,
) -> Result<(), StoreError> {
    let identities = outcomes.iter().filter_map(|o| match o {
        // employees are resolved one by one: each can create the next's match
        Some(Ok(MapOutcome::Mapped(m))) if m.entity != EntityKind::Employee => Some(&m.identity),
        _ => None,
    });
    for (keys, found) in resolve_by_links(tx, connector, identities).await? {
        batch.identities.insert(keys, Some(found));
    }
    Ok(())
}

/// Maps one landed record and writes what it yields, or quarantines it.
/// Returns false when it was quarantined.
#[allow(clippy::too_many_arguments)]
pub async fn map_landed(
    tx: &mut dyn StoreTx,
    conn: &ConnectorHandle,
    mapping: &Mapping,
    record: &RawRecord,
    raw_record_id: i64,
    run_id: Option<i64>,
    counts: &mut RunCounts,
    batch: &mut BatchState,
) -> Result<bool, StoreError> {
    write_landed(
        tx,
        conn,
        mapping,
        record,
        None,
        raw_record_id,
        run_id,
        counts,
        batch,
    )
    .await
}

/// [`map_landed`] with the record's mapping outcome, when already known.
#[allow(clippy::too_many_arguments)]
async fn write_landed(
    tx: &mut dyn StoreTx,
    conn: &ConnectorHandle,
    mapping: &Mapping,
    record: &RawRecord,
    outcome: Option<Result<MapOutcome, MapError>>,
    raw_record_id: i64,
    run_id: Option<i64>,
    counts: &mut RunCounts,
    batch: &mut BatchState,
) -> Result<bool, StoreError> {
    let connector = conn.id.as_str();
    if record.op == RecordOp::Delete {
        // in source order: an upsert earlier in the batch lands before the delete
        batch.flush(tx).await?;
        apply_delete(tx, connector, mapping, record, raw_record_id, run_id).await?;
        counts.upserted += 1;
        return Ok(true);
    }
    let outcome = outcome.unwrap_or_else(|| mapping.apply(&record.payload));
    let mapped = match outcome {
        Ok(MapOutcome::Mapped(mapped)) => mapped,
        Ok(MapOutcome::Filtered) => {
            counts.filtered += 1;
            return Ok(true);
        }
        Err(e) => {
            counts.quarantined += 1;
            tx.quarantine(
                connector,
                record,
                Some(raw_record_id),
                &e.to_string(),
                Some(&mapping.version),
                run_id,
            )
            .await?;
            return Ok(false);
        }
    };
    let ctx = WriteContext {
        connector: connector.to_string(),
        raw_record_id: Some(raw_record_id),
        sync_run_id: run_id,
        mapping_version: Some(mapping.version.clone()),
    };
    counts.upserted += 1;
    if mapped.source_updated_at > batch.newest_source_at {
        batch.newest_source_at = mapped.source_updated_at;
    }
    if mapped.entity == EntityKind::Employee {
        // rows written so far can be attached by the employee this creates
        batch.flush(tx).await?;
        write_employee(tx, conn, mapped, &ctx).await?;
        return Ok(true);
    }
    let resolution = match batch.identities.get(&mapped.identity) {
        Some(cached) => *cached,
        None => {
            let found = resolve(tx, connector, &mapped.identity, &conn.match_keys)
                .await?
                .found;
            if let (Some(r), Some(external_id)) = (found, &mapped.identity.external_id) {
                if r.matched_by != "link" {
                    tx.link_identity(connector, external_id, r.employee_id, r.matched_by)
                        .await?;
                }
            }
            batch.identities.insert(mapped.identity.clone(), found);
            found
        }
    };
    // a record that names no one (e.g. ticket metrics) is not unmatched
    if resolution.is_none() && !mapped.identity.is_empty() {
        counts.unmatched += 1;
    }
    batch.pending.push(EntityWrite {
        mapped,
        employee_id: resolution.map(|r| r.employee_id),
        ctx,
    });
    Ok(true)
}

/// An upstream delete. Deletes carry little more than an id, so they are
/// not mapped: a deleted roster account marks its linked employee `left`
/// (HR keeps leavers); anything else is soft-deleted by key, which for
/// these entities is the record's external id.
async fn apply_delete(
    tx: &mut dyn StoreTx,
    connector: &str,
    mapping: &Mapping,
    record: &RawRecord,
    raw_record_id: i64,
    run_id: Option<i64>,
) -> Result<(), StoreError> {
    let ctx = WriteContext {
        connector: connector.to_string(),
        raw_record_id: Some(raw_record_id),
        sync_run_id: run_id,
        mapping_version: Some(mapping.version.clone()),
    };
    if mapping.target == EntityKind::Employee {
        if let Some(employee_id) = tx.employee_by_link(connector, &record.external_id).await? {
            let left = MappedEntity {
                entity: EntityKind::Employee,
                key: record.external_id.clone(),
                identity: IdentityKeys::default(),
                fields: vec![("status", FieldValue::Text("left".into()))],
                source_updated_at: None,
            };
            tx.upsert_employee(Some(employee_id), &left, &ctx).await?;
        }
        return Ok(());
    }
    tx.delete_entity(mapping.target, connector, &record.external_id, &ctx)
        .await?;
    Ok(())
}

/// A roster record: match it to an existing employee or create one, link
/// the source account, and attach records that were waiting for this person.
async fn write_employee(
    tx: &mut dyn StoreTx,
    conn: &ConnectorHandle,
    mut mapped: MappedEntity,
    ctx: &WriteContext,
) -> Result<(), StoreError> {
    let connector = conn.id.as_str();
    // the columns keys are matched against hold the keys' normal forms
    mapped.normalize_match_fields();
    let resolved = resolve(tx, connector, &mapped.identity, &conn.match_keys).await?;
    // a key that belongs to someone else is reported, not copied onto this
    // employee, nor used to attach that someone's waiting records
    for key in &resolved.conflicting {
        mapped.fields.retain(|(name, _)| *name != key.as_str());
        match key {
            MatchKey::EmployeeNo => mapped.identity.employee_no = None,
            MatchKey::Email => mapped.identity.email = None,
            MatchKey::Mobile => mapped.identity.mobile = None,
        }
    }
    let mapped = &mapped;
    let resolution = resolved.found;
    let upserted = tx
        .upsert_employee(resolution.map(|r| r.employee_id), mapped, ctx)
        .await?;
    let external_id = mapped
        .identity
        .external_id
        .as_deref()
        .unwrap_or(&mapped.key);
    let matched_by = resolution.map_or("created", |r| r.matched_by);
    tx.link_identity(connector, external_id, upserted.id, matched_by)
        .await?;
    tx.resolve_waiting(upserted.id, &mapped.identity).await?;
    Ok(())
}

/// Adds `more` to `into`, one entry per stream, each id once.
fn merge_refetch(into: &mut Vec<Refetch>, more: &[Refetch]) {
    for r in more {
        match into.iter_mut().find(|x| x.stream == r.stream) {
            Some(x) => {
                for id in &r.ids {
                    if !x.ids.contains(id) {
                        x.ids.push(id.clone());
                    }
                }
            }
            None => into.push(r.clone()),
        }
    }
}

/// Records grouped by stream, in first-seen order.
fn group_by_stream(records: &[RawRecord]) -> Vec<(&str, Vec<RawRecord>)> {
    let mut groups: Vec<(&str, Vec<RawRecord>)> = Vec::new();
    for r in records {
        match groups.iter_mut().find(|(s, _)| *s == r.stream) {
            Some((_, g)) => g.push(r.clone()),
            None => groups.push((r.stream.as_str(), vec![r.clone()])),
        }
    }
    groups
}

fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_string())
        .ok()
        .filter(|h| !h.is_empty())
        .or_else(|| std::env::var("HOSTNAME").ok())
        .unwrap_or_else(|| "localhost".to_string())
}

/// True only when the holder (`host:pid:nonce`) is on this host and its
/// process is gone. Other hosts' leases are left to expire.
fn holder_is_dead(holder: &str) -> bool {
    let mut parts = holder.split(':');
    let (Some(host), Some(pid)) = (parts.next(), parts.next()) else {
        return false;
    };
    if host != hostname() || !std::path::Path::new("/proc/self").exists() {
        return false;
    }
    match pid.parse::<u32>() {
        Ok(pid) if pid != std::process::id() => {
            !std::path::Path::new(&format!("/proc/{pid}")).exists()
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_local_vanished_holders_count_as_dead() {
        let me = format!("{}:{}:1", hostname(), std::process::id());
        assert!(!holder_is_dead(&me));
        assert!(holder_is_dead(&format!(
            "{}:{}:1",
            hostname(),
            u32::MAX - 1
        )));
        assert!(!holder_is_dead(&format!("another-host:{}:1", u32::MAX - 1)));
        assert!(!holder_is_dead("garbage"));
    }
}
