//! DingTalk (钉钉) connector: the org chart, the roster and attendance
//! results of one organization, read through an internal app, plus the
//! app's encrypted HTTP event push.
//!
//! - Both API generations are used: the old one (oapi: `/gettoken`,
//!   `/topapi/*`, `/attendance/list`) for departments, users and
//!   attendance; the new one (v1.0: `/v1.0/oauth2/accessToken`,
//!   `/v1.0/contact/empLeaveRecords`) for leavers. Tokens, error codes and
//!   throttling are handled in `client` (see its docs).
//! - Streams and cursor formats: [`streams`]. Payloads are DingTalk's
//!   objects plus `_`-prefixed fields the connector derives, because mapping
//!   expressions cannot see the configuration (the org's time zone):
//!   - departments: `_path` (names from the root, joined by `/`);
//!   - users: `_dept_id`, `_department`, `_department_path` (the primary
//!     department: the first of `dept_id_list` inside the walked tree),
//!     `_hired_date` (local `YYYY-MM-DD`); leavers: `userid`, `_left: true`,
//!     `_left_at`;
//!   - attendance: `_work_date` (local `YYYY-MM-DD`), `_scheduled_at`,
//!     `_checked_at` (RFC 3339 with the zone's offset; `_checked_at` is null
//!     for `NotSigned` rows).
//! - Event push: [`push`]. The mock server for tests and the demo: [`mock`].

mod client;
pub mod config;
pub mod mock;
mod org;
pub mod push;
pub mod streams;

pub use client::Generation;
pub use config::{DingTalkConfig, DingTalkWebhook};
pub use mock::{MockDingTalk, MockHandle, MockOptions};
pub use push::DingTalkPush;
pub use streams::{AttendanceCursor, DepartmentsCursor, UsersCursor, STREAMS};

use async_trait::async_trait;
use chrono::NaiveDate;
use chrono_tz::Tz;
use client::DingTalkClient;
use hrhub_connector::{
    CheckReport, ConnectorError, HttpConfig, MissedEvents, Page, PushSource, Source,
};
use hrhub_model::RawRecord;
use org::{Roster, Tree};
use serde_json::Value;
use std::sync::Arc;
use tokio::sync::Mutex;

/// What the streams need from the configuration.
#[derive(Debug, Clone)]
pub(crate) struct Settings {
    pub tz: Tz,
    pub root: i64,
    pub lookback_days: u32,
    pub user_page_size: u32,
    pub read_leavers: bool,
    config: DingTalkConfig,
}

impl Settings {
    pub fn start_date(&self, today: NaiveDate) -> NaiveDate {
        self.config.start_date(today)
    }
}

/// A DingTalk organization as a [`Source`].
pub struct DingTalk {
    client: DingTalkClient,
    settings: Settings,
    /// The last department walk, shared by every stream.
    tree: Mutex<Option<Arc<Tree>>>,
    /// The last roster (user ids) attendance was read for.
    roster: Mutex<Option<Arc<Roster>>>,
    push: Option<DingTalkPush>,
}

impl DingTalk {
    /// Uses `http`'s timeouts, retry policy and body limit; the call budget
    /// comes from `config.requests_per_second`.
    pub fn new(config: DingTalkConfig, http: HttpConfig) -> Result<Self, ConnectorError> {
        let client = DingTalkClient::new(&config, http)?;
        let push = match &config.webhook {
            Some(w) => Some(DingTalkPush::new(w, &config.app_key, config.time_zone()?)?),
            None => None,
        };
        Ok(DingTalk {
            client,
            settings: Settings {
                tz: config.time_zone()?,
                root: config.root_department(),
                lookback_days: config.attendance_lookback_days(),
                user_page_size: config.user_page_size(),
                read_leavers: config.read_leavers(),
                config,
            },
            tree: Mutex::new(None),
            roster: Mutex::new(None),
            push,
        })
    }

    /// A current access token of `generation` (fetched or cached), e.g. for
    /// a call this crate does not wrap.
    pub async fn access_token(&self, generation: Generation) -> Result<String, ConnectorError> {
        self.client.token(generation, None).await
    }
}

#[async_trait]
impl Source for DingTalk {
    fn kind(&self) -> &'static str {
        "dingtalk"
    }

    fn streams(&self) -> Vec<String> {
        STREAMS.iter().map(|s| s.to_string()).collect()
    }

    /// The org walk enumerates every department and member in scope, so a
    /// completed walk proves who is gone (a missed leave event included).
    fn reconciles(&self, stream: &str) -> bool {
        matches!(stream, "departments" | "users")
    }

    /// Fetches both tokens and reads the root department and its children.
    async fn check(&self) -> Result<CheckReport, ConnectorError> {
        let mut details = vec![format!("reached {}", self.client.oapi_base())];
        self.client.token(Generation::Old, None).await?;
        details.push(format!(
            "app {}: old-generation (oapi) access token obtained",
            self.client.app_key()
        ));
        if self.settings.read_leavers {
            self.client.token(Generation::New, None).await?;
            details.push("new-generation (v1.0) access token obtained".into());
        }
        let root = org::get_department(&self.client, self.settings.root)
            .await?
            .ok_or_else(|| {
                ConnectorError::Config(format!(
                    "dingtalk: `root_department` {} does not exist",
                    self.settings.root
                ))
            })?;
        let name = root.get("name").and_then(Value::as_str).unwrap_or("?");
        details.push(format!(
            "root department {} ({name}) readable; work dates in {}",
            self.settings.root, self.settings.tz
        ));
        Ok(CheckReport { details })
    }

    async fn read_page(&self, stream: &str, cursor: Option<&str>) -> Result<Page, ConnectorError> {
        self.read_stream(stream, cursor).await
    }

    /// `users` by userid, `departments` by dept id, `attendance` by
    /// `userid` or `userid:YYYY-MM-DD` (see [`streams`]).
    async fn fetch(&self, stream: &str, ids: &[String]) -> Result<Vec<RawRecord>, ConnectorError> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        match stream {
            "users" => self.fetch_users(ids).await,
            "departments" => self.fetch_departments(ids).await,
            "attendance" => self.fetch_attendance(ids).await,
            other => Err(ConnectorError::Config(format!(
                "dingtalk has no stream {other:?} to fetch from (streams: {})",
                STREAMS.join(", ")
            ))),
        }
    }

    fn push(&self) -> Option<&dyn PushSource> {
        self.push.as_ref().map(|p| p as &dyn PushSource)
    }

    /// With `[connector.webhook]` set: DingTalk keeps what it failed to push.
    fn keeps_missed_events(&self) -> bool {
        self.push.is_some()
    }

    /// One call to the failed-push list (reference §5c; see [`push`]).
    async fn missed_events(&self) -> Result<MissedEvents, ConnectorError> {
        let Some(push) = &self.push else {
            return Ok(MissedEvents::default());
        };
        let body = self.client.oapi_get(push::FAILED_LIST_PATH).await?;
        let entries = body
            .get("failed_list")
            .and_then(Value::as_array)
            .map(Vec::as_slice)
            .unwrap_or_default();
        let events: Vec<_> = entries.iter().filter_map(|e| push.recovered(e)).collect();
        let more = body.get("has_more").and_then(Value::as_bool) == Some(true);
        tracing::debug!(
            entries = entries.len(),
            events = events.len(),
            more,
            "dingtalk: failed-push list read"
        );
        Ok(MissedEvents {
            events,
            // an empty answer that claims more would loop forever
            more: more && !entries.is_empty(),
        })
    }
}
