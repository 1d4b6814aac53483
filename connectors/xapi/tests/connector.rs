//! The connector against the mock LRS, over real HTTP.

use hrhub_connector::retry::RetryPolicy;
use hrhub_connector::{ConnectorError, HttpConfig, Source};
use hrhub_model::{RawRecord, RecordOp};
use hrhub_xapi::{MockHandle, MockLrs, MockOptions, StatementsCursor, Xapi, XapiConfig};
use serde_json::{json, Value};
use std::collections::HashSet;
use std::time::Duration;

fn http() -> HttpConfig {
    HttpConfig {
        timeout: Duration::from_secs(20),
        retry: RetryPolicy::fast(),
        ..HttpConfig::for_local_mocks()
    }
}

fn config(mock: &MockHandle) -> XapiConfig {
    let o = mock.options();
    let mut c = XapiConfig::new(&mock.endpoint(), &o.username, &o.password);
    c.requests_per_minute = Some(60_000);
    c
}

async fn mock(learners: usize) -> MockHandle {
    MockLrs::start(MockOptions {
        learners,
        ..MockOptions::default()
    })
    .await
}

async fn drain(x: &Xapi, cursor: Option<String>) -> (Vec<RawRecord>, Option<String>, usize) {
    let d = hrhub_connector::read_to_end(x, "statements", cursor, 10_000)
        .await
        .unwrap();
    (d.records, d.cursor, d.pages)
}

fn ids(records: &[RawRecord]) -> Vec<String> {
    records.iter().map(|r| r.external_id.clone()).collect()
}

const KEPT: [&str; 4] = ["completed", "passed", "failed", "scored"];

fn verb_name(s: &Value) -> &str {
    s.pointer("/verb/id")
        .and_then(Value::as_str)
        .and_then(|v| v.rsplit('/').next())
        .unwrap_or("")
}

/// What a full read should yield: kept, visible statements, and one delete
/// per voiding statement.
fn expected(mock: &MockHandle) -> (HashSet<String>, usize) {
    let voided: HashSet<String> = mock.voided_ids().into_iter().collect();
    let all = mock.all_statements();
    let kept = all
        .iter()
        .filter(|s| KEPT.contains(&verb_name(s)))
        .filter_map(|s| s["id"].as_str().map(str::to_string))
        .filter(|id| !voided.contains(id))
        .collect();
    let voids = all.iter().filter(|s| verb_name(s) == "voided").count();
    (kept, voids)
}

#[tokio::test]
async fn pages_through_more_links_with_the_version_header() {
    let mock = mock(40).await;
    let mut cfg = config(&mock);
    cfg.page_size = Some(50);
    let x = Xapi::new(cfg, http()).unwrap();
    let (records, cursor, pages) = drain(&x, None).await;
    let (kept, voids) = expected(&mock);
    let upserts: HashSet<String> = records
        .iter()
        .filter(|r| r.op == RecordOp::Upsert)
        .map(|r| r.external_id.clone())
        .collect();
    assert_eq!(upserts, kept);
    assert_eq!(records.len(), kept.len() + voids);
    assert!(pages > 5, "{pages}");
    for r in records.iter().filter(|r| r.op == RecordOp::Upsert) {
        assert_eq!(r.payload["id"], r.external_id.as_str());
        assert!(KEPT.contains(&verb_name(&r.payload)));
    }
    let end: StatementsCursor = serde_json::from_str(cursor.as_deref().unwrap()).unwrap();
    assert!(end.since.is_some() && end.more.is_none());

    let log = mock.requests();
    assert_eq!(log.len(), pages);
    assert!(log.iter().all(|r| r.version.as_deref() == Some("1.0.3")));
    assert!(log.iter().all(|r| r.status == 200));
    assert_eq!(log[0].path, "/xapi/statements");
    assert_eq!(log[0].param("ascending").as_deref(), Some("true"));
    assert_eq!(log[0].param("limit").as_deref(), Some("50"));
    assert_eq!(
        log[0].param("since"),
        None,
        "no start configured: everything"
    );
    for later in &log[1..] {
        assert!(later.param("more").is_some(), "{later:?}");
        assert_eq!(later.path, "/xapi/statements");
    }
}

#[tokio::test]
async fn the_server_caps_the_page_and_more_links_still_cover_everything() {
    let mock = mock(25).await;
    let x = Xapi::new(config(&mock), http()).unwrap(); // asks 500, the LRS gives 100
    let (records, _, pages) = drain(&x, None).await;
    let (kept, voids) = expected(&mock);
    assert_eq!(records.len(), kept.len() + voids);
    assert_eq!(pages, mock.visible_count().div_ceil(100));
}

#[tokio::test]
async fn resumes_from_a_mid_scan_cursor_without_repeats() {
    let mock = mock(40).await;
    let mut cfg = config(&mock);
    cfg.page_size = Some(60);
    let x = Xapi::new(cfg.clone(), http()).unwrap();
    let first = x.read_page("statements", None).await.unwrap();
    assert!(!first.done);
    let mid: StatementsCursor = serde_json::from_str(first.cursor.as_deref().unwrap()).unwrap();
    assert!(mid
        .more
        .as_deref()
        .unwrap()
        .starts_with("/xapi/statements?more="));
    assert!(mid.max_stored.is_some() && mid.consistent_through.is_some());
    let fresh = Xapi::new(cfg, http()).unwrap();
    let (rest, _, _) = drain(&fresh, first.cursor.clone()).await;
    let a: HashSet<String> = ids(&first.records).into_iter().collect();
    let b: HashSet<String> = ids(&rest).into_iter().collect();
    assert!(a.is_disjoint(&b));
    let (kept, voids) = expected(&mock);
    assert_eq!(first.records.len() + rest.len(), kept.len() + voids);
}

#[tokio::test]
async fn a_later_sync_reads_only_new_statements() {
    let mock = mock(30).await;
    let x = Xapi::new(config(&mock), http()).unwrap();
    let (_, watermark, _) = drain(&x, None).await;
    let (again, same, _) = drain(&x, watermark.clone()).await;
    assert!(again.is_empty(), "{}", again.len());
    assert_eq!(same, watermark);

    mock.advance(60);
    let company = hrhub_connector::synthetic::Company::generate(mock.options().seed, 30);
    let new = mock.add_exam_attempt(&company, 3, 0, 88);
    mock.clear_requests();
    let (records, next, _) = drain(&x, watermark.clone()).await;
    assert_eq!(ids(&records), vec![new.clone()]);
    assert_eq!(records[0].payload["_score_100"], 88.0);
    let since = mock.requests()[0].param("since").unwrap();
    let before: StatementsCursor = serde_json::from_str(watermark.as_deref().unwrap()).unwrap();
    assert_eq!(
        Some(since),
        before.since,
        "the query starts at the watermark"
    );
    assert_ne!(next, watermark);
}

#[tokio::test]
async fn voiding_deletes_the_statement_it_voids() {
    let mock = mock(20).await;
    let x = Xapi::new(config(&mock), http()).unwrap();
    let (records, watermark, _) = drain(&x, None).await;
    // the generated voids come as deletes of their targets
    let deletes: Vec<&RawRecord> = records
        .iter()
        .filter(|r| r.op == RecordOp::Delete)
        .collect();
    assert!(!deletes.is_empty());
    for d in &deletes {
        assert!(mock.voided_ids().contains(&d.external_id));
        assert_eq!(d.payload["_voids"], d.external_id.as_str());
        assert!(!records
            .iter()
            .any(|r| r.op == RecordOp::Upsert && r.external_id == d.external_id));
    }

    // an administrator voids a statement the hub already holds
    let target = records
        .iter()
        .find(|r| r.op == RecordOp::Upsert && r.payload["_verb"] == "passed")
        .unwrap()
        .external_id
        .clone();
    mock.advance(5);
    mock.void(&target);
    let (next, _, _) = drain(&x, watermark).await;
    assert_eq!(next.len(), 1);
    assert_eq!(next[0].op, RecordOp::Delete);
    assert_eq!(next[0].external_id, target);
}

#[tokio::test]
async fn the_watermark_stays_behind_consistent_through() {
    let mock = mock(20).await;
    mock.set_consistency_lag(600);
    let x = Xapi::new(config(&mock), http()).unwrap();
    let (_, watermark, _) = drain(&x, None).await;
    let w: StatementsCursor = serde_json::from_str(watermark.as_deref().unwrap()).unwrap();
    let since = chrono::DateTime::parse_from_rfc3339(w.since.as_deref().unwrap()).unwrap();
    assert!(since.timestamp() <= mock.now() - 599, "{since}");

    // stored five minutes ago, visible only now: the next sync still sees it
    let late = mock.add_statement_stored_ago(
        json!({"actor": {"mbox": "mailto:late@acme.example"},
               "verb": {"id": "http://adlnet.gov/expapi/verbs/completed"},
               "object": {"id": "https://content.acme.example/courses/fire-safety-2024"},
               "timestamp": "2024-05-02T09:00:00Z"}),
        300,
    );
    let (records, _, _) = drain(&x, watermark).await;
    assert!(ids(&records).contains(&late));
}

#[tokio::test]
async fn an_expired_more_link_restarts_the_scan() {
    let mock = mock(30).await;
    let mut cfg = config(&mock);
    cfg.page_size = Some(80);
    let x = Xapi::new(cfg, http()).unwrap();
    let first = x.read_page("statements", None).await.unwrap();
    mock.expire_more_links();
    mock.clear_requests();
    let (rest, _, _) = drain(&x, first.cursor).await;
    let log = mock.requests();
    assert_eq!(log[0].status, 400, "the stale link");
    assert!(
        log[1].param("more").is_none(),
        "then the scan's first query again"
    );
    let (kept, voids) = expected(&mock);
    assert_eq!(
        rest.len(),
        kept.len() + voids,
        "the restart reads everything again"
    );
}

#[tokio::test]
async fn scores_normalize_from_each_emitter_style() {
    let mock = mock(40).await;
    let x = Xapi::new(config(&mock), http()).unwrap();
    let (records, _, _) = drain(&x, None).await;
    let (mut scaled, mut raw_only, mut no_score) = (0, 0, 0);
    for r in records.iter().filter(|r| r.op == RecordOp::Upsert) {
        let score = &r.payload["result"]["score"];
        let got = r.payload["_score_100"].as_f64();
        match (
            score["scaled"].as_f64(),
            score["raw"].as_f64(),
            score["max"].as_f64(),
        ) {
            (Some(s), _, _) => {
                scaled += 1;
                assert!((got.unwrap() - s * 100.0).abs() < 0.006, "{}", r.payload);
            }
            (None, Some(raw), Some(max)) => {
                raw_only += 1;
                let min = score["min"].as_f64().unwrap_or(0.0);
                assert!((got.unwrap() - (raw - min) / (max - min) * 100.0).abs() < 0.006);
                let native = r.payload["_score_native"].as_str().unwrap();
                let (n, d) = native.split_once('/').unwrap();
                assert_eq!(
                    (n.parse::<f64>().unwrap(), d.parse::<f64>().unwrap()),
                    (raw, max)
                );
            }
            _ => {
                no_score += 1;
                assert_eq!(got, None);
            }
        }
        match r.payload["_verb"].as_str().unwrap() {
            "passed" => assert_eq!(r.payload["_passed"], true),
            "failed" => assert_eq!(r.payload["_passed"], false),
            _ => {}
        }
        assert!(r.payload["_completed_at"].as_str().unwrap().ends_with('Z'));
        assert!(r.payload["_actor"].is_string());
    }
    assert!(
        scaled > 0 && raw_only > 0 && no_score > 0,
        "{scaled} {raw_only} {no_score}"
    );
}

#[tokio::test]
async fn identity_fields_come_from_mbox_and_account() {
    let mock = mock(40).await;
    let x = Xapi::new(config(&mock), http()).unwrap();
    let (records, _, _) = drain(&x, None).await;
    let upserts: Vec<&RawRecord> = records
        .iter()
        .filter(|r| r.op == RecordOp::Upsert)
        .collect();
    let by_mail = upserts
        .iter()
        .find(|r| r.payload["actor"]["mbox"].is_string())
        .unwrap();
    assert_eq!(
        format!("mailto:{}", by_mail.payload["_email"].as_str().unwrap()),
        by_mail.payload["actor"]["mbox"].as_str().unwrap()
    );
    let by_account = upserts
        .iter()
        .find(|r| r.payload["actor"]["account"].is_object())
        .unwrap();
    assert_eq!(
        by_account.payload["_account"],
        by_account.payload["actor"]["account"]["name"]
    );
    assert_eq!(by_account.payload["_email"], Value::Null);
    assert!(upserts.iter().any(|r| r.payload["_actor"]
        .as_str()
        .unwrap()
        .starts_with("mbox_sha1sum:")));
}

#[tokio::test]
async fn configured_start_and_verbs_narrow_the_read() {
    let mock = mock(30).await;
    let mut cfg = config(&mock);
    let start = chrono::DateTime::from_timestamp(mock.now() - 30 * 86_400, 0).unwrap();
    cfg.since = Some(start.to_rfc3339());
    cfg.verbs = Some(vec!["passed".into(), "failed".into()]);
    cfg.version = Some("1.0.1".into());
    let x = Xapi::new(cfg, http()).unwrap();
    let (records, _, _) = drain(&x, None).await;
    assert!(!records.is_empty());
    for r in records.iter().filter(|r| r.op == RecordOp::Upsert) {
        assert!(matches!(
            r.payload["_verb"].as_str(),
            Some("passed" | "failed")
        ));
        let stored =
            chrono::DateTime::parse_from_rfc3339(r.payload["stored"].as_str().unwrap()).unwrap();
        assert!(stored > start);
    }
    let first = &mock.requests()[0];
    assert!(first
        .param("since")
        .unwrap()
        .starts_with(&start.format("%Y-%m-%dT%H:%M:%S").to_string()));
    assert_eq!(first.version.as_deref(), Some("1.0.1"));
}

#[tokio::test]
async fn a_401_is_auth_after_one_request() {
    let mock = mock(5).await;
    let mut cfg = config(&mock);
    cfg.password = "wrong".into();
    let x = Xapi::new(cfg, http()).unwrap();
    let err = x.read_page("statements", None).await.unwrap_err();
    match &err {
        ConnectorError::Auth(msg) => {
            assert!(msg.contains("username"), "{msg}");
            assert!(!msg.contains("wrong"));
        }
        other => panic!("expected Auth, got {other}"),
    }
    assert_eq!(mock.request_count(), 1);
}

#[tokio::test]
async fn survives_5xx_and_429() {
    let mock = mock(5).await;
    let x = Xapi::new(config(&mock), http()).unwrap();
    mock.fail_next(2, 502);
    x.read_page("statements", None).await.unwrap();
    mock.clear_requests();
    mock.throttle_next(1, 1);
    x.read_page("statements", None).await.unwrap();
    let log = mock.requests();
    assert_eq!(
        log.iter().map(|r| r.status).collect::<Vec<_>>(),
        vec![429, 200]
    );
    assert!(log[1].at.duration_since(log[0].at) >= Duration::from_secs(1));
}

#[tokio::test]
async fn check_reads_about_and_one_statement() {
    let mock = mock(5).await;
    let x = Xapi::new(config(&mock), http()).unwrap();
    let report = x.check().await.unwrap().details.join("\n");
    assert!(report.contains("1.0.3"), "{report}");
    assert!(report.contains("consistent through"), "{report}");
    let log = mock.requests();
    assert_eq!(log[0].path, "/xapi/about");
    assert_eq!(log[1].param("limit").as_deref(), Some("1"));

    let mut cfg = config(&mock);
    cfg.version = Some("2.0.0".into());
    let err = Xapi::new(cfg, http()).unwrap().check().await.unwrap_err();
    assert!(
        matches!(err, ConnectorError::Config(ref m) if m.contains("2.0.0")),
        "{err}"
    );
}

#[tokio::test]
async fn unknown_streams_and_cursors_are_config_errors() {
    let mock = mock(2).await;
    let x = Xapi::new(config(&mock), http()).unwrap();
    assert_eq!(x.kind(), "xapi");
    assert_eq!(x.streams(), vec!["statements"]);
    let err = x.read_page("activities", None).await.unwrap_err();
    assert!(matches!(err, ConnectorError::Config(_)), "{err}");
    let err = x
        .read_page("statements", Some("{\"since\": \"soon\"}"))
        .await
        .unwrap_err();
    assert!(matches!(err, ConnectorError::Config(_)), "{err}");
}
