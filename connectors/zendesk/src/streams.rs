//! The four streams and their cursors.
//!
//! | stream | endpoint | cursor (opaque to the hub) |
//! |---|---|---|
//! | `users` | incremental users export | Zendesk's `after_cursor`, verbatim |
//! | `tickets` | incremental tickets export + `metric_sets` | Zendesk's `after_cursor`, verbatim |
//! | `ticket_metrics` | `/ticket_metrics` list | the page cursor mid-scan; `None` once the scan completes |
//! | `satisfaction_ratings` | `/satisfaction_ratings` list | JSON, see [`RatingsCursor`] |
//!
//! Incremental cursors are kept after `end_of_stream` too: they are the
//! watermark of the next poll (`start_time` is only used on the first read).

use crate::client::{Budget, ZendeskClient};
use chrono::{DateTime, Utc};
use hrhub_connector::{ConnectorError, Page};
use hrhub_model::{RawRecord, RecordOp};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use std::collections::HashMap;

/// The streams in the order a full sync runs them (people first).
pub const STREAMS: [&str; 4] = ["users", "tickets", "ticket_metrics", "satisfaction_ratings"];

/// Page size of the list endpoints (their documented maximum).
const LIST_PAGE_SIZE: u32 = 100;

/// What the streams need from the configuration.
#[derive(Debug, Clone)]
pub(crate) struct Settings {
    pub start_time: Option<i64>,
    pub page_size: u32,
    pub lookback_days: u32,
}

impl Settings {
    /// Where a stream without cursor starts: the configured start, default
    /// now − 730 days, never within the last minute (Zendesk refuses those).
    fn initial_start(&self) -> i64 {
        let now = Utc::now().timestamp();
        self.start_time.unwrap_or(now - 730 * 86_400).min(now - 61)
    }
}

/// The `satisfaction_ratings` cursor. Mid-scan:
/// `{"start_time": s, "after": "<page cursor>", "max_created": m}`;
/// between scans: `{"start_time": s}` where `s` is the newest `created_at`
/// seen minus the lookback, never earlier than the previous `s`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RatingsCursor {
    /// Unix seconds; the scan reads ratings created at or after it.
    pub start_time: i64,
    /// Zendesk's `meta.after_cursor` of the last page read in this scan.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub after: Option<String>,
    /// The newest `created_at` seen so far in this scan (Unix seconds).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_created: Option<i64>,
}

pub(crate) async fn read(
    client: &ZendeskClient,
    settings: &Settings,
    stream: &str,
    cursor: Option<&str>,
) -> Result<Page, ConnectorError> {
    match stream {
        "users" => incremental(client, settings, "users", None, cursor).await,
        "tickets" => incremental(client, settings, "tickets", Some("metric_sets"), cursor).await,
        "ticket_metrics" => ticket_metrics(client, cursor).await,
        "satisfaction_ratings" => satisfaction_ratings(client, settings, cursor).await,
        other => Err(ConnectorError::Config(format!(
            "zendesk has no stream {other:?} (streams: {})",
            STREAMS.join(", ")
        ))),
    }
}

fn protocol(message: impl Into<String>) -> ConnectorError {
    ConnectorError::protocol("zendesk", message)
}

/// An object's id as text (Zendesk ids are integers in REST bodies).
fn id_of(item: &Value, field: &str, what: &str) -> Result<String, ConnectorError> {
    match item.get(field) {
        Some(Value::Number(n)) => Ok(n.to_string()),
        Some(Value::String(s)) if !s.is_empty() => Ok(s.clone()),
        _ => Err(protocol(format!("{what} without `{field}`"))),
    }
}

fn take_array(body: &mut Value, key: &str) -> Result<Vec<Value>, ConnectorError> {
    match body.get_mut(key).map(Value::take) {
        Some(Value::Array(items)) => Ok(items),
        Some(Value::Null) | None => Err(protocol(format!("response has no `{key}` array"))),
        Some(_) => Err(protocol(format!("`{key}` is not an array"))),
    }
}

/// Cursor-based incremental export (`users`, `tickets`).
async fn incremental(
    client: &ZendeskClient,
    settings: &Settings,
    resource: &str,
    include: Option<&str>,
    cursor: Option<&str>,
) -> Result<Page, ConnectorError> {
    let path = format!("/api/v2/incremental/{resource}/cursor.json");
    let mut query = match cursor {
        None => vec![("start_time", settings.initial_start().to_string())],
        Some(c) => vec![("cursor", c.to_string())],
    };
    if let Some(include) = include {
        query.push(("include", include.to_string()));
    }
    query.push(("per_page", settings.page_size.to_string()));
    let mut body = match client.get(Budget::Incremental, &path, &query).await {
        // A start_time Zendesk finds too recent means "nothing yet".
        Err(ConnectorError::Protocol { message, .. })
            if cursor.is_none() && message.contains("start_time") =>
        {
            tracing::info!(%message, resource, "zendesk: start_time refused, nothing to export yet");
            return Ok(Page {
                records: Vec::new(),
                cursor: None,
                done: true,
            });
        }
        other => other?,
    };
    let items = take_array(&mut body, resource)?;
    let end_of_stream = body
        .get("end_of_stream")
        .and_then(Value::as_bool)
        .ok_or_else(|| {
            protocol(format!(
                "incremental {resource} export without `end_of_stream`"
            ))
        })?;
    let after = body
        .get("after_cursor")
        .and_then(Value::as_str)
        .map(str::to_string);
    if after.is_none() && !end_of_stream {
        return Err(protocol(format!(
            "incremental {resource} export page without `after_cursor`"
        )));
    }
    // Tickets carry their sideloaded metric set, so one raw record holds both.
    let mut metric_sets: HashMap<String, Value> = HashMap::new();
    if include == Some("metric_sets") {
        if let Some(Value::Array(sets)) = body.get_mut("metric_sets").map(Value::take) {
            for set in sets {
                if let Ok(ticket_id) = id_of(&set, "ticket_id", "metric set") {
                    metric_sets.insert(ticket_id, set);
                }
            }
        }
    }
    let mut records = Vec::with_capacity(items.len());
    for mut item in items {
        let id = id_of(&item, "id", resource)?;
        if include == Some("metric_sets") {
            if let Value::Object(map) = &mut item {
                map.insert(
                    "metric_set".into(),
                    metric_sets.remove(&id).unwrap_or(Value::Null),
                );
            }
        }
        // The export shows a deleted ticket once more, with status `deleted`.
        let deleted =
            resource == "tickets" && item.get("status").and_then(Value::as_str) == Some("deleted");
        let mut record = RawRecord::upsert(resource, id, item);
        if deleted {
            record.op = RecordOp::Delete;
        }
        records.push(record);
    }
    tracing::debug!(
        stream = resource,
        records = records.len(),
        end_of_stream,
        "zendesk: export page"
    );
    Ok(Page {
        records,
        // Keep the watermark even when Zendesk sends no new cursor.
        cursor: after.or_else(|| cursor.map(str::to_string)),
        done: end_of_stream,
    })
}

/// `meta.has_more` and `meta.after_cursor` of a cursor-paginated list.
fn list_meta(body: &Value) -> Result<Option<String>, ConnectorError> {
    let meta = body.get("meta").unwrap_or(&Value::Null);
    if !meta
        .get("has_more")
        .and_then(Value::as_bool)
        .unwrap_or(false)
    {
        return Ok(None);
    }
    meta.get("after_cursor")
        .and_then(Value::as_str)
        .map(|c| Some(c.to_string()))
        .ok_or_else(|| protocol("list page with `has_more` but no `meta.after_cursor`"))
}

/// Full scan of `/ticket_metrics` (not incremental). Records are keyed by
/// `ticket_id`, not the metric id, so they line up with `tickets`.
async fn ticket_metrics(
    client: &ZendeskClient,
    cursor: Option<&str>,
) -> Result<Page, ConnectorError> {
    let mut query = vec![("page[size]", LIST_PAGE_SIZE.to_string())];
    if let Some(after) = cursor {
        query.push(("page[after]", after.to_string()));
    }
    let mut body = client
        .get(Budget::Account, "/api/v2/ticket_metrics", &query)
        .await?;
    let next = list_meta(&body)?;
    let records = take_array(&mut body, "ticket_metrics")?
        .into_iter()
        .map(|m| {
            Ok(RawRecord::upsert(
                "ticket_metrics",
                id_of(&m, "ticket_id", "ticket metric")?,
                m,
            ))
        })
        .collect::<Result<Vec<_>, ConnectorError>>()?;
    Ok(Page {
        records,
        done: next.is_none(),
        cursor: next,
    })
}

fn unix(ts: &str) -> Option<i64> {
    DateTime::parse_from_rfc3339(ts).ok().map(|t| t.timestamp())
}

/// `/satisfaction_ratings` from `start_time`, oldest first; each scan
/// ends with a cursor `lookback_days` before the newest rating seen.
async fn satisfaction_ratings(
    client: &ZendeskClient,
    settings: &Settings,
    cursor: Option<&str>,
) -> Result<Page, ConnectorError> {
    let state = match cursor {
        None => RatingsCursor {
            start_time: settings.initial_start(),
            after: None,
            max_created: None,
        },
        Some(raw) => serde_json::from_str::<RatingsCursor>(raw).map_err(|e| {
            ConnectorError::Config(format!(
                "stored satisfaction_ratings cursor {raw:?} is not understood ({e}); reset the stream's cursor"
            ))
        })?,
    };
    let mut query = vec![
        ("sort", "created_at".to_string()),
        ("page[size]", LIST_PAGE_SIZE.to_string()),
        ("start_time", state.start_time.to_string()),
    ];
    if let Some(after) = &state.after {
        query.push(("page[after]", after.clone()));
    }
    let mut body = client
        .get(Budget::Account, "/api/v2/satisfaction_ratings", &query)
        .await?;
    let next = list_meta(&body)?;
    let mut max_created = state.max_created;
    let mut records = Vec::new();
    for rating in take_array(&mut body, "satisfaction_ratings")? {
        if let Some(created) = rating
            .get("created_at")
            .and_then(Value::as_str)
            .and_then(unix)
        {
            max_created = max_created.max(Some(created));
        }
        records.push(RawRecord::upsert(
            "satisfaction_ratings",
            id_of(&rating, "id", "satisfaction rating")?,
            rating,
        ));
    }
    let (cursor, done) = match next {
        Some(after) => (
            RatingsCursor {
                start_time: state.start_time,
                after: Some(after),
                max_created,
            },
            false,
        ),
        None => {
            let lookback = i64::from(settings.lookback_days) * 86_400;
            let start_time =
                max_created.map_or(state.start_time, |m| (m - lookback).max(state.start_time));
            (
                RatingsCursor {
                    start_time,
                    after: None,
                    max_created: None,
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

/// `GET /api/v2/users/me.json`: who the credentials act as.
pub(crate) async fn me(client: &ZendeskClient) -> Result<Map<String, Value>, ConnectorError> {
    let mut body = client
        .get(Budget::Account, "/api/v2/users/me.json", &[])
        .await?;
    match body.get_mut("user").map(Value::take) {
        Some(Value::Object(user)) => Ok(user),
        _ => Err(protocol("/users/me answered without a `user` object")),
    }
}
