//! DingTalk's HTTP event push receiver (`hrhub_dingtalk::DingTalkPush`),
//! configured with the DV1 credentials, the clock at the vector's time.
//!
//! First line:
//! - `raw <METHOD> <query string>`: the rest is the body, delivered as is
//!   (the seed is the real signed DV1 delivery).
//! - `sealed`: the rest is the event JSON; the target encrypts and signs
//!   it as DingTalk would, so it reaches decryption, event parsing and the
//!   refetch rules. A sealed delivery is never refused as forged or stale,
//!   and the same delivery twice is the same event.
#![no_main]

use hrhub_connector::{PushError, PushOutcome, PushSource};
use hrhub_dingtalk::{DingTalkPush, DingTalkWebhook};
use hrhub_fuzz::{dingtalk_vector as v, raw_request, received_at, request, seal, split_head};
use libfuzzer_sys::fuzz_target;
use std::sync::OnceLock;

fn receiver() -> &'static DingTalkPush {
    static PUSH: OnceLock<DingTalkPush> = OnceLock::new();
    PUSH.get_or_init(|| {
        let webhook = DingTalkWebhook {
            token: v::TOKEN.into(),
            aes_key: v::AES_KEY.into(),
            app_key: Some(v::RECEIVE_ID.into()),
            max_age_secs: None,
        };
        DingTalkPush::new(&webhook, "unused-app-key", chrono_tz::Asia::Shanghai).unwrap()
    })
}

/// What a delivery resolved to, without the reply (its nonce is random).
fn summary(outcome: &PushOutcome) -> String {
    match outcome {
        PushOutcome::Handshake(_) => "handshake".into(),
        PushOutcome::Event {
            event,
            records,
            refetch,
            ..
        } => format!(
            "{} {:?} {records:?} {refetch:?}",
            event.external_id, event.payload
        ),
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((head, rest)) = split_head(data) else {
        return;
    };
    let now = received_at(v::TIMESTAMP);
    let push = receiver();
    if head == "sealed" {
        let (encrypt, query) = seal(&v::crypto(), rest, v::TIMESTAMP);
        let body = serde_json::json!({ "encrypt": encrypt })
            .to_string()
            .into_bytes();
        let delivery = request("POST", query, body, now);
        match push.receive(&delivery) {
            Ok(first) => {
                let again = push.receive(&delivery).expect("the same delivery again");
                assert_eq!(summary(&first), summary(&again));
            }
            Err(PushError::Malformed(_)) => {}
            Err(e) => panic!("a correctly sealed delivery was refused: {e}"),
        }
    } else if let Some(delivery) = raw_request(head, rest, now) {
        let _ = push.receive(&delivery);
    }
});
