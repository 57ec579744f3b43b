//! Concurrent holdings per key — connections per client address, per identity — with a
//! cap: [`Occupancy::try_take`] hands out a [`Held`] that gives its place back when
//! dropped. The map holds only keys with at least one holding, so it is bounded by the
//! holdings themselves.

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::{Arc, Mutex, PoisonError};

/// Counts holdings per key, at most `max` each.
#[derive(Debug)]
pub struct Occupancy<K: Eq + Hash> {
    max: usize,
    held: Mutex<HashMap<K, usize>>,
}

/// One holding of a key; dropping it frees the place.
#[derive(Debug)]
pub struct Held<K: Eq + Hash + Clone> {
    occupancy: Arc<Occupancy<K>>,
    key: K,
}

impl<K: Eq + Hash + Clone> Occupancy<K> {
    /// An occupancy allowing `max` holdings per key.
    pub fn new(max: usize) -> Arc<Self> {
        Arc::new(Self {
            max,
            held: Mutex::new(HashMap::new()),
        })
    }

    /// Takes a place for `key`, or `None` when it already holds `max`.
    pub fn try_take(self: &Arc<Self>, key: K) -> Option<Held<K>> {
        let mut held = self.held.lock().unwrap_or_else(PoisonError::into_inner);
        let count = held.entry(key.clone()).or_insert(0);
        if *count >= self.max {
            return None;
        }
        *count += 1;
        Some(Held {
            occupancy: self.clone(),
            key,
        })
    }

    /// How many places `key` holds now.
    pub fn count(&self, key: &K) -> usize {
        let held = self.held.lock().unwrap_or_else(PoisonError::into_inner);
        held.get(key).copied().unwrap_or(0)
    }

    /// How many keys hold at least one place.
    pub fn keys(&self) -> usize {
        self.held
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .len()
    }
}

impl<K: Eq + Hash + Clone> Drop for Held<K> {
    fn drop(&mut self) {
        let mut held = self
            .occupancy
            .held
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if let Some(count) = held.get_mut(&self.key) {
            *count -= 1;
            if *count == 0 {
                held.remove(&self.key);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_holds_at_most_max_and_gets_its_places_back() {
        let occupancy = Occupancy::new(2);
        let a1 = occupancy.try_take("a");
        let a2 = occupancy.try_take("a");
        assert!(a1.is_some() && a2.is_some());
        assert!(occupancy.try_take("a").is_none());
        assert!(
            occupancy.try_take("b").is_some(),
            "other keys are not affected"
        );
        drop(a1);
        assert_eq!(occupancy.count(&"a"), 1);
        let a3 = occupancy.try_take("a");
        assert!(a3.is_some());
        drop((a2, a3));
        assert_eq!(occupancy.keys(), 0, "keys without holdings are forgotten");
    }
}
