//! The CLI's edges: bad config stops start-up naming the key, `check`, and
//! `mapping test`.

mod common;

use common::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_config_stops_start_up_with_the_key_named() {
    let dir = tempfile::tempdir().unwrap();
    let mock = mock(10).await;
    let config = write_config(dir.path(), &mock, "page_sise = 100");
    let out = hrhub(&config, &["sync"]).await;
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("connector `zd`") && err.contains("page_sise"),
        "{err}"
    );
    assert_eq!(
        mock.request_count(),
        0,
        "nothing is fetched with a bad config"
    );

    let config = write_config(dir.path(), &mock, "requests_per_minute = \"fast\"");
    let out = hrhub(&config, &["status"]).await;
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("requests_per_minute"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn check_verifies_credentials_and_role() {
    let dir = tempfile::tempdir().unwrap();
    let mock = mock(10).await;
    let config = write_config(dir.path(), &mock, "");
    let out = hrhub(&config, &["check", "zd"]).await;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout(&out).contains("admin@acme.example (admin)"),
        "{}",
        stdout(&out)
    );

    mock.set_me_role("agent");
    let out = hrhub(&config, &["check", "zd"]).await;
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("need an admin"));

    let out = hrhub(&config, &["check", "nope"]).await;
    assert!(String::from_utf8_lossy(&out.stderr).contains("no enabled connector `nope`"));
}

#[tokio::test]
async fn mapping_test_shows_entities_and_errors() {
    let root = env!("CARGO_MANIFEST_DIR");
    let run = |args: &[&str]| {
        std::process::Command::new(BIN)
            .current_dir(root)
            .args(args)
            .output()
            .unwrap()
    };
    let out = run(&[
        "mapping",
        "test",
        "mappings/zendesk/tickets.toml",
        "mappings/zendesk/tickets.sample.json",
    ]);
    let text = stdout(&out);
    assert_eq!(
        out.status.code(),
        Some(1),
        "the sample holds one bad record: {text}"
    );
    assert!(text.contains("\"first_reply_minutes\": 14"), "{text}");
    assert!(
        text.contains("record 3: ERROR (would be quarantined): field `created_at`"),
        "{text}"
    );

    let out = run(&[
        "mapping",
        "test",
        "mappings/zendesk/users.toml",
        "mappings/zendesk/users.sample.json",
    ]);
    assert!(out.status.success());
    assert!(stdout(&out).contains("record 2: filtered out"));

    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.toml");
    std::fs::write(&bad, "kind = \"zendesk\"\nstream = \"tickets\"\ntarget = \"ticket_activity\"\nkey = \".id\"\n[fields]\nticket_id = \".id\"\nstauts = \".status\"\n").unwrap();
    let out = run(&[
        "mapping",
        "test",
        bad.to_str().unwrap(),
        "mappings/zendesk/tickets.sample.json",
    ]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("bad.toml") && err.contains("stauts") && err.contains("status"),
        "{err}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_runs_connectors_on_their_schedule_and_answers_health_checks() {
    let dir = tempfile::tempdir().unwrap();
    let mock = mock(50).await;
    let port = free_port();
    // 6-field cron (seconds first) so the test need not wait for a minute
    // boundary; the 5-field form is converted by `to_six_fields` (unit-tested)
    let config = write_config(dir.path(), &mock, "schedule = \"*/3 * * * * *\"");
    listen_on(&config, port);
    let server = serve(&config, port).await;
    let ready = reqwest::get(format!("{}/readyz", server.url))
        .await
        .unwrap();
    assert_eq!(ready.status(), 200);
    // wait for the first tick to sync the connector
    let mut synced = false;
    for _ in 0..30 {
        let status = status_json(&config).await;
        if status["streams"]
            .as_array()
            .unwrap()
            .iter()
            .all(|s| s["status"] == "done")
        {
            assert_eq!(last_counts(&status, "tickets")["fetched"], 50);
            assert!(status["streams"]
                .as_array()
                .unwrap()
                .iter()
                .all(|s| s["last_run"]["trigger"] == "schedule"));
            synced = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_secs(1)).await;
    }
    drop(server);
    assert!(synced, "no scheduled run within 30 s");
}

/// The SSRF guard through the binary: a loopback base URL stops start-up
/// naming the key; a name that resolves to loopback fails the stream at
/// request time (nothing sent); `[security] allow_private_urls` lifts both,
/// with a warning at start-up.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn private_urls_are_refused_unless_allowed_with_a_warning() {
    let dir = tempfile::tempdir().unwrap();
    let mock = mock(10).await;
    let config = write_config(dir.path(), &mock, "");
    let guarded = |args: &[&str], config: &std::path::Path| {
        let mut cmd = hrhub_command();
        cmd.env_remove("HRHUB_ALLOW_PRIVATE_URLS")
            .arg("--config")
            .arg(config)
            .args(args);
        async move {
            tokio::task::spawn_blocking(move || cmd.output().unwrap())
                .await
                .unwrap()
        }
    };

    let out = guarded(&["sync"], &config).await;
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("connector `zd`")
            && err.contains("key `base_url`")
            && err.contains("allow_private_urls = true")
            && err.contains("HRHUB_ALLOW_PRIVATE_URLS=1"),
        "{err}"
    );

    // a hostname passes the config check and is refused once resolved
    let text = std::fs::read_to_string(&config).unwrap();
    std::fs::write(&config, text.replace("127.0.0.1", "localhost")).unwrap();
    let out = guarded(&["sync"], &config).await;
    assert_ne!(out.status.code(), Some(0), "{}", stdout(&out));
    let out = guarded(&["status", "--json"], &config).await;
    let status: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let error = status["streams"][0]["last_run"]["error"]
        .as_str()
        .unwrap_or_else(|| panic!("no error in {status}"));
    assert!(
        error.contains("localhost resolves to") && !error.contains("gave up after"),
        "refused at once, not retried: {error}"
    );
    assert_eq!(mock.request_count(), 0, "nothing reached the mock");

    // allowed in the config: works, and says so at start-up
    std::fs::write(
        &config,
        format!("{text}\n[security]\nallow_private_urls = true\n"),
    )
    .unwrap();
    let out = guarded(&["check", "zd"], &config).await;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("WARN") && err.contains("allow_private_urls"),
        "{err}"
    );
}
