//! The connector against the mock, over real HTTP.

use chrono::{Duration as Days, NaiveDate};
use hrhub_connector::retry::RetryPolicy;
use hrhub_connector::{ConnectorError, HttpConfig, Source};
use hrhub_dingtalk::mock::{Throttle, TokenErrorShape};
use hrhub_dingtalk::{
    AttendanceCursor, DingTalk, DingTalkConfig, Generation, MockDingTalk, MockHandle, MockOptions,
    UsersCursor,
};
use hrhub_model::RawRecord;
use serde_json::Value;
use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

fn http() -> HttpConfig {
    HttpConfig {
        timeout: Duration::from_secs(20),
        retry: RetryPolicy::fast(),
        ..HttpConfig::for_local_mocks()
    }
}

/// Budget high enough not to slow the tests (the mock's QPS limit is off
/// unless a test sets one).
fn config(mock: &MockHandle) -> DingTalkConfig {
    let o = mock.options();
    let mut c = DingTalkConfig::new(&mock.base_url(), &o.app_key, &o.app_secret);
    c.requests_per_second = Some(2_000);
    c.start_date = Some(mock.today() - Days::days(20));
    c
}

async fn mock_with(options: MockOptions) -> MockHandle {
    MockDingTalk::start(MockOptions {
        qps_limit: None,
        ..options
    })
    .await
}

async fn mock() -> MockHandle {
    mock_with(MockOptions::default()).await
}

async fn drain(
    dt: &DingTalk,
    stream: &str,
    cursor: Option<String>,
) -> (Vec<RawRecord>, Option<String>, usize) {
    let d = hrhub_connector::read_to_end(dt, stream, cursor, 10_000)
        .await
        .unwrap();
    (d.records, d.cursor, d.pages)
}

fn ids(records: &[RawRecord]) -> HashSet<String> {
    records.iter().map(|r| r.external_id.clone()).collect()
}

fn token_calls(mock: &MockHandle, generation: Generation) -> usize {
    match generation {
        Generation::Old => mock.calls_to("/gettoken"),
        Generation::New => mock.calls_to("/v1.0/oauth2/accessToken"),
    }
}

fn date_of(body: &Value, key: &str) -> NaiveDate {
    NaiveDate::parse_from_str(&body[key].as_str().unwrap()[..10], "%Y-%m-%d").unwrap()
}

#[tokio::test]
async fn departments_are_walked_breadth_first_with_paths() {
    let mock = mock().await;
    let dt = DingTalk::new(config(&mock), http()).unwrap();
    let (records, cursor, _) = drain(&dt, "departments", None).await;
    assert_eq!(cursor, None, "a completed scan starts over next time");
    let got: Vec<String> = records.iter().map(|r| r.external_id.clone()).collect();
    let want: Vec<String> = mock.department_ids().iter().map(i64::to_string).collect();
    assert_eq!(got.len(), want.len());
    assert_eq!(got[0], "1", "root first");
    // breadth-first: every department comes after its parent, levels in order
    let depth = |r: &RawRecord| r.payload["_path"].as_str().unwrap().matches('/').count();
    assert!(records.windows(2).all(|w| depth(&w[0]) <= depth(&w[1])));
    let tier1 = records
        .iter()
        .find(|r| r.external_id == "37000101")
        .unwrap();
    assert_eq!(tier1.payload["_path"], "Acme 科技/客服中心/一线客服");
    assert_eq!(tier1.payload["parent_id"], 37_000_100);
    assert!(records[0].payload.get("parent_id").is_none());
    // department/get's extra fields are not kept (fetch and poll land the same)
    assert!(records[0].payload.get("order").is_none());
    assert_eq!(mock.calls_to("/topapi/v2/department/listsub"), want.len());
    assert_eq!(mock.calls_to("/topapi/v2/department/get"), 1);
}

#[tokio::test]
async fn users_page_through_departments_once_each_with_leavers() {
    let mock = mock().await;
    let mut cfg = config(&mock);
    cfg.user_page_size = Some(4);
    let dt = DingTalk::new(cfg, http()).unwrap();
    let (records, cursor, pages) = drain(&dt, "users", None).await;
    assert!(pages >= 1);
    let users: Vec<&RawRecord> = records
        .iter()
        .filter(|r| r.payload.get("_left").is_none())
        .collect();
    let leavers: Vec<&RawRecord> = records
        .iter()
        .filter(|r| r.payload["_left"] == true)
        .collect();
    // every employee exactly once, even those listed in two departments
    assert_eq!(users.len(), mock.user_ids().len());
    assert_eq!(
        users
            .iter()
            .map(|r| r.external_id.clone())
            .collect::<HashSet<_>>(),
        mock.user_ids().into_iter().collect()
    );
    assert_eq!(
        leavers
            .iter()
            .map(|r| r.external_id.clone())
            .collect::<HashSet<_>>(),
        mock.leaver_ids().into_iter().collect()
    );
    let multi = mock.multi_department_users();
    assert!(!multi.is_empty());
    for id in &multi {
        let u = users.iter().find(|r| &r.external_id == id).unwrap();
        assert_eq!(u.payload["dept_id_list"].as_array().unwrap().len(), 2);
        assert_eq!(u.payload["_dept_id"], u.payload["dept_id_list"][0]);
    }
    let first = users.iter().find(|r| r.external_id == "01260002").unwrap();
    assert_eq!(first.payload["job_number"], "00002");
    assert_eq!(first.payload["_department"], "一线客服");
    assert_eq!(
        first.payload["_department_path"],
        "Acme 科技/客服中心/一线客服"
    );
    assert!(first.payload["_hired_date"].as_str().unwrap().len() == 10);
    assert!(first.payload.get("dept_order").is_none());
    // cursor paging inside departments happened
    let log = mock.requests();
    let lists: Vec<_> = log
        .iter()
        .filter(|r| r.path == "/topapi/v2/user/list")
        .collect();
    assert!(lists.iter().all(|r| r.body["size"] == 4));
    assert!(lists.iter().any(|r| r.body["cursor"].as_i64().unwrap() > 0));
    // between scans: idle, with the leave-records watermark
    let cursor: UsersCursor = serde_json::from_str(cursor.as_deref().unwrap()).unwrap();
    assert!(matches!(cursor, UsersCursor::Idle { .. }), "{cursor:?}");
}

#[tokio::test]
async fn attendance_reads_windows_batches_and_pages() {
    let mock = mock_with(MockOptions {
        users: 120,
        history_days: 25,
        ..MockOptions::default()
    })
    .await;
    let today = mock.today();
    let start = today - Days::days(20);
    let dt = DingTalk::new(config(&mock), http()).unwrap();
    let (records, cursor, pages) = drain(&dt, "attendance", None).await;
    assert!(pages > 1);
    let want: HashSet<String> = mock
        .attendance_ids(start, today)
        .iter()
        .map(i64::to_string)
        .collect();
    assert_eq!(records.len(), want.len(), "each row once");
    assert_eq!(ids(&records), want);
    let log = mock.requests();
    let calls: Vec<_> = log
        .iter()
        .filter(|r| r.path == "/attendance/list")
        .collect();
    assert!(calls.iter().all(|c| c.errcode == Some(0)));
    for c in &calls {
        assert!(c.body["userIdList"].as_array().unwrap().len() <= 50);
        assert_eq!(c.body["limit"], 50);
        assert_eq!(c.body["isI18n"], false);
        let (from, to) = (
            date_of(&c.body, "workDateFrom"),
            date_of(&c.body, "workDateTo"),
        );
        assert!((to - from).num_days() <= 6 && from >= start && to <= today);
    }
    assert!(
        calls.iter().any(|c| c.body["offset"].as_i64().unwrap() > 0),
        "hasMore paging"
    );
    assert!(calls
        .iter()
        .any(|c| c.body["userIdList"].as_array().unwrap().len() == 50));
    // three batches of the 120 users per window
    let batches: HashSet<String> = calls
        .iter()
        .map(|c| c.body["userIdList"][0].to_string())
        .collect();
    assert_eq!(batches.len(), 3);
    // normalized fields
    let r = &records[0];
    assert!(r.payload["_work_date"].as_str().unwrap().len() == 10);
    assert!(r.payload["_scheduled_at"]
        .as_str()
        .unwrap()
        .ends_with("+08:00"));
    for r in &records {
        let signed = r.payload["timeResult"] != "NotSigned";
        assert_eq!(
            r.payload["_checked_at"].is_string(),
            signed,
            "{}",
            r.payload
        );
    }
    // caught up: the cursor goes back to the lookback window
    let cursor: AttendanceCursor = serde_json::from_str(cursor.as_deref().unwrap()).unwrap();
    assert_eq!(cursor.from, today - Days::days(2));
    assert_eq!(cursor.after, None);
}

#[tokio::test]
async fn attendance_resumes_from_a_saved_cursor_without_repeats() {
    let mock = mock_with(MockOptions {
        users: 120,
        history_days: 25,
        ..MockOptions::default()
    })
    .await;
    let cfg = config(&mock);
    let first = DingTalk::new(cfg.clone(), http())
        .unwrap()
        .read_page("attendance", None)
        .await
        .unwrap();
    assert!(!first.done);
    assert!(!first.records.is_empty());
    // a new process resumes from the committed cursor
    let dt = DingTalk::new(cfg, http()).unwrap();
    let (rest, _, _) = drain(&dt, "attendance", first.cursor.clone()).await;
    let (a, b) = (ids(&first.records), ids(&rest));
    assert!(a.is_disjoint(&b));
    let today = mock.today();
    assert_eq!(
        a.len() + b.len(),
        mock.attendance_ids(today - Days::days(20), today).len()
    );
}

#[tokio::test]
async fn the_lookback_rereads_late_results() {
    let mock = mock().await;
    // four days: the last work day's pending results are inside it even on a Monday
    let mut cfg = config(&mock);
    cfg.attendance_lookback_days = Some(4);
    let dt = DingTalk::new(cfg, http()).unwrap();
    let (_, cursor, _) = drain(&dt, "attendance", None).await;
    let today = mock.today();
    // DingTalk writes missed punches and corrections late
    let pending = mock.release_pending();
    let yesterday = today - Days::days(1);
    let user = mock.user_ids()[3].clone();
    let changed = mock.write_late_result(&user, yesterday, "OnDuty", "Late");
    let old = mock.write_late_result(&user, today - Days::days(12), "OnDuty", "Absenteeism");
    let (again, _, _) = drain(&dt, "attendance", cursor).await;
    let got = ids(&again);
    assert!(!pending.is_empty());
    for id in &pending {
        assert!(got.contains(&id.to_string()), "pending result {id} re-read");
    }
    assert!(got.contains(&changed.to_string()));
    let row = again
        .iter()
        .find(|r| r.external_id == changed.to_string())
        .unwrap();
    assert_eq!(row.payload["timeResult"], "Late");
    // older than the lookback: left for a full refresh (documented)
    assert!(!got.contains(&old.to_string()));
    let calls = mock.requests();
    let windows: Vec<NaiveDate> = calls
        .iter()
        .filter(|r| r.path == "/attendance/list")
        .map(|r| date_of(&r.body, "workDateFrom"))
        .collect();
    assert_eq!(*windows.last().unwrap(), today - Days::days(4));
}

#[tokio::test]
async fn an_expired_token_is_refreshed_once() {
    let mock = mock().await;
    let dt = DingTalk::new(config(&mock), http()).unwrap();
    drain(&dt, "departments", None).await;
    assert_eq!(
        token_calls(&mock, Generation::Old),
        1,
        "one token for many calls"
    );
    mock.advance(7_300);
    drain(&dt, "departments", None).await;
    assert_eq!(token_calls(&mock, Generation::Old), 2);
    let refused: Vec<_> = mock
        .requests()
        .into_iter()
        .filter(|r| r.errcode == Some(88))
        .collect();
    assert_eq!(refused.len(), 1, "one call saw the expired token");
}

#[tokio::test]
async fn each_token_error_shape_leads_to_one_refresh() {
    for shape in [
        TokenErrorShape::Classic,
        TokenErrorShape::Topapi,
        TokenErrorShape::V1,
    ] {
        let mock = mock().await;
        mock.set_token_error_shape(Some(shape));
        let dt = DingTalk::new(config(&mock), http()).unwrap();
        dt.read_page("departments", None).await.unwrap();
        mock.invalidate_tokens();
        let page = dt.read_page("departments", None).await.unwrap();
        assert_eq!(page.records.len(), 12, "{shape:?}");
        assert_eq!(
            token_calls(&mock, Generation::Old),
            2,
            "{shape:?}: exactly one refresh"
        );
        let failed = mock
            .requests()
            .iter()
            .filter(|r| r.status == 400 || r.errcode.is_some_and(|c| c != 0))
            .count();
        assert_eq!(failed, 1, "{shape:?}");
    }
}

#[tokio::test]
async fn the_new_generation_token_is_refreshed_on_invalid_authentication() {
    let mock = mock().await;
    let dt = DingTalk::new(config(&mock), http()).unwrap();
    drain(&dt, "users", None).await;
    assert_eq!(token_calls(&mock, Generation::New), 1);
    assert_eq!(token_calls(&mock, Generation::Old), 1);
    let leave_calls = mock
        .requests()
        .into_iter()
        .filter(|r| r.path == "/v1.0/contact/empLeaveRecords")
        .collect::<Vec<_>>();
    assert!(!leave_calls.is_empty());
    assert!(
        leave_calls[0].param("access_token").is_none(),
        "v1.0 takes the token in a header"
    );
    assert_eq!(leave_calls[0].param("maxResults").as_deref(), Some("50"));
    mock.invalidate_tokens();
    mock.clear_requests();
    drain(&dt, "users", None).await;
    assert_eq!(token_calls(&mock, Generation::New), 1, "one refresh");
    assert_eq!(token_calls(&mock, Generation::Old), 1, "one refresh");
    assert_eq!(
        mock.requests().iter().filter(|r| r.status == 400).count(),
        1
    );
}

#[tokio::test]
async fn refused_tokens_end_in_auth_after_one_refresh() {
    let mock = mock().await;
    let dt = DingTalk::new(config(&mock), http()).unwrap();
    mock.reject_tokens(true);
    let err = dt.read_page("departments", None).await.unwrap_err();
    assert!(matches!(err, ConnectorError::Auth(_)), "{err}");
    assert!(err.to_string().contains("freshly fetched"), "{err}");
    assert_eq!(
        token_calls(&mock, Generation::Old),
        2,
        "initial + one refresh"
    );

    // wrong secret: the token endpoint refuses, no retry loop
    let mut cfg = config(&mock);
    cfg.app_secret = "wrong".into();
    mock.reject_tokens(false);
    mock.clear_requests();
    let dt = DingTalk::new(cfg, http()).unwrap();
    let err = dt.check().await.unwrap_err();
    assert!(matches!(err, ConnectorError::Auth(_)), "{err}");
    assert!(err.to_string().contains("app_secret"), "{err}");
    assert!(
        !err.to_string().contains("wrong"),
        "the secret is never shown: {err}"
    );
    assert_eq!(token_calls(&mock, Generation::Old), 1);
}

#[tokio::test]
async fn tokens_are_refreshed_ahead_of_expiry_and_single_flight() {
    let mock = mock().await;
    mock.set_token_expires_in(4);
    let dt = Arc::new(DingTalk::new(config(&mock), http()).unwrap());
    let ids = mock.user_ids();
    // eight concurrent callers of a cold cache, one token fetch
    let tokens: Vec<_> = (0..8)
        .map(|_| {
            let dt = dt.clone();
            tokio::spawn(async move { dt.access_token(Generation::Old).await.unwrap() })
        })
        .collect();
    let mut seen = HashSet::new();
    for t in tokens {
        seen.insert(t.await.unwrap());
    }
    assert_eq!(seen.len(), 1);
    assert_eq!(token_calls(&mock, Generation::Old), 1);
    let calls: Vec<_> = (0..8)
        .map(|i| {
            let dt = dt.clone();
            let id = ids[i].clone();
            tokio::spawn(async move { dt.fetch("users", &[id]).await.unwrap() })
        })
        .collect();
    for c in calls {
        assert_eq!(c.await.unwrap().len(), 1);
    }
    assert_eq!(token_calls(&mock, Generation::Old), 1);
    // refreshed before it runs out (half of a 4 s lifetime), not after a refusal
    tokio::time::sleep(Duration::from_millis(2_100)).await;
    dt.fetch("users", &[ids[0].clone()]).await.unwrap();
    assert_eq!(token_calls(&mock, Generation::Old), 2);
    assert!(mock
        .requests()
        .iter()
        .all(|r| r.errcode.is_none_or(|c| c == 0)));
}

#[tokio::test]
async fn throttling_is_survived() {
    let mock = mock_with(MockOptions {
        qps_limit: Some(4),
        ..MockOptions::default()
    })
    .await;
    mock.set_qps_limit(Some(4));
    let dt = DingTalk::new(config(&mock), http()).unwrap();
    let (records, _, _) = drain(&dt, "departments", None).await;
    assert_eq!(records.len(), 12);
    let throttled = mock
        .requests()
        .iter()
        .filter(|r| r.errcode == Some(90018))
        .count();
    assert!(throttled >= 1, "the QPS limit was hit and survived");

    mock.set_qps_limit(None);
    mock.throttle_next(1, Throttle::GlobalQps);
    mock.clear_requests();
    assert_eq!(drain(&dt, "departments", None).await.0.len(), 12);
    assert_eq!(
        mock.requests()
            .iter()
            .filter(|r| r.errcode == Some(90002))
            .count(),
        1
    );

    mock.throttle_next(2, Throttle::Busy);
    assert_eq!(drain(&dt, "departments", None).await.0.len(), 12);
    mock.fail_next(1, 502);
    assert_eq!(drain(&dt, "departments", None).await.0.len(), 12);
}

#[tokio::test]
async fn the_configured_budget_spaces_calls() {
    let mock = mock().await;
    let mut cfg = config(&mock);
    cfg.requests_per_second = Some(10);
    let dt = DingTalk::new(cfg, http()).unwrap();
    let started = std::time::Instant::now();
    drain(&dt, "departments", None).await;
    // 1 token + 13 calls at 10/s with a burst of 2: over a second
    assert!(
        started.elapsed() >= Duration::from_millis(1_000),
        "{:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn permission_errors_are_final_and_explained() {
    let mock = mock().await;
    let dt = DingTalk::new(config(&mock), http()).unwrap();
    mock.errcode_next(1, 60011);
    let err = dt.read_page("departments", None).await.unwrap_err();
    assert!(matches!(err, ConnectorError::Forbidden(_)), "{err}");
    assert!(err.to_string().contains("permission"), "{err}");
    mock.errcode_next(1, 60020);
    let err = dt.read_page("departments", None).await.unwrap_err();
    assert!(err.to_string().contains("whitelist"), "{err}");
    mock.errcode_next(1, 40035);
    let err = dt.read_page("departments", None).await.unwrap_err();
    assert!(matches!(err, ConnectorError::Protocol { .. }), "{err}");
}

#[tokio::test]
async fn fetched_users_land_like_polled_ones_and_leavers_are_found() {
    let mock = mock().await;
    let dt = DingTalk::new(config(&mock), http()).unwrap();
    let (polled, _, _) = drain(&dt, "users", None).await;
    let polled: HashMap<String, &RawRecord> =
        polled.iter().map(|r| (r.external_id.clone(), r)).collect();
    let multi = mock.multi_department_users();
    let wanted = vec![mock.user_ids()[4].clone(), multi[0].clone()];
    let fetched = dt.fetch("users", &wanted).await.unwrap();
    assert_eq!(fetched.len(), 2);
    for r in &fetched {
        let p = polled[&r.external_id];
        assert_eq!(
            r.payload, p.payload,
            "user/get projects to the user/list shape"
        );
        assert_eq!(r.content_hash(), p.content_hash());
    }
    // a leaver: gone from user/get, found in the leave records
    let leaving = mock.user_ids()[7].clone();
    assert!(mock.remove_user(&leaving));
    let fetched = dt
        .fetch("users", &[leaving.clone(), "nobody".into()])
        .await
        .unwrap();
    assert_eq!(fetched.len(), 1, "unknown ids are skipped");
    assert_eq!(fetched[0].external_id, leaving);
    assert_eq!(fetched[0].payload["_left"], true);
    assert_eq!(fetched[0].payload["userid"], leaving.as_str());
    assert!(fetched[0].payload["name"].is_string());
}

#[tokio::test]
async fn fetched_attendance_and_departments_match_the_poll() {
    let mock = mock().await;
    let dt = DingTalk::new(config(&mock), http()).unwrap();
    let (polled, _, _) = drain(&dt, "attendance", None).await;
    let user = mock.user_ids()[5].clone();
    let day = polled
        .iter()
        .rev()
        .find(|r| r.payload["userId"] == user.as_str())
        .map(|r| r.payload["_work_date"].as_str().unwrap().to_string())
        .unwrap();
    let fetched = dt
        .fetch("attendance", &[format!("{user}:{day}")])
        .await
        .unwrap();
    assert!(!fetched.is_empty());
    let by_id: HashMap<String, &RawRecord> =
        polled.iter().map(|r| (r.external_id.clone(), r)).collect();
    for r in &fetched {
        assert_eq!(r.payload["userId"], user.as_str());
        assert_eq!(r.payload, by_id[&r.external_id].payload);
    }
    assert!(fetched
        .iter()
        .any(|r| r.payload["_work_date"] == day.as_str()));
    let err = dt
        .fetch("attendance", &["u:yesterday".into()])
        .await
        .unwrap_err();
    assert!(matches!(err, ConnectorError::Config(_)));

    let (depts, _, _) = drain(&dt, "departments", None).await;
    let fetched = dt
        .fetch("departments", &["37000102".into(), "99".into()])
        .await
        .unwrap();
    assert_eq!(fetched.len(), 2);
    let polled = depts.iter().find(|r| r.external_id == "37000102").unwrap();
    assert_eq!(fetched[0].payload, polled.payload);
    assert_eq!(
        fetched[1].op,
        hrhub_model::RecordOp::Delete,
        "a removed department"
    );
}

#[tokio::test]
async fn check_reports_both_generations() {
    let mock = mock().await;
    let dt = DingTalk::new(config(&mock), http()).unwrap();
    let report = dt.check().await.unwrap();
    let text = report.details.join("\n");
    assert!(text.contains("Acme 科技"), "{text}");
    assert!(text.contains("v1.0"), "{text}");
    assert_eq!(dt.streams(), ["departments", "users", "attendance"]);
    assert_eq!(dt.kind(), "dingtalk");
    assert!(dt.push().is_none(), "no webhook configured");
    let err = dt.read_page("tickets", None).await.unwrap_err();
    assert!(matches!(err, ConnectorError::Config(_)));
    let err = dt
        .read_page("attendance", Some("garbage"))
        .await
        .unwrap_err();
    assert!(err.to_string().contains("reset"), "{err}");
}

/// Everything the connector reads from the mock maps with the shipped
/// mapping files: nothing would be quarantined.
#[tokio::test]
async fn every_record_maps_with_the_shipped_mappings() {
    use hrhub_mapping::{MapOutcome, Mapping};
    let mock = mock().await;
    let dt = DingTalk::new(config(&mock), http()).unwrap();
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../mappings/dingtalk");
    let mut results: HashMap<String, usize> = HashMap::new();
    for stream in ["departments", "users", "attendance"] {
        let mapping = Mapping::load(&dir.join(format!("{stream}.toml"))).unwrap();
        let (records, _, _) = drain(&dt, stream, None).await;
        assert!(!records.is_empty(), "{stream}");
        for r in &records {
            let mapped = match mapping.apply(&r.payload) {
                Ok(MapOutcome::Mapped(m)) => m,
                other => panic!("{stream} {}: {other:?}", r.external_id),
            };
            assert_eq!(
                mapped.key, r.external_id,
                "{stream}: entity key = record id"
            );
            if stream == "attendance" {
                let result = format!("{:?}", mapped.get("result").unwrap());
                *results.entry(result).or_default() += 1;
            }
            if stream == "users" {
                let status = format!("{:?}", mapped.get("status").unwrap());
                assert_eq!(status.contains("left"), r.payload["_left"] == true);
            }
        }
    }
    for want in ["normal", "late", "early", "absent", "missing", "outside"] {
        assert!(
            results.keys().any(|k| k.contains(want)),
            "{want} in {results:?}"
        );
    }
}

#[tokio::test]
async fn secrets_never_appear_in_errors() {
    let mut cfg = DingTalkConfig::new("http://127.0.0.1:9", "dingkey", "TOPSECRET");
    cfg.api_base_url = Some("http://127.0.0.1:9".into());
    let dt = DingTalk::new(cfg, http()).unwrap();
    let err = dt.check().await.unwrap_err();
    assert!(
        err.is_transient() || matches!(err, ConnectorError::Exhausted { .. }),
        "{err}"
    );
    assert!(!err.to_string().contains("TOPSECRET"), "{err}");
}
