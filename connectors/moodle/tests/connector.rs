//! The connector against the mock, over real HTTP.

use hrhub_connector::retry::RetryPolicy;
use hrhub_connector::{ConnectorError, HttpConfig, Source};
use hrhub_model::RawRecord;
use hrhub_moodle::{
    CompletionsCursor, GradesCursor, MockHandle, MockMoodle, MockOptions, Moodle, MoodleConfig,
    MoodleRelease,
};
use serde_json::Value;
use std::collections::{HashMap, HashSet};
use std::time::Duration;

fn http() -> HttpConfig {
    HttpConfig {
        timeout: Duration::from_secs(20),
        retry: RetryPolicy::fast(),
        ..HttpConfig::for_local_mocks()
    }
}

fn config(mock: &MockHandle) -> MoodleConfig {
    let mut c = MoodleConfig::new(&mock.base_url(), &mock.token());
    c.requests_per_minute = Some(60_000);
    c
}

async fn mock(learners: usize) -> MockHandle {
    MockMoodle::start(MockOptions {
        learners,
        ..MockOptions::default()
    })
    .await
}

async fn drain(
    m: &Moodle,
    stream: &str,
    cursor: Option<String>,
) -> (Vec<RawRecord>, Option<String>, usize) {
    let d = hrhub_connector::read_to_end(m, stream, cursor, 10_000)
        .await
        .unwrap();
    (d.records, d.cursor, d.pages)
}

fn ids(records: &[RawRecord]) -> Vec<String> {
    records.iter().map(|r| r.external_id.clone()).collect()
}

#[tokio::test]
async fn users_stream_lists_everyone_with_moodle_encoding() {
    let mock = mock(30).await;
    let m = Moodle::new(config(&mock), http()).unwrap();
    let (records, cursor, pages) = drain(&m, "users", None).await;
    assert_eq!((pages, cursor), (1, None), "one call lists everyone");
    assert_eq!(
        records.len(),
        30 + 3,
        "learners, guest, admin, service user"
    );
    let learner = records.iter().find(|r| r.external_id == "10").unwrap();
    assert_eq!(learner.payload["id"], 10);
    assert!(learner.payload["email"].as_str().unwrap().contains('@'));
    assert!(
        records.iter().any(|r| r.payload.get("idnumber").is_none()),
        "empty idnumbers are left out"
    );

    let calls = mock.calls();
    assert_eq!(calls.len(), 1);
    let call = &calls[0];
    assert_eq!(call.method, "POST");
    assert_eq!(call.function, "core_user_get_users");
    assert_eq!(call.param("criteria[0][key]"), Some("email"));
    assert_eq!(call.param("criteria[0][value]"), Some("%"));
    assert!(!call.token_in_query, "the token travels in the body");
}

#[tokio::test]
async fn completions_page_through_learners_and_resume_without_repeats() {
    let mock = mock(40).await;
    let mut cfg = config(&mock);
    cfg.users_per_page = Some(7);
    let m = Moodle::new(cfg.clone(), http()).unwrap();
    let (all, end, pages) = drain(&m, "course_completions", None).await;
    assert_eq!(pages, 40usize.div_ceil(7));
    assert_eq!(
        all.len(),
        mock.enrolment_count(),
        "every enrolment on a first sync"
    );
    let unique: HashSet<String> = ids(&all).into_iter().collect();
    assert_eq!(unique.len(), all.len());
    let end: CompletionsCursor = serde_json::from_str(end.as_deref().unwrap()).unwrap();
    assert!(end.since.is_some() && end.scan.is_none() && end.after_user.is_none());

    // a new process resumes from the committed cursor of page 2
    let first = m.read_page("course_completions", None).await.unwrap();
    let second = m
        .read_page("course_completions", first.cursor.as_deref())
        .await
        .unwrap();
    assert!(!second.done);
    let fresh = Moodle::new(cfg, http()).unwrap();
    let (rest, _, _) = drain(&fresh, "course_completions", second.cursor.clone()).await;
    let seen: HashSet<String> = ids(&first.records)
        .into_iter()
        .chain(ids(&second.records))
        .collect();
    let rest_ids: HashSet<String> = ids(&rest).into_iter().collect();
    assert!(seen.is_disjoint(&rest_ids));
    assert_eq!(seen.len() + rest_ids.len(), all.len());
}

#[tokio::test]
async fn completion_details_are_fetched_for_completed_enrolments_only() {
    let mock = mock(40).await;
    let m = Moodle::new(config(&mock), http()).unwrap();
    let (records, _, _) = drain(&m, "course_completions", None).await;
    let completed: Vec<&RawRecord> = records
        .iter()
        .filter(|r| r.payload["course"]["completed"] == true)
        .collect();
    assert!(!completed.is_empty());
    assert_eq!(
        mock.count("core_completion_get_course_completion_status"),
        completed.len()
    );
    // learners, the admin and the service user (the guest is skipped)
    assert_eq!(mock.count("core_enrol_get_users_courses"), 40 + 2);
    for r in &completed {
        let criteria = r.payload["completion"]["completions"].as_array().unwrap();
        let latest = criteria
            .iter()
            .filter_map(|c| c["timecompleted"].as_i64())
            .max()
            .unwrap();
        let at = chrono::DateTime::parse_from_rfc3339(r.payload["_completed_at"].as_str().unwrap())
            .unwrap();
        assert_eq!(at.timestamp(), latest, "{}", r.external_id);
    }
    for r in records
        .iter()
        .filter(|r| r.payload["course"]["completed"] == false)
    {
        assert_eq!(r.payload["_completed_at"], Value::Null);
        assert_eq!(r.payload["completion"], Value::Null);
    }
    // identity comes from the user list
    let r = &records[0];
    assert_eq!(r.payload["_email"], r.payload["user"]["email"]);
    assert_eq!(r.payload["userid"], r.payload["user"]["id"]);
}

#[tokio::test]
async fn a_course_without_criteria_is_not_an_error() {
    let mock = mock(30).await;
    let m = Moodle::new(config(&mock), http()).unwrap();
    // PRD-301 (id 5) has completion on and no criteria: nocriteriaset
    let user = mock.complete_course(3, 5, 60);
    let (records, _, _) = drain(&m, "course_completions", None).await;
    let r = records
        .iter()
        .find(|r| r.external_id == format!("{user}:5"))
        .unwrap();
    assert_eq!(r.payload["course"]["completed"], true);
    assert_eq!(r.payload["completion"], Value::Null);
    assert!(mock
        .calls()
        .iter()
        .any(|c| c.errorcode.as_deref() == Some("nocriteriaset")));
}

#[tokio::test]
async fn a_later_sync_rereads_changes_only() {
    let mock = mock(40).await;
    let mut cfg = config(&mock);
    cfg.lookback_days = Some(0);
    let m = Moodle::new(cfg, http()).unwrap();
    let (all, watermark, _) = drain(&m, "course_completions", None).await;
    let (grades, grade_mark, _) = drain(&m, "grades", None).await;
    mock.clear_calls();

    // nothing changed: unfinished enrolments come again (landing drops
    // them), completed ones do not, and no detail call is made
    let (again, next, _) = drain(&m, "course_completions", watermark.clone()).await;
    let unfinished = all
        .iter()
        .filter(|r| r.payload["course"]["completed"] == false)
        .count();
    let newest: usize = again
        .iter()
        .filter(|r| r.payload["course"]["completed"] == true)
        .count();
    assert!(
        newest <= 1,
        "only the newest access sits on the watermark: {newest}"
    );
    assert_eq!(again.len(), unfinished + newest);
    assert_eq!(next, watermark, "no newer activity, same watermark");
    let (grades_again, _, _) = drain(&m, "grades", grade_mark.clone()).await;
    assert!(grades_again.len() <= 1, "{}", grades_again.len());
    assert!(grades.len() > 20);

    // a learner passes SEC-101 now; cron completes the course two minutes later
    mock.advance(3_600);
    let (user, quiz) = mock.take_exam(4, 0, 95, 120);
    mock.advance(180);
    let (changed, _, _) = drain(&m, "course_completions", next).await;
    let done = changed
        .iter()
        .find(|r| r.external_id == format!("{user}:2"))
        .unwrap();
    assert_eq!(done.payload["course"]["completed"], true);
    assert!(done.payload["_completed_at"].is_string());
    let (new_grades, _, _) = drain(&m, "grades", grade_mark).await;
    assert!(
        new_grades.len() <= 2,
        "the new grade and the watermark's own"
    );
    let new = new_grades
        .iter()
        .find(|r| r.external_id == format!("{user}:quiz:{quiz}"))
        .unwrap();
    assert_eq!(new.payload["_score_100"], 95.0);
}

#[tokio::test]
async fn the_lookback_catches_completions_aggregated_after_the_last_access() {
    let mock = mock(30).await;
    let m = Moodle::new(config(&mock), http()).unwrap(); // default lookback: 7 days
    let (_, watermark, _) = drain(&m, "course_completions", None).await;
    mock.advance(86_400);
    // completed now, the learner's last access two days ago (before the watermark)
    let user = mock.complete_course(6, 4, 2 * 86_400);
    let (records, _, _) = drain(&m, "course_completions", watermark).await;
    let r = records
        .iter()
        .find(|r| r.external_id == format!("{user}:4"))
        .unwrap();
    assert_eq!(r.payload["course"]["completed"], true);
    assert!(r.payload["_completed_at"].is_string());
}

#[tokio::test]
async fn grades_are_normalized_with_best_grade_pass_and_attempts() {
    let mock = mock(40).await;
    let mut cfg = config(&mock);
    cfg.users_per_page = Some(100);
    let m = Moodle::new(cfg, http()).unwrap();
    let (records, _, pages) = drain(&m, "grades", None).await;
    assert_eq!(pages, 3, "one page per course with a quiz");
    assert_eq!(records.len(), mock.graded().len());
    let mut passed = 0;
    let mut failed = 0;
    for r in &records {
        let p = &r.payload;
        let grade = p["best_grade"]["grade"].as_f64().unwrap();
        let max = p["gradeitem"]["grademax"].as_f64().unwrap();
        let score = p["_score_100"].as_f64().unwrap();
        assert!((score - grade / max * 100.0).abs() < 0.006, "{p}");
        assert!((0.0..=100.0).contains(&score));
        let pass = p["best_grade"]["gradetopass"].as_f64().unwrap();
        assert_eq!(p["_passed"], grade + 1e-9 >= pass, "{}", r.external_id);
        if p["_passed"] == true {
            passed += 1;
        } else {
            failed += 1;
        }
        let finished = p["attempts"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|a| {
                matches!(
                    a["state"].as_str(),
                    Some("finished" | "abandoned" | "submitted")
                )
            })
            .count();
        assert_eq!(p["_attempts"], finished);
        assert!(p["_attempts"].as_u64().unwrap() >= 1);
        assert!(p["_score_native"]
            .as_str()
            .unwrap()
            .ends_with(&format!("/{max}")));
        assert!(p["_completed_at"].as_str().unwrap().ends_with('Z'));
        assert_eq!(
            r.external_id,
            format!("{}:quiz:{}", p["userid"], p["quizid"])
        );
    }
    assert!(passed > 0 && failed > 0, "{passed} passed, {failed} failed");
    // Moodle 5.0: the successor of the deprecated attempts function
    assert!(mock.count("mod_quiz_get_user_quiz_attempts") > 0);
    assert_eq!(mock.count("mod_quiz_get_user_attempts"), 0);
    assert_eq!(mock.count("gradereport_user_get_grade_items"), 3);
    assert_eq!(mock.count("core_webservice_get_site_info"), 1);
    let quizzes = mock
        .calls()
        .into_iter()
        .find(|c| c.function == "mod_quiz_get_quizzes_by_courses")
        .unwrap();
    assert_eq!(quizzes.param("courseids[0]"), Some("2"));
}

#[tokio::test]
async fn moodle_4_5_counts_attempts_with_the_old_function() {
    let mock = MockMoodle::start(MockOptions {
        learners: 15,
        release: MoodleRelease::V4_5,
        ..MockOptions::default()
    })
    .await;
    let m = Moodle::new(config(&mock), http()).unwrap();
    let (records, _, _) = drain(&m, "grades", None).await;
    assert!(!records.is_empty());
    assert!(records
        .iter()
        .all(|r| r.payload["_attempts"].as_u64() >= Some(1)));
    assert!(mock.count("mod_quiz_get_user_attempts") > 0);
    assert_eq!(mock.count("mod_quiz_get_user_quiz_attempts"), 0);
    let report = m.check().await.unwrap().details.join("\n");
    assert!(report.contains("mod_quiz_get_user_attempts"), "{report}");
}

#[tokio::test]
async fn grades_page_through_a_course_and_resume() {
    let mock = mock(50).await;
    let mut cfg = config(&mock);
    cfg.users_per_page = Some(10);
    let m = Moodle::new(cfg.clone(), http()).unwrap();
    let (all, _, pages) = drain(&m, "grades", None).await;
    assert!(pages > 3, "{pages}");
    let page = m.read_page("grades", None).await.unwrap();
    let cursor: GradesCursor = serde_json::from_str(page.cursor.as_deref().unwrap()).unwrap();
    assert_eq!(cursor.course, Some(2));
    assert!(cursor.after_user.is_some());
    let fresh = Moodle::new(cfg, http()).unwrap();
    let (rest, _, _) = drain(&fresh, "grades", page.cursor.clone()).await;
    let a: HashSet<String> = ids(&page.records).into_iter().collect();
    let b: HashSet<String> = ids(&rest).into_iter().collect();
    assert!(a.is_disjoint(&b));
    assert_eq!(a.len() + b.len(), all.len());
}

#[tokio::test]
async fn the_error_envelope_is_an_error() {
    let mock = mock(5).await;
    let m = Moodle::new(config(&mock), http()).unwrap();
    mock.exception_next(1, "invalidparameter");
    let err = m.read_page("users", None).await.unwrap_err();
    match &err {
        ConnectorError::Protocol { message, .. } => {
            assert!(message.contains("invalidparameter"), "{message}")
        }
        other => panic!("expected Protocol, got {other}"),
    }
    assert_eq!(mock.calls().len(), 1, "not retried");

    mock.remove_function("core_enrol_get_users_courses");
    let err = m.read_page("course_completions", None).await.unwrap_err();
    match &err {
        ConnectorError::Forbidden(message) => {
            assert!(
                message.contains("core_enrol_get_users_courses"),
                "{message}"
            );
            assert!(message.contains("External services"), "{message}");
        }
        other => panic!("expected Forbidden, got {other}"),
    }
    let report = m.check().await.unwrap_err().to_string();
    assert!(report.contains("core_enrol_get_users_courses"), "{report}");
}

#[tokio::test]
async fn an_invalid_token_is_auth_after_one_request() {
    let mock = mock(5).await;
    let m = Moodle::new(config(&mock), http()).unwrap();
    mock.replace_token("rotated");
    let err = m.read_page("users", None).await.unwrap_err();
    match &err {
        ConnectorError::Auth(message) => {
            assert!(message.contains("token not found"), "{message}");
            assert!(message.contains("Manage tokens"), "{message}");
        }
        other => panic!("expected Auth, got {other}"),
    }
    assert_eq!(mock.calls().len(), 1);
    assert_eq!(mock.calls()[0].status, 200, "Moodle says so with HTTP 200");

    let mut cfg = config(&mock);
    cfg.token = "rotated".into();
    let m = Moodle::new(cfg, http()).unwrap();
    m.read_page("users", None).await.unwrap();
    mock.expire_token();
    mock.clear_calls();
    let err = m.read_page("grades", None).await.unwrap_err();
    assert!(
        matches!(&err, ConnectorError::Auth(msg) if msg.contains("expired")),
        "{err}"
    );
    assert_eq!(mock.calls().len(), 1);
    // the secret never shows in errors
    assert!(!err.to_string().contains("rotated"));
}

#[tokio::test]
async fn survives_5xx_a_proxy_429_and_maintenance_mode() {
    let mock = mock(5).await;
    let m = Moodle::new(config(&mock), http()).unwrap();
    mock.fail_next(2, 503);
    let page = m.read_page("users", None).await.unwrap();
    assert_eq!(page.records.len(), 8);
    mock.clear_calls();
    mock.throttle_next(1, 1);
    m.read_page("users", None).await.unwrap();
    let calls = mock.calls();
    assert_eq!(
        calls.iter().map(|c| c.status).collect::<Vec<_>>(),
        vec![429, 200]
    );
    assert!(calls[1].at.duration_since(calls[0].at) >= Duration::from_secs(1));
    mock.clear_calls();
    mock.exception_next(2, "sitemaintenance");
    m.read_page("users", None).await.unwrap();
    let codes: Vec<Option<String>> = mock.calls().into_iter().map(|c| c.errorcode).collect();
    assert_eq!(
        codes,
        vec![
            Some("sitemaintenance".into()),
            Some("sitemaintenance".into()),
            None
        ]
    );
}

#[tokio::test]
async fn gives_up_on_a_site_that_stays_down() {
    let mock = mock(5).await;
    let m = Moodle::new(config(&mock), http()).unwrap();
    mock.fail_next(100, 502);
    let err = m.read_page("users", None).await.unwrap_err();
    assert!(
        matches!(err, ConnectorError::Exhausted { attempts: 6, .. }),
        "{err}"
    );
}

#[tokio::test]
async fn check_reports_the_site_and_the_service() {
    let mock = mock(5).await;
    let m = Moodle::new(config(&mock), http()).unwrap();
    let report = m.check().await.unwrap().details.join("\n");
    assert!(report.contains("Acme Academy"), "{report}");
    assert!(report.contains("5.0"), "{report}");
    assert!(
        report.contains("mod_quiz_get_user_quiz_attempts"),
        "{report}"
    );
}

#[tokio::test]
async fn unknown_streams_and_cursors_are_config_errors() {
    let mock = mock(3).await;
    let m = Moodle::new(config(&mock), http()).unwrap();
    assert_eq!(m.kind(), "moodle");
    assert_eq!(m.streams(), vec!["users", "course_completions", "grades"]);
    let err = m.read_page("badges", None).await.unwrap_err();
    assert!(matches!(err, ConnectorError::Config(_)), "{err}");
    let err = m.read_page("grades", Some("garbage")).await.unwrap_err();
    assert!(matches!(err, ConnectorError::Config(_)), "{err}");
}

#[tokio::test]
async fn fetches_users_by_id() {
    let mock = mock(10).await;
    let m = Moodle::new(config(&mock), http()).unwrap();
    let records = m
        .fetch("users", &["12".into(), "13".into(), "99999".into()])
        .await
        .unwrap();
    assert_eq!(ids(&records), vec!["12", "13"]);
    let call = mock.calls().pop().unwrap();
    assert_eq!(call.function, "core_user_get_users_by_field");
    assert_eq!(call.param("field"), Some("id"));
    assert_eq!(call.param("values[2]"), Some("99999"));
}

#[tokio::test]
async fn user_criteria_narrow_the_learners() {
    let mock = mock(10).await;
    let mut cfg = config(&mock);
    cfg.user_criteria = Some(vec![hrhub_moodle::UserCriterion {
        key: "auth".into(),
        value: "oidc".into(),
    }]);
    let m = Moodle::new(cfg, http()).unwrap();
    let (users, _, _) = drain(&m, "users", None).await;
    assert_eq!(
        users.len(),
        10,
        "guest, admin and the service user are not oidc"
    );
    let (grades, _, _) = drain(&m, "grades", None).await;
    let per_user: HashMap<String, usize> = grades.iter().fold(HashMap::new(), |mut m, r| {
        *m.entry(r.payload["userid"].to_string()).or_default() += 1;
        m
    });
    assert!(per_user.keys().all(|u| u.parse::<i64>().unwrap() >= 10));
}
