//! `/webhooks/{connector_id}`: event push from the platforms.
//!
//! Order matters: verify (the connector's receiver) → land durably → reply.
//! A refused delivery stores nothing; an accepted one is on disk before the
//! platform hears "success"; re-fetches an event asks for run afterwards.

use crate::metrics::WebhookCounters;
use crate::{AppState, Problem};
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use hrhub_connector::{PushOutcome, PushReply, PushRequest};
use std::collections::HashMap;

/// Event push from a platform (DingTalk HTTP push, WeCom callbacks, ...).
#[utoipa::path(
    method(get, post),
    path = "/webhooks/{connector_id}",
    tag = "webhooks",
    params(("connector_id" = String, Path, description = "Connector id")),
    request_body(content = String, content_type = "application/octet-stream", description = "The platform's delivery, verified and decoded by the connector"),
    responses(
        (status = 200, description = "Verified and stored (or a handshake answered), in the platform's reply format"),
        (status = 401, description = "Signature, key or timestamp check failed; nothing stored"),
        (status = 404, description = "Unknown connector, or no webhook settings"),
        (status = 413, description = "Body too large"),
        (status = 503, description = "Could not store; the platform should deliver again")
    )
)]
pub async fn receive(
    State(state): State<AppState>,
    Path(connector_id): Path<String>,
    Query(query): Query<HashMap<String, String>>,
    method: Method,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, Problem> {
    let conn = state.connectors.get(&connector_id).ok_or_else(|| {
        Problem::new(
            404,
            "Unknown connector",
            format!("no enabled connector `{connector_id}`"),
        )
    })?;
    let push = conn.source.push().ok_or_else(|| {
        Problem::new(
            404,
            "Webhooks not configured",
            format!("connector `{connector_id}` has no [connector.webhook] settings"),
        )
    })?;
    let request = PushRequest {
        method: method.to_string(),
        query,
        headers: headers
            .iter()
            .filter_map(|(k, v)| Some((k.as_str().to_string(), v.to_str().ok()?.to_string())))
            .collect(),
        body: body.to_vec(),
        received_at: chrono::Utc::now(),
    };
    let outcome = push.receive(&request).map_err(|e| {
        WebhookCounters::count(&state.webhooks.refused);
        tracing::warn!(connector = %connector_id, error = %e, "webhook delivery refused");
        Problem::new(e.http_status(), "Delivery refused", e.to_string())
    })?;
    match outcome {
        PushOutcome::Handshake(reply) => Ok(reply_response(reply)),
        PushOutcome::Event {
            event,
            records,
            refetch,
            reply,
        } => {
            let fresh = state
                .engine
                .land_push(conn, &event, &records)
                .await
                .map_err(|e| {
                    tracing::error!(connector = %connector_id, error = %e, "cannot land a pushed event");
                    // a 5xx makes the platform deliver again later
                    Problem::new(503, "Not stored", "the event could not be stored; it will be retried")
                })?;
            WebhookCounters::count(if fresh {
                &state.webhooks.accepted
            } else {
                &state.webhooks.duplicate
            });
            if fresh && !refetch.is_empty() {
                let engine = state.engine.clone();
                let conn = conn.clone();
                tokio::spawn(async move {
                    for outcome in engine.refetch(&conn, &refetch).await {
                        if let Err(e) = outcome {
                            tracing::error!(connector = %conn.id, error = %e, "re-fetch after an event failed");
                        }
                    }
                });
            }
            Ok(reply_response(reply))
        }
    }
}

fn reply_response(reply: PushReply) -> Response {
    let status = StatusCode::from_u16(reply.status).unwrap_or(StatusCode::OK);
    (
        status,
        [(header::CONTENT_TYPE, reply.content_type)],
        reply.body,
    )
        .into_response()
}
