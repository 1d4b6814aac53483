//! Zendesk Support connector: agents, tickets (with their metrics),
//! ticket metrics and legacy CSAT ratings, read through the incremental
//! export and cursor-paginated list endpoints.
//!
//! Streams and cursor formats are described in [`streams`]; the mock
//! server used by tests, `hrhub demo` and benchmarks lives in [`mock`].
//! Payloads are Zendesk's objects untouched, except that each ticket gets
//! its sideloaded metric set as field `metric_set` (or `null`).

mod auth;
mod client;
pub mod config;
pub mod mock;
pub mod streams;

pub use config::{OAuthGrant, ZendeskAuth, ZendeskConfig};
pub use mock::{LoggedRequest, MockHandle, MockOptions, MockZendesk};
pub use streams::{RatingsCursor, STREAMS};

use async_trait::async_trait;
use client::ZendeskClient;
use hrhub_connector::{CheckReport, ConnectorError, HttpConfig, Page, Source};
use serde_json::Value;
use streams::Settings;

/// A Zendesk Support account as a [`Source`].
pub struct Zendesk {
    client: ZendeskClient,
    settings: Settings,
}

impl Zendesk {
    /// Uses `http`'s timeouts and retry policy; the request budgets come
    /// from `config` (account-wide, and the incremental exports' own).
    pub fn new(config: ZendeskConfig, http: HttpConfig) -> Result<Self, ConnectorError> {
        let client = ZendeskClient::new(&config, http)?;
        Ok(Zendesk {
            client,
            settings: Settings {
                start_time: config.start_time,
                page_size: config.page_size(),
                lookback_days: config.satisfaction_lookback_days(),
            },
        })
    }
}

#[async_trait]
impl Source for Zendesk {
    fn kind(&self) -> &'static str {
        "zendesk"
    }

    fn streams(&self) -> Vec<String> {
        STREAMS.iter().map(|s| s.to_string()).collect()
    }

    /// Incremental exports and CSAT need an admin, so anything else fails.
    async fn check(&self) -> Result<CheckReport, ConnectorError> {
        let user = streams::me(&self.client).await?;
        let text = |k: &str| {
            user.get(k)
                .and_then(Value::as_str)
                .unwrap_or("?")
                .to_string()
        };
        let (email, role) = (text("email"), text("role"));
        if role != "admin" {
            return Err(ConnectorError::Forbidden(format!(
                "authenticated as {email} with role {role:?}, but incremental exports and satisfaction \
                 ratings need an admin: use an admin's e-mail and API token, or an OAuth client created \
                 by an admin"
            )));
        }
        Ok(CheckReport {
            details: vec![
                format!("reached {}", self.client.base()),
                format!(
                    "authenticated as {email} ({role}) with {}",
                    self.client.credentials.describe()
                ),
            ],
        })
    }

    async fn read_page(&self, stream: &str, cursor: Option<&str>) -> Result<Page, ConnectorError> {
        streams::read(&self.client, &self.settings, stream, cursor).await
    }
}
