//! The sync engine: runs each (connector, stream) through landing, mapping,
//! identity resolution and the unified store, one committed page at a time.
//!
//! A page's records and the cursor that resumes after it commit in one
//! transaction, so a crash at any point loses nothing and duplicates
//! nothing: the next run starts after the last committed page, and pages
//! re-read after a crash stop at landing.

mod engine;
mod identity;
mod schedule;
mod status;

pub use engine::{
    apply_records, map_landed, BatchState, ConnectorHandle, ProgressFn, SyncEngine, SyncError,
    SyncOptions, SyncOutcome,
};
pub use identity::{resolve, Resolution, Resolved};
pub use schedule::{to_six_fields, Scheduler};
pub use status::{connector_status, disabled_connector_status, StreamStatus};
