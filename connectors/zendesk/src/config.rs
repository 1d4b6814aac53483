//! The `[connector.config]` table of a Zendesk connector.
//!
//! Secrets arrive already resolved (env-var substitution happens in the
//! binary); [`ZendeskConfig`]'s `Debug` never prints them.

use hrhub_connector::ConnectorError;
use serde::Deserialize;
use std::fmt;
use url::Url;

/// Configuration of one Zendesk Support account.
#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ZendeskConfig {
    /// The account's subdomain (`acme` for `https://acme.zendesk.com`).
    /// One of `subdomain` and `base_url` is required.
    #[serde(default)]
    pub subdomain: Option<String>,
    /// The API root without `/api/v2` (default `https://{subdomain}.zendesk.com`);
    /// any `http(s)://host:port[/prefix]` for mocks and proxies. Wins over
    /// `subdomain` when both are set.
    #[serde(default)]
    pub base_url: Option<String>,
    /// How to authenticate.
    pub auth: ZendeskAuth,
    /// Unix seconds where the first incremental export starts (default:
    /// now − 730 days, like Airbyte). Later syncs resume from the stored
    /// cursor and never look at this again.
    #[serde(default)]
    pub start_time: Option<i64>,
    /// The hub's request budget for the whole account (default 400, the
    /// Suite Growth/Professional limit). Every call counts against it.
    #[serde(default)]
    pub requests_per_minute: Option<u32>,
    /// The budget of the incremental export endpoints (default 10, the
    /// documented limit; 30 with the High Volume add-on).
    #[serde(default)]
    pub incremental_requests_per_minute: Option<u32>,
    /// Items per incremental export page (default and maximum 1000).
    #[serde(default)]
    pub page_size: Option<u32>,
    /// Days of satisfaction ratings re-read on every sync (default 14):
    /// ratings can change after creation but the API filters on creation
    /// time, so each sync re-reads the last N days; unchanged ones stop at
    /// landing.
    #[serde(default)]
    pub satisfaction_lookback_days: Option<u32>,
}

/// Credentials, tagged by `type`.
#[derive(Clone, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum ZendeskAuth {
    /// An API token acting as the admin whose e-mail is given:
    /// `Authorization: Basic base64("{email}/token:{token}")`.
    ApiToken { email: String, token: String },
    /// An OAuth client (confidential). See [`OAuthGrant`] for how tokens
    /// are obtained; `access_token` without `refresh_token` is a long-lived
    /// token used as-is (no refresh possible, a 401 is final).
    Oauth2 {
        client_id: String,
        client_secret: String,
        #[serde(default)]
        grant: OAuthGrant,
        /// Required with `grant = "refresh_token"`; rotated in memory on
        /// every refresh.
        #[serde(default)]
        refresh_token: Option<String>,
        /// A token to start with (no expiry known).
        #[serde(default)]
        access_token: Option<String>,
        /// Space-separated scopes (default `read`).
        #[serde(default = "default_scope")]
        scope: String,
        /// Default `{base_url}/oauth/tokens`.
        #[serde(default)]
        token_url: Option<String>,
    },
}

/// How the connector gets OAuth access tokens.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OAuthGrant {
    /// Client-credentials grant (Zendesk's advice for data pipelines): the
    /// token acts as the admin who created the OAuth client.
    #[default]
    ClientCredentials,
    /// Refresh-token grant: each refresh returns a new access and refresh token.
    RefreshToken,
}

fn default_scope() -> String {
    "read".to_string()
}

/// The documented incremental export limit; also the default page size.
pub const MAX_PAGE_SIZE: u32 = 1000;

impl ZendeskConfig {
    /// The configuration for an API token on `base_url` (tests, the demo).
    pub fn api_token(base_url: &str, email: &str, token: &str) -> Self {
        ZendeskConfig {
            subdomain: None,
            base_url: Some(base_url.to_string()),
            auth: ZendeskAuth::ApiToken {
                email: email.to_string(),
                token: token.to_string(),
            },
            start_time: None,
            requests_per_minute: None,
            incremental_requests_per_minute: None,
            page_size: None,
            satisfaction_lookback_days: None,
        }
    }

    /// The API root, without a trailing slash.
    pub fn base_url(&self) -> Result<Url, ConnectorError> {
        let raw = match (&self.base_url, &self.subdomain) {
            (Some(url), _) => url.clone(),
            (None, Some(sub)) if !sub.trim().is_empty() => {
                format!("https://{}.zendesk.com", sub.trim())
            }
            _ => {
                return Err(ConnectorError::Config(
                    "zendesk: set `subdomain` (e.g. \"acme\") or `base_url`".into(),
                ))
            }
        };
        let url = Url::parse(raw.trim_end_matches('/')).map_err(|e| {
            ConnectorError::Config(format!(
                "zendesk: `base_url`/`subdomain` gives an invalid URL {raw:?}: {e}"
            ))
        })?;
        if !matches!(url.scheme(), "http" | "https") || url.host().is_none() {
            return Err(ConnectorError::Config(format!(
                "zendesk: `base_url` must be an http(s) URL, got {raw:?}"
            )));
        }
        Ok(url)
    }

    pub fn requests_per_minute(&self) -> u32 {
        self.requests_per_minute.unwrap_or(400).max(1)
    }

    pub fn incremental_requests_per_minute(&self) -> u32 {
        self.incremental_requests_per_minute.unwrap_or(10).max(1)
    }

    pub fn page_size(&self) -> u32 {
        self.page_size.unwrap_or(MAX_PAGE_SIZE)
    }

    pub fn satisfaction_lookback_days(&self) -> u32 {
        self.satisfaction_lookback_days.unwrap_or(14)
    }

    /// Checks what serde cannot: names the offending key.
    pub fn validate(&self) -> Result<(), ConnectorError> {
        self.base_url()?;
        let page_size = self.page_size();
        if page_size == 0 || page_size > MAX_PAGE_SIZE {
            return Err(ConnectorError::Config(format!(
                "zendesk: `page_size` must be 1..={MAX_PAGE_SIZE}, got {page_size}"
            )));
        }
        if let ZendeskAuth::Oauth2 {
            grant: OAuthGrant::RefreshToken,
            refresh_token: None,
            ..
        } = &self.auth
        {
            return Err(ConnectorError::Config(
                "zendesk: `auth.grant = \"refresh_token\"` needs `auth.refresh_token`".into(),
            ));
        }
        if let ZendeskAuth::Oauth2 {
            token_url: Some(url),
            ..
        } = &self.auth
        {
            Url::parse(url).map_err(|e| {
                ConnectorError::Config(format!("zendesk: `auth.token_url` {url:?} is invalid: {e}"))
            })?;
        }
        Ok(())
    }
}

fn redact(secret: &Option<String>) -> &'static str {
    if secret.is_some() {
        "Some(<redacted>)"
    } else {
        "None"
    }
}

impl fmt::Debug for ZendeskConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ZendeskConfig")
            .field("subdomain", &self.subdomain)
            .field("base_url", &self.base_url)
            .field("auth", &self.auth)
            .field("start_time", &self.start_time)
            .field("requests_per_minute", &self.requests_per_minute)
            .field(
                "incremental_requests_per_minute",
                &self.incremental_requests_per_minute,
            )
            .field("page_size", &self.page_size)
            .field(
                "satisfaction_lookback_days",
                &self.satisfaction_lookback_days,
            )
            .finish()
    }
}

impl fmt::Debug for ZendeskAuth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ZendeskAuth::ApiToken { email, .. } => f
                .debug_struct("ApiToken")
                .field("email", email)
                .field("token", &"<redacted>")
                .finish(),
            ZendeskAuth::Oauth2 {
                client_id,
                grant,
                refresh_token,
                access_token,
                scope,
                token_url,
                ..
            } => f
                .debug_struct("Oauth2")
                .field("client_id", client_id)
                .field("client_secret", &"<redacted>")
                .field("grant", grant)
                .field("refresh_token", &redact(refresh_token))
                .field("access_token", &redact(access_token))
                .field("scope", scope)
                .field("token_url", token_url)
                .finish(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(json: serde_json::Value) -> Result<ZendeskConfig, serde_json::Error> {
        serde_json::from_value(json)
    }

    #[test]
    fn parses_both_auth_kinds_with_defaults() {
        let c = parse(serde_json::json!({
            "subdomain": "acme",
            "auth": {"type": "api_token", "email": "a@acme.example", "token": "s3cret"}
        }))
        .unwrap();
        c.validate().unwrap();
        assert_eq!(c.base_url().unwrap().as_str(), "https://acme.zendesk.com/");
        assert_eq!(c.page_size(), 1000);
        assert_eq!(c.incremental_requests_per_minute(), 10);
        assert_eq!(c.requests_per_minute(), 400);
        assert_eq!(c.satisfaction_lookback_days(), 14);

        let c = parse(serde_json::json!({
            "base_url": "http://127.0.0.1:9999/",
            "auth": {"type": "oauth2", "client_id": "hub", "client_secret": "s3cret"}
        }))
        .unwrap();
        match &c.auth {
            ZendeskAuth::Oauth2 { grant, scope, .. } => {
                assert_eq!(*grant, OAuthGrant::ClientCredentials);
                assert_eq!(scope, "read");
            }
            _ => panic!("oauth2 expected"),
        }
        assert_eq!(c.base_url().unwrap().as_str(), "http://127.0.0.1:9999/");
    }

    #[test]
    fn rejects_unknown_keys_and_missing_host() {
        let err = parse(serde_json::json!({
            "subdomain": "acme", "pagesize": 5,
            "auth": {"type": "api_token", "email": "a", "token": "t"}
        }))
        .err()
        .unwrap();
        assert!(err.to_string().contains("pagesize"), "{err}");
        let err = parse(serde_json::json!({
            "subdomain": "acme",
            "auth": {"type": "api_token", "email": "a", "token": "t", "tokn": "x"}
        }))
        .err()
        .unwrap();
        assert!(err.to_string().contains("tokn"), "{err}");

        let c =
            parse(serde_json::json!({"auth": {"type": "api_token", "email": "a", "token": "t"}}))
                .unwrap();
        let err = c.validate().unwrap_err().to_string();
        assert!(
            err.contains("subdomain") && err.contains("base_url"),
            "{err}"
        );

        let c = parse(serde_json::json!({"subdomain": "acme", "page_size": 5000,
            "auth": {"type": "oauth2", "client_id": "i", "client_secret": "s", "grant": "refresh_token"}}))
        .unwrap();
        assert!(c.validate().unwrap_err().to_string().contains("page_size"));
    }

    #[test]
    fn debug_never_prints_secrets() {
        let c = parse(serde_json::json!({
            "subdomain": "acme",
            "auth": {"type": "oauth2", "client_id": "hub", "client_secret": "SECRET1",
                     "refresh_token": "SECRET2", "access_token": "SECRET3", "grant": "refresh_token"}
        }))
        .unwrap();
        let shown = format!("{c:?}");
        assert!(!shown.contains("SECRET"), "{shown}");
        let c = ZendeskConfig::api_token("http://x", "a@b.c", "SECRET4");
        assert!(!format!("{c:?}").contains("SECRET"));
    }
}
