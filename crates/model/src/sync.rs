//! Sync runs and stream state, as recorded by the sync engine and shown by
//! `hrhub status` and the admin API.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// What started a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RunTrigger {
    Manual,
    Schedule,
    Webhook,
    Replay,
}

impl RunTrigger {
    pub fn as_str(self) -> &'static str {
        match self {
            RunTrigger::Manual => "manual",
            RunTrigger::Schedule => "schedule",
            RunTrigger::Webhook => "webhook",
            RunTrigger::Replay => "replay",
        }
    }
}

/// How a run ended (or that it has not yet).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RunStatus {
    /// Still going, or the process died before it could say otherwise.
    Running,
    /// Reached the end of the stream.
    Succeeded,
    /// Stopped on an error; committed batches stay, the cursor points after them.
    Failed,
}

impl RunStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            RunStatus::Running => "running",
            RunStatus::Succeeded => "succeeded",
            RunStatus::Failed => "failed",
        }
    }

    pub fn parse(s: &str) -> Option<RunStatus> {
        match s {
            "running" => Some(RunStatus::Running),
            "succeeded" => Some(RunStatus::Succeeded),
            "failed" => Some(RunStatus::Failed),
            _ => None,
        }
    }
}

/// What a run did with the records it fetched.
/// `fetched = unchanged + upserted + quarantined + filtered`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunCounts {
    /// Raw records the connector returned.
    pub fetched: i64,
    /// Stopped at landing: same content as already held.
    pub unchanged: i64,
    /// Changed records whose entities were written.
    pub upserted: i64,
    /// Changed records that failed their mapping.
    pub quarantined: i64,
    /// Changed records the mapping's filter skipped (e.g. end users, not agents).
    pub filtered: i64,
    /// Of the upserted, records whose person could not be resolved to an employee.
    pub unmatched: i64,
}

impl RunCounts {
    pub fn add(&mut self, other: &RunCounts) {
        self.fetched += other.fetched;
        self.unchanged += other.unchanged;
        self.upserted += other.upserted;
        self.quarantined += other.quarantined;
        self.filtered += other.filtered;
        self.unmatched += other.unmatched;
    }
}

/// One run of one (connector, stream).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SyncRun {
    pub id: i64,
    pub connector: String,
    pub stream: String,
    pub trigger: RunTrigger,
    pub status: RunStatus,
    pub started_at: DateTime<Utc>,
    pub finished_at: Option<DateTime<Utc>>,
    pub counts: RunCounts,
    /// Why the run failed, worded for the admin who must act on it.
    pub error: Option<String>,
}

/// Where a stream stands: its cursor and its last run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StreamState {
    pub connector: String,
    pub stream: String,
    /// The connector's resume point (opaque to everyone but the connector).
    pub cursor: Option<String>,
    pub updated_at: DateTime<Utc>,
    /// The newest source version timestamp (e.g. a ticket's `updated_at`)
    /// among the records the stream has mapped; now minus this is the lag.
    pub newest_source_at: Option<DateTime<Utc>>,
    /// The reconciling full scan the stream is in the middle of (the id of
    /// the run that started it); `None` between scans.
    #[serde(default)]
    pub scan_id: Option<i64>,
}
