//! The connector against the mock, over real HTTP.

use hrhub_connector::retry::RetryPolicy;
use hrhub_connector::{ConnectorError, HttpConfig, Page, Source};
use hrhub_model::RawRecord;
use hrhub_zendesk::{
    MockHandle, MockOptions, MockZendesk, OAuthGrant, RatingsCursor, Zendesk, ZendeskAuth,
    ZendeskConfig,
};
use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

fn http() -> HttpConfig {
    HttpConfig {
        timeout: Duration::from_secs(20),
        retry: RetryPolicy::fast(),
        ..HttpConfig::for_local_mocks()
    }
}

/// API-token config with budgets high enough not to slow the tests.
fn config(mock: &MockHandle) -> ZendeskConfig {
    let opts = MockOptions::default();
    let mut c = ZendeskConfig::api_token(&mock.base_url(), &opts.email, &opts.api_token);
    c.requests_per_minute = Some(60_000);
    c.incremental_requests_per_minute = Some(60_000);
    c.start_time = Some(mock.now() - 400 * 86_400);
    c
}

fn oauth(mock: &MockHandle, grant: OAuthGrant, refresh_token: Option<String>) -> ZendeskConfig {
    let opts = MockOptions::default();
    let mut c = config(mock);
    c.auth = ZendeskAuth::Oauth2 {
        client_id: opts.client_id,
        client_secret: opts.client_secret,
        grant,
        refresh_token,
        access_token: None,
        scope: "read".into(),
        token_url: None,
    };
    c
}

async fn mock(tickets: usize) -> MockHandle {
    MockZendesk::start(MockOptions {
        tickets,
        ..MockOptions::default()
    })
    .await
}

/// Reads pages until `done`; returns the records, the last cursor and the page count.
async fn drain(
    z: &Zendesk,
    stream: &str,
    cursor: Option<String>,
) -> (Vec<RawRecord>, Option<String>, usize) {
    let d = hrhub_connector::read_to_end(z, stream, cursor, 10_000)
        .await
        .unwrap();
    (d.records, d.cursor, d.pages)
}

fn ids(records: &[RawRecord]) -> Vec<String> {
    records.iter().map(|r| r.external_id.clone()).collect()
}

fn token_calls(mock: &MockHandle) -> usize {
    mock.requests()
        .iter()
        .filter(|r| r.path.starts_with("/oauth/tokens"))
        .count()
}

#[tokio::test]
async fn pages_through_2500_tickets_once_each_with_metric_sets() {
    let mock = mock(2_500).await;
    let mut cfg = config(&mock);
    cfg.page_size = Some(1000);
    let z = Zendesk::new(cfg, http()).unwrap();
    let (records, cursor, pages) = drain(&z, "tickets", None).await;
    assert!(pages >= 3, "{pages} pages");
    assert_eq!(records.len(), 2_500);
    assert_eq!(
        ids(&records).into_iter().collect::<HashSet<_>>().len(),
        2_500
    );
    for r in &records {
        assert_eq!(r.stream, "tickets");
        assert_eq!(r.payload["id"].to_string(), r.external_id);
        assert_eq!(
            r.payload["metric_set"]["ticket_id"], r.payload["id"],
            "metric_set of {}",
            r.external_id
        );
    }
    assert!(
        cursor.is_some(),
        "the end-of-stream cursor is the next poll's watermark"
    );

    let log = mock.requests();
    assert_eq!(log[0].param("per_page").as_deref(), Some("1000"));
    assert_eq!(log[0].param("include").as_deref(), Some("metric_sets"));
    assert!(log[0].param("start_time").is_some());
    for later in &log[1..] {
        assert!(
            later.param("start_time").is_none(),
            "later pages use the cursor: {later:?}"
        );
        assert!(later.param("cursor").is_some());
        assert_eq!(later.param("include").as_deref(), Some("metric_sets"));
    }
}

#[tokio::test]
async fn resumes_from_a_saved_cursor_without_repeats() {
    let mock = mock(2_500).await;
    let mut cfg = config(&mock);
    cfg.page_size = Some(1000);
    let first = Zendesk::new(cfg.clone(), http())
        .unwrap()
        .read_page("tickets", None)
        .await
        .unwrap();
    assert_eq!(first.records.len(), 1000);
    assert!(!first.done);
    // A new process resumes from the committed cursor.
    let z = Zendesk::new(cfg, http()).unwrap();
    let (rest, _, _) = drain(&z, "tickets", first.cursor.clone()).await;
    let a: HashSet<_> = ids(&first.records).into_iter().collect();
    let b: HashSet<_> = ids(&rest).into_iter().collect();
    assert_eq!(rest.len(), 1_500);
    assert!(a.is_disjoint(&b));
    assert_eq!(a.len() + b.len(), 2_500);
}

#[tokio::test]
async fn touched_tickets_come_back_after_the_export_delay() {
    let mock = mock(1_000).await;
    let z = Zendesk::new(config(&mock), http()).unwrap();
    let (_, watermark, _) = drain(&z, "tickets", None).await;
    let touched: HashSet<String> = mock.touch_tickets(5).iter().map(u64::to_string).collect();
    assert_eq!(touched.len(), 5);

    // Changed within the last minute: not exported yet.
    let page = z.read_page("tickets", watermark.as_deref()).await.unwrap();
    assert!(page.records.is_empty());
    assert!(page.done);
    assert_eq!(page.cursor, watermark, "nothing read, the watermark stays");

    mock.advance(61);
    let (records, next, _) = drain(&z, "tickets", watermark).await;
    assert_eq!(ids(&records).into_iter().collect::<HashSet<_>>(), touched);
    assert_eq!(records.len(), 5);
    let (again, _, _) = drain(&z, "tickets", next).await;
    assert!(again.is_empty());
}

#[tokio::test]
async fn corrupt_and_new_tickets_are_exported() {
    let mock = mock(200).await;
    let z = Zendesk::new(config(&mock), http()).unwrap();
    let (_, watermark, _) = drain(&z, "tickets", None).await;
    assert!(mock.corrupt_ticket(17));
    let added = mock.add_tickets(2);
    mock.advance(61);
    let (records, _, _) = drain(&z, "tickets", watermark).await;
    assert_eq!(records.len(), 3);
    let bad = records.iter().find(|r| r.external_id == "17").unwrap();
    assert_eq!(bad.payload["created_at"], "not a date");
    assert!(records
        .iter()
        .any(|r| r.external_id == added[0].to_string()));
}

#[tokio::test]
async fn users_stream_yields_every_user_with_identity_fields() {
    let mock = mock(10).await;
    let z = Zendesk::new(config(&mock), http()).unwrap();
    let (records, cursor, _) = drain(&z, "users", None).await;
    let opts = MockOptions::default();
    assert_eq!(records.len(), 1 + opts.agents + opts.end_users);
    assert!(cursor.is_some());
    let agent = records
        .iter()
        .find(|r| r.payload["external_id"] == "EMP-00017")
        .unwrap();
    assert_eq!(agent.external_id, agent.payload["id"].to_string());
    assert_eq!(agent.payload["user_fields"]["employee_no"], "00017");
    assert!(agent.payload["email"]
        .as_str()
        .unwrap()
        .ends_with("@acme.example"));
    assert!(matches!(
        agent.payload["role"].as_str(),
        Some("agent" | "admin")
    ));
    assert!(records.iter().any(|r| r.payload["role"] == "end-user"));
}

#[tokio::test]
async fn ticket_metrics_is_a_full_scan_keyed_by_ticket() {
    let mock = mock(1_000).await;
    let z = Zendesk::new(config(&mock), http()).unwrap();
    let (records, cursor, pages) = drain(&z, "ticket_metrics", None).await;
    assert_eq!(cursor, None, "a completed scan starts over next time");
    assert!(pages > 1);
    assert!(
        records.len() > 300 && records.len() <= 1_000,
        "{}",
        records.len()
    );
    for r in &records {
        assert_eq!(r.payload["ticket_id"].to_string(), r.external_id);
    }
    assert_eq!(
        ids(&records).into_iter().collect::<HashSet<_>>().len(),
        records.len()
    );
    let log = mock.requests();
    assert_eq!(log[0].param("page[size]").as_deref(), Some("100"));
    assert!(log[1].param("page[after]").is_some());

    // a deleted ticket's metrics are gone from the next scan
    let deleted = &records[0].external_id;
    mock.delete_tickets(&[deleted.parse().unwrap()]);
    let (after_delete, _, _) = drain(&z, "ticket_metrics", None).await;
    assert_eq!(after_delete.len(), records.len() - 1);
    assert!(after_delete.iter().all(|r| &r.external_id != deleted));
}

#[tokio::test]
async fn ratings_cursor_moves_and_the_lookback_rereads() {
    let mock = mock(3_000).await;
    let z = Zendesk::new(config(&mock), http()).unwrap();
    let (all, cursor, pages) = drain(&z, "satisfaction_ratings", None).await;
    assert!(pages > 1);
    assert_eq!(all.len(), mock.rating_count());
    let max_created = all
        .iter()
        .map(|r| {
            chrono::DateTime::parse_from_rfc3339(r.payload["created_at"].as_str().unwrap())
                .unwrap()
                .timestamp()
        })
        .max()
        .unwrap();
    let end: RatingsCursor = serde_json::from_str(cursor.as_deref().unwrap()).unwrap();
    assert_eq!(end.start_time, max_created - 14 * 86_400);
    assert_eq!(end.after, None);

    // The next scan re-reads the last 14 days only, and sees a changed score.
    let changed = mock.change_ratings(1)[0].to_string();
    let (reread, again, _) = drain(&z, "satisfaction_ratings", cursor.clone()).await;
    assert!(
        !reread.is_empty() && reread.len() < all.len(),
        "{} of {}",
        reread.len(),
        all.len()
    );
    let before = all.iter().find(|r| r.external_id == changed).unwrap();
    let after = reread.iter().find(|r| r.external_id == changed).unwrap();
    assert_ne!(before.payload["score"], after.payload["score"]);
    assert_eq!(again, cursor, "no newer ratings, same start");

    // New ratings move the start forward.
    mock.advance(3 * 86_400);
    let added: HashSet<String> = mock.add_ratings(3).iter().map(u64::to_string).collect();
    assert_eq!(added.len(), 3);
    let (fresh, moved, _) = drain(&z, "satisfaction_ratings", again).await;
    assert!(added.is_subset(&ids(&fresh).into_iter().collect()));
    let moved: RatingsCursor = serde_json::from_str(moved.as_deref().unwrap()).unwrap();
    assert!(moved.start_time > end.start_time);
    assert!((mock.now() - 14 * 86_400 - moved.start_time).abs() <= 5);
}

#[tokio::test]
async fn ratings_start_never_moves_backwards() {
    let mock = mock(500).await;
    let mut cfg = config(&mock);
    cfg.satisfaction_lookback_days = Some(10_000);
    let start = cfg.start_time.unwrap();
    let z = Zendesk::new(cfg, http()).unwrap();
    let (_, cursor, _) = drain(&z, "satisfaction_ratings", None).await;
    let end: RatingsCursor = serde_json::from_str(cursor.as_deref().unwrap()).unwrap();
    assert_eq!(end.start_time, start);
    let err = z
        .read_page("satisfaction_ratings", Some("garbage"))
        .await
        .unwrap_err();
    assert!(matches!(err, ConnectorError::Config(_)), "{err}");
}

#[tokio::test]
async fn survives_429_and_waits_for_retry_after() {
    let mock = mock(10).await;
    let z = Zendesk::new(config(&mock), http()).unwrap();
    mock.throttle_next(2, 1); // one plain-text 429, one edge-protection JSON 429
    let page = z.read_page("users", None).await.unwrap();
    assert!(!page.records.is_empty());
    let log = mock.requests();
    assert_eq!(
        log.iter().map(|r| r.status).collect::<Vec<_>>(),
        vec![429, 429, 200]
    );
    for pair in log.windows(2) {
        let gap = pair[1].at.duration_since(pair[0].at);
        assert!(gap >= Duration::from_secs(1), "sent again after {gap:?}");
    }
}

#[tokio::test]
async fn survives_a_503_burst() {
    let mock = mock(10).await;
    let z = Zendesk::new(config(&mock), http()).unwrap();
    mock.fail_next(3, 503);
    let page = z.read_page("tickets", None).await.unwrap();
    assert_eq!(page.records.len(), 10);
    let statuses: Vec<u16> = mock.requests().iter().map(|r| r.status).collect();
    assert_eq!(statuses, vec![503, 503, 503, 200]);
}

#[tokio::test]
async fn api_token_401_is_final_after_one_request() {
    let mock = mock(10).await;
    let z = Zendesk::new(config(&mock), http()).unwrap();
    mock.revoke_tokens();
    let err = z.read_page("tickets", None).await.unwrap_err();
    match &err {
        ConnectorError::Auth(msg) => assert!(msg.contains("admin@acme.example"), "{msg}"),
        other => panic!("expected Auth, got {other}"),
    }
    assert_eq!(mock.request_count(), 1);
    // A rotated token works again.
    mock.set_api_token("rotated");
    let mut cfg = config(&mock);
    cfg.auth = ZendeskAuth::ApiToken {
        email: "admin@acme.example".into(),
        token: "rotated".into(),
    };
    Zendesk::new(cfg, http())
        .unwrap()
        .read_page("users", None)
        .await
        .unwrap();
}

#[tokio::test]
async fn oauth_token_expiry_triggers_a_refresh() {
    let mock = mock(10).await;
    let z = Zendesk::new(oauth(&mock, OAuthGrant::ClientCredentials, None), http()).unwrap();
    z.read_page("users", None).await.unwrap();
    assert_eq!(token_calls(&mock), 1);
    mock.advance(7_201); // the mock's token (expires_in 7200) is now dead
    z.read_page("users", None).await.unwrap();
    assert_eq!(token_calls(&mock), 2);
    let statuses: Vec<u16> = mock
        .requests()
        .iter()
        .filter(|r| r.path.starts_with("/api"))
        .map(|r| r.status)
        .collect();
    assert_eq!(statuses, vec![200, 401, 200]);
}

#[tokio::test]
async fn oauth_refreshes_ahead_of_expiry() {
    let mock = MockZendesk::start(MockOptions {
        tickets: 10,
        token_expires_in: Some(2), // refreshed after half its life
        ..MockOptions::default()
    })
    .await;
    let z = Zendesk::new(oauth(&mock, OAuthGrant::ClientCredentials, None), http()).unwrap();
    z.read_page("users", None).await.unwrap();
    tokio::time::sleep(Duration::from_millis(1_100)).await;
    z.read_page("users", None).await.unwrap();
    assert_eq!(token_calls(&mock), 2);
    assert!(mock.requests().iter().all(|r| r.status == 200));
}

#[tokio::test]
async fn oauth_refresh_tokens_rotate() {
    let mock = mock(10).await;
    let rt = mock.issue_refresh_token();
    let z = Zendesk::new(oauth(&mock, OAuthGrant::RefreshToken, Some(rt)), http()).unwrap();
    for _ in 0..3 {
        z.read_page("users", None).await.unwrap();
        mock.advance(7_201);
    }
    // each refresh used the token the previous one returned (the mock kills used ones)
    assert_eq!(token_calls(&mock), 3);
    assert!(mock
        .requests()
        .iter()
        .filter(|r| r.path.starts_with("/oauth"))
        .all(|r| r.status == 200));
}

#[tokio::test]
async fn oauth_revoked_means_one_refresh_then_auth() {
    let mock = mock(10).await;
    let rt = mock.issue_refresh_token();
    let z = Zendesk::new(oauth(&mock, OAuthGrant::RefreshToken, Some(rt)), http()).unwrap();
    z.read_page("users", None).await.unwrap();
    mock.revoke_tokens();
    mock.clear_requests();
    let err = z.read_page("users", None).await.unwrap_err();
    assert!(matches!(err, ConnectorError::Auth(_)), "{err}");
    let log = mock.requests();
    assert_eq!(
        log.iter()
            .map(|r| (r.path.as_str(), r.status))
            .collect::<Vec<_>>(),
        vec![
            ("/api/v2/incremental/users/cursor.json", 401),
            ("/oauth/tokens", 400),
        ]
    );

    // A refresh that succeeds but is refused again: final, with one refresh.
    let z = Zendesk::new(oauth(&mock, OAuthGrant::ClientCredentials, None), http()).unwrap();
    z.read_page("users", None).await.unwrap();
    mock.clear_requests();
    mock.fail_next(2, 401);
    let err = z.read_page("users", None).await.unwrap_err();
    match err {
        ConnectorError::Auth(msg) => assert!(msg.contains("OAuth client"), "{msg}"),
        other => panic!("expected Auth, got {other}"),
    }
    let log: Vec<u16> = mock.requests().iter().map(|r| r.status).collect();
    assert_eq!(log, vec![401, 200, 401]);
}

#[tokio::test]
async fn concurrent_401s_share_one_refresh() {
    let mock = mock(50).await;
    let z =
        Arc::new(Zendesk::new(oauth(&mock, OAuthGrant::ClientCredentials, None), http()).unwrap());
    z.read_page("ticket_metrics", None).await.unwrap();
    mock.advance(7_201);
    let tasks: Vec<_> = (0..6)
        .map(|_| {
            let z = z.clone();
            tokio::spawn(async move { z.read_page("ticket_metrics", None).await })
        })
        .collect();
    for t in tasks {
        t.await.unwrap().unwrap();
    }
    assert_eq!(
        token_calls(&mock),
        2,
        "one initial token, one shared refresh"
    );
}

#[tokio::test]
async fn check_reports_the_admin_and_rejects_agents() {
    let mock = mock(10).await;
    let z = Zendesk::new(config(&mock), http()).unwrap();
    let report = z.check().await.unwrap();
    let text = report.details.join("\n");
    assert!(text.contains("admin@acme.example (admin)"), "{text}");
    assert_eq!(mock.requests()[0].path, "/api/v2/users/me.json");

    mock.set_me_role("agent");
    let err = z.check().await.unwrap_err();
    match err {
        ConnectorError::Forbidden(msg) => assert!(msg.contains("need an admin"), "{msg}"),
        other => panic!("expected Forbidden, got {other}"),
    }
    // and the admin-only endpoints answer 403
    let err = z.read_page("tickets", None).await.unwrap_err();
    assert!(matches!(err, ConnectorError::Forbidden(_)), "{err}");
}

#[tokio::test]
async fn incremental_calls_obey_their_own_budget() {
    let mock = mock(300).await;
    let mut cfg = config(&mock);
    cfg.incremental_requests_per_minute = Some(600); // one per 100 ms
    cfg.page_size = Some(100);
    let z = Zendesk::new(cfg, http()).unwrap();
    let started = std::time::Instant::now();
    let (records, _, pages) = drain(&z, "tickets", None).await;
    assert_eq!((records.len(), pages), (300, 3));
    assert!(
        started.elapsed() >= Duration::from_millis(200),
        "{:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn unknown_stream_is_a_config_error() {
    let mock = mock(1).await;
    let z = Zendesk::new(config(&mock), http()).unwrap();
    assert_eq!(z.kind(), "zendesk");
    assert_eq!(
        z.streams(),
        vec!["users", "tickets", "ticket_metrics", "satisfaction_ratings"]
    );
    let err = z.read_page("organizations", None).await.unwrap_err();
    assert!(matches!(err, ConnectorError::Config(_)));
}

#[tokio::test]
async fn incremental_calls_also_spend_the_account_budget() {
    let mock = mock(300).await;
    let mut cfg = config(&mock);
    cfg.requests_per_minute = Some(600); // one per 100 ms, shared by every call
    cfg.page_size = Some(100);
    let z = Zendesk::new(cfg, HttpConfig { burst: 1, ..http() }).unwrap();
    let started = std::time::Instant::now();
    let (records, _, pages) = drain(&z, "tickets", None).await;
    assert_eq!((records.len(), pages), (300, 3));
    assert!(
        started.elapsed() >= Duration::from_millis(200),
        "{:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn a_start_time_zendesk_finds_too_recent_means_nothing_yet() {
    // The mock's clock runs an hour behind, so "a minute ago" is in its future.
    let mock = MockZendesk::start(MockOptions {
        tickets: 10,
        now: Some(chrono::Utc::now().timestamp() - 3_600),
        ..MockOptions::default()
    })
    .await;
    let mut cfg = config(&mock);
    cfg.start_time = Some(chrono::Utc::now().timestamp() - 120);
    let page = Zendesk::new(cfg, http())
        .unwrap()
        .read_page("tickets", None)
        .await
        .unwrap();
    assert_eq!(
        page,
        Page {
            records: vec![],
            cursor: None,
            done: true
        }
    );
    assert_eq!(mock.requests()[0].status, 400);
}

#[tokio::test]
async fn a_long_lived_oauth_token_is_used_as_is() {
    let mock = mock(10).await;
    let opts = MockOptions::default();
    let token: serde_json::Value = reqwest::Client::new()
        .post(format!("{}/oauth/tokens", mock.base_url()))
        .form(&[
            ("grant_type", "client_credentials"),
            ("client_id", &opts.client_id),
            ("client_secret", &opts.client_secret),
        ])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let mut cfg = oauth(&mock, OAuthGrant::ClientCredentials, None);
    if let ZendeskAuth::Oauth2 { access_token, .. } = &mut cfg.auth {
        *access_token = Some(token["access_token"].as_str().unwrap().to_string());
    }
    let z = Zendesk::new(cfg, http()).unwrap();
    z.read_page("users", None).await.unwrap();
    mock.revoke_tokens();
    mock.clear_requests();
    let err = z.read_page("users", None).await.unwrap_err();
    match err {
        ConnectorError::Auth(msg) => assert!(msg.contains("cannot be refreshed"), "{msg}"),
        other => panic!("expected Auth, got {other}"),
    }
    assert_eq!(mock.request_count(), 1, "no refresh attempted");
}
