//! The `[connector.config]` keys of a Cornerstone connector.
//!
//! ```toml
//! [[connector]]
//! id = "csod"
//! kind = "cornerstone"
//! corpname = "acme"                    # https://acme.csod.com; or base_url = "https://..." (a proxy, a mock)
//! start_date = "2024-01-01"            # first sync reads transcripts modified since then (default: 365 days back)
//! # lookback_hours = 24                # each sync re-reads this much before the last end (late or shifted records)
//! # page_size = 50                     # Transcript Search maximum
//! # requests_per_minute = 120
//! # lookup_emails = true               # learners' e-mail from the Employee API (scope employee:read)
//! # transcript_search_path = "/services/api/v1/transcripts/search"
//!
//! [connector.auth]                     # an application under Admin > Tools > Edge > API Management
//! client_id = "${CSOD_CLIENT_ID}"
//! client_secret = "${CSOD_CLIENT_SECRET}"
//! # scope = "transcript:read employee:read"   # default; transcript:read alone with lookup_emails = false
//! # token_url = "https://acme.csod.com/services/api/oauth2/token"
//! ```
//!
//! Secrets arrive already resolved (env-var substitution happens in the
//! binary); [`CornerstoneConfig`]'s `Debug` never prints them.

use chrono::{DateTime, NaiveDate, Utc};
use hrhub_connector::ConnectorError;
use serde::Deserialize;
use std::fmt;
use url::Url;

/// The documented maximum (and default) page size of Transcript Search.
pub const MAX_PAGE_SIZE: u32 = 50;

/// Transcript Search's path. csod.dev documents the API (parameters,
/// 24-hour windows, 50-record pages) but the reference this connector was
/// written from could not confirm the path; this is the sibling of the
/// documented `/services/api/v1/transcripts/overview`. Override it with
/// `transcript_search_path` if your portal's API explorer shows another.
pub const DEFAULT_TRANSCRIPT_SEARCH_PATH: &str = "/services/api/v1/transcripts/search";

/// The Employee API v2 (documented): `?externalId=` finds a user by User ID.
pub const EMPLOYEES_PATH: &str = "/services/api/x/users/v2/employees";

/// Configuration of one Cornerstone portal.
#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CornerstoneConfig {
    /// The portal name (`acme` for `https://acme.csod.com`). One of
    /// `corpname` and `base_url` is required.
    #[serde(default)]
    pub corpname: Option<String>,
    /// The portal root (default `https://{corpname}.csod.com`); any
    /// `http(s)://host:port[/prefix]` for proxies and mocks. Wins over
    /// `corpname`.
    #[serde(default)]
    pub base_url: Option<String>,
    /// The OAuth 2.0 application (client-credentials grant, the only one
    /// Cornerstone supports).
    pub auth: CornerstoneAuth,
    /// Where the first sync starts: transcripts modified at or after this
    /// instant (RFC 3339) or day (`YYYY-MM-DD`, UTC). Default: 365 days
    /// before the connector starts. Later syncs resume from the cursor.
    #[serde(default)]
    pub start_date: Option<String>,
    /// Hours re-read before the end of the previous sync (default 24):
    /// records that became visible late, or slid between pages while a
    /// window was being paged, are picked up; unchanged ones stop at landing.
    #[serde(default)]
    pub lookback_hours: Option<u32>,
    /// Records per Transcript Search page, 1..=50 (default 50).
    #[serde(default)]
    pub page_size: Option<u32>,
    /// The hub's request budget against the portal (default 120 per minute).
    #[serde(default)]
    pub requests_per_minute: Option<u32>,
    /// Look up each learner's e-mail once with the Employee API and add it
    /// to their transcripts as `_email` (default true; needs the
    /// `employee:read` scope and the "Employee API - View" permission).
    #[serde(default)]
    pub lookup_emails: Option<bool>,
    /// The Transcript Search path (see [`DEFAULT_TRANSCRIPT_SEARCH_PATH`]).
    #[serde(default)]
    pub transcript_search_path: Option<String>,
}

/// The application's client credentials.
#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CornerstoneAuth {
    pub client_id: String,
    pub client_secret: String,
    /// Space-separated scopes requested with each token. Default
    /// `transcript:read employee:read` (`transcript:read` alone when
    /// `lookup_emails = false`).
    #[serde(default)]
    pub scope: Option<String>,
    /// Default `{base_url}/services/api/oauth2/token`.
    #[serde(default)]
    pub token_url: Option<String>,
}

impl CornerstoneConfig {
    /// A configuration for `base_url` with these credentials (tests, the demo).
    pub fn new(base_url: &str, client_id: &str, client_secret: &str) -> Self {
        CornerstoneConfig {
            corpname: None,
            base_url: Some(base_url.to_string()),
            auth: CornerstoneAuth {
                client_id: client_id.to_string(),
                client_secret: client_secret.to_string(),
                scope: None,
                token_url: None,
            },
            start_date: None,
            lookback_hours: None,
            page_size: None,
            requests_per_minute: None,
            lookup_emails: None,
            transcript_search_path: None,
        }
    }

    /// The portal root, without a trailing slash.
    pub fn base_url(&self) -> Result<Url, ConnectorError> {
        let raw =
            match (&self.base_url, &self.corpname) {
                (Some(url), _) => url.clone(),
                (None, Some(corp)) if !corp.trim().is_empty() => {
                    format!("https://{}.csod.com", corp.trim())
                }
                _ => return Err(ConnectorError::Config(
                    "cornerstone: set `corpname` (e.g. \"acme\" for acme.csod.com) or `base_url`"
                        .into(),
                )),
            };
        let url = Url::parse(raw.trim_end_matches('/')).map_err(|e| {
            ConnectorError::Config(format!(
                "cornerstone: `base_url`/`corpname` gives an invalid URL {raw:?}: {e}"
            ))
        })?;
        if !matches!(url.scheme(), "http" | "https") || url.host().is_none() {
            return Err(ConnectorError::Config(format!(
                "cornerstone: `base_url` must be an http(s) URL, got {raw:?}"
            )));
        }
        Ok(url)
    }

    pub fn token_url(&self) -> Result<String, ConnectorError> {
        match &self.auth.token_url {
            Some(url) => Ok(url.clone()),
            None => Ok(format!(
                "{}/services/api/oauth2/token",
                self.base_url()?.as_str().trim_end_matches('/')
            )),
        }
    }

    pub fn lookup_emails(&self) -> bool {
        self.lookup_emails.unwrap_or(true)
    }

    pub fn scope(&self) -> String {
        match &self.auth.scope {
            Some(s) => s.clone(),
            None if self.lookup_emails() => "transcript:read employee:read".into(),
            None => "transcript:read".into(),
        }
    }

    pub fn page_size(&self) -> u32 {
        self.page_size.unwrap_or(MAX_PAGE_SIZE)
    }

    pub fn lookback_hours(&self) -> u32 {
        self.lookback_hours.unwrap_or(24)
    }

    pub fn requests_per_minute(&self) -> u32 {
        self.requests_per_minute.unwrap_or(120).max(1)
    }

    pub fn transcript_search_path(&self) -> String {
        let path = self
            .transcript_search_path
            .clone()
            .unwrap_or_else(|| DEFAULT_TRANSCRIPT_SEARCH_PATH.to_string());
        if path.starts_with('/') {
            path
        } else {
            format!("/{path}")
        }
    }

    /// `start_date` as an instant; `None` when unset.
    pub fn start(&self) -> Result<Option<DateTime<Utc>>, ConnectorError> {
        let Some(raw) = self.start_date.as_deref().map(str::trim) else {
            return Ok(None);
        };
        if let Ok(t) = DateTime::parse_from_rfc3339(raw) {
            return Ok(Some(t.with_timezone(&Utc)));
        }
        if let Ok(d) = NaiveDate::parse_from_str(raw, "%Y-%m-%d") {
            return Ok(Some(d.and_time(chrono::NaiveTime::MIN).and_utc()));
        }
        Err(ConnectorError::Config(format!(
            "cornerstone: `start_date` must be YYYY-MM-DD or RFC 3339 (2024-01-01T00:00:00Z), got {raw:?}"
        )))
    }

    /// Checks what serde cannot; errors name the key.
    pub fn validate(&self) -> Result<(), ConnectorError> {
        self.base_url()?;
        Url::parse(&self.token_url()?).map_err(|e| {
            ConnectorError::Config(format!(
                "cornerstone: `auth.token_url` {:?} is invalid: {e}",
                self.auth.token_url
            ))
        })?;
        let page_size = self.page_size();
        if page_size == 0 || page_size > MAX_PAGE_SIZE {
            return Err(ConnectorError::Config(format!(
                "cornerstone: `page_size` must be 1..={MAX_PAGE_SIZE} (Transcript Search's maximum), got {page_size}"
            )));
        }
        if self.auth.client_id.trim().is_empty() || self.auth.client_secret.trim().is_empty() {
            return Err(ConnectorError::Config(
                "cornerstone: `auth.client_id` and `auth.client_secret` must not be empty".into(),
            ));
        }
        self.start()?;
        Ok(())
    }
}

impl fmt::Debug for CornerstoneConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CornerstoneConfig")
            .field("corpname", &self.corpname)
            .field("base_url", &self.base_url)
            .field("auth", &self.auth)
            .field("start_date", &self.start_date)
            .field("lookback_hours", &self.lookback_hours)
            .field("page_size", &self.page_size)
            .field("requests_per_minute", &self.requests_per_minute)
            .field("lookup_emails", &self.lookup_emails)
            .field("transcript_search_path", &self.transcript_search_path)
            .finish()
    }
}

impl fmt::Debug for CornerstoneAuth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CornerstoneAuth")
            .field("client_id", &self.client_id)
            .field("client_secret", &"<redacted>")
            .field("scope", &self.scope)
            .field("token_url", &self.token_url)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(json: serde_json::Value) -> Result<CornerstoneConfig, serde_json::Error> {
        serde_json::from_value(json)
    }

    #[test]
    fn defaults_and_derived_urls() {
        let c = parse(serde_json::json!({
            "corpname": "acme",
            "auth": {"client_id": "app", "client_secret": "s3cret"}
        }))
        .unwrap();
        c.validate().unwrap();
        assert_eq!(c.base_url().unwrap().as_str(), "https://acme.csod.com/");
        assert_eq!(
            c.token_url().unwrap(),
            "https://acme.csod.com/services/api/oauth2/token"
        );
        assert_eq!(c.scope(), "transcript:read employee:read");
        assert_eq!(c.page_size(), 50);
        assert_eq!(c.lookback_hours(), 24);
        assert_eq!(c.requests_per_minute(), 120);
        assert_eq!(c.start().unwrap(), None);
        assert_eq!(c.transcript_search_path(), DEFAULT_TRANSCRIPT_SEARCH_PATH);

        let c = parse(serde_json::json!({
            "base_url": "http://127.0.0.1:9/", "lookup_emails": false, "start_date": "2024-01-02",
            "transcript_search_path": "custom/search",
            "auth": {"client_id": "app", "client_secret": "s"}
        }))
        .unwrap();
        c.validate().unwrap();
        assert_eq!(c.scope(), "transcript:read");
        assert_eq!(
            c.start().unwrap().unwrap().to_rfc3339(),
            "2024-01-02T00:00:00+00:00"
        );
        assert_eq!(c.transcript_search_path(), "/custom/search");
        assert_eq!(
            c.token_url().unwrap(),
            "http://127.0.0.1:9/services/api/oauth2/token"
        );
    }

    #[test]
    fn rejects_unknown_keys_and_bad_values() {
        let err = parse(serde_json::json!({"corpname": "a", "pagesize": 5,
            "auth": {"client_id": "i", "client_secret": "s"}}))
        .err()
        .unwrap();
        assert!(err.to_string().contains("pagesize"), "{err}");
        let err = parse(serde_json::json!({"corpname": "a",
            "auth": {"client_id": "i", "client_secret": "s", "grant": "password"}}))
        .err()
        .unwrap();
        assert!(err.to_string().contains("grant"), "{err}");

        let bad = |patch: serde_json::Value| {
            let mut v = serde_json::json!({"corpname": "a", "auth": {"client_id": "i", "client_secret": "s"}});
            for (k, x) in patch.as_object().unwrap() {
                v[k] = x.clone();
            }
            parse(v).unwrap().validate().unwrap_err().to_string()
        };
        assert!(bad(serde_json::json!({"page_size": 51})).contains("page_size"));
        assert!(bad(serde_json::json!({"start_date": "yesterday"})).contains("start_date"));
        assert!(bad(serde_json::json!({"corpname": " "})).contains("corpname"));
        assert!(bad(serde_json::json!({"base_url": "ftp://x"})).contains("base_url"));
    }

    #[test]
    fn debug_never_prints_secrets() {
        let c = CornerstoneConfig::new("http://x", "app", "SECRET1");
        let shown = format!("{c:?}");
        assert!(!shown.contains("SECRET"), "{shown}");
        assert!(shown.contains("app"));
    }
}
