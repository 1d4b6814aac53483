//! Calls to both DingTalk API generations: tokens, envelopes, error codes,
//! retries and the call budget.
//!
//! - **Old generation** (oapi): token in the query string, HTTP 200 with an
//!   `errcode` envelope for success *and* failure.
//! - **New generation** (v1.0): token in `x-acs-dingtalk-access-token`,
//!   HTTP status plus `{"code","message"}` on failure.
//!
//! Each generation has its own token cache ([`TokenCache`]): fetched on
//! first use, refreshed ahead of expiry, single-flight behind a tokio mutex.
//! On any of the three token-error shapes (classic `errcode`, topapi
//! `errcode 88` + `sub_code`, v1.0 `InvalidAuthentication`) the call drops
//! the token, fetches one new token and retries once; a second token error
//! is a final [`ConnectorError::Auth`].
//!
//! Throttling (`90018`, `90002`, other `9000x`, the v1.0 `QpsLimit*` codes,
//! HTTP 429 and the IP-ban body) is [`ConnectorError::RateLimited`] with
//! DingTalk's advised pause, so the shared retry backs off; `-1`, 5xx,
//! timeouts and resets are [`ConnectorError::Transient`].

use crate::config::DingTalkConfig;
use hrhub_connector::retry::{retry, RetryPolicy};
use hrhub_connector::{ssrf, ConnectorError, HttpConfig, RateLimiter, UrlPolicy};
use reqwest::{RequestBuilder, StatusCode};
use serde_json::{json, Value};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Mutex;
use tokio::time::Instant;
use url::Url;

const PLATFORM: &str = "dingtalk";
/// The header the new generation reads the token from.
pub(crate) const TOKEN_HEADER: &str = "x-acs-dingtalk-access-token";
/// Refresh this long before expiry (DingTalk advises ~10 minutes), at most
/// half the lifetime.
const REFRESH_AHEAD: Duration = Duration::from_secs(600);
/// DingTalk's advice after 90018/90002: sleep a second, then go on.
const THROTTLE_PAUSE: Duration = Duration::from_secs(1);

/// Which API generation a call goes to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Generation {
    /// `oapi.dingtalk.com`: `/gettoken`, `/topapi/*`, `/attendance/*`.
    Old,
    /// `api.dingtalk.com`: `/v1.0/*`.
    New,
}

/// What one answer means, before the token retry decides.
#[derive(Debug)]
pub(crate) enum Failure {
    /// One of the token-error shapes: refresh once, retry once.
    Token(String),
    /// Anything else (already classified).
    Other(ConnectorError),
}

impl From<ConnectorError> for Failure {
    fn from(e: ConnectorError) -> Self {
        Failure::Other(e)
    }
}

/// oapi error codes that mean "the access token is bad" (reference §1d).
const TOKEN_CODES: [i64; 4] = [40001, 40014, 41001, 42001];

/// `errcode` as a number; listRecord sends it as a numeric string.
pub(crate) fn errcode(body: &Value) -> Option<i64> {
    match body.get("errcode")? {
        Value::Number(n) => n.as_i64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

fn text<'a>(body: &'a Value, key: &str) -> &'a str {
    body.get(key).and_then(Value::as_str).unwrap_or("")
}

/// The IP-level ban answer (not the usual envelope):
/// `{"status":1111,"wait":5,"punish":"deny",...}`; `wait` is in minutes.
fn ip_ban(body: &Value) -> Option<ConnectorError> {
    let banned = body.get("punish").and_then(Value::as_str) == Some("deny")
        || body.get("status").and_then(Value::as_i64) == Some(1111);
    banned.then(|| {
        let minutes = body.get("wait").and_then(Value::as_u64).unwrap_or(5).max(1);
        ConnectorError::RateLimited {
            platform: PLATFORM.into(),
            retry_after: Some(Duration::from_secs(minutes * 60)),
        }
    })
}

fn throttled(pause: Duration) -> ConnectorError {
    ConnectorError::RateLimited {
        platform: PLATFORM.into(),
        retry_after: Some(pause),
    }
}

/// Classifies an oapi envelope (HTTP 200). `Ok` for `errcode` 0 (or none).
pub(crate) fn classify_oapi(body: &Value) -> Result<(), Failure> {
    if let Some(ban) = ip_ban(body) {
        return Err(ban.into());
    }
    let Some(code) = errcode(body) else {
        return Ok(());
    };
    let msg = text(body, "errmsg");
    let what = |advice: &str| format!("DingTalk errcode {code} ({msg}): {advice}");
    let err = match code {
        0 => return Ok(()),
        -1 => ConnectorError::Transient(what("system busy")),
        c if TOKEN_CODES.contains(&c) => return Err(Failure::Token(what("access token refused"))),
        88 => {
            let sub = match body.get("sub_code") {
                Some(Value::String(s)) => s.trim().to_string(),
                Some(Value::Number(n)) => n.to_string(),
                _ => String::new(),
            };
            let sub_msg = text(body, "sub_msg");
            if sub.parse::<i64>().is_ok_and(|c| TOKEN_CODES.contains(&c)) {
                return Err(Failure::Token(format!(
                    "DingTalk errcode 88, sub_code {sub} ({sub_msg}): access token refused"
                )));
            }
            ConnectorError::Auth(format!(
                "DingTalk errcode 88, sub_code {sub} ({sub_msg}): the request was not authenticated"
            ))
        }
        40089 => ConnectorError::Auth(what("check `app_key` and `app_secret`")),
        50002 | 50004 => ConnectorError::Forbidden(what(
            "outside the app's authorised contact range; widen the app's address-book scope in the developer console",
        )),
        60011 => ConnectorError::Forbidden(what(
            "the app lacks this API's permission point; grant it in the developer console (contacts read, attendance data read)",
        )),
        60020 => ConnectorError::Forbidden(what(
            "this host's IP is not in the app's server IP whitelist; add it in the developer console",
        )),
        90020 => ConnectorError::Forbidden(what(
            "the organization's monthly API quota is exhausted (standard edition); calls resume next month",
        )),
        90002 | 90018 => throttled(THROTTLE_PAUSE),
        90001 | 90003..=90014 | 90017 => throttled(THROTTLE_PAUSE),
        40035 | 400002 | 43004 | 43005 | 40069 | 850015 => {
            ConnectorError::protocol(PLATFORM, what("parameter error (a connector bug)"))
        }
        _ => ConnectorError::protocol(PLATFORM, what("request refused")),
    };
    Err(err.into())
}

/// Classifies a new-generation failure (non-2xx) by `code`, then status.
pub(crate) fn classify_v1(status: StatusCode, body: &[u8]) -> Failure {
    let excerpt = String::from_utf8_lossy(&body[..body.len().min(300)]).into_owned();
    let Ok(json) = serde_json::from_slice::<Value>(body) else {
        return Failure::Other(match status {
            s if s.is_server_error() || s == StatusCode::REQUEST_TIMEOUT => {
                ConnectorError::Transient(format!("DingTalk answered {s}: {excerpt}"))
            }
            // An HTML page instead of the JSON envelope: the IP ban (wait 5 minutes).
            StatusCode::OK | StatusCode::FORBIDDEN | StatusCode::TOO_MANY_REQUESTS => {
                throttled(Duration::from_secs(300))
            }
            s => ConnectorError::protocol(PLATFORM, format!("HTTP {s}: {excerpt}")),
        });
    };
    if let Some(ban) = ip_ban(&json) {
        return Failure::Other(ban);
    }
    let code = text(&json, "code");
    let message = text(&json, "message");
    let what = |advice: &str| format!("DingTalk {status} {code} ({message}): {advice}");
    Failure::Other(match code {
        "InvalidAuthentication" | "accesstoken.expired" | "Unauthorized" => {
            return Failure::Token(what("access token refused"))
        }
        "invalidClientIdOrSecret" | "invalid.client" | "unauthorized.client" => {
            ConnectorError::Auth(what("check `app_key` and `app_secret`"))
        }
        c if c.starts_with("Forbidden.AccessDenied.Qp") => throttled(THROTTLE_PAUSE),
        "Forbidden.AccessDenied.ApiCountLimitForOrg" => ConnectorError::Forbidden(what(
            "the organization's monthly API quota is exhausted; calls resume next month",
        )),
        "Forbidden.AccessDenied.IpNotInWhiteList" => ConnectorError::Forbidden(what(
            "this host's IP is not in the app's server IP whitelist",
        )),
        c if c.starts_with("Forbidden") => ConnectorError::Forbidden(what(
            "the app lacks this API's permission; grant it in the developer console",
        )),
        "system.busy" | "systemBusy" => throttled(THROTTLE_PAUSE),
        _ => match status {
            StatusCode::UNAUTHORIZED => return Failure::Token(what("access token refused")),
            StatusCode::TOO_MANY_REQUESTS => throttled(THROTTLE_PAUSE),
            StatusCode::FORBIDDEN => ConnectorError::Forbidden(what("permission denied")),
            s if s.is_server_error() || s == StatusCode::REQUEST_TIMEOUT => {
                ConnectorError::Transient(what("server error"))
            }
            _ => ConnectorError::protocol(PLATFORM, what("request refused")),
        },
    })
}

/// One generation's access token: cached, refreshed ahead of expiry,
/// single-flight.
#[derive(Default)]
pub(crate) struct TokenCache {
    state: Mutex<Option<CachedToken>>,
}

struct CachedToken {
    token: String,
    refresh_at: Instant,
}

pub(crate) struct DingTalkClient {
    http: reqwest::Client,
    url_policy: UrlPolicy,
    oapi: Url,
    api: Url,
    app_key: String,
    app_secret: String,
    limiter: Arc<RateLimiter>,
    retry: RetryPolicy,
    max_body: usize,
    old_token: TokenCache,
    new_token: TokenCache,
}

impl DingTalkClient {
    pub(crate) fn new(config: &DingTalkConfig, http: HttpConfig) -> Result<Self, ConnectorError> {
        config.validate()?;
        let oapi = config.base_url()?;
        let api = config.api_base_url()?;
        http.url_policy
            .check_configured(PLATFORM, "base_url", &oapi)?;
        http.url_policy
            .check_configured(PLATFORM, "api_base_url", &api)?;
        let rps = config.requests_per_second();
        // A small burst: DingTalk counts calls per second, so a burst plus
        // the steady rate must stay under its 20/s.
        let burst = (rps / 5).clamp(1, 3);
        Ok(DingTalkClient {
            http: http.reqwest_client()?,
            url_policy: http.url_policy,
            oapi,
            api,
            app_key: config.app_key.clone(),
            app_secret: config.app_secret.clone(),
            limiter: Arc::new(RateLimiter::per_minute(rps.saturating_mul(60), burst)),
            retry: http.retry,
            max_body: http.max_body_bytes,
            old_token: TokenCache::default(),
            new_token: TokenCache::default(),
        })
    }

    pub(crate) fn oapi_base(&self) -> &Url {
        &self.oapi
    }

    pub(crate) fn app_key(&self) -> &str {
        &self.app_key
    }

    fn url(base: &Url, path: &str, query: &[(&str, String)]) -> Url {
        let mut url = base.clone();
        url.set_path(&format!("{}{path}", base.path().trim_end_matches('/')));
        url.set_query(None);
        if !query.is_empty() {
            url.query_pairs_mut()
                .extend_pairs(query.iter().map(|(k, v)| (*k, v.as_str())));
        }
        url
    }

    /// `POST {oapi}{path}?access_token=` with a JSON body; the whole
    /// envelope of a successful (`errcode` 0) answer.
    pub(crate) async fn oapi_post(
        &self,
        path: &str,
        body: &Value,
    ) -> Result<Value, ConnectorError> {
        self.oapi_post_accepting(path, body, &[]).await
    }

    /// Like [`Self::oapi_post`], but an envelope whose `errcode` is in
    /// `accept` (e.g. 60121 "no such user") is returned as the answer.
    pub(crate) async fn oapi_post_accepting(
        &self,
        path: &str,
        body: &Value,
        accept: &[i64],
    ) -> Result<Value, ConnectorError> {
        self.with_token(Generation::Old, accept, |token| {
            let url = Self::url(&self.oapi, path, &[("access_token", token.to_string())]);
            let body = body.clone();
            move |c: &reqwest::Client| c.post(url.clone()).json(&body)
        })
        .await
    }

    /// `GET {oapi}{path}?access_token=`; the whole envelope of a successful
    /// (`errcode` 0) answer.
    pub(crate) async fn oapi_get(&self, path: &str) -> Result<Value, ConnectorError> {
        self.with_token(Generation::Old, &[], |token| {
            let url = Self::url(&self.oapi, path, &[("access_token", token.to_string())]);
            move |c: &reqwest::Client| c.get(url.clone())
        })
        .await
    }

    /// `GET {api}{path}?query` with the token header.
    pub(crate) async fn v1_get(
        &self,
        path: &str,
        query: &[(&str, String)],
    ) -> Result<Value, ConnectorError> {
        let url = Self::url(&self.api, path, query);
        self.with_token(Generation::New, &[], |token| {
            let url = url.clone();
            let token = token.to_string();
            move |c: &reqwest::Client| c.get(url.clone()).header(TOKEN_HEADER, token.as_str())
        })
        .await
    }

    /// Runs a call with the generation's token; on a token error fetches
    /// one new token and retries once.
    async fn with_token<M, B>(
        &self,
        generation: Generation,
        accept: &[i64],
        make: M,
    ) -> Result<Value, ConnectorError>
    where
        M: Fn(&str) -> B,
        B: Fn(&reqwest::Client) -> RequestBuilder,
    {
        let token = self.token(generation, None).await?;
        let first = match self.send(generation, accept, make(&token)).await {
            Err(Failure::Token(why)) => why,
            Err(Failure::Other(e)) => return Err(e),
            Ok(v) => return Ok(v),
        };
        tracing::info!(reason = %first, ?generation, "dingtalk: access token refused, fetching a new one");
        let fresh = self.token(generation, Some(&token)).await?;
        match self.send(generation, accept, make(&fresh)).await {
            Err(Failure::Token(second)) => Err(ConnectorError::Auth(format!(
                "DingTalk refused a freshly fetched access token ({second}); check that the app \
                 (app_key {}) is still enabled and that its secret was not reset",
                self.app_key
            ))),
            Err(Failure::Other(e)) => Err(e),
            Ok(v) => Ok(v),
        }
    }

    /// Sends with retries of transient failures; classifies the answer.
    async fn send<B>(
        &self,
        generation: Generation,
        accept: &[i64],
        build: B,
    ) -> Result<Value, Failure>
    where
        B: Fn(&reqwest::Client) -> RequestBuilder,
    {
        let outcome = retry(&self.retry, || async {
            self.limiter.acquire().await;
            let request = build(&self.http).build().map_err(transport_error)?;
            self.url_policy.check_url(request.url())?;
            let response = self.http.execute(request).await.map_err(transport_error)?;
            let status = response.status();
            let body = self.read_body(response).await?;
            let classified = match generation {
                Generation::Old => self.classify_old(status, &body, accept),
                Generation::New if status.is_success() => {
                    match serde_json::from_slice::<Value>(&body) {
                        Ok(v) => match ip_ban(&v) {
                            Some(ban) => Err(Failure::Other(ban)),
                            None => Ok(v),
                        },
                        Err(_) => Err(classify_v1(status, &body)),
                    }
                }
                Generation::New => Err(classify_v1(status, &body)),
            };
            match classified {
                Ok(v) => Ok(Ok(v)),
                // Token errors leave the retry loop at once.
                Err(Failure::Token(why)) => Ok(Err(why)),
                Err(Failure::Other(e)) => {
                    if let Some(wait) = e.retry_after() {
                        self.limiter.pause_for(wait).await;
                    }
                    Err(e)
                }
            }
        })
        .await;
        match outcome {
            Ok(Ok(v)) => Ok(v),
            Ok(Err(why)) => Err(Failure::Token(why)),
            Err(e) => Err(Failure::Other(e)),
        }
    }

    fn classify_old(
        &self,
        status: StatusCode,
        body: &[u8],
        accept: &[i64],
    ) -> Result<Value, Failure> {
        match serde_json::from_slice::<Value>(body) {
            Ok(v) if status.is_success() && errcode(&v).is_some_and(|c| accept.contains(&c)) => {
                Ok(v)
            }
            Ok(v) if status.is_success() => classify_oapi(&v).map(|()| v),
            Ok(v) => match ip_ban(&v) {
                Some(ban) => Err(ban.into()),
                // oapi errors come on 200; a non-2xx is the gateway's.
                None => Err(classify_v1(status, body)),
            },
            Err(_) => Err(classify_v1(status, body)),
        }
    }

    async fn read_body(&self, mut response: reqwest::Response) -> Result<Vec<u8>, ConnectorError> {
        let mut body = Vec::new();
        while let Some(chunk) = response.chunk().await.map_err(transport_error)? {
            if body.len() + chunk.len() > self.max_body {
                return Err(ConnectorError::protocol(
                    PLATFORM,
                    format!("response larger than {} bytes", self.max_body),
                ));
            }
            body.extend_from_slice(&chunk);
        }
        Ok(body)
    }

    /// The generation's token: the cached one unless missing, due for
    /// refresh, or equal to `rejected` (the one a token error answered).
    /// A caller whose rejected token another caller already replaced gets
    /// the replacement without a second fetch.
    pub(crate) async fn token(
        &self,
        generation: Generation,
        rejected: Option<&str>,
    ) -> Result<String, ConnectorError> {
        let cache = match generation {
            Generation::Old => &self.old_token,
            Generation::New => &self.new_token,
        };
        let mut state = cache.state.lock().await;
        if let Some(cached) = state.as_ref() {
            if Instant::now() < cached.refresh_at && rejected != Some(cached.token.as_str()) {
                return Ok(cached.token.clone());
            }
        }
        *state = None;
        let (token, lifetime) = self.fetch_token(generation).await?;
        let ahead = REFRESH_AHEAD.min(lifetime / 2);
        *state = Some(CachedToken {
            token: token.clone(),
            refresh_at: Instant::now() + lifetime - ahead,
        });
        tracing::debug!(
            ?generation,
            lifetime_s = lifetime.as_secs(),
            "dingtalk: access token fetched"
        );
        Ok(token)
    }

    async fn fetch_token(
        &self,
        generation: Generation,
    ) -> Result<(String, Duration), ConnectorError> {
        let refused = |why: String| {
            ConnectorError::Auth(format!(
                "DingTalk refused app_key {} and its secret: {why}; check `app_key` (the app's Client ID) \
                 and `app_secret` (its Client Secret) in the developer console",
                self.app_key
            ))
        };
        let body = match generation {
            Generation::Old => {
                let url = Self::url(
                    &self.oapi,
                    "/gettoken",
                    &[
                        ("appkey", self.app_key.clone()),
                        ("appsecret", self.app_secret.clone()),
                    ],
                );
                self.send(generation, &[], |c| c.get(url.clone())).await
            }
            Generation::New => {
                let url = Self::url(&self.api, "/v1.0/oauth2/accessToken", &[]);
                let body = json!({"appKey": self.app_key, "appSecret": self.app_secret});
                self.send(generation, &[], |c| c.post(url.clone()).json(&body))
                    .await
            }
        };
        let body = match body {
            Ok(b) => b,
            // On the token endpoint a "token error" means the credentials.
            Err(Failure::Token(why)) => return Err(refused(why)),
            Err(Failure::Other(ConnectorError::Auth(why))) => return Err(refused(why)),
            Err(Failure::Other(e)) => return Err(e),
        };
        let (token_key, life_key) = match generation {
            Generation::Old => ("access_token", "expires_in"),
            Generation::New => ("accessToken", "expireIn"),
        };
        let token = body
            .get(token_key)
            .and_then(Value::as_str)
            .filter(|t| !t.is_empty())
            .ok_or_else(|| {
                ConnectorError::protocol(PLATFORM, format!("token answer without `{token_key}`"))
            })?;
        let lifetime = body
            .get(life_key)
            .and_then(Value::as_u64)
            .unwrap_or(7200)
            .max(2);
        Ok((token.to_string(), Duration::from_secs(lifetime)))
    }
}

fn transport_error(e: reqwest::Error) -> ConnectorError {
    if let Some(refused) = ssrf::refusal(&e) {
        return refused.clone().into();
    }
    // Old-generation URLs carry the token and the secret: never print them.
    let e = e.without_url();
    if e.is_builder() {
        return ConnectorError::Config(format!("bad request to DingTalk: {e}"));
    }
    let mut message = format!("DingTalk request failed: {e}");
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

    fn oapi(body: Value) -> Result<(), Failure> {
        classify_oapi(&body)
    }

    #[test]
    fn oapi_codes() {
        assert!(oapi(json!({"errcode": 0, "errmsg": "ok"})).is_ok());
        assert!(oapi(json!({"errcode": "0", "errmsg": "ok"})).is_ok());
        assert!(oapi(json!({"result": {}})).is_ok());
        for code in [40001, 40014, 41001, 42001] {
            assert!(matches!(
                oapi(json!({"errcode": code, "errmsg": "x"})),
                Err(Failure::Token(_))
            ));
        }
        assert!(matches!(
            oapi(
                json!({"errcode": 88, "sub_code": "40014", "sub_msg": "不合法的access_token", "errmsg": "ding talk error"})
            ),
            Err(Failure::Token(_))
        ));
        assert!(matches!(
            oapi(json!({"errcode": 88, "sub_code": "40000", "sub_msg": "access_token is blank"})),
            Err(Failure::Other(ConnectorError::Auth(_)))
        ));
        for code in [90018, 90002, 90001, 90005, 90017] {
            match oapi(json!({"errcode": code, "errmsg": "x"})) {
                Err(Failure::Other(e @ ConnectorError::RateLimited { .. })) => {
                    assert_eq!(e.retry_after(), Some(Duration::from_secs(1)))
                }
                other => panic!("{code}: {other:?}"),
            }
        }
        assert!(matches!(
            oapi(json!({"errcode": -1, "errmsg": "系统繁忙"})),
            Err(Failure::Other(ConnectorError::Transient(_)))
        ));
        for code in [60011, 50002, 50004, 60020, 90020] {
            assert!(
                matches!(
                    oapi(json!({"errcode": code, "errmsg": "x"})),
                    Err(Failure::Other(ConnectorError::Forbidden(_)))
                ),
                "{code}"
            );
        }
        assert!(matches!(
            oapi(json!({"errcode": 40089, "errmsg": "不合法的corpId或corpSecret"})),
            Err(Failure::Other(ConnectorError::Auth(_)))
        ));
        for code in [40035, 400002, 43004, 33012, 60121, 60003] {
            assert!(
                matches!(
                    oapi(json!({"errcode": code, "errmsg": "x"})),
                    Err(Failure::Other(ConnectorError::Protocol { .. }))
                ),
                "{code}"
            );
        }
        match oapi(
            json!({"status": 1111, "wait": 5, "source": "x5", "punish": "deny", "uuid": "u"}),
        ) {
            Err(Failure::Other(e @ ConnectorError::RateLimited { .. })) => {
                assert_eq!(e.retry_after(), Some(Duration::from_secs(300)))
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn v1_codes() {
        let v1 = |status: u16, body: Value| {
            classify_v1(
                StatusCode::from_u16(status).unwrap(),
                body.to_string().as_bytes(),
            )
        };
        assert!(matches!(
            v1(
                400,
                json!({"code": "InvalidAuthentication", "message": "不合法的access_token"})
            ),
            Failure::Token(_)
        ));
        assert!(matches!(
            v1(401, json!({"code": "Unauthorized", "message": "x"})),
            Failure::Token(_)
        ));
        assert!(matches!(
            v1(400, json!({"code": "accesstoken.expired"})),
            Failure::Token(_)
        ));
        assert!(matches!(
            v1(
                403,
                json!({"code": "Forbidden.AccessDenied.QpsLimitForAppkeyAndApi"})
            ),
            Failure::Other(ConnectorError::RateLimited { .. })
        ));
        assert!(matches!(
            v1(
                403,
                json!({"code": "Forbidden.AccessDenied.AccessTokenPermissionDenied"})
            ),
            Failure::Other(ConnectorError::Forbidden(_))
        ));
        assert!(matches!(
            v1(429, json!({"code": "system.busy"})),
            Failure::Other(ConnectorError::RateLimited { .. })
        ));
        assert!(matches!(
            v1(503, json!({"code": "x"})),
            Failure::Other(ConnectorError::Transient(_))
        ));
        assert!(matches!(
            v1(400, json!({"code": "invalidClientIdOrSecret"})),
            Failure::Other(ConnectorError::Auth(_))
        ));
        assert!(matches!(
            classify_v1(StatusCode::OK, b"<html>denied</html>"),
            Failure::Other(ConnectorError::RateLimited { .. })
        ));
        assert!(matches!(
            classify_v1(StatusCode::BAD_GATEWAY, b"<html>bad gateway</html>"),
            Failure::Other(ConnectorError::Transient(_))
        ));
    }
}
