//! The SSRF guard at request time, through the shared `HttpClient`: names
//! resolving to blocked addresses and IP-literal hosts are refused before
//! anything is sent, the refusal is final (not retried), and redirects are
//! never followed, those towards refused URLs reported as such.

use axum::http::{header, StatusCode};
use axum::response::IntoResponse;
use axum::routing::get;
use hrhub_connector::mock_server::MockServer;
use hrhub_connector::retry::RetryPolicy;
use hrhub_connector::{ConnectorError, HttpClient, HttpConfig, UrlPolicy, UrlRefused};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

/// A server on 127.0.0.1 that counts its requests: `/ok` answers JSON,
/// `/redirect?to=URL` answers 302 towards URL.
async fn server() -> (MockServer, Arc<AtomicUsize>) {
    let hits = Arc::new(AtomicUsize::new(0));
    let counted = |hits: &Arc<AtomicUsize>| {
        let hits = hits.clone();
        move || {
            hits.fetch_add(1, Ordering::SeqCst);
        }
    };
    let (ok, redirect) = (counted(&hits), counted(&hits));
    let app = axum::Router::new()
        .route(
            "/ok",
            get(move || async move {
                ok();
                axum::Json(serde_json::json!({"ok": true}))
            }),
        )
        .route(
            "/redirect",
            get(
                move |axum::extract::Query(q): axum::extract::Query<
                    std::collections::HashMap<String, String>,
                >| async move {
                    redirect();
                    (StatusCode::FOUND, [(header::LOCATION, q["to"].clone())]).into_response()
                },
            ),
        );
    (MockServer::start("ssrf", app).await, hits)
}

fn client(url_policy: UrlPolicy) -> HttpClient {
    HttpClient::new(
        "test",
        HttpConfig {
            retry: RetryPolicy::fast(),
            url_policy,
            ..HttpConfig::default()
        },
    )
    .unwrap()
}

async fn get_json(client: &HttpClient, url: &str) -> Result<serde_json::Value, ConnectorError> {
    let url = url.to_string();
    client.json(move |c| c.get(&url)).await
}

#[tokio::test]
async fn a_name_resolving_to_loopback_is_refused_without_the_allowance() {
    let (server, hits) = server().await;
    let url = server.base_url().replace("127.0.0.1", "localhost") + "/ok";

    let err = get_json(&client(UrlPolicy::public_only()), &url)
        .await
        .unwrap_err();
    match &err {
        ConnectorError::UrlRefused(UrlRefused::Address { host, ip, .. }) => {
            assert_eq!(host.as_deref(), Some("localhost"));
            assert!(ip.is_loopback(), "{ip}");
        }
        other => panic!("expected a refusal, got {other:?}"),
    }
    assert!(!err.is_transient(), "a refusal is final");
    let message = err.to_string();
    assert!(
        message.contains("localhost resolves to") && message.contains("HRHUB_ALLOW_PRIVATE_URLS=1"),
        "{message}"
    );
    assert_eq!(hits.load(Ordering::SeqCst), 0, "nothing was sent");

    let answer = get_json(&client(UrlPolicy::allow_private()), &url)
        .await
        .unwrap();
    assert_eq!(answer["ok"], true);
    assert_eq!(hits.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn an_ip_literal_host_is_checked_before_sending() {
    let (server, hits) = server().await;
    let url = format!("{}/ok", server.base_url());

    let err = get_json(&client(UrlPolicy::public_only()), &url)
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            ConnectorError::UrlRefused(UrlRefused::Address { host: None, .. })
        ),
        "{err:?}"
    );
    assert_eq!(hits.load(Ordering::SeqCst), 0, "nothing was sent");
}

#[tokio::test]
async fn redirects_are_not_followed_and_refused_targets_are_named() {
    let (server, hits) = server().await;
    let base = server.base_url();
    // the allowance lets the first hop reach 127.0.0.1; schemes stay checked
    let client = client(UrlPolicy::allow_private());

    let err = get_json(
        &client,
        &format!("{base}/redirect?to=gopher://127.0.0.1:6379/_FLUSHALL"),
    )
    .await
    .unwrap_err();
    assert!(
        matches!(err, ConnectorError::UrlRefused(UrlRefused::Redirect(_))),
        "{err:?}"
    );
    assert!(err.to_string().contains("redirected"), "{err}");
    assert_eq!(hits.load(Ordering::SeqCst), 1, "refused once, not retried");

    // an allowed target is not followed either: the 3xx is the answer
    let err = get_json(&client, &format!("{base}/redirect?to={base}/ok"))
        .await
        .unwrap_err();
    assert!(
        matches!(err, ConnectorError::Protocol { ref message, .. } if message.contains("302")),
        "{err:?}"
    );
    assert_eq!(hits.load(Ordering::SeqCst), 2, "/ok was never asked");
}
