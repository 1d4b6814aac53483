//! The connector table of a Moodle connector.
//!
//! Secrets arrive already resolved (env-var substitution happens in the
//! binary); [`MoodleConfig`]'s `Debug` never prints the token.

use hrhub_connector::ConnectorError;
use serde::Deserialize;
use std::fmt;
use url::Url;

/// Configuration of one Moodle site, read through its web services (REST
/// protocol).
///
/// The site needs web services and the REST protocol enabled, and an
/// external service holding the functions listed in
/// [`crate::REQUIRED_FUNCTIONS`] (plus `mod_quiz_get_user_quiz_attempts` on
/// Moodle 5.0+, `mod_quiz_get_user_attempts` before), with a token for a
/// service user whose role may see every learner's profile, completion and
/// grades (`moodle/user:viewdetails`, `report/progress:view`,
/// `moodle/grade:viewall`, `mod/quiz:viewreports`,
/// `moodle/course:viewparticipants`). `hrhub check` lists what is missing.
#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MoodleConfig {
    /// The site root (`https://lms.acme.com`, or `https://acme.com/moodle`
    /// for a site in a folder); the connector calls
    /// `{base_url}/webservice/rest/server.php`.
    pub base_url: String,
    /// The web-service token (Site administration → Server → Web services →
    /// Manage tokens). Sent in the POST body, never in the URL.
    pub token: String,
    /// The hub's request budget (default 300/min). Moodle has no rate limit
    /// of its own: an overloaded site answers with timeouts and 5xx, so stay
    /// gentle on a production LMS.
    #[serde(default)]
    pub requests_per_minute: Option<u32>,
    /// Learners per `course_completions` page (default 25): each costs one
    /// `core_enrol_get_users_courses` call plus one completion-status call
    /// per course it completed since the last sync.
    #[serde(default)]
    pub users_per_page: Option<u32>,
    /// Days re-read on every sync (default 7). Moodle has no "changed
    /// since" filter: each sync lists every enrolment and grade, and
    /// fetches details (completion criteria, best grade, attempts) only for
    /// enrolments accessed and grades given within this window of the
    /// newest activity the previous sync saw. Completion is aggregated by
    /// cron, after the learner's last access; the window covers that delay
    /// and late regrades. A full refresh re-reads everything.
    #[serde(default)]
    pub lookback_days: Option<u32>,
    /// Which accounts are learners: `core_user_get_users` criteria, ANDed
    /// (default: everyone with an e-mail, `[{key = "email", value = "%"}]`).
    /// Keys: `id`, `lastname`, `firstname`, `idnumber`, `username`, `email`,
    /// `auth`; `%` is a wildcard. E.g. `[{key = "auth", value = "oidc"}]`
    /// for the accounts that sign in through the company's SSO.
    #[serde(default)]
    pub user_criteria: Option<Vec<UserCriterion>>,
    /// Count each learner's quiz attempts for `attempts` (default true; one
    /// call per changed grade).
    #[serde(default)]
    pub count_attempts: Option<bool>,
}

/// One `core_user_get_users` criterion.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UserCriterion {
    pub key: String,
    pub value: String,
}

/// The criterion keys `core_user_get_users` accepts.
pub const CRITERION_KEYS: [&str; 7] = [
    "id",
    "lastname",
    "firstname",
    "idnumber",
    "username",
    "email",
    "auth",
];

impl MoodleConfig {
    /// A configuration for `base_url` and `token` (tests, the demo).
    pub fn new(base_url: &str, token: &str) -> Self {
        MoodleConfig {
            base_url: base_url.to_string(),
            token: token.to_string(),
            requests_per_minute: None,
            users_per_page: None,
            lookback_days: None,
            user_criteria: None,
            count_attempts: None,
        }
    }

    /// The REST endpoint, `{base_url}/webservice/rest/server.php`.
    pub fn endpoint(&self) -> Result<Url, ConnectorError> {
        let raw = self.base_url.trim();
        let url = Url::parse(raw.trim_end_matches('/')).map_err(|e| {
            ConnectorError::Config(format!("moodle: `base_url` {raw:?} is not a URL: {e}"))
        })?;
        if !matches!(url.scheme(), "http" | "https") || url.host().is_none() {
            return Err(ConnectorError::Config(format!(
                "moodle: `base_url` must be an http(s) URL, got {raw:?}"
            )));
        }
        if url.query().is_some() || url.path().ends_with(".php") {
            return Err(ConnectorError::Config(format!(
                "moodle: `base_url` is the site root (e.g. \"https://lms.acme.com\"), not a script URL: {raw:?}"
            )));
        }
        let mut endpoint = url.clone();
        endpoint.set_path(&format!(
            "{}/webservice/rest/server.php",
            url.path().trim_end_matches('/')
        ));
        Ok(endpoint)
    }

    pub fn requests_per_minute(&self) -> u32 {
        self.requests_per_minute.unwrap_or(300).max(1)
    }

    pub fn users_per_page(&self) -> usize {
        self.users_per_page.unwrap_or(25) as usize
    }

    pub fn lookback_days(&self) -> u32 {
        self.lookback_days.unwrap_or(7)
    }

    pub fn count_attempts(&self) -> bool {
        self.count_attempts.unwrap_or(true)
    }

    /// The `core_user_get_users` criteria: the configured ones, or e-mail `%`.
    pub fn user_criteria(&self) -> Vec<UserCriterion> {
        match &self.user_criteria {
            Some(c) if !c.is_empty() => c.clone(),
            _ => vec![UserCriterion {
                key: "email".into(),
                value: "%".into(),
            }],
        }
    }

    /// Checks what serde cannot, naming the key.
    pub fn validate(&self) -> Result<(), ConnectorError> {
        self.endpoint()?;
        if self.token.trim().is_empty() {
            return Err(ConnectorError::Config(
                "moodle: `token` is empty; create a web-service token for the hub's service user"
                    .into(),
            ));
        }
        let per_page = self.users_per_page();
        if !(1..=500).contains(&per_page) {
            return Err(ConnectorError::Config(format!(
                "moodle: `users_per_page` must be 1..=500, got {per_page}"
            )));
        }
        if self.lookback_days() > 365 {
            return Err(ConnectorError::Config(format!(
                "moodle: `lookback_days` must be at most 365, got {}",
                self.lookback_days()
            )));
        }
        for c in self.user_criteria.iter().flatten() {
            if !CRITERION_KEYS.contains(&c.key.as_str()) {
                return Err(ConnectorError::Config(format!(
                    "moodle: `user_criteria` key {:?} is not one core_user_get_users accepts ({})",
                    c.key,
                    CRITERION_KEYS.join(", ")
                )));
            }
        }
        Ok(())
    }
}

impl fmt::Debug for MoodleConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MoodleConfig")
            .field("base_url", &self.base_url)
            .field("token", &"<redacted>")
            .field("requests_per_minute", &self.requests_per_minute)
            .field("users_per_page", &self.users_per_page)
            .field("lookback_days", &self.lookback_days)
            .field("user_criteria", &self.user_criteria)
            .field("count_attempts", &self.count_attempts)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(json: serde_json::Value) -> Result<MoodleConfig, serde_json::Error> {
        serde_json::from_value(json)
    }

    #[test]
    fn parses_with_defaults_and_builds_the_endpoint() {
        let c = parse(serde_json::json!({"base_url": "https://acme.com/moodle/", "token": "t0k"}))
            .unwrap();
        c.validate().unwrap();
        assert_eq!(
            c.endpoint().unwrap().as_str(),
            "https://acme.com/moodle/webservice/rest/server.php"
        );
        assert_eq!(c.requests_per_minute(), 300);
        assert_eq!(c.users_per_page(), 25);
        assert_eq!(c.lookback_days(), 7);
        assert!(c.count_attempts());
        assert_eq!(
            c.user_criteria(),
            vec![UserCriterion {
                key: "email".into(),
                value: "%".into()
            }]
        );
        let c = MoodleConfig::new("http://127.0.0.1:8080", "t");
        assert_eq!(
            c.endpoint().unwrap().as_str(),
            "http://127.0.0.1:8080/webservice/rest/server.php"
        );
    }

    #[test]
    fn rejects_unknown_keys_and_bad_values() {
        let err = parse(serde_json::json!({"base_url": "https://x", "token": "t", "wstoken": "t"}))
            .err()
            .unwrap();
        assert!(err.to_string().contains("wstoken"), "{err}");
        let err = parse(serde_json::json!({"base_url": "https://x", "token": "t",
            "user_criteria": [{"key": "email", "value": "%", "op": "like"}]}))
        .err()
        .unwrap();
        assert!(err.to_string().contains("op"), "{err}");

        let mut c = MoodleConfig::new("https://lms.acme.com/webservice/rest/server.php", "t");
        assert!(c.validate().unwrap_err().to_string().contains("site root"));
        c.base_url = "lms.acme.com".into();
        assert!(c.validate().unwrap_err().to_string().contains("base_url"));
        let mut c = MoodleConfig::new("https://lms.acme.com", " ");
        assert!(c.validate().unwrap_err().to_string().contains("token"));
        c.token = "t".into();
        c.user_criteria = Some(vec![UserCriterion {
            key: "department".into(),
            value: "x".into(),
        }]);
        assert!(c.validate().unwrap_err().to_string().contains("department"));
        c.user_criteria = None;
        c.users_per_page = Some(0);
        assert!(c
            .validate()
            .unwrap_err()
            .to_string()
            .contains("users_per_page"));
    }

    #[test]
    fn debug_never_prints_the_token() {
        let c = MoodleConfig::new("https://lms.acme.com", "SECRET-TOKEN");
        let shown = format!("{c:?}");
        assert!(!shown.contains("SECRET"), "{shown}");
        assert!(shown.contains("lms.acme.com"));
    }
}
