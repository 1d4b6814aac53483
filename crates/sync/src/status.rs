//! Where each stream stands, for `hrhub status` and the admin API.

use chrono::{DateTime, Utc};
use hrhub_model::{RunStatus, SyncRun};
use hrhub_store::{Store, StoreError};
use serde::Serialize;

/// One (connector, stream) as an admin sees it.
#[derive(Debug, Clone, Default, Serialize)]
pub struct StreamStatus {
    pub connector: String,
    pub stream: String,
    /// `never` (no run yet), `syncing`, `done`, `partial` (the last run
    /// failed after committing some pages), `failed`, or `disabled` (the
    /// connector has `enabled = false`; what it synced before is still held).
    pub status: &'static str,
    /// The newest run, with its counts and error.
    pub last_run: Option<SyncRun>,
    /// The saved resume cursor (opaque; shown for support).
    pub cursor: Option<String>,
    /// Raw records held for the stream.
    pub records_held: i64,
    /// Quarantined records awaiting a mapping fix or replay.
    pub quarantined: i64,
    /// The newest source timestamp the stream has mapped.
    pub newest_source_at: Option<DateTime<Utc>>,
    /// Now minus `newest_source_at`, in seconds: how far behind the source
    /// the store is (an upper bound; a quiet source also looks behind).
    pub lag_seconds: Option<i64>,
    /// When the connector's schedule runs it next (`serve` only).
    pub next_scheduled: Option<DateTime<Utc>>,
}

/// A disabled connector's streams (those configured, else those it has run
/// before), each with its last known run and status `disabled`; one `*`
/// row when nothing is known.
pub async fn disabled_connector_status(
    store: &dyn Store,
    connector: &str,
    configured: &[String],
) -> Result<Vec<StreamStatus>, StoreError> {
    let mut names = configured.to_vec();
    if names.is_empty() {
        names = store
            .runs(Some(connector), None, 1_000)
            .await?
            .into_iter()
            .map(|r| r.stream)
            .collect();
        names.sort();
        names.dedup();
    }
    let mut out = connector_status(store, connector, &names).await?;
    if out.is_empty() {
        out.push(StreamStatus {
            connector: connector.to_string(),
            stream: "*".to_string(),
            ..Default::default()
        });
    }
    for s in &mut out {
        s.status = "disabled";
    }
    Ok(out)
}

/// Status of every stream of one connector, in the connector's order.
pub async fn connector_status(
    store: &dyn Store,
    connector: &str,
    streams: &[String],
) -> Result<Vec<StreamStatus>, StoreError> {
    let mut out = Vec::new();
    for stream in streams {
        let last_run = store
            .runs(Some(connector), Some(stream), 1)
            .await?
            .into_iter()
            .next();
        let state = store.stream_state(connector, stream).await?;
        let holdings = store.holdings(connector, stream).await?;
        let newest_source_at = state.as_ref().and_then(|s| s.newest_source_at);
        out.push(StreamStatus {
            connector: connector.to_string(),
            stream: stream.clone(),
            status: match last_run.as_ref().map(|r| (r.status, r.counts.fetched)) {
                None => "never",
                Some((RunStatus::Running, _)) => "syncing",
                Some((RunStatus::Succeeded, _)) => "done",
                // pages committed before the failure stay (and the cursor after them)
                Some((RunStatus::Failed, fetched)) if fetched > 0 => "partial",
                Some((RunStatus::Failed, _)) => "failed",
            },
            last_run,
            cursor: state.and_then(|s| s.cursor),
            records_held: holdings.records,
            quarantined: holdings.quarantined,
            newest_source_at,
            lag_seconds: newest_source_at.map(|t| (Utc::now() - t).num_seconds().max(0)),
            next_scheduled: None,
        });
    }
    Ok(out)
}
