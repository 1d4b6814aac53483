//! HTTP event push: the reference's vectors, handshakes, events, refusals.

use chrono::{DateTime, TimeZone, Utc};
use hrhub_connector::callback_crypto::CallbackCrypto;
use hrhub_connector::retry::RetryPolicy;
use hrhub_connector::{
    HttpConfig, PushError, PushOutcome, PushReply, PushRequest, PushSource, Source,
};
use hrhub_dingtalk::mock::signed_delivery;
use hrhub_dingtalk::push::{event_id, FAILED_LIST_PATH};
use hrhub_dingtalk::{
    DingTalk, DingTalkConfig, DingTalkPush, DingTalkWebhook, MockDingTalk, MockHandle, MockOptions,
};
use serde_json::{json, Value};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

const DV_MSG: &str = r#"{"EventType":"check_create_suite_url","Random":"LPIdSnlF","TestSuiteKey":"suite4xxxxxxxxxxxxxxx"}"#;
const DV1_ENCRYPT: &str = "1a3NBxmCFwkCJvfoQ7WhJHB+iX3qHPsc9JbaDznE1i03peOk1LaOQoRz3+nlyGNhwmwJ3vDMG+OzrHMeiZI7gTRWVdUBmfxjZ8Ej23JVYa9VrYeJ5as7XM/ZpulX8NEQis44w53h1qAgnC3PRzM7Zc/D6Ibr0rgUathB6zRHP8PYrfgnNOS9PhSBdHlegK+AGGanfwjXuQ9+0pZcy0w9lQ==";
const DV2_ENCRYPT: &str = "5DJFWzjRNOQk+5GSZxW+VrFMDWCIidPjEjg3//gm5x556BedVi62rDj1F9uXU97a4jw1R4FACUv9RCpoDobNqxhxRB2YtW901k4KHbP1/wpFJ3xdLG0n0A8U1VhENg80zKJd+YROR0YMGum4WYuoXJ6J98vt0ihYeIFoapNddLML5MyNAGM9saSpkouDMSvD+iU14i7V8ix1ia1Tb9ogog==";

fn webhook(token: &str, aes_key: &str, app_key: Option<&str>) -> DingTalkWebhook {
    DingTalkWebhook {
        token: token.into(),
        aes_key: aes_key.into(),
        app_key: app_key.map(str::to_string),
        max_age_secs: None,
    }
}

fn dv_receiver() -> DingTalkPush {
    let w = webhook(
        "123456",
        "4g5j64qlyl3zvetqxz5jiocdr586fn2zvjpa8zls3ij",
        Some("suite4xxxxxxxxxxxxxxx"),
    );
    DingTalkPush::new(&w, "dingignored", chrono_tz::Asia::Shanghai).unwrap()
}

fn request(query: &[(&str, &str)], encrypt: &str, received_at: DateTime<Utc>) -> PushRequest {
    PushRequest {
        method: "POST".into(),
        query: query
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
        headers: HashMap::new(),
        body: json!({ "encrypt": encrypt }).to_string().into_bytes(),
        received_at,
    }
}

/// The instant of a millisecond timestamp string.
fn at_ms(ts: &str) -> DateTime<Utc> {
    Utc.timestamp_millis_opt(ts.parse().unwrap()).unwrap()
}

fn reply_json(reply: &PushReply) -> Value {
    assert_eq!(reply.status, 200);
    assert_eq!(reply.content_type, "application/json");
    serde_json::from_slice(&reply.body).unwrap()
}

/// The reply is the four-field JSON, signed and decrypting to "success".
fn assert_success(crypto: &CallbackCrypto, reply: &PushReply) {
    let v = reply_json(reply);
    let f = |k: &str| {
        v[k].as_str()
            .unwrap_or_else(|| panic!("reply without {k}: {v}"))
            .to_string()
    };
    crypto
        .verify(
            &f("timeStamp"),
            &f("nonce"),
            &f("encrypt"),
            &f("msg_signature"),
        )
        .unwrap();
    assert_eq!(crypto.decrypt(&f("encrypt")).unwrap(), b"success");
    assert_eq!(v.as_object().unwrap().len(), 4, "{v}");
}

#[test]
fn dv1_and_dv2_deliveries_verify_decrypt_and_answer_success() {
    let rx = dv_receiver();
    let crypto = CallbackCrypto::new(
        "123456",
        "4g5j64qlyl3zvetqxz5jiocdr586fn2zvjpa8zls3ij",
        "suite4xxxxxxxxxxxxxxx",
    )
    .unwrap();
    let ts = "1445827045067";
    for (sig, nonce, encrypt, param) in [
        (
            "5a65ceeef9aab2d149439f82dc191dd6c5cbe2c0",
            "nEXhMP4r",
            DV1_ENCRYPT,
            "msg_signature",
        ),
        (
            "bcf6dcefa4ce2dbaf7b0666c7264d46fd9aad4bd",
            "nEXhMP4r",
            DV2_ENCRYPT,
            "msg_signature",
        ),
        // older docs name the parameter `signature`
        (
            "5a65ceeef9aab2d149439f82dc191dd6c5cbe2c0",
            "nEXhMP4r",
            DV1_ENCRYPT,
            "signature",
        ),
    ] {
        let req = request(
            &[(param, sig), ("timestamp", ts), ("nonce", nonce)],
            encrypt,
            at_ms(ts),
        );
        assert_eq!(
            rx.open(&req).unwrap(),
            serde_json::from_str::<Value>(DV_MSG).unwrap()
        );
        // check_create_suite_url is a verification event: a handshake
        match rx.receive(&req).unwrap() {
            PushOutcome::Handshake(reply) => assert_success(&crypto, &reply),
            PushOutcome::Event { .. } => panic!("a handshake expected"),
        }
    }
    // negative vector: DV1 with nonce "xxxxx"
    let req = request(
        &[
            ("msg_signature", "5a65ceeef9aab2d149439f82dc191dd6c5cbe2c0"),
            ("timestamp", ts),
            ("nonce", "xxxxx"),
        ],
        DV1_ENCRYPT,
        at_ms(ts),
    );
    assert!(matches!(rx.receive(&req), Err(PushError::Signature(_))));
}

#[test]
fn dv3_success_reply_shape_is_what_we_send() {
    let w = webhook(
        "123456",
        "1234567890123456789012345678901234567890123",
        None,
    );
    let rx = DingTalkPush::new(&w, "dingsnotzck6pm5veliw", chrono_tz::Asia::Shanghai).unwrap();
    let crypto = CallbackCrypto::new(
        "123456",
        "1234567890123456789012345678901234567890123",
        "dingsnotzck6pm5veliw",
    )
    .unwrap();
    // the documented reply verifies with the checker used on ours
    let dv3 = PushReply::json(&json!({
        "msg_signature": "9a95a004dd16f5c307e849b994173f76aa26e5eb",
        "timeStamp": "1614767836",
        "nonce": "A7Co0cJLMzIDtMMI",
        "encrypt": "YvkvaGe4hQxd3VxRmEty0dVlnCOAqwf56xwTRHDHoOURqhalbmBJQk5FNcRk42Gl5T0YQXZNwpwWSm1xAFJ5ZA=="
    }));
    assert_success(&crypto, &dv3);
    let ours = rx.success_reply("1614767836");
    assert_success(&crypto, &ours);
    assert_eq!(reply_json(&ours)["timeStamp"], "1614767836");
    // a check_url sealed for the app (owner key = app key, the default)
    let req = signed_delivery(
        &crypto,
        br#"{"EventType":"check_url"}"#,
        &Utc::now().timestamp().to_string(),
        "n0nce",
    );
    match rx.receive(&req).unwrap() {
        PushOutcome::Handshake(reply) => assert_success(&crypto, &reply),
        PushOutcome::Event { .. } => panic!("check_url is a handshake"),
    }
}

async fn setup() -> (MockHandle, DingTalk) {
    let mock = MockDingTalk::start(MockOptions {
        qps_limit: None,
        delivery_retry_delays: vec![Duration::from_millis(20), Duration::from_millis(20)],
        ..MockOptions::default()
    })
    .await;
    let dt = connector(&mock, true);
    (mock, dt)
}

/// A connector reading `mock`, with its push settings when `webhook`.
fn connector(mock: &MockHandle, webhook: bool) -> DingTalk {
    let o = mock.options();
    let mut cfg = DingTalkConfig::new(&mock.base_url(), &o.app_key, &o.app_secret);
    cfg.requests_per_second = Some(2_000);
    cfg.webhook = webhook.then(|| mock.webhook_config());
    let http = HttpConfig {
        retry: RetryPolicy::fast(),
        ..HttpConfig::for_local_mocks()
    };
    DingTalk::new(cfg, http).unwrap()
}

fn event(
    outcome: PushOutcome,
) -> (
    hrhub_model::RawRecord,
    Vec<hrhub_connector::Refetch>,
    PushReply,
) {
    match outcome {
        PushOutcome::Event {
            event,
            records,
            refetch,
            reply,
        } => {
            assert!(records.is_empty());
            (event, refetch, reply)
        }
        PushOutcome::Handshake(_) => panic!("an event expected"),
    }
}

#[tokio::test]
async fn check_url_is_a_handshake_answered_with_encrypted_success() {
    let (mock, dt) = setup().await;
    let push = dt.push().expect("webhook configured");
    let req = mock.delivery(&json!({"EventType": "check_url"}));
    match push.receive(&req).unwrap() {
        PushOutcome::Handshake(reply) => assert!(mock.reply_is_success(&reply_json(&reply))),
        PushOutcome::Event { .. } => panic!("handshake expected"),
    }
}

#[tokio::test]
async fn user_events_ask_for_a_refetch_and_land_once() {
    let (mock, dt) = setup().await;
    let push = dt.push().unwrap();
    let added = mock.add_user(37_000_101);
    let e = mock.user_event("user_add_org", &[added.as_str()]);
    let first = mock.delivery(&e);
    let (record, refetch, reply) = event(push.receive(&first).unwrap());
    assert!(mock.reply_is_success(&reply_json(&reply)));
    assert_eq!(record.stream, "events");
    assert_eq!(record.external_id, event_id(&e));
    assert!(record
        .external_id
        .starts_with(&format!("user_add_org:{}:", e["EventTime"])));
    assert_eq!(record.payload, e);
    assert_eq!(refetch.len(), 1);
    assert_eq!(refetch[0].stream, "users");
    assert_eq!(refetch[0].ids, vec![added.clone()]);
    let fetched = dt.fetch(&refetch[0].stream, &refetch[0].ids).await.unwrap();
    assert_eq!(fetched.len(), 1);
    assert_eq!(fetched[0].payload["_department"], "一线客服");

    // a retry (new nonce and timestamp, same event) lands as the same record
    let again = mock.delivery(&e);
    let (dup, _, _) = event(push.receive(&again).unwrap());
    assert_eq!(dup.external_id, record.external_id);
    assert_eq!(dup.content_hash(), record.content_hash());

    // user_modify_org names the user inside diffInfo
    let user = mock.user_ids()[2].clone();
    assert!(mock.set_title(&user, "客服组长"));
    let e = mock.event(
        "user_modify_org",
        json!({"diffInfo": {"userid": user, "prev": {"title": "客服专员"}, "curr": {"title": "客服组长"}}}),
    );
    let (_, refetch, _) = event(push.receive(&mock.delivery(&e)).unwrap());
    assert_eq!(refetch[0].ids, vec![user.clone()]);
    let fetched = dt.fetch("users", &refetch[0].ids).await.unwrap();
    assert_eq!(fetched[0].payload["title"], "客服组长");
}

#[tokio::test]
async fn a_leaver_is_refetched_as_left() {
    let (mock, dt) = setup().await;
    let push = dt.push().unwrap();
    let leaving = mock.user_ids()[9].clone();
    assert!(mock.remove_user(&leaving));
    let e = mock.user_event("user_leave_org", &[leaving.as_str()]);
    let (_, refetch, _) = event(push.receive(&mock.delivery(&e)).unwrap());
    assert_eq!(refetch[0].stream, "users");
    let fetched = dt.fetch("users", &refetch[0].ids).await.unwrap();
    assert_eq!(fetched.len(), 1);
    assert_eq!(fetched[0].external_id, leaving);
    assert_eq!(fetched[0].op, hrhub_model::RecordOp::Upsert);
    assert_eq!(fetched[0].payload["_left"], true);
    assert!(fetched[0].payload["_left_at"]
        .as_str()
        .unwrap()
        .ends_with("+08:00"));
}

#[tokio::test]
async fn punches_ask_for_that_days_results() {
    let (mock, dt) = setup().await;
    let push = dt.push().unwrap();
    let user = mock.user_ids()[1].clone();
    // a punch at 09:03 local on the last generated day
    let day = mock.today() - chrono::Duration::days(1);
    let ms = chrono_tz::Asia::Shanghai
        .from_local_datetime(&day.and_hms_opt(9, 3, 0).unwrap())
        .unwrap()
        .timestamp_millis();
    let (_, refetch, _) = event(
        push.receive(&mock.delivery(&mock.punch_event(&user, ms)))
            .unwrap(),
    );
    assert_eq!(refetch[0].stream, "attendance");
    assert_eq!(refetch[0].ids, vec![format!("{user}:{day}")]);
    let fetched = dt.fetch("attendance", &refetch[0].ids).await.unwrap();
    assert!(fetched.iter().all(|r| r.payload["userId"] == user.as_str()));
    let want = mock.attendance_ids(day - chrono::Duration::days(1), day);
    let got: Vec<i64> = fetched
        .iter()
        .map(|r| r.external_id.parse().unwrap())
        .collect();
    assert!(got.iter().all(|id| want.contains(id)));

    // an admin's correction names the work date
    let e = mock.event(
        "attend_bossCheck_change",
        json!({"userId": user, "workDate": format!("{day} 00:00:00"), "planId": 1, "action": "attend_bossCheck_update"}),
    );
    let (_, refetch, _) = event(push.receive(&mock.delivery(&e)).unwrap());
    assert_eq!(refetch[0].ids, vec![format!("{user}:{day}")]);

    // other events are landed only
    let e = mock.event("chat_add_member", json!({"ChatId": "c1"}));
    let (record, refetch, _) = event(push.receive(&mock.delivery(&e)).unwrap());
    assert!(refetch.is_empty());
    assert!(record.external_id.starts_with("chat_add_member:"));
    // the key does not rest on the eventId (the failed-push list has none)
    let mut bare = e.clone();
    bare.as_object_mut().unwrap().remove("eventId");
    let (a, _, _) = event(push.receive(&mock.delivery(&bare)).unwrap());
    assert_eq!(a.external_id, record.external_id);
    // without an EventTime either: the digest of the whole event, stable
    bare.as_object_mut().unwrap().remove("EventTime");
    let (a, _, _) = event(push.receive(&mock.delivery(&bare)).unwrap());
    let (b, _, _) = event(push.receive(&mock.delivery(&bare)).unwrap());
    assert_eq!(a.external_id, b.external_id);
    assert!(a.external_id.starts_with("chat_add_member:"));
}

#[tokio::test]
async fn forged_stale_and_malformed_deliveries_are_refused() {
    let (mock, dt) = setup().await;
    let push = dt.push().unwrap();
    let e = mock.user_event("user_add_org", &["01260001"]);

    let mut bad = mock.delivery(&e);
    bad.query.insert("msg_signature".into(), "0".repeat(40));
    assert!(matches!(push.receive(&bad), Err(PushError::Signature(_))));
    let mut missing = mock.delivery(&e);
    missing.query.remove("msg_signature");
    assert!(matches!(
        push.receive(&missing),
        Err(PushError::Signature(_))
    ));
    let mut tampered = mock.delivery(&e);
    tampered.query.insert("nonce".into(), "other".into());
    assert!(matches!(
        push.receive(&tampered),
        Err(PushError::Signature(_))
    ));

    // sealed for another app: refused like a forgery
    let o = mock.options();
    let other =
        CallbackCrypto::new(&o.webhook_token, &o.webhook_aes_key, "dinganotherapp").unwrap();
    let now = Utc::now().timestamp().to_string();
    let foreign = signed_delivery(&other, e.to_string().as_bytes(), &now, "abc");
    assert!(matches!(
        push.receive(&foreign),
        Err(PushError::Signature(_))
    ));

    // correctly signed but old: seconds and milliseconds
    let old_s = (Utc::now().timestamp() - 3_600).to_string();
    let stale = mock.delivery_at(&e, &old_s, "n1");
    assert!(matches!(push.receive(&stale), Err(PushError::Stale(_))));
    let old_ms = ((Utc::now().timestamp() - 301) * 1000).to_string();
    assert!(matches!(
        push.receive(&mock.delivery_at(&e, &old_ms, "n2")),
        Err(PushError::Stale(_))
    ));
    let fresh_s = Utc::now().timestamp().to_string();
    assert!(push.receive(&mock.delivery_at(&e, &fresh_s, "n3")).is_ok());

    // verified but not JSON, not an event, or not a POST
    let crypto = CallbackCrypto::new(&o.webhook_token, &o.webhook_aes_key, &o.app_key).unwrap();
    let junk = signed_delivery(&crypto, b"not json", &fresh_s, "n4");
    assert!(matches!(push.receive(&junk), Err(PushError::Malformed(_))));
    let typeless = signed_delivery(&crypto, b"{\"a\":1}", &fresh_s, "n5");
    assert!(matches!(
        push.receive(&typeless),
        Err(PushError::Malformed(_))
    ));
    let mut body = mock.delivery(&e);
    body.body = b"{}".to_vec();
    assert!(matches!(push.receive(&body), Err(PushError::Malformed(_))));
    let mut get = mock.delivery(&e);
    get.method = "GET".into();
    assert!(matches!(push.receive(&get), Err(PushError::Malformed(_))));
}

#[tokio::test]
async fn the_mock_delivers_over_http_and_retries() {
    use axum::extract::{Query, State};
    use axum::routing::post;
    let (mock, dt) = setup().await;
    let dt = Arc::new(dt);
    let attempts = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    #[derive(Clone)]
    struct S(Arc<DingTalk>, Arc<std::sync::atomic::AtomicUsize>);
    async fn hook(
        State(S(dt, attempts)): State<S>,
        Query(query): Query<HashMap<String, String>>,
        body: axum::body::Bytes,
    ) -> (axum::http::StatusCode, String) {
        // the first attempt fails, as a store outage would
        if attempts.fetch_add(1, std::sync::atomic::Ordering::SeqCst) == 0 {
            return (axum::http::StatusCode::SERVICE_UNAVAILABLE, "later".into());
        }
        let req = PushRequest {
            method: "POST".into(),
            query,
            headers: HashMap::new(),
            body: body.to_vec(),
            received_at: Utc::now(),
        };
        match dt.push().unwrap().receive(&req) {
            Ok(PushOutcome::Event { reply, .. }) | Ok(PushOutcome::Handshake(reply)) => (
                axum::http::StatusCode::OK,
                String::from_utf8(reply.body).unwrap(),
            ),
            Err(e) => (
                axum::http::StatusCode::from_u16(e.http_status()).unwrap(),
                e.to_string(),
            ),
        }
    }
    let app = axum::Router::new()
        .route("/webhooks/dingtalk", post(hook))
        .with_state(S(dt.clone(), attempts.clone()));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!(
        "http://{}/webhooks/dingtalk",
        listener.local_addr().unwrap()
    );
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    let report = mock
        .deliver(&url, &mock.user_event("user_add_org", &["01260001"]))
        .await;
    assert!(report.accepted, "{report:?}");
    assert_eq!(report.attempts, 2);
    assert_eq!(report.statuses, vec![503, 200]);
    assert!(mock.failed_events().is_empty(), "delivered, so not kept");
}

/// A receiver that answers `success` too late: the hub has the event, but
/// DingTalk counts every attempt as failed and keeps the event.
#[tokio::test]
async fn a_reply_after_the_deadline_is_a_failed_attempt() {
    use axum::routing::post;
    let mock = MockDingTalk::start(MockOptions {
        qps_limit: None,
        delivery_retry_delays: vec![Duration::from_millis(10), Duration::from_millis(10)],
        delivery_deadline: Duration::from_millis(100),
        ..MockOptions::default()
    })
    .await;
    let hits = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let counted = hits.clone();
    let app = axum::Router::new().route(
        "/hook",
        post(move || {
            let counted = counted.clone();
            async move {
                counted.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                tokio::time::sleep(Duration::from_millis(400)).await;
                "{}"
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    mock.set_callback_url(&url);
    let e = mock.user_event("user_add_org", &["01260001"]);
    let report = mock.emit(&e).await;
    assert!(!report.accepted);
    assert_eq!(report.attempts, 3);
    assert_eq!(
        hits.load(std::sync::atomic::Ordering::SeqCst),
        3,
        "each attempt reached it"
    );
    assert_eq!(mock.failed_events().len(), 1);
}

/// What DingTalk gives up on goes on the failed-push list: token checked,
/// paged with `has_more`, removed as handed out; the connector turns each
/// entry into the event a push would have landed (same key, same
/// re-fetch).
#[tokio::test]
async fn missed_pushes_are_listed_and_drained_once() {
    let mock = MockDingTalk::start(MockOptions {
        qps_limit: None,
        delivery_retry_delays: vec![Duration::from_millis(10), Duration::from_millis(20)],
        failed_list_page_size: 2,
        ..MockOptions::default()
    })
    .await;
    let o = mock.options();
    let dt = connector(&mock, true);
    assert!(dt.keeps_missed_events());

    // nobody listens on the callback URL
    let dead = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let dead_url = format!("http://{}/webhooks/dt", dead.local_addr().unwrap());
    drop(dead);
    mock.set_callback_url(&dead_url);
    let users = mock.user_ids();
    let events = vec![
        mock.user_event("user_add_org", &[users[0].as_str()]),
        mock.user_event("user_leave_org", &[users[1].as_str()]),
        mock.event("org_dept_modify", json!({"deptId": [37_000_101]})),
        mock.event("bpms_task_change", json!({"processInstanceId": "p1"})),
        mock.event("check_url", json!({})),
    ];
    for e in &events {
        let r = mock.emit(e).await;
        assert!(!r.accepted);
        assert_eq!(r.statuses, vec![0, 0, 0], "a push and two retries");
    }
    let listed = mock.failed_events();
    assert_eq!(listed.len(), 4, "a verification event is not kept");
    let entry = &listed[0];
    assert_eq!(entry["call_back_tag"], "user_add_org");
    assert_eq!(entry["event_time"], events[0]["EventTime"]);
    assert_eq!(entry["user_add_org"]["userid"], json!([users[0]]));
    assert_eq!(entry["user_add_org"]["corpid"], o.corp_id.as_str());
    assert!(entry.get("eventId").is_none() && entry["user_add_org"].get("eventId").is_none());

    // the endpoint checks the token like every oapi call
    let http_client = reqwest::Client::new();
    let answer = |query: &'static str| {
        let url = format!("{}{FAILED_LIST_PATH}{query}", mock.base_url());
        let client = http_client.clone();
        async move {
            client
                .get(url)
                .send()
                .await
                .unwrap()
                .json::<Value>()
                .await
                .unwrap()
        }
    };
    assert_eq!(answer("").await["errcode"], 41001);
    assert_eq!(answer("?access_token=forged").await["errcode"], 40014);
    assert_eq!(
        mock.failed_events().len(),
        4,
        "refused calls hand out nothing"
    );

    // the connector reads two per call while has_more, once listed
    mock.advance(180);
    let mut batches = Vec::new();
    loop {
        let batch = dt.missed_events().await.unwrap();
        let more = batch.more;
        batches.push(batch);
        if !more {
            break;
        }
    }
    assert_eq!(
        batches.iter().map(|b| b.events.len()).collect::<Vec<_>>(),
        [2, 2]
    );
    assert_eq!(mock.calls_to(FAILED_LIST_PATH), 4);
    assert!(mock.failed_events().is_empty(), "handed out, so removed");
    let recovered: Vec<_> = batches.into_iter().flat_map(|b| b.events).collect();
    let push = dt.push().unwrap();
    for (missed, pushed) in recovered.iter().zip(&events) {
        // the key and re-fetch a push of the same event gets
        let (record, refetch, _) = event(push.receive(&mock.delivery(pushed)).unwrap());
        assert_eq!(missed.event.stream, "events");
        assert_eq!(missed.event.external_id, record.external_id);
        assert_eq!(missed.refetch, refetch);
    }
    assert_eq!(recovered[0].refetch[0].ids, vec![users[0].clone()]);
    assert_eq!(recovered[2].refetch[0].stream, "departments");
    assert!(recovered[3].refetch.is_empty());
    let empty = dt.missed_events().await.unwrap();
    assert!(empty.events.is_empty() && !empty.more);

    // an expired token is replaced once, as on every call
    mock.invalidate_tokens();
    assert!(dt.missed_events().await.is_ok());
    // a refusal the platform gives (no permission) is an error, not "nothing missed"
    mock.errcode_next(1, 60011);
    assert!(dt.missed_events().await.is_err());
    // without webhook settings, nothing to ask for
    let plain = connector(&mock, false);
    assert!(!plain.keeps_missed_events());
    mock.clear_requests();
    assert!(plain.missed_events().await.unwrap().events.is_empty());
    assert_eq!(mock.calls_to(FAILED_LIST_PATH), 0);
}

/// DingTalk lists a failed event only a few minutes after its last retry
/// (reference §5c: within about 3–5 min); until then the list is empty.
#[tokio::test]
async fn missed_pushes_are_listed_only_after_a_few_minutes() {
    let mock = MockDingTalk::start(MockOptions {
        qps_limit: None,
        delivery_retry_delays: vec![Duration::from_millis(10), Duration::from_millis(10)],
        ..MockOptions::default()
    })
    .await;
    let dt = connector(&mock, true);
    let users = mock.user_ids();
    // no callback URL registered: the event goes to the list at once
    mock.emit(&mock.user_event("user_add_org", &[users[0].as_str()]))
        .await;
    assert_eq!(mock.failed_events().len(), 1, "kept");
    let early = dt.missed_events().await.unwrap();
    assert!(early.events.is_empty() && !early.more, "not listed yet");
    mock.advance(179);
    assert!(dt.missed_events().await.unwrap().events.is_empty());
    mock.advance(1);
    assert_eq!(dt.missed_events().await.unwrap().events.len(), 1);
    assert!(mock.failed_events().is_empty(), "handed out, so removed");
}
