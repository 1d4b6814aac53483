//! The `[connector.config]` table of a WeCom connector.
//!
//! Secrets arrive already resolved (env-var substitution happens in the
//! binary); [`WeComConfig`]'s `Debug` never prints them.

use chrono::{Duration as Days, NaiveDate, Utc};
use chrono_tz::Tz;
use hrhub_connector::callback_crypto::CallbackCrypto;
use hrhub_connector::ConnectorError;
use serde::Deserialize;
use std::fmt;
use url::Url;

/// WeCom's API host.
pub const DEFAULT_BASE_URL: &str = "https://qyapi.weixin.qq.com";

/// Configuration of one WeCom corp.
#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WeComConfig {
    /// The CorpID (`ww...`), 我的企业 → 企业信息.
    pub corp_id: String,
    /// The self-built app's secret. It reads check-ins (the app must be
    /// listed under 打卡 → 可调用接口的应用) and, without
    /// `contacts_secret`, the org data within the app's visibility range.
    pub secret: String,
    /// The 通讯录同步 (contacts sync) secret. Optional; when set it is used
    /// for departments and users (it is the only secret `user/list_id`
    /// accepts, and it sees the whole org).
    #[serde(default)]
    pub contacts_secret: Option<String>,
    /// API root (default `https://qyapi.weixin.qq.com`); any
    /// `http(s)://host:port[/prefix]` for mocks and proxies.
    #[serde(default)]
    pub base_url: Option<String>,
    /// Name of the custom attribute (`extattr`) holding the 工号 (default
    /// `工号`); WeCom has no native employee-number field and tenants name
    /// the attribute themselves. The connector copies its text to
    /// `_employee_no` on each user (null when a member has no such
    /// attribute).
    #[serde(default)]
    pub employee_no_attr: Option<String>,
    /// IANA zone the corp's working days are in (default `Asia/Shanghai`):
    /// check-in windows start at its midnights and `_work_date` is the
    /// local date.
    #[serde(default)]
    pub time_zone: Option<String>,
    /// Days of check-ins re-read on every sync (default 7). WeCom has no
    /// "changed since" filter and corrections (补卡) and approvals (leave,
    /// outings) rewrite past days, typically within a few days; a re-read
    /// costs one call per 100 users for any lookback up to 30 days, and
    /// unchanged punches stop at landing. Raise it (up to 60) where 补卡 is
    /// allowed until month close.
    #[serde(default)]
    pub checkin_lookback_days: Option<u32>,
    /// Also read the daily reports (`getcheckin_daydata`, stream
    /// `checkin_daily`): absences and leave, which raw punches do not show.
    #[serde(default)]
    pub daily_report: bool,
    /// First local day to read check-ins from (default: 30 days ago). Only
    /// the first sync uses it; later ones resume from the stored cursor.
    /// `"2024-01-01"` or a bare TOML date.
    #[serde(default, deserialize_with = "date")]
    pub start_date: Option<NaiveDate>,
    /// Explicit userids to read (users and check-ins). The workaround when
    /// the secret cannot enumerate members: `user/list_id` needs the
    /// contacts-sync secret and, since 2022-08-15, `user/list` is refused
    /// to newly added IPs.
    #[serde(default)]
    pub userids: Option<Vec<String>>,
    /// The hub's budget for ordinary API calls (default 1000/min; WeCom
    /// allows 10 000/min per API per corp).
    #[serde(default)]
    pub requests_per_minute: Option<u32>,
    /// Budget of `checkin/getcheckindata` (default 300/min; WeCom: 600).
    #[serde(default)]
    pub checkin_requests_per_minute: Option<u32>,
    /// Budget of `checkin/getcheckin_daydata` (default 60/min; WeCom: 100).
    #[serde(default)]
    pub daily_report_requests_per_minute: Option<u32>,
    /// How long to wait after a frequency-limit errcode (45009) before
    /// trying again (default 60: WeCom's minute-level block lasts 60 s).
    #[serde(default)]
    pub rate_limit_wait_secs: Option<u64>,
    /// Callback (event push) settings; without them the connector has no
    /// push receiver.
    #[serde(default)]
    pub webhook: Option<WeComWebhook>,
}

/// The callback URL's settings (应用管理 → 接收消息 → 设置API接收, or
/// 通讯录同步 → 设置接收事件服务器).
#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WeComWebhook {
    /// The callback Token (letters/digits, ≤ 32).
    pub token: String,
    /// The 43-character EncodingAESKey.
    pub aes_key: String,
    /// The receive id sealed in each message (default: `corp_id`).
    #[serde(default)]
    pub corp_id: Option<String>,
    /// Deliveries whose `timestamp` is further than this from now are
    /// refused as stale (default 300 s).
    #[serde(default)]
    pub max_age_secs: Option<u64>,
}

impl WeComWebhook {
    pub fn max_age_secs(&self) -> u64 {
        self.max_age_secs.unwrap_or(300)
    }
}

impl WeComConfig {
    /// A configuration for `base_url` (tests, the demo).
    pub fn new(base_url: &str, corp_id: &str, secret: &str) -> Self {
        WeComConfig {
            corp_id: corp_id.to_string(),
            secret: secret.to_string(),
            contacts_secret: None,
            base_url: Some(base_url.to_string()),
            employee_no_attr: None,
            time_zone: None,
            checkin_lookback_days: None,
            daily_report: false,
            start_date: None,
            userids: None,
            requests_per_minute: None,
            checkin_requests_per_minute: None,
            daily_report_requests_per_minute: None,
            rate_limit_wait_secs: None,
            webhook: None,
        }
    }

    /// The API root.
    pub fn base_url(&self) -> Result<Url, ConnectorError> {
        let raw = self.base_url.as_deref().unwrap_or(DEFAULT_BASE_URL);
        let url = Url::parse(raw.trim_end_matches('/')).map_err(|e| {
            ConnectorError::Config(format!("wecom: `base_url` {raw:?} is invalid: {e}"))
        })?;
        if !matches!(url.scheme(), "http" | "https") || url.host().is_none() {
            return Err(ConnectorError::Config(format!(
                "wecom: `base_url` must be an http(s) URL, got {raw:?}"
            )));
        }
        Ok(url)
    }

    pub fn time_zone(&self) -> Result<Tz, ConnectorError> {
        let name = self.time_zone.as_deref().unwrap_or("Asia/Shanghai");
        name.parse::<Tz>().map_err(|_| {
            ConnectorError::Config(format!(
                "wecom: `time_zone` {name:?} is not an IANA time zone (e.g. \"Asia/Shanghai\")"
            ))
        })
    }

    pub fn employee_no_attr(&self) -> &str {
        self.employee_no_attr.as_deref().unwrap_or("工号")
    }

    pub fn checkin_lookback_days(&self) -> u32 {
        self.checkin_lookback_days.unwrap_or(7)
    }

    /// The first local day of the first check-in scan.
    pub fn start_date(&self, tz: Tz) -> NaiveDate {
        self.start_date
            .unwrap_or_else(|| Utc::now().with_timezone(&tz).date_naive() - Days::days(30))
    }

    pub fn requests_per_minute(&self) -> u32 {
        self.requests_per_minute.unwrap_or(1000).max(1)
    }

    pub fn checkin_requests_per_minute(&self) -> u32 {
        self.checkin_requests_per_minute.unwrap_or(300).max(1)
    }

    pub fn daily_report_requests_per_minute(&self) -> u32 {
        self.daily_report_requests_per_minute.unwrap_or(60).max(1)
    }

    pub fn rate_limit_wait_secs(&self) -> u64 {
        self.rate_limit_wait_secs.unwrap_or(60)
    }

    /// The callback crypto, when `webhook` is configured.
    pub fn callback_crypto(&self) -> Result<Option<CallbackCrypto>, ConnectorError> {
        let Some(hook) = &self.webhook else {
            return Ok(None);
        };
        let receive_id = hook.corp_id.as_deref().unwrap_or(&self.corp_id);
        CallbackCrypto::new(&hook.token, &hook.aes_key, receive_id)
            .map(Some)
            .map_err(|e| ConnectorError::Config(format!("wecom: `webhook`: {e}")))
    }

    /// Checks what serde cannot; names the offending key.
    pub fn validate(&self) -> Result<(), ConnectorError> {
        if self.corp_id.trim().is_empty() {
            return Err(ConnectorError::Config("wecom: `corp_id` is empty".into()));
        }
        if self.secret.trim().is_empty() {
            return Err(ConnectorError::Config("wecom: `secret` is empty".into()));
        }
        if matches!(&self.contacts_secret, Some(s) if s.trim().is_empty()) {
            return Err(ConnectorError::Config(
                "wecom: `contacts_secret` is empty; remove it or set the 通讯录同步 secret".into(),
            ));
        }
        self.base_url()?;
        let tz = self.time_zone()?;
        let lookback = self.checkin_lookback_days();
        if lookback > 60 {
            return Err(ConnectorError::Config(format!(
                "wecom: `checkin_lookback_days` must be 0..=60, got {lookback}"
            )));
        }
        if let Some(start) = self.start_date {
            let today = Utc::now().with_timezone(&tz).date_naive();
            if start > today {
                return Err(ConnectorError::Config(format!(
                    "wecom: `start_date` {start} is in the future"
                )));
            }
        }
        if let Some(ids) = &self.userids {
            if ids.is_empty() {
                return Err(ConnectorError::Config(
                    "wecom: `userids` is empty; remove it to enumerate members instead".into(),
                ));
            }
            if let Some(bad) = ids.iter().find(|u| u.is_empty() || u.len() > 64) {
                return Err(ConnectorError::Config(format!(
                    "wecom: `userids` entry {bad:?} is not a WeCom userid (1–64 bytes)"
                )));
            }
        }
        if matches!(&self.employee_no_attr, Some(a) if a.trim().is_empty()) {
            return Err(ConnectorError::Config(
                "wecom: `employee_no_attr` is empty; name the custom attribute (e.g. \"工号\")"
                    .into(),
            ));
        }
        self.callback_crypto()?;
        Ok(())
    }
}

/// A date as `"YYYY-MM-DD"` or as a TOML local date (which serde sees as
/// a one-key map holding the text).
fn date<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<NaiveDate>, D::Error> {
    struct Visitor;
    impl<'de> serde::de::Visitor<'de> for Visitor {
        type Value = Option<NaiveDate>;
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("a date, YYYY-MM-DD")
        }
        fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Self::Value, E> {
            NaiveDate::parse_from_str(v.trim(), "%Y-%m-%d")
                .map(Some)
                .map_err(|_| E::custom(format!("{v:?} is not a date (YYYY-MM-DD)")))
        }
        fn visit_map<A: serde::de::MapAccess<'de>>(
            self,
            mut map: A,
        ) -> Result<Self::Value, A::Error> {
            let Some((_, text)) = map.next_entry::<String, String>()? else {
                return Err(serde::de::Error::custom("expected a date (YYYY-MM-DD)"));
            };
            self.visit_str(&text)
        }
        fn visit_none<E: serde::de::Error>(self) -> Result<Self::Value, E> {
            Ok(None)
        }
        fn visit_some<D2: serde::Deserializer<'de>>(self, d: D2) -> Result<Self::Value, D2::Error> {
            d.deserialize_any(Visitor)
        }
    }
    d.deserialize_option(Visitor)
}

fn redact(secret: &Option<String>) -> &'static str {
    if secret.is_some() {
        "Some(<redacted>)"
    } else {
        "None"
    }
}

impl fmt::Debug for WeComConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WeComConfig")
            .field("corp_id", &self.corp_id)
            .field("secret", &"<redacted>")
            .field("contacts_secret", &redact(&self.contacts_secret))
            .field("base_url", &self.base_url)
            .field("employee_no_attr", &self.employee_no_attr)
            .field("time_zone", &self.time_zone)
            .field("checkin_lookback_days", &self.checkin_lookback_days)
            .field("daily_report", &self.daily_report)
            .field("start_date", &self.start_date)
            .field("userids", &self.userids.as_ref().map(Vec::len))
            .field("requests_per_minute", &self.requests_per_minute)
            .field(
                "checkin_requests_per_minute",
                &self.checkin_requests_per_minute,
            )
            .field(
                "daily_report_requests_per_minute",
                &self.daily_report_requests_per_minute,
            )
            .field("rate_limit_wait_secs", &self.rate_limit_wait_secs)
            .field("webhook", &self.webhook)
            .finish()
    }
}

impl fmt::Debug for WeComWebhook {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WeComWebhook")
            .field("token", &"<redacted>")
            .field("aes_key", &"<redacted>")
            .field("corp_id", &self.corp_id)
            .field("max_age_secs", &self.max_age_secs)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(json: serde_json::Value) -> Result<WeComConfig, serde_json::Error> {
        serde_json::from_value(json)
    }

    #[test]
    fn defaults() {
        let c = parse(serde_json::json!({"corp_id": "ww1", "secret": "s"})).unwrap();
        c.validate().unwrap();
        assert_eq!(
            c.base_url().unwrap().as_str(),
            "https://qyapi.weixin.qq.com/"
        );
        assert_eq!(c.time_zone().unwrap(), chrono_tz::Asia::Shanghai);
        assert_eq!(c.checkin_lookback_days(), 7);
        assert_eq!(c.employee_no_attr(), "工号");
        assert!(!c.daily_report);
        assert_eq!(c.requests_per_minute(), 1000);
        assert_eq!(c.checkin_requests_per_minute(), 300);
        assert_eq!(c.daily_report_requests_per_minute(), 60);
        assert_eq!(c.rate_limit_wait_secs(), 60);
        assert!(c.callback_crypto().unwrap().is_none());
        let today = Utc::now()
            .with_timezone(&chrono_tz::Asia::Shanghai)
            .date_naive();
        assert_eq!(
            c.start_date(chrono_tz::Asia::Shanghai),
            today - Days::days(30)
        );
    }

    #[test]
    fn start_date_as_text_or_toml_date() {
        let c =
            parse(serde_json::json!({"corp_id": "ww1", "secret": "s", "start_date": "2024-01-02"}))
                .unwrap();
        assert_eq!(c.start_date, NaiveDate::from_ymd_opt(2024, 1, 2));
        // how a bare TOML date reaches serde
        let c = parse(serde_json::json!({"corp_id": "ww1", "secret": "s",
            "start_date": {"$__toml_private_datetime": "2024-01-03"}}))
        .unwrap();
        assert_eq!(c.start_date, NaiveDate::from_ymd_opt(2024, 1, 3));
        assert!(
            parse(serde_json::json!({"corp_id": "ww1", "secret": "s", "start_date": "Jan 3"}))
                .is_err()
        );
    }

    #[test]
    fn a_toml_connector_table_parses() {
        // As the binary hands it over: the [[connector]] table's own keys
        // (id, kind, schedule, ...) removed, the rest deserialized.
        let table: toml::Table = toml::from_str(
            r#"
            corp_id = "ww1436e0e65a779aee"
            secret = "s"
            contacts_secret = "c"
            employee_no_attr = "员工编号"
            time_zone = "Asia/Shanghai"
            checkin_lookback_days = 14
            daily_report = true
            start_date = 2024-01-01
            userids = ["zhangsan", "lisi"]
            checkin_requests_per_minute = 500

            [webhook]
            token = "QDG6eK"
            aes_key = "jWmYm7qr5nMoAUwZRjGtBxmz3KA1tkAj3ykkR6q2B2C"
            max_age_secs = 120
            "#,
        )
        .unwrap();
        let c: WeComConfig = toml::Value::Table(table).try_into().unwrap();
        c.validate().unwrap();
        assert_eq!(c.start_date, NaiveDate::from_ymd_opt(2024, 1, 1));
        assert_eq!(c.checkin_lookback_days(), 14);
        assert_eq!(c.employee_no_attr(), "员工编号");
        assert_eq!(c.webhook.as_ref().unwrap().max_age_secs(), 120);
        assert_eq!(
            c.callback_crypto().unwrap().unwrap().receive_id(),
            "ww1436e0e65a779aee"
        );
    }

    #[test]
    fn webhook_defaults_to_the_corp_id() {
        let c = parse(serde_json::json!({"corp_id": "wx5823bf96d3bd56c7", "secret": "s",
            "webhook": {"token": "QDG6eK", "aes_key": "jWmYm7qr5nMoAUwZRjGtBxmz3KA1tkAj3ykkR6q2B2C"}}))
        .unwrap();
        c.validate().unwrap();
        let crypto = c.callback_crypto().unwrap().unwrap();
        assert_eq!(crypto.receive_id(), "wx5823bf96d3bd56c7");
        assert_eq!(c.webhook.as_ref().unwrap().max_age_secs(), 300);
    }

    #[test]
    fn rejects_unknown_keys_and_bad_values() {
        let err = parse(serde_json::json!({"corp_id": "ww1", "secret": "s", "lookback": 3}))
            .err()
            .unwrap();
        assert!(err.to_string().contains("lookback"), "{err}");
        let err = parse(serde_json::json!({"corp_id": "ww1", "secret": "s",
            "webhook": {"token": "t", "aes_key": "k", "max_age": 1}}))
        .err()
        .unwrap();
        assert!(err.to_string().contains("max_age"), "{err}");

        for (json, key) in [
            (
                serde_json::json!({"corp_id": "ww1", "secret": "s", "time_zone": "Mars/Base"}),
                "time_zone",
            ),
            (
                serde_json::json!({"corp_id": "ww1", "secret": "s", "checkin_lookback_days": 90}),
                "checkin_lookback_days",
            ),
            (
                serde_json::json!({"corp_id": "ww1", "secret": "s", "userids": []}),
                "userids",
            ),
            (
                serde_json::json!({"corp_id": "ww1", "secret": "s", "base_url": "ftp://x"}),
                "base_url",
            ),
            (serde_json::json!({"corp_id": "", "secret": "s"}), "corp_id"),
            (
                serde_json::json!({"corp_id": "ww1", "secret": "s", "start_date": "2999-01-01"}),
                "start_date",
            ),
            (
                serde_json::json!({"corp_id": "ww1", "secret": "s",
                "webhook": {"token": "t", "aes_key": "short"}}),
                "webhook",
            ),
        ] {
            let err = parse(json).unwrap().validate().unwrap_err().to_string();
            assert!(err.contains(key), "{key}: {err}");
        }
    }

    #[test]
    fn debug_never_prints_secrets() {
        let c = parse(serde_json::json!({"corp_id": "ww1", "secret": "SECRET1",
            "contacts_secret": "SECRET2",
            "webhook": {"token": "SECRET3", "aes_key": "SECRET4SECRET4SECRET4SECRET4SECRET4SECRET4S"}}))
        .unwrap();
        let shown = format!("{c:?}");
        assert!(!shown.contains("SECRET"), "{shown}");
        assert!(shown.contains("ww1"));
    }
}
