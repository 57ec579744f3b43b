//! Drops events received twice. After a failover redis-rs can hold two subscriptions to
//! one channel (see DESIGN.md), so every event would arrive twice; messages are also
//! filtered by sequence later, but presence and name events have no sequence. Each
//! envelope carries its origin backend and number; the last `window` of them are
//! remembered (a bounded ring), and a repeat within the window is dropped.

use std::collections::{HashSet, VecDeque};

/// The remembered event ids.
#[derive(Debug)]
pub struct RecentIds {
    seen: HashSet<(String, u64)>,
    order: VecDeque<(String, u64)>,
    window: usize,
}

impl RecentIds {
    /// Remembers at most `window` ids (at least one).
    pub fn new(window: usize) -> Self {
        let window = window.max(1);
        Self {
            seen: HashSet::with_capacity(window),
            order: VecDeque::with_capacity(window),
            window,
        }
    }

    /// Records the id; returns `false` when it was seen within the window.
    pub fn first_time(&mut self, origin: &str, n: u64) -> bool {
        let id = (origin.to_owned(), n);
        if self.seen.contains(&id) {
            return false;
        }
        if self.order.len() == self.window
            && let Some(oldest) = self.order.pop_front()
        {
            self.seen.remove(&oldest);
        }
        self.seen.insert(id.clone());
        self.order.push_back(id);
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repeats_within_the_window_are_dropped() {
        let mut ids = RecentIds::new(2);
        assert!(ids.first_time("a", 1));
        assert!(!ids.first_time("a", 1));
        assert!(ids.first_time("b", 1));
        assert!(ids.first_time("a", 2));
        // ("a", 1) fell out of the window.
        assert!(ids.first_time("a", 1));
        assert!(!ids.first_time("a", 2));
    }
}
