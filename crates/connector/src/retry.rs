//! The one retry policy of the hub. Connectors call [`retry`]; nothing else
//! imports the backoff crate, so it can be swapped here alone.

use crate::ConnectorError;
use std::future::Future;
use std::time::Duration;

/// Exponential backoff with jitter, bounded by attempts and elapsed time.
#[derive(Debug, Clone)]
pub struct RetryPolicy {
    pub initial_interval: Duration,
    pub max_interval: Duration,
    /// Give up once this much time has passed since the first attempt.
    pub max_elapsed: Duration,
    /// Give up after this many attempts, whatever the platform's Retry-After says.
    pub max_attempts: u32,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            initial_interval: Duration::from_millis(500),
            max_interval: Duration::from_secs(30),
            max_elapsed: Duration::from_secs(300),
            max_attempts: 8,
        }
    }
}

impl RetryPolicy {
    /// A fast policy for tests: same shape, millisecond waits.
    pub fn fast() -> Self {
        RetryPolicy {
            initial_interval: Duration::from_millis(5),
            max_interval: Duration::from_millis(50),
            max_elapsed: Duration::from_secs(10),
            max_attempts: 6,
        }
    }
}

/// Runs `op` until it succeeds, fails permanently, or the policy runs out.
/// A transient error's `retry_after` (HTTP Retry-After) replaces the computed
/// wait: no request is sent before the platform said it may be.
pub async fn retry<T, F, Fut>(policy: &RetryPolicy, mut op: F) -> Result<T, ConnectorError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, ConnectorError>>,
{
    let backoff = backoff::ExponentialBackoffBuilder::new()
        .with_initial_interval(policy.initial_interval)
        .with_max_interval(policy.max_interval)
        .with_max_elapsed_time(Some(policy.max_elapsed))
        .with_randomization_factor(0.3)
        .build();
    let mut attempts = 0u32;
    let max_attempts = policy.max_attempts.max(1);
    let result = backoff::future::retry_notify(
        backoff,
        || {
            attempts += 1;
            let attempt = attempts;
            let fut = op();
            async move {
                match fut.await {
                    Ok(v) => Ok(v),
                    Err(e) if !e.is_transient() => Err(backoff::Error::permanent(e)),
                    Err(e) if attempt >= max_attempts => Err(backoff::Error::permanent(
                        ConnectorError::Exhausted {
                            attempts: attempt,
                            last: Box::new(e),
                        },
                    )),
                    Err(e) => match e.retry_after() {
                        Some(wait) => Err(backoff::Error::retry_after(e, wait)),
                        None => Err(backoff::Error::transient(e)),
                    },
                }
            }
        },
        |err: ConnectorError, wait: Duration| {
            tracing::warn!(error = %err, wait_ms = wait.as_millis() as u64, "transient failure, retrying");
        },
    )
    .await;
    match result {
        // The elapsed-time budget ran out on a transient error.
        Err(e) if e.is_transient() => Err(ConnectorError::Exhausted {
            attempts,
            last: Box::new(e),
        }),
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicU32, Ordering};
    use std::time::Instant;

    #[tokio::test]
    async fn retries_transient_then_succeeds() {
        let calls = AtomicU32::new(0);
        let out = retry(&RetryPolicy::fast(), || async {
            if calls.fetch_add(1, Ordering::SeqCst) < 2 {
                Err(ConnectorError::Transient("503".into()))
            } else {
                Ok(7)
            }
        })
        .await
        .unwrap();
        assert_eq!(out, 7);
        assert_eq!(calls.load(Ordering::SeqCst), 3);
    }

    #[tokio::test]
    async fn permanent_errors_are_not_retried() {
        let calls = AtomicU32::new(0);
        let err = retry(&RetryPolicy::fast(), || async {
            calls.fetch_add(1, Ordering::SeqCst);
            Err::<(), _>(ConnectorError::Auth("401".into()))
        })
        .await
        .unwrap_err();
        assert!(matches!(err, ConnectorError::Auth(_)));
        assert_eq!(calls.load(Ordering::SeqCst), 1);
    }

    #[tokio::test]
    async fn attempts_are_bounded_even_with_retry_after() {
        let calls = AtomicU32::new(0);
        let err = retry(&RetryPolicy::fast(), || async {
            calls.fetch_add(1, Ordering::SeqCst);
            Err::<(), _>(ConnectorError::RateLimited {
                platform: "p".into(),
                retry_after: Some(Duration::from_millis(1)),
            })
        })
        .await
        .unwrap_err();
        assert!(
            matches!(err, ConnectorError::Exhausted { attempts: 6, .. }),
            "{err}"
        );
        assert_eq!(calls.load(Ordering::SeqCst), 6);
    }

    #[tokio::test]
    async fn retry_after_is_honoured() {
        let calls = AtomicU32::new(0);
        let start = Instant::now();
        retry(&RetryPolicy::fast(), || async {
            if calls.fetch_add(1, Ordering::SeqCst) == 0 {
                Err(ConnectorError::RateLimited {
                    platform: "p".into(),
                    retry_after: Some(Duration::from_millis(300)),
                })
            } else {
                Ok(())
            }
        })
        .await
        .unwrap();
        assert!(start.elapsed() >= Duration::from_millis(300));
    }
}
