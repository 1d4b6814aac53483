//! The `statements` stream, its cursor, and the fields the connector adds.
//!
//! One query walks the LRS in `stored` order: `GET
//! {endpoint}/statements?since=&ascending=true&limit=`, then the `more`
//! links until an empty one. Records are keyed by statement id (ids are
//! immutable, a re-read is harmless). Statements whose verb is not kept
//! ([`crate::XapiConfig::verbs`]) are dropped; a voiding statement (verb
//! `voided`, object a `StatementRef`) becomes a `delete` record for the
//! statement it voids, which the LRS from then on leaves out of queries.
//!
//! Cursor ([`StatementsCursor`], JSON): between syncs the `stored`
//! watermark `since`; mid-scan also the `more` link of the next page, the
//! newest `stored` seen and the first page's `Consistent-Through`. At the
//! end of a scan the watermark becomes min(newest `stored` seen,
//! Consistent-Through), never moving back, so statements that become
//! visible late (stored before Consistent-Through caught up) are read by
//! the next sync. A `more` link the LRS no longer accepts (they expire)
//! restarts the scan from its `since`.
//!
//! Fields added to each kept statement:
//!
//! | field | meaning |
//! |---|---|
//! | `_score_100` | `result.score.scaled × 100` when 0 ≤ scaled ≤ 1, else `(raw − min) / (max − min) × 100` (`min` default 0), rounded to 2 decimals, clamped to 0..=100; null without a usable score |
//! | `_score_native` | `raw/max` (`17/20`), else `scaled` (`0.92`), else `raw` |
//! | `_passed` | `result.success`, else true for `passed`, false for `failed`, else null |
//! | `_completed_at` | `timestamp` (else `stored`) as RFC 3339 UTC |
//! | `_email` | `actor.mbox` without `mailto:` |
//! | `_account` | `actor.account.name` (`_account_home_page`: its `homePage`) |
//! | `_actor` | the actor's identifier as one string: `mbox:<e-mail>`, `account:<homePage>|<name>`, `mbox_sha1sum:<hex>` or `openid:<uri>` |
//! | `_activity_name` | `object.definition.name` in `zh-CN`, `en-US`, `en`, or its first language |
//! | `_verb` | the verb IRI's last segment (`passed`) |

use crate::client::LrsClient;
use crate::config::VOIDED;
use chrono::{DateTime, SecondsFormat, Utc};
use hrhub_connector::{ConnectorError, Page};
use hrhub_model::{RawRecord, RecordOp};
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};

/// The one stream.
pub const STREAM: &str = "statements";

/// What the stream needs from the configuration.
#[derive(Debug, Clone)]
pub(crate) struct Settings {
    pub since: Option<DateTime<Utc>>,
    pub verbs: Vec<String>,
    pub page_size: u32,
}

/// The `statements` cursor.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct StatementsCursor {
    /// The watermark: statements stored after it are read (`since` is
    /// exclusive). `None`: the configured start, or everything.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub since: Option<String>,
    /// Mid-scan: the LRS's link to the next page, as it gave it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub more: Option<String>,
    /// Mid-scan: the newest `stored` seen so far.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_stored: Option<String>,
    /// Mid-scan: `X-Experience-API-Consistent-Through` of the scan's first page.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub consistent_through: Option<String>,
}

fn protocol(message: impl Into<String>) -> ConnectorError {
    ConnectorError::protocol("xapi", message)
}

fn instant(s: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(s.trim())
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

/// RFC 3339 UTC keeping the sub-second digits the LRS gave.
pub(crate) fn format_instant(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::AutoSi, true)
}

fn parse_cursor(raw: &str) -> Result<StatementsCursor, ConnectorError> {
    let bad = |e: &dyn std::fmt::Display| {
        ConnectorError::Config(format!(
            "stored statements cursor {raw:?} is not understood ({e}); reset the stream's cursor"
        ))
    };
    let cursor: StatementsCursor = serde_json::from_str(raw).map_err(|e| bad(&e))?;
    for t in [
        &cursor.since,
        &cursor.max_stored,
        &cursor.consistent_through,
    ]
    .into_iter()
    .flatten()
    {
        if instant(t).is_none() {
            return Err(bad(&format!("{t:?} is not a time")));
        }
    }
    Ok(cursor)
}

/// The scan's first query.
fn first_query(client: &LrsClient, settings: &Settings, since: Option<DateTime<Utc>>) -> url::Url {
    let mut url = client.resource("statements");
    {
        let mut q = url.query_pairs_mut();
        if let Some(since) = since {
            q.append_pair("since", &format_instant(since));
        }
        q.append_pair("ascending", "true");
        q.append_pair("limit", &settings.page_size.to_string());
    }
    url
}

pub(crate) async fn read(
    client: &LrsClient,
    settings: &Settings,
    cursor: Option<&str>,
) -> Result<Page, ConnectorError> {
    let mut state = match cursor {
        None => StatementsCursor {
            since: settings.since.map(format_instant),
            ..StatementsCursor::default()
        },
        Some(raw) => parse_cursor(raw)?,
    };
    let since = state.since.as_deref().and_then(instant);
    let answer = match state.more.as_deref() {
        Some(more) => {
            let url = client.resolve_more(more)?;
            match client.get(&url).await {
                Ok(a) => a,
                // an expired or unknown `more` link: start the scan over
                Err(ConnectorError::Protocol { message, .. }) => {
                    tracing::warn!(%message, "xapi: the LRS refused a `more` link; restarting the scan from its watermark");
                    state.more = None;
                    state.max_stored = None;
                    state.consistent_through = None;
                    client.get(&first_query(client, settings, since)).await?
                }
                Err(e) => return Err(e),
            }
        }
        None => client.get(&first_query(client, settings, since)).await?,
    };
    if state.more.is_none() {
        // the scan's first page: its consistency bound holds for the scan
        state.consistent_through = answer
            .consistent_through
            .as_deref()
            .and_then(instant)
            .map(format_instant);
    }
    let mut body = answer.body;
    let statements = match body.get_mut("statements").map(Value::take) {
        Some(Value::Array(list)) => list,
        _ => return Err(protocol("the LRS answered without a `statements` array")),
    };
    let more = match body.get("more") {
        Some(Value::String(s)) if !s.trim().is_empty() => Some(s.trim().to_string()),
        Some(Value::String(_)) | Some(Value::Null) | None => None,
        Some(other) => return Err(protocol(format!("`more` is not a string: {other}"))),
    };
    if let Some(m) = &more {
        client.resolve_more(m)?; // refuse a foreign link now, not on resume
    }

    let mut max_stored = state.max_stored.as_deref().and_then(instant);
    let mut records = Vec::with_capacity(statements.len());
    let mut dropped = 0usize;
    for statement in statements {
        let id = statement
            .get("id")
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
            .ok_or_else(|| protocol("a statement without `id`"))?
            .to_string();
        if let Some(stored) = statement
            .get("stored")
            .and_then(Value::as_str)
            .and_then(instant)
        {
            max_stored = max_stored.max(Some(stored));
        }
        let verb = statement
            .pointer("/verb/id")
            .and_then(Value::as_str)
            .unwrap_or("");
        if verb == VOIDED {
            let target = statement
                .get("object")
                .filter(|o| o.get("objectType").and_then(Value::as_str) == Some("StatementRef"))
                .and_then(|o| o.get("id"))
                .and_then(Value::as_str)
                .map(str::to_string);
            match target {
                Some(target) => {
                    let mut payload = statement;
                    if let Value::Object(map) = &mut payload {
                        map.insert("_voids".into(), json!(&target));
                    }
                    let mut record = RawRecord::upsert(STREAM, target, payload);
                    record.op = RecordOp::Delete;
                    records.push(record);
                }
                None => dropped += 1, // a voiding statement must reference one; ignore
            }
            continue;
        }
        if !settings.verbs.iter().any(|v| v == verb) {
            dropped += 1;
            continue;
        }
        records.push(RawRecord::upsert(STREAM, id, normalize(statement)));
    }
    tracing::debug!(
        kept = records.len(),
        dropped,
        more = more.is_some(),
        "xapi: statements page"
    );

    let fmt = |t: Option<DateTime<Utc>>| t.map(format_instant);
    let (cursor, done) = match more {
        Some(more) => (
            StatementsCursor {
                since: state.since.clone(),
                more: Some(more),
                max_stored: fmt(max_stored),
                consistent_through: state.consistent_through.clone(),
            },
            false,
        ),
        None => {
            let bound = state.consistent_through.as_deref().and_then(instant);
            let reached = match (max_stored, bound) {
                (Some(m), Some(b)) => Some(m.min(b)),
                (m, _) => m,
            };
            (
                StatementsCursor {
                    since: fmt(since.max(reached)),
                    ..StatementsCursor::default()
                },
                true,
            )
        }
    };
    Ok(Page {
        records,
        cursor: Some(serde_json::to_string(&cursor).expect("a cursor serializes")),
        done,
    })
}

fn number(v: Option<&Value>) -> Option<f64> {
    v.and_then(Value::as_f64).filter(|f| f.is_finite())
}

fn round2(x: f64) -> f64 {
    (x * 100.0).round() / 100.0
}

/// A number as written (`17`, `0.92`).
fn plain(n: f64) -> String {
    if n.fract() == 0.0 && n.abs() < 1e15 {
        format!("{}", n as i64)
    } else {
        let s = format!("{n:.6}");
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    }
}

/// `result.score` on a 0–100 scale: `scaled` when within 0..=1, else
/// `raw` between `min` (default 0) and `max`; rounded to 2 decimals.
pub fn score_100(score: &Value) -> Option<f64> {
    let scaled = number(score.get("scaled"));
    if let Some(s) = scaled.filter(|s| (0.0..=1.0).contains(s)) {
        return Some(round2(s * 100.0));
    }
    let raw = number(score.get("raw"));
    let max = number(score.get("max"));
    let min = number(score.get("min")).unwrap_or(0.0);
    if let (Some(raw), Some(max)) = (raw, max) {
        if max > min {
            return Some(round2(
                ((raw - min) / (max - min) * 100.0).clamp(0.0, 100.0),
            ));
        }
    }
    // a negative scaled score (allowed down to −1) is no better than nothing
    scaled.map(|s| round2(s.clamp(0.0, 1.0) * 100.0))
}

fn score_native(score: &Value) -> Option<String> {
    let raw = number(score.get("raw"));
    match (raw, number(score.get("max")), number(score.get("scaled"))) {
        (Some(r), Some(m), _) => Some(format!("{}/{}", plain(r), plain(m))),
        (_, _, Some(s)) => Some(plain(s)),
        (Some(r), None, None) => Some(plain(r)),
        _ => None,
    }
}

/// The display name in the language HR reads first.
fn activity_name(object: &Value) -> Option<String> {
    let names = object.pointer("/definition/name")?.as_object()?;
    ["zh-CN", "zh", "en-US", "en-GB", "en", "und"]
        .iter()
        .find_map(|lang| names.get(*lang))
        .or_else(|| names.values().next())
        .and_then(Value::as_str)
        .map(str::to_string)
}

/// Adds the `_` fields (see the module docs).
pub fn normalize(mut statement: Value) -> Value {
    let score = statement
        .pointer("/result/score")
        .cloned()
        .unwrap_or(Value::Null);
    let verb = statement
        .pointer("/verb/id")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string();
    let verb_name = verb.rsplit(['/', '#']).next().unwrap_or("").to_string();
    let passed = statement
        .pointer("/result/success")
        .and_then(Value::as_bool)
        .or(match verb_name.as_str() {
            "passed" => Some(true),
            "failed" => Some(false),
            _ => None,
        });
    let completed_at = ["timestamp", "stored"]
        .iter()
        .filter_map(|k| statement.get(*k).and_then(Value::as_str).and_then(instant))
        .next()
        .map(|t| t.to_rfc3339_opts(SecondsFormat::Secs, true));
    let actor = statement.get("actor").cloned().unwrap_or(Value::Null);
    let email = actor
        .get("mbox")
        .and_then(Value::as_str)
        .map(|m| {
            let m = m.trim();
            m.get(..7)
                .filter(|p| p.eq_ignore_ascii_case("mailto:"))
                .map_or(m, |_| &m[7..])
                .to_string()
        })
        .filter(|m| !m.is_empty());
    let account = actor.get("account");
    let account_name = account
        .and_then(|a| a.get("name"))
        .and_then(Value::as_str)
        .map(str::to_string);
    let home_page = account
        .and_then(|a| a.get("homePage"))
        .and_then(Value::as_str)
        .map(str::to_string);
    let actor_id = if let Some(e) = &email {
        Some(format!("mbox:{}", e.to_lowercase()))
    } else if let Some(name) = &account_name {
        Some(format!(
            "account:{}|{name}",
            home_page.as_deref().unwrap_or("")
        ))
    } else if let Some(sha) = actor.get("mbox_sha1sum").and_then(Value::as_str) {
        Some(format!("mbox_sha1sum:{}", sha.to_lowercase()))
    } else {
        actor
            .get("openid")
            .and_then(Value::as_str)
            .map(|o| format!("openid:{o}"))
    };
    let name = statement.get("object").and_then(activity_name);

    if let Value::Object(map) = &mut statement {
        let mut add = |k: &str, v: Value| {
            map.insert(k.to_string(), v);
        };
        add("_score_100", json!(score_100(&score)));
        add("_score_native", json!(score_native(&score)));
        add("_passed", json!(passed));
        add("_completed_at", json!(completed_at));
        add("_email", json!(email));
        add("_account", json!(account_name));
        add("_account_home_page", json!(home_page));
        add("_actor", json!(actor_id));
        add("_activity_name", json!(name));
        add("_verb", json!(verb_name));
    }
    statement
}

/// `GET {endpoint}/about`: the versions the LRS speaks.
pub(crate) async fn about(client: &LrsClient) -> Result<Map<String, Value>, ConnectorError> {
    match client.get(&client.resource("about")).await?.body {
        Value::Object(map) => Ok(map),
        _ => Err(protocol("`about` is not an object")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scores_normalize_from_scaled_or_raw() {
        assert_eq!(score_100(&json!({"scaled": 0.92})), Some(92.0));
        assert_eq!(
            score_100(&json!({"scaled": 0.92, "raw": 46, "max": 50})),
            Some(92.0)
        );
        assert_eq!(
            score_100(&json!({"raw": 17, "min": 0, "max": 20})),
            Some(85.0)
        );
        assert_eq!(score_100(&json!({"raw": 18.4, "max": 20})), Some(92.0));
        assert_eq!(
            score_100(&json!({"raw": 70, "min": 50, "max": 100})),
            Some(40.0)
        );
        assert_eq!(score_100(&json!({"raw": 2, "max": 3})), Some(66.67));
        assert_eq!(
            score_100(&json!({"raw": 92})),
            None,
            "raw alone has no scale"
        );
        assert_eq!(score_100(&json!({"raw": 5, "min": 5, "max": 5})), None);
        assert_eq!(score_100(&json!({"scaled": -0.5})), Some(0.0));
        assert_eq!(
            score_100(&json!({"scaled": -0.5, "raw": 3, "max": 4})),
            Some(75.0)
        );
        assert_eq!(score_100(&Value::Null), None);
        assert_eq!(
            score_native(&json!({"raw": 17, "max": 20})).as_deref(),
            Some("17/20")
        );
        assert_eq!(
            score_native(&json!({"scaled": 0.92})).as_deref(),
            Some("0.92")
        );
        assert_eq!(
            score_native(&json!({"raw": 18.4, "max": 20, "scaled": 0.92})).as_deref(),
            Some("18.4/20")
        );
    }

    #[test]
    fn normalize_adds_identity_and_result_fields() {
        let s = normalize(json!({
            "id": "a", "actor": {"objectType": "Agent", "mbox": "MAILTO:Wei.Li@Acme.com"},
            "verb": {"id": "http://adlnet.gov/expapi/verbs/failed"},
            "object": {"id": "https://x/q/1", "definition": {"name": {"en-US": "Final", "zh-CN": "期末"}}},
            "result": {"score": {"raw": 9, "max": 20}},
            "timestamp": "2024-05-02T17:12:40+08:00", "stored": "2024-05-02T09:12:44.123Z"
        }));
        assert_eq!(s["_email"], "Wei.Li@Acme.com");
        assert_eq!(s["_actor"], "mbox:wei.li@acme.com");
        assert_eq!(s["_passed"], false);
        assert_eq!(s["_score_100"], 45.0);
        assert_eq!(s["_score_native"], "9/20");
        assert_eq!(s["_completed_at"], "2024-05-02T09:12:40Z");
        assert_eq!(s["_activity_name"], "期末");
        assert_eq!(s["_verb"], "failed");
        assert_eq!(s["_account"], Value::Null);

        let s = normalize(json!({
            "id": "b", "actor": {"account": {"homePage": "https://hr.acme.com", "name": "10417"}},
            "verb": {"id": "http://adlnet.gov/expapi/verbs/completed"},
            "object": {"id": "https://x/c/1"}, "result": {"success": true, "completion": true},
            "stored": "2024-05-02T09:12:44.123Z"
        }));
        assert_eq!(s["_account"], "10417");
        assert_eq!(s["_account_home_page"], "https://hr.acme.com");
        assert_eq!(s["_actor"], "account:https://hr.acme.com|10417");
        assert_eq!(s["_passed"], true);
        assert_eq!(s["_score_100"], Value::Null);
        assert_eq!(s["_completed_at"], "2024-05-02T09:12:44Z");
        assert_eq!(s["_activity_name"], Value::Null);
    }
}
