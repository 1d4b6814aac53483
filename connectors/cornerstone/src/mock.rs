//! A Cornerstone OnDemand mock server for tests, `hrhub demo` and benchmarks.
//!
//! It serves, over real HTTP on 127.0.0.1, what the connector uses, the way
//! `shared/reference/training-platforms.md` §2 describes Cornerstone:
//!
//! - `POST /services/api/oauth2/token`: client credentials in a JSON body
//!   with camelCase keys (a form-encoded body is refused with 400
//!   `invalid_request`), scopes checked against the application's grant,
//!   `{"access_token", "expires_in", "scope", "token_type"}`; tokens expire.
//! - Transcript Search (at [`DEFAULT_TRANSCRIPT_SEARCH_PATH`]):
//!   `ModificationStartDate`/`ModificationEndDate` (UTC) at most 24 hours
//!   apart (400 beyond), defaulting as documented (none: the last 24 hours;
//!   start only: the next 24; end only: the previous 24), at most 50
//!   records a page (400 beyond), `pageNumber` from 1, active users only,
//!   `{"data": [...], "pageNumber", "pageSize"}`; items in the reference's
//!   illustrative shape (`userId`, `loId`, `title`, `loType`, `status`,
//!   `completionDate`, `score`, `isArchived`, `lastModifiedDate`). Both
//!   window bounds are inclusive, so an item modified exactly on a bound
//!   appears in two windows.
//! - `GET /services/api/x/users/v2/employees?externalId=`: a bare array.
//! - Bearer tokens (401 unknown or expired), scopes (403 without
//!   `transcript:read` / `employee:read`), a per-minute request budget and
//!   injected 429s with `Retry-After`, injected 5xx.
//!
//! Data is synthetic and deterministic for a seed and a `now`: learners (a
//! [`Company`]'s people when given, so they are the same people as on the
//! other platforms: User ID = 工号, primaryEmail = their e-mail, a few in
//! another case or missing), a catalogue of twelve courses, and each
//! learner's transcript items, some archived (an annual course's earlier
//! completion). Clocks are real time.

use crate::config::{DEFAULT_TRANSCRIPT_SEARCH_PATH, EMPLOYEES_PATH};
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{header, HeaderMap, Method, StatusCode};
use axum::response::Response;
use axum::Router;
use chrono::{DateTime, NaiveDateTime, SecondsFormat, Utc};
use hrhub_connector::mock_server::MockServer;
use hrhub_connector::synthetic::mix;
use hrhub_connector::synthetic::Company;
use serde_json::{json, Value};
use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// The path of the token endpoint.
pub const TOKEN_PATH: &str = "/services/api/oauth2/token";

/// What the mock portal holds and accepts.
#[derive(Debug, Clone)]
pub struct MockOptions {
    /// Same seed (and `now`), same data.
    pub seed: u64,
    /// Learners generated when there is no `company`.
    pub learners: usize,
    /// Courses on each learner's transcript (at most 12, the catalogue).
    pub transcripts_per_learner: usize,
    /// Transcript items were registered and modified over this many days
    /// before `now`.
    pub history_days: i64,
    /// The data's "now" (Unix seconds); default: real now.
    pub now: Option<i64>,
    pub client_id: String,
    pub client_secret: String,
    /// The scopes the application is granted.
    pub scopes: Vec<String>,
    /// `expires_in` of issued tokens, seconds.
    pub token_expires_in: u64,
    /// Where Transcript Search answers.
    pub search_path: String,
    /// A synthetic company whose people are the learners (User ID = 工号).
    /// `None`: `learners` built-in learners (`EMP-00001`, ...).
    pub company: Option<Arc<Company>>,
    /// Learners from outside the company ([`Company::outsiders`]): User ID
    /// `EXT-0001`..., an e-mail at a partner's domain, after the others.
    pub outsiders: usize,
}

impl Default for MockOptions {
    fn default() -> Self {
        MockOptions {
            seed: 7,
            learners: 50,
            transcripts_per_learner: 6,
            history_days: 60,
            now: None,
            client_id: "hrhub".into(),
            client_secret: "mock-client-secret".into(),
            scopes: vec!["transcript:read".into(), "employee:read".into()],
            token_expires_in: 3_600,
            search_path: DEFAULT_TRANSCRIPT_SEARCH_PATH.into(),
            company: None,
            outsiders: 0,
        }
    }
}

/// One request as the mock saw it.
#[derive(Debug, Clone)]
pub struct LoggedRequest {
    pub method: String,
    pub path: String,
    /// The raw (percent-encoded) query string.
    pub query: Option<String>,
    /// The request's Content-Type.
    pub content_type: Option<String>,
    /// The keys of a JSON object body (values are not kept: they hold secrets).
    pub body_keys: Vec<String>,
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

/// Namespace of [`MockCornerstone::start`].
pub struct MockCornerstone;

impl MockCornerstone {
    /// Generates the data and serves it on `127.0.0.1:<free port>`.
    pub async fn start(options: MockOptions) -> MockHandle {
        let state = Arc::new(Mutex::new(MockState::generate(options)));
        let app = Router::new().fallback(handle).with_state(state.clone());
        let server = MockServer::start("Cornerstone", app).await;
        MockHandle { server, state }
    }
}

/// A running mock: its URL and controls. Stops on drop.
pub struct MockHandle {
    server: MockServer,
    state: Arc<Mutex<MockState>>,
}

impl MockHandle {
    /// `http://127.0.0.1:<port>`, the connector's `base_url`.
    pub fn base_url(&self) -> String {
        self.server.base_url().to_string()
    }

    fn state(&self) -> MutexGuard<'_, MockState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub async fn shutdown(self) {
        self.server.shutdown().await;
    }

    /// Every active learner's transcript items as Transcript Search renders them.
    pub fn transcripts(&self) -> Vec<Value> {
        let s = self.state();
        (0..s.transcripts.len())
            .filter(|&i| s.learners[s.transcripts[i].learner].active)
            .map(|i| s.transcript_json(i))
            .collect()
    }

    /// The e-mail the Employee API gives for a User ID.
    pub fn learner_email(&self, user_id: &str) -> Option<String> {
        let s = self.state();
        s.learners
            .iter()
            .find(|l| l.user_id == user_id)
            .and_then(|l| l.email.clone())
    }

    /// Completes `n` open items (in progress or registered) now, with a
    /// score for tests. Returns their keys (`userId:loId`).
    pub fn complete(&self, n: usize) -> Vec<String> {
        self.state().complete(n)
    }

    /// Deactivates a learner: Transcript Search stops returning their items.
    pub fn deactivate(&self, user_id: &str) {
        let mut s = self.state();
        for l in s.learners.iter_mut().filter(|l| l.user_id == user_id) {
            l.active = false;
        }
    }

    /// The next `n` API requests get 429 with `Retry-After: secs`.
    pub fn throttle_next(&self, n: u32, secs: u64) {
        self.state().throttle = (n, secs);
    }

    /// The next `n` API requests answer `status`.
    pub fn fail_next(&self, n: u32, status: u16) {
        self.state().fail = (n, status);
    }

    /// API requests allowed per real minute (429 beyond); `None`: unlimited.
    pub fn set_rate_limit(&self, per_minute: Option<u32>) {
        self.state().window.per_minute = per_minute;
    }

    /// Every issued token expires now (the next API call gets 401).
    pub fn expire_tokens(&self) {
        let now = Instant::now();
        for (expiry, _) in self.state().tokens.values_mut() {
            *expiry = now;
        }
    }

    /// `expires_in` of tokens issued from now on.
    pub fn set_token_expires_in(&self, secs: u64) {
        self.state().options.token_expires_in = secs;
    }

    /// While true, the API answers 401 to every token, fresh ones too (the
    /// application's service-account user was deactivated).
    pub fn reject_all_tokens(&self, reject: bool) {
        self.state().reject_tokens = reject;
    }

    /// Re-keys the application: the old secret stops working.
    pub fn set_client_secret(&self, secret: &str) {
        self.state().options.client_secret = secret.to_string();
    }

    /// The scopes the application is granted from now on.
    pub fn set_scopes(&self, scopes: &[&str]) {
        self.state().options.scopes = scopes.iter().map(|s| s.to_string()).collect();
    }

    /// Every request so far, in arrival order.
    pub fn requests(&self) -> Vec<LoggedRequest> {
        self.state().log.clone()
    }

    pub fn clear_requests(&self) {
        self.state().log.clear();
    }

    /// Requests to the token endpoint so far.
    pub fn token_requests(&self) -> usize {
        self.state()
            .log
            .iter()
            .filter(|r| r.path == TOKEN_PATH)
            .count()
    }

    /// API requests answered 401 so far.
    pub fn unauthorized_count(&self) -> usize {
        self.state()
            .log
            .iter()
            .filter(|r| r.path != TOKEN_PATH && r.status == 401)
            .count()
    }
}

// ---------------------------------------------------------------------------
// Data

const DAY: i64 = 86_400;

/// (title, loType): the catalogue. Course 0 is the annual compliance course.
const COURSES: [(&str, &str); 12] = [
    ("信息安全意识培训 2024", "Online Class"),
    ("客户服务礼仪", "Online Class"),
    ("投诉处理五步法", "Material"),
    ("产品知识考试", "Test"),
    ("新员工入职培训", "Curriculum"),
    ("数据隐私合规", "Online Class"),
    ("反商业贿赂", "Video"),
    ("沟通技巧进阶", "Session"),
    ("质检标准考试", "Test"),
    ("工单系统操作", "Material"),
    ("Security Awareness Final Exam", "Test"),
    ("领导力基础", "Curriculum"),
];
const FIRST: [&str; 8] = ["Wei", "Fang", "Lei", "Min", "Jing", "Tao", "Yan", "Jun"];
const LAST: [&str; 8] = [
    "Li", "Wang", "Zhang", "Liu", "Chen", "Yang", "Zhao", "Huang",
];

fn iso(ts: i64) -> String {
    DateTime::<Utc>::from_timestamp(ts, 0)
        .unwrap_or_default()
        .to_rfc3339_opts(SecondsFormat::Secs, true)
}

fn guid(seed: u64, a: u64, salt: u64) -> String {
    let h = format!("{:016x}{:016x}", mix(seed, a, salt), mix(seed, a, salt + 1));
    format!(
        "{}-{}-{}-{}-{}",
        &h[..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..32]
    )
}

fn capitalize(s: &str) -> String {
    let mut c = s.chars();
    c.next()
        .map(|f| f.to_uppercase().chain(c).collect())
        .unwrap_or_default()
}

#[derive(Debug, Clone)]
struct Learner {
    user_id: String,
    id: u64,
    guid: String,
    first: String,
    last: String,
    email: Option<String>,
    active: bool,
}

#[derive(Debug, Clone)]
struct Transcript {
    learner: usize,
    course: usize,
    status: &'static str,
    completed: Option<i64>,
    score: Option<f64>,
    archived: bool,
    modified: i64,
}

#[derive(Debug)]
struct Window {
    per_minute: Option<u32>,
    start: Instant,
    count: u32,
}

struct MockState {
    options: MockOptions,
    now: i64,
    learners: Vec<Learner>,
    lo_ids: Vec<String>,
    transcripts: Vec<Transcript>,
    /// (lastModifiedDate, index): Transcript Search's order.
    order: BTreeSet<(i64, usize)>,
    /// Access token -> (expiry, granted scopes).
    tokens: HashMap<String, (Instant, Vec<String>)>,
    token_counter: u64,
    reject_tokens: bool,
    fail: (u32, u16),
    throttle: (u32, u64),
    window: Window,
    log: Vec<LoggedRequest>,
}

impl MockState {
    fn generate(options: MockOptions) -> Self {
        let seed = options.seed;
        let now = options.now.unwrap_or_else(|| Utc::now().timestamp());
        let end = now - 120;
        let span = (options.history_days.max(1) * DAY) as u64;
        let mut learners: Vec<Learner> = match &options.company {
            Some(company) => company
                .people
                .iter()
                .map(|p| {
                    let i = p.index as u64;
                    let email = match mix(seed, i, 3) % 100 {
                        0..=2 => None,
                        3..=10 => {
                            let (local, domain) = p.email.split_once('@').unwrap_or((&p.email, ""));
                            let local: Vec<String> = local.split('.').map(capitalize).collect();
                            Some(format!("{}@{domain}", local.join(".")))
                        }
                        _ => Some(p.email.clone()),
                    };
                    Learner {
                        user_id: p.employee_no.clone(),
                        id: 5_000_000 + i,
                        guid: guid(seed, i, 4),
                        first: capitalize(&p.given_pinyin),
                        last: capitalize(&p.family_pinyin),
                        email,
                        active: true,
                    }
                })
                .collect(),
            None => (0..options.learners as u64)
                .map(|i| Learner {
                    user_id: format!("EMP-{:05}", i + 1),
                    id: 5_000_000 + i,
                    guid: guid(seed, i, 4),
                    first: FIRST[(i % 8) as usize].into(),
                    last: LAST[((i / 8) % 8) as usize].into(),
                    email: Some(format!("learner{}@acme.example", i + 1)),
                    active: true,
                })
                .collect(),
        };
        let outsiders = match &options.company {
            Some(company) => company.outsiders(options.outsiders),
            None => Company::generate(seed, options.learners).outsiders(options.outsiders),
        };
        for o in outsiders {
            let i = o.index as u64;
            learners.push(Learner {
                user_id: o.user_id,
                id: 5_000_000 + i,
                guid: guid(seed, i, 4),
                first: capitalize(&o.given_pinyin),
                last: capitalize(&o.family_pinyin),
                email: Some(o.email),
                active: true,
            });
        }
        let lo_ids = (0..COURSES.len() as u64)
            .map(|c| guid(seed, c, 50))
            .collect();
        let per = options.transcripts_per_learner.min(COURSES.len());
        let mut transcripts = Vec::new();
        for (li, _) in learners.iter().enumerate() {
            let l = li as u64;
            let offset = mix(seed, l, 1) as usize % COURSES.len();
            for j in 0..per {
                let course = (offset + j * 5) % COURSES.len();
                let k = l * 16 + j as u64;
                let is_test = COURSES[course].1 == "Test";
                let roll = mix(seed, k, 2) % 100;
                let status = match (is_test, roll) {
                    (true, 0..=54) | (false, 0..=59) => "Completed",
                    (true, 55..=69) => "Failed",
                    (true, 70..=84) | (false, 60..=79) => "In Progress",
                    (true, 85..=94) | (false, 80..=91) => "Registered",
                    _ => "Withdrawn",
                };
                let registered = end - (mix(seed, k, 3) % span) as i64;
                let completed = matches!(status, "Completed" | "Failed").then(|| {
                    (registered + 3_600 + (mix(seed, k, 4) % (10 * DAY as u64)) as i64).min(end)
                });
                let score = match (status, is_test) {
                    ("Completed", true) => Some(60.0 + (mix(seed, k, 5) % 41) as f64),
                    ("Failed", true) => Some(20.0 + (mix(seed, k, 5) % 40) as f64),
                    ("Completed", false)
                        if COURSES[course].1 == "Online Class" && mix(seed, k, 6) % 2 == 0 =>
                    {
                        Some((70.0 + (mix(seed, k, 5) % 31) as f64 - 0.5).max(70.0))
                    }
                    _ => None,
                };
                let modified = completed.unwrap_or_else(|| {
                    (registered + (mix(seed, k, 7) % (2 * DAY as u64)) as i64).min(end)
                });
                if course == 0 && li % 10 == 3 {
                    // last year's completion, archived when this year's was assigned
                    let done = registered - 300 * DAY;
                    transcripts.push(Transcript {
                        learner: li,
                        course,
                        status: "Completed",
                        completed: Some(done),
                        score: Some(90.0),
                        archived: true,
                        modified: registered,
                    });
                }
                transcripts.push(Transcript {
                    learner: li,
                    course,
                    status,
                    completed,
                    score,
                    archived: false,
                    modified,
                });
            }
        }
        let order = transcripts
            .iter()
            .enumerate()
            .map(|(i, t)| (t.modified, i))
            .collect();
        MockState {
            options,
            now,
            learners,
            lo_ids,
            transcripts,
            order,
            tokens: HashMap::new(),
            token_counter: 0,
            reject_tokens: false,
            fail: (0, 0),
            throttle: (0, 0),
            window: Window {
                per_minute: None,
                start: Instant::now(),
                count: 0,
            },
            log: Vec::new(),
        }
    }

    fn key(&self, i: usize) -> String {
        let t = &self.transcripts[i];
        format!(
            "{}:{}",
            self.learners[t.learner].user_id, self.lo_ids[t.course]
        )
    }

    fn complete(&mut self, n: usize) -> Vec<String> {
        let now = Utc::now().timestamp().max(self.now);
        let open: Vec<usize> = (0..self.transcripts.len())
            .filter(|&i| {
                let t = &self.transcripts[i];
                !t.archived && matches!(t.status, "In Progress" | "Registered")
            })
            .take(n)
            .collect();
        for &i in &open {
            let t = &mut self.transcripts[i];
            self.order.remove(&(t.modified, i));
            t.status = "Completed";
            t.completed = Some(now);
            if COURSES[t.course].1 == "Test" {
                t.score = Some(95.0);
            }
            t.modified = now;
            self.order.insert((now, i));
        }
        open.iter().map(|&i| self.key(i)).collect()
    }

    fn transcript_json(&self, i: usize) -> Value {
        let t = &self.transcripts[i];
        let (title, lo_type) = COURSES[t.course];
        let score = t.score.map(|s| {
            if s.fract() == 0.0 {
                json!(s as i64)
            } else {
                json!(s)
            }
        });
        json!({
            "userId": self.learners[t.learner].user_id,
            "loId": self.lo_ids[t.course],
            "title": title,
            "loType": lo_type,
            "status": t.status,
            "completionDate": t.completed.map(iso),
            "score": score,
            "isArchived": t.archived,
            "lastModifiedDate": iso(t.modified),
        })
    }

    fn employee_json(&self, l: &Learner) -> Value {
        json!({
            "id": l.id,
            "externalId": l.user_id,
            "userName": format!("{}.{}", l.first.to_lowercase(), l.last.to_lowercase()),
            "guid": l.guid,
            "firstName": l.first,
            "lastName": l.last,
            "primaryEmail": l.email,
            "workPhone": Value::Null,
        })
    }
}

// ---------------------------------------------------------------------------
// HTTP

type Shared = Arc<Mutex<MockState>>;

fn json_response(status: StatusCode, body: &Value) -> Response {
    Response::builder()
        .status(status)
        .header(header::CONTENT_TYPE, "application/json; charset=utf-8")
        .body(Body::from(body.to_string()))
        .expect("valid response")
}

fn api_error(status: StatusCode, message: &str) -> Response {
    json_response(
        status,
        &json!({"status": status.as_u16(), "error": {"message": message}}),
    )
}

fn oauth_error(status: StatusCode, error: &str, description: &str) -> Response {
    json_response(
        status,
        &json!({"error": error, "error_description": description}),
    )
}

/// A request time: RFC 3339, or zone-less (UTC).
fn parse_time(s: &str) -> Option<i64> {
    DateTime::parse_from_rfc3339(s.trim())
        .map(|t| t.timestamp())
        .ok()
        .or_else(|| {
            NaiveDateTime::parse_from_str(s.trim(), "%Y-%m-%dT%H:%M:%S%.f")
                .ok()
                .map(|t| t.and_utc().timestamp())
        })
}

async fn handle(State(shared): State<Shared>, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    let body = axum::body::to_bytes(body, 1 << 20)
        .await
        .unwrap_or_default();
    let path = parts.uri.path().to_string();
    let query: HashMap<String, String> =
        url::form_urlencoded::parse(parts.uri.query().unwrap_or("").as_bytes())
            .into_owned()
            .collect();
    let content_type = parts
        .headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let body_keys = match serde_json::from_slice::<Value>(&body) {
        Ok(Value::Object(map)) => map.keys().cloned().collect(),
        _ => Vec::new(),
    };

    let mut state = shared.lock().unwrap_or_else(|e| e.into_inner());
    let response = if path == TOKEN_PATH {
        if parts.method == Method::POST {
            state.token_endpoint(content_type.as_deref(), &body)
        } else {
            api_error(StatusCode::METHOD_NOT_ALLOWED, "use POST")
        }
    } else {
        state.api(&parts.method, &parts.headers, &path, &query)
    };
    state.log.push(LoggedRequest {
        method: parts.method.to_string(),
        path,
        query: parts.uri.query().map(str::to_string),
        content_type,
        body_keys,
        status: response.status().as_u16(),
        at: Instant::now(),
    });
    response
}

impl MockState {
    fn token_endpoint(&mut self, content_type: Option<&str>, body: &[u8]) -> Response {
        if !content_type.is_some_and(|c| c.contains("json")) {
            return oauth_error(
                StatusCode::BAD_REQUEST,
                "invalid_request",
                "The request body must be JSON: {\"clientId\", \"clientSecret\", \"grantType\", \"scope\"}",
            );
        }
        let Ok(Value::Object(params)) = serde_json::from_slice::<Value>(body) else {
            return oauth_error(
                StatusCode::BAD_REQUEST,
                "invalid_request",
                "Malformed JSON body",
            );
        };
        let get = |k: &str| params.get(k).and_then(Value::as_str).unwrap_or("");
        if get("clientId") != self.options.client_id
            || get("clientSecret") != self.options.client_secret
        {
            return oauth_error(
                StatusCode::UNAUTHORIZED,
                "invalid_client",
                "Client authentication failed",
            );
        }
        if get("grantType") != "client_credentials" {
            return oauth_error(
                StatusCode::BAD_REQUEST,
                "unsupported_grant_type",
                "Only client_credentials is supported",
            );
        }
        let requested: Vec<String> = match get("scope").split_whitespace().collect::<Vec<_>>() {
            s if s.is_empty() => self.options.scopes.clone(),
            s => s.into_iter().map(str::to_string).collect(),
        };
        if let Some(bad) = requested.iter().find(|s| !self.options.scopes.contains(s)) {
            return oauth_error(
                StatusCode::BAD_REQUEST,
                "invalid_scope",
                &format!("The application is not granted the scope {bad}"),
            );
        }
        self.token_counter += 1;
        let token = format!("mock-csod-at-{}", self.token_counter);
        let life = self.options.token_expires_in;
        self.tokens.insert(
            token.clone(),
            (
                Instant::now() + Duration::from_secs(life),
                requested.clone(),
            ),
        );
        json_response(
            StatusCode::OK,
            &json!({"access_token": token, "expires_in": life, "scope": requested.join(" "), "token_type": "Bearer"}),
        )
    }

    fn too_many(&self, retry_after: u64) -> Response {
        Response::builder()
            .status(StatusCode::TOO_MANY_REQUESTS)
            .header(header::RETRY_AFTER, retry_after)
            .header(header::CONTENT_TYPE, "application/json")
            .body(Body::from(
                json!({"status": 429, "error": {"message": "API rate limit exceeded"}}).to_string(),
            ))
            .expect("valid response")
    }

    fn api(
        &mut self,
        method: &Method,
        headers: &HeaderMap,
        path: &str,
        query: &HashMap<String, String>,
    ) -> Response {
        if self.fail.0 > 0 {
            self.fail.0 -= 1;
            let status =
                StatusCode::from_u16(self.fail.1).unwrap_or(StatusCode::SERVICE_UNAVAILABLE);
            return api_error(status, "Injected failure (mock fail_next)");
        }
        if self.throttle.0 > 0 {
            self.throttle.0 -= 1;
            return self.too_many(self.throttle.1);
        }
        if self.window.start.elapsed() >= Duration::from_secs(60) {
            self.window.start = Instant::now();
            self.window.count = 0;
        }
        if let Some(limit) = self.window.per_minute {
            if self.window.count >= limit {
                let left = Duration::from_secs(60).saturating_sub(self.window.start.elapsed());
                return self.too_many(left.as_secs().max(1));
            }
        }
        self.window.count += 1;

        let bearer = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .map(str::trim);
        let scopes = match bearer.and_then(|t| self.tokens.get(t)) {
            Some((expiry, scopes)) if Instant::now() < *expiry && !self.reject_tokens => {
                scopes.clone()
            }
            _ => return api_error(StatusCode::UNAUTHORIZED, "Invalid or expired access token"),
        };
        if method != Method::GET {
            return api_error(StatusCode::METHOD_NOT_ALLOWED, "The mock only serves GET");
        }
        let needs = |scope: &str| -> Option<Response> {
            (!scopes.iter().any(|s| s == scope)).then(|| {
                api_error(
                    StatusCode::FORBIDDEN,
                    &format!("The access token does not have the scope {scope}"),
                )
            })
        };
        if path == self.options.search_path {
            if let Some(denied) = needs("transcript:read") {
                return denied;
            }
            self.search(query)
        } else if path == EMPLOYEES_PATH {
            if let Some(denied) = needs("employee:read") {
                return denied;
            }
            self.employees(query)
        } else {
            api_error(StatusCode::NOT_FOUND, "Resource not found")
        }
    }

    /// Transcript Search.
    fn search(&self, query: &HashMap<String, String>) -> Response {
        let time = |k: &str| -> Result<Option<i64>, String> {
            match query.get(k) {
                None => Ok(None),
                Some(v) => parse_time(v)
                    .map(Some)
                    .ok_or_else(|| format!("{k} is not a valid date/time")),
            }
        };
        let (start, end) = match (time("ModificationStartDate"), time("ModificationEndDate")) {
            (Err(m), _) | (_, Err(m)) => return api_error(StatusCode::BAD_REQUEST, &m),
            (Ok(s), Ok(e)) => (s, e),
        };
        let now = Utc::now().timestamp();
        let (start, end) = match (start, end) {
            (Some(s), Some(e)) => (s, e),
            (Some(s), None) => (s, s + DAY),
            (None, Some(e)) => (e - DAY, e),
            (None, None) => (now - DAY, now),
        };
        if end < start {
            return api_error(
                StatusCode::BAD_REQUEST,
                "ModificationEndDate must not be before ModificationStartDate",
            );
        }
        if end - start > DAY {
            return api_error(
                StatusCode::BAD_REQUEST,
                "The time range between ModificationStartDate and ModificationEndDate cannot exceed 24 hours",
            );
        }
        let size = match query.get("pageSize").map(|p| p.parse::<usize>()) {
            None => 50,
            Some(Ok(n)) if (1..=50).contains(&n) => n,
            Some(_) => {
                return api_error(StatusCode::BAD_REQUEST, "pageSize must be between 1 and 50")
            }
        };
        let page = match query.get("pageNumber").map(|p| p.parse::<usize>()) {
            None => 1,
            Some(Ok(n)) if n >= 1 => n,
            Some(_) => return api_error(StatusCode::BAD_REQUEST, "pageNumber must be 1 or more"),
        };
        let data: Vec<Value> = self
            .order
            .range((start, 0)..=(end, usize::MAX))
            .filter(|&&(_, i)| self.learners[self.transcripts[i].learner].active)
            .skip((page - 1) * size)
            .take(size)
            .map(|&(_, i)| self.transcript_json(i))
            .collect();
        json_response(
            StatusCode::OK,
            &json!({"data": data, "pageNumber": page, "pageSize": size}),
        )
    }

    /// Employee API v2: `externalId` filter, else the first `pageSize`.
    fn employees(&self, query: &HashMap<String, String>) -> Response {
        let list: Vec<Value> = match query.get("externalId") {
            Some(id) => self
                .learners
                .iter()
                .filter(|l| l.user_id.eq_ignore_ascii_case(id))
                .map(|l| self.employee_json(l))
                .collect(),
            None => {
                let size = query
                    .get("pageSize")
                    .and_then(|p| p.parse::<usize>().ok())
                    .unwrap_or(50)
                    .clamp(1, 1000);
                self.learners
                    .iter()
                    .take(size)
                    .map(|l| self.employee_json(l))
                    .collect()
            }
        };
        json_response(StatusCode::OK, &Value::Array(list))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generation_is_deterministic_with_archived_history() {
        let opts = MockOptions {
            now: Some(1_750_000_000),
            ..MockOptions::default()
        };
        let a = MockState::generate(opts.clone());
        let b = MockState::generate(opts);
        assert_eq!(a.transcripts.len(), b.transcripts.len());
        assert_eq!(a.transcript_json(17), b.transcript_json(17));
        assert!(a.transcripts.iter().any(|t| t.archived));
        assert!(a.transcripts.iter().all(|t| t.modified <= 1_750_000_000));
        for status in [
            "Completed",
            "Failed",
            "In Progress",
            "Registered",
            "Withdrawn",
        ] {
            assert!(a.transcripts.iter().any(|t| t.status == status), "{status}");
        }
        let scored = a.transcripts.iter().filter(|t| t.score.is_some()).count();
        assert!(scored > 10);
    }

    #[test]
    fn a_company_is_the_learners() {
        let company = Arc::new(Company::generate(5, 40));
        let s = MockState::generate(MockOptions {
            company: Some(company.clone()),
            ..MockOptions::default()
        });
        assert_eq!(s.learners.len(), 40);
        for (l, p) in s.learners.iter().zip(&company.people) {
            assert_eq!(l.user_id, p.employee_no);
            if let Some(e) = &l.email {
                assert_eq!(e.to_lowercase(), p.email);
            }
        }
    }
}
