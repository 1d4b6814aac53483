use std::time::Duration;
use tokio::sync::Mutex;
use tokio::time::Instant;

/// Spaces requests evenly so a connector stays under the platform's budget
/// (a GCRA-style limiter: each call reserves the next free slot).
/// Shared by every stream of one connector.
#[derive(Debug)]
pub struct RateLimiter {
    interval: Duration,
    burst: u32,
    next_free: Mutex<Instant>,
}

impl RateLimiter {
    /// `per_minute` requests per minute, allowing `burst` back-to-back calls.
    pub fn per_minute(per_minute: u32, burst: u32) -> Self {
        let per_minute = per_minute.max(1);
        RateLimiter {
            interval: Duration::from_secs(60) / per_minute,
            burst: burst.max(1),
            next_free: Mutex::new(Instant::now()),
        }
    }

    /// Waits until a request may be sent.
    pub async fn acquire(&self) {
        let wait_until = {
            let mut next = self.next_free.lock().await;
            let now = Instant::now();
            // theoretical arrival time: the burst may run ahead of it
            let tat = (*next).max(now);
            *next = tat + self.interval;
            tat.checked_sub(self.interval * (self.burst - 1))
                .unwrap_or(now)
                .max(now)
        };
        tokio::time::sleep_until(wait_until).await;
    }

    /// Pushes every future request back, e.g. after a 429 with Retry-After.
    pub async fn pause_for(&self, wait: Duration) {
        let mut next = self.next_free.lock().await;
        let until = Instant::now() + wait;
        if *next < until {
            *next = until;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn spaces_requests_after_the_burst() {
        let limiter = RateLimiter::per_minute(600, 2); // one per 100 ms
        let start = Instant::now();
        for _ in 0..5 {
            limiter.acquire().await;
        }
        // two free, then three spaced by 100 ms
        let elapsed = start.elapsed();
        assert!(elapsed >= Duration::from_millis(300), "{elapsed:?}");
        assert!(elapsed < Duration::from_millis(400), "{elapsed:?}");
    }
}
