//! Signed event pushes from the DingTalk and WeCom mocks into the real
//! `hrhub serve`: accepted ones land (once), refused ones leave no trace.

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
    reqwest::Client::new()
        .post(url)
        .query(&request.query.iter().collect::<Vec<_>>())
        .body(request.body.clone())
        .send()
        .await
        .unwrap()
}

async fn events(store: &dyn Store, connector: &str) -> i64 {
    store.holdings(connector, "events").await.unwrap().records
}

fn config(
    dir: &std::path::Path,
    port: u16,
    dt: &DingTalkMock,
    wc: &hrhub_wecom::mock::MockHandle,
) -> std::path::PathBuf {
    let (d, w) = (dt.options(), wc.options());
    let text = format!(
        r#"[store]
url = "sqlite://{db}"
[server]
listen = "127.0.0.1:{port}"

[[connector]]
id = "dt"
kind = "dingtalk"
base_url = "{dt_url}"
api_base_url = "{dt_url}"
app_key = "{dt_key}"
app_secret = "{dt_secret}"
[connector.webhook]
token = "{dt_token}"
aes_key = "{dt_aes}"

[[connector]]
id = "wc"
kind = "wecom"
base_url = "{wc_url}"
corp_id = "{wc_corp}"
secret = "{wc_secret}"
contacts_secret = "{wc_contacts}"
[connector.webhook]
token = "{wc_token}"
aes_key = "{wc_aes}"
"#,
        db = dir.join("hrhub.db").display(),
        dt_url = dt.base_url(),
        dt_key = d.app_key,
        dt_secret = d.app_secret,
        dt_token = d.webhook_token,
        dt_aes = d.webhook_aes_key,
        wc_url = wc.base_url(),
        wc_corp = w.corp_id,
        wc_secret = w.app_secret,
        wc_contacts = w.contacts_secret,
        wc_token = w.callback_token,
        wc_aes = w.callback_aes_key,
    );
    let path = dir.join("hrhub.toml");
    std::fs::write(&path, text).unwrap();
    path
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn signed_pushes_land_once_and_forged_ones_leave_no_trace() {
    let dir = tempfile::tempdir().unwrap();
    let dt = MockDingTalk::start(DtOptions {
        qps_limit: None,
        ..DtOptions::default()
    })
    .await;
    let wc = MockWeCom::start(WcOptions::default()).await;
    let port = free_port();
    let config = config(dir.path(), port, &dt, &wc);
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
    let stale_ts = ((chrono::Utc::now().timestamp() - 600) * 1000).to_string();
    let replayed = dt.delivery_at(&event, &stale_ts, "nonce456");
    for (what, request) in [
        ("body", &tampered_body),
        ("signature", &tampered_signature),
        ("key", &wrong_key),
        ("replay", &replayed),
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
    let dir = tempfile::tempdir().unwrap();
    let dt = MockDingTalk::start(DtOptions::default()).await;
    let wc = MockWeCom::start(WcOptions::default()).await;
    let port = free_port();
    let config = config(dir.path(), port, &dt, &wc);
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
