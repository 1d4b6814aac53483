//! A DingTalk mock server for tests, `hrhub demo` and benchmarks.
//!
//! It serves both API generations over real HTTP on 127.0.0.1 as
//! `shared/reference/dingtalk.md` describes them (so the connector's
//! `base_url` and `api_base_url` both point at it):
//!
//! - tokens: `GET /gettoken`, `POST /v1.0/oauth2/accessToken`; the same
//!   token (with a renewed lifetime) while it is valid, a new one after
//!   expiry or invalidation; tokens of one generation are refused by the
//!   other; wrong credentials answer `40089` / `invalidClientIdOrSecret`;
//! - the three token-error shapes: classic (`40014`/`42001`/`41001`),
//!   topapi (`88` + `sub_code`) and v1.0 (HTTP 400 `InvalidAuthentication`),
//!   each on its own paths, or one forced everywhere
//!   ([`MockHandle::set_token_error_shape`]);
//! - `90018` when a path gets more calls in one (real) second than
//!   [`MockOptions::qps_limit`], plus injected `90018`/`90002`/IP-ban/busy
//!   answers ([`MockHandle::throttle_next`]) and HTTP failures;
//! - org data: `department/get`, `department/listsub` (direct children
//!   only), `user/list` (direct members, cursor paging, `size` ≤ 100),
//!   `user/get` (`60121` for leavers), `user/listid`,
//!   `/v1.0/contact/empLeaveRecords` (`maxResults` ≤ 50, `nextToken`);
//! - `/attendance/list`: ≤ 7-day windows, ≤ 50 users, `limit` ≤ 50, offset
//!   paging with `hasMore`, `NotSigned` rows included; late results
//!   ([`MockHandle::write_late_result`], [`MockHandle::release_pending`]).
//!
//! The company is deterministic for a seed: a 12-department tree, users
//! `0126NNNN` with 工号 `NNNNN` and e-mails shaped like the Zendesk mock's
//! agents (so the demo links the two systems), weekday attendance over
//! `history_days` before `today` (09:00–18:00, Asia/Shanghai). The missed
//! off-duty punches of the last work day are *pending*: DingTalk writes them
//! hours later, and so does the mock, on [`MockHandle::release_pending`].
//!
//! Push helpers build signed, encrypted deliveries ([`MockHandle::delivery`])
//! and deliver them over HTTP as DingTalk does ([`MockHandle::deliver`], or
//! [`MockHandle::emit`] to the app's callback URL,
//! [`MockHandle::set_callback_url`]): a reply that is not a valid encrypted
//! `success` within [`MockOptions::delivery_deadline`] fails the attempt;
//! failed attempts are retried after [`MockOptions::delivery_retry_delays`]
//! (DingTalk: 10 s, then 30 s); an event whose last retry fails goes on the
//! failed-push list, served by `GET /call_back/get_call_back_failed_result`
//! once [`MockOptions::failed_list_delay`] has passed on the mock's clock
//! (DingTalk: "within ~3–5 min"; [`MockHandle::advance`] skips ahead)
//! (token checked like every oapi call; at most
//! [`MockOptions::failed_list_page_size`] entries per call with `has_more`;
//! what is handed out is removed, as DingTalk does). Entries have the
//! list's own shape: `{"call_back_tag", "event_time", "<tag>": {body with
//! `userid`, `corpid`}, "corpid"}`, no `eventId`.

use crate::config::DingTalkWebhook;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{header, HeaderMap, Method, StatusCode};
use axum::response::Response;
use axum::Router;
use chrono::{
    DateTime, Datelike, Duration as Days, NaiveDate, SecondsFormat, TimeZone, Utc, Weekday,
};
use chrono_tz::Asia::Shanghai;
use hrhub_connector::callback_crypto::{random_nonce, CallbackCrypto};
use hrhub_connector::mock_server::MockServer;
use hrhub_connector::synthetic::mix;
use hrhub_connector::synthetic::{Company, Platform};
use hrhub_connector::PushRequest;
use serde_json::{json, Map, Value};
use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// What the mock organization holds and accepts.
#[derive(Debug, Clone)]
pub struct MockOptions {
    /// Same seed (and `today`), same data.
    pub seed: u64,
    /// Employees (userids `01260001`...).
    pub users: usize,
    /// Ex-employees in the leave records (left within the last weeks).
    pub leavers: usize,
    /// Attendance is generated for the weekdays of this many days before `today`.
    pub history_days: i64,
    /// The last day is `today − 1`; default: today in Asia/Shanghai.
    pub today: Option<NaiveDate>,
    pub app_key: String,
    pub app_secret: String,
    pub corp_id: String,
    /// Lifetime of issued tokens, seconds (DingTalk: 7200).
    pub token_expires_in: u64,
    /// Calls per second and path before `90018`; `None`: unlimited.
    pub qps_limit: Option<u32>,
    /// The HTTP push signing token and EncodingAESKey of the mock app.
    pub webhook_token: String,
    pub webhook_aes_key: String,
    /// Pauses between delivery attempts of [`MockHandle::deliver`]
    /// (DingTalk: 10 s, then 30 s).
    pub delivery_retry_delays: Vec<Duration>,
    /// How long an attempt waits for the reply (DingTalk documents 1.5 s
    /// for HTTP push); a later reply counts as a failed attempt.
    pub delivery_deadline: Duration,
    /// Entries per answer of the failed-push list (DingTalk: 200).
    pub failed_list_page_size: usize,
    /// How long after its last retry fails an event shows up on the
    /// failed-push list (DingTalk: within about 3–5 minutes, so the mock
    /// takes 3), measured on the mock's clock ([`MockHandle::advance`]).
    pub failed_list_delay: Duration,
    /// A synthetic company whose people are the employees, in company
    /// order: each person's DingTalk account (userid, name, `job_number`,
    /// `org_email`, `mobile` as the company renders them), placed in the
    /// department of the company's name (every 10th also in 质检组), with
    /// the company's title and hire date. `users` and `leavers` are then
    /// unused (no leave records); attendance is generated for these people
    /// as usual. `None`: the built-in users.
    pub company: Option<Arc<Company>>,
}

impl Default for MockOptions {
    fn default() -> Self {
        MockOptions {
            seed: 42,
            users: 60,
            leavers: 2,
            history_days: 30,
            today: None,
            app_key: "dingmockappkey0001".into(),
            app_secret: "mock-app-secret".into(),
            corp_id: "dingmockcorp0001".into(),
            token_expires_in: 7_200,
            qps_limit: Some(20),
            webhook_token: "mocktoken123".into(),
            webhook_aes_key: "4g5j64qlyl3zvetqxz5jiocdr586fn2zvjpa8zls3ij".into(),
            delivery_retry_delays: vec![Duration::from_secs(10), Duration::from_secs(30)],
            delivery_deadline: Duration::from_millis(1_500),
            failed_list_page_size: 200,
            failed_list_delay: Duration::from_secs(180),
            company: None,
        }
    }
}

/// One request as the mock saw it.
#[derive(Debug, Clone)]
pub struct LoggedRequest {
    pub method: String,
    pub path: String,
    /// The raw query string (old-generation calls carry the token here).
    pub query: Option<String>,
    /// The JSON (or form) body, if any.
    pub body: Value,
    /// The HTTP status answered.
    pub status: u16,
    /// The oapi `errcode` answered, when there was one.
    pub errcode: Option<i64>,
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

/// Which token-error shape to answer with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenErrorShape {
    /// `{"errcode":40014|42001|41001,"errmsg":...}` (classic oapi paths).
    Classic,
    /// `{"errcode":88,"sub_code":"40014",...}` (`/topapi/*`).
    Topapi,
    /// HTTP 400 `{"code":"InvalidAuthentication",...}` (`/v1.0/*`).
    V1,
}

/// An injected throttling answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Throttle {
    /// `90018` / v1.0 403 `QpsLimitForAppkeyAndApi`.
    AppQps,
    /// `90002` / v1.0 403 `QpsLimitForApi`.
    GlobalQps,
    /// `-1` system busy / v1.0 429 `system.busy`.
    Busy,
    /// The IP ban body `{"status":1111,"wait":N,"punish":"deny"}` (HTTP 200).
    IpBan { wait_minutes: u32 },
}

/// How a [`MockHandle::deliver`] went.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeliveryReport {
    /// Attempts made (1 + retries).
    pub attempts: usize,
    /// Whether an attempt got a valid encrypted `success`.
    pub accepted: bool,
    /// The HTTP status of each attempt (0: no answer).
    pub statuses: Vec<u16>,
}

/// Namespace of [`MockDingTalk::start`].
pub struct MockDingTalk;

impl MockDingTalk {
    /// Generates the organization and serves it on `127.0.0.1:<free port>`.
    pub async fn start(options: MockOptions) -> MockHandle {
        let state = Arc::new(Mutex::new(MockState::generate(options)));
        let app = Router::new().fallback(handle).with_state(state.clone());
        let server = MockServer::start("DingTalk", app).await;
        MockHandle { server, state }
    }
}

/// A running mock: its URL and its controls. Stops on drop.
pub struct MockHandle {
    server: MockServer,
    state: Arc<Mutex<MockState>>,
}

// ---------------------------------------------------------------------------
// Data

const FIRST: [&str; 16] = [
    "wei", "anna", "james", "fang", "maria", "chen", "olivia", "lei", "noah", "yan", "sofia",
    "jun", "liam", "mei", "ethan", "xin",
];
const LAST: [&str; 16] = [
    "li", "smith", "wang", "garcia", "zhang", "brown", "liu", "jones", "chen", "miller", "yang",
    "davis", "zhao", "wilson", "huang", "moore",
];
/// (id, name, parent, title of its members)
const DEPARTMENTS: [(i64, &str, Option<i64>, &str); 12] = [
    (1, "Acme 科技", None, "总经理"),
    (37_000_100, "客服中心", Some(1), "客服主管"),
    (37_000_101, "一线客服", Some(37_000_100), "客服专员"),
    (37_000_102, "二线客服", Some(37_000_100), "技术支持"),
    (37_000_103, "质检组", Some(37_000_100), "质检专员"),
    (37_000_200, "研发部", Some(1), "工程师"),
    (37_000_201, "后端组", Some(37_000_200), "后端工程师"),
    (37_000_202, "前端组", Some(37_000_200), "前端工程师"),
    (37_000_300, "销售部", Some(1), "销售经理"),
    (37_000_301, "华东大区", Some(37_000_300), "销售代表"),
    (37_000_400, "人力资源部", Some(1), "HRBP"),
    (37_000_500, "财务部", Some(1), "会计"),
];
/// Where users go, by `i % len` (tier-1 support twice: it is the biggest team).
const MEMBER_DEPTS: [i64; 9] = [
    37_000_101, 37_000_102, 37_000_101, 37_000_103, 37_000_201, 37_000_202, 37_000_301, 37_000_400,
    37_000_500,
];
const QA_DEPT: i64 = 37_000_103;
const GROUP_ID: i64 = 685_935_028;
const ROW_ID_BASE: i64 = 100_068_000_000;

fn capitalize(s: &str) -> String {
    let mut c = s.chars();
    c.next()
        .map(|f| f.to_uppercase().chain(c).collect())
        .unwrap_or_default()
}

fn local_ms(date: NaiveDate, hour: u32, minute: i64) -> i64 {
    let midnight = Shanghai
        .from_local_datetime(&date.and_hms_opt(0, 0, 0).expect("midnight"))
        .single()
        .expect("Shanghai has no DST today")
        .timestamp_millis();
    midnight + (i64::from(hour) * 60 + minute) * 60_000
}

fn midnight(date: NaiveDate) -> i64 {
    local_ms(date, 0, 0)
}

#[derive(Debug, Clone)]
struct User {
    index: u64,
    userid: String,
    name: String,
    job_number: String,
    title: String,
    org_email: Option<String>,
    email: Option<String>,
    mobile: String,
    depts: Vec<i64>,
    hired_date: i64,
    active: bool,
    leader: bool,
}

#[derive(Debug, Clone)]
struct Leaver {
    userid: String,
    name: String,
    mobile: String,
    leave_time: i64,
    reason: &'static str,
}

#[derive(Debug, Clone)]
struct Row {
    id: i64,
    record_id: Option<i64>,
    userid: String,
    date: NaiveDate,
    on_duty: bool,
    time_result: String,
    location_result: String,
    base: i64,
    checked: i64,
    source_type: String,
    plan_id: i64,
    /// Not yet written by the platform (a late result).
    visible: bool,
}

impl Row {
    fn json(&self) -> Value {
        let mut v = json!({
            "id": self.id,
            "userId": self.userid,
            "workDate": midnight(self.date),
            "checkType": if self.on_duty { "OnDuty" } else { "OffDuty" },
            "timeResult": self.time_result,
            "locationResult": self.location_result,
            "baseCheckTime": self.base,
            "userCheckTime": self.checked,
            "sourceType": self.source_type,
            "groupId": GROUP_ID,
            "planId": self.plan_id,
        });
        if let Some(r) = self.record_id {
            v["recordId"] = json!(r);
        }
        v
    }
}

#[derive(Debug, Clone)]
struct Token {
    new_generation: bool,
    /// Virtual Unix seconds.
    expires: i64,
}

struct MockState {
    options: MockOptions,
    today: NaiveDate,
    clock_offset: i64,
    users: Vec<User>,
    leavers: Vec<Leaver>,
    /// (userid, date, on_duty as 0/1) -> row
    rows: BTreeMap<(String, NaiveDate, u8), Row>,
    next_row_id: i64,
    tokens: HashMap<String, Token>,
    current: [Option<String>; 2],
    token_counter: u64,
    reject_tokens: bool,
    token_shape: Option<TokenErrorShape>,
    qps: HashMap<String, (u64, u32)>,
    throttle: (u32, Option<Throttle>),
    fail: (u32, u16),
    errcode: (u32, i64),
    log: Vec<LoggedRequest>,
    event_counter: u64,
    /// The app's registered push URL ([`MockHandle::emit`]).
    callback_url: Option<String>,
    /// The failed-push list, oldest first: when each entry is listed
    /// (mock-clock ms) and the entry.
    failed: VecDeque<(i64, Value)>,
}

impl MockState {
    fn generate(options: MockOptions) -> Self {
        let seed = options.seed;
        let today = options
            .today
            .unwrap_or_else(|| Utc::now().with_timezone(&Shanghai).date_naive());
        let mut users = Vec::with_capacity(options.users);
        if let Some(company) = &options.company {
            users.extend(
                company
                    .accounts(Platform::DingTalk)
                    .iter()
                    .map(|a| Self::company_user(company, a.person)),
            );
        } else {
            for i in 1..=options.users as u64 {
                users.push(Self::make_user(seed, i, today));
            }
        }
        let leavers = if options.company.is_some() {
            0
        } else {
            options.leavers
        };
        let leavers = (0..leavers as u64)
            .map(|k| {
                let u = Self::make_user(seed, options.users as u64 + 1 + k, today);
                Leaver {
                    userid: u.userid,
                    name: u.name,
                    mobile: u.mobile,
                    leave_time: (Utc::now() - Days::days(2 + 3 * k as i64)).timestamp_millis()
                        / 1000
                        * 1000,
                    reason: "leave",
                }
            })
            .collect();
        let mut state = MockState {
            today,
            clock_offset: 0,
            users,
            leavers,
            rows: BTreeMap::new(),
            next_row_id: ROW_ID_BASE,
            tokens: HashMap::new(),
            current: [None, None],
            token_counter: 0,
            reject_tokens: false,
            token_shape: None,
            qps: HashMap::new(),
            throttle: (0, None),
            fail: (0, 0),
            errcode: (0, 0),
            log: Vec::new(),
            event_counter: 0,
            callback_url: None,
            failed: VecDeque::new(),
            options,
        };
        state.generate_attendance();
        state
    }

    fn make_user(seed: u64, i: u64, today: NaiveDate) -> User {
        let (f, l) = (
            FIRST[(i as usize - 1) % 16],
            LAST[((i as usize - 1) / 16) % 16],
        );
        let suffix = if i > 256 {
            i.to_string()
        } else {
            String::new()
        };
        let mut depts = if i == 1 {
            vec![1]
        } else {
            vec![MEMBER_DEPTS[(i as usize) % MEMBER_DEPTS.len()]]
        };
        // every 10th is also a QA reviewer: listed in two departments
        if i % 10 == 0 && depts[0] != QA_DEPT {
            depts.push(QA_DEPT);
        }
        let title = DEPARTMENTS
            .iter()
            .find(|d| d.0 == depts[0])
            .map_or("员工", |d| d.3)
            .to_string();
        // a few recent hires (probation), the rest over four years
        let days_ago = if i % 12 == 0 {
            45
        } else {
            60 + (mix(seed, i, 1) % 1_400) as i64
        };
        User {
            index: i,
            userid: format!("0126{i:04}"),
            name: format!("{} {}", capitalize(l), capitalize(f)),
            job_number: if i % 25 == 0 {
                String::new()
            } else {
                format!("{i:05}")
            },
            title,
            org_email: (i % 9 != 0).then(|| format!("{f}.{l}{suffix}@acme.example")),
            email: (i % 4 == 0).then(|| format!("{f}{l}{i}@mail.example")),
            mobile: format!("138{:08}", 1_000 + i),
            depts,
            hired_date: midnight(today - Days::days(days_ago)),
            active: i % 11 != 0,
            leader: false,
        }
    }

    /// Person `person` of `company`, as DingTalk holds them.
    fn company_user(company: &Company, person: usize) -> User {
        let p = &company.people[person];
        let a = company.account(Platform::DingTalk, person);
        let i = person as u64 + 1;
        let primary = DEPARTMENTS
            .iter()
            .find(|d| d.1 == p.department)
            .map_or(MEMBER_DEPTS[person % MEMBER_DEPTS.len()], |d| d.0);
        let mut depts = vec![primary];
        if i % 10 == 0 && primary != QA_DEPT {
            depts.push(QA_DEPT);
        }
        User {
            index: i,
            userid: a.id.clone(),
            name: a.name.clone(),
            job_number: a.employee_no.clone().unwrap_or_default(),
            title: p.title.clone(),
            org_email: a.email.clone(),
            email: None,
            mobile: a.mobile.clone().unwrap_or_default(),
            depts,
            hired_date: midnight(p.hire_date),
            active: i % 11 != 0,
            leader: false,
        }
    }

    fn generate_attendance(&mut self) {
        let seed = self.options.seed;
        let first = self.today - Days::days(self.options.history_days.max(0));
        let last = self.today - Days::days(1);
        let users: Vec<(u64, String)> = self
            .users
            .iter()
            .map(|u| (u.index, u.userid.clone()))
            .collect();
        let mut last_workday = last;
        while matches!(last_workday.weekday(), Weekday::Sat | Weekday::Sun) {
            last_workday -= Days::days(1);
        }
        let mut date = first;
        let mut day = 0u64;
        while date <= last {
            if !matches!(date.weekday(), Weekday::Sat | Weekday::Sun) {
                for (index, userid) in &users {
                    for on_duty in [true, false] {
                        let salt = day * 2 + u64::from(on_duty);
                        let roll = mix(seed, *index, 100 + salt) % 1000;
                        let jitter = (mix(seed, *index, 5_000 + salt) % 1000) as i64;
                        let (result, minute) = if on_duty {
                            match roll {
                                0..=39 => ("Late", 5 + jitter % 26),
                                40..=54 => ("SeriousLate", 35 + jitter % 56),
                                55..=59 => ("Absenteeism", 240 + jitter % 60),
                                60..=79 => ("NotSigned", 0),
                                _ => ("Normal", -(1 + jitter % 20)),
                            }
                        } else {
                            match roll {
                                0..=39 => ("Early", -(5 + jitter % 56)),
                                40..=69 => ("NotSigned", 0),
                                _ => ("Normal", jitter % 91),
                            }
                        };
                        let outside = mix(seed, *index, 9_000 + salt) % 100 < 3;
                        let visible = !(date == last_workday && !on_duty && result == "NotSigned");
                        let row = self.new_row(userid, date, on_duty, result, minute, outside);
                        self.insert_row(Row { visible, ..row });
                    }
                }
            }
            date += Days::days(1);
            day += 1;
        }
    }

    fn new_row(
        &mut self,
        userid: &str,
        date: NaiveDate,
        on_duty: bool,
        result: &str,
        minute: i64,
        outside: bool,
    ) -> Row {
        let id = self.next_row_id;
        self.next_row_id += 1;
        let base = local_ms(date, if on_duty { 9 } else { 18 }, 0);
        let signed = result != "NotSigned";
        Row {
            id,
            record_id: signed.then_some(id - ROW_ID_BASE + 42_833_000_000),
            userid: userid.to_string(),
            date,
            on_duty,
            time_result: result.to_string(),
            location_result: if !signed {
                "NotSigned"
            } else if outside {
                "Outside"
            } else {
                "Normal"
            }
            .to_string(),
            base,
            checked: base + minute * 60_000,
            source_type: if !signed {
                "SYSTEM"
            } else if id % 3 == 0 {
                "ATM"
            } else {
                "USER"
            }
            .to_string(),
            plan_id: 145_583_000_000 + id % 1_000_000,
            visible: true,
        }
    }

    fn insert_row(&mut self, row: Row) {
        self.rows
            .insert((row.userid.clone(), row.date, u8::from(row.on_duty)), row);
    }

    fn now(&self) -> i64 {
        Utc::now().timestamp() + self.clock_offset
    }

    /// [`Self::now`] in milliseconds, as event times are.
    fn now_ms(&self) -> i64 {
        Utc::now().timestamp_millis() + self.clock_offset * 1000
    }

    fn dept(&self, id: i64) -> Option<&(i64, &'static str, Option<i64>, &'static str)> {
        DEPARTMENTS.iter().find(|d| d.0 == id)
    }

    fn members(&self, dept: i64) -> Vec<&User> {
        self.users
            .iter()
            .filter(|u| u.depts.contains(&dept))
            .collect()
    }

    fn user_json(&self, u: &User, dept: Option<i64>) -> Value {
        let order = dept
            .and_then(|d| self.members(d).iter().position(|m| m.userid == u.userid))
            .unwrap_or(0);
        let mut v = json!({
            "userid": u.userid,
            "unionid": format!("{:x}", mix(self.options.seed, u.index, 77)),
            "name": u.name,
            "mobile": u.mobile,
            "state_code": "86",
            "job_number": u.job_number,
            "title": u.title,
            "dept_id_list": u.depts,
            "dept_order": order,
            "hired_date": u.hired_date,
            "active": u.active,
            "admin": u.index == 1,
            "boss": u.index == 1,
            "leader": u.leader,
            "exclusive_account": false,
            "telephone": "",
            "work_place": "杭州",
            "remark": "",
            "extension": "{\"工位\":\"A-1\"}",
            "avatar": "",
            "hide_mobile": false,
        });
        if let Some(e) = &u.org_email {
            v["org_email"] = json!(e);
        }
        if let Some(e) = &u.email {
            v["email"] = json!(e);
        }
        v
    }

    fn dept_json(&self, d: &(i64, &str, Option<i64>, &str)) -> Value {
        let mut v = json!({
            "dept_id": d.0,
            "name": d.1,
            "create_dept_group": true,
            "auto_add_user": true,
        });
        if let Some(p) = d.2 {
            v["parent_id"] = json!(p);
        }
        v
    }
}

// ---------------------------------------------------------------------------
// Controls

impl MockHandle {
    /// `http://127.0.0.1:<port>`: both `base_url` and `api_base_url`.
    pub fn base_url(&self) -> String {
        self.server.base_url().to_string()
    }

    fn state(&self) -> MutexGuard<'_, MockState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Stops serving and waits (briefly) for the server task to end.
    pub async fn shutdown(self) {
        self.server.shutdown().await;
    }

    pub fn options(&self) -> MockOptions {
        self.state().options.clone()
    }

    /// The mock's "today" (local, Asia/Shanghai): attendance ends the day before.
    pub fn today(&self) -> NaiveDate {
        self.state().today
    }

    /// Moves the token clock forward (expiry without waiting).
    pub fn advance(&self, secs: i64) {
        self.state().clock_offset += secs;
    }

    /// Lifetime of tokens issued (or renewed) from now on.
    pub fn set_token_expires_in(&self, secs: u64) {
        self.state().options.token_expires_in = secs;
    }

    /// Every issued token becomes invalid (as after a secret reset); the
    /// next token call issues a new one.
    pub fn invalidate_tokens(&self) {
        let mut s = self.state();
        s.tokens.clear();
        s.current = [None, None];
    }

    /// While true, every token is refused, even fresh ones.
    pub fn reject_tokens(&self, reject: bool) {
        self.state().reject_tokens = reject;
    }

    /// Answer token errors in this shape on every path (`None`: each path's own).
    pub fn set_token_error_shape(&self, shape: Option<TokenErrorShape>) {
        self.state().token_shape = shape;
    }

    /// Calls per second and path before `90018` (`None`: unlimited).
    pub fn set_qps_limit(&self, limit: Option<u32>) {
        self.state().options.qps_limit = limit;
    }

    /// The next `n` API calls (not token calls) get `throttle`.
    pub fn throttle_next(&self, n: u32, throttle: Throttle) {
        self.state().throttle = (n, Some(throttle));
    }

    /// The next `n` API calls answer HTTP `status` with a plain body.
    pub fn fail_next(&self, n: u32, status: u16) {
        self.state().fail = (n, status);
    }

    /// The next `n` old-generation API calls answer `errcode` (e.g. 60011
    /// "no permission", 60020 "IP not whitelisted") on HTTP 200.
    pub fn errcode_next(&self, n: u32, errcode: i64) {
        self.state().errcode = (n, errcode);
    }

    /// Every request so far, in arrival order.
    pub fn requests(&self) -> Vec<LoggedRequest> {
        self.state().log.clone()
    }

    pub fn clear_requests(&self) {
        self.state().log.clear();
    }

    /// Requests to `path` so far.
    pub fn calls_to(&self, path: &str) -> usize {
        self.state().log.iter().filter(|r| r.path == path).count()
    }

    /// Current employees' userids, sorted.
    pub fn user_ids(&self) -> Vec<String> {
        let mut ids: Vec<String> = self
            .state()
            .users
            .iter()
            .map(|u| u.userid.clone())
            .collect();
        ids.sort();
        ids
    }

    /// Department ids, breadth-first as the tree is defined.
    pub fn department_ids(&self) -> Vec<i64> {
        DEPARTMENTS.iter().map(|d| d.0).collect()
    }

    /// Users listed in more than one department.
    pub fn multi_department_users(&self) -> Vec<String> {
        self.state()
            .users
            .iter()
            .filter(|u| u.depts.len() > 1)
            .map(|u| u.userid.clone())
            .collect()
    }

    /// Ids of the visible attendance rows with work dates in `[from, to]`.
    pub fn attendance_ids(&self, from: NaiveDate, to: NaiveDate) -> Vec<i64> {
        let mut ids: Vec<i64> = self
            .state()
            .rows
            .values()
            .filter(|r| r.visible && r.date >= from && r.date <= to)
            .map(|r| r.id)
            .collect();
        ids.sort_unstable();
        ids
    }

    /// How many rows of each `timeResult` are visible.
    pub fn attendance_results(&self) -> BTreeMap<String, usize> {
        let mut out = BTreeMap::new();
        for r in self.state().rows.values().filter(|r| r.visible) {
            *out.entry(r.time_result.clone()).or_default() += 1;
        }
        out
    }

    /// Writes the pending (late) results: the missed off-duty punches of the
    /// last day. Returns their ids.
    pub fn release_pending(&self) -> Vec<i64> {
        let mut s = self.state();
        let mut ids = Vec::new();
        for r in s.rows.values_mut().filter(|r| !r.visible) {
            r.visible = true;
            ids.push(r.id);
        }
        ids
    }

    /// Writes a result for a past work date as DingTalk does late: a new
    /// row when the point had none, else the row's result is changed in
    /// place (same id). Returns the row id.
    pub fn write_late_result(
        &self,
        userid: &str,
        date: NaiveDate,
        check_type: &str,
        time_result: &str,
    ) -> i64 {
        let mut s = self.state();
        let on_duty = check_type == "OnDuty";
        let key = (userid.to_string(), date, u8::from(on_duty));
        let minute = match time_result {
            "Late" => 17,
            "SeriousLate" => 50,
            "Absenteeism" => 250,
            "Early" => -30,
            _ => 0,
        };
        let fresh = s.new_row(userid, date, on_duty, time_result, minute, false);
        match s.rows.get_mut(&key) {
            Some(row) => {
                row.visible = true;
                row.time_result = fresh.time_result;
                row.location_result = fresh.location_result;
                row.checked = fresh.checked;
                row.record_id = fresh
                    .record_id
                    .map(|_| row.id - ROW_ID_BASE + 42_833_000_000);
                row.source_type = "BOSS".into();
                row.id
            }
            None => {
                let id = fresh.id;
                s.insert_row(fresh);
                id
            }
        }
    }

    /// Adds an employee to `dept` (a `user_add_org` would follow). Returns the userid.
    pub fn add_user(&self, dept: i64) -> String {
        let mut s = self.state();
        let index = 9_000 + s.users.len() as u64;
        let mut user = MockState::make_user(s.options.seed, index, s.today);
        user.depts = vec![dept];
        user.hired_date = midnight(s.today);
        let id = user.userid.clone();
        s.users.push(user);
        id
    }

    /// Changes a user's title (a `user_modify_org` would follow).
    pub fn set_title(&self, userid: &str, title: &str) -> bool {
        let mut s = self.state();
        match s.users.iter_mut().find(|u| u.userid == userid) {
            Some(u) => {
                u.title = title.to_string();
                true
            }
            None => false,
        }
    }

    /// The user leaves now: gone from departments and `user/get` (60121),
    /// listed in the leave records. False when there is no such user.
    pub fn remove_user(&self, userid: &str) -> bool {
        let mut s = self.state();
        let Some(pos) = s.users.iter().position(|u| u.userid == userid) else {
            return false;
        };
        let u = s.users.remove(pos);
        let leave_time = s.now() * 1000;
        s.leavers.push(Leaver {
            userid: u.userid,
            name: u.name,
            mobile: u.mobile,
            leave_time,
            reason: "leave",
        });
        true
    }

    /// Userids in the leave records.
    pub fn leaver_ids(&self) -> Vec<String> {
        self.state()
            .leavers
            .iter()
            .map(|l| l.userid.clone())
            .collect()
    }

    // --- push --------------------------------------------------------------

    /// The `[connector.webhook]` settings matching the mock app.
    pub fn webhook_config(&self) -> DingTalkWebhook {
        let s = self.state();
        DingTalkWebhook {
            token: s.options.webhook_token.clone(),
            aes_key: s.options.webhook_aes_key.clone(),
            app_key: None,
            max_age_secs: None,
        }
    }

    fn crypto(&self) -> CallbackCrypto {
        let s = self.state();
        CallbackCrypto::new(
            &s.options.webhook_token,
            &s.options.webhook_aes_key,
            &s.options.app_key,
        )
        .expect("the mock's webhook settings are valid")
    }

    /// A business event as DingTalk's HTTP push sends it (decrypted form),
    /// with a fresh `eventId`; `fields` are merged in at top level.
    pub fn event(&self, event_type: &str, fields: Value) -> Value {
        let mut s = self.state();
        s.event_counter += 1;
        let now_ms = s.now_ms();
        let mut event = json!({
            "EventType": event_type,
            "EventTime": now_ms,
            "CorpId": s.options.corp_id,
            "BizId": format!("{now_ms}{:03}", s.event_counter),
            "eventId": format!("{:032x}", mix(s.options.seed, s.event_counter, 99) as u128 * 7919),
        });
        if let (Value::Object(e), Value::Object(f)) = (&mut event, fields) {
            e.extend(f);
        }
        event
    }

    /// `user_add_org` / `user_modify_org` / `user_leave_org` / ... for `userids`.
    pub fn user_event(&self, event_type: &str, userids: &[&str]) -> Value {
        let ts = (self.state().now() * 1000).to_string();
        self.event(event_type, json!({"userId": userids, "timeStamp": ts}))
    }

    /// `attendance_check_record` for one punch at `check_time_ms`.
    pub fn punch_event(&self, userid: &str, check_time_ms: i64) -> Value {
        let corp = self.state().options.corp_id.clone();
        self.event(
            "attendance_check_record",
            json!({"dataList": [{
                "address": "杭州市余杭区", "corpId": corp, "checkTime": check_time_ms,
                "locationResult": "Normal", "groupId": "4C63A0B1", "latitude": 30.2852308,
                "bizId": "FF62A0B1", "locationMethod": "MAP", "userId": userid,
                "deviceSN": "160A6KN0294", "checkByUser": true, "longitude": 120.0171351
            }]}),
        )
    }

    /// A signed, encrypted delivery of `event` stamped now (milliseconds, as
    /// DingTalk often sends), with a random nonce.
    pub fn delivery(&self, event: &Value) -> PushRequest {
        let ts = (self.state().now() * 1000).to_string();
        self.delivery_at(event, &ts, &random_nonce())
    }

    /// A signed, encrypted delivery with the given timestamp and nonce.
    pub fn delivery_at(&self, event: &Value, timestamp: &str, nonce: &str) -> PushRequest {
        signed_delivery(
            &self.crypto(),
            event.to_string().as_bytes(),
            timestamp,
            nonce,
        )
    }

    /// The app's push URL, as registered in the developer console: where
    /// [`Self::emit`] delivers.
    pub fn set_callback_url(&self, url: &str) {
        self.state().callback_url = Some(url.to_string());
    }

    /// Pushes `event` to the callback URL like [`Self::deliver`]; without
    /// a callback URL the event goes straight to the failed-push list.
    pub async fn emit(&self, event: &Value) -> DeliveryReport {
        let url = self.state().callback_url.clone();
        match url {
            Some(url) => self.deliver(&url, event).await,
            None => {
                self.fail_delivery(event);
                DeliveryReport {
                    attempts: 0,
                    accepted: false,
                    statuses: Vec::new(),
                }
            }
        }
    }

    /// What DingTalk keeps of the events it failed to push, listed yet or
    /// not ([`MockOptions::failed_list_delay`]), oldest first.
    pub fn failed_events(&self) -> Vec<Value> {
        self.state().failed.iter().map(|(_, e)| e.clone()).collect()
    }

    /// Puts `event` on the failed-push list in the list's shape.
    fn fail_delivery(&self, event: &Value) {
        let mut s = self.state();
        let entry = failed_entry(event, &s.options.corp_id);
        if let Some(entry) = entry {
            let listed_at = s.now_ms() + s.options.failed_list_delay.as_millis() as i64;
            s.failed.push_back((listed_at, entry));
        }
    }

    /// POSTs `event` to `url` as DingTalk does, retrying after
    /// [`MockOptions::delivery_retry_delays`] until the reply is a valid
    /// encrypted `success` within [`MockOptions::delivery_deadline`]. When
    /// the last attempt fails, the event goes on the failed-push list.
    pub async fn deliver(&self, url: &str, event: &Value) -> DeliveryReport {
        let crypto = self.crypto();
        let (delays, deadline) = {
            let s = self.state();
            (
                s.options.delivery_retry_delays.clone(),
                s.options.delivery_deadline,
            )
        };
        let http = reqwest::Client::builder()
            .timeout(deadline)
            .build()
            .expect("an HTTP client");
        let mut statuses = Vec::new();
        for attempt in 0..=delays.len() {
            if attempt > 0 {
                tokio::time::sleep(delays[attempt - 1]).await;
            }
            let request = self.delivery(event);
            let mut target = url::Url::parse(url).expect("a delivery URL");
            target
                .query_pairs_mut()
                .extend_pairs(request.query.iter().map(|(k, v)| (k.as_str(), v.as_str())));
            let answer = http
                .post(target)
                .header("content-type", "application/json")
                .body(request.body)
                .send()
                .await;
            let Ok(answer) = answer else {
                statuses.push(0);
                continue;
            };
            statuses.push(answer.status().as_u16());
            if answer.status().is_success() {
                let body: Value = answer.json().await.unwrap_or(Value::Null);
                if reply_is_success(&crypto, &body) {
                    return DeliveryReport {
                        attempts: attempt + 1,
                        accepted: true,
                        statuses,
                    };
                }
            }
        }
        self.fail_delivery(event);
        DeliveryReport {
            attempts: statuses.len(),
            accepted: false,
            statuses,
        }
    }

    /// Whether `reply` is a correctly signed, encrypted `success` for the mock app.
    pub fn reply_is_success(&self, reply: &Value) -> bool {
        reply_is_success(&self.crypto(), reply)
    }
}

/// A delivery of `plaintext` sealed and signed with `crypto`, as DingTalk
/// sends it: `POST ?msg_signature=&timestamp=&nonce=` with `{"encrypt": ...}`.
pub fn signed_delivery(
    crypto: &CallbackCrypto,
    plaintext: &[u8],
    timestamp: &str,
    nonce: &str,
) -> PushRequest {
    let encrypt = crypto.encrypt(plaintext);
    let signature = crypto.signature(timestamp, nonce, &encrypt);
    PushRequest {
        method: "POST".into(),
        query: HashMap::from([
            ("msg_signature".to_string(), signature),
            ("timestamp".to_string(), timestamp.to_string()),
            ("nonce".to_string(), nonce.to_string()),
        ]),
        headers: HashMap::from([("content-type".to_string(), "application/json".to_string())]),
        body: json!({ "encrypt": encrypt }).to_string().into_bytes(),
        received_at: Utc::now(),
    }
}

/// `event` (a push's decrypted body) as a failed-push list entry; `None`
/// for verification events, which DingTalk does not keep.
fn failed_entry(event: &Value, corp_id: &str) -> Option<Value> {
    let tag = event.get("EventType").and_then(Value::as_str)?;
    if tag.starts_with("check_") {
        return None;
    }
    let mut body = Map::new();
    for (key, value) in event.as_object()? {
        match key.as_str() {
            "EventType" | "EventTime" | "CorpId" | "BizId" | "eventId" => {}
            "userId" => {
                body.insert("userid".into(), value.clone());
            }
            _ => {
                body.insert(key.clone(), value.clone());
            }
        }
    }
    body.insert("corpid".into(), json!(corp_id));
    let mut entry = json!({
        "call_back_tag": tag,
        "event_time": event.get("EventTime").cloned().unwrap_or(Value::Null),
        "corpid": corp_id,
    });
    entry[tag] = Value::Object(body);
    Some(entry)
}

fn reply_is_success(crypto: &CallbackCrypto, reply: &Value) -> bool {
    let field = |k: &str| reply.get(k).and_then(Value::as_str).unwrap_or("");
    let (sig, ts, nonce, enc) = (
        field("msg_signature"),
        field("timeStamp"),
        field("nonce"),
        field("encrypt"),
    );
    crypto.verify(ts, nonce, enc, sig).is_ok() && crypto.decrypt(enc).is_ok_and(|m| m == b"success")
}

// ---------------------------------------------------------------------------
// HTTP

type Shared = Arc<Mutex<MockState>>;

fn json_response(status: StatusCode, body: &Value) -> Response {
    Response::builder()
        .status(status)
        .header(header::CONTENT_TYPE, "application/json;charset=utf-8")
        .body(Body::from(body.to_string()))
        .expect("valid response")
}

fn ok(mut body: Value) -> Response {
    body["errcode"] = json!(0);
    body["errmsg"] = json!("ok");
    json_response(StatusCode::OK, &body)
}

fn oapi_error(code: i64, msg: &str) -> Response {
    json_response(
        StatusCode::OK,
        &json!({"errcode": code, "errmsg": msg, "request_id": "mockreq"}),
    )
}

fn v1_error(status: StatusCode, code: &str, message: &str) -> Response {
    json_response(
        status,
        &json!({"code": code, "message": message, "requestid": "03F2E3EB-MOCK"}),
    )
}

fn param_error(msg: &str) -> Response {
    oapi_error(40035, &format!("不合法的参数: {msg}"))
}

/// A JSON body, or a form body as strings (the doc curl samples use forms).
fn parse_body(headers: &HeaderMap, body: &[u8]) -> Value {
    if body.is_empty() {
        return Value::Null;
    }
    if let Ok(v) = serde_json::from_slice::<Value>(body) {
        return v;
    }
    let is_form = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("form"));
    if is_form {
        let map: Map<String, Value> = url::form_urlencoded::parse(body)
            .map(|(k, v)| (k.into_owned(), json!(v.into_owned())))
            .collect();
        return Value::Object(map);
    }
    Value::Null
}

fn get_i64(body: &Value, key: &str) -> Option<i64> {
    match body.get(key)? {
        Value::Number(n) => n.as_i64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
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
    let json_body = parse_body(&parts.headers, &body);

    let response = {
        let mut state = shared.lock().unwrap_or_else(|e| e.into_inner());
        state.route(&parts.method, &path, &query, &parts.headers, &json_body)
    };
    let (response, errcode) = peek_errcode(response).await;
    let mut state = shared.lock().unwrap_or_else(|e| e.into_inner());
    state.log.push(LoggedRequest {
        method: parts.method.to_string(),
        path,
        query: parts.uri.query().map(str::to_string),
        body: json_body,
        status: response.status().as_u16(),
        errcode,
        at: Instant::now(),
    });
    response
}

/// Reads the `errcode` of a JSON answer for the log (bodies are small).
async fn peek_errcode(response: Response) -> (Response, Option<i64>) {
    let (parts, body) = response.into_parts();
    let bytes = axum::body::to_bytes(body, usize::MAX)
        .await
        .unwrap_or_default();
    let code = serde_json::from_slice::<Value>(&bytes)
        .ok()
        .and_then(|v| get_i64(&v, "errcode"));
    (Response::from_parts(parts, Body::from(bytes)), code)
}

impl MockState {
    fn route(
        &mut self,
        method: &Method,
        path: &str,
        query: &HashMap<String, String>,
        headers: &HeaderMap,
        body: &Value,
    ) -> Response {
        match (method, path) {
            (&Method::GET, "/gettoken") => return self.gettoken(query),
            (&Method::POST, "/v1.0/oauth2/accessToken") => return self.access_token(body),
            _ => {}
        }
        let v1 = path.starts_with("/v1.0/");
        if self.fail.0 > 0 {
            self.fail.0 -= 1;
            let status = StatusCode::from_u16(self.fail.1).unwrap_or(StatusCode::BAD_GATEWAY);
            return Response::builder()
                .status(status)
                .header(header::CONTENT_TYPE, "text/html")
                .body(Body::from("<html><body>injected failure</body></html>"))
                .expect("valid response");
        }
        if self.errcode.0 > 0 && !v1 {
            self.errcode.0 -= 1;
            return oapi_error(self.errcode.1, "injected error (mock errcode_next)");
        }
        if self.throttle.0 > 0 {
            self.throttle.0 -= 1;
            if let Some(t) = self.throttle.1 {
                return throttle_response(t, v1);
            }
        }
        if let Some(limit) = self.options.qps_limit {
            let second = Utc::now().timestamp() as u64;
            let slot = self.qps.entry(path.to_string()).or_insert((second, 0));
            if slot.0 != second {
                *slot = (second, 0);
            }
            slot.1 += 1;
            if slot.1 > limit {
                return throttle_response(Throttle::AppQps, v1);
            }
        }
        let token = if v1 {
            headers
                .get("x-acs-dingtalk-access-token")
                .and_then(|v| v.to_str().ok())
                .map(str::to_string)
        } else {
            query.get("access_token").cloned()
        };
        if let Some(refused) = self.check_token(path, token.as_deref(), v1) {
            return refused;
        }
        match (method, path) {
            (&Method::POST, "/topapi/v2/department/get") => self.department_get(body),
            (&Method::POST, "/topapi/v2/department/listsub") => self.listsub(body),
            (&Method::POST, "/topapi/v2/user/list") => self.user_list(body),
            (&Method::POST, "/topapi/v2/user/get") => self.user_get(body),
            (&Method::POST, "/topapi/user/listid") => self.user_listid(body),
            (&Method::POST, "/attendance/list") => self.attendance_list(body),
            (&Method::GET, "/v1.0/contact/empLeaveRecords") => self.leave_records(query),
            (&Method::GET, crate::push::FAILED_LIST_PATH) => self.failed_list(),
            _ if v1 => v1_error(
                StatusCode::NOT_FOUND,
                "InvalidAction.NotFound",
                "Specified api is not found",
            ),
            _ => oapi_error(404, "请求的URI地址不存在"),
        }
    }

    // --- tokens ------------------------------------------------------------

    fn issue(&mut self, new_generation: bool) -> String {
        let now = self.now();
        let life = self.options.token_expires_in as i64;
        let slot = usize::from(new_generation);
        // Within the lifetime: the same token, its lifetime renewed.
        if let Some(current) = self.current[slot].clone() {
            if let Some(t) = self.tokens.get_mut(&current) {
                if now < t.expires {
                    t.expires = now + life;
                    return current;
                }
            }
        }
        self.token_counter += 1;
        let token = format!(
            "{:016x}{:016x}",
            mix(self.options.seed, self.token_counter, 31),
            mix(self.options.seed, self.token_counter, 32)
        );
        self.tokens.insert(
            token.clone(),
            Token {
                new_generation,
                expires: now + life,
            },
        );
        self.current[slot] = Some(token.clone());
        token
    }

    fn gettoken(&mut self, query: &HashMap<String, String>) -> Response {
        let key = query.get("appkey").or_else(|| query.get("corpid"));
        let secret = query.get("appsecret").or_else(|| query.get("corpsecret"));
        if key != Some(&self.options.app_key) || secret != Some(&self.options.app_secret) {
            return oapi_error(40089, "不合法的corpId或corpSecret");
        }
        let token = self.issue(false);
        ok(json!({"access_token": token, "expires_in": self.options.token_expires_in}))
    }

    fn access_token(&mut self, body: &Value) -> Response {
        let key = body.get("appKey").and_then(Value::as_str);
        let secret = body.get("appSecret").and_then(Value::as_str);
        if key != Some(self.options.app_key.as_str())
            || secret != Some(self.options.app_secret.as_str())
        {
            return v1_error(
                StatusCode::BAD_REQUEST,
                "invalidClientIdOrSecret",
                "无效的clientId或者clientSecret",
            );
        }
        let token = self.issue(true);
        json_response(
            StatusCode::OK,
            &json!({"accessToken": token, "expireIn": self.options.token_expires_in}),
        )
    }

    /// `None` when the token is good for this path; else the refusal in
    /// the path's (or the forced) shape.
    fn check_token(&self, path: &str, token: Option<&str>, v1: bool) -> Option<Response> {
        let code = match token.filter(|t| !t.is_empty()) {
            None => 41001,
            Some(t) => match self.tokens.get(t) {
                _ if self.reject_tokens => 40014,
                Some(tok) if tok.new_generation != v1 => 40014,
                Some(tok) if self.now() >= tok.expires => 42001,
                Some(_) => return None,
                None => 40014,
            },
        };
        let shape = self.token_shape.unwrap_or(if v1 {
            TokenErrorShape::V1
        } else if path.starts_with("/topapi/") {
            TokenErrorShape::Topapi
        } else {
            TokenErrorShape::Classic
        });
        let msg = match code {
            41001 => "缺少access_token参数",
            42001 => "access_token超时",
            _ => "不合法的access_token",
        };
        Some(match shape {
            TokenErrorShape::Classic => oapi_error(code, msg),
            TokenErrorShape::Topapi => {
                let (sub, sub_msg) = if code == 41001 {
                    ("40000".to_string(), "access_token is blank")
                } else {
                    (code.to_string(), msg)
                };
                json_response(
                    StatusCode::OK,
                    &json!({"errcode": 88, "sub_code": sub, "sub_msg": sub_msg,
                        "errmsg": format!("ding talk error[subcode={sub},submsg={sub_msg}]"),
                        "request_id": "16l4ew3d47pdp"}),
                )
            }
            TokenErrorShape::V1 if code == 41001 => v1_error(
                StatusCode::BAD_REQUEST,
                "AuthenticationFailed.MissingParameter",
                "缺少参数：x-acs-dingtalk-access-token",
            ),
            TokenErrorShape::V1 => v1_error(StatusCode::BAD_REQUEST, "InvalidAuthentication", msg),
        })
    }

    // --- push --------------------------------------------------------------

    /// The oldest listed entries of the failed-push list, removed as they
    /// are handed out; entries not listed yet are neither handed out nor
    /// counted in `has_more`.
    fn failed_list(&mut self) -> Response {
        let now = self.now_ms();
        let listed = self.failed.iter().take_while(|(at, _)| *at <= now).count();
        let take = self.options.failed_list_page_size.clamp(1, 200).min(listed);
        let page: Vec<Value> = self.failed.drain(..take).map(|(_, e)| e).collect();
        ok(json!({"has_more": listed > take, "failed_list": page}))
    }

    // --- org ---------------------------------------------------------------

    fn department_get(&self, body: &Value) -> Response {
        let Some(id) = get_i64(body, "dept_id") else {
            return oapi_error(400002, "参数错误: dept_id");
        };
        match self.dept(id) {
            Some(d) => {
                let mut result = self.dept_json(d);
                // department/get carries more than listsub; the connector keeps the common fields
                result["order"] = json!(DEPARTMENTS.iter().position(|x| x.0 == id));
                result["group_contain_sub_dept"] = json!(false);
                result["dept_manager_userid_list"] = json!([]);
                ok(json!({"result": result, "request_id": "mockreq"}))
            }
            None => oapi_error(60003, "部门不存在"),
        }
    }

    fn listsub(&self, body: &Value) -> Response {
        let id = get_i64(body, "dept_id").unwrap_or(1);
        if self.dept(id).is_none() {
            return oapi_error(60003, "部门不存在");
        }
        let children: Vec<Value> = DEPARTMENTS
            .iter()
            .filter(|d| d.2 == Some(id))
            .map(|d| {
                let mut v = self.dept_json(d);
                v["parent_id"] = json!(id);
                v
            })
            .collect();
        ok(json!({"result": children, "request_id": "mockreq"}))
    }

    fn user_list(&self, body: &Value) -> Response {
        let (Some(dept), Some(cursor), Some(size)) = (
            get_i64(body, "dept_id"),
            get_i64(body, "cursor"),
            get_i64(body, "size"),
        ) else {
            return param_error("dept_id, cursor and size are required");
        };
        if !(1..=100).contains(&size) || cursor < 0 {
            return param_error("size must be 1..100");
        }
        if self.dept(dept).is_none() {
            return oapi_error(60003, "部门不存在");
        }
        let members = self.members(dept);
        let start = (cursor as usize).min(members.len());
        let end = (start + size as usize).min(members.len());
        let list: Vec<Value> = members[start..end]
            .iter()
            .map(|u| self.user_json(u, Some(dept)))
            .collect();
        let mut result = json!({"has_more": end < members.len(), "list": list});
        if end < members.len() {
            result["next_cursor"] = json!(end);
        }
        ok(json!({"result": result, "request_id": "mockreq"}))
    }

    fn user_get(&self, body: &Value) -> Response {
        let Some(userid) = body.get("userid").and_then(Value::as_str) else {
            return param_error("userid is required");
        };
        match self.users.iter().find(|u| u.userid == userid) {
            Some(u) => {
                let mut v = self.user_json(u, None);
                if let Value::Object(m) = &mut v {
                    m.remove("dept_order");
                }
                v["manager_userid"] =
                    json!(self.users.first().map_or("01260001", |m| m.userid.as_str()));
                v["role_list"] = json!([{"id": 1, "name": "员工", "group_name": "默认"}]);
                v["dept_order_list"] = json!(u
                    .depts
                    .iter()
                    .map(|d| json!({"dept_id": d, "order": 0}))
                    .collect::<Vec<_>>());
                v["real_authed"] = json!(true);
                v["senior"] = json!(false);
                ok(json!({"result": v, "request_id": "mockreq"}))
            }
            None => oapi_error(60121, "找不到该用户"),
        }
    }

    fn user_listid(&self, body: &Value) -> Response {
        let Some(dept) = get_i64(body, "dept_id") else {
            return param_error("dept_id is required");
        };
        if self.dept(dept).is_none() {
            return oapi_error(60003, "部门不存在");
        }
        let ids: Vec<&str> = self
            .members(dept)
            .iter()
            .map(|u| u.userid.as_str())
            .collect();
        ok(json!({"result": {"userid_list": ids}, "request_id": "mockreq"}))
    }

    fn leave_records(&self, query: &HashMap<String, String>) -> Response {
        let parse = |k: &str| {
            query
                .get(k)
                .and_then(|v| DateTime::parse_from_rfc3339(v).ok())
                .map(|t| t.timestamp_millis())
        };
        let Some(start) = parse("startTime") else {
            return v1_error(
                StatusCode::BAD_REQUEST,
                "InvalidParameter.StartTime",
                "startTime is required (ISO-8601)",
            );
        };
        let now_ms = self.now() * 1000;
        let end = parse("endTime");
        let max = query
            .get("maxResults")
            .and_then(|m| m.parse::<usize>().ok());
        let Some(max) = max.filter(|m| (1..=50).contains(m)) else {
            return v1_error(
                StatusCode::BAD_REQUEST,
                "InvalidParameter.MaxResults",
                "maxResults must be 1..50",
            );
        };
        const YEAR_MS: i64 = 365 * 86_400_000;
        match end {
            Some(e) if e - start > YEAR_MS => {
                return v1_error(
                    StatusCode::BAD_REQUEST,
                    "InvalidParameter.TimeRange",
                    "the time range exceeds 365 days",
                )
            }
            None if now_ms - start > YEAR_MS => {
                return v1_error(
                    StatusCode::BAD_REQUEST,
                    "InvalidParameter.StartTime",
                    "startTime must be within 365 days",
                )
            }
            _ => {}
        }
        let end = end.unwrap_or(i64::MAX);
        let offset = match query.get("nextToken").map(String::as_str) {
            None | Some("0") | Some("") => 0,
            Some(t) => match usize::from_str_radix(t, 16) {
                Ok(o) => o,
                Err(_) => {
                    return v1_error(
                        StatusCode::BAD_REQUEST,
                        "InvalidParameter.NextToken",
                        "nextToken is invalid",
                    )
                }
            },
        };
        let mut matching: Vec<&Leaver> = self
            .leavers
            .iter()
            .filter(|l| l.leave_time >= start && l.leave_time <= end)
            .collect();
        matching.sort_by_key(|l| (l.leave_time, l.userid.clone()));
        let page: Vec<Value> = matching
            .iter()
            .skip(offset)
            .take(max)
            .map(|l| {
                json!({
                    "userId": l.userid, "name": l.name, "stateCode": "86", "mobile": l.mobile,
                    "leaveTime": DateTime::<Utc>::from_timestamp_millis(l.leave_time)
                        .unwrap_or_default()
                        .to_rfc3339_opts(SecondsFormat::Secs, true),
                    "leaveReason": l.reason,
                })
            })
            .collect();
        let mut body = json!({"records": page});
        if offset + max < matching.len() {
            body["nextToken"] = json!(format!("{:x}", offset + max));
        }
        json_response(StatusCode::OK, &body)
    }

    // --- attendance --------------------------------------------------------

    fn attendance_list(&self, body: &Value) -> Response {
        let date = |k: &str| {
            body.get(k)
                .and_then(Value::as_str)
                .and_then(|s| NaiveDate::parse_from_str(s.get(..10)?, "%Y-%m-%d").ok())
        };
        let (Some(from), Some(to)) = (date("workDateFrom"), date("workDateTo")) else {
            return param_error("workDateFrom/workDateTo must be yyyy-MM-dd HH:mm:ss");
        };
        if to < from {
            return param_error("workDateTo is before workDateFrom");
        }
        if (to - from).num_days() > 6 {
            return param_error("workDateFrom到workDateTo的间隔不能超过7天");
        }
        let Some(users) = body.get("userIdList").and_then(Value::as_array) else {
            return param_error("userIdList is required");
        };
        if users.len() > 50 {
            return param_error("userIdList不能超过50个");
        }
        let (Some(offset), Some(limit)) = (get_i64(body, "offset"), get_i64(body, "limit")) else {
            return param_error("offset and limit are required");
        };
        if !(1..=50).contains(&limit) || offset < 0 {
            return param_error("limit不能超过50");
        }
        if body.get("isI18n").and_then(Value::as_bool) == Some(true) {
            return ok(json!({"hasMore": false, "recordresult": []}));
        }
        let mut rows: Vec<&Row> = Vec::new();
        for user in users.iter().filter_map(Value::as_str) {
            let lo = (user.to_string(), from, 0u8);
            let hi = (user.to_string(), to, 1u8);
            rows.extend(
                self.rows
                    .range(lo..=hi)
                    .map(|(_, r)| r)
                    .filter(|r| r.visible),
            );
        }
        let (offset, limit) = (offset as usize, limit as usize);
        let page: Vec<Value> = rows
            .iter()
            .skip(offset)
            .take(limit)
            .map(|r| r.json())
            .collect();
        ok(json!({"hasMore": offset + limit < rows.len(), "recordresult": page}))
    }
}

fn throttle_response(t: Throttle, v1: bool) -> Response {
    match (t, v1) {
        (Throttle::AppQps, false) => oapi_error(
            90018,
            "当前企业调用该接口次数过多，请求被暂时禁用了，请稍后再试",
        ),
        (Throttle::GlobalQps, false) => oapi_error(90002, "当前接口被全局限流，请稍后再试"),
        (Throttle::Busy, false) => oapi_error(-1, "系统繁忙"),
        (Throttle::AppQps, true) => v1_error(
            StatusCode::FORBIDDEN,
            "Forbidden.AccessDenied.QpsLimitForAppkeyAndApi",
            "当前应用调用该接口的QPS超过限制",
        ),
        (Throttle::GlobalQps, true) => v1_error(
            StatusCode::FORBIDDEN,
            "Forbidden.AccessDenied.QpsLimitForApi",
            "当前接口的QPS超过限制",
        ),
        (Throttle::Busy, true) => {
            v1_error(StatusCode::TOO_MANY_REQUESTS, "system.busy", "系统繁忙")
        }
        (Throttle::IpBan { wait_minutes }, _) => json_response(
            StatusCode::OK,
            &json!({"status": 1111, "wait": wait_minutes, "source": "x5", "punish": "deny", "uuid": "mock-ban"}),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generation_is_deterministic_and_plausible() {
        let opts = MockOptions {
            today: NaiveDate::from_ymd_opt(2024, 6, 3),
            ..MockOptions::default()
        };
        let a = MockState::generate(opts.clone());
        let b = MockState::generate(opts);
        assert_eq!(a.rows.len(), b.rows.len());
        let first = a.rows.values().next().unwrap();
        assert_eq!(first.json(), b.rows.values().next().unwrap().json());
        assert_eq!(a.users.len(), 60);
        assert_eq!(a.users[0].userid, "01260001");
        assert_eq!(a.users[0].job_number, "00001");
        assert_eq!(a.users[0].org_email.as_deref(), Some("wei.li@acme.example"));
        // weekdays only, two points per user and day
        assert!(a
            .rows
            .values()
            .all(|r| !matches!(r.date.weekday(), Weekday::Sat | Weekday::Sun)));
        assert_eq!(a.rows.len() % 2, 0);
        let results: std::collections::BTreeSet<&str> =
            a.rows.values().map(|r| r.time_result.as_str()).collect();
        for r in [
            "Normal",
            "Late",
            "SeriousLate",
            "Absenteeism",
            "Early",
            "NotSigned",
        ] {
            assert!(results.contains(r), "{r} never generated");
        }
        assert!(
            a.rows.values().any(|r| !r.visible),
            "pending late results exist"
        );
        assert!(a.rows.values().any(|r| r.location_result == "Outside"));
        // the reference's example instant
        assert_eq!(
            midnight(NaiveDate::from_ymd_opt(2020, 9, 6).unwrap()),
            1_599_321_600_000
        );
    }

    #[test]
    fn a_company_is_the_organization() {
        let company = Arc::new(Company::generate(5, 60));
        let s = MockState::generate(MockOptions {
            today: NaiveDate::from_ymd_opt(2024, 6, 3),
            history_days: 7,
            company: Some(company.clone()),
            ..MockOptions::default()
        });
        assert_eq!(s.users.len(), 60);
        assert!(s.leavers.is_empty());
        for (u, a) in s.users.iter().zip(company.accounts(Platform::DingTalk)) {
            let p = &company.people[a.person];
            let json = s.user_json(u, None);
            assert_eq!(json["userid"], a.id.as_str());
            assert_eq!(json["name"], p.name.as_str());
            assert_eq!(json["job_number"], a.employee_no.as_deref().unwrap_or(""));
            assert_eq!(json["org_email"].as_str(), a.email.as_deref());
            assert_eq!(json["mobile"].as_str(), a.mobile.as_deref());
            assert_eq!(json["title"], p.title.as_str());
            assert_eq!(s.dept(u.depts[0]).unwrap().1, p.department);
            assert!(s.rows.keys().any(|k| k.0 == a.id), "attendance of {}", a.id);
        }
    }
}
