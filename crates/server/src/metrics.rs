//! `/metrics`: Prometheus text exposition. Stream gauges and run totals are
//! read from the store at scrape time (several hub processes share it, so
//! no process keeps them); webhook counters and HTTP latencies are this
//! process's own.

use crate::{AppState, Problem};
use axum::extract::{MatchedPath, Request, State};
use axum::http::header;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::Instant;

/// Upper bounds (seconds) of the HTTP latency histogram's buckets.
const LATENCY_BUCKETS: [f64; 12] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
];

#[derive(Debug, Default, Clone)]
struct Histogram {
    /// Per bucket (not cumulative); the last slot is +Inf.
    buckets: [u64; LATENCY_BUCKETS.len() + 1],
    count: u64,
    sum: f64,
}

/// HTTP request latencies by (method, route template, status).
#[derive(Debug, Default)]
pub struct HttpMetrics {
    by_route: Mutex<BTreeMap<(String, String, u16), Histogram>>,
}

impl HttpMetrics {
    fn observe(&self, method: String, route: String, status: u16, seconds: f64) {
        let slot = LATENCY_BUCKETS
            .iter()
            .position(|b| seconds <= *b)
            .unwrap_or(LATENCY_BUCKETS.len());
        let mut map = self.by_route.lock().expect("http metrics lock");
        let h = map.entry((method, route, status)).or_default();
        h.buckets[slot] += 1;
        h.count += 1;
        h.sum += seconds;
    }

    fn write(&self, out: &mut String) {
        let name = "hrhub_http_request_duration_seconds";
        let _ = writeln!(out, "# HELP {name} HTTP request latency by route template (this process).\n# TYPE {name} histogram");
        let map = self.by_route.lock().expect("http metrics lock").clone();
        for ((method, route, status), h) in map {
            let labels = format!(
                "method=\"{}\",route=\"{}\",status=\"{status}\"",
                escape(&method),
                escape(&route)
            );
            let mut cumulative = 0;
            for (i, bound) in LATENCY_BUCKETS.iter().enumerate() {
                cumulative += h.buckets[i];
                let _ = writeln!(out, "{name}_bucket{{{labels},le=\"{bound}\"}} {cumulative}");
            }
            let _ = writeln!(out, "{name}_bucket{{{labels},le=\"+Inf\"}} {}", h.count);
            let _ = writeln!(out, "{name}_sum{{{labels}}} {}", h.sum);
            let _ = writeln!(out, "{name}_count{{{labels}}} {}", h.count);
        }
    }
}

/// Times every request under its route template (`/api/v1/employees/{id}`,
/// never the concrete path, so label sets stay bounded).
pub async fn track_http(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let started = Instant::now();
    let method = req.method().to_string();
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_string(), |p| p.as_str().to_string());
    let response = next.run(req).await;
    state.http.observe(
        method,
        route,
        response.status().as_u16(),
        started.elapsed().as_secs_f64(),
    );
    response
}

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

/// Runs by final status and records by outcome, per stream, over all runs
/// any hub process recorded (monotonic: runs are never pruned).
async fn write_run_totals(out: &mut String, store: &dyn hrhub_store::Store) -> Result<(), Problem> {
    let totals = store
        .run_totals()
        .await
        .map_err(|e| Problem::new(503, "Store unavailable", e.to_string()))?;
    let _ = writeln!(out, "# HELP hrhub_sync_runs_total Sync runs by status (running, succeeded, failed = errors).\n# TYPE hrhub_sync_runs_total counter");
    for t in &totals {
        let _ = writeln!(
            out,
            "hrhub_sync_runs_total{{connector=\"{}\",stream=\"{}\",status=\"{}\"}} {}",
            escape(&t.connector),
            escape(&t.stream),
            t.status.as_str(),
            t.runs
        );
    }
    let _ = writeln!(out, "# HELP hrhub_sync_records_total Records handled by sync runs, by outcome.\n# TYPE hrhub_sync_records_total counter");
    let mut per_stream: BTreeMap<(&str, &str), [i64; 3]> = BTreeMap::new();
    for t in &totals {
        let sums = per_stream.entry((&t.connector, &t.stream)).or_default();
        sums[0] += t.fetched;
        sums[1] += t.upserted;
        sums[2] += t.quarantined;
    }
    for ((connector, stream), sums) in per_stream {
        for (outcome, value) in ["fetched", "upserted", "quarantined"].iter().zip(sums) {
            let _ = writeln!(
                out,
                "hrhub_sync_records_total{{connector=\"{}\",stream=\"{}\",outcome=\"{outcome}\"}} {value}",
                escape(connector),
                escape(stream)
            );
        }
    }
    Ok(())
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
        gauge(
            "hrhub_stream_last_run_duration_seconds",
            "How long the stream's last finished run took.",
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
                gauges[4]
                    .samples
                    .push((labels.clone(), run.counts.fetched as f64));
                if let Some(finished) = run.finished_at {
                    let seconds = (finished - run.started_at).num_milliseconds() as f64 / 1000.0;
                    gauges[5].samples.push((labels, seconds));
                }
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
        .conflict_count()
        .await
        .map_err(|e| Problem::new(503, "Store unavailable", e.to_string()))?;
    let _ = writeln!(
        out,
        "# HELP hrhub_identity_conflicts Identity conflicts reported.\n# TYPE hrhub_identity_conflicts gauge\nhrhub_identity_conflicts {conflicts}"
    );
    write_run_totals(&mut out, &**store).await?;
    state.http.write(&mut out);
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
