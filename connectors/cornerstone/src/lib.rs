//! Cornerstone OnDemand (CSOD) connector: course and exam outcomes from the
//! learners' transcripts.
//!
//! - **Auth**: OAuth 2.0 client credentials (the only grant Cornerstone
//!   supports) through the `oauth2` crate, against
//!   `{portal}/services/api/oauth2/token`, whose JSON body with camelCase
//!   keys an adapter under `oauth2` writes (`auth.rs`). The token is cached,
//!   minted anew ahead of its `expires_in`, and once after a 401; a second
//!   401 fails the stream with [`ConnectorError::Auth`].
//! - **Stream `transcripts`**: Transcript Search, incremental by
//!   modification date in contiguous windows of at most 24 hours, 50
//!   records a page (`pageNumber`); see [`streams`] for the cursor and the
//!   `_`-prefixed fields added to each payload (`_key`, `_completed_at`,
//!   `_modified_at`, `_score_100`, `_email`).
//! - **E-mail**: Transcript Search gives the learner's User ID only; with
//!   `lookup_emails` (default) each learner's `primaryEmail` is looked up
//!   once per connector instance with the Employee API
//!   (`/services/api/x/users/v2/employees?externalId=`).
//! - Requests are budgeted (`requests_per_minute`); 429 waits for
//!   `Retry-After`; 5xx, timeouts and resets retry with bounded backoff.
//! - Transcript Search returns active users only: a learner deactivated in
//!   Cornerstone stops appearing; their results already in the hub stay.
//!
//! The mock server ([`mock`]) serves the same paths and behaviour for
//! tests, the demo and benchmarks.

mod auth;
mod client;
pub mod config;
pub mod mock;
pub mod streams;

pub use config::{CornerstoneAuth, CornerstoneConfig};
pub use mock::{LoggedRequest, MockCornerstone, MockHandle, MockOptions};
pub use streams::{TranscriptsCursor, STREAMS};

use async_trait::async_trait;
use chrono::{Duration, SubsecRound, Utc};
use client::CornerstoneClient;
use hrhub_connector::{CheckReport, ConnectorError, HttpConfig, Page, Source};
use streams::{EmailCache, Settings};

/// A Cornerstone portal as a [`Source`].
pub struct Cornerstone {
    client: CornerstoneClient,
    settings: Settings,
    emails: EmailCache,
}

impl Cornerstone {
    /// Uses `http`'s timeouts and retry policy; the request budget comes
    /// from `config`.
    pub fn new(config: CornerstoneConfig, http: HttpConfig) -> Result<Self, ConnectorError> {
        let client = CornerstoneClient::new(&config, http)?;
        let start = match config.start()? {
            Some(start) => start,
            None => Utc::now().trunc_subsecs(0) - Duration::days(365),
        };
        Ok(Cornerstone {
            client,
            settings: Settings {
                start,
                lookback: Duration::hours(i64::from(config.lookback_hours())),
                page_size: config.page_size(),
                search_path: config.transcript_search_path(),
                lookup_emails: config.lookup_emails(),
            },
            emails: EmailCache::default(),
        })
    }
}

#[async_trait]
impl Source for Cornerstone {
    fn kind(&self) -> &'static str {
        "cornerstone"
    }

    fn streams(&self) -> Vec<String> {
        STREAMS.iter().map(|s| s.to_string()).collect()
    }

    /// Mints a token, asks Transcript Search for one record of the last
    /// hour, and (with `lookup_emails`) the Employee API for one employee.
    async fn check(&self) -> Result<CheckReport, ConnectorError> {
        self.client.tokens.header(None).await?;
        let token = self.client.tokens.info().await;
        let mut details = vec![
            format!("reached {}", self.client.base()),
            format!(
                "access token from {} (scope {}, expires in {})",
                token.token_url,
                token.scope.as_deref().unwrap_or("not stated"),
                token
                    .expires_in
                    .map_or("not stated".into(), |d| format!("{}s", d.as_secs()))
            ),
        ];
        let now = Utc::now().trunc_subsecs(0);
        let iso = |t: chrono::DateTime<Utc>| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
        self.client
            .get(
                &self.settings.search_path,
                &[
                    ("ModificationStartDate", iso(now - Duration::hours(1))),
                    ("ModificationEndDate", iso(now)),
                    ("pageNumber", "1".into()),
                    ("pageSize", "1".into()),
                ],
            )
            .await
            .map_err(|e| match e {
                ConnectorError::Forbidden(m) => ConnectorError::Forbidden(format!(
                    "{m}; Transcript Search needs the transcript:read scope and the \"Users - View\" and \
                     \"View Transcript Item\" permissions for the application's user"
                )),
                other => other,
            })?;
        details.push(format!(
            "Transcript Search answered at {}",
            self.settings.search_path
        ));
        if self.settings.lookup_emails {
            self.client
                .get(config::EMPLOYEES_PATH, &[("pageSize", "1".into())])
                .await
                .map_err(|e| match e {
                    ConnectorError::Forbidden(m) => ConnectorError::Forbidden(format!(
                        "{m}; lookup_emails needs the employee:read scope and the \"Employee API - View\" \
                         permission; grant them or set lookup_emails = false"
                    )),
                    other => other,
                })?;
            details.push("Employee API answered (learners' e-mail lookups)".into());
        }
        Ok(CheckReport { details })
    }

    async fn read_page(&self, stream: &str, cursor: Option<&str>) -> Result<Page, ConnectorError> {
        streams::read(&self.client, &self.settings, &self.emails, stream, cursor).await
    }
}
