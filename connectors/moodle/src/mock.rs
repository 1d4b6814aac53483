//! A Moodle mock server for tests, `hrhub demo` and benchmarks.
//!
//! It serves `/webservice/rest/server.php` over real HTTP on 127.0.0.1 the
//! way `shared/reference/training-platforms.md` §1 describes Moodle:
//!
//! - GET or POST, parameters from the query and the form body merged,
//!   `wstoken`, `wsfunction` and `moodlewsrestformat` (XML without it);
//! - parameters decoded the PHP way (`criteria[0][key]=…`) and validated
//!   like `external_api::validate_parameters`: unknown keys, missing
//!   required keys, wrong types and scalars where arrays belong are
//!   `invalid_parameter_exception`s;
//! - every error is an HTTP 200 envelope `{"exception", "errorcode",
//!   "message"[, "debuginfo"]}`: `invalidtoken` (unknown or expired token),
//!   `accessexception` (function not in the token's service),
//!   `invalidrecord` (unknown function, course, quiz), `nocriteriaset`,
//!   `usernotenroled`, `sitemaintenance` on demand;
//! - fields omitted where Moodle omits them (an empty `idnumber`), times in
//!   Unix seconds, `lastaccess` null for never;
//! - Moodle 4.5 or 5.0 ([`MoodleRelease`]): `mod_quiz_get_user_quiz_attempts`
//!   exists only on 5.0, where `mod_quiz_get_user_attempts` is deprecated.
//!
//! Learners are a synthetic [`Company`]'s people (the same people as the
//! other platform mocks, 工号 as `idnumber`), enrolled in a fixed catalog
//! of five courses, three with a quiz (plus, on request, outsiders: a
//! partner's staff with no `idnumber`, whom no roster knows). Exam results
//! follow [`exam_sitting`], a contract the xAPI mock shares, so one
//! person's exam has the same percentage on both platforms. The data clock
//! is virtual (`now = real now + offset`, moved by
//! [`MockHandle::advance`]).

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{header, Method, StatusCode};
use axum::response::Response;
use axum::Router;
use chrono::Utc;
use hrhub_connector::mock_server::MockServer;
pub use hrhub_connector::synthetic::{exam_sitting, mix};
use hrhub_connector::synthetic::{full_width_digits, Company};
use serde_json::{json, Map, Value};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Instant;

/// Which Moodle the mock is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MoodleRelease {
    /// 4.5 LTS: only `mod_quiz_get_user_attempts`.
    V4_5,
    /// 5.0: `mod_quiz_get_user_quiz_attempts`; the old function is deprecated.
    V5_0,
}

impl MoodleRelease {
    /// `core_webservice_get_site_info.version`.
    pub fn version(self) -> i64 {
        match self {
            MoodleRelease::V4_5 => 2024100700,
            MoodleRelease::V5_0 => 2025041400,
        }
    }

    /// `core_webservice_get_site_info.release`.
    pub fn release(self) -> &'static str {
        match self {
            MoodleRelease::V4_5 => "4.5 (Build: 20241007)",
            MoodleRelease::V5_0 => "5.0 (Build: 20250414)",
        }
    }
}

/// What the mock site holds and accepts.
#[derive(Debug, Clone)]
pub struct MockOptions {
    /// Same seed (and `now`), same data.
    pub seed: u64,
    /// Learners generated when `company` is `None` (a company of this size
    /// from `seed`).
    pub learners: usize,
    /// The people who learn here: each person is a Moodle user (id
    /// `10 + index`, `idnumber` = 工号 with a few left empty or typed with
    /// full-width digits, e-mail sometimes in other case). `None`: a
    /// company of `learners` people from `seed`.
    pub company: Option<Arc<Company>>,
    /// Learners from outside the company ([`Company::outsiders`]): users
    /// without an `idnumber`, at a partner's e-mail domain, after the
    /// company's people, sitting the same exams.
    pub outsiders: usize,
    /// The valid web-service token.
    pub token: String,
    pub release: MoodleRelease,
    /// The virtual clock's start (Unix seconds); default: real now.
    pub now: Option<i64>,
    /// Activity (attempts, completions, accesses) lies within this many
    /// days before `now`.
    pub history_days: i64,
}

impl Default for MockOptions {
    fn default() -> Self {
        MockOptions {
            seed: 42,
            learners: 40,
            company: None,
            outsiders: 0,
            token: "mock-moodle-token".into(),
            release: MoodleRelease::V5_0,
            now: None,
            history_days: 120,
        }
    }
}

/// One web-service call as the mock saw it.
#[derive(Debug, Clone)]
pub struct LoggedCall {
    /// `GET` or `POST`.
    pub method: String,
    /// `wsfunction` (empty when missing).
    pub function: String,
    /// The parameters as sent (query and body, `wstoken` left out), in order.
    pub params: Vec<(String, String)>,
    /// Whether `wstoken` came in the URL query (it should not).
    pub token_in_query: bool,
    /// The HTTP status answered.
    pub status: u16,
    /// The envelope's `errorcode` when the call failed with HTTP 200.
    pub errorcode: Option<String>,
    pub at: Instant,
}

impl LoggedCall {
    pub fn param(&self, name: &str) -> Option<&str> {
        self.params
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

// ---------------------------------------------------------------------------
// The exam contract shared with the xAPI mock.

/// The exams both training mocks know, by index: the Moodle quizzes of
/// SEC-101, CS-201 and PRD-301, which the xAPI mock's LRS also receives
/// (forwarded by the site's xAPI log store) as activities
/// `https://lms.acme.example/mod/quiz/view.php?id={cmid}`.
pub const EXAM_CMIDS: [i64; 3] = [301, 302, 303];

// ---------------------------------------------------------------------------
// Data

const DAY: i64 = 86_400;
const SITE_NAME: &str = "Acme Academy";
const FIRST_LEARNER_ID: i64 = 10;
const SERVICE_USER_ID: i64 = 3;

#[derive(Debug, Clone)]
struct User {
    id: i64,
    person: Option<usize>,
    username: String,
    firstname: String,
    lastname: String,
    email: String,
    idnumber: String,
    department: String,
    auth: &'static str,
    suspended: bool,
    firstaccess: i64,
    lastaccess: i64,
}

/// What completes a course.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Criteria {
    /// Completion tracking off.
    Disabled,
    /// Completion on but no criteria: `nocriteriaset`.
    None,
    /// Passing the course's quiz (activity completion) and, optionally,
    /// the course grade.
    PassQuiz { with_grade: bool },
    /// Viewing a page.
    ViewPage,
}

#[derive(Debug, Clone)]
struct Course {
    id: i64,
    shortname: &'static str,
    fullname: &'static str,
    category: i64,
    criteria: Criteria,
    /// Share of learners enrolled, percent (100: everyone).
    enrol_share: u64,
    startdate: i64,
    timemodified: i64,
}

#[derive(Debug, Clone)]
struct Quiz {
    id: i64,
    course: i64,
    cmid: i64,
    name: &'static str,
    /// Maximum quiz grade (the grade item's `grademax`).
    grade: f64,
    /// Raw mark total of the questions.
    sumgrades: f64,
    gradepass: f64,
    attempts_allowed: i64,
    grade_item: i64,
    exam: usize,
}

#[derive(Debug, Clone)]
struct Attempt {
    id: i64,
    quiz: i64,
    user: i64,
    number: i64,
    /// `finished`, `inprogress`, `abandoned`, `submitted`.
    state: &'static str,
    timestart: i64,
    timefinish: i64,
    /// Raw marks; none until finished.
    sumgrades: Option<f64>,
}

#[derive(Debug, Clone)]
struct Enrolment {
    lastaccess: Option<i64>,
    /// Page viewed (for `ViewPage` courses).
    viewed: Option<i64>,
    /// Course completion time (aggregated by cron).
    completed: Option<i64>,
}

/// The functions the mock implements (every one is in the token's service
/// unless removed with [`MockHandle::remove_function`]).
const FUNCTIONS: [&str; 12] = [
    "core_webservice_get_site_info",
    "core_user_get_users",
    "core_user_get_users_by_field",
    "core_course_get_courses",
    "core_enrol_get_users_courses",
    "core_completion_get_course_completion_status",
    "gradereport_user_get_grade_items",
    "mod_quiz_get_quizzes_by_courses",
    "mod_quiz_get_user_best_grade",
    "mod_quiz_get_user_attempts",
    "mod_quiz_get_user_quiz_attempts",
    "core_completion_get_activities_completion_status",
];

struct MockState {
    options: MockOptions,
    clock_offset: i64,
    users: Vec<User>,
    courses: Vec<Course>,
    quizzes: Vec<Quiz>,
    /// (user, course) → enrolment.
    enrolments: BTreeMap<(i64, i64), Enrolment>,
    attempts: Vec<Attempt>,
    tokens: HashMap<String, Option<i64>>,
    service: HashSet<String>,
    fail: (u32, u16),
    throttle: (u32, u64),
    exceptions: (u32, String),
    log: Vec<LoggedCall>,
}

fn catalog(now: i64) -> (Vec<Course>, Vec<Quiz>) {
    let year = now - 400 * DAY;
    let course = |id, shortname, fullname, category, criteria, enrol_share| Course {
        id,
        shortname,
        fullname,
        category,
        criteria,
        enrol_share,
        startdate: year,
        timemodified: year - 10 * DAY,
    };
    let courses = vec![
        course(
            2,
            "SEC-101",
            "信息安全意识 2024",
            3,
            Criteria::PassQuiz { with_grade: true },
            100,
        ),
        course(
            3,
            "CS-201",
            "客户服务规范",
            4,
            Criteria::PassQuiz { with_grade: false },
            70,
        ),
        course(4, "ONB-100", "新员工入职培训", 2, Criteria::ViewPage, 100),
        course(5, "PRD-301", "产品知识 2024", 4, Criteria::None, 60),
        course(6, "LDR-401", "领导力发展", 5, Criteria::Disabled, 20),
    ];
    let quizzes = vec![
        Quiz {
            id: 55,
            course: 2,
            cmid: EXAM_CMIDS[0],
            name: "期末考试",
            grade: 10.0,
            sumgrades: 20.0,
            gradepass: 6.0,
            attempts_allowed: 3,
            grade_item: 90,
            exam: 0,
        },
        Quiz {
            id: 56,
            course: 3,
            cmid: EXAM_CMIDS[1],
            name: "结业测验",
            grade: 100.0,
            sumgrades: 50.0,
            gradepass: 80.0,
            attempts_allowed: 0,
            grade_item: 91,
            exam: 1,
        },
        Quiz {
            id: 57,
            course: 5,
            cmid: EXAM_CMIDS[2],
            name: "产品知识测验",
            grade: 20.0,
            sumgrades: 40.0,
            gradepass: 12.0,
            attempts_allowed: 2,
            grade_item: 92,
            exam: 2,
        },
    ];
    (courses, quizzes)
}

/// Rounds a grade to Moodle's 5 stored decimals.
fn dec5(x: f64) -> f64 {
    (x * 100_000.0).round() / 100_000.0
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
        let (courses, quizzes) = catalog(now);

        let mut users = vec![
            User {
                id: 1,
                person: None,
                username: "guest".into(),
                firstname: "Guest user".into(),
                lastname: " ".into(),
                email: "root@localhost".into(),
                idnumber: String::new(),
                department: String::new(),
                auth: "manual",
                suspended: false,
                firstaccess: 0,
                lastaccess: 0,
            },
            User {
                id: 2,
                person: None,
                username: "admin".into(),
                firstname: "Admin".into(),
                lastname: "User".into(),
                email: "moodle-admin@acme.example".into(),
                idnumber: String::new(),
                department: String::new(),
                auth: "manual",
                suspended: false,
                firstaccess: now - 800 * DAY,
                lastaccess: now - 3 * DAY,
            },
            User {
                id: SERVICE_USER_ID,
                person: None,
                username: "hrhub".into(),
                firstname: "HR".into(),
                lastname: "Hub".into(),
                email: "hrhub@acme.example".into(),
                idnumber: String::new(),
                department: String::new(),
                auth: "webservice",
                suspended: false,
                firstaccess: 0,
                lastaccess: 0,
            },
        ];
        for person in &company.people {
            let i = person.index as u64;
            let q = |salt: u64| mix(seed, i, salt) % 100;
            let family: String = person.name.chars().take(1).collect();
            let given: String = person.name.chars().skip(1).collect();
            let idnumber = match q(50) {
                0..=2 => String::new(), // not filled in by whoever created the account
                3..=4 => full_width_digits(&person.employee_no),
                5 => format!("{} ", person.employee_no),
                _ => person.employee_no.clone(),
            };
            let email = if q(51) < 6 {
                let (local, domain) = person.email.split_once('@').unwrap_or((&person.email, ""));
                format!("{}@{domain}", capitalize_dotted(local))
            } else {
                person.email.clone()
            };
            users.push(User {
                id: FIRST_LEARNER_ID + person.index as i64,
                person: Some(person.index),
                username: person.email.split('@').next().unwrap_or("").to_string(),
                firstname: given,
                lastname: family,
                email,
                idnumber,
                department: person.department.clone(),
                auth: "oidc",
                suspended: false,
                firstaccess: now - (200 + (mix(seed, i, 52) % 300) as i64) * DAY,
                lastaccess: 0,
            });
        }
        for o in company.outsiders(options.outsiders) {
            users.push(User {
                id: FIRST_LEARNER_ID + o.index as i64,
                person: Some(o.index),
                username: o.email.split('@').next().unwrap_or("").to_string(),
                firstname: o.name.chars().skip(1).collect(),
                lastname: o.name.chars().take(1).collect(),
                email: o.email,
                idnumber: String::new(),
                department: String::new(),
                auth: "manual",
                suspended: false,
                firstaccess: now - 90 * DAY,
                lastaccess: 0,
            });
        }

        let mut enrolments = BTreeMap::new();
        let mut attempts = Vec::new();
        let mut attempt_id = 7_000;
        for user in users.iter().filter(|u| u.person.is_some()) {
            let p = user.person.unwrap_or(0);
            let pi = p as u64;
            for course in &courses {
                let quiz = quizzes.iter().find(|q| q.course == course.id);
                let sitting = quiz.and_then(|q| exam_sitting(seed, p, q.exam, history));
                let enrolled = sitting.is_some()
                    || mix(seed, pi, 200 + course.id as u64) % 100 < course.enrol_share;
                if !enrolled {
                    continue;
                }
                let mut e = Enrolment {
                    lastaccess: None,
                    viewed: None,
                    completed: None,
                };
                if let (Some(q), Some((percents, days_ago))) = (quiz, &sitting) {
                    let last_finish = now - days_ago * DAY - (mix(seed, pi, 210) % 28_800) as i64;
                    let n = percents.len() as i64;
                    for (k, pct) in percents.iter().enumerate() {
                        let finish = last_finish - (n - 1 - k as i64) * DAY;
                        attempt_id += 1;
                        attempts.push(Attempt {
                            id: attempt_id,
                            quiz: q.id,
                            user: user.id,
                            number: k as i64 + 1,
                            state: "finished",
                            timestart: finish
                                - 600
                                - (mix(seed, pi, 220 + k as u64) % 1_800) as i64,
                            timefinish: finish,
                            sumgrades: Some(dec5(f64::from(*pct) * q.sumgrades / 100.0)),
                        });
                    }
                    e.lastaccess = Some(last_finish + 60);
                    let best = percents.iter().max().copied().unwrap_or(0);
                    let passed = f64::from(best) * q.grade / 100.0 + 1e-9 >= q.gradepass;
                    if passed && matches!(course.criteria, Criteria::PassQuiz { .. }) {
                        // completion is aggregated by cron, a few minutes later
                        e.completed = Some(last_finish + 300 + (mix(seed, pi, 230) % 900) as i64);
                    }
                } else if mix(seed, pi, 240 + course.id as u64) % 100 < 70 {
                    let seen = now
                        - (1 + (mix(seed, pi, 250 + course.id as u64) % history as u64) as i64)
                            * DAY;
                    e.lastaccess = Some(seen);
                    if course.criteria == Criteria::ViewPage {
                        e.viewed = Some(seen - 120);
                        e.completed = Some(seen + 240);
                    }
                }
                enrolments.insert((user.id, course.id), e);
            }
        }
        // a few attempts still open: started, not submitted
        for user in users.iter().filter(|u| u.person.is_some()) {
            let p = user.person.unwrap_or(0) as u64;
            if mix(seed, p, 260) % 100 < 5 {
                let q = &quizzes[(mix(seed, p, 261) % quizzes.len() as u64) as usize];
                if enrolments.contains_key(&(user.id, q.course)) {
                    let number = attempts
                        .iter()
                        .filter(|a| a.quiz == q.id && a.user == user.id)
                        .count() as i64
                        + 1;
                    attempt_id += 1;
                    attempts.push(Attempt {
                        id: attempt_id,
                        quiz: q.id,
                        user: user.id,
                        number,
                        state: if mix(seed, p, 262) % 2 == 0 {
                            "inprogress"
                        } else {
                            "abandoned"
                        },
                        timestart: now - DAY / 2,
                        timefinish: 0,
                        sumgrades: None,
                    });
                }
            }
        }
        for user in users.iter_mut().filter(|u| u.person.is_some()) {
            user.lastaccess = enrolments
                .range((user.id, 0)..(user.id + 1, 0))
                .filter_map(|(_, e)| e.lastaccess)
                .max()
                .unwrap_or(user.firstaccess);
        }

        let mut tokens = HashMap::new();
        tokens.insert(options.token.clone(), None);
        MockState {
            clock_offset: now - real_now,
            options,
            users,
            courses,
            quizzes,
            enrolments,
            attempts,
            tokens,
            service: FUNCTIONS.iter().map(|f| f.to_string()).collect(),
            fail: (0, 0),
            throttle: (0, 0),
            exceptions: (0, String::new()),
            log: Vec::new(),
        }
    }

    fn now(&self) -> i64 {
        Utc::now().timestamp() + self.clock_offset
    }

    fn user(&self, id: i64) -> Option<&User> {
        self.users.iter().find(|u| u.id == id)
    }

    fn course(&self, id: i64) -> Option<&Course> {
        self.courses.iter().find(|c| c.id == id)
    }

    fn quiz(&self, id: i64) -> Option<&Quiz> {
        self.quizzes.iter().find(|q| q.id == id)
    }

    fn user_of_person(&self, person: usize) -> Option<i64> {
        self.users
            .iter()
            .find(|u| u.person == Some(person))
            .map(|u| u.id)
    }

    /// The quiz grade (per "highest grade") and when it was last set.
    fn best_grade(&self, quiz: &Quiz, user: i64) -> Option<(f64, i64)> {
        let finished: Vec<&Attempt> = self
            .attempts
            .iter()
            .filter(|a| a.quiz == quiz.id && a.user == user && a.state == "finished")
            .collect();
        let best = finished
            .iter()
            .filter_map(|a| a.sumgrades)
            .fold(None, |m: Option<f64>, s| Some(m.map_or(s, |m| m.max(s))))?;
        let when = finished.iter().map(|a| a.timefinish).max().unwrap_or(0);
        Some((dec5(best / quiz.sumgrades * quiz.grade), when))
    }

    fn enrolled_users(&self, course: i64) -> Vec<i64> {
        self.enrolments
            .keys()
            .filter(|(_, c)| *c == course)
            .map(|(u, _)| *u)
            .collect()
    }
}

fn capitalize_dotted(local: &str) -> String {
    local
        .split('.')
        .map(|part| {
            let mut c = part.chars();
            c.next()
                .map(|f| f.to_uppercase().chain(c).collect::<String>())
                .unwrap_or_default()
        })
        .collect::<Vec<_>>()
        .join(".")
}

// ---------------------------------------------------------------------------
// Handle

/// Namespace of [`MockMoodle::start`].
pub struct MockMoodle;

impl MockMoodle {
    /// Generates the site and serves it on `127.0.0.1:<free port>`.
    pub async fn start(options: MockOptions) -> MockHandle {
        let state = Arc::new(Mutex::new(MockState::generate(options)));
        let app = Router::new().fallback(handle).with_state(state.clone());
        let server = MockServer::start("Moodle", app).await;
        MockHandle { server, state }
    }
}

/// A running mock: its URL and its controls. Stops on drop.
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

    /// The valid token ([`MockOptions::token`] unless replaced).
    pub fn token(&self) -> String {
        self.state().options.token.clone()
    }

    /// The virtual clock, Unix seconds.
    pub fn now(&self) -> i64 {
        self.state().now()
    }

    /// Moves the virtual clock forward.
    pub fn advance(&self, secs: i64) {
        self.state().clock_offset += secs;
    }

    /// Makes the token expire (`invalidtoken`, "token expired").
    pub fn expire_token(&self) {
        let mut s = self.state();
        let now = s.now();
        for expiry in s.tokens.values_mut() {
            *expiry = Some(now - 1);
        }
    }

    /// Deletes every token (`invalidtoken`, "token not found") and makes
    /// `token` the valid one.
    pub fn replace_token(&self, token: &str) {
        let mut s = self.state();
        s.tokens.clear();
        s.tokens.insert(token.to_string(), None);
        s.options.token = token.to_string();
    }

    /// Takes `function` out of the token's service (`accessexception`).
    pub fn remove_function(&self, function: &str) {
        self.state().service.remove(function);
    }

    /// The next `n` requests answer HTTP `status` (e.g. 502, 503) with an
    /// HTML body, as a proxy in front of an overloaded site does.
    pub fn fail_next(&self, n: u32, status: u16) {
        self.state().fail = (n, status);
    }

    /// The next `n` requests get 429 with `Retry-After` (a rate-limiting
    /// proxy; Moodle itself has none).
    pub fn throttle_next(&self, n: u32, retry_after_secs: u64) {
        self.state().throttle = (n, retry_after_secs);
    }

    /// The next `n` calls answer the HTTP-200 envelope with `errorcode`
    /// (`sitemaintenance`, `dmlreadexception`, `invalidparameter`, ...).
    pub fn exception_next(&self, n: u32, errorcode: &str) {
        self.state().exceptions = (n, errorcode.to_string());
    }

    /// Every call so far, in arrival order.
    pub fn calls(&self) -> Vec<LoggedCall> {
        self.state().log.clone()
    }

    /// How many calls of `function` arrived so far.
    pub fn count(&self, function: &str) -> usize {
        self.state()
            .log
            .iter()
            .filter(|c| c.function == function)
            .count()
    }

    pub fn clear_calls(&self) {
        self.state().log.clear();
    }

    /// Moodle user ids of the learners (by person index).
    pub fn learner_ids(&self) -> Vec<i64> {
        self.state()
            .users
            .iter()
            .filter(|u| u.person.is_some())
            .map(|u| u.id)
            .collect()
    }

    /// The Moodle user id of person `person`.
    pub fn user_id(&self, person: usize) -> Option<i64> {
        self.state().user_of_person(person)
    }

    /// The quiz id of exam `exam` (an index of [`EXAM_CMIDS`]).
    pub fn quiz_id(&self, exam: usize) -> i64 {
        self.state().quizzes[exam].id
    }

    /// Enrolments (learner × course) on the site.
    pub fn enrolment_count(&self) -> usize {
        self.state().enrolments.len()
    }

    /// (user id, quiz id) of every graded quiz.
    pub fn graded(&self) -> Vec<(i64, i64)> {
        let s = self.state();
        let mut out = Vec::new();
        for q in &s.quizzes {
            for u in s.enrolled_users(q.course) {
                if s.best_grade(q, u).is_some() {
                    out.push((u, q.id));
                }
            }
        }
        out
    }

    /// Person `person` finishes an attempt at exam `exam` now with
    /// `percent`: the attempt, the grade and the course access move to
    /// now; a pass completes a pass-the-quiz course `delay` seconds later
    /// (cron). Enrols the person when needed. Returns (user id, quiz id).
    pub fn take_exam(&self, person: usize, exam: usize, percent: u32, delay: i64) -> (i64, i64) {
        let mut s = self.state();
        let now = s.now();
        let user = s.user_of_person(person).expect("a learner");
        let q = s.quizzes[exam].clone();
        let number = s
            .attempts
            .iter()
            .filter(|a| a.quiz == q.id && a.user == user)
            .count() as i64
            + 1;
        let id = s.attempts.iter().map(|a| a.id).max().unwrap_or(7_000) + 1;
        s.attempts.push(Attempt {
            id,
            quiz: q.id,
            user,
            number,
            state: "finished",
            timestart: now - 900,
            timefinish: now,
            sumgrades: Some(dec5(f64::from(percent) * q.sumgrades / 100.0)),
        });
        let course = s.course(q.course).cloned().expect("quiz course");
        let passed = s
            .best_grade(&q, user)
            .is_some_and(|(g, _)| g + 1e-9 >= q.gradepass);
        let e = s.enrolments.entry((user, q.course)).or_insert(Enrolment {
            lastaccess: None,
            viewed: None,
            completed: None,
        });
        e.lastaccess = Some(now);
        if passed && e.completed.is_none() && matches!(course.criteria, Criteria::PassQuiz { .. }) {
            e.completed = Some(now + delay);
        }
        if let Some(u) = s.users.iter_mut().find(|u| u.id == user) {
            u.lastaccess = now;
        }
        (user, q.id)
    }

    /// Completes course `course` for person `person` with `timecompleted`
    /// = now, without a new access (a teacher's or cron's doing): the
    /// learner last accessed the course `accessed_ago` seconds ago.
    pub fn complete_course(&self, person: usize, course: i64, accessed_ago: i64) -> i64 {
        let mut s = self.state();
        let now = s.now();
        let user = s.user_of_person(person).expect("a learner");
        let e = s.enrolments.entry((user, course)).or_insert(Enrolment {
            lastaccess: None,
            viewed: None,
            completed: None,
        });
        e.lastaccess = Some(now - accessed_ago);
        e.viewed = Some(now - accessed_ago);
        e.completed = Some(now);
        user
    }

    /// Enrols person `person` in `course` (not yet accessed).
    pub fn enrol(&self, person: usize, course: i64) -> i64 {
        let mut s = self.state();
        let user = s.user_of_person(person).expect("a learner");
        s.enrolments.entry((user, course)).or_insert(Enrolment {
            lastaccess: None,
            viewed: None,
            completed: None,
        });
        user
    }
}

// ---------------------------------------------------------------------------
// HTTP

type Shared = Arc<Mutex<MockState>>;

fn json_response(body: &Value) -> Response {
    Response::builder()
        .status(StatusCode::OK)
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from(body.to_string()))
        .expect("valid response")
}

/// An exception as Moodle's REST server renders it: HTTP 200.
fn exception(class: &str, code: &str, message: &str, debuginfo: Option<String>) -> Value {
    let mut e = json!({"exception": class, "errorcode": code, "message": message});
    if let Some(d) = debuginfo {
        e["debuginfo"] = json!(d);
    }
    e
}

fn invalid_parameter(debuginfo: String) -> Value {
    exception(
        "invalid_parameter_exception",
        "invalidparameter",
        "Invalid parameter value detected",
        Some(debuginfo),
    )
}

fn missing_record(table: &str) -> Value {
    exception(
        "dml_missing_record_exception",
        "invalidrecord",
        &format!("Can't find data record in database table {table}."),
        None,
    )
}

async fn handle(State(shared): State<Shared>, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    let body = axum::body::to_bytes(body, 1 << 20)
        .await
        .unwrap_or_default();
    let query: Vec<(String, String)> =
        url::form_urlencoded::parse(parts.uri.query().unwrap_or("").as_bytes())
            .into_owned()
            .collect();
    let is_form = parts
        .headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/x-www-form-urlencoded"));
    let form: Vec<(String, String)> = if parts.method == Method::POST && is_form {
        url::form_urlencoded::parse(&body).into_owned().collect()
    } else {
        Vec::new()
    };
    let token_in_query = query.iter().any(|(k, _)| k == "wstoken");
    // PHP: $_GET + $_POST, POST winning
    let mut merged: Vec<(String, String)> = query;
    for (k, v) in form {
        merged.retain(|(mk, _)| *mk != k);
        merged.push((k, v));
    }
    let take = |name: &str| {
        merged
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
    };
    let function = take("wsfunction").unwrap_or_default();
    let token = take("wstoken");
    let json_format = take("moodlewsrestformat").as_deref() == Some("json");
    let params: Vec<(String, String)> = merged
        .iter()
        .filter(|(k, _)| !matches!(k.as_str(), "wstoken" | "wsfunction" | "moodlewsrestformat"))
        .cloned()
        .collect();

    let mut state = shared.lock().unwrap_or_else(|e| e.into_inner());
    let (response, errorcode) = if parts.uri.path() != "/webservice/rest/server.php" {
        (
            Response::builder()
                .status(StatusCode::NOT_FOUND)
                .header(header::CONTENT_TYPE, "text/html")
                .body(Body::from("<html><body>Not found</body></html>"))
                .expect("valid response"),
            None,
        )
    } else if !matches!(parts.method, Method::GET | Method::POST) {
        (
            Response::builder()
                .status(StatusCode::METHOD_NOT_ALLOWED)
                .body(Body::empty())
                .expect("valid response"),
            None,
        )
    } else if state.fail.0 > 0 {
        state.fail.0 -= 1;
        let status = StatusCode::from_u16(state.fail.1).unwrap_or(StatusCode::SERVICE_UNAVAILABLE);
        (
            Response::builder()
                .status(status)
                .header(header::CONTENT_TYPE, "text/html")
                .body(Body::from(format!(
                    "<html><head><title>{status}</title></head><body><center><h1>{status}</h1></center><hr><center>nginx</center></body></html>"
                )))
                .expect("valid response"),
            None,
        )
    } else if state.throttle.0 > 0 {
        state.throttle.0 -= 1;
        (
            Response::builder()
                .status(StatusCode::TOO_MANY_REQUESTS)
                .header(header::RETRY_AFTER, state.throttle.1)
                .header(header::CONTENT_TYPE, "text/html")
                .body(Body::from(
                    "<html><body><h1>429 Too Many Requests</h1></body></html>",
                ))
                .expect("valid response"),
            None,
        )
    } else {
        let body = state.call(&function, token.as_deref(), &params);
        let errorcode = body
            .get("errorcode")
            .and_then(Value::as_str)
            .filter(|_| body.get("exception").is_some())
            .map(str::to_string);
        let response = if json_format {
            json_response(&body)
        } else {
            // Moodle's default format is XML
            Response::builder()
                .status(StatusCode::OK)
                .header(header::CONTENT_TYPE, "application/xml; charset=utf-8")
                .body(Body::from(
                    "<?xml version=\"1.0\" encoding=\"UTF-8\" ?>\n<RESPONSE>\n</RESPONSE>\n",
                ))
                .expect("valid response")
        };
        (response, errorcode)
    };
    state.log.push(LoggedCall {
        method: parts.method.to_string(),
        function,
        params,
        token_in_query,
        status: response.status().as_u16(),
        errorcode,
        at: Instant::now(),
    });
    response
}

// --- parameter decoding and validation --------------------------------------

/// A decoded parameter: PHP arrays from bracket keys.
#[derive(Debug, Clone, PartialEq)]
enum Node {
    Leaf(String),
    Array(BTreeMap<String, Node>),
}

/// `a[0][key]=v` pairs into a tree, as PHP builds `$_POST`.
fn decode(pairs: &[(String, String)]) -> Result<BTreeMap<String, Node>, String> {
    let mut root: BTreeMap<String, Node> = BTreeMap::new();
    for (key, value) in pairs {
        let (base, rest) = match key.find('[') {
            Some(i) => (&key[..i], &key[i..]),
            None => (key.as_str(), ""),
        };
        let mut path = vec![base.to_string()];
        let mut rest = rest;
        while let Some(stripped) = rest.strip_prefix('[') {
            let Some(end) = stripped.find(']') else { break };
            path.push(stripped[..end].to_string());
            rest = &stripped[end + 1..];
        }
        let mut map = &mut root;
        for (depth, segment) in path.iter().enumerate() {
            if depth == path.len() - 1 {
                map.insert(segment.clone(), Node::Leaf(value.clone()));
                break;
            }
            let entry = map
                .entry(segment.clone())
                .or_insert_with(|| Node::Array(BTreeMap::new()));
            if let Node::Leaf(_) = entry {
                *entry = Node::Array(BTreeMap::new());
            }
            let Node::Array(next) = entry else {
                unreachable!()
            };
            map = next;
        }
    }
    Ok(root)
}

#[derive(Debug, Clone, Copy)]
enum P {
    Int,
    Text,
    Bool,
    List(&'static P),
    Struct(&'static [(&'static str, P, Req)]),
}

#[derive(Debug, Clone, Copy)]
enum Req {
    Required,
    Optional,
    /// Absent: this value.
    Or(&'static str),
}

use Req::*;
use P::*;

const CRITERION: P = Struct(&[("key", Text, Required), ("value", Text, Required)]);
const INT: P = Int;
const TEXT: P = Text;

fn signature(function: &str) -> Option<&'static [(&'static str, P, Req)]> {
    Some(match function {
        "core_webservice_get_site_info" => &[("serviceshortnames", List(&TEXT), Or(""))],
        "core_user_get_users" => &[("criteria", List(&CRITERION), Required)],
        "core_user_get_users_by_field" => {
            &[("field", Text, Required), ("values", List(&TEXT), Required)]
        }
        "core_course_get_courses" => {
            &[("options", Struct(&[("ids", List(&INT), Optional)]), Or(""))]
        }
        "core_enrol_get_users_courses" => &[
            ("userid", Int, Required),
            ("returnusercount", Bool, Or("1")),
        ],
        "core_completion_get_course_completion_status"
        | "core_completion_get_activities_completion_status" => {
            &[("courseid", Int, Required), ("userid", Int, Required)]
        }
        "gradereport_user_get_grade_items" => &[
            ("courseid", Int, Required),
            ("userid", Int, Or("0")),
            ("groupid", Int, Or("0")),
        ],
        "mod_quiz_get_quizzes_by_courses" => &[("courseids", List(&INT), Or(""))],
        "mod_quiz_get_user_best_grade" => &[("quizid", Int, Required), ("userid", Int, Or("0"))],
        "mod_quiz_get_user_attempts" | "mod_quiz_get_user_quiz_attempts" => &[
            ("quizid", Int, Required),
            ("userid", Int, Or("0")),
            ("status", Text, Or("finished")),
            ("includepreviews", Bool, Or("0")),
        ],
        _ => return None,
    })
}

fn validate(
    spec: &'static [(&'static str, P, Req)],
    given: &BTreeMap<String, Node>,
    prefix: &str,
) -> Result<Map<String, Value>, String> {
    let unexpected: Vec<&str> = given
        .keys()
        .filter(|k| !spec.iter().any(|(name, _, _)| name == k))
        .map(String::as_str)
        .collect();
    if !unexpected.is_empty() {
        return Err(format!(
            "{prefix}Unexpected keys ({}) detected in parameter array.",
            unexpected.join(", ")
        ));
    }
    let mut out = Map::new();
    for (name, ty, req) in spec {
        match (given.get(*name), req) {
            (Some(node), _) => {
                out.insert(
                    name.to_string(),
                    value_of(*ty, node, &format!("{prefix}{name} => "))?,
                );
            }
            (None, Required) => {
                return Err(format!(
                    "{prefix}{name} => Invalid parameter value detected (Missing required key in single structure: {name})"
                ))
            }
            (None, Optional) => {}
            (None, Or(d)) => {
                let v = match ty {
                    Int => json!(d.parse::<i64>().unwrap_or(0)),
                    Bool => json!(*d == "1"),
                    Text => json!(d),
                    List(_) => json!([]),
                    Struct(_) => json!({}),
                };
                out.insert(name.to_string(), v);
            }
        }
    }
    Ok(out)
}

fn value_of(ty: P, node: &Node, prefix: &str) -> Result<Value, String> {
    match (ty, node) {
        (Int, Node::Leaf(s)) => s.trim().parse::<i64>().map(|n| json!(n)).map_err(|_| {
            format!(
                "{prefix}Invalid parameter value detected (Invalid external api parameter: the value is \"{s}\", the server was expecting \"int\" type)"
            )
        }),
        (Bool, Node::Leaf(s)) => match s.as_str() {
            "1" | "true" => Ok(json!(true)),
            "0" | "false" | "" => Ok(json!(false)),
            _ => Err(format!(
                "{prefix}Invalid parameter value detected (Invalid external api parameter: the value is \"{s}\", the server was expecting \"bool\" type)"
            )),
        },
        (Text, Node::Leaf(s)) => Ok(json!(s)),
        (List(inner), Node::Array(items)) => {
            let mut entries: Vec<(&String, &Node)> = items.iter().collect();
            entries.sort_by_key(|(k, _)| k.parse::<i64>().unwrap_or(i64::MAX));
            entries
                .into_iter()
                .map(|(k, n)| value_of(*inner, n, &format!("{prefix}{k} => ")))
                .collect::<Result<Vec<_>, _>>()
                .map(Value::Array)
        }
        (Struct(fields), Node::Array(items)) => validate(fields, items, prefix).map(Value::Object),
        (List(_) | Struct(_), Node::Leaf(s)) => Err(format!(
            "{prefix}Invalid parameter value detected (Only arrays accepted. The bad value is: '{s}')"
        )),
        (_, Node::Array(_)) => Err(format!(
            "{prefix}Invalid parameter value detected (Invalid external api parameter: the value is \"Array\", the server was expecting \"scalar\" type)"
        )),
    }
}

// --- functions ---------------------------------------------------------------

fn ts_or_null(t: Option<i64>) -> Value {
    t.filter(|t| *t > 0).map(Value::from).unwrap_or(Value::Null)
}

impl MockState {
    /// One web-service call: token, service, parameters, then the function.
    fn call(&mut self, function: &str, token: Option<&str>, params: &[(String, String)]) -> Value {
        let now = self.now();
        match token.and_then(|t| self.tokens.get(t)) {
            None => {
                return exception(
                    "moodle_exception",
                    "invalidtoken",
                    "Invalid token - token not found",
                    None,
                )
            }
            Some(Some(expiry)) if *expiry < now => {
                return exception(
                    "moodle_exception",
                    "invalidtoken",
                    "Invalid token - token expired - check validuntil time for the token",
                    None,
                )
            }
            Some(_) => {}
        }
        let exists = FUNCTIONS.contains(&function)
            && (function != "mod_quiz_get_user_quiz_attempts"
                || self.options.release == MoodleRelease::V5_0);
        let Some(spec) = signature(function).filter(|_| exists) else {
            return missing_record("external_functions");
        };
        if !self.service.contains(function) {
            return exception(
                "webservice_access_exception",
                "accessexception",
                "Access control exception",
                Some(format!(
                    "Access to the function {function}() is not allowed.\nThere could be multiple reasons for this:\n\
                     1. The service linked to the user token does not contain the function.\n\
                     2. The service is user-restricted and the user is not listed.\n\
                     3. The service is IP-restricted and the user IP is not listed.\n\
                     4. The service is time-restricted and the time has expired.\n\
                     5. The token is time-restricted and the time has expired.\n\
                     6. The user has a Moodle capability that could be missing.\n\
                     7. The function is called with username/password (no user token is sent)\n\
                     and the user is not allowed."
                )),
            );
        }
        if self.exceptions.0 > 0 {
            self.exceptions.0 -= 1;
            let code = self.exceptions.1.clone();
            return match code.as_str() {
                "sitemaintenance" => exception(
                    "moodle_exception",
                    "sitemaintenance",
                    "Site is under maintenance",
                    None,
                ),
                "dmlreadexception" => exception(
                    "dml_read_exception",
                    "dmlreadexception",
                    "Error reading from database",
                    None,
                ),
                "invalidparameter" => invalid_parameter("injected".into()),
                other => exception("moodle_exception", other, "Injected error", None),
            };
        }
        let args = match decode(params).and_then(|tree| validate(spec, &tree, "")) {
            Ok(args) => args,
            Err(debuginfo) => return invalid_parameter(debuginfo),
        };
        let int = |k: &str| args.get(k).and_then(Value::as_i64).unwrap_or(0);
        match function {
            "core_webservice_get_site_info" => self.site_info(),
            "core_user_get_users" => self.get_users(&args["criteria"]),
            "core_user_get_users_by_field" => self.users_by_field(
                args["field"].as_str().unwrap_or(""),
                args["values"].as_array().cloned().unwrap_or_default(),
            ),
            "core_course_get_courses" => self.get_courses(&args["options"]),
            "core_enrol_get_users_courses" => self.users_courses(int("userid")),
            "core_completion_get_course_completion_status" => {
                self.completion_status(int("courseid"), int("userid"))
            }
            "core_completion_get_activities_completion_status" => {
                self.activities_status(int("courseid"), int("userid"))
            }
            "gradereport_user_get_grade_items" => self.grade_items(int("courseid"), int("userid")),
            "mod_quiz_get_quizzes_by_courses" => self.quizzes_by_courses(&args["courseids"]),
            "mod_quiz_get_user_best_grade" => self.user_best_grade(int("quizid"), int("userid")),
            _ => self.user_attempts(
                function,
                int("quizid"),
                int("userid"),
                args["status"].as_str().unwrap_or("finished"),
                args["includepreviews"].as_bool().unwrap_or(false),
            ),
        }
    }

    fn site_info(&self) -> Value {
        let release = self.options.release;
        let functions: Vec<Value> = FUNCTIONS
            .iter()
            .filter(|f| self.service.contains(**f))
            .filter(|f| **f != "mod_quiz_get_user_quiz_attempts" || release == MoodleRelease::V5_0)
            .map(|f| json!({"name": f, "version": release.version()}))
            .collect();
        json!({
            "sitename": SITE_NAME, "username": "hrhub", "firstname": "HR", "lastname": "Hub",
            "fullname": "HR Hub", "lang": "zh_cn", "userid": SERVICE_USER_ID,
            "siteurl": "https://lms.acme.example", "userpictureurl": "https://lms.acme.example/theme/image.php/boost/core/1/u/f1",
            "functions": functions, "downloadfiles": 0, "uploadfiles": 0,
            "release": release.release(), "version": release.version().to_string(),
            "mobilecssurl": "", "advancedfeatures": [{"name": "usecomments", "value": 1}, {"name": "usetags", "value": 1}],
            "usercanmanageownfiles": false, "userquota": 0, "usermaxuploadfilesize": 104857600,
            "userhomepage": 1, "siteid": 1, "sitecalendartype": "gregorian", "usercalendartype": "gregorian",
            "theme": "boost", "limitconcurrentlogins": 0,
        })
    }

    fn user_json(&self, u: &User) -> Value {
        let mut v = json!({
            "id": u.id, "username": u.username, "firstname": u.firstname, "lastname": u.lastname,
            "email": u.email, "auth": u.auth, "suspended": u.suspended, "confirmed": true,
            "lang": "zh_cn", "theme": "", "timezone": "Asia/Shanghai", "mailformat": 1,
            "description": "", "descriptionformat": 1,
            "firstaccess": u.firstaccess, "lastaccess": u.lastaccess,
            "profileimageurlsmall": format!("https://lms.acme.example/theme/image.php/boost/core/1/u/f2?u={}", u.id),
            "profileimageurl": format!("https://lms.acme.example/theme/image.php/boost/core/1/u/f1?u={}", u.id),
        });
        if u.person.is_some() {
            // zh_cn's fullnamedisplay: family name first, no space
            v["fullname"] = json!(format!("{}{}", u.lastname, u.firstname));
            v["city"] = json!("上海");
            v["country"] = json!("CN");
            v["customfields"] =
                json!([{"type": "text", "value": "CN-SH", "name": "Site", "shortname": "site"}]);
        } else {
            v["fullname"] = json!(format!("{} {}", u.firstname, u.lastname).trim().to_string());
        }
        // Moodle leaves out empty profile fields
        if !u.idnumber.is_empty() {
            v["idnumber"] = json!(u.idnumber);
        }
        if !u.department.is_empty() {
            v["department"] = json!(u.department);
            v["institution"] = json!("ACME");
        }
        v
    }

    fn get_users(&self, criteria: &Value) -> Value {
        let mut warnings = Vec::new();
        let mut used = HashSet::new();
        let mut filters: Vec<(String, String)> = Vec::new();
        for c in criteria.as_array().into_iter().flatten() {
            let key = c["key"].as_str().unwrap_or("").to_string();
            let value = c["value"].as_str().unwrap_or("").to_string();
            if !used.insert(key.clone()) {
                return exception(
                    "moodle_exception",
                    "keyalreadyset",
                    "error/keyalreadyset",
                    Some(format!("The key {key} can only be sent once")),
                );
            }
            if matches!(
                key.as_str(),
                "id" | "lastname" | "firstname" | "idnumber" | "username" | "email" | "auth"
            ) {
                filters.push((key, value));
            } else {
                warnings.push(json!({"item": key, "warningcode": "invalidfieldparameter",
                    "message": format!("The search key '{key}' is not supported, look at the web service documentation")}));
            }
        }
        if !warnings.is_empty() {
            return json!({"users": [], "warnings": warnings});
        }
        let users: Vec<Value> = self
            .users
            .iter()
            .filter(|u| {
                filters.iter().all(|(k, pattern)| {
                    let field = match k.as_str() {
                        "id" => u.id.to_string(),
                        "lastname" => u.lastname.clone(),
                        "firstname" => u.firstname.clone(),
                        "idnumber" => u.idnumber.clone(),
                        "username" => u.username.clone(),
                        "email" => u.email.clone(),
                        _ => u.auth.to_string(),
                    };
                    like(&field, pattern)
                })
            })
            .map(|u| self.user_json(u))
            .collect();
        json!({"users": users, "warnings": []})
    }

    fn users_by_field(&self, field: &str, values: Vec<Value>) -> Value {
        if !matches!(field, "id" | "idnumber" | "username" | "email") {
            return invalid_parameter("Field not allowed".into());
        }
        let wanted: HashSet<String> = values
            .iter()
            .filter_map(|v| v.as_str().map(str::to_string))
            .collect();
        Value::Array(
            self.users
                .iter()
                .filter(|u| {
                    let v = match field {
                        "id" => u.id.to_string(),
                        "idnumber" => u.idnumber.clone(),
                        "username" => u.username.clone(),
                        _ => u.email.clone(),
                    };
                    !v.is_empty()
                        && (wanted.contains(&v)
                            || (field == "email"
                                && wanted.iter().any(|w| w.eq_ignore_ascii_case(&v))))
                })
                .map(|u| self.user_json(u))
                .collect(),
        )
    }

    fn course_json(&self, c: &Course) -> Value {
        json!({
            "id": c.id, "shortname": c.shortname, "categoryid": c.category, "categorysortorder": 10_000 * c.category,
            "fullname": c.fullname, "displayname": c.fullname, "idnumber": format!("{}-2024", c.shortname),
            "summary": "", "summaryformat": 1, "format": "topics", "showgrades": 1, "newsitems": 5,
            "startdate": c.startdate, "enddate": 0, "numsections": 4, "maxbytes": 0, "showreports": 0,
            "visible": 1, "groupmode": 0, "groupmodeforce": 0, "defaultgroupingid": 0,
            "timecreated": c.timemodified - 30 * DAY, "timemodified": c.timemodified,
            "enablecompletion": i64::from(c.criteria != Criteria::Disabled), "completionnotify": 0,
            "lang": "", "forcetheme": "", "courseformatoptions": [{"name": "hiddensections", "value": 0}],
            "showactivitydates": true, "showcompletionconditions": true,
        })
    }

    fn get_courses(&self, options: &Value) -> Value {
        let ids: Option<Vec<i64>> = options
            .get("ids")
            .and_then(Value::as_array)
            .map(|ids| ids.iter().filter_map(Value::as_i64).collect());
        let mut out = Vec::new();
        if ids.as_ref().is_none_or(|ids| ids.contains(&1)) {
            out.push(json!({"id": 1, "shortname": "acme", "categoryid": 0, "fullname": SITE_NAME,
                "displayname": SITE_NAME, "idnumber": "", "summary": "", "summaryformat": 1, "format": "site",
                "startdate": 0, "enddate": 0, "visible": 1, "timecreated": 0, "timemodified": 0,
                "enablecompletion": 0}));
        }
        for c in &self.courses {
            if ids.as_ref().is_none_or(|ids| ids.contains(&c.id)) {
                out.push(self.course_json(c));
            }
        }
        Value::Array(out)
    }

    /// Completion progress of an enrolment, percent (null with completion off).
    fn progress(&self, c: &Course, user: i64, e: &Enrolment) -> Value {
        match c.criteria {
            Criteria::Disabled => Value::Null,
            _ if e.completed.is_some() => json!(100),
            Criteria::ViewPage => json!(if e.viewed.is_some() { 100 } else { 0 }),
            _ => {
                let quiz = self.quizzes.iter().find(|q| q.course == c.id);
                let graded = quiz.is_some_and(|q| self.best_grade(q, user).is_some());
                json!(if graded {
                    50
                } else if e.lastaccess.is_some() {
                    25
                } else {
                    0
                })
            }
        }
    }

    fn users_courses(&self, user: i64) -> Value {
        let mut out = Vec::new();
        for ((u, course), e) in &self.enrolments {
            if *u != user {
                continue;
            }
            let Some(c) = self.course(*course) else {
                continue;
            };
            let completed = e.completed.is_some_and(|t| t <= self.now());
            let mut v = self.course_json(c);
            let obj = v.as_object_mut().expect("object");
            for k in [
                "categorysortorder",
                "newsitems",
                "numsections",
                "maxbytes",
                "showreports",
                "groupmode",
                "groupmodeforce",
                "defaultgroupingid",
                "timecreated",
                "courseformatoptions",
                "forcetheme",
                "completionnotify",
                "categoryid",
            ] {
                obj.remove(k);
            }
            obj.insert("category".into(), json!(c.category));
            obj.insert(
                "enablecompletion".into(),
                json!(c.criteria != Criteria::Disabled),
            );
            obj.insert(
                "completionhascriteria".into(),
                json!(!matches!(c.criteria, Criteria::Disabled | Criteria::None)),
            );
            obj.insert("completionusertracked".into(), json!(true));
            obj.insert("progress".into(), self.progress(c, user, e));
            obj.insert("completed".into(), json!(completed));
            obj.insert("marker".into(), json!(0));
            obj.insert("lastaccess".into(), ts_or_null(e.lastaccess));
            obj.insert("isfavourite".into(), json!(false));
            obj.insert("hidden".into(), json!(false));
            obj.insert("overviewfiles".into(), json!([]));
            obj.insert("showgrades".into(), json!(true));
            out.push(v);
        }
        Value::Array(out)
    }

    fn completion_status(&self, course: i64, user: i64) -> Value {
        let Some(c) = self.course(course) else {
            return missing_record("course");
        };
        if self.user(user).is_none() {
            return missing_record("user");
        }
        if c.criteria == Criteria::Disabled {
            return exception(
                "moodle_exception",
                "completionnotenabled",
                "Completion is not enabled for this course",
                None,
            );
        }
        let Some(e) = self.enrolments.get(&(user, course)) else {
            return exception(
                "moodle_exception",
                "usernotenroled",
                "User is not enrolled in this course",
                None,
            );
        };
        let now = self.now();
        let done = e.completed.filter(|t| *t <= now);
        let mut criteria = Vec::new();
        match c.criteria {
            Criteria::Disabled | Criteria::None => {
                return exception(
                    "moodle_exception",
                    "nocriteriaset",
                    "No completion criteria set for this course",
                    None,
                )
            }
            Criteria::ViewPage => {
                let complete = e.viewed.is_some();
                criteria.push(json!({"type": 4, "title": "Activity completion",
                    "status": if complete { "Yes" } else { "No" }, "complete": complete,
                    "timecompleted": ts_or_null(e.viewed),
                    "details": {"type": "Activity completion", "criteria": "Page: 员工手册",
                        "requirement": "Viewing", "status": ""}}));
            }
            Criteria::PassQuiz { with_grade } => {
                let quiz = self.quizzes.iter().find(|q| q.course == c.id);
                let best = quiz.and_then(|q| self.best_grade(q, user));
                let passed_at = quiz
                    .zip(best)
                    .filter(|(q, (g, _))| *g + 1e-9 >= q.gradepass)
                    .map(|(_, (_, t))| t);
                criteria.push(json!({"type": 4, "title": "Activity completion",
                    "status": if passed_at.is_some() { "Yes" } else { "No" }, "complete": passed_at.is_some(),
                    "timecompleted": ts_or_null(passed_at),
                    "details": {"type": "Activity completion",
                        "criteria": format!("Quiz: {}", quiz.map(|q| q.name).unwrap_or("")),
                        "requirement": "Receive a pass grade", "status": ""}}));
                if with_grade {
                    let q = quiz.expect("a graded course has a quiz");
                    let course_grade = best.map(|(g, _)| g / q.grade * 100.0);
                    let pass = q.gradepass / q.grade * 100.0;
                    let met = course_grade.is_some_and(|g| g + 1e-9 >= pass);
                    criteria.push(json!({"type": 6, "title": "Course grade",
                        "status": if met { "Yes" } else { "No" }, "complete": met,
                        "timecompleted": ts_or_null(passed_at.filter(|_| met)),
                        "details": {"type": "Course grade", "criteria": "Course grade",
                            "requirement": format!("Achieving grade {pass:.2}"),
                            "status": course_grade.map(|g| format!("{g:.2}")).unwrap_or_default()}}));
                }
            }
        }
        // cron has not aggregated yet: the criteria may be met, the course not
        json!({"completionstatus": {"completed": done.is_some(), "aggregation": 1, "completions": criteria},
               "warnings": []})
    }

    fn activities_status(&self, course: i64, user: i64) -> Value {
        if self.course(course).is_none() {
            return missing_record("course");
        }
        let statuses: Vec<Value> = self
            .quizzes
            .iter()
            .filter(|q| q.course == course)
            .map(|q| {
                let best = self.best_grade(q, user);
                let state = match best {
                    None => 0,
                    Some((g, _)) if g + 1e-9 >= q.gradepass => 2,
                    Some(_) => 3,
                };
                json!({"cmid": q.cmid, "modname": "quiz", "instance": q.id, "state": state,
                       "timecompleted": best.map(|(_, t)| t).unwrap_or(0), "tracking": 2,
                       "valueused": true, "hascompletion": true, "isautomatic": true,
                       "istrackeduser": true, "uservisible": true, "details": []})
            })
            .collect();
        json!({"statuses": statuses, "warnings": []})
    }

    fn grade_items(&self, course: i64, only_user: i64) -> Value {
        let Some(c) = self.course(course) else {
            return missing_record("course");
        };
        let mut users = self.enrolled_users(course);
        if only_user != 0 {
            if !users.contains(&only_user) {
                return exception(
                    "moodle_exception",
                    "notenrolled",
                    "The user is not enrolled in this course",
                    None,
                );
            }
            users = vec![only_user];
        }
        let quizzes: Vec<&Quiz> = self.quizzes.iter().filter(|q| q.course == course).collect();
        let usergrades: Vec<Value> = users
            .iter()
            .filter_map(|u| self.user(*u))
            .map(|u| {
                let mut items = Vec::new();
                let mut total: Option<(f64, f64, i64)> = None;
                for q in &quizzes {
                    let best = self.best_grade(q, u.id);
                    let pct = best.map(|(g, _)| g / q.grade * 100.0);
                    items.push(json!({
                        "id": q.grade_item, "itemname": q.name, "itemtype": "mod", "itemmodule": "quiz",
                        "iteminstance": q.id, "itemnumber": 0, "idnumber": "", "categoryid": 20 + c.id,
                        "outcomeid": null, "scaleid": null, "locked": false, "cmid": q.cmid,
                        "weightraw": 1, "weightformatted": "100.00 %",
                        "graderaw": best.map(|(g, _)| g),
                        "gradedatesubmitted": best.map(|(_, t)| t),
                        "gradedategraded": best.map(|(_, t)| t),
                        "gradehiddenbydate": false, "gradeneedsupdate": false, "gradeishidden": false,
                        "gradeislocked": false, "gradeisoverridden": false,
                        "gradeformatted": best.map(|(g, _)| format!("{g:.2}")).unwrap_or_else(|| "-".into()),
                        "grademin": 0, "grademax": q.grade,
                        "rangeformatted": format!("0.00–{:.2}", q.grade),
                        "percentageformatted": pct.map(|p| format!("{p:.2} %")).unwrap_or_else(|| "-".into()),
                        "feedback": "", "feedbackformat": 0,
                    }));
                    if let Some((g, t)) = best {
                        total = Some((g, q.grade, t));
                    }
                }
                items.push(json!({
                    "id": 80 + c.id, "itemname": null, "itemtype": "course", "itemmodule": null,
                    "iteminstance": c.id, "itemnumber": null, "idnumber": "", "categoryid": null,
                    "outcomeid": null, "scaleid": null, "locked": false,
                    "graderaw": total.map(|(g, m, _)| g / m * 100.0),
                    "gradedatesubmitted": null, "gradedategraded": total.map(|(_, _, t)| t),
                    "gradeformatted": total.map(|(g, m, _)| format!("{:.2}", g / m * 100.0)).unwrap_or_else(|| "-".into()),
                    "grademin": 0, "grademax": 100,
                    "percentageformatted": total.map(|(g, m, _)| format!("{:.2} %", g / m * 100.0)).unwrap_or_else(|| "-".into()),
                    "feedbackformat": 0,
                }));
                json!({"courseid": course, "courseidnumber": format!("{}-2024", c.shortname),
                       "userid": u.id, "userfullname": format!("{}{}", u.lastname, u.firstname),
                       "useridnumber": u.idnumber, "maxdepth": 2, "gradeitems": items})
            })
            .collect();
        json!({"usergrades": usergrades, "warnings": []})
    }

    fn quizzes_by_courses(&self, courseids: &Value) -> Value {
        let ids: Vec<i64> = courseids
            .as_array()
            .map(|a| a.iter().filter_map(Value::as_i64).collect())
            .unwrap_or_default();
        let mut warnings = Vec::new();
        for id in &ids {
            if self.course(*id).is_none() && *id != 1 {
                warnings.push(json!({"item": "course", "itemid": id, "warningcode": "1",
                    "message": "No access rights in course context"}));
            }
        }
        let quizzes: Vec<Value> = self
            .quizzes
            .iter()
            .filter(|q| ids.is_empty() || ids.contains(&q.course))
            .map(|q| {
                let mut v = json!({"id": q.id, "course": q.course, "coursemodule": q.cmid, "name": q.name,
                       "intro": "", "introformat": 1, "introfiles": [], "timeopen": 0, "timeclose": 0,
                       "timelimit": 1800, "overduehandling": "autosubmit", "graceperiod": 0,
                       "preferredbehaviour": "deferredfeedback", "canredoquestions": 0,
                       "attempts": q.attempts_allowed, "attemptonlast": 0, "grademethod": 1,
                       "decimalpoints": 2, "questiondecimalpoints": -1, "reviewattempt": 69888,
                       "questionsperpage": 1, "navmethod": "free", "shuffleanswers": 1,
                       "sumgrades": q.sumgrades, "grade": q.grade});
                let more = json!({"timecreated": 0, "timemodified": 0,
                       "password": "", "subnet": "", "browsersecurity": "-", "delay1": 0, "delay2": 0,
                       "showuserpicture": 0, "showblocks": 0, "completionattemptsexhausted": 0,
                       "completionpass": 1, "allowofflineattempts": 0, "autosaveperiod": 60,
                       "hasfeedback": 0, "hasquestions": 1, "section": 1, "visible": true,
                       "groupmode": 0, "groupingid": 0, "lang": ""});
                if let (Value::Object(v), Value::Object(more)) = (&mut v, more) {
                    v.extend(more);
                }
                v
            })
            .collect();
        json!({"quizzes": quizzes, "warnings": warnings})
    }

    fn user_best_grade(&self, quiz: i64, user: i64) -> Value {
        let Some(q) = self.quiz(quiz) else {
            return missing_record("quiz");
        };
        let user = if user == 0 { SERVICE_USER_ID } else { user };
        let mut v = match self.best_grade(q, user) {
            Some((g, _)) => json!({"hasgrade": true, "grade": g}),
            None => json!({"hasgrade": false}),
        };
        v["gradetopass"] = json!(q.gradepass);
        v["warnings"] = json!([]);
        v
    }

    fn user_attempts(
        &self,
        function: &str,
        quiz: i64,
        user: i64,
        status: &str,
        include_previews: bool,
    ) -> Value {
        let Some(q) = self.quiz(quiz) else {
            return missing_record("quiz");
        };
        if !matches!(status, "all" | "finished" | "unfinished") {
            return invalid_parameter(format!(
                "status => Invalid parameter value detected (Invalid status value: {status})"
            ));
        }
        let user = if user == 0 { SERVICE_USER_ID } else { user };
        let deprecated = function == "mod_quiz_get_user_attempts";
        let _ = include_previews; // the mock has no previews
        let attempts: Vec<Value> = self
            .attempts
            .iter()
            .filter(|a| a.quiz == q.id && a.user == user)
            .filter(|a| {
                let finished = matches!(a.state, "finished" | "abandoned" | "submitted");
                match status {
                    "finished" => finished,
                    "unfinished" => !finished,
                    _ => true,
                }
            })
            .map(|a| {
                // the deprecated function reports `submitted` as `finished`
                let state = if deprecated && a.state == "submitted" { "finished" } else { a.state };
                json!({"id": a.id, "quiz": a.quiz, "userid": a.user, "attempt": a.number,
                       "uniqueid": 80_000 + a.id, "layout": "1,2,3,4,0", "currentpage": 0, "preview": 0,
                       "state": state, "timestart": a.timestart, "timefinish": a.timefinish,
                       "timemodified": a.timefinish.max(a.timestart), "timemodifiedoffline": 0,
                       "timecheckstate": null, "sumgrades": a.sumgrades,
                       "gradednotificationsenttime": if a.state == "finished" { json!(a.timefinish) } else { Value::Null }})
            })
            .collect();
        json!({"attempts": attempts, "warnings": []})
    }
}

/// SQL `LIKE` with `%` (any run) and `_` (one character), case-insensitive.
fn like(value: &str, pattern: &str) -> bool {
    fn go(v: &[char], p: &[char]) -> bool {
        match p.split_first() {
            None => v.is_empty(),
            Some(('%', rest)) => (0..=v.len()).any(|i| go(&v[i..], rest)),
            Some(('_', rest)) => !v.is_empty() && go(&v[1..], rest),
            Some((c, rest)) => v.first().is_some_and(|x| x == c) && go(&v[1..], rest),
        }
    }
    let v: Vec<char> = value.to_lowercase().chars().collect();
    let p: Vec<char> = pattern.to_lowercase().chars().collect();
    go(&v, &p)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_php_arrays_and_validates_like_moodle() {
        let pairs = |list: &[(&str, &str)]| -> Vec<(String, String)> {
            list.iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect()
        };
        let tree = decode(&pairs(&[
            ("criteria[0][key]", "email"),
            ("criteria[0][value]", "%"),
            ("criteria[1][key]", "auth"),
            ("criteria[1][value]", "oidc"),
        ]))
        .unwrap();
        let args = validate(signature("core_user_get_users").unwrap(), &tree, "").unwrap();
        assert_eq!(
            args["criteria"],
            json!([{"key": "email", "value": "%"}, {"key": "auth", "value": "oidc"}])
        );
        let spec = signature("mod_quiz_get_quizzes_by_courses").unwrap();
        let err =
            validate(spec, &decode(&pairs(&[("courseids", "2,3")])).unwrap(), "").unwrap_err();
        assert!(err.contains("Only arrays accepted"), "{err}");
        let args = validate(
            spec,
            &decode(&pairs(&[("courseids[1]", "3"), ("courseids[0]", "2")])).unwrap(),
            "",
        )
        .unwrap();
        assert_eq!(args["courseids"], json!([2, 3]));
        let spec = signature("core_enrol_get_users_courses").unwrap();
        let err = validate(spec, &decode(&pairs(&[("userid", "x")])).unwrap(), "").unwrap_err();
        assert!(err.contains("expecting \"int\""), "{err}");
        let err = validate(spec, &decode(&pairs(&[])).unwrap(), "").unwrap_err();
        assert!(err.contains("Missing required key"), "{err}");
        let err = validate(
            spec,
            &decode(&pairs(&[("userid", "1"), ("foo", "1")])).unwrap(),
            "",
        )
        .unwrap_err();
        assert!(err.contains("Unexpected keys (foo)"), "{err}");
        let args = validate(spec, &decode(&pairs(&[("userid", "7")])).unwrap(), "").unwrap();
        assert_eq!(args["returnusercount"], json!(true));
    }

    #[test]
    fn like_matches_sql_style() {
        assert!(like("wei.wang@acme.example", "%"));
        assert!(like("Wei.Wang@ACME.example", "%@acme.example"));
        assert!(like("oidc", "oidc"));
        assert!(!like("manual", "oidc"));
        assert!(like("abc", "a_c"));
    }

    #[test]
    fn exam_sittings_are_deterministic_and_end_with_the_best() {
        let mut sat = 0;
        for p in 0..200 {
            for e in 0..3 {
                let a = exam_sitting(7, p, e, 120);
                assert_eq!(a, exam_sitting(7, p, e, 120));
                if let Some((pcts, days)) = a {
                    sat += 1;
                    assert!((1..=3).contains(&pcts.len()));
                    assert_eq!(pcts.iter().max(), pcts.last());
                    assert!((1..=120).contains(&days), "{days}");
                    assert!(pcts.iter().all(|p| *p <= 100));
                }
            }
        }
        assert!(sat > 400 && sat < 600, "{sat}");
    }

    #[test]
    fn generation_is_deterministic_and_quirky() {
        let opts = MockOptions {
            now: Some(1_750_000_000),
            learners: 200,
            ..MockOptions::default()
        };
        let a = MockState::generate(opts.clone());
        let b = MockState::generate(opts);
        assert_eq!(a.users_courses(12), b.users_courses(12));
        let learners: Vec<&User> = a.users.iter().filter(|u| u.person.is_some()).collect();
        assert_eq!(learners.len(), 200);
        assert!(learners.iter().any(|u| u.idnumber.is_empty()));
        assert!(learners
            .iter()
            .any(|u| u.idnumber.contains('１') || u.idnumber.contains('０')));
        assert!(learners
            .iter()
            .any(|u| u.email.chars().any(char::is_uppercase)));
        // a few pass, a few fail CS-201's high bar
        let q = &a.quizzes[1];
        let grades: Vec<f64> = learners
            .iter()
            .filter_map(|u| a.best_grade(q, u.id).map(|(g, _)| g))
            .collect();
        assert!(grades.iter().any(|g| *g >= 80.0) && grades.iter().any(|g| *g < 80.0));
        assert!(a.attempts.iter().any(|x| x.state != "finished"));
    }
}
