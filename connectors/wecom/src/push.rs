//! WeCom callbacks (reference §5): URL verification and encrypted event
//! deliveries, verified with [`CallbackCrypto`].
//!
//! - `GET ?msg_signature&timestamp&nonce&echostr`: the signature is checked
//!   over `echostr`, which is decrypted and sent back verbatim as
//!   `text/plain` ([`PushOutcome::Handshake`]). The timestamp window is not
//!   applied to the handshake (it stores nothing; a skewed clock would only
//!   make setup fail mysteriously).
//! - `POST ?msg_signature&timestamp&nonce` with `<xml>…<Encrypt>…</Encrypt></xml>`
//!   (or the JSON variant `{"encrypt": …}`): signature first (constant
//!   time), then the timestamp window (`max_age_secs`), then decryption
//!   (padding, length and receive id = corp id checked), then the inner XML
//!   (or JSON). Bodies with a `<!DOCTYPE` are refused; entities are never
//!   expanded. The reply is `success` as plain text.
//!
//! **Events.** WeCom events carry no event id. The event record (stream
//! `events`) is keyed for de-duplication, as WeCom advises: messages by
//! `msg:{MsgId}`; events by
//! `{ToUserName}:{FromUserName}:{CreateTime}:{Event}:{ChangeType}:{subject}`
//! where subject is `UserID` (user changes), `Id` (departments) or `TagId`,
//! empty parts kept as empty strings. A retried delivery decrypts to the
//! same text, so it lands as the same record with the same content and is
//! recognised as a duplicate. The payload is the decrypted message's
//! fields (as strings; nested elements as objects).
//!
//! | event | records | refetch |
//! |---|---|---|
//! | `change_contact` / `create_user`, `update_user` | — | `users`: `UserID` |
//! | `update_user` with `NewUserID` | delete of `users` UserID | `users`: `NewUserID` |
//! | `delete_user` | delete of `users` UserID (`{"userid"}`) | — |
//! | `create_party`, `update_party` | — | `departments`: `Id` |
//! | `delete_party` | delete of `departments` Id (`{"id"}`) | — |
//! | anything else | — | — (the event is kept) |

use crate::xml;
use hrhub_connector::callback_crypto::{check_timestamp, CallbackCrypto};
use hrhub_connector::{PushError, PushOutcome, PushReply, PushRequest, PushSource, Refetch};
use hrhub_model::{RawRecord, RecordOp};
use serde_json::{json, Map, Value};
use std::time::Duration;

/// Largest body accepted (WeCom events are a few KB).
const MAX_BODY: usize = 256 * 1024;

/// The push receiver of one WeCom connector.
#[derive(Debug)]
pub struct WeComPush {
    crypto: CallbackCrypto,
    max_age: Duration,
}

impl WeComPush {
    pub fn new(crypto: CallbackCrypto, max_age: Duration) -> Self {
        WeComPush { crypto, max_age }
    }

    fn param<'a>(request: &'a PushRequest, name: &str) -> Option<&'a str> {
        request
            .query
            .get(name)
            .map(String::as_str)
            .filter(|v| !v.is_empty())
    }

    fn signature_params(request: &PushRequest) -> Result<(&str, &str, &str), PushError> {
        let signature = Self::param(request, "msg_signature")
            .ok_or_else(|| PushError::Signature("msg_signature is missing".into()))?;
        let timestamp = Self::param(request, "timestamp")
            .ok_or_else(|| PushError::Signature("timestamp is missing".into()))?;
        let nonce = Self::param(request, "nonce")
            .ok_or_else(|| PushError::Signature("nonce is missing".into()))?;
        Ok((signature, timestamp, nonce))
    }

    fn verify_url(&self, request: &PushRequest) -> Result<PushOutcome, PushError> {
        let (signature, timestamp, nonce) = Self::signature_params(request)?;
        // A `+` that reached the server unencoded was decoded to a space.
        let echostr = Self::param(request, "echostr")
            .ok_or_else(|| PushError::Malformed("echostr is missing".into()))?
            .replace(' ', "+");
        self.crypto.verify(timestamp, nonce, &echostr, signature)?;
        let plain = self.crypto.decrypt(&echostr)?;
        let plain = String::from_utf8(plain)
            .map_err(|_| PushError::Malformed("echostr does not decrypt to UTF-8".into()))?;
        Ok(PushOutcome::Handshake(PushReply::text(plain)))
    }

    fn delivery(&self, request: &PushRequest) -> Result<PushOutcome, PushError> {
        let (signature, timestamp, nonce) = Self::signature_params(request)?;
        if request.body.len() > MAX_BODY {
            return Err(PushError::Malformed(format!(
                "body of {} bytes exceeds {MAX_BODY}",
                request.body.len()
            )));
        }
        let body = std::str::from_utf8(&request.body)
            .map_err(|_| PushError::Malformed("body is not UTF-8".into()))?
            .trim_start_matches('\u{feff}')
            .trim();
        let encrypted = outer_encrypt(body)?;
        self.crypto
            .verify(timestamp, nonce, &encrypted, signature)?;
        check_timestamp(timestamp, request.received_at, self.max_age)?;
        let plain = self.crypto.decrypt(&encrypted)?;
        let plain = String::from_utf8(plain)
            .map_err(|_| PushError::Malformed("message does not decrypt to UTF-8".into()))?;
        let fields = parse_message(&plain)?;
        Ok(event_outcome(fields, request))
    }
}

impl PushSource for WeComPush {
    fn receive(&self, request: &PushRequest) -> Result<PushOutcome, PushError> {
        match request.method.to_ascii_uppercase().as_str() {
            "GET" => self.verify_url(request),
            "POST" => self.delivery(request),
            other => Err(PushError::Malformed(format!(
                "WeCom callbacks are GET (verification) or POST, not {other}"
            ))),
        }
    }
}

/// The `Encrypt` text of an outer envelope (XML, or the JSON variant).
fn outer_encrypt(body: &str) -> Result<String, PushError> {
    if body.is_empty() {
        return Err(PushError::Malformed("empty body".into()));
    }
    let value = if body.starts_with('{') {
        let map: Map<String, Value> = serde_json::from_str(body)
            .map_err(|e| PushError::Malformed(format!("body is not JSON: {e}")))?;
        map.get("encrypt").or_else(|| map.get("Encrypt")).cloned()
    } else {
        let map = xml::parse(body).map_err(|e| PushError::Malformed(format!("body: {e}")))?;
        map.get("Encrypt").cloned()
    };
    match value {
        Some(Value::String(s)) if !s.trim().is_empty() => Ok(s.trim().to_string()),
        _ => Err(PushError::Malformed("no Encrypt in the body".into())),
    }
}

/// The decrypted message's fields.
fn parse_message(plain: &str) -> Result<Map<String, Value>, PushError> {
    let plain = plain.trim_start_matches('\u{feff}').trim();
    if plain.starts_with('{') {
        serde_json::from_str(plain)
            .map_err(|e| PushError::Malformed(format!("decrypted message is not JSON: {e}")))
    } else {
        xml::parse(plain).map_err(|e| PushError::Malformed(format!("decrypted message: {e}")))
    }
}

fn field<'a>(fields: &'a Map<String, Value>, name: &str) -> &'a str {
    fields
        .get(name)
        .and_then(Value::as_str)
        .map(str::trim)
        .unwrap_or("")
}

/// The de-duplication key of a message (see the module docs).
pub fn dedupe_key(fields: &Map<String, Value>) -> String {
    let msg_id = field(fields, "MsgId");
    if !msg_id.is_empty() {
        return format!("msg:{msg_id}");
    }
    let subject = ["UserID", "Id", "TagId"]
        .iter()
        .map(|k| field(fields, k))
        .find(|v| !v.is_empty())
        .unwrap_or("");
    [
        field(fields, "ToUserName"),
        field(fields, "FromUserName"),
        field(fields, "CreateTime"),
        field(fields, "Event"),
        field(fields, "ChangeType"),
        subject,
    ]
    .join(":")
}

fn delete(stream: &str, id: &str, payload: Value, request: &PushRequest) -> RawRecord {
    let mut r = RawRecord::upsert(stream, id, payload);
    r.op = RecordOp::Delete;
    r.observed_at = request.received_at;
    r
}

fn event_outcome(fields: Map<String, Value>, request: &PushRequest) -> PushOutcome {
    let key = dedupe_key(&fields);
    let mut records = Vec::new();
    let mut refetch = Vec::new();
    if field(&fields, "Event") == "change_contact" {
        let user = field(&fields, "UserID");
        let new_user = field(&fields, "NewUserID");
        let party = field(&fields, "Id");
        match field(&fields, "ChangeType") {
            "create_user" | "update_user" if !user.is_empty() => {
                if !new_user.is_empty() && new_user != user {
                    records.push(delete("users", user, json!({ "userid": user }), request));
                    refetch.push(Refetch {
                        stream: "users".into(),
                        ids: vec![new_user.to_string()],
                    });
                } else {
                    refetch.push(Refetch {
                        stream: "users".into(),
                        ids: vec![user.to_string()],
                    });
                }
            }
            "delete_user" if !user.is_empty() => {
                records.push(delete("users", user, json!({ "userid": user }), request));
            }
            "create_party" | "update_party" if !party.is_empty() => refetch.push(Refetch {
                stream: "departments".into(),
                ids: vec![party.to_string()],
            }),
            "delete_party" if !party.is_empty() => {
                let id: Value = party.parse::<i64>().map_or(json!(party), |n| json!(n));
                records.push(delete("departments", party, json!({ "id": id }), request));
            }
            _ => {}
        }
    }
    let mut event = RawRecord::upsert("events", key, Value::Object(fields));
    event.observed_at = request.received_at;
    PushOutcome::Event {
        event,
        records,
        refetch,
        reply: PushReply::text("success"),
    }
}
