//! The mock's own behaviour, checked with a plain HTTP client.

use base64::Engine;
use hrhub_zendesk::{MockOptions, MockZendesk};
use serde_json::Value;
use std::time::Instant;

fn basic(opts: &MockOptions) -> String {
    let raw = format!("{}/token:{}", opts.email, opts.api_token);
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(raw)
    )
}

#[tokio::test]
async fn serves_paths_with_and_without_json_and_checks_auth() {
    let opts = MockOptions {
        tickets: 5,
        ..MockOptions::default()
    };
    let mock = MockZendesk::start(opts.clone()).await;
    let http = reqwest::Client::new();
    for path in ["/api/v2/users/me.json", "/api/v2/users/me"] {
        let r = http
            .get(format!("{}{path}", mock.base_url()))
            .header("Authorization", basic(&opts))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        assert!(r.headers().contains_key("x-rate-limit"));
        assert!(r.headers().contains_key("x-rate-limit-remaining"));
        let body: Value = r.json().await.unwrap();
        assert_eq!(body["user"]["role"], "admin");
    }
    let r = http
        .get(format!("{}/api/v2/users/me.json", mock.base_url()))
        .header("Authorization", "Basic d3Jvbmc6d3Jvbmc=")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    assert_eq!(
        r.json::<Value>().await.unwrap(),
        serde_json::json!({"error": "Couldn't authenticate you"})
    );
}

#[tokio::test]
async fn rate_limit_window_answers_429_with_both_bodies() {
    let opts = MockOptions {
        tickets: 5,
        ..MockOptions::default()
    };
    let mock = MockZendesk::start(opts.clone()).await;
    mock.set_rate_limit(Some(2));
    let http = reqwest::Client::new();
    let mut bodies = Vec::new();
    for i in 0..4 {
        let r = http
            .get(format!("{}/api/v2/ticket_metrics", mock.base_url()))
            .header("Authorization", basic(&opts))
            .send()
            .await
            .unwrap();
        if i < 2 {
            assert_eq!(r.status(), 200);
            continue;
        }
        assert_eq!(r.status(), 429);
        let wait: u64 = r.headers()["retry-after"]
            .to_str()
            .unwrap()
            .parse()
            .unwrap();
        assert!((1..=60).contains(&wait));
        bodies.push(r.text().await.unwrap());
    }
    assert!(bodies
        .iter()
        .any(|b| b == "Number of allowed API requests per minute exceeded"));
    assert!(bodies.iter().any(|b| b.contains("edge protection")));
}

#[tokio::test]
async fn token_endpoint_takes_json_and_rotates_refresh_tokens() {
    let opts = MockOptions {
        tickets: 5,
        token_expires_in: Some(600),
        ..MockOptions::default()
    };
    let mock = MockZendesk::start(opts.clone()).await;
    let http = reqwest::Client::new();
    let refresh = mock.issue_refresh_token();
    let grant = |rt: &str| {
        serde_json::json!({"grant_type": "refresh_token", "refresh_token": rt,
            "client_id": opts.client_id, "client_secret": opts.client_secret, "scope": "read"})
    };
    let r = http
        .post(format!("{}/oauth/tokens", mock.base_url()))
        .json(&grant(&refresh))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["token_type"], "bearer");
    assert_eq!(body["expires_in"], 600);
    let rotated = body["refresh_token"].as_str().unwrap().to_string();
    let access = body["access_token"].as_str().unwrap().to_string();
    let me = |token: String| {
        http.get(format!("{}/api/v2/users/me", mock.base_url()))
            .bearer_auth(token)
            .send()
    };
    assert_eq!(me(access.clone()).await.unwrap().status(), 200);
    // the used refresh token is dead, the rotated one works and kills the old access token
    let r = http
        .post(format!("{}/oauth/tokens", mock.base_url()))
        .json(&grant(&refresh))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    let r = http
        .post(format!("{}/oauth/tokens.json", mock.base_url()))
        .json(&grant(&rotated))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(me(access).await.unwrap().status(), 401);
}

/// A million tickets start quickly and page like a thousand.
#[tokio::test]
async fn handles_a_million_tickets() {
    let opts = MockOptions {
        tickets: 1_000_000,
        ..MockOptions::default()
    };
    let started = Instant::now();
    let mock = MockZendesk::start(opts.clone()).await;
    let generated = started.elapsed();
    let http = reqwest::Client::new();
    let r = http
        .get(format!(
            "{}/api/v2/incremental/tickets/cursor.json?start_time=0&per_page=1000&include=metric_sets",
            mock.base_url()
        ))
        .header("Authorization", basic(&opts))
        .send()
        .await
        .unwrap();
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["tickets"].as_array().unwrap().len(), 1000);
    assert_eq!(body["metric_sets"].as_array().unwrap().len(), 1000);
    assert_eq!(body["end_of_stream"], false);
    assert_eq!(mock.ticket_count(), 1_000_000);
    eprintln!(
        "1M tickets generated in {generated:?}, first page after {:?}",
        started.elapsed()
    );
}
