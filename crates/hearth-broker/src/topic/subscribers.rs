//! The subscribers of one filter: a dense list for fast fan-out, with an index that
//! keeps adding and removing one subscriber cheap however many share the filter.
//!
//! Ten thousand devices subscribing to the same broadcast filter is an ordinary day, so
//! neither SUBSCRIBE nor UNSUBSCRIBE may scan the list. Most filters, though, have a
//! single subscriber (a device's own command topic), so the index is only built once
//! the list outgrows a short linear scan, sparing one hash table per such filter.

use std::collections::HashMap;

use super::shrink::{shrink_map_if_sparse, shrink_vec_if_sparse};

/// Up to this many entries a linear scan finds a subscriber; beyond it the index does.
const LINEAR_SCAN_MAX: usize = 8;

/// `(subscriber, value)` pairs with at most one pair per subscriber.
#[derive(Debug)]
pub(crate) struct Subscribers<V> {
    /// Unordered; removal swaps the last entry into the hole.
    entries: Vec<(u64, V)>,
    /// Subscriber to its position in `entries`. Holds every entry when there are more
    /// than [`LINEAR_SCAN_MAX`] of them, and nothing otherwise.
    positions: HashMap<u64, usize>,
}

impl<V> Default for Subscribers<V> {
    fn default() -> Self {
        Subscribers {
            entries: Vec::new(),
            positions: HashMap::new(),
        }
    }
}

impl<V> Subscribers<V> {
    pub(crate) fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Adds `subscriber`, or replaces its value and returns the old one.
    pub(crate) fn insert(&mut self, subscriber: u64, value: V) -> Option<V> {
        if let Some(position) = self.position(subscriber) {
            return Some(std::mem::replace(&mut self.entries[position].1, value));
        }
        self.entries.push((subscriber, value));
        let n_entries = self.entries.len();
        if n_entries == LINEAR_SCAN_MAX + 1 {
            // Crossing the threshold: index everything once, then one entry per insert.
            self.positions.extend(
                self.entries
                    .iter()
                    .enumerate()
                    .map(|(position, entry)| (entry.0, position)),
            );
        } else if n_entries > LINEAR_SCAN_MAX + 1 {
            self.positions.insert(subscriber, n_entries - 1);
        }
        None
    }

    pub(crate) fn remove(&mut self, subscriber: u64) -> Option<V> {
        let position = self.position(subscriber)?;
        let (_, value) = self.entries.swap_remove(position);
        // A broadcast filter that 10,000 clients left keeps its one remaining subscriber
        // in a list sized for the 10,000 otherwise.
        shrink_vec_if_sparse(&mut self.entries);
        if self.entries.len() <= LINEAR_SCAN_MAX {
            // Replacing rather than clearing frees the table's memory as well.
            if !self.positions.is_empty() {
                self.positions = HashMap::new();
            }
        } else {
            self.positions.remove(&subscriber);
            if let Some((moved, _)) = self.entries.get(position) {
                self.positions.insert(*moved, position);
            }
            shrink_map_if_sparse(&mut self.positions);
        }
        Some(value)
    }

    pub(crate) fn get(&self, subscriber: u64) -> Option<&V> {
        self.position(subscriber)
            .map(|position| &self.entries[position].1)
    }

    pub(crate) fn for_each(&self, f: &mut impl FnMut(u64, &V)) {
        for (subscriber, value) in &self.entries {
            f(*subscriber, value);
        }
    }

    fn position(&self, subscriber: u64) -> Option<usize> {
        if self.entries.len() > LINEAR_SCAN_MAX {
            self.positions.get(&subscriber).copied()
        } else {
            self.entries
                .iter()
                .position(|(candidate, _)| *candidate == subscriber)
        }
    }

    /// Checks that `positions` describes `entries` exactly, as documented on the field.
    #[cfg(test)]
    fn assert_consistent(&self) {
        if self.entries.len() > LINEAR_SCAN_MAX {
            assert_eq!(self.positions.len(), self.entries.len());
            for (position, (subscriber, _)) in self.entries.iter().enumerate() {
                assert_eq!(self.positions.get(subscriber), Some(&position));
            }
        } else {
            assert!(self.positions.is_empty());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn collect(subscribers: &Subscribers<u64>) -> Vec<(u64, u64)> {
        let mut pairs = Vec::new();
        subscribers.for_each(&mut |subscriber, value| pairs.push((subscriber, *value)));
        pairs.sort_unstable();
        pairs
    }

    #[test]
    fn insert_replace_remove_below_threshold() {
        let mut subscribers = Subscribers::default();
        assert_eq!(subscribers.insert(1, 10), None);
        assert_eq!(subscribers.insert(2, 20), None);
        assert_eq!(subscribers.insert(1, 11), Some(10));
        assert_eq!(subscribers.entries.len(), 2);
        assert_eq!(subscribers.get(1), Some(&11));
        assert_eq!(subscribers.get(3), None);
        assert_eq!(subscribers.remove(3), None);
        assert_eq!(subscribers.remove(1), Some(11));
        assert_eq!(subscribers.remove(1), None);
        assert_eq!(collect(&subscribers), vec![(2, 20)]);
        subscribers.assert_consistent();
    }

    #[test]
    fn index_follows_entries_across_the_threshold() {
        let mut subscribers = Subscribers::default();
        let n_subscribers = 3 * LINEAR_SCAN_MAX as u64;
        for subscriber in 0..n_subscribers {
            assert_eq!(subscribers.insert(subscriber, subscriber * 10), None);
            subscribers.assert_consistent();
        }
        assert_eq!(subscribers.insert(5, 5), Some(50));
        // Remove from the front so every removal moves the last entry.
        for subscriber in 0..n_subscribers {
            let expected = if subscriber == 5 { 5 } else { subscriber * 10 };
            assert_eq!(subscribers.remove(subscriber), Some(expected));
            subscribers.assert_consistent();
            for remaining in subscriber + 1..n_subscribers {
                assert!(subscribers.get(remaining).is_some(), "lost {remaining}");
            }
        }
        assert!(subscribers.is_empty());
    }

    #[test]
    fn ten_thousand_subscribers() {
        let mut subscribers = Subscribers::default();
        for subscriber in 0..10_000 {
            subscribers.insert(subscriber, subscriber);
        }
        assert_eq!(subscribers.entries.len(), 10_000);
        for subscriber in (0..10_000).step_by(2) {
            assert_eq!(subscribers.remove(subscriber), Some(subscriber));
        }
        assert_eq!(subscribers.entries.len(), 5_000);
        subscribers.assert_consistent();
        let expected: Vec<(u64, u64)> = (1..10_000)
            .step_by(2)
            .map(|subscriber| (subscriber, subscriber))
            .collect();
        assert_eq!(collect(&subscribers), expected);
    }

    #[test]
    fn ten_thousand_leaving_give_the_memory_back() {
        let mut subscribers = Subscribers::default();
        for subscriber in 0..10_000 {
            subscribers.insert(subscriber, subscriber);
        }
        for subscriber in 1..10_000 {
            assert_eq!(subscribers.remove(subscriber), Some(subscriber));
        }
        assert_eq!(collect(&subscribers), vec![(0, 0)]);
        assert!(
            subscribers.entries.capacity() <= 4,
            "{}",
            subscribers.entries.capacity()
        );
        assert_eq!(subscribers.positions.capacity(), 0);
        subscribers.assert_consistent();
    }
}
