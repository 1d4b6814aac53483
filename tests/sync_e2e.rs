//! `hrhub sync` against the mock Zendesk, through the real binary.

mod common;

use common::*;
use hrhub_model::EntityKind;
use hrhub_store::Store;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_thousand_tickets_land_then_only_changes_are_upserted() {
    let dir = tempfile::tempdir().unwrap();
    let mock = mock(10_000).await;
    let config = write_config(dir.path(), &mock, "");

    let out = hrhub(&config, &["sync"]).await;
    assert!(
        out.status.success(),
        "{}\n{}",
        stdout(&out),
        String::from_utf8_lossy(&out.stderr)
    );
    let status = status_json(&config).await;
    let tickets = last_counts(&status, "tickets");
    assert_eq!(tickets["fetched"], 10_000);
    assert_eq!(tickets["upserted"], 10_000);
    assert_eq!(
        last_counts(&status, "users")["upserted"],
        21,
        "20 agents and the admin"
    );
    let ratings = last_counts(&status, "satisfaction_ratings");
    let metrics = last_counts(&status, "ticket_metrics");
    assert!(metrics["fetched"].as_i64().unwrap() > 5_000);
    assert!(ratings["upserted"].as_i64().unwrap() > 1_000);

    let store = open_store(dir.path()).await;
    assert_eq!(
        store
            .entity_counts(EntityKind::TicketActivity)
            .await
            .unwrap(),
        (10_000, 0)
    );
    assert_eq!(
        store.entity_counts(EntityKind::Employee).await.unwrap().0,
        21
    );
    let (rated, unmatched) = store
        .entity_counts(EntityKind::SatisfactionRating)
        .await
        .unwrap();
    assert_eq!(
        (rated, unmatched),
        (ratings["upserted"].as_i64().unwrap(), 0)
    );
    let changes = change_log_len(&store).await;

    // nothing changed upstream: nothing upserted, everything re-read is unchanged
    let out = hrhub(&config, &["sync"]).await;
    assert!(out.status.success());
    let status = status_json(&config).await;
    for stream in ["users", "tickets", "ticket_metrics", "satisfaction_ratings"] {
        let c = last_counts(&status, stream);
        assert_eq!(c["upserted"], 0, "{stream}: {c}");
        assert_eq!(c["unchanged"], c["fetched"], "{stream}: {c}");
    }
    assert_eq!(change_log_len(&store).await, changes);

    // 100 tickets change: exactly those are upserted
    let touched = mock.touch_tickets(100);
    assert_eq!(touched.len(), 100);
    mock.advance(61); // past the export's one-minute delay
    let out = hrhub(
        &config,
        &["sync", "--connector", "zd", "--stream", "tickets"],
    )
    .await;
    assert!(out.status.success());
    let c = last_counts(&status_json(&config).await, "tickets");
    assert_eq!(
        (c["fetched"].as_i64(), c["upserted"].as_i64()),
        (Some(100), Some(100)),
        "{c}"
    );
    assert_eq!(change_log_len(&store).await, changes + 100);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_record_failing_its_mapping_is_quarantined_and_the_rest_lands() {
    let dir = tempfile::tempdir().unwrap();
    let mock = mock(300).await;
    assert!(mock.corrupt_ticket(17));
    mock.advance(61); // the corrupted version is re-exported after the one-minute delay
    let config = write_config(dir.path(), &mock, "");
    let out = hrhub(
        &config,
        &["sync", "--connector", "zd", "--stream", "tickets"],
    )
    .await;
    assert!(
        out.status.success(),
        "a quarantined record does not fail the run: {}",
        stdout(&out)
    );
    let c = last_counts(&status_json(&config).await, "tickets");
    assert_eq!(
        (
            c["fetched"].as_i64(),
            c["upserted"].as_i64(),
            c["quarantined"].as_i64()
        ),
        (Some(300), Some(299), Some(1))
    );
    let store = open_store(dir.path()).await;
    let q = store.quarantined(Some("zd"), 10).await.unwrap();
    assert_eq!(q.len(), 1);
    assert_eq!(q[0].external_id, "17");
    assert!(
        q[0].reason.contains("created_at"),
        "reason names the field: {}",
        q[0].reason
    );
    assert_eq!(q[0].payload["created_at"], "not a date");
    assert!(q[0]
        .mapping
        .as_deref()
        .unwrap()
        .starts_with("mappings/zendesk/tickets.toml@"));
    let status = status_json(&config).await;
    let tickets = stream_status(&status, "tickets");
    assert_eq!(tickets["quarantined"], 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rate_limits_and_server_errors_are_survived() {
    let dir = tempfile::tempdir().unwrap();
    let mock = mock(2_500).await;
    let config = write_config(dir.path(), &mock, "page_size = 500");
    mock.throttle_next(2, 1);
    let out = hrhub(
        &config,
        &["sync", "--connector", "zd", "--stream", "tickets"],
    )
    .await;
    assert!(out.status.success(), "{}", stdout(&out));
    // no request arrived before Retry-After elapsed
    let log = mock.requests();
    let throttled: Vec<_> = log
        .iter()
        .enumerate()
        .filter(|(_, r)| r.status == 429)
        .collect();
    assert_eq!(throttled.len(), 2);
    let (i, last_429) = throttled[1];
    assert!(log[i + 1].at.duration_since(last_429.at) >= std::time::Duration::from_millis(990));

    mock.touch_tickets(50);
    mock.advance(61);
    mock.fail_next(3, 503);
    let out = hrhub(
        &config,
        &["sync", "--connector", "zd", "--stream", "tickets"],
    )
    .await;
    assert!(out.status.success(), "{}", stdout(&out));
    let c = last_counts(&status_json(&config).await, "tickets");
    assert_eq!(c["upserted"], 50);
    let store = open_store(dir.path()).await;
    assert_eq!(
        store
            .entity_counts(EntityKind::TicketActivity)
            .await
            .unwrap()
            .0,
        2_500
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_token_fails_the_stream_with_a_clear_error_in_status() {
    let dir = tempfile::tempdir().unwrap();
    let mock = mock(100).await;
    let config = write_config(dir.path(), &mock, "");
    mock.set_api_token("rotated");
    let out = hrhub(
        &config,
        &["sync", "--connector", "zd", "--stream", "tickets"],
    )
    .await;
    assert_eq!(out.status.code(), Some(1), "{}", stdout(&out));
    let status = status_json(&config).await;
    let tickets = stream_status(&status, "tickets");
    assert_eq!(tickets["status"], "failed");
    let error = tickets["last_run"]["error"].as_str().unwrap();
    assert!(
        error.contains("authentication failed") && error.contains("credentials"),
        "{error}"
    );
    assert_eq!(
        mock.requests().iter().filter(|r| r.status == 401).count(),
        1,
        "no retry storm on 401"
    );
}

/// Issue 6, item 3: many records share the newest cursor timestamp, split
/// across pages; then more are written with that same timestamp. Every one
/// is taken, once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn records_sharing_the_newest_cursor_timestamp_are_all_taken_once() {
    let dir = tempfile::tempdir().unwrap();
    let mock = mock(2_000).await;
    // pages of 100 tickets, so the shared second spans page boundaries
    let config = write_config(dir.path(), &mock, "page_size = 100");
    mock.freeze_clock();
    let tickets = mock.add_tickets(250);
    let rated = mock.add_ratings(150);
    assert_eq!(rated.len(), 150, "the mock has solved tickets to rate");
    mock.advance(60); // the shared second is now exactly at the export's horizon
    let out = hrhub(&config, &["sync"]).await;
    assert!(out.status.success(), "{}", stdout(&out));
    let store = open_store(dir.path()).await;
    assert_eq!(
        store
            .entity_counts(EntityKind::TicketActivity)
            .await
            .unwrap()
            .0,
        2_250
    );
    let activity = all_rows(&store, EntityKind::TicketActivity).await;
    for id in &tickets {
        assert!(
            activity
                .iter()
                .any(|r| r["ticket_id"].as_str() == Some(id.to_string().as_str())),
            "ticket {id} of the shared second is missing"
        );
    }
    let ratings_before = store
        .entity_counts(EntityKind::SatisfactionRating)
        .await
        .unwrap()
        .0;
    let rows = all_rows(&store, EntityKind::SatisfactionRating).await;
    for id in &rated {
        assert!(
            rows.iter()
                .any(|r| r["rating_id"].as_str() == Some(id.to_string().as_str())),
            "rating {id} of the shared second is missing"
        );
    }

    // the clock has not moved: 60 more ratings get the very same created_at
    let more = mock.add_ratings(60);
    assert_eq!(more.len(), 60);
    let out = hrhub(
        &config,
        &[
            "sync",
            "--connector",
            "zd",
            "--stream",
            "satisfaction_ratings",
        ],
    )
    .await;
    assert!(out.status.success(), "{}", stdout(&out));
    let c = last_counts(&status_json(&config).await, "satisfaction_ratings");
    assert_eq!(c["upserted"], 60, "only the new ones are written: {c}");
    assert_eq!(
        store
            .entity_counts(EntityKind::SatisfactionRating)
            .await
            .unwrap()
            .0,
        ratings_before + 60,
        "no rating twice, none missing"
    );

    // and once more with nothing new: nothing taken twice
    let out = hrhub(&config, &["sync"]).await;
    assert!(out.status.success());
    let status = status_json(&config).await;
    for stream in ["tickets", "satisfaction_ratings"] {
        assert_eq!(last_counts(&status, stream)["upserted"], 0, "{stream}");
    }
}

/// Issue 6, item 5: tickets deleted upstream (the export shows them once
/// more with status `deleted`) are soft-deleted and appear in the change
/// feed as deletes; they stop counting for anyone.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deleted_tickets_are_soft_deleted_and_appear_in_the_change_feed() {
    let dir = tempfile::tempdir().unwrap();
    let mock = mock(300).await;
    let config = write_config(dir.path(), &mock, "");
    let sync = || {
        hrhub(
            &config,
            &["sync", "--connector", "zd", "--stream", "tickets"],
        )
    };
    assert!(sync().await.status.success());
    let store = open_store(dir.path()).await;
    let before = change_log_len(&store).await;

    mock.delete_tickets(&[3, 30, 300]);
    mock.advance(61);
    let out = sync().await;
    assert!(out.status.success(), "{}", stdout(&out));
    assert_eq!(
        store
            .entity_counts(EntityKind::TicketActivity)
            .await
            .unwrap()
            .0,
        297
    );
    let changes = store.changes(before, 100).await.unwrap();
    assert_eq!(changes.len(), 3, "{changes:?}");
    assert!(changes
        .iter()
        .all(|c| c.op == hrhub_model::ChangeOp::Delete && c.entity == EntityKind::TicketActivity));
    // a re-export of the same deleted tickets changes nothing
    let out = hrhub(
        &config,
        &[
            "sync",
            "--connector",
            "zd",
            "--stream",
            "tickets",
            "--full-refresh",
        ],
    )
    .await;
    assert!(out.status.success(), "{}", stdout(&out));
    assert_eq!(change_log_len(&store).await, before + 3);
}
