//! Retries of provider calls: only retryable errors, exponential backoff with jitter, a
//! bounded number of attempts.

use std::sync::Mutex;
use std::time::Duration;

use super::ProviderError;

/// How often and how patiently a failed call is tried again.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Attempts in all, the first included; 1 means no retry.
    pub max_attempts: u32,
    /// Delay ceiling after the first failure; it doubles with each further failure.
    pub base_delay: Duration,
    pub max_delay: Duration,
}

impl Default for RetryPolicy {
    /// Six attempts over about a minute: AWS throttling clears in seconds, and a longer
    /// outage is better reported than waited out.
    fn default() -> Self {
        Self {
            max_attempts: 6,
            base_delay: Duration::from_secs(1),
            max_delay: Duration::from_secs(30),
        }
    }
}

impl RetryPolicy {
    /// Never retries.
    pub fn none() -> Self {
        Self {
            max_attempts: 1,
            ..Self::default()
        }
    }

    /// Returns the delay after the `failures`-th failure: "equal jitter", half of the
    /// exponential ceiling plus a random part of the other half, so that many callers
    /// throttled together do not come back together, yet none retries at once.
    pub fn delay(&self, failures: u32, rng: &mut fastrand::Rng) -> Duration {
        let exponent = failures.saturating_sub(1).min(20);
        let ceiling = self
            .base_delay
            .saturating_mul(1 << exponent)
            .min(self.max_delay);
        let half = ceiling / 2;
        let jitter_ms = u64::try_from(half.as_millis()).unwrap_or(u64::MAX);
        half + Duration::from_millis(rng.u64(0..=jitter_ms))
    }

    /// Runs `call` until it succeeds, fails permanently, or has failed `max_attempts`
    /// times; `on_retry(attempt, delay, error)` is told before each wait.
    pub async fn run<T, F, Fut>(
        &self,
        rng: &Mutex<fastrand::Rng>,
        mut on_retry: impl FnMut(u32, Duration, &ProviderError),
        mut call: F,
    ) -> Result<T, ProviderError>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, ProviderError>>,
    {
        let mut failures = 0;
        loop {
            match call().await {
                Ok(value) => return Ok(value),
                Err(error) if error.retryable() && failures + 1 < self.max_attempts => {
                    failures += 1;
                    let delay = {
                        let mut rng = rng
                            .lock()
                            .unwrap_or_else(std::sync::PoisonError::into_inner);
                        self.delay(failures, &mut rng)
                    };
                    on_retry(failures + 1, delay, &error);
                    tokio::time::sleep(delay).await;
                }
                Err(error) => return Err(error),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stack::{Address, Component};

    #[test]
    fn delays_grow_and_stay_bounded() {
        let policy = RetryPolicy::default();
        let mut rng = fastrand::Rng::with_seed(7);
        for failures in 1..30 {
            let ceiling = (Duration::from_secs(1) * 2u32.saturating_pow(failures - 1))
                .min(Duration::from_secs(30));
            let delay = policy.delay(failures, &mut rng);
            assert!(
                delay >= ceiling / 2 && delay <= ceiling,
                "{failures}: {delay:?}"
            );
        }
    }

    #[tokio::test(start_paused = true)]
    async fn retries_only_retryable_errors_up_to_the_limit() {
        let address = Address::new(Component::Rds, "cluster");
        let rng = Mutex::new(fastrand::Rng::with_seed(1));
        let policy = RetryPolicy {
            max_attempts: 3,
            ..RetryPolicy::default()
        };

        let mut calls = 0;
        let mut retries = Vec::new();
        let result: Result<(), _> = policy
            .run(
                &rng,
                |attempt, _, _| retries.push(attempt),
                || {
                    calls += 1;
                    let address = address.clone();
                    async move {
                        Err(ProviderError::Throttled {
                            address,
                            code: "Throttling".into(),
                            message: String::new(),
                        })
                    }
                },
            )
            .await;
        assert!(result.is_err());
        assert_eq!(calls, 3);
        assert_eq!(retries, vec![2, 3]);

        let mut calls = 0;
        let result: Result<(), _> = policy
            .run(
                &rng,
                |_, _, _| {},
                || {
                    calls += 1;
                    let address = address.clone();
                    async move {
                        Err(ProviderError::rejected(
                            &address,
                            "InvalidParameterValue",
                            "bad",
                        ))
                    }
                },
            )
            .await;
        assert_eq!(result.unwrap_err().code(), "InvalidParameterValue");
        assert_eq!(calls, 1, "a permanent error is not retried");
    }
}
