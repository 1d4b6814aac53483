//! What connectors yield and what the change log records.

use crate::EntityKind;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// Whether a raw record says the object exists or was deleted upstream.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RecordOp {
    Upsert,
    Delete,
}

impl RecordOp {
    pub fn as_str(self) -> &'static str {
        match self {
            RecordOp::Upsert => "upsert",
            RecordOp::Delete => "delete",
        }
    }
}

/// One object as a platform returned it, before any mapping.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RawRecord {
    /// The connector stream it belongs to (`tickets`, `users`, ...).
    pub stream: String,
    /// The platform's id for the object, unique within the stream.
    pub external_id: String,
    /// The object exactly as the platform sent it.
    pub payload: serde_json::Value,
    /// Upsert or delete.
    pub op: RecordOp,
    /// When hrhub fetched or received it.
    pub observed_at: DateTime<Utc>,
}

impl RawRecord {
    pub fn upsert(
        stream: impl Into<String>,
        external_id: impl Into<String>,
        payload: serde_json::Value,
    ) -> Self {
        RawRecord {
            stream: stream.into(),
            external_id: external_id.into(),
            payload,
            op: RecordOp::Upsert,
            observed_at: Utc::now(),
        }
    }

    /// A hash of what the platform said (op and payload), so an unchanged
    /// record is recognised at landing. serde_json's map is ordered, so the
    /// serialization is canonical.
    pub fn content_hash(&self) -> String {
        let mut hasher = Sha256::new();
        hasher.update(self.op.as_str().as_bytes());
        hasher.update([0]);
        serde_json::to_writer(HashWriter(&mut hasher), &self.payload)
            .expect("serializing a JSON value cannot fail");
        hex::encode(&hasher.finalize()[..16])
    }

    /// The payload serialized once, for the store to keep, and the
    /// [`RawRecord::content_hash`] taken over that same text (equal to it).
    /// A sync serializes each record once, off the writer's path.
    pub fn serialize(&self) -> SerializedRecord {
        let text =
            serde_json::to_string(&self.payload).expect("serializing a JSON value cannot fail");
        let mut hasher = Sha256::new();
        hasher.update(self.op.as_str().as_bytes());
        hasher.update([0]);
        hasher.update(text.as_bytes());
        SerializedRecord {
            content_hash: hex::encode(&hasher.finalize()[..16]),
            payload: serde_json::value::RawValue::from_string(text)
                .expect("serde_json's own output is valid JSON"),
        }
    }
}

/// A raw record's payload as JSON text and its content hash
/// ([`RawRecord::serialize`]).
#[derive(Debug, Clone)]
pub struct SerializedRecord {
    pub content_hash: String,
    pub payload: Box<serde_json::value::RawValue>,
}

struct HashWriter<'a>(&'a mut Sha256);

impl std::io::Write for HashWriter<'_> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.update(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// What happened to a unified row.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ChangeOp {
    Upsert,
    Delete,
}

impl ChangeOp {
    pub fn as_str(self) -> &'static str {
        match self {
            ChangeOp::Upsert => "upsert",
            ChangeOp::Delete => "delete",
        }
    }
}

/// One entry of the change log. `seq` is gap-free and increases in commit
/// order, so a reader that remembers the last `seq` it saw misses nothing.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChangeEvent {
    pub seq: i64,
    pub entity: EntityKind,
    /// The row's hub id in the entity's table.
    pub entity_id: i64,
    pub op: ChangeOp,
    /// The employee the row is about, when resolved.
    pub employee_id: Option<i64>,
    pub sync_run_id: Option<i64>,
    pub changed_at: DateTime<Utc>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn content_hash_ignores_key_order_and_observation_time() {
        let a = RawRecord::upsert("t", "1", json!({"a": 1, "b": [1, 2]}));
        let mut b = RawRecord::upsert("t", "1", json!({"b": [1, 2], "a": 1}));
        b.observed_at = a.observed_at + chrono::Duration::hours(1);
        assert_eq!(a.content_hash(), b.content_hash());
    }

    #[test]
    fn serializing_once_gives_the_same_hash_and_the_payload_text() {
        let mut record = RawRecord::upsert("t", "1", json!({"b": "ü\n", "a": [1.5, null]}));
        for op in [RecordOp::Upsert, RecordOp::Delete] {
            record.op = op;
            let once = record.serialize();
            assert_eq!(once.content_hash, record.content_hash());
            let back: serde_json::Value = serde_json::from_str(once.payload.get()).unwrap();
            assert_eq!(back, record.payload);
        }
    }

    #[test]
    fn content_hash_sees_payload_and_op() {
        let a = RawRecord::upsert("t", "1", json!({"a": 1}));
        let b = RawRecord::upsert("t", "1", json!({"a": 2}));
        let mut c = a.clone();
        c.op = RecordOp::Delete;
        assert_ne!(a.content_hash(), b.content_hash());
        assert_ne!(a.content_hash(), c.content_hash());
    }
}
