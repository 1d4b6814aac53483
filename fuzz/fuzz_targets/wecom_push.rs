//! WeCom's callback receiver (`hrhub_wecom::WeComPush`), configured with the
//! WV1 credentials, the clock at the vector's POST time.
//!
//! First line:
//! - `raw <METHOD> <query string>`: the rest is the body, delivered as is.
//!   The outer XML (or JSON) envelope is parsed before the signature is
//!   checked, so this reaches the XML reader with any body.
//! - `sealed` / `sealed-json`: the rest is the decrypted message (XML or
//!   JSON); the target encrypts and signs it and wraps it in WeCom's XML
//!   envelope (or the JSON variant's), so it reaches decryption, the inner
//!   XML and the event rules.
//! - `sealed-get`: the rest is sealed as the `echostr` of a URL
//!   verification; an accepted one answers exactly the plaintext.
//!
//! A sealed delivery is never refused as forged or stale, and the same
//! delivery twice is the same event.
#![no_main]

use hrhub_connector::{PushError, PushOutcome, PushSource};
use hrhub_fuzz::{raw_request, received_at, request, seal, split_head, wecom_vector as v};
use hrhub_wecom::WeComPush;
use libfuzzer_sys::fuzz_target;
use std::sync::OnceLock;
use std::time::Duration;

fn receiver() -> &'static WeComPush {
    static PUSH: OnceLock<WeComPush> = OnceLock::new();
    PUSH.get_or_init(|| WeComPush::new(v::crypto(), Duration::from_secs(300)))
}

fn summary(outcome: &PushOutcome) -> String {
    match outcome {
        PushOutcome::Handshake(reply) => format!("handshake {reply:?}"),
        PushOutcome::Event {
            event,
            records,
            refetch,
            reply,
        } => format!(
            "{} {:?} {:?} {refetch:?} {reply:?}",
            event.external_id,
            event.payload,
            records
                .iter()
                .map(|r| (&r.stream, &r.external_id, &r.payload, r.op))
                .collect::<Vec<_>>()
        ),
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((head, rest)) = split_head(data) else {
        return;
    };
    let now = received_at(v::TIMESTAMP);
    let push = receiver();
    let (method, body, query) = match head {
        "sealed" | "sealed-json" => {
            let (encrypt, query) = seal(&v::crypto(), rest, v::TIMESTAMP);
            let body = if head == "sealed" {
                format!(
                    "<xml><ToUserName><![CDATA[{}]]></ToUserName><AgentID><![CDATA[218]]></AgentID><Encrypt><![CDATA[{encrypt}]]></Encrypt></xml>",
                    v::RECEIVE_ID
                )
            } else {
                serde_json::json!({ "tousername": v::RECEIVE_ID, "encrypt": encrypt, "agentid": 218 })
                    .to_string()
            };
            ("POST", body, query)
        }
        "sealed-get" => {
            let (encrypt, mut query) = seal(&v::crypto(), rest, v::TIMESTAMP);
            query.insert("echostr".into(), encrypt);
            ("GET", String::new(), query)
        }
        _ => {
            if let Some(delivery) = raw_request(head, rest, now) {
                let _ = push.receive(&delivery);
            }
            return;
        }
    };
    let delivery = request(method, query, body.into_bytes(), now);
    match push.receive(&delivery) {
        Ok(first) => {
            if let PushOutcome::Handshake(reply) = &first {
                assert_eq!(reply.body, rest, "the handshake answers the plaintext");
            }
            let again = push.receive(&delivery).expect("the same delivery again");
            assert_eq!(summary(&first), summary(&again));
        }
        Err(PushError::Malformed(_)) => {}
        Err(e) => panic!("a correctly sealed delivery was refused: {e}"),
    }
});
