//! Bearer tokens with roles, dashboard sessions, and a per-token request budget.
//!
//! Tokens are random, shown once at creation, and stored only as SHA-256
//! hashes. `reader` (the HR system) reads unified data; `admin` also sees
//! and drives syncs. No or unknown token: 401; wrong role: 403; over the
//! budget: 429 with Retry-After.
//!
//! Admin routes also accept the dashboard's session cookie (see
//! `session.rs`); a change (any method but GET/HEAD/OPTIONS) made with the
//! cookie must carry the `X-Requested-With` header. A cross-site page can
//! neither send that header without a CORS preflight (which hrhub never
//! grants) nor read the answer, so a forged form or link cannot act for a
//! logged-in admin (SameSite=Strict already keeps the cookie off
//! cross-site requests in current browsers; this holds in older ones too).

use crate::{AppState, Problem};
use axum::extract::{Request, State};
use axum::http::header;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use rand::Rng;
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// What a token may do. `Admin` includes everything `Reader` may.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Role {
    Reader,
    Admin,
}

impl Role {
    pub fn parse(s: &str) -> Option<Role> {
        match s {
            "reader" => Some(Role::Reader),
            "admin" => Some(Role::Admin),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Reader => "reader",
            Role::Admin => "admin",
        }
    }
}

/// A new random token (`hrh_` + 64 hex digits).
pub fn generate_token() -> String {
    let bytes: [u8; 32] = rand::rng().random();
    format!("hrh_{}", hex::encode(bytes))
}

/// A new random dashboard session id (`hrs_` + 64 hex digits).
pub fn generate_session_id() -> String {
    let bytes: [u8; 32] = rand::rng().random();
    format!("hrs_{}", hex::encode(bytes))
}

/// The session cookie's name.
pub const SESSION_COOKIE: &str = "hrhub_session";

/// The header a cookie-authenticated change must carry (any value).
pub const CSRF_HEADER: &str = "x-requested-with";

/// What the store keeps of a token (and of a session id).
pub fn hash_token(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// The caller, once authenticated.
#[derive(Debug, Clone)]
pub struct Caller {
    pub token_id: i64,
    pub name: String,
    pub role: Role,
    /// When the dashboard session the caller came with ends (`None`: bearer token).
    pub session_expires_at: Option<chrono::DateTime<chrono::Utc>>,
}

/// How a request says who it is.
#[derive(Debug, Clone)]
pub enum Credential {
    Bearer(String),
    Session(String),
}

/// Requests per token: a token bucket refilled continuously.
pub struct RateLimits {
    per_second: f64,
    burst: f64,
    buckets: Mutex<HashMap<i64, (f64, Instant)>>,
}

impl RateLimits {
    pub fn new(per_second: u32, burst: u32) -> Self {
        RateLimits {
            per_second: per_second.max(1) as f64,
            burst: burst.max(1) as f64,
            buckets: Mutex::new(HashMap::new()),
        }
    }

    /// `Err(wait)` when the token has no budget left.
    fn take(&self, token_id: i64) -> Result<(), Duration> {
        let mut buckets = self.buckets.lock().expect("rate limit lock");
        let now = Instant::now();
        let (tokens, at) = buckets.entry(token_id).or_insert((self.burst, now));
        *tokens =
            (*tokens + now.duration_since(*at).as_secs_f64() * self.per_second).min(self.burst);
        *at = now;
        if *tokens >= 1.0 {
            *tokens -= 1.0;
            Ok(())
        } else {
            Err(Duration::from_secs_f64((1.0 - *tokens) / self.per_second))
        }
    }
}

/// The bearer token of a request, read before any await (a request is not `Sync`).
fn bearer(request: &Request) -> Option<String> {
    request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(|t| t.trim().to_string())
}

/// The value of the session cookie, if the request has one.
pub(crate) fn session_cookie(headers: &header::HeaderMap) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == SESSION_COOKIE)
        .map(|(_, value)| value.trim().to_string())
        .filter(|value| !value.is_empty())
}

pub(crate) async fn authenticate(
    state: &AppState,
    credential: Option<Credential>,
    needed: Role,
) -> Result<Caller, Response> {
    let unauthorized = |detail: &str| {
        let mut response = Problem::new(401, "Unauthorized", detail).into_response();
        response.headers_mut().insert(
            header::WWW_AUTHENTICATE,
            header::HeaderValue::from_static("Bearer"),
        );
        response
    };
    let store_down = |e: hrhub_store::StoreError| {
        tracing::error!(error = %e, "token lookup failed");
        Problem::new(503, "Store unavailable", "try again shortly").into_response()
    };
    let store = state.engine.store();
    let (stored, session_expires_at) = match credential {
        None => {
            return Err(unauthorized(
                "send `Authorization: Bearer <token>`; create one with `hrhub token create`",
            ))
        }
        Some(Credential::Bearer(token)) => {
            let stored = store
                .token_by_hash(&hash_token(&token))
                .await
                .map_err(store_down)?
                .ok_or_else(|| unauthorized("unknown or revoked token"))?;
            (stored, None)
        }
        Some(Credential::Session(id)) => {
            let session = store
                .session_by_hash(&hash_token(&id))
                .await
                .map_err(store_down)?
                .ok_or_else(|| {
                    unauthorized("the dashboard session expired, was logged out or its token was revoked; log in again")
                })?;
            (session.token, Some(session.expires_at))
        }
    };
    let role = Role::parse(&stored.role).unwrap_or(Role::Reader);
    if role < needed {
        return Err(Problem::new(
            403,
            "Forbidden",
            format!(
                "this route needs the {} role; the token has {}",
                needed.as_str(),
                role.as_str()
            ),
        )
        .into_response());
    }
    if let Err(wait) = state.rate_limits.take(stored.id) {
        let mut response = Problem::new(
            429,
            "Too many requests",
            "this token's request budget is spent; retry later",
        )
        .into_response();
        let secs = wait.as_secs().max(1).to_string();
        if let Ok(value) = header::HeaderValue::from_str(&secs) {
            response.headers_mut().insert(header::RETRY_AFTER, value);
        }
        return Err(response);
    }
    Ok(Caller {
        token_id: stored.id,
        name: stored.name,
        role,
        session_expires_at,
    })
}

/// Middleware for routes the HR system reads (bearer tokens only).
pub async fn reader(State(state): State<AppState>, mut request: Request, next: Next) -> Response {
    let token = bearer(&request).map(Credential::Bearer);
    match authenticate(&state, token, Role::Reader).await {
        Ok(caller) => {
            request.extensions_mut().insert(caller);
            next.run(request).await
        }
        Err(response) => response,
    }
}

/// Middleware for operator routes: a bearer token, or the dashboard's
/// session cookie (changes then need the CSRF header).
pub async fn admin(State(state): State<AppState>, mut request: Request, next: Next) -> Response {
    let credential = match bearer(&request) {
        Some(token) => Some(Credential::Bearer(token)),
        None => session_cookie(request.headers()).map(Credential::Session),
    };
    let by_cookie = matches!(credential, Some(Credential::Session(_)));
    let unguarded_change =
        by_cookie && !request.method().is_safe() && !request.headers().contains_key(CSRF_HEADER);
    match authenticate(&state, credential, Role::Admin).await {
        Ok(_) if unguarded_change => Problem::new(
            403,
            "Forbidden",
            "a change made with the dashboard's session cookie needs the `X-Requested-With` header (the dashboard sends it); scripts should send a bearer token",
        )
        .into_response(),
        Ok(caller) => {
            request.extensions_mut().insert(caller);
            next.run(request).await
        }
        Err(response) => response,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_random_and_hashes_stable() {
        let (a, b) = (generate_token(), generate_token());
        assert_ne!(a, b);
        assert!(a.starts_with("hrh_") && a.len() == 68);
        assert_eq!(hash_token(&a), hash_token(&a));
        assert_ne!(hash_token(&a), a);
        let s = generate_session_id();
        assert!(s.starts_with("hrs_") && s.len() == 68);
    }

    #[test]
    fn the_session_cookie_is_found_among_others() {
        let mut headers = header::HeaderMap::new();
        headers.append(
            header::COOKIE,
            "theme=dark; hrhub_session=hrs_1".parse().unwrap(),
        );
        assert_eq!(session_cookie(&headers).as_deref(), Some("hrs_1"));
        let mut headers = header::HeaderMap::new();
        headers.append(header::COOKIE, "a=b".parse().unwrap());
        headers.append(header::COOKIE, "hrhub_session=hrs_2".parse().unwrap());
        assert_eq!(session_cookie(&headers).as_deref(), Some("hrs_2"));
        headers = header::HeaderMap::new();
        headers.append(header::COOKIE, "hrhub_session=".parse().unwrap());
        assert_eq!(session_cookie(&headers), None);
    }

    #[test]
    fn budgets_refill_over_time() {
        let limits = RateLimits::new(10, 2);
        assert!(limits.take(1).is_ok());
        assert!(limits.take(1).is_ok());
        let wait = limits.take(1).unwrap_err();
        assert!(wait <= Duration::from_millis(100));
        assert!(limits.take(2).is_ok(), "budgets are per token");
        std::thread::sleep(Duration::from_millis(120));
        assert!(limits.take(1).is_ok());
    }
}
