//! The `transcripts` stream: Transcript Search read in contiguous windows
//! of at most 24 hours of modification time, 50 records a page.
//!
//! # Cursor
//!
//! JSON, see [`TranscriptsCursor`]: the window being read (`from`, and
//! `to` once its first page was read, so later pages of the window ask the
//! same question) and the next `page`. A window is finished by a page
//! shorter than the page size; the next window starts at its end. Windows
//! end at "now" at the latest; when a window reaching now is finished the
//! stream is caught up and the cursor's `from` moves back by
//! `lookback_hours`, so the next sync re-reads that much (records that
//! became visible late, or slid to an earlier page while a window was
//! paged). Unchanged records stop at landing.
//!
//! # Records
//!
//! One per transcript item, the item as Cornerstone sent it plus these
//! fields the mapping cannot compute itself:
//!
//! | field | what |
//! |---|---|
//! | `_key` | `{userId}:{loId}`, or `{userId}:{loId}:archived:{completionDate}` for an archived item (a re-assigned training's earlier registration); `null` when `userId` or `loId` is missing, so the mapping quarantines the record. Also the record's external id. |
//! | `_completed_at` | `completionDate` as RFC 3339 UTC; zone-less times are UTC (Cornerstone's API times are UTC); `null` when absent or .NET's "no date" (`0001-01-01…`); the original text when unreadable, so the mapping quarantines the record with it |
//! | `_modified_at` | `lastModifiedDate`, the same way |
//! | `_score_100` | `score` (a number or numeric text) when within 0–100, else `null` |
//! | `_email` | the learner's `primaryEmail` from the Employee API (`lookup_emails`), `null` when unknown or not looked up |

use crate::client::CornerstoneClient;
use crate::config::EMPLOYEES_PATH;
use chrono::{DateTime, Duration, NaiveDate, NaiveDateTime, SecondsFormat, SubsecRound, Utc};
use hrhub_connector::{ConnectorError, Page};
use hrhub_model::RawRecord;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use std::collections::HashMap;
use std::sync::Mutex;

/// The streams in sync order.
pub const STREAMS: [&str; 1] = ["transcripts"];

/// Transcript Search's longest window.
pub const MAX_WINDOW_HOURS: i64 = 24;

/// Where the `transcripts` stream resumes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TranscriptsCursor {
    /// Start of the window (modification time, inclusive).
    pub from: DateTime<Utc>,
    /// End of the window, fixed once its first page was read.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub to: Option<DateTime<Utc>>,
    /// The next page of the window, from 1.
    #[serde(default = "first_page")]
    pub page: u32,
}

fn first_page() -> u32 {
    1
}

/// What the stream needs from the configuration.
pub(crate) struct Settings {
    pub start: DateTime<Utc>,
    pub lookback: Duration,
    pub page_size: u32,
    pub search_path: String,
    pub lookup_emails: bool,
}

/// Learners' e-mails by User ID, looked up once per connector instance.
#[derive(Default)]
pub(crate) struct EmailCache(Mutex<HashMap<String, Option<String>>>);

impl EmailCache {
    fn get(&self, user: &str) -> Option<Option<String>> {
        self.0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(user)
            .cloned()
    }

    fn put(&self, user: String, email: Option<String>) {
        self.0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(user, email);
    }
}

fn protocol(message: impl Into<String>) -> ConnectorError {
    ConnectorError::protocol("cornerstone", message)
}

fn iso(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Secs, true)
}

pub(crate) async fn read(
    client: &CornerstoneClient,
    settings: &Settings,
    emails: &EmailCache,
    stream: &str,
    cursor: Option<&str>,
) -> Result<Page, ConnectorError> {
    match stream {
        "transcripts" => transcripts(client, settings, emails, cursor).await,
        other => Err(ConnectorError::Config(format!(
            "cornerstone has no stream {other:?} (streams: {})",
            STREAMS.join(", ")
        ))),
    }
}

fn page_of(records: Vec<RawRecord>, cursor: &TranscriptsCursor, done: bool) -> Page {
    Page {
        records,
        cursor: Some(serde_json::to_string(cursor).expect("a cursor serializes")),
        done,
    }
}

async fn transcripts(
    client: &CornerstoneClient,
    settings: &Settings,
    emails: &EmailCache,
    cursor: Option<&str>,
) -> Result<Page, ConnectorError> {
    let state = match cursor {
        None => TranscriptsCursor {
            from: settings.start,
            to: None,
            page: 1,
        },
        Some(raw) => serde_json::from_str::<TranscriptsCursor>(raw).map_err(|e| {
            ConnectorError::Config(format!(
                "stored transcripts cursor {raw:?} is not understood ({e}); reset the stream's cursor"
            ))
        })?,
    };
    let now = Utc::now().trunc_subsecs(0);
    let to = state
        .to
        .unwrap_or_else(|| (state.from + Duration::hours(MAX_WINDOW_HOURS)).min(now));
    if to <= state.from {
        // nothing can have changed yet (a clock step back): caught up
        let idle = TranscriptsCursor {
            from: state.from,
            to: None,
            page: 1,
        };
        return Ok(page_of(Vec::new(), &idle, true));
    }
    let query = vec![
        ("ModificationStartDate", iso(state.from)),
        ("ModificationEndDate", iso(to)),
        ("pageNumber", state.page.max(1).to_string()),
        ("pageSize", settings.page_size.to_string()),
    ];
    let body = client.get(&settings.search_path, &query).await?;
    let items = match body.get("data") {
        Some(Value::Array(items)) => items.clone(),
        Some(Value::Null) => Vec::new(),
        _ => {
            return Err(protocol(format!(
                "Transcript Search answered without a `data` array: {}",
                excerpt(&body)
            )))
        }
    };
    let full = items.len() as u32 >= settings.page_size;
    let mut records = Vec::with_capacity(items.len());
    for item in items {
        let Value::Object(item) = item else {
            return Err(protocol("Transcript Search item is not an object"));
        };
        records.push(normalize(item));
    }
    if settings.lookup_emails {
        add_emails(client, emails, &mut records).await?;
    }
    tracing::debug!(
        from = %state.from, %to, page = state.page, records = records.len(),
        "cornerstone: transcript search page"
    );
    let (next, done) = if full {
        (
            TranscriptsCursor {
                from: state.from,
                to: Some(to),
                page: state.page.max(1) + 1,
            },
            false,
        )
    } else if to >= now {
        // caught up: the next sync starts `lookback` before this end
        let from = (to - settings.lookback).max(settings.start.min(to));
        (
            TranscriptsCursor {
                from,
                to: None,
                page: 1,
            },
            true,
        )
    } else {
        (
            TranscriptsCursor {
                from: to,
                to: None,
                page: 1,
            },
            false,
        )
    };
    Ok(page_of(records, &next, done))
}

fn excerpt(v: &Value) -> String {
    let s = v.to_string();
    s.chars().take(300).collect()
}

fn text(v: Option<&Value>) -> Option<String> {
    match v? {
        Value::String(s) if !s.trim().is_empty() => Some(s.trim().to_string()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// A Cornerstone time as UTC: `Ok(None)` for absent and .NET's "no date",
/// `Err` for text that is not a time.
pub(crate) fn instant(v: Option<&Value>) -> Result<Option<DateTime<Utc>>, String> {
    let Some(raw) = text(v) else {
        return Ok(None);
    };
    let parsed = DateTime::parse_from_rfc3339(&raw)
        .map(|t| t.with_timezone(&Utc))
        .ok()
        .or_else(|| {
            [
                "%Y-%m-%dT%H:%M:%S%.f",
                "%Y-%m-%d %H:%M:%S%.f",
                "%Y-%m-%dT%H:%M",
            ]
            .iter()
            .find_map(|f| NaiveDateTime::parse_from_str(&raw, f).ok())
            .or_else(|| {
                NaiveDate::parse_from_str(&raw, "%Y-%m-%d")
                    .ok()
                    .map(|d| d.and_time(chrono::NaiveTime::MIN))
            })
            .map(|t| t.and_utc())
        });
    match parsed {
        Some(t) if chrono::Datelike::year(&t) < 1900 => Ok(None),
        Some(t) => Ok(Some(t)),
        None => Err(raw),
    }
}

fn instant_field(v: Option<&Value>) -> Value {
    match instant(v) {
        Ok(Some(t)) => Value::String(t.to_rfc3339_opts(SecondsFormat::AutoSi, true)),
        Ok(None) => Value::Null,
        Err(raw) => Value::String(raw),
    }
}

/// `score` on 0–100, or `None`.
pub(crate) fn score_100(v: Option<&Value>) -> Option<f64> {
    let n = match v? {
        Value::Number(n) => n.as_f64()?,
        Value::String(s) => s.trim().trim_end_matches('%').trim().parse().ok()?,
        _ => return None,
    };
    (n.is_finite() && (0.0..=100.0).contains(&n)).then_some(n)
}

/// The record's key (see the module docs), `None` without user or LO.
pub(crate) fn key(item: &Map<String, Value>) -> Option<String> {
    let user = text(item.get("userId"))?;
    let lo = text(item.get("loId"))?;
    if item.get("isArchived").and_then(Value::as_bool) == Some(true) {
        let when = text(item.get("completionDate"))
            .or_else(|| text(item.get("lastModifiedDate")))
            .unwrap_or_default();
        Some(format!("{user}:{lo}:archived:{when}"))
    } else {
        Some(format!("{user}:{lo}"))
    }
}

/// The raw record of one transcript item, with the `_` fields.
pub(crate) fn normalize(mut item: Map<String, Value>) -> RawRecord {
    let key = key(&item);
    let completed = instant_field(item.get("completionDate"));
    let modified = instant_field(item.get("lastModifiedDate"));
    let score = score_100(item.get("score"));
    item.insert(
        "_key".into(),
        key.clone().map_or(Value::Null, Value::String),
    );
    item.insert("_completed_at".into(), completed);
    item.insert("_modified_at".into(), modified);
    item.insert(
        "_score_100".into(),
        score.map_or(Value::Null, |s| {
            serde_json::Number::from_f64(s).map_or(Value::Null, Value::Number)
        }),
    );
    item.entry("_email").or_insert(Value::Null);
    let payload = Value::Object(item);
    let external_id = key.unwrap_or_else(|| {
        // unusable without user or LO; the mapping quarantines it by `_key`
        format!(
            "unidentified:{}",
            RawRecord::upsert("transcripts", "", payload.clone()).content_hash()
        )
    });
    RawRecord::upsert("transcripts", external_id, payload)
}

/// Fills `_email` from the cache, looking up learners not seen before.
async fn add_emails(
    client: &CornerstoneClient,
    emails: &EmailCache,
    records: &mut [RawRecord],
) -> Result<(), ConnectorError> {
    for record in records.iter_mut() {
        let Some(user) = text(record.payload.get("userId")) else {
            continue;
        };
        let email = match emails.get(&user) {
            Some(known) => known,
            None => {
                let found = lookup_email(client, &user).await?;
                emails.put(user.clone(), found.clone());
                found
            }
        };
        if let Some(map) = record.payload.as_object_mut() {
            map.insert("_email".into(), email.map_or(Value::Null, Value::String));
        }
    }
    Ok(())
}

/// `primaryEmail` of the employee whose User ID (`externalId`) is `user`.
pub(crate) async fn lookup_email(
    client: &CornerstoneClient,
    user: &str,
) -> Result<Option<String>, ConnectorError> {
    let body = match client
        .get(EMPLOYEES_PATH, &[("externalId", user.to_string())])
        .await
    {
        Ok(body) => body,
        Err(ConnectorError::Forbidden(m)) => {
            return Err(ConnectorError::Forbidden(format!(
                "{m}; looking up learners' e-mail needs the employee:read scope and the \"Employee API - View\" \
                 permission for the application's user: grant them, or set lookup_emails = false (learners are \
                 then matched by User ID as 工号 only)"
            )))
        }
        // an unknown User ID may come back as 404 rather than an empty list
        Err(ConnectorError::Protocol { message, .. }) if message.starts_with("HTTP 404") => {
            return Ok(None)
        }
        Err(e) => return Err(e),
    };
    let list = match &body {
        Value::Array(list) => list.as_slice(),
        Value::Object(o) => match o.get("data") {
            Some(Value::Array(list)) => list.as_slice(),
            _ => &[],
        },
        _ => &[],
    };
    Ok(list
        .iter()
        .find(|e| text(e.get("externalId")).is_some_and(|x| x.eq_ignore_ascii_case(user)))
        .and_then(|e| text(e.get("primaryEmail"))))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn times_are_read_as_utc() {
        let t = |v: Value| instant(Some(&v));
        assert_eq!(
            t(json!("2024-05-02T09:12:44Z"))
                .unwrap()
                .unwrap()
                .to_rfc3339(),
            "2024-05-02T09:12:44+00:00"
        );
        assert_eq!(
            t(json!("2024-05-02T17:12:44+08:00"))
                .unwrap()
                .unwrap()
                .to_rfc3339(),
            "2024-05-02T09:12:44+00:00"
        );
        assert_eq!(
            t(json!("2024-05-02T09:12:44.123"))
                .unwrap()
                .unwrap()
                .to_rfc3339(),
            "2024-05-02T09:12:44.123+00:00"
        );
        assert_eq!(
            t(json!("2024-05-02")).unwrap().unwrap().to_rfc3339(),
            "2024-05-02T00:00:00+00:00"
        );
        assert_eq!(t(json!("0001-01-01T00:00:00")).unwrap(), None);
        assert_eq!(t(json!(null)).unwrap(), None);
        assert_eq!(t(json!("")).unwrap(), None);
        assert_eq!(t(json!("next week")).unwrap_err(), "next week");
    }

    #[test]
    fn scores_on_0_to_100() {
        let s = |v: Value| score_100(Some(&v));
        assert_eq!(s(json!(92)), Some(92.0));
        assert_eq!(s(json!(87.5)), Some(87.5));
        assert_eq!(s(json!("91")), Some(91.0));
        assert_eq!(s(json!("88 %")), Some(88.0));
        assert_eq!(s(json!(140)), None);
        assert_eq!(s(json!(-1)), None);
        assert_eq!(s(json!("B+")), None);
        assert_eq!(s(json!(null)), None);
    }

    #[test]
    fn normalized_records_carry_key_and_underscore_fields() {
        let item = json!({"userId": "10001", "loId": "lo-1", "title": "t", "status": "Completed",
            "completionDate": "2024-05-02T09:12:44", "score": 92, "isArchived": false,
            "lastModifiedDate": "2024-05-02T09:13:00Z"});
        let r = normalize(item.as_object().unwrap().clone());
        assert_eq!(r.external_id, "10001:lo-1");
        assert_eq!(r.payload["_key"], "10001:lo-1");
        assert_eq!(r.payload["_completed_at"], "2024-05-02T09:12:44Z");
        assert_eq!(r.payload["_modified_at"], "2024-05-02T09:13:00Z");
        assert_eq!(r.payload["_score_100"], 92.0);
        assert_eq!(r.payload["_email"], Value::Null);
        assert_eq!(r.payload["title"], "t");

        let archived = json!({"userId": "10001", "loId": "lo-1", "isArchived": true,
            "completionDate": "2023-05-02T09:12:44Z", "completionDateX": 1});
        let r = normalize(archived.as_object().unwrap().clone());
        assert_eq!(r.external_id, "10001:lo-1:archived:2023-05-02T09:12:44Z");

        let broken = json!({"loId": "lo-1", "completionDate": "soon"});
        let r = normalize(broken.as_object().unwrap().clone());
        assert!(r.external_id.starts_with("unidentified:"));
        assert_eq!(r.payload["_key"], Value::Null);
        assert_eq!(r.payload["_completed_at"], "soon");
    }

    #[test]
    fn cursor_round_trips() {
        let c = TranscriptsCursor {
            from: "2024-05-01T00:00:00Z".parse().unwrap(),
            to: Some("2024-05-02T00:00:00Z".parse().unwrap()),
            page: 3,
        };
        let s = serde_json::to_string(&c).unwrap();
        assert_eq!(
            s,
            r#"{"from":"2024-05-01T00:00:00Z","to":"2024-05-02T00:00:00Z","page":3}"#
        );
        assert_eq!(serde_json::from_str::<TranscriptsCursor>(&s).unwrap(), c);
        let between: TranscriptsCursor =
            serde_json::from_str(r#"{"from":"2024-05-01T00:00:00Z"}"#).unwrap();
        assert_eq!((between.to, between.page), (None, 1));
    }
}
