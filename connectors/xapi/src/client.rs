//! GETs against the LRS: Basic auth, `X-Experience-API-Version` on every
//! request, the hub's budget and retry policy, and the response's
//! `X-Experience-API-Consistent-Through` header (which
//! [`hrhub_connector::HttpClient`] does not return, hence this small client
//! built on the same [`retry`] and [`RateLimiter`] with the same status
//! classification).

use crate::config::XapiConfig;
use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use hrhub_connector::retry::{retry, RetryPolicy};
use hrhub_connector::{ssrf, ConnectorError, HttpConfig, RateLimiter, UrlPolicy};
use reqwest::{Response, StatusCode};
use serde_json::Value;
use std::time::Duration;
use url::Url;

/// The consistency header of statement queries.
pub const CONSISTENT_THROUGH: &str = "x-experience-api-consistent-through";
/// The version header every request carries.
pub const VERSION_HEADER: &str = "X-Experience-API-Version";

/// A JSON answer and the consistency header that came with it.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct LrsAnswer {
    pub body: Value,
    pub consistent_through: Option<String>,
}

#[derive(Debug)]
pub(crate) struct LrsClient {
    endpoint: Url,
    client: reqwest::Client,
    url_policy: UrlPolicy,
    authorization: String,
    version: String,
    limiter: RateLimiter,
    retry: RetryPolicy,
    max_body_bytes: usize,
}

impl LrsClient {
    pub(crate) fn new(config: &XapiConfig, http: HttpConfig) -> Result<Self, ConnectorError> {
        config.validate()?;
        let endpoint = config.endpoint()?;
        http.url_policy
            .check_configured("xapi", "endpoint", &endpoint)?;
        Ok(LrsClient {
            endpoint,
            client: http.reqwest_client()?,
            url_policy: http.url_policy,
            authorization: format!(
                "Basic {}",
                B64.encode(format!("{}:{}", config.username, config.password))
            ),
            version: config.version().to_string(),
            limiter: RateLimiter::per_minute(config.requests_per_minute(), http.burst),
            retry: http.retry,
            max_body_bytes: http.max_body_bytes,
        })
    }

    pub(crate) fn endpoint(&self) -> &Url {
        &self.endpoint
    }

    /// `{endpoint}{resource}` (`statements`, `about`).
    pub(crate) fn resource(&self, resource: &str) -> Url {
        self.endpoint
            .join(resource)
            .expect("a relative resource joins onto the endpoint")
    }

    /// Resolves a `more` link: a path relative to the LRS host (the spec),
    /// tolerating a path relative to the endpoint or an absolute URL, but
    /// never another origin (the credentials go wherever it points).
    pub(crate) fn resolve_more(&self, more: &str) -> Result<Url, ConnectorError> {
        let url = self.endpoint.join(more.trim()).map_err(|e| {
            ConnectorError::protocol("xapi", format!("`more` link {more:?} is not a URL: {e}"))
        })?;
        if url.origin() != self.endpoint.origin() {
            return Err(ConnectorError::protocol(
                "xapi",
                format!(
                    "`more` link {more:?} points away from the LRS ({}); refusing to send credentials there",
                    self.endpoint.origin().ascii_serialization()
                ),
            ));
        }
        Ok(url)
    }

    /// GETs `url` as JSON, retrying transient failures.
    pub(crate) async fn get(&self, url: &Url) -> Result<LrsAnswer, ConnectorError> {
        self.url_policy.check_url(url)?;
        retry(&self.retry, || async {
            self.limiter.acquire().await;
            let response = self
                .client
                .get(url.clone())
                .header(reqwest::header::AUTHORIZATION, &self.authorization)
                .header(VERSION_HEADER, &self.version)
                .header(reqwest::header::ACCEPT, "application/json")
                .send()
                .await
                .map_err(transport_error)?;
            let status = response.status();
            if !status.is_success() {
                return Err(self.status_error(response).await);
            }
            let consistent_through = response
                .headers()
                .get(CONSISTENT_THROUGH)
                .and_then(|v| v.to_str().ok())
                .map(str::to_string);
            let body = self.read_body(response).await?;
            let body = serde_json::from_slice(&body).map_err(|e| {
                ConnectorError::protocol("xapi", format!("response is not JSON: {e}"))
            })?;
            Ok(LrsAnswer {
                body,
                consistent_through,
            })
        })
        .await
    }

    async fn read_body(&self, mut response: Response) -> Result<Vec<u8>, ConnectorError> {
        let mut body = Vec::new();
        while let Some(chunk) = response.chunk().await.map_err(transport_error)? {
            if body.len() + chunk.len() > self.max_body_bytes {
                return Err(ConnectorError::protocol(
                    "xapi",
                    format!("response larger than {} bytes", self.max_body_bytes),
                ));
            }
            body.extend_from_slice(&chunk);
        }
        Ok(body)
    }

    /// The hub's classification (as `HttpClient`'s): 429 waits for
    /// Retry-After, 5xx/408 retry, 401/403 are final.
    async fn status_error(&self, response: Response) -> ConnectorError {
        let status = response.status();
        let retry_after = response
            .headers()
            .get(reqwest::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok())
            .map(Duration::from_secs);
        let excerpt = self
            .read_body(response)
            .await
            .map(|b| String::from_utf8_lossy(&b[..b.len().min(300)]).into_owned())
            .unwrap_or_default();
        match status {
            StatusCode::TOO_MANY_REQUESTS => {
                if let Some(wait) = retry_after {
                    self.limiter.pause_for(wait).await;
                }
                ConnectorError::RateLimited {
                    platform: "xapi".into(),
                    retry_after,
                }
            }
            StatusCode::UNAUTHORIZED => ConnectorError::Auth(format!(
                "the LRS answered 401 ({excerpt}); check `username` and `password` (the LRS \
                 client's key and secret) and that the client is enabled"
            )),
            StatusCode::FORBIDDEN => ConnectorError::Forbidden(format!(
                "the LRS answered 403 ({excerpt}); the LRS client needs read access to statements \
                 (e.g. the `statements/read` scope)"
            )),
            s if s.is_server_error() || s == StatusCode::REQUEST_TIMEOUT => {
                ConnectorError::Transient(format!("the LRS answered {s}: {excerpt}"))
            }
            s => ConnectorError::protocol("xapi", format!("HTTP {s}: {excerpt}")),
        }
    }
}

fn transport_error(e: reqwest::Error) -> ConnectorError {
    if let Some(refused) = ssrf::refusal(&e) {
        return refused.clone().into();
    }
    if e.is_builder() {
        return ConnectorError::Config(format!("bad request to the LRS: {e}"));
    }
    let mut message = format!("LRS request failed: {e}");
    let mut source = std::error::Error::source(&e);
    while let Some(cause) = source {
        message.push_str(&format!(": {cause}"));
        source = cause.source();
    }
    ConnectorError::Transient(message)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn client(endpoint: &str) -> LrsClient {
        LrsClient::new(
            &XapiConfig::new(endpoint, "key", "secret"),
            HttpConfig::default(),
        )
        .unwrap()
    }

    #[test]
    fn more_links_resolve_against_the_host_and_stay_there() {
        let c = client("https://lrs.acme.com/xapi");
        assert_eq!(
            c.resource("statements").as_str(),
            "https://lrs.acme.com/xapi/statements"
        );
        assert_eq!(
            c.resolve_more("/xapi/statements?more=abc")
                .unwrap()
                .as_str(),
            "https://lrs.acme.com/xapi/statements?more=abc"
        );
        // relative to the host, not the endpoint's path
        assert_eq!(
            c.resolve_more("/data/xAPI/statements?more=x")
                .unwrap()
                .as_str(),
            "https://lrs.acme.com/data/xAPI/statements?more=x"
        );
        assert_eq!(
            c.resolve_more("https://lrs.acme.com/xapi/statements?more=y")
                .unwrap()
                .as_str(),
            "https://lrs.acme.com/xapi/statements?more=y"
        );
        for bad in [
            "https://evil.example/xapi/statements?more=1",
            "http://lrs.acme.com/xapi/statements?more=1",
            "https://lrs.acme.com:8443/xapi/statements?more=1",
            "//evil.example/statements",
        ] {
            let err = c.resolve_more(bad).unwrap_err();
            assert!(err.to_string().contains("points away"), "{bad}: {err}");
        }
    }
}
