//! Moodle connector: learners, course completions and quiz grades, read
//! through Moodle's web services (REST protocol, JSON format).
//!
//! Every call is a POST to `{site}/webservice/rest/server.php` with the
//! token in the body and parameters in Moodle's array encoding
//! ([`client::Params`]). Moodle reports errors with HTTP 200 and an
//! `{"exception", "errorcode", "message"}` envelope; the connector decides
//! on `errorcode` ([`client::MoodleException`]): `invalidtoken` is an
//! authentication failure (final, no retry), `accessexception` and
//! `nopermissions` a permission problem naming the function, maintenance
//! mode and database hiccups are retried like 5xx.
//!
//! Streams, cursors and the `_`-prefixed fields the connector adds are
//! described in [`streams`]; the mock server used by tests, `hrhub demo`
//! and benchmarks lives in [`mock`].

pub mod client;
pub mod config;
pub mod mock;
pub mod streams;

pub use client::{MoodleException, Params};
pub use config::{MoodleConfig, UserCriterion};
pub use mock::{LoggedCall, MockHandle, MockMoodle, MockOptions, MoodleRelease};
pub use streams::{score_100, CompletionsCursor, GradesCursor, MOODLE_5_0, STREAMS};

use async_trait::async_trait;
use client::MoodleClient;
use hrhub_connector::{CheckReport, ConnectorError, HttpConfig, Page, Source};
use hrhub_model::RawRecord;
use serde_json::Value;
use streams::{Caches, Settings};

/// The functions the hub's external service must contain (besides
/// `core_webservice_get_site_info`, which every token may call), and one of
/// the attempts functions ([`attempts_function`]).
pub const REQUIRED_FUNCTIONS: [&str; 7] = [
    "core_user_get_users",
    "core_enrol_get_users_courses",
    "core_completion_get_course_completion_status",
    "core_course_get_courses",
    "gradereport_user_get_grade_items",
    "mod_quiz_get_quizzes_by_courses",
    "mod_quiz_get_user_best_grade",
];

/// The quiz attempts function for a site version: the deprecated
/// `mod_quiz_get_user_attempts` before Moodle 5.0, its successor
/// `mod_quiz_get_user_quiz_attempts` from 5.0 on.
pub fn attempts_function(version: i64) -> &'static str {
    if version >= MOODLE_5_0 {
        "mod_quiz_get_user_quiz_attempts"
    } else {
        "mod_quiz_get_user_attempts"
    }
}

/// A Moodle site as a [`Source`].
pub struct Moodle {
    client: MoodleClient,
    settings: Settings,
    caches: Caches,
}

impl Moodle {
    /// Uses `http`'s timeouts and retry policy; the request budget comes
    /// from `config`.
    pub fn new(config: MoodleConfig, http: HttpConfig) -> Result<Self, ConnectorError> {
        let client = MoodleClient::new(&config, http)?;
        Ok(Moodle {
            client,
            settings: Settings {
                users_per_page: config.users_per_page(),
                lookback_secs: i64::from(config.lookback_days()) * 86_400,
                criteria: config
                    .user_criteria()
                    .into_iter()
                    .map(|c| (c.key, c.value))
                    .collect(),
                count_attempts: config.count_attempts(),
            },
            caches: Caches::default(),
        })
    }
}

#[async_trait]
impl Source for Moodle {
    fn kind(&self) -> &'static str {
        "moodle"
    }

    fn streams(&self) -> Vec<String> {
        STREAMS.iter().map(|s| s.to_string()).collect()
    }

    /// `core_webservice_get_site_info`: the token works, and the service
    /// holds every function the streams call.
    async fn check(&self) -> Result<CheckReport, ConnectorError> {
        let info = self
            .client
            .call("core_webservice_get_site_info", &client::Params::new())
            .await?;
        let text = |k: &str| info.get(k).and_then(Value::as_str).unwrap_or("?");
        let version = info.get("version").and_then(streams::int).unwrap_or(0);
        let available: Vec<&str> = info
            .get("functions")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(|f| f.get("name").and_then(Value::as_str))
            .collect();
        let mut needed: Vec<&str> = REQUIRED_FUNCTIONS.to_vec();
        if self.settings.count_attempts {
            needed.push(attempts_function(version));
        }
        let missing: Vec<&str> = needed
            .into_iter()
            .filter(|f| !available.contains(f))
            .collect();
        if !missing.is_empty() {
            return Err(ConnectorError::Forbidden(format!(
                "the token's external service lacks {}: add them under Site administration → \
                 Server → Web services → External services → Functions",
                missing.join(", ")
            )));
        }
        Ok(CheckReport {
            details: vec![
                format!("reached {} ({})", text("sitename"), self.client.endpoint()),
                format!(
                    "Moodle {} (version {version}); quiz attempts via {}",
                    text("release"),
                    attempts_function(version)
                ),
                format!(
                    "token of {} ({}); the service holds every function the streams call",
                    text("username"),
                    text("fullname")
                ),
            ],
        })
    }

    async fn read_page(&self, stream: &str, cursor: Option<&str>) -> Result<Page, ConnectorError> {
        streams::read(&self.client, &self.settings, &self.caches, stream, cursor).await
    }

    /// `users` by Moodle user id (`core_user_get_users_by_field`).
    async fn fetch(&self, stream: &str, ids: &[String]) -> Result<Vec<RawRecord>, ConnectorError> {
        match stream {
            "users" => streams::users_by_id(&self.client, ids).await,
            other => Err(ConnectorError::Config(format!(
                "moodle cannot fetch single records of `{other}`"
            ))),
        }
    }
}
