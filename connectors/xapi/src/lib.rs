//! xAPI (Experience API) connector: course and exam outcomes from any
//! conformant Learning Record Store (ADL xAPI 1.0.x; Basic auth).
//!
//! One stream, `statements`, read with the `stored` watermark and the
//! LRS's `more` links; see [`streams`] for the cursor, voiding and the
//! `_`-prefixed fields added to each statement (normalized score, pass,
//! completion time, the learner's e-mail / account). The mock LRS used by
//! tests, `hrhub demo` and benchmarks lives in [`mock`].

mod client;
pub mod config;
pub mod mock;
pub mod streams;

pub use client::{CONSISTENT_THROUGH, VERSION_HEADER};
pub use config::{XapiConfig, DEFAULT_VERBS, VOIDED};
pub use mock::{LoggedRequest, MockHandle, MockLrs, MockOptions};
pub use streams::{normalize, score_100, StatementsCursor, STREAM};

use async_trait::async_trait;
use client::LrsClient;
use hrhub_connector::{CheckReport, ConnectorError, HttpConfig, Page, Source};
use serde_json::Value;
use streams::Settings;

/// A Learning Record Store as a [`Source`].
pub struct Xapi {
    client: LrsClient,
    settings: Settings,
    version: String,
}

impl Xapi {
    /// Uses `http`'s timeouts, retry policy and burst; the request budget
    /// comes from `config`.
    pub fn new(config: XapiConfig, http: HttpConfig) -> Result<Self, ConnectorError> {
        let client = LrsClient::new(&config, http)?;
        Ok(Xapi {
            client,
            settings: Settings {
                since: config.since()?,
                verbs: config.verbs(),
                page_size: config.page_size(),
            },
            version: config.version().to_string(),
        })
    }
}

#[async_trait]
impl Source for Xapi {
    fn kind(&self) -> &'static str {
        "xapi"
    }

    fn streams(&self) -> Vec<String> {
        vec![STREAM.to_string()]
    }

    /// `GET about` (the LRS speaks the configured version), then one
    /// statement query (the credentials may read statements).
    async fn check(&self) -> Result<CheckReport, ConnectorError> {
        let about = streams::about(&self.client).await?;
        let versions: Vec<&str> = about
            .get("version")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .collect();
        if !versions.contains(&self.version.as_str()) {
            return Err(ConnectorError::Config(format!(
                "xapi: the LRS speaks {} but `version` is {:?}; set `version` to one of them",
                if versions.is_empty() {
                    "no version it names".to_string()
                } else {
                    versions.join(", ")
                },
                self.version
            )));
        }
        let mut probe = self.client.resource("statements");
        probe.query_pairs_mut().append_pair("limit", "1");
        let answer = self.client.get(&probe).await?;
        if answer
            .body
            .get("statements")
            .and_then(Value::as_array)
            .is_none()
        {
            return Err(ConnectorError::protocol(
                "xapi",
                "the statements resource answered without a `statements` array",
            ));
        }
        Ok(CheckReport {
            details: vec![
                format!("reached {}", self.client.endpoint()),
                format!("the LRS speaks xAPI {}", versions.join(", ")),
                format!(
                    "the credentials read statements{}",
                    answer
                        .consistent_through
                        .map(|c| format!(" (consistent through {c})"))
                        .unwrap_or_default()
                ),
            ],
        })
    }

    async fn read_page(&self, stream: &str, cursor: Option<&str>) -> Result<Page, ConnectorError> {
        if stream != STREAM {
            return Err(ConnectorError::Config(format!(
                "xapi has no stream {stream:?} (streams: {STREAM})"
            )));
        }
        streams::read(&self.client, &self.settings, cursor).await
    }
}
