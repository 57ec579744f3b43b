//! The clock sessions are judged by: the system's, or one a test sets ([`Clock::manual`]),
//! so idle and absolute expiry can be tested without waiting days.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

/// Milliseconds since the Unix epoch, from the system or from a test.
#[derive(Debug, Clone, Default)]
pub struct Clock {
    manual: Option<Arc<AtomicI64>>,
}

impl Clock {
    /// The system clock.
    pub fn system() -> Self {
        Self::default()
    }

    /// A clock that stands at `now_ms` until [`Clock::advance`] moves it; clones share it.
    pub fn manual(now_ms: i64) -> Self {
        Self {
            manual: Some(Arc::new(AtomicI64::new(now_ms))),
        }
    }

    /// The time now, in ms since the Unix epoch.
    pub fn now_ms(&self) -> i64 {
        match &self.manual {
            Some(now) => now.load(Ordering::Acquire),
            None => crate::store::now_ms(),
        }
    }

    /// Moves a manual clock forward by `ms` (the system clock ignores it).
    pub fn advance(&self, ms: i64) {
        if let Some(now) = &self.manual {
            now.fetch_add(ms, Ordering::AcqRel);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn manual_clocks_move_only_when_told_and_share_time() {
        let clock = Clock::manual(1_000);
        let copy = clock.clone();
        assert_eq!(clock.now_ms(), 1_000);
        copy.advance(500);
        assert_eq!(clock.now_ms(), 1_500);
        let system = Clock::system();
        system.advance(1_000_000);
        assert!((system.now_ms() - crate::store::now_ms()).abs() < 10_000);
    }
}
