//! The connector against the mock, over real HTTP.

use chrono::{DateTime, Duration as ChronoDuration, Utc};
use hrhub_connector::retry::RetryPolicy;
use hrhub_connector::synthetic::Company;
use hrhub_connector::{read_to_end, ConnectorError, HttpConfig, Source};
use hrhub_cornerstone::{
    Cornerstone, CornerstoneConfig, MockCornerstone, MockHandle, MockOptions, TranscriptsCursor,
};
use hrhub_mapping::{MapOutcome, Mapping};
use hrhub_model::RawRecord;
use serde_json::Value;
use std::collections::{HashMap, HashSet};
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

fn http() -> HttpConfig {
    HttpConfig {
        timeout: Duration::from_secs(20),
        retry: RetryPolicy::fast(),
        ..HttpConfig::for_local_mocks()
    }
}

/// Reads from 61 days back (the mock's history is 60), fast budget.
fn config(mock: &MockHandle) -> CornerstoneConfig {
    let opts = MockOptions::default();
    let mut c = CornerstoneConfig::new(&mock.base_url(), &opts.client_id, &opts.client_secret);
    c.requests_per_minute = Some(60_000);
    c.start_date = Some(
        (Utc::now() - ChronoDuration::days(61))
            .format("%Y-%m-%d")
            .to_string(),
    );
    c
}

async fn mock(options: MockOptions) -> MockHandle {
    MockCornerstone::start(options).await
}

async fn drain(c: &Cornerstone, cursor: Option<String>) -> (Vec<RawRecord>, Option<String>, usize) {
    let d = read_to_end(c, "transcripts", cursor, 10_000).await.unwrap();
    (d.records, d.cursor, d.pages)
}

/// The latest record per external id.
fn latest(records: &[RawRecord]) -> HashMap<String, Value> {
    records
        .iter()
        .map(|r| (r.external_id.clone(), r.payload.clone()))
        .collect()
}

fn search_requests(mock: &MockHandle) -> Vec<hrhub_cornerstone::LoggedRequest> {
    mock.requests()
        .into_iter()
        .filter(|r| r.path.ends_with("/transcripts/search"))
        .collect()
}

fn ts(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
}

#[tokio::test]
async fn backfill_reads_every_transcript_in_24_hour_windows_of_50() {
    // 300 learners x 6 items over 60 days: about 30 a day, busy days page
    let mock = mock(MockOptions {
        learners: 300,
        ..MockOptions::default()
    })
    .await;
    let c = Cornerstone::new(config(&mock), http()).unwrap();
    let (records, cursor, pages) = drain(&c, None).await;

    let expected: HashSet<String> = mock
        .transcripts()
        .iter()
        .map(|t| {
            let (user, lo) = (t["userId"].as_str().unwrap(), t["loId"].as_str().unwrap());
            if t["isArchived"] == true {
                format!(
                    "{user}:{lo}:archived:{}",
                    t["completionDate"].as_str().unwrap()
                )
            } else {
                format!("{user}:{lo}")
            }
        })
        .collect();
    let got = latest(&records);
    assert_eq!(got.keys().cloned().collect::<HashSet<_>>(), expected);
    assert!(got.keys().any(|k| k.contains(":archived:")));
    // only items modified exactly on a window bound come twice
    assert!(
        records.len() - got.len() < 20,
        "{} records, {} ids",
        records.len(),
        got.len()
    );

    let log = search_requests(&mock);
    assert_eq!(log.len(), pages);
    assert!(log
        .iter()
        .all(|r| r.param("pageSize").as_deref() == Some("50")));
    assert!(
        log.iter()
            .any(|r| r.param("pageNumber").as_deref() == Some("2")),
        "some window needed a second page"
    );
    let mut previous_end: Option<DateTime<Utc>> = None;
    for r in &log {
        let (start, end) = (
            ts(&r.param("ModificationStartDate").unwrap()),
            ts(&r.param("ModificationEndDate").unwrap()),
        );
        assert!(end - start <= ChronoDuration::hours(24));
        if r.param("pageNumber").as_deref() == Some("1") {
            if let Some(prev) = previous_end {
                assert_eq!(start, prev, "windows are contiguous");
            }
        }
        previous_end = Some(end);
    }
    // caught up: the next sync starts a lookback before the last end
    let cursor: TranscriptsCursor = serde_json::from_str(&cursor.unwrap()).unwrap();
    assert_eq!(cursor.page, 1);
    assert!(cursor.to.is_none());
    let lag = previous_end.unwrap() - cursor.from;
    assert_eq!(lag, ChronoDuration::hours(24));
}

#[tokio::test]
async fn payloads_carry_the_underscore_fields_and_emails() {
    let mock = mock(MockOptions::default()).await;
    let c = Cornerstone::new(config(&mock), http()).unwrap();
    let (records, _, _) = drain(&c, None).await;
    let mut scored = 0;
    for r in &records {
        let p = &r.payload;
        assert_eq!(p["_key"], r.external_id.as_str());
        assert_eq!(p["_modified_at"], p["lastModifiedDate"]);
        match p["completionDate"].as_str() {
            Some(done) => assert_eq!(p["_completed_at"], done),
            None => assert!(p["_completed_at"].is_null()),
        }
        if let Some(score) = p["score"].as_f64() {
            assert_eq!(p["_score_100"].as_f64(), Some(score));
            scored += 1;
        }
        let user = p["userId"].as_str().unwrap();
        assert_eq!(p["_email"].as_str(), mock.learner_email(user).as_deref());
    }
    assert!(scored > 10);
    // one e-mail lookup per learner, whatever the number of items
    let lookups = mock
        .requests()
        .iter()
        .filter(|r| r.path == "/services/api/x/users/v2/employees")
        .count();
    assert_eq!(lookups, 50);
}

#[tokio::test]
async fn resumes_mid_window_and_picks_up_changes_incrementally() {
    let mock = mock(MockOptions {
        learners: 300,
        ..MockOptions::default()
    })
    .await;
    let c = Cornerstone::new(config(&mock), http()).unwrap();
    // read until the first window with a second page, then stop
    let mut cursor = None;
    let mut first = Vec::new();
    loop {
        let page = c.read_page("transcripts", cursor.as_deref()).await.unwrap();
        first.extend(page.records);
        cursor = page.cursor;
        let state: TranscriptsCursor = serde_json::from_str(cursor.as_deref().unwrap()).unwrap();
        if state.page == 2 {
            assert!(
                state.to.is_some(),
                "the window's end is fixed for its later pages"
            );
            break;
        }
        assert!(!page.done);
    }
    // a new connector instance (a restarted hub) resumes from the cursor
    let again = Cornerstone::new(config(&mock), http()).unwrap();
    let (rest, end_cursor, _) = drain(&again, cursor).await;
    let mut all = first.clone();
    all.extend(rest.iter().cloned());
    assert_eq!(latest(&all).len(), mock.transcripts().len());
    let first_ids: HashSet<_> = first.iter().map(|r| &r.external_id).collect();
    let repeats = rest
        .iter()
        .filter(|r| first_ids.contains(&r.external_id))
        .count();
    assert!(repeats < 5, "{repeats} records read twice");

    // incremental: completions since the last sync come with the lookback re-read
    let completed = mock.complete(5);
    mock.clear_requests();
    let (changed, _, _) = drain(&again, end_cursor).await;
    let got = latest(&changed);
    for key in &completed {
        assert_eq!(got[key]["status"], "Completed", "{key}");
        assert!(got[key]["_completed_at"].is_string());
    }
    // the lookback day plus the seconds since the last sync span at most two
    // windows, each paged by 50: a re-read bounded by what changed, not a rescan
    let windows = search_requests(&mock);
    let bound = 2 + changed.len().div_ceil(50);
    assert!(
        windows.len() <= bound,
        "{} requests for {} records in one day",
        windows.len(),
        changed.len()
    );
}

#[tokio::test]
async fn the_token_is_cached_and_minted_with_a_json_body() {
    let mock = mock(MockOptions::default()).await;
    let c = Cornerstone::new(config(&mock), http()).unwrap();
    let (_, _, pages) = drain(&c, None).await;
    assert!(pages > 50);
    assert_eq!(mock.token_requests(), 1);
    let token = mock
        .requests()
        .into_iter()
        .find(|r| r.path == "/services/api/oauth2/token")
        .unwrap();
    assert_eq!(token.method, "POST");
    assert_eq!(token.content_type.as_deref(), Some("application/json"));
    let mut keys = token.body_keys.clone();
    keys.sort();
    assert_eq!(keys, ["clientId", "clientSecret", "grantType", "scope"]);
    assert_eq!(mock.unauthorized_count(), 0);
}

#[tokio::test]
async fn the_token_is_refreshed_ahead_of_expiry() {
    let mock = mock(MockOptions {
        token_expires_in: 2,
        ..MockOptions::default()
    })
    .await;
    let c = Cornerstone::new(config(&mock), http()).unwrap();
    c.read_page("transcripts", None).await.unwrap();
    assert_eq!(mock.token_requests(), 1);
    // refreshed 1 s before its 2 s run out: the next call mints first
    tokio::time::sleep(Duration::from_millis(1_100)).await;
    c.read_page("transcripts", None).await.unwrap();
    assert_eq!(mock.token_requests(), 2);
    assert_eq!(
        mock.unauthorized_count(),
        0,
        "no request went out with a stale token"
    );
}

#[tokio::test]
async fn a_401_mints_one_new_token_then_is_final() {
    let mock = mock(MockOptions::default()).await;
    let c = Cornerstone::new(config(&mock), http()).unwrap();
    c.read_page("transcripts", None).await.unwrap();
    mock.expire_tokens();
    c.read_page("transcripts", None).await.unwrap();
    assert_eq!(mock.token_requests(), 2);
    assert_eq!(mock.unauthorized_count(), 1);

    mock.reject_all_tokens(true);
    let err = c.read_page("transcripts", None).await.unwrap_err();
    assert!(matches!(err, ConnectorError::Auth(_)), "{err}");
    assert!(err.to_string().contains("service-account"), "{err}");
    assert_eq!(mock.token_requests(), 3, "one refresh, not a loop");
    assert_eq!(mock.unauthorized_count(), 3);
}

#[tokio::test]
async fn refused_credentials_and_scopes_say_what_to_check() {
    let mock = mock(MockOptions::default()).await;
    let mut cfg = config(&mock);
    cfg.auth.client_secret = "wrong".into();
    let c = Cornerstone::new(cfg, http()).unwrap();
    let err = c.read_page("transcripts", None).await.unwrap_err();
    assert!(matches!(err, ConnectorError::Auth(_)), "{err}");
    let text = err.to_string();
    assert!(
        text.contains("invalid_client") && text.contains("client_secret"),
        "{text}"
    );
    assert_eq!(mock.token_requests(), 1, "a refused grant is not retried");

    // the application lost employee:read: asking for it is refused at the token
    mock.set_scopes(&["transcript:read"]);
    let c = Cornerstone::new(config(&mock), http()).unwrap();
    let err = c
        .read_page("transcripts", None)
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("invalid_scope"), "{err}");
    // without e-mail lookups transcript:read is enough
    let mut cfg = config(&mock);
    cfg.lookup_emails = Some(false);
    let c = Cornerstone::new(cfg, http()).unwrap();
    let page = c.read_page("transcripts", None).await.unwrap();
    assert!(page.records.iter().all(|r| r.payload["_email"].is_null()));
    assert!(c.check().await.is_ok());
}

#[tokio::test]
async fn throttling_and_server_errors_are_retried() {
    let mock = mock(MockOptions::default()).await;
    let c = Cornerstone::new(config(&mock), http()).unwrap();
    c.read_page("transcripts", None).await.unwrap();
    mock.throttle_next(2, 1);
    let start = Instant::now();
    c.read_page("transcripts", None).await.unwrap();
    assert!(
        start.elapsed() >= Duration::from_secs(1),
        "Retry-After was honoured"
    );
    mock.fail_next(2, 503);
    c.read_page("transcripts", None).await.unwrap();
    let statuses: Vec<u16> = mock.requests().iter().map(|r| r.status).collect();
    assert_eq!(statuses.iter().filter(|s| **s == 429).count(), 2);
    assert_eq!(statuses.iter().filter(|s| **s == 503).count(), 2);

    mock.fail_next(100, 500);
    let err = c.read_page("transcripts", None).await.unwrap_err();
    assert!(matches!(err, ConnectorError::Exhausted { .. }), "{err}");
}

#[tokio::test]
async fn check_reports_token_and_endpoints() {
    let mock = mock(MockOptions::default()).await;
    let c = Cornerstone::new(config(&mock), http()).unwrap();
    let report = c.check().await.unwrap();
    let text = report.details.join("\n");
    assert!(
        text.contains("scope transcript:read employee:read"),
        "{text}"
    );
    assert!(text.contains("expires in 3600s"), "{text}");
    assert!(text.contains("Employee API"), "{text}");
    assert_eq!(c.kind(), "cornerstone");
    assert_eq!(c.streams(), ["transcripts"]);
    assert!(c.read_page("users", None).await.is_err());
}

#[tokio::test]
async fn deactivated_learners_drop_out_of_transcript_search() {
    let mock = mock(MockOptions::default()).await;
    mock.deactivate("EMP-00001");
    let c = Cornerstone::new(config(&mock), http()).unwrap();
    let (records, _, _) = drain(&c, None).await;
    assert!(!records.is_empty());
    assert!(records.iter().all(|r| r.payload["userId"] != "EMP-00001"));
}

#[tokio::test]
async fn learners_are_the_company_and_the_shipped_mapping_maps_them() {
    let company = Arc::new(Company::generate(11, 80));
    let mock = mock(MockOptions {
        company: Some(company.clone()),
        ..MockOptions::default()
    })
    .await;
    let c = Cornerstone::new(config(&mock), http()).unwrap();
    let (records, _, _) = drain(&c, None).await;
    let path =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../mappings/cornerstone/transcripts.toml");
    let mapping = Mapping::load(&path).unwrap();
    assert_eq!(
        (mapping.kind.as_str(), mapping.stream.as_str()),
        ("cornerstone", "transcripts")
    );
    let people: HashMap<&str, &str> = company
        .people
        .iter()
        .map(|p| (p.employee_no.as_str(), p.email.as_str()))
        .collect();
    for r in &records {
        let MapOutcome::Mapped(m) = mapping.apply(&r.payload).unwrap() else {
            panic!("filtered {}", r.external_id);
        };
        assert_eq!(m.key, r.external_id);
        let no = m.identity.employee_no.as_deref().unwrap();
        assert!(people.contains_key(no), "{no} is a person of the company");
        if let Some(email) = &m.identity.email {
            assert_eq!(email, people[no], "the same person's e-mail");
        }
        let field = |name: &str| {
            m.fields
                .iter()
                .find(|(n, _)| *n == name)
                .map(|(_, v)| v.clone())
        };
        assert!(field("course_id").is_some());
        assert!(m.source_updated_at.is_some());
    }
}
