//! Calls to the WeCom API: access tokens per (corp, secret), request
//! budgets, and the `errcode` classification of every answer.
//!
//! WeCom answers HTTP 200 to everything; the `errcode` decides
//! (reference §2a):
//!
//! | errcode | meaning | what the client does |
//! |---|---|---|
//! | 0 | ok | |
//! | 40014, 42001 | access token invalid / expired | refresh once (single-flight) and retry once; again → [`ConnectorError::Auth`] |
//! | 45009 | frequency limit | [`ConnectorError::RateLimited`] with `rate_limit_wait_secs` (WeCom blocks a minute); the shared retry backs off |
//! | 45033 | concurrency limit | [`ConnectorError::RateLimited`], exponential backoff |
//! | -1 | system busy | retried, at most 3 attempts in all (as WeCom advises) |
//! | 40001, 40091, 40013, 41002, 41004 | bad secret / corp id (gettoken) | [`ConnectorError::Auth`] naming the key to check |
//! | 48002, 50001, 50002, 60011, 60020 | not permitted / outside visibility / IP not trusted | [`ConnectorError::Forbidden`] saying what to configure |
//! | anything else | a bug or bad data | [`ConnectorError::Protocol`] with errcode and errmsg |
//!
//! Callers may ask for specific codes back instead (e.g. 60111 "userid not
//! found" while fetching a user that was just deleted).

use crate::config::WeComConfig;
use hrhub_connector::retry::{retry, RetryPolicy};
use hrhub_connector::{ConnectorError, HttpClient, HttpConfig};
use serde_json::Value;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;
use tokio::sync::Mutex;
use tokio::time::Instant;
use url::Url;

/// Refresh this long before `expires_in` runs out (at most half the lifetime).
const REFRESH_AHEAD: Duration = Duration::from_secs(300);
/// WeCom: retry system-busy (-1) at most 3 times.
const MAX_BUSY_ATTEMPTS: u32 = 3;

/// Which request budget a call spends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Budget {
    General,
    /// `checkin/getcheckindata` (600/min per corp at WeCom).
    Checkin,
    /// `checkin/getcheckin_daydata` (100/min).
    DayData,
}

/// Which secret's token a call uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Secret {
    /// The self-built app's secret (check-ins).
    App,
    /// The contacts-sync secret when configured, else the app's.
    Contacts,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Method {
    Get,
    Post,
}

/// The outcome of one classified attempt.
enum Answer {
    Ok(Value),
    /// A token errcode: refresh and retry once.
    Token(i64, String),
    /// An errcode the caller asked to handle itself.
    Code(i64, String),
    /// -1 too often.
    Busy(String),
}

pub(crate) struct WeComClient {
    base: Url,
    corp_id: String,
    general: HttpClient,
    checkin: HttpClient,
    daydata: HttpClient,
    app: TokenCache,
    /// `None`: contacts calls use `app`.
    contacts: Option<TokenCache>,
    retry: RetryPolicy,
    rate_limit_wait: Duration,
}

struct TokenCache {
    secret: String,
    /// Which config key the secret came from, for messages.
    key: &'static str,
    state: Mutex<Option<Token>>,
}

struct Token {
    value: String,
    refresh_at: Instant,
}

impl WeComClient {
    pub(crate) fn new(config: &WeComConfig, http: HttpConfig) -> Result<Self, ConnectorError> {
        let base = config.base_url()?;
        http.url_policy
            .check_configured("wecom", "base_url", &base)?;
        let general = HttpClient::new(
            "wecom",
            HttpConfig {
                requests_per_minute: config.requests_per_minute(),
                ..http.clone()
            },
        )?;
        let checkin = HttpClient::new(
            "wecom",
            HttpConfig {
                requests_per_minute: config.checkin_requests_per_minute(),
                ..http.clone()
            },
        )?
        .with_shared_limiter(general.limiter());
        let daydata = HttpClient::new(
            "wecom",
            HttpConfig {
                requests_per_minute: config.daily_report_requests_per_minute(),
                burst: 1,
                ..http.clone()
            },
        )?
        .with_shared_limiter(general.limiter());
        let contacts = config
            .contacts_secret
            .as_ref()
            .filter(|s| **s != config.secret)
            .map(|s| TokenCache::new(s, "contacts_secret"));
        Ok(WeComClient {
            base,
            corp_id: config.corp_id.clone(),
            general,
            checkin,
            daydata,
            app: TokenCache::new(&config.secret, "secret"),
            contacts,
            retry: http.retry.clone(),
            rate_limit_wait: Duration::from_secs(config.rate_limit_wait_secs()),
        })
    }

    pub(crate) fn base(&self) -> &Url {
        &self.base
    }

    pub(crate) fn has_contacts_secret(&self) -> bool {
        self.contacts.is_some()
    }

    /// The config key of the secret `secret` resolves to.
    pub(crate) fn secret_key(&self, secret: Secret) -> &'static str {
        self.tokens(secret).key
    }

    fn tokens(&self, secret: Secret) -> &TokenCache {
        match (secret, &self.contacts) {
            (Secret::Contacts, Some(c)) => c,
            _ => &self.app,
        }
    }

    fn http(&self, budget: Budget) -> &HttpClient {
        match budget {
            Budget::General => &self.general,
            Budget::Checkin => &self.checkin,
            Budget::DayData => &self.daydata,
        }
    }

    fn url(&self, path: &str, query: &[(&str, String)]) -> Url {
        let mut url = self.base.clone();
        url.set_path(&format!("{}{path}", self.base.path().trim_end_matches('/')));
        url.set_query(None);
        if !query.is_empty() {
            url.query_pairs_mut()
                .extend_pairs(query.iter().map(|(k, v)| (*k, v.as_str())));
        }
        url
    }

    /// Verifies the secret by fetching (or reusing) its token.
    pub(crate) async fn authenticate(&self, secret: Secret) -> Result<(), ConnectorError> {
        self.token(secret, None).await.map(|_| ())
    }

    /// Calls an API; any errcode ≠ 0 becomes an error (see the module docs).
    pub(crate) async fn call(
        &self,
        budget: Budget,
        secret: Secret,
        method: Method,
        path: &str,
        query: &[(&str, String)],
        body: Option<&Value>,
    ) -> Result<Value, ConnectorError> {
        match self
            .call_allowing(budget, secret, method, path, query, body, &[])
            .await?
        {
            Ok(v) => Ok(v),
            Err((code, message)) => Err(classify(code, &message, path)),
        }
    }

    /// Like [`WeComClient::call`], but the errcodes in `allowed` come back
    /// as `Ok(Err((code, errmsg)))` for the caller to handle.
    #[allow(clippy::too_many_arguments)]
    pub(crate) async fn call_allowing(
        &self,
        budget: Budget,
        secret: Secret,
        method: Method,
        path: &str,
        query: &[(&str, String)],
        body: Option<&Value>,
        allowed: &[i64],
    ) -> Result<Result<Value, (i64, String)>, ConnectorError> {
        let token = self.token(secret, None).await?;
        let answer = self
            .attempt(budget, method, path, query, body, &token, allowed)
            .await;
        let answer = match answer {
            Ok(Answer::Token(code, message)) => {
                tracing::debug!(code, %message, path, "wecom: token refused, refreshing once");
                let fresh = self.token(secret, Some(&token)).await?;
                match self
                    .attempt(budget, method, path, query, body, &fresh, allowed)
                    .await
                {
                    Ok(Answer::Token(code, message)) => {
                        return Err(ConnectorError::Auth(format!(
                            "WeCom refused a freshly issued access token for {path} (errcode {code}: {}); \
                             check that the app of `{}` is still enabled and that corp_id is right",
                            short(&message),
                            self.secret_key(secret)
                        )))
                    }
                    other => other.map_err(|e| redact(e, &fresh)),
                }
            }
            other => other.map_err(|e| redact(e, &token)),
        }?;
        match answer {
            Answer::Ok(v) => Ok(Ok(v)),
            Answer::Code(code, message) if allowed.contains(&code) => Ok(Err((code, message))),
            Answer::Code(code, message) => Err(classify(code, &message, path)),
            Answer::Busy(message) => Err(ConnectorError::Exhausted {
                attempts: MAX_BUSY_ATTEMPTS,
                last: Box::new(ConnectorError::Transient(format!(
                    "WeCom is busy (errcode -1) on {path}: {}",
                    short(&message)
                ))),
            }),
            Answer::Token(..) => unreachable!("handled above"),
        }
    }

    /// One logical attempt: HTTP retries happen in [`HttpClient::json`],
    /// errcode-level transient failures (45009, 45033, -1) in the retry
    /// around it.
    #[allow(clippy::too_many_arguments)]
    async fn attempt(
        &self,
        budget: Budget,
        method: Method,
        path: &str,
        query: &[(&str, String)],
        body: Option<&Value>,
        token: &str,
        allowed: &[i64],
    ) -> Result<Answer, ConnectorError> {
        let mut full: Vec<(&str, String)> = vec![("access_token", token.to_string())];
        full.extend(query.iter().cloned());
        let url = self.url(path, &full);
        let http = self.http(budget);
        let busy = AtomicU32::new(0);
        retry(&self.retry, || async {
            let answer = http
                .json(|c| match method {
                    Method::Get => c.get(url.clone()),
                    Method::Post => c
                        .post(url.clone())
                        .json(body.unwrap_or(&Value::Object(Default::default()))),
                })
                .await?;
            let (code, message) = errcode(&answer, path)?;
            match code {
                0 => Ok(Answer::Ok(answer)),
                40014 | 42001 => Ok(Answer::Token(code, message)),
                c if allowed.contains(&c) => Ok(Answer::Code(code, message)),
                45009 => {
                    http.limiter().pause_for(self.rate_limit_wait).await;
                    Err(ConnectorError::RateLimited {
                        platform: "wecom".into(),
                        retry_after: Some(self.rate_limit_wait),
                    })
                }
                45033 => Err(ConnectorError::RateLimited {
                    platform: "wecom".into(),
                    retry_after: None,
                }),
                -1 => {
                    if busy.fetch_add(1, Ordering::SeqCst) + 1 >= MAX_BUSY_ATTEMPTS {
                        Ok(Answer::Busy(message))
                    } else {
                        Err(ConnectorError::Transient(format!(
                            "WeCom is busy (errcode -1): {}",
                            short(&message)
                        )))
                    }
                }
                _ => Ok(Answer::Code(code, message)),
            }
        })
        .await
    }

    /// The current token of `secret`, minted when missing, due for
    /// refresh, or equal to `rejected`. The cache's lock is held while
    /// minting, so concurrent callers share one `gettoken` call.
    async fn token(
        &self,
        secret: Secret,
        rejected: Option<&str>,
    ) -> Result<String, ConnectorError> {
        let cache = self.tokens(secret);
        let mut state = cache.state.lock().await;
        if let Some(token) = state.as_ref() {
            if Instant::now() < token.refresh_at && rejected != Some(token.value.as_str()) {
                return Ok(token.value.clone());
            }
            if rejected.is_some() && rejected != Some(token.value.as_str()) {
                // Someone else already replaced the rejected token.
                return Ok(token.value.clone());
            }
        }
        let minted = self.mint(cache).await?;
        let value = minted.value.clone();
        *state = Some(minted);
        Ok(value)
    }

    async fn mint(&self, cache: &TokenCache) -> Result<Token, ConnectorError> {
        let url = self.url(
            "/cgi-bin/gettoken",
            &[
                ("corpid", self.corp_id.clone()),
                ("corpsecret", cache.secret.clone()),
            ],
        );
        let busy = AtomicU32::new(0);
        let result = retry(&self.retry, || async {
            let answer = self.general.json(|c| c.get(url.clone())).await?;
            let (code, message) = errcode(&answer, "/cgi-bin/gettoken")?;
            match code {
                0 => Ok(answer),
                45009 | 45033 => Err(ConnectorError::RateLimited {
                    platform: "wecom".into(),
                    retry_after: (code == 45009).then_some(self.rate_limit_wait),
                }),
                -1 if busy.fetch_add(1, Ordering::SeqCst) + 1 < MAX_BUSY_ATTEMPTS => Err(
                    ConnectorError::Transient(format!("WeCom gettoken busy: {}", short(&message))),
                ),
                40001 | 40091 | 41004 => Err(ConnectorError::Auth(format!(
                    "WeCom refused `{}` for corp {} (errcode {code}: {}); copy the secret again from \
                     the admin console (应用管理 → the app, or 通讯录同步 for contacts_secret)",
                    cache.key,
                    self.corp_id,
                    short(&message)
                ))),
                40013 | 41002 => Err(ConnectorError::Auth(format!(
                    "WeCom does not know corp_id {:?} (errcode {code}: {}); copy it from 我的企业 → 企业信息",
                    self.corp_id,
                    short(&message)
                ))),
                _ => Err(classify(code, &message, "/cgi-bin/gettoken")),
            }
        })
        .await
        .map_err(|e| redact(e, &cache.secret))?;
        let value = result
            .get("access_token")
            .and_then(Value::as_str)
            .filter(|t| !t.is_empty())
            .ok_or_else(|| {
                ConnectorError::protocol("wecom", "gettoken answered without access_token")
            })?
            .to_string();
        let life = Duration::from_secs(
            result
                .get("expires_in")
                .and_then(Value::as_u64)
                .unwrap_or(7200),
        );
        tracing::debug!(
            key = cache.key,
            expires_in = life.as_secs(),
            "wecom: access token minted"
        );
        Ok(Token {
            value,
            refresh_at: Instant::now() + life - REFRESH_AHEAD.min(life / 2),
        })
    }
}

impl TokenCache {
    fn new(secret: &str, key: &'static str) -> Self {
        TokenCache {
            secret: secret.to_string(),
            key,
            state: Mutex::new(None),
        }
    }
}

/// `errcode` and `errmsg` of an answer (a missing errcode counts as 0, as
/// some success answers omit it).
fn errcode(answer: &Value, path: &str) -> Result<(i64, String), ConnectorError> {
    if !answer.is_object() {
        return Err(ConnectorError::protocol(
            "wecom",
            format!("{path} answered a non-object"),
        ));
    }
    let code = match answer.get("errcode") {
        None | Some(Value::Null) => 0,
        Some(v) => v.as_i64().ok_or_else(|| {
            ConnectorError::protocol("wecom", format!("{path}: errcode {v} is not an integer"))
        })?,
    };
    let message = answer
        .get("errmsg")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string();
    Ok((code, message))
}

/// errmsg without WeCom's trace suffix (`, hint: [...] ... more info at ...`).
fn short(message: &str) -> &str {
    message
        .split_once(", hint:")
        .map_or(message, |(head, _)| head)
        .trim()
}

/// The error for an errcode the caller did not handle.
pub(crate) fn classify(code: i64, message: &str, path: &str) -> ConnectorError {
    let m = short(message);
    match code {
        45009 | 45033 => ConnectorError::RateLimited {
            platform: "wecom".into(),
            retry_after: None,
        },
        40014 | 42001 => ConnectorError::Auth(format!("access token refused on {path} (errcode {code}: {m})")),
        48002 => ConnectorError::Forbidden(format!(
            "WeCom does not permit {path} for this secret (errcode 48002: {m}); for check-ins add the app \
             under 打卡 → 可调用接口的应用, for member lists set `contacts_secret` to the 通讯录同步 secret \
             or list the members in `userids`"
        )),
        60020 => ConnectorError::Forbidden(format!(
            "WeCom refused this host's IP on {path} (errcode 60020: {m}); add it to the app's 企业可信IP"
        )),
        60011 | 50001 | 50002 => ConnectorError::Forbidden(format!(
            "the secret's app cannot see this member or department on {path} (errcode {code}: {m}); widen \
             the app's 可见范围 or use the 通讯录同步 secret (`contacts_secret`)"
        )),
        _ => ConnectorError::protocol("wecom", format!("{path} answered errcode {code}: {m}")),
    }
}

/// Removes `secret` from an error's text (URLs in transport errors carry
/// the access token or the corpsecret).
fn redact(e: ConnectorError, secret: &str) -> ConnectorError {
    if secret.is_empty() {
        return e;
    }
    let clean = |s: String| s.replace(secret, "<redacted>");
    match e {
        ConnectorError::Transient(m) => ConnectorError::Transient(clean(m)),
        ConnectorError::Auth(m) => ConnectorError::Auth(clean(m)),
        ConnectorError::Forbidden(m) => ConnectorError::Forbidden(clean(m)),
        ConnectorError::Config(m) => ConnectorError::Config(clean(m)),
        ConnectorError::Protocol { platform, message } => ConnectorError::Protocol {
            platform,
            message: clean(message),
        },
        ConnectorError::Exhausted { attempts, last } => ConnectorError::Exhausted {
            attempts,
            last: Box::new(redact(*last, secret)),
        },
        // refusals show only scheme and host, never a path or query
        other @ (ConnectorError::RateLimited { .. } | ConnectorError::UrlRefused(_)) => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_strips_the_trace_suffix() {
        assert_eq!(
            short("invalid credential, hint: [1642406569024700231269230], from ip: 1.2.3.4, more info at https://x"),
            "invalid credential"
        );
        assert_eq!(short("ok"), "ok");
    }

    #[test]
    fn classification() {
        assert!(matches!(
            classify(48002, "api forbidden", "/p"),
            ConnectorError::Forbidden(_)
        ));
        assert!(matches!(
            classify(60020, "not allow", "/p"),
            ConnectorError::Forbidden(_)
        ));
        assert!(classify(45009, "freq", "/p").is_transient());
        assert!(matches!(
            classify(40035, "bad", "/p"),
            ConnectorError::Protocol { .. }
        ));
    }

    #[test]
    fn redaction_reaches_nested_errors() {
        let e = ConnectorError::Exhausted {
            attempts: 3,
            last: Box::new(ConnectorError::Transient(
                "GET http://x/?access_token=TOK123 failed".into(),
            )),
        };
        assert!(!redact(e, "TOK123").to_string().contains("TOK123"));
    }
}
