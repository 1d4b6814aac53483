//! `/metrics`: Prometheus text exposition. Stream gauges are read from the
//! store at scrape time (several hub processes share it, so no process
//! keeps them); webhook counters are this process's own.

use crate::{AppState, Problem};
use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;
use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering};

/// Webhook deliveries seen by this process.
#[derive(Debug, Default)]
pub struct WebhookCounters {
    pub accepted: AtomicU64,
    pub duplicate: AtomicU64,
    pub refused: AtomicU64,
}

impl WebhookCounters {
    pub fn count(counter: &AtomicU64) {
        counter.fetch_add(1, Ordering::Relaxed);
    }
}

/// One gauge family: samples are (label set, value).
struct Gauge {
    name: &'static str,
    help: &'static str,
    samples: Vec<(String, f64)>,
}

fn escape(label: &str) -> String {
    label
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// Prometheus metrics.
#[utoipa::path(get, path = "/metrics", tag = "ops", responses((status = 200, description = "Prometheus text format")))]
pub async fn metrics(State(state): State<AppState>) -> Result<impl IntoResponse, Problem> {
    let store = state.engine.store();
    let mut out = String::new();
    let gauge = |name, help| Gauge {
        name,
        help,
        samples: Vec::new(),
    };
    let mut gauges = [
        gauge(
            "hrhub_stream_records_held",
            "Raw records landed per stream.",
        ),
        gauge(
            "hrhub_stream_quarantined",
            "Open quarantine entries per stream.",
        ),
        gauge(
            "hrhub_stream_lag_seconds",
            "Now minus the newest source timestamp mapped.",
        ),
        gauge(
            "hrhub_stream_last_run_failed",
            "1 when the stream's last run failed.",
        ),
        gauge(
            "hrhub_stream_last_run_fetched",
            "Records fetched by the stream's last run.",
        ),
    ];
    let mut ids: Vec<&String> = state.connectors.keys().collect();
    ids.sort();
    for id in ids {
        let streams = state.connectors[id].source.streams();
        let statuses = hrhub_sync::connector_status(&**store, id, &streams)
            .await
            .map_err(|e| Problem::new(503, "Store unavailable", e.to_string()))?;
        for s in statuses {
            let labels = format!(
                "connector=\"{}\",stream=\"{}\"",
                escape(&s.connector),
                escape(&s.stream)
            );
            gauges[0]
                .samples
                .push((labels.clone(), s.records_held as f64));
            gauges[1]
                .samples
                .push((labels.clone(), s.quarantined as f64));
            if let Some(lag) = s.lag_seconds {
                gauges[2].samples.push((labels.clone(), lag as f64));
            }
            if let Some(run) = &s.last_run {
                let failed = run.status == hrhub_model::RunStatus::Failed;
                gauges[3]
                    .samples
                    .push((labels.clone(), if failed { 1.0 } else { 0.0 }));
                gauges[4].samples.push((labels, run.counts.fetched as f64));
            }
        }
    }
    for Gauge {
        name,
        help,
        samples,
    } in &gauges
    {
        let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} gauge");
        for (labels, value) in samples {
            let _ = writeln!(out, "{name}{{{labels}}} {value}");
        }
    }
    let conflicts = store
        .conflicts(i64::from(i32::MAX))
        .await
        .map_err(|e| Problem::new(503, "Store unavailable", e.to_string()))?
        .len();
    let _ = writeln!(
        out,
        "# HELP hrhub_identity_conflicts Identity conflicts reported.\n# TYPE hrhub_identity_conflicts gauge\nhrhub_identity_conflicts {conflicts}"
    );
    let w = &state.webhooks;
    let _ = writeln!(
        out,
        "# HELP hrhub_webhook_deliveries_total Webhook deliveries by outcome (this process)."
    );
    let _ = writeln!(out, "# TYPE hrhub_webhook_deliveries_total counter");
    for (outcome, counter) in [
        ("accepted", &w.accepted),
        ("duplicate", &w.duplicate),
        ("refused", &w.refused),
    ] {
        let _ = writeln!(
            out,
            "hrhub_webhook_deliveries_total{{outcome=\"{outcome}\"}} {}",
            counter.load(Ordering::Relaxed)
        );
    }
    Ok(([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], out))
}
