//! `hrhub serve`: one HTTP listener for health checks, event push and the
//! `/api/v1` HR and admin API (bearer tokens with roles), and the
//! dashboard (log-in with an admin token, then a session cookie).
//!
//! Handlers are thin: they translate HTTP to calls on the sync engine and
//! the connectors' push receivers, and errors to RFC 9457 problem details.

pub mod api;
pub mod auth;
pub mod metrics;
mod problem;
mod redact;
pub mod session;
mod webhooks;

pub use problem::Problem;

use axum::extract::{DefaultBodyLimit, State};
use axum::middleware::from_fn_with_state;
use axum::{Json, Router};
use hrhub_sync::{ConnectorHandle, SyncEngine};
use std::collections::HashMap;
use std::future::Future;
use std::sync::Arc;
use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::OpenApi;
use utoipa_axum::{router::OpenApiRouter, routes};

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
    /// The cron scheduler, when `serve` runs one (for next-run times).
    pub scheduler: Option<Arc<tokio::sync::Mutex<hrhub_sync::Scheduler>>>,
    /// Webhook outcomes for `/metrics`.
    pub webhooks: Arc<metrics::WebhookCounters>,
    /// HTTP latencies by route for `/metrics`.
    pub http: Arc<metrics::HttpMetrics>,
    /// Dashboard log-in sessions.
    pub sessions: session::SessionSettings,
    /// Connectors the config disables, with their streams (when known),
    /// shown as `disabled` in the sync status.
    pub disabled_connectors: Arc<Vec<(String, Vec<String>)>>,
}

impl AppState {
    pub fn new(engine: Arc<SyncEngine>, connectors: Vec<ConnectorHandle>) -> Self {
        AppState {
            engine,
            connectors: Arc::new(connectors.into_iter().map(|c| (c.id.clone(), c)).collect()),
            rate_limits: Arc::new(auth::RateLimits::new(50, 100)),
            probation: api::ProbationThresholds::default(),
            scheduler: None,
            webhooks: Arc::default(),
            http: Arc::default(),
            sessions: session::SessionSettings::default(),
            disabled_connectors: Arc::default(),
        }
    }
}

#[derive(OpenApi)]
#[openapi(
    info(title = "hrhub", description = "Unified employee-performance data for HR systems, and sync operations for admins. Errors are RFC 9457 problem details."),
    modifiers(&BearerAuth)
)]
struct ApiDoc;

/// `bearer` (every secured route) and `session`, the dashboard's cookie
/// (admin routes; changes also need `X-Requested-With`).
struct BearerAuth;

impl utoipa::Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
        components.add_security_scheme(
            "session",
            SecurityScheme::ApiKey(ApiKey::Cookie(ApiKeyValue::with_description(
                auth::SESSION_COOKIE,
                "Set by POST /api/v1/session; changes made with it need the X-Requested-With header",
            ))),
        );
    }
}

/// Every route, and the OpenAPI document describing exactly those routes
/// (both come from the same `routes!` registrations).
pub fn router_and_openapi(state: AppState) -> (Router, utoipa::openapi::OpenApi) {
    let reader = api::reader_routes().route_layer(from_fn_with_state(state.clone(), auth::reader));
    let admin = api::admin_routes()
        .merge(session::admin_routes())
        .route_layer(from_fn_with_state(state.clone(), auth::admin));
    let (router, doc) = OpenApiRouter::with_openapi(ApiDoc::openapi())
        .routes(routes!(healthz))
        .routes(routes!(readyz))
        .routes(routes!(openapi_json))
        .routes(routes!(metrics::metrics))
        .routes(routes!(dashboard))
        .routes(routes!(webhooks::receive))
        .merge(session::routes())
        .merge(reader)
        .merge(admin)
        .split_for_parts();
    let router = router
        .fallback(|| async {
            Problem::new(404, "Not found", "no such route; see /api/v1/openapi.json")
        })
        .layer(axum::middleware::from_fn(problem::plain_errors_as_problems))
        .layer(from_fn_with_state(state.clone(), metrics::track_http))
        .layer(DefaultBodyLimit::max(MAX_WEBHOOK_BODY))
        .layer(axum::Extension(Arc::new(doc.clone())))
        .with_state(state);
    (router, doc)
}

pub fn router(state: AppState) -> Router {
    router_and_openapi(state).0
}

/// The admin dashboard: one page (no build step, no libraries) that logs in
/// with an admin token and then reads the admin API with its session cookie.
#[utoipa::path(get, path = "/", tag = "ops", responses((status = 200, description = "The sync dashboard (HTML)")))]
async fn dashboard() -> axum::response::Html<&'static str> {
    axum::response::Html(include_str!("dashboard.html"))
}

/// Liveness.
#[utoipa::path(get, path = "/healthz", tag = "ops", responses((status = 200, description = "The process is up")))]
async fn healthz() -> &'static str {
    "ok"
}

/// This document.
#[utoipa::path(get, path = "/api/v1/openapi.json", tag = "ops", responses((status = 200, description = "The OpenAPI document")))]
async fn openapi_json(
    axum::Extension(doc): axum::Extension<Arc<utoipa::openapi::OpenApi>>,
) -> Json<utoipa::openapi::OpenApi> {
    Json((*doc).clone())
}

/// Ready when the store answers.
#[utoipa::path(get, path = "/readyz", tag = "ops", responses((status = 200, description = "The store answers"), (status = 503, description = "The store does not answer")))]
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
