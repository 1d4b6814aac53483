//! Authenticated GETs against the portal, within budget.

use crate::auth::Tokens;
use crate::config::CornerstoneConfig;
use hrhub_connector::{ConnectorError, HttpClient, HttpConfig};
use reqwest::header::{ACCEPT, AUTHORIZATION};
use serde_json::Value;
use url::Url;

pub(crate) struct CornerstoneClient {
    base: Url,
    api: HttpClient,
    pub(crate) tokens: Tokens,
}

impl CornerstoneClient {
    pub(crate) fn new(
        config: &CornerstoneConfig,
        http: HttpConfig,
    ) -> Result<Self, ConnectorError> {
        config.validate()?;
        let base = config.base_url()?;
        http.url_policy
            .check_configured("cornerstone", "base_url", &base)?;
        let api = HttpClient::new(
            "cornerstone",
            HttpConfig {
                requests_per_minute: config.requests_per_minute(),
                ..http.clone()
            },
        )?;
        let tokens = Tokens::new(
            &config.auth.client_id,
            &config.auth.client_secret,
            &config.scope(),
            &config.token_url()?,
            api.client().clone(),
            http.url_policy,
            http.retry.clone(),
        )?;
        Ok(CornerstoneClient { base, api, tokens })
    }

    pub(crate) fn base(&self) -> &Url {
        &self.base
    }

    /// `{base_url}{path}?{query}`, always from the configured base.
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

    /// GETs JSON. Transient failures (429 after its Retry-After, 5xx,
    /// timeouts) are retried inside [`HttpClient::json`]; a 401 mints a new
    /// token once and retries once; a second 401 is final.
    pub(crate) async fn get(
        &self,
        path: &str,
        query: &[(&str, String)],
    ) -> Result<Value, ConnectorError> {
        let url = self.url(path, query);
        let header = self.tokens.header(None).await?;
        match self.send(&url, &header).await {
            Err(ConnectorError::Auth(first)) => {
                tracing::debug!(%first, "cornerstone: 401, minting a new token");
                let fresh = self.tokens.header(Some(&header)).await?;
                match self.send(&url, &fresh).await {
                    Err(ConnectorError::Auth(second)) => Err(ConnectorError::Auth(format!(
                        "Cornerstone refused a freshly minted access token ({second}); check that the \
                         application's service-account user is still active and that the application \
                         was not deactivated or re-keyed"
                    ))),
                    other => other,
                }
            }
            other => other,
        }
    }

    async fn send(&self, url: &Url, header: &str) -> Result<Value, ConnectorError> {
        self.api
            .json(|c| {
                c.get(url.clone())
                    .header(AUTHORIZATION, header)
                    .header(ACCEPT, "application/json")
            })
            .await
    }
}
