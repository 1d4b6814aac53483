//! Authenticated GETs against the configured base URL, within budget.

use crate::auth::Credentials;
use crate::config::ZendeskConfig;
use hrhub_connector::{ConnectorError, HttpClient, HttpConfig};
use reqwest::header::AUTHORIZATION;
use serde_json::Value;
use url::Url;

/// Which request budget a call spends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Budget {
    /// Any endpoint: the account-wide per-minute limit.
    Account,
    /// `/api/v2/incremental/*`: their own 10/min limit, and the account's.
    Incremental,
}

pub(crate) struct ZendeskClient {
    base: Url,
    api: HttpClient,
    incremental: HttpClient,
    pub(crate) credentials: Credentials,
}

impl ZendeskClient {
    pub(crate) fn new(config: &ZendeskConfig, http: HttpConfig) -> Result<Self, ConnectorError> {
        config.validate()?;
        let base = config.base_url()?;
        http.url_policy
            .check_configured("zendesk", "base_url", &base)?;
        let api = HttpClient::new(
            "zendesk",
            HttpConfig {
                requests_per_minute: config.requests_per_minute(),
                ..http.clone()
            },
        )?;
        // Burst 1: the incremental limit is tiny, a burst would collect 429s.
        let incremental = HttpClient::new(
            "zendesk",
            HttpConfig {
                requests_per_minute: config.incremental_requests_per_minute(),
                burst: 1,
                ..http.clone()
            },
        )?
        .with_shared_limiter(api.limiter());
        let credentials = Credentials::new(
            &config.auth,
            &base,
            api.client().clone(),
            http.url_policy,
            http.retry.clone(),
        )?;
        Ok(ZendeskClient {
            base,
            api,
            incremental,
            credentials,
        })
    }

    pub(crate) fn base(&self) -> &Url {
        &self.base
    }

    /// `{base_url}{path}?{query}`: URLs are always built from the configured
    /// base, never taken from a response (`after_url`, `links.next`).
    pub(crate) fn url(&self, path: &str, query: &[(&str, String)]) -> Url {
        let mut url = self.base.clone();
        url.set_path(&format!("{}{path}", self.base.path().trim_end_matches('/')));
        url.set_query(None);
        if !query.is_empty() {
            url.query_pairs_mut()
                .extend_pairs(query.iter().map(|(k, v)| (*k, v.as_str())));
        }
        url
    }

    /// GETs JSON. Transient failures are retried inside [`HttpClient::json`];
    /// a 401 refreshes an OAuth token once and retries once; a second 401
    /// (or any 401 with credentials that cannot refresh) is final.
    pub(crate) async fn get(
        &self,
        budget: Budget,
        path: &str,
        query: &[(&str, String)],
    ) -> Result<Value, ConnectorError> {
        let url = self.url(path, query);
        let header = self.credentials.header().await?;
        match self.send(budget, &url, &header).await {
            Err(ConnectorError::Auth(first)) => {
                tracing::debug!(%first, "zendesk: 401, refreshing credentials");
                let Some(fresh) = self.credentials.after_unauthorized(&header).await? else {
                    return Err(ConnectorError::Auth(self.credentials.final_401_message()));
                };
                match self.send(budget, &url, &fresh).await {
                    Err(ConnectorError::Auth(_)) => {
                        Err(ConnectorError::Auth(self.credentials.final_401_message()))
                    }
                    other => other,
                }
            }
            other => other,
        }
    }

    async fn send(&self, budget: Budget, url: &Url, header: &str) -> Result<Value, ConnectorError> {
        let http = match budget {
            Budget::Account => &self.api,
            Budget::Incremental => &self.incremental,
        };
        http.json(|c| c.get(url.clone()).header(AUTHORIZATION, header))
            .await
    }
}
