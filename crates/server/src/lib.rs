//! `hrhub serve`: one HTTP listener for health checks, event push and the
//! `/api/v1` HR and admin API (bearer tokens with roles).
//!
//! Handlers are thin: they translate HTTP to calls on the sync engine and
//! the connectors' push receivers, and errors to RFC 9457 problem details.

pub mod api;
pub mod auth;
mod problem;
mod webhooks;

pub use problem::Problem;

use axum::extract::{DefaultBodyLimit, State};
use axum::middleware::from_fn_with_state;
use axum::routing::get;
use axum::Router;
use hrhub_sync::{ConnectorHandle, SyncEngine};
use std::collections::HashMap;
use std::future::Future;
use std::sync::Arc;

/// Largest webhook body accepted; platform events are a few kilobytes.
pub const MAX_WEBHOOK_BODY: usize = 1024 * 1024;

/// What every handler can reach.
#[derive(Clone)]
pub struct AppState {
    pub engine: Arc<SyncEngine>,
    pub connectors: Arc<HashMap<String, ConnectorHandle>>,
    /// Per-token request budget of the API.
    pub rate_limits: Arc<auth::RateLimits>,
    /// Thresholds of the probation report.
    pub probation: api::ProbationThresholds,
}

impl AppState {
    pub fn new(engine: Arc<SyncEngine>, connectors: Vec<ConnectorHandle>) -> Self {
        AppState {
            engine,
            connectors: Arc::new(connectors.into_iter().map(|c| (c.id.clone(), c)).collect()),
            rate_limits: Arc::new(auth::RateLimits::new(50, 100)),
            probation: api::ProbationThresholds::default(),
        }
    }
}

pub fn router(state: AppState) -> Router {
    let reader = api::reader_routes().route_layer(from_fn_with_state(state.clone(), auth::reader));
    let admin = api::admin_routes().route_layer(from_fn_with_state(state.clone(), auth::admin));
    Router::new()
        .route("/healthz", get(|| async { "ok" }))
        .route("/readyz", get(readyz))
        .route(
            "/webhooks/{connector_id}",
            get(webhooks::receive).post(webhooks::receive),
        )
        .merge(reader)
        .merge(admin)
        .fallback(|| async {
            Problem::new(404, "Not found", "no such route; see README for the API")
        })
        .layer(DefaultBodyLimit::max(MAX_WEBHOOK_BODY))
        .with_state(state)
}

/// Ready when the store answers.
async fn readyz(State(state): State<AppState>) -> Result<&'static str, Problem> {
    state
        .engine
        .store()
        .runs(None, None, 1)
        .await
        .map(|_| "ready")
        .map_err(|e| {
            tracing::error!(error = %e, "store not reachable");
            Problem::new(
                503,
                "Store unavailable",
                "the store does not answer; see the hub's log",
            )
        })
}

/// Serves on `listen` until `shutdown` resolves, then finishes in-flight requests.
pub async fn serve(
    listen: &str,
    state: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let listener = tokio::net::TcpListener::bind(listen).await?;
    serve_on(listener, state, shutdown).await
}

/// As [`serve`], on a listener already bound (e.g. to port 0).
pub async fn serve_on(
    listener: tokio::net::TcpListener,
    state: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    tracing::info!(listen = %listener.local_addr()?, "hrhub serving");
    axum::serve(listener, router(state))
        .with_graceful_shutdown(shutdown)
        .await
}
