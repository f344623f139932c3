//! Retries of transient failures with exponential backoff and full jitter.

use std::{future::Future, time::Duration};

use super::error::ClientResult;

/// How often and how patiently to retry a transient failure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    /// Retries after the first attempt (0 = try once).
    pub retries: u32,
    /// The ceiling of the first wait; it doubles with every retry.
    pub base: Duration,
    /// The largest ceiling a wait can have.
    pub max: Duration,
}

impl Default for Backoff {
    fn default() -> Self {
        Self {
            retries: 3,
            base: Duration::from_millis(500),
            max: Duration::from_secs(30),
        }
    }
}

impl Backoff {
    /// Returns the wait before retry `n` (0-based): uniform in `[0, min(max, base·2ⁿ)]`.
    pub fn delay(&self, n: u32) -> Duration {
        let ceiling = self
            .base
            .saturating_mul(2u32.saturating_pow(n.min(20)))
            .min(self.max);
        ceiling.mul_f64(rand::random::<f64>())
    }

    /// Runs `op` until it succeeds, fails with a non-transient error, or the retries run out.
    pub async fn run<T, F, Fut>(&self, what: &str, mut op: F) -> ClientResult<T>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = ClientResult<T>>,
    {
        let mut n = 0;
        loop {
            match op().await {
                Err(e) if e.is_transient() && n < self.retries => {
                    let wait = self.delay(n);
                    tracing::warn!(%what, error = %e, retry = n + 1, wait_ms = wait.as_millis() as u64, "retrying");
                    tokio::time::sleep(wait).await;
                    n += 1;
                }
                other => return other,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delays_grow_and_stay_under_the_ceiling() {
        let b = Backoff {
            retries: 5,
            base: Duration::from_millis(100),
            max: Duration::from_millis(250),
        };
        for _ in 0..100 {
            assert!(b.delay(0) <= Duration::from_millis(100));
            assert!(b.delay(1) <= Duration::from_millis(200));
            assert!(b.delay(9) <= Duration::from_millis(250));
        }
    }
}
