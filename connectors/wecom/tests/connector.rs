//! The connector against the mock, over real HTTP.

use chrono::{Duration as Days, NaiveDate};
use hrhub_connector::retry::RetryPolicy;
use hrhub_connector::{ConnectorError, HttpConfig, Source};
use hrhub_model::RawRecord;
use hrhub_wecom::{
    CheckinCursor, MockHandle, MockOptions, MockWeCom, UsersCursor, WeCom, WeComConfig,
    DAILY_STREAM,
};
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

async fn mock(users: usize) -> MockHandle {
    MockWeCom::start(MockOptions {
        users,
        ..MockOptions::default()
    })
    .await
}

/// App secret + contacts secret, budgets that do not slow tests.
fn config(mock: &MockHandle) -> WeComConfig {
    let o = mock.options();
    let mut c = WeComConfig::new(&mock.base_url(), &o.corp_id, &o.app_secret);
    c.contacts_secret = Some(o.contacts_secret);
    c.employee_no_attr = Some(o.employee_no_attr);
    c.requests_per_minute = Some(60_000);
    c.checkin_requests_per_minute = Some(60_000);
    c.daily_report_requests_per_minute = Some(60_000);
    c.rate_limit_wait_secs = Some(0);
    c
}

fn wecom(c: WeComConfig) -> WeCom {
    WeCom::new(c, http()).unwrap()
}

/// Reads pages until `done`; returns the records, the last cursor and the page count.
async fn drain(
    w: &WeCom,
    stream: &str,
    cursor: Option<String>,
) -> (Vec<RawRecord>, Option<String>, usize) {
    let d = hrhub_connector::read_to_end(w, stream, cursor, 10_000)
        .await
        .unwrap();
    (d.records, d.cursor, d.pages)
}

fn ids(records: &[RawRecord]) -> Vec<String> {
    records.iter().map(|r| r.external_id.clone()).collect()
}

fn unique(records: &[RawRecord]) -> HashSet<String> {
    ids(records).into_iter().collect()
}

/// Every punch the mock serves for all members over `from..=today`, by key.
/// Punches up to `now` only: a read racing a punch time must not flake.
fn expected_punches(mock: &MockHandle, from: NaiveDate, now: i64) -> HashMap<String, Value> {
    let mut out = HashMap::new();
    for id in mock.userids() {
        let mut day = from;
        while day <= mock.today() {
            for p in mock.punches(&id, day) {
                if p["checkin_time"].as_i64().unwrap() <= now {
                    out.insert(hrhub_wecom::checkin_key(&p).unwrap(), p);
                }
            }
            day += Days::days(1);
        }
    }
    out
}

#[tokio::test]
async fn departments_land_with_their_paths() {
    let mock = mock(10).await;
    let w = wecom(config(&mock));
    let (records, cursor, _) = drain(&w, "departments", None).await;
    assert_eq!(records.len(), 7);
    assert!(cursor.is_none(), "a complete scan restarts next time");
    let by_id: HashMap<_, _> = records
        .iter()
        .map(|r| (r.external_id.as_str(), r))
        .collect();
    assert_eq!(by_id["3"].payload["name"], "客服一组");
    assert_eq!(by_id["3"].payload["parentid"], 2);
    assert_eq!(by_id["3"].payload["_path"], "示例科技/客服中心/客服一组");
    assert_eq!(by_id["1"].payload["_path"], "示例科技");
    // The supported endpoints only: never the legacy department/list.
    assert_eq!(mock.count("/cgi-bin/department/list"), 0);
    assert_eq!(mock.count("/cgi-bin/department/simplelist"), 1);
    assert_eq!(mock.count("/cgi-bin/department/get"), 7);
}

#[tokio::test]
async fn users_page_through_list_id_with_full_detail() {
    let mock = mock(250).await;
    let w = wecom(config(&mock));
    let (records, cursor, pages) = drain(&w, "users", None).await;
    assert!(pages >= 3, "{pages} pages");
    assert!(cursor.is_none());
    assert_eq!(unique(&records).len(), 250);
    let first = records
        .iter()
        .find(|r| r.external_id == "zhangwei001")
        .unwrap();
    assert_eq!(first.payload["_employee_no"], "E1001");
    assert_eq!(
        first.payload["email"], "zhangwei001@example.com",
        "the contacts secret sees e-mail"
    );
    assert!(first.payload["_department"].is_string());
    assert!(first.payload["_department_path"]
        .as_str()
        .unwrap()
        .starts_with("示例科技/"));
    assert!(
        first.payload.get("errcode").is_none(),
        "the envelope is not landed"
    );
    // every 13th member has no 工号 attribute
    let no_attr = records
        .iter()
        .find(|r| r.external_id == "lifang013")
        .unwrap();
    assert!(no_attr.payload["_employee_no"].is_null());

    // list_id used the contacts secret and its cursor; pages are resumable.
    let log = mock.requests();
    let list_calls: Vec<_> = log
        .iter()
        .filter(|r| r.path == "/cgi-bin/user/list_id")
        .collect();
    assert_eq!(list_calls.len(), pages);
    assert!(list_calls[0]
        .param("access_token")
        .unwrap()
        .starts_with("ctok"));
    assert!(list_calls[1].body.as_ref().unwrap()["cursor"].is_string());
    let page = w.read_page("users", None).await.unwrap();
    let c: UsersCursor = serde_json::from_str(page.cursor.as_deref().unwrap()).unwrap();
    assert!(c.list_id.is_some());
    let rest = w.read_page("users", page.cursor.as_deref()).await.unwrap();
    assert!(!page.records.is_empty() && !rest.records.is_empty());
    assert!(page.records.len() <= 100);
}

#[tokio::test]
async fn app_secret_alone_hits_the_2022_restrictions() {
    let mock = mock(30).await;
    let mut c = config(&mock);
    c.contacts_secret = None;
    let w = wecom(c.clone());
    // list_id refused (48002, contacts secret only), user/list refused (new IP).
    let err = w.read_page("users", None).await.unwrap_err();
    assert!(matches!(err, ConnectorError::Forbidden(_)), "{err}");
    let text = err.to_string();
    assert!(
        text.contains("contacts_secret") && text.contains("userids"),
        "{text}"
    );
    assert!(mock.count("/cgi-bin/user/list_id") >= 1);
    assert!(mock.count("/cgi-bin/user/list") >= 1);
    // check-ins need the member list too: same clear error.
    let err = w.read_page("checkins", None).await.unwrap_err();
    assert!(err.to_string().contains("contacts_secret"), "{err}");

    // An old IP may still use user/list: the connector falls back to it,
    // one department per page; the app sees no sensitive fields.
    mock.set_legacy_lists_blocked(false);
    let w = wecom(c.clone());
    let (records, _, pages) = drain(&w, "users", None).await;
    assert_eq!(pages, 7, "one page per department");
    assert_eq!(unique(&records).len(), 30);
    let r = records
        .iter()
        .find(|r| r.external_id == "zhangwei001")
        .unwrap();
    assert!(r.payload.get("email").is_none() && r.payload.get("mobile").is_none());
    assert_eq!(
        r.payload["_employee_no"], "E1001",
        "the 工号 still identifies the member"
    );

    // The documented workaround: explicit userids, read with user/get.
    mock.set_legacy_lists_blocked(true);
    mock.clear_requests();
    c.userids = Some(mock.userids());
    let w = wecom(c);
    let (records, cursor, _) = drain(&w, "users", None).await;
    assert_eq!(unique(&records).len(), 30);
    assert!(cursor.is_none());
    assert_eq!(mock.count("/cgi-bin/user/list_id"), 0);
    assert_eq!(mock.count("/cgi-bin/user/get"), 30);
    let (checkins, _, _) = drain(&w, "checkins", None).await;
    assert!(!checkins.is_empty());
}

#[tokio::test]
async fn checkins_read_in_30_day_windows_and_100_user_batches() {
    let mock = mock(250).await;
    let mut c = config(&mock);
    let start = mock.today() - Days::days(44);
    c.start_date = Some(start);
    let w = wecom(c);
    let t0 = chrono::Utc::now().timestamp();
    let (records, cursor, pages) = drain(&w, "checkins", None).await;
    // 45 days → 2 windows; 250 users → 3 batches each.
    assert_eq!(pages, 6);
    let calls: Vec<_> = mock
        .requests()
        .into_iter()
        .filter(|r| r.path == "/cgi-bin/checkin/getcheckindata")
        .collect();
    assert_eq!(calls.len(), 6);
    for call in &calls {
        let body = call.body.as_ref().unwrap();
        let users = body["useridlist"].as_array().unwrap().len();
        assert!(users <= 100 && users > 0, "{users} users");
        let span = body["endtime"].as_i64().unwrap() - body["starttime"].as_i64().unwrap();
        assert!(span <= 30 * 86_400, "span {span}");
        assert_eq!(body["opencheckindatatype"], 3);
        assert!(
            call.param("access_token").unwrap().starts_with("atok"),
            "check-ins use the app secret"
        );
    }
    // Keys are unique and cover exactly what the mock has.
    let expected = expected_punches(&mock, start, t0);
    let until_t0: Vec<RawRecord> = records
        .iter()
        .filter(|r| r.payload["checkin_time"].as_i64().unwrap() <= t0)
        .cloned()
        .collect();
    assert_eq!(until_t0.len(), expected.len());
    assert_eq!(unique(&until_t0), expected.keys().cloned().collect());
    assert_eq!(unique(&records).len(), records.len());
    // The scan ends `lookback` (7) days back from today.
    let c: CheckinCursor = serde_json::from_str(cursor.as_deref().unwrap()).unwrap();
    assert_eq!(c.from, mock.today() - Days::days(7));
    assert!(c.to.is_none() && c.window.is_none() && c.after.is_none());

    // Helper fields.
    let late = records
        .iter()
        .find(|r| {
            r.payload["exception_type"] == "时间异常" && r.payload["checkin_type"] == "上班打卡"
        })
        .unwrap();
    let checked = late.payload["_checked_at"].as_str().unwrap();
    assert!(checked.ends_with("+08:00"), "{checked}");
    assert_eq!(late.payload["_key"], late.external_id.as_str());
    assert!(late.payload["_scheduled_at"]
        .as_str()
        .unwrap()
        .ends_with("T09:00:00+08:00"));
    assert_eq!(
        &late.payload["_work_date"].as_str().unwrap()[..10],
        &checked[..10]
    );
    let missed = records
        .iter()
        .find(|r| {
            r.payload["exception_type"]
                .as_str()
                .unwrap()
                .contains("未打卡")
        })
        .unwrap();
    assert!(
        missed.payload["_checked_at"].is_null(),
        "a missed punch has no time"
    );
    let free = records
        .iter()
        .find(|r| {
            r.payload.get("sch_checkin_time").is_none() && r.payload["checkin_type"] != "外出打卡"
        })
        .unwrap();
    assert!(free.external_id.contains(":t"), "{}", free.external_id);
    assert!(free.payload["_scheduled_at"].is_null());
}

#[tokio::test]
async fn checkins_resume_from_a_saved_cursor() {
    let mock = mock(250).await;
    let mut c = config(&mock);
    c.start_date = Some(mock.today() - Days::days(44));
    let t0 = chrono::Utc::now().timestamp();
    let first = wecom(c.clone()).read_page("checkins", None).await.unwrap();
    assert!(!first.done);
    let saved: CheckinCursor = serde_json::from_str(first.cursor.as_deref().unwrap()).unwrap();
    let mut sorted = mock.userids();
    sorted.sort();
    assert_eq!(
        saved.after.as_deref(),
        Some(sorted[99].as_str()),
        "after the first batch of 100"
    );
    assert!(saved.to.is_some() && saved.window.is_some());
    // A new process resumes from the committed cursor.
    let w = wecom(c);
    let (rest, _, pages) = drain(&w, "checkins", first.cursor.clone()).await;
    assert_eq!(pages, 5);
    let a = unique(&first.records);
    let b = unique(&rest);
    assert!(a.is_disjoint(&b));
    let all: Vec<RawRecord> = first.records.iter().chain(rest.iter()).cloned().collect();
    let until_t0 = all
        .iter()
        .filter(|r| r.payload["checkin_time"].as_i64().unwrap() <= t0)
        .count();
    assert_eq!(
        until_t0,
        expected_punches(&mock, mock.today() - Days::days(44), t0).len()
    );
}

#[tokio::test]
async fn lookback_rereads_late_corrections() {
    let mock = mock(60).await;
    let mut c = config(&mock);
    c.start_date = Some(mock.today() - Days::days(20));
    c.checkin_lookback_days = Some(10);
    let w = wecom(c);
    let (first, cursor, _) = drain(&w, "checkins", None).await;

    // A 补卡 within the lookback window.
    let (userid, day) = mock
        .first_missed(mock.today() - Days::days(9))
        .expect("the mock has a missed punch in the last days");
    let before: Vec<_> = first
        .iter()
        .filter(|r| {
            r.payload["userid"] == userid.as_str()
                && r.payload["_work_date"] == day.to_string().as_str()
        })
        .cloned()
        .collect();
    assert!(before.iter().any(|r| r.payload["exception_type"]
        .as_str()
        .unwrap()
        .contains("未打卡")));
    assert!(mock.correct_day(&userid, day));

    mock.clear_requests();
    let (second, _, _) = drain(&w, "checkins", cursor).await;
    // Only the lookback is re-read.
    let lookback_start = hrhub_wecom::streams::CheckinCursor {
        from: mock.today() - Days::days(10),
        to: None,
        window: None,
        after: None,
    };
    for call in mock
        .requests()
        .iter()
        .filter(|r| r.path == "/cgi-bin/checkin/getcheckindata")
    {
        let start = call.body.as_ref().unwrap()["starttime"].as_i64().unwrap();
        let local = chrono::DateTime::from_timestamp(start + 8 * 3600, 0)
            .unwrap()
            .date_naive();
        assert_eq!(local, lookback_start.from);
    }
    // The corrected punch comes back under the same key, now a real punch.
    for old in before.iter().filter(|r| {
        r.payload["exception_type"]
            .as_str()
            .unwrap()
            .contains("未打卡")
    }) {
        let new = second
            .iter()
            .find(|r| r.external_id == old.external_id)
            .expect("same key");
        assert_eq!(new.payload["exception_type"], "");
        assert!(new.payload["_checked_at"].is_string());
        assert_ne!(new.content_hash(), old.content_hash());
    }
    // Unchanged punches come back identical (landing will drop them).
    let unchanged = second
        .iter()
        .filter(|r| r.payload["userid"] != userid.as_str())
        .find(|r| first.iter().any(|f| f.external_id == r.external_id))
        .unwrap();
    let old = first
        .iter()
        .find(|f| f.external_id == unchanged.external_id)
        .unwrap();
    assert_eq!(old.content_hash(), unchanged.content_hash());
}

#[tokio::test]
async fn expired_token_means_exactly_one_refresh() {
    let mock = mock(10).await;
    let w = wecom(config(&mock));
    drain(&w, "departments", None).await;
    assert_eq!(
        mock.count("/cgi-bin/gettoken"),
        1,
        "one token for the whole scan"
    );
    mock.expire_tokens();
    drain(&w, "departments", None).await;
    assert_eq!(mock.count("/cgi-bin/gettoken"), 2);
    let refused: Vec<_> = mock
        .requests()
        .into_iter()
        .filter(|r| r.errcode == 42001)
        .collect();
    assert_eq!(refused.len(), 1);
    // revoked early (40014): same story
    mock.revoke_tokens();
    drain(&w, "departments", None).await;
    assert_eq!(mock.count("/cgi-bin/gettoken"), 3);
}

#[tokio::test]
async fn tokens_refresh_ahead_of_expiry() {
    let mock = mock(10).await;
    mock.set_token_expires_in(2);
    let w = wecom(config(&mock));
    drain(&w, "departments", None).await;
    tokio::time::sleep(Duration::from_millis(2100)).await;
    drain(&w, "departments", None).await;
    assert!(mock.count("/cgi-bin/gettoken") >= 2);
    assert!(
        mock.requests().iter().all(|r| r.errcode != 42001),
        "refreshed before WeCom refused it"
    );
}

#[tokio::test]
async fn a_refused_fresh_token_is_auth_after_one_refresh() {
    let mock = mock(10).await;
    let w = wecom(config(&mock));
    mock.fail_next(2, 40014);
    let err = w.read_page("departments", None).await.unwrap_err();
    assert!(matches!(err, ConnectorError::Auth(_)), "{err}");
    assert!(err.to_string().contains("freshly issued"), "{err}");
    assert_eq!(
        mock.count("/cgi-bin/gettoken"),
        2,
        "initial token + one refresh"
    );
    assert_eq!(
        mock.count("/cgi-bin/department/simplelist"),
        2,
        "the call + one retry"
    );
    assert!(
        !err.to_string().contains("xxxxxxxx"),
        "no token in messages: {err}"
    );
}

#[tokio::test]
async fn concurrent_callers_share_one_token_refresh() {
    let mock = mock(20).await;
    let w = Arc::new(wecom(config(&mock)));
    let ids = mock.userids();
    let tasks: Vec<_> = (0..8)
        .map(|i| {
            let w = w.clone();
            let id = ids[i].clone();
            tokio::spawn(async move { w.fetch("users", &[id]).await })
        })
        .collect();
    for t in tasks {
        assert_eq!(t.await.unwrap().unwrap().len(), 1);
    }
    // contacts secret: one token; departments map fetched once (cached)
    assert_eq!(mock.count("/cgi-bin/gettoken"), 1);
    mock.revoke_tokens();
    let tasks: Vec<_> = (0..8)
        .map(|i| {
            let w = w.clone();
            let id = ids[i].clone();
            tokio::spawn(async move { w.fetch("users", &[id]).await })
        })
        .collect();
    for t in tasks {
        assert_eq!(t.await.unwrap().unwrap().len(), 1);
    }
    assert_eq!(
        mock.count("/cgi-bin/gettoken"),
        2,
        "eight 40014s, one refresh"
    );
}

#[tokio::test]
async fn rate_limit_and_busy_errcodes_are_retried() {
    let mock = mock(10).await;
    let w = wecom(config(&mock));
    mock.fail_next(3, 45009);
    let (records, _, _) = drain(&w, "departments", None).await;
    assert_eq!(records.len(), 7);
    mock.fail_next(2, 45033);
    assert_eq!(drain(&w, "departments", None).await.0.len(), 7);
    mock.fail_next(2, -1);
    assert_eq!(drain(&w, "departments", None).await.0.len(), 7);
    // -1 is retried at most 3 times in all
    mock.clear_requests();
    mock.fail_next(3, -1);
    let err = w.read_page("departments", None).await.unwrap_err();
    assert!(
        matches!(err, ConnectorError::Exhausted { attempts: 3, .. }),
        "{err}"
    );
    assert_eq!(mock.count("/cgi-bin/department/simplelist"), 3);
}

#[tokio::test]
async fn rate_limit_errcode_is_rate_limited_until_retries_run_out() {
    let mock = mock(10).await;
    let w = wecom(config(&mock));
    mock.fail_next(100, 45009);
    let err = w.read_page("departments", None).await.unwrap_err();
    match err {
        ConnectorError::Exhausted { last, .. } => {
            assert!(
                matches!(*last, ConnectorError::RateLimited { .. }),
                "{last}"
            )
        }
        other => panic!("expected Exhausted(RateLimited), got {other}"),
    }
}

#[tokio::test]
async fn permission_and_credential_errors_say_what_to_fix() {
    let mock = mock(10).await;
    mock.set_app_checkin_permitted(false);
    let w = wecom(config(&mock));
    let err = w.read_page("checkins", None).await.unwrap_err();
    assert!(matches!(err, ConnectorError::Forbidden(_)), "{err}");
    assert!(err.to_string().contains("打卡"), "{err}");

    mock.fail_next(1, 60020);
    let err = w.read_page("departments", None).await.unwrap_err();
    assert!(err.to_string().contains("可信IP"), "{err}");

    let mut c = config(&mock);
    c.secret = "wrong".into();
    let err = wecom(c).read_page("checkins", None).await.unwrap_err();
    assert!(matches!(err, ConnectorError::Auth(_)), "{err}");
    assert!(err.to_string().contains("`secret`"), "{err}");
    assert!(!err.to_string().contains("wrong"), "secret redacted: {err}");

    let mut c = config(&mock);
    c.corp_id = "wwnope".into();
    let err = wecom(c).read_page("departments", None).await.unwrap_err();
    assert!(err.to_string().contains("corp_id"), "{err}");
}

#[tokio::test]
async fn check_reports_tokens_members_and_checkin_access() {
    let mock = mock(12).await;
    let report = wecom(config(&mock)).check().await.unwrap();
    let text = report.details.join("\n");
    assert!(text.contains("12 members"), "{text}");
    assert!(text.contains("user/list_id"), "{text}");
    assert!(text.contains("check-in data readable"), "{text}");
    mock.set_app_checkin_permitted(false);
    assert!(wecom(config(&mock)).check().await.is_err());
}

#[tokio::test]
async fn fetch_users_and_departments_by_id() {
    let mock = mock(10).await;
    let w = wecom(config(&mock));
    let records = w
        .fetch("users", &["zhangwei001".into(), "gone-already".into()])
        .await
        .unwrap();
    assert_eq!(ids(&records), vec!["zhangwei001"]);
    assert_eq!(records[0].payload["_employee_no"], "E1001");
    let depts = w
        .fetch("departments", &["4".into(), "999".into()])
        .await
        .unwrap();
    assert_eq!(ids(&depts), vec!["4"]);
    assert_eq!(depts[0].payload["_path"], "示例科技/客服中心/客服二组");
    assert!(matches!(
        w.fetch("checkins", &["x".into()]).await.unwrap_err(),
        ConnectorError::Config(_)
    ));
    // a member added later is fetched like any other
    let new = mock.add_user("新同事");
    assert_eq!(
        w.fetch("users", std::slice::from_ref(&new)).await.unwrap()[0].external_id,
        new
    );
}

#[tokio::test]
async fn daily_reports_only_when_enabled() {
    let mock = mock(30).await;
    let mut c = config(&mock);
    c.start_date = Some(mock.today() - Days::days(35));
    let w = wecom(c.clone());
    assert_eq!(w.streams(), vec!["departments", "users", "checkins"]);
    assert!(w.read_page(DAILY_STREAM, None).await.is_err());

    c.daily_report = true;
    let w = wecom(c);
    assert_eq!(
        w.streams(),
        vec!["departments", "users", "checkins", DAILY_STREAM]
    );
    let (records, cursor, pages) = drain(&w, DAILY_STREAM, None).await;
    assert_eq!(
        pages, 2,
        "35 days back to yesterday: 2 windows of one batch"
    );
    // one report per member per day, today excluded
    let today = mock.today().to_string();
    assert!(records
        .iter()
        .all(|r| r.payload["_work_date"] != today.as_str()));
    assert_eq!(records.len(), 30 * 35);
    assert_eq!(unique(&records).len(), records.len());
    let r = &records[0];
    assert_eq!(
        r.external_id,
        format!(
            "{}:{}",
            r.payload["base_info"]["acctid"].as_str().unwrap(),
            r.payload["_work_date"].as_str().unwrap()
        )
    );
    assert!(records.iter().any(|r| r.payload["exception_infos"]
        .as_array()
        .unwrap()
        .iter()
        .any(|e| e["exception"] == 4)));
    for call in mock
        .requests()
        .iter()
        .filter(|r| r.path == "/cgi-bin/checkin/getcheckin_daydata")
    {
        let b = call.body.as_ref().unwrap();
        assert_eq!(
            (b["starttime"].as_i64().unwrap() + 8 * 3600) % 86_400,
            0,
            "0点 bounds"
        );
        assert_eq!((b["endtime"].as_i64().unwrap() + 8 * 3600) % 86_400, 0);
    }
    let c: CheckinCursor = serde_json::from_str(cursor.as_deref().unwrap()).unwrap();
    assert_eq!(c.from, mock.today() - Days::days(8), "yesterday − lookback");
}

#[tokio::test]
async fn unknown_stream_and_bad_cursor_are_config_errors() {
    let mock = mock(5).await;
    let w = wecom(config(&mock));
    assert!(matches!(
        w.read_page("tickets", None).await.unwrap_err(),
        ConnectorError::Config(_)
    ));
    let err = w.read_page("checkins", Some("garbage")).await.unwrap_err();
    assert!(
        matches!(err, ConnectorError::Config(_)) && err.to_string().contains("reset"),
        "{err}"
    );
}

#[tokio::test]
async fn push_is_offered_only_with_a_webhook() {
    let mock = mock(5).await;
    assert!(wecom(config(&mock)).push().is_none());
    let mut c = config(&mock);
    let o = mock.options();
    c.webhook = Some(hrhub_wecom::WeComWebhook {
        token: o.callback_token,
        aes_key: o.callback_aes_key,
        corp_id: None,
        max_age_secs: None,
    });
    let w = wecom(c);
    let push = w.push().expect("push receiver");
    let outcome = push.receive(&mock.callback_get("echo-123")).unwrap();
    match outcome {
        hrhub_connector::PushOutcome::Handshake(reply) => assert_eq!(reply.body, b"echo-123"),
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn the_employee_number_attribute_is_configurable() {
    let mock = MockWeCom::start(MockOptions {
        users: 5,
        employee_no_attr: "员工编号".into(),
        ..MockOptions::default()
    })
    .await;
    let mut c = config(&mock);
    c.employee_no_attr = None; // default 工号: this tenant named it differently
    let records = wecom(c.clone())
        .fetch("users", &["zhangwei001".into()])
        .await
        .unwrap();
    assert!(records[0].payload["_employee_no"].is_null());
    c.employee_no_attr = Some("员工编号".into());
    let records = wecom(c)
        .fetch("users", &["zhangwei001".into()])
        .await
        .unwrap();
    assert_eq!(records[0].payload["_employee_no"], "E1001");
}
