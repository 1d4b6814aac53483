//! A sync killed with SIGKILL at any point, then run again, ends with the
//! same store as an uninterrupted sync: nothing lost, nothing duplicated,
//! the change log without gaps.

mod common;

use common::*;
use std::process::Stdio;
use std::time::Duration;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_at_several_points_then_resume_equals_an_uninterrupted_sync() {
    let mock = mock(6_000).await;
    // small pages: many commit points to land a kill between or inside
    let extra = "page_size = 200";

    let reference_dir = tempfile::tempdir().unwrap();
    let reference_config = write_config(reference_dir.path(), &mock, extra);
    let out = hrhub(&reference_config, &["sync"]).await;
    assert!(out.status.success(), "{}", stdout(&out));
    let reference_store = open_store(reference_dir.path()).await;
    let expected = snapshot(&reference_store).await;
    let expected_changes = change_log_len(&reference_store).await;

    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path(), &mock, extra);
    let mut kills = 0;
    // kill points spread over the run (first sync takes a few seconds in debug builds)
    for delay_ms in [40, 150, 300, 500, 800, 1_200, 1_700, 2_300] {
        let mut child = hrhub_command()
            .arg("--config")
            .arg(&config)
            .arg("sync")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        tokio::time::sleep(Duration::from_millis(delay_ms)).await;
        if child.try_wait().unwrap().is_none() {
            child.kill().unwrap(); // SIGKILL on Unix
            kills += 1;
        }
        child.wait().unwrap();
    }
    assert!(
        kills >= 3,
        "only {kills} kills landed mid-sync; the test needs a slower sync"
    );
    let out = hrhub(&config, &["sync"]).await;
    assert!(out.status.success(), "{}", stdout(&out));

    let store = open_store(dir.path()).await;
    let got = snapshot(&store).await;
    for ((kind, want), (_, have)) in expected.iter().zip(&got) {
        assert_eq!(
            want.len(),
            have.len(),
            "{kind}: row count differs after {kills} kills"
        );
        assert!(want == have, "{kind}: rows differ after {kills} kills");
    }
    assert_eq!(
        change_log_len(&store).await,
        expected_changes,
        "change log differs"
    );
    // interrupted runs are shown as such, not as running forever
    let status = status_json(&config).await;
    for s in status["streams"].as_array().unwrap() {
        assert_eq!(s["status"], "done", "{s}");
    }
}
