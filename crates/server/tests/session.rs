//! Dashboard log-in over HTTP: the session cookie's flags, what it opens
//! (admin routes only), log-out, revoked tokens ending sessions, and the
//! CSRF rule for changes made with the cookie; and per-token request budgets.

use hrhub_mapping::MappingSet;
use hrhub_server::auth::{generate_token, hash_token};
use hrhub_server::{router, AppState};
use hrhub_store::{SqliteStore, Store};
use hrhub_sync::SyncEngine;
use reqwest::{header, Client, Response, StatusCode};
use serde_json::{json, Value};
use std::sync::Arc;

struct Hub {
    base: String,
    store: Arc<dyn Store>,
    client: Client,
    _dir: tempfile::TempDir,
}

async fn start(configure: impl FnOnce(&mut AppState)) -> Hub {
    let dir = tempfile::tempdir().unwrap();
    let store: Arc<dyn Store> = Arc::new(
        SqliteStore::open(&format!("sqlite://{}", dir.path().join("t.db").display()))
            .await
            .unwrap(),
    );
    let engine = Arc::new(SyncEngine::new(store.clone(), Arc::new(MappingSet::new())));
    let mut state = AppState::new(engine, Vec::new());
    configure(&mut state);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, router(state)).await.unwrap() });
    Hub {
        base,
        store,
        client: Client::new(),
        _dir: dir,
    }
}

impl Hub {
    async fn token(&self, name: &str, role: &str) -> String {
        let token = generate_token();
        self.store
            .create_token(name, role, &hash_token(&token))
            .await
            .unwrap();
        token
    }

    async fn login(&self, token: &str) -> Response {
        self.client
            .post(format!("{}/api/v1/session", self.base))
            .json(&json!({ "token": token }))
            .send()
            .await
            .unwrap()
    }

    /// `method path` with the session cookie `cookie` (`name=value`).
    async fn with_cookie(
        &self,
        method: reqwest::Method,
        path: &str,
        cookie: &str,
        csrf: bool,
    ) -> StatusCode {
        let mut request = self
            .client
            .request(method, format!("{}{path}", self.base))
            .header(header::COOKIE, format!("theme=dark; {cookie}"));
        if csrf {
            request = request.header("X-Requested-With", "hrhub-dashboard");
        }
        request.send().await.unwrap().status()
    }
}

/// The `Set-Cookie` header of a response.
fn set_cookie(res: &Response) -> String {
    res.headers()[header::SET_COOKIE]
        .to_str()
        .unwrap()
        .to_string()
}

/// `name=value` of a `Set-Cookie` header.
fn pair(set_cookie: &str) -> String {
    set_cookie.split(';').next().unwrap().to_string()
}

#[tokio::test]
async fn log_in_cookie_flags_log_out_revocation_and_csrf() {
    let hub = start(|_| {}).await;
    let admin = hub.token("ops", "admin").await;
    let reader = hub.token("hr-system", "reader").await;
    let get = reqwest::Method::GET;
    let post = reqwest::Method::POST;

    // only a live admin token logs in, and only as JSON
    assert_eq!(hub.login("hrh_forged").await.status(), 401);
    assert_eq!(hub.login(&reader).await.status(), 403);
    let res = hub
        .client
        .post(format!("{}/api/v1/session", hub.base))
        .form(&[("token", admin.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 415, "a cross-site HTML form cannot log in");
    let res = hub
        .client
        .post(format!("{}/api/v1/session", hub.base))
        .header(header::CONTENT_TYPE, "application/json")
        .body("{\"tok\": 1}")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 400);
    assert_eq!(
        res.headers()[header::CONTENT_TYPE],
        "application/problem+json"
    );

    let res = hub.login(&admin).await;
    assert_eq!(res.status(), 200);
    let flags = set_cookie(&res);
    let cookie = pair(&flags);
    assert!(cookie.starts_with("hrhub_session=hrs_"), "{flags}");
    for flag in ["HttpOnly", "SameSite=Strict", "Path=/", "Max-Age=43200"] {
        assert!(flags.contains(flag), "{flag} missing: {flags}");
    }
    assert!(!flags.contains("Secure"), "plain HTTP by default: {flags}");
    assert!(
        !flags.contains(&admin),
        "the token never goes into the cookie"
    );
    let body: Value = res.json().await.unwrap();
    assert_eq!(
        (body["name"].as_str(), body["role"].as_str()),
        (Some("ops"), Some("admin"))
    );
    assert!(body["expires_at"].is_string());

    // the cookie opens the admin API (reads) and says who is logged in
    assert_eq!(
        hub.with_cookie(get.clone(), "/api/v1/sync/status", &cookie, false)
            .await,
        200
    );
    let me: Value = hub
        .client
        .get(format!("{}/api/v1/session", hub.base))
        .header(header::COOKIE, &cookie)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(me["name"], "ops");
    assert_eq!(me["expires_at"], body["expires_at"]);
    // ... but not the HR data API, which stays bearer-only
    assert_eq!(
        hub.with_cookie(get.clone(), "/api/v1/employees", &cookie, false)
            .await,
        401
    );
    // a made-up session is no session
    assert_eq!(
        hub.with_cookie(
            get.clone(),
            "/api/v1/sync/status",
            "hrhub_session=hrs_00",
            false
        )
        .await,
        401
    );

    // CSRF: a change with the cookie needs X-Requested-With (the replay of
    // an unknown connector answers 404 once past authentication)
    let replay = "/api/v1/quarantine/replay?connector=nope";
    assert_eq!(
        hub.with_cookie(post.clone(), replay, &cookie, false).await,
        403
    );
    assert_eq!(
        hub.with_cookie(post.clone(), replay, &cookie, true).await,
        404
    );
    assert_eq!(
        hub.with_cookie(post.clone(), "/api/v1/sync/nope", &cookie, false)
            .await,
        403
    );
    let res = hub
        .client
        .post(format!("{}{replay}", hub.base))
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 404, "bearer tokens need no CSRF header");

    // log-out ends the session and clears the cookie
    let res = hub
        .client
        .delete(format!("{}/api/v1/session", hub.base))
        .header(header::COOKIE, &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 204);
    let cleared = set_cookie(&res);
    assert!(
        cleared.starts_with("hrhub_session=;") && cleared.contains("Max-Age=0"),
        "{cleared}"
    );
    assert_eq!(
        hub.with_cookie(get.clone(), "/api/v1/sync/status", &cookie, false)
            .await,
        401
    );

    // revoking the token ends its sessions
    let cookie = pair(&set_cookie(&hub.login(&admin).await));
    assert_eq!(
        hub.with_cookie(get.clone(), "/api/v1/sync/status", &cookie, false)
            .await,
        200
    );
    assert_eq!(hub.store.revoke_token("ops").await.unwrap(), 1);
    assert_eq!(
        hub.with_cookie(get.clone(), "/api/v1/sync/status", &cookie, false)
            .await,
        401
    );
    assert_eq!(hub.login(&admin).await.status(), 401);
}

#[tokio::test]
async fn the_cookie_is_secure_behind_https() {
    let hub = start(|_| {}).await;
    let admin = hub.token("ops", "admin").await;
    let res = hub
        .client
        .post(format!("{}/api/v1/session", hub.base))
        .header("X-Forwarded-Proto", "https")
        .json(&json!({ "token": admin }))
        .send()
        .await
        .unwrap();
    assert!(
        set_cookie(&res).ends_with("; Secure"),
        "{}",
        set_cookie(&res)
    );

    let hub = start(|state| {
        state.sessions.secure_cookie = true;
        state.sessions.ttl = std::time::Duration::from_secs(3600);
    })
    .await;
    let admin = hub.token("ops", "admin").await;
    let flags = set_cookie(&hub.login(&admin).await);
    assert!(
        flags.contains("Max-Age=3600") && flags.ends_with("; Secure"),
        "{flags}"
    );
}

/// Issue 6, item 14: a token over its budget gets 429 problem+json with
/// Retry-After; other tokens keep theirs; the budget refills with time.
#[tokio::test]
async fn over_budget_tokens_get_429_with_retry_after() {
    let hub = start(|state| {
        state.rate_limits = Arc::new(hrhub_server::auth::RateLimits::new(2, 5));
    })
    .await;
    let greedy = hub.token("greedy", "reader").await;
    let polite = hub.token("polite", "reader").await;
    let get = |token: &str| {
        hub.client
            .get(format!("{}/api/v1/employees", hub.base))
            .bearer_auth(token)
            .send()
    };
    let mut refused = None;
    for _ in 0..20 {
        let res = get(&greedy).await.unwrap();
        if res.status() == StatusCode::TOO_MANY_REQUESTS {
            refused = Some(res);
            break;
        }
        assert_eq!(res.status(), StatusCode::OK);
    }
    let refused = refused.expect("20 requests at once never exceeded a burst of 5");
    assert_eq!(
        refused.headers()[header::CONTENT_TYPE],
        "application/problem+json"
    );
    let wait: u64 = refused.headers()[header::RETRY_AFTER]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=5).contains(&wait), "Retry-After {wait}");
    assert_eq!(get(&polite).await.unwrap().status(), StatusCode::OK);
    tokio::time::sleep(std::time::Duration::from_secs(wait)).await;
    assert_eq!(get(&greedy).await.unwrap().status(), StatusCode::OK);
}
