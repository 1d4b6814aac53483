//! The three streams, their cursors, and fetch by id.
//!
//! | stream | endpoints | cursor (JSON, opaque to the hub) |
//! |---|---|---|
//! | `departments` | `department/get` (root) + `department/listsub` breadth-first | [`DepartmentsCursor`] mid-scan; `None` once the scan completes |
//! | `users` | `/v1.0/contact/empLeaveRecords` (leavers), then `/topapi/v2/user/list` per department | [`UsersCursor`] |
//! | `attendance` | `/topapi/user/listid` per department (roster), `/attendance/list` | [`AttendanceCursor`] |
//!
//! Full scans (`departments`, `users`) rely on landing to drop the
//! unchanged. `attendance` walks 7-day work-date windows × 50-user batches
//! × offset pages; once it has read today it goes back to
//! `today − attendance_lookback_days`, so results DingTalk writes late
//! (missed punches, admin corrections) are picked up by the next sync.

use crate::org::{self, Roster, Tree};
use crate::DingTalk;
use chrono::{Duration, NaiveDate, Utc};
use hrhub_connector::{ConnectorError, Page};
use hrhub_model::RawRecord;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::sync::Arc;

/// The streams in the order a full sync runs them (org first, people
/// before their attendance).
pub const STREAMS: [&str; 3] = ["departments", "users", "attendance"];

/// Departments per page of the `departments` stream.
const DEPARTMENTS_PER_PAGE: usize = 500;
/// A `users` page ends after this many records or API calls.
const USERS_PER_PAGE: usize = 200;
const USER_CALLS_PER_PAGE: usize = 20;
/// `/attendance/list` limits (reference §4a).
pub const ATTENDANCE_BATCH: usize = 50;
pub const ATTENDANCE_LIMIT: usize = 50;
pub const ATTENDANCE_WINDOW_DAYS: i64 = 7;
/// An `attendance` page ends after this many records or API calls.
const ATTENDANCE_PER_PAGE: usize = 500;
const ATTENDANCE_CALLS_PER_PAGE: usize = 12;
/// Re-walk the tree / roster when the cached one is older than this.
pub(crate) const ORG_TTL: std::time::Duration = std::time::Duration::from_secs(15 * 60);
/// Leave records can be written a little after the fact: each scan
/// re-reads this much before the previous scan's end.
const LEAVERS_MARGIN_MS: i64 = 86_400_000;
/// `/v1.0/contact/empLeaveRecords` accepts at most 365 days per call.
const LEAVERS_MAX_SPAN_MS: i64 = 364 * 86_400_000;

/// `departments` mid-scan: the next department (breadth-first index) to emit.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DepartmentsCursor {
    pub offset: usize,
}

/// The `users` cursor. A scan reads leavers first (so a re-hired person's
/// listing, read after, wins), then walks the departments.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "phase", rename_all = "snake_case")]
pub enum UsersCursor {
    /// Between scans: the next scan reads leavers from `leavers_since` (Unix ms).
    Idle { leavers_since: i64 },
    /// Reading leave records in `[since, until]` (Unix ms), at `token`.
    Leavers {
        since: i64,
        until: i64,
        token: String,
    },
    /// Walking: listing department `dept` from `cursor` (`dept` none: the
    /// walk starts, with a fresh department tree).
    Walk {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        dept: Option<i64>,
        #[serde(default)]
        cursor: i64,
        leavers_since: i64,
    },
}

/// The `attendance` cursor: work-date window starting `from` (local date;
/// the window ends 6 days later or today), the batch of the (sorted)
/// roster's next 50 user ids after `after` (none: the first batch), and
/// the `/attendance/list` offset within that batch.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AttendanceCursor {
    pub from: NaiveDate,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub after: Option<String>,
    #[serde(default)]
    pub offset: usize,
}

fn bad_cursor(stream: &str, raw: &str, e: impl std::fmt::Display) -> ConnectorError {
    ConnectorError::Config(format!(
        "stored {stream} cursor {raw:?} is not understood ({e}); reset the stream's cursor"
    ))
}

fn encode<T: Serialize>(cursor: &T) -> String {
    serde_json::to_string(cursor).expect("a cursor serializes")
}

impl DingTalk {
    /// A new walk when `refresh` (or none is cached), else the cached tree.
    pub(crate) async fn tree(&self, refresh: bool) -> Result<Arc<Tree>, ConnectorError> {
        let mut cached = self.tree.lock().await;
        if let Some(tree) = cached.as_ref() {
            if !refresh {
                return Ok(tree.clone());
            }
        }
        let tree = Arc::new(org::walk(&self.client, self.settings.root).await?);
        *cached = Some(tree.clone());
        Ok(tree)
    }

    /// The cached tree unless older than [`ORG_TTL`].
    pub(crate) async fn fresh_tree(&self) -> Result<Arc<Tree>, ConnectorError> {
        let stale = self
            .tree
            .lock()
            .await
            .as_ref()
            .is_none_or(|t| t.fetched.elapsed() >= ORG_TTL);
        self.tree(stale).await
    }

    async fn roster(&self, refresh: bool) -> Result<Arc<Roster>, ConnectorError> {
        let mut cached = self.roster.lock().await;
        if let Some(r) = cached.as_ref() {
            if !(refresh && r.fetched.elapsed() >= ORG_TTL) {
                return Ok(r.clone());
            }
        }
        let tree = self.fresh_tree().await?;
        let roster = Arc::new(org::roster(&self.client, &tree).await?);
        tracing::debug!(users = roster.ids.len(), "dingtalk: roster read");
        *cached = Some(roster.clone());
        Ok(roster)
    }

    pub(crate) async fn read_stream(
        &self,
        stream: &str,
        cursor: Option<&str>,
    ) -> Result<Page, ConnectorError> {
        match stream {
            "departments" => self.departments(cursor).await,
            "users" => self.users(cursor).await,
            "attendance" => self.attendance(cursor).await,
            other => Err(ConnectorError::Config(format!(
                "dingtalk has no stream {other:?} (streams: {})",
                STREAMS.join(", ")
            ))),
        }
    }

    // --- departments -----------------------------------------------------

    async fn departments(&self, cursor: Option<&str>) -> Result<Page, ConnectorError> {
        let state = match cursor {
            None => None,
            Some(raw) => Some(
                serde_json::from_str::<DepartmentsCursor>(raw)
                    .map_err(|e| bad_cursor("departments", raw, e))?,
            ),
        };
        // A scan starts with a fresh walk; later pages reuse it.
        let tree = self.tree(state.is_none()).await?;
        let offset = state.map_or(0, |s| s.offset).min(tree.depts.len());
        let end = (offset + DEPARTMENTS_PER_PAGE).min(tree.depts.len());
        let records = tree.depts[offset..end]
            .iter()
            .map(|d| RawRecord::upsert("departments", d.id.to_string(), d.payload.clone()))
            .collect();
        let done = end >= tree.depts.len();
        Ok(Page {
            records,
            cursor: (!done).then(|| encode(&DepartmentsCursor { offset: end })),
            done,
        })
    }

    // --- users -------------------------------------------------------------

    fn initial_leavers_since(&self) -> i64 {
        let tz = self.settings.tz;
        let start = self.settings.start_date(org::today(tz));
        org::midnight_ms(start, tz)
    }

    async fn users(&self, cursor: Option<&str>) -> Result<Page, ConnectorError> {
        let mut state = match cursor {
            None => UsersCursor::Idle {
                leavers_since: self.initial_leavers_since(),
            },
            Some(raw) => {
                serde_json::from_str::<UsersCursor>(raw).map_err(|e| bad_cursor("users", raw, e))?
            }
        };
        if let UsersCursor::Idle { leavers_since } = state {
            state = if self.settings.read_leavers {
                let until = Utc::now().timestamp_millis();
                UsersCursor::Leavers {
                    since: leavers_since.max(until - LEAVERS_MAX_SPAN_MS),
                    until,
                    token: "0".into(),
                }
            } else {
                UsersCursor::Walk {
                    dept: None,
                    cursor: 0,
                    leavers_since,
                }
            };
        }
        let mut records = Vec::new();
        let mut calls = 0;
        loop {
            let next = match &state {
                UsersCursor::Idle { .. } => {
                    return Ok(Page {
                        records,
                        cursor: Some(encode(&state)),
                        done: true,
                    })
                }
                UsersCursor::Leavers {
                    since,
                    until,
                    token,
                } => {
                    let (page, next) = org::leave_records(&self.client, *since, *until, token)
                        .await
                        .map_err(leavers_error)?;
                    records.extend(page.iter().filter_map(|r| {
                        let (id, payload) = org::leaver_payload(r, self.settings.tz)?;
                        Some(RawRecord::upsert("users", id, payload))
                    }));
                    match next {
                        Some(token) => UsersCursor::Leavers {
                            since: *since,
                            until: *until,
                            token,
                        },
                        None => UsersCursor::Walk {
                            dept: None,
                            cursor: 0,
                            leavers_since: (until - LEAVERS_MARGIN_MS).max(*since),
                        },
                    }
                }
                UsersCursor::Walk {
                    dept,
                    cursor,
                    leavers_since,
                } => {
                    let tree = self.tree(dept.is_none()).await?;
                    // A department gone since the cursor was saved: start the walk over.
                    let index = dept.and_then(|d| tree.position(d)).unwrap_or(0);
                    let cursor = if dept.is_some_and(|d| tree.position(d).is_some()) {
                        *cursor
                    } else {
                        0
                    };
                    let listed = &tree.depts[index];
                    let (users, next) = org::list_users(
                        &self.client,
                        listed.id,
                        cursor,
                        self.settings.user_page_size,
                    )
                    .await?;
                    for user in &users {
                        let primary = tree.primary(user);
                        // A user in several departments is emitted once: from its primary one.
                        if primary.is_some_and(|p| p.id != listed.id) {
                            continue;
                        }
                        let Some(userid) = user.get("userid").and_then(Value::as_str) else {
                            return Err(ConnectorError::protocol(
                                "dingtalk",
                                "user/list entry without `userid`",
                            ));
                        };
                        let payload =
                            org::user_payload(user, primary.or(Some(listed)), self.settings.tz);
                        records.push(RawRecord::upsert("users", userid, payload));
                    }
                    match (next, tree.depts.get(index + 1)) {
                        (Some(c), _) => UsersCursor::Walk {
                            dept: Some(listed.id),
                            cursor: c,
                            leavers_since: *leavers_since,
                        },
                        (None, Some(following)) => UsersCursor::Walk {
                            dept: Some(following.id),
                            cursor: 0,
                            leavers_since: *leavers_since,
                        },
                        (None, None) => UsersCursor::Idle {
                            leavers_since: *leavers_since,
                        },
                    }
                }
            };
            state = next;
            calls += 1;
            let finished = matches!(state, UsersCursor::Idle { .. });
            if finished || records.len() >= USERS_PER_PAGE || calls >= USER_CALLS_PER_PAGE {
                return Ok(Page {
                    records,
                    cursor: Some(encode(&state)),
                    done: finished,
                });
            }
        }
    }

    // --- attendance --------------------------------------------------------

    async fn attendance(&self, cursor: Option<&str>) -> Result<Page, ConnectorError> {
        let tz = self.settings.tz;
        let today = org::today(tz);
        let earliest = today - Duration::days(crate::config::MAX_ATTENDANCE_AGE_DAYS);
        let mut state = match cursor {
            None => AttendanceCursor {
                from: self.settings.start_date(today),
                after: None,
                offset: 0,
            },
            Some(raw) => serde_json::from_str::<AttendanceCursor>(raw)
                .map_err(|e| bad_cursor("attendance", raw, e))?,
        };
        if state.from < earliest {
            tracing::warn!(from = %state.from, %earliest, "dingtalk: attendance older than 180 days cannot be read; skipping ahead");
            state = AttendanceCursor {
                from: earliest,
                after: None,
                offset: 0,
            };
        }
        let mut records = Vec::new();
        let mut calls = 0;
        loop {
            if state.from > today {
                // Caught up: the next sync re-reads the lookback window.
                let from = today - Duration::days(i64::from(self.settings.lookback_days));
                return Ok(Page {
                    records,
                    cursor: Some(encode(&AttendanceCursor {
                        from: from.max(earliest),
                        after: None,
                        offset: 0,
                    })),
                    done: true,
                });
            }
            let to = (state.from + Duration::days(ATTENDANCE_WINDOW_DAYS - 1)).min(today);
            // The roster is re-read (when stale) at the start of a window.
            let roster = self
                .roster(state.after.is_none() && state.offset == 0)
                .await?;
            let start = match &state.after {
                None => 0,
                Some(after) => roster.ids.partition_point(|id| id <= after),
            };
            let batch = &roster.ids[start..(start + ATTENDANCE_BATCH).min(roster.ids.len())];
            let more = if batch.is_empty() {
                false
            } else {
                let (page, more) = self
                    .attendance_call(state.from, to, batch, state.offset)
                    .await?;
                records.extend(page);
                calls += 1;
                more
            };
            state = if more {
                AttendanceCursor {
                    offset: state.offset + ATTENDANCE_LIMIT,
                    ..state
                }
            } else if start + batch.len() < roster.ids.len() {
                AttendanceCursor {
                    from: state.from,
                    after: batch.last().cloned(),
                    offset: 0,
                }
            } else {
                AttendanceCursor {
                    from: to + Duration::days(1),
                    after: None,
                    offset: 0,
                }
            };
            if state.from <= today
                && (records.len() >= ATTENDANCE_PER_PAGE || calls >= ATTENDANCE_CALLS_PER_PAGE)
            {
                return Ok(Page {
                    records,
                    cursor: Some(encode(&state)),
                    done: false,
                });
            }
        }
    }

    /// One `/attendance/list` call: the records (normalized) and `hasMore`.
    async fn attendance_call(
        &self,
        from: NaiveDate,
        to: NaiveDate,
        users: &[String],
        offset: usize,
    ) -> Result<(Vec<RawRecord>, bool), ConnectorError> {
        debug_assert!(users.len() <= ATTENDANCE_BATCH);
        let body = self
            .client
            .oapi_post(
                "/attendance/list",
                &json!({
                    "workDateFrom": format!("{from} 00:00:00"),
                    "workDateTo": format!("{to} 00:00:00"),
                    "userIdList": users,
                    "offset": offset,
                    "limit": ATTENDANCE_LIMIT,
                    "isI18n": false,
                }),
            )
            .await?;
        let list = match body.get("recordresult") {
            Some(Value::Array(list)) => list.as_slice(),
            Some(Value::Null) | None => &[],
            Some(_) => {
                return Err(ConnectorError::protocol(
                    "dingtalk",
                    "attendance/list `recordresult` is not an array",
                ))
            }
        };
        let more = body
            .get("hasMore")
            .and_then(Value::as_bool)
            .unwrap_or(false);
        let records = list
            .iter()
            .map(|r| attendance_record(r, self.settings.tz))
            .collect::<Result<Vec<_>, _>>()?;
        // A full page claiming more is normal; an empty one claiming more would loop.
        Ok((records, more && !list.is_empty()))
    }

    // --- fetch by id -----------------------------------------------------

    /// `users` by userid: `user/get` each; an id DingTalk no longer knows
    /// is looked up in the last 30 days of leave records and returned as
    /// a leaver (`_left: true`), or skipped when not found there (yet).
    pub(crate) async fn fetch_users(
        &self,
        ids: &[String],
    ) -> Result<Vec<RawRecord>, ConnectorError> {
        let tree = self.fresh_tree().await?;
        let mut records = Vec::new();
        let mut gone = Vec::new();
        for id in unique(ids) {
            match org::get_user(&self.client, id).await? {
                Some(user) => {
                    let payload = org::user_payload(&user, tree.primary(&user), self.settings.tz);
                    records.push(RawRecord::upsert("users", id.as_str(), payload));
                }
                None => gone.push(id.clone()),
            }
        }
        if gone.is_empty() {
            return Ok(records);
        }
        if !self.settings.read_leavers {
            tracing::info!(users = ?gone, "dingtalk: users not found; read_leavers is off, so they stay as they are");
            return Ok(records);
        }
        let until = Utc::now().timestamp_millis();
        let since = until - 30 * 86_400_000;
        let mut token = "0".to_string();
        let wanted: HashSet<&String> = gone.iter().collect();
        let mut found = HashSet::new();
        loop {
            let (page, next) = org::leave_records(&self.client, since, until, &token)
                .await
                .map_err(leavers_error)?;
            for r in &page {
                if let Some((id, payload)) = org::leaver_payload(r, self.settings.tz) {
                    if wanted.contains(&id) && found.insert(id.clone()) {
                        records.push(RawRecord::upsert("users", id, payload));
                    }
                }
            }
            match next {
                Some(t) if found.len() < wanted.len() => token = t,
                _ => break,
            }
        }
        if found.len() < wanted.len() {
            let missing: Vec<_> = gone.iter().filter(|id| !found.contains(*id)).collect();
            tracing::info!(users = ?missing, "dingtalk: users not found and not (yet) in the leave records; the next users sync reads them");
        }
        Ok(records)
    }

    /// `departments` by id: `department/get` each; a removed department
    /// (60003) comes back as a delete of its record.
    pub(crate) async fn fetch_departments(
        &self,
        ids: &[String],
    ) -> Result<Vec<RawRecord>, ConnectorError> {
        let cached = self.tree.lock().await.clone();
        let mut records = Vec::new();
        for id in unique(ids) {
            let dept_id: i64 = id.trim().parse().map_err(|_| {
                ConnectorError::Config(format!("dingtalk: department id {id:?} is not a number"))
            })?;
            match org::get_department(&self.client, dept_id).await? {
                Some(raw) => {
                    // The path needs the ancestors: re-walk when the tree does not know them.
                    let parent = org::int(raw.get("parent_id"));
                    let mut tree = self.fresh_tree().await?;
                    if dept_id != self.settings.root
                        && parent.is_some_and(|p| tree.get(p).is_none())
                    {
                        tree = self.tree(true).await?;
                    }
                    let parent_path = parent.and_then(|p| tree.get(p)).map(|p| p.path.clone());
                    let mut payload = serde_json::Map::new();
                    for key in [
                        "dept_id",
                        "name",
                        "parent_id",
                        "create_dept_group",
                        "auto_add_user",
                    ] {
                        if let Some(v) = raw.get(key) {
                            payload.insert(key.into(), v.clone());
                        }
                    }
                    let name = raw.get("name").and_then(Value::as_str).unwrap_or_default();
                    let path = match parent_path {
                        Some(p) if dept_id != self.settings.root => format!("{p}/{name}"),
                        _ => name.to_string(),
                    };
                    payload.insert("_path".into(), json!(path));
                    records.push(RawRecord::upsert(
                        "departments",
                        id.as_str(),
                        Value::Object(payload),
                    ));
                }
                None => {
                    let known = cached.as_ref().and_then(|t| t.get(dept_id));
                    let mut payload = known.map_or_else(
                        || json!({"dept_id": dept_id, "name": ""}),
                        |d| d.payload.clone(),
                    );
                    payload["_removed"] = json!(true);
                    let mut record = RawRecord::upsert("departments", id.as_str(), payload);
                    record.op = hrhub_model::RecordOp::Delete;
                    records.push(record);
                }
            }
        }
        Ok(records)
    }

    /// `attendance` by `userid` (the last `attendance_lookback_days` through
    /// today) or `userid:YYYY-MM-DD` (that work date and the one before: a
    /// punch after midnight can belong to the previous day's shift). The
    /// records are the same as the poll's, so landing keeps one copy.
    pub(crate) async fn fetch_attendance(
        &self,
        ids: &[String],
    ) -> Result<Vec<RawRecord>, ConnectorError> {
        let today = org::today(self.settings.tz);
        let lookback = Duration::days(i64::from(self.settings.lookback_days));
        // (from, to) -> users
        let mut windows: BTreeMap<(NaiveDate, NaiveDate), BTreeSet<String>> = BTreeMap::new();
        for id in unique(ids) {
            let (user, window) = match id.split_once(':') {
                Some((user, date)) => {
                    let date = NaiveDate::parse_from_str(date, "%Y-%m-%d").map_err(|_| {
                        ConnectorError::Config(format!(
                            "dingtalk: attendance id {id:?} is not `userid` or `userid:YYYY-MM-DD`"
                        ))
                    })?;
                    (user, (date - Duration::days(1), date.min(today)))
                }
                None => (id.as_str(), (today - lookback, today)),
            };
            if window.0 <= window.1 {
                windows.entry(window).or_default().insert(user.to_string());
            }
        }
        let mut records = Vec::new();
        for ((from, to), users) in windows {
            let users: Vec<String> = users.into_iter().collect();
            for batch in users.chunks(ATTENDANCE_BATCH) {
                let mut offset = 0;
                loop {
                    let (page, more) = self.attendance_call(from, to, batch, offset).await?;
                    records.extend(page);
                    if !more {
                        break;
                    }
                    offset += ATTENDANCE_LIMIT;
                }
            }
        }
        Ok(records)
    }
}

fn unique(ids: &[String]) -> Vec<&String> {
    let mut seen = HashSet::new();
    ids.iter().filter(|id| seen.insert(*id)).collect()
}

fn leavers_error(e: ConnectorError) -> ConnectorError {
    match e {
        ConnectorError::Forbidden(why) => ConnectorError::Forbidden(format!(
            "{why} (reading leavers from /v1.0/contact/empLeaveRecords needs the contacts \
             leave-records permission; grant it, or set `read_leavers = false`)"
        )),
        other => other,
    }
}

/// An `/attendance/list` row as an `attendance` record: DingTalk's row plus
/// `_work_date` (local `YYYY-MM-DD`), `_scheduled_at` (`baseCheckTime`) and
/// `_checked_at` (`userCheckTime`; null for `NotSigned` rows, whose time is
/// filled by the platform, not punched), both RFC 3339 in the org's zone.
/// The key is the row's `id`; a row without one (not seen in practice) is
/// keyed `userId:workDate:checkType:planId`.
pub(crate) fn attendance_record(
    row: &Value,
    tz: chrono_tz::Tz,
) -> Result<RawRecord, ConnectorError> {
    let Value::Object(map) = row else {
        return Err(ConnectorError::protocol(
            "dingtalk",
            "attendance row is not an object",
        ));
    };
    let mut out = map.clone();
    let ms = |k: &str| org::int(row.get(k));
    let work_date = ms("workDate").and_then(|t| org::local_date(t, tz));
    out.insert(
        "_work_date".into(),
        json!(work_date.map(|d| d.format("%Y-%m-%d").to_string())),
    );
    out.insert(
        "_scheduled_at".into(),
        json!(ms("baseCheckTime").and_then(|t| org::local_rfc3339(t, tz))),
    );
    let signed = row.get("timeResult").and_then(Value::as_str) != Some("NotSigned");
    out.insert(
        "_checked_at".into(),
        json!(ms("userCheckTime")
            .filter(|_| signed)
            .and_then(|t| org::local_rfc3339(t, tz))),
    );
    let key = match org::int(row.get("id")) {
        Some(id) => id.to_string(),
        None => {
            let part = |k: &str| match row.get(k) {
                Some(Value::String(s)) => s.clone(),
                Some(Value::Null) | None => String::new(),
                Some(v) => v.to_string(),
            };
            let user = part("userId");
            if user.is_empty() {
                return Err(ConnectorError::protocol(
                    "dingtalk",
                    "attendance row without `id` or `userId`",
                ));
            }
            format!(
                "{user}:{}:{}:{}",
                part("workDate"),
                part("checkType"),
                part("planId")
            )
        }
    };
    Ok(RawRecord::upsert("attendance", key, Value::Object(out)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip() {
        let c = UsersCursor::Walk {
            dept: Some(5),
            cursor: 3,
            leavers_since: 1,
        };
        let s = encode(&c);
        assert_eq!(
            s,
            r#"{"phase":"walk","dept":5,"cursor":3,"leavers_since":1}"#
        );
        assert_eq!(serde_json::from_str::<UsersCursor>(&s).unwrap(), c);
        let a = AttendanceCursor {
            from: NaiveDate::from_ymd_opt(2024, 5, 1).unwrap(),
            after: Some("u1".into()),
            offset: 50,
        };
        let s = encode(&a);
        assert_eq!(s, r#"{"from":"2024-05-01","after":"u1","offset":50}"#);
        assert_eq!(serde_json::from_str::<AttendanceCursor>(&s).unwrap(), a);
    }

    #[test]
    fn attendance_rows_are_normalized() {
        let tz: chrono_tz::Tz = "Asia/Shanghai".parse().unwrap();
        let row = json!({"id": 100068640553_i64, "recordId": 42833709096_i64, "userId": "manager4220",
            "workDate": 1599321600000_i64, "checkType": "OnDuty", "timeResult": "Late",
            "locationResult": "Normal", "baseCheckTime": 1599354000000_i64,
            "userCheckTime": 1599354720000_i64, "sourceType": "USER"});
        let r = attendance_record(&row, tz).unwrap();
        assert_eq!(r.external_id, "100068640553");
        assert_eq!(r.payload["_work_date"], "2020-09-06");
        assert_eq!(r.payload["_scheduled_at"], "2020-09-06T09:00:00+08:00");
        assert_eq!(r.payload["_checked_at"], "2020-09-06T09:12:00+08:00");
        let missed = json!({"userId": "u", "workDate": 1599321600000_i64, "checkType": "OffDuty",
            "timeResult": "NotSigned", "baseCheckTime": 1599386400000_i64,
            "userCheckTime": 1599386400000_i64, "planId": 7});
        let r = attendance_record(&missed, tz).unwrap();
        assert_eq!(r.external_id, "u:1599321600000:OffDuty:7");
        assert_eq!(r.payload["_checked_at"], Value::Null);
    }
}
