//! A Zendesk Support mock server for tests, `hrhub demo` and benchmarks.
//!
//! It serves the endpoints the connector uses, over real HTTP on
//! 127.0.0.1, as `shared/reference/zendesk.md` describes Zendesk: both
//! auth schemes, the OAuth token endpoint with rotation, cursor-based
//! incremental exports that hide the last minute, cursor-paginated lists,
//! rate-limit headers and both 429 bodies. Data is synthetic and
//! deterministic for a seed and a start time; tickets are compact structs
//! rendered to JSON only when a page is served, so a million is cheap.
//!
//! The data clock is virtual (`now = real now + offset`, moved by
//! [`MockHandle::advance`]) so tests need not wait out the one-minute
//! export delay; rate-limit windows run on real time.

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{header, HeaderMap, Method, StatusCode};
use axum::response::Response;
use axum::Router;
use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use chrono::{DateTime, SecondsFormat, Utc};
use hrhub_connector::mock_server::{with_fault, FaultPlan, MockServer, TransportFault};
use hrhub_connector::synthetic::mix;
use hrhub_connector::synthetic::{Company, Platform};
use serde_json::{json, Value};
use std::collections::{BTreeSet, HashMap};
use std::ops::Bound;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// What the mock account holds and accepts.
#[derive(Debug, Clone)]
pub struct MockOptions {
    /// Same seed (and `now`), same data.
    pub seed: u64,
    /// Tickets generated at start (ids 1..=N).
    pub tickets: usize,
    /// Agents (role `agent`, every 7th `admin`), besides the admin user.
    pub agents: usize,
    /// End users (ticket requesters).
    pub end_users: usize,
    /// Tickets are created over this many days before `now`.
    pub history_days: i64,
    /// The virtual clock's start (Unix seconds); default: real now.
    pub now: Option<i64>,
    /// The admin user's e-mail: the API token and OAuth clients act as them.
    pub email: String,
    /// The valid API token.
    pub api_token: String,
    pub client_id: String,
    pub client_secret: String,
    /// `expires_in` of issued access tokens; `None`: tokens never expire.
    pub token_expires_in: Option<u64>,
    /// A synthetic company whose people are the staff: one user per
    /// person (its Zendesk account: id, English name, e-mail and phone as
    /// the company renders them, the 工号 in the `employee_no` user field
    /// and in `external_id`; a few agents have the user field empty).
    /// Person 0 is the admin the API token and OAuth clients act as (see
    /// [`MockHandle::admin_email`]); every 7th person is an admin, the
    /// rest agents. `agents` and `email` are then unused; end users and
    /// tickets (assigned to these people) are generated as usual.
    /// `None`: the built-in agents.
    pub company: Option<Arc<Company>>,
}

impl Default for MockOptions {
    fn default() -> Self {
        MockOptions {
            seed: 42,
            tickets: 1_000,
            agents: 20,
            end_users: 200,
            history_days: 365,
            now: None,
            email: "admin@acme.example".into(),
            api_token: "mock-api-token".into(),
            client_id: "hrhub".into(),
            client_secret: "mock-client-secret".into(),
            token_expires_in: Some(7_200),
            company: None,
        }
    }
}

/// One request as the mock saw it.
#[derive(Debug, Clone)]
pub struct LoggedRequest {
    pub method: String,
    /// As sent, e.g. `/api/v2/incremental/tickets/cursor.json`.
    pub path: String,
    /// The raw (percent-encoded) query string.
    pub query: Option<String>,
    /// The status the mock answered.
    pub status: u16,
    /// When it arrived (real time).
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

/// Namespace of [`MockZendesk::start`].
pub struct MockZendesk;

impl MockZendesk {
    /// Generates the data and serves it on `127.0.0.1:<free port>`.
    pub async fn start(options: MockOptions) -> MockHandle {
        let state = Arc::new(Mutex::new(MockState::generate(options)));
        let app = Router::new().fallback(handle).with_state(state.clone());
        let server = MockServer::start("Zendesk", app).await;
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
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        // every change to the data comes through here
        state.rendered.clear();
        state
    }

    /// Renders every ticket's export text now, as a platform has its data
    /// ready: benchmarks call this so that the mock's own rendering is not
    /// counted in the hub's time (any later change clears it).
    pub fn prerender(&self) {
        let base = self.base_url();
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        let ids: Vec<u64> = state.tickets.iter().map(|t| t.id).collect();
        for chunk in ids.chunks(1_000) {
            state.rendered_tickets(chunk, &base, true);
        }
    }

    /// Stops serving and waits (briefly) for the server task to end.
    pub async fn shutdown(self) {
        self.server.shutdown().await;
    }

    /// The e-mail of the admin user the API token belongs to
    /// ([`MockOptions::email`], or person 0's with a company).
    pub fn admin_email(&self) -> String {
        self.state().users[0].email.clone()
    }

    /// The virtual clock, Unix seconds.
    pub fn now(&self) -> i64 {
        self.state().now()
    }

    /// Moves the virtual clock forward (e.g. past the export's one-minute delay).
    pub fn advance(&self, secs: i64) {
        let mut s = self.state();
        s.clock_offset += secs;
        if let Some(frozen) = &mut s.frozen_at {
            *frozen += secs;
        }
    }

    /// Stops the virtual clock at its current second (only `advance` moves
    /// it), so later writes share a timestamp with earlier ones.
    pub fn freeze_clock(&self) {
        let mut s = self.state();
        s.frozen_at = Some(s.now());
    }

    /// Deletes tickets: the incremental export then shows them with status
    /// `deleted` at the virtual now, as Zendesk does.
    pub fn delete_tickets(&self, ids: &[u64]) {
        let mut s = self.state();
        for &id in ids {
            if s.ticket(id).is_some() {
                s.tickets[id as usize - 1].status = 6;
                s.bump(id);
            }
        }
    }

    /// Updates `n` tickets (not closed): next status, `updated_at` and
    /// `generated_timestamp` = virtual now. Returns their ids.
    pub fn touch_tickets(&self, n: usize) -> Vec<u64> {
        self.state().touch_tickets(n)
    }

    /// The ids of the tickets an export cursor has passed (everything a
    /// sync holding this cursor must have committed). `None` for a cursor
    /// the mock did not issue.
    pub fn tickets_passed(&self, cursor: &str) -> Option<Vec<u64>> {
        let position = decode_position(cursor)?;
        let s = self.state();
        Some(
            s.ticket_order
                .range(..=position)
                .map(|&(_, id)| id)
                .collect(),
        )
    }

    /// Creates `n` new tickets now. Returns their ids.
    pub fn add_tickets(&self, n: usize) -> Vec<u64> {
        self.state().add_tickets(n)
    }

    /// Makes ticket `id`'s payload unmappable (`created_at: "not a date"`)
    /// and re-exports it. False when there is no such ticket.
    pub fn corrupt_ticket(&self, id: u64) -> bool {
        self.state().corrupt_ticket(id)
    }

    /// Rates `n` solved tickets that have no rating yet, created now.
    /// Returns the rating ids.
    pub fn add_ratings(&self, n: usize) -> Vec<u64> {
        self.state().add_ratings(n)
    }

    /// Flips the score of the `n` most recently created good/bad ratings
    /// (`updated_at` = now, `created_at` unchanged). Returns their ids.
    pub fn change_ratings(&self, n: usize) -> Vec<u64> {
        self.state().change_ratings(n)
    }

    /// The account limit per real minute (429 beyond it); `None`: unlimited.
    pub fn set_rate_limit(&self, per_minute: Option<u32>) {
        self.state().account.per_minute = per_minute;
    }

    /// The incremental-export limit per real minute; `None`: unlimited.
    pub fn set_incremental_rate_limit(&self, per_minute: Option<u32>) {
        self.state().incremental.per_minute = per_minute;
    }

    /// The next `n` API requests get 429 with `Retry-After: retry_after_secs`.
    pub fn throttle_next(&self, n: u32, retry_after_secs: u64) {
        self.state().throttle = (n, retry_after_secs);
    }

    /// After `skip` more requests, the next `count` get `fault` (a hang
    /// or a connection cut mid-body) instead of a normal answer.
    pub fn transport_fault(&self, fault: TransportFault, skip: u32, count: u32) {
        self.state().transport.arm(fault, skip, count);
    }

    /// The next `n` API requests answer `status` (e.g. 500, 503, 401).
    pub fn fail_next(&self, n: u32, status: u16) {
        self.fail_after(0, n, status);
    }

    /// After `skip` more API requests, the next `n` answer `status` (e.g. a
    /// token revoked in the middle of a sync: 401 from then on).
    pub fn fail_after(&self, skip: u32, n: u32, status: u16) {
        self.state().fail = (skip, n, status);
    }

    /// Invalidates every access and refresh token and the API token.
    /// Client-credentials grants still work (the OAuth client exists).
    pub fn revoke_tokens(&self) {
        let mut s = self.state();
        s.access_tokens.clear();
        s.refresh_tokens.clear();
        s.api_token = None;
    }

    /// Sets the valid API token (e.g. after [`MockHandle::revoke_tokens`]).
    pub fn set_api_token(&self, token: &str) {
        self.state().api_token = Some(token.to_string());
    }

    /// A valid refresh token, as an authorization-code flow at setup would give.
    pub fn issue_refresh_token(&self) -> String {
        let mut s = self.state();
        s.token_counter += 1;
        let token = format!("mock-rt-{}", s.token_counter);
        s.refresh_tokens.insert(token.clone(), None);
        token
    }

    /// `expires_in` of tokens issued from now on; `None`: no expiry.
    pub fn set_token_expires_in(&self, secs: Option<u64>) {
        self.state().options.token_expires_in = secs;
    }

    /// Changes the admin user's role (`agent` makes `check` fail and
    /// admin-only endpoints answer 403).
    pub fn set_me_role(&self, role: &str) {
        let mut s = self.state();
        let now = s.now();
        s.users[0].role = role.to_string();
        s.users[0].updated_at = now;
    }

    /// Every request so far, in arrival order.
    pub fn requests(&self) -> Vec<LoggedRequest> {
        self.state().log.clone()
    }

    /// How many requests arrived so far.
    pub fn request_count(&self) -> usize {
        self.state().log.len()
    }

    pub fn clear_requests(&self) {
        self.state().log.clear();
    }

    pub fn ticket_count(&self) -> usize {
        self.state().tickets.len()
    }

    /// Ratings of any score (`offered` included).
    pub fn rating_count(&self) -> usize {
        self.state().ratings.len()
    }

    /// Ticket `id` as the export would render it (with `base_url` links).
    pub fn ticket_json(&self, id: u64) -> Option<Value> {
        let s = self.state();
        let t = s.ticket(id)?;
        Some(s.ticket_json(t, self.server.base_url()))
    }
}

// ---------------------------------------------------------------------------
// Data

/// Index 6 is how the incremental export shows a deleted ticket.
const STATUSES: [&str; 7] = [
    "new", "open", "pending", "hold", "solved", "closed", "deleted",
];
const CHANNELS: [&str; 7] = [
    "email",
    "web",
    "chat",
    "api",
    "voice",
    "mobile_sdk",
    "native_messaging",
];
const PRIORITIES: [&str; 4] = ["low", "normal", "high", "urgent"];
const TYPES: [&str; 4] = ["incident", "question", "problem", "task"];
const SUBJECTS: [&str; 8] = [
    "Cannot log in",
    "Invoice is wrong",
    "Refund request",
    "App crashes on start",
    "Change delivery address",
    "Password reset mail never arrives",
    "Question about my plan",
    "Order not received",
];
const FIRST: [&str; 16] = [
    "wei", "anna", "james", "fang", "maria", "chen", "olivia", "lei", "noah", "yan", "sofia",
    "jun", "liam", "mei", "ethan", "xin",
];
const LAST: [&str; 16] = [
    "li", "smith", "wang", "garcia", "zhang", "brown", "liu", "jones", "chen", "miller", "yang",
    "davis", "zhao", "wilson", "huang", "moore",
];
const GOOD_COMMENTS: [&str; 4] = ["Fast!", "Very helpful, thanks", "Solved in minutes", ""];
const BAD_COMMENTS: [&str; 4] = ["Took two days", "Nobody answered", "Still broken", ""];
const DAY: i64 = 86_400;
const ADMIN_ID: u64 = 1;
const AGENT_BASE: u64 = 1_000;
const END_USER_BASE: u64 = 100_000;

fn iso(ts: i64) -> String {
    DateTime::<Utc>::from_timestamp(ts, 0)
        .unwrap_or_default()
        .to_rfc3339_opts(SecondsFormat::Secs, true)
}

fn capitalize(s: &str) -> String {
    let mut c = s.chars();
    c.next()
        .map(|f| f.to_uppercase().chain(c).collect())
        .unwrap_or_default()
}

#[derive(Debug, Clone)]
struct User {
    id: u64,
    name: String,
    email: String,
    role: String,
    employee_no: Option<String>,
    external_id: Option<String>,
    phone: Option<String>,
    created_at: i64,
    updated_at: i64,
}

#[derive(Debug, Clone)]
struct Ticket {
    id: u64,
    created_at: i64,
    updated_at: i64,
    generated: i64,
    solved_at: Option<i64>,
    assignee: u64,
    requester: u64,
    status: u8,
    reopens: u8,
    corrupt: bool,
}

#[derive(Debug, Clone)]
struct Rating {
    id: u64,
    ticket_id: u64,
    assignee: u64,
    requester: u64,
    /// `offered`, `good` or `bad`.
    score: &'static str,
    comment: &'static str,
    created_at: i64,
    updated_at: i64,
}

#[derive(Debug)]
struct Window {
    per_minute: Option<u32>,
    start: Instant,
    count: u32,
}

impl Window {
    fn new() -> Self {
        Window {
            per_minute: None,
            start: Instant::now(),
            count: 0,
        }
    }

    fn roll(&mut self) {
        if self.start.elapsed() >= Duration::from_secs(60) {
            self.start = Instant::now();
            self.count = 0;
        }
    }

    /// Whole seconds until the window resets (at least 1).
    fn retry_after(&self) -> u64 {
        let left = Duration::from_secs(60).saturating_sub(self.start.elapsed());
        (left.as_secs() + u64::from(left.subsec_nanos() > 0)).max(1)
    }

    fn exhausted(&self) -> bool {
        self.per_minute.is_some_and(|limit| self.count >= limit)
    }
}

struct MockState {
    options: MockOptions,
    clock_offset: i64,
    /// Set by [`MockHandle::freeze_clock`]: the virtual now stops here
    /// (still moved by `advance`), so writes can share one timestamp.
    frozen_at: Option<i64>,
    users: Vec<User>,
    agent_ids: Vec<u64>,
    /// Index `id - 1`.
    tickets: Vec<Ticket>,
    /// (generated_timestamp, id): the incremental export order.
    ticket_order: BTreeSet<(i64, u64)>,
    ratings: HashMap<u64, Rating>,
    /// (created_at, id): the ratings list order.
    rating_order: BTreeSet<(i64, u64)>,
    api_token: Option<String>,
    /// Access token -> virtual expiry.
    access_tokens: HashMap<String, Option<i64>>,
    /// Refresh token -> the access token issued with it.
    refresh_tokens: HashMap<String, Option<String>>,
    token_counter: u64,
    touch_counter: u64,
    /// (requests to skip, requests to fail, status).
    fail: (u32, u32, u16),
    transport: FaultPlan,
    throttle: (u32, u64),
    throttle_json: bool,
    account: Window,
    incremental: Window,
    log: Vec<LoggedRequest>,
    /// Export JSON text by ticket id, rendered once per version: the real
    /// platform renders on its own machines, so in a benchmark the mock's
    /// share of the two cores should stay small. Cleared by every
    /// [`MockHandle`] call, the only way the data changes.
    rendered: HashMap<u64, RenderedTicket>,
}

/// A ticket's export entry and metric set, as JSON text, for one base URL.
struct RenderedTicket {
    base: String,
    ticket: String,
    metric_set: String,
}

impl MockState {
    fn generate(options: MockOptions) -> Self {
        let real_now = Utc::now().timestamp();
        let now = options.now.unwrap_or(real_now);
        let seed = options.seed;
        // Everything generated is old enough to be exported at once.
        let end = now - 120;
        let span = (options.history_days.max(1) * DAY).max(1);
        let start = end - span;

        let mut users = vec![User {
            id: ADMIN_ID,
            name: "Acme Admin".into(),
            email: options.email.to_lowercase(),
            role: "admin".into(),
            employee_no: None,
            external_id: None,
            phone: None,
            created_at: start - 400 * DAY,
            updated_at: start - 30 * DAY,
        }];
        let mut agent_ids = Vec::with_capacity(options.agents);
        // with a company, its people are the staff instead
        let built_in = if options.company.is_some() {
            0
        } else {
            options.agents
        };
        for i in 1..=built_in as u64 {
            let (f, l) = (
                FIRST[(i as usize - 1) % 16],
                LAST[((i as usize - 1) / 16) % 16],
            );
            let suffix = if i > 256 {
                i.to_string()
            } else {
                String::new()
            };
            let id = AGENT_BASE + i;
            agent_ids.push(id);
            users.push(User {
                id,
                name: format!("{} {}", capitalize(f), capitalize(l)),
                email: format!("{f}.{l}{suffix}@acme.example"),
                role: if i % 7 == 0 { "admin" } else { "agent" }.into(),
                employee_no: Some(format!("{i:05}")),
                external_id: Some(format!("EMP-{i:05}")),
                phone: Some(format!("+86 138{id:08}")),
                created_at: start - (mix(seed, id, 1) % 300) as i64 * DAY,
                updated_at: start + (mix(seed, id, 2) % span as u64) as i64,
            });
        }
        if let Some(company) = &options.company {
            users.clear();
            agent_ids.clear();
            for account in company.accounts(Platform::Zendesk) {
                let id: u64 = account
                    .id
                    .parse()
                    .expect("synthetic Zendesk ids are decimal");
                let person = account.person as u64;
                // the user field is left empty on a few agents: the 工号
                // is then only in `external_id`
                let field_empty = person != 0 && mix(seed, person, 14) % 100 < 4;
                users.push(User {
                    id,
                    name: account.name.clone(),
                    email: account.email.clone().unwrap_or_default(),
                    role: if person % 7 == 0 { "admin" } else { "agent" }.into(),
                    employee_no: account.employee_no.clone().filter(|_| !field_empty),
                    external_id: account.employee_no.clone(),
                    phone: account.mobile.clone(),
                    created_at: start - (mix(seed, id, 1) % 300) as i64 * DAY,
                    updated_at: start + (mix(seed, id, 2) % span as u64) as i64,
                });
                agent_ids.push(id);
            }
        }
        if agent_ids.is_empty() {
            agent_ids.push(ADMIN_ID);
        }
        for i in 1..=options.end_users as u64 {
            let id = END_USER_BASE + i;
            users.push(User {
                id,
                name: format!("Customer {i}"),
                email: format!("customer{i}@example.com"),
                role: "end-user".into(),
                employee_no: None,
                external_id: None,
                phone: None,
                created_at: start - (mix(seed, id, 1) % 300) as i64 * DAY,
                updated_at: start + (mix(seed, id, 2) % span as u64) as i64,
            });
        }
        let requester_count = options.end_users.max(1) as u64;

        let n = options.tickets as u64;
        let step = (span as u64 / n.max(1)).max(1);
        let mut tickets = Vec::with_capacity(options.tickets);
        let mut ticket_order = BTreeSet::new();
        let mut ratings = HashMap::new();
        let mut rating_order = BTreeSet::new();
        for id in 1..=n {
            // created_at grows with id, like real ticket ids.
            let created = (start
                + ((id - 1) as i128 * span as i128 / n as i128) as i64
                + (mix(seed, id, 3) % step) as i64)
                .min(end);
            let age = end - created;
            let mut status = match mix(seed, id, 4) % 100 {
                0..=7 => 0,
                8..=19 => 1,
                20..=27 => 2,
                28..=29 => 3,
                30..=64 => 4,
                _ => 5,
            };
            if status == 5 && age < 5 * DAY {
                status = 4;
            }
            let work = if status == 0 {
                (mix(seed, id, 5) % 3_600) as i64
            } else {
                600 + (mix(seed, id, 5) % (3 * DAY as u64)) as i64
            };
            let mut updated = (created + work).min(end);
            let solved_at = (status >= 4).then_some(updated);
            if status == 5 {
                updated = (updated + 4 * DAY).min(end);
            }
            let reopens = u8::from(status >= 4 && mix(seed, id, 6) % 10 == 0);
            let ticket = Ticket {
                id,
                created_at: created,
                updated_at: updated,
                generated: updated,
                solved_at,
                assignee: agent_ids[(mix(seed, id, 7) % agent_ids.len() as u64) as usize],
                requester: END_USER_BASE + 1 + mix(seed, id, 8) % requester_count,
                status,
                reopens,
                corrupt: false,
            };
            if let Some(solved) = solved_at {
                let roll = mix(seed, id, 9) % 100;
                if roll < 40 {
                    let good = mix(seed, id, 10) % 100 < 80;
                    let comment = mix(seed, id, 11) as usize % 4;
                    let rating = Rating {
                        id: id * 1000 + 1,
                        ticket_id: id,
                        assignee: ticket.assignee,
                        requester: ticket.requester,
                        score: if roll < 4 {
                            "offered"
                        } else if good {
                            "good"
                        } else {
                            "bad"
                        },
                        comment: if good {
                            GOOD_COMMENTS[comment]
                        } else {
                            BAD_COMMENTS[comment]
                        },
                        created_at: (solved + 600 + (mix(seed, id, 12) % DAY as u64) as i64)
                            .min(end),
                        updated_at: 0,
                    };
                    let rating = Rating {
                        updated_at: rating.created_at,
                        ..rating
                    };
                    rating_order.insert((rating.created_at, rating.id));
                    ratings.insert(rating.id, rating);
                }
            }
            ticket_order.insert((ticket.generated, id));
            tickets.push(ticket);
        }

        MockState {
            api_token: Some(options.api_token.clone()),
            clock_offset: now - real_now,
            frozen_at: None,
            options,
            users,
            agent_ids,
            tickets,
            ticket_order,
            ratings,
            rating_order,
            access_tokens: HashMap::new(),
            refresh_tokens: HashMap::new(),
            token_counter: 0,
            touch_counter: 0,
            fail: (0, 0, 0),
            transport: FaultPlan::default(),
            throttle: (0, 0),
            throttle_json: false,
            account: Window::new(),
            incremental: Window::new(),
            log: Vec::new(),
            rendered: HashMap::new(),
        }
    }

    fn now(&self) -> i64 {
        self.frozen_at
            .unwrap_or_else(|| Utc::now().timestamp() + self.clock_offset)
    }

    fn ticket(&self, id: u64) -> Option<&Ticket> {
        id.checked_sub(1).and_then(|i| self.tickets.get(i as usize))
    }

    /// Re-indexes ticket `id` at the virtual now.
    fn bump(&mut self, id: u64) {
        let now = self.now();
        let t = &mut self.tickets[id as usize - 1];
        self.ticket_order.remove(&(t.generated, id));
        t.updated_at = now;
        t.generated = now;
        self.ticket_order.insert((now, id));
    }

    fn touch_tickets(&mut self, n: usize) -> Vec<u64> {
        let mut touched = Vec::new();
        let total = self.tickets.len() as u64;
        let mut attempts = 0;
        while touched.len() < n && total > 0 && attempts < n * 50 + 100 {
            attempts += 1;
            self.touch_counter += 1;
            let id = 1 + mix(self.options.seed, self.touch_counter, 13) % total;
            let t = &self.tickets[id as usize - 1];
            if t.status >= 5 || touched.contains(&id) {
                continue; // closed tickets cannot change
            }
            self.bump(id);
            let now = self.now();
            let t = &mut self.tickets[id as usize - 1];
            t.status = match t.status {
                0 => 1,     // new -> open
                1 => 4,     // open -> solved
                2 | 3 => 1, // pending/hold -> open
                _ => 1,     // solved -> open (reopened)
            };
            if t.status == 4 {
                t.solved_at = Some(now);
            } else if t.solved_at.is_some() {
                t.reopens = t.reopens.saturating_add(1);
                t.solved_at = None;
            }
            touched.push(id);
        }
        touched
    }

    fn add_tickets(&mut self, n: usize) -> Vec<u64> {
        let now = self.now();
        let seed = self.options.seed;
        let requesters = self.options.end_users.max(1) as u64;
        (0..n)
            .map(|_| {
                let id = self.tickets.len() as u64 + 1;
                self.tickets.push(Ticket {
                    id,
                    created_at: now,
                    updated_at: now,
                    generated: now,
                    solved_at: None,
                    assignee: self.agent_ids
                        [(mix(seed, id, 7) % self.agent_ids.len() as u64) as usize],
                    requester: END_USER_BASE + 1 + mix(seed, id, 8) % requesters,
                    status: 1,
                    reopens: 0,
                    corrupt: false,
                });
                self.ticket_order.insert((now, id));
                id
            })
            .collect()
    }

    fn corrupt_ticket(&mut self, id: u64) -> bool {
        if self.ticket(id).is_none() {
            return false;
        }
        self.tickets[id as usize - 1].corrupt = true;
        self.bump(id);
        true
    }

    fn add_ratings(&mut self, n: usize) -> Vec<u64> {
        let now = self.now();
        let mut added = Vec::new();
        for t in self.tickets.iter().rev() {
            if added.len() >= n {
                break;
            }
            let id = t.id * 1000 + 1;
            if t.solved_at.is_none() || self.ratings.contains_key(&id) {
                continue;
            }
            let good = mix(self.options.seed, t.id, 10) % 2 == 0;
            self.ratings.insert(
                id,
                Rating {
                    id,
                    ticket_id: t.id,
                    assignee: t.assignee,
                    requester: t.requester,
                    score: if good { "good" } else { "bad" },
                    comment: if good { "Quick answer" } else { "Too slow" },
                    created_at: now,
                    updated_at: now,
                },
            );
            self.rating_order.insert((now, id));
            added.push(id);
        }
        added
    }

    fn change_ratings(&mut self, n: usize) -> Vec<u64> {
        let now = self.now();
        let ids: Vec<u64> = self
            .rating_order
            .iter()
            .rev()
            .map(|&(_, id)| id)
            .filter(|id| self.ratings[id].score != "offered")
            .take(n)
            .collect();
        for id in &ids {
            let r = self.ratings.get_mut(id).expect("indexed rating exists");
            r.score = if r.score == "good" { "bad" } else { "good" };
            r.comment = if r.score == "good" {
                "Fixed after all, thanks"
            } else {
                "It broke again"
            };
            r.updated_at = now;
        }
        ids
    }

    // --- rendering -------------------------------------------------------

    fn user_json(&self, u: &User, base: &str) -> Value {
        let is_agent = u.role != "end-user";
        json!({
            "id": u.id,
            "url": format!("{base}/api/v2/users/{}.json", u.id),
            "name": u.name,
            "email": if u.email.is_empty() { Value::Null } else { json!(u.email) },
            "phone": u.phone,
            "external_id": u.external_id,
            "role": u.role,
            "role_type": if u.role == "agent" { Value::Null } else if u.role == "admin" { json!(4) } else { Value::Null },
            "custom_role_id": if is_agent { json!(360_001) } else { Value::Null },
            "default_group_id": if is_agent { json!(98_700 + u.id % 3) } else { Value::Null },
            "active": true,
            "suspended": false,
            "verified": true,
            "time_zone": "Beijing",
            "iana_time_zone": "Asia/Shanghai",
            "locale": "en-US",
            "organization_id": Value::Null,
            "tags": [],
            "user_fields": {"employee_no": u.employee_no},
            "last_login_at": if is_agent { json!(iso(u.updated_at)) } else { Value::Null },
            "created_at": iso(u.created_at),
            "updated_at": iso(u.updated_at),
        })
    }

    fn ticket_json(&self, t: &Ticket, base: &str) -> Value {
        let seed = self.options.seed;
        let pick = |salt: u64, n: usize| (mix(seed, t.id, salt) % n as u64) as usize;
        let subject = SUBJECTS[pick(20, SUBJECTS.len())];
        let rating = self
            .ratings
            .get(&(t.id * 1000 + 1))
            .map(|r| json!({"id": r.id, "score": r.score, "comment": r.comment}));
        let rating = rating.unwrap_or_else(|| {
            if t.solved_at.is_some() {
                json!({"score": "unoffered"})
            } else {
                Value::Null
            }
        });
        json!({
            "id": t.id,
            "url": format!("{base}/api/v2/tickets/{}.json", t.id),
            "external_id": Value::Null,
            "type": TYPES[pick(21, TYPES.len())],
            "subject": subject,
            "raw_subject": subject,
            "description": format!("{subject} (ticket {})", t.id),
            "priority": PRIORITIES[pick(22, PRIORITIES.len())],
            "status": STATUSES[t.status as usize],
            "recipient": "support@acme.example",
            "requester_id": t.requester,
            "submitter_id": t.requester,
            "assignee_id": t.assignee,
            "organization_id": Value::Null,
            "group_id": 98_700 + t.assignee % 3,
            "brand_id": 1000,
            "collaborator_ids": [],
            "follower_ids": [],
            "email_cc_ids": [],
            "tags": [subject.split(' ').next().unwrap_or("misc").to_lowercase()],
            "via": {"channel": CHANNELS[pick(23, CHANNELS.len())], "source": {"from": {}, "to": {}, "rel": Value::Null}},
            "custom_fields": [],
            "satisfaction_rating": rating,
            "ticket_form_id": 360_000_012_345_u64,
            "has_incidents": false,
            "is_public": true,
            "due_at": Value::Null,
            "from_messaging_channel": false,
            "created_at": if t.corrupt { json!("not a date") } else { json!(iso(t.created_at)) },
            "updated_at": iso(t.updated_at),
            "generated_timestamp": t.generated,
        })
    }

    fn metric_json(&self, t: &Ticket, base: &str) -> Value {
        let seed = self.options.seed;
        let minutes = |v: Option<i64>| match v {
            Some(m) => json!({"calendar": m, "business": m * 2 / 3}),
            None => json!({"calendar": Value::Null, "business": Value::Null}),
        };
        let replied = t.status > 0;
        let reply = replied.then(|| 1 + (mix(seed, t.id, 30) % 240) as i64);
        let full = t.solved_at.map(|s| ((s - t.created_at) / 60).max(1));
        let first = if t.reopens > 0 {
            full.map(|f| (f / 2).max(1))
        } else {
            full
        };
        let assigned = t.created_at + 60 + (mix(seed, t.id, 31) % 600) as i64;
        json!({
            "id": 500_000_000 + t.id,
            "ticket_id": t.id,
            "url": format!("{base}/api/v2/ticket_metrics/{}.json", 500_000_000 + t.id),
            "group_stations": 1,
            "assignee_stations": 1 + t.reopens,
            "reopens": t.reopens,
            "replies": if replied { 1 + mix(seed, t.id, 32) % 4 + u64::from(t.reopens) } else { 0 },
            "assignee_updated_at": if replied { json!(iso(t.updated_at)) } else { Value::Null },
            "requester_updated_at": iso(t.created_at),
            "status_updated_at": iso(t.updated_at),
            "initially_assigned_at": iso(assigned),
            "assigned_at": iso(assigned),
            "solved_at": t.solved_at.map(iso),
            "latest_comment_added_at": iso(t.updated_at),
            "reply_time_in_minutes": minutes(reply),
            "reply_time_in_seconds": {"calendar": reply.map(|m| m * 60)},
            "first_resolution_time_in_minutes": minutes(first),
            "full_resolution_time_in_minutes": minutes(full),
            "agent_wait_time_in_minutes": minutes(Some(0)),
            "requester_wait_time_in_minutes": minutes(full),
            "on_hold_time_in_minutes": minutes(Some(0)),
            "custom_status_updated_at": iso(t.updated_at),
            "created_at": iso(t.created_at),
            "updated_at": iso(t.updated_at),
        })
    }

    fn rating_json(&self, r: &Rating, base: &str) -> Value {
        json!({
            "id": r.id,
            "url": format!("{base}/api/v2/satisfaction_ratings/{}.json", r.id),
            "assignee_id": r.assignee,
            "group_id": 98_700 + r.assignee % 3,
            "requester_id": r.requester,
            "ticket_id": r.ticket_id,
            "score": r.score,
            "comment": if r.comment.is_empty() { Value::Null } else { json!(r.comment) },
            "reason": if r.score == "bad" { json!("The issue took too long to resolve") } else { Value::Null },
            "reason_code": if r.score == "bad" { json!(6) } else { json!(0) },
            "created_at": iso(r.created_at),
            "updated_at": iso(r.updated_at),
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

fn error(status: StatusCode, error: &str, description: &str) -> Response {
    json_response(status, &json!({"error": error, "description": description}))
}

fn unauthorized() -> Response {
    json_response(
        StatusCode::UNAUTHORIZED,
        &json!({"error": "Couldn't authenticate you"}),
    )
}

/// `cursor` / `page[after]` values: base64 of `"{ts}.0||{id}|"`, the shape
/// Zendesk's incremental cursors decode to.
fn encode_position(ts: i64, id: u64) -> String {
    B64.encode(format!("{ts}.0||{id}|"))
}

fn decode_position(cursor: &str) -> Option<(i64, u64)> {
    let raw = String::from_utf8(B64.decode(cursor.trim()).ok()?).ok()?;
    let mut parts = raw.split("||");
    let ts = parts.next()?.split('.').next()?.parse().ok()?;
    let id = parts.next()?.trim_end_matches('|').parse().ok()?;
    Some((ts, id))
}

async fn handle(State(shared): State<Shared>, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    let body = axum::body::to_bytes(body, 1 << 20)
        .await
        .unwrap_or_default();
    let host = parts
        .headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("127.0.0.1")
        .to_string();
    let base = format!("http://{host}");
    let full_path = parts.uri.path().to_string();
    let path = full_path
        .strip_suffix(".json")
        .unwrap_or(&full_path)
        .to_string();
    let query: HashMap<String, String> =
        url::form_urlencoded::parse(parts.uri.query().unwrap_or("").as_bytes())
            .into_owned()
            .collect();

    let (response, fault) = {
        let mut state = shared.lock().unwrap_or_else(|e| e.into_inner());
        let response = if path == "/oauth/tokens" && parts.method == Method::POST {
            state.token_endpoint(&parts.headers, &body)
        } else if path.starts_with("/api/v2/") {
            state.api(&parts.method, &parts.headers, &path, &query, &base)
        } else {
            error(StatusCode::NOT_FOUND, "InvalidEndpoint", "Not found")
        };
        state.log.push(LoggedRequest {
            method: parts.method.to_string(),
            path: full_path,
            query: parts.uri.query().map(str::to_string),
            status: response.status().as_u16(),
            at: Instant::now(),
        });
        (response, state.transport.take())
    };
    with_fault(fault, response).await
}

impl MockState {
    fn api(
        &mut self,
        method: &Method,
        headers: &HeaderMap,
        path: &str,
        query: &HashMap<String, String>,
        base: &str,
    ) -> Response {
        if self.fail.1 > 0 && self.fail.0 > 0 {
            self.fail.0 -= 1;
        } else if self.fail.1 > 0 {
            self.fail.1 -= 1;
            let status =
                StatusCode::from_u16(self.fail.2).unwrap_or(StatusCode::SERVICE_UNAVAILABLE);
            return if status == StatusCode::UNAUTHORIZED {
                unauthorized()
            } else {
                error(
                    status,
                    "ServiceUnavailable",
                    "Injected failure (mock fail_next)",
                )
            };
        }
        let incremental = path.starts_with("/api/v2/incremental/");
        self.account.roll();
        self.incremental.roll();
        if self.throttle.0 > 0 {
            self.throttle.0 -= 1;
            return self.too_many(self.throttle.1);
        }
        if self.account.exhausted() {
            return self.too_many(self.account.retry_after());
        }
        if incremental && self.incremental.exhausted() {
            return self.too_many(self.incremental.retry_after());
        }
        self.account.count += 1;
        if incremental {
            self.incremental.count += 1;
        }

        let mut response = if !self.authenticated(headers) {
            unauthorized()
        } else if method != Method::GET {
            error(
                StatusCode::METHOD_NOT_ALLOWED,
                "MethodNotAllowed",
                "The mock only serves GET",
            )
        } else {
            self.route(path, query, base)
        };
        let limit = self.account.per_minute.unwrap_or(700);
        let h = response.headers_mut();
        h.insert("x-rate-limit", limit.into());
        h.insert(
            "x-rate-limit-remaining",
            limit.saturating_sub(self.account.count).into(),
        );
        response
    }

    /// 429, alternating Zendesk's plain-text body and the edge-protection JSON.
    fn too_many(&mut self, retry_after: u64) -> Response {
        self.throttle_json = !self.throttle_json;
        let builder = Response::builder()
            .status(StatusCode::TOO_MANY_REQUESTS)
            .header(header::RETRY_AFTER, retry_after);
        if self.throttle_json {
            builder
                .header(header::CONTENT_TYPE, "text/plain; charset=utf-8")
                .header("x-rate-limit", self.account.per_minute.unwrap_or(700))
                .header("x-rate-limit-remaining", 0)
                .body(Body::from("Number of allowed API requests per minute exceeded"))
        } else {
            builder.header(header::CONTENT_TYPE, "application/json").body(Body::from(
                json!({"detail": "Rate limited by Zendesk edge protection", "status": "429", "title": "Automated response"})
                    .to_string(),
            ))
        }
        .expect("valid response")
    }

    fn authenticated(&mut self, headers: &HeaderMap) -> bool {
        let Some(value) = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
        else {
            return false;
        };
        if let Some(encoded) = value.strip_prefix("Basic ") {
            let Some(decoded) = B64
                .decode(encoded.trim())
                .ok()
                .and_then(|b| String::from_utf8(b).ok())
            else {
                return false;
            };
            let Some((user, token)) = decoded.split_once(':') else {
                return false;
            };
            let Some(email) = user.strip_suffix("/token") else {
                return false; // password auth is deprecated
            };
            return email.eq_ignore_ascii_case(&self.users[0].email)
                && self.api_token.as_deref() == Some(token);
        }
        if let Some(token) = value.strip_prefix("Bearer ") {
            let now = self.now();
            return match self.access_tokens.get(token.trim()) {
                Some(expiry) => expiry.is_none_or(|e| now < e),
                None => false,
            };
        }
        false
    }

    fn route(&mut self, path: &str, query: &HashMap<String, String>, base: &str) -> Response {
        let admin_only = path.starts_with("/api/v2/incremental/")
            || path.starts_with("/api/v2/satisfaction_ratings");
        if admin_only && self.users[0].role != "admin" {
            return error(StatusCode::FORBIDDEN, "Forbidden", "You do not have access to this page. Please contact the account owner of this help desk for further help.");
        }
        match path {
            "/api/v2/users/me" => json_response(
                StatusCode::OK,
                &json!({"user": self.user_json(&self.users[0], base)}),
            ),
            "/api/v2/incremental/tickets/cursor" => self.export(query, base, "tickets"),
            "/api/v2/incremental/users/cursor" => self.export(query, base, "users"),
            "/api/v2/ticket_metrics" => self.ticket_metrics(query, base),
            "/api/v2/satisfaction_ratings" => self.satisfaction_ratings(query, base),
            _ => error(StatusCode::NOT_FOUND, "InvalidEndpoint", "Not found"),
        }
    }

    /// Cursor-based incremental export of `tickets` or `users`.
    fn export(&mut self, query: &HashMap<String, String>, base: &str, resource: &str) -> Response {
        let now = self.now();
        let horizon = now - 60; // the last minute is never exported
        let position = if let Some(cursor) = query.get("cursor") {
            match decode_position(cursor) {
                Some(p) => p,
                None => {
                    return error(
                        StatusCode::BAD_REQUEST,
                        "InvalidPaginationParameter",
                        "cursor is invalid",
                    )
                }
            }
        } else if let Some(start) = query.get("start_time") {
            match start.parse::<i64>() {
                Ok(s) if s > horizon => {
                    return error(
                        StatusCode::BAD_REQUEST,
                        "InvalidValue",
                        "Too recent start_time. Use a start_time older than one minute",
                    )
                }
                Ok(s) => (s, 0),
                Err(_) => {
                    return error(
                        StatusCode::BAD_REQUEST,
                        "InvalidValue",
                        "start_time is not an integer",
                    )
                }
            }
        } else {
            return error(
                StatusCode::BAD_REQUEST,
                "InvalidValue",
                "start_time or cursor is required",
            );
        };
        let per_page = query
            .get("per_page")
            .and_then(|p| p.parse::<usize>().ok())
            .unwrap_or(1000)
            .clamp(1, 1000);
        let keys: Vec<(i64, u64)> = match resource {
            "tickets" => self
                .ticket_order
                .range((Bound::Excluded(position), Bound::Unbounded))
                .take_while(|(ts, _)| *ts <= horizon)
                .take(per_page + 1)
                .copied()
                .collect(),
            _ => {
                let mut all: Vec<(i64, u64)> = self
                    .users
                    .iter()
                    .map(|u| (u.updated_at, u.id))
                    .filter(|k| *k > position && k.0 <= horizon)
                    .collect();
                all.sort_unstable();
                all.truncate(per_page + 1);
                all
            }
        };
        let more = keys.len() > per_page;
        let page = &keys[..keys.len().min(per_page)];
        let after = page.last().copied().unwrap_or(position);
        let after_cursor = encode_position(after.0, after.1);
        let mut body = serde_json::Map::new();
        let include = query.get("include").map(String::as_str).unwrap_or("");
        // tickets are spliced in as text after the rest is rendered
        let mut ticket_lists = String::new();
        match resource {
            "tickets" => {
                let ids: Vec<u64> = page.iter().map(|&(_, id)| id).collect();
                let with_metrics = include.split(',').any(|i| i.trim() == "metric_sets");
                ticket_lists = self.rendered_tickets(&ids, base, with_metrics);
            }
            _ => {
                let by_id: HashMap<u64, &User> = self.users.iter().map(|u| (u.id, u)).collect();
                body.insert(
                    "users".into(),
                    page.iter()
                        .map(|(_, id)| self.user_json(by_id[id], base))
                        .collect(),
                );
            }
        }
        let url = |c: &str| {
            let mut u =
                url::Url::parse(&format!("{base}/api/v2/incremental/{resource}/cursor.json"))
                    .expect("url");
            u.query_pairs_mut().append_pair("cursor", c);
            u.to_string()
        };
        body.insert("after_url".into(), json!(url(&after_cursor)));
        body.insert("after_cursor".into(), json!(after_cursor));
        let before = page
            .first()
            .map(|&(ts, id)| encode_position(ts, id.saturating_sub(1)));
        body.insert("before_url".into(), json!(before.as_deref().map(url)));
        body.insert("before_cursor".into(), json!(before));
        body.insert("end_of_stream".into(), json!(!more));
        let mut text = Value::Object(body).to_string();
        if !ticket_lists.is_empty() {
            // `{"after_cursor":…}` becomes `{"tickets":[…],…,"after_cursor":…}`
            ticket_lists.push(',');
            text.insert_str(1, &ticket_lists);
        }
        Response::builder()
            .status(StatusCode::OK)
            .header(header::CONTENT_TYPE, "application/json; charset=utf-8")
            .body(Body::from(text))
            .expect("valid response")
    }

    /// `"tickets":[…]` (and `,"metric_sets":[…]`) for the tickets `ids`,
    /// from the rendered cache, rendering what is missing.
    fn rendered_tickets(&mut self, ids: &[u64], base: &str, with_metrics: bool) -> String {
        for &id in ids {
            let fresh = self.rendered.get(&id).is_some_and(|r| r.base == base);
            if let (false, Some(t)) = (fresh, self.ticket(id)) {
                let entry = RenderedTicket {
                    base: base.to_string(),
                    ticket: self.ticket_json(t, base).to_string(),
                    metric_set: self.metric_json(t, base).to_string(),
                };
                self.rendered.insert(id, entry);
            }
        }
        let rendered: Vec<&RenderedTicket> =
            ids.iter().filter_map(|id| self.rendered.get(id)).collect();
        let size: usize = rendered
            .iter()
            .map(|r| r.ticket.len() + r.metric_set.len() + 2)
            .sum();
        let mut out = String::with_capacity(size + 40);
        let mut list = |name: &str, part: fn(&RenderedTicket) -> &str| {
            if name == "metric_sets" {
                out.push(',');
            }
            out.push_str(&format!("\"{name}\":["));
            for (i, r) in rendered.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(part(r));
            }
            out.push(']');
        };
        list("tickets", |r| &r.ticket);
        if with_metrics {
            list("metric_sets", |r| &r.metric_set);
        }
        out
    }

    fn page_size(query: &HashMap<String, String>) -> usize {
        query
            .get("page[size]")
            .and_then(|p| p.parse::<usize>().ok())
            .unwrap_or(100)
            .clamp(1, 100)
    }

    fn list_body(
        key: &str,
        items: Vec<Value>,
        more: bool,
        after: Option<String>,
        next_url: String,
    ) -> Value {
        json!({
            key: items,
            "meta": {"has_more": more, "after_cursor": after, "before_cursor": Value::Null},
            "links": {"prev": Value::Null, "next": if more { json!(next_url) } else { Value::Null }},
        })
    }

    /// `/ticket_metrics`: newest tickets first, archived ones (closed more
    /// than 120 days ago) and deleted ones left out, as Zendesk does (a
    /// deleted ticket's metrics answer 404).
    fn ticket_metrics(&self, query: &HashMap<String, String>, base: &str) -> Response {
        let size = Self::page_size(query);
        let below = match query.get("page[after]") {
            Some(c) => match decode_position(c) {
                Some((_, id)) => id,
                None => {
                    return error(
                        StatusCode::BAD_REQUEST,
                        "InvalidPaginationParameter",
                        "page[after] is invalid",
                    )
                }
            },
            None => self.tickets.len() as u64 + 1,
        };
        let archive_before = self.now() - 120 * DAY;
        let mut picked = Vec::with_capacity(size + 1);
        for id in (1..below).rev() {
            let t = &self.tickets[id as usize - 1];
            if t.status == 6 || (t.status == 5 && t.updated_at < archive_before) {
                continue;
            }
            picked.push(t);
            if picked.len() > size {
                break;
            }
        }
        let more = picked.len() > size;
        picked.truncate(size);
        let after = picked.last().map(|t| encode_position(0, t.id));
        let next = format!(
            "{base}/api/v2/ticket_metrics.json?page%5Bafter%5D={}&page%5Bsize%5D={size}",
            after.clone().unwrap_or_default()
        );
        let items = picked.iter().map(|t| self.metric_json(t, base)).collect();
        json_response(
            StatusCode::OK,
            &Self::list_body("ticket_metrics", items, more, after, next),
        )
    }

    /// `/satisfaction_ratings`, oldest created first, `start_time`/`end_time`
    /// filtering on creation.
    fn satisfaction_ratings(&self, query: &HashMap<String, String>, base: &str) -> Response {
        let size = Self::page_size(query);
        let start = query
            .get("start_time")
            .and_then(|s| s.parse::<i64>().ok())
            .unwrap_or(i64::MIN);
        let end = query
            .get("end_time")
            .and_then(|s| s.parse::<i64>().ok())
            .unwrap_or(i64::MAX);
        let from = match query.get("page[after]") {
            Some(c) => match decode_position(c) {
                Some(p) => Bound::Excluded(p),
                None => {
                    return error(
                        StatusCode::BAD_REQUEST,
                        "InvalidPaginationParameter",
                        "page[after] is invalid",
                    )
                }
            },
            None => Bound::Included((start, 0)),
        };
        let mut keys: Vec<(i64, u64)> = self
            .rating_order
            .range((from, Bound::Unbounded))
            .filter(|(created, _)| *created >= start)
            .take_while(|(created, _)| *created <= end)
            .take(size + 1)
            .copied()
            .collect();
        let more = keys.len() > size;
        keys.truncate(size);
        let after = keys.last().map(|&(ts, id)| encode_position(ts, id));
        let next = format!(
            "{base}/api/v2/satisfaction_ratings.json?page%5Bafter%5D={}&page%5Bsize%5D={size}",
            after.clone().unwrap_or_default()
        );
        let items = keys
            .iter()
            .map(|(_, id)| self.rating_json(&self.ratings[id], base))
            .collect();
        json_response(
            StatusCode::OK,
            &Self::list_body("satisfaction_ratings", items, more, after, next),
        )
    }

    /// `POST /oauth/tokens`, JSON or form body; client credentials in the
    /// body or a Basic header.
    fn token_endpoint(&mut self, headers: &HeaderMap, body: &[u8]) -> Response {
        let is_json = headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.contains("json"));
        let params: HashMap<String, String> = if is_json {
            match serde_json::from_slice::<serde_json::Map<String, Value>>(body) {
                Ok(map) => map
                    .into_iter()
                    .map(|(k, v)| {
                        (
                            k,
                            v.as_str()
                                .map(str::to_string)
                                .unwrap_or_else(|| v.to_string()),
                        )
                    })
                    .collect(),
                Err(_) => {
                    return json_response(
                        StatusCode::BAD_REQUEST,
                        &json!({"error": "invalid_request"}),
                    )
                }
            }
        } else {
            url::form_urlencoded::parse(body).into_owned().collect()
        };
        let basic = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Basic "))
            .and_then(|v| B64.decode(v.trim()).ok())
            .and_then(|b| String::from_utf8(b).ok())
            .and_then(|s| {
                s.split_once(':')
                    .map(|(a, b)| (a.to_string(), b.to_string()))
            });
        let (id, secret) = match (params.get("client_id"), params.get("client_secret"), basic) {
            (Some(id), Some(secret), _) => (id.clone(), secret.clone()),
            (_, _, Some((id, secret))) => (id, secret),
            _ => (String::new(), String::new()),
        };
        if id != self.options.client_id || secret != self.options.client_secret {
            return json_response(
                StatusCode::UNAUTHORIZED,
                &json!({"error": "invalid_client", "error_description": "Client authentication failed due to unknown client, no client authentication included, or unsupported authentication method."}),
            );
        }
        let issue_refresh = match params.get("grant_type").map(String::as_str) {
            Some("client_credentials") => false,
            Some("refresh_token") => {
                let presented = params.get("refresh_token").cloned().unwrap_or_default();
                match self.refresh_tokens.remove(&presented) {
                    // Rotation: the old pair dies with the refresh.
                    Some(old_access) => {
                        if let Some(old) = old_access {
                            self.access_tokens.remove(&old);
                        }
                        true
                    }
                    None => {
                        return json_response(
                            StatusCode::BAD_REQUEST,
                            &json!({"error": "invalid_grant", "error_description": "The provided authorization grant is invalid, expired, revoked, does not match the redirection URI used in the authorization request, or was issued to another client."}),
                        )
                    }
                }
            }
            _ => {
                return json_response(
                    StatusCode::BAD_REQUEST,
                    &json!({"error": "unsupported_grant_type", "error_description": "The authorization grant type is not supported by the authorization server."}),
                )
            }
        };
        self.token_counter += 1;
        let access = format!("mock-at-{}", self.token_counter);
        let expires_in = self.options.token_expires_in;
        self.access_tokens
            .insert(access.clone(), expires_in.map(|e| self.now() + e as i64));
        let mut body = json!({
            "access_token": access,
            "token_type": "bearer",
            "scope": params.get("scope").cloned().unwrap_or_else(|| "read".into()),
        });
        if let Some(e) = expires_in {
            body["expires_in"] = json!(e);
        }
        if issue_refresh {
            let refresh = format!("mock-rt-{}", self.token_counter);
            self.refresh_tokens.insert(refresh.clone(), Some(access));
            body["refresh_token"] = json!(refresh);
            body["refresh_token_expires_in"] = json!(2_592_000);
        }
        json_response(StatusCode::OK, &body)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions_round_trip_in_zendesk_shape() {
        let c = encode_position(1_714_641_164, 35_436);
        assert_eq!(c, "MTcxNDY0MTE2NC4wfHwzNTQzNnw=");
        assert_eq!(decode_position(&c), Some((1_714_641_164, 35_436)));
        assert_eq!(decode_position("%%%"), None);
    }

    #[test]
    fn generation_is_deterministic_and_consistent() {
        let opts = MockOptions {
            now: Some(1_750_000_000),
            tickets: 500,
            ..MockOptions::default()
        };
        let a = MockState::generate(opts.clone());
        let b = MockState::generate(opts);
        let render = |s: &MockState| s.ticket_json(&s.tickets[7], "http://x").to_string();
        assert_eq!(render(&a), render(&b));
        assert_eq!(a.ticket_order.len(), 500);
        assert!(a.tickets.iter().all(|t| t.generated <= 1_750_000_000 - 61));
        assert!(a
            .tickets
            .windows(2)
            .all(|w| w[0].created_at <= w[1].created_at));
        assert!(!a.ratings.is_empty());
        let agent = &a.users[1];
        assert_eq!(agent.email, "wei.li@acme.example");
        let json = a.user_json(agent, "http://x");
        assert_eq!(json["external_id"], "EMP-00001");
        assert_eq!(json["user_fields"]["employee_no"], "00001");
    }

    #[test]
    fn a_company_is_the_staff() {
        let company = Arc::new(Company::generate(5, 60));
        let s = MockState::generate(MockOptions {
            now: Some(1_750_000_000),
            tickets: 300,
            company: Some(company.clone()),
            ..MockOptions::default()
        });
        let staff: Vec<&User> = s.users.iter().filter(|u| u.role != "end-user").collect();
        assert_eq!(staff.len(), 60);
        assert_eq!(s.users.len(), 60 + 200, "customers stay");
        assert_eq!(s.users[0].role, "admin");
        assert_eq!(s.users[0].email, company.people[0].email);
        let mut field_empty = 0;
        for (u, a) in staff.iter().zip(company.accounts(Platform::Zendesk)) {
            assert_eq!(u.id.to_string(), a.id);
            let json = s.user_json(u, "http://x");
            assert_eq!(json["name"], a.name.as_str());
            assert_eq!(json["email"].as_str(), a.email.as_deref());
            assert_eq!(json["phone"].as_str(), a.mobile.as_deref());
            assert_eq!(json["external_id"].as_str(), a.employee_no.as_deref());
            match json["user_fields"]["employee_no"].as_str() {
                Some(no) => assert_eq!(Some(no), a.employee_no.as_deref()),
                None => field_empty += 1,
            }
        }
        assert!(field_empty < 10);
        assert!(s
            .tickets
            .iter()
            .all(|t| staff.iter().any(|u| u.id == t.assignee)));
        assert!(s
            .ratings
            .values()
            .all(|r| staff.iter().any(|u| u.id == r.assignee)));
    }
}
