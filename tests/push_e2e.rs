//! Signed event pushes from the DingTalk and WeCom mocks into the real
//! `hrhub serve`: accepted ones land (once, also when duplicates arrive at
//! the same moment), refused ones leave no trace, and events the platform
//! failed to push while the hub was down are recovered by the next sync.
//! (SIGKILLs during a stream of pushes: `push_kill_e2e.rs`.)

mod common;

use common::*;
use hrhub_connector::callback_crypto::CallbackCrypto;
use hrhub_connector::PushRequest;
use hrhub_dingtalk::mock::{
    signed_delivery, MockDingTalk, MockHandle as DingTalkMock, MockOptions as DtOptions,
};
use hrhub_store::Store;
use hrhub_wecom::mock::{MockOptions as WcOptions, MockWeCom};
use std::time::Duration;

async fn post(url: &str, request: &PushRequest) -> reqwest::Response {
    post_delivery(&reqwest::Client::new(), url, request)
        .await
        .unwrap()
}

async fn events(store: &dyn Store, connector: &str) -> i64 {
    events_held(store, connector).await
}

/// Fresh DingTalk and WeCom mocks and a config for a hub on a free port.
struct Setup {
    dir: tempfile::TempDir,
    dt: DingTalkMock,
    wc: hrhub_wecom::MockHandle,
    port: u16,
    config: std::path::PathBuf,
}

async fn setup(dt_options: DtOptions) -> Setup {
    let dir = tempfile::tempdir().unwrap();
    let dt = MockDingTalk::start(dt_options).await;
    let wc = MockWeCom::start(WcOptions::default()).await;
    let port = free_port();
    let config = write_push_config(dir.path(), port, &dt, &wc);
    Setup {
        dir,
        dt,
        wc,
        port,
        config,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn signed_pushes_land_once_and_forged_ones_leave_no_trace() {
    let Setup {
        dir,
        dt,
        wc,
        port,
        config,
    } = setup(DtOptions {
        qps_limit: None,
        ..DtOptions::default()
    })
    .await;
    let server = serve(&config, port).await;
    let store = open_store(dir.path()).await;
    let dt_url = format!("{}/webhooks/dt", server.url);
    let user = dt.user_ids()[0].clone();
    let event = dt.user_event("user_modify_org", &[user.as_str()]);

    // forged: tampered body, tampered signature, another key, replayed outside the window
    let mut tampered_body = dt.delivery(&event);
    let body = String::from_utf8(tampered_body.body.clone()).unwrap();
    let flipped = body.replacen("\"encrypt\":\"", "\"encrypt\":\"A", 1);
    tampered_body.body = flipped.into_bytes();
    let mut tampered_signature = dt.delivery(&event);
    tampered_signature
        .query
        .insert("msg_signature".into(), "0".repeat(40));
    let d = dt.options();
    let other_key = CallbackCrypto::new(
        &d.webhook_token,
        "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG",
        &d.app_key,
    )
    .unwrap();
    let wrong_key = signed_delivery(
        &other_key,
        event.to_string().as_bytes(),
        &(chrono::Utc::now().timestamp_millis()).to_string(),
        "nonce123",
    );
    // signed with another token (the right EncodingAESKey)
    let other_token =
        CallbackCrypto::new("anothertoken42", &d.webhook_aes_key, &d.app_key).unwrap();
    let wrong_token = signed_delivery(
        &other_token,
        event.to_string().as_bytes(),
        &(chrono::Utc::now().timestamp_millis()).to_string(),
        "nonce789",
    );
    // correctly signed, outside the 300 s window: past (a replay) and future
    let stale_ts = ((chrono::Utc::now().timestamp() - 600) * 1000).to_string();
    let replayed = dt.delivery_at(&event, &stale_ts, "nonce456");
    let future_ts = (chrono::Utc::now().timestamp() + 600).to_string();
    let future = dt.delivery_at(&event, &future_ts, "nonce457");
    for (what, request) in [
        ("body", &tampered_body),
        ("signature", &tampered_signature),
        ("key", &wrong_key),
        ("token", &wrong_token),
        ("replay", &replayed),
        ("future", &future),
    ] {
        let res = post(&dt_url, request).await;
        assert!(
            matches!(res.status().as_u16(), 401 | 403),
            "{what}: {}",
            res.status()
        );
        assert_eq!(
            res.headers()["content-type"],
            "application/problem+json",
            "{what}"
        );
    }
    assert_eq!(
        events(&store, "dt").await,
        0,
        "refused deliveries store nothing"
    );
    assert!(store.runs(Some("dt"), None, 10).await.unwrap().is_empty());

    // genuine: accepted with the encrypted success, landed once however often it comes
    dt.set_title(&user, "Team Lead");
    for _ in 0..3 {
        let res = post(&dt_url, &dt.delivery(&event)).await;
        assert_eq!(res.status(), 200);
        let reply: serde_json::Value = res.json().await.unwrap();
        assert!(dt.reply_is_success(&reply), "{reply}");
        assert_eq!(events(&store, "dt").await, 1);
    }
    let mut refetched = false;
    for _ in 0..50 {
        let runs = store.runs(Some("dt"), Some("users"), 10).await.unwrap();
        if runs
            .iter()
            .any(|r| r.status == hrhub_model::RunStatus::Succeeded)
        {
            assert_eq!(
                runs.len(),
                1,
                "one re-fetch for one event delivered three times"
            );
            refetched = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(refetched, "the event's re-fetch did not run");
    let employees = store
        .entity_rows(hrhub_model::EntityKind::Employee, 0, 10)
        .await
        .unwrap();
    assert_eq!(employees.len(), 1);
    assert_eq!(employees[0]["title"], "Team Lead");

    // WeCom: URL verification, a genuine callback, a forged one
    let wc_url = format!("{}/webhooks/wc", server.url);
    let verify = wc.callback_get("echo-1234");
    let res = reqwest::Client::new()
        .get(&wc_url)
        .query(&verify.query.iter().collect::<Vec<_>>())
        .send()
        .await
        .unwrap();
    assert_eq!(res.text().await.unwrap(), "echo-1234");
    let wc_user = wc.userids()[0].clone();
    let xml = wc.change_contact_xml("update_user", &wc_user, chrono::Utc::now().timestamp());
    let mut forged = wc.callback_post(&xml);
    forged.query.insert("msg_signature".into(), "f".repeat(40));
    assert_eq!(post(&wc_url, &forged).await.status(), 401);
    let stale = wc.callback_post_at(&xml, chrono::Utc::now().timestamp() - 3_600);
    assert_eq!(post(&wc_url, &stale).await.status(), 401);
    let future = wc.callback_post_at(&xml, chrono::Utc::now().timestamp() + 3_600);
    assert_eq!(post(&wc_url, &future).await.status(), 401);
    // sealed with another EncodingAESKey, signed with the right token
    let w = wc.options();
    let other_key = CallbackCrypto::new(
        &w.callback_token,
        "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG",
        &w.corp_id,
    )
    .unwrap();
    let mut wrong_key = wc.callback_post(&xml);
    let encrypted = other_key.encrypt(xml.as_bytes());
    let timestamp = wrong_key.query["timestamp"].clone();
    let nonce = wrong_key.query["nonce"].clone();
    wrong_key.query.insert(
        "msg_signature".into(),
        other_key.signature(&timestamp, &nonce, &encrypted),
    );
    wrong_key.body = format!(
        "<xml><ToUserName><![CDATA[{}]]></ToUserName><Encrypt><![CDATA[{encrypted}]]></Encrypt></xml>",
        w.corp_id
    )
    .into_bytes();
    assert_eq!(post(&wc_url, &wrong_key).await.status(), 401);
    assert_eq!(events(&store, "wc").await, 0);
    let res = post(&wc_url, &wc.callback_post(&xml)).await;
    assert_eq!(res.status(), 200);
    assert_eq!(res.text().await.unwrap(), "success");
    assert_eq!(events(&store, "wc").await, 1);
}

/// Peak resident memory of a process (VmHWM), in MiB.
fn peak_rss_mib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let kib: u64 = status
        .lines()
        .find(|l| l.starts_with("VmHWM:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap();
    kib / 1024
}

/// Issue 6, item 8: oversized, deeply nested, non-UTF-8 and entity-bomb
/// deliveries are refused (4xx, problem+json) with bounded memory, nothing
/// is stored, and the process keeps serving — including when the hostile
/// content is correctly signed and encrypted, so it reaches the parser.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_deliveries_are_refused_with_bounded_memory() {
    let Setup {
        dir,
        dt,
        wc,
        port,
        config,
    } = setup(DtOptions::default()).await;
    let server = serve(&config, port).await;
    let store = open_store(dir.path()).await;
    let dt_url = format!("{}/webhooks/dt", server.url);
    let wc_url = format!("{}/webhooks/wc", server.url);
    let d = dt.options();
    let crypto = CallbackCrypto::new(&d.webhook_token, &d.webhook_aes_key, &d.app_key).unwrap();
    let now_ms = || chrono::Utc::now().timestamp_millis().to_string();
    let deep = format!("{}1{}", "[".repeat(10_000), "]".repeat(10_000));
    let deep_object = format!("{}{}", "{\"a\":".repeat(10_000), "}".repeat(10_000));
    let bomb = r#"<?xml version="1.0"?>
<!DOCTYPE lolz [<!ENTITY lol "lolololololololololol">
<!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
<!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
<!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
<!ENTITY lol5 "&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;">
<!ENTITY lol6 "&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;">
<!ENTITY lol7 "&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;">
<!ENTITY lol8 "&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;">
<!ENTITY lol9 "&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;">
]>
<xml><ToUserName>&lol9;</ToUserName><Event>&lol9;</Event><ChangeType>update_user</ChangeType><UserID>&lol9;</UserID></xml>"#;

    let mut cases: Vec<(&str, String, PushRequest)> = vec![
        (
            "20 MB body",
            dt_url.clone(),
            PushRequest {
                body: vec![b'{'; 20 * 1024 * 1024],
                ..dt.delivery(&serde_json::json!({}))
            },
        ),
        (
            "outer JSON 10,000 deep",
            dt_url.clone(),
            PushRequest {
                body: deep.clone().into_bytes(),
                ..dt.delivery(&serde_json::json!({}))
            },
        ),
        (
            "invalid UTF-8",
            dt_url.clone(),
            PushRequest {
                body: vec![0xff, 0xfe, b'{', 0xc3, 0x28, b'}'],
                ..dt.delivery(&serde_json::json!({}))
            },
        ),
        (
            "signed event JSON 10,000 deep",
            dt_url.clone(),
            signed_delivery(&crypto, deep_object.as_bytes(), &now_ms(), "n1"),
        ),
        (
            "signed invalid UTF-8 event",
            dt_url.clone(),
            signed_delivery(&crypto, &[0xff, 0xfe, 0xc3, 0x28], &now_ms(), "n2"),
        ),
        (
            "entity bomb in the outer XML",
            wc_url.clone(),
            PushRequest {
                body: bomb.as_bytes().to_vec(),
                ..wc.callback_post("<xml/>")
            },
        ),
        (
            "signed entity bomb inside the encrypted XML",
            wc_url.clone(),
            wc.callback_post(bomb),
        ),
    ];
    for (what, url, request) in cases.drain(..) {
        let res = post(&url, &request).await;
        let status = res.status().as_u16();
        assert!(
            (400..500).contains(&status),
            "{what}: refused with a client error, got {status}"
        );
        assert_eq!(
            res.headers()["content-type"],
            "application/problem+json",
            "{what}"
        );
        let health = reqwest::get(format!("{}/healthz", server.url))
            .await
            .unwrap();
        assert_eq!(health.status(), 200, "still serving after: {what}");
    }
    assert_eq!(events(&store, "dt").await, 0, "nothing hostile stored");
    assert_eq!(events(&store, "wc").await, 0, "nothing hostile stored");
    let peak = peak_rss_mib(server.pid());
    assert!(
        peak < 150,
        "peak memory {peak} MiB: bodies are not buffered whole or expanded"
    );
}

/// Issue 6, item 11: the same event delivered several times at the same
/// moment (a retry racing the original) lands once and is re-fetched once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_same_event_sent_at_once_lands_once() {
    let Setup {
        dir,
        dt,
        port,
        config,
        ..
    } = setup(DtOptions {
        qps_limit: None,
        ..DtOptions::default()
    })
    .await;
    let server = serve(&config, port).await;
    let store = open_store(dir.path()).await;
    let url = format!("{}/webhooks/dt", server.url);
    let client = reqwest::Client::new();
    let users: Vec<String> = dt.user_ids().into_iter().take(10).collect();
    let events: Vec<_> = users
        .iter()
        .map(|u| dt.user_event("user_modify_org", &[u.as_str()]))
        .collect();
    // every event three times, all 30 deliveries in flight together
    let deliveries: Vec<_> = events
        .iter()
        .flat_map(|e| [dt.delivery(e), dt.delivery(e), dt.delivery(e)])
        .collect();
    let in_flight: Vec<_> = deliveries
        .into_iter()
        .map(|d| {
            let (client, url) = (client.clone(), url.clone());
            tokio::spawn(async move { post_delivery(&client, &url, &d).await })
        })
        .collect();
    for answer in in_flight {
        let answer = answer.await.unwrap().unwrap();
        assert_eq!(answer.status(), 200);
        let reply: serde_json::Value = answer.json().await.unwrap();
        assert!(
            dt.reply_is_success(&reply),
            "every copy is answered: {reply}"
        );
    }
    assert_eq!(events_held(&store, "dt").await, 10);
    let held = all_raw(&store, "dt", "events").await;
    let mut ids: Vec<&str> = held
        .iter()
        .map(|r| r.payload["eventId"].as_str().unwrap())
        .collect();
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids.len(), 10, "each event once");
    let metrics = client
        .get(format!("{}/metrics", server.url))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains("hrhub_webhook_deliveries_total{outcome=\"accepted\"} 10"),
        "{metrics}"
    );
    assert!(
        metrics.contains("hrhub_webhook_deliveries_total{outcome=\"duplicate\"} 20"),
        "{metrics}"
    );
    // one re-fetch per event, not per delivery
    let mut runs = Vec::new();
    for _ in 0..100 {
        runs = store.runs(Some("dt"), Some("users"), 100).await.unwrap();
        if runs.len() >= 10
            && runs
                .iter()
                .all(|r| r.status != hrhub_model::RunStatus::Running)
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(runs.len(), 10, "{runs:?}");
}

/// Issue 6, item 12: the hub is down while DingTalk pushes; the platform's
/// retries (10 s, 30 s; here virtual) fail, so the events go on its
/// failed-push list. The next sync drains the list (two per page here),
/// lands every missed event once (one the hub had stored before the
/// platform gave up on it stays one record), re-fetches what they name, and
/// ends with the store a polling sync reaches.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn missed_pushes_are_recovered_once_from_the_failed_push_list() {
    let Setup {
        dir,
        dt,
        wc,
        port,
        config,
    } = setup(DtOptions {
        qps_limit: None,
        users: 20,
        history_days: 7,
        delivery_retry_delays: vec![Duration::from_millis(50), Duration::from_millis(150)],
        failed_list_page_size: 2,
        ..DtOptions::default()
    })
    .await;
    let hook = format!("http://127.0.0.1:{port}/webhooks/dt");
    dt.set_callback_url(&hook);
    let out = hrhub(&config, &["sync", "--connector", "dt"]).await;
    assert!(out.status.success(), "{}", stdout(&out));
    // a hub that only polls, at the same moments (it syncs its baseline
    // now and again at the end, after the failed-push list was drained)
    let reference_dir = tempfile::tempdir().unwrap();
    let reference_config = write_push_config(reference_dir.path(), free_port(), &dt, &wc);
    let out = hrhub(&reference_config, &["sync", "--connector", "dt"]).await;
    assert!(out.status.success(), "{}", stdout(&out));

    // The hub stores one event, but DingTalk never counts its reply (as
    // when it comes after the deadline): the event is pushed and listed.
    let ids = dt.user_ids();
    let modified = ids[3].clone();
    assert!(dt.set_title(&modified, "客服组长"));
    let both_ways = dt.event(
        "user_modify_org",
        serde_json::json!({"diffInfo": {"userid": modified, "prev": {"title": "客服专员"}, "curr": {"title": "客服组长"}}}),
    );
    {
        let server = serve(&config, port).await;
        let res = post(
            &format!("{}/webhooks/dt", server.url),
            &dt.delivery(&both_ways),
        )
        .await;
        assert_eq!(res.status(), 200);
        // its re-fetch runs after the reply; a kill before it ends would
        // leave the change to the next poll (the event itself is held)
        let store = open_store(dir.path()).await;
        let mut refetched = false;
        for _ in 0..100 {
            let runs = store.runs(Some("dt"), Some("users"), 10).await.unwrap();
            if runs.iter().any(|r| {
                r.trigger == hrhub_model::RunTrigger::Webhook
                    && r.status == hrhub_model::RunStatus::Succeeded
            }) {
                refetched = true;
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        assert!(refetched, "the pushed event's re-fetch did not run");
    } // SIGKILL: the receiver is down from here on

    // changes DingTalk pushes while the receiver is down
    let added = dt.add_user(37_000_101);
    let leaving = ids[7].clone();
    assert!(dt.remove_user(&leaving));
    let punched = ids[1].clone();
    let day = dt.today() - chrono::Duration::days(1);
    let punch_ms = day
        .and_hms_opt(1, 2, 0)
        .unwrap()
        .and_utc()
        .timestamp_millis();
    let missed = [
        dt.user_event("user_add_org", &[added.as_str()]),
        dt.user_event("user_leave_org", &[leaving.as_str()]),
        dt.event(
            "org_dept_modify",
            serde_json::json!({"deptId": [37_000_101]}),
        ),
        dt.punch_event(&punched, punch_ms),
        dt.event(
            "bpms_instance_change",
            serde_json::json!({"processInstanceId": "pi-1", "type": "finish"}),
        ),
    ];
    for event in missed.iter().chain([&both_ways]) {
        let report = dt.emit(event).await;
        assert!(!report.accepted, "{report:?}");
        assert_eq!(
            report.statuses,
            vec![0, 0, 0],
            "first push and two retries refused"
        );
    }
    let listed = dt.failed_events();
    assert_eq!(listed.len(), 6, "{listed:?}");
    assert!(listed.iter().all(|e| e.get("eventId").is_none()));

    // DingTalk lists them a few minutes later; then the hub runs a sync
    // of one stream: the drain comes first
    dt.advance(180);
    dt.clear_requests();
    let out = hrhub(
        &config,
        &["sync", "--connector", "dt", "--stream", "departments"],
    )
    .await;
    assert!(out.status.success(), "{}", stdout(&out));
    assert!(
        stdout(&out).contains("dt/events: fetched 6 unchanged 1 upserted 5"),
        "{}",
        stdout(&out)
    );
    assert_eq!(
        dt.calls_to(hrhub_dingtalk::push::FAILED_LIST_PATH),
        3,
        "three pages of two"
    );
    assert!(dt.failed_events().is_empty(), "handed out, so removed");
    let store = open_store(dir.path()).await;
    let held = all_raw(&store, "dt", "events").await;
    assert_eq!(held.len(), 6, "every missed event once");
    let mut keys: Vec<String> = missed
        .iter()
        .chain([&both_ways])
        .map(hrhub_dingtalk::push::event_id)
        .collect();
    keys.sort();
    let mut got: Vec<String> = held.iter().map(|r| r.external_id.clone()).collect();
    got.sort();
    assert_eq!(got, keys);
    let kept = held
        .iter()
        .find(|r| r.external_id == hrhub_dingtalk::push::event_id(&both_ways))
        .unwrap();
    assert_eq!(kept.payload, both_ways, "the pushed copy is kept");

    // what the missed events named is in the store already, before any
    // poll of users
    let employees = all_rows(&store, hrhub_model::EntityKind::Employee).await;
    let by_key = |k: &str| {
        employees
            .iter()
            .find(|e| e["source_key"] == k)
            .unwrap_or_else(|| panic!("no employee {k}"))
    };
    assert_eq!(by_key(&added)["status"], "active");
    assert_eq!(by_key(&leaving)["status"], "left");
    assert_eq!(by_key(&modified)["title"], "客服组长");
    let recovered = snapshot(&store).await;

    // polling reconciliation: the recovered store is what polling reaches,
    // and a poll after the recovery changes nothing
    let out = hrhub(&reference_config, &["sync", "--connector", "dt"]).await;
    assert!(out.status.success(), "{}", stdout(&out));
    let reference = snapshot(&open_store(reference_dir.path()).await).await;
    let out = hrhub(&config, &["sync", "--connector", "dt"]).await;
    assert!(out.status.success(), "{}", stdout(&out));
    assert!(
        !stdout(&out).contains("dt/events"),
        "nothing left to recover"
    );
    let polled = snapshot(&store).await;
    for (((kind, r), (_, p)), (_, f)) in recovered.iter().zip(&polled).zip(&reference) {
        assert_same_rows(*kind, "recovered vs a store that only polled", r, f);
        assert_same_rows(*kind, "recovered vs polled after the recovery", r, p);
    }
}

/// Equal row lists, or a failure naming the first row that differs.
fn assert_same_rows(
    kind: hrhub_model::EntityKind,
    what: &str,
    a: &[serde_json::Map<String, serde_json::Value>],
    b: &[serde_json::Map<String, serde_json::Value>],
) {
    assert_eq!(a.len(), b.len(), "{kind}: {what}: row counts");
    if let Some((x, y)) = a.iter().zip(b).find(|(x, y)| x != y) {
        panic!("{kind}: {what}: rows differ:\n{x:?}\n{y:?}");
    }
}
