//! The `Authorization` header of every call, and OAuth token upkeep.
//!
//! OAuth tokens are cached behind one tokio mutex: whoever finds the token
//! stale refreshes it while holding the lock, so concurrent callers share a
//! single refresh (single-flight) and rotated refresh tokens are never used
//! twice.

use crate::config::{OAuthGrant, ZendeskAuth};
use base64::Engine;
use hrhub_connector::retry::{retry, RetryPolicy};
use hrhub_connector::{ssrf, ConnectorError, UrlPolicy};
use oauth2::basic::{BasicClient, BasicErrorResponse};
use oauth2::{
    AuthType, ClientId, ClientSecret, EndpointNotSet, EndpointSet, HttpClientError, RefreshToken,
    RequestTokenError, Scope, TokenResponse, TokenUrl,
};
use std::time::Duration;
use tokio::sync::Mutex;
use tokio::time::Instant;
use url::Url;

/// Refresh this long before `expires_in` runs out (at most half the lifetime).
const REFRESH_AHEAD: Duration = Duration::from_secs(60);

type TokenClient =
    BasicClient<EndpointNotSet, EndpointNotSet, EndpointNotSet, EndpointNotSet, EndpointSet>;

/// How calls are authenticated.
pub(crate) enum Credentials {
    /// API token: a fixed Basic header; a 401 is final.
    Basic { header: String, email: String },
    /// A long-lived OAuth access token without refresh token; a 401 is final.
    StaticBearer(String),
    /// OAuth with a grant that can mint new tokens.
    OAuth(Box<OAuthTokens>),
}

pub(crate) struct OAuthTokens {
    client: TokenClient,
    http: reqwest::Client,
    /// The token URL, checked before each request (an IP-literal host
    /// never reaches the client's resolver).
    token_url: Url,
    url_policy: UrlPolicy,
    grant: OAuthGrant,
    scopes: Vec<Scope>,
    retry: RetryPolicy,
    state: Mutex<TokenState>,
}

#[derive(Default)]
struct TokenState {
    access: Option<String>,
    /// When to stop using `access`; none when the server gave no expiry.
    refresh_at: Option<Instant>,
    /// The current refresh token (rotated on every refresh-token grant).
    refresh_token: Option<String>,
}

impl Credentials {
    pub(crate) fn new(
        auth: &ZendeskAuth,
        base: &Url,
        http: reqwest::Client,
        url_policy: UrlPolicy,
        retry: RetryPolicy,
    ) -> Result<Self, ConnectorError> {
        Ok(match auth {
            ZendeskAuth::ApiToken { email, token } => {
                let raw = format!("{email}/token:{token}");
                Credentials::Basic {
                    header: format!(
                        "Basic {}",
                        base64::engine::general_purpose::STANDARD.encode(raw)
                    ),
                    email: email.clone(),
                }
            }
            ZendeskAuth::Oauth2 {
                access_token: Some(token),
                refresh_token: None,
                ..
            } => Credentials::StaticBearer(token.clone()),
            ZendeskAuth::Oauth2 {
                client_id,
                client_secret,
                grant,
                refresh_token,
                access_token,
                scope,
                token_url,
            } => {
                let token_url = match token_url {
                    Some(url) => url.clone(),
                    None => format!("{}/oauth/tokens", base.as_str().trim_end_matches('/')),
                };
                let checked = Url::parse(&token_url).map_err(|e| {
                    ConnectorError::Config(format!(
                        "zendesk: token URL {token_url:?} is invalid: {e}"
                    ))
                })?;
                url_policy.check_configured("zendesk", "auth.token_url", &checked)?;
                let token_url = TokenUrl::from_url(checked.clone());
                // Zendesk documents client_id/client_secret in the request body.
                let client = BasicClient::new(ClientId::new(client_id.clone()))
                    .set_client_secret(ClientSecret::new(client_secret.clone()))
                    .set_auth_type(AuthType::RequestBody)
                    .set_token_uri(token_url);
                Credentials::OAuth(Box::new(OAuthTokens {
                    client,
                    http,
                    token_url: checked,
                    url_policy,
                    grant: *grant,
                    scopes: scope
                        .split_whitespace()
                        .map(|s| Scope::new(s.to_string()))
                        .collect(),
                    retry,
                    state: Mutex::new(TokenState {
                        access: access_token.clone(),
                        refresh_at: None,
                        refresh_token: refresh_token.clone(),
                    }),
                }))
            }
        })
    }

    /// The header value for the next call (refreshing a stale OAuth token first).
    pub(crate) async fn header(&self) -> Result<String, ConnectorError> {
        match self {
            Credentials::Basic { header, .. } => Ok(header.clone()),
            Credentials::StaticBearer(token) => Ok(format!("Bearer {token}")),
            Credentials::OAuth(tokens) => tokens.header(None).await,
        }
    }

    /// After a 401 answered to `used`: the header to retry with once, or
    /// `None` when there is nothing to refresh (the 401 is final).
    pub(crate) async fn after_unauthorized(
        &self,
        used: &str,
    ) -> Result<Option<String>, ConnectorError> {
        match self {
            Credentials::OAuth(tokens) => tokens.header(Some(used)).await.map(Some),
            _ => Ok(None),
        }
    }

    /// One line for `check`.
    pub(crate) fn describe(&self) -> String {
        match self {
            Credentials::Basic { email, .. } => format!("API token of {email}"),
            Credentials::StaticBearer(_) => "OAuth access token (long-lived, no refresh)".into(),
            Credentials::OAuth(t) => match t.grant {
                OAuthGrant::ClientCredentials => "OAuth client-credentials grant".into(),
                OAuthGrant::RefreshToken => "OAuth refresh-token grant".into(),
            },
        }
    }

    /// What the admin should check once a 401 is final.
    pub(crate) fn final_401_message(&self) -> String {
        match self {
            Credentials::Basic { email, .. } => format!(
                "Zendesk refused the API token of {email} (401): check that token access is enabled \
                 (Admin Center > Apps and integrations > APIs), the token is not revoked, and {email} \
                 is an active admin"
            ),
            Credentials::StaticBearer(_) => "Zendesk refused the OAuth access token (401); it cannot be \
                 refreshed: issue a new one, or configure a refresh token or the client-credentials grant"
                .into(),
            Credentials::OAuth(_) => "Zendesk refused a freshly refreshed OAuth token (401): check that \
                 the OAuth client still exists and that the admin who created it (or granted the refresh \
                 token) is still active"
                .into(),
        }
    }
}

impl OAuthTokens {
    /// The current token, minted anew when missing, stale, or equal to
    /// `rejected` (the one a 401 was answered to). A caller whose rejected
    /// token was already replaced by another caller gets the replacement.
    async fn header(&self, rejected: Option<&str>) -> Result<String, ConnectorError> {
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

    async fn mint(&self, state: &mut TokenState) -> Result<(), ConnectorError> {
        let refresh_token = state.refresh_token.clone().map(RefreshToken::new);
        self.url_policy.check_url(&self.token_url)?;
        let response = retry(&self.retry, || async {
            let result = match (self.grant, &refresh_token) {
                (OAuthGrant::RefreshToken, Some(rt)) => {
                    self.client
                        .exchange_refresh_token(rt)
                        .add_scopes(self.scopes.clone())
                        .request_async(&self.http)
                        .await
                }
                (OAuthGrant::RefreshToken, None) => {
                    return Err(ConnectorError::Auth(
                        "no refresh token left to refresh the OAuth token with".into(),
                    ))
                }
                (OAuthGrant::ClientCredentials, _) => {
                    self.client
                        .exchange_client_credentials()
                        .add_scopes(self.scopes.clone())
                        .request_async(&self.http)
                        .await
                }
            };
            result.map_err(token_error)
        })
        .await?;
        let now = Instant::now();
        state.access = Some(response.access_token().secret().clone());
        state.refresh_at = response
            .expires_in()
            .map(|life| now + life - REFRESH_AHEAD.min(life / 2));
        // Rotation: Zendesk invalidates the old pair; keep the old refresh
        // token only when the response carries none.
        if let Some(rt) = response.refresh_token() {
            state.refresh_token = Some(rt.secret().clone());
        }
        tracing::debug!(grant = ?self.grant, expires_in = ?response.expires_in(), "zendesk: OAuth token minted");
        Ok(())
    }
}

fn token_error(
    e: RequestTokenError<HttpClientError<reqwest::Error>, BasicErrorResponse>,
) -> ConnectorError {
    match e {
        RequestTokenError::ServerResponse(r) => ConnectorError::Auth(format!(
            "the Zendesk token endpoint refused the grant: {}{}; check auth.client_id, auth.client_secret \
             and (for the refresh-token grant) that the refresh token was not revoked or already rotated",
            r.error(),
            r.error_description().map(|d| format!(" ({d})")).unwrap_or_default()
        )),
        RequestTokenError::Request(e) => {
            // a refusal (resolver, redirect) is final; anything else may pass
            let refused = match &e {
                HttpClientError::Reqwest(inner) => ssrf::refusal(inner),
                _ => None,
            };
            match refused {
                Some(refused) => refused.clone().into(),
                None => ConnectorError::Transient(format!("Zendesk token request failed: {e}")),
            }
        }
        RequestTokenError::Parse(e, body) => ConnectorError::protocol(
            "zendesk",
            format!(
                "token endpoint answer unreadable ({e}): {}",
                String::from_utf8_lossy(&body[..body.len().min(300)])
            ),
        ),
        RequestTokenError::Other(m) => ConnectorError::protocol("zendesk", format!("token endpoint: {m}")),
    }
}
