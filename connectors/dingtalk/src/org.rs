//! The organization: the department tree (breadth-first from the
//! configured root), users as the streams emit them, the roster of user
//! ids attendance is read for, and the time helpers that render DingTalk's
//! millisecond timestamps as local dates and RFC 3339 instants.

use crate::client::DingTalkClient;
use chrono::{DateTime, NaiveDate, SecondsFormat, TimeZone, Utc};
use chrono_tz::Tz;
use hrhub_connector::ConnectorError;
use serde_json::{json, Map, Value};
use std::collections::{BTreeSet, HashMap, VecDeque};
use tokio::time::Instant;

/// "No such department".
pub(crate) const NO_DEPARTMENT: i64 = 60003;
/// "No such user" (60121) and "invalid userid" (33012): what a leaver's id answers.
pub(crate) const NO_USER: [i64; 2] = [60121, 33012];

/// Department fields kept in a raw record: what both `listsub` and
/// `department/get` return, so a polled and a re-fetched department land
/// the same.
const DEPT_FIELDS: [&str; 5] = [
    "dept_id",
    "name",
    "parent_id",
    "create_dept_group",
    "auto_add_user",
];

/// User fields kept in a raw record: the documented `/topapi/v2/user/list`
/// fields, so a polled user and one re-fetched with `/topapi/v2/user/get`
/// land the same. `dept_order` (the order within the department the
/// listing came from) is left out: it differs per listing.
pub(crate) const USER_FIELDS: [&str; 22] = [
    "userid",
    "unionid",
    "name",
    "mobile",
    "state_code",
    "email",
    "org_email",
    "job_number",
    "title",
    "dept_id_list",
    "hired_date",
    "active",
    "admin",
    "boss",
    "leader",
    "exclusive_account",
    "telephone",
    "work_place",
    "remark",
    "extension",
    "avatar",
    "hide_mobile",
];

fn protocol(message: impl Into<String>) -> ConnectorError {
    ConnectorError::protocol("dingtalk", message)
}

/// A JSON id (number or numeric string) as i64.
pub(crate) fn int(v: Option<&Value>) -> Option<i64> {
    match v? {
        Value::Number(n) => n.as_i64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

// ---------------------------------------------------------------------------
// Time

/// The local calendar date of a millisecond timestamp.
pub(crate) fn local_date(ms: i64, tz: Tz) -> Option<NaiveDate> {
    DateTime::<Utc>::from_timestamp_millis(ms).map(|t| t.with_timezone(&tz).date_naive())
}

/// RFC 3339 with the zone's offset, e.g. `2020-09-06T09:12:00+08:00`.
pub(crate) fn local_rfc3339(ms: i64, tz: Tz) -> Option<String> {
    DateTime::<Utc>::from_timestamp_millis(ms).map(|t| {
        t.with_timezone(&tz)
            .to_rfc3339_opts(SecondsFormat::Secs, true)
    })
}

/// Today in the organization's zone.
pub(crate) fn today(tz: Tz) -> NaiveDate {
    Utc::now().with_timezone(&tz).date_naive()
}

/// Local midnight of `date` as Unix milliseconds.
pub(crate) fn midnight_ms(date: NaiveDate, tz: Tz) -> i64 {
    let naive = date.and_hms_opt(0, 0, 0).expect("midnight exists");
    tz.from_local_datetime(&naive)
        .earliest()
        .map(|t| t.timestamp_millis())
        // a zone that skips midnight: an hour later exists
        .unwrap_or_else(|| naive.and_utc().timestamp_millis())
}

/// ISO-8601 UTC `YYYY-MM-DDTHH:mm:ssZ`, as `/v1.0/contact/empLeaveRecords` wants.
pub(crate) fn iso_utc(ms: i64) -> String {
    DateTime::<Utc>::from_timestamp_millis(ms)
        .unwrap_or_default()
        .to_rfc3339_opts(SecondsFormat::Secs, true)
}

// ---------------------------------------------------------------------------
// Departments

/// One department as walked.
#[derive(Debug, Clone)]
pub(crate) struct Dept {
    pub id: i64,
    pub name: String,
    /// Names from the walk's root down, joined by `/`.
    pub path: String,
    /// The raw record payload (projected, with `_path`).
    pub payload: Value,
}

/// The department tree under the configured root, in breadth-first order
/// (root first).
#[derive(Debug)]
pub(crate) struct Tree {
    pub depts: Vec<Dept>,
    index: HashMap<i64, usize>,
    pub fetched: Instant,
}

impl Tree {
    pub fn get(&self, id: i64) -> Option<&Dept> {
        self.index.get(&id).map(|&i| &self.depts[i])
    }

    pub fn position(&self, id: i64) -> Option<usize> {
        self.index.get(&id).copied()
    }

    /// A user's primary department: the first of `dept_id_list` inside
    /// the walked tree. Each user is emitted once, while listing it.
    pub fn primary(&self, user: &Value) -> Option<&Dept> {
        user.get("dept_id_list")
            .and_then(Value::as_array)?
            .iter()
            .filter_map(|d| int(Some(d)))
            .find_map(|d| self.get(d))
    }
}

fn project(raw: &Value, fields: &[&str]) -> Map<String, Value> {
    fields
        .iter()
        .filter_map(|&k| raw.get(k).map(|v| (k.to_string(), v.clone())))
        .collect()
}

fn dept_from(raw: &Value, parent_path: Option<&str>) -> Result<Dept, ConnectorError> {
    let id = int(raw.get("dept_id")).ok_or_else(|| protocol("department without `dept_id`"))?;
    let name = raw
        .get("name")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string();
    let path = match parent_path {
        Some(p) => format!("{p}/{name}"),
        None => name.clone(),
    };
    let mut payload = project(raw, &DEPT_FIELDS);
    payload.insert("_path".into(), json!(path));
    Ok(Dept {
        id,
        name,
        path,
        payload: Value::Object(payload),
    })
}

/// `POST /topapi/v2/department/get`; `None` when it does not exist (60003).
pub(crate) async fn get_department(
    client: &DingTalkClient,
    id: i64,
) -> Result<Option<Value>, ConnectorError> {
    let body = client
        .oapi_post_accepting(
            "/topapi/v2/department/get",
            &json!({"dept_id": id, "language": "zh_CN"}),
            &[NO_DEPARTMENT],
        )
        .await?;
    if int(body.get("errcode")) == Some(NO_DEPARTMENT) {
        return Ok(None);
    }
    match body.get("result") {
        Some(r @ Value::Object(_)) => Ok(Some(r.clone())),
        _ => Err(protocol("department/get answered without `result`")),
    }
}

/// Walks the tree breadth-first with `listsub`, one call per department.
/// A department removed during the walk (60003) is skipped.
pub(crate) async fn walk(client: &DingTalkClient, root: i64) -> Result<Tree, ConnectorError> {
    let root_raw = get_department(client, root).await?.ok_or_else(|| {
        ConnectorError::Config(format!(
            "dingtalk: `root_department` {root} does not exist (errcode 60003)"
        ))
    })?;
    let mut depts = vec![dept_from(&root_raw, None)?];
    let mut queue = VecDeque::from([0usize]);
    let mut seen = BTreeSet::from([depts[0].id]);
    while let Some(i) = queue.pop_front() {
        let (id, path) = (depts[i].id, depts[i].path.clone());
        let body = client
            .oapi_post_accepting(
                "/topapi/v2/department/listsub",
                &json!({"dept_id": id, "language": "zh_CN"}),
                &[NO_DEPARTMENT],
            )
            .await?;
        if int(body.get("errcode")) == Some(NO_DEPARTMENT) {
            tracing::info!(dept = id, "dingtalk: department vanished during the walk");
            continue;
        }
        let children = match body.get("result") {
            Some(Value::Array(list)) => list,
            _ => {
                return Err(protocol(
                    "department/listsub answered without a `result` array",
                ))
            }
        };
        for child in children {
            let dept = dept_from(child, Some(&path))?;
            // A cycle or a repeat would loop forever: DingTalk has neither, but be safe.
            if seen.insert(dept.id) {
                queue.push_back(depts.len());
                depts.push(dept);
            }
        }
    }
    let index = depts.iter().enumerate().map(|(i, d)| (d.id, i)).collect();
    tracing::debug!(
        departments = depts.len(),
        "dingtalk: department tree walked"
    );
    Ok(Tree {
        depts,
        index,
        fetched: Instant::now(),
    })
}

// ---------------------------------------------------------------------------
// Users

/// One `/topapi/v2/user/list` page of a department: the users and the next cursor.
pub(crate) async fn list_users(
    client: &DingTalkClient,
    dept: i64,
    cursor: i64,
    size: u32,
) -> Result<(Vec<Value>, Option<i64>), ConnectorError> {
    let body = client
        .oapi_post_accepting(
            "/topapi/v2/user/list",
            &json!({
                "dept_id": dept,
                "cursor": cursor,
                "size": size,
                "contain_access_limit": true,
                "language": "zh_CN",
            }),
            &[NO_DEPARTMENT],
        )
        .await?;
    if int(body.get("errcode")) == Some(NO_DEPARTMENT) {
        return Ok((Vec::new(), None));
    }
    let result = body
        .get("result")
        .ok_or_else(|| protocol("user/list answered without `result`"))?;
    let list = match result.get("list") {
        Some(Value::Array(list)) => list.clone(),
        Some(Value::Null) | None => Vec::new(),
        Some(_) => return Err(protocol("user/list `result.list` is not an array")),
    };
    let more = result
        .get("has_more")
        .and_then(Value::as_bool)
        .unwrap_or(false);
    let next = if more {
        Some(
            int(result.get("next_cursor"))
                .ok_or_else(|| protocol("user/list page with `has_more` but no `next_cursor`"))?,
        )
    } else {
        None
    };
    Ok((list, next))
}

/// `POST /topapi/v2/user/get`; `None` when the id is unknown (a leaver).
pub(crate) async fn get_user(
    client: &DingTalkClient,
    userid: &str,
) -> Result<Option<Value>, ConnectorError> {
    let body = client
        .oapi_post_accepting(
            "/topapi/v2/user/get",
            &json!({"userid": userid, "language": "zh_CN"}),
            &NO_USER,
        )
        .await?;
    if int(body.get("errcode")).is_some_and(|c| NO_USER.contains(&c)) {
        return Ok(None);
    }
    match body.get("result") {
        Some(r @ Value::Object(_)) => Ok(Some(r.clone())),
        _ => Err(protocol("user/get answered without `result`")),
    }
}

/// A user as the `users` stream emits it: the documented list fields plus
/// `_dept_id`/`_department`/`_department_path` (the primary department)
/// and `_hired_date` (the local date of `hired_date`).
pub(crate) fn user_payload(raw: &Value, primary: Option<&Dept>, tz: Tz) -> Value {
    let mut user = project(raw, &USER_FIELDS);
    user.insert("_dept_id".into(), json!(primary.map(|d| d.id)));
    user.insert("_department".into(), json!(primary.map(|d| &d.name)));
    user.insert("_department_path".into(), json!(primary.map(|d| &d.path)));
    let hired = int(raw.get("hired_date")).and_then(|ms| local_date(ms, tz));
    user.insert(
        "_hired_date".into(),
        json!(hired.map(|d| d.format("%Y-%m-%d").to_string())),
    );
    Value::Object(user)
}

/// A leaver from `/v1.0/contact/empLeaveRecords` as a `users` record: the
/// leave record as DingTalk sent it, plus `userid` (the org-scoped id the
/// other user records are keyed by), `_left: true` and `_left_at`
/// (`leaveTime`, RFC 3339 in the org's zone).
pub(crate) fn leaver_payload(raw: &Value, tz: Tz) -> Option<(String, Value)> {
    let userid = raw.get("userId").and_then(Value::as_str)?.to_string();
    let mut out = raw.as_object()?.clone();
    out.insert("userid".into(), json!(userid));
    out.insert("_left".into(), json!(true));
    let left_at = raw
        .get("leaveTime")
        .and_then(Value::as_str)
        .and_then(|t| DateTime::parse_from_rfc3339(t).ok())
        .and_then(|t| local_rfc3339(t.timestamp_millis(), tz));
    out.insert("_left_at".into(), json!(left_at));
    Some((userid, Value::Object(out)))
}

/// One page of `/v1.0/contact/empLeaveRecords` between two instants (ms):
/// the records and the next token (none at the end).
pub(crate) async fn leave_records(
    client: &DingTalkClient,
    since_ms: i64,
    until_ms: i64,
    token: &str,
) -> Result<(Vec<Value>, Option<String>), ConnectorError> {
    let body = client
        .v1_get(
            "/v1.0/contact/empLeaveRecords",
            &[
                ("startTime", iso_utc(since_ms)),
                ("endTime", iso_utc(until_ms)),
                ("nextToken", token.to_string()),
                ("maxResults", "50".to_string()),
            ],
        )
        .await?;
    let records = match body.get("records") {
        Some(Value::Array(r)) => r.clone(),
        Some(Value::Null) | None => Vec::new(),
        Some(_) => return Err(protocol("empLeaveRecords `records` is not an array")),
    };
    let next = body
        .get("nextToken")
        .and_then(Value::as_str)
        .filter(|t| !t.is_empty())
        .map(str::to_string);
    // A token without records would loop; DingTalk ends with no token.
    let next = if records.is_empty() { None } else { next };
    Ok((records, next))
}

// ---------------------------------------------------------------------------
// Roster

/// Every user id in the tree (sorted, once each), for attendance batches.
#[derive(Debug)]
pub(crate) struct Roster {
    pub ids: Vec<String>,
    pub fetched: Instant,
}

/// `POST /topapi/user/listid` for every department (no paging).
pub(crate) async fn roster(client: &DingTalkClient, tree: &Tree) -> Result<Roster, ConnectorError> {
    let mut ids = BTreeSet::new();
    for dept in &tree.depts {
        let body = client
            .oapi_post_accepting(
                "/topapi/user/listid",
                &json!({"dept_id": dept.id}),
                &[NO_DEPARTMENT],
            )
            .await?;
        if let Some(Value::Array(list)) = body.get("result").and_then(|r| r.get("userid_list")) {
            ids.extend(list.iter().filter_map(Value::as_str).map(str::to_string));
        }
    }
    Ok(Roster {
        ids: ids.into_iter().collect(),
        fetched: Instant::now(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_render_in_the_org_zone() {
        let tz: Tz = "Asia/Shanghai".parse().unwrap();
        // the reference's example: workDate 1599321600000 = 2020-09-06 00:00 +08:00
        assert_eq!(
            local_date(1_599_321_600_000, tz),
            NaiveDate::from_ymd_opt(2020, 9, 6)
        );
        assert_eq!(
            local_rfc3339(1_599_354_720_000, tz).as_deref(),
            Some("2020-09-06T09:12:00+08:00")
        );
        assert_eq!(
            midnight_ms(NaiveDate::from_ymd_opt(2020, 9, 6).unwrap(), tz),
            1_599_321_600_000
        );
        // the same instant is the previous day in UTC
        assert_eq!(
            local_date(1_599_321_600_000, chrono_tz::UTC),
            NaiveDate::from_ymd_opt(2020, 9, 5)
        );
        assert_eq!(iso_utc(1_609_459_200_000), "2021-01-01T00:00:00Z");
    }

    #[test]
    fn user_payload_projects_and_enriches() {
        let tz: Tz = "Asia/Shanghai".parse().unwrap();
        let raw = json!({"userid": "u1", "name": "张三", "dept_id_list": [2, 3], "dept_order": 7,
            "hired_date": 1_597_507_200_000_i64, "job_number": "E1", "role_list": [1]});
        let dept = dept_from(
            &json!({"dept_id": 2, "name": "客服部", "parent_id": 1}),
            Some("Acme"),
        )
        .unwrap();
        let p = user_payload(&raw, Some(&dept), tz);
        assert_eq!(p["_department"], "客服部");
        assert_eq!(p["_department_path"], "Acme/客服部");
        assert_eq!(p["_dept_id"], 2);
        assert_eq!(p["_hired_date"], "2020-08-16");
        assert!(p.get("dept_order").is_none() && p.get("role_list").is_none());
        assert_eq!(dept.payload["_path"], "Acme/客服部");

        let (id, leaver) = leaver_payload(
            &json!({"userId": "u9", "name": "李四", "leaveTime": "2021-01-06T11:47:37Z", "leaveReason": "leave"}),
            tz,
        )
        .unwrap();
        assert_eq!(id, "u9");
        assert_eq!(leaver["userid"], "u9");
        assert_eq!(leaver["_left"], true);
        assert_eq!(leaver["_left_at"], "2021-01-06T19:47:37+08:00");
    }
}
