//! The streams, their cursors and the helper fields the connector adds.
//!
//! | stream | endpoints | record key | cursor (opaque to the hub) |
//! |---|---|---|---|
//! | `departments` | `department/simplelist` + `department/get` | department id | `{"after": <last id>}` mid-scan; `None` once the scan completes (each sync rescans; landing drops the unchanged) |
//! | `users` | `user/list_id` + `user/get` (or `userids` + `user/get`, or legacy `user/list`) | userid | [`UsersCursor`] mid-scan; `None` once complete |
//! | `checkins` | `checkin/getcheckindata` | `userid:kind:time`, see [`checkin_key`] | [`CheckinCursor`] |
//! | `checkin_daily` (only with `daily_report = true`) | `checkin/getcheckin_daydata` | `userid:YYYY-MM-DD` | [`CheckinCursor`] |
//!
//! **Members.** `users` and the check-in streams need the userids. They come
//! from `userids` when configured; else from `user/list_id` (which WeCom
//! allows only with the 通讯录同步 secret, `contacts_secret`); when WeCom
//! refuses that (48002), from the legacy `department/simplelist` +
//! `user/list` per department, which WeCom refuses to IPs added since
//! 2022-08-15 — then the stream fails with a message naming both fixes.
//! `department/list` is never used. Apps created after 2022-06-20 get no
//! mobile, email, gender or avatar: those fields are then absent and the
//! employee is matched by 工号 (`employee_no_attr`).
//!
//! **Added fields.** WeCom payloads are landed as WeCom sent them (the
//! `user/get` and `department/get` answers without `errcode`/`errmsg`),
//! plus fields whose names start with `_`, computed by the connector
//! because a mapping cannot know the configuration:
//!
//! - users: `_employee_no` (the text of the custom attribute named by
//!   `employee_no_attr`, default `工号`, or null), `_department` (name of the main department),
//!   `_department_path` (`root/…/main department`);
//! - departments: `_path` (names from the root, `/`-separated);
//! - checkins: `_key` (= the record key), `_work_date` (local date of the
//!   scheduled time, else of the punch), `_checked_at` (the punch as
//!   RFC 3339 with the zone's offset; null on `未打卡` rows, whose
//!   `checkin_time` is not a punch), `_scheduled_at` (RFC 3339, or null
//!   when the rule has no standard time);
//! - checkin_daily: `_key`, `_work_date`, `_work_start` (the day's first
//!   scheduled on-duty time, RFC 3339, or null).

use crate::client::{Budget, Method, Secret, WeComClient};
use chrono::{DateTime, Duration as Days, NaiveDate, SecondsFormat, TimeZone, Utc};
use chrono_tz::Tz;
use hrhub_connector::{ConnectorError, Page};
use hrhub_model::RawRecord;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Mutex;
use tokio::time::Instant;

/// The streams in the order a full sync runs them (people first).
pub const STREAMS: [&str; 3] = ["departments", "users", "checkins"];
/// The daily-report stream, offered when `daily_report = true`.
pub const DAILY_STREAM: &str = "checkin_daily";

/// Userids per check-in call (WeCom's maximum).
pub const MAX_USERS_PER_CALL: usize = 100;
/// Local days per check-in call (WeCom: span ≤ 30 days).
pub const MAX_WINDOW_DAYS: i64 = 30;
/// `dept_user` rows per `user/list_id` page (≤ 10 000 allowed; small
/// pages keep each page's `user/get` calls bounded).
const LIST_ID_LIMIT: usize = 100;
/// Departments per `departments` page.
const DEPARTMENT_PAGE: usize = 100;
/// How long enumerated members and the department tree are reused across
/// pages.
const CACHE_TTL: Duration = Duration::from_secs(600);

/// What the streams need from the configuration.
#[derive(Debug, Clone)]
pub(crate) struct Settings {
    pub tz: Tz,
    pub employee_no_attr: String,
    pub lookback_days: u32,
    pub start_date: NaiveDate,
    /// Sorted, without duplicates.
    pub userids: Option<Vec<String>>,
}

/// The `users` cursor mid-scan: exactly one field is set.
/// `{"list_id": "<WeCom next_cursor>"}` (enumerating with `user/list_id`),
/// `{"after_dept": 7}` (legacy `user/list`, department ids ascending), or
/// `{"offset": 200}` (configured `userids`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UsersCursor {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub list_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub after_dept: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub offset: Option<usize>,
}

/// The `checkins` / `checkin_daily` cursor.
///
/// A scan reads local days `from..=to` in windows of at most 30 days and,
/// within each window, the members (userids ascending) in batches of at
/// most 100. Between scans only `from` is set: `{"from": "2024-03-01"}`.
/// Mid-scan: `{"from", "to", "window": <first day of the current window>,
/// "after": <last userid of the previous batch in this window>}`. A scan
/// fixes `to` when it starts (today; yesterday for daily reports, which
/// WeCom does not have for the current day) and, when complete, sets
/// `from = to − checkin_lookback_days` (never earlier than the scan's own
/// `from`), so every scan re-reads the trailing days where corrections
/// land.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CheckinCursor {
    pub from: NaiveDate,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub to: Option<NaiveDate>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub window: Option<NaiveDate>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub after: Option<String>,
}

/// How members were enumerated (for `check`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum MemberSource {
    Configured,
    ListId,
    Legacy,
}

#[derive(Debug, Clone)]
pub(crate) struct Department {
    pub id: i64,
    pub parent: Option<i64>,
    /// The `department/get` object.
    pub object: Value,
}

type DeptMap = BTreeMap<i64, Department>;
/// Enumerated members: when, how, who.
type MemberCache = Option<(Instant, MemberSource, Arc<Vec<String>>)>;

pub(crate) struct Streams {
    pub client: WeComClient,
    pub settings: Settings,
    members: Mutex<MemberCache>,
    departments: Mutex<Option<(Instant, Arc<DeptMap>)>>,
}

fn protocol(message: impl Into<String>) -> ConnectorError {
    ConnectorError::protocol("wecom", message)
}

fn cursor_error(stream: &str, raw: &str, e: impl std::fmt::Display) -> ConnectorError {
    ConnectorError::Config(format!(
        "stored {stream} cursor {raw:?} is not understood ({e}); reset the stream's cursor"
    ))
}

/// Local midnight of `day` as Unix seconds (the first instant of the day
/// when a DST change skips midnight).
pub(crate) fn midnight(tz: Tz, day: NaiveDate) -> i64 {
    let naive = day.and_hms_opt(0, 0, 0).expect("midnight exists");
    match tz.from_local_datetime(&naive).earliest() {
        Some(t) => t.timestamp(),
        None => (0..=3)
            .find_map(|h| {
                tz.from_local_datetime(&day.and_hms_opt(h, 0, 0).expect("valid hour"))
                    .earliest()
            })
            .map(|t| t.timestamp())
            .unwrap_or_else(|| naive.and_utc().timestamp()),
    }
}

fn local(tz: Tz, unix: i64) -> Option<DateTime<Tz>> {
    DateTime::<Utc>::from_timestamp(unix, 0).map(|t| t.with_timezone(&tz))
}

fn rfc3339(tz: Tz, unix: i64) -> Value {
    local(tz, unix)
        .map(|t| Value::String(t.to_rfc3339_opts(SecondsFormat::Secs, true)))
        .unwrap_or(Value::Null)
}

pub(crate) fn today(tz: Tz) -> NaiveDate {
    Utc::now().with_timezone(&tz).date_naive()
}

fn take_array(body: &mut Value, key: &str, path: &str) -> Result<Vec<Value>, ConnectorError> {
    match body.get_mut(key).map(Value::take) {
        Some(Value::Array(items)) => Ok(items),
        Some(Value::Null) | None => Ok(Vec::new()),
        Some(_) => Err(protocol(format!("{path}: `{key}` is not an array"))),
    }
}

/// An answer without its envelope (`errcode`, `errmsg`).
fn strip_envelope(mut body: Value) -> Value {
    if let Value::Object(map) = &mut body {
        map.remove("errcode");
        map.remove("errmsg");
    }
    body
}

/// A WeCom userid / id field as text.
fn text_of(item: &Value, field: &str) -> Option<String> {
    match item.get(field) {
        Some(Value::String(s)) if !s.is_empty() => Some(s.clone()),
        Some(Value::Number(n)) => Some(n.to_string()),
        _ => None,
    }
}

/// The record key of a raw check-in: `{userid}:{kind}:{time}` where kind is
/// `in` (上班打卡), `out` (下班打卡), `outing` (外出打卡) or the raw
/// `checkin_type`, and time is the scheduled time (`sch_checkin_time`,
/// Unix seconds) or, when the rule has none (free check-in, outings),
/// `t` + the punch time. The scheduled time is stable when a 补卡
/// correction turns a `未打卡` row into a punch, so the corrected row
/// replaces the missed one. Userids cannot contain `:`.
pub fn checkin_key(item: &Value) -> Option<String> {
    let userid = text_of(item, "userid")?;
    let kind = match item.get("checkin_type").and_then(Value::as_str)? {
        "上班打卡" => "in",
        "下班打卡" => "out",
        "外出打卡" => "outing",
        other => other,
    };
    let scheduled = item
        .get("sch_checkin_time")
        .and_then(Value::as_i64)
        .filter(|t| *t > 0);
    Some(match scheduled {
        Some(s) if kind != "outing" => format!("{userid}:{kind}:{s}"),
        _ => format!(
            "{userid}:{kind}:t{}",
            item.get("checkin_time").and_then(Value::as_i64)?
        ),
    })
}

fn is_missed(item: &Value) -> bool {
    item.get("exception_type")
        .and_then(Value::as_str)
        .is_some_and(|e| e.contains("未打卡"))
}

/// Keys the punches of one answer; several can share a key (repeated
/// punches for one scheduled time): a real punch wins over a missed row,
/// then the earliest on-duty / latest off-duty punch, as WeCom counts
/// them. Source order is kept.
fn dedupe_checkins(items: Vec<Value>) -> Vec<(String, Value)> {
    let mut by_key: HashMap<String, usize> = HashMap::new();
    let mut kept: Vec<(String, Value)> = Vec::new();
    for item in items {
        let Some(key) = checkin_key(&item) else {
            tracing::warn!(
                ?item,
                "wecom: check-in without userid/checkin_type/time; skipped"
            );
            continue;
        };
        match by_key.get(&key) {
            None => {
                by_key.insert(key.clone(), kept.len());
                kept.push((key, item));
            }
            Some(&i) => {
                let old = &kept[i].1;
                let t = |v: &Value| v.get("checkin_time").and_then(Value::as_i64).unwrap_or(0);
                let better = match (is_missed(old), is_missed(&item)) {
                    (true, false) => true,
                    (false, true) => false,
                    _ if key.contains(":out:") => t(&item) > t(old),
                    _ => t(&item) < t(old),
                };
                if better {
                    kept[i].1 = item;
                }
            }
        }
    }
    kept
}

impl Streams {
    pub(crate) fn new(client: WeComClient, settings: Settings) -> Self {
        Streams {
            client,
            settings,
            members: Mutex::new(None),
            departments: Mutex::new(None),
        }
    }

    // -----------------------------------------------------------------
    // Members

    /// Every member's userid, ascending, and where they came from.
    pub(crate) async fn members(
        &self,
        fresh: bool,
    ) -> Result<(MemberSource, Arc<Vec<String>>), ConnectorError> {
        if let Some(ids) = &self.settings.userids {
            return Ok((MemberSource::Configured, Arc::new(ids.clone())));
        }
        let mut cache = self.members.lock().await;
        if let Some((at, source, ids)) = cache.as_ref() {
            if !fresh && at.elapsed() < CACHE_TTL {
                return Ok((*source, ids.clone()));
            }
        }
        let (source, mut ids) = match self.list_id_all().await? {
            Some(ids) => (MemberSource::ListId, ids),
            None => (MemberSource::Legacy, self.legacy_members().await?),
        };
        ids.sort();
        ids.dedup();
        let ids = Arc::new(ids);
        *cache = Some((Instant::now(), source, ids.clone()));
        Ok((source, ids))
    }

    /// One `user/list_id` page: the distinct userids and the next cursor
    /// (`None` at the end). `Ok(None)` when WeCom refuses the API (48002).
    async fn list_id_page(
        &self,
        cursor: Option<&str>,
        limit: usize,
    ) -> Result<Option<(Vec<String>, Option<String>)>, ConnectorError> {
        let mut body = json!({ "limit": limit });
        if let Some(c) = cursor {
            body["cursor"] = json!(c);
        }
        let answer = self
            .client
            .call_allowing(
                Budget::General,
                Secret::Contacts,
                Method::Post,
                "/cgi-bin/user/list_id",
                &[],
                Some(&body),
                &[48002],
            )
            .await?;
        let mut answer = match answer {
            Ok(a) => a,
            Err((code, message)) => {
                tracing::info!(code, %message, "wecom: user/list_id refused; falling back to user/list per department");
                return Ok(None);
            }
        };
        let mut ids = Vec::new();
        for row in take_array(&mut answer, "dept_user", "/cgi-bin/user/list_id")? {
            let id = text_of(&row, "userid")
                .ok_or_else(|| protocol("user/list_id row without userid"))?;
            if !ids.contains(&id) {
                ids.push(id);
            }
        }
        let next = answer
            .get("next_cursor")
            .and_then(Value::as_str)
            .filter(|c| !c.is_empty())
            .map(str::to_string);
        Ok(Some((ids, next)))
    }

    async fn list_id_all(&self) -> Result<Option<Vec<String>>, ConnectorError> {
        let mut all = Vec::new();
        let mut cursor: Option<String> = None;
        for _ in 0..100_000 {
            let Some((ids, next)) = self.list_id_page(cursor.as_deref(), 10_000).await? else {
                return Ok(None);
            };
            all.extend(ids);
            match next {
                Some(n) if Some(&n) != cursor.as_ref() => cursor = Some(n),
                Some(_) => return Err(protocol("user/list_id repeated its next_cursor")),
                None => return Ok(Some(all)),
            }
        }
        Err(protocol("user/list_id never ended"))
    }

    /// `user/list` of one department (direct members, full detail).
    async fn legacy_user_list(&self, dept: i64) -> Result<Vec<Value>, ConnectorError> {
        let answer = self
            .client
            .call_allowing(
                Budget::General,
                Secret::Contacts,
                Method::Get,
                "/cgi-bin/user/list",
                &[("department_id", dept.to_string())],
                None,
                &[48002, 60020],
            )
            .await?;
        match answer {
            Ok(mut a) => take_array(&mut a, "userlist", "/cgi-bin/user/list"),
            Err((code, message)) => Err(ConnectorError::Forbidden(format!(
                "WeCom lets this connector enumerate members neither with user/list_id (it needs the \
                 通讯录同步 secret) nor with user/list (errcode {code}: {}; refused to IPs added since \
                 2022-08-15): set `contacts_secret` to the 通讯录同步 secret, or list the members in `userids`",
                message.split(", hint:").next().unwrap_or(&message)
            ))),
        }
    }

    async fn legacy_members(&self) -> Result<Vec<String>, ConnectorError> {
        let mut ids = Vec::new();
        for dept in self.department_ids().await? {
            for user in self.legacy_user_list(dept.0).await? {
                if let Some(id) = text_of(&user, "userid") {
                    ids.push(id);
                }
            }
        }
        Ok(ids)
    }

    // -----------------------------------------------------------------
    // Departments

    /// `department/simplelist`: (id, parentid), ascending by id.
    async fn department_ids(&self) -> Result<Vec<(i64, Option<i64>)>, ConnectorError> {
        let mut answer = self
            .client
            .call(
                Budget::General,
                Secret::Contacts,
                Method::Get,
                "/cgi-bin/department/simplelist",
                &[],
                None,
            )
            .await?;
        let mut out = Vec::new();
        for d in take_array(
            &mut answer,
            "department_id",
            "/cgi-bin/department/simplelist",
        )? {
            let id = d
                .get("id")
                .and_then(Value::as_i64)
                .ok_or_else(|| protocol("department/simplelist entry without id"))?;
            let parent = d.get("parentid").and_then(Value::as_i64).filter(|p| *p > 0);
            out.push((id, parent));
        }
        out.sort();
        out.dedup();
        Ok(out)
    }

    /// `department/get`; `None` when the department no longer exists.
    async fn department_get(&self, id: i64) -> Result<Option<Value>, ConnectorError> {
        let answer = self
            .client
            .call_allowing(
                Budget::General,
                Secret::Contacts,
                Method::Get,
                "/cgi-bin/department/get",
                &[("id", id.to_string())],
                None,
                &[60003],
            )
            .await?;
        match answer {
            Ok(mut a) => match a.get_mut("department").map(Value::take) {
                Some(obj @ Value::Object(_)) => Ok(Some(obj)),
                _ => Err(protocol(format!(
                    "department/get {id} without `department`"
                ))),
            },
            Err(_) => Ok(None),
        }
    }

    /// The department tree, cached for a few minutes (`fresh` reloads it).
    pub(crate) async fn department_map(&self, fresh: bool) -> Result<Arc<DeptMap>, ConnectorError> {
        let mut cache = self.departments.lock().await;
        if let Some((at, map)) = cache.as_ref() {
            if !fresh && at.elapsed() < CACHE_TTL {
                return Ok(map.clone());
            }
        }
        let mut map = DeptMap::new();
        for (id, parent) in self.department_ids().await? {
            if let Some(object) = self.department_get(id).await? {
                let parent = object
                    .get("parentid")
                    .and_then(Value::as_i64)
                    .filter(|p| *p > 0)
                    .or(parent);
                map.insert(id, Department { id, parent, object });
            }
        }
        let map = Arc::new(map);
        *cache = Some((Instant::now(), map.clone()));
        Ok(map)
    }

    fn department_name(map: &DeptMap, id: i64) -> Option<String> {
        map.get(&id)
            .and_then(|d| d.object.get("name"))
            .and_then(Value::as_str)
            .map(str::to_string)
    }

    /// Names from the root down to `id`, `/`-separated.
    fn department_path(map: &DeptMap, id: i64) -> Option<String> {
        let mut names = Vec::new();
        let mut at = Some(id);
        while let Some(current) = at {
            let dept = map.get(&current)?;
            names.push(Self::department_name(map, current).unwrap_or_else(|| current.to_string()));
            at = dept.parent.filter(|p| *p != current);
            if names.len() > 64 {
                break; // a cycle: stop rather than loop
            }
        }
        names.reverse();
        Some(names.join("/"))
    }

    fn department_record(map: &DeptMap, dept: &Department) -> RawRecord {
        let mut payload = dept.object.clone();
        payload["_path"] = Self::department_path(map, dept.id).map_or(Value::Null, Value::String);
        RawRecord::upsert("departments", dept.id.to_string(), payload)
    }

    async fn read_departments(&self, cursor: Option<&str>) -> Result<Page, ConnectorError> {
        let after = match cursor {
            None => None,
            Some(raw) => {
                #[derive(Deserialize)]
                #[serde(deny_unknown_fields)]
                struct C {
                    after: i64,
                }
                Some(
                    serde_json::from_str::<C>(raw)
                        .map_err(|e| cursor_error("departments", raw, e))?
                        .after,
                )
            }
        };
        // A scan starts with a fresh tree; later pages reuse it.
        let map = self.department_map(after.is_none()).await?;
        let page: Vec<&Department> = map
            .values()
            .filter(|d| after.is_none_or(|a| d.id > a))
            .take(DEPARTMENT_PAGE)
            .collect();
        let records: Vec<RawRecord> = page
            .iter()
            .map(|d| Self::department_record(&map, d))
            .collect();
        let last = page.last().map(|d| d.id);
        let more = last.is_some_and(|l| map.range(l + 1..).next().is_some());
        Ok(Page {
            records,
            cursor: if more {
                last.map(|l| json!({ "after": l }).to_string())
            } else {
                None
            },
            done: !more,
        })
    }

    pub(crate) async fn fetch_departments(
        &self,
        ids: &[String],
    ) -> Result<Vec<RawRecord>, ConnectorError> {
        let mut map = self.department_map(false).await?;
        let mut out = Vec::new();
        for raw in ids {
            let id: i64 = raw.trim().parse().map_err(|_| {
                ConnectorError::Config(format!("wecom: department id {raw:?} is not a number"))
            })?;
            let Some(object) = self.department_get(id).await? else {
                tracing::info!(id, "wecom: department gone before it could be fetched");
                continue;
            };
            let parent = object
                .get("parentid")
                .and_then(Value::as_i64)
                .filter(|p| *p > 0);
            if !parent.is_none_or(|p| map.contains_key(&p)) {
                map = self.department_map(true).await?;
            }
            let dept = Department { id, parent, object };
            let mut with_self = (*map).clone();
            with_self.insert(id, dept.clone());
            out.push(Self::department_record(&with_self, &dept));
        }
        Ok(out)
    }

    // -----------------------------------------------------------------
    // Users

    /// `user/get`; `None` when the user no longer exists.
    async fn user_get(&self, userid: &str) -> Result<Option<Value>, ConnectorError> {
        let answer = self
            .client
            .call_allowing(
                Budget::General,
                Secret::Contacts,
                Method::Get,
                "/cgi-bin/user/get",
                &[("userid", userid.to_string())],
                None,
                &[60111, 40003],
            )
            .await?;
        Ok(answer.ok().map(strip_envelope))
    }

    /// Adds `_employee_no`, `_department`, `_department_path`.
    fn user_record(
        &self,
        map: Option<&DeptMap>,
        mut user: Value,
    ) -> Result<RawRecord, ConnectorError> {
        let userid = text_of(&user, "userid").ok_or_else(|| protocol("user without userid"))?;
        let attr = self.settings.employee_no_attr.as_str();
        let employee_no = (|| {
            user.pointer("/extattr/attrs")?
                .as_array()?
                .iter()
                .find(|a| a.get("name").and_then(Value::as_str) == Some(attr))
                .and_then(|a| {
                    a.pointer("/text/value")
                        .or_else(|| a.get("value"))
                        .and_then(Value::as_str)
                })
                .map(str::trim)
                .filter(|v| !v.is_empty())
                .map(str::to_string)
        })();
        let main = user
            .get("main_department")
            .and_then(Value::as_i64)
            .or_else(|| {
                user.get("department")
                    .and_then(Value::as_array)
                    .and_then(|d| d.first())
                    .and_then(Value::as_i64)
            });
        let (name, path) = match (map, main) {
            (Some(map), Some(main)) => (
                Self::department_name(map, main),
                Self::department_path(map, main),
            ),
            _ => (None, None),
        };
        if let Value::Object(obj) = &mut user {
            obj.insert(
                "_employee_no".into(),
                employee_no.map_or(Value::Null, Value::String),
            );
            obj.insert(
                "_department".into(),
                name.map_or(Value::Null, Value::String),
            );
            obj.insert(
                "_department_path".into(),
                path.map_or(Value::Null, Value::String),
            );
        }
        Ok(RawRecord::upsert("users", userid, user))
    }

    /// The department tree for user records; a secret that may not read
    /// departments only costs the `_department` fields.
    async fn map_for_users(&self) -> Result<Option<Arc<DeptMap>>, ConnectorError> {
        match self.department_map(false).await {
            Ok(map) => Ok(Some(map)),
            Err(ConnectorError::Forbidden(why)) => {
                tracing::warn!(%why, "wecom: departments not readable; users get no _department");
                Ok(None)
            }
            Err(e) => Err(e),
        }
    }

    async fn users_by_id(&self, ids: &[String]) -> Result<Vec<RawRecord>, ConnectorError> {
        let map = self.map_for_users().await?;
        let mut out = Vec::new();
        for id in ids {
            match self.user_get(id).await? {
                Some(user) => out.push(self.user_record(map.as_deref(), user)?),
                None => tracing::info!(userid = %id, "wecom: user gone before it could be fetched"),
            }
        }
        Ok(out)
    }

    pub(crate) async fn fetch_users(
        &self,
        ids: &[String],
    ) -> Result<Vec<RawRecord>, ConnectorError> {
        self.users_by_id(ids).await
    }

    async fn read_users(&self, cursor: Option<&str>) -> Result<Page, ConnectorError> {
        let state = match cursor {
            None => UsersCursor::default(),
            Some(raw) => serde_json::from_str::<UsersCursor>(raw)
                .map_err(|e| cursor_error("users", raw, e))?,
        };
        let encode = |c: UsersCursor| Some(serde_json::to_string(&c).expect("cursor serializes"));

        // Configured members.
        if let Some(ids) = &self.settings.userids {
            let offset = state.offset.unwrap_or(0).min(ids.len());
            let end = (offset + MAX_USERS_PER_CALL).min(ids.len());
            let records = self.users_by_id(&ids[offset..end]).await?;
            let done = end >= ids.len();
            return Ok(Page {
                records,
                cursor: if done {
                    None
                } else {
                    encode(UsersCursor {
                        offset: Some(end),
                        ..Default::default()
                    })
                },
                done,
            });
        }

        // Legacy: user/list per department.
        if let Some(after) = state.after_dept {
            return self.legacy_users_page(Some(after)).await;
        }

        match self
            .list_id_page(state.list_id.as_deref(), LIST_ID_LIMIT)
            .await?
        {
            None if state.list_id.is_none() => self.legacy_users_page(None).await,
            None => Err(ConnectorError::Forbidden(
                "WeCom stopped permitting user/list_id mid-scan (errcode 48002)".into(),
            )),
            Some((ids, next)) => {
                let records = self.users_by_id(&ids).await?;
                Ok(Page {
                    records,
                    done: next.is_none(),
                    cursor: next.and_then(|n| {
                        encode(UsersCursor {
                            list_id: Some(n),
                            ..Default::default()
                        })
                    }),
                })
            }
        }
    }

    /// One department's members via legacy `user/list`, departments in id order.
    async fn legacy_users_page(&self, after: Option<i64>) -> Result<Page, ConnectorError> {
        let depts = self.department_ids().await?;
        let mut remaining = depts
            .iter()
            .map(|d| d.0)
            .filter(|d| after.is_none_or(|a| *d > a));
        let Some(dept) = remaining.next() else {
            return Ok(Page {
                records: Vec::new(),
                cursor: None,
                done: true,
            });
        };
        let map = self.map_for_users().await?;
        let mut records = Vec::new();
        for user in self.legacy_user_list(dept).await? {
            records.push(self.user_record(map.as_deref(), user)?);
        }
        let more = remaining.next().is_some();
        Ok(Page {
            records,
            cursor: more.then(|| {
                serde_json::to_string(&UsersCursor {
                    after_dept: Some(dept),
                    ..Default::default()
                })
                .expect("cursor serializes")
            }),
            done: !more,
        })
    }

    // -----------------------------------------------------------------
    // Check-ins

    fn checkin_records(&self, items: Vec<Value>) -> Vec<RawRecord> {
        let tz = self.settings.tz;
        let kept = dedupe_checkins(items);
        kept.into_iter()
            .map(|(key, mut item)| {
                let scheduled = item
                    .get("sch_checkin_time")
                    .and_then(Value::as_i64)
                    .filter(|t| *t > 0);
                let punched = item.get("checkin_time").and_then(Value::as_i64);
                let work_date = scheduled
                    .or(punched)
                    .and_then(|t| local(tz, t))
                    .map(|t| Value::String(t.date_naive().to_string()))
                    .unwrap_or(Value::Null);
                let checked_at = match punched {
                    Some(t) if !is_missed(&item) => rfc3339(tz, t),
                    _ => Value::Null,
                };
                if let Value::Object(obj) = &mut item {
                    obj.insert("_key".into(), Value::String(key.clone()));
                    obj.insert("_work_date".into(), work_date);
                    obj.insert("_checked_at".into(), checked_at);
                    obj.insert(
                        "_scheduled_at".into(),
                        scheduled.map_or(Value::Null, |s| rfc3339(tz, s)),
                    );
                }
                RawRecord::upsert("checkins", key, item)
            })
            .collect()
    }

    fn daily_records(&self, items: Vec<Value>) -> Result<Vec<RawRecord>, ConnectorError> {
        let tz = self.settings.tz;
        let mut out = Vec::with_capacity(items.len());
        for mut item in items {
            let userid = item
                .pointer("/base_info/acctid")
                .and_then(Value::as_str)
                .filter(|s| !s.is_empty())
                .ok_or_else(|| protocol("daily report without base_info.acctid"))?
                .to_string();
            let date_ts = item
                .pointer("/base_info/date")
                .and_then(Value::as_i64)
                .ok_or_else(|| protocol("daily report without base_info.date"))?;
            // `date` is the day's local midnight; noon avoids any DST edge.
            let date = local(tz, date_ts + 12 * 3600)
                .ok_or_else(|| protocol("daily report date out of range"))?
                .date_naive();
            let work_start = item
                .pointer("/base_info/rule_info/checkintime/0/work_sec")
                .and_then(Value::as_i64)
                .map(|sec| rfc3339(tz, midnight(tz, date) + sec))
                .unwrap_or(Value::Null);
            let key = format!("{userid}:{date}");
            if let Value::Object(obj) = &mut item {
                obj.insert("_key".into(), Value::String(key.clone()));
                obj.insert("_work_date".into(), Value::String(date.to_string()));
                obj.insert("_work_start".into(), work_start);
            }
            out.push(RawRecord::upsert(DAILY_STREAM, key, item));
        }
        Ok(out)
    }

    async fn read_checkins(
        &self,
        stream: &str,
        cursor: Option<&str>,
    ) -> Result<Page, ConnectorError> {
        let daily = stream == DAILY_STREAM;
        let tz = self.settings.tz;
        let state = match cursor {
            None => CheckinCursor {
                from: self.settings.start_date,
                to: None,
                window: None,
                after: None,
            },
            Some(raw) => serde_json::from_str::<CheckinCursor>(raw)
                .map_err(|e| cursor_error(stream, raw, e))?,
        };
        let encode = |c: &CheckinCursor| Some(serde_json::to_string(c).expect("cursor serializes"));
        let now = Utc::now();
        let local_today = now.with_timezone(&tz).date_naive();
        // Daily reports exist from yesterday backwards.
        let to = state.to.unwrap_or(if daily {
            local_today - Days::days(1)
        } else {
            local_today
        });
        let window = state.window.unwrap_or(state.from);
        let finished = |from: NaiveDate| {
            let lookback = Days::days(i64::from(self.settings.lookback_days));
            CheckinCursor {
                from: (to - lookback).max(from),
                to: None,
                window: None,
                after: None,
            }
        };
        if window > to {
            // Nothing to read yet (e.g. start_date is today for daily reports).
            let next = CheckinCursor {
                from: state.from,
                to: None,
                window: None,
                after: None,
            };
            return Ok(Page {
                records: Vec::new(),
                cursor: encode(&next),
                done: true,
            });
        }
        // A new scan enumerates afresh; later pages reuse the list.
        let (_, members) = self.members(state.to.is_none()).await?;
        let mut window_end = (window + Days::days(MAX_WINDOW_DAYS - 1)).min(to);
        let start_ts = midnight(tz, window);
        let end_ts = |end: NaiveDate| {
            if daily {
                midnight(tz, end)
            } else {
                (midnight(tz, end + Days::days(1)) - 1).min(now.timestamp())
            }
        };
        while window_end > window && end_ts(window_end) - start_ts > MAX_WINDOW_DAYS * 86_400 {
            window_end -= Days::days(1); // a DST hour made the span too long
        }
        let batch: Vec<&String> = members
            .iter()
            .filter(|u| state.after.as_ref().is_none_or(|a| *u > a))
            .take(MAX_USERS_PER_CALL)
            .collect();
        let mut records = Vec::new();
        if !batch.is_empty() {
            let body = if daily {
                json!({"starttime": start_ts, "endtime": end_ts(window_end), "useridlist": batch})
            } else {
                json!({"opencheckindatatype": 3, "starttime": start_ts,
                       "endtime": end_ts(window_end), "useridlist": batch})
            };
            let (budget, path, key) = if daily {
                (
                    Budget::DayData,
                    "/cgi-bin/checkin/getcheckin_daydata",
                    "datas",
                )
            } else {
                (
                    Budget::Checkin,
                    "/cgi-bin/checkin/getcheckindata",
                    "checkindata",
                )
            };
            let mut answer = self
                .client
                .call(budget, Secret::App, Method::Post, path, &[], Some(&body))
                .await?;
            let items = take_array(&mut answer, key, path)?;
            records = if daily {
                self.daily_records(items)?
            } else {
                self.checkin_records(items)
            };
        }
        let last = batch.last().map(|u| (*u).clone());
        let more_users = last.as_ref().is_some_and(|l| members.iter().any(|u| u > l));
        let (next, done) = if more_users {
            (
                CheckinCursor {
                    from: state.from,
                    to: Some(to),
                    window: Some(window),
                    after: last,
                },
                false,
            )
        } else if window_end < to && !members.is_empty() {
            (
                CheckinCursor {
                    from: state.from,
                    to: Some(to),
                    window: Some(window_end + Days::days(1)),
                    after: None,
                },
                false,
            )
        } else {
            (finished(state.from), true)
        };
        tracing::debug!(stream, %window, %window_end, users = batch.len(), records = records.len(), done, "wecom: check-in page");
        Ok(Page {
            records,
            cursor: encode(&next),
            done,
        })
    }

    // -----------------------------------------------------------------

    pub(crate) async fn read(
        &self,
        stream: &str,
        cursor: Option<&str>,
    ) -> Result<Page, ConnectorError> {
        match stream {
            "departments" => self.read_departments(cursor).await,
            "users" => self.read_users(cursor).await,
            "checkins" | DAILY_STREAM => self.read_checkins(stream, cursor).await,
            other => Err(ConnectorError::Config(format!(
                "wecom has no stream {other:?} (streams: {}, and {DAILY_STREAM} with daily_report = true)",
                STREAMS.join(", ")
            ))),
        }
    }

    /// For `check`: can the app secret read check-ins? Reads today for one member.
    pub(crate) async fn probe_checkins(&self, userid: &str) -> Result<usize, ConnectorError> {
        let tz = self.settings.tz;
        let start = midnight(tz, today(tz));
        let body = json!({"opencheckindatatype": 3, "starttime": start,
                          "endtime": Utc::now().timestamp().max(start), "useridlist": [userid]});
        let mut answer = self
            .client
            .call(
                Budget::Checkin,
                Secret::App,
                Method::Post,
                "/cgi-bin/checkin/getcheckindata",
                &[],
                Some(&body),
            )
            .await?;
        Ok(take_array(
            &mut answer,
            "checkindata",
            "/cgi-bin/checkin/getcheckindata",
        )?
        .len())
    }
}

/// A JSON object from pairs (tests).
#[cfg(test)]
fn obj(pairs: &[(&str, Value)]) -> Value {
    Value::Object(
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.clone()))
            .collect::<serde_json::Map<_, _>>(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checkin_keys() {
        let on = obj(&[
            ("userid", json!("zhangsan")),
            ("checkin_type", json!("上班打卡")),
            ("checkin_time", json!(1705280833)),
            ("sch_checkin_time", json!(1705280400)),
        ]);
        assert_eq!(checkin_key(&on).unwrap(), "zhangsan:in:1705280400");
        let free = obj(&[
            ("userid", json!("lisi")),
            ("checkin_type", json!("下班打卡")),
            ("checkin_time", json!(1705314725)),
        ]);
        assert_eq!(checkin_key(&free).unwrap(), "lisi:out:t1705314725");
        let outing = obj(&[
            ("userid", json!("lisi")),
            ("checkin_type", json!("外出打卡")),
            ("checkin_time", json!(1705300000)),
            ("sch_checkin_time", json!(1705280400)),
        ]);
        assert_eq!(checkin_key(&outing).unwrap(), "lisi:outing:t1705300000");
        assert!(checkin_key(&json!({"checkin_type": "上班打卡"})).is_none());
    }

    #[test]
    fn repeated_punches_keep_the_one_wecom_counts() {
        let p = |ty: &str, t: i64, exc: &str| {
            json!({"userid": "u", "checkin_type": ty, "checkin_time": t,
                   "sch_checkin_time": if ty == "上班打卡" { 100 } else { 200 }, "exception_type": exc})
        };
        let kept = dedupe_checkins(vec![
            p("上班打卡", 100, "未打卡"),
            p("上班打卡", 95, ""),
            p("上班打卡", 90, ""),
            p("下班打卡", 210, ""),
            p("下班打卡", 250, ""),
            p("下班打卡", 200, "未打卡"),
        ]);
        assert_eq!(kept.len(), 2);
        assert_eq!(kept[0].0, "u:in:100");
        assert_eq!(kept[0].1["checkin_time"], 90, "earliest on-duty punch");
        assert_eq!(kept[1].1["checkin_time"], 250, "latest off-duty punch");
        assert!(dedupe_checkins(vec![json!({"userid": "u"})]).is_empty());
    }

    #[test]
    fn midnights() {
        let tz = chrono_tz::Asia::Shanghai;
        assert_eq!(
            midnight(tz, NaiveDate::from_ymd_opt(2017, 4, 20).unwrap()),
            1492617600
        );
        assert_eq!(rfc3339(tz, 1705280833), json!("2024-01-15T09:07:13+08:00"));
    }

    #[test]
    fn cursors_serialize_compactly() {
        let c = CheckinCursor {
            from: NaiveDate::from_ymd_opt(2024, 3, 1).unwrap(),
            to: None,
            window: None,
            after: None,
        };
        assert_eq!(
            serde_json::to_string(&c).unwrap(),
            r#"{"from":"2024-03-01"}"#
        );
        let u = UsersCursor {
            list_id: Some("abc".into()),
            ..Default::default()
        };
        assert_eq!(serde_json::to_string(&u).unwrap(), r#"{"list_id":"abc"}"#);
    }
}
