//! Callbacks: URL verification and encrypted events, as the mock (WeCom)
//! builds them, through the connector's push receiver.

use chrono::{TimeZone, Utc};
use hrhub_connector::callback_crypto::CallbackCrypto;
use hrhub_connector::retry::RetryPolicy;
use hrhub_connector::{
    HttpConfig, PushError, PushOutcome, PushRequest, PushSource, Refetch, Source,
};
use hrhub_model::RecordOp;
use hrhub_wecom::{
    MockHandle, MockOptions, MockWeCom, WeCom, WeComConfig, WeComPush, WeComWebhook,
};
use std::collections::HashMap;
use std::time::Duration;

async fn setup() -> (MockHandle, WeCom) {
    let mock = MockWeCom::start(MockOptions {
        users: 5,
        ..MockOptions::default()
    })
    .await;
    let o = mock.options();
    let mut c = WeComConfig::new(&mock.base_url(), &o.corp_id, &o.app_secret);
    c.webhook = Some(WeComWebhook {
        token: o.callback_token.clone(),
        aes_key: o.callback_aes_key.clone(),
        corp_id: None,
        max_age_secs: Some(300),
    });
    let w = WeCom::new(
        c,
        HttpConfig {
            retry: RetryPolicy::fast(),
            ..HttpConfig::for_local_mocks()
        },
    )
    .unwrap();
    (mock, w)
}

fn receive(w: &WeCom, request: &PushRequest) -> Result<PushOutcome, PushError> {
    w.push().expect("webhook configured").receive(request)
}

struct Event {
    event: hrhub_model::RawRecord,
    records: Vec<hrhub_model::RawRecord>,
    refetch: Vec<Refetch>,
    reply: hrhub_connector::PushReply,
}

fn event(outcome: PushOutcome) -> Event {
    match outcome {
        PushOutcome::Event {
            event,
            records,
            refetch,
            reply,
        } => Event {
            event,
            records,
            refetch,
            reply,
        },
        other => panic!("expected an event, got {other:?}"),
    }
}

#[tokio::test]
async fn url_verification_answers_the_plain_echostr() {
    let (mock, w) = setup().await;
    let outcome = receive(&w, &mock.callback_get("1616140317555161061")).unwrap();
    let PushOutcome::Handshake(reply) = outcome else {
        panic!("handshake expected")
    };
    assert_eq!(reply.status, 200);
    assert_eq!(
        reply.body, b"1616140317555161061",
        "exactly the plaintext, no newline"
    );
    assert!(reply.content_type.starts_with("text/plain"));

    // A `+` the server decoded to a space still verifies.
    for _ in 0..20 {
        let mut req = mock.callback_get("5927782489442352469");
        if req.query["echostr"].contains('+') {
            let spaced = req.query["echostr"].replace('+', " ");
            req.query.insert("echostr".into(), spaced);
            assert!(receive(&w, &req).is_ok());
            break;
        }
    }

    // Tampered: wrong signature.
    let mut req = mock.callback_get("x");
    req.query.insert("nonce".into(), "other".into());
    assert!(matches!(receive(&w, &req), Err(PushError::Signature(_))));
}

#[tokio::test]
async fn the_wecom_sample_vector_verifies_end_to_end() {
    // WV1 from the reference: GET verification and a text message POST.
    let crypto = CallbackCrypto::new(
        "QDG6eK",
        "jWmYm7qr5nMoAUwZRjGtBxmz3KA1tkAj3ykkR6q2B2C",
        "wx5823bf96d3bd56c7",
    )
    .unwrap();
    let push = WeComPush::new(crypto, Duration::from_secs(300));
    let get = PushRequest {
        method: "GET".into(),
        query: HashMap::from([
            ("msg_signature".into(), "5c45ff5e21c57e6ad56bac8758b79b1d9ac89fd3".into()),
            ("timestamp".into(), "1409659589".into()),
            ("nonce".into(), "263014780".into()),
            ("echostr".into(), "P9nAzCzyDtyTWESHep1vC5X9xho/qYX3Zpb4yKa9SKld1DsH3Iyt3tP3zNdtp+4RPcs8TgAE7OaBO+FZXvnaqQ==".into()),
        ]),
        headers: HashMap::new(),
        body: Vec::new(),
        received_at: Utc::now(),
    };
    let PushOutcome::Handshake(reply) = push.receive(&get).unwrap() else {
        panic!()
    };
    assert_eq!(reply.body, b"1616140317555161061");

    let post = PushRequest {
        method: "POST".into(),
        query: HashMap::from([
            ("msg_signature".into(), "477715d11cdb4164915debcba66cb864d751f3e6".into()),
            ("timestamp".into(), "1409659813".into()),
            ("nonce".into(), "1372623149".into()),
        ]),
        headers: HashMap::new(),
        body: b"<xml><ToUserName><![CDATA[wx5823bf96d3bd56c7]]></ToUserName>\n<AgentID><![CDATA[218]]></AgentID>\n<Encrypt><![CDATA[RypEvHKD8QQKFhvQ6QleEB4J58tiPdvo+rtK1I9qca6aM/wvqnLSV5zEPeusUiX5L5X/0lWfrf0QADHHhGd3QczcdCUpj911L3vg3W/sYYvuJTs3TUUkSUXxaccAS0qhxchrRYt66wiSpGLYL42aM6A8dTT+6k4aSknmPj48kzJs8qLjvd4Xgpue06DOdnLxAUHzM6+kDZ+HMZfJYuR+LtwGc2hgf5gsijff0ekUNXZiqATP7PF5mZxZ3Izoun1s4zG4LUMnvw2r+KqCKIw+3IQH03v+BCA9nMELNqbSf6tiWSrXJB3LAVGUcallcrw8V2t9EL4EhzJWrQUax5wLVMNS0+rUPA3k22Ncx4XXZS9o0MBH27Bo6BpNelZpS+/uh9KsNlY6bHCmJU9p8g7m3fVKn28H3KDYA5Pl/T8Z1ptDAVe0lXdQ2YoyyH2uyPIGHBZZIs2pDBS8R07+qN+E7Q==]]></Encrypt>\n</xml>".to_vec(),
        received_at: Utc.timestamp_opt(1409659813 + 10, 0).unwrap(),
    };
    let e = event(push.receive(&post).unwrap());
    assert_eq!(e.event.external_id, "msg:4561255354251345929");
    assert_eq!(e.event.payload["Content"], "hello");
    assert!(e.records.is_empty() && e.refetch.is_empty());
    assert_eq!(e.reply.body, b"success");

    // The same delivery a day later is a replay.
    let mut late = post.clone();
    late.received_at = Utc.timestamp_opt(1409659813 + 86_400, 0).unwrap();
    assert!(matches!(push.receive(&late), Err(PushError::Stale(_))));
}

#[tokio::test]
async fn user_create_and_update_refetch_the_user() {
    let (mock, w) = setup().await;
    let now = Utc::now().timestamp();
    let xml = mock.change_contact_xml("create_user", "zhangwei001", now);
    let e = event(receive(&w, &mock.callback_post(&xml)).unwrap());
    assert_eq!(e.event.stream, "events");
    let corp = mock.options().corp_id;
    assert_eq!(
        e.event.external_id,
        format!("{corp}:sys:{now}:change_contact:create_user:zhangwei001")
    );
    assert_eq!(e.event.payload["ChangeType"], "create_user");
    assert_eq!(e.event.payload["MainDepartment"], "3");
    assert_eq!(
        e.refetch,
        vec![Refetch {
            stream: "users".into(),
            ids: vec!["zhangwei001".into()]
        }]
    );
    assert!(e.records.is_empty());
    assert_eq!(e.reply.body, b"success");
    // The refetch works against the API.
    let fetched = w.fetch("users", &e.refetch[0].ids).await.unwrap();
    assert_eq!(fetched[0].external_id, "zhangwei001");

    let xml = mock.change_contact_xml("update_user", "zhangwei001", now + 1);
    let e = event(receive(&w, &mock.callback_post(&xml)).unwrap());
    assert_eq!(e.refetch[0].ids, vec!["zhangwei001"]);

    // A userid change: the old id is deleted, the new one fetched.
    let xml = format!(
        "<xml><ToUserName><![CDATA[{corp}]]></ToUserName><FromUserName><![CDATA[sys]]></FromUserName>\
         <CreateTime>{}</CreateTime><MsgType><![CDATA[event]]></MsgType><Event><![CDATA[change_contact]]></Event>\
         <ChangeType>update_user</ChangeType><UserID><![CDATA[old01]]></UserID><NewUserID><![CDATA[new01]]></NewUserID></xml>",
        now + 2
    );
    let e = event(receive(&w, &mock.callback_post(&xml)).unwrap());
    assert_eq!(e.records.len(), 1);
    assert_eq!(e.records[0].op, RecordOp::Delete);
    assert_eq!(e.records[0].external_id, "old01");
    assert_eq!(e.refetch[0].ids, vec!["new01"]);
}

#[tokio::test]
async fn delete_user_carries_a_delete_record() {
    let (mock, w) = setup().await;
    let xml = mock.change_contact_xml("delete_user", "lisi", Utc::now().timestamp());
    let e = event(receive(&w, &mock.callback_post(&xml)).unwrap());
    assert!(e.refetch.is_empty());
    assert_eq!(e.records.len(), 1);
    let r = &e.records[0];
    assert_eq!(
        (r.stream.as_str(), r.external_id.as_str(), r.op),
        ("users", "lisi", RecordOp::Delete)
    );
    assert_eq!(r.payload["userid"], "lisi");
}

#[tokio::test]
async fn department_events() {
    let (mock, w) = setup().await;
    let now = Utc::now().timestamp();
    let e = event(
        receive(
            &w,
            &mock.callback_post(&mock.change_contact_xml("create_party", "4", now)),
        )
        .unwrap(),
    );
    assert_eq!(
        e.refetch,
        vec![Refetch {
            stream: "departments".into(),
            ids: vec!["4".into()]
        }]
    );
    assert!(e.event.external_id.ends_with(":create_party:4"));
    let e = event(
        receive(
            &w,
            &mock.callback_post(&mock.change_contact_xml("delete_party", "6", now)),
        )
        .unwrap(),
    );
    assert_eq!(e.records[0].stream, "departments");
    assert_eq!(e.records[0].external_id, "6");
    assert_eq!(e.records[0].op, RecordOp::Delete);
    assert_eq!(e.records[0].payload["id"], 6);
}

#[tokio::test]
async fn duplicate_deliveries_share_the_dedupe_key_and_payload() {
    let (mock, w) = setup().await;
    let xml = mock.change_contact_xml("update_user", "zhangwei001", 1_705_280_833);
    let now = Utc::now().timestamp();
    // WeCom retries: new nonce, new encryption, maybe a new timestamp.
    let a = event(receive(&w, &mock.callback_post_at(&xml, now)).unwrap());
    let b = event(receive(&w, &mock.callback_post_at(&xml, now + 3)).unwrap());
    assert_eq!(a.event.external_id, b.event.external_id);
    assert_eq!(a.event.content_hash(), b.event.content_hash());
    // A different change at the same second is a different event.
    let other = mock.change_contact_xml("update_user", "lisi", 1_705_280_833);
    let c = event(receive(&w, &mock.callback_post(&other)).unwrap());
    assert_ne!(a.event.external_id, c.event.external_id);
}

#[tokio::test]
async fn bad_signatures_and_stale_timestamps_are_refused() {
    let (mock, w) = setup().await;
    let xml = mock.change_contact_xml("create_user", "zhangwei001", Utc::now().timestamp());

    let mut req = mock.callback_post(&xml);
    req.query.insert("msg_signature".into(), "0".repeat(40));
    assert!(matches!(receive(&w, &req), Err(PushError::Signature(_))));

    let mut req = mock.callback_post(&xml);
    req.query.remove("msg_signature");
    let err = receive(&w, &req).unwrap_err();
    assert!(matches!(err, PushError::Signature(_)) && err.http_status() == 401);

    // Body swapped under a valid signature.
    let other = mock.callback_post(&mock.change_contact_xml("delete_user", "x", 1));
    let mut req = mock.callback_post(&xml);
    req.body = other.body.clone();
    assert!(matches!(receive(&w, &req), Err(PushError::Signature(_))));

    // Signed correctly, but ten minutes old (a replay).
    let req = mock.callback_post_at(&xml, Utc::now().timestamp() - 600);
    let err = receive(&w, &req).unwrap_err();
    assert!(matches!(err, PushError::Stale(_)), "{err}");
    // ...or from the future
    let req = mock.callback_post_at(&xml, Utc::now().timestamp() + 600);
    assert!(matches!(receive(&w, &req), Err(PushError::Stale(_))));

    // Sealed for another corp (right token and key).
    let o = mock.options();
    let foreign =
        CallbackCrypto::new(&o.callback_token, &o.callback_aes_key, "wwsomeoneelse").unwrap();
    let ts = Utc::now().timestamp().to_string();
    let enc = foreign.encrypt(xml.as_bytes());
    let req = PushRequest {
        method: "POST".into(),
        query: HashMap::from([
            ("msg_signature".into(), foreign.signature(&ts, "n1", &enc)),
            ("timestamp".into(), ts),
            ("nonce".into(), "n1".into()),
        ]),
        headers: HashMap::new(),
        body: format!("<xml><Encrypt><![CDATA[{enc}]]></Encrypt></xml>").into_bytes(),
        received_at: Utc::now(),
    };
    assert!(matches!(receive(&w, &req), Err(PushError::Signature(_))));

    let mut req = mock.callback_post(&xml);
    req.method = "PUT".into();
    assert!(matches!(receive(&w, &req), Err(PushError::Malformed(_))));
}

/// A POST whose encrypted message is `inner`, correctly signed.
fn signed(mock: &MockHandle, outer: impl Fn(&str) -> String, inner: &str) -> PushRequest {
    let c = mock.crypto();
    let ts = Utc::now().timestamp().to_string();
    let enc = c.encrypt(inner.as_bytes());
    PushRequest {
        method: "POST".into(),
        query: HashMap::from([
            ("msg_signature".into(), c.signature(&ts, "nonce1", &enc)),
            ("timestamp".into(), ts),
            ("nonce".into(), "nonce1".into()),
        ]),
        headers: HashMap::new(),
        body: outer(&enc).into_bytes(),
        received_at: Utc::now(),
    }
}

#[tokio::test]
async fn doctype_and_entity_expansion_are_rejected() {
    let (mock, w) = setup().await;
    let plain_outer = |enc: &str| format!("<xml><Encrypt><![CDATA[{enc}]]></Encrypt></xml>");
    let bomb_outer = |enc: &str| {
        format!(
            "<?xml version=\"1.0\"?><!DOCTYPE xml [<!ENTITY a \"aaaaaaaaaa\"><!ENTITY b \"&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;\">]>\
             <xml><Encrypt><![CDATA[{enc}]]></Encrypt><X>&b;</X></xml>"
        )
    };
    let inner_ok = mock.change_contact_xml("create_user", "zhangwei001", Utc::now().timestamp());
    // Outer envelope with a DTD.
    let err = receive(&w, &signed(&mock, bomb_outer, &inner_ok)).unwrap_err();
    assert!(
        matches!(err, PushError::Malformed(_)) && err.to_string().contains("DOCTYPE"),
        "{err}"
    );
    // Inner (encrypted) message with a DTD / an external entity.
    let inner_bomb = "<!DOCTYPE xml [<!ENTITY lol \"lol\"><!ENTITY lol2 \"&lol;&lol;&lol;\">]><xml><ToUserName>x</ToUserName><Content>&lol2;</Content></xml>";
    let err = receive(&w, &signed(&mock, plain_outer, inner_bomb)).unwrap_err();
    assert!(matches!(err, PushError::Malformed(_)), "{err}");
    let inner_xxe =
        "<!DOCTYPE xml SYSTEM \"file:///etc/passwd\"><xml><Content>&xxe;</Content></xml>";
    assert!(matches!(
        receive(&w, &signed(&mock, plain_outer, inner_xxe)),
        Err(PushError::Malformed(_))
    ));
    // Undeclared entity without a DTD.
    let inner_ref = "<xml><Content>&xxe;</Content></xml>";
    assert!(matches!(
        receive(&w, &signed(&mock, plain_outer, inner_ref)),
        Err(PushError::Malformed(_))
    ));
    // Not XML at all.
    assert!(matches!(
        receive(&w, &signed(&mock, |_| "garbage".into(), "x")),
        Err(PushError::Malformed(_)) | Err(PushError::Signature(_))
    ));
}

#[tokio::test]
async fn the_json_callback_variant_is_understood() {
    let (mock, w) = setup().await;
    let inner = mock.change_contact_xml("delete_user", "lisi", Utc::now().timestamp());
    let req = signed(
        &mock,
        |enc| serde_json::json!({"tousername": "x", "encrypt": enc, "agentid": 218}).to_string(),
        &inner,
    );
    let e = event(receive(&w, &req).unwrap());
    assert_eq!(e.records[0].external_id, "lisi");
}

#[tokio::test]
async fn the_mock_delivers_over_http_with_retries() {
    // A tiny receiver that fails the first attempt, then accepts.
    use std::sync::atomic::{AtomicU32, Ordering};
    use std::sync::Arc;
    let (mock, _w) = setup().await;
    let hits = Arc::new(AtomicU32::new(0));
    let counter = hits.clone();
    let app = axum::Router::new().route(
        "/hook",
        axum::routing::post(move || {
            let counter = counter.clone();
            async move {
                if counter.fetch_add(1, Ordering::SeqCst) == 0 {
                    (axum::http::StatusCode::INTERNAL_SERVER_ERROR, "no")
                } else {
                    (axum::http::StatusCode::OK, "success")
                }
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let server = tokio::spawn(async move { axum::serve(listener, app).await });
    let xml = mock.change_contact_xml("create_user", "zhangwei001", Utc::now().timestamp());
    let status = mock
        .deliver(&format!("http://{addr}/hook"), &xml)
        .await
        .unwrap();
    assert_eq!(status, 200);
    assert_eq!(hits.load(Ordering::SeqCst), 2);
    server.abort();
}
