//! What the fuzz targets share: the text framing of their inputs, webhook
//! deliveries built the way the server builds them, and the platforms'
//! published test credentials (so checked-in seeds are real, verifiable
//! deliveries).
//!
//! Inputs are text so the seed corpus stays readable: the first line says
//! what to do, the rest is the payload.

use chrono::{DateTime, TimeZone, Utc};
use hrhub_connector::callback_crypto::CallbackCrypto;
use hrhub_connector::PushRequest;
use std::collections::HashMap;

/// DingTalk's DV1 vector (reference dingtalk.md §5e).
pub mod dingtalk_vector {
    pub const TOKEN: &str = "123456";
    pub const AES_KEY: &str = "4g5j64qlyl3zvetqxz5jiocdr586fn2zvjpa8zls3ij";
    pub const RECEIVE_ID: &str = "suite4xxxxxxxxxxxxxxx";
    /// Milliseconds, as DingTalk sent it in the vector.
    pub const TIMESTAMP: &str = "1445827045067";

    pub fn crypto() -> super::CallbackCrypto {
        super::CallbackCrypto::new(TOKEN, AES_KEY, RECEIVE_ID).unwrap()
    }
}

/// WeCom's WV1 vector (reference wecom.md §5e).
pub mod wecom_vector {
    pub const TOKEN: &str = "QDG6eK";
    pub const AES_KEY: &str = "jWmYm7qr5nMoAUwZRjGtBxmz3KA1tkAj3ykkR6q2B2C";
    pub const RECEIVE_ID: &str = "wx5823bf96d3bd56c7";
    /// The POST message's timestamp (the GET one is 224 s earlier, inside
    /// the window, which the handshake does not apply anyway).
    pub const TIMESTAMP: &str = "1409659813";

    pub fn crypto() -> super::CallbackCrypto {
        super::CallbackCrypto::new(TOKEN, AES_KEY, RECEIVE_ID).unwrap()
    }
}

/// The nonce of deliveries the targets seal themselves.
pub const SEAL_NONCE: &str = "fuzznonce";
/// The random prefix of messages the targets seal themselves.
pub const SEAL_PREFIX: [u8; 16] = *b"fuzzfuzzfuzzfuzz";

/// Splits an input at its first newline into the (UTF-8) first line and
/// the rest. `None` when the first line is not UTF-8.
pub fn split_head(data: &[u8]) -> Option<(&str, &[u8])> {
    let (head, rest) = match data.iter().position(|&b| b == b'\n') {
        Some(i) => (&data[..i], &data[i + 1..]),
        None => (data, &data[data.len()..]),
    };
    Some((std::str::from_utf8(head).ok()?.trim_end_matches('\r'), rest))
}

/// A query string decoded like the server's `Query<HashMap<..>>`
/// (form-urlencoded: `+` is a space, the last of repeated names wins).
pub fn query(qs: &str) -> HashMap<String, String> {
    url::form_urlencoded::parse(qs.as_bytes())
        .into_owned()
        .collect()
}

/// A delivery as the webhook route hands it to a connector.
pub fn request(
    method: &str,
    query: HashMap<String, String>,
    body: Vec<u8>,
    received_at: DateTime<Utc>,
) -> PushRequest {
    PushRequest {
        method: method.to_string(),
        query,
        headers: HashMap::new(),
        body,
        received_at,
    }
}

/// `raw <METHOD> <query string>` on the first line, the body after it.
pub fn raw_request(head: &str, body: &[u8], received_at: DateTime<Utc>) -> Option<PushRequest> {
    let mut parts = head.strip_prefix("raw ")?.splitn(2, ' ');
    let method = parts.next()?;
    let qs = parts.next().unwrap_or("");
    Some(request(method, query(qs), body.to_vec(), received_at))
}

/// Seals `plain` and returns `(encrypt, query)` signed for `timestamp`, as
/// the platform would send them.
pub fn seal(
    crypto: &CallbackCrypto,
    plain: &[u8],
    timestamp: &str,
) -> (String, HashMap<String, String>) {
    let encrypt = crypto.encrypt_with(plain, SEAL_PREFIX);
    let signature = crypto.signature(timestamp, SEAL_NONCE, &encrypt);
    let query = HashMap::from([
        ("msg_signature".to_string(), signature),
        ("timestamp".to_string(), timestamp.to_string()),
        ("nonce".to_string(), SEAL_NONCE.to_string()),
    ]);
    (encrypt, query)
}

/// A Unix time in seconds or milliseconds (the vectors' `timestamp`) as
/// the moment a delivery arrived.
pub fn received_at(timestamp: &str) -> DateTime<Utc> {
    let n: i64 = timestamp.parse().expect("a vector timestamp");
    let ms = if n > 100_000_000_000 { n } else { n * 1000 };
    Utc.timestamp_millis_opt(ms).unwrap()
}
