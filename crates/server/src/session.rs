//! Dashboard log-in: an admin token, posted once from the form on `/`, buys
//! a session cookie, so the browser never keeps the token itself.
//!
//! The cookie (`hrhub_session`) is `HttpOnly; SameSite=Strict; Path=/`,
//! lasts [`SessionSettings::ttl`], and is `Secure` when `[server]
//! secure_cookie = true` or the request came through a proxy that says
//! `X-Forwarded-Proto: https`. The store keeps only a SHA-256 of the session
//! id and the token it was opened with: revoking the token ends its
//! sessions. The admin middleware (`auth.rs`) accepts the cookie.

use crate::auth::{self, Caller, Credential, Role};
use crate::{AppState, Problem};
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use chrono::Utc;
use serde::Deserialize;
use serde_json::json;
use std::time::Duration;
use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};

/// How dashboard sessions are issued.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SessionSettings {
    /// How long a session lasts (no sliding renewal: log in again after).
    pub ttl: Duration,
    /// Always mark the cookie `Secure` (hrhub is reached over HTTPS).
    pub secure_cookie: bool,
}

impl Default for SessionSettings {
    fn default() -> Self {
        SessionSettings {
            ttl: Duration::from_secs(12 * 3600),
            secure_cookie: false,
        }
    }
}

/// Log-in and log-out, open to anyone (log-in checks the posted token).
pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(login, logout))
}

/// Who the caller is; behind the admin middleware.
pub fn admin_routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(current))
}

/// The log-in form's body.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LogIn {
    /// An admin token (`hrh_…`, from `hrhub token create --role admin`).
    token: String,
}

fn cookie(value: &str, max_age: u64, secure: bool) -> HeaderValue {
    let secure = if secure { "; Secure" } else { "" };
    HeaderValue::from_str(&format!(
        "{}={value}; HttpOnly; SameSite=Strict; Path=/; Max-Age={max_age}{secure}",
        auth::SESSION_COOKIE
    ))
    .expect("cookie value is ASCII")
}

fn behind_https(state: &AppState, headers: &HeaderMap) -> bool {
    state.sessions.secure_cookie
        || headers
            .get("x-forwarded-proto")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.eq_ignore_ascii_case("https"))
}

/// Logs in with an admin token and sets the session cookie.
#[utoipa::path(post, path = "/api/v1/session", tag = "session", request_body(content = LogIn, content_type = "application/json"), responses(
    (status = 200, description = "Logged in: `Set-Cookie: hrhub_session=…; HttpOnly; SameSite=Strict; Path=/; Max-Age=43200` (plus `Secure` behind HTTPS); body: name, role, expires_at"),
    (status = 400, description = "Body is not `{\"token\": \"…\"}` (problem+json)"),
    (status = 401, description = "Unknown or revoked token"),
    (status = 403, description = "Not an admin token"),
    (status = 415, description = "Body is not JSON"),
    (status = 429, description = "Token budget spent")))]
async fn login(State(state): State<AppState>, headers: HeaderMap, body: Bytes) -> Response {
    let json = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    if !json {
        // also keeps cross-site HTML forms (which cannot send JSON) out
        return Problem::new(
            415,
            "Unsupported media type",
            "post JSON: {\"token\": \"hrh_…\"}",
        )
        .into_response();
    }
    let LogIn { token } = match serde_json::from_slice(&body) {
        Ok(form) => form,
        Err(e) => {
            return Problem::new(
                400,
                "Bad request",
                format!("post {{\"token\": \"hrh_…\"}}: {e}"),
            )
            .into_response()
        }
    };
    let caller = match auth::authenticate(
        &state,
        Some(Credential::Bearer(token.trim().to_string())),
        Role::Admin,
    )
    .await
    {
        Ok(caller) => caller,
        Err(response) => return response,
    };
    let id = auth::generate_session_id();
    let expires_at = Utc::now()
        + chrono::Duration::from_std(state.sessions.ttl).unwrap_or(chrono::Duration::hours(12));
    if let Err(e) = state
        .engine
        .store()
        .create_session(&auth::hash_token(&id), caller.token_id, expires_at)
        .await
    {
        tracing::error!(error = %e, "cannot store a session");
        return Problem::new(503, "Store unavailable", "try again shortly").into_response();
    }
    let set = cookie(
        &id,
        state.sessions.ttl.as_secs(),
        behind_https(&state, &headers),
    );
    (
        [(header::SET_COOKIE, set)],
        Json(
            json!({ "name": caller.name, "role": caller.role.as_str(), "expires_at": expires_at }),
        ),
    )
        .into_response()
}

/// Logs out: ends the session the cookie names (if any) and clears the cookie.
#[utoipa::path(delete, path = "/api/v1/session", tag = "session", responses(
    (status = 204, description = "Logged out; the cookie is cleared")))]
async fn logout(State(state): State<AppState>, headers: HeaderMap) -> Response {
    if let Some(id) = auth::session_cookie(&headers) {
        if let Err(e) = state
            .engine
            .store()
            .delete_session(&auth::hash_token(&id))
            .await
        {
            tracing::error!(error = %e, "cannot end a session");
            return Problem::new(503, "Store unavailable", "try again shortly").into_response();
        }
    }
    let clear = cookie("", 0, behind_https(&state, &headers));
    (StatusCode::NO_CONTENT, [(header::SET_COOKIE, clear)]).into_response()
}

/// The caller: the token's name and role, and when the session ends
/// (`null` for a bearer token). The dashboard asks this to know whether
/// to show the log-in form.
#[utoipa::path(get, path = "/api/v1/session", tag = "admin", security(("bearer" = []), ("session" = [])), responses(
    (status = 200, description = "Who is logged in"),
    (status = 401, description = "No, unknown or revoked token, or no live session"),
    (status = 403, description = "Role not allowed"),
    (status = 429, description = "Token budget spent")))]
async fn current(Extension(caller): Extension<Caller>) -> Json<serde_json::Value> {
    Json(json!({
        "name": caller.name,
        "role": caller.role.as_str(),
        "expires_at": caller.session_expires_at,
    }))
}
