//! A Learning Record Store mock for tests, `hrhub demo` and benchmarks.
//!
//! It serves `{prefix}/statements` and `{prefix}/about` over real HTTP on
//! 127.0.0.1 as `shared/reference/training-platforms.md` §3 describes an
//! xAPI 1.0.3 LRS:
//!
//! - Basic auth (401 with `WWW-Authenticate` otherwise); the
//!   `X-Experience-API-Version` header is required on statement requests
//!   (400 without it or with a version the LRS does not speak);
//! - `since` (exclusive) and `until` (inclusive) on `stored`, `limit`
//!   (0 = the server's maximum, which also caps larger values),
//!   `ascending`, `verb`, `agent`, `activity`, `registration`,
//!   `statementId` / `voidedStatementId`; unknown parameters are a 400;
//! - a StatementResult whose `more` is a path relative to the host
//!   (`/xapi/statements?more=…`) or `""`; more links can be expired
//!   ([`MockHandle::expire_more_links`]);
//! - `X-Experience-API-Consistent-Through` (now minus a configurable lag);
//! - voiding: a `voided` statement hides its target from queries (it is
//!   still fetchable with `voidedStatementId`) and is itself returned.
//!
//! The learners are a synthetic [`Company`]'s people, identified as a real
//! LRS sees them: an `account` whose name is the 工号 (the HR system's
//! home page), an `mbox` (sometimes in other case), or only an
//! `mbox_sha1sum` (plus, on request, outsiders whom no roster knows, by an
//! `mbox` at a partner's domain). Their statements are the Moodle quizzes
//! forwarded by the site's xAPI log store — the same sittings and percentages as the Moodle
//! mock ([`hrhub_moodle`-compatible `exam_sitting`](exam_sitting)) — in
//! three emitter styles (`passed`/`failed` with scaled and raw scores,
//! `scored` with raw/min/max only, `completed` with scaled only), plus an
//! authoring-tool course with `launched`/`experienced`/`completed`, noise
//! verbs, and a few `passed` statements voided by an administrator.

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{header, HeaderMap, Method, StatusCode};
use axum::response::Response;
use axum::Router;
use base64::engine::general_purpose::{STANDARD as B64, URL_SAFE_NO_PAD};
use base64::Engine;
use chrono::{DateTime, SecondsFormat, Utc};
use hrhub_connector::mock_server::MockServer;
use hrhub_connector::synthetic::Company;
pub use hrhub_connector::synthetic::{exam_sitting, mix};
use serde_json::{json, Value};
use sha1::{Digest, Sha1};
use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Instant;

/// What the mock LRS holds and accepts.
#[derive(Debug, Clone)]
pub struct MockOptions {
    /// Same seed (and `now`), same statements.
    pub seed: u64,
    /// Learners generated when `company` is `None`.
    pub learners: usize,
    /// The people whose statements the LRS holds. `None`: a company of
    /// `learners` people from `seed` (the Moodle mock's default too).
    pub company: Option<Arc<Company>>,
    /// Learners from outside the company ([`Company::outsiders`]), known
    /// by an `mbox` at a partner's domain, after the company's people,
    /// with the same sittings as on the Moodle mock.
    pub outsiders: usize,
    /// The LRS client's key and secret (Basic auth).
    pub username: String,
    pub password: String,
    /// The xAPI root's path (`/xapi`): statements at `{prefix}/statements`.
    pub prefix: String,
    /// The server's page size limit (`limit=0` and larger limits get it).
    pub max_limit: usize,
    /// The virtual clock's start (Unix seconds); default: real now.
    pub now: Option<i64>,
    /// Sittings lie within this many days before `now` (keep it equal to
    /// the Moodle mock's `history_days` for matching times).
    pub history_days: i64,
    /// `X-Experience-API-Consistent-Through` = now − this (seconds).
    pub consistency_lag_secs: i64,
}

impl Default for MockOptions {
    fn default() -> Self {
        MockOptions {
            seed: 42,
            learners: 40,
            company: None,
            outsiders: 0,
            username: "hrhub-key".into(),
            password: "mock-lrs-secret".into(),
            prefix: "/xapi".into(),
            max_limit: 100,
            now: None,
            history_days: 120,
            consistency_lag_secs: 0,
        }
    }
}

/// One request as the mock saw it.
#[derive(Debug, Clone)]
pub struct LoggedRequest {
    pub method: String,
    pub path: String,
    /// The raw query string.
    pub query: Option<String>,
    /// The `X-Experience-API-Version` header sent, if any.
    pub version: Option<String>,
    pub status: u16,
    pub at: Instant,
}

impl LoggedRequest {
    /// A decoded query parameter.
    pub fn param(&self, name: &str) -> Option<String> {
        url::form_urlencoded::parse(self.query.as_deref().unwrap_or("").as_bytes())
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.into_owned())
    }
}

// ---------------------------------------------------------------------------
// The exam contract shared with the Moodle mock (hrhub-moodle's
// `mock::exam_sitting`; a test in this crate checks they agree).

/// The Moodle quizzes' course-module ids (`EXAM_CMIDS` of the Moodle mock).
pub const EXAM_CMIDS: [i64; 3] = [301, 302, 303];
const EXAM_COURSES: [i64; 3] = [2, 3, 5];
const EXAM_NAMES: [(&str, &str); 3] = [
    (
        "信息安全意识 2024 — 期末考试",
        "Security Awareness 2024 — Final exam",
    ),
    (
        "客户服务规范 — 结业测验",
        "Customer Service Standards — Final quiz",
    ),
    (
        "产品知识 2024 — 产品知识测验",
        "Product Knowledge 2024 — Quiz",
    ),
];
/// Raw mark totals (the Moodle quizzes' `sumgrades`) and pass percentages.
const EXAM_SUMGRADES: [f64; 3] = [20.0, 50.0, 40.0];
const EXAM_PASS_PCT: [u32; 3] = [60, 80, 60];

// ---------------------------------------------------------------------------
// Data

const DAY: i64 = 86_400;
const ADL: &str = "http://adlnet.gov/expapi/verbs/";
const LMS: &str = "https://lms.acme.example";
const HR_HOME: &str = "https://hr.acme.example";
const FIRE_SAFETY: &str = "https://content.acme.example/courses/fire-safety-2024";

#[derive(Debug, Clone)]
struct Stored {
    /// Unix milliseconds.
    stored: i64,
    id: String,
    statement: Value,
    voided: bool,
}

struct MockState {
    options: MockOptions,
    /// Milliseconds added to real time.
    clock_offset_ms: i64,
    /// Sorted by (stored, id).
    statements: Vec<Stored>,
    by_id: HashMap<String, usize>,
    counter: u64,
    last_stored: i64,
    more_generation: u64,
    fail: (u32, u16),
    throttle: (u32, u64),
    log: Vec<LoggedRequest>,
}

fn uuid(seed: u64, a: u64, b: u64) -> String {
    let h = mix(seed, a, b);
    let l = mix(seed ^ 0x5A5A, a, b);
    format!(
        "{:08x}-{:04x}-4{:03x}-{:04x}-{:012x}",
        h >> 32,
        (h >> 16) & 0xffff,
        h & 0xfff,
        0x8000 | (l >> 48) & 0x3fff,
        l & 0xffff_ffff_ffff
    )
}

fn iso_ms(ms: i64) -> String {
    DateTime::<Utc>::from_timestamp_millis(ms)
        .unwrap_or_default()
        .to_rfc3339_opts(SecondsFormat::Millis, true)
}

fn iso(secs: i64) -> String {
    DateTime::<Utc>::from_timestamp(secs, 0)
        .unwrap_or_default()
        .to_rfc3339_opts(SecondsFormat::Secs, true)
}

fn verb(name: &str) -> Value {
    json!({"id": format!("{ADL}{name}"), "display": {"en-US": name}})
}

/// How the LRS knows a person (one form per person, as one emitter would).
fn actor(seed: u64, company: &Company, person: usize) -> Value {
    let p = &company.people[person];
    let i = person as u64;
    match mix(seed, i, 300) % 100 {
        0..=49 => json!({"objectType": "Agent", "name": p.name,
                         "account": {"homePage": HR_HOME, "name": p.employee_no}}),
        50..=94 => {
            let email = if mix(seed, i, 301) % 100 < 15 {
                let (local, domain) = p.email.split_once('@').unwrap_or((&p.email, ""));
                format!("{}@{}", local, domain.to_uppercase())
            } else {
                p.email.clone()
            };
            json!({"objectType": "Agent", "name": p.name, "mbox": format!("mailto:{email}")})
        }
        _ => {
            let digest = Sha1::digest(format!("mailto:{}", p.email).as_bytes());
            json!({"objectType": "Agent", "name": p.name, "mbox_sha1sum": hex::encode(digest)})
        }
    }
}

fn quiz_object(exam: usize) -> Value {
    let (zh, en) = EXAM_NAMES[exam];
    json!({"objectType": "Activity",
           "id": format!("{LMS}/mod/quiz/view.php?id={}", EXAM_CMIDS[exam]),
           "definition": {"type": "http://adlnet.gov/expapi/activities/assessment",
                          "name": {"zh-CN": zh, "en-US": en}}})
}

/// One quiz attempt as the LMS's xAPI log store forwards it. Each exam has
/// its emitter style: 0 → passed/failed with scaled and raw, 1 → scored
/// with raw/min/max only, 2 → completed with scaled only.
fn attempt_statement(
    seed: u64,
    actor: &Value,
    exam: usize,
    percent: u32,
    registration: String,
    finished: i64,
) -> Value {
    let sum = EXAM_SUMGRADES[exam];
    let raw = (f64::from(percent) * sum / 100.0 * 100_000.0).round() / 100_000.0;
    let passed = percent >= EXAM_PASS_PCT[exam];
    let (verb_name, result) = match exam {
        0 => (
            if passed { "passed" } else { "failed" },
            json!({"score": {"scaled": f64::from(percent) / 100.0, "raw": raw, "min": 0, "max": sum},
                   "success": passed, "completion": true, "duration": "PT14M"}),
        ),
        1 => (
            "scored",
            json!({"score": {"raw": raw, "min": 0, "max": sum}, "completion": true, "duration": "PT22M"}),
        ),
        _ => (
            "completed",
            json!({"score": {"scaled": f64::from(percent) / 100.0}, "success": passed,
                   "completion": true, "duration": "PT9M"}),
        ),
    };
    let _ = seed;
    json!({
        "actor": actor,
        "verb": verb(verb_name),
        "object": quiz_object(exam),
        "result": result,
        "context": {"registration": registration, "platform": "Moodle", "language": "zh-CN",
                    "contextActivities": {"parent": [{"id": format!("{LMS}/course/view.php?id={}", EXAM_COURSES[exam]),
                                                      "objectType": "Activity"}],
                                          "category": [{"id": "https://moodle.org", "objectType": "Activity"}]}},
        "timestamp": iso(finished),
    })
}

fn authority() -> Value {
    json!({"objectType": "Agent", "account": {"homePage": "https://lrs.acme.example", "name": "moodle-client"}})
}

impl MockState {
    fn generate(options: MockOptions) -> Self {
        let real_now = Utc::now().timestamp();
        let now = options.now.unwrap_or(real_now);
        let seed = options.seed;
        let company = options
            .company
            .clone()
            .unwrap_or_else(|| Arc::new(Company::generate(seed, options.learners)));
        let history = options.history_days.max(2);
        let mut raw: Vec<(i64, Value)> = Vec::new();
        let mut n = 0u64;
        let mut next_id = |salt: u64| {
            n += 1;
            uuid(seed, n, salt)
        };
        let learners = company
            .people
            .iter()
            .map(|person| (person.index, actor(seed, &company, person.index)))
            .chain(company.outsiders(options.outsiders).into_iter().map(|o| {
                let who = json!({"objectType": "Agent", "name": o.name,
                                 "mbox": format!("mailto:{}", o.email)});
                (o.index, who)
            }));
        for (p, who) in learners {
            let pi = p as u64;
            for exam in 0..EXAM_CMIDS.len() {
                let Some((percents, days_ago)) = exam_sitting(seed, p, exam, history) else {
                    continue;
                };
                // the Moodle mock's attempt times
                let last = now - days_ago * DAY - (mix(seed, pi, 210) % 28_800) as i64;
                let count = percents.len() as i64;
                for (k, pct) in percents.iter().enumerate() {
                    let finished = last - (count - 1 - k as i64) * DAY;
                    let registration = uuid(seed, pi, 1_000 + (exam * 10 + k) as u64);
                    let mut attempted = json!({
                        "actor": who, "verb": verb("attempted"), "object": quiz_object(exam),
                        "context": {"registration": registration, "platform": "Moodle"},
                        "timestamp": iso(finished - 900),
                    });
                    attempted["id"] = json!(next_id(1));
                    raw.push(((finished - 898) * 1_000, attempted));
                    let mut s = attempt_statement(seed, &who, exam, *pct, registration, finished);
                    s["id"] = json!(next_id(2));
                    raw.push((
                        finished * 1_000 + 2_000 + (mix(seed, pi, k as u64) % 3_000) as i64,
                        s,
                    ));
                }
            }
            // the authoring-tool course: launched, experienced, completed (no score)
            if mix(seed, pi, 310) % 100 < 70 {
                let day = now - (1 + (mix(seed, pi, 311) % history as u64) as i64) * DAY;
                let object = json!({"objectType": "Activity", "id": FIRE_SAFETY,
                    "definition": {"type": "http://adlnet.gov/expapi/activities/course",
                                   "name": {"zh-CN": "消防安全培训", "en-US": "Fire Safety 2024"}}});
                let registration = uuid(seed, pi, 2_000);
                for (offset, v, result) in [
                    (0, "launched", Value::Null),
                    (300, "experienced", Value::Null),
                    (
                        1_500,
                        "completed",
                        json!({"completion": true, "duration": "PT25M"}),
                    ),
                ] {
                    if v == "completed" && mix(seed, pi, 312) % 100 >= 85 {
                        continue; // not finished
                    }
                    let mut s = json!({"actor": who, "verb": verb(v), "object": object,
                        "context": {"registration": registration, "platform": "Articulate Storyline"},
                        "timestamp": iso(day + offset)});
                    if !result.is_null() {
                        s["result"] = result;
                    }
                    s["id"] = json!(next_id(3));
                    raw.push(((day + offset + 1) * 1_000, s));
                }
            }
        }
        let mut state = MockState {
            clock_offset_ms: (now - real_now) * 1_000,
            options,
            statements: Vec::new(),
            by_id: HashMap::new(),
            counter: n,
            last_stored: 0,
            more_generation: 0,
            fail: (0, 0),
            throttle: (0, 0),
            log: Vec::new(),
        };
        raw.sort_by_key(|a| a.0);
        for (stored, statement) in raw {
            state.insert(statement, stored);
        }
        // an administrator voids a few mistaken passes (manual, scaled 1.0)
        let people = company.people.len() as u64;
        for k in 0..(people / 30).max(1).min(people) {
            let p = (mix(seed, k, 320) % people.max(1)) as usize;
            if p >= company.people.len() {
                continue;
            }
            let who = actor(seed, &company, p);
            let at = (now - (2 + k as i64) * DAY) * 1_000;
            let mut wrong = json!({"actor": who, "verb": verb("passed"), "object": quiz_object(0),
                "result": {"score": {"scaled": 1.0}, "success": true, "completion": true},
                "timestamp": iso(at / 1_000 - 60)});
            wrong["id"] = json!(uuid(seed, 9_000 + k, 4));
            let target = state.insert(wrong, at);
            state.void_at(&target, at + 3_600_000);
        }
        state
    }

    fn now_ms(&self) -> i64 {
        Utc::now().timestamp_millis() + self.clock_offset_ms
    }

    /// Stores `statement` with `stored` (ms); fills id, stored, authority,
    /// version. Returns the id.
    fn insert(&mut self, mut statement: Value, stored: i64) -> String {
        self.counter += 1;
        let id = statement
            .get("id")
            .and_then(Value::as_str)
            .map(str::to_string)
            .unwrap_or_else(|| uuid(self.options.seed, self.counter, 77));
        statement["id"] = json!(id);
        statement["stored"] = json!(iso_ms(stored));
        statement["authority"] = authority();
        statement["version"] = json!("1.0.3");
        if statement.get("timestamp").is_none() {
            statement["timestamp"] = json!(iso_ms(stored));
        }
        let entry = Stored {
            stored,
            id: id.clone(),
            statement,
            voided: false,
        };
        let at = self
            .statements
            .partition_point(|s| (s.stored, &s.id) < (stored, &id));
        self.statements.insert(at, entry);
        self.by_id = self
            .statements
            .iter()
            .enumerate()
            .map(|(i, s)| (s.id.clone(), i))
            .collect();
        self.last_stored = self.last_stored.max(stored);
        id
    }

    /// Stores a voiding statement for `target` at `stored` (ms).
    fn void_at(&mut self, target: &str, stored: i64) -> String {
        let actor = json!({"objectType": "Agent", "name": "LMS Admin", "mbox": "mailto:lms-admin@acme.example"});
        let id = self.insert(
            json!({"actor": actor, "verb": verb("voided"),
                   "object": {"objectType": "StatementRef", "id": target}}),
            stored,
        );
        if let Some(&i) = self.by_id.get(target) {
            self.statements[i].voided = true;
        }
        id
    }

    /// The next `stored` for a statement arriving now: strictly after the last.
    fn next_stored(&self) -> i64 {
        self.now_ms().max(self.last_stored + 1)
    }

    fn consistent_through(&self) -> String {
        iso_ms(self.now_ms() - self.options.consistency_lag_secs * 1_000)
    }
}

// ---------------------------------------------------------------------------
// Handle

/// Namespace of [`MockLrs::start`].
pub struct MockLrs;

impl MockLrs {
    /// Generates the statements and serves them on `127.0.0.1:<free port>`.
    pub async fn start(options: MockOptions) -> MockHandle {
        let state = Arc::new(Mutex::new(MockState::generate(options)));
        let app = Router::new().fallback(handle).with_state(state.clone());
        let server = MockServer::start("LRS", app).await;
        MockHandle { server, state }
    }
}

/// A running mock: its URL and its controls. Stops on drop.
pub struct MockHandle {
    server: MockServer,
    state: Arc<Mutex<MockState>>,
}

impl MockHandle {
    /// `http://127.0.0.1:<port>`.
    pub fn base_url(&self) -> String {
        self.server.base_url().to_string()
    }

    /// The connector's `endpoint`: `{base_url}{prefix}/`.
    pub fn endpoint(&self) -> String {
        format!("{}{}/", self.server.base_url(), self.state().options.prefix)
    }

    fn state(&self) -> MutexGuard<'_, MockState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub async fn shutdown(self) {
        self.server.shutdown().await;
    }

    pub fn options(&self) -> MockOptions {
        self.state().options.clone()
    }

    /// The virtual clock, Unix seconds.
    pub fn now(&self) -> i64 {
        self.state().now_ms() / 1_000
    }

    pub fn advance(&self, secs: i64) {
        self.state().clock_offset_ms += secs * 1_000;
    }

    /// Stores `statement` now, as `POST /statements` would (id assigned
    /// when missing). Returns its id.
    pub fn add_statement(&self, statement: Value) -> String {
        let mut s = self.state();
        let at = s.next_stored();
        s.insert(statement, at)
    }

    /// Stores `statement` with a `stored` time `secs_ago` seconds before
    /// now: it becomes visible only now (an LRS that is not yet consistent
    /// through that time).
    pub fn add_statement_stored_ago(&self, statement: Value, secs_ago: i64) -> String {
        let mut s = self.state();
        let at = s.now_ms() - secs_ago * 1_000;
        s.insert(statement, at)
    }

    /// Person `person` (of the company) finishes exam `exam` now with
    /// `percent`, in the exam's emitter style. Returns the statement id.
    pub fn add_exam_attempt(
        &self,
        company: &Company,
        person: usize,
        exam: usize,
        percent: u32,
    ) -> String {
        let mut s = self.state();
        let seed = s.options.seed;
        let at = s.next_stored();
        s.counter += 1;
        let registration = uuid(seed, s.counter, 5);
        let statement = attempt_statement(
            seed,
            &actor(seed, company, person),
            exam,
            percent,
            registration,
            at / 1_000,
        );
        s.insert(statement, at)
    }

    /// Voids statement `target` now. Returns the voiding statement's id.
    pub fn void(&self, target: &str) -> String {
        let mut s = self.state();
        let at = s.next_stored();
        s.void_at(target, at)
    }

    /// How the LRS identifies person `person` (the statements' `actor`).
    pub fn actor_of(&self, company: &Company, person: usize) -> Value {
        actor(self.state().options.seed, company, person)
    }

    /// Consistent-Through lags now by `secs` from now on.
    pub fn set_consistency_lag(&self, secs: i64) {
        self.state().options.consistency_lag_secs = secs;
    }

    /// Every `more` link handed out so far stops working (400).
    pub fn expire_more_links(&self) {
        self.state().more_generation += 1;
    }

    /// The next `n` requests answer HTTP `status`.
    pub fn fail_next(&self, n: u32, status: u16) {
        self.state().fail = (n, status);
    }

    /// The next `n` requests get 429 with `Retry-After`.
    pub fn throttle_next(&self, n: u32, retry_after_secs: u64) {
        self.state().throttle = (n, retry_after_secs);
    }

    pub fn requests(&self) -> Vec<LoggedRequest> {
        self.state().log.clone()
    }

    pub fn request_count(&self) -> usize {
        self.state().log.len()
    }

    pub fn clear_requests(&self) {
        self.state().log.clear();
    }

    /// Statements a query without filters returns (voided ones excluded).
    pub fn visible_count(&self) -> usize {
        self.state().statements.iter().filter(|s| !s.voided).count()
    }

    /// Ids of the voided statements.
    pub fn voided_ids(&self) -> Vec<String> {
        self.state()
            .statements
            .iter()
            .filter(|s| s.voided)
            .map(|s| s.id.clone())
            .collect()
    }

    /// Every stored statement (voided ones included), in `stored` order.
    pub fn all_statements(&self) -> Vec<Value> {
        self.state()
            .statements
            .iter()
            .map(|s| s.statement.clone())
            .collect()
    }
}

// ---------------------------------------------------------------------------
// HTTP

type Shared = Arc<Mutex<MockState>>;

fn respond(status: StatusCode, body: Value) -> Response {
    Response::builder()
        .status(status)
        .header(header::CONTENT_TYPE, "application/json")
        .header("X-Experience-API-Version", "1.0.3")
        .body(Body::from(body.to_string()))
        .expect("valid response")
}

fn bad_request(message: &str) -> Response {
    respond(
        StatusCode::BAD_REQUEST,
        json!({"error": true, "success": false, "message": message, "code": 400}),
    )
}

async fn handle(State(shared): State<Shared>, request: Request) -> Response {
    let (parts, _body) = request.into_parts();
    let path = parts.uri.path().to_string();
    let query_raw = parts.uri.query().map(str::to_string);
    let version = parts
        .headers
        .get("x-experience-api-version")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let mut state = shared.lock().unwrap_or_else(|e| e.into_inner());
    let response = state.route(&parts.method, &parts.headers, &path, query_raw.as_deref());
    state.log.push(LoggedRequest {
        method: parts.method.to_string(),
        path,
        query: query_raw,
        version,
        status: response.status().as_u16(),
        at: Instant::now(),
    });
    response
}

/// A position in a query: the statement after which the next page starts.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
struct MoreToken {
    generation: u64,
    params: Vec<(String, String)>,
    after_stored: i64,
    after_id: String,
}

const QUERY_PARAMS: [&str; 14] = [
    "statementId",
    "voidedStatementId",
    "agent",
    "verb",
    "activity",
    "registration",
    "related_activities",
    "related_agents",
    "since",
    "until",
    "limit",
    "format",
    "attachments",
    "ascending",
];

fn parse_time(s: &str) -> Option<i64> {
    DateTime::parse_from_rfc3339(s.trim())
        .ok()
        .map(|t| t.timestamp_millis())
}

/// The agent's inverse functional identifier, comparable.
fn ifi(agent: &Value) -> Option<String> {
    if let Some(m) = agent.get("mbox").and_then(Value::as_str) {
        return Some(format!("mbox:{}", m.to_lowercase()));
    }
    if let Some(s) = agent.get("mbox_sha1sum").and_then(Value::as_str) {
        return Some(format!("sha1:{s}"));
    }
    if let Some(a) = agent.get("account") {
        return Some(format!(
            "account:{}|{}",
            a.get("homePage").and_then(Value::as_str).unwrap_or(""),
            a.get("name").and_then(Value::as_str).unwrap_or("")
        ));
    }
    agent
        .get("openid")
        .and_then(Value::as_str)
        .map(|o| format!("openid:{o}"))
}

impl MockState {
    fn authenticated(&self, headers: &HeaderMap) -> bool {
        headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Basic "))
            .and_then(|v| B64.decode(v.trim()).ok())
            .and_then(|b| String::from_utf8(b).ok())
            .is_some_and(|creds| {
                creds == format!("{}:{}", self.options.username, self.options.password)
            })
    }

    fn route(
        &mut self,
        method: &Method,
        headers: &HeaderMap,
        path: &str,
        query: Option<&str>,
    ) -> Response {
        if self.fail.0 > 0 {
            self.fail.0 -= 1;
            let status =
                StatusCode::from_u16(self.fail.1).unwrap_or(StatusCode::SERVICE_UNAVAILABLE);
            return respond(
                status,
                json!({"error": true, "message": "Injected failure (mock fail_next)"}),
            );
        }
        if self.throttle.0 > 0 {
            self.throttle.0 -= 1;
            return Response::builder()
                .status(StatusCode::TOO_MANY_REQUESTS)
                .header(header::RETRY_AFTER, self.throttle.1)
                .header(header::CONTENT_TYPE, "application/json")
                .body(Body::from(
                    json!({"error": true, "message": "Too many requests"}).to_string(),
                ))
                .expect("valid response");
        }
        let prefix = self.options.prefix.trim_end_matches('/').to_string();
        let Some(resource) = path.strip_prefix(&prefix) else {
            return respond(
                StatusCode::NOT_FOUND,
                json!({"error": true, "message": "Not found"}),
            );
        };
        let resource = resource.trim_end_matches('/');
        if method != Method::GET {
            return respond(
                StatusCode::METHOD_NOT_ALLOWED,
                json!({"error": true, "message": "The mock LRS only serves GET"}),
            );
        }
        match resource {
            // the about resource needs neither auth nor the version header
            "/about" => respond(
                StatusCode::OK,
                json!({"version": ["1.0.3", "1.0.2", "1.0.1", "1.0.0"], "extensions": {}}),
            ),
            "/statements" => {
                if !self.authenticated(headers) {
                    return Response::builder()
                        .status(StatusCode::UNAUTHORIZED)
                        .header(header::WWW_AUTHENTICATE, "Basic realm=\"LRS\"")
                        .header(header::CONTENT_TYPE, "application/json")
                        .body(Body::from(
                            json!({"error": true, "success": false, "message": "Unauthorized", "code": 401})
                                .to_string(),
                        ))
                        .expect("valid response");
                }
                match headers
                    .get("x-experience-api-version")
                    .and_then(|v| v.to_str().ok())
                {
                    None => {
                        return bad_request(
                            "X-Experience-API-Version header is missing; it is required on every request",
                        )
                    }
                    Some(v) if !v.trim().starts_with("1.0") => {
                        return bad_request(&format!(
                            "X-Experience-API-Version {v} is not supported; this LRS speaks 1.0.3"
                        ))
                    }
                    Some(_) => {}
                }
                let params: Vec<(String, String)> =
                    url::form_urlencoded::parse(query.unwrap_or("").as_bytes())
                        .into_owned()
                        .collect();
                let mut response = self.statements(params);
                let ct = self.consistent_through();
                response.headers_mut().insert(
                    "X-Experience-API-Consistent-Through",
                    ct.parse().expect("a header value"),
                );
                response
            }
            _ => respond(
                StatusCode::NOT_FOUND,
                json!({"error": true, "message": "Not found"}),
            ),
        }
    }

    fn statements(&self, params: Vec<(String, String)>) -> Response {
        // a `more` link carries the whole query; nothing may come with it
        let (params, after) = match params.iter().find(|(k, _)| k == "more") {
            Some((_, token)) => {
                if params.len() > 1 {
                    return bad_request("`more` cannot be combined with other parameters");
                }
                let decoded = URL_SAFE_NO_PAD
                    .decode(token)
                    .ok()
                    .and_then(|b| serde_json::from_slice::<MoreToken>(&b).ok());
                match decoded {
                    Some(t) if t.generation == self.more_generation => {
                        (t.params, Some((t.after_stored, t.after_id)))
                    }
                    _ => return bad_request("the `more` link is invalid or has expired"),
                }
            }
            None => (params, None),
        };
        if let Some((k, _)) = params
            .iter()
            .find(|(k, _)| !QUERY_PARAMS.contains(&k.as_str()))
        {
            return bad_request(&format!("unknown parameter `{k}`"));
        }
        let get = |k: &str| {
            params
                .iter()
                .find(|(pk, _)| pk == k)
                .map(|(_, v)| v.as_str())
        };
        for single in ["statementId", "voidedStatementId"] {
            if let Some(id) = get(single) {
                if params.iter().any(|(k, _)| {
                    !matches!(
                        k.as_str(),
                        "statementId" | "voidedStatementId" | "format" | "attachments"
                    )
                }) {
                    return bad_request(&format!("`{single}` cannot be combined with filters"));
                }
                let want_voided = single == "voidedStatementId";
                return match self.by_id.get(id).map(|&i| &self.statements[i]) {
                    Some(s) if s.voided == want_voided => {
                        respond(StatusCode::OK, s.statement.clone())
                    }
                    _ => respond(
                        StatusCode::NOT_FOUND,
                        json!({"error": true, "message": "Not found"}),
                    ),
                };
            }
        }
        let time = |k: &str| -> Result<Option<i64>, String> {
            match get(k) {
                None => Ok(None),
                Some(v) => parse_time(v)
                    .map(Some)
                    .ok_or_else(|| format!("`{k}` is not an ISO 8601 timestamp: {v:?}")),
            }
        };
        let (since, until) = match (time("since"), time("until")) {
            (Ok(since), Ok(until)) => (since, until),
            (Err(e), _) | (_, Err(e)) => return bad_request(&e),
        };
        let limit = match get("limit").map(str::parse::<usize>) {
            None => self.options.max_limit,
            Some(Ok(0)) => self.options.max_limit,
            Some(Ok(n)) => n.min(self.options.max_limit),
            Some(Err(_)) => return bad_request("`limit` must be a non-negative integer"),
        };
        let ascending = match get("ascending") {
            None | Some("false") => false,
            Some("true") => true,
            Some(other) => {
                return bad_request(&format!("`ascending` must be true or false, got {other:?}"))
            }
        };
        let agent = match get("agent").map(serde_json::from_str::<Value>) {
            None => None,
            Some(Ok(a)) => match ifi(&a) {
                Some(i) => Some(i),
                None => return bad_request("`agent` has no inverse functional identifier"),
            },
            Some(Err(_)) => return bad_request("`agent` is not JSON"),
        };
        let (verb_f, activity, registration) = (get("verb"), get("activity"), get("registration"));

        let matches = |s: &&Stored| {
            !s.voided
                && since.is_none_or(|t| s.stored > t)
                && until.is_none_or(|t| s.stored <= t)
                && verb_f.is_none_or(|v| {
                    s.statement.pointer("/verb/id").and_then(Value::as_str) == Some(v)
                })
                && activity.is_none_or(|a| {
                    s.statement.pointer("/object/id").and_then(Value::as_str) == Some(a)
                })
                && registration.is_none_or(|r| {
                    s.statement
                        .pointer("/context/registration")
                        .and_then(Value::as_str)
                        == Some(r)
                })
                && agent.as_ref().is_none_or(|want| {
                    s.statement.get("actor").and_then(ifi).as_deref() == Some(want.as_str())
                })
        };
        let after_ok = |s: &&Stored| match &after {
            None => true,
            Some((ts, id)) => {
                if ascending {
                    (s.stored, &s.id) > (*ts, id)
                } else {
                    (s.stored, &s.id) < (*ts, id)
                }
            }
        };
        let mut page: Vec<&Stored> = if ascending {
            self.statements
                .iter()
                .filter(matches)
                .filter(after_ok)
                .take(limit + 1)
                .collect()
        } else {
            self.statements
                .iter()
                .rev()
                .filter(matches)
                .filter(after_ok)
                .take(limit + 1)
                .collect()
        };
        let more = if page.len() > limit {
            page.truncate(limit);
            let last = page.last().expect("a full page");
            let token = MoreToken {
                generation: self.more_generation,
                params: params.clone(),
                after_stored: last.stored,
                after_id: last.id.clone(),
            };
            let encoded =
                URL_SAFE_NO_PAD.encode(serde_json::to_vec(&token).expect("token serializes"));
            format!(
                "{}/statements?more={encoded}",
                self.options.prefix.trim_end_matches('/')
            )
        } else {
            String::new()
        };
        respond(
            StatusCode::OK,
            json!({"statements": page.iter().map(|s| s.statement.clone()).collect::<Vec<_>>(), "more": more}),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generation_is_deterministic_with_every_shape() {
        let opts = MockOptions {
            now: Some(1_750_000_000),
            learners: 120,
            ..MockOptions::default()
        };
        let a = MockState::generate(opts.clone());
        let b = MockState::generate(opts);
        assert_eq!(
            a.statements
                .iter()
                .map(|s| &s.statement)
                .collect::<Vec<_>>(),
            b.statements
                .iter()
                .map(|s| &s.statement)
                .collect::<Vec<_>>()
        );
        let verbs: std::collections::HashSet<&str> = a
            .statements
            .iter()
            .filter_map(|s| s.statement.pointer("/verb/id").and_then(Value::as_str))
            .collect();
        for v in [
            "attempted",
            "passed",
            "failed",
            "scored",
            "completed",
            "launched",
            "experienced",
            "voided",
        ] {
            assert!(
                verbs.contains(format!("{ADL}{v}").as_str()),
                "{v}: {verbs:?}"
            );
        }
        let actors: Vec<&Value> = a
            .statements
            .iter()
            .filter_map(|s| s.statement.get("actor"))
            .collect();
        assert!(actors.iter().any(|x| x.get("account").is_some()));
        assert!(actors.iter().any(|x| x.get("mbox_sha1sum").is_some()));
        assert!(actors.iter().any(|x| x
            .get("mbox")
            .and_then(Value::as_str)
            .is_some_and(|m| m.contains("ACME"))));
        assert!(a.statements.iter().any(|s| s.voided));
        assert!(a
            .statements
            .windows(2)
            .all(|w| (w[0].stored, &w[0].id) < (w[1].stored, &w[1].id)));
        assert_eq!(a.by_id.len(), a.statements.len(), "ids are unique");
    }
}
