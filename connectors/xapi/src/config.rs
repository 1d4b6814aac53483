//! The connector table of an xAPI connector.
//!
//! Secrets arrive already resolved (env-var substitution happens in the
//! binary); [`XapiConfig`]'s `Debug` never prints the password.

use chrono::{DateTime, Utc};
use hrhub_connector::ConnectorError;
use serde::Deserialize;
use std::fmt;
use url::Url;

/// The ADL verbs a training result comes from (the default `verbs`).
pub const DEFAULT_VERBS: [&str; 4] = [
    "http://adlnet.gov/expapi/verbs/completed",
    "http://adlnet.gov/expapi/verbs/passed",
    "http://adlnet.gov/expapi/verbs/failed",
    "http://adlnet.gov/expapi/verbs/scored",
];

/// The verb that cancels another statement; always read.
pub const VOIDED: &str = "http://adlnet.gov/expapi/verbs/voided";

/// Versions of the xAPI spec the connector speaks.
pub const VERSIONS: [&str; 5] = ["1.0.0", "1.0.1", "1.0.2", "1.0.3", "2.0.0"];

/// Configuration of one Learning Record Store.
#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct XapiConfig {
    /// The LRS's xAPI root, the URL that `statements` and `about` hang off
    /// (`https://lrs.acme.com/xapi/`, `https://acme.lrs.io/xapi/`).
    pub endpoint: String,
    /// The LRS client's key (Basic auth user).
    pub username: String,
    /// The LRS client's secret (Basic auth password).
    pub password: String,
    /// `X-Experience-API-Version` sent with every request (default `1.0.3`).
    #[serde(default)]
    pub version: Option<String>,
    /// Where the first sync starts (RFC 3339, on the LRS's `stored` time,
    /// exclusive); default: every statement the LRS holds. Later syncs
    /// resume from the stored cursor.
    #[serde(default)]
    pub since: Option<String>,
    /// The verbs kept (full IRIs, or ADL verb names such as `completed`);
    /// default completed, passed, failed, scored. Other statements are read
    /// (the statements API takes one verb per query) and dropped; voiding
    /// statements are always kept.
    #[serde(default)]
    pub verbs: Option<Vec<String>>,
    /// Statements per page (`limit`, default 500; the LRS may cap it lower).
    #[serde(default)]
    pub page_size: Option<u32>,
    /// The hub's request budget (default 600/min).
    #[serde(default)]
    pub requests_per_minute: Option<u32>,
}

impl XapiConfig {
    /// A configuration for `endpoint` with Basic credentials (tests, the demo).
    pub fn new(endpoint: &str, username: &str, password: &str) -> Self {
        XapiConfig {
            endpoint: endpoint.to_string(),
            username: username.to_string(),
            password: password.to_string(),
            version: None,
            since: None,
            verbs: None,
            page_size: None,
            requests_per_minute: None,
        }
    }

    /// The endpoint with a trailing slash, so `statements` joins under it.
    pub fn endpoint(&self) -> Result<Url, ConnectorError> {
        let raw = self.endpoint.trim();
        let mut url = Url::parse(raw).map_err(|e| {
            ConnectorError::Config(format!("xapi: `endpoint` {raw:?} is not a URL: {e}"))
        })?;
        if !matches!(url.scheme(), "http" | "https") || url.host().is_none() {
            return Err(ConnectorError::Config(format!(
                "xapi: `endpoint` must be an http(s) URL, got {raw:?}"
            )));
        }
        if url.query().is_some() || url.path().trim_end_matches('/').ends_with("/statements") {
            return Err(ConnectorError::Config(format!(
                "xapi: `endpoint` is the LRS's xAPI root (e.g. \"https://lrs.acme.com/xapi/\"), \
                 not the statements URL: {raw:?}"
            )));
        }
        if !url.path().ends_with('/') {
            let path = format!("{}/", url.path());
            url.set_path(&path);
        }
        Ok(url)
    }

    pub fn version(&self) -> &str {
        self.version.as_deref().unwrap_or("1.0.3")
    }

    /// The first sync's start, parsed.
    pub fn since(&self) -> Result<Option<DateTime<Utc>>, ConnectorError> {
        self.since
            .as_deref()
            .map(|s| {
                DateTime::parse_from_rfc3339(s.trim())
                    .map(|t| t.with_timezone(&Utc))
                    .map_err(|e| {
                        ConnectorError::Config(format!(
                            "xapi: `since` {s:?} is not an RFC 3339 time (e.g. \"2024-01-01T00:00:00Z\"): {e}"
                        ))
                    })
            })
            .transpose()
    }

    /// The kept verbs as IRIs (`completed` → the ADL IRI).
    pub fn verbs(&self) -> Vec<String> {
        match &self.verbs {
            Some(v) if !v.is_empty() => v
                .iter()
                .map(|v| {
                    let v = v.trim();
                    if v.contains(':') {
                        v.to_string()
                    } else {
                        format!("http://adlnet.gov/expapi/verbs/{v}")
                    }
                })
                .collect(),
            _ => DEFAULT_VERBS.iter().map(|v| v.to_string()).collect(),
        }
    }

    pub fn page_size(&self) -> u32 {
        self.page_size.unwrap_or(500)
    }

    pub fn requests_per_minute(&self) -> u32 {
        self.requests_per_minute.unwrap_or(600).max(1)
    }

    /// Checks what serde cannot, naming the key.
    pub fn validate(&self) -> Result<(), ConnectorError> {
        self.endpoint()?;
        self.since()?;
        if !VERSIONS.contains(&self.version()) {
            return Err(ConnectorError::Config(format!(
                "xapi: `version` {:?} is not an xAPI version ({})",
                self.version(),
                VERSIONS.join(", ")
            )));
        }
        if self.username.is_empty() {
            return Err(ConnectorError::Config(
                "xapi: `username` (the LRS client's key) is empty".into(),
            ));
        }
        if !(1..=10_000).contains(&self.page_size()) {
            return Err(ConnectorError::Config(format!(
                "xapi: `page_size` must be 1..=10000, got {}",
                self.page_size()
            )));
        }
        if self
            .verbs
            .as_ref()
            .is_some_and(|v| v.iter().any(|v| v.trim().is_empty()))
        {
            return Err(ConnectorError::Config(
                "xapi: `verbs` holds an empty verb".into(),
            ));
        }
        Ok(())
    }
}

impl fmt::Debug for XapiConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("XapiConfig")
            .field("endpoint", &self.endpoint)
            .field("username", &self.username)
            .field("password", &"<redacted>")
            .field("version", &self.version)
            .field("since", &self.since)
            .field("verbs", &self.verbs)
            .field("page_size", &self.page_size)
            .field("requests_per_minute", &self.requests_per_minute)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(json: serde_json::Value) -> Result<XapiConfig, serde_json::Error> {
        serde_json::from_value(json)
    }

    #[test]
    fn parses_with_defaults() {
        let c = parse(serde_json::json!({"endpoint": "https://lrs.acme.com/xapi",
            "username": "key", "password": "secret"}))
        .unwrap();
        c.validate().unwrap();
        assert_eq!(c.endpoint().unwrap().as_str(), "https://lrs.acme.com/xapi/");
        assert_eq!(c.version(), "1.0.3");
        assert_eq!(c.verbs().len(), 4);
        assert_eq!(c.page_size(), 500);
        assert_eq!(c.since().unwrap(), None);
        let c = parse(serde_json::json!({"endpoint": "https://lrs.acme.com/xapi/",
            "username": "key", "password": "secret", "verbs": ["completed", "https://w3id.org/xapi/adl/verbs/satisfied"],
            "since": "2024-05-01T00:00:00+08:00", "version": "1.0.1"}))
        .unwrap();
        c.validate().unwrap();
        assert_eq!(
            c.verbs(),
            vec![
                "http://adlnet.gov/expapi/verbs/completed".to_string(),
                "https://w3id.org/xapi/adl/verbs/satisfied".to_string()
            ]
        );
        assert_eq!(
            c.since().unwrap().unwrap().to_rfc3339(),
            "2024-04-30T16:00:00+00:00"
        );
    }

    #[test]
    fn rejects_unknown_keys_and_bad_values() {
        let err = parse(
            serde_json::json!({"endpoint": "https://x/xapi", "username": "k",
            "password": "s", "token": "t"}),
        )
        .err()
        .unwrap();
        assert!(err.to_string().contains("token"), "{err}");
        let mut c = XapiConfig::new("https://lrs.acme.com/xapi/statements", "k", "s");
        assert!(c.validate().unwrap_err().to_string().contains("xAPI root"));
        c.endpoint = "https://lrs.acme.com/xapi/".into();
        c.since = Some("yesterday".into());
        assert!(c.validate().unwrap_err().to_string().contains("since"));
        c.since = None;
        c.version = Some("0.95".into());
        assert!(c.validate().unwrap_err().to_string().contains("version"));
    }

    #[test]
    fn debug_never_prints_the_password() {
        let c = XapiConfig::new("https://lrs.acme.com/xapi/", "key", "SECRET-PW");
        let shown = format!("{c:?}");
        assert!(!shown.contains("SECRET"), "{shown}");
        assert!(shown.contains("key"));
    }
}
