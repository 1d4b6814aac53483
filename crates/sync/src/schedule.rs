//! Cron schedules for `hrhub serve`, on tokio-cron-scheduler.
//!
//! Users write classic 5-field cron (`min hour dom month dow`, in UTC);
//! the scheduler wants 6 fields with seconds, so a `0` seconds field is
//! prepended. Six fields (seconds first) are taken as they are, for
//! sub-minute schedules. Note the scheduler ANDs day-of-month with
//! day-of-week where classic cron ORs them: restrict only one of the two.

use crate::{ConnectorHandle, SyncEngine, SyncOptions};
use chrono::{DateTime, Utc};
use hrhub_model::RunTrigger;
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use tokio_cron_scheduler::{Job, JobScheduler};
use uuid::Uuid;

/// Converts a 5-field cron expression to the scheduler's 6-field form
/// (6 fields pass through), after a light syntax check.
pub fn to_six_fields(cron: &str) -> Result<String, String> {
    let fields: Vec<&str> = cron.split_whitespace().collect();
    if let Some(bad) = fields.iter().find(|f| {
        !f.chars()
            .all(|c| c.is_ascii_alphanumeric() || "*/,-?".contains(c))
    }) {
        return Err(format!("`{bad}` is not a cron field"));
    }
    match fields.len() {
        5 => Ok(format!("0 {}", fields.join(" "))),
        6 => Ok(fields.join(" ")),
        n => Err(format!(
            "`{cron}` has {n} fields; write 5-field cron: minute hour day-of-month month day-of-week (e.g. \"*/15 * * * *\"), or 6 with seconds first"
        )),
    }
}

/// Runs each scheduled connector's streams on its cron schedule. A tick
/// that finds the previous run of the same connector still going is
/// skipped; other processes are kept out by the stream leases.
pub struct Scheduler {
    inner: JobScheduler,
    jobs: Vec<(String, Uuid)>,
}

impl Scheduler {
    pub async fn start(
        engine: Arc<SyncEngine>,
        schedules: Vec<(ConnectorHandle, String)>,
    ) -> Result<Scheduler, String> {
        let inner = JobScheduler::new()
            .await
            .map_err(|e| format!("cannot start the scheduler: {e}"))?;
        let mut jobs = Vec::new();
        for (conn, cron) in schedules {
            let six = to_six_fields(&cron)
                .map_err(|e| format!("connector `{}`: key `schedule`: {e}", conn.id))?;
            let running = Arc::new(AtomicBool::new(false));
            let engine = engine.clone();
            let id = conn.id.clone();
            let job = Job::new_async(six.as_str(), move |_, _| {
                let engine = engine.clone();
                let conn = conn.clone();
                let running = running.clone();
                Box::pin(async move {
                    if running.swap(true, Ordering::SeqCst) {
                        tracing::info!(connector = %conn.id, "previous scheduled run still going; tick skipped");
                        return;
                    }
                    let options = SyncOptions {
                        trigger: RunTrigger::Schedule,
                        ..SyncOptions::default()
                    };
                    for outcome in engine.sync_connector(&conn, &[], &options).await {
                        if let Err(e) = outcome {
                            tracing::warn!(connector = %conn.id, error = %e, "scheduled sync did not run");
                        }
                    }
                    running.store(false, Ordering::SeqCst);
                })
            })
            .map_err(|e| format!("connector `{id}`: key `schedule`: `{cron}` is not a valid cron expression: {e}"))?;
            let uuid = inner
                .add(job)
                .await
                .map_err(|e| format!("connector `{id}`: cannot schedule: {e}"))?;
            jobs.push((id, uuid));
        }
        inner
            .start()
            .await
            .map_err(|e| format!("cannot start the scheduler: {e}"))?;
        Ok(Scheduler { inner, jobs })
    }

    /// When each scheduled connector runs next.
    pub async fn next_runs(&mut self) -> HashMap<String, Option<DateTime<Utc>>> {
        let mut out = HashMap::new();
        for (id, uuid) in &self.jobs {
            let next = self.inner.next_tick_for_job(*uuid).await.ok().flatten();
            out.insert(id.clone(), next);
        }
        out
    }

    pub async fn shutdown(&mut self) {
        let _ = self.inner.shutdown().await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn five_fields_gain_a_seconds_field() {
        assert_eq!(to_six_fields("*/15 * * * *").unwrap(), "0 */15 * * * *");
        assert!(to_six_fields("* * *").unwrap_err().contains("3 fields"));
        assert_eq!(
            to_six_fields("*/5 * * * * *").unwrap(),
            "*/5 * * * * *",
            "6 fields (seconds first) pass through"
        );
        assert!(to_six_fields("* * * * * * *").is_err());
        assert!(to_six_fields("*/5 * * * $(x)").is_err());
    }
}
