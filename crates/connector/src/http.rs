use crate::retry::{retry, RetryPolicy};
use crate::ssrf::{self, UrlPolicy};
use crate::{ConnectorError, RateLimiter};
use reqwest::{RequestBuilder, Response, StatusCode};
use std::sync::Arc;
use std::time::Duration;

/// Transport settings shared by every HTTP connector.
#[derive(Debug, Clone)]
pub struct HttpConfig {
    /// Whole-request timeout, so a hung connection cannot stall a sync.
    pub timeout: Duration,
    pub connect_timeout: Duration,
    pub retry: RetryPolicy,
    /// The connector's own request budget, below the platform's limit.
    pub requests_per_minute: u32,
    pub burst: u32,
    /// Responses above this size are refused rather than buffered.
    pub max_body_bytes: usize,
    /// Which addresses requests may reach (`[security] allow_private_urls`).
    pub url_policy: UrlPolicy,
}

impl Default for HttpConfig {
    fn default() -> Self {
        HttpConfig {
            timeout: Duration::from_secs(60),
            connect_timeout: Duration::from_secs(10),
            retry: RetryPolicy::default(),
            requests_per_minute: 600,
            burst: 10,
            max_body_bytes: 64 * 1024 * 1024,
            url_policy: UrlPolicy::default(),
        }
    }
}

impl HttpConfig {
    /// The defaults, allowed to reach mock platforms on 127.0.0.1: for
    /// tests and benchmarks that build connectors directly.
    pub fn for_local_mocks() -> Self {
        HttpConfig {
            url_policy: UrlPolicy::allow_private(),
            ..HttpConfig::default()
        }
    }

    /// A reqwest client for a connector: the URL policy's resolver and
    /// redirect check (see [`crate::ssrf`]), these timeouts, hrhub's user
    /// agent. Requests sent with it still go through
    /// [`UrlPolicy::check_url`] first.
    pub fn reqwest_client(&self) -> Result<reqwest::Client, ConnectorError> {
        self.url_policy
            .client_builder()
            .timeout(self.timeout)
            .connect_timeout(self.connect_timeout)
            .user_agent(concat!("hrhub/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| ConnectorError::Config(format!("cannot build HTTP client: {e}")))
    }
}

/// A reqwest client with the hub's error classification, rate limit and
/// retry policy. One per connector instance.
#[derive(Debug)]
pub struct HttpClient {
    client: reqwest::Client,
    platform: &'static str,
    limiter: Arc<RateLimiter>,
    /// A budget shared with other clients (e.g. an account-wide limit above
    /// an endpoint's own), waited on after `limiter`.
    shared: Option<Arc<RateLimiter>>,
    config: HttpConfig,
}

impl HttpClient {
    pub fn new(platform: &'static str, config: HttpConfig) -> Result<Self, ConnectorError> {
        Ok(HttpClient {
            client: config.reqwest_client()?,
            platform,
            limiter: Arc::new(RateLimiter::per_minute(
                config.requests_per_minute,
                config.burst,
            )),
            shared: None,
            config,
        })
    }

    /// This client's own budget, to share with another client through
    /// [`HttpClient::with_shared_limiter`].
    pub fn limiter(&self) -> Arc<RateLimiter> {
        self.limiter.clone()
    }

    /// Makes every attempt also wait on `limiter` (and a 429's Retry-After
    /// pause it too), so endpoints with a budget of their own still count
    /// against the account-wide one.
    pub fn with_shared_limiter(mut self, limiter: Arc<RateLimiter>) -> Self {
        self.shared = Some(limiter);
        self
    }

    pub fn client(&self) -> &reqwest::Client {
        &self.client
    }

    /// Sends the request `build` makes (rebuilt for each attempt), retrying
    /// transient failures, and parses the JSON body of a 2xx answer.
    /// 401 comes back as [`ConnectorError::Auth`] at once, so the caller can
    /// refresh its token and call again.
    pub async fn json<F>(&self, build: F) -> Result<serde_json::Value, ConnectorError>
    where
        F: Fn(&reqwest::Client) -> RequestBuilder,
    {
        retry(&self.config.retry, || async {
            self.limiter.acquire().await;
            if let Some(shared) = &self.shared {
                shared.acquire().await;
            }
            let request = build(&self.client)
                .build()
                .map_err(|e| self.transport_error(e))?;
            self.config.url_policy.check_url(request.url())?;
            let response = self
                .client
                .execute(request)
                .await
                .map_err(|e| self.transport_error(e))?;
            let status = response.status();
            if status.is_success() {
                let body = self.read_body(response).await?;
                return serde_json::from_slice(&body).map_err(|e| {
                    ConnectorError::protocol(self.platform, format!("response is not JSON: {e}"))
                });
            }
            Err(self.status_error(response).await)
        })
        .await
    }

    async fn read_body(&self, mut response: Response) -> Result<Vec<u8>, ConnectorError> {
        let mut body = Vec::new();
        while let Some(chunk) = response
            .chunk()
            .await
            .map_err(|e| self.transport_error(e))?
        {
            if body.len() + chunk.len() > self.config.max_body_bytes {
                return Err(ConnectorError::protocol(
                    self.platform,
                    format!("response larger than {} bytes", self.config.max_body_bytes),
                ));
            }
            body.extend_from_slice(&chunk);
        }
        Ok(body)
    }

    async fn status_error(&self, response: Response) -> ConnectorError {
        let status = response.status();
        let retry_after = response
            .headers()
            .get(reqwest::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok())
            .map(Duration::from_secs);
        // Error bodies may be plain text (Zendesk 429s): keep a short excerpt, never parse.
        let excerpt = self
            .read_body(response)
            .await
            .map(|b| String::from_utf8_lossy(&b[..b.len().min(300)]).into_owned())
            .unwrap_or_default();
        match status {
            StatusCode::TOO_MANY_REQUESTS => {
                if let Some(wait) = retry_after {
                    self.limiter.pause_for(wait).await;
                    if let Some(shared) = &self.shared {
                        shared.pause_for(wait).await;
                    }
                }
                ConnectorError::RateLimited {
                    platform: self.platform.to_string(),
                    retry_after,
                }
            }
            StatusCode::UNAUTHORIZED => {
                ConnectorError::Auth(format!("{} answered 401: {excerpt}", self.platform))
            }
            StatusCode::FORBIDDEN => {
                ConnectorError::Forbidden(format!("{} answered 403: {excerpt}", self.platform))
            }
            s if s.is_server_error() || s == StatusCode::REQUEST_TIMEOUT => {
                ConnectorError::Transient(format!("{} answered {s}: {excerpt}", self.platform))
            }
            s => ConnectorError::protocol(self.platform, format!("HTTP {s}: {excerpt}")),
        }
    }

    fn transport_error(&self, e: reqwest::Error) -> ConnectorError {
        if let Some(refused) = ssrf::refusal(&e) {
            return refused.clone().into();
        }
        if e.is_builder() {
            return ConnectorError::Config(format!("bad request to {}: {e}", self.platform));
        }
        // timeouts, refused or reset connections, truncated bodies: all may pass.
        // reqwest's own message hides the cause ("connection refused"), so add the chain.
        let mut message = format!("{} request failed: {e}", self.platform);
        let mut source = std::error::Error::source(&e);
        while let Some(cause) = source {
            message.push_str(&format!(": {cause}"));
            source = cause.source();
        }
        ConnectorError::Transient(message)
    }
}
