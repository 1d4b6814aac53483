use std::time::Duration;

/// Why a connector call failed. `is_transient` decides whether the retry
/// module tries again.
#[derive(Debug, thiserror::Error)]
pub enum ConnectorError {
    /// The platform asked us to slow down (HTTP 429 or a platform rate-limit code).
    #[error("rate limited by {platform}{}", retry_after.map(|d| format!(" (retry after {}s)", d.as_secs())).unwrap_or_default())]
    RateLimited {
        platform: String,
        retry_after: Option<Duration>,
    },
    /// A failure that may pass: 5xx, timeout, connection reset.
    #[error("{0}")]
    Transient(String),
    /// Credentials were refused (after one token refresh where the platform has tokens).
    #[error("authentication failed: {0}; check the connector's credentials (auth table) and that the account is still active")]
    Auth(String),
    /// Credentials are valid but lack a permission the stream needs.
    #[error(
        "permission denied: {0}; the account needs the role or scope listed in the connector docs"
    )]
    Forbidden(String),
    /// The connector's configuration cannot work (bad URL, unknown stream, ...).
    #[error("configuration error: {0}")]
    Config(String),
    /// The URL policy refused where a request would go (a blocked address,
    /// a redirect, a non-HTTP scheme): never retried.
    #[error(transparent)]
    UrlRefused(#[from] crate::ssrf::UrlRefused),
    /// The platform answered with something the connector cannot use.
    #[error("unexpected response from {platform}: {message}")]
    Protocol { platform: String, message: String },
    /// Retries ran out; the last error is kept.
    #[error("gave up after {attempts} attempts: {last}")]
    Exhausted {
        attempts: u32,
        last: Box<ConnectorError>,
    },
}

impl ConnectorError {
    pub fn is_transient(&self) -> bool {
        matches!(
            self,
            ConnectorError::RateLimited { .. } | ConnectorError::Transient(_)
        )
    }

    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            ConnectorError::RateLimited { retry_after, .. } => *retry_after,
            _ => None,
        }
    }

    pub fn protocol(platform: &str, message: impl Into<String>) -> Self {
        ConnectorError::Protocol {
            platform: platform.to_string(),
            message: message.into(),
        }
    }
}
