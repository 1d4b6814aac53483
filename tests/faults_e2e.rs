//! Source faults in the middle of a sync, through the real binary: token
//! expiry and rate limiting (DingTalk), hung connections, connections cut
//! mid-body and a token revoked mid-sync (Zendesk). Faults that pass leave
//! the store exactly as an undisturbed sync; faults that do not fail the
//! stream with the error shown and only whole pages committed.

mod common;

use common::*;
use hrhub_dingtalk::mock::{MockDingTalk, MockHandle, MockOptions};
use hrhub_model::EntityKind;
use hrhub_store::Store;

fn dingtalk_config(dir: &std::path::Path, mock: &MockHandle, rps: u32) -> std::path::PathBuf {
    let o = mock.options();
    let text = format!(
        r#"[store]
url = "sqlite://{db}"

[[connector]]
id = "dt"
kind = "dingtalk"
base_url = "{url}"
api_base_url = "{url}"
app_key = "{key}"
app_secret = "{secret}"
start_date = "{start}"
requests_per_second = {rps}
"#,
        db = dir.join("hrhub.db").display(),
        url = mock.base_url(),
        key = o.app_key,
        secret = o.app_secret,
        start = mock.today() - chrono::Days::new(14),
    );
    let path = dir.join("hrhub.toml");
    std::fs::write(&path, text).unwrap();
    path
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expiring_tokens_and_rate_limits_lose_and_duplicate_nothing() {
    let options = MockOptions {
        history_days: 14,
        today: Some(chrono::NaiveDate::from_ymd_opt(2026, 11, 20).unwrap()),
        ..MockOptions::default()
    };
    let calm = MockDingTalk::start(MockOptions {
        qps_limit: None,
        ..options.clone()
    })
    .await;
    let reference = tempfile::tempdir().unwrap();
    let out = hrhub(&dingtalk_config(reference.path(), &calm, 500), &["sync"]).await;
    assert!(out.status.success(), "{}", stdout(&out));
    let expected = snapshot(&open_store(reference.path()).await).await;

    // the same company behind a mock that throttles at 5 calls/s and issues
    // 2-second tokens, read by a client that asks for 50 calls/s
    let stormy = MockDingTalk::start(MockOptions {
        qps_limit: Some(5),
        token_expires_in: 2,
        ..options
    })
    .await;
    stormy.throttle_next(3, hrhub_dingtalk::mock::Throttle::GlobalQps);
    let dir = tempfile::tempdir().unwrap();
    let out = hrhub(&dingtalk_config(dir.path(), &stormy, 50), &["sync"]).await;
    assert!(
        out.status.success(),
        "{}\n{}",
        stdout(&out),
        String::from_utf8_lossy(&out.stderr)
    );
    let token_calls = stormy.calls_to("/gettoken") + stormy.calls_to("/v1.0/oauth2/accessToken");
    assert!(
        token_calls > 1,
        "tokens were renewed mid-sync ({token_calls} token calls)"
    );
    let throttled = stormy
        .requests()
        .iter()
        .filter(|r| matches!(r.errcode, Some(90018 | 90002)))
        .count();
    assert!(throttled > 0, "the mock rate-limited the sync");

    let store = open_store(dir.path()).await;
    let got = snapshot(&store).await;
    for ((kind, want), (_, have)) in expected.iter().zip(&got) {
        assert_eq!(want.len(), have.len(), "{kind}: row count differs");
        assert!(want == have, "{kind}: rows differ");
    }
    change_log_len(&store).await;
}

/// A Zendesk config with pages of 100 tickets, a 2 s request timeout and
/// `attempts` tries per request.
fn zendesk_config(
    dir: &std::path::Path,
    mock: &hrhub_zendesk::MockHandle,
    attempts: u32,
) -> std::path::PathBuf {
    let path = write_config(
        dir,
        mock,
        &format!("page_size = 100\nmax_attempts = {attempts}"),
    );
    let text = std::fs::read_to_string(&path).unwrap();
    assert!(text.contains("timeout_secs = 10"));
    std::fs::write(&path, text.replace("timeout_secs = 10", "timeout_secs = 2")).unwrap();
    path
}

async fn sync_tickets(config: &std::path::Path) -> std::process::Output {
    hrhub(
        config,
        &["sync", "--connector", "zd", "--stream", "tickets"],
    )
    .await
}

/// Issue 6, item 6: a hung connection (only the client's timeout gets out)
/// and connections cut halfway through a page's body are retried; the
/// store ends exactly as after an undisturbed sync.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hung_and_cut_connections_are_retried_and_change_nothing() {
    use hrhub_connector::mock_server::TransportFault;
    let calm_dir = tempfile::tempdir().unwrap();
    let calm = mock(1_000).await;
    let out = sync_tickets(&zendesk_config(calm_dir.path(), &calm, 8)).await;
    assert!(out.status.success(), "{}", stdout(&out));
    let expected = snapshot(&open_store(calm_dir.path()).await).await;

    for (fault, count) in [(TransportFault::Hang, 1), (TransportFault::ResetMidBody, 3)] {
        let dir = tempfile::tempdir().unwrap();
        let stormy = mock(1_000).await;
        stormy.transport_fault(fault, 4, count);
        let started = std::time::Instant::now();
        let out = sync_tickets(&zendesk_config(dir.path(), &stormy, 8)).await;
        assert!(out.status.success(), "{fault:?}: {}", stdout(&out));
        if fault == TransportFault::Hang {
            assert!(
                started.elapsed() >= std::time::Duration::from_secs(2),
                "the timeout fired"
            );
        }
        let exports = stormy
            .requests()
            .iter()
            .filter(|r| r.path.contains("/incremental/tickets"))
            .count();
        assert_eq!(
            exports,
            10 + count as usize,
            "{fault:?}: each faulty request was sent again once"
        );
        assert_eq!(
            snapshot(&open_store(dir.path()).await).await,
            expected,
            "{fault:?}: the store differs from an undisturbed sync"
        );
    }
}

/// Issue 6, item 6: cut connections that do not pass. Retries are bounded,
/// the stream fails with the error shown, and what was committed is whole
/// pages only, with the cursor right after them: the next sync completes
/// the store without a repeat.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn persistent_faults_fail_the_stream_and_leave_only_whole_pages() {
    use hrhub_connector::mock_server::TransportFault;
    let dir = tempfile::tempdir().unwrap();
    let stormy = mock(1_000).await;
    let config = zendesk_config(dir.path(), &stormy, 3);
    stormy.transport_fault(TransportFault::ResetMidBody, 4, u32::MAX);
    let out = sync_tickets(&config).await;
    assert_eq!(out.status.code(), Some(1), "{}", stdout(&out));
    let status = status_json(&config).await;
    let tickets = stream_status(&status, "tickets");
    // failed after committing whole pages: `partial`, with the error shown
    assert_eq!(tickets["status"], "partial");
    let error = tickets["last_run"]["error"].as_str().unwrap();
    assert!(error.contains("gave up after 3 attempts"), "{error}");
    let store = open_store(dir.path()).await;
    assert_eq!(
        store
            .entity_counts(EntityKind::TicketActivity)
            .await
            .unwrap()
            .0,
        400,
        "four whole pages, nothing of the fifth"
    );
    assert_eq!(tickets["last_run"]["counts"]["upserted"], 400);

    stormy.transport_fault(TransportFault::ResetMidBody, 0, 0);
    let changes = change_log_len(&store).await;
    let out = sync_tickets(&config).await;
    assert!(out.status.success(), "{}", stdout(&out));
    let c = last_counts(&status_json(&config).await, "tickets");
    assert_eq!(
        (c["fetched"].as_i64(), c["upserted"].as_i64()),
        (Some(600), Some(600)),
        "{c}"
    );
    assert_eq!(change_log_len(&store).await, changes + 600);
}

/// Issue 6, item 6: the API token is revoked while a sync runs. The stream
/// fails with a clear auth error after exactly one refused request (an API
/// token cannot be refreshed; OAuth tokens get one refresh, see the
/// connector's tests), and no retry storm follows.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_token_revoked_mid_sync_fails_clearly_without_a_retry_storm() {
    let dir = tempfile::tempdir().unwrap();
    let zd = mock(1_000).await;
    let config = zendesk_config(dir.path(), &zd, 8);
    zd.fail_after(3, u32::MAX, 401);
    let out = sync_tickets(&config).await;
    assert_eq!(out.status.code(), Some(1), "{}", stdout(&out));
    let c = last_counts(&status_json(&config).await, "tickets");
    assert_eq!(
        c["upserted"], 300,
        "the pages before the revocation stay: {c}"
    );
    let refused: Vec<_> = zd
        .requests()
        .into_iter()
        .filter(|r| r.status == 401)
        .collect();
    assert_eq!(refused.len(), 1, "one refused request, then stop");
    let status = status_json(&config).await;
    let error = stream_status(&status, "tickets")["last_run"]["error"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(
        error.contains("authentication failed") && error.contains("credentials"),
        "{error}"
    );
}

/// Issue 6, item 5, on a real connector: without the leave-records
/// permission (`read_leavers = false`) DingTalk reports no leavers, so only
/// the completed org walk shows who is gone: they are marked `left`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_completed_dingtalk_org_walk_marks_people_gone_without_a_leave_event_as_left() {
    let mock = MockDingTalk::start(MockOptions {
        history_days: 1,
        qps_limit: None,
        ..MockOptions::default()
    })
    .await;
    let dir = tempfile::tempdir().unwrap();
    let config = dingtalk_config(dir.path(), &mock, 1000);
    let text = std::fs::read_to_string(&config).unwrap();
    std::fs::write(&config, format!("{text}read_leavers = false\n")).unwrap();
    let sync = || hrhub(&config, &["sync", "--connector", "dt", "--stream", "users"]);
    assert!(sync().await.status.success());
    let gone: Vec<String> = mock.user_ids().into_iter().take(2).collect();
    for userid in &gone {
        assert!(mock.remove_user(userid));
    }
    let out = sync().await;
    assert!(out.status.success(), "{}", stdout(&out));
    let store = open_store(dir.path()).await;
    let employees = all_rows(&store, EntityKind::Employee).await;
    assert_eq!(employees.len(), mock.user_ids().len() + 2);
    for e in &employees {
        let left = gone.iter().any(|g| e["source_key"] == g.as_str());
        assert_eq!(e["status"], if left { "left" } else { "active" }, "{e:?}");
    }
}
