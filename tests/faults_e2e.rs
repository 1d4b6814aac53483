//! Token expiry and rate limiting in the middle of a DingTalk sync, through
//! the real binary: the store ends exactly as after an undisturbed sync.

mod common;

use common::*;
use hrhub_dingtalk::mock::{MockDingTalk, MockHandle, MockOptions};

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
