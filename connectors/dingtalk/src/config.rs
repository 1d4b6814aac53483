//! The `[connector]` table of a DingTalk connector (kind `dingtalk`).
//!
//! ```toml
//! [[connector]]
//! id = "dingtalk"
//! kind = "dingtalk"
//! app_key = "dingxxxxxxxx"                 # the internal app's Client ID (AppKey)
//! app_secret = "${DINGTALK_APP_SECRET}"
//! # base_url = "https://oapi.dingtalk.com"    # old API generation (oapi)
//! # api_base_url = "https://api.dingtalk.com" # new API generation (v1.0)
//! # time_zone = "Asia/Shanghai"               # the org's zone: work dates are local dates
//! # start_date = "2024-05-01"                 # first work date of attendance (default: 30 days ago)
//! # attendance_lookback_days = 2              # re-read window for late results
//! # root_department = 1
//! # requests_per_second = 15                  # DingTalk allows 20/s per app and API
//! # user_page_size = 100
//! # read_leavers = true                       # users stream also reads /v1.0/contact/empLeaveRecords
//!
//! [connector.webhook]                         # HTTP event push (optional)
//! token = "${DINGTALK_CALLBACK_TOKEN}"
//! aes_key = "${DINGTALK_CALLBACK_AES_KEY}"    # the 43-character EncodingAESKey
//! # app_key = "dingxxxxxxxx"                  # the id sealed in each event (default: app_key)
//! # max_age_secs = 300
//! ```
//!
//! Secrets arrive already resolved (env-var substitution happens in the
//! binary); `Debug` never prints them.

use chrono::{Duration, NaiveDate, Utc};
use chrono_tz::Tz;
use hrhub_connector::ConnectorError;
use serde::{Deserialize, Deserializer};
use std::collections::BTreeMap;
use std::fmt;
use url::Url;

/// The documented per-app, per-API limit is 20 calls/s; the default keeps a margin.
pub const DEFAULT_REQUESTS_PER_SECOND: u32 = 15;
/// `/topapi/v2/user/list` page size: 100 is the documented maximum of its sibling API.
pub const MAX_USER_PAGE_SIZE: u32 = 100;
/// Attendance data older than half a year cannot be queried.
pub const MAX_ATTENDANCE_AGE_DAYS: i64 = 180;

/// Configuration of one DingTalk internal app (one organization).
#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DingTalkConfig {
    /// The app's Client ID (AppKey).
    pub app_key: String,
    /// The app's Client Secret (AppSecret).
    pub app_secret: String,
    /// Old-generation API root (`/gettoken`, `/topapi/*`, `/attendance/*`);
    /// default `https://oapi.dingtalk.com`.
    #[serde(default)]
    pub base_url: Option<String>,
    /// New-generation API root (`/v1.0/*`); default `https://api.dingtalk.com`.
    #[serde(default)]
    pub api_base_url: Option<String>,
    /// IANA zone of the organization (default `Asia/Shanghai`). DingTalk's
    /// work dates are local midnights; `_work_date` and the RFC 3339
    /// `_checked_at`/`_scheduled_at` fields are rendered in this zone.
    #[serde(default)]
    pub time_zone: Option<String>,
    /// Work days re-read behind today on every attendance sync (default 2):
    /// missed-punch results are written hours after the shift.
    #[serde(default)]
    pub attendance_lookback_days: Option<u32>,
    /// The first work date the attendance stream reads (`YYYY-MM-DD`, quoted
    /// or a TOML date); default 30 days before the first sync. Clamped to
    /// the last 180 days, which is all DingTalk serves.
    #[serde(default, deserialize_with = "date_opt")]
    pub start_date: Option<NaiveDate>,
    /// The department the walk starts from (default 1, the whole organization).
    #[serde(default)]
    pub root_department: Option<i64>,
    /// The hub's call budget, shared by every call of this connector
    /// (default 15; DingTalk answers 90018 above 20 per second and API).
    #[serde(default)]
    pub requests_per_second: Option<u32>,
    /// Users per `/topapi/v2/user/list` page (default and maximum 100).
    #[serde(default)]
    pub user_page_size: Option<u32>,
    /// Whether the `users` stream also reads leavers from
    /// `/v1.0/contact/empLeaveRecords` (needs the contacts "leave records"
    /// permission; default true). Without it leavers only arrive by push.
    #[serde(default)]
    pub read_leavers: Option<bool>,
    /// HTTP event push settings; without them the connector has no push receiver.
    #[serde(default)]
    pub webhook: Option<DingTalkWebhook>,
}

/// The app's "HTTP push" settings from the developer console.
#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DingTalkWebhook {
    /// The signing token (签名 token).
    pub token: String,
    /// The 43-character EncodingAESKey.
    pub aes_key: String,
    /// The owner key sealed into every event: the AppKey for events
    /// subscribed in the developer console (the default), the CorpId for
    /// the legacy `register_call_back` API, the suite key for ISV apps.
    #[serde(default)]
    pub app_key: Option<String>,
    /// Deliveries whose `timestamp` is further than this from now are
    /// refused as stale (default 300 s).
    #[serde(default)]
    pub max_age_secs: Option<u64>,
}

fn date_opt<'de, D: Deserializer<'de>>(d: D) -> Result<Option<NaiveDate>, D::Error> {
    /// A quoted date, or a TOML date (which reaches serde as a one-entry map).
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Raw {
        Text(String),
        Toml(BTreeMap<String, String>),
    }
    let text = match Option::<Raw>::deserialize(d)? {
        None => return Ok(None),
        Some(Raw::Text(t)) => t,
        Some(Raw::Toml(map)) => map.into_values().next().unwrap_or_default(),
    };
    NaiveDate::parse_from_str(text.trim(), "%Y-%m-%d")
        .map(Some)
        .map_err(|e| {
            serde::de::Error::custom(format!("expected a date YYYY-MM-DD, got {text:?}: {e}"))
        })
}

impl DingTalkConfig {
    /// A configuration whose both API roots are `base_url` (tests, the demo).
    pub fn new(base_url: &str, app_key: &str, app_secret: &str) -> Self {
        DingTalkConfig {
            app_key: app_key.to_string(),
            app_secret: app_secret.to_string(),
            base_url: Some(base_url.to_string()),
            api_base_url: Some(base_url.to_string()),
            time_zone: None,
            attendance_lookback_days: None,
            start_date: None,
            root_department: None,
            requests_per_second: None,
            user_page_size: None,
            read_leavers: None,
            webhook: None,
        }
    }

    pub fn base_url(&self) -> Result<Url, ConnectorError> {
        parse_url(
            "base_url",
            self.base_url
                .as_deref()
                .unwrap_or("https://oapi.dingtalk.com"),
        )
    }

    pub fn api_base_url(&self) -> Result<Url, ConnectorError> {
        parse_url(
            "api_base_url",
            self.api_base_url
                .as_deref()
                .unwrap_or("https://api.dingtalk.com"),
        )
    }

    pub fn time_zone(&self) -> Result<Tz, ConnectorError> {
        let name = self.time_zone.as_deref().unwrap_or("Asia/Shanghai");
        name.parse::<Tz>().map_err(|_| {
            ConnectorError::Config(format!(
                "dingtalk: `time_zone` {name:?} is not an IANA time zone (e.g. \"Asia/Shanghai\")"
            ))
        })
    }

    pub fn attendance_lookback_days(&self) -> u32 {
        self.attendance_lookback_days.unwrap_or(2)
    }

    /// The first work date to read, as of `today` (local).
    pub fn start_date(&self, today: NaiveDate) -> NaiveDate {
        let earliest = today - Duration::days(MAX_ATTENDANCE_AGE_DAYS);
        self.start_date
            .unwrap_or(today - Duration::days(30))
            .max(earliest)
    }

    pub fn root_department(&self) -> i64 {
        self.root_department.unwrap_or(1)
    }

    pub fn requests_per_second(&self) -> u32 {
        self.requests_per_second
            .unwrap_or(DEFAULT_REQUESTS_PER_SECOND)
            .max(1)
    }

    pub fn user_page_size(&self) -> u32 {
        self.user_page_size.unwrap_or(MAX_USER_PAGE_SIZE)
    }

    pub fn read_leavers(&self) -> bool {
        self.read_leavers.unwrap_or(true)
    }

    /// Checks what serde cannot, naming the offending key.
    pub fn validate(&self) -> Result<(), ConnectorError> {
        if self.app_key.trim().is_empty() {
            return Err(ConnectorError::Config(
                "dingtalk: `app_key` is empty; use the app's Client ID (AppKey)".into(),
            ));
        }
        if self.app_secret.is_empty() {
            return Err(ConnectorError::Config(
                "dingtalk: `app_secret` is empty; use the app's Client Secret (AppSecret)".into(),
            ));
        }
        self.base_url()?;
        self.api_base_url()?;
        self.time_zone()?;
        let size = self.user_page_size();
        if size == 0 || size > MAX_USER_PAGE_SIZE {
            return Err(ConnectorError::Config(format!(
                "dingtalk: `user_page_size` must be 1..={MAX_USER_PAGE_SIZE}, got {size}"
            )));
        }
        if self.attendance_lookback_days() > 31 {
            return Err(ConnectorError::Config(format!(
                "dingtalk: `attendance_lookback_days` must be at most 31, got {}",
                self.attendance_lookback_days()
            )));
        }
        if let Some(start) = self.start_date {
            if start > Utc::now().date_naive() + Duration::days(1) {
                return Err(ConnectorError::Config(format!(
                    "dingtalk: `start_date` {start} is in the future"
                )));
            }
        }
        if let Some(w) = &self.webhook {
            w.crypto(&self.app_key)?;
        }
        Ok(())
    }
}

impl DingTalkWebhook {
    /// The owner key sealed into events (default: the connector's app key).
    pub fn receive_id<'a>(&'a self, app_key: &'a str) -> &'a str {
        self.app_key.as_deref().unwrap_or(app_key)
    }

    pub fn max_age(&self) -> std::time::Duration {
        std::time::Duration::from_secs(self.max_age_secs.unwrap_or(300))
    }

    pub(crate) fn crypto(
        &self,
        app_key: &str,
    ) -> Result<hrhub_connector::callback_crypto::CallbackCrypto, ConnectorError> {
        hrhub_connector::callback_crypto::CallbackCrypto::new(
            &self.token,
            &self.aes_key,
            self.receive_id(app_key),
        )
        .map_err(|e| ConnectorError::Config(format!("dingtalk: `webhook`: {e}")))
    }
}

fn parse_url(key: &str, raw: &str) -> Result<Url, ConnectorError> {
    let url = Url::parse(raw.trim_end_matches('/')).map_err(|e| {
        ConnectorError::Config(format!("dingtalk: `{key}` {raw:?} is not a URL: {e}"))
    })?;
    if !matches!(url.scheme(), "http" | "https") || url.host().is_none() {
        return Err(ConnectorError::Config(format!(
            "dingtalk: `{key}` must be an http(s) URL, got {raw:?}"
        )));
    }
    Ok(url)
}

impl fmt::Debug for DingTalkConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DingTalkConfig")
            .field("app_key", &self.app_key)
            .field("app_secret", &"<redacted>")
            .field("base_url", &self.base_url)
            .field("api_base_url", &self.api_base_url)
            .field("time_zone", &self.time_zone)
            .field("attendance_lookback_days", &self.attendance_lookback_days)
            .field("start_date", &self.start_date)
            .field("root_department", &self.root_department)
            .field("requests_per_second", &self.requests_per_second)
            .field("user_page_size", &self.user_page_size)
            .field("read_leavers", &self.read_leavers)
            .field("webhook", &self.webhook)
            .finish()
    }
}

impl fmt::Debug for DingTalkWebhook {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DingTalkWebhook")
            .field("token", &"<redacted>")
            .field("aes_key", &"<redacted>")
            .field("app_key", &self.app_key)
            .field("max_age_secs", &self.max_age_secs)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_toml(text: &str) -> Result<DingTalkConfig, String> {
        let value: toml::Value = toml::from_str(text).map_err(|e| e.to_string())?;
        value.try_into().map_err(|e: toml::de::Error| e.to_string())
    }

    #[test]
    fn defaults_and_toml_dates() {
        let c = parse_toml(
            r#"
            app_key = "dingkey"
            app_secret = "s3cret"
            start_date = 2024-05-01
            "#,
        )
        .unwrap();
        c.validate().unwrap();
        assert_eq!(c.base_url().unwrap().as_str(), "https://oapi.dingtalk.com/");
        assert_eq!(
            c.api_base_url().unwrap().as_str(),
            "https://api.dingtalk.com/"
        );
        assert_eq!(c.time_zone().unwrap(), chrono_tz::Asia::Shanghai);
        assert_eq!(c.attendance_lookback_days(), 2);
        assert_eq!(c.root_department(), 1);
        assert_eq!(c.requests_per_second(), 15);
        assert_eq!(c.user_page_size(), 100);
        assert!(c.read_leavers());
        assert_eq!(c.start_date, NaiveDate::from_ymd_opt(2024, 5, 1));
        let today = NaiveDate::from_ymd_opt(2024, 6, 1).unwrap();
        assert_eq!(
            c.start_date(today),
            NaiveDate::from_ymd_opt(2024, 5, 1).unwrap()
        );
        // clamped to the 180 days DingTalk serves
        let later = NaiveDate::from_ymd_opt(2025, 6, 1).unwrap();
        assert_eq!(c.start_date(later), later - Duration::days(180));

        let c = parse_toml(
            "app_key = \"k\"\napp_secret = \"s\"\nstart_date = \"2024-05-02\"\n[webhook]\ntoken = \"t\"\naes_key = \"4g5j64qlyl3zvetqxz5jiocdr586fn2zvjpa8zls3ij\"\n",
        )
        .unwrap();
        c.validate().unwrap();
        assert_eq!(c.start_date, NaiveDate::from_ymd_opt(2024, 5, 2));
        let w = c.webhook.as_ref().unwrap();
        assert_eq!(w.receive_id(&c.app_key), "k");
        assert_eq!(w.max_age().as_secs(), 300);
    }

    #[test]
    fn rejects_unknown_keys_and_bad_values() {
        let err =
            parse_toml("app_key = \"k\"\napp_secret = \"s\"\nappsecret = \"x\"\n").unwrap_err();
        assert!(err.contains("appsecret"), "{err}");
        let err = parse_toml(
            "app_key = \"k\"\napp_secret = \"s\"\n[webhook]\ntoken = \"t\"\naes_key = \"x\"\naeskey = \"y\"\n",
        )
        .unwrap_err();
        assert!(err.contains("aeskey"), "{err}");
        let err = parse_toml("app_key = \"k\"\napp_secret = \"s\"\nstart_date = \"May 1\"\n")
            .unwrap_err();
        assert!(err.contains("YYYY-MM-DD"), "{err}");

        let mut c = DingTalkConfig::new("http://127.0.0.1:1", "k", "s");
        c.time_zone = Some("China/Beijing".into());
        assert!(c.validate().unwrap_err().to_string().contains("time_zone"));
        c.time_zone = None;
        c.user_page_size = Some(500);
        assert!(c
            .validate()
            .unwrap_err()
            .to_string()
            .contains("user_page_size"));
        c.user_page_size = None;
        c.webhook = Some(DingTalkWebhook {
            token: "t".into(),
            aes_key: "short".into(),
            app_key: None,
            max_age_secs: None,
        });
        assert!(c.validate().unwrap_err().to_string().contains("webhook"));
        c.webhook = None;
        c.base_url = Some("ftp://x".into());
        assert!(c.validate().unwrap_err().to_string().contains("base_url"));
    }

    #[test]
    fn debug_never_prints_secrets() {
        let mut c = DingTalkConfig::new("http://x", "dingkey", "SECRET1");
        c.webhook = Some(DingTalkWebhook {
            token: "SECRET2".into(),
            aes_key: "SECRET3".into(),
            app_key: None,
            max_age_secs: None,
        });
        let shown = format!("{c:?}");
        assert!(!shown.contains("SECRET"), "{shown}");
        assert!(shown.contains("dingkey"));
    }
}
