//! Event push (webhooks, callbacks): what a platform crate does with one
//! HTTP delivery. The server verifies nothing itself; it hands the request
//! to the connector's [`PushSource`], lands what comes back durably, and
//! only then sends the reply. A delivery that fails verification is
//! refused before anything is stored.

use chrono::{DateTime, Utc};
use hrhub_model::RawRecord;
use std::collections::HashMap;

/// One delivery as the webhook route received it.
#[derive(Debug, Clone)]
pub struct PushRequest {
    /// `GET` (URL verification handshakes) or `POST`.
    pub method: String,
    /// Decoded query parameters (`msg_signature`, `timestamp`, `nonce`, ...).
    pub query: HashMap<String, String>,
    /// Header names lower-cased.
    pub headers: HashMap<String, String>,
    pub body: Vec<u8>,
    pub received_at: DateTime<Utc>,
}

/// The HTTP answer the platform expects.
#[derive(Debug, Clone, PartialEq)]
pub struct PushReply {
    pub status: u16,
    pub content_type: &'static str,
    pub body: Vec<u8>,
}

impl PushReply {
    pub fn text(body: impl Into<String>) -> Self {
        PushReply {
            status: 200,
            content_type: "text/plain; charset=utf-8",
            body: body.into().into_bytes(),
        }
    }

    pub fn json(value: &serde_json::Value) -> Self {
        PushReply {
            status: 200,
            content_type: "application/json",
            body: value.to_string().into_bytes(),
        }
    }
}

/// Records to fetch after an event that carries only ids.
#[derive(Debug, Clone, PartialEq)]
pub struct Refetch {
    pub stream: String,
    pub ids: Vec<String>,
}

/// What a verified delivery means.
#[derive(Debug, Clone)]
pub enum PushOutcome {
    /// A handshake (e.g. WeCom's GET URL verification, DingTalk's
    /// `check_url`): send the reply, store nothing.
    Handshake(PushReply),
    /// An event. `event` is the decrypted event itself, with stream
    /// `events` and the platform's event id (or msgid) as `external_id`, so
    /// a duplicate delivery lands once. `records` are full records the event
    /// carries (landed with it, mapped like polled ones); `refetch` names
    /// records to fetch afterwards with [`crate::Source::fetch`].
    Event {
        event: RawRecord,
        records: Vec<RawRecord>,
        refetch: Vec<Refetch>,
        reply: PushReply,
    },
}

/// An event the platform could not push (the receiver was down past its
/// retries) and kept for the hub to fetch, in the form of a pushed one:
/// `event` keyed so that the same event pushed and recovered is one record.
#[derive(Debug, Clone)]
pub struct MissedEvent {
    pub event: RawRecord,
    pub records: Vec<RawRecord>,
    pub refetch: Vec<Refetch>,
}

/// One batch of missed events. The platform forgets what it hands out, so
/// each batch is landed before the next is asked for.
#[derive(Debug, Clone, Default)]
pub struct MissedEvents {
    pub events: Vec<MissedEvent>,
    /// The platform holds more: ask again.
    pub more: bool,
}

/// Why a delivery was refused. Nothing of it is stored.
#[derive(Debug, thiserror::Error)]
pub enum PushError {
    /// Signature missing or wrong (401).
    #[error("signature check failed: {0}")]
    Signature(String),
    /// Timestamp outside the accepted window (401): a replay or a bad clock.
    #[error("timestamp outside the accepted window: {0}")]
    Stale(String),
    /// Verified but undecodable, or not a request this route understands (400).
    #[error("malformed delivery: {0}")]
    Malformed(String),
    /// The connector has no `[connector.webhook]` settings (404).
    #[error("webhooks are not configured for this connector; add a [connector.webhook] table")]
    NotConfigured,
}

impl PushError {
    pub fn http_status(&self) -> u16 {
        match self {
            PushError::Signature(_) | PushError::Stale(_) => 401,
            PushError::Malformed(_) => 400,
            PushError::NotConfigured => 404,
        }
    }
}

/// A platform that can push events.
pub trait PushSource: Send + Sync {
    /// Verifies (signature, timestamp window, receiver id) and decodes one
    /// delivery. Must not block: the platform waits for the answer.
    fn receive(&self, request: &PushRequest) -> Result<PushOutcome, PushError>;
}
