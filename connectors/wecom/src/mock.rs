//! A WeCom mock server for tests, `hrhub demo` and benchmarks.
//!
//! It serves, over real HTTP on 127.0.0.1, the endpoints the connector
//! uses, as `shared/reference/wecom.md` describes WeCom:
//!
//! - every answer is HTTP 200 with an `errcode`/`errmsg` envelope; errmsg
//!   carries WeCom's `hint: [...]` trace suffix;
//! - `gettoken` per secret (an app secret and a 通讯录同步 contacts
//!   secret), the same token for repeated calls within its lifetime;
//!   `40013` bad corp id, `40001` bad secret, `41001` missing token,
//!   `40014` unknown/revoked token, `42001` expired token;
//! - `department/simplelist`, `department/get`, `user/list_id` (contacts
//!   secret only, else `48002`; cursor paging, `limit` 1..=10000, empty
//!   `next_cursor` at the end), `user/get` (`60111` for unknown userids);
//! - the post-2022 rules: with [`MockOptions::legacy_lists_blocked`]
//!   (default on) the legacy `department/list` and `user/list` answer
//!   `48002` (WeCom's exact code for the IP restriction is not documented;
//!   48002 "API forbidden" is the mock's choice); with
//!   [`MockOptions::app_sensitive_hidden`] (default on) app-secret tokens
//!   get no `mobile`, `email`, `biz_mail`, `gender`, `avatar`, `address`;
//! - `checkin/getcheckindata` (app secret; span ≤ 30 days and ≤ 100
//!   userids, else `40035` / `40032` — exact codes unconfirmed; no paging;
//!   `exception_type` values joined with `;`; `未打卡` rows carry the
//!   scheduled time) and `checkin/getcheckin_daydata` (0点 bounds; no data
//!   for the current day);
//! - per-minute limits (10 000 per API, 600 for check-ins, 100 for daily
//!   reports) answered with `45009`; injected errcodes (`45009`, `45033`,
//!   `-1`, `40014`, ...) through [`MockHandle::fail_next`];
//! - malformed JSON bodies: `47001` with `Warning: wrong json format.`.
//!
//! Data is synthetic and deterministic for a seed: a department tree, N
//! members with a 工号 in a custom attribute, and check-ins for every
//! weekday of the last `checkin_days` days (UTC+08:00) with normal, late,
//! early, missed, absent, location-exception, outing and leave days; free
//! check-in members have no scheduled times. Punches are computed when
//! served, so large companies cost nothing until read.
//!
//! The callback side: [`MockHandle::callback_get`] / [`MockHandle::callback_post`]
//! build signed, encrypted deliveries as WeCom sends them (for
//! [`hrhub_connector::PushSource`] tests), and [`MockHandle::deliver`]
//! POSTs one to a URL with WeCom's retry behaviour.

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{header, Method, StatusCode};
use axum::response::Response;
use axum::Router;
use chrono::{
    DateTime, Datelike, Duration as Days, FixedOffset, NaiveDate, TimeZone, Utc, Weekday,
};
use hrhub_connector::callback_crypto::CallbackCrypto;
use hrhub_connector::mock_server::MockServer;
use hrhub_connector::synthetic::mix;
use hrhub_connector::synthetic::{Company, Platform};
use hrhub_connector::PushRequest;
use serde_json::{json, Value};
use std::collections::{BTreeSet, HashMap, HashSet};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// What the mock corp holds and accepts.
#[derive(Debug, Clone)]
pub struct MockOptions {
    /// Same seed, same data.
    pub seed: u64,
    pub corp_id: String,
    /// The self-built app's secret (check-ins, org data in its range).
    pub app_secret: String,
    /// The 通讯录同步 secret (the only one `user/list_id` accepts).
    pub contacts_secret: String,
    /// Members generated at start.
    pub users: usize,
    /// Days of check-in history, ending today.
    pub checkin_days: i64,
    /// The mock's local (UTC+08:00) today; default: the real one. Punches
    /// after the real now are never served.
    pub today: Option<NaiveDate>,
    /// `expires_in` of issued tokens.
    pub token_expires_in: u64,
    /// Name of the custom attribute holding the 工号.
    pub employee_no_attr: String,
    /// IP added after 2022-08-15: legacy `department/list` and `user/list`
    /// answer 48002.
    pub legacy_lists_blocked: bool,
    /// App created after 2022-06-20: app-secret tokens get no sensitive fields.
    pub app_sensitive_hidden: bool,
    /// The app is listed under 打卡 → 可调用接口的应用 (else 48002 on check-in APIs).
    pub app_checkin_permitted: bool,
    /// Callback Token and EncodingAESKey (receive id = `corp_id`).
    pub callback_token: String,
    pub callback_aes_key: String,
    /// A synthetic company whose people are the members, in company order:
    /// each person's WeCom account (userid, name, the 工号 attribute,
    /// `email` and `mobile` as the company renders them; no `biz_mail`),
    /// in the member department nearest the company's, with the company's
    /// title as `position`. Statuses, free check-in members and check-ins
    /// follow the usual patterns. `users` is then unused. `None`: the
    /// built-in members.
    pub company: Option<Arc<Company>>,
}

impl Default for MockOptions {
    fn default() -> Self {
        MockOptions {
            seed: 7,
            corp_id: "wwmock0000corp0001".into(),
            app_secret: "mock-app-secret".into(),
            contacts_secret: "mock-contacts-secret".into(),
            users: 50,
            checkin_days: 60,
            today: None,
            token_expires_in: 7200,
            employee_no_attr: "工号".into(),
            legacy_lists_blocked: true,
            app_sensitive_hidden: true,
            app_checkin_permitted: true,
            callback_token: "hrhubMockToken".into(),
            callback_aes_key: "jWmYm7qr5nMoAUwZRjGtBxmz3KA1tkAj3ykkR6q2B2C".into(),
            company: None,
        }
    }
}

/// One request as the mock saw it.
#[derive(Debug, Clone)]
pub struct LoggedRequest {
    pub method: String,
    /// e.g. `/cgi-bin/checkin/getcheckindata`.
    pub path: String,
    /// The raw query string.
    pub query: Option<String>,
    /// The JSON body of a POST, when it parsed.
    pub body: Option<Value>,
    /// The errcode answered.
    pub errcode: i64,
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

/// Namespace of [`MockWeCom::start`].
pub struct MockWeCom;

impl MockWeCom {
    /// Generates the data and serves it on `127.0.0.1:<free port>`.
    pub async fn start(options: MockOptions) -> MockHandle {
        let crypto = CallbackCrypto::new(
            &options.callback_token,
            &options.callback_aes_key,
            &options.corp_id,
        )
        .expect("valid mock callback settings");
        let state = Arc::new(Mutex::new(MockState::generate(options)));
        let app = Router::new().fallback(handle).with_state(state.clone());
        let server = MockServer::start("WeCom", app).await;
        MockHandle {
            server,
            state,
            crypto,
        }
    }
}

/// A running mock: its URL and its controls. Stops on drop.
pub struct MockHandle {
    server: MockServer,
    state: Arc<Mutex<MockState>>,
    crypto: CallbackCrypto,
}

impl MockHandle {
    /// `http://127.0.0.1:<port>`, the connector's `base_url`.
    pub fn base_url(&self) -> String {
        self.server.base_url().to_string()
    }

    fn state(&self) -> MutexGuard<'_, MockState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn options(&self) -> MockOptions {
        self.state().options.clone()
    }

    /// Stops serving and waits (briefly) for the server task to end.
    pub async fn shutdown(self) {
        self.server.shutdown().await;
    }

    /// The mock's local today.
    pub fn today(&self) -> NaiveDate {
        self.state().today
    }

    // ---- tokens and failures

    /// Invalidates every issued token: the next call with one answers
    /// 40014; `gettoken` then issues a new one.
    pub fn revoke_tokens(&self) {
        for t in self.state().tokens.values_mut() {
            t.revoked = true;
        }
    }

    /// Makes every issued token expired: the next call answers 42001.
    pub fn expire_tokens(&self) {
        for t in self.state().tokens.values_mut() {
            t.expires_at = Instant::now() - Duration::from_secs(1);
        }
    }

    /// `expires_in` of tokens issued from now on.
    pub fn set_token_expires_in(&self, secs: u64) {
        self.state().options.token_expires_in = secs;
    }

    /// Replaces the app secret (the old one then gets 40001 at gettoken).
    pub fn rotate_app_secret(&self, secret: &str) {
        self.state().options.app_secret = secret.to_string();
    }

    /// The next `n` API calls (not `gettoken`) answer `errcode`
    /// (e.g. 45009, 45033, -1, 40014, 60020).
    pub fn fail_next(&self, n: u32, errcode: i64) {
        self.state().fail = (n, errcode);
    }

    /// Per-minute limit of every API except the check-in ones (default 10 000).
    pub fn set_api_rate_limit(&self, per_minute: Option<u32>) {
        self.state().limits.api = per_minute;
    }

    /// Per-minute limit of `getcheckindata` (default 600).
    pub fn set_checkin_rate_limit(&self, per_minute: Option<u32>) {
        self.state().limits.checkin = per_minute;
    }

    /// Per-minute limit of `getcheckin_daydata` (default 100).
    pub fn set_daydata_rate_limit(&self, per_minute: Option<u32>) {
        self.state().limits.daydata = per_minute;
    }

    pub fn set_legacy_lists_blocked(&self, blocked: bool) {
        self.state().options.legacy_lists_blocked = blocked;
    }

    pub fn set_app_sensitive_hidden(&self, hidden: bool) {
        self.state().options.app_sensitive_hidden = hidden;
    }

    pub fn set_app_checkin_permitted(&self, permitted: bool) {
        self.state().options.app_checkin_permitted = permitted;
    }

    // ---- data

    /// Every userid, in creation order.
    pub fn userids(&self) -> Vec<String> {
        self.state()
            .users
            .iter()
            .map(|u| u.userid.clone())
            .collect()
    }

    /// A member as `user/get` answers the contacts secret (no envelope).
    pub fn user_json(&self, userid: &str) -> Option<Value> {
        let s = self.state();
        s.user(userid).map(|u| s.user_json(u, false))
    }

    /// Adds a member (department 3) who starts checking in today. Returns the userid.
    pub fn add_user(&self, name: &str) -> String {
        self.state().add_user(name)
    }

    /// Changes a member's position. False when there is no such member.
    pub fn set_position(&self, userid: &str, position: &str) -> bool {
        let mut s = self.state();
        match s.users.iter_mut().find(|u| u.userid == userid) {
            Some(u) => {
                u.position = position.to_string();
                true
            }
            None => false,
        }
    }

    /// Removes a member (their past check-ins stay readable by userid).
    pub fn delete_user(&self, userid: &str) -> bool {
        let mut s = self.state();
        let before = s.users.len();
        s.users.retain(|u| u.userid != userid);
        s.users.len() != before
    }

    /// The raw punches of one member on one local day, as served.
    pub fn punches(&self, userid: &str, day: NaiveDate) -> Vec<Value> {
        let s = self.state();
        s.user_index(userid)
            .map(|i| s.punches(i, day))
            .unwrap_or_default()
    }

    /// The first (member, day) at or after `since` with a served `未打卡`
    /// row, scanning days, then members in creation order.
    pub fn first_missed(&self, since: NaiveDate) -> Option<(String, NaiveDate)> {
        let s = self.state();
        let now = s.now();
        let mut day = since;
        while day <= s.today {
            for (i, u) in s.users.iter().enumerate() {
                if s.punches(i, day).iter().any(|p| {
                    p["exception_type"]
                        .as_str()
                        .is_some_and(|e| e.contains("未打卡"))
                        && p["checkin_time"].as_i64().is_some_and(|t| t <= now)
                }) {
                    return Some((u.userid.clone(), day));
                }
            }
            day += Days::days(1);
        }
        None
    }

    /// A 补卡 correction: the member's missed punches that day become
    /// normal ones (same scheduled times). True when something changed.
    pub fn correct_day(&self, userid: &str, day: NaiveDate) -> bool {
        let mut s = self.state();
        let Some(i) = s.user_index(userid) else {
            return false;
        };
        let missed = s.punches(i, day).iter().any(|p| {
            p["exception_type"]
                .as_str()
                .is_some_and(|e| e.contains("未打卡"))
        });
        if missed {
            let seq = s.users[i].seq;
            s.corrections.insert((seq, day));
        }
        missed
    }

    // ---- requests

    pub fn requests(&self) -> Vec<LoggedRequest> {
        self.state().log.clone()
    }

    pub fn request_count(&self) -> usize {
        self.state().log.len()
    }

    /// Requests to `path` (e.g. `/cgi-bin/gettoken`).
    pub fn count(&self, path: &str) -> usize {
        self.state().log.iter().filter(|r| r.path == path).count()
    }

    pub fn clear_requests(&self) {
        self.state().log.clear();
    }

    // ---- callbacks

    /// The callback crypto WeCom would use for this corp.
    pub fn crypto(&self) -> &CallbackCrypto {
        &self.crypto
    }

    /// A URL-verification GET whose `echostr` decrypts to `plain`.
    pub fn callback_get(&self, plain: &str) -> PushRequest {
        let timestamp = Utc::now().timestamp().to_string();
        let nonce = hrhub_connector::callback_crypto::random_nonce();
        let echostr = self.crypto.encrypt(plain.as_bytes());
        let signature = self.crypto.signature(&timestamp, &nonce, &echostr);
        PushRequest {
            method: "GET".into(),
            query: HashMap::from([
                ("msg_signature".into(), signature),
                ("timestamp".into(), timestamp),
                ("nonce".into(), nonce),
                ("echostr".into(), echostr),
            ]),
            headers: HashMap::new(),
            body: Vec::new(),
            received_at: Utc::now(),
        }
    }

    /// An event POST carrying `inner_xml`, signed now.
    pub fn callback_post(&self, inner_xml: &str) -> PushRequest {
        self.callback_post_at(inner_xml, Utc::now().timestamp())
    }

    /// An event POST signed with `timestamp` (Unix seconds), received now.
    pub fn callback_post_at(&self, inner_xml: &str, timestamp: i64) -> PushRequest {
        let (query, body) = self.callback_parts(inner_xml, timestamp);
        PushRequest {
            method: "POST".into(),
            query,
            headers: HashMap::from([("content-type".into(), "text/xml".into())]),
            body: body.into_bytes(),
            received_at: Utc::now(),
        }
    }

    /// Query parameters and XML body of an event delivery.
    pub fn callback_parts(
        &self,
        inner_xml: &str,
        timestamp: i64,
    ) -> (HashMap<String, String>, String) {
        let timestamp = timestamp.to_string();
        let nonce = hrhub_connector::callback_crypto::random_nonce();
        let encrypted = self.crypto.encrypt(inner_xml.as_bytes());
        let signature = self.crypto.signature(&timestamp, &nonce, &encrypted);
        let corp = self.crypto.receive_id();
        let body = format!(
            "<xml><ToUserName><![CDATA[{corp}]]></ToUserName><AgentID><![CDATA[1000002]]></AgentID>\
             <Encrypt><![CDATA[{encrypted}]]></Encrypt></xml>"
        );
        (
            HashMap::from([
                ("msg_signature".into(), signature),
                ("timestamp".into(), timestamp),
                ("nonce".into(), nonce),
            ]),
            body,
        )
    }

    /// The decrypted XML of a `change_contact` event (`create_user`,
    /// `update_user`, `delete_user`, `create_party`, ...). `subject` is the
    /// UserID for user changes and the department Id for party changes.
    pub fn change_contact_xml(&self, change_type: &str, subject: &str, create_time: i64) -> String {
        let corp = self.crypto.receive_id();
        let subject_field = if change_type.ends_with("_party") {
            format!("<Id>{subject}</Id>")
        } else {
            format!("<UserID><![CDATA[{subject}]]></UserID>")
        };
        let extra = match change_type {
            "create_user" => "<Department><![CDATA[1,3]]></Department><MainDepartment>3</MainDepartment><Status>1</Status>",
            "update_user" => "<MainDepartment>4</MainDepartment>",
            "create_party" | "update_party" => "<ParentId>2</ParentId>",
            _ => "",
        };
        format!(
            "<xml><ToUserName><![CDATA[{corp}]]></ToUserName><FromUserName><![CDATA[sys]]></FromUserName>\
             <CreateTime>{create_time}</CreateTime><MsgType><![CDATA[event]]></MsgType>\
             <Event><![CDATA[change_contact]]></Event><ChangeType>{change_type}</ChangeType>\
             {subject_field}{extra}</xml>"
        )
    }

    /// POSTs an event to `url` (a full callback URL without query) as
    /// WeCom does: up to 3 attempts, each abandoned after 5 s without an
    /// HTTP 200. Returns the last status (or the last error).
    pub async fn deliver(&self, url: &str, inner_xml: &str) -> Result<u16, String> {
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(5))
            .build()
            .map_err(|e| e.to_string())?;
        let (query, body) = self.callback_parts(inner_xml, Utc::now().timestamp());
        let mut last = Err("not sent".to_string());
        for _ in 0..3 {
            let result = client
                .post(url)
                .query(&query)
                .header(header::CONTENT_TYPE, "text/xml")
                .body(body.clone())
                .send()
                .await;
            match result {
                Ok(r) if r.status().as_u16() == 200 => return Ok(200),
                Ok(r) => last = Ok(r.status().as_u16()),
                Err(e) => last = Err(e.to_string()),
            }
        }
        last
    }
}

// ---------------------------------------------------------------------------
// Data

const FAMILY: [(&str, &str); 10] = [
    ("zhang", "张"),
    ("wang", "王"),
    ("li", "李"),
    ("zhao", "赵"),
    ("liu", "刘"),
    ("chen", "陈"),
    ("yang", "杨"),
    ("huang", "黄"),
    ("zhou", "周"),
    ("wu", "吴"),
];
const GIVEN: [(&str, &str); 10] = [
    ("wei", "伟"),
    ("fang", "芳"),
    ("na", "娜"),
    ("min", "敏"),
    ("jing", "静"),
    ("lei", "磊"),
    ("qiang", "强"),
    ("yan", "艳"),
    ("jie", "杰"),
    ("tao", "涛"),
];
/// (id, parent, name, name_en, order)
const DEPARTMENTS: [(i64, i64, &str, &str, u64); 7] = [
    (1, 0, "示例科技", "Example Tech", 100_000_000),
    (2, 1, "客服中心", "Customer Service", 99_999_000),
    (3, 2, "客服一组", "CS Team 1", 99_998_000),
    (4, 2, "客服二组", "CS Team 2", 99_997_000),
    (5, 1, "研发中心", "R&D", 99_996_000),
    (6, 5, "后端组", "Backend", 99_995_000),
    (7, 1, "人事行政部", "HR & Admin", 99_994_000),
];
/// The departments members are spread over.
const MEMBER_DEPTS: [i64; 4] = [3, 4, 6, 7];
const WORK_SEC: i64 = 9 * 3600;
const OFF_WORK_SEC: i64 = 18 * 3600;
const DAY: i64 = 86_400;

fn tz() -> FixedOffset {
    FixedOffset::east_opt(8 * 3600).expect("UTC+8")
}

fn midnight(day: NaiveDate) -> i64 {
    tz().from_local_datetime(&day.and_hms_opt(0, 0, 0).expect("midnight"))
        .single()
        .expect("fixed offset")
        .timestamp()
}

fn local_date(unix: i64) -> NaiveDate {
    DateTime::<Utc>::from_timestamp(unix, 0)
        .unwrap_or_default()
        .with_timezone(&tz())
        .date_naive()
}

#[derive(Debug, Clone)]
struct User {
    /// Creation sequence; data derive from it, not from the position.
    seq: u64,
    userid: String,
    name: String,
    departments: Vec<i64>,
    main_department: i64,
    position: String,
    status: u8,
    employee_no: Option<String>,
    /// Shown only to the contacts secret (or apps created before 2022-06-20).
    mobile: Option<String>,
    email: Option<String>,
    biz_mail: Option<String>,
    /// The `英文名` attribute.
    english_name: String,
    /// Free check-in rule (no scheduled times).
    free: bool,
    /// First local day with punches.
    since: NaiveDate,
}

/// 1 activated, 2 disabled (every 23rd), 4 not yet activated (every 17th).
fn status_of(i: u64) -> u8 {
    if i % 23 == 22 {
        2
    } else if i % 17 == 16 {
        4
    } else {
        1
    }
}

impl User {
    /// The built-in members' contact fields, derived from seq and userid.
    fn fill_default_contacts(&mut self) {
        self.mobile = Some(format!("138{:08}", 10_000_000 + self.seq));
        self.email = Some(format!("{}@example.com", self.userid));
        self.biz_mail = Some(format!("{}@example.wecom.work", self.userid));
        self.english_name = self
            .userid
            .trim_end_matches(|c: char| c.is_ascii_digit())
            .to_string();
    }
}

/// The day's pattern for one member.
#[derive(Debug, Clone, Copy, PartialEq)]
enum DayKind {
    Normal,
    Late,
    LateOutside,
    Early,
    MissedIn,
    Absent,
    Outside,
    Outing,
    Leave,
}

fn day_kind(roll: u64) -> DayKind {
    match roll % 100 {
        0..=67 => DayKind::Normal,
        68..=69 => DayKind::LateOutside,
        70..=77 => DayKind::Late,
        78..=83 => DayKind::Early,
        84..=88 => DayKind::MissedIn,
        89..=91 => DayKind::Absent,
        92..=94 => DayKind::Outside,
        95..=97 => DayKind::Outing,
        _ => DayKind::Leave,
    }
}

struct TokenInfo {
    contacts: bool,
    expires_at: Instant,
    revoked: bool,
}

#[derive(Debug)]
struct Limits {
    api: Option<u32>,
    checkin: Option<u32>,
    daydata: Option<u32>,
    window_start: Instant,
    counts: HashMap<String, u32>,
}

struct MockState {
    options: MockOptions,
    today: NaiveDate,
    /// Punches after this are not served (real now, or the end of `today`).
    now: Option<i64>,
    users: Vec<User>,
    next_seq: u64,
    corrections: HashSet<(u64, NaiveDate)>,
    tokens: HashMap<String, TokenInfo>,
    token_counter: u64,
    hint_counter: u64,
    fail: (u32, i64),
    limits: Limits,
    log: Vec<LoggedRequest>,
}

impl MockState {
    fn generate(options: MockOptions) -> Self {
        let real_today = Utc::now().with_timezone(&tz()).date_naive();
        let today = options.today.unwrap_or(real_today);
        let now = options.today.map(|d| midnight(d + Days::days(1)) - 1);
        let seed = options.seed;
        let history_start = today - Days::days(options.checkin_days.max(0));
        let mut users = Vec::with_capacity(options.users);
        // with a company, its people are the members instead
        let built_in = if options.company.is_some() {
            0
        } else {
            options.users
        };
        for i in 0..built_in as u64 {
            let (fam, fam_zh) = FAMILY[(i % 10) as usize];
            let (given, given_zh) = GIVEN[((i / 10) % 10) as usize];
            let dept = MEMBER_DEPTS[(mix(seed, i, 1) % MEMBER_DEPTS.len() as u64) as usize];
            let mut departments = vec![dept];
            if i % 9 == 4 {
                departments.push(5); // also in R&D: two rows in user/list_id
            }
            let position = match dept {
                3 | 4 if i % 8 == 0 => "客服组长",
                3 | 4 => "客服专员",
                6 => "后端工程师",
                _ => "人事专员",
            };
            users.push(User {
                seq: i,
                userid: format!("{fam}{given}{:03}", i + 1),
                name: format!(
                    "{fam_zh}{given_zh}{}",
                    if i >= 100 {
                        (i / 100).to_string()
                    } else {
                        String::new()
                    }
                ),
                departments,
                main_department: dept,
                position: position.to_string(),
                status: status_of(i),
                employee_no: (i % 13 != 12).then(|| format!("E{}", 1001 + i)),
                mobile: None,
                email: None,
                biz_mail: None,
                english_name: String::new(),
                free: i % 10 == 9,
                since: history_start,
            });
        }
        if let Some(company) = &options.company {
            users = company
                .accounts(Platform::WeCom)
                .iter()
                .map(|a| {
                    let p = &company.people[a.person];
                    let i = a.person as u64;
                    let dept = match p.department.as_str() {
                        "一线客服" => 3,
                        "二线客服" | "质检组" => 4,
                        "后端组" | "前端组" => 6,
                        _ => 7,
                    };
                    let mut departments = vec![dept];
                    if i % 9 == 4 && dept == 6 {
                        departments.push(5); // also in R&D: two rows in user/list_id
                    }
                    User {
                        seq: i,
                        userid: a.id.clone(),
                        name: a.name.clone(),
                        departments,
                        main_department: dept,
                        position: p.title.clone(),
                        status: status_of(i),
                        employee_no: a.employee_no.clone(),
                        mobile: a.mobile.clone(),
                        email: a.email.clone(),
                        biz_mail: None,
                        english_name: p.english_name.clone(),
                        free: i % 10 == 9,
                        since: history_start,
                    }
                })
                .collect();
        } else {
            for u in &mut users {
                u.fill_default_contacts();
            }
        }
        MockState {
            today,
            now,
            next_seq: users.len() as u64,
            users,
            corrections: HashSet::new(),
            tokens: HashMap::new(),
            token_counter: 0,
            hint_counter: 0,
            fail: (0, 0),
            limits: Limits {
                api: Some(10_000),
                checkin: Some(600),
                daydata: Some(100),
                window_start: Instant::now(),
                counts: HashMap::new(),
            },
            log: Vec::new(),
            options,
        }
    }

    fn now(&self) -> i64 {
        self.now.unwrap_or_else(|| Utc::now().timestamp())
    }

    fn user(&self, userid: &str) -> Option<&User> {
        self.users
            .iter()
            .find(|u| u.userid.eq_ignore_ascii_case(userid))
    }

    fn user_index(&self, userid: &str) -> Option<usize> {
        self.users
            .iter()
            .position(|u| u.userid.eq_ignore_ascii_case(userid))
    }

    fn add_user(&mut self, name: &str) -> String {
        let seq = self.next_seq;
        self.next_seq += 1;
        let userid = format!("new{:04}", seq + 1);
        self.users.push(User {
            seq,
            userid: userid.clone(),
            name: name.to_string(),
            departments: vec![3],
            main_department: 3,
            position: "客服专员".into(),
            status: 1,
            employee_no: Some(format!("E{}", 1001 + seq)),
            mobile: None,
            email: None,
            biz_mail: None,
            english_name: String::new(),
            free: false,
            since: self.today,
        });
        if let Some(u) = self.users.last_mut() {
            u.fill_default_contacts();
        }
        userid
    }

    fn user_json(&self, u: &User, hide_sensitive: bool) -> Value {
        let attr = &self.options.employee_no_attr;
        let mut attrs = Vec::new();
        if let Some(no) = &u.employee_no {
            attrs.push(json!({"type": 0, "name": attr, "text": {"value": no}}));
        }
        attrs.push(json!({"type": 0, "name": "英文名", "text": {"value": u.english_name}}));
        let mut v = json!({
            "userid": u.userid,
            "name": u.name,
            "department": u.departments,
            "order": u.departments.iter().map(|_| 0).collect::<Vec<_>>(),
            "main_department": u.main_department,
            "position": u.position,
            "is_leader_in_dept": u.departments.iter().map(|_| i32::from(u.position.contains("组长"))).collect::<Vec<_>>(),
            "direct_leader": [],
            "telephone": "",
            "alias": "",
            "status": u.status,
            "open_userid": format!("wo{:016x}", mix(self.options.seed, u.seq, 9)),
            "extattr": {"attrs": attrs},
        });
        if !hide_sensitive {
            let obj = v.as_object_mut().expect("object");
            // WeCom answers "" for a field a member has no value for
            obj.insert("mobile".into(), json!(u.mobile.as_deref().unwrap_or("")));
            obj.insert("email".into(), json!(u.email.as_deref().unwrap_or("")));
            if let Some(biz) = &u.biz_mail {
                obj.insert("biz_mail".into(), json!(biz));
            }
            obj.insert(
                "gender".into(),
                json!(if u.seq % 2 == 0 { "1" } else { "2" }),
            );
            obj.insert(
                "avatar".into(),
                json!(format!("https://wework.qpic.cn/mock/{}/0", u.userid)),
            );
            obj.insert(
                "address".into(),
                json!("四川省成都市武侯区益州大道中段784号"),
            );
        }
        v
    }

    fn department_json(&self, id: i64) -> Option<Value> {
        DEPARTMENTS
            .iter()
            .find(|d| d.0 == id)
            .map(|(id, parent, name, name_en, order)| {
                let leaders: Vec<&str> = self
                    .users
                    .iter()
                    .filter(|u| u.departments.contains(id) && u.position.contains("组长"))
                    .map(|u| u.userid.as_str())
                    .take(2)
                    .collect();
                json!({"id": id, "name": name, "name_en": name_en, "department_leader": leaders,
                   "parentid": parent, "order": order})
            })
    }

    /// The raw punches of member `i` on `day` (not filtered by time).
    fn punches(&self, i: usize, day: NaiveDate) -> Vec<Value> {
        let u = &self.users[i];
        if u.status != 1 || day < u.since || day > self.today {
            return Vec::new();
        }
        if matches!(day.weekday(), Weekday::Sat | Weekday::Sun) {
            return Vec::new();
        }
        let seed = self.options.seed;
        let day_no = day.num_days_from_ce() as u64;
        let mut kind = day_kind(mix(seed, u.seq, day_no));
        let corrected = self.corrections.contains(&(u.seq, day));
        if corrected && matches!(kind, DayKind::MissedIn | DayKind::Absent) {
            kind = DayKind::Normal;
        }
        if kind == DayKind::Leave {
            return Vec::new();
        }
        let base = midnight(day);
        let jitter =
            |salt: u64, span: i64| (mix(seed, u.seq * 1000 + salt, day_no) % span as u64) as i64;
        let (group, groupid) = if u.free {
            ("弹性打卡", 20)
        } else {
            ("客服一组", 10)
        };
        let sch_in = base + WORK_SEC;
        let sch_out = base + OFF_WORK_SEC;
        let (in_time, in_exc) = match kind {
            DayKind::Late => (sch_in + 60 + jitter(1, 2400), "时间异常"),
            DayKind::LateOutside => (sch_in + 60 + jitter(1, 2400), "时间异常;地点异常"),
            DayKind::Outside => (sch_in - 60 - jitter(1, 1800), "地点异常"),
            DayKind::MissedIn | DayKind::Absent => (sch_in, "未打卡"),
            _ if corrected => (sch_in - 300, ""),
            _ => (sch_in - 60 - jitter(1, 1800), ""),
        };
        let (out_time, out_exc) = match kind {
            DayKind::Early => (sch_out - 300 - jitter(2, 3000), "时间异常"),
            DayKind::Absent => (sch_out, "未打卡"),
            _ => (sch_out + jitter(2, 2700), ""),
        };
        let device = format!("{:08X}-MOCK-{:04X}", mix(seed, u.seq, 3) as u32, u.seq);
        let punch = |ty: &str, time: i64, sch: i64, exc: &str, place: bool| {
            let missed = exc.contains("未打卡");
            let outside = exc.contains("地点异常");
            let mut p = json!({
                "userid": u.userid, "groupname": group, "groupid": groupid,
                "checkin_type": ty, "exception_type": exc, "checkin_time": time,
                "schedule_id": 0, "timeline_id": 1,
                "location_title": if missed { "" } else if outside { "锦城广场" } else { "依澜府" },
                "location_detail": if missed || !place { "" } else { "四川省成都市武侯区益州大道中段784号附近" },
                "wifiname": if missed || outside { "" } else { "办公一区" },
                "wifimac": if missed || outside { "" } else { "3c:46:d8:0c:7a:70" },
                "notes": if exc.contains("时间异常") && ty == "上班打卡" { "路上堵车" } else { "" },
                "mediaids": [],
            });
            if !missed {
                p["lat"] = json!(if outside { 30_571_234 } else { 30_547_645 });
                p["lng"] = json!(if outside { 104_081_234 } else { 104_063_236 });
                p["deviceid"] = json!(device);
            }
            if !u.free {
                p["sch_checkin_time"] = json!(sch);
            }
            p
        };
        let mut out = vec![
            punch("上班打卡", in_time, sch_in, in_exc, true),
            punch("下班打卡", out_time, sch_out, out_exc, false),
        ];
        if u.free {
            // No schedule: no time exceptions, no missed rows.
            for p in &mut out {
                let exc = p["exception_type"].as_str().unwrap_or("").to_string();
                if exc.contains("未打卡") {
                    *p = Value::Null;
                } else {
                    p["exception_type"] =
                        json!(exc.replace("时间异常;", "").replace("时间异常", ""));
                }
            }
            out.retain(|p| !p.is_null());
        }
        if kind == DayKind::Outing {
            let mut outing = punch("外出打卡", base + 14 * 3600 + jitter(4, 3600), 0, "", true);
            outing
                .as_object_mut()
                .expect("object")
                .remove("sch_checkin_time");
            outing["location_title"] = json!("客户现场");
            outing["notes"] = json!("拜访客户");
            out.push(outing);
        }
        out
    }

    fn day_report(&self, i: usize, day: NaiveDate) -> Value {
        let u = &self.users[i];
        let seed = self.options.seed;
        let day_no = day.num_days_from_ce() as u64;
        let rest = matches!(day.weekday(), Weekday::Sat | Weekday::Sun);
        let punches = if u.status == 1 {
            self.punches(i, day)
        } else {
            Vec::new()
        };
        let kind = day_kind(mix(seed, u.seq, day_no));
        let real: Vec<&Value> = punches
            .iter()
            .filter(|p| {
                !p["exception_type"]
                    .as_str()
                    .unwrap_or("")
                    .contains("未打卡")
            })
            .collect();
        let base = midnight(day);
        let secs = |p: &&Value| p["checkin_time"].as_i64().unwrap_or(base) - base;
        let earliest = real.iter().map(secs).min().unwrap_or(0);
        let latest = real.iter().map(secs).max().unwrap_or(0);
        let mut exceptions = Vec::new();
        for p in &punches {
            let exc = p["exception_type"].as_str().unwrap_or("");
            let on = p["checkin_type"] == "上班打卡";
            let time = p["checkin_time"].as_i64().unwrap_or(base);
            if exc.contains("时间异常") {
                let duration = if on {
                    time - (base + WORK_SEC)
                } else {
                    base + OFF_WORK_SEC - time
                };
                exceptions.push(json!({"exception": if on { 1 } else { 2 }, "count": 1, "duration": duration.max(0)}));
            }
            if exc.contains("地点异常") {
                exceptions.push(json!({"exception": 5, "count": 1, "duration": 0}));
            }
        }
        let absent = !rest
            && u.status == 1
            && punches.iter().all(|p| {
                p["exception_type"]
                    .as_str()
                    .unwrap_or("")
                    .contains("未打卡")
            })
            && !punches.is_empty();
        let missed = punches
            .iter()
            .filter(|p| {
                p["exception_type"]
                    .as_str()
                    .unwrap_or("")
                    .contains("未打卡")
            })
            .count();
        if absent {
            exceptions
                .push(json!({"exception": 4, "count": 1, "duration": OFF_WORK_SEC - WORK_SEC}));
        } else if missed > 0 {
            exceptions.push(json!({"exception": 3, "count": missed, "duration": 0}));
        }
        let leave = !rest && u.status == 1 && kind == DayKind::Leave && day >= u.since;
        let sp_items = if leave {
            json!([{"type": 1, "vacation_id": 1, "count": 1, "duration": 86_400, "time_type": 0, "name": "年假"}])
        } else {
            json!([])
        };
        json!({
            "base_info": {
                "date": base, "record_type": if u.free { 4 } else { 1 }, "name": u.name, "name_ex": u.userid,
                "departs_name": self.department_path(u.main_department), "acctid": u.userid,
                "rule_info": {"groupid": if u.free { 20 } else { 10 }, "groupname": if u.free { "弹性打卡" } else { "客服一组" },
                    "scheduleid": 0, "schedulename": "",
                    "checkintime": if u.free { json!([]) } else { json!([{"work_sec": WORK_SEC, "off_work_sec": OFF_WORK_SEC}]) }},
                "day_type": i32::from(rest),
            },
            "summary_info": {"checkin_count": real.len(), "regular_work_sec": (latest - earliest).max(0),
                "standard_work_sec": if rest { 0 } else { OFF_WORK_SEC - WORK_SEC },
                "earliest_time": earliest, "lastest_time": latest},
            "holiday_infos": [],
            "exception_infos": exceptions,
            "ot_info": {"ot_status": 0, "ot_duration": 0, "exception_duration": []},
            "sp_items": sp_items,
        })
    }

    fn department_path(&self, id: i64) -> String {
        let mut names = Vec::new();
        let mut at = id;
        while let Some(d) = DEPARTMENTS.iter().find(|d| d.0 == at) {
            names.push(d.2);
            if d.1 == 0 {
                break;
            }
            at = d.1;
        }
        names.reverse();
        names.join("/")
    }

    // ---- envelopes

    fn err(&mut self, code: i64, message: &str) -> Value {
        self.hint_counter += 1;
        json!({
            "errcode": code,
            "errmsg": format!(
                "{message}, hint: [{}{:06}], from ip: 127.0.0.1, more info at https://open.work.weixin.qq.com/devtool/query?e={code}",
                Utc::now().timestamp(), self.hint_counter
            ),
        })
    }

    fn ok(mut body: Value) -> Value {
        let obj = body.as_object_mut().expect("object");
        obj.insert("errcode".into(), json!(0));
        obj.insert("errmsg".into(), json!("ok"));
        body
    }

    fn gettoken(&mut self, query: &HashMap<String, String>) -> Value {
        if query.get("corpid").map(String::as_str) != Some(self.options.corp_id.as_str()) {
            return self.err(40013, "invalid corpid");
        }
        let secret = query.get("corpsecret").map(String::as_str).unwrap_or("");
        let contacts = if secret == self.options.contacts_secret {
            true
        } else if secret == self.options.app_secret {
            false
        } else {
            return self.err(40001, "invalid credential");
        };
        let now = Instant::now();
        // The same token while it lives.
        if let Some((token, info)) = self
            .tokens
            .iter()
            .find(|(_, t)| t.contacts == contacts && !t.revoked && t.expires_at > now)
        {
            let left = info.expires_at.duration_since(now).as_secs();
            return Self::ok(json!({"access_token": token, "expires_in": left}));
        }
        self.token_counter += 1;
        // Real tokens are long; keep the shape.
        let token = format!(
            "{}{:06}{}",
            if contacts { "ctok" } else { "atok" },
            self.token_counter,
            "x".repeat(120)
        );
        let life = self.options.token_expires_in;
        self.tokens.insert(
            token.clone(),
            TokenInfo {
                contacts,
                expires_at: now + Duration::from_secs(life),
                revoked: false,
            },
        );
        Self::ok(json!({"access_token": token, "expires_in": life}))
    }

    /// `Ok(is_contacts_secret)` or the errcode answer.
    fn authenticate(&mut self, query: &HashMap<String, String>) -> Result<bool, Value> {
        let Some(token) = query.get("access_token").filter(|t| !t.is_empty()) else {
            return Err(self.err(41001, "access_token missing"));
        };
        let now = Instant::now();
        match self.tokens.get(token.as_str()) {
            None => Err(self.err(40014, "invalid access_token")),
            Some(t) if t.revoked => Err(self.err(40014, "invalid access_token")),
            Some(t) if t.expires_at <= now => Err(self.err(42001, "access_token expired")),
            Some(t) => Ok(t.contacts),
        }
    }

    /// Per-minute windows; `Some(answer)` when exhausted.
    fn rate_limited(&mut self, path: &str) -> Option<Value> {
        if self.limits.window_start.elapsed() >= Duration::from_secs(60) {
            self.limits.window_start = Instant::now();
            self.limits.counts.clear();
        }
        let limit = match path {
            "/cgi-bin/checkin/getcheckindata" => self.limits.checkin,
            "/cgi-bin/checkin/getcheckin_daydata" => self.limits.daydata,
            _ => self.limits.api,
        };
        let count = self.limits.counts.entry(path.to_string()).or_insert(0);
        if limit.is_some_and(|l| *count >= l) {
            return Some(self.err(45009, "api freq out of limit"));
        }
        *count += 1;
        None
    }

    fn api(
        &mut self,
        method: &Method,
        path: &str,
        query: &HashMap<String, String>,
        body: &[u8],
    ) -> (Value, Option<Value>) {
        let parsed: Option<Value> = if *method == Method::POST {
            match serde_json::from_slice::<Value>(body) {
                Ok(v) if v.is_object() => Some(v),
                _ => {
                    return (
                        self.err(47001, "data format error, Warning: wrong json format. "),
                        None,
                    )
                }
            }
        } else {
            None
        };
        let contacts = match self.authenticate(query) {
            Ok(c) => c,
            Err(answer) => return (answer, parsed),
        };
        if self.fail.0 > 0 {
            self.fail.0 -= 1;
            let code = self.fail.1;
            let message = match code {
                45009 => "api freq out of limit",
                45033 => "api concurrent out of limit",
                -1 => "system busy",
                40014 => "invalid access_token",
                42001 => "access_token expired",
                60020 => "not allow to access from your ip",
                _ => "injected failure",
            };
            return (self.err(code, message), parsed);
        }
        if let Some(answer) = self.rate_limited(path) {
            return (answer, parsed);
        }
        let b = parsed.clone().unwrap_or(Value::Null);
        let answer = match (method.as_str(), path) {
            ("GET", "/cgi-bin/department/simplelist") => self.simplelist(query),
            ("GET", "/cgi-bin/department/get") => {
                match query
                    .get("id")
                    .and_then(|v| v.parse::<i64>().ok())
                    .and_then(|id| self.department_json(id))
                {
                    Some(d) => Self::ok(json!({"department": d})),
                    None => self.err(60003, "department not found"),
                }
            }
            ("GET", "/cgi-bin/department/list") => {
                if self.options.legacy_lists_blocked {
                    self.err(48002, "api forbidden")
                } else {
                    let all: Vec<Value> = DEPARTMENTS
                        .iter()
                        .filter_map(|d| self.department_json(d.0))
                        .collect();
                    Self::ok(json!({"department": all}))
                }
            }
            ("POST", "/cgi-bin/user/list_id") => {
                if contacts {
                    self.list_id(&b)
                } else {
                    self.err(48002, "api forbidden")
                }
            }
            ("GET", "/cgi-bin/user/get") => {
                let hide = !contacts && self.options.app_sensitive_hidden;
                match query.get("userid").and_then(|id| self.user(id)) {
                    Some(u) => Self::ok(self.user_json(u, hide)),
                    None => self.err(60111, "userid not found"),
                }
            }
            ("GET", "/cgi-bin/user/list") => {
                if self.options.legacy_lists_blocked {
                    self.err(48002, "api forbidden")
                } else {
                    let dept = query
                        .get("department_id")
                        .and_then(|v| v.parse::<i64>().ok());
                    match dept {
                        Some(d) if DEPARTMENTS.iter().any(|x| x.0 == d) => {
                            let hide = !contacts && self.options.app_sensitive_hidden;
                            let list: Vec<Value> = self
                                .users
                                .iter()
                                .filter(|u| u.departments.contains(&d))
                                .map(|u| self.user_json(u, hide))
                                .collect();
                            Self::ok(json!({"userlist": list}))
                        }
                        _ => self.err(60003, "department not found"),
                    }
                }
            }
            ("POST", "/cgi-bin/checkin/getcheckindata") => {
                if contacts || !self.options.app_checkin_permitted {
                    self.err(48002, "api forbidden")
                } else {
                    self.checkindata(&b)
                }
            }
            ("POST", "/cgi-bin/checkin/getcheckin_daydata") => {
                if contacts || !self.options.app_checkin_permitted {
                    self.err(48002, "api forbidden")
                } else {
                    self.daydata(&b)
                }
            }
            ("GET", "/cgi-bin/getcallbackip") => Self::ok(json!({"ip_list": ["127.0.0.1"]})),
            _ => self.err(48001, "api unauthorized (unknown to the mock)"),
        };
        (answer, parsed)
    }

    fn simplelist(&mut self, query: &HashMap<String, String>) -> Value {
        let root = match query.get("id").filter(|v| !v.is_empty()) {
            None => None,
            Some(v) => match v.parse::<i64>() {
                Ok(id) if DEPARTMENTS.iter().any(|d| d.0 == id) => Some(id),
                _ => return self.err(60003, "department not found"),
            },
        };
        let in_subtree = |mut id: i64| {
            let Some(root) = root else { return true };
            loop {
                if id == root {
                    return true;
                }
                match DEPARTMENTS.iter().find(|d| d.0 == id) {
                    Some(d) if d.1 != 0 => id = d.1,
                    _ => return false,
                }
            }
        };
        let list: Vec<Value> = DEPARTMENTS
            .iter()
            .filter(|d| in_subtree(d.0))
            .map(|(id, parent, _, _, order)| json!({"id": id, "parentid": parent, "order": order}))
            .collect();
        Self::ok(json!({"department_id": list}))
    }

    fn list_id(&mut self, body: &Value) -> Value {
        let limit = match body.get("limit") {
            None => 10_000,
            Some(v) => match v.as_u64() {
                Some(l @ 1..=10_000) => l as usize,
                _ => return self.err(40035, "invalid limit, should be 1..10000"),
            },
        };
        let offset = match body
            .get("cursor")
            .and_then(Value::as_str)
            .filter(|c| !c.is_empty())
        {
            None => 0,
            Some(c) => match c
                .strip_prefix("mc")
                .and_then(|h| usize::from_str_radix(h, 16).ok())
            {
                Some(o) => o ^ 0x5a5a,
                None => return self.err(40035, "invalid cursor"),
            },
        };
        let rows: Vec<Value> = self
            .users
            .iter()
            .flat_map(|u| {
                u.departments
                    .iter()
                    .map(move |d| json!({"userid": u.userid, "department": d}))
            })
            .collect();
        let end = (offset + limit).min(rows.len());
        let page = rows
            .get(offset.min(rows.len())..end)
            .unwrap_or_default()
            .to_vec();
        let next = if end < rows.len() {
            format!("mc{:x}", end ^ 0x5a5a)
        } else {
            String::new()
        };
        Self::ok(json!({"next_cursor": next, "dept_user": page}))
    }

    fn userid_list(&mut self, body: &Value) -> Result<Vec<String>, Value> {
        let list: Vec<String> = match body.get("useridlist").and_then(Value::as_array) {
            Some(l) => l
                .iter()
                .filter_map(|v| v.as_str().map(str::to_string))
                .collect(),
            None => return Err(self.err(40035, "useridlist missing")),
        };
        if list.is_empty() {
            return Err(self.err(40035, "useridlist empty"));
        }
        if list.len() > 100 {
            return Err(self.err(40032, "useridlist size exceeds 100"));
        }
        Ok(list)
    }

    fn checkindata(&mut self, body: &Value) -> Value {
        let kind = body
            .get("opencheckindatatype")
            .and_then(Value::as_i64)
            .unwrap_or(0);
        let (Some(start), Some(end)) = (
            body.get("starttime").and_then(Value::as_i64),
            body.get("endtime").and_then(Value::as_i64),
        ) else {
            return self.err(40035, "starttime/endtime missing");
        };
        if !(1..=3).contains(&kind) {
            return self.err(40035, "invalid opencheckindatatype");
        }
        if end < start || end - start > 30 * DAY {
            return self.err(40035, "invalid time range, should be within 30 days");
        }
        let list = match self.userid_list(body) {
            Ok(l) => l,
            Err(answer) => return answer,
        };
        let now = self.now();
        let mut out = Vec::new();
        for id in list {
            let Some(i) = self.user_index(&id) else {
                continue;
            };
            let mut day = local_date(start);
            while day <= local_date(end) {
                for p in self.punches(i, day) {
                    let t = p["checkin_time"].as_i64().unwrap_or(0);
                    let outing = p["checkin_type"] == "外出打卡";
                    let wanted = match kind {
                        1 => !outing,
                        2 => outing,
                        _ => true,
                    };
                    if wanted && t >= start && t <= end && t <= now {
                        out.push(p);
                    }
                }
                day += Days::days(1);
            }
        }
        Self::ok(json!({"checkindata": out}))
    }

    fn daydata(&mut self, body: &Value) -> Value {
        let (Some(start), Some(end)) = (
            body.get("starttime").and_then(Value::as_i64),
            body.get("endtime").and_then(Value::as_i64),
        ) else {
            return self.err(40035, "starttime/endtime missing");
        };
        let (first, last) = (local_date(start), local_date(end));
        if midnight(first) != start || midnight(last) != end {
            return self.err(40035, "starttime/endtime must be 0 o'clock");
        }
        if end < start || end - start > 30 * DAY {
            return self.err(40035, "invalid time range, should be within 30 days");
        }
        let list = match self.userid_list(body) {
            Ok(l) => l,
            Err(answer) => return answer,
        };
        let mut out = Vec::new();
        for id in list {
            let Some(i) = self.user_index(&id) else {
                continue;
            };
            let mut day = first;
            // The current day's report does not exist yet.
            while day <= last && day < self.today {
                if day >= self.users[i].since {
                    out.push(self.day_report(i, day));
                }
                day += Days::days(1);
            }
        }
        Self::ok(json!({"datas": out}))
    }
}

// ---------------------------------------------------------------------------
// HTTP

type Shared = Arc<Mutex<MockState>>;

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
    let mut state = shared.lock().unwrap_or_else(|e| e.into_inner());
    let (answer, logged_body) = if path == "/cgi-bin/gettoken" && parts.method == Method::GET {
        (state.gettoken(&query), None)
    } else if path.starts_with("/cgi-bin/") {
        state.api(&parts.method, &path, &query, &body)
    } else {
        let answer = state.err(48001, "api unauthorized");
        drop(state);
        return Response::builder()
            .status(StatusCode::NOT_FOUND)
            .header(header::CONTENT_TYPE, "application/json; charset=UTF-8")
            .body(Body::from(answer.to_string()))
            .expect("valid response");
    };
    state.log.push(LoggedRequest {
        method: parts.method.to_string(),
        path,
        query: parts.uri.query().map(str::to_string),
        body: logged_body,
        errcode: answer.get("errcode").and_then(Value::as_i64).unwrap_or(0),
        at: Instant::now(),
    });
    Response::builder()
        .status(StatusCode::OK)
        .header(header::CONTENT_TYPE, "application/json; charset=UTF-8")
        .body(Body::from(answer.to_string()))
        .expect("valid response")
}

/// Every local day in `from..=to` (handy in tests).
pub fn days_between(from: NaiveDate, to: NaiveDate) -> BTreeSet<NaiveDate> {
    let mut out = BTreeSet::new();
    let mut d = from;
    while d <= to {
        out.insert(d);
        d += Days::days(1);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn state() -> MockState {
        MockState::generate(MockOptions {
            today: NaiveDate::from_ymd_opt(2024, 1, 31),
            ..MockOptions::default()
        })
    }

    #[test]
    fn generation_is_deterministic_and_varied() {
        let (a, b) = (state(), state());
        let day = NaiveDate::from_ymd_opt(2024, 1, 15).unwrap();
        assert_eq!(a.punches(0, day), b.punches(0, day));
        assert_eq!(a.users.len(), 50);
        assert_eq!(a.users[0].userid, "zhangwei001");
        let mut seen = HashSet::new();
        for i in 0..a.users.len() {
            for d in days_between(NaiveDate::from_ymd_opt(2024, 1, 1).unwrap(), day) {
                for p in a.punches(i, d) {
                    seen.insert(p["exception_type"].as_str().unwrap().to_string());
                    if p["checkin_type"] == "外出打卡" {
                        seen.insert("outing".into());
                    }
                }
            }
        }
        for want in [
            "",
            "时间异常",
            "未打卡",
            "地点异常",
            "时间异常;地点异常",
            "outing",
        ] {
            assert!(seen.contains(want), "no {want:?} in {seen:?}");
        }
        // weekends are empty
        let saturday = NaiveDate::from_ymd_opt(2024, 1, 13).unwrap();
        assert!((0..50).all(|i| a.punches(i, saturday).is_empty()));
    }

    #[test]
    fn user_json_hides_sensitive_fields_on_request() {
        let s = state();
        let shown = s.user_json(&s.users[0], false);
        assert_eq!(shown["email"], "zhangwei001@example.com");
        assert_eq!(shown["extattr"]["attrs"][0]["text"]["value"], "E1001");
        let hidden = s.user_json(&s.users[0], true);
        assert!(hidden.get("email").is_none() && hidden.get("mobile").is_none());
    }

    #[test]
    fn a_company_is_the_membership() {
        let company = Arc::new(Company::generate(5, 60));
        let s = MockState::generate(MockOptions {
            today: NaiveDate::from_ymd_opt(2024, 1, 31),
            company: Some(company.clone()),
            ..MockOptions::default()
        });
        assert_eq!(s.users.len(), 60);
        let day = NaiveDate::from_ymd_opt(2024, 1, 15).unwrap();
        let mut punches = 0;
        for (i, (u, a)) in s
            .users
            .iter()
            .zip(company.accounts(Platform::WeCom))
            .enumerate()
        {
            let json = s.user_json(u, false);
            assert_eq!(json["userid"], a.id.as_str());
            assert_eq!(json["position"], company.people[i].title.as_str());
            assert_eq!(json["email"], a.email.as_deref().unwrap_or(""));
            assert_eq!(json["mobile"], a.mobile.as_deref().unwrap_or(""));
            assert!(json.get("biz_mail").is_none());
            let attr = json["extattr"]["attrs"]
                .as_array()
                .unwrap()
                .iter()
                .find(|x| x["name"] == "工号")
                .map(|x| x["text"]["value"].as_str().unwrap().to_string());
            assert_eq!(attr.as_deref(), a.employee_no.as_deref());
            let hidden = s.user_json(u, true);
            assert!(hidden.get("email").is_none() && hidden.get("mobile").is_none());
            punches += s.punches(i, day).len();
        }
        assert!(punches > 60);
        // user/get finds members case-insensitively, as WeCom does
        assert!(s.user(&s.users[3].userid.to_lowercase()).is_some());
    }

    #[test]
    fn day_reports_mark_absence() {
        let s = state();
        let mut absent = 0;
        for i in 0..50 {
            for d in days_between(
                NaiveDate::from_ymd_opt(2024, 1, 1).unwrap(),
                NaiveDate::from_ymd_opt(2024, 1, 30).unwrap(),
            ) {
                let r = s.day_report(i, d);
                if r["exception_infos"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .any(|e| e["exception"] == 4)
                {
                    absent += 1;
                }
            }
        }
        assert!(absent > 0);
    }
}
