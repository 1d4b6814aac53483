//! `/api/v1`: unified data for the HR system (reader) and sync operations
//! for admins. Handlers only translate HTTP to store and engine calls.
//!
//! Lists page by id: `?limit=N` (1..=1000, default 100) and `?cursor=` from
//! the previous page's `next_cursor`. Ids never change and new rows get
//! larger ones, so paging never skips or repeats a row while syncs write.

use crate::redact::{mask_phone, redacted};
use crate::{AppState, Problem};
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::Json;
use chrono::{DateTime, NaiveDate, Utc};
use hrhub_model::{EntityKind, RunTrigger};
use hrhub_store::{EntityQuery, StoreError};
use hrhub_sync::SyncOptions;
use serde::Deserialize;
use serde_json::{json, Value};
use utoipa::IntoParams;
use utoipa_axum::{router::OpenApiRouter, routes};

pub const MAX_LIMIT: i64 = 1000;
const DEFAULT_LIMIT: i64 = 100;

/// Routes the HR system reads (role `reader` or `admin`). Each handler's
/// `#[utoipa::path]` both registers it and documents it, so the router and
/// the OpenAPI document cannot drift apart.
pub fn reader_routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(employees))
        .routes(routes!(employee))
        .routes(routes!(attendance))
        .routes(routes!(tickets))
        .routes(routes!(satisfaction))
        .routes(routes!(training))
        .routes(routes!(changes))
        .routes(routes!(performance))
        .routes(routes!(probation))
}

/// Operator routes (role `admin`).
pub fn admin_routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(sync_status))
        .routes(routes!(sync_runs))
        .routes(routes!(trigger_sync))
        .routes(routes!(quarantine))
        .routes(routes!(replay))
        .routes(routes!(conflicts))
        .routes(routes!(unmatched))
}

#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ListParams {
    limit: Option<i64>,
    cursor: Option<String>,
    employee_id: Option<i64>,
    from: Option<NaiveDate>,
    to: Option<NaiveDate>,
    updated_since: Option<DateTime<Utc>>,
    department: Option<String>,
    status: Option<String>,
}

fn bad_request(detail: impl Into<String>) -> Problem {
    Problem::new(400, "Bad request", detail)
}

fn store_error(e: StoreError) -> Problem {
    tracing::error!(error = %e, "store error in API");
    Problem::new(
        503,
        "Store unavailable",
        "the store failed this request; try again shortly",
    )
}

fn params<T: Default>(query: Result<Query<T>, QueryRejection>) -> Result<T, Problem> {
    query
        .map(|Query(p)| p)
        .map_err(|e| bad_request(e.body_text()))
}

/// A page size: above the maximum it is clamped (the next page carries on),
/// below 1 it is refused.
fn limit(limit: Option<i64>) -> Result<i64, Problem> {
    match limit.unwrap_or(DEFAULT_LIMIT) {
        n if n < 1 => Err(bad_request(format!(
            "limit must be 1..={MAX_LIMIT}, got {n}"
        ))),
        n => Ok(n.min(MAX_LIMIT)),
    }
}

fn cursor(cursor: Option<&str>) -> Result<i64, Problem> {
    match cursor {
        None | Some("") => Ok(0),
        Some(c) => c
            .parse::<i64>()
            .ok()
            .filter(|n| *n >= 0)
            .ok_or_else(|| bad_request("cursor must be a `next_cursor` from an earlier page")),
    }
}

/// Lists `entity` with the filters it supports.
async fn list(state: &AppState, entity: EntityKind, p: ListParams) -> Result<Json<Value>, Problem> {
    let limit = limit(p.limit)?;
    let mut query = EntityQuery::page(cursor(p.cursor.as_deref())?, limit);
    query.employee_id = p.employee_id;
    query.updated_since = p.updated_since;
    if entity.period_field().is_some() {
        query.from = p.from;
        query.to = p.to;
    } else if p.from.is_some() || p.to.is_some() {
        return Err(bad_request(format!(
            "{entity} has no period; use updated_since"
        )));
    }
    for (field, value) in [("department", p.department), ("status", p.status)] {
        if let Some(value) = value {
            if entity.field(field).is_none() {
                return Err(bad_request(format!(
                    "{entity} cannot be filtered by {field}"
                )));
            }
            query.equals.push((field, value));
        }
    }
    let rows = state
        .engine
        .store()
        .query_entities(entity, &query)
        .await
        .map_err(store_error)?;
    let next = (rows.len() as i64 == limit)
        .then(|| {
            rows.last()
                .and_then(|r| r.get("id"))
                .map(|id| id.to_string())
        })
        .flatten();
    Ok(Json(json!({ "data": redacted(rows), "next_cursor": next })))
}

#[utoipa::path(get, path = "/api/v1/employees", tag = "hr", params(ListParams), security(("bearer" = [])), responses((status = 200, description = "Employees, id-paged"), (status = 400, description = "Bad parameters (problem+json)"), (status = 401, description = "No, unknown or revoked token"), (status = 403, description = "Role not allowed"), (status = 429, description = "Token budget spent")))]
async fn employees(
    State(state): State<AppState>,
    query: Result<Query<ListParams>, QueryRejection>,
) -> Result<Json<Value>, Problem> {
    list(&state, EntityKind::Employee, params(query)?).await
}

#[utoipa::path(get, path = "/api/v1/attendance", tag = "hr", params(ListParams), security(("bearer" = [])), responses((status = 200, description = "Attendance records, id-paged"), (status = 400, description = "Bad parameters (problem+json)"), (status = 401, description = "No, unknown or revoked token"), (status = 403, description = "Role not allowed"), (status = 429, description = "Token budget spent")))]
async fn attendance(
    State(state): State<AppState>,
    query: Result<Query<ListParams>, QueryRejection>,
) -> Result<Json<Value>, Problem> {
    list(&state, EntityKind::AttendanceRecord, params(query)?).await
}

#[utoipa::path(get, path = "/api/v1/tickets", tag = "hr", params(ListParams), security(("bearer" = [])), responses((status = 200, description = "Helpdesk ticket activity, id-paged"), (status = 400, description = "Bad parameters (problem+json)"), (status = 401, description = "No, unknown or revoked token"), (status = 403, description = "Role not allowed"), (status = 429, description = "Token budget spent")))]
async fn tickets(
    State(state): State<AppState>,
    query: Result<Query<ListParams>, QueryRejection>,
) -> Result<Json<Value>, Problem> {
    list(&state, EntityKind::TicketActivity, params(query)?).await
}

#[utoipa::path(get, path = "/api/v1/satisfaction", tag = "hr", params(ListParams), security(("bearer" = [])), responses((status = 200, description = "Satisfaction ratings, id-paged"), (status = 400, description = "Bad parameters (problem+json)"), (status = 401, description = "No, unknown or revoked token"), (status = 403, description = "Role not allowed"), (status = 429, description = "Token budget spent")))]
async fn satisfaction(
    State(state): State<AppState>,
    query: Result<Query<ListParams>, QueryRejection>,
) -> Result<Json<Value>, Problem> {
    list(&state, EntityKind::SatisfactionRating, params(query)?).await
}

#[utoipa::path(get, path = "/api/v1/training", tag = "hr", params(ListParams), security(("bearer" = [])), responses((status = 200, description = "Training results, id-paged"), (status = 400, description = "Bad parameters (problem+json)"), (status = 401, description = "No, unknown or revoked token"), (status = 403, description = "Role not allowed"), (status = 429, description = "Token budget spent")))]
async fn training(
    State(state): State<AppState>,
    query: Result<Query<ListParams>, QueryRejection>,
) -> Result<Json<Value>, Problem> {
    list(&state, EntityKind::TrainingResult, params(query)?).await
}

/// One employee with the accounts linked to them.
#[utoipa::path(get, path = "/api/v1/employees/{id}", tag = "hr", params(("id" = i64, Path, description = "Employee id")), security(("bearer" = [])), responses((status = 200, description = "One employee with identity links"), (status = 400, description = "Bad parameters (problem+json)"), (status = 401, description = "No, unknown or revoked token"), (status = 403, description = "Role not allowed"), (status = 429, description = "Token budget spent")))]
async fn employee(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<Value>, Problem> {
    let id: i64 = id
        .parse()
        .map_err(|_| bad_request("employee id must be a number"))?;
    let store = state.engine.store();
    let mut query = EntityQuery::page(0, 1);
    query.employee_id = Some(id);
    let mut rows = store
        .query_entities(EntityKind::Employee, &query)
        .await
        .map_err(store_error)?;
    let Some(mut employee) = rows.pop() else {
        return Err(Problem::new(404, "Not found", format!("no employee {id}")));
    };
    let links = store.identity_links(id).await.map_err(store_error)?;
    employee.insert("identity_links".into(), json!(links));
    Ok(Json(redacted(employee)))
}

#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ChangeParams {
    after: Option<i64>,
    limit: Option<i64>,
}

/// The change feed: entries with `seq > after`, oldest first, gap-free.
#[utoipa::path(get, path = "/api/v1/changes", tag = "hr", params(ChangeParams), security(("bearer" = [])), responses((status = 200, description = "Change log entries after a sequence number"), (status = 400, description = "Bad parameters (problem+json)"), (status = 401, description = "No, unknown or revoked token"), (status = 403, description = "Role not allowed"), (status = 429, description = "Token budget spent")))]
async fn changes(
    State(state): State<AppState>,
    query: Result<Query<ChangeParams>, QueryRejection>,
) -> Result<Json<Value>, Problem> {
    let p = params(query)?;
    let after = p.after.unwrap_or(0);
    if after < 0 {
        return Err(bad_request("after must be 0 or a seq seen earlier"));
    }
    let changes = state
        .engine
        .store()
        .changes(after, limit(p.limit)?)
        .await
        .map_err(store_error)?;
    let next = changes.last().map_or(after, |c| c.seq);
    Ok(Json(json!({ "data": changes, "next_after": next })))
}

#[utoipa::path(get, path = "/api/v1/sync/status", tag = "admin", security(("bearer" = []), ("session" = [])), responses((status = 200, description = "Status of every stream"), (status = 400, description = "Bad parameters (problem+json)"), (status = 401, description = "No, unknown or revoked token"), (status = 403, description = "Role not allowed"), (status = 429, description = "Token budget spent")))]
async fn sync_status(State(state): State<AppState>) -> Result<Json<Value>, Problem> {
    let store = state.engine.store();
    let next_runs = match &state.scheduler {
        Some(scheduler) => scheduler.lock().await.next_runs().await,
        None => Default::default(),
    };
    let mut streams = Vec::new();
    let mut ids: Vec<&String> = state.connectors.keys().collect();
    ids.sort();
    for id in ids {
        let conn = &state.connectors[id];
        let mut statuses = hrhub_sync::connector_status(&**store, id, &conn.source.streams())
            .await
            .map_err(store_error)?;
        for s in &mut statuses {
            s.next_scheduled = next_runs.get(id).copied().flatten();
        }
        streams.extend(statuses);
    }
    for (id, configured) in state.disabled_connectors.iter() {
        streams.extend(
            hrhub_sync::disabled_connector_status(&**store, id, configured)
                .await
                .map_err(store_error)?,
        );
    }
    Ok(Json(json!({ "streams": streams })))
}

#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct RunParams {
    connector: Option<String>,
    stream: Option<String>,
    limit: Option<i64>,
}

#[utoipa::path(get, path = "/api/v1/sync/runs", tag = "admin", params(RunParams), security(("bearer" = []), ("session" = [])), responses((status = 200, description = "Run history, newest first"), (status = 400, description = "Bad parameters (problem+json)"), (status = 401, description = "No, unknown or revoked token"), (status = 403, description = "Role not allowed"), (status = 429, description = "Token budget spent")))]
async fn sync_runs(
    State(state): State<AppState>,
    query: Result<Query<RunParams>, QueryRejection>,
) -> Result<Json<Value>, Problem> {
    let p = params(query)?;
    let runs = state
        .engine
        .store()
        .runs(p.connector.as_deref(), p.stream.as_deref(), limit(p.limit)?)
        .await
        .map_err(store_error)?;
    Ok(Json(json!({ "data": runs })))
}

#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct TriggerParams {
    stream: Option<String>,
    full_refresh: Option<bool>,
}

/// Starts a sync in the background; its runs show in status and history.
#[utoipa::path(post, path = "/api/v1/sync/{connector_id}", tag = "admin", params(("connector_id" = String, Path, description = "Connector id"), TriggerParams), security(("bearer" = []), ("session" = [])), responses((status = 200, description = "Sync started (202)"), (status = 400, description = "Bad parameters (problem+json)"), (status = 401, description = "No, unknown or revoked token"), (status = 403, description = "Role not allowed"), (status = 429, description = "Token budget spent")))]
async fn trigger_sync(
    State(state): State<AppState>,
    Path(connector_id): Path<String>,
    query: Result<Query<TriggerParams>, QueryRejection>,
) -> Result<impl IntoResponse, Problem> {
    let p = params(query)?;
    let conn = state
        .connectors
        .get(&connector_id)
        .cloned()
        .ok_or_else(|| {
            Problem::new(
                404,
                "Not found",
                format!("no enabled connector `{connector_id}`"),
            )
        })?;
    let streams: Vec<String> = match p.stream {
        Some(s) if !conn.source.streams().contains(&s) => {
            return Err(bad_request(format!(
                "connector `{connector_id}` has no stream `{s}`; streams: {}",
                conn.source.streams().join(", ")
            )))
        }
        Some(s) => vec![s],
        None => Vec::new(),
    };
    let options = SyncOptions {
        trigger: RunTrigger::Manual,
        full_refresh: p.full_refresh.unwrap_or(false),
        progress: None,
    };
    let engine = state.engine.clone();
    tokio::spawn(async move {
        for outcome in engine.sync_connector(&conn, &streams, &options).await {
            if let Err(e) = outcome {
                tracing::warn!(connector = %conn.id, error = %e, "triggered sync did not run");
            }
        }
    });
    Ok((
        StatusCode::ACCEPTED,
        Json(json!({ "accepted": true, "connector": connector_id })),
    ))
}

#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct QuarantineParams {
    connector: Option<String>,
    limit: Option<i64>,
}

#[utoipa::path(get, path = "/api/v1/quarantine", tag = "admin", params(QuarantineParams), security(("bearer" = []), ("session" = [])), responses((status = 200, description = "Open quarantine entries"), (status = 400, description = "Bad parameters (problem+json)"), (status = 401, description = "No, unknown or revoked token"), (status = 403, description = "Role not allowed"), (status = 429, description = "Token budget spent")))]
async fn quarantine(
    State(state): State<AppState>,
    query: Result<Query<QuarantineParams>, QueryRejection>,
) -> Result<Json<Value>, Problem> {
    let p = params(query)?;
    let entries = state
        .engine
        .store()
        .quarantined(p.connector.as_deref(), limit(p.limit)?)
        .await
        .map_err(store_error)?;
    Ok(Json(json!({ "data": redacted(entries) })))
}

#[utoipa::path(get, path = "/api/v1/identity/conflicts", tag = "admin", security(("bearer" = []), ("session" = [])), responses((status = 200, description = "Identity conflicts, newest first"), (status = 400, description = "Bad parameters (problem+json)"), (status = 401, description = "No, unknown or revoked token"), (status = 403, description = "Role not allowed"), (status = 429, description = "Token budget spent")))]
async fn conflicts(State(state): State<AppState>) -> Result<Json<Value>, Problem> {
    let conflicts = state
        .engine
        .store()
        .conflicts(MAX_LIMIT)
        .await
        .map_err(store_error)?
        .into_iter()
        .map(|mut c| {
            if c.key == "mobile" {
                c.value = mask_phone(&c.value);
            }
            c
        })
        .collect::<Vec<_>>();
    Ok(Json(json!({ "data": conflicts })))
}

#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct PeriodParams {
    from: Option<NaiveDate>,
    to: Option<NaiveDate>,
}

/// `[from, to)`, both required, `from` before `to`.
fn period(p: &PeriodParams) -> Result<(NaiveDate, NaiveDate), Problem> {
    match (p.from, p.to) {
        (Some(from), Some(to)) if from < to => Ok((from, to)),
        (Some(_), Some(_)) => Err(bad_request(
            "from must be before to (the period is [from, to))",
        )),
        _ => Err(bad_request(
            "give the period as from=YYYY-MM-DD&to=YYYY-MM-DD (to is exclusive)",
        )),
    }
}

/// Where the records behind each figure can be listed.
fn record_links(id: i64, from: NaiveDate, to: NaiveDate) -> Value {
    let link = |route: &str| format!("/api/v1/{route}?employee_id={id}&from={from}&to={to}");
    json!({
        "attendance": link("attendance"),
        "helpdesk": link("tickets"),
        "satisfaction": link("satisfaction"),
        "training": link("training"),
    })
}

/// One employee's attendance, helpdesk, satisfaction and training figures
/// over a period, each with a link to the records it was computed from.
#[utoipa::path(get, path = "/api/v1/employees/{id}/performance", tag = "hr", params(("id" = i64, Path, description = "Employee id"), PeriodParams), security(("bearer" = [])), responses((status = 200, description = "Performance over [from, to)"), (status = 400, description = "Bad parameters (problem+json)"), (status = 401, description = "No, unknown or revoked token"), (status = 403, description = "Role not allowed"), (status = 429, description = "Token budget spent")))]
async fn performance(
    State(state): State<AppState>,
    Path(id): Path<String>,
    query: Result<Query<PeriodParams>, QueryRejection>,
) -> Result<Json<Value>, Problem> {
    let id: i64 = id
        .parse()
        .map_err(|_| bad_request("employee id must be a number"))?;
    let (from, to) = period(&params(query)?)?;
    let summary = state
        .engine
        .store()
        .performance(id, from, to)
        .await
        .map_err(store_error)?;
    let mut out = serde_json::to_value(summary).unwrap_or_default();
    out["records"] = record_links(id, from, to);
    Ok(Json(out))
}

/// Probation thresholds (`[reports.probation]` in the config).
#[derive(Debug, Clone, Copy, PartialEq, Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct ProbationThresholds {
    /// Minimum helpdesk resolution rate, 0–1.
    pub resolution_rate: f64,
    /// Minimum average satisfaction on the 5-point scale.
    pub satisfaction: f64,
    /// Minimum score (0–100) of every exam completed in the period.
    pub exam: f64,
}

impl Default for ProbationThresholds {
    fn default() -> Self {
        ProbationThresholds {
            resolution_rate: 0.85,
            satisfaction: 4.5,
            exam: 90.0,
        }
    }
}

fn indicator(value: Option<f64>, threshold: f64) -> Value {
    let status = match value {
        None => "no_data",
        Some(v) if v >= threshold => "pass",
        Some(_) => "fail",
    };
    json!({ "value": value, "threshold": threshold, "status": status })
}

/// Employees on probation during the period, each indicator against its
/// threshold; `flagged` lists failing indicators (no data is not a failure,
/// but is shown as `no_data`).
#[utoipa::path(get, path = "/api/v1/reports/probation", tag = "hr", params(PeriodParams), security(("bearer" = [])), responses((status = 200, description = "Probation assessment"), (status = 400, description = "Bad parameters (problem+json)"), (status = 401, description = "No, unknown or revoked token"), (status = 403, description = "Role not allowed"), (status = 429, description = "Token budget spent")))]
async fn probation(
    State(state): State<AppState>,
    query: Result<Query<PeriodParams>, QueryRejection>,
) -> Result<Json<Value>, Problem> {
    let (from, to) = period(&params(query)?)?;
    let thresholds = state.probation;
    let store = state.engine.store();
    let mut report = Vec::new();
    let mut after = 0;
    loop {
        let mut q = EntityQuery::page(after, MAX_LIMIT);
        q.equals.push(("status", "active".into()));
        let page = store
            .query_entities(EntityKind::Employee, &q)
            .await
            .map_err(store_error)?;
        let Some(last) = page.last() else { break };
        after = last["id"].as_i64().unwrap_or(after);
        for employee in &page {
            let on_probation = employee["probation_end"]
                .as_str()
                .and_then(|d| d.parse::<NaiveDate>().ok())
                .is_some_and(|end| end >= from);
            if !on_probation {
                continue;
            }
            let id = employee["id"].as_i64().unwrap_or_default();
            let p = store.performance(id, from, to).await.map_err(store_error)?;
            let indicators = json!({
                "resolution_rate": indicator(p.helpdesk.resolution_rate, thresholds.resolution_rate),
                "satisfaction": indicator(p.satisfaction.average_5, thresholds.satisfaction),
                "exam": indicator(p.training.lowest_score, thresholds.exam),
            });
            let flagged: Vec<&String> = indicators
                .as_object()
                .map(|o| {
                    o.iter()
                        .filter(|(_, v)| v["status"] == "fail")
                        .map(|(k, _)| k)
                        .collect()
                })
                .unwrap_or_default();
            report.push(json!({
                "employee": { "id": id, "name": employee["name"], "employee_no": employee["employee_no"],
                              "department": employee["department"], "probation_end": employee["probation_end"] },
                "indicators": indicators,
                "flagged": flagged,
                "performance": p,
                "records": record_links(id, from, to),
            }));
        }
    }
    Ok(Json(
        json!({ "from": from, "to": to, "thresholds": thresholds, "data": report }),
    ))
}

#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ReplayParams {
    connector: Option<String>,
}

/// Re-maps a connector's quarantined records with the current mappings.
#[utoipa::path(post, path = "/api/v1/quarantine/replay", tag = "admin", params(ReplayParams), security(("bearer" = []), ("session" = [])), responses((status = 200, description = "Replay runs per stream"), (status = 400, description = "Bad parameters (problem+json)"), (status = 401, description = "No, unknown or revoked token"), (status = 403, description = "Role not allowed"), (status = 429, description = "Token budget spent")))]
async fn replay(
    State(state): State<AppState>,
    query: Result<Query<ReplayParams>, QueryRejection>,
) -> Result<Json<Value>, Problem> {
    let p = params(query)?;
    let id = p
        .connector
        .ok_or_else(|| bad_request("give connector=ID"))?;
    let conn = state
        .connectors
        .get(&id)
        .ok_or_else(|| Problem::new(404, "Not found", format!("no enabled connector `{id}`")))?;
    let outcomes = state.engine.replay_quarantine(conn).await.map_err(|e| {
        tracing::error!(connector = %id, error = %e, "replay failed");
        Problem::new(503, "Replay failed", e.to_string())
    })?;
    let runs: Vec<Value> = outcomes
        .iter()
        .map(|o| json!({ "stream": o.stream, "run_id": o.run_id, "counts": o.counts }))
        .collect();
    Ok(Json(json!({ "data": runs })))
}

/// Accounts whose records wait for an employee (the roster lacks them, or
/// their keys differ from the roster's).
#[utoipa::path(get, path = "/api/v1/identity/unmatched", tag = "admin", security(("bearer" = []), ("session" = [])), responses((status = 200, description = "Accounts waiting for an employee"), (status = 400, description = "Bad parameters (problem+json)"), (status = 401, description = "No, unknown or revoked token"), (status = 403, description = "Role not allowed"), (status = 429, description = "Token budget spent")))]
async fn unmatched(State(state): State<AppState>) -> Result<Json<Value>, Problem> {
    let list = state
        .engine
        .store()
        .unmatched(MAX_LIMIT)
        .await
        .map_err(store_error)?;
    Ok(Json(json!({ "data": redacted(list) })))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn page_sizes_are_clamped_above_and_refused_below() {
        assert_eq!(limit(None).ok(), Some(DEFAULT_LIMIT));
        assert_eq!(limit(Some(7)).ok(), Some(7));
        assert_eq!(limit(Some(MAX_LIMIT + 1)).ok(), Some(MAX_LIMIT));
        assert_eq!(limit(Some(i64::MAX)).ok(), Some(MAX_LIMIT));
        assert!(limit(Some(0)).is_err());
        assert!(limit(Some(-5)).is_err());
    }
}
