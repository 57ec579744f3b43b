//! Reconnect delays: exponential backoff with full jitter.
//!
//! The delay before reconnect attempt `n` (counting from 0) is a uniformly random number
//! of milliseconds in `[0, min(cap, base · 2^n)]` ("full jitter"), so that many clients
//! cut off at the same moment do not all come back at the same moment.

/// The parameters of the backoff.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BackoffConfig {
    /// The ceiling of the first delay, in milliseconds (default 500).
    pub base_ms: u64,
    /// The largest ceiling any delay can have, in milliseconds (default 30 000).
    pub cap_ms: u64,
}

impl Default for BackoffConfig {
    fn default() -> Self {
        Self {
            base_ms: 500,
            cap_ms: 30_000,
        }
    }
}

impl BackoffConfig {
    /// The ceiling of the delay before attempt `attempt`: `min(cap, base · 2^attempt)`,
    /// computed without overflow.
    pub fn ceiling_ms(&self, attempt: u32) -> u64 {
        let factor = 1u64.checked_shl(attempt.min(63)).unwrap_or(u64::MAX);
        self.base_ms.saturating_mul(factor).min(self.cap_ms)
    }

    /// A random delay for attempt `attempt`, uniformly drawn from `[0, ceiling]`.
    pub fn delay_ms(&self, attempt: u32, rng: &mut fastrand::Rng) -> u64 {
        rng.u64(0..=self.ceiling_ms(attempt))
    }
}

/// The state of the backoff: how many attempts failed in a row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Backoff {
    config: BackoffConfig,
    attempt: u32,
}

impl Backoff {
    /// A backoff with no failed attempt yet.
    pub fn new(config: BackoffConfig) -> Self {
        Self { config, attempt: 0 }
    }

    /// The parameters.
    pub fn config(&self) -> BackoffConfig {
        self.config
    }

    /// How many attempts have been scheduled since the last [`Backoff::reset`].
    pub fn attempt(&self) -> u32 {
        self.attempt
    }

    /// Draws the delay for the next attempt and counts the attempt. Returns the delay and
    /// the attempt number it belongs to (0 for the first).
    pub fn next_delay(&mut self, rng: &mut fastrand::Rng) -> (u64, u32) {
        let attempt = self.attempt;
        let delay = self.config.delay_ms(attempt, rng);
        self.attempt = self.attempt.saturating_add(1);
        (delay, attempt)
    }

    /// Forgets the failed attempts (after a successful `welcome`).
    pub fn reset(&mut self) {
        self.attempt = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ceiling_doubles_then_caps() {
        let config = BackoffConfig::default();
        assert_eq!(config.ceiling_ms(0), 500);
        assert_eq!(config.ceiling_ms(1), 1_000);
        assert_eq!(config.ceiling_ms(5), 16_000);
        assert_eq!(config.ceiling_ms(6), 30_000);
        assert_eq!(config.ceiling_ms(200), 30_000);
        assert_eq!(config.ceiling_ms(u32::MAX), 30_000);
    }

    #[test]
    fn huge_base_does_not_overflow() {
        let config = BackoffConfig {
            base_ms: u64::MAX / 2,
            cap_ms: u64::MAX,
        };
        assert_eq!(config.ceiling_ms(10), u64::MAX);
    }

    #[test]
    fn delays_stay_within_bounds() {
        let config = BackoffConfig::default();
        let mut rng = fastrand::Rng::with_seed(7);
        for attempt in 0..20 {
            for _ in 0..500 {
                let delay = config.delay_ms(attempt, &mut rng);
                assert!(
                    delay <= config.ceiling_ms(attempt),
                    "attempt {attempt}: {delay}"
                );
            }
        }
    }

    #[test]
    fn jitter_is_full_and_roughly_uniform() {
        // Full jitter: delays spread over the whole [0, ceiling] range, not clustered
        // near the ceiling. Check the mean and that every tenth of the range is hit.
        let config = BackoffConfig::default();
        let mut rng = fastrand::Rng::with_seed(42);
        let ceiling = config.ceiling_ms(6);
        let samples = 20_000;
        let mut buckets = [0u32; 10];
        let mut sum = 0u64;
        for _ in 0..samples {
            let delay = config.delay_ms(6, &mut rng);
            sum += delay;
            let bucket = ((delay * 10) / (ceiling + 1)) as usize;
            buckets[bucket] += 1;
        }
        let mean = sum as f64 / samples as f64;
        let expected = ceiling as f64 / 2.0;
        assert!((mean - expected).abs() < expected * 0.05, "mean {mean}");
        for (i, count) in buckets.iter().enumerate() {
            let share = f64::from(*count) / f64::from(samples);
            assert!((0.08..0.12).contains(&share), "bucket {i}: {share}");
        }
    }

    #[test]
    fn attempts_count_up_and_reset() {
        let mut backoff = Backoff::new(BackoffConfig::default());
        let mut rng = fastrand::Rng::with_seed(1);
        let (_, first) = backoff.next_delay(&mut rng);
        let (_, second) = backoff.next_delay(&mut rng);
        assert_eq!((first, second), (0, 1));
        assert_eq!(backoff.attempt(), 2);
        backoff.reset();
        assert_eq!(backoff.attempt(), 0);
    }

    #[test]
    fn same_seed_same_delays() {
        let config = BackoffConfig::default();
        let mut a = fastrand::Rng::with_seed(9);
        let mut b = fastrand::Rng::with_seed(9);
        for attempt in 0..10 {
            assert_eq!(
                config.delay_ms(attempt, &mut a),
                config.delay_ms(attempt, &mut b)
            );
        }
    }
}
