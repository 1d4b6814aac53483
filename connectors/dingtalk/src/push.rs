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
//! The event itself is a record of stream `events`, keyed so that a retry
//! and the same event fetched from the failed-push list are one record
//! ([`event_id`]): `<EventType>:<EventTime>:<digest of what happened>`.
//! The failed-push list carries no `eventId` (and names fields differently:
//! `userid`, `corpid`), so the key is built from what both forms share.
//!
//! **Missed pushes.** DingTalk retries a failed push after 10 s and 30 s,
//! then keeps the event on its failed-push list, served by
//! `GET /call_back/get_call_back_failed_result` (≤ 200 per call, repeat
//! while `has_more`; the events handed out are removed). [`DingTalkPush::recovered`]
//! turns an entry of that list into the event record a push would have
//! landed (its payload is the entry as DingTalk sent it) with the same
//! re-fetches.

use crate::config::DingTalkWebhook;
use crate::org;
use chrono_tz::Tz;
use hrhub_connector::callback_crypto::{check_timestamp, random_nonce, CallbackCrypto};
use hrhub_connector::{
    ConnectorError, MissedEvent, PushError, PushOutcome, PushReply, PushRequest, PushSource,
    Refetch,
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

/// The failed-push list (oapi, token in the query).
pub const FAILED_LIST_PATH: &str = "/call_back/get_call_back_failed_result";

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

/// Envelope fields (compared lower-cased): the push's and the failed-push
/// list's names for the event's type, time, organization and ids. Left
/// out of the digest, so both forms of one event digest alike.
const ENVELOPE: [&str; 8] = [
    "eventtype",
    "eventtime",
    "event_time",
    "call_back_tag",
    "corpid",
    "bizid",
    "eventid",
    "timestamp",
];

/// `EventTime` (ms), a number or a numeric string.
fn event_time(event: &Value) -> Option<i64> {
    org::int(event.get("EventTime").or_else(|| event.get("eventTime")))
}

/// `value` with every object key lower-cased (the failed-push list writes
/// `userid` where a push writes `userId`) and, at the top, the envelope
/// dropped; keys in sorted order (also were serde_json's `preserve_order`
/// ever switched on), so its serialization is canonical.
fn canonical(value: &Value, top: bool) -> Value {
    match value {
        Value::Object(map) => {
            let mut fields: Vec<(String, Value)> = map
                .iter()
                .map(|(k, v)| (k.to_lowercase(), v))
                .filter(|(k, _)| !(top && ENVELOPE.contains(&k.as_str())))
                .map(|(k, v)| (k, canonical(v, false)))
                .collect();
            fields.sort_by(|a, b| a.0.cmp(&b.0));
            Value::Object(fields.into_iter().collect())
        }
        Value::Array(items) => Value::Array(items.iter().map(|v| canonical(v, false)).collect()),
        other => other.clone(),
    }
}

fn digest16(value: &Value) -> String {
    let digest = Sha256::digest(value.to_string().as_bytes());
    hex::encode(digest)[..16].to_string()
}

/// The event's key for de-duplication (see the module docs): with an
/// `EventTime`, `<EventType>:<EventTime>:<digest of the canonical body>`,
/// the same for a push, its retries and its failed-push list entry; else
/// the `eventId`; else `<EventType>:<digest of the whole event>`.
pub fn event_id(event: &Value) -> String {
    let kind = event_type(event);
    if let Some(time) = event_time(event) {
        return format!("{kind}:{time}:{}", digest16(&canonical(event, true)));
    }
    for key in ["eventId", "EventId", "event_id"] {
        if let Some(id) = event
            .get(key)
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
        {
            return id.to_string();
        }
    }
    format!("{kind}:{}", digest16(event))
}

/// A failed-push list entry as the event a push would have carried:
/// `{"call_back_tag": T, "event_time": ms, T: {...}}` becomes
/// `{"EventType": T, "EventTime": ms, ...}`. The body under `T` is an
/// object (the Java SDK types it as a JSON string; both are read).
pub fn event_from_failed(entry: &Value) -> Value {
    let tag = entry
        .get("call_back_tag")
        .and_then(Value::as_str)
        .unwrap_or("");
    let mut event = match entry.get(tag) {
        Some(Value::Object(body)) => body.clone(),
        Some(Value::String(text)) => match serde_json::from_str(text) {
            Ok(Value::Object(body)) => body,
            _ => serde_json::Map::new(),
        },
        _ => serde_json::Map::new(),
    };
    event.insert("EventType".into(), json!(tag));
    if let Some(time) = entry.get("event_time").filter(|t| !t.is_null()) {
        event.insert("EventTime".into(), time.clone());
    }
    Value::Object(event)
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
            for key in ["deptId", "DeptId", "deptid"] {
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
                let user = ["userId", "UserId", "userid"]
                    .iter()
                    .find_map(|k| event.get(*k))
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

impl DingTalkPush {
    /// An entry of the failed-push list as the event record a push would
    /// have landed (same key, same re-fetches); the payload is the entry
    /// itself. `None` for verification events (nothing to keep).
    pub fn recovered(&self, entry: &Value) -> Option<MissedEvent> {
        let event = event_from_failed(entry);
        let kind = event_type(&event).to_string();
        if HANDSHAKES.contains(&kind.as_str()) {
            return None;
        }
        Some(MissedEvent {
            event: RawRecord::upsert("events", event_id(&event), entry.clone()),
            records: Vec::new(),
            refetch: self.refetch(&kind, &event),
        })
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

    #[test]
    fn a_push_and_its_failed_list_entry_share_the_key() {
        let pushed = json!({"EventType": "user_add_org", "EventTime": 1606126433000_i64,
            "CorpId": "ding1", "BizId": "16061", "eventId": "c7c7", "timeStamp": "1606126433000",
            "userId": ["zhangsan"]});
        // the reference's example entry, and the Java SDK's string-typed body
        let entry = json!({"user_add_org": {"userid": ["zhangsan"], "corpid": "ding1"},
            "call_back_tag": "user_add_org", "event_time": 1606126433000_i64});
        let string_body = json!({"user_add_org": "{\"userid\":[\"zhangsan\"]}",
            "call_back_tag": "user_add_org", "event_time": 1606126433000_i64, "corpid": "ding1"});
        let key = event_id(&pushed);
        assert!(key.starts_with("user_add_org:1606126433000:"), "{key}");
        assert_eq!(event_id(&event_from_failed(&entry)), key);
        assert_eq!(event_id(&event_from_failed(&string_body)), key);
        // another user, another time, another type: another event
        let mut other = pushed.clone();
        other["userId"] = json!(["lisi"]);
        assert_ne!(event_id(&other), key);
        other = pushed.clone();
        other["EventTime"] = json!(1606126433001_i64);
        assert_ne!(event_id(&other), key);
        other = pushed.clone();
        other["EventType"] = json!("user_leave_org");
        assert_ne!(event_id(&other), key);
        assert_eq!(user_ids(&event_from_failed(&entry)).len(), 1);
    }
}
