//! The three streams and their cursors.
//!
//! | stream | functions | record (external id) | cursor |
//! |---|---|---|---|
//! | `users` | `core_user_get_users` | a user (`id`) | none: one call lists everyone |
//! | `course_completions` | `core_enrol_get_users_courses` per learner, `core_completion_get_course_completion_status` per completed course | an enrolment (`{userid}:{courseid}`) | JSON, [`CompletionsCursor`] |
//! | `grades` | `core_course_get_courses`, `mod_quiz_get_quizzes_by_courses`, `gradereport_user_get_grade_items` per course, `mod_quiz_get_user_best_grade` and the attempts function per changed grade | a learner's quiz grade (`{userid}:quiz:{quizid}`) | JSON, [`GradesCursor`] |
//!
//! Moodle has no "changed since" filter, so each sync walks every learner
//! (or course) and spends detail calls only on what changed within the
//! lookback window of the previous sync's newest activity (enrolments:
//! `lastaccess`; grades: `gradedategraded` / `gradedatesubmitted`).
//! Enrolments not yet completed are yielded on every sync (their row costs
//! no detail call; landing drops the unchanged); completed ones and grades
//! only when they changed, so their detail is never lost to a shorter
//! record. A full refresh (no cursor) re-reads everything.
//!
//! Fields the connector adds (the mappings cannot compute them from one
//! record alone), on `course_completions` and `grades` records:
//!
//! | field | meaning |
//! |---|---|
//! | `_email`, `_idnumber`, `_username` | the learner's, from the user list (the enrolment and grade functions do not carry them) |
//! | `_completed_at` | RFC 3339 UTC. Completions: the latest `timecompleted` of the completion criteria (Moodle has no course-level completion time), null while not completed or when the course has no criteria. Grades: when the graded attempt was submitted (`gradedatesubmitted`, else `gradedategraded`) |
//! | `_score_100` | grades: `(grade − grademin) / (grademax − grademin) × 100`, rounded to 2 decimals, from the quiz's best grade (its grading method) |
//! | `_score_native` | grades: `grade/grademax` as Moodle shows them (`9.2/10`) |
//! | `_passed` | grades: `grade >= gradetopass`; null when the quiz has no pass grade |
//! | `_attempts` | grades: attempts the learner finished (or abandoned; `submitted` on 5.0+); null with `count_attempts = false` |

use crate::client::{MoodleClient, MoodleException, Params};
use chrono::{DateTime, SecondsFormat, Utc};
use hrhub_connector::{ConnectorError, Page};
use hrhub_model::RawRecord;
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};
use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};

/// The streams in the order a full sync runs them (people first).
pub const STREAMS: [&str; 3] = ["users", "course_completions", "grades"];

/// `core_webservice_get_site_info.version` of Moodle 5.0 (2025-04-14), from
/// which `mod_quiz_get_user_attempts` is deprecated (MDL-68806).
pub const MOODLE_5_0: i64 = 2025041400;

/// What the streams need from the configuration.
#[derive(Debug, Clone)]
pub(crate) struct Settings {
    pub users_per_page: usize,
    pub lookback_secs: i64,
    pub criteria: Vec<(String, String)>,
    pub count_attempts: bool,
}

/// The `course_completions` cursor. Between scans only `since`; mid-scan
/// also the scan's id, the last learner done and the newest access seen.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CompletionsCursor {
    /// Unix seconds: completed enrolments last accessed before this are
    /// not re-read (their record is landed). `None`: read everything.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub since: Option<i64>,
    /// Which scan the rest belongs to (the scan's start, Unix ms).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scan: Option<String>,
    /// The last learner (Moodle user id) whose enrolments were read.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub after_user: Option<i64>,
    /// The newest `lastaccess` seen so far in this scan.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_seen: Option<i64>,
}

/// The `grades` cursor. Between scans only `since`; mid-scan also the
/// scan's id, the course being read, the last learner done in it and the
/// newest grade time seen.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct GradesCursor {
    /// Unix seconds: grades given before this are not re-read. `None`: all.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub since: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scan: Option<String>,
    /// The course (id) being read; `None` with a scan: the first course.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub course: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub after_user: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_seen: Option<i64>,
}

/// A learner as the user list gives them: what records need for identity.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Learner {
    pub id: i64,
    pub username: Option<String>,
    pub idnumber: Option<String>,
    pub email: Option<String>,
    pub fullname: Option<String>,
}

impl Learner {
    fn from_json(u: &Value) -> Option<Learner> {
        let text = |k: &str| {
            u.get(k)
                .and_then(Value::as_str)
                .filter(|s| !s.trim().is_empty())
                .map(str::to_string)
        };
        Some(Learner {
            id: int(u.get("id")?)?,
            username: text("username"),
            idnumber: text("idnumber"),
            email: text("email"),
            fullname: text("fullname"),
        })
    }

    fn json(&self) -> Value {
        json!({"id": self.id, "username": self.username, "idnumber": self.idnumber,
               "email": self.email, "fullname": self.fullname})
    }

    /// `_email`, `_idnumber`, `_username` onto a record.
    fn stamp(&self, record: &mut Map<String, Value>) {
        record.insert("_email".into(), json!(self.email));
        record.insert("_idnumber".into(), json!(self.idnumber));
        record.insert("_username".into(), json!(self.username));
    }
}

/// Courses with quizzes, and the quizzes by course.
#[derive(Debug, Clone, Default)]
pub(crate) struct Catalog {
    /// By course id: the course object of `core_course_get_courses`.
    courses: BTreeMap<i64, Value>,
    /// By course id: its quizzes, by quiz id.
    quizzes: BTreeMap<i64, BTreeMap<i64, Value>>,
}

struct Cached<T> {
    scan: String,
    value: Arc<T>,
}

/// Lists fetched once per scan and reused by its later pages (a restarted
/// process fetches them again).
#[derive(Default)]
pub(crate) struct Caches {
    learners: Mutex<HashMap<&'static str, Cached<Vec<Learner>>>>,
    catalog: Mutex<Option<Cached<Catalog>>>,
    /// One course's grade report (`scan` = `{scan}/{course}`).
    grades: Mutex<Option<Cached<Vec<Value>>>>,
    /// `core_webservice_get_site_info.version`.
    version: tokio::sync::Mutex<Option<i64>>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Caches {
    fn learners(&self, stream: &'static str, scan: &str) -> Option<Arc<Vec<Learner>>> {
        lock(&self.learners)
            .get(stream)
            .filter(|c| c.scan == scan)
            .map(|c| c.value.clone())
    }

    fn put_learners(&self, stream: &'static str, scan: &str, v: Vec<Learner>) -> Arc<Vec<Learner>> {
        let value = Arc::new(v);
        lock(&self.learners).insert(
            stream,
            Cached {
                scan: scan.to_string(),
                value: value.clone(),
            },
        );
        value
    }
}

fn protocol(message: impl Into<String>) -> ConnectorError {
    ConnectorError::protocol("moodle", message)
}

/// A stream's saved cursor, or its start when there is none.
fn parse_cursor<T: serde::de::DeserializeOwned + Default>(
    stream: &str,
    cursor: Option<&str>,
) -> Result<T, ConnectorError> {
    match cursor {
        None => Ok(T::default()),
        Some(raw) => serde_json::from_str(raw).map_err(|e| {
            ConnectorError::Config(format!(
                "stored {stream} cursor {raw:?} is not understood ({e}); reset the stream's cursor"
            ))
        }),
    }
}

/// An integer Moodle may send as a number or as numeric text.
pub(crate) fn int(v: &Value) -> Option<i64> {
    match v {
        Value::Number(n) => n.as_i64().or_else(|| n.as_f64().map(|f| f as i64)),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

fn num(v: Option<&Value>) -> Option<f64> {
    match v? {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

/// Unix seconds (Moodle's 0 = never) as RFC 3339 UTC.
pub(crate) fn rfc3339(ts: i64) -> Option<String> {
    (ts > 0)
        .then(|| DateTime::<Utc>::from_timestamp(ts, 0))
        .flatten()
        .map(|t| t.to_rfc3339_opts(SecondsFormat::Secs, true))
}

fn new_scan() -> String {
    Utc::now().timestamp_millis().to_string()
}

/// A number as Moodle's forms show it: no trailing zeros (`9.2`, `10`).
fn plain(n: f64) -> String {
    let s = format!("{:.5}", n);
    s.trim_end_matches('0').trim_end_matches('.').to_string()
}

/// `(grade − min) / (max − min) × 100`, rounded to 2 decimals, within 0..=100.
pub fn score_100(grade: f64, min: f64, max: f64) -> Option<f64> {
    if max <= min || max.is_nan() || min.is_nan() || !grade.is_finite() {
        return None;
    }
    let pct = ((grade - min) / (max - min) * 100.0).clamp(0.0, 100.0);
    Some((pct * 100.0).round() / 100.0)
}

fn warnings(function: &str, body: &Value) {
    if let Some(list) = body.get("warnings").and_then(Value::as_array) {
        for w in list {
            tracing::warn!(function, warning = %w, "moodle: warning");
        }
    }
}

pub(crate) async fn read(
    client: &MoodleClient,
    settings: &Settings,
    caches: &Caches,
    stream: &str,
    cursor: Option<&str>,
) -> Result<Page, ConnectorError> {
    match stream {
        "users" => users(client, settings).await,
        "course_completions" => completions(client, settings, caches, cursor).await,
        "grades" => grades(client, settings, caches, cursor).await,
        other => Err(ConnectorError::Config(format!(
            "moodle has no stream {other:?} (streams: {})",
            STREAMS.join(", ")
        ))),
    }
}

/// `core_user_get_users` with the configured criteria: every user, raw.
async fn list_users(
    client: &MoodleClient,
    settings: &Settings,
) -> Result<Vec<Value>, ConnectorError> {
    let criteria: Vec<[(&str, String); 2]> = settings
        .criteria
        .iter()
        .map(|(k, v)| [("key", k.clone()), ("value", v.clone())])
        .collect();
    let params = Params::new().structs("criteria", criteria.iter().map(|c| &c[..]));
    let mut body = client.call("core_user_get_users", &params).await?;
    if let Some(bad) = body
        .get("warnings")
        .and_then(Value::as_array)
        .and_then(|w| {
            w.iter().find(|w| {
                w.get("warningcode").and_then(Value::as_str) == Some("invalidfieldparameter")
            })
        })
    {
        return Err(ConnectorError::Config(format!(
            "moodle: core_user_get_users refused a `user_criteria` key: {}",
            bad.get("message").and_then(Value::as_str).unwrap_or("?")
        )));
    }
    warnings("core_user_get_users", &body);
    match body.get_mut("users").map(Value::take) {
        Some(Value::Array(users)) => Ok(users),
        _ => Err(protocol(
            "core_user_get_users answered without a `users` array",
        )),
    }
}

async fn users(client: &MoodleClient, settings: &Settings) -> Result<Page, ConnectorError> {
    let records = list_users(client, settings)
        .await?
        .into_iter()
        .map(|u| {
            let id = u
                .get("id")
                .and_then(int)
                .ok_or_else(|| protocol("a user without `id`"))?;
            Ok(RawRecord::upsert("users", id.to_string(), u))
        })
        .collect::<Result<Vec<_>, ConnectorError>>()?;
    Ok(Page {
        records,
        cursor: None,
        done: true,
    })
}

/// The learner list of this scan, sorted by id (fetched on the scan's first page).
async fn learners(
    client: &MoodleClient,
    settings: &Settings,
    caches: &Caches,
    stream: &'static str,
    scan: &str,
) -> Result<Arc<Vec<Learner>>, ConnectorError> {
    if let Some(cached) = caches.learners(stream, scan) {
        return Ok(cached);
    }
    let mut list: Vec<Learner> = list_users(client, settings)
        .await?
        .iter()
        .filter(|u| u.get("username").and_then(Value::as_str) != Some("guest"))
        .filter_map(Learner::from_json)
        .collect();
    list.sort_by_key(|l| l.id);
    list.dedup_by_key(|l| l.id);
    Ok(caches.put_learners(stream, scan, list))
}

/// The end-of-scan watermark: the newest activity seen minus the lookback,
/// never earlier than the previous one.
fn next_since(since: Option<i64>, max_seen: Option<i64>, lookback: i64) -> Option<i64> {
    match (since, max_seen) {
        (s, Some(m)) => Some((m - lookback).max(s.unwrap_or(i64::MIN))),
        (s, None) => s,
    }
}

async fn completions(
    client: &MoodleClient,
    settings: &Settings,
    caches: &Caches,
    cursor: Option<&str>,
) -> Result<Page, ConnectorError> {
    const STREAM: &str = "course_completions";
    let mut state: CompletionsCursor = parse_cursor(STREAM, cursor)?;
    let scan = state.scan.get_or_insert_with(new_scan).clone();
    let all = learners(client, settings, caches, STREAM, &scan).await?;
    let start = all.partition_point(|l| Some(l.id) <= state.after_user);
    let batch = &all[start..(start + settings.users_per_page).min(all.len())];

    let mut records = Vec::new();
    for learner in batch {
        let body = client
            .call(
                "core_enrol_get_users_courses",
                &Params::new()
                    .set("userid", learner.id)
                    .flag("returnusercount", false),
            )
            .await?;
        let Value::Array(courses) = body else {
            return Err(protocol(
                "core_enrol_get_users_courses answered with something other than an array",
            ));
        };
        for course in courses {
            let Some(course_id) = course.get("id").and_then(int) else {
                return Err(protocol("an enrolled course without `id`"));
            };
            let lastaccess = course.get("lastaccess").and_then(int).filter(|t| *t > 0);
            state.max_seen = state.max_seen.max(lastaccess);
            // `completed` is missing before Moodle 3.6: then ask.
            let completed = course.get("completed").and_then(Value::as_bool);
            let tracked = course
                .get("enablecompletion")
                .map(|v| v.as_bool().unwrap_or_else(|| int(v) == Some(1)))
                .unwrap_or(true);
            let changed = state
                .since
                .is_none_or(|s| lastaccess.is_some_and(|a| a >= s));
            if completed == Some(true) && !changed {
                continue; // landed at its completion, unchanged since
            }
            let completion = if completed != Some(false) && tracked {
                let answer = client
                    .call_raw(
                        "core_completion_get_course_completion_status",
                        &Params::new()
                            .set("courseid", course_id)
                            .set("userid", learner.id),
                    )
                    .await?;
                match answer {
                    Ok(mut body) => body.get_mut("completionstatus").map(Value::take),
                    // no criteria, or the learner is not tracked: the
                    // enrolment's own `completed` flag is all there is
                    Err(e) if is_untracked(&e) => None,
                    // the course went away between the two calls
                    Err(e) if e.errorcode == "invalidrecord" => continue,
                    Err(e) => {
                        return Err(e.into_error("core_completion_get_course_completion_status"))
                    }
                }
            } else {
                None
            };
            let completed_at = completion
                .as_ref()
                .filter(|c| c.get("completed").and_then(Value::as_bool) == Some(true))
                .and_then(|c| c.get("completions").and_then(Value::as_array))
                .and_then(|criteria| {
                    criteria
                        .iter()
                        .filter(|c| c.get("complete").and_then(Value::as_bool) != Some(false))
                        .filter_map(|c| c.get("timecompleted").and_then(int))
                        .max()
                })
                .and_then(rfc3339);
            let mut record = Map::new();
            record.insert("userid".into(), json!(learner.id));
            record.insert("courseid".into(), json!(course_id));
            record.insert("user".into(), learner.json());
            record.insert("course".into(), course);
            record.insert("completion".into(), completion.unwrap_or(Value::Null));
            learner.stamp(&mut record);
            record.insert("_completed_at".into(), json!(completed_at));
            records.push(RawRecord::upsert(
                STREAM,
                format!("{}:{course_id}", learner.id),
                Value::Object(record),
            ));
        }
    }

    let done = start + batch.len() >= all.len();
    let next = if done {
        CompletionsCursor {
            since: next_since(state.since, state.max_seen, settings.lookback_secs),
            ..CompletionsCursor::default()
        }
    } else {
        CompletionsCursor {
            after_user: batch.last().map(|l| l.id),
            ..state
        }
    };
    Ok(Page {
        records,
        cursor: Some(serde_json::to_string(&next).expect("a cursor serializes")),
        done,
    })
}

/// Completion status errors that mean "nothing to report".
fn is_untracked(e: &MoodleException) -> bool {
    matches!(
        e.errorcode.as_str(),
        "nocriteriaset" | "usernotenroled" | "notenroled" | "nottracked"
    )
}

/// Every course (but the front page) and the quizzes in them.
async fn catalog(
    client: &MoodleClient,
    caches: &Caches,
    scan: &str,
) -> Result<Arc<Catalog>, ConnectorError> {
    if let Some(c) = lock(&caches.catalog).as_ref().filter(|c| c.scan == scan) {
        return Ok(c.value.clone());
    }
    let body = client
        .call("core_course_get_courses", &Params::new())
        .await?;
    let Value::Array(list) = body else {
        return Err(protocol(
            "core_course_get_courses answered with something other than an array",
        ));
    };
    let mut catalog = Catalog::default();
    for course in list {
        if course.get("format").and_then(Value::as_str) == Some("site") {
            continue; // the front page
        }
        if let Some(id) = course.get("id").and_then(int) {
            catalog.courses.insert(id, course);
        }
    }
    let ids: Vec<i64> = catalog.courses.keys().copied().collect();
    for chunk in ids.chunks(100) {
        let body = client
            .call(
                "mod_quiz_get_quizzes_by_courses",
                &Params::new().list("courseids", chunk),
            )
            .await?;
        warnings("mod_quiz_get_quizzes_by_courses", &body);
        for quiz in body
            .get("quizzes")
            .and_then(Value::as_array)
            .ok_or_else(|| protocol("mod_quiz_get_quizzes_by_courses answered without `quizzes`"))?
        {
            if let (Some(id), Some(course)) = (
                quiz.get("id").and_then(int),
                quiz.get("course").and_then(int),
            ) {
                catalog
                    .quizzes
                    .entry(course)
                    .or_default()
                    .insert(id, quiz.clone());
            }
        }
    }
    let value = Arc::new(catalog);
    *lock(&caches.catalog) = Some(Cached {
        scan: scan.to_string(),
        value: value.clone(),
    });
    Ok(value)
}

/// One course's grade report for every learner, sorted by user id.
async fn course_grades(
    client: &MoodleClient,
    caches: &Caches,
    scan: &str,
    course: i64,
) -> Result<Arc<Vec<Value>>, ConnectorError> {
    let key = format!("{scan}/{course}");
    if let Some(c) = lock(&caches.grades).as_ref().filter(|c| c.scan == key) {
        return Ok(c.value.clone());
    }
    let answer = client
        .call_raw(
            "gradereport_user_get_grade_items",
            &Params::new()
                .set("courseid", course)
                .set("userid", 0)
                .set("groupid", 0),
        )
        .await?;
    let mut body = match answer {
        Ok(body) => body,
        // deleted since the course list was read
        Err(e) if e.errorcode == "invalidrecord" => json!({"usergrades": []}),
        Err(e) => return Err(e.into_error("gradereport_user_get_grade_items")),
    };
    warnings("gradereport_user_get_grade_items", &body);
    let mut list = match body.get_mut("usergrades").map(Value::take) {
        Some(Value::Array(list)) => list,
        _ => {
            return Err(protocol(
                "gradereport_user_get_grade_items answered without `usergrades`",
            ))
        }
    };
    list.sort_by_key(|u| u.get("userid").and_then(int).unwrap_or(i64::MAX));
    let value = Arc::new(list);
    *lock(&caches.grades) = Some(Cached {
        scan: key,
        value: value.clone(),
    });
    Ok(value)
}

/// The attempts function for this site: the 5.0 one from 5.0 on.
async fn attempts_function(
    client: &MoodleClient,
    caches: &Caches,
) -> Result<&'static str, ConnectorError> {
    let mut version = caches.version.lock().await;
    if version.is_none() {
        let info = client
            .call("core_webservice_get_site_info", &Params::new())
            .await?;
        *version = Some(info.get("version").and_then(int).unwrap_or(0));
    }
    Ok(if version.unwrap_or(0) >= MOODLE_5_0 {
        "mod_quiz_get_user_quiz_attempts"
    } else {
        "mod_quiz_get_user_attempts"
    })
}

/// Attempt states that count as taken: finished, submitted (awaiting
/// grading, 5.0+) or abandoned (never submitted in time, still an attempt).
const TAKEN: [&str; 3] = ["finished", "submitted", "abandoned"];

async fn grades(
    client: &MoodleClient,
    settings: &Settings,
    caches: &Caches,
    cursor: Option<&str>,
) -> Result<Page, ConnectorError> {
    const STREAM: &str = "grades";
    let mut state: GradesCursor = parse_cursor(STREAM, cursor)?;
    let scan = state.scan.get_or_insert_with(new_scan).clone();
    let catalog = catalog(client, caches, &scan).await?;
    // courses with quizzes, from the cursor's on
    let mut courses = catalog
        .quizzes
        .keys()
        .copied()
        .filter(|c| state.course.is_none_or(|at| *c >= at));
    let Some(course_id) = courses.next() else {
        return Ok(end_of_grades(&state, settings, Vec::new()));
    };
    let next_course = courses.next();
    let quizzes = &catalog.quizzes[&course_id];
    let course = catalog
        .courses
        .get(&course_id)
        .cloned()
        .unwrap_or(Value::Null);
    let course_ref = json!({
        "id": course_id,
        "shortname": course.get("shortname"),
        "fullname": course.get("fullname"),
        "idnumber": course.get("idnumber"),
    });

    let report = course_grades(client, caches, &scan, course_id).await?;
    let after = if state.course == Some(course_id) {
        state.after_user
    } else {
        None
    };
    let start = report.partition_point(|u| u.get("userid").and_then(int) <= after);
    let batch = &report[start..(start + settings.users_per_page).min(report.len())];
    let learners = learners(client, settings, caches, STREAM, &scan).await?;
    let attempts_fn = if settings.count_attempts {
        Some(attempts_function(client, caches).await?)
    } else {
        None
    };

    let mut records = Vec::new();
    for usergrade in batch {
        let Some(user_id) = usergrade.get("userid").and_then(int) else {
            return Err(protocol("a user grade without `userid`"));
        };
        let Ok(i) = learners.binary_search_by_key(&user_id, |l| l.id) else {
            continue; // not a learner under `user_criteria`
        };
        let learner = &learners[i];
        for item in usergrade
            .get("gradeitems")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            if item.get("itemmodule").and_then(Value::as_str) != Some("quiz") {
                continue;
            }
            let Some(quiz_id) = item.get("iteminstance").and_then(int) else {
                continue;
            };
            if num(item.get("graderaw")).is_none() {
                continue; // not graded (yet)
            }
            let graded = [
                item.get("gradedategraded").and_then(int),
                item.get("gradedatesubmitted").and_then(int),
            ]
            .into_iter()
            .flatten()
            .max();
            state.max_seen = state.max_seen.max(graded);
            if let (Some(since), Some(t)) = (state.since, graded) {
                if t < since {
                    continue; // landed when it was given, unchanged since
                }
            }
            if let Some(record) = grade_record(
                client,
                learner,
                &course_ref,
                quizzes.get(&quiz_id),
                quiz_id,
                item,
                attempts_fn,
            )
            .await?
            {
                records.push(record);
            }
        }
    }

    let course_done = start + batch.len() >= report.len();
    if course_done && next_course.is_none() {
        return Ok(end_of_grades(&state, settings, records));
    }
    let next = if course_done {
        GradesCursor {
            course: next_course,
            after_user: None,
            ..state
        }
    } else {
        GradesCursor {
            course: Some(course_id),
            after_user: batch.last().and_then(|u| u.get("userid").and_then(int)),
            ..state
        }
    };
    Ok(Page {
        records,
        cursor: Some(serde_json::to_string(&next).expect("a cursor serializes")),
        done: false,
    })
}

fn end_of_grades(state: &GradesCursor, settings: &Settings, records: Vec<RawRecord>) -> Page {
    let next = GradesCursor {
        since: next_since(state.since, state.max_seen, settings.lookback_secs),
        ..GradesCursor::default()
    };
    Page {
        records,
        cursor: Some(serde_json::to_string(&next).expect("a cursor serializes")),
        done: true,
    }
}

/// One learner's grade of one quiz, with the best grade, pass grade and
/// attempts. `None` when the quiz or the learner went away meanwhile.
async fn grade_record(
    client: &MoodleClient,
    learner: &Learner,
    course_ref: &Value,
    quiz: Option<&Value>,
    quiz_id: i64,
    item: &Value,
    attempts_fn: Option<&'static str>,
) -> Result<Option<RawRecord>, ConnectorError> {
    let ids = Params::new()
        .set("quizid", quiz_id)
        .set("userid", learner.id);
    let best = match client
        .call_raw("mod_quiz_get_user_best_grade", &ids)
        .await?
    {
        Ok(mut b) => {
            if let Value::Object(map) = &mut b {
                map.remove("warnings");
            }
            b
        }
        Err(e) if e.errorcode == "invalidrecord" => return Ok(None),
        Err(e) => return Err(e.into_error("mod_quiz_get_user_best_grade")),
    };
    let attempts = match attempts_fn {
        None => None,
        Some(function) => {
            let params = ids
                .clone()
                .set("status", "all")
                .flag("includepreviews", false);
            match client.call_raw(function, &params).await? {
                Ok(body) => Some(
                    body.get("attempts")
                        .and_then(Value::as_array)
                        .cloned()
                        .ok_or_else(|| {
                            protocol(format!("{function} answered without `attempts`"))
                        })?,
                ),
                Err(e) if e.errorcode == "invalidrecord" => return Ok(None),
                Err(e) => return Err(e.into_error(function)),
            }
        }
    };

    let (min, max) = (
        num(item.get("grademin")).unwrap_or(0.0),
        num(item.get("grademax"))
            .or_else(|| quiz.and_then(|q| num(q.get("grade"))))
            .unwrap_or(0.0),
    );
    // the best grade per the quiz's grading method; the gradebook's when
    // the quiz has none (e.g. an overridden grade)
    let grade = (best.get("hasgrade").and_then(Value::as_bool) != Some(false))
        .then(|| num(best.get("grade")))
        .flatten()
        .or_else(|| num(item.get("graderaw")));
    let pass = num(best.get("gradetopass")).filter(|p| *p > 0.0);
    let completed_at = ["gradedatesubmitted", "gradedategraded"]
        .iter()
        .filter_map(|k| item.get(*k).and_then(int))
        .find(|t| *t > 0)
        .and_then(rfc3339);
    let taken = attempts.as_ref().map(|list| {
        list.iter()
            .filter(|a| {
                a.get("preview").and_then(int).unwrap_or(0) == 0
                    && a.get("state")
                        .and_then(Value::as_str)
                        .is_some_and(|s| TAKEN.contains(&s))
            })
            .count()
    });

    let mut record = Map::new();
    record.insert("userid".into(), json!(learner.id));
    record.insert("courseid".into(), course_ref["id"].clone());
    record.insert("quizid".into(), json!(quiz_id));
    record.insert("user".into(), learner.json());
    record.insert("course".into(), course_ref.clone());
    record.insert(
        "quiz".into(),
        quiz.map(|q| {
            json!({"id": q.get("id"), "coursemodule": q.get("coursemodule"), "name": q.get("name"),
                   "grade": q.get("grade"), "sumgrades": q.get("sumgrades"),
                   "attempts": q.get("attempts"), "grademethod": q.get("grademethod")})
        })
        .unwrap_or(Value::Null),
    );
    record.insert("gradeitem".into(), item.clone());
    record.insert("best_grade".into(), best);
    record.insert(
        "attempts".into(),
        attempts
            .map(|list| {
                Value::Array(
                    list.iter()
                        .map(|a| {
                            json!({"id": a.get("id"), "attempt": a.get("attempt"), "state": a.get("state"),
                                   "timestart": a.get("timestart"), "timefinish": a.get("timefinish"),
                                   "sumgrades": a.get("sumgrades")})
                        })
                        .collect(),
                )
            })
            .unwrap_or(Value::Null),
    );
    learner.stamp(&mut record);
    record.insert(
        "_score_100".into(),
        json!(grade.and_then(|g| score_100(g, min, max))),
    );
    record.insert(
        "_score_native".into(),
        json!(grade.map(|g| format!("{}/{}", plain(g), plain(max)))),
    );
    record.insert(
        "_passed".into(),
        json!(grade.zip(pass).map(|(g, p)| g + 1e-9 >= p)),
    );
    record.insert("_completed_at".into(), json!(completed_at));
    record.insert("_attempts".into(), json!(taken));
    Ok(Some(RawRecord::upsert(
        "grades",
        format!("{}:quiz:{quiz_id}", learner.id),
        Value::Object(record),
    )))
}

/// `core_user_get_users_by_field` with `field=id`: the users stream's
/// records for these ids (unknown ids are absent).
pub(crate) async fn users_by_id(
    client: &MoodleClient,
    ids: &[String],
) -> Result<Vec<RawRecord>, ConnectorError> {
    let mut out = Vec::new();
    for chunk in ids.chunks(100) {
        let body = client
            .call(
                "core_user_get_users_by_field",
                &Params::new().set("field", "id").list("values", chunk),
            )
            .await?;
        let Value::Array(list) = body else {
            return Err(protocol(
                "core_user_get_users_by_field answered with something other than an array",
            ));
        };
        for u in list {
            let id = u
                .get("id")
                .and_then(int)
                .ok_or_else(|| protocol("a user without `id`"))?;
            out.push(RawRecord::upsert("users", id.to_string(), u));
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scores_normalize_to_100() {
        assert_eq!(score_100(9.2, 0.0, 10.0), Some(92.0));
        assert_eq!(score_100(18.4, 0.0, 20.0), Some(92.0));
        assert_eq!(score_100(17.0, 0.0, 20.0), Some(85.0));
        assert_eq!(score_100(2.0 / 3.0, 0.0, 1.0), Some(66.67));
        assert_eq!(score_100(5.0, 5.0, 5.0), None);
        assert_eq!(score_100(12.0, 0.0, 10.0), Some(100.0));
        assert_eq!(plain(9.2), "9.2");
        assert_eq!(plain(10.0), "10");
        assert_eq!(plain(7.25), "7.25");
    }

    #[test]
    fn watermarks_never_move_back() {
        assert_eq!(next_since(None, Some(1_000_000), 100), Some(999_900));
        assert_eq!(
            next_since(Some(999_950), Some(1_000_000), 100),
            Some(999_950)
        );
        assert_eq!(next_since(Some(5), None, 100), Some(5));
        assert_eq!(next_since(None, None, 100), None);
        assert_eq!(rfc3339(0), None);
        assert_eq!(rfc3339(1714629000).as_deref(), Some("2024-05-02T05:50:00Z"));
    }
}
