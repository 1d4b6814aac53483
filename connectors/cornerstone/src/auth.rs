//! Access tokens: OAuth 2.0 client-credentials grant through the `oauth2`
//! crate, cached, refreshed ahead of expiry, single-flight.
//!
//! Cornerstone's token endpoint takes a JSON body with camelCase keys
//! (`{"clientId", "clientSecret", "grantType", "scope"}`), not RFC 6749's
//! form encoding, so the `oauth2` client talks to it through
//! [`send_as_json`], a small HTTP adapter that rewrites the form body it is
//! given into that JSON. The response is standard (`access_token`,
//! `expires_in`, `scope`, `token_type`); a missing `token_type` is taken as
//! `Bearer`, since only `access_token` and `expires_in` are documented.
//!
//! The token is cached behind one tokio mutex: whoever finds it stale
//! mints a new one while holding the lock, so concurrent callers share one
//! request.

use hrhub_connector::retry::{retry, RetryPolicy};
use hrhub_connector::{ssrf, ConnectorError, UrlPolicy, UrlRefused};
use oauth2::basic::{BasicClient, BasicErrorResponse};
use oauth2::http::{self, header};
use oauth2::{
    AuthType, ClientId, ClientSecret, EndpointNotSet, EndpointSet, HttpRequest, HttpResponse,
    RequestTokenError, Scope, TokenResponse, TokenUrl,
};
use serde_json::{Map, Value};
use std::time::Duration;
use tokio::sync::Mutex;
use tokio::time::Instant;

/// Mint a new token this long before `expires_in` runs out (at most half
/// the token's lifetime).
pub(crate) const REFRESH_AHEAD: Duration = Duration::from_secs(60);

type TokenClient =
    BasicClient<EndpointNotSet, EndpointNotSet, EndpointNotSet, EndpointNotSet, EndpointSet>;

pub(crate) struct Tokens {
    client: TokenClient,
    token_url: String,
    http: reqwest::Client,
    url_policy: UrlPolicy,
    scopes: Vec<Scope>,
    retry: RetryPolicy,
    state: Mutex<TokenState>,
}

#[derive(Default)]
struct TokenState {
    access: Option<String>,
    /// When to stop using `access`; none when the server gave no expiry.
    refresh_at: Option<Instant>,
    /// What the last token response said (for `check`).
    granted_scope: Option<String>,
    expires_in: Option<Duration>,
}

/// What `check` reports about the current token.
pub(crate) struct TokenInfo {
    pub token_url: String,
    pub scope: Option<String>,
    pub expires_in: Option<Duration>,
}

impl Tokens {
    pub(crate) fn new(
        client_id: &str,
        client_secret: &str,
        scope: &str,
        token_url: &str,
        http: reqwest::Client,
        url_policy: UrlPolicy,
        retry: RetryPolicy,
    ) -> Result<Self, ConnectorError> {
        let url = TokenUrl::new(token_url.to_string()).map_err(|e| {
            ConnectorError::Config(format!(
                "cornerstone: token URL {token_url:?} is invalid: {e}"
            ))
        })?;
        url_policy.check_configured("cornerstone", "auth.token_url", url.url())?;
        // credentials in the body: the adapter moves them into the JSON
        let client = BasicClient::new(ClientId::new(client_id.to_string()))
            .set_client_secret(ClientSecret::new(client_secret.to_string()))
            .set_auth_type(AuthType::RequestBody)
            .set_token_uri(url);
        Ok(Tokens {
            client,
            token_url: token_url.to_string(),
            http,
            url_policy,
            scopes: scope
                .split_whitespace()
                .map(|s| Scope::new(s.to_string()))
                .collect(),
            retry,
            state: Mutex::new(TokenState::default()),
        })
    }

    /// `Bearer …` for the next call: the cached token, or a new one when
    /// there is none, it is due for refresh, or it is `rejected` (the
    /// header a 401 was answered to). A caller whose rejected token was
    /// already replaced by another caller gets the replacement.
    pub(crate) async fn header(&self, rejected: Option<&str>) -> Result<String, ConnectorError> {
        let mut state = self.state.lock().await;
        if let Some(access) = &state.access {
            let header = format!("Bearer {access}");
            let fresh = state.refresh_at.is_none_or(|at| Instant::now() < at);
            if fresh && rejected != Some(header.as_str()) {
                return Ok(header);
            }
        }
        self.mint(&mut state).await?;
        Ok(format!(
            "Bearer {}",
            state.access.as_deref().unwrap_or_default()
        ))
    }

    pub(crate) async fn info(&self) -> TokenInfo {
        let state = self.state.lock().await;
        TokenInfo {
            token_url: self.token_url.clone(),
            scope: state.granted_scope.clone(),
            expires_in: state.expires_in,
        }
    }

    async fn mint(&self, state: &mut TokenState) -> Result<(), ConnectorError> {
        let http = self.http.clone();
        let policy = self.url_policy;
        let send = move |request: HttpRequest| send_as_json(http.clone(), policy, request);
        let response = retry(&self.retry, || async {
            self.client
                .exchange_client_credentials()
                .add_scopes(self.scopes.clone())
                .request_async(&send)
                .await
                .map_err(|e| token_error(e, &self.scopes))
        })
        .await?;
        let now = Instant::now();
        state.access = Some(response.access_token().secret().clone());
        state.refresh_at = response
            .expires_in()
            .map(|life| now + life - REFRESH_AHEAD.min(life / 2));
        state.expires_in = response.expires_in();
        state.granted_scope = response.scopes().map(|s| {
            s.iter()
                .map(|s| s.as_str().to_string())
                .collect::<Vec<_>>()
                .join(" ")
        });
        tracing::debug!(expires_in = ?response.expires_in(), "cornerstone: access token minted");
        Ok(())
    }
}

/// Why the adapter could not get an answer to hand to `oauth2`.
#[derive(Debug, thiserror::Error)]
pub(crate) enum TokenHttpError {
    #[error("{0}")]
    Transport(String),
    /// 429 and 5xx: worth retrying.
    #[error("token endpoint answered HTTP {status}")]
    Status {
        status: u16,
        retry_after: Option<Duration>,
    },
    /// The URL policy refused the token endpoint's address: final.
    #[error("{0}")]
    Refused(UrlRefused),
    #[error("{0}")]
    Other(String),
}

/// The `oauth2` crate's HTTP client for Cornerstone: the RFC 6749 form body
/// becomes `{"clientId", "clientSecret", "grantType", "scope"}` JSON; no
/// redirects are followed (see `hrhub_connector::ssrf`), and the URL is
/// checked against the URL policy first.
pub(crate) async fn send_as_json(
    http: reqwest::Client,
    url_policy: UrlPolicy,
    request: HttpRequest,
) -> Result<HttpResponse, TokenHttpError> {
    let url = url::Url::parse(&request.uri().to_string())
        .map_err(|e| TokenHttpError::Other(format!("token URL: {e}")))?;
    url_policy
        .check_url(&url)
        .map_err(TokenHttpError::Refused)?;
    let mut body = Map::new();
    for (key, value) in url::form_urlencoded::parse(request.body()) {
        let key = match key.as_ref() {
            "client_id" => "clientId",
            "client_secret" => "clientSecret",
            "grant_type" => "grantType",
            other => other,
        };
        body.insert(key.to_string(), Value::String(value.into_owned()));
    }
    let response = http
        .post(url)
        .header(header::CONTENT_TYPE, "application/json")
        .header(header::ACCEPT, "application/json")
        .json(&body)
        .send()
        .await
        .map_err(transport_error)?;
    let status = response.status();
    if status.as_u16() == 429 || status.is_server_error() {
        let retry_after = response
            .headers()
            .get(header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok())
            .map(Duration::from_secs);
        return Err(TokenHttpError::Status {
            status: status.as_u16(),
            retry_after,
        });
    }
    let headers = response.headers().clone();
    let mut bytes = response.bytes().await.map_err(transport_error)?.to_vec();
    if status.is_success() {
        // only access_token and expires_in are documented: default the type
        if let Ok(Value::Object(mut token)) = serde_json::from_slice::<Value>(&bytes) {
            if !token.contains_key("token_type") {
                token.insert("token_type".into(), Value::String("Bearer".into()));
                bytes = serde_json::to_vec(&token).expect("a JSON object serializes");
            }
        }
    }
    let mut out = http::Response::builder().status(status.as_u16());
    for (name, value) in headers.iter() {
        out = out.header(name, value);
    }
    out.body(bytes)
        .map_err(|e| TokenHttpError::Other(e.to_string()))
}

fn transport_error(e: reqwest::Error) -> TokenHttpError {
    match ssrf::refusal(&e) {
        Some(refused) => TokenHttpError::Refused(refused.clone()),
        None => TokenHttpError::Transport(chain(&e)),
    }
}

fn chain(e: &dyn std::error::Error) -> String {
    let mut message = e.to_string();
    let mut source = e.source();
    while let Some(cause) = source {
        message.push_str(&format!(": {cause}"));
        source = cause.source();
    }
    message
}

fn token_error(
    e: RequestTokenError<TokenHttpError, BasicErrorResponse>,
    scopes: &[Scope],
) -> ConnectorError {
    match e {
        RequestTokenError::ServerResponse(r) => {
            let scope: Vec<&str> = scopes.iter().map(|s| s.as_str()).collect();
            ConnectorError::Auth(format!(
                "the Cornerstone token endpoint refused the client credentials: {}{}; check auth.client_id and \
                 auth.client_secret, that the application is active under Admin > Tools > Edge > API Management, \
                 and that it is granted the scopes {:?}",
                r.error(),
                r.error_description()
                    .map(|d| format!(" ({d})"))
                    .unwrap_or_default(),
                scope.join(" ")
            ))
        }
        RequestTokenError::Request(TokenHttpError::Status {
            status: 429,
            retry_after,
        }) => ConnectorError::RateLimited {
            platform: "cornerstone".into(),
            retry_after,
        },
        RequestTokenError::Request(TokenHttpError::Refused(refused)) => refused.into(),
        RequestTokenError::Request(e) => {
            ConnectorError::Transient(format!("Cornerstone token request failed: {e}"))
        }
        RequestTokenError::Parse(e, body) => ConnectorError::protocol(
            "cornerstone",
            format!(
                "token endpoint answer unreadable ({e}): {}",
                String::from_utf8_lossy(&body[..body.len().min(300)])
            ),
        ),
        RequestTokenError::Other(m) => {
            ConnectorError::protocol("cornerstone", format!("token endpoint: {m}"))
        }
    }
}
