//! WeCom (企业微信) connector: departments, members (with the 工号 from a
//! custom attribute), raw check-ins and, optionally, daily attendance
//! reports, read through the `qyapi.weixin.qq.com` API; contact-change
//! callbacks through [`WeComPush`].
//!
//! Streams, cursors and the `_`-prefixed helper fields the connector adds
//! to payloads are described in [`streams`]; callbacks in [`push`]; the
//! mock server used by tests and the demo in [`mock`].
//!
//! Tokens and errors:
//! - One access token per (corp, secret), cached, refreshed five minutes
//!   before `expires_in` runs out; whoever finds it stale refreshes it
//!   while holding a tokio mutex, so concurrent callers share one
//!   `gettoken` call.
//! - WeCom answers HTTP 200 with an `errcode`. `40014` / `42001` (token
//!   invalid / expired): one refresh and one retry; a second refusal is
//!   [`ConnectorError::Auth`]. `45009` (frequency): rate limited, retried
//!   after `rate_limit_wait_secs` (the request budget pauses too); `45033`
//!   (concurrency): rate limited, exponential backoff; `-1` (busy): at
//!   most three attempts. At `gettoken`, `40001`/`40091`/`41004` (secret)
//!   and `40013`/`41002` (corp id) are `Auth` naming the key; `48002`,
//!   `50001`, `50002`, `60011`, `60020` are [`ConnectorError::Forbidden`]
//!   saying what to configure; anything else is a protocol error with
//!   errcode and errmsg.
//! - The access token travels in the query string; it is removed from any
//!   error text.

mod client;
pub mod config;
pub mod mock;
pub mod push;
pub mod streams;
mod xml;

pub use config::{WeComConfig, WeComWebhook};
pub use mock::{LoggedRequest, MockHandle, MockOptions, MockWeCom};
pub use push::WeComPush;
pub use streams::{checkin_key, CheckinCursor, UsersCursor, DAILY_STREAM, STREAMS};

use async_trait::async_trait;
use client::{Secret, WeComClient};
use hrhub_connector::{CheckReport, ConnectorError, HttpConfig, Page, PushSource, Source};
use hrhub_model::RawRecord;
use std::time::Duration;
use streams::{MemberSource, Settings, Streams};

/// A WeCom corp as a [`Source`].
pub struct WeCom {
    streams: Streams,
    daily_report: bool,
    push: Option<WeComPush>,
}

impl WeCom {
    /// Uses `http`'s timeouts and retry policy; the request budgets come
    /// from `config`.
    pub fn new(config: WeComConfig, http: HttpConfig) -> Result<Self, ConnectorError> {
        config.validate()?;
        let tz = config.time_zone()?;
        let client = WeComClient::new(&config, http)?;
        let userids = config.userids.clone().map(|mut ids| {
            ids.sort();
            ids.dedup();
            ids
        });
        let settings = Settings {
            tz,
            employee_no_attr: config.employee_no_attr().to_string(),
            lookback_days: config.checkin_lookback_days(),
            start_date: config.start_date(tz),
            userids,
        };
        let push = match (config.callback_crypto()?, &config.webhook) {
            (Some(crypto), Some(hook)) => Some(WeComPush::new(
                crypto,
                Duration::from_secs(hook.max_age_secs()),
            )),
            _ => None,
        };
        Ok(WeCom {
            streams: Streams::new(client, settings),
            daily_report: config.daily_report,
            push,
        })
    }
}

#[async_trait]
impl Source for WeCom {
    fn kind(&self) -> &'static str {
        "wecom"
    }

    fn streams(&self) -> Vec<String> {
        let mut streams: Vec<String> = STREAMS.iter().map(|s| s.to_string()).collect();
        if self.daily_report {
            streams.push(DAILY_STREAM.to_string());
        }
        streams
    }

    /// The org walk enumerates every department and member in scope, so a
    /// completed walk proves who is gone (a missed leave event included).
    fn reconciles(&self, stream: &str) -> bool {
        matches!(stream, "departments" | "users")
    }

    /// Both secrets' tokens, member enumeration, and a one-member check-in
    /// read of today (proves the app may read 打卡 data).
    async fn check(&self) -> Result<CheckReport, ConnectorError> {
        let client = &self.streams.client;
        let mut details = vec![format!("reached {}", client.base())];
        client.authenticate(Secret::App).await?;
        details.push("`secret`: access token issued".into());
        if client.has_contacts_secret() {
            client.authenticate(Secret::Contacts).await?;
            details.push("`contacts_secret`: access token issued".into());
        }
        let (source, members) = self.streams.members(true).await?;
        details.push(format!(
            "{} members, {}",
            members.len(),
            match source {
                MemberSource::Configured => "listed in `userids`".to_string(),
                MemberSource::ListId => format!(
                    "enumerated with user/list_id (`{}`)",
                    client.secret_key(Secret::Contacts)
                ),
                MemberSource::Legacy => "enumerated with the legacy user/list per department \
                     (user/list_id was refused: set `contacts_secret` to the 通讯录同步 secret)"
                    .to_string(),
            }
        ));
        if let Some(first) = members.first() {
            let n = self.streams.probe_checkins(first).await?;
            details.push(format!(
                "check-in data readable with `secret` ({n} punches today for {first})"
            ));
        }
        Ok(CheckReport { details })
    }

    async fn read_page(&self, stream: &str, cursor: Option<&str>) -> Result<Page, ConnectorError> {
        if stream == DAILY_STREAM && !self.daily_report {
            return Err(ConnectorError::Config(format!(
                "wecom: stream {DAILY_STREAM} needs `daily_report = true`"
            )));
        }
        self.streams.read(stream, cursor).await
    }

    /// `users` by userid (`user/get`) and `departments` by id
    /// (`department/get`); ids that no longer exist are skipped.
    async fn fetch(&self, stream: &str, ids: &[String]) -> Result<Vec<RawRecord>, ConnectorError> {
        match stream {
            "users" => self.streams.fetch_users(ids).await,
            "departments" => self.streams.fetch_departments(ids).await,
            other => Err(ConnectorError::Config(format!(
                "wecom cannot fetch single records of `{other}` (only users and departments)"
            ))),
        }
    }

    fn push(&self) -> Option<&dyn PushSource> {
        self.push.as_ref().map(|p| p as &dyn PushSource)
    }
}
