//! DingTalk's encrypted HTTP event push (reference §5).
//!
//! A delivery is `POST <url>?msg_signature=&timestamp=&nonce=` (older apps:
//! `signature=`) with body `{"encrypt": "<base64>"}`. [`DingTalkPush`]
//! verifies the SHA-1 signature first (constant time), then the timestamp
//! window (`webhook.max_age_secs`; seconds or milliseconds), then decrypts
//! (AES-256-CBC, owner key = `webhook.app_key`, default the app key) with
//! the shared [`CallbackCrypto`], and parses the event JSON.
//!
//! Every accepted delivery is answered with the encrypted `success`:
//! `{"msg_signature","timeStamp","nonce","encrypt"}` (capital S).
//!
//! | `EventType` | outcome |
//! |---|---|
//! | `check_url`, `check_create_suite_url`, `check_update_suite_url` | [`PushOutcome::Handshake`]: reply only, nothing stored |
//! | `user_add_org`, `user_modify_org`, `user_active_org` | refetch `users` by the event's user ids |
//! | `user_leave_org` | refetch `users`: a leaver is unknown to `user/get` (60121), so the fetch finds them in `/v1.0/contact/empLeaveRecords` and returns them with `_left: true`, which the shipped mapping turns into `status = "left"`. The employee stays, marked left, rather than being deleted: the event carries no name, and a delete would remove the person HR still reports on. |
//! | `org_dept_create`, `org_dept_modify`, `org_dept_remove` | refetch `departments` by id (a removed one comes back as a delete) |
//! | `attendance_check_record` | refetch `attendance` with ids `userId:YYYY-MM-DD` (local date of each punch): the punch event has no result, `/attendance/list` does |
//! | `attend_bossCheck_change` | refetch `attendance` `userId:workDate` |
//! | anything else | landed as an event only |
//!
//! The event itself is a record of stream `events` keyed by its `eventId`
//! (retries re-send the same id, so a duplicate lands once); an event
//! without one is keyed `<EventType>:<first 16 hex of sha256(event JSON)>`,
//! equally stable across retries.

use crate::config::DingTalkWebhook;
use crate::org;
use chrono_tz::Tz;
use hrhub_connector::callback_crypto::{check_timestamp, random_nonce, CallbackCrypto};
use hrhub_connector::{
    ConnectorError, PushError, PushOutcome, PushReply, PushRequest, PushSource, Refetch,
};
use hrhub_model::RawRecord;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use std::collections::BTreeSet;
use std::time::Duration;

/// The receiver for one app's HTTP push.
pub struct DingTalkPush {
    crypto: CallbackCrypto,
    max_age: Duration,
    tz: Tz,
}

impl std::fmt::Debug for DingTalkPush {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DingTalkPush")
            .field("crypto", &self.crypto)
            .field("max_age", &self.max_age)
            .finish()
    }
}

const HANDSHAKES: [&str; 3] = [
    "check_url",
    "check_create_suite_url",
    "check_update_suite_url",
];
const USER_EVENTS: [&str; 4] = [
    "user_add_org",
    "user_modify_org",
    "user_active_org",
    "user_leave_org",
];
const DEPT_EVENTS: [&str; 3] = ["org_dept_create", "org_dept_modify", "org_dept_remove"];

impl DingTalkPush {
    pub fn new(webhook: &DingTalkWebhook, app_key: &str, tz: Tz) -> Result<Self, ConnectorError> {
        Ok(DingTalkPush {
            crypto: webhook.crypto(app_key)?,
            max_age: webhook.max_age(),
            tz,
        })
    }

    /// The encrypted `success` every accepted delivery is answered with.
    pub fn success_reply(&self, timestamp: &str) -> PushReply {
        let nonce = random_nonce();
        let encrypt = self.crypto.encrypt(b"success");
        let signature = self.crypto.signature(timestamp, &nonce, &encrypt);
        PushReply::json(&json!({
            "msg_signature": signature,
            "timeStamp": timestamp,
            "nonce": nonce,
            "encrypt": encrypt,
        }))
    }

    /// Verifies and decrypts a delivery into the event JSON.
    pub fn open(&self, request: &PushRequest) -> Result<Value, PushError> {
        if !request.method.eq_ignore_ascii_case("POST") {
            return Err(PushError::Malformed(format!(
                "DingTalk pushes with POST, got {}",
                request.method
            )));
        }
        let param = |names: &[&str]| {
            names
                .iter()
                .find_map(|n| request.query.get(*n))
                .map(String::as_str)
                .unwrap_or("")
        };
        let signature = param(&["msg_signature", "signature"]);
        let timestamp = param(&["timestamp"]);
        let nonce = param(&["nonce"]);
        if signature.is_empty() {
            return Err(PushError::Signature(
                "query parameter msg_signature (or signature) is missing".into(),
            ));
        }
        if timestamp.is_empty() || nonce.is_empty() {
            return Err(PushError::Signature(
                "query parameters timestamp and nonce are required".into(),
            ));
        }
        let body: Value = serde_json::from_slice(&request.body)
            .map_err(|e| PushError::Malformed(format!("body is not JSON: {e}")))?;
        let encrypt = body
            .get("encrypt")
            .and_then(Value::as_str)
            .ok_or_else(|| PushError::Malformed("body has no `encrypt` string".into()))?;
        self.crypto.verify(timestamp, nonce, encrypt, signature)?;
        check_timestamp(timestamp, request.received_at, self.max_age)?;
        let plain = self.crypto.decrypt(encrypt)?;
        let event: Value = serde_json::from_slice(&plain)
            .map_err(|e| PushError::Malformed(format!("decrypted event is not JSON: {e}")))?;
        if !event.is_object() {
            return Err(PushError::Malformed(
                "decrypted event is not a JSON object".into(),
            ));
        }
        Ok(event)
    }
}

/// `EventType` (HTTP push), or `eventType` (Stream-style bodies).
fn event_type(event: &Value) -> &str {
    event
        .get("EventType")
        .or_else(|| event.get("eventType"))
        .and_then(Value::as_str)
        .unwrap_or("")
}

/// The event's id for de-duplication (see the module docs).
pub fn event_id(event: &Value) -> String {
    for key in ["eventId", "EventId", "event_id"] {
        if let Some(id) = event
            .get(key)
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
        {
            return id.to_string();
        }
    }
    // serde_json's map is ordered, so the serialization is canonical.
    let digest = Sha256::digest(event.to_string().as_bytes());
    format!("{}:{}", event_type(event), &hex::encode(digest)[..16])
}

/// Strings from a value that is a string, a number, or an array of them.
fn ids_in(v: Option<&Value>, out: &mut BTreeSet<String>) {
    match v {
        Some(Value::String(s)) if !s.is_empty() => {
            out.insert(s.clone());
        }
        Some(Value::Number(n)) => {
            out.insert(n.to_string());
        }
        Some(Value::Array(items)) => {
            for item in items {
                ids_in(Some(item), out);
            }
        }
        _ => {}
    }
}

fn user_ids(event: &Value) -> BTreeSet<String> {
    let mut ids = BTreeSet::new();
    for key in ["userId", "UserId", "userid"] {
        ids_in(event.get(key), &mut ids);
    }
    // user_modify_org: diffInfo {prev, curr, userid} (or a list of them)
    let diffs = match event.get("diffInfo") {
        Some(Value::Array(items)) => items.iter().collect(),
        Some(d @ Value::Object(_)) => vec![d],
        _ => Vec::new(),
    };
    for d in diffs {
        for key in ["userid", "userId"] {
            ids_in(d.get(key), &mut ids);
        }
    }
    ids
}

impl DingTalkPush {
    /// What an event asks to re-read (see the module docs).
    fn refetch(&self, kind: &str, event: &Value) -> Vec<Refetch> {
        let refetch = |stream: &str, ids: BTreeSet<String>| {
            if ids.is_empty() {
                Vec::new()
            } else {
                vec![Refetch {
                    stream: stream.into(),
                    ids: ids.into_iter().collect(),
                }]
            }
        };
        if USER_EVENTS.contains(&kind) {
            return refetch("users", user_ids(event));
        }
        if DEPT_EVENTS.contains(&kind) {
            let mut ids = BTreeSet::new();
            for key in ["deptId", "DeptId"] {
                ids_in(event.get(key), &mut ids);
            }
            return refetch("departments", ids);
        }
        match kind {
            "attendance_check_record" => {
                let mut ids = BTreeSet::new();
                for punch in event
                    .get("dataList")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                {
                    let user = punch.get("userId").and_then(Value::as_str);
                    let date = org::int(punch.get("checkTime"))
                        .and_then(|ms| org::local_date(ms, self.tz));
                    if let (Some(user), Some(date)) = (user, date) {
                        ids.insert(format!("{user}:{date}"));
                    }
                }
                refetch("attendance", ids)
            }
            "attend_bossCheck_change" => {
                let user = event
                    .get("userId")
                    .or_else(|| event.get("UserId"))
                    .and_then(Value::as_str);
                let date = event
                    .get("workDate")
                    .and_then(Value::as_str)
                    .and_then(|d| d.get(..10));
                match (user, date) {
                    (Some(u), Some(d)) => {
                        refetch("attendance", BTreeSet::from([format!("{u}:{d}")]))
                    }
                    _ => Vec::new(),
                }
            }
            _ => Vec::new(),
        }
    }
}

impl PushSource for DingTalkPush {
    fn receive(&self, request: &PushRequest) -> Result<PushOutcome, PushError> {
        let event = self.open(request)?;
        // The Java library answers with the current time in milliseconds.
        let reply = self.success_reply(&request.received_at.timestamp_millis().to_string());
        let kind = event_type(&event).to_string();
        if HANDSHAKES.contains(&kind.as_str()) {
            return Ok(PushOutcome::Handshake(reply));
        }
        if kind.is_empty() {
            return Err(PushError::Malformed(
                "decrypted event has no EventType".into(),
            ));
        }
        let refetch = self.refetch(&kind, &event);
        let mut record = RawRecord::upsert("events", event_id(&event), event);
        record.observed_at = request.received_at;
        tracing::debug!(event = %kind, id = %record.external_id, refetch = refetch.len(), "dingtalk: event received");
        Ok(PushOutcome::Event {
            event: record,
            records: Vec::new(),
            refetch,
            reply,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_from_user_events() {
        let e = json!({"EventType": "user_modify_org", "diffInfo": {"userid": "u2", "prev": {}, "curr": {}}, "userId": ["u1"]});
        assert_eq!(user_ids(&e).into_iter().collect::<Vec<_>>(), ["u1", "u2"]);
        let e = json!({"EventType": "x", "UserId": "u3"});
        assert_eq!(user_ids(&e).into_iter().collect::<Vec<_>>(), ["u3"]);
    }

    #[test]
    fn event_ids_are_stable() {
        let a = json!({"EventType": "user_add_org", "userId": ["1"], "TimeStamp": "1"});
        let b = json!({"TimeStamp": "1", "userId": ["1"], "EventType": "user_add_org"});
        assert_eq!(event_id(&a), event_id(&b));
        assert!(event_id(&a).starts_with("user_add_org:"));
        assert_eq!(event_id(&json!({"eventId": "abc"})), "abc");
    }
}
